//! On a host, the containers named: what the container runtimes keep on disk about each
//! container the processes' cgroups named (docker's config.v2.json and hostconfig.json under
//! each daemon's data root, the kubelet's /var/log/pods layout) and what the ECS agent's
//! introspection API says, read once each after the walk, kept under `raw/` and logged in
//! `raw/reads.jsonl` so that `reparse` rebuilds `tables/containers.jsonl` from them.
//!
//! These are files of the collector's own root, not of the proc tree: they are read only when
//! the proc root is the live /proc of the collector's own pid namespace, and otherwise one
//! record says why they were not.

use crate::pipeline::Writer;
use curtain_model::{ErrorKind, RawOp, RawRecord};
use curtain_tables::containers::{clean_path, host_member, AGENT_MEMBER, AGENT_TASKS, POD_LOGS};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

/// Largest host file kept (a container's config.v2.json is a few KiB).
pub const MAX_HOST_FILE: u64 = 4 << 20;
/// Most names kept of a directory listing.
const MAX_ENTRIES: usize = 100_000;
/// The ECS agent's introspection API on an ECS container instance.
pub const DEFAULT_AGENT_URI: &str = "http://127.0.0.1:51678";
/// The environment variable that names another agent address (tests, a non-default port).
pub const AGENT_URI_ENV: &str = "CURTAIN_ECS_AGENT_URI";

fn kind_of(e: &io::Error) -> ErrorKind {
    match e.raw_os_error() {
        Some(n) => crate::walk::errno_kind(rustix::io::Errno::from_raw_os_error(n)),
        None => ErrorKind::Other,
    }
}

/// Reads one host file (regular only, never blocking on a FIFO, at most [`MAX_HOST_FILE`]).
fn read_host(path: &str) -> (RawRecord, Option<Vec<u8>>) {
    let mut rec = RawRecord::new(RawOp::Host, path.to_string());
    let got = (|| -> io::Result<(Vec<u8>, bool)> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32)
            .open(path)?;
        if !f.metadata()?.is_file() {
            return Err(io::Error::other("not_regular"));
        }
        let mut buf = Vec::new();
        f.take(MAX_HOST_FILE + 1).read_to_end(&mut buf)?;
        let truncated = buf.len() as u64 > MAX_HOST_FILE;
        buf.truncate(MAX_HOST_FILE as usize);
        Ok((buf, truncated))
    })();
    match got {
        Ok((b, truncated)) => {
            rec.size = Some(b.len() as u64);
            rec.truncated = truncated;
            (rec, Some(b))
        }
        Err(e) => {
            rec.error = Some(if e.to_string() == "not_regular" { ErrorKind::NotRegular } else { kind_of(&e) });
            rec.errno = e.raw_os_error();
            if rec.error == Some(ErrorKind::Other) {
                rec.detail = Some(e.to_string());
            }
            (rec, None)
        }
    }
}

/// Lists one host directory (names only, sorted).
fn list_host(path: &str) -> RawRecord {
    let mut rec = RawRecord::new(RawOp::Hostlist, path.to_string());
    match std::fs::read_dir(path) {
        Ok(rd) => {
            let mut names: Vec<String> =
                rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).take(MAX_ENTRIES).collect();
            names.sort();
            rec.entries = Some(names);
        }
        Err(e) => {
            rec.error = Some(kind_of(&e));
            rec.errno = e.raw_os_error();
        }
    }
    rec
}

/// Where the host's files are read from, or why they are not.
pub enum Mode {
    /// The live /proc of the collector's own pid namespace: its own root is the host's view.
    Live { agent_uri: String, timeout: Duration },
    /// Not read: the reason, kept as one record.
    Skipped(&'static str),
}

/// Reads what the host keeps of the containers found, through `w` (members, the read log and
/// the tables, as `reparse` replays them).
pub fn collect<W: Write>(w: &mut Writer<'_, W>, mode: &Mode) -> io::Result<()> {
    let (agent_uri, timeout) = match mode {
        Mode::Live { agent_uri, timeout } => (agent_uri, *timeout),
        Mode::Skipped(why) => {
            let mut rec = RawRecord::new(RawOp::Host, "/".into());
            rec.error = Some(ErrorKind::NotFollowed);
            rec.detail = Some((*why).into());
            take(w, rec, None)?;
            return Ok(());
        }
    };
    let plan = w.tables.host_plan();
    if plan.docker_ids.is_empty() && plan.pod_uids.is_empty() {
        return Ok(());
    }
    if !plan.docker_ids.is_empty() {
        for path in plan.daemon_json_paths() {
            if std::path::Path::new(&path).exists() {
                let (rec, bytes) = read_host(&path);
                take(w, rec, bytes)?;
            }
        }
        for root in w.tables.data_roots() {
            for id in &plan.docker_ids {
                let dir = format!("{root}/containers/{id}");
                if !clean_path(&dir) || !std::path::Path::new(&dir).is_dir() {
                    continue;
                }
                for file in ["config.v2.json", "hostconfig.json"] {
                    let (rec, bytes) = read_host(&format!("{dir}/{file}"));
                    take(w, rec, bytes)?;
                }
            }
        }
    }
    if !plan.pod_uids.is_empty() && std::path::Path::new(POD_LOGS).is_dir() {
        let rec = list_host(POD_LOGS);
        let pods: Vec<String> = rec
            .entries
            .iter()
            .flatten()
            .filter(|e| {
                curtain_parse::host::pod_dir(e).is_some_and(|(_, _, uid)| plan.pod_uids.iter().any(|u| u == uid))
            })
            .cloned()
            .collect();
        take(w, rec, None)?;
        for p in pods {
            take(w, list_host(&format!("{POD_LOGS}/{p}")), None)?;
        }
    }
    if !plan.docker_ids.is_empty() {
        let url = format!("{}/v1/tasks", agent_uri.trim_end_matches('/'));
        let mut rec = RawRecord::new(RawOp::Http, AGENT_TASKS.into());
        let body = match crate::http::get(&url, timeout) {
            Ok(body) => {
                rec.size = Some(body.len() as u64);
                Some(body)
            }
            Err(e) => {
                rec.error = Some(ErrorKind::Other);
                rec.detail = Some(format!("GET {url}: {e}"));
                None
            }
        };
        take(w, rec, body)?;
    }
    Ok(())
}

/// Writes one read: its member (indexed under raw/host/, or the agent's answer beside the ECS
/// documents), its record, and what the tables make of it.
fn take<W: Write>(w: &mut Writer<'_, W>, rec: RawRecord, bytes: Option<Vec<u8>>) -> io::Result<()> {
    if let Some(b) = &bytes {
        if rec.op == RawOp::Http {
            w.archive.append(AGENT_MEMBER, b)?;
        } else if let Some(name) = host_member(&rec.path) {
            w.archive.append_indexed(&name, b, None)?;
            w.raw_bytes += b.len() as u64;
        }
    }
    w.record(&rec);
    w.tables.add_host(&rec, bytes.as_deref());
    w.flush_parts()
}
