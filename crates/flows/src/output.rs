//! Rows out: JSON lines and CSV, with the stable names docs/FLOWS.md lists. A record's fields keep
//! their AWS names with `-` turned to `_`, typed (numbers are numbers, `-` is null); `start` and
//! `end` stay epoch seconds and gain `start_time`/`end_time` in RFC 3339 UTC; then the
//! attribution objects. Everything in a row came from files and registers an attacker may have
//! written into: CSV cells are neutralised as the project's other CSV (`curtain_report::csv_cell`).

use std::io::{self, Write};

use crate::attribute::{Attribution, FlowRow, Side};
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
    JsonParts::default().write(row, out)
}

/// What many rows share, written as JSON once: the times of the last second seen, and an
/// address nobody held (the address book keeps the JSON of its own attributions,
/// [`crate::attribute::Shared::json`]).
#[derive(Default)]
struct JsonParts {
    /// Per time column (`start_time`, `end_time`), the last epoch second written and its text.
    times: [Option<(u64, Option<String>)>; 2],
    /// The JSON of an address nobody held, around its address: `{"addr":` and the rest.
    unknown: Option<Box<[u8]>>,
}

impl JsonParts {
    fn side(&mut self, a: &Option<Side>, out: &mut Vec<u8>) {
        let Some(a) = a else { return out.extend_from_slice(b"null") };
        if a.is_bare_unknown() {
            // Most flows have one (a peer on the internet): its JSON is a template.
            let rest = self.unknown.get_or_insert_with(|| {
                let json = serde_json::to_vec(&Attribution::unknown("")).expect("rows serialise into memory");
                let rest = json.strip_prefix(br#"{"addr":"""#).expect("addr comes first");
                rest.into()
            });
            out.extend_from_slice(br#"{"addr":"#);
            serde_json::to_writer(&mut *out, a.addr()).expect("a string");
            return out.extend_from_slice(rest);
        }
        // The address book's is written once for all rows; a lent one is never changed (a row
        // changes its own copy), so its JSON stays true.
        match a.shared() {
            Some(s) => out.extend_from_slice(s.json()),
            None => serde_json::to_writer(out, a.attribution()).expect("rows serialise into memory"),
        }
    }

    fn time(&mut self, column: usize, secs: Option<u64>, out: &mut Vec<u8>) {
        let Some(secs) = secs else { return out.extend_from_slice(b"null") };
        let last = &mut self.times[column];
        if last.as_ref().is_none_or(|(s, _)| *s != secs) {
            *last = Some((secs, rfc3339_secs(secs)));
        }
        let text = last.as_ref().and_then(|(_, t)| t.as_deref());
        serde_json::to_writer(out, &text).expect("a string")
    }

    fn write(&mut self, row: &FlowRow, out: &mut Vec<u8>) {
        /// A key of the documented set: plain ASCII, nothing to escape.
        fn key(out: &mut Vec<u8>, first: &mut bool, k: &str) {
            debug_assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{k}");
            out.push(if *first { b'{' } else { b',' });
            *first = false;
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
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
        for (i, (k, f, v)) in
            [("start_time", Field::Start, r.start()), ("end_time", Field::End, r.end())].into_iter().enumerate()
        {
            if r.has(f) {
                key(out, &mut first, k);
                self.time(i, v, out);
            }
        }
        for (name, v) in &r.extra {
            // A header's name: AWS's letters, digits and dashes (`format::is_name`), but escaped
            // all the same.
            out.push(if first { b'{' } else { b',' });
            first = false;
            into(out, &extra_column(name));
            out.push(b':');
            into(out, v);
        }
        for (k, a) in [("src", &row.src), ("dst", &row.dst), ("pkt_src", &row.pkt_src), ("pkt_dst", &row.pkt_dst)] {
            key(out, &mut first, k);
            self.side(a, out);
        }
        if row.interface_owner.is_some() {
            key(out, &mut first, "interface_owner");
            self.side(&row.interface_owner, out);
        }
        key(out, &mut first, "ecs_disagreement");
        out.extend_from_slice(if row.ecs_disagreement { b"true" } else { b"false" });
        key(out, &mut first, "snapshot_match");
        into(out, &row.snapshot_match);
        key(out, &mut first, "input_file");
        into(out, &&*row.file);
        key(out, &mut first, "input_line");
        out.extend_from_slice(itoa::Buffer::new().format(row.line).as_bytes());
        out.push(b'}');
    }
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
    parts: JsonParts,
    buf: Vec<u8>,
}

impl<W: Write> JsonlWriter<W> {
    pub fn new(w: W) -> JsonlWriter<W> {
        JsonlWriter { w, parts: JsonParts::default(), buf: Vec::with_capacity(4096) }
    }
}

impl<W: Write> RowSink for JsonlWriter<W> {
    fn row(&mut self, row: &FlowRow) -> io::Result<()> {
        self.buf.clear();
        self.parts.write(row, &mut self.buf);
        self.buf.push(b'\n');
        self.w.write_all(&self.buf)
    }
}

/// How many of [`SIDE_COLUMNS`], from the first, the register alone gives (the rest a snapshot's
/// process): what `curtain flows athena`'s SQL can fill.
pub const REGISTER_SIDE_COLUMNS: usize = 13;

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
    "owner_kind",
    "owner_id",
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

fn side_cells(a: &Option<Side>, out: &mut Vec<String>) {
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
        s(&a.owner_kind),
        a.owner.as_ref().and_then(|o| o.id.clone()).unwrap_or_default(),
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
    out.push(r.start().and_then(rfc3339_secs).unwrap_or_default());
    out.push(r.end().and_then(rfc3339_secs).unwrap_or_default());
    let extra: Vec<String> =
        r.extra.iter().map(|(k, v)| format!("{}={}", extra_column(k), v.as_deref().unwrap_or("-"))).collect();
    out.push(extra.join(" "));
    for side in [&row.src, &row.dst, &row.pkt_src, &row.pkt_dst, &row.interface_owner] {
        side_cells(side, &mut out);
    }
    out.push(row.ecs_disagreement.to_string());
    out.push(row.snapshot_match.map(|m| m.as_str()).unwrap_or_default().to_string());
    out.push(row.file.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::{ProcessOut, Shared};
    use crate::record::FlowRecord;
    use std::sync::Arc;

    fn row<'a>(src: Side<'a>, dst: Side<'a>) -> FlowRow<'a> {
        let mut record = FlowRecord::default();
        record.set(Field::Start, "1795687200").unwrap();
        record.set(Field::End, "1795687260").unwrap();
        FlowRow {
            record,
            src: Some(src),
            dst: Some(dst),
            pkt_src: None,
            pkt_dst: None,
            interface_owner: None,
            ecs_disagreement: false,
            snapshot_match: None,
            file: Arc::from("f"),
            line: 1,
        }
    }

    /// The writer's remembered parts write what the row itself would: a lent attribution
    /// changed after it was written (a snapshot's process added), an address nobody held, and
    /// one the row made of its own that is bare all the same.
    #[test]
    fn remembered_json_is_the_rows_own() {
        let mut task = Attribution::unknown("10.0.0.1");
        task.kind = "task";
        task.task_arn = Some("arn:aws:ecs:us-west-2:111122223333:task/c/1".into());
        let shared = Shared::new(task);
        let book_side = Side::Book(&shared);
        let mut w = JsonlWriter::new(Vec::new());
        let mut expected = String::new();
        let mut rows = Vec::new();
        for peer in ["198.51.100.7", "2001:db8::\"x", "198.51.100.7"] {
            rows.push(row(book_side.clone(), Side::unknown(peer.into())));
        }
        let mut changed = book_side.clone();
        changed.to_mut().process = Some(ProcessOut {
            pid: 7,
            comm: Some("nc".into()),
            exe: None,
            sha256: None,
            cmdline: None,
            archive: "a".into(),
            socket: "connection",
            other_pids: Vec::new(),
            findings: Vec::new(),
        });
        rows.push(row(changed, Side::Own(Box::new(Attribution::unknown("198.51.100.8")))));
        rows.push(row(book_side.clone(), book_side.clone()));
        for r in &rows {
            w.row(r).unwrap();
            expected.push_str(&row_json(r));
            expected.push('\n');
            let v: serde_json::Value = serde_json::from_str(&row_json(r)).unwrap();
            assert_eq!(v["start_time"], "2026-11-26T10:00:00Z");
            assert_eq!(v["end_time"], "2026-11-26T10:01:00Z");
            // Each side as serde writes the attribution itself, kept JSON or template or not.
            for (k, side) in [("src", &r.src), ("dst", &r.dst)] {
                let side = side.as_ref().unwrap();
                assert_eq!(v[k], serde_json::to_value(side.attribution()).unwrap(), "{k}");
            }
        }
        let written = String::from_utf8(w.w).unwrap();
        assert_eq!(written, expected);
        assert!(written.lines().nth(3).unwrap().contains(r#""pid":7"#), "the changed copy has its process");
        assert!(!written.lines().nth(4).unwrap().contains(r#""pid":7"#), "the book's own has none");
        assert!(written.contains(r#""addr":"2001:db8::\"x""#), "an address escaped in the template");
    }
}
