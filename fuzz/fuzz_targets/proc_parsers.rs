//! One /proc parser (or terminal filter) chosen by the first byte, on the rest: `curtain_tables::fuzzing::proc_parsers`.
//! The body lives in the crate so that its tests replay this target's corpus without libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| curtain_tables::fuzzing::proc_parsers(data));
