//! The command-line face of collection, shared by `curtain collect` and `curtain-collector`:
//! the arguments as typed, then running them.

use crate::archive::{self, Compression};
use crate::output::NewFile;
use crate::{Options, DEFAULT_CARVE};
use curtain_model::ByteString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

/// `collect`: snapshot the proc tree into one evidence archive.
#[derive(Debug, Clone, clap::Args)]
pub struct CollectArgs {
    /// Archive to write (`.tar`, or `.tar.zst` compressed); `-` for standard output.
    /// Default: curtain-HOSTNAME-UTCTIME.tar.zst in the current directory.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<String>,
    /// Read this proc tree instead of /proc (a mounted or copied one).
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc_root: String,
    /// Also keep the bytes of every executable (deleted and memfd ones too), each capped at
    /// MAX_BYTES (default 64M), once per distinct file, as files/SHA256.
    #[arg(long, value_name = "MAX_BYTES", num_args = 0..=1, require_equals = true,
          default_missing_value = "64M", value_parser = crate::parse_size)]
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
    /// Print no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn default_name() -> String {
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let host: String =
        host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let t = curtain_model::format_rfc3339_ns(now.as_nanos() as u64);
    // 2026-11-29T12:34:56.123456789Z -> 20261129T123456Z
    let compact: String = t[..19].chars().filter(|c| *c != '-' && *c != ':').collect();
    format!("curtain-{host}-{compact}Z.tar.zst")
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

/// Runs a collection as the user asked. Returns the exit code.
pub fn run_collect(args: &CollectArgs) -> io::Result<(i32, Option<crate::Outcome>, String)> {
    frugal_malloc();
    let output = args.output.clone().unwrap_or_else(default_name);
    let to_stdout = output == "-";
    let compression =
        args.compress.unwrap_or(if to_stdout { Compression::None } else { Compression::for_path(&output) });
    let opts = Options {
        proc_root: args.proc_root.clone(),
        carve_exe: args.carve_exe.or(None).map(|c| if c == 0 { DEFAULT_CARVE } else { c }),
        no_environ: args.no_environ,
        compression,
        argv: std::env::args_os().map(|a| ByteString::from(a.as_bytes())).collect(),
        jobs: args.jobs.map(usize::from),
        ..Options::default()
    };
    let started = Instant::now();
    let outcome = if to_stdout {
        // Not locked: the archive is written by whichever reader holds the writer's turn.
        let stdout = io::stdout();
        let (o, mut out) = crate::collect(&opts, io::BufWriter::with_capacity(1 << 16, stdout))?;
        out.flush()?;
        o
    } else {
        // create_new: never overwrite evidence already there.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&output)
            .map_err(|e| io::Error::new(e.kind(), format!("{output}: {e}")))?;
        let (o, out) = crate::collect(&opts, io::BufWriter::with_capacity(1 << 16, f))?;
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        let name =
            std::path::Path::new(&output).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        std::fs::write(format!("{output}.sha256"), format!("{}  {}\n", o.sha256, name))?;
        o
    };
    if !args.quiet {
        eprint!("{}", crate::summary(&outcome, &output, started.elapsed()));
    }
    Ok((0, Some(outcome), output))
}

/// What reading one archive may cost at most (see [`crate::Limits`]): flattened into every
/// command that reads archives. The defaults are far above any real collection.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Refuse an archive member larger than this (checked before it is read).
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = crate::parse_size)]
    pub max_member_size: u64,
    /// Refuse an archive that decompresses to more than this.
    #[arg(long, value_name = "SIZE", default_value = "64G", value_parser = crate::parse_size)]
    pub max_expanded: u64,
    /// Refuse an archive of more members than this.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub max_members: u64,
    /// Refuse a table line longer than this.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = crate::parse_size)]
    pub max_line: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> crate::Limits {
        crate::Limits {
            max_member_size: self.max_member_size,
            max_expanded: self.max_expanded,
            max_members: self.max_members,
            max_line: self.max_line,
        }
    }
}

/// `verify`: check an archive's members against its manifest.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The archive (`.tar` or `.tar.zst`).
    pub archive: String,
    #[command(flatten)]
    pub limits: LimitArgs,
}

fn print_problems(out: &mut impl Write, report: &crate::VerifyReport) -> io::Result<()> {
    for p in &report.problems {
        writeln!(out, "MISMATCH {p}")?;
    }
    Ok(())
}

/// Prints the verdict; exit code 0 only when every member matches.
pub fn run_verify(args: &VerifyArgs) -> io::Result<i32> {
    verify_to(args, &mut io::stdout().lock())
}

/// [`run_verify`], printing to `out`.
pub fn verify_to(args: &VerifyArgs, out: &mut impl Write) -> io::Result<i32> {
    let report = crate::verify_file(&args.archive, &args.limits.limits())?;
    print_problems(out, &report)?;
    if report.ok() {
        writeln!(out, "OK {}: {} members match the manifest", args.archive, report.members_checked)?;
        Ok(0)
    } else {
        writeln!(
            out,
            "FAILED {}: {} problem(s) in {} members",
            args.archive,
            report.problems.len(),
            report.members_checked
        )?;
        Ok(1)
    }
}

/// `reparse`: rebuild every table from the raw part.
#[derive(Debug, Clone, clap::Args)]
pub struct ReparseArgs {
    /// The archive (`.tar` or `.tar.zst`).
    pub archive: String,
    /// Write a new archive with the rebuilt tables (the raw part copied as is). Refused when the
    /// archive does not verify: the new one would verify, whatever was changed in the old.
    #[arg(short, long, value_name = "NEW")]
    pub output: Option<String>,
    /// With -o, write the new archive even when this one does not verify; its manifest then says
    /// so (`rebuilt_from`: `verified` false and the problems found).
    #[arg(long, requires = "output")]
    pub allow_unverified: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Prints, per table, whether the rebuilt one is identical; exit 0 when all are (or when a new
/// archive was written). With -o, the archive is verified first, in the same reading.
pub fn run_reparse(args: &ReparseArgs) -> io::Result<i32> {
    reparse_to(args, &mut io::stdout().lock())
}

/// [`run_reparse`], printing to `out`.
pub fn reparse_to(args: &ReparseArgs, out: &mut impl Write) -> io::Result<i32> {
    // An output that exists or is the input is refused before any work; the file stays under a
    // temporary name, removed on any failure, until it is whole.
    let target = match &args.output {
        Some(path) => Some((path, NewFile::create(path, &[args.archive.as_str()])?)),
        None => None,
    };
    let contents = archive::read_archive_file(&args.archive, &args.limits.limits(), archive::Keep::All)?;
    let mut report = crate::verify(&contents);
    crate::check_sidecar(&args.archive, &contents, &mut report);
    if target.is_some() && !report.ok() {
        print_problems(out, &report)?;
        if !args.allow_unverified {
            writeln!(
                out,
                "REFUSED {}: it does not verify ({} problem(s)); nothing written (--allow-unverified writes \
                 it, marked as rebuilt from an archive that does not verify)",
                args.archive,
                report.problems.len()
            )?;
            return Ok(1);
        }
    }
    let re = crate::reparse(&contents).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    for (base, _, same) in &re.tables {
        writeln!(out, "{} {base}.jsonl", if *same { "identical" } else { "changed  " })?;
    }
    if let Some((path, file)) = target {
        let w = io::BufWriter::with_capacity(1 << 16, file);
        let (w, sha) = crate::write_reparsed(&contents, &re, &report, w, Compression::for_path(path))?;
        w.into_inner().map_err(|e| e.into_error())?.commit()?;
        writeln!(out, "wrote {path} sha256 {sha}")?;
        if !report.ok() {
            writeln!(out, "marked {path}: rebuilt from an archive that does not verify")?;
        }
        return Ok(0);
    }
    Ok(if re.tables.iter().all(|(_, _, same)| *same) { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Limited {
        #[command(flatten)]
        limits: LimitArgs,
    }

    #[test]
    fn limit_flags_default_to_the_limits_and_take_sizes() {
        assert_eq!(Limited::parse_from(["x"]).limits.limits(), crate::Limits::default());
        assert!(Limited::try_parse_from(["x", "--max-expanded", "1T"]).is_err(), "no such suffix");
        let l =
            Limited::parse_from(["x", "--max-member-size", "16G", "--max-members", "20", "--max-line", "512k"]).limits;
        assert_eq!((l.max_member_size, l.max_members, l.max_line), (16 << 30, 20, 512 << 10));
    }
}
