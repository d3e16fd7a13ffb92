//! The timeline as JSON lines or CSV (Timesketch imports both: `message`, `datetime`,
//! `timestamp_desc` and any other column).

use crate::csv_cell;
use curtain_analyze::timeline::{TimelineRow, CSV_COLUMNS};
use std::io::{self, Write};

pub fn jsonl(w: &mut dyn Write, rows: &[TimelineRow]) -> io::Result<()> {
    for r in rows {
        serde_json::to_writer(&mut *w, r)?;
        writeln!(w)?;
    }
    Ok(())
}

pub fn csv(w: &mut dyn Write, rows: &[TimelineRow]) -> io::Result<()> {
    writeln!(w, "{}", CSV_COLUMNS.join(","))?;
    for r in rows {
        let n = |v: Option<u32>| v.map(|x| x.to_string()).unwrap_or_default();
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let cells = [
            r.datetime.clone(),
            r.timestamp_desc.clone(),
            r.message.clone(),
            r.source.clone(),
            r.host.clone(),
            n(r.pid),
            n(r.ppid),
            s(&r.comm),
            s(&r.exe),
            s(&r.cmdline),
            n(r.uid),
            s(&r.container),
            s(&r.detector),
            s(&r.severity),
            s(&r.attack),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        writeln!(w, "{}", line.join(","))?;
    }
    Ok(())
}
