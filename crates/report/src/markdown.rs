//! A Markdown report, for a ticket or a chat: findings, identity, errors, and a comparison of
//! replicas. Values from the target are put in code spans with backticks and pipes made harmless.

use crate::{term, Analysed};
use curtain_analyze::compare::Comparison;
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
        if a.ix.containers.len() > 1 {
            writeln!(w, "\n### Containers\n")?;
            for c in &a.ix.containers {
                writeln!(w, "- `{}`: {} processes", md(&c.display()), c.pids.len())?;
            }
        }
        writeln!(w, "\n### Findings ({})\n", a.findings.len())?;
        if a.findings.is_empty() {
            writeln!(w, "None.")?;
        } else {
            writeln!(w, "| severity | finding | ATT&CK | container | pid | details |\n|---|---|---|---|---|---|")?;
            for f in &a.findings {
                writeln!(
                    w,
                    "| {} | {} | {} | `{}` | {} | `{}` |",
                    f.severity,
                    f.title,
                    f.attack.join(", "),
                    md(f.container.as_deref().unwrap_or("")),
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

/// A comparison of replicas: a table of outliers per group (fewest sharing first), or with two
/// archives a table of what each has that the other has not; then the archives left out.
pub fn compare(w: &mut dyn Write, c: &Comparison) -> io::Result<()> {
    writeln!(w, "# curtain compare\n")?;
    for g in &c.groups {
        writeln!(w, "## `{}`: {} archives\n", md(&g.key), g.archives.len())?;
        let names: Vec<String> = g.archives.iter().map(|a| format!("`{}`", md(a))).collect();
        writeln!(w, "{}\n", names.join(", "))?;
        if g.two_only {
            if g.differences.is_empty() {
                writeln!(w, "Two archives only: no difference.\n")?;
                continue;
            }
            writeln!(w, "Two archives only, no majority to stand out from: these differ.\n")?;
            writeln!(w, "| only in | kind | value | processes |\n|---|---|---|---|")?;
            for d in &g.differences {
                writeln!(
                    w,
                    "| `{}` | {} | `{}` | {} |",
                    md(&d.archive),
                    d.kind.as_str(),
                    md(&d.value),
                    seen(&d.processes)
                )?;
            }
            writeln!(w)?;
            continue;
        }
        if g.outliers.is_empty() {
            writeln!(w, "No outliers.\n")?;
            continue;
        }
        writeln!(w, "| shared by | archive | kind | value | processes |\n|---|---|---|---|---|")?;
        for o in &g.outliers {
            writeln!(
                w,
                "| {} of {} | `{}` | {} | `{}` | {} |",
                o.shared_by,
                o.of,
                md(&o.archive),
                o.kind.as_str(),
                md(&o.value),
                seen(&o.processes)
            )?;
        }
        writeln!(w)?;
    }
    if !c.ungrouped.is_empty() {
        writeln!(w, "## Not compared\n")?;
        for u in &c.ungrouped {
            match &u.key {
                Some(k) => writeln!(w, "- `{}`: no other archive of `{}`", md(&u.archive), md(k))?,
                None => writeln!(w, "- `{}`: no ECS task family or image known", md(&u.archive))?,
            }
        }
        writeln!(w)?;
    }
    writeln!(w, "Outliers: {}.", c.outliers)
}

fn seen(ps: &[curtain_analyze::compare::SeenIn]) -> String {
    if ps.is_empty() {
        return String::new();
    }
    format!("`{}`", md(&crate::seen_in(ps)))
}
