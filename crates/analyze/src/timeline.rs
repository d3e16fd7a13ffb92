//! The timeline: boot, process starts, container inits, the collection, and findings, as rows
//! Timesketch imports (`message`, `datetime`, `timestamp_desc`, plus fields). Several snapshots
//! merge into one sorted timeline.

use crate::Index;
use curtain_model::{format_rfc3339_ns, parse_rfc3339_ns, Finding};
use serde::Serialize;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TimelineRow {
    pub datetime: String,
    pub timestamp_desc: String,
    pub message: String,
    /// The archive the row comes from.
    pub source: String,
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack: Option<String>,
    #[serde(skip)]
    pub ns: u64,
}

impl TimelineRow {
    fn new(ns: u64, desc: &str, message: String, source: &str, host: &str) -> Self {
        TimelineRow {
            datetime: format_rfc3339_ns(ns),
            timestamp_desc: desc.to_string(),
            message,
            source: source.to_string(),
            host: host.to_string(),
            pid: None,
            ppid: None,
            comm: None,
            exe: None,
            cmdline: None,
            uid: None,
            container: None,
            detector: None,
            severity: None,
            attack: None,
            ns,
        }
    }
}

/// The column names of the CSV form, in order.
pub const CSV_COLUMNS: [&str; 15] = [
    "datetime",
    "timestamp_desc",
    "message",
    "source",
    "host",
    "pid",
    "ppid",
    "comm",
    "exe",
    "cmdline",
    "uid",
    "container",
    "detector",
    "severity",
    "attack",
];

fn join(v: &[curtain_model::ByteString]) -> String {
    v.iter().map(|a| a.to_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

/// Rows of one snapshot (unsorted).
pub fn rows(ix: &Index, findings: &[Finding]) -> Vec<TimelineRow> {
    let s = ix.snap;
    let m = &s.manifest;
    let host = m.hostname.as_str();
    let src = s.source.as_str();
    let mut out = Vec::new();
    let boot = m.clock.boot_wall_ns();
    out.push(TimelineRow::new(boot, "System Boot", format!("{host} booted (kernel {})", m.kernel_release), src, host));
    let inits: std::collections::HashMap<u32, &crate::container::Container> =
        ix.containers.iter().filter_map(|c| Some((c.init_pid?, c))).collect();
    for p in &s.processes {
        if p.kernel_thread {
            continue;
        }
        let Some(ns) = p.started_at.as_deref().and_then(parse_rfc3339_ns) else { continue };
        // Named as `report` and `findings` name it: runtime, name (or short id), task, pod, image.
        let container = ix.container_of(p.pid).map(|c| c.display());
        let fill = |mut r: TimelineRow| {
            r.pid = Some(p.pid);
            r.ppid = p.ppid;
            r.comm = Some(p.comm_lossy().into_owned());
            r.exe = p.exe.as_ref().map(|e| e.path.to_lossy().into_owned());
            r.cmdline = p.cmdline.as_deref().map(join);
            r.uid = p.uid;
            r.container = container.clone();
            r
        };
        let exe = p.exe.as_ref().map(|e| e.path.to_lossy().into_owned()).unwrap_or_else(|| "?".into());
        out.push(fill(TimelineRow::new(
            ns,
            "Process Start",
            format!("pid {} ({}) started: {exe}", p.pid, p.comm_lossy()),
            src,
            host,
        )));
        if let Some(c) = inits.get(&p.pid) {
            out.push(fill(TimelineRow::new(
                ns,
                "Container Init Start",
                format!("container {} started with pid {} ({})", c.display(), p.pid, p.comm_lossy()),
                src,
                host,
            )));
        }
    }
    out.push(TimelineRow::new(
        m.clock.realtime_start_ns,
        "Collection Start",
        format!("curtain collect started on {host}"),
        src,
        host,
    ));
    out.push(TimelineRow::new(
        m.clock.realtime_end_ns.max(m.clock.realtime_start_ns),
        "Collection End",
        format!("curtain collect ended: {} processes, {} sockets", m.counts.processes, m.counts.sockets),
        src,
        host,
    ));
    for f in findings {
        let ns = f.started_at.as_deref().and_then(parse_rfc3339_ns).unwrap_or(m.clock.realtime_start_ns);
        let mut r = TimelineRow::new(
            ns,
            "Finding (process start)",
            format!("[{}] {}: {}", f.severity, f.title, f.summary),
            src,
            host,
        );
        r.pid = f.pid;
        r.comm = f.comm.as_ref().map(|c| c.to_lossy().into_owned());
        r.detector = Some(f.detector.clone());
        r.severity = Some(f.severity.to_string());
        r.attack = Some(f.attack.join(","));
        r.container = f.container.clone().or_else(|| f.pid.and_then(|pid| ix.container_of(pid)).map(|c| c.display()));
        out.push(r);
    }
    out
}

/// Rows for findings from CloudTrail (`curtain hunt`): at the event's time, from the trail file,
/// on host `aws`; merged with the snapshots' rows they sort with the process findings.
pub fn cloud_rows(findings: &[Finding]) -> Vec<TimelineRow> {
    findings
        .iter()
        .filter_map(|f| {
            let ns = f.started_at.as_deref().and_then(parse_rfc3339_ns)?;
            let mut r = TimelineRow::new(
                ns,
                "Finding (CloudTrail event)",
                format!("[{}] {}: {}", f.severity, f.title, f.summary),
                &f.source,
                "aws",
            );
            r.detector = Some(f.detector.clone());
            r.severity = Some(f.severity.to_string());
            r.attack = Some(f.attack.join(","));
            Some(r)
        })
        .collect()
}

/// Sorts rows of any number of snapshots into one timeline.
pub fn merge(mut rows: Vec<TimelineRow>) -> Vec<TimelineRow> {
    // Stable: rows of one instant keep the order they were made in (a process's start before
    // its container's init row and its findings; collection start before end).
    rows.sort_by(|a, b| (a.ns, &a.source, a.pid).cmp(&(b.ns, &b.source, b.pid)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn rows_in_order() {
        let mut init = started(process(1, 0, "sh", "/bin/sh"), 10);
        init.nspid = vec![1];
        let late = started(process(9, 1, "bash", "/bin/bash"), 5000);
        let s = snapshot(vec![init, late], vec![], vec![]);
        let (ix, findings) = crate::analyze(&s);
        let t = merge(rows(&ix, &findings));
        let descs: Vec<_> = t.iter().map(|r| r.timestamp_desc.as_str()).collect();
        assert_eq!(
            descs,
            [
                "System Boot",
                "Process Start",
                "Container Init Start",
                "Process Start",
                "Finding (process start)",
                "Collection Start",
                "Collection End"
            ]
        );
        assert!(t.windows(2).all(|w| w[0].ns <= w[1].ns));
        assert_eq!(t[0].datetime, "2027-01-15T08:00:00.000000000Z");
    }
}
