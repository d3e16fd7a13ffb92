//! Answering from the register: who held an address and when (`whois`), and how much it holds.
//!
//! `whois` asks a fixed number of questions whatever the number of holders: the interfaces that
//! held the address, joined to their attachment, task and task definition; the hosts that held
//! it, joined to their bridge and host mode tasks and those tasks' definitions; then the sources
//! and the containers of every holder at once, and what the register knows of the owners that are
//! no task (EC2 instances and their states, Lambda functions' configurations). An address reused
//! by hundreds of tasks over a year costs those few queries, not a few per holder.

use std::collections::HashMap;

use curtain_model::format_rfc3339_signed_ns;
use curtain_model::register::{Certainty, ContainerDefinitionFact, ContainerFact, Holder, Provenance, SourceKind};
use rusqlite::Row;

use crate::{sql_ns, Error, Register};

/// An address an interface held, with the interface, the attachment it names (when ECS's
/// records back that), that attachment's task and the task's definition.
struct EniHolding {
    ip: String,
    kind: String,
    eni: String,
    ip_first: i64,
    ip_last: i64,
    account: String,
    region: String,
    eni_created: Option<i64>,
    eni_deleted: Option<i64>,
    /// The attachment the interface's description names.
    attachment: Option<String>,
    /// The task of the attachment matched; it may have no row of its own in `tasks`.
    task_arn: Option<String>,
    /// The attachment row matched: ECS's records name this interface for it.
    linked: bool,
    ecs_proof: Option<String>,
    task: Option<TaskRow>,
    definition: Definition,
    /// The interface's owner as EC2 describes it (for one that is no task's).
    owner: curtain_model::register::Owner,
    /// The spell the address was held in, when it was held for part of the interface's life
    /// only (an Elastic IP's association): from, and to unless it still is.
    spell: Option<(i64, Option<i64>)>,
    /// Its subnet and security groups (a sorted JSON array), when a source gave them.
    subnet: Option<String>,
    groups: Option<String>,
}

/// What the register holds of a task itself.
struct TaskRow {
    cluster_arn: Option<String>,
    group: Option<String>,
    task_definition_arn: Option<String>,
    launch_type: Option<String>,
    created_at: Option<i64>,
    started_at: Option<i64>,
    stopped_at: Option<i64>,
    last_seen: i64,
    account: String,
    region: String,
}

/// A host's address, and one of the bridge or host mode tasks that ran on the host.
struct HostHolding {
    ip: String,
    instance_arn: String,
    ec2_instance_id: Option<String>,
    cluster_arn: String,
    account: String,
    region: String,
    kind: String,
    ip_first: i64,
    ip_last: i64,
    task_arn: String,
    group: Option<String>,
    task_definition_arn: Option<String>,
    launch_type: Option<String>,
    created_at: Option<i64>,
    started_at: Option<i64>,
    stopped_at: Option<i64>,
    task_last: i64,
    definition: Definition,
}

/// A task definition's network mode and containers, empty when the definition is unknown.
#[derive(Default)]
struct Definition {
    network_mode: Option<String>,
    containers: Vec<ContainerDefinitionFact>,
}

impl Definition {
    /// From its two columns, NULL when the join found no definition. Containers the register
    /// cannot read are left out rather than failing the whole answer.
    fn from_columns(network_mode: Option<String>, containers: Option<String>) -> Definition {
        match containers {
            Some(c) => Definition { network_mode, containers: serde_json::from_str(&c).unwrap_or_default() },
            None => Definition::default(),
        }
    }
}

/// One way of holding an address, read from one query's rows.
trait Holding: Sized {
    /// Its rows for one address (?1), in the order holders that start together are listed.
    const SQL: &'static str;
    /// Its rows for every address, in the same order address by address.
    const ALL_SQL: &'static str;
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self>;
    fn interval(&self) -> Interval;
    /// Whether it holds nothing after all (its interval ends before it starts for a reason of
    /// its own; an older register's rows never are).
    fn empty(&self, _: &Interval) -> bool {
        false
    }
}

/// A holder of an address with its interval as the register reckons it (nanoseconds since the
/// epoch, UTC): from its start (an unknown start is when it was first seen) to its end, open while
/// still held as far as the register knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldInterval {
    pub from_ns: i64,
    pub to_ns: Option<i64>,
    pub holder: Holder,
}

impl HeldInterval {
    /// Whether the holder held the address at `at_ns`: `whois --at`'s test.
    pub fn holds(&self, at_ns: u64) -> bool {
        Interval { from: self.from_ns, to: self.to_ns, last_seen: 0 }.holds(Some(at_ns))
    }
}

/// A task as the register keeps it, with its containers and every source that named it: a row
/// of `curtain inventory export`'s tasks table. Times are nanoseconds since the epoch, UTC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskListing {
    pub task_arn: String,
    pub account_id: String,
    pub region: String,
    pub cluster_arn: Option<String>,
    /// The ECS service, from a `service:NAME` group.
    pub service: Option<String>,
    /// The group as ECS gives it (`service:NAME`, `family:NAME`).
    pub group: Option<String>,
    pub task_definition_arn: Option<String>,
    pub launch_type: Option<String>,
    pub availability_zone: Option<String>,
    pub last_status: Option<String>,
    pub created_at: Option<i64>,
    pub started_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub container_instance_arn: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub containers: Vec<ContainerFact>,
    pub sources: Vec<Provenance>,
}

/// A holder's interval: from, to (open while still held) and when a source last saw it held.
struct Interval {
    from: i64,
    to: Option<i64>,
    last_seen: i64,
}

impl Interval {
    /// With `at`, whether the interval holds that instant (an open one holds it up to now).
    fn holds(&self, at: Option<u64>) -> bool {
        match at.map(sql_ns) {
            Some(at) => !(at < self.from || self.to.is_some_and(|to| at > to)),
            None => true,
        }
    }
}

/// Every interface holding of an address (`$filter` chooses which), in the order the register
/// learnt of them.
macro_rules! eni_holdings {
    ($filter:literal) => {
        concat!(
            "
SELECT i.ip, i.kind, i.eni_id, i.first_seen, i.last_seen, e.account_id, e.region, e.created_at, e.deleted_at,
       e.attachment_id, a.task_arn, a.attachment_id IS NOT NULL, e.ecs_proof,
       t.task_arn IS NOT NULL, t.cluster_arn, t.grp, t.task_definition_arn, t.launch_type, t.created_at, t.started_at,
       t.stopped_at, t.last_seen, t.account_id, t.region,
       d.network_mode, d.containers, e.description, e.interface_type, e.requester_id, e.instance_id,
       e.lambda_functions, s.held_from, s.held_to, e.subnet_id, e.security_groups
FROM eni_ips i JOIN enis e ON e.eni_id = i.eni_id
-- A spell of the address on the interface (an Elastic IP's association): a row each.
LEFT JOIN address_spells s ON s.eni_id = i.eni_id AND s.ip = i.ip
-- The attachment names the interface, or ECS made the interface for an attachment that has
-- none yet; a description alone links nothing.
LEFT JOIN attachments a ON a.attachment_id = e.attachment_id
     AND (a.eni_id = e.eni_id OR (a.eni_id IS NULL AND e.ecs_proof IS NOT NULL))
LEFT JOIN tasks t ON t.task_arn = a.task_arn
LEFT JOIN task_definitions d ON d.task_definition_arn = t.task_definition_arn
",
            $filter,
            "
ORDER BY i.rowid, s.held_from"
        )
    };
}

/// Every interface holding of `ip`.
const ENI_HOLDINGS: &str = eni_holdings!("WHERE i.ip = ?1");
/// Every interface holding of every address.
const ALL_ENI_HOLDINGS: &str = eni_holdings!("");

/// Every host holding of an address (`$filter` chooses which): the host's bridge and host mode
/// tasks (they use its address), host by host and task by task in the order the register learnt
/// of them.
macro_rules! host_holdings {
    ($filter:literal) => {
        concat!(
            "
SELECT ci.container_instance_arn, ci.ec2_instance_id, ci.cluster_arn, ci.account_id, ci.region, i.kind,
       i.first_seen, i.last_seen,
       t.task_arn, t.grp, t.task_definition_arn, t.launch_type, t.created_at, t.started_at, t.stopped_at, t.last_seen,
       d.network_mode, d.containers, i.ip
-- CROSS JOIN keeps this order: from the address, never from every task (most addresses are
-- no host's).
FROM instance_ips i
CROSS JOIN container_instances ci ON ci.container_instance_arn = i.container_instance_arn
CROSS JOIN tasks t ON t.container_instance_arn = ci.container_instance_arn
CROSS JOIN task_definitions d ON d.task_definition_arn = t.task_definition_arn
WHERE ",
            $filter,
            " d.network_mode IN ('bridge', 'host')
ORDER BY i.rowid, t.rowid"
        )
    };
}

/// Every host holding of `ip`.
const HOST_HOLDINGS: &str = host_holdings!("i.ip = ?1 AND");
/// Every host holding of every address.
const ALL_HOST_HOLDINGS: &str = host_holdings!("");

/// The sources of every subject in ?1 (a JSON array), each subject's oldest first.
const SOURCES: &str = "
SELECT subject, kind, id, at FROM sources
WHERE subject IN (SELECT value FROM json_each(?1))
ORDER BY subject, at, kind, id";

/// The containers of every task in ?1 (a JSON array), each task's by name.
const CONTAINERS: &str = "
SELECT task_arn, name, image, image_digest, runtime_id, last_status FROM containers
WHERE task_arn IN (SELECT value FROM json_each(?1))
ORDER BY task_arn, name";

/// Every EC2 instance in ?1 (a JSON array of ids) the register knows.
const INSTANCES: &str = "
SELECT instance_id, name, instance_type, launched_at FROM ec2_instances
WHERE instance_id IN (SELECT value FROM json_each(?1))";

/// The Lambda functions' configuration spells of every account and region in ?1 (a JSON array of
/// `ACCOUNT REGION`), oldest first.
const FUNCTION_SPELLS: &str = "
SELECT account_id, region, function_name, subnets, security_groups, valid_from, valid_to FROM lambda_configs
WHERE account_id || ' ' || region IN (SELECT value FROM json_each(?1))
ORDER BY valid_from, function_name";

/// A Lambda function's VPC configuration over a spell, as the register keeps it.
struct ConfigSpell {
    account: String,
    region: String,
    function: String,
    subnets: Vec<String>,
    /// A sorted JSON array, as interfaces keep theirs.
    groups: String,
    from: i64,
    to: Option<i64>,
}

/// The state spells of every EC2 instance in ?1, oldest first.
const INSTANCE_STATES: &str = "
SELECT instance_id, state, first_seen, last_seen FROM instance_states
WHERE instance_id IN (SELECT value FROM json_each(?1))
ORDER BY instance_id, first_seen";

impl Holding for EniHolding {
    const SQL: &'static str = ENI_HOLDINGS;
    const ALL_SQL: &'static str = ALL_ENI_HOLDINGS;

    fn from_row(r: &Row<'_>) -> rusqlite::Result<EniHolding> {
        let has_task: bool = r.get(13)?;
        Ok(EniHolding {
            ip: r.get(0)?,
            kind: r.get(1)?,
            eni: r.get(2)?,
            ip_first: r.get(3)?,
            ip_last: r.get(4)?,
            account: r.get(5)?,
            region: r.get(6)?,
            eni_created: r.get(7)?,
            eni_deleted: r.get(8)?,
            attachment: r.get(9)?,
            task_arn: r.get(10)?,
            linked: r.get(11)?,
            ecs_proof: r.get(12)?,
            task: match has_task {
                true => Some(TaskRow {
                    cluster_arn: r.get(14)?,
                    group: r.get(15)?,
                    task_definition_arn: r.get(16)?,
                    launch_type: r.get(17)?,
                    created_at: r.get(18)?,
                    started_at: r.get(19)?,
                    stopped_at: r.get(20)?,
                    last_seen: r.get(21)?,
                    account: r.get(22)?,
                    region: r.get(23)?,
                }),
                false => None,
            },
            definition: Definition::from_columns(r.get(24)?, r.get(25)?),
            owner: {
                let (d, t, q, i): (Option<String>, Option<String>, Option<String>, Option<String>) =
                    (r.get(26)?, r.get(27)?, r.get(28)?, r.get(29)?);
                let mut o =
                    curtain_model::register::classify_eni(d.as_deref(), t.as_deref(), q.as_deref(), i.as_deref());
                let functions: Option<String> = r.get(30)?;
                o.functions = functions.and_then(|f| serde_json::from_str(&f).ok()).unwrap_or_default();
                o
            },
            spell: match r.get::<_, Option<i64>>(31)? {
                Some(from) => Some((from, r.get(32)?)),
                None => None,
            },
            subnet: r.get(33)?,
            groups: r.get(34)?,
        })
    }

    /// From the task's start (else its creation, else the interface's) to its stop (else the
    /// interface's deletion); without a task, the interface's own life.
    fn interval(&self) -> Interval {
        let (from, to, last_seen) = match &self.task {
            Some(t) => (
                t.started_at.or(t.created_at).or(self.eni_created).unwrap_or(self.ip_first),
                t.stopped_at.or(self.eni_deleted),
                self.ip_last.max(t.last_seen),
            ),
            None => (self.eni_created.unwrap_or(self.ip_first), self.eni_deleted, self.ip_last),
        };
        // Within the spell, for an address held for part of the interface's life.
        let (from, to) = match self.spell {
            Some((s_from, s_to)) => (
                from.max(s_from),
                match (to, s_to) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
            ),
            None => (from, to),
        };
        // Seen at least from the start on (an event's time has whole seconds).
        Interval { from, to, last_seen: last_seen.max(from).max(to.unwrap_or(0)) }
    }

    fn empty(&self, i: &Interval) -> bool {
        // A spell outside the interface's life (or its task's) holds nothing.
        self.spell.is_some() && i.to.is_some_and(|to| to < i.from)
    }
}

impl Holding for HostHolding {
    const SQL: &'static str = HOST_HOLDINGS;
    const ALL_SQL: &'static str = ALL_HOST_HOLDINGS;

    fn from_row(r: &Row<'_>) -> rusqlite::Result<HostHolding> {
        Ok(HostHolding {
            ip: r.get(18)?,
            instance_arn: r.get(0)?,
            ec2_instance_id: r.get(1)?,
            cluster_arn: r.get(2)?,
            account: r.get(3)?,
            region: r.get(4)?,
            kind: r.get(5)?,
            ip_first: r.get(6)?,
            ip_last: r.get(7)?,
            task_arn: r.get(8)?,
            group: r.get(9)?,
            task_definition_arn: r.get(10)?,
            launch_type: r.get(11)?,
            created_at: r.get(12)?,
            started_at: r.get(13)?,
            stopped_at: r.get(14)?,
            task_last: r.get(15)?,
            definition: Definition::from_columns(r.get(16)?, r.get(17)?),
        })
    }

    /// The task's life on the host, from its start (else its creation, else when the host's
    /// address was first seen) to its stop.
    fn interval(&self) -> Interval {
        let from = self.started_at.or(self.created_at).unwrap_or(self.ip_first);
        Interval { from, to: self.stopped_at, last_seen: self.ip_last.max(self.task_last).max(from) }
    }
}

fn source_kind(kind: &str) -> SourceKind {
    match kind {
        "sync" => SourceKind::Sync,
        "eventbridge" => SourceKind::EventBridge,
        _ => SourceKind::CloudTrail,
    }
}

/// `service:NAME` groups name a service; `family:NAME` ones do not.
fn service(group: Option<&str>) -> Option<String> {
    group.and_then(|g| g.strip_prefix("service:")).map(str::to_string)
}

/// A holder's sources: those of its interface or host, then those of its task not already
/// among them, oldest first (a stable sort: those at one instant keep that order).
fn merged(first: &[Provenance], task: &[Provenance]) -> Vec<Provenance> {
    let mut sources = first.to_vec();
    for s in task {
        if !sources.contains(s) {
            sources.push(s.clone());
        }
    }
    sources.sort_by_key(|s| s.at_ns);
    sources
}

fn json_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    serde_json::to_string(&items.into_iter().collect::<Vec<_>>()).expect("strings serialise")
}

impl Register {
    /// Everyone known to have held `ip`, oldest first; with `at`, only those whose interval
    /// holds that instant (an interval still open counts as held up to now).
    pub fn whois(&self, ip: &str, at: Option<u64>) -> Result<Vec<Holder>, Error> {
        let enis: Vec<(EniHolding, Interval)> = self.holdings(ip, at)?;
        let hosts: Vec<(HostHolding, Interval)> = self.holdings(ip, at)?;
        let mut out: Vec<Holder> = self.holders(enis, hosts, at)?.into_iter().map(|h| h.holder).collect();
        out.sort_by(|a, b| a.from.cmp(&b.from));
        for h in &mut out {
            if let Some(t) = &h.task_arn {
                h.acquisitions = self.acquisitions_of(t)?;
            }
        }
        Ok(out)
    }

    /// Every holder of every address with its interval in nanoseconds, by address then start:
    /// for a caller that asks about many addresses at many times (flow logs), one read of the
    /// register instead of a `whois` per question. [`HeldInterval::holds`] is `whois`'s test.
    pub fn all_holders(&self) -> Result<Vec<HeldInterval>, Error> {
        let enis: Vec<(EniHolding, Interval)> = self.all_holdings()?;
        let hosts: Vec<(HostHolding, Interval)> = self.all_holdings()?;
        let mut out = self.holders(enis, hosts, None)?;
        out.sort_by(|a, b| (&a.holder.ip, a.from_ns).cmp(&(&b.holder.ip, b.from_ns)));
        Ok(out)
    }

    /// Every task the register holds, in the order it learnt of them, with its containers and
    /// sources (three queries whatever the number of tasks).
    pub fn all_tasks(&self) -> Result<Vec<TaskListing>, Error> {
        let mut st = self.conn.prepare(
            "SELECT task_arn, account_id, region, cluster_arn, grp, task_definition_arn, launch_type,
                    availability_zone, last_status, created_at, started_at, stopped_at,
                    container_instance_arn, first_seen, last_seen
             FROM tasks ORDER BY rowid",
        )?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let group: Option<String> = r.get(4)?;
            out.push(TaskListing {
                task_arn: r.get(0)?,
                account_id: r.get(1)?,
                region: r.get(2)?,
                cluster_arn: r.get(3)?,
                service: service(group.as_deref()),
                group,
                task_definition_arn: r.get(5)?,
                launch_type: r.get(6)?,
                availability_zone: r.get(7)?,
                last_status: r.get(8)?,
                created_at: r.get(9)?,
                started_at: r.get(10)?,
                stopped_at: r.get(11)?,
                container_instance_arn: r.get(12)?,
                first_seen: r.get(13)?,
                last_seen: r.get(14)?,
                containers: Vec::new(),
                sources: Vec::new(),
            });
        }
        let arns = json_array(out.iter().map(|t| t.task_arn.as_str()));
        let mut containers = self.containers_of(&arns)?;
        let mut sources = self.sources_of(&arns)?;
        for t in &mut out {
            t.containers = containers.remove(&t.task_arn).unwrap_or_default();
            t.sources = sources.remove(&t.task_arn).unwrap_or_default();
        }
        Ok(out)
    }

    /// The holders of the holdings read, with their sources and containers; a Lambda interface's
    /// functions are those of its interval (with `at`, of that instant).
    fn holders(
        &self,
        enis: Vec<(EniHolding, Interval)>,
        hosts: Vec<(HostHolding, Interval)>,
        at: Option<u64>,
    ) -> Result<Vec<HeldInterval>, Error> {
        // Every holder's sources and containers at once, whatever their number.
        let tasks = enis.iter().filter_map(|(h, _)| h.task_arn.as_deref());
        let tasks = tasks.chain(hosts.iter().map(|(h, _)| h.task_arn.as_str()));
        let subjects = enis.iter().map(|(h, _)| h.eni.as_str());
        let subjects = subjects.chain(hosts.iter().map(|(h, _)| h.instance_arn.as_str()));
        let sources = self.sources_of(&json_array(subjects.chain(tasks.clone())))?;
        let containers = self.containers_of(&json_array(tasks))?;
        let containers_of = |task: &str| containers.get(task).cloned().unwrap_or_default();
        let none = Vec::new();
        let sources_of = |subject: &str| sources.get(subject).unwrap_or(&none);
        let instance_ids =
            enis.iter().filter(|(h, _)| h.owner.kind == "ec2-instance").filter_map(|(h, _)| h.owner.id.as_deref());
        let instances = self.instances_of(&json_array(instance_ids))?;
        let lambda = |h: &EniHolding| h.owner.kind == "lambda" && h.task_arn.is_none();
        let places: Vec<String> = enis
            .iter()
            .filter(|(h, _)| lambda(h) && h.subnet.is_some() && h.groups.is_some())
            .map(|(h, _)| format!("{} {}", h.account, h.region))
            .collect();
        let configs = if places.is_empty() {
            Vec::new()
        } else {
            self.config_spells(&json_array(places.iter().map(String::as_str)))?
        };

        let mut out = Vec::with_capacity(enis.len() + hosts.len());
        for (row, interval) in enis {
            let (from_ns, to_ns) = (interval.from, interval.to);
            let eni_sources = sources_of(&row.eni);
            let task_sources = row.task_arn.as_deref().map_or(&none, sources_of);
            // Observed when a sync or a task event saw the address with its task.
            let observed = row.task.is_some() && eni_sources.iter().any(|s| s.kind != SourceKind::CloudTrail);
            // Named an attachment by its description alone: nothing from ECS backs it.
            let claimed = row.attachment.is_some() && !row.linked && row.ecs_proof.is_none();
            let certainty = if observed {
                Certainty::Observed
            } else if row.task_arn.is_none() && claimed {
                Certainty::Claimed
            } else {
                Certainty::Inferred
            };
            let sources = merged(eni_sources, task_sources);
            // The functions whose configuration had this interface's subnet and groups during
            // the time asked about.
            let function_spells = match (&row.subnet, &row.groups) {
                (Some(subnet), Some(groups)) if lambda(&row) => {
                    let (w_from, w_to) = match at {
                        Some(at) => (sql_ns(at), Some(sql_ns(at))),
                        None => (interval.from, interval.to),
                    };
                    let spells = configs.iter().filter(|c| {
                        (&c.account, &c.region, &c.groups) == (&row.account, &row.region, groups)
                            && c.subnets.contains(subnet)
                            && w_to.is_none_or(|w_to| c.from <= w_to)
                            && c.to.is_none_or(|to| to > w_from)
                    });
                    Some(
                        spells
                            .map(|c| curtain_model::register::FunctionSpell {
                                function: c.function.clone(),
                                from: format_rfc3339_signed_ns(c.from),
                                to: c.to.map(format_rfc3339_signed_ns),
                            })
                            .collect::<Vec<_>>(),
                    )
                }
                _ => None,
            };
            let (account, region) = match &row.task {
                Some(t) => (t.account.clone(), t.region.clone()),
                None => (row.account, row.region),
            };
            let task = row.task.as_ref();
            // A task's (or one claimed for ECS by its description alone: `claimed`, no task
            // named); else the interface's owner as EC2 describes it.
            let (kind, owner) = if row.task_arn.is_some() || row.owner.kind == "ecs-task" {
                ("ecs-task".to_string(), None)
            } else {
                let mut owner = row.owner.clone();
                // An instance's own interface: the instance as DescribeInstances showed it.
                if let Some(i) =
                    owner.id.as_ref().filter(|_| owner.kind == "ec2-instance").and_then(|i| instances.get(i))
                {
                    owner.name.clone_from(&i.name);
                    owner.instance_type.clone_from(&i.instance_type);
                    owner.launched_at.clone_from(&i.launched_at);
                    owner.states.clone_from(&i.states);
                }
                // With its subnet and groups known, its functions are those of the time asked
                // about; else (a register from before they were kept) those a sync named.
                if let Some(spells) = function_spells {
                    owner.functions = spells.iter().map(|f| f.function.clone()).collect();
                    owner.functions.sort();
                    owner.functions.dedup();
                    owner.function_spells = spells;
                }
                (owner.kind.clone(), Some(owner))
            };
            out.push(HeldInterval {
                from_ns,
                to_ns,
                holder: Holder {
                    ip: row.ip,
                    ip_kind: row.kind,
                    account_id: account,
                    region,
                    cluster_arn: task.and_then(|t| t.cluster_arn.clone()),
                    service: service(task.and_then(|t| t.group.as_deref())),
                    task_definition_arn: task.and_then(|t| t.task_definition_arn.clone()),
                    launch_type: task.and_then(|t| t.launch_type.clone()),
                    network_mode: row.definition.network_mode,
                    containers: row.task_arn.as_deref().map(containers_of).unwrap_or_default(),
                    task_arn: row.task_arn,
                    definition: row.definition.containers,
                    container_instance_arn: None,
                    // An instance's own interface: the instance (instance-profile credentials
                    // are judged against it).
                    ec2_instance_id: owner.as_ref().filter(|o| o.kind == "ec2-instance").and_then(|o| o.id.clone()),
                    eni_id: Some(row.eni),
                    attachment_id: row.attachment,
                    from: Some(format_rfc3339_signed_ns(interval.from)),
                    to: interval.to.map(format_rfc3339_signed_ns),
                    last_seen: Some(format_rfc3339_signed_ns(interval.last_seen)),
                    certainty,
                    sources,
                    kind: kind.clone(),
                    owner,
                    acquisitions: Vec::new(),
                },
            });
        }
        for (row, interval) in hosts {
            let (from_ns, to_ns) = (interval.from, interval.to);
            out.push(HeldInterval {
                from_ns,
                to_ns,
                holder: Holder {
                    ip: row.ip,
                    ip_kind: format!("{} (host)", row.kind),
                    account_id: row.account,
                    region: row.region,
                    cluster_arn: Some(row.cluster_arn),
                    service: service(row.group.as_deref()),
                    containers: containers_of(&row.task_arn),
                    sources: merged(sources_of(&row.instance_arn), sources_of(&row.task_arn)),
                    task_arn: Some(row.task_arn),
                    task_definition_arn: row.task_definition_arn,
                    launch_type: row.launch_type,
                    network_mode: row.definition.network_mode,
                    definition: row.definition.containers,
                    container_instance_arn: Some(row.instance_arn),
                    ec2_instance_id: row.ec2_instance_id,
                    eni_id: None,
                    attachment_id: None,
                    from: Some(format_rfc3339_signed_ns(interval.from)),
                    to: interval.to.map(format_rfc3339_signed_ns),
                    last_seen: Some(format_rfc3339_signed_ns(interval.last_seen)),
                    certainty: Certainty::Observed,
                    kind: "ecs-task".into(),
                    owner: None,
                    acquisitions: Vec::new(),
                },
            });
        }
        Ok(out)
    }

    /// The ARN of the task with this id (an ARN's last part, in either form), when the register
    /// knows it.
    pub fn task_by_id(&self, id: &str) -> Result<Option<String>, Error> {
        let mut st = self.conn.prepare_cached(
            "SELECT task_arn FROM tasks WHERE task_arn = ?1 OR task_arn LIKE '%/' || ?1 ORDER BY task_arn LIMIT 1",
        )?;
        let mut rows = st.query([id])?;
        Ok(match rows.next()? {
            Some(r) => Some(r.get(0)?),
            None => None,
        })
    }

    /// The acquisitions of a task's containers, oldest first.
    pub fn acquisitions_of(&self, task_arn: &str) -> Result<Vec<curtain_model::register::AcquisitionRef>, Error> {
        let mut st = self.conn.prepare_cached(
            "SELECT container_name, started_at, ended_at, method, transport, operator, archive, sha256, verified, error
             FROM acquisitions WHERE task_arn = ?1 ORDER BY started_at, id",
        )?;
        let rows = st.query_map([task_arn], |r| {
            Ok(curtain_model::register::AcquisitionRef {
                container_name: r.get(0)?,
                started_at: r.get(1)?,
                ended_at: r.get(2)?,
                method: r.get(3)?,
                transport: r.get(4)?,
                operator: r.get(5)?,
                archive: r.get(6)?,
                sha256: r.get(7)?,
                verified: r.get(8)?,
                error: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The holdings of `ip` of one kind whose interval holds `at`, in the order of `H::SQL`.
    fn holdings<H: Holding>(&self, ip: &str, at: Option<u64>) -> Result<Vec<(H, Interval)>, Error> {
        let mut st = self.conn.prepare_cached(H::SQL)?;
        let mut rows = st.query([ip])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let h = H::from_row(r)?;
            let interval = h.interval();
            if interval.holds(at) && !h.empty(&interval) {
                out.push((h, interval));
            }
        }
        Ok(out)
    }

    /// The holdings of every address of one kind, in the order of `H::ALL_SQL`.
    fn all_holdings<H: Holding>(&self) -> Result<Vec<(H, Interval)>, Error> {
        let mut st = self.conn.prepare(H::ALL_SQL)?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let h = H::from_row(r)?;
            let interval = h.interval();
            if !h.empty(&interval) {
                out.push((h, interval));
            }
        }
        Ok(out)
    }

    /// The sources of each subject in `subjects` (a JSON array), each one's oldest first.
    fn sources_of(&self, subjects: &str) -> Result<HashMap<String, Vec<Provenance>>, Error> {
        let mut st = self.conn.prepare_cached(SOURCES)?;
        let mut rows = st.query([subjects])?;
        let mut out: HashMap<String, Vec<Provenance>> = HashMap::new();
        while let Some(r) = rows.next()? {
            let kind: String = r.get(1)?;
            let p = Provenance { kind: source_kind(&kind), id: r.get(2)?, at_ns: r.get::<_, i64>(3)? as u64 };
            out.entry(r.get(0)?).or_default().push(p);
        }
        Ok(out)
    }

    /// What the register knows of each EC2 instance in `ids` (a JSON array): an [`Owner`] with
    /// its name, type, launch time and state spells (its kind and id left to the caller).
    fn instances_of(&self, ids: &str) -> Result<HashMap<String, curtain_model::register::Owner>, Error> {
        let mut out: HashMap<String, curtain_model::register::Owner> = HashMap::new();
        let mut st = self.conn.prepare_cached(INSTANCES)?;
        let mut rows = st.query([ids])?;
        while let Some(r) = rows.next()? {
            let o = out.entry(r.get(0)?).or_default();
            o.name = r.get(1)?;
            o.instance_type = r.get(2)?;
            o.launched_at = r.get::<_, Option<i64>>(3)?.map(format_rfc3339_signed_ns);
        }
        let mut st = self.conn.prepare_cached(INSTANCE_STATES)?;
        let mut rows = st.query([ids])?;
        while let Some(r) = rows.next()? {
            out.entry(r.get(0)?).or_default().states.push(curtain_model::register::StateSpell {
                state: r.get(1)?,
                first_seen: format_rfc3339_signed_ns(r.get(2)?),
                last_seen: format_rfc3339_signed_ns(r.get(3)?),
            });
        }
        Ok(out)
    }

    /// The Lambda functions' configuration spells of every account and region in `places` (a
    /// JSON array of `ACCOUNT REGION`), oldest first.
    fn config_spells(&self, places: &str) -> Result<Vec<ConfigSpell>, Error> {
        let mut st = self.conn.prepare_cached(FUNCTION_SPELLS)?;
        let mut rows = st.query([places])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let subnets: String = r.get(3)?;
            out.push(ConfigSpell {
                account: r.get(0)?,
                region: r.get(1)?,
                function: r.get(2)?,
                subnets: serde_json::from_str(&subnets).unwrap_or_default(),
                groups: r.get(4)?,
                from: r.get(5)?,
                to: r.get(6)?,
            });
        }
        Ok(out)
    }

    /// The containers of each task in `tasks` (a JSON array), each one's by name.
    fn containers_of(&self, tasks: &str) -> Result<HashMap<String, Vec<ContainerFact>>, Error> {
        let mut st = self.conn.prepare_cached(CONTAINERS)?;
        let mut rows = st.query([tasks])?;
        let mut out: HashMap<String, Vec<ContainerFact>> = HashMap::new();
        while let Some(r) = rows.next()? {
            let c = ContainerFact {
                name: r.get(1)?,
                image: r.get(2)?,
                image_digest: r.get(3)?,
                runtime_id: r.get(4)?,
                last_status: r.get(5)?,
            };
            out.entry(r.get(0)?).or_default().push(c);
        }
        Ok(out)
    }

    /// How many tasks, ENIs and addresses the register holds.
    pub fn counts(&self) -> Result<(u64, u64, u64), Error> {
        let q = |sql: &str| self.conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64);
        Ok((q("SELECT count(*) FROM tasks")?, q("SELECT count(*) FROM enis")?, q("SELECT count(*) FROM eni_ips")?))
    }
}
