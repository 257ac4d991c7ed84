#!/usr/bin/python3
"""zabkeeper beside Apache ZooKeeper 3.8 on 127.0.0.1, standalone and as 3-node ensembles (a
measurement, not a test).

  benches/compare-zookeeper.sh [--quick] [--reps N] [--sessions 8,32,128] [--values 100,10240]
                               [--parts standalone,ensemble,watch,failover,restart]
                               [--ensemble-sessions 32] [--znodes 1000000] [--out DIR]

Every server gets the same zoo.cfg (tests/clients/zkserver: tickTime 2000, snapCount 100000,
fsync on: ZooKeeper's forceSync default, zabkeeper always syncs its log), runs in its own session
(setsid) with stdin from /dev/null on free ports, and is stopped by its PID at the end, on an
error, on Ctrl-C or SIGTERM; ZooKeeper's JVM runs with -Xmx1g -Xms64m. Every measured series runs
alternately A/B/B/A over the repetitions (rep 1 ZooKeeper first, rep 2 zabkeeper first, …) and is
reported as the median of the repetitions, with the zabkeeper/ZooKeeper ratio. The load
generator is `zabkeeper bench` with bounded op counts. The parts (`--parts`, all by default):

  standalone  one server of each kind for the whole part; start-up to serving (launch → `ruok`
              and `srvr` answer, polled every 10 ms); one unmeasured pass of every workload (the
              JVM's JIT), then the workloads for each session count and value size:
                create  ephemeral sequential creates     set    setData on 64 keys per session
                get     getData on 64 keys per session   mixed  get=90,set=10
                multi   one multi of 10 setData (an op is one multi)
              ops/s, p50/p99/p99.9 (the bench's HDR histogram), server CPU µs per op
              (/proc/PID/stat) and the bench's own; RSS (VmRSS) and peak (VmHWM) after the runs.
  ensemble    a 3-node ensemble of each kind (zkserver.Ensemble) for the whole part, the same
              workloads (--ensemble-sessions, default 32; 100 B unless --ensemble-values) with the sessions
              spread over the three members (session i → member i mod 3); server CPU summed over
              the three; RSS and peak per member after the runs.
  watch       on the standalone servers: W watcher sessions each watching each of 10 nodes
              (W×10 watches, 1,000 by default), one writer setting the 10 nodes once per round;
              fire rate (notifications delivered per second over the fire phases) and the latency
              setData sent → notification received (`zabkeeper bench --watch-nodes`).
  failover    per repetition, a fresh 3-node ensemble of each kind (benches/failover.one_run,
              tickTime 2000 for both): launch → one leader, and `kill -9` of the leader → the
              first create acknowledged afterwards (kazoo, reconnect every 50 ms).
  restart     a fresh standalone server of each kind loaded with --znodes persistent znodes of
              100 B (pipelined creates: 32 sessions × depth 16), bytes per znode (RSS after the
              load − RSS before) / count, then per repetition `kill -9` and a restart on the same
              dataDir (snapshots + log), timed launch → serving, and the znode count checked
              (`mntr` zk_znode_count). Then writes during snapshots of that tree: per repetition
              one set run (32 sessions, 100 B, 200,000 ops) on the server restarted with
              snapCount=100000 (each kind snapshots the whole tree at least once in the run; the
              part fails if one does not) and one restarted with snapCount=10^9 (none),
              alternately; p99 with ÷ p99 without, and the peak RSS (VmHWM) ÷ RSS before the run.
  With both standalone and ensemble: the ensemble's ops/s ÷ the standalone server's for each
  workload both ran (reads spread over three members against one server).

--quick (the .ci/run step, under a minute): 3 repetitions, 32 sessions, 100 B, small op counts;
ensemble with the set workload only; watch with 200 watches; fail-over once; restart at 10,000
znodes, its snapshot runs once each at snapCount=1000 with 2,000 ops; 2,000 ops per write run, 10,000 per read run. Writes compare.md (the tables) and compare.json (medians, ratios, load averages) into
--out and prints the tables. ZABKEEPER_BIN selects the binary (default target/release/zabkeeper).
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "clients"))
sys.path.insert(0, HERE)

import zkserver  # noqa: E402

KINDS = ("zookeeper", "zabkeeper")
WORKLOADS = (
    ("create", "create=1"),
    ("set", "set=1"),
    ("get", "get=1"),
    ("mixed", "get=90,set=10"),
    ("multi", "multi=1"),
)
PARTS = ("standalone", "ensemble", "watch", "failover", "restart")
METRICS = ("ops_per_s", "p50_ms", "p99_ms", "p999_ms", "server_cpu_us_per_op", "bench_cpu_us_per_op")
JAVA = ["-Xmx1g", "-Xms64m"]  # HotSpot takes the last -Xmx/-Xms: these override zkserver's
TICK_MS = 2000
CFG = ["snapCount=100000"]
WATCH_NODES = 10


def bench_bin():
    return os.environ.get("ZABKEEPER_BIN", os.path.join(HERE, "..", "target", "release", "zabkeeper"))


def proc_status(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in MiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    raise KeyError(key)


class Target:
    """What the bench loads: one server or the members of an ensemble."""

    def __init__(self, address, pids):
        self.address, self.pids = address, pids


def wait_serving(server, t0):
    deadline = t0 + zkserver.READY_TIMEOUT_S
    while not server.serving():
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("%s did not start; log:\n%s" % (server.kind, server.log()))
        time.sleep(0.01)
    return time.monotonic() - t0


def start(kind, owned, data_dir=None, port=None, cfg=None):
    """A standalone server, registered in `owned` before it is launched (so it is stopped on any
    error); returns (server, seconds launch → serving). `cfg` replaces the zoo.cfg extras CFG."""
    server = zkserver.Server(kind=kind, tick_ms=TICK_MS, extra_cfg=CFG if cfg is None else cfg,
                             data_dir=data_dir, port=port)
    server.java_props = list(JAVA)
    owned.append(server)
    t0 = time.monotonic()
    server.launch()
    return server, wait_serving(server, t0)


def bench(target, args, timeout=900):
    cmd = [bench_bin(), "bench", "--server", target.address, "--duration-secs", "600",
           "--server-pid", ",".join(str(p) for p in target.pids)] + args
    out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), out.stderr.strip()))
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if report["errors"]:
        raise RuntimeError("%s: %d errors" % (" ".join(cmd), report["errors"]))
    return report


def workload_args(mix, sessions, value, ops):
    return ["--clients", str(sessions), "--mix", mix, "--value-size", str(value), "--ops", str(ops)]


def ratio(a, b):
    return round(a / b, 3) if b else None


def median_of(runs, metrics):
    return {m: round(statistics.median(r.get(m, 0.0) for r in runs), 3) for m in metrics}


def ab(targets, cases, reps, label, warm):
    """cases: [(key, bench args)]. Unmeasured pass (warm: half-size args) if given, then A/B/B/A
    over `reps`. Returns {key: {kind: medians}}."""
    if warm:
        print("%s warm-up: one unmeasured pass of every workload on both" % label, flush=True)
        for key, bargs in warm:
            for kind in KINDS:
                bench(targets[kind], bargs)
    samples = {}
    for rep in range(reps):
        order = KINDS if rep % 2 == 0 else KINDS[::-1]
        for key, bargs in cases:
            for kind in order:
                r = bench(targets[kind], bargs)
                samples.setdefault(key, {}).setdefault(kind, []).append(r)
                print("%s rep %d %-18s %-9s %9.0f ops/s p50 %.3f p99 %.3f p99.9 %.3f ms cpu %.1f µs/op" % (
                    label, rep + 1, key, kind, r["ops_per_s"], r["p50_ms"], r["p99_ms"], r["p999_ms"],
                    r.get("server_cpu_us_per_op", 0.0)), flush=True)
    return {key: {kind: median_of(runs, METRICS) for kind, runs in by.items()} for key, by in samples.items()}


def mix_cases(sessions, values, workloads, write_ops, read_ops):
    cases, warm = [], []
    for n in sessions:
        for v in values:
            for name, mix in WORKLOADS:
                if name not in workloads:
                    continue
                ops = read_ops if name in ("get", "mixed") else write_ops
                if name == "multi":
                    ops = max(write_ops // 5, 200)  # a multi is 10 setData
                if v > 1000:
                    ops = max(ops // 4, 200)  # 10 KiB values: a quarter of the ops
                key = "%s/%d/%dB" % (name, n, v)
                cases.append((key, workload_args(mix, n, v, ops)))
                warm.append((key, workload_args(mix, n, v, max(ops // 2, 200))))
    return cases, warm


def part_standalone(res, args, owned, sessions, values, write_ops, read_ops):
    servers, startup = {}, {}
    for kind in KINDS:
        servers[kind], startup[kind] = start(kind, owned)
        print("%-9s serving after %.3f s (pid %d, %s)" % (
            kind, startup[kind], servers[kind].proc.pid, servers[kind].address), flush=True)
    targets = {k: Target(s.address, [s.proc.pid]) for k, s in servers.items()}
    rss_start = {k: proc_status(s.proc.pid, "VmRSS") for k, s in servers.items()}
    cases, warm = mix_cases(sessions, values, [w for w, _ in WORKLOADS], write_ops, read_ops)
    res["medians"] = ab(targets, cases, args.reps, "standalone", warm)
    res["startup_s"] = startup
    res["rss_start_mib"] = rss_start
    res["rss_end_mib"] = {k: proc_status(s.proc.pid, "VmRSS") for k, s in servers.items()}
    res["rss_peak_mib"] = {k: proc_status(s.proc.pid, "VmHWM") for k, s in servers.items()}
    return targets


def part_ensemble(res, args, owned, sessions, workloads, write_ops, read_ops):
    ensembles, targets = {}, {}
    for kind in KINDS:
        ens = zkserver.Ensemble(kind=kind, tick_ms=TICK_MS, extra_cfg=CFG, java_props=JAVA)
        owned.append(ens)
        t0 = time.monotonic()
        ens.start()
        print("%-9s 3-node ensemble serving after %.3f s, leader %d (pids %s)" % (
            kind, time.monotonic() - t0, ens.leader(),
            ",".join(str(ens.servers[s].proc.pid) for s in ens.sids)), flush=True)
        ensembles[kind] = ens
        targets[kind] = Target(ens.connect_string(), [ens.servers[s].proc.pid for s in ens.sids])
    values = [int(v) for v in args.ensemble_values.split(",")]
    cases, warm = mix_cases(sessions, values, workloads, write_ops, read_ops)
    res["ensemble_medians"] = ab(targets, cases, args.reps, "ensemble", warm)
    per = {}
    for kind, ens in ensembles.items():
        per[kind] = {
            str(s): {"mode": ens.mode(s), "rss_end_mib": proc_status(ens.servers[s].proc.pid, "VmRSS"),
                     "rss_peak_mib": proc_status(ens.servers[s].proc.pid, "VmHWM")}
            for s in ens.sids
        }
    res["ensemble_rss"] = per
    for ens in ensembles.values():
        ens.destroy()


def part_watch(res, args, targets, watchers, notifications):
    key = "watch/%dx%d" % (watchers, WATCH_NODES)
    bargs = ["--watch-nodes", str(WATCH_NODES), "--clients", str(watchers), "--ops", str(notifications)]
    res["watch_medians"] = ab(targets, [(key, bargs)], args.reps, "watch", [(key, bargs)])


def part_failover(res, runs):
    import logging

    import failover  # kazoo

    logging.basicConfig(level=logging.ERROR)  # kazoo's reconnect warnings

    samples = {kind: [] for kind in KINDS}
    for rep in range(runs):
        for kind in (KINDS if rep % 2 == 0 else KINDS[::-1]):
            samples[kind].append(failover.one_run(kind, TICK_MS, rep + 1, java_props=JAVA))
    res["failover"] = {
        kind: {"election_s": round(statistics.median(r[0] for r in s), 3),
               "failover_s": round(statistics.median(r[1] for r in s), 3), "samples": s}
        for kind, s in samples.items()
    }


def part_restart(res, args, owned, znodes, restarts, stall):
    out = {}
    for kind in KINDS:
        server, _ = start(kind, owned, data_dir=tempfile.mkdtemp(prefix="zk-compare-restart-"))
        rss0 = proc_status(server.proc.pid, "VmRSS")
        t0 = time.monotonic()
        load = bench(Target(server.address, [server.proc.pid]),
                     ["--clients", "32", "--depth", "16", "--mix", "pcreate=1", "--value-size", "100",
                      "--ops", str(znodes)], timeout=1800)
        load_s = time.monotonic() - t0
        count = zkserver.parse_mntr(zkserver.four_letter(server.port, "mntr")).get("zk_znode_count", 0)
        rss1 = proc_status(server.proc.pid, "VmRSS")
        per_znode = (rss1 - rss0) * 1024 * 1024 / znodes
        print("%-9s loaded %d znodes in %.1f s (%.0f creates/s), %d in the tree, RSS %.1f → %.1f MiB: %.0f B/znode" % (
            kind, znodes, load_s, load["ops_per_s"], count, rss0, rss1, per_znode), flush=True)
        times = []
        for k in range(restarts):
            server.kill()
            server, took = start(kind, owned, data_dir=server.data_dir, port=server.port)
            after = zkserver.parse_mntr(zkserver.four_letter(server.port, "mntr")).get("zk_znode_count", 0)
            if after < znodes:
                raise RuntimeError("%s restarted with %d znodes, expected >= %d" % (kind, after, znodes))
            times.append(took)
            print("%-9s restart %d with %d znodes: serving after %.3f s, RSS %.1f MiB" % (
                kind, k + 1, after, took, proc_status(server.proc.pid, "VmRSS")), flush=True)
        server.kill()
        out[kind] = {"znodes": znodes, "load_s": round(load_s, 3), "load_ops_per_s": load["ops_per_s"],
                     "rss_before_mib": rss0, "rss_loaded_mib": rss1, "bytes_per_znode": round(per_znode, 1),
                     "restart_s": round(statistics.median(times), 3), "restart_samples": times}
        if stall:
            out[kind]["stall"] = snapshot_stall(kind, owned, server, znodes, **stall)
        shutil.rmtree(server.data_dir, ignore_errors=True)
    res["restart"] = out


def snapshot_files(server):
    return len([f for f in os.listdir(os.path.join(server.data_dir, "data", "version-2"))
                if f.startswith("snapshot.")])


def snapshot_stall(kind, owned, server, znodes, snap_count, ops, reps):
    """On the loaded dataDir of `server` (stopped): per repetition, one set run of `ops` (32
    sessions, 100 B) on a server restarted with snapCount=`snap_count` (ops = 2 × snap_count, so
    both kinds start a snapshot of the whole tree during it with room to finish it inside the run:
    zabkeeper after snapCount txns, ZooKeeper after snapCount/2 + a random roll below snapCount/2;
    a "with" run waits up to 60 s after the bench for a snapshot it started to reach the dataDir) and one on a server restarted with
    snapCount=10^9 (no snapshot), alternately with/without and without/with. Per series: medians of
    ops/s, p50, p99, p99.9; snapshots written during the runs; RSS before the run and the server's
    peak (VmHWM: since its launch, which is before the load of the run) after it."""
    series = {"with": ["snapCount=%d" % snap_count], "without": ["snapCount=1000000000"]}
    samples = {name: [] for name in series}
    for rep in range(reps):
        for name in (("with", "without") if rep % 2 == 0 else ("without", "with")):
            server.kill()
            server, _ = start(kind, owned, data_dir=server.data_dir, port=server.port, cfg=series[name])
            before, rss = snapshot_files(server), proc_status(server.proc.pid, "VmRSS")
            r = bench(Target(server.address, [server.proc.pid]),
                      ["--clients", "32", "--mix", "set=1", "--value-size", "100", "--ops", str(ops)])
            deadline = time.monotonic() + (60 if name == "with" else 0)
            while snapshot_files(server) == before and time.monotonic() < deadline:
                time.sleep(0.2)
            r.update(snapshots=snapshot_files(server) - before, rss_before_mib=rss,
                     rss_peak_mib=proc_status(server.proc.pid, "VmHWM"))
            samples[name].append(r)
            print("%-9s stall rep %d %-7s %9.0f ops/s p50 %.3f p99 %.3f p99.9 %.3f ms, %d snapshots, "
                  "RSS %.1f MiB, peak %.1f MiB" % (
                      kind, rep + 1, name, r["ops_per_s"], r["p50_ms"], r["p99_ms"], r["p999_ms"],
                      r["snapshots"], rss, r["rss_peak_mib"]), flush=True)
    server.kill()
    if min(r["snapshots"] for r in samples["with"]) < 1:
        raise RuntimeError("%s wrote no snapshot during a run with snapCount=%d" % (kind, snap_count))
    if max(r["snapshots"] for r in samples["without"]) > 0:
        raise RuntimeError("%s wrote a snapshot during a run with snapCount=10^9" % kind)
    out = {"snap_count": snap_count, "ops": ops, "znodes": znodes, "reps": reps}
    for name, runs in samples.items():
        out[name] = median_of(runs, ("ops_per_s", "p50_ms", "p99_ms", "p999_ms", "snapshots",
                                     "rss_before_mib", "rss_peak_mib"))
    out["p99_with_over_without"] = ratio(out["with"]["p99_ms"], out["without"]["p99_ms"])
    out["peak_over_rss_before"] = ratio(out["with"]["rss_peak_mib"], out["with"]["rss_before_mib"])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the .ci/run step: small, under a minute")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (>= 3; default 4, quick 3)")
    parser.add_argument("--sessions", default=None, help="session counts (default 8,32,128; quick 32)")
    parser.add_argument("--values", default=None, help="value sizes in bytes (default 100,10240; quick 100)")
    parser.add_argument("--ensemble-values", default="100", help="value sizes of the ensemble part")
    parser.add_argument("--ensemble-sessions", default="32", help="session counts of the ensemble part")
    parser.add_argument("--parts", default=",".join(PARTS), help="which parts, of " + ",".join(PARTS))
    parser.add_argument("--znodes", type=int, default=None, help="restart part (default 1e6; quick 20000)")
    parser.add_argument("--failover-runs", type=int, default=None, help="default 3; quick 1")
    parser.add_argument("--out", default=os.path.join(HERE, "..", "target", "compare"))
    args = parser.parse_args()
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the `finally` below stops every server by PID.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(143))
    args.reps = args.reps or (3 if args.quick else 4)
    if args.reps < 3:
        parser.error("--reps must be at least 3 (medians of >= 3)")
    parts = [p for p in args.parts.split(",") if p]
    if any(p not in PARTS for p in parts):
        parser.error("--parts takes %s" % ",".join(PARTS))
    sessions = [int(s) for s in (args.sessions or ("32" if args.quick else "8,32,128")).split(",")]
    values = [int(v) for v in (args.values or ("100" if args.quick else "100,10240")).split(",")]
    write_ops, read_ops = (2000, 10000) if args.quick else (20000, 100000)
    znodes = args.znodes or (10000 if args.quick else 1000000)
    failover_runs = args.failover_runs or (1 if args.quick else 3)
    os.makedirs(args.out, exist_ok=True)
    started_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t_start = time.monotonic()
    res = {"command": ("benches/compare-zookeeper.sh " + " ".join(sys.argv[1:])).strip(),
           "started": started_at, "reps": args.reps, "parts": parts,
           "loadavg_before": os.getloadavg()}
    owned = []  # every Server / Ensemble started, stopped by PID in `finally`
    try:
        targets = None
        if "standalone" in parts or "watch" in parts:
            if "standalone" in parts:
                targets = part_standalone(res, args, owned, sessions, values, write_ops, read_ops)
            else:
                servers = {k: start(k, owned)[0] for k in KINDS}
                targets = {k: Target(s.address, [s.proc.pid]) for k, s in servers.items()}
            if "watch" in parts:
                watchers = 20 if args.quick else 100
                part_watch(res, args, targets, watchers, watchers * WATCH_NODES * (5 if args.quick else 20))
            for o in owned:
                o.destroy()
            del owned[:]
        if "ensemble" in parts:
            ens_workloads = ["set"] if args.quick else [w for w, _ in WORKLOADS]
            ens_sessions = [int(n) for n in args.ensemble_sessions.split(",")]
            part_ensemble(res, args, owned, ens_sessions, ens_workloads, write_ops, read_ops)
        if "failover" in parts:
            part_failover(res, failover_runs)
        if "restart" in parts:
            stall = {"snap_count": 1000 if args.quick else 100000, "ops": 2000 if args.quick else 200000,
                     "reps": 1 if args.quick else args.reps}
            part_restart(res, args, owned, znodes, 3 if not args.quick else 1, stall)
    finally:
        for o in owned:
            o.destroy()
    res["loadavg_after"] = os.getloadavg()
    res["wall_s"] = round(time.monotonic() - t_start, 1)
    res["ratios"] = ratios(res)
    with open(os.path.join(args.out, "compare.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
    table = tables(res)
    with open(os.path.join(args.out, "compare.md"), "w") as f:
        f.write(table)
    print()
    print(table)
    print("wrote %s and %s" % (os.path.join(args.out, "compare.md"), os.path.join(args.out, "compare.json")))


def ratios(res):
    out = {}
    for section in ("medians", "ensemble_medians", "watch_medians"):
        for key, k in res.get(section, {}).items():
            out[("ensemble:" if section == "ensemble_medians" else "") + key] = {
                m: ratio(k["zabkeeper"][m], k["zookeeper"][m]) for m in METRICS}
    if "rss_end_mib" in res:
        for m in ("rss_end_mib", "rss_peak_mib", "startup_s"):
            out[m] = ratio(res[m]["zabkeeper"], res[m]["zookeeper"])
    if "ensemble_rss" in res:
        def mean_rss(kind):
            return statistics.mean(v["rss_end_mib"] for v in res["ensemble_rss"][kind].values())
        out["ensemble_rss_end_mib_mean"] = ratio(mean_rss("zabkeeper"), mean_rss("zookeeper"))
    if "failover" in res:
        f = res["failover"]
        out["failover_s"] = ratio(f["zabkeeper"]["failover_s"], f["zookeeper"]["failover_s"])
        out["election_s"] = ratio(f["zabkeeper"]["election_s"], f["zookeeper"]["election_s"])
    if "medians" in res and "ensemble_medians" in res:
        # The same workload spread over 3 members ÷ on one server, per kind (follower reads).
        for key, k in res["ensemble_medians"].items():
            if key in res["medians"]:
                out["spread:" + key] = {kind: ratio(k[kind]["ops_per_s"], res["medians"][key][kind]["ops_per_s"])
                                        for kind in KINDS}
    if "restart" in res:
        r = res["restart"]
        if "stall" in r["zookeeper"]:
            out["stall_p99_with_over_without"] = {kind: r[kind]["stall"]["p99_with_over_without"] for kind in KINDS}
            out["stall_peak_over_rss_before"] = {kind: r[kind]["stall"]["peak_over_rss_before"] for kind in KINDS}
        out["restart_s"] = ratio(r["zabkeeper"]["restart_s"], r["zookeeper"]["restart_s"])
        out["bytes_per_znode"] = ratio(r["zabkeeper"]["bytes_per_znode"], r["zookeeper"]["bytes_per_znode"])
    return out


def mix_table(medians, rat, prefix):
    lines = [
        "| workload/sessions/value | ZooKeeper ops/s | zabkeeper ops/s | ratio | p50 ms ZK / zk | p99 ms ZK / zk (ratio) "
        "| p99.9 ms ZK / zk | server CPU µs/op ZK / zk | bench CPU µs/op |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    def order(k):
        n = k.split("/")[1]
        return (int(n) if n.isdigit() else 0, k)

    for key in sorted(medians, key=order):
        zk, us, r = medians[key]["zookeeper"], medians[key]["zabkeeper"], rat[prefix + key]
        lines.append(
            "| %s | %.0f | %.0f | **%.2f×** | %.3f / %.3f | %.3f / %.3f (%.2f×) | %.3f / %.3f | %.1f / %.1f | %.1f |"
            % (key, zk["ops_per_s"], us["ops_per_s"], r["ops_per_s"] or 0, zk["p50_ms"], us["p50_ms"],
               zk["p99_ms"], us["p99_ms"], r["p99_ms"] or 0, zk["p999_ms"], us["p999_ms"],
               zk["server_cpu_us_per_op"], us["server_cpu_us_per_op"], us["bench_cpu_us_per_op"]))
    return lines


def tables(res):
    rat = res["ratios"]
    la0, la1 = res["loadavg_before"][0], res["loadavg_after"][0]
    lines = ["`%s`, %s, medians of %d repetitions (A/B/B/A), %.0f s, load average %.2f before / %.2f after."
             % (res["command"], res["started"], res["reps"], res["wall_s"], la0, la1), ""]
    if "medians" in res:
        lines += ["Standalone:", ""] + mix_table(res["medians"], rat, "") + [""]
        lines += ["| server | start-up to serving s | RSS at start MiB | RSS after the runs MiB | peak RSS MiB |",
                  "|---|---:|---:|---:|---:|"]
        for kind in KINDS:
            lines.append("| %s | %.3f | %.1f | %.1f | %.1f |" % (
                kind, res["startup_s"][kind], res["rss_start_mib"][kind], res["rss_end_mib"][kind],
                res["rss_peak_mib"][kind]))
        lines += ["", "zabkeeper/ZooKeeper: RSS after the runs %.2f×, peak %.2f×, start-up %.2f×." % (
            rat["rss_end_mib"], rat["rss_peak_mib"], rat["startup_s"]), ""]
    if "ensemble_medians" in res:
        lines += ["3-node ensembles (sessions spread over the members; server CPU summed over the three):", ""]
        lines += mix_table(res["ensemble_medians"], rat, "ensemble:") + [""]
        lines += ["| server | member (mode): RSS after the runs / peak MiB |", "|---|---|"]
        for kind in KINDS:
            lines.append("| %s | %s |" % (kind, ", ".join(
                "%s (%s): %.1f / %.1f" % (s, v["mode"], v["rss_end_mib"], v["rss_peak_mib"])
                for s, v in sorted(res["ensemble_rss"][kind].items()))))
        lines += ["", "zabkeeper/ZooKeeper: mean member RSS after the runs %.2f×." % rat["ensemble_rss_end_mib_mean"], ""]
    if "watch_medians" in res:
        lines += ["Watches (standalone; ops = notifications delivered, ops/s = fire rate):", ""]
        lines += mix_table(res["watch_medians"], rat, "") + [""]
    if "failover" in res:
        f = res["failover"]
        lines += ["| 3-node ensemble, tickTime %d | ZooKeeper s | zabkeeper s | ratio |" % TICK_MS, "|---|---:|---:|---:|",
                  "| launch → one leader, all serving | %.3f | %.3f | %.2f× |" % (
                      f["zookeeper"]["election_s"], f["zabkeeper"]["election_s"], rat["election_s"]),
                  "| `kill -9` of the leader → first acknowledged create | %.3f | %.3f | **%.2f×** |" % (
                      f["zookeeper"]["failover_s"], f["zabkeeper"]["failover_s"], rat["failover_s"]),
                  "", "(medians of %d runs per kind)" % len(f["zookeeper"]["samples"]), ""]
    if "restart" in res:
        r = res["restart"]
        n = r["zookeeper"]["znodes"]
        lines += ["| %d znodes of 100 B, standalone | ZooKeeper | zabkeeper | ratio |" % n, "|---|---:|---:|---:|",
                  "| load (32 sessions × depth 16), creates/s | %.0f | %.0f | %.2f× |" % (
                      r["zookeeper"]["load_ops_per_s"], r["zabkeeper"]["load_ops_per_s"],
                      ratio(r["zabkeeper"]["load_ops_per_s"], r["zookeeper"]["load_ops_per_s"])),
                  "| RSS before / loaded MiB | %.1f / %.1f | %.1f / %.1f | |" % (
                      r["zookeeper"]["rss_before_mib"], r["zookeeper"]["rss_loaded_mib"],
                      r["zabkeeper"]["rss_before_mib"], r["zabkeeper"]["rss_loaded_mib"]),
                  "| bytes per znode (RSS delta / count) | %.0f | %.0f | **%.2f×** |" % (
                      r["zookeeper"]["bytes_per_znode"], r["zabkeeper"]["bytes_per_znode"], rat["bytes_per_znode"]),
                  "| `kill -9`, restart (snapshot + log) → serving, s (median of %d) | %.3f | %.3f | **%.2f×** |" % (
                      len(r["zookeeper"]["restart_samples"]), r["zookeeper"]["restart_s"],
                      r["zabkeeper"]["restart_s"], rat["restart_s"]), ""]
        if "stall" in r["zookeeper"]:
            st = {kind: r[kind]["stall"] for kind in KINDS}
            lines += ["Writes during snapshots of the %d-znode tree (set, 32 sessions, 100 B, %d ops a run, medians of "
                      "%d runs per series; snapCount=%d against 10^9):" % (
                          n, st["zookeeper"]["ops"], st["zookeeper"]["reps"],
                          st["zookeeper"]["snap_count"]), "",
                      "| server | snapshots a run | ops/s with / without | p99 ms with / without | p99 with ÷ without "
                      "| p99.9 ms with / without | RSS before the run / peak MiB | peak ÷ RSS before |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for kind in KINDS:
                w, wo = st[kind]["with"], st[kind]["without"]
                lines.append("| %s | %.0f | %.0f / %.0f | %.3f / %.3f | **%.2f×** | %.3f / %.3f | %.1f / %.1f | %.2f× |" % (
                    kind, w["snapshots"], w["ops_per_s"], wo["ops_per_s"], w["p99_ms"], wo["p99_ms"],
                    st[kind]["p99_with_over_without"], w["p999_ms"], wo["p999_ms"], w["rss_before_mib"],
                    w["rss_peak_mib"], st[kind]["peak_over_rss_before"]))
            lines.append("")
    spread = sorted(k for k in rat if k.startswith("spread:"))
    if spread:
        lines += ["The same workload on a 3-node ensemble (sessions spread over the members) ÷ on one server, ops/s:",
                  "", "| workload/sessions/value | ZooKeeper | zabkeeper |", "|---|---:|---:|"]
        for k in spread:
            lines.append("| %s | %.2f× | %.2f× |" % (k[len("spread:"):], rat[k]["zookeeper"] or 0,
                                                      rat[k]["zabkeeper"] or 0))
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
