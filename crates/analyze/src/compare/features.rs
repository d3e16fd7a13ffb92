//! The features of one snapshot that replicas are compared on: what it runs (executables by
//! hash, process names, command lines, users), what it listens on and whom it talks to, and
//! what it maps from files that are gone. Each feature has a key, normalised so that what
//! differs by nature between replicas (pids, ephemeral ports, ids, addresses of their own) does
//! not make two replicas look different, and the raw values and processes it was seen in.
//!
//! The collector, the responder's session and the agents it labels, and kernel threads are left
//! out: they are there because someone looked, or belong to the host.

use super::normalise::normalise;
use super::FeatureKind;
use crate::Index;
use curtain_model::{Endpoint, MapKind, Process, Proto, Socket};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Where one feature was seen in one snapshot.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// The values as the target had them, before normalising.
    pub raw: BTreeSet<String>,
    /// pid -> comm of the processes it was seen in.
    pub processes: BTreeMap<u32, String>,
}

pub(crate) type Features = BTreeMap<(FeatureKind, String), Seen>;

/// Whether a process is the workload's: not a kernel thread, not labelled by the collector.
fn counted(p: &Process) -> bool {
    !p.kernel_thread && p.label.is_none()
}

fn add(f: &mut Features, kind: FeatureKind, key: String, raw: String, p: Option<&Process>) {
    let seen = f.entry((kind, key)).or_default();
    seen.raw.insert(raw);
    if let Some(p) = p {
        seen.processes.insert(p.pid, p.comm_lossy().into_owned());
    }
}

/// A path as the kernel gives it, without the " (deleted)" it appends to an unlinked file.
fn undeleted(path: &str) -> &str {
    path.strip_suffix(" (deleted)").unwrap_or(path)
}

/// The protocol whatever the address family: a service on IPv4 and IPv6 is one service.
fn family(p: Proto) -> &'static str {
    match p {
        Proto::Tcp | Proto::Tcp6 => "tcp",
        Proto::Udp | Proto::Udp6 => "udp",
        Proto::Raw | Proto::Raw6 => "raw",
        Proto::Unix => "unix",
    }
}

/// An address as one writes it: an IPv4-mapped IPv6 address as the IPv4 one.
fn peer(e: &Endpoint) -> String {
    match e.ip.strip_prefix("::ffff:").filter(|v4| v4.contains('.')) {
        Some(v4) => format!("{v4}:{}", e.port),
        None => e.to_string(),
    }
}

fn unspecified(ip: &str) -> bool {
    matches!(ip, "0.0.0.0" | "::" | "::ffff:0.0.0.0")
}

/// Linux's default `ip_local_port_range`: where a socket bound to port 0 gets its port.
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// A listening TCP socket, or a bound datagram or raw one (a raw socket's "port" is its IP
/// protocol). An unconnected UDP socket on an ephemeral port is a client's (a resolver, a
/// metrics sender): a port of its own on every replica, not a service.
fn is_listener(s: &Socket) -> bool {
    let Some(port) = s.local.as_ref().map(|l| l.port).filter(|&p| p != 0) else { return false };
    match s.proto {
        Proto::Unix => false,
        Proto::Tcp | Proto::Tcp6 => s.state == "LISTEN",
        Proto::Udp | Proto::Udp6 => s.state == "UNCONN" && !EPHEMERAL.contains(&port),
        Proto::Raw | Proto::Raw6 => s.state == "UNCONN",
    }
}

/// Every feature of one snapshot.
pub(crate) fn features(ix: &Index) -> Features {
    let snap = ix.snap;
    let mut f = Features::new();
    for p in snap.processes.iter().filter(|p| counted(p)) {
        let comm = p.comm_lossy();
        if !comm.is_empty() {
            add(&mut f, FeatureKind::Process, comm.to_string(), comm.to_string(), Some(p));
        }
        if let Some(e) = &p.exe {
            if let Some(h) = &e.sha256 {
                let path = e.path.to_lossy();
                let key = format!("{} sha256:{h}", normalise(undeleted(&path)));
                add(&mut f, FeatureKind::Exe, key, format!("{path} sha256:{h}"), Some(p));
            }
        }
        let cmd = cmdline(p);
        if !cmd.is_empty() {
            add(&mut f, FeatureKind::Cmdline, normalise(&cmd), cmd, Some(p));
        }
        // Real and effective: a set-uid escalation shows as an effective uid no replica has.
        let uids: BTreeSet<u32> = [p.uid, p.euid].into_iter().flatten().collect();
        for u in uids {
            add(&mut f, FeatureKind::User, u.to_string(), u.to_string(), Some(p));
        }
    }
    for m in &snap.maps {
        if !matches!(m.kind, MapKind::Deleted | MapKind::Memfd) {
            continue;
        }
        let (Some(path), Some(p)) = (&m.path, ix.process(m.pid)) else { continue };
        if counted(p) {
            let raw = path.to_lossy();
            add(&mut f, FeatureKind::Mapped, normalise(undeleted(&raw)), raw.into_owned(), Some(p));
        }
    }
    sockets(ix, &mut f);
    f
}

/// Listening ports, and the peers and remote ports of connections this side opened. A
/// connection to one of its own listening ports came in: its peer is a client (a load
/// balancer, a health check) with an ephemeral port, different on every replica, and says
/// nothing about the replica; the listener already does.
fn sockets(ix: &Index, f: &mut Features) {
    let snap = ix.snap;
    // Sockets held only by the collector, the responder or an agent are theirs.
    let owners = |s: &Socket| -> Option<Vec<&Process>> {
        let ps: Vec<&Process> = s.owners.iter().filter_map(|o| ix.process(o.pid)).collect();
        let all_known = ps.len() == s.owners.len();
        let theirs = !s.owners.is_empty() && all_known && ps.iter().all(|p| !counted(p));
        (!theirs).then(|| ps.into_iter().filter(|p| counted(p)).collect())
    };
    let listening: HashSet<(&str, u16)> = snap
        .sockets
        .iter()
        .filter(|s| is_listener(s))
        .filter_map(|s| Some((family(s.proto), s.local.as_ref()?.port)))
        .collect();
    for s in &snap.sockets {
        if s.proto == Proto::Unix {
            continue;
        }
        let Some(ps) = owners(s) else { continue };
        let fam = family(s.proto);
        let each = |f: &mut Features, kind: FeatureKind, value: String| {
            if ps.is_empty() {
                add(f, kind, value.clone(), value.clone(), None);
            }
            for p in &ps {
                add(f, kind, value.clone(), value.clone(), Some(p));
            }
        };
        if is_listener(s) {
            let port = s.local.as_ref().map_or(0, |l| l.port);
            each(f, FeatureKind::Listen, format!("{fam}/{port}"));
            continue;
        }
        let (Some(local), Some(remote)) = (&s.local, &s.remote) else { continue };
        if s.proto == Proto::Raw || s.proto == Proto::Raw6 || remote.port == 0 || unspecified(&remote.ip) {
            continue;
        }
        if listening.contains(&(fam, local.port)) {
            continue;
        }
        each(f, FeatureKind::Peer, peer(remote));
        each(f, FeatureKind::RemotePort, format!("{fam}/{}", remote.port));
    }
}

/// The command line as one string, arguments joined by spaces.
fn cmdline(p: &Process) -> String {
    p.cmdline
        .as_ref()
        .map(|c| c.iter().map(|a| a.to_lossy().into_owned()).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
