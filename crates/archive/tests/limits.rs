//! Small hostile archives cost little: a member or a stream that expands without end, a table
//! line of hundreds of MiB, thousands of hard links to one part, listings repeated. Each either
//! is refused as it is met, before its bytes are read, with an error naming the flag that raises
//! the limit, or is a problem of the archive that costs nothing more.

mod common;

use common::*;
use curtain_archive::{read_archive, read_archive_file, read_archive_with, Keep, Limits};
use std::io::Write;
use std::time::{Duration, Instant};

fn header(name: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_size(size);
    h.set_mode(0o444);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    h
}

/// A zstd file of `members` tar members, each of `size` copies of `byte` after a header, written
/// as it goes: the same compressed frame of 8 MiB repeated, so that the file stays small
/// whatever the size.
fn expanding(path: &str, members: &[(&str, u64)], byte: u8) {
    const CHUNK: u64 = 8 << 20;
    let frame = zstd::bulk::compress(&vec![byte; CHUNK as usize], 3).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let small = |b: &[u8]| zstd::bulk::compress(b, 3).unwrap();
    for &(name, size) in members {
        out.write_all(&small(header(name, size).as_bytes())).unwrap();
        for _ in 0..size / CHUNK {
            out.write_all(&frame).unwrap();
        }
        let rest = (size % CHUNK) as usize;
        let pad = (512 - size as usize % 512) % 512;
        let mut tail = vec![byte; rest];
        tail.extend(std::iter::repeat_n(0, pad));
        out.write_all(&small(&tail)).unwrap();
    }
    out.write_all(&small(&[0; 1024])).unwrap();
    out.flush().unwrap();
}

fn quick(started: Instant) {
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn a_zstd_bomb_is_refused_before_it_is_read() {
    let d = Dir::new("bomb");
    let bomb = d.path("bomb.tar.zst");
    expanding(&bomb, &[("raw/proc/1/maps", 10 << 30)], 0);
    let on_disk = std::fs::metadata(&bomb).unwrap().len();
    assert!(on_disk < 4 << 20, "{on_disk} bytes on disk");
    let started = Instant::now();
    let e = curtain_archive::verify_file(&bomb, &Limits::default()).unwrap_err().to_string();
    assert!(e.contains("raw/proc/1/maps: a member of 10737418240 bytes"), "{e}");
    assert!(e.contains("over the limit of 4G (raise it with --max-member-size)"), "{e}");
    let e = curtain_archive::load_snapshot(&bomb).unwrap_err().to_string();
    assert!(e.contains("--max-member-size"), "{e}");
    // Allowed one member that big, the whole stream is still bounded, before anything is read.
    let limits = Limits { max_member_size: 16 << 30, max_expanded: 1 << 30, ..Limits::default() };
    let e = curtain_archive::verify_file(&bomb, &limits).unwrap_err().to_string();
    assert!(e.contains("over the limit of 1G (raise it with --max-expanded)"), "{e}");
    quick(started);
}

#[test]
fn expanding_past_the_limit_is_refused_as_it_streams() {
    let d = Dir::new("expanding");
    let path = d.path("many.tar.zst");
    let names: Vec<String> = (1..=40).map(|i| format!("raw/proc/{i}/maps")).collect();
    let members: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 8 << 20)).collect();
    expanding(&path, &members, 0);
    let started = Instant::now();
    let limits = Limits { max_expanded: 64 << 20, ..Limits::default() };
    let e = curtain_archive::verify_file(&path, &limits).unwrap_err().to_string();
    assert!(e.contains("raw/proc/8/maps: the archive expands to more than 67108864 bytes"), "{e}");
    assert!(e.contains("--max-expanded"), "{e}");
    quick(started);
}

#[test]
fn a_huge_table_line_is_refused_naming_member_and_line() {
    let mut b = tar::Builder::new(Vec::new());
    let mut body = b"\n\n".to_vec();
    body.extend(std::iter::repeat_n(b'a', 4 << 20));
    b.append(&header("tables/processes.jsonl", body.len() as u64), &body[..]).unwrap();
    let manifest = serde_json::to_vec(&curtain_model::Manifest::default()).unwrap();
    b.append(&header("manifest.json", manifest.len() as u64), &manifest[..]).unwrap();
    let d = Dir::new("line");
    let path = d.path("line.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    let limits = Limits { max_line: 1 << 20, ..Limits::default() };
    let e = curtain_archive::load_snapshot_with(&path, &limits).unwrap_err().to_string();
    assert!(e.contains("tables/processes.jsonl line 3: more than 1048576 bytes"), "{e}");
    assert!(e.contains("over the limit of 1M (raise it with --max-line)"), "{e}");
    // Within the limit, the line is read (and then is no JSON).
    let e = curtain_archive::load_snapshot_with(&path, &Limits::default()).unwrap_err().to_string();
    assert!(e.contains("tables/processes.jsonl line 3: expected value"), "{e}");
}

#[test]
fn a_500_mb_table_line_is_refused_at_the_default_limit() {
    let d = Dir::new("line-500m");
    let path = d.path("line.tar.zst");
    expanding(&path, &[("tables/processes.jsonl", 500_000_000)], b'a');
    let started = Instant::now();
    let e = curtain_archive::load_snapshot(&path).unwrap_err().to_string();
    assert!(e.contains("tables/processes.jsonl line 1: more than 67108864 bytes"), "{e}");
    assert!(e.contains("(raise it with --max-line)"), "{e}");
    quick(started);
}

#[test]
fn thousands_of_hard_links_to_a_table_part_are_refused() {
    let mut b = tar::Builder::new(Vec::new());
    let part = vec![b'\n'; 64 << 10];
    b.append(&header("tables/processes.jsonl", part.len() as u64), &part[..]).unwrap();
    b.append(&header("raw/proc/1/maps", 1), &b"m"[..]).unwrap();
    let link = |b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str| {
        let mut h = header(path, 0);
        h.set_entry_type(tar::EntryType::Link);
        h.set_link_name(target).unwrap();
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
    };
    for i in 1..=5000 {
        link(&mut b, &format!("tables/processes.{i}.jsonl"), "tables/processes.jsonl");
    }
    // Between a raw file and a table part, either way; to the manifest.
    link(&mut b, "raw/proc/2/maps", "tables/processes.jsonl");
    link(&mut b, "tables/fds.jsonl", "raw/proc/1/maps");
    b.append(&header("manifest.json", 2), &b"{}"[..]).unwrap();
    link(&mut b, "raw/proc/3/maps", "manifest.json");
    link(&mut b, "raw/proc/4/maps", "raw/proc/1/maps");
    let got = read_archive(std::io::Cursor::new(b.into_inner().unwrap())).unwrap();
    assert_eq!(got.problems.len(), 5003, "{:?}", &got.problems[..3]);
    assert!(got.problems.iter().all(|p| matches!(p, curtain_archive::MemberProblem::BadLink(_))));
    assert_eq!(got.joined("tables/processes").unwrap().len(), part.len());
    assert_eq!(got.get("raw/proc/4/maps"), Some(&b"m"[..]), "links between raw files are the writer's");
}

/// An archive whose manifest lists `tables/x.jsonl` twice and whose index lists
/// `raw/proc/1/stat` twice.
fn listed_twice() -> Vec<u8> {
    use curtain_archive::{ArchiveWriter, Compression};
    use curtain_model::Member;
    let member = |path: &str, data: &[u8]| {
        use sha2::Digest;
        Member {
            path: path.into(),
            size: data.len() as u64,
            sha256: curtain_model::to_hex(&sha2::Sha256::digest(data)),
        }
    };
    let (one, two) = (member("raw/proc/1/stat", b"1 (a)"), member("raw/proc/2/stat", b"2 (b)"));
    let mut index = Vec::new();
    for m in [&one, &one, &two] {
        index.extend(serde_json::to_vec(m).unwrap());
        index.push(b'\n');
    }
    let mut w = ArchiveWriter::new(Vec::new(), Compression::None, 0).unwrap();
    w.append("raw/proc/1/stat", b"1 (a)").unwrap();
    w.append("raw/proc/2/stat", b"2 (b)").unwrap();
    w.append("raw/index.jsonl", &index).unwrap();
    w.append("tables/x.jsonl", b"").unwrap();
    let manifest = curtain_model::Manifest {
        members: vec![member("raw/index.jsonl", &index), member("tables/x.jsonl", b""), member("tables/x.jsonl", b"")],
        ..Default::default()
    };
    w.finish(&serde_json::to_vec(&manifest).unwrap()).unwrap().0
}

#[test]
fn duplicate_listings_are_problems_and_each_member_is_counted_once() {
    let got = read_archive(std::io::Cursor::new(listed_twice())).unwrap();
    let r = curtain_archive::verify(&got);
    assert_eq!(r.problems, ["tables/x.jsonl: listed twice", "raw/proc/1/stat: listed twice"]);
    // The distinct members listed: the index part, the table part, two raw files.
    assert_eq!(r.members_checked, 4);
    assert_eq!(r.members_checked, got.seen.len() - 1, "every member but the manifest");
}

#[test]
fn too_many_members_are_refused() {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..30 {
        b.append(&header(&format!("raw/proc/{i}/stat"), 0), std::io::empty()).unwrap();
    }
    let limits = Limits { max_members: 10, ..Limits::default() };
    let e = read_archive_with(&b.into_inner().unwrap()[..], &limits, Keep::All).err().unwrap().to_string();
    assert!(e.contains("more than 10 members, over the limit of 10 (raise it with --max-members)"), "{e}");
}

#[test]
fn each_reader_keeps_only_what_it_needs_and_hashes_the_whole_file() {
    let d = Dir::new("keep");
    let a = d.path("a.tar.zst");
    collect(&a, curtain_archive::Compression::Zstd);
    // Bytes after the end of the archive are part of the file, and of its digest.
    std::fs::OpenOptions::new().append(true).open(&a).unwrap().write_all(b"trailing").unwrap();
    let sha = sha256(&a);
    let kept = |keep| {
        let c = read_archive_file(&a, &Limits::default(), keep).unwrap();
        assert_eq!(c.archive_sha256.as_deref(), Some(sha.as_str()), "{keep:?}");
        let names: Vec<String> = c.members.iter().map(|(p, _)| p.clone()).collect();
        (c, names)
    };
    let (c, names) = kept(Keep::Listings);
    assert!(names.iter().all(|p| p == "manifest.json" || p.starts_with("raw/index")), "{names:?}");
    assert!(c.seen.iter().all(|s| s.sha256.is_some()));
    let (c, names) = kept(Keep::Tables);
    assert!(names.iter().all(|p| p == "manifest.json" || p.starts_with("tables/")), "{names:?}");
    assert!(names.len() >= 7 && c.seen.len() > names.len() * 10, "{names:?}");
    let (c, names) = kept(Keep::All);
    assert_eq!(names.len(), c.seen.len());
    assert_eq!(curtain_archive::load_snapshot(&a).unwrap().archive_sha256.as_deref(), Some(sha.as_str()));
}

/// A zstd frame holding an empty tar (its two zero blocks) whose header claims a window of
/// 2^`log` bytes, with no content size: the decoder sizes its buffer from the window alone.
fn zstd_with_window(log: u8) -> Vec<u8> {
    let body = [0u8; 1024];
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd, 0, (log - 10) << 3];
    // One raw block, the last: bit 0 last, bits 1-2 the type (raw), then the size.
    f.extend_from_slice(&(1 | (body.len() as u32) << 3).to_le_bytes()[..3]);
    f.extend_from_slice(&body);
    f
}

#[test]
fn a_zstd_window_larger_than_the_stream_may_expand_to_is_refused_before_it_is_allocated() {
    // Found checking the archive_reader fuzz target's allocations (-malloc_limit_mb=64): 1 KB
    // claiming a 128 MiB window made the reader allocate 128 MiB, whatever the limits.
    // fuzz/regressions/archive_reader/zstd-window-128m is the same input.
    let small = Limits { max_expanded: 4 << 20, ..Limits::default() };
    let e =
        read_archive_with(&zstd_with_window(27)[..], &small, Keep::All).map(|_| ()).expect_err("refused").to_string();
    assert!(e.contains("memory") && e.contains("--max-expanded"), "{e}");
    assert!(read_archive_with(&zstd_with_window(22)[..], &small, Keep::All).is_ok(), "4 MiB fits 4 MiB");
    // The writer's window is always read, however low the limit.
    let tiny = Limits { max_expanded: 4096, ..Limits::default() };
    assert!(read_archive_with(&zstd_with_window(19)[..], &tiny, Keep::All).is_ok());
    let e =
        read_archive_with(&zstd_with_window(20)[..], &tiny, Keep::All).map(|_| ()).expect_err("refused").to_string();
    assert!(e.contains("memory") && e.contains("--max-expanded"), "{e}");
    // At the default limits, zstd's own cap stands.
    assert!(read_archive_with(&zstd_with_window(27)[..], &Limits::default(), Keep::All).is_ok());
    assert!(read_archive_with(&zstd_with_window(28)[..], &Limits::default(), Keep::All).is_err());
}
