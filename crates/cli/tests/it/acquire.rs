//! `curtain acquire` against a real Docker Engine (the private one scripts/test starts): images
//! built `FROM scratch` with a static busybox, containers with a listener, an outbound connection
//! and a deleted executable, one with a read-only root filesystem and one with no shell. ECS Exec
//! and kubectl are stand-ins on PATH (tests/fake/aws, tests/fake/kubectl: what each stands for
//! is said at its top) that run the same containers through `docker exec`, as no AWS account or
//! Kubernetes cluster can be reached here; ECS's preflight runs against the AWS emulator.

use crate::common::*;
use crate::require_root;
use crate::static_collector::static_collector;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The images, built once per run: `shell` (busybox installed, /tmp), `noshell` (busybox
/// alone, no `sh` on PATH).
fn images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy("/bin/busybox", dir.path().join("busybox")).expect("busybox-static (scripts/test installs it)");
        for (tag, file) in [
            (
                "curtain-test/shell",
                "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]\n\
                 RUN [\"/bin/busybox\",\"mkdir\",\"-p\",\"/tmp\",\"/var/tmp\"]\n",
            ),
            (
                "curtain-test/noshell",
                "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\",\"sleep\",\"100000\"]\n",
            ),
        ] {
            std::fs::write(dir.path().join("Dockerfile"), file).unwrap();
            docker(&["build", "-q", "-t", tag, dir.path().to_str().unwrap()]);
        }
    });
}

/// The containers of one test, removed when it ends (by id, only those it started).
struct Lab {
    ids: Vec<String>,
}

/// A listener (nc serving cat), a connection to it, and a program whose file was deleted.
const WORKLOAD: &str = "nc -ll -p 8080 -e cat & sleep 1; (sleep 100000 | nc 127.0.0.1 8080) & \
    cp /bin/busybox /tmp/sleep; /tmp/sleep 100000 & sleep 1; rm /tmp/sleep; exec sleep 100000";

impl Lab {
    fn new() -> Lab {
        images();
        Lab { ids: Vec::new() }
    }

    /// Starts a container (no network but its loopback); returns (id, name).
    fn run(&mut self, what: &str, args: &[&str]) -> (String, String) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("curtain-{what}-{}-{n}", std::process::id());
        let mut a = vec!["run", "-d", "--name", &name, "--network", "none"];
        a.extend_from_slice(args);
        let id = String::from_utf8(docker(&a).stdout).unwrap().trim().to_string();
        self.ids.push(id.clone());
        (id, name)
    }

    fn web(&mut self) -> (String, String) {
        let ids = self.run("web", &["curtain-test/shell", "sh", "-c", WORKLOAD]);
        // Up once the connection is made (both ends) and the executable deleted.
        let ready = "[ \"$(netstat -tn | grep -c ESTABLISHED)\" -ge 2 ] && [ ! -e /tmp/sleep ]";
        for _ in 0..100 {
            let o = Command::new("docker")
                .env("DOCKER_HOST", docker_host())
                .args(["exec", &ids.0, "sh", "-c", ready])
                .output()
                .unwrap();
            if o.status.success() {
                return ids;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the workload did not start in {}", ids.1);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = Command::new("docker").env("DOCKER_HOST", docker_host()).args(["rm", "-f", id]).output();
        }
    }
}

/// `curtain acquire ARGS` with the docker host, the stand-ins on PATH and the static collector.
fn acquire(args: &[&str], env: &[(&str, &str)]) -> Output {
    let fake = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fake");
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new(curtain());
    c.arg("acquire").args(args).arg("--collector").arg(static_collector());
    c.env("DOCKER_HOST", docker_host()).env("PATH", path);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    eprintln!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    o
}

fn records(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("acquisition.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn record<'a>(recs: &'a [Value], name: &str) -> &'a Value {
    recs.iter().find(|r| r["target"]["docker_name"] == name || r["label"].as_str().unwrap().ends_with(name)).unwrap()
}

/// What a verified archive of the web workload must show, and that nothing was left behind.
fn check_web(dir: &Path, rec: &Value, id: &str, transport: &str) {
    assert_eq!(rec["verified"], true, "{rec}");
    assert_eq!(rec["transport"], transport);
    assert_eq!(rec["method"], "binary");
    assert!(rec["error"].is_null());
    let file = dir.join(rec["archive"].as_str().unwrap());
    assert_eq!(rec["sha256"].as_str().unwrap(), sha256_file(&file));
    assert_eq!(rec["bytes"].as_u64().unwrap(), std::fs::metadata(&file).unwrap().len());
    let o = run(Command::new(curtain()).arg("verify").arg(&file));
    assert!(o.status.success());
    let a = Archive::load(&file);
    let acq = a.manifest.acquisition.as_ref().expect("the manifest says how it was acquired");
    if transport == "ecs-exec" {
        // Without the preflight (no AWS here) the runtime id is not known; the task is.
        assert_eq!(acq.target.task_arn.as_ref(), rec["target"]["task_arn"].as_str().map(String::from).as_ref());
    } else {
        assert_eq!(acq.target.runtime_id.as_deref(), Some(id));
    }
    assert_eq!(acq.transport, transport);
    let pushed = acq.pushed.as_ref().unwrap();
    assert_eq!(pushed.sha256, sha256_file(&static_collector()));
    // The listener, the connection, the deleted executable.
    let port = |e: &Option<curtain_model::Endpoint>| e.as_ref().map(|e| e.port);
    let listen = a.sockets.iter().find(|s| s.state == "LISTEN" && port(&s.local) == Some(8080));
    let listen = listen.unwrap_or_else(|| panic!("no listener on 8080: {:?}", a.sockets));
    let nc = listen.owners.first().expect("the listener's owner");
    assert_eq!(a.process(nc.pid).comm_lossy(), "nc");
    assert!(a
        .sockets
        .iter()
        .any(|s| s.state == "ESTABLISHED" && port(&s.remote) == Some(8080) && !s.owners.is_empty()));
    let deleted =
        a.processes.iter().find(|p| p.exe.as_ref().is_some_and(|e| e.deleted == Some(true))).expect("the deleted exe");
    assert!(deleted.exe.as_ref().unwrap().sha256.is_some(), "a deleted executable still hashes");
    // Removed, as the record says, and nothing else written.
    assert_eq!(rec["pushed"]["removed"], true);
    let left =
        docker(&["exec", id, "sh", "-c", "ls -a /tmp /var/tmp /dev /dev/shm 2>/dev/null | grep -c curtain || true"]);
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "0", "the collector was left in the target");
}

#[test]
#[ignore = "needs root and a Docker Engine (scripts/test starts a private one)"]
fn acquire_docker_takes_each_container_through_a_pipe_and_says_what_is_missing() {
    require_root!();
    let mut lab = Lab::new();
    let (web, web_name) = lab.web();
    let (ro, ro_name) = lab.run("ro", &["--read-only", "curtain-test/shell", "sh", "-c", "exec sleep 100000"]);
    let (_, bare_name) = lab.run("bare", &["curtain-test/noshell"]);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("acq");
    let o = acquire(&["docker", &web_name, &ro_name, &bare_name, "-o", dir.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "one target cannot be acquired");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("2 of 3 verified"), "{table}");
    let recs = records(&dir);
    assert_eq!(recs.len(), 3);
    check_web(&dir, record(&recs, &web_name), &web, "docker");
    let r = record(&recs, &ro_name);
    assert_eq!(r["verified"], true, "a read-only root filesystem still has a tmpfs: {r}");
    assert!(r["pushed"]["path"].as_str().unwrap().starts_with("/dev/"), "{r}");
    let _ = ro;
    let bare = record(&recs, &bare_name);
    assert_eq!(bare["verified"], false);
    assert!(bare["archive"].is_null());
    assert!(bare["error"].as_str().unwrap().contains("no shell"), "{bare}");
    for r in &recs {
        assert!(r["operator"].as_str().unwrap().contains("uid 0"));
        assert!(r["started_at"].as_str().unwrap() <= r["ended_at"].as_str().unwrap());
    }
    // Every archive file beside its sidecar, nothing else.
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    // The folder is never reused.
    let again = acquire(&["docker", &web_name, "-o", dir.to_str().unwrap()], &[]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
#[ignore = "needs root and a Docker Engine (scripts/test starts a private one)"]
fn acquire_docker_over_a_real_terminal() {
    require_root!();
    let mut lab = Lab::new();
    let (web, web_name) = lab.web();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("acq");
    let o = acquire(&["docker", &web_name, "--tty", "-o", dir.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0));
    let recs = records(&dir);
    check_web(&dir, &recs[0], &web, "docker-tty");
}

/// The map the fake `aws` reads, for one task of two containers.
fn ecs_map(dir: &Path, task: &str, containers: &[(&str, &str)]) -> PathBuf {
    let map: serde_json::Map<String, Value> =
        containers.iter().map(|(c, d)| (format!("{task}/{c}"), Value::String(d.to_string()))).collect();
    let p = dir.join("ecs-map.json");
    std::fs::write(&p, serde_json::to_vec(&map).unwrap()).unwrap();
    p
}

#[test]
#[ignore = "needs root and a Docker Engine (scripts/test starts a private one)"]
fn acquire_ecs_through_ecs_exec_survives_the_session_and_catches_a_flipped_byte() {
    require_root!();
    let mut lab = Lab::new();
    let (web, web_name) = lab.web();
    let out = tempfile::tempdir().unwrap();
    let task = "0f3c4e5d6a7b8c9d0e1f2a3b4c5d6e7f";
    let arn = format!("arn:aws:ecs:eu-west-1:111122223333:task/prod/{task}");
    let map = ecs_map(out.path(), task, &[("app", &web_name)]);
    let map_s = map.to_str().unwrap();
    // No AWS reachable: the caller's identity is said unknown, and the session goes through the
    // fake `aws`, banners, CRLF, 1024-byte chunks and all.
    let env =
        [("CURTAIN_FAKE_ECS_MAP", map_s), ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"), ("AWS_REGION", "eu-west-1")];
    let base = ["ecs", "--cluster", "prod", "--task", &arn, "--skip-preflight", "--container", "app"];

    let dir = out.path().join("clean");
    let o = acquire(&[&base[..], &["-o", dir.to_str().unwrap()]].concat(), &env);
    assert_eq!(o.status.code(), Some(0));
    let recs = records(&dir);
    assert_eq!(recs[0]["label"], format!("prod_{task}_app"));
    assert_eq!(recs[0]["target"]["task_arn"], arn.as_str());
    assert_eq!(recs[0]["target"]["account"], "111122223333");
    assert_eq!(recs[0]["attempts"], 1);
    check_web(&dir, &recs[0], &web, "ecs-exec");

    // One bit flipped in the first session's output: caught, and the second attempt is whole.
    let dir = out.path().join("flip-once");
    let env1 = [env[0], env[1], env[2], ("CURTAIN_FAKE_ECS_FLIP", "6000")];
    let o = acquire(&[&base[..], &["-o", dir.to_str().unwrap()]].concat(), &env1);
    assert_eq!(o.status.code(), Some(0));
    let recs = records(&dir);
    assert_eq!(recs[0]["attempts"], 2, "{}", recs[0]);
    check_web(&dir, &recs[0], &web, "ecs-exec");

    // Flipped in every session: failed, never an archive that is silently wrong.
    let dir = out.path().join("flip-always");
    std::fs::remove_file(format!("{map_s}.flips")).unwrap();
    let env9 = [env[0], env[1], env[2], ("CURTAIN_FAKE_ECS_FLIP", "6000"), ("CURTAIN_FAKE_ECS_FLIP_SESSIONS", "99")];
    let o = acquire(&[&base[..], &["-o", dir.to_str().unwrap()]].concat(), &env9);
    assert_eq!(o.status.code(), Some(1));
    let recs = records(&dir);
    assert_eq!(recs[0]["verified"], false);
    assert_eq!(recs[0]["attempts"], 3);
    assert!(recs[0]["error"].as_str().unwrap().contains("transfer"), "{}", recs[0]);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, vec![std::ffi::OsString::from("acquisition.jsonl")]);
    // The collector pushed by a failed attempt is removed all the same.
    let left = docker(&["exec", &web, "sh", "-c", "ls -a /tmp /dev | grep -c curtain || true"]);
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "0");
}

#[test]
#[ignore = "needs root and a Docker Engine (scripts/test starts a private one)"]
fn acquire_k8s_takes_every_container_of_the_selected_pods() {
    require_root!();
    let mut lab = Lab::new();
    let (web, web_name) = lab.web();
    let (side, side_name) = lab.run("side", &["curtain-test/shell", "sh", "-c", "exec sleep 100000"]);
    let out = tempfile::tempdir().unwrap();
    let pods = serde_json::json!({
        "shop/web-7d9f": {"uid": "6a1e0c3e-1b7e-4c52-9d1e-2f0a6f1c9b11", "labels": {"app": "web"},
                          "containers": {"app": web_name, "sidecar": side_name}},
        "shop/db-0": {"uid": "0c9b", "labels": {"app": "db"}, "containers": {"db": side_name}},
    });
    let file = out.path().join("pods.json");
    std::fs::write(&file, pods.to_string()).unwrap();
    let dir = out.path().join("acq");
    let o = acquire(
        &["k8s", "-l", "app=web", "-n", "shop", "-o", dir.to_str().unwrap()],
        &[("CURTAIN_FAKE_K8S", file.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(0));
    let recs = records(&dir);
    assert_eq!(recs.len(), 2, "both containers of the selected pod, not the other pod");
    let app = recs.iter().find(|r| r["label"] == "shop_web-7d9f_app").unwrap();
    assert_eq!(app["target"]["pod_uid"], "6a1e0c3e-1b7e-4c52-9d1e-2f0a6f1c9b11");
    assert_eq!(app["target"]["runtime_id"], web.as_str());
    check_web(&dir, app, &web, "kubectl");
    let sc = recs.iter().find(|r| r["label"] == "shop_web-7d9f_sidecar").unwrap();
    assert_eq!(sc["verified"], true);
    assert_eq!(sc["target"]["runtime_id"], side.as_str());
}

#[test]
#[ignore = "needs the AWS emulator (scripts/test installs and starts it)"]
fn acquire_ecs_preflight_says_why_a_task_cannot_be_reached() {
    let url = std::env::var("CURTAIN_MOTO_URL").expect("CURTAIN_MOTO_URL: run scripts/test");
    let python = std::env::var("CURTAIN_MOTO_PYTHON").expect("CURTAIN_MOTO_PYTHON: run scripts/test");
    let cluster = format!("acq-{}", std::process::id());
    // A running Fargate task started without enableExecuteCommand.
    let seed = format!(
        r#"
import boto3, json, urllib.request
# Pin the task state machine, as scripts/moto-seed.py does: each DescribeTasks would move it on.
urllib.request.urlopen(urllib.request.Request("{url}/moto-api/state-manager/set-transition", method="POST",
    data=json.dumps({{"model_name": "ecs::task", "transition": {{"progression": "manual", "times": 1000000}}}}).encode())).read()
c = dict(endpoint_url="{url}", aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
ec2, ecs = boto3.client("ec2", **c), boto3.client("ecs", **c)
vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={{"Value": True}})
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
sg = ec2.create_security_group(GroupName="{cluster}", Description="app", VpcId=vpc)["GroupId"]
ecs.create_cluster(clusterName="{cluster}")
ecs.register_task_definition(family="{cluster}", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
    memory="512", containerDefinitions=[{{"name": "web", "image": "nginx", "essential": True, "memory": 512, "cpu": 256}}])
t = ecs.run_task(cluster="{cluster}", taskDefinition="{cluster}", count=1, launchType="FARGATE",
    networkConfiguration={{"awsvpcConfiguration": {{"subnets": [subnet], "securityGroups": [sg]}}}})["tasks"][0]
print(json.dumps(t["taskArn"]))
"#
    );
    let o = Command::new(&python).arg("-c").arg(&seed).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let arn: String = serde_json::from_slice(&o.stdout).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut c = Command::new(curtain());
    c.args(["acquire", "ecs", "--cluster", &cluster, "--task", &arn, "-o"]).arg(out.path().join("acq"));
    c.env("AWS_ENDPOINT_URL", &url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("was started without enableExecuteCommand"), "{err}");
    assert!(err.contains("--enable-execute-command") && err.contains("ssmmessages:CreateControlChannel"), "{err}");
    assert!(!out.path().join("acq").exists(), "nothing is written when no target can be reached");
}

#[test]
#[ignore = "needs root and a Docker Engine (scripts/test starts a private one)"]
fn acquire_ecs_by_address_from_the_register_and_recorded_in_it() {
    require_root!();
    let mut lab = Lab::new();
    let (web, web_name) = lab.web();
    let out = tempfile::tempdir().unwrap();
    // 10.0.0.139: held by task aaaa until 09:00, then by bbbb, still running.
    let (old, new) = ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    let db = crate::register::register_of(
        out.path(),
        crate::register::task_events(
            old,
            "10.0.0.139",
            "eni-aaaa",
            "2026-11-01T08:00:00Z",
            Some("2026-11-01T09:00:00Z"),
        )
        .into_iter()
        .chain(crate::register::task_events(new, "10.0.0.139", "eni-bbbb", "2026-11-01T10:00:00Z", None)),
    );
    let map = ecs_map(out.path(), new, &[("FargateApp", &web_name)]);
    let env = [("CURTAIN_FAKE_ECS_MAP", map.to_str().unwrap()), ("AWS_ENDPOINT_URL", "http://127.0.0.1:9")];
    let db_s = db.to_str().unwrap();

    // At 08:30 the address was the stopped task's: said, with what the register knows, and refused.
    let dir = out.path().join("old");
    let o = acquire(
        &[
            "ecs",
            "--cluster",
            "FargateCluster",
            "--ip",
            "10.0.0.139",
            "--at",
            "2026-11-01T08:30:00Z",
            "--db",
            db_s,
            "--skip-preflight",
            "--container",
            "FargateApp",
            "-o",
            dir.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(old) && err.contains("has stopped") && err.contains("10.0.0.139"), "{err}");
    assert!(!dir.exists());

    // Now: the running task, acquired, and the register records it against the task.
    let dir = out.path().join("now");
    let o = acquire(
        &[
            "ecs",
            "--cluster",
            "FargateCluster",
            "--ip",
            "10.0.0.139",
            "--db",
            db_s,
            "--skip-preflight",
            "--container",
            "FargateApp",
            "-o",
            dir.to_str().unwrap(),
        ],
        &env,
    );
    // Both tasks held the address at some time: without --at the question is ambiguous.
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let o = acquire(
        &[
            "ecs",
            "--cluster",
            "FargateCluster",
            "--ip",
            "10.0.0.139",
            "--at",
            "2026-11-01T11:00:00Z",
            "--db",
            db_s,
            "--skip-preflight",
            "--container",
            "FargateApp",
            "-o",
            dir.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(0));
    let recs = records(&dir);
    assert!(recs[0]["target"]["task_arn"].as_str().unwrap().ends_with(new));
    check_web(&dir, &recs[0], &web, "ecs-exec");
    let w = run(Command::new(curtain()).args(["whois", "10.0.0.139", "--at", "2026-11-01T11:00:00Z", "--db", db_s]));
    let text = String::from_utf8_lossy(&w.stdout);
    assert!(text.contains("acquired ") && text.contains("container FargateApp") && text.contains("verified"), "{text}");
    assert!(text.contains(recs[0]["sha256"].as_str().unwrap()), "{text}");
}

#[test]
#[ignore = "needs root and a Docker Engine (scripts/test starts a private one)"]
fn a_silent_target_times_out_and_ctrl_c_keeps_what_was_done() {
    require_root!();
    let mut lab = Lab::new();
    let (_, web_name) = lab.web();
    let out = tempfile::tempdir().unwrap();
    let (fast, silent) = ("11111111111111111111111111111111", "22222222222222222222222222222222");
    let map = ecs_map(out.path(), fast, &[("app", &web_name)]);
    // The silent task's container exists as far as the map goes; its session never answers.
    let mut m: Value = serde_json::from_slice(&std::fs::read(&map).unwrap()).unwrap();
    m[format!("{silent}/app")] = Value::String(web_name.clone());
    std::fs::write(&map, m.to_string()).unwrap();
    let env = [
        ("CURTAIN_FAKE_ECS_MAP", map.to_str().unwrap()),
        ("CURTAIN_FAKE_ECS_HANG", silent),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ];
    let arn = |id: &str| format!("arn:aws:ecs:eu-west-1:111122223333:task/prod/{id}");
    let (a, b) = (arn(fast), arn(silent));

    // --timeout bounds each target: the silent one fails in about that time, the other verifies.
    let dir = out.path().join("timeout");
    let t = std::time::Instant::now();
    let o = acquire(
        &[
            "ecs",
            "--cluster",
            "prod",
            "--task",
            &a,
            &b,
            "--skip-preflight",
            "--container",
            "app",
            "--timeout",
            "4",
            "-o",
            dir.to_str().unwrap(),
        ],
        &env,
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(40), "{:?}", t.elapsed());
    assert_eq!(o.status.code(), Some(1));
    let recs = records(&dir);
    let r = |id: &str| recs.iter().find(|r| r["target"]["task_arn"].as_str().unwrap().ends_with(id)).unwrap();
    assert_eq!(r(fast)["verified"], true);
    assert_eq!(r(silent)["verified"], false);
    assert!(r(silent)["error"].as_str().unwrap().contains("--timeout"), "{}", r(silent));

    // Ctrl-C while the silent one waits: the done target keeps its result, the other says why.
    let dir = out.path().join("interrupted");
    let fake = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fake");
    let mut c = Command::new(curtain());
    c.args(["acquire", "ecs", "--cluster", "prod", "--task", &a, &b, "--skip-preflight", "--container", "app"])
        .args(["--parallel", "1", "-o", dir.to_str().unwrap(), "--collector"])
        .arg(static_collector())
        .env("DOCKER_HOST", docker_host())
        .env("PATH", format!("{}:{}", fake.display(), std::env::var("PATH").unwrap_or_default()));
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let log = dir.join("acquisition.jsonl");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&log).map_or(true, |s| s.lines().count() < 1) {
        assert!(std::time::Instant::now() < until, "the first target never ended");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::INT).unwrap();
    let t = std::time::Instant::now();
    let status = child.wait().unwrap();
    assert!(t.elapsed() < std::time::Duration::from_secs(20), "Ctrl-C took {:?}", t.elapsed());
    assert_eq!(status.code(), Some(1));
    let recs = records(&dir);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["verified"], true);
    assert!(recs[1]["error"].as_str().unwrap().contains("interrupted"), "{}", recs[1]);
}

/// The workload's processes (not the responder's, not the acquisition's own), keyed by pid.
fn workload(a: &Archive) -> std::collections::BTreeMap<u32, &curtain_model::Process> {
    a.processes.iter().filter(|p| p.label.is_none() && !p.vanished).map(|p| (p.pid, p)).collect()
}

#[test]
#[ignore = "needs root and a Docker Engine (scripts/test starts a private one)"]
fn the_shell_method_pushes_nothing_and_gives_the_binary_methods_tables() {
    require_root!();
    let mut lab = Lab::new();
    let (web, web_name) = lab.web();
    let (_, ro_name) = lab.run("ro", &["--read-only", "curtain-test/shell", "sh", "-c", "exec sleep 100000"]);
    let out = tempfile::tempdir().unwrap();
    let listing = || docker(&["exec", &web, "sh", "-c", "ls -la /tmp /var/tmp /dev /dev/shm"]).stdout;
    let before = listing();
    let shell = out.path().join("shell");
    let o = acquire(&["docker", &web_name, &ro_name, "--method", "shell", "-o", shell.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(listing(), before, "the shell method writes nothing in the target");
    let tty = out.path().join("tty");
    let o = acquire(&["docker", &web_name, "--method", "shell", "--tty", "-o", tty.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0));
    let binary = out.path().join("binary");
    let o = acquire(&["docker", &web_name, "--method", "binary", "-o", binary.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0));

    let load = |dir: &Path| {
        let recs = records(dir);
        let r = record(&recs, &web_name).clone();
        assert_eq!(r["verified"], true, "{r}");
        Archive::load(&dir.join(r["archive"].as_str().unwrap()))
    };
    let (s, t, b) = (load(&shell), load(&tty), load(&binary));
    for a in [&s, &t] {
        let acq = a.manifest.acquisition.as_ref().unwrap();
        assert_eq!(acq.method, "shell");
        assert!(acq.tables_built_off_target && acq.pushed.is_none());
    }
    assert!(record(&records(&shell), &ro_name)["verified"] == true, "a read-only root is no obstacle");
    // The same processes, field by field, but what differs by nature: the start time (the
    // shell's clock is /proc/uptime, to 10 ms) and the rows of the acquisition's own processes
    // (labelled, left out here).
    let (ws, wt, wb) = (workload(&s), workload(&t), workload(&b));
    assert_eq!(ws.keys().collect::<Vec<_>>(), wb.keys().collect::<Vec<_>>());
    assert_eq!(wt.keys().collect::<Vec<_>>(), wb.keys().collect::<Vec<_>>());
    for (pid, p) in &wb {
        for other in [ws[pid], wt[pid]] {
            let mut o = other.clone();
            o.started_at = p.started_at.clone();
            assert_eq!(&o, *p, "pid {pid}");
        }
    }
    let fds = |a: &Archive, w: &std::collections::BTreeMap<u32, &curtain_model::Process>| {
        let mut v: Vec<_> = a.fds.iter().filter(|f| w.contains_key(&f.pid)).cloned().collect();
        v.sort_by_key(|f| (f.pid, f.fd));
        v
    };
    assert_eq!(fds(&s, &ws), fds(&b, &wb));
    let socks = |a: &Archive, w: &std::collections::BTreeMap<u32, &curtain_model::Process>| {
        let mut v: Vec<_> = a
            .sockets
            .iter()
            .filter(|x| x.owners.iter().any(|o| w.contains_key(&o.pid)))
            .map(|x| (x.proto, x.local.clone(), x.remote.clone(), x.state.clone(), x.inode, x.owners.clone()))
            .collect();
        v.sort_by_key(|x| x.4);
        v
    };
    assert_eq!(socks(&s, &ws), socks(&b, &wb));
    assert!(!socks(&s, &ws).is_empty());
}

#[test]
#[ignore = "needs root and a Docker Engine (scripts/test starts a private one)"]
fn five_replicas_acquired_and_compared_name_the_one_that_differs() {
    require_root!();
    let mut lab = Lab::new();
    // Five replicas of one image and command; the fourth also runs a second client that holds
    // a connection to the listener, as an implant's beacon would.
    let replica = "nc -ll -p 8080 -e cat & exec sleep 100000";
    let odd = "nc -ll -p 8080 -e cat & sleep 1; (sleep 100000 | nc 127.0.0.1 8080) & exec sleep 100000";
    let mut names = Vec::new();
    for i in 0..5 {
        let (_, name) = lab.run("replica", &["curtain-test/shell", "sh", "-c", if i == 3 { odd } else { replica }]);
        names.push(name);
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("acq");
    let mut args = vec!["docker"];
    args.extend(names.iter().map(String::as_str));
    args.extend(["-o", dir.to_str().unwrap()]);
    assert_eq!(acquire(&args, &[]).status.code(), Some(0));
    let recs = records(&dir);
    let archives: Vec<String> =
        recs.iter().map(|r| dir.join(r["archive"].as_str().unwrap()).to_string_lossy().into_owned()).collect();
    let odd_archive = &archives[recs.iter().position(|r| r["target"]["docker_name"] == names[3].as_str()).unwrap()];
    let o = Command::new(curtain()).arg("compare").args(&archives).args(["--format", "json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "one image, one group: {v}");
    let outliers = groups[0]["outliers"].as_array().unwrap();
    assert!(!outliers.is_empty(), "{v}");
    assert!(outliers.iter().all(|x| x["archive"] == odd_archive.as_str() && x["shared_by"] == 1), "{v}");
    let said = serde_json::to_string(outliers).unwrap();
    assert!(said.contains("8080"), "the connection is among what only it has: {said}");
}
