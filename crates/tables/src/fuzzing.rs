//! What the coverage-guided fuzz targets in `fuzz/` run, kept here so that `cargo test` replays
//! their corpus and every crash they found through exactly the same code (crates/parse/tests/
//! fuzz_corpus.rs), on stable Rust and without libFuzzer.
//!
//! Each entry point takes the fuzzer's bytes, must never panic on any input, and asserts the
//! invariants that hold for every input: a panic here is a finding. Not part of the crate's API.

use crate::{replay, Context, MemorySink, Table};
use curtain_model::{ByteString, Clock, CollectError, Fd, Mapping, Mount, Process, Proto, RawOp, RawRecord, Socket};
use curtain_parse::{diag, ecs, net, proc};
use std::collections::BTreeMap;
use std::io::Write;

/// The parsers [`proc_parsers`] chooses from, by the first input byte (its low 7 bits modulo
/// their count; the high bit is a flag: little-endian for the socket tables, colours for
/// `TermSafe`). Their order is the corpus's format: append, never reorder.
pub const PARSERS: [&str; 24] = [
    "stat",
    "status",
    "nul_split",
    "cgroup",
    "maps",
    "mountinfo",
    "link_target",
    "unescape_octal",
    "net_tcp",
    "net_tcp6",
    "net_udp",
    "net_udp6",
    "net_raw",
    "net_raw6",
    "net_unix",
    "diag_tcp",
    "diag_udp",
    "diag_unix",
    "ecs_metadata",
    "btime",
    "term",
    "term_safe",
    "json_bytes",
    "rfc3339",
];

/// The selector byte that makes [`proc_parsers`] run `name` (for seeds), with the flag set.
pub fn selector(name: &str, flag: bool) -> Option<u8> {
    let i = PARSERS.iter().position(|p| *p == name)? as u8;
    Some(i | if flag { 0x80 } else { 0 })
}

/// How many lines `b.split('\n')` gives: no table or list has more rows than this.
fn line_count(b: &[u8]) -> usize {
    proc::lines(b).count()
}

/// Every socket a table parser hands on, with its errors.
fn sockets(parse: impl FnOnce(&mut dyn FnMut(Socket)) -> Vec<proc::ParseError>) -> (Vec<Socket>, usize) {
    let mut out = Vec::new();
    let errors = parse(&mut |s| out.push(s)).len();
    (out, errors)
}

/// One parser, chosen by the first byte, on the rest of the input.
pub fn proc_parsers(data: &[u8]) {
    let Some((&sel, b)) = data.split_first() else { return };
    let flag = sel & 0x80 != 0;
    let lines = line_count(b);
    let name = PARSERS[(sel & 0x7f) as usize % PARSERS.len()];
    match name {
        "stat" => {
            if let Ok(s) = proc::parse_stat(b) {
                // The comm lies between the parentheses, inside the input.
                assert!(s.comm.len() + 2 <= b.len());
            }
        }
        "status" => {
            let s = proc::parse_status(b);
            assert!(s.nspid().count() <= b.len());
            if let Some(cap) = s.cap_eff {
                assert!(!cap.is_empty() && cap.bytes().all(|c| c.is_ascii_hexdigit()));
            }
        }
        "nul_split" => {
            let items = proc::split_nul(b);
            assert!(items.len() <= memchr::memchr_iter(0, b).count() + 1);
            assert!(items.iter().all(|i| !i.0.contains(&0)), "an item holds a NUL");
            // Joined with NULs again, the items are the input less one trailing NUL.
            let joined = items.iter().map(|i| i.0.as_slice()).collect::<Vec<_>>().join(&0u8);
            assert_eq!(joined, b.strip_suffix(&[0]).unwrap_or(b));
        }
        "cgroup" => {
            let parsed = proc::parse_cgroup(b);
            let borrowed = proc::cgroup_lines(b).map(|l| l.count());
            assert_eq!(parsed.as_ref().map(Vec::len).ok(), borrowed.as_ref().ok().copied());
            if let Ok(v) = parsed {
                assert!(v.len() <= lines);
            }
        }
        "maps" => {
            let kept = proc::maps_kept(b);
            let parsed = proc::parse_maps(1, b);
            assert_eq!(kept.as_ref().map(Vec::len).ok(), parsed.as_ref().map(Vec::len).ok());
            if let Ok(v) = kept {
                assert!(v.len() <= lines);
            }
        }
        "mountinfo" => {
            if let Ok(v) = proc::parse_mountinfo(1, 1, b) {
                assert!(v.len() <= lines);
            }
        }
        "link_target" => {
            let _ = proc::parse_ns_link(b);
            let (kind, inode) = proc::classify_fd(b);
            assert_eq!(proc::is_memfd_path(b), kind == curtain_model::FdKind::Memfd);
            assert!(inode.is_none() || kind == curtain_model::FdKind::Socket);
        }
        "unescape_octal" => assert!(proc::unescape_octal(b).len() <= b.len()),
        t @ ("net_tcp" | "net_tcp6" | "net_udp" | "net_udp6" | "net_raw" | "net_raw6") => {
            let proto = Proto::from_table(&t[4..]).expect("a table name");
            let (s, errors) = sockets(|e| net::parse_inet_table(proto, 1, b, flag, e));
            // The header is not a row; every other line is a socket or an error, or blank.
            assert!(s.len() + errors < lines.max(1), "{} rows from {lines} lines", s.len() + errors);
            assert!(s.iter().all(|s| s.proto == proto && s.local.is_some()));
        }
        "net_unix" => {
            let (s, errors) = sockets(|e| net::parse_unix_table(1, b, e));
            assert!(s.len() + errors < lines.max(1), "{} rows from {lines} lines", s.len() + errors);
        }
        "diag_tcp" | "diag_udp" => {
            let proto = if name == "diag_tcp" { Proto::Tcp } else { Proto::Udp };
            let (s, _) = sockets(|e| diag::parse_inet_diag(proto, 1, b, flag, e));
            // A netlink header (16 bytes) and an inet_diag_msg (72) a socket.
            assert!(s.len() <= b.len() / 88);
        }
        "diag_unix" => {
            let (s, _) = sockets(|e| diag::parse_unix_diag(1, b, flag, e));
            assert!(s.len() <= b.len() / 32);
        }
        "ecs_metadata" => {
            // The two documents, container then task, split at the first NUL (JSON has none).
            let (c, t) = match memchr::memchr(0, b) {
                Some(i) => (&b[..i], Some(&b[i + 1..])),
                None => (b, None),
            };
            let id = ecs::parse_metadata(Some(c), t);
            if id.is_some() {
                let object = |d: &[u8]| serde_json::from_slice::<serde_json::Value>(d).is_ok_and(|v| v.is_object());
                assert!(object(c) || t.is_some_and(object));
            }
        }
        "btime" => {
            let _ = curtain_parse::parse_btime(b, 100, 4096);
        }
        "term" => {
            let s = String::from_utf8_lossy(b);
            let out = curtain_model::term(&s);
            assert_no_controls(&out, false);
            if !s.chars().any(|c| c.is_control() || is_bidi(c)) {
                assert_eq!(out, s);
            }
        }
        "term_safe" => term_safe(flag, b),
        "json_bytes" => {
            let mut out = Vec::new();
            curtain_model::json::bytes(&mut out, b);
            let v = ByteString(b.to_vec());
            assert_eq!(out, serde_json::to_vec(&v).expect("serialise"), "not what serde_json writes");
            let back: ByteString = serde_json::from_slice(&out).expect("JSON that reads back");
            assert_eq!(back, v);
        }
        "rfc3339" => {
            let s = String::from_utf8_lossy(b);
            if let Some(ns) = curtain_model::parse_rfc3339_ns(&s) {
                assert!(ns <= curtain_model::MAX_TIME_NS);
                let again = curtain_model::format_rfc3339_ns(ns);
                assert_eq!(curtain_model::parse_rfc3339_ns(&again), Some(ns), "{again}");
            }
        }
        other => unreachable!("{other}"),
    }
}

/// The bidi characters `term` escapes.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// No control character (newline and tab aside when `lines`) and no bidi override in `s`.
fn assert_no_controls(s: &str, lines: bool) {
    for c in s.chars() {
        let allowed = lines && (c == '\n' || c == '\t');
        assert!(allowed || !(c.is_control() || is_bidi(c)), "{c:?} reached the terminal in {s:?}");
    }
}

/// The SGR sequences `TermSafe` lets through with colours (its own list).
const OWN_SGR: [&str; 7] = ["\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[33m", "\x1b[36m", "\x1b[1;31m", "\x1b[1;37;41m"];

/// `TermSafe` fed in pieces: the second byte sets the piece length, the rest is the text.
/// Whatever the pieces, the output is the same as for one write, and no control reaches it.
fn term_safe(colors: bool, b: &[u8]) {
    let Some((&len, text)) = b.split_first() else { return };
    let piece = (len as usize % 64) + 1;
    let filtered = |pieces: &mut dyn Iterator<Item = &[u8]>| -> String {
        let mut out = Vec::new();
        let mut t = curtain_model::TermSafe::new(&mut out, colors);
        for p in pieces {
            t.write_all(p).expect("a Vec takes everything");
        }
        t.flush().expect("a Vec takes everything");
        drop(t);
        String::from_utf8(out).expect("TermSafe writes UTF-8")
    };
    let whole = filtered(&mut std::iter::once(text));
    let cut = filtered(&mut text.chunks(piece));
    assert_eq!(whole, cut, "pieces of {piece} bytes");
    let mut shown = whole;
    if colors {
        for sgr in OWN_SGR {
            shown = shown.replace(sgr, "");
        }
    }
    assert_no_controls(&shown, true);
}

/// The member of [`table_builder`]'s input that, when it parses, is the replay's clock.
pub const CLOCK_MEMBER: &str = "clock";

/// What separates the members of [`table_builder`]'s input: a NUL, then `=`, then the member's
/// name up to a newline. No /proc text holds a NUL; cmdline and environ hold them, but never
/// followed by `=` unless a variable's name is empty.
pub const MEMBER_MARK: &[u8] = b"\0=";

/// [`table_builder`]'s input: `raw/reads.jsonl`, then members, each [`MEMBER_MARK`], its name,
/// a newline and its bytes.
pub fn split_members(data: &[u8]) -> (&[u8], BTreeMap<&str, &[u8]>) {
    let mut parts = memchr::memmem::find_iter(data, MEMBER_MARK).collect::<Vec<_>>().into_iter();
    let first = parts.clone().next().unwrap_or(data.len());
    let mut members = BTreeMap::new();
    let mut at = parts.next();
    while let Some(start) = at {
        let next = parts.next();
        let body = &data[start + MEMBER_MARK.len()..next.unwrap_or(data.len())];
        let (name, bytes) = match memchr::memchr(b'\n', body) {
            Some(i) => (&body[..i], &body[i + 1..]),
            None => (body, &body[body.len()..]),
        };
        if let Ok(name) = std::str::from_utf8(name) {
            // The first of a name counts, as an archive refuses a duplicate.
            members.entry(name).or_insert(bytes);
        }
        at = next;
    }
    (&data[..first], members)
}

/// The inverse of [`split_members`], for making seeds.
pub fn join_members<'a>(reads: &[u8], members: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut out = reads.to_vec();
    for (name, bytes) in members {
        out.extend_from_slice(MEMBER_MARK);
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(bytes);
    }
    out
}

/// The clock of a fuzzed replay when the input gives none: a little-endian host.
fn default_clock() -> Clock {
    Clock {
        realtime_start_ns: 1_764_419_640_000_000_000,
        boottime_start_ns: 100_000_000_000,
        clk_tck: 100,
        page_size: 4096,
        little_endian: true,
        ..Default::default()
    }
}

/// The table builder on hostile /proc bytes: a read log and the members it names (see
/// [`split_members`]) replayed as `curtain reparse` replays an archive. Every row written reads
/// back as its model type and is what serde_json writes for it, and the counts are the rows.
pub fn table_builder(data: &[u8]) {
    let (reads, members) = split_members(data);
    let clock =
        members.get(CLOCK_MEMBER).and_then(|b| serde_json::from_slice::<Clock>(b).ok()).unwrap_or_else(default_clock);
    let ctx = Context { clock };
    let Ok(t) = replay::rebuild(reads, |name| members.get(name).copied(), &ctx, MemorySink::default()) else {
        return;
    };
    let counts = t.counts();
    let records: Vec<RawRecord> = reads.split(|&c| c == b'\n').filter_map(|l| serde_json::from_slice(l).ok()).collect();
    let opendirs = records.iter().filter(|r| r.op == RawOp::Opendir).count();
    let processes = rows_of::<Process>(&t.sink, Table::Processes);
    assert!(processes <= opendirs, "{processes} processes from {opendirs} opendir lines");
    assert_eq!(processes as u64, counts.processes);
    assert_eq!(rows_of::<Fd>(&t.sink, Table::Fds) as u64, counts.fds);
    assert_eq!(rows_of::<Mapping>(&t.sink, Table::Maps) as u64, counts.maps);
    assert_eq!(rows_of::<Mount>(&t.sink, Table::Mounts) as u64, counts.mounts);
    assert_eq!(rows_of::<CollectError>(&t.sink, Table::Errors) as u64, counts.errors);
    assert_eq!(rows_of::<Socket>(&t.sink, Table::Sockets) as u64, counts.sockets);
    // No more sockets than the socket tables replayed have lines (text) or messages (netlink).
    let most: usize = records
        .iter()
        .filter(|r| r.netns.is_some())
        .filter_map(|r| Some((r.op, members.get(replay::member_of(r)?.as_str())?)))
        .map(|(op, b)| if op == RawOp::Netlink { b.len() / 16 } else { line_count(b) })
        .sum();
    assert!(counts.sockets as usize <= most, "{} sockets from tables of {most} rows", counts.sockets);
}

/// The rows of `table`, each checked to read back as `T` and to be byte for byte what
/// serde_json writes for that value; their count.
fn rows_of<T: serde::de::DeserializeOwned + serde::Serialize>(sink: &MemorySink, table: Table) -> usize {
    let body = &sink.tables[table.index()];
    let mut n = 0;
    for line in body.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let v: T = serde_json::from_slice(line)
            .unwrap_or_else(|e| panic!("{table:?} row does not read back: {e}: {}", String::from_utf8_lossy(line)));
        let again = serde_json::to_vec(&v).expect("serialise");
        assert_eq!(again, line, "{table:?} row is not what serde_json writes");
        n += 1;
    }
    n
}
