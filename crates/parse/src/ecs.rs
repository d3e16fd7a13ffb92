//! The ECS task metadata endpoint v4 (`$ECS_CONTAINER_METADATA_URI_V4` and `/task`): the
//! container's and its task's identity, from the JSON the agent serves.

use curtain_model::{EcsContainer, EcsIdentity};
use serde_json::Value;

fn s(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn ipv4s(c: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for net in c.get("Networks").and_then(Value::as_array).into_iter().flatten() {
        for ip in net.get("IPv4Addresses").and_then(Value::as_array).into_iter().flatten() {
            if let Some(ip) = ip.as_str() {
                if !out.iter().any(|o| o == ip) {
                    out.push(ip.to_string());
                }
            }
        }
    }
    out
}

fn container(c: &Value) -> EcsContainer {
    EcsContainer {
        name: s(c, "Name"),
        docker_id: s(c, "DockerId"),
        image: s(c, "Image"),
        image_digest: s(c, "ImageID"),
        ipv4_addresses: ipv4s(c),
    }
}

/// Identity from the container document (`GET $URI`) and the task document (`GET $URI/task`);
/// either may be missing or malformed. `None` when neither says anything.
pub fn parse_metadata(container_doc: Option<&[u8]>, task_doc: Option<&[u8]>) -> Option<EcsIdentity> {
    let c: Option<Value> = container_doc.and_then(|b| serde_json::from_slice(b).ok()).filter(Value::is_object);
    let t: Option<Value> = task_doc.and_then(|b| serde_json::from_slice(b).ok()).filter(Value::is_object);
    if c.is_none() && t.is_none() {
        return None;
    }
    let null = Value::Null;
    let cv = c.as_ref().unwrap_or(&null);
    let tv = t.as_ref().unwrap_or(&null);
    let label = |k: &str| cv.get("Labels").and_then(|l| s(l, k));
    let me = container(cv);
    let containers: Vec<EcsContainer> =
        tv.get("Containers").and_then(Value::as_array).into_iter().flatten().map(container).collect();
    // The task document names the task's address when the container document has none (bridge
    // mode on EC2 lists no networks per container).
    let mut ipv4_addresses = me.ipv4_addresses.clone();
    if ipv4_addresses.is_empty() {
        if let Some(mine) = containers.iter().find(|x| x.docker_id.is_some() && x.docker_id == me.docker_id) {
            ipv4_addresses = mine.ipv4_addresses.clone();
        }
    }
    Some(EcsIdentity {
        cluster: s(tv, "Cluster").or_else(|| label("com.amazonaws.ecs.cluster")),
        task_arn: s(tv, "TaskARN").or_else(|| label("com.amazonaws.ecs.task-arn")),
        family: s(tv, "Family").or_else(|| label("com.amazonaws.ecs.task-definition-family")),
        revision: s(tv, "Revision").or_else(|| label("com.amazonaws.ecs.task-definition-version")),
        container_name: me.name.clone(),
        docker_id: me.docker_id.clone(),
        image: me.image.clone(),
        image_digest: me.image_digest.clone(),
        ipv4_addresses,
        availability_zone: s(tv, "AvailabilityZone"),
        launch_type: s(tv, "LaunchType"),
        containers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/aws/");

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(format!("{REF}{name}")).expect("fixtures/aws/ in the repository")
    }

    #[test]
    fn fargate_documentation_sample() {
        let (c, t) = (sample("metadata-v4-container-fargate.json"), sample("metadata-v4-task-fargate.json"));
        let id = parse_metadata(Some(&c), Some(&t)).unwrap();
        assert_eq!(id.cluster.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:cluster/default"));
        assert_eq!(
            id.task_arn.as_deref(),
            Some("arn:aws:ecs:us-west-2:111122223333:task/default/e9028f8d5d8e4f258373e7b93ce9a3c3")
        );
        assert_eq!(id.family.as_deref(), Some("curltest"));
        assert_eq!(id.revision.as_deref(), Some("3"));
        assert_eq!(id.container_name.as_deref(), Some("curl"));
        assert_eq!(
            id.image_digest.as_deref(),
            Some("sha256:25f3695bedfb454a50f12d127839a68ad3caf91e451c1da073db34c542c4d2cb")
        );
        assert_eq!(id.ipv4_addresses, vec!["192.0.2.3"]);
        assert_eq!(id.availability_zone.as_deref(), Some("us-west-2a"));
        assert!(!id.containers.is_empty());
    }

    #[test]
    fn ec2_sample_names_launch_type() {
        let (c, t) = (sample("metadata-v4-container-ec2.json"), sample("metadata-v4-task-ec2.json"));
        let id = parse_metadata(Some(&c), Some(&t)).unwrap();
        assert_eq!(id.launch_type.as_deref(), Some("EC2"));
        assert_eq!(id.cluster.as_deref(), Some("default"));
    }

    #[test]
    fn labels_alone_and_garbage() {
        let c = br#"{"Name":"app","DockerId":"abc","Labels":{"com.amazonaws.ecs.cluster":"c1","com.amazonaws.ecs.task-arn":"arn:t"}}"#;
        let id = parse_metadata(Some(c), Some(b"<html>")).unwrap();
        assert_eq!((id.cluster.as_deref(), id.task_arn.as_deref()), (Some("c1"), Some("arn:t")));
        assert_eq!(parse_metadata(Some(b"[1]"), Some(b"\xff")), None);
        assert_eq!(parse_metadata(None, None), None);
    }
}
