//! `ecs-privileged-task-definition`: a task definition registered with privileged mode, the
//! host's PID or IPC namespace, the host's network, or host-path volumes.

use crate::{finding, Event};
use curtain_analyze::rules::Rules;
use curtain_model::Finding;

const ID: &str = "ecs-privileged-task-definition";

pub(crate) fn find(events: &[Event], rules: &Rules) -> Vec<Finding> {
    let mut out = Vec::new();
    for e in events.iter().filter(|e| e.name == "RegisterTaskDefinition") {
        let rp = e.rec.get("requestParameters");
        let get = |k: &str| rp.and_then(|r| r.get(k)).and_then(|v| v.as_str()).unwrap_or("");
        let mut what = Vec::new();
        for c in rp.and_then(|r| r.get("containerDefinitions")).and_then(|v| v.as_array()).into_iter().flatten() {
            if c.get("privileged").and_then(|v| v.as_bool()) == Some(true) {
                what.push(format!("container {} privileged", c.get("name").and_then(|v| v.as_str()).unwrap_or("?")));
            }
        }
        for (k, label) in [("pidMode", "the host's PID namespace"), ("ipcMode", "the host's IPC namespace")] {
            if get(k) == "host" {
                what.push(label.to_string());
            }
        }
        if get("networkMode") == "host" {
            what.push("the host's network".into());
        }
        for v in rp.and_then(|r| r.get("volumes")).and_then(|v| v.as_array()).into_iter().flatten() {
            if let Some(p) = v.pointer("/host/sourcePath").and_then(|p| p.as_str()).filter(|p| !p.is_empty()) {
                what.push(format!("host path {p}"));
            }
        }
        if what.is_empty() {
            continue;
        }
        let family = get("family");
        let summary = format!("{} registered task definition {family} with {}", e.caller_arn(), what.join(", "));
        out.push(finding(rules, ID, None, e, summary));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use serde_json::json;

    fn register(rp: serde_json::Value) -> Event {
        event(
            "RegisterTaskDefinition",
            "2026-11-29T10:00:00Z",
            json!({"eventSource": "ecs.amazonaws.com",
                   "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory"},
                   "requestParameters": rp}),
        )
    }

    #[test]
    fn privileged_host_pid_and_a_host_path_are_said() {
        let e = register(json!({"family": "debug", "pidMode": "host", "networkMode": "bridge",
            "containerDefinitions": [{"name": "tools", "image": "alpine", "privileged": true}],
            "volumes": [{"name": "root", "host": {"sourcePath": "/"}}]}));
        let f = find(&[e], &Rules::builtin());
        assert_eq!(f.len(), 1);
        let s = &f[0].summary;
        assert!(
            s.contains("container tools privileged") && s.contains("PID namespace") && s.contains("host path /"),
            "{s}"
        );
    }

    #[test]
    fn an_ordinary_definition_is_not() {
        let e = register(json!({"family": "web", "networkMode": "awsvpc",
            "containerDefinitions": [{"name": "app", "image": "nginx", "privileged": false}],
            "volumes": [{"name": "scratch"}]}));
        assert!(find(&[e], &Rules::builtin()).is_empty());
    }
}
