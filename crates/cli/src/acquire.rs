//! `curtain acquire`: the targets named on the command line, resolved through the platform's
//! own tools (docker, kubectl, the ECS API), then taken by curtain-acquire.

use clap::{Args, Subcommand, ValueEnum};
use curtain_acquire::{target::file_part, Collector, Method, Plan, Target, Tools, Way};
use curtain_model::AcquisitionTarget;
use serde_json::Value;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

#[derive(Subcommand)]
pub(crate) enum AcquireCommand {
    /// Containers of the Docker Engine the docker CLI reaches (DOCKER_HOST honoured).
    #[command(
        after_help = "Examples:\n  curtain acquire docker web-1 web-2\n  curtain acquire docker --all --tty -o ir/"
    )]
    Docker(DockerArgs),
    /// Containers of Kubernetes pods, through kubectl (KUBECONFIG honoured).
    #[command(
        after_help = "Examples:\n  curtain acquire k8s web-7d9f -n shop\n  curtain acquire k8s -l app=web -n shop -c app"
    )]
    K8s(K8sArgs),
    /// ECS tasks, through ECS Exec (`aws ecs execute-command` with the session-manager-plugin).
    #[command(
        after_help = "Examples:\n  curtain acquire ecs --cluster prod --task 0f3c4e...\n  curtain acquire ecs --cluster prod --service web --parallel 4\n  curtain acquire ecs --cluster prod --ip 10.0.1.23 --db register.db"
    )]
    Ecs(EcsArgs),
}

#[derive(Args)]
pub(crate) struct Common {
    /// Folder for the archives and acquisition.jsonl (created; never reused).
    /// Default: acquisition-UTCTIME in the current directory.
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,
    /// binary: push the static collector and run it; shell: push nothing, a POSIX sh script
    /// reads /proc; auto: binary where it can run, shell otherwise.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) method: MethodArg,
    /// Through a terminal (`docker exec -t`, `kubectl exec -t`), as ECS Exec always is.
    #[arg(long)]
    pub(crate) tty: bool,
    /// Targets taken at once.
    #[arg(long, value_name = "N", default_value = "4", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) parallel: u16,
    /// Leave process environments out (they often hold secrets).
    #[arg(long)]
    pub(crate) no_environ: bool,
    /// The static collector to push. Default: curtain-collector beside this program.
    #[arg(long, value_name = "PATH")]
    pub(crate) collector: Option<PathBuf>,
    /// Seconds allowed per target, every attempt included.
    #[arg(long, value_name = "SECONDS", default_value = "900")]
    pub(crate) timeout: u64,
    /// Attempts per target when a transfer arrives corrupt.
    #[arg(long, value_name = "N", default_value = "3", value_parser = clap::value_parser!(u32).range(1..=10))]
    pub(crate) attempts: u32,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum MethodArg {
    Auto,
    Binary,
    Shell,
}

#[derive(Args)]
pub(crate) struct DockerArgs {
    /// Container names or ids.
    #[arg(value_name = "CONTAINER", required_unless_present = "all", conflicts_with = "all")]
    pub(crate) containers: Vec<String>,
    /// Every running container.
    #[arg(long)]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) common: Common,
}

#[derive(Args)]
pub(crate) struct K8sArgs {
    /// Pod names.
    #[arg(value_name = "POD", required_unless_present = "selector", conflicts_with = "selector")]
    pub(crate) pods: Vec<String>,
    /// Every pod matching this label selector.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub(crate) selector: Option<String>,
    #[arg(short, long, value_name = "NAMESPACE")]
    pub(crate) namespace: Option<String>,
    /// Only this container of each pod (default: every one).
    #[arg(short, long, value_name = "CONTAINER")]
    pub(crate) container: Option<String>,
    #[command(flatten)]
    pub(crate) common: Common,
}

#[derive(Args)]
pub(crate) struct EcsArgs {
    #[arg(long, value_name = "CLUSTER")]
    pub(crate) cluster: String,
    /// Task ids or ARNs.
    #[arg(long = "task", value_name = "TASK", num_args = 1.., required_unless_present_any = ["service", "ip"], conflicts_with_all = ["service", "ip"])]
    pub(crate) tasks: Vec<String>,
    /// Every running task of this service: its replicas.
    #[arg(long, value_name = "SERVICE", conflicts_with = "ip")]
    pub(crate) service: Option<String>,
    /// The task that holds (or held at --at) this address, from the register (--db).
    #[arg(long, value_name = "IP")]
    pub(crate) ip: Option<String>,
    #[arg(long, value_name = "TIME", requires = "ip")]
    pub(crate) at: Option<String>,
    /// The register: where --ip is looked up (default curtain-register.db, as for whois), and where each acquisition
    /// is recorded against its task when given.
    #[arg(long, value_name = "FILE")]
    pub(crate) db: Option<PathBuf>,
    /// Only this container of each task (default: every one).
    #[arg(long, value_name = "NAME")]
    pub(crate) container: Option<String>,
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// Start sessions without checking the tasks through the ECS API first.
    #[arg(long)]
    pub(crate) skip_preflight: bool,
    /// The aws CLI to run (with the session-manager-plugin on PATH).
    #[arg(long, value_name = "PATH", default_value = "aws")]
    pub(crate) aws_cli: String,
    #[command(flatten)]
    pub(crate) common: Common,
}

fn usage(m: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m.into())
}

pub(crate) fn acquire(cmd: &AcquireCommand) -> io::Result<i32> {
    let (targets, common, operator, tools) = match cmd {
        AcquireCommand::Docker(a) => (docker_targets(a)?, &a.common, local_operator(), Tools::default()),
        AcquireCommand::K8s(a) => (k8s_targets(a)?, &a.common, local_operator(), Tools::default()),
        AcquireCommand::Ecs(a) => {
            let (targets, operator) = ecs_targets(a)?;
            (targets, &a.common, operator, Tools { aws: a.aws_cli.clone(), ..Tools::default() })
        }
    };
    if targets.is_empty() {
        eprintln!("curtain: no running container to acquire");
        return Ok(1);
    }
    let method = match common.method {
        MethodArg::Auto => Method::Auto,
        MethodArg::Binary => Method::Binary,
        MethodArg::Shell => Method::Shell,
    };
    let collector = match (method, find_collector(common.collector.as_deref())) {
        (Method::Shell, _) => None,
        (_, Ok(c)) => Some(c),
        (Method::Binary, Err(e)) => return Err(e),
        (Method::Auto, Err(e)) => {
            if common.collector.is_some() {
                return Err(e);
            }
            eprintln!("curtain: {e}; using the shell method");
            None
        }
    };
    let dir = common
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("acquisition-{}", curtain_collect::cli::compact_now())));
    let plan = Plan {
        dir: dir.clone(),
        method,
        tty: common.tty,
        parallel: common.parallel as usize,
        no_environ: common.no_environ,
        timeout: Duration::from_secs(common.timeout.max(1)),
        attempts: common.attempts,
        collector,
        shell: Some(Box::new(curtain_acquire::shell::Shell)),
        tools,
        operator,
    };
    let records = curtain_acquire::acquire_all(&targets, &plan)?;
    if let AcquireCommand::Ecs(EcsArgs { db: Some(db), .. }) = cmd {
        let mut reg =
            curtain_store::Register::open(db).map_err(|e| io::Error::other(format!("{}: {e}", db.display())))?;
        for r in &records {
            if let Some(task) = &r.target.task_arn {
                let v = serde_json::to_value(r).map_err(io::Error::other)?;
                reg.add_acquisition(task, &v).map_err(|e| io::Error::other(format!("{}: {e}", db.display())))?;
            }
        }
    }
    let mut out = io::stdout().lock();
    out.write_all(curtain_acquire::table(&records).as_bytes())?;
    let ok = records.iter().filter(|r| r.verified).count();
    writeln!(
        out,
        "{ok} of {} verified; {}",
        records.len(),
        curtain_model::term(&dir.join("acquisition.jsonl").to_string_lossy())
    )?;
    if curtain_acquire::interrupted() {
        eprintln!("curtain: interrupted; the targets done are recorded");
    }
    Ok(if ok == records.len() { 0 } else { 1 })
}

#[cfg(feature = "aws")]
fn ecs_targets(a: &EcsArgs) -> io::Result<(Vec<Target>, String)> {
    crate::acquire_ecs::ecs_targets(a)
}

#[cfg(not(feature = "aws"))]
fn ecs_targets(_: &EcsArgs) -> io::Result<(Vec<Target>, String)> {
    Err(crate::register::without_aws("acquire ecs"))
}

/// `user (uid N) on HOST`: who ran it, for the records.
pub(crate) fn local_operator() -> String {
    let uid = rustix::process::getuid().as_raw();
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| user_name(uid))
        .unwrap_or_else(|| "?".into());
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    format!("{user} (uid {uid}) on {host}")
}

/// The name /etc/passwd gives a uid.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid.to_string()).then(|| name.to_string())
    })
}

/// The static collector: the one given, else `curtain-collector` beside this program. A
/// dynamically linked one is refused: it would not run in a scratch or distroless image.
fn find_collector(given: Option<&std::path::Path>) -> io::Result<Collector> {
    let how = "build it with scripts/build-collector (it prints the path) and give it with --collector";
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => {
            let exe = std::env::current_exe()?;
            exe.with_file_name("curtain-collector")
        }
    };
    if !path.exists() {
        return Err(usage(format!("no static collector at {}: {how}", path.display())));
    }
    let c = Collector::read(&path)?;
    match elf_is_static(&c.bytes) {
        Some(true) => Ok(c),
        Some(false) => Err(usage(format!("{} is dynamically linked: {how}", path.display()))),
        None => Err(usage(format!("{} is not an x86_64 or aarch64 ELF executable: {how}", path.display()))),
    }
}

/// Whether a 64-bit little-endian ELF file has no program interpreter (PT_INTERP): a static
/// executable. `None` when it is not such an ELF file.
fn elf_is_static(b: &[u8]) -> Option<bool> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u64_at = |o: usize| b.get(o..o + 8).map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")));
    let phoff = u64_at(0x20)? as usize;
    let phentsize = u16_at(0x36)? as usize;
    let phnum = u16_at(0x38)? as usize;
    for i in 0..phnum {
        let o = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let kind = b.get(o..o.checked_add(4)?).map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))?;
        if kind == 3 {
            return Some(false);
        }
    }
    Some(true)
}

/// Runs a resolving command (docker inspect, kubectl get) and parses its JSON.
fn json_of(argv: &[&str]) -> io::Result<Value> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", argv[0])))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(usage(format!("{}: {}", argv.join(" "), curtain_model::term(err.trim()))));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| io::Error::other(format!("{}: {e}", argv.join(" "))))
}

fn s(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn docker_targets(a: &DockerArgs) -> io::Result<Vec<Target>> {
    let names = if a.all {
        let out = Command::new("docker").args(["ps", "-q", "--no-trunc"]).output()?;
        if !out.status.success() {
            return Err(usage(format!("docker ps: {}", String::from_utf8_lossy(&out.stderr).trim())));
        }
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
    } else {
        a.containers.clone()
    };
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut argv = vec!["docker", "inspect", "--type", "container"];
    argv.extend(names.iter().map(String::as_str));
    let inspected = json_of(&argv)?;
    let mut targets = Vec::new();
    for c in inspected.as_array().into_iter().flatten() {
        let id = s(&c["Id"]).unwrap_or_default();
        let name = s(&c["Name"]).map(|n| n.trim_start_matches('/').to_string());
        if c["State"]["Running"] != Value::Bool(true) {
            return Err(usage(format!(
                "container {} is not running: a stopped container cannot be acquired",
                name.as_deref().unwrap_or(&id)
            )));
        }
        let labels = &c["Config"]["Labels"];
        let label = |k: &str| s(&labels[k]);
        let image_id = s(&c["Image"]);
        let digest = image_id
            .as_deref()
            .and_then(|i| json_of(&["docker", "image", "inspect", i]).ok().and_then(|v| s(&v[0]["RepoDigests"][0])));
        let identity = AcquisitionTarget {
            cluster: label("com.amazonaws.ecs.cluster"),
            task_arn: label("com.amazonaws.ecs.task-arn"),
            container_name: label("com.amazonaws.ecs.container-name").or_else(|| label("io.kubernetes.container.name")),
            runtime_id: Some(id.clone()),
            image: s(&c["Config"]["Image"]),
            image_digest: digest.or(image_id),
            docker_name: name.clone(),
            namespace: label("io.kubernetes.pod.namespace"),
            pod: label("io.kubernetes.pod.name"),
            pod_uid: label("io.kubernetes.pod.uid"),
            ..Default::default()
        };
        targets.push(Target {
            label: format!("docker-{}", file_part(name.as_deref().unwrap_or(&id[..id.len().min(12)]))),
            identity,
            way: Way::Docker { container: id },
        });
    }
    curtain_acquire::target::dedupe(&mut targets);
    Ok(targets)
}

fn k8s_targets(a: &K8sArgs) -> io::Result<Vec<Target>> {
    let mut argv: Vec<String> = vec!["kubectl".into(), "get".into(), "pods".into()];
    if let Some(n) = &a.namespace {
        argv.extend(["-n".into(), n.clone()]);
    }
    match &a.selector {
        Some(sel) => argv.extend(["-l".into(), sel.clone()]),
        None => argv.extend(a.pods.iter().cloned()),
    }
    argv.extend(["-o".into(), "json".into()]);
    let v = json_of(&argv.iter().map(String::as_str).collect::<Vec<_>>())?;
    // One pod comes back as itself, several as a List.
    let pods: Vec<&Value> = match v["kind"].as_str() {
        Some("List") | Some("PodList") => v["items"].as_array().map(|a| a.iter().collect()).unwrap_or_default(),
        _ => vec![&v],
    };
    let mut targets = Vec::new();
    for p in pods {
        let pod = s(&p["metadata"]["name"]).unwrap_or_default();
        let ns = s(&p["metadata"]["namespace"]).or_else(|| a.namespace.clone());
        let uid = s(&p["metadata"]["uid"]);
        for st in p["status"]["containerStatuses"].as_array().into_iter().flatten() {
            let cname = s(&st["name"]).unwrap_or_default();
            if a.container.as_ref().is_some_and(|c| *c != cname) {
                continue;
            }
            if st["state"]["running"].is_null() {
                eprintln!("curtain: {pod}/{cname} is not running: skipped");
                continue;
            }
            let runtime =
                s(&st["containerID"]).map(|c| c.split_once("://").map_or(c.clone(), |(_, id)| id.to_string()));
            targets.push(Target {
                label: format!(
                    "{}_{}_{}",
                    file_part(ns.as_deref().unwrap_or("default")),
                    file_part(&pod),
                    file_part(&cname)
                ),
                identity: AcquisitionTarget {
                    container_name: Some(cname.clone()),
                    runtime_id: runtime,
                    image: s(&st["image"]),
                    image_digest: s(&st["imageID"]),
                    namespace: ns.clone(),
                    pod: Some(pod.clone()),
                    pod_uid: uid.clone(),
                    ..Default::default()
                },
                way: Way::Kubectl { namespace: ns.clone(), pod: pod.clone(), container: Some(cname) },
            });
        }
    }
    curtain_acquire::target::dedupe(&mut targets);
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_executable_is_told_from_a_dynamic_one() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(elf_is_static(&me), Some(false), "test binaries are dynamically linked");
        assert_eq!(elf_is_static(b"#!/bin/sh\n"), None);
        let mut cut = me[..64].to_vec();
        cut[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(elf_is_static(&cut), None, "a header pointing past the file is no ELF");
    }
}
