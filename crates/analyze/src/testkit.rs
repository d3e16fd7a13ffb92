//! Builders of small snapshots for the detectors' tests.

#![allow(dead_code)]

use curtain_model::*;

pub fn process(pid: u32, ppid: u32, comm: &str, exe: &str) -> Process {
    Process {
        pid,
        ppid: Some(ppid),
        starttime_ticks: Some(1000 + pid as u64),
        started_at: Some(format_rfc3339_ns(1_800_000_000_000_000_000 + pid as u64 * 1_000_000_000)),
        comm: Some(comm.into()),
        state: Some("S".into()),
        uid: Some(0),
        euid: Some(0),
        cmdline: Some(vec![exe.into()]),
        environ: Some(vec![]),
        exe: Some(Exe { path: exe.into(), deleted: Some(false), ..Default::default() }),
        ns: Namespaces { pid: Some(4026531836), net: Some(4026531840), mnt: Some(4026531841), ..Default::default() },
        nspid: vec![pid],
        ..Default::default()
    }
}

/// Starts `secs` seconds after the epoch of the kit's clock (ticks at 100 Hz).
pub fn started(mut p: Process, secs: u64) -> Process {
    p.starttime_ticks = Some(secs * 100);
    p.started_at = Some(format_rfc3339_ns(1_800_000_000_000_000_000 + secs * 1_000_000_000));
    p
}

pub fn with_args(mut p: Process, args: &[&str]) -> Process {
    p.cmdline = Some(args.iter().map(|a| ByteString::from(*a)).collect());
    p
}

pub fn socket_fd(pid: u32, fd: u32, inode: u64) -> Fd {
    Fd { pid, fd, target: format!("socket:[{inode}]").as_str().into(), kind: FdKind::Socket, socket_inode: Some(inode) }
}

pub fn tcp(inode: u64, local: (&str, u16), remote: (&str, u16), state: &str, owners: &[(u32, u32)]) -> Socket {
    Socket {
        netns: 4026531840,
        proto: if local.0.contains(':') { Proto::Tcp6 } else { Proto::Tcp },
        local: Some(Endpoint { ip: local.0.into(), port: local.1 }),
        remote: Some(Endpoint { ip: remote.0.into(), port: remote.1 }),
        state: state.into(),
        uid: Some(0),
        inode,
        tx_queue: Some(0),
        rx_queue: Some(0),
        path: None,
        socket_type: None,
        owners: owners.iter().map(|&(pid, fd)| Owner { pid, fd }).collect(),
        owner_visible: !owners.is_empty(),
    }
}

pub fn snapshot(processes: Vec<Process>, fds: Vec<Fd>, sockets: Vec<Socket>) -> Snapshot {
    Snapshot {
        source: "test.tar".into(),
        manifest: Manifest {
            clock: Clock {
                realtime_start_ns: 1_800_010_000_000_000_000,
                realtime_end_ns: 1_800_010_001_000_000_000,
                boottime_start_ns: 10_000_000_000_000,
                clk_tck: 100,
                ..Default::default()
            },
            ..Default::default()
        },
        processes,
        fds,
        sockets,
        ..Default::default()
    }
}

/// Runs one built-in detector, by id, over a snapshot.
pub fn check(id: &str, s: &Snapshot) -> Vec<Finding> {
    check_with(crate::rules::builtin(), id, s)
}

/// Runs one detector of `rules`, by id, over a snapshot.
pub fn check_with(rules: &crate::rules::Rules, id: &str, s: &Snapshot) -> Vec<Finding> {
    let ix = crate::Index::new(s);
    rules.get(id).unwrap_or_else(|| panic!("no rule {id}")).run(rules, &ix)
}

/// The built-in rules with more rule files (name, text) merged over them.
pub fn rules_with(files: &[(&str, &str)]) -> Result<crate::rules::Rules, crate::rules::RuleError> {
    let files: Vec<(String, String)> = files.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    crate::rules::Rules::builtin().merged(&files)
}

pub const HOST_MNT: u64 = 4026531841;
pub const HOST_NET: u64 = 4026531840;
pub const CONTAINER_MNT: u64 = 4026532201;
pub const CONTAINER_NET: u64 = 4026532202;
pub const CONTAINER_ID: &str = "2a3bb61285714a653c791656d7f7a81a7825db5d0eed0bd248ec96ae565285b1";

/// Places a process in the docker container `id` (its cgroup) with its own namespaces.
pub fn in_container(mut p: Process, id: &str) -> Process {
    p.cgroup = Some(vec![CgroupEntry {
        hierarchy: 0,
        controllers: String::new(),
        path: format!("/docker/{id}").as_str().into(),
    }]);
    p.ns.pid = Some(4026532200);
    p.ns.mnt = Some(CONTAINER_MNT);
    p.ns.net = Some(CONTAINER_NET);
    p
}

/// A host (kthreadd, systemd, containerd-shim) with one docker container `web` (pids 200, its
/// init, and 201), and the container's row.
pub fn host_with_container() -> (Snapshot, String) {
    let mut kthreadd = process(2, 0, "kthreadd", "");
    kthreadd.kernel_thread = true;
    kthreadd.exe = None;
    kthreadd.cmdline = Some(vec![]);
    let mut init = in_container(started(process(200, 150, "sh", "/bin/sh"), 100), CONTAINER_ID);
    init.nspid = vec![200, 1];
    let mut sleep = in_container(started(process(201, 200, "sleep", "/bin/sleep"), 101), CONTAINER_ID);
    sleep.nspid = vec![201, 7];
    let mut s = snapshot(
        vec![
            process(1, 0, "systemd", "/usr/lib/systemd/systemd"),
            kthreadd,
            process(150, 1, "containerd-shim", "/usr/bin/containerd-shim-runc-v2"),
            init,
            sleep,
        ],
        vec![],
        vec![],
    );
    s.containers = vec![ContainerRow {
        runtime: "docker".into(),
        id: CONTAINER_ID.into(),
        pids: vec![200, 201],
        name: Some("web".into()),
        image: Some("app:1".into()),
        ..Default::default()
    }];
    (s, CONTAINER_ID.to_string())
}
