//! A copied proc tree (another tool's collection, an upload) is data that anyone may have
//! shaped: these trees hold links to files outside them, a FIFO where a file is read, and a
//! `self` that names a process of the tree, and the collection must take none of it for real.

use curtain_archive::{read_archive, ArchiveContents, Compression};
use curtain_collect::{collect, Options};
use curtain_model::{CollectError, ErrorKind, Manifest, ProcRootKind, Process, RawOp, RawRecord, StartBasis};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// What only the files and links outside the tree hold: seen in the archive, something was
/// followed out of it.
const MARKER: &str = "curtain-outside-the-tree-5d2e9";

/// The tree's /proc/stat: booted at 1700000000.
const STAT: &str =
    "cpu  1 0 1 1 0 0 0 0 0 0\nctxt 1\nbtime 1700000000\nprocesses 10\nprocs_running 1\nprocs_blocked 0\n";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let d = std::env::temp_dir().join(format!("curtain-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

fn stat_line(pid: u32, comm: &str, starttime: u64) -> String {
    format!("{pid} ({comm}) S 0 {pid} {pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {starttime} 0 0 0\n")
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o644), 0)
        .unwrap();
}

/// Collects `root` on another thread; a collection that has not ended within a minute (a read
/// blocked on a FIFO) fails the test instead of hanging it.
fn collect_within_a_minute(root: &Path) -> Vec<u8> {
    let opts = Options {
        proc_root: root.to_str().unwrap().to_string(),
        compression: Compression::None,
        ecs_uri: None,
        jobs: Some(2),
        // An executable followed out of the tree would be carved into files/.
        carve_exe: Some(1 << 20),
        ..Options::default()
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(collect(&opts, Vec::new()).map(|(_, bytes)| bytes).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(r) => r.expect("collect"),
        Err(_) => panic!("the collection of a copied tree did not end: a read blocked"),
    }
}

fn rows<T: serde::de::DeserializeOwned>(c: &ArchiveContents, base: &str) -> Vec<T> {
    let b = c.joined(base).unwrap_or_else(|| panic!("no {base}"));
    b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Collects `root`, checks that the archive verifies and replays to the same tables, and returns
/// it with its manifest, processes, errors and reads.
fn collect_checked(root: &Path) -> (ArchiveContents, Manifest, Vec<Process>, Vec<CollectError>, Vec<RawRecord>) {
    let bytes = collect_within_a_minute(root);
    let c = read_archive(std::io::Cursor::new(bytes)).unwrap();
    let report = curtain_archive::verify(&c);
    assert!(report.ok(), "{:?}", report.problems);
    let re = curtain_archive::reparse(&c).unwrap();
    for (table, _, same) in &re.tables {
        assert!(same, "{table} replays differently");
    }
    let manifest: Manifest = serde_json::from_slice(c.get("manifest.json").unwrap()).unwrap();
    let (p, e, r) = (rows(&c, "tables/processes"), rows(&c, "tables/errors"), rows(&c, "raw/reads"));
    (c, manifest, p, e, r)
}

#[test]
fn links_out_of_a_copied_tree_are_recorded_never_followed_and_a_fifo_is_refused() {
    let t = TempDir::new("copied");
    let outside = t.0.join("outside");
    let secret = outside.join("secret");
    write(&secret, &format!("{MARKER} file\n"));
    // A directory that looks like a process, and one that looks like its ns/ and fd/.
    write(&outside.join("piddir/stat"), &stat_line(3, MARKER, 7));
    write(&outside.join("piddir/cmdline"), &format!("{MARKER}\0"));
    std::fs::create_dir_all(outside.join("links")).unwrap();
    symlink(format!("net:[{MARKER}]"), outside.join("links/net")).unwrap();
    symlink(format!("/{MARKER}"), outside.join("links/0")).unwrap();
    write(&outside.join("net/tcp"), &format!("  sl  local_address rem_address   st\n{MARKER}\n"));

    let root = t.0.join("proc");
    write(&root.join("stat"), STAT);
    symlink("1", root.join("self")).unwrap();
    symlink("1/task/1", root.join("thread-self")).unwrap();
    // 1: links to outside files where the kernel has links, a link where a file is read, and
    // a FIFO as its environment (nobody ever writes to it).
    write(&root.join("1/stat"), &stat_line(1, "init", 500));
    write(&root.join("1/cmdline"), "/sbin/init\0");
    symlink(&secret, root.join("1/exe")).unwrap();
    symlink(&outside, root.join("1/cwd")).unwrap();
    symlink(&secret, root.join("1/status")).unwrap();
    mkfifo(&root.join("1/environ"));
    std::fs::create_dir_all(root.join("1/fd")).unwrap();
    symlink(&secret, root.join("1/fd/0")).unwrap();
    symlink(outside.join("links"), root.join("1/ns")).unwrap();
    // 2: its ns/ is its own, its net/ and mountinfo lead out.
    write(&root.join("2/stat"), &stat_line(2, "app", 900));
    std::fs::create_dir_all(root.join("2/ns")).unwrap();
    symlink("net:[4026539001]", root.join("2/ns/net")).unwrap();
    symlink("mnt:[4026539002]", root.join("2/ns/mnt")).unwrap();
    symlink(outside.join("net"), root.join("2/net")).unwrap();
    symlink(&secret, root.join("2/mountinfo")).unwrap();
    // 3: the process directory itself leads out; 4: its fd/ does.
    symlink(outside.join("piddir"), root.join("3")).unwrap();
    write(&root.join("4/stat"), &stat_line(4, "w", 1000));
    symlink(outside.join("links"), root.join("4/fd")).unwrap();

    let (c, manifest, processes, errors, reads) = collect_checked(&root);

    for (name, data) in &c.members {
        assert!(!contains(data, MARKER), "{name} holds what is outside the tree");
    }
    assert_eq!(manifest.options.proc_root_kind, Some(ProcRootKind::Copied));
    assert!(c.members.iter().all(|(name, _)| !name.starts_with("raw/netlink/")), "netlink of this machine");
    assert!(c.members.iter().all(|(name, _)| !name.starts_with("files/")), "an executable carved through a link");

    let error = |path: &str| errors.iter().find(|e| e.path == path).map(|e| e.kind);
    assert_eq!(error("1/environ"), Some(ErrorKind::NotRegular));
    assert_eq!(error("1/status"), Some(ErrorKind::NotFollowed));
    assert_eq!(error("1/exe"), Some(ErrorKind::NotFollowed));
    assert_eq!(error("2/net/tcp"), Some(ErrorKind::NotFollowed));
    assert_eq!(error("2/mountinfo"), Some(ErrorKind::NotFollowed));
    assert_eq!(error("3"), Some(ErrorKind::NotFollowed));
    assert_eq!(error("4/fd"), Some(ErrorKind::NotFollowed));
    // The links of the tree are evidence: their targets are in the read log.
    let target = |path: &str| {
        reads
            .iter()
            .find(|r| r.op == RawOp::Readlink && r.path == path)
            .and_then(|r| r.target.as_ref())
            .map(|t| t.to_lossy().into_owned())
    };
    assert_eq!(target("3"), Some(outside.join("piddir").to_string_lossy().into_owned()));
    assert_eq!(target("1/status"), Some(secret.to_string_lossy().into_owned()));
    assert_eq!(target("4/fd"), Some(outside.join("links").to_string_lossy().into_owned()));
    let p1 = processes.iter().find(|p| p.pid == 1).expect("process 1");
    assert_eq!(p1.exe.as_ref().map(|e| e.path.to_lossy().into_owned()), Some(secret.to_string_lossy().into_owned()));
    assert_eq!(p1.exe.as_ref().and_then(|e| e.sha256.clone()), None, "an executable hashed through the link");
    assert_eq!(p1.cwd.as_ref().map(|c| c.to_lossy().into_owned()), Some(outside.to_string_lossy().into_owned()));

    // `self` names process 1 of the tree: not the collector, nor anything of its session.
    assert!(processes.iter().all(|p| p.label.is_none()), "{:?}", processes.iter().map(|p| p.label).collect::<Vec<_>>());
    // Started 500 ticks after the tree's own boot, whatever this machine's clocks say.
    assert_eq!(manifest.clock.start_basis, Some(StartBasis::Btime));
    let tck = rustix::param::clock_ticks_per_second();
    let want = 1_700_000_000u64 * 1_000_000_000 + 500 * 1_000_000_000 / tck;
    assert_eq!(p1.started_at.as_deref(), Some(curtain_model::format_rfc3339_ns(want).as_str()));
}

#[test]
fn a_copy_whose_self_names_this_process_is_not_taken_for_this_machine() {
    // The copy's `self` names the collector's own pid, which the copy also holds: still no
    // collector label, and no socket table dumped from the collector's own namespace.
    let t = TempDir::new("copied-self");
    let root = t.0.join("proc");
    let me = std::process::id();
    write(&root.join("stat"), STAT);
    symlink(me.to_string(), root.join("self")).unwrap();
    write(&root.join(format!("{me}/stat")), &stat_line(me, "curtain", 5));
    std::fs::create_dir_all(root.join(format!("{me}/ns"))).unwrap();
    let own_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    symlink(&own_net, root.join(format!("{me}/ns/net"))).unwrap();

    let (c, _, processes, _, reads) = collect_checked(&root);
    assert_eq!(processes.len(), 1);
    assert_eq!(processes[0].label, None);
    assert!(reads.iter().all(|r| r.op != RawOp::Netlink), "sock_diag of this machine for a copy");
    assert!(c.members.iter().all(|(name, _)| !name.starts_with("raw/netlink/")));
    // Nor this machine's container files: one record says why they were not read.
    let host: Vec<_> = reads.iter().filter(|r| matches!(r.op, RawOp::Host | RawOp::Hostlist)).collect();
    assert_eq!(host.len(), 1, "{host:?}");
    assert_eq!((host[0].path.as_str(), host[0].error), ("/", Some(ErrorKind::NotFollowed)));
    assert!(host[0].detail.as_deref().unwrap().contains("copy"));
    assert!(c.members.iter().all(|(name, _)| !name.starts_with("raw/host/")));
    let self_read = reads.iter().find(|r| r.path == "self").expect("self recorded");
    assert_eq!(self_read.target.as_ref().map(|t| t.to_lossy().into_owned()), Some(me.to_string()));
}

#[test]
fn the_live_procfs_is_read_as_before() {
    // The same walk on /proc: a procfs, its start times from the clocks, the collector labelled.
    let bytes = collect_within_a_minute(Path::new("/proc"));
    let c = read_archive(std::io::Cursor::new(bytes)).unwrap();
    assert!(curtain_archive::verify(&c).ok());
    let manifest: Manifest = serde_json::from_slice(c.get("manifest.json").unwrap()).unwrap();
    assert_eq!(manifest.options.proc_root_kind, Some(ProcRootKind::Procfs));
    assert_eq!(manifest.clock.start_basis, None);
    assert_eq!(manifest.partial, None);
    let processes: Vec<Process> = rows(&c, "tables/processes");
    let me = processes.iter().find(|p| p.pid == std::process::id()).expect("the collector's own row");
    assert_eq!(me.label, Some(curtain_model::Label::SelfCollector));
    assert!(me.exe.as_ref().and_then(|e| e.sha256.as_ref()).is_some(), "its executable hashed");
    let errors: Vec<CollectError> = rows(&c, "tables/errors");
    assert!(errors.iter().all(|e| !matches!(e.kind, ErrorKind::NotFollowed | ErrorKind::NotRegular)));
}
