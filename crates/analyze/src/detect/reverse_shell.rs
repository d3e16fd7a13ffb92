//! A shell or interpreter whose standard input, output or error is a network socket: a remote
//! peer types its commands.

use super::*;
use curtain_model::Proto;

pub(crate) const ENGINE: Engine = Engine { kind: "reverse-shell", run, lists: &[], needs_lists: false };

fn run(d: &Rule, rules: &Rules, ix: &Index) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in candidates(ix) {
        if !(is_shell(p, rules) || is_interpreter(p, rules)) {
            continue;
        }
        let stdio: Vec<_> =
            ix.sockets_of(p.pid).into_iter().filter(|(f, s)| f.fd <= 2 && s.proto != Proto::Unix).collect();
        let Some((_, s)) = stdio.first() else { continue };
        let fds: Vec<String> = stdio.iter().map(|(f, _)| f.fd.to_string()).collect();
        let remote = s.remote.as_ref().map(|r| format!("{}:{}", r.ip, r.port)).unwrap_or_default();
        let summary = format!(
            "pid {} ({}) has fd {} on a {} socket to {remote} ({}); command line: {}",
            p.pid,
            short(p.comm_bytes(), 32),
            fds.join(","),
            s.proto.table(),
            s.state,
            cmdline(p)
        );
        let mut ev = vec![ev_process(p), ev_socket(s.inode)];
        ev.extend(stdio.iter().map(|(f, _)| ev_fd(p.pid, f.fd)));
        out.push(finding(d, p, d.severity, summary, ev));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn fires_on_a_shell_with_socket_stdio() {
        let sh = process(20, 1, "sh", "/bin/dash");
        let fds = (0..3).map(|fd| socket_fd(20, fd, 900)).collect();
        let s = tcp(900, ("10.0.0.5", 40000), ("203.0.113.9", 4444), "ESTABLISHED", &[(20, 0), (20, 1), (20, 2)]);
        let f = check("reverse-shell", &snapshot(vec![sh], fds, vec![s]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].summary.contains("203.0.113.9:4444"), "{}", f[0].summary);
        assert!(f[0].summary.contains("fd 0,1,2"));
    }

    #[test]
    fn a_server_with_a_socket_on_fd_3_or_a_unix_stdio_does_not_fire() {
        // A web server holding connections above fd 2, and a shell whose stdout is a unix socket
        // (journald, a container runtime's log pipe).
        let web = process(30, 1, "nginx", "/usr/sbin/nginx");
        let sh = process(31, 1, "bash", "/bin/bash");
        let mut unix = tcp(902, ("0.0.0.0", 0), ("0.0.0.0", 0), "CONNECTED", &[(31, 1)]);
        (unix.proto, unix.local, unix.remote) = (Proto::Unix, None, None);
        let s = tcp(901, ("10.0.0.5", 80), ("198.51.100.7", 51000), "ESTABLISHED", &[(30, 3)]);
        let f = check(
            "reverse-shell",
            &snapshot(vec![web, sh], vec![socket_fd(30, 3, 901), socket_fd(31, 1, 902)], vec![s, unix]),
        );
        assert!(f.is_empty());
    }

    #[test]
    fn a_busybox_sleep_inheriting_the_shells_socket_does_not_fire() {
        // The reverse shell's children inherit its stdio: the shell is the finding, its busybox
        // `sleep` is not a shell (nor `busybox sleep`).
        let sh = with_args(process(21, 1, "sh", "/bin/busybox"), &["sh", "-i"]);
        let sleep = with_args(process(22, 21, "sleep", "/bin/busybox"), &["sleep", "10"]);
        let called = with_args(process(23, 21, "busybox", "/bin/busybox"), &["busybox", "sleep", "10"]);
        let owners: Vec<(u32, u32)> = [21, 22, 23].iter().flat_map(|&p| (0..3).map(move |fd| (p, fd))).collect();
        let fds = owners.iter().map(|&(p, fd)| socket_fd(p, fd, 903)).collect();
        let s = tcp(903, ("10.0.0.5", 40001), ("203.0.113.9", 4444), "ESTABLISHED", &owners);
        let f = check("reverse-shell", &snapshot(vec![sh, sleep, called], fds, vec![s]));
        assert_eq!(f.iter().map(|f| f.pid.unwrap()).collect::<Vec<_>>(), [21]);
    }
}
