//! How fast rows come out and how much memory it takes: N generated v5 records (plain or gzip)
//! attributed against an address book of T tasks, each row written as JSON to nowhere. Prints
//! records per second and the peak RSS, which should not grow with N.
//!
//! `cargo run --release -p curtain-flows --example bench -- N T gz|plain [read|rows|json]`: `read`
//! only parses, `rows` attributes too, `json` (the default) writes each row as well.

use std::io::{BufWriter, Write};
use std::time::Instant;

use curtain_flows::{AddressBook, FlowRow, Options, RowSink};
use curtain_model::register::{Certainty, Holder};
use curtain_store::HeldInterval;

fn ip(i: u32) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

fn holder(i: u32) -> HeldInterval {
    HeldInterval {
        from_ns: 0,
        to_ns: None,
        holder: Holder {
            ip: ip(i),
            ip_kind: "private".into(),
            account_id: "111122223333".into(),
            region: "us-west-2".into(),
            cluster_arn: Some("arn:aws:ecs:us-west-2:111122223333:cluster/prod".into()),
            service: Some(format!("svc{}", i % 50)),
            task_arn: Some(format!("arn:aws:ecs:us-west-2:111122223333:task/prod/{i:032x}")),
            task_definition_arn: None,
            launch_type: None,
            network_mode: None,
            containers: Vec::new(),
            definition: Vec::new(),
            container_instance_arn: None,
            ec2_instance_id: None,
            eni_id: Some(format!("eni-{i:017x}")),
            attachment_id: None,
            from: None,
            to: None,
            last_seen: None,
            certainty: Certainty::Observed,
            sources: Vec::new(),
            kind: "ecs-task".into(),
            owner: None,
            acquisitions: Vec::new(),
        },
    }
}

struct Json(u64, bool);

impl RowSink for Json {
    fn row(&mut self, row: &FlowRow) -> std::io::Result<()> {
        if self.1 {
            self.0 += curtain_flows::output::row_json(row).len() as u64;
        }
        Ok(())
    }
}

struct Count(u64);

impl curtain_flows::Sink for Count {
    fn record(&mut self, _: &str, _: u64, _: curtain_flows::FlowRecord) {
        self.0 += 1;
    }
    fn problem(&mut self, _: curtain_flows::Problem) {}
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let tasks: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let gz = args.get(3).is_none_or(|a| a == "gz");
    let mode = args.get(4).map_or("json", String::as_str);
    let dir = std::env::temp_dir().join(format!("curtain-flows-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(if gz { "flows.log.gz" } else { "flows.log" });
    {
        let f = std::fs::File::create(&path).unwrap();
        let mut w: Box<dyn Write> = if gz {
            Box::new(flate2::write::GzEncoder::new(BufWriter::new(f), flate2::Compression::fast()))
        } else {
            Box::new(BufWriter::new(f))
        };
        writeln!(w, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path").unwrap();
        for i in 0..n {
            let t = (i as u32).wrapping_mul(2654435761) % tasks;
            let s = 1_795_687_200 + i / 1000;
            writeln!(
                w,
                "5 111122223333 eni-{t:017x} {} 198.51.{}.{} {} 443 6 12 4810 {s} {} ACCEPT OK vpc-1 subnet-1 - 19 IPv4 {} 198.51.{}.{} us-west-2 usw2-az1 - - - - egress 8",
                ip(t), (i >> 8) & 255, i & 255, 32768 + i % 28000, s + 60, ip(t), (i >> 8) & 255, i & 255
            )
            .unwrap();
        }
        w.flush().unwrap();
    }
    let size = std::fs::metadata(&path).unwrap().len();
    let book = AddressBook::from_holders((0..tasks).map(holder).collect());
    let before = peak_rss_kib();
    let t0 = Instant::now();
    let mut out = Json(0, mode == "json");
    let stats = if mode == "read" {
        curtain_flows::read_paths(&[path], &Default::default(), &mut Count(0)).unwrap()
    } else {
        curtain_flows::attribute(&[path], &Options::default(), &book, &[], &mut out, &mut |_| {}).unwrap()
    };
    let secs = t0.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir).unwrap();
    println!(
        "{mode}: {} records ({}, {} MB) against {tasks} tasks: {:.1} s, {:.0} records/s, {} MB of JSON; peak RSS {} MiB (before reading: {} MiB)",
        stats.records,
        if gz { "gzip" } else { "plain" },
        size >> 20,
        secs,
        stats.records as f64 / secs,
        out.0 >> 20,
        peak_rss_kib() >> 10,
        before >> 10
    );
}
