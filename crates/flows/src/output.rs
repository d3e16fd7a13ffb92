//! Rows out: JSON lines and CSV, with the stable names docs/FLOWS.md lists. A record's fields keep
//! their AWS names with `-` turned to `_`, typed (numbers are numbers, `-` is null); `start` and
//! `end` stay epoch seconds and gain `start_time`/`end_time` in RFC 3339 UTC; then the
//! attribution objects. Everything in a row came from files and registers an attacker may have
//! written into: CSV cells are neutralised as the project's other CSV (`curtain_report::csv_cell`).

use std::io::{self, Write};

use crate::attribute::{Attribution, FlowRow};
use crate::record::Field;

/// Where rows go.
pub trait RowSink {
    fn row(&mut self, row: &FlowRow) -> io::Result<()>;
}

/// Epoch seconds as RFC 3339 UTC (`2026-01-01T10:00:00Z`); `None` past what the calendar holds.
pub fn rfc3339_secs(s: u64) -> Option<String> {
    let ns = s.checked_mul(1_000_000_000)?;
    let t = curtain_model::format_rfc3339_ns(ns);
    Some(t.replace(".000000000Z", "Z"))
}

/// The name an unknown field gets in outputs.
fn extra_column(name: &str) -> String {
    name.replace('-', "_")
}

/// One row as a JSON object, keys in the documented order.
pub fn row_json(row: &FlowRow) -> String {
    let mut out = Vec::with_capacity(2048);
    write_row_json(row, &mut out);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Appends one row as a JSON object (no newline), written straight from the row.
pub fn write_row_json(row: &FlowRow, out: &mut Vec<u8>) {
    fn key(out: &mut Vec<u8>, first: &mut bool, k: &str) {
        out.push(if *first { b'{' } else { b',' });
        *first = false;
        serde_json::to_writer(&mut *out, k).expect("a string");
        out.push(b':');
    }
    let into = |out: &mut Vec<u8>, v: &dyn erased::Json| v.write(out);
    let r = &row.record;
    let mut first = true;
    for &f in Field::ALL {
        if r.has(f) {
            key(out, &mut first, f.column());
            r.write_json(f, out);
        }
    }
    for (k, f, v) in [("start_time", Field::Start, r.start), ("end_time", Field::End, r.end)] {
        if r.has(f) {
            key(out, &mut first, k);
            into(out, &v.and_then(rfc3339_secs));
        }
    }
    for (name, v) in &r.extra {
        key(out, &mut first, &extra_column(name));
        into(out, v);
    }
    for (k, a) in [("src", &row.src), ("dst", &row.dst), ("pkt_src", &row.pkt_src), ("pkt_dst", &row.pkt_dst)] {
        key(out, &mut first, k);
        into(out, a);
    }
    if row.interface_owner.is_some() {
        key(out, &mut first, "interface_owner");
        into(out, &row.interface_owner);
    }
    key(out, &mut first, "ecs_disagreement");
    into(out, &row.ecs_disagreement);
    key(out, &mut first, "snapshot_match");
    into(out, &row.snapshot_match);
    key(out, &mut first, "input_file");
    into(out, &row.file);
    key(out, &mut first, "input_line");
    into(out, &row.line);
    out.push(b'}');
}

/// Any serialisable value written into a buffer, behind one object-safe method.
mod erased {
    pub trait Json {
        fn write(&self, out: &mut Vec<u8>);
    }
    impl<T: serde::Serialize> Json for T {
        fn write(&self, out: &mut Vec<u8>) {
            serde_json::to_writer(out, self).expect("rows serialise into memory")
        }
    }
}

/// JSON lines: one object a row.
pub struct JsonlWriter<W: Write> {
    pub w: W,
}

impl<W: Write> RowSink for JsonlWriter<W> {
    fn row(&mut self, row: &FlowRow) -> io::Result<()> {
        let mut buf = Vec::with_capacity(2048);
        write_row_json(row, &mut buf);
        buf.push(b'\n');
        self.w.write_all(&buf)
    }
}

/// How many of [`SIDE_COLUMNS`], from the first, the register alone gives (the rest a snapshot's
/// process): what `curtain flows athena`'s SQL can fill.
pub const REGISTER_SIDE_COLUMNS: usize = 11;

/// The attribution columns of each side, after the side's prefix (`src_kind`...).
pub const SIDE_COLUMNS: &[&str] = &[
    "kind",
    "account",
    "region",
    "cluster",
    "service",
    "task_arn",
    "task_definition",
    "containers",
    "eni",
    "certainty",
    "sources",
    "pid",
    "comm",
    "exe",
    "sha256",
    "cmdline",
    "archive",
    "findings",
];

/// The sides, in column order.
pub const SIDES: &[&str] = &["src", "dst", "pkt_src", "pkt_dst", "interface_owner"];

/// Every CSV column, in order.
pub fn csv_columns() -> Vec<String> {
    let mut c: Vec<String> = Field::ALL.iter().map(|f| f.column().to_string()).collect();
    c.extend(["start_time", "end_time", "extra"].map(String::from));
    for side in SIDES {
        c.extend(SIDE_COLUMNS.iter().map(|k| format!("{side}_{k}")));
    }
    c.extend(["ecs_disagreement", "snapshot_match", "input_file", "input_line"].map(String::from));
    c
}

fn side_cells(a: &Option<Attribution>, out: &mut Vec<String>) {
    let Some(a) = a else {
        out.resize(out.len() + SIDE_COLUMNS.len(), String::new());
        return;
    };
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let p = a.process.as_ref();
    let containers: Vec<String> = a
        .containers
        .iter()
        .map(|c| if c.name.is_empty() { c.runtime_id.clone().unwrap_or_default() } else { c.name.clone() })
        .collect();
    out.extend([
        a.kind.to_string(),
        s(&a.account),
        s(&a.region),
        s(&a.cluster),
        s(&a.service),
        s(&a.task_arn),
        s(&a.task_definition),
        containers.join(" "),
        s(&a.eni),
        a.certainty.unwrap_or_default().to_string(),
        a.sources.join(" "),
        p.map(|p| p.pid.to_string()).unwrap_or_default(),
        p.and_then(|p| p.comm.clone()).unwrap_or_default(),
        p.and_then(|p| p.exe.clone()).unwrap_or_default(),
        p.and_then(|p| p.sha256.clone()).unwrap_or_default(),
        p.and_then(|p| p.cmdline.clone()).unwrap_or_default(),
        p.map(|p| p.archive.clone()).unwrap_or_default(),
        p.map(|p| p.findings.join(" ")).unwrap_or_default(),
    ]);
}

/// One row's cells, unescaped, in the order of [`csv_columns`].
pub fn csv_cells(row: &FlowRow) -> Vec<String> {
    let r = &row.record;
    let mut out: Vec<String> = Field::ALL.iter().map(|&f| r.text(f)).collect();
    out.push(r.start.and_then(rfc3339_secs).unwrap_or_default());
    out.push(r.end.and_then(rfc3339_secs).unwrap_or_default());
    let extra: Vec<String> =
        r.extra.iter().map(|(k, v)| format!("{}={}", extra_column(k), v.as_deref().unwrap_or("-"))).collect();
    out.push(extra.join(" "));
    for side in [&row.src, &row.dst, &row.pkt_src, &row.pkt_dst, &row.interface_owner] {
        side_cells(side, &mut out);
    }
    out.push(row.ecs_disagreement.to_string());
    out.push(row.snapshot_match.map(|m| m.as_str()).unwrap_or_default().to_string());
    out.push(row.file.clone());
    out.push(row.line.to_string());
    out
}

/// CSV with a header line; every cell through `curtain_report::csv_cell`.
pub struct CsvWriter<W: Write> {
    w: W,
    header: bool,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(w: W) -> CsvWriter<W> {
        CsvWriter { w, header: false }
    }

    /// Writes the header even when no row comes.
    pub fn finish(mut self) -> io::Result<W> {
        self.write_header()?;
        Ok(self.w)
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header {
            self.header = true;
            writeln!(self.w, "{}", csv_columns().join(","))?;
        }
        Ok(())
    }
}

impl<W: Write> RowSink for CsvWriter<W> {
    fn row(&mut self, row: &FlowRow) -> io::Result<()> {
        self.write_header()?;
        let cells: Vec<String> = csv_cells(row).iter().map(|c| curtain_report::csv_cell(c)).collect();
        writeln!(self.w, "{}", cells.join(","))
    }
}
