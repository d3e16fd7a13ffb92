//! The live side of curtain: reads a proc tree once and writes one evidence archive.
//!
//! [`collect`] walks the tree ([`walk`]), streams every byte it read into the archive as
//! `raw/proc/...`, builds the tables with the same pure code that `reparse` uses, and writes the
//! manifest last, through curtain-archive's writer; reading, verifying and rebuilding an archive
//! later are that crate's, which depends on nothing here.
//!
//! A proc root that is not a live procfs is a copy: read as data ([`walk`]), with nothing in it
//! taken as the collector (`self`) or as this machine's boot (its start times count from its own
//! `btime`). A collection stopped early ([`stop`]) still ends with a whole archive.

pub mod host;
pub mod http;
pub mod netlink;
pub mod pipeline;
pub mod stop;
pub mod walk;

use curtain_archive::{ArchiveWriter, Compression};
use curtain_model::{
    format_rfc3339_ns, ByteString, Clock, CollectOptions, Collector, ErrorKind, Manifest, Partial, ProcRootKind, RawOp,
    RawRecord, StartBasis,
};
use curtain_tables::Context;
use rustix::fs::{Mode, OFlags};
use std::io::{self, Write};
use std::time::Duration;

pub use curtain_archive::MANIFEST;
/// Default cap for `--carve-exe`.
pub const DEFAULT_CARVE: u64 = 64 << 20;

/// What `collect` needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    pub proc_root: String,
    pub carve_exe: Option<u64>,
    pub no_environ: bool,
    pub compression: Compression,
    /// The command line, kept in the manifest.
    pub argv: Vec<ByteString>,
    /// The ECS task metadata endpoint to query (from `ECS_CONTAINER_METADATA_URI_V4`); when
    /// `None`, PID 1's environment is looked at for it.
    pub ecs_uri: Option<String>,
    pub http_timeout: Duration,
    /// The ECS agent's introspection API on a container instance (`http://IP:PORT`); `None`:
    /// [`host::DEFAULT_AGENT_URI`].
    pub ecs_agent_uri: Option<String>,
    /// Threads reading processes; `None`: [`pipeline::default_jobs`].
    pub jobs: Option<usize>,
    /// Stop reading processes once this much time has passed since the start, and finish the
    /// archive with what was read (`partial` in the manifest).
    pub time_budget: Option<Duration>,
    /// How `curtain acquire` reached this target, kept in the manifest.
    pub acquisition: Option<curtain_model::Acquisition>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            proc_root: "/proc".into(),
            carve_exe: None,
            no_environ: false,
            compression: Compression::Zstd,
            argv: Vec::new(),
            ecs_uri: None,
            http_timeout: Duration::from_millis(1500),
            ecs_agent_uri: None,
            jobs: None,
            time_budget: None,
            acquisition: None,
        }
    }
}

/// The result of a collection.
#[derive(Debug)]
pub struct Outcome {
    pub manifest: Manifest,
    /// SHA-256 of the archive's bytes as written.
    pub sha256: String,
    pub bytes: u64,
    /// Members written, the manifest included.
    pub members: u64,
    /// Why the collection stopped before its end, if it did.
    pub stopped: Option<stop::Reason>,
    /// The rows of `tables/containers.jsonl`.
    pub containers: Vec<curtain_model::ContainerRow>,
}

fn now(id: rustix::time::ClockId) -> u64 {
    let t = rustix::time::clock_gettime(id);
    (t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64)
}

fn cstr(c: &std::ffi::CStr) -> String {
    c.to_string_lossy().into_owned()
}

/// Collects the proc tree of `opts.proc_root` into an archive written to `out`.
///
/// Fails only when the output cannot be written or the proc root cannot be opened; everything
/// that cannot be read inside the tree is recorded as data. Stopped early (a signal caught by
/// [`stop::Handlers`], `opts.time_budget` spent), it finishes the archive with what it read.
pub fn collect<W: Write + Send>(opts: &Options, out: W) -> io::Result<(Outcome, W)> {
    let started = std::time::Instant::now();
    // The two clocks back to back: realtime - boottime is the wall time of boot.
    let boottime_start_ns = now(rustix::time::ClockId::Boottime);
    let realtime_start_ns = now(rustix::time::ClockId::Realtime);
    let mut clock = Clock {
        realtime_start_ns,
        boottime_start_ns,
        clk_tck: rustix::param::clock_ticks_per_second(),
        page_size: rustix::param::page_size() as u64,
        little_endian: cfg!(target_endian = "little"),
        ..Default::default()
    };
    let root =
        rustix::fs::open(opts.proc_root.as_str(), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io::Error::other(format!("{}: {e}", opts.proc_root)))?;

    let mut archive = ArchiveWriter::new(out, opts.compression, realtime_start_ns / 1_000_000_000)?;
    let root_fd = rustix::fs::openat(&root, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(io::Error::from)?;
    let root_dir = rustix::fd::AsFd::as_fd(&root_fd);
    let kind = walk::root_kind(root_dir);
    // Who the collector is in this tree, before any process: it labels itself and its session.
    // In a copy, `self` names the collector of the machine it was copied from (or whatever the
    // copier chose): recorded with its target, not taken.
    let mut self_link = walk::read_link(root_dir, "self", "self".into());
    if kind == ProcRootKind::Copied && self_link.rec.error.is_none() {
        self_link.rec.error = Some(ErrorKind::NotFollowed);
        self_link.rec.detail = Some("copied tree: not taken as the collector".into());
    }
    let self_pid: Option<u32> = self_link
        .rec
        .target
        .as_ref()
        .filter(|_| self_link.rec.error.is_none())
        .and_then(|t| std::str::from_utf8(&t.0).ok()?.parse().ok());
    // Socket tables through netlink when this is the live proc tree of our own pid namespace.
    let home_netns = (kind == ProcRootKind::Procfs && self_pid == Some(std::process::id()))
        .then(|| {
            rustix::fs::openat(root_dir, "thread-self/ns/net", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()
        })
        .flatten();
    let walk_opts = walk::WalkOptions { no_environ: opts.no_environ, carve_exe: opts.carve_exe };
    let stop = stop::Stop::new(opts.time_budget.and_then(|b| started.checked_add(b)));
    let shared = walk::Shared::new(root, kind, walk_opts, home_netns, stop);
    let stop = &shared.stop;
    let mut reader = walk::Reader::new(&shared);
    let mut w = pipeline::Writer::new(&mut archive, Context { clock: clock.clone() });

    // As `reparse` replays it: a missing `self` (a copied tree) is no error row.
    w.record(&self_link.rec);
    w.tables.set_self_pid(self_pid);
    let stat = reader.read_file(root_dir, "stat", "stat".into());
    w.global(&stat)?;
    clock.btime = stat.result().ok().and_then(|b| curtain_parse::parse_btime(b, clock.clk_tck, clock.page_size));
    if kind == ProcRootKind::Copied {
        // A copy was booted elsewhere: its processes started after its own btime.
        clock.start_basis = Some(StartBasis::Btime);
        w.ctx.clock.btime = clock.btime;
        w.ctx.clock.start_basis = clock.start_basis;
    }
    let (listing, pids) = reader.list_numeric(root_dir, ".", ".".into());
    w.global(&listing)?;
    // Why it stopped, once seen: from then on nothing more is written, so that the archive
    // holds the processes of the list up to that point.
    let mut stopped: Option<stop::Reason> = None;
    let go_on = |stopped: &mut Option<stop::Reason>| {
        if stopped.is_none() {
            *stopped = stop.reason();
        }
        stopped.is_none()
    };
    // Itself first, then its ancestors as long as they are the responder's session, then the rest.
    if let Some(me) = self_pid.filter(|p| pids.binary_search(p).is_ok()) {
        if go_on(&mut stopped) {
            w.done.insert(me);
            w.take(reader.process(me))?;
        }
        while let Some(next) = w.tables.next_ancestor().filter(|p| pids.binary_search(p).is_ok() && !w.done.contains(p))
        {
            if !go_on(&mut stopped) {
                break;
            }
            w.done.insert(next);
            w.take(reader.process(next))?;
        }
    }
    drop(reader);
    let rest: Vec<u32> = pids.iter().copied().filter(|p| !w.done.contains(p)).collect();
    let jobs = opts.jobs.unwrap_or_else(pipeline::default_jobs);
    let mut processes_read = w.done.len() as u64;
    if stopped.is_none() {
        pipeline::walk(&shared, &rest, jobs, |b| {
            if !go_on(&mut stopped) {
                return Ok(());
            }
            processes_read += 1;
            w.take(b)
        })?;
    }
    if processes_read < pids.len() as u64 {
        // The readers saw the stop before the writer was handed another process.
        stopped = stopped.or_else(|| stop.reason());
    }

    // The containers named from the host's own files, when this is the host's live /proc.
    if go_on(&mut stopped) {
        let mode = if kind != ProcRootKind::Procfs {
            host::Mode::Skipped("the proc root is a copy: the collector's own files are not that machine's")
        } else if self_pid != Some(std::process::id()) {
            host::Mode::Skipped("the proc root is not the collector's own pid namespace's")
        } else if w.tables.counts().kernel_threads == 0 {
            // Inside a container: its root is the image's, not the host's.
            host::Mode::Skipped("not the host's pid namespace (no kernel thread visible)")
        } else {
            host::Mode::Live {
                agent_uri: opts.ecs_agent_uri.clone().unwrap_or_else(|| host::DEFAULT_AGENT_URI.into()),
                timeout: opts.http_timeout.min(Duration::from_millis(500)),
            }
        };
        host::collect(&mut w, &mode)?;
    }

    // ECS identity: our own environment, else the container's init's.
    let ecs_uri = opts.ecs_uri.clone().or_else(|| {
        let init = w.tables.kept.iter().find(|p| p.pid == 1)?;
        init.environ.as_ref()?.iter().find_map(|e| {
            let v = e.0.strip_prefix(b"ECS_CONTAINER_METADATA_URI_V4=")?;
            String::from_utf8(v.to_vec()).ok().filter(|s| !s.is_empty())
        })
    });
    let mut ecs_docs: [Option<Vec<u8>>; 2] = [None, None];
    // Not asked once stopped: a signal or a spent budget wants the archive now.
    if let Some(uri) = ecs_uri.filter(|_| go_on(&mut stopped)) {
        let base = uri.trim_end_matches('/');
        for (i, (name, url)) in
            [("container", base.to_string()), ("task", format!("{base}/task"))].into_iter().enumerate()
        {
            let mut rec = RawRecord::new(RawOp::Http, name.to_string());
            match http::get(&url, opts.http_timeout) {
                Ok(body) => {
                    rec.size = Some(body.len() as u64);
                    w.archive.append(&format!("raw/ecs/{name}.json"), &body)?;
                    ecs_docs[i] = Some(body);
                }
                Err(e) => {
                    rec.error = Some(ErrorKind::Other);
                    rec.detail = Some(format!("GET {url}: {e}"));
                }
            }
            curtain_tables::replay::global_error(&mut w.tables, &rec);
            w.record(&rec);
        }
    }

    clock.boottime_end_ns = now(rustix::time::ClockId::Boottime);
    clock.realtime_end_ns = now(rustix::time::ClockId::Realtime);

    let containers = w.tables.container_rows();
    // The socket tables, parsed now that every owner is known, written as their parts fill.
    let mut failed = Ok(());
    let mut counts = w.tables.finish_with(|sink| {
        for (name, body) in sink.take_ready() {
            if failed.is_ok() {
                failed = w.archive.append(&name, &body);
            }
        }
    });
    failed?;
    counts.raw_bytes = w.raw_bytes;
    let errors_by_kind = w.tables.errors_by_kind();
    let me = w.tables.kept.iter().find(|p| Some(p.pid) == self_pid).cloned();
    let rest = w.tables.sink.finish();
    drop(w);
    for (name, body) in rest {
        archive.append(&name, &body)?;
    }
    archive.close_index()?;

    let uname = rustix::system::uname();
    let manifest = Manifest {
        format_version: curtain_model::FORMAT_VERSION,
        tool: "curtain".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        argv: opts.argv.clone(),
        collector: Collector {
            pid: std::process::id(),
            uid: rustix::process::getuid().as_raw(),
            euid: rustix::process::geteuid().as_raw(),
            cap_eff: me.as_ref().and_then(|p| p.cap_eff.clone()),
            ns: me.as_ref().map(|p| p.ns.clone()).unwrap_or_default(),
            cgroup: me.as_ref().and_then(|p| p.cgroup.clone()),
        },
        hostname: cstr(uname.nodename()),
        kernel_release: cstr(uname.release()),
        machine: Some(cstr(uname.machine())),
        started_at: format_rfc3339_ns(clock.realtime_start_ns),
        ended_at: format_rfc3339_ns(clock.realtime_end_ns),
        clock,
        ecs: curtain_parse::ecs::parse_metadata(ecs_docs[0].as_deref(), ecs_docs[1].as_deref()),
        options: CollectOptions {
            proc_root: opts.proc_root.clone(),
            carve_exe: opts.carve_exe,
            no_environ: opts.no_environ,
            proc_root_kind: Some(kind),
            time_budget_ms: opts.time_budget.map(|b| b.as_millis().min(u64::MAX as u128) as u64),
        },
        partial: stopped.map(|r| Partial {
            reason: r.as_str().into(),
            processes_read,
            processes_listed: pids.len() as u64,
        }),
        counts,
        errors_by_kind,
        members: archive.members().to_vec(),
        rebuilt_from: None,
        acquisition: opts.acquisition.clone(),
    };
    let body = serde_json::to_vec_pretty(&manifest).expect("serialise manifest");
    let members = archive.written() + 1;
    let (out, sha256, bytes) = archive.finish(&body)?;
    Ok((Outcome { manifest, sha256, bytes, members, stopped, containers }, out))
}

/// One container of the summary: runtime, name and id, image, task or pod, what it was given of
/// the host, and where that was read.
fn container_line(c: &curtain_model::ContainerRow) -> String {
    let short = c.id.get(..12).unwrap_or(&c.id);
    let mut s = format!("{} {} ({short})", c.runtime, c.name.as_deref().unwrap_or("?"));
    if let Some(i) = &c.image {
        s.push_str(&format!(" image {i}"));
    }
    if let Some(e) = &c.ecs {
        s.push_str(&format!(
            " ECS task {} ({}:{}) container {}",
            e.task_arn.as_deref().unwrap_or("?"),
            e.family.as_deref().unwrap_or("?"),
            e.revision.as_deref().unwrap_or("?"),
            e.container_name.as_deref().unwrap_or("?")
        ));
    }
    if let Some(p) = &c.pod {
        s.push_str(&format!(
            " pod {}/{} container {}",
            p.namespace.as_deref().unwrap_or("?"),
            p.name.as_deref().unwrap_or("?"),
            p.container_name.as_deref().unwrap_or("?")
        ));
    }
    if c.privileged == Some(true) {
        s.push_str(" PRIVILEGED");
    }
    for m in &c.mounts {
        s.push_str(&format!(" mount {}:{}{}", m.source, m.destination, if m.ro { ":ro" } else { "" }));
    }
    for (what, v) in [("network", &c.network_mode), ("pid", &c.pid_mode)] {
        if let Some(v) = v {
            s.push_str(&format!(" {what} {v}"));
        }
    }
    let mut from: Vec<&str> = c.sources.values().map(String::as_str).collect();
    from.sort_unstable();
    from.dedup();
    s.push_str(&format!(", {} processes; from {}", c.pids.len(), from.join(", ")));
    s
}

/// The one-screen summary printed after a collection.
pub fn summary(o: &Outcome, output: &str, elapsed: Duration) -> String {
    let m = &o.manifest;
    let c = &m.counts;
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "curtain collect on {} ({}), uid {}/{}",
        m.hostname, m.kernel_release, m.collector.uid, m.collector.euid
    );
    let _ = writeln!(
        s,
        "  processes {} ({} kernel threads), fds {}, executables hashed {}",
        c.processes, c.kernel_threads, c.fds, c.executables_hashed
    );
    let _ = writeln!(
        s,
        "  sockets {} ({} with a visible owner) in {} network namespace(s); {} mount namespace(s), {} mounts",
        c.sockets, c.sockets_with_owner, c.netns, c.mntns, c.mounts
    );
    if let Some(ecs) = &m.ecs {
        let _ = writeln!(
            s,
            "  ECS task {} container {} ({})",
            ecs.task_arn.as_deref().unwrap_or("?"),
            ecs.container_name.as_deref().unwrap_or("?"),
            ecs.launch_type.as_deref().unwrap_or("?")
        );
    }
    for c in &o.containers {
        let _ = writeln!(s, "  {}", curtain_model::term(&container_line(c)));
    }
    if m.errors_by_kind.is_empty() {
        let _ = writeln!(s, "  errors: none");
    } else {
        let list: Vec<String> = m.errors_by_kind.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "  errors: {} (see tables/errors.jsonl)", list.join(", "));
    }
    if let Some(p) = &m.partial {
        let _ = writeln!(
            s,
            "  PARTIAL: stopped ({}) after {} of {} processes; the archive is whole and verifies",
            p.reason, p.processes_read, p.processes_listed
        );
    }
    let _ = writeln!(s, "  archive {output}: {} members, {} bytes, {:.2} s", o.members, o.bytes, elapsed.as_secs_f64());
    let _ = writeln!(s, "  sha256 {}", o.sha256);
    s
}

#[cfg(feature = "cli")]
pub mod cli;
