//! Facts about the cloud estate for the asset register: what one source (a live sync, an
//! EventBridge event, a CloudTrail record) says about an ECS task or a network interface.
//! Times are nanoseconds since the epoch, UTC.

use serde::{Deserialize, Serialize};

/// Where a fact comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Seen by `curtain inventory sync` through the ECS and EC2 APIs.
    Sync,
    /// An EventBridge "ECS Task State Change" event.
    EventBridge,
    /// A CloudTrail record (RunTask, StopTask, Create/DeleteNetworkInterface).
    CloudTrail,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Sync => "sync",
            SourceKind::EventBridge => "eventbridge",
            SourceKind::CloudTrail => "cloudtrail",
        }
    }
}

/// One source: its kind, its id (event id, CloudTrail eventID, or the sync's start time) and
/// when it was true.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub kind: SourceKind,
    pub id: String,
    pub at_ns: u64,
}

/// An address a network attachment holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpFact {
    pub ip: String,
    /// `private`, `public` or `ipv6`.
    pub kind: String,
}

/// A task's network attachment (an awsvpc ENI): the attachment id ECS gives it, and the ENI and
/// addresses once known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentFact {
    pub id: String,
    pub eni_id: Option<String>,
    pub ips: Vec<IpFact>,
    pub status: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerFact {
    pub name: String,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub runtime_id: Option<String>,
    pub last_status: Option<String>,
}

/// What one source says about one ECS task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFact {
    pub task_arn: String,
    pub account_id: String,
    pub region: String,
    pub cluster_arn: Option<String>,
    /// `service:NAME` or `family:NAME`, as ECS groups tasks.
    pub group: Option<String>,
    pub task_definition_arn: Option<String>,
    pub launch_type: Option<String>,
    pub availability_zone: Option<String>,
    pub last_status: Option<String>,
    pub created_at: Option<u64>,
    pub started_at: Option<u64>,
    pub stopped_at: Option<u64>,
    /// EC2 launch type: the container instance the task runs on.
    pub container_instance_arn: Option<String>,
    pub containers: Vec<ContainerFact>,
    pub attachments: Vec<AttachmentFact>,
    pub source: Provenance,
}

/// What one source says about a network interface, with the ECS attachment it was made for
/// (from its description `arn:aws:ecs:REGION:ACCOUNT:attachment/UUID`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EniFact {
    pub eni_id: String,
    /// The attachment its description names. Anyone who may create an interface can write that
    /// description: it ties the interface to a task only with [`Self::ecs_proof`], or when the
    /// task's own attachment (from ECS) names this interface.
    pub attachment_id: Option<String>,
    /// What says ECS made it, not just its description: `cloudtrail:ecs.amazonaws.com` (the
    /// CreateNetworkInterface call was ECS's own, by `invokedBy` or the service-linked role) or
    /// `requester-managed` (EC2 says an AWS service made and manages it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_proof: Option<String>,
    pub account_id: String,
    pub region: String,
    pub ips: Vec<IpFact>,
    pub created_at: Option<u64>,
    pub deleted_at: Option<u64>,
    pub description: Option<String>,
    /// EC2's `InterfaceType` (`interface`, `nat_gateway`, `lambda`, `vpc_endpoint`, `branch`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_type: Option<String>,
    /// EC2's `RequesterId`: the service or account that made a requester-managed interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_id: Option<String>,
    /// The EC2 instance it is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Its subnet and security groups: a Lambda interface serves every function of that subnet
    /// and set of groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// For a Lambda interface: the functions whose VPC configuration it serves (ListFunctions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lambda_functions: Vec<String>,
    pub source: Provenance,
}

impl EniFact {
    /// An interface a source names and says nothing else of: what each source then fills in.
    pub fn bare(eni_id: String, account_id: String, region: String, source: Provenance) -> EniFact {
        EniFact {
            eni_id,
            attachment_id: None,
            ecs_proof: None,
            account_id,
            region,
            ips: Vec::new(),
            created_at: None,
            deleted_at: None,
            description: None,
            interface_type: None,
            requester_id: None,
            instance_id: None,
            subnet_id: None,
            security_groups: Vec::new(),
            lambda_functions: Vec::new(),
            source,
        }
    }
}

/// The kinds of owner `whois` names, first on each holder.
pub const OWNER_KINDS: &[&str] = &[
    "ecs-task",
    "ec2-instance",
    "load-balancer",
    "nat-gateway",
    "lambda",
    "vpc-endpoint",
    "efs-mount-target",
    "rds",
    "eks",
    "transit-gateway",
    "elastic-ip",
    "unknown",
];

/// Who owns an interface that is not an ECS task's: its kind (one of [`OWNER_KINDS`]) and what
/// identifies it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub kind: String,
    /// The owner's id: an instance id, a NAT gateway id, a function name, a load balancer's
    /// name, an endpoint id, a file system and mount target...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// More of what AWS says: the load balancer's type, the EKS cluster...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The interface's description as AWS gives it, kept for an owner it cannot classify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A Lambda interface's functions: every function of its subnet and security groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
    /// An EC2 instance's own (DescribeInstances, RunInstances): its `Name` tag, type and launch
    /// time (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launched_at: Option<String>,
    /// An EC2 instance's states as they were seen, oldest first: each from the first time it was
    /// seen in it to the last, before another was seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<StateSpell>,
    /// A Lambda interface's functions over time (CloudTrail's CreateFunction,
    /// UpdateFunctionConfiguration and DeleteFunction, and syncs): each spell of a function whose
    /// VPC configuration this interface served (its subnet among the function's, the same set of
    /// security groups) in the time asked about, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_spells: Vec<FunctionSpell>,
}

/// A spell of a Lambda function in one VPC configuration: from (RFC 3339 UTC), and to unless it
/// still is as far as the register knows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSpell {
    pub function: String,
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// A Lambda function's VPC configuration from the source's time on: what CloudTrail's
/// CreateFunction and UpdateFunctionConfiguration set, what a sync's ListFunctions saw, or, with
/// `deleted`, none (DeleteFunction). Empty subnets: the function is in no VPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaConfigFact {
    pub function_name: String,
    pub function_arn: Option<String>,
    pub account_id: String,
    pub region: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub deleted: bool,
    pub source: Provenance,
}

impl LambdaConfigFact {
    /// The function's name whether a record gives it as a name, a partial ARN
    /// (`ACCOUNT:function:NAME`) or an ARN, without a version or alias qualifier.
    pub fn name_of(given: &str) -> &str {
        match given.split_once("function:") {
            Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
            None => given,
        }
    }
}

/// A spell of an EC2 instance in one state (`pending`, `running`, `stopping`, `stopped`,
/// `shutting-down`, `terminated`), as seen: first and last seen in it, RFC 3339 UTC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSpell {
    pub state: String,
    pub first_seen: String,
    pub last_seen: String,
}

/// An Elastic IP associated with an interface, as CloudTrail's AssociateAddress says it: the
/// address itself (EC2-Classic) or its allocation, and the interface or the instance (whose first
/// known interface is meant), from the source's time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressAssociation {
    pub association_id: Option<String>,
    pub allocation_id: Option<String>,
    pub public_ip: Option<String>,
    pub eni_id: Option<String>,
    pub instance_id: Option<String>,
    pub account_id: String,
    pub region: String,
    pub source: Provenance,
}

/// An EC2 instance, in a cluster or not, as DescribeInstances (or CloudTrail's RunInstances and
/// TerminateInstances) shows it at the source's time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceFact {
    pub instance_id: String,
    pub account_id: String,
    pub region: String,
    /// Its `Name` tag.
    pub name: Option<String>,
    pub state: Option<String>,
    pub instance_type: Option<String>,
    pub launched_at: Option<u64>,
    pub source: Provenance,
}

/// Classifies an interface's owner from what EC2 says of it: its interface type, who requested
/// it, the instance it is attached to, and its description, in the forms AWS documents for each
/// service. An owner it cannot classify is `unknown`, with the raw description kept. The
/// description is anyone's to write: only the ECS task claim is ever checked further (see
/// [`EniFact::ecs_proof`]); the others name what the interface says it is for.
pub fn classify_eni(
    description: Option<&str>,
    interface_type: Option<&str>,
    requester_id: Option<&str>,
    instance_id: Option<&str>,
) -> Owner {
    let d = description.unwrap_or("").trim();
    let t = interface_type.unwrap_or("");
    let own = |kind: &str, id: Option<&str>, detail: Option<&str>| Owner {
        kind: kind.into(),
        id: id.filter(|s| !s.is_empty()).map(str::to_string),
        detail: detail.filter(|s| !s.is_empty()).map(str::to_string),
        description: description.map(str::to_string),
        ..Owner::default()
    };
    let word = |s: &str, prefix: &str| {
        s.split(|c: char| c.is_whitespace() || c == ')' || c == '(').find(|w| w.starts_with(prefix)).map(str::to_string)
    };
    if d.starts_with("arn:aws:ecs:") && d.contains(":attachment/") {
        return own("ecs-task", None, None);
    }
    if t == "elastic-ip" {
        // Not an interface: an Elastic IP the sync found associated with none.
        return own("elastic-ip", d.strip_prefix("Elastic IP "), Some("not associated"));
    }
    if t == "nat_gateway" || d.starts_with("Interface for NAT Gateway") {
        return own("nat-gateway", word(d, "nat-").as_deref(), None);
    }
    if t == "lambda" || d.starts_with("AWS Lambda VPC ENI") {
        // "AWS Lambda VPC ENI-<function>-<uuid>": the function (one ENI serves every function of
        // the same subnet and security groups; the name is the one it was made for).
        let f = d.strip_prefix("AWS Lambda VPC ENI-").map(|r| {
            let parts: Vec<&str> = r.rsplitn(6, '-').collect();
            if parts.len() == 6 {
                parts[5]
            } else {
                r
            }
        });
        return own("lambda", f, None);
    }
    if let Some(rest) = d.strip_prefix("ELB ") {
        // "ELB app/NAME/ID", "ELB net/NAME/ID", "ELB gwy/NAME/ID", or "ELB NAME" (classic).
        let mut it = rest.split('/');
        let (kind, name) = match (it.next(), it.next()) {
            (Some("app"), Some(n)) => ("application", n),
            (Some("net"), Some(n)) => ("network", n),
            (Some("gwy"), Some(n)) => ("gateway", n),
            _ => ("classic", rest),
        };
        return own("load-balancer", Some(name), Some(kind));
    }
    if t == "network_load_balancer" || t == "gateway_load_balancer" {
        return own("load-balancer", None, Some(t));
    }
    if t == "vpc_endpoint" || t == "gateway_load_balancer_endpoint" || d.starts_with("VPC Endpoint Interface") {
        return own("vpc-endpoint", word(d, "vpce-").as_deref(), None);
    }
    if d.starts_with("EFS mount target") {
        let fs = word(d, "fs-");
        return own("efs-mount-target", fs.as_deref(), word(d, "fsmt-").as_deref());
    }
    if d == "RDSNetworkInterface" || requester_id == Some("amazon-rds") {
        return own("rds", None, None);
    }
    if t == "transit_gateway" || d.starts_with("Network Interface for Transit Gateway Attachment") {
        return own("transit-gateway", word(d, "tgw-attach-").as_deref(), None);
    }
    if let Some(c) = d.strip_prefix("Amazon EKS ") {
        return own("eks", Some(c), Some("control plane"));
    }
    if t == "branch" || t == "trunk" || d.starts_with("aws-K8S-") {
        return own(
            "eks",
            instance_id.or_else(|| d.strip_prefix("aws-K8S-")),
            Some(if t.is_empty() { "node" } else { t }),
        );
    }
    if let Some(i) = instance_id {
        return own("ec2-instance", Some(i), None);
    }
    own("unknown", None, None)
}

/// How sure the register is that a holder held an address over an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Certainty {
    /// The task and its address were seen together (a sync, a task state change event), with
    /// the task's own start and stop times.
    Observed,
    /// Put together: the ENI's life from CloudTrail joined to the task through the attachment
    /// id, or an interval bounded by when a sync first and last saw it.
    Inferred,
    /// Only the interface's description names an ECS attachment: neither ECS's own records nor
    /// the EC2 API say ECS made it, so no task is named (anyone can write that description).
    Claimed,
}

/// One answer of `whois`: who held the address, over which interval, and how that is known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub ip: String,
    pub ip_kind: String,
    pub account_id: String,
    pub region: String,
    pub cluster_arn: Option<String>,
    pub service: Option<String>,
    pub task_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    pub launch_type: Option<String>,
    /// The task definition's network mode, when known (`bridge` and `host` tasks use the
    /// container instance's address).
    pub network_mode: Option<String>,
    pub containers: Vec<ContainerFact>,
    /// What the task definition runs: image, command, entrypoint per container.
    pub definition: Vec<ContainerDefinitionFact>,
    /// The EC2 container instance, for an address that is the host's.
    pub container_instance_arn: Option<String>,
    pub ec2_instance_id: Option<String>,
    pub eni_id: Option<String>,
    pub attachment_id: Option<String>,
    /// Start of the interval (RFC 3339), when known.
    pub from: Option<String>,
    /// End of the interval; `None` while it is still held as far as the register knows.
    pub to: Option<String>,
    /// The last time a source saw it held.
    pub last_seen: Option<String>,
    pub certainty: Certainty,
    pub sources: Vec<Provenance>,
    /// What holds it: one of [`OWNER_KINDS`] (`ecs-task` for a task, whether on its own
    /// interface or on its container instance's address).
    #[serde(default = "ecs_task")]
    pub kind: String,
    /// Who, when it is not a task: the interface's owner as EC2 describes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The snapshots `curtain acquire` took of the task's containers, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acquisitions: Vec<AcquisitionRef>,
}

fn ecs_task() -> String {
    "ecs-task".into()
}

/// One acquisition of a task's container, as the register keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquisitionRef {
    pub container_name: Option<String>,
    pub started_at: String,
    pub ended_at: String,
    pub method: String,
    pub transport: String,
    pub operator: String,
    pub archive: Option<String>,
    pub sha256: Option<String>,
    pub verified: bool,
    pub error: Option<String>,
}

/// An ECS service as the API describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFact {
    pub service_arn: String,
    pub name: String,
    pub cluster_arn: String,
    pub account_id: String,
    pub region: String,
    pub task_definition_arn: Option<String>,
    pub launch_type: Option<String>,
    pub desired_count: Option<i64>,
    pub created_at: Option<u64>,
    pub source: Provenance,
}

/// A container of a task definition: what it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerDefinitionFact {
    pub name: String,
    pub image: Option<String>,
    pub command: Vec<String>,
    pub entry_point: Vec<String>,
}

/// A task definition revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDefinitionFact {
    pub task_definition_arn: String,
    pub family: Option<String>,
    pub revision: Option<i64>,
    /// `awsvpc`, `bridge`, `host` or `none`.
    pub network_mode: Option<String>,
    pub containers: Vec<ContainerDefinitionFact>,
    pub account_id: String,
    pub region: String,
    pub source: Provenance,
}

/// A container instance (EC2 launch type): the host whose address bridge and host mode tasks use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInstanceFact {
    pub container_instance_arn: String,
    pub cluster_arn: String,
    pub ec2_instance_id: Option<String>,
    pub ips: Vec<IpFact>,
    pub account_id: String,
    pub region: String,
    pub source: Provenance,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Descriptions and interface types as AWS documents them for each service's interfaces.
    #[test]
    fn every_owner_kind_from_what_ec2_says() {
        let c = |d: &str, t: &str, req: Option<&str>, inst: Option<&str>| {
            let o = classify_eni((!d.is_empty()).then_some(d), (!t.is_empty()).then_some(t), req, inst);
            (o.kind, o.id, o.detail)
        };
        let s = |x: &str| Some(x.to_string());
        assert_eq!(c("arn:aws:ecs:us-east-1:111122223333:attachment/1a2b", "interface", None, None).0, "ecs-task");
        assert_eq!(
            c("Interface for NAT Gateway nat-0a1b2c3d4e5f60718", "nat_gateway", None, None),
            ("nat-gateway".into(), s("nat-0a1b2c3d4e5f60718"), None)
        );
        assert_eq!(
            c("AWS Lambda VPC ENI-my-function-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "lambda", None, None),
            ("lambda".into(), s("my-function"), None)
        );
        assert_eq!(
            c("ELB app/web-alb/50dc6c495c0c9188", "interface", Some("amazon-elb"), None),
            ("load-balancer".into(), s("web-alb"), s("application"))
        );
        assert_eq!(
            c("ELB net/api-nlb/4d3c2b1a", "network_load_balancer", None, None),
            ("load-balancer".into(), s("api-nlb"), s("network"))
        );
        assert_eq!(
            c("ELB legacy-elb", "interface", None, None),
            ("load-balancer".into(), s("legacy-elb"), s("classic"))
        );
        assert_eq!(
            c("VPC Endpoint Interface vpce-0a1b2c3d4e5f60718", "vpc_endpoint", None, None),
            ("vpc-endpoint".into(), s("vpce-0a1b2c3d4e5f60718"), None)
        );
        assert_eq!(
            c("EFS mount target for fs-12345678 (fsmt-87654321)", "interface", None, None),
            ("efs-mount-target".into(), s("fs-12345678"), s("fsmt-87654321"))
        );
        assert_eq!(c("RDSNetworkInterface", "interface", Some("amazon-rds"), None).0, "rds");
        assert_eq!(c("Amazon EKS prod", "interface", None, None), ("eks".into(), s("prod"), s("control plane")));
        assert_eq!(c("aws-K8S-i-0a1b2c3d4e5f60718", "interface", None, Some("i-0a1b2c3d4e5f60718")).0, "eks");
        assert_eq!(
            c(
                "Network Interface for Transit Gateway Attachment tgw-attach-0a1b2c3d4e5f60718",
                "transit_gateway",
                None,
                None
            ),
            ("transit-gateway".into(), s("tgw-attach-0a1b2c3d4e5f60718"), None)
        );
        assert_eq!(
            c("Primary network interface", "interface", None, Some("i-0123456789abcdef0")),
            ("ec2-instance".into(), s("i-0123456789abcdef0"), None)
        );
        let o = classify_eni(Some("made by hand"), Some("interface"), None, None);
        assert_eq!((o.kind.as_str(), o.description.as_deref()), ("unknown", Some("made by hand")));
        for k in [
            "ecs-task",
            "nat-gateway",
            "lambda",
            "load-balancer",
            "vpc-endpoint",
            "efs-mount-target",
            "rds",
            "eks",
            "transit-gateway",
            "ec2-instance",
            "unknown",
        ] {
            assert!(OWNER_KINDS.contains(&k));
        }
    }
}
