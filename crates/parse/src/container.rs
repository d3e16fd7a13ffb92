//! Which container a process runs in, from its cgroup path alone: container ids as docker,
//! containerd, cri-o, ECS (EC2 and Fargate) and Kubernetes write them. Pure, so that the
//! collector (which looks the containers' files up on the host) and the analysis (which groups
//! processes) read a path the same way; a path is whatever the process's cgroup file said.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    Docker,
    Containerd,
    CriO,
    EcsEc2,
    EcsFargate,
    Kubernetes,
    /// The host itself (its pid namespace shows kernel threads).
    Host,
    /// A pid namespace of its own with no container id in its cgroup (the collector ran inside
    /// it with a private cgroup namespace, or a sandbox such as unshare).
    PidNamespace,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::EcsEc2 => "ecs-ec2",
            Runtime::EcsFargate => "ecs-fargate",
            Runtime::Kubernetes => "kubernetes",
            Runtime::Host => "host",
            Runtime::PidNamespace => "pid-namespace",
        }
    }
}

/// What a cgroup path says about the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CgroupRef {
    pub runtime: Runtime,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs_task_id: Option<String>,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// A 64-hex container id, bare or in a systemd scope name (`docker-<id>.scope`,
/// `cri-containerd-<id>.scope`, `crio-<id>.scope`), with the runtime the prefix names.
fn scoped_id(seg: &str) -> Option<(Option<Runtime>, String)> {
    let seg = seg.strip_suffix(".scope").unwrap_or(seg);
    for (prefix, rt) in
        [("docker-", Runtime::Docker), ("cri-containerd-", Runtime::Containerd), ("crio-", Runtime::CriO)]
    {
        if let Some(id) = seg.strip_prefix(prefix) {
            return is_hex(id, 64).then(|| (Some(rt), id.to_string()));
        }
    }
    is_hex(seg, 64).then(|| (None, seg.to_string()))
}

/// Parses a cgroup path (of any hierarchy) into a container reference.
pub fn parse_cgroup_path(path: &str) -> Option<CgroupRef> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // ECS: /ecs/<task id>/<container id>; a Fargate container id is "<task id>-<number>".
    if let Some(i) = segs.iter().position(|s| *s == "ecs") {
        if let (Some(task), Some(ctr)) = (segs.get(i + 1), segs.get(i + 2)) {
            if is_hex(task, 32) {
                if is_hex(ctr, 64) {
                    return Some(CgroupRef {
                        runtime: Runtime::EcsEc2,
                        id: ctr.to_string(),
                        pod_uid: None,
                        ecs_task_id: Some(task.to_string()),
                    });
                }
                if let Some((t, n)) = ctr.split_once('-') {
                    if is_hex(t, 32) && !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) {
                        return Some(CgroupRef {
                            runtime: Runtime::EcsFargate,
                            id: ctr.to_string(),
                            pod_uid: None,
                            ecs_task_id: Some(task.to_string()),
                        });
                    }
                }
            }
        }
    }
    // Kubernetes: a kubepods hierarchy with pod<uid>, then the container's id.
    if segs.iter().any(|s| s.starts_with("kubepods")) {
        let pod_uid = segs.iter().find_map(|s| {
            let s = s.strip_suffix(".slice").unwrap_or(s);
            let at = s.rfind("pod")?;
            let uid = s[at + 3..].replace('_', "-");
            (uid.len() == 36 && uid.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-')).then_some(uid)
        });
        let id = segs.last().and_then(|s| scoped_id(s)).map(|(_, id)| id);
        if let Some(id) = id {
            return Some(CgroupRef { runtime: Runtime::Kubernetes, id, pod_uid, ecs_task_id: None });
        }
    }
    let last = segs.last()?;
    if let Some((rt, id)) = scoped_id(last) {
        let rt = rt.unwrap_or(match segs.first() {
            Some(&"docker") => Runtime::Docker,
            Some(&"default") | Some(&"k8s.io") => Runtime::Containerd,
            _ => Runtime::Docker,
        });
        return Some(CgroupRef { runtime: rt, id, pod_uid: None, ecs_task_id: None });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e1b2c5d6a7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7a8";

    #[test]
    fn docker_paths() {
        for p in [format!("/docker/{ID}"), format!("/system.slice/docker-{ID}.scope")] {
            let r = parse_cgroup_path(&p).unwrap();
            assert_eq!((r.runtime, r.id.as_str()), (Runtime::Docker, ID), "{p}");
        }
    }

    #[test]
    fn kubernetes_paths() {
        let v1 = format!("/kubepods/burstable/pod8e3d1c2a-1b2c-4d5e-8f90-0a1b2c3d4e5f/{ID}");
        let v2 = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod8e3d1c2a_1b2c_4d5e_8f90_0a1b2c3d4e5f.slice/cri-containerd-{ID}.scope"
        );
        for p in [v1, v2] {
            let r = parse_cgroup_path(&p).unwrap();
            assert_eq!(r.runtime, Runtime::Kubernetes);
            assert_eq!(r.id, ID);
            assert_eq!(r.pod_uid.as_deref(), Some("8e3d1c2a-1b2c-4d5e-8f90-0a1b2c3d4e5f"));
        }
    }

    #[test]
    fn ecs_paths() {
        let ec2 = parse_cgroup_path(&format!("/ecs/5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d/{ID}")).unwrap();
        assert_eq!(
            (ec2.runtime, ec2.ecs_task_id.as_deref()),
            (Runtime::EcsEc2, Some("5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"))
        );
        // Fargate, as the container's DockerId in the task metadata shows it.
        let f = parse_cgroup_path("/ecs/cd189a933e5849daa93386466019ab50/cd189a933e5849daa93386466019ab50-2495160603")
            .unwrap();
        assert_eq!(f.runtime, Runtime::EcsFargate);
        assert_eq!(f.id, "cd189a933e5849daa93386466019ab50-2495160603");
    }

    #[test]
    fn crio_containerd_and_not_containers() {
        assert_eq!(parse_cgroup_path(&format!("/machine.slice/crio-{ID}.scope")).unwrap().runtime, Runtime::CriO);
        assert_eq!(parse_cgroup_path(&format!("/default/{ID}")).unwrap().runtime, Runtime::Containerd);
        for p in ["/", "/user.slice/user-1000.slice/session-3.scope", "/system.slice/sshd.service", "/docker/abc"] {
            assert_eq!(parse_cgroup_path(p), None, "{p}");
        }
    }
}
