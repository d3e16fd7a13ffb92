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
    let db = crate::register::register_of(
        dir.path(),
        crate::register::task_events(old, "127.0.0.1", "eni-aaaa", &t(now - 7200), Some(&t(now - 3600)))
            .into_iter()
            .chain(crate::register::task_events(new, "127.0.0.1", "eni-bbbb", &t(now - 1800), None)),
    );

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

/// A register of three tasks: aaaa held 10.0.0.139 from 08:00:00.5 to 09:00, bbbb holds it since
/// 10:00, cccc holds 10.0.0.7 since 07:00 (1 November 2026, UTC). Returns the register's path.
fn three_tasks(dir: &std::path::Path) -> std::path::PathBuf {
    crate::register::register_of(
        dir,
        crate::register::task_events(
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "10.0.0.139",
            "eni-aaaa",
            "2026-11-01T08:00:00.500Z",
            Some("2026-11-01T09:00:00Z"),
        )
        .into_iter()
        .chain(crate::register::task_events(
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "10.0.0.139",
            "eni-bbbb",
            "2026-11-01T10:00:00Z",
            None,
        ))
        .chain(crate::register::task_events(
            "cccccccccccccccccccccccccccccccc",
            "10.0.0.7",
            "eni-cccc",
            "2026-11-01T07:00:00Z",
            None,
        )),
    )
}

/// Epoch seconds of 2026-11-01 at `h:m:s` UTC.
fn nov1(h: u64, m: u64, s: u64) -> u64 {
    1_793_491_200 + h * 3600 + m * 60 + s
}

/// Flow records (made up, AWS's version 2 format) for [`three_tasks`]'s register, each with its
/// own source port: the record's time decides between the two holders of 10.0.0.139, the
/// boundaries included (08:00:00 is before aaaa's start at 08:00:00.5, 09:00:00 is its stop), and
/// an address nobody owns. The interface is one the register does not know: the interface as a
/// second key is curtain's alone (docs/FLOWS.md). A text file and a gzip one.
fn flow_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";
    let rec = |src: &str, dst: &str, sport: u32, at: u64| {
        format!("2 012345678901 eni-0000 {src} {dst} {sport} 443 6 10 840 {at} {} ACCEPT OK\n", at + 60)
    };
    let mut a = header.to_string();
    a += &rec("10.0.0.139", "198.51.100.7", 40001, nov1(8, 30, 0)); // aaaa
    a += &rec("10.0.0.139", "198.51.100.7", 40002, nov1(10, 30, 0)); // bbbb: the same address, later
    a += &rec("10.0.0.139", "198.51.100.7", 40003, nov1(9, 30, 0)); // between the two: nobody
    a += &rec("10.0.0.139", "198.51.100.7", 40004, nov1(6, 0, 0)); // before any holder: nobody
    a += &rec("10.0.0.139", "198.51.100.7", 40005, nov1(8, 0, 0)); // half a second before aaaa
    a += &rec("10.0.0.139", "198.51.100.7", 40006, nov1(8, 0, 1)); // aaaa
    a += &rec("10.0.0.139", "198.51.100.7", 40007, nov1(9, 0, 0)); // aaaa's last second
    a += &rec("10.0.0.7", "10.0.0.139", 40008, nov1(10, 45, 0)); // cccc to bbbb
    a += &format!("2 012345678901 eni-0000 - - - - - - - {} {} - NODATA\n", nov1(11, 0, 0), nov1(11, 1, 0));
    let mut b = header.to_string();
    b += &rec("203.0.113.9", "10.0.0.7", 40009, nov1(12, 0, 0)); // nobody's address to cccc
    b += &rec("10.0.0.7", "10.0.0.139", 40010, nov1(7, 30, 0)); // cccc to nobody (bbbb not yet)
    b += &rec("10.0.0.7", "10.0.0.139", 40011, nov1(8, 15, 0)); // cccc to aaaa
    let (pa, pb) = (dir.join("a.log"), dir.join("b.log.gz"));
    std::fs::write(&pa, a).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, b.as_bytes()).unwrap();
    std::fs::write(&pb, gz.finish().unwrap()).unwrap();
    vec![pa, pb]
}

/// Per record (source port, start): the source's and the destination's kind and task ARN.
type Answers = std::collections::BTreeMap<(Option<u64>, u64), [Option<String>; 5]>;

fn curtain_answers(files: &[std::path::PathBuf], db: &std::path::Path) -> Answers {
    let o = run(Command::new(curtain()).args(["flows", "attribute"]).args(files).arg("--db").arg(db));
    assert!(o.status.success());
    let mut out = Answers::new();
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        let r: Value = serde_json::from_str(l).unwrap();
        let s = |v: &Value| v.as_str().map(str::to_string);
        let key = (r["srcport"].as_u64(), r["start"].as_u64().unwrap());
        out.insert(
            key,
            [
                s(&r["src"]["kind"]),
                s(&r["src"]["task_arn"]),
                s(&r["dst"]["kind"]),
                s(&r["dst"]["task_arn"]),
                s(&r["src"]["owner_kind"]),
            ],
        );
    }
    out
}

#[test]
fn inventory_export_writes_parquet_once_and_athena_prints_its_sql() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_tasks(dir.path());
    let out = dir.path().join("register-parquet");
    let o = run(Command::new(curtain()).args(["inventory", "export", "--parquet"]).arg(&out).arg("--db").arg(&db));
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 address interval(s), 3 task(s), 3 container(s)"), "{o:?}");
    for t in ["intervals", "tasks", "containers"] {
        let bytes = std::fs::read(out.join(t).join(format!("{t}.parquet"))).unwrap();
        assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"), "{t}");
    }
    // A folder with files is never written into; an empty one is.
    let again = Command::new(curtain())
        .args(["inventory", "export", "--parquet"])
        .arg(&out)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("holds files already"));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(run(Command::new(curtain()).args(["inventory", "export", "--parquet"]).arg(&empty).arg("--db").arg(&db))
        .status
        .success());

    let o = run(Command::new(curtain()).args([
        "flows",
        "athena",
        "--location",
        "s3://flows/vpc/",
        "--accounts",
        "012345678901",
    ]));
    assert!(o.status.success());
    let sql = String::from_utf8_lossy(&o.stdout);
    assert!(sql.contains("'storage.location.template' = 's3://flows/vpc/AWSLogs/${log_account}/vpcflowlogs/${log_region}/${log_day}'"), "{sql}");
    assert!(sql.contains("'projection.log_account.values' = '012345678901'"));
    let bad = Command::new(curtain()).args(["flows", "athena", "--location", "s3://x/'; DROP"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));

    // Parquet rows need a file.
    let files = flow_files(dir.path());
    let no = Command::new(curtain())
        .args(["flows", "attribute", "--output", "parquet"])
        .args(&files)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(no.status.code(), Some(2));
    let pq = dir.path().join("rows.parquet");
    let o = run(Command::new(curtain())
        .args(["flows", "attribute", "--output", "parquet", "-o"])
        .arg(&pq)
        .args(&files)
        .arg("--db")
        .arg(&db));
    assert!(o.status.success());
    let bytes = std::fs::read(&pq).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
}

/// The SQL `curtain flows athena` prints, run in DuckDB over `inventory export --parquet`'s files
/// and the flow files, gives each record the same source and destination task as
/// `curtain flows attribute`. What DuckDB needs adapted from the Athena text, and nothing else:
/// the `CREATE EXTERNAL TABLE` statements (S3 locations, partition projection, SerDe) become
/// views, the flow-log table over `read_csv` of the local files with the columns and types the
/// Athena table declares (space-separated, header line, `-` null, gzip told by its name), the
/// register's tables over `read_parquet` of the exported files. The view of address pieces and
/// the attribution query run verbatim. `--output parquet`'s rows are read back by DuckDB too.
#[test]
#[ignore = "needs DuckDB (scripts/test installs it)"]
fn the_athena_sql_in_duckdb_attributes_as_curtain_does() {
    let python = std::env::var("CURTAIN_DUCKDB_PYTHON")
        .expect("CURTAIN_DUCKDB_PYTHON: a Python with duckdb; run scripts/test, which makes one");
    let dir = tempfile::tempdir().unwrap();
    let db = three_tasks(dir.path());
    let files = flow_files(dir.path());
    let export = dir.path().join("register-parquet");
    assert!(run(Command::new(curtain()).args(["inventory", "export", "--parquet"]).arg(&export).arg("--db").arg(&db))
        .status
        .success());
    let o = run(Command::new(curtain()).args(["flows", "athena", "--table", "flows"]));
    assert!(o.status.success());
    let sql = String::from_utf8(o.stdout).unwrap();
    let part = |name: &str| {
        curtain_flows::athena::statement(&sql, name).unwrap_or_else(|| panic!("{name} in {sql}")).to_string()
    };
    let rows = dir.path().join("rows.parquet");
    assert!(run(Command::new(curtain())
        .args(["flows", "attribute", "--output", "parquet", "-o"])
        .arg(&rows)
        .args(&files)
        .arg("--db")
        .arg(&db))
    .status
    .success());
    let job = serde_json::json!({
        "text_table": part("flow-log table (text delivery)"),
        "timeline": part(curtain_flows::athena::TIMELINE_VIEW),
        "query": part("attribution"),
        "files": files,
        "register": export,
        "rows": rows,
    });
    let script = r#"
import duckdb, json, re, sys
job = json.loads(sys.argv[1])
con = duckdb.connect()
# The flow-log table: the Athena DDL's columns and types, over read_csv instead of S3.
body = job["text_table"].split("(", 1)[1].split("\n)", 1)[0]
types = {"int": "INTEGER", "bigint": "BIGINT", "string": "VARCHAR"}
cols = {m.group(1): types[m.group(2)] for m in re.finditer(r"`(\w+)` (\w+)", body)}
name = re.match(r"CREATE EXTERNAL TABLE IF NOT EXISTS `(\w+)`", job["text_table"]).group(1)
con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv({job['files']!r}, delim=' ', header=true, nullstr='-', columns={cols!r})")
for t in ["intervals", "tasks", "containers"]:
    con.execute(f"CREATE VIEW curtain_{t} AS SELECT * FROM read_parquet('{job['register']}/{t}/*.parquet')")
con.execute(job["timeline"])
cur = con.execute(job["query"])
names = [d[0] for d in cur.description]
out = [dict(zip(names, r)) for r in cur.fetchall()]
back = con.execute(f"SELECT srcport, \"start\", src_kind, src_task_arn, dst_kind, dst_task_arn, src_owner_kind FROM read_parquet('{job['rows']}')").fetchall()
print(json.dumps({"sql": [[r["srcport"], r["start"], r["src_kind"], r["src_task_arn"], r["dst_kind"], r["dst_task_arn"], r["src_owner_kind"]] for r in out], "parquet": back}))
"#;
    let o = run(Command::new(&python).arg("-c").arg(script).arg(job.to_string()));
    assert!(o.status.success());
    let got: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = |v: &Value| v.as_str().map(str::to_string);
    let from = |rows: &Value| -> Answers {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| ((r[0].as_u64(), r[1].as_u64().unwrap()), [s(&r[2]), s(&r[3]), s(&r[4]), s(&r[5]), s(&r[6])]))
            .collect()
    };
    let mine = curtain_answers(&files, &db);
    assert_eq!(mine.len(), 12);
    assert_eq!(from(&got["sql"]), mine, "DuckDB running the Athena SQL, against curtain flows attribute");
    assert_eq!(from(&got["parquet"]), mine, "--output parquet read back by DuckDB");
    assert_eq!(got["sql"].as_array().unwrap().len(), 12, "one row per record, never two");

    // What the comparison covers: the record's time picks the holder, boundaries included,
    // and nobody's address (or time) is no task.
    let task = |p: u64| mine.iter().find(|(k, _)| k.0 == Some(p)).map(|(_, v)| v.clone()).unwrap();
    let ends = |v: &Option<String>, id: char| v.as_deref().is_some_and(|t| t.ends_with(&id.to_string().repeat(32)));
    assert!(ends(&task(40001)[1], 'a') && ends(&task(40002)[1], 'b'));
    for p in [40003, 40004, 40005] {
        assert_eq!(task(p)[0].as_deref(), Some("unknown"), "{p}");
        assert_eq!(task(p)[1], None);
    }
    assert!(ends(&task(40006)[1], 'a') && ends(&task(40007)[1], 'a'));
    assert!(ends(&task(40008)[1], 'c') && ends(&task(40008)[3], 'b'));
    assert_eq!(task(40009)[0].as_deref(), Some("unknown"));
    assert!(ends(&task(40009)[3], 'c'));
    assert_eq!(task(40010)[2].as_deref(), Some("unknown"));
    assert!(ends(&task(40011)[3], 'a'));
    assert_eq!(task(40001)[4].as_deref(), Some("ecs-task"), "the owner's kind, whois's");
}
