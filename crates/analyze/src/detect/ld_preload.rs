//! LD_PRELOAD in a process's environment, or LD_LIBRARY_PATH pointing into a writable folder:
//! code injected into every program the process starts.

use super::*;
use crate::detect::writable_dir_exe::suspicious_dir;

pub(crate) const ENGINE: Engine = Engine {
    kind: "ld-preload",
    run,
    lists: &[
        ListSpec {
            name: "preload",
            kind: ListKind::Exact,
            about: "variables whose any value loads a library into every program",
        },
        ListSpec {
            name: "library_path",
            kind: ListKind::Exact,
            about: "library search paths, reported when a folder of theirs is writable or hidden",
        },
    ],
    needs_lists: false,
};

fn run(d: &Rule, rules: &Rules, ix: &Index) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in candidates(ix) {
        let Some(env) = &p.environ else { continue };
        for var in env {
            let Some(eq) = var.0.iter().position(|&c| c == b'=') else { continue };
            let (key, value) = (&var.0[..eq], &var.0[eq + 1..]);
            let value_text = String::from_utf8_lossy(value);
            let is = |list: &str| d.text(list).iter().any(|v| v.as_bytes() == key);
            let hit = if is("preload") && !value.is_empty() {
                Some(Severity::High)
            } else if is("library_path") {
                value_text
                    .split(':')
                    .any(|dir| suspicious_dir(&format!("{}/x", dir.trim_end_matches('/')), rules).is_some())
                    .then_some(Severity::Medium)
            } else {
                None
            };
            if let Some(severity) = hit {
                let summary = format!(
                    "pid {} ({}) has {}={}",
                    p.pid,
                    short(p.comm_bytes(), 32),
                    String::from_utf8_lossy(key),
                    short(value, 160)
                );
                let mut e = ev_raw(p, "environ");
                e.locator = String::from_utf8_lossy(key).into_owned();
                out.push(finding(d, p, severity, summary, vec![ev_process(p), e]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use curtain_model::ByteString;

    fn with_env(vars: &[&str]) -> curtain_model::Process {
        let mut p = process(50, 1, "app", "/app/server");
        p.environ = Some(vars.iter().map(|v| ByteString::from(*v)).collect());
        p
    }

    #[test]
    fn fires_on_preload_and_writable_library_path() {
        let f = check(
            "ld-preload",
            &snapshot(vec![with_env(&["PATH=/usr/bin", "LD_PRELOAD=/dev/shm/.l/libhide.so"])], vec![], vec![]),
        );
        assert_eq!((f.len(), f[0].severity), (1, Severity::High));
        assert!(f[0].summary.contains("/dev/shm/.l/libhide.so"));
        let f = check("ld-preload", &snapshot(vec![with_env(&["LD_LIBRARY_PATH=/usr/lib:/tmp/lib"])], vec![], vec![]));
        assert_eq!((f.len(), f[0].severity), (1, Severity::Medium));
    }

    #[test]
    fn look_alikes_do_not_fire() {
        let p = with_env(&[
            "LD_PRELOAD=",
            "LD_LIBRARY_PATH=/usr/local/lib:/opt/app/lib:/home/dev/.pyenv/versions/3.12.1/lib",
            "MY_LD_PRELOAD=/tmp/x.so",
            "X=LD_PRELOAD=/tmp/y",
        ]);
        assert!(check("ld-preload", &snapshot(vec![p], vec![], vec![])).is_empty());
    }
}
