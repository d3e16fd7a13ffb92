//! Links the `curtain` binaries with packed relative relocations (`-z pack-relative-relocs`,
//! DT_RELR) where the toolchain and the C library allow it. The binary carries the AWS SDK: as
//! a position-independent executable it has about 50 000 relative relocations, whose 1.2 MB
//! table the loader reads at every start; packed, the table is about 17 KB, and `curtain
//! collect` peaks about 2 MiB lower (docs/BENCHMARKS.md). The executable stays
//! position-independent (its address still randomised), unlike a `-no-pie` link.
//!
//! The flag needs GNU ld 2.38 or lld, and glibc 2.36 at run time; a tiny program is linked with
//! it first, and the flag is left out when that fails (older toolchains, cross builds).

use std::env;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let var = |k: &str| env::var(k).unwrap_or_default();
    let linux_gnu = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let crt_static = var("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static");
    if !linux_gnu || crt_static || var("HOST") != var("TARGET") {
        return;
    }
    let out = PathBuf::from(var("OUT_DIR"));
    let src = out.join("relr_probe.c");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return;
    }
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let linked = Command::new(cc)
        .arg(&src)
        .arg("-o")
        .arg(out.join("relr_probe"))
        .args(["-pie", "-fPIE", "-Wl,-z,pack-relative-relocs", "-Wl,--fatal-warnings"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if linked {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
