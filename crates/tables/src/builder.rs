//! The builder's state and the steps every table shares: rows written as soon as they are known,
//! errors counted by kind, the counts for the manifest. The steps themselves are modules of their
//! own: [`crate::process`], [`crate::sockets`], [`crate::labels`].

use crate::labels::Labeller;
use crate::sink::{MemorySink, RowSink, Table};
use crate::sockets::NetTable;
use curtain_model::{CollectError, Counts, ErrorKind, Process};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Builds the tables process by process and namespace by namespace, writing each row to the
/// sink as soon as it is known. Only sockets wait for the end, to be joined to all their owners.
#[derive(Debug, Default)]
pub struct Tables<S: RowSink = MemorySink> {
    pub sink: S,
    /// Socket tables as read, parsed at the end once every owner is known: the raw text is
    /// smaller than the parsed sockets.
    pub(crate) net_tables: Vec<NetTable>,
    /// A buffer that the reads being added lie in, shared by their reader (the collector's
    /// sock_diag dumps): socket tables in it are kept as spans of it, not copied, so that a
    /// namespace's dumps are not held twice. See [`Self::share`].
    pub(crate) shared: Option<Arc<Vec<u8>>>,
    /// (socket inode, owner) in reading order; sorted by inode at the end. Flat: 16 bytes an fd,
    /// where a map of vectors costs about 90 per socket.
    pub(crate) owners: Vec<(u64, curtain_model::Owner)>,
    pub(crate) counts: Counts,
    pub(crate) errors_by_kind: BTreeMap<String, u64>,
    pub(crate) hashes: BTreeSet<String>,
    pub(crate) netns: BTreeSet<u64>,
    pub(crate) mntns: BTreeSet<u64>,
    pub(crate) labels: Labeller,
    /// The containers seen in cgroups and what the host's files said of them.
    pub(crate) hosts: crate::containers::Hosts,
    /// The collector's own row and PID 1's, kept for the manifest and the ECS lookup.
    pub kept: Vec<Process>,
    pub(crate) scratch: Vec<u8>,
    /// The last process's cmdline, environ, cgroup and maps with their JSON.
    pub(crate) repeats: crate::row::Repeats,
}

pub(crate) fn error(pid: Option<u32>, path: String, kind: ErrorKind, detail: Option<String>) -> CollectError {
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
            hosts: Default::default(),
            kept: Vec::new(),
            repeats: Default::default(),
            scratch: Vec::with_capacity(4096),
        }
    }

    pub(crate) fn emit<T: serde::Serialize>(&mut self, table: Table, row: &T) {
        self.scratch.clear();
        // Serialising plain data into a Vec cannot fail.
        serde_json::to_writer(&mut self.scratch, row).expect("serialise row");
        self.sink.row(table, &self.scratch);
        if self.scratch.capacity() > 1 << 16 {
            // A huge environment made it big: not kept for the rest.
            self.scratch = Vec::with_capacity(1 << 12);
        }
    }

    pub(crate) fn push_error(&mut self, e: CollectError) {
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
}

impl<S: RowSink> Tables<S> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::TableBytes;
    use crate::{Context, RawProcess};
    use curtain_model::{Clock, ExeStat, Label, Proto, Socket};

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
    fn the_collectors_pipeline_is_the_responders_too() {
        // `sh -c 'produce | awk'` without job control: the reading subshell (the collector's
        // place), its od, and the awk beside it are all the responder's; not the workload.
        let mut t = Tables::new(MemorySink::default(), Some(20));
        t.add_process(&raw(20, "sh", 19, 19).view(), &ctx());
        t.add_process(&raw(19, "sh", 0, 19).view(), &ctx());
        for r in [raw(1, "app", 0, 1), raw(21, "awk", 19, 19), raw(22, "od", 20, 19), raw(23, "sh", 1, 1)] {
            t.add_process(&r.view(), &ctx());
        }
        let labels: Vec<_> = processes(&t).iter().map(|p| (p.pid, p.label)).collect();
        assert_eq!(
            labels,
            [
                (20, Some(Label::SelfCollector)),
                (19, Some(Label::Responder)),
                (1, None),
                (21, Some(Label::Responder)),
                (22, Some(Label::Responder)),
                (23, None)
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
