//! Property tests that fuzz the readers: arbitrary bytes, and bytes close to every form a flow
//! log takes (lines of the format's tokens, gzip, JSON envelopes, base64, Parquet's magic),
//! never panic, and every line is either a record or a reported problem.
//! Run longer with `PROPTEST_CASES=100000 cargo test -p curtain-flows --test fuzz`.

use base64::Engine as _;
use curtain_flows::{read_bytes, Collect, ReadOptions};
use proptest::prelude::*;
use std::io::Write;

/// Tokens of flow-log lines, headers and envelopes.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-".to_string()),
        Just("2".to_string()),
        Just("version".to_string()),
        Just("account-id".to_string()),
        Just("srcaddr".to_string()),
        Just("dstport".to_string()),
        Just("log-status".to_string()),
        Just("NODATA".to_string()),
        Just("ACCEPT".to_string()),
        Just("10.0.0.1".to_string()),
        Just("::ffff:10.0.0.1".to_string()),
        Just("eni-1".to_string()),
        Just("2026-01-01T00:00:00Z".to_string()),
        Just("{\"logEvents\":[{\"message\":\"".to_string()),
        Just("\"}]}".to_string()),
        Just("PAR1".to_string()),
        Just("\n".to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "[ -~]{0,12}",
        "\\PC{0,6}",
    ]
}

fn near_flow_log() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(token(), 0..60).prop_map(|t| t.join(" ").into_bytes())
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn small() -> ReadOptions {
    ReadOptions { max_line: 4096, max_inner_parquet: 1 << 16, max_json_document: 1 << 16, ..Default::default() }
}

/// Every line is a record, a problem, a header or blank: nothing is dropped unseen.
fn check(bytes: &[u8]) {
    let mut c = Collect::default();
    let s = read_bytes("fuzz", bytes, &small(), &mut c);
    assert_eq!(s.records as usize, c.records.len());
    assert_eq!((s.malformed + s.unreadable) as usize, c.problems.len());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&b);
        curtain_flows::fuzzing::flow_reader(&b);
    }

    #[test]
    fn near_flow_logs_never_panic(b in near_flow_log(), first in any::<u8>()) {
        check(&b);
        check(&gzip(&b));
        check(base64::engine::general_purpose::STANDARD.encode(gzip(&b)).as_bytes());
        let mut with_choice = vec![first];
        with_choice.extend_from_slice(&b);
        curtain_flows::fuzzing::flow_reader(&with_choice);
    }

    /// The Parquet fixture with bytes changed: errors or a caught panic, reported, never a crash.
    #[test]
    fn damaged_parquet(changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut p = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/flows/aws-v2.parquet")).unwrap();
        for (i, b) in changes {
            let at = i.index(p.len());
            p[at] = b;
        }
        check(&p);
    }

    #[test]
    fn parquet_magic_then_anything(b in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut p = b"PAR1".to_vec();
        p.extend_from_slice(&b);
        p.extend_from_slice(b"PAR1");
        check(&p);
    }
}
