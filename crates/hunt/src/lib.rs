//! `curtain hunt`: findings from CloudTrail, joined to the asset register, in the same Finding
//! model as the process detectors (id, title, ATT&CK, severity, evidence), so that cloud and
//! process findings sort together on one timeline.
//!
//! The most common end of an ECS compromise is the task role's credentials used from somewhere
//! else; CloudTrail shows it, but only the register knows which address was the task's at that
//! moment. Each detector is a module with a true positive and a look-alike; its id, title,
//! ATT&CK techniques, severity and text are its rule file in crates/analyze/rules/, so that
//! `curtain detectors` and docs/DETECTORS.md list them with the others.

#![forbid(unsafe_code)]

mod credentials;
mod deployer;
mod execute_command;
mod run_task;
mod task_definition;

use curtain_analyze::rules::Rules;
use curtain_model::{Evidence, Finding, Severity};
use curtain_store::Register;
use serde_json::Value;
use std::io;
use std::path::Path;

/// One CloudTrail record, with where it was read.
#[derive(Clone, Debug)]
pub struct Event {
    pub at_ns: u64,
    pub id: String,
    pub name: String,
    pub file: String,
    pub rec: Value,
}

impl Event {
    /// A string at a path of keys.
    pub fn s(&self, path: &[&str]) -> Option<&str> {
        let mut v = &self.rec;
        for k in path {
            v = v.get(k)?;
        }
        v.as_str().filter(|s| !s.is_empty())
    }

    /// Who called: the role for an assumed role's session (its sessions count as one identity),
    /// else the caller's ARN, else its type.
    pub fn caller(&self) -> String {
        self.s(&["userIdentity", "sessionContext", "sessionIssuer", "arn"])
            .or_else(|| self.s(&["userIdentity", "arn"]))
            .or_else(|| self.s(&["userIdentity", "invokedBy"]))
            .or_else(|| self.s(&["userIdentity", "type"]))
            .unwrap_or("unknown")
            .to_string()
    }

    /// The caller's own ARN (an assumed role's session included).
    pub fn caller_arn(&self) -> String {
        self.s(&["userIdentity", "arn"]).map(str::to_string).unwrap_or_else(|| self.caller())
    }

    pub(crate) fn evidence(&self) -> Evidence {
        Evidence { member: format!("cloudtrail:{}", self.file), locator: format!("eventID={}", self.id) }
    }
}

/// The records of the inputs, oldest first, and what could not be read.
#[derive(Debug, Default)]
pub struct Events {
    pub events: Vec<Event>,
    /// Records skipped because the call failed (an error code: it changed nothing).
    pub failed_calls: u64,
    pub errors: Vec<String>,
}

/// Reads CloudTrail files (JSON, gzip, the S3 delivery's `{"Records": [...]}`, JSON lines,
/// CloudWatch Logs exports), each at most `max_input` bytes once decompressed.
pub fn read(paths: &[&Path], max_input: u64) -> io::Result<Events> {
    let mut out = Events::default();
    for p in paths {
        let bytes = curtain_cloud::ingest::read_input(p, max_input)?;
        let file = p.display().to_string();
        let mut errors = Vec::new();
        for rec in curtain_cloud::ingest::cloudtrail_records(&bytes, &mut errors) {
            if rec.get("errorCode").is_some_and(|e| !e.is_null()) {
                out.failed_calls += 1;
                continue;
            }
            let id = rec.get("eventID").and_then(Value::as_str).unwrap_or_default().to_string();
            let Some(at_ns) = curtain_cloud::ingest::time_ns(rec.get("eventTime")) else {
                out.errors.push(format!("{file}: record {id}: no eventTime between 1970 and 2262"));
                continue;
            };
            let name = rec.get("eventName").and_then(Value::as_str).unwrap_or_default().to_string();
            out.events.push(Event { at_ns, id, name, file: file.clone(), rec });
        }
        out.errors.extend(errors.into_iter().map(|e| format!("{file}: {e}")));
    }
    out.events.sort_by(|a, b| a.at_ns.cmp(&b.at_ns).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// Who held an address at a moment: a task's ARN, an EC2 instance's id.
pub type HeldBy = (Option<String>, Option<String>);

/// What the detectors ask the register.
pub trait Knows {
    /// The tasks (ARNs) and EC2 instances (ids) that held `ip` at `at_ns`.
    fn holders_at(&self, ip: &str, at_ns: u64) -> Result<Vec<HeldBy>, String>;
    /// Whether the register knows a task of this id (the ARN's last part).
    fn knows_task(&self, task_id: &str) -> Result<bool, String>;
    /// The acquisitions of a task (by ARN or id): (started_at, ended_at, operator).
    fn acquisitions(&self, task: &str) -> Result<Vec<(String, String, String)>, String>;
}

impl Knows for Register {
    fn holders_at(&self, ip: &str, at_ns: u64) -> Result<Vec<HeldBy>, String> {
        let h = self.whois(ip, Some(at_ns)).map_err(|e| e.to_string())?;
        Ok(h.into_iter().map(|h| (h.task_arn, h.ec2_instance_id)).collect())
    }
    fn knows_task(&self, task_id: &str) -> Result<bool, String> {
        self.task_by_id(task_id).map(|t| t.is_some()).map_err(|e| e.to_string())
    }
    fn acquisitions(&self, task: &str) -> Result<Vec<(String, String, String)>, String> {
        let arn = if task.starts_with("arn:") {
            Some(task.to_string())
        } else {
            self.task_by_id(task).map_err(|e| e.to_string())?
        };
        let Some(arn) = arn else { return Ok(Vec::new()) };
        let a = self.acquisitions_of(&arn).map_err(|e| e.to_string())?;
        Ok(a.into_iter().map(|a| (a.started_at, a.ended_at, a.operator)).collect())
    }
}

/// The last part of a task ARN, either form (`task/CLUSTER/ID` or the old `task/ID`).
pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Every detector over the events; findings oldest first, then by severity.
pub fn hunt(events: &[Event], register: &dyn Knows, rules: &Rules) -> Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    out.extend(credentials::find(events, register, rules)?);
    out.extend(execute_command::find(events, register, rules)?);
    out.extend(run_task::find(events, rules));
    out.extend(task_definition::find(events, rules));
    out.extend(deployer::find(events, rules));
    out.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(b.severity.cmp(&a.severity)));
    Ok(out)
}

/// A finding of rule `id` about event `e`.
pub(crate) fn finding(rules: &Rules, id: &str, severity: Option<Severity>, e: &Event, summary: String) -> Finding {
    let rule = rules.get(id).unwrap_or_else(|| panic!("rule {id} is embedded"));
    Finding {
        detector: rule.id.clone(),
        title: rule.title.clone(),
        severity: severity.unwrap_or(rule.severity),
        attack: rule.attack.clone(),
        pid: None,
        starttime_ticks: None,
        started_at: Some(curtain_model::format_rfc3339_ns(e.at_ns)),
        comm: None,
        summary,
        evidence: vec![e.evidence()],
        source: e.file.clone(),
        container: None,
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Records as CloudTrail writes them (shapes from AWS's documented examples), and a register
    //! in memory.
    use super::*;
    use std::collections::HashMap;

    pub fn event(name: &str, at: &str, rec: Value) -> Event {
        let mut rec = rec;
        rec["eventName"] = name.into();
        rec["eventTime"] = at.into();
        let id = format!("{name}-{at}");
        rec["eventID"] = id.clone().into();
        Event {
            at_ns: curtain_model::parse_rfc3339_ns(at).expect("time"),
            id,
            name: name.into(),
            file: "trail.json".into(),
            rec,
        }
    }

    #[derive(Default)]
    pub struct Known {
        /// ip -> [(from, to, task arn)]
        pub held: HashMap<String, Vec<(u64, u64, String)>>,
        /// ip -> [(from, to, instance id)]
        pub instances: HashMap<String, Vec<(u64, u64, String)>>,
        pub acquired: Vec<(String, String, String, String)>,
    }

    impl Knows for Known {
        fn holders_at(&self, ip: &str, at: u64) -> Result<Vec<HeldBy>, String> {
            let tasks = self.held.get(ip).into_iter().flatten().filter(|(f, t, _)| *f <= at && at < *t);
            let instances = self.instances.get(ip).into_iter().flatten().filter(|(f, t, _)| *f <= at && at < *t);
            Ok(tasks
                .map(|(_, _, arn)| (Some(arn.clone()), None))
                .chain(instances.map(|(_, _, i)| (None, Some(i.clone()))))
                .collect())
        }
        fn knows_task(&self, id: &str) -> Result<bool, String> {
            Ok(self.held.values().flatten().any(|(_, _, a)| task_id(a) == id))
        }
        fn acquisitions(&self, task: &str) -> Result<Vec<(String, String, String)>, String> {
            Ok(self
                .acquired
                .iter()
                .filter(|(t, ..)| task_id(t) == task_id(task))
                .map(|(_, s, e, o)| (s.clone(), e.clone(), o.clone()))
                .collect())
        }
    }

    pub fn ns(t: &str) -> u64 {
        curtain_model::parse_rfc3339_ns(t).unwrap()
    }
}
