//! `curtain flows`: VPC flow logs attributed to the task, container and process behind each
//! address (curtain-flows), the register and the snapshots given once for every file.

use clap::{Args, Subcommand, ValueEnum};
use curtain_archive::cli::LimitArgs;
use curtain_flows::{AddressBook, CsvWriter, JsonlWriter, Layout, Options, Problem, ReadStats};
use std::io::{self, Write};
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum FlowsCommand {
    /// One row per flow record, with what held each address at the record's time.
    #[command(
        after_help = "Examples:\n  curtain flows attribute AWSLogs/ --db register.db -o flows.jsonl\n  curtain flows attribute flows.log.gz --db register.db --snapshot acq/prod_0f3c_app.tar.zst --output csv\n\nRow fields: docs/FLOWS.md. Exit 0 when it ran (malformed lines are reported and counted), 2 on an error."
    )]
    Attribute(AttributeArgs),
    /// Per task and per unattributed address: records, bytes, peers, rejected flows, suspicious
    /// ports, and the process behind them where a snapshot knows it.
    #[command(
        after_help = "Examples:\n  curtain flows summary AWSLogs/ --db register.db\n  curtain flows summary f.log --db register.db --format md"
    )]
    Summary(SummaryArgs),
    /// The Athena SQL for the same attribution past one machine: the flow-log table (projected
    /// over AWSLogs/{account}/vpcflowlogs/{region}/YYYY/MM/DD), the register's tables over
    /// `inventory export --parquet`, and the query (docs/FLOWS.md, "Past one machine").
    #[command(
        after_help = "Examples:\n  curtain flows athena --location s3://my-flow-logs/vpc --register-parquet s3://my-bucket/curtain-register\n  curtain flows athena --table prod_flows --log-format '${version} ${account-id} ...' --accounts 111122223333 --regions us-east-1,eu-west-1\n\nEach statement follows a line `-- curtain: NAME`."
    )]
    Athena(AthenaArgs),
}

#[derive(Args)]
pub(crate) struct AthenaArgs {
    /// The flow-log table's name.
    #[arg(long, value_name = "NAME", default_value = "vpc_flow_logs")]
    pub(crate) table: String,
    /// Where the flow log delivers: s3://BUCKET/PREFIX above AWSLogs/.
    #[arg(long, value_name = "S3", default_value = "s3://BUCKET/PREFIX")]
    pub(crate) location: String,
    /// Where `curtain inventory export --parquet DIR` was copied.
    #[arg(long = "register-parquet", value_name = "S3", default_value = "s3://BUCKET/curtain-register")]
    pub(crate) register: String,
    /// The flow log's format string, as given to AWS (the text table's columns, in order);
    /// default: AWS's default (version 2) format.
    #[arg(long, value_name = "FORMAT")]
    pub(crate) log_format: Option<String>,
    /// Accounts the partitions are projected over (default: each query names its own).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub(crate) accounts: Vec<String>,
    /// Regions the partitions are projected over (default: each query names its own).
    #[arg(long, value_name = "REGION,...", value_delimiter = ',')]
    pub(crate) regions: Vec<String>,
    /// The first day of the projection.
    #[arg(long, value_name = "YYYY/MM/DD", default_value = "2020/01/01")]
    pub(crate) first_day: String,
}

#[derive(Args)]
pub(crate) struct Inputs {
    /// Flow log files or folders (walked): S3 text (plain or gzip), CloudWatch Logs exports and
    /// subscription payloads, Parquet.
    #[arg(value_name = "FILE", required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// The asset register (from `inventory sync` and `ingest`).
    #[arg(long, value_name = "FILE", default_value = "curtain-register.db")]
    pub(crate) db: PathBuf,
    /// Snapshots whose sockets name the process behind a flow (repeatable).
    #[arg(long = "snapshot", value_name = "ARCHIVE")]
    pub(crate) snapshots: Vec<String>,
    /// The flow log's format string, as given to AWS (`${version} ${account-id} ...`), for lines
    /// with no header (CloudWatch Logs); default: AWS's default (version 2) format.
    #[arg(long, value_name = "FORMAT")]
    pub(crate) log_format: Option<String>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RowFormat {
    Jsonl,
    Csv,
    /// The CSV's columns, typed, in one Parquet file (needs -o).
    Parquet,
}

#[derive(Args)]
pub(crate) struct AttributeArgs {
    #[command(flatten)]
    pub(crate) inputs: Inputs,
    #[arg(long, value_enum, default_value = "jsonl")]
    pub(crate) output: RowFormat,
    /// Write the rows to FILE (never replaced) instead of standard output.
    #[arg(short = 'o', value_name = "FILE")]
    pub(crate) file: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum SummaryFormat {
    Text,
    Json,
    Md,
}

#[derive(Args)]
pub(crate) struct SummaryArgs {
    #[command(flatten)]
    pub(crate) inputs: Inputs,
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: SummaryFormat,
    #[command(flatten)]
    pub(crate) rules: crate::args::RulesArg,
}

fn usage(m: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m.into())
}

/// The register, the snapshots and the options, read once.
fn prepare(i: &Inputs) -> io::Result<(AddressBook, Vec<curtain_flows::SnapshotIndex>, Options)> {
    if !i.db.exists() {
        return Err(usage(format!(
            "{}: no register (--db; `curtain inventory sync` or `curtain ingest` make one)",
            i.db.display()
        )));
    }
    let reg = curtain_store::Register::open(&i.db).map_err(|e| io::Error::other(format!("{}: {e}", i.db.display())))?;
    let book = AddressBook::load(&reg).map_err(|e| io::Error::other(format!("{}: {e}", i.db.display())))?;
    let snaps = crate::output::load(&i.snapshots, &i.limits)?;
    let mut opts = Options::default();
    if let Some(f) = &i.log_format {
        opts.read.log_format = Layout::parse_format(f).map_err(|e| usage(format!("--log-format: {e}")))?;
    }
    Ok((book, curtain_flows::index_snapshots(&snaps), opts))
}

/// Says each malformed line on standard error (the first hundred; then only their count).
struct Problems {
    shown: u64,
}

impl Problems {
    fn say(&mut self, p: &Problem) {
        self.shown += 1;
        if self.shown <= 100 {
            eprintln!("curtain: {}:{}: {}", curtain_model::term(&p.file), p.line, curtain_model::term(&p.reason));
        } else if self.shown == 101 {
            eprintln!("curtain: more lines could not be read; they are counted below");
        }
    }
}

fn said(stats: &ReadStats) -> String {
    format!(
        "{} file(s), {} record(s) ({} NODATA, {} SKIPDATA), {} line(s) malformed and skipped, {} file(s) unreadable",
        stats.files, stats.records, stats.nodata, stats.skipdata, stats.malformed, stats.unreadable
    )
}

pub(crate) fn flows(cmd: &FlowsCommand) -> io::Result<i32> {
    match cmd {
        FlowsCommand::Attribute(a) => attribute(a),
        FlowsCommand::Summary(a) => summary(a),
        FlowsCommand::Athena(a) => athena(a),
    }
}

fn athena(a: &AthenaArgs) -> io::Result<i32> {
    let layout = match &a.log_format {
        Some(f) => Layout::parse_format(f).map_err(|e| usage(format!("--log-format: {e}")))?,
        None => Layout::v2(),
    };
    let o = curtain_flows::athena::AthenaOptions {
        table: a.table.clone(),
        location: a.location.clone(),
        register: a.register.clone(),
        layout,
        accounts: a.accounts.clone(),
        regions: a.regions.clone(),
        first_day: a.first_day.clone(),
    };
    let sql = curtain_flows::athena::script(&o).map_err(usage)?;
    let mut out = io::stdout().lock();
    out.write_all(sql.as_bytes())?;
    out.flush()?;
    Ok(0)
}

fn attribute(a: &AttributeArgs) -> io::Result<i32> {
    if matches!(a.output, RowFormat::Parquet) && a.file.is_none() {
        return Err(usage("--output parquet writes a file: give it with -o FILE"));
    }
    let (book, snaps, opts) = prepare(&a.inputs)?;
    let mut problems = Problems { shown: 0 };
    let inputs: Vec<String> = a.inputs.files.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).chain([a.inputs.db.to_str().unwrap_or("")]).collect();
    let run = |w: &mut (dyn Write + Send), problems: &mut Problems| -> io::Result<ReadStats> {
        let mut say = |p: &Problem| problems.say(p);
        match a.output {
            RowFormat::Jsonl => {
                let mut out = JsonlWriter::new(io::BufWriter::new(w));
                let stats = curtain_flows::attribute(&a.inputs.files, &opts, &book, &snaps, &mut out, &mut say)?;
                out.w.flush()?;
                Ok(stats)
            }
            RowFormat::Csv => {
                let mut out = CsvWriter::new(io::BufWriter::new(w));
                let stats = curtain_flows::attribute(&a.inputs.files, &opts, &book, &snaps, &mut out, &mut say)?;
                out.finish()?.flush()?;
                Ok(stats)
            }
            RowFormat::Parquet => {
                let mut out = curtain_flows::ParquetRowWriter::new(io::BufWriter::new(w))?;
                let stats = curtain_flows::attribute(&a.inputs.files, &opts, &book, &snaps, &mut out, &mut say)?;
                out.finish()?.flush()?;
                Ok(stats)
            }
        }
    };
    let stats = match &a.file {
        Some(path) => {
            let mut f = curtain_archive::output::NewFile::create(path, &inputs)?;
            let stats = run(&mut f, &mut problems)?;
            f.commit()?;
            stats
        }
        None => run(&mut io::stdout(), &mut problems)?,
    };
    eprintln!("curtain: {}", said(&stats));
    Ok(0)
}

fn summary(a: &SummaryArgs) -> io::Result<i32> {
    let (book, snaps, opts) = prepare(&a.inputs)?;
    let ports = match &a.rules.rules {
        Some(_) => curtain_flows::suspicious_ports(&a.rules.load()?),
        None => curtain_flows::default_suspicious_ports(),
    };
    let mut problems = Problems { shown: 0 };
    let s = curtain_flows::summary(&a.inputs.files, &opts, &book, &snaps, ports, &mut |p: &Problem| problems.say(p))?;
    let mut out = crate::output::text_out();
    match a.format {
        SummaryFormat::Text => s.render_text(&mut out)?,
        SummaryFormat::Md => s.render_md(&mut out)?,
        SummaryFormat::Json => s.render_json(&mut out)?,
    }
    out.flush()?;
    Ok(0)
}
