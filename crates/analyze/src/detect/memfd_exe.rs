//! A process executed from an anonymous memory file (memfd_create + execveat): fileless
//! execution. runc re-executes itself from a memfd at container start (CVE-2019-5736 defence):
//! that one is reported low.

use super::*;

pub(crate) const ENGINE: Engine = Engine {
    kind: "memfd-exe",
    run,
    lists: &[ListSpec {
        name: "runtime_memfds",
        kind: ListKind::Prefix,
        about: "memfd names container runtimes give their own binary (low)",
    }],
    needs_lists: false,
};

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    candidates(ix)
        .filter_map(|p| {
            let e = p.exe.as_ref()?;
            if !e.memfd {
                return None;
            }
            let runtime = d.text("runtime_memfds").iter().any(|m| e.path.0.starts_with(m.as_bytes()));
            let severity = if runtime { Severity::Low } else { d.severity };
            let summary = format!(
                "pid {} ({}) runs from {}; sha256 {}{}",
                p.pid,
                short(p.comm_bytes(), 32),
                short(&e.path.0, 80),
                e.sha256.as_deref().unwrap_or("unknown"),
                if runtime { " (a container runtime's own re-exec)" } else { "" }
            );
            Some(finding(d, p, severity, summary, vec![ev_process(p), ev_link(p, "exe")]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    fn memfd(pid: u32, path: &str) -> curtain_model::Process {
        let mut p = process(pid, 1, "3", path);
        p.exe.as_mut().unwrap().memfd = true;
        p
    }

    #[test]
    fn fires_on_memfd() {
        let f = check("memfd-exe", &snapshot(vec![memfd(5, "/memfd:payload (deleted)")], vec![], vec![]));
        assert_eq!((f.len(), f[0].severity), (1, Severity::High));
    }

    #[test]
    fn runc_is_low_and_a_path_named_memfd_does_not_fire() {
        let f = check(
            "memfd-exe",
            &snapshot(vec![memfd(6, "/memfd:runc_cloned:/proc/self/exe (deleted)")], vec![], vec![]),
        );
        assert_eq!(f[0].severity, Severity::Low);
        let p = process(7, 1, "memfd", "/opt/memfd:tool");
        assert!(check("memfd-exe", &snapshot(vec![p], vec![], vec![])).is_empty());
    }
}
