//! The AWS SDK behind [`RegionApi`], and the sync across accounts and regions: credentials and
//! endpoints from the standard configuration (environment, profiles, SSO, instance or task role;
//! `AWS_ENDPOINT_URL` too), accounts from Organizations or a list, a role assumed in each through
//! STS, regions from EC2, bounded concurrency, and the SDK's standard retries with back-off on
//! throttling.

use crate::ec2::{CachedCredentials, Ec2};
use crate::ingest::{attachment_of_description, bare_task};
use crate::sync::{chain, inventory_region, CloudError, Listed, RegionApi, RegionInventory};
use crate::xml::Node;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use curtain_model::register::{
    AddressAssociation, AttachmentFact, ContainerDefinitionFact, ContainerFact, ContainerInstanceFact, EniFact,
    InstanceFact, IpFact, LambdaConfigFact, Provenance, ServiceFact, SourceKind, TaskDefinitionFact, TaskFact,
};
use futures::stream::{self, StreamExt};

/// An SDK error as text; `call` is named only where the caller does not name it already.
fn err(call: &str, e: impl std::error::Error) -> CloudError {
    let msg = chain(&e);
    match call {
        "GetCallerIdentity" | "ListAccounts" => CloudError(format!("{call}: {msg}")),
        _ => CloudError(msg),
    }
}

fn nanos(t: Option<&aws_sdk_ecs::primitives::DateTime>) -> Option<u64> {
    let t = t?;
    let ns = t.secs() as i128 * 1_000_000_000 + t.subsec_nanos() as i128;
    // Past 2262 (curtain_model::MAX_TIME_NS) is refused, not wrapped.
    (ns > 0 && ns <= curtain_model::MAX_TIME_NS as i128).then_some(ns as u64)
}

/// The instances of a DescribeInstances page (`reservationSet`, then each one's `instancesSet`).
fn instances(page: &Node) -> impl Iterator<Item = &Node> {
    page.items("reservationSet").flat_map(|r| r.items("instancesSet"))
}

/// One account and region through the SDK.
pub struct AwsRegion {
    pub ecs: aws_sdk_ecs::Client,
    pub ec2: Ec2,
    pub lambda: aws_sdk_lambda::Client,
    pub account_id: String,
    pub region: String,
    /// The sync's provenance: its start time.
    pub source: Provenance,
}

impl AwsRegion {
    pub fn new(conf: &SdkConfig, account_id: &str, region: &str, source: Provenance) -> Self {
        AwsRegion {
            ecs: aws_sdk_ecs::Client::new(conf),
            ec2: Ec2::new(conf),
            lambda: aws_sdk_lambda::Client::new(conf),
            account_id: account_id.into(),
            region: region.into(),
            source,
        }
    }

    fn task(&self, t: &aws_sdk_ecs::types::Task) -> Option<TaskFact> {
        let mut f =
            bare_task(t.task_arn()?.to_string(), Some(&self.account_id), Some(&self.region), self.source.clone());
        f.cluster_arn = t.cluster_arn().map(str::to_string);
        f.group = t.group().map(str::to_string);
        f.task_definition_arn = t.task_definition_arn().map(str::to_string);
        f.launch_type = t.launch_type().map(|l| l.as_str().to_string());
        f.availability_zone = t.availability_zone().map(str::to_string);
        f.last_status = t.last_status().map(str::to_string);
        f.created_at = nanos(t.created_at());
        f.started_at = nanos(t.started_at());
        f.stopped_at = nanos(t.stopped_at());
        f.container_instance_arn = t.container_instance_arn().map(str::to_string);
        f.containers = t
            .containers()
            .iter()
            .filter_map(|c| {
                Some(ContainerFact {
                    name: c.name()?.to_string(),
                    image: c.image().map(str::to_string),
                    image_digest: c.image_digest().map(str::to_string),
                    runtime_id: c.runtime_id().map(str::to_string),
                    last_status: c.last_status().map(str::to_string),
                })
            })
            .collect();
        f.attachments = t
            .attachments()
            .iter()
            .filter(|a| matches!(a.r#type(), Some("ElasticNetworkInterface") | Some("eni")))
            .filter_map(|a| {
                let mut af = AttachmentFact {
                    id: a.id()?.to_string(),
                    status: a.status().map(str::to_string),
                    ..Default::default()
                };
                for d in a.details() {
                    let (Some(name), Some(value)) = (d.name(), d.value()) else { continue };
                    match name {
                        "networkInterfaceId" => af.eni_id = Some(value.to_string()),
                        "privateIPv4Address" => af.ips.push(IpFact { ip: value.to_string(), kind: "private".into() }),
                        "privateIPv6Address" => af.ips.push(IpFact { ip: value.to_string(), kind: "ipv6".into() }),
                        _ => {}
                    }
                }
                Some(af)
            })
            .collect();
        Some(f)
    }
}

impl RegionApi for AwsRegion {
    async fn services(&self, cluster: &str) -> Result<Vec<ServiceFact>, CloudError> {
        let pages: Vec<_> = self.ecs.list_services().cluster(cluster).into_paginator().send().collect().await;
        let mut arns = Vec::new();
        for p in pages {
            arns.extend(p.map_err(|e| err("ListServices", e))?.service_arns().iter().cloned());
        }
        let mut out = Vec::new();
        for chunk in arns.chunks(10) {
            let r = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| err("DescribeServices", e))?;
            for s in r.services() {
                let (Some(arn), Some(name)) = (s.service_arn(), s.service_name()) else { continue };
                out.push(ServiceFact {
                    service_arn: arn.to_string(),
                    name: name.to_string(),
                    cluster_arn: s.cluster_arn().unwrap_or(cluster).to_string(),
                    account_id: self.account_id.clone(),
                    region: self.region.clone(),
                    task_definition_arn: s.task_definition().map(str::to_string),
                    launch_type: s.launch_type().map(|l| l.as_str().to_string()),
                    desired_count: Some(s.desired_count() as i64),
                    created_at: nanos(s.created_at()),
                    source: self.source.clone(),
                });
            }
        }
        Ok(out)
    }

    async fn task_definition(&self, arn: &str) -> Result<TaskDefinitionFact, CloudError> {
        let r = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| err("DescribeTaskDefinition", e))?;
        let d = r.task_definition().ok_or_else(|| CloudError("no task definition in the answer".into()))?;
        Ok(TaskDefinitionFact {
            task_definition_arn: d.task_definition_arn().unwrap_or(arn).to_string(),
            family: d.family().map(str::to_string),
            revision: Some(d.revision() as i64),
            network_mode: d.network_mode().map(|m| m.as_str().to_string()),
            containers: d
                .container_definitions()
                .iter()
                .map(|c| ContainerDefinitionFact {
                    name: c.name().unwrap_or_default().to_string(),
                    image: c.image().map(str::to_string),
                    command: c.command().to_vec(),
                    entry_point: c.entry_point().to_vec(),
                })
                .collect(),
            account_id: self.account_id.clone(),
            region: self.region.clone(),
            source: self.source.clone(),
        })
    }

    async fn container_instances(&self, cluster: &str) -> Result<Vec<ContainerInstanceFact>, CloudError> {
        let pages: Vec<_> =
            self.ecs.list_container_instances().cluster(cluster).into_paginator().send().collect().await;
        let mut arns = Vec::new();
        for p in pages {
            arns.extend(p.map_err(|e| err("ListContainerInstances", e))?.container_instance_arns().iter().cloned());
        }
        let mut out = Vec::new();
        for chunk in arns.chunks(100) {
            let r = self
                .ecs
                .describe_container_instances()
                .cluster(cluster)
                .set_container_instances(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| err("DescribeContainerInstances", e))?;
            let mut batch: Vec<ContainerInstanceFact> = r
                .container_instances()
                .iter()
                .filter_map(|ci| {
                    Some(ContainerInstanceFact {
                        container_instance_arn: ci.container_instance_arn()?.to_string(),
                        cluster_arn: cluster.to_string(),
                        ec2_instance_id: ci.ec2_instance_id().map(str::to_string),
                        ips: Vec::new(),
                        account_id: self.account_id.clone(),
                        region: self.region.clone(),
                        source: self.source.clone(),
                    })
                })
                .collect();
            let ids: Vec<String> = batch.iter().filter_map(|b| b.ec2_instance_id.clone()).collect();
            if !ids.is_empty() {
                let params: Vec<_> =
                    ids.iter().enumerate().map(|(i, id)| (format!("InstanceId.{}", i + 1), id.clone())).collect();
                let pages = self
                    .ec2
                    .pages("DescribeInstances", &params)
                    .await
                    .map_err(|e| CloudError(format!("DescribeInstances: {e}")))?;
                for inst in pages.iter().flat_map(instances) {
                    let Some(b) =
                        batch.iter_mut().find(|b| b.ec2_instance_id.as_deref() == inst.text_at(&["instanceId"]))
                    else {
                        continue;
                    };
                    for ni in inst.items("networkInterfaceSet") {
                        for a in ni.items("privateIpAddressesSet") {
                            if let Some(ip) = a.text_at(&["privateIpAddress"]) {
                                b.ips.push(IpFact { ip: ip.to_string(), kind: "private".into() });
                            }
                        }
                    }
                    if let Some(ip) = inst.text_at(&["privateIpAddress"]) {
                        if !b.ips.iter().any(|x| x.ip == ip) {
                            b.ips.push(IpFact { ip: ip.to_string(), kind: "private".into() });
                        }
                    }
                    if let Some(ip) = inst.text_at(&["ipAddress"]) {
                        b.ips.push(IpFact { ip: ip.to_string(), kind: "public".into() });
                    }
                }
            }
            out.extend(batch);
        }
        Ok(out)
    }

    async fn clusters(&self) -> Result<Vec<String>, CloudError> {
        let pages: Vec<_> = self.ecs.list_clusters().into_paginator().send().collect().await;
        let mut out = Vec::new();
        for p in pages {
            out.extend(p.map_err(|e| err("ListClusters", e))?.cluster_arns().iter().cloned());
        }
        Ok(out)
    }

    async fn task_arns(&self, cluster: &str, listed: Listed) -> Result<Vec<String>, CloudError> {
        let status = match listed {
            Listed::Running => aws_sdk_ecs::types::DesiredStatus::Running,
            Listed::Stopped => aws_sdk_ecs::types::DesiredStatus::Stopped,
        };
        let pages: Vec<_> =
            self.ecs.list_tasks().cluster(cluster).desired_status(status).into_paginator().send().collect().await;
        let mut out = Vec::new();
        for p in pages {
            out.extend(p.map_err(|e| err("ListTasks", e))?.task_arns().iter().cloned());
        }
        Ok(out)
    }

    async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<TaskFact>, CloudError> {
        let r = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| err("DescribeTasks", e))?;
        Ok(r.tasks().iter().filter_map(|t| self.task(t)).collect())
    }

    async fn lambda_functions(&self) -> Result<Vec<LambdaConfigFact>, CloudError> {
        let pages: Vec<_> = self.lambda.list_functions().into_paginator().send().collect().await;
        let mut out = Vec::new();
        for p in pages {
            for f in p.map_err(|e| err("ListFunctions", e))?.functions() {
                let Some(name) = f.function_name() else { continue };
                // Every function, those in no VPC with no subnets: a sync's list is whole.
                out.push(LambdaConfigFact {
                    function_name: name.to_string(),
                    function_arn: f.function_arn().map(str::to_string),
                    account_id: self.account_id.clone(),
                    region: self.region.clone(),
                    subnets: f.vpc_config().map(|v| v.subnet_ids().to_vec()).unwrap_or_default(),
                    security_groups: f.vpc_config().map(|v| v.security_group_ids().to_vec()).unwrap_or_default(),
                    deleted: false,
                    source: self.source.clone(),
                });
            }
        }
        Ok(out)
    }

    async fn ec2_instances(&self) -> Result<Vec<InstanceFact>, CloudError> {
        let pages = self.ec2.pages("DescribeInstances", &[("MaxResults".into(), "1000".into())]).await?;
        let mut out = Vec::new();
        for inst in pages.iter().flat_map(instances) {
            let Some(id) = inst.text_at(&["instanceId"]) else { continue };
            out.push(InstanceFact {
                instance_id: id.to_string(),
                account_id: self.account_id.clone(),
                region: self.region.clone(),
                name: inst
                    .items("tagSet")
                    .find(|t| t.text_at(&["key"]) == Some("Name"))
                    .and_then(|t| t.text_at(&["value"]))
                    .map(str::to_string),
                state: inst.text_at(&["instanceState", "name"]).map(str::to_string),
                instance_type: inst.text_at(&["instanceType"]).map(str::to_string),
                launched_at: inst.text_at(&["launchTime"]).and_then(curtain_model::parse_rfc3339_ns),
                source: self.source.clone(),
            });
        }
        Ok(out)
    }

    async fn elastic_ips(&self) -> Result<crate::sync::ElasticIps, CloudError> {
        let r = self.ec2.call("DescribeAddresses", &[]).await?;
        let mut out = crate::sync::ElasticIps::default();
        // EC2 leaves out what is unset; the emulator says "" (text_at takes both for none).
        let some = |a: &Node, name: &str| a.text_at(&[name]).map(str::to_string);
        for a in r.items("addressesSet") {
            let Some(ip) = a.text_at(&["publicIp"]) else { continue };
            let id = a.text_at(&["allocationId"]).unwrap_or(ip);
            match some(a, "networkInterfaceId") {
                Some(eni) => out.associated.push(AddressAssociation {
                    association_id: some(a, "associationId"),
                    allocation_id: some(a, "allocationId"),
                    public_ip: Some(ip.to_string()),
                    eni_id: Some(eni),
                    instance_id: some(a, "instanceId"),
                    account_id: self.account_id.clone(),
                    region: self.region.clone(),
                    source: self.source.clone(),
                }),
                None => out.idle.push(EniFact {
                    ips: vec![IpFact { ip: ip.to_string(), kind: "public".into() }],
                    description: Some(format!("Elastic IP {id}")),
                    interface_type: Some("elastic-ip".into()),
                    instance_id: some(a, "instanceId"),
                    ..EniFact::bare(id.to_string(), self.account_id.clone(), self.region.clone(), self.source.clone())
                }),
            }
        }
        Ok(out)
    }

    async fn enis(&self) -> Result<Vec<EniFact>, CloudError> {
        // Every interface, not only ECS's: whoever owns an address is named (curtain_model::
        // register::classify_eni), the ECS task claim checked as before.
        let pages = self.ec2.pages("DescribeNetworkInterfaces", &[("MaxResults".into(), "1000".into())]).await?;
        let mut out = Vec::new();
        for page in &pages {
            for ni in page.items("networkInterfaceSet") {
                let Some(eni_id) = ni.text_at(&["networkInterfaceId"]) else { continue };
                let mut ips = Vec::new();
                for a in ni.items("privateIpAddressesSet") {
                    if let Some(ip) = a.text_at(&["privateIpAddress"]) {
                        ips.push(IpFact { ip: ip.to_string(), kind: "private".into() });
                    }
                    if let Some(p) = a.text_at(&["association", "publicIp"]) {
                        ips.push(IpFact { ip: p.to_string(), kind: "public".into() });
                    }
                }
                if let Some(ip) = ni.text_at(&["privateIpAddress"]) {
                    if !ips.iter().any(|x| x.ip == ip) {
                        ips.push(IpFact { ip: ip.to_string(), kind: "private".into() });
                    }
                }
                if let Some(p) = ni.text_at(&["association", "publicIp"]) {
                    if !ips.iter().any(|x| x.ip == p) {
                        ips.push(IpFact { ip: p.to_string(), kind: "public".into() });
                    }
                }
                for a in ni.items("ipv6AddressesSet") {
                    if let Some(ip) = a.text_at(&["ipv6Address"]) {
                        ips.push(IpFact { ip: ip.to_string(), kind: "ipv6".into() });
                    }
                }
                let description = ni.text_at(&["description"]).map(str::to_string);
                let attachment_id = description.as_deref().and_then(attachment_of_description);
                out.push(EniFact {
                    eni_id: eni_id.to_string(),
                    // Only an AWS service can make a requester-managed interface; the emulator
                    // makes none, and the task's own attachment names its interface anyway.
                    ecs_proof: (attachment_id.is_some() && ni.text_at(&["requesterManaged"]) == Some("true"))
                        .then(|| "requester-managed".to_string()),
                    attachment_id,
                    account_id: self.account_id.clone(),
                    region: self.region.clone(),
                    ips,
                    created_at: None,
                    deleted_at: None,
                    description,
                    interface_type: ni.text_at(&["interfaceType"]).map(str::to_string),
                    requester_id: ni.text_at(&["requesterId"]).map(str::to_string),
                    instance_id: ni.text_at(&["attachment", "instanceId"]).map(str::to_string),
                    subnet_id: ni.text_at(&["subnetId"]).map(str::to_string),
                    security_groups: ni
                        .items("groupSet")
                        .filter_map(|g| g.text_at(&["groupId"]).map(str::to_string))
                        .collect(),
                    lambda_functions: Vec::new(),
                    source: self.source.clone(),
                });
            }
        }
        Ok(out)
    }
}

/// Which accounts to sync.
#[derive(Debug, Clone)]
pub enum Accounts {
    /// The account of the caller's credentials.
    Caller,
    /// Every ACTIVE account of the AWS Organization.
    Organization,
    List(Vec<String>),
}

/// What `curtain inventory sync` was asked.
#[derive(Debug, Clone)]
pub struct SyncPlan {
    pub accounts: Accounts,
    /// Role name assumed in each account (`arn:aws:iam::ACCOUNT:role/NAME`); none: the caller's
    /// own credentials for every account.
    pub role: Option<String>,
    /// Empty: every region enabled in each account.
    pub regions: Vec<String>,
    pub concurrency: usize,
    pub at_ns: u64,
}

/// The base configuration: the standard chain, standard retries (exponential back-off with
/// jitter on throttling), bounded timeouts.
pub async fn base_config() -> SdkConfig {
    let retry = aws_config::retry::RetryConfig::standard().with_max_attempts(5);
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(std::time::Duration::from_secs(30))
        .connect_timeout(std::time::Duration::from_secs(5))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry).timeout_config(timeouts);
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
        loader = loader.region(Region::new("us-east-1"));
    }
    with_kept_credentials(loader.load().await)
}

/// `conf` with its credentials kept between calls for every client made from it, the EC2 one
/// included ([`CachedCredentials`]).
fn with_kept_credentials(conf: SdkConfig) -> SdkConfig {
    match conf.credentials_provider() {
        Some(p) => conf.to_builder().credentials_provider(CachedCredentials::shared(p)).build(),
        None => conf,
    }
}

/// The accounts of the plan (the caller's account through STS GetCallerIdentity).
pub async fn accounts(base: &SdkConfig, which: &Accounts) -> Result<Vec<(String, Option<String>)>, CloudError> {
    match which {
        Accounts::List(v) => Ok(v.iter().map(|a| (a.clone(), None)).collect()),
        Accounts::Caller => {
            let id = aws_sdk_sts::Client::new(base)
                .get_caller_identity()
                .send()
                .await
                .map_err(|e| err("GetCallerIdentity", e))?;
            Ok(vec![(id.account().unwrap_or_default().to_string(), None)])
        }
        Accounts::Organization => {
            let pages: Vec<_> =
                aws_sdk_organizations::Client::new(base).list_accounts().into_paginator().send().collect().await;
            let mut out = Vec::new();
            for p in pages {
                for a in p.map_err(|e| err("ListAccounts", e))?.accounts() {
                    let active = a.status().map(|s| s.as_str() == "ACTIVE").unwrap_or(true);
                    if let (Some(id), true) = (a.id(), active) {
                        out.push((id.to_string(), a.name().map(str::to_string)));
                    }
                }
            }
            Ok(out)
        }
    }
}

/// The configuration for one account: the base one, or a role assumed there.
pub async fn account_config(base: &SdkConfig, account: &str, role: Option<&str>) -> SdkConfig {
    match role {
        None => base.clone(),
        Some(role) => {
            let arn =
                if role.starts_with("arn:") { role.to_string() } else { format!("arn:aws:iam::{account}:role/{role}") };
            let provider = aws_config::sts::AssumeRoleProvider::builder(arn)
                .session_name("curtain-inventory")
                .configure(base)
                .build()
                .await;
            let provider = aws_credential_types::provider::SharedCredentialsProvider::new(provider);
            base.to_builder().credentials_provider(CachedCredentials::shared(provider)).build()
        }
    }
}

/// The regions enabled in an account (EC2 DescribeRegions).
pub async fn enabled_regions(conf: &SdkConfig) -> Result<Vec<String>, CloudError> {
    let r =
        Ec2::new(conf).call("DescribeRegions", &[]).await.map_err(|e| CloudError(format!("DescribeRegions: {e}")))?;
    let mut v: Vec<String> =
        r.items("regionInfo").filter_map(|r| r.text_at(&["regionName"]).map(str::to_string)).collect();
    v.sort();
    Ok(v)
}

/// Runs the whole sync; each account × region result is handed to `done` as it completes (the
/// caller writes it to the register), with `progress` told what each is doing.
pub async fn sync(
    plan: &SyncPlan,
    progress: &(dyn Fn(&str, &str, &str) + Sync),
    done: &mut dyn FnMut(RegionInventory),
) -> Result<(), CloudError> {
    let base = base_config().await;
    let accounts = accounts(&base, &plan.accounts).await?;
    let source =
        Provenance { kind: SourceKind::Sync, id: curtain_model::format_rfc3339_ns(plan.at_ns), at_ns: plan.at_ns };
    // Account configurations and their regions first (cheap), then every account × region.
    let mut jobs = Vec::new();
    for (account, _) in &accounts {
        let conf = account_config(&base, account, plan.role.as_deref()).await;
        let regions = if plan.regions.is_empty() {
            match enabled_regions(&conf).await {
                Ok(r) => r,
                Err(e) => {
                    done(RegionInventory {
                        account_id: account.clone(),
                        region: "*".into(),
                        errors: vec![e.to_string()],
                        ..Default::default()
                    });
                    continue;
                }
            }
        } else {
            plan.regions.clone()
        };
        for region in regions {
            let conf = conf.to_builder().region(Region::new(region.clone())).build();
            jobs.push((account.clone(), region, conf));
        }
    }
    let mut results = stream::iter(jobs.into_iter().map(|(account, region, conf)| {
        let source = source.clone();
        async move {
            let api = AwsRegion::new(&conf, &account, &region, source);
            let report = |what: &str| progress(&account, &region, what);
            inventory_region(&api, &account, &region, &report).await
        }
    }))
    .buffer_unordered(plan.concurrency.max(1));
    while let Some(inv) = results.next().await {
        done(inv);
    }
    Ok(())
}
