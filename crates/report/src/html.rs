//! One self-contained HTML file a responder can hand over: findings first, then the container's
//! identity, the process tree (collapsible, no script needed), connections, timeline, what could
//! not be read, and the archive's digest and manifest.
//!
//! No script, no external resource: a Content-Security-Policy forbids both, and every value from
//! the target is escaped with [`esc`], so a process named `<img src=x onerror=alert(1)>` is text.

use crate::{cmdline, esc, lossy, user, Analysed};
use curtain_analyze::timeline;
use curtain_model::{Label, Process};
use std::fmt::Write as _;
use std::io::{self, Write};

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d232b;background:#f6f7f9}
header{background:#1d232b;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header .meta{color:#c5ccd6;font-size:13px}
main{padding:8px 28px 40px;max-width:1400px}
h2{margin:28px 0 10px;font-size:18px;border-bottom:2px solid #dde2e8;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #dde2e8;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}
code,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12.5px;word-break:break-all}
.finding{background:#fff;border:1px solid #dde2e8;border-left:6px solid #888;border-radius:4px;padding:10px 14px;margin:10px 0}
.finding h3{margin:0 0 4px}
.critical{border-left-color:#7a0010}.high{border-left-color:#d0021b}.medium{border-left-color:#f5a623}.low{border-left-color:#4a90e2}.info{border-left-color:#9b9b9b}
.sev{display:inline-block;min-width:64px;text-align:center;border-radius:3px;color:#fff;font-size:11px;font-weight:700;padding:1px 6px;margin-right:6px;text-transform:uppercase}
.sev.critical{background:#7a0010}.sev.high{background:#d0021b}.sev.medium{background:#f5a623}.sev.low{background:#4a90e2}.sev.info{background:#9b9b9b}
.attack{color:#555;font-size:12px}
.evidence{color:#555;font-size:12px;margin-top:4px}
details.proc{margin-left:18px}
details.proc>summary{cursor:pointer;list-style-position:outside}
.leaf{margin-left:18px;padding-left:14px}
.label{background:#e8f0fe;color:#1a4fb0;border-radius:3px;padding:0 5px;font-size:11px;margin-left:4px}
.flag{background:#fde8e8;color:#a00;border-radius:3px;padding:0 5px;font-size:11px;margin-left:4px}
.muted{color:#777}
.kv td:first-child{width:220px;color:#555}
"#;

fn sev_class(s: curtain_model::Severity) -> &'static str {
    s.as_str()
}

/// Writes the report for one or more analysed archives.
pub fn report(w: &mut dyn Write, all: &[Analysed]) -> io::Result<()> {
    let mut h = String::with_capacity(1 << 20);
    let title = match all {
        [one] => format!("curtain report: {}", one.ix.snap.manifest.hostname),
        _ => format!("curtain report: {} archives", all.len()),
    };
    let total: usize = all.iter().map(|a| a.findings.len()).sum();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; script-src 'none'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\
         <header><h1>{}</h1><div class=\"meta\">{} finding(s) in {} archive(s), rendered by curtain {}</div></header><main>",
        esc(&title),
        esc(&title),
        total,
        all.len(),
        env!("CARGO_PKG_VERSION")
    );
    for a in all {
        archive(&mut h, a);
    }
    h.push_str("</main></body></html>\n");
    w.write_all(h.as_bytes())
}

fn archive(h: &mut String, a: &Analysed) {
    let s = a.ix.snap;
    let m = &s.manifest;
    let _ = write!(h, "<h2>{} <span class=\"muted\">at {}</span></h2>", esc(&m.hostname), esc(&m.started_at));

    // Findings first.
    let _ = write!(h, "<section id=\"findings\"><h3>Findings ({})</h3>", a.findings.len());
    if a.findings.is_empty() {
        h.push_str("<p>No findings.</p>");
    }
    for f in &a.findings {
        let _ = write!(
            h,
            "<div class=\"finding {c}\"><h3><span class=\"sev {c}\">{sev}</span>{title}</h3>\
             <div class=\"attack\">ATT&amp;CK {attack} · detector <code>{id}</code>{pid}</div>\
             <div class=\"mono\">{summary}</div><div class=\"evidence\">Evidence: <code>{ev}</code></div></div>",
            c = sev_class(f.severity),
            sev = f.severity,
            title = esc(&f.title),
            attack = esc(&f.attack.join(", ")),
            id = esc(&f.detector),
            pid = f
                .pid
                .map(|p| format!(" · pid {p} started {}", esc(f.started_at.as_deref().unwrap_or("?"))))
                .unwrap_or_default()
                + &f.container.as_deref().map(|c| format!(" · container {}", esc(c))).unwrap_or_default(),
            summary = esc(&f.summary),
            ev = esc(&crate::evidence(f)),
        );
    }
    h.push_str("</section>");

    // Identity.
    h.push_str("<section id=\"identity\"><h3>Where this was collected</h3><table class=\"kv\">");
    let mut kv = |k: &str, v: &str| {
        let _ = write!(h, "<tr><td>{}</td><td class=\"mono\">{}</td></tr>", esc(k), esc(v));
    };
    kv("Host name", &m.hostname);
    kv("Kernel", &format!("{} {}", m.kernel_release, m.machine.as_deref().unwrap_or("")));
    kv("Collected", &format!("{} to {}", m.started_at, m.ended_at));
    kv(
        "Collector",
        &format!(
            "pid {} uid {} euid {} CapEff {}",
            m.collector.pid,
            m.collector.uid,
            m.collector.euid,
            m.collector.cap_eff.as_deref().unwrap_or("?")
        ),
    );
    if let Some(e) = &m.ecs {
        kv("ECS cluster", e.cluster.as_deref().unwrap_or("?"));
        kv("ECS task", e.task_arn.as_deref().unwrap_or("?"));
        kv(
            "Task definition",
            &format!("{}:{}", e.family.as_deref().unwrap_or("?"), e.revision.as_deref().unwrap_or("?")),
        );
        kv(
            "Launch type / AZ",
            &format!("{} / {}", e.launch_type.as_deref().unwrap_or("?"), e.availability_zone.as_deref().unwrap_or("?")),
        );
        kv(
            "Container",
            &format!("{} ({})", e.container_name.as_deref().unwrap_or("?"), e.docker_id.as_deref().unwrap_or("?")),
        );
        kv("Image", &format!("{} {}", e.image.as_deref().unwrap_or("?"), e.image_digest.as_deref().unwrap_or("")));
        kv("IPv4", &e.ipv4_addresses.join(", "));
    }
    kv("Archive", &s.source);
    kv("Archive SHA-256", s.archive_sha256.as_deref().unwrap_or("?"));
    h.push_str("</table><h3>Containers</h3><table><tr><th>runtime</th><th>container</th><th>id</th><th>pod / task</th><th>init pid</th><th>processes</th></tr>");
    for c in &a.ix.containers {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
            c.runtime.as_str(),
            esc(&c.display()),
            esc(&c.key),
            esc(c.pod_uid.as_deref().or(c.ecs_task_id.as_deref()).unwrap_or("")),
            c.init_pid.map(|p| p.to_string()).unwrap_or_default(),
            c.pids.len()
        );
    }
    h.push_str("</table></section>");

    // Process tree.
    let kthreads = s.processes.iter().filter(|p| p.kernel_thread).count();
    let _ = write!(h, "<section id=\"tree\"><h3>Process tree ({} processes", s.processes.len());
    if kthreads > 0 {
        let _ = write!(h, ", {kthreads} kernel threads not shown");
    }
    h.push_str(")</h3>");
    tree(h, a);
    h.push_str("</section>");

    // Connections.
    let _ = write!(
        h,
        "<section id=\"connections\"><h3>Sockets ({})</h3><table><tr><th>proto</th><th>state</th><th>local</th><th>remote</th><th>netns</th><th>owners</th><th>container</th></tr>",
        s.sockets.len()
    );
    for r in crate::socket_rows(&a.ix) {
        let x = r.socket;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
            x.proto.table(),
            esc(&x.state),
            esc(&r.local),
            esc(&r.remote),
            x.netns,
            esc(&r.owners),
            esc(&r.containers)
        );
    }
    h.push_str("</table></section>");

    // Timeline.
    let rows = timeline::merge(timeline::rows(&a.ix, &a.findings));
    let _ = write!(
        h,
        "<section id=\"timeline\"><h3>Timeline ({} events)</h3><table><tr><th>time (UTC)</th><th>event</th><th>details</th></tr>",
        rows.len()
    );
    for r in &rows {
        let _ = write!(
            h,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            esc(&r.datetime),
            esc(&r.timestamp_desc),
            esc(&r.message)
        );
    }
    h.push_str("</table></section>");

    // Errors.
    let _ = write!(h, "<section id=\"errors\"><h3>Not readable ({} errors)</h3>", s.errors.len());
    if m.errors_by_kind.is_empty() {
        h.push_str("<p>Everything was read.</p>");
    } else {
        h.push_str("<p>");
        for (k, v) in &m.errors_by_kind {
            let _ = write!(h, "<span class=\"flag\">{} {}</span> ", esc(k), v);
        }
        h.push_str("</p><details><summary>Every error</summary><table><tr><th>pid</th><th>path</th><th>kind</th><th>detail</th></tr>");
        for e in s.errors.iter().take(5000) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
                e.pid.map(|p| p.to_string()).unwrap_or_default(),
                esc(&e.path),
                e.kind,
                esc(e.detail.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table></details>");
    }
    h.push_str("</section>");

    // Manifest.
    let manifest = serde_json::to_string_pretty(m).unwrap_or_default();
    let _ = write!(
        h,
        "<section id=\"manifest\"><h3>Archive manifest</h3><p>{} members; archive SHA-256 <code>{}</code>. \
         Check it with <code>curtain verify</code>.</p><details><summary>manifest.json</summary><pre class=\"mono\">{}</pre></details></section>",
        m.members.len() + 1,
        esc(s.archive_sha256.as_deref().unwrap_or("?")),
        esc(&manifest)
    );
}

fn flags(p: &Process) -> String {
    let mut f = String::new();
    match p.label {
        Some(Label::SelfCollector) => f.push_str("<span class=\"label\">self</span>"),
        Some(Label::Responder) => f.push_str("<span class=\"label\">responder</span>"),
        Some(Label::SsmAgent) => f.push_str("<span class=\"label\">ssm-agent</span>"),
        None => {}
    }
    if let Some(e) = &p.exe {
        if e.memfd {
            f.push_str("<span class=\"flag\">memfd</span>");
        } else if e.deleted == Some(true) {
            f.push_str("<span class=\"flag\">deleted exe</span>");
        }
    }
    f
}

/// Levels of the tree nested as folding blocks; deeper rows are listed at that level with their
/// depth shown, so that a chain of thousands of processes neither vanishes nor nests without end.
const NESTED_DEPTH: usize = 64;

/// Every process but kernel threads, as nested folding blocks in tree order.
fn tree(h: &mut String, a: &Analysed) {
    let groups = a.ix.tree_groups();
    if groups.len() > 1 {
        for (c, rows) in &groups {
            let _ = write!(h, "<h4 class=\"mono\">{} ({} processes)</h4>", esc(&c.display()), rows.len());
            tree_rows(h, rows);
        }
    } else {
        tree_rows(h, &a.ix.tree_rows());
    }
}

fn tree_rows(h: &mut String, rows: &[curtain_analyze::index::TreeRow]) {
    let mut open = 0usize;
    for (i, row) in rows.iter().enumerate() {
        let p = row.process;
        let d = row.depth.min(NESTED_DEPTH);
        while open > d {
            h.push_str("</details>");
            open -= 1;
        }
        let has_kids = rows.get(i + 1).is_some_and(|n| n.depth > row.depth) && row.depth < NESTED_DEPTH;
        let exe = p.exe.as_ref().map(|e| lossy(&e.path)).unwrap_or_else(|| "-".into());
        let mut note = String::new();
        if row.depth > NESTED_DEPTH {
            let _ = write!(note, "<span class=\"flag\">depth {}</span>", row.depth);
        }
        if row.unreachable {
            note.push_str("<span class=\"flag\">parent chain loops</span>");
        }
        let line = format!(
            "<span class=\"mono\"><b>{}</b> {}</span>{}{note} <span class=\"muted\">user {} · {} · {}</span> <span class=\"mono\">{}</span>",
            p.pid,
            esc(&p.comm_lossy()),
            flags(p),
            esc(&user(p)),
            esc(p.started_at.as_deref().unwrap_or("?")),
            esc(&exe),
            esc(&cmdline(p))
        );
        if has_kids {
            let _ = write!(h, "<details class=\"proc\" open><summary>{line}</summary>");
            open += 1;
        } else {
            let _ = write!(h, "<div class=\"leaf\">{line}</div>");
        }
    }
    for _ in 0..open {
        h.push_str("</details>");
    }
}
