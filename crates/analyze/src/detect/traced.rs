//! A process being traced (TracerPid set): a debugger, strace, or an injector attached with
//! ptrace.

use super::*;

pub(crate) const ENGINE: Engine = Engine { kind: "traced", run, lists: &[], needs_lists: false };

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    candidates(ix)
        .filter_map(|p| {
            let tracer = p.tracer_pid.filter(|t| *t != 0)?;
            let tp = ix.process(tracer);
            // The responder tracing on purpose is not a finding.
            if tp.is_some_and(|t| t.label.is_some()) {
                return None;
            }
            let tracer_name = tp.map(|t| short(t.comm_bytes(), 32)).unwrap_or_else(|| "not visible".into());
            let summary =
                format!("pid {} ({}) is traced by pid {tracer} ({tracer_name})", p.pid, short(p.comm_bytes(), 32));
            let mut ev = vec![ev_process(p), ev_raw(p, "status")];
            if let Some(t) = tp {
                ev.push(ev_process(t));
            }
            Some(finding(d, p, d.severity, summary, ev))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;

    #[test]
    fn fires_when_traced() {
        let mut p = process(60, 1, "sshd", "/usr/sbin/sshd");
        p.tracer_pid = Some(61);
        let f = check("traced", &snapshot(vec![p, process(61, 1, "inject", "/tmp/inject")], vec![], vec![]));
        assert_eq!(f.len(), 1);
        assert!(f[0].summary.contains("traced by pid 61 (inject)"));
    }

    #[test]
    fn untraced_or_traced_by_the_responder_does_not_fire() {
        let mut a = process(62, 1, "app", "/app/a");
        a.tracer_pid = Some(0);
        let mut b = process(63, 1, "app", "/app/b");
        b.tracer_pid = Some(64);
        let mut strace = process(64, 1, "strace", "/usr/bin/strace");
        strace.label = Some(curtain_model::Label::Responder);
        assert!(check("traced", &snapshot(vec![a, b, strace], vec![], vec![])).is_empty());
    }
}
