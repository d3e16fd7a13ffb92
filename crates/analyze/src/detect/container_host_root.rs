//! A container's process whose root is the host's: in the host's mount namespace, or with the
//! host's root file system mounted as its own `/`.

use super::*;

pub(crate) const ENGINE: Engine = Engine { kind: "container-host-root", run, lists: &[], needs_lists: false };

/// The mount at `/` of a mount namespace: (device, root directory within it).
fn root_mount(ix: &Index, mnt_ns: u64) -> Option<(String, Vec<u8>)> {
    ix.snap
        .mounts
        .iter()
        .rev()
        .find(|m| m.mnt_ns == mnt_ns && m.mount_point.0 == b"/")
        .map(|m| (m.major_minor.clone(), m.root.0.clone()))
}

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    let Some(host_mnt) = ix.host_ns().and_then(|ns| ns.mnt) else { return Vec::new() };
    let host_root = root_mount(ix, host_mnt);
    let mut out = Vec::new();
    for p in candidates(ix) {
        let Some(c) = ix.container_of(p.pid).filter(|c| c.runtime != crate::container::Runtime::Host && c.id.is_some())
        else {
            continue;
        };
        let Some(mnt) = p.ns.mnt else { continue };
        // Its root link names the root of its own namespace ("/") unless it chroot'ed further.
        if p.root.as_ref().is_some_and(|r| r.0 != b"/") {
            continue;
        }
        let why = if mnt == host_mnt {
            "is in the host's mount namespace"
        } else if host_root.is_some() && root_mount(ix, mnt) == host_root {
            "has the host's root file system mounted as its /"
        } else {
            continue;
        };
        let summary = format!(
            "pid {} ({}) of container {} {why}; command line: {}",
            p.pid,
            short(p.comm_bytes(), 32),
            c.display(),
            cmdline(p)
        );
        out.push(finding(d, p, d.severity, summary, vec![ev_process(p), ev_link(p, "root")]));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;
    use curtain_model::Mount;

    fn root_mount(ns: u64, dev: &str, root: &str) -> Mount {
        Mount {
            mnt_ns: ns,
            pid: 1,
            mount_id: 1,
            parent_id: 0,
            major_minor: dev.into(),
            root: root.into(),
            mount_point: "/".into(),
            options: "rw".into(),
            optional: vec![],
            fs_type: "ext4".into(),
            source: "/dev/sda1".into(),
            super_options: "rw".into(),
        }
    }

    #[test]
    fn fires_on_a_container_process_in_the_hosts_root() {
        let (mut s, _) = host_with_container();
        s.mounts = vec![root_mount(HOST_MNT, "8:1", "/"), root_mount(CONTAINER_MNT, "8:1", "/")];
        let f = check("container-host-root", &s);
        assert_eq!(f.len(), 2, "both processes of the container: {f:?}");
        assert!(f[0].summary.contains("host's root file system"));
        // In the host's mount namespace itself.
        let (mut s, _) = host_with_container();
        s.processes.iter_mut().find(|p| p.pid == 201).unwrap().ns.mnt = Some(HOST_MNT);
        let f = check("container-host-root", &s);
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("host's mount namespace"));
    }

    #[test]
    fn an_image_root_on_the_hosts_disk_does_not_fire() {
        // The vfs or overlay driver: the container's / is a directory of the host's disk, not its
        // root; and a container that merely mounts the host's root elsewhere.
        let (mut s, _) = host_with_container();
        s.mounts = vec![
            root_mount(HOST_MNT, "8:1", "/"),
            root_mount(CONTAINER_MNT, "8:1", "/var/lib/docker/vfs/dir/abc"),
            Mount { mount_point: "/host".into(), ..root_mount(CONTAINER_MNT, "8:1", "/") },
        ];
        assert!(check("container-host-root", &s).is_empty());
    }
}
