//! Lookups over one snapshot: processes by pid, the tree, descriptors and sockets of a process,
//! and the container each process belongs to. Built once, shared by every detector.

use crate::container::{self, Container};
use curtain_model::{Fd, Process, Snapshot, Socket};
use std::collections::HashMap;

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
            if p.ppid != p.pid {
                children.entry(p.ppid).or_default().push(i);
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

    pub fn parent(&self, p: &Process) -> Option<&'a Process> {
        if p.ppid == 0 || p.ppid == p.pid {
            return None;
        }
        self.process(p.ppid)
    }

    /// Parent, grandparent... up to the root (bounded, in case of a cycle in hostile data).
    pub fn ancestors(&self, p: &Process) -> Vec<&'a Process> {
        let mut out = Vec::new();
        let mut cur = self.parent(p);
        while let Some(a) = cur {
            if out.len() > 4096 || out.iter().any(|x: &&Process| x.pid == a.pid) {
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
        let mut r: Vec<&Process> =
            self.snap.processes.iter().filter(|p| p.ppid == 0 || self.process(p.ppid).is_none()).collect();
        r.sort_by_key(|p| (p.starttime_ticks, p.pid));
        r
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

    /// The init of the container `pid` runs in.
    pub fn init_of(&self, pid: u32) -> Option<&'a Process> {
        self.container_of(pid).and_then(|c| c.init_pid).and_then(|i| self.process(i))
    }
}
