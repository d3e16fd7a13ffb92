//! Registers written by earlier versions of curtain must open, migrate to the latest schema and
//! answer `whois` exactly as they did. Each register here is built the way those versions built
//! it: their migration SQL, frozen below as it was shipped (never read from `migrations/`, which
//! may change), `PRAGMA user_version` counting what ran, and rows as their writes left them.

use curtain_model::format_rfc3339_signed_ns;
use curtain_model::register::{Certainty, ContainerDefinitionFact, ContainerFact, Holder, Provenance, SourceKind};
use curtain_store::Register;
use rusqlite::{params, Connection};

/// Migration 1 as versions up to the services commit shipped it.
const OLD_1: &str = r#"
CREATE TABLE tasks (
    task_arn TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    cluster_arn TEXT,
    grp TEXT,
    task_definition_arn TEXT,
    launch_type TEXT,
    availability_zone TEXT,
    last_status TEXT,
    created_at INTEGER,
    started_at INTEGER,
    stopped_at INTEGER,
    container_instance_arn TEXT,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE containers (
    task_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    image TEXT,
    image_digest TEXT,
    runtime_id TEXT,
    last_status TEXT,
    PRIMARY KEY (task_arn, name)
);
CREATE TABLE attachments (
    attachment_id TEXT PRIMARY KEY,
    task_arn TEXT,
    eni_id TEXT
);
CREATE TABLE enis (
    eni_id TEXT PRIMARY KEY,
    attachment_id TEXT,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    description TEXT,
    created_at INTEGER,
    deleted_at INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE eni_ips (
    eni_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (eni_id, ip)
);
CREATE INDEX eni_ips_by_ip ON eni_ips (ip);
-- Every source that said something about a task or an ENI.
CREATE TABLE sources (
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (subject, kind, id)
);
"#;

/// Migration 2: services, task definitions, container instances.
const OLD_2: &str = r#"
CREATE TABLE services (
    service_arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cluster_arn TEXT NOT NULL,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    task_definition_arn TEXT,
    launch_type TEXT,
    desired_count INTEGER,
    created_at INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE task_definitions (
    task_definition_arn TEXT PRIMARY KEY,
    family TEXT,
    revision INTEGER,
    network_mode TEXT,
    -- [{"name", "image", "command", "entry_point"}]
    containers TEXT NOT NULL,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    first_seen INTEGER NOT NULL
);
CREATE TABLE container_instances (
    container_instance_arn TEXT PRIMARY KEY,
    cluster_arn TEXT NOT NULL,
    ec2_instance_id TEXT,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE instance_ips (
    container_instance_arn TEXT NOT NULL,
    ip TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (container_instance_arn, ip)
);
CREATE INDEX instance_ips_by_ip ON instance_ips (ip);
"#;

/// Migration 3: what says ECS made an interface.
const OLD_3: &str = r#"
-- What says ECS made an interface (see EniFact::ecs_proof); NULL: only its description claims an
-- ECS attachment. Registers written before keep NULL and their attachment links as they were.
ALTER TABLE enis ADD COLUMN ecs_proof TEXT;
"#;

/// The migrations there are now.
const LATEST: i64 = 9;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-west-2";
const CLUSTER: &str = "arn:aws:ecs:us-west-2:111122223333:cluster/prod";
const TASK_A: &str = "arn:aws:ecs:us-west-2:111122223333:task/prod/aaa";
const TASK_C: &str = "arn:aws:ecs:us-west-2:111122223333:task/prod/ccc";
const TASK_H: &str = "arn:aws:ecs:us-west-2:111122223333:task/prod/hhh";
const WEB_TD: &str = "arn:aws:ecs:us-west-2:111122223333:task-definition/web:7";
const BRIDGE_TD: &str = "arn:aws:ecs:us-west-2:111122223333:task-definition/batch:1";
const CI: &str = "arn:aws:ecs:us-west-2:111122223333:container-instance/prod/ci1";

fn t(s: &str) -> i64 {
    curtain_model::parse_rfc3339_ns(s).unwrap() as i64
}

fn time(s: &str) -> Option<String> {
    Some(format_rfc3339_signed_ns(t(s)))
}

fn src(kind: SourceKind, id: &str, at: &str) -> Provenance {
    Provenance { kind, id: id.into(), at_ns: t(at) as u64 }
}

/// A file of its own for each test, removed when the test ends.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("curtain-store-migrations-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn db(&self) -> std::path::PathBuf {
        self.0.join("register.db")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A register as a version that knew `version` migrations made it: those migrations, each
/// counted in `user_version`, in a WAL file.
fn old_register(path: &std::path::Path, version: usize) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    for (i, sql) in [OLD_1, OLD_2, OLD_3][..version].iter().enumerate() {
        let tx = conn.unchecked_transaction().unwrap();
        tx.execute_batch(sql).unwrap();
        tx.pragma_update(None, "user_version", i + 1).unwrap();
        tx.commit().unwrap();
    }
    conn
}

fn source(c: &Connection, subject: &str, kind: &str, id: &str, at: &str) {
    c.execute("INSERT INTO sources (subject, kind, id, at) VALUES (?1, ?2, ?3, ?4)", params![subject, kind, id, t(at)])
        .unwrap();
}

/// What version 1's writes left: a task seen by an event then a sync (observed); a task from
/// RunTask whose interface came from CloudTrail and was joined through the attachment its
/// description names (before migration 3 a description was enough, and such registers keep
/// that answer); and an interface whose description names an attachment no task has.
fn fill_v1(c: &Connection) {
    c.execute(
        "INSERT INTO tasks (task_arn, account_id, region, cluster_arn, grp, task_definition_arn, launch_type,
                            availability_zone, last_status, created_at, started_at, stopped_at,
                            container_instance_arn, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, 'service:web', ?5, 'FARGATE', 'us-west-2a', 'RUNNING', ?6, ?7, NULL, NULL, ?8, ?9)",
        params![
            TASK_A,
            ACCOUNT,
            REGION,
            CLUSTER,
            WEB_TD,
            t("2026-01-01T09:59:55Z"),
            t("2026-01-01T10:00:00Z"),
            t("2026-01-01T10:00:01Z"),
            t("2026-01-01T11:00:01Z")
        ],
    )
    .unwrap();
    // Recorded out of name order: whois lists a task's containers by name.
    c.execute(
        "INSERT INTO containers (task_arn, name, image, image_digest, runtime_id, last_status)
         VALUES (?1, 'web', 'web:7', NULL, NULL, 'RUNNING'), (?1, 'envoy', 'envoy:1', 'sha256:e1', 'rt-envoy', 'RUNNING')",
        [TASK_A],
    )
    .unwrap();
    c.execute("INSERT INTO attachments (attachment_id, task_arn, eni_id) VALUES ('att-a', ?1, 'eni-a')", [TASK_A])
        .unwrap();
    c.execute(
        "INSERT INTO enis (eni_id, attachment_id, account_id, region, first_seen, last_seen)
         VALUES ('eni-a', 'att-a', ?1, ?2, ?3, ?4)",
        params![ACCOUNT, REGION, t("2026-01-01T10:00:01Z"), t("2026-01-01T11:00:01Z")],
    )
    .unwrap();
    c.execute(
        "INSERT INTO eni_ips (eni_id, ip, kind, first_seen, last_seen) VALUES ('eni-a', '10.0.0.7', 'private', ?1, ?2)",
        params![t("2026-01-01T10:00:01Z"), t("2026-01-01T11:00:01Z")],
    )
    .unwrap();
    for subject in [TASK_A, "eni-a"] {
        source(c, subject, "eventbridge", "e1", "2026-01-01T10:00:01Z");
        source(c, subject, "sync", "s1", "2026-01-01T11:00:01Z");
    }

    // RunTask (no start time yet), then CreateNetworkInterface and DeleteNetworkInterface.
    c.execute(
        "INSERT INTO tasks (task_arn, account_id, region, cluster_arn, grp, task_definition_arn, launch_type,
                            last_status, created_at, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, 'family:jobs', NULL, 'FARGATE', 'PROVISIONING', ?5, ?5, ?5)",
        params![TASK_C, ACCOUNT, REGION, CLUSTER, t("2026-02-01T09:00:00Z")],
    )
    .unwrap();
    c.execute("INSERT INTO containers (task_arn, name, image) VALUES (?1, 'job', 'job:3')", [TASK_C]).unwrap();
    c.execute("INSERT INTO attachments (attachment_id, task_arn, eni_id) VALUES ('att-c', ?1, 'eni-c')", [TASK_C])
        .unwrap();
    c.execute(
        "INSERT INTO enis (eni_id, attachment_id, account_id, region, description, created_at, deleted_at,
                           first_seen, last_seen)
         VALUES ('eni-c', 'att-c', ?1, ?2, 'arn:aws:ecs:us-west-2:111122223333:attachment/att-c', ?3, ?4, ?3, ?4)",
        params![ACCOUNT, REGION, t("2026-02-01T09:00:02Z"), t("2026-02-01T10:00:00Z")],
    )
    .unwrap();
    c.execute(
        "INSERT INTO eni_ips (eni_id, ip, kind, first_seen, last_seen) VALUES ('eni-c', '10.0.3.3', 'private', ?1, ?1)",
        [t("2026-02-01T09:00:02Z")],
    )
    .unwrap();
    source(c, TASK_C, "cloudtrail", "r1", "2026-02-01T09:00:00Z");
    source(c, "eni-c", "cloudtrail", "c1", "2026-02-01T09:00:02Z");
    source(c, "eni-c", "cloudtrail", "d1", "2026-02-01T10:00:00Z");

    // An interface naming an attachment no task claims: version 1 linked it all the same.
    c.execute("INSERT INTO attachments (attachment_id, eni_id) VALUES ('att-x', 'eni-x')", []).unwrap();
    c.execute(
        "INSERT INTO enis (eni_id, attachment_id, account_id, region, description, created_at, first_seen, last_seen)
         VALUES ('eni-x', 'att-x', '444455556666', 'eu-west-1', 'arn:aws:ecs:eu-west-1:444455556666:attachment/att-x',
                 ?1, ?1, ?1)",
        [t("2026-02-01T09:10:00Z")],
    )
    .unwrap();
    c.execute(
        "INSERT INTO eni_ips (eni_id, ip, kind, first_seen, last_seen) VALUES ('eni-x', '10.0.5.5', 'private', ?1, ?1)",
        [t("2026-02-01T09:10:00Z")],
    )
    .unwrap();
    source(c, "eni-x", "cloudtrail", "c2", "2026-02-01T09:10:00Z");
}

/// What version 2's writes added: the web task's definition, a service, and a container
/// instance whose address a bridge mode task held.
fn fill_v2(c: &Connection) {
    let td = |arn: &str, family: &str, mode: &str, containers: &str| {
        c.execute(
            "INSERT INTO task_definitions (task_definition_arn, family, revision, network_mode, containers, account_id,
                                           region, first_seen)
             VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7)",
            params![arn, family, mode, containers, ACCOUNT, REGION, t("2026-01-01T00:00:00Z")],
        )
        .unwrap();
    };
    td(WEB_TD, "web", "awsvpc", r#"[{"name":"web","image":"web:7","command":["serve"],"entry_point":[]}]"#);
    td(BRIDGE_TD, "batch", "bridge", r#"[{"name":"batch","image":"batch:1","command":[],"entry_point":["/run"]}]"#);
    c.execute(
        "INSERT INTO services (service_arn, name, cluster_arn, account_id, region, task_definition_arn, launch_type,
                               desired_count, created_at, first_seen, last_seen)
         VALUES ('arn:aws:ecs:us-west-2:111122223333:service/prod/web', 'web', ?1, ?2, ?3, ?4, 'FARGATE', 2, NULL, ?5, ?5)",
        params![CLUSTER, ACCOUNT, REGION, WEB_TD, t("2026-01-01T11:00:01Z")],
    )
    .unwrap();
    c.execute(
        "INSERT INTO container_instances (container_instance_arn, cluster_arn, ec2_instance_id, account_id, region,
                                          first_seen, last_seen)
         VALUES (?1, ?2, 'i-0abc', ?3, ?4, ?5, ?6)",
        params![CI, CLUSTER, ACCOUNT, REGION, t("2026-03-01T09:00:00Z"), t("2026-03-01T12:00:00Z")],
    )
    .unwrap();
    c.execute(
        "INSERT INTO instance_ips (container_instance_arn, ip, kind, first_seen, last_seen)
         VALUES (?1, '10.1.1.1', 'private', ?2, ?3)",
        params![CI, t("2026-03-01T09:00:00Z"), t("2026-03-01T12:00:00Z")],
    )
    .unwrap();
    source(c, CI, "sync", "s2", "2026-03-01T09:00:00Z");
    source(c, CI, "sync", "s3", "2026-03-01T12:00:00Z");
    c.execute(
        "INSERT INTO tasks (task_arn, account_id, region, cluster_arn, grp, task_definition_arn, launch_type,
                            last_status, created_at, started_at, stopped_at, container_instance_arn, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, 'family:batch', ?5, 'EC2', 'STOPPED', ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            TASK_H,
            ACCOUNT,
            REGION,
            CLUSTER,
            BRIDGE_TD,
            t("2026-03-01T09:59:00Z"),
            t("2026-03-01T10:00:00Z"),
            t("2026-03-01T11:30:00Z"),
            CI,
            t("2026-03-01T09:00:00Z"),
            t("2026-03-01T11:30:00Z")
        ],
    )
    .unwrap();
    c.execute(
        "INSERT INTO containers (task_arn, name, image, last_status) VALUES (?1, 'batch', 'batch:1', 'STOPPED')",
        [TASK_H],
    )
    .unwrap();
    // The sync that saw the instance saw the task: one source, named once.
    source(c, TASK_H, "sync", "s2", "2026-03-01T09:00:00Z");
    source(c, TASK_H, "eventbridge", "e9", "2026-03-01T11:30:00Z");
}

/// The web task's holder of 10.0.0.7; with `definitions`, its task definition is known.
fn holder_a(definitions: bool) -> Holder {
    Holder {
        ip: "10.0.0.7".into(),
        ip_kind: "private".into(),
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        cluster_arn: Some(CLUSTER.into()),
        service: Some("web".into()),
        task_arn: Some(TASK_A.into()),
        task_definition_arn: Some(WEB_TD.into()),
        launch_type: Some("FARGATE".into()),
        network_mode: definitions.then(|| "awsvpc".into()),
        containers: vec![
            ContainerFact {
                name: "envoy".into(),
                image: Some("envoy:1".into()),
                image_digest: Some("sha256:e1".into()),
                runtime_id: Some("rt-envoy".into()),
                last_status: Some("RUNNING".into()),
            },
            ContainerFact {
                name: "web".into(),
                image: Some("web:7".into()),
                last_status: Some("RUNNING".into()),
                ..Default::default()
            },
        ],
        definition: if definitions {
            vec![ContainerDefinitionFact {
                name: "web".into(),
                image: Some("web:7".into()),
                command: vec!["serve".into()],
                entry_point: vec![],
            }]
        } else {
            vec![]
        },
        container_instance_arn: None,
        ec2_instance_id: None,
        eni_id: Some("eni-a".into()),
        attachment_id: Some("att-a".into()),
        from: time("2026-01-01T10:00:00Z"),
        to: None,
        last_seen: time("2026-01-01T11:00:01Z"),
        kind: "ecs-task".into(),
        owner: None,
        acquisitions: Vec::new(),
        certainty: Certainty::Observed,
        sources: vec![
            src(SourceKind::EventBridge, "e1", "2026-01-01T10:00:01Z"),
            src(SourceKind::Sync, "s1", "2026-01-01T11:00:01Z"),
        ],
    }
}

/// The RunTask task's holder of 10.0.3.3: its interval from its creation to its interface's
/// deletion, joined by CloudTrail alone.
fn holder_c() -> Holder {
    Holder {
        ip: "10.0.3.3".into(),
        ip_kind: "private".into(),
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        cluster_arn: Some(CLUSTER.into()),
        service: None,
        task_arn: Some(TASK_C.into()),
        task_definition_arn: None,
        launch_type: Some("FARGATE".into()),
        network_mode: None,
        containers: vec![ContainerFact { name: "job".into(), image: Some("job:3".into()), ..Default::default() }],
        definition: vec![],
        container_instance_arn: None,
        ec2_instance_id: None,
        eni_id: Some("eni-c".into()),
        attachment_id: Some("att-c".into()),
        from: time("2026-02-01T09:00:00Z"),
        to: time("2026-02-01T10:00:00Z"),
        last_seen: time("2026-02-01T10:00:00Z"),
        kind: "ecs-task".into(),
        owner: None,
        acquisitions: Vec::new(),
        certainty: Certainty::Inferred,
        sources: vec![
            src(SourceKind::CloudTrail, "r1", "2026-02-01T09:00:00Z"),
            src(SourceKind::CloudTrail, "c1", "2026-02-01T09:00:02Z"),
            src(SourceKind::CloudTrail, "d1", "2026-02-01T10:00:00Z"),
        ],
    }
}

/// The interface naming an attachment no task has: no task, inferred as version 1 said.
fn holder_x() -> Holder {
    Holder {
        ip: "10.0.5.5".into(),
        ip_kind: "private".into(),
        account_id: "444455556666".into(),
        region: "eu-west-1".into(),
        cluster_arn: None,
        service: None,
        task_arn: None,
        task_definition_arn: None,
        launch_type: None,
        network_mode: None,
        containers: vec![],
        definition: vec![],
        container_instance_arn: None,
        ec2_instance_id: None,
        eni_id: Some("eni-x".into()),
        attachment_id: Some("att-x".into()),
        from: time("2026-02-01T09:10:00Z"),
        to: None,
        last_seen: time("2026-02-01T09:10:00Z"),
        kind: "ecs-task".into(),
        owner: None,
        acquisitions: Vec::new(),
        certainty: Certainty::Inferred,
        sources: vec![src(SourceKind::CloudTrail, "c2", "2026-02-01T09:10:00Z")],
    }
}

/// The bridge mode task's holder of its host's address.
fn holder_h() -> Holder {
    Holder {
        ip: "10.1.1.1".into(),
        ip_kind: "private (host)".into(),
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        cluster_arn: Some(CLUSTER.into()),
        service: None,
        task_arn: Some(TASK_H.into()),
        task_definition_arn: Some(BRIDGE_TD.into()),
        launch_type: Some("EC2".into()),
        network_mode: Some("bridge".into()),
        containers: vec![ContainerFact {
            name: "batch".into(),
            image: Some("batch:1".into()),
            last_status: Some("STOPPED".into()),
            ..Default::default()
        }],
        definition: vec![ContainerDefinitionFact {
            name: "batch".into(),
            image: Some("batch:1".into()),
            command: vec![],
            entry_point: vec!["/run".into()],
        }],
        container_instance_arn: Some(CI.into()),
        ec2_instance_id: Some("i-0abc".into()),
        eni_id: None,
        attachment_id: None,
        from: time("2026-03-01T10:00:00Z"),
        to: time("2026-03-01T11:30:00Z"),
        last_seen: time("2026-03-01T12:00:00Z"),
        kind: "ecs-task".into(),
        owner: None,
        acquisitions: Vec::new(),
        certainty: Certainty::Observed,
        sources: vec![
            src(SourceKind::Sync, "s2", "2026-03-01T09:00:00Z"),
            src(SourceKind::EventBridge, "e9", "2026-03-01T11:30:00Z"),
            src(SourceKind::Sync, "s3", "2026-03-01T12:00:00Z"),
        ],
    }
}

fn at(s: &str) -> Option<u64> {
    Some(t(s) as u64)
}

/// The answers every old register holding version 1's rows gives.
fn answers_as_version_1_did(r: &Register, definitions: bool) {
    assert_eq!(r.whois("10.0.0.7", None).unwrap(), [holder_a(definitions)]);
    assert_eq!(r.whois("10.0.0.7", at("2026-01-01T09:59:59Z")).unwrap(), []);
    assert_eq!(r.whois("10.0.3.3", None).unwrap(), [holder_c()]);
    assert_eq!(r.whois("10.0.3.3", at("2026-02-01T09:30:00Z")).unwrap(), [holder_c()]);
    assert_eq!(r.whois("10.0.3.3", at("2026-02-01T10:30:00Z")).unwrap(), []);
    assert_eq!(r.whois("10.0.5.5", None).unwrap(), [holder_x()]);
    // Tasks, interfaces, their addresses: version 2's bridge task is one more task.
    assert_eq!(r.counts().unwrap(), (2 + definitions as u64, 3, 3));
}

/// The schema a register holds: every table, index and column, as SQLite keeps them.
fn schema(c: &Connection) -> Vec<(String, String, Option<String>)> {
    let mut st = c
        .prepare("SELECT type, name, sql FROM sqlite_master WHERE name != 'schema_migrations' ORDER BY type, name")
        .unwrap();
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Each migration the register records: its number, its name, and whether it says when it ran
/// (those that ran before the register kept the record do not).
fn recorded(path: &std::path::Path) -> Vec<(i64, String, bool)> {
    let c = Connection::open(path).unwrap();
    let mut st =
        c.prepare("SELECT version, name, applied_at IS NOT NULL FROM schema_migrations ORDER BY version").unwrap();
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Every migration there is, by name; `ran_before` says how many ran before the register kept
/// the record (those say no time).
fn migrations(ran_before: usize) -> Vec<(i64, String, bool)> {
    let timed = (0..).map(|i| i >= ran_before);
    [
        "0001_tasks_enis_sources",
        "0002_services_definitions_instances",
        "0003_enis_ecs_proof",
        "0004_tasks_by_container_instance",
        "0005_acquisitions",
        "0006_eni_owners",
        "0007_ec2_instances",
        "0008_address_spells",
        "0009_lambda_configs",
    ]
    .iter()
    .zip(timed)
    .enumerate()
    .map(|(i, (name, timed))| (i as i64 + 1, name.to_string(), timed))
    .collect()
}

fn user_version(path: &std::path::Path) -> i64 {
    Connection::open(path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
}

#[test]
fn a_version_1_register_migrates_and_answers_as_before() {
    let dir = Scratch::new("v1");
    {
        let c = old_register(&dir.db(), 1);
        fill_v1(&c);
    }
    let r = Register::open(&dir.db()).unwrap();
    answers_as_version_1_did(&r, false);
    assert_eq!(r.whois("10.1.1.1", None).unwrap(), []);
    drop(r);
    assert_eq!(user_version(&dir.db()), LATEST);
    assert_eq!(recorded(&dir.db()), migrations(1));
    // Opening it again runs nothing twice and changes no answer.
    let r = Register::open(&dir.db()).unwrap();
    answers_as_version_1_did(&r, false);
    drop(r);
    assert_eq!(recorded(&dir.db()), migrations(1), "recorded once");
}

#[test]
fn a_version_2_register_migrates_and_answers_as_before() {
    let dir = Scratch::new("v2");
    {
        let c = old_register(&dir.db(), 2);
        fill_v1(&c);
        fill_v2(&c);
    }
    let r = Register::open(&dir.db()).unwrap();
    answers_as_version_1_did(&r, true);
    assert_eq!(r.whois("10.1.1.1", None).unwrap(), [holder_h()]);
    assert_eq!(r.whois("10.1.1.1", at("2026-03-01T11:00:00Z")).unwrap(), [holder_h()]);
    assert_eq!(r.whois("10.1.1.1", at("2026-03-01T11:45:00Z")).unwrap(), []);
    drop(r);
    assert_eq!(user_version(&dir.db()), LATEST);
    assert_eq!(recorded(&dir.db()), migrations(2));
}

#[test]
fn a_version_3_register_migrates_and_answers_as_before() {
    let dir = Scratch::new("v3");
    {
        let c = old_register(&dir.db(), 3);
        fill_v1(&c);
        fill_v2(&c);
    }
    let r = Register::open(&dir.db()).unwrap();
    answers_as_version_1_did(&r, true);
    assert_eq!(r.whois("10.1.1.1", None).unwrap(), [holder_h()]);
    drop(r);
    assert_eq!(user_version(&dir.db()), LATEST);
    assert_eq!(recorded(&dir.db()), migrations(3));
}

#[test]
fn a_migrated_register_takes_new_facts() {
    use curtain_model::register::{EniFact, IpFact};
    let dir = Scratch::new("v1-writes");
    {
        let c = old_register(&dir.db(), 1);
        fill_v1(&c);
    }
    let mut r = Register::open(&dir.db()).unwrap();
    // An interface from someone else naming the web task's attachment: a description alone
    // now names no task, and the old link stays as it was.
    r.add_eni(&EniFact {
        attachment_id: Some("att-a".into()),
        ips: vec![IpFact { ip: "10.0.0.66".into(), kind: "private".into() }],
        created_at: Some(t("2026-01-01T10:30:00Z") as u64),
        description: Some("arn:aws:ecs:us-west-2:111122223333:attachment/att-a".into()),
        ..EniFact::bare(
            "eni-evil".into(),
            ACCOUNT.into(),
            REGION.into(),
            src(SourceKind::CloudTrail, "c-evil", "2026-01-01T10:30:00Z"),
        )
    })
    .unwrap();
    let h = r.whois("10.0.0.66", None).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].task_arn, None);
    assert_eq!(h[0].certainty, Certainty::Claimed);
    answers_as_version_1_did_but_one_more_eni(&r);
}

fn answers_as_version_1_did_but_one_more_eni(r: &Register) {
    assert_eq!(r.whois("10.0.0.7", None).unwrap(), [holder_a(false)]);
    assert_eq!(r.whois("10.0.3.3", None).unwrap(), [holder_c()]);
    assert_eq!(r.counts().unwrap(), (2, 4, 4));
}

#[test]
fn a_new_register_has_the_schema_the_old_migrations_made() {
    let dir = Scratch::new("fresh");
    let old = old_register(&dir.0.join("old.db"), 3);
    drop(Register::open(&dir.db()).unwrap());
    let new = Connection::open(dir.db()).unwrap();
    // What migration 3 left, the index migration 4 adds for whois on a host's address, the
    // acquisitions of migration 5, the interface owners of 6, the EC2 instances of 7, the
    // address spells of 8 and the Lambda configurations of 9.
    old.execute_batch("CREATE INDEX tasks_by_container_instance ON tasks (container_instance_arn);").unwrap();
    old.execute_batch(include_str!("../migrations/0005_acquisitions.sql")).unwrap();
    old.execute_batch(include_str!("../migrations/0006_eni_owners.sql")).unwrap();
    old.execute_batch(include_str!("../migrations/0007_ec2_instances.sql")).unwrap();
    old.execute_batch(include_str!("../migrations/0008_address_spells.sql")).unwrap();
    old.execute_batch(include_str!("../migrations/0009_lambda_configs.sql")).unwrap();
    assert_eq!(schema(&new), schema(&old));
    assert_eq!(user_version(&dir.db()), LATEST);
    assert_eq!(recorded(&dir.db()), migrations(0));
}

#[test]
fn an_up_to_date_register_opens_while_a_sync_writes() {
    let dir = Scratch::new("busy");
    {
        let mut r = Register::open(&dir.db()).unwrap();
        r.add_eni(&curtain_model::register::EniFact {
            ips: vec![curtain_model::register::IpFact { ip: "10.0.0.7".into(), kind: "private".into() }],
            ..curtain_model::register::EniFact::bare(
                "eni-a".into(),
                ACCOUNT.into(),
                REGION.into(),
                src(SourceKind::Sync, "s1", "2026-01-01T10:00:00Z"),
            )
        })
        .unwrap();
    }
    // Another process in the middle of writing: opening to ask must not need to write.
    let writer = Connection::open(dir.db()).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE; DELETE FROM sources;").unwrap();
    let started = std::time::Instant::now();
    let r = Register::open(&dir.db()).unwrap();
    assert_eq!(r.whois("10.0.0.7", None).unwrap().len(), 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "waited for the writer");
    writer.execute_batch("ROLLBACK").unwrap();
}
