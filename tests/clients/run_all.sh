#!/usr/bin/env bash
# Client-compatibility tests against a built zabkeeper binary; called by .ci after
# `cargo build --release`:   tests/clients/run_all.sh target/release/zabkeeper
#
# 1. kazoo scenarios (tests/clients/test_kazoo_scenarios.py)
# 2. zkCli.sh and the C client's cli_mt (tests/clients/test_cli.py); a frame-by-frame differential
#    run of raw requests against zabkeeper and Apache ZooKeeper (tests/clients/test_differential.py);
#    quotas through zkCli.sh and kazoo on both servers (tests/clients/test_quota.py);
#    a Go program on Debian's go-zookeeper library (tests/clients/test_go_client.py)
# 3. one data directory served by Apache ZooKeeper 3.8 and zabkeeper in turn, both directions
#    (tests/clients/test_datadir_interop.py)
# 4. kazoo's own test suite through kazoo_plugin (run_kazoo_suite.sh zabkeeper)
# 5. a 3-server ensemble of real processes (tests/clients/test_ensemble.py: fail-over, DIFF/TRUNC/
#    SNAP, partitions through proxies, sessions), against Apache ZooKeeper 3.8 and zabkeeper
#    (whose tests skip, naming the reason, while the binary refuses server.N lines), then kazoo's
#    suite against a zabkeeper ensemble (run_kazoo_suite.sh zabkeeper --ensemble 3; ends at once
#    with status 0 and the reason while server.N lines are refused)
# Set ZK_COMPARE=1 to also run the kazoo suite against Debian's Apache ZooKeeper (standalone and
# a 3-server ensemble).
# Installs the Debian packages it needs when missing. Exits non-zero on any failure; every step is
# bounded by `timeout`.
set -euo pipefail
bin="$(realpath "${1:?usage: run_all.sh path/to/zabkeeper}")"
here="$(cd "$(dirname "$0")" && pwd)"
export ZABKEEPER_BIN="$bin"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export RUST_LOG="${RUST_LOG:-warn}"

need=()
/usr/bin/python3 -c "import kazoo" 2>/dev/null || need+=(python3-kazoo)
/usr/bin/python3 -c "import pytest" 2>/dev/null || need+=(python3-pytest)
/usr/bin/python3 -c "import mock" 2>/dev/null || need+=(python3-mock)
/usr/bin/python3 -c "import objgraph" 2>/dev/null || need+=(python3-objgraph)
[ -x /usr/share/zookeeper/bin/zkCli.sh ] || need+=(zookeeper)
[ -x /usr/lib/zookeeper/bin/cli_mt ] || need+=(zookeeper-bin)
command -v go >/dev/null || need+=(golang-go)
[ -d /usr/share/gocode/src/github.com/samuel/go-zookeeper/zk ] ||
    need+=(golang-github-samuel-go-zookeeper-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    timeout 600 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${need[@]}" >/dev/null
fi

status=0
run() {
    echo "=== $*"
    if ! "$@"; then
        echo "FAILED: $*"
        status=1
    fi
}
py=(timeout -k 10 600 /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfE)
run env ZK_KIND=zabkeeper "${py[@]}" "$here/test_kazoo_scenarios.py" "$here/test_cli.py" \
    "$here/test_differential.py" "$here/test_quota.py" "$here/test_go_client.py"
run "${py[@]}" "$here/test_datadir_interop.py"
run "$here/run_kazoo_suite.sh" zabkeeper
run env ZK_KIND=zookeeper "${py[@]}" "$here/test_ensemble.py"
run env ZK_KIND=zabkeeper "${py[@]}" -rs "$here/test_ensemble.py"
run "$here/run_kazoo_suite.sh" zabkeeper --ensemble 3
if [ "${ZK_COMPARE:-0}" = 1 ]; then
    run "$here/run_kazoo_suite.sh" zookeeper
    run "$here/run_kazoo_suite.sh" zookeeper --ensemble 3
fi
exit $status
