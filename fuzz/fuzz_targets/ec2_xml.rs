//! Any bytes as an answer of EC2's query API: parsed into a tree, read along the sync's paths and
//! as an error answer (`curtain_cloud::fuzzing::ec2_xml`). The body lives in the crate so that
//! its tests replay this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| curtain_cloud::fuzzing::ec2_xml(data));
