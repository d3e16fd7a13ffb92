//! A shell or interpreter that listens on a port: anyone who connects gets a shell.

use super::*;
use curtain_model::Proto;

pub const DETECTOR: Detector = Detector {
    id: "bind-shell",
    title: "Bind shell: a shell or interpreter listening on a port",
    attack: &["T1059.004", "T1571"],
    severity: Severity::High,
    doc: "A command interpreter (sh, bash, nc, socat, python, perl...) holds a listening TCP socket (or an \
          unconnected UDP one). Shells do not serve ports; `nc -l -e /bin/sh` or a one-line python server does. \
          Interpreters that run real services (a python web app) also listen: check the command line and the \
          port before acting.",
    run,
};

fn run(d: &Detector, ix: &Index) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in candidates(ix) {
        let shell = is_shell(p);
        if !(shell || is_interpreter(p)) {
            continue;
        }
        for (f, s) in ix.sockets_of(p.pid) {
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
            let summary = format!(
                "pid {} ({}) listens on {} {local}; command line: {}",
                p.pid,
                short(p.comm_bytes(), 32),
                s.proto.table(),
                cmdline(p)
            );
            out.push(finding(d, p, severity, summary, ev_holding(p, f.fd, s.inode)));
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
        let f = check(&DETECTOR, &snapshot(vec![nc], vec![socket_fd(40, 3, 950)], vec![s]));
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("0.0.0.0:4444"));
    }

    #[test]
    fn a_server_listening_or_a_shell_with_a_client_does_not_fire() {
        let web = process(41, 1, "nginx", "/usr/sbin/nginx");
        let s = tcp(951, ("0.0.0.0", 80), ("0.0.0.0", 0), "LISTEN", &[(41, 6)]);
        let sh = process(42, 1, "bash", "/bin/bash");
        let c = tcp(952, ("10.0.0.5", 50000), ("10.0.0.9", 5432), "ESTABLISHED", &[(42, 5)]);
        let f =
            check(&DETECTOR, &snapshot(vec![web, sh], vec![socket_fd(41, 6, 951), socket_fd(42, 5, 952)], vec![s, c]));
        assert!(f.is_empty());
    }
}
