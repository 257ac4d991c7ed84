#!/usr/bin/env bash
# Re-measures the tables of verification.md with the release zabkeeper-check and prints Markdown:
#   1. the CI profile on the core (`zabkeeper-check ci`): one row per run;
#   2. every seeded bug against the same profile (`zabkeeper-check ci --bug NAME`);
#   3. each bug's smallest known catching bound (`zabkeeper-check run ... --bug NAME`).
# Usage: models/scripts/measure.sh [path/to/zabkeeper-check]
set -euo pipefail
bin="${1:-target/release/zabkeeper-check}"

read -r -d '' CI_ROWS <<'PY' || true
import json, sys
for line in sys.stdin:
    if not line.startswith('{'):
        continue
    d = json.loads(line)
    if d.get('profile') == 'ci':
        print(f"\ntotal: {d['runs']} runs, complete {d['complete']}, violations {d['violations']}, unreached {d['unreached']}, {d['seconds']} s")
        continue
    if d['violations']:
        res = 'violated: ' + ', '.join(d['violations'])
    else:
        res = 'complete, all hold' if d['complete'] else (d.get('error') or 'incomplete')
    if d.get('kind') == 'schedule':
        print(f"| {d['run']} | schedule of {d['steps']} actions, `{d['bounds']}` | — | {d['steps_taken'] + 1} on its path | {d['steps_taken']} | {d['seconds']} | {res} | |")
        continue
    reached = ', '.join(f'{k} {v:,}' for k, v in d['reached'].items() if v)
    cmd = d['command'].replace('zabkeeper-check run ', '')
    print(f"| {d['run']} | `{cmd}` | {d['unique_states']:,} | {d['states']:,} | {d['max_depth']} | {d['seconds']} | {res} | {reached} |")
PY

read -r -d '' BUG_ROW <<'PY' || true
import json, sys
bug = sys.argv[1]
run = None
for line in sys.stdin:
    if not line.startswith('{'):
        continue
    d = json.loads(line)
    if d.get('profile') == 'ci':
        if run is None:
            print(f"| `{bug}` | **not caught** | | | | {d['seconds']} |")
        else:
            props = ', '.join(run['violations'])
            states = run.get('unique_states', run.get('steps_taken', 0) + 1)
            print(f"| `{bug}` | {run['run']} | {props} | {states:,} | {run['trace_steps']} | {d['seconds']} |")
    elif d['violations']:
        run = d
PY

read -r -d '' RUN_ROW <<'PY' || true
import json, sys
d = json.loads(sys.stdin.read())
args = sys.argv[1]
res = ', '.join(d['violations']) or ('not caught' if d['complete'] else 'incomplete')
print(f"| `{args}` | {d['unique_states']:,} | {d['seconds']} | {res} | {d['trace_steps'] or ''} |")
PY

echo "### CI profile on the core"
echo
echo "| run | command | unique states | states | max depth | seconds | result | reached (non-zero) |"
echo "|---|---|---|---|---|---|---|---|"
"$bin" ci 2>/dev/null | python3 -c "$CI_ROWS" || true

echo
echo "### Seeded bugs against the CI profile"
echo
echo "| bug | caught by run | property | unique states of that run | trace steps | total seconds |"
echo "|---|---|---|---|---|---|"
"$bin" list --json | python3 -c 'import json,sys; print("\n".join(b["name"] for b in json.load(sys.stdin)["bugs"]))' |
while read -r bug; do
    "$bin" ci --bug "$bug" 2>/dev/null | python3 -c "$BUG_ROW" "$bug" || true
done

echo
echo "### Smallest known bound that catches each bug (breadth-first)"
echo
echo "| run | unique states | seconds | property violated | trace steps |"
echo "|---|---|---|---|---|"
smallest() {
    "$bin" run "$@" 2>/dev/null | tail -1 | python3 -c "$RUN_ROW" "$*" || true
}
# One line per bug, the smallest bound known to catch it (found by hand; add a line with a new bug).
smallest election --servers 3 --bug vote-ignores-epoch
smallest sync --servers 3 --txns 0 --crashes 1 --link-faults 1 --bug epoch-not-persisted
smallest sync --servers 3 --txns 1 --crashes 1 --bug diff-instead-of-trunc
smallest sync --servers 3 --txns 2 --crashes 1 --bug trunc-one-too-many
smallest sync --servers 3 --txns 1 --crashes 1 --bug reports-processed-zxid
smallest sync --servers 3 --txns 1 --crashes 1 --link-faults 1 --bug ack-newleader-before-durable
smallest sync --servers 3 --txns 1 --crashes 2 --bug current-epoch-before-txns
smallest sync --servers 3 --txns 1 --crashes 1 --bug drop-pending-at-newleader
smallest sync --servers 3 --txns 1 --crashes 1 --bug no-ackepoch-quorum
smallest sync --servers 3 --txns 2 --crashes 0 --bug propose-only-to-synced
smallest sync --servers 3 --txns 1 --crashes 0 --syncs 1 --isolations 1 --bug sync-without-quorum
