//! One target, from the first command to a verified archive on disk (or an error that says
//! what was missing), with every attempt bounded in time.

use crate::channel::{Session, Wait};
use crate::remote;
use crate::target::Target;
use crate::{Method, Plan, Pushed, Record};
use curtain_archive::frame::{Fed, FrameReader};
use curtain_archive::output::{self, NewFile};
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// How long the target has to answer a probe or a push (a session's start included).
const STEP: Duration = Duration::from_secs(120);

/// Why an attempt failed, and whether another may do better.
pub struct Failed {
    pub message: String,
    /// A corrupt transfer or an archive that did not verify: worth another attempt. Not so a
    /// missing shell or a read-only target.
    pub retry: bool,
}

/// A failure another attempt would not change.
pub fn fatal(m: impl Into<String>) -> Failed {
    Failed { message: m.into(), retry: false }
}
/// A failure worth another attempt (a corrupt transfer).
pub fn transient(m: impl Into<String>) -> Failed {
    Failed { message: m.into(), retry: true }
}

/// What the probe found in the target.
struct Info {
    arch: String,
    base64: bool,
}

/// Progress of the current transfer, for the bar.
pub trait Progress: Sync {
    fn phase(&self, what: &str);
    fn bytes(&self, n: u64);
}

/// One attempt at one target: what each of its steps needs.
struct Attempt<'a> {
    t: &'a Target,
    plan: &'a Plan,
    /// New for each attempt: its frames are told from any other output.
    nonce: String,
    path: String,
    deadline: Instant,
    progress: &'a dyn Progress,
}

/// Runs every attempt for `t` and returns its record.
pub(crate) fn acquire(t: &Target, plan: &Plan, progress: &dyn Progress) -> Record {
    let tty = plan.tty || t.way.always_tty();
    let mut rec = Record::new(t, plan, tty);
    let deadline = Instant::now() + plan.timeout;
    let path = plan.dir.join(format!("{}.tar.zst", t.label));
    let path_s = path.to_string_lossy().into_owned();
    let mut last: Option<Failed> = None;
    while rec.attempts < plan.attempts {
        if crate::interrupted() {
            last = Some(fatal("interrupted (Ctrl-C)"));
            break;
        }
        if Instant::now() >= deadline {
            let why = last.map(|f| format!("{}; ", f.message)).unwrap_or_default();
            last = Some(fatal(format!(
                "{why}the time allowed per target is spent ({} s, --timeout)",
                plan.timeout.as_secs()
            )));
            break;
        }
        rec.attempts += 1;
        let a = Attempt { t, plan, nonce: crate::nonce(), path: path_s.clone(), deadline, progress };
        let result = if tty { a.tty(&mut rec) } else { a.piped(&mut rec) };
        match result {
            Ok(()) => {
                last = None;
                break;
            }
            Err(f) => {
                let retry = f.retry;
                last = Some(f);
                if !retry {
                    break;
                }
            }
        }
    }
    if let Some(f) = last {
        rec.error = Some(f.message);
        rec.verified = false;
    }
    rec.ended_at = curtain_model::format_rfc3339_ns(crate::now_ns());
    rec
}

/// Why a step failed, from what the target and the channel said.
fn explain(w: Wait, status: Option<std::process::ExitStatus>, said: &str) -> Failed {
    let lower = said.to_ascii_lowercase();
    if lower.contains("executable file not found")
        || lower.contains("no such file or directory") && lower.contains("sh")
    {
        return fatal(format!(
            "the target has no shell (sh): neither method can run in it (a distroless or scratch image); it said: {said}"
        ));
    }
    let code = status.and_then(|s| s.code()).map(|c| format!(", exit status {c}")).unwrap_or_default();
    let said = if said.is_empty() { String::new() } else { format!("; it said: {said}") };
    match w {
        Wait::Interrupted => fatal("interrupted (Ctrl-C)"),
        Wait::Timeout => transient(format!("the target did not answer in time{code}{said}")),
        _ => fatal(format!("the channel ended before the target answered{code}{said}")),
    }
}

fn parse_info(rest: &str) -> Info {
    let mut i = Info { arch: String::new(), base64: false };
    for kv in rest.split_whitespace() {
        match kv.split_once('=') {
            Some(("arch", v)) => i.arch = v.to_string(),
            Some(("b64", v)) => i.base64 = v == "1",
            _ => {}
        }
    }
    i
}

/// Which method to use, given what the probe found; `Err` when the one asked for cannot run.
fn choose(plan: &Plan, info: &Info) -> Result<Method, Failed> {
    let ours = std::env::consts::ARCH;
    let runs_here = info.arch == ours;
    match plan.method {
        Method::Shell => Ok(Method::Shell),
        Method::Binary if plan.collector.is_none() => Err(fatal("no collector to push (see --collector)")),
        Method::Binary if !runs_here => Err(fatal(format!(
            "the target is {}, the collector is built for {ours}: use --method shell",
            if info.arch.is_empty() { "of an unknown architecture" } else { &info.arch }
        ))),
        Method::Binary => Ok(Method::Binary),
        Method::Auto if runs_here && plan.collector.is_some() => Ok(Method::Binary),
        Method::Auto => Ok(Method::Shell),
    }
}

fn with_said(mut f: Failed, said: &str) -> Failed {
    if !said.is_empty() && !f.message.contains(said) {
        f.message = format!("{}; it said: {said}", f.message);
    }
    f
}

/// `PUSHED <sha256|-> <path>`, checked against what was sent.
fn check_pushed(rest: &str, col: &crate::Collector) -> Result<Pushed, Failed> {
    let (sha, path) = rest.trim().split_once(' ').ok_or_else(|| transient(format!("a malformed answer: {rest}")))?;
    if sha != "-" && sha != col.sha256 {
        return Err(transient(format!("the collector arrived changed (SHA-256 {sha}, sent {})", col.sha256)));
    }
    Ok(Pushed { path: path.to_string(), sha256: col.sha256.clone(), bytes: col.bytes.len() as u64, removed: false })
}

/// Writes the sidecar and verifies the archive as `curtain verify` does.
fn finish_archive((sha, bytes): (String, u64), path: &str, rec: &mut Record) -> Result<(), Failed> {
    rec.bytes = Some(bytes);
    rec.sha256 = Some(sha.clone());
    let name = std::path::Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    rec.archive = Some(name.clone());
    output::write_new(&format!("{path}.sha256"), format!("{sha}  {name}\n").as_bytes(), &[path])
        .map_err(|e| fatal(format!("{path}.sha256: {e}")))?;
    let report = curtain_archive::verify_file(path, &curtain_archive::Limits::default())
        .map_err(|e| transient(format!("{path}: does not verify: {e}")))?;
    rec.verified = report.ok();
    rec.problems = report.problems.clone();
    if !report.ok() {
        // Kept for examination under another name; the next attempt writes a new one.
        let bad = format!("{path}.failed-{}", rec.attempts);
        let _ = std::fs::rename(path, &bad);
        let _ = std::fs::rename(format!("{path}.sha256"), format!("{bad}.sha256"));
        rec.archive = None;
        return Err(transient(format!("the archive does not verify: {}", report.problems.join("; "))));
    }
    Ok(())
}

impl Attempt<'_> {
    /// Starts a piped command in the target and waits for one of `words`.
    fn piped_step(&self, argv: &[&str], input: Option<&[u8]>, words: &[&str]) -> Result<(String, String), Failed> {
        let mut s =
            Session::spawn(&self.t.way.exec(&self.plan.tools, argv), false).map_err(|e| fatal(e.to_string()))?;
        if let Some(data) = input {
            // A target that cannot take it (no shell, nothing read) closes the pipe: said below.
            let _ = s.send(data);
        }
        s.close_input();
        let got = s.expect(words, &self.nonce, self.deadline.min(Instant::now() + STEP));
        let (status, said) = s.finish(Instant::now() + Duration::from_secs(10));
        match got {
            Ok(g) => Ok(g),
            Err(w) => Err(explain(w, status, &said)),
        }
    }

    /// Without a terminal: probe, push, run and remove, each a command of its own.
    fn piped(&self, rec: &mut Record) -> Result<(), Failed> {
        let (plan, nonce) = (self.plan, self.nonce.as_str());
        self.progress.phase("probing");
        let (_, rest) = self.piped_step(&["sh", "-c", &remote::probe(nonce, "")], None, &["INFO"])?;
        let info = parse_info(&rest);
        let mut method = choose(plan, &info)?;
        if method == Method::Binary {
            let col = plan.collector.as_ref().expect("chosen only with a collector");
            self.progress.phase("pushing the collector");
            let place = remote::place(nonce, remote::PIPE_RECEIVE);
            let (word, rest) = self.piped_step(&["sh", "-c", &place], Some(&col.bytes), &["PUSHED", "NOPLACE"])?;
            if word == "NOPLACE" {
                if plan.method == Method::Binary {
                    return Err(fatal(format!("no writable and executable place in the target ({})", rest.trim())));
                }
                method = Method::Shell;
            } else {
                let pushed = check_pushed(&rest, col)?;
                rec.method = "binary".into();
                let r = self.run_piped(rec, &pushed);
                self.progress.phase("removing the collector");
                // Removed whatever the run gave, with time of its own if the run spent it all.
                let late = Attempt {
                    deadline: self.deadline.max(Instant::now() + Duration::from_secs(30)),
                    nonce: self.nonce.clone(),
                    path: self.path.clone(),
                    ..*self
                };
                let removed =
                    late.piped_step(&["sh", "-c", &remote::remove(nonce), "sh", &pushed.path], None, &["REMOVED"]);
                rec.pushed = Some(Pushed { removed: matches!(&removed, Ok((_, x)) if x.trim() == "0"), ..pushed });
                return r;
            }
        }
        debug_assert_eq!(method, Method::Shell);
        rec.method = "shell".into();
        let shell = plan.shell.as_ref().ok_or_else(|| fatal("the shell method is not available in this build"))?;
        self.progress.phase("reading /proc with sh");
        let script =
            format!("CURTAIN_NONCE={nonce}\nCURTAIN_NO_ENVIRON={}\n{}", u8::from(plan.no_environ), shell.script());
        let mut s = Session::spawn(&self.t.way.exec(&plan.tools, &["sh", "-c", &script]), false)
            .map_err(|e| fatal(e.to_string()))?;
        s.close_input();
        let r = shell.receive(&mut s, nonce, self.deadline, &self.path, &rec.acquisition(plan, None), self.progress);
        let (_, said) = s.finish(Instant::now() + Duration::from_secs(10));
        finish_archive(r.map_err(|f| with_said(f, &said))?, &self.path, rec)
    }

    /// Without a terminal, the pushed collector run: its standard output is the archive.
    fn run_piped(&self, rec: &mut Record, pushed: &Pushed) -> Result<(), Failed> {
        let (plan, path) = (self.plan, self.path.as_str());
        self.progress.phase("collecting");
        let acq = serde_json::to_string(&rec.acquisition(plan, Some(pushed))).expect("serialise");
        let mut argv = vec![pushed.path.as_str(), "-o", "-", "-q", "--compress", "zstd", "--acquisition", &acq];
        if plan.no_environ {
            argv.push("--no-environ");
        }
        let mut s = Session::spawn(&self.t.way.exec(&plan.tools, &argv), false).map_err(|e| fatal(e.to_string()))?;
        s.close_input();
        let mut out = NewFile::create(path, &[]).map_err(|e| fatal(format!("{path}: {e}")))?;
        let mut hash = Sha256::new();
        let mut n = 0u64;
        loop {
            match s.next_chunk(self.deadline) {
                Ok(c) => {
                    hash.update(&c);
                    n += c.len() as u64;
                    self.progress.bytes(n);
                    out.write_all(&c).map_err(|e| fatal(format!("{path}: {e}")))?;
                }
                Err(Wait::Eof) => break,
                Err(w) => {
                    s.kill();
                    return Err(transient(format!("collecting: {w} after {n} bytes")));
                }
            }
        }
        let (status, said) = s.finish(Instant::now() + Duration::from_secs(30));
        let code = status.and_then(|s| s.code());
        rec.collector_status = code;
        if code != Some(0) {
            return Err(transient(format!(
                "the collector ended with status {}{}",
                code.map_or("unknown".into(), |c| c.to_string()),
                if said.is_empty() { String::new() } else { format!(": {said}") }
            )));
        }
        out.commit().map_err(|e| fatal(format!("{path}: {e}")))?;
        finish_archive((curtain_model::to_hex(&hash.finalize()), n), path, rec)
    }

    /// Over a terminal: one session probes, pushes, runs and removes.
    fn tty(&self, rec: &mut Record) -> Result<(), Failed> {
        self.progress.phase("starting the session");
        let mut s = Session::spawn(&self.t.way.session(&self.plan.tools), true).map_err(|e| fatal(e.to_string()))?;
        let r = self.tty_steps(&mut s, rec);
        if r.is_err() {
            // Nothing more is wanted from a failed session: ended now rather than waited for.
            s.kill();
        }
        let (_, said) = s.finish(Instant::now() + Duration::from_secs(15));
        r.map_err(|f| with_said(f, &said))
    }

    fn tty_steps(&self, s: &mut Session, rec: &mut Record) -> Result<(), Failed> {
        let (plan, nonce, path) = (self.plan, self.nonce.as_str(), self.path.as_str());
        let step = || self.deadline.min(Instant::now() + STEP);
        let io = |e: io::Error| transient(format!("writing to the session: {e}"));
        // The shell's first words (a prompt) say it reads; typed earlier, a line could be lost to
        // a session still starting.
        match s.next_chunk(step()) {
            Ok(c) => s.unread(c),
            Err(w) => return Err(explain(w, None, &s.said())),
        }
        s.send(remote::BOOT.as_bytes()).map_err(io)?;
        s.send(remote::typed(&remote::probe(nonce, "r;eval \"$S\"")).as_bytes()).map_err(io)?;
        let (_, rest) = s.expect(&["INFO"], nonce, step()).map_err(|w| explain(w, None, &s.said()))?;
        let info = parse_info(&rest);
        let mut method = choose(plan, &info)?;
        if method == Method::Binary {
            let col = plan.collector.as_ref().expect("chosen only with a collector");
            self.progress.phase("pushing the collector");
            let lines = remote::encode(&col.bytes, info.base64);
            let script = format!(
                "{}{}",
                remote::place(nonce, &remote::tty_receive(info.base64, lines.len())),
                remote::tty_run(plan.no_environ)
            );
            s.send(remote::typed(&script).as_bytes()).map_err(io)?;
            let mut sent = 0u64;
            for l in &lines {
                s.send(l.as_bytes()).map_err(io)?;
                s.send(b"\n").map_err(io)?;
                sent += l.len() as u64 + 1;
                self.progress.bytes(sent);
            }
            let (word, rest) =
                s.expect(&["PUSHED", "NOPLACE"], nonce, step()).map_err(|w| explain(w, None, &s.said()))?;
            if word == "NOPLACE" {
                if plan.method == Method::Binary {
                    let _ = s.send(remote::typed("exit 0").as_bytes());
                    return Err(fatal(format!("no writable and executable place in the target ({})", rest.trim())));
                }
                method = Method::Shell;
            } else {
                let pushed = check_pushed(&rest, col)?;
                rec.method = "binary".into();
                rec.pushed = Some(pushed.clone());
                let acq = serde_json::to_string(&rec.acquisition(plan, Some(&pushed))).expect("serialise");
                for l in remote::split_line(&acq) {
                    s.send(l.as_bytes()).map_err(io)?;
                    s.send(b"\n").map_err(io)?;
                }
                s.send(b".\n").map_err(io)?;
                self.progress.phase("collecting");
                let received = self.receive_frame(s);
                // The removal is said after the frame, whatever the frame was.
                if let Ok((_, x)) = s.expect(&["REMOVED"], nonce, Instant::now() + Duration::from_secs(30)) {
                    if let Some(p) = rec.pushed.as_mut() {
                        p.removed = x.trim() == "0";
                    }
                }
                let (sha, bytes, status) = received?;
                rec.collector_status = Some(status);
                if status != 0 {
                    return Err(transient(format!("the collector ended with status {status}")));
                }
                return finish_archive((sha, bytes), path, rec);
            }
        }
        debug_assert_eq!(method, Method::Shell);
        rec.method = "shell".into();
        let shell = plan.shell.as_ref().ok_or_else(|| fatal("the shell method is not available in this build"))?;
        self.progress.phase("reading /proc with sh");
        let script = format!(
            "CURTAIN_NONCE={nonce}\nCURTAIN_NO_ENVIRON={}\n{}\nexit 0",
            u8::from(plan.no_environ),
            shell.script()
        );
        s.send(remote::typed(&script).as_bytes()).map_err(io)?;
        let got = shell.receive(s, nonce, self.deadline, path, &rec.acquisition(plan, None), self.progress)?;
        finish_archive(got, path, rec)
    }

    /// Receives the collector's frame into the archive's file: (sha256, bytes, the collector's
    /// status).
    fn receive_frame(&self, s: &mut Session) -> Result<(String, u64, i32), Failed> {
        let path = self.path.as_str();
        let out = NewFile::create(path, &[]).map_err(|e| fatal(format!("{path}: {e}")))?;
        let mut r = FrameReader::new(&self.nonce, io::BufWriter::with_capacity(1 << 16, out));
        let end = loop {
            match s.next_chunk(self.deadline) {
                Ok(c) => match r.feed(&c) {
                    Ok(Fed::Done(end)) => {
                        // The session's next words (the removal) may share the end line's chunk.
                        s.unread(r.take_rest());
                        break end;
                    }
                    Ok(Fed::More) => self.progress.bytes(r.bytes()),
                    Err(e) => return Err(transient(e.to_string())),
                },
                Err(Wait::Eof) => {
                    return Err(transient(match r.finish() {
                        Err(e) => e.to_string(),
                        Ok(_) => "the session ended".into(),
                    }))
                }
                Err(w) => return Err(transient(format!("collecting: {w} after {} bytes", r.bytes()))),
            }
        };
        if end.status != 0 && end.bytes == 0 {
            return Err(fatal(format!(
                "the collector failed in the target (status {}): {}",
                end.status,
                end.message.as_deref().unwrap_or("no reason given")
            )));
        }
        let (_, w) = r.finish().map_err(|e| transient(e.to_string()))?;
        let f = w.into_inner().map_err(|e| fatal(format!("{path}: {}", e.error())))?;
        f.commit().map_err(|e| fatal(format!("{path}: {e}")))?;
        Ok((end.sha256, end.bytes, end.status))
    }
}

/// The shell method, as `curtain acquire` is given it: the script to run, and how its output
/// becomes an archive at `path` (sha256 and bytes of the file written).
pub trait ShellMethod: Send + Sync {
    fn script(&self) -> String;
    #[allow(clippy::too_many_arguments)]
    fn receive(
        &self,
        s: &mut Session,
        nonce: &str,
        deadline: Instant,
        path: &str,
        acquisition: &curtain_model::Acquisition,
        progress: &dyn Progress,
    ) -> Result<(String, u64), Failed>;
}
