//! The asset register as an investigator uses it: history ingested from EventBridge events and
//! CloudTrail logs (built from the AWS documentation samples in ../shared/reference/aws), then
//! "who had this IP at that time?".

use crate::common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::process::Command;

const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference/aws/");

fn sample(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(format!("{REF}{name}")).expect("../shared/reference/aws")).unwrap()
}

/// The documented RUNNING event, made into task `id` holding `ip` from `start` (and a STOPPED
/// event at `stop`).
fn task_events(id: &str, ip: &str, eni: &str, start: &str, stop: Option<&str>) -> Vec<Value> {
    let mut ev = sample("eventbridge-ecs-task-state-change-running.json");
    let arn = format!("arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/{id}");
    ev["id"] = format!("run-{id}").into();
    ev["time"] = start.into();
    ev["resources"] = json!([arn]);
    let d = &mut ev["detail"];
    d["taskArn"] = arn.clone().into();
    d["startedAt"] = start.into();
    d["group"] = "service:checkout".into();
    d["attachments"][0]["id"] = format!("att-{id}").into();
    d["attachments"][0]["details"][1]["value"] = eni.into();
    d["attachments"][0]["details"][3]["value"] = ip.into();
    d["containers"][0]["taskArn"] = arn.into();
    let mut out = vec![ev.clone()];
    if let Some(stop) = stop {
        let mut st = ev;
        st["id"] = format!("stop-{id}").into();
        st["time"] = stop.into();
        st["detail"]["lastStatus"] = "STOPPED".into();
        st["detail"]["desiredStatus"] = "STOPPED".into();
        st["detail"]["stoppedAt"] = stop.into();
        st["detail"]["attachments"][0]["status"] = "DELETED".into();
        out.push(st);
    }
    out
}

fn whois(db: &std::path::Path, ip: &str, at: Option<&str>) -> (i32, Value) {
    let mut c = Command::new(curtain());
    c.args(["whois", ip, "--format", "json", "--db"]).arg(db);
    if let Some(at) = at {
        c.args(["--at", at]);
    }
    let o = c.output().unwrap();
    (o.status.code().unwrap(), serde_json::from_slice(&o.stdout).unwrap_or(Value::Null))
}

#[test]
fn events_ip_reuse_and_cloudtrail_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("register.db");

    // Two tasks held 10.0.0.139 one after the other; events come as JSON lines.
    let mut lines = String::new();
    for ev in task_events(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "10.0.0.139",
        "eni-aaaa",
        "2026-11-01T08:00:00Z",
        Some("2026-11-01T09:00:00Z"),
    )
    .into_iter()
    .chain(task_events("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "10.0.0.139", "eni-bbbb", "2026-11-01T10:00:00Z", None))
    {
        lines.push_str(&ev.to_string());
        lines.push('\n');
    }
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, &lines).unwrap();
    let o = run(Command::new(curtain()).args(["ingest", "events"]).arg(&events).arg("--db").arg(&db));
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 task record(s)"));

    let (code, v) = whois(&db, "10.0.0.139", Some("2026-11-01T08:30:00Z"));
    assert_eq!(code, 0);
    let h = &v["holders"].as_array().unwrap()[..];
    assert_eq!(h.len(), 1);
    assert!(h[0]["task_arn"].as_str().unwrap().ends_with("/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_eq!(h[0]["service"], "checkout");
    assert_eq!(h[0]["certainty"], "observed");
    assert_eq!(h[0]["to"], "2026-11-01T09:00:00.000000000Z");
    assert_eq!(h[0]["containers"][0]["name"], "FargateApp");
    let (_, v) = whois(&db, "10.0.0.139", Some("2026-11-01T11:00:00Z"));
    assert!(v["holders"][0]["task_arn"].as_str().unwrap().ends_with("/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"));
    let (code, _) = whois(&db, "10.0.0.139", Some("2026-11-01T09:30:00Z"));
    assert_eq!(code, 1, "nobody held it between the two");
    let (_, v) = whois(&db, "10.0.0.139", None);
    assert_eq!(v["holders"].as_array().unwrap().len(), 2);

    // Ingesting the same events again changes nothing.
    assert!(run(Command::new(curtain()).args(["ingest", "events"]).arg(&events).arg("--db").arg(&db)).status.success());
    assert_eq!(whois(&db, "10.0.0.139", None).1, v);

    // CloudTrail (gzipped): RunTask with a PRECREATED attachment, then the ENI ECS made for it,
    // then its deletion. The ENI's description names the attachment: that is the join.
    let mut run_task = json!({
        "eventVersion": "1.08", "eventTime": "2026-10-01T12:00:00Z", "eventSource": "ecs.amazonaws.com",
        "eventName": "RunTask", "awsRegion": "us-west-2", "eventID": "ct-run", "recipientAccountId": "111122223333",
        "requestParameters": {"cluster": "FargateCluster"},
        "responseElements": sample("ecs-runtask-response-precreated-attachment.json")
    });
    run_task["responseElements"]["tasks"][0]["taskArn"] =
        "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/cccccccccccccccccccccccccccccccc".into();
    let mut create = sample("cloudtrail-createnetworkinterface-shape-from-efs-docs.json");
    create["eventTime"] = "2026-10-01T12:00:03Z".into();
    create["eventID"] = "ct-create".into();
    create["awsRegion"] = "us-west-2".into();
    create["requestParameters"]["description"] =
        "arn:aws:ecs:us-west-2:111122223333:attachment/ce868693-15ca-4083-91ac-f782f64000c9".into();
    create["responseElements"]["networkInterface"]["privateIpAddress"] = "10.0.0.139".into();
    create["responseElements"]["networkInterface"]["privateIpAddressesSet"]["item"][0]["privateIpAddress"] =
        "10.0.0.139".into();
    let delete = json!({
        "eventTime": "2026-10-01T14:00:00Z", "eventSource": "ec2.amazonaws.com", "eventName": "DeleteNetworkInterface",
        "awsRegion": "us-west-2", "eventID": "ct-delete", "recipientAccountId": "111122223333",
        "requestParameters": {"networkInterfaceId": "eni-0123456789abcdef0"}, "responseElements": {"_return": true}
    });
    let trail = dir.path().join("111122223333_CloudTrail_us-west-2_20261001T1200Z_x.json.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json!({ "Records": [run_task, create, delete] }).to_string().as_bytes()).unwrap();
    std::fs::write(&trail, gz.finish().unwrap()).unwrap();
    let o = run(Command::new(curtain()).args(["ingest", "cloudtrail"]).arg(&trail).arg("--db").arg(&db));
    assert!(o.status.success());

    // A month earlier the same address belonged to that task: known only from CloudTrail.
    let (code, v) = whois(&db, "10.0.0.139", Some("2026-10-01T13:00:00Z"));
    assert_eq!(code, 0);
    let h = &v["holders"][0];
    assert!(h["task_arn"].as_str().unwrap().ends_with("/cccccccccccccccccccccccccccccccc"));
    assert_eq!(h["certainty"], "inferred");
    assert_eq!(h["eni_id"], "eni-0123456789abcdef0");
    assert_eq!(h["to"], "2026-10-01T14:00:00.000000000Z");
    let ids: Vec<&str> = h["sources"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ct-run", "ct-create", "ct-delete"]);
    assert_eq!(whois(&db, "10.0.0.139", None).1["holders"].as_array().unwrap().len(), 3);

    // The text form, for a person.
    let o = Command::new(curtain())
        .args(["whois", "10.0.0.139", "--at", "2026-11-01T08:30:00Z", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("10.0.0.139 at 2026-11-01T08:30:00Z: 1 holder(s)"), "{text}");
    assert!(text.contains("service checkout"));
    assert!(text.contains("from: eventbridge run-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

#[test]
fn bad_input_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let f = dir.path().join("junk.json");
    std::fs::write(&f, "not json\n{\"detail-type\": \"Something Else\"}\n").unwrap();
    let o = Command::new(curtain()).args(["ingest", "events"]).arg(&f).arg("--db").arg(&db).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "unreadable input sets the exit code");
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("0 task record(s), 0 ENI record(s), 1 other record(s) skipped, 1 unreadable"));
    let o = Command::new(curtain()).args(["whois", "10.1.1.1", "--at", "yesterday", "--db"]).arg(&db).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
