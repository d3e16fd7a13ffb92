//! Property tests that fuzz every parser: arbitrary bytes never panic, and content a process
//! controls (its name, argv, socket paths) comes back byte-exact from the kernel's formats.
//! Run longer with `PROPTEST_CASES=100000 cargo test -p curtain-parse --test fuzz`.

use curtain_model::{ByteString, Clock, ErrorKind, Proto};
use curtain_parse::{net, proc};
use curtain_tables::{replay, Context, MemorySink, RawProcess, Table, Tables};
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn ctx() -> Context {
    Context {
        clock: Clock {
            realtime_start_ns: 1 << 60,
            boottime_start_ns: 1 << 40,
            clk_tck: 100,
            page_size: 4096,
            little_endian: true,
            ..Default::default()
        },
    }
}

/// Bytes biased towards what breaks /proc parsers: separators, parentheses, NUL, non-UTF-8.
fn hostile_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            any::<u8>(),
            Just(b' '),
            Just(b'\n'),
            Just(b'('),
            Just(b')'),
            Just(b':'),
            Just(b'\0'),
            Just(0xff),
            Just(b'-'),
            Just(b'0'),
        ],
        0..max,
    )
}

fn no_nul(max: usize) -> impl Strategy<Value = Vec<u8>> {
    hostile_bytes(max).prop_map(|v| v.into_iter().filter(|&c| c != 0).collect::<Vec<u8>>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_anything(b in hostile_bytes(600)) {
        let _ = proc::parse_stat(&b);
        let _ = proc::parse_status(&b);
        let _ = proc::split_nul(&b);
        let _ = proc::parse_cgroup(&b);
        let _ = proc::parse_maps(1, &b);
        let _ = proc::parse_mountinfo(1, 1, &b);
        let _ = proc::parse_ns_link(&b);
        let _ = proc::classify_fd(&b);
        let _ = proc::unescape_octal(&b);
        for p in Proto::ALL {
            let _ = net::parse_inet_table(p, 1, &b, true, &mut |_| {});
        }
        let _ = net::parse_unix_table(1, &b, &mut |_| {});
        for p in [Proto::Tcp, Proto::Udp] {
            let _ = curtain_parse::diag::parse_inet_diag(p, 1, &b, true, &mut |_| {});
        }
        let _ = curtain_parse::diag::parse_unix_diag(1, &b, true, &mut |_| {});
        let _ = proc::maps_kept(&b);
        let _ = proc::cgroup_lines(&b).map(|l| l.count());
        let _ = curtain_parse::ecs::parse_metadata(Some(&b), Some(&b));
        let _ = curtain_parse::parse_btime(&b, 100, 4096);
        let _ = replay::rebuild(&b, |_| None, &ctx(), MemorySink::default());
    }

    #[test]
    fn any_comm_comes_back_exact(comm in no_nul(64), starttime in any::<u64>(), ppid in 0i32..i32::MAX) {
        let mut line = b"4242 (".to_vec();
        line.extend_from_slice(&comm);
        line.extend_from_slice(
            format!(") S {ppid} 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {starttime} 0 0\n").as_bytes(),
        );
        let s = proc::parse_stat(&line).unwrap();
        prop_assert_eq!(s.comm, comm);
        prop_assert_eq!(s.ppid, ppid);
        prop_assert_eq!(s.starttime, starttime);
    }

    #[test]
    fn argv_round_trips(args in prop::collection::vec(no_nul(40), 1..8)) {
        let mut b = Vec::new();
        for a in &args {
            b.extend_from_slice(a);
            b.push(0);
        }
        let got: Vec<Vec<u8>> = proc::split_nul(&b).into_iter().map(|x| x.0).collect();
        prop_assert_eq!(got, args);
    }

    #[test]
    fn inet_entries_round_trip(v6 in any::<bool>(), a in any::<[u8; 16]>(), port in any::<u16>(),
                               rport in any::<u16>(), st in 1u8..=13, inode in any::<u64>(), uid in any::<u32>()) {
        // The kernel prints each 32-bit word of the address in host order.
        let words = |bytes: &[u8]| -> String {
            bytes.chunks(4).map(|w| format!("{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]]))).collect()
        };
        let (local, ip) = if v6 {
            (words(&a), Ipv6Addr::from(a).to_string())
        } else {
            (words(&a[..4]), Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string())
        };
        let zero = if v6 { "0".repeat(32) } else { "0".repeat(8) };
        let table = format!(
            "header\n   0: {local}:{port:04X} {zero}:{rport:04X} {st:02X} 00000000:00000000 00:00000000 00000000 {uid:>5}        0 {inode} 1 0000000000000000 100 0 0 10 0\n"
        );
        let proto = if v6 { Proto::Tcp6 } else { Proto::Tcp };
        let mut s = Vec::new();
        let e = net::parse_inet_table(proto, 9, table.as_bytes(), true, &mut |x| s.push(x));
        prop_assert!(e.is_empty());
        prop_assert_eq!(s.len(), 1);
        let l = s[0].local.as_ref().unwrap();
        prop_assert_eq!(&l.ip, &ip);
        prop_assert_eq!(l.port, port);
        prop_assert_eq!(s[0].remote.as_ref().unwrap().port, rport);
        prop_assert_eq!((s[0].inode, s[0].uid), (inode, Some(uid)));
        prop_assert_eq!(s[0].state.as_str(), net::tcp_state_name(st).unwrap());
    }

    #[test]
    fn unix_paths_come_back_exact(path in no_nul(100).prop_map(|v| {
        let mut p: Vec<u8> = v.into_iter().filter(|&c| c != b'\n').collect();
        p.insert(0, b'/');
        p
    }), inode in 1u64..u64::MAX) {
        let mut t = b"Num       RefCount Protocol Flags    Type St Inode Path\n".to_vec();
        t.extend_from_slice(format!("0000000000000000: 00000002 00000000 00010000 0001 01 {inode:5} ").as_bytes());
        t.extend_from_slice(&path);
        t.push(b'\n');
        let mut s = Vec::new();
        let e = net::parse_unix_table(1, &t, &mut |x| s.push(x));
        prop_assert!(e.is_empty());
        prop_assert_eq!(s[0].inode, inode);
        prop_assert_eq!(s[0].path.clone(), Some(ByteString(path)));
    }

    #[test]
    fn byte_strings_survive_json(b in hostile_bytes(80)) {
        let v = ByteString(b);
        let json = serde_json::to_string(&v).unwrap();
        let back: ByteString = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, v);
    }

    #[test]
    fn table_builder_never_panics(stat in hostile_bytes(300), status in hostile_bytes(300), maps in hostile_bytes(300),
                                  link in hostile_bytes(60), nlink in 0u64..3) {
        let mut r = RawProcess { pid: 7, ..Default::default() };
        r.files.insert("stat".into(), Ok(stat));
        r.files.insert("status".into(), Ok(status));
        r.files.insert("maps".into(), Ok(maps));
        r.files.insert("environ".into(), Err(ErrorKind::EACCES));
        r.links.insert("exe".into(), Ok(link.clone()));
        r.links.insert("ns/net".into(), Ok(link.clone()));
        r.exe = Some(Ok(curtain_model::ExeStat { nlink, ..Default::default() }));
        r.fds = Some(Ok(vec![(0, Ok(link.clone())), (1, Err(ErrorKind::ENOENT))]));
        let mut t = Tables::new(MemorySink::default(), Some(7));
        t.add_process(&r.view(), &ctx());
        t.add_net_table(1, 7, Proto::Unix, Ok(&link), true);
        t.add_mountinfo(1, 7, Ok(&link));
        let counts = t.finish();
        prop_assert_eq!(counts.processes, 1);
        prop_assert_eq!(t.sink.rows::<curtain_model::Process>(Table::Processes).len(), 1);
    }
}
