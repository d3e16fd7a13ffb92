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
    pub source: Provenance,
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
    /// The snapshots `curtain acquire` took of the task's containers, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acquisitions: Vec<AcquisitionRef>,
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
