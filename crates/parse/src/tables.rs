//! From raw reads to the archive's tables.
//!
//! The collector and `curtain reparse` both feed what was read (live, or from `raw/` of an
//! archive) through [`Tables`], so a table is always a pure function of the raw evidence: a
//! parser fix applies to old archives, and an untouched archive reparses to identical bytes.

use crate::{ecs, net, proc};
use curtain_model::{
    ByteString, Clock, CollectError, Counts, ErrorKind, Exe, ExeStat, Fd, FdKind, Label, Mapping, Mount, Process,
    Proto, Socket,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What one read gave: the bytes, or why there are none.
pub type RawResult = Result<Vec<u8>, ErrorKind>;

/// The files read for each process, in reading order.
pub const PROCESS_FILES: [&str; 6] = ["stat", "status", "cmdline", "environ", "cgroup", "maps"];
/// The links read for each process besides ns/* and fd/*.
pub const PROCESS_LINKS: [&str; 3] = ["exe", "cwd", "root"];

/// Everything read of one process.
#[derive(Debug, Default, Clone)]
pub struct RawProcess {
    pub pid: u32,
    /// By name (`stat`, `environ`...). A file that was not asked for (environ with
    /// `--no-environ`) is absent.
    pub files: BTreeMap<String, RawResult>,
    /// By name (`exe`, `cwd`, `root`, `ns/net`...).
    pub links: BTreeMap<String, RawResult>,
    /// /proc/PID/exe opened and hashed.
    pub exe: Option<Result<ExeStat, ErrorKind>>,
    /// The fd directory listed, each fd with its link target.
    pub fds: Option<Result<Vec<(u32, RawResult)>, ErrorKind>>,
    /// Files larger than the cap: what is kept is a prefix.
    pub truncated: BTreeSet<String>,
    /// The re-check after reading failed: the process was gone.
    pub vanished: bool,
}

/// Host facts needed to interpret what was read.
#[derive(Debug, Clone)]
pub struct Context {
    pub clock: Clock,
}

/// The tables of one archive, filled process by process and namespace by namespace.
#[derive(Debug, Default)]
pub struct Tables {
    pub processes: Vec<Process>,
    pub fds: Vec<Fd>,
    pub maps: Vec<Mapping>,
    pub sockets: Vec<Socket>,
    pub mounts: Vec<Mount>,
    pub errors: Vec<CollectError>,
    netns: BTreeSet<u64>,
    mntns: BTreeSet<u64>,
}

fn error(pid: Option<u32>, path: String, kind: ErrorKind, detail: Option<String>) -> CollectError {
    CollectError { pid, path, kind, detail }
}

impl Tables {
    /// Records an error that belongs to no table row (a pid that vanished before its first read,
    /// an unreadable /proc/stat).
    pub fn add_error(&mut self, pid: Option<u32>, path: String, kind: ErrorKind, detail: Option<String>) {
        self.errors.push(error(pid, path, kind, detail));
    }

    /// Builds the process row and its fds and maps from what was read of it.
    pub fn add_process(&mut self, raw: &RawProcess, ctx: &Context) {
        let pid = raw.pid;
        let mut p = Process { pid, vanished: raw.vanished, ..Default::default() };
        let mut errs: Vec<(String, String, ErrorKind, Option<String>)> = Vec::new();
        let file = |name: &str| raw.files.get(name);

        let mut kernel_thread = false;
        match file("stat") {
            Some(Ok(b)) => match proc::parse_stat(b) {
                Ok(st) => {
                    p.ppid = st.ppid.max(0) as u32;
                    p.starttime_ticks = st.starttime;
                    p.started_at = Some(curtain_model::format_rfc3339_ns(ctx.clock.ticks_to_wall_ns(st.starttime)));
                    p.comm = ByteString(st.comm);
                    p.state = (st.state as char).to_string();
                    p.pgrp = Some(st.pgrp);
                    p.session = Some(st.session);
                    p.tty_nr = Some(st.tty_nr);
                    p.threads = u32::try_from(st.num_threads).ok();
                    kernel_thread = st.flags & proc::PF_KTHREAD != 0;
                }
                Err(e) => errs.push(("stat".into(), "stat".into(), ErrorKind::Parse, Some(e.0))),
            },
            Some(Err(k)) => errs.push(("stat".into(), "stat".into(), *k, None)),
            None => {}
        }
        p.kernel_thread = kernel_thread;
        // A kernel thread has no memory, exe, cwd or root: ENOENT and ESRCH there are expected.
        let quiet = |k: &ErrorKind| kernel_thread && matches!(k, ErrorKind::ENOENT | ErrorKind::ESRCH);

        match file("status") {
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
                p.nspid = st.nspid;
                p.seccomp = st.seccomp;
                if p.threads.is_none() {
                    p.threads = st.threads;
                }
            }
            Some(Err(k)) => errs.push(("status".into(), "status".into(), *k, None)),
            None => {}
        }

        for name in ["cmdline", "environ"] {
            match file(name) {
                Some(Ok(b)) => {
                    let v = Some(proc::split_nul(b));
                    if name == "cmdline" {
                        p.cmdline = v
                    } else {
                        p.environ = v
                    }
                }
                Some(Err(k)) if !quiet(k) => errs.push((name.into(), name.into(), *k, None)),
                _ => {}
            }
        }

        match file("cgroup") {
            Some(Ok(b)) => match proc::parse_cgroup(b) {
                Ok(c) => p.cgroup = Some(c),
                Err(e) => errs.push(("cgroup".into(), "cgroup".into(), ErrorKind::Parse, Some(e.0))),
            },
            Some(Err(k)) => errs.push(("cgroup".into(), "cgroup".into(), *k, None)),
            None => {}
        }

        match file("maps") {
            Some(Ok(b)) => match proc::parse_maps(pid, b) {
                Ok(m) => self.maps.extend(m),
                Err(e) => errs.push(("maps".into(), "maps".into(), ErrorKind::Parse, Some(e.0))),
            },
            Some(Err(k)) if !quiet(k) => errs.push(("maps".into(), "maps".into(), *k, None)),
            _ => {}
        }

        let link = |name: &str| raw.links.get(name);
        let mut exe_path = None;
        match link("exe") {
            Some(Ok(t)) => exe_path = Some(ByteString(t.clone())),
            Some(Err(k)) if !quiet(k) => errs.push(("exe".into(), "exe".into(), *k, None)),
            _ => {}
        }
        if let Some(path) = exe_path {
            let mut exe = Exe { memfd: proc::is_memfd_path(&path.0), path, ..Default::default() };
            match &raw.exe {
                Some(Ok(st)) => {
                    exe.deleted = Some(st.nlink == 0);
                    exe.sha256 = st.sha256.clone();
                    exe.size = Some(st.size);
                    exe.nlink = Some(st.nlink);
                    exe.dev = Some(st.dev);
                    exe.inode = Some(st.inode);
                    exe.mtime = Some(st.mtime);
                    exe.carved = st.carved.clone();
                }
                Some(Err(k)) => errs.push(("exe_file".into(), "exe".into(), *k, None)),
                None => {}
            }
            p.exe = Some(exe);
        }
        for name in ["cwd", "root"] {
            match link(name) {
                Some(Ok(t)) => {
                    let v = Some(ByteString(t.clone()));
                    if name == "cwd" {
                        p.cwd = v
                    } else {
                        p.root = v
                    }
                }
                Some(Err(k)) if !quiet(k) => errs.push((name.into(), name.into(), *k, None)),
                _ => {}
            }
        }
        for ns in curtain_model::NAMESPACE_NAMES {
            let key = format!("ns/{ns}");
            match link(&key) {
                Some(Ok(t)) => match proc::parse_ns_link(t) {
                    Some(inode) => p.ns.set(ns, inode),
                    None => {
                        errs.push((key.clone(), key, ErrorKind::Parse, Some(String::from_utf8_lossy(t).into_owned())))
                    }
                },
                // Older kernels lack some namespaces (time, cgroup): not worth an error row.
                Some(Err(ErrorKind::ENOENT)) if ns == "time" || ns == "cgroup" => {}
                Some(Err(k)) => errs.push((key.clone(), key, *k, None)),
                None => {}
            }
        }

        match &raw.fds {
            Some(Ok(list)) => {
                p.fd_count = Some(list.len() as u32);
                for (fd, target) in list {
                    match target {
                        Ok(t) => {
                            let (kind, socket_inode) = proc::classify_fd(t);
                            self.fds.push(Fd { pid, fd: *fd, target: ByteString(t.clone()), kind, socket_inode });
                        }
                        // Closed between listing and reading: an fd that is no longer there.
                        Err(ErrorKind::ENOENT) => {}
                        Err(k) => errs.push(("fd".into(), format!("fd/{fd}"), *k, None)),
                    }
                }
            }
            Some(Err(k)) => errs.push(("fd".into(), "fd".into(), *k, None)),
            None => {}
        }

        for name in &raw.truncated {
            errs.push((name.clone(), name.clone(), ErrorKind::Truncated, None));
        }
        for (field, path, kind, detail) in errs {
            // The first error of a field is the one the row names.
            p.errors.entry(field).or_insert(kind);
            self.errors.push(error(Some(pid), format!("{pid}/{path}"), kind, detail));
        }
        if p.vanished {
            self.errors.push(error(Some(pid), format!("{pid}"), ErrorKind::Vanished, None));
        }
        self.processes.push(p);
    }

    /// Adds the sockets of one /proc/PID/net/* table read for network namespace `netns`.
    pub fn add_net_table(&mut self, netns: u64, pid: u32, proto: Proto, read: &RawResult, little_endian: bool) {
        self.netns.insert(netns);
        let path = format!("{pid}/net/{}", proto.table());
        match read {
            Ok(b) => {
                let (sockets, errors) = match proto {
                    Proto::Unix => net::parse_unix_table(netns, b),
                    _ => net::parse_inet_table(proto, netns, b, little_endian),
                };
                self.sockets.extend(sockets);
                for e in errors {
                    self.errors.push(error(Some(pid), path.clone(), ErrorKind::Parse, Some(e.0)));
                }
            }
            // No IPv6 in that namespace's kernel, for instance.
            Err(k) => self.errors.push(error(Some(pid), path, *k, None)),
        }
    }

    /// Adds the mounts of one mount namespace, from the mountinfo of one of its processes.
    pub fn add_mountinfo(&mut self, mntns: u64, pid: u32, read: &RawResult) {
        self.mntns.insert(mntns);
        let path = format!("{pid}/mountinfo");
        match read {
            Ok(b) => match proc::parse_mountinfo(mntns, pid, b) {
                Ok(m) => self.mounts.extend(m),
                Err(e) => self.errors.push(error(Some(pid), path, ErrorKind::Parse, Some(e.0))),
            },
            Err(k) => self.errors.push(error(Some(pid), path, *k, None)),
        }
    }

    /// Joins sockets to every (pid, fd) that holds them and labels the collector, its
    /// responder session and the SSM agent. `self_pid` is the collector's pid as the proc tree
    /// numbers it (`None` for a tree that is not the live one).
    pub fn finish(&mut self, self_pid: Option<u32>) {
        let mut owners: HashMap<u64, Vec<curtain_model::Owner>> = HashMap::new();
        for fd in &self.fds {
            if let (FdKind::Socket, Some(inode)) = (fd.kind, fd.socket_inode) {
                owners.entry(inode).or_default().push(curtain_model::Owner { pid: fd.pid, fd: fd.fd });
            }
        }
        for s in &mut self.sockets {
            if let Some(o) = owners.get(&s.inode) {
                s.owners = o.clone();
            }
            s.owner_visible = !s.owners.is_empty();
        }
        assign_labels(&mut self.processes, self_pid);
    }

    pub fn counts(&self) -> Counts {
        let hashed: BTreeSet<&str> = self.processes.iter().filter_map(|p| p.exe.as_ref()?.sha256.as_deref()).collect();
        Counts {
            processes: self.processes.len() as u64,
            kernel_threads: self.processes.iter().filter(|p| p.kernel_thread).count() as u64,
            fds: self.fds.len() as u64,
            sockets: self.sockets.len() as u64,
            sockets_with_owner: self.sockets.iter().filter(|s| s.owner_visible).count() as u64,
            netns: self.netns.len() as u64,
            mntns: self.mntns.len() as u64,
            maps: self.maps.len() as u64,
            mounts: self.mounts.len() as u64,
            executables_hashed: hashed.len() as u64,
            errors: self.errors.len() as u64,
            raw_bytes: 0,
        }
    }

    pub fn errors_by_kind(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for e in &self.errors {
            *m.entry(e.kind.as_str().to_string()).or_insert(0) += 1;
        }
        m
    }

    /// The tables as `(member name, JSON lines)`, in archive order.
    pub fn to_jsonl(&self) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("tables/processes.jsonl", jsonl(&self.processes)),
            ("tables/fds.jsonl", jsonl(&self.fds)),
            ("tables/sockets.jsonl", jsonl(&self.sockets)),
            ("tables/maps.jsonl", jsonl(&self.maps)),
            ("tables/mounts.jsonl", jsonl(&self.mounts)),
            ("tables/errors.jsonl", jsonl(&self.errors)),
        ]
    }
}

/// One JSON document per row, each ending in a newline.
pub fn jsonl<T: serde::Serialize>(rows: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 256);
    for r in rows {
        // Serialising plain data into a Vec cannot fail.
        serde_json::to_writer(&mut out, r).expect("serialise row");
        out.push(b'\n');
    }
    out
}

/// Where ECS Exec's agent is bind-mounted in every task container.
pub const SSM_AGENT_DIR: &[u8] = b"/managed-agents/execute-command/";

/// Programs that stand between a responder's shell and the collector.
const WRAPPERS: [&[u8]; 11] =
    [b"sudo", b"su", b"doas", b"setpriv", b"nsenter", b"chroot", b"timeout", b"env", b"unshare", b"script", b"runuser"];

fn assign_labels(procs: &mut [Process], self_pid: Option<u32>) {
    let index: HashMap<u32, usize> = procs.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
    for p in procs.iter_mut() {
        let in_agent_dir = |b: &[u8]| b.starts_with(SSM_AGENT_DIR);
        let exe = p.exe.as_ref().is_some_and(|e| in_agent_dir(&e.path.0));
        let argv0 = p.cmdline.as_ref().and_then(|c| c.first()).is_some_and(|a| in_agent_dir(&a.0));
        if exe || argv0 {
            p.label = Some(Label::SsmAgent);
        }
    }
    let Some(&me) = self_pid.as_ref().and_then(|pid| index.get(pid)) else {
        return;
    };
    procs[me].label = Some(Label::SelfCollector);
    let mut session = procs[me].session;
    let mut cur = procs[me].ppid;
    let mut seen = BTreeSet::new();
    while cur > 1 && seen.insert(cur) {
        let Some(&i) = index.get(&cur) else { break };
        let p = &mut procs[i];
        if p.label.is_some() {
            break; // the SSM agent: the session's plumbing ends there
        }
        let wrapper = WRAPPERS.contains(&p.comm.0.as_slice());
        if !(wrapper || (p.session.is_some() && p.session == session)) {
            break;
        }
        p.label = Some(Label::Responder);
        if wrapper {
            session = p.session;
        }
        cur = p.ppid;
    }
}

/// The ECS identity from the two metadata documents the collector fetched.
pub fn ecs_identity(container: Option<&[u8]>, task: Option<&[u8]>) -> Option<curtain_model::EcsIdentity> {
    ecs::parse_metadata(container, task)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn raw(pid: u32, comm: &str, ppid: u32, session: u32) -> RawProcess {
        let mut r = RawProcess { pid, ..Default::default() };
        r.files.insert("stat".into(), Ok(stat(pid, comm, ppid, session, 500)));
        r.links.insert("exe".into(), Ok(format!("/usr/bin/{comm}").into_bytes()));
        r
    }

    #[test]
    fn start_time_from_the_clocks() {
        let mut t = Tables::default();
        t.add_process(&raw(10, "sh", 1, 10), &ctx());
        // boot at 1_800_000_000 - 100 s; started 5 s after boot.
        assert_eq!(
            t.processes[0].started_at.as_deref(),
            Some(curtain_model::format_rfc3339_ns(1_799_999_905_000_000_000)).as_deref()
        );
        assert_eq!(t.processes[0].starttime_ticks, 500);
    }

    #[test]
    fn errors_are_rows_and_fields() {
        let mut r = raw(11, "app", 1, 11);
        r.files.insert("environ".into(), Err(ErrorKind::EACCES));
        r.links.insert("ns/net".into(), Err(ErrorKind::EACCES));
        r.vanished = true;
        let mut t = Tables::default();
        t.add_process(&r, &ctx());
        let p = &t.processes[0];
        assert_eq!(p.errors.get("environ"), Some(&ErrorKind::EACCES));
        assert_eq!(p.errors.get("ns/net"), Some(&ErrorKind::EACCES));
        assert!(p.vanished);
        let paths: Vec<_> = t.errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
        assert_eq!(
            paths,
            [("11/environ", ErrorKind::EACCES), ("11/ns/net", ErrorKind::EACCES), ("11", ErrorKind::Vanished)]
        );
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
        let mut t = Tables::default();
        for r in [a, b, c] {
            t.add_process(&r, &ctx());
        }
        let e: Vec<_> = t.processes.iter().map(|p| p.exe.clone().unwrap()).collect();
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
        let mut t = Tables::default();
        t.add_process(&r, &ctx());
        let table = b"h\n0: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000 0 0 900 1\n1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 901 1\n";
        t.add_net_table(4026531840, 30, Proto::Tcp, &Ok(table.to_vec()), true);
        t.finish(None);
        assert_eq!(t.fds.len(), 3);
        let s = &t.sockets;
        assert_eq!(s[0].owners.iter().map(|o| o.fd).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(s[0].owner_visible);
        assert!(!s[1].owner_visible && s[1].owners.is_empty());
        assert_eq!(t.counts().netns, 1);
    }

    #[test]
    fn labels_self_responder_and_agent() {
        let mut t = Tables::default();
        let mut agent = raw(5, "ssm-session-wor", 1, 5);
        agent.links.insert("exe".into(), Ok(b"/managed-agents/execute-command/ssm-session-worker".to_vec()));
        for r in [
            raw(1, "app", 0, 1),
            agent,
            raw(6, "sh", 5, 6),
            raw(7, "sudo", 6, 6),
            raw(8, "curtain", 7, 8),
            raw(9, "worker", 1, 1),
        ] {
            t.add_process(&r, &ctx());
        }
        t.finish(Some(8));
        let labels: Vec<_> = t.processes.iter().map(|p| (p.pid, p.label)).collect();
        assert_eq!(
            labels,
            [
                (1, None),
                (5, Some(Label::SsmAgent)),
                (6, Some(Label::Responder)),
                (7, Some(Label::Responder)),
                (8, Some(Label::SelfCollector)),
                (9, None)
            ]
        );
    }

    #[test]
    fn kernel_threads_have_no_exe_errors() {
        let mut r = RawProcess { pid: 2, ..Default::default() };
        r.files.insert(
            "stat".into(),
            Ok(b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 0\n".to_vec()),
        );
        r.links.insert("exe".into(), Err(ErrorKind::ENOENT));
        let mut t = Tables::default();
        t.add_process(&r, &ctx());
        assert!(t.processes[0].kernel_thread);
        assert!(t.errors.is_empty());
    }
}
