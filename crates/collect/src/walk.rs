//! The walk over a proc tree: one dirfd per process, each file read once, every read recorded.
//!
//! Reads go through `openat`/`readlinkat` on the process's directory fd rather than through
//! procfs (the crate), whose `Process` API re-resolves paths and costs several syscalls per fd
//! where one `readlinkat` does. Holding the dirfd also pins the process: once it exits, every
//! later read fails with ESRCH instead of silently reading a new process that reused the pid, so
//! each read re-checks it.
//!
//! A [`Reader`] turns one process into a [`Bundle`]: its reads in order, every byte they gave in
//! one buffer (a few allocations per process, not a few per file; the socket dumps of its
//! namespace, when it is the one they are read through, in another that the tables keep), and
//! the SHA-256 of each file.
//! Readers share only a [`Shared`] (the proc root, the hashes of executables seen, the
//! namespaces whose tables are taken), so several can walk at once, each on its own thread,
//! while one writer puts their bundles in the archive in pid order ([`crate::pipeline`]).
//!
//! A proc root that is not a live procfs ([`ProcRootKind::Copied`]: another tool's collection,
//! an upload) is data that anyone may have shaped, read without trusting it: no symbolic link is
//! followed (a link where a file or a directory was expected is recorded with its target, as a
//! `readlink` record), only regular files are opened for reading (a FIFO planted as `environ`
//! would block the walk, a device could act), and no executable is hashed through `exe` (in a
//! copy, the file it names is on the examiner's machine). See [`open_copied`].

use curtain_model::{to_hex, ErrorKind, ExeStat, ProcRootKind, Proto, RawOp, RawRecord};
use curtain_tables::record::{Failure, LinkName, LinkRef, RecordRef};
use curtain_tables::row::REPEAT_MAX;
use curtain_tables::{ProcFile, LINK_NAMES};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, StatxFlags};
use rustix::io::Errno;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};

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

fn failure(e: Errno) -> Failure {
    Failure::new(errno_kind(e), e.raw_os_error())
}

/// What a proc root is: a live procfs (by the magic number of its filesystem), or a copy.
pub fn root_kind(root: BorrowedFd<'_>) -> ProcRootKind {
    match rustix::fs::fstatfs(root) {
        Ok(st) if st.f_type == rustix::fs::PROC_SUPER_MAGIC => ProcRootKind::Procfs,
        _ => ProcRootKind::Copied,
    }
}

/// Why a path of a copied tree was not opened.
pub struct Refusal {
    pub failure: Failure,
    /// The symbolic link found where the path was expected, as an `O_PATH` descriptor of the
    /// link itself: its target is read through it, never what it names.
    pub link: Option<OwnedFd>,
}

impl From<Errno> for Refusal {
    fn from(e: Errno) -> Self {
        Refusal { failure: failure(e), link: None }
    }
}

fn not_followed(errno: Option<Errno>) -> Refusal {
    Refusal { failure: Failure { kind: ErrorKind::NotFollowed, errno: errno.map(|e| e.raw_os_error()) }, link: None }
}

fn not_regular() -> Refusal {
    Refusal { failure: Failure { kind: ErrorKind::NotRegular, errno: None }, link: None }
}

/// Set when `openat2` is not served (a kernel before 5.6, a seccomp filter that refuses it):
/// [`walk_beneath`] from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `name` (one of the collector's own relative paths: `stat`, `fd`, `net/tcp`) under `dir`
/// without following a symbolic link on the way or at the end, and without leaving `dir`.
fn beneath(dir: BorrowedFd<'_>, name: &str, flags: OFlags) -> Result<OwnedFd, Refusal> {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::BENEATH;
        match rustix::fs::openat2(dir, name, flags | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            // A link on the way (or at the end, for an open that is not O_PATH).
            Err(e @ (Errno::LOOP | Errno::XDEV)) => return Err(not_followed(Some(e))),
            Err(Errno::NOSYS | Errno::PERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
            Err(e) => return Err(e.into()),
        }
    }
    walk_beneath(dir, name, flags)
}

/// [`beneath`] without `openat2`: each directory on the way opened as a path with O_NOFOLLOW
/// and checked to be a directory before the next name is looked up in it.
fn walk_beneath(dir: BorrowedFd<'_>, name: &str, flags: OFlags) -> Result<OwnedFd, Refusal> {
    let mut parts = name.split('/');
    let last = parts.next_back().unwrap_or_default();
    let mut held: Option<OwnedFd> = None;
    for part in parts {
        if matches!(part, "" | "." | "..") {
            return Err(not_followed(None));
        }
        let at = held.as_ref().map_or(dir, |f| f.as_fd());
        let fd = rustix::fs::openat(at, part, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        match FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) {
            FileType::Directory => held = Some(fd),
            FileType::Symlink => return Err(not_followed(Some(Errno::LOOP))),
            _ => return Err(Errno::NOTDIR.into()),
        }
    }
    if matches!(last, "" | "..") {
        return Err(not_followed(None));
    }
    let at = held.as_ref().map_or(dir, |f| f.as_fd());
    match rustix::fs::openat(at, last, flags | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(Errno::LOOP) => Err(not_followed(Some(Errno::LOOP))),
        Err(e) => Err(e.into()),
    }
}

/// Opens `name` under `dir` of a copied tree: a regular file for reading, or (`want_dir`) a
/// directory as a path to look names up in. The path is first opened as itself (`O_PATH`, which
/// opens nothing: no FIFO waits, no device acts) and its type checked; a file is then opened
/// for reading (non-blocking) and checked again to be that same regular file, so that one
/// swapped in between is refused too.
pub fn open_copied(dir: BorrowedFd<'_>, name: &str, want_dir: bool) -> Result<OwnedFd, Refusal> {
    let path = beneath(dir, name, OFlags::PATH)?;
    let st = rustix::fs::fstat(&path)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Symlink => Err(Refusal { link: Some(path), ..not_followed(None) }),
        FileType::Directory if want_dir => Ok(path),
        FileType::RegularFile if !want_dir => {
            let fd = beneath(dir, name, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)?;
            let again = rustix::fs::fstat(&fd)?;
            if FileType::from_raw_mode(again.st_mode) == FileType::RegularFile
                && (again.st_dev, again.st_ino) == (st.st_dev, st.st_ino)
            {
                Ok(fd)
            } else {
                Err(not_regular())
            }
        }
        _ => Err(not_regular()),
    }
}

/// Options of the walk.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    pub no_environ: bool,
    pub carve_exe: Option<u64>,
}

/// A read that belongs to no process (the `self` link, /proc/stat, the root listing): its
/// record, with the bytes it read and their SHA-256.
pub struct Item {
    pub rec: RawRecord,
    pub bytes: Option<Vec<u8>>,
    pub sha256: Option<[u8; 32]>,
}

impl Item {
    fn bare(rec: RawRecord) -> Item {
        Item { rec, bytes: None, sha256: None }
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

/// Bytes of a bundle's arena.
pub type Span = Range<usize>;

/// One access within a process, its bytes in the bundle's arena.
#[derive(Debug, Clone)]
pub enum Read {
    Opendir(Option<Failure>),
    /// A file under /proc/PID (`stat`, `net/raw`, `mountinfo`...).
    File {
        name: &'static str,
        got: Result<Span, Failure>,
        truncated: bool,
        sha256: [u8; 32],
        netns: Option<u64>,
        mntns: Option<u64>,
    },
    /// A socket table dumped through sock_diag.
    Netlink {
        name: &'static str,
        netns: u64,
        got: Result<Span, Failure>,
        sha256: [u8; 32],
    },
    /// exe, cwd, root, ns/*: these links of the bundle.
    Links(Range<usize>),
    /// The fds: these links of the bundle.
    Fds(Result<Range<usize>, Failure>),
    /// The file behind exe: the bundle's `exe`.
    Exe(Result<(), Failure>),
    /// A symbolic link of a copied tree where `name` (empty: the process directory) was
    /// expected: its target.
    Readlink {
        name: &'static str,
        got: Result<Span, Failure>,
    },
}

/// One link read, its target in the arena.
#[derive(Debug, Clone)]
pub struct Link {
    pub name: LinkName<'static>,
    pub got: Result<Span, Failure>,
}

/// What walking one process gave.
pub struct Bundle {
    pub pid: u32,
    /// Every byte read, files and link targets, in reading order.
    pub arena: Vec<u8>,
    /// The sock_diag dumps of the namespace whose tables were read through this process, apart
    /// from the arena: the writer hands them to the tables as they are (they are parsed at the
    /// end, once every owner is known) instead of copying a megabyte on a busy host.
    pub dumps: Option<Arc<Vec<u8>>>,
    /// Its opendir first, then every read in order.
    pub reads: Vec<Read>,
    pub links: Vec<Link>,
    pub exe: Option<ExeStat>,
    /// An executable carved by this walk (`files/<sha256>`, its bytes).
    pub carved: Option<(String, Vec<u8>)>,
}

impl Bundle {
    /// Bytes it holds (read, dumped, carved).
    pub fn bytes(&self) -> usize {
        self.arena.len() + self.dumps.as_ref().map_or(0, |d| d.len()) + self.carved.as_ref().map_or(0, |(_, c)| c.len())
    }

    /// Its links, borrowing the arena.
    pub fn link_refs(&self) -> Vec<LinkRef<'_>> {
        self.links.iter().map(|l| LinkRef { name: l.name, got: l.got.clone().map(|s| &self.arena[s]) }).collect()
    }

    /// A read as a record, with the SHA-256 of the bytes it read; `links` from
    /// [`Self::link_refs`].
    pub fn record<'a>(&'a self, r: &'a Read, links: &'a [LinkRef<'a>]) -> (RecordRef<'a>, Option<&'a [u8; 32]>) {
        let bytes = |g: &Result<Span, Failure>| g.clone().map(|s| &self.arena[s]);
        match r {
            Read::Opendir(f) => (RecordRef::Opendir(*f), None),
            Read::File { name, got, truncated, sha256, netns, mntns } => (
                RecordRef::Read { name, got: bytes(got), truncated: *truncated, netns: *netns, mntns: *mntns },
                got.is_ok().then_some(sha256),
            ),
            Read::Netlink { name, netns, got, sha256 } => {
                let got = got.clone().map(|s| self.dumps.as_ref().map_or(&[][..], |d| &d[s]));
                (RecordRef::Netlink { name, netns: *netns, got }, got.is_ok().then_some(sha256))
            }
            Read::Links(r) => (RecordRef::Links(&links[r.clone()]), None),
            Read::Fds(r) => (RecordRef::Fds(r.clone().map(|r| &links[r])), None),
            Read::Exe(r) => (
                RecordRef::Exe(match (r, &self.exe) {
                    (Ok(()), Some(e)) => Ok(e),
                    (Err(f), _) => Err(*f),
                    (Ok(()), None) => Err(Failure { kind: ErrorKind::Other, errno: None }),
                }),
                None,
            ),
            Read::Readlink { name, got } => (RecordRef::Readlink { name, got: bytes(got) }, None),
        }
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
    /// A live procfs (whose `fd/` directories tell their size, and whose links the kernel
    /// resolves), or a copy read as data.
    pub kind: ProcRootKind,
    /// When to stop handing out pids.
    pub stop: crate::stop::Stop,
}

impl Shared {
    /// `home_netns` is taken only on a live procfs.
    pub fn new(
        root: OwnedFd,
        kind: ProcRootKind,
        opts: WalkOptions,
        home_netns: Option<OwnedFd>,
        stop: crate::stop::Stop,
    ) -> Self {
        let home_netns = home_netns.filter(|_| kind == ProcRootKind::Procfs);
        let home_ino = home_netns.as_ref().and_then(|f| rustix::fs::fstat(f).ok()).map(|st| st.st_ino);
        Shared {
            kind,
            stop,
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

    /// The root is a copy: nothing in it is followed or trusted.
    pub fn copied(&self) -> bool {
        self.kind == ProcRootKind::Copied
    }

    /// Opens the file `name` under `dir` for reading: straight on a live procfs, through
    /// [`open_copied`] in a copy.
    fn open_file(&self, dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Refusal> {
        if self.copied() {
            return open_copied(dir, name, false);
        }
        Ok(rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())?)
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
    /// The arena size to start a bundle with: the last one's, within bounds.
    hint: usize,
    repeats: Repeats,
}

/// The last file read under each name that repeats from one process to the next (a parent's
/// workers share its maps, environ, cmdline and cgroup), with its digest: equal bytes take that
/// digest instead of being hashed again. Keeping and comparing a copy costs a small part of
/// hashing it.
#[derive(Default)]
struct Repeats {
    last: Vec<(&'static str, Vec<u8>, [u8; 32])>,
}

impl Repeats {
    fn digest(&mut self, name: &'static str, bytes: &[u8]) -> [u8; 32] {
        if !matches!(name, "maps" | "environ" | "cmdline" | "cgroup") || bytes.len() > REPEAT_MAX {
            return Sha256::digest(bytes).into();
        }
        let i = match self.last.iter().position(|(n, ..)| *n == name) {
            Some(i) => i,
            None => {
                self.last.push((name, Vec::new(), [0; 32]));
                self.last.len() - 1
            }
        };
        let (_, last, digest) = &mut self.last[i];
        if last.as_slice() != bytes || last.is_empty() {
            *digest = Sha256::digest(bytes).into();
            last.clear();
            last.extend_from_slice(bytes);
        }
        *digest
    }
}

/// Files the kernel renders whole on the first `read` (single_open seq files) or copies until
/// the count or the end (cmdline, environ): a short first read is the end of the file, and the
/// `read` that would return 0 is skipped. maps, mountinfo and the net tables come a page of
/// records at a time and are read until 0.
fn whole_at_once(name: &str) -> bool {
    matches!(name, "stat" | "status" | "cmdline" | "environ" | "cgroup")
}

/// `net/<table>`: a table's name under /proc/PID (`None`: `net/tcp46`, sock_diag's dump of TCP
/// over both families).
fn net_name(proto: Option<Proto>) -> &'static str {
    match proto {
        Some(Proto::Tcp) => "net/tcp",
        Some(Proto::Tcp6) => "net/tcp6",
        Some(Proto::Udp) => "net/udp",
        Some(Proto::Udp6) => "net/udp6",
        Some(Proto::Raw) => "net/raw",
        Some(Proto::Raw6) => "net/raw6",
        Some(Proto::Unix) => "net/unix",
        None => "net/tcp46",
    }
}

/// Reads `name` under `dir` whole onto the end of the bundle's arena: a [`Read::File`] (and,
/// when a copy holds a link in its place, the link's [`Read::Readlink`]).
fn file(
    shared: &Shared,
    b: &mut Bundle,
    repeats: &mut Repeats,
    dir: BorrowedFd<'_>,
    name: &'static str,
    netns: Option<u64>,
    mntns: Option<u64>,
) {
    let start = b.arena.len();
    let got = shared.open_file(dir, name).and_then(|fd| Ok(read_whole(&fd, &mut b.arena, whole_at_once(name))?));
    match got {
        Ok(truncated) => {
            let sha256 = repeats.digest(name, &b.arena[start..]);
            b.reads.push(Read::File { name, got: Ok(start..b.arena.len()), truncated, sha256, netns, mntns });
        }
        Err(r) => {
            b.arena.truncate(start);
            b.reads.push(Read::File { name, got: Err(r.failure), truncated: false, sha256: [0; 32], netns, mntns });
            refused_link(b, name, r.link);
        }
    }
}

/// The target of a link that a copied tree holds where `name` was expected, as its own read.
fn refused_link(b: &mut Bundle, name: &'static str, link_fd: Option<OwnedFd>) {
    if let Some(fd) = link_fd {
        let got = link(&mut b.arena, fd.as_fd(), "");
        b.reads.push(Read::Readlink { name, got });
    }
}

/// One readlinkat onto the end of `arena`; a target longer than PATH_MAX (which /proc does not
/// make) is read again with a growing buffer.
fn link(arena: &mut Vec<u8>, dir: BorrowedFd<'_>, name: &str) -> Result<Span, Failure> {
    const ROOM: usize = 4096 + 1;
    arena.reserve(ROOM);
    let start = arena.len();
    let room = arena.capacity() - start;
    match rustix::fs::readlinkat_raw(dir, name, rustix::buffer::spare_capacity(arena)) {
        Ok(n) if n < room => Ok(start..start + n),
        Ok(_) => {
            arena.truncate(start);
            let t = rustix::fs::readlinkat(dir, name, Vec::new()).map_err(failure)?;
            arena.extend_from_slice(t.as_bytes());
            Ok(start..arena.len())
        }
        Err(e) => Err(failure(e)),
    }
}

impl<'s> Reader<'s> {
    pub fn new(shared: &'s Shared) -> Self {
        Reader {
            shared,
            buf: Vec::new(),
            dirbuf: vec![MaybeUninit::uninit(); 32 << 10],
            hint: 16 << 10,
            repeats: Repeats::default(),
        }
    }

    /// Reads `name` under `dir` whole, as the record `path` (a read that belongs to no process).
    pub fn read_file(&mut self, dir: BorrowedFd<'_>, name: &str, path: String) -> Item {
        let mut rec = RawRecord::new(RawOp::Read, path);
        self.buf.clear();
        let got =
            self.shared.open_file(dir, name).and_then(|fd| Ok(read_whole(&fd, &mut self.buf, whole_at_once(name))?));
        match got {
            Ok(truncated) => {
                rec.size = Some(self.buf.len() as u64);
                rec.truncated = truncated;
                let bytes = self.buf.to_vec();
                let sha = Sha256::digest(&bytes).into();
                Item { rec, bytes: Some(bytes), sha256: Some(sha) }
            }
            Err(r) => {
                rec.error = Some(r.failure.kind);
                rec.errno = r.failure.errno;
                // A link in a copy's place of the file: its target is the record's.
                rec.target = r
                    .link
                    .and_then(|fd| rustix::fs::readlinkat(&fd, "", Vec::new()).ok())
                    .map(|t| t.into_bytes().into());
                Item::bare(rec)
            }
        }
    }

    /// Lists the numeric entries (pids) of directory `name` under `dir`.
    pub fn list_numeric(&mut self, dir: BorrowedFd<'_>, name: &str, path: String) -> (Item, Vec<u32>) {
        let mut rec = RawRecord::new(RawOp::Listdir, path);
        let mut out = Vec::new();
        match self.numeric_entries(dir, name) {
            Ok(v) => {
                rec.entries = Some(v.iter().map(|n| n.to_string()).collect());
                out = v;
            }
            Err(e) => failed(&mut rec, e),
        }
        (Item::bare(rec), out)
    }

    /// The numeric names in directory `name` under `dir`, sorted; getdents64 straight into the
    /// reused buffer.
    fn numeric_entries(&mut self, dir: BorrowedFd<'_>, name: &str) -> Result<Vec<u32>, Errno> {
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
        Ok(v)
    }

    /// Walks one process: its files, links, executable and fds, then its namespaces' socket
    /// tables and mounts when no other process has taken them.
    pub fn process(&mut self, pid: u32) -> Bundle {
        let mut b = Bundle {
            pid,
            arena: Vec::with_capacity(self.hint),
            dumps: None,
            reads: Vec::with_capacity(16),
            links: Vec::with_capacity(16),
            exe: None,
            carved: None,
        };
        let shared = self.shared;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut pid_buf = itoa::Buffer::new();
        let pid_name = pid_buf.format(pid);
        let opened = if shared.copied() {
            open_copied(shared.root.as_fd(), pid_name, true)
        } else {
            rustix::fs::openat(&shared.root, pid_name, flags, Mode::empty()).map_err(Refusal::from)
        };
        let dirfd = match opened {
            Ok(fd) => fd,
            Err(r) => {
                let f = match r.failure.kind {
                    ErrorKind::NotFollowed | ErrorKind::NotRegular => r.failure,
                    _ => Failure { kind: ErrorKind::Vanished, ..r.failure },
                };
                b.reads.push(Read::Opendir(Some(f)));
                refused_link(&mut b, "", r.link);
                return b;
            }
        };
        b.reads.push(Read::Opendir(None));
        let dir = dirfd.as_fd();
        for f in ProcFile::ALL {
            if f == ProcFile::Environ && shared.opts.no_environ {
                continue;
            }
            file(shared, &mut b, &mut self.repeats, dir, f.name(), None, None);
        }

        // exe, cwd, root and the namespaces: one record. The ns/ links are read relative to
        // ns/ opened as a path (no permission asked of that open): a lookup of one name in place
        // of two for each, which costs more than the open and close (docs/BENCHMARKS.md).
        let first = b.links.len();
        let ns = if shared.copied() {
            open_copied(dir, "ns", true)
        } else {
            rustix::fs::openat(dir, "ns", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                .map_err(Refusal::from)
        };
        for name in LINK_NAMES {
            let got = match (name.strip_prefix("ns/"), &ns) {
                (Some(short), Ok(ns)) => link(&mut b.arena, ns.as_fd(), short),
                // In a copy, never looked up through an `ns` that could not be opened as a
                // directory of its own (a link to anywhere): the reason is each link's.
                (Some(_), Err(r)) if shared.copied() => Err(r.failure),
                // No ns/ to open: each link says why on its own, as read from the process.
                _ => link(&mut b.arena, dir, name),
            };
            b.links.push(Link { name: LinkName::Named(name), got });
        }
        b.reads.push(Read::Links(first..b.links.len()));
        if let Err(r) = ns {
            refused_link(&mut b, "ns", r.link);
        }
        let ns_of = |b: &Bundle, name: &str| -> Option<u64> {
            let i = LINK_NAMES.iter().position(|n| *n == name)?;
            let span = b.links[first + i].got.clone().ok()?;
            curtain_parse::proc::parse_ns_link(&b.arena[span])
        };
        let (netns, mntns) = (ns_of(&b, "ns/net"), ns_of(&b, "ns/mnt"));
        if b.links[first].got.is_ok() {
            // In a copy, `exe` is a link to a path of the examiner's machine: never opened.
            let r = if shared.copied() {
                Err(Failure { kind: ErrorKind::NotFollowed, errno: None })
            } else {
                self.exe(dir, &mut b)
            };
            b.reads.push(Read::Exe(r));
        }
        self.fds(dir, &mut b);

        // Socket tables and mounts: once per namespace, through the first process that takes it.
        if let Some(netns) = netns.filter(|n| self.shared.claim(NsKind::Net, *n)) {
            let from = b.reads.len();
            let dumped = self.netlink_tables(dir, netns, &mut b);
            for proto in Proto::ALL.into_iter().filter(|t| !dumped.contains(t)) {
                file(shared, &mut b, &mut self.repeats, dir, net_name(Some(proto)), Some(netns), None);
            }
            // Given back only when no table came, so that none is in the archive twice; the
            // failed reads stay in the log.
            let read = b.reads[from..]
                .iter()
                .any(|r| matches!(r, Read::File { got: Ok(_), .. } | Read::Netlink { got: Ok(_), .. }));
            self.shared.settle(NsKind::Net, netns, read);
        }
        if let Some(mntns) = mntns.filter(|n| self.shared.claim(NsKind::Mnt, *n)) {
            file(shared, &mut b, &mut self.repeats, dir, "mountinfo", None, Some(mntns));
            let read = matches!(b.reads.last(), Some(Read::File { got: Ok(_), .. }));
            self.shared.settle(NsKind::Mnt, mntns, read);
        }
        if b.arena.capacity() > b.arena.len() + (1 << 20) {
            // A huge maps doubled the arena: what waits for the writer is what was read.
            b.arena.shrink_to_fit();
        }
        // Room for the next process to grow into without copying what it read.
        self.hint = (b.arena.len() + (8 << 10)).next_power_of_two().clamp(8 << 10, 64 << 10);
        b
    }

    /// Dumps the namespace's tcp, udp and unix tables through netlink sock_diag when the
    /// collector may enter the namespace; returns the tables it got (the rest are read from /proc).
    fn netlink_tables(&mut self, dir: BorrowedFd<'_>, netns: u64, b: &mut Bundle) -> Vec<Proto> {
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
        let mut dumps = Vec::new();
        // TCP over both families in one dump (one walk of the kernel's TCP hash); when the
        // kernel refuses it, one dump per family.
        let tables = std::iter::once(None).chain(crate::netlink::DIAG_TABLES.into_iter().map(Some));
        let mut both = false;
        for table in tables {
            if matches!(table, Some(Proto::Tcp | Proto::Tcp6)) && both {
                continue;
            }
            let seq = s.seq.fetch_add(1, Ordering::Relaxed) + 1;
            let start = dumps.len();
            let name = net_name(table);
            match crate::netlink::dump(&sock, table, seq, &mut dumps) {
                Ok(()) => {
                    let sha256 = Sha256::digest(&dumps[start..]).into();
                    b.reads.push(Read::Netlink { name, netns, got: Ok(start..dumps.len()), sha256 });
                    match table {
                        None => {
                            both = true;
                            got.extend([Proto::Tcp, Proto::Tcp6]);
                        }
                        Some(p) => got.push(p),
                    }
                }
                // Not served here (no IPv6, an old kernel): the /proc table stands in, and this
                // attempt stays in the log.
                Err(e) => {
                    dumps.truncate(start);
                    b.reads.push(Read::Netlink { name, netns, got: Err(failure(e)), sha256: [0; 32] });
                }
            }
        }
        if !dumps.is_empty() {
            dumps.shrink_to_fit();
            b.dumps = Some(Arc::new(dumps));
        }
        got
    }

    /// Reads each fd's link, one readlinkat per descriptor: one record. On a procfs the size of
    /// `fd/` is the number of open descriptors (Linux 6.2 on), so the links are read from fd 0
    /// up until that many answered, without listing the directory (its `openat`, `getdents64`
    /// and `close` cost about five readlinks); the directory is listed when the count is unknown
    /// (0, an older kernel, a copied tree) or the table has more holes than a listing would cost.
    ///
    /// `fd/` is opened as a path (`O_PATH`: no permission asked, nothing listed) and each link
    /// read relative to it: one name looked up per descriptor instead of two.
    fn fds(&mut self, dir: BorrowedFd<'_>, b: &mut Bundle) {
        let first = b.links.len();
        let opened = if self.shared.copied() {
            open_copied(dir, "fd", true)
        } else {
            rustix::fs::openat(dir, "fd", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                .map_err(Refusal::from)
        };
        let fd_dir = match opened {
            Ok(fd) => fd,
            Err(r) => {
                b.reads.push(Read::Fds(Err(r.failure)));
                refused_link(b, "fd", r.link);
                return;
            }
        };
        let dir = fd_dir.as_fd();
        let mut listed_after = None;
        let count = if !self.shared.copied() {
            rustix::fs::statx(dir, "", AtFlags::EMPTY_PATH, StatxFlags::SIZE).map_or(0, |st| st.stx_size)
        } else {
            0
        };
        if count > 0 {
            // Holes probed before listing: a listing costs about five readlinks, plus one per fd.
            // Bounded whatever a procfs-looking mount claims.
            let budget = (8 + count / 8).min(4096);
            let (mut found, mut misses, mut fd) = (0u64, 0u64, 0u32);
            while found < count {
                if misses > budget {
                    listed_after = Some(fd);
                    break;
                }
                match link(&mut b.arena, dir, itoa::Buffer::new().format(fd)) {
                    Ok(span) => {
                        b.links.push(Link { name: LinkName::Fd(fd), got: Ok(span) });
                        found += 1;
                    }
                    Err(f) if f.kind == ErrorKind::ENOENT => misses += 1,
                    // It exited while being read: that read is its last (and says so).
                    Err(f) if f.kind == ErrorKind::ESRCH => {
                        b.links.push(Link { name: LinkName::Fd(fd), got: Err(f) });
                        break;
                    }
                    // Refused (no ptrace right over it, an LSM): the listing says, fd by fd,
                    // what each gives, as it always has.
                    Err(_) => {
                        listed_after = Some(fd);
                        break;
                    }
                }
                let Some(next) = fd.checked_add(1) else { break };
                fd = next;
            }
        } else {
            listed_after = Some(0);
        }
        if let Some(from) = listed_after {
            match self.numeric_entries(dir, ".") {
                Ok(entries) => {
                    for fd in entries.into_iter().filter(|&fd| fd >= from) {
                        let got = link(&mut b.arena, dir, itoa::Buffer::new().format(fd));
                        b.links.push(Link { name: LinkName::Fd(fd), got });
                    }
                }
                Err(e) if b.links.len() == first => {
                    b.reads.push(Read::Fds(Err(failure(e))));
                    return;
                }
                // The fds already read stand; the failure to list the rest is kept as that of
                // the first fd not read, so that its error row (or the process's vanishing)
                // says the list is short.
                Err(e) => b.links.push(Link { name: LinkName::Fd(from), got: Err(failure(e)) }),
            }
        }
        b.reads.push(Read::Fds(Ok(first..b.links.len())));
    }

    /// statx of the file behind /proc/PID/exe (the file itself, even deleted or memfd); it is
    /// opened and hashed only the first time that file is seen, and carved when asked.
    fn exe(&mut self, dir: BorrowedFd<'_>, b: &mut Bundle) -> Result<(), Failure> {
        let st = self.exe_inner(dir, &mut b.carved).map_err(failure)?;
        b.exe = Some(st);
        Ok(())
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

/// Reads an open file whole onto the end of `buf`, at most [`MAX_FILE`] bytes of it. With
/// `at_once` (see [`whole_at_once`]) a read that fills less than asked ends it. Returns whether
/// it was cut.
pub fn read_whole(fd: &OwnedFd, buf: &mut Vec<u8>, at_once: bool) -> Result<bool, Errno> {
    let start = buf.len();
    loop {
        let got = buf.len() - start;
        if got >= MAX_FILE {
            let mut probe = [0u8; 1];
            return match rustix::io::read(fd, &mut probe[..]) {
                Ok(0) => Ok(false),
                _ => Ok(true),
            };
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(buf.capacity().max(4096));
        }
        let room = MAX_FILE - got;
        let spare = buf.spare_capacity_mut();
        let want = spare.len().min(room);
        match rustix::io::read(fd, &mut spare[..want]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_or_without_openat2_no_link_is_followed() {
        let d = std::env::temp_dir().join(format!("curtain-beneath-{}", std::process::id()));
        std::fs::create_dir_all(d.join("net")).unwrap();
        std::fs::write(d.join("net/tcp"), b"x").unwrap();
        std::os::unix::fs::symlink(d.join("net"), d.join("out")).unwrap();
        std::os::unix::fs::symlink(d.join("net/tcp"), d.join("net/link")).unwrap();
        let dir = rustix::fs::open(&d, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let kind = |r: Result<OwnedFd, Refusal>| match r {
            Ok(fd) => Ok(FileType::from_raw_mode(rustix::fs::fstat(&fd).unwrap().st_mode)),
            Err(r) => Err(r.failure.kind),
        };
        for open in [beneath, walk_beneath] {
            assert_eq!(kind(open(dir.as_fd(), "net/tcp", OFlags::RDONLY)), Ok(FileType::RegularFile));
            // A link on the way, or at the end of an open for reading: refused.
            assert_eq!(kind(open(dir.as_fd(), "out/tcp", OFlags::RDONLY)), Err(ErrorKind::NotFollowed));
            assert_eq!(kind(open(dir.as_fd(), "net/link", OFlags::RDONLY)), Err(ErrorKind::NotFollowed));
            // As a path, the link itself, for its target to be read.
            assert_eq!(kind(open(dir.as_fd(), "net/link", OFlags::PATH)), Ok(FileType::Symlink));
            assert_eq!(kind(open(dir.as_fd(), "net/none", OFlags::PATH)), Err(ErrorKind::ENOENT));
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn repeated_files_take_the_digest_of_their_bytes() {
        let mut r = Repeats::default();
        let sha = |b: &[u8]| -> [u8; 32] { Sha256::digest(b).into() };
        let big = vec![b'x'; REPEAT_MAX + 1];
        for (name, bytes) in [
            ("maps", &b"a"[..]),
            ("maps", b"a"),
            ("environ", b"a"),
            ("maps", b"b"),
            ("maps", b""),
            ("maps", b""),
            ("maps", b"b"),
            ("status", b"b"),
            ("cgroup", &big),
            ("cgroup", &big),
        ] {
            assert_eq!(
                r.digest(name, bytes),
                sha(bytes),
                "{name} {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(8)])
            );
        }
        assert!(r.last.iter().all(|(_, b, _)| b.len() <= REPEAT_MAX));
    }
}
