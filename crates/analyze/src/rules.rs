//! Detectors as data: each detector's id, title, ATT&CK techniques, severity, doc text and the
//! lists it matches against live in TOML rule files, so that a responder can extend them (a new
//! miner name, a C2 address, a tool their fleet runs from a hidden folder) without a new build,
//! and `curtain detectors` shows what is really matched.
//!
//! The embedded files (`crates/analyze/rules/*.toml`) define the built-in detectors, whose logic
//! is Rust bound by id; `Rules::load_dir` merges a responder's own files over them. A file holds
//! one of:
//!
//! - a new rule: `id`, `kind` (a list-only kind: `process` or `connection`), `title`, `attack`,
//!   `severity`, `doc` and `[lists]`;
//! - additions to an existing rule's lists: `extends = "ID"` and `[lists]`;
//! - additions to the shared program families: `[families]` (allowed beside either of the above).
//!
//! Every file is checked whole at load time, and each problem is reported with the file, the line
//! and what is wrong: a rule that silently matches nothing is worse than no rule.

use crate::detect::{self, Engine, ListKind};
use curtain_model::{Finding, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use toml::Spanned;

/// The embedded rule files, in the order their detectors' findings are listed.
const BUILTIN: &[(&str, &str)] = &[
    ("families.toml", include_str!("../rules/families.toml")),
    ("reverse-shell.toml", include_str!("../rules/reverse-shell.toml")),
    ("bind-shell.toml", include_str!("../rules/bind-shell.toml")),
    ("deleted-exe.toml", include_str!("../rules/deleted-exe.toml")),
    ("memfd-exe.toml", include_str!("../rules/memfd-exe.toml")),
    ("writable-dir-exe.toml", include_str!("../rules/writable-dir-exe.toml")),
    ("ld-preload.toml", include_str!("../rules/ld-preload.toml")),
    ("traced.toml", include_str!("../rules/traced.toml")),
    ("miner.toml", include_str!("../rules/miner.toml")),
    ("credential-endpoint.toml", include_str!("../rules/credential-endpoint.toml")),
    ("masquerade.toml", include_str!("../rules/masquerade.toml")),
    ("interactive-shell.toml", include_str!("../rules/interactive-shell.toml")),
    ("suspicious-mapping.toml", include_str!("../rules/suspicious-mapping.toml")),
    ("root-full-caps.toml", include_str!("../rules/root-full-caps.toml")),
    ("exposed-container.toml", include_str!("../rules/exposed-container.toml")),
    ("joined-container-ns.toml", include_str!("../rules/joined-container-ns.toml")),
    ("container-host-root.toml", include_str!("../rules/container-host-root.toml")),
    ("task-credentials-elsewhere.toml", include_str!("../rules/task-credentials-elsewhere.toml")),
    ("ecs-execute-command.toml", include_str!("../rules/ecs-execute-command.toml")),
    ("ecs-run-task-override.toml", include_str!("../rules/ecs-run-task-override.toml")),
    ("ecs-privileged-task-definition.toml", include_str!("../rules/ecs-privileged-task-definition.toml")),
    ("ecs-unusual-deployer.toml", include_str!("../rules/ecs-unusual-deployer.toml")),
];

/// The shared program families, how their names are matched, and what each is for.
pub(crate) const FAMILIES: &[ListSpec] = &[
    ListSpec { name: "shells", kind: ListKind::Program, about: "command shells" },
    ListSpec { name: "interpreters", kind: ListKind::Program, about: "general-purpose interpreters" },
    ListSpec { name: "relays", kind: ListKind::Program, about: "programs that join their stdio to a socket" },
    ListSpec { name: "multicall", kind: ListKind::Program, about: "multi-call binaries (the applet is the program)" },
];

/// One list a rule may carry: its key, how its entries are matched, what it is for.
#[derive(Clone, Copy, Debug)]
pub struct ListSpec {
    pub name: &'static str,
    pub kind: ListKind,
    pub about: &'static str,
}

/// A list's entries: text, or ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entries {
    Text(Vec<String>),
    Ports(Vec<u16>),
}

impl Entries {
    /// The entries as text, for listing.
    pub fn to_strings(&self) -> Vec<String> {
        match self {
            Entries::Text(v) => v.clone(),
            Entries::Ports(v) => v.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn extend(&mut self, more: Entries) {
        match (self, more) {
            (Entries::Text(a), Entries::Text(b)) => b.into_iter().for_each(|x| push_new(a, x)),
            (Entries::Ports(a), Entries::Ports(b)) => b.into_iter().for_each(|x| push_new(a, x)),
            // Both sides were checked against the same spec.
            _ => unreachable!("list kinds differ"),
        }
    }
}

fn push_new<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// One detector: what a finding says about itself, and what it matches against.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub title: String,
    /// MITRE ATT&CK technique ids.
    pub attack: Vec<String>,
    /// The usual severity; a detector may raise or lower it per finding.
    pub severity: Severity,
    /// What it means and what to do, for the responder.
    pub doc: String,
    /// The file that defined it: `builtin:NAME.toml`, or a responder's path.
    pub source: String,
    /// The files that added to its lists, after the one that defined it.
    pub extended_by: Vec<String>,
    pub(crate) engine: &'static Engine,
    builtin: bool,
    lists: BTreeMap<&'static str, Entries>,
}

impl Rule {
    /// Whether the rule is one of the embedded ones.
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// Whether it reads CloudTrail (`curtain hunt`) rather than a snapshot.
    pub fn is_cloudtrail(&self) -> bool {
        crate::detect::is_cloudtrail(self.engine)
    }

    /// Its lists in the order its engine declares them (absent ones left out), with their spec.
    pub fn lists(&self) -> Vec<(ListSpec, &Entries)> {
        self.engine.lists.iter().filter_map(|s| self.lists.get(s.name).map(|e| (*s, e))).collect()
    }

    /// A text list; empty when the rule has none by that name.
    pub(crate) fn text(&self, name: &str) -> &[String] {
        match self.lists.get(name) {
            Some(Entries::Text(v)) => v,
            _ => &[],
        }
    }

    /// A list of ports; empty when the rule has none by that name.
    pub(crate) fn ports(&self, name: &str) -> &[u16] {
        match self.lists.get(name) {
            Some(Entries::Ports(v)) => v,
            _ => &[],
        }
    }

    /// Runs it over an index.
    pub fn run(&self, rules: &Rules, ix: &crate::Index) -> Vec<Finding> {
        (self.engine.run)(self, rules, ix)
    }
}

/// Every rule, in the order their findings are listed, and the shared program families.
#[derive(Clone, Debug)]
pub struct Rules {
    rules: Vec<Rule>,
    families: BTreeMap<&'static str, Vec<String>>,
    /// The files that added to the families, after the embedded one.
    family_sources: Vec<String>,
}

impl Rules {
    /// The embedded rules.
    pub fn builtin() -> Rules {
        builtin().clone()
    }

    /// The embedded rules with a responder's own rule files (`*.toml` in `dir`, read in name
    /// order; other files are left alone) merged over them.
    pub fn load_dir(dir: &Path) -> Result<Rules, RuleError> {
        let io = |path: &Path, e: std::io::Error| RuleError::one(path.display().to_string(), None, e.to_string());
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(|e| io(dir, e))?;
        paths.retain(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file());
        paths.sort();
        let mut files = Vec::new();
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
            files.push((p.display().to_string(), text));
        }
        builtin().clone().merged(&files)
    }

    /// These rules with more rule files (name, text) merged over them, as `load_dir` does.
    pub fn merged(self, files: &[(String, String)]) -> Result<Rules, RuleError> {
        self.merge(files, false)
    }

    /// Merges rule files: the embedded ones (`builtin`) bind their ids to the built-in logic, a
    /// responder's name a list-only kind.
    fn merge(mut self, files: &[(String, String)], builtin: bool) -> Result<Rules, RuleError> {
        let mut problems = Vec::new();
        let mut parsed = Vec::new();
        for (name, text) in files {
            match parse(name, text, builtin) {
                Ok(f) => parsed.push(f),
                Err(p) => problems.extend(p),
            }
        }
        // New rules first, so an extension may sit in a file sorted before the rule it extends.
        for f in &mut parsed {
            if let Some(def) = f.define.take() {
                match self.rules.iter().find(|r| r.id == def.rule.id) {
                    Some(old) => f.problem(
                        &mut problems,
                        def.id_span.clone(),
                        format!(
                            "duplicate id {:?}: already defined by {} (use `extends = {:?}` to add to its lists)",
                            def.rule.id, old.source, def.rule.id
                        ),
                    ),
                    None => self.rules.push(def.rule),
                }
            }
        }
        for mut f in parsed {
            if let Some((id, span, lists)) = f.extend.take() {
                match self.rules.iter_mut().find(|r| r.id == id) {
                    None => f.problem(&mut problems, span, format!("extends {id:?}, which no rule defines")),
                    Some(r) => {
                        let specs = r.engine.lists;
                        if let Some(lists) = f.check_lists(&mut problems, lists, specs, &format!("rule {id:?}")) {
                            for (k, v) in lists {
                                match r.lists.get_mut(k) {
                                    Some(e) => e.extend(v),
                                    None => {
                                        r.lists.insert(k, v);
                                    }
                                }
                            }
                            r.extended_by.push(f.name.clone());
                        }
                    }
                }
            }
            if let Some(fams) = f.families {
                for (k, v) in fams {
                    let Entries::Text(v) = v else { continue };
                    let e = self.families.entry(k).or_default();
                    v.into_iter().for_each(|x| push_new(e, x));
                }
                self.family_sources.push(f.name.clone());
            }
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            // In the order of the files, then of the lines.
            let at = |p: &Problem| files.iter().position(|(n, _)| *n == p.file);
            problems.sort_by_key(|p| (at(p), p.line));
            Err(RuleError { problems })
        }
    }

    /// Every rule, in the order their findings are listed.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The shared program families, with their spec.
    pub fn families(&self) -> Vec<(ListSpec, &[String])> {
        FAMILIES.iter().map(|s| (*s, self.family(s.name))).collect()
    }

    /// Responder files that added to the families.
    pub fn family_sources(&self) -> &[String] {
        &self.family_sources
    }

    /// One shared program family (`shells`, `interpreters`, `relays`, `multicall`).
    pub(crate) fn family(&self, name: &str) -> &[String] {
        self.families.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// The embedded rules, parsed once. They are part of the build: a problem in them is a bug that
/// the tests catch, not something a responder can cause.
pub(crate) fn builtin() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let files: Vec<(String, String)> =
            BUILTIN.iter().map(|(n, t)| (format!("builtin:{n}"), t.to_string())).collect();
        let empty = Rules { rules: Vec::new(), families: BTreeMap::new(), family_sources: Vec::new() };
        let mut r = empty.merge(&files, true).unwrap_or_else(|e| panic!("embedded rules: {e}"));
        r.family_sources.clear();
        r
    })
}

/// What is wrong with a set of rule files: every problem found, one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub problems: Vec<Problem>,
}

/// One problem in one rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based; none when the problem is the file as a whole (it cannot be read).
    pub line: Option<usize>,
    pub message: String,
}

impl RuleError {
    fn one(file: String, line: Option<usize>, message: String) -> Self {
        RuleError { problems: vec![Problem { file, line, message }] }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleError {}

type RawList = Spanned<Vec<Spanned<toml::Value>>>;
type RawLists = Spanned<BTreeMap<Spanned<String>, RawList>>;

/// A rule file as written; every value keeps its place for the error messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    id: Option<Spanned<String>>,
    extends: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    attack: Option<Spanned<Vec<Spanned<String>>>>,
    severity: Option<Spanned<String>>,
    doc: Option<Spanned<String>>,
    lists: Option<RawLists>,
    families: Option<RawLists>,
}

impl RawFile {
    /// Where each key of a rule's header stands, when it is there: what only a file that defines
    /// a rule may say.
    fn header_spans(&self) -> [(&'static str, Option<std::ops::Range<usize>>); 5] {
        [
            ("kind", self.kind.as_ref().map(|v| v.span())),
            ("title", self.title.as_ref().map(|v| v.span())),
            ("attack", self.attack.as_ref().map(|v| v.span())),
            ("severity", self.severity.as_ref().map(|v| v.span())),
            ("doc", self.doc.as_ref().map(|v| v.span())),
        ]
    }
}

/// A rule file checked on its own; what depends on other files (ids, extended rules) is checked
/// when merging.
struct Parsed {
    name: String,
    text: String,
    define: Option<Define>,
    extend: Option<(String, Range<usize>, RawLists)>,
    families: Option<BTreeMap<&'static str, Entries>>,
}

struct Define {
    rule: Rule,
    id_span: Range<usize>,
}

impl Parsed {
    fn problem(&self, out: &mut Vec<Problem>, span: Range<usize>, message: String) {
        out.push(Problem { file: self.name.clone(), line: Some(line_of(&self.text, span.start)), message });
    }

    /// Checks lists against their specs; None when any is wrong (each problem pushed).
    fn check_lists(
        &self,
        out: &mut Vec<Problem>,
        lists: RawLists,
        specs: &[ListSpec],
        what: &str,
    ) -> Option<BTreeMap<&'static str, Entries>> {
        let before = out.len();
        let mut got = BTreeMap::new();
        for (key, values) in lists.into_inner() {
            let Some(spec) = specs.iter().find(|s| s.name == key.get_ref().as_str()) else {
                let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
                let known = if known.is_empty() { "it takes none".to_string() } else { known.join(", ") };
                self.problem(out, key.span(), format!("unknown list {:?} for {what} (known: {known})", key.get_ref()));
                continue;
            };
            let mut entries =
                if spec.kind == ListKind::Port { Entries::Ports(Vec::new()) } else { Entries::Text(Vec::new()) };
            for v in values.into_inner() {
                let span = v.span();
                match (&mut entries, v.into_inner()) {
                    (Entries::Ports(ps), toml::Value::Integer(n)) if (1..=65535).contains(&n) => push_new(ps, n as u16),
                    (Entries::Ports(_), other) => self.problem(
                        out,
                        span,
                        format!("{:?}: a port is a number from 1 to 65535, not {other}", spec.name),
                    ),
                    (Entries::Text(ts), toml::Value::String(s)) if !s.trim().is_empty() => {
                        push_new(ts, s.trim().to_string())
                    }
                    (Entries::Text(_), other) => {
                        self.problem(out, span, format!("{:?}: entries are non-empty strings, not {other}", spec.name))
                    }
                }
            }
            got.insert(spec.name, entries);
        }
        (out.len() == before).then_some(got)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&c| c == b'\n').count() + 1
}

/// A detector id: lower-case letters, digits and dashes, starting with a letter.
fn valid_id(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// An ATT&CK technique id: `T1234` or a sub-technique `T1234.567`.
pub(crate) fn valid_attack(t: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_digit());
    let Some(rest) = t.strip_prefix('T') else { return false };
    match rest.split_once('.') {
        None => digits(rest, 4),
        Some((a, b)) => digits(a, 4) && digits(b, 3),
    }
}

fn severity(s: &str) -> Option<Severity> {
    Some(match s {
        "info" => Severity::Info,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => return None,
    })
}

/// Checks one file on its own.
fn parse(name: &str, text: &str, builtin_file: bool) -> Result<Parsed, Vec<Problem>> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        vec![Problem { file: name.to_string(), line, message: e.message().trim().to_string() }]
    })?;
    let header = raw.header_spans();
    let mut out = Vec::new();
    let mut p = Parsed { name: name.to_string(), text: text.to_string(), define: None, extend: None, families: None };
    if let Some(f) = raw.families {
        p.families = p.check_lists(&mut out, f, FAMILIES, "[families]");
    }
    match (raw.id, raw.extends) {
        (Some(id), Some(ext)) => {
            p.problem(
                &mut out,
                ext.span(),
                format!(
                    "a file either defines a rule (`id`) or extends one (`extends`), not both: {:?} and {:?}",
                    id.get_ref(),
                    ext.get_ref()
                ),
            );
        }
        (None, Some(ext)) => {
            for (key, span) in header {
                if let Some(span) = span {
                    p.problem(
                        &mut out,
                        span,
                        format!("`{key}` belongs to the file that defines the rule; an extension only adds [lists]"),
                    );
                }
            }
            match raw.lists {
                Some(lists) => p.extend = Some((ext.get_ref().clone(), ext.span(), lists)),
                None => {
                    p.problem(&mut out, ext.span(), format!("extends {:?} but has no [lists] to add", ext.get_ref()))
                }
            }
        }
        (Some(id), None) => {
            let id_span = id.span();
            let id = id.into_inner();
            if !valid_id(&id) {
                p.problem(
                    &mut out,
                    id_span.clone(),
                    format!("bad id {id:?}: lower-case letters, digits and dashes, starting with a letter"),
                );
            }
            // The engine: the built-in detector of that id for an embedded file, a list-only kind
            // for a responder's.
            let engine = if builtin_file {
                if let Some(k) = &raw.kind {
                    p.problem(&mut out, k.span(), "an embedded rule takes its logic from its id, not a `kind`".into());
                }
                let e = detect::builtin_engine(&id);
                if e.is_none() {
                    p.problem(&mut out, id_span.clone(), format!("no built-in detector has the id {id:?}"));
                }
                e
            } else {
                let kinds: Vec<&str> = detect::KINDS.iter().map(|k| k.kind).collect();
                match &raw.kind {
                    None => {
                        p.problem(
                            &mut out,
                            id_span.clone(),
                            format!("missing field `kind` (one of: {})", kinds.join(", ")),
                        );
                        None
                    }
                    Some(k) => {
                        let e = detect::KINDS.iter().copied().find(|e| e.kind == k.get_ref().as_str());
                        if e.is_none() {
                            p.problem(
                                &mut out,
                                k.span(),
                                format!("unknown kind {:?} (one of: {})", k.get_ref(), kinds.join(", ")),
                            );
                        }
                        e
                    }
                }
            };
            let mut need = |key: &str, v: Option<Spanned<String>>| -> Option<String> {
                match v {
                    None => {
                        p.problem(&mut out, id_span.clone(), format!("missing field `{key}` in rule {id:?}"));
                        None
                    }
                    Some(v) if v.get_ref().trim().is_empty() => {
                        p.problem(&mut out, v.span(), format!("`{key}` of rule {id:?} is empty"));
                        None
                    }
                    Some(v) => Some(v.into_inner().trim().to_string()),
                }
            };
            let title = need("title", raw.title);
            let doc = need("doc", raw.doc);
            let sev = need("severity", raw.severity.clone()).and_then(|s| {
                let got = severity(&s);
                if got.is_none() {
                    let span = raw.severity.as_ref().map(|v| v.span()).unwrap_or(id_span.clone());
                    p.problem(
                        &mut out,
                        span,
                        format!("bad severity {s:?} (one of: info, low, medium, high, critical)"),
                    );
                }
                got
            });
            let attack = match raw.attack {
                None => {
                    p.problem(&mut out, id_span.clone(), format!("missing field `attack` in rule {id:?}"));
                    None
                }
                Some(a) if a.get_ref().is_empty() => {
                    p.problem(&mut out, a.span(), format!("`attack` of rule {id:?} names no technique"));
                    None
                }
                Some(a) => {
                    let mut ok = true;
                    let mut ids = Vec::new();
                    for t in a.into_inner() {
                        if valid_attack(t.get_ref()) {
                            push_new(&mut ids, t.into_inner());
                        } else {
                            ok = false;
                            p.problem(
                                &mut out,
                                t.span(),
                                format!("bad ATT&CK id {:?}: T1234 or T1234.567", t.get_ref()),
                            );
                        }
                    }
                    ok.then_some(ids)
                }
            };
            let lists = match (engine, raw.lists) {
                (Some(e), Some(l)) => p.check_lists(&mut out, l, e.lists, &format!("rule {id:?}")),
                (_, None) => Some(BTreeMap::new()),
                (None, Some(_)) => None,
            };
            if let (Some(engine), Some(lists)) = (engine, &lists) {
                if engine.needs_lists && lists.values().all(|e| e.to_strings().is_empty()) {
                    let names: Vec<&str> = engine.lists.iter().map(|s| s.name).collect();
                    p.problem(
                        &mut out,
                        id_span.clone(),
                        format!("rule {id:?} matches nothing: give it [lists] ({})", names.join(", ")),
                    );
                }
            }
            if let (Some(engine), Some(title), Some(doc), Some(severity), Some(attack), Some(lists)) =
                (engine, title, doc, sev, attack, lists)
            {
                let rule = Rule {
                    id,
                    title,
                    attack,
                    severity,
                    doc,
                    source: name.to_string(),
                    extended_by: Vec::new(),
                    engine,
                    builtin: builtin_file,
                    lists,
                };
                p.define = Some(Define { rule, id_span });
            }
        }
        (None, None) => {
            let lists = ("lists", raw.lists.as_ref().map(|v| v.span()));
            for (key, span) in header.into_iter().chain([lists]) {
                if let Some(span) = span {
                    p.problem(
                        &mut out,
                        span,
                        format!("`{key}` without `id` (a new rule) or `extends` (an existing one)"),
                    );
                }
            }
            if p.families.is_none() && out.is_empty() {
                out.push(Problem {
                    file: name.to_string(),
                    line: None,
                    message: "empty: a rule file defines a rule (`id`), extends one (`extends`) or adds [families]"
                        .into(),
                });
            }
        }
    }
    if out.is_empty() {
        Ok(p)
    } else {
        Err(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    const NEW: &str = r#"id = "acme-miner"
kind = "process"
title = "ACME's own miner"
attack = ["T1496"]
severity = "high"
doc = "Seen at ACME."

[lists]
names = ["acmeminer"]
"#;

    fn problems(files: &[(&str, &str)]) -> Vec<String> {
        rules_with(files).unwrap_err().problems.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn the_embedded_rules_load_in_the_listing_order() {
        let r = Rules::builtin();
        assert_eq!(r.iter().next().unwrap().id, "reverse-shell");
        assert!(r.iter().all(|r| r.is_builtin() && r.extended_by.is_empty()));
        assert_eq!(r.get("miner").unwrap().ports("pool_ports")[0], 3333);
        assert!(r.family("shells").contains(&"bash".to_string()));
    }

    #[test]
    fn a_responders_files_add_rules_and_entries_in_file_name_order() {
        let dir = std::env::temp_dir().join(format!("curtain-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Written out of order; an extension sorted before the rule it extends; a README ignored.
        std::fs::write(dir.join("b-acme.toml"), NEW).unwrap();
        std::fs::write(dir.join("a-more.toml"), "extends = \"acme-miner\"\n[lists]\nnames = [\"acmebot\"]\n").unwrap();
        std::fs::write(dir.join("c-miner.toml"), "extends = \"miner\"\n[lists]\npool_ports = [19999]\n").unwrap();
        std::fs::write(dir.join("d-shells.toml"), "[families]\nshells = [\"yash\"]\n").unwrap();
        std::fs::write(dir.join("README.md"), "not a rule").unwrap();
        let r = Rules::load_dir(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let r = r.unwrap();
        let ids: Vec<&str> = r.iter().map(|r| r.id.as_str()).collect();
        let n = builtin().len();
        assert_eq!(ids.len(), n + 1);
        assert_eq!(ids[n], "acme-miner");
        let acme = r.get("acme-miner").unwrap();
        assert_eq!(acme.text("names"), ["acmeminer", "acmebot"]);
        assert!(acme.source.ends_with("b-acme.toml") && acme.extended_by[0].ends_with("a-more.toml"));
        assert_eq!(r.get("miner").unwrap().ports("pool_ports").last(), Some(&19999));
        assert!(r.family("shells").contains(&"yash".to_string()));
        assert!(r.family_sources()[0].ends_with("d-shells.toml"));
        // The new rule and the new entries fire through analyze_with; analyze keeps the built-in.
        let s = snapshot(vec![process(5, 1, "acmebot-2", "/opt/acmebot-2")], vec![], vec![]);
        let (_, f) = crate::analyze_with(&s, &r);
        assert_eq!(f.iter().map(|f| f.detector.as_str()).collect::<Vec<_>>(), ["acme-miner"]);
        assert!(crate::analyze(&s).1.is_empty());
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let e = Rules::load_dir(Path::new("/nonexistent/curtain-rules")).unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent/curtain-rules: "), "{e}");
    }

    #[test]
    fn each_problem_names_the_file_the_line_and_what_is_wrong() {
        let cases: &[(&str, &str)] = &[
            // An unknown key, a misspelt list, a bad severity, a bad technique.
            ("id = \"a\"\nkind = \"process\"\ntitel = \"x\"\n", "x.toml:3: unknown field `titel`"),
            (&NEW.replace("names =", "nmes ="), "x.toml:9: unknown list \"nmes\" for rule \"acme-miner\" (known: names, not_names, cmdline, exe)"),
            (&NEW.replace("\"high\"", "\"hgh\""), "x.toml:5: bad severity \"hgh\" (one of: info, low, medium, high, critical)"),
            (&NEW.replace("\"T1496\"", "\"T1496\", \"T14961\""), "x.toml:4: bad ATT&CK id \"T14961\": T1234 or T1234.567"),
            (&NEW.replace("\"T1496\"", "\"t1496.001\""), "x.toml:4: bad ATT&CK id \"t1496.001\""),
            // Missing fields, at the rule's id.
            (&NEW.replace("title = \"ACME's own miner\"\n", ""), "x.toml:1: missing field `title` in rule \"acme-miner\""),
            (&NEW.replace("kind = \"process\"\n", ""), "x.toml:1: missing field `kind` (one of: process, connection)"),
            (&NEW.replace("\"process\"", "\"miner\""), "x.toml:2: unknown kind \"miner\" (one of: process, connection)"),
            // A duplicate of a built-in id, entries of the wrong type, an extension of nothing.
            (&NEW.replace("acme-miner", "miner"), "x.toml:1: duplicate id \"miner\": already defined by builtin:miner.toml (use `extends = \"miner\"` to add to its lists)"),
            ("extends = \"miner\"\n[lists]\npool_ports = [3333, 70000, \"x\"]\n", "x.toml:3: \"pool_ports\": a port is a number from 1 to 65535, not 70000"),
            ("extends = \"miner\"\n\n[lists]\nnames = [\"\"]\n", "x.toml:4: \"names\": entries are non-empty strings"),
            ("extends = \"minr\"\n[lists]\nnames = [\"a\"]\n", "x.toml:1: extends \"minr\", which no rule defines"),
            ("extends = \"miner\"\nseverity = \"low\"\n[lists]\nnames = [\"a\"]\n", "x.toml:2: `severity` belongs to the file that defines the rule"),
            ("[families]\nshell = [\"yash\"]\n", "x.toml:2: unknown list \"shell\" for [families] (known: shells, interpreters, relays, multicall)"),
            ("id = \"Bad_Id\"\n", "x.toml:1: bad id \"Bad_Id\""),
            // Not TOML at all.
            ("id = \"a\"\ntitle = \n", "x.toml:2: "),
            ("# nothing\n", "x.toml: empty: a rule file defines a rule"),
        ];
        for (text, want) in cases {
            let got = problems(&[("x.toml", text)]);
            assert!(got.iter().any(|g| g.starts_with(want)), "want {want:?}\n got {got:?}\n for {text}");
        }
        // Every problem at once, and a duplicate between two of the responder's files.
        let got = problems(&[("a.toml", NEW), ("b.toml", NEW), ("c.toml", "[families]\nshells = [1]\n")]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[1].starts_with("c.toml:2: \"shells\": entries are non-empty strings, not 1"), "{got:?}");
        assert_eq!(got[0], "b.toml:1: duplicate id \"acme-miner\": already defined by a.toml (use `extends = \"acme-miner\"` to add to its lists)");
        let e = rules_with(&[("a.toml", NEW), ("b.toml", NEW)]).unwrap_err();
        assert_eq!(e.to_string().lines().count(), 1);
    }

    #[test]
    fn a_rule_that_matches_nothing_is_refused() {
        let got = problems(&[("x.toml", &NEW.replace("names = [\"acmeminer\"]", "names = []"))]);
        assert_eq!(
            got,
            ["x.toml:1: rule \"acme-miner\" matches nothing: give it [lists] (names, not_names, cmdline, exe)"]
        );
    }

    /// The examples in docs/RULES.md load as they are written.
    #[test]
    fn the_documented_examples_load() {
        let doc = include_str!("../../../docs/RULES.md");
        let blocks: Vec<(String, String)> = doc
            .split("```toml\n")
            .skip(1)
            .enumerate()
            .map(|(i, b)| (format!("RULES.md example {}", i + 1), b.split("```").next().unwrap().to_string()))
            .collect();
        assert_eq!(blocks.len(), 3);
        let r = Rules::builtin().merged(&blocks).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.get("acme-backdoor").is_some() && r.family("shells").contains(&"yash".to_string()));
        assert!(r.get("miner").unwrap().text("names").contains(&"mysteryminer".to_string()));
    }
}
