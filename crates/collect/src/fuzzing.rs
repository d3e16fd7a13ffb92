//! What the `archive_reader` fuzz target in `fuzz/` runs, kept here so that `cargo test`
//! replays its corpus and every crash it found through exactly the same code (crates/collect/
//! tests/fuzz_corpus.rs), on stable Rust and without libFuzzer.
//!
//! The input is an archive file as an examiner would be handed it: a tar stream, or a zstd one
//! when it starts with zstd's magic number. It must never panic, and never keep more than the
//! limits allow. Not part of the crate's API.

use crate::archive::{read_archive_with, ArchiveContents, Keep, Limits};
use std::io::Cursor;

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
    let report = crate::verify(&all);
    assert!(report.members_checked <= all.seen.len() + report.problems.len());
    if let Ok(re) = crate::reparse(&all) {
        assert_eq!(re.tables.len(), curtain_parse::Table::ALL.len());
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
