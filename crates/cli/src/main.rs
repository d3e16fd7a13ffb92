//! `curtain`: live response for containers. Wiring only: each subcommand is a crate's job.
//!
//! Exit codes: 0 when nothing at or above the severity threshold was found (or the command
//! succeeded), 1 when findings were (or verify/reparse found a mismatch), 2 on an error.

use clap::{Args, Parser, Subcommand, ValueEnum};
use curtain_analyze::{at_least, diff::diff, timeline};
use curtain_archive::cli::{run_reparse, run_verify, LimitArgs, ReparseArgs, VerifyArgs};
use curtain_collect::cli::{run_collect, CollectArgs};
use curtain_model::{Finding, Severity, Snapshot};
use curtain_report::{html, json, markdown, text, Analysed};
use std::io::{self, IsTerminal, Write};

#[derive(Parser)]
#[command(
    name = "curtain",
    version,
    about = "Live response for containers: snapshot /proc as evidence, and analyse it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Collect this machine or container, analyse it, print the findings, write the archive and
    /// report.html.
    #[command(
        after_help = "Examples:\n  curtain triage\n  curtain triage -o /tmp/ir --no-environ\n  curtain triage --min-severity high"
    )]
    Triage(TriageArgs),
    /// Snapshot this machine or container into one evidence archive.
    #[command(
        after_help = "Examples:\n  curtain collect\n  curtain collect -o snap.tar.zst --carve-exe\n  curtain collect -o - > snap.tar"
    )]
    Collect(CollectArgs),
    /// Print the findings of one or more archives.
    Findings(FindingsArgs),
    /// Write a report of one or more archives.
    #[command(
        after_help = "Examples:\n  curtain report snap.tar.zst -o report.html\n  curtain report a.tar.zst b.tar.zst --format md"
    )]
    Report(ReportArgs),
    /// Write a timeline of one or more archives (Timesketch imports JSONL and CSV).
    Timeline(TimelineArgs),
    /// Print the process tree with start times, users, executables and command lines.
    Tree(OneArchive),
    /// Print every socket with all its owners.
    Sockets(OneArchive),
    /// What changed between two snapshots: processes, connections, listeners, executables, findings.
    Diff(DiffArgs),
    /// List the detectors: id, severity, ATT&CK techniques and what each finding means.
    Detectors,
    /// Feed the asset register with history: EventBridge task state changes or CloudTrail logs.
    #[command(
        subcommand,
        after_help = "Examples:\n  curtain ingest events ecs-events.jsonl --db register.db\n  curtain ingest cloudtrail AWSLogs/111122223333/CloudTrail/us-west-2/2026/11/29/*.json.gz"
    )]
    Ingest(IngestCommand),
    /// The live inventory of ECS across accounts and regions, into the asset register.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Which task, container, service and account held an IP address, and when.
    #[command(
        after_help = "Examples:\n  curtain whois 10.0.0.139\n  curtain whois 10.0.0.139 --at 2026-11-29T10:15:00Z --format json"
    )]
    Whois(WhoisArgs),
    /// Check every member of an archive against its manifest.
    Verify(VerifyArgs),
    /// Rebuild an archive's tables from its raw part.
    Reparse(ReparseArgs),
}

#[derive(Args)]
struct DbArg {
    /// The register (SQLite), created if missing.
    #[arg(long, value_name = "FILE", default_value = "curtain-register.db")]
    db: String,
}

#[derive(Args)]
struct InputLimit {
    /// Largest input file, once decompressed (a gzip bomb stops here).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = curtain_archive::parse_size)]
    max_input: u64,
}

#[derive(Subcommand)]
enum IngestCommand {
    /// EventBridge "ECS Task State Change" events: JSON objects, JSON lines, arrays, or a
    /// CloudWatch Logs export; .gz files too.
    Events {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        limit: InputLimit,
    },
    /// CloudTrail log files (.json or .json.gz): RunTask, StopTask, and the
    /// Create/DeleteNetworkInterface calls ECS makes for task ENIs.
    Cloudtrail {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        limit: InputLimit,
    },
}

#[derive(Subcommand)]
enum InventoryCommand {
    /// Sync clusters, tasks (running and recently stopped), containers and task ENIs with their
    /// IPs into the register. Run it often: ECS lists stopped tasks for about an hour only.
    #[command(
        after_help = "Examples:\n  curtain inventory sync                                  # this account, every enabled region\n  curtain inventory sync --org --role CurtainReadOnly --regions us-east-1,eu-west-1\n  curtain inventory sync --accounts 111122223333,444455556666 --role CurtainReadOnly\n\nCredentials and endpoints come from the standard AWS configuration (environment, profiles,\nSSO, instance or task role, AWS_ENDPOINT_URL). The role policy: docs/AWS.md."
    )]
    Sync(SyncArgs),
}

#[derive(Args)]
struct SyncArgs {
    /// Every ACTIVE account of the AWS Organization (ListAccounts).
    #[arg(long, conflicts_with = "accounts")]
    org: bool,
    /// These accounts (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    accounts: Vec<String>,
    /// Role to assume in each account (a name, or a full ARN).
    #[arg(long, value_name = "NAME")]
    role: Option<String>,
    /// These regions (default: every region enabled in each account).
    #[arg(long, value_delimiter = ',', value_name = "R,...")]
    regions: Vec<String>,
    /// How many account × region syncs run at once.
    #[arg(long, default_value = "8")]
    concurrency: usize,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Args)]
struct WhoisArgs {
    ip: String,
    /// Only the holder at this time (RFC 3339, e.g. 2026-11-29T10:15:00Z).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    #[command(flatten)]
    db: DbArg,
    #[arg(long, value_enum, default_value = "text")]
    format: FindingsFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum MinSeverity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl From<MinSeverity> for Severity {
    fn from(m: MinSeverity) -> Severity {
        match m {
            MinSeverity::Info => Severity::Info,
            MinSeverity::Low => Severity::Low,
            MinSeverity::Medium => Severity::Medium,
            MinSeverity::High => Severity::High,
            MinSeverity::Critical => Severity::Critical,
        }
    }
}

#[derive(Args)]
struct Threshold {
    /// Findings below this are not shown and do not set the exit code.
    #[arg(long, value_enum, default_value = "low")]
    min_severity: MinSeverity,
}

#[derive(Args)]
struct TriageArgs {
    /// Folder for the archive, report.html, findings.json and timeline.jsonl
    /// (default: curtain-HOST-UTCTIME in the current directory).
    #[arg(short, long, value_name = "DIR")]
    output: Option<String>,
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    proc_root: String,
    /// Also keep each executable's bytes, capped at MAX_BYTES (default 64M).
    #[arg(long, value_name = "MAX_BYTES", num_args = 0..=1, require_equals = true,
          default_missing_value = "64M", value_parser = curtain_archive::parse_size)]
    carve_exe: Option<u64>,
    /// Leave process environments out of the archive (then LD_PRELOAD cannot be checked).
    #[arg(long)]
    no_environ: bool,
    #[command(flatten)]
    threshold: Threshold,
}

#[derive(Clone, Copy, ValueEnum)]
enum FindingsFormat {
    Text,
    Json,
}

#[derive(Args)]
struct FindingsArgs {
    #[arg(required = true)]
    archives: Vec<String>,
    #[command(flatten)]
    limits: LimitArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: FindingsFormat,
    #[command(flatten)]
    threshold: Threshold,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Html,
    Md,
    Json,
    Text,
}

#[derive(Args)]
struct ReportArgs {
    #[arg(required = true)]
    archives: Vec<String>,
    #[command(flatten)]
    limits: LimitArgs,
    /// Default: html when writing to a file, text on a terminal.
    #[arg(long, value_enum)]
    format: Option<ReportFormat>,
    /// Output file (default: standard output).
    #[arg(short, long)]
    output: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum TimelineFormat {
    Jsonl,
    Csv,
}

#[derive(Args)]
struct TimelineArgs {
    #[arg(required = true)]
    archives: Vec<String>,
    #[command(flatten)]
    limits: LimitArgs,
    #[arg(long, value_enum, default_value = "jsonl")]
    format: TimelineFormat,
    #[arg(short, long)]
    output: Option<String>,
}

#[derive(Args)]
struct OneArchive {
    archive: String,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args)]
struct DiffArgs {
    old: String,
    new: String,
    #[command(flatten)]
    limits: LimitArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: FindingsFormat,
}

fn style() -> text::Style {
    text::Style { color: io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() }
}

fn load(paths: &[String], limits: &LimitArgs) -> io::Result<Vec<Snapshot>> {
    let limits = limits.limits();
    paths.iter().map(|p| curtain_archive::load_snapshot_with(p, &limits)).collect()
}

/// Standard output for text a person reads: control characters from the evidence are shown
/// escaped, whichever field they came from (colours only our own, on a terminal).
fn text_out() -> curtain_model::TermSafe<io::StdoutLock<'static>> {
    curtain_model::TermSafe::new(io::stdout().lock(), style().color)
}

/// Where a command's output goes: standard output, or a new file that replaces nothing and
/// appears under its name only when complete.
enum Output {
    Stdout(io::BufWriter<io::StdoutLock<'static>>),
    File(io::BufWriter<curtain_archive::output::NewFile>),
}

impl Output {
    /// `inputs`: the command's own input files, which the output may not name.
    fn open(path: &Option<String>, inputs: &[String]) -> io::Result<Output> {
        Ok(match path {
            Some(p) if p != "-" => {
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                Output::File(io::BufWriter::new(curtain_archive::output::NewFile::create(p, &inputs)?))
            }
            _ => Output::Stdout(io::BufWriter::new(io::stdout().lock())),
        })
    }

    /// Flushes, and gives a file its final name.
    fn finish(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush(),
            Output::File(w) => w.into_inner().map_err(|e| e.into_error())?.commit(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File(w) => w.flush(),
        }
    }
}

fn exit_for(findings: &[&Finding]) -> i32 {
    if findings.is_empty() {
        0
    } else {
        1
    }
}

fn spinner(msg: &str) -> indicatif::ProgressBar {
    // Hidden when stderr is not a terminal: pipes and CI stay quiet.
    let pb = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if io::stderr().is_terminal() {
        pb.enable_steady_tick(std::time::Duration::from_millis(100));
    } else {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    pb.set_message(msg.to_string());
    pb
}

fn triage(a: &TriageArgs) -> io::Result<i32> {
    let dir = a.output.clone().unwrap_or_else(|| {
        let name = curtain_collect::cli::default_name();
        name.trim_end_matches(".tar.zst").to_string()
    });
    std::fs::create_dir_all(&dir)?;
    let archive = format!("{dir}/snapshot.tar.zst");
    let pb = spinner("collecting /proc");
    let args = CollectArgs {
        output: Some(archive.clone()),
        proc_root: a.proc_root.clone(),
        carve_exe: a.carve_exe,
        no_environ: a.no_environ,
        compress: None,
        jobs: None,
        time_budget: None,
        quiet: true,
    };
    run_collect(&args)?;
    pb.set_message("analysing");
    // Its own fresh archive: the default limits.
    let snaps = vec![curtain_archive::load_snapshot(&archive)?];
    let analysed: Vec<Analysed> = snaps.iter().map(Analysed::new).collect();
    let one = &analysed[0];
    let new = curtain_archive::output::write_new;
    new(
        &format!("{dir}/report.html"),
        &{
            let mut b = Vec::new();
            html::report(&mut b, &analysed)?;
            b
        },
        &[],
    )?;
    let mut fj = Vec::new();
    json::findings(&mut fj, &one.findings.iter().collect::<Vec<_>>())?;
    new(&format!("{dir}/findings.json"), &fj, &[])?;
    let mut tl = Vec::new();
    curtain_report::timeline::jsonl(&mut tl, &timeline::merge(timeline::rows(&one.ix, &one.findings)))?;
    new(&format!("{dir}/timeline.jsonl"), &tl, &[])?;
    pb.finish_and_clear();

    let shown = at_least(&one.findings, a.threshold.min_severity.into());
    let mut out = text_out();
    let st = style();
    text::summary(&mut out, one, st)?;
    writeln!(out)?;
    text::findings(&mut out, &shown, st)?;
    writeln!(out, "\nWrote {archive} (+ .sha256), {dir}/report.html, {dir}/findings.json, {dir}/timeline.jsonl")?;
    Ok(exit_for(&shown))
}

fn register(db: &DbArg) -> io::Result<curtain_store::Register> {
    curtain_store::Register::open(std::path::Path::new(&db.db)).map_err(|e| io::Error::other(format!("{}: {e}", db.db)))
}

fn ingest(cmd: &IngestCommand) -> io::Result<i32> {
    let (files, db, limit, cloudtrail) = match cmd {
        IngestCommand::Events { files, db, limit } => (files, db, limit, false),
        IngestCommand::Cloudtrail { files, db, limit } => (files, db, limit, true),
    };
    let mut reg = register(db)?;
    let (mut tasks, mut enis, mut skipped, mut errors) = (0, 0, 0, 0);
    for f in files {
        let bytes = curtain_cloud::ingest::read_input(f, limit.max_input)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", f.display())))?;
        let got =
            if cloudtrail { curtain_cloud::ingest::cloudtrail(&bytes) } else { curtain_cloud::ingest::events(&bytes) };
        for e in &got.errors {
            eprintln!("curtain: {}: {}", curtain_report::term(&f.display().to_string()), curtain_report::term(e));
        }
        for t in &got.tasks {
            reg.add_task(t).map_err(|e| io::Error::other(e.to_string()))?;
        }
        for e in &got.enis {
            reg.add_eni(e).map_err(|e| io::Error::other(e.to_string()))?;
        }
        (tasks, enis, skipped, errors) =
            (tasks + got.tasks.len(), enis + got.enis.len(), skipped + got.skipped, errors + got.errors.len());
    }
    let (t, e, i) = reg.counts().map_err(|e| io::Error::other(e.to_string()))?;
    println!(
        "ingested {} file(s): {tasks} task record(s), {enis} ENI record(s), {skipped} other record(s) skipped, {errors} unreadable; register {}: {t} tasks, {e} ENIs, {i} addresses",
        files.len(),
        db.db
    );
    Ok(if errors > 0 { 1 } else { 0 })
}

fn inventory_sync(a: &SyncArgs) -> io::Result<i32> {
    use curtain_cloud::aws::{sync, Accounts, SyncPlan};
    let mut reg = register(&a.db)?;
    let at_ns =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let plan = SyncPlan {
        accounts: if a.org {
            Accounts::Organization
        } else if a.accounts.is_empty() {
            Accounts::Caller
        } else {
            Accounts::List(a.accounts.clone())
        },
        role: a.role.clone(),
        regions: a.regions.clone(),
        concurrency: a.concurrency,
        at_ns,
    };
    // A bar per account × region on a terminal; nothing when piped.
    let bars = indicatif::MultiProgress::with_draw_target(if io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    });
    let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}").expect("template");
    let live: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>> = Default::default();
    let progress = |account: &str, region: &str, what: &str| {
        let key = format!("{account} {region}");
        let mut live = live.lock().expect("progress lock");
        let bar = live.entry(key.clone()).or_insert_with(|| {
            let b = bars.add(indicatif::ProgressBar::new_spinner().with_style(style.clone()).with_prefix(key));
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        bar.set_message(what.to_string());
    };
    let mut lines = Vec::new();
    let mut failed = 0usize;
    let mut write_err: Option<String> = None;
    let mut done = |inv: curtain_cloud::sync::RegionInventory| {
        for t in &inv.tasks {
            if let Err(e) = reg.add_task(t) {
                write_err.get_or_insert(e.to_string());
            }
        }
        for e in &inv.enis {
            if let Err(e) = reg.add_eni(e) {
                write_err.get_or_insert(e.to_string());
            }
        }
        let mut results = Vec::new();
        results.extend(inv.services.iter().map(|s| reg.add_service(s)));
        results.extend(inv.task_definitions.iter().map(|d| reg.add_task_definition(d)));
        results.extend(inv.instances.iter().map(|i| reg.add_container_instance(i)));
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            write_err.get_or_insert(e.to_string());
        }
        if let Some(b) = live.lock().expect("progress lock").remove(&format!("{} {}", inv.account_id, inv.region)) {
            b.finish_and_clear();
        }
        failed += !inv.errors.is_empty() as usize;
        lines.push(format!(
            "  {} {}: {} cluster(s), {} task(s), {} ENI(s), {} service(s), {} task definition(s), {} container instance(s){}",
            inv.account_id,
            inv.region,
            inv.clusters,
            inv.tasks.len(),
            inv.enis.len(),
            inv.services.len(),
            inv.task_definitions.len(),
            inv.instances.len(),
            if inv.errors.is_empty() { String::new() } else { format!("; errors: {}", inv.errors.join("; ")) }
        ));
    };
    let rt = tokio_runtime()?;
    let result = rt.block_on(sync(&plan, &progress, &mut done));
    bars.clear().ok();
    if let Some(e) = write_err {
        return Err(io::Error::other(format!("{}: {e}", a.db.db)));
    }
    result.map_err(|e| io::Error::other(e.to_string()))?;
    lines.sort();
    let (t, e, i) = reg.counts().map_err(|e| io::Error::other(e.to_string()))?;
    println!(
        "inventory sync at {}: {} account × region(s), {failed} with errors",
        curtain_model::format_rfc3339_ns(at_ns),
        lines.len()
    );
    for l in &lines {
        println!("{}", curtain_report::term(l));
    }
    println!("register {}: {t} tasks, {e} ENIs, {i} addresses", a.db.db);
    Ok(if failed > 0 { 1 } else { 0 })
}

fn tokio_runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}

fn whois(a: &WhoisArgs) -> io::Result<i32> {
    let at =
        match &a.at {
            Some(t) => Some(curtain_model::parse_rfc3339_ns(t).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("--at {t}: not an RFC 3339 time"))
            })?),
            None => None,
        };
    let reg = register(&a.db)?;
    let holders = reg.whois(&a.ip, at).map_err(|e| io::Error::other(e.to_string()))?;
    match a.format {
        FindingsFormat::Json => {
            let mut out = io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "ip": a.ip, "at": a.at, "holders": holders }))?;
            writeln!(out)?;
        }
        FindingsFormat::Text => text::holders(&mut text_out(), &a.ip, a.at.as_deref(), &holders)?,
    }
    Ok(if holders.is_empty() { 1 } else { 0 })
}

fn run(cli: &Cli) -> io::Result<i32> {
    match &cli.command {
        Command::Triage(a) => triage(a),
        // The archive on standard output is the evidence: a reader that went away is a failure.
        Command::Collect(a) => run_collect(a).map(|(c, _, _)| c).map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                io::Error::other(format!("the output was closed before the archive was complete: {e}"))
            } else {
                e
            }
        }),
        Command::Verify(a) => run_verify(a),
        Command::Ingest(cmd) => ingest(cmd),
        Command::Whois(a) => whois(a),
        Command::Inventory(InventoryCommand::Sync(a)) => inventory_sync(a),
        Command::Detectors => {
            let mut out = text_out();
            text::detectors(&mut out)?;
            Ok(0)
        }
        Command::Reparse(a) => run_reparse(a),
        Command::Findings(a) => {
            let snaps = load(&a.archives, &a.limits)?;
            let analysed: Vec<Analysed> = snaps.iter().map(Analysed::new).collect();
            let all: Vec<Finding> = analysed.iter().flat_map(|x| x.findings.iter().cloned()).collect();
            let shown = at_least(&all, a.threshold.min_severity.into());
            match a.format {
                FindingsFormat::Text => text::findings(&mut text_out(), &shown, style())?,
                FindingsFormat::Json => json::findings(&mut io::stdout().lock(), &shown)?,
            }
            Ok(exit_for(&shown))
        }
        Command::Report(a) => {
            let snaps = load(&a.archives, &a.limits)?;
            let analysed: Vec<Analysed> = snaps.iter().map(Analysed::new).collect();
            let format = a.format.unwrap_or(match &a.output {
                Some(p) if p.ends_with(".md") => ReportFormat::Md,
                Some(p) if p.ends_with(".json") => ReportFormat::Json,
                Some(p) if p != "-" => ReportFormat::Html,
                _ => ReportFormat::Text,
            });
            let mut out = Output::open(&a.output, &a.archives)?;
            let to_terminal = matches!(out, Output::Stdout(_));
            match format {
                ReportFormat::Html => html::report(&mut out, &analysed)?,
                ReportFormat::Json => json::report(&mut out, &analysed)?,
                // Read as text, in a terminal or an editor: control characters shown escaped.
                ReportFormat::Md => markdown::report(&mut curtain_model::TermSafe::new(&mut out, false), &analysed)?,
                ReportFormat::Text => {
                    let st = if to_terminal { style() } else { text::Style::plain() };
                    let mut safe = curtain_model::TermSafe::new(&mut out, st.color);
                    for x in &analysed {
                        text::summary(&mut safe, x, st)?;
                        writeln!(safe)?;
                        text::findings(&mut safe, &x.findings.iter().collect::<Vec<_>>(), st)?;
                    }
                    safe.flush()?;
                }
            }
            out.finish()?;
            Ok(0)
        }
        Command::Timeline(a) => {
            let snaps = load(&a.archives, &a.limits)?;
            let mut rows = Vec::new();
            for s in &snaps {
                let x = Analysed::new(s);
                rows.extend(timeline::rows(&x.ix, &x.findings));
            }
            let rows = timeline::merge(rows);
            let mut out = Output::open(&a.output, &a.archives)?;
            match a.format {
                TimelineFormat::Jsonl => curtain_report::timeline::jsonl(&mut out, &rows)?,
                TimelineFormat::Csv => curtain_report::timeline::csv(&mut out, &rows)?,
            }
            out.finish()?;
            Ok(0)
        }
        Command::Tree(a) => {
            let s = load(std::slice::from_ref(&a.archive), &a.limits)?.remove(0);
            let ix = curtain_analyze::Index::new(&s);
            text::tree(&mut text_out(), &ix)?;
            Ok(0)
        }
        Command::Sockets(a) => {
            let s = load(std::slice::from_ref(&a.archive), &a.limits)?.remove(0);
            let ix = curtain_analyze::Index::new(&s);
            text::sockets(&mut text_out(), &ix)?;
            Ok(0)
        }
        Command::Diff(a) => {
            let mut both = load(&[a.old.clone(), a.new.clone()], &a.limits)?;
            let (old, new) = (both.remove(0), both.remove(0));
            let (o, n) = (Analysed::new(&old), Analysed::new(&new));
            let d = diff(&o.ix, &o.findings, &n.ix, &n.findings);
            match a.format {
                FindingsFormat::Text => text::diff(&mut text_out(), &d, style())?,
                FindingsFormat::Json => {
                    let mut out = io::stdout().lock();
                    serde_json::to_writer_pretty(&mut out, &d)?;
                    writeln!(out)?;
                }
            }
            Ok(if d.is_empty() { 0 } else { 1 })
        }
    }
}

fn main() {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(c) => std::process::exit(c),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            // Messages may quote an archive's or a register's content.
            eprintln!("curtain: {}", curtain_report::term(&e.to_string()));
            std::process::exit(2);
        }
    }
}
