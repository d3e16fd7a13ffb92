//! What the `archive_reader` fuzz target in `fuzz/` runs, kept here so that `cargo test`
//! replays its corpus and every crash it found through exactly the same code (crates/collect/
//! tests/fuzz_corpus.rs), on stable Rust and without libFuzzer.
//!
//! The input is an archive file as an examiner would be handed it: a tar stream, or a zstd one
//! when it starts with zstd's magic number. It must never panic, and never keep more than the
//! limits allow. Not part of the crate's API.

use crate::{read_archive_with, ArchiveContents, Keep, Limits};
use std::io::{Cursor, Read};

/// Limits small enough that a fuzzed input reaches each of them, large enough for the seeds.
pub const LIMITS: Limits =
    Limits { max_member_size: 1 << 20, max_expanded: 4 << 20, max_members: 4096, max_line: 64 << 10 };

/// Reads `data` as an archive with every [`Keep`], verifies it, and reparses it when it reads.
pub fn archive_reader(data: &[u8]) {
    let all = read_archive_with(Cursor::new(data), &LIMITS, Keep::All);
    let listings = read_archive_with(Cursor::new(data), &LIMITS, Keep::Listings);
    let tables = read_archive_with(Cursor::new(data), &LIMITS, Keep::Tables);
    for c in [&all, &listings, &tables].into_iter().flatten() {
        within_limits(c);
    }
    if let (Ok(all), Ok(listings)) = (&all, &listings) {
        // What is kept changes nothing about what is accepted, nor about what verify finds.
        assert_eq!(all.problems, listings.problems);
        assert_eq!(paths(all), paths(listings));
        assert_eq!(crate::verify(all).problems, crate::verify(listings).problems);
    }
    if let (Ok(all), Ok(tables)) = (&all, &tables) {
        assert_eq!(all.problems, tables.problems);
        assert_eq!(paths(all), paths(tables));
    }
    let Ok(all) = all else { return };
    if all.problems.is_empty() {
        as_tar_extracts(data, &all);
    }
    let report = crate::verify(&all);
    assert!(report.members_checked <= all.seen.len() + report.problems.len());
    let Ok(re) = crate::reparse(&all) else { return };
    assert_eq!(re.tables.len(), curtain_tables::Table::ALL.len());
    if report.ok() {
        reparsed_archive_verifies(&all, &re, &report);
    }
}

/// An archive read without a problem holds what the tar crate's own reader (long names and pax
/// paths applied, as `tar -x` applies them) extracts: the same members in the same order, with
/// the same bytes (a hard link: its target's). What `verify` checked is what is extracted.
fn as_tar_extracts(data: &[u8], c: &ArchiveContents) {
    let mut plain = Vec::new();
    let Ok(r) = crate::open_reader(Cursor::new(data)) else { return };
    // The stream was read within the limits up to its end blocks; what follows them is not tar.
    if r.take(LIMITS.max_expanded + 4096).read_to_end(&mut plain).is_err() {
        return;
    }
    let mut ar = tar::Archive::new(&plain[..]);
    let mut extracted: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for e in ar.entries().expect("a tar stream") {
        let mut e = match e {
            Ok(e) => e,
            // Cut short by `take` past the end blocks' neighbourhood: nothing accepted is there.
            Err(_) if extracted.len() == c.members.len() => break,
            Err(err) => panic!("the tar crate fails where curtain read without a problem: {err}"),
        };
        let path = e.path_bytes().into_owned();
        let bytes = match e.header().entry_type() {
            tar::EntryType::Link => {
                let target = e.link_name_bytes().expect("a link names its target").into_owned();
                let (_, b) = extracted.iter().find(|(p, _)| *p == target).expect("a link to an earlier member");
                b.clone()
            }
            t => {
                assert!(t.is_file(), "{}: extracted as {t:?}", String::from_utf8_lossy(&path));
                let mut b = Vec::new();
                e.read_to_end(&mut b).expect("the member's bytes");
                b
            }
        };
        extracted.push((path, bytes));
    }
    let read: Vec<(&[u8], &[u8])> = c.members.iter().map(|(p, d)| (p.as_bytes(), d.as_slice())).collect();
    let extracted: Vec<(&[u8], &[u8])> = extracted.iter().map(|(p, d)| (p.as_slice(), d.as_slice())).collect();
    assert_eq!(read, extracted, "curtain read other members than tar extracts");
}

/// `curtain reparse -o` of an archive that verifies writes one that verifies too and rebuilds
/// to the same tables.
fn reparsed_archive_verifies(c: &ArchiveContents, re: &crate::Reparsed, report: &crate::VerifyReport) {
    let (out, _) = crate::write_reparsed(c, re, report, Vec::new(), crate::Compression::None)
        .expect("writing to memory fails only on a bad path");
    let big = Limits { max_expanded: 64 << 20, max_members: 1 << 20, ..LIMITS };
    let again = read_archive_with(Cursor::new(&out), &big, Keep::All).expect("the reparsed archive reads");
    assert!(again.problems.is_empty(), "{:?}", again.problems);
    let v = crate::verify(&again);
    assert!(v.ok(), "the reparsed archive does not verify: {:?}", v.problems);
    let re2 = crate::reparse(&again).expect("the reparsed archive reparses");
    for ((name, body, _), (_, body2, same)) in re.tables.iter().zip(&re2.tables) {
        assert_eq!(body, body2, "{name} rebuilt otherwise");
        assert!(same, "{name} stored otherwise than rebuilt");
    }
}

fn paths(c: &ArchiveContents) -> Vec<&str> {
    c.seen.iter().map(|s| s.path.as_str()).collect()
}

/// Nothing kept beyond the limits: each member within its size, all of them within the
/// expanded size (hard links share their target's bytes), and no more members than allowed.
fn within_limits(c: &ArchiveContents) {
    assert!(c.seen.len() as u64 <= LIMITS.max_members);
    assert!(c.members.len() <= c.seen.len());
    let mut distinct = 0u64;
    let mut counted = std::collections::HashSet::new();
    for (path, data) in &c.members {
        assert!(data.len() as u64 <= LIMITS.max_member_size, "{path}: {} bytes kept", data.len());
        let seen = c.seen(path).expect("a kept member was seen");
        assert_eq!(seen.size, data.len() as u64, "{path}: kept bytes and size differ");
        if counted.insert(std::sync::Arc::as_ptr(data)) {
            distinct += data.len() as u64;
        }
    }
    assert!(distinct <= LIMITS.max_expanded, "{distinct} bytes kept");
    assert!(c.archive_sha256.is_some());
}
