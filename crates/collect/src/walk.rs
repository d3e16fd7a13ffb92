//! The walk over a proc tree: one dirfd per process, each file read once, every read recorded.
//!
//! Reads go through `openat`/`readlinkat` on the process's directory fd rather than through
//! procfs (the crate), whose `Process` API re-resolves paths and costs several syscalls per fd
//! where one `readlinkat` does. Holding the dirfd also pins the process: once it exits, every
//! later read fails with ESRCH instead of silently reading a new process that reused the pid, so
//! each read re-checks it.

use crate::archive::ArchiveWriter;
use crate::parts::{Parts, READS};
use curtain_model::{to_hex, ErrorKind, ExeStat, LinkRead, Proto, RawOp, RawRecord};
use curtain_parse::replay::{link_result, Pending};
use curtain_parse::tables::{PROCESS_FILES, PROCESS_LINKS};
use curtain_parse::{Context, RawProcess, RawResult, Tables};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use rustix::io::Errno;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

/// Largest file kept whole; a larger one keeps this prefix and is marked truncated (a cmdline
/// or environ is at most a few MiB; a huge maps file is the only usual case).
pub const MAX_FILE: usize = 32 << 20;

pub fn errno_kind(e: Errno) -> ErrorKind {
    match e {
        Errno::NOENT => ErrorKind::ENOENT,
        Errno::ACCESS => ErrorKind::EACCES,
        Errno::PERM => ErrorKind::EPERM,
        Errno::SRCH => ErrorKind::ESRCH,
        _ => ErrorKind::Other,
    }
}

/// Records a failed access in `rec` and returns its kind.
fn failed(rec: &mut RawRecord, e: Errno) -> ErrorKind {
    let kind = errno_kind(e);
    rec.error = Some(kind);
    rec.errno = Some(e.raw_os_error());
    kind
}

/// Options of the walk.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    pub no_environ: bool,
    pub carve_exe: Option<u64>,
}

/// Identity of an executable file for hashing it once: (dev, inode, size, mtime, ctime).
type FileKey = (u64, u64, u64, i64, u32, i64, u32);

/// The state of one collection.
pub struct Walker<'a, W: Write> {
    pub root: OwnedFd,
    pub opts: WalkOptions,
    pub ctx: Context,
    pub tables: Tables<Parts>,
    pub archive: &'a mut ArchiveWriter<W>,
    pub raw_bytes: u64,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    exe_cache: HashMap<FileKey, ExeStat>,
    netns_done: HashSet<u64>,
    mntns_done: HashSet<u64>,
    carved: HashSet<String>,
    /// Processes walked (or found gone), so that none is walked twice.
    pub done: HashSet<u32>,
    /// The collector's own network namespace, to come back to after opening a sock_diag socket
    /// in another; `None` when not reading the live /proc or not allowed to enter namespaces.
    pub home_netns: Option<OwnedFd>,
    seq: u32,
}

impl<'a, W: Write> Walker<'a, W> {
    pub fn new(root: OwnedFd, opts: WalkOptions, ctx: Context, archive: &'a mut ArchiveWriter<W>) -> Self {
        Walker {
            root,
            opts,
            ctx,
            tables: Tables::new(Parts::new(), None),
            archive,
            raw_bytes: 0,
            buf: Vec::with_capacity(1 << 16),
            scratch: Vec::with_capacity(1 << 12),
            exe_cache: HashMap::new(),
            netns_done: HashSet::new(),
            mntns_done: HashSet::new(),
            carved: HashSet::new(),
            done: HashSet::new(),
            home_netns: None,
            seq: 0,
        }
    }

    pub fn record(&mut self, r: &RawRecord) {
        self.scratch.clear();
        // Serialising plain data into a Vec cannot fail.
        serde_json::to_writer(&mut self.scratch, r).expect("serialise record");
        self.tables.sink.push(READS, &self.scratch);
    }

    /// Writes the table parts that filled up.
    pub fn flush_parts(&mut self) -> io::Result<()> {
        for (name, body) in self.tables.sink.take_ready() {
            self.archive.append(&name, &body)?;
        }
        Ok(())
    }

    /// Reads `name` under `dir` whole, keeps its bytes as `raw/proc/<path>` and records the read.
    pub fn read_file(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &str,
        path: String,
        tag: Tag,
    ) -> io::Result<(RawResult, bool)> {
        let mut rec = RawRecord::new(RawOp::Read, path);
        tag.apply(&mut rec);
        let out = match read_whole(dir, name, &mut self.buf) {
            Ok(truncated) => {
                rec.size = Some(self.buf.len() as u64);
                rec.truncated = truncated;
                self.archive.append_indexed(&format!("raw/proc/{}", rec.path), &self.buf)?;
                self.raw_bytes += self.buf.len() as u64;
                (Ok(self.buf.clone()), truncated)
            }
            Err(e) => (Err(failed(&mut rec, e)), false),
        };
        self.record(&rec);
        Ok(out)
    }

    /// Reads a link (`self` at the proc root) and records its target.
    pub fn read_link(&mut self, dir: BorrowedFd<'_>, name: &str, path: String) -> RawResult {
        let mut rec = RawRecord::new(RawOp::Readlink, path);
        let out = match rustix::fs::readlinkat(dir, name, Vec::new()) {
            Ok(t) => {
                let t = t.into_bytes();
                rec.target = Some(t.clone().into());
                Ok(t)
            }
            Err(e) => Err(failed(&mut rec, e)),
        };
        self.record(&rec);
        out
    }

    /// Lists the numeric entries (pids) of directory `name` under `dir` and records the listing.
    pub fn list_numeric(&mut self, dir: BorrowedFd<'_>, name: &str, path: String) -> Result<Vec<u32>, ErrorKind> {
        let mut rec = RawRecord::new(RawOp::Listdir, path);
        let out = match numeric_entries(dir, name) {
            Ok((v, _)) => {
                rec.entries = Some(v.iter().map(|n| n.to_string()).collect());
                Ok(v)
            }
            Err(e) => Err(failed(&mut rec, e)),
        };
        self.record(&rec);
        out
    }

    /// Walks one process: its files, links, executable and fds, then its namespaces' socket
    /// tables and mounts when first seen.
    pub fn process(&mut self, pid: u32) -> io::Result<()> {
        if !self.done.insert(pid) {
            return Ok(());
        }
        let mut rec = RawRecord::new(RawOp::Opendir, pid.to_string());
        let dirfd = match rustix::fs::openat(
            &self.root,
            pid.to_string(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => {
                self.record(&rec);
                fd
            }
            Err(e) => {
                rec.error = Some(ErrorKind::Vanished);
                rec.errno = Some(e.raw_os_error());
                self.record(&rec);
                self.tables.add_error(Some(pid), pid.to_string(), ErrorKind::Vanished, None);
                return Ok(());
            }
        };
        let dir = dirfd.as_fd();
        let mut p = Pending { raw: RawProcess { pid, ..Default::default() }, ..Default::default() };
        for name in PROCESS_FILES {
            if name == "environ" && self.opts.no_environ {
                continue;
            }
            let (r, truncated) = self.read_file(dir, name, format!("{pid}/{name}"), Tag::None)?;
            if truncated {
                p.raw.truncated.insert(name.to_string());
            }
            p.raw.files.insert(name.to_string(), r);
        }

        // exe, cwd, root and the namespaces: one record.
        let mut links = Vec::with_capacity(PROCESS_LINKS.len() + curtain_model::NAMESPACE_NAMES.len());
        let ns_names = curtain_model::NAMESPACE_NAMES.iter().map(|n| format!("ns/{n}"));
        for name in PROCESS_LINKS.iter().map(|s| s.to_string()).chain(ns_names) {
            links.push(link_at(dir, name));
        }
        let mut rec = RawRecord::new(RawOp::Links, pid.to_string());
        rec.links = Some(links);
        self.record(&rec);
        // Recorded: the targets move into the process's reads, uncopied.
        for l in rec.links.take().unwrap_or_default() {
            p.raw.links.insert(l.name.clone(), link_result(l));
        }

        if p.raw.links.get("exe").is_some_and(|r| r.is_ok()) {
            p.raw.exe = Some(self.exe(dir, pid));
        }
        p.raw.fds = Some(self.fds(dir, pid));

        // Socket tables and mounts: once per namespace, through this process.
        let ns_of = |raw: &RawProcess, name: &str| -> Option<u64> {
            raw.links.get(name)?.as_ref().ok().and_then(|t| curtain_parse::proc::parse_ns_link(t))
        };
        if let Some(netns) = ns_of(&p.raw, "ns/net") {
            if !self.netns_done.contains(&netns) {
                let mut gone = false;
                let dumped = self.netlink_tables(dir, pid, netns, &mut p)?;
                for proto in Proto::ALL.into_iter().filter(|t| !dumped.contains(t)) {
                    let name = format!("net/{}", proto.table());
                    let (r, _) = self.read_file(dir, &name, format!("{pid}/{name}"), Tag::Net(netns))?;
                    gone |= matches!(r, Err(ErrorKind::ESRCH));
                    p.net.push((netns, proto, r, false));
                }
                if !gone {
                    self.netns_done.insert(netns);
                }
            }
        }
        if let Some(mntns) = ns_of(&p.raw, "ns/mnt") {
            if !self.mntns_done.contains(&mntns) {
                let (r, _) = self.read_file(dir, "mountinfo", format!("{pid}/mountinfo"), Tag::Mnt(mntns))?;
                if !matches!(r, Err(ErrorKind::ESRCH)) {
                    self.mntns_done.insert(mntns);
                }
                p.mnt = Some((mntns, r));
            }
        }
        // The same calls in the same order as `reparse` makes them.
        p.flush(&mut self.tables, &self.ctx);
        self.flush_parts()
    }

    /// Dumps the namespace's tcp, udp and unix tables through netlink sock_diag when the
    /// collector may enter the namespace; returns the tables it got (the rest are read from /proc).
    fn netlink_tables(&mut self, dir: BorrowedFd<'_>, pid: u32, netns: u64, p: &mut Pending) -> io::Result<Vec<Proto>> {
        let Some(home) = &self.home_netns else { return Ok(Vec::new()) };
        let sock = rustix::fs::openat(dir, "ns/net", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .and_then(|f| crate::netlink::socket_in(f.as_fd(), home.as_fd()));
        let sock = match sock {
            Ok(s) => s,
            Err(Errno::PERM) | Err(Errno::ACCESS) => {
                // Not allowed to enter namespaces: /proc for every namespace from now on.
                self.home_netns = None;
                return Ok(Vec::new());
            }
            Err(_) => return Ok(Vec::new()),
        };
        let mut got = Vec::new();
        for proto in crate::netlink::DIAG_TABLES {
            self.seq += 1;
            let mut rec = RawRecord::new(RawOp::Netlink, format!("{pid}/net/{}", proto.table()));
            rec.netns = Some(netns);
            match crate::netlink::dump(&sock, proto, self.seq) {
                Ok(bytes) => {
                    rec.size = Some(bytes.len() as u64);
                    self.archive.append_indexed(&curtain_parse::replay::netlink_member(netns, proto), &bytes)?;
                    self.raw_bytes += bytes.len() as u64;
                    p.net.push((netns, proto, Ok(bytes), true));
                    got.push(proto);
                }
                // Not served here (no IPv6, an old kernel): the /proc table stands in, and this
                // attempt stays in the log.
                Err(e) => {
                    failed(&mut rec, e);
                }
            }
            self.record(&rec);
        }
        Ok(got)
    }

    /// Lists fd/ and reads each link, one readlinkat per descriptor: one record.
    fn fds(&mut self, dir: BorrowedFd<'_>, pid: u32) -> Result<Vec<(u32, RawResult)>, ErrorKind> {
        let mut rec = RawRecord::new(RawOp::Fds, format!("{pid}/fd"));
        let out = match numeric_entries(dir, "fd") {
            Ok((entries, fd_dir)) => {
                rec.links = Some(entries.iter().map(|fd| link_at(fd_dir.as_fd(), fd.to_string())).collect());
                Ok(entries)
            }
            Err(e) => Err(failed(&mut rec, e)),
        };
        self.record(&rec);
        // Recorded: the targets move into the process's reads, uncopied.
        let links = rec.links.take().unwrap_or_default();
        out.map(|entries| entries.into_iter().zip(links).map(|(fd, l)| (fd, link_result(l))).collect())
    }

    /// statx of the file behind /proc/PID/exe (the file itself, even deleted or memfd); it is
    /// opened and hashed only the first time that file is seen, and carved when asked.
    fn exe(&mut self, dir: BorrowedFd<'_>, pid: u32) -> Result<ExeStat, ErrorKind> {
        let mut rec = RawRecord::new(RawOp::Exe, format!("{pid}/exe"));
        let out = self.exe_inner(dir);
        match &out {
            Ok(st) => rec.exe = Some(st.clone()),
            Err((k, errno)) => {
                rec.error = Some(*k);
                rec.errno = *errno;
            }
        }
        self.record(&rec);
        out.map_err(|(k, _)| k)
    }

    fn exe_inner(&mut self, dir: BorrowedFd<'_>) -> Result<ExeStat, (ErrorKind, Option<i32>)> {
        let fail = |e: Errno| (errno_kind(e), Some(e.raw_os_error()));
        let want = StatxFlags::TYPE
            | StatxFlags::INO
            | StatxFlags::NLINK
            | StatxFlags::SIZE
            | StatxFlags::MTIME
            | StatxFlags::CTIME;
        let st = rustix::fs::statx(dir, "exe", AtFlags::empty(), want).map_err(fail)?;
        let dev = rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor);
        let key: FileKey = (
            dev,
            st.stx_ino,
            st.stx_size,
            st.stx_mtime.tv_sec,
            st.stx_mtime.tv_nsec,
            st.stx_ctime.tv_sec,
            st.stx_ctime.tv_nsec,
        );
        let mut exe = ExeStat {
            dev,
            inode: st.stx_ino,
            nlink: st.stx_nlink as u64,
            size: st.stx_size,
            mtime: st.stx_mtime.tv_sec,
            ..Default::default()
        };
        if let Some(known) = self.exe_cache.get(&key) {
            exe.sha256 = known.sha256.clone();
            exe.carved = known.carved.clone();
            exe.carved_truncated = known.carved_truncated;
            return Ok(exe);
        }
        // O_NOATIME: reading the binary must not touch its access time (allowed to the file's
        // owner or with CAP_FOWNER; otherwise open without it).
        let fd = rustix::fs::openat(dir, "exe", OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOATIME, Mode::empty())
            .or_else(|e| {
                if e == Errno::PERM {
                    rustix::fs::openat(dir, "exe", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                } else {
                    Err(e)
                }
            })
            .map_err(fail)?;
        let cap = self.opts.carve_exe.map(|c| c as usize);
        let mut hasher = Sha256::new();
        let mut carve: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            match rustix::io::read(&fd, &mut chunk[..]) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&chunk[..n]);
                    if let Some(cap) = cap {
                        let room = cap.saturating_sub(carve.len());
                        carve.extend_from_slice(&chunk[..n.min(room)]);
                    }
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(fail(e)),
            }
        }
        let digest = to_hex(&hasher.finalize());
        if let Some(cap) = cap {
            let member = format!("files/{digest}");
            if self.carved.insert(digest.clone()) {
                self.archive.append(&member, &carve).map_err(|_| (ErrorKind::Other, None))?;
            }
            exe.carved = Some(member);
            exe.carved_truncated = exe.size > cap as u64;
        }
        exe.sha256 = Some(digest);
        self.exe_cache.insert(key, exe.clone());
        Ok(exe)
    }
}

/// One readlinkat, as a record entry.
fn link_at(dir: BorrowedFd<'_>, name: String) -> LinkRead {
    match rustix::fs::readlinkat(dir, name.as_str(), Vec::new()) {
        Ok(t) => LinkRead { name, target: Some(t.into_bytes().into()), error: None, errno: None },
        Err(e) => LinkRead { name, target: None, error: Some(errno_kind(e)), errno: Some(e.raw_os_error()) },
    }
}

/// The numeric names in directory `name` under `dir`, sorted, with the directory's fd.
fn numeric_entries(dir: BorrowedFd<'_>, name: &str) -> Result<(Vec<u32>, OwnedFd), Errno> {
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut d = rustix::fs::Dir::read_from(&fd)?;
    let mut v = Vec::new();
    while let Some(e) = d.read() {
        let e = e?;
        if let Some(n) = e.file_name().to_str().ok().and_then(|s| s.parse::<u32>().ok()) {
            v.push(n);
        }
    }
    v.sort_unstable();
    Ok((v, fd))
}

/// What a namespace-level read is for.
#[derive(Clone, Copy)]
pub enum Tag {
    None,
    Net(u64),
    Mnt(u64),
}

impl Tag {
    fn apply(self, r: &mut RawRecord) {
        match self {
            Tag::None => {}
            Tag::Net(n) => r.netns = Some(n),
            Tag::Mnt(n) => r.mntns = Some(n),
        }
    }
}

/// Reads a whole file into `buf` (cleared first), at most [`MAX_FILE`] bytes. Returns whether
/// it was cut.
pub fn read_whole(dir: BorrowedFd<'_>, name: &str, buf: &mut Vec<u8>) -> Result<bool, Errno> {
    buf.clear();
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())?;
    loop {
        if buf.len() >= MAX_FILE {
            let mut probe = [0u8; 1];
            return match rustix::io::read(&fd, &mut probe[..]) {
                Ok(0) => Ok(false),
                _ => Ok(true),
            };
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(buf.capacity().max(4096));
        }
        let room = MAX_FILE - buf.len();
        let spare = buf.spare_capacity_mut();
        let want = spare.len().min(room);
        match rustix::io::read(&fd, &mut spare[..want]) {
            Ok(([], _)) => return Ok(false),
            Ok((filled, _)) => {
                let n = filled.len();
                // SAFETY: `read` initialised the first `n` bytes of the spare capacity.
                unsafe { buf.set_len(buf.len() + n) };
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}
