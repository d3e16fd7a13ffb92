//! The readers over every form AWS delivers flow logs in (fixtures/flows/, origins in its
//! README): each version, custom orders, `-`, NODATA and SKIPDATA, repeated headers, gzip,
//! CloudWatch Logs exports and subscription payloads, base64, Parquet, and malformed lines
//! reported with their file and line, never fatal.

use std::path::PathBuf;

use curtain_flows::{read_bytes, read_paths, Collect, Field, FlowRecord, Layout, ReadOptions, ReadStats};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/flows")).join(name)
}

fn read(name: &str) -> (Collect, ReadStats) {
    read_with(name, &ReadOptions::default())
}

fn read_with(name: &str, opts: &ReadOptions) -> (Collect, ReadStats) {
    let mut c = Collect::default();
    let stats = read_paths(&[fixture(name)], opts, &mut c).unwrap();
    (c, stats)
}

#[test]
fn aws_default_format_samples() {
    let (c, s) = read("aws-docs-v2.log");
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!((s.records, s.nodata, s.skipdata, s.headers, s.malformed), (5, 1, 1, 1, 0));
    let r = &c.records[0];
    assert_eq!(r.version(), Some(2));
    assert_eq!(r.account_id(), Some("123456789010"));
    assert_eq!(r.srcaddr(), Some("172.31.16.139"));
    assert_eq!((r.srcport(), r.dstport(), r.protocol()), (Some(20641), Some(22), Some(6)));
    assert_eq!(
        (r.packets(), r.bytes(), r.start(), r.end()),
        (Some(20), Some(4249), Some(1418530010), Some(1418530070))
    );
    assert_eq!(c.records[1].action(), Some("REJECT"));
    // `-` is null, never a value.
    let nodata = &c.records[2];
    assert!(nodata.is_nodata());
    assert_eq!((nodata.srcaddr(), nodata.srcport(), nodata.packets(), nodata.action()), (None, None, None, None));
    assert!(nodata.has(Field::Srcaddr) && !nodata.has(Field::VpcId));
    assert_eq!(c.records[4].dstaddr(), Some("2001:db8:1234:a102:3304:8879:34cf:4071"));
}

#[test]
fn aws_custom_v3_order() {
    let (c, s) = read("aws-docs-v3-custom.log");
    assert_eq!((s.records, s.malformed), (2, 0));
    let r = &c.records[1];
    assert_eq!(r.vpc_id(), Some("vpc-abcdefab012345678"));
    assert_eq!(r.instance_id(), Some("i-01234567890123456"));
    assert_eq!(r.r#type(), Some("IPv4"));
    assert_eq!(r.tcp_flags(), Some(18));
    assert_eq!((r.bytes(), r.packets()), (Some(376), Some(7)));
    assert_eq!(r.pkt_srcaddr(), Some("10.0.0.62"));
}

#[test]
fn versions_four_to_eight() {
    let (c, _) = read("v4.log");
    assert_eq!(c.records[0].az_id(), Some("usw2-az1"));
    assert_eq!(c.records[0].account_id(), Some("011122223333"), "leading zero kept");
    assert_eq!(c.records[1].sublocation_type(), Some("outpost"));
    assert_eq!(c.records[1].az_id(), None);

    let (c, _) = read("v5.log");
    assert_eq!(c.records[0].pkt_dst_aws_service(), Some("S3"));
    assert_eq!(c.records[0].traffic_path(), Some(8));
    assert_eq!(c.records[1].traffic_path(), None);
    assert_eq!(c.records[1].flow_direction(), Some("ingress"));
    assert_eq!(c.records[1].pkt_srcaddr(), Some("203.0.113.50"));

    let (c, s) = read("v6-tgw.log");
    assert_eq!(s.malformed, 0, "{:?}", c.problems);
    let r = &c.records[0];
    assert_eq!(r.resource_type(), Some("TransitGateway"));
    assert_eq!(r.tgw_dst_vpc_account_id(), Some("444455556666"));
    assert_eq!(r.tgw_pair_attachment_id(), Some("tgw-attach-0fedcba9876543210"));
    assert_eq!(r.packets_lost_ttl_expired(), Some(0));
    assert!(!r.has(Field::Action));

    let (c, _) = read("v7-ecs.log");
    let r = &c.records[0];
    assert_eq!(r.ecs_task_id(), Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0"));
    assert_eq!(r.ecs_service_name(), Some("websvc"));
    assert_eq!(r.ecs_second_container_id(), None);

    let (c, s) = read("v8-alphabetical.log");
    assert_eq!(s.malformed, 0, "{:?}", c.problems);
    let r = &c.records[0];
    assert_eq!(r.version(), Some(8));
    assert_eq!(r.reject_reason(), Some("BPA"));
    assert_eq!(r.account_id(), Some("000111222333"));
    assert_eq!(r.ecs_task_arn(), Some("arn:aws:ecs:us-west-2:000111222333:task/batch/9b9b9b9b"));
    assert_eq!(r.ecs_container_instance_id(), Some("i-0a0a0a0a0a0a0a0a0"));
    assert_eq!(
        (r.srcport(), r.dstport(), r.start(), r.end()),
        (Some(61000), Some(22), Some(1795687200), Some(1795687260))
    );
    assert_eq!(r.extra, vec![("resource-id".to_string(), Some("res-0123".into()))], "unknown field kept");
    // Every VPC field of v2 to v8 was in that format.
    for f in Field::ALL.iter().filter(|f| f.version() != 6) {
        assert!(r.has(*f), "{}", f.name());
    }
}

#[test]
fn repeated_and_changed_headers() {
    let (c, s) = read("repeated-header.log");
    assert_eq!((s.records, s.headers, s.malformed), (3, 3, 0), "{:?}", c.problems);
    assert_eq!(c.records[1].version(), Some(3));
    assert_eq!(c.records[1].dstaddr(), Some("198.51.100.8"));
    assert!(!c.records[1].has(Field::Srcport));
    assert_eq!(c.records[2].dstaddr(), Some("198.51.100.9"));
}

#[test]
fn malformed_lines_reported_with_file_and_line_and_skipped() {
    let (c, s) = read("malformed.log");
    assert_eq!((s.records, s.malformed), (3, 4));
    let lines: Vec<u64> = c.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [3, 4, 5, 7]);
    assert!(c.problems.iter().all(|p| p.file.ends_with("malformed.log")));
    assert!(c.problems[0].reason.contains("13 fields where the format has 14"), "{}", c.problems[0].reason);
    assert!(c.problems[1].reason.starts_with("srcport: out of range"), "{}", c.problems[1].reason);
    assert!(c.problems[2].reason.starts_with("packets: not"), "{}", c.problems[2].reason);
    assert_eq!(c.problems[3].reason, "not UTF-8");
}

#[test]
fn gzip_by_magic_number() {
    let (gz, s) = read("v5.log.gz");
    let (plain, _) = read("v5.log");
    assert_eq!(s.records, 2);
    assert_eq!(gz.records, plain.records);
}

#[test]
fn cloudwatch_export_and_subscription_payload() {
    let (c, s) = read("cloudwatch-export.txt");
    assert_eq!((s.records, s.nodata, s.malformed), (2, 1, 0), "{:?}", c.problems);
    assert_eq!(c.records[0].dstaddr(), Some("198.51.100.7"));

    let (c, s) = read("cloudwatch-subscription.json.gz");
    assert_eq!((s.records, s.skipdata, s.malformed), (3, 1, 0), "{:?}", c.problems);
    assert_eq!(c.records[1].srcaddr(), Some("203.0.113.9"));

    // The same payload in base64 (a Kinesis record's data), two payloads on two lines.
    let gz = std::fs::read(fixture("cloudwatch-subscription.json.gz")).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&gz);
    let mut c = Collect::default();
    let s = read_bytes("kinesis", format!("{b64}\n{b64}\n").as_bytes(), &ReadOptions::default(), &mut c);
    assert_eq!((s.records, s.malformed), (6, 0), "{:?}", c.problems);
}

#[test]
fn cloudwatch_with_a_custom_format() {
    let opts = ReadOptions {
        log_format: Layout::parse_format("${interface-id} ${srcaddr} ${dstaddr} ${start} ${end} ${version}").unwrap(),
        ..Default::default()
    };
    let doc = r#"{"events": [{"logStreamName": "eni-1-all", "timestamp": 1, "message": "eni-1 10.0.0.1 10.0.0.2 100 160 3"},
        {"timestamp": 2, "message": "eni-1 10.0.0.1 10.0.0.2 100"}, {"timestamp": 3}]}"#;
    let mut c = Collect::default();
    let s = read_bytes("cli.json", doc.as_bytes(), &opts, &mut c);
    assert_eq!((s.records, s.malformed), (1, 2));
    assert_eq!(c.records[0].interface_id(), Some("eni-1"));
    assert_eq!(c.records[0].version(), Some(3));
    assert_eq!((c.problems[0].line, c.problems[1].line), (2, 3));
}

#[test]
fn format_strings_as_aws_takes_them() {
    let l = Layout::parse_format("${version} ${account-id} ${interface-id} ${srcaddr}").unwrap();
    let r: FlowRecord = l.parse_line("2 000123456789 eni-1 10.0.0.1").unwrap();
    assert_eq!(r.account_id(), Some("000123456789"));
    assert!(l.parse_line("+2 000123456789 eni-1 10.0.0.1").is_err(), "a sign is not a number here");
    assert!(Layout::parse_format("${version} ${version}").is_err());
}

#[test]
fn a_missing_path_is_the_only_error() {
    let mut c = Collect::default();
    assert!(read_paths(&[fixture("no-such-file")], &ReadOptions::default(), &mut c).is_err());
}

#[test]
fn a_directory_is_every_file_in_it() {
    let mut c = Collect::default();
    let s = read_paths(&[fixture("")], &ReadOptions::default(), &mut c).unwrap();
    // The README is read too, and its lines reported: nothing in a directory is skipped unseen.
    assert_eq!((s.files, s.records, s.headers), (14, 30, 12), "{s:?}");
}

#[cfg(feature = "parquet")]
mod parquet_delivery {
    use super::*;
    use parquet::basic::{Compression, GzipLevel};
    use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    /// A Parquet file as AWS writes it: `_` column names, INT_32 and INT_64 numbers, STRING
    /// text, gzip; nulls for `-`; and a column AWS does not define.
    fn aws_parquet() -> Vec<u8> {
        let schema = "message flows {
            OPTIONAL INT32 version; OPTIONAL BYTE_ARRAY account_id (UTF8); OPTIONAL BYTE_ARRAY interface_id (UTF8);
            OPTIONAL BYTE_ARRAY srcaddr (UTF8); OPTIONAL BYTE_ARRAY dstaddr (UTF8); OPTIONAL INT32 srcport;
            OPTIONAL INT32 dstport; OPTIONAL INT32 protocol; OPTIONAL INT64 packets; OPTIONAL INT64 bytes;
            OPTIONAL INT64 start; OPTIONAL INT64 end; OPTIONAL BYTE_ARRAY action (UTF8);
            OPTIONAL BYTE_ARRAY log_status (UTF8); OPTIONAL BYTE_ARRAY resource_id (UTF8);
        }";
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let props =
            Arc::new(WriterProperties::builder().set_compression(Compression::GZIP(GzipLevel::default())).build());
        let mut w = SerializedFileWriter::new(Vec::new(), schema, props).unwrap();
        let mut rg = w.next_row_group().unwrap();
        // Two rows: a flow, and a NODATA record whose flow fields are null.
        let def_all = [1i16, 1];
        let def_flow = [1i16, 0];
        let text = |v: &[&str]| v.iter().map(|s| ByteArray::from(*s)).collect::<Vec<_>>();
        let mut col = 0;
        while let Some(mut c) = rg.next_column().unwrap() {
            match col {
                0 => c.typed::<Int32Type>().write_batch(&[2, 2], Some(&def_all), None),
                1 => c.typed::<ByteArrayType>().write_batch(
                    &text(&["012345678901", "012345678901"]),
                    Some(&def_all),
                    None,
                ),
                2 => c.typed::<ByteArrayType>().write_batch(&text(&["eni-1", "eni-1"]), Some(&def_all), None),
                3 => c.typed::<ByteArrayType>().write_batch(&text(&["10.0.0.1"]), Some(&def_flow), None),
                4 => c.typed::<ByteArrayType>().write_batch(&text(&["10.0.0.2"]), Some(&def_flow), None),
                5 => c.typed::<Int32Type>().write_batch(&[40000], Some(&def_flow), None),
                6 => c.typed::<Int32Type>().write_batch(&[443], Some(&def_flow), None),
                7 => c.typed::<Int32Type>().write_batch(&[6], Some(&def_flow), None),
                8 => c.typed::<Int64Type>().write_batch(&[10], Some(&def_flow), None),
                9 => c.typed::<Int64Type>().write_batch(&[5_000_000_000], Some(&def_flow), None),
                10 => c.typed::<Int64Type>().write_batch(&[1795687200, 1795687200], Some(&def_all), None),
                11 => c.typed::<Int64Type>().write_batch(&[1795687260, 1795687260], Some(&def_all), None),
                12 => c.typed::<ByteArrayType>().write_batch(&text(&["ACCEPT"]), Some(&def_flow), None),
                13 => c.typed::<ByteArrayType>().write_batch(&text(&["OK", "NODATA"]), Some(&def_all), None),
                _ => c.typed::<ByteArrayType>().write_batch(&text(&["r-1", "-"]), Some(&def_all), None),
            }
            .unwrap();
            c.close().unwrap();
            col += 1;
        }
        rg.close().unwrap();
        w.into_inner().unwrap()
    }

    /// fixtures/flows/aws-v2.parquet is this file, committed for the fuzz corpus and the
    /// mutation test (tests/fuzz.rs); `CURTAIN_WRITE_FIXTURES=1` writes it again.
    #[test]
    fn parquet_fixture() {
        let path = fixture("aws-v2.parquet");
        if std::env::var_os("CURTAIN_WRITE_FIXTURES").is_some() {
            std::fs::write(&path, aws_parquet()).unwrap();
        }
        let (c, s) = read("aws-v2.parquet");
        assert_eq!((s.records, s.nodata, s.malformed), (2, 1, 0), "{:?}", c.problems);
        assert_eq!(c.records[0].dstport(), Some(443));
    }

    #[test]
    fn parquet_rows() {
        let bytes = aws_parquet();
        let dir = std::env::temp_dir().join(format!("curtain-flows-pq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("flows.parquet");
        std::fs::write(&path, &bytes).unwrap();
        let mut c = Collect::default();
        let s = read_paths(&[path], &ReadOptions::default(), &mut c).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((s.records, s.nodata, s.malformed), (2, 1, 0), "{:?}", c.problems);
        let r = &c.records[0];
        assert_eq!(r.account_id(), Some("012345678901"));
        assert_eq!(
            (r.srcport(), r.dstport(), r.protocol(), r.bytes()),
            (Some(40000), Some(443), Some(6), Some(5_000_000_000))
        );
        assert_eq!(r.extra, vec![("resource_id".to_string(), Some("r-1".into()))]);
        let nodata = &c.records[1];
        assert_eq!((nodata.srcaddr(), nodata.bytes()), (None, None));
        assert!(nodata.has(Field::Srcaddr));
        assert_eq!(nodata.extra[0].1, None, "`-` is null in a STRING column too");

        // Inside gzip, from memory, the same rows.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &bytes).unwrap();
        let mut c2 = Collect::default();
        read_bytes("pq.gz", &gz.finish().unwrap(), &ReadOptions::default(), &mut c2);
        assert_eq!(c2.records, c.records);

        // Cut short: reported, never a panic.
        let mut c3 = Collect::default();
        let s = read_bytes("cut.parquet", &bytes[..bytes.len() / 2], &ReadOptions::default(), &mut c3);
        assert_eq!((s.records, s.unreadable), (0, 1));
        assert!(c3.problems[0].reason.starts_with("Parquet:"), "{:?}", c3.problems);
    }
}
