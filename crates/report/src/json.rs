//! Stable JSON for scripts: `findings` (a list), `report` (every archive with its identity,
//! counts, containers and findings) and `compare` (replicas' outliers). Field names only ever get
//! added.

use crate::Analysed;
use curtain_analyze::compare::Comparison;
use curtain_model::Finding;
use serde_json::{json, Value};
use std::io::{self, Write};

pub const REPORT_FORMAT: &str = "curtain-report/1";

pub fn findings(w: &mut dyn Write, findings: &[&Finding]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &json!({ "format": REPORT_FORMAT, "findings": findings }))?;
    writeln!(w)
}

fn archive(a: &Analysed) -> Value {
    let s = a.ix.snap;
    let m = &s.manifest;
    json!({
        "source": s.source,
        "archive_sha256": s.archive_sha256,
        "hostname": m.hostname,
        "kernel_release": m.kernel_release,
        "started_at": m.started_at,
        "ended_at": m.ended_at,
        "ecs": m.ecs,
        "counts": m.counts,
        "errors_by_kind": m.errors_by_kind,
        "containers": a.ix.containers,
        "findings": a.findings,
    })
}

pub fn report(w: &mut dyn Write, all: &[Analysed]) -> io::Result<()> {
    let archives: Vec<Value> = all.iter().map(archive).collect();
    let total: usize = all.iter().map(|a| a.findings.len()).sum();
    serde_json::to_writer_pretty(
        &mut *w,
        &json!({ "format": REPORT_FORMAT, "archives": archives, "findings_total": total }),
    )?;
    writeln!(w)
}

/// A comparison of replicas as [`Comparison`] serialises it: values exact, as the target had them.
pub fn compare(w: &mut dyn Write, c: &Comparison) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, c)?;
    writeln!(w)
}
