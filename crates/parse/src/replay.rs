//! Rebuilding the tables from an archive's raw part: `raw/reads.jsonl` replayed in order, with
//! the bytes of each read taken from its `raw/proc/` member.
//!
//! The collector makes exactly the same [`Tables`] calls in the same order as it reads, so an
//! untouched archive replays to byte-identical tables.

use crate::tables::{Context, RawProcess, RawResult, Tables};
use curtain_model::{ErrorKind, Proto, RawOp, RawRecord};

/// A row of `raw/reads.jsonl` that no table row stands for (the root listing, /proc/stat, an
/// ECS metadata request) becomes an error row when it failed. Shared with the collector.
pub fn global_error(tables: &mut Tables, rec: &RawRecord) {
    if let Some(kind) = rec.error {
        let path = match rec.op {
            RawOp::Http => format!("ecs/{}", rec.path),
            _ => rec.path.clone(),
        };
        tables.add_error(None, path, kind, rec.detail.clone());
    }
}

/// Splits `1234/ns/net` into (1234, "ns/net").
fn split_pid(path: &str) -> Option<(u32, &str)> {
    let (head, rest) = path.split_once('/').unwrap_or((path, ""));
    Some((head.parse().ok()?, rest))
}

struct Pending {
    raw: RawProcess,
    net: Vec<(u64, Proto, RawResult)>,
    mnt: Option<(u64, RawResult)>,
}

/// Replays `reads` (the JSON lines of `raw/reads.jsonl`). `member` returns the bytes of an
/// archive member. Returns the tables (finished) and the collector's pid as the tree saw it.
pub fn rebuild<'a>(
    reads: &[u8],
    member: impl Fn(&str) -> Option<&'a [u8]>,
    ctx: &Context,
) -> Result<(Tables, Option<u32>), String> {
    let mut t = Tables::default();
    let mut self_pid = None;
    let mut cur: Option<Pending> = None;
    let le = ctx.clock.little_endian;
    for (n, line) in reads.split(|&c| c == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
        let rec: RawRecord =
            serde_json::from_slice(line).map_err(|e| format!("raw/reads.jsonl line {}: {e}", n + 1))?;
        let result = |rec: &RawRecord| -> Result<RawResult, String> {
            match rec.error {
                Some(k) => Ok(Err(k)),
                None => {
                    let name = format!("raw/proc/{}", rec.path);
                    member(&name).map(|b| Ok(b.to_vec())).ok_or(format!("missing member {name}"))
                }
            }
        };
        let pid_part = split_pid(&rec.path);
        match (rec.op, pid_part) {
            (RawOp::Opendir, Some((pid, _))) => {
                if rec.error.is_some() {
                    t.add_error(Some(pid), rec.path.clone(), ErrorKind::Vanished, None);
                } else {
                    cur = Some(Pending { raw: RawProcess { pid, ..Default::default() }, net: vec![], mnt: None });
                }
            }
            (RawOp::Recheck, Some((pid, _))) => {
                let Some(mut p) = cur.take().filter(|p| p.raw.pid == pid) else {
                    return Err(format!("recheck of {pid} without its reads"));
                };
                p.raw.vanished = rec.error.is_some();
                t.add_process(&p.raw, ctx);
                for (netns, proto, r) in &p.net {
                    t.add_net_table(*netns, pid, *proto, r, le);
                }
                if let Some((mntns, r)) = &p.mnt {
                    t.add_mountinfo(*mntns, pid, r);
                }
            }
            (op, Some((pid, name))) if !name.is_empty() => {
                let Some(p) = cur.as_mut().filter(|p| p.raw.pid == pid) else {
                    return Err(format!("read of {} outside its process", rec.path));
                };
                match op {
                    RawOp::Read => {
                        let r = result(&rec)?;
                        if let Some(netns) = rec.netns {
                            let proto = name
                                .strip_prefix("net/")
                                .and_then(Proto::from_table)
                                .ok_or(format!("bad table {name}"))?;
                            p.net.push((netns, proto, r));
                        } else if let Some(mntns) = rec.mntns {
                            p.mnt = Some((mntns, r));
                        } else {
                            if rec.truncated {
                                p.raw.truncated.insert(name.to_string());
                            }
                            p.raw.files.insert(name.to_string(), r);
                        }
                    }
                    RawOp::Readlink => {
                        let r = match (rec.error, &rec.target) {
                            (Some(k), _) => Err(k),
                            (None, Some(t)) => Ok(t.0.clone()),
                            (None, None) => return Err(format!("readlink {} without target", rec.path)),
                        };
                        if let Some(fd) = name.strip_prefix("fd/") {
                            let fd: u32 = fd.parse().map_err(|_| format!("bad fd {name}"))?;
                            if let Some(Ok(list)) = p.raw.fds.as_mut() {
                                list.push((fd, r));
                            }
                        } else {
                            p.raw.links.insert(name.to_string(), r);
                        }
                    }
                    RawOp::Listdir if name == "fd" => {
                        p.raw.fds = Some(match rec.error {
                            Some(k) => Err(k),
                            None => Ok(Vec::new()),
                        });
                    }
                    RawOp::Exe => {
                        p.raw.exe = Some(match (rec.error, &rec.exe) {
                            (Some(k), _) => Err(k),
                            (None, Some(e)) => Ok(e.clone()),
                            (None, None) => return Err(format!("exe record {} without result", rec.path)),
                        });
                    }
                    _ => return Err(format!("unexpected {:?} of {}", op, rec.path)),
                }
            }
            (RawOp::Readlink, None) if rec.path == "self" => {
                self_pid = rec.target.as_ref().and_then(|t| std::str::from_utf8(&t.0).ok()?.parse().ok());
            }
            _ => global_error(&mut t, &rec),
        }
    }
    if let Some(p) = cur {
        return Err(format!("reads of {} end without a recheck", p.raw.pid));
    }
    t.finish(self_pid);
    Ok((t, self_pid))
}
