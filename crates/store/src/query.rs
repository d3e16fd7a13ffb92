//! Answering from the register: who held an address and when (`whois`), and how much it holds.

use curtain_model::format_rfc3339_signed_ns;
use curtain_model::register::{Certainty, ContainerDefinitionFact, ContainerFact, Holder, Provenance, SourceKind};
use rusqlite::OptionalExtension;

use crate::{sql_ns, Error, Register};

impl Register {
    /// Network mode and container definitions of a task definition, if known.
    fn definition(&self, arn: Option<&str>) -> Result<(Option<String>, Vec<ContainerDefinitionFact>), Error> {
        let Some(arn) = arn else { return Ok((None, Vec::new())) };
        let row: Option<(Option<String>, String)> = self
            .conn
            .query_row(
                "SELECT network_mode, containers FROM task_definitions WHERE task_definition_arn = ?1",
                [arn],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((mode, c)) => (mode, serde_json::from_str(&c).unwrap_or_default()),
            None => (None, Vec::new()),
        })
    }

    fn sources_of(&self, subject: &str) -> Result<Vec<Provenance>, Error> {
        let mut st =
            self.conn.prepare_cached("SELECT kind, id, at FROM sources WHERE subject = ?1 ORDER BY at, kind, id")?;
        let rows = st.query_map([subject], |r| {
            let kind: String = r.get(0)?;
            let kind = match kind.as_str() {
                "sync" => SourceKind::Sync,
                "eventbridge" => SourceKind::EventBridge,
                _ => SourceKind::CloudTrail,
            };
            Ok(Provenance { kind, id: r.get(1)?, at_ns: r.get::<_, i64>(2)? as u64 })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn containers_of(&self, task: &str) -> Result<Vec<ContainerFact>, Error> {
        let mut st = self.conn.prepare_cached(
            "SELECT name, image, image_digest, runtime_id, last_status FROM containers WHERE task_arn = ?1 ORDER BY name",
        )?;
        let rows = st.query_map([task], |r| {
            Ok(ContainerFact {
                name: r.get(0)?,
                image: r.get(1)?,
                image_digest: r.get(2)?,
                runtime_id: r.get(3)?,
                last_status: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Everyone known to have held `ip`, oldest first; with `at`, only those whose interval
    /// holds that instant (an interval still open counts as held up to now).
    pub fn whois(&self, ip: &str, at: Option<u64>) -> Result<Vec<Holder>, Error> {
        struct Row {
            ip: String,
            kind: String,
            eni: String,
            ip_first: i64,
            ip_last: i64,
            account: String,
            region: String,
            eni_created: Option<i64>,
            eni_deleted: Option<i64>,
            attachment: Option<String>,
            task: Option<String>,
            /// The attachment row matched: ECS's records name this interface for it.
            linked: bool,
            ecs_proof: Option<String>,
        }
        let mut st = self.conn.prepare(
            "SELECT i.ip, i.kind, i.eni_id, i.first_seen, i.last_seen, e.account_id, e.region, e.created_at, e.deleted_at,
                    e.attachment_id, a.task_arn, a.attachment_id IS NOT NULL, e.ecs_proof
             FROM eni_ips i JOIN enis e ON e.eni_id = i.eni_id
             LEFT JOIN attachments a ON a.attachment_id = e.attachment_id
                  AND (a.eni_id = e.eni_id OR (a.eni_id IS NULL AND e.ecs_proof IS NOT NULL))
             WHERE i.ip = ?1",
        )?;
        let rows: Vec<Row> = st
            .query_map([ip], |r| {
                Ok(Row {
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
                    task: r.get(10)?,
                    linked: r.get(11)?,
                    ecs_proof: r.get(12)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for row in rows {
            type TaskRow = (
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<i64>,
                Option<i64>,
                Option<i64>,
                i64,
                String,
                String,
            );
            let task: Option<TaskRow> = match &row.task {
                Some(arn) => self
                    .conn
                    .query_row(
                        "SELECT cluster_arn, grp, task_definition_arn, launch_type, created_at, started_at, stopped_at,
                                last_seen, account_id, region
                         FROM tasks WHERE task_arn = ?1",
                        [arn],
                        |r| {
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                                r.get(6)?,
                                r.get(7)?,
                                r.get(8)?,
                                r.get(9)?,
                            ))
                        },
                    )
                    .optional()?,
                None => None,
            };
            let mut sources = self.sources_of(&row.eni)?;
            if let Some(arn) = &row.task {
                for s in self.sources_of(arn)? {
                    if !sources.contains(&s) {
                        sources.push(s);
                    }
                }
            }
            sources.sort_by_key(|s| s.at_ns);
            // Observed when a sync or a task event saw the address with its task.
            let eni_sources = self.sources_of(&row.eni)?;
            let observed = task.is_some() && eni_sources.iter().any(|s| s.kind != SourceKind::CloudTrail);
            // Named an attachment by its description alone: nothing from ECS backs it.
            let claimed = row.attachment.is_some() && !row.linked && row.ecs_proof.is_none();
            let (from, to, last_seen) = match &task {
                Some(t) => (
                    t.5.or(t.4).or(row.eni_created).unwrap_or(row.ip_first),
                    t.6.or(row.eni_deleted),
                    row.ip_last.max(t.7),
                ),
                None => (row.eni_created.unwrap_or(row.ip_first), row.eni_deleted, row.ip_last),
            };
            // Seen at least from the start on (an event's time has whole seconds).
            let last_seen = last_seen.max(from).max(to.unwrap_or(0));
            if let Some(at) = at {
                let at = sql_ns(at);
                if at < from || to.is_some_and(|to| at > to) {
                    continue;
                }
            }
            let (cluster, group, taskdef, launch, account, region) = match &task {
                Some(t) => (t.0.clone(), t.1.clone(), t.2.clone(), t.3.clone(), t.8.clone(), t.9.clone()),
                None => (None, None, None, None, row.account.clone(), row.region.clone()),
            };
            let (network_mode, definition) = self.definition(taskdef.as_deref())?;
            out.push(Holder {
                ip: row.ip,
                ip_kind: row.kind,
                account_id: account,
                region,
                cluster_arn: cluster,
                service: group.as_deref().and_then(|g| g.strip_prefix("service:")).map(str::to_string),
                task_arn: row.task.clone(),
                task_definition_arn: taskdef,
                launch_type: launch,
                network_mode,
                containers: match &row.task {
                    Some(arn) => self.containers_of(arn)?,
                    None => Vec::new(),
                },
                definition,
                container_instance_arn: None,
                ec2_instance_id: None,
                eni_id: Some(row.eni),
                attachment_id: row.attachment,
                from: Some(format_rfc3339_signed_ns(from)),
                to: to.map(format_rfc3339_signed_ns),
                last_seen: Some(format_rfc3339_signed_ns(last_seen)),
                certainty: if observed {
                    Certainty::Observed
                } else if row.task.is_none() && claimed {
                    Certainty::Claimed
                } else {
                    Certainty::Inferred
                },
                sources,
            });
        }
        out.extend(self.host_holders(ip, at)?);
        out.sort_by(|a, b| a.from.cmp(&b.from));
        Ok(out)
    }

    /// Holders through an EC2 container instance's address: the tasks on that instance whose
    /// network mode is `bridge` or `host` (they use the host's address), over each task's life.
    fn host_holders(&self, ip: &str, at: Option<u64>) -> Result<Vec<Holder>, Error> {
        let mut st = self.conn.prepare(
            "SELECT ci.container_instance_arn, ci.ec2_instance_id, ci.cluster_arn, ci.account_id, ci.region, i.kind,
                    i.first_seen, i.last_seen
             FROM instance_ips i JOIN container_instances ci ON ci.container_instance_arn = i.container_instance_arn
             WHERE i.ip = ?1",
        )?;
        type Inst = (String, Option<String>, String, String, String, String, i64, i64);
        let instances: Vec<Inst> = st
            .query_map([ip], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for (ci_arn, ec2_id, cluster, account, region, kind, first, last) in instances {
            let mut st = self.conn.prepare(
                "SELECT task_arn, grp, task_definition_arn, launch_type, created_at, started_at, stopped_at, last_seen
                 FROM tasks WHERE container_instance_arn = ?1",
            )?;
            type T =
                (String, Option<String>, Option<String>, Option<String>, Option<i64>, Option<i64>, Option<i64>, i64);
            let tasks: Vec<T> = st
                .query_map([&ci_arn], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                })?
                .collect::<Result<_, _>>()?;
            for (task_arn, grp, taskdef, launch, created, started, stopped, task_last) in tasks {
                let (network_mode, definition) = self.definition(taskdef.as_deref())?;
                if !matches!(network_mode.as_deref(), Some("bridge") | Some("host")) {
                    continue;
                }
                let from = started.or(created).unwrap_or(first);
                let to = stopped;
                if let Some(at) = at {
                    let at = sql_ns(at);
                    if at < from || to.is_some_and(|to| at > to) {
                        continue;
                    }
                }
                let mut sources = self.sources_of(&ci_arn)?;
                for s in self.sources_of(&task_arn)? {
                    if !sources.contains(&s) {
                        sources.push(s);
                    }
                }
                sources.sort_by_key(|s| s.at_ns);
                out.push(Holder {
                    ip: ip.to_string(),
                    ip_kind: format!("{kind} (host)"),
                    account_id: account.clone(),
                    region: region.clone(),
                    cluster_arn: Some(cluster.clone()),
                    service: grp.as_deref().and_then(|g| g.strip_prefix("service:")).map(str::to_string),
                    containers: self.containers_of(&task_arn)?,
                    task_arn: Some(task_arn),
                    task_definition_arn: taskdef,
                    launch_type: launch,
                    network_mode,
                    definition,
                    container_instance_arn: Some(ci_arn.clone()),
                    ec2_instance_id: ec2_id.clone(),
                    eni_id: None,
                    attachment_id: None,
                    from: Some(format_rfc3339_signed_ns(from)),
                    to: to.map(format_rfc3339_signed_ns),
                    last_seen: Some(format_rfc3339_signed_ns(last.max(task_last).max(from))),
                    certainty: Certainty::Observed,
                    sources,
                });
            }
        }
        Ok(out)
    }

    /// How many tasks, ENIs and addresses the register holds.
    pub fn counts(&self) -> Result<(u64, u64, u64), Error> {
        let q = |sql: &str| self.conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64);
        Ok((q("SELECT count(*) FROM tasks")?, q("SELECT count(*) FROM enis")?, q("SELECT count(*) FROM eni_ips")?))
    }
}
