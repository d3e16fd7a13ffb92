//! The ECS identity, from a stand-in for the task metadata endpoint v4 on 127.0.0.1 serving the
//! AWS documentation samples.

use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/aws/");

/// Serves GET /v4/abc (container) and /v4/abc/task until `n` requests were answered.
fn serve(container: Vec<u8>, task: Vec<u8>, n: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut paths = Vec::new();
        for c in l.incoming().take(n) {
            let mut c = c.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let len = c.read(&mut buf).unwrap();
                if len == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..len]);
            }
            let req = String::from_utf8_lossy(&req).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
            let body = match path.as_str() {
                "/v4/abc" => &container,
                "/v4/abc/task" => &task,
                _ => &Vec::new(),
            };
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(body);
            paths.push(path);
        }
        paths
    });
    (port, h)
}

#[test]
fn identity_from_the_metadata_endpoint() {
    let (Ok(c), Ok(t)) = (
        std::fs::read(format!("{REF}metadata-v4-container-fargate.json")),
        std::fs::read(format!("{REF}metadata-v4-task-fargate.json")),
    ) else {
        panic!("fixtures/aws/ in the repository");
    };
    let (port, server) = serve(c.clone(), t.clone(), 2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ecs.tar");
    let o = run(Command::new(curtain())
        .env("ECS_CONTAINER_METADATA_URI_V4", format!("http://127.0.0.1:{port}/v4/abc"))
        .args(["collect", "-o"])
        .arg(&out));
    assert!(o.status.success());
    assert_eq!(server.join().unwrap(), ["/v4/abc", "/v4/abc/task"]);
    let a = Archive::load(&out);
    let ecs = a.manifest.ecs.as_ref().expect("ecs identity in the manifest");
    assert_eq!(ecs.cluster.as_deref(), Some("arn:aws:ecs:us-west-2:111122223333:cluster/default"));
    assert_eq!(
        ecs.task_arn.as_deref(),
        Some("arn:aws:ecs:us-west-2:111122223333:task/default/e9028f8d5d8e4f258373e7b93ce9a3c3")
    );
    assert_eq!((ecs.family.as_deref(), ecs.revision.as_deref()), (Some("curltest"), Some("3")));
    assert_eq!(ecs.container_name.as_deref(), Some("curl"));
    assert_eq!(ecs.docker_id.as_deref(), Some("cd189a933e5849daa93386466019ab50-2495160603"));
    assert_eq!(ecs.image.as_deref(), Some("111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest"));
    assert!(ecs.image_digest.as_deref().unwrap().starts_with("sha256:25f3695b"));
    assert_eq!(ecs.ipv4_addresses, ["192.0.2.3"]);
    assert_eq!(ecs.availability_zone.as_deref(), Some("us-west-2a"));
    // The raw JSON is kept as evidence, byte for byte.
    assert_eq!(a.members["raw/ecs/container.json"], c);
    assert_eq!(a.members["raw/ecs/task.json"], t);
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(
        summary.contains("ECS task arn:aws:ecs:us-west-2:111122223333:task/default/e9028f8d5d8e4f258373e7b93ce9a3c3"),
        "{summary}"
    );
}

#[test]
fn an_endpoint_that_does_not_answer_is_an_error_row_not_a_failure() {
    // A port that was just free: connection refused at once.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("noecs.tar");
    let started = std::time::Instant::now();
    let o = run(Command::new(curtain())
        .env("ECS_CONTAINER_METADATA_URI_V4", format!("http://127.0.0.1:{port}/v4/x"))
        .args(["collect", "-q", "-o"])
        .arg(&out));
    assert!(o.status.success());
    assert!(started.elapsed().as_secs() < 20);
    let a = Archive::load(&out);
    assert!(a.manifest.ecs.is_none());
    let paths: Vec<_> = a.errors.iter().filter(|e| e.path.starts_with("ecs/")).map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["ecs/container", "ecs/task"]);
}
