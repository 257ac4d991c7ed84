#!/usr/bin/env bash
# Runs every seeded mutant (`zabkeeper-check list --json`, each at its catalogue bound) with the
# protocol core's local asserts off (feature no-local-asserts) and prints one Markdown row per
# mutant: which global property still catches it (verification.md §Mutants (new) and
# asserts-off table). The measurement build goes to its own target dir and never replaces the
# normal one. Usage: models/scripts/mutants-asserts-off.sh [--threads K]
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=2
[ "${1:-}" = --threads ] && threads="$2"
dir=target/no-local-asserts
CARGO_TARGET_DIR="$dir" cargo build --release -p zabkeeper-models --features no-local-asserts
bin="$dir/release/zabkeeper-check"
echo "| mutant (\`--bug\`) | run (asserts off) | caught by | trace steps | states | s |"
echo "|---|---|---|---|---|---|"
"$bin" list --json | python3 -c '
import json, sys
for b in json.load(sys.stdin)["bugs"]:
    print(b["name"] + "|" + " ".join([b["model"], *b["args"]]))' | while IFS='|' read -r bug args; do
    # shellcheck disable=SC2086
    line="$("$bin" run $args --bug "$bug" --threads "$threads" 2>/dev/null | tail -1)" || true
    python3 - "$bug" "$args" "$line" <<'PY'
import json, sys
bug, args, line = sys.argv[1:]
try:
    d = json.loads(line)
except ValueError:
    print(f"| `{bug}` | `{args}` | no summary (checker died) | | | |")
    sys.exit()
caught = ", ".join(d["violations"]) or "NOT CAUGHT"
print(f"| `{bug}` | `{args}` | {caught} | {d.get('trace_steps') or ''} | {d['unique_states']:,} | {d['seconds']} |")
PY
done
