//! Lookups over one snapshot: processes by pid, the tree, descriptors and sockets of a process,
//! and the container each process belongs to. Built once, shared by every detector.

use crate::container::{self, Container};
use curtain_model::{Fd, Process, Snapshot, Socket};
use std::collections::HashMap;

/// One line of the process tree: the process, how deep it is, whether it is the last of its
/// siblings (for drawing), and whether it heads a part of the tree no root reaches.
#[derive(Debug, Clone, Copy)]
pub struct TreeRow<'a> {
    pub process: &'a Process,
    pub depth: usize,
    pub last: bool,
    pub unreachable: bool,
}

pub struct Index<'a> {
    pub snap: &'a Snapshot,
    by_pid: HashMap<u32, usize>,
    children: HashMap<u32, Vec<usize>>,
    fds_by_pid: HashMap<u32, Vec<usize>>,
    socket_by_inode: HashMap<u64, usize>,
    pub containers: Vec<Container>,
    container_of: HashMap<u32, usize>,
}

impl<'a> Index<'a> {
    pub fn new(snap: &'a Snapshot) -> Index<'a> {
        let by_pid: HashMap<u32, usize> = snap.processes.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
        let mut children: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, p) in snap.processes.iter().enumerate() {
            if let Some(pp) = p.ppid.filter(|&pp| pp != p.pid) {
                children.entry(pp).or_default().push(i);
            }
        }
        for v in children.values_mut() {
            v.sort_by_key(|&i| (snap.processes[i].starttime_ticks, snap.processes[i].pid));
        }
        let mut fds_by_pid: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, f) in snap.fds.iter().enumerate() {
            fds_by_pid.entry(f.pid).or_default().push(i);
        }
        let socket_by_inode = snap.sockets.iter().enumerate().map(|(i, s)| (s.inode, i)).collect();
        let containers = container::group(snap, &by_pid);
        let mut container_of = HashMap::new();
        for (ci, c) in containers.iter().enumerate() {
            for pid in &c.pids {
                container_of.insert(*pid, ci);
            }
        }
        Index { snap, by_pid, children, fds_by_pid, socket_by_inode, containers, container_of }
    }

    pub fn process(&self, pid: u32) -> Option<&'a Process> {
        self.by_pid.get(&pid).map(|&i| &self.snap.processes[i])
    }

    /// The parent in the snapshot; none for PID 1, for a process parented by itself, and when
    /// `stat` could not be read (no parent is known then, not pid 0).
    pub fn parent(&self, p: &Process) -> Option<&'a Process> {
        match p.ppid {
            Some(pp) if pp != 0 && pp != p.pid => self.process(pp),
            _ => None,
        }
    }

    /// Parent, grandparent... up to the root, or until the chain comes back on itself (a cycle
    /// in hostile data): every ancestor once, however long the chain.
    pub fn ancestors(&self, p: &Process) -> Vec<&'a Process> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::from([p.pid]);
        let mut cur = self.parent(p);
        while let Some(a) = cur {
            if !seen.insert(a.pid) {
                break;
            }
            out.push(a);
            cur = self.parent(a);
        }
        out
    }

    /// Children of `pid`, oldest first.
    pub fn children(&self, pid: u32) -> impl Iterator<Item = &'a Process> + '_ {
        self.children.get(&pid).into_iter().flatten().map(|&i| &self.snap.processes[i])
    }

    /// Processes whose parent is not in the snapshot (PID 1, kthreadd, orphans of other pid
    /// namespaces), oldest first.
    pub fn roots(&self) -> Vec<&'a Process> {
        let mut r: Vec<&Process> = self.snap.processes.iter().filter(|p| self.parent(p).is_none()).collect();
        r.sort_by_key(|p| (p.starttime_ticks, p.pid));
        r
    }

    /// Every process but kernel threads in tree order (depth first, oldest first at each level),
    /// each once: from the roots, then from each process left unreached (one whose ancestors
    /// loop back on themselves in hostile data), marked as such. Walked with a stack, not
    /// recursion: a chain of tens of thousands of processes is just rows.
    pub fn tree_rows(&self) -> Vec<TreeRow<'a>> {
        self.tree_rows_where(&|_| true)
    }

    /// The tree of one container (or the host): its processes, each headed by its nearest
    /// ancestor in it, so that a container's init is a root of its own. The host first, then
    /// each container; a single group when the snapshot has only one.
    pub fn tree_groups(&self) -> Vec<(&Container, Vec<TreeRow<'a>>)> {
        self.containers
            .iter()
            .map(|c| {
                let members: std::collections::HashSet<u32> = c.pids.iter().copied().collect();
                (c, self.tree_rows_where(&|p: &Process| members.contains(&p.pid)))
            })
            .filter(|(_, rows)| !rows.is_empty())
            .collect()
    }

    /// [`Self::tree_rows`] over the processes `keep` takes, a process whose parent it does not
    /// take being a root.
    fn tree_rows_where(&self, keep: &dyn Fn(&Process) -> bool) -> Vec<TreeRow<'a>> {
        let mut rows = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut roots: Vec<&'a Process> =
            self.snap.processes.iter().filter(|p| keep(p) && self.parent(p).is_none_or(|pp| !keep(pp))).collect();
        roots.sort_by_key(|p| (p.starttime_ticks, p.pid));
        let mut starts: Vec<(&'a Process, bool)> =
            roots.into_iter().rev().filter(|p| !p.kernel_thread).map(|p| (p, false)).collect();
        let mut rest: Vec<&'a Process> = self.snap.processes.iter().filter(|p| !p.kernel_thread && keep(p)).collect();
        rest.sort_by_key(|p| (p.starttime_ticks, p.pid));
        let mut stack: Vec<(&'a Process, usize, bool)> = Vec::new();
        let mut next_rest = 0;
        loop {
            let (root, looped) = match starts.pop() {
                Some(s) => s,
                None => {
                    // The roots are done: whatever is left was unreachable from them.
                    while next_rest < rest.len() && seen.contains(&rest[next_rest].pid) {
                        next_rest += 1;
                    }
                    match rest.get(next_rest) {
                        Some(p) => (*p, true),
                        None => break,
                    }
                }
            };
            stack.push((root, 0, true));
            while let Some((p, depth, last)) = stack.pop() {
                if !seen.insert(p.pid) {
                    continue;
                }
                rows.push(TreeRow { process: p, depth, last, unreachable: looped && depth == 0 });
                let kids: Vec<&'a Process> =
                    self.children(p.pid).filter(|c| !c.kernel_thread && keep(c) && !seen.contains(&c.pid)).collect();
                let n = kids.len();
                for (i, c) in kids.into_iter().enumerate().rev() {
                    stack.push((c, depth + 1, i + 1 == n));
                }
            }
        }
        rows
    }

    pub fn fds(&self, pid: u32) -> impl Iterator<Item = &'a Fd> + '_ {
        self.fds_by_pid.get(&pid).into_iter().flatten().map(|&i| &self.snap.fds[i])
    }

    pub fn socket(&self, inode: u64) -> Option<&'a Socket> {
        self.socket_by_inode.get(&inode).map(|&i| &self.snap.sockets[i])
    }

    /// Each fd of `pid` that is a socket listed in a table, with that socket.
    pub fn sockets_of(&self, pid: u32) -> Vec<(&'a Fd, &'a Socket)> {
        self.fds(pid).filter_map(|f| Some((f, self.socket(f.socket_inode?)?))).collect()
    }

    pub fn container_of(&self, pid: u32) -> Option<&Container> {
        self.container_of.get(&pid).map(|&i| &self.containers[i])
    }

    /// The host's pid namespace: the one kernel threads show in (none in a container's own
    /// snapshot).
    pub fn host_pidns(&self) -> Option<u64> {
        self.snap.processes.iter().find(|p| p.kernel_thread).and_then(|p| p.ns.pid)
    }

    /// The host's own namespaces, when the snapshot is the host's: its PID 1's, or where those
    /// could not be read (a PID 1 that guards its links) a kernel thread's, which are the same.
    pub fn host_ns(&self) -> Option<&'a curtain_model::Namespaces> {
        let ns = self.host_pidns()?;
        let init = self.process(1).filter(|p| p.ns.pid == Some(ns) && !p.kernel_thread && p.ns.mnt.is_some());
        init.or_else(|| self.snap.processes.iter().find(|p| p.kernel_thread && p.ns.mnt.is_some())).map(|p| &p.ns)
    }

    /// The init of the container `pid` runs in.
    pub fn init_of(&self, pid: u32) -> Option<&'a Process> {
        self.container_of(pid).and_then(|c| c.init_pid).and_then(|i| self.process(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{process, snapshot};

    fn order(s: &Snapshot) -> Vec<(u32, usize, bool)> {
        Index::new(s).tree_rows().iter().map(|r| (r.process.pid, r.depth, r.unreachable)).collect()
    }

    #[test]
    fn every_process_once_in_tree_order() {
        let s = snapshot(
            vec![
                process(1, 0, "init", "/sbin/init"),
                process(5, 1, "b", "/b"),
                process(3, 1, "a", "/a"),
                process(7, 3, "c", "/c"),
            ],
            vec![],
            vec![],
        );
        // Oldest first at each level (the kit's processes start in pid order).
        assert_eq!(order(&s), [(1, 0, false), (3, 1, false), (7, 2, false), (5, 1, false)]);
    }

    #[test]
    fn a_chain_of_20000_is_walked_without_recursion() {
        let n = 20_000u32;
        let procs = (1..=n).map(|pid| process(pid, pid - 1, "x", "/x")).collect();
        let s = snapshot(procs, vec![], vec![]);
        let rows = order(&s);
        assert_eq!(rows.len(), n as usize);
        assert_eq!(rows.last(), Some(&(n, n as usize - 1, false)));
        let ix = Index::new(&s);
        assert_eq!(ix.ancestors(ix.process(n).unwrap()).len(), n as usize - 1, "every ancestor, no cap");
    }

    #[test]
    fn cycles_and_self_parents_are_listed_not_lost() {
        let s = snapshot(
            vec![
                process(1, 0, "init", "/sbin/init"),
                // Parented by itself, with a child.
                process(40, 40, "selfish", "/s"),
                process(41, 40, "kid", "/k"),
                // Two processes each the other's parent.
                process(50, 51, "ping", "/p"),
                process(51, 50, "pong", "/q"),
            ],
            vec![],
            vec![],
        );
        let rows = order(&s);
        let pids: Vec<u32> = rows.iter().map(|r| r.0).collect();
        assert_eq!(pids, [1, 40, 41, 50, 51]);
        assert_eq!(rows[1], (40, 0, false), "parented by itself: a root of its own");
        assert_eq!(rows[3], (50, 0, true), "a loop is entered once, and said to be one");
        assert_eq!(rows[4], (51, 1, false));
        let ix = Index::new(&s);
        assert_eq!(ix.ancestors(ix.process(50).unwrap()).iter().map(|p| p.pid).collect::<Vec<_>>(), [51]);
    }

    #[test]
    fn no_stat_means_no_parent() {
        let mut orphan = process(9, 1, "x", "/x");
        orphan.ppid = None;
        let s = snapshot(vec![process(1, 0, "init", "/sbin/init"), orphan], vec![], vec![]);
        let ix = Index::new(&s);
        assert!(ix.parent(ix.process(9).unwrap()).is_none());
        assert_eq!(order(&s), [(1, 0, false), (9, 0, false)]);
    }
}
