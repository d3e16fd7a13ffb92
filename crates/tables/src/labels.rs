//! Labels that keep the responder's own footprint out of the findings: the collector itself,
//! its ancestors in the responder's session (sudo, nsenter, the shell), the other processes of
//! its pipeline (its process group: the `od` and `awk` of the shell method, a `| gzip`), and the
//! ECS Exec / SSM agent, decided as the processes arrive.

use crate::row::ProcRow;
use crate::sink::RowSink;
use crate::Tables;
use curtain_model::Label;

/// Who the collector is and which of its ancestors are the responder's session, decided as
/// processes arrive (the collector reads itself first, then its ancestors).
#[derive(Debug, Default)]
pub(crate) struct Labeller {
    pub(crate) self_pid: Option<u32>,
    pub(crate) next_ancestor: Option<u32>,
    pub(crate) session: Option<i32>,
    /// The collector's process group: its pipeline.
    pub(crate) pgrp: Option<i32>,
    /// The collector's pid and parent: the collector's children are its pipeline too, and so
    /// are its parent's once that parent is labelled the responder's.
    pub(crate) family: Option<(u32, u32)>,
    pub(crate) parent_is_responder: bool,
}

impl<S: RowSink> Tables<S> {
    /// Labels the SSM agent, the collector, and the collector's ancestors in its session.
    pub(crate) fn label(&mut self, p: &mut ProcRow<'_>) {
        let in_agent_dir = |b: &[u8]| b.starts_with(SSM_AGENT_DIR);
        let exe = p.exe.is_some_and(|e| in_agent_dir(e.path));
        let argv0 = p.argv0().is_some_and(in_agent_dir);
        if exe || argv0 {
            p.label = Some(Label::SsmAgent);
        }
        let l = &mut self.labels;
        let parent = p.ppid.filter(|&pp| pp > 1);
        if Some(p.pid) == l.self_pid {
            p.label = Some(Label::SelfCollector);
            l.session = p.session;
            l.pgrp = p.pgrp;
            l.family = Some((p.pid, parent.unwrap_or(0)));
            l.next_ancestor = parent;
        } else if p.label.is_none() && Some(p.pid) != l.next_ancestor && l.session.is_some() && p.session == l.session {
            // In the collector's pipeline: its process group when that is not the session's own
            // (an interactive shell gives each command line a group of its own), else a child of
            // the collector or of its parent shell (without job control, one group for all).
            let group = l.pgrp.is_some_and(|g| g > 0) && p.pgrp == l.pgrp && p.pgrp != p.session;
            let kin = l.family.is_some_and(|(me, parent)| {
                p.ppid == Some(me) || (l.parent_is_responder && parent > 1 && p.ppid == Some(parent))
            });
            if group || kin {
                p.label = Some(Label::Responder);
            }
        } else if Some(p.pid) == l.next_ancestor {
            let wrapper = p.comm.is_some_and(|c| WRAPPERS.contains(&c));
            if p.label.is_some() || !(wrapper || (p.session.is_some() && p.session == l.session)) {
                // The SSM agent, or outside the session: the responder's plumbing ends here.
                l.next_ancestor = None;
            } else {
                p.label = Some(Label::Responder);
                if l.family.is_some_and(|(_, parent)| parent == p.pid) {
                    l.parent_is_responder = true;
                }
                if wrapper {
                    l.session = p.session;
                }
                l.next_ancestor = parent;
            }
        }
    }
}

/// Where ECS Exec's agent is bind-mounted in every task container.
pub const SSM_AGENT_DIR: &[u8] = b"/managed-agents/execute-command/";

/// Programs that stand between a responder's shell and the collector.
const WRAPPERS: [&[u8]; 11] =
    [b"sudo", b"su", b"doas", b"setpriv", b"nsenter", b"chroot", b"timeout", b"env", b"unshare", b"script", b"runuser"];
