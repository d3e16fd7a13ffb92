//! `curtain flows` as a responder runs it: a register filled from EventBridge events, a
//! snapshot of this machine taken while a real connection is open, and flow records written for
//! that connection (made up, in AWS's version 2 format, as the VPC would log it had the
//! loopback been the task's interface).

use crate::common::*;
use serde_json::Value;
use std::process::Command;

#[test]
fn a_flow_is_tied_to_its_task_by_time_and_to_its_process_by_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    // The register: task aaaa held 127.0.0.1 until 09:00; task bbbb holds it since 10:00.
    let (old, new) = ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let t = |s: u64| curtain_model::format_rfc3339_ns(s * 1_000_000_000);
    let mut lines = String::new();
    for ev in crate::register::task_events(old, "127.0.0.1", "eni-aaaa", &t(now - 7200), Some(&t(now - 3600)))
        .into_iter()
        .chain(crate::register::task_events(new, "127.0.0.1", "eni-bbbb", &t(now - 1800), None))
    {
        lines.push_str(&ev.to_string());
        lines.push('\n');
    }
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, lines).unwrap();
    let db = dir.path().join("register.db");
    assert!(run(Command::new(curtain()).args(["ingest", "events"]).arg(&events).arg("--db").arg(&db)).status.success());

    // A real connection, held by this test process, during a snapshot.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (_server, _) = listener.accept().unwrap();
    let (cport, sport) = (client.local_addr().unwrap().port(), listener.local_addr().unwrap().port());
    let snap = dir.path().join("snap.tar.zst");
    collect(&snap, &["-q"]);

    // Its flow now, the same 5-tuple an hour and a half ago (the old task's time, outside the
    // snapshot's), a NODATA record, and a line that is not a record.
    let log = dir.path().join("flows.log");
    std::fs::write(
        &log,
        format!(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
             2 012345678901 eni-bbbb 127.0.0.1 127.0.0.1 {cport} {sport} 6 10 840 {a} {b} ACCEPT OK\n\
             2 012345678901 eni-aaaa 127.0.0.1 127.0.0.1 {cport} {sport} 6 4 200 {c} {d} REJECT OK\n\
             2 012345678901 eni-bbbb - - - - - - - {a} {b} - NODATA\n\
             2 012345678901 eni-bbbb 127.0.0.1 not-an-address\n",
            a = now - 30,
            b = now + 30,
            c = now - 5400,
            d = now - 5340
        ),
    )
    .unwrap();
    let o = run(Command::new(curtain())
        .args(["flows", "attribute"])
        .arg(&log)
        .arg("--db")
        .arg(&db)
        .arg("--snapshot")
        .arg(&snap));
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("flows.log:5:"), "the malformed line is said with its file and line: {err}");
    assert!(err.contains("3 record(s) (1 NODATA, 0 SKIPDATA), 1 line(s) malformed"), "{err}");
    let rows: Vec<Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3);
    let now_row = &rows[0];
    assert_eq!(now_row["account_id"], "012345678901", "leading zeros kept");
    assert_eq!(now_row["srcport"], cport);
    assert!(now_row["src"]["task_arn"].as_str().unwrap().ends_with(new), "{now_row}");
    assert_eq!(now_row["src"]["kind"], "task");
    assert_eq!(now_row["snapshot_match"], "matched", "{now_row}");
    let me = std::process::id();
    assert!(
        [&now_row["src"]["process"]["pid"], &now_row["dst"]["process"]["pid"]].iter().any(|p| **p == me),
        "the connection's owner is this test's process: {now_row}"
    );
    // The record's own time decides: an hour and a half ago it was the old task's.
    let then = &rows[1];
    assert!(then["src"]["task_arn"].as_str().unwrap().ends_with(old), "{then}");
    assert_eq!(then["snapshot_match"], "outside_snapshot_time");
    assert_eq!(rows[2]["log_status"], "NODATA");

    // CSV to a file, which is never replaced.
    let csv = dir.path().join("flows.csv");
    let o = run(Command::new(curtain())
        .args(["flows", "attribute", "--output", "csv", "-o"])
        .arg(&csv)
        .arg(&log)
        .arg("--db")
        .arg(&db));
    assert!(o.status.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 4, "a header and three rows");
    let again = Command::new(curtain())
        .args(["flows", "attribute", "-o"])
        .arg(&csv)
        .arg(&log)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));

    // The summary names the task and the process behind its flow.
    let o = run(Command::new(curtain())
        .args(["flows", "summary", "--format", "json"])
        .arg(&log)
        .arg("--db")
        .arg(&db)
        .arg("--snapshot")
        .arg(&snap));
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains(new) && s.contains(old), "{s}");
    assert!(s.contains(&format!("\"pid\": {me}")) || s.contains(&format!("\"pid\":{me}")), "{s}");
    // No register: a usage error.
    let o = Command::new(curtain())
        .args(["flows", "summary"])
        .arg(&log)
        .arg("--db")
        .arg(dir.path().join("none.db"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    drop(client);
}
