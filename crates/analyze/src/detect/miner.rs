//! Crypto-mining: known miner names and command lines, and outbound connections to the ports
//! mining pools use for stratum.

use super::*;

pub(crate) const ENGINE: Engine = Engine {
    kind: "miner",
    run,
    lists: &[
        ListSpec { name: "names", kind: ListKind::Family, about: "known miners" },
        ListSpec { name: "not_names", kind: ListKind::Family, about: "tools named after a miner that do not mine" },
        ListSpec { name: "args", kind: ListKind::Substring, about: "pieces of a miner's command line" },
        ListSpec {
            name: "pool_ports",
            kind: ListKind::Port,
            about: "remote ports of mining pools (a second sign only)",
        },
    ],
    needs_lists: false,
};

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    let (known, not_known) = (d.text("names"), d.text("not_names"));
    let pool_ports = d.ports("pool_ports");
    let mut out = Vec::new();
    for p in candidates(ix) {
        let names = names(p);
        let name_hit = names
            .iter()
            .filter(|n| !not_known.iter().any(|k| family_match(n, k)))
            .find(|n| known.iter().any(|k| family_match(n, k)))
            .map(|n| n.to_ascii_lowercase());
        let cmd = cmdline(p).to_ascii_lowercase();
        let arg_hit = d.text("args").iter().find(|a| cmd.contains(&a.to_ascii_lowercase()));
        let pool = ix.sockets_of(p.pid).into_iter().find(|(_, s)| {
            s.state == "ESTABLISHED"
                && s.remote.as_ref().is_some_and(|r| pool_ports.contains(&r.port) && !is_loopback(&r.ip))
        });
        let mut why = Vec::new();
        if let Some(n) = &name_hit {
            why.push(format!("named {n}"));
        }
        if let Some(a) = arg_hit {
            why.push(format!("command line has {a}"));
        }
        if let Some((_, s)) = &pool {
            let r = s.remote.as_ref().unwrap();
            why.push(format!("connected to {}:{} (a mining pool port)", r.ip, r.port));
        }
        // A pool port alone is weak (4444 and 8888 serve other things): it needs a second sign.
        let strong = name_hit.is_some() || arg_hit.is_some();
        if !strong {
            continue;
        }
        let mut ev = vec![ev_process(p), ev_raw(p, "cmdline")];
        if let Some((f, s)) = pool {
            ev.push(ev_socket(s.inode));
            ev.push(ev_fd(p.pid, f.fd));
        }
        let summary = format!("pid {} ({}): {}", p.pid, short(p.comm_bytes(), 32), why.join("; "));
        out.push(finding(d, p, d.severity, summary, ev));
    }
    out
}

fn is_loopback(ip: &str) -> bool {
    ip.starts_with("127.") || ip == "::1" || ip.starts_with("::ffff:127.")
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;

    #[test]
    fn fires_on_a_renamed_miner_with_a_stratum_url() {
        let p = with_args(
            process(70, 1, "systemd-helper", "/tmp/.x/sd"),
            &["sd", "-o", "stratum+tcp://pool.example:3333", "-u", "wallet"],
        );
        let s = tcp(970, ("10.0.0.5", 41000), ("198.51.100.20", 3333), "ESTABLISHED", &[(70, 7)]);
        let f = check("miner", &snapshot(vec![p], vec![socket_fd(70, 7, 970)], vec![s]));
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("stratum+tcp://"));
        assert!(f[0].summary.contains("198.51.100.20:3333"));
        let f = check("miner", &snapshot(vec![process(71, 1, "xmrig", "/usr/local/bin/xmrig")], vec![], vec![]));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn a_service_on_a_pool_port_does_not_fire() {
        // A Jupyter kernel talking to port 8888, a monitoring exporter named after a miner.
        let j = process(72, 1, "python3", "/usr/bin/python3.11");
        let s = tcp(971, ("10.0.0.5", 41001), ("10.0.0.7", 8888), "ESTABLISHED", &[(72, 9)]);
        let e = process(73, 1, "xmrig-exporter", "/usr/bin/xmrig-exporter");
        assert!(check("miner", &snapshot(vec![j, e], vec![socket_fd(72, 9, 971)], vec![s])).is_empty());
    }

    #[test]
    fn renamed_and_versioned_builds_of_a_miner_fire() {
        for (i, name) in ["xmrig-6.21", "xmrig_amd64", "xmrig.bin", "XMRig", "kdevtmpfsi2"].into_iter().enumerate() {
            let p = process(74 + i as u32, 1, name, &format!("/usr/local/bin/{name}"));
            let f = check("miner", &snapshot(vec![p], vec![], vec![]));
            assert_eq!(f.len(), 1, "{name}");
            assert!(f[0].summary.contains(&format!("named {}", name.to_ascii_lowercase())), "{}", f[0].summary);
        }
    }

    #[test]
    fn names_that_only_start_like_a_miner_do_not_fire() {
        for (i, name) in ["xmrigorous", "ccminerva", "minerdays", "xmrig-exporter-0.3"].into_iter().enumerate() {
            let p = process(80 + i as u32, 1, name, &format!("/usr/local/bin/{name}"));
            assert!(check("miner", &snapshot(vec![p], vec![], vec![])).is_empty(), "{name}");
        }
    }
}
