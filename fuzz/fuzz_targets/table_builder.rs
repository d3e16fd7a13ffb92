//! A read log and the raw files it names, replayed into tables: `curtain_tables::fuzzing::table_builder`.
//! The body lives in the crate so that its tests replay this target's corpus without libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| curtain_tables::fuzzing::table_builder(data));
