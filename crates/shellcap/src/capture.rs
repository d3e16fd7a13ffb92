//! From the script's records to what the collector would have recorded: the rows of
//! `raw/reads.jsonl` (the same [`RawRecord`]s, in the collector's order within each process)
//! with the bytes of each read.
//!
//! The script reads by path where the collector reads through a directory fd: a process that
//! exits while it is read gives ENOENT, not ESRCH. The script says when a process directory was
//! gone by the end of its reads (`g`), and those ENOENTs then become the ESRCH the collector
//! would have seen, so that the process is marked `vanished` the same way.

use crate::receive::Item;
use curtain_model::{ErrorKind, ExeStat, LinkRead, RawOp, RawRecord};
use curtain_tables::{ProcFile, LINK_NAMES};

/// Largest file kept whole, as the collector keeps it.
pub const MAX_FILE: usize = 32 << 20;

/// One access: its record, and the bytes it read (a successful `read`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub raw: RawRecord,
    pub bytes: Option<Vec<u8>>,
}

/// Every access made through one process, its opendir first, in the collector's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessCapture {
    pub pid: u32,
    pub records: Vec<Rec>,
}

/// What the script sent, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capture {
    /// The script's format version.
    pub version: u32,
    /// CLOCK_BOOTTIME (from /proc/uptime, to 10 ms) and CLOCK_REALTIME (from `date`, to the
    /// nanosecond where `date` has `%N`, else to the second) at start and at end, in ns.
    pub boottime_start_ns: u64,
    pub realtime_start_ns: u64,
    pub boottime_end_ns: u64,
    pub realtime_end_ns: u64,
    /// The pid of the script's reading shell, from /proc/self.
    pub self_pid: Option<u32>,
    pub nodename: Option<String>,
    pub release: Option<String>,
    pub machine: Option<String>,
    /// From `getconf`, when the target has it.
    pub clk_tck: Option<u64>,
    pub page_size: Option<u64>,
    /// Whether the target is little-endian (from `od -tx2`).
    pub little_endian: Option<bool>,
    /// The tools the script found (readlink mode, stat, sha256sum).
    pub tools: String,
    pub no_environ: bool,
    /// `self`, /proc/stat and the listing of the proc root.
    pub global: Vec<Rec>,
    pub processes: Vec<ProcessCapture>,
    /// Lines and payload bytes of the frame it arrived in.
    pub frame_lines: u64,
    pub frame_bytes: u64,
}

/// The `x KIND ERRNO` that follows a failed read.
fn failure(header: &str) -> Option<(ErrorKind, Option<i32>)> {
    let mut it = header.strip_prefix("x ")?.split(' ');
    let kind = match it.next()? {
        "ENOENT" => ErrorKind::ENOENT,
        "EACCES" => ErrorKind::EACCES,
        "EPERM" => ErrorKind::EPERM,
        "ESRCH" => ErrorKind::ESRCH,
        "vanished" => ErrorKind::Vanished,
        _ => ErrorKind::Other,
    };
    Some((kind, it.next().and_then(|e| e.parse().ok())))
}

/// Seconds with a decimal fraction (`12336.90`, `1796291604.436133260`) in ns; a fraction that
/// is not digits (`date` without `%N` prints it literally) counts as none.
fn seconds_ns(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let whole: u64 = whole.parse().ok()?;
    let frac_ns = if !frac.is_empty() && frac.len() <= 9 && frac.bytes().all(|c| c.is_ascii_digit()) {
        frac.parse::<u64>().ok()? * 10u64.pow(9 - frac.len() as u32)
    } else {
        0
    };
    whole.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

struct Items<'a> {
    items: &'a [Item],
    at: usize,
}

impl<'a> Items<'a> {
    fn peek(&self) -> Option<&'a Item> {
        self.items.get(self.at)
    }
    fn next(&mut self) -> Result<&'a Item, String> {
        let i = self.items.get(self.at).ok_or("the records end early")?;
        self.at += 1;
        Ok(i)
    }
    /// The `k` or `x ...` that ends a record: its failure, if any.
    fn outcome(&mut self) -> Result<Option<(ErrorKind, Option<i32>)>, String> {
        let i = self.next()?;
        match i.header.as_str() {
            "k" => Ok(None),
            h => failure(h).map(Some).ok_or_else(|| format!("`{h}` where k or x was due")),
        }
    }
}

fn fail(r: &mut RawRecord, f: (ErrorKind, Option<i32>)) {
    r.error = Some(f.0);
    r.errno = f.1;
}

/// A `read` record of `path` with what it gave.
fn read_rec(path: &str, data: &[u8], outcome: Option<(ErrorKind, Option<i32>)>) -> Rec {
    let mut raw = RawRecord::new(RawOp::Read, path.to_string());
    match outcome {
        Some(f) => {
            fail(&mut raw, f);
            Rec { raw, bytes: None }
        }
        None => {
            let keep = data.len().min(MAX_FILE);
            raw.size = Some(keep as u64);
            raw.truncated = data.len() > MAX_FILE;
            Rec { raw, bytes: Some(data[..keep].to_vec()) }
        }
    }
}

fn link_read(name: &str, target: Option<&[u8]>, outcome: Option<(ErrorKind, Option<i32>)>) -> LinkRead {
    LinkRead {
        name: name.to_string(),
        target: if outcome.is_none() { target.map(|t| t.to_vec().into()) } else { None },
        error: outcome.map(|f| f.0),
        errno: outcome.and_then(|f| f.1),
    }
}

/// What the script read of one process, before it is put in the collector's order.
#[derive(Default)]
struct Proc {
    pid: u32,
    vanished: bool,
    gone: bool,
    files: Vec<Rec>,
    links: Vec<LinkRead>,
    fds: Vec<(u32, LinkRead)>,
    fds_failed: Option<(ErrorKind, Option<i32>)>,
    exe: Option<Rec>,
    tables: Vec<Rec>,
}

impl Proc {
    fn finish(mut self) -> ProcessCapture {
        let pid = self.pid;
        let mut records = Vec::new();
        let mut open = RawRecord::new(RawOp::Opendir, pid.to_string());
        if self.vanished {
            open.error = Some(ErrorKind::Vanished);
            open.errno = Some(2);
            records.push(Rec { raw: open, bytes: None });
            return ProcessCapture { pid, records };
        }
        records.push(Rec { raw: open, bytes: None });
        for f in ProcFile::ALL {
            let path = format!("{pid}/{}", f.name());
            if let Some(i) = self.files.iter().position(|r| r.raw.path == path) {
                records.push(self.files.remove(i));
            }
        }
        // Files the collector does not read are kept after its own, as read.
        records.append(&mut self.files);
        let mut links = RawRecord::new(RawOp::Links, pid.to_string());
        let mut l = Vec::new();
        for name in LINK_NAMES {
            if let Some(i) = self.links.iter().position(|r| r.name == name) {
                l.push(self.links.remove(i));
            }
        }
        links.links = Some(l);
        records.push(Rec { raw: links, bytes: None });
        if let Some(e) = self.exe.take() {
            records.push(e);
        }
        let mut fds = RawRecord::new(RawOp::Fds, format!("{pid}/fd"));
        match self.fds_failed {
            Some(f) => fail(&mut fds, f),
            None => {
                self.fds.sort_by_key(|(n, _)| *n);
                fds.links = Some(self.fds.into_iter().map(|(_, l)| l).collect());
            }
        }
        records.push(Rec { raw: fds, bytes: None });
        records.append(&mut self.tables);
        if self.gone {
            // Read by path, an exited process answers ENOENT; through the directory fd the
            // collector holds, ESRCH.
            let esrch = |kind: &mut Option<ErrorKind>, errno: &mut Option<i32>| {
                if *kind == Some(ErrorKind::ENOENT) {
                    *kind = Some(ErrorKind::ESRCH);
                    *errno = Some(3);
                }
            };
            for r in &mut records {
                esrch(&mut r.raw.error, &mut r.raw.errno);
                for l in r.raw.links.iter_mut().flatten() {
                    esrch(&mut l.error, &mut l.errno);
                }
            }
        }
        ProcessCapture { pid, records }
    }
}

fn parse_exe(pid: u32, header: &str, outcome: Option<(ErrorKind, Option<i32>)>) -> Result<Rec, String> {
    let mut raw = RawRecord::new(RawOp::Exe, format!("{pid}/exe"));
    if let Some(f) = outcome {
        fail(&mut raw, f);
        return Ok(Rec { raw, bytes: None });
    }
    let bad = || format!("a malformed exe record `{header}`");
    let w: Vec<&str> = header.split(' ').collect();
    let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let (mut st, sha, mut detail) = match w.as_slice() {
        ["e", "st", dev, ino, nlink, size, mtime, sha] => (
            ExeStat {
                dev: num(dev)?,
                inode: num(ino)?,
                nlink: num(nlink)?,
                size: num(size)?,
                mtime: mtime.parse::<i64>().map_err(|_| bad())?,
                ..Default::default()
            },
            *sha,
            Vec::new(),
        ),
        ["e", "ls", ino, nlink, size, sha] => (
            ExeStat { inode: num(ino)?, nlink: num(nlink)?, size: num(size)?, ..Default::default() },
            *sha,
            vec!["no stat(1) in the target: dev and mtime unknown (0)"],
        ),
        _ => return Err(bad()),
    };
    if sha.len() == 64 && sha.bytes().all(|c| c.is_ascii_hexdigit()) {
        st.sha256 = Some(sha.to_ascii_lowercase());
    } else if sha == "-" {
        detail.push("no sha256sum in the target: not hashed");
    } else {
        return Err(bad());
    }
    raw.exe = Some(st);
    if !detail.is_empty() {
        raw.detail = Some(detail.join("; "));
    }
    Ok(Rec { raw, bytes: None })
}

impl Capture {
    /// Parses the records of a frame. An error when they are not what the script writes (a
    /// record out of place, the stream not ended by the script's last record).
    pub fn from_items(items: &[Item]) -> Result<Capture, String> {
        let mut c = Capture::default();
        let mut it = Items { items, at: 0 };
        let mut cur: Option<Proc> = None;
        let mut ended = false;
        while let Some(item) = it.peek() {
            it.at += 1;
            let h = item.header.as_str();
            let (word, rest) = h.split_once(' ').unwrap_or((h, ""));
            let at = it.at;
            let ctx = |e: String| format!("record {at} `{h}`: {e}");
            match word {
                "v" => c.version = rest.parse().map_err(|_| ctx("a bad version".into()))?,
                "c" => {
                    let w: Vec<&str> = rest.split(' ').collect();
                    let (boot, real) = match w.as_slice() {
                        [_, up, date] => (seconds_ns(up), seconds_ns(date)),
                        _ => (None, None),
                    };
                    let (Some(boot), Some(real)) = (boot, real) else { return Err(ctx("a bad clock".into())) };
                    match w[0] {
                        "s" => (c.boottime_start_ns, c.realtime_start_ns) = (boot, real),
                        _ => (c.boottime_end_ns, c.realtime_end_ns) = (boot, real),
                    }
                }
                "s" => {
                    c.self_pid = rest.parse().ok();
                    let mut r = RawRecord::new(RawOp::Readlink, "self".into());
                    match c.self_pid {
                        Some(p) => r.target = Some(p.to_string().into_bytes().into()),
                        None => {
                            r.error = Some(ErrorKind::Other);
                            r.detail = Some("the shell could not read /proc/self".into());
                        }
                    }
                    c.global.push(Rec { raw: r, bytes: None });
                }
                "u" => {
                    let outcome = it.outcome().map_err(ctx)?;
                    let v = outcome.is_none().then(|| String::from_utf8_lossy(&item.data).into_owned());
                    match rest {
                        "n" => c.nodename = v,
                        "r" => c.release = v,
                        _ => c.machine = v,
                    }
                }
                "t" => {
                    let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                    let v = v.trim();
                    match k {
                        "tck" => c.clk_tck = v.parse().ok().filter(|&t| t > 0),
                        "page" => c.page_size = v.parse().ok().filter(|&p: &u64| p.is_power_of_two()),
                        "endian" => {
                            c.little_endian = match v {
                                "6261" => Some(true),
                                "6162" => Some(false),
                                _ => None,
                            }
                        }
                        "tools" => c.tools = v.to_string(),
                        "noenv" => c.no_environ = v == "1",
                        _ => {}
                    }
                }
                "a" => {
                    let outcome = it.outcome().map_err(ctx)?;
                    let mut r = RawRecord::new(RawOp::Listdir, ".".into());
                    match outcome {
                        Some(f) => fail(&mut r, f),
                        None => {
                            let text = String::from_utf8_lossy(&item.data);
                            let mut pids: Vec<u32> = text.split_whitespace().filter_map(|p| p.parse().ok()).collect();
                            pids.sort_unstable();
                            pids.dedup();
                            r.entries = Some(pids.iter().map(|p| p.to_string()).collect());
                        }
                    }
                    c.global.push(Rec { raw: r, bytes: None });
                }
                "o" => {
                    if let Some(p) = cur.take() {
                        c.processes.push(p.finish());
                    }
                    let (pid, how) = rest.split_once(' ').unwrap_or((rest, ""));
                    let pid: u32 = pid.parse().map_err(|_| ctx("a bad pid".into()))?;
                    cur = Some(Proc { pid, vanished: how == "vanished", ..Default::default() });
                }
                "f" => {
                    let (path, ns) = rest.split_once(' ').unwrap_or((rest, ""));
                    let outcome = it.outcome().map_err(ctx)?;
                    let mut rec = read_rec(path, &item.data, outcome);
                    let ino = |p: &str| ns.strip_prefix(p).and_then(|n| n.parse::<u64>().ok());
                    rec.raw.netns = ino("n=");
                    rec.raw.mntns = ino("m=");
                    match (path.split_once('/'), cur.as_mut()) {
                        (None, _) => c.global.push(rec),
                        (Some((pid, name)), Some(p)) if pid == p.pid.to_string() => {
                            if rec.raw.netns.is_some() || rec.raw.mntns.is_some() {
                                p.tables.push(rec);
                            } else if name.contains('/') {
                                return Err(ctx("a file of a process outside its tables".into()));
                            } else {
                                p.files.push(rec);
                            }
                        }
                        _ => return Err(ctx("a file outside its process".into())),
                    }
                }
                "L" => {
                    let p = cur.as_mut().ok_or_else(|| ctx("links outside a process".into()))?;
                    loop {
                        let l = it.next().map_err(ctx)?;
                        if l.header == "k" {
                            break;
                        }
                        let name = l
                            .header
                            .strip_prefix("l ")
                            .ok_or_else(|| ctx(format!("`{}` among the links", l.header)))?;
                        let outcome = it.outcome().map_err(ctx)?;
                        let read = link_read(name, Some(&l.data), outcome);
                        if let Some(fd) = name.strip_prefix("fd/") {
                            let n: u32 = fd.parse().map_err(|_| ctx(format!("a bad fd {fd}")))?;
                            if p.fds.iter().any(|(m, _)| *m == n) {
                                return Err(ctx(format!("fd {n} twice")));
                            }
                            p.fds.push((n, link_read(fd, Some(&l.data), outcome)));
                        } else if LINK_NAMES.contains(&name) {
                            if p.links.iter().any(|r| r.name == name) {
                                return Err(ctx(format!("link {name} twice")));
                            }
                            p.links.push(read);
                        } else {
                            return Err(ctx(format!("an unknown link {name}")));
                        }
                    }
                }
                "F" => {
                    let p = cur.as_mut().ok_or_else(|| ctx("fds outside a process".into()))?;
                    p.fds_failed = it.outcome().map_err(ctx)?;
                }
                "e" => {
                    let p = cur.as_mut().ok_or_else(|| ctx("an exe outside a process".into()))?;
                    let outcome = it.outcome().map_err(ctx)?;
                    p.exe = Some(parse_exe(p.pid, h, outcome).map_err(ctx)?);
                }
                "g" => cur.as_mut().ok_or_else(|| ctx("`g` outside a process".into()))?.gone = true,
                "z" => {
                    ended = true;
                    break;
                }
                _ => return Err(ctx("an unknown record".into())),
            }
        }
        if let Some(p) = cur.take() {
            c.processes.push(p.finish());
        }
        if !ended || it.at != items.len() {
            return Err("the records do not end with the script's last one".into());
        }
        if c.version != 1 {
            return Err(format!("script version {} (this curtain reads 1)", c.version));
        }
        Ok(c)
    }

    /// The pids the script listed.
    pub fn listed(&self) -> Vec<u32> {
        self.global
            .iter()
            .filter(|r| r.raw.op == RawOp::Listdir)
            .flat_map(|r| r.raw.entries.iter().flatten().filter_map(|e| e.parse().ok()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(h: &str, d: &[u8]) -> Item {
        Item { header: h.into(), data: d.to_vec() }
    }

    #[test]
    fn a_process_comes_out_in_the_collectors_order() {
        let items = vec![
            item("v 1", b""),
            item("c s 100.50 1700000000.250000000", b""),
            item("s 7", b""),
            item("a", b" 7 12"),
            item("k", b""),
            item("o 7", b""),
            item("f 7/stat", b"7 (sh) S 1"),
            item("k", b""),
            item("f 7/environ", b""),
            item("x EACCES 13", b""),
            item("L", b""),
            item("l fd/10", b"/tmp/x"),
            item("k", b""),
            item("l ns/net", b"net:[4026531840]"),
            item("k", b""),
            item("l exe", b"/bin/sh"),
            item("k", b""),
            item("l fd/2", b""),
            item("x ENOENT 2", b""),
            item("k", b""),
            item("e st 2049 1234 1 125560 1700000000 -", b""),
            item("k", b""),
            item("f 7/net/tcp n=4026531840", b"  sl"),
            item("k", b""),
            item("g", b""),
            item("o 12 vanished", b""),
            item("c e 101.00 1700000001", b""),
            item("z", b""),
        ];
        let c = Capture::from_items(&items).unwrap();
        assert_eq!((c.boottime_start_ns, c.realtime_start_ns), (100_500_000_000, 1_700_000_000_250_000_000));
        assert_eq!(c.realtime_end_ns, 1_700_000_001_000_000_000);
        assert_eq!(c.listed(), [7, 12]);
        let p = &c.processes[0];
        let ops: Vec<_> = p.records.iter().map(|r| (r.raw.op, r.raw.path.as_str())).collect();
        use RawOp::*;
        assert_eq!(
            ops,
            [
                (Opendir, "7"),
                (Read, "7/stat"),
                (Read, "7/environ"),
                (Links, "7"),
                (Exe, "7/exe"),
                (Fds, "7/fd"),
                (Read, "7/net/tcp")
            ]
        );
        let links = p.records[3].raw.links.as_ref().unwrap();
        assert_eq!(links.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["exe", "ns/net"]);
        let fds = p.records[5].raw.links.as_ref().unwrap();
        assert_eq!(fds.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["2", "10"]);
        // Gone by the end: ENOENT read by path is the collector's ESRCH.
        assert_eq!((fds[0].error, fds[0].errno), (Some(ErrorKind::ESRCH), Some(3)));
        assert_eq!(p.records[2].raw.error, Some(ErrorKind::EACCES));
        assert_eq!(p.records[6].raw.netns, Some(4026531840));
        assert!(p.records[4].raw.detail.as_deref().unwrap().contains("not hashed"));
        assert_eq!(c.processes[1].records[0].raw.error, Some(ErrorKind::Vanished));
    }

    #[test]
    fn a_stream_not_ended_by_the_script_is_refused() {
        let items = vec![item("v 1", b""), item("o 7", b""), item("f 7/stat", b"x"), item("k", b"")];
        assert!(Capture::from_items(&items).is_err());
    }
}
