//! `task-credentials-elsewhere`: a task's (or an EC2 instance's) role credentials used from an
//! address that was not that task's (or instance's) at that moment.
//!
//! ECS vends a task role's credentials through an AssumeRole made by `ecs-tasks.amazonaws.com`
//! with the task id as the role session name; the key id is in the response. EC2 does the same
//! for an instance profile (`ec2.amazonaws.com`, the instance id). A later call is tied to the
//! task by that key, or, when the AssumeRole is not among the records read, by the assumed-role
//! session name (an ECS task id the register knows).

use crate::{finding, task_id, Event, Knows};
use curtain_analyze::rules::Rules;
use curtain_model::{Finding, Severity};
use std::collections::HashMap;

const ID: &str = "task-credentials-elsewhere";

/// Whose credentials a key is.
#[derive(Clone, Debug)]
struct Vended {
    /// The task id or the instance id.
    owner: String,
    instance: bool,
    role: String,
    issued_by: String,
}

fn is_task_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A call from AWS itself (a service acting for the caller, the console's internal calls).
fn from_aws(source: &str) -> bool {
    source.ends_with(".amazonaws.com") || source == "AWS Internal" || source.is_empty()
}

pub(crate) fn find(events: &[Event], reg: &dyn Knows, rules: &Rules) -> Result<Vec<Finding>, String> {
    let mut keys: HashMap<String, Vended> = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        if e.name == "AssumeRole" {
            let by = e.s(&["userIdentity", "invokedBy"]).or_else(|| e.s(&["sourceIPAddress"])).unwrap_or("");
            let session = e.s(&["requestParameters", "roleSessionName"]).unwrap_or("");
            let key = e.s(&["responseElements", "credentials", "accessKeyId"]);
            let instance = by == "ec2.amazonaws.com" && session.starts_with("i-");
            if let (Some(key), true) = (key, (by == "ecs-tasks.amazonaws.com" && !session.is_empty()) || instance) {
                keys.insert(
                    key.to_string(),
                    Vended {
                        owner: session.to_string(),
                        instance,
                        role: e.s(&["requestParameters", "roleArn"]).unwrap_or("?").to_string(),
                        issued_by: e.id.clone(),
                    },
                );
            }
            continue;
        }
        let source = e.s(&["sourceIPAddress"]).unwrap_or("");
        if from_aws(source) || e.s(&["userIdentity", "type"]) != Some("AssumedRole") {
            continue;
        }
        let by_key = e.s(&["userIdentity", "accessKeyId"]).and_then(|k| keys.get(k)).cloned();
        let vended = match by_key {
            Some(v) => v,
            None => {
                // assumed-role/ROLE/SESSION: an ECS task's id as the session, a task the register knows.
                let arn = e.s(&["userIdentity", "arn"]).unwrap_or("");
                let session = arn.rsplit('/').next().unwrap_or("");
                if !arn.contains(":assumed-role/") || !is_task_id(session) || !reg.knows_task(session)? {
                    continue;
                }
                let role = e.s(&["userIdentity", "sessionContext", "sessionIssuer", "arn"]).unwrap_or("?");
                Vended { owner: session.to_string(), instance: false, role: role.to_string(), issued_by: String::new() }
            }
        };
        let holders = reg.holders_at(source, e.at_ns)?;
        let its_own = holders.iter().any(|(task, instance)| {
            if vended.instance {
                instance.as_deref() == Some(vended.owner.as_str())
            } else {
                task.as_deref().is_some_and(|t| task_id(t) == vended.owner)
            }
        });
        if its_own {
            continue;
        }
        let whose = match holders.first() {
            None => "an address the register does not know".to_string(),
            Some((Some(t), _)) => format!("an address of task {t} at that time"),
            Some((None, Some(i))) => format!("an address of instance {i} at that time"),
            Some(_) => "an address the register knows without an owner".to_string(),
        };
        let what = if vended.instance { "instance" } else { "task" };
        let service = e.s(&["eventSource"]).unwrap_or("?").trim_end_matches(".amazonaws.com");
        let mut summary = format!(
            "role {} credentials of {what} {} used from {source} ({whose}): {service}:{} by {}",
            vended.role,
            vended.owner,
            e.name,
            e.caller_arn()
        );
        if !vended.issued_by.is_empty() {
            summary.push_str(&format!("; issued by AssumeRole {}", vended.issued_by));
        }
        let mut f = finding(rules, ID, Some(Severity::Critical), e, summary);
        if let Some(issue) = events.iter().find(|x| x.id == vended.issued_by && !vended.issued_by.is_empty()) {
            f.evidence.push(issue.evidence());
        }
        out.push(f);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use serde_json::json;

    const TASK: &str = "arn:aws:ecs:us-east-1:111122223333:task/prod/3d4e5f60718293a4b5c6d7e8f9012345";
    const TID: &str = "3d4e5f60718293a4b5c6d7e8f9012345";

    fn assume() -> Event {
        // AWS's documented shape of the AssumeRole ECS makes for a task role.
        event(
            "AssumeRole",
            "2026-11-29T10:00:00Z",
            json!({
                "eventSource": "sts.amazonaws.com",
                "userIdentity": {"type": "AWSService", "invokedBy": "ecs-tasks.amazonaws.com"},
                "sourceIPAddress": "ecs-tasks.amazonaws.com",
                "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/web-task", "roleSessionName": TID},
                "responseElements": {"credentials": {"accessKeyId": "ASIAEXAMPLETASKKEY01", "expiration": "Nov 29, 2026 4:00:00 PM"}}
            }),
        )
    }

    fn call(at: &str, ip: &str) -> Event {
        event(
            "ListBuckets",
            at,
            json!({
                "eventSource": "s3.amazonaws.com",
                "sourceIPAddress": ip,
                "userIdentity": {
                    "type": "AssumedRole",
                    "arn": format!("arn:aws:sts::111122223333:assumed-role/web-task/{TID}"),
                    "accessKeyId": "ASIAEXAMPLETASKKEY01",
                    "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/web-task"}}
                }
            }),
        )
    }

    fn known() -> Known {
        let mut k = Known::default();
        k.held.insert("10.0.1.23".into(), vec![(ns("2026-11-29T09:00:00Z"), ns("2026-11-29T12:00:00Z"), TASK.into())]);
        k
    }

    #[test]
    fn the_key_used_from_another_address_is_a_finding() {
        let ev = [assume(), call("2026-11-29T10:05:00Z", "198.51.100.77")];
        let f = find(&ev, &known(), &Rules::builtin()).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].detector, ID);
        assert!(
            f[0].summary.contains("198.51.100.77")
                && f[0].summary.contains(TID)
                && f[0].summary.contains("s3:ListBuckets")
        );
        assert_eq!(f[0].evidence.len(), 2, "the call and the AssumeRole that issued the key");
    }

    #[test]
    fn the_task_itself_and_aws_services_are_not() {
        let ev =
            [assume(), call("2026-11-29T10:05:00Z", "10.0.1.23"), call("2026-11-29T10:06:00Z", "athena.amazonaws.com")];
        assert!(find(&ev, &known(), &Rules::builtin()).unwrap().is_empty());
    }

    #[test]
    fn the_address_is_judged_at_the_calls_time() {
        // 10.0.1.23 was the task's until 12:00: at 13:00 it is not.
        let ev = [assume(), call("2026-11-29T13:00:00Z", "10.0.1.23")];
        assert_eq!(find(&ev, &known(), &Rules::builtin()).unwrap().len(), 1);
    }

    #[test]
    fn instance_profile_credentials_are_judged_against_their_instance() {
        let assume = event(
            "AssumeRole",
            "2026-11-29T10:00:00Z",
            json!({"userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
                   "sourceIPAddress": "ec2.amazonaws.com",
                   "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/app-host", "roleSessionName": "i-0a1b2c3d4e5f60718"},
                   "responseElements": {"credentials": {"accessKeyId": "ASIAEXAMPLEHOSTKEY01"}}}),
        );
        let use_from = |ip: &str| {
            event(
                "GetCallerIdentity",
                "2026-11-29T10:30:00Z",
                json!({"eventSource": "sts.amazonaws.com", "sourceIPAddress": ip,
                       "userIdentity": {"type": "AssumedRole", "accessKeyId": "ASIAEXAMPLEHOSTKEY01",
                                        "arn": "arn:aws:sts::111122223333:assumed-role/app-host/i-0a1b2c3d4e5f60718"}}),
            )
        };
        let mut k = Known::default();
        k.instances.insert(
            "10.0.2.9".into(),
            vec![(ns("2026-11-29T00:00:00Z"), ns("2026-11-30T00:00:00Z"), "i-0a1b2c3d4e5f60718".into())],
        );
        assert!(find(&[assume.clone(), use_from("10.0.2.9")], &k, &Rules::builtin()).unwrap().is_empty());
        let f = find(&[assume, use_from("192.0.2.44")], &k, &Rules::builtin()).unwrap();
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("instance i-0a1b2c3d4e5f60718"), "{}", f[0].summary);
    }

    #[test]
    fn without_the_assume_role_the_session_name_ties_the_call_to_a_known_task() {
        let ev = [call("2026-11-29T10:05:00Z", "198.51.100.77")];
        assert_eq!(find(&ev, &known(), &Rules::builtin()).unwrap().len(), 1);
        // A session name that is no task the register knows: nothing to judge against.
        assert!(find(&ev, &Known::default(), &Rules::builtin()).unwrap().is_empty());
    }
}
