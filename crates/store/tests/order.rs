//! The order of `whois`'s answers, where nothing in the data decides it: holders are listed by
//! the start of their interval, and holders that start together stay in the order the register
//! learnt of them, interfaces' addresses before hosts'. Reports and diffs of two answers rely on
//! that order being the same from one run to the next.

use curtain_model::parse_rfc3339_ns;
use curtain_model::register::{
    AttachmentFact, ContainerDefinitionFact, ContainerInstanceFact, IpFact, Provenance, SourceKind, TaskDefinitionFact,
    TaskFact,
};
use curtain_store::Register;

fn t(s: &str) -> u64 {
    parse_rfc3339_ns(s).unwrap()
}

fn sync(at: &str) -> Provenance {
    Provenance { kind: SourceKind::Sync, id: format!("sync-{at}"), at_ns: t(at) }
}

/// A task started at `started`, in `account`; on `instance` (no interface of its own) or with
/// an interface `eni` holding `ip`.
fn task(account: &str, id: &str, started: &str, eni: Option<(&str, &str)>, instance: Option<&str>) -> TaskFact {
    TaskFact {
        task_arn: format!("arn:aws:ecs:us-west-2:{account}:task/prod/{id}"),
        account_id: account.into(),
        region: "us-west-2".into(),
        cluster_arn: Some(format!("arn:aws:ecs:us-west-2:{account}:cluster/prod")),
        group: None,
        task_definition_arn: Some(format!("arn:aws:ecs:us-west-2:{account}:task-definition/{id}:1")),
        launch_type: Some(if instance.is_some() { "EC2" } else { "FARGATE" }.into()),
        availability_zone: None,
        last_status: Some("RUNNING".into()),
        created_at: None,
        started_at: Some(t(started)),
        stopped_at: None,
        container_instance_arn: instance.map(str::to_string),
        containers: vec![],
        attachments: eni
            .map(|(eni, ip)| AttachmentFact {
                id: format!("att-{id}"),
                eni_id: Some(eni.into()),
                ips: vec![IpFact { ip: ip.into(), kind: "private".into() }],
                status: None,
            })
            .into_iter()
            .collect(),
        source: sync("2026-01-01T12:00:00Z"),
    }
}

fn definition(r: &mut Register, account: &str, id: &str, mode: &str) {
    r.add_task_definition(&TaskDefinitionFact {
        task_definition_arn: format!("arn:aws:ecs:us-west-2:{account}:task-definition/{id}:1"),
        family: Some(id.into()),
        revision: Some(1),
        network_mode: Some(mode.into()),
        containers: vec![ContainerDefinitionFact { name: id.into(), ..Default::default() }],
        account_id: account.into(),
        region: "us-west-2".into(),
        source: sync("2026-01-01T00:00:00Z"),
    })
    .unwrap();
}

fn instance(r: &mut Register, account: &str, ip: &str) -> String {
    let arn = format!("arn:aws:ecs:us-west-2:{account}:container-instance/prod/ci");
    r.add_container_instance(&ContainerInstanceFact {
        container_instance_arn: arn.clone(),
        cluster_arn: format!("arn:aws:ecs:us-west-2:{account}:cluster/prod"),
        ec2_instance_id: Some(format!("i-{account}")),
        ips: vec![IpFact { ip: ip.into(), kind: "private".into() }],
        account_id: account.into(),
        region: "us-west-2".into(),
        source: sync("2026-01-01T08:00:00Z"),
    })
    .unwrap();
    arn
}

fn tasks(r: &Register, ip: &str, at: Option<u64>) -> Vec<String> {
    let holders = r.whois(ip, at).unwrap();
    holders.iter().map(|h| h.task_arn.clone().unwrap().rsplit('/').next().unwrap().to_string()).collect()
}

#[test]
fn holders_that_start_together_keep_the_order_they_were_recorded() {
    // One private address in four accounts (their VPCs overlap), all at 10:00, recorded in an
    // order that is neither the accounts', the tasks' nor the interfaces'.
    let mut r = Register::in_memory().unwrap();
    for (account, id, eni) in [
        ("400000000000", "ddd", "eni-b"),
        ("100000000000", "bbb", "eni-d"),
        ("300000000000", "aaa", "eni-a"),
        ("200000000000", "ccc", "eni-c"),
    ] {
        r.add_task(&task(account, id, "2026-01-01T10:00:00Z", Some((eni, "10.0.0.7")), None)).unwrap();
    }
    assert_eq!(tasks(&r, "10.0.0.7", None), ["ddd", "bbb", "aaa", "ccc"]);
    assert_eq!(tasks(&r, "10.0.0.7", Some(t("2026-01-01T11:00:00Z"))), ["ddd", "bbb", "aaa", "ccc"]);
}

#[test]
fn host_holders_sort_among_interface_holders_by_start() {
    let mut r = Register::in_memory().unwrap();
    // Two hosts with the address, each with bridge and host mode tasks; an awsvpc task on a
    // host is not one of its address's holders, nor is a task whose definition is unknown.
    for account in ["900000000000", "800000000000"] {
        let ci = instance(&mut r, account, "10.0.0.7");
        definition(&mut r, account, "late", "host");
        definition(&mut r, account, "early", "bridge");
        definition(&mut r, account, "vpc", "awsvpc");
        r.add_task(&task(account, "late", "2026-01-01T10:00:00Z", None, Some(&ci))).unwrap();
        r.add_task(&task(account, "early", "2026-01-01T09:00:00Z", None, Some(&ci))).unwrap();
        r.add_task(&task(account, "vpc", "2026-01-01T09:30:00Z", None, Some(&ci))).unwrap();
        r.add_task(&task(account, "unknown", "2026-01-01T09:30:00Z", None, Some(&ci))).unwrap();
    }
    // And interfaces holding it, one starting with the late host tasks, one between.
    r.add_task(&task("700000000000", "eni1", "2026-01-01T10:00:00Z", Some(("eni-1", "10.0.0.7")), None)).unwrap();
    r.add_task(&task("600000000000", "eni2", "2026-01-01T09:45:00Z", Some(("eni-2", "10.0.0.7")), None)).unwrap();
    let holders = r.whois("10.0.0.7", None).unwrap();
    let who: Vec<_> = holders
        .iter()
        .map(|h| format!("{} {}", h.account_id, h.task_arn.as_deref().unwrap().rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        who,
        [
            "900000000000 early",
            "800000000000 early",
            "600000000000 eni2",
            "700000000000 eni1",
            "900000000000 late",
            "800000000000 late",
        ]
    );
    assert_eq!(holders[0].ip_kind, "private (host)");
    assert_eq!(holders[4].network_mode.as_deref(), Some("host"));
    assert_eq!(holders[2].ip_kind, "private");
}
