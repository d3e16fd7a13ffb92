//! What the `ec2_xml` fuzz target runs (fuzz/fuzz_targets/ec2_xml.rs), here so that `cargo test`
//! replays its corpus on stable Rust (tests/fuzz_corpus.rs). Not an API.

use crate::xml::{parse_xml, query_error, Node, MAX_DEPTH};

/// Any bytes as an EC2 answer: parsed into a tree, read along the paths the sync reads, and read
/// as an error answer. Never a panic; the tree within its depth; an error's text without
/// control characters, starting with its code when it has one.
pub fn ec2_xml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(root) = parse_xml(&text) {
        assert!(depth(&root) <= MAX_DEPTH);
        for set in ["networkInterfaceSet", "reservationSet", "addressesSet", "regionInfo"] {
            for item in root.items(set) {
                let _ = item.text_at(&["association", "publicIp"]);
                let _ = item.items("instancesSet").flat_map(|i| i.items("tagSet")).count();
            }
        }
        let _ = root.text_at(&["nextToken"]);
    }
    let (code, shown) = query_error(500, &text);
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    if let Some(code) = code {
        assert!(shown.starts_with(&code), "{shown:?}");
    }
}

fn depth(n: &Node) -> usize {
    1 + n.children.iter().map(depth).max().unwrap_or(0)
}
