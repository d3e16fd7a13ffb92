"""Benchmark driver (run by scripts/bench): starts the load (bench/load.c) in each profile
(BENCH_PROFILES, default `mixed`) and size (BENCH_N), times each collector side by side, times
`findings`, `report` and `timeline` on the collector's archive, and prints Markdown tables, a set
per profile. Wall time by this driver's clock, user+sys CPU and peak RSS from GNU time, the CPU
the rest of the machine took meanwhile from /proc/stat; each figure is the median of the runs."""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def machine_busy():
    """CPU seconds the whole machine has spent busy (user..steal of /proc/stat), and its CPUs."""
    with open("/proc/stat") as f:
        lines = f.read().splitlines()
    v = [int(x) for x in lines[0].split()[1:]]
    cpus = sum(1 for l in lines if l.startswith("cpu") and not l.startswith("cpu "))
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK"), cpus


def timed(cmd, out_path=None):
    """Runs cmd under GNU time; returns (wall s, user s, sys s, peak RSS KiB, stdout bytes, stderr
    text, CPU s that everything else on the machine took meanwhile)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        stdout = open(out_path, "wb") if out_path else subprocess.PIPE
        busy0, _ = machine_busy()
        # Wall time by this clock, not GNU time's %e: that has two decimals, and a tool that
        # takes less than 5 ms (ps over a hundred processes on a fast machine) would read 0.
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M"] + cmd,
                           stdout=stdout, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        busy1, _ = machine_busy()
        if out_path:
            stdout.close()
        _, u, s, m = tf.read().split()[-4:]
        others = max(0.0, busy1 - busy0 - float(u) - float(s))
        return (wall, float(u), float(s), int(m), (p.stdout if not out_path else b""),
                p.stderr.decode(errors="replace"), others)


def start_load(load_bin, n, profile):
    p = subprocess.Popen([load_bin, str(n), "8", profile], stdout=subprocess.PIPE, start_new_session=True)
    line = p.stdout.readline().decode()
    if not line.startswith("ready"):
        raise SystemExit(f"load did not start: {line!r}")
    time.sleep(0.5)
    return p


def stop_load(p):
    os.killpg(p.pid, signal.SIGKILL)  # the load's own process group, started above
    p.wait()
    for _ in range(100):
        if len([d for d in os.listdir("/proc") if d.isdigit()]) < 200:
            break
        time.sleep(0.1)


def busy_cpus(seconds=2.0):
    """CPUs kept busy by what else runs on the machine (its own daemons, a hypervisor's steal)
    over `seconds` with nothing timed running."""
    b0, cpus = machine_busy()
    time.sleep(seconds)
    b1, _ = machine_busy()
    return min((b1 - b0) / seconds, cpus)


def analysis(curtain, archive, tmp):
    """`findings`, `report` and `timeline` on one archive, once each: (wall, CPU, peak RSS KiB)."""
    out = {}
    for name, cmd, path in [
        ("findings", [curtain, "findings", archive, "--format", "json"], f"{tmp}/findings.json"),
        ("report", [curtain, "report", archive, "--format", "html", "-o", f"{tmp}/report.html"], None),
        ("timeline", [curtain, "timeline", archive], f"{tmp}/timeline.jsonl"),
    ]:
        w, u, sy, m, _, err, _ = timed(cmd, path)
        out[name] = {"wall": w, "cpu": u + sy, "rss_kib": m}
        for f in (path, f"{tmp}/report.html"):
            if f and os.path.exists(f):
                os.remove(f)
    return out


def main():
    curtain, collector, floor, load, python = sys.argv[1:6]
    ns = [int(x) for x in os.environ.get("BENCH_N", "500 2000 8000").split()]
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    # The load's kinds of process (bench/load.c): `mixed` by default, `uniform` the kind one.
    profiles = os.environ.get("BENCH_PROFILES", "mixed").split()
    tmp = tempfile.mkdtemp(prefix="curtain-bench-")
    tools = {
        "curtain collect": lambda i: ([curtain, "collect", "-q", "-o", f"{tmp}/c{i}.tar.zst"], None),
        "curtain collect -j 1": lambda i: ([curtain, "collect", "-q", "-j", "1", "-o", f"{tmp}/c{i}.tar.zst"], None),
        "curtain-collector": lambda i: ([collector, "-q", "-o", f"{tmp}/c{i}.tar.zst"], None),
        "ps -eo pid,ppid,lstart,stat,comm,args": lambda i: (["ps", "-eo", "pid,ppid,lstart,stat,comm,args"], None),
        "ss -tuanpx": lambda i: (["ss", "-tuanpx"], None),
        "lsof -n -P": lambda i: (["lsof", "-n", "-P"], None),
        "psutil script": lambda i: ([python, os.path.join(HERE, "psutil_collect.py")], None),
        "floor": lambda i: ([floor], None),
    }
    # A collector of an earlier build, for a before/after row.
    baseline = os.environ.get("BENCH_BASELINE")
    if baseline:
        tools = {"curtain-collector (baseline)": lambda i: ([baseline, "-q", "-o", f"{tmp}/c{i}.tar.zst"], None), **tools}
    results = {}
    for profile, n in [(p, n) for p in profiles for n in ns]:
        load_p = start_load(load, n, profile)
        # Ended whatever happens: a failing tool must not leave N processes behind for the next run.
        try:
            procs = len([d for d in os.listdir("/proc") if d.isdigit()])
            res = {"processes_on_host": procs, "busy_cpus_before": busy_cpus()}
            # Run i of every tool, then run i + 1: a machine whose speed drifts (a shared VM) weighs
            # on every tool alike, not on whichever ran during a slow spell.
            samples = {name: [] for name in tools}
            last, kept = {}, {}
            for i in range(runs):
                for name, mk in tools.items():
                    cmd, out = mk(i)
                    w, u, sy, m, so, se, others = timed(cmd, out)
                    samples[name].append((w, u + sy, m, u, sy, others))
                    last[name] = (so, se)
                    if name.startswith("curtain"):
                        # Kept and counted after the runs: nothing heavy runs between two timed runs
                        # that only some tools would be followed by.
                        kept[name] = f"{tmp}/" + re.sub(r"[^A-Za-z0-9]+", "_", name) + ".tar.zst"
                        os.replace(f"{tmp}/c{i}.tar.zst", kept[name])
                        os.remove(f"{tmp}/c{i}.tar.zst.sha256")
            for name in tools:
                med = lambda k: statistics.median(s[k] for s in samples[name])
                entry = {"wall": med(0), "cpu": med(1), "rss_kib": med(2), "user": med(3), "sys": med(4), "others_cpu": med(5),
                         "runs": samples[name]}
                last_out, last_err = last[name]
                text = last_out.decode(errors="replace")
                if name.startswith("curtain"):
                    man = subprocess.run([curtain, "report", kept[name], "--format", "json"], capture_output=True).stdout
                    if name == "curtain-collector":
                        res["analysis"] = analysis(curtain, kept[name], tmp)
                    os.remove(kept[name])
                    c = json.loads(man)["archives"][0]["counts"]
                    entry.update(processes=c["processes"], sockets=c["sockets"], owned=c["sockets_with_owner"], netns=c["netns"])
                elif name.startswith("ps "):
                    entry.update(processes=len(text.splitlines()) - 1)
                elif name.startswith("ss "):
                    lines = text.splitlines()[1:]
                    entry.update(sockets=len(lines), owned=sum(1 for l in lines if "users:(" in l))
                elif name.startswith("lsof"):
                    lines = text.splitlines()[1:]
                    sock = [l for l in lines if re.search(r"\s(IPv4|IPv6|unix|sock)\s", l)]
                    entry.update(processes=len({l.split()[1] for l in lines if len(l.split()) > 1}), sockets=len(sock))
                elif name == "psutil script":
                    c = json.loads(text.strip().splitlines()[-1])
                    entry.update(processes=c["processes"], sockets=c["sockets"], owned=c["sockets_with_owner"])
                elif name == "floor":
                    m = re.search(r"floor: (\d+) processes", last_err)
                    entry.update(processes=int(m.group(1)) if m else None)
                res[name] = entry
                print(f"{profile} N={n} {name}: wall {entry['wall']:.3f}s cpu {entry['cpu']:.3f}s rss {entry['rss_kib']} KiB", file=sys.stderr)
            res["busy_cpus_after"] = busy_cpus()
            print(f"{profile} N={n} background: {res['busy_cpus_before']:.2f} CPUs busy before the runs, "
                  f"{res['busy_cpus_after']:.2f} after, with the load idle", file=sys.stderr)
        finally:
            stop_load(load_p)
        sums = {k: sum(res[t][k] for t in tools if t.split()[0] in ("ps", "ss", "lsof")) for k in ("wall", "cpu", "user", "sys")}
        res["ps+ss+lsof"] = {**sums, "rss_kib": max(res[t]["rss_kib"] for t in tools if t.split()[0] in ("ps", "ss", "lsof"))}
        results.setdefault(profile, {})[n] = res
    json.dump(results, open(os.path.join(tmp, "results.json"), "w"), indent=1)
    for profile, by_n in results.items():
        print(f"\n### Load `{profile}`\n")
        print_tables(by_n)
    print(f"\n(raw figures: {tmp}/results.json)")


def print_tables(results):
    print("| N | tool | wall s | CPU s (user+sys) | user s | sys s | peak RSS MiB | processes | sockets | with owner | rest of the machine, CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, res in results.items():
        for name, e in res.items():
            if not isinstance(e, dict) or name == "analysis":
                continue
            cell = lambda k: "" if e.get(k) is None else str(e.get(k))
            rest = "" if e.get("others_cpu") is None else f"{e['others_cpu']:.2f}"
            print(f"| {n} | {name} | {e['wall']:.3f} | {e['cpu']:.3f} | {e['user']:.2f} | {e['sys']:.2f} | {e['rss_kib'] / 1024:.1f} | {cell('processes')} | {cell('sockets')} | {cell('owned')} | {rest} |")
    print("\n| N | run | curtain CPU / floor CPU | curtain wall / floor wall | (ps+ss+lsof) wall / curtain wall | (ps+ss+lsof) CPU / curtain CPU |")
    print("|---|---|---|---|---|---|")
    for n, res in results.items():
        for name in [t for t in res if t.startswith("curtain")]:
            c, f, t = res[name], res["floor"], res["ps+ss+lsof"]
            print(f"| {n} | {name} | {c['cpu'] / max(f['cpu'], 1e-3):.2f} | {c['wall'] / max(f['wall'], 1e-3):.2f} | {t['wall'] / max(c['wall'], 1e-3):.1f} | {t['cpu'] / max(c['cpu'], 1e-3):.1f} |")
    print("\n| N | the collector's archive | wall s | CPU s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for n, res in results.items():
        for name, e in res.get("analysis", {}).items():
            print(f"| {n} | curtain {name} | {e['wall']:.3f} | {e['cpu']:.3f} | {e['rss_kib'] / 1024:.1f} |")
    print("\nBackground (CPUs busy with the load idle and nothing timed running, 2 s before and after the runs): "
          + ", ".join(f"N={n}: {res['busy_cpus_before']:.2f} and {res['busy_cpus_after']:.2f}"
                      for n, res in results.items() if "busy_cpus_before" in res))


if __name__ == "__main__":
    main()
