//! A container started with the host handed to it: privileged, or with the host's root, /proc
//! or a container daemon's socket mounted in. Judged from the container's row (docker's own
//! files on the host), and the sockets the collection saw a daemon listen on.

use super::*;
use crate::container::Container;

pub(crate) const ENGINE: Engine = Engine {
    kind: "exposed-container",
    run,
    lists: &[
        ListSpec { name: "host_paths", kind: ListKind::Exact, about: "host paths whose mount hands over the host" },
        ListSpec { name: "sockets", kind: ListKind::Exact, about: "sockets of container daemons" },
    ],
    needs_lists: false,
};

/// `/var/run/x` and `/run/x` are one file (/var/run is a link to /run).
fn same_path(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s = if s.len() > 1 { s.trim_end_matches('/') } else { s };
        s.strip_prefix("/var/run/").map(|r| format!("/run/{r}")).unwrap_or_else(|| s.to_string())
    };
    norm(a) == norm(b)
}

/// The unix sockets container daemons listen on: the rule's list, every `-H unix://` of a
/// dockerd command line, and every listening unix socket a dockerd or containerd holds.
pub(crate) fn daemon_sockets(d: &Rule, ix: &Index) -> Vec<String> {
    let mut v: Vec<String> = d.text("sockets").to_vec();
    let is_daemon = |p: &Process| {
        let n = p.exe.as_ref().map(|e| basename(&e.path.0)).unwrap_or_else(|| p.comm_lossy().into_owned());
        n == "dockerd" || n == "containerd" || n == "crio" || n == "podman"
    };
    for p in ix.snap.processes.iter().filter(|p| is_daemon(p)) {
        if let Some(argv) = &p.cmdline {
            let argv: Vec<&[u8]> = argv.iter().map(|a| a.0.as_slice()).collect();
            v.extend(curtain_parse::host::dockerd_args(&argv).sockets);
        }
        for (_, s) in ix.sockets_of(p.pid) {
            if s.state == "LISTEN" {
                if let Some(path) = s.path.as_ref() {
                    v.push(path.to_lossy().into_owned());
                }
            }
        }
    }
    v
}

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    let sockets = daemon_sockets(d, ix);
    let mut out = Vec::new();
    for c in &ix.containers {
        let Some(info) = &c.info else { continue };
        let mut why = Vec::new();
        if info.privileged == Some(true) {
            why.push("runs privileged".to_string());
        }
        for m in &info.mounts {
            let ro = if m.ro { " (read-only)" } else { "" };
            if d.text("host_paths").iter().any(|h| same_path(&m.source, h)) {
                why.push(format!("mounts the host's {} at {}{ro}", m.source, m.destination));
            } else if sockets.iter().any(|s| same_path(&m.source, s)) {
                why.push(format!("mounts the daemon socket {} at {}{ro}", m.source, m.destination));
            }
        }
        if why.is_empty() {
            continue;
        }
        let Some(p) = anchor(ix, c) else { continue };
        let summary = format!("container {} {}", c.display(), why.join("; "));
        let mut f = finding(d, p, d.severity, summary, vec![ev_container(c), ev_process(p)]);
        f.container = Some(c.display());
        out.push(f);
    }
    out
}

/// The process a container's finding is filed under: its init, else its first process.
fn anchor<'a>(ix: &Index<'a>, c: &Container) -> Option<&'a Process> {
    c.init_pid.or(c.pids.first().copied()).and_then(|pid| ix.process(pid))
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;
    use curtain_model::HostMount;

    fn mount(source: &str, destination: &str) -> HostMount {
        HostMount { source: source.into(), destination: destination.into(), ro: false, kind: Some("bind".into()) }
    }

    #[test]
    fn fires_on_privileged_host_root_and_the_daemon_socket() {
        let (mut s, id) = host_with_container();
        let row = s.containers.iter_mut().find(|r| r.id == id).unwrap();
        row.privileged = Some(true);
        row.mounts = vec![mount("/", "/host"), mount("/tmp/dk/docker.sock", "/var/run/inner.sock")];
        // The daemon listens on a socket of its own path (its -H).
        let dockerd =
            with_args(process(300, 1, "dockerd", "/usr/bin/dockerd"), &["dockerd", "-H", "unix:///tmp/dk/docker.sock"]);
        s.processes.push(dockerd);
        let f = check("exposed-container", &s);
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("runs privileged"), "{}", f[0].summary);
        assert!(f[0].summary.contains("host's / at /host"));
        assert!(f[0].summary.contains("daemon socket /tmp/dk/docker.sock at /var/run/inner.sock"));
        assert!(f[0].container.as_deref().unwrap().contains("web"));
    }

    #[test]
    fn ordinary_mounts_and_other_sockets_do_not_fire() {
        let (mut s, id) = host_with_container();
        let row = s.containers.iter_mut().find(|r| r.id == id).unwrap();
        row.privileged = Some(false);
        row.mounts = vec![
            mount("/srv/app/data", "/data"),
            mount("/var/run/app.sock", "/var/run/docker.sock"),
            mount("/proc-data", "/proc"),
            mount("/etc/localtime", "/etc/localtime"),
        ];
        assert!(check("exposed-container", &s).is_empty());
    }
}
