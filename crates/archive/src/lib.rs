//! The evidence archive: its format, and reading it as the hostile input it is.
//!
//! Apart from the live collector (crates/collect) so that everything that only reads archives
//! (analysis, reports, verify, reparse, acquisition) depends on neither the walk over /proc nor
//! its system calls: the writer ([`writer`]) lays out the tar the collector streams, the reader
//! ([`reader`]) accepts only what that writer makes and bounds its work ([`Limits`]); [`verify`]
//! checks every member against the manifest, [`reparse`] rebuilds the tables from the raw part,
//! [`load_snapshot`] gives the analysis its typed tables, and [`output`] writes files that never
//! replace or follow anything.

#![forbid(unsafe_code)]

pub mod frame;
pub mod output;
pub mod parts;
pub mod reader;
pub mod writer;

#[cfg(feature = "cli")]
pub mod cli;
#[doc(hidden)]
pub mod fuzzing;

pub use reader::{
    is_safe_member_path, open_reader, read_archive, read_archive_file, read_archive_with, ArchiveContents, Keep,
    Limits, MemberProblem, SeenMember,
};
pub use writer::{is_indexed, ArchiveWriter, Compression, HashingWriter, INDEX};

use curtain_model::Manifest;
use curtain_tables::Context;
use std::io::{self, Write};

/// The member every archive ends with: what was collected, how, and every member's digest.
pub const MANIFEST: &str = "manifest.json";

/// One line per problem `verify` found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub members_checked: usize,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks every member against the manifest: present, same size, same SHA-256; and nothing in
/// the archive that the manifest does not list, nothing listed twice, no member refused.
///
/// `contents` must hold the digests of every member and the bytes of the manifest and the index
/// parts: read with [`Keep::Listings`] (or `All`).
pub fn verify(contents: &ArchiveContents) -> VerifyReport {
    let mut r = VerifyReport::default();
    for p in &contents.problems {
        r.problems.push(format!("refused member: {p:?}"));
    }
    let Some(m) = contents.get(MANIFEST) else {
        r.problems.push(format!("{MANIFEST} is missing"));
        return r;
    };
    let manifest: Manifest = match serde_json::from_slice(m) {
        Ok(m) => m,
        Err(e) => {
            r.problems.push(format!("{MANIFEST} does not parse: {e}"));
            return r;
        }
    };
    let mut listed: std::collections::HashSet<String> = std::collections::HashSet::new();
    // Each member once: a listing repeated is a problem, not another check.
    let mut check = |want: &curtain_model::Member, r: &mut VerifyReport| -> bool {
        if !listed.insert(want.path.clone()) {
            r.problems.push(format!("{}: listed twice", want.path));
            return false;
        }
        r.members_checked += 1;
        let Some(seen) = contents.seen(&want.path) else {
            r.problems.push(format!("{}: missing", want.path));
            return false;
        };
        let mut ok = true;
        if seen.size != want.size {
            r.problems.push(format!("{}: size {} but the listing says {}", want.path, seen.size, want.size));
            ok = false;
        }
        match seen.sha256 {
            Some(d) if curtain_model::to_hex(&d) == want.sha256 => {}
            Some(d) => {
                let got = curtain_model::to_hex(&d);
                r.problems.push(format!("{}: sha256 {got} but the listing says {}", want.path, want.sha256));
                ok = false;
            }
            None => {
                r.problems.push(format!("{}: not hashed when read", want.path));
                ok = false;
            }
        }
        ok
    };
    // The manifest lists the index parts, which list the raw files: a chain of digests.
    let mut index_parts = Vec::new();
    for want in &manifest.members {
        if check(want, &mut r) && parts::part_of(INDEX, &want.path).is_some() {
            index_parts.push(want.path.clone());
        }
    }
    for part in index_parts {
        let Some(body) = contents.get(&part) else {
            r.problems.push(format!("{part}: not kept when read"));
            continue;
        };
        for (i, line) in body.split(|&c| c == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
            match serde_json::from_slice::<curtain_model::Member>(line) {
                Ok(want) => {
                    check(&want, &mut r);
                }
                Err(e) => r.problems.push(format!("{part} line {}: {e}", i + 1)),
            }
        }
    }
    for seen in &contents.seen {
        if seen.path != MANIFEST && !listed.contains(seen.path.as_str()) {
            r.problems.push(format!("{}: not listed in the manifest", seen.path));
        }
    }
    r
}

/// Adds a problem to `report` when `ARCHIVE.sha256`, written beside the archive at collection,
/// is there and names another digest than the archive's.
pub fn check_sidecar(archive: &str, contents: &ArchiveContents, report: &mut VerifyReport) {
    use std::io::Read;
    let sidecar = format!("{archive}.sha256");
    let Ok(f) = std::fs::File::open(&sidecar) else { return };
    // One line of `sha256sum`: a sidecar of any other size is not one.
    let mut text = Vec::new();
    if f.take(4096).read_to_end(&mut text).is_err() {
        report.problems.push(format!("{sidecar} cannot be read"));
        return;
    }
    let want = String::from_utf8_lossy(&text).split_whitespace().next().unwrap_or("").to_string();
    let got = contents.archive_sha256.as_deref().unwrap_or("");
    if got != want {
        report.problems.push(format!("archive sha256 {got} but {sidecar} says {want}"));
    }
}

/// Verifies the archive file `path` in one streaming pass (members hashed and dropped, only the
/// manifest and the index parts kept), its sidecar `.sha256` too when there is one.
pub fn verify_file(path: &str, limits: &Limits) -> io::Result<VerifyReport> {
    let contents = read_archive_file(path, limits, Keep::Listings)?;
    let mut report = verify(&contents);
    check_sidecar(path, &contents, &mut report);
    Ok(report)
}

/// The outcome of rebuilding an archive's tables from its raw part.
#[derive(Debug)]
pub struct Reparsed {
    pub manifest: Manifest,
    /// (table base name, rebuilt rows, identical to the stored ones?) for each table.
    pub tables: Vec<(&'static str, Vec<u8>, bool)>,
    pub counts: curtain_model::Counts,
    pub errors_by_kind: std::collections::BTreeMap<String, u64>,
}

/// Why an archive's tables could not be rebuilt.
#[derive(Debug)]
pub enum ReparseError {
    /// A member the rebuild needs is not in the archive.
    Missing(&'static str),
    Manifest(serde_json::Error),
    Replay(curtain_tables::replay::ReplayError),
}

impl std::fmt::Display for ReparseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReparseError::Missing(m) => write!(f, "{m} is missing"),
            ReparseError::Manifest(e) => write!(f, "{MANIFEST}: {e}"),
            ReparseError::Replay(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReparseError {}

/// Rebuilds every table from `raw/` and compares each with the stored one.
pub fn reparse(contents: &ArchiveContents) -> Result<Reparsed, ReparseError> {
    let manifest: Manifest = serde_json::from_slice(contents.get(MANIFEST).ok_or(ReparseError::Missing(MANIFEST))?)
        .map_err(ReparseError::Manifest)?;
    let reads = contents.joined("raw/reads").ok_or(ReparseError::Missing("raw/reads.jsonl"))?;
    let ctx = Context { clock: manifest.clock.clone() };
    let mut t =
        curtain_tables::replay::rebuild(&reads, |name| contents.get(name), &ctx, curtain_tables::MemorySink::default())
            .map_err(ReparseError::Replay)?;
    let mut counts = t.counts();
    counts.raw_bytes = manifest.counts.raw_bytes;
    let errors_by_kind = t.errors_by_kind();
    let tables = curtain_tables::Table::ALL
        .iter()
        .map(|table| {
            let body = std::mem::take(&mut t.sink.tables[table.index()]);
            // Part by part, without joining them. A table written before it existed
            // (containers) is the same when the rebuild has no row for it either.
            let same = match contents.parts(table.base()) {
                Some(parts) => {
                    let mut rest = body.as_slice();
                    parts.iter().all(|(_, d)| rest.strip_prefix(*d).map(|r| rest = r).is_some()) && rest.is_empty()
                }
                None => body.is_empty() && *table == curtain_tables::Table::Containers,
            };
            (table.base(), body, same)
        })
        .collect();
    Ok(Reparsed { manifest, tables, counts, errors_by_kind })
}

/// Writes a new archive: the raw part of `contents` as it was, the rebuilt tables, and a manifest
/// with the new members and counts, and in `rebuilt_from` the source archive's digest and what
/// `source` (its [`verify`]) found, after the source's own `rebuilt_from`.
pub fn write_reparsed<W: Write>(
    contents: &ArchiveContents,
    re: &Reparsed,
    source: &VerifyReport,
    out: W,
    compression: Compression,
) -> io::Result<(W, String)> {
    let secs = re.manifest.clock.realtime_start_ns / 1_000_000_000;
    let mut a = ArchiveWriter::new(out, compression, secs)?;
    for (path, data) in &contents.members {
        if path == MANIFEST || path.starts_with("tables/") || parts::part_of(INDEX, path).is_some() {
            continue;
        }
        if is_indexed(path) {
            a.append_indexed(path, data, None)?;
        } else {
            a.append(path, data)?;
        }
    }
    for (base, body, _) in &re.tables {
        let mut p = parts::Parts::new();
        let stream = curtain_tables::Table::ALL.iter().find(|t| t.base() == *base).map(|t| t.index()).unwrap_or(0);
        for line in body.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            p.push(stream, line);
        }
        for (name, part) in p.finish() {
            if name.starts_with(base) {
                a.append(&name, &part)?;
            }
        }
    }
    a.close_index()?;
    let mut m = re.manifest.clone();
    // Laid out by this writer (repeated raw files as links), whatever the original was.
    m.format_version = curtain_model::FORMAT_VERSION;
    m.counts = re.counts.clone();
    m.errors_by_kind = re.errors_by_kind.clone();
    m.ecs =
        curtain_parse::ecs::parse_metadata(contents.get("raw/ecs/container.json"), contents.get("raw/ecs/task.json"));
    m.members = a.members().to_vec();
    m.rebuilt_from = Some(curtain_model::Provenance {
        sha256: contents.archive_sha256.clone().unwrap_or_default(),
        verified: source.ok(),
        problems: source.problems.clone(),
        rebuilt_from: re.manifest.rebuilt_from.clone().map(Box::new),
    });
    let body = serde_json::to_vec_pretty(&m).expect("serialise manifest");
    let (out, sha, _) = a.finish(&body)?;
    Ok((out, sha))
}

/// Parses a size such as `1048576`, `64M`, `2G`, `512k`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_lowercase() {
                'k' => 1u64 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                'b' => 1,
                _ => return Err(format!("unknown size suffix in {s:?}")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok().and_then(|n| n.checked_mul(mult)).ok_or_else(|| format!("not a size: {s:?}"))
}

/// Loads an archive for analysis: manifest and tables, with the file's SHA-256, within the
/// default [`Limits`].
pub fn load_snapshot(path: &str) -> io::Result<curtain_model::Snapshot> {
    load_snapshot_with(path, &Limits::default())
}

/// Loads an archive for analysis within `limits`: only the manifest and the table parts are kept
/// in memory, every other member streamed through. An archive with a refused member is an error
/// (`curtain verify` lists them), as is a table row that does not parse (naming the part and the
/// line).
pub fn load_snapshot_with(path: &str, limits: &Limits) -> io::Result<curtain_model::Snapshot> {
    let contents = read_archive_file(path, limits, Keep::Tables)?;
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {what}"));
    if let Some(first) = contents.problems.first() {
        return Err(bad(format!(
            "{} member(s) refused, the first {first:?} (curtain verify lists them)",
            contents.problems.len()
        )));
    }
    let manifest: Manifest =
        serde_json::from_slice(contents.get(MANIFEST).ok_or_else(|| bad("no manifest.json".into()))?)
            .map_err(|e| bad(format!("manifest.json: {e}")))?;
    fn rows<T: serde::de::DeserializeOwned>(contents: &ArchiveContents, base: &str) -> Result<Vec<T>, String> {
        let Some(parts) = contents.parts(base) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (name, body) in parts {
            for (i, l) in body.split(|&c| c == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
                out.push(serde_json::from_slice(l).map_err(|e| format!("{name} line {}: {e}", i + 1))?);
            }
        }
        Ok(out)
    }
    Ok(curtain_model::Snapshot {
        source: path.to_string(),
        archive_sha256: contents.archive_sha256.clone(),
        processes: rows(&contents, "tables/processes").map_err(bad)?,
        fds: rows(&contents, "tables/fds").map_err(bad)?,
        sockets: rows(&contents, "tables/sockets").map_err(bad)?,
        maps: rows(&contents, "tables/maps").map_err(bad)?,
        mounts: rows(&contents, "tables/mounts").map_err(bad)?,
        errors: rows(&contents, "tables/errors").map_err(bad)?,
        containers: rows(&contents, "tables/containers").map_err(bad)?,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("64M"), Ok(64 << 20));
        assert_eq!(super::parse_size("1000"), Ok(1000));
        assert_eq!(super::parse_size("2g"), Ok(2 << 30));
        assert!(super::parse_size("x").is_err());
        assert!(super::parse_size("5q").is_err());
    }
}
