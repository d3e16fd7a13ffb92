//! A command running in a target, as a byte stream both ways.
//!
//! Every platform's way in is a local program: `docker exec`, `kubectl exec`, `aws ecs
//! execute-command` (with the session-manager-plugin). Without a terminal (`docker exec -i`),
//! its standard output is binary-clean; with one (ECS Exec always, `--tty` otherwise) the program
//! wants a terminal of its own, so it gets the slave side of a pseudo-terminal opened here, in raw
//! mode so that nothing is translated on this side, and what the target's terminal did to the
//! bytes is undone by the framing ([`curtain_archive::frame`]). Output is read by a thread into a
//! queue, so that a deadline bounds every wait and a target that goes silent never hangs the run.

use std::fs::File;
use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How much of what a target said outside any frame is kept for error messages.
const TAIL: usize = 4096;

/// One program run against a target.
pub struct Session {
    child: Child,
    input: Option<File>,
    rx: Receiver<Option<Vec<u8>>>,
    /// Received and not yet taken.
    buf: Vec<u8>,
    eof: bool,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    /// The last bytes taken as noise (banners, shell messages), for errors.
    tail: Vec<u8>,
    /// Every byte received.
    pub received: u64,
    tty: bool,
}

/// Why a wait ended without what was wanted.
#[derive(Debug)]
pub enum Wait {
    Timeout,
    /// The program's output ended.
    Eof,
    /// Ctrl-C (or SIGTERM): the acquisition is stopping.
    Interrupted,
    Io(io::Error),
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wait::Timeout => f.write_str("timed out"),
            Wait::Eof => f.write_str("the session ended"),
            Wait::Interrupted => f.write_str("interrupted (Ctrl-C)"),
            Wait::Io(e) => e.fmt(f),
        }
    }
}

impl Session {
    /// Starts `argv`, through a pseudo-terminal when `tty`.
    pub fn spawn(argv: &[String], tty: bool) -> io::Result<Session> {
        let (program, args) = argv.split_first().ok_or_else(|| io::Error::other("empty command"))?;
        let mut cmd = Command::new(program);
        cmd.args(args);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let mut stderr_reader = None;
        let (child, input, output) = if tty {
            let (master, slave) = open_pty()?;
            cmd.stdin(slave.try_clone()?).stdout(slave.try_clone()?).stderr(slave);
            // SAFETY: setsid and the TIOCSCTTY ioctl are async-signal-safe system calls; the
            // closure allocates nothing. The child gets a session whose controlling terminal is
            // the pty, as a program run from a terminal has.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| {
                    rustix::process::setsid()?;
                    rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
                    Ok(())
                });
            }
            let child = cmd.spawn().map_err(|e| spawn_error(program, e))?;
            drop(cmd);
            let reader = master.try_clone()?;
            (child, Some(master), reader)
        } else {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = cmd.spawn().map_err(|e| spawn_error(program, e))?;
            let input = child.stdin.take().map(|s| File::from(std::os::fd::OwnedFd::from(s)));
            let out = File::from(std::os::fd::OwnedFd::from(child.stdout.take().expect("piped")));
            let mut err = child.stderr.take().expect("piped");
            let keep = stderr.clone();
            stderr_reader = Some(std::thread::spawn(move || {
                let mut b = [0u8; 4096];
                while let Ok(n) = err.read(&mut b) {
                    if n == 0 {
                        break;
                    }
                    let mut k = keep.lock().unwrap_or_else(|p| p.into_inner());
                    if k.len() < 65536 {
                        k.extend_from_slice(&b[..n]);
                    }
                }
            }));
            (child, input, out)
        };
        let mut output = output;
        std::thread::spawn(move || {
            let mut b = vec![0u8; 1 << 16];
            loop {
                match output.read(&mut b) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(Some(b[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // EIO: every slave side closed, the pty's end of file.
                    Err(_) => break,
                }
            }
            let _ = tx.send(None);
        });
        Ok(Session {
            child,
            input,
            rx,
            buf: Vec::new(),
            eof: false,
            stderr,
            tail: Vec::new(),
            received: 0,
            tty,
            stderr_reader,
        })
    }

    /// Sends bytes to the program's standard input.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.input {
            Some(i) => i.write_all(bytes),
            None => Err(io::Error::new(io::ErrorKind::BrokenPipe, "input already closed")),
        }
    }

    /// Closes standard input (end of file for a piped program). On a terminal, the session
    /// goes on: it ends when the program does.
    pub fn close_input(&mut self) {
        if !self.tty {
            self.input = None;
        }
    }

    /// The next chunk received, waiting until `deadline`.
    pub fn next_chunk(&mut self, deadline: Instant) -> Result<Vec<u8>, Wait> {
        if !self.buf.is_empty() {
            return Ok(std::mem::take(&mut self.buf));
        }
        if self.eof {
            return Err(Wait::Eof);
        }
        loop {
            // In slices, so that Ctrl-C is seen within a fifth of a second whatever the deadline.
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.min(std::time::Duration::from_millis(200));
            match self.rx.recv_timeout(slice) {
                Ok(Some(c)) => {
                    self.received += c.len() as u64;
                    return Ok(c);
                }
                Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                    self.eof = true;
                    return Err(Wait::Eof);
                }
                Err(RecvTimeoutError::Timeout) if slice == left => return Err(Wait::Timeout),
                Err(RecvTimeoutError::Timeout) if crate::interrupted() => return Err(Wait::Interrupted),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Puts bytes back to be taken first.
    pub fn unread(&mut self, mut bytes: Vec<u8>) {
        bytes.extend_from_slice(&self.buf);
        self.buf = bytes;
    }

    /// Waits for a line holding `CURTAIN-FRAME <word> <nonce>` for any of `words`, and returns
    /// the word and the rest of the line after the nonce. Everything before it is noise, kept in
    /// the tail for errors.
    pub fn expect(&mut self, words: &[&str], nonce: &str, deadline: Instant) -> Result<(String, String), Wait> {
        let keys: Vec<(String, &str)> =
            words.iter().map(|w| (format!("{} {w} {nonce}", curtain_archive::frame::MARK), *w)).collect();
        let mut line: Vec<u8> = Vec::new();
        loop {
            let chunk = self.next_chunk(deadline)?;
            let mut rest = &chunk[..];
            while let Some(i) = rest.iter().position(|&b| b == b'\n') {
                line.extend(rest[..i].iter().filter(|&&b| b != b'\r'));
                rest = &rest[i + 1..];
                let text = String::from_utf8_lossy(&line).into_owned();
                for (key, word) in &keys {
                    if let Some(at) = text.find(key.as_str()) {
                        let after = text[at + key.len()..].trim().to_string();
                        self.unread(rest.to_vec());
                        return Ok((word.to_string(), after));
                    }
                }
                self.keep_tail(&line);
                self.keep_tail(b"\n");
                line.clear();
            }
            line.extend(rest.iter().filter(|&&b| b != b'\r'));
            if line.len() > 1 << 20 {
                let cut = line.len() - 4096;
                self.keep_tail(&line[..cut]);
                line.drain(..cut);
            }
        }
    }

    fn keep_tail(&mut self, b: &[u8]) {
        self.tail.extend_from_slice(b);
        if self.tail.len() > TAIL {
            let cut = self.tail.len() - TAIL;
            self.tail.drain(..cut);
        }
    }

    /// What the target said besides frames, and its standard error: the last lines, for an
    /// error message.
    pub fn said(&self) -> String {
        let err = self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut all = self.tail.clone();
        all.extend_from_slice(&err);
        let text = String::from_utf8_lossy(&all);
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let last = &lines[lines.len().saturating_sub(3)..];
        curtain_model::term(&last.join(" / "))
    }

    /// Waits for the program to end, reading what is left of its output, until `deadline`;
    /// then ends it.
    pub fn finish(mut self, deadline: Instant) -> (Option<ExitStatus>, String) {
        self.close_input();
        loop {
            match self.next_chunk(deadline) {
                Ok(c) => self.keep_tail(&c),
                Err(Wait::Eof) => break,
                Err(_) => {
                    self.kill();
                    break;
                }
            }
        }
        drop(self.input.take());
        let status = wait_until(&mut self.child, deadline);
        // What it said last on standard error, read to its end (briefly: a process left behind
        // in the target may hold it open).
        if let Some(h) = self.stderr_reader.take() {
            let until = Instant::now() + std::time::Duration::from_secs(2);
            while !h.is_finished() && Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        let said = self.said();
        (status, said)
    }

    /// Ends the program (a timeout, Ctrl-C).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
    }
}

fn spawn_error(program: &str, e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::NotFound {
        io::Error::new(e.kind(), format!("{program}: not found on PATH"))
    } else {
        io::Error::new(e.kind(), format!("{program}: {e}"))
    }
}

/// A pseudo-terminal: the master (kept here) and the slave (given to the program), in raw mode
/// and wide, so that nothing on this side wraps, echoes or translates.
fn open_pty() -> io::Result<(File, File)> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
        .open(std::ffi::OsStr::from_bytes(name.as_bytes()))?;
    let mut t = rustix::termios::tcgetattr(&slave)?;
    t.make_raw();
    rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t)?;
    let ws = rustix::termios::Winsize { ws_row: 50, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(&slave, ws)?;
    Ok((File::from(master), slave))
}

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn a_piped_program_is_binary_clean() {
        let mut s = Session::spawn(&["sh".into(), "-c".into(), "cat; echo oops >&2".into()], false).unwrap();
        s.send(b"a\nb\x00\xff").unwrap();
        s.close_input();
        let mut got = Vec::new();
        while let Ok(c) = s.next_chunk(soon()) {
            got.extend(c);
        }
        assert_eq!(got, b"a\nb\x00\xff");
        let (status, said) = s.finish(soon());
        assert!(status.unwrap().success());
        assert_eq!(said, "oops");
    }

    #[test]
    fn a_program_on_a_terminal_sees_one_and_its_markers_are_found_in_noise() {
        let script = "[ -t 0 ] && [ -t 1 ] && echo 'noise CURTAIN-FRAME READY n1 arch=x'; read -r l; echo \"got $l\"";
        let mut s = Session::spawn(&["sh".into(), "-c".into(), script.into()], true).unwrap();
        let (w, rest) = s.expect(&["READY"], "n1", soon()).unwrap();
        assert_eq!((w.as_str(), rest.as_str()), ("READY", "arch=x"));
        s.send(b"hello\n").unwrap();
        let mut got = Vec::new();
        while let Ok(c) = s.next_chunk(soon()) {
            got.extend(c);
        }
        // Raw on this side: the program's \n arrives as \n; the echo is off.
        assert_eq!(String::from_utf8_lossy(&got), "got hello\n");
        let (status, _) = s.finish(soon());
        assert!(status.unwrap().success());
    }

    #[test]
    fn silence_is_a_timeout_not_a_hang() {
        let mut s = Session::spawn(&["sleep".into(), "30".into()], false).unwrap();
        let t = Instant::now();
        assert!(matches!(s.expect(&["X"], "n", Instant::now() + Duration::from_millis(300)), Err(Wait::Timeout)));
        assert!(t.elapsed() < Duration::from_secs(5));
        let (_, _) = s.finish(Instant::now());
    }
}
