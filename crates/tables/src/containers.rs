//! The containers step: which containers the processes' cgroups name, and what the host's own
//! files say of each (docker's config.v2.json and hostconfig.json, the kubelet's pod log
//! directories, the ECS agent's introspection answer), as `tables/containers.jsonl`.
//!
//! The collector asks [`Tables::host_plan`] what to read once every process is in, reads it, and
//! hands each read to [`Tables::add_host`] (as `reparse` does from `raw/reads.jsonl`); the rows
//! are written when the tables finish. Nothing here reads a file: the rows are a function of
//! the evidence alone.

use crate::row::ProcRow;
use crate::sink::{RowSink, Table};
use crate::Tables;
use curtain_model::{ContainerEcs, ContainerPod, ContainerRow, ErrorKind, RawOp, RawRecord};
use curtain_parse::container::{parse_cgroup_path, CgroupRef};
use curtain_parse::host::{self, AgentTask, DaemonJson, DockerConfig, DockerHostConfig, DockerdArgs};
use std::collections::{BTreeMap, HashMap};

/// The `http` record of the ECS agent's introspection API.
pub const AGENT_TASKS: &str = "agent/tasks";
/// Its member.
pub const AGENT_MEMBER: &str = "raw/ecs/agent-tasks.json";
/// The kubelet's pod log directories.
pub const POD_LOGS: &str = "/var/log/pods";

/// What the processes said and the host's files gave, until the rows are written.
#[derive(Debug, Default)]
pub(crate) struct Hosts {
    containers: Vec<(CgroupRef, Vec<u32>)>,
    by_id: HashMap<String, usize>,
    dockerd: Vec<DockerdArgs>,
    configs: BTreeMap<String, (String, DockerConfig)>,
    hostconfigs: BTreeMap<String, DockerHostConfig>,
    daemon_json: BTreeMap<String, DaemonJson>,
    /// (namespace, pod, uid) of each pod log directory.
    pods: Vec<(String, String, String)>,
    /// Pod uid: the container directories under its log directory.
    pod_containers: BTreeMap<String, Vec<String>>,
    agent: Vec<AgentTask>,
}

impl Hosts {
    /// Takes a process's container (from its cgroup) and, for dockerd, its command line.
    pub(crate) fn observe(&mut self, p: &ProcRow<'_>) {
        if let Some(cg) = p.cgroup {
            let mut lines: Vec<(u32, &[u8])> = curtain_parse::proc::cgroup_lines(cg)
                .map(|it| it.map(|(h, _, path)| (h, path)).collect())
                .unwrap_or_default();
            lines.sort_by_key(|(h, _)| *h != 0);
            if let Some(r) = lines.iter().find_map(|(_, path)| parse_cgroup_path(&String::from_utf8_lossy(path))) {
                match self.by_id.get(&r.id) {
                    Some(&i) => self.containers[i].1.push(p.pid),
                    None => {
                        self.by_id.insert(r.id.clone(), self.containers.len());
                        self.containers.push((r, vec![p.pid]));
                    }
                }
            }
        }
        if let Some(cmd) = p.cmdline {
            let argv: Vec<&[u8]> = cmd.split(|&c| c == 0).filter(|a| !a.is_empty()).take(256).collect();
            if host::is_dockerd(&argv) && self.dockerd.len() < 64 {
                self.dockerd.push(host::dockerd_args(&argv));
            }
        }
    }
}

/// What the collector should read on the host, from what the processes said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostPlan {
    /// Each running dockerd's command line.
    pub dockerd: Vec<DockerdArgs>,
    /// Container ids that docker may hold (64 hex), in the order seen.
    pub docker_ids: Vec<String>,
    /// Pod uids from kubepods cgroups.
    pub pod_uids: Vec<String>,
}

impl HostPlan {
    /// The configuration files of the daemons seen (the default one first), each once.
    pub fn daemon_json_paths(&self) -> Vec<String> {
        let mut v = vec![host::DEFAULT_DAEMON_JSON.to_string()];
        for d in &self.dockerd {
            if let Some(f) = d.config_file.as_ref().filter(|f| clean_path(f) && !v.contains(f)) {
                v.push(f.clone());
            }
        }
        v
    }
}

/// An absolute path without `.`, `..` or empty components, that an archive member can be named
/// after (`raw/host/<path>`).
pub fn clean_path(p: &str) -> bool {
    p.len() < 4096
        && p.strip_prefix('/').is_some_and(|rest| {
            rest.is_empty() || rest.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
        })
}

/// The member holding a host file read: `raw/host/<path without its leading />`.
pub fn host_member(path: &str) -> Option<String> {
    (clean_path(path) && path.len() > 1).then(|| format!("raw/host{path}"))
}

impl<S: RowSink> Tables<S> {
    /// What to read on the host, once every process is in.
    pub fn host_plan(&self) -> HostPlan {
        let h = &self.hosts;
        let mut pod_uids: Vec<String> = Vec::new();
        for (r, _) in &h.containers {
            if let Some(u) = r.pod_uid.as_ref().filter(|u| !pod_uids.contains(u)) {
                pod_uids.push(u.clone());
            }
        }
        HostPlan {
            dockerd: h.dockerd.clone(),
            docker_ids: h
                .containers
                .iter()
                .map(|(r, _)| r.id.clone())
                .filter(|id| id.len() == 64 && id.bytes().all(|c| c.is_ascii_hexdigit()))
                .collect(),
            pod_uids,
        }
    }

    /// Takes one read of the host (`host`, `hostlist`, or the ECS agent's `http`), with its
    /// bytes. A file that is not there, or that was not read by choice, is no error row; any
    /// other failure, and content that does not parse, is one.
    pub fn add_host(&mut self, rec: &RawRecord, bytes: Option<&[u8]>) {
        let path = rec.path.clone();
        if let Some(kind) = rec.error {
            let expected = matches!(kind, ErrorKind::ENOENT | ErrorKind::NotFollowed) || rec.op == RawOp::Http;
            if !expected {
                self.add_error(None, path, kind, rec.detail.clone());
            }
            return;
        }
        if rec.truncated {
            self.add_error(None, path.clone(), ErrorKind::Truncated, None);
        }
        let h = &mut self.hosts;
        let parsed: Result<(), curtain_parse::ParseError> = match rec.op {
            RawOp::Host => {
                let b = bytes.unwrap_or_default();
                match host::docker_file(&path) {
                    Some((root, id, "config.v2.json")) => host::docker_config(b).map(|c| {
                        h.configs.insert(id.to_string(), (root.to_string(), c));
                    }),
                    Some((_, id, "hostconfig.json")) => host::docker_hostconfig(b).map(|c| {
                        h.hostconfigs.insert(id.to_string(), c);
                    }),
                    _ if path.ends_with(".json") => host::daemon_json(b).map(|c| {
                        h.daemon_json.insert(path.clone(), c);
                    }),
                    _ => Ok(()),
                }
            }
            RawOp::Hostlist => {
                let entries = rec.entries.as_deref().unwrap_or_default();
                if path == POD_LOGS {
                    for e in entries {
                        if let Some((ns, pod, uid)) = host::pod_dir(e) {
                            h.pods.push((ns.into(), pod.into(), uid.into()));
                        }
                    }
                } else if let Some((_, pod, uid)) =
                    path.strip_prefix(POD_LOGS).and_then(|r| r.strip_prefix('/')).and_then(host::pod_dir)
                {
                    let _ = pod;
                    h.pod_containers.insert(uid.to_string(), entries.to_vec());
                }
                Ok(())
            }
            RawOp::Http => host::agent_tasks(bytes.unwrap_or_default()).map(|t| h.agent = t),
            _ => Ok(()),
        };
        if let Err(e) = parsed {
            self.add_error(None, path, ErrorKind::Parse, Some(e.0));
        }
    }

    /// The daemons' data roots, as the collector follows them: each dockerd's `--data-root`,
    /// else its configuration file's (as read), else the default.
    pub fn data_roots(&self) -> Vec<String> {
        let h = &self.hosts;
        host::data_roots(&h.dockerd, |f| h.daemon_json.get(f).cloned()).into_iter().filter(|r| clean_path(r)).collect()
    }

    /// The rows of `tables/containers.jsonl` as they stand: one per container, in the order
    /// first seen.
    pub fn container_rows(&self) -> Vec<ContainerRow> {
        self.hosts.containers.iter().map(|(r, pids)| self.hosts.row(r, pids)).collect()
    }

    /// Writes a row per container, in the order first seen.
    pub(crate) fn write_containers(&mut self) {
        for row in self.container_rows() {
            self.emit(Table::Containers, &row);
        }
    }
}

impl Hosts {
    fn row(&self, r: &CgroupRef, pids: &[u32]) -> ContainerRow {
        let mut c = ContainerRow {
            runtime: r.runtime.as_str().into(),
            id: r.id.clone(),
            pids: pids.to_vec(),
            ..Default::default()
        };
        let src = |c: &mut ContainerRow, field: &str, from: &str| {
            c.sources.entry(field.into()).or_insert_with(|| from.into());
        };
        src(&mut c, "id", "cgroup");
        if let Some((root, cfg)) = self.configs.get(&r.id) {
            const FROM: &str = "docker-config";
            c.data_root = Some(root.clone());
            for (field, v, slot) in [
                ("name", &cfg.name, &mut c.name),
                ("image", &cfg.image, &mut c.image),
                ("image_digest", &cfg.image_id, &mut c.image_digest),
            ] {
                if v.is_some() {
                    *slot = v.clone();
                    c.sources.insert(field.into(), FROM.into());
                }
            }
            c.labels = cfg.labels.clone();
            if !cfg.mounts.is_empty() {
                c.mounts = cfg.mounts.clone();
                src(&mut c, "mounts", FROM);
            }
            let l = |k: &str| cfg.labels.get(k).cloned();
            let ecs = ContainerEcs {
                task_arn: l("com.amazonaws.ecs.task-arn"),
                container_name: l("com.amazonaws.ecs.container-name"),
                family: l("com.amazonaws.ecs.task-definition-family"),
                revision: l("com.amazonaws.ecs.task-definition-version"),
                cluster: l("com.amazonaws.ecs.cluster"),
                known_status: None,
            };
            if ecs != ContainerEcs::default() {
                c.ecs = Some(ecs);
                src(&mut c, "ecs", "docker-config");
            }
            let pod = ContainerPod {
                namespace: l("io.kubernetes.pod.namespace"),
                name: l("io.kubernetes.pod.name"),
                uid: l("io.kubernetes.pod.uid"),
                container_name: l("io.kubernetes.container.name"),
            };
            if pod != ContainerPod::default() {
                c.pod = Some(pod);
                src(&mut c, "pod", "docker-config");
            }
        }
        if let Some(hc) = self.hostconfigs.get(&r.id) {
            const FROM: &str = "docker-hostconfig";
            for (field, set) in [
                ("privileged", hc.privileged.is_some()),
                ("network_mode", hc.network_mode.is_some()),
                ("pid_mode", hc.pid_mode.is_some()),
            ] {
                if set {
                    c.sources.insert(field.into(), FROM.into());
                }
            }
            c.privileged = hc.privileged;
            c.network_mode = hc.network_mode.clone();
            c.pid_mode = hc.pid_mode.clone();
            if c.mounts.is_empty() && !hc.mounts.is_empty() {
                c.mounts = hc.mounts.clone();
                src(&mut c, "mounts", FROM);
            }
        }
        // The ECS agent knows the task of each container it started, by docker id.
        let found = self.agent.iter().find_map(|t| t.containers.iter().find(|x| x.0 == r.id).map(|x| (t, x)));
        if let Some((task, (_, name, docker_name))) = found {
            let e = c.ecs.get_or_insert_with(Default::default);
            let fill = |slot: &mut Option<String>, v: &Option<String>| {
                if slot.is_none() {
                    *slot = v.clone();
                }
            };
            fill(&mut e.task_arn, &task.arn);
            fill(&mut e.family, &task.family);
            fill(&mut e.revision, &task.version);
            fill(&mut e.container_name, name);
            e.known_status = task.known_status.clone();
            src(&mut c, "ecs", "ecs-agent");
            if c.name.is_none() && docker_name.is_some() {
                c.name = docker_name.clone();
                src(&mut c, "name", "ecs-agent");
            }
        }
        // The kubelet's log directory of its pod, by the pod uid of its cgroup.
        let uid = r.pod_uid.as_ref().or(c.pod.as_ref().and_then(|p| p.uid.as_ref()));
        if let Some((ns, pod, uid)) = uid.and_then(|u| self.pods.iter().find(|p| &p.2 == u)) {
            let p = c.pod.get_or_insert_with(Default::default);
            let by_logs = p.name.is_none();
            p.namespace.get_or_insert_with(|| ns.clone());
            p.name.get_or_insert_with(|| pod.clone());
            p.uid.get_or_insert_with(|| uid.clone());
            if p.container_name.is_none() {
                // Only when the pod has one container: the layout does not say which is which.
                if let Some([one]) = self.pod_containers.get(uid).map(Vec::as_slice) {
                    p.container_name = Some(one.clone());
                }
            }
            if by_logs {
                src(&mut c, "pod", "kubelet-logs");
            }
        } else if let Some(u) = r.pod_uid.as_ref() {
            c.pod.get_or_insert_with(Default::default).uid.get_or_insert_with(|| u.clone());
            src(&mut c, "pod", "cgroup");
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, MemorySink, RawProcess};

    const ID: &str = "2a3bb61285714a653c791656d7f7a81a7825db5d0eed0bd248ec96ae565285b1";

    fn proc(pid: u32, cgroup: &str, argv: &[&str]) -> RawProcess {
        let mut r = RawProcess { pid, ..Default::default() };
        r.files.insert(
            "stat".into(),
            Ok(format!("{pid} (x) S 1 {pid} {pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0\n").into_bytes()),
        );
        r.files.insert("cgroup".into(), Ok(cgroup.as_bytes().to_vec()));
        r.files.insert("cmdline".into(), Ok(argv.join("\0").into_bytes()));
        r
    }

    fn rec(op: RawOp, path: &str) -> RawRecord {
        RawRecord::new(op, path.into())
    }

    #[test]
    fn a_docker_container_named_from_its_files() {
        let mut t = Tables::new(MemorySink::default(), None);
        let ctx = Context { clock: Default::default() };
        t.add_process(
            &proc(10, "0::/system.slice/dockerd.service\n", &["/usr/bin/dockerd", "--data-root=/srv/d"]).view(),
            &ctx,
        );
        t.add_process(&proc(20, &format!("0::/docker/{ID}\n"), &["sh"]).view(), &ctx);
        t.add_process(&proc(21, &format!("0::/docker/{ID}\n"), &["sleep"]).view(), &ctx);
        let plan = t.host_plan();
        assert_eq!(plan.docker_ids, [ID]);
        assert_eq!(t.data_roots(), ["/srv/d"]);
        let cfg = format!(
            r#"{{"ID":"{ID}","Name":"/web","Image":"sha256:ab","Config":{{"Image":"app:1","Labels":{{"com.amazonaws.ecs.cluster":"prod","io.kubernetes.pod.name":"p"}}}}}}"#
        );
        t.add_host(&rec(RawOp::Host, &format!("/srv/d/containers/{ID}/config.v2.json")), Some(cfg.as_bytes()));
        t.add_host(
            &rec(RawOp::Host, &format!("/srv/d/containers/{ID}/hostconfig.json")),
            Some(br#"{"Privileged":true,"NetworkMode":"none","Binds":["/var/run/docker.sock:/s"]}"#),
        );
        let mut gone = rec(RawOp::Host, "/etc/docker/daemon.json");
        gone.error = Some(ErrorKind::ENOENT);
        t.add_host(&gone, None);
        t.add_host(&rec(RawOp::Host, "/etc/x.json"), Some(b"\xff not json"));
        t.finish();
        let rows: Vec<ContainerRow> = t.sink.rows(Table::Containers);
        assert_eq!(rows.len(), 1);
        let c = &rows[0];
        assert_eq!((c.name.as_deref(), c.image.as_deref(), c.privileged), (Some("web"), Some("app:1"), Some(true)));
        assert_eq!(c.pids, [20, 21]);
        assert_eq!(c.ecs.as_ref().unwrap().cluster.as_deref(), Some("prod"));
        assert_eq!(c.pod.as_ref().unwrap().name.as_deref(), Some("p"));
        assert_eq!(c.mounts[0].source, "/var/run/docker.sock");
        assert_eq!(c.sources["privileged"], "docker-hostconfig");
        assert_eq!(c.sources["name"], "docker-config");
        // The missing daemon.json is no error; the one that does not parse is.
        let errors: Vec<curtain_model::CollectError> = t.sink.rows(Table::Errors);
        assert_eq!(
            errors.iter().map(|e| (e.path.as_str(), e.kind)).collect::<Vec<_>>(),
            [("/etc/x.json", ErrorKind::Parse)]
        );
    }

    #[test]
    fn a_pod_from_the_kubelet_layout_and_a_task_from_the_agent() {
        let uid = "8e3d1c2a-1b2c-4d5e-8f90-0a1b2c3d4e5f";
        let cg = format!("0::/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{ID}.scope\n", uid.replace('-', "_"));
        let mut t = Tables::new(MemorySink::default(), None);
        t.add_process(&proc(30, &cg, &["app"]).view(), &Context { clock: Default::default() });
        assert_eq!(t.host_plan().pod_uids, [uid]);
        let mut list = rec(RawOp::Hostlist, POD_LOGS);
        list.entries = Some(vec![format!("shop_cart-7d9_{uid}"), "junk".into()]);
        t.add_host(&list, None);
        let mut pod = rec(RawOp::Hostlist, &format!("{POD_LOGS}/shop_cart-7d9_{uid}"));
        pod.entries = Some(vec!["cart".into()]);
        t.add_host(&pod, None);
        let agent = format!(
            r#"{{"Tasks":[{{"Arn":"arn:t","KnownStatus":"RUNNING","Family":"f","Version":"3","Containers":[{{"DockerId":"{ID}","Name":"c","DockerName":"ecs-f-3-c"}}]}}]}}"#
        );
        t.add_host(&rec(RawOp::Http, AGENT_TASKS), Some(agent.as_bytes()));
        t.finish();
        let c = &t.sink.rows::<ContainerRow>(Table::Containers)[0];
        let p = c.pod.as_ref().unwrap();
        assert_eq!(
            (p.namespace.as_deref(), p.name.as_deref(), p.container_name.as_deref()),
            (Some("shop"), Some("cart-7d9"), Some("cart"))
        );
        assert_eq!(c.sources["pod"], "kubelet-logs");
        let e = c.ecs.as_ref().unwrap();
        assert_eq!(
            (e.family.as_deref(), e.revision.as_deref(), e.container_name.as_deref()),
            (Some("f"), Some("3"), Some("c"))
        );
        assert_eq!(c.name.as_deref(), Some("ecs-f-3-c"));
    }

    #[test]
    fn member_names_are_clean_paths_only() {
        assert_eq!(
            host_member("/var/lib/docker/containers/x/config.v2.json").as_deref(),
            Some("raw/host/var/lib/docker/containers/x/config.v2.json")
        );
        for p in ["relative", "/a/../b", "/a//b", "/a/./b", "/"] {
            assert_eq!(host_member(p), None, "{p}");
        }
    }
}
