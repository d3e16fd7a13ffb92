//! The body of the `flow_reader` fuzz target (fuzz/fuzz_targets/flow_reader.rs), here so that
//! `cargo test` replays its corpus on stable Rust (tests/fuzz_corpus.rs). Not an API.
//!
//! The first byte chooses the layout of lines without a header (AWS's default, or a custom
//! format with every field of v2 to v8 and one unknown), the rest is an input in any form: read,
//! attributed against a small address book and a snapshot, written as JSONL, CSV and a summary.
//! Limits are small so that no input makes the fuzzer allocate much.

use curtain_model::register::{Certainty, Holder};
use curtain_model::{Endpoint, Manifest, Owner, Process, Proto, Snapshot, Socket};
use curtain_store::HeldInterval;

use crate::attribute::{AddressBook, Attributor, SnapshotIndex};
use crate::format::Layout;
use crate::input::{read_bytes, Problem, ReadOptions, Sink};
use crate::output::{CsvWriter, JsonlWriter, RowSink};
use crate::record::{Field, FlowRecord};
use crate::summary::Summary;

fn holder(ip: &str, eni: &str, task: Option<&str>) -> HeldInterval {
    HeldInterval {
        from_ns: 1_000_000_000_000_000_000,
        to_ns: Some(2_000_000_000_000_000_000),
        holder: Holder {
            ip: ip.into(),
            ip_kind: "private".into(),
            account_id: "111122223333".into(),
            region: "us-west-2".into(),
            cluster_arn: None,
            service: Some("web".into()),
            task_arn: task.map(str::to_string),
            task_definition_arn: None,
            launch_type: None,
            network_mode: None,
            containers: Vec::new(),
            definition: Vec::new(),
            container_instance_arn: None,
            ec2_instance_id: None,
            eni_id: Some(eni.into()),
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

fn snapshot() -> Snapshot {
    Snapshot {
        source: "fuzz".into(),
        manifest: Manifest {
            started_at: "2001-09-09T01:46:40Z".into(),
            ended_at: "2033-05-18T03:33:20Z".into(),
            ..Default::default()
        },
        processes: vec![Process { pid: 1, ..Default::default() }],
        sockets: vec![Socket {
            netns: 1,
            proto: Proto::Tcp,
            local: Some(Endpoint { ip: "10.0.0.1".into(), port: 443 }),
            remote: Some(Endpoint { ip: "0.0.0.0".into(), port: 0 }),
            state: "LISTEN".into(),
            uid: None,
            inode: 1,
            tx_queue: None,
            rx_queue: None,
            path: None,
            socket_type: None,
            owners: vec![Owner { pid: 1, fd: 3 }],
            owner_visible: true,
        }],
        ..Default::default()
    }
}

struct Rows<'a> {
    attributor: Attributor<'a>,
    jsonl: JsonlWriter<Vec<u8>>,
    csv: CsvWriter<Vec<u8>>,
    summary: Summary,
}

impl Sink for Rows<'_> {
    fn record(&mut self, file: &str, line: u64, record: FlowRecord) {
        let row = self.attributor.row(record, file, line);
        self.jsonl.row(&row).expect("memory");
        self.csv.row(&row).expect("memory");
        self.summary.add(&row);
        // Flat memory: nothing is kept but the summary.
        self.jsonl.w.clear();
    }
    fn problem(&mut self, p: Problem) {
        self.summary.problem(&p);
    }
}

pub fn flow_reader(data: &[u8]) {
    let Some((&choice, input)) = data.split_first() else { return };
    let log_format = if choice & 1 == 0 {
        Layout::v2()
    } else {
        let mut names: Vec<String> = Field::ALL.iter().map(|f| format!("${{{}}}", f.name())).collect();
        names.push("${resource-id}".into());
        Layout::parse_format(&names.join(" ")).expect("a format")
    };
    let opts = ReadOptions { log_format, max_line: 64 << 10, max_inner_parquet: 1 << 20, max_json_document: 1 << 20 };
    let book = AddressBook::from_holders(vec![
        holder("10.0.0.1", "eni-1", Some("arn:aws:ecs:us-west-2:111122223333:task/c/t1")),
        holder("10.0.0.1", "eni-2", None),
    ]);
    let snaps = [SnapshotIndex::new(&snapshot())];
    let mut rows = Rows {
        attributor: Attributor { book: &book, snapshots: &snaps, opts: Default::default() },
        jsonl: JsonlWriter::new(Vec::new()),
        csv: CsvWriter::new(Vec::new()),
        summary: Summary::new(vec![3333]),
    };
    let stats = read_bytes("fuzz", input, &opts, &mut rows);
    let mut summary = rows.summary;
    summary.finish(stats);
    let mut out = Vec::new();
    summary.render_text(&mut out).expect("memory");
    summary.render_md(&mut out).expect("memory");
    summary.render_json(&mut out).expect("memory");
}
