//! Replays the committed corpus of the `ec2_xml` fuzz target, and every crash it found
//! (fuzz/regressions/), through the code the target runs (`curtain_cloud::fuzzing`): a crash once
//! fixed stays fixed, without libFuzzer or nightly. docs/FUZZING.md says how the corpus is grown.

use std::path::{Path, PathBuf};

#[test]
fn ec2_xml_corpus_replays() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [fuzz.join("corpus/ec2_xml"), fuzz.join("regressions/ec2_xml")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        files.extend(entries.map(|e| e.expect("a directory entry").path()).filter(|p| p.is_file()));
    }
    files.sort();
    assert!(files.len() > 5, "only {} inputs: is fuzz/corpus/ec2_xml there?", files.len());
    for f in &files {
        let data = std::fs::read(f).expect("a corpus file");
        if let Err(e) = std::panic::catch_unwind(|| curtain_cloud::fuzzing::ec2_xml(&data)) {
            let why = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("{}: {}", f.display(), why.unwrap_or_default());
        }
    }
}
