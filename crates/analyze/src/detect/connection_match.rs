//! The `connection` kind of a responder's own rule: a process connected to one of the rule's
//! remote addresses or ports. A command-and-control address from threat intelligence or another
//! host's incident is searched for across every snapshot this way.

use super::*;

pub(crate) const ENGINE: Engine = Engine {
    kind: "connection",
    run,
    lists: &[
        ListSpec { name: "addresses", kind: ListKind::Exact, about: "remote IP addresses" },
        ListSpec { name: "ports", kind: ListKind::Port, about: "remote ports" },
    ],
    needs_lists: true,
};

/// `::ffff:203.0.113.9` is 203.0.113.9 on a dual-stack socket.
fn unmapped(ip: &str) -> &str {
    ip.strip_prefix("::ffff:").filter(|v4| v4.contains('.')).unwrap_or(ip)
}

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    let (addresses, ports) = (d.text("addresses"), d.ports("ports"));
    let mut out = Vec::new();
    for p in candidates(ix) {
        for (f, s) in ix.sockets_of(p.pid) {
            let Some(r) = &s.remote else { continue };
            if s.state == "LISTEN" || (r.port == 0 && r.ip.trim_start_matches(['0', ':', '.']).is_empty()) {
                continue;
            }
            let ip = unmapped(&r.ip);
            let hit = addresses.iter().any(|a| a.eq_ignore_ascii_case(ip)) || ports.contains(&r.port);
            if !hit {
                continue;
            }
            let summary = format!(
                "pid {} ({}) has a {} socket to {}:{} ({}); command line: {}",
                p.pid,
                short(p.comm_bytes(), 32),
                s.proto.table(),
                r.ip,
                r.port,
                s.state,
                cmdline(p)
            );
            out.push(finding(d, p, d.severity, summary, ev_holding(p, f.fd, s.inode)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;

    const RULE: &str = r#"
id = "known-c2"
kind = "connection"
title = "Connection to a known command-and-control address"
attack = ["T1071.001"]
severity = "critical"
doc = "Addresses from the advisory."
[lists]
addresses = ["203.0.113.77"]
ports = [6667]
"#;

    #[test]
    fn a_connection_to_a_listed_address_or_port_fires() {
        let rules = rules_with(&[("c2.toml", RULE)]).unwrap();
        let a = process(30, 1, "app", "/app/a");
        let b = process(31, 1, "bot", "/app/b");
        let s1 = tcp(990, ("::ffff:10.0.0.5", 40000), ("::ffff:203.0.113.77", 443), "ESTABLISHED", &[(30, 5)]);
        let s2 = tcp(991, ("10.0.0.5", 40001), ("198.51.100.1", 6667), "SYN_SENT", &[(31, 6)]);
        let f = check_with(
            &rules,
            "known-c2",
            &snapshot(vec![a, b], vec![socket_fd(30, 5, 990), socket_fd(31, 6, 991)], vec![s1, s2]),
        );
        let got: Vec<_> = f.iter().map(|f| f.pid.unwrap()).collect();
        assert_eq!(got, [30, 31]);
        assert!(f[0].summary.contains("203.0.113.77:443"), "{}", f[0].summary);
    }

    #[test]
    fn other_addresses_and_a_local_listener_on_a_listed_port_do_not_fire() {
        let rules = rules_with(&[("c2.toml", RULE)]).unwrap();
        let a = process(32, 1, "app", "/app/a");
        let s1 = tcp(992, ("10.0.0.5", 40002), ("203.0.113.78", 443), "ESTABLISHED", &[(32, 5)]);
        let s2 = tcp(993, ("0.0.0.0", 6667), ("0.0.0.0", 0), "LISTEN", &[(32, 6)]);
        let f = check_with(
            &rules,
            "known-c2",
            &snapshot(vec![a], vec![socket_fd(32, 5, 992), socket_fd(32, 6, 993)], vec![s1, s2]),
        );
        assert!(f.is_empty());
    }
}
