//! The asset register: ECS tasks, their containers, their network attachments and ENIs, and the
//! addresses those held, each with when it was first and last known and from which sources.
//! SQLite (one file, or in memory for tests), numbered migrations, times as integer nanoseconds
//! since the epoch, UTC. History is never deleted: a task missing from a later sync keeps its
//! rows, and feeding the same facts twice changes nothing.
//!
//! An address's holder is found by joining ENI -> attachment -> task: a sync and a task state
//! change event give all three at once (observed); CloudTrail gives the ENI and its attachment id
//! from CreateNetworkInterface, and the task and that attachment id from RunTask (inferred).

// It reads registers that others may have written: nothing here needs to step outside safe Rust.
#![forbid(unsafe_code)]

use curtain_model::format_rfc3339_signed_ns;
use curtain_model::register::{
    Certainty, ContainerDefinitionFact, ContainerFact, ContainerInstanceFact, EniFact, Holder, IpFact, Provenance,
    ServiceFact, SourceKind, TaskDefinitionFact, TaskFact,
};
use rusqlite::{params, Connection, OptionalExtension};

mod error;
mod schema;

pub use error::Error;

pub struct Register {
    conn: Connection,
}

/// A time as SQLite keeps it (signed nanoseconds). Every time the register is given was
/// checked on input against `curtain_model::MAX_TIME_NS`, i64's last instant; none wraps here.
fn sql_ns(x: u64) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

fn ns(v: Option<u64>) -> Option<i64> {
    v.map(sql_ns)
}

impl Register {
    /// Opens (creating) the register in a file and brings its schema up to date.
    pub fn open(path: &std::path::Path) -> Result<Register, Error> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::with(conn)
    }

    pub fn in_memory() -> Result<Register, Error> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(mut conn: Connection) -> Result<Register, Error> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Register { conn })
    }

    fn source(&self, subject: &str, s: &Provenance) -> Result<(), Error> {
        self.conn.execute(
            "INSERT OR IGNORE INTO sources (subject, kind, id, at) VALUES (?1, ?2, ?3, ?4)",
            params![subject, s.kind.as_str(), s.id, sql_ns(s.at_ns)],
        )?;
        Ok(())
    }

    fn eni_ip(&self, eni: &str, ip: &IpFact, at: i64) -> Result<(), Error> {
        self.conn.execute(
            "INSERT INTO eni_ips (eni_id, ip, kind, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (eni_id, ip) DO UPDATE SET
               first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
            params![eni, ip.ip, ip.kind, at],
        )?;
        Ok(())
    }

    fn eni_row(&self, eni: &str, attachment: Option<&str>, account: &str, region: &str, at: i64) -> Result<(), Error> {
        self.conn.execute(
            "INSERT INTO enis (eni_id, attachment_id, account_id, region, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (eni_id) DO UPDATE SET
               attachment_id = coalesce(enis.attachment_id, excluded.attachment_id),
               first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
            params![eni, attachment, account, region, at],
        )?;
        Ok(())
    }

    /// Records what one source says about a task, its containers and its attachments.
    pub fn add_task(&mut self, t: &TaskFact) -> Result<(), Error> {
        let tx = self.conn.unchecked_transaction()?;
        let at = sql_ns(t.source.at_ns);
        self.conn.execute(
            "INSERT INTO tasks (task_arn, account_id, region, cluster_arn, grp, task_definition_arn, launch_type,
                                availability_zone, last_status, created_at, started_at, stopped_at,
                                container_instance_arn, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)
             ON CONFLICT (task_arn) DO UPDATE SET
               cluster_arn = coalesce(excluded.cluster_arn, cluster_arn),
               grp = coalesce(excluded.grp, grp),
               task_definition_arn = coalesce(excluded.task_definition_arn, task_definition_arn),
               launch_type = coalesce(excluded.launch_type, launch_type),
               availability_zone = coalesce(excluded.availability_zone, availability_zone),
               last_status = CASE WHEN excluded.last_seen >= last_seen THEN coalesce(excluded.last_status, last_status)
                                  ELSE last_status END,
               created_at = coalesce(created_at, excluded.created_at),
               started_at = coalesce(started_at, excluded.started_at),
               stopped_at = coalesce(stopped_at, excluded.stopped_at),
               container_instance_arn = coalesce(excluded.container_instance_arn, container_instance_arn),
               first_seen = min(first_seen, excluded.first_seen),
               last_seen = max(last_seen, excluded.last_seen)",
            params![
                t.task_arn,
                t.account_id,
                t.region,
                t.cluster_arn,
                t.group,
                t.task_definition_arn,
                t.launch_type,
                t.availability_zone,
                t.last_status,
                ns(t.created_at),
                ns(t.started_at),
                ns(t.stopped_at),
                t.container_instance_arn,
                at
            ],
        )?;
        for c in &t.containers {
            self.conn.execute(
                "INSERT INTO containers (task_arn, name, image, image_digest, runtime_id, last_status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (task_arn, name) DO UPDATE SET
                   image = coalesce(excluded.image, image), image_digest = coalesce(excluded.image_digest, image_digest),
                   runtime_id = coalesce(excluded.runtime_id, runtime_id),
                   last_status = coalesce(excluded.last_status, last_status)",
                params![t.task_arn, c.name, c.image, c.image_digest, c.runtime_id, c.last_status],
            )?;
        }
        for a in &t.attachments {
            self.conn.execute(
                "INSERT INTO attachments (attachment_id, task_arn, eni_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (attachment_id) DO UPDATE SET
                   task_arn = coalesce(attachments.task_arn, excluded.task_arn),
                   eni_id = coalesce(attachments.eni_id, excluded.eni_id)",
                params![a.id, t.task_arn, a.eni_id],
            )?;
            if let Some(eni) = &a.eni_id {
                self.eni_row(eni, Some(&a.id), &t.account_id, &t.region, at)?;
                for ip in &a.ips {
                    self.eni_ip(eni, ip, at)?;
                }
                self.source(eni, &t.source)?;
            }
        }
        self.source(&t.task_arn, &t.source)?;
        Ok(tx.commit()?)
    }

    /// Records what one source says about a network interface.
    pub fn add_eni(&mut self, e: &EniFact) -> Result<(), Error> {
        let tx = self.conn.unchecked_transaction()?;
        let at = sql_ns(e.source.at_ns);
        self.eni_row(&e.eni_id, e.attachment_id.as_deref(), &e.account_id, &e.region, at)?;
        self.conn.execute(
            "UPDATE enis SET description = coalesce(description, ?2), created_at = coalesce(created_at, ?3),
                             deleted_at = coalesce(deleted_at, ?4), ecs_proof = coalesce(ecs_proof, ?5)
             WHERE eni_id = ?1",
            params![e.eni_id, e.description, ns(e.created_at), ns(e.deleted_at), e.ecs_proof],
        )?;
        // Only an interface ECS made names the attachment's interface; a description alone must
        // not take the place of the task's real one.
        if let (Some(a), Some(_)) = (&e.attachment_id, &e.ecs_proof) {
            self.conn.execute(
                "INSERT INTO attachments (attachment_id, eni_id) VALUES (?1, ?2)
                 ON CONFLICT (attachment_id) DO UPDATE SET eni_id = coalesce(attachments.eni_id, excluded.eni_id)",
                params![a, e.eni_id],
            )?;
        }
        for ip in &e.ips {
            self.eni_ip(&e.eni_id, ip, at)?;
        }
        self.source(&e.eni_id, &e.source)?;
        Ok(tx.commit()?)
    }

    /// Records a service as the API described it.
    pub fn add_service(&mut self, f: &ServiceFact) -> Result<(), Error> {
        let at = sql_ns(f.source.at_ns);
        self.conn.execute(
            "INSERT INTO services (service_arn, name, cluster_arn, account_id, region, task_definition_arn, launch_type,
                                   desired_count, created_at, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
             ON CONFLICT (service_arn) DO UPDATE SET
               task_definition_arn = CASE WHEN excluded.last_seen >= last_seen THEN excluded.task_definition_arn
                                          ELSE task_definition_arn END,
               desired_count = CASE WHEN excluded.last_seen >= last_seen THEN excluded.desired_count ELSE desired_count END,
               launch_type = coalesce(excluded.launch_type, launch_type),
               created_at = coalesce(created_at, excluded.created_at),
               first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
            params![
                f.service_arn,
                f.name,
                f.cluster_arn,
                f.account_id,
                f.region,
                f.task_definition_arn,
                f.launch_type,
                f.desired_count,
                ns(f.created_at),
                at
            ],
        )?;
        self.source(&f.service_arn, &f.source)
    }

    /// Records a task definition revision (they never change once registered).
    pub fn add_task_definition(&mut self, f: &TaskDefinitionFact) -> Result<(), Error> {
        let containers = serde_json::to_string(&f.containers).expect("serialise containers");
        self.conn.execute(
            "INSERT INTO task_definitions (task_definition_arn, family, revision, network_mode, containers, account_id, region, first_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (task_definition_arn) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen)",
            params![
                f.task_definition_arn,
                f.family,
                f.revision,
                f.network_mode,
                containers,
                f.account_id,
                f.region,
                sql_ns(f.source.at_ns)
            ],
        )?;
        Ok(())
    }

    /// Records a container instance and its EC2 instance's addresses.
    pub fn add_container_instance(&mut self, f: &ContainerInstanceFact) -> Result<(), Error> {
        let tx = self.conn.unchecked_transaction()?;
        let at = sql_ns(f.source.at_ns);
        self.conn.execute(
            "INSERT INTO container_instances (container_instance_arn, cluster_arn, ec2_instance_id, account_id, region, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (container_instance_arn) DO UPDATE SET
               ec2_instance_id = coalesce(excluded.ec2_instance_id, ec2_instance_id),
               first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
            params![f.container_instance_arn, f.cluster_arn, f.ec2_instance_id, f.account_id, f.region, at],
        )?;
        for ip in &f.ips {
            self.conn.execute(
                "INSERT INTO instance_ips (container_instance_arn, ip, kind, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (container_instance_arn, ip) DO UPDATE SET
                   first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
                params![f.container_instance_arn, ip.ip, ip.kind, at],
            )?;
        }
        self.source(&f.container_instance_arn, &f.source)?;
        Ok(tx.commit()?)
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use curtain_model::parse_rfc3339_ns;
    use curtain_model::register::AttachmentFact;

    fn t(s: &str) -> u64 {
        parse_rfc3339_ns(s).unwrap()
    }

    fn task(
        arn: &str,
        attachment: &str,
        eni: &str,
        ip: &str,
        started: &str,
        stopped: Option<&str>,
        source: Provenance,
    ) -> TaskFact {
        TaskFact {
            task_arn: arn.into(),
            account_id: "111122223333".into(),
            region: "us-west-2".into(),
            cluster_arn: Some("arn:aws:ecs:us-west-2:111122223333:cluster/prod".into()),
            group: Some("service:web".into()),
            task_definition_arn: Some("arn:aws:ecs:us-west-2:111122223333:task-definition/web:7".into()),
            launch_type: Some("FARGATE".into()),
            availability_zone: Some("us-west-2a".into()),
            last_status: Some(if stopped.is_some() { "STOPPED" } else { "RUNNING" }.into()),
            created_at: Some(t(started) - 5_000_000_000),
            started_at: Some(t(started)),
            stopped_at: stopped.map(t),
            container_instance_arn: None,
            containers: vec![ContainerFact { name: "web".into(), image: Some("web:7".into()), ..Default::default() }],
            attachments: vec![AttachmentFact {
                id: attachment.into(),
                eni_id: Some(eni.into()),
                ips: vec![IpFact { ip: ip.into(), kind: "private".into() }],
                status: Some("ATTACHED".into()),
            }],
            source,
        }
    }

    fn ev(id: &str, at: &str) -> Provenance {
        Provenance { kind: SourceKind::EventBridge, id: id.into(), at_ns: t(at) }
    }

    /// Task aaa, running since 10:00 with 10.0.0.7, from one event.
    fn running_a() -> TaskFact {
        task(
            "arn:aws:ecs:us-west-2:111122223333:task/prod/aaa",
            "att-a",
            "eni-a",
            "10.0.0.7",
            "2026-01-01T10:00:00Z",
            None,
            ev("e1", "2026-01-01T10:00:01Z"),
        )
    }

    #[test]
    fn one_ip_two_tasks_at_different_times() {
        let mut r = Register::in_memory().unwrap();
        let a = task(
            "arn:aws:ecs:us-west-2:111122223333:task/prod/aaa",
            "att-a",
            "eni-a",
            "10.0.0.7",
            "2026-01-01T10:00:00Z",
            Some("2026-01-01T12:00:00Z"),
            ev("e1", "2026-01-01T12:00:01Z"),
        );
        let b = task(
            "arn:aws:ecs:us-west-2:111122223333:task/prod/bbb",
            "att-b",
            "eni-b",
            "10.0.0.7",
            "2026-01-01T13:00:00Z",
            None,
            ev("e2", "2026-01-01T13:00:01Z"),
        );
        r.add_task(&a).unwrap();
        r.add_task(&b).unwrap();
        let all = r.whois("10.0.0.7", None).unwrap();
        assert_eq!(all.len(), 2);
        let at11 = r.whois("10.0.0.7", Some(t("2026-01-01T11:00:00Z"))).unwrap();
        assert_eq!(at11.len(), 1);
        assert_eq!(at11[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/aaa"));
        assert_eq!(at11[0].service.as_deref(), Some("web"));
        assert_eq!(at11[0].certainty, Certainty::Observed);
        assert_eq!(at11[0].to.as_deref(), Some("2026-01-01T12:00:00.000000000Z"));
        let at14 = r.whois("10.0.0.7", Some(t("2026-01-01T14:00:00Z"))).unwrap();
        assert_eq!(at14[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/bbb"));
        assert_eq!(at14[0].to, None);
        assert!(r.whois("10.0.0.7", Some(t("2026-01-01T12:30:00Z"))).unwrap().is_empty(), "nobody in between");
        assert!(r.whois("10.9.9.9", None).unwrap().is_empty());
    }

    #[test]
    fn the_same_facts_twice_change_nothing() {
        let mut r = Register::in_memory().unwrap();
        let a = running_a();
        r.add_task(&a).unwrap();
        let before = r.whois("10.0.0.7", None).unwrap();
        r.add_task(&a).unwrap();
        assert_eq!(r.whois("10.0.0.7", None).unwrap(), before);
        assert_eq!(r.counts().unwrap(), (1, 1, 1));
    }

    #[test]
    fn cloudtrail_eni_joined_to_run_task_by_attachment_id() {
        let mut r = Register::in_memory().unwrap();
        let ct = |id: &str, at: &str| Provenance { kind: SourceKind::CloudTrail, id: id.into(), at_ns: t(at) };
        // RunTask: the task and its attachment id, no ENI yet.
        let mut run = task(
            "arn:aws:ecs:us-west-2:111122223333:task/prod/ccc",
            "att-c",
            "x",
            "x",
            "2026-02-01T09:00:00Z",
            None,
            ct("r1", "2026-02-01T09:00:00Z"),
        );
        run.started_at = None;
        run.attachments[0].eni_id = None;
        run.attachments[0].ips.clear();
        r.add_task(&run).unwrap();
        // CreateNetworkInterface, then DeleteNetworkInterface an hour later.
        r.add_eni(&EniFact {
            eni_id: "eni-c".into(),
            attachment_id: Some("att-c".into()),
            ecs_proof: Some("cloudtrail:ecs.amazonaws.com".into()),
            account_id: "111122223333".into(),
            region: "us-west-2".into(),
            ips: vec![IpFact { ip: "10.0.3.3".into(), kind: "private".into() }],
            created_at: Some(t("2026-02-01T09:00:02Z")),
            deleted_at: None,
            description: Some("arn:aws:ecs:us-west-2:111122223333:attachment/att-c".into()),
            source: ct("c1", "2026-02-01T09:00:02Z"),
        })
        .unwrap();
        r.add_eni(&EniFact {
            eni_id: "eni-c".into(),
            attachment_id: None,
            ecs_proof: None,
            account_id: "111122223333".into(),
            region: "us-west-2".into(),
            ips: vec![],
            created_at: None,
            deleted_at: Some(t("2026-02-01T10:00:00Z")),
            description: None,
            source: ct("d1", "2026-02-01T10:00:00Z"),
        })
        .unwrap();
        let h = r.whois("10.0.3.3", Some(t("2026-02-01T09:30:00Z"))).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/ccc"));
        assert_eq!(h[0].certainty, Certainty::Inferred);
        assert_eq!(h[0].to.as_deref(), Some("2026-02-01T10:00:00.000000000Z"));
        assert_eq!(h[0].sources.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["r1", "c1", "d1"]);
        assert!(r.whois("10.0.3.3", Some(t("2026-02-01T10:30:00Z"))).unwrap().is_empty());
    }

    #[test]
    fn a_description_alone_cannot_attribute_an_address_to_a_task() {
        let mut r = Register::in_memory().unwrap();
        let ct = |id: &str, at: &str| Provenance { kind: SourceKind::CloudTrail, id: id.into(), at_ns: t(at) };
        // A task whose attachment has no interface yet (RunTask's PRECREATED), and one whose
        // attachment names its interface (ECS's own record).
        let mut pre = task(
            "arn:aws:ecs:us-west-2:111122223333:task/prod/pre",
            "att-pre",
            "eni-unused",
            "10.0.9.1",
            "2026-02-01T09:00:10Z",
            None,
            ct("r1", "2026-02-01T09:00:00Z"),
        );
        pre.attachments[0].eni_id = None;
        pre.attachments[0].ips.clear();
        r.add_task(&pre).unwrap();
        r.add_task(&task(
            "arn:aws:ecs:us-west-2:111122223333:task/prod/real",
            "att-real",
            "eni-real",
            "10.0.9.2",
            "2026-02-01T09:00:10Z",
            None,
            ct("r2", "2026-02-01T09:00:00Z"),
        ))
        .unwrap();
        let forged = |eni: &str, att: &str, ip: &str, proof: Option<&str>| EniFact {
            eni_id: eni.into(),
            attachment_id: Some(att.into()),
            ecs_proof: proof.map(str::to_string),
            account_id: "111122223333".into(),
            region: "us-west-2".into(),
            ips: vec![IpFact { ip: ip.into(), kind: "private".into() }],
            created_at: Some(t("2026-02-01T09:00:05Z")),
            deleted_at: None,
            description: Some(format!("arn:aws:ecs:us-west-2:111122223333:attachment/{att}")),
            source: ct(&format!("c-{eni}"), "2026-02-01T09:00:05Z"),
        };
        // Made by someone else, claiming either task's attachment.
        r.add_eni(&forged("eni-evil1", "att-pre", "10.0.9.66", None)).unwrap();
        r.add_eni(&forged("eni-evil2", "att-real", "10.0.9.67", None)).unwrap();
        for ip in ["10.0.9.66", "10.0.9.67"] {
            let h = r.whois(ip, None).unwrap();
            assert_eq!(h.len(), 1, "{ip}");
            assert_eq!(h[0].task_arn, None, "{ip} must not be attributed to a task");
            assert_eq!(h[0].certainty, Certainty::Claimed, "{ip}");
        }
        // The real interface still names its task, and the forged one took nothing from it.
        let h = r.whois("10.0.9.2", None).unwrap();
        assert_eq!(h[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/real"));
        // ECS's own CreateNetworkInterface for the PRECREATED attachment: that one is the task's.
        r.add_eni(&forged("eni-pre", "att-pre", "10.0.9.3", Some("cloudtrail:ecs.amazonaws.com"))).unwrap();
        let h = r.whois("10.0.9.3", None).unwrap();
        assert_eq!(h[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/pre"));
        assert_eq!(h[0].certainty, Certainty::Inferred);
        assert_eq!(r.whois("10.0.9.66", None).unwrap()[0].task_arn, None, "still not the forger's");
    }

    #[test]
    fn bridge_mode_tasks_hold_their_host_address() {
        let mut r = Register::in_memory().unwrap();
        let sync = Provenance { kind: SourceKind::Sync, id: "s1".into(), at_ns: t("2026-03-01T12:00:00Z") };
        r.add_container_instance(&ContainerInstanceFact {
            container_instance_arn: "arn:aws:ecs:us-west-2:111122223333:container-instance/prod/ci1".into(),
            cluster_arn: "arn:aws:ecs:us-west-2:111122223333:cluster/prod".into(),
            ec2_instance_id: Some("i-0abc".into()),
            ips: vec![IpFact { ip: "10.1.1.1".into(), kind: "private".into() }],
            account_id: "111122223333".into(),
            region: "us-west-2".into(),
            source: sync.clone(),
        })
        .unwrap();
        for (arn, mode) in [("arn:td/bridge:1", "bridge"), ("arn:td/awsvpc:1", "awsvpc")] {
            r.add_task_definition(&TaskDefinitionFact {
                task_definition_arn: arn.into(),
                family: None,
                revision: Some(1),
                network_mode: Some(mode.into()),
                containers: vec![ContainerDefinitionFact {
                    name: "app".into(),
                    image: Some("app:1".into()),
                    command: vec!["serve".into()],
                    entry_point: vec![],
                }],
                account_id: "111122223333".into(),
                region: "us-west-2".into(),
                source: sync.clone(),
            })
            .unwrap();
        }
        for (id, td) in [("t1", "arn:td/bridge:1"), ("t2", "arn:td/awsvpc:1")] {
            let mut f = task(
                &format!("arn:aws:ecs:us-west-2:111122223333:task/prod/{id}"),
                &format!("att-{id}"),
                "x",
                "x",
                "2026-03-01T10:00:00Z",
                None,
                sync.clone(),
            );
            f.attachments.clear();
            f.launch_type = Some("EC2".into());
            f.task_definition_arn = Some(td.into());
            f.container_instance_arn = Some("arn:aws:ecs:us-west-2:111122223333:container-instance/prod/ci1".into());
            r.add_task(&f).unwrap();
        }
        let h = r.whois("10.1.1.1", Some(t("2026-03-01T11:00:00Z"))).unwrap();
        assert_eq!(h.len(), 1, "only the bridge mode task uses the host's address");
        assert_eq!(h[0].task_arn.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:task/prod/t1"));
        assert_eq!(h[0].ec2_instance_id.as_deref(), Some("i-0abc"));
        assert_eq!(h[0].network_mode.as_deref(), Some("bridge"));
        assert_eq!(h[0].definition[0].command, ["serve"]);
        assert!(r.whois("10.1.1.1", Some(t("2026-03-01T09:00:00Z"))).unwrap().is_empty());
    }

    #[test]
    fn the_file_keeps_its_history_across_opens() {
        let dir = std::env::temp_dir().join(format!("curtain-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("register.db");
        {
            let mut r = Register::open(&path).unwrap();
            let a = running_a();
            r.add_task(&a).unwrap();
        }
        let r = Register::open(&path).unwrap();
        assert_eq!(r.whois("10.0.0.7", None).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
