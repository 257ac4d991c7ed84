#!/bin/bash
# Standalone write runs of two zabkeeper binaries side by side, A/B/B/A (benches/README.md
# "Write path: where a write waited").
#
#   benches/write_path_ab.sh BIN_A BIN_B [REPS] [OUT]
#
# For each repetition, workload (set, create: `zabkeeper bench --mix set=1|create=1 --ops 20000`,
# 100 B, one request in flight per session) and session count (32, 128), each binary serves a
# fresh dataDir (zoo.cfg: tickTime=2000, snapCount=100000, maxClientCnxns=0) under `setsid` with
# stdin from /dev/null; odd repetitions run A first, even ones B first. The fdatasync calls of the
# server are counted with `perf stat -e syscalls:sys_enter_fdatasync -p PID` (a kernel counter:
# unlike `strace -f`, it does not stop the server at every syscall). The load generator is
# BENCH (default: target/release/zabkeeper); MIXES overrides the workloads (e.g. "set=1 multi=1"). Prints one line per run and the medians as a table.
# Set ZABKEEPER_PROBE=1 to pass it to the servers (the probe of commit 9a5d498, if built in).
set -euo pipefail
A=$1; B=$2; REPS=${3:-3}; OUT=${4:-/tmp/write_path_ab.txt}
BENCH=${BENCH:-$(dirname "$0")/../target/release/zabkeeper}
PORT=${PORT:-23181}
WORK=$(mktemp -d /tmp/write_path_ab.XXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

one_run() { # BIN CLIENTS MIX
    local bin=$1 clients=$2 mix=$3 d
    d=$(mktemp -d "$WORK/run.XXXX")
    mkdir -p "$d/data"
    printf 'tickTime=2000\ndataDir=%s/data\nclientPort=%s\nsnapCount=100000\nmaxClientCnxns=0\n' \
        "$d" "$PORT" > "$d/zoo.cfg"
    setsid "$bin" serve --config "$d/zoo.cfg" </dev/null >"$d/log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
    perf stat -x, -e syscalls:sys_enter_fdatasync -p "$PID" -o "$d/perf.txt" &
    local perf=$!
    sleep 0.2
    timeout 300 "$BENCH" bench --server 127.0.0.1:$PORT --clients "$clients" --mix "$mix" \
        --ops 20000 --server-pid "$PID" > "$d/bench.json"
    kill -INT $perf; wait $perf || true
    kill -TERM "$PID"; wait "$PID" || true; PID=""
    grep PROBE "$d/log" >&2 || true
    python3 - "$d/bench.json" "$(grep fdatasync "$d/perf.txt" | cut -d, -f1)" "$bin" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); f = int(sys.argv[2])
print(f"{sys.argv[3]:40s} {b['mix']:9s} c={b['clients']:3d} ops/s={b['ops_per_s']:8.0f} "
      f"p50={b['p50_ms']:6.3f} p99={b['p99_ms']:6.3f} cpu_us/op={b['server_cpu_us_per_op']:5.1f} "
      f"fsyncs={f} ops/fsync={b['ops']/max(f, 1):.1f}")
PY
    rm -rf "$d"
}

: > "$OUT"
echo "start $(date -u +%H:%M:%S) loadavg $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
for r in $(seq "$REPS"); do
    for mix in ${MIXES:-set=1 create=1}; do
        for c in 32 128; do
            if [ $((r % 2)) = 1 ]; then order="$A $B"; else order="$B $A"; fi
            for bin in $order; do one_run "$bin" "$c" "$mix" | tee -a "$OUT"; done
        done
    done
done
echo "end $(date -u +%H:%M:%S) loadavg $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
python3 - "$OUT" <<'PY'
import re, statistics as st, sys
rows = {}
pat = (r"(\S+)\s+(\S+)\s+c=\s*(\d+) ops/s=\s*(\d+) p50=\s*([\d.]+) p99=\s*([\d.]+) "
       r"cpu_us/op=\s*([\d.]+) fsyncs=(\d+) ops/fsync=([\d.]+)")
for line in open(sys.argv[1]):
    m = re.match(pat, line)
    if m:
        rows.setdefault((m.group(2), int(m.group(3)), m.group(1)), []).append(
            [float(x) for x in m.groups()[3:]])
print("| workload/sessions | build | reps | ops/s | p50 ms | p99 ms | server CPU µs/op | ops per fsync |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for (mix, c, b), v in sorted(rows.items()):
    med = [st.median(x[i] for x in v) for i in range(6)]
    print(f"| {mix.split('=')[0]}/{c} | {b} | {len(v)} | {med[0]:.0f} | {med[1]:.3f} | "
          f"{med[2]:.3f} | {med[3]:.1f} | {med[5]:.1f} |")
PY
