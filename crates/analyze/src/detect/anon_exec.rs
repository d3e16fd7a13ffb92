//! Code mapped from where code should not come from: deleted or memfd libraries, and
//! executable anonymous memory (injected shellcode, or a JIT).

use super::*;
use curtain_model::MapKind;

pub(crate) const ENGINE: Engine = Engine {
    kind: "suspicious-mapping",
    run,
    lists: &[ListSpec { name: "jits", kind: ListKind::Program, about: "runtimes that compile code into memory (low)" }],
    needs_lists: false,
};

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut by_pid: std::collections::BTreeMap<u32, Vec<&curtain_model::Mapping>> = Default::default();
    for m in &ix.snap.maps {
        by_pid.entry(m.pid).or_default().push(m);
    }
    for p in candidates(ix) {
        let Some(maps) = by_pid.get(&p.pid) else { continue };
        let exe_path = p.exe.as_ref().map(|e| e.path.0.clone()).unwrap_or_default();
        let exec = |m: &&&curtain_model::Mapping| m.perms.as_bytes().get(2) == Some(&b'x');
        // Deleted or memfd code other than the main executable (its own detectors report that).
        let libs: Vec<_> = maps
            .iter()
            .filter(exec)
            .filter(|m| matches!(m.kind, MapKind::Deleted | MapKind::Memfd))
            .filter(|m| m.path.as_ref().map(|x| x.0 != exe_path).unwrap_or(true))
            .collect();
        if let Some(m) = libs.first() {
            let path = m.path.as_ref().map(|x| short(&x.0, 120)).unwrap_or_default();
            let summary = format!(
                "pid {} ({}) maps code from {path} ({} such mapping(s))",
                p.pid,
                short(p.comm_bytes(), 32),
                libs.len()
            );
            let mut e = ev_raw(p, "maps");
            e.locator = format!("{}-{}", m.start, m.end);
            out.push(finding(d, p, Severity::High, summary, vec![ev_process(p), e]));
        }
        let anon: Vec<_> = maps.iter().filter(|m| m.kind == MapKind::AnonExec).collect();
        if let Some(m) = anon.first() {
            let jit = names(p).iter().any(|n| d.text("jits").iter().any(|k| program_match(n, k)));
            let severity = if jit { Severity::Low } else { d.severity };
            let wx = anon.iter().any(|m| m.perms.starts_with("rwx"));
            let summary = format!(
                "pid {} ({}) has {} executable anonymous mapping(s){}{}",
                p.pid,
                short(p.comm_bytes(), 32),
                anon.len(),
                if wx { ", writable and executable" } else { "" },
                if jit { " (a JIT runtime)" } else { "" }
            );
            let mut e = ev_raw(p, "maps");
            e.locator = format!("{}-{}", m.start, m.end);
            out.push(finding(d, p, severity, summary, vec![ev_process(p), e]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use curtain_model::Mapping;

    fn map(pid: u32, perms: &str, path: Option<&str>, kind: MapKind) -> Mapping {
        Mapping {
            pid,
            start: "7f0000000000".into(),
            end: "7f0000001000".into(),
            perms: perms.into(),
            offset: 0,
            dev: "00:00".into(),
            inode: 0,
            path: path.map(Into::into),
            kind,
        }
    }

    #[test]
    fn fires_on_deleted_library_and_shellcode() {
        let mut s = snapshot(vec![process(70, 1, "sshd", "/usr/sbin/sshd")], vec![], vec![]);
        s.maps = vec![
            map(70, "r-xp", Some("/tmp/libx.so (deleted)"), MapKind::Deleted),
            map(70, "rwxp", None, MapKind::AnonExec),
        ];
        let f = check("suspicious-mapping", &s);
        let sev: Vec<_> = f.iter().map(|f| f.severity).collect();
        assert_eq!(sev, [Severity::High, Severity::Medium]);
        assert!(f[1].summary.contains("writable and executable"));
    }

    #[test]
    fn jit_is_low_and_data_mappings_or_the_main_exe_do_not_fire() {
        let mut s = snapshot(
            vec![process(71, 1, "java", "/usr/lib/jvm/bin/java"), process(72, 1, "app", "/tmp/app (deleted)")],
            vec![],
            vec![],
        );
        s.maps = vec![
            map(71, "rwxp", None, MapKind::AnonExec),
            map(72, "r-xp", Some("/tmp/app (deleted)"), MapKind::Deleted),
            map(72, "rw-s", Some("/SYSV00000000 (deleted)"), MapKind::Deleted),
        ];
        let f = check("suspicious-mapping", &s);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].pid, f[0].severity), (Some(71), Severity::Low));
    }
}
