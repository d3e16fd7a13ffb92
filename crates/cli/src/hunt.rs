//! `curtain hunt`: CloudTrail read against the asset register (curtain-hunt), its findings shown
//! as the process detectors' are.

use crate::args::{DbArg, FindingsFormat, InputLimit, Threshold};
use crate::output::{exit_for, style, text_out};
use clap::Args;
use curtain_report::{json, text};
use std::io;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct HuntArgs {
    /// CloudTrail files: the S3 delivery (`.json.gz`), JSON, JSON lines, CloudWatch Logs exports.
    #[arg(value_name = "FILE", required = true)]
    pub(crate) files: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) db: DbArg,
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: FindingsFormat,
    #[command(flatten)]
    pub(crate) threshold: Threshold,
    #[command(flatten)]
    pub(crate) limit: InputLimit,
}

pub(crate) fn hunt(a: &HuntArgs) -> io::Result<i32> {
    let db = std::path::Path::new(&a.db.db);
    if !db.exists() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: no register (--db; `curtain inventory sync` or `curtain ingest` make one)", a.db.db),
        ));
    }
    let reg = curtain_store::Register::open(db).map_err(|e| io::Error::other(format!("{}: {e}", a.db.db)))?;
    let paths: Vec<&std::path::Path> = a.files.iter().map(PathBuf::as_path).collect();
    let events = curtain_hunt::read(&paths, a.limit.max_input)?;
    for e in &events.errors {
        eprintln!("curtain: {}", curtain_model::term(e));
    }
    let rules = curtain_analyze::rules::Rules::builtin();
    let found = curtain_hunt::hunt(&events.events, &reg, &rules).map_err(io::Error::other)?;
    let shown = curtain_analyze::at_least(&found, a.threshold.min_severity);
    match a.format {
        FindingsFormat::Text => text::findings(&mut text_out(), &shown, style())?,
        FindingsFormat::Json => json::findings(&mut io::stdout().lock(), &shown)?,
    }
    eprintln!(
        "curtain: {} CloudTrail record(s) read ({} failed call(s) skipped), {} finding(s)",
        events.events.len(),
        events.failed_calls,
        shown.len()
    );
    Ok(exit_for(&shown))
}
