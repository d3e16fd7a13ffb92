//! The analysis side as a user runs it: golden outputs of every view of the fixture archive the
//! lab made (tests/fixtures/lab.tar.zst, rebuilt by scripts/make-fixture), the HTML report in
//! headless Chromium, a diff around a process start and a connection, and triage of this machine.

use crate::common::*;
use crate::require_root;
use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURE: &str = "tests/fixtures/lab.tar.zst";

pub(crate) fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs curtain in the crate's folder (so the fixture path in outputs is stable), colour off.
fn curtain_here(args: &[&str]) -> std::process::Output {
    Command::new(curtain()).args(args).current_dir(crate_dir()).env("NO_COLOR", "1").output().expect("run curtain")
}

/// Compares with tests/golden/NAME; CURTAIN_BLESS=1 rewrites it.
fn golden(name: &str, got: &[u8]) {
    let path = crate_dir().join("tests/golden").join(name);
    if std::env::var_os("CURTAIN_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|_| panic!("{} missing: run with CURTAIN_BLESS=1", path.display()));
    if want != got {
        let (w, g) = (String::from_utf8_lossy(&want), String::from_utf8_lossy(got));
        for (i, (a, b)) in w.lines().zip(g.lines()).enumerate() {
            if a != b {
                panic!("{name} differs at line {}:\n want: {a}\n  got: {b}", i + 1);
            }
        }
        panic!("{name} differs in length: {} lines wanted, {} got", w.lines().count(), g.lines().count());
    }
}

#[test]
fn golden_findings_text_and_exit_code() {
    let o = curtain_here(&["findings", FIXTURE]);
    assert_eq!(o.status.code(), Some(1), "findings present: exit 1");
    golden("findings.txt", &o.stdout);
    let o = curtain_here(&["findings", FIXTURE, "--min-severity", "critical"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().filter(|l| l.starts_with("CRITICAL")).count(), 2, "{text}");
    assert!(!text.contains("HIGH"));
}

#[test]
fn golden_findings_json() {
    let o = curtain_here(&["findings", FIXTURE, "--format", "json"]);
    golden("findings.json", &o.stdout);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: std::collections::BTreeSet<&str> =
        v["findings"].as_array().unwrap().iter().map(|f| f["detector"].as_str().unwrap()).collect();
    for want in [
        "reverse-shell",
        "bind-shell",
        "deleted-exe",
        "memfd-exe",
        "writable-dir-exe",
        "ld-preload",
        "traced",
        "miner",
        "credential-endpoint",
        "masquerade",
        "suspicious-mapping",
    ] {
        assert!(ids.contains(want), "{want} did not fire on the lab: {ids:?}");
    }
    // The collector (labelled self) raised nothing by itself.
    let a = Archive::load(&crate_dir().join(FIXTURE));
    let me = a.processes.iter().find(|p| p.label == Some(curtain_model::Label::SelfCollector)).unwrap().pid;
    assert!(v["findings"].as_array().unwrap().iter().all(|f| f["pid"].as_u64() != Some(me as u64)));
}

#[test]
fn golden_tree_and_sockets() {
    let o = curtain_here(&["tree", FIXTURE]);
    assert!(o.status.success());
    golden("tree.txt", &o.stdout);
    let o = curtain_here(&["sockets", FIXTURE]);
    assert!(o.status.success());
    golden("sockets.txt", &o.stdout);
    // Hostile names are shown escaped on the terminal, never raw.
    let tree = String::from_utf8_lossy(&curtain_here(&["tree", FIXTURE]).stdout).into_owned();
    assert!(tree.contains("a\\nb\u{fffd}"), "newline in a comm is escaped");
}

#[test]
fn golden_timeline_csv_and_row_order() {
    let o = curtain_here(&["timeline", FIXTURE, "--format", "csv"]);
    assert!(o.status.success());
    golden("timeline.csv", &o.stdout);
    let o = curtain_here(&["timeline", FIXTURE]);
    let rows: Vec<serde_json::Value> =
        o.stdout.split(|&c| c == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    let a = Archive::load(&crate_dir().join(FIXTURE));
    let user_procs = a.processes.iter().filter(|p| !p.kernel_thread).count();
    let findings: serde_json::Value = serde_json::from_slice(
        &curtain_here(&["findings", FIXTURE, "--format", "json", "--min-severity", "info"]).stdout,
    )
    .unwrap();
    let nf = findings["findings"].as_array().unwrap().len();
    // boot + each process start + one container init + collection start and end + findings
    assert_eq!(rows.len(), 1 + user_procs + 1 + 2 + nf);
    assert_eq!(rows[0]["timestamp_desc"], "System Boot");
    let times: Vec<u64> =
        rows.iter().map(|r| curtain_model::parse_rfc3339_ns(r["datetime"].as_str().unwrap()).unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "sorted");
    for r in &rows {
        assert!(r["message"].is_string() && r["timestamp_desc"].is_string());
    }
    let last: Vec<&str> = rows.iter().rev().take(2).map(|r| r["timestamp_desc"].as_str().unwrap()).collect();
    assert_eq!(last, ["Collection End", "Collection Start"]);
    // Two archives merge into one sorted timeline.
    let o = curtain_here(&["timeline", FIXTURE, FIXTURE]);
    assert_eq!(o.stdout.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count(), rows.len() * 2);
}

#[test]
fn golden_markdown_report() {
    let o = curtain_here(&["report", FIXTURE, "--format", "md"]);
    assert!(o.status.success());
    golden("report.md", &o.stdout);
}

fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    let bin = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new("sh").args(["-c", &format!("command -v {b}")]).output().is_ok_and(|o| o.status.success())
        })
        .expect("Chromium is not installed: scripts/test installs Debian's chromium package");
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

#[test]
#[ignore = "needs Chromium (scripts/test installs it)"]
fn html_report_as_a_browser_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let o = curtain_here(&["report", FIXTURE, "-o", html.to_str().unwrap()]);
    assert!(o.status.success());
    let page = std::fs::read_to_string(&html).unwrap();
    // Self-contained: no script, no fetch of anything.
    assert!(!page.contains("<script"));
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
    let url = format!("file://{}", html.display());
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&["--dump-dom", &url], profile.path());
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The hostile argv[0] is text on the page: escaped in the DOM, and no element was made of it.
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"), "the hostile name is shown as text");
    assert!(!dom.contains("<img"), "no img element exists");
    for section in [
        "Findings (",
        "Reverse shell: a shell or interpreter on a network socket",
        "Where this was collected",
        "Process tree",
        "Sockets (",
        "Timeline (",
        "Not readable",
        "Archive manifest",
    ] {
        assert!(dom.contains(section), "{section}");
    }
    // A screenshot, kept as a test artifact.
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("report.png");
    let _ = std::fs::remove_file(&png);
    let o = chromium(&["--window-size=1300,2400", &format!("--screenshot={}", png.display()), &url], profile.path());
    assert!(o.status.success());
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert_eq!(&bytes[1..4], b"PNG");
    assert!(bytes.len() > 50_000, "a real rendering, not a blank page");
}

#[test]
#[ignore = "needs root: namespaces, setpriv, chroot (scripts/test runs it as root)"]
fn diff_around_a_process_start_and_a_connection() {
    require_root!();
    let sb = Sandbox::start();
    let before = sb.dir.path().join("before.tar");
    sb.collect_inside("before.tar", &["-q"]);
    // Inside the sandbox: a new process that connects to the sandbox's listener.
    let mut client = Command::new("nsenter")
        .args(["-t", &sb.init.to_string(), "-p", "-n", "-m", "-u", "--"])
        .arg(lab_bin())
        .args(["connect", "127.0.0.1:4444"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(client.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let after = sb.dir.path().join("after.tar");
    sb.collect_inside("after.tar", &["-q"]);
    let o = Command::new(curtain()).arg("diff").arg(&before).arg(&after).args(["--format", "json"]).output().unwrap();
    let _ = client.kill();
    let _ = client.wait();
    assert_eq!(o.status.code(), Some(1), "differences: exit 1");
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let started: Vec<&str> =
        d["processes_started"].as_array().unwrap().iter().map(|p| p["cmdline"].as_str().unwrap()).collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert!(started[0].ends_with("connect 127.0.0.1:4444"));
    // Both ends of the new connection, and nothing closed, no new listener.
    let opened = d["connections_opened"].as_array().unwrap();
    assert_eq!(opened.len(), 2, "{opened:?}");
    assert!(opened
        .iter()
        .any(|c| c["remote"] == "127.0.0.1:4444" && c["owners"][0].as_str().unwrap().contains("curtain-lab")));
    assert!(d["connections_closed"].as_array().unwrap().is_empty());
    assert!(d["new_listeners"].as_array().unwrap().is_empty());
    // The same snapshot twice: nothing.
    let o = Command::new(curtain()).arg("diff").arg(&after).arg(&after).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "No differences.");
}

#[test]
fn triage_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ir");
    let o = Command::new(curtain()).args(["triage", "-o"]).arg(&out).env("NO_COLOR", "1").output().unwrap();
    assert!(matches!(o.status.code(), Some(0) | Some(1)), "{:?} {}", o.status, String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("curtain: "), "{text}");
    assert!(text.contains("findings:"));
    assert!(!text.contains('\x1b'), "no colour when piped");
    for f in ["snapshot.tar.zst", "snapshot.tar.zst.sha256", "report.html", "findings.json", "timeline.jsonl"] {
        assert!(out.join(f).exists(), "{f}");
    }
    assert!(run(Command::new(curtain()).arg("verify").arg(out.join("snapshot.tar.zst"))).status.success());
    let findings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("findings.json")).unwrap()).unwrap();
    // The exit code follows the findings at or above low.
    let low_or_more = findings["findings"].as_array().unwrap().iter().filter(|f| f["severity"] != "info").count();
    assert_eq!(o.status.code(), Some(if low_or_more > 0 { 1 } else { 0 }));
}

#[test]
fn detectors_doc_is_the_registry() {
    let o = curtain_here(&["detectors"]);
    assert!(o.status.success());
    let doc = std::fs::read(crate_dir().join("../../docs/DETECTORS.md")).unwrap();
    assert!(doc == o.stdout, "docs/DETECTORS.md is stale: curtain detectors > docs/DETECTORS.md");
    // One section per detector (`## Title (`id`)`), then the program families they share.
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().filter(|l| l.starts_with("## ") && l.ends_with("`)")).count(), 21);
    assert!(text.contains("\n## Program families"));
}

#[test]
fn errors_exit_2() {
    let o = curtain_here(&["findings", "no-such-archive.tar.zst"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-archive.tar.zst"));
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, b"not an archive at all").unwrap();
    let o = Command::new(curtain()).arg("report").arg(&junk).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_fixture_verifies_and_reparses_identically() {
    let o = curtain_here(&["verify", FIXTURE]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let o = curtain_here(&["reparse", FIXTURE]);
    assert!(
        o.status.success(),
        "rebuild scripts/make-fixture after a format change: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).matches("identical").count(), 7);
}

#[test]
fn a_responders_rules_add_findings_and_a_bad_rule_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("acme.toml"),
        "id = \"acme-backdoor\"\nkind = \"process\"\ntitle = \"The ACME backdoor\"\nattack = [\"T1543\"]\n\
         severity = \"critical\"\ndoc = \"Seen in incident 42.\"\n[lists]\nnames = [\"curtain-lab\"]\n",
    )
    .unwrap();
    let rules = dir.path().to_str().unwrap();
    let o = curtain_here(&["findings", "tests/fixtures/lab.tar.zst", "--rules", rules, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.to_string().contains("acme-backdoor"), "{v}");
    let o = curtain_here(&["detectors", "--rules", rules]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("(`acme-backdoor`)"));
    std::fs::write(dir.path().join("bad.toml"), "id = \"x\"\nseverity = \"bad\"\n").unwrap();
    let o = curtain_here(&["findings", "tests/fixtures/lab.tar.zst", "--rules", rules]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.toml:2: bad severity"), "{err}");
}

#[test]
fn compare_names_the_odd_archive_out_and_nothing_for_identical_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let copies: Vec<String> = (1..=3)
        .map(|i| {
            let p = dir.path().join(format!("web-{i}.tar.zst"));
            std::fs::copy(crate_dir().join("tests/fixtures/lab.tar.zst"), &p).unwrap();
            p.to_string_lossy().into_owned()
        })
        .collect();
    let args = |extra: &[&str], archives: &[&str]| -> Vec<String> {
        ["compare", "--one-group"].iter().chain(extra).chain(archives).map(|s| s.to_string()).collect()
    };
    let same: Vec<&str> = copies.iter().map(String::as_str).collect();
    let o = curtain_here(&args(&[], &same).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    // This machine beside two replicas of the lab: it is the one that stands out.
    let host = dir.path().join("host.tar.zst");
    collect(&host, &["-q"]);
    let host = host.to_string_lossy().into_owned();
    let o = curtain_here(
        &args(&["--format", "json"], &[&copies[0], &copies[1], &host]).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let outliers = v["groups"][0]["outliers"].as_array().unwrap();
    assert!(!outliers.is_empty());
    assert!(outliers.iter().all(|x| x["archive"] == host.as_str() && x["shared_by"] == 1), "{v}");
}
