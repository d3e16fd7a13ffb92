//! `curtain acquire`: a verified snapshot of a running container, taken from inside through the
//! channel its platform allows, with a chain-of-custody record.
//!
//! On Fargate there is no host to image: the only way in is ECS Exec, a terminal session. So the
//! collector is pushed through that channel (or, when it cannot run there, a POSIX `sh` script
//! reads /proc instead), its archive comes back framed and checked ([`curtain_archive::frame`]),
//! and each target's outcome is one line of `acquisition.jsonl`: who, what, how, when, the
//! archive's digest and whether it verifies. Transports ([`target::Way`]) are the programs the
//! responder already has (`docker`, `kubectl`, `aws` with the session-manager-plugin); this crate
//! needs no SDK: the ECS targets are resolved and preflighted by the caller.

pub mod channel;
pub mod remote;
pub mod run;
pub mod shell;
pub mod target;

pub use run::{Failed, Progress, ShellMethod};
pub use target::{Target, Tools, Way};

use curtain_model::{Acquisition, AcquisitionTarget};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to take the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The binary where it can run (same architecture, a writable and executable place), the
    /// shell method otherwise.
    Auto,
    Binary,
    Shell,
}

/// The static collector to push, read once.
#[derive(Debug, Clone)]
pub struct Collector {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Collector {
    pub fn read(path: &std::path::Path) -> io::Result<Collector> {
        let bytes = std::fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let sha256 = curtain_model::to_hex(&Sha256::digest(&bytes));
        Ok(Collector { bytes, sha256 })
    }
}

/// Everything an acquisition runs with.
pub struct Plan {
    pub dir: PathBuf,
    pub method: Method,
    /// Over a terminal even where the channel has a binary-clean way.
    pub tty: bool,
    pub parallel: usize,
    pub no_environ: bool,
    /// Per target, all attempts included.
    pub timeout: Duration,
    /// Attempts per target when a transfer comes back corrupt.
    pub attempts: u32,
    pub collector: Option<Collector>,
    pub shell: Option<Box<dyn ShellMethod>>,
    pub tools: Tools,
    /// Who runs it: the caller's AWS identity for ECS, the local user otherwise.
    pub operator: String,
}

/// The collector as pushed, and whether it was removed.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub removed: bool,
}

/// One line of `acquisition.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub target: AcquisitionTarget,
    pub label: String,
    /// `binary` or `shell` (the one that ran; the one asked for until then).
    pub method: String,
    pub transport: String,
    pub operator: String,
    pub started_at: String,
    pub ended_at: String,
    /// The archive's file name in the acquisition's folder.
    pub archive: Option<String>,
    /// Size and SHA-256 of the archive file written.
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
    /// The result of the same check as `curtain verify`.
    pub verified: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub attempts: u32,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<Pushed>,
    /// The collector's exit status in the target (binary method).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collector_status: Option<i32>,
}

impl Record {
    fn new(t: &Target, plan: &Plan, tty: bool) -> Record {
        Record {
            target: t.identity.clone(),
            label: t.label.clone(),
            method: match plan.method {
                Method::Auto => "auto",
                Method::Binary => "binary",
                Method::Shell => "shell",
            }
            .into(),
            transport: t.way.transport(tty).into(),
            operator: plan.operator.clone(),
            started_at: curtain_model::format_rfc3339_ns(now_ns()),
            ended_at: String::new(),
            archive: None,
            bytes: None,
            sha256: None,
            verified: false,
            problems: Vec::new(),
            attempts: 0,
            error: None,
            pushed: None,
            collector_status: None,
        }
    }

    /// What goes into the archive's manifest.
    pub fn acquisition(&self, plan: &Plan, pushed: Option<&Pushed>) -> Acquisition {
        Acquisition {
            method: self.method.clone(),
            transport: self.transport.clone(),
            target: self.target.clone(),
            pushed: pushed.map(|p| curtain_model::Pushed {
                path: p.path.clone(),
                sha256: p.sha256.clone(),
                bytes: p.bytes,
            }),
            tables_built_off_target: self.method == "shell",
            operator: Some(plan.operator.clone()),
        }
    }
}

fn stop_flag() -> &'static Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Whether Ctrl-C (or SIGTERM) asked the acquisition to stop: no new attempt starts; the
/// targets already done keep their results. A second Ctrl-C exits at once.
pub fn interrupted() -> bool {
    stop_flag().load(Ordering::Relaxed)
}

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// 128 random bits as hex: each attempt's frame is told from any other output.
pub(crate) fn nonce() -> String {
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| io::Read::read_exact(&mut f, &mut b)).is_ok();
    if !ok {
        // Not secret, only distinct: time and pid do.
        b[..8].copy_from_slice(&now_ns().to_le_bytes());
        b[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    curtain_model::to_hex(&b)
}

/// Acquires every target, `plan.parallel` at a time, appending each record to
/// `DIR/acquisition.jsonl` as it ends. Returns the records in the targets' order.
pub fn acquire_all(targets: &[Target], plan: &Plan) -> io::Result<Vec<Record>> {
    std::fs::create_dir_all(&plan.dir)?;
    let log_path = plan.dir.join("acquisition.jsonl");
    let log = std::fs::OpenOptions::new().write(true).create_new(true).open(&log_path).map_err(|e| {
        io::Error::new(e.kind(), format!("{}: {e} (an acquisition's folder is never reused)", log_path.display()))
    })?;
    let log = Mutex::new(log);
    {
        use signal_hook::{consts::*, flag};
        // Registered first, so that it sees the flag as the first signal left it.
        let _ = flag::register_conditional_shutdown(SIGINT, 130, stop_flag().clone());
        let _ = flag::register(SIGINT, stop_flag().clone());
        let _ = flag::register(SIGTERM, stop_flag().clone());
    }
    let bars = Bars::new(targets);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Record>>> = targets.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..plan.parallel.max(1).min(targets.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(t) = targets.get(i) else { break };
                let bar = bars.start(i);
                let rec = run::acquire(t, plan, &bar);
                bars.end(i, &rec);
                let mut line = serde_json::to_vec(&rec).expect("serialise");
                line.push(b'\n');
                let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
                let _ = f.write_all(&line).and_then(|()| f.sync_data());
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(rec);
            });
        }
    });
    Ok(results.into_iter().filter_map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).collect())
}

/// Progress bars on a terminal, one per target at work; nothing when standard error is not one.
struct Bars {
    multi: Option<indicatif::MultiProgress>,
    bars: Vec<Mutex<Option<indicatif::ProgressBar>>>,
    labels: Vec<String>,
}

struct Bar(Option<indicatif::ProgressBar>);

impl Progress for Bar {
    fn phase(&self, what: &str) {
        if let Some(b) = &self.0 {
            b.set_message(what.to_string());
        }
    }
    fn bytes(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.set_position(n);
        }
    }
}

impl Bars {
    fn new(targets: &[Target]) -> Bars {
        use std::io::IsTerminal;
        let multi = io::stderr().is_terminal().then(indicatif::MultiProgress::new);
        Bars {
            multi,
            bars: targets.iter().map(|_| Mutex::new(None)).collect(),
            labels: targets.iter().map(|t| t.label.clone()).collect(),
        }
    }

    fn start(&self, i: usize) -> Bar {
        let Some(m) = &self.multi else { return Bar(None) };
        let b = m.add(indicatif::ProgressBar::new_spinner());
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {prefix:40} {bytes:>10} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.set_prefix(curtain_model::term(&self.labels[i]));
        b.enable_steady_tick(Duration::from_millis(200));
        *self.bars[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(b.clone());
        Bar(Some(b))
    }

    fn end(&self, i: usize, rec: &Record) {
        if let Some(b) = self.bars[i].lock().unwrap_or_else(|p| p.into_inner()).take() {
            b.finish_with_message(if rec.verified { "verified".to_string() } else { "FAILED".to_string() });
        }
    }
}

/// The results table printed at the end (every cell from a target escaped for the terminal).
pub fn table(records: &[Record]) -> String {
    let t = curtain_model::term;
    let rows: Vec<[String; 6]> = records
        .iter()
        .map(|r| {
            let detail = match (&r.error, &r.archive) {
                (Some(e), _) => e.clone(),
                (None, Some(a)) => format!("{a} ({} attempt{})", r.attempts, if r.attempts == 1 { "" } else { "s" }),
                _ => String::new(),
            };
            [
                t(&r.label),
                r.method.clone(),
                r.transport.clone(),
                r.bytes.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                if r.verified { "verified" } else { "FAILED" }.to_string(),
                t(&detail),
            ]
        })
        .collect();
    let w = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0).max(6);
    let mut out = format!(
        "{:<w$}  {:<6}  {:<11}  {:>10}  {:<8}  {}\n",
        "TARGET", "METHOD", "TRANSPORT", "BYTES", "RESULT", "DETAIL"
    );
    for r in rows {
        out.push_str(&format!("{:<w$}  {:<6}  {:<11}  {:>10}  {:<8}  {}\n", r[0], r[1], r[2], r[3], r[4], r[5]));
    }
    out
}
