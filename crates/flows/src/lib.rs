//! VPC flow logs joined to the asset register and to snapshots: which task, container and
//! process were behind each address of each flow, at the flow's own time.
//!
//! A flow record names addresses, an interface and a time; the register knows which task held an
//! address over which interval, and a snapshot knows which process held a socket. This crate
//! reads flow logs in every form AWS delivers them (`input`, `format`, `record`, `parquet`),
//! attributes each record (`attribute`), and writes rows and a summary (`output`, `summary`).
//! Past one machine, `parquet_out` writes the register as Parquet and `athena` the SQL that does
//! the same attribution in Athena (or DuckDB) over it.
//! It is a library with no command line: `curtain flows` wires it through [`attribute`] and
//! [`summary`]; docs/FLOWS.md documents the inputs, the output fields and the rules.

// It reads files that anyone may have written: nothing here needs to step outside safe Rust.
#![forbid(unsafe_code)]

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

pub mod athena;
pub mod attribute;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
pub mod input;
pub mod output;
#[cfg(feature = "parquet")]
mod parquet;
#[cfg(feature = "parquet")]
pub mod parquet_out;
pub mod record;
pub mod summary;
pub mod tables;

pub use attribute::{AddressBook, AttributeOptions, Attribution, Attributor, FlowRow, SnapshotIndex, SnapshotMatch};
pub use format::{Column, Layout, DEFAULT_FORMAT};
pub use input::{read_bytes, read_file, read_paths, read_stream, Collect, Problem, ReadOptions, ReadStats, Sink};
pub use output::{CsvWriter, JsonlWriter, RowSink};
#[cfg(feature = "parquet")]
pub use parquet_out::ParquetRowWriter;
pub use record::{Field, FlowRecord};
pub use summary::{default_suspicious_ports, suspicious_ports, Summary};

/// How a run reads and attributes.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub read: ReadOptions,
    pub attribute: AttributeOptions,
}

/// Indexes loaded snapshots (`curtain_archive::load_snapshot`) for [`attribute`] and [`summary`].
pub fn index_snapshots(snapshots: &[curtain_model::Snapshot]) -> Vec<SnapshotIndex> {
    snapshots.iter().map(SnapshotIndex::new).collect()
}

/// Reads every input, attributes each record, and hands each row to `out` as it is read; each
/// line that could not be read goes to `problems` (and is counted). Only a missing input or a
/// failing `out` is an error.
pub fn attribute(
    inputs: &[PathBuf],
    opts: &Options,
    book: &AddressBook,
    snapshots: &[SnapshotIndex],
    out: &mut dyn RowSink,
    problems: &mut dyn FnMut(&Problem),
) -> io::Result<ReadStats> {
    let attributor = Attributor { book, snapshots, opts: opts.attribute.clone() };
    let mut sink = RowsSink { attributor: &attributor, out, problems, error: None, file: Arc::from("") };
    let stats = read_paths(inputs, &opts.read, &mut sink)?;
    match sink.error {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

/// [`attribute`] into a [`Summary`]; `suspicious_ports` from [`default_suspicious_ports`] or
/// [`suspicious_ports`] of a responder's rules.
pub fn summary(
    inputs: &[PathBuf],
    opts: &Options,
    book: &AddressBook,
    snapshots: &[SnapshotIndex],
    suspicious_ports: Vec<u16>,
    problems: &mut dyn FnMut(&Problem),
) -> io::Result<Summary> {
    let mut s = Summary::new(suspicious_ports);
    let mut kept = Vec::new();
    let stats = attribute(inputs, opts, book, snapshots, &mut s, &mut |p: &Problem| {
        if kept.len() < summary::KEPT_PROBLEMS {
            kept.push(p.clone());
        }
        problems(p)
    })?;
    kept.iter().for_each(|p| s.problem(p));
    s.finish(stats);
    Ok(s)
}

/// Records to rows to `out`; after the first error of `out` nothing more is written (the error
/// is returned once the inputs are read).
struct RowsSink<'a, 'b> {
    attributor: &'a Attributor<'a>,
    out: &'b mut dyn RowSink,
    problems: &'b mut dyn FnMut(&Problem),
    error: Option<io::Error>,
    /// The name of the file being read, shared by its rows.
    file: Arc<str>,
}

impl Sink for RowsSink<'_, '_> {
    fn record(&mut self, file: &str, line: u64, record: FlowRecord) {
        if self.error.is_some() {
            return;
        }
        if *self.file != *file {
            self.file = Arc::from(file);
        }
        let row = self.attributor.row_in(record, self.file.clone(), line);
        if let Err(e) = self.out.row(&row) {
            self.error = Some(e);
        }
    }

    fn problem(&mut self, problem: Problem) {
        (self.problems)(&problem)
    }
}
