//! The command-line face of collection, shared by `curtain collect` and `curtain-collector`:
//! the arguments as typed, then running them.

use crate::{Options, DEFAULT_CARVE};
use curtain_archive::output::{self, NewFile};
use curtain_archive::Compression;
use curtain_model::ByteString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

/// `collect`: snapshot the proc tree into one evidence archive.
#[derive(Debug, Clone, clap::Args)]
pub struct CollectArgs {
    /// Archive to write (`.tar`, or `.tar.zst` compressed); `-` for standard output.
    /// Default: curtain-HOSTNAME-UTCTIME.tar.zst in the current directory.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<String>,
    /// Read this proc tree instead of /proc: a mounted procfs, or a copied tree (any other
    /// filesystem), which is read as data: its links recorded and never followed, only its
    /// regular files read, its `self` not taken as the collector, its start times counted from
    /// its own btime.
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc_root: String,
    /// Also keep the bytes of every executable (deleted and memfd ones too), each capped at
    /// MAX_BYTES (default 64M), once per distinct file, as files/SHA256.
    #[arg(long, value_name = "MAX_BYTES", num_args = 0..=1, require_equals = true,
          default_missing_value = "64M", value_parser = curtain_archive::parse_size)]
    pub carve_exe: Option<u64>,
    /// Leave process environments out (they often hold secrets).
    #[arg(long)]
    pub no_environ: bool,
    /// Compression; by default zstd for a `.zst` name, none otherwise and for standard output.
    #[arg(long, value_enum)]
    pub compress: Option<Compression>,
    /// Threads reading processes, which take turns writing the archive. Default: the CPUs this
    /// process may use (affinity, cgroup quota), at most 4; 1 for the least load on the host.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Stop reading processes after SECONDS (fractions allowed) and finish the archive with
    /// what was read, marked partial in its manifest. SIGINT and SIGTERM end a collection the
    /// same way (exit status 130 or 143); a second one exits at once, leaving no file.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub time_budget: Option<Duration>,
    /// Print no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the archive to standard output inside a frame with this nonce (base64 lines
    /// between marker lines, with the count, SHA-256 and exit status at the end), for a channel
    /// with a terminal: `curtain acquire` receives it. Implies `-o -`, zstd and `--quiet`; a
    /// failure is told on the end line, nothing goes to standard error.
    #[arg(long, value_name = "NONCE", hide = true, value_parser = parse_nonce)]
    pub frame: Option<String>,
    /// The acquisition's record (JSON, from `curtain acquire`), kept in the manifest.
    #[arg(long, value_name = "JSON", hide = true, value_parser = parse_acquisition)]
    pub acquisition: Option<Box<curtain_model::Acquisition>>,
}

fn parse_nonce(s: &str) -> Result<String, String> {
    if (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(s.to_string())
    } else {
        Err("a nonce is 8 to 64 letters and digits".into())
    }
}

fn parse_acquisition(s: &str) -> Result<Box<curtain_model::Acquisition>, String> {
    serde_json::from_str(s).map_err(|e| format!("not an acquisition record: {e}"))
}

/// A duration in seconds, such as `30` or `0.5`.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .ok_or_else(|| format!("not a number of seconds: {s:?}"))
}

pub fn default_name() -> String {
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let host: String =
        host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    format!("curtain-{host}-{}.tar.zst", compact_now())
}

/// Now, UTC, to the second, for file names: 2026-11-29T12:34:56.123456789Z -> 20261129T123456Z.
pub fn compact_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let t = curtain_model::format_rfc3339_ns(now.as_nanos() as u64);
    let compact: String = t[..19].chars().filter(|c| *c != '-' && *c != ':').collect();
    format!("{compact}Z")
}

/// Tells glibc's allocator to give memory back as it goes: one arena for every thread (the
/// readers' bundles are freed by the writer, and per-thread arenas would each keep what they
/// once held) and a fixed trim threshold (freeing a big netlink dump would otherwise raise it to
/// megabytes, and nothing below it goes back). About 0.7 MiB less peak RSS at 8000 processes,
/// for no measurable time: a collector in a container must not crowd the workload.
fn frugal_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        const M_ARENA_MAX: std::ffi::c_int = -8;
        // SAFETY: mallopt only sets allocator parameters, before the collection's threads start.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
            mallopt(M_TRIM_THRESHOLD, 128 << 10);
            mallopt(M_MMAP_THRESHOLD, 128 << 10);
        }
    }
}

fn options(args: &CollectArgs, compression: Compression) -> Options {
    Options {
        proc_root: args.proc_root.clone(),
        carve_exe: args.carve_exe.map(|c| if c == 0 { DEFAULT_CARVE } else { c }),
        no_environ: args.no_environ,
        compression,
        argv: std::env::args_os().map(|a| ByteString::from(a.as_bytes())).collect(),
        jobs: args.jobs.map(usize::from),
        time_budget: args.time_budget,
        // The endpoint ECS gives the collector's own environment (PID 1's is looked at otherwise).
        ecs_uri: std::env::var("ECS_CONTAINER_METADATA_URI_V4").ok().filter(|s| !s.is_empty()),
        acquisition: args.acquisition.as_deref().cloned(),
        // Another address for the ECS agent's introspection API (a test, a non-default port).
        ecs_agent_uri: std::env::var(crate::host::AGENT_URI_ENV).ok().filter(|s| !s.is_empty()),
        ..Options::default()
    }
}

/// Runs a collection as the user asked. Returns the exit code: 0, or 128 + the signal that
/// stopped it early (the archive is whole all the same).
pub fn run_collect(args: &CollectArgs) -> io::Result<(i32, Option<crate::Outcome>, String)> {
    run_collect_to(args, io::stdout())
}

/// [`run_collect`], with `stdout` standing for standard output (`-o -`).
pub fn run_collect_to<S: Write + Send>(
    args: &CollectArgs,
    stdout: S,
) -> io::Result<(i32, Option<crate::Outcome>, String)> {
    frugal_malloc();
    if let Some(nonce) = &args.frame {
        return run_framed(args, nonce, stdout);
    }
    let output = args.output.clone().unwrap_or_else(default_name);
    let to_stdout = output == "-";
    let compression =
        args.compress.unwrap_or(if to_stdout { Compression::None } else { Compression::for_path(&output) });
    let opts = options(args, compression);
    let sidecar = format!("{output}.sha256");
    if !to_stdout {
        // Both names free before anything is read: evidence already there is never replaced,
        // and no collection is made only to be refused its sidecar at the end.
        output::check_new(&output, &[&args.proc_root])?;
        output::check_new(&sidecar, &[&args.proc_root, &output])?;
    }
    let handlers = crate::stop::Handlers::install()?;
    let started = Instant::now();
    let outcome = if to_stdout {
        // Not locked: the archive is written by whichever reader holds the writer's turn.
        let written = crate::collect(&opts, io::BufWriter::with_capacity(1 << 16, stdout))
            .and_then(|(o, mut out)| out.flush().map(|()| o));
        written.map_err(stream_closed)?
    } else {
        // Under a temporary name until whole: a failure or a second signal leaves nothing
        // under the name asked for.
        let mut f = crate::stop::held(|| {
            let f = NewFile::create(&output, &[&args.proc_root])?;
            let (dir, tmp) = f.temporary();
            crate::stop::remove_if_killed(dir, tmp);
            io::Result::Ok(f)
        })?;
        let (o, out) = crate::collect(&opts, io::BufWriter::with_capacity(1 << 16, &mut f))?;
        out.into_inner().map_err(|e| e.into_error())?;
        // A second signal during the commit's fsync still removes the temporary file; once
        // renamed, its name is gone and there is nothing to remove.
        f.commit()?;
        crate::stop::forget_leftover();
        let name =
            std::path::Path::new(&output).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        output::write_new(&sidecar, format!("{}  {}\n", o.sha256, name).as_bytes(), &[&args.proc_root, &output])?;
        o
    };
    drop(handlers);
    if !args.quiet {
        eprint!("{}", crate::summary(&outcome, &output, started.elapsed()));
    }
    let code = outcome.stopped.map_or(0, crate::stop::Reason::exit_code);
    Ok((code, Some(outcome), output))
}

/// `--frame`: the archive, zstd-compressed, inside one frame on standard output; the status
/// and any failure on its end line.
fn run_framed<S: Write + Send>(
    args: &CollectArgs,
    nonce: &str,
    stdout: S,
) -> io::Result<(i32, Option<crate::Outcome>, String)> {
    let opts = options(args, args.compress.unwrap_or(Compression::Zstd));
    let mut frame = curtain_archive::frame::FrameWriter::new(io::BufWriter::with_capacity(1 << 16, stdout), nonce)?;
    let handlers = crate::stop::Handlers::install()?;
    let result = crate::collect(&opts, io::BufWriter::with_capacity(1 << 16, &mut frame))
        .and_then(|(o, out)| out.into_inner().map(|_| o).map_err(|e| e.into_error()));
    drop(handlers);
    match result {
        Ok(o) => {
            let code = o.stopped.map_or(0, crate::stop::Reason::exit_code);
            frame.finish(code).map_err(stream_closed)?;
            Ok((code, Some(o), "-".into()))
        }
        Err(e) => {
            frame.finish_with(2, Some(&e.to_string())).map_err(stream_closed)?;
            Ok((2, None, "-".into()))
        }
    }
}

/// A write to standard output that failed because its reader went away (`| head`) is a failed
/// collection, not the quiet end of a listing: what the reader got is not a whole archive. Said
/// as such, so that a caller that lets EPIPE end quietly (`curtain`'s own listings) does not
/// take it for success.
fn stream_closed(e: io::Error) -> io::Error {
    if e.kind() != io::ErrorKind::BrokenPipe {
        return e;
    }
    io::Error::other(format!(
        "standard output was closed before the archive was whole ({e}); what was written is not an archive"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_reader_that_went_away_is_a_failure_not_a_broken_pipe() {
        // `curtain collect -o - | head -c 100`: `curtain` ends quietly on a broken pipe (its
        // listings piped into `head`), so the collection must not fail as one.
        let dir = std::env::temp_dir().join(format!("curtain-epipe-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("1")).unwrap();
        std::fs::write(dir.join("1/environ"), "X=".repeat(200_000)).unwrap();
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        drop(reader);
        let args = CollectArgs {
            output: Some("-".into()),
            proc_root: dir.to_string_lossy().into_owned(),
            carve_exe: None,
            no_environ: false,
            compress: None,
            jobs: Some(1),
            time_budget: None,
            quiet: true,
            frame: None,
            acquisition: None,
        };
        let e = run_collect_to(&args, std::fs::File::from(writer)).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_ne!(e.kind(), io::ErrorKind::BrokenPipe);
        assert!(e.to_string().contains("standard output was closed"), "{e}");
    }
}
