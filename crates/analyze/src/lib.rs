//! Analysis of snapshots, pure and offline: the process tree, containers, detectors with ATT&CK
//! ids, a Timesketch-ready timeline, the difference between two snapshots, and the comparison of
//! replicas that should be the same.

pub mod compare;
pub mod container;
pub mod detect;
pub mod diff;
pub mod index;
pub mod rules;
pub mod timeline;

#[cfg(test)]
mod testkit;

pub use index::Index;

use curtain_model::{Finding, Severity, Snapshot};

/// Indexes a snapshot and runs every built-in detector.
pub fn analyze(snap: &Snapshot) -> (Index<'_>, Vec<Finding>) {
    analyze_with(snap, rules::builtin())
}

/// Indexes a snapshot and runs every detector of `rules` (the built-in ones with a responder's
/// own, from [`rules::Rules::load_dir`]).
pub fn analyze_with<'a>(snap: &'a Snapshot, rules: &rules::Rules) -> (Index<'a>, Vec<Finding>) {
    let ix = Index::new(snap);
    let findings = detect::run_all(&ix, rules);
    (ix, findings)
}

/// Findings at or above `min`.
pub fn at_least(findings: &[Finding], min: Severity) -> Vec<&Finding> {
    findings.iter().filter(|f| f.severity >= min).collect()
}
