//! History from before the first sync: EventBridge "ECS Task State Change" events and CloudTrail
//! records, turned into the register's facts. Pure: bytes in, facts out; a record that does not
//! parse is counted, never fatal.

use curtain_model::parse_rfc3339_ns;
use curtain_model::register::{
    AddressAssociation, AttachmentFact, ContainerFact, EniFact, InstanceFact, IpFact, LambdaConfigFact, Provenance,
    SourceKind, TaskFact,
};
use serde_json::Value;

/// What a batch of input gave.
#[derive(Debug, Default)]
pub struct Ingested {
    pub tasks: Vec<TaskFact>,
    pub enis: Vec<EniFact>,
    /// EC2 instances terminated (TerminateInstances): (instance id, when, the record).
    pub ended_instances: Vec<(String, u64, Provenance)>,
    /// EC2 instances launched (RunInstances): name, type, launch time, `pending` then.
    pub instances: Vec<InstanceFact>,
    /// Elastic IPs associated with an interface or an instance (AssociateAddress).
    pub associations: Vec<AddressAssociation>,
    /// Associations ended (DisassociateAddress): (association id, when, the record).
    pub disassociations: Vec<(String, u64, Provenance)>,
    /// Lambda functions' VPC configurations set (CreateFunction, UpdateFunctionConfiguration)
    /// or ended (DeleteFunction).
    pub lambda_configs: Vec<LambdaConfigFact>,
    /// Records read that were not about ECS tasks or their network interfaces.
    pub skipped: usize,
    /// Input that was not JSON or not in the expected shape, with where it was.
    pub errors: Vec<String>,
}

fn s(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A time as ECS and CloudTrail write them: RFC 3339, or epoch seconds (with a fraction).
pub fn time_ns(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(t) => parse_rfc3339_ns(t).or_else(|| epoch(t.parse().ok()?)),
        Value::Number(n) => epoch(n.as_f64()?),
        _ => None,
    }
}

/// Epoch seconds to nanoseconds; a time outside 1970 to 2262 ([`curtain_model::MAX_TIME_NS`])
/// is refused, never saturated to a plausible-looking one.
fn epoch(secs: f64) -> Option<u64> {
    let ns = secs * 1e9;
    (ns.is_finite() && ns > 0.0 && ns <= curtain_model::MAX_TIME_NS as f64).then_some(ns as u64)
}

/// `account` and `region` of an ARN (`arn:aws:ecs:REGION:ACCOUNT:...`).
pub fn arn_parts(arn: &str) -> Option<(String, String)> {
    let mut p = arn.split(':');
    let (_, _, _, region, account) = (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
    Some((account.to_string(), region.to_string()))
}

/// What in a CreateNetworkInterface record says ECS itself made the interface: fields AWS
/// writes and a caller cannot set (`invokedBy` and `sourceIPAddress` of a service's call, the
/// ECS service-linked role that only ECS can assume), or EC2's own `requesterManaged`. A
/// description naming an ECS attachment is not enough: any caller may write one.
pub fn made_by_ecs(rec: &Value, ni: &Value) -> Option<String> {
    const ECS: &str = "ecs.amazonaws.com";
    let by_ecs = rec.pointer("/userIdentity/invokedBy").and_then(Value::as_str) == Some(ECS)
        || rec.get("sourceIPAddress").and_then(Value::as_str) == Some(ECS)
        || rec.pointer("/userIdentity/sessionContext/sessionIssuer/userName").and_then(Value::as_str)
            == Some("AWSServiceRoleForECS");
    if by_ecs {
        return Some(format!("cloudtrail:{ECS}"));
    }
    (ni.get("requesterManaged").and_then(Value::as_bool) == Some(true)).then(|| "requester-managed".to_string())
}

/// The attachment id in an ECS-made ENI's description `arn:aws:ecs:REGION:ACCOUNT:attachment/UUID`.
pub fn attachment_of_description(d: &str) -> Option<String> {
    let rest = d.strip_prefix("arn:aws:ecs:").or_else(|| d.strip_prefix("arn:aws-us-gov:ecs:"))?;
    let id = rest.split_once(":attachment/")?.1;
    (!id.is_empty()).then(|| id.to_string())
}

fn ip(kind: &str, ip: String) -> IpFact {
    IpFact { ip, kind: kind.to_string() }
}

/// Attachments as ECS writes them in a task (API and events: `type` is `ElasticNetworkInterface`
/// in the API, `eni` in events).
fn attachments(v: Option<&Value>) -> Vec<AttachmentFact> {
    let mut out = Vec::new();
    for a in v.and_then(Value::as_array).into_iter().flatten() {
        let ty = s(a, "type").unwrap_or_default();
        if ty != "eni" && ty != "ElasticNetworkInterface" {
            continue;
        }
        let mut f = AttachmentFact { id: s(a, "id").unwrap_or_default(), status: s(a, "status"), ..Default::default() };
        for d in a.get("details").and_then(Value::as_array).into_iter().flatten() {
            let (Some(name), Some(value)) = (s(d, "name"), s(d, "value")) else { continue };
            match name.as_str() {
                "networkInterfaceId" => f.eni_id = Some(value),
                "privateIPv4Address" => f.ips.push(ip("private", value)),
                "privateIPv6Address" | "ipv6Address" => f.ips.push(ip("ipv6", value)),
                _ => {}
            }
        }
        if !f.id.is_empty() {
            out.push(f);
        }
    }
    out
}

fn containers(v: Option<&Value>) -> Vec<ContainerFact> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some(ContainerFact {
                name: s(c, "name")?,
                image: s(c, "image"),
                image_digest: s(c, "imageDigest"),
                runtime_id: s(c, "runtimeId"),
                last_status: s(c, "lastStatus"),
            })
        })
        .collect()
}

/// A task known only by its arn: account and region given, or else read from the arn.
pub fn bare_task(task_arn: String, account: Option<&str>, region: Option<&str>, source: Provenance) -> TaskFact {
    let (arn_account, arn_region) = arn_parts(&task_arn).unwrap_or_default();
    TaskFact {
        account_id: account.map(str::to_string).unwrap_or(arn_account),
        region: region.map(str::to_string).unwrap_or(arn_region),
        cluster_arn: None,
        group: None,
        task_definition_arn: None,
        launch_type: None,
        availability_zone: None,
        last_status: None,
        created_at: None,
        started_at: None,
        stopped_at: None,
        container_instance_arn: None,
        containers: Vec::new(),
        attachments: Vec::new(),
        task_arn,
        source,
    }
}

/// A task as the ECS API (and RunTask's response, and the event's detail) describe it.
pub fn task_fact(t: &Value, account: Option<&str>, region: Option<&str>, source: Provenance) -> Option<TaskFact> {
    Some(TaskFact {
        cluster_arn: s(t, "clusterArn"),
        group: s(t, "group"),
        task_definition_arn: s(t, "taskDefinitionArn"),
        launch_type: s(t, "launchType"),
        availability_zone: s(t, "availabilityZone"),
        last_status: s(t, "lastStatus"),
        created_at: time_ns(t.get("createdAt")),
        started_at: time_ns(t.get("startedAt")),
        stopped_at: time_ns(t.get("stoppedAt")),
        container_instance_arn: s(t, "containerInstanceArn"),
        containers: containers(t.get("containers")),
        attachments: attachments(t.get("attachments")),
        ..bare_task(s(t, "taskArn")?, account, region, source)
    })
}

/// The CloudTrail records of an input, in any of the forms [`cloudtrail`] reads; what could not be
/// read goes to `errors`.
pub fn cloudtrail_records(input: &[u8], errors: &mut Vec<String>) -> Vec<Value> {
    documents(input, errors)
}

/// The JSON documents of an input: one object, an array, JSON lines, a CloudWatch Logs export
/// (`TIMESTAMP {json}` per line) or a `{"events": [{"message": "{json}"}]}` dump.
fn documents(input: &[u8], errors: &mut Vec<String>) -> Vec<Value> {
    let mut out = Vec::new();
    let text = String::from_utf8_lossy(input);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return out;
    }
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        unwrap_documents(v, &mut out);
        return out;
    }
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let json = match line.find('{') {
            Some(i) => &line[i..],
            None => {
                errors.push(format!("line {}: no JSON", n + 1));
                continue;
            }
        };
        match serde_json::from_str::<Value>(json) {
            Ok(v) => unwrap_documents(v, &mut out),
            Err(e) => errors.push(format!("line {}: {e}", n + 1)),
        }
    }
    out
}

fn unwrap_documents(v: Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.into_iter().for_each(|i| unwrap_documents(i, out)),
        Value::Object(ref m) if m.contains_key("Records") => {
            if let Some(Value::Array(items)) = m.get("Records") {
                out.extend(items.iter().cloned());
            }
        }
        Value::Object(ref m) if m.get("events").is_some_and(Value::is_array) => {
            for e in m["events"].as_array().into_iter().flatten() {
                match e.get("message") {
                    Some(Value::String(msg)) => {
                        if let Ok(inner) = serde_json::from_str::<Value>(msg) {
                            unwrap_documents(inner, out);
                        }
                    }
                    _ => out.push(e.clone()),
                }
            }
        }
        Value::Object(_) => out.push(v),
        _ => {}
    }
}

/// EventBridge "ECS Task State Change" events.
pub fn events(input: &[u8]) -> Ingested {
    let mut r = Ingested::default();
    for ev in documents(input, &mut r.errors) {
        if ev.get("detail-type").and_then(Value::as_str) != Some("ECS Task State Change") {
            r.skipped += 1;
            continue;
        }
        let Some(detail) = ev.get("detail") else {
            r.errors.push("event without detail".into());
            continue;
        };
        let Some(at) = time_ns(ev.get("time")) else {
            r.errors.push(format!("event {}: no time between 1970 and 2262", s(&ev, "id").unwrap_or_default()));
            continue;
        };
        let source = Provenance { kind: SourceKind::EventBridge, id: s(&ev, "id").unwrap_or_default(), at_ns: at };
        match task_fact(detail, s(&ev, "account").as_deref(), s(&ev, "region").as_deref(), source) {
            Some(t) => r.tasks.push(t),
            None => r.errors.push(format!("event {} without taskArn", s(&ev, "id").unwrap_or_default())),
        }
    }
    r
}

/// CloudTrail records: ECS RunTask and StopTask, and the EC2 Create/DeleteNetworkInterface calls
/// ECS makes for awsvpc tasks (joined to the task later through the attachment id); EC2's
/// Create/DeleteNetworkInterface by anyone, RunInstances and TerminateInstances, and the Elastic
/// IPs' AllocateAddress, ReleaseAddress, AssociateAddress and DisassociateAddress.
pub fn cloudtrail(input: &[u8]) -> Ingested {
    let mut r = Ingested::default();
    for rec in documents(input, &mut r.errors) {
        let mut name = s(&rec, "eventName").unwrap_or_default();
        if rec.get("eventSource").and_then(Value::as_str) == Some("lambda.amazonaws.com") {
            // Lambda's names carry its API version (`CreateFunction20150331`,
            // `UpdateFunctionConfiguration20150331v2`); kept apart from other services' names.
            let bare = name.find(|c: char| c.is_ascii_digit()).map_or(name.as_str(), |i| &name[..i]);
            name = format!("lambda:{bare}");
        }
        if rec.get("errorCode").is_some() {
            r.skipped += 1; // a call that failed changed nothing
            continue;
        }
        let Some(at) = time_ns(rec.get("eventTime")) else {
            r.errors
                .push(format!("record {}: no eventTime between 1970 and 2262", s(&rec, "eventID").unwrap_or_default()));
            continue;
        };
        let source = Provenance { kind: SourceKind::CloudTrail, id: s(&rec, "eventID").unwrap_or_default(), at_ns: at };
        let account = s(&rec, "recipientAccountId");
        let region = s(&rec, "awsRegion");
        let resp = rec.get("responseElements").unwrap_or(&Value::Null);
        let req = rec.get("requestParameters").unwrap_or(&Value::Null);
        match name.as_str() {
            "RunTask" | "StartTask" => {
                for t in resp.get("tasks").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(mut f) = task_fact(t, account.as_deref(), region.as_deref(), source.clone()) {
                        f.created_at = f.created_at.or(Some(at));
                        r.tasks.push(f);
                    }
                }
            }
            "StopTask" => {
                let t = resp.get("task").unwrap_or(&Value::Null);
                let arn = s(t, "taskArn").or_else(|| s(req, "task").filter(|a| a.starts_with("arn:")));
                match arn {
                    Some(task_arn) => {
                        let mut f = bare_task(task_arn, account.as_deref(), region.as_deref(), source);
                        f.cluster_arn = s(t, "clusterArn");
                        f.last_status = Some("STOPPED".into());
                        f.stopped_at = time_ns(t.get("stoppedAt")).or(Some(at));
                        r.tasks.push(f);
                    }
                    None => r.skipped += 1,
                }
            }
            "CreateNetworkInterface" => {
                let ni = resp.get("networkInterface").unwrap_or(&Value::Null);
                let Some(eni_id) = s(ni, "networkInterfaceId") else {
                    r.skipped += 1;
                    continue;
                };
                let description = s(req, "description").or_else(|| s(ni, "description"));
                let mut ips: Vec<IpFact> = Vec::new();
                if let Some(p) = s(ni, "privateIpAddress") {
                    ips.push(ip("private", p));
                }
                for item in ni.pointer("/privateIpAddressesSet/item").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(p) = s(item, "privateIpAddress") {
                        if !ips.iter().any(|x| x.ip == p) {
                            ips.push(ip("private", p));
                        }
                    }
                }
                for item in ni.pointer("/ipv6AddressesSet/item").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(p) = s(item, "ipv6Address") {
                        ips.push(ip("ipv6", p));
                    }
                }
                if let Some(p) = ni.pointer("/association/publicIp").and_then(Value::as_str) {
                    ips.push(ip("public", p.to_string()));
                }
                r.enis.push(EniFact {
                    attachment_id: description.as_deref().and_then(attachment_of_description),
                    ecs_proof: made_by_ecs(&rec, ni),
                    ips,
                    created_at: Some(at),
                    description,
                    interface_type: s(ni, "interfaceType"),
                    requester_id: s(ni, "requesterId"),
                    instance_id: ni.pointer("/attachment/instanceId").and_then(Value::as_str).map(str::to_string),
                    subnet_id: s(ni, "subnetId").or_else(|| s(req, "subnetId")),
                    security_groups: group_ids(ni).or_else(|| group_ids(req)).unwrap_or_default(),
                    ..bare_eni(eni_id, &account, &region, source)
                });
            }
            "RunInstances" => {
                // Each instance's interfaces as launched: their addresses are the instance's from now.
                for item in resp.pointer("/instancesSet/items").and_then(Value::as_array).into_iter().flatten() {
                    let instance = s(item, "instanceId");
                    if let Some(id) = &instance {
                        // The Name tag as the launch asked for it (`tagSpecificationSet`).
                        let tags = req.pointer("/tagSpecificationSet/items").and_then(Value::as_array);
                        let name = tags
                            .into_iter()
                            .flatten()
                            .filter(|t| t["resourceType"] == "instance")
                            .flat_map(|t| t.pointer("/tags").and_then(Value::as_array).into_iter().flatten())
                            .find(|t| t["key"] == "Name")
                            .and_then(|t| s(t, "value"));
                        r.instances.push(InstanceFact {
                            instance_id: id.clone(),
                            account_id: account.clone().unwrap_or_default(),
                            region: region.clone().unwrap_or_default(),
                            name,
                            state: item.pointer("/instanceState/name").and_then(Value::as_str).map(str::to_string),
                            instance_type: s(item, "instanceType"),
                            // Epoch milliseconds in CloudTrail's record.
                            launched_at: item["launchTime"]
                                .as_u64()
                                .and_then(|ms| ms.checked_mul(1_000_000))
                                .filter(|&ns| ns <= curtain_model::MAX_TIME_NS)
                                .or(Some(at)),
                            source: source.clone(),
                        });
                    }
                    for ni in item.pointer("/networkInterfaceSet/items").and_then(Value::as_array).into_iter().flatten()
                    {
                        let Some(eni_id) = s(ni, "networkInterfaceId") else { continue };
                        let mut ips: Vec<IpFact> = Vec::new();
                        for item in
                            ni.pointer("/privateIpAddressesSet/item").and_then(Value::as_array).into_iter().flatten()
                        {
                            if let Some(p) = s(item, "privateIpAddress") {
                                ips.push(ip("private", p));
                            }
                        }
                        if let Some(p) = s(ni, "privateIpAddress").filter(|p| !ips.iter().any(|x| x.ip == *p)) {
                            ips.push(ip("private", p));
                        }
                        r.enis.push(EniFact {
                            ips,
                            created_at: Some(at),
                            description: s(ni, "description"),
                            interface_type: s(ni, "interfaceType"),
                            instance_id: instance.clone(),
                            subnet_id: s(ni, "subnetId"),
                            security_groups: group_ids(ni).unwrap_or_default(),
                            ..bare_eni(eni_id, &account, &region, source.clone())
                        });
                    }
                }
            }
            "TerminateInstances" => {
                for item in resp.pointer("/instancesSet/items").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(i) = s(item, "instanceId") {
                        r.ended_instances.push((i, at, source.clone()));
                    }
                }
            }
            "AllocateAddress" | "ReleaseAddress" => {
                // An Elastic IP, kept as the register keeps an idle one (its allocation id as the
                // interface): allocated with its address, released by its allocation id.
                let allocated = name == "AllocateAddress";
                let id = if allocated { s(resp, "allocationId") } else { s(req, "allocationId") };
                match id {
                    Some(id) => r.enis.push(EniFact {
                        ips: s(resp, "publicIp").filter(|_| allocated).map(|p| ip("public", p)).into_iter().collect(),
                        created_at: allocated.then_some(at),
                        deleted_at: (!allocated).then_some(at),
                        description: Some(format!("Elastic IP {id}")),
                        interface_type: Some("elastic-ip".into()),
                        ..bare_eni(id, &account, &region, source)
                    }),
                    None => r.skipped += 1,
                }
            }
            "AssociateAddress" => r.associations.push(AddressAssociation {
                association_id: s(resp, "associationId"),
                allocation_id: s(req, "allocationId"),
                public_ip: s(req, "publicIp"),
                eni_id: s(req, "networkInterfaceId"),
                instance_id: s(req, "instanceId"),
                account_id: account.clone().unwrap_or_default(),
                region: region.clone().unwrap_or_default(),
                source,
            }),
            "DisassociateAddress" => match s(req, "associationId") {
                Some(id) => r.disassociations.push((id, at, source)),
                None => r.skipped += 1,
            },
            "lambda:CreateFunction" | "lambda:UpdateFunctionConfiguration" | "lambda:DeleteFunction" => {
                let deleted = name == "lambda:DeleteFunction";
                // The configuration as the response gives it whole; else as the request set it.
                // An update that names no VPC configuration leaves it as it was.
                let vpc = resp.get("vpcConfig").or_else(|| req.get("vpcConfig")).filter(|v| v.is_object());
                let function = s(resp, "functionName").or_else(|| s(req, "functionName"));
                match function {
                    Some(f) if deleted || vpc.is_some() || name == "lambda:CreateFunction" => {
                        let ids = |key: &str| -> Vec<String> {
                            let list = vpc.and_then(|v| v.get(key)).and_then(Value::as_array);
                            list.into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
                        };
                        let function_arn =
                            s(resp, "functionArn").or_else(|| Some(f.clone()).filter(|f| f.starts_with("arn:")));
                        r.lambda_configs.push(LambdaConfigFact {
                            function_name: LambdaConfigFact::name_of(&f).to_string(),
                            function_arn,
                            account_id: account.clone().unwrap_or_default(),
                            region: region.clone().unwrap_or_default(),
                            subnets: if deleted { Vec::new() } else { ids("subnetIds") },
                            security_groups: if deleted { Vec::new() } else { ids("securityGroupIds") },
                            deleted,
                            source,
                        });
                    }
                    _ => r.skipped += 1,
                }
            }
            "DeleteNetworkInterface" => match s(req, "networkInterfaceId") {
                Some(eni_id) => {
                    r.enis.push(EniFact { deleted_at: Some(at), ..bare_eni(eni_id, &account, &region, source) })
                }
                None => r.skipped += 1,
            },
            _ => r.skipped += 1,
        }
    }
    r
}

/// The security groups of an EC2 record's `groupSet` (`{"items": [{"groupId": ...}]}`), or none
/// when it has no such set.
fn group_ids(v: &Value) -> Option<Vec<String>> {
    let items = v.pointer("/groupSet/items").and_then(Value::as_array)?;
    Some(items.iter().filter_map(|g| s(g, "groupId")).collect())
}

/// An interface the record names, in the record's account and region.
fn bare_eni(eni_id: String, account: &Option<String>, region: &Option<String>, source: Provenance) -> EniFact {
    EniFact::bare(eni_id, account.clone().unwrap_or_default(), region.clone().unwrap_or_default(), source)
}

/// Reads a file of events or CloudTrail records, gunzipping `.gz` (told by its magic number).
/// The default of [`read_input`]'s limit: a CloudTrail file is a few MB, a CloudWatch Logs export
/// part tens; a gzip bomb of gigabytes stops here, in well under a second.
pub const DEFAULT_MAX_INPUT: u64 = 256 << 20;

/// A file's bytes, gunzipped when they are gzip, streamed and refused past `max` bytes once
/// decompressed (the error names the limit and `--max-input`, the flag that raises it).
pub fn read_input(path: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{BufRead, Read};
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    let gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let mut out = Vec::new();
    if gzip {
        flate2::bufread::MultiGzDecoder::new(file).take(max.saturating_add(1)).read_to_end(&mut out)?;
    } else {
        file.take(max.saturating_add(1)).read_to_end(&mut out)?;
    }
    if out.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "more than {max} bytes{} (the input limit; --max-input raises it)",
                if gzip { " once decompressed" } else { "" }
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/aws/");

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(format!("{REF}{name}")).expect("fixtures/aws/ in the repository")
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        use std::io::Write;
        // 4 GiB of zeros: one gzip member of 16 MiB, 256 times (gzip readers join members).
        let dir = std::env::temp_dir().join(format!("curtain-bomb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bomb.json.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 16 << 20]).unwrap();
        let member = gz.finish().unwrap();
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for _ in 0..256 {
            f.write_all(&member).unwrap();
        }
        f.flush().unwrap();
        drop(f);
        let started = std::time::Instant::now();
        let e = read_input(&path, DEFAULT_MAX_INPUT).unwrap_err();
        assert!(e.to_string().contains("--max-input"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
        // Under the limit, gzip or not: read whole.
        let small = dir.join("small.json.gz");
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&small).unwrap(), flate2::Compression::fast());
        gz.write_all(br#"{"Records":[]}"#).unwrap();
        gz.finish().unwrap();
        assert_eq!(read_input(&small, 14).unwrap(), br#"{"Records":[]}"#);
        assert!(read_input(&small, 13).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_without_a_usable_time_are_errors_not_1970() {
        let r = cloudtrail(br#"{"Records":[{"eventName":"RunTask","eventID":"e1","eventTime":"2600-01-01T00:00:00Z","responseElements":{"tasks":[{"taskArn":"arn:aws:ecs:us-east-1:111122223333:task/c/abc"}]}}]}"#);
        assert!(r.tasks.is_empty());
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert!(r.errors[0].contains("e1"));
    }

    #[test]
    fn only_ecs_itself_vouches_for_an_ecs_interface() {
        let record = |identity: serde_json::Value, source_ip: &str, requester_managed: bool| {
            serde_json::json!({
                "eventTime": "2026-02-01T09:00:05Z", "eventName": "CreateNetworkInterface", "eventID": "c1",
                "awsRegion": "us-west-2", "recipientAccountId": "111122223333",
                "userIdentity": identity, "sourceIPAddress": source_ip,
                "requestParameters": {"description": "arn:aws:ecs:us-west-2:111122223333:attachment/att-1"},
                "responseElements": {"networkInterface": {"networkInterfaceId": "eni-1", "privateIpAddress": "10.0.9.1",
                    "requesterManaged": requester_managed}}
            })
        };
        let proof = |rec: serde_json::Value| {
            let r = cloudtrail(serde_json::json!({ "Records": [rec] }).to_string().as_bytes());
            assert_eq!(r.enis[0].attachment_id.as_deref(), Some("att-1"));
            r.enis[0].ecs_proof.clone()
        };
        // A user (or a stolen key) writing ECS's description: no proof.
        let user = serde_json::json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory"});
        assert_eq!(proof(record(user.clone(), "203.0.113.9", false)), None);
        // ... even naming ECS in a field the caller controls (its user agent, its session name).
        let mut rec = record(user, "203.0.113.9", false);
        rec["userAgent"] = "ecs.amazonaws.com".into();
        assert_eq!(proof(rec), None);
        let role = serde_json::json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/app/ecs.amazonaws.com"});
        assert_eq!(proof(record(role, "203.0.113.9", false)), None);
        // ECS's own call.
        let ecs = serde_json::json!({"type": "AssumedRole", "invokedBy": "ecs.amazonaws.com",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "AWSServiceRoleForECS"}}});
        assert_eq!(proof(record(ecs, "ecs.amazonaws.com", true)).as_deref(), Some("cloudtrail:ecs.amazonaws.com"));
    }

    #[test]
    fn times_outside_the_range_are_refused_never_wrapped() {
        use serde_json::json;
        assert_eq!(time_ns(Some(&json!("2021-03-01T10:00:00Z"))), parse_rfc3339_ns("2021-03-01T10:00:00Z"));
        assert_eq!(time_ns(Some(&json!(1_614_592_800.5))), Some(1_614_592_800_500_000_000));
        for t in [
            json!("2600-01-01T00:00:00Z"),
            json!("1969-12-31T23:59:59Z"),
            json!(1e11),
            json!("1e11"),
            json!(-5),
            json!(1e300),
        ] {
            assert_eq!(time_ns(Some(&t)), None, "{t}");
        }
    }

    #[test]
    fn the_documented_task_state_change_event() {
        let r = events(&sample("eventbridge-ecs-task-state-change-running.json"));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let t = &r.tasks[0];
        assert_eq!(
            t.task_arn,
            "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad"
        );
        assert_eq!((t.account_id.as_str(), t.region.as_str()), ("111122223333", "us-west-2"));
        assert_eq!(t.launch_type.as_deref(), Some("FARGATE"));
        assert_eq!(t.group.as_deref(), Some("family:sample-fargate"));
        assert_eq!(t.started_at, parse_rfc3339_ns("2020-01-23T17:57:58.103Z"));
        let a = &t.attachments[0];
        assert_eq!(
            (a.id.as_str(), a.eni_id.as_deref()),
            ("1789bcae-ddfb-4d10-8ebe-8ac87ddba5b8", Some("eni-abcd1234"))
        );
        assert_eq!(a.ips, [IpFact { ip: "10.0.0.139".into(), kind: "private".into() }]);
        assert_eq!(
            t.containers[0].image_digest.as_deref(),
            Some("sha256:74b2c688c700ec95a93e478cdb959737c148df3fbf5ea706abe0318726e885e6")
        );
        assert_eq!(t.source.kind, SourceKind::EventBridge);
        assert_eq!(t.source.id, "3317b2af-7005-947d-b652-f55e762e571a");
    }

    #[test]
    fn event_inputs_in_every_shape() {
        let one = String::from_utf8(sample("eventbridge-ecs-task-state-change-running.json")).unwrap();
        let compact: String = serde_json::to_string(&serde_json::from_str::<Value>(&one).unwrap()).unwrap();
        let jsonl = format!("{compact}\n{compact}\n");
        let cwl = format!("2020-01-23T17:57:58.000Z {compact}\n");
        let dump = serde_json::json!({"events": [{"timestamp": 1, "message": compact}]}).to_string();
        let array = format!("[{compact},{{\"detail-type\":\"EC2 Instance State-change Notification\"}}]");
        assert_eq!(events(jsonl.as_bytes()).tasks.len(), 2);
        assert_eq!(events(cwl.as_bytes()).tasks.len(), 1);
        assert_eq!(events(dump.as_bytes()).tasks.len(), 1);
        let r = events(array.as_bytes());
        assert_eq!((r.tasks.len(), r.skipped), (1, 1));
        let r = events(b"not json\n{broken");
        assert_eq!((r.tasks.len(), r.errors.len()), (0, 2));
    }

    #[test]
    fn eni_created_for_an_attachment() {
        // The documented record's shape, with the description ECS gives the ENIs it makes.
        let mut v: Value =
            serde_json::from_slice(&sample("cloudtrail-createnetworkinterface-shape-from-efs-docs.json")).unwrap();
        v["requestParameters"]["description"] =
            "arn:aws:ecs:us-east-1:111122223333:attachment/ce868693-15ca-4083-91ac-f782f64000c9".into();
        let r = cloudtrail(serde_json::json!({ "Records": [v] }).to_string().as_bytes());
        let e = &r.enis[0];
        assert_eq!(e.eni_id, "eni-0123456789abcdef0");
        assert_eq!(e.attachment_id.as_deref(), Some("ce868693-15ca-4083-91ac-f782f64000c9"));
        assert_eq!(e.ips, [IpFact { ip: "192.0.2.0".into(), kind: "private".into() }]);
        assert_eq!(e.created_at, parse_rfc3339_ns("2019-10-23T22:50:05Z"));
        assert_eq!((e.account_id.as_str(), e.region.as_str()), ("111122223333", "us-east-1"));
        // The EFS original is no ECS attachment.
        let r = cloudtrail(&sample("cloudtrail-createnetworkinterface-shape-from-efs-docs.json"));
        assert_eq!(r.enis[0].attachment_id, None);
        // The subnet and groups as the response gives them (a Lambda interface is known by them).
        assert_eq!(r.enis[0].subnet_id.as_deref(), Some("subnet-12345678"));
        assert_eq!(r.enis[0].security_groups, ["sg-c16d65b6"]);
    }

    /// Lambda's records carry its API version in their names; a name that only begins like one
    /// of them (CreateFunctionUrlConfig) is another call, and an update that says nothing of the
    /// VPC changes nothing.
    #[test]
    fn lambda_configurations_from_cloudtrail() {
        let rec = |name: &str, req: Value, resp: Value| {
            serde_json::json!({"eventTime": "2026-05-01T10:00:00Z", "eventName": name, "eventID": name,
                "eventSource": "lambda.amazonaws.com", "awsRegion": "eu-west-1", "recipientAccountId": "444455556666",
                "requestParameters": req, "responseElements": resp})
        };
        let vpc = serde_json::json!({"subnetIds": ["subnet-b", "subnet-a"], "securityGroupIds": ["sg-1"]});
        let trail = serde_json::json!({"Records": [
            rec("CreateFunction20150331", serde_json::json!({"functionName": "f1", "vpcConfig": vpc}),
                serde_json::json!({"functionName": "f1", "functionArn": "arn:aws:lambda:eu-west-1:444455556666:function:f1", "vpcConfig": vpc})),
            rec("CreateFunctionUrlConfig20211031", serde_json::json!({"functionName": "f1"}), serde_json::json!({"functionUrl": "u"})),
            rec("UpdateFunctionConfiguration20150331v2", serde_json::json!({"functionName": "f1", "memorySize": 512}), Value::Null),
            rec("UpdateFunctionConfiguration20150331v2", serde_json::json!({"functionName": "444455556666:function:f2", "vpcConfig": {"subnetIds": [], "securityGroupIds": []}}), Value::Null),
            rec("DeleteFunction20150331", serde_json::json!({"functionName": "arn:aws:lambda:eu-west-1:444455556666:function:f3"}), Value::Null),
        ]});
        let r = cloudtrail(trail.to_string().as_bytes());
        assert_eq!(r.skipped, 2, "the URL config and the update without a VPC configuration");
        let got: Vec<(&str, Option<&str>, Vec<&str>, bool)> = r
            .lambda_configs
            .iter()
            .map(|c| {
                (
                    c.function_name.as_str(),
                    c.function_arn.as_deref(),
                    c.subnets.iter().map(String::as_str).collect(),
                    c.deleted,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("f1", Some("arn:aws:lambda:eu-west-1:444455556666:function:f1"), vec!["subnet-b", "subnet-a"], false),
                ("f2", None, vec![], false),
                ("f3", Some("arn:aws:lambda:eu-west-1:444455556666:function:f3"), vec![], true),
            ]
        );
        assert_eq!(r.lambda_configs[0].security_groups, ["sg-1"]);
        assert_eq!(r.lambda_configs[0].source.at_ns, parse_rfc3339_ns("2026-05-01T10:00:00Z").unwrap());
    }

    #[test]
    fn run_and_stop_task_records() {
        let run = serde_json::json!({
            "eventTime": "2021-03-01T10:00:00Z", "eventName": "RunTask", "eventID": "e1", "awsRegion": "eu-west-1",
            "recipientAccountId": "444455556666",
            "responseElements": { "tasks": [{
                "taskArn": "arn:aws:ecs:eu-west-1:444455556666:task/prod/0123456789abcdef0123456789abcdef",
                "clusterArn": "arn:aws:ecs:eu-west-1:444455556666:cluster/prod", "group": "service:web",
                "createdAt": "Mar 1, 2021, 10:00:00 AM", "launchType": "FARGATE",
                "attachments": [{"id": "ce868693-15ca-4083-91ac-f782f64000c9", "type": "ElasticNetworkInterface",
                                  "status": "PRECREATED", "details": [{"name": "subnetId", "value": "subnet-1"}]}]}]}
        });
        let stop = serde_json::json!({
            "eventTime": "2021-03-01T11:00:00Z", "eventName": "StopTask", "eventID": "e2", "awsRegion": "eu-west-1",
            "recipientAccountId": "444455556666",
            "requestParameters": {"cluster": "prod", "task": "arn:aws:ecs:eu-west-1:444455556666:task/prod/0123456789abcdef0123456789abcdef"},
            "responseElements": null
        });
        let failed = serde_json::json!({"eventName": "RunTask", "errorCode": "AccessDenied"});
        let r = cloudtrail(serde_json::json!({ "Records": [run, stop, failed] }).to_string().as_bytes());
        assert_eq!((r.tasks.len(), r.skipped), (2, 1));
        // ECS writes createdAt in CloudTrail as text for people: the record's time stands in.
        assert_eq!(r.tasks[0].created_at, parse_rfc3339_ns("2021-03-01T10:00:00Z"));
        assert_eq!(r.tasks[0].attachments[0].eni_id, None);
        assert_eq!(r.tasks[1].stopped_at, parse_rfc3339_ns("2021-03-01T11:00:00Z"));
        assert_eq!(r.tasks[1].last_status.as_deref(), Some("STOPPED"));
    }

    #[test]
    fn gzipped_files_are_read() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("curtain-ingest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.json.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"Records\":[]}").unwrap();
        std::fs::write(&p, gz.finish().unwrap()).unwrap();
        assert_eq!(read_input(&p, DEFAULT_MAX_INPUT).unwrap(), b"{\"Records\":[]}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
