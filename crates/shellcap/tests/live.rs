//! The shell method on this machine's /proc: the script run by dash (`/bin/sh`) and by busybox
//! ash with only busybox's applets on PATH, as a plain stream and typed into an interactive
//! shell over a real pseudo-terminal (`script(1)`); the frame received, the archive built, and
//! its tables compared with a real collection of the same processes. Ignored by a plain `cargo
//! test` for what they need (dash, busybox-static, python3, util-linux's `script`); no root.

use curtain_model::{Acquisition, Snapshot};
use curtain_shellcap::{build_archive, script, Capture, Fed, ReceiveError, Receiver};
use std::io::Write;
use std::process::{Child, Command, Stdio};

const NONCE: &str = "t3stn0nce";

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("curtain-shellcap-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A directory whose only programs are busybox's applets.
fn busybox_path() -> String {
    let d = tmp("bb");
    if !d.join("od").exists() {
        std::fs::create_dir_all(&d).unwrap();
        let ok = Command::new("/bin/busybox").arg("--install").arg("-s").arg(&d).status().unwrap();
        assert!(ok.success());
    }
    d.to_str().unwrap().to_string()
}

fn full_script(no_environ: bool) -> String {
    let env = if no_environ { "CURTAIN_NO_ENVIRON=1\n" } else { "" };
    format!("CURTAIN_NONCE={NONCE}\n{env}{}", script())
}

#[derive(Clone, Copy, Debug)]
enum Shell {
    Dash,
    Busybox,
}

/// The script's output through a pipe (`sh -c`, as `docker exec -i` runs it).
fn run_plain(shell: Shell, no_environ: bool) -> (Vec<u8>, f64) {
    let text = full_script(no_environ);
    let mut c = match shell {
        Shell::Dash => Command::new("/bin/sh"),
        Shell::Busybox => {
            let mut c = Command::new("/bin/busybox");
            c.arg("sh").env("PATH", busybox_path());
            c
        }
    };
    let t = std::time::Instant::now();
    let out = c.arg("-c").arg(&text).stdin(Stdio::null()).output().unwrap();
    assert!(out.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    (out.stdout, t.elapsed().as_secs_f64())
}

/// The script typed into an interactive shell on a pseudo-terminal (`script -qfc "sh -i"`): what
/// comes back is echo, prompts, `\r\n` and the frame.
fn run_typed(shell: Shell) -> Vec<u8> {
    let sh = match shell {
        Shell::Dash => "/bin/sh -i".to_string(),
        Shell::Busybox => format!("env PATH={} /bin/busybox sh -i", busybox_path()),
    };
    let mut child = Command::new("script")
        .args(["-qfec", &sh, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let text = full_script(false);
    let writer = std::thread::spawn(move || {
        for line in text.lines() {
            input.write_all(line.as_bytes()).unwrap();
            input.write_all(b"\n").unwrap();
        }
        input.write_all(b"exit\n").unwrap();
        // Held open until the shell is done: script(1) ends the session on end of input.
        std::thread::sleep(std::time::Duration::from_secs(60));
    });
    let out = child.wait_with_output().unwrap();
    drop(writer);
    out.stdout
}

fn receive(stream: &[u8], chunk: usize) -> Result<Capture, ReceiveError> {
    let mut r = Receiver::new(NONCE);
    for c in stream.chunks(chunk) {
        if r.feed(c)? == Fed::Done {
            break;
        }
    }
    r.finish()
}

fn acquisition() -> Acquisition {
    Acquisition { transport: "docker".into(), ..Default::default() }
}

/// Builds the archive, checks that it verifies and reparses to identical tables, and loads it.
fn archive(c: &Capture, name: &str) -> Snapshot {
    let path = tmp(name);
    let (bytes, sha, n) = build_archive(c, acquisition(), Vec::new()).unwrap();
    assert_eq!(n, bytes.len() as u64);
    std::fs::write(&path, &bytes).unwrap();
    let p = path.to_str().unwrap();
    let report = curtain_archive::verify_file(p, &Default::default()).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    let contents = curtain_archive::read_archive_file(p, &Default::default(), curtain_archive::Keep::All).unwrap();
    assert_eq!(contents.archive_sha256.as_deref(), Some(sha.as_str()));
    let re = curtain_archive::reparse(&contents).unwrap();
    for (table, _, same) in &re.tables {
        assert!(same, "{table} does not reparse to itself");
    }
    let s = curtain_archive::load_snapshot(p).unwrap();
    let a = s.manifest.acquisition.as_ref().unwrap();
    assert_eq!((a.method.as_str(), a.tables_built_off_target), ("shell", true));
    s
}

/// Processes that stay put while both sides read them: a python3 with a file and a listening
/// socket open, and a sleep with known arguments.
struct Fixture {
    children: Vec<Child>,
    file: std::path::PathBuf,
}

impl Fixture {
    fn start() -> Fixture {
        let file = tmp("held-open");
        std::fs::write(&file, b"evidence").unwrap();
        let py = format!(
            "import socket,time,sys\nf=open({:?})\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\n\
             sys.stdout.write('ok\\n');sys.stdout.flush()\ntime.sleep(120)\n",
            file.to_str().unwrap()
        );
        let mut python = Command::new("python3").args(["-c", &py]).stdout(Stdio::piped()).spawn().unwrap();
        let mut ok = [0u8; 3];
        std::io::Read::read_exact(python.stdout.as_mut().unwrap(), &mut ok).unwrap();
        let sleep = Command::new("sleep").arg("123.25").spawn().unwrap();
        Fixture { children: vec![python, sleep], file }
    }
    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|c| c.id()).collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn collector_snapshot() -> Snapshot {
    let opts = curtain_collect::Options { jobs: Some(1), ..Default::default() };
    let (_, bytes) = curtain_collect::collect(&opts, Vec::new()).unwrap();
    let path = tmp("collector.tar.zst");
    std::fs::write(&path, bytes).unwrap();
    curtain_archive::load_snapshot(path.to_str().unwrap()).unwrap()
}

/// The fields that must match between the shell method and the collector for one process.
fn facts(s: &Snapshot, pid: u32) -> String {
    let p = s.processes.iter().find(|p| p.pid == pid).unwrap_or_else(|| panic!("{pid} not in {}", s.source));
    let mut fds: Vec<String> = s
        .fds
        .iter()
        .filter(|f| f.pid == pid)
        .map(|f| format!("{} {} {:?} {:?}", f.fd, f.target, f.kind, f.socket_inode))
        .collect();
    fds.sort();
    let mut sockets: Vec<String> = s
        .sockets
        .iter()
        .filter(|k| k.owners.iter().any(|o| o.pid == pid))
        .map(|k| format!("{:?} {:?} {:?} {:?} {} {:?}", k.proto, k.local, k.remote, k.state, k.inode, k.owners))
        .collect();
    sockets.sort();
    let exe = p.exe.as_ref().map(|e| (e.path.clone(), e.sha256.clone(), e.size, e.inode, e.dev, e.nlink));
    format!(
        "pid {} ppid {:?} start {:?} comm {:?} state {:?} uid {:?} cmdline {:?} environ {:?} cwd {:?} root {:?} \
         ns {:?} cgroup {:?} exe {:?}\nfds {fds:#?}\nsockets {sockets:#?}\nerrors {:?}",
        p.pid,
        p.ppid,
        p.starttime_ticks,
        p.comm,
        p.state,
        p.uid,
        p.cmdline,
        p.environ,
        p.cwd,
        p.root,
        p.ns,
        p.cgroup,
        exe,
        p.errors
    )
}

fn check_against_collector(shell: Shell) {
    let fx = Fixture::start();
    let collected = collector_snapshot();
    let (out, _) = run_plain(shell, false);
    let s = archive(&receive(&out, 4096).unwrap(), &format!("{shell:?}-cmp.tar.zst"));
    for pid in fx.pids() {
        assert_eq!(facts(&s, pid), facts(&collected, pid), "{shell:?}, pid {pid}");
        // Every other field of the row too, but the start time (the shell's clocks are read to
        // 10 ms, and to the second where `date` has no %N).
        let row = |s: &Snapshot| {
            let mut p = s.processes.iter().find(|p| p.pid == pid).unwrap().clone();
            p.started_at = None;
            p
        };
        assert_eq!(row(&s), row(&collected), "{shell:?}, pid {pid}");
    }
    eprintln!("{shell:?}: {}", facts(&s, fx.pids()[0]));
    let py = fx.pids()[0];
    let f = s.fds.iter().find(|f| f.pid == py && f.target.0 == fx.file.to_str().unwrap().as_bytes());
    assert!(f.is_some(), "the open file");
    let listening =
        s.sockets.iter().any(|k| k.owners.iter().any(|o| o.pid == py) && k.local.as_ref().is_some_and(|l| l.port != 0));
    assert!(listening, "the listening socket with its owner");
    // The script's shell is the collector of this archive.
    let me = s.processes.iter().find(|p| p.pid == s.manifest.collector.pid).unwrap();
    assert_eq!(me.label, Some(curtain_model::Label::SelfCollector));
}

#[test]
#[ignore = "needs dash, /bin/busybox (busybox-static), python3 and script(1) (util-linux)"]
fn dash_capture_matches_the_collector() {
    check_against_collector(Shell::Dash);
}

#[test]
#[ignore = "needs dash, /bin/busybox (busybox-static), python3 and script(1) (util-linux)"]
fn busybox_capture_matches_the_collector() {
    check_against_collector(Shell::Busybox);
}

#[test]
#[ignore = "needs dash, /bin/busybox (busybox-static), python3 and script(1) (util-linux)"]
fn typed_into_a_terminal_with_dash_and_busybox() {
    for shell in [Shell::Dash, Shell::Busybox] {
        let out = run_typed(shell);
        assert!(out.windows(2).any(|w| w == b"\r\n"), "through a pty");
        let c = receive(&out, 1024).unwrap_or_else(|e| panic!("{shell:?}: {e}"));
        assert!(c.processes.len() > 3);
        archive(&c, &format!("{shell:?}-typed.tar.zst"));
    }
}

#[test]
#[ignore = "needs dash, /bin/busybox (busybox-static), python3 and script(1) (util-linux)"]
fn no_environ_leaves_environments_out() {
    let (out, _) = run_plain(Shell::Dash, true);
    let c = receive(&out, 4096).unwrap();
    assert!(c.no_environ);
    let s = archive(&c, "noenv.tar.zst");
    assert!(s.manifest.options.no_environ);
    assert!(s.processes.iter().all(|p| p.environ.is_none()));
}

#[test]
#[ignore = "needs dash, /bin/busybox (busybox-static), python3 and script(1) (util-linux)"]
fn a_byte_flipped_mid_stream_is_caught() {
    let (out, _) = run_plain(Shell::Dash, false);
    let want = receive(&out, 4096).unwrap();
    let begin = out.windows(5).position(|w| w == b"BEGIN").unwrap();
    let mut caught = 0;
    for k in 1..40 {
        let at = begin + (out.len() - begin) * k / 40;
        for flip in [0x01u8, 0x10, 0x40] {
            let mut bad = out.clone();
            bad[at] ^= flip;
            match receive(&bad, 1024) {
                Ok(c) => assert_eq!(c, want, "a flip at {at} gave another capture silently"),
                Err(_) => caught += 1,
            }
        }
    }
    assert!(caught >= 3 * 39 - 3, "{caught}");
    // A lost chunk, as a transport that drops 1024 bytes would.
    let mid = begin + (out.len() - begin) / 2;
    let mut lost = out[..mid].to_vec();
    lost.extend_from_slice(&out[mid + 1024..]);
    assert!(receive(&lost, 1024).is_err());
}

#[test]
#[ignore = "needs dash, /bin/busybox (busybox-static), python3 and script(1) (util-linux)"]
fn throughput() {
    for shell in [Shell::Dash, Shell::Busybox] {
        let (out, secs) = run_plain(shell, false);
        let c = receive(&out, 4096).unwrap();
        eprintln!(
            "{shell:?}: {} processes, {} payload bytes in {} frame bytes, {secs:.2} s: {:.0} payload bytes/s, {:.0} \
             frame bytes/s",
            c.processes.len(),
            c.frame_bytes,
            out.len(),
            c.frame_bytes as f64 / secs,
            out.len() as f64 / secs
        );
    }
}
