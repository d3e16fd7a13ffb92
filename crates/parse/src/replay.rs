//! Rebuilding the tables from an archive's raw part: `raw/reads.jsonl` replayed in order, with
//! the bytes of each read taken from its `raw/proc/` member.
//!
//! The collector makes exactly the same [`Tables`] calls in the same order as it reads, so an
//! untouched archive replays to byte-identical tables.

use crate::tables::{Context, RawProcess, RawResult, RowSink, Tables};
use curtain_model::{ErrorKind, LinkRead, Proto, RawOp, RawRecord};

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

/// The result of one link read, taking its target.
pub fn link_result(l: LinkRead) -> RawResult {
    match (l.target, l.error) {
        (Some(t), None) => Ok(t.0),
        (_, Some(k)) => Err(k),
        (None, None) => Err(ErrorKind::Parse),
    }
}

/// What was read of one process, with the namespace tables read through it.
#[derive(Default)]
pub struct Pending {
    pub raw: RawProcess,
    /// (netns, table, what was read, read through netlink sock_diag rather than /proc).
    pub net: Vec<(u64, Proto, RawResult, bool)>,
    pub mnt: Option<(u64, RawResult)>,
}

impl Pending {
    /// Adds the process, then its namespaces' tables: the one order both sides use.
    pub fn flush<S: RowSink>(self, t: &mut Tables<S>, ctx: &Context) {
        t.add_process(&self.raw, ctx);
        for (netns, proto, r, netlink) in &self.net {
            if *netlink {
                t.add_diag_table(*netns, self.raw.pid, *proto, r, ctx.clock.little_endian);
            } else {
                t.add_net_table(*netns, self.raw.pid, *proto, r, ctx.clock.little_endian);
            }
        }
        if let Some((mntns, r)) = &self.mnt {
            t.add_mountinfo(*mntns, self.raw.pid, r);
        }
    }
}

/// The archive member holding a netlink dump of one table of one network namespace.
pub fn netlink_member(netns: u64, proto: Proto) -> String {
    format!("raw/netlink/{netns}/{}", proto.table())
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
        RawOp::Netlink => {
            let (_, name) = split_pid(&rec.path)?;
            Some(netlink_member(rec.netns?, name.strip_prefix("net/").and_then(Proto::from_table)?))
        }
        _ => None,
    }
}

impl Pending {
    /// An `opendir` record of `pid`: the process to fill, or none and the error row of a process
    /// gone before any read.
    pub fn open<S: RowSink>(t: &mut Tables<S>, pid: u32, rec: &RawRecord) -> Option<Pending> {
        if rec.error.is_some() {
            t.add_error(Some(pid), rec.path.clone(), ErrorKind::Vanished, None);
            return None;
        }
        Some(Pending { raw: RawProcess { pid, ..Default::default() }, ..Default::default() })
    }

    /// Adds one record of this process (anything but its `opendir`), with the bytes of its
    /// member ([`member_of`]); one that cannot be replayed is kept as an error row. Link targets
    /// move out of `rec`: serialise it first.
    pub fn add<S: RowSink>(&mut self, t: &mut Tables<S>, rec: &mut RawRecord, bytes: Option<Vec<u8>>) {
        if let Err(e) = self.apply(rec, bytes) {
            t.add_error(Some(self.raw.pid), rec.path.clone(), ErrorKind::Other, Some(e));
        }
    }

    fn apply(&mut self, rec: &mut RawRecord, mut bytes: Option<Vec<u8>>) -> Result<(), String> {
        let name = match split_pid(&rec.path) {
            Some((pid, name)) if pid == self.raw.pid => name,
            _ => return Err(format!("{:?} of {} outside process {}", rec.op, rec.path, self.raw.pid)),
        };
        let mut read = |rec: &RawRecord| -> Result<RawResult, String> {
            match rec.error {
                Some(k) => Ok(Err(k)),
                None => bytes.take().map(Ok).ok_or(format!("no bytes for {}", rec.path)),
            }
        };
        let table =
            |name: &str| name.strip_prefix("net/").and_then(Proto::from_table).ok_or(format!("bad table {name}"));
        match rec.op {
            RawOp::Read => {
                let r = read(rec)?;
                if let Some(netns) = rec.netns {
                    self.net.push((netns, table(name)?, r, false));
                } else if let Some(mntns) = rec.mntns {
                    self.mnt = Some((mntns, r));
                } else {
                    if rec.truncated {
                        self.raw.truncated.insert(name.to_string());
                    }
                    self.raw.files.insert(name.to_string(), r);
                }
            }
            // A dump that failed was replaced by the /proc table: nothing to add.
            RawOp::Netlink if rec.error.is_some() => {}
            RawOp::Netlink => {
                let netns = rec.netns.ok_or(format!("netlink record {} without netns", rec.path))?;
                let r = read(rec)?;
                self.net.push((netns, table(name)?, r, true));
            }
            RawOp::Links => {
                for l in rec.links.take().unwrap_or_default() {
                    self.raw.links.insert(l.name.clone(), link_result(l));
                }
            }
            RawOp::Fds => {
                self.raw.fds = Some(match rec.error {
                    Some(k) => Err(k),
                    None => {
                        let links = rec.links.take().unwrap_or_default();
                        let mut v = Vec::with_capacity(links.len());
                        for l in links {
                            let fd = l.name.parse::<u32>().map_err(|_| format!("bad fd {}", l.name))?;
                            v.push((fd, link_result(l)));
                        }
                        Ok(v)
                    }
                });
            }
            RawOp::Exe => {
                self.raw.exe = Some(match (rec.error, rec.exe.take()) {
                    (Some(k), _) => Err(k),
                    (None, Some(e)) => Ok(e),
                    (None, None) => return Err(format!("exe record {} without result", rec.path)),
                });
            }
            op => return Err(format!("unexpected {:?} of {}", op, rec.path)),
        }
        Ok(())
    }
}

/// Replays `reads` (the JSON lines of `raw/reads.jsonl`, all parts in order). `member` returns
/// the bytes of an archive member. Returns the finished tables.
pub fn rebuild<'a, S: RowSink>(
    reads: &[u8],
    member: impl Fn(&str) -> Option<&'a [u8]>,
    ctx: &Context,
    sink: S,
) -> Result<Tables<S>, String> {
    let mut t = Tables::new(sink, None);
    let mut cur: Option<Pending> = None;
    for (n, line) in reads.split(|&c| c == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
        let mut rec: RawRecord =
            serde_json::from_slice(line).map_err(|e| format!("raw/reads.jsonl line {}: {e}", n + 1))?;
        match (rec.op, split_pid(&rec.path)) {
            (RawOp::Opendir, Some((pid, ""))) => {
                if let Some(p) = cur.take() {
                    p.flush(&mut t, ctx);
                }
                cur = Pending::open(&mut t, pid, &rec);
            }
            (op, Some((pid, _))) => {
                let Some(p) = cur.as_mut().filter(|p| p.raw.pid == pid) else {
                    return Err(format!("{:?} of {} outside its process", op, rec.path));
                };
                let bytes = match member_of(&rec) {
                    Some(name) => Some(member(&name).ok_or(format!("missing member {name}"))?.to_vec()),
                    None => None,
                };
                p.add(&mut t, &mut rec, bytes);
            }
            (RawOp::Readlink, None) if rec.path == "self" => {
                let pid = rec.target.as_ref().and_then(|t| std::str::from_utf8(&t.0).ok()?.parse().ok());
                t.set_self_pid(pid);
            }
            _ => {
                if let Some(p) = cur.take() {
                    p.flush(&mut t, ctx);
                }
                global_error(&mut t, &rec)
            }
        }
    }
    if let Some(p) = cur.take() {
        p.flush(&mut t, ctx);
    }
    t.finish();
    Ok(t)
}
