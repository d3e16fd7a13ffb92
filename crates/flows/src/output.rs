//! Rows out: JSON lines and CSV, with the stable names docs/FLOWS.md lists. A record's fields keep
//! their AWS names with `-` turned to `_`, typed (numbers are numbers, `-` is null); `start` and
//! `end` stay epoch seconds and gain `start_time`/`end_time` in RFC 3339 UTC; then the
//! attribution objects. Everything in a row came from files and registers an attacker may have
//! written into: CSV cells are neutralised as the project's other CSV (`curtain_report::csv_cell`).

use std::io::{self, Write};

use serde_json::Value;

use crate::attribute::{Attribution, FlowRow};
use crate::record::{Field, FlowRecord};

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

/// The record's fields as (column, value) in output order: AWS's table order for the fields the
/// format named, the times beside them, then unknown fields.
pub fn record_fields(r: &FlowRecord) -> Vec<(String, Value)> {
    let mut out = Vec::with_capacity(24);
    for &f in Field::ALL {
        if r.has(f) {
            out.push((f.column().to_string(), r.json(f)));
        }
    }
    if r.has(Field::Start) {
        out.push(("start_time".into(), r.start.and_then(rfc3339_secs).map_or(Value::Null, Value::String)));
    }
    if r.has(Field::End) {
        out.push(("end_time".into(), r.end.and_then(rfc3339_secs).map_or(Value::Null, Value::String)));
    }
    for (name, v) in &r.extra {
        out.push((extra_column(name), v.clone().map_or(Value::Null, Value::String)));
    }
    out
}

/// One row as a JSON object, keys in the documented order.
pub fn row_json(row: &FlowRow) -> String {
    let mut s = String::with_capacity(1024);
    s.push('{');
    let mut first = true;
    let mut put = |k: &str, v: String| {
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str(&serde_json::to_string(k).expect("a string"));
        s.push(':');
        s.push_str(&v);
    };
    for (k, v) in record_fields(&row.record) {
        put(&k, v.to_string());
    }
    let att = |a: &Option<Attribution>| serde_json::to_string(a).expect("attributions serialise");
    put("src", att(&row.src));
    put("dst", att(&row.dst));
    put("pkt_src", att(&row.pkt_src));
    put("pkt_dst", att(&row.pkt_dst));
    if row.interface_owner.is_some() {
        put("interface_owner", att(&row.interface_owner));
    }
    put("ecs_disagreement", row.ecs_disagreement.to_string());
    put("snapshot_match", serde_json::to_string(&row.snapshot_match).expect("an enum"));
    put("input_file", serde_json::to_string(&row.file).expect("a string"));
    put("input_line", row.line.to_string());
    s.push('}');
    s
}

/// JSON lines: one object a row.
pub struct JsonlWriter<W: Write> {
    pub w: W,
}

impl<W: Write> RowSink for JsonlWriter<W> {
    fn row(&mut self, row: &FlowRow) -> io::Result<()> {
        self.w.write_all(row_json(row).as_bytes())?;
        self.w.write_all(b"\n")
    }
}

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
