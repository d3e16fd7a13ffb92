//! VPC flow logs joined to the asset register and to snapshots: which task, container and
//! process were behind each address of each flow, at the flow's own time.
//!
//! A flow record names addresses, an interface and a time; the register knows which task held an
//! address over which interval, and a snapshot knows which process held a socket. This crate
//! reads flow logs in every form AWS delivers them (`input`, `format`, `record`, `parquet`),
//! attributes each record (`attribute`), and writes rows and a summary (`output`, `summary`).
//! It is a library with no command line: `curtain flows` wires it.

// It reads files that anyone may have written: nothing here needs to step outside safe Rust.
#![forbid(unsafe_code)]

pub mod format;
pub mod input;
#[cfg(feature = "parquet")]
mod parquet;
pub mod record;

pub use format::{Column, Layout, DEFAULT_FORMAT};
pub use input::{read_bytes, read_file, read_paths, read_stream, Collect, Problem, ReadOptions, ReadStats, Sink};
pub use record::{Field, FlowRecord};
