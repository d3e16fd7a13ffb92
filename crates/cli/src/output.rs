//! Where output goes and how it is made safe: text for a terminal through the control-character
//! filter, files that never replace anything, archives loaded within the reading limits.

use curtain_archive::cli::LimitArgs;
use curtain_model::{Finding, Snapshot};
use curtain_report::text;
use std::io::{self, IsTerminal, Write};

pub(crate) fn style() -> text::Style {
    text::Style { color: io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() }
}

pub(crate) fn load(paths: &[String], limits: &LimitArgs) -> io::Result<Vec<Snapshot>> {
    let limits = limits.limits();
    paths.iter().map(|p| curtain_archive::load_snapshot_with(p, &limits)).collect()
}

/// Standard output for text a person reads: control characters from the evidence are shown
/// escaped, whichever field they came from (colours only our own, on a terminal).
pub(crate) fn text_out() -> curtain_model::TermSafe<io::StdoutLock<'static>> {
    curtain_model::TermSafe::new(io::stdout().lock(), style().color)
}

/// Where a command's output goes: standard output, or a new file that replaces nothing and
/// appears under its name only when complete.
pub(crate) enum Output {
    Stdout(io::BufWriter<io::StdoutLock<'static>>),
    File(io::BufWriter<curtain_archive::output::NewFile>),
}

impl Output {
    /// `inputs`: the command's own input files, which the output may not name.
    pub(crate) fn open(path: &Option<String>, inputs: &[String]) -> io::Result<Output> {
        Ok(match path {
            Some(p) if p != "-" => {
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                Output::File(io::BufWriter::new(curtain_archive::output::NewFile::create(p, &inputs)?))
            }
            _ => Output::Stdout(io::BufWriter::new(io::stdout().lock())),
        })
    }

    /// Flushes, and gives a file its final name.
    pub(crate) fn finish(self) -> io::Result<()> {
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

pub(crate) fn exit_for(findings: &[&Finding]) -> i32 {
    if findings.is_empty() {
        0
    } else {
        1
    }
}

pub(crate) fn spinner(msg: &str) -> indicatif::ProgressBar {
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
