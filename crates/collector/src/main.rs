//! `curtain-collector`: the collect step alone, as a small static binary to drop into a
//! container (`scratch` and distroless images included) through ECS Exec, `kubectl exec` or
//! `docker exec`. Built by scripts/build-collector.

#![forbid(unsafe_code)]

use clap::Parser;
use curtain_collect::cli::{run_collect, CollectArgs};

/// Snapshot this container's processes, files and sockets from /proc into one evidence archive.
#[derive(Parser)]
#[command(
    name = "curtain-collector",
    version,
    after_help = "Examples:\n  curtain-collector -o /tmp/snap.tar.zst\n  curtain-collector -o - > snap.tar          # over ECS Exec / kubectl exec\n  curtain-collector --carve-exe=16M --no-environ"
)]
struct Cli {
    #[command(flatten)]
    collect: CollectArgs,
}

fn main() {
    let cli = Cli::parse();
    match run_collect(&cli.collect) {
        Ok((code, _, _)) => std::process::exit(code),
        Err(e) => {
            eprintln!("curtain-collector: {e}");
            std::process::exit(2);
        }
    }
}
