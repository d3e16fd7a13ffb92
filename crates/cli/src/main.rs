//! `curtain`: live response for containers. Wiring only: each subcommand is a crate's job, and
//! this crate's modules hold their command-line faces by family: [`args`] (what a user types),
//! [`collect`] (triage), [`analysis`] (reading archives), [`register`] (the asset register).
//!
//! Exit codes: 0 when nothing at or above the severity threshold was found (or the command
//! succeeded), 1 when findings were (or verify/reparse found a mismatch), 2 on an error.

#![forbid(unsafe_code)]

mod acquire;
#[cfg(feature = "aws")]
mod acquire_ecs;
mod analysis;
mod args;
mod collect;
mod flows;
mod hunt;
mod output;
mod register;

use args::{Cli, Command, InventoryCommand};
use clap::Parser;
use curtain_archive::cli::{run_reparse, run_verify};
use curtain_collect::cli::run_collect;
use std::io;
use std::process::ExitCode;

fn run(cli: &Cli) -> io::Result<i32> {
    match &cli.command {
        Command::Triage(a) => collect::triage(a),
        // A standard output closed early is already a failure of its own kind there, not the
        // quiet broken pipe below.
        Command::Acquire(a) => acquire::acquire(a),
        Command::Collect(a) => run_collect(a).map(|(c, _, _)| c),
        Command::Verify(a) => run_verify(a),
        Command::Reparse(a) => run_reparse(a),
        Command::Ingest(cmd) => register::ingest(cmd),
        Command::Whois(a) => register::whois(a),
        Command::Hunt(a) => hunt::hunt(a),
        Command::Flows(c) => flows::flows(c),
        Command::Inventory(InventoryCommand::Sync(a)) => register::inventory_sync(a),
        Command::Inventory(InventoryCommand::Export(a)) => register::inventory_export(a),
        Command::Detectors(a) => analysis::detectors(a),
        Command::Findings(a) => analysis::findings(a),
        Command::Report(a) => analysis::report(a),
        Command::Timeline(a) => analysis::timeline(a),
        Command::Tree(a) => analysis::tree(a),
        Command::Sockets(a) => analysis::sockets(a),
        Command::Diff(a) => analysis::diff(a),
        Command::Compare(a) => analysis::compare(a),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(c) => ExitCode::from(u8::try_from(c).unwrap_or(2)),
        // A listing piped into `head`: the reader had what it wanted.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            // Messages may quote an archive's or a register's content: each line escaped, and
            // each said to be curtain's.
            for line in e.to_string().lines() {
                eprintln!("curtain: {}", curtain_report::term(line));
            }
            ExitCode::from(2)
        }
    }
}
