//! What changed between two snapshots of one container or host: processes started and gone
//! (identified by pid and start time, so a reused pid is a new process), connections opened and
//! closed, new listeners, executables whose content changed, and new findings.

use crate::Index;
use curtain_model::{Finding, Process, Proto, Socket};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ProcessRef {
    pub pid: u32,
    pub starttime_ticks: Option<u64>,
    pub started_at: Option<String>,
    pub comm: String,
    pub exe: Option<String>,
    pub cmdline: String,
    /// The container it runs in, as `findings` names it (`host` for the host's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl ProcessRef {
    fn of(ix: &Index, p: &Process) -> Self {
        ProcessRef {
            container: ix.container_of(p.pid).map(|c| c.display()),
            pid: p.pid,
            starttime_ticks: p.starttime_ticks,
            started_at: p.started_at.clone(),
            comm: p.comm_lossy().into_owned(),
            exe: p.exe.as_ref().map(|e| e.path.to_lossy().into_owned()),
            cmdline: p
                .cmdline
                .as_ref()
                .map(|c| c.iter().map(|a| a.to_lossy().into_owned()).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConnectionRef {
    pub proto: String,
    pub local: String,
    pub remote: String,
    pub state: String,
    /// Owners as "pid/fd (comm)".
    pub owners: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ExeChange {
    pub path: String,
    pub old_sha256: Vec<String>,
    pub new_sha256: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Diff {
    pub processes_started: Vec<ProcessRef>,
    pub processes_gone: Vec<ProcessRef>,
    pub connections_opened: Vec<ConnectionRef>,
    pub connections_closed: Vec<ConnectionRef>,
    pub new_listeners: Vec<ConnectionRef>,
    pub executables_changed: Vec<ExeChange>,
    pub new_findings: Vec<Finding>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.processes_started.is_empty()
            && self.processes_gone.is_empty()
            && self.connections_opened.is_empty()
            && self.connections_closed.is_empty()
            && self.new_listeners.is_empty()
            && self.executables_changed.is_empty()
            && self.new_findings.is_empty()
    }
}

fn endpoint(e: &Option<curtain_model::Endpoint>) -> String {
    e.as_ref().map(|e| e.to_string()).unwrap_or_default()
}

fn conn(ix: &Index, s: &Socket) -> ConnectionRef {
    ConnectionRef {
        proto: s.proto.table().to_string(),
        local: endpoint(&s.local),
        remote: endpoint(&s.remote),
        state: s.state.clone(),
        owners: s
            .owners
            .iter()
            .map(|o| {
                format!(
                    "{}/{} ({})",
                    o.pid,
                    o.fd,
                    ix.process(o.pid).map(|p| p.comm_lossy().into_owned()).unwrap_or_default()
                )
            })
            .collect(),
    }
}

fn is_inet(s: &Socket) -> bool {
    s.proto != Proto::Unix
}

/// Connections by (proto, local, remote); listeners by (proto, local).
fn connections<'a>(ix: &'a Index) -> BTreeMap<(String, String, String), &'a Socket> {
    ix.snap
        .sockets
        .iter()
        .filter(|s| is_inet(s) && s.state != "LISTEN" && s.state != "UNCONN")
        .map(|s| ((s.proto.table().to_string(), endpoint(&s.local), endpoint(&s.remote)), s))
        .collect()
}

fn listeners<'a>(ix: &'a Index) -> BTreeMap<(String, String), &'a Socket> {
    ix.snap
        .sockets
        .iter()
        .filter(|s| {
            is_inet(s)
                && (s.state == "LISTEN" || (s.state == "UNCONN" && s.local.as_ref().is_some_and(|l| l.port != 0)))
        })
        .map(|s| ((s.proto.table().to_string(), endpoint(&s.local)), s))
        .collect()
}

fn hashes(ix: &Index) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &ix.snap.processes {
        if let Some(e) = &p.exe {
            if let Some(h) = &e.sha256 {
                let path = e.path.to_lossy();
                m.entry(path.strip_suffix(" (deleted)").unwrap_or(&path).to_string()).or_default().insert(h.clone());
            }
        }
    }
    m
}

/// Compares `old` with `new`.
pub fn diff(old: &Index, old_findings: &[Finding], new: &Index, new_findings: &[Finding]) -> Diff {
    // A process is its pid and start time; the collector's own session is left out.
    let only_in = |a: &Index, b: &Index| -> Vec<ProcessRef> {
        let key = |p: &Process| (p.pid, p.starttime_ticks);
        let in_b: BTreeSet<_> = b.snap.processes.iter().map(key).collect();
        a.snap
            .processes
            .iter()
            .filter(|p| !in_b.contains(&key(p)) && p.label.is_none())
            .map(|p| ProcessRef::of(a, p))
            .collect()
    };
    let mut d = Diff { processes_started: only_in(new, old), processes_gone: only_in(old, new), ..Default::default() };
    let (oc, nc) = (connections(old), connections(new));
    d.connections_opened = nc.iter().filter(|(k, _)| !oc.contains_key(*k)).map(|(_, s)| conn(new, s)).collect();
    d.connections_closed = oc.iter().filter(|(k, _)| !nc.contains_key(*k)).map(|(_, s)| conn(old, s)).collect();
    let (ol, nl) = (listeners(old), listeners(new));
    d.new_listeners = nl.iter().filter(|(k, _)| !ol.contains_key(*k)).map(|(_, s)| conn(new, s)).collect();
    let (oh, nh) = (hashes(old), hashes(new));
    for (path, new_set) in &nh {
        if let Some(old_set) = oh.get(path) {
            if old_set != new_set {
                d.executables_changed.push(ExeChange {
                    path: path.clone(),
                    old_sha256: old_set.iter().cloned().collect(),
                    new_sha256: new_set.iter().cloned().collect(),
                });
            }
        }
    }
    let fkey = |f: &Finding| (f.detector.clone(), f.pid, f.starttime_ticks);
    let old_f: BTreeSet<_> = old_findings.iter().map(fkey).collect();
    d.new_findings = new_findings.iter().filter(|f| !old_f.contains(&fkey(f))).cloned().collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn processes_connections_listeners_hashes() {
        let a = process(1, 0, "app", "/app/server");
        let b = process(2, 1, "worker", "/app/worker");
        let mut old_s = snapshot(
            vec![a.clone(), b.clone()],
            vec![],
            vec![tcp(1, ("10.0.0.5", 5000), ("10.0.0.9", 5432), "ESTABLISHED", &[(1, 5)])],
        );
        old_s.processes[1].exe.as_mut().unwrap().sha256 = Some("aa".into());
        // pid 2 was replaced by another process with the same pid (another start time).
        let mut b2 = started(b.clone(), 9000);
        b2.exe.as_mut().unwrap().sha256 = Some("bb".into());
        let sh = started(process(3, 1, "sh", "/bin/sh"), 9001);
        let new_s = snapshot(
            vec![a, b2, sh],
            vec![],
            vec![
                tcp(2, ("10.0.0.5", 5001), ("203.0.113.5", 443), "ESTABLISHED", &[(3, 3)]),
                tcp(3, ("0.0.0.0", 31337), ("0.0.0.0", 0), "LISTEN", &[(3, 4)]),
            ],
        );
        let (oi, of) = crate::analyze(&old_s);
        let (ni, nf) = crate::analyze(&new_s);
        let d = diff(&oi, &of, &ni, &nf);
        let started: Vec<_> = d.processes_started.iter().map(|p| p.pid).collect();
        assert_eq!(started, [2, 3]);
        assert_eq!(d.processes_gone.iter().map(|p| p.pid).collect::<Vec<_>>(), [2]);
        assert_eq!(d.connections_opened.len(), 1);
        assert_eq!(d.connections_opened[0].remote, "203.0.113.5:443");
        assert_eq!(d.connections_opened[0].owners, ["3/3 (sh)"]);
        assert_eq!(d.connections_closed[0].remote, "10.0.0.9:5432");
        assert_eq!(d.new_listeners[0].local, "0.0.0.0:31337");
        assert_eq!(
            d.executables_changed,
            [ExeChange { path: "/app/worker".into(), old_sha256: vec!["aa".into()], new_sha256: vec!["bb".into()] }]
        );
        assert!(!d.is_empty());
        let same = diff(&ni, &nf, &ni, &nf);
        assert!(same.is_empty());
    }
}
