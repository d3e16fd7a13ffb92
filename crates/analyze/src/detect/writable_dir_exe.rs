//! A program run from a world-writable or volatile folder (/tmp, /var/tmp, /dev/shm, /run) or
//! from a hidden directory: where downloaded tools land.

use super::*;

pub const DETECTOR: Detector = Detector {
    id: "writable-dir-exe",
    title: "Executable in /tmp, /dev/shm, /run or a hidden directory",
    attack: &["T1105", "T1564.001"],
    severity: Severity::High,
    doc: "Software is installed under /usr, /opt or the image's application folder. A binary started from \
          /tmp, /var/tmp, /dev/shm or /run was most likely written there at run time (downloaded or dropped), \
          and a hidden directory (a name starting with a dot) is a way to keep it out of sight.",
    run,
};

const VOLATILE: &[&str] = &["/tmp/", "/var/tmp/", "/dev/shm/", "/run/", "/var/run/"];

pub(crate) fn suspicious_dir(path: &str) -> Option<&'static str> {
    if let Some(v) = VOLATILE.iter().find(|v| path.starts_with(*v)) {
        return Some(v);
    }
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    dir.split('/').any(|c| c.starts_with('.') && c != "." && c != "..").then_some("a hidden directory")
}

fn run(d: &Detector, ix: &Index) -> Vec<Finding> {
    candidates(ix)
        .filter_map(|p| {
            let e = p.exe.as_ref()?;
            if e.memfd {
                return None;
            }
            let path = e.path.to_lossy();
            let path = path.strip_suffix(" (deleted)").unwrap_or(&path);
            let why = suspicious_dir(path)?;
            let summary = format!(
                "pid {} ({}) runs {} from {why}",
                p.pid,
                short(p.comm_bytes(), 32),
                short(path.as_bytes(), 120)
            );
            Some(finding(d, p, d.severity, summary, vec![ev_process(p), ev_link(p, "exe")]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn fires_on_tmp_shm_and_hidden() {
        for exe in ["/tmp/x", "/dev/shm/.k/miner", "/home/app/.cache/.x/bin", "/var/tmp/a (deleted)"] {
            let f = check(&DETECTOR, &snapshot(vec![process(9, 1, "x", exe)], vec![], vec![]));
            assert_eq!(f.len(), 1, "{exe}");
        }
    }

    #[test]
    fn look_alikes_do_not_fire() {
        for exe in ["/usr/bin/tmpreaper", "/opt/tmp-tools/bin/x", "/app/server", "/runner/bin/x"] {
            assert!(check(&DETECTOR, &snapshot(vec![process(9, 1, "x", exe)], vec![], vec![])).is_empty(), "{exe}");
        }
    }
}
