//! The collector against a sandbox holding what an attacker leaves behind, seen from inside the
//! sandbox (as in a container) and from the host.

use crate::common::*;
use crate::require_root;
use curtain_model::{FdKind, Label};
use std::path::Path;

fn socket_inode_of(a: &Archive, pid: u32, fd: u32) -> u64 {
    let f = a.fds.iter().find(|f| f.pid == pid && f.fd == fd).unwrap_or_else(|| panic!("no fd {fd} of {pid}"));
    assert_eq!(f.kind, FdKind::Socket, "{f:?}");
    f.socket_inode.expect("socket inode")
}

#[test]
#[ignore = "needs root: namespaces, setpriv, chroot (scripts/test runs it as root)"]
fn inside_the_sandbox() {
    require_root!();
    let sb = Sandbox::start();
    let a = sb.collect_inside("inside.tar.zst", &["--carve-exe=8M"]);
    let sleep_sha = sha256_file(Path::new("/bin/sleep"));

    // A binary deleted while running: flagged from the link count, hashed from memory's file.
    let parent = sb.pid("deleted");
    let deleted = a.processes.iter().find(|p| p.ppid == Some(parent)).expect("the deleted binary's process");
    let exe = deleted.exe.as_ref().expect("exe");
    assert_eq!(exe.deleted, Some(true));
    assert!(!exe.memfd);
    assert_eq!(exe.sha256.as_deref(), Some(sleep_sha.as_str()));
    assert!(exe.path.to_lossy().ends_with("lab-deleted (deleted)"), "{:?}", exe.path);
    // --carve-exe kept its bytes.
    let carved = exe.carved.as_ref().expect("carved");
    assert_eq!(a.members[carved], std::fs::read("/bin/sleep").unwrap());

    // Fileless: run from a memfd.
    let m = a.process(sb.pid("memfd"));
    let exe = m.exe.as_ref().expect("memfd exe");
    assert!(exe.memfd);
    assert!(exe.path.to_lossy().starts_with("/memfd:lab-payload"));
    assert_eq!(exe.sha256.as_deref(), Some(sleep_sha.as_str()));

    // The reverse shell: fds 0, 1 and 2 are one TCP socket to the listener, joined to all three.
    let sh = a.process(sb.pid("revshell"));
    assert_eq!(sh.comm_bytes(), b"sh");
    let inode = socket_inode_of(&a, sh.pid, 0);
    assert_eq!(socket_inode_of(&a, sh.pid, 1), inode);
    assert_eq!(socket_inode_of(&a, sh.pid, 2), inode);
    let s = a.socket(inode);
    assert_eq!(s.state, "ESTABLISHED");
    assert_eq!(s.remote.as_ref().map(|r| (r.ip.as_str(), r.port)), Some(("127.0.0.1", 4444)));
    let owners: Vec<(u32, u32)> = s.owners.iter().map(|o| (o.pid, o.fd)).collect();
    assert_eq!(owners, [(sh.pid, 0), (sh.pid, 1), (sh.pid, 2)]);
    assert!(s.owner_visible);

    // Listeners and connections of the sandbox's own network namespace.
    let listener = a.process(sb.pid("listener"));
    let l = a.socket(socket_inode_of(&a, listener.pid, 3));
    assert_eq!((l.state.as_str(), l.local.as_ref().unwrap().port), ("LISTEN", 4444));
    let l6 = a.socket(socket_inode_of(&a, sb.pid("listener6"), 3));
    assert_eq!(l6.local.as_ref().unwrap().ip, "::1");
    let mapped = a.socket(socket_inode_of(&a, sb.pid("dualstack"), 4));
    assert_eq!(mapped.local.as_ref().unwrap().ip, "::ffff:127.0.0.1");
    assert_eq!(mapped.state, "ESTABLISHED");
    let udp = a.socket(socket_inode_of(&a, sb.pid("udp"), 3));
    assert_eq!((udp.state.as_str(), udp.local.as_ref().unwrap().port), ("UNCONN", 5353));
    let unix = a.socket(socket_inode_of(&a, sb.pid("unix"), 3));
    assert_eq!(unix.state, "LISTEN");
    assert!(unix.path.as_ref().unwrap().to_lossy().ends_with("lab.sock"));
    // The tables came through netlink sock_diag (root may enter the namespace), kept as evidence,
    // TCP of both families in one dump; raw sockets through /proc.
    let netns_id = a.process(sb.pid("revshell")).ns.net.unwrap();
    for t in ["tcp46", "udp", "udp6", "unix"] {
        assert!(a.members.contains_key(&format!("raw/netlink/{netns_id}/{t}")), "{t} through netlink");
    }
    for t in ["tcp", "tcp6"] {
        assert!(!a.members.contains_key(&format!("raw/netlink/{netns_id}/{t}")), "{t} is in tcp46");
    }
    assert!(a.order.iter().any(|m| m.ends_with("/net/raw")));
    // One network namespace inside, and every socket of it is the sandbox's.
    assert_eq!(a.manifest.counts.netns, 1);
    let netns = sh.ns.net.expect("netns");
    assert!(a.sockets.iter().all(|s| s.netns == netns));

    // Hostile names, byte-exact.
    assert_eq!(a.process(sb.pid("oddcomm")).comm_bytes(), b"x) Z 1 1 1 (");
    assert_eq!(a.process(sb.pid("newlinecomm")).comm_bytes(), b"a\nb\xff");

    // The collector labelled itself; the sandbox's init is PID 1 with no label.
    let me: Vec<_> = a.processes.iter().filter(|p| p.label == Some(Label::SelfCollector)).collect();
    assert_eq!(me.len(), 1);
    assert_eq!(a.process(1).label, None);
    assert_eq!(a.process(1).ppid, Some(0));
}

#[test]
#[ignore = "needs root: namespaces, setpriv, chroot (scripts/test runs it as root)"]
fn from_the_host() {
    require_root!();
    let sb = Sandbox::start();
    let out = sb.dir.path().join("host.tar");
    let a = collect(&out, &["--no-environ"]);
    // Find the sandbox's processes by their nested pids: NSpid is [host pid, sandbox pid].
    let host_pid = |inner: u32| -> u32 {
        let init_ns = a.process(sb.init).ns.pid;
        a.processes
            .iter()
            .find(|p| p.nspid.len() == 2 && p.nspid[1] == inner && p.ns.pid == init_ns)
            .map(|p| p.pid)
            .unwrap_or_else(|| panic!("sandbox pid {inner} not seen from the host"))
    };
    assert_eq!(host_pid(1), sb.init);
    let sh = a.process(host_pid(sb.pid("revshell")));
    let host_netns = a.processes.iter().find(|p| p.label == Some(Label::SelfCollector)).unwrap().ns.net;
    let sandbox_netns = sh.ns.net;
    assert_ne!(host_netns, sandbox_netns, "the sandbox has its own network namespace");
    assert!(a.manifest.counts.netns >= 2);
    // The shell's socket is listed in the sandbox's table and joined to host pids.
    let inode = socket_inode_of(&a, sh.pid, 0);
    let s = a.socket(inode);
    assert_eq!(Some(s.netns), sandbox_netns);
    assert_eq!(s.owners.len(), 3);
    assert!(s.owners.iter().all(|o| o.pid == sh.pid));
    // The sandbox's listener on 127.0.0.1:4444 is in its namespace, not the host's.
    let l = a.socket(socket_inode_of(&a, host_pid(sb.pid("listener")), 3));
    assert_eq!(Some(l.netns), sandbox_netns);
    // --no-environ: no environment anywhere, and no environ member.
    assert!(a.processes.iter().all(|p| p.environ.is_none()));
    assert!(!a.order.iter().any(|m| m.ends_with("/environ")));
    // The deleted binary from the host too.
    let parent = host_pid(sb.pid("deleted"));
    let d = a.processes.iter().find(|p| p.ppid == Some(parent)).expect("deleted child");
    assert_eq!(d.exe.as_ref().unwrap().deleted, Some(true));
}
