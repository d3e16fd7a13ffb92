//! `curtain collect` on a Docker host (the private engine scripts/test starts, images `FROM
//! scratch` with a static busybox): every container named from the host's own files (docker's
//! config.v2.json and hostconfig.json under the daemon's data root, the ECS agent's introspection
//! API served here from AWS's documented shape), findings filed under their container, and the
//! detectors that know where they are: a shell exec'd into a container late is reported, one a
//! person starts on the host is not; a privileged container, one with the daemon's socket, and a
//! host shell nsenter'ed into a container are.

use crate::common::*;
use crate::require_root;
use curtain_model::ContainerRow;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn out(o: Output) -> String {
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    const TAG: &str = "curtain-test/host";
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy("/bin/busybox", dir.path().join("busybox")).expect("busybox-static (scripts/test installs it)");
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]\n",
        )
        .unwrap();
        docker(&["build", "-q", "-t", TAG, dir.path().to_str().unwrap()]);
    });
    TAG
}

/// The containers and host processes of one test, removed when it ends (by id and pid, only
/// those it started).
#[derive(Default)]
struct Lab {
    ids: Vec<String>,
    children: Vec<Child>,
}

impl Lab {
    /// Starts a container (no network) running `sleep`; returns (id, name).
    fn run(&mut self, what: &str, args: &[&str]) -> (String, String) {
        let name = format!("curtain-host-{what}-{}", std::process::id());
        let mut a = vec!["run", "-d", "--name", &name, "--network", "none"];
        a.extend_from_slice(args);
        a.extend_from_slice(&[image(), "sh", "-c", "exec sleep 100000"]);
        let id = out(docker(&a));
        self.ids.push(id.clone());
        (id, name)
    }

    /// Starts a host process in a session of its own (not the responder's), returns its pid.
    fn host(&mut self, argv: &[&str]) -> u32 {
        // Nothing inherited: a process left behind must not hold the test harness's output open.
        let c = Command::new("setsid")
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("setsid");
        let pid = c.id();
        self.children.push(c);
        pid
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            // Each leads a session and a process group of its own (setsid): the group ends,
            // the shell's sleep with it, by that pid alone.
            if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for id in &self.ids {
            let _ = Command::new("docker").env("DOCKER_HOST", docker_host()).args(["rm", "-f", id]).output();
        }
    }
}

fn containers(archive: &Path) -> Vec<ContainerRow> {
    let a = Archive::load(archive);
    let mut rows = Vec::new();
    let mut names: Vec<&String> = a.members.keys().filter(|k| k.starts_with("tables/containers.")).collect();
    names.sort_by_key(|n| (n.len(), n.to_string()));
    for n in names {
        for l in a.members[n].split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            rows.push(serde_json::from_slice(l).unwrap());
        }
    }
    rows
}

fn row<'a>(rows: &'a [ContainerRow], id: &str) -> &'a ContainerRow {
    rows.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no row for {id} in {rows:?}"))
}

fn findings(archive: &Path) -> Vec<Value> {
    let o = Command::new(curtain()).args(["findings", "--format", "json"]).arg(archive).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["findings"].as_array().unwrap().clone()
}

fn socket_path() -> String {
    docker_host().strip_prefix("unix://").expect("a unix socket").to_string()
}

/// Waits until the shell exec'd into a container runs as itself (busybox sh, its sleep a child).
fn wait_for(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(20), "{what} did not happen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root and a Docker Engine (scripts/test starts a private one)"]
fn collect_on_a_docker_host_names_each_container_and_judges_each_process_in_its_own() {
    require_root!();
    let mut lab = Lab::default();
    let started = Instant::now();
    let ecs_task = "arn:aws:ecs:us-west-2:111122223333:task/prod/0123456789abcdef0123456789abcdef";
    let (ecs, ecs_name) = lab.run(
        "ecs",
        &[
            "--label",
            &format!("com.amazonaws.ecs.task-arn={ecs_task}"),
            "--label",
            "com.amazonaws.ecs.container-name=web",
            "--label",
            "com.amazonaws.ecs.task-definition-family=shop",
            "--label",
            "com.amazonaws.ecs.task-definition-version=7",
            "--label",
            "com.amazonaws.ecs.cluster=prod",
            "--label",
            "unrelated=kept in the raw file only",
        ],
    );
    let (k8s, _) = lab.run(
        "k8s",
        &[
            "--label",
            "io.kubernetes.pod.name=cart-7d9f",
            "--label",
            "io.kubernetes.pod.namespace=shop",
            "--label",
            "io.kubernetes.container.name=cart",
            "--label",
            "io.kubernetes.pod.uid=8e3d1c2a-1b2c-4d5e-8f90-0a1b2c3d4e5f",
        ],
    );
    // `docker run --privileged`, through scripts/runc-capdrop where the engine knows it (scripts/test
    // adds it as the runtime `curtain-capdrop`): a machine that lacks a capability cannot grant
    // it, and docker records the container as privileged all the same.
    let runtimes = out(docker(&["info", "--format", "{{json .Runtimes}}"]));
    let mut priv_args = vec!["--privileged"];
    if runtimes.contains("\"curtain-capdrop\"") {
        priv_args.extend(["--runtime", "curtain-capdrop"]);
    }
    let (privileged, priv_name) = lab.run("priv", &priv_args);
    // Privileged and in the host's pid namespace: the escape that enters the host's mounts
    // (`nsenter -t PID -m`) from inside a container.
    let (escape, _) = lab.run("escape", &[priv_args.as_slice(), &["--pid", "host"][..]].concat());
    let sock = socket_path();
    let (socket, _) = lab.run("sock", &["-v", &format!("{sock}:/run/inner.sock")]);
    let k8s_pid = out(docker(&["inspect", "-f", "{{.State.Pid}}", &k8s]));

    // More than a minute after the containers' inits (the rule's grace): a shell exec'd into one,
    // a person's shell on the host, and a host shell entered into a container's namespaces.
    std::thread::sleep(Duration::from_secs(62).saturating_sub(started.elapsed()));
    docker(&["exec", "-d", &ecs, "sh", "-c", "sleep 100001; :"]);
    let host_sh = lab.host(&["sh", "-c", "sleep 100002; :"]);
    // Into the mount namespace of a host process (pid 1's, on most hosts; here the host shell's:
    // this machine's pid 1 lets nobody read its namespace links).
    let host_pid = host_sh.to_string();
    docker(&["exec", "-d", &escape, "nsenter", "-t", &host_pid, "-m", "sh", "-c", "sleep 100004; :"]);
    let entered = lab.host(&["nsenter", "-t", &k8s_pid, "-m", "-n", "sh", "-c", "sleep 100003; :"]);
    for sleep in ["sleep 100001", "sleep 100004"] {
        wait_for(sleep, || Command::new("pgrep").args(["-f", sleep]).output().is_ok_and(|o| o.status.success()));
    }
    std::thread::sleep(Duration::from_millis(300));

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("host.tar.zst");
    let o = run(Command::new(curtain())
        .env("CURTAIN_ECS_AGENT_URI", "http://127.0.0.1:9")
        .arg("collect")
        .arg("-o")
        .arg(&archive));
    assert!(o.status.success());
    // The summary goes to standard error (standard output may be the archive).
    let printed = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    eprintln!("{printed}");
    for name in [&ecs_name, &priv_name] {
        assert!(printed.contains(&format!("docker {name} (")), "{name} not named:\n{printed}");
    }
    assert!(printed.contains(
        "ECS task arn:aws:ecs:us-west-2:111122223333:task/prod/0123456789abcdef0123456789abcdef (shop:7) container web"
    ));
    assert!(printed.contains("pod shop/cart-7d9f container cart"));
    assert!(printed.contains("PRIVILEGED"));

    let rows = containers(&archive);
    let e = row(&rows, &ecs);
    assert_eq!(e.name.as_deref(), Some(ecs_name.as_str()));
    assert_eq!(e.image.as_deref(), Some("curtain-test/host"));
    assert!(e.image_digest.as_deref().is_some_and(|d| d.starts_with("sha256:")));
    let task = e.ecs.as_ref().unwrap();
    assert_eq!(
        (task.task_arn.as_deref(), task.family.as_deref(), task.revision.as_deref(), task.cluster.as_deref()),
        (Some(ecs_task), Some("shop"), Some("7"), Some("prod"))
    );
    assert_eq!(task.container_name.as_deref(), Some("web"));
    assert!(!e.labels.contains_key("unrelated"), "only the labels of interest are kept");
    assert_eq!(e.sources["name"], "docker-config");
    assert_eq!(e.network_mode.as_deref(), Some("none"));
    assert_eq!(e.privileged, Some(false));
    let pod = row(&rows, &k8s).pod.clone().unwrap();
    assert_eq!((pod.namespace.as_deref(), pod.name.as_deref()), (Some("shop"), Some("cart-7d9f")));
    assert_eq!(pod.container_name.as_deref(), Some("cart"));
    assert_eq!(row(&rows, &privileged).privileged, Some(true));
    assert_eq!(row(&rows, &privileged).sources["privileged"], "docker-hostconfig");
    let m = &row(&rows, &socket).mounts;
    assert!(m.iter().any(|m| m.source == sock && m.destination == "/run/inner.sock"), "{m:?}");
    // The raw files behind them are kept, indexed, and rebuild the same table.
    let a = Archive::load(&archive);
    let raw = a.members.keys().filter(|k| k.starts_with("raw/host/") && k.contains(&ecs)).count();
    assert_eq!(raw, 2, "config.v2.json and hostconfig.json of the ECS container");
    let indexed = a.members.iter().any(|(k, v)| {
        k.starts_with("raw/index") && String::from_utf8_lossy(v).contains(&format!("/containers/{ecs}/config.v2.json"))
    });
    assert!(indexed, "the host files are in the index");
    let o = run(Command::new(curtain()).arg("reparse").arg(&archive));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("identical tables/containers.jsonl"));

    let f = findings(&archive);
    let by = |detector: &str| -> Vec<&Value> { f.iter().filter(|x| x["detector"] == detector).collect() };
    // The late shell in the ECS container, filed under it; nothing for the host's shells.
    let shells = by("interactive-shell");
    let exec_sh = shells
        .iter()
        .find(|x| x["summary"].as_str().unwrap().contains("sleep 100001"))
        .unwrap_or_else(|| panic!("the exec'd shell is not reported: {shells:#?}"));
    assert!(exec_sh["container"].as_str().unwrap().contains(&ecs_name), "{exec_sh}");
    for pid in [host_sh, entered] {
        assert!(!shells.iter().any(|x| x["pid"] == pid), "a host shell (pid {pid}) reported: {shells:#?}");
    }
    // The privileged container and the one holding the daemon's socket.
    let exposed = by("exposed-container");
    let about = |id: &str| exposed.iter().find(|x| x["container"].as_str().unwrap().contains(&id[..12])).copied();
    assert!(about(&privileged).unwrap()["summary"].as_str().unwrap().contains("runs privileged"));
    let s = about(&socket).unwrap()["summary"].as_str().unwrap().to_string();
    assert!(s.contains(&format!("daemon socket {sock} at /run/inner.sock")), "{s}");
    assert!(about(&ecs).is_none() && about(&k8s).is_none(), "{exposed:#?}");
    // The host shell inside the Kubernetes container's mount and network namespaces.
    let joined = by("joined-container-ns");
    let j = joined.iter().find(|x| x["pid"] == entered).unwrap_or_else(|| panic!("nsenter not reported: {joined:#?}"));
    assert!(j["summary"].as_str().unwrap().contains("mount and network namespace"), "{j}");
    assert!(!joined.iter().any(|x| x["pid"] == host_sh));

    // The process of the escape container that entered the host's mount namespace; none of
    // the other containers' processes.
    let roots = by("container-host-root");
    let r = roots
        .iter()
        .find(|x| x["summary"].as_str().unwrap().contains("sleep 100004"))
        .unwrap_or_else(|| panic!("the escape is not reported: {roots:#?}"));
    assert!(r["summary"].as_str().unwrap().contains("is in the host's mount namespace"), "{r}");
    assert!(r["container"].as_str().unwrap().contains(&escape[..12]), "{r}");
    for id in [&ecs, &k8s, &privileged, &socket] {
        assert!(!roots.iter().any(|x| x["container"].as_str().unwrap().contains(&id[..12])), "{roots:#?}");
    }

    // The tree, by container, the host's own processes as "host".
    let o = run(Command::new(curtain()).arg("tree").arg(&archive));
    let tree = String::from_utf8_lossy(&o.stdout);
    assert!(tree.lines().next().unwrap().starts_with("== host ("), "{tree}");
    assert!(tree.contains(&format!("== docker {ecs_name} ({}) task shop:7", &ecs[..12])), "{tree}");

    // Timeline rows and sockets name their container as the findings do.
    let o = run(Command::new(curtain()).arg("timeline").arg(&archive));
    assert!(o.status.success());
    let rows: Vec<Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let started = rows
        .iter()
        .find(|r| {
            r["timestamp_desc"] == "Process Start" && r["cmdline"].as_str().is_some_and(|c| c.contains("sleep 100001"))
        })
        .unwrap_or_else(|| panic!("no start of the exec'd shell's sleep"));
    assert_eq!(started["container"], exec_sh["container"], "{started}");
    let init = rows
        .iter()
        .find(|r| r["timestamp_desc"] == "Container Init Start" && r["message"].as_str().unwrap().contains(&ecs_name));
    assert!(
        init.is_some_and(|r| r["message"].as_str().unwrap().contains(&format!("container docker {ecs_name} ("))),
        "{init:?}"
    );
    assert!(rows.iter().any(|r| r["pid"] == host_sh && r["container"] == "host"), "the host's shell is the host's");
    let o = run(Command::new(curtain()).arg("sockets").arg(&archive));
    let sockets = String::from_utf8_lossy(&o.stdout);
    assert!(sockets.lines().next().unwrap().ends_with("OWNERS  CONTAINER"), "{sockets}");
    assert!(sockets.lines().skip(1).any(|l| l.ends_with("  host")), "{sockets}");
}

/// Serves AWS's documented `/v1/tasks` shape, naming `docker_id`, to `n` requests.
fn serve_agent(docker_id: &str, n: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let body = format!(
        r#"{{"Tasks":[{{"Arn":"arn:aws:ecs:us-west-2:012345678910:task/example5-58ff-46c9-ae05-543f8example","DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Family":"hello_world","Version":"8","Containers":[{{"DockerId":"{docker_id}","DockerName":"ecs-hello_world-8-mysql-fcae8ac8f9f1d89d8301","Name":"mysql","Volumes":[{{"Source":"/var/lib/ecs/data/metadata/task/mysql","Destination":"/opt/ecs/metadata/4c1e2e71"}}]}},{{"DockerId":"bf25c5c5b2d4dba68846c7236e75b6915e1e778d31611e3c6a06831e39814a15","DockerName":"ecs-hello_world-8-wordpress-e8bfddf9b488dff36c00","Name":"wordpress"}}]}}]}}"#
    );
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut paths = Vec::new();
        for c in l.incoming().take(n) {
            let mut c = c.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let len = c.read(&mut buf).unwrap();
                if len == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..len]);
            }
            let req = String::from_utf8_lossy(&req).to_string();
            paths.push(req.split_whitespace().nth(1).unwrap_or("").to_string());
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        paths
    });
    (port, h)
}

#[test]
#[ignore = "needs root and a Docker Engine (scripts/test starts a private one)"]
fn the_ecs_agent_introspection_api_names_the_task_of_a_container() {
    require_root!();
    let mut lab = Lab::default();
    let (id, _) = lab.run("agent", &[]);
    let (port, server) = serve_agent(&id, 1);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("agent.tar");
    let o = run(Command::new(curtain())
        .env("CURTAIN_ECS_AGENT_URI", format!("http://127.0.0.1:{port}"))
        .arg("collect")
        .arg("-o")
        .arg(&archive));
    assert!(o.status.success());
    assert_eq!(server.join().unwrap(), ["/v1/tasks"]);
    let rows = containers(&archive);
    let e = row(&rows, &id).ecs.clone().expect("the agent's task");
    assert_eq!(
        e.task_arn.as_deref(),
        Some("arn:aws:ecs:us-west-2:012345678910:task/example5-58ff-46c9-ae05-543f8example")
    );
    assert_eq!((e.family.as_deref(), e.revision.as_deref()), (Some("hello_world"), Some("8")));
    assert_eq!((e.container_name.as_deref(), e.known_status.as_deref()), (Some("mysql"), Some("RUNNING")));
    assert_eq!(row(&rows, &id).sources["ecs"], "ecs-agent");
    // Docker's own name stays: the agent only fills what docker's files did not say.
    assert!(row(&rows, &id).name.as_deref().unwrap().starts_with("curtain-host-agent-"));
    // Kept raw, as received, and rebuilt the same.
    let a = Archive::load(&archive);
    assert!(String::from_utf8_lossy(&a.members["raw/ecs/agent-tasks.json"]).contains("hello_world"));
    let o = run(Command::new(curtain()).arg("reparse").arg(&archive));
    assert!(o.status.success());
}
