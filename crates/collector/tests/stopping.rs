//! A collection cut short (SIGTERM, SIGINT, `--time-budget`) ends with a whole archive that
//! verifies and says it is partial; a second signal ends it at once without leaving a file; a
//! standard output whose reader went away is a failure, not a success.

use curtain_archive::{read_archive, ArchiveContents};
use curtain_model::Manifest;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn collector() -> Command {
    Command::new(env!("CARGO_BIN_EXE_curtain-collector"))
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let d = std::env::temp_dir().join(format!("curtain-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sleeping children, so that /proc has a few hundred processes to walk; killed (by pid) and
/// reaped when dropped.
struct Sleepers(Vec<Child>);

impl Sleepers {
    fn spawn(n: usize) -> Sleepers {
        let kids = (0..n)
            .map(|_| Command::new("sleep").arg("120").stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap())
            .collect();
        Sleepers(kids)
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A child that is killed when dropped, should a test fail while it runs.
struct Running(Option<Child>);

impl Running {
    fn wait(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
    fn pid(&self) -> rustix::process::Pid {
        rustix::process::Pid::from_child(self.0.as_ref().unwrap())
    }
    fn signal(&self, sig: rustix::process::Signal) {
        rustix::process::kill_process(self.pid(), sig).unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits (at most a minute) until the collector's temporary output appears in `dir`: it has
/// caught its signals and started.
fn until_started(dir: &TempDir) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.listing().iter().any(|n| n.ends_with(".part")) {
        assert!(Instant::now() < deadline, "the collector never started writing");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The archive verifies (members against manifest and index) and its manifest.
fn verified(bytes: Vec<u8>) -> (ArchiveContents, Manifest) {
    let c = read_archive(std::io::Cursor::new(bytes)).expect("a readable archive");
    let report = curtain_archive::verify(&c);
    assert!(report.ok(), "{:?}", report.problems);
    let m: Manifest = serde_json::from_slice(c.get("manifest.json").expect("manifest.json")).unwrap();
    (c, m)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sigterm_leaves_a_whole_archive_under_its_name_marked_partial() {
    let _kids = Sleepers::spawn(300);
    let dir = TempDir::new("sigterm");
    let out = dir.0.join("snap.tar");
    let run =
        Running(Some(collector().args(["-q", "-j", "1", "-o"]).arg(&out).stderr(Stdio::piped()).spawn().unwrap()));
    until_started(&dir);
    run.signal(rustix::process::Signal::TERM);
    let o = run.wait();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    // The archive and its sidecar under their names, nothing else.
    assert_eq!(dir.listing(), ["snap.tar", "snap.tar.sha256"]);
    let (_, m) = verified(std::fs::read(&out).unwrap());
    let p = m.partial.expect("marked partial");
    assert_eq!(p.reason, "SIGTERM");
    assert!(p.processes_read < p.processes_listed, "{p:?}");
    assert!(p.processes_listed > 300, "{p:?}");
    assert_eq!(m.counts.processes, p.processes_read, "{p:?}");
}

#[test]
fn sigint_while_standard_output_is_blocked_finishes_the_stream() {
    // The collector writes into a pipe nobody reads yet: it blocks once the pipe is full, long
    // before the walk is done. SIGINT then, and read: the rest of the stream is a whole archive.
    let _kids = Sleepers::spawn(300);
    let mut run = Running(Some(
        collector().args(["-q", "-j", "1", "-o", "-"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(),
    ));
    let mut stdout = run.0.as_mut().unwrap().stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    // A full pipe: the collector is blocked in a write.
    std::thread::sleep(Duration::from_millis(300));
    run.signal(rustix::process::Signal::INT);
    let mut bytes = first.to_vec();
    stdout.read_to_end(&mut bytes).unwrap();
    let o = run.wait();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let (_, m) = verified(bytes);
    let p = m.partial.expect("marked partial");
    assert_eq!(p.reason, "SIGINT");
    assert!(p.processes_read < p.processes_listed, "{p:?}");
}

#[test]
fn a_second_signal_exits_at_once_and_leaves_no_file() {
    let _kids = Sleepers::spawn(300);
    let dir = TempDir::new("twice");
    let out = dir.0.join("snap.tar");
    let run =
        Running(Some(collector().args(["-q", "-j", "1", "-o"]).arg(&out).stderr(Stdio::piped()).spawn().unwrap()));
    until_started(&dir);
    // Two different signals: two of the same may merge into one before the handler runs.
    run.signal(rustix::process::Signal::TERM);
    run.signal(rustix::process::Signal::INT);
    let o = run.wait();
    assert!(matches!(o.status.code(), Some(130 | 143)), "{:?} {}", o.status, stderr(&o));
    assert!(dir.listing().is_empty(), "left behind: {:?}", dir.listing());
}

#[test]
fn a_spent_time_budget_ends_the_collection_the_same_way() {
    let _kids = Sleepers::spawn(300);
    let dir = TempDir::new("budget");
    let out = dir.0.join("snap.tar.zst");
    let o = collector().args(["-q", "--time-budget", "0.05", "-o"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (_, m) = verified(std::fs::read(&out).unwrap());
    let p = m.partial.expect("marked partial");
    assert_eq!(p.reason, "time_budget");
    assert!(p.processes_read < p.processes_listed, "{p:?}");
    assert_eq!(m.options.time_budget_ms, Some(50));
    // Refused, not taken as zero or forever.
    let o = collector().args(["-q", "--time-budget", "soon", "-o", "-"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn an_existing_output_or_sidecar_is_refused_before_anything_is_read() {
    let dir = TempDir::new("taken");
    let out = dir.0.join("snap.tar");
    std::fs::write(dir.0.join("snap.tar.sha256"), b"keep").unwrap();
    let o = collector().args(["-q", "-o"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("snap.tar.sha256"), "{}", stderr(&o));
    assert_eq!(dir.listing(), ["snap.tar.sha256"]);
    assert_eq!(std::fs::read(dir.0.join("snap.tar.sha256")).unwrap(), b"keep");
}

#[test]
fn a_closed_standard_output_is_a_failure_with_a_message() {
    // `curtain-collector -o - | head -c 100`: the reader goes away; the collector must say the
    // archive is not whole and exit non-zero.
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    let o = collector().args(["-q", "-o", "-"]).stdout(Stdio::from(writer)).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("standard output was closed"), "{}", stderr(&o));
}

#[test]
fn a_collection_that_ends_is_not_partial() {
    let dir = TempDir::new("whole");
    let out = dir.0.join("snap.tar");
    let o = collector().args(["-q", "-o"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (_, m) = verified(std::fs::read(&out).unwrap());
    assert_eq!(m.partial, None);
    assert_eq!(m.options.time_budget_ms, None);
    let _ = Path::new(&out);
}
