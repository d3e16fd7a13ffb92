//! A process of the host's pid namespace that has entered a container's mount or network
//! namespace (setns, as nsenter does): someone on the host reaching into a container, or a
//! process that came out of one and kept a foot in it.

use super::*;
use std::collections::HashMap;

pub(crate) const ENGINE: Engine = Engine { kind: "joined-container-ns", run, lists: &[], needs_lists: false };

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    let (Some(host_pidns), Some(host)) = (ix.host_pidns(), ix.host_ns()) else { return Vec::new() };
    // The mount and network namespaces of each container's init, when they are not the host's.
    let mut owned: HashMap<(&str, u64), &crate::container::Container> = HashMap::new();
    for c in ix.containers.iter().filter(|c| c.runtime != crate::container::Runtime::Host && c.id.is_some()) {
        let Some(init) = c.init_pid.and_then(|pid| ix.process(pid)) else { continue };
        for (kind, ns, host_ns) in [("mount", init.ns.mnt, host.mnt), ("network", init.ns.net, host.net)] {
            if let Some(ns) = ns.filter(|n| Some(*n) != host_ns) {
                owned.entry((kind, ns)).or_insert(c);
            }
        }
    }
    let mut out = Vec::new();
    for p in candidates(ix) {
        if p.kernel_thread || p.ns.pid != Some(host_pidns) {
            continue;
        }
        // A process the cgroups place in a container belongs there (a --pid=host container).
        if ix.container_of(p.pid).is_some_and(|c| c.runtime != crate::container::Runtime::Host) {
            continue;
        }
        let joined: Vec<(&str, &crate::container::Container)> = [("mount", p.ns.mnt), ("network", p.ns.net)]
            .into_iter()
            .filter_map(|(kind, ns)| owned.get(&(kind, ns?)).map(|c| (kind, *c)))
            .collect();
        let Some((_, c)) = joined.first() else { continue };
        let kinds: Vec<&str> = joined.iter().map(|(k, _)| *k).collect();
        let parent = ix
            .parent(p)
            .map(|pp| format!("pid {} ({})", pp.pid, short(pp.comm_bytes(), 32)))
            .unwrap_or_else(|| "not visible".into());
        let summary = format!(
            "pid {} ({}) of the host's pid namespace is in the {} namespace of container {}; parent {parent}; command line: {}",
            p.pid,
            short(p.comm_bytes(), 32),
            kinds.join(" and "),
            c.display(),
            cmdline(p)
        );
        let mut f = finding(d, p, d.severity, summary, vec![ev_process(p), ev_link(p, "ns/mnt")]);
        f.container = Some(format!("host, in {}", c.display()));
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;

    #[test]
    fn fires_on_a_host_shell_nsentered_into_a_container() {
        let (mut s, _) = host_with_container();
        let mut sh = with_args(process(400, 1, "sh", "/bin/sh"), &["nsenter", "-t", "200", "-m", "-n", "sh"]);
        sh.ns.mnt = Some(CONTAINER_MNT);
        sh.ns.net = Some(CONTAINER_NET);
        s.processes.push(sh);
        let f = check("joined-container-ns", &s);
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("mount and network namespace"), "{}", f[0].summary);
        // A PID 1 whose namespace links could not be read: the kernel threads' are the host's.
        let init = s.processes.iter_mut().find(|p| p.pid == 1).unwrap();
        (init.ns.mnt, init.ns.net) = (None, None);
        assert_eq!(check("joined-container-ns", &s).len(), 1);
    }

    #[test]
    fn host_processes_and_host_network_containers_do_not_fire() {
        let (mut s, _) = host_with_container();
        // A host daemon in the host's namespaces, and a container that shares the host's network
        // (its network namespace is the host's: nobody joined anything).
        s.processes.push(process(401, 1, "sshd", "/usr/sbin/sshd"));
        for p in s.processes.iter_mut().filter(|p| p.pid >= 200 && p.pid < 300) {
            p.ns.net = Some(HOST_NET);
        }
        let mut proxy = process(402, 1, "docker-proxy", "/usr/bin/docker-proxy");
        proxy.ns.net = Some(HOST_NET);
        s.processes.push(proxy);
        assert!(check("joined-container-ns", &s).is_empty());
    }
}
