//! A flow-log input in any form (text, gzip, JSON, base64, Parquet), read, attributed and
//! written out: `curtain_flows::fuzzing::flow_reader`, the first byte choosing the headerless
//! layout. The body lives in the crate so that its tests replay this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| curtain_flows::fuzzing::flow_reader(data));
