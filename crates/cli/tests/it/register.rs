//! The asset register as an investigator uses it: history ingested from EventBridge events and
//! CloudTrail logs (built from the AWS documentation samples in fixtures/aws/ of the repository), then
//! "who had this IP at that time?".

use crate::common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::process::Command;

const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/aws/");

fn sample(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(format!("{REF}{name}")).expect("fixtures/aws/ in the repository")).unwrap()
}

/// A register made by `curtain ingest events` from these events, written as JSON lines in
/// `dir`: its path.
pub(crate) fn register_of(dir: &std::path::Path, events: impl IntoIterator<Item = Value>) -> std::path::PathBuf {
    let lines: String = events.into_iter().map(|e| format!("{e}\n")).collect();
    let file = dir.join("events.jsonl");
    std::fs::write(&file, lines).unwrap();
    let db = dir.join("register.db");
    assert!(run(Command::new(curtain()).args(["ingest", "events"]).arg(&file).arg("--db").arg(&db)).status.success());
    db
}

/// The documented RUNNING event, made into task `id` holding `ip` from `start` (and a STOPPED
/// event at `stop`).
pub(crate) fn task_events(id: &str, ip: &str, eni: &str, start: &str, stop: Option<&str>) -> Vec<Value> {
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
        .contains("0 task record(s), 0 ENI record(s), 0 instance, Elastic IP and Lambda record(s), 1 other record(s) skipped, 1 unreadable"));
    let o = Command::new(curtain()).args(["whois", "10.1.1.1", "--at", "yesterday", "--db"]).arg(&db).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// The emulator scripts/test started (moto server on 127.0.0.1) and its Python, for seeding.
fn emulator() -> (String, String) {
    let url = std::env::var("CURTAIN_MOTO_URL")
        .expect("CURTAIN_MOTO_URL: run scripts/test, which installs and starts the AWS emulator");
    let python = std::env::var("CURTAIN_MOTO_PYTHON").expect("CURTAIN_MOTO_PYTHON: run scripts/test");
    (url, python)
}

/// An account id of this run's own, so that a test run against a long-lived emulator starts clean.
fn fresh_account(n: u64) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64;
    format!("2{:011}", (t * 10 + n) % 100_000_000_000)
}

/// `curtain inventory sync ARGS --db DB` against the emulator.
fn sync_cmd(url: &str, db: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(curtain());
    c.args(["inventory", "sync"]).args(args).arg("--db").arg(db);
    aws_env(&mut c, url);
    c
}

fn aws_env(c: &mut Command, url: &str) {
    c.env("AWS_ENDPOINT_URL", url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

#[test]
#[ignore = "needs the AWS emulator (scripts/test installs and starts it)"]
fn inventory_sync_of_three_accounts_and_two_regions() {
    let (url, python) = emulator();
    // Accounts of their own in this test: the emulator keeps one set of resources per account.
    let accounts = [fresh_account(1), fresh_account(2), fresh_account(3)];
    let regions = ["us-east-1", "eu-west-1"];
    let seed = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/moto-seed.py"))
        .args([url.as_str(), &accounts.join(","), &regions.join(",")])
        .output()
        .unwrap();
    assert!(seed.status.success(), "{}", String::from_utf8_lossy(&seed.stderr));
    let seeded: Vec<Value> = serde_json::from_slice(&seed.stdout).unwrap();
    assert_eq!(seeded.len(), 3 * 2 * 2);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("register.db");
    let mut c = sync_cmd(
        &url,
        &db,
        &["--accounts", &accounts.join(","), "--role", "CurtainReadOnly", "--regions", &regions.join(",")],
    );
    let o = run(&mut c);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("6 account × region(s), 0 with errors"), "{text}");
    for a in &accounts {
        for r in regions {
            assert!(
                text.contains(&format!(
                    // Every interface is listed: the emulator's two task interfaces (without the
                    // ECS description AWS gives them, so named by the tasks' own attachments).
                    "  {a} {r}: 1 cluster(s), 2 task(s), 2 ENI(s), 1 service(s), 1 task definition(s)"
                )),
                "{a} {r}: {text}"
            );
        }
    }
    // Every seeded task's address names its task, account and region.
    for t in &seeded {
        let ip = t["ip"].as_str().expect("the emulator gave the task an address");
        let (code, v) = whois(&db, ip, None);
        assert_eq!(code, 0, "{ip}");
        let h = &v["holders"].as_array().unwrap()[..];
        assert!(
            h.iter().any(|h| h["task_arn"] == t["task_arn"]
                && h["account_id"] == t["account"]
                && h["region"] == t["region"]),
            "{ip}: {h:?}"
        );
        let mine = h.iter().find(|h| h["task_arn"] == t["task_arn"]).unwrap();
        assert_eq!(mine["certainty"], "observed");
        assert_eq!(mine["sources"][0]["kind"], "sync");
        assert_eq!(mine["containers"][0]["name"], "web");
        assert_eq!(mine["network_mode"], "awsvpc");
        assert_eq!(mine["definition"][0]["image"], "public.ecr.aws/nginx/nginx:1.27");
    }
    // A second sync changes no history: the same holders.
    let before: Vec<Value> =
        seeded.iter().map(|t| whois(&db, t["ip"].as_str().unwrap(), None).1["holders"].clone()).collect();
    let mut c = sync_cmd(
        &url,
        &db,
        &["--accounts", &accounts.join(","), "--role", "CurtainReadOnly", "--regions", &regions.join(",")],
    );
    assert!(run(&mut c).status.success());
    for (t, b) in seeded.iter().zip(before) {
        let after = whois(&db, t["ip"].as_str().unwrap(), None).1["holders"].clone();
        assert_eq!(after.as_array().unwrap().len(), b.as_array().unwrap().len());
        assert_eq!(after[0]["task_arn"], b[0]["task_arn"]);
        assert_eq!(after[0]["from"], b[0]["from"]);
    }
}

#[test]
#[ignore = "needs the AWS emulator (scripts/test installs and starts it)"]
fn an_unreachable_region_is_reported_and_the_others_go_on() {
    let (url, python) = emulator();
    let account = fresh_account(7);
    let seed = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/moto-seed.py"))
        .args([url.as_str(), &account, "us-west-2"])
        .output()
        .unwrap();
    assert!(seed.status.success());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("register.db");
    // A region the emulator does not have: its calls fail, the other region is still synced
    // and the exit code says something failed.
    let mut c = sync_cmd(
        &url,
        &db,
        &["--accounts", &account, "--role", "CurtainReadOnly", "--regions", "us-west-2,xx-nowhere-9"],
    );
    let o = c.output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("2 account × region(s), 1 with errors"), "{text}");
    assert!(text.contains(&format!("  {account} us-west-2: 1 cluster(s), 2 task(s)")), "{text}");
    let ip = serde_json::from_slice::<Vec<Value>>(&seed.stdout).unwrap()[0]["ip"].as_str().unwrap().to_string();
    assert_eq!(whois(&db, &ip, None).0, 0);
}

#[test]
#[ignore = "needs the AWS emulator (scripts/test installs and starts it)"]
fn org_mode_syncs_every_active_account() {
    let (url, python) = emulator();
    // An organization with one more account, in the emulator's management account.
    let script = r#"
import sys, boto3
org = boto3.client("organizations", region_name="us-east-1", endpoint_url=sys.argv[1],
                   aws_access_key_id="testing", aws_secret_access_key="testing")
try:
    org.create_organization(FeatureSet="ALL")
except org.exceptions.AlreadyInOrganizationException:
    pass
org.create_account(Email="workload@example.com", AccountName="workload")
print(len(org.list_accounts()["Accounts"]))
"#;
    let o = Command::new(&python).args(["-c", script, &url]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let n: usize = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert!(n >= 2);
    let dir = tempfile::tempdir().unwrap();
    let mut c =
        sync_cmd(&url, &dir.path().join("r.db"), &["--org", "--role", "CurtainReadOnly", "--regions", "us-east-1"]);
    let o = run(&mut c);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("{n} account × region(s), 0 with errors")), "{text}");
}

#[test]
#[ignore = "needs the AWS emulator (scripts/test installs and starts it)"]
fn whois_names_every_kind_of_owner() {
    let (url, python) = emulator();
    let account = fresh_account(8);
    // Interfaces as each service makes them, in the emulator: an instance's own, and interfaces
    // with the descriptions (and, where the emulator keeps it, the interface type) AWS documents
    // for a NAT gateway, a Lambda function, load balancers, a VPC endpoint, an EFS mount target,
    // RDS, EKS and a transit gateway attachment (the emulator cannot make those services'
    // interfaces itself, and makes every interface look user-made); one made by hand.
    // Python that makes `ec2` (and `c`, the credentials) in the account, in eu-west-1.
    let ec2 = format!(
        r#"import boto3
sts = boto3.client("sts", endpoint_url="{url}", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
c = sts.assume_role(RoleArn="arn:aws:iam::{account}:role/curtain-read", RoleSessionName="seed")["Credentials"]
ec2 = boto3.client("ec2", endpoint_url="{url}", region_name="eu-west-1", aws_access_key_id=c["AccessKeyId"],
                   aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])"#
    );
    let seed = format!(
        r#"
import io, json, zipfile
{ec2}
vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
sg = ec2.create_security_group(GroupName="fn", Description="functions", VpcId=vpc)["GroupId"]
session = dict(endpoint_url="{url}", region_name="eu-west-1", aws_access_key_id=c["AccessKeyId"],
               aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
role = boto3.client("iam", **session).create_role(RoleName="fn", AssumeRolePolicyDocument="{{}}")["Role"]["Arn"]
code = io.BytesIO()
with zipfile.ZipFile(code, "w") as z:
    z.writestr("h.py", "def h(e, c): return 1")
lam = boto3.client("lambda", **session)
# Two functions of the subnet and group share the one interface Lambda makes for them.
for name in ["orders-worker", "billing-sync"]:
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="h.h", Code={{"ZipFile": code.getvalue()}},
                        VpcConfig={{"SubnetIds": [sub], "SecurityGroupIds": [sg]}})
out = {{}}
inst = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=sub, InstanceType="t3.micro",
                         TagSpecifications=[{{"ResourceType": "instance", "Tags": [{{"Key": "Name", "Value": "bastion"}}]}}])["Instances"][0]
out["ec2-instance"] = (inst["PrivateIpAddress"], inst["InstanceId"], inst["NetworkInterfaces"][0]["NetworkInterfaceId"])
kinds = [
    ("nat-gateway", "Interface for NAT Gateway nat-0a1b2c3d4e5f60718", "nat-0a1b2c3d4e5f60718"),
    ("lambda", "AWS Lambda VPC ENI-orders-worker-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "orders-worker"),
    ("load-balancer", "ELB app/web-alb/50dc6c495c0c9188", "web-alb"),
    ("vpc-endpoint", "VPC Endpoint Interface vpce-0a1b2c3d4e5f60718", "vpce-0a1b2c3d4e5f60718"),
    ("efs-mount-target", "EFS mount target for fs-12345678 (fsmt-87654321)", "fs-12345678"),
    ("rds", "RDSNetworkInterface", None),
    ("eks", "Amazon EKS prod", "prod"),
    ("transit-gateway", "Network Interface for Transit Gateway Attachment tgw-attach-0a1b2c3d4e5f60718", "tgw-attach-0a1b2c3d4e5f60718"),
    ("unknown", "made by hand", None),
]
for kind, desc, owner in kinds:
    ni = ec2.create_network_interface(SubnetId=sub, Description=desc, Groups=[sg])["NetworkInterface"]
    out[kind] = (ni["PrivateIpAddress"], owner, ni["NetworkInterfaceId"])
eip = ec2.allocate_address(Domain="vpc")
out["elastic-ip"] = (eip["PublicIp"], eip["AllocationId"], eip["AllocationId"])
print(json.dumps(out))
"#
    );
    let o = Command::new(&python).arg("-c").arg(&seed).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want: serde_json::Map<String, Value> = serde_json::from_slice(&o.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("register.db");
    let mut c = sync_cmd(&url, &db, &["--accounts", &account, "--role", "CurtainReadOnly", "--regions", "eu-west-1"]);
    assert!(run(&mut c).status.success());
    for (kind, v) in &want {
        let (ip, owner, eni) = (v[0].as_str().unwrap(), &v[1], &v[2]);
        let (code, w) = whois(&db, ip, None);
        assert_eq!(code, 0, "{kind} {ip}");
        // The emulator may give two interfaces one address: the holder on this one.
        let h = w["holders"].as_array().unwrap().iter().find(|h| h["eni_id"] == *eni).unwrap_or_else(|| panic!("{w}"));
        assert_eq!(h["kind"], kind.as_str(), "{ip}: {h}");
        assert_eq!(&h["owner"]["id"], owner, "{kind}: {h}");
        assert_eq!(h["account_id"], account.as_str());
        assert!(curtain_model::register::OWNER_KINDS.contains(&h["kind"].as_str().unwrap()));
    }
    // The Lambda interface serves both functions of its subnet and group.
    let (_, w) = whois(&db, want["lambda"][0].as_str().unwrap(), None);
    let h = w["holders"].as_array().unwrap().iter().find(|h| h["eni_id"] == want["lambda"][2]).unwrap();
    assert_eq!(h["owner"]["functions"], serde_json::json!(["billing-sync", "orders-worker"]), "{h}");
    // The text names the kind first, then the owner.
    let o = run(Command::new(curtain()).args(["whois", want["lambda"][0].as_str().unwrap(), "--db"]).arg(&db));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("    lambda orders-worker"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = run(Command::new(curtain()).args(["whois", want["unknown"][0].as_str().unwrap(), "--db"]).arg(&db));
    assert!(String::from_utf8_lossy(&o.stdout).contains("unknown: described as \"made by hand\""));

    // The instance as DescribeInstances shows it; stopped between two syncs, its states are two
    // spells, oldest first. A function deleted between them: the second sync ends its spell.
    // The Elastic IP, idle at the first sync, associated with the instance's interface.
    let instance = want["ec2-instance"][1].as_str().unwrap();
    let (alloc, instance_eni) = (want["elastic-ip"][1].as_str().unwrap(), want["ec2-instance"][2].as_str().unwrap());
    let stop = format!(
        "{ec2}\nec2.stop_instances(InstanceIds=[\"{instance}\"])\n\
         print(ec2.associate_address(AllocationId=\"{alloc}\", NetworkInterfaceId=\"{instance_eni}\")[\"AssociationId\"])\n\
         boto3.client(\"lambda\", endpoint_url=\"{url}\", region_name=\"eu-west-1\", aws_access_key_id=c[\"AccessKeyId\"], \
         aws_secret_access_key=c[\"SecretAccessKey\"], aws_session_token=c[\"SessionToken\"]).delete_function(FunctionName=\"billing-sync\")\n"
    );
    let o = Command::new(&python).arg("-c").arg(&stop).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let association = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let mut c = sync_cmd(&url, &db, &["--accounts", &account, "--role", "CurtainReadOnly", "--regions", "eu-west-1"]);
    let o = run(&mut c);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("EC2 instance(s)"), "{}", String::from_utf8_lossy(&o.stdout));
    let (_, w) = whois(&db, want["ec2-instance"][0].as_str().unwrap(), None);
    let h = w["holders"].as_array().unwrap().iter().find(|h| h["eni_id"] == want["ec2-instance"][2]).unwrap();
    let owner = &h["owner"];
    assert_eq!((owner["name"].as_str(), owner["instance_type"].as_str()), (Some("bastion"), Some("t3.micro")), "{h}");
    assert!(owner["launched_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{h}");
    let states: Vec<&str> = owner["states"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["running", "stopped"], "{h}");
    let o = run(Command::new(curtain()).args(["whois", want["ec2-instance"][0].as_str().unwrap(), "--db"]).arg(&db));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("    ec2-instance {instance}")), "{text}");
    assert!(text.contains("Name \"bastion\", t3.micro, launched "), "{text}");
    assert!(text.contains("      stopped       seen "), "{text}");
    let (_, w) = whois(&db, want["lambda"][0].as_str().unwrap(), None);
    let h = w["holders"].as_array().unwrap().iter().find(|h| h["eni_id"] == want["lambda"][2]).unwrap();
    let spells = h["owner"]["function_spells"].as_array().unwrap();
    let ended: Vec<(&str, bool)> =
        spells.iter().map(|s| (s["function"].as_str().unwrap(), s["to"].is_string())).collect();
    assert_eq!(ended, [("billing-sync", true), ("orders-worker", false)], "{h}");
    let now = curtain_model::format_rfc3339_ns(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
    );
    let (_, w) = whois(&db, want["lambda"][0].as_str().unwrap(), Some(&now));
    let h = w["holders"].as_array().unwrap().iter().find(|h| h["eni_id"] == want["lambda"][2]).unwrap();
    assert_eq!(h["owner"]["functions"], serde_json::json!(["orders-worker"]), "{h}");

    // The Elastic IP: the instance's at the second sync; disassociated before a third, idle
    // again. Each sync's sighting is a spell (from when first seen, to when last seen).
    let eip = want["elastic-ip"][0].as_str().unwrap();
    let kind_now = || {
        let now = curtain_model::format_rfc3339_ns(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
        );
        let (code, w) = whois(&db, eip, Some(&now));
        assert_eq!(code, 0, "{w}");
        assert_eq!(w["holders"].as_array().unwrap().len(), 1, "{w}");
        w["holders"][0]["kind"].as_str().unwrap().to_string()
    };
    assert_eq!(kind_now(), "ec2-instance");
    let undo = format!("{ec2}\nec2.disassociate_address(AssociationId=\"{association}\")\n");
    let o = Command::new(&python).arg("-c").arg(&undo).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut c = sync_cmd(&url, &db, &["--accounts", &account, "--role", "CurtainReadOnly", "--regions", "eu-west-1"]);
    assert!(run(&mut c).status.success());
    assert_eq!(kind_now(), "elastic-ip");
    let (_, w) = whois(&db, eip, None);
    let kinds: Vec<&str> = w["holders"].as_array().unwrap().iter().map(|h| h["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["elastic-ip", "ec2-instance", "elastic-ip"], "{w}");
}

#[test]
fn cloudtrail_history_names_an_instance_and_a_lambda_interface_that_are_gone() {
    // RunInstances and TerminateInstances, an Elastic IP allocated, associated with the instance
    // and disassociated, and a CreateNetworkInterface by the Lambda service,
    // in the shapes AWS documents for those records (made up: ids and addresses are examples).
    let dir = tempfile::tempdir().unwrap();
    let trail = serde_json::json!({"Records": [
        {"eventVersion": "1.08", "eventName": "RunInstances", "eventSource": "ec2.amazonaws.com",
         "eventTime": "2026-11-28T08:00:00Z", "eventID": "run-1", "awsRegion": "us-west-2", "recipientAccountId": "111122223333",
         "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
         "requestParameters": {"instanceType": "t3.micro", "tagSpecificationSet": {"items": [
             {"resourceType": "instance", "tags": [{"key": "Name", "value": "batch-7"}]}]}},
         "responseElements": {"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718",
             "instanceType": "t3.micro", "launchTime": 1_795_852_800_000_u64, "instanceState": {"code": 0, "name": "pending"},
             "networkInterfaceSet": {"items": [{"networkInterfaceId": "eni-0aaa1111bbbb2222c", "privateIpAddress": "10.0.5.17",
                 "privateIpAddressesSet": {"item": [{"privateIpAddress": "10.0.5.17", "primary": true}]}}]}}]}}},
        {"eventVersion": "1.08", "eventName": "TerminateInstances", "eventSource": "ec2.amazonaws.com",
         "eventTime": "2026-11-28T20:00:00Z", "eventID": "term-1", "awsRegion": "us-west-2", "recipientAccountId": "111122223333",
         "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
         "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718"}]}},
         "responseElements": {"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718",
             "currentState": {"code": 32, "name": "shutting-down"}}]}}},
        {"eventVersion": "1.08", "eventName": "AllocateAddress", "eventSource": "ec2.amazonaws.com",
         "eventTime": "2026-11-28T09:00:00Z", "eventID": "alloc-1", "awsRegion": "us-west-2", "recipientAccountId": "111122223333",
         "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
         "requestParameters": {"domain": "vpc"},
         "responseElements": {"publicIp": "203.0.113.25", "allocationId": "eipalloc-0a1b2c3d", "domain": "vpc"}},
        {"eventVersion": "1.08", "eventName": "AssociateAddress", "eventSource": "ec2.amazonaws.com",
         "eventTime": "2026-11-28T10:00:00Z", "eventID": "assoc-1", "awsRegion": "us-west-2", "recipientAccountId": "111122223333",
         "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
         "requestParameters": {"allocationId": "eipalloc-0a1b2c3d", "instanceId": "i-0a1b2c3d4e5f60718", "allowReassociation": false},
         "responseElements": {"_return": true, "associationId": "eipassoc-0a1b2c3d"}},
        {"eventVersion": "1.08", "eventName": "DisassociateAddress", "eventSource": "ec2.amazonaws.com",
         "eventTime": "2026-11-28T12:00:00Z", "eventID": "disassoc-1", "awsRegion": "us-west-2", "recipientAccountId": "111122223333",
         "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
         "requestParameters": {"associationId": "eipassoc-0a1b2c3d"},
         "responseElements": {"_return": true}},
        {"eventVersion": "1.08", "eventName": "CreateNetworkInterface", "eventSource": "ec2.amazonaws.com",
         "eventTime": "2026-11-28T09:00:00Z", "eventID": "cni-1", "awsRegion": "us-west-2", "recipientAccountId": "111122223333",
         "userIdentity": {"type": "AssumedRole", "invokedBy": "lambda.amazonaws.com"}, "sourceIPAddress": "lambda.amazonaws.com",
         "requestParameters": {"subnetId": "subnet-1", "description": "AWS Lambda VPC ENI-orders-worker-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
             "groupSet": {"items": [{"groupId": "sg-1"}]}},
         "responseElements": {"networkInterface": {"networkInterfaceId": "eni-0ccc3333dddd4444e", "interfaceType": "lambda",
             "subnetId": "subnet-1", "groupSet": {"items": [{"groupId": "sg-1", "groupName": "workers"}]},
             "privateIpAddress": "10.0.5.99", "requesterId": "AROAEXAMPLE:lambda"}}},
        // Lambda's own records (CreateFunction20150331, UpdateFunctionConfiguration20150331v2,
        // DeleteFunction20150331): the functions the interface serves change over the day.
        lambda("CreateFunction20150331", "2026-11-28T08:30:00Z", "fn-1", "orders-worker", Some(&["subnet-1"])),
        lambda("CreateFunction20150331", "2026-11-28T10:00:00Z", "fn-2", "billing", Some(&["subnet-1"])),
        lambda("UpdateFunctionConfiguration20150331v2", "2026-11-28T11:00:00Z", "fn-3", "orders-worker", Some(&["subnet-2"])),
        // A memory change: the response repeats the configuration, which changes nothing.
        lambda("UpdateFunctionConfiguration20150331v2", "2026-11-28T12:00:00Z", "fn-4", "billing", Some(&["subnet-1"])),
        lambda("DeleteFunction20150331", "2026-11-28T13:00:00Z", "fn-5", "billing", None),
    ]});
    let f = dir.path().join("trail.json");
    std::fs::write(&f, trail.to_string()).unwrap();
    let db = dir.path().join("register.db");
    assert!(run(Command::new(curtain()).args(["ingest", "cloudtrail"]).arg(&f).arg("--db").arg(&db)).status.success());
    let (code, v) = whois(&db, "10.0.5.17", Some("2026-11-28T12:00:00Z"));
    assert_eq!(code, 0);
    assert_eq!(v["holders"][0]["kind"], "ec2-instance");
    assert_eq!(v["holders"][0]["owner"]["id"], "i-0a1b2c3d4e5f60718");
    assert_eq!(v["holders"][0]["to"], "2026-11-28T20:00:00.000000000Z", "ended by its termination");
    let owner = &v["holders"][0]["owner"];
    assert_eq!(
        (owner["name"].as_str(), owner["instance_type"].as_str()),
        (Some("batch-7"), Some("t3.micro")),
        "{owner}"
    );
    assert_eq!(owner["launched_at"], "2026-11-28T08:00:00.000000000Z", "{owner}");
    let states: Vec<(&str, &str)> = owner["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["state"].as_str().unwrap(), s["first_seen"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("pending", "2026-11-28T08:00:00.000000000Z"), ("terminated", "2026-11-28T20:00:00.000000000Z")],
        "{owner}"
    );
    let (code, _) = whois(&db, "10.0.5.17", Some("2026-11-29T12:00:00Z"));
    assert_eq!(code, 1, "nobody holds it after the termination");
    // The Elastic IP: idle from its allocation, the instance's while associated, idle again.
    let eip = |at: &str| {
        let (code, v) = whois(&db, "203.0.113.25", Some(at));
        assert_eq!(code, 0, "{at}: {v}");
        assert_eq!(v["holders"].as_array().unwrap().len(), 1, "{at}: {v}");
        let h = &v["holders"][0];
        (h["kind"].as_str().unwrap().to_string(), h["owner"]["id"].as_str().unwrap().to_string())
    };
    assert_eq!(eip("2026-11-28T09:30:00Z"), ("elastic-ip".to_string(), "eipalloc-0a1b2c3d".to_string()));
    assert_eq!(eip("2026-11-28T11:00:00Z"), ("ec2-instance".to_string(), "i-0a1b2c3d4e5f60718".to_string()));
    assert_eq!(eip("2026-11-28T13:00:00Z"), ("elastic-ip".to_string(), "eipalloc-0a1b2c3d".to_string()));
    let (_, v) = whois(&db, "203.0.113.25", None);
    let spells: Vec<(&str, &str, Option<&str>)> = v["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["kind"].as_str().unwrap(), h["from"].as_str().unwrap(), h["to"].as_str()))
        .collect();
    assert_eq!(
        spells,
        [
            ("elastic-ip", "2026-11-28T09:00:00.000000000Z", Some("2026-11-28T10:00:00.000000000Z")),
            ("ec2-instance", "2026-11-28T10:00:00.000000000Z", Some("2026-11-28T12:00:00.000000000Z")),
            ("elastic-ip", "2026-11-28T12:00:00.000000000Z", None),
        ],
        "{v}"
    );
    let (_, v) = whois(&db, "10.0.5.99", Some("2026-11-28T12:00:00Z"));
    assert_eq!(v["holders"][0]["kind"], "lambda");
    assert_eq!(v["holders"][0]["owner"]["id"], "orders-worker");
    let functions = |at: &str| {
        let (_, v) = whois(&db, "10.0.5.99", Some(at));
        assert_eq!(v["holders"][0]["kind"], "lambda", "{at}: {v}");
        let f = v["holders"][0]["owner"]["functions"].as_array().cloned().unwrap_or_default();
        f.iter().map(|f| f.as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(functions("2026-11-28T09:30:00Z"), ["orders-worker"]);
    assert_eq!(functions("2026-11-28T10:30:00Z"), ["billing", "orders-worker"]);
    assert_eq!(functions("2026-11-28T11:30:00Z"), ["billing"], "orders-worker moved to subnet-2");
    assert_eq!(functions("2026-11-28T12:30:00Z"), ["billing"]);
    assert!(functions("2026-11-28T14:00:00Z").is_empty(), "billing deleted");
    let o = run(Command::new(curtain()).args(["whois", "10.0.5.99", "--db"]).arg(&db));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("      serves the functions billing, orders-worker"), "{text}");
    assert!(
        text.contains(
            "      orders-worker            configured 2026-11-28T08:30:00.000000000Z .. 2026-11-28T11:00:00.000000000Z"
        ),
        "{text}"
    );
    assert!(
        text.contains("      billing                  configured 2026-11-28T10:00:00.000000000Z .. 2026-11-28T13:00:00.000000000Z"),
        "{text}"
    );
}

/// A Lambda record as CloudTrail writes one (made up, in the shape AWS documents): the
/// configuration in the request and, whole, in the response; `subnets` None: a deletion.
fn lambda(event: &str, at: &str, id: &str, function: &str, subnets: Option<&[&str]>) -> serde_json::Value {
    let arn = format!("arn:aws:lambda:us-west-2:111122223333:function:{function}");
    let vpc = subnets.map(|s| serde_json::json!({"subnetIds": s, "securityGroupIds": ["sg-1"], "vpcId": "vpc-1"}));
    serde_json::json!({"eventVersion": "1.08", "eventName": event, "eventSource": "lambda.amazonaws.com",
    "eventTime": at, "eventID": id, "awsRegion": "us-west-2", "recipientAccountId": "111122223333",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
    "requestParameters": match &vpc {
        Some(v) => serde_json::json!({"functionName": function, "vpcConfig": v}),
        None => serde_json::json!({"functionName": function}),
    },
    "responseElements": match &vpc {
        Some(v) => serde_json::json!({"functionName": function, "functionArn": arn, "runtime": "python3.12", "vpcConfig": v}),
        None => serde_json::Value::Null,
    }})
}

/// Recomputes a captured request's SigV4 signature with botocore (the emulator's own Python):
/// prints one line per request, "ok" or what differed.
const BOTOCORE_CHECK: &str = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
key, secret, token, region = sys.argv[1:5]
for r in json.load(sys.stdin):
    head, body = r.split("\r\n\r\n", 1)
    lines = head.split("\r\n")
    h = {k.lower(): v for k, v in (l.split(": ", 1) for l in lines[1:])}
    method, path, _ = lines[0].split(" ")
    req = AWSRequest(method=method, url="http://" + h["host"] + path, data=body.encode(),
                     headers={"content-type": h["content-type"]})
    req.context["timestamp"] = h["x-amz-date"]
    auth = SigV4Auth(Credentials(key, secret, token), "ec2", region)
    req.headers["X-Amz-Date"] = h["x-amz-date"]
    req.headers["X-Amz-Security-Token"] = token
    canonical = auth.canonical_request(req)
    signature = auth.signature(auth.string_to_sign(req, canonical), req)
    got = h["authorization"].rsplit("Signature=", 1)[1]
    print("ok" if got == signature else "differs: " + canonical.replace("\n", "|"))
"#;

#[test]
#[ignore = "needs the AWS emulator (scripts/test installs and starts it)"]
fn ec2_queries_are_signed_as_botocore_signs_them() {
    // EC2's calls are made by curtain itself (crates/cloud/src/ec2.rs), not by an SDK client:
    // a listener in EC2's place (AWS_ENDPOINT_URL_EC2) keeps each request and answers it with an
    // empty list; botocore then signs the same request and the signatures must be equal.
    use std::io::{BufRead, BufReader, Read};
    let (url, python) = emulator();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ec2_url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let body = String::from_utf8(body).unwrap();
            let action = body.strip_prefix("Action=").and_then(|b| b.split('&').next()).unwrap_or("").to_string();
            keep.lock().unwrap().push(format!("{}\r\n\r\n{body}", head.trim_end()));
            let reply = format!("<{action}Response><requestId>1</requestId></{action}Response>");
            let _ =
                write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len());
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut c = sync_cmd(&url, &dir.path().join("r.db"), &["--regions", "eu-west-1"]);
    let (key, secret, token) = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "a/session+token=");
    c.env("AWS_ENDPOINT_URL_EC2", &ec2_url)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_SESSION_TOKEN", token);
    let o = run(&mut c);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("1 account × region(s), 0 with errors"), "{text}");
    let requests = seen.lock().unwrap().clone();
    // DescribeNetworkInterfaces, DescribeAddresses and DescribeInstances.
    assert_eq!(requests.len(), 3, "{requests:?}");
    for action in ["DescribeNetworkInterfaces", "DescribeAddresses", "DescribeInstances"] {
        assert!(
            requests.iter().any(|r| r.contains(&format!("\r\n\r\nAction={action}&Version=2016-11-15"))),
            "{requests:?}"
        );
    }
    let mut check = Command::new(&python)
        .args(["-c", BOTOCORE_CHECK, key, secret, token, "eu-west-1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(serde_json::to_string(&requests).unwrap().as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), ["ok"; 3]);
}
