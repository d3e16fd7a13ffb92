//! The host's own records of its containers, bytes in: dockerd's command line and
//! `/etc/docker/daemon.json` (where its data root and sockets are), docker's per-container
//! `config.v2.json` and `hostconfig.json`, the kubelet's `/var/log/pods/<ns>_<pod>_<uid>` names and
//! the ECS agent's introspection answer (`/v1/tasks`).
//!
//! Everything here may have been shaped by a container's owner (labels, names, a bind mount's
//! path): every parser takes any bytes, never panics, bounds what it keeps, and returns what it
//! could not read as a value.

use crate::ParseError;
use serde_json::Value;
use std::collections::BTreeMap;

/// The data root docker uses when nothing says otherwise.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/docker";
/// dockerd's configuration file when `--config-file` does not name another.
pub const DEFAULT_DAEMON_JSON: &str = "/etc/docker/daemon.json";
/// The socket dockerd listens on when no `-H` names another.
pub const DEFAULT_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];
/// The labels kept of a container (the rest, often many, are left in the raw file).
pub const LABELS_OF_INTEREST: &[&str] = &[
    "com.amazonaws.ecs.task-arn",
    "com.amazonaws.ecs.container-name",
    "com.amazonaws.ecs.task-definition-family",
    "com.amazonaws.ecs.task-definition-version",
    "com.amazonaws.ecs.cluster",
    "io.kubernetes.pod.name",
    "io.kubernetes.pod.namespace",
    "io.kubernetes.pod.uid",
    "io.kubernetes.container.name",
];
/// Longest text kept of one value (a name, a label, a path).
const MAX_TEXT: usize = 4096;
/// Most mounts kept of one container.
const MAX_MOUNTS: usize = 256;

/// What one dockerd's command line says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerdArgs {
    pub data_root: Option<String>,
    pub config_file: Option<String>,
    /// The unix sockets of its `-H`/`--host` options (paths).
    pub sockets: Vec<String>,
}

/// Whether a command line is dockerd's: argv[0]'s file name is `dockerd`.
pub fn is_dockerd(argv: &[&[u8]]) -> bool {
    argv.first().is_some_and(|a| a.rsplit(|&c| c == b'/').next() == Some(b"dockerd"))
}

/// dockerd's data root (`--data-root X`, `--data-root=X`, the older `-g`/`--graph`), its
/// configuration file and its unix sockets, from its argv.
pub fn dockerd_args(argv: &[&[u8]]) -> DockerdArgs {
    let mut out = DockerdArgs::default();
    let text = |b: &[u8]| String::from_utf8_lossy(b).chars().take(MAX_TEXT).collect::<String>();
    let mut i = 1;
    while i < argv.len() {
        let a = text(argv[i]);
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let known = matches!(key.as_str(), "--data-root" | "--graph" | "-g" | "--config-file" | "-H" | "--host");
        let value = match (known, inline) {
            (false, _) => None,
            (true, Some(v)) => Some(v),
            (true, None) => {
                i += 1;
                argv.get(i).map(|v| text(v))
            }
        };
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            match key.as_str() {
                "--data-root" | "--graph" | "-g" => out.data_root = Some(v),
                "--config-file" => out.config_file = Some(v),
                _ => out.sockets.extend(unix_socket(&v)),
            }
        }
        i += 1;
    }
    out
}

fn unix_socket(host: &str) -> Option<String> {
    host.strip_prefix("unix://").filter(|p| p.starts_with('/')).map(str::to_string)
}

/// What `/etc/docker/daemon.json` says: `data-root` (or the older `graph`) and the unix
/// sockets of `hosts`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonJson {
    pub data_root: Option<String>,
    pub sockets: Vec<String>,
}

pub fn daemon_json(b: &[u8]) -> Result<DaemonJson, ParseError> {
    let v = object(b, "daemon.json")?;
    let data_root = text(&v, "data-root").or_else(|| text(&v, "graph"));
    let sockets = v
        .get("hosts")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).filter_map(unix_socket).collect())
        .unwrap_or_default();
    Ok(DaemonJson { data_root, sockets })
}

/// The data roots of the daemons seen: each one's `--data-root`, else its configuration
/// file's `data-root`, else the default; the default alone when no daemon was seen. In the
/// order found, each once.
pub fn data_roots(daemons: &[DockerdArgs], config: impl Fn(&str) -> Option<DaemonJson>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |r: String| {
        let r = if r.len() > 1 { r.trim_end_matches('/').to_string() } else { r };
        if r.starts_with('/') && !out.contains(&r) {
            out.push(r);
        }
    };
    for d in daemons {
        let file = d.config_file.as_deref().unwrap_or(DEFAULT_DAEMON_JSON);
        match d.data_root.clone().or_else(|| config(file).and_then(|c| c.data_root)) {
            Some(r) => push(r),
            None => push(DEFAULT_DATA_ROOT.into()),
        }
    }
    if daemons.is_empty() {
        push(config(DEFAULT_DAEMON_JSON).and_then(|c| c.data_root).unwrap_or_else(|| DEFAULT_DATA_ROOT.into()));
    }
    out
}

/// The container a path under a data root belongs to: `<root>/containers/<64 hex>/<file>`.
pub fn docker_file(path: &str) -> Option<(&str, &str, &str)> {
    let (dir, file) = path.rsplit_once('/')?;
    let (root, id) = dir.rsplit_once("/containers/")?;
    (id.len() == 64 && id.bytes().all(|c| c.is_ascii_hexdigit())).then_some((root, id, file))
}

/// docker's `config.v2.json`: name, image, labels, mounts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerConfig {
    pub id: Option<String>,
    /// Without the leading `/`.
    pub name: Option<String>,
    /// As given to `docker run` (`Config.Image`).
    pub image: Option<String>,
    /// The image id (`Image`, `sha256:...`).
    pub image_id: Option<String>,
    /// The labels of interest only.
    pub labels: BTreeMap<String, String>,
    pub mounts: Vec<curtain_model::HostMount>,
}

pub fn docker_config(b: &[u8]) -> Result<DockerConfig, ParseError> {
    let v = object(b, "config.v2.json")?;
    let config = v.get("Config");
    let labels = config
        .and_then(|c| c.get("Labels"))
        .and_then(Value::as_object)
        .map(|l| {
            LABELS_OF_INTEREST
                .iter()
                .filter_map(|k| Some((k.to_string(), cut(l.get(*k)?.as_str()?))))
                .collect::<BTreeMap<_, _>>()
        })
        .unwrap_or_default();
    let mut mounts = Vec::new();
    if let Some(mp) = v.get("MountPoints").and_then(Value::as_object) {
        for m in mp.values().take(MAX_MOUNTS) {
            let (Some(source), Some(destination)) = (text(m, "Source"), text(m, "Destination")) else { continue };
            if source.is_empty() {
                continue;
            }
            let ro = m.get("RW").and_then(Value::as_bool).map(|rw| !rw).unwrap_or(false);
            mounts.push(curtain_model::HostMount { source, destination, ro, kind: text(m, "Type") });
        }
    }
    Ok(DockerConfig {
        id: text(&v, "ID"),
        name: text(&v, "Name").map(|n| n.strip_prefix('/').map(str::to_string).unwrap_or(n)),
        image: config.and_then(|c| text(c, "Image")),
        image_id: text(&v, "Image"),
        labels,
        mounts,
    })
}

/// docker's `hostconfig.json`: privileges, namespaces shared with the host, bind mounts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerHostConfig {
    pub privileged: Option<bool>,
    pub network_mode: Option<String>,
    pub pid_mode: Option<String>,
    /// `Binds` (`src:dst[:opts]`) and `Mounts` of type bind.
    pub mounts: Vec<curtain_model::HostMount>,
}

pub fn docker_hostconfig(b: &[u8]) -> Result<DockerHostConfig, ParseError> {
    let v = object(b, "hostconfig.json")?;
    let mut mounts = Vec::new();
    for bind in v.get("Binds").and_then(Value::as_array).into_iter().flatten().take(MAX_MOUNTS) {
        let Some(s) = bind.as_str() else { continue };
        let mut parts = s.splitn(3, ':');
        let (Some(src), Some(dst)) = (parts.next(), parts.next()) else { continue };
        let ro = parts.next().is_some_and(|o| o.split(',').any(|o| o == "ro"));
        mounts.push(curtain_model::HostMount {
            source: cut(src),
            destination: cut(dst),
            ro,
            kind: src.starts_with('/').then(|| "bind".into()),
        });
    }
    for m in v.get("Mounts").and_then(Value::as_array).into_iter().flatten().take(MAX_MOUNTS) {
        let (Some(source), Some(destination)) = (text(m, "Source"), text(m, "Target")) else { continue };
        let ro = m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false);
        mounts.push(curtain_model::HostMount { source, destination, ro, kind: text(m, "Type") });
    }
    Ok(DockerHostConfig {
        privileged: v.get("Privileged").and_then(Value::as_bool),
        network_mode: text(&v, "NetworkMode").filter(|s| !s.is_empty()),
        pid_mode: text(&v, "PidMode").filter(|s| !s.is_empty()),
        mounts,
    })
}

/// A kubelet pod log directory's name, `<namespace>_<pod>_<uid>`: (namespace, pod, uid).
/// Namespaces and pod names are DNS labels and subdomains, without `_`.
pub fn pod_dir(name: &str) -> Option<(&str, &str, &str)> {
    let mut p = name.splitn(3, '_');
    let (ns, pod, uid) = (p.next()?, p.next()?, p.next()?);
    let uid_ok = uid.len() == 36 && uid.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-');
    (!ns.is_empty() && !pod.is_empty() && uid_ok).then_some((ns, pod, uid))
}

/// One task of the ECS agent's introspection API (`GET /v1/tasks`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentTask {
    pub arn: Option<String>,
    pub family: Option<String>,
    pub version: Option<String>,
    pub known_status: Option<String>,
    /// (DockerId, Name, DockerName) of each container.
    pub containers: Vec<(String, Option<String>, Option<String>)>,
}

/// The agent's `{"Tasks": [...]}` (or one task, as `/v1/tasks?dockerid=` answers).
pub fn agent_tasks(b: &[u8]) -> Result<Vec<AgentTask>, ParseError> {
    let v = object(b, "ECS agent tasks")?;
    let tasks: Vec<&Value> = match v.get("Tasks").and_then(Value::as_array) {
        Some(a) => a.iter().collect(),
        None if v.get("Arn").is_some() => vec![&v],
        None => return Err(ParseError("ECS agent tasks: no Tasks".into())),
    };
    Ok(tasks
        .into_iter()
        .take(10_000)
        .map(|t| AgentTask {
            arn: text(t, "Arn"),
            family: text(t, "Family"),
            version: text(t, "Version"),
            known_status: text(t, "KnownStatus"),
            containers: t
                .get("Containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .take(1000)
                .filter_map(|c| Some((text(c, "DockerId")?, text(c, "Name"), text(c, "DockerName"))))
                .collect(),
        })
        .collect())
}

fn object(b: &[u8], what: &str) -> Result<Value, ParseError> {
    match serde_json::from_slice::<Value>(b) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(ParseError(format!("{what}: not a JSON object"))),
        Err(e) => Err(ParseError(format!("{what}: {e}"))),
    }
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_TEXT).collect()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_command_lines() {
        let a = dockerd_args(&[b"/usr/bin/dockerd", b"--data-root", b"/tmp/dk/data", b"-H", b"unix:///tmp/dk/d.sock"]);
        assert_eq!(a.data_root.as_deref(), Some("/tmp/dk/data"));
        assert_eq!(a.sockets, ["/tmp/dk/d.sock"]);
        let b = dockerd_args(&[b"dockerd", b"--data-root=/srv/docker", b"--host=tcp://0.0.0.0:2375", b"--data-root"]);
        assert_eq!(b.data_root.as_deref(), Some("/srv/docker"));
        assert!(b.sockets.is_empty());
        assert!(is_dockerd(&[b"/usr/sbin/dockerd"]) && !is_dockerd(&[b"dockerd-rootless.sh"]));
        let roots = data_roots(&[a, b, DockerdArgs::default()], |_| None);
        assert_eq!(roots, ["/tmp/dk/data", "/srv/docker", DEFAULT_DATA_ROOT]);
        let from_file = data_roots(&[], |f| {
            (f == DEFAULT_DAEMON_JSON).then(|| daemon_json(br#"{"data-root":"/data/docker/"}"#).unwrap())
        });
        assert_eq!(from_file, ["/data/docker"]);
    }

    #[test]
    fn docker_files() {
        let id = "a".repeat(64);
        let p = format!("/var/lib/docker/containers/{id}/config.v2.json");
        assert_eq!(docker_file(&p), Some(("/var/lib/docker", id.as_str(), "config.v2.json")));
        assert_eq!(docker_file("/var/lib/docker/containers/abc/config.v2.json"), None);
        let c = docker_config(
            br#"{"ID":"x","Name":"/web","Image":"sha256:ab","Config":{"Image":"nginx:1","Labels":{"com.amazonaws.ecs.cluster":"prod","other":"x"}},
            "MountPoints":{"/var/run/docker.sock":{"Source":"/run/docker.sock","Destination":"/var/run/docker.sock","RW":false,"Type":"bind"}}}"#,
        )
        .unwrap();
        assert_eq!((c.name.as_deref(), c.image.as_deref()), (Some("web"), Some("nginx:1")));
        assert_eq!(c.labels.len(), 1);
        assert!(c.mounts[0].ro && c.mounts[0].source == "/run/docker.sock");
        let h = docker_hostconfig(
            br#"{"Privileged":true,"NetworkMode":"host","PidMode":"","Binds":["/:/host:ro,rslave","vol:/data"]}"#,
        )
        .unwrap();
        assert_eq!(h.privileged, Some(true));
        assert_eq!(h.network_mode.as_deref(), Some("host"));
        assert_eq!(h.pid_mode, None);
        assert_eq!((h.mounts[0].source.as_str(), h.mounts[0].ro), ("/", true));
        assert_eq!(h.mounts[1].kind, None);
    }

    #[test]
    fn hostile_bytes_are_values() {
        for b in [&b""[..], b"[]", b"{\"Config\":7,\"MountPoints\":[1],\"Binds\":{}}", b"\xff\xfe", b"{{{{"] {
            let _ = docker_config(b);
            let _ = docker_hostconfig(b);
            let _ = agent_tasks(b);
            let _ = daemon_json(b);
        }
        let deep = "[".repeat(100_000);
        assert!(docker_config(deep.as_bytes()).is_err());
        assert_eq!(
            pod_dir("kube-system_coredns-5d78c9869d-abcde_8e3d1c2a-1b2c-4d5e-8f90-0a1b2c3d4e5f").map(|p| p.1),
            Some("coredns-5d78c9869d-abcde")
        );
        assert_eq!(pod_dir("a_b_c"), None);
    }

    #[test]
    fn mutated_documents_never_panic() {
        // Every byte of real-shaped documents flipped, cut and repeated (a poor man's fuzzer,
        // deterministic): any outcome but a panic.
        let docs: [&[u8]; 3] = [
            br#"{"Name":"/a","Config":{"Image":"i","Labels":{"io.kubernetes.pod.name":"p"}},"MountPoints":{"/x":{"Source":"/","Destination":"/x","RW":true}}}"#,
            br#"{"Privileged":true,"Binds":["/:/h:ro"],"Mounts":[{"Source":"/s","Target":"/t","ReadOnly":true}]}"#,
            br#"{"Tasks":[{"Arn":"a","Containers":[{"DockerId":"d","Name":"n"}]}]}"#,
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for d in docs {
            for i in 0..d.len() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut m = d.to_vec();
                m[i] = seed as u8;
                for b in [&m[..], &d[..i], &[d, d].concat()[..]] {
                    let _ = (docker_config(b), docker_hostconfig(b), agent_tasks(b), daemon_json(b));
                    let text = String::from_utf8_lossy(b);
                    let _ = (docker_file(&text), pod_dir(&text));
                    let argv: Vec<&[u8]> = b.split(|&c| c == b' ').collect();
                    let _ = (is_dockerd(&argv), dockerd_args(&argv));
                }
            }
        }
    }

    #[test]
    fn agent_tasks_as_documented() {
        // The shape of AWS's example response for the agent introspection API's /v1/tasks.
        let b = br#"{"Tasks":[{"Arn":"arn:aws:ecs:us-west-2:012345678910:task/example5-58ff-46c9-ae05-543f8example","DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Family":"hello_world","Version":"8","Containers":[{"DockerId":"9581a69a761a557fbfce1d0f6745e4af5b9dbfb86b6b2c5c4df156f1a5932ff1","DockerName":"ecs-hello_world-8-mysql-fcae8ac8f9f1d89d8301","Name":"mysql"}]}]}"#;
        let t = agent_tasks(b).unwrap();
        assert_eq!(t[0].family.as_deref(), Some("hello_world"));
        assert_eq!(t[0].containers[0].1.as_deref(), Some("mysql"));
    }
}
