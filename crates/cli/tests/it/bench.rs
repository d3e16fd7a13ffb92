//! The benchmark script, run small: it builds its load (with the extra network namespaces) and
//! the floor, runs every tool, counts what each saw, prints its tables and ends the load. The
//! figures are not checked (they would time the CI machine); that the script keeps working, and
//! that every tool saw all of the load, is.

use crate::common::*;
use crate::require_root;
use std::path::PathBuf;
use std::process::Command;

#[test]
#[ignore = "needs root and Python's psutil (scripts/test provides both)"]
fn a_small_run_of_the_benchmark_times_and_counts_every_tool() {
    require_root!();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var("CURTAIN_BENCH_PYTHON")
        .expect("CURTAIN_BENCH_PYTHON: a Python with psutil; run scripts/test, which makes one");
    let dir = tempfile::tempdir().unwrap();
    let cc = |src: &str, libs: &[&str]| {
        let out = dir.path().join(src.trim_start_matches("bench/").trim_end_matches(".c"));
        let o = run(Command::new("gcc").arg("-O2").arg("-o").arg(&out).arg(root.join(src)).args(libs));
        assert!(o.status.success(), "gcc {src}: {}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let (floor, load) = (cc("bench/floor.c", &[]), cc("bench/load.c", &["-lpthread"]));
    // The baseline row runs the same static collector: the row, not the figures, is tested.
    let collector = crate::static_collector::static_collector();
    // 80 processes: 8 of them alone in a network namespace each.
    let o = run(Command::new("python3")
        .arg(root.join("bench/run.py"))
        .args([curtain(), collector.clone(), floor, load.clone(), python.into()])
        .env("BENCH_N", "80")
        .env("BENCH_RUNS", "1")
        .env("BENCH_PROFILES", "mixed uniform")
        .env("BENCH_BASELINE", &collector)
        .env("TMPDIR", dir.path()));
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "bench/run.py failed:\n{out}\n{err}");
    let tools = [
        "curtain-collector (baseline)",
        "curtain collect",
        "curtain collect -j 1",
        "curtain-collector",
        "ps -eo pid,ppid,lstart,stat,comm,args",
        "ss -tuanpx",
        "lsof -n -P",
        "psutil script",
        "floor",
    ];
    for t in tools.iter().chain(&["ps+ss+lsof", "curtain findings", "curtain report", "curtain timeline"]) {
        assert!(out.contains(&format!("| 80 | {t} |")), "no row for {t}:\n{out}");
    }
    for t in &tools[..4] {
        assert!(
            out.lines().filter(|l| l.starts_with(&format!("| 80 | {t} |"))).count() == 4,
            "{t}: a row in each table of each profile"
        );
    }
    assert!(out.contains("### Load `mixed`") && out.contains("### Load `uniform`"), "{out}");
    let json = out.lines().rev().find_map(|l| l.strip_prefix("(raw figures: ")).expect("results.json named");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(json.trim_end_matches(')')).unwrap()).unwrap();
    for what in ["findings", "report", "timeline"] {
        let a = &results["mixed"]["80"]["analysis"][what];
        assert!(a["wall"].as_f64().is_some_and(|w| w > 0.0) && a["rss_kib"].as_u64().is_some(), "{what}: {a}");
    }
    // The mixed load: processes executed one by one (the load's binary again), an interpreter
    // or two, threads; the uniform one forks them all.
    assert!(results["mixed"]["80"]["curtain-collector"]["processes"].as_u64() >= Some(80));
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpus = stat.lines().filter(|l| l.starts_with("cpu") && !l.starts_with("cpu ")).count() as f64;
    // Every check of the tools, in each profile.
    for profile in ["mixed", "uniform"] {
        let n = &results[profile]["80"];
        let count =
            |tool: &str, what: &str| n[tool][what].as_u64().unwrap_or_else(|| panic!("{tool} {what}: {}", n[tool]));
        for t in &tools[..4] {
            // At least the load's 80 (the host's own come and go with the other tests).
            assert!(count(t, "processes") >= 80, "{t} saw the load's processes");
            // The home namespace and the load's 8.
            assert!(count(t, "netns") >= 9, "{t} read every network namespace");
            assert!(count(t, "owned") >= 40, "{t} joined the load's connections to their owners");
        }
        for t in ["ps -eo pid,ppid,lstart,stat,comm,args", "lsof -n -P", "psutil script", "floor"] {
            assert!(count(t, "processes") >= 80, "{t}: {}", n[t]);
        }
        assert!(count("ss -tuanpx", "sockets") >= 40);
        // What else kept the machine's CPUs busy, measured with nothing timed running.
        for k in ["busy_cpus_before", "busy_cpus_after"] {
            assert!(n[k].as_f64().is_some_and(|b| (0.0..=cpus + 0.01).contains(&b)), "{k}: {}", n[k]);
        }
        assert!(out.contains("Background (CPUs busy"), "the background is printed:\n{out}");
        for t in tools {
            assert_eq!(n[t]["runs"].as_array().map(Vec::len), Some(1), "{t}: one timed run");
            assert!(n[t]["wall"].as_f64().is_some_and(|w| w > 0.0), "{t}: timed");
        }
    }
    // The load is gone: no process runs its binary any more (its executed processes run it too;
    // its interpreters end with it, by their parent-death signal, and with its process group).
    let running = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == load))
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(running(), 0, "the load's processes were ended");
}
