//! The walk over a proc tree: one dirfd per process, each file read once, every read recorded.
//!
//! Reads go through `openat`/`readlinkat` on the process's directory fd rather than through
//! procfs (the crate), whose `Process` API re-resolves paths and costs several syscalls per fd
//! where one `readlinkat` does. Holding the dirfd also pins the process: once it exits, every
//! later read fails with ESRCH instead of silently reading a new process that reused the pid, so
//! each read re-checks it.
//!
//! A [`Reader`] turns one process into a [`Bundle`]: its records in reading order, each with the
//! bytes it read and their SHA-256. Readers share only a [`Shared`] (the proc root, the hashes of
//! executables seen, the namespaces whose tables are taken), so several can walk at once, each on
//! its own thread, while one writer puts their bundles in the archive in pid order
//! ([`crate::pipeline`]).

use curtain_model::{to_hex, ErrorKind, ExeStat, LinkRead, Proto, RawOp, RawRecord};
use curtain_parse::tables::{PROCESS_FILES, PROCESS_LINKS};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use rustix::io::Errno;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};

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

/// Records a failed access in `rec`.
fn failed(rec: &mut RawRecord, e: Errno) {
    rec.error = Some(errno_kind(e));
    rec.errno = Some(e.raw_os_error());
}

/// Options of the walk.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    pub no_environ: bool,
    pub carve_exe: Option<u64>,
}

/// One record of the read log with the bytes it read (for the member
/// [`curtain_parse::replay::member_of`] names) and their SHA-256.
pub struct Item {
    pub rec: RawRecord,
    pub bytes: Option<Vec<u8>>,
    pub sha256: Option<[u8; 32]>,
}

impl Item {
    fn bare(rec: RawRecord) -> Item {
        Item { rec, bytes: None, sha256: None }
    }
    fn read(rec: RawRecord, bytes: Vec<u8>) -> Item {
        let sha = Sha256::digest(&bytes).into();
        Item { rec, bytes: Some(bytes), sha256: Some(sha) }
    }
    /// The bytes read, or why there are none.
    pub fn result(&self) -> Result<&[u8], ErrorKind> {
        match (&self.bytes, self.rec.error) {
            (Some(b), None) => Ok(b),
            (_, Some(k)) => Err(k),
            (None, None) => Err(ErrorKind::Other),
        }
    }
}

/// What walking one process gave.
pub struct Bundle {
    pub pid: u32,
    /// Its `opendir` first, then every read in order.
    pub items: Vec<Item>,
    /// An executable carved by this walk (`files/<sha256>`, its bytes).
    pub carved: Option<(String, Vec<u8>)>,
}

impl Bundle {
    /// Bytes it holds (read, carved).
    pub fn bytes(&self) -> usize {
        self.items.iter().filter_map(|i| i.bytes.as_ref()).map(Vec::len).sum::<usize>()
            + self.carved.as_ref().map_or(0, |(_, c)| c.len())
    }
}

/// Identity of an executable file for hashing it once: (dev, inode, size, mtime, ctime).
type FileKey = (u64, u64, u64, i64, u32, i64, u32);

/// What the readers of one collection share.
pub struct Shared {
    pub root: OwnedFd,
    pub opts: WalkOptions,
    exes: Mutex<HashMap<FileKey, ExeStat>>,
    /// Namespaces whose tables are taken: (kind, inode) -> read (true) or being read (false).
    claims: Mutex<HashMap<(NsKind, u64), bool>>,
    settled: Condvar,
    /// The collector's own network namespace, to come back to after opening a sock_diag socket
    /// in another; `None` when not reading the live /proc.
    home_netns: Option<OwnedFd>,
    /// Its inode: the id of the collector's own network namespace.
    home_ino: Option<u64>,
    /// Cleared on the first EPERM entering a namespace: /proc tables from then on.
    may_enter: AtomicBool,
    seq: AtomicU32,
}

impl Shared {
    pub fn new(root: OwnedFd, opts: WalkOptions, home_netns: Option<OwnedFd>) -> Self {
        let home_ino = home_netns.as_ref().and_then(|f| rustix::fs::fstat(f).ok()).map(|st| st.st_ino);
        Shared {
            home_ino,
            root,
            opts,
            exes: Mutex::default(),
            claims: Mutex::default(),
            settled: Condvar::new(),
            home_netns,
            may_enter: AtomicBool::new(true),
            seq: AtomicU32::new(0),
        }
    }
}

/// Which tables of a namespace: a network namespace's sockets, a mount namespace's mounts.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum NsKind {
    Net,
    Mnt,
}

impl Shared {
    /// Takes a namespace's tables for this process. False when they were read through another;
    /// while another is reading them, waits for its outcome (a reader holds at most one claim and
    /// never waits while holding it, so no two wait on each other).
    fn claim(&self, kind: NsKind, ns: u64) -> bool {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match claims.get(&(kind, ns)) {
                None => {
                    claims.insert((kind, ns), false);
                    return true;
                }
                Some(true) => return false,
                Some(false) => claims = self.settled.wait(claims).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }

    /// Ends a claim: read, or given back for the next process of the namespace (nothing could be
    /// read through this one: it exited, as ESRCH, ENOENT or EINVAL say).
    fn settle(&self, kind: NsKind, ns: u64, read: bool) {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if read {
            claims.insert((kind, ns), true);
        } else {
            claims.remove(&(kind, ns));
        }
        drop(claims);
        self.settled.notify_all();
    }
}

/// One thread's walker: its buffers, reused for every process.
pub struct Reader<'s> {
    pub shared: &'s Shared,
    buf: Vec<u8>,
    dirbuf: Vec<MaybeUninit<u8>>,
    linkbuf: Vec<MaybeUninit<u8>>,
}

/// Files the kernel renders whole on the first `read` (single_open seq files) or copies until
/// the count or the end (cmdline, environ): a short first read is the end of the file, and the
/// `read` that would return 0 is skipped. maps, mountinfo and the net tables come a page of
/// records at a time and are read until 0.
fn whole_at_once(name: &str) -> bool {
    matches!(name, "stat" | "status" | "cmdline" | "environ" | "cgroup")
}

impl<'s> Reader<'s> {
    pub fn new(shared: &'s Shared) -> Self {
        Reader {
            shared,
            buf: Vec::with_capacity(1 << 16),
            dirbuf: vec![MaybeUninit::uninit(); 32 << 10],
            linkbuf: vec![MaybeUninit::uninit(); 4096 + 1],
        }
    }

    /// Reads `name` under `dir` whole, as the record `path`.
    pub fn read_file(&mut self, dir: BorrowedFd<'_>, name: &str, path: String, tag: Tag) -> Item {
        let mut rec = RawRecord::new(RawOp::Read, path);
        tag.apply(&mut rec);
        match read_whole(dir, name, &mut self.buf, whole_at_once(name)) {
            Ok(truncated) => {
                rec.size = Some(self.buf.len() as u64);
                rec.truncated = truncated;
                let item = Item::read(rec, self.buf.to_vec());
                if self.buf.capacity() > 1 << 20 {
                    // A huge maps made it big: not kept for the rest.
                    self.buf = Vec::with_capacity(1 << 16);
                }
                item
            }
            Err(e) => {
                failed(&mut rec, e);
                Item::bare(rec)
            }
        }
    }

    /// Lists the numeric entries (pids) of directory `name` under `dir`.
    pub fn list_numeric(&mut self, dir: BorrowedFd<'_>, name: &str, path: String) -> (Item, Vec<u32>) {
        let mut rec = RawRecord::new(RawOp::Listdir, path);
        let mut out = Vec::new();
        match self.numeric_entries(dir, name) {
            Ok((v, _)) => {
                rec.entries = Some(v.iter().map(|n| n.to_string()).collect());
                out = v;
            }
            Err(e) => failed(&mut rec, e),
        }
        (Item::bare(rec), out)
    }

    /// One readlinkat into the reused buffer; a target longer than it (beyond PATH_MAX, which
    /// /proc does not make) is read again with a growing one.
    fn link(&mut self, dir: BorrowedFd<'_>, name: &str) -> Result<Vec<u8>, Errno> {
        let cap = self.linkbuf.len();
        let (got, _) = rustix::fs::readlinkat_raw(dir, name, &mut self.linkbuf[..])?;
        if got.len() < cap {
            return Ok(got.to_vec());
        }
        rustix::fs::readlinkat(dir, name, Vec::new()).map(|c| c.into_bytes())
    }

    fn link_read(&mut self, dir: BorrowedFd<'_>, name: String) -> LinkRead {
        match self.link(dir, &name) {
            Ok(t) => LinkRead { name, target: Some(t.into()), error: None, errno: None },
            Err(e) => LinkRead { name, target: None, error: Some(errno_kind(e)), errno: Some(e.raw_os_error()) },
        }
    }

    /// The numeric names in directory `name` under `dir`, sorted, with the directory's fd.
    /// getdents64 straight into the reused buffer: no second open of the directory.
    fn numeric_entries(&mut self, dir: BorrowedFd<'_>, name: &str) -> Result<(Vec<u32>, OwnedFd), Errno> {
        let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let mut v = Vec::new();
        let mut d = rustix::fs::RawDir::new(&fd, &mut self.dirbuf[..]);
        while let Some(e) = d.next() {
            let e = e?;
            if let Some(n) = e.file_name().to_str().ok().and_then(|s| s.parse::<u32>().ok()) {
                v.push(n);
            }
        }
        v.sort_unstable();
        Ok((v, fd))
    }

    /// Walks one process: its files, links, executable and fds, then its namespaces' socket
    /// tables and mounts when no other process has taken them.
    pub fn process(&mut self, pid: u32) -> Bundle {
        let mut b = Bundle { pid, items: Vec::with_capacity(16), carved: None };
        let mut rec = RawRecord::new(RawOp::Opendir, pid.to_string());
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dirfd = match rustix::fs::openat(&self.shared.root, pid.to_string(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) => {
                rec.error = Some(ErrorKind::Vanished);
                rec.errno = Some(e.raw_os_error());
                b.items.push(Item::bare(rec));
                return b;
            }
        };
        b.items.push(Item::bare(rec));
        let dir = dirfd.as_fd();
        for name in PROCESS_FILES {
            if name == "environ" && self.shared.opts.no_environ {
                continue;
            }
            let item = self.read_file(dir, name, format!("{pid}/{name}"), Tag::None);
            b.items.push(item);
        }

        // exe, cwd, root and the namespaces: one record.
        let mut links = Vec::with_capacity(PROCESS_LINKS.len() + curtain_model::NAMESPACE_NAMES.len());
        let ns_names = curtain_model::NAMESPACE_NAMES.iter().map(|n| format!("ns/{n}"));
        for name in PROCESS_LINKS.iter().map(|s| s.to_string()).chain(ns_names) {
            links.push(self.link_read(dir, name));
        }
        let ns_of = |name: &str| -> Option<u64> {
            let t = links.iter().find(|l| l.name == name)?.target.as_ref()?;
            curtain_parse::proc::parse_ns_link(&t.0)
        };
        let (netns, mntns) = (ns_of("ns/net"), ns_of("ns/mnt"));
        let exe_ok = links.first().is_some_and(|l| l.name == "exe" && l.target.is_some());
        let mut rec = RawRecord::new(RawOp::Links, pid.to_string());
        rec.links = Some(links);
        b.items.push(Item::bare(rec));

        if exe_ok {
            let item = self.exe(dir, pid, &mut b.carved);
            b.items.push(item);
        }
        let item = self.fds(dir, pid);
        b.items.push(item);

        // Socket tables and mounts: once per namespace, through the first process that takes it.
        if let Some(netns) = netns.filter(|n| self.shared.claim(NsKind::Net, *n)) {
            let mut items = Vec::new();
            let dumped = self.netlink_tables(dir, pid, netns, &mut items);
            for proto in Proto::ALL.into_iter().filter(|t| !dumped.contains(t)) {
                let name = format!("net/{}", proto.table());
                items.push(self.read_file(dir, &name, format!("{pid}/{name}"), Tag::Net(netns)));
            }
            // Given back only when no table came, so that none is in the archive twice; the
            // failed reads stay in the log.
            let read = items.iter().any(|i| i.bytes.is_some());
            self.shared.settle(NsKind::Net, netns, read);
            b.items.append(&mut items);
        }
        if let Some(mntns) = mntns.filter(|n| self.shared.claim(NsKind::Mnt, *n)) {
            let item = self.read_file(dir, "mountinfo", format!("{pid}/mountinfo"), Tag::Mnt(mntns));
            self.shared.settle(NsKind::Mnt, mntns, item.bytes.is_some());
            b.items.push(item);
        }
        b
    }

    /// Dumps the namespace's tcp, udp and unix tables through netlink sock_diag when the
    /// collector may enter the namespace; returns the tables it got (the rest are read from /proc).
    fn netlink_tables(&mut self, dir: BorrowedFd<'_>, pid: u32, netns: u64, items: &mut Vec<Item>) -> Vec<Proto> {
        let s = self.shared;
        let Some(home) = s.home_netns.as_ref() else { return Vec::new() };
        let here = s.home_ino == Some(netns);
        let sock = if here {
            crate::netlink::socket_here()
        } else if s.may_enter.load(Ordering::Relaxed) {
            // setns moves only this thread; the socket stays in the namespace it was made in.
            rustix::fs::openat(dir, "ns/net", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .and_then(|f| crate::netlink::socket_in(f.as_fd(), home.as_fd()))
        } else {
            return Vec::new();
        };
        let sock = match sock {
            Ok(sock) => sock,
            Err(Errno::PERM) | Err(Errno::ACCESS) if !here => {
                // Not allowed to enter namespaces: /proc for every namespace from now on.
                s.may_enter.store(false, Ordering::Relaxed);
                return Vec::new();
            }
            Err(_) => return Vec::new(),
        };
        let mut got = Vec::new();
        for proto in crate::netlink::DIAG_TABLES {
            let seq = s.seq.fetch_add(1, Ordering::Relaxed) + 1;
            let mut rec = RawRecord::new(RawOp::Netlink, format!("{pid}/net/{}", proto.table()));
            rec.netns = Some(netns);
            match crate::netlink::dump(&sock, proto, seq) {
                Ok(bytes) => {
                    rec.size = Some(bytes.len() as u64);
                    items.push(Item::read(rec, bytes));
                    got.push(proto);
                }
                // Not served here (no IPv6, an old kernel): the /proc table stands in, and this
                // attempt stays in the log.
                Err(e) => {
                    failed(&mut rec, e);
                    items.push(Item::bare(rec));
                }
            }
        }
        got
    }

    /// Lists fd/ and reads each link, one readlinkat per descriptor: one record.
    fn fds(&mut self, dir: BorrowedFd<'_>, pid: u32) -> Item {
        let mut rec = RawRecord::new(RawOp::Fds, format!("{pid}/fd"));
        match self.numeric_entries(dir, "fd") {
            Ok((entries, fd_dir)) => {
                let links = entries.iter().map(|fd| self.link_read(fd_dir.as_fd(), fd.to_string())).collect();
                rec.links = Some(links);
            }
            Err(e) => failed(&mut rec, e),
        }
        Item::bare(rec)
    }

    /// statx of the file behind /proc/PID/exe (the file itself, even deleted or memfd); it is
    /// opened and hashed only the first time that file is seen, and carved when asked.
    fn exe(&mut self, dir: BorrowedFd<'_>, pid: u32, carved: &mut Option<(String, Vec<u8>)>) -> Item {
        let mut rec = RawRecord::new(RawOp::Exe, format!("{pid}/exe"));
        match self.exe_inner(dir, carved) {
            Ok(st) => rec.exe = Some(st),
            Err(e) => failed(&mut rec, e),
        }
        Item::bare(rec)
    }

    fn exe_inner(&mut self, dir: BorrowedFd<'_>, carved: &mut Option<(String, Vec<u8>)>) -> Result<ExeStat, Errno> {
        let want = StatxFlags::TYPE
            | StatxFlags::INO
            | StatxFlags::NLINK
            | StatxFlags::SIZE
            | StatxFlags::MTIME
            | StatxFlags::CTIME;
        let st = rustix::fs::statx(dir, "exe", AtFlags::empty(), want)?;
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
        if let Some(known) = self.shared.exes.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
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
            })?;
        let cap = self.shared.opts.carve_exe.map(|c| c as usize);
        let mut hasher = Sha256::new();
        let mut carve: Vec<u8> = Vec::new();
        self.buf.clear();
        self.buf.resize(1 << 16, 0);
        loop {
            match rustix::io::read(&fd, &mut self.buf[..]) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&self.buf[..n]);
                    if let Some(cap) = cap {
                        let room = cap.saturating_sub(carve.len());
                        carve.extend_from_slice(&self.buf[..n.min(room)]);
                    }
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e),
            }
        }
        let digest = to_hex(&hasher.finalize());
        if let Some(cap) = cap {
            let member = format!("files/{digest}");
            exe.carved = Some(member.clone());
            exe.carved_truncated = exe.size > cap as u64;
            *carved = Some((member, carve));
        }
        exe.sha256 = Some(digest);
        self.shared.exes.lock().unwrap_or_else(|e| e.into_inner()).insert(key, exe.clone());
        Ok(exe)
    }
}

/// Reads one link (`self` at the proc root) as a record of its own.
pub fn read_link(dir: BorrowedFd<'_>, name: &str, path: String) -> Item {
    let mut rec = RawRecord::new(RawOp::Readlink, path);
    match rustix::fs::readlinkat(dir, name, Vec::new()) {
        Ok(t) => rec.target = Some(t.into_bytes().into()),
        Err(e) => failed(&mut rec, e),
    }
    Item::bare(rec)
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

/// Reads a whole file into `buf` (cleared first), at most [`MAX_FILE`] bytes. With `at_once`
/// (see [`whole_at_once`]) a read that fills less than asked ends it. Returns whether it was cut.
pub fn read_whole(dir: BorrowedFd<'_>, name: &str, buf: &mut Vec<u8>, at_once: bool) -> Result<bool, Errno> {
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
                if at_once && n < want {
                    return Ok(false);
                }
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}
