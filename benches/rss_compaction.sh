#!/bin/bash
# RSS of a standalone zabkeeper over repeated 25 000-setData bench runs (spec/server.md, "The
# write path", memory). Usage: benches/rss_compaction.sh SNAPCOUNT PORT [ROUNDS]
# Optional: VALUE_SIZE=BYTES (default 100), COMMIT_LOG_COUNT=N (zoo.cfg commitLogCount; unset:
# the default 500).
# Needs target/release/zabkeeper and nc; listens on 127.0.0.1:PORT; stops its server by PID.
set -u
snap=$1; port=$2
dir=$(mktemp -d)
cat > $dir/zoo.cfg <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
snapCount=$snap
CFG
[ -n "${COMMIT_LOG_COUNT:-}" ] && echo "commitLogCount=$COMMIT_LOG_COUNT" >> $dir/zoo.cfg
BIN=${ZABKEEPER_BIN:-$(dirname "$0")/../target/release/zabkeeper}
$BIN serve --config $dir/zoo.cfg > $dir/server.log 2>&1 &
pid=$!
for i in $(seq 1 100); do (echo ruok | timeout 1 nc -q1 127.0.0.1 $port 2>/dev/null | grep -q imok) && break; sleep 0.1; done
rss() { awk '/VmRSS/{print $2}' /proc/$pid/status; }
echo "snapCount=$snap commitLogCount=${COMMIT_LOG_COUNT:-500} value=${VALUE_SIZE:-100} start rss_kb=$(rss)"
for k in $(seq 1 ${3:-4}); do
  $BIN bench --server 127.0.0.1:$port --clients 32 --ops 25000 --mix set=1 --value-size ${VALUE_SIZE:-100} --duration-secs 600 > $dir/bench$k.json 2>&1
  echo "after $((k*25000)) setData rss_kb=$(rss)"
done
kill $pid; wait $pid
echo "snapshots: $(ls $dir/data/version-2 | grep -c snapshot)"
rm -rf $dir
