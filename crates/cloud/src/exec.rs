//! What `curtain acquire ecs` asks the ECS API before it opens a session: which tasks (a
//! service's replicas), whether ECS Exec can reach each (`enableExecuteCommand`, the
//! `ExecuteCommandAgent` running in each container), the containers' runtime ids and image
//! digests for the archives' identity, and who is asking (STS), for the chain of custody.

use crate::sync::CloudError;
use aws_config::{Region, SdkConfig};

/// A task as ECS Exec needs it.
#[derive(Debug, Clone)]
pub struct ExecTask {
    pub arn: String,
    pub last_status: Option<String>,
    pub enable_execute_command: bool,
    pub platform_version: Option<String>,
    pub launch_type: Option<String>,
    /// `service:NAME` for a service's task.
    pub group: Option<String>,
    pub task_definition_arn: Option<String>,
    pub containers: Vec<ExecContainer>,
}

#[derive(Debug, Clone)]
pub struct ExecContainer {
    pub name: String,
    pub runtime_id: Option<String>,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub last_status: Option<String>,
    /// The `ExecuteCommandAgent` managed agent's status (`RUNNING` when a session can start).
    pub exec_agent: Option<String>,
}

fn err(call: &str, e: impl std::error::Error) -> CloudError {
    let mut msg = format!("{call}: {e}");
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    CloudError(msg)
}

/// The base configuration, in `region` when given.
pub async fn config(region: Option<&str>) -> SdkConfig {
    let base = crate::aws::base_config().await;
    match region {
        Some(r) => base.to_builder().region(Region::new(r.to_string())).build(),
        None => base,
    }
}

/// The caller's identity: (account, ARN).
pub async fn caller(conf: &SdkConfig) -> Result<(String, String), CloudError> {
    let id =
        aws_sdk_sts::Client::new(conf).get_caller_identity().send().await.map_err(|e| err("GetCallerIdentity", e))?;
    Ok((id.account().unwrap_or_default().to_string(), id.arn().unwrap_or_default().to_string()))
}

/// The running tasks of a service.
pub async fn service_tasks(conf: &SdkConfig, cluster: &str, service: &str) -> Result<Vec<String>, CloudError> {
    let ecs = aws_sdk_ecs::Client::new(conf);
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let r = ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| err("ListTasks", e))?;
        out.extend(r.task_arns().iter().cloned());
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// DescribeTasks, 100 at a time; the second list is (task, reason) for each ECS could not find.
pub async fn describe(
    conf: &SdkConfig,
    cluster: &str,
    tasks: &[String],
) -> Result<(Vec<ExecTask>, Vec<(String, String)>), CloudError> {
    let ecs = aws_sdk_ecs::Client::new(conf);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for chunk in tasks.chunks(100) {
        let r = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| err("DescribeTasks", e))?;
        for f in r.failures() {
            missing.push((f.arn().unwrap_or_default().to_string(), f.reason().unwrap_or("unknown").to_string()));
        }
        for t in r.tasks() {
            found.push(ExecTask {
                arn: t.task_arn().unwrap_or_default().to_string(),
                last_status: t.last_status().map(str::to_string),
                enable_execute_command: t.enable_execute_command(),
                platform_version: t.platform_version().map(str::to_string),
                launch_type: t.launch_type().map(|l| l.as_str().to_string()),
                group: t.group().map(str::to_string),
                task_definition_arn: t.task_definition_arn().map(str::to_string),
                containers: t
                    .containers()
                    .iter()
                    .map(|c| ExecContainer {
                        name: c.name().unwrap_or_default().to_string(),
                        runtime_id: c.runtime_id().map(str::to_string),
                        image: c.image().map(str::to_string),
                        image_digest: c.image_digest().map(str::to_string),
                        last_status: c.last_status().map(str::to_string),
                        exec_agent: c
                            .managed_agents()
                            .iter()
                            .find(|a| a.name().is_some_and(|n| n.as_str() == "ExecuteCommandAgent"))
                            .and_then(|a| a.last_status().map(str::to_string)),
                    })
                    .collect(),
            });
        }
    }
    Ok((found, missing))
}
