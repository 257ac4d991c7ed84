#!/usr/bin/python3
"""zabkeeper beside Apache ZooKeeper 3.8, standalone, on 127.0.0.1 (a measurement, not a test).

  benches/compare-zookeeper.sh [--quick] [--reps N] [--sessions 32,128] [--values 100]
                               [--out DIR]

Both servers get the same zoo.cfg (tests/clients/zkserver.Server: tickTime 2000, snapCount
100000, fsync on: ZooKeeper's forceSync default, zabkeeper always syncs its log), each in its own
session (setsid) with stdin from /dev/null, on a free port; ZooKeeper's JVM runs with
-Xmx1g -Xms64m. Both run for the whole comparison. Start-up to serving is timed for each (launch →
`ruok` and `srvr` answer, polled every 10 ms). One unmeasured pass of every workload warms both up
(the JVM's JIT), then every workload runs alternately A/B/B/A over the repetitions (rep 1
ZooKeeper first, rep 2 zabkeeper first, …), each run `zabkeeper bench` with a bounded op count:

  create  ephemeral sequential creates          set    setData on 64 keys per session
  get     getData on 64 keys per session        mixed  get=90,set=10

for each session count and value size. Per run: ops/s, p50/p99/p99.9 latency (the bench's HDR
histogram), server CPU µs per op (/proc/PID/stat over the measured phase) and the load
generator's own. After the runs: each server's RSS (VmRSS) and peak (VmHWM). Writes
compare.md (one table of medians of the repetitions) and compare.json (the medians and the
zabkeeper/ZooKeeper ratios) into --out, prints the table, and stops both servers by PID.

ZABKEEPER_BIN selects the binary (default target/release/zabkeeper).
"""
import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "clients"))

import zkserver  # noqa: E402

KINDS = ("zookeeper", "zabkeeper")
WORKLOADS = (
    ("create", "create=1"),
    ("set", "set=1"),
    ("get", "get=1"),
    ("mixed", "get=90,set=10"),
)
METRICS = ("ops_per_s", "p50_ms", "p99_ms", "p999_ms", "server_cpu_us_per_op", "bench_cpu_us_per_op")


def bench_bin():
    return os.environ.get("ZABKEEPER_BIN", os.path.join(HERE, "..", "target", "release", "zabkeeper"))


def proc_status(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in MiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    raise KeyError(key)


def start(kind):
    server = zkserver.Server(kind=kind, tick_ms=2000, extra_cfg=["snapCount=100000"])
    # HotSpot takes the last -Xmx/-Xms it is given: these override zkserver's default heap.
    server.java_props = ["-Xmx1g", "-Xms64m"]
    t0 = time.monotonic()
    server.launch()
    deadline = t0 + zkserver.READY_TIMEOUT_S
    while not server.serving():
        if server.proc.poll() is not None or time.monotonic() > deadline:
            log = server.log()
            server.destroy()
            raise RuntimeError("%s did not start; log:\n%s" % (kind, log))
        time.sleep(0.01)
    return server, time.monotonic() - t0


def bench(server, mix, sessions, value, ops):
    cmd = [
        bench_bin(), "bench",
        "--server", server.address,
        "--clients", str(sessions),
        "--mix", mix,
        "--value-size", str(value),
        "--ops", str(ops),
        "--duration-secs", "600",
        "--server-pid", str(server.proc.pid),
    ]
    out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), out.stderr.strip()))
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if report["errors"]:
        raise RuntimeError("%s: %d errors" % (" ".join(cmd), report["errors"]))
    return report


def ratio(a, b):
    return round(a / b, 3) if b else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 reps, 32 sessions, fewer ops")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (>= 3; default 4, quick 3)")
    parser.add_argument("--sessions", default=None, help="session counts (default 32,128; quick 32)")
    parser.add_argument("--values", default="100", help="value sizes in bytes (default 100)")
    parser.add_argument("--out", default=os.path.join(HERE, "..", "target", "compare"))
    args = parser.parse_args()
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the `finally` below stops both servers by PID.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(143))
    reps = args.reps or (3 if args.quick else 4)
    if reps < 3:
        parser.error("--reps must be at least 3 (medians of >= 3)")
    sessions = [int(s) for s in (args.sessions or ("32" if args.quick else "32,128")).split(",")]
    values = [int(v) for v in args.values.split(",")]
    write_ops, read_ops = (4000, 20000) if args.quick else (20000, 100000)
    cases = [
        (name, mix, n, v, read_ops if name in ("get", "mixed") else write_ops)
        for n in sessions
        for v in values
        for name, mix in WORKLOADS
    ]
    os.makedirs(args.out, exist_ok=True)
    started_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()
    servers = {}
    try:
        startup = {}
        for kind in KINDS:
            servers[kind], startup[kind] = start(kind)
            print("%-9s serving after %.3f s (pid %d, %s)" % (
                kind, startup[kind], servers[kind].proc.pid, servers[kind].address), flush=True)
        rss_start = {k: proc_status(s.proc.pid, "VmRSS") for k, s in servers.items()}
        print("warm-up: one unmeasured pass of every workload on both", flush=True)
        for name, mix, n, v, ops in cases:
            for kind in KINDS:
                bench(servers[kind], mix, n, v, max(ops // 2, 1000))
        samples = {}  # (case key, kind) -> [report]
        for rep in range(reps):
            order = KINDS if rep % 2 == 0 else KINDS[::-1]
            for name, mix, n, v, ops in cases:
                key = "%s/%d/%dB" % (name, n, v)
                for kind in order:
                    r = bench(servers[kind], mix, n, v, ops)
                    samples.setdefault((key, kind), []).append(r)
                    print("rep %d %-16s %-9s %9.0f ops/s p50 %.3f p99 %.3f p99.9 %.3f ms cpu %.1f µs/op" % (
                        rep + 1, key, kind, r["ops_per_s"], r["p50_ms"], r["p99_ms"], r["p999_ms"],
                        r.get("server_cpu_us_per_op", 0.0)), flush=True)
        rss_end = {k: proc_status(s.proc.pid, "VmRSS") for k, s in servers.items()}
        rss_peak = {k: proc_status(s.proc.pid, "VmHWM") for k, s in servers.items()}
    finally:
        for s in servers.values():
            s.destroy()
    load_after = os.getloadavg()

    medians = {}
    for (key, kind), runs in samples.items():
        medians.setdefault(key, {})[kind] = {
            m: round(statistics.median(r.get(m, 0.0) for r in runs), 3) for m in METRICS
        }
    ratios = {
        key: {m: ratio(k["zabkeeper"][m], k["zookeeper"][m]) for m in METRICS}
        for key, k in medians.items()
    }
    ratios["rss_end_mib"] = ratio(rss_end["zabkeeper"], rss_end["zookeeper"])
    ratios["rss_peak_mib"] = ratio(rss_peak["zabkeeper"], rss_peak["zookeeper"])
    ratios["startup_s"] = ratio(startup["zabkeeper"], startup["zookeeper"])
    command = "benches/compare-zookeeper.sh " + " ".join(sys.argv[1:])
    result = {
        "command": command.strip(),
        "started": started_at,
        "reps": reps,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "startup_s": startup,
        "rss_start_mib": rss_start,
        "rss_end_mib": rss_end,
        "rss_peak_mib": rss_peak,
        "medians": medians,
        "ratios": ratios,
    }
    with open(os.path.join(args.out, "compare.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)

    lines = [
        "`%s`, %s, medians of %d repetitions (A/B/B/A), load average %.2f before / %.2f after."
        % (command.strip(), started_at, reps, load_before[0], load_after[0]),
        "",
        "| workload/sessions/value | ZooKeeper ops/s | zabkeeper ops/s | ratio | p50 ms ZK / zk | p99 ms ZK / zk (ratio) "
        "| p99.9 ms ZK / zk | server CPU µs/op ZK / zk | bench CPU µs/op |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in sorted(medians, key=lambda k: (int(k.split("/")[1]), k)):
        zk, us = medians[key]["zookeeper"], medians[key]["zabkeeper"]
        lines.append(
            "| %s | %.0f | %.0f | **%.2f×** | %.3f / %.3f | %.3f / %.3f (%.2f×) | %.3f / %.3f | %.1f / %.1f | %.1f |"
            % (key, zk["ops_per_s"], us["ops_per_s"], ratios[key]["ops_per_s"] or 0,
               zk["p50_ms"], us["p50_ms"], zk["p99_ms"], us["p99_ms"], ratios[key]["p99_ms"] or 0,
               zk["p999_ms"], us["p999_ms"], zk["server_cpu_us_per_op"], us["server_cpu_us_per_op"],
               us["bench_cpu_us_per_op"]))
    lines += [
        "",
        "| server | start-up to serving s | RSS at start MiB | RSS after the runs MiB | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in KINDS:
        lines.append("| %s | %.3f | %.1f | %.1f | %.1f |" % (
            kind, startup[kind], rss_start[kind], rss_end[kind], rss_peak[kind]))
    lines.append("")
    lines.append("zabkeeper/ZooKeeper: RSS after the runs %.2f×, peak %.2f×, start-up %.2f×." % (
        ratios["rss_end_mib"], ratios["rss_peak_mib"], ratios["startup_s"]))
    table = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "compare.md"), "w") as f:
        f.write(table)
    print()
    print(table)
    print("wrote %s and %s" % (os.path.join(args.out, "compare.md"), os.path.join(args.out, "compare.json")))


if __name__ == "__main__":
    main()
