//! Terminal views: findings, the triage summary, the process tree, the sockets, a diff and a
//! comparison of replicas.
//! Colour only when asked (a terminal); every value from the target goes through [`term`].

use crate::{cmdline, lossy, term, user, Analysed};
use curtain_analyze::compare::Comparison;
use curtain_analyze::diff::Diff;
use curtain_analyze::rules::{ListSpec, Rules};
use curtain_analyze::Index;
use curtain_model::{Finding, Label, Process, Severity};
use std::io::{self, Write};

/// Colours for a terminal; `Style::plain()` for pipes and tests.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn plain() -> Self {
        Style { color: false }
    }
    fn sev(&self, s: Severity) -> String {
        let label = format!("{:<8}", s.as_str().to_uppercase());
        if !self.color {
            return label;
        }
        let code = match s {
            Severity::Critical => "1;37;41",
            Severity::High => "1;31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        format!("\x1b[{code}m{label}\x1b[0m")
    }
    fn bold(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// One block per finding: severity, title, ATT&CK ids, the summary, the evidence.
pub fn findings(w: &mut dyn Write, findings: &[&Finding], style: Style) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(w, "No findings.");
    }
    for f in findings {
        writeln!(w, "{} {} [{}] ({})", style.sev(f.severity), style.bold(&f.title), f.attack.join(", "), f.detector)?;
        writeln!(w, "         {}", term(&f.summary))?;
        if let Some(c) = &f.container {
            writeln!(w, "         container: {}", term(c))?;
        }
        writeln!(w, "         evidence: {}", term(&crate::evidence(f)))?;
        if !f.source.is_empty() {
            writeln!(w, "         archive: {}", term(&f.source))?;
        }
    }
    Ok(())
}

/// The triage summary: where, when, what was seen, how many findings of each severity.
pub fn summary(w: &mut dyn Write, a: &Analysed, style: Style) -> io::Result<()> {
    let s = a.ix.snap;
    let m = &s.manifest;
    writeln!(w, "{}", style.bold(&format!("curtain: {} at {}", term(&m.hostname), term(&m.started_at))))?;
    writeln!(
        w,
        "  {} processes, {} sockets ({} with a visible owner) in {} network namespace(s), {} error(s) reading",
        m.counts.processes, m.counts.sockets, m.counts.sockets_with_owner, m.counts.netns, m.counts.errors
    )?;
    if let Some(e) = &m.ecs {
        writeln!(
            w,
            "  ECS task {} ({}) container {} image {}",
            term(e.task_arn.as_deref().unwrap_or("?")),
            term(e.launch_type.as_deref().unwrap_or("?")),
            term(e.container_name.as_deref().unwrap_or("?")),
            term(e.image.as_deref().unwrap_or("?"))
        )?;
    }
    for c in &a.ix.containers {
        writeln!(
            w,
            "  {} ({} processes, init pid {})",
            term(&c.display()),
            c.pids.len(),
            c.init_pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
        )?;
    }
    let mut counts = std::collections::BTreeMap::new();
    for f in &a.findings {
        *counts.entry(std::cmp::Reverse(f.severity)).or_insert(0) += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {}", k.0)).collect();
    writeln!(w, "  findings: {}", if parts.is_empty() { "none".to_string() } else { parts.join(", ") })?;
    if let Some(sha) = &s.archive_sha256 {
        writeln!(w, "  archive {} sha256 {sha}", term(&s.source))?;
    }
    Ok(())
}

fn label(p: &Process) -> &'static str {
    match p.label {
        Some(Label::SelfCollector) => " [self]",
        Some(Label::Responder) => " [responder]",
        Some(Label::SsmAgent) => " [ssm-agent]",
        None => "",
    }
}

fn process_line(p: &Process) -> String {
    let exe = p.exe.as_ref().map(|e| lossy(&e.path)).unwrap_or_else(|| "-".into());
    let deleted = if p.exe.as_ref().is_some_and(|e| e.deleted == Some(true)) { " (file deleted)" } else { "" };
    format!(
        "{} {}{} user {} started {} exe {}{} cmd {}",
        p.pid,
        p.comm_lossy(),
        label(p),
        user(p),
        term(p.started_at.as_deref().unwrap_or("?")),
        exe,
        deleted,
        cmdline(p)
    )
}

/// Levels of the tree drawn as indentation; deeper rows say their depth instead, so that a
/// chain of thousands of processes stays one short line each.
const DRAWN_DEPTH: usize = 32;

/// The process tree, oldest first at each level; kernel threads folded into one line. Every
/// other process is shown, deep chains and parent cycles included. With containers, one tree per
/// container under its name, the host's own processes first as "host".
pub fn tree(w: &mut dyn Write, ix: &Index) -> io::Result<()> {
    let kthreads = ix.snap.processes.iter().filter(|p| p.kernel_thread).count();
    let groups = ix.tree_groups();
    if groups.len() > 1 {
        for (c, rows) in &groups {
            writeln!(w, "== {} ({} processes) ==", term(&c.display()), rows.len())?;
            tree_rows(w, rows)?;
        }
    } else {
        tree_rows(w, &ix.tree_rows())?;
    }
    if kthreads > 0 {
        writeln!(w, "({kthreads} kernel threads not shown)")?;
    }
    Ok(())
}

fn tree_rows(w: &mut dyn Write, rows: &[curtain_analyze::index::TreeRow]) -> io::Result<()> {
    // Per drawn level, whether a sibling still follows (a vertical line continues).
    let mut open: Vec<bool> = Vec::new();
    for row in rows {
        let d = row.depth.min(DRAWN_DEPTH);
        open.truncate(d);
        let mut prefix = String::new();
        for &more in open.iter().skip(1) {
            prefix.push_str(if more { "│  " } else { "   " });
        }
        if row.depth > 0 {
            prefix.push_str(if row.last { "└─ " } else { "├─ " });
        }
        if row.depth > DRAWN_DEPTH {
            prefix.push_str(&format!("[depth {}] ", row.depth));
        }
        let cycle = if row.unreachable { " [parent chain loops: not reachable from a root]" } else { "" };
        writeln!(w, "{prefix}{}{cycle}", term(&process_line(row.process)))?;
        if row.depth < DRAWN_DEPTH {
            open.push(!row.last);
        }
    }
    Ok(())
}

/// Every socket with its owners, listeners first; on a host (more than one container), the
/// owners' containers too.
pub fn sockets(w: &mut dyn Write, ix: &Index) -> io::Result<()> {
    let named = ix.containers.len() > 1;
    write!(w, "{:<6} {:<13} {:<46} {:<46} {:<12} OWNERS", "PROTO", "STATE", "LOCAL", "REMOTE", "NETNS")?;
    writeln!(w, "{}", if named { "  CONTAINER" } else { "" })?;
    for r in crate::socket_rows(ix) {
        let s = r.socket;
        write!(
            w,
            "{:<6} {:<13} {:<46} {:<46} {:<12} {}",
            s.proto.table(),
            term(&s.state),
            term(&r.local),
            r.remote,
            s.netns,
            term(&r.owners)
        )?;
        if named {
            write!(w, "  {}", term(&r.containers))?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// The difference between two snapshots.
pub fn diff(w: &mut dyn Write, d: &Diff, style: Style) -> io::Result<()> {
    if d.is_empty() {
        return writeln!(w, "No differences.");
    }
    for (title, list) in [("Processes started", &d.processes_started), ("Processes gone", &d.processes_gone)] {
        if !list.is_empty() {
            writeln!(w, "{}", style.bold(&format!("{title} ({})", list.len())))?;
            for p in list {
                write!(
                    w,
                    "  {} {} started {} exe {} cmd {}",
                    p.pid,
                    term(&p.comm),
                    term(p.started_at.as_deref().unwrap_or("?")),
                    term(p.exe.as_deref().unwrap_or("-")),
                    term(&p.cmdline)
                )?;
                match &p.container {
                    Some(c) => writeln!(w, " in {}", term(c))?,
                    None => writeln!(w)?,
                }
            }
        }
    }
    for (title, list) in [
        ("Connections opened", &d.connections_opened),
        ("Connections closed", &d.connections_closed),
        ("New listeners", &d.new_listeners),
    ] {
        if !list.is_empty() {
            writeln!(w, "{}", style.bold(&format!("{title} ({})", list.len())))?;
            for c in list {
                writeln!(
                    w,
                    "  {} {} {} -> {} by {}",
                    term(&c.proto),
                    term(&c.state),
                    term(&c.local),
                    term(&c.remote),
                    term(&c.owners.join(", "))
                )?;
            }
        }
    }
    if !d.executables_changed.is_empty() {
        writeln!(w, "{}", style.bold(&format!("Executables changed ({})", d.executables_changed.len())))?;
        for e in &d.executables_changed {
            writeln!(w, "  {}: {} -> {}", term(&e.path), e.old_sha256.join(","), e.new_sha256.join(","))?;
        }
    }
    if !d.new_findings.is_empty() {
        writeln!(w, "{}", style.bold(&format!("New findings ({})", d.new_findings.len())))?;
        let refs: Vec<&Finding> = d.new_findings.iter().collect();
        findings(w, &refs, style)?;
    }
    Ok(())
}

/// A comparison of replicas: per group, what only a minority has (fewest sharing first), or
/// with two archives what each has that the other has not; then the archives left out.
pub fn compare(w: &mut dyn Write, c: &Comparison, style: Style) -> io::Result<()> {
    for g in &c.groups {
        let names: Vec<String> = g.archives.iter().map(|a| term(a)).collect();
        writeln!(w, "{}", style.bold(&format!("{} ({} archives)", term(&g.key), g.archives.len())))?;
        writeln!(w, "  {}", names.join(", "))?;
        if g.two_only {
            if g.differences.is_empty() {
                writeln!(w, "  Two archives only: no difference.")?;
                continue;
            }
            writeln!(w, "  Two archives only, no majority to stand out from: these differ.")?;
            for a in &g.archives {
                let mine: Vec<_> = g.differences.iter().filter(|d| &d.archive == a).collect();
                if mine.is_empty() {
                    writeln!(w, "  only in {}: nothing", term(a))?;
                    continue;
                }
                writeln!(w, "  only in {} ({}):", term(a), mine.len())?;
                for d in mine {
                    writeln!(w, "    {:<11} {}{}", d.kind.as_str(), term(&d.value), seen(&d.processes))?;
                }
            }
            continue;
        }
        if g.outliers.is_empty() {
            writeln!(w, "  No outliers.")?;
            continue;
        }
        for o in &g.outliers {
            writeln!(
                w,
                "  {} of {}  {}  {:<11} {}{}",
                o.shared_by,
                o.of,
                term(&o.archive),
                o.kind.as_str(),
                term(&o.value),
                seen(&o.processes)
            )?;
        }
    }
    if !c.ungrouped.is_empty() {
        writeln!(w, "{}", style.bold(&format!("Not compared ({})", c.ungrouped.len())))?;
        for u in &c.ungrouped {
            match &u.key {
                Some(k) => writeln!(w, "  {}: no other archive of {}", term(&u.archive), term(k))?,
                None => writeln!(w, "  {}: no ECS task family or image known", term(&u.archive))?,
            }
        }
    }
    let differ = c.groups.iter().filter(|g| !g.differences.is_empty()).count();
    match (c.outliers, differ) {
        (0, 0) => writeln!(w, "Nothing stands out."),
        (n, 0) => writeln!(w, "{n} outlier(s)."),
        (n, d) => writeln!(w, "{n} outlier(s); {d} pair(s) of archives differ."),
    }
}

/// ` (pid comm, ...)`, escaped; empty when no process is known.
fn seen(ps: &[curtain_analyze::compare::SeenIn]) -> String {
    if ps.is_empty() {
        return String::new();
    }
    format!("  ({})", term(&crate::seen_in(ps)))
}

/// The built-in detector registry as Markdown-friendly text (docs/DETECTORS.md is this output).
pub fn detectors(w: &mut dyn Write) -> io::Result<()> {
    detectors_with(w, &Rules::builtin())
}

/// The detectors of `rules` (the built-in ones and a responder's own), with what each one
/// matches, as Markdown-friendly text. Rule files are the responder's, not the container's, but a
/// pasted control character would still reach the terminal: text goes through `term`.
pub fn detectors_with(w: &mut dyn Write, rules: &Rules) -> io::Result<()> {
    writeln!(w, "# Detectors\n")?;
    writeln!(w, "`curtain detectors` prints this list. Each finding names the detector's id, its ATT&CK techniques,")?;
    writeln!(w, "a severity (the usual one below; some findings are raised or lowered with a reason) and the archive")?;
    writeln!(w, "rows and raw files it rests on. The collector's own process, the responder's session and the ECS")?;
    writeln!(w, "Exec / SSM agent never raise a finding by themselves.\n")?;
    writeln!(w, "Each detector is a rule file embedded in curtain (crates/analyze/rules/): its text below, and the")?;
    writeln!(w, "lists it matches against with how each is matched. A responder's own rule files add entries to")?;
    writeln!(w, "these lists or new list-only rules (docs/RULES.md); they are listed here too.\n")?;
    for d in rules.iter() {
        writeln!(w, "## {} (`{}`)\n", term(&d.title), term(&d.id))?;
        writeln!(w, "- severity: {}", d.severity)?;
        writeln!(w, "- ATT&CK: {}", term(&d.attack.join(", ")))?;
        if d.is_cloudtrail() {
            writeln!(w, "- reads: CloudTrail records, in `curtain hunt` (joined to the asset register)")?;
        }
        if !d.is_builtin() {
            writeln!(w, "- rule file: {}", term(&d.source))?;
        }
        if !d.extended_by.is_empty() {
            writeln!(w, "- lists extended by: {}", term(&d.extended_by.join(", ")))?;
        }
        let doc: String = d.doc.split_whitespace().collect::<Vec<_>>().join(" ");
        writeln!(w, "\n{}\n", term(&doc))?;
        let lists = d.lists();
        for (spec, entries) in &lists {
            list(w, spec, &entries.to_strings())?;
        }
        if !lists.is_empty() {
            writeln!(w)?;
        }
    }
    writeln!(w, "## Program families\n")?;
    writeln!(w, "What the detectors above take for a shell, an interpreter, a relay and a multi-call binary.")?;
    if !rules.family_sources().is_empty() {
        writeln!(w, "\n- extended by: {}", term(&rules.family_sources().join(", ")))?;
    }
    writeln!(w)?;
    for (spec, names) in rules.families() {
        list(w, &spec, names)?;
    }
    Ok(())
}

/// One list of a rule: its key, what it is for, how it is matched, its entries.
fn list(w: &mut dyn Write, spec: &ListSpec, entries: &[String]) -> io::Result<()> {
    let entries: Vec<String> = entries.iter().map(|e| format!("`{}`", term(e))).collect();
    writeln!(w, "- `{}`: {}; matched {}: {}", spec.name, spec.about, spec.kind.how(), entries.join(", "))
}

/// The holders of an address, as `curtain whois` prints them.
pub fn holders(
    w: &mut dyn Write,
    ip: &str,
    at: Option<&str>,
    holders: &[curtain_model::register::Holder],
) -> io::Result<()> {
    let when = at.map(|t| format!(" at {t}")).unwrap_or_default();
    if holders.is_empty() {
        return writeln!(w, "{ip}: no holder known{when}.");
    }
    writeln!(w, "{ip}{when}: {} holder(s)", holders.len())?;
    for h in holders {
        let from = term(h.from.as_deref().unwrap_or("?"));
        let to = match &h.to {
            Some(t) => term(t),
            None => format!("still held as last seen at {}", term(h.last_seen.as_deref().unwrap_or("?"))),
        };
        writeln!(
            w,
            "  {from} .. {to}  ({})",
            match h.certainty {
                curtain_model::register::Certainty::Observed => "observed",
                curtain_model::register::Certainty::Inferred => "inferred",
                curtain_model::register::Certainty::Claimed => "claimed",
            }
        )?;
        if let (Some(o), false) = (&h.owner, h.kind == "ecs-task") {
            let id = o.id.as_deref().map(|i| format!(" {}", term(i))).unwrap_or_default();
            let detail = o.detail.as_deref().map(|d| format!(" ({})", term(d))).unwrap_or_default();
            let described = match (&o.description, o.kind.as_str()) {
                (Some(d), "unknown") => format!(": described as {:?}", term(d)),
                _ => String::new(),
            };
            writeln!(w, "    {}{id}{detail}{described}", term(&h.kind))?;
            if !o.functions.is_empty() {
                writeln!(w, "      serves the functions {}", term(&o.functions.join(", ")))?;
            }
            for f in &o.function_spells {
                match &f.to {
                    Some(to) => {
                        writeln!(w, "      {:<24} configured {} .. {}", term(&f.function), term(&f.from), term(to))?
                    }
                    None => writeln!(w, "      {:<24} configured from {}", term(&f.function), term(&f.from))?,
                }
            }
            let mut about = Vec::new();
            if let Some(n) = &o.name {
                about.push(format!("Name {:?}", term(n)));
            }
            if let Some(t) = &o.instance_type {
                about.push(term(t));
            }
            if let Some(l) = &o.launched_at {
                about.push(format!("launched {}", term(l)));
            }
            if !about.is_empty() {
                writeln!(w, "      {}", about.join(", "))?;
            }
            for s in &o.states {
                writeln!(w, "      {:<13} seen {} .. {}", term(&s.state), term(&s.first_seen), term(&s.last_seen))?;
            }
        }
        match &h.task_arn {
            _ if h.kind != "ecs-task" => {}
            Some(t) => writeln!(w, "    ecs-task {}", term(t))?,
            None if h.certainty == curtain_model::register::Certainty::Claimed => writeln!(
                w,
                "    task unknown: only the interface's description claims ECS attachment {} (ECS's own records do not confirm it)",
                term(h.attachment_id.as_deref().unwrap_or("?"))
            )?,
            None => writeln!(
                w,
                "    task unknown (ENI of ECS attachment {})",
                term(h.attachment_id.as_deref().unwrap_or("?"))
            )?,
        }
        let mut where_ = vec![format!("account {}", term(&h.account_id)), format!("region {}", term(&h.region))];
        if let Some(c) = &h.cluster_arn {
            where_.push(format!("cluster {}", term(c.rsplit('/').next().unwrap_or(c))));
        }
        if let Some(s) = &h.service {
            where_.push(format!("service {}", term(s)));
        }
        if let Some(l) = &h.launch_type {
            where_.push(term(l));
        }
        writeln!(w, "    {}", where_.join(", "))?;
        for c in &h.containers {
            writeln!(
                w,
                "    container {} image {} {}",
                term(&c.name),
                term(c.image.as_deref().unwrap_or("?")),
                term(c.image_digest.as_deref().unwrap_or(""))
            )?;
        }
        if let Some(td) = &h.task_definition_arn {
            writeln!(
                w,
                "    task definition {}{}",
                term(td),
                h.network_mode.as_deref().map(|m| format!(" ({} network mode)", term(m))).unwrap_or_default()
            )?;
        }
        for d in &h.definition {
            let run: Vec<&str> = d.entry_point.iter().chain(d.command.iter()).map(String::as_str).collect();
            writeln!(
                w,
                "      {} runs {} {}",
                term(&d.name),
                term(d.image.as_deref().unwrap_or("?")),
                term(&run.join(" "))
            )?;
        }
        if let Some(ci) = &h.container_instance_arn {
            writeln!(
                w,
                "    on container instance {} ({})",
                term(ci),
                term(h.ec2_instance_id.as_deref().unwrap_or("?"))
            )?;
        }
        match &h.eni_id {
            Some(eni) => writeln!(
                w,
                "    {} address on {}{}",
                term(&h.ip_kind),
                term(eni),
                h.attachment_id.as_deref().map(|a| format!(" (attachment {})", term(a))).unwrap_or_default()
            )?,
            None => writeln!(w, "    {} address", term(&h.ip_kind))?,
        }
        let src: Vec<String> = h
            .sources
            .iter()
            .map(|s| format!("{} {} at {}", s.kind.as_str(), term(&s.id), curtain_model::format_rfc3339_ns(s.at_ns)))
            .collect();
        writeln!(w, "    from: {}", src.join("; "))?;
        for a in &h.acquisitions {
            let what = match (a.verified, &a.archive, &a.error) {
                (true, Some(f), _) => {
                    format!("verified {} (SHA-256 {})", term(f), term(a.sha256.as_deref().unwrap_or("?")))
                }
                (_, _, Some(e)) => format!("FAILED: {}", term(e)),
                _ => "FAILED".to_string(),
            };
            writeln!(
                w,
                "    acquired {} container {} by {} ({}, {}): {what}",
                term(&a.started_at),
                term(a.container_name.as_deref().unwrap_or("?")),
                term(&a.operator),
                term(&a.method),
                term(&a.transport)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rules: &Rules) -> String {
        let mut out = Vec::new();
        detectors_with(&mut out, rules).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// docs/DETECTORS.md is `curtain detectors`; CURTAIN_BLESS=1 writes it anew.
    #[test]
    fn detectors_doc_is_current() {
        let mut got = Vec::new();
        detectors(&mut got).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/DETECTORS.md");
        if std::env::var_os("CURTAIN_BLESS").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read(&path).unwrap();
        assert!(want == got, "docs/DETECTORS.md is stale: CURTAIN_BLESS=1 cargo test -p curtain-report");
    }

    #[test]
    fn a_responders_rules_are_listed_with_their_file() {
        let dir = std::env::temp_dir().join(format!("curtain-report-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("acme.toml"),
            "id = \"acme-miner\"\nkind = \"process\"\ntitle = \"ACME miner\"\nattack = [\"T1496\"]\n\
             severity = \"high\"\ndoc = \"Seen at ACME.\"\n[lists]\nnames = [\"acmeminer\"]\n",
        )
        .unwrap();
        std::fs::write(dir.join("more.toml"), "extends = \"miner\"\n[lists]\nnames = [\"mysteryminer\"]\n").unwrap();
        let rules = Rules::load_dir(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let t = text(&rules.unwrap());
        assert!(t.contains("## ACME miner (`acme-miner`)\n\n- severity: high\n- ATT&CK: T1496\n- rule file: "), "{t}");
        assert!(t.contains("`xmrigdaemon`, `mysteryminer`\n"), "{t}");
        assert!(t.contains("- lists extended by: "), "{t}");
        // The built-in ones come first, in their order, then the responder's.
        let at = |s: &str| t.find(s).unwrap();
        assert!(at("(`reverse-shell`)") < at("(`root-full-caps`)") && at("(`root-full-caps`)") < at("(`acme-miner`)"));
    }
}
