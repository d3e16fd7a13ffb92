//! What can go wrong with the register, as a type callers can match on rather than a string:
//! SQLite failing a statement, or a migration failing (named, since it leaves the register at
//! the version before it and whoever reads the message needs to know which one to look at).

use std::fmt;

#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// SQLite could not open the register or run a statement.
    Sqlite(rusqlite::Error),
    /// A migration failed and was rolled back: the register stays at `version - 1`.
    Migration { version: u32, name: &'static str, source: rusqlite::Error },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // SQLite's own words, as callers have always shown them.
            Error::Sqlite(e) => e.fmt(f),
            Error::Migration { name, source, .. } => write!(f, "migration {name}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sqlite(e) | Error::Migration { source: e, .. } => Some(e),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::Sqlite(e)
    }
}
