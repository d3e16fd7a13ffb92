//! The detectors' logic. A detector's id, title, ATT&CK techniques, severity, doc text and lists
//! are its rule file (crates/analyze/rules/, see `crate::rules`); its file here holds the logic
//! that reads them and its tests (a true positive and a look-alike that must not fire), and
//! declares which lists it reads. Two list-only kinds (`process`, `connection`) serve a
//! responder's own rules. Detectors are pure functions of the snapshot's index.
//!
//! The collector's own process, the responder's session and the ECS Exec / SSM agent (labelled
//! by the collector) never raise a finding by themselves.

use crate::index::Index;
use crate::rules::{ListSpec, Rule, Rules};
use curtain_model::{Evidence, Finding, Process, Severity};

mod anon_exec;
mod bind_shell;
mod cloud;
mod connection_match;
mod container_host_root;
mod credential_endpoint;
mod deleted_exe;
mod exposed_container;
mod interactive_shell;
mod joined_container_ns;
mod ld_preload;
mod masquerade;
mod memfd_exe;
mod miner;
mod process_match;
mod reverse_shell;
mod root_caps;
mod traced;
mod writable_dir_exe;

/// The logic behind a rule: a built-in detector (bound to its id) or a list-only kind a
/// responder's rule may name. It declares the lists it reads, so that a rule file naming any
/// other is refused at load instead of silently matching nothing.
pub(crate) struct Engine {
    /// The built-in detector's id, or the list-only kind.
    pub kind: &'static str,
    pub run: fn(&Rule, &Rules, &Index) -> Vec<Finding>,
    pub lists: &'static [ListSpec],
    /// A rule of this kind with every list empty would never fire.
    pub needs_lists: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind)
    }
}

/// How a list's entries are matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// A tool and its renamed or versioned builds: see [`family_match`].
    Family,
    /// A program and its versions: see [`program_match`].
    Program,
    /// Anywhere in the text, in any case.
    Substring,
    /// At the start of the text.
    Prefix,
    /// An executable's path: the whole path, or a folder when the entry ends in `/`.
    Path,
    /// The whole value, as written.
    Exact,
    /// A port number.
    Port,
}

impl ListKind {
    /// How the entries are matched, for the detector list.
    pub fn how(self) -> &'static str {
        match self {
            ListKind::Family => "by family (the name, or the name followed by -, _, . or a digit; any case)",
            ListKind::Program => {
                "as a program (the name, or with a version: digits, or anything after a dot; any case)"
            }
            ListKind::Substring => "anywhere in the text, in any case",
            ListKind::Prefix => "at the start",
            ListKind::Path => "as the whole path, or as a folder when it ends in /",
            ListKind::Exact => "as the whole value",
            ListKind::Port => "as a port",
        }
    }
}

/// The built-in detectors' logic, bound by id to the embedded rule files.
const BUILTIN: &[&Engine] = &[
    &reverse_shell::ENGINE,
    &bind_shell::ENGINE,
    &deleted_exe::ENGINE,
    &memfd_exe::ENGINE,
    &writable_dir_exe::ENGINE,
    &ld_preload::ENGINE,
    &traced::ENGINE,
    &miner::ENGINE,
    &credential_endpoint::ENGINE,
    &masquerade::ENGINE,
    &interactive_shell::ENGINE,
    &anon_exec::ENGINE,
    &root_caps::ENGINE,
    &exposed_container::ENGINE,
    &joined_container_ns::ENGINE,
    &container_host_root::ENGINE,
];

/// The list-only kinds a responder's own rule may use.
pub(crate) const KINDS: &[&Engine] = &[&process_match::ENGINE, &connection_match::ENGINE];

pub(crate) fn builtin_engine(id: &str) -> Option<&'static Engine> {
    BUILTIN.iter().chain(cloud::ALL).copied().find(|e| e.kind == id)
}

/// Whether an engine is one of the CloudTrail detectors (`curtain hunt`).
pub(crate) fn is_cloudtrail(e: &Engine) -> bool {
    cloud::ALL.iter().any(|c| std::ptr::eq(*c, e))
}

/// Runs every rule; findings sorted by severity (highest first), then pid, then detector id, and
/// otherwise in the order the rules and their matches came.
pub fn run_all(ix: &Index, rules: &Rules) -> Vec<Finding> {
    let mut out: Vec<Finding> = rules.iter().flat_map(|r| r.run(rules, ix)).collect();
    for f in &mut out {
        f.source = ix.snap.source.clone();
        if f.container.is_none() {
            f.container = f.pid.and_then(|pid| ix.container_of(pid)).map(|c| c.display());
        }
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.pid.cmp(&b.pid)).then(a.detector.cmp(&b.detector)));
    out
}

/// Processes a detector looks at: everything but the collector, its responder session and the
/// SSM agent.
pub(crate) fn candidates<'a>(ix: &'a Index) -> impl Iterator<Item = &'a Process> + 'a {
    ix.snap.processes.iter().filter(|p| p.label.is_none())
}

pub(crate) fn finding(d: &Rule, p: &Process, severity: Severity, summary: String, evidence: Vec<Evidence>) -> Finding {
    Finding {
        detector: d.id.to_string(),
        title: d.title.to_string(),
        severity,
        attack: d.attack.clone(),
        pid: Some(p.pid),
        starttime_ticks: p.starttime_ticks,
        started_at: p.started_at.clone(),
        comm: p.comm.clone(),
        summary,
        evidence,
        container: None,
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

/// A container's row.
pub(crate) fn ev_container(c: &crate::container::Container) -> Evidence {
    Evidence { member: "tables/containers.jsonl".into(), locator: format!("id={}", c.id.as_deref().unwrap_or(&c.key)) }
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

/// Whether `name` is the tool `known` or a renamed or versioned build of it: in any case, the
/// name itself, or the name followed by a separator (`-`, `_`, `.`) or a digit, and whatever comes
/// after. `xmrig-6.21`, `xmrig_amd64`, `xmrig.bin`, `XMRig` and `kdevtmpfsi2` are xmrig's and
/// kdevtmpfsi's; `xmrigorous` and `ccminerva` are nobody's: a bare prefix never matches.
pub fn family_match(name: &str, known: &str) -> bool {
    let (n, k) = (name.as_bytes(), known.as_bytes());
    !k.is_empty()
        && n.len() >= k.len()
        && n[..k.len()].eq_ignore_ascii_case(k)
        && n.get(k.len()).is_none_or(|&c| matches!(c, b'-' | b'_' | b'.') || c.is_ascii_digit())
}

/// Whether `name` is the program `known` or a version of it: in any case, the name itself, or
/// its part before the first `.` is the known name alone or followed by digits (`python3.11`,
/// `nc.openbsd`, `zsh5`). Narrower than [`family_match`]: legitimate programs have relatives that
/// are not them (`node_exporter`, `php-fpm`, `sh-agent`).
pub fn program_match(name: &str, known: &str) -> bool {
    if known.is_empty() {
        return false;
    }
    if name.eq_ignore_ascii_case(known) {
        return true;
    }
    let stem = name.split('.').next().unwrap_or(name);
    let (s, k) = (stem.as_bytes(), known.as_bytes());
    s.len() >= k.len() && s[..k.len()].eq_ignore_ascii_case(k) && s[k.len()..].iter().all(u8::is_ascii_digit)
}

/// The names a process runs as a program: its comm, its executable's file name and argv[0]'s,
/// except that a multi-call binary (busybox) is not itself a program: the applet it runs is
/// (argv[0] through a link, or argv[1] in `busybox sh`).
pub(crate) fn program_names(p: &Process, rules: &Rules) -> Vec<String> {
    let multicall = rules.family("multicall");
    let is_multi = |n: &str| multicall.iter().any(|m| program_match(n, m));
    let mut v = Vec::new();
    let comm = p.comm_lossy();
    if !is_multi(&comm) {
        v.push(comm.into_owned());
    }
    if let Some(e) = &p.exe {
        let n = basename(&e.path.0);
        if !is_multi(&n) {
            v.push(n);
        }
    }
    let argv = p.cmdline.as_deref().unwrap_or(&[]);
    if let Some(a0) = argv.first() {
        let n = basename(&a0.0);
        if !is_multi(n.trim_start_matches('-')) {
            v.push(n);
        } else if let Some(a1) = argv.get(1) {
            v.push(basename(&a1.0));
        }
    }
    v
}

fn any_program(p: &Process, rules: &Rules, families: &[&str]) -> bool {
    program_names(p, rules).iter().any(|n| {
        // A login shell's argv[0] is "-bash".
        let n = n.strip_prefix('-').unwrap_or(n);
        families.iter().flat_map(|f| rules.family(f)).any(|k| program_match(n, k))
    })
}

/// A command shell (a busybox `sh` or `ash` applet too, not busybox's other applets).
pub(crate) fn is_shell(p: &Process, rules: &Rules) -> bool {
    any_program(p, rules, &["shells"])
}

/// A program that hands a remote peer a command interpreter when its stdio is a socket.
pub(crate) fn is_interpreter(p: &Process, rules: &Rules) -> bool {
    any_program(p, rules, &["interpreters", "relays"])
}

/// A program whose job is joining its stdio to a socket (nc, socat).
pub(crate) fn is_relay(p: &Process, rules: &Rules) -> bool {
    any_program(p, rules, &["relays"])
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
    use crate::rules::builtin;
    use crate::testkit::*;

    #[test]
    fn registry_ids_are_unique_and_documented() {
        let rules = builtin();
        let mut ids: Vec<_> = rules.iter().map(|d| d.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), rules.len());
        for d in rules.iter() {
            assert!(!d.doc.is_empty() && !d.title.is_empty(), "{}", d.id);
            assert!(d.attack.iter().all(|t| crate::rules::valid_attack(t)), "{}", d.id);
        }
        assert_eq!(rules.len(), BUILTIN.len() + cloud::ALL.len());
        // Every built-in detector has its rule file, in the listing order: the process detectors,
        // then the CloudTrail ones.
        let order: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        let engines: Vec<&str> = BUILTIN.iter().chain(cloud::ALL).map(|e| e.kind).collect();
        assert_eq!(order, engines);
    }

    #[test]
    fn shells_and_interpreters() {
        let r = builtin();
        assert!(is_shell(&process(1, 0, "bash", "/usr/bin/bash"), r));
        assert!(is_shell(&process(1, 0, "sh", "/bin/busybox"), r));
        assert!(is_interpreter(&process(1, 0, "python3.11", "/usr/bin/python3.11"), r));
        assert!(!is_shell(&process(1, 0, "nginx", "/usr/sbin/nginx"), r));
        assert!(!is_interpreter(&process(1, 0, "pythonista", "/opt/pythonista"), r));
        // Relatives of an interpreter are not it.
        assert!(!is_interpreter(&process(1, 0, "node_exporter", "/bin/node_exporter"), r));
        assert!(!is_interpreter(&process(1, 0, "php-fpm8.2", "/usr/sbin/php-fpm8.2"), r));
        assert!(is_relay(&process(1, 0, "nc", "/usr/bin/nc.openbsd"), r));
    }

    #[test]
    fn busybox_applets_are_shells_only_when_they_are_sh_or_ash() {
        let r = builtin();
        // Through a link (argv[0] and comm are the applet), and as `busybox APPLET`.
        let linked_sh = with_args(process(1, 0, "sh", "/bin/busybox"), &["/bin/sh", "-c", "x"]);
        let ash = with_args(process(1, 0, "busybox", "/bin/busybox"), &["busybox", "ash"]);
        let login = with_args(process(1, 0, "ash", "/bin/busybox"), &["-ash"]);
        assert!(is_shell(&linked_sh, r) && is_shell(&ash, r) && is_shell(&login, r));
        let sleep = with_args(process(1, 0, "sleep", "/bin/busybox"), &["sleep", "3600"]);
        let called = with_args(process(1, 0, "busybox", "/bin/busybox"), &["busybox", "sleep", "3600"]);
        let bare = with_args(process(1, 0, "busybox", "/bin/busybox"), &["busybox"]);
        for p in [sleep, called, bare] {
            assert!(!is_shell(&p, r) && !is_interpreter(&p, r), "{:?}", p.cmdline);
        }
    }

    #[test]
    fn family_match_takes_renamed_and_versioned_builds_and_no_bare_prefix() {
        for n in ["xmrig", "xmrig-6.21", "xmrig_amd64", "xmrig.bin", "XMRig", "XMRIG-notls", "xmrig6"] {
            assert!(family_match(n, "xmrig"), "{n}");
        }
        assert!(family_match("kdevtmpfsi2", "kdevtmpfsi"));
        assert!(family_match("T-Rex-0.26", "t-rex"));
        for (n, k) in
            [("xmrigorous", "xmrig"), ("ccminerva", "ccminer"), ("xmri", "xmrig"), ("axmrig", "xmrig"), ("x", "")]
        {
            assert!(!family_match(n, k), "{n} {k}");
        }
    }

    #[test]
    fn program_match_takes_versions_only() {
        for n in ["python3", "python3.11", "Python3", "python"] {
            assert!(program_match(n, "python3") || program_match(n, "python"), "{n}");
        }
        assert!(program_match("nc.openbsd", "nc"));
        assert!(program_match("beam.smp", "beam.smp"));
        for (n, k) in [("node_exporter", "node"), ("pythonista", "python"), ("sh-agent", "sh"), ("php-fpm", "php")] {
            assert!(!program_match(n, k), "{n} {k}");
        }
    }
}
