//! Analysis of snapshots, pure and offline: the process tree, containers, detectors with ATT&CK
//! ids, a Timesketch-ready timeline, and the difference between two snapshots.

pub mod container;
pub mod detect;
pub mod diff;
pub mod index;
pub mod timeline;

#[cfg(test)]
mod testkit;

pub use index::Index;

use curtain_model::{Finding, Severity, Snapshot};

/// Indexes a snapshot and runs every detector.
pub fn analyze(snap: &Snapshot) -> (Index<'_>, Vec<Finding>) {
    let ix = Index::new(snap);
    let findings = detect::run_all(&ix);
    (ix, findings)
}

/// Findings at or above `min`.
pub fn at_least(findings: &[Finding], min: Severity) -> Vec<&Finding> {
    findings.iter().filter(|f| f.severity >= min).collect()
}
