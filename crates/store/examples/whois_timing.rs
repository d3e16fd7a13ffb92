//! Times `whois` on a register the size of a busy estate, so a change to the queries can be
//! judged by figures rather than by feel. Nothing is asserted on time: machines differ.
//!
//! `cargo run --release -p curtain-store --example whois_timing [TASKS]` (default 10 000 tasks).
//! Nine in ten tasks are awsvpc tasks whose interfaces draw their addresses from a pool of 100,
//! so each pooled address has about 90 holders over time; the rest are bridge mode tasks on ten
//! container instances, each holding its host's address. The digest printed last is of every
//! answer as JSON: two builds that answer alike print the same digest.

use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use curtain_model::register::{
    AttachmentFact, ContainerDefinitionFact, ContainerFact, ContainerInstanceFact, EniFact, IpFact, Provenance,
    SourceKind, TaskDefinitionFact, TaskFact,
};
use curtain_store::Register;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-west-2";
/// 2026-01-01T00:00:00Z.
const BASE_NS: u64 = 1_767_225_600_000_000_000;
const MINUTE_NS: u64 = 60_000_000_000;
const POOL: usize = 100;
const INSTANCES: usize = 10;

fn src(kind: SourceKind, id: String, at_ns: u64) -> Provenance {
    Provenance { kind, id, at_ns }
}

fn fill(r: &mut Register, tasks: usize) {
    let sync = src(SourceKind::Sync, "sync-1".into(), BASE_NS);
    for (i, mode) in ["awsvpc", "bridge"].iter().enumerate() {
        for rev in 1..=10 {
            r.add_task_definition(&TaskDefinitionFact {
                task_definition_arn: format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/app{i}:{rev}"),
                family: Some(format!("app{i}")),
                revision: Some(rev),
                network_mode: Some((*mode).into()),
                containers: vec![
                    ContainerDefinitionFact {
                        name: "app".into(),
                        image: Some(format!("app:{rev}")),
                        command: vec!["serve".into(), "--port=8080".into()],
                        entry_point: vec![],
                    },
                    ContainerDefinitionFact {
                        name: "sidecar".into(),
                        image: Some("envoy:1".into()),
                        command: vec![],
                        entry_point: vec!["/entry".into()],
                    },
                ],
                account_id: ACCOUNT.into(),
                region: REGION.into(),
                source: sync.clone(),
            })
            .unwrap();
        }
    }
    for n in 0..INSTANCES {
        r.add_container_instance(&ContainerInstanceFact {
            container_instance_arn: format!("arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/prod/ci{n}"),
            cluster_arn: format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"),
            ec2_instance_id: Some(format!("i-{n:017x}")),
            ips: vec![IpFact { ip: format!("10.1.0.{n}"), kind: "private".into() }],
            account_id: ACCOUNT.into(),
            region: REGION.into(),
            source: sync.clone(),
        })
        .unwrap();
    }
    for i in 0..tasks {
        let started = BASE_NS + i as u64 * MINUTE_NS;
        let stopped = started + 50 * MINUTE_NS;
        let bridge = i % 10 == 9;
        let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/{i:032x}");
        let att = format!("att-{i:08}");
        let eni = format!("eni-{i:017x}");
        let containers: Vec<ContainerFact> = ["app", "sidecar"]
            .iter()
            .map(|name| ContainerFact {
                name: (*name).into(),
                image: Some(format!("{name}:1")),
                image_digest: Some(format!("sha256:{i:064x}")),
                runtime_id: Some(format!("{i:032x}-{name}")),
                last_status: Some("STOPPED".into()),
            })
            .collect();
        let fact = |source: Provenance| TaskFact {
            task_arn: arn.clone(),
            account_id: ACCOUNT.into(),
            region: REGION.into(),
            cluster_arn: Some(format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod")),
            group: Some(format!("service:svc{}", i % 25)),
            task_definition_arn: Some(format!(
                "arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/app{}:{}",
                bridge as u8,
                i % 10 + 1
            )),
            launch_type: Some(if bridge { "EC2" } else { "FARGATE" }.into()),
            availability_zone: Some(format!("{REGION}a")),
            last_status: Some("STOPPED".into()),
            created_at: Some(started - 5_000_000_000),
            started_at: Some(started),
            stopped_at: Some(stopped),
            container_instance_arn: bridge
                .then(|| format!("arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/prod/ci{}", i % INSTANCES)),
            containers: containers.clone(),
            attachments: if bridge {
                Vec::new()
            } else {
                vec![AttachmentFact {
                    id: att.clone(),
                    eni_id: Some(eni.clone()),
                    ips: vec![IpFact { ip: format!("10.0.0.{}", i % POOL), kind: "private".into() }],
                    status: Some("DELETED".into()),
                }]
            },
            source,
        };
        r.add_task(&fact(src(SourceKind::EventBridge, format!("ev-start-{i}"), started))).unwrap();
        r.add_task(&fact(src(SourceKind::EventBridge, format!("ev-stop-{i}"), stopped))).unwrap();
        if !bridge && i % 3 == 0 {
            r.add_eni(&EniFact {
                attachment_id: Some(att.clone()),
                ecs_proof: Some("cloudtrail:ecs.amazonaws.com".into()),
                ips: vec![IpFact { ip: format!("10.0.0.{}", i % POOL), kind: "private".into() }],
                created_at: Some(started - 2_000_000_000),
                deleted_at: Some(stopped + 1_000_000_000),
                description: Some(format!("arn:aws:ecs:{REGION}:{ACCOUNT}:attachment/{att}")),
                ..EniFact::bare(
                    eni.clone(),
                    ACCOUNT.into(),
                    REGION.into(),
                    src(SourceKind::CloudTrail, format!("ct-{i}"), started - 2_000_000_000),
                )
            })
            .unwrap();
        }
    }
}

/// This thread's time on a CPU so far, where Linux tells it (`/proc/thread-self/schedstat`):
/// unlike the wall clock, other work on a busy machine does not add to it.
fn cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

/// Runs `whois` for each address once to count the holders and fold the answers into `digest`,
/// then `rounds` times more, timed; the best round's time per call (on a CPU where known, else
/// on the wall clock), and the holders found.
fn time(r: &Register, ips: &[String], at: Option<u64>, rounds: usize, digest: &mut impl Hasher) -> (Duration, usize) {
    let mut holders = 0;
    for ip in ips {
        let h = r.whois(ip, at).unwrap();
        holders += h.len();
        serde_json::to_string(&h).unwrap().hash(digest);
    }
    let now = || cpu_time().unwrap_or_else(|| START.with(|s| s.elapsed()));
    // At least 200 calls a round: the CPU clock moves on in steps of a scheduler tick.
    let calls = ips.len() * 200usize.div_ceil(ips.len());
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let start = now();
        for ip in ips.iter().cycle().take(calls) {
            std::hint::black_box(r.whois(ip, at).unwrap());
        }
        best = best.min((now() - start) / calls as u32);
    }
    (best, holders)
}

thread_local! {
    static START: Instant = Instant::now();
}

fn main() {
    let tasks: usize = std::env::args().nth(1).map(|n| n.parse().expect("TASKS: a number")).unwrap_or(10_000);
    let mut r = Register::in_memory().unwrap();
    let start = Instant::now();
    fill(&mut r, tasks);
    let (t, e, i) = r.counts().unwrap();
    println!("filled {t} tasks, {e} ENIs, {i} addresses in {:.2?}", start.elapsed());

    let pool: Vec<String> = (0..POOL).map(|n| format!("10.0.0.{n}")).collect();
    let hosts: Vec<String> = (0..INSTANCES).map(|n| format!("10.1.0.{n}")).collect();
    // Mid-way through the estate's history: one holder (or none) at that instant.
    let mid = BASE_NS + tasks as u64 / 2 * MINUTE_NS + 25 * MINUTE_NS;
    let mut digest = std::collections::hash_map::DefaultHasher::new();
    for (what, ips, at) in [
        ("pooled address, all time", &pool, None),
        ("pooled address, --at", &pool, Some(mid)),
        ("host address, all time", &hosts, None),
        ("host address, --at", &hosts, Some(mid)),
    ] {
        let (per_call, holders) = time(&r, ips, at, 5, &mut digest);
        println!("whois {what:<26} {per_call:>10.2?} per call ({} addresses, {holders} holders in all)", ips.len());
    }
    let clock = if cpu_time().is_some() { "CPU time" } else { "wall clock" };
    println!("(best of 5 rounds, {clock}) answers digest {:016x}", digest.finish());
}
