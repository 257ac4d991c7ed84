#!/usr/bin/env bash
# Runs the CI profile against seeded mutants with the protocol core's local asserts off (feature
# no-local-asserts) and prints one Markdown row per mutant: which run of the profile caught it
# and by which global property (verification.md §Mutants (new) and asserts-off table). The
# measurement build goes to its own target dir and never replaces the normal one.
# Usage: models/scripts/mutants-asserts-off.sh [--threads K] [BUG...]   (default: every mutant)
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=2
if [ "${1:-}" = --threads ]; then
    threads="$2"
    shift 2
fi
dir=target/no-local-asserts
CARGO_TARGET_DIR="$dir" cargo build --release -p zabkeeper-models --features no-local-asserts
bin="$dir/release/zabkeeper-check"
if [ $# -gt 0 ]; then
    bugs=("$@")
else
    mapfile -t bugs < <("$bin" list --json | python3 -c '
import json, sys
for b in json.load(sys.stdin)["bugs"]:
    print(b["name"])')
fi
echo "| mutant (\`--bug\`) | caught by run (asserts off) | property | trace steps | states of that run | s (whole \`ci --bug\`) |"
echo "|---|---|---|---|---|---|"
for bug in "${bugs[@]}"; do
    out="$("$bin" ci --bug "$bug" --threads "$threads" 2>/dev/null)" || true
    python3 - "$bug" "$out" <<'PY'
import json, sys
bug, out = sys.argv[1:]
lines = []
for l in out.splitlines():
    try:
        lines.append(json.loads(l))
    except ValueError:
        pass
last = next((l for l in reversed(lines) if l.get("profile") == "ci"), None)
if last is None:
    print(f"| `{bug}` | no summary (checker died) | | | | |")
    sys.exit()
run = next((l for l in lines if l.get("run") and l["violations"]), None)
if run is None:
    print(f"| `{bug}` | NOT CAUGHT | | | | {last['seconds']} |")
    sys.exit()
states = run.get("unique_states", run.get("steps_taken", 0) + 1)  # a schedule run: its path's
print(f"| `{bug}` | {run['run']} | {', '.join(run['violations'])} | {run.get('trace_steps') or ''} | {states:,} | {last['seconds']} |")
PY
done
