//! The rows and log lines written by hand are byte for byte what serde_json writes for the
//! model's types, on hostile content: a reader deserialising with serde sees no difference.

use curtain_model::{ErrorKind, ExeStat, FdKind, Label, MapKind, Namespaces, RawRecord};
use curtain_parse::proc::MapRef;
use curtain_tables::record::{Failure, LinkName, LinkRef, RecordRef};
use curtain_tables::row::{self, ExeRow, ProcRow};
use proptest::prelude::*;

/// Bytes biased towards what needs escaping or is not UTF-8.
fn nasty(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![any::<u8>(), Just(b'"'), Just(b'\\'), Just(0), Just(b'\n'), Just(0x1f), Just(0xff), Just(b'a')],
        0..max,
    )
}

fn kind() -> impl Strategy<Value = ErrorKind> {
    prop_oneof![
        Just(ErrorKind::ENOENT),
        Just(ErrorKind::EACCES),
        Just(ErrorKind::EPERM),
        Just(ErrorKind::ESRCH),
        Just(ErrorKind::Vanished),
        Just(ErrorKind::Parse),
        Just(ErrorKind::Truncated),
        Just(ErrorKind::Other),
        Just(ErrorKind::NotFollowed),
        Just(ErrorKind::NotRegular),
    ]
}

fn failure() -> impl Strategy<Value = Failure> {
    (kind(), prop::option::of(any::<i32>())).prop_map(|(kind, errno)| Failure { kind, errno })
}

fn exe_stat() -> impl Strategy<Value = ExeStat> {
    (any::<u64>(), any::<u64>(), 0u64..3, any::<u64>(), any::<i64>(), prop::option::of("[0-9a-f]{64}"), any::<bool>())
        .prop_map(|(dev, inode, nlink, size, mtime, sha256, carved)| ExeStat {
            dev,
            inode,
            nlink,
            size,
            mtime,
            carved: carved.then(|| format!("files/{}", sha256.clone().unwrap_or_default())),
            carved_truncated: carved && size % 2 == 0,
            sha256,
        })
}

thread_local! {
    static REPEATS: std::cell::RefCell<row::Repeats> = Default::default();
}

const FIELDS: [&str; 8] = ["stat", "environ", "exe", "exe_file", "ns/net", "fd", "maps", "cgroup"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn process_rows(comm in nasty(20), cmdline in prop::option::of(nasty(60)), environ in prop::option::of(nasty(80)),
                    cwd in prop::option::of(nasty(20)), exe_path in prop::option::of(nasty(30)), stat in prop::option::of(exe_stat()),
                    cgroup in prop::option::of(prop::sample::select(vec![&b"0::/\n"[..], b"12:cpu,cpuacct:/docker/ab\n0::/x:y\n", b""])),
                    nums in any::<(u32, u32, u64, Option<u64>, Option<u32>, Option<i32>, Option<u32>, Option<u8>)>(),
                    state in prop::option::of(any::<u8>()), kthread in any::<bool>(), vanished in any::<bool>(),
                    cap in prop::option::of("[0-9a-f]{16}"), nspid in prop::collection::vec(any::<u32>(), 0..3),
                    label in prop::option::of(prop::sample::select(vec![Label::SelfCollector, Label::Responder, Label::SsmAgent])),
                    ns in prop::collection::vec(prop::option::of(any::<u64>()), 8), errors in prop::collection::vec((0usize..8, kind()), 0..4)) {
        let (pid, ppid, ticks, started, threads, pgrp, uid, seccomp) = nums;
        let exe_stat = stat;
        let mut p = ProcRow {
            pid, ppid: Some(ppid), starttime_ticks: Some(ticks), started_at_ns: started, comm: Some(&comm), state: state.map(|b| b as char),
            threads, pgrp, session: pgrp.map(|g| g.wrapping_add(1)), tty_nr: pgrp, uid, euid: uid, gid: uid.map(|u| u ^ 1), egid: None,
            cap_eff: cap.as_deref(), kernel_thread: kthread,
            exe: exe_path.as_deref().map(|path| ExeRow { path, stat: exe_stat.as_ref() }),
            cmdline: cmdline.as_deref(), environ: environ.as_deref(), cwd: cwd.as_deref(), root: Some(b"/"),
            cgroup, nspid, tracer_pid: uid, seccomp, label, fd_count: threads, vanished,
            ns: Namespaces { mnt: ns[0], net: ns[1], pid: ns[2], uts: ns[3], ipc: ns[4], user: ns[5], cgroup: ns[6], time: ns[7] },
            errors: Vec::new(),
        };
        for (f, k) in errors {
            p.error(FIELDS[f], k);
        }
        let mut out = Vec::new();
        p.write_json(&mut out);
        let want = serde_json::to_vec(&p.to_process()).unwrap();
        prop_assert_eq!(&out, &want, "{}\n{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&want));
        // The same through the last rows' JSON: kept across cases (whose cgroups often repeat)
        // and written twice in a row.
        REPEATS.with(|r| -> Result<(), TestCaseError> {
            for _ in 0..2 {
                let mut out = Vec::new();
                p.write_json_with(&mut out, &mut r.borrow_mut());
                prop_assert_eq!(&out, &want);
            }
            Ok(())
        })?;
    }

    #[test]
    fn fd_and_map_rows(pid in any::<u32>(), fd in any::<u32>(), target in nasty(40), inode in prop::option::of(any::<u64>()),
                       k in 0usize..7, path in nasty(30), offset in any::<u64>(), mk in 0usize..4) {
        let kinds = [FdKind::File, FdKind::Socket, FdKind::Pipe, FdKind::Anon, FdKind::Memfd, FdKind::Deleted, FdKind::Other];
        let mut out = Vec::new();
        row::fd_row(&mut out, pid, fd, &target, kinds[k], inode);
        prop_assert_eq!(out, serde_json::to_vec(&row::fd_value(pid, fd, &target, kinds[k], inode)).unwrap());
        let m = MapRef { start: b"7f00", end: &target, perms: b"r-xp", offset, dev: b"fe:00", inode: offset ^ 7, path: &path,
                         kind: [MapKind::ExecFile, MapKind::Deleted, MapKind::Memfd, MapKind::AnonExec][mk] };
        let mut out = Vec::new();
        row::map_row(&mut out, pid, &m);
        prop_assert_eq!(out, serde_json::to_vec(&m.to_mapping(pid)).unwrap());
    }

    #[test]
    fn read_log_lines(pid in any::<u32>(), which in 0usize..8, bytes in nasty(50), fail in prop::option::of(failure()),
                      truncated in any::<bool>(), netns in prop::option::of(any::<u64>()), mntns in prop::option::of(any::<u64>()),
                      targets in prop::collection::vec((prop::option::of(nasty(30)), failure(), any::<u32>(), any::<bool>()), 0..5),
                      exe in exe_stat()) {
        let got = match fail { Some(f) => Err(f), None => Ok(&bytes[..]) };
        let links: Vec<LinkRef> = targets.iter().map(|(t, f, n, named)| LinkRef {
            name: if *named { LinkName::Named("ns/net") } else { LinkName::Fd(*n) },
            got: t.as_deref().ok_or(*f),
        }).collect();
        let rec = match which {
            0 => RecordRef::Opendir(fail),
            1 => RecordRef::Read { name: "net/tcp6", got, truncated, netns, mntns },
            2 => RecordRef::Netlink { name: "net/tcp46", netns: netns.unwrap_or(1), got },
            3 => RecordRef::Links(&links),
            4 => RecordRef::Fds(match fail { Some(f) => Err(f), None => Ok(&links) }),
            5 => RecordRef::Exe(match fail { Some(f) => Err(f), None => Ok(&exe) }),
            6 => RecordRef::Readlink { name: "", got },
            _ => RecordRef::Readlink { name: "net", got },
        };
        let mut out = Vec::new();
        rec.write_json(pid, &mut out);
        let raw = rec.to_raw(pid);
        let want = serde_json::to_vec(&raw).unwrap();
        prop_assert_eq!(&out, &want, "{}\n{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&want));
        // And back: what reparse reads is what was written.
        let back: RawRecord = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(back, raw);
    }
}
