//! The static collector in an empty root: nothing but itself and a mounted proc.

use crate::common::*;
use crate::require_root;
use std::path::PathBuf;
use std::process::Command;

/// The static binary: $CURTAIN_STATIC_COLLECTOR (set by scripts/test), else built here with
/// scripts/build-collector.
pub fn static_collector() -> PathBuf {
    if let Some(p) = std::env::var_os("CURTAIN_STATIC_COLLECTOR") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let o = run(Command::new("bash").arg(root.join("scripts/build-collector")));
    assert!(o.status.success(), "scripts/build-collector failed");
    PathBuf::from(String::from_utf8(o.stdout).unwrap().lines().last().expect("path printed").trim())
}

/// True when an ELF file asks for no program interpreter (no dynamic loader).
fn is_static_elf(b: &[u8]) -> bool {
    assert_eq!(&b[..4], b"\x7fELF");
    assert_eq!(b[4], 2, "64-bit");
    let u16at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64at(0x20), u16at(0x36), u16at(0x38));
    (0..phnum).all(|i| u32::from_le_bytes(b[phoff + i * phentsize..][..4].try_into().unwrap()) != 3)
    // PT_INTERP
}

#[test]
#[ignore = "needs root: namespaces, setpriv, chroot (scripts/test runs it as root)"]
fn runs_chrooted_in_an_empty_folder_with_only_proc() {
    require_root!();
    let bin = static_collector();
    let bytes = std::fs::read(&bin).unwrap();
    assert!(is_static_elf(&bytes), "{} is not static", bin.display());
    eprintln!("static collector: {} bytes", bytes.len());
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("proc")).unwrap();
    std::fs::copy(&bin, root.path().join("curtain-collector")).unwrap();
    // A private mount namespace, so the proc mount goes away with it.
    let r = root.path().display().to_string();
    let o = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(format!("mount -t proc proc '{r}/proc' && exec chroot '{r}' /curtain-collector -o -")));
    assert!(o.status.success());
    let entries: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries.len(), 2, "it wrote nothing but its output: {entries:?}");
    let a = Archive::from_bytes(o.stdout);
    assert!(a.manifest.counts.processes > 1);
    let me = a.processes.iter().find(|p| p.label == Some(curtain_model::Label::SelfCollector)).expect("itself");
    assert_eq!(me.exe.as_ref().unwrap().path.to_lossy(), "/curtain-collector");
    // Links read from inside the chroot are relative to it.
    assert_eq!(me.root.as_ref().unwrap().to_lossy(), "/");
    assert!(String::from_utf8_lossy(&o.stderr).contains("processes"));
}
