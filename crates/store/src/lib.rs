//! The asset register: ECS tasks, their containers, their network attachments and ENIs, and the
//! addresses those held, each with when it was first and last known and from which sources.
//! SQLite (one file, or in memory for tests), numbered migrations, times as integer nanoseconds
//! since the epoch, UTC. History is never deleted: a task missing from a later sync keeps its
//! rows, and feeding the same facts twice changes nothing.
//!
//! An address's holder is found by joining ENI -> attachment -> task: a sync and a task state
//! change event give all three at once (observed); CloudTrail gives the ENI and its attachment id
//! from CreateNetworkInterface, and the task and that attachment id from RunTask (inferred).
//!
//! `schema` keeps the tables (migrations under `migrations/`), `write` takes facts in, `query`
//! answers; this file only opens the register.

// It reads registers that others may have written: nothing here needs to step outside safe Rust.
#![forbid(unsafe_code)]

use rusqlite::Connection;

mod error;
mod query;
mod schema;
mod write;

pub use error::Error;
pub use query::{HeldInterval, TaskListing};

/// One register, open: a file, or memory. Writes take `&mut self`, so one writer at a time
/// within a process; other processes may read while it writes (WAL).
pub struct Register {
    conn: Connection,
}

/// A time as SQLite keeps it (signed nanoseconds). Every time the register is given was
/// checked on input against `curtain_model::MAX_TIME_NS`, i64's last instant; none wraps here.
fn sql_ns(x: u64) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

fn ns(v: Option<u64>) -> Option<i64> {
    v.map(sql_ns)
}

impl Register {
    /// Opens (creating) the register in a file and brings its schema up to date.
    pub fn open(path: &std::path::Path) -> Result<Register, Error> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::with(conn)
    }

    pub fn in_memory() -> Result<Register, Error> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(mut conn: Connection) -> Result<Register, Error> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Register { conn })
    }
}
