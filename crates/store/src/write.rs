//! Writing facts: what one source says about a task, an interface, a service, a task definition
//! or a container instance, merged into what the register already holds. Every write is an
//! upsert that only widens what is known (first seen earlier, last seen later, a missing field
//! filled, a status replaced only by a newer one): the same facts twice leave the register as it
//! was, and a fact that arrives late does not undo a newer one.

use curtain_model::register::{
    AddressAssociation, ContainerInstanceFact, EniFact, InstanceFact, IpFact, LambdaConfigFact, Provenance,
    ServiceFact, SourceKind, TaskDefinitionFact, TaskFact,
};
use rusqlite::{params, OptionalExtension};

use crate::{ns, sql_ns, Error, Register};

impl Register {
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
                             deleted_at = coalesce(deleted_at, ?4), ecs_proof = coalesce(ecs_proof, ?5),
                             interface_type = coalesce(?6, interface_type), requester_id = coalesce(?7, requester_id),
                             instance_id = coalesce(?8, instance_id), lambda_functions = coalesce(?9, lambda_functions),
                             subnet_id = coalesce(?10, subnet_id), security_groups = coalesce(?11, security_groups)
             WHERE eni_id = ?1",
            params![
                e.eni_id,
                e.description,
                ns(e.created_at),
                ns(e.deleted_at),
                e.ecs_proof,
                e.interface_type,
                e.requester_id,
                e.instance_id,
                (!e.lambda_functions.is_empty()).then(|| serde_json::to_string(&e.lambda_functions).expect("strings")),
                e.subnet_id,
                (!e.security_groups.is_empty()).then(|| sorted_json(&e.security_groups))
            ],
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
        if e.source.kind == SourceKind::Sync {
            self.sync_spells(e, at)?;
        }
        for ip in &e.ips {
            self.eni_ip(&e.eni_id, ip, at)?;
        }
        self.source(&e.eni_id, &e.source)?;
        Ok(tx.commit()?)
    }

    /// A sync lists every address of an interface (or of an idle Elastic IP): an open spell of an
    /// address it no longer lists ended, at the latest when the address was last seen there; an
    /// address it lists whose spells have all ended has one again from now (an Elastic IP idle
    /// again, or associated again); and an idle Elastic IP is on no interface any longer.
    fn sync_spells(&self, e: &EniFact, at: i64) -> Result<(), Error> {
        let listed = serde_json::to_string(&e.ips.iter().map(|i| i.ip.as_str()).collect::<Vec<_>>()).expect("strings");
        let last_seen_there = "max(held_from, coalesce((SELECT i.last_seen FROM eni_ips i
                                  WHERE i.eni_id = address_spells.eni_id AND i.ip = address_spells.ip), held_from))";
        self.conn.execute(
            &format!(
                "UPDATE address_spells SET held_to = {last_seen_there}
                 WHERE eni_id = ?1 AND held_to IS NULL AND held_from <= ?2
                   AND ip NOT IN (SELECT value FROM json_each(?3))"
            ),
            params![e.eni_id, at, listed],
        )?;
        for ip in &e.ips {
            if self.spell_count(&e.eni_id, &ip.ip)? > 0 {
                self.start_spell(&e.eni_id, &ip.ip, at, None)?;
            }
            if e.interface_type.as_deref() == Some("elastic-ip") {
                self.conn.execute(
                    &format!(
                        "UPDATE address_spells SET held_to = {last_seen_there}
                         WHERE ip = ?1 AND eni_id != ?2 AND held_to IS NULL AND held_from <= ?3"
                    ),
                    params![ip.ip, e.eni_id, at],
                )?;
            }
        }
        Ok(())
    }

    /// Records a Lambda function's VPC configuration from the source's time on (or, deleted, its
    /// end). Each configuration is a spell until the next one: a configuration that falls inside
    /// a spell of the same one changes nothing, one just before a spell of the same one moves
    /// that spell's start earlier, and any other starts a spell of its own that ends the one
    /// before it and ends where the next one starts. Records that arrive in any order leave the
    /// same spells.
    pub fn add_lambda_config(&mut self, f: &LambdaConfigFact) -> Result<(), Error> {
        let tx = self.conn.unchecked_transaction()?;
        let at = sql_ns(f.source.at_ns);
        let name = LambdaConfigFact::name_of(&f.function_name);
        let key = params![f.account_id, f.region, name, at];
        type Spell = (i64, Option<i64>, String, String);
        let spell = |sql: &str| -> Result<Option<Spell>, Error> {
            self.row(sql, key, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        };
        let before = spell(
            "SELECT valid_from, valid_to, subnets, security_groups FROM lambda_configs
             WHERE account_id = ?1 AND region = ?2 AND function_name = ?3 AND valid_from <= ?4
             ORDER BY valid_from DESC LIMIT 1",
        )?;
        let after = spell(
            "SELECT valid_from, valid_to, subnets, security_groups FROM lambda_configs
             WHERE account_id = ?1 AND region = ?2 AND function_name = ?3 AND valid_from > ?4
             ORDER BY valid_from LIMIT 1",
        )?;
        let end_before = |conn: &rusqlite::Connection| -> Result<(), Error> {
            if let Some((from, to, ..)) = &before {
                if to.is_none_or(|to| to > at) {
                    conn.execute(
                        "UPDATE lambda_configs SET valid_to = ?5
                         WHERE account_id = ?1 AND region = ?2 AND function_name = ?3 AND valid_from = ?4",
                        params![f.account_id, f.region, name, from, at],
                    )?;
                }
            }
            Ok(())
        };
        let (subnets, groups) = (sorted_json(&f.subnets), sorted_json(&f.security_groups));
        let same = |s: &Option<Spell>| s.as_ref().is_some_and(|s| s.2 == subnets && s.3 == groups);
        if f.deleted {
            end_before(&self.conn)?;
        } else if same(&before) && before.as_ref().is_some_and(|b| b.1.is_none_or(|to| to >= at)) {
            // Inside a spell of the same configuration.
        } else if same(&after) {
            end_before(&self.conn)?;
            let from = after.as_ref().map(|a| a.0);
            self.conn.execute(
                "UPDATE lambda_configs SET valid_from = ?5, function_arn = coalesce(function_arn, ?6)
                 WHERE account_id = ?1 AND region = ?2 AND function_name = ?3 AND valid_from = ?4",
                params![f.account_id, f.region, name, from, at, f.function_arn],
            )?;
        } else {
            end_before(&self.conn)?;
            self.conn.execute(
                "INSERT INTO lambda_configs (account_id, region, function_name, function_arn, subnets, security_groups,
                                             valid_from, valid_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![f.account_id, f.region, name, f.function_arn, subnets, groups, at, after.map(|a| a.0)],
            )?;
        }
        self.source(&format!("lambda:{}:{}:{name}", f.account_id, f.region), &f.source)?;
        Ok(tx.commit()?)
    }

    /// A sync listed every function of an account and region at `at_ns`: a spell still open
    /// of a function not among `listed` ends there (it was deleted before then).
    pub fn end_unlisted_functions(
        &mut self,
        account: &str,
        region: &str,
        listed: &[&str],
        at_ns: u64,
    ) -> Result<(), Error> {
        let names: Vec<&str> = listed.iter().map(|n| LambdaConfigFact::name_of(n)).collect();
        self.conn.execute(
            "UPDATE lambda_configs SET valid_to = ?4
             WHERE account_id = ?1 AND region = ?2 AND valid_to IS NULL AND valid_from <= ?4
               AND function_name NOT IN (SELECT value FROM json_each(?3))",
            params![account, region, serde_json::to_string(&names).expect("strings"), sql_ns(at_ns)],
        )?;
        Ok(())
    }

    /// Records an EC2 instance as one source saw it, and its state at that time.
    pub fn add_instance(&mut self, f: &InstanceFact) -> Result<(), Error> {
        let tx = self.conn.unchecked_transaction()?;
        let at = sql_ns(f.source.at_ns);
        self.conn.execute(
            "INSERT INTO ec2_instances (instance_id, account_id, region, name, instance_type, launched_at, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON CONFLICT (instance_id) DO UPDATE SET
               name = CASE WHEN excluded.last_seen >= last_seen THEN coalesce(excluded.name, name) ELSE coalesce(name, excluded.name) END,
               instance_type = coalesce(excluded.instance_type, instance_type),
               launched_at = coalesce(launched_at, excluded.launched_at),
               first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
            params![f.instance_id, f.account_id, f.region, f.name, f.instance_type, ns(f.launched_at), at],
        )?;
        if let Some(state) = &f.state {
            self.instance_state(&f.instance_id, state, at)?;
        }
        self.source(&f.instance_id, &f.source)?;
        Ok(tx.commit()?)
    }

    /// One sighting of an instance in `state` at `at`: it widens the spell it falls in or
    /// borders, or starts one. A sighting that arrives late fits between the spells around it.
    fn instance_state(&self, instance: &str, state: &str, at: i64) -> Result<(), Error> {
        let spell = |sql: &str| -> Result<Option<(String, i64)>, Error> {
            self.row(sql, params![instance, at], |r| Ok((r.get(0)?, r.get(1)?)))
        };
        let before = spell(
            "SELECT state, first_seen FROM instance_states WHERE instance_id = ?1 AND first_seen <= ?2
             ORDER BY first_seen DESC LIMIT 1",
        )?;
        let after = spell(
            "SELECT state, first_seen FROM instance_states WHERE instance_id = ?1 AND first_seen > ?2
             ORDER BY first_seen LIMIT 1",
        )?;
        match (before, after) {
            (Some((s, first)), _) if s == state => {
                self.conn.execute(
                    "UPDATE instance_states SET last_seen = max(last_seen, ?3) WHERE instance_id = ?1 AND first_seen = ?2",
                    params![instance, first, at],
                )?;
            }
            (_, Some((s, first))) if s == state => {
                self.conn.execute(
                    "UPDATE instance_states SET first_seen = ?3 WHERE instance_id = ?1 AND first_seen = ?2",
                    params![instance, first, at],
                )?;
            }
            _ => {
                self.conn.execute(
                    "INSERT OR IGNORE INTO instance_states (instance_id, state, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)",
                    params![instance, state, at],
                )?;
            }
        }
        Ok(())
    }

    /// A query's first row, as `map` reads it, if there is a row.
    fn row<T>(
        &self,
        sql: &str,
        p: &[&dyn rusqlite::ToSql],
        map: impl FnOnce(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, Error> {
        Ok(self.conn.prepare_cached(sql)?.query_row(p, map).optional()?)
    }

    /// The first column of a query's first row, if there is a row.
    fn one<T: rusqlite::types::FromSql>(&self, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Option<T>, Error> {
        self.row(sql, p, |r| r.get(0))
    }

    /// The address and interface of an association: the address given, else the allocation's as
    /// the register knows it (a sync, an AllocateAddress); the interface given, else the
    /// instance's first known at `at`.
    fn association_target(&self, a: &AddressAssociation, at: i64) -> Result<Option<(String, String)>, Error> {
        let ip = match (&a.public_ip, &a.allocation_id) {
            (Some(ip), _) => Some(ip.clone()),
            (None, Some(alloc)) => {
                self.one("SELECT ip FROM eni_ips WHERE eni_id = ?1 ORDER BY rowid LIMIT 1", &[alloc])?
            }
            (None, None) => None,
        };
        let eni = match (&a.eni_id, &a.instance_id) {
            (Some(eni), _) => Some(eni.clone()),
            (None, Some(instance)) => self.one(
                "SELECT eni_id FROM enis WHERE instance_id = ?1 AND (deleted_at IS NULL OR deleted_at >= ?2)
                 ORDER BY coalesce(created_at, first_seen), rowid LIMIT 1",
                &[instance, &at],
            )?,
            (None, None) => None,
        };
        Ok(ip.zip(eni))
    }

    /// How many spells the address has on the interface.
    fn spell_count(&self, eni: &str, ip: &str) -> Result<i64, Error> {
        let mut st = self.conn.prepare_cached("SELECT count(*) FROM address_spells WHERE eni_id = ?1 AND ip = ?2")?;
        Ok(st.query_row(params![eni, ip], |r| r.get(0))?)
    }

    /// A spell of the address on the interface from `at`: nothing when one already holds `at`
    /// (it takes the association id it lacked); the next one moved to start at `at` when it is of
    /// the same association (or of none known), so that a sync's sighting and the CloudTrail
    /// record of the same association make one spell whatever order they come in; else a spell
    /// of its own, open or ending where the next one starts.
    fn start_spell(&self, eni: &str, ip: &str, at: i64, association: Option<&str>) -> Result<(), Error> {
        let holding: Option<i64> = self.one(
            "SELECT held_from FROM address_spells WHERE eni_id = ?1 AND ip = ?2 AND held_from <= ?3
               AND (held_to IS NULL OR held_to >= ?3)
             ORDER BY held_from DESC LIMIT 1",
            &[&eni, &ip, &at],
        )?;
        if let Some(from) = holding {
            self.conn.execute(
                "UPDATE address_spells SET association_id = coalesce(association_id, ?4)
                 WHERE eni_id = ?1 AND ip = ?2 AND held_from = ?3",
                params![eni, ip, from, association],
            )?;
            return Ok(());
        }
        let next: Option<(i64, Option<String>)> = self.row(
            "SELECT held_from, association_id FROM address_spells WHERE eni_id = ?1 AND ip = ?2 AND held_from > ?3
             ORDER BY held_from LIMIT 1",
            params![eni, ip, at],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        match next {
            Some((from, id)) if id.is_none() || association.is_none() || id.as_deref() == association => {
                self.conn.execute(
                    "UPDATE address_spells SET held_from = ?4, association_id = coalesce(association_id, ?5)
                     WHERE eni_id = ?1 AND ip = ?2 AND held_from = ?3",
                    params![eni, ip, from, at, association],
                )?;
            }
            next => {
                self.conn.execute(
                    "INSERT INTO address_spells (eni_id, ip, held_from, held_to, association_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![eni, ip, at, next.map(|n| n.0), association],
                )?;
            }
        }
        Ok(())
    }

    /// The allocation is no longer idle from `until`: its open idle spell ends there, and with
    /// none, its life so far (from its creation, else when first seen) is one. `exact`: `until` is
    /// when it was associated (CloudTrail), so an idle spell a sync ended when it was last seen
    /// idle reaches it, unless the address was somewhere else in between.
    fn end_idle(&self, alloc: &str, ip: &str, until: i64, exact: bool) -> Result<(), Error> {
        if exact {
            self.conn.execute(
                "UPDATE address_spells SET held_to = ?3
                 WHERE eni_id = ?1 AND ip = ?2 AND held_to < ?3
                   AND held_from = (SELECT max(held_from) FROM address_spells WHERE eni_id = ?1 AND ip = ?2 AND held_from <= ?3)
                   AND NOT EXISTS (SELECT 1 FROM address_spells o WHERE o.ip = ?2 AND o.eni_id != ?1
                                   AND o.held_from < ?3 AND coalesce(o.held_to, ?3) > address_spells.held_to)",
                params![alloc, ip, until],
            )?;
        }
        if self.spell_count(alloc, ip)? == 0 {
            self.conn.execute(
                "INSERT OR IGNORE INTO address_spells (eni_id, ip, held_from, held_to)
                 SELECT i.eni_id, i.ip, coalesce(e.created_at, i.first_seen), ?3
                 FROM eni_ips i JOIN enis e ON e.eni_id = i.eni_id
                 WHERE i.eni_id = ?1 AND i.ip = ?2 AND coalesce(e.created_at, i.first_seen) <= ?3",
                params![alloc, ip, until],
            )?;
        } else {
            self.conn.execute(
                "UPDATE address_spells SET held_to = ?3
                 WHERE eni_id = ?1 AND ip = ?2 AND held_to IS NULL AND held_from <= ?3",
                params![alloc, ip, until],
            )?;
        }
        Ok(())
    }

    /// An Elastic IP associated with an interface (CloudTrail's AssociateAddress): the address is
    /// the interface's from then, in a spell of its own, and its allocation is no longer idle.
    /// Without a known address and interface ([`Self::association_target`]) nothing is recorded
    /// (`false`).
    pub fn associate_address(&mut self, a: &AddressAssociation) -> Result<bool, Error> {
        let at = sql_ns(a.source.at_ns);
        let Some((ip, eni)) = self.association_target(a, at)? else { return Ok(false) };
        let tx = self.conn.unchecked_transaction()?;
        self.eni_row(&eni, None, &a.account_id, &a.region, at)?;
        self.eni_ip(&eni, &IpFact { ip: ip.clone(), kind: "public".into() }, at)?;
        self.start_spell(&eni, &ip, at, a.association_id.as_deref())?;
        if let Some(alloc) = &a.allocation_id {
            self.end_idle(alloc, &ip, at, true)?;
        }
        self.source(&eni, &a.source)?;
        tx.commit()?;
        Ok(true)
    }

    /// An Elastic IP a sync saw associated with an interface (DescribeAddresses). A spell from the
    /// sync on (its start is not known: from when first seen), unless one holds it already; but an
    /// address the interface was seen with before, without spells, is held for the interface's
    /// whole life as before. The allocation is no longer idle from when it was last seen idle.
    pub fn observe_association(&mut self, a: &AddressAssociation) -> Result<bool, Error> {
        let at = sql_ns(a.source.at_ns);
        let Some((ip, eni)) = self.association_target(a, at)? else { return Ok(false) };
        let tx = self.conn.unchecked_transaction()?;
        let seen_before = self
            .one::<String>(
                "SELECT eni_id FROM eni_ips WHERE eni_id = ?1 AND ip = ?2 AND first_seen < ?3",
                &[&eni, &ip, &at],
            )?
            .is_some();
        let spells = self.spell_count(&eni, &ip)?;
        self.eni_row(&eni, None, &a.account_id, &a.region, at)?;
        self.eni_ip(&eni, &IpFact { ip: ip.clone(), kind: "public".into() }, at)?;
        if spells > 0 || !seen_before {
            self.start_spell(&eni, &ip, at, a.association_id.as_deref())?;
        }
        if let Some(alloc) = &a.allocation_id {
            let last_idle: Option<i64> =
                self.one("SELECT last_seen FROM eni_ips WHERE eni_id = ?1 AND ip = ?2", &[alloc, &ip])?;
            if let Some(last) = last_idle {
                self.end_idle(alloc, &ip, last.min(at), false)?;
            }
        }
        self.source(&eni, &a.source)?;
        tx.commit()?;
        Ok(true)
    }

    /// An association ended at `at_ns`: its spell ends there, and the Elastic IP the register
    /// knows for the address is idle again from then. An association it never heard of changes
    /// nothing (`false`).
    pub fn disassociate_address(
        &mut self,
        association_id: &str,
        at_ns: u64,
        source: &Provenance,
    ) -> Result<bool, Error> {
        let at = sql_ns(at_ns);
        let spell: Option<(String, String, i64)> = self.row(
            "SELECT eni_id, ip, held_from FROM address_spells WHERE association_id = ?1 AND held_from <= ?2
             ORDER BY held_from DESC LIMIT 1",
            params![association_id, at],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let Some((eni, ip, from)) = spell else { return Ok(false) };
        let tx = self.conn.unchecked_transaction()?;
        // Open, or ended by a sync when last seen (before this, the end as the call gives it).
        self.conn.execute(
            "UPDATE address_spells SET held_to = ?4
             WHERE eni_id = ?1 AND ip = ?2 AND held_from = ?3 AND (held_to IS NULL OR held_to < ?4)",
            params![eni, ip, from, at],
        )?;
        let allocations: Vec<String> = {
            let mut st = self.conn.prepare_cached(
                "SELECT i.eni_id FROM eni_ips i JOIN enis e ON e.eni_id = i.eni_id
                 WHERE i.ip = ?1 AND e.interface_type = 'elastic-ip'",
            )?;
            let rows = st.query_map([&ip], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for alloc in allocations {
            self.start_spell(&alloc, &ip, at, None)?;
        }
        self.source(&eni, source)?;
        tx.commit()?;
        Ok(true)
    }

    /// An EC2 instance terminated at `at_ns`: the interfaces attached to it end there (those
    /// already ended keep their end), and it is seen `terminated` from then.
    pub fn end_instance(&mut self, instance_id: &str, at_ns: u64, source: &Provenance) -> Result<(), Error> {
        self.instance_state(instance_id, "terminated", sql_ns(at_ns))?;
        let ended: Vec<String> = {
            let mut st = self.conn.prepare("SELECT eni_id FROM enis WHERE instance_id = ?1 AND deleted_at IS NULL")?;
            let rows = st.query_map([instance_id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for eni in ended {
            self.conn.execute("UPDATE enis SET deleted_at = ?2 WHERE eni_id = ?1", params![eni, sql_ns(at_ns)])?;
            self.source(&eni, source)?;
        }
        Ok(())
    }

    /// Records one acquisition of a task's container: `record` is its line of
    /// acquisition.jsonl, kept whole, its fields read for the columns.
    pub fn add_acquisition(&mut self, task_arn: &str, record: &serde_json::Value) -> Result<(), Error> {
        let text = |k: &str| record[k].as_str().map(str::to_string);
        self.conn.execute(
            "INSERT INTO acquisitions (task_arn, container_name, started_at, ended_at, method, transport, operator,
                                       archive, sha256, verified, error, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                task_arn,
                record["target"]["container_name"].as_str(),
                text("started_at").unwrap_or_default(),
                text("ended_at").unwrap_or_default(),
                text("method").unwrap_or_default(),
                text("transport").unwrap_or_default(),
                text("operator").unwrap_or_default(),
                text("archive"),
                text("sha256"),
                record["verified"].as_bool().unwrap_or(false),
                text("error"),
                record.to_string()
            ],
        )?;
        Ok(())
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
}

/// Ids as a JSON array, sorted and without repeats: the same set always spells the same.
pub(crate) fn sorted_json(ids: &[String]) -> String {
    let mut v: Vec<&str> = ids.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.dedup();
    serde_json::to_string(&v).expect("strings")
}
