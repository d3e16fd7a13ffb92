//! Who was behind each address of a flow record, at the record's own time.
//!
//! The register's answer is read once into memory ([`AddressBook`]): every holder of every
//! address with the interval `whois` gives it (an unknown start is when it was first seen, an
//! open end is still held). A record's `srcaddr` and `dstaddr` (and `pkt-srcaddr`/`pkt-dstaddr`
//! when they differ) are looked up at its `start`: a record before any known holder gets no task,
//! never a guess. The `interface-id` is a second key: an ENI is never reused, so the register's
//! owner of it names the side of the flow that is the interface's, when its address did not.
//! Version 7 records carry ECS fields of their own: they fill a side the register cannot name,
//! and a register that names another task sets `ecs_disagreement` (both are shown).
//!
//! With snapshots ([`SnapshotIndex`]), a flow whose window overlaps a snapshot and whose 5-tuple
//! is one of its sockets (either direction) gets the process that held it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use curtain_model::register::{Certainty, Holder};
use curtain_model::Snapshot;
use curtain_store::{HeldInterval, Register};
use serde::Serialize;

use crate::record::FlowRecord;

/// An address in one spelling whatever the source wrote (`::ffff:10.0.0.1` is `10.0.0.1`,
/// IPv6 compressed); text that is no address is kept as it is.
pub fn canonical_ip(s: &str) -> String {
    canonical(s).into_owned()
}

/// [`canonical_ip`] without a copy when the text is already canonical (an IPv4 address the
/// parser takes has one spelling: it refuses leading zeros).
fn canonical(s: &str) -> Cow<'_, str> {
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => Cow::Borrowed(s),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => Cow::Owned(v4.to_string()),
            None => Cow::Owned(v6.to_string()),
        },
        Err(_) => Cow::Borrowed(s),
    }
}

/// The register's holders of every address and interface, in memory.
#[derive(Debug, Default)]
pub struct AddressBook {
    by_ip: HashMap<String, Vec<HeldInterval>>,
    /// Per ENI: (address, position in `by_ip[address]`).
    by_eni: HashMap<String, Vec<(String, usize)>>,
}

impl AddressBook {
    /// Reads the register once.
    pub fn load(register: &Register) -> Result<AddressBook, curtain_store::Error> {
        Ok(AddressBook::from_holders(register.all_holders()?))
    }

    /// From holders already read (tests, another store).
    pub fn from_holders(holders: Vec<HeldInterval>) -> AddressBook {
        let mut book = AddressBook::default();
        for h in holders {
            let ip = canonical_ip(&h.holder.ip);
            let list = book.by_ip.entry(ip.clone()).or_default();
            if let Some(eni) = &h.holder.eni_id {
                book.by_eni.entry(eni.clone()).or_default().push((ip.clone(), list.len()));
            }
            list.push(h);
        }
        book
    }

    /// How many address intervals it holds.
    pub fn len(&self) -> usize {
        self.by_ip.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// The holders of `ip` at `at_ns`, oldest first (`whois --at`).
    pub fn at(&self, ip: &str, at_ns: u64) -> Vec<&HeldInterval> {
        let Some(list) = self.by_ip.get(canonical(ip).as_ref()) else { return Vec::new() };
        list.iter().filter(|h| h.holds(at_ns)).collect()
    }

    /// The holders of an interface: those at `at_ns` when there are some, else every one it had
    /// (an ENI id is never reused; a flow lags its packets by up to a minute).
    pub fn eni(&self, eni: &str, at_ns: Option<u64>) -> Vec<&HeldInterval> {
        let Some(list) = self.by_eni.get(eni) else { return Vec::new() };
        let all: Vec<&HeldInterval> = list.iter().map(|(ip, i)| &self.by_ip[ip][*i]).collect();
        let now: Vec<&HeldInterval> = match at_ns {
            Some(at) => all.iter().copied().filter(|h| h.holds(at)).collect(),
            None => Vec::new(),
        };
        if now.is_empty() {
            all
        } else {
            now
        }
    }
}

/// A container of the holder, as rows show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerOut {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
}

/// The process a snapshot shows holding the flow's socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessOut {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub sha256: Option<String>,
    pub cmdline: Option<String>,
    /// The snapshot (archive path as loaded).
    pub archive: String,
    /// `connection` (the 5-tuple) or `listener` (a listening or unconnected UDP socket on the
    /// flow's port, at the flow's address or every address of the snapshot).
    pub socket: &'static str,
    /// Other processes holding the same socket.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_pids: Vec<u32>,
    /// The detectors that reported this process in that snapshot.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

/// What held one address of a flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attribution {
    pub addr: String,
    /// `task` (an awsvpc task's interface), `host` (a container instance's address, used by its
    /// bridge and host mode tasks), `interface` (an ENI the register knows with no task), or
    /// `unknown` (nobody at that time).
    pub kind: &'static str,
    pub account: Option<String>,
    pub region: Option<String>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub task_arn: Option<String>,
    pub task_definition: Option<String>,
    pub containers: Vec<ContainerOut>,
    pub eni: Option<String>,
    /// `observed`, `inferred`, `claimed` (the register's), `flow-log` (the record's own ECS
    /// fields), or null for `unknown`.
    pub certainty: Option<&'static str>,
    /// The register's sources, `kind:id`.
    pub sources: Vec<String>,
    /// `address` or `interface`: which key of the record found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'static str>,
    /// For a host address: the container instance and the EC2 instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2_instance: Option<String>,
    /// Other tasks holding the address at that time (a host's bridge mode tasks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessOut>,
}

fn certainty(c: Certainty) -> &'static str {
    match c {
        Certainty::Observed => "observed",
        Certainty::Inferred => "inferred",
        Certainty::Claimed => "claimed",
    }
}

impl Attribution {
    /// Nobody known held `addr`.
    pub fn unknown(addr: &str) -> Attribution {
        Attribution {
            addr: addr.to_string(),
            kind: "unknown",
            account: None,
            region: None,
            cluster: None,
            service: None,
            task_arn: None,
            task_definition: None,
            containers: Vec::new(),
            eni: None,
            certainty: None,
            sources: Vec::new(),
            by: None,
            container_instance: None,
            ec2_instance: None,
            also: Vec::new(),
            process: None,
        }
    }

    /// The first holder names it; the others' tasks are listed in `also`.
    pub(crate) fn from_holders(addr: &str, holders: &[&HeldInterval], by: &'static str) -> Attribution {
        let Some(first) = holders.first() else { return Attribution::unknown(addr) };
        let h: &Holder = &first.holder;
        let kind = if h.container_instance_arn.is_some() {
            "host"
        } else if h.task_arn.is_some() {
            "task"
        } else {
            "interface"
        };
        let mut also: Vec<String> = Vec::new();
        for o in &holders[1..] {
            if let Some(t) = &o.holder.task_arn {
                if Some(t) != h.task_arn.as_ref() && !also.contains(t) {
                    also.push(t.clone());
                }
            }
        }
        Attribution {
            addr: addr.to_string(),
            kind,
            account: Some(h.account_id.clone()),
            region: Some(h.region.clone()),
            cluster: h.cluster_arn.clone(),
            service: h.service.clone(),
            task_arn: h.task_arn.clone(),
            task_definition: h.task_definition_arn.clone(),
            containers: h
                .containers
                .iter()
                .map(|c| ContainerOut {
                    name: c.name.clone(),
                    image: c.image.clone(),
                    image_digest: c.image_digest.clone(),
                    runtime_id: c.runtime_id.clone(),
                })
                .collect(),
            eni: h.eni_id.clone(),
            certainty: Some(certainty(h.certainty)),
            sources: h.sources.iter().map(|s| format!("{}:{}", s.kind.as_str(), s.id)).collect(),
            by: Some(by),
            container_instance: h.container_instance_arn.clone(),
            ec2_instance: h.ec2_instance_id.clone(),
            also,
            process: None,
        }
    }

    /// From a v7 record's own ECS fields.
    fn from_record(addr: &str, r: &FlowRecord) -> Option<Attribution> {
        let task = r.ecs_task_arn.clone().or_else(|| r.ecs_task_id.clone());
        task.as_ref()?;
        let mut a = Attribution::unknown(addr);
        a.kind = "task";
        a.account = r.account_id.clone();
        a.region = r.region.clone();
        a.cluster = r.ecs_cluster_arn.clone().or_else(|| r.ecs_cluster_name.clone());
        a.service = r.ecs_service_name.clone();
        a.task_arn = task;
        a.task_definition = r.ecs_task_definition_arn.clone();
        a.containers = [&r.ecs_container_id, &r.ecs_second_container_id]
            .into_iter()
            .flatten()
            .map(|id| ContainerOut {
                name: String::new(),
                image: None,
                image_digest: None,
                runtime_id: Some(id.clone()),
            })
            .collect();
        a.eni = r.interface_id.clone();
        a.certainty = Some("flow-log");
        a.sources = vec!["flow-log:ecs-fields".into()];
        a.by = Some("interface");
        Some(a)
    }

    /// Whether a task is named.
    pub fn is_task(&self) -> bool {
        self.task_arn.is_some()
    }
}

/// The last part of an ARN (`.../task/cluster/ID` gives `ID`).
fn arn_tail(s: &str) -> &str {
    s.rsplit(['/', ':']).next().unwrap_or(s)
}

/// Whether a v7 record's ECS fields contradict what the register says of the interface's side.
fn ecs_disagrees(r: &FlowRecord, a: &Attribution) -> bool {
    let differ = |mine: &Option<String>, theirs: &Option<String>| match (mine, theirs) {
        (Some(m), Some(t)) => m != t && arn_tail(m) != arn_tail(t),
        _ => false,
    };
    if !a.is_task() {
        return false;
    }
    differ(&r.ecs_task_arn, &a.task_arn)
        || differ(&r.ecs_task_id, &a.task_arn)
        || differ(&r.ecs_cluster_arn, &a.cluster)
        || differ(&r.ecs_cluster_name, &a.cluster)
        || differ(&r.ecs_service_name, &a.service)
        || differ(&r.ecs_task_definition_arn, &a.task_definition)
}

/// How a flow stands against the snapshots given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMatch {
    /// A snapshot taken during the flow holds its socket: the process is named.
    Matched,
    /// A snapshot of the same task (or address) was taken during the flow, but no socket of it
    /// is the flow's (closed by then, or in a namespace the collector did not see).
    CouldHaveBeen,
    /// No snapshot was taken during the flow.
    OutsideSnapshotTime,
    /// Snapshots were taken during the flow, of other tasks and addresses.
    Unrelated,
}

impl SnapshotMatch {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMatch::Matched => "matched",
            SnapshotMatch::CouldHaveBeen => "could_have_been",
            SnapshotMatch::OutsideSnapshotTime => "outside_snapshot_time",
            SnapshotMatch::Unrelated => "unrelated",
        }
    }
}

/// A socket's key: protocol number, local address and port, remote address and port.
type Tuple = (u8, String, u16, String, u16);
/// (protocol, port) -> (local address, owners) of listening or unconnected sockets.
type Listeners = HashMap<(u8, u16), Vec<(String, Vec<u32>)>>;

/// One snapshot, indexed for flows: its time, its task and addresses, its sockets by 5-tuple,
/// its listeners by port, the processes and their findings.
pub struct SnapshotIndex {
    pub archive: String,
    /// The collection's window, seconds since the epoch.
    pub from_s: u64,
    pub to_s: u64,
    pub task_arn: Option<String>,
    addresses: Vec<String>,
    sockets: HashMap<Tuple, Vec<u32>>,
    listeners: Listeners,
    processes: HashMap<u32, ProcessOut>,
}

fn proto_number(p: curtain_model::Proto) -> Option<u8> {
    use curtain_model::Proto::*;
    match p {
        Tcp | Tcp6 => Some(6),
        Udp | Udp6 => Some(17),
        _ => None,
    }
}

fn unspecified(ip: &str) -> bool {
    ip.parse::<IpAddr>().is_ok_and(|i| i.is_unspecified())
}

impl SnapshotIndex {
    /// Indexes a loaded snapshot (`curtain_archive::load_snapshot`).
    pub fn new(snap: &Snapshot) -> SnapshotIndex {
        let secs = |s: &str| curtain_model::parse_rfc3339_ns(s).map(|ns| ns / 1_000_000_000);
        let from_s = secs(&snap.manifest.started_at).unwrap_or(0);
        let to_s = secs(&snap.manifest.ended_at).map_or(from_s, |t| t.max(from_s));
        let ecs = snap.manifest.ecs.as_ref();
        let mut addresses: Vec<String> = Vec::new();
        let mut add = |a: &str| {
            let a = canonical_ip(a);
            if !addresses.contains(&a) {
                addresses.push(a);
            }
        };
        if let Some(e) = ecs {
            e.ipv4_addresses.iter().for_each(|a| add(a));
            e.containers.iter().flat_map(|c| &c.ipv4_addresses).for_each(|a| add(a));
        }
        let (_, findings) = curtain_analyze::analyze(snap);
        let mut by_pid: HashMap<u32, Vec<String>> = HashMap::new();
        for f in findings {
            if let Some(pid) = f.pid {
                let ids = by_pid.entry(pid).or_default();
                if !ids.contains(&f.detector) {
                    ids.push(f.detector);
                }
            }
        }
        let archive = snap.source.clone();
        let processes = snap
            .processes
            .iter()
            .map(|p| {
                let out = ProcessOut {
                    pid: p.pid,
                    comm: p.comm.as_ref().map(|c| c.to_lossy().into_owned()),
                    exe: p.exe.as_ref().map(|e| e.path.to_lossy().into_owned()),
                    sha256: p.exe.as_ref().and_then(|e| e.sha256.clone()),
                    cmdline: p
                        .cmdline
                        .as_ref()
                        .map(|c| c.iter().map(|a| a.to_lossy().into_owned()).collect::<Vec<_>>().join(" ")),
                    archive: archive.clone(),
                    socket: "connection",
                    other_pids: Vec::new(),
                    findings: by_pid.remove(&p.pid).unwrap_or_default(),
                };
                (p.pid, out)
            })
            .collect();
        let mut sockets: HashMap<Tuple, Vec<u32>> = HashMap::new();
        let mut listeners = Listeners::new();
        for s in &snap.sockets {
            let (Some(proto), Some(local)) = (proto_number(s.proto), &s.local) else { continue };
            let pids: Vec<u32> = s.owners.iter().map(|o| o.pid).collect();
            let lip = canonical_ip(&local.ip);
            if !unspecified(&lip) && lip != "127.0.0.1" && lip != "::1" {
                add(&lip);
            }
            match &s.remote {
                Some(r) if !unspecified(&r.ip) || r.port != 0 => {
                    let key = (proto, lip, local.port, canonical_ip(&r.ip), r.port);
                    sockets.entry(key).or_default().extend(pids);
                }
                _ => listeners.entry((proto, local.port)).or_default().push((lip, pids)),
            }
        }
        SnapshotIndex {
            archive,
            from_s,
            to_s,
            task_arn: ecs.and_then(|e| e.task_arn.clone()),
            addresses,
            sockets,
            listeners,
            processes,
        }
    }

    fn process(&self, pids: &[u32], socket: &'static str) -> Option<ProcessOut> {
        let mut owners: Vec<u32> = pids.to_vec();
        owners.sort_unstable();
        owners.dedup();
        let first = *owners.first()?;
        let mut p = self.processes.get(&first).cloned().unwrap_or(ProcessOut {
            pid: first,
            comm: None,
            exe: None,
            sha256: None,
            cmdline: None,
            archive: self.archive.clone(),
            socket,
            other_pids: Vec::new(),
            findings: Vec::new(),
        });
        p.socket = socket;
        p.other_pids = owners[1..].to_vec();
        Some(p)
    }

    /// Whether the flow's window `[start, end]` (widened by `slack` seconds) meets the snapshot's.
    fn overlaps(&self, start: u64, end: u64, slack: u64) -> bool {
        start.saturating_sub(slack) <= self.to_s && end.saturating_add(slack) >= self.from_s
    }

    fn related(&self, src: &Attribution, dst: &Attribution) -> bool {
        let task = |a: &Attribution| a.task_arn.is_some() && a.task_arn == self.task_arn;
        task(src) || task(dst) || self.addresses.contains(&src.addr) || self.addresses.contains(&dst.addr)
    }
}

/// How records are attributed.
#[derive(Clone, Debug)]
pub struct AttributeOptions {
    /// Seconds a flow's window is widened by when compared with a snapshot's (AWS's `start`
    /// and `end` may lag the packets by up to a minute).
    pub slack_secs: u64,
}

impl Default for AttributeOptions {
    fn default() -> AttributeOptions {
        AttributeOptions { slack_secs: 60 }
    }
}

/// One record with its attribution: a row of `curtain flows attribute`.
#[derive(Clone, Debug)]
pub struct FlowRow {
    pub record: FlowRecord,
    /// Null when the record has no such address (NODATA, SKIPDATA, a format without it).
    pub src: Option<Attribution>,
    pub dst: Option<Attribution>,
    /// Only when the packet's address differs from the interface's.
    pub pkt_src: Option<Attribution>,
    pub pkt_dst: Option<Attribution>,
    /// The interface's owner when neither side could be told to be the interface's.
    pub interface_owner: Option<Attribution>,
    pub ecs_disagreement: bool,
    /// Null when no snapshot was given.
    pub snapshot_match: Option<SnapshotMatch>,
    /// Where the record was read: file, and line (event, row) in it.
    pub file: String,
    pub line: u64,
}

/// Attributes records against an address book and snapshots.
pub struct Attributor<'a> {
    pub book: &'a AddressBook,
    pub snapshots: &'a [SnapshotIndex],
    pub opts: AttributeOptions,
}

impl Attributor<'_> {
    /// Attributes one record read at `file`:`line`.
    pub fn row(&self, record: FlowRecord, file: &str, line: u64) -> FlowRow {
        let at = record.start.and_then(|s| s.checked_mul(1_000_000_000));
        let lookup = |addr: &Option<String>| -> Option<Attribution> {
            let addr = addr.as_deref()?;
            let holders = match at {
                Some(at) => self.book.at(addr, at),
                None => Vec::new(),
            };
            Some(Attribution::from_holders(&canonical_ip(addr), &holders, "address"))
        };
        let mut src = lookup(&record.srcaddr);
        let mut dst = lookup(&record.dstaddr);
        let differs = |pkt: &Option<String>, a: &Option<String>| {
            pkt.as_deref().is_some_and(|p| match a.as_deref() {
                Some(a) => canonical(p) != canonical(a),
                None => true,
            })
        };
        let pkt_src = if differs(&record.pkt_srcaddr, &record.srcaddr) { lookup(&record.pkt_srcaddr) } else { None };
        let pkt_dst = if differs(&record.pkt_dstaddr, &record.dstaddr) { lookup(&record.pkt_dstaddr) } else { None };

        // The interface's side: the address the register gave the ENI, else the direction.
        let eni_holders = record.interface_id.as_deref().map(|e| self.book.eni(e, at)).unwrap_or_default();
        let on = |a: &Option<Attribution>| {
            a.as_ref().is_some_and(|a| eni_holders.iter().any(|h| canonical(&h.holder.ip) == a.addr.as_str()))
        };
        let side = if on(&src) {
            Some(true)
        } else if on(&dst) {
            Some(false)
        } else {
            match record.flow_direction.as_deref() {
                Some("egress") => Some(true),
                Some("ingress") => Some(false),
                _ => None,
            }
        };
        let mut interface_owner = None;
        if !eni_holders.is_empty() {
            let slot = match side {
                Some(true) => src.as_mut(),
                Some(false) => dst.as_mut(),
                None => None,
            };
            match slot {
                Some(a) if a.kind == "unknown" => {
                    let addr = a.addr.clone();
                    *a = Attribution::from_holders(&addr, &eni_holders, "interface");
                }
                Some(_) => {}
                None => {
                    interface_owner = Some(Attribution::from_holders("", &eni_holders, "interface"));
                }
            }
        }

        // Version 7: the record's own ECS fields.
        let mut ecs_disagreement = false;
        let has_ecs = record.ecs_task_arn.is_some() || record.ecs_task_id.is_some();
        if has_ecs {
            let slot = match side {
                Some(true) => src.as_mut(),
                Some(false) => dst.as_mut(),
                None => None,
            };
            match slot {
                Some(a) if a.is_task() => ecs_disagreement = ecs_disagrees(&record, a),
                Some(a) => {
                    let addr = a.addr.clone();
                    if let Some(from) = Attribution::from_record(&addr, &record) {
                        *a = from;
                    }
                }
                None => {
                    // No side known: a task on either side that the record names agrees.
                    let tasks: Vec<&Attribution> = src.iter().chain(dst.iter()).filter(|a| a.is_task()).collect();
                    ecs_disagreement = !tasks.is_empty() && tasks.iter().all(|a| ecs_disagrees(&record, a));
                    if tasks.is_empty() && interface_owner.is_none() {
                        interface_owner = Attribution::from_record("", &record);
                    }
                }
            }
        }

        let snapshot_match = self.match_snapshots(&record, src.as_mut(), dst.as_mut());
        FlowRow {
            record,
            src,
            dst,
            pkt_src,
            pkt_dst,
            interface_owner,
            ecs_disagreement,
            snapshot_match,
            file: file.to_string(),
            line,
        }
    }

    fn match_snapshots(
        &self,
        r: &FlowRecord,
        src: Option<&mut Attribution>,
        dst: Option<&mut Attribution>,
    ) -> Option<SnapshotMatch> {
        if self.snapshots.is_empty() {
            return None;
        }
        let (Some(start), Some(end)) = (r.start, r.end.or(r.start)) else {
            return Some(SnapshotMatch::OutsideSnapshotTime);
        };
        let during: Vec<&SnapshotIndex> =
            self.snapshots.iter().filter(|s| s.overlaps(start, end, self.opts.slack_secs)).collect();
        if during.is_empty() {
            return Some(SnapshotMatch::OutsideSnapshotTime);
        }
        let (Some(src), Some(dst)) = (src, dst) else { return Some(SnapshotMatch::Unrelated) };
        if let (Some(proto), Some(sp), Some(dp)) = (r.protocol, r.srcport, r.dstport) {
            for s in &during {
                // The snapshot's end of the flow: its local address is the flow's source (an
                // outbound connection) or its destination (an inbound one).
                let out = (proto, src.addr.clone(), sp, dst.addr.clone(), dp);
                let inb = (proto, dst.addr.clone(), dp, src.addr.clone(), sp);
                if let Some(p) = s.sockets.get(&out).and_then(|pids| s.process(pids, "connection")) {
                    src.process = Some(p);
                    return Some(SnapshotMatch::Matched);
                }
                if let Some(p) = s.sockets.get(&inb).and_then(|pids| s.process(pids, "connection")) {
                    dst.process = Some(p);
                    return Some(SnapshotMatch::Matched);
                }
            }
            // A listening (or unconnected UDP) socket on the flow's port at an address of the
            // snapshot: the server on the destination's side, else the sender on the source's.
            for s in &during {
                for (side, port) in [(&mut *dst, dp), (&mut *src, sp)] {
                    let Some(ls) = s.listeners.get(&(proto, port)) else { continue };
                    let mine = s.addresses.contains(&side.addr);
                    let hit = ls.iter().find(|(ip, _)| *ip == side.addr || (mine && unspecified(ip)));
                    if let Some(p) = hit.and_then(|(_, pids)| s.process(pids, "listener")) {
                        side.process = Some(p);
                        return Some(SnapshotMatch::Matched);
                    }
                }
            }
        }
        if during.iter().any(|s| s.related(src, dst)) {
            Some(SnapshotMatch::CouldHaveBeen)
        } else {
            Some(SnapshotMatch::Unrelated)
        }
    }
}
