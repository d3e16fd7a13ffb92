//! `curtain acquire ecs`: tasks named, a service's replicas, or the task that holds an address
//! (from the register), checked through the ECS API before any session is opened, so that a
//! task ECS Exec cannot reach is refused with the reason and the fix rather than a session error.

use crate::acquire::EcsArgs;
use curtain_acquire::{target::file_part, Target, Way};
use curtain_cloud::exec::{self, ExecTask};
use curtain_model::AcquisitionTarget;
use std::io;

fn usage(m: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m.into())
}

/// What to do when ECS Exec cannot reach a task: the usual causes, in the order to check them.
const FIX: &str = "ECS Exec needs: the task started with enableExecuteCommand (aws ecs update-service \
--cluster C --service S --enable-execute-command --force-new-deployment, or run-task --enable-execute-command), \
the task role allowed ssmmessages:CreateControlChannel, CreateDataChannel, OpenControlChannel and \
OpenDataChannel, and the caller ecs:ExecuteCommand (docs/AWS.md)";

pub(crate) fn ecs_targets(a: &EcsArgs) -> io::Result<(Vec<Target>, String)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(resolve(a))
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

async fn resolve(a: &EcsArgs) -> io::Result<(Vec<Target>, String)> {
    let conf = exec::config(a.region.as_deref()).await;
    let region = a.region.clone().or_else(|| conf.region().map(|r| r.to_string()));
    let tasks: Vec<String> = if let Some(ip) = &a.ip {
        vec![task_of_ip(a, ip)?]
    } else if let Some(svc) = &a.service {
        let t = exec::service_tasks(&conf, &a.cluster, svc).await.map_err(io::Error::other)?;
        if t.is_empty() {
            return Err(usage(format!("service {svc} of cluster {} has no running task", a.cluster)));
        }
        t
    } else {
        a.tasks.clone()
    };
    let (account, operator) = match exec::caller(&conf).await {
        Ok((acct, arn)) => (Some(acct), arn),
        Err(e) => {
            if !a.skip_preflight {
                return Err(io::Error::other(format!("{e} (the caller's identity is recorded with each archive)")));
            }
            (None, format!("{} (AWS identity unknown: {e})", crate::acquire::local_operator()))
        }
    };
    let mut targets = Vec::new();
    if a.skip_preflight {
        let container = a.container.clone().ok_or_else(|| usage("--skip-preflight needs --container"))?;
        for t in &tasks {
            targets.push(target(a, &region, &account, t, &container, None));
        }
        return Ok((targets, operator));
    }
    let (found, missing) = exec::describe(&conf, &a.cluster, &tasks).await.map_err(io::Error::other)?;
    let mut problems: Vec<String> = missing
        .iter()
        .map(|(t, why)| format!("task {}: {why} (no such task in cluster {})", task_id(t), a.cluster))
        .collect();
    for t in &found {
        problems.extend(preflight(t, a.container.as_deref()));
    }
    if !problems.is_empty() {
        return Err(usage(format!("preflight failed:\n  {}\n{FIX}", problems.join("\n  "))));
    }
    for t in &found {
        for c in &t.containers {
            if a.container.as_ref().is_some_and(|n| *n != c.name) {
                continue;
            }
            targets.push(target(a, &region, &account, &t.arn, &c.name, Some((t, c))));
        }
    }
    curtain_acquire::target::dedupe(&mut targets);
    Ok((targets, operator))
}

/// Why ECS Exec cannot reach this task (empty: it can).
fn preflight(t: &ExecTask, container: Option<&str>) -> Vec<String> {
    let id = task_id(&t.arn);
    let mut p = Vec::new();
    if t.last_status.as_deref() != Some("RUNNING") {
        p.push(format!(
            "task {id} is {}: only a running task can be acquired",
            t.last_status.as_deref().unwrap_or("of unknown status")
        ));
        return p;
    }
    if !t.enable_execute_command {
        p.push(format!("task {id} was started without enableExecuteCommand"));
    }
    let mut any = false;
    for c in &t.containers {
        if container.is_some_and(|n| n != c.name) {
            continue;
        }
        any = true;
        if t.enable_execute_command && c.exec_agent.as_deref() != Some("RUNNING") {
            p.push(format!(
                "task {id} container {}: the ExecuteCommandAgent is {}",
                c.name,
                c.exec_agent.as_deref().unwrap_or("absent")
            ));
        }
    }
    if !any {
        p.push(format!("task {id} has no container {}", container.unwrap_or("")));
    }
    p
}

fn target(
    a: &EcsArgs,
    region: &Option<String>,
    account: &Option<String>,
    task: &str,
    container: &str,
    known: Option<(&ExecTask, &exec::ExecContainer)>,
) -> Target {
    let cluster_name = a.cluster.rsplit('/').next().unwrap_or(&a.cluster);
    let account = account.clone().or_else(|| task.split(':').nth(4).map(str::to_string).filter(|s| !s.is_empty()));
    Target {
        label: format!("{}_{}_{}", file_part(cluster_name), file_part(task_id(task)), file_part(container)),
        identity: AcquisitionTarget {
            account,
            region: region.clone(),
            cluster: Some(a.cluster.clone()),
            task_arn: Some(task.to_string()),
            container_name: Some(container.to_string()),
            runtime_id: known.and_then(|(_, c)| c.runtime_id.clone()),
            image: known.and_then(|(_, c)| c.image.clone()),
            image_digest: known.and_then(|(_, c)| c.image_digest.clone()),
            ..Default::default()
        },
        way: Way::EcsExec {
            cluster: a.cluster.clone(),
            task: task.to_string(),
            container: container.to_string(),
            region: a.region.clone(),
        },
    }
}

/// The task that holds `ip` (at `--at`) as the register says; a task that has stopped is said
/// with what the register knows, and refused: it cannot be acquired.
fn task_of_ip(a: &EcsArgs, ip: &str) -> io::Result<String> {
    let at = match &a.at {
        Some(t) => {
            Some(curtain_model::parse_rfc3339_ns(t).ok_or_else(|| usage(format!("--at {t}: not an RFC 3339 time")))?)
        }
        None => None,
    };
    let db = a.db.clone().unwrap_or_else(|| "curtain-register.db".into());
    if !db.exists() {
        return Err(usage(format!(
            "{}: no register (--db; `curtain inventory sync` or `ingest` make one)",
            db.display()
        )));
    }
    let reg = curtain_store::Register::open(&db).map_err(|e| io::Error::other(format!("{}: {e}", db.display())))?;
    let holders = reg.whois(ip, at).map_err(io::Error::other)?;
    let tasks: Vec<_> = holders.iter().filter(|h| h.task_arn.is_some()).collect();
    let Some(h) = tasks.last() else {
        return Err(usage(format!("the register ({}) knows no task that held {ip}", db.display())));
    };
    if tasks.len() > 1 {
        let all: Vec<&str> = tasks.iter().filter_map(|h| h.task_arn.as_deref()).collect();
        return Err(usage(format!("{ip} was held by {} tasks: {}; give --at or --task", all.len(), all.join(", "))));
    }
    let arn = h.task_arn.clone().expect("filtered");
    if let Some(to) = &h.to {
        return Err(usage(format!(
            "task {arn} held {ip} until {to}: it has stopped, and a stopped task cannot be acquired. \
             What the register knows: {}",
            serde_json::to_string(h).unwrap_or_default()
        )));
    }
    if let Some(c) = &h.cluster_arn {
        let name = c.rsplit('/').next().unwrap_or(c);
        if name != a.cluster && *c != a.cluster {
            return Err(usage(format!("task {arn} holding {ip} is in cluster {c}, not {}", a.cluster)));
        }
    }
    Ok(arn)
}
