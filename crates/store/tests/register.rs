//! What the register answers after what it was told: intervals, certainty and sources for each
//! way an address comes to be known (a sync or task event, CloudTrail alone, a forged interface
//! description, a bridge mode task on its host), and history kept across opens.

use curtain_model::parse_rfc3339_ns;
use curtain_model::register::{
    AddressAssociation, AttachmentFact, Certainty, ContainerDefinitionFact, ContainerFact, ContainerInstanceFact,
    EniFact, InstanceFact, IpFact, LambdaConfigFact, Provenance, SourceKind, TaskDefinitionFact, TaskFact,
};
use curtain_store::Register;

fn t(s: &str) -> u64 {
    parse_rfc3339_ns(s).unwrap()
}

fn task(
    arn: &str,
    attachment: &str,
    eni: &str,
    ip: &str,
    started: &str,
    stopped: Option<&str>,
    source: Provenance,
) -> TaskFact {
    TaskFact {
        task_arn: arn.into(),
        account_id: "111122223333".into(),
        region: "us-west-2".into(),
        cluster_arn: Some("arn:aws:ecs:us-west-2:111122223333:cluster/prod".into()),
        group: Some("service:web".into()),
        task_definition_arn: Some("arn:aws:ecs:us-west-2:111122223333:task-definition/web:7".into()),
        launch_type: Some("FARGATE".into()),
        availability_zone: Some("us-west-2a".into()),
        last_status: Some(if stopped.is_some() { "STOPPED" } else { "RUNNING" }.into()),
        created_at: Some(t(started) - 5_000_000_000),
        started_at: Some(t(started)),
        stopped_at: stopped.map(t),
        container_instance_arn: None,
        containers: vec![ContainerFact { name: "web".into(), image: Some("web:7".into()), ..Default::default() }],
        attachments: vec![AttachmentFact {
            id: attachment.into(),
            eni_id: Some(eni.into()),
            ips: vec![IpFact { ip: ip.into(), kind: "private".into() }],
            status: Some("ATTACHED".into()),
        }],
        source,
    }
}

fn ev(id: &str, at: &str) -> Provenance {
    Provenance { kind: SourceKind::EventBridge, id: id.into(), at_ns: t(at) }
}

/// Task aaa, running since 10:00 with 10.0.0.7, from one event.
fn running_a() -> TaskFact {
    task(
        "arn:aws:ecs:us-west-2:111122223333:task/prod/aaa",
        "att-a",
        "eni-a",
        "10.0.0.7",
        "2026-01-01T10:00:00Z",
        None,
        ev("e1", "2026-01-01T10:00:01Z"),
    )
}

#[test]
fn one_ip_two_tasks_at_different_times() {
    let mut r = Register::in_memory().unwrap();
    let a = task(
        "arn:aws:ecs:us-west-2:111122223333:task/prod/aaa",
        "att-a",
        "eni-a",
        "10.0.0.7",
        "2026-01-01T10:00:00Z",
        Some("2026-01-01T12:00:00Z"),
        ev("e1", "2026-01-01T12:00:01Z"),
    );
    let b = task(
        "arn:aws:ecs:us-west-2:111122223333:task/prod/bbb",
        "att-b",
        "eni-b",
        "10.0.0.7",
        "2026-01-01T13:00:00Z",
        None,
        ev("e2", "2026-01-01T13:00:01Z"),
    );
    r.add_task(&a).unwrap();
    r.add_task(&b).unwrap();
    let all = r.whois("10.0.0.7", None).unwrap();
    assert_eq!(all.len(), 2);
    let at11 = r.whois("10.0.0.7", Some(t("2026-01-01T11:00:00Z"))).unwrap();
    assert_eq!(at11.len(), 1);
    assert_eq!(at11[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/aaa"));
    assert_eq!(at11[0].service.as_deref(), Some("web"));
    assert_eq!(at11[0].certainty, Certainty::Observed);
    assert_eq!(at11[0].to.as_deref(), Some("2026-01-01T12:00:00.000000000Z"));
    let at14 = r.whois("10.0.0.7", Some(t("2026-01-01T14:00:00Z"))).unwrap();
    assert_eq!(at14[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/bbb"));
    assert_eq!(at14[0].to, None);
    assert!(r.whois("10.0.0.7", Some(t("2026-01-01T12:30:00Z"))).unwrap().is_empty(), "nobody in between");
    assert!(r.whois("10.9.9.9", None).unwrap().is_empty());
}

/// `all_holders` is `whois` for every address at once: the same holders, and `holds` gives the
/// same answer at every instant (an edge, inside, between the two, after).
#[test]
fn all_holders_answer_as_whois_does() {
    let mut r = Register::in_memory().unwrap();
    r.add_task(&task(
        "arn:aws:ecs:us-west-2:111122223333:task/prod/aaa",
        "att-a",
        "eni-a",
        "10.0.0.7",
        "2026-01-01T10:00:00Z",
        Some("2026-01-01T12:00:00Z"),
        ev("e1", "2026-01-01T12:00:01Z"),
    ))
    .unwrap();
    r.add_task(&task(
        "arn:aws:ecs:us-west-2:111122223333:task/prod/bbb",
        "att-b",
        "eni-b",
        "10.0.0.7",
        "2026-01-01T13:00:00Z",
        None,
        ev("e2", "2026-01-01T13:00:01Z"),
    ))
    .unwrap();
    let all = r.all_holders().unwrap();
    assert_eq!(all.len(), 2);
    for at in [
        "2026-01-01T09:00:00Z",
        "2026-01-01T10:00:00Z",
        "2026-01-01T11:00:00Z",
        "2026-01-01T12:00:00Z",
        "2026-01-01T12:30:00Z",
        "2026-01-01T13:00:00Z",
        "2027-01-01T00:00:00Z",
    ] {
        let at = t(at);
        let mut mine: Vec<_> =
            all.iter().filter(|h| h.holder.ip == "10.0.0.7" && h.holds(at)).map(|h| h.holder.clone()).collect();
        mine.sort_by(|a, b| a.from.cmp(&b.from));
        assert_eq!(mine, r.whois("10.0.0.7", Some(at)).unwrap());
    }
}

/// `all_tasks` is the tasks table with each task's containers and sources, in the order the
/// register learnt of them (what `curtain inventory export` writes).
#[test]
fn all_tasks_lists_every_task_with_its_containers_and_sources() {
    let mut r = Register::in_memory().unwrap();
    r.add_task(&running_a()).unwrap();
    r.add_task(&task(
        "arn:aws:ecs:us-west-2:111122223333:task/prod/bbb",
        "att-b",
        "eni-b",
        "10.0.0.8",
        "2026-01-01T13:00:00Z",
        Some("2026-01-01T14:00:00Z"),
        ev("e2", "2026-01-01T14:00:01Z"),
    ))
    .unwrap();
    let tasks = r.all_tasks().unwrap();
    assert_eq!(tasks.len(), 2);
    assert!(tasks[0].task_arn.ends_with("/aaa") && tasks[1].task_arn.ends_with("/bbb"));
    let b = &tasks[1];
    assert_eq!(b.service.as_deref(), Some("web"));
    assert_eq!(b.group.as_deref(), Some("service:web"));
    assert_eq!(b.started_at, Some(t("2026-01-01T13:00:00Z") as i64));
    assert_eq!(b.stopped_at, Some(t("2026-01-01T14:00:00Z") as i64));
    assert_eq!(b.containers.len(), 1);
    assert_eq!(b.containers[0].name, "web");
    assert_eq!(b.sources, vec![ev("e2", "2026-01-01T14:00:01Z")]);
    assert!(Register::in_memory().unwrap().all_tasks().unwrap().is_empty());
}

#[test]
fn the_same_facts_twice_change_nothing() {
    let mut r = Register::in_memory().unwrap();
    let a = running_a();
    r.add_task(&a).unwrap();
    let before = r.whois("10.0.0.7", None).unwrap();
    r.add_task(&a).unwrap();
    assert_eq!(r.whois("10.0.0.7", None).unwrap(), before);
    assert_eq!(r.counts().unwrap(), (1, 1, 1));
}

#[test]
fn cloudtrail_eni_joined_to_run_task_by_attachment_id() {
    let mut r = Register::in_memory().unwrap();
    let ct = |id: &str, at: &str| Provenance { kind: SourceKind::CloudTrail, id: id.into(), at_ns: t(at) };
    // RunTask: the task and its attachment id, no ENI yet.
    let mut run = task(
        "arn:aws:ecs:us-west-2:111122223333:task/prod/ccc",
        "att-c",
        "x",
        "x",
        "2026-02-01T09:00:00Z",
        None,
        ct("r1", "2026-02-01T09:00:00Z"),
    );
    run.started_at = None;
    run.attachments[0].eni_id = None;
    run.attachments[0].ips.clear();
    r.add_task(&run).unwrap();
    // CreateNetworkInterface, then DeleteNetworkInterface an hour later.
    r.add_eni(&EniFact {
        attachment_id: Some("att-c".into()),
        ecs_proof: Some("cloudtrail:ecs.amazonaws.com".into()),
        ips: vec![IpFact { ip: "10.0.3.3".into(), kind: "private".into() }],
        created_at: Some(t("2026-02-01T09:00:02Z")),
        description: Some("arn:aws:ecs:us-west-2:111122223333:attachment/att-c".into()),
        ..EniFact::bare("eni-c".into(), "111122223333".into(), "us-west-2".into(), ct("c1", "2026-02-01T09:00:02Z"))
    })
    .unwrap();
    r.add_eni(&EniFact {
        deleted_at: Some(t("2026-02-01T10:00:00Z")),
        ..EniFact::bare("eni-c".into(), "111122223333".into(), "us-west-2".into(), ct("d1", "2026-02-01T10:00:00Z"))
    })
    .unwrap();
    let h = r.whois("10.0.3.3", Some(t("2026-02-01T09:30:00Z"))).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/ccc"));
    assert_eq!(h[0].certainty, Certainty::Inferred);
    assert_eq!(h[0].to.as_deref(), Some("2026-02-01T10:00:00.000000000Z"));
    assert_eq!(h[0].sources.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["r1", "c1", "d1"]);
    assert!(r.whois("10.0.3.3", Some(t("2026-02-01T10:30:00Z"))).unwrap().is_empty());
}

#[test]
fn a_description_alone_cannot_attribute_an_address_to_a_task() {
    let mut r = Register::in_memory().unwrap();
    let ct = |id: &str, at: &str| Provenance { kind: SourceKind::CloudTrail, id: id.into(), at_ns: t(at) };
    // A task whose attachment has no interface yet (RunTask's PRECREATED), and one whose
    // attachment names its interface (ECS's own record).
    let mut pre = task(
        "arn:aws:ecs:us-west-2:111122223333:task/prod/pre",
        "att-pre",
        "eni-unused",
        "10.0.9.1",
        "2026-02-01T09:00:10Z",
        None,
        ct("r1", "2026-02-01T09:00:00Z"),
    );
    pre.attachments[0].eni_id = None;
    pre.attachments[0].ips.clear();
    r.add_task(&pre).unwrap();
    r.add_task(&task(
        "arn:aws:ecs:us-west-2:111122223333:task/prod/real",
        "att-real",
        "eni-real",
        "10.0.9.2",
        "2026-02-01T09:00:10Z",
        None,
        ct("r2", "2026-02-01T09:00:00Z"),
    ))
    .unwrap();
    let forged = |eni: &str, att: &str, ip: &str, proof: Option<&str>| EniFact {
        attachment_id: Some(att.into()),
        ecs_proof: proof.map(str::to_string),
        ips: vec![IpFact { ip: ip.into(), kind: "private".into() }],
        created_at: Some(t("2026-02-01T09:00:05Z")),
        description: Some(format!("arn:aws:ecs:us-west-2:111122223333:attachment/{att}")),
        ..EniFact::bare(
            eni.into(),
            "111122223333".into(),
            "us-west-2".into(),
            ct(&format!("c-{eni}"), "2026-02-01T09:00:05Z"),
        )
    };
    // Made by someone else, claiming either task's attachment.
    r.add_eni(&forged("eni-evil1", "att-pre", "10.0.9.66", None)).unwrap();
    r.add_eni(&forged("eni-evil2", "att-real", "10.0.9.67", None)).unwrap();
    for ip in ["10.0.9.66", "10.0.9.67"] {
        let h = r.whois(ip, None).unwrap();
        assert_eq!(h.len(), 1, "{ip}");
        assert_eq!(h[0].task_arn, None, "{ip} must not be attributed to a task");
        assert_eq!(h[0].certainty, Certainty::Claimed, "{ip}");
    }
    // The real interface still names its task, and the forged one took nothing from it.
    let h = r.whois("10.0.9.2", None).unwrap();
    assert_eq!(h[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/real"));
    // ECS's own CreateNetworkInterface for the PRECREATED attachment: that one is the task's.
    r.add_eni(&forged("eni-pre", "att-pre", "10.0.9.3", Some("cloudtrail:ecs.amazonaws.com"))).unwrap();
    let h = r.whois("10.0.9.3", None).unwrap();
    assert_eq!(h[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/pre"));
    assert_eq!(h[0].certainty, Certainty::Inferred);
    assert_eq!(r.whois("10.0.9.66", None).unwrap()[0].task_arn, None, "still not the forger's");
}

#[test]
fn bridge_mode_tasks_hold_their_host_address() {
    let mut r = Register::in_memory().unwrap();
    let sync = Provenance { kind: SourceKind::Sync, id: "s1".into(), at_ns: t("2026-03-01T12:00:00Z") };
    r.add_container_instance(&ContainerInstanceFact {
        container_instance_arn: "arn:aws:ecs:us-west-2:111122223333:container-instance/prod/ci1".into(),
        cluster_arn: "arn:aws:ecs:us-west-2:111122223333:cluster/prod".into(),
        ec2_instance_id: Some("i-0abc".into()),
        ips: vec![IpFact { ip: "10.1.1.1".into(), kind: "private".into() }],
        account_id: "111122223333".into(),
        region: "us-west-2".into(),
        source: sync.clone(),
    })
    .unwrap();
    for (arn, mode) in [("arn:td/bridge:1", "bridge"), ("arn:td/awsvpc:1", "awsvpc")] {
        r.add_task_definition(&TaskDefinitionFact {
            task_definition_arn: arn.into(),
            family: None,
            revision: Some(1),
            network_mode: Some(mode.into()),
            containers: vec![ContainerDefinitionFact {
                name: "app".into(),
                image: Some("app:1".into()),
                command: vec!["serve".into()],
                entry_point: vec![],
            }],
            account_id: "111122223333".into(),
            region: "us-west-2".into(),
            source: sync.clone(),
        })
        .unwrap();
    }
    for (id, td) in [("t1", "arn:td/bridge:1"), ("t2", "arn:td/awsvpc:1")] {
        let mut f = task(
            &format!("arn:aws:ecs:us-west-2:111122223333:task/prod/{id}"),
            &format!("att-{id}"),
            "x",
            "x",
            "2026-03-01T10:00:00Z",
            None,
            sync.clone(),
        );
        f.attachments.clear();
        f.launch_type = Some("EC2".into());
        f.task_definition_arn = Some(td.into());
        f.container_instance_arn = Some("arn:aws:ecs:us-west-2:111122223333:container-instance/prod/ci1".into());
        r.add_task(&f).unwrap();
    }
    let h = r.whois("10.1.1.1", Some(t("2026-03-01T11:00:00Z"))).unwrap();
    assert_eq!(h.len(), 1, "only the bridge mode task uses the host's address");
    assert_eq!(h[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/t1"));
    assert_eq!(h[0].ec2_instance_id.as_deref(), Some("i-0abc"));
    assert_eq!(h[0].network_mode.as_deref(), Some("bridge"));
    assert_eq!(h[0].definition[0].command, ["serve"]);
    assert!(r.whois("10.1.1.1", Some(t("2026-03-01T09:00:00Z"))).unwrap().is_empty());
}

#[test]
fn the_file_keeps_its_history_across_opens() {
    let dir = std::env::temp_dir().join(format!("curtain-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("register.db");
    {
        let mut r = Register::open(&path).unwrap();
        let a = running_a();
        r.add_task(&a).unwrap();
    }
    let r = Register::open(&path).unwrap();
    assert_eq!(r.whois("10.0.0.7", None).unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An EC2 instance's states are spells: sightings in one state widen it, another state starts
/// the next, and a sighting that arrives late (an older sync file, a CloudTrail record ingested
/// after) falls in its place without undoing the newer ones. The instance's own interface names
/// it with its Name tag.
#[test]
fn instance_states_are_spells_whatever_order_they_arrive_in() {
    let mut r = Register::in_memory().unwrap();
    r.add_eni(&EniFact {
        ips: vec![IpFact { ip: "10.0.9.9".into(), kind: "private".into() }],
        description: Some("Primary network interface".into()),
        interface_type: Some("interface".into()),
        instance_id: Some("i-0abc".into()),
        ..EniFact::bare(
            "eni-i".into(),
            "111122223333".into(),
            "us-west-2".into(),
            Provenance { kind: SourceKind::Sync, id: "sync".into(), at_ns: t("2026-03-01T10:00:00Z") },
        )
    })
    .unwrap();
    let seen = |r: &mut Register, state: &str, at: &str, name: Option<&str>| {
        r.add_instance(&InstanceFact {
            instance_id: "i-0abc".into(),
            account_id: "111122223333".into(),
            region: "us-west-2".into(),
            name: name.map(str::to_string),
            state: Some(state.into()),
            instance_type: Some("m5.large".into()),
            launched_at: Some(t("2026-03-01T09:00:00Z")),
            source: Provenance { kind: SourceKind::Sync, id: format!("sync-{at}"), at_ns: t(at) },
        })
        .unwrap()
    };
    seen(&mut r, "running", "2026-03-01T10:00:00Z", Some("web-1"));
    seen(&mut r, "running", "2026-03-01T11:00:00Z", Some("web-1"));
    seen(&mut r, "stopped", "2026-03-01T13:00:00Z", Some("web-1-renamed"));
    // Late: a sync of 12:00 read after the one of 13:00, and an older name.
    seen(&mut r, "running", "2026-03-01T12:00:00Z", Some("web-1"));
    seen(&mut r, "stopped", "2026-03-01T12:30:00Z", None);
    r.end_instance(
        "i-0abc",
        t("2026-03-01T14:00:00Z"),
        &Provenance { kind: SourceKind::CloudTrail, id: "term".into(), at_ns: t("2026-03-01T14:00:00Z") },
    )
    .unwrap();
    let h = r.whois("10.0.9.9", None).unwrap();
    let o = h[0].owner.as_ref().unwrap();
    assert_eq!(o.kind, "ec2-instance");
    assert_eq!(o.id.as_deref(), Some("i-0abc"));
    assert_eq!(o.name.as_deref(), Some("web-1-renamed"), "the newest name");
    assert_eq!(o.instance_type.as_deref(), Some("m5.large"));
    assert_eq!(o.launched_at.as_deref(), Some("2026-03-01T09:00:00.000000000Z"));
    let spells: Vec<(&str, &str, &str)> =
        o.states.iter().map(|s| (s.state.as_str(), &s.first_seen[11..16], &s.last_seen[11..16])).collect();
    assert_eq!(
        spells,
        [("running", "10:00", "12:00"), ("stopped", "12:30", "13:00"), ("terminated", "14:00", "14:00")]
    );
}

/// An Elastic IP associated with a task's interface by its address (EC2-Classic's form) holds
/// for the association only; one whose address or interface is unknown records nothing, and an
/// association never heard of ends nothing. An address with no spell is held as before.
#[test]
fn an_association_is_a_spell_of_the_address_on_the_interface() {
    let mut r = Register::in_memory().unwrap();
    r.add_task(&running_a()).unwrap();
    let assoc = |ip: Option<&str>, eni: Option<&str>, instance: Option<&str>, at: &str| AddressAssociation {
        association_id: Some("eipassoc-1".into()),
        allocation_id: None,
        public_ip: ip.map(str::to_string),
        eni_id: eni.map(str::to_string),
        instance_id: instance.map(str::to_string),
        account_id: "111122223333".into(),
        region: "us-west-2".into(),
        source: Provenance { kind: SourceKind::CloudTrail, id: format!("assoc {at}"), at_ns: t(at) },
    };
    assert!(!r.associate_address(&assoc(None, Some("eni-a"), None, "2026-01-01T10:30:00Z")).unwrap(), "no address");
    assert!(!r
        .associate_address(&assoc(Some("198.51.100.1"), None, Some("i-unknown"), "2026-01-01T10:30:00Z"))
        .unwrap());
    assert!(r.associate_address(&assoc(Some("198.51.100.1"), Some("eni-a"), None, "2026-01-01T10:30:00Z")).unwrap());
    let ct = Provenance { kind: SourceKind::CloudTrail, id: "d".into(), at_ns: t("2026-01-01T11:00:00Z") };
    assert!(!r.disassociate_address("eipassoc-other", t("2026-01-01T11:00:00Z"), &ct).unwrap());
    assert!(r.disassociate_address("eipassoc-1", t("2026-01-01T11:00:00Z"), &ct).unwrap());
    let at = |s: &str| r.whois("198.51.100.1", Some(t(s))).unwrap();
    assert!(at("2026-01-01T10:15:00Z").is_empty(), "before the association");
    let h = at("2026-01-01T10:45:00Z");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/aaa"));
    assert_eq!(h[0].from.as_deref(), Some("2026-01-01T10:30:00.000000000Z"));
    assert_eq!(h[0].to.as_deref(), Some("2026-01-01T11:00:00.000000000Z"));
    assert!(at("2026-01-01T11:30:00Z").is_empty(), "after it");
    // The task's private address is the interface's for its whole life, as before.
    assert_eq!(r.whois("10.0.0.7", Some(t("2026-01-01T10:15:00Z"))).unwrap().len(), 1);
}

/// A Lambda interface serves, at each time, the functions whose VPC configuration then had its
/// subnet and security groups: configurations are spells from CloudTrail and syncs, whatever
/// order they arrive in, ended by the next one or the function's deletion.
#[test]
fn a_lambda_interface_serves_the_functions_configured_for_it_at_the_time() {
    let mut r = Register::in_memory().unwrap();
    r.add_eni(&EniFact {
        ips: vec![IpFact { ip: "10.0.7.7".into(), kind: "private".into() }],
        created_at: Some(t("2026-05-01T08:00:00Z")),
        description: Some("AWS Lambda VPC ENI-orders-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9".into()),
        interface_type: Some("lambda".into()),
        subnet_id: Some("subnet-a".into()),
        security_groups: vec!["sg-2".into(), "sg-1".into()],
        ..EniFact::bare(
            "eni-l".into(),
            "111122223333".into(),
            "eu-west-1".into(),
            Provenance { kind: SourceKind::CloudTrail, id: "cni".into(), at_ns: t("2026-05-01T08:00:00Z") },
        )
    })
    .unwrap();
    let config = |r: &mut Register, f: &str, subnets: &[&str], at: &str, kind: SourceKind| {
        r.add_lambda_config(&LambdaConfigFact {
            function_name: f.into(),
            function_arn: None,
            account_id: "111122223333".into(),
            region: "eu-west-1".into(),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            security_groups: vec!["sg-1".into(), "sg-2".into()],
            deleted: false,
            source: Provenance { kind, id: format!("{f}-{at}"), at_ns: t(at) },
        })
        .unwrap()
    };
    // A sync at 12:00 sees orders and billing in the interface's subnet.
    config(&mut r, "orders", &["subnet-b", "subnet-a"], "2026-05-01T12:00:00Z", SourceKind::Sync);
    config(&mut r, "billing", &["subnet-a"], "2026-05-01T12:00:00Z", SourceKind::Sync);
    // CloudTrail, read later: orders made at 08:00 with the same configuration (its spell
    // starts then), billing moved into the subnet at 11:00 from another (a spell before it), and
    // by its ARN with a qualifier, billing deleted at 13:00; a function of other groups.
    config(&mut r, "orders", &["subnet-a", "subnet-b"], "2026-05-01T08:00:00Z", SourceKind::CloudTrail);
    config(&mut r, "billing", &["subnet-c"], "2026-05-01T09:00:00Z", SourceKind::CloudTrail);
    config(&mut r, "billing", &["subnet-a"], "2026-05-01T11:00:00Z", SourceKind::CloudTrail);
    r.add_lambda_config(&LambdaConfigFact {
        function_name: "arn:aws:lambda:eu-west-1:111122223333:function:billing:$LATEST".into(),
        function_arn: None,
        account_id: "111122223333".into(),
        region: "eu-west-1".into(),
        subnets: vec![],
        security_groups: vec![],
        deleted: true,
        source: Provenance { kind: SourceKind::CloudTrail, id: "del".into(), at_ns: t("2026-05-01T13:00:00Z") },
    })
    .unwrap();
    r.add_lambda_config(&LambdaConfigFact {
        security_groups: vec!["sg-1".into()],
        ..LambdaConfigFact {
            function_name: "other-groups".into(),
            function_arn: None,
            account_id: "111122223333".into(),
            region: "eu-west-1".into(),
            subnets: vec!["subnet-a".into()],
            security_groups: vec![],
            deleted: false,
            source: Provenance { kind: SourceKind::Sync, id: "s".into(), at_ns: t("2026-05-01T12:00:00Z") },
        }
    })
    .unwrap();
    // The same facts again change nothing.
    config(&mut r, "orders", &["subnet-a", "subnet-b"], "2026-05-01T08:00:00Z", SourceKind::CloudTrail);
    let at = |r: &Register, when: &str| {
        let h = r.whois("10.0.7.7", Some(t(when))).unwrap();
        assert_eq!(h.len(), 1, "{when}: {h:?}");
        let o = h[0].owner.clone().unwrap();
        assert_eq!((o.kind.as_str(), o.id.as_deref()), ("lambda", Some("orders")));
        o.functions
    };
    assert_eq!(at(&r, "2026-05-01T10:00:00Z"), ["orders"]);
    assert_eq!(at(&r, "2026-05-01T11:30:00Z"), ["billing", "orders"]);
    assert_eq!(at(&r, "2026-05-01T12:30:00Z"), ["billing", "orders"]);
    assert_eq!(at(&r, "2026-05-01T14:00:00Z"), ["orders"], "billing deleted at 13:00");
    // Over the interface's whole life: each function's spells in its subnet, oldest first.
    let h = r.whois("10.0.7.7", None).unwrap();
    let o = h[0].owner.as_ref().unwrap();
    let spells: Vec<(&str, &str, Option<&str>)> = o
        .function_spells
        .iter()
        .map(|s| (s.function.as_str(), &s.from[11..16], s.to.as_deref().map(|t| &t[11..16])))
        .collect();
    assert_eq!(spells, [("orders", "08:00", None), ("billing", "11:00", Some("13:00"))]);
    assert_eq!(o.functions, ["billing", "orders"]);
    // A sync that lists orders only ends nothing of it; one that lists nothing ends it.
    r.end_unlisted_functions("111122223333", "eu-west-1", &["orders"], t("2026-05-02T00:00:00Z")).unwrap();
    assert_eq!(at(&r, "2026-05-02T01:00:00Z"), ["orders"]);
    r.end_unlisted_functions("111122223333", "eu-west-1", &[], t("2026-05-03T00:00:00Z")).unwrap();
    assert!(at(&r, "2026-05-03T01:00:00Z").is_empty());
}

/// Syncs see an Elastic IP idle, then on an interface, then idle again; CloudTrail has the
/// association and its end between them. Whatever order the two come in, the address is the
/// allocation's, then the interface's for the association, then the allocation's again.
#[test]
fn syncs_and_cloudtrail_make_the_same_elastic_ip_spells_in_either_order() {
    let eip = "203.0.113.9";
    let sync = |at: &str| Provenance { kind: SourceKind::Sync, id: format!("sync {at}"), at_ns: t(at) };
    let trail = |id: &str, at: &str| Provenance { kind: SourceKind::CloudTrail, id: id.into(), at_ns: t(at) };
    let idle = |at: &str| EniFact {
        ips: vec![IpFact { ip: eip.into(), kind: "public".into() }],
        description: Some("Elastic IP eipalloc-1".into()),
        interface_type: Some("elastic-ip".into()),
        ..EniFact::bare("eipalloc-1".into(), "111122223333".into(), "us-west-2".into(), sync(at))
    };
    let interface = |at: &str, public: bool| {
        let mut ips = vec![IpFact { ip: "10.0.0.5".into(), kind: "private".into() }];
        if public {
            ips.push(IpFact { ip: eip.into(), kind: "public".into() });
        }
        EniFact {
            ips,
            description: Some("Primary network interface".into()),
            interface_type: Some("interface".into()),
            instance_id: Some("i-1".into()),
            ..EniFact::bare("eni-a".into(), "111122223333".into(), "us-west-2".into(), sync(at))
        }
    };
    let association = |source: Provenance| AddressAssociation {
        association_id: Some("eipassoc-1".into()),
        allocation_id: Some("eipalloc-1".into()),
        public_ip: None,
        eni_id: Some("eni-a".into()),
        instance_id: None,
        account_id: "111122223333".into(),
        region: "us-west-2".into(),
        source,
    };
    enum Step {
        Sync1,
        Sync2,
        Sync3,
        Associate,
        Disassociate,
    }
    let step = |r: &mut Register, s: &Step| match s {
        Step::Sync1 => {
            r.add_eni(&interface("2026-06-01T10:00:00Z", false)).unwrap();
            r.add_eni(&idle("2026-06-01T10:00:00Z")).unwrap();
        }
        Step::Sync2 => {
            r.add_eni(&interface("2026-06-01T11:00:00Z", true)).unwrap();
            assert!(r
                .observe_association(&AddressAssociation {
                    public_ip: Some(eip.into()),
                    ..association(sync("2026-06-01T11:00:00Z"))
                })
                .unwrap());
        }
        Step::Sync3 => {
            r.add_eni(&interface("2026-06-01T12:00:00Z", false)).unwrap();
            r.add_eni(&idle("2026-06-01T12:00:00Z")).unwrap();
        }
        Step::Associate => {
            assert!(r.associate_address(&association(trail("assoc", "2026-06-01T10:30:00Z"))).unwrap());
        }
        Step::Disassociate => {
            let at = "2026-06-01T11:20:00Z";
            assert!(r.disassociate_address("eipassoc-1", t(at), &trail("disassoc", at)).unwrap());
        }
    };
    use Step::*;
    for (n, order) in [
        vec![Sync1, Associate, Sync2, Disassociate, Sync3],
        vec![Sync1, Sync2, Sync3, Associate, Disassociate],
        vec![Sync1, Sync2, Sync3, Disassociate, Associate],
    ]
    .iter()
    .enumerate()
    {
        let mut r = Register::in_memory().unwrap();
        for s in order {
            step(&mut r, s);
        }
        let holders: Vec<(String, String, Option<String>)> = r
            .whois(eip, None)
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h.eni_id.clone().unwrap(),
                    h.from.clone().unwrap()[11..16].to_string(),
                    h.to.as_ref().map(|t| t[11..16].to_string()),
                )
            })
            .collect();
        let s = |e: &str, f: &str, to: Option<&str>| (e.to_string(), f.to_string(), to.map(str::to_string));
        assert_eq!(
            holders,
            [
                s("eipalloc-1", "10:00", Some("10:30")),
                s("eni-a", "10:30", Some("11:20")),
                s("eipalloc-1", "11:20", None)
            ],
            "order {n}"
        );
    }
}
