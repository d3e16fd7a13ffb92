//! `triage`: collect this machine or container, analyse it, and write what a responder reads
//! first. (`collect` alone is curtain-collect's own command line.)

use crate::args::TriageArgs;
use crate::output::{exit_for, spinner, style, text_out};
use curtain_analyze::{at_least, timeline};
use curtain_collect::cli::{run_collect, CollectArgs};
use curtain_report::{html, json, text, Analysed};
use std::io::{self, Write};

pub(crate) fn triage(a: &TriageArgs) -> io::Result<i32> {
    let dir = a.output.clone().unwrap_or_else(|| {
        let name = curtain_collect::cli::default_name();
        name.trim_end_matches(".tar.zst").to_string()
    });
    std::fs::create_dir_all(&dir)?;
    // A bad rule file is refused before anything is collected.
    let rules = a.rules.load()?;
    let archive = format!("{dir}/snapshot.tar.zst");
    let pb = spinner("collecting /proc");
    let args = CollectArgs {
        output: Some(archive.clone()),
        proc_root: a.proc_root.clone(),
        carve_exe: a.carve_exe,
        no_environ: a.no_environ,
        compress: None,
        jobs: None,
        time_budget: None,
        quiet: true,
        frame: None,
        acquisition: None,
    };
    run_collect(&args)?;
    pb.set_message("analysing");
    // Its own fresh archive: the default limits.
    let snaps = [curtain_archive::load_snapshot(&archive)?];
    let analysed: Vec<Analysed> = snaps.iter().map(|s| Analysed::with_rules(s, &rules)).collect();
    let one = &analysed[0];
    let new = curtain_archive::output::write_new;
    new(
        &format!("{dir}/report.html"),
        &{
            let mut b = Vec::new();
            html::report(&mut b, &analysed)?;
            b
        },
        &[],
    )?;
    let mut fj = Vec::new();
    json::findings(&mut fj, &one.findings.iter().collect::<Vec<_>>())?;
    new(&format!("{dir}/findings.json"), &fj, &[])?;
    let mut tl = Vec::new();
    curtain_report::timeline::jsonl(&mut tl, &timeline::merge(timeline::rows(&one.ix, &one.findings)))?;
    new(&format!("{dir}/timeline.jsonl"), &tl, &[])?;
    pb.finish_and_clear();

    let shown = at_least(&one.findings, a.threshold.min_severity);
    let mut out = text_out();
    let st = style();
    text::summary(&mut out, one, st)?;
    writeln!(out)?;
    text::findings(&mut out, &shown, st)?;
    writeln!(out, "\nWrote {archive} (+ .sha256), {dir}/report.html, {dir}/findings.json, {dir}/timeline.jsonl")?;
    Ok(exit_for(&shown))
}
