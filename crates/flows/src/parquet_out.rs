//! Parquet out, through the `parquet` crate's low-level column writer (no Arrow): the register's
//! address intervals, tasks and containers for `curtain inventory export --parquet` (what Athena
//! or DuckDB joins flow logs to, docs/FLOWS.md "Past one machine"), and the rows of
//! `curtain flows attribute --output parquet`, flat as the CSV has them.
//!
//! Rows are kept a row group at a time ([`ROW_GROUP_ROWS`]) and written column by column, so
//! memory stays flat however many rows come. Every column is optional (null is null, not an empty
//! string), text is `BYTE_ARRAY (UTF8)` (Athena's `string`), integers `INT64` (`bigint`), flags
//! `BOOLEAN`; pages are Snappy-compressed, which every reader takes.

use std::io::{self, Write};
use std::sync::Arc;

use curtain_store::{HeldInterval, TaskListing};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::attribute::{Attribution, FlowRow};
use crate::output::{csv_cells, csv_columns, RowSink};
use crate::record::Field;
pub use crate::tables::{Kind, CONTAINER_COLUMNS, INTERVAL_COLUMNS, TASK_COLUMNS};

/// Rows kept in memory before they are written as one row group.
pub const ROW_GROUP_ROWS: usize = 8 * 1024;

/// One cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
}

impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Cell {
        v.map_or(Cell::Null, Cell::Text)
    }
}

impl From<Option<i64>> for Cell {
    fn from(v: Option<i64>) -> Cell {
        v.map_or(Cell::Null, Cell::Int)
    }
}

enum Column {
    Text(Vec<ByteArray>, Vec<i16>),
    Int(Vec<i64>, Vec<i16>),
    Bool(Vec<bool>, Vec<i16>),
}

fn perr(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(format!("Parquet: {e}"))
}

/// A Parquet file being written, a row group at a time.
pub struct ParquetTable<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    kinds: Vec<Kind>,
    columns: Vec<Column>,
    rows: usize,
}

impl<W: Write + Send> ParquetTable<W> {
    /// Starts a file of the message `name` with these columns, in this order.
    pub fn new(w: W, name: &str, columns: &[(&str, Kind)]) -> io::Result<ParquetTable<W>> {
        let mut schema = format!("message {name} {{\n");
        for (c, k) in columns {
            if !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("a column name Parquet takes: {c:?}")));
            }
            schema.push_str(match k {
                Kind::Text => "  OPTIONAL BYTE_ARRAY ",
                Kind::Int => "  OPTIONAL INT64 ",
                Kind::Bool => "  OPTIONAL BOOLEAN ",
            });
            schema.push_str(c);
            schema.push_str(if *k == Kind::Text { " (UTF8);\n" } else { ";\n" });
        }
        schema.push('}');
        let schema = parquet::schema::parser::parse_message_type(&schema).map_err(perr)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(false)
            .set_offset_index_disabled(true)
            .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
            .set_created_by(format!("curtain {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = SerializedFileWriter::new(w, Arc::new(schema), Arc::new(props)).map_err(perr)?;
        let kinds: Vec<Kind> = columns.iter().map(|c| c.1).collect();
        let mut t = ParquetTable { writer, kinds, columns: Vec::new(), rows: 0 };
        t.columns = t.empty_columns();
        Ok(t)
    }

    fn empty_columns(&self) -> Vec<Column> {
        self.kinds
            .iter()
            .map(|k| match k {
                Kind::Text => Column::Text(Vec::new(), Vec::new()),
                Kind::Int => Column::Int(Vec::new(), Vec::new()),
                Kind::Bool => Column::Bool(Vec::new(), Vec::new()),
            })
            .collect()
    }

    /// Adds a row: one cell per column, of the column's kind (or null).
    pub fn push(&mut self, cells: Vec<Cell>) -> io::Result<()> {
        if cells.len() != self.columns.len() {
            return Err(io::Error::other(format!("{} cells for {} columns", cells.len(), self.columns.len())));
        }
        let fits = |k: &Kind, c: &Cell| {
            matches!(
                (k, c),
                (_, Cell::Null) | (Kind::Text, Cell::Text(_)) | (Kind::Int, Cell::Int(_)) | (Kind::Bool, Cell::Bool(_))
            )
        };
        if !self.kinds.iter().zip(&cells).all(|(k, c)| fits(k, c)) {
            return Err(io::Error::other("a cell of another type than its column"));
        }
        for (col, cell) in self.columns.iter_mut().zip(cells) {
            match (col, cell) {
                (Column::Text(v, d), Cell::Text(s)) => {
                    v.push(ByteArray::from(s.into_bytes()));
                    d.push(1);
                }
                (Column::Int(v, d), Cell::Int(i)) => {
                    v.push(i);
                    d.push(1);
                }
                (Column::Bool(v, d), Cell::Bool(b)) => {
                    v.push(b);
                    d.push(1);
                }
                (Column::Text(_, d) | Column::Int(_, d) | Column::Bool(_, d), Cell::Null) => d.push(0),
                _ => unreachable!("checked above"),
            }
        }
        self.rows += 1;
        if self.rows >= ROW_GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the rows kept as a row group.
    fn flush(&mut self) -> io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let fresh = self.empty_columns();
        let columns = std::mem::replace(&mut self.columns, fresh);
        self.rows = 0;
        let mut group = self.writer.next_row_group().map_err(perr)?;
        for col in columns {
            let mut w =
                group.next_column().map_err(perr)?.ok_or_else(|| io::Error::other("Parquet: too few columns"))?;
            match col {
                Column::Text(v, d) => w.typed::<ByteArrayType>().write_batch(&v, Some(&d), None),
                Column::Int(v, d) => w.typed::<Int64Type>().write_batch(&v, Some(&d), None),
                Column::Bool(v, d) => w.typed::<BoolType>().write_batch(&v, Some(&d), None),
            }
            .map_err(perr)?;
            w.close().map_err(perr)?;
        }
        group.close().map_err(perr)?;
        Ok(())
    }

    /// Writes what is left and the footer; gives the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        self.writer.into_inner().map_err(perr)
    }
}

/// Nanoseconds to the first whole second at or after them: a record's `start` (whole seconds)
/// is at or after `from_ns` exactly when it is at or after this.
fn ceil_s(ns: i64) -> i64 {
    let (q, r) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
    if r == 0 {
        q
    } else {
        q + 1
    }
}

/// Nanoseconds to the last whole second at or before them.
fn floor_s(ns: i64) -> i64 {
    ns.div_euclid(1_000_000_000)
}

fn rfc3339(ns: i64) -> String {
    curtain_model::format_rfc3339_signed_ns(ns)
}

/// The register's address intervals as `Register::all_holders` gives them, one row each, in its
/// order (`seq`: among holders of one address at one time, the first names it, as
/// `curtain flows attribute` does). The address is in [`crate::attribute::canonical_ip`]'s
/// spelling; `from_s`/`to_s` are the interval in whole seconds (a record's `start` is held
/// exactly when `from_s <= start <= to_s`, `to_s` null while still held); `kind` is the
/// attribution's (`task`, `host`, `interface`).
pub fn write_intervals<W: Write + Send>(holders: &[HeldInterval], w: W) -> io::Result<W> {
    let mut t = ParquetTable::new(w, "intervals", INTERVAL_COLUMNS)?;
    for (seq, h) in holders.iter().enumerate() {
        let a = Attribution::from_holders(&crate::attribute::canonical_ip(&h.holder.ip), &[h], "address");
        let o = |v: &Option<String>| Cell::from(v.clone());
        let containers: Vec<&str> = h.holder.containers.iter().map(|c| c.name.as_str()).collect();
        t.push(vec![
            Cell::Int(seq as i64),
            Cell::Text(a.addr.clone()),
            Cell::Int(h.from_ns),
            h.to_ns.into(),
            Cell::Int(ceil_s(h.from_ns)),
            h.to_ns.map(floor_s).into(),
            Cell::Text(rfc3339(h.from_ns)),
            h.to_ns.map(rfc3339).into(),
            Cell::Text(a.kind.to_string()),
            Cell::Text(h.holder.ip_kind.clone()),
            Cell::Text(h.holder.account_id.clone()),
            Cell::Text(h.holder.region.clone()),
            o(&h.holder.cluster_arn),
            o(&h.holder.service),
            o(&h.holder.task_arn),
            o(&h.holder.task_definition_arn),
            o(&h.holder.launch_type),
            o(&h.holder.network_mode),
            Cell::Text(containers.join(" ")),
            o(&h.holder.eni_id),
            o(&h.holder.attachment_id),
            o(&h.holder.container_instance_arn),
            o(&h.holder.ec2_instance_id),
            a.certainty.map(str::to_string).into(),
            Cell::Text(a.sources.join(" ")),
            o(&a.owner_kind),
            a.owner.as_ref().and_then(|o| o.id.clone()).into(),
        ])?;
    }
    t.finish()
}

fn sources_text(s: &[curtain_model::register::Provenance]) -> String {
    s.iter().map(|p| format!("{}:{}", p.kind.as_str(), p.id)).collect::<Vec<_>>().join(" ")
}

/// The register's tasks (`Register::all_tasks`), times in epoch seconds (floored).
pub fn write_tasks<W: Write + Send>(tasks: &[TaskListing], w: W) -> io::Result<W> {
    let mut t = ParquetTable::new(w, "tasks", TASK_COLUMNS)?;
    for k in tasks {
        let o = |v: &Option<String>| Cell::from(v.clone());
        let s = |v: Option<i64>| Cell::from(v.map(floor_s));
        let containers: Vec<&str> = k.containers.iter().map(|c| c.name.as_str()).collect();
        t.push(vec![
            Cell::Text(k.task_arn.clone()),
            Cell::Text(k.account_id.clone()),
            Cell::Text(k.region.clone()),
            o(&k.cluster_arn),
            o(&k.service),
            o(&k.group),
            o(&k.task_definition_arn),
            o(&k.launch_type),
            o(&k.availability_zone),
            o(&k.last_status),
            s(k.created_at),
            s(k.started_at),
            s(k.stopped_at),
            s(Some(k.first_seen)),
            s(Some(k.last_seen)),
            o(&k.container_instance_arn),
            Cell::Text(containers.join(" ")),
            Cell::Text(sources_text(&k.sources)),
        ])?;
    }
    t.finish()
}

/// Each task's containers, one row each.
pub fn write_containers<W: Write + Send>(tasks: &[TaskListing], w: W) -> io::Result<W> {
    let mut t = ParquetTable::new(w, "containers", CONTAINER_COLUMNS)?;
    for k in tasks {
        for c in &k.containers {
            let o = |v: &Option<String>| Cell::from(v.clone());
            t.push(vec![
                Cell::Text(k.task_arn.clone()),
                Cell::Text(c.name.clone()),
                o(&c.image),
                o(&c.image_digest),
                o(&c.runtime_id),
                o(&c.last_status),
            ])?;
        }
    }
    t.finish()
}

/// The kind of each column of [`csv_columns`]: the record's integer fields, `SIDE_pid` and
/// `input_line` are integers, `ecs_disagreement` a flag, the rest text.
pub fn row_kinds() -> Vec<Kind> {
    csv_columns()
        .iter()
        .map(|c| match c.as_str() {
            "input_line" => Kind::Int,
            "ecs_disagreement" => Kind::Bool,
            c if c.ends_with("_pid") => Kind::Int,
            c => match Field::from_name(c) {
                Some(f) if f.column() == c && f.is_int() => Kind::Int,
                _ => Kind::Text,
            },
        })
        .collect()
}

/// `curtain flows attribute --output parquet`: the CSV's columns, typed (an empty CSV cell is
/// null). Call [`Self::finish`] at the end.
pub struct ParquetRowWriter<W: Write + Send> {
    table: ParquetTable<W>,
    kinds: Vec<Kind>,
}

impl<W: Write + Send> ParquetRowWriter<W> {
    pub fn new(w: W) -> io::Result<ParquetRowWriter<W>> {
        let names = csv_columns();
        let kinds = row_kinds();
        let columns: Vec<(&str, Kind)> = names.iter().map(String::as_str).zip(kinds.iter().copied()).collect();
        Ok(ParquetRowWriter { table: ParquetTable::new(w, "flows", &columns)?, kinds })
    }

    /// Writes the last row group and the footer.
    pub fn finish(self) -> io::Result<W> {
        self.table.finish()
    }
}

impl<W: Write + Send> RowSink for ParquetRowWriter<W> {
    fn row(&mut self, row: &FlowRow) -> io::Result<()> {
        let cells = csv_cells(row)
            .into_iter()
            .zip(&self.kinds)
            .map(|(c, k)| match k {
                _ if c.is_empty() => Cell::Null,
                Kind::Text => Cell::Text(c),
                // u64 counters past i64 (none AWS writes) are null rather than wrapped.
                Kind::Int => c.parse::<i64>().map_or(Cell::Null, Cell::Int),
                Kind::Bool => Cell::Bool(c == "true"),
            })
            .collect();
        self.table.push(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_so_that_whole_second_starts_compare_exactly() {
        assert_eq!((ceil_s(5_000_000_000), floor_s(5_000_000_000)), (5, 5));
        assert_eq!((ceil_s(5_000_000_001), floor_s(5_999_999_999)), (6, 5));
        assert_eq!((ceil_s(-1), floor_s(-1)), (0, -1));
    }

    #[test]
    fn a_table_reads_back_with_its_nulls() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let mut t =
            ParquetTable::new(Vec::new(), "t", &[("a", Kind::Text), ("b", Kind::Int), ("c", Kind::Bool)]).unwrap();
        for i in 0..(ROW_GROUP_ROWS + 3) {
            let a = if i % 2 == 0 { Cell::Text(format!("x{i}")) } else { Cell::Null };
            t.push(vec![a, Cell::Int(i as i64), Cell::Bool(i % 3 == 0)]).unwrap();
        }
        assert!(t.push(vec![Cell::Int(1), Cell::Null, Cell::Null]).is_err(), "a cell of the wrong type");
        let bytes = t.finish().unwrap();
        let r = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(r.metadata().num_row_groups(), 2);
        let rows: Vec<_> = r.get_row_iter(None).unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), ROW_GROUP_ROWS + 3);
        assert_eq!(rows[1].to_string(), "{a: null, b: 1, c: false}");
        assert_eq!(
            rows[ROW_GROUP_ROWS + 2].to_string(),
            format!("{{a: \"x{}\", b: {}, c: false}}", ROW_GROUP_ROWS + 2, ROW_GROUP_ROWS + 2)
        );
    }

    #[test]
    fn rows_are_typed_as_the_csv_names_them() {
        use crate::{AddressBook, Attributor, Field, FlowRecord};
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let book = AddressBook::default();
        let at = Attributor { book: &book, snapshots: &[], opts: Default::default() };
        let mut r = FlowRecord::default();
        for (f, v) in [(Field::AccountId, "012345678901"), (Field::Srcaddr, "10.0.0.1"), (Field::Srcport, "443")] {
            r.set(f, v).unwrap();
        }
        let mut w = ParquetRowWriter::new(Vec::new()).unwrap();
        w.row(&at.row(r, "f.log", 7)).unwrap();
        let bytes = w.finish().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        let row = reader.get_row_iter(None).unwrap().next().unwrap().unwrap();
        let get = |name: &str| row.get_column_iter().find(|(n, _)| n.as_str() == name).unwrap().1.to_string();
        assert_eq!(get("account_id"), "\"012345678901\"");
        assert_eq!(get("srcport"), "443");
        assert_eq!(get("dstport"), "null");
        assert_eq!(get("src_kind"), "\"unknown\"");
        assert_eq!(get("dst_kind"), "null");
        assert_eq!(get("ecs_disagreement"), "false");
        assert_eq!(get("input_line"), "7");
        assert_eq!(row.len(), csv_columns().len());
    }
}
