//! Connections to the instance metadata service (169.254.169.254) or the ECS task credential
//! endpoint (169.254.170.2) by anything but the agents that are expected to use them.

use super::*;

pub(crate) const ENGINE: Engine = Engine {
    kind: "credential-endpoint",
    run,
    lists: &[
        ListSpec { name: "endpoints", kind: ListKind::Exact, about: "addresses that hand out credentials" },
        ListSpec { name: "agents", kind: ListKind::Path, about: "executables of the agents expected to ask" },
        ListSpec { name: "fetchers", kind: ListKind::Program, about: "programs a person fetches with (high)" },
    ],
    needs_lists: false,
};

/// Whether the process runs one of the agents' executables. Its comm is its own choice (an
/// attacker's process can call itself amazon-ssm-agent); the executable's path is the kernel's
/// word for what it runs. A path the agent's own update replaced still counts.
fn is_agent(p: &curtain_model::Process, agents: &[String]) -> bool {
    let Some(e) = &p.exe else { return false };
    let path = e.path.to_lossy();
    let path = path.strip_suffix(" (deleted)").unwrap_or(&path);
    agents.iter().any(|a| if a.ends_with('/') { path.starts_with(a.as_str()) } else { path == a.as_str() })
}

fn run(d: &Rule, rules: &Rules, ix: &Index) -> Vec<Finding> {
    let endpoints = d.text("endpoints");
    let is_endpoint = |ip: &str| endpoints.iter().any(|e| e == ip);
    let mut out = Vec::new();
    // The collector labels the ECS Exec / SSM agent it recognises: `candidates` leaves those out.
    for p in candidates(ix) {
        if is_agent(p, d.text("agents")) {
            continue;
        }
        for (f, s) in ix.sockets_of(p.pid) {
            let Some(r) = &s.remote else { continue };
            // Outbound only: a socket whose own address and port are the endpoint's (80) is the
            // serving side.
            let serving = s.local.as_ref().is_some_and(|l| is_endpoint(&l.ip) && l.port == 80);
            if !is_endpoint(&r.ip) || s.state == "LISTEN" || serving {
                continue;
            }
            let fetcher =
                program_names(p, rules).iter().any(|n| d.text("fetchers").iter().any(|k| program_match(n, k)));
            let manual = is_shell(p, rules) || fetcher || is_interpreter(p, rules);
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
            "credential-endpoint",
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
            "credential-endpoint",
            &snapshot(vec![agent, dns], vec![socket_fd(82, 9, 982), socket_fd(83, 9, 983)], vec![s1, s2])
        )
        .is_empty());
    }

    #[test]
    fn a_process_calling_itself_an_agent_fires() {
        // The agent's comm, but not the agent's executable; and busybox's wget applet is a fetcher.
        let fake = process(84, 1, "amazon-ssm-agen", "/tmp/.a/amazon-ssm-agent");
        let wget = with_args(
            process(85, 1, "busybox", "/bin/busybox"),
            &["busybox", "wget", "-qO-", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"],
        );
        let s1 = tcp(984, ("10.0.0.5", 40104), ("169.254.169.254", 80), "ESTABLISHED", &[(84, 7)]);
        let s2 = tcp(985, ("10.0.0.5", 40105), ("169.254.169.254", 80), "ESTABLISHED", &[(85, 3)]);
        let f = check(
            "credential-endpoint",
            &snapshot(vec![fake, wget], vec![socket_fd(84, 7, 984), socket_fd(85, 3, 985)], vec![s1, s2]),
        );
        let sev: Vec<_> = f.iter().map(|f| (f.pid.unwrap(), f.severity)).collect();
        assert_eq!(sev, [(84, Severity::Medium), (85, Severity::High)]);
    }

    #[test]
    fn the_labelled_agent_and_an_updated_agent_binary_do_not_fire() {
        // Labelled by the collector whatever it runs; and the SSM agent after its own update
        // replaced the file under it.
        let mut labelled = process(86, 1, "ssm-session-wor", "/managed-agents/execute-command/ssm-session-worker");
        labelled.label = Some(curtain_model::Label::SsmAgent);
        let updated = process(87, 1, "amazon-ssm-agen", "/usr/bin/amazon-ssm-agent (deleted)");
        let s1 = tcp(986, ("10.0.0.5", 40106), ("169.254.170.2", 80), "ESTABLISHED", &[(86, 9)]);
        let s2 = tcp(987, ("10.0.0.5", 40107), ("169.254.169.254", 80), "ESTABLISHED", &[(87, 9)]);
        assert!(check(
            "credential-endpoint",
            &snapshot(vec![labelled, updated], vec![socket_fd(86, 9, 986), socket_fd(87, 9, 987)], vec![s1, s2])
        )
        .is_empty());
    }
}
