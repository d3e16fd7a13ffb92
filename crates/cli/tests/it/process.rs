//! The collector on ordinary processes: start times, an unprivileged run, processes that exit
//! while it reads.

use crate::common::*;
use crate::require_root;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

struct Spawned(std::process::Child);
impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `curtain-lab ARGS` and waits for its "ready".
fn lab(args: &[&str]) -> Spawned {
    let mut c =
        Command::new(lab_bin()).args(args).stdout(Stdio::piped()).stdin(Stdio::null()).spawn().expect("spawn lab");
    let mut line = String::new();
    std::io::BufReader::new(c.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    Spawned(c)
}

fn wall_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[test]
fn start_time_is_the_wall_clock_of_the_spawn() {
    let before = wall_ns();
    let child = lab(&["sleep", "start-time"]);
    let after_ready = wall_ns();
    let dir = tempfile::tempdir().unwrap();
    let a = collect(&dir.path().join("t.tar"), &["-q"]);
    let p = a.process(child.0.id());
    let started = curtain_model::parse_rfc3339_ns(p.started_at.as_deref().unwrap()).unwrap();
    // The kernel counts in ticks (10 ms at CLK_TCK 100): within 50 ms of the spawn.
    let diff = started as i64 - before as i64;
    assert!(
        diff.abs() < 50_000_000,
        "started_at {} vs spawn at {before} ({} ms), ready by {after_ready}",
        started,
        diff / 1_000_000
    );
    assert!(p.starttime_ticks.unwrap() > 0);
    assert_eq!(a.manifest.clock.clk_tck, 100);
}

#[test]
#[ignore = "needs root: namespaces, setpriv, chroot (scripts/test runs it as root)"]
fn as_an_unprivileged_user() {
    require_root!();
    let root_proc = lab(&["sleep", "owned-by-root"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = dir.path().join("nobody.tar");
    let o = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(curtain())
        .arg("collect")
        .arg("-o")
        .arg(&out));
    assert!(o.status.success(), "exit 0 as nobody");
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(summary.contains("EACCES"), "{summary}");
    let a = Archive::load(&out);
    assert_eq!(a.manifest.collector.euid, 65534);
    let p = a.process(root_proc.0.id());
    // A root process: its stat and cmdline are public, its environment and links are not.
    assert!(!p.comm_bytes().is_empty());
    assert!(p.cmdline.is_some());
    assert_eq!(p.errors.get("environ"), Some(&curtain_model::ErrorKind::EACCES));
    assert_eq!(p.errors.get("exe"), Some(&curtain_model::ErrorKind::EACCES));
    assert!(a.errors.iter().any(|e| e.pid == Some(p.pid)
        && e.path == format!("{}/environ", p.pid)
        && e.kind == curtain_model::ErrorKind::EACCES));
    assert!(a.manifest.errors_by_kind.get("EACCES").copied().unwrap_or(0) > 0);
    // Not allowed to enter network namespaces: the lab's socket tables come from /proc; its own
    // namespace it dumps through sock_diag, which needs no privilege there (as for `ss`).
    let own = format!("raw/netlink/{}/", a.manifest.collector.ns.net.expect("own netns"));
    assert!(a.order.iter().any(|m| m.starts_with(&own)), "own namespace through netlink");
    assert!(a.order.iter().filter(|m| m.starts_with("raw/netlink/")).all(|m| m.starts_with(&own)));
    assert!(a.manifest.counts.sockets > 0);
}

#[test]
fn processes_that_exit_mid_collection_do_not_fail_it() {
    let _churn = lab(&["churn", "4"]);
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let out = dir.path().join(format!("churn{i}.tar"));
        let a = collect(&out, &["-q"]);
        assert!(a.manifest.counts.processes > 0);
        // Whatever vanished, the raw part still rebuilds to the same tables.
        let o = run(Command::new(curtain()).arg("reparse").arg(&out));
        assert!(o.status.success(), "reparse after churn");
    }
}

#[test]
fn a_copied_proc_tree_with_missing_files() {
    // A proc tree copied off a machine (or a hostile one): two processes, one of them with a
    // hostile name and most files missing, and a network table.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proc");
    let p = |rel: &str, body: &[u8]| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    };
    p("stat", b"cpu  1 0 1 1 0 0 0 0 0 0\nctxt 1\nbtime 1764419640\nprocesses 10\n");
    p("1/stat", b"1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0\n");
    p("1/status", b"Name:\tinit\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\n");
    p("1/cmdline", b"/sbin/init\0");
    p("1/net/tcp", b"  sl  local_address rem_address   st\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1\n");
    std::fs::create_dir_all(root.join("1/ns")).unwrap();
    std::os::unix::fs::symlink("net:[4026531840]", root.join("1/ns/net")).unwrap();
    std::fs::create_dir_all(root.join("1/fd")).unwrap();
    std::os::unix::fs::symlink("socket:[777]", root.join("1/fd/3")).unwrap();
    p("66/stat", b"66 (x) Z 1 1 1 () S 1 66 66 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 0\n");
    let out = dir.path().join("copy.tar");
    let a = collect(&out, &["-q", "--proc-root", root.to_str().unwrap()]);
    assert_eq!(a.manifest.options.proc_root, root.to_str().unwrap());
    assert_eq!(a.manifest.clock.btime, Some(1764419640));
    assert_eq!(a.processes.len(), 2);
    assert_eq!(a.process(66).comm_bytes(), b"x) Z 1 1 1 (");
    assert_eq!(a.process(66).errors.get("status"), Some(&curtain_model::ErrorKind::ENOENT));
    let s = a.socket(777);
    assert_eq!(s.owners, [curtain_model::Owner { pid: 1, fd: 3 }]);
    assert_eq!(s.netns, 4026531840);
    // Not the live tree: nobody is labelled as the collector.
    assert!(a.processes.iter().all(|p| p.label.is_none()));
    assert!(run(Command::new(curtain()).arg("reparse").arg(&out)).status.success());
}

/// A copied proc tree of `n` processes with a few fds each, under `dir`/proc.
fn fake_tree(dir: &std::path::Path, n: u32) -> std::path::PathBuf {
    let root = dir.join("proc");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("stat"), b"cpu  1 0 1 1 0 0 0 0 0 0\nbtime 1764419640\n").unwrap();
    for pid in 1..=n {
        let d = root.join(pid.to_string());
        std::fs::create_dir_all(d.join("fd")).unwrap();
        let stat =
            format!("{pid} (w{pid}) S {} {pid} 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {} 0 0 0\n", pid / 2, pid * 7);
        std::fs::write(d.join("stat"), stat).unwrap();
        std::fs::write(d.join("cmdline"), format!("/bin/w\0--n\0{pid}\0")).unwrap();
        std::fs::write(d.join("environ"), "A=1\0".repeat(pid as usize)).unwrap();
        for fd in 0..(pid % 7) {
            std::os::unix::fs::symlink(format!("/tmp/f{pid}.{fd}"), d.join("fd").join(fd.to_string())).unwrap();
        }
    }
    root
}

#[test]
fn jobs_do_not_change_the_archive() {
    // A copied tree of 300 processes (no namespaces to take): one reader or four, the same
    // members with the same bytes, in the same order, but for what depends on the clocks read
    // at the start (the manifest, wall-clock start times).
    let dir = tempfile::tempdir().unwrap();
    let root = fake_tree(dir.path(), 300);
    let one = collect(&dir.path().join("j1.tar"), &["-q", "-j", "1", "--proc-root", root.to_str().unwrap()]);
    let four = collect(&dir.path().join("j4.tar"), &["-q", "-j", "4", "--proc-root", root.to_str().unwrap()]);
    assert_eq!(one.processes.len(), 300);
    assert_eq!(one.order, four.order);
    let clocked = |m: &str| m == "manifest.json" || m.starts_with("tables/processes");
    for name in one.order.iter().filter(|m| !clocked(m)) {
        assert!(one.members[name] == four.members[name], "{name} differs between -j 1 and -j 4");
    }
    let unclocked = |a: &Archive| -> Vec<String> {
        a.processes
            .iter()
            .map(|p| serde_json::to_string(&curtain_model::Process { started_at: None, ..p.clone() }).unwrap())
            .collect()
    };
    assert_eq!(unclocked(&one), unclocked(&four));
}

#[test]
fn an_environment_larger_than_a_read_comes_whole() {
    // environ is read in one go when it fits the buffer; past it, read on to the end.
    // One string of the environment is at most 128 KiB: three make 300 KiB.
    let big = "x".repeat(100 << 10);
    let child = Command::new("sleep")
        .arg("30")
        .envs([("BIG", &big), ("BIG2", &big), ("BIG3", &big)])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _child = Spawned(child);
    let dir = tempfile::tempdir().unwrap();
    let a = collect(&dir.path().join("env.tar"), &["-q"]);
    let p = a.process(_child.0.id());
    let env = p.environ.as_ref().expect("environ");
    assert!(env.iter().any(|e| e.0.len() == big.len() + 4 && e.0.starts_with(b"BIG=xxx")), "BIG whole");
    let raw = &a.members[&format!("raw/proc/{}/environ", p.pid)];
    assert_eq!(raw.len(), std::fs::read(format!("/proc/{}/environ", p.pid)).unwrap().len());
}

#[test]
fn a_failing_output_stops_every_reader() {
    // Standard output that fills at once: exit 2 with the error, no reader left waiting.
    let dir = tempfile::tempdir().unwrap();
    let root = fake_tree(dir.path(), 2000);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let o = Command::new("timeout")
        .arg("120")
        .arg(curtain())
        .args(["collect", "-q", "-j", "4", "-o", "-", "--proc-root", root.to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("No space left on device"));
}

#[test]
#[ignore = "needs root: namespaces, setpriv, chroot (scripts/test runs it as root)"]
fn no_thread_to_spare_still_collects() {
    require_root!();
    // A pids cgroup that allows the collector itself and nothing more: no reader thread can
    // start, and it reads on its own thread.
    let base = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.join("cgroup.procs").exists() && (p.ends_with("pids") || p.join("pids.max").exists()));
    let Some(base) = base else {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED no_thread_to_spare_still_collects: no pids cgroup controller");
        return;
    };
    let cg = base.join(format!("curtain-test-{}", std::process::id()));
    std::fs::create_dir_all(&cg).unwrap();
    std::fs::write(cg.join("pids.max"), "1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("one.tar");
    let script = format!("echo $$ > {}/cgroup.procs && exec \"$0\" collect -q -j 4 -o \"$1\"", cg.display());
    let o = Command::new("sh").arg("-c").arg(script).arg(curtain()).arg(&out).output().unwrap();
    let _ = std::fs::remove_dir(&cg);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = Archive::load(&out);
    assert!(a.manifest.counts.processes > 0);
}

#[test]
fn a_namespace_is_read_through_the_next_process_when_the_first_gives_nothing() {
    // Process 1 names network namespace X but its tables cannot be read (it exited, say: here
    // they are missing); process 2 is in X too: X's sockets come through it, with either count
    // of readers.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proc");
    for pid in [1u32, 2] {
        let d = root.join(pid.to_string());
        std::fs::create_dir_all(d.join("ns")).unwrap();
        std::fs::write(
            d.join("stat"),
            format!("{pid} (p{pid}) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0\n"),
        )
        .unwrap();
        std::os::unix::fs::symlink("net:[4026539999]", d.join("ns/net")).unwrap();
        std::os::unix::fs::symlink("mnt:[4026538888]", d.join("ns/mnt")).unwrap();
    }
    std::fs::write(root.join("stat"), b"btime 1764419640\n").unwrap();
    std::fs::create_dir_all(root.join("2/net")).unwrap();
    std::fs::write(root.join("2/net/tcp"), b"  sl  local_address rem_address   st\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n").unwrap();
    std::fs::write(root.join("2/mountinfo"), b"22 1 0:21 / / rw - ext4 /dev/root rw\n").unwrap();
    for jobs in ["1", "2"] {
        let out = dir.path().join(format!("ns{jobs}.tar"));
        let a = collect(&out, &["-q", "-j", jobs, "--proc-root", root.to_str().unwrap()]);
        assert_eq!(a.socket(4242).netns, 4026539999, "-j {jobs}");
        assert!(a.order.iter().any(|m| m == "raw/proc/2/net/tcp"), "-j {jobs}");
        assert!(a.order.iter().any(|m| m == "raw/proc/2/mountinfo"), "-j {jobs}");
        assert!(run(Command::new(curtain()).arg("reparse").arg(&out)).status.success(), "-j {jobs}");
    }
}

#[test]
fn fds_with_holes_and_fds_far_up_are_all_read() {
    // The fds are read by number up to the count the kernel gives for fd/; a table with holes
    // (3, 4 and most of what follows closed) and one fd far up is listed instead.
    // bash: dash takes only single-digit descriptors.
    let child = Command::new("bash")
        .arg("-c")
        .arg("exec 5</dev/null 9</dev/zero 1000</dev/null; exec sleep 30")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = Spawned(child);
    let pid = child.0.id();
    until_sleeping(pid, || std::fs::read_link(format!("/proc/{pid}/fd/1000")).is_ok());
    let dir = tempfile::tempdir().unwrap();
    let a = collect(&dir.path().join("fds.tar"), &["-q"]);
    let fds: Vec<(u32, String)> =
        a.fds.iter().filter(|f| f.pid == pid).map(|f| (f.fd, f.target.to_lossy().into_owned())).collect();
    // Every fd it holds, as listed now (bash may leave a few of its own open to sleep).
    let mut want: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let fd: u32 = e.file_name().to_str().unwrap().parse().unwrap();
            (fd, std::fs::read_link(e.path()).unwrap().to_string_lossy().into_owned())
        })
        .collect();
    want.sort();
    assert!(want.iter().any(|(fd, _)| *fd == 1000) && !want.iter().any(|(fd, _)| *fd == 3));
    assert_eq!(fds, want);
    assert_eq!(a.process(pid).fd_count, Some(want.len() as u32));
    assert!(run(Command::new(curtain()).arg("reparse").arg(dir.path().join("fds.tar"))).status.success());
}

#[test]
#[ignore = "needs root: namespaces, setpriv, chroot (scripts/test runs it as root)"]
fn fds_refused_after_a_hole_are_listed_and_say_why() {
    require_root!();
    // Root without CAP_SYS_PTRACE (as in most containers) may list another user's fd/ but not
    // read its links. With fd 0 closed, the first probe finds a hole and the next is refused:
    // every fd is still there, each with its EACCES, as a listing gives them.
    let child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "bash",
            "-c",
            "exec 0<&- 7</dev/null; exec sleep 30",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Spawned(child);
    let pid = child.0.id();
    until_sleeping(pid, || true);
    let held: Vec<u32> = {
        let mut v: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(held.first(), Some(&1), "fd 0 closed: {held:?}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("noptrace.tar");
    let o = run(Command::new("setpriv")
        .args(["--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace", "--"])
        .arg(curtain())
        .args(["collect", "-q", "-o"])
        .arg(&out));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = Archive::load(&out);
    let refused: Vec<u32> = a
        .errors
        .iter()
        .filter(|e| e.pid == Some(pid) && e.kind == curtain_model::ErrorKind::EACCES)
        .filter_map(|e| e.path.strip_prefix(&format!("{pid}/fd/"))?.parse().ok())
        .collect();
    assert_eq!(refused, held, "every fd named with its EACCES");
    assert_eq!(a.process(pid).errors.get("fd"), Some(&curtain_model::ErrorKind::EACCES));
}

/// Waits until `pid` has exec'd sleep (its fds are then the ones the shell left) and `ready`.
fn until_sleeping(pid: u32, ready: impl Fn() -> bool) {
    for _ in 0..200 {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if exe.to_string_lossy().contains("sleep") && ready() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
