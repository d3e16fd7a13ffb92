//! A shell or interpreter that listens on a port: anyone who connects gets a shell. A shell or a
//! relay (nc, socat) listening is enough; an interpreter also runs real services, so it must
//! have handed its standard streams to a network socket as well.

use super::*;
use curtain_model::Proto;

pub(crate) const ENGINE: Engine = Engine { kind: "bind-shell", run, lists: &[], needs_lists: false };

fn run(d: &Rule, rules: &Rules, ix: &Index) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in candidates(ix) {
        let shell = is_shell(p, rules);
        let relay = !shell && is_relay(p, rules);
        if !(shell || relay || is_interpreter(p, rules)) {
            continue;
        }
        let socks = ix.sockets_of(p.pid);
        // A python or node service listens too, on loopback or not; what makes an interpreter a
        // bind shell is handing the connection its standard streams.
        let stdio: Vec<u32> =
            socks.iter().filter(|(f, s)| f.fd <= 2 && s.proto != Proto::Unix).map(|(f, _)| f.fd).collect();
        if !(shell || relay) && stdio.is_empty() {
            continue;
        }
        for (f, s) in &socks {
            let listening = match s.proto {
                Proto::Tcp | Proto::Tcp6 => s.state == "LISTEN",
                Proto::Udp | Proto::Udp6 => {
                    s.state == "UNCONN" && s.local.as_ref().is_some_and(|l| l.port != 0) && f.fd <= 2
                }
                _ => false,
            };
            if !listening {
                continue;
            }
            let local = s.local.as_ref().map(|l| format!("{}:{}", l.ip, l.port)).unwrap_or_default();
            let severity = if shell { Severity::Critical } else { d.severity };
            let streams = if shell || relay {
                String::new()
            } else {
                let fds: Vec<String> = stdio.iter().map(u32::to_string).collect();
                format!(" with fd {} on a network socket", fds.join(","))
            };
            let summary = format!(
                "pid {} ({}) listens on {} {local}{streams}; command line: {}",
                p.pid,
                short(p.comm_bytes(), 32),
                s.proto.table(),
                cmdline(p)
            );
            let mut ev = ev_holding(p, f.fd, s.inode);
            if !(shell || relay) {
                ev.extend(stdio.iter().filter(|&&fd| fd != f.fd).map(|&fd| ev_fd(p.pid, fd)));
            }
            out.push(finding(d, p, severity, summary, ev));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn fires_on_nc_listening() {
        let nc = with_args(process(40, 1, "nc", "/usr/bin/nc.openbsd"), &["nc", "-lvp", "4444", "-e", "/bin/sh"]);
        let s = tcp(950, ("0.0.0.0", 4444), ("0.0.0.0", 0), "LISTEN", &[(40, 3)]);
        let f = check("bind-shell", &snapshot(vec![nc], vec![socket_fd(40, 3, 950)], vec![s]));
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("0.0.0.0:4444"));
    }

    #[test]
    fn a_server_listening_or_a_shell_with_a_client_does_not_fire() {
        let web = process(41, 1, "nginx", "/usr/sbin/nginx");
        let s = tcp(951, ("0.0.0.0", 80), ("0.0.0.0", 0), "LISTEN", &[(41, 6)]);
        let sh = process(42, 1, "bash", "/bin/bash");
        let c = tcp(952, ("10.0.0.5", 50000), ("10.0.0.9", 5432), "ESTABLISHED", &[(42, 5)]);
        let f = check(
            "bind-shell",
            &snapshot(vec![web, sh], vec![socket_fd(41, 6, 951), socket_fd(42, 5, 952)], vec![s, c]),
        );
        assert!(f.is_empty());
    }

    #[test]
    fn an_interpreter_with_its_stdio_on_the_connection_fires() {
        // python -c 'import socket,os,pty; s=socket.socket(); s.bind(("0.0.0.0",4444)); s.listen();
        // c,_=s.accept(); [os.dup2(c.fileno(),f) for f in (0,1,2)]; pty.spawn("sh")'
        let py = with_args(process(43, 1, "python3", "/usr/bin/python3.11"), &["python3", "-c", "import socket"]);
        let l = tcp(953, ("0.0.0.0", 4444), ("0.0.0.0", 0), "LISTEN", &[(43, 3)]);
        let c = tcp(954, ("10.0.0.5", 4444), ("203.0.113.9", 51000), "ESTABLISHED", &[(43, 0), (43, 1), (43, 2)]);
        let fds = vec![socket_fd(43, 3, 953), socket_fd(43, 0, 954), socket_fd(43, 1, 954), socket_fd(43, 2, 954)];
        let f = check("bind-shell", &snapshot(vec![py], fds, vec![l, c]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].summary.contains("0.0.0.0:4444 with fd 0,1,2 on a network socket"), "{}", f[0].summary);
    }

    #[test]
    fn a_python_service_on_loopback_does_not_fire() {
        // python3 -m http.server --bind 127.0.0.1: a listening socket, stdio on the terminal.
        let py = with_args(
            process(44, 1, "python3", "/usr/bin/python3.11"),
            &["python3", "-m", "http.server", "--bind", "127.0.0.1"],
        );
        let s = tcp(955, ("127.0.0.1", 8000), ("0.0.0.0", 0), "LISTEN", &[(44, 3)]);
        assert!(check("bind-shell", &snapshot(vec![py], vec![socket_fd(44, 3, 955)], vec![s])).is_empty());
    }

    #[test]
    fn busybox_sh_is_a_shell_and_busybox_sleep_is_not() {
        // The listening socket is inherited by the loop's sleep: only the shell is reported.
        let sh = with_args(process(45, 1, "sh", "/bin/busybox"), &["sh", "-c", "while :; do sleep 3600; done"]);
        let sleep = with_args(process(46, 45, "sleep", "/bin/busybox"), &["sleep", "3600"]);
        let s = tcp(956, ("127.0.0.1", 31337), ("0.0.0.0", 0), "LISTEN", &[(45, 3), (46, 3)]);
        let fds = vec![socket_fd(45, 3, 956), socket_fd(46, 3, 956)];
        let f = check("bind-shell", &snapshot(vec![sh, sleep], fds, vec![s]));
        let got: Vec<_> = f.iter().map(|f| (f.pid.unwrap(), f.severity)).collect();
        assert_eq!(got, [(45, Severity::Critical)]);
    }
}
