//! The command-line faces of `verify` and `reparse`, and the reading limits every command that
//! reads an archive takes: shared by `curtain` and the tests.

use crate::output::NewFile;
use crate::writer::Compression;
use std::io::{self, Write};

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
    // A problem quotes member names and manifest text from the archive: one line each, escaped.
    for p in &report.problems {
        writeln!(out, "MISMATCH {}", curtain_model::term(p))?;
    }
    Ok(())
}

/// Prints the verdict; exit code 0 only when every member matches.
pub fn run_verify(args: &VerifyArgs) -> io::Result<i32> {
    verify_to(args, &mut curtain_model::TermSafe::new(io::stdout().lock(), false))
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
    reparse_to(args, &mut curtain_model::TermSafe::new(io::stdout().lock(), false))
}

/// [`run_reparse`], printing to `out`.
pub fn reparse_to(args: &ReparseArgs, out: &mut impl Write) -> io::Result<i32> {
    // An output that exists or is the input is refused before any work; the file stays under a
    // temporary name, removed on any failure, until it is whole.
    let target = match &args.output {
        Some(path) => Some((path, NewFile::create(path, &[args.archive.as_str()])?)),
        None => None,
    };
    let contents = crate::read_archive_file(&args.archive, &args.limits.limits(), crate::Keep::All)?;
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
