//! Renderers of analysed snapshots, each writing to `impl Write`: text for the terminal, Markdown,
//! stable JSON, Timesketch JSONL/CSV, and one self-contained HTML file.
//!
//! Everything that came from a container is attacker-controlled. Each output escapes it its own
//! way: control characters (terminal escape sequences) are made visible in text, HTML is escaped,
//! CSV cells that a spreadsheet would run as a formula are neutralised.

#![forbid(unsafe_code)]

use curtain_analyze::Index;
use curtain_model::Finding;

pub mod html;
pub mod json;
pub mod markdown;
pub mod text;
pub mod timeline;

/// One snapshot with its analysis.
pub struct Analysed<'a> {
    pub ix: Index<'a>,
    pub findings: Vec<Finding>,
}

impl<'a> Analysed<'a> {
    /// Analysed with the built-in rules.
    pub fn new(snap: &'a curtain_model::Snapshot) -> Self {
        let (ix, findings) = curtain_analyze::analyze(snap);
        Analysed { ix, findings }
    }

    /// Analysed with `rules` (the built-in ones with a responder's own).
    pub fn with_rules(snap: &'a curtain_model::Snapshot, rules: &curtain_analyze::rules::Rules) -> Self {
        let (ix, findings) = curtain_analyze::analyze_with(snap, rules);
        Analysed { ix, findings }
    }
}

/// Text safe to print on a terminal (control characters and bidi overrides made visible).
pub use curtain_model::term;

/// HTML-escaped text (for element content and quoted attribute values).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push_str(&format!("&#x{:x};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// One CSV cell: quoted when needed, and with a leading `'` when a spreadsheet would read it
/// as a formula (`=`, `+`, `-`, `@`, tab, CR).
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    // Control characters too: a viewer that shows the cell must not run them.
    let s = term(&s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A byte string's text for display (lossy).
pub(crate) fn lossy(b: &curtain_model::ByteString) -> String {
    b.to_lossy().into_owned()
}

pub(crate) fn cmdline(p: &curtain_model::Process) -> String {
    p.cmdline.as_ref().map(|c| c.iter().map(lossy).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

pub(crate) fn endpoint(e: &Option<curtain_model::Endpoint>) -> String {
    e.as_ref().map(|e| e.to_string()).unwrap_or_default()
}

/// A finding's evidence on one line: `member locator; member locator`.
pub(crate) fn evidence(f: &Finding) -> String {
    let ev: Vec<String> = f
        .evidence
        .iter()
        .map(|e| if e.locator.is_empty() { e.member.clone() } else { format!("{} {}", e.member, e.locator) })
        .collect();
    ev.join("; ")
}

/// One socket as the views show it (values unescaped: each renderer escapes its own way).
pub(crate) struct SocketRow<'a> {
    pub socket: &'a curtain_model::Socket,
    /// Address and port, or a unix socket's path.
    pub local: String,
    pub remote: String,
    /// `pid/fd comm, ...`, or "(no visible owner)".
    pub owners: String,
    /// The containers of its owners (`host` for the host's own processes), as `findings` names
    /// them; empty when it has no visible owner.
    pub containers: String,
}

/// Every socket, listeners first, with its owners named.
pub(crate) fn socket_rows<'a>(ix: &'a Index) -> Vec<SocketRow<'a>> {
    let mut socks: Vec<_> = ix.snap.sockets.iter().collect();
    socks.sort_by_key(|s| (s.state != "LISTEN", s.proto, s.netns, s.inode));
    socks
        .into_iter()
        .map(|s| {
            let owners = if s.owners.is_empty() {
                "(no visible owner)".to_string()
            } else {
                let v: Vec<String> = s
                    .owners
                    .iter()
                    .map(|o| {
                        format!(
                            "{}/{} {}",
                            o.pid,
                            o.fd,
                            ix.process(o.pid).map(|p| p.comm_lossy().into_owned()).unwrap_or_default()
                        )
                    })
                    .collect();
                v.join(", ")
            };
            let local =
                if s.local.is_some() { endpoint(&s.local) } else { s.path.as_ref().map(lossy).unwrap_or_default() };
            let mut containers: Vec<String> = Vec::new();
            for c in s.owners.iter().filter_map(|o| ix.container_of(o.pid)) {
                let name = c.display();
                if !containers.contains(&name) {
                    containers.push(name);
                }
            }
            SocketRow { socket: s, local, remote: endpoint(&s.remote), owners, containers: containers.join(", ") }
        })
        .collect()
}

/// Processes a compared feature was seen in, as `pid comm, pid comm`: the first few, then how
/// many more (a uid can be every process of a replica). Unescaped.
pub(crate) fn seen_in(ps: &[curtain_analyze::compare::SeenIn]) -> String {
    const SHOWN: usize = 5;
    let mut v: Vec<String> = ps.iter().take(SHOWN).map(|p| format!("{} {}", p.pid, p.comm)).collect();
    if ps.len() > SHOWN {
        v.push(format!("{} more", ps.len() - SHOWN));
    }
    v.join(", ")
}

pub(crate) fn user(p: &curtain_model::Process) -> String {
    match (p.uid, p.euid) {
        (Some(u), Some(e)) if u != e => format!("{u}/{e}"),
        (Some(u), _) => u.to_string(),
        _ => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_neutralised() {
        assert_eq!(term("a\x1b[31mred\x07\nb"), "a\\x1b[31mred\\x07\\nb");
        assert_eq!(term("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(term("plain ünïcode"), "plain ünïcode");
    }

    fn proc(pid: u32, ppid: u32, comm: &[u8]) -> curtain_model::Process {
        curtain_model::Process {
            pid,
            ppid: Some(ppid),
            comm: Some(curtain_model::ByteString(comm.to_vec())),
            ..Default::default()
        }
    }

    fn snap(processes: Vec<curtain_model::Process>) -> curtain_model::Snapshot {
        curtain_model::Snapshot { processes, ..Default::default() }
    }

    #[test]
    fn trees_show_every_process_deep_chains_and_loops_included() {
        let n = 20_000u32;
        let mut procs: Vec<_> = (1..=n).map(|pid| proc(pid, pid - 1, b"link")).collect();
        procs.push(proc(30_000, 30_000, b"selfish"));
        procs.push(proc(30_001, 30_002, b"ping"));
        procs.push(proc(30_002, 30_001, b"pong"));
        let s = snap(procs);
        let a = Analysed::new(&s);
        let mut out = Vec::new();
        text::tree(&mut out, &a.ix).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), n as usize + 3);
        assert!(out.lines().all(|l| l.len() < 400), "deep rows say their depth instead of drawing it");
        assert!(out.contains("[depth 19999] 20000 link"), "the deepest row names its depth");
        assert!(out.lines().any(|l| l.starts_with("30000 selfish")));
        assert!(out.lines().any(|l| l.starts_with("30001 ping") && l.contains("parent chain loops")));
        assert!(out.lines().any(|l| l.contains("30002 pong")));
        let mut html = Vec::new();
        html::report(&mut html, std::slice::from_ref(&a)).unwrap();
        let html = String::from_utf8(html).unwrap();
        assert_eq!(
            html.matches("<details class=\"proc\"").count(),
            html.matches("</details>").count() - html.matches("<details><summary>manifest.json").count()
        );
        assert!(html.contains("<b>20000</b>") && html.contains("depth 19999") && html.contains("<b>30002</b>"));
    }

    #[test]
    fn a_hostile_name_cannot_reach_the_terminal_from_any_view() {
        let evil: &[u8] = b"x\x1b]0;pwned\x07\x1b[2J\r\x08\xc2\x9b\xe2\x80\xae";
        let mut p = proc(1, 0, evil);
        p.cmdline = Some(vec![curtain_model::ByteString(evil.to_vec())]);
        let mut s = snap(vec![p]);
        s.manifest.hostname = String::from_utf8_lossy(evil).into_owned();
        s.manifest.started_at = String::from_utf8_lossy(evil).into_owned();
        let a = Analysed::new(&s);
        let mut out = Vec::new();
        text::tree(&mut out, &a.ix).unwrap();
        text::summary(&mut out, &a, text::Style::plain()).unwrap();
        markdown::report(&mut out, std::slice::from_ref(&a)).unwrap();
        let out = String::from_utf8(out).unwrap();
        for bad in ['\x1b', '\x07', '\r', '\x08', '\u{9b}', '\u{202e}'] {
            assert!(!out.contains(bad), "{bad:?} reached the output: {out:?}");
        }
        let cell = csv_cell("a\x1b[2Jb\nc");
        assert!(!cell.contains('\x1b') && !cell.contains('\n'), "{cell:?}");
    }

    /// A comparison whose every value from a target is hostile: an outlier group, a pair that
    /// differs and an archive left out.
    fn hostile_comparison(evil: &str) -> curtain_analyze::compare::Comparison {
        use curtain_analyze::compare::*;
        let seen = vec![SeenIn { pid: 666, comm: evil.to_string() }];
        Comparison {
            groups: vec![
                Group {
                    key: format!("ecs:{evil}"),
                    archives: vec![evil.to_string(), "b".into(), "c".into()],
                    outliers: vec![Outlier {
                        archive: evil.to_string(),
                        kind: FeatureKind::Cmdline,
                        value: evil.to_string(),
                        shared_by: 1,
                        of: 3,
                        processes: seen.clone(),
                    }],
                    two_only: false,
                    differences: vec![],
                },
                Group {
                    key: "image:sha256:abc".into(),
                    archives: vec![evil.to_string(), "e".into()],
                    outliers: vec![],
                    two_only: true,
                    differences: vec![Difference {
                        archive: evil.to_string(),
                        kind: FeatureKind::Mapped,
                        value: evil.to_string(),
                        processes: seen,
                    }],
                },
            ],
            ungrouped: vec![Ungrouped { archive: evil.to_string(), key: Some(evil.to_string()) }],
            outliers: 1,
        }
    }

    #[test]
    fn a_hostile_value_in_a_comparison_is_escaped_in_text_and_markdown_and_exact_in_json() {
        let evil = "x\x1b]0;pwned\x07\nFAKE LINE\r\x08\u{9b}\u{202e}a`b|c";
        let c = hostile_comparison(evil);
        for (name, out) in [
            ("text", {
                let mut out = Vec::new();
                text::compare(&mut out, &c, text::Style::plain()).unwrap();
                String::from_utf8(out).unwrap()
            }),
            ("markdown", {
                let mut out = Vec::new();
                markdown::compare(&mut out, &c).unwrap();
                String::from_utf8(out).unwrap()
            }),
        ] {
            for bad in ['\x1b', '\x07', '\r', '\x08', '\u{9b}', '\u{202e}'] {
                assert!(!out.contains(bad), "{name}: {bad:?} reached the output: {out}");
            }
            assert!(!out.lines().any(|l| l.starts_with("FAKE LINE")), "{name}: a value forged a line: {out}");
            assert!(out.contains("x\\x1b]0;pwned\\x07\\nFAKE LINE"), "{name}: {out}");
            assert!(out.contains("666 x\\x1b"), "{name}: the process's name is escaped too: {out}");
        }
        let mut md_out = Vec::new();
        markdown::compare(&mut md_out, &c).unwrap();
        let md_out = String::from_utf8(md_out).unwrap();
        assert!(md_out.contains("aˋb¦c") && !md_out.contains("a`b|c"), "{md_out}");

        let mut js = Vec::new();
        json::compare(&mut js, &c).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&js).unwrap();
        assert_eq!(v["groups"][0]["outliers"][0]["value"], evil);
        assert_eq!(v["groups"][1]["differences"][0]["kind"], "mapped");
        assert_eq!(v["outliers"], 1);
    }

    #[test]
    fn a_comparison_in_text() {
        let c = hostile_comparison("odd");
        let mut out = Vec::new();
        text::compare(&mut out, &c, text::Style::plain()).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "ecs:odd (3 archives)\n  odd, b, c\n  1 of 3  odd  cmdline     odd  (666 odd)\n\
             image:sha256:abc (2 archives)\n  odd, e\n  Two archives only, no majority to stand out from: these differ.\n\
             \x20 only in odd (1):\n    mapped      odd  (666 odd)\n  only in e: nothing\n\
             Not compared (1)\n  odd: no other archive of odd\n1 outlier(s); 1 pair(s) of archives differ.\n"
        );
    }

    #[test]
    fn html_escaping() {
        assert_eq!(esc("<img src=x onerror=alert(1)>"), "&lt;img src=x onerror=alert(1)&gt;");
        assert_eq!(esc("a\"b'c&\x1b"), "a&quot;b&#39;c&amp;&#x1b;");
    }

    #[test]
    fn csv_formulas_and_quotes() {
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("-e /bin/sh"), "'-e /bin/sh");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("@SUM(1)"), "'@SUM(1)");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
