//! Shared test helpers: running curtain, reading archives, and the unshare sandbox.

use curtain_model::{Fd, Manifest, Process, Socket};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub fn curtain() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_curtain"))
}

pub fn lab_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_curtain-lab"))
}

/// The private Docker Engine scripts/test starts for the acquisition and host-mode tests.
pub fn docker_host() -> String {
    std::env::var("CURTAIN_TEST_DOCKER_HOST")
        .expect("CURTAIN_TEST_DOCKER_HOST: run scripts/test, which installs and starts a private Docker Engine")
}

/// `docker ARGS` against that engine; it must succeed.
pub fn docker(args: &[&str]) -> Output {
    let o = Command::new("docker").env("DOCKER_HOST", docker_host()).args(args).output().expect("docker");
    assert!(o.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Skips the test, saying why, when not root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::common::is_root() {
            // Straight to stderr: the test harness captures eprintln! of passing tests.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "SKIPPED {}: needs root (namespaces, setpriv, chroot)", module_path!());
            return;
        }
    };
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    if !out.status.success() {
        eprintln!(
            "{cmd:?} exited {:?}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Runs `curtain collect -o OUT ARGS` and returns the loaded archive.
pub fn collect(out: &Path, args: &[&str]) -> Archive {
    let o = run(Command::new(curtain()).arg("collect").arg("-o").arg(out).args(args));
    assert!(o.status.success(), "collect failed");
    Archive::load(out)
}

/// An archive's members and typed tables.
pub struct Archive {
    pub members: HashMap<String, Vec<u8>>,
    pub order: Vec<String>,
    pub manifest: Manifest,
    pub processes: Vec<Process>,
    pub fds: Vec<Fd>,
    pub sockets: Vec<Socket>,
    pub errors: Vec<curtain_model::CollectError>,
}

fn rows<T: serde::de::DeserializeOwned>(b: &[u8]) -> Vec<T> {
    b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).expect("table row")).collect()
}

impl Archive {
    pub fn load(path: &Path) -> Archive {
        Self::from_bytes(std::fs::read(path).expect("read archive"))
    }
    pub fn from_bytes(b: Vec<u8>) -> Archive {
        let c = curtain_archive::read_archive(std::io::Cursor::new(b)).expect("archive");
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let table = |base: &str| c.joined(base).unwrap_or_else(|| panic!("no {base}"));
        let (processes, fds, sockets, errors) = (
            rows(&table("tables/processes")),
            rows(&table("tables/fds")),
            rows(&table("tables/sockets")),
            rows(&table("tables/errors")),
        );
        let order = c.members.iter().map(|(p, _)| p.clone()).collect();
        let members: HashMap<String, Vec<u8>> =
            c.members.into_iter().map(|(p, d)| (p, std::sync::Arc::unwrap_or_clone(d))).collect();
        let manifest = serde_json::from_slice(&members["manifest.json"]).expect("manifest");
        Archive { processes, fds, sockets, errors, members, order, manifest }
    }
    pub fn process(&self, pid: u32) -> &Process {
        self.processes.iter().find(|p| p.pid == pid).unwrap_or_else(|| panic!("no process {pid}"))
    }
    pub fn socket(&self, inode: u64) -> &Socket {
        self.sockets.iter().find(|s| s.inode == inode).unwrap_or_else(|| panic!("no socket {inode}"))
    }
}

pub fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    curtain_model::to_hex(&sha2::Sha256::digest(std::fs::read(p).expect("read")))
}

/// A container-like sandbox: new pid, net, mount and uts namespaces with their own /proc and
/// loopback, running `curtain-lab init` as PID 1. Dropping it kills unshare, whose
/// --kill-child takes PID 1 and with it the whole pid namespace.
pub struct Sandbox {
    unshare: Child,
    pub dir: tempfile::TempDir,
    /// PID 1 of the sandbox, as the host numbers it.
    pub init: u32,
    /// Role -> pid as the sandbox numbers it.
    pub roles: HashMap<String, u32>,
}

impl Sandbox {
    pub fn start() -> Sandbox {
        let dir = tempfile::Builder::new().prefix("curtain-lab-").tempdir().expect("tempdir");
        let unshare = Command::new("unshare")
            .args(["--pid", "--net", "--mount", "--uts", "--fork", "--mount-proc", "--kill-child"])
            .arg(lab_bin())
            .arg("init")
            .arg(dir.path())
            .spawn()
            .expect("unshare");
        let mut sb = Sandbox { init: 0, unshare, dir, roles: HashMap::new() };
        let ready = sb.dir.path().join("ready");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "sandbox did not get ready");
            if let Ok(Some(st)) = sb.unshare.try_wait() {
                panic!("unshare exited: {st}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = std::fs::read_to_string(&ready).expect("ready");
        let v: HashMap<String, u32> = serde_json::from_str(&text).expect("ready json");
        sb.roles = v;
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", sb.unshare.id())).expect("children");
        sb.init = children.split_whitespace().next().and_then(|p| p.parse().ok()).expect("init pid");
        sb
    }

    /// The pid of a role in the sandbox.
    pub fn pid(&self, role: &str) -> u32 {
        self.roles[role]
    }

    /// Runs `curtain collect` inside the sandbox's namespaces (its /proc, its netns).
    pub fn collect_inside(&self, name: &str, args: &[&str]) -> Archive {
        let out = self.dir.path().join(name);
        let o = run(Command::new("nsenter")
            .args(["-t", &self.init.to_string(), "-p", "-n", "-m", "-u", "--"])
            .arg(curtain())
            .arg("collect")
            .arg("-o")
            .arg(&out)
            .args(args));
        assert!(o.status.success(), "collect inside failed");
        Archive::load(&out)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}
