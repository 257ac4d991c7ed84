#!/usr/bin/env bash
# zabkeeper beside Apache ZooKeeper 3.8 on this machine, standalone and 3-node ensembles, one command:
#   benches/compare-zookeeper.sh [--quick] [--reps N] [--sessions 8,32,128] [--values 100,10240]
#                                [--parts standalone,ensemble,watch,failover,restart] [--ensemble-sessions 32] [--znodes N] [--out DIR]
# Installs Debian's zookeeper package if it is missing (apt-get update first), builds the release
# binary unless ZABKEEPER_BIN names one, then runs benches/compare_zookeeper.py (its docstring
# says what is measured and how). The Python driver starts both servers, each under setsid with
# stdin from /dev/null, and stops them by PID on exit, Ctrl-C or SIGTERM; this wrapper starts
# no server itself. Writes target/compare/compare.md and compare.json.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f /usr/share/java/zookeeper.jar ] || ! /usr/bin/python3 -c 'import kazoo' 2>/dev/null; then
    # zookeeper for the servers, python3-kazoo for the fail-over part's client
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper zookeeper-bin python3-kazoo
fi
command -v java >/dev/null || { echo "compare-zookeeper: java missing after installing zookeeper" >&2; exit 1; }
if [ -z "${ZABKEEPER_BIN:-}" ]; then
    cargo build --release -q -p zabkeeper --bin zabkeeper
    export ZABKEEPER_BIN="$PWD/target/release/zabkeeper"
fi
exec /usr/bin/python3 benches/compare_zookeeper.py "$@"
