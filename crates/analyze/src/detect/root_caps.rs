//! A process running as root with every capability, in a container whose init is not root:
//! something gained privileges the container was not started with.

use super::*;

pub(crate) const ENGINE: Engine = Engine { kind: "root-full-caps", run, lists: &[], needs_lists: false };

/// Capabilities 0..=37 (up to CAP_AUDIT_READ) all set: "full" on every kernel since 3.16.
const FULL: u64 = (1 << 38) - 1;

pub(crate) fn full_caps(hex: &str) -> bool {
    u64::from_str_radix(hex, 16).is_ok_and(|v| v & FULL == FULL)
}

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in candidates(ix) {
        if p.euid != Some(0) || !p.cap_eff.as_deref().is_some_and(full_caps) {
            continue;
        }
        let Some(init) = ix.init_of(p.pid) else { continue };
        if init.euid.is_none_or(|u| u == 0) || init.pid == p.pid {
            continue;
        }
        let summary = format!(
            "pid {} ({}) runs as root with CapEff {} while the container's init (pid {}) runs as uid {}",
            p.pid,
            short(p.comm_bytes(), 32),
            p.cap_eff.as_deref().unwrap_or(""),
            init.pid,
            init.euid.unwrap_or(0)
        );
        out.push(finding(d, p, d.severity, summary, vec![ev_process(p), ev_raw(p, "status"), ev_process(init)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;

    fn as_user(mut p: curtain_model::Process, uid: u32, caps: &str) -> curtain_model::Process {
        (p.uid, p.euid, p.cap_eff) = (Some(uid), Some(uid), Some(caps.into()));
        p
    }

    #[test]
    fn fires_on_root_in_a_user_container() {
        let init = as_user(process(1, 0, "node", "/usr/local/bin/node"), 1000, "0000000000000000");
        let root = as_user(process(30, 1, "sh", "/bin/sh"), 0, "000001ffffffffff");
        let f = check("root-full-caps", &snapshot(vec![init, root], vec![], vec![]));
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("uid 1000"));
    }

    #[test]
    fn docker_default_caps_or_a_root_container_do_not_fire() {
        // Docker's default set (no CAP_SYS_ADMIN), and root in a container whose init is root.
        let init = as_user(process(1, 0, "node", "/usr/local/bin/node"), 1000, "0");
        let dflt = as_user(process(31, 1, "sh", "/bin/sh"), 0, "00000000a80425fb");
        let f = check("root-full-caps", &snapshot(vec![init, dflt], vec![], vec![]));
        assert!(f.is_empty());
        let init = as_user(process(1, 0, "nginx", "/usr/sbin/nginx"), 0, "000001ffffffffff");
        let other = as_user(process(32, 1, "sh", "/bin/sh"), 0, "000001ffffffffff");
        assert!(check("root-full-caps", &snapshot(vec![init, other], vec![], vec![])).is_empty());
    }
}
