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

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use curtain_model::register::{Certainty, Holder};
use curtain_model::Snapshot;
use curtain_store::{HeldInterval, Register};
use serde::Serialize;

use crate::record::FlowRecord;
use compact_str::CompactString;
use smallvec::SmallVec;

/// An address in one spelling whatever the source wrote (`::ffff:10.0.0.1` is `10.0.0.1`,
/// IPv6 compressed); text that is no address is kept as it is.
pub fn canonical_ip(s: &str) -> String {
    spelt(s, parse_ip(s)).into()
}

/// An attribution of the address book, built once and lent to every row of its holding, with
/// its JSON made once for them all. Made and changed only in this crate: a lent one is never
/// changed (a row changes its own copy), so its JSON stays true.
#[derive(Debug)]
pub struct Shared {
    attribution: Attribution,
    /// Its JSON, made the first time a row is written as JSON.
    json: OnceLock<Box<[u8]>>,
}

impl Shared {
    pub(crate) fn new(attribution: Attribution) -> Box<Shared> {
        Box::new(Shared { attribution, json: OnceLock::new() })
    }

    /// The attribution as JSON, made once: every row of the holding writes these bytes.
    pub fn json(&self) -> &[u8] {
        self.json.get_or_init(|| serde_json::to_vec(&self.attribution).expect("rows serialise into memory").into())
    }
}

/// One holding of an address, with the attribution it gives built once: rows borrow it rather
/// than copying a dozen strings out of the holder for every record. What a record's lookup reads
/// comes first, in one cache line (`repr(C)` keeps the order); the holder itself after it.
#[derive(Debug)]
#[repr(C)]
struct Held {
    from_ns: i64,
    /// Open (still held): `i64::MAX`.
    to_ns: i64,
    /// Its address, parsed (`None`: text that is no address).
    ip: Option<IpAddr>,
    by_address: Box<Shared>,
    /// Built the first time a flow's interface names it.
    by_interface: OnceLock<Box<Shared>>,
    /// Boxed: what a lookup reads stays a few cache lines for ten thousand holdings, where the
    /// holder inline would spread them over megabytes (a cache miss per record).
    interval: Box<HeldInterval>,
}

impl Held {
    /// Whether it held its address at `at_ns`: [`HeldInterval::holds`], on the copied bounds.
    fn holds(&self, at_ns: u64) -> bool {
        let at = i64::try_from(at_ns).unwrap_or(i64::MAX);
        self.from_ns <= at && at <= self.to_ns
    }

    /// Its address as rows spell it.
    fn addr(&self) -> &str {
        &self.by_address.attribution.addr
    }

    fn by_interface(&self) -> &Shared {
        self.by_interface
            .get_or_init(|| Shared::new(Attribution::from_holders(self.addr(), &[&self.interval], "interface")))
    }
}

/// One side of a row. Most are the address book's, lent: every row of a holding shares it and
/// touches none of it (a shared reference count to increment was a cache miss per record with
/// ten thousand holders). An address nobody held is its address alone until something reads the
/// whole attribution (most flows have one: a peer on the internet). The rest (several holders,
/// a record's ECS fields, a snapshot's process) are the row's own.
#[derive(Clone, Debug)]
pub enum Side<'a> {
    Book(&'a Shared),
    Unknown { addr: CompactString, whole: OnceLock<Box<Attribution>> },
    Own(Box<Attribution>),
}

impl Side<'_> {
    pub(crate) fn unknown(addr: CompactString) -> Self {
        Side::Unknown { addr, whole: OnceLock::new() }
    }

    /// The address, as rows spell it.
    pub fn addr(&self) -> &str {
        match self {
            Side::Book(s) => &s.attribution.addr,
            Side::Unknown { addr, .. } => addr,
            Side::Own(a) => &a.addr,
        }
    }

    /// Whether nobody is known to have held it, without reading a lent attribution (the book
    /// lends only those of a holding).
    pub fn is_unknown(&self) -> bool {
        match self {
            Side::Unknown { .. } => true,
            Side::Book(_) => false,
            Side::Own(a) => a.kind == "unknown",
        }
    }

    /// [`Attribution::is_task`], without building an unknown one.
    pub fn is_task(&self) -> bool {
        !matches!(self, Side::Unknown { .. }) && self.attribution().is_task()
    }

    /// The address book's attribution it is; `None` for one of the row's own.
    pub fn shared(&self) -> Option<&Shared> {
        match self {
            Side::Book(s) => Some(s),
            _ => None,
        }
    }

    /// Nobody held the address and nothing more was learnt of it.
    pub fn is_bare_unknown(&self) -> bool {
        match self {
            Side::Unknown { .. } => true,
            Side::Book(_) => false,
            Side::Own(a) => a.is_bare_unknown(),
        }
    }

    /// The whole attribution.
    pub fn attribution(&self) -> &Attribution {
        match self {
            Side::Book(s) => &s.attribution,
            Side::Unknown { addr, whole } => whole.get_or_init(|| Box::new(Attribution::unknown(addr))),
            Side::Own(a) => a,
        }
    }

    /// The row's own copy, to change.
    pub fn to_mut(&mut self) -> &mut Attribution {
        if !matches!(self, Side::Own(_)) {
            *self = Side::Own(Box::new(self.attribution().clone()));
        }
        match self {
            Side::Own(a) => a,
            _ => unreachable!("made the row's own above"),
        }
    }
}

impl std::ops::Deref for Side<'_> {
    type Target = Attribution;
    fn deref(&self) -> &Attribution {
        self.attribution()
    }
}

impl Serialize for Side<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.attribution().serialize(s)
    }
}

type FxMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// The register's holders of every address and interface, in memory.
#[derive(Debug, Default)]
pub struct AddressBook {
    /// Every holding, in the register's order.
    held: Vec<Held>,
    /// Addresses, parsed: a record's text is looked up without a copy, whatever its spelling.
    /// Each gives its holdings in `held` (oldest first) as positions in `slots`.
    by_ip: FxMap<IpAddr, (u32, u32)>,
    /// What the register holds that is no address (kept as it is written).
    by_text: FxMap<String, (u32, u32)>,
    /// Per ENI: its holdings, as positions in `slots`.
    /// Keys inline (an ENI id is 21 bytes): comparing one reads the table, not another allocation.
    by_eni: FxMap<CompactString, (u32, u32)>,
    slots: Vec<u32>,
}

/// An address parsed, IPv4-mapped IPv6 as IPv4 (the key [`canonical_ip`] spells).
fn parse_ip(s: &str) -> Option<IpAddr> {
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

/// A record's address with its parse.
fn parsed(a: Option<&str>) -> Option<(&str, Option<IpAddr>)> {
    a.map(|s| (s, parse_ip(s)))
}

/// [`canonical_ip`] of `s`, parsed as `ip` ([`parse_ip`]).
fn spelt(s: &str, ip: Option<IpAddr>) -> CompactString {
    match ip {
        // An IPv4 address has one spelling (the parser refuses leading zeros).
        Some(IpAddr::V4(_)) if !s.contains(':') => s.into(),
        Some(ip) => compact_str::format_compact!("{ip}"),
        None => s.into(),
    }
}

impl AddressBook {
    /// Reads the register once.
    pub fn load(register: &Register) -> Result<AddressBook, curtain_store::Error> {
        Ok(AddressBook::from_holders(register.all_holders()?))
    }

    /// From holders already read (tests, another store).
    pub fn from_holders(holders: Vec<HeldInterval>) -> AddressBook {
        let mut book = AddressBook::default();
        let mut by_ip: FxMap<IpAddr, Vec<u32>> = FxMap::default();
        let mut by_text: FxMap<String, Vec<u32>> = FxMap::default();
        let mut by_eni: FxMap<CompactString, Vec<u32>> = FxMap::default();
        for h in holders {
            let i = u32::try_from(book.held.len()).expect("fewer than 4 billion holdings");
            let ip = parse_ip(&h.holder.ip);
            let addr = spelt(&h.holder.ip, ip);
            match ip {
                Some(a) => by_ip.entry(a).or_default().push(i),
                None => by_text.entry(addr.to_string()).or_default().push(i),
            }
            if let Some(eni) = &h.holder.eni_id {
                by_eni.entry(eni.as_str().into()).or_default().push(i);
            }
            book.held.push(Held {
                from_ns: h.from_ns,
                to_ns: h.to_ns.unwrap_or(i64::MAX),
                ip,
                by_address: Shared::new(Attribution::from_holders(&addr, &[&h], "address")),
                by_interface: OnceLock::new(),
                interval: Box::new(h),
            });
        }
        let slots = &mut book.slots;
        let mut flat = |list: Vec<u32>| {
            let at = u32::try_from(slots.len()).expect("fewer than 4 billion holdings");
            let n = list.len() as u32;
            slots.extend(list);
            (at, n)
        };
        book.by_ip = by_ip.into_iter().map(|(k, v)| (k, flat(v))).collect();
        book.by_text = by_text.into_iter().map(|(k, v)| (k, flat(v))).collect();
        book.by_eni = by_eni.into_iter().map(|(k, v)| (k, flat(v))).collect();
        book
    }

    /// How many address intervals it holds.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    fn slots(&self, at: Option<&(u32, u32)>) -> impl Iterator<Item = &Held> + Clone {
        let (from, n) = at.copied().unwrap_or((0, 0));
        self.slots[from as usize..(from + n) as usize].iter().map(|&i| &self.held[i as usize])
    }

    /// Every holding of an address, parsed as `ip`.
    fn list(&self, addr: &str, ip: Option<IpAddr>) -> impl Iterator<Item = &Held> + Clone {
        self.slots(match ip {
            Some(a) => self.by_ip.get(&a),
            None => self.by_text.get(addr),
        })
    }

    /// The holders of `ip` at `at_ns`, oldest first (`whois --at`).
    pub fn at(&self, ip: &str, at_ns: u64) -> Vec<&HeldInterval> {
        self.list(ip, parse_ip(ip)).filter(|h| h.holds(at_ns)).map(|h| &*h.interval).collect()
    }

    /// What held `addr` (parsed as `ip`) at `at_ns` (nobody when the time is unknown).
    fn attribution(&self, addr: &str, ip: Option<IpAddr>, at_ns: Option<u64>) -> Side<'_> {
        let list = self.list(addr, ip);
        let mut held = list.clone().filter(|h| at_ns.is_some_and(|at| h.holds(at)));
        match (held.next(), held.next()) {
            (None, _) => Side::unknown(spelt(addr, ip)),
            (Some(h), None) => Side::Book(&h.by_address),
            (Some(_), Some(_)) => {
                let all: Vec<&HeldInterval> =
                    list.filter(|h| at_ns.is_some_and(|at| h.holds(at))).map(|h| &*h.interval).collect();
                Side::Own(Box::new(Attribution::from_holders(&spelt(addr, ip), &all, "address")))
            }
        }
    }

    /// The holders of an interface: those at `at_ns` when there are some, else every one it had
    /// (an ENI id is never reused; a flow lags its packets by up to a minute).
    pub fn eni(&self, eni: &str, at_ns: Option<u64>) -> Vec<&HeldInterval> {
        self.eni_held(eni, at_ns).into_iter().map(|h| &*h.interval).collect()
    }

    fn eni_held(&self, eni: &str, at_ns: Option<u64>) -> SmallVec<[&Held; 2]> {
        let all = self.slots(self.by_eni.get(eni));
        let now = |h: &&Held| at_ns.is_some_and(|at| h.holds(at));
        if all.clone().any(|h| now(&h)) {
            all.filter(now).collect()
        } else {
            all.collect()
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
    /// The register's kind of owner, `whois`'s (`ecs-task`, `ec2-instance`, `lambda`,
    /// `load-balancer`, `nat-gateway`, `vpc-endpoint`, `elastic-ip`...; docs/AWS.md), and for one
    /// that is no task, who it is: the instance, the function and the functions the interface
    /// served then, the load balancer...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<curtain_model::register::Owner>,
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
            owner_kind: None,
            owner: None,
            by: None,
            container_instance: None,
            ec2_instance: None,
            also: Vec::new(),
            process: None,
        }
    }

    /// Whether it is [`Self::unknown`] as made: nobody held it and nothing more was learnt.
    pub fn is_bare_unknown(&self) -> bool {
        // Every field named: one added later must be thought about here.
        let Attribution {
            addr: _,
            kind,
            account,
            region,
            cluster,
            service,
            task_arn,
            task_definition,
            containers,
            eni,
            certainty,
            sources,
            owner_kind,
            owner,
            by,
            container_instance,
            ec2_instance,
            also,
            process,
        } = self;
        *kind == "unknown"
            && [account, region, cluster, service, task_arn, task_definition, eni, container_instance, ec2_instance]
                .iter()
                .all(|v| v.is_none())
            && containers.is_empty()
            && certainty.is_none()
            && sources.is_empty()
            && owner_kind.is_none()
            && owner.is_none()
            && by.is_none()
            && also.is_empty()
            && process.is_none()
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
            owner_kind: Some(h.kind.clone()).filter(|k| !k.is_empty()),
            owner: h.owner.clone(),
            by: Some(by),
            container_instance: h.container_instance_arn.clone(),
            ec2_instance: h.ec2_instance_id.clone(),
            also,
            process: None,
        }
    }

    /// From a v7 record's own ECS fields.
    fn from_record(addr: &str, r: &FlowRecord) -> Option<Attribution> {
        let task = r.ecs_task_arn().map(str::to_string).or_else(|| r.ecs_task_id().map(str::to_string));
        task.as_ref()?;
        let mut a = Attribution::unknown(addr);
        a.kind = "task";
        a.account = r.account_id().map(str::to_string);
        a.region = r.region().map(str::to_string);
        a.cluster = r.ecs_cluster_arn().map(str::to_string).or_else(|| r.ecs_cluster_name().map(str::to_string));
        a.service = r.ecs_service_name().map(str::to_string);
        a.task_arn = task;
        a.task_definition = r.ecs_task_definition_arn().map(str::to_string);
        a.containers = [r.ecs_container_id(), r.ecs_second_container_id()]
            .into_iter()
            .flatten()
            .map(|id| ContainerOut {
                name: String::new(),
                image: None,
                image_digest: None,
                runtime_id: Some(id.to_string()),
            })
            .collect();
        a.eni = r.interface_id().map(str::to_string);
        a.certainty = Some("flow-log");
        a.owner_kind = Some("ecs-task".into());
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
    let differ = |mine: Option<&str>, theirs: &Option<String>| match (mine, theirs.as_deref()) {
        (Some(m), Some(t)) => m != t && arn_tail(m) != arn_tail(t),
        _ => false,
    };
    if !a.is_task() {
        return false;
    }
    differ(r.ecs_task_arn(), &a.task_arn)
        || differ(r.ecs_task_id(), &a.task_arn)
        || differ(r.ecs_cluster_arn(), &a.cluster)
        || differ(r.ecs_cluster_name(), &a.cluster)
        || differ(r.ecs_service_name(), &a.service)
        || differ(r.ecs_task_definition_arn(), &a.task_definition)
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

/// One record with its attribution: a row of `curtain flows attribute`. The sides are mostly
/// lent by the address book (every record of a task shows one [`Attribution`]); one a snapshot
/// gave a process to is a copy of its own ([`Side`]).
#[derive(Clone, Debug)]
pub struct FlowRow<'a> {
    pub record: FlowRecord,
    /// Null when the record has no such address (NODATA, SKIPDATA, a format without it).
    pub src: Option<Side<'a>>,
    pub dst: Option<Side<'a>>,
    /// Only when the packet's address differs from the interface's.
    pub pkt_src: Option<Side<'a>>,
    pub pkt_dst: Option<Side<'a>>,
    /// The interface's owner when neither side could be told to be the interface's.
    pub interface_owner: Option<Side<'a>>,
    pub ecs_disagreement: bool,
    /// Null when no snapshot was given.
    pub snapshot_match: Option<SnapshotMatch>,
    /// Where the record was read: file, and line (event, row) in it.
    pub file: Arc<str>,
    pub line: u64,
}

/// Attributes records against an address book and snapshots.
pub struct Attributor<'a> {
    pub book: &'a AddressBook,
    pub snapshots: &'a [SnapshotIndex],
    pub opts: AttributeOptions,
}

impl<'a> Attributor<'a> {
    /// Attributes one record read at `file`:`line`.
    pub fn row(&self, record: FlowRecord, file: &str, line: u64) -> FlowRow<'a> {
        self.row_in(record, Arc::from(file), line)
    }

    /// [`Self::row`] with the file's name shared by its rows.
    pub fn row_in(&self, record: FlowRecord, file: Arc<str>, line: u64) -> FlowRow<'a> {
        let book: &'a AddressBook = self.book;
        let at = record.start().and_then(|s| s.checked_mul(1_000_000_000));
        let (src_ip, dst_ip) = (parsed(record.srcaddr()), parsed(record.dstaddr()));
        let lookup = |a: Option<(&str, Option<IpAddr>)>| a.map(|(s, ip)| book.attribution(s, ip, at));
        let mut src = lookup(src_ip);
        let mut dst = lookup(dst_ip);
        let pkt = |p: Option<&str>, a: Option<(&str, Option<IpAddr>)>| -> Option<Side<'a>> {
            let p = p?;
            let differs = match a {
                Some((a, _)) if p == a => false,
                Some((a, aip)) => match (parse_ip(p), aip) {
                    (Some(x), Some(y)) => x != y,
                    _ => p != a,
                },
                None => true,
            };
            differs.then(|| book.attribution(p, parse_ip(p), at))
        };
        let pkt_src = pkt(record.pkt_srcaddr(), src_ip);
        let pkt_dst = pkt(record.pkt_dstaddr(), dst_ip);

        // The interface's side: the address the register gave the ENI, else the direction.
        let eni_held = record.interface_id().map(|e| book.eni_held(e, at)).unwrap_or_default();
        let on = |a: &Option<Side>, ip: Option<(&str, Option<IpAddr>)>| {
            a.as_ref().is_some_and(|a| {
                eni_held.iter().any(|h| match (h.ip, ip) {
                    (Some(x), Some((_, Some(y)))) => x == y,
                    _ => h.addr() == a.addr(),
                })
            })
        };
        let side = if on(&src, src_ip) {
            Some(true)
        } else if on(&dst, dst_ip) {
            Some(false)
        } else {
            match record.flow_direction() {
                Some("egress") => Some(true),
                Some("ingress") => Some(false),
                _ => None,
            }
        };
        let by_interface = |addr: &str| -> Side<'a> {
            match eni_held.as_slice() {
                [one] if one.addr() == addr => Side::Book(one.by_interface()),
                all => {
                    let holders: Vec<&HeldInterval> = all.iter().map(|h| &*h.interval).collect();
                    Side::Own(Box::new(Attribution::from_holders(addr, &holders, "interface")))
                }
            }
        };
        let mut interface_owner = None;
        if !eni_held.is_empty() {
            let slot = match side {
                Some(true) => src.as_mut(),
                Some(false) => dst.as_mut(),
                None => None,
            };
            match slot {
                Some(a) if a.is_unknown() => *a = by_interface(a.addr()),
                Some(_) => {}
                None => interface_owner = Some(by_interface("")),
            }
        }

        // Version 7: the record's own ECS fields.
        let mut ecs_disagreement = false;
        let has_ecs = record.ecs_task_arn().is_some() || record.ecs_task_id().is_some();
        if has_ecs {
            let slot = match side {
                Some(true) => src.as_mut(),
                Some(false) => dst.as_mut(),
                None => None,
            };
            match slot {
                Some(a) if a.is_task() => ecs_disagreement = ecs_disagrees(&record, a),
                Some(a) => {
                    if let Some(from) = Attribution::from_record(a.addr(), &record) {
                        *a = Side::Own(Box::new(from));
                    }
                }
                None => {
                    // No side known: a task on either side that the record names agrees.
                    let tasks: Vec<&Side> = src.iter().chain(dst.iter()).filter(|a| a.is_task()).collect();
                    ecs_disagreement = !tasks.is_empty() && tasks.iter().all(|a| ecs_disagrees(&record, a));
                    if tasks.is_empty() && interface_owner.is_none() {
                        interface_owner = Attribution::from_record("", &record).map(|a| Side::Own(Box::new(a)));
                    }
                }
            }
        }

        let snapshot_match = self.match_snapshots(&record, src.as_mut(), dst.as_mut());
        FlowRow { record, src, dst, pkt_src, pkt_dst, interface_owner, ecs_disagreement, snapshot_match, file, line }
    }

    fn match_snapshots(
        &self,
        r: &FlowRecord,
        src: Option<&mut Side<'a>>,
        dst: Option<&mut Side<'a>>,
    ) -> Option<SnapshotMatch> {
        if self.snapshots.is_empty() {
            return None;
        }
        let (Some(start), Some(end)) = (r.start(), r.end().or(r.start())) else {
            return Some(SnapshotMatch::OutsideSnapshotTime);
        };
        let during: Vec<&SnapshotIndex> =
            self.snapshots.iter().filter(|s| s.overlaps(start, end, self.opts.slack_secs)).collect();
        if during.is_empty() {
            return Some(SnapshotMatch::OutsideSnapshotTime);
        }
        let (Some(src), Some(dst)) = (src, dst) else { return Some(SnapshotMatch::Unrelated) };
        if let (Some(proto), Some(sp), Some(dp)) = (r.protocol(), r.srcport(), r.dstport()) {
            for s in &during {
                // The snapshot's end of the flow: its local address is the flow's source (an
                // outbound connection) or its destination (an inbound one).
                let out = (proto, src.addr().to_string(), sp, dst.addr().to_string(), dp);
                let inb = (proto, dst.addr().to_string(), dp, src.addr().to_string(), sp);
                if let Some(p) = s.sockets.get(&out).and_then(|pids| s.process(pids, "connection")) {
                    src.to_mut().process = Some(p);
                    return Some(SnapshotMatch::Matched);
                }
                if let Some(p) = s.sockets.get(&inb).and_then(|pids| s.process(pids, "connection")) {
                    dst.to_mut().process = Some(p);
                    return Some(SnapshotMatch::Matched);
                }
            }
            // A listening (or unconnected UDP) socket on the flow's port at an address of the
            // snapshot: the server on the destination's side, else the sender on the source's.
            for s in &during {
                for (side, port) in [(&mut *dst, dp), (&mut *src, sp)] {
                    let Some(ls) = s.listeners.get(&(proto, port)) else { continue };
                    let mine = s.addresses.iter().any(|a| a == side.addr());
                    let hit = ls.iter().find(|(ip, _)| *ip == side.addr() || (mine && unspecified(ip)));
                    if let Some(p) = hit.and_then(|(_, pids)| s.process(pids, "listener")) {
                        side.to_mut().process = Some(p);
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
