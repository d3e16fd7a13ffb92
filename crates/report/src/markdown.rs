//! A Markdown report, for a ticket or a chat: findings, identity, errors. Values from the target
//! are put in code spans with backticks and pipes made harmless.

use crate::{term, Analysed};
use std::io::{self, Write};

/// Text for a Markdown table cell or code span: no backticks, pipes or newlines.
fn md(s: &str) -> String {
    term(s).replace('`', "ˋ").replace('|', "¦")
}

pub fn report(w: &mut dyn Write, all: &[Analysed]) -> io::Result<()> {
    writeln!(w, "# curtain report\n")?;
    for a in all {
        let s = a.ix.snap;
        let m = &s.manifest;
        writeln!(w, "## `{}` at {}\n", md(&m.hostname), md(&m.started_at))?;
        writeln!(w, "- archive: `{}` sha256 `{}`", md(&s.source), s.archive_sha256.as_deref().unwrap_or("?"))?;
        writeln!(
            w,
            "- kernel {}, {} processes, {} sockets, {} network namespace(s)",
            md(&m.kernel_release),
            m.counts.processes,
            m.counts.sockets,
            m.counts.netns
        )?;
        if let Some(e) = &m.ecs {
            writeln!(
                w,
                "- ECS task `{}` ({}), container `{}`, image `{}` {}",
                md(e.task_arn.as_deref().unwrap_or("?")),
                md(e.launch_type.as_deref().unwrap_or("?")),
                md(e.container_name.as_deref().unwrap_or("?")),
                md(e.image.as_deref().unwrap_or("?")),
                md(e.image_digest.as_deref().unwrap_or(""))
            )?;
        }
        writeln!(w, "\n### Findings ({})\n", a.findings.len())?;
        if a.findings.is_empty() {
            writeln!(w, "None.")?;
        } else {
            writeln!(w, "| severity | finding | ATT&CK | pid | details |\n|---|---|---|---|---|")?;
            for f in &a.findings {
                writeln!(
                    w,
                    "| {} | {} | {} | {} | `{}` |",
                    f.severity,
                    f.title,
                    f.attack.join(", "),
                    f.pid.map(|p| p.to_string()).unwrap_or_default(),
                    md(&f.summary)
                )?;
            }
        }
        if !m.errors_by_kind.is_empty() {
            let e: Vec<String> = m.errors_by_kind.iter().map(|(k, v)| format!("{k} {v}")).collect();
            writeln!(w, "\nNot readable: {}.", e.join(", "))?;
        }
        writeln!(w)?;
    }
    Ok(())
}
