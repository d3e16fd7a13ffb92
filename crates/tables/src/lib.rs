//! From raw reads to the archive's tables: the builder the collector and `curtain reparse`
//! share, so that a table is always a pure function of the raw evidence (a parser fix applies to
//! old archives, and an untouched archive reparses to identical bytes).
//!
//! Apart from curtain-parse, whose parsers turn bytes into values and know nothing of archives.
//! Here: what was read of a process ([`read`]), the read log that records it ([`record`]) and
//! its replay from an archive ([`replay`]), the rows as JSON ([`row`]), and the builder
//! ([`Tables`]) with its steps: [`process`], [`sockets`], [`labels`], writing to a [`sink`].

#![forbid(unsafe_code)]

mod builder;
pub mod containers;
#[doc(hidden)]
pub mod fuzzing;
pub mod labels;
pub mod process;
pub mod read;
pub mod record;
pub mod replay;
pub mod row;
pub mod sink;
pub mod sockets;

pub use builder::Tables;
pub use labels::SSM_AGENT_DIR;
pub use read::{Bytes, ProcFile, ProcessRead, RawProcess, RawResult, LINK_NAMES, PROCESS_LINKS};
pub use sink::{MemorySink, RowSink, Table};

use curtain_model::Clock;
use curtain_parse::{net, proc};

/// Host facts needed to interpret what was read.
#[derive(Debug, Clone)]
pub struct Context {
    pub clock: Clock,
}
