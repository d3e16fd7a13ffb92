//! The archive as evidence: verify catches any change, reparse rebuilds identical tables.

use crate::common::*;
use std::io::Read;
use std::process::Command;

/// Copies a plain tar member by member through `change`, hard links written out as the bytes
/// of their target (so that `change` sees every member's bytes).
fn rewrite_tar(src: &[u8], change: impl Fn(&str, Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let mut ar = tar::Archive::new(src);
    let mut b = tar::Builder::new(Vec::new());
    let mut seen: std::collections::HashMap<String, Vec<u8>> = std::collections::HashMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        if e.header().entry_type() == tar::EntryType::Link {
            data = seen[&*e.link_name().unwrap().unwrap().to_string_lossy()].clone();
        } else {
            e.read_to_end(&mut data).unwrap();
        }
        seen.insert(path.clone(), data.clone());
        let data = change(&path, data);
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o444);
        b.append_data(&mut h, &path, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn verify_passes_untouched_and_names_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar");
    let a = collect(&good, &["-q"]);
    let o = run(Command::new(curtain()).arg("verify").arg(&good));
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("OK "), "{text}");
    // Every member but the manifest is checked: those it lists, and the raw files its index
    // parts list.
    assert!(text.contains(&format!("{} members", a.order.len() - 1)), "{text}");
    // The sidecar holds the archive's SHA-256 in sha256sum's format.
    let sidecar = std::fs::read_to_string(dir.path().join("good.tar.sha256")).unwrap();
    assert_eq!(sidecar, format!("{}  good.tar\n", sha256_file(&good)));

    // Change one byte of one raw member.
    let pid =
        a.processes.iter().find(|p| !p.kernel_thread && p.cmdline.as_ref().is_some_and(|c| !c.is_empty())).unwrap().pid;
    let target = format!("raw/proc/{pid}/cmdline");
    let bad = dir.path().join("bad.tar");
    std::fs::write(
        &bad,
        rewrite_tar(&std::fs::read(&good).unwrap(), |p, mut d| {
            if p == target {
                d[0] ^= 1;
            }
            d
        }),
    )
    .unwrap();
    let o = run(Command::new(curtain()).arg("verify").arg(&bad));
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("MISMATCH {target}: sha256")), "{text}");
    assert!(text.contains("FAILED"));

    // A member added that the manifest does not list.
    let extra = dir.path().join("extra.tar");
    let mut bytes = rewrite_tar(&std::fs::read(&good).unwrap(), |_, d| d);
    let mut ar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    ar.append_data(&mut h, "raw/planted", &b"bad"[..]).unwrap();
    let planted = ar.into_inner().unwrap();
    bytes.truncate(bytes.len() - 1024); // drop the end-of-archive blocks
    bytes.extend_from_slice(&planted);
    std::fs::write(&extra, bytes).unwrap();
    let o = run(Command::new(curtain()).arg("verify").arg(&extra));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("raw/planted: not listed in the manifest"));
}

#[test]
fn workers_files_equal_to_a_siblings_are_links_that_read_back_whole() {
    // Three workers of one parent, alike but for their pids: the same cmdline, environ and
    // cgroup.
    let dir = tempfile::tempdir().unwrap();
    struct Workers(Vec<std::process::Child>);
    impl Drop for Workers {
        fn drop(&mut self) {
            // Ours, by pid.
            for w in &mut self.0 {
                let _ = w.kill();
                let _ = w.wait();
            }
        }
    }
    let workers: Vec<_> = (0..3)
        .map(|_| {
            Command::new("sleep")
                .arg("317.25")
                .env_clear()
                .env("CURTAIN_TEST_WORKER", "links")
                .stdin(std::process::Stdio::null())
                .spawn()
                .expect("sleep")
        })
        .collect();
    let workers = Workers(workers);
    let pids: Vec<u32> = workers.0.iter().map(|c| c.id()).collect();
    let out = dir.path().join("w.tar");
    let a = collect(&out, &["-q"]);
    let tar_bytes = std::fs::read(&out).unwrap();
    let mut links = std::collections::HashMap::new();
    for e in tar::Archive::new(&tar_bytes[..]).entries().unwrap() {
        let e = e.unwrap();
        if e.header().entry_type() == tar::EntryType::Link {
            let path = e.path().unwrap().to_string_lossy().into_owned();
            links.insert(path, e.link_name().unwrap().unwrap().to_string_lossy().into_owned());
        }
    }
    let mut sorted = pids.clone();
    sorted.sort();
    for name in ["cmdline", "environ"] {
        let first = format!("raw/proc/{}/{name}", sorted[0]);
        for pid in &sorted[1..] {
            let path = format!("raw/proc/{pid}/{name}");
            assert_eq!(links.get(&path), Some(&first), "{path} links to the first worker's");
            // Read back with the bytes the kernel gave.
            assert_eq!(a.members[&path], std::fs::read(format!("/proc/{pid}/{name}")).unwrap(), "{path}");
        }
    }
    let o = run(Command::new(curtain()).arg("verify").arg(&out));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // tar itself makes them hard links to the first worker's file.
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    assert!(run(Command::new("tar").arg("-xf").arg(&out).arg("-C").arg(&x)).status.success());
    use std::os::unix::fs::MetadataExt;
    let ino = |pid: u32| std::fs::metadata(x.join(format!("raw/proc/{pid}/environ"))).unwrap().ino();
    assert_eq!(ino(sorted[1]), ino(sorted[0]));
    assert_eq!(
        std::fs::read(x.join(format!("raw/proc/{}/environ", sorted[2]))).unwrap(),
        b"CURTAIN_TEST_WORKER=links\0"
    );
    drop(workers);
}

#[test]
fn an_archive_with_a_hostile_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    // Write the name into the header directly: the builder itself refuses "..".
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"../../escaped");
    h.set_cksum();
    b.append(&h, &b"{}"[..]).unwrap();
    let p = dir.path().join("evil.tar");
    std::fs::write(&p, b.into_inner().unwrap()).unwrap();
    let o = run(Command::new(curtain()).arg("verify").arg(&p));
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("UnsafePath(\"../../escaped\")"), "{text}");
    assert!(!dir.path().parent().unwrap().join("escaped").exists());
}

#[test]
fn reparse_rebuilds_byte_identical_tables() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.tar.zst");
    let a = collect(&first, &["-q"]);
    let o = run(Command::new(curtain()).arg("reparse").arg(&first));
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for t in ["processes", "fds", "sockets", "maps", "mounts", "errors"] {
        // one line per table, whatever its number of parts
        assert!(text.contains(&format!("identical tables/{t}.jsonl")), "{text}");
    }
    let second = dir.path().join("second.tar.zst");
    let o = run(Command::new(curtain()).arg("reparse").arg(&first).arg("-o").arg(&second));
    assert!(o.status.success());
    let b = Archive::load(&second);
    for (name, body) in &a.members {
        if name != "manifest.json" {
            assert_eq!(body, &b.members[name], "{name}");
        }
    }
    assert_eq!(a.manifest.counts, b.manifest.counts);
    assert_eq!(b.manifest.format_version, curtain_model::FORMAT_VERSION);
    assert!(run(Command::new(curtain()).arg("verify").arg(&second)).status.success());
}

#[test]
fn stdout_output_is_a_plain_tar() {
    let o = run(Command::new(curtain()).args(["collect", "-q", "-o", "-"]));
    assert!(o.status.success());
    assert_eq!(&o.stdout[257..262], b"ustar", "a tar header first");
    let a = Archive::from_bytes(o.stdout);
    assert!(a.manifest.counts.processes > 0);
    assert_eq!(a.order.last().map(String::as_str), Some("manifest.json"));
}

fn fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lab.tar.zst")
}

/// The lab fixture as a plain tar with its manifest's `hostname` and `started_at` set to text an
/// attacker chose.
fn hostile_fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let plain = zstd::decode_all(std::fs::File::open(fixture()).unwrap()).unwrap();
    let evil = "lab\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{8}\u{9b}\u{202e}\nOK forged line";
    let bytes = rewrite_tar(&plain, |path, data| {
        if path != "manifest.json" {
            return data;
        }
        let mut m: serde_json::Value = serde_json::from_slice(&data).unwrap();
        m["hostname"] = evil.into();
        m["started_at"] = evil.into();
        serde_json::to_vec_pretty(&m).unwrap()
    });
    let path = dir.join("hostile.tar");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn no_control_character_from_the_evidence_reaches_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = hostile_fixture(dir.path());
    let views: [&[&str]; 5] =
        [&["report", "--format", "text"], &["report", "--format", "md"], &["tree"], &["sockets"], &["findings"]];
    for args in views {
        let o = Command::new(curtain()).args(args).arg(&hostile).env("NO_COLOR", "1").output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        for bad in ['\u{1b}', '\u{7}', '\r', '\u{8}', '\u{9b}', '\u{202e}'] {
            assert!(!out.contains(bad), "curtain {args:?} printed {bad:?}: {out:?}");
        }
        assert!(!out.lines().any(|l| l.starts_with("OK forged line")), "a value forged a line: {out}");
    }
    // The manifest lists every member but itself: what vouches for its own fields is the
    // archive's digest (the .sha256 written beside it, or the custody record).
    let o = Command::new(curtain()).arg("verify").arg(&hostile).output().unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains('\u{1b}'));
}

#[test]
fn outputs_never_replace_follow_or_name_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("report.html");
    std::fs::write(&existing, b"earlier evidence").unwrap();
    let secret = dir.path().join("secret");
    let link = dir.path().join("link.html");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let input = dir.path().join("lab.tar.zst");
    std::fs::copy(fixture(), &input).unwrap();
    for (cmd, out) in
        [("report", &existing), ("report", &link), ("timeline", &link), ("report", &input), ("timeline", &input)]
    {
        let o = Command::new(curtain()).arg(cmd).arg(&input).arg("-o").arg(out).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "curtain {cmd} -o {}", out.display());
        assert!(!String::from_utf8_lossy(&o.stderr).is_empty());
    }
    assert_eq!(std::fs::read(&existing).unwrap(), b"earlier evidence");
    assert!(!secret.exists(), "nothing written through the link");
    assert_eq!(sha256_file(&input), sha256_file(&fixture()));
    // A new name: written whole, and nothing else left in the folder.
    let new = dir.path().join("new.html");
    let o = run(Command::new(curtain()).arg("report").arg(&input).arg("-o").arg(&new));
    assert!(o.status.success());
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["lab.tar.zst", "link.html", "new.html", "report.html"]);
}

#[test]
fn a_closed_output_stream_fails_the_collection() {
    use std::process::Stdio;
    let mut child = Command::new(curtain())
        .args(["collect", "-o", "-", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    // The reader goes away, as `| head -c 100` does.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success(), "a truncated archive must not look like success");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("closed") || err.contains("pipe"), "{err}");
}
