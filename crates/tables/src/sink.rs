//! Where rows go: the archive's tables (the one list of them, [`Table`]) and the sink that
//! receives each row as it is made.

/// The tables of an archive, in archive order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Processes,
    Fds,
    Maps,
    Mounts,
    Errors,
    Sockets,
    Containers,
}

impl Table {
    pub const ALL: [Table; 7] =
        [Table::Processes, Table::Fds, Table::Maps, Table::Mounts, Table::Errors, Table::Sockets, Table::Containers];
    /// Member name of the table's first part, without `.jsonl`; further parts are
    /// `<base>.1.jsonl`, `<base>.2.jsonl`...
    pub fn base(self) -> &'static str {
        match self {
            Table::Processes => "tables/processes",
            Table::Fds => "tables/fds",
            Table::Maps => "tables/maps",
            Table::Mounts => "tables/mounts",
            Table::Errors => "tables/errors",
            Table::Sockets => "tables/sockets",
            Table::Containers => "tables/containers",
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where the rows go, one JSON line at a time (without its newline).
pub trait RowSink {
    fn row(&mut self, table: Table, line: &[u8]);
}

/// Keeps every table in memory (reparse, tests).
#[derive(Debug, Default)]
pub struct MemorySink {
    pub tables: [Vec<u8>; 7],
}

impl RowSink for MemorySink {
    fn row(&mut self, table: Table, line: &[u8]) {
        let t = &mut self.tables[table.index()];
        t.extend_from_slice(line);
        t.push(b'\n');
    }
}

impl MemorySink {
    /// The rows of a table, parsed back.
    pub fn rows<T: serde::de::DeserializeOwned>(&self, table: Table) -> Vec<T> {
        self.tables[table.index()]
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("a row this crate wrote"))
            .collect()
    }
}
