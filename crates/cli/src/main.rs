//! `curtain`: live response for containers. Wiring only: each subcommand is a crate's job.

use clap::{Parser, Subcommand};
use curtain_collect::cli::{run_collect, run_reparse, run_verify, CollectArgs, ReparseArgs, VerifyArgs};

#[derive(Parser)]
#[command(
    name = "curtain",
    version,
    about = "Live response for containers: snapshot /proc as evidence, and analyse it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Snapshot this machine or container into one evidence archive.
    #[command(
        after_help = "Examples:\n  curtain collect\n  curtain collect -o snap.tar.zst --carve-exe\n  curtain collect -o - > snap.tar"
    )]
    Collect(CollectArgs),
    /// Check every member of an archive against its manifest.
    Verify(VerifyArgs),
    /// Rebuild an archive's tables from its raw part.
    Reparse(ReparseArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Collect(a) => run_collect(a).map(|(c, _, _)| c),
        Command::Verify(a) => run_verify(a),
        Command::Reparse(a) => run_reparse(a),
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("curtain: {e}");
            std::process::exit(2);
        }
    }
}
