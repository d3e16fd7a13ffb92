//! The process step: one process's reads become its row in `processes`, its rows in `fds` and
//! `maps`, and an error row for each field that could not be read.

use crate::builder::error;
use crate::read::{Bytes, ProcFile, ProcessRead, LINK_NAMES};
use crate::row::{ExeRow, ProcRow, Slot};
use crate::sink::{RowSink, Table};
use crate::{proc, Context, Tables};
use curtain_model::{ErrorKind, FdKind};

impl<S: RowSink> Tables<S> {
    /// Builds the process row and its fds and maps from what was read of it.
    pub fn add_process<'a>(&mut self, raw: &ProcessRead<'a>, ctx: &Context) {
        let pid = raw.pid;
        let mut p = ProcRow { pid, ..Default::default() };
        // The kept mappings: parsed here, or the last process's rows (the same bytes).
        let mut maps = Vec::new();
        let mut maps_repeated = false;
        let mut errs = Vec::new();

        let mut kernel_thread = false;
        match raw.file(ProcFile::Stat) {
            Some(Ok(b)) => match proc::parse_stat(b) {
                Ok(st) => {
                    p.ppid = u32::try_from(st.ppid).ok();
                    p.starttime_ticks = Some(st.starttime);
                    p.started_at_ns = ctx.clock.ticks_to_wall_ns(st.starttime);
                    p.comm = Some(st.comm);
                    p.state = Some(st.state as char);
                    p.pgrp = Some(st.pgrp);
                    p.session = Some(st.session);
                    p.tty_nr = Some(st.tty_nr);
                    p.threads = u32::try_from(st.num_threads).ok();
                    kernel_thread = st.flags & proc::PF_KTHREAD != 0;
                }
                Err(e) => errs.push(("stat", "stat", ErrorKind::Parse, Some(e.0))),
            },
            Some(Err(k)) => errs.push(("stat", "stat", k, None)),
            None => {}
        }
        p.kernel_thread = kernel_thread;
        p.vanished = raw.vanished(kernel_thread);
        // A kernel thread has no memory, exe, cwd or root: ENOENT and ESRCH there are expected.
        let quiet = |k: ErrorKind| kernel_thread && matches!(k, ErrorKind::ENOENT | ErrorKind::ESRCH);

        match raw.file(ProcFile::Status) {
            Some(Ok(b)) => {
                let st = proc::parse_status(b);
                if let Some(u) = st.uid {
                    (p.uid, p.euid) = (Some(u[0]), Some(u[1]));
                }
                if let Some(g) = st.gid {
                    (p.gid, p.egid) = (Some(g[0]), Some(g[1]));
                }
                p.cap_eff = st.cap_eff;
                p.tracer_pid = st.tracer_pid;
                p.nspid = st.nspid().collect();
                p.seccomp = st.seccomp;
                if p.threads.is_none() {
                    p.threads = st.threads;
                }
            }
            Some(Err(k)) => errs.push(("status", "status", k, None)),
            None => {}
        }

        // A read the row keeps as it is: its bytes, or its error unless it is expected.
        type Errs = Vec<(&'static str, &'static str, ErrorKind, Option<String>)>;
        let kept = |got: Option<Bytes<'a>>, name: &'static str, errs: &mut Errs| -> Option<&'a [u8]> {
            match got {
                Some(Ok(b)) => Some(b),
                Some(Err(k)) if !quiet(k) => {
                    errs.push((name, name, k, None));
                    None
                }
                _ => None,
            }
        };
        p.cmdline = kept(raw.file(ProcFile::Cmdline), "cmdline", &mut errs);
        p.environ = kept(raw.file(ProcFile::Environ), "environ", &mut errs);

        match raw.file(ProcFile::Cgroup) {
            Some(Ok(b)) => match proc::cgroup_lines(b) {
                Ok(_) => p.cgroup = Some(b),
                Err(e) => errs.push(("cgroup", "cgroup", ErrorKind::Parse, Some(e.0))),
            },
            Some(Err(k)) => errs.push(("cgroup", "cgroup", k, None)),
            None => {}
        }

        match raw.file(ProcFile::Maps) {
            Some(Ok(b)) if self.repeats.is_last(Slot::Maps, b) => maps_repeated = true,
            Some(Ok(b)) => match proc::maps_kept(b) {
                Ok(m) => {
                    // Kept for the next process, as the rows after their pid, one a line.
                    self.repeats.keep(Slot::Maps, b, |json| {
                        for m in &m {
                            crate::row::map_row_tail(json, m);
                            json.push(b'\n');
                        }
                    });
                    maps_repeated = self.repeats.is_last(Slot::Maps, b);
                    maps = m;
                }
                Err(e) => errs.push(("maps", "maps", ErrorKind::Parse, Some(e.0))),
            },
            Some(Err(k)) if !quiet(k) => errs.push(("maps", "maps", k, None)),
            _ => {}
        }

        match raw.link("exe") {
            Some(Ok(path)) => {
                let mut exe = ExeRow { path, stat: None };
                match raw.exe {
                    Some(Ok(st)) => exe.stat = Some(st),
                    Some(Err(k)) => errs.push(("exe_file", "exe", k, None)),
                    None => {}
                }
                p.exe = Some(exe);
            }
            Some(Err(k)) if !quiet(k) => errs.push(("exe", "exe", k, None)),
            _ => {}
        }
        p.cwd = kept(raw.link("cwd"), "cwd", &mut errs);
        p.root = kept(raw.link("root"), "root", &mut errs);
        for (ns, key) in curtain_model::NAMESPACE_NAMES.iter().zip(&LINK_NAMES[3..]) {
            match raw.link(key) {
                Some(Ok(t)) => match proc::parse_ns_link(t) {
                    Some(inode) => p.ns.set(ns, inode),
                    None => errs.push((key, key, ErrorKind::Parse, Some(String::from_utf8_lossy(t).into_owned()))),
                },
                // Older kernels lack some namespaces (time, cgroup): not worth an error row.
                Some(Err(ErrorKind::ENOENT)) if *ns == "time" || *ns == "cgroup" => {}
                Some(Err(k)) => errs.push((key, key, k, None)),
                None => {}
            }
        }

        let mut fd_errors = Vec::new();
        match &raw.fds {
            Some(Ok(list)) => {
                p.fd_count = Some(list.len() as u32);
                // Written as they come: a process may hold hundreds of thousands.
                for (fd, target) in list {
                    match target {
                        Ok(t) => {
                            let (kind, socket_inode) = proc::classify_fd(t);
                            if let (FdKind::Socket, Some(inode)) = (kind, socket_inode) {
                                self.owners.push((inode, curtain_model::Owner { pid, fd: *fd }));
                            }
                            self.scratch.clear();
                            crate::row::fd_row(&mut self.scratch, pid, *fd, t, kind, socket_inode);
                            self.sink.row(Table::Fds, &self.scratch);
                            self.counts.fds += 1;
                        }
                        // Closed between listing and reading: an fd that is no longer there.
                        Err(ErrorKind::ENOENT) => {}
                        Err(k) => fd_errors.push((*fd, *k)),
                    }
                }
            }
            Some(Err(k)) => errs.push(("fd", "fd", *k, None)),
            None => {}
        }

        // In name order, as they always were.
        let mut truncated: Vec<&'static str> =
            ProcFile::ALL.iter().zip(raw.truncated).filter(|(_, t)| *t).map(|(f, _)| f.name()).collect();
        truncated.sort_unstable();
        for (field, path, kind, detail) in errs {
            p.error(field, kind);
            self.push_error(error(Some(pid), format!("{pid}/{path}"), kind, detail));
        }
        for (fd, kind) in fd_errors {
            p.error("fd", kind);
            self.push_error(error(Some(pid), format!("{pid}/fd/{fd}"), kind, None));
        }
        for name in truncated {
            p.error(name, ErrorKind::Truncated);
            self.push_error(error(Some(pid), format!("{pid}/{name}"), ErrorKind::Truncated, None));
        }
        if p.vanished {
            self.push_error(error(Some(pid), format!("{pid}"), ErrorKind::Vanished, None));
        }
        self.label(&mut p);
        self.hosts.observe(&p);

        self.counts.processes += 1;
        self.counts.kernel_threads += p.kernel_thread as u64;
        if let Some(h) = p.exe.and_then(|e| e.stat?.sha256.as_ref()) {
            if !self.hashes.contains(h) {
                self.hashes.insert(h.clone());
            }
        }
        if maps_repeated {
            for tail in self.repeats.json(Slot::Maps).split(|&c| c == b'\n').filter(|t| !t.is_empty()) {
                self.scratch.clear();
                crate::row::map_row_head(&mut self.scratch, pid);
                self.scratch.extend_from_slice(tail);
                self.sink.row(Table::Maps, &self.scratch);
                self.counts.maps += 1;
            }
        } else {
            for m in &maps {
                self.scratch.clear();
                crate::row::map_row(&mut self.scratch, pid, m);
                self.sink.row(Table::Maps, &self.scratch);
            }
            self.counts.maps += maps.len() as u64;
        }
        self.scratch.clear();
        p.write_json_with(&mut self.scratch, &mut self.repeats);
        self.sink.row(Table::Processes, &self.scratch);
        if self.scratch.capacity() > 1 << 16 {
            // A huge environment made it big: not kept for the rest.
            self.scratch = Vec::with_capacity(1 << 12);
        }
        if p.pid == 1 || Some(p.pid) == self.labels.self_pid {
            self.kept.push(p.to_process());
        }
    }
}
