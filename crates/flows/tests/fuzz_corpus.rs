//! Replays the committed corpus of the `flow_reader` fuzz target, and every crash it found
//! (fuzz/regressions/), through the code the target runs (`curtain_flows::fuzzing`): a crash once
//! fixed stays fixed, without libFuzzer or nightly. docs/FUZZING.md says how the corpus is grown.

use std::path::{Path, PathBuf};

#[test]
fn flow_reader_corpus_replays() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [fuzz.join("corpus/flow_reader"), fuzz.join("regressions/flow_reader")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        files.extend(entries.map(|e| e.expect("a directory entry").path()).filter(|p| p.is_file()));
    }
    files.sort();
    assert!(files.len() > 10, "only {} inputs: is fuzz/corpus/flow_reader there?", files.len());
    for f in &files {
        let data = std::fs::read(f).expect("a corpus file");
        if let Err(e) = std::panic::catch_unwind(|| curtain_flows::fuzzing::flow_reader(&data)) {
            let why = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("{}: {}", f.display(), why.unwrap_or_default());
        }
    }
}
