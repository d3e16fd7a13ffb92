//! `ecs-execute-command`: who opened a command in which task's container through ECS Exec; the
//! responder's own acquisitions (recorded in the register by `curtain acquire --db`) are said as
//! such and informational.

use crate::{finding, Event, Knows};
use curtain_analyze::rules::Rules;
use curtain_model::{Finding, Severity};

const ID: &str = "ecs-execute-command";

/// How long before an acquisition's recorded start its session may be opened (the preflight
/// and the session's start come first).
const SLACK_NS: u64 = 300_000_000_000;

pub(crate) fn find(events: &[Event], reg: &dyn Knows, rules: &Rules) -> Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    for e in events.iter().filter(|e| e.name == "ExecuteCommand") {
        let task = e.s(&["requestParameters", "task"]).or_else(|| e.s(&["responseElements", "taskArn"])).unwrap_or("?");
        let container = e.s(&["requestParameters", "container"]).unwrap_or("(the only one)");
        let command = e.s(&["requestParameters", "command"]).unwrap_or("?");
        let cluster = e.s(&["requestParameters", "cluster"]).unwrap_or("?");
        let who = e.caller_arn();
        let ours = reg.acquisitions(task)?.into_iter().find(|(start, end, operator)| {
            let (Some(s), Some(t)) = (curtain_model::parse_rfc3339_ns(start), curtain_model::parse_rfc3339_ns(end))
            else {
                return false;
            };
            operator == &who && e.at_ns + SLACK_NS >= s && e.at_ns <= t
        });
        let mut summary = format!(
            "{who} ran {command:?} in container {container} of task {task} (cluster {cluster}) through ECS Exec"
        );
        let severity = match &ours {
            Some((start, ..)) => {
                summary.push_str(&format!("; the responder's own `curtain acquire` of {start}"));
                Some(Severity::Info)
            }
            None => None,
        };
        out.push(finding(rules, ID, severity, e, summary));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use serde_json::json;

    fn exec(at: &str, who: &str) -> Event {
        // The shape of AWS's documented ExecuteCommand record.
        event(
            "ExecuteCommand",
            at,
            json!({
                "eventSource": "ecs.amazonaws.com",
                "sourceIPAddress": "203.0.113.10",
                "userIdentity": {"type": "IAMUser", "arn": who},
                "requestParameters": {"cluster": "prod", "container": "app", "command": "/bin/sh", "interactive": true,
                                      "task": "3d4e5f60718293a4b5c6d7e8f9012345"}
            }),
        )
    }

    #[test]
    fn a_session_into_a_task_is_said_with_who_and_what() {
        let f = find(
            &[exec("2026-11-29T10:00:00Z", "arn:aws:iam::111122223333:user/mallory")],
            &Known::default(),
            &Rules::builtin(),
        )
        .unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].summary.contains("user/mallory") && f[0].summary.contains("\"/bin/sh\""));
    }

    #[test]
    fn the_responders_own_acquisition_is_informational() {
        let who = "arn:aws:sts::111122223333:assumed-role/ir/alice";
        let mut k = Known::default();
        k.acquired.push((
            "arn:aws:ecs:us-east-1:111122223333:task/prod/3d4e5f60718293a4b5c6d7e8f9012345".into(),
            "2026-11-29T10:00:02Z".into(),
            "2026-11-29T10:00:40Z".into(),
            who.into(),
        ));
        let f = find(&[exec("2026-11-29T10:00:00Z", who)], &k, &Rules::builtin()).unwrap();
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].summary.contains("responder's own"));
        // Someone else at the same time is not the responder.
        let f = find(&[exec("2026-11-29T10:00:00Z", "arn:aws:iam::111122223333:user/mallory")], &k, &Rules::builtin())
            .unwrap();
        assert_eq!(f[0].severity, Severity::Medium);
    }
}
