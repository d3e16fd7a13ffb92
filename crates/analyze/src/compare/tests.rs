//! Replicas built with the test kit: alike but for what differs by nature, then with one
//! thing added to a minority or a majority of them.

use super::*;
use crate::testkit::*;
use curtain_model::{EcsIdentity, Label, MapKind, Mapping, Proto, Snapshot};

const NODE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const X: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

fn hashed(mut p: curtain_model::Process, sha: &str) -> curtain_model::Process {
    p.exe.as_mut().unwrap().sha256 = Some(sha.into());
    p
}

fn ecs(family: Option<&str>, container: &str, digest: Option<&str>) -> EcsIdentity {
    EcsIdentity {
        family: family.map(Into::into),
        container_name: Some(container.into()),
        image_digest: digest.map(Into::into),
        ..Default::default()
    }
}

fn mapping(pid: u32, path: &str, kind: MapKind) -> Mapping {
    Mapping {
        pid,
        start: "7f0000000000".into(),
        end: "7f0000001000".into(),
        perms: "r-xp".into(),
        offset: 0,
        dev: "00:01".into(),
        inode: 4242,
        path: Some(path.into()),
        kind,
    }
}

/// Replica `i` of one service: its pids, ephemeral ports, ids, temp names and addresses its own.
fn replica(i: u32) -> Snapshot {
    let (app, worker, me) = (1, 40 + i * 13, 900 + i * 7);
    let addr = format!("10.0.{i}.{}", 20 + i);
    let rand = ["aB3dE9fGhQ", "Zq81LmNoPw", "Kk20xYzWvU", "pQ7rS5tUvW", "Mn4bV6cX8z"][i as usize % 5];
    let mut collector = process(me, app, "curtain", "/tmp/curtain");
    collector.label = Some(Label::SelfCollector);
    let procs = vec![
        with_args(
            hashed(process(app, 0, "node", "/usr/local/bin/node"), NODE),
            &["node", "server.js", "--port", "8080", "--instance", &format!("{:08x}", 0x5eed_0000 + i * 977)],
        ),
        with_args(
            hashed(process(worker, app, "node", "/usr/local/bin/node"), NODE),
            &["node", "worker.js", "--parent", &app.to_string(), "--id", &(i * 3).to_string(), "--bind", &addr],
        ),
        collector,
    ];
    let fds = vec![socket_fd(app, 20, 1), socket_fd(app, 21, 2), socket_fd(worker, 22, 3), socket_fd(me, 3, 4)];
    let eph = 40000 + i as u16 * 1111;
    let mut udp_client = tcp(5, (&addr, eph + 7), ("0.0.0.0", 0), "UNCONN", &[(worker, 23)]);
    udp_client.proto = Proto::Udp;
    let sockets = vec![
        tcp(1, ("0.0.0.0", 8080), ("0.0.0.0", 0), "LISTEN", &[(app, 20)]),
        // A health check of the load balancer: its address and port differ on every replica.
        tcp(2, (&addr, 8080), (&format!("10.0.200.{i}"), eph + 1), "ESTABLISHED", &[(app, 21)]),
        tcp(3, (&addr, eph + 2), ("10.0.0.9", 5432), "ESTABLISHED", &[(worker, 22)]),
        // The collector asks the task metadata endpoint: on some replicas only.
        tcp(4, (&addr, eph + 3), ("169.254.170.2", 80 + i as u16 % 2), "ESTABLISHED", &[(me, 3)]),
        udp_client,
    ];
    let mut s = snapshot(procs, fds, sockets);
    s.maps = vec![mapping(worker, &format!("/dev/shm/tmp.{rand} (deleted)"), MapKind::Deleted)];
    s.manifest.ecs = Some(ecs(Some("web"), "app", Some("sha256:abc")));
    s.source = format!("r{i}.tar");
    if i == 2 {
        // The responder's shell, on one replica only.
        let mut sh = process(777, app, "sh", "/bin/sh");
        sh.label = Some(Label::Responder);
        s.processes.push(sh);
    }
    s
}

/// The odd one: `/tmp/x` with a connection out to 203.0.113.9:4444.
fn infect(s: &mut Snapshot) {
    s.processes.push(with_args(hashed(process(666, 1, "x", "/tmp/x"), X), &["/tmp/x"]));
    s.fds.push(socket_fd(666, 3, 66));
    s.sockets.push(tcp(66, ("10.0.3.23", 41000), ("203.0.113.9", 4444), "ESTABLISHED", &[(666, 3)]));
}

fn run(snaps: &[Snapshot]) -> Comparison {
    let ixs: Vec<Index> = snaps.iter().map(Index::new).collect();
    let named: Vec<(&str, &Index)> = snaps.iter().zip(&ixs).map(|(s, ix)| (s.source.as_str(), ix)).collect();
    compare(&named)
}

fn kinds_values(o: &[Outlier]) -> Vec<(FeatureKind, &str)> {
    o.iter().map(|o| (o.kind, o.value.as_str())).collect()
}

#[test]
fn the_replica_with_an_extra_process_and_its_connection_stands_out() {
    let mut snaps: Vec<Snapshot> = (0..5).map(replica).collect();
    infect(&mut snaps[3]);
    let c = run(&snaps);
    assert_eq!(c.groups.len(), 1);
    let g = &c.groups[0];
    assert_eq!(g.key, "ecs:web/app");
    assert_eq!(g.archives, ["r0.tar", "r1.tar", "r2.tar", "r3.tar", "r4.tar"]);
    assert!(!g.two_only && g.differences.is_empty());
    assert!(g.outliers.iter().all(|o| o.archive == "r3.tar" && o.shared_by == 1 && o.of == 5), "{:#?}", g.outliers);
    let exe = format!("/tmp/x sha256:{X}");
    assert_eq!(
        kinds_values(&g.outliers),
        [
            (FeatureKind::Exe, exe.as_str()),
            (FeatureKind::Process, "x"),
            (FeatureKind::Cmdline, "/tmp/x"),
            (FeatureKind::Peer, "203.0.113.9:4444"),
            (FeatureKind::RemotePort, "tcp/4444"),
        ]
    );
    assert!(g.outliers.iter().all(|o| o.processes == [SeenIn { pid: 666, comm: "x".into() }]));
    assert_eq!(c.outliers, 5);
    assert!(c.has_outliers());
    assert!(c.ungrouped.is_empty());
}

#[test]
fn replicas_that_differ_only_by_nature_have_no_outliers() {
    let snaps: Vec<Snapshot> = (0..5).map(replica).collect();
    let c = run(&snaps);
    assert_eq!(c.groups.len(), 1);
    assert!(c.groups[0].outliers.is_empty(), "{:#?}", c.groups[0].outliers);
    assert_eq!(c.outliers, 0);
    assert!(!c.has_outliers());
}

#[test]
fn two_archives_only_differ() {
    let mut snaps = vec![replica(0), replica(1)];
    let c = run(&snaps);
    assert!(c.groups[0].two_only && c.groups[0].differences.is_empty() && !c.has_outliers());

    infect(&mut snaps[1]);
    let c = run(&snaps);
    let g = &c.groups[0];
    assert!(g.two_only);
    assert!(g.outliers.is_empty(), "two archives have no majority: no outliers");
    assert_eq!(c.outliers, 0);
    assert!(c.has_outliers(), "a difference is something that stands out");
    assert!(g.differences.iter().all(|d| d.archive == "r1.tar"));
    let got: Vec<(FeatureKind, &str)> = g.differences.iter().map(|d| (d.kind, d.value.as_str())).collect();
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(got.contains(&(FeatureKind::Peer, "203.0.113.9:4444")) && got.contains(&(FeatureKind::Process, "x")));
}

/// One of each kind: a process `cron` running `/usr/sbin/cron` as uid 33, listening on 9100,
/// talking to 198.51.100.7:443 and mapping a memfd.
fn add_each_kind(s: &mut Snapshot) {
    let mut cron = with_args(hashed(process(500, 1, "cron", "/usr/sbin/cron"), X), &["cron", "-f"]);
    cron.uid = Some(33);
    cron.euid = Some(33);
    s.processes.push(cron);
    s.fds.extend([socket_fd(500, 4, 50), socket_fd(500, 5, 51)]);
    s.sockets.push(tcp(50, ("0.0.0.0", 9100), ("0.0.0.0", 0), "LISTEN", &[(500, 4)]));
    s.sockets.push(tcp(51, ("10.0.0.1", 45000), ("198.51.100.7", 443), "ESTABLISHED", &[(500, 5)]));
    s.maps.push(mapping(500, "/memfd:jit (deleted)", MapKind::Memfd));
}

#[test]
fn what_a_majority_has_is_no_outlier_what_a_minority_has_is() {
    let all_kinds = [
        FeatureKind::Exe,
        FeatureKind::Process,
        FeatureKind::Cmdline,
        FeatureKind::User,
        FeatureKind::Listen,
        FeatureKind::Peer,
        FeatureKind::RemotePort,
        FeatureKind::Mapped,
    ];
    let mut snaps: Vec<Snapshot> = (0..5).map(replica).collect();
    for s in &mut snaps[..3] {
        add_each_kind(s);
    }
    let c = run(&snaps);
    assert!(c.groups[0].outliers.is_empty(), "3 of 5: {:#?}", c.groups[0].outliers);

    let mut snaps: Vec<Snapshot> = (0..5).map(replica).collect();
    for s in &mut snaps[1..3] {
        add_each_kind(s);
    }
    let c = run(&snaps);
    let o = &c.groups[0].outliers;
    assert!(o.iter().all(|o| o.shared_by == 2 && o.of == 5));
    let got: Vec<FeatureKind> = o.iter().filter(|o| o.archive == "r1.tar").map(|o| o.kind).collect();
    assert_eq!(got, all_kinds, "2 of 5: every kind");
    assert_eq!(o.len(), 2 * all_kinds.len());
    assert_eq!(kinds_values(o)[3], (FeatureKind::User, "33"));
    assert_eq!(kinds_values(o)[4], (FeatureKind::Listen, "tcp/9100"));
    assert_eq!(kinds_values(o)[7], (FeatureKind::Mapped, "/memfd:jit (deleted)"));

    // Half is not a minority.
    let mut snaps: Vec<Snapshot> = (0..4).map(replica).collect();
    for s in &mut snaps[..2] {
        add_each_kind(s);
    }
    assert!(!run(&snaps).has_outliers());
}

#[test]
fn fewest_sharing_first() {
    let mut snaps: Vec<Snapshot> = (0..5).map(replica).collect();
    for s in &mut snaps[3..] {
        add_each_kind(s);
    }
    infect(&mut snaps[4]);
    let o = &run(&snaps).groups[0].outliers;
    let order: Vec<(usize, &str)> = o.iter().map(|o| (o.shared_by, o.archive.as_str())).collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    assert_eq!(order[0], (1, "r4.tar"));
}

#[test]
fn grouped_by_family_then_image_the_rest_left_out() {
    let mut snaps: Vec<Snapshot> = (0..7).map(replica).collect();
    // Three of web/app (0-2); one api/app with the image of two that have no family (3-5); one
    // alone in its family with another image (6); one with no identity at all.
    snaps[3].manifest.ecs = Some(ecs(Some("api"), "app", Some("sha256:def")));
    snaps[4].manifest.ecs = Some(ecs(None, "app", Some("sha256:def")));
    snaps[5].manifest.ecs = Some(ecs(None, "other", Some("sha256:def")));
    snaps[6].manifest.ecs = Some(ecs(Some("batch"), "job", Some("sha256:0123")));
    let mut bare = replica(7);
    bare.manifest.ecs = None;
    snaps.push(bare);
    let c = run(&snaps);
    let groups: Vec<(&str, Vec<&str>)> =
        c.groups.iter().map(|g| (g.key.as_str(), g.archives.iter().map(String::as_str).collect())).collect();
    assert_eq!(
        groups,
        [("ecs:web/app", vec!["r0.tar", "r1.tar", "r2.tar"]), ("image:sha256:def", vec!["r3.tar", "r4.tar", "r5.tar"])]
    );
    assert_eq!(
        c.ungrouped,
        [
            Ungrouped { archive: "r6.tar".into(), key: Some("ecs:batch/job".into()) },
            Ungrouped { archive: "r7.tar".into(), key: None },
        ]
    );

    let ixs: Vec<Index> = snaps.iter().map(Index::new).collect();
    let named: Vec<(&str, &Index)> = snaps.iter().zip(&ixs).map(|(s, ix)| (s.source.as_str(), ix)).collect();
    let one = compare_as_one_group(&named);
    assert_eq!(one.groups.len(), 1);
    assert_eq!((one.groups[0].key.as_str(), one.groups[0].archives.len()), ("all", 8));
    assert!(one.ungrouped.is_empty());
    assert_eq!(compare_as_one_group(&named[..1]).ungrouped.len(), 1);
}

#[test]
fn the_json_shape() {
    let mut snaps: Vec<Snapshot> = (0..3).map(replica).collect();
    infect(&mut snaps[0]);
    let v = serde_json::to_value(run(&snaps)).unwrap();
    let g = &v["groups"][0];
    assert_eq!(g["key"], "ecs:web/app");
    assert_eq!(g["two_only"], false);
    assert_eq!(g["differences"], serde_json::json!([]));
    let o = &g["outliers"][3];
    assert_eq!(
        o,
        &serde_json::json!({
            "archive": "r0.tar", "kind": "peer", "value": "203.0.113.9:4444", "shared_by": 1, "of": 3,
            "processes": [{"pid": 666, "comm": "x"}]
        })
    );
    assert_eq!(g["outliers"][4]["kind"], "remote-port");
    assert_eq!(v["outliers"], 5);
    assert_eq!(v["ungrouped"], serde_json::json!([]));
}
