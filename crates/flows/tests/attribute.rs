//! Attribution against an in-memory register: an address reused by two tasks (the record's time
//! decides), a record before any holder (no task, never a guess), an ENI that names its owner when
//! the address does not, an address nobody owns, v7 ECS fields that disagree with the register,
//! packet addresses, and a snapshot's socket naming the process. Then the rows as JSONL and CSV,
//! and the summary.

use curtain_flows::attribute::ContainerOut;
use curtain_flows::{
    summary::Summary, AddressBook, AttributeOptions, Attributor, CsvWriter, FlowRow, JsonlWriter, Layout, RowSink,
    SnapshotIndex, SnapshotMatch,
};
use curtain_model::register::{AttachmentFact, ContainerFact, EniFact, IpFact, Provenance, SourceKind, TaskFact};
use curtain_model::{ByteString, EcsIdentity, Endpoint, Exe, Manifest, Owner, Process, Proto, Snapshot, Socket};
use curtain_store::Register;

const ACCOUNT: &str = "111122223333";
const A: &str = "arn:aws:ecs:us-west-2:111122223333:task/prod/aaa";
const B: &str = "arn:aws:ecs:us-west-2:111122223333:task/prod/bbb";

fn ns(s: &str) -> u64 {
    curtain_model::parse_rfc3339_ns(s).unwrap()
}

fn secs(s: &str) -> u64 {
    ns(s) / 1_000_000_000
}

fn ev(id: &str, at: &str) -> Provenance {
    Provenance { kind: SourceKind::EventBridge, id: id.into(), at_ns: ns(at) }
}

fn task(arn: &str, eni: &str, ip: &str, started: &str, stopped: Option<&str>, src: Provenance) -> TaskFact {
    TaskFact {
        task_arn: arn.into(),
        account_id: ACCOUNT.into(),
        region: "us-west-2".into(),
        cluster_arn: Some("arn:aws:ecs:us-west-2:111122223333:cluster/prod".into()),
        group: Some("service:web".into()),
        task_definition_arn: Some("arn:aws:ecs:us-west-2:111122223333:task-definition/web:7".into()),
        launch_type: Some("FARGATE".into()),
        availability_zone: None,
        last_status: None,
        created_at: None,
        started_at: Some(ns(started)),
        stopped_at: stopped.map(ns),
        container_instance_arn: None,
        containers: vec![ContainerFact { name: "web".into(), image: Some("web:7".into()), ..Default::default() }],
        attachments: vec![AttachmentFact {
            id: format!("att-{eni}"),
            eni_id: Some(eni.into()),
            ips: vec![IpFact { ip: ip.into(), kind: "private".into() }],
            status: None,
        }],
        source: src,
    }
}

/// Task aaa held 10.0.0.7 from 10:00 to 12:00, task bbb from 13:00 on; an interface with no
/// task (a NAT gateway's, say) holds 10.0.0.50.
fn register() -> Register {
    let mut r = Register::in_memory().unwrap();
    r.add_task(&task(
        A,
        "eni-a",
        "10.0.0.7",
        "2026-01-01T10:00:00Z",
        Some("2026-01-01T12:00:00Z"),
        ev("e1", "2026-01-01T12:00:01Z"),
    ))
    .unwrap();
    r.add_task(&task(B, "eni-b", "10.0.0.7", "2026-01-01T13:00:00Z", None, ev("e2", "2026-01-01T13:00:01Z"))).unwrap();
    r.add_eni(&EniFact {
        ips: vec![IpFact { ip: "10.0.0.50".into(), kind: "private".into() }],
        created_at: Some(ns("2026-01-01T00:00:00Z")),
        description: Some("Interface for NAT Gateway".into()),
        ..EniFact::bare(
            "eni-nat".into(),
            ACCOUNT.into(),
            "us-west-2".into(),
            Provenance { kind: SourceKind::CloudTrail, id: "ct1".into(), at_ns: ns("2026-01-01T00:00:00Z") },
        )
    })
    .unwrap();
    r
}

const V2: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} \
${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

fn v2(eni: &str, src: &str, dst: &str, sp: u16, dp: u16, at: &str, action: &str) -> curtain_flows::FlowRecord {
    let s = secs(at);
    let line = format!("2 {ACCOUNT} {eni} {src} {dst} {sp} {dp} 6 10 1000 {s} {} {action} OK", s + 60);
    Layout::parse_format(V2).unwrap().parse_line(&line).unwrap()
}

fn attribute<'a>(book: &'a AddressBook, snaps: &'a [SnapshotIndex], r: curtain_flows::FlowRecord) -> FlowRow<'a> {
    Attributor { book, snapshots: snaps, opts: AttributeOptions::default() }.row(r, "test", 1)
}

#[test]
fn the_records_time_decides_who_held_the_address() {
    let book = AddressBook::load(&register()).unwrap();
    let at11 =
        attribute(&book, &[], v2("eni-a", "10.0.0.7", "198.51.100.7", 40000, 443, "2026-01-01T11:00:00Z", "ACCEPT"));
    let src = at11.src.as_ref().unwrap();
    assert_eq!((src.kind, src.task_arn.as_deref()), ("task", Some(A)));
    assert_eq!(src.service.as_deref(), Some("web"));
    assert_eq!(
        src.containers[0],
        ContainerOut { name: "web".into(), image: Some("web:7".into()), image_digest: None, runtime_id: None }
    );
    assert_eq!(src.certainty, Some("observed"));
    assert_eq!(src.sources, ["eventbridge:e1"]);
    assert_eq!(src.by, Some("address"));
    // Nobody owns the peer.
    let dst = at11.dst.as_ref().unwrap();
    assert_eq!((dst.kind, dst.task_arn.as_deref(), dst.certainty), ("unknown", None, None));

    let at14 =
        attribute(&book, &[], v2("eni-b", "10.0.0.7", "198.51.100.7", 40000, 443, "2026-01-01T14:00:00Z", "ACCEPT"));
    assert_eq!(at14.src.unwrap().task_arn.as_deref(), Some(B));

    // Between the two, and before either: no task, never a guess (the ENI is not given).
    for at in ["2026-01-01T12:30:00Z", "2026-01-01T09:00:00Z"] {
        let row = attribute(&book, &[], v2("eni-zzz", "10.0.0.7", "198.51.100.7", 40000, 443, at, "ACCEPT"));
        assert_eq!(row.src.unwrap().kind, "unknown", "{at}");
    }
}

#[test]
fn the_interface_names_its_owner_when_the_address_does_not() {
    let book = AddressBook::load(&register()).unwrap();
    // A secondary address the register never saw, on aaa's interface, inbound.
    let row =
        attribute(&book, &[], v2("eni-a", "203.0.113.9", "10.0.0.99", 51515, 22, "2026-01-01T11:00:00Z", "REJECT"));
    assert_eq!(row.src.as_ref().unwrap().kind, "unknown");
    // Which side is the interface's: neither address is its; no direction in v2: shown apart.
    let owner = row.interface_owner.expect("the ENI's owner");
    assert_eq!((owner.task_arn.as_deref(), owner.by), (Some(A), Some("interface")));

    // With flow-direction, the side is known and filled.
    let l = Layout::parse_format(&format!("{V2} ${{flow-direction}}")).unwrap();
    let s = secs("2026-01-01T11:00:00Z");
    let r = l
        .parse_line(&format!("5 {ACCOUNT} eni-a 203.0.113.9 10.0.0.99 51515 22 6 1 60 {s} {s} REJECT OK ingress"))
        .unwrap();
    let row = attribute(&book, &[], r);
    let dst = row.dst.unwrap();
    assert_eq!(
        (dst.kind, dst.task_arn.as_deref(), dst.by, dst.addr.as_str()),
        ("task", Some(A), Some("interface"), "10.0.0.99")
    );
    assert!(row.interface_owner.is_none());

    // An interface with no task: its kind says so.
    let row =
        attribute(&book, &[], v2("eni-nat", "10.0.0.50", "198.51.100.7", 1024, 443, "2026-01-01T11:00:00Z", "ACCEPT"));
    let src = row.src.unwrap();
    assert_eq!((src.kind, src.eni.as_deref(), src.task_arn.clone()), ("interface", Some("eni-nat"), None));
    assert_eq!(src.certainty, Some("inferred"));
}

#[test]
fn packet_addresses_get_their_own_attribution() {
    let book = AddressBook::load(&register()).unwrap();
    let l = Layout::parse_format(&format!("{V2} ${{pkt-srcaddr}} ${{pkt-dstaddr}}")).unwrap();
    let s = secs("2026-01-01T14:00:00Z");
    // Through the NAT gateway: the packet came from bbb.
    let r = l
        .parse_line(&format!(
            "3 {ACCOUNT} eni-nat 10.0.0.50 198.51.100.7 1024 443 6 1 60 {s} {s} ACCEPT OK 10.0.0.7 198.51.100.7"
        ))
        .unwrap();
    let row = attribute(&book, &[], r);
    assert_eq!(row.src.as_ref().unwrap().kind, "interface");
    assert_eq!(row.pkt_src.as_ref().unwrap().task_arn.as_deref(), Some(B));
    assert!(row.pkt_dst.is_none(), "the same as dstaddr");
}

#[test]
fn ecs_fields_used_and_disagreement_flagged() {
    let book = AddressBook::load(&register()).unwrap();
    let l = Layout::parse_format(&format!("{V2} ${{flow-direction}} ${{ecs-task-id}} ${{ecs-service-name}}")).unwrap();
    let s = secs("2026-01-01T11:00:00Z");
    let line = |task: &str| {
        format!("7 {ACCOUNT} eni-a 10.0.0.7 198.51.100.7 40000 443 6 1 60 {s} {s} ACCEPT OK egress {task} web")
    };
    let agree = attribute(&book, &[], l.parse_line(&line("aaa")).unwrap());
    assert!(!agree.ecs_disagreement);
    let disagree = attribute(&book, &[], l.parse_line(&line("ccc")).unwrap());
    assert!(disagree.ecs_disagreement);
    assert_eq!(disagree.src.as_ref().unwrap().task_arn.as_deref(), Some(A), "the register's answer kept");
    assert_eq!(disagree.record.ecs_task_id(), Some("ccc"), "the record's as it says");

    // An address the register does not know: the record's own ECS fields name the task.
    let l2 = format!("7 {ACCOUNT} eni-unknown 10.9.0.1 198.51.100.7 40000 443 6 1 60 {s} {s} ACCEPT OK egress ddd api");
    let row = attribute(&book, &[], l.parse_line(&l2).unwrap());
    let src = row.src.unwrap();
    assert_eq!(
        (src.task_arn.as_deref(), src.service.as_deref(), src.certainty),
        (Some("ddd"), Some("api"), Some("flow-log"))
    );
    assert!(!row.ecs_disagreement);
}

/// A snapshot of task aaa taken at 11:00 holding 10.0.0.7:40000 -> 198.51.100.7:3333 (curl,
/// pid 42) and a listener on :22 (sshd, pid 7).
fn snapshot() -> Snapshot {
    let process = |pid: u32, comm: &str, exe: &str| Process {
        pid,
        comm: Some(ByteString(comm.as_bytes().to_vec())),
        exe: Some(Exe {
            path: ByteString(exe.as_bytes().to_vec()),
            sha256: Some(format!("{pid:064x}")),
            ..Default::default()
        }),
        cmdline: Some(vec![ByteString(comm.as_bytes().to_vec()), ByteString(b"-x".to_vec())]),
        ..Default::default()
    };
    let sock = |local: (&str, u16), remote: (&str, u16), state: &str, pid: u32| Socket {
        netns: 1,
        proto: Proto::Tcp,
        local: Some(Endpoint { ip: local.0.into(), port: local.1 }),
        remote: Some(Endpoint { ip: remote.0.into(), port: remote.1 }),
        state: state.into(),
        uid: None,
        inode: pid as u64,
        tx_queue: None,
        rx_queue: None,
        path: None,
        socket_type: None,
        owners: vec![Owner { pid, fd: 3 }],
        owner_visible: true,
    };
    Snapshot {
        source: "lab.tar.zst".into(),
        manifest: Manifest {
            started_at: "2026-01-01T11:00:00Z".into(),
            ended_at: "2026-01-01T11:00:02Z".into(),
            ecs: Some(EcsIdentity {
                task_arn: Some(A.into()),
                ipv4_addresses: vec!["10.0.0.7".into()],
                ..Default::default()
            }),
            ..Default::default()
        },
        processes: vec![process(42, "curl", "/usr/bin/curl"), process(7, "sshd", "/usr/sbin/sshd")],
        sockets: vec![
            sock(("::ffff:10.0.0.7", 40000), ("::ffff:198.51.100.7", 3333), "ESTABLISHED", 42),
            sock(("0.0.0.0", 22), ("0.0.0.0", 0), "LISTEN", 7),
        ],
        ..Default::default()
    }
}

#[test]
fn a_snapshot_names_the_process() {
    let book = AddressBook::load(&register()).unwrap();
    let snaps = vec![SnapshotIndex::new(&snapshot())];
    let at = "2026-01-01T10:59:30Z";
    let row = attribute(&book, &snaps, v2("eni-a", "10.0.0.7", "198.51.100.7", 40000, 3333, at, "ACCEPT"));
    assert_eq!(row.snapshot_match, Some(SnapshotMatch::Matched));
    let p = row.src.as_ref().unwrap().process.as_ref().unwrap();
    assert_eq!(
        (p.pid, p.comm.as_deref(), p.exe.as_deref(), p.socket),
        (42, Some("curl"), Some("/usr/bin/curl"), "connection")
    );
    assert_eq!(p.cmdline.as_deref(), Some("curl -x"));
    assert_eq!(p.archive, "lab.tar.zst");

    // The reply direction matches the same socket.
    let back = attribute(&book, &snaps, v2("eni-a", "198.51.100.7", "10.0.0.7", 3333, 40000, at, "ACCEPT"));
    assert_eq!(back.dst.as_ref().unwrap().process.as_ref().unwrap().pid, 42);

    // Inbound to the listener: sshd.
    let ssh = attribute(&book, &snaps, v2("eni-a", "203.0.113.9", "10.0.0.7", 51515, 22, at, "ACCEPT"));
    let p = ssh.dst.as_ref().unwrap().process.as_ref().unwrap();
    assert_eq!((p.pid, p.socket), (7, "listener"));

    // Same task, same time, no such socket.
    let gone = attribute(&book, &snaps, v2("eni-a", "10.0.0.7", "198.51.100.8", 40001, 443, at, "ACCEPT"));
    assert_eq!(gone.snapshot_match, Some(SnapshotMatch::CouldHaveBeen));
    // Later than the snapshot.
    let later = attribute(
        &book,
        &snaps,
        v2("eni-a", "10.0.0.7", "198.51.100.7", 40000, 3333, "2026-01-01T11:30:00Z", "ACCEPT"),
    );
    assert_eq!(later.snapshot_match, Some(SnapshotMatch::OutsideSnapshotTime));
    // Another address at that time.
    let other = attribute(&book, &snaps, v2("eni-x", "10.0.0.8", "198.51.100.8", 1, 2, at, "ACCEPT"));
    assert_eq!(other.snapshot_match, Some(SnapshotMatch::Unrelated));
}

#[test]
fn rows_as_jsonl_and_csv_and_the_summary() {
    let book = AddressBook::load(&register()).unwrap();
    let snaps = vec![SnapshotIndex::new(&snapshot())];
    let at = "2026-01-01T10:59:30Z";
    let rows = [
        attribute(&book, &snaps, v2("eni-a", "10.0.0.7", "198.51.100.7", 40000, 3333, at, "ACCEPT")),
        attribute(&book, &snaps, v2("eni-a", "203.0.113.9", "10.0.0.7", 51515, 22, at, "REJECT")),
        attribute(&book, &snaps, v2("eni-a", "=cmd|'/Ccalc'!A0", "10.0.0.7", 1, 22, at, "REJECT")),
    ];
    let mut j = JsonlWriter::new(Vec::new());
    rows.iter().for_each(|r| j.row(r).unwrap());
    let text = String::from_utf8(j.w).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["account_id"], "111122223333");
    assert_eq!(first["srcport"], 40000);
    assert_eq!(first["start_time"], "2026-01-01T10:59:30Z");
    assert_eq!(first["src"]["task_arn"], A);
    assert_eq!(first["src"]["process"]["pid"], 42);
    assert_eq!(first["dst"]["kind"], "unknown");
    assert_eq!(first["pkt_src"], serde_json::Value::Null);
    assert_eq!(first["snapshot_match"], "matched");
    assert_eq!(first["ecs_disagreement"], false);
    let keys: Vec<&str> = text.lines().next().unwrap().split("\":").map(|k| k.rsplit('"').next().unwrap()).collect();
    assert_eq!(&keys[..3], ["version", "account_id", "interface_id"], "AWS's order");

    let mut c = CsvWriter::new(Vec::new());
    rows.iter().for_each(|r| c.row(r).unwrap());
    let csv = String::from_utf8(c.finish().unwrap()).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(header[0], "version");
    assert!(header.contains(&"src_task_arn") && header.contains(&"dst_pid") && header.contains(&"start_time"));
    assert!(csv.contains(",'=cmd|'/Ccalc'!A0,"), "a formula neutralised: {csv}");
    assert_eq!(csv.lines().count(), 4);

    let mut s = Summary::new(curtain_flows::default_suspicious_ports());
    rows.iter().for_each(|r| s.add(r));
    s.finish(Default::default());
    assert_eq!(s.tasks.len(), 1);
    let t = &s.tasks[0];
    assert_eq!((t.key.as_str(), t.records, t.rejected, t.bytes), (A, 3, 2, 3000));
    assert_eq!(t.suspicious.len(), 1);
    assert_eq!((t.suspicious[0].port, t.suspicious[0].direction), (3333, "out"));
    assert_eq!(t.processes.iter().map(|p| p.pid).collect::<Vec<_>>(), [7, 42]);
    assert_eq!(s.unattributed.len(), 3);
    assert_eq!(s.snapshot_match["matched"], 3);
    let mut out = Vec::new();
    s.render_text(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("SUSPICIOUS PORT 3333 to 198.51.100.7"), "{text}");
    let mut md = Vec::new();
    s.render_md(&mut md).unwrap();
    assert!(String::from_utf8(md).unwrap().contains("| `arn:aws:ecs:us-west-2:111122223333:task/prod/aaa` | task |"));
    let mut js = Vec::new();
    s.render_json(&mut js).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&js).unwrap();
    assert_eq!(v["tasks"][0]["peer_count"], 3);
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/flows")).join(name)
}

/// What the command line calls: files in, rows out, problems reported and counted, not fatal.
#[test]
fn the_library_entry_points() {
    let book = AddressBook::load(&register()).unwrap();
    let inputs = [fixture("malformed.log"), fixture("cloudwatch-subscription.json.gz")];
    let opts = curtain_flows::Options::default();
    let mut out = JsonlWriter::new(Vec::new());
    let mut problems = Vec::new();
    let stats =
        curtain_flows::attribute(&inputs, &opts, &book, &[], &mut out, &mut |p| problems.push(p.clone())).unwrap();
    assert_eq!((stats.files, stats.records, stats.malformed, stats.skipdata), (2, 6, 4, 1));
    assert_eq!(problems.len(), 4);
    assert_eq!(String::from_utf8(out.w).unwrap().lines().count(), 6, "NODATA and SKIPDATA rows kept");

    let s = curtain_flows::summary(&inputs, &opts, &book, &[], curtain_flows::default_suspicious_ports(), &mut |_| {})
        .unwrap();
    assert_eq!((s.read.records, s.read.malformed, s.problems.len(), s.flows), (6, 4, 4, 5));
    assert!(s.tasks.is_empty(), "10.0.1.23 and its peers are nobody's in this register");
    assert!(s.unattributed.iter().any(|e| e.key == "198.51.100.7" && e.records == 4));
}

/// An interface and its task known only from CloudTrail (RunTask, then ECS's own
/// CreateNetworkInterface): the task is named, inferred, by the address and by the interface.
#[test]
fn an_interface_known_only_from_cloudtrail() {
    let mut r = Register::in_memory().unwrap();
    let ct = |id: &str, at: &str| Provenance { kind: SourceKind::CloudTrail, id: id.into(), at_ns: ns(at) };
    let c = "arn:aws:ecs:us-west-2:111122223333:task/prod/ccc";
    let mut run = task(c, "x", "x", "2026-02-01T09:00:00Z", None, ct("r1", "2026-02-01T09:00:00Z"));
    run.started_at = None;
    run.attachments[0].id = "att-c".into();
    run.attachments[0].eni_id = None;
    run.attachments[0].ips.clear();
    r.add_task(&run).unwrap();
    r.add_eni(&EniFact {
        attachment_id: Some("att-c".into()),
        ecs_proof: Some("cloudtrail:ecs.amazonaws.com".into()),
        ips: vec![IpFact { ip: "10.0.3.3".into(), kind: "private".into() }],
        created_at: Some(ns("2026-02-01T09:00:02Z")),
        description: Some("arn:aws:ecs:us-west-2:111122223333:attachment/att-c".into()),
        ..EniFact::bare("eni-c".into(), ACCOUNT.into(), "us-west-2".into(), ct("c1", "2026-02-01T09:00:02Z"))
    })
    .unwrap();
    let book = AddressBook::load(&r).unwrap();
    let at = "2026-02-01T09:30:00Z";
    let row = attribute(&book, &[], v2("eni-c", "10.0.3.3", "198.51.100.7", 40000, 443, at, "ACCEPT"));
    let src = row.src.unwrap();
    assert_eq!((src.task_arn.as_deref(), src.certainty, src.by), (Some(c), Some("inferred"), Some("address")));
    assert_eq!(src.sources, ["cloudtrail:r1", "cloudtrail:c1"]);

    let l = Layout::parse_format(&format!("{V2} ${{flow-direction}}")).unwrap();
    let s = secs(at);
    let line = format!("5 {ACCOUNT} eni-c 10.0.3.4 198.51.100.7 40000 443 6 1 60 {s} {s} ACCEPT OK egress");
    let row = attribute(&book, &[], l.parse_line(&line).unwrap());
    let src = row.src.unwrap();
    assert_eq!((src.addr.as_str(), src.task_arn.as_deref(), src.by), ("10.0.3.4", Some(c), Some("interface")));
}

/// An address that is no task's names its owner as `whois` does: its kind from the register's
/// list and who it is. A Lambda interface names the functions its VPC configuration served at
/// the record's time; a NAT gateway's names the gateway; a task's is an `ecs-task`.
#[test]
fn owners_that_are_no_task_are_named_as_whois_names_them() {
    use curtain_model::register::LambdaConfigFact;
    let mut r = register();
    r.add_eni(&EniFact {
        ips: vec![IpFact { ip: "10.0.0.60".into(), kind: "private".into() }],
        created_at: Some(ns("2026-01-01T00:00:00Z")),
        description: Some("AWS Lambda VPC ENI-orders-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9".into()),
        interface_type: Some("lambda".into()),
        subnet_id: Some("subnet-a".into()),
        security_groups: vec!["sg-1".into()],
        ..EniFact::bare(
            "eni-lambda".into(),
            ACCOUNT.into(),
            "us-west-2".into(),
            Provenance { kind: SourceKind::CloudTrail, id: "ct2".into(), at_ns: ns("2026-01-01T00:00:00Z") },
        )
    })
    .unwrap();
    for (f, at) in [("orders", "2026-01-01T00:00:00Z"), ("billing", "2026-01-01T12:00:00Z")] {
        r.add_lambda_config(&LambdaConfigFact {
            function_name: f.into(),
            function_arn: None,
            account_id: ACCOUNT.into(),
            region: "us-west-2".into(),
            subnets: vec!["subnet-a".into()],
            security_groups: vec!["sg-1".into()],
            deleted: false,
            source: Provenance { kind: SourceKind::CloudTrail, id: f.into(), at_ns: ns(at) },
        })
        .unwrap();
    }
    let book = AddressBook::load(&r).unwrap();
    let at = "2026-01-01T10:59:30Z";
    let rows = [
        attribute(&book, &[], v2("eni-a", "10.0.0.7", "10.0.0.60", 40000, 443, at, "ACCEPT")),
        attribute(&book, &[], v2("eni-nat", "10.0.0.50", "198.51.100.7", 40001, 443, at, "ACCEPT")),
    ];
    let mut j = JsonlWriter::new(Vec::new());
    rows.iter().for_each(|r| j.row(r).unwrap());
    let text = String::from_utf8(j.w).unwrap();
    let v: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(v[0]["src"]["owner_kind"], "ecs-task");
    assert_eq!(v[0]["dst"]["kind"], "interface");
    assert_eq!(v[0]["dst"]["owner_kind"], "lambda");
    assert_eq!(v[0]["dst"]["owner"]["id"], "orders");
    assert_eq!(v[0]["dst"]["owner"]["functions"], serde_json::json!(["billing", "orders"]), "{}", v[0]["dst"]);
    assert_eq!(v[1]["src"]["owner_kind"], "nat-gateway");
    assert_eq!(v[1]["dst"]["kind"], "unknown");
    assert!(v[1]["dst"].get("owner_kind").is_none());

    let mut c = CsvWriter::new(Vec::new());
    rows.iter().for_each(|r| c.row(r).unwrap());
    let csv = String::from_utf8(c.finish().unwrap()).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cell = |name: &str| first[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!((cell("dst_owner_kind"), cell("dst_owner_id")), ("lambda", "orders"));
    assert_eq!(cell("src_owner_kind"), "ecs-task");
}
