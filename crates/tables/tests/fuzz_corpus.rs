//! Replays the committed corpora of the `proc_parsers` and `table_builder` fuzz targets, and
//! every crash they found (fuzz/regressions/), through the code the targets run
//! (`curtain_tables::fuzzing`): a crash once fixed stays fixed, without libFuzzer or nightly.
//! docs/FUZZING.md says how the corpora are grown.

use std::path::{Path, PathBuf};

/// Runs every file of `fuzz/corpus/<target>` and `fuzz/regressions/<target>` through `run`,
/// naming the file that panics; how many were run.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [fuzz.join("corpus").join(target), fuzz.join("regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        files.extend(entries.map(|e| e.expect("a directory entry").path()).filter(|p| p.is_file()));
    }
    files.sort();
    for f in &files {
        let data = std::fs::read(f).expect("a corpus file");
        if let Err(e) = std::panic::catch_unwind(|| run(&data)) {
            let why = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("{}: {}", f.display(), why.unwrap_or_default());
        }
    }
    files.len()
}

#[test]
fn proc_parsers_corpus_replays() {
    let n = replay("proc_parsers", curtain_tables::fuzzing::proc_parsers);
    assert!(n > 100, "only {n} inputs: is fuzz/corpus/proc_parsers there?");
}

#[test]
fn table_builder_corpus_replays() {
    let n = replay("table_builder", curtain_tables::fuzzing::table_builder);
    assert!(n > 10, "only {n} inputs: is fuzz/corpus/table_builder there?");
}
