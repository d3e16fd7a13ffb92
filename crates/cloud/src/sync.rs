//! The live inventory of one account and region: clusters, tasks RUNNING and STOPPED (with their
//! containers and attachments), every ENI and EC2 instance, gathered through [`RegionApi`].
//! What was gathered before a call failed is kept and returned with the error: a throttled or
//! failing call loses nothing already known, and the register never deletes.

use curtain_model::register::{
    AddressAssociation, ContainerInstanceFact, EniFact, InstanceFact, LambdaConfigFact, ServiceFact,
    TaskDefinitionFact, TaskFact,
};
use std::fmt;

/// Why an AWS call failed (kept as text: the SDK's errors are many and only shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudError(pub String);

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CloudError {}

/// An error and its sources, as one line (the SDK's Display alone is terse: "service error").
#[cfg(feature = "aws")]
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Task lists ECS keeps: running ones, and stopped ones (for about an hour after they stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Running,
    Stopped,
}

/// Names each Lambda interface's functions: Lambda shares one interface among every function of
/// the same subnet and set of security groups.
pub fn name_lambda_functions(enis: &mut [EniFact], functions: &[LambdaConfigFact]) {
    let is_lambda = |e: &EniFact| {
        e.interface_type.as_deref() == Some("lambda")
            || e.description.as_deref().is_some_and(|d| d.starts_with("AWS Lambda VPC ENI"))
    };
    for e in enis.iter_mut().filter(|e| is_lambda(e)) {
        let mut groups = e.security_groups.clone();
        groups.sort();
        let mut names: Vec<String> = functions
            .iter()
            .filter(|f| {
                let mut g = f.security_groups.clone();
                g.sort();
                g == groups && e.subnet_id.as_ref().is_some_and(|s| f.subnets.contains(s))
            })
            .map(|f| f.function_name.clone())
            .collect();
        names.sort();
        e.lambda_functions = names;
    }
}

/// The calls the inventory makes in one account and region. The SDK implements it
/// ([`crate::aws::AwsRegion`]); tests use an in-memory one, and a wrapper can make any call fail.
#[allow(async_fn_in_trait)]
pub trait RegionApi {
    async fn clusters(&self) -> Result<Vec<String>, CloudError>;
    async fn task_arns(&self, cluster: &str, listed: Listed) -> Result<Vec<String>, CloudError>;
    /// At most 100 arns at a time.
    async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<TaskFact>, CloudError>;
    /// Every network interface, with what names its owner (ECS's by their attachment).
    async fn enis(&self) -> Result<Vec<EniFact>, CloudError>;
    /// Every Lambda function's VPC configuration as listed (no subnets: in no VPC).
    async fn lambda_functions(&self) -> Result<Vec<LambdaConfigFact>, CloudError>;
    /// Every Elastic IP (DescribeAddresses).
    async fn elastic_ips(&self) -> Result<ElasticIps, CloudError>;
    /// Every EC2 instance, in a cluster or not (DescribeInstances).
    async fn ec2_instances(&self) -> Result<Vec<InstanceFact>, CloudError>;
    async fn services(&self, cluster: &str) -> Result<Vec<ServiceFact>, CloudError>;
    async fn task_definition(&self, arn: &str) -> Result<TaskDefinitionFact, CloudError>;
    /// The cluster's container instances with their EC2 instance's addresses.
    async fn container_instances(&self, cluster: &str) -> Result<Vec<ContainerInstanceFact>, CloudError>;
}

/// The Elastic IPs of an account and region as DescribeAddresses shows them.
#[derive(Debug, Default)]
pub struct ElasticIps {
    /// Those associated with no interface, each as an interface-like fact of type
    /// `elastic-ip` (its allocation id as the interface).
    pub idle: Vec<EniFact>,
    /// The associations of the others: the address is also among its interface's.
    pub associated: Vec<AddressAssociation>,
}

/// What one account and region gave.
#[derive(Debug, Default)]
pub struct RegionInventory {
    pub account_id: String,
    pub region: String,
    pub clusters: usize,
    pub tasks: Vec<TaskFact>,
    pub enis: Vec<EniFact>,
    pub services: Vec<ServiceFact>,
    pub task_definitions: Vec<TaskDefinitionFact>,
    pub instances: Vec<ContainerInstanceFact>,
    /// Every EC2 instance of the region.
    pub ec2_instances: Vec<InstanceFact>,
    /// Every Lambda function's VPC configuration as listed, when ListFunctions answered (the
    /// list is then whole: a function not in it is gone).
    pub lambda_configs: Option<Vec<LambdaConfigFact>>,
    /// The Elastic IPs associated with an interface when the sync saw them.
    pub associations: Vec<AddressAssociation>,
    pub errors: Vec<String>,
}

/// Gathers one account and region. Every error is recorded and the rest goes on: a cluster that
/// fails does not stop the others.
pub async fn inventory_region<A: RegionApi>(
    api: &A,
    account_id: &str,
    region: &str,
    progress: &dyn Fn(&str),
) -> RegionInventory {
    let mut inv = RegionInventory { account_id: account_id.into(), region: region.into(), ..Default::default() };
    progress("clusters");
    let clusters = match api.clusters().await {
        Ok(c) => c,
        Err(e) => {
            inv.errors.push(format!("ListClusters: {e}"));
            Vec::new()
        }
    };
    inv.clusters = clusters.len();
    for cluster in &clusters {
        let short = cluster.rsplit('/').next().unwrap_or(cluster);
        progress(&format!("{short}: services"));
        match api.services(cluster).await {
            Ok(s) => inv.services.extend(s),
            Err(e) => inv.errors.push(format!("Services {short}: {e}")),
        }
        progress(&format!("{short}: container instances"));
        match api.container_instances(cluster).await {
            Ok(i) => inv.instances.extend(i),
            Err(e) => inv.errors.push(format!("ContainerInstances {short}: {e}")),
        }
        for listed in [Listed::Running, Listed::Stopped] {
            progress(&format!("{short}: {:?} tasks", listed).to_lowercase());
            let arns = match api.task_arns(cluster, listed).await {
                Ok(a) => a,
                Err(e) => {
                    inv.errors.push(format!("ListTasks {short} {listed:?}: {e}"));
                    continue;
                }
            };
            for chunk in arns.chunks(100) {
                match api.describe_tasks(cluster, chunk).await {
                    Ok(t) => inv.tasks.extend(t),
                    Err(e) => inv.errors.push(format!("DescribeTasks {short}: {e}")),
                }
            }
        }
    }
    let mut defs: Vec<String> = inv
        .tasks
        .iter()
        .filter_map(|t| t.task_definition_arn.clone())
        .chain(inv.services.iter().filter_map(|s| s.task_definition_arn.clone()))
        .collect();
    defs.sort();
    defs.dedup();
    progress("task definitions");
    for arn in defs {
        match api.task_definition(&arn).await {
            Ok(d) => inv.task_definitions.push(d),
            Err(e) => inv.errors.push(format!("DescribeTaskDefinition {arn}: {e}")),
        }
    }
    progress("network interfaces");
    match api.enis().await {
        Ok(e) => inv.enis = e,
        Err(e) => inv.errors.push(format!("DescribeNetworkInterfaces: {e}")),
    }
    progress("Lambda functions");
    match api.lambda_functions().await {
        Ok(f) => {
            name_lambda_functions(&mut inv.enis, &f);
            inv.lambda_configs = Some(f);
        }
        Err(e) => inv.errors.push(format!("ListFunctions: {e}")),
    }
    progress("elastic IPs");
    match api.elastic_ips().await {
        Ok(e) => {
            inv.enis.extend(e.idle);
            inv.associations = e.associated;
        }
        Err(e) => inv.errors.push(format!("DescribeAddresses: {e}")),
    }
    progress("EC2 instances");
    match api.ec2_instances().await {
        Ok(i) => inv.ec2_instances = i,
        Err(e) => inv.errors.push(format!("DescribeInstances: {e}")),
    }
    inv
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use curtain_model::register::{AttachmentFact, IpFact, Provenance, SourceKind};
    use std::cell::Cell;

    /// An in-memory region: `clusters` with their tasks (arn, ip), paginated by `page`.
    pub struct FakeRegion {
        pub clusters: Vec<(String, Vec<(String, String)>)>,
        pub calls: Cell<usize>,
        /// The call number (from 1) that fails, as a throttled call would after its retries.
        pub fail_at: Option<usize>,
    }

    impl FakeRegion {
        fn call(&self, what: &str) -> Result<(), CloudError> {
            let n = self.calls.get() + 1;
            self.calls.set(n);
            if self.fail_at == Some(n) {
                return Err(CloudError(format!("ThrottlingException: Rate exceeded ({what})")));
            }
            Ok(())
        }
    }

    impl RegionApi for FakeRegion {
        async fn clusters(&self) -> Result<Vec<String>, CloudError> {
            self.call("ListClusters")?;
            Ok(self.clusters.iter().map(|c| c.0.clone()).collect())
        }
        async fn task_arns(&self, cluster: &str, listed: Listed) -> Result<Vec<String>, CloudError> {
            self.call("ListTasks")?;
            let c = self.clusters.iter().find(|c| c.0 == cluster).unwrap();
            Ok(if listed == Listed::Running { c.1.iter().map(|t| t.0.clone()).collect() } else { vec![] })
        }
        async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<TaskFact>, CloudError> {
            self.call("DescribeTasks")?;
            let c = self.clusters.iter().find(|c| c.0 == cluster).unwrap();
            Ok(arns
                .iter()
                .map(|a| {
                    let ip = c.1.iter().find(|t| &t.0 == a).unwrap().1.clone();
                    TaskFact {
                        task_arn: a.clone(),
                        account_id: "111122223333".into(),
                        region: "us-east-1".into(),
                        cluster_arn: Some(cluster.into()),
                        group: None,
                        task_definition_arn: None,
                        launch_type: Some("FARGATE".into()),
                        availability_zone: None,
                        last_status: Some("RUNNING".into()),
                        created_at: None,
                        started_at: None,
                        stopped_at: None,
                        container_instance_arn: None,
                        containers: vec![],
                        attachments: vec![AttachmentFact {
                            id: format!("att-{a}"),
                            eni_id: Some(format!("eni-{a}")),
                            ips: vec![IpFact { ip, kind: "private".into() }],
                            status: Some("ATTACHED".into()),
                        }],
                        source: Provenance { kind: SourceKind::Sync, id: "sync".into(), at_ns: 1 },
                    }
                })
                .collect())
        }
        async fn enis(&self) -> Result<Vec<EniFact>, CloudError> {
            self.call("DescribeNetworkInterfaces")?;
            Ok(vec![])
        }
        async fn ec2_instances(&self) -> Result<Vec<InstanceFact>, CloudError> {
            self.call("DescribeInstances")?;
            Ok(Vec::new())
        }

        async fn elastic_ips(&self) -> Result<ElasticIps, CloudError> {
            self.call("DescribeAddresses")?;
            Ok(ElasticIps::default())
        }
        async fn lambda_functions(&self) -> Result<Vec<LambdaConfigFact>, CloudError> {
            self.call("ListFunctions")?;
            Ok(vec![])
        }
        async fn services(&self, _: &str) -> Result<Vec<ServiceFact>, CloudError> {
            self.call("Services")?;
            Ok(vec![])
        }
        async fn task_definition(&self, _: &str) -> Result<TaskDefinitionFact, CloudError> {
            Err(CloudError("no task definitions here".into()))
        }
        async fn container_instances(&self, _: &str) -> Result<Vec<ContainerInstanceFact>, CloudError> {
            self.call("ContainerInstances")?;
            Ok(vec![])
        }
    }

    pub fn fake(fail_at: Option<usize>) -> FakeRegion {
        let tasks = |c: &str, n: usize| {
            (0..n).map(|i| (format!("arn:task/{c}/{i}"), format!("10.{}.0.{i}", c.len()))).collect()
        };
        FakeRegion {
            clusters: vec![("arn:cluster/a".into(), tasks("a", 150)), ("arn:cluster/bb".into(), tasks("bb", 3))],
            calls: Cell::new(0),
            fail_at,
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn gathers_every_cluster_in_pages_of_100() {
        let api = fake(None);
        let inv = block_on(inventory_region(&api, "111122223333", "us-east-1", &|_| {}));
        assert!(inv.errors.is_empty());
        assert_eq!((inv.clusters, inv.tasks.len()), (2, 153));
        // clusters, then per cluster: services, instances, running list, 2 (or 1) describes,
        // stopped list; then ENIs, Lambda functions, Elastic IPs and EC2 instances
        assert_eq!(api.calls.get(), 1 + (2 + 1 + 2 + 1) + (2 + 1 + 1 + 1) + 4);
    }

    #[test]
    fn a_lambda_interface_names_every_function_of_its_subnet_and_groups() {
        let eni = |sub: &str, groups: &[&str]| EniFact {
            interface_type: Some("lambda".into()),
            subnet_id: Some(sub.into()),
            security_groups: groups.iter().map(|g| g.to_string()).collect(),
            ..EniFact::bare(
                "eni-l".into(),
                "1".into(),
                "r".into(),
                Provenance { kind: SourceKind::Sync, id: "s".into(), at_ns: 1 },
            )
        };
        let f = |n: &str, subs: &[&str], groups: &[&str]| LambdaConfigFact {
            function_name: n.into(),
            function_arn: None,
            account_id: "1".into(),
            region: "r".into(),
            subnets: subs.iter().map(|s| s.to_string()).collect(),
            security_groups: groups.iter().map(|g| g.to_string()).collect(),
            deleted: false,
            source: Provenance { kind: SourceKind::Sync, id: "s".into(), at_ns: 1 },
        };
        let functions = [
            f("orders", &["subnet-a", "subnet-b"], &["sg-2", "sg-1"]),
            f("billing", &["subnet-a"], &["sg-1", "sg-2"]),
            f("other-groups", &["subnet-a"], &["sg-1"]),
            f("other-subnet", &["subnet-c"], &["sg-1", "sg-2"]),
        ];
        let mut enis = [eni("subnet-a", &["sg-1", "sg-2"])];
        name_lambda_functions(&mut enis, &functions);
        assert_eq!(enis[0].lambda_functions, ["billing", "orders"]);
    }

    #[test]
    fn a_failed_call_keeps_the_rest() {
        // The 5th call (the first DescribeTasks page of cluster a) is throttled for good.
        let api = fake(Some(5));
        let inv = block_on(inventory_region(&api, "111122223333", "us-east-1", &|_| {}));
        assert_eq!(inv.errors.len(), 1);
        assert!(inv.errors[0].contains("ThrottlingException"), "{:?}", inv.errors);
        assert_eq!(inv.tasks.len(), 50 + 3, "the second page and the other cluster are still there");
    }
}
