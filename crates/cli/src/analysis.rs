//! The analysis commands: findings, reports, timelines, the process tree, sockets and the
//! difference between two snapshots, all read from archives.

use crate::args::{
    CompareArgs, CompareFormat, DiffArgs, FindingsArgs, FindingsFormat, OneArchive, ReportArgs, ReportFormat, RulesArg,
    TimelineArgs, TimelineFormat,
};
use crate::output::{exit_for, load, style, text_out, Output};
use curtain_analyze::{at_least, timeline};
use curtain_model::Finding;
use curtain_report::{html, json, markdown, text, Analysed};
use std::io::{self, Write};

pub(crate) fn findings(a: &FindingsArgs) -> io::Result<i32> {
    let rules = a.input.rules.load()?;
    let snaps = load(&a.input.archives, &a.input.limits)?;
    let analysed: Vec<Analysed> = snaps.iter().map(|s| Analysed::with_rules(s, &rules)).collect();
    let all: Vec<Finding> = analysed.iter().flat_map(|x| x.findings.iter().cloned()).collect();
    let shown = at_least(&all, a.threshold.min_severity);
    match a.format {
        FindingsFormat::Text => text::findings(&mut text_out(), &shown, style())?,
        FindingsFormat::Json => json::findings(&mut io::stdout().lock(), &shown)?,
    }
    Ok(exit_for(&shown))
}

pub(crate) fn report(a: &ReportArgs) -> io::Result<i32> {
    let rules = a.input.rules.load()?;
    let snaps = load(&a.input.archives, &a.input.limits)?;
    let analysed: Vec<Analysed> = snaps.iter().map(|s| Analysed::with_rules(s, &rules)).collect();
    let format = a.format.unwrap_or(match &a.output {
        Some(p) if p.ends_with(".md") => ReportFormat::Md,
        Some(p) if p.ends_with(".json") => ReportFormat::Json,
        Some(p) if p != "-" => ReportFormat::Html,
        _ => ReportFormat::Text,
    });
    let mut out = Output::open(&a.output, &a.input.archives)?;
    let to_terminal = matches!(out, Output::Stdout(_));
    match format {
        ReportFormat::Html => html::report(&mut out, &analysed)?,
        ReportFormat::Json => json::report(&mut out, &analysed)?,
        // Read as text, in a terminal or an editor: control characters shown escaped.
        ReportFormat::Md => markdown::report(&mut curtain_model::TermSafe::new(&mut out, false), &analysed)?,
        ReportFormat::Text => {
            let st = if to_terminal { style() } else { text::Style::plain() };
            let mut safe = curtain_model::TermSafe::new(&mut out, st.color);
            for x in &analysed {
                text::summary(&mut safe, x, st)?;
                writeln!(safe)?;
                text::findings(&mut safe, &x.findings.iter().collect::<Vec<_>>(), st)?;
            }
            safe.flush()?;
        }
    }
    out.finish()?;
    Ok(0)
}

pub(crate) fn timeline(a: &TimelineArgs) -> io::Result<i32> {
    let rules = a.input.rules.load()?;
    let snaps = load(&a.input.archives, &a.input.limits)?;
    let mut rows = Vec::new();
    for s in &snaps {
        let x = Analysed::with_rules(s, &rules);
        rows.extend(timeline::rows(&x.ix, &x.findings));
    }
    if !a.cloudtrail.is_empty() {
        rows.extend(timeline::cloud_rows(&crate::hunt::findings(&a.cloudtrail, &a.db.db, 256 << 20)?));
    }
    let rows = timeline::merge(rows);
    let mut out = Output::open(&a.output, &a.input.archives)?;
    match a.format {
        TimelineFormat::Jsonl => curtain_report::timeline::jsonl(&mut out, &rows)?,
        TimelineFormat::Csv => curtain_report::timeline::csv(&mut out, &rows)?,
    }
    out.finish()?;
    Ok(0)
}

pub(crate) fn tree(a: &OneArchive) -> io::Result<i32> {
    let s = load(std::slice::from_ref(&a.archive), &a.limits)?.remove(0);
    let ix = curtain_analyze::Index::new(&s);
    text::tree(&mut text_out(), &ix)?;
    Ok(0)
}

pub(crate) fn sockets(a: &OneArchive) -> io::Result<i32> {
    let s = load(std::slice::from_ref(&a.archive), &a.limits)?.remove(0);
    let ix = curtain_analyze::Index::new(&s);
    text::sockets(&mut text_out(), &ix)?;
    Ok(0)
}

pub(crate) fn diff(a: &DiffArgs) -> io::Result<i32> {
    let mut both = load(&[a.old.clone(), a.new.clone()], &a.limits)?;
    let (old, new) = (both.remove(0), both.remove(0));
    let rules = a.rules.load()?;
    let (o, n) = (Analysed::with_rules(&old, &rules), Analysed::with_rules(&new, &rules));
    let d = curtain_analyze::diff::diff(&o.ix, &o.findings, &n.ix, &n.findings);
    match a.format {
        FindingsFormat::Text => text::diff(&mut text_out(), &d, style())?,
        FindingsFormat::Json => {
            let mut out = io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &d)?;
            writeln!(out)?;
        }
    }
    Ok(if d.is_empty() { 0 } else { 1 })
}

/// What each finding means: the registry, as docs/DETECTORS.md has it.
pub(crate) fn detectors(a: &RulesArg) -> io::Result<i32> {
    text::detectors_with(&mut text_out(), &a.load()?)?;
    Ok(0)
}

/// What only a minority of replicas has.
pub(crate) fn compare(a: &CompareArgs) -> io::Result<i32> {
    use curtain_analyze::compare;
    let snaps = load(&a.archives, &a.limits)?;
    let indexes: Vec<curtain_analyze::Index> = snaps.iter().map(curtain_analyze::Index::new).collect();
    let named: Vec<(&str, &curtain_analyze::Index)> = a.archives.iter().map(String::as_str).zip(&indexes).collect();
    let c = if a.one_group { compare::compare_as_one_group(&named) } else { compare::compare(&named) };
    match a.format {
        CompareFormat::Text => text::compare(&mut text_out(), &c, style())?,
        CompareFormat::Md => markdown::compare(&mut curtain_model::TermSafe::new(io::stdout().lock(), false), &c)?,
        CompareFormat::Json => json::compare(&mut io::stdout().lock(), &c)?,
    }
    Ok(if c.has_outliers() { 1 } else { 0 })
}
