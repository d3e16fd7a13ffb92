//! From raw reads to the archive's tables.
//!
//! The collector and `curtain reparse` both feed what was read (live, or from `raw/` of an
//! archive) through [`Tables`], so a table is always a pure function of the raw evidence: a
//! parser fix applies to old archives, and an untouched archive reparses to identical bytes.

use crate::row::{ExeRow, ProcRow, Slot};
use crate::{net, proc};
use curtain_model::{Clock, CollectError, Counts, ErrorKind, ExeStat, FdKind, Label, Process, Proto, Socket};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What one read gave, owned: the bytes, or why there are none.
pub type RawResult = Result<Vec<u8>, ErrorKind>;
/// What one read gave, borrowed.
pub type Bytes<'a> = Result<&'a [u8], ErrorKind>;

/// The files read for each process, in reading order.
pub const PROCESS_FILES: [&str; 6] = ["stat", "status", "cmdline", "environ", "cgroup", "maps"];
/// The links read for each process besides ns/* and fd/*.
pub const PROCESS_LINKS: [&str; 3] = ["exe", "cwd", "root"];
/// Every link of a process's `links` record, in reading order: [`PROCESS_LINKS`], then ns/*.
pub const LINK_NAMES: [&str; 11] =
    ["exe", "cwd", "root", "ns/cgroup", "ns/ipc", "ns/mnt", "ns/net", "ns/pid", "ns/time", "ns/user", "ns/uts"];

/// Everything read of one process, borrowing the bytes: the files of [`PROCESS_FILES`] and the
/// links of [`LINK_NAMES`] by position, `None` for one not read (environ with `--no-environ`).
#[derive(Debug, Default, Clone)]
pub struct ProcessRead<'a> {
    pub pid: u32,
    pub files: [Option<Bytes<'a>>; 6],
    /// Files larger than the cap: what is kept is a prefix.
    pub truncated: [bool; 6],
    pub links: [Option<Bytes<'a>>; 11],
    /// The file behind /proc/PID/exe, statx'ed and hashed.
    pub exe: Option<Result<&'a ExeStat, ErrorKind>>,
    /// The fds read, each with its link target.
    pub fds: Option<Result<Vec<(u32, Bytes<'a>)>, ErrorKind>>,
}

fn file_index(name: &str) -> Option<usize> {
    PROCESS_FILES.iter().position(|f| *f == name)
}

impl<'a> ProcessRead<'a> {
    pub fn file(&self, name: &str) -> Option<Bytes<'a>> {
        self.files[file_index(name)?]
    }
    pub fn link(&self, name: &str) -> Option<Bytes<'a>> {
        self.links[LINK_NAMES.iter().position(|n| *n == name)?]
    }

    /// True when a read failed with ESRCH: the process exited while it was being read (reads go
    /// through its directory fd, which fails so once the process is gone, never reaching a
    /// process that reused the pid). A kernel thread's environ answers ESRCH (it has no memory):
    /// that one does not count.
    pub fn vanished(&self, kernel_thread: bool) -> bool {
        let gone = |r: &Option<Bytes<'_>>| matches!(r, Some(Err(ErrorKind::ESRCH)));
        let environ = file_index("environ");
        self.files.iter().enumerate().any(|(i, r)| gone(r) && !(kernel_thread && Some(i) == environ))
            || self.links.iter().any(gone)
            || matches!(self.exe, Some(Err(ErrorKind::ESRCH)))
            || match &self.fds {
                Some(Err(ErrorKind::ESRCH)) => true,
                Some(Ok(v)) => v.iter().any(|(_, r)| matches!(r, Err(ErrorKind::ESRCH))),
                _ => false,
            }
    }
}

/// Everything read of one process, owned and by name (tests, fuzzing); [`Self::view`] lends it
/// as a [`ProcessRead`]. Names outside [`PROCESS_FILES`] and [`LINK_NAMES`] are left out.
#[derive(Debug, Default, Clone)]
pub struct RawProcess {
    pub pid: u32,
    pub files: BTreeMap<String, RawResult>,
    pub links: BTreeMap<String, RawResult>,
    pub exe: Option<Result<ExeStat, ErrorKind>>,
    pub fds: Option<Result<Vec<(u32, RawResult)>, ErrorKind>>,
    pub truncated: BTreeSet<String>,
}

impl RawProcess {
    pub fn view(&self) -> ProcessRead<'_> {
        fn lend(r: &RawResult) -> Bytes<'_> {
            r.as_deref().map_err(|k| *k)
        }
        let mut v = ProcessRead { pid: self.pid, ..Default::default() };
        for (i, name) in PROCESS_FILES.iter().enumerate() {
            v.files[i] = self.files.get(*name).map(lend);
            v.truncated[i] = self.truncated.contains(*name);
        }
        for (i, name) in LINK_NAMES.iter().enumerate() {
            v.links[i] = self.links.get(*name).map(lend);
        }
        v.exe = self.exe.as_ref().map(|r| r.as_ref().map_err(|k| *k));
        v.fds = self.fds.as_ref().map(|r| match r {
            Ok(list) => Ok(list.iter().map(|(fd, t)| (*fd, lend(t))).collect()),
            Err(k) => Err(*k),
        });
        v
    }
}

/// Host facts needed to interpret what was read.
#[derive(Debug, Clone)]
pub struct Context {
    pub clock: Clock,
}

/// The tables of an archive, in archive order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Processes,
    Fds,
    Maps,
    Mounts,
    Errors,
    Sockets,
}

impl Table {
    pub const ALL: [Table; 6] =
        [Table::Processes, Table::Fds, Table::Maps, Table::Mounts, Table::Errors, Table::Sockets];
    /// Member name of the table's first part, without `.jsonl`; further parts are
    /// `<base>.1.jsonl`, `<base>.2.jsonl`...
    pub fn base(self) -> &'static str {
        match self {
            Table::Processes => "tables/processes",
            Table::Fds => "tables/fds",
            Table::Maps => "tables/maps",
            Table::Mounts => "tables/mounts",
            Table::Errors => "tables/errors",
            Table::Sockets => "tables/sockets",
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where the rows go, one JSON line at a time (without its newline).
pub trait RowSink {
    fn row(&mut self, table: Table, line: &[u8]);
}

/// Keeps every table in memory (reparse, tests).
#[derive(Debug, Default)]
pub struct MemorySink {
    pub tables: [Vec<u8>; 6],
}

impl RowSink for MemorySink {
    fn row(&mut self, table: Table, line: &[u8]) {
        let t = &mut self.tables[table.index()];
        t.extend_from_slice(line);
        t.push(b'\n');
    }
}

impl MemorySink {
    /// The rows of a table, parsed back.
    pub fn rows<T: serde::de::DeserializeOwned>(&self, table: Table) -> Vec<T> {
        self.tables[table.index()]
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("a row this crate wrote"))
            .collect()
    }
}

/// One socket table as read: /proc text, or a netlink sock_diag dump.
#[derive(Debug)]
struct NetTable {
    netns: u64,
    pid: u32,
    /// As under `net/`: `tcp`, `tcp6`..., or `tcp46` for one dump of both families.
    table: String,
    proto: Proto,
    bytes: TableBytes,
    little_endian: bool,
    netlink: bool,
}

/// A socket table's bytes: a copy, or a span of a buffer its reader handed over.
#[derive(Debug)]
enum TableBytes {
    Copied(Vec<u8>),
    Shared(Arc<Vec<u8>>, std::ops::Range<usize>),
}

impl TableBytes {
    /// `b` as a span of `buf` when it lies in it, else a copy.
    fn of(b: &[u8], buf: Option<&Arc<Vec<u8>>>) -> Self {
        if let Some(buf) = buf {
            let (base, at) = (buf.as_ptr() as usize, b.as_ptr() as usize);
            if at >= base && at + b.len() <= base + buf.len() {
                return TableBytes::Shared(Arc::clone(buf), at - base..at - base + b.len());
            }
        }
        TableBytes::Copied(b.to_vec())
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            TableBytes::Copied(v) => v,
            TableBytes::Shared(buf, r) => &buf[r.clone()],
        }
    }
}

/// Who the collector is and which of its ancestors are the responder's session, decided as
/// processes arrive (the collector reads itself first, then its ancestors).
#[derive(Debug, Default)]
struct Labeller {
    self_pid: Option<u32>,
    next_ancestor: Option<u32>,
    session: Option<i32>,
}

/// Builds the tables process by process and namespace by namespace, writing each row to the
/// sink as soon as it is known. Only sockets wait for the end, to be joined to all their owners.
#[derive(Debug, Default)]
pub struct Tables<S: RowSink = MemorySink> {
    pub sink: S,
    /// Socket tables as read, parsed at the end once every owner is known: the raw text is
    /// smaller than the parsed sockets.
    net_tables: Vec<NetTable>,
    /// A buffer that the reads being added lie in, shared by their reader (the collector's
    /// sock_diag dumps): socket tables in it are kept as spans of it, not copied, so that a
    /// namespace's dumps are not held twice. See [`Self::share`].
    shared: Option<Arc<Vec<u8>>>,
    /// (socket inode, owner) in reading order; sorted by inode at the end. Flat: 16 bytes an fd,
    /// where a map of vectors costs about 90 per socket.
    owners: Vec<(u64, curtain_model::Owner)>,
    counts: Counts,
    errors_by_kind: BTreeMap<String, u64>,
    hashes: BTreeSet<String>,
    netns: BTreeSet<u64>,
    mntns: BTreeSet<u64>,
    labels: Labeller,
    /// The collector's own row and PID 1's, kept for the manifest and the ECS lookup.
    pub kept: Vec<Process>,
    scratch: Vec<u8>,
    /// The last process's cmdline, environ, cgroup and maps with their JSON.
    repeats: crate::row::Repeats,
}

fn error(pid: Option<u32>, path: String, kind: ErrorKind, detail: Option<String>) -> CollectError {
    CollectError { pid, path, kind, detail }
}

impl<S: RowSink> Tables<S> {
    pub fn new(sink: S, self_pid: Option<u32>) -> Self {
        Tables {
            sink,
            net_tables: Vec::new(),
            shared: None,
            owners: Vec::new(),
            counts: Counts::default(),
            errors_by_kind: BTreeMap::new(),
            hashes: BTreeSet::new(),
            netns: BTreeSet::new(),
            mntns: BTreeSet::new(),
            labels: Labeller { self_pid, ..Default::default() },
            kept: Vec::new(),
            repeats: Default::default(),
            scratch: Vec::with_capacity(4096),
        }
    }

    fn emit<T: serde::Serialize>(&mut self, table: Table, row: &T) {
        self.scratch.clear();
        // Serialising plain data into a Vec cannot fail.
        serde_json::to_writer(&mut self.scratch, row).expect("serialise row");
        self.sink.row(table, &self.scratch);
        if self.scratch.capacity() > 1 << 16 {
            // A huge environment made it big: not kept for the rest.
            self.scratch = Vec::with_capacity(1 << 12);
        }
    }

    fn push_error(&mut self, e: CollectError) {
        self.counts.errors += 1;
        *self.errors_by_kind.entry(e.kind.as_str().to_string()).or_insert(0) += 1;
        self.emit(Table::Errors, &e);
    }

    /// Records an error that belongs to no table row (a pid that vanished before its first read,
    /// an unreadable /proc/stat, an ECS endpoint that did not answer).
    pub fn add_error(&mut self, pid: Option<u32>, path: String, kind: ErrorKind, detail: Option<String>) {
        self.push_error(error(pid, path, kind, detail));
    }

    /// The collector's pid as the proc tree numbers it (from the `self` link), before any process.
    pub fn set_self_pid(&mut self, pid: Option<u32>) {
        self.labels.self_pid = pid;
    }

    /// The next process whose row decides a label: the collector's parent, then its parent, as
    /// long as they are the responder's session. The collector walks these first.
    pub fn next_ancestor(&self) -> Option<u32> {
        self.labels.next_ancestor
    }

    /// Builds the process row and its fds and maps from what was read of it.
    pub fn add_process<'a>(&mut self, raw: &ProcessRead<'a>, ctx: &Context) {
        let pid = raw.pid;
        let mut p = ProcRow { pid, ..Default::default() };
        // The kept mappings: parsed here, or the last process's rows (the same bytes).
        let mut maps = Vec::new();
        let mut maps_repeated = false;
        let mut errs = Vec::new();

        let mut kernel_thread = false;
        match raw.file("stat") {
            Some(Ok(b)) => match proc::parse_stat(b) {
                Ok(st) => {
                    p.ppid = u32::try_from(st.ppid).ok();
                    p.starttime_ticks = Some(st.starttime);
                    p.started_at_ns = ctx.clock.ticks_to_wall_ns(st.starttime);
                    p.comm = Some(st.comm);
                    p.state = Some(st.state as char);
                    p.pgrp = Some(st.pgrp);
                    p.session = Some(st.session);
                    p.tty_nr = Some(st.tty_nr);
                    p.threads = u32::try_from(st.num_threads).ok();
                    kernel_thread = st.flags & proc::PF_KTHREAD != 0;
                }
                Err(e) => errs.push(("stat", "stat", ErrorKind::Parse, Some(e.0))),
            },
            Some(Err(k)) => errs.push(("stat", "stat", k, None)),
            None => {}
        }
        p.kernel_thread = kernel_thread;
        p.vanished = raw.vanished(kernel_thread);
        // A kernel thread has no memory, exe, cwd or root: ENOENT and ESRCH there are expected.
        let quiet = |k: ErrorKind| kernel_thread && matches!(k, ErrorKind::ENOENT | ErrorKind::ESRCH);

        match raw.file("status") {
            Some(Ok(b)) => {
                let st = proc::parse_status(b);
                if let Some(u) = st.uid {
                    (p.uid, p.euid) = (Some(u[0]), Some(u[1]));
                }
                if let Some(g) = st.gid {
                    (p.gid, p.egid) = (Some(g[0]), Some(g[1]));
                }
                p.cap_eff = st.cap_eff;
                p.tracer_pid = st.tracer_pid;
                p.nspid = st.nspid().collect();
                p.seccomp = st.seccomp;
                if p.threads.is_none() {
                    p.threads = st.threads;
                }
            }
            Some(Err(k)) => errs.push(("status", "status", k, None)),
            None => {}
        }

        // A read the row keeps as it is: its bytes, or its error unless it is expected.
        type Errs = Vec<(&'static str, &'static str, ErrorKind, Option<String>)>;
        let kept = |got: Option<Bytes<'a>>, name: &'static str, errs: &mut Errs| -> Option<&'a [u8]> {
            match got {
                Some(Ok(b)) => Some(b),
                Some(Err(k)) if !quiet(k) => {
                    errs.push((name, name, k, None));
                    None
                }
                _ => None,
            }
        };
        p.cmdline = kept(raw.file("cmdline"), "cmdline", &mut errs);
        p.environ = kept(raw.file("environ"), "environ", &mut errs);

        match raw.file("cgroup") {
            Some(Ok(b)) => match proc::cgroup_lines(b) {
                Ok(_) => p.cgroup = Some(b),
                Err(e) => errs.push(("cgroup", "cgroup", ErrorKind::Parse, Some(e.0))),
            },
            Some(Err(k)) => errs.push(("cgroup", "cgroup", k, None)),
            None => {}
        }

        match raw.file("maps") {
            Some(Ok(b)) if self.repeats.is_last(Slot::Maps, b) => maps_repeated = true,
            Some(Ok(b)) => match proc::maps_kept(b) {
                Ok(m) => {
                    // Kept for the next process, as the rows after their pid, one a line.
                    self.repeats.keep(Slot::Maps, b, |json| {
                        for m in &m {
                            crate::row::map_row_tail(json, m);
                            json.push(b'\n');
                        }
                    });
                    maps_repeated = self.repeats.is_last(Slot::Maps, b);
                    maps = m;
                }
                Err(e) => errs.push(("maps", "maps", ErrorKind::Parse, Some(e.0))),
            },
            Some(Err(k)) if !quiet(k) => errs.push(("maps", "maps", k, None)),
            _ => {}
        }

        match raw.link("exe") {
            Some(Ok(path)) => {
                let mut exe = ExeRow { path, stat: None };
                match raw.exe {
                    Some(Ok(st)) => exe.stat = Some(st),
                    Some(Err(k)) => errs.push(("exe_file", "exe", k, None)),
                    None => {}
                }
                p.exe = Some(exe);
            }
            Some(Err(k)) if !quiet(k) => errs.push(("exe", "exe", k, None)),
            _ => {}
        }
        p.cwd = kept(raw.link("cwd"), "cwd", &mut errs);
        p.root = kept(raw.link("root"), "root", &mut errs);
        for (ns, key) in curtain_model::NAMESPACE_NAMES.iter().zip(&LINK_NAMES[3..]) {
            match raw.link(key) {
                Some(Ok(t)) => match proc::parse_ns_link(t) {
                    Some(inode) => p.ns.set(ns, inode),
                    None => errs.push((key, key, ErrorKind::Parse, Some(String::from_utf8_lossy(t).into_owned()))),
                },
                // Older kernels lack some namespaces (time, cgroup): not worth an error row.
                Some(Err(ErrorKind::ENOENT)) if *ns == "time" || *ns == "cgroup" => {}
                Some(Err(k)) => errs.push((key, key, k, None)),
                None => {}
            }
        }

        let mut fd_errors = Vec::new();
        match &raw.fds {
            Some(Ok(list)) => {
                p.fd_count = Some(list.len() as u32);
                // Written as they come: a process may hold hundreds of thousands.
                for (fd, target) in list {
                    match target {
                        Ok(t) => {
                            let (kind, socket_inode) = proc::classify_fd(t);
                            if let (FdKind::Socket, Some(inode)) = (kind, socket_inode) {
                                self.owners.push((inode, curtain_model::Owner { pid, fd: *fd }));
                            }
                            self.scratch.clear();
                            crate::row::fd_row(&mut self.scratch, pid, *fd, t, kind, socket_inode);
                            self.sink.row(Table::Fds, &self.scratch);
                            self.counts.fds += 1;
                        }
                        // Closed between listing and reading: an fd that is no longer there.
                        Err(ErrorKind::ENOENT) => {}
                        Err(k) => fd_errors.push((*fd, *k)),
                    }
                }
            }
            Some(Err(k)) => errs.push(("fd", "fd", *k, None)),
            None => {}
        }

        // In name order, as they always were.
        let mut truncated: Vec<&'static str> =
            PROCESS_FILES.iter().zip(raw.truncated).filter(|(_, t)| *t).map(|(n, _)| *n).collect();
        truncated.sort_unstable();
        for (field, path, kind, detail) in errs {
            p.error(field, kind);
            self.push_error(error(Some(pid), format!("{pid}/{path}"), kind, detail));
        }
        for (fd, kind) in fd_errors {
            p.error("fd", kind);
            self.push_error(error(Some(pid), format!("{pid}/fd/{fd}"), kind, None));
        }
        for name in truncated {
            p.error(name, ErrorKind::Truncated);
            self.push_error(error(Some(pid), format!("{pid}/{name}"), ErrorKind::Truncated, None));
        }
        if p.vanished {
            self.push_error(error(Some(pid), format!("{pid}"), ErrorKind::Vanished, None));
        }
        self.label(&mut p);

        self.counts.processes += 1;
        self.counts.kernel_threads += p.kernel_thread as u64;
        if let Some(h) = p.exe.and_then(|e| e.stat?.sha256.as_ref()) {
            if !self.hashes.contains(h) {
                self.hashes.insert(h.clone());
            }
        }
        if maps_repeated {
            for tail in self.repeats.json(Slot::Maps).split(|&c| c == b'\n').filter(|t| !t.is_empty()) {
                self.scratch.clear();
                crate::row::map_row_head(&mut self.scratch, pid);
                self.scratch.extend_from_slice(tail);
                self.sink.row(Table::Maps, &self.scratch);
                self.counts.maps += 1;
            }
        } else {
            for m in &maps {
                self.scratch.clear();
                crate::row::map_row(&mut self.scratch, pid, m);
                self.sink.row(Table::Maps, &self.scratch);
            }
            self.counts.maps += maps.len() as u64;
        }
        self.scratch.clear();
        p.write_json_with(&mut self.scratch, &mut self.repeats);
        self.sink.row(Table::Processes, &self.scratch);
        if self.scratch.capacity() > 1 << 16 {
            // A huge environment made it big: not kept for the rest.
            self.scratch = Vec::with_capacity(1 << 12);
        }
        if p.pid == 1 || Some(p.pid) == self.labels.self_pid {
            self.kept.push(p.to_process());
        }
    }

    /// Labels the SSM agent, the collector, and the collector's ancestors in its session.
    fn label(&mut self, p: &mut ProcRow<'_>) {
        let in_agent_dir = |b: &[u8]| b.starts_with(SSM_AGENT_DIR);
        let exe = p.exe.is_some_and(|e| in_agent_dir(e.path));
        let argv0 = p.argv0().is_some_and(in_agent_dir);
        if exe || argv0 {
            p.label = Some(Label::SsmAgent);
        }
        let l = &mut self.labels;
        let parent = p.ppid.filter(|&pp| pp > 1);
        if Some(p.pid) == l.self_pid {
            p.label = Some(Label::SelfCollector);
            l.session = p.session;
            l.next_ancestor = parent;
        } else if Some(p.pid) == l.next_ancestor {
            let wrapper = p.comm.is_some_and(|c| WRAPPERS.contains(&c));
            if p.label.is_some() || !(wrapper || (p.session.is_some() && p.session == l.session)) {
                // The SSM agent, or outside the session: the responder's plumbing ends here.
                l.next_ancestor = None;
            } else {
                p.label = Some(Label::Responder);
                if wrapper {
                    l.session = p.session;
                }
                l.next_ancestor = parent;
            }
        }
    }

    /// Adds one /proc/PID/net/* table read for network namespace `netns`; its sockets are
    /// parsed and written by [`Self::finish`].
    pub fn add_net_table(&mut self, netns: u64, pid: u32, proto: Proto, read: Bytes<'_>, little_endian: bool) {
        self.add_table(netns, pid, proto.table(), read, little_endian, false)
    }

    /// Adds one netlink sock_diag dump of a table, read in network namespace `netns`.
    pub fn add_diag_table(&mut self, netns: u64, pid: u32, proto: Proto, read: Bytes<'_>, little_endian: bool) {
        self.add_table(netns, pid, proto.table(), read, little_endian, true)
    }

    /// Adds one socket table (`table` as under `net/`; `tcp46` for a dump of both families),
    /// read from /proc or through netlink.
    pub fn add_table(
        &mut self,
        netns: u64,
        pid: u32,
        table: &str,
        read: Bytes<'_>,
        little_endian: bool,
        netlink: bool,
    ) {
        self.netns.insert(netns);
        let Some(proto) = crate::replay::table_proto(table) else { return };
        match read {
            Ok(b) => self.net_tables.push(NetTable {
                netns,
                pid,
                table: table.to_string(),
                proto,
                bytes: TableBytes::of(b, self.shared.as_ref()),
                little_endian,
                netlink,
            }),
            // No IPv6 in that namespace's kernel, for instance.
            Err(k) => self.push_error(error(Some(pid), table_path(pid, table, netlink), k, None)),
        }
    }

    /// Socket tables added from now on that lie in `buf` are kept as spans of it; `None`: copied.
    pub fn share(&mut self, buf: Option<Arc<Vec<u8>>>) {
        self.shared = buf;
    }

    /// Adds the mounts of one mount namespace, from the mountinfo of one of its processes.
    pub fn add_mountinfo(&mut self, mntns: u64, pid: u32, read: Bytes<'_>) {
        self.mntns.insert(mntns);
        let path = format!("{pid}/mountinfo");
        match read {
            Ok(b) => match proc::parse_mountinfo(mntns, pid, b) {
                Ok(m) => {
                    self.counts.mounts += m.len() as u64;
                    for row in &m {
                        self.emit(Table::Mounts, row);
                    }
                }
                Err(e) => self.push_error(error(Some(pid), path, ErrorKind::Parse, Some(e.0))),
            },
            Err(k) => self.push_error(error(Some(pid), path, k, None)),
        }
    }

    /// Joins every socket to all the (pid, fd) that hold it and writes the sockets table.
    /// Returns the counts.
    pub fn finish(&mut self) -> Counts {
        self.finish_with(|_| {})
    }

    /// [`Self::finish`], calling `each` with the sink after every socket row, so that a sink
    /// writing parts writes them as they fill: no table is held whole.
    pub fn finish_with(&mut self, mut each: impl FnMut(&mut S)) -> Counts {
        // Stable: the owners of one socket stay in reading order.
        self.owners.sort_by_key(|(inode, _)| *inode);
        for t in std::mem::take(&mut self.net_tables) {
            let (netns, pid, proto) = (t.netns, t.pid, t.proto);
            let mut emit = |mut s: Socket| {
                let from = self.owners.partition_point(|(inode, _)| *inode < s.inode);
                let to = from + self.owners[from..].partition_point(|(inode, _)| *inode == s.inode);
                s.owners = self.owners[from..to].iter().map(|(_, o)| *o).collect();
                s.owner_visible = !s.owners.is_empty();
                self.counts.sockets += 1;
                self.counts.sockets_with_owner += s.owner_visible as u64;
                self.scratch.clear();
                // Serialising plain data into a Vec cannot fail.
                serde_json::to_writer(&mut self.scratch, &s).expect("serialise row");
                self.sink.row(Table::Sockets, &self.scratch);
                each(&mut self.sink);
            };
            let errors = match (proto, t.netlink) {
                (Proto::Unix, false) => net::parse_unix_table(netns, t.bytes.as_slice(), &mut emit),
                (_, false) => net::parse_inet_table(proto, netns, t.bytes.as_slice(), t.little_endian, &mut emit),
                (Proto::Unix, true) => {
                    crate::diag::parse_unix_diag(netns, t.bytes.as_slice(), t.little_endian, &mut emit)
                }
                (_, true) => crate::diag::parse_inet_diag(proto, netns, t.bytes.as_slice(), t.little_endian, &mut emit),
            };
            drop(t.bytes);
            for e in errors {
                self.push_error(error(Some(pid), table_path(pid, &t.table, t.netlink), ErrorKind::Parse, Some(e.0)));
            }
        }
        self.counts()
    }

    pub fn counts(&self) -> Counts {
        Counts {
            netns: self.netns.len() as u64,
            mntns: self.mntns.len() as u64,
            executables_hashed: self.hashes.len() as u64,
            ..self.counts.clone()
        }
    }

    pub fn errors_by_kind(&self) -> BTreeMap<String, u64> {
        self.errors_by_kind.clone()
    }
}

/// The path an error about a socket table names.
fn table_path(pid: u32, table: &str, netlink: bool) -> String {
    if netlink {
        format!("{pid}/netlink/{table}")
    } else {
        format!("{pid}/net/{table}")
    }
}

/// Where ECS Exec's agent is bind-mounted in every task container.
pub const SSM_AGENT_DIR: &[u8] = b"/managed-agents/execute-command/";

/// Programs that stand between a responder's shell and the collector.
const WRAPPERS: [&[u8]; 11] =
    [b"sudo", b"su", b"doas", b"setpriv", b"nsenter", b"chroot", b"timeout", b"env", b"unshare", b"script", b"runuser"];

#[cfg(test)]
mod tests {
    use super::*;
    use curtain_model::Socket;

    fn ctx() -> Context {
        Context {
            clock: Clock {
                realtime_start_ns: 1_800_000_000_000_000_000,
                boottime_start_ns: 100_000_000_000,
                clk_tck: 100,
                page_size: 4096,
                little_endian: true,
                ..Default::default()
            },
        }
    }

    fn stat(pid: u32, comm: &str, ppid: u32, session: u32, starttime: u64) -> Vec<u8> {
        format!("{pid} ({comm}) S {ppid} {pid} {session} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {starttime} 0 0 0\n")
            .into_bytes()
    }

    fn processes(t: &Tables) -> Vec<Process> {
        t.sink.rows(Table::Processes)
    }

    fn errors(t: &Tables) -> Vec<CollectError> {
        t.sink.rows(Table::Errors)
    }

    fn raw(pid: u32, comm: &str, ppid: u32, session: u32) -> RawProcess {
        let mut r = RawProcess { pid, ..Default::default() };
        r.files.insert("stat".into(), Ok(stat(pid, comm, ppid, session, 500)));
        r.links.insert("exe".into(), Ok(format!("/usr/bin/{comm}").into_bytes()));
        r
    }

    #[test]
    fn start_time_from_the_clocks() {
        let mut t = Tables::new(MemorySink::default(), None);
        t.add_process(&raw(10, "sh", 1, 10).view(), &ctx());
        // boot at 1_800_000_000 - 100 s; started 5 s after boot.
        let p = processes(&t);
        assert_eq!(
            p[0].started_at.as_deref(),
            Some(curtain_model::format_rfc3339_ns(1_799_999_905_000_000_000)).as_deref()
        );
        assert_eq!(p[0].starttime_ticks, Some(500));
    }

    #[test]
    fn absent_is_absent_when_stat_is_unreadable() {
        // No stat: no parent, start, name or state in the row (not 0 and ""), the reason beside.
        let mut r = raw(12, "app", 1, 12);
        r.files.insert("stat".into(), Err(ErrorKind::EACCES));
        let mut t = Tables::new(MemorySink::default(), None);
        t.add_process(&r.view(), &ctx());
        let mut json = Vec::new();
        t.sink.tables[Table::Processes.index()].clone_into(&mut json);
        let row: serde_json::Value = serde_json::from_slice(json.split(|&b| b == b'\n').next().unwrap()).unwrap();
        for key in ["ppid", "starttime_ticks", "started_at", "comm", "state"] {
            assert!(row.get(key).is_none(), "{key} in {row}");
        }
        let p = &processes(&t)[0];
        assert_eq!((p.ppid, p.starttime_ticks, p.comm.as_ref(), p.state.as_ref()), (None, None, None, None));
        assert_eq!(p.errors.get("stat"), Some(&ErrorKind::EACCES));
        // A stat that parses but names a negative parent (a copied tree): no parent either.
        let mut r = raw(13, "app", 1, 13);
        r.files.insert(
            "stat".into(),
            Ok(b"13 (app) S -5 13 13 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 500 0 0 0\n".to_vec()),
        );
        let mut t = Tables::new(MemorySink::default(), None);
        t.add_process(&r.view(), &ctx());
        assert_eq!(processes(&t)[0].ppid, None);
    }

    #[test]
    fn start_time_from_btime_for_a_copied_tree() {
        // A copied tree's processes started after its own boot (btime), not the collecting
        // machine's: the clocks read at collection are left out.
        let mut c = ctx();
        c.clock.btime = Some(1_700_000_000);
        c.clock.start_basis = Some(curtain_model::StartBasis::Btime);
        let mut t = Tables::new(MemorySink::default(), None);
        t.add_process(&raw(10, "sh", 1, 10).view(), &c);
        let want = curtain_model::format_rfc3339_ns(1_700_000_005_000_000_000);
        assert_eq!(processes(&t)[0].started_at.as_deref(), Some(want.as_str()));
        // No btime in the copy: no start time, rather than one counted from a guessed boot.
        c.clock.btime = None;
        let mut t = Tables::new(MemorySink::default(), None);
        t.add_process(&raw(10, "sh", 1, 10).view(), &c);
        assert_eq!(processes(&t)[0].started_at, None);
        assert_eq!(processes(&t)[0].starttime_ticks, Some(500));
    }

    #[test]
    fn errors_are_rows_and_fields() {
        let mut r = raw(11, "app", 1, 11);
        r.files.insert("environ".into(), Err(ErrorKind::EACCES));
        r.links.insert("ns/net".into(), Err(ErrorKind::EACCES));
        // The process exited while its fds were being listed.
        r.fds = Some(Err(ErrorKind::ESRCH));
        let mut t = Tables::new(MemorySink::default(), None);
        t.add_process(&r.view(), &ctx());
        let p = &processes(&t)[0];
        assert_eq!(p.errors.get("environ"), Some(&ErrorKind::EACCES));
        assert_eq!(p.errors.get("ns/net"), Some(&ErrorKind::EACCES));
        assert!(p.vanished);
        let errors = errors(&t);
        let paths: Vec<_> = errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
        assert_eq!(
            paths,
            [
                ("11/environ", ErrorKind::EACCES),
                ("11/ns/net", ErrorKind::EACCES),
                ("11/fd", ErrorKind::ESRCH),
                ("11", ErrorKind::Vanished)
            ]
        );
        assert_eq!(t.errors_by_kind().get("EACCES"), Some(&2));
    }

    #[test]
    fn deleted_is_the_link_count_not_the_name() {
        let mut a = raw(20, "x", 1, 20);
        a.links.insert("exe".into(), Ok(b"/tmp/x (deleted)".to_vec()));
        a.exe = Some(Ok(ExeStat { nlink: 1, ..Default::default() })); // a file really named "x (deleted)"
        let mut b = raw(21, "y", 1, 21);
        b.links.insert("exe".into(), Ok(b"/tmp/y".to_vec()));
        b.exe = Some(Ok(ExeStat { nlink: 0, sha256: Some("ab".into()), ..Default::default() }));
        let mut c = raw(22, "z", 1, 22);
        c.links.insert("exe".into(), Ok(b"/memfd:payload (deleted)".to_vec()));
        c.exe = Some(Ok(ExeStat::default()));
        let mut t = Tables::new(MemorySink::default(), None);
        for r in [a, b, c] {
            t.add_process(&r.view(), &ctx());
        }
        let e: Vec<_> = processes(&t).iter().map(|p| p.exe.clone().unwrap()).collect();
        assert_eq!((e[0].deleted, e[1].deleted, e[2].memfd), (Some(false), Some(true), true));
        assert!(!e[0].memfd && !e[1].memfd);
    }

    #[test]
    fn sockets_join_every_owner_and_say_when_none_is_visible() {
        let mut r = raw(30, "sh", 1, 30);
        r.fds = Some(Ok(vec![
            (0, Ok(b"socket:[900]".to_vec())),
            (1, Ok(b"socket:[900]".to_vec())),
            (2, Ok(b"socket:[900]".to_vec())),
            (3, Err(ErrorKind::ENOENT)),
        ]));
        let mut t = Tables::new(MemorySink::default(), None);
        t.add_process(&r.view(), &ctx());
        let table = b"h\n0: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000 0 0 900 1\n1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 901 1\n";
        t.add_net_table(4026531840, 30, Proto::Tcp, Ok(&table[..]), true);
        let counts = t.finish();
        assert_eq!(t.sink.rows::<curtain_model::Fd>(Table::Fds).len(), 3);
        let s: Vec<Socket> = t.sink.rows(Table::Sockets);
        assert_eq!(s[0].owners.iter().map(|o| o.fd).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(s[0].owner_visible);
        assert!(!s[1].owner_visible && s[1].owners.is_empty());
        assert_eq!((counts.netns, counts.sockets, counts.sockets_with_owner, counts.fds), (1, 2, 1, 3));
    }

    #[test]
    fn a_table_in_a_shared_buffer_is_kept_as_a_span_of_it() {
        let table = b"h\n0: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000 0 0 900 1\n";
        let buf = Arc::new([&b"stat of pid 1 "[..], table, b"trailing"].concat());
        let inside = &buf[14..14 + table.len()];
        let rows = |share: bool, bytes: &[u8]| {
            let mut t = Tables::new(MemorySink::default(), None);
            t.share(share.then(|| Arc::clone(&buf)));
            t.add_net_table(4026531840, 30, Proto::Tcp, Ok(bytes), true);
            t.share(None);
            let kept = matches!(t.net_tables[0].bytes, TableBytes::Shared(..));
            t.finish();
            // Done, the tables let go of the buffer (still alive here).
            assert_eq!(Arc::strong_count(&buf), 1);
            (kept, t.sink.rows::<Socket>(Table::Sockets))
        };
        let (shared, a) = rows(true, inside);
        assert!(shared, "a span of the buffer");
        // Bytes outside it, or no buffer: a copy; the same rows every way.
        let (copied, b) = rows(true, &table[..]);
        let (alone, c) = rows(false, inside);
        assert!(!copied && !alone);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].inode, 900);
        assert_eq!((&a, &a), (&b, &c));
    }

    #[test]
    fn labels_self_responder_and_agent() {
        let mut t = Tables::new(MemorySink::default(), Some(8));
        let mut agent = raw(5, "ssm-session-wor", 1, 5);
        agent.links.insert("exe".into(), Ok(b"/managed-agents/execute-command/ssm-session-worker".to_vec()));
        // The collector reads itself first, then each ancestor it is told to, then the rest.
        t.add_process(&raw(8, "curtain", 7, 8).view(), &ctx());
        assert_eq!(t.next_ancestor(), Some(7));
        t.add_process(&raw(7, "sudo", 6, 6).view(), &ctx());
        assert_eq!(t.next_ancestor(), Some(6));
        t.add_process(&raw(6, "sh", 5, 6).view(), &ctx());
        assert_eq!(t.next_ancestor(), Some(5));
        t.add_process(&agent.view(), &ctx());
        assert_eq!(t.next_ancestor(), None);
        for r in [raw(1, "app", 0, 1), raw(9, "worker", 1, 1)] {
            t.add_process(&r.view(), &ctx());
        }
        let labels: Vec<_> = processes(&t).iter().map(|p| (p.pid, p.label)).collect();
        assert_eq!(
            labels,
            [
                (8, Some(Label::SelfCollector)),
                (7, Some(Label::Responder)),
                (6, Some(Label::Responder)),
                (5, Some(Label::SsmAgent)),
                (1, None),
                (9, None)
            ]
        );
        let kept: Vec<u32> = t.kept.iter().map(|p| p.pid).collect();
        assert_eq!(kept, [8, 1]);
    }

    #[test]
    fn kernel_threads_have_no_exe_errors() {
        let mut r = RawProcess { pid: 2, ..Default::default() };
        r.files.insert(
            "stat".into(),
            Ok(b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 0\n".to_vec()),
        );
        r.links.insert("exe".into(), Err(ErrorKind::ENOENT));
        // A kernel thread has no memory: its environ answers ESRCH, and it has not vanished.
        r.files.insert("environ".into(), Err(ErrorKind::ESRCH));
        let mut t = Tables::new(MemorySink::default(), None);
        t.add_process(&r.view(), &ctx());
        let p = &processes(&t)[0];
        assert!(p.kernel_thread && !p.vanished);
        assert!(errors(&t).is_empty());
    }
    #[test]
    fn repeated_maps_environ_and_cgroup_give_the_rows_of_a_fresh_parse() {
        let maps_a = b"55d0c0a00000-55d0c0a21000 r-xp 00002000 fe:00 5324803                    /usr/bin/a\n\
7f00aa000000-7f00aa021000 rw-p 00000000 00:00 0 \n\
7f00ab000000-7f00ab001000 r-xp 00000000 00:01 77                         /memfd:x (deleted)\n"
            .to_vec();
        let maps_b = b"7f00aa000000-7f00aa021000 rwxp 00000000 00:00 0                          [heap]\n".to_vec();
        let with = |pid: u32, maps: &[u8], environ: &[u8], cgroup: &[u8]| {
            let mut r = raw(pid, "w", 1, 1);
            r.files.insert("maps".into(), Ok(maps.to_vec()));
            r.files.insert("environ".into(), Ok(environ.to_vec()));
            r.files.insert("cgroup".into(), Ok(cgroup.to_vec()));
            r
        };
        let cg = b"0::/ecs/abc/def\n".to_vec();
        // The same bytes in a row, then others, then the first again; a malformed maps between.
        let procs = [
            with(40, &maps_a, b"A=1\0B=\"2\"\0", &cg),
            with(41, &maps_a, b"A=1\0B=\"2\"\0", &cg),
            with(42, &maps_b, b"", b"0::/\n"),
            with(43, b"not a maps line\n", b"", b"0::/\n"),
            with(44, &maps_a, b"A=1\0B=\"2\"\0", &cg),
            with(45, &maps_a, b"A=1\0B=\"2\"\0", &cg),
        ];
        let mut once = Tables::new(MemorySink::default(), None);
        let mut fresh = Vec::new();
        for r in &procs {
            // A table of its own for each: nothing repeated.
            let mut t = Tables::new(MemorySink::default(), None);
            t.add_process(&r.view(), &ctx());
            fresh.push((processes(&t), t.sink.rows::<curtain_model::Mapping>(Table::Maps)));
            once.add_process(&r.view(), &ctx());
        }
        let (p, m) = (processes(&once), once.sink.rows::<curtain_model::Mapping>(Table::Maps));
        assert_eq!(p, fresh.iter().flat_map(|(p, _)| p.clone()).collect::<Vec<_>>());
        assert_eq!(m, fresh.iter().flat_map(|(_, m)| m.clone()).collect::<Vec<_>>());
        let pids: Vec<u32> = m.iter().map(|m| m.pid).collect();
        assert_eq!(pids, [40, 40, 41, 41, 42, 44, 44, 45, 45]);
        assert_eq!(p[1].environ.as_ref().map(|e| e.len()), Some(2));
        assert_eq!(once.counts.maps, 9);
        assert_eq!(errors(&once).iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["43/maps"]);
    }
}
