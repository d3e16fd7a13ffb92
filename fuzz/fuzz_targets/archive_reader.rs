//! An archive file as an examiner is handed it, read, verified and reparsed: `curtain_archive::fuzzing::archive_reader`.
//! The body lives in the crate so that its tests replay this target's corpus without libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| curtain_archive::fuzzing::archive_reader(data));
