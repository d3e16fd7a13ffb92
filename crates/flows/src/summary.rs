//! What the flows say per task and per address nobody is known to have held: records, bytes,
//! packets, first and last seen, peers, rejected flows, flows on the ports the detectors treat as
//! suspicious (the miner rule's pool ports), and the processes snapshots named behind them. Built
//! row by row as the rows stream (memory grows with tasks, addresses and peers, not records), and
//! rendered as text, Markdown or JSON.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use curtain_analyze::rules::{Entries, Rules};
use serde::Serialize;

use crate::attribute::{Attribution, FlowRow};
use crate::input::{Problem, ReadStats};
use crate::output::{rfc3339_secs, RowSink};

/// Peers listed per entity (the rest are counted).
pub const TOP_PEERS: usize = 20;
/// Problems kept in a summary (the rest are counted in `read.malformed`).
pub const KEPT_PROBLEMS: usize = 100;

/// The ports the detectors treat as suspicious: the `pool_ports` of the miner rule in `rules`
/// (the built-in ones with a responder's own). The reverse-shell rule matches interpreters on
/// sockets and has no port list.
pub fn suspicious_ports(rules: &Rules) -> Vec<u16> {
    let mut ports = Vec::new();
    for rule in rules.iter() {
        for (spec, entries) in rule.lists() {
            if let (true, Entries::Ports(p)) = (spec.name == "pool_ports", entries) {
                ports.extend(p.iter().copied());
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The built-in rules' suspicious ports.
pub fn default_suspicious_ports() -> Vec<u16> {
    suspicious_ports(&Rules::builtin())
}

/// A peer of an entity.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Peer {
    /// The peer's task ARN, or its address.
    pub peer: String,
    pub kind: String,
    pub records: u64,
    pub bytes: u64,
}

/// Flows on a suspicious port.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SuspiciousFlows {
    pub port: u16,
    /// `out`: the entity sent to that port; `in`: the entity received on it.
    pub direction: &'static str,
    pub peer: String,
    pub records: u64,
    pub bytes: u64,
}

/// A process a snapshot named behind flows of an entity.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcessSeen {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub sha256: Option<String>,
    pub cmdline: Option<String>,
    pub archive: String,
    pub findings: Vec<String>,
    pub records: u64,
}

/// One task, or one address nobody is known to have held.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Entity {
    /// The task ARN, or the address.
    pub key: String,
    /// The attribution's kind (`task`, `host`, `interface`, `unknown`).
    pub kind: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub task_definition: Option<String>,
    pub containers: Vec<String>,
    /// The addresses it was seen with.
    pub addresses: Vec<String>,
    pub records: u64,
    pub bytes: u64,
    pub packets: u64,
    pub first_seen: Option<u64>,
    pub last_seen: Option<u64>,
    pub first_seen_time: Option<String>,
    pub last_seen_time: Option<String>,
    pub rejected: u64,
    pub peer_count: u64,
    /// The [`TOP_PEERS`] peers with the most bytes.
    pub peers: Vec<Peer>,
    pub suspicious: Vec<SuspiciousFlows>,
    pub processes: Vec<ProcessSeen>,
    #[serde(skip)]
    all_peers: HashMap<String, Peer>,
    #[serde(skip)]
    suspicious_by: HashMap<(u16, &'static str, String), SuspiciousFlows>,
    #[serde(skip)]
    processes_by: HashMap<(String, u32), ProcessSeen>,
}

/// The summary of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub read: ReadStats,
    /// The first [`KEPT_PROBLEMS`] problems.
    pub problems: Vec<Problem>,
    /// Rows attributed (records with addresses; NODATA and SKIPDATA are in `read`).
    pub flows: u64,
    pub ecs_disagreements: u64,
    /// Flows by how they stand against the snapshots (empty without snapshots).
    pub snapshot_match: BTreeMap<String, u64>,
    pub suspicious_ports: Vec<u16>,
    /// Tasks, most bytes first.
    pub tasks: Vec<Entity>,
    /// Addresses with no known holder at the flows' time, most bytes first.
    pub unattributed: Vec<Entity>,
    #[serde(skip)]
    by_key: HashMap<String, Entity>,
}

fn label(a: &Attribution) -> String {
    a.task_arn.clone().unwrap_or_else(|| a.addr.clone())
}

impl Summary {
    pub fn new(suspicious_ports: Vec<u16>) -> Summary {
        Summary { suspicious_ports, ..Default::default() }
    }

    pub fn problem(&mut self, p: &Problem) {
        if self.problems.len() < KEPT_PROBLEMS {
            self.problems.push(p.clone());
        }
    }

    /// Adds one row.
    pub fn add(&mut self, row: &FlowRow) {
        if row.record.is_nodata() {
            return;
        }
        self.flows += 1;
        if row.ecs_disagreement {
            self.ecs_disagreements += 1;
        }
        if let Some(m) = row.snapshot_match {
            *self.snapshot_match.entry(m.as_str().to_string()).or_default() += 1;
        }
        let (src, dst) = (row.pkt_src.as_ref().or(row.src.as_ref()), row.pkt_dst.as_ref().or(row.dst.as_ref()));
        let (src, dst) = (src.map(|a| &**a), dst.map(|a| &**a));
        // The interface's own address and the packet's are two views of one side: the side is
        // counted once, under the packet's holder when it differs.
        if let Some(s) = src {
            self.side(row, s, dst, "out", row.src.as_ref().and_then(|a| a.process.as_ref()));
        }
        if let Some(d) = dst {
            self.side(row, d, src, "in", row.dst.as_ref().and_then(|a| a.process.as_ref()));
        }
    }

    fn side(
        &mut self,
        row: &FlowRow,
        me: &Attribution,
        peer: Option<&Attribution>,
        direction: &'static str,
        process: Option<&crate::attribute::ProcessOut>,
    ) {
        let r = &row.record;
        let key = label(me);
        let e = self.by_key.entry(key.clone()).or_insert_with(|| Entity {
            key,
            kind: me.kind.to_string(),
            account: me.account.clone(),
            region: me.region.clone(),
            cluster: me.cluster.clone(),
            service: me.service.clone(),
            task_definition: me.task_definition.clone(),
            containers: me.containers.iter().map(|c| c.name.clone()).filter(|n| !n.is_empty()).collect(),
            ..Default::default()
        });
        if !e.addresses.contains(&me.addr) {
            e.addresses.push(me.addr.clone());
        }
        let bytes = r.bytes().unwrap_or(0);
        e.records += 1;
        e.bytes = e.bytes.saturating_add(bytes);
        e.packets = e.packets.saturating_add(r.packets().unwrap_or(0));
        if let Some(s) = r.start() {
            e.first_seen = Some(e.first_seen.map_or(s, |f| f.min(s)));
        }
        if let Some(t) = r.end().or(r.start()) {
            e.last_seen = Some(e.last_seen.map_or(t, |l| l.max(t)));
        }
        if r.action() == Some("REJECT") {
            e.rejected += 1;
        }
        let peer_key = peer.map(label).unwrap_or_default();
        if let Some(p) = peer {
            let agg = e.all_peers.entry(peer_key.clone()).or_insert_with(|| Peer {
                peer: peer_key.clone(),
                kind: p.kind.to_string(),
                ..Default::default()
            });
            agg.records += 1;
            agg.bytes = agg.bytes.saturating_add(bytes);
        }
        if let Some(port) = r.dstport().filter(|p| self.suspicious_ports.contains(p)) {
            let s = e.suspicious_by.entry((port, direction, peer_key.clone())).or_insert_with(|| SuspiciousFlows {
                port,
                direction,
                peer: peer_key,
                ..Default::default()
            });
            s.records += 1;
            s.bytes = s.bytes.saturating_add(bytes);
        }
        if let Some(p) = process {
            let seen = e.processes_by.entry((p.archive.clone(), p.pid)).or_insert_with(|| ProcessSeen {
                pid: p.pid,
                comm: p.comm.clone(),
                exe: p.exe.clone(),
                sha256: p.sha256.clone(),
                cmdline: p.cmdline.clone(),
                archive: p.archive.clone(),
                findings: p.findings.clone(),
                records: 0,
            });
            seen.records += 1;
        }
    }

    /// Puts the entities in order once every row is in.
    pub fn finish(&mut self, read: ReadStats) {
        self.read = read;
        let mut tasks = Vec::new();
        let mut unattributed = Vec::new();
        for (_, mut e) in self.by_key.drain() {
            let mut peers: Vec<Peer> = e.all_peers.drain().map(|(_, p)| p).collect();
            e.peer_count = peers.len() as u64;
            peers.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.peer.cmp(&b.peer)));
            peers.truncate(TOP_PEERS);
            e.peers = peers;
            let mut sus: Vec<SuspiciousFlows> = e.suspicious_by.drain().map(|(_, s)| s).collect();
            sus.sort_by(|a, b| (a.port, a.direction, &a.peer).cmp(&(b.port, b.direction, &b.peer)));
            e.suspicious = sus;
            let mut procs: Vec<ProcessSeen> = e.processes_by.drain().map(|(_, p)| p).collect();
            procs.sort_by(|a, b| (&a.archive, a.pid).cmp(&(&b.archive, b.pid)));
            e.processes = procs;
            e.first_seen_time = e.first_seen.and_then(rfc3339_secs);
            e.last_seen_time = e.last_seen.and_then(rfc3339_secs);
            if e.kind == "unknown" {
                unattributed.push(e);
            } else {
                tasks.push(e);
            }
        }
        let order = |a: &Entity, b: &Entity| b.bytes.cmp(&a.bytes).then_with(|| a.key.cmp(&b.key));
        tasks.sort_by(order);
        unattributed.sort_by(order);
        self.tasks = tasks;
        self.unattributed = unattributed;
    }

    pub fn render_json(&self, w: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *w, self)?;
        writeln!(w)
    }

    /// For a terminal: control characters in anything read made visible.
    pub fn render_text(&self, w: &mut dyn Write) -> io::Result<()> {
        let t = curtain_model::term;
        let r = &self.read;
        writeln!(
            w,
            "{} files, {} records ({} NODATA, {} SKIPDATA), {} malformed, {} unreadable; {} flows",
            r.files, r.records, r.nodata, r.skipdata, r.malformed, r.unreadable, self.flows
        )?;
        if self.ecs_disagreements > 0 {
            writeln!(w, "{} flows whose ECS fields disagree with the register", self.ecs_disagreements)?;
        }
        if !self.snapshot_match.is_empty() {
            let m: Vec<String> = self.snapshot_match.iter().map(|(k, v)| format!("{k} {v}")).collect();
            writeln!(w, "against the snapshots: {}", m.join(", "))?;
        }
        for (title, list) in [("Tasks", &self.tasks), ("Addresses nobody is known to have held", &self.unattributed)] {
            if list.is_empty() {
                continue;
            }
            writeln!(w, "\n{title}:")?;
            for e in list {
                writeln!(w, "\n  {} ({})", t(&e.key), e.kind)?;
                let mut id = Vec::new();
                for (k, v) in [("service", &e.service), ("cluster", &e.cluster), ("account", &e.account)] {
                    if let Some(v) = v {
                        id.push(format!("{k} {}", t(v)));
                    }
                }
                if !e.containers.is_empty() {
                    id.push(format!("containers {}", t(&e.containers.join(" "))));
                }
                if !id.is_empty() {
                    writeln!(w, "    {}", id.join(", "))?;
                }
                writeln!(w, "    addresses {}", t(&e.addresses.join(" ")))?;
                writeln!(
                    w,
                    "    {} records, {} bytes, {} packets, {} rejected, {} to {}",
                    e.records,
                    e.bytes,
                    e.packets,
                    e.rejected,
                    e.first_seen_time.as_deref().unwrap_or("?"),
                    e.last_seen_time.as_deref().unwrap_or("?")
                )?;
                writeln!(w, "    {} peers:", e.peer_count)?;
                for p in &e.peers {
                    writeln!(w, "      {} ({}) {} records, {} bytes", t(&p.peer), p.kind, p.records, p.bytes)?;
                }
                for s in &e.suspicious {
                    writeln!(
                        w,
                        "    SUSPICIOUS PORT {} {} {}: {} records, {} bytes",
                        s.port,
                        if s.direction == "out" { "to" } else { "from" },
                        t(&s.peer),
                        s.records,
                        s.bytes
                    )?;
                }
                for p in &e.processes {
                    writeln!(
                        w,
                        "    process {} {} {} sha256 {} ({} flows, {}){}",
                        p.pid,
                        t(p.comm.as_deref().unwrap_or("?")),
                        t(p.exe.as_deref().unwrap_or("?")),
                        p.sha256.as_deref().unwrap_or("?"),
                        p.records,
                        t(&p.archive),
                        if p.findings.is_empty() {
                            String::new()
                        } else {
                            format!(" findings: {}", p.findings.join(" "))
                        }
                    )?;
                }
            }
        }
        if !self.problems.is_empty() {
            writeln!(w, "\nProblems (first {}):", self.problems.len())?;
            for p in &self.problems {
                writeln!(w, "  {}:{}: {}", t(&p.file), p.line, t(&p.reason))?;
            }
        }
        Ok(())
    }

    /// Markdown: values in code spans, with what would end one escaped.
    pub fn render_md(&self, w: &mut dyn Write) -> io::Result<()> {
        let c = |s: &str| format!("`{}`", curtain_model::term(s).replace('`', "'").replace('|', "\\|"));
        let r = &self.read;
        writeln!(w, "# Flow logs\n")?;
        writeln!(
            w,
            "{} files, {} records ({} NODATA, {} SKIPDATA), {} malformed, {} unreadable; {} flows, {} ECS disagreements.\n",
            r.files, r.records, r.nodata, r.skipdata, r.malformed, r.unreadable, self.flows, self.ecs_disagreements
        )?;
        if !self.snapshot_match.is_empty() {
            let m: Vec<String> = self.snapshot_match.iter().map(|(k, v)| format!("{k} {v}")).collect();
            writeln!(w, "Against the snapshots: {}.\n", m.join(", "))?;
        }
        for (title, list) in [("Tasks", &self.tasks), ("Addresses nobody is known to have held", &self.unattributed)] {
            if list.is_empty() {
                continue;
            }
            writeln!(w, "## {title}\n")?;
            writeln!(w, "| who | kind | service | records | bytes | packets | rejected | first seen | last seen | peers | suspicious | processes |")?;
            writeln!(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")?;
            for e in list {
                let sus: Vec<String> =
                    e.suspicious.iter().map(|s| format!("{} {} {}", s.port, s.direction, c(&s.peer))).collect();
                let procs: Vec<String> = e
                    .processes
                    .iter()
                    .map(|p| format!("{} {}", p.pid, c(p.exe.as_deref().or(p.comm.as_deref()).unwrap_or("?"))))
                    .collect();
                writeln!(
                    w,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    c(&e.key),
                    e.kind,
                    e.service.as_deref().map(c).unwrap_or_default(),
                    e.records,
                    e.bytes,
                    e.packets,
                    e.rejected,
                    e.first_seen_time.as_deref().unwrap_or(""),
                    e.last_seen_time.as_deref().unwrap_or(""),
                    e.peer_count,
                    sus.join("<br>"),
                    procs.join("<br>")
                )?;
            }
            writeln!(w)?;
        }
        if !self.problems.is_empty() {
            writeln!(w, "## Problems (first {})\n", self.problems.len())?;
            for p in &self.problems {
                writeln!(w, "- {} line {}: {}", c(&p.file), p.line, c(&p.reason))?;
            }
        }
        Ok(())
    }
}

impl RowSink for Summary {
    fn row(&mut self, row: &FlowRow) -> io::Result<()> {
        self.add(row);
        Ok(())
    }
}
