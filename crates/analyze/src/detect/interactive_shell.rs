//! Interactive activity: a shell started well after its container's init, other than the
//! responder's own session. Containers run their service; a shell appearing later is someone at
//! the keyboard (or a script an attacker runs).

use super::*;
use curtain_model::parse_rfc3339_ns;

pub(crate) const ENGINE: Engine = Engine { kind: "interactive-shell", run, lists: &[], needs_lists: false };

/// How long after the init a shell is still part of the container's start.
const GRACE_NS: u64 = 60_000_000_000;

fn run(d: &Rule, rules: &Rules, ix: &Index) -> Vec<Finding> {
    // Seconds after its container's init that a shell started, if it is a shell at all.
    let late = |p: &curtain_model::Process| -> Option<(u64, u32)> {
        if p.label.is_some() || !is_shell(p, rules) {
            return None;
        }
        // About a container's init only: the host's own logins and shells are not this rule's.
        if ix.container_of(p.pid).is_none_or(|c| c.runtime == crate::container::Runtime::Host) {
            return None;
        }
        let init = ix.init_of(p.pid)?;
        let t = p.started_at.as_deref().and_then(parse_rfc3339_ns)?;
        let t0 = init.started_at.as_deref().and_then(parse_rfc3339_ns)?;
        (init.pid != p.pid && t >= t0.saturating_add(GRACE_NS)).then_some(((t - t0) / 1_000_000_000, init.pid))
    };
    let mut out = Vec::new();
    for p in candidates(ix) {
        let Some((after, init_pid)) = late(p) else { continue };
        // A late shell under another late shell is the same activity: reported at its top.
        if ix.parent(p).is_some_and(|pp| late(pp).is_some()) {
            continue;
        }
        let Some(init) = ix.process(init_pid) else { continue };
        let parent = ix
            .parent(p)
            .map(|pp| format!("pid {} ({})", pp.pid, short(pp.comm_bytes(), 32)))
            .unwrap_or_else(|| "not visible".into());
        let under_agent = ix.ancestors(p).iter().any(|a| a.label == Some(curtain_model::Label::SsmAgent));
        let severity = if under_agent || p.tty_nr.is_some_and(|t| t != 0) { Severity::Medium } else { Severity::High };
        let summary = format!(
            "pid {} ({}) started {} s after the container's init (pid {}); parent {parent}{}; command line: {}",
            p.pid,
            short(p.comm_bytes(), 32),
            after,
            init.pid,
            if under_agent { "; under the ECS Exec agent, another exec session" } else { "" },
            cmdline(p)
        );
        out.push(finding(d, p, severity, summary, vec![ev_process(p), ev_process(init)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use curtain_model::Label;

    #[test]
    fn fires_on_a_late_shell_spawned_by_the_app() {
        let init = started(process(1, 0, "node", "/usr/local/bin/node"), 100);
        let sh = started(with_args(process(40, 1, "sh", "/bin/dash"), &["/bin/sh", "-c", "id; uname -a"]), 4000);
        let f = check("interactive-shell", &snapshot(vec![init, sh], vec![], vec![]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].summary.contains("3900 s after"));
    }

    #[test]
    fn the_entrypoint_shell_and_the_responder_session_do_not_fire() {
        let init = started(process(1, 0, "sh", "/bin/dash"), 100);
        let child = started(process(7, 1, "sh", "/bin/dash"), 101);
        let mut me = started(process(50, 1, "bash", "/bin/bash"), 5000);
        me.label = Some(Label::Responder);
        let app = started(process(60, 1, "python3", "/usr/bin/python3"), 5000);
        assert!(check("interactive-shell", &snapshot(vec![init, child, me, app], vec![], vec![])).is_empty());
    }

    #[test]
    fn a_late_shell_in_a_container_fires_and_a_login_on_the_host_does_not() {
        let (mut s, id) = host_with_container();
        // `docker exec web sh` an hour after the container started: its parent is the shim.
        let exec = in_container(started(process(210, 150, "sh", "/bin/sh"), 3700), &id);
        // An administrator's login shell on the host, days after boot.
        let login = started(with_args(process(500, 1, "bash", "/bin/bash"), &["-bash"]), 90_000);
        s.processes.extend([exec, login]);
        let f = check("interactive-shell", &s);
        assert_eq!(f.iter().map(|f| f.pid).collect::<Vec<_>>(), [Some(210)], "{f:?}");
        assert!(f[0].summary.contains("container's init (pid 200)"));
    }

    #[test]
    fn a_late_busybox_applet_that_is_no_shell_does_not_fire() {
        // An alpine image's cron job or health check runs busybox applets long after the init;
        // only `sh` and `ash` among them are shells.
        let init = started(process(1, 0, "node", "/usr/local/bin/node"), 100);
        let sleep = started(with_args(process(41, 1, "sleep", "/bin/busybox"), &["sleep", "30"]), 4000);
        let wget = started(with_args(process(42, 1, "busybox", "/bin/busybox"), &["busybox", "wget", "x"]), 4000);
        assert!(check("interactive-shell", &snapshot(vec![init.clone(), sleep, wget], vec![], vec![])).is_empty());
        let ash = started(with_args(process(43, 1, "ash", "/bin/busybox"), &["ash"]), 4000);
        assert_eq!(check("interactive-shell", &snapshot(vec![init, ash], vec![], vec![])).len(), 1);
    }
}
