//! Rebuilding the tables from an archive's raw part: `raw/reads.jsonl` replayed in order, with
//! the bytes of each read taken from its `raw/proc/` member.
//!
//! The collector makes exactly the same [`Tables`] calls in the same order as it reads (each
//! access a [`RecordRef`] handed to [`Pending::add`]), so an untouched archive replays to
//! byte-identical tables.

use crate::read::ProcFile;
use crate::record::{links_of, Failure, Got, LinkName, RecordRef};
use crate::sockets::{table_proto, TCP46};
use crate::{Bytes, Context, ProcessRead, RowSink, Tables, LINK_NAMES};
use curtain_model::{ErrorKind, RawOp, RawRecord};

/// A row of `raw/reads.jsonl` that no table row stands for (the root listing, /proc/stat, an
/// ECS metadata request) becomes an error row when it failed. Shared with the collector.
pub fn global_error<S: RowSink>(tables: &mut Tables<S>, rec: &RawRecord) {
    if let Some(kind) = rec.error {
        let path = match rec.op {
            RawOp::Http => format!("ecs/{}", rec.path),
            _ => rec.path.clone(),
        };
        tables.add_error(None, path, kind, rec.detail.clone());
    }
}

fn kind(g: Got<'_>) -> Bytes<'_> {
    g.map_err(|f| f.kind)
}

/// A socket table read through a process: (netns, table name as under `net/`, what was read,
/// read through netlink sock_diag rather than /proc).
pub type NetRead<'a> = (u64, &'a str, Bytes<'a>, bool);

/// What was read of one process, with the namespace tables read through it.
#[derive(Default)]
pub struct Pending<'a> {
    pub raw: ProcessRead<'a>,
    pub net: Vec<NetRead<'a>>,
    pub mnt: Option<(u64, Bytes<'a>)>,
}

impl<'a> Pending<'a> {
    /// The process whose directory was opened, or none and the error row of a process gone
    /// before any read.
    pub fn open<S: RowSink>(t: &mut Tables<S>, pid: u32, failed: Option<Failure>) -> Option<Pending<'a>> {
        if let Some(f) = failed {
            // A directory of a copied tree refused as such (a link, not a directory) says so;
            // on a live procfs a failed open can only mean the process is gone.
            let kind = match f.kind {
                ErrorKind::NotFollowed | ErrorKind::NotRegular => f.kind,
                _ => ErrorKind::Vanished,
            };
            t.add_error(Some(pid), pid.to_string(), kind, None);
            return None;
        }
        Some(Pending { raw: ProcessRead { pid, ..Default::default() }, ..Default::default() })
    }

    /// Adds one record of this process (anything but its opendir); one that cannot be
    /// replayed is kept as an error row.
    pub fn add<S: RowSink>(&mut self, t: &mut Tables<S>, rec: &RecordRef<'a>) {
        if let Err(e) = self.apply(rec) {
            t.add_error(Some(self.raw.pid), rec.path(self.raw.pid), ErrorKind::Other, Some(e));
        }
    }

    fn apply(&mut self, rec: &RecordRef<'a>) -> Result<(), String> {
        let table = |name: &'a str| -> Result<&'a str, String> {
            name.strip_prefix("net/").filter(|t| table_proto(t).is_some()).ok_or(format!("bad table {name}"))
        };
        match *rec {
            RecordRef::Opendir(_) => return Err("a second opendir".into()),
            RecordRef::Read { name, got, truncated, netns, mntns } => {
                if let Some(netns) = netns {
                    let t = table(name)?;
                    if t == TCP46 {
                        return Err(format!("{TCP46} is a netlink dump"));
                    }
                    self.net.push((netns, t, kind(got), false));
                } else if let Some(mntns) = mntns {
                    self.mnt = Some((mntns, kind(got)));
                } else if let Some(f) = ProcFile::from_name(name) {
                    self.raw.files[f.index()] = Some(kind(got));
                    self.raw.truncated[f.index()] = truncated;
                }
                // A file the collector does not read is kept in raw/ and left out of the tables.
            }
            // A dump that failed was replaced by the /proc table: nothing to add.
            RecordRef::Netlink { got: Err(_), .. } => {}
            RecordRef::Netlink { name, netns, got } => self.net.push((netns, table(name)?, kind(got), true)),
            RecordRef::Links(links) => {
                for l in links {
                    let LinkName::Named(name) = l.name else { continue };
                    if let Some(i) = LINK_NAMES.iter().position(|n| *n == name) {
                        self.raw.links[i] = Some(kind(l.got));
                    }
                }
            }
            RecordRef::Fds(Err(f)) => self.raw.fds = Some(Err(f.kind)),
            RecordRef::Fds(Ok(links)) => {
                let mut v = Vec::with_capacity(links.len());
                for l in links {
                    let fd = match l.name {
                        LinkName::Fd(n) => n,
                        LinkName::Named(s) => s.parse::<u32>().map_err(|_| format!("bad fd {s}"))?,
                    };
                    v.push((fd, kind(l.got)));
                }
                self.raw.fds = Some(Ok(v));
            }
            RecordRef::Exe(r) => self.raw.exe = Some(r.map_err(|f| f.kind)),
            // Evidence of what a copied tree held in place of a file; the file's own record says
            // that it was not read.
            RecordRef::Readlink { .. } => {}
        }
        Ok(())
    }

    /// Adds the process, then its namespaces' tables: the one order both sides use.
    pub fn flush<S: RowSink>(self, t: &mut Tables<S>, ctx: &Context) {
        t.add_process(&self.raw, ctx);
        for (netns, table, r, netlink) in self.net {
            t.add_table(netns, self.raw.pid, table, r, ctx.clock.little_endian, netlink);
        }
        if let Some((mntns, r)) = self.mnt {
            t.add_mountinfo(mntns, self.raw.pid, r);
        }
    }
}

/// The archive member holding a netlink dump of one table of one network namespace.
pub fn netlink_member(netns: u64, table: &str) -> String {
    format!("raw/netlink/{netns}/{table}")
}

/// Splits `1234/ns/net` into (1234, "ns/net").
fn split_pid(path: &str) -> Option<(u32, &str)> {
    let (head, rest) = path.split_once('/').unwrap_or((path, ""));
    Some((head.parse().ok()?, rest))
}

/// The archive member holding the bytes of a record, if it read any: `raw/proc/<path>` for a
/// successful read, `raw/netlink/<netns>/<table>` for a successful dump.
pub fn member_of(rec: &RawRecord) -> Option<String> {
    if rec.error.is_some() {
        return None;
    }
    match rec.op {
        RawOp::Read => Some(format!("raw/proc/{}", rec.path)),
        RawOp::Host => crate::containers::host_member(&rec.path),
        RawOp::Http if rec.path == crate::containers::AGENT_TASKS => Some(crate::containers::AGENT_MEMBER.into()),
        RawOp::Netlink => {
            let (_, name) = split_pid(&rec.path)?;
            let table = name.strip_prefix("net/").filter(|t| table_proto(t).is_some())?;
            Some(netlink_member(rec.netns?, table))
        }
        _ => None,
    }
}

/// Replays the records of one process (its opendir first) through `t`.
fn replay_process<'a, S: RowSink>(
    t: &mut Tables<S>,
    group: &[RawRecord],
    member: &impl Fn(&str) -> Option<&'a [u8]>,
    ctx: &Context,
) -> Result<(), String> {
    let Some((first, rest)) = group.split_first() else { return Ok(()) };
    let (pid, _) = split_pid(&first.path).ok_or(format!("bad path {}", first.path))?;
    let failed = first.error.map(|kind| Failure { kind, errno: first.errno });
    let Some(mut p) = Pending::open(t, pid, failed) else {
        // Only the target of a directory that was a link may follow a failed opendir.
        return match rest.iter().find(|r| !(r.op == RawOp::Readlink && r.path == first.path)) {
            Some(rec) => Err(format!("{:?} of {} outside its process", rec.op, rec.path)),
            None => Ok(()),
        };
    };
    let links: Vec<_> = rest.iter().map(links_of).collect();
    let mut bytes = Vec::with_capacity(rest.len());
    for rec in rest {
        bytes.push(match member_of(rec) {
            Some(name) => Some(member(&name).ok_or(format!("missing member {name}"))?),
            None => None,
        });
    }
    for ((rec, links), bytes) in rest.iter().zip(&links).zip(bytes) {
        let name = split_pid(&rec.path).map_or("", |(_, n)| n);
        match RecordRef::from_raw(rec, name, links, bytes) {
            Ok(r) => p.add(t, &r),
            Err(e) => t.add_error(Some(pid), rec.path.clone(), ErrorKind::Other, Some(e)),
        }
    }
    p.flush(t, ctx);
    Ok(())
}

/// Replays `reads` (the JSON lines of `raw/reads.jsonl`, all parts in order). `member` returns
/// the bytes of an archive member. Returns the finished tables.
pub fn rebuild<'a, S: RowSink>(
    reads: &[u8],
    member: impl Fn(&str) -> Option<&'a [u8]>,
    ctx: &Context,
    sink: S,
) -> Result<Tables<S>, ReplayError> {
    let mut t = Tables::new(sink, None);
    // The records of the process being read: its opendir, then every access through it.
    let mut group: Vec<RawRecord> = Vec::new();
    let mut at = 0;
    let failed = |line: usize| move |what: String| ReplayError { line, what };
    for (n, line) in reads.split(|&c| c == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
        at = n + 1;
        let rec: RawRecord = serde_json::from_slice(line).map_err(|e| failed(at)(e.to_string()))?;
        let step = (|| -> Result<(), String> {
            let host = matches!(rec.op, RawOp::Host | RawOp::Hostlist)
                || (rec.op == RawOp::Http && rec.path == crate::containers::AGENT_TASKS);
            match (rec.op, split_pid(&rec.path)) {
                _ if host => {
                    replay_process(&mut t, &group, &member, ctx)?;
                    group.clear();
                    let bytes = match member_of(&rec) {
                        Some(name) => Some(member(&name).ok_or(format!("missing member {name}"))?),
                        None => None,
                    };
                    t.add_host(&rec, bytes);
                }
                (RawOp::Opendir, Some((_, ""))) => {
                    replay_process(&mut t, &group, &member, ctx)?;
                    group.clear();
                    group.push(rec);
                }
                (op, Some((pid, _))) => {
                    if group.first().and_then(|f| split_pid(&f.path)).map(|(p, _)| p) != Some(pid) {
                        return Err(format!("{:?} of {} outside its process", op, rec.path));
                    }
                    group.push(rec);
                }
                (RawOp::Readlink, None) if rec.path == "self" => {
                    replay_process(&mut t, &group, &member, ctx)?;
                    group.clear();
                    // A `self` with an error names no collector (in a copied tree it was recorded
                    // with its target, and not taken).
                    let pid = rec
                        .target
                        .as_ref()
                        .filter(|_| rec.error.is_none())
                        .and_then(|t| std::str::from_utf8(&t.0).ok()?.parse().ok());
                    t.set_self_pid(pid);
                }
                _ => {
                    replay_process(&mut t, &group, &member, ctx)?;
                    group.clear();
                    global_error(&mut t, &rec)
                }
            }
            Ok(())
        })();
        step.map_err(failed(at))?;
    }
    replay_process(&mut t, &group, &member, ctx).map_err(failed(at))?;
    t.finish();
    Ok(t)
}

/// Why the raw part could not be replayed: the read log's line (the record that could not be
/// placed, or the last one for what ends the log) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError {
    pub line: usize,
    pub what: String,
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "raw/reads.jsonl line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for ReplayError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemorySink, Table};
    use curtain_model::{CollectError, Label, Process};

    const STAT: &[u8] = b"1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0\n";

    fn replay(self_line: &str) -> (Vec<Process>, Vec<CollectError>) {
        let reads = format!(
            "{self_line}\n{{\"op\":\"opendir\",\"path\":\"1\"}}\n{{\"op\":\"read\",\"path\":\"1/stat\",\"size\":{}}}\n\
             {{\"op\":\"readlink\",\"path\":\"1/environ\",\"target\":\"/etc/shadow\"}}\n\
             {{\"op\":\"opendir\",\"path\":\"7\",\"error\":\"not_followed\",\"errno\":40}}\n\
             {{\"op\":\"readlink\",\"path\":\"7\",\"target\":\"/etc\"}}\n",
            STAT.len()
        );
        let member = |name: &str| (name == "raw/proc/1/stat").then_some(STAT);
        let t =
            rebuild(reads.as_bytes(), member, &Context { clock: Default::default() }, MemorySink::default()).unwrap();
        (t.sink.rows(Table::Processes), t.sink.rows(Table::Errors))
    }

    #[test]
    fn a_self_with_an_error_names_no_collector_and_link_targets_replay() {
        let (p, errors) = replay(r#"{"op":"readlink","path":"self","target":"1"}"#);
        assert_eq!(p[0].label, Some(Label::SelfCollector));
        // A process directory that was a link: its own error kind, not a vanished process.
        let e: Vec<_> = errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
        assert_eq!(e, [("7", ErrorKind::NotFollowed)]);
        // Recorded with an error (a copied tree's `self`): nobody is the collector.
        let (p, _) = replay(r#"{"op":"readlink","path":"self","target":"1","error":"not_followed"}"#);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].label, None);
    }
}
