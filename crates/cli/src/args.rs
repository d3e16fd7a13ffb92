//! What a user types: every subcommand and its arguments, with their help texts. Only
//! definitions; each command family's module runs them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use curtain_archive::cli::{LimitArgs, ReparseArgs, VerifyArgs};
use curtain_collect::cli::CollectArgs;
use curtain_model::Severity;

#[derive(Parser)]
#[command(
    name = "curtain",
    version,
    about = "Live response for containers: snapshot /proc as evidence, and analyse it"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Collect this machine or container, analyse it, print the findings, write the archive and
    /// report.html.
    #[command(
        after_help = "Examples:\n  curtain triage\n  curtain triage -o /tmp/ir --no-environ\n  curtain triage --min-severity high"
    )]
    Triage(TriageArgs),
    /// Snapshot running containers from inside, through docker exec, kubectl exec or ECS Exec:
    /// one verified archive each, and acquisition.jsonl (chain of custody).
    #[command(subcommand)]
    Acquire(crate::acquire::AcquireCommand),
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
    /// Compare replicas of one service (or containers of one image): what only a minority of
    /// them has, each named with the archive it came from.
    #[command(
        after_help = "Examples:\n  curtain compare web-1.tar.zst web-2.tar.zst web-3.tar.zst\n  curtain compare acquisition-*/*.tar.zst --format json\n\nArchives are grouped by ECS task definition family and container, else by image; --one-group\ncompares them all as one group. Exit 1 when a group has outliers (two archives: when they differ)."
    )]
    Compare(CompareArgs),
    /// List the detectors: id, severity, ATT&CK techniques and what each finding means.
    Detectors(RulesArg),
    /// Feed the asset register with history: EventBridge task state changes or CloudTrail logs.
    #[command(
        subcommand,
        after_help = "Examples:\n  curtain ingest events ecs-events.jsonl --db register.db\n  curtain ingest cloudtrail AWSLogs/111122223333/CloudTrail/us-west-2/2026/11/29/*.json.gz"
    )]
    Ingest(IngestCommand),
    /// The live inventory of ECS across accounts and regions, into the asset register.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// VPC flow logs tied to the task, container and process behind each address (docs/FLOWS.md).
    #[command(subcommand)]
    Flows(crate::flows::FlowsCommand),
    /// Findings from CloudTrail joined to the register: task credentials used elsewhere, ECS
    /// Exec sessions, overridden and privileged tasks, unusual deployers.
    #[command(
        after_help = "Examples:\n  curtain hunt AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/29/*.json.gz --db register.db\n  curtain hunt trail.json --format json --min-severity high\n\nExit 1 when there are findings, 0 when none, 2 on an error."
    )]
    Hunt(crate::hunt::HuntArgs),
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

/// A responder's own detection rules (docs/RULES.md), over the built-in ones.
#[derive(Args)]
pub(crate) struct RulesArg {
    /// Also load every *.toml rule file in DIR (new rules, or entries added to built-in ones).
    #[arg(long, value_name = "DIR")]
    pub(crate) rules: Option<std::path::PathBuf>,
}

impl RulesArg {
    /// The built-in rules, with DIR's merged over them; a bad file is an error naming it.
    pub(crate) fn load(&self) -> std::io::Result<curtain_analyze::rules::Rules> {
        use curtain_analyze::rules::Rules;
        match &self.rules {
            None => Ok(Rules::builtin()),
            Some(dir) => {
                Rules::load_dir(dir).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))
            }
        }
    }
}

#[derive(Args)]
pub(crate) struct DbArg {
    /// The register (SQLite), created if missing.
    #[arg(long, value_name = "FILE", default_value = "curtain-register.db")]
    pub(crate) db: String,
}

#[derive(Args)]
pub(crate) struct InputLimit {
    /// Largest input file, once decompressed (a gzip bomb stops here).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = curtain_archive::parse_size)]
    pub(crate) max_input: u64,
}

#[derive(Subcommand)]
pub(crate) enum IngestCommand {
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
pub(crate) enum InventoryCommand {
    /// Sync clusters, tasks (running and recently stopped), containers and task ENIs with their
    /// IPs into the register. Run it often: ECS lists stopped tasks for about an hour only.
    #[command(
        after_help = "Examples:\n  curtain inventory sync                                  # this account, every enabled region\n  curtain inventory sync --org --role CurtainReadOnly --regions us-east-1,eu-west-1\n  curtain inventory sync --accounts 111122223333,444455556666 --role CurtainReadOnly\n\nCredentials and endpoints come from the standard AWS configuration (environment, profiles,\nSSO, instance or task role, AWS_ENDPOINT_URL). The role policy: docs/AWS.md."
    )]
    Sync(SyncArgs),
    /// Write the register as Parquet: its address intervals (as `whois --at` reckons them), its
    /// tasks and their containers, for Athena or DuckDB to join flow logs to (docs/FLOWS.md).
    #[command(
        after_help = "Examples:\n  curtain inventory export --parquet register-parquet/ --db register.db\n  aws s3 cp --recursive register-parquet/ s3://BUCKET/curtain-register/\n\nWrites DIR/intervals/intervals.parquet, DIR/tasks/tasks.parquet and\nDIR/containers/containers.parquet. DIR must not exist or be empty: nothing is ever replaced."
    )]
    Export(ExportArgs),
}

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The folder to write (created; refused when it holds anything).
    #[arg(long, value_name = "DIR", required = true)]
    pub(crate) parquet: std::path::PathBuf,
    /// The register (it must exist).
    #[arg(long, value_name = "FILE", default_value = "curtain-register.db")]
    pub(crate) db: std::path::PathBuf,
}

#[derive(Args)]
pub(crate) struct SyncArgs {
    /// Every ACTIVE account of the AWS Organization (ListAccounts).
    #[arg(long, conflicts_with = "accounts")]
    pub(crate) org: bool,
    /// These accounts (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub(crate) accounts: Vec<String>,
    /// Role to assume in each account (a name, or a full ARN).
    #[arg(long, value_name = "NAME")]
    pub(crate) role: Option<String>,
    /// These regions (default: every region enabled in each account).
    #[arg(long, value_delimiter = ',', value_name = "R,...")]
    pub(crate) regions: Vec<String>,
    /// How many account × region syncs run at once.
    #[arg(long, default_value = "8")]
    pub(crate) concurrency: usize,
    #[command(flatten)]
    pub(crate) db: DbArg,
}

#[derive(Args)]
pub(crate) struct WhoisArgs {
    pub(crate) ip: String,
    /// Only the holder at this time (RFC 3339, e.g. 2026-11-29T10:15:00Z).
    #[arg(long, value_name = "TIME")]
    pub(crate) at: Option<String>,
    #[command(flatten)]
    pub(crate) db: DbArg,
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: FindingsFormat,
}

#[derive(Args)]
pub(crate) struct Threshold {
    /// Findings below this are not shown and do not set the exit code.
    #[arg(long, value_enum, default_value = "low")]
    pub(crate) min_severity: Severity,
}

#[derive(Args)]
pub(crate) struct TriageArgs {
    #[command(flatten)]
    pub(crate) rules: RulesArg,
    /// Folder for the archive, report.html, findings.json and timeline.jsonl
    /// (default: curtain-HOST-UTCTIME in the current directory).
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: Option<String>,
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub(crate) proc_root: String,
    /// Also keep each executable's bytes, capped at MAX_BYTES (default 64M).
    #[arg(long, value_name = "MAX_BYTES", num_args = 0..=1, require_equals = true,
          default_missing_value = "64M", value_parser = curtain_archive::parse_size)]
    pub(crate) carve_exe: Option<u64>,
    /// Leave process environments out of the archive (then LD_PRELOAD cannot be checked).
    #[arg(long)]
    pub(crate) no_environ: bool,
    #[command(flatten)]
    pub(crate) threshold: Threshold,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CompareFormat {
    Text,
    Json,
    Md,
}

#[derive(Args)]
pub(crate) struct CompareArgs {
    #[arg(required = true, num_args = 2..)]
    pub(crate) archives: Vec<String>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// Compare every archive with every other, whatever its task definition or image.
    #[arg(long)]
    pub(crate) one_group: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: CompareFormat,
}

/// What the analysis commands read: archives, within the reading limits, judged by the rules.
#[derive(Args)]
pub(crate) struct Archives {
    #[command(flatten)]
    pub(crate) rules: RulesArg,
    #[arg(required = true)]
    pub(crate) archives: Vec<String>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FindingsFormat {
    Text,
    Json,
}

#[derive(Args)]
pub(crate) struct FindingsArgs {
    #[command(flatten)]
    pub(crate) input: Archives,
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: FindingsFormat,
    #[command(flatten)]
    pub(crate) threshold: Threshold,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ReportFormat {
    Html,
    Md,
    Json,
    Text,
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    pub(crate) input: Archives,
    /// Default: html when writing to a file, text on a terminal.
    #[arg(long, value_enum)]
    pub(crate) format: Option<ReportFormat>,
    /// Output file (default: standard output).
    #[arg(short, long)]
    pub(crate) output: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum TimelineFormat {
    Jsonl,
    Csv,
}

#[derive(Args)]
pub(crate) struct TimelineArgs {
    #[command(flatten)]
    pub(crate) input: Archives,
    #[arg(long, value_enum, default_value = "jsonl")]
    pub(crate) format: TimelineFormat,
    /// Also CloudTrail files: `curtain hunt`'s findings (against the register, --db) on the same
    /// timeline as the snapshots' processes and findings.
    #[arg(long = "cloudtrail", value_name = "FILE")]
    pub(crate) cloudtrail: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) db: DbArg,
    #[arg(short, long)]
    pub(crate) output: Option<String>,
}

#[derive(Args)]
pub(crate) struct OneArchive {
    pub(crate) archive: String,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

#[derive(Args)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    pub(crate) rules: RulesArg,
    pub(crate) old: String,
    pub(crate) new: String,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: FindingsFormat,
}
