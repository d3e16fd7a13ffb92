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

/// The findings of CloudTrail `files` against the register `db`, with what could not be read
/// said on standard error; and how many records were read and failed calls skipped.
fn run(files: &[PathBuf], db: &str, max_input: u64) -> io::Result<(Vec<curtain_model::Finding>, usize, u64)> {
    let path = std::path::Path::new(db);
    if !path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{db}: no register (--db; `curtain inventory sync` or `curtain ingest` make one)"),
        ));
    }
    let reg = curtain_store::Register::open(path).map_err(|e| io::Error::other(format!("{db}: {e}")))?;
    let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
    let events = curtain_hunt::read(&paths, max_input)?;
    for e in &events.errors {
        eprintln!("curtain: {}", curtain_model::term(e));
    }
    let rules = curtain_analyze::rules::Rules::builtin();
    let found = curtain_hunt::hunt(&events.events, &reg, &rules).map_err(io::Error::other)?;
    Ok((found, events.events.len(), events.failed_calls))
}

/// The findings alone, for the timeline.
pub(crate) fn findings(files: &[PathBuf], db: &str, max_input: u64) -> io::Result<Vec<curtain_model::Finding>> {
    run(files, db, max_input).map(|(f, _, _)| f)
}

pub(crate) fn hunt(a: &HuntArgs) -> io::Result<i32> {
    let (found, read, failed) = run(&a.files, &a.db.db, a.limit.max_input)?;
    let shown = curtain_analyze::at_least(&found, a.threshold.min_severity);
    match a.format {
        FindingsFormat::Text => text::findings(&mut text_out(), &shown, style())?,
        FindingsFormat::Json => json::findings(&mut io::stdout().lock(), &shown)?,
    }
    eprintln!(
        "curtain: {} CloudTrail record(s) read ({} failed call(s) skipped), {} finding(s)",
        read,
        failed,
        shown.len()
    );
    Ok(exit_for(&shown))
}
