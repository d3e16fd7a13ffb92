//! `ecs-unusual-deployer`: a service deployed (UpdateService to a task definition, or
//! CreateService) by an identity that has not deployed it before in the records read, while
//! another has.

use crate::{finding, Event};
use curtain_analyze::rules::Rules;
use curtain_model::Finding;
use std::collections::{BTreeMap, BTreeSet};

const ID: &str = "ecs-unusual-deployer";

pub(crate) fn find(events: &[Event], rules: &Rules) -> Vec<Finding> {
    // service -> the identities that deployed it so far
    let mut deployers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events {
        let service = match e.name.as_str() {
            "CreateService" => e.s(&["requestParameters", "serviceName"]),
            "UpdateService" if e.s(&["requestParameters", "taskDefinition"]).is_some() => {
                e.s(&["requestParameters", "service"])
            }
            _ => continue,
        };
        let Some(service) = service else { continue };
        let cluster = e.s(&["requestParameters", "cluster"]).unwrap_or("default");
        // A service by its cluster and name (an ARN's last part is its name).
        let key = format!(
            "{}/{}",
            cluster.rsplit('/').next().unwrap_or(cluster),
            service.rsplit('/').next().unwrap_or(service)
        );
        let who = e.caller();
        let seen = deployers.entry(key.clone()).or_default();
        if !seen.is_empty() && !seen.contains(&who) {
            let usual: Vec<&str> = seen.iter().map(String::as_str).collect();
            let def = e.s(&["requestParameters", "taskDefinition"]).unwrap_or("?");
            let summary =
                format!("{who} deployed {def} to service {key}, which only {} deployed before", usual.join(", "));
            out.push(finding(rules, ID, None, e, summary));
        }
        seen.insert(who);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use serde_json::json;

    fn deploy(at: &str, role: &str, session: &str) -> Event {
        event(
            "UpdateService",
            at,
            json!({"eventSource": "ecs.amazonaws.com",
                   "userIdentity": {"type": "AssumedRole", "arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/{session}"),
                                    "sessionContext": {"sessionIssuer": {"arn": format!("arn:aws:iam::111122223333:role/{role}")}}},
                   "requestParameters": {"cluster": "prod", "service": "web", "taskDefinition": format!("web:{}", at.len())}}),
        )
    }

    #[test]
    fn a_new_identity_deploying_a_service_with_a_history_is_a_finding() {
        let ev = [
            deploy("2026-11-01T10:00:00Z", "deploy-pipeline", "build-101"),
            deploy("2026-11-08T10:00:00Z", "deploy-pipeline", "build-102"),
            deploy("2026-11-29T03:12:00Z", "web-task", "3d4e5f60718293a4b5c6d7e8f9012345"),
        ];
        let f = find(&ev, &Rules::builtin());
        assert_eq!(f.len(), 1);
        assert!(
            f[0].summary.contains("role/web-task") && f[0].summary.contains("role/deploy-pipeline"),
            "{}",
            f[0].summary
        );
    }

    #[test]
    fn the_usual_deployer_in_a_new_session_and_a_first_deploy_are_not() {
        let ev = [
            deploy("2026-11-01T10:00:00Z", "deploy-pipeline", "build-101"),
            deploy("2026-11-08T10:00:00Z", "deploy-pipeline", "build-999"),
        ];
        assert!(find(&ev, &Rules::builtin()).is_empty());
    }
}
