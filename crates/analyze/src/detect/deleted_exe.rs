//! A process whose executable file was deleted from disk while it runs: the classic way to
//! leave no binary behind. The archive holds its SHA-256 (and its bytes with --carve-exe).

use super::*;

pub(crate) const ENGINE: Engine = Engine { kind: "deleted-exe", run, lists: &[], needs_lists: false };

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    candidates(ix)
        .filter_map(|p| {
            let e = p.exe.as_ref()?;
            (e.deleted == Some(true) && !e.memfd).then(|| {
                let summary = format!(
                    "pid {} ({}) runs {} which was deleted; sha256 {}",
                    p.pid,
                    short(p.comm_bytes(), 32),
                    short(&e.path.0, 120),
                    e.sha256.as_deref().unwrap_or("unknown")
                );
                finding(d, p, d.severity, summary, vec![ev_process(p), ev_link(p, "exe")])
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn fires_on_link_count_zero() {
        let mut p = process(10, 1, "kworker", "/tmp/.x/kworker (deleted)");
        p.exe.as_mut().unwrap().deleted = Some(true);
        let f = check("deleted-exe", &snapshot(vec![p], vec![], vec![]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].summary.contains("/tmp/.x/kworker (deleted)"));
    }

    #[test]
    fn a_file_named_deleted_does_not_fire() {
        // Named "x (deleted)" on purpose, but still on disk (link count 1).
        let p = process(11, 1, "x", "/opt/x (deleted)");
        assert!(check("deleted-exe", &snapshot(vec![p], vec![], vec![])).is_empty());
        // memfd executables are the memfd detector's.
        let mut m = process(12, 1, "3", "/memfd:x (deleted)");
        let e = m.exe.as_mut().unwrap();
        (e.deleted, e.memfd) = (Some(true), true);
        assert!(check("deleted-exe", &snapshot(vec![m], vec![], vec![])).is_empty());
    }
}
