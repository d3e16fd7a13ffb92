//! The rows written once per process and once per descriptor, borrowing what was read, and
//! their JSON written by hand (see [`curtain_model::json`]): a collection of 8000 processes
//! writes about 200 000 of them. Each has the owned model type as its reference: the JSON is
//! byte-identical to serde's for [`ProcRow::to_process`], [`MapRef::to_mapping`] and
//! [`fd_row`]'s [`Fd`] (the property tests say so).

use curtain_model::{
    json, ByteString, CgroupEntry, ErrorKind, Exe, ExeStat, Fd, FdKind, Label, MapKind, Namespaces, Process,
};
use curtain_parse::proc::{self, nul_items, MapRef};

/// The executable of a process: the link target, and the file behind it when it was statx'ed.
#[derive(Debug, Clone, Copy)]
pub struct ExeRow<'a> {
    pub path: &'a [u8],
    pub stat: Option<&'a ExeStat>,
}

/// One row of `tables/processes.jsonl`, borrowing the bytes it was parsed from. Lists
/// (cmdline, environ, cgroup) stay as read and are split as they are written.
#[derive(Debug, Clone, Default)]
pub struct ProcRow<'a> {
    pub pid: u32,
    pub ppid: Option<u32>,
    pub starttime_ticks: Option<u64>,
    pub started_at_ns: Option<u64>,
    pub comm: Option<&'a [u8]>,
    pub state: Option<char>,
    pub threads: Option<u32>,
    pub pgrp: Option<i32>,
    pub session: Option<i32>,
    pub tty_nr: Option<i32>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub gid: Option<u32>,
    pub egid: Option<u32>,
    pub cap_eff: Option<&'a str>,
    pub kernel_thread: bool,
    pub exe: Option<ExeRow<'a>>,
    /// NUL-separated, as read.
    pub cmdline: Option<&'a [u8]>,
    pub environ: Option<&'a [u8]>,
    pub cwd: Option<&'a [u8]>,
    pub root: Option<&'a [u8]>,
    /// /proc/PID/cgroup as read, known to parse.
    pub cgroup: Option<&'a [u8]>,
    pub ns: Namespaces,
    /// The NSpid numbers, as status gives them.
    pub nspid: Vec<u32>,
    pub tracer_pid: Option<u32>,
    pub seccomp: Option<u8>,
    pub label: Option<Label>,
    pub fd_count: Option<u32>,
    pub vanished: bool,
    /// Per field, the first error (any order: written sorted).
    pub errors: Vec<(&'static str, ErrorKind)>,
}

/// What a process's cmdline, environ, cgroup or maps made in its row, kept by [`Repeats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Cmdline,
    Environ,
    Cgroup,
    /// The kept mappings' rows after their `pid` (see [`map_row_tail`]), one per line.
    Maps,
}

/// The last bytes of each [`Slot`] and the JSON made of them. The workers of a pre-fork server
/// are forks of one parent, with its cmdline, environment, cgroups and mappings: comparing the
/// bytes with the last process's costs a small part of splitting, parsing and escaping them
/// again (docs/BENCHMARKS.md), and the JSON is the same either way. Bytes above 64 KiB are not
/// kept.
#[derive(Debug, Default)]
pub struct Repeats {
    last: [(Vec<u8>, Vec<u8>); 4],
}

/// Above this size the bytes of a file that repeats from one process to the next are not kept:
/// made into JSON here, and hashed by the collector's readers, each time.
pub const REPEAT_MAX: usize = 64 << 10;

impl Repeats {
    /// Writes the JSON `make` writes for `bytes` onto `out`: the last one made for the same
    /// bytes in this slot, or made now (and kept).
    pub fn write(&mut self, slot: Slot, bytes: &[u8], out: &mut Vec<u8>, make: impl FnOnce(&mut Vec<u8>)) {
        if bytes.len() > REPEAT_MAX {
            return make(out);
        }
        if !self.is_last(slot, bytes) {
            self.keep(slot, bytes, make);
        }
        out.extend_from_slice(&self.last[slot as usize].1);
    }

    /// True when `bytes` are the last kept in `slot`, their JSON beside them ([`Self::json`]).
    pub fn is_last(&self, slot: Slot, bytes: &[u8]) -> bool {
        let (last, json) = &self.last[slot as usize];
        // Nothing kept yet is not the JSON of empty bytes; nothing above REPEAT_MAX is kept.
        last.as_slice() == bytes && !(bytes.is_empty() && json.is_empty())
    }

    /// Keeps `bytes` in `slot` with the JSON `make` writes for them, unless they are too big.
    pub fn keep(&mut self, slot: Slot, bytes: &[u8], make: impl FnOnce(&mut Vec<u8>)) {
        let (last, json) = &mut self.last[slot as usize];
        last.clear();
        json.clear();
        if bytes.len() <= REPEAT_MAX {
            last.extend_from_slice(bytes);
            make(json);
        }
    }

    /// The JSON kept in `slot`.
    pub fn json(&self, slot: Slot) -> &[u8] {
        &self.last[slot as usize].1
    }
}

fn label_json(l: Label) -> &'static [u8] {
    match l {
        Label::SelfCollector => b"\"self\"",
        Label::Responder => b"\"responder\"",
        Label::SsmAgent => b"\"ssm-agent\"",
    }
}

fn ns_json(out: &mut Vec<u8>, ns: &Namespaces) {
    let mut o = json::Obj::new(out);
    // The struct's field order, as serde writes it.
    o.opt_int("mnt", ns.mnt);
    o.opt_int("net", ns.net);
    o.opt_int("pid", ns.pid);
    o.opt_int("uts", ns.uts);
    o.opt_int("ipc", ns.ipc);
    o.opt_int("user", ns.user);
    o.opt_int("cgroup", ns.cgroup);
    o.opt_int("time", ns.time);
    o.end();
}

impl ProcRow<'_> {
    /// The first NUL-separated item of the cmdline.
    pub fn argv0(&self) -> Option<&[u8]> {
        nul_items(self.cmdline?).next()
    }

    /// Notes the first error of a field.
    pub fn error(&mut self, field: &'static str, kind: ErrorKind) {
        if !self.errors.iter().any(|(f, _)| *f == field) {
            self.errors.push((field, kind));
        }
    }

    fn exe_value(&self) -> Option<Exe> {
        let e = self.exe?;
        let mut exe = Exe { memfd: proc::is_memfd_path(e.path), path: ByteString::from(e.path), ..Default::default() };
        if let Some(st) = e.stat {
            exe.deleted = Some(st.nlink == 0);
            exe.sha256 = st.sha256.clone();
            exe.size = Some(st.size);
            exe.nlink = Some(st.nlink);
            exe.dev = Some(st.dev);
            exe.inode = Some(st.inode);
            exe.mtime = Some(st.mtime);
            exe.carved = st.carved.clone();
        }
        Some(exe)
    }

    /// The row as the model's type.
    pub fn to_process(&self) -> Process {
        let list = |b: Option<&[u8]>| b.map(|b| nul_items(b).map(ByteString::from).collect());
        Process {
            pid: self.pid,
            ppid: self.ppid,
            starttime_ticks: self.starttime_ticks,
            started_at: self.started_at_ns.map(curtain_model::format_rfc3339_ns),
            comm: self.comm.map(ByteString::from),
            state: self.state.map(String::from),
            threads: self.threads,
            pgrp: self.pgrp,
            session: self.session,
            tty_nr: self.tty_nr,
            uid: self.uid,
            euid: self.euid,
            gid: self.gid,
            egid: self.egid,
            cap_eff: self.cap_eff.map(String::from),
            kernel_thread: self.kernel_thread,
            exe: self.exe_value(),
            cmdline: list(self.cmdline),
            environ: list(self.environ),
            cwd: self.cwd.map(ByteString::from),
            root: self.root.map(ByteString::from),
            cgroup: self.cgroup.map(|b| {
                proc::cgroup_lines(b)
                    .map(|lines| {
                        lines
                            .map(|(hierarchy, ctl, path)| CgroupEntry {
                                hierarchy,
                                controllers: String::from_utf8_lossy(ctl).into_owned(),
                                path: ByteString::from(path),
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }),
            ns: self.ns.clone(),
            nspid: self.nspid.clone(),
            tracer_pid: self.tracer_pid,
            seccomp: self.seccomp,
            label: self.label,
            fd_count: self.fd_count,
            vanished: self.vanished,
            errors: self.errors.iter().map(|(f, k)| (f.to_string(), *k)).collect(),
        }
    }

    /// The row's JSON: serde's for [`Self::to_process`].
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.write_json_with(out, &mut Repeats::default());
    }

    /// [`Self::write_json`], taking the JSON of a cmdline, environ or cgroup from `repeats` when
    /// its bytes are the last process's.
    pub fn write_json_with(&self, out: &mut Vec<u8>, repeats: &mut Repeats) {
        let mut o = json::Obj::new(out);
        o.int("pid", self.pid);
        o.opt_int("ppid", self.ppid);
        o.opt_int("starttime_ticks", self.starttime_ticks);
        if let Some(ns) = self.started_at_ns {
            let v = o.key("started_at");
            v.push(b'"');
            curtain_model::write_rfc3339_ns(v, ns);
            v.push(b'"');
        }
        if let Some(comm) = self.comm {
            o.bytes("comm", comm);
        }
        if let Some(c) = self.state {
            o.str("state", c.encode_utf8(&mut [0u8; 4]));
        }
        o.opt_int("threads", self.threads);
        o.opt_int("pgrp", self.pgrp);
        o.opt_int("session", self.session);
        o.opt_int("tty_nr", self.tty_nr);
        o.opt_int("uid", self.uid);
        o.opt_int("euid", self.euid);
        o.opt_int("gid", self.gid);
        o.opt_int("egid", self.egid);
        if let Some(c) = self.cap_eff {
            o.str("cap_eff", c);
        }
        o.bool("kernel_thread", self.kernel_thread);
        if let Some(e) = self.exe {
            let mut eo = json::Obj::new(o.key("exe"));
            eo.bytes("path", e.path);
            if let Some(st) = e.stat {
                eo.bool("deleted", st.nlink == 0);
            }
            eo.bool("memfd", proc::is_memfd_path(e.path));
            if let Some(st) = e.stat {
                if let Some(h) = &st.sha256 {
                    eo.str("sha256", h);
                }
                eo.int("size", st.size);
                eo.int("nlink", st.nlink);
                eo.int("dev", st.dev);
                eo.int("inode", st.inode);
                eo.int("mtime", st.mtime);
                if let Some(c) = &st.carved {
                    eo.str("carved", c);
                }
            }
            eo.end();
        }
        for (name, slot, list) in [("cmdline", Slot::Cmdline, self.cmdline), ("environ", Slot::Environ, self.environ)] {
            if let Some(b) = list {
                repeats.write(slot, b, o.key(name), |out| json::array(out, nul_items(b), json::bytes));
            }
        }
        if let Some(b) = self.cwd {
            o.bytes("cwd", b);
        }
        if let Some(b) = self.root {
            o.bytes("root", b);
        }
        if let Some(b) = self.cgroup {
            repeats.write(Slot::Cgroup, b, o.key("cgroup"), |out| {
                let lines = proc::cgroup_lines(b).ok().into_iter().flatten();
                json::array(out, lines, |out, (hierarchy, ctl, path)| {
                    let mut co = json::Obj::new(out);
                    co.int("hierarchy", hierarchy);
                    co.str("controllers", &String::from_utf8_lossy(ctl));
                    co.bytes("path", path);
                    co.end();
                });
            });
        }
        ns_json(o.key("ns"), &self.ns);
        if !self.nspid.is_empty() {
            json::array(o.key("nspid"), &self.nspid, |out, n| json::int(out, *n));
        }
        o.opt_int("tracer_pid", self.tracer_pid);
        o.opt_int("seccomp", self.seccomp);
        if let Some(l) = self.label {
            o.raw("label", label_json(l));
        }
        o.opt_int("fd_count", self.fd_count);
        if self.vanished {
            o.bool("vanished", true);
        }
        if !self.errors.is_empty() {
            let mut errors = self.errors.clone();
            errors.sort_unstable_by_key(|(f, _)| *f);
            let mut eo = json::Obj::new(o.key("errors"));
            for (f, k) in errors {
                eo.str(f, k.as_str());
            }
            eo.end();
        }
        o.end();
    }
}

fn fd_kind_json(k: FdKind) -> &'static [u8] {
    match k {
        FdKind::File => b"\"file\"",
        FdKind::Socket => b"\"socket\"",
        FdKind::Pipe => b"\"pipe\"",
        FdKind::Anon => b"\"anon\"",
        FdKind::Memfd => b"\"memfd\"",
        FdKind::Deleted => b"\"deleted\"",
        FdKind::Other => b"\"other\"",
    }
}

/// One row of `tables/fds.jsonl`: serde's JSON for the [`Fd`] of these values.
pub fn fd_row(out: &mut Vec<u8>, pid: u32, fd: u32, target: &[u8], kind: FdKind, socket_inode: Option<u64>) {
    let mut o = json::Obj::new(out);
    o.int("pid", pid);
    o.int("fd", fd);
    o.bytes("target", target);
    o.raw("kind", fd_kind_json(kind));
    o.opt_int("socket_inode", socket_inode);
    o.end();
}

/// The [`Fd`] that [`fd_row`] writes.
pub fn fd_value(pid: u32, fd: u32, target: &[u8], kind: FdKind, socket_inode: Option<u64>) -> Fd {
    Fd { pid, fd, target: ByteString::from(target), kind, socket_inode }
}

fn map_kind_json(k: MapKind) -> &'static [u8] {
    match k {
        MapKind::ExecFile => b"\"exec_file\"",
        MapKind::Deleted => b"\"deleted\"",
        MapKind::Memfd => b"\"memfd\"",
        MapKind::AnonExec => b"\"anon_exec\"",
    }
}

/// One row of `tables/maps.jsonl`: serde's JSON for [`MapRef::to_mapping`].
pub fn map_row(out: &mut Vec<u8>, pid: u32, m: &MapRef<'_>) {
    map_row_head(out, pid);
    map_row_tail(out, m);
}

/// The start of a row of `tables/maps.jsonl`, up to its pid.
pub fn map_row_head(out: &mut Vec<u8>, pid: u32) {
    json::Obj::new(out).int("pid", pid);
}

/// The rest of a row of `tables/maps.jsonl` after its pid: the same for every process with the
/// same mapping. It has no newline (JSON escapes them).
pub fn map_row_tail(out: &mut Vec<u8>, m: &MapRef<'_>) {
    let text = |out: &mut Vec<u8>, b: &[u8]| json::str(out, &String::from_utf8_lossy(b));
    let mut o = json::Obj::continued(out);
    text(o.key("start"), m.start);
    text(o.key("end"), m.end);
    text(o.key("perms"), m.perms);
    o.int("offset", m.offset);
    text(o.key("dev"), m.dev);
    o.int("inode", m.inode);
    if !m.path.is_empty() {
        o.bytes("path", m.path);
    }
    o.raw("kind", map_kind_json(m.kind));
    o.end();
}
