//! Crypto-mining: known miner names and command lines, and outbound connections to the ports
//! mining pools use for stratum.

use super::*;

pub const DETECTOR: Detector = Detector {
    id: "miner",
    title: "Crypto-mining signs",
    attack: &["T1496"],
    severity: Severity::High,
    doc: "The process is named like a known miner (xmrig, kinsing, kdevtmpfsi...), its command line names a \
          stratum pool or a wallet option, or it holds an outbound connection to a port mining pools use \
          (3333, 5555, 7777, 14444...). Stolen compute is the most common payload of a container compromise; \
          the pool address is worth blocking and searching for across the fleet.",
    run,
};

const NAMES: &[&str] = &[
    "xmrig",
    "xmr-stak",
    "minerd",
    "cpuminer",
    "ccminer",
    "ethminer",
    "nbminer",
    "t-rex",
    "lolminer",
    "phoenixminer",
    "kinsing",
    "kdevtmpfsi",
    "nanominer",
    "srbminer",
    "teamredminer",
    "xmrigdaemon",
];
const ARGS: &[&str] = &[
    "stratum+tcp://",
    "stratum+ssl://",
    "stratum2+tcp://",
    "--donate-level",
    "--coin=",
    "-o pool.",
    "cryptonight",
    "randomx",
];
const POOL_PORTS: &[u16] = &[3333, 3334, 3357, 4444, 5555, 6666, 7777, 8888, 9999, 14433, 14444, 45560, 45700];

fn run(d: &Detector, ix: &Index) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in candidates(ix) {
        let lower_names: Vec<String> = names(p).iter().map(|n| n.to_ascii_lowercase()).collect();
        let name_hit = lower_names.iter().find(|n| NAMES.contains(&n.as_str())).cloned();
        let cmd = cmdline(p).to_ascii_lowercase();
        let arg_hit = ARGS.iter().find(|a| cmd.contains(*a));
        let pool = ix.sockets_of(p.pid).into_iter().find(|(_, s)| {
            s.state == "ESTABLISHED"
                && s.remote.as_ref().is_some_and(|r| POOL_PORTS.contains(&r.port) && !is_loopback(&r.ip))
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
    use super::*;
    use crate::testkit::*;

    #[test]
    fn fires_on_a_renamed_miner_with_a_stratum_url() {
        let p = with_args(
            process(70, 1, "systemd-helper", "/tmp/.x/sd"),
            &["sd", "-o", "stratum+tcp://pool.example:3333", "-u", "wallet"],
        );
        let s = tcp(970, ("10.0.0.5", 41000), ("198.51.100.20", 3333), "ESTABLISHED", &[(70, 7)]);
        let f = check(&DETECTOR, &snapshot(vec![p], vec![socket_fd(70, 7, 970)], vec![s]));
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("stratum+tcp://"));
        assert!(f[0].summary.contains("198.51.100.20:3333"));
        let f = check(&DETECTOR, &snapshot(vec![process(71, 1, "xmrig", "/usr/local/bin/xmrig")], vec![], vec![]));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn a_service_on_a_pool_port_does_not_fire() {
        // A Jupyter kernel talking to port 8888, a monitoring exporter named after a miner.
        let j = process(72, 1, "python3", "/usr/bin/python3.11");
        let s = tcp(971, ("10.0.0.5", 41001), ("10.0.0.7", 8888), "ESTABLISHED", &[(72, 9)]);
        let e = process(73, 1, "xmrig-exporter", "/usr/bin/xmrig-exporter");
        assert!(check(&DETECTOR, &snapshot(vec![j, e], vec![socket_fd(72, 9, 971)], vec![s])).is_empty());
    }
}
