#!/usr/bin/env bash
# Coverage of src/protocol by the model checker: builds zabkeeper-check instrumented
# (cargo-llvm-cov), runs the CI profile with it as .ci/run does — `zabkeeper-check ci` on the
# core, then `zabkeeper-check ci --bug NAME` for every seeded mutant of `list --json` — and prints
# line and branch coverage of src/protocol twice: after the core's run alone, and after the
# mutants' runs too, each with every line not reached (verification.md §Coverage of
# src/protocol). No line is left out of either figure.
#
# Usage: models/scripts/coverage.sh [--core-only] [--threads K] [--out DIR]
#   --core-only     run `zabkeeper-check ci` on the core only (one report)
#   --threads K     checker threads of every run (default: the checker's, all cores); the
#                   figures do not depend on it (every run is exhaustive)
#   --out DIR       where the lcov files and the reports go (default target/coverage-report):
#                   core.lcov / core.txt, and with-mutants.lcov / with-mutants.txt
#   --report-only   re-print the reports from the lcov files in DIR, run nothing
#
# Needs: cargo-llvm-cov (`cargo install cargo-llvm-cov --locked`) and llvm-tools
# (`rustup component add llvm-tools-preview`; or Debian's llvm with LLVM_COV / LLVM_PROFDATA set
# to a version matching rustc's LLVM). Branch coverage is unstable in rustc
# (-Zcoverage-options=branch): the script enables it on a stable toolchain with RUSTC_BOOTSTRAP=1
# for this build only; set COVERAGE_BRANCH=0 to skip it.
set -euo pipefail
cd "$(dirname "$0")/../.."

with_mutants=1
report_only=0
threads=()
out=target/coverage-report
while [ $# -gt 0 ]; do
    case "$1" in
        --core-only) with_mutants=0 ;;
        --out) out="$2"; shift ;;
        --threads) threads=(--threads "$2"); shift ;;
        --report-only) report_only=1 ;;
        *) echo "usage: $0 [--core-only] [--threads K] [--out DIR] [--report-only]" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$out"

# The instrumented build: cargo-llvm-cov's environment, in a target dir of its own.
export CARGO_TARGET_DIR="$PWD/target/coverage"
branch_flags=()
if [ "${COVERAGE_BRANCH:-1}" = 1 ]; then
    export RUSTC_BOOTSTRAP=1
    branch_flags=(--branch)
fi
# shellcheck disable=SC1090
source <(cargo llvm-cov show-env --sh "${branch_flags[@]}")
bin="$CARGO_LLVM_COV_TARGET_DIR/release/zabkeeper-check"

# The mutants' checks, one per line: `ci --bug NAME` for every bug `list --json` names (Bug::ALL,
# the bugs .ci/run's `cargo test --release -p zabkeeper-models` checks).
mutant_checks() {
    "$bin" list --json | python3 -c '
import json, sys
for b in json.load(sys.stdin)["bugs"]:
    print("ci --bug " + b["name"])'
}

run_all() {
    while read -r line; do
        [ -n "$line" ] || continue
        echo "=== zabkeeper-check $line ${threads[*]} ($(date -u +%H:%M:%S))" >&2
        # shellcheck disable=SC2086
        "$bin" $line "${threads[@]}" >/dev/null 2>&1 || echo "    (exit $?)" >&2
    done
}

report() {
    cargo llvm-cov report --release --lcov --output-path "$out/$1.lcov" "${branch_flags[@]}"
}

if [ "$report_only" = 0 ]; then
    rm -f "$out/core.lcov" "$out/with-mutants.lcov"
    cargo llvm-cov clean --workspace
    cargo build --release -p zabkeeper-models --bin zabkeeper-check
    echo ci | run_all
    report core
    if [ "$with_mutants" = 1 ]; then
        mutant_checks | run_all
        report with-mutants
    fi
fi
# Per file of src/protocol: lines (DA), branches (BRDA) reached, and every line not reached, as
# ranges with the function each is in.
print_report() {
    python3 - "$1" <<'PY'
import collections, sys
files = collections.OrderedDict()
cur = None
for raw in open(sys.argv[1]):
    line = raw.strip()
    if line.startswith("SF:"):
        path = line[3:]
        cur = files.setdefault(path, {"lines": {}, "branches": []}) if "/src/protocol/" in path else None
    elif cur is None:
        continue
    elif line.startswith("DA:"):
        n, count = line[3:].split(",")[:2]
        cur["lines"][int(n)] = cur["lines"].get(int(n), 0) + int(count)
    elif line.startswith("BRDA:"):
        n, _, _, taken = line[5:].split(",")
        cur["branches"].append((int(n), taken not in ("-", "0")))
def enclosing(src, n):
    fn = next((src[k].strip() for k in range(n - 1, -1, -1) if " fn " in f" {src[k]}"), "?")
    return fn.replace("pub(crate) ", "").replace("pub ", "").split("(")[0].split("<")[0]
tl = th = tb = tbh = 0
rows, missing = [], []
for path, f in sorted(files.items()):
    name = path[path.index("src/protocol/"):]
    lines = f["lines"]
    hit = sum(1 for c in lines.values() if c > 0)
    b = f["branches"]
    bh = sum(1 for _, t in b if t)
    tl += len(lines); th += hit; tb += len(b); tbh += bh
    rows.append((name, hit, len(lines), bh, len(b)))
    src = open(path).read().split("\n")
    # Consecutive unreached lines (ignoring lines llvm does not count) form one range.
    code = sorted(lines)
    ranges = []
    for k, n in enumerate(code):
        if lines[n] > 0:
            continue
        if ranges and ranges[-1][2] == k - 1:
            ranges[-1][1:] = [n, k]
        else:
            ranges.append([n, n, k])
    for a, b, _ in ranges:
        span = f"{a}" if a == b else f"{a}-{b}"
        missing.append(f"{name}:{span} [{enclosing(src, a)}] {src[a - 1].strip()}")
pct = lambda a, b: f"{100.0 * a / b:.1f} %" if b else "n/a"
print("| file | lines reached | lines | % | branches taken | branches | % |")
print("|---|---|---|---|---|---|---|")
for name, hit, n, bh, nb in rows:
    print(f"| `{name}` | {hit} | {n} | {pct(hit, n)} | {bh} | {nb} | {pct(bh, nb)} |")
print(f"| **src/protocol** | **{th}** | **{tl}** | **{pct(th, tl)}** | **{tbh}** | **{tb}** | **{pct(tbh, tb)}** |")
print()
print(f"lines not reached: {tl - th}, in {len(missing)} ranges (file:lines [enclosing fn] first line):")
for m in missing:
    print("  " + m)
PY
}

for name in core with-mutants; do
    [ -f "$out/$name.lcov" ] || continue
    echo "=== $name: $([ $name = core ] && echo 'zabkeeper-check ci' || echo 'zabkeeper-check ci, then ci --bug NAME for every mutant')"
    print_report "$out/$name.lcov" | tee "$out/$name.txt"
done
