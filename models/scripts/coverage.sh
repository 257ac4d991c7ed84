#!/usr/bin/env bash
# Coverage of src/protocol by the model checker: builds zabkeeper-check instrumented
# (cargo-llvm-cov), runs the CI profile's checks with it, and prints line and branch
# coverage of src/protocol with every line not reached (verification.md §Coverage of
# src/protocol).
#
# Usage: models/scripts/coverage.sh [--with-mutants] [--out DIR]
#   --with-mutants  also run every seeded mutant (`list --json` gives each one's run), so the
#                   `if has_bug(..)` branches count as reached
#   --out DIR       where the lcov file and the report go (default target/coverage-report)
#   --report-only   re-print the report from the last lcov file in DIR, run nothing
#
# The checks come from ONE place, `checks` below: `zabkeeper-check ci` once the checker has that
# subcommand (the CI profile itself), otherwise the runs models/tests/*.rs make today.
#
# Needs: cargo-llvm-cov (`cargo install cargo-llvm-cov --locked`) and llvm-tools
# (`rustup component add llvm-tools-preview`; or Debian's llvm with LLVM_COV / LLVM_PROFDATA set
# to a version matching rustc's LLVM). Branch coverage is unstable in rustc
# (-Zcoverage-options=branch): the script enables it on a stable toolchain with RUSTC_BOOTSTRAP=1
# for this build only; set COVERAGE_BRANCH=0 to skip it.
set -euo pipefail
cd "$(dirname "$0")/../.."

with_mutants=0
report_only=0
out=target/coverage-report
while [ $# -gt 0 ]; do
    case "$1" in
        --with-mutants) with_mutants=1 ;;
        --out) out="$2"; shift ;;
        --report-only) report_only=1 ;;
        *) echo "usage: $0 [--with-mutants] [--out DIR] [--report-only]" >&2; exit 2 ;;
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

# One check per line: the arguments of `zabkeeper-check`.
checks() {
    if "$bin" ci --help >/dev/null 2>&1; then
        echo "ci"
        return
    fi
    # Today's CI profile: models/tests/election.rs and models/tests/zab.rs.
    cat <<'RUNS'
run election --servers 3
run election --servers 3 --crashes 1 --histories 2 --max-round 1
run election --servers 3 --link-faults 1 --histories 2 --max-round 1
run zab --servers 3 --txns 1 --crashes 1
run sync --servers 3 --txns 1 --crashes 1
RUNS
}

mutant_checks() {
    if "$bin" ci --help >/dev/null 2>&1; then
        "$bin" list --json | python3 -c '
import json, sys
for b in json.load(sys.stdin)["bugs"]:
    print("ci --bug " + b["name"])'
        return
    fi
    "$bin" list --json | python3 -c '
import json, sys
for b in json.load(sys.stdin)["bugs"]:
    print(" ".join(["run", b["model"], *b["args"], "--bug", b["name"]]))'
}

run_all() {
    while read -r line; do
        [ -n "$line" ] || continue
        echo "=== zabkeeper-check $line" >&2
        # shellcheck disable=SC2086
        "$bin" $line >/dev/null 2>&1 || echo "    (exit $?)" >&2
    done
}

if [ "$report_only" = 0 ]; then
    cargo llvm-cov clean --workspace
    cargo build --release -p zabkeeper-models --bin zabkeeper-check
    checks | run_all
    if [ "$with_mutants" = 1 ]; then
        mutant_checks | run_all
    fi
    cargo llvm-cov report --release --lcov --output-path "$out/protocol.lcov" "${branch_flags[@]}"
fi
python3 - "$out/protocol.lcov" models/scripts/coverage-excluded.txt <<'PY' | tee "$out/protocol.txt"
# Per file of src/protocol: lines (DA), branches (BRDA) reached, and every line not reached, each
# with the function it is in. Then the figure without the unreached lines that
# coverage-excluded.txt lists (mutant-only `has_bug` branches and pure formatting), each named.
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
# Exclusions: "kind<TAB>file<TAB>fn<TAB>previous line<TAB>line", lines trimmed (kind: mutant or
# format); the function and the previous line tell apart equal lines, and survive line shifts.
excluded = {}
for raw in open(sys.argv[2]):
    if raw.strip() and not raw.startswith("#"):
        kind, name, fn, prev, text = raw.rstrip("\n").split("\t")
        excluded[(name, fn, prev, text)] = kind
used = set()
def enclosing(src, n):
    fn = next((src[k].strip() for k in range(n - 1, -1, -1) if " fn " in f" {src[k]}"), "?")
    return fn.replace("pub(crate) ", "").replace("pub ", "").split("(")[0].split("<")[0]
tl = th = tb = tbh = 0
rows, missing, skipped = [], [], collections.Counter()
for path, f in sorted(files.items()):
    name = path[path.index("src/protocol/"):]
    lines = f["lines"]
    hit = sum(1 for c in lines.values() if c > 0)
    b = f["branches"]
    bh = sum(1 for _, t in b if t)
    tl += len(lines); th += hit; tb += len(b); tbh += bh
    rows.append((name, hit, len(lines), bh, len(b)))
    src = open(path).read().split("\n")
    # Consecutive unreached lines (ignoring lines llvm does not count) form one range, shown with
    # the function it is in; an excluded line is marked with its kind.
    code = sorted(lines)
    ranges = []
    for n in code:
        if lines[n] > 0:
            continue
        key = (name, enclosing(src, n), src[n - 2].strip() if n > 1 else "", src[n - 1].strip())
        kind = excluded.get(key)
        if kind:
            used.add(key)
            skipped[kind] += 1
        tag = kind or ""
        if ranges and code.index(n) == code.index(ranges[-1][1]) + 1 and ranges[-1][2] == tag:
            ranges[-1][1] = n
        else:
            ranges.append([n, n, tag])
    for a, b, tag in ranges:
        span = f"{a}" if a == b else f"{a}-{b}"
        mark = f" ({tag}, excluded)" if tag else ""
        missing.append(f"{name}:{span} [{enclosing(src, a)}] {src[a - 1].strip()}{mark}")
pct = lambda a, b: f"{100.0 * a / b:.1f} %" if b else "n/a"
print("| file | lines reached | lines | % | branches taken | branches | % |")
print("|---|---|---|---|---|---|---|")
for name, hit, n, bh, nb in rows:
    print(f"| `{name}` | {hit} | {n} | {pct(hit, n)} | {bh} | {nb} | {pct(bh, nb)} |")
print(f"| **src/protocol** | **{th}** | **{tl}** | **{pct(th, tl)}** | **{tbh}** | **{tb}** | **{pct(tbh, tb)}** |")
print()
ex = sum(skipped.values())
print(f"without the {ex} unreached lines coverage-excluded.txt lists "
      f"({skipped['mutant']} mutant-only, {skipped['format']} formatting): "
      f"lines {th} / {tl - ex} = {pct(th, tl - ex)}")
for key in sorted(set(excluded) - used):
    print(f"warning: excluded line not found unreached (reached, or moved): {key}")
print()
print(f"lines not reached: {tl - th}, in {len(missing)} ranges (file:lines [enclosing fn] first line):")
for m in missing:
    print("  " + m)
PY
