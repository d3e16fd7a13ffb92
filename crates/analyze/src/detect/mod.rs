//! The detector registry. One detector per file: its id, title, ATT&CK technique, severity, the
//! text a responder reads, its logic and its tests (a true positive and a look-alike that must
//! not fire). Detectors are pure functions of the snapshot's index.
//!
//! The collector's own process, the responder's session and the ECS Exec / SSM agent (labelled
//! by the collector) never raise a finding by themselves.

use crate::index::Index;
use curtain_model::{Evidence, Finding, Process, Severity};

mod anon_exec;
mod bind_shell;
mod credential_endpoint;
mod deleted_exe;
mod interactive_shell;
mod ld_preload;
mod masquerade;
mod memfd_exe;
mod miner;
mod reverse_shell;
mod root_caps;
mod traced;
mod writable_dir_exe;

pub struct Detector {
    pub id: &'static str,
    pub title: &'static str,
    /// MITRE ATT&CK technique ids.
    pub attack: &'static [&'static str],
    /// The usual severity; a detector may raise or lower it per finding.
    pub severity: Severity,
    /// What it means and what to do, for the responder.
    pub doc: &'static str,
    pub run: fn(&Detector, &Index) -> Vec<Finding>,
}

/// Every detector, in the order their findings are listed.
pub const DETECTORS: &[&Detector] = &[
    &reverse_shell::DETECTOR,
    &bind_shell::DETECTOR,
    &deleted_exe::DETECTOR,
    &memfd_exe::DETECTOR,
    &writable_dir_exe::DETECTOR,
    &ld_preload::DETECTOR,
    &traced::DETECTOR,
    &miner::DETECTOR,
    &credential_endpoint::DETECTOR,
    &masquerade::DETECTOR,
    &interactive_shell::DETECTOR,
    &anon_exec::DETECTOR,
    &root_caps::DETECTOR,
];

/// Runs every detector; findings sorted by severity (highest first), then pid.
pub fn run_all(ix: &Index) -> Vec<Finding> {
    let mut out: Vec<Finding> = DETECTORS.iter().flat_map(|d| (d.run)(d, ix)).collect();
    for f in &mut out {
        f.source = ix.snap.source.clone();
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.pid.cmp(&b.pid)).then(a.detector.cmp(&b.detector)));
    out
}

/// Processes a detector looks at: everything but the collector, its responder session and the
/// SSM agent.
pub(crate) fn candidates<'a>(ix: &'a Index) -> impl Iterator<Item = &'a Process> + 'a {
    ix.snap.processes.iter().filter(|p| p.label.is_none())
}

pub(crate) fn finding(
    d: &Detector,
    p: &Process,
    severity: Severity,
    summary: String,
    evidence: Vec<Evidence>,
) -> Finding {
    Finding {
        detector: d.id.to_string(),
        title: d.title.to_string(),
        severity,
        attack: d.attack.iter().map(|s| s.to_string()).collect(),
        pid: Some(p.pid),
        starttime_ticks: p.starttime_ticks,
        started_at: p.started_at.clone(),
        comm: p.comm.clone(),
        summary,
        evidence,
        source: String::new(),
    }
}

/// The process's row.
pub(crate) fn ev_process(p: &Process) -> Evidence {
    Evidence {
        member: "tables/processes.jsonl".into(),
        locator: match p.starttime_ticks {
            Some(t) => format!("pid={} starttime={t}", p.pid),
            None => format!("pid={} starttime=unknown", p.pid),
        },
    }
}

/// A raw file of the process.
pub(crate) fn ev_raw(p: &Process, file: &str) -> Evidence {
    Evidence { member: format!("raw/proc/{}/{}", p.pid, file), locator: String::new() }
}

/// A link of the process, as recorded in raw/reads.jsonl.
pub(crate) fn ev_link(p: &Process, link: &str) -> Evidence {
    Evidence { member: "raw/reads.jsonl".into(), locator: format!("path={}/{}", p.pid, link) }
}

pub(crate) fn ev_socket(inode: u64) -> Evidence {
    Evidence { member: "tables/sockets.jsonl".into(), locator: format!("inode={inode}") }
}

pub(crate) fn ev_fd(pid: u32, fd: u32) -> Evidence {
    Evidence { member: "tables/fds.jsonl".into(), locator: format!("pid={pid} fd={fd}") }
}

/// A process holding a socket through one descriptor: its row, the socket's, the descriptor's.
pub(crate) fn ev_holding(p: &Process, fd: u32, inode: u64) -> Vec<Evidence> {
    vec![ev_process(p), ev_socket(inode), ev_fd(p.pid, fd)]
}

/// Last path component, without the kernel's " (deleted)".
pub(crate) fn basename(path: &[u8]) -> String {
    let path = path.strip_suffix(b" (deleted)").unwrap_or(path);
    let name = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    String::from_utf8_lossy(name).into_owned()
}

/// The names a process goes by: comm, its executable's file name, argv[0]'s file name.
pub(crate) fn names(p: &Process) -> Vec<String> {
    let mut v = vec![p.comm_lossy().into_owned()];
    if let Some(e) = &p.exe {
        v.push(basename(&e.path.0));
    }
    if let Some(a0) = p.cmdline.as_ref().and_then(|c| c.first()) {
        v.push(basename(&a0.0));
    }
    v
}

pub(crate) const SHELLS: &[&str] =
    &["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "csh", "tcsh", "fish", "busybox"];

/// Programs that hand a remote peer a command interpreter when their stdio is a socket.
pub(crate) const INTERPRETERS: &[&str] = &[
    "python", "python2", "python3", "perl", "ruby", "php", "node", "lua", "nc", "ncat", "netcat", "socat", "telnet",
    "awk", "gawk", "irb", "pwsh", "openssl",
];

fn version_stripped(name: &str) -> &str {
    // python3.11 -> python3, php8.2 -> php8 -> matched via prefix below
    name.split('.').next().unwrap_or(name)
}

pub(crate) fn is_shell(p: &Process) -> bool {
    names(p).iter().any(|n| SHELLS.contains(&n.as_str()) || (n.starts_with('-') && SHELLS.contains(&&n[1..])))
}

pub(crate) fn is_interpreter(p: &Process) -> bool {
    names(p).iter().any(|n| {
        let n = version_stripped(n);
        INTERPRETERS.contains(&n)
            || INTERPRETERS.iter().any(|i| n.starts_with(i) && n[i.len()..].bytes().all(|c| c.is_ascii_digit()))
    })
}

/// Lossy text of a byte string, cut to `max` characters for a one-line summary.
pub(crate) fn short(b: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > max {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    } else {
        s.into_owned()
    }
}

/// The command line, joined with spaces, cut for a summary.
pub(crate) fn cmdline(p: &Process) -> String {
    let joined: Vec<u8> =
        p.cmdline.as_ref().map(|c| c.iter().map(|a| a.0.clone()).collect::<Vec<_>>().join(&b' ')).unwrap_or_default();
    short(&joined, 160)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ids_are_unique_and_documented() {
        let mut ids: Vec<_> = DETECTORS.iter().map(|d| d.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), DETECTORS.len());
        for d in DETECTORS {
            assert!(!d.doc.is_empty() && !d.title.is_empty(), "{}", d.id);
            assert!(d.attack.iter().all(|t| t.starts_with('T')), "{}", d.id);
        }
        assert_eq!(DETECTORS.len(), 13);
    }

    #[test]
    fn shells_and_interpreters() {
        use crate::testkit::*;
        assert!(is_shell(&process(1, 0, "bash", "/usr/bin/bash")));
        assert!(is_shell(&process(1, 0, "sh", "/bin/busybox")));
        assert!(is_interpreter(&process(1, 0, "python3.11", "/usr/bin/python3.11")));
        assert!(!is_shell(&process(1, 0, "nginx", "/usr/sbin/nginx")));
        assert!(!is_interpreter(&process(1, 0, "pythonista", "/opt/pythonista")));
    }
}
