//! How fast rows come out and how much memory it takes: N generated v5 records (plain or gzip)
//! attributed against an address book of T tasks, each row written as JSON to nowhere. Prints
//! records per second and the peak RSS, which should not grow with N.
//!
//! `cargo run --release -p curtain-flows --example bench -- N T gz|plain [gen|read|rows|json|parquet] [DIR]`:
//! `gen` only generates (into DIR), `read` only parses, `rows` attributes too, `json` (the default) writes each row as JSON as
//! well, `parquet` writes the rows as Parquet (`--output parquet`) into DIR (or a temporary
//! folder). With DIR the input is kept there (`flows-N.log[.gz]`, generated once and reused), with
//! the same address book as `inventory export --parquet` writes it (`register/intervals/`) and the
//! SQL of `curtain flows athena` for this layout (`athena.sql`): what scripts/bench-flows gives
//! DuckDB, so that both read the same files and join the same intervals.

use std::io::{BufWriter, Write};
use std::time::Instant;

use curtain_flows::{AddressBook, FlowRow, Options, RowSink};
use curtain_model::register::{Certainty, Holder};
use curtain_store::HeldInterval;

/// The version 5 layout the records are written in.
const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";

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

/// Counts the bytes written to it.
struct Counted(u64);

impl Write for Counted {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Rows kept nowhere (`rows`), or written as `flows attribute` writes its JSON lines (`json`).
struct Json(Option<curtain_flows::JsonlWriter<Counted>>);

impl RowSink for Json {
    fn row(&mut self, row: &FlowRow) -> std::io::Result<()> {
        match &mut self.0 {
            Some(w) => w.row(row),
            None => Ok(()),
        }
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
    let keep = args.get(5).map(std::path::PathBuf::from);
    let dir = keep
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("curtain-flows-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("flows-{n}.log{}", if gz { ".gz" } else { "" }));
    if !path.exists() {
        let part = path.with_extension("part");
        let f = std::fs::File::create(&part).unwrap();
        let mut w: Box<dyn Write> = if gz {
            Box::new(flate2::write::GzEncoder::new(BufWriter::new(f), flate2::Compression::fast()))
        } else {
            Box::new(BufWriter::new(f))
        };
        writeln!(w, "{HEADER}").unwrap();
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
        drop(w);
        std::fs::rename(&part, &path).unwrap();
    }
    let size = std::fs::metadata(&path).unwrap().len();
    let holders: Vec<HeldInterval> = (0..tasks).map(holder).collect();
    if keep.is_some() {
        let intervals = dir.join("register").join("intervals");
        if !intervals.exists() {
            std::fs::create_dir_all(&intervals).unwrap();
            let f = std::fs::File::create(intervals.join("intervals.parquet")).unwrap();
            curtain_flows::parquet_out::write_intervals(&holders, BufWriter::new(f)).unwrap().flush().unwrap();
        }
        let layout = curtain_flows::Layout::from_header(HEADER).unwrap();
        let o = curtain_flows::athena::AthenaOptions { layout, ..Default::default() };
        std::fs::write(dir.join("athena.sql"), curtain_flows::athena::script(&o).unwrap()).unwrap();
    }
    if mode == "gen" {
        println!("gen: {n} records in {} ({} MB)", path.display(), std::fs::metadata(&path).unwrap().len() >> 20);
        return;
    }
    let book = AddressBook::from_holders(holders);
    let before = peak_rss_kib();
    let t0 = Instant::now();
    let mut out = Json((mode == "json").then(|| curtain_flows::JsonlWriter::new(Counted(0))));
    let mut written = 0;
    let rows_file = dir.join(format!("curtain-rows-{}.parquet", std::process::id()));
    let stats = if mode == "read" {
        curtain_flows::read_paths(std::slice::from_ref(&path), &Default::default(), &mut Count(0)).unwrap()
    } else if mode == "parquet" {
        let f = BufWriter::new(std::fs::File::create(&rows_file).unwrap());
        let mut w = curtain_flows::ParquetRowWriter::new(f).unwrap();
        let stats =
            curtain_flows::attribute(std::slice::from_ref(&path), &Options::default(), &book, &[], &mut w, &mut |_| {})
                .unwrap();
        w.finish().unwrap().flush().unwrap();
        written = std::fs::metadata(&rows_file).unwrap().len();
        stats
    } else {
        curtain_flows::attribute(std::slice::from_ref(&path), &Options::default(), &book, &[], &mut out, &mut |_| {})
            .unwrap()
    };
    let secs = t0.elapsed().as_secs_f64();
    if let Some(w) = &out.0 {
        written = w.w.0;
    }
    let _ = std::fs::remove_file(&rows_file);
    if keep.is_none() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!(
        "{mode}: {} records ({}, {} MB) against {tasks} tasks: {:.2} s, {:.0} records/s, {} MB written; peak RSS {} MiB (before reading: {} MiB)",
        stats.records,
        if gz { "gzip" } else { "plain" },
        size >> 20,
        secs,
        stats.records as f64 / secs,
        written >> 20,
        peak_rss_kib() >> 10,
        before >> 10
    );
}
