//! `reparse -o` writes new evidence: never from an archive that does not verify unless asked,
//! and then marked; never over a file or its own input; the raw part byte for byte.
#![cfg(feature = "cli")]

mod common;

use common::*;
use curtain_archive::cli::{reparse_to, verify_to, LimitArgs, ReparseArgs, VerifyArgs};
use curtain_archive::{read_archive_file, Compression, Keep};

fn limits() -> LimitArgs {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct L {
        #[command(flatten)]
        l: LimitArgs,
    }
    L::parse_from(["l"]).l
}

fn reparse(archive: &str, output: Option<&str>, allow_unverified: bool) -> (i32, String) {
    let args =
        ReparseArgs { archive: archive.into(), output: output.map(Into::into), allow_unverified, limits: limits() };
    let mut out = Vec::new();
    let code = reparse_to(&args, &mut out).unwrap();
    (code, String::from_utf8(out).unwrap())
}

fn verify(archive: &str) -> (i32, String) {
    let mut out = Vec::new();
    let code = verify_to(&VerifyArgs { archive: archive.into(), limits: limits() }, &mut out).unwrap();
    (code, String::from_utf8(out).unwrap())
}

/// A collection with one byte of one raw file changed, and that file's name.
fn tampered(d: &Dir) -> (String, String) {
    let good = d.path("good.tar");
    collect(&good, Compression::None);
    let mut bytes = std::fs::read(&good).unwrap();
    let (member, at) = first_raw_file(&bytes);
    bytes[at] ^= 1;
    let bad = d.path("bad.tar");
    std::fs::write(&bad, bytes).unwrap();
    (bad, member)
}

#[test]
fn reparse_output_of_a_tampered_archive_is_refused() {
    let d = Dir::new("reparse-refused");
    let (bad, member) = tampered(&d);
    let before = d.listing();
    let new = d.path("new.tar");
    let (code, text) = reparse(&bad, Some(&new), false);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(&format!("MISMATCH {member}: sha256")), "{text}");
    assert!(text.contains("REFUSED") && text.contains("--allow-unverified"), "{text}");
    assert!(!exists(&new));
    assert_eq!(d.listing(), before, "nothing written, not even a temporary file");
}

#[test]
fn reparse_output_of_a_tampered_archive_when_allowed_is_marked() {
    let d = Dir::new("reparse-marked");
    let (bad, member) = tampered(&d);
    let new = d.path("new.tar.zst");
    let (code, text) = reparse(&bad, Some(&new), true);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("marked {new}")), "{text}");
    // The new archive is whole and self-consistent, so it verifies: its manifest is the record.
    assert_eq!(verify(&new).0, 0);
    let s = curtain_archive::load_snapshot(&new).unwrap();
    let from = s.manifest.rebuilt_from.clone().expect("rebuilt_from");
    assert!(!from.verified);
    assert_eq!(from.sha256, sha256(&bad));
    assert!(from.problems.iter().any(|p| p.starts_with(&format!("{member}: sha256"))), "{:?}", from.problems);
    assert!(from.rebuilt_from.is_none());
    // Rebuilt again from the marked one (which verifies): the mark stays, one step back.
    let newer = d.path("newer.tar");
    assert_eq!(reparse(&new, Some(&newer), false).0, 0);
    let again = curtain_archive::load_snapshot(&newer).unwrap().manifest.rebuilt_from.unwrap();
    assert!(again.verified);
    assert_eq!(again.sha256, sha256(&new));
    assert_eq!(again.rebuilt_from.as_deref(), Some(&from));
    assert!(!again.all_verified());
}

#[test]
fn reparse_output_never_replaces_a_file_nor_names_its_input() {
    let d = Dir::new("reparse-inputs");
    let a = d.path("a.tar");
    collect(&a, Compression::None);
    let before = std::fs::read(&a).unwrap();
    let args =
        |o: &str| ReparseArgs { archive: a.clone(), output: Some(o.into()), allow_unverified: false, limits: limits() };
    let e = reparse_to(&args(&a), &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("input"), "{e}");
    let other = d.path("taken.tar");
    std::fs::write(&other, b"keep").unwrap();
    assert!(reparse_to(&args(&other), &mut Vec::new()).is_err());
    assert_eq!(std::fs::read(&a).unwrap(), before);
    assert_eq!(std::fs::read(&other).unwrap(), b"keep");
    assert_eq!(d.listing(), ["a.tar", "taken.tar"]);
}

#[test]
fn reparse_output_is_the_raw_part_byte_for_byte_and_names_its_source() {
    let d = Dir::new("reparse-same");
    for (name, c) in [("a.tar", Compression::None), ("a.tar.zst", Compression::Zstd)] {
        let a = d.path(name);
        collect(&a, c);
        let (code, text) = reparse(&a, None, false);
        assert_eq!(code, 0, "{text}");
        assert_eq!(text.matches("identical").count(), 7, "{text}");
        let new = d.path(&format!("new-{name}"));
        assert_eq!(reparse(&a, Some(&new), false).0, 0);
        let old = read_archive_file(&a, &Default::default(), Keep::All).unwrap();
        let got = read_archive_file(&new, &Default::default(), Keep::All).unwrap();
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        // The same members (the rebuilt tables come after the raw part, wherever they were).
        let names = |c: &curtain_archive::ArchiveContents| -> Vec<String> {
            let mut v: Vec<String> =
                c.members.iter().map(|(p, _)| p.clone()).filter(|p| p != "manifest.json").collect();
            v.sort();
            v
        };
        assert_eq!(names(&old), names(&got));
        for (path, data) in &old.members {
            if path != "manifest.json" {
                assert_eq!(got.get(path), Some(data.as_slice()), "{path}");
            }
        }
        let m = curtain_archive::load_snapshot(&new).unwrap().manifest;
        let from = m.rebuilt_from.unwrap();
        assert!(from.verified && from.problems.is_empty());
        assert_eq!(from.sha256, sha256(&a));
        assert_eq!(verify(&new).0, 0);
        // A collection's manifest has no such field.
        assert!(curtain_archive::load_snapshot(&a).unwrap().manifest.rebuilt_from.is_none());
        let raw = read_archive_file(&a, &Default::default(), Keep::All).unwrap();
        assert!(!String::from_utf8_lossy(raw.get("manifest.json").unwrap()).contains("rebuilt_from"));
    }
}

#[test]
fn verify_counts_each_member_of_a_collection_once() {
    let d = Dir::new("verify-count");
    let a = d.path("a.tar.zst");
    collect(&a, Compression::Zstd);
    let (code, text) = verify(&a);
    assert_eq!(code, 0, "{text}");
    let all = read_archive_file(&a, &Default::default(), Keep::Tables).unwrap();
    assert!(text.contains(&format!(" {} members match", all.seen.len() - 1)), "{text}");
}

#[test]
fn an_archive_that_tar_implementations_read_differently_fails_everywhere() {
    // Before the first member: a pax path and a GNU long name, that GNU tar and the tar crate
    // would each resolve their own way.
    let d = Dir::new("ambiguous");
    let good = d.path("good.tar");
    collect(&good, Compression::None);
    let bytes = std::fs::read(&good).unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    let name = ar.entries().unwrap().next().unwrap().unwrap().path().unwrap().to_string_lossy().into_owned();
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("path", &b"raw/proc/planted"[..])]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_size(name.len() as u64 + 1);
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_cksum();
    b.append(&h, format!("{name}\0").as_bytes()).unwrap();
    let mut evil = b.into_inner().unwrap();
    evil.truncate(evil.len() - 1024);
    evil.extend_from_slice(&bytes);
    let bad = d.path("bad.tar");
    std::fs::write(&bad, evil).unwrap();
    let (code, text) = verify(&bad);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("a GNU long name and a pax path"), "{text}");
    let e = curtain_archive::load_snapshot(&bad).unwrap_err();
    assert!(e.to_string().contains("refused"), "{e}");
    assert_eq!(reparse(&bad, Some(&d.path("new.tar")), false).0, 1);
}
