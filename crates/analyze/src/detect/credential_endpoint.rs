//! Connections to the instance metadata service (169.254.169.254) or the ECS task credential
//! endpoint (169.254.170.2) by anything but the agents that are expected to use them.

use super::*;

pub const DETECTOR: Detector = Detector {
    id: "credential-endpoint",
    title: "Connection to the instance or task credential endpoint",
    attack: &["T1552.005"],
    severity: Severity::Medium,
    doc: "169.254.169.254 (EC2 instance metadata, IMDS) and 169.254.170.2 (ECS task metadata and role \
          credentials) hand out AWS credentials to whoever asks from inside. The application's AWS SDK asks \
          too, so an SDK-using service is expected; a shell, curl, wget or an interpreter one-liner asking is \
          how stolen role credentials start (high). Check CloudTrail for the role's calls from unexpected \
          addresses after this time.",
    run,
};

const ENDPOINTS: &[&str] =
    &["169.254.169.254", "169.254.170.2", "fd00:ec2::254", "::ffff:169.254.169.254", "::ffff:169.254.170.2"];
/// Agents whose job is to talk to these endpoints (comm, at most 15 bytes).
const AGENTS: &[&str] = &[
    "amazon-ssm-agen",
    "ssm-agent-worke",
    "ssm-session-wor",
    "ecs-agent",
    "amazon-cloudwat",
    "aws-otel-collec",
    "fluent-bit",
    "datadog-agent",
    "otelcol-contrib",
];
const FETCHERS: &[&str] = &["curl", "wget", "nc", "ncat", "socat", "telnet", "busybox"];

fn run(d: &Detector, ix: &Index) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in candidates(ix) {
        let comm = p.comm_lossy();
        if AGENTS.contains(&comm.as_ref()) {
            continue;
        }
        for (f, s) in ix.sockets_of(p.pid) {
            let Some(r) = &s.remote else { continue };
            // Outbound only: a socket whose own address and port are the endpoint's (80) is the
            // serving side.
            let serving = s.local.as_ref().is_some_and(|l| ENDPOINTS.contains(&l.ip.as_str()) && l.port == 80);
            if !ENDPOINTS.contains(&r.ip.as_str()) || s.state == "LISTEN" || serving {
                continue;
            }
            let manual = is_shell(p) || names(p).iter().any(|n| FETCHERS.contains(&n.as_str())) || is_interpreter(p);
            let severity = if manual { Severity::High } else { d.severity };
            let summary = format!(
                "pid {} ({}) connects to {}:{} ({}); command line: {}",
                p.pid,
                short(p.comm_bytes(), 32),
                r.ip,
                r.port,
                s.state,
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
    fn curl_to_imds_is_high_and_an_app_is_medium() {
        let curl =
            with_args(process(80, 1, "curl", "/usr/bin/curl"), &["curl", "http://169.254.170.2/v2/credentials/x"]);
        let app = process(81, 1, "java", "/usr/lib/jvm/bin/java");
        let s1 = tcp(980, ("10.0.0.5", 40100), ("169.254.170.2", 80), "ESTABLISHED", &[(80, 5)]);
        let s2 = tcp(981, ("10.0.0.5", 40101), ("169.254.169.254", 80), "ESTABLISHED", &[(81, 44)]);
        let f = check(
            &DETECTOR,
            &snapshot(vec![curl, app], vec![socket_fd(80, 5, 980), socket_fd(81, 44, 981)], vec![s1, s2]),
        );
        assert_eq!(f.len(), 2);
        let sev: Vec<_> = f.iter().map(|f| (f.pid.unwrap(), f.severity)).collect();
        assert_eq!(sev, [(80, Severity::High), (81, Severity::Medium)]);
    }

    #[test]
    fn the_agents_and_other_link_local_addresses_do_not_fire() {
        let agent = process(82, 1, "amazon-ssm-agen", "/usr/bin/amazon-ssm-agent");
        let dns = process(83, 1, "app", "/app/a");
        let s1 = tcp(982, ("10.0.0.5", 40102), ("169.254.169.254", 80), "ESTABLISHED", &[(82, 9)]);
        let s2 = tcp(983, ("10.0.0.5", 40103), ("169.254.169.253", 53), "ESTABLISHED", &[(83, 9)]);
        assert!(check(
            &DETECTOR,
            &snapshot(vec![agent, dns], vec![socket_fd(82, 9, 982), socket_fd(83, 9, 983)], vec![s1, s2])
        )
        .is_empty());
    }
}
