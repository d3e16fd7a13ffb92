//! The archive of a shell capture, built off the target: laid out as the collector lays out its
//! own (raw files under `raw/proc/`, the read log, the tables, the index and the manifest), with
//! the tables made by [`curtain_tables::replay::rebuild`], the function `curtain reparse` replays
//! an archive through. So `curtain verify` and `curtain reparse` treat it as any collection.

use crate::capture::{Capture, Rec};
use curtain_archive::parts::{Parts, READS};
use curtain_archive::{ArchiveWriter, Compression};
use curtain_model::{
    format_rfc3339_ns, Acquisition, ByteString, Clock, CollectOptions, Collector, Label, Manifest, ProcRootKind,
    Process, RawOp,
};
use curtain_tables::replay::{member_of, rebuild};
use curtain_tables::{Context, MemorySink, Table};
use std::collections::HashMap;
use std::io::{self, Write};

/// Machines whose /proc/net tables print addresses as big-endian words.
const BIG_ENDIAN_MACHINES: [&str; 8] = ["s390", "s390x", "ppc", "ppc64", "mips", "mips64", "sparc", "sparc64"];

/// The clocks and host constants of a capture. `page_size` when `getconf` was missing: from the
/// script's own process, whose `status` gives its resident set in kB and whose `stat` gives it
/// in pages.
fn clock_of(c: &Capture) -> Clock {
    let self_page = || -> Option<u64> {
        let p = c.processes.iter().find(|p| Some(p.pid) == c.self_pid)?;
        let bytes = |name: &str| p.records.iter().find(|r| r.raw.path.ends_with(name)).and_then(|r| r.bytes.as_ref());
        let stat = bytes("/stat")?;
        let after = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
        // Field 24 (rss) is the 22nd after the comm.
        let rss: u64 = std::str::from_utf8(after).ok()?.split_whitespace().nth(21)?.parse().ok()?;
        let status = String::from_utf8_lossy(bytes("/status")?).into_owned();
        let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
        (rss > 0).then(|| (kb * 1024 / rss).next_power_of_two()).filter(|p| (4096..=1 << 20).contains(p))
    };
    let clk_tck = c.clk_tck.unwrap_or(100);
    let page_size = c.page_size.or_else(self_page).unwrap_or(4096);
    let little_endian =
        c.little_endian.unwrap_or_else(|| !c.machine.as_deref().is_some_and(|m| BIG_ENDIAN_MACHINES.contains(&m)));
    let btime = c
        .global
        .iter()
        .find(|r| r.raw.op == RawOp::Read && r.raw.path == "stat")
        .and_then(|r| r.bytes.as_deref())
        .and_then(|b| curtain_parse::parse_btime(b, clk_tck, page_size));
    Clock {
        realtime_start_ns: c.realtime_start_ns,
        boottime_start_ns: c.boottime_start_ns,
        realtime_end_ns: c.realtime_end_ns,
        boottime_end_ns: c.boottime_end_ns,
        btime,
        clk_tck,
        page_size,
        little_endian,
        start_basis: None,
    }
}

/// The read log and the bytes of each member, processes in `order`.
fn raw_part<'c>(c: &'c Capture, order: &[usize]) -> (Vec<u8>, Vec<(String, &'c [u8])>) {
    let mut reads = Vec::new();
    let mut members = Vec::new();
    let mut put = |r: &'c Rec| {
        serde_json::to_writer(&mut reads, &r.raw).expect("serialise record");
        reads.push(b'\n');
        if let (Some(name), Some(bytes)) = (member_of(&r.raw), r.bytes.as_deref()) {
            members.push((name, bytes));
        }
    };
    for r in &c.global {
        put(r);
    }
    for &i in order {
        for r in &c.processes[i].records {
            put(r);
        }
    }
    (reads, members)
}

fn tables(c: &Capture, order: &[usize], ctx: &Context) -> io::Result<(curtain_tables::Tables<MemorySink>, Vec<u8>)> {
    let (reads, members) = raw_part(c, order);
    let by_name: HashMap<&str, &[u8]> = members.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    let t = rebuild(&reads, |name| by_name.get(name).copied(), ctx, MemorySink::default())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    Ok((t, reads))
}

/// The order the collector reads in: itself, then its ancestors as long as they are the
/// responder's session (and the first one that is not), then every other pid in order. The
/// labels the builder gives on a first pass (itself first, then the rest) say which ancestors
/// those are.
fn collector_order(c: &Capture, ctx: &Context) -> io::Result<Vec<usize>> {
    let index: HashMap<u32, usize> = c.processes.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
    let mut by_pid: Vec<usize> = (0..c.processes.len()).collect();
    by_pid.sort_by_key(|&i| c.processes[i].pid);
    let Some(&me) = c.self_pid.and_then(|p| index.get(&p)) else { return Ok(by_pid) };
    let first: Vec<usize> = std::iter::once(me).chain(by_pid.iter().copied().filter(|&i| i != me)).collect();
    let (t, _) = tables(c, &first, ctx)?;
    let rows: Vec<Process> = t.sink.rows(Table::Processes);
    let row: HashMap<u32, &Process> = rows.iter().map(|p| (p.pid, p)).collect();
    let mut chain = vec![me];
    let mut at = c.processes[me].pid;
    while let Some(parent) = row.get(&at).and_then(|p| p.ppid).filter(|&pp| pp > 1) {
        let Some(&i) = index.get(&parent) else { break };
        if chain.contains(&i) {
            break;
        }
        chain.push(i);
        if row.get(&parent).and_then(|p| p.label) != Some(Label::Responder) {
            break;
        }
        at = parent;
    }
    Ok(chain.iter().copied().chain(by_pid.into_iter().filter(|i| !chain.contains(i))).collect())
}

/// Writes the zstd evidence archive of `capture` to `out`: raw files, read log, tables rebuilt
/// from them off the target, and a manifest with `acquisition` (its `method` and
/// `tables_built_off_target` set here). Returns the output, the SHA-256 of the bytes written and
/// their count.
pub fn build_archive<W: Write>(capture: &Capture, acquisition: Acquisition, out: W) -> io::Result<(W, String, u64)> {
    let clock = clock_of(capture);
    let ctx = Context { clock: clock.clone() };
    let order = collector_order(capture, &ctx)?;
    let (mut t, reads) = tables(capture, &order, &ctx)?;
    let (_, members) = raw_part(capture, &order);

    let mut a = ArchiveWriter::new(out, Compression::Zstd, clock.realtime_start_ns / 1_000_000_000)?;
    let mut raw_bytes = 0u64;
    for (name, bytes) in &members {
        a.append_indexed(name, bytes, None)?;
        raw_bytes += bytes.len() as u64;
    }
    let mut parts = Parts::new();
    for line in reads.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        parts.push(READS, line);
    }
    for table in Table::ALL {
        for line in t.sink.tables[table.index()].split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            parts.push(table.index(), line);
        }
    }
    for (name, body) in parts.finish() {
        a.append(&name, &body)?;
    }
    a.close_index()?;

    let mut counts = t.counts();
    counts.raw_bytes = raw_bytes;
    let errors_by_kind = t.errors_by_kind();
    let rows: Vec<Process> = std::mem::take(&mut t.sink).rows(Table::Processes);
    let me = rows.iter().find(|p| Some(p.pid) == capture.self_pid);
    let mut acquisition = acquisition;
    acquisition.method = "shell".into();
    acquisition.tables_built_off_target = true;
    let manifest = Manifest {
        format_version: curtain_model::FORMAT_VERSION,
        tool: "curtain".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        argv: vec![
            ByteString::from(b"sh".to_vec()),
            ByteString::from(format!("(curtain shell method script, sha256 {})", crate::script_sha256()).into_bytes()),
        ],
        collector: Collector {
            pid: capture.self_pid.unwrap_or(0),
            uid: me.and_then(|p| p.uid).unwrap_or(0),
            euid: me.and_then(|p| p.euid).unwrap_or(0),
            cap_eff: me.and_then(|p| p.cap_eff.clone()),
            ns: me.map(|p| p.ns.clone()).unwrap_or_default(),
            cgroup: me.and_then(|p| p.cgroup.clone()),
        },
        hostname: capture.nodename.clone().unwrap_or_default(),
        kernel_release: capture.release.clone().unwrap_or_default(),
        machine: capture.machine.clone(),
        started_at: format_rfc3339_ns(clock.realtime_start_ns),
        ended_at: format_rfc3339_ns(clock.realtime_end_ns),
        clock,
        partial: None,
        ecs: None,
        options: CollectOptions {
            proc_root: "/proc".into(),
            carve_exe: None,
            no_environ: capture.no_environ,
            proc_root_kind: Some(ProcRootKind::Procfs),
            time_budget_ms: None,
        },
        counts,
        errors_by_kind,
        members: a.members().to_vec(),
        rebuilt_from: None,
        acquisition: Some(acquisition),
    };
    let body = serde_json::to_vec_pretty(&manifest).expect("serialise manifest");
    a.finish(&body)
}
