//! Which container each process runs in: container ids parsed from cgroup paths as docker,
//! containerd, cri-o, ECS (EC2 and Fargate) and Kubernetes write them, and otherwise the pid
//! namespace. The initial pid namespace (the one where kernel threads are visible) is the host.

use curtain_model::{ContainerRow, EcsIdentity, Label, Process, Snapshot};
use serde::Serialize;

pub use curtain_parse::container::{parse_cgroup_path, CgroupRef, Runtime};
use std::collections::{BTreeMap, HashMap};

/// The container reference of a process: the unified hierarchy first, then any v1 one.
pub fn cgroup_ref(p: &Process) -> Option<CgroupRef> {
    let cg = p.cgroup.as_ref()?;
    let mut lines: Vec<_> = cg.iter().collect();
    lines.sort_by_key(|c| c.hierarchy != 0);
    lines.iter().find_map(|c| parse_cgroup_path(&c.path.to_lossy()))
}

/// One container (or the host) and its processes.
#[derive(Clone, Debug, Serialize)]
pub struct Container {
    /// Stable key: the container id, or `pidns:<inode>`.
    pub key: String,
    pub runtime: Runtime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs_task_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_pid: Option<u32>,
    pub pids: Vec<u32>,
    /// The ECS identity from the manifest, on the container the collector ran in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs: Option<EcsIdentity>,
    /// Its row of `tables/containers.jsonl`: what the host's files said of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<ContainerRow>,
}

impl Container {
    /// A name for it, one line: `host`, or the runtime, its name (or short id), and its task,
    /// pod or image. Evidence text: escape it when rendering.
    pub fn display(&self) -> String {
        if self.runtime == Runtime::Host {
            return "host".into();
        }
        let short = self.id.as_deref().map(|i| i.get(..12).unwrap_or(i)).unwrap_or(&self.key);
        let mut s = format!("{} ", self.runtime.as_str());
        let info = self.info.as_ref();
        match info.and_then(|i| i.name.as_deref()).or(self.ecs.as_ref().and_then(|e| e.container_name.as_deref())) {
            Some(name) => s.push_str(&format!("{name} ({short})")),
            None => s.push_str(short),
        }
        if let Some(e) = info.and_then(|i| i.ecs.as_ref()) {
            if let Some(f) = &e.family {
                s.push_str(&format!(" task {f}:{}", e.revision.as_deref().unwrap_or("?")));
            }
        } else if let Some(e) = &self.ecs {
            if let Some(f) = &e.family {
                s.push_str(&format!(" task {f}:{}", e.revision.as_deref().unwrap_or("?")));
            }
        }
        if let Some(p) = info.and_then(|i| i.pod.as_ref()).filter(|p| p.name.is_some()) {
            s.push_str(&format!(" pod {}/{}", p.namespace.as_deref().unwrap_or("?"), p.name.as_deref().unwrap_or("?")));
        }
        if let Some(img) = info.and_then(|i| i.image.as_deref()).or(self.ecs.as_ref().and_then(|e| e.image.as_deref()))
        {
            s.push_str(&format!(" image {img}"));
        }
        s
    }
}

/// Groups the processes of a snapshot into containers.
pub fn group(snap: &Snapshot, by_pid: &HashMap<u32, usize>) -> Vec<Container> {
    let host_pidns: Option<u64> = snap.processes.iter().find(|p| p.kernel_thread).and_then(|p| p.ns.pid);
    let mut groups: BTreeMap<String, Container> = BTreeMap::new();
    for p in &snap.processes {
        let r = cgroup_ref(p);
        let (key, runtime) = match (&r, p.ns.pid) {
            (Some(r), _) => (r.id.clone(), r.runtime),
            (None, Some(ns)) if Some(ns) == host_pidns || p.kernel_thread => (format!("pidns:{ns}"), Runtime::Host),
            (None, Some(ns)) => (format!("pidns:{ns}"), Runtime::PidNamespace),
            (None, None) if p.kernel_thread => ("host".to_string(), Runtime::Host),
            (None, None) => ("unknown".to_string(), Runtime::PidNamespace),
        };
        let c = groups.entry(key.clone()).or_insert_with(|| Container {
            key,
            runtime,
            id: r.as_ref().map(|r| r.id.clone()),
            pod_uid: r.as_ref().and_then(|r| r.pod_uid.clone()),
            ecs_task_id: r.as_ref().and_then(|r| r.ecs_task_id.clone()),
            pid_ns: p.ns.pid,
            init_pid: None,
            pids: Vec::new(),
            ecs: None,
            info: None,
        });
        c.pids.push(p.pid);
    }
    let proc_of = |pid: u32| by_pid.get(&pid).map(|&i| &snap.processes[i]);
    let mut out: Vec<Container> = groups.into_values().collect();
    for c in &mut out {
        let members: std::collections::HashSet<u32> = c.pids.iter().copied().collect();
        // The init: PID 1 of its own pid namespace, else the oldest process whose parent is
        // outside the container.
        let ns_init = c.pids.iter().filter_map(|&pid| proc_of(pid)).find(|p| p.nspid.last() == Some(&1));
        let init = ns_init.or_else(|| {
            c.pids
                .iter()
                .filter_map(|&pid| proc_of(pid))
                .filter(|p| !p.kernel_thread && !p.ppid.is_some_and(|pp| members.contains(&pp)))
                .min_by_key(|p| (p.starttime_ticks, p.pid))
        });
        c.init_pid = init.map(|p| p.pid);
        let has_self = c.pids.iter().filter_map(|&pid| proc_of(pid)).any(|p| p.label == Some(Label::SelfCollector));
        if has_self {
            c.ecs = snap.manifest.ecs.clone();
        }
        if let Some(id) = &c.id {
            c.info = snap.containers.iter().find(|r| &r.id == id).cloned();
        }
    }
    out.sort_by(|a, b| (a.runtime != Runtime::Host, &a.key).cmp(&(b.runtime != Runtime::Host, &b.key)));
    out
}
