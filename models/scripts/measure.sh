#!/usr/bin/env bash
# Re-measures the tables of verification.md: runs the CI profile and every mutant with the
# release zabkeeper-check and prints Markdown rows. Usage: models/scripts/measure.sh [path/to/zabkeeper-check]
set -euo pipefail
bin="${1:-target/release/zabkeeper-check}"
row() {
    local out
    out="$("$bin" run "$@" 2>/dev/null | tail -1)" || true
    python3 - "$out" "$*" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); args = sys.argv[2]
res = "violated: " + ", ".join(d["violations"]) if d["violations"] else ("complete, all hold" if d["complete"] else "incomplete")
steps = d.get("trace_steps") or ""
print(f"| `{args}` | {d['unique_states']:,} | {d['states']:,} | {d['max_depth']} | {d['seconds']} | {res} | {steps} |")
PY
}
echo "| run | unique states | states | max depth | seconds | result | trace steps |"
echo "|---|---|---|---|---|---|---|"
row election --servers 3
row zab --servers 3 --txns 1 --crashes 1
row sync --servers 3 --txns 1 --crashes 1
row sync --servers 3 --txns 2 --crashes 1
row zab --servers 3 --txns 1 --crashes 0 --max-epoch 3 --max-round 3
"$bin" list --json | python3 -c '
import json, sys
for b in json.load(sys.stdin)["bugs"]:
    print(" ".join([b["model"], *b["args"], "--bug", b["name"]]))
' | while read -r line; do
    # shellcheck disable=SC2086
    row $line
done
