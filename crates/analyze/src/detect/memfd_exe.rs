//! A process executed from an anonymous memory file (memfd_create + execveat): fileless
//! execution. runc re-executes itself from a memfd at container start (CVE-2019-5736 defence):
//! that one is reported low.

use super::*;

pub const DETECTOR: Detector = Detector {
    id: "memfd-exe",
    title: "Executable run from memory (memfd)",
    attack: &["T1620"],
    severity: Severity::High,
    doc: "The process image comes from a memfd, a file that exists only in memory: nothing on disk to scan or \
          recover. Droppers use it to run payloads downloaded straight into memory. The archive keeps the \
          SHA-256 of those bytes (and the bytes with --carve-exe). Container runtimes (runc, crun) run \
          themselves from a memfd for a moment while starting a container: those are reported low.",
    run,
};

/// memfd names used by container runtimes for their own binary.
const RUNTIME_MEMFDS: &[&[u8]] = &[b"/memfd:runc_cloned:", b"/memfd:crun", b"/memfd:runc"];

fn run(d: &Detector, ix: &Index) -> Vec<Finding> {
    candidates(ix)
        .filter_map(|p| {
            let e = p.exe.as_ref()?;
            if !e.memfd {
                return None;
            }
            let runtime = RUNTIME_MEMFDS.iter().any(|m| e.path.0.starts_with(m));
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
        let f = check(&DETECTOR, &snapshot(vec![memfd(5, "/memfd:payload (deleted)")], vec![], vec![]));
        assert_eq!((f.len(), f[0].severity), (1, Severity::High));
    }

    #[test]
    fn runc_is_low_and_a_path_named_memfd_does_not_fire() {
        let f =
            check(&DETECTOR, &snapshot(vec![memfd(6, "/memfd:runc_cloned:/proc/self/exe (deleted)")], vec![], vec![]));
        assert_eq!(f[0].severity, Severity::Low);
        let p = process(7, 1, "memfd", "/opt/memfd:tool");
        assert!(check(&DETECTOR, &snapshot(vec![p], vec![], vec![])).is_empty());
    }
}
