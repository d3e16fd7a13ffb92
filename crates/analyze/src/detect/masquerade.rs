//! Masquerading: a user process named like a kernel thread, or a process whose name differs
//! from the file it runs.

use super::*;

pub(crate) const ENGINE: Engine = Engine {
    kind: "masquerade",
    run,
    lists: &[ListSpec { name: "kernel_threads", kind: ListKind::Prefix, about: "names of kernel threads" }],
    needs_lists: false,
};

fn looks_like_kthread(name: &str, kthreads: &[String]) -> bool {
    let n = name.trim_start_matches('[');
    kthreads.iter().any(|k| n.starts_with(k.as_str()))
}

/// A daemon that titles itself `NAME: role` (tmux, sshd, postgres workers): its comm starts
/// with its own name followed by a separator. Short names do not count (`s` is no name to hide).
fn titled(comm: &[u8], name: &[u8]) -> bool {
    name.len() >= 3
        && comm.len() > name.len()
        && comm.starts_with(name)
        && matches!(comm[name.len()], b':' | b' ' | b'-' | b'[' | b'/')
}

/// The kernel cuts comm to 15 bytes.
fn comm_of(name: &str) -> &[u8] {
    let b = name.as_bytes();
    &b[..b.len().min(15)]
}

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in candidates(ix) {
        if p.kernel_thread {
            continue;
        }
        let Some(exe) = p.exe.as_ref() else { continue };
        let exe_name = basename(&exe.path.0);
        let comm = p.comm_lossy().into_owned();
        let argv0 = p.cmdline.as_ref().and_then(|c| c.first()).map(|a| a.to_lossy().into_owned()).unwrap_or_default();
        let kthreads = d.text("kernel_threads");
        if looks_like_kthread(&comm, kthreads) || looks_like_kthread(&argv0, kthreads) {
            let summary = format!(
                "pid {} calls itself {} like a kernel thread but runs {}",
                p.pid,
                short(comm.as_bytes(), 32),
                short(&exe.path.0, 120)
            );
            out.push(finding(d, p, Severity::High, summary, vec![ev_process(p), ev_raw(p, "stat"), ev_link(p, "exe")]));
            continue;
        }
        if exe.memfd {
            continue; // a memfd has no file name to compare: the memfd detector reports it
        }
        // Names the kernel or the program may legitimately give: the file's, argv[0]'s, a
        // script's (argv[1] for "interpreter script"), a login shell's "-bash".
        let mut fine: Vec<String> = vec![exe_name.clone(), basename(argv0.as_bytes())];
        if let Some(a1) = p.cmdline.as_ref().and_then(|c| c.get(1)) {
            fine.push(basename(&a1.0));
        }
        let c = comm_of(&comm);
        let matches = fine.iter().any(|n| {
            let n = n.trim_start_matches('-');
            !n.is_empty() && (comm_of(n) == c || n.as_bytes().starts_with(c) || titled(c, n.as_bytes()))
        });
        if !matches {
            let summary = format!(
                "pid {} is named {:?} but runs {} (argv[0] {:?})",
                p.pid,
                short(comm.as_bytes(), 32),
                short(&exe.path.0, 120),
                short(argv0.as_bytes(), 60)
            );
            out.push(finding(d, p, d.severity, summary, vec![ev_process(p), ev_raw(p, "stat"), ev_link(p, "exe")]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn fires_on_fake_kernel_threads_and_renamed_processes() {
        let fake = with_args(process(90, 1, "kworker/0:2", "/tmp/k"), &["[kworker/0:2]"]);
        let renamed = with_args(process(91, 1, "sshd", "/dev/shm/bot"), &["sshd: root@pts/0"]);
        let f = check("masquerade", &snapshot(vec![fake, renamed], vec![], vec![]));
        let got: Vec<_> = f.iter().map(|f| (f.pid.unwrap(), f.severity)).collect();
        assert_eq!(got, [(90, Severity::High), (91, Severity::Medium)]);
    }

    #[test]
    fn scripts_applets_long_names_and_real_kernel_threads_do_not_fire() {
        let script = with_args(process(92, 1, "backup.sh", "/usr/bin/bash"), &["/bin/bash", "/opt/backup.sh"]);
        let applet = with_args(process(93, 1, "sh", "/bin/busybox"), &["sh", "-c", "x"]);
        let long = process(94, 1, "containerd-shim", "/usr/bin/containerd-shim-runc-v2");
        let login = with_args(process(95, 1, "bash", "/usr/bin/bash"), &["-bash"]);
        let titled = with_args(process(96, 1, "tmux: server", "/usr/bin/tmux"), &["tmux"]);
        let mut kt = process(2, 0, "kworker/0:1", "");
        kt.kernel_thread = true;
        kt.exe = None;
        assert!(
            check("masquerade", &snapshot(vec![script, applet, long, login, titled, kt], vec![], vec![])).is_empty()
        );
        // A short executable name does not excuse any comm that starts with it.
        let hidden = with_args(process(97, 1, "sshd: root", "/tmp/s"), &["s"]);
        assert_eq!(check("masquerade", &snapshot(vec![hidden], vec![], vec![])).len(), 1);
    }
}
