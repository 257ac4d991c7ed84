#!/bin/bash
# Write latency and peak RSS of a standalone zabkeeper while snapshots of a growing tree run
# (issue 11: "a snapshot does not stall writes", "the peak during a snapshot must not double").
# Usage: benches/snapshot_stall.sh SNAPCOUNT PORT [OPS] [CLIENTS]
# One `zabkeeper bench --mix create=1` run of OPS ephemeral-sequential creates (100 B), so the
# tree grows to OPS znodes during the run and a snapshot of it starts every SNAPCOUNT txns
# (SNAPCOUNT 1000000000: none). Prints the bench's JSON line, the server's peak RSS (VmHWM), the
# largest VmRSS sampled every 0.1 s, and the snapshot count. Needs target/release/zabkeeper and nc;
# listens on 127.0.0.1:PORT; stops only the server it started (by PID).
set -u
snap=$1; port=$2; ops=${3:-200000}; clients=${4:-32}
dir=$(mktemp -d)
cat > $dir/zoo.cfg <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
snapCount=$snap
maxSessionTimeout=120000
CFG
BIN=${ZABKEEPER_BIN:-$(dirname "$0")/../target/release/zabkeeper}
setsid $BIN serve --config $dir/zoo.cfg < /dev/null > $dir/server.log 2>&1 &
pid=$!
for i in $(seq 1 100); do (echo ruok | timeout 1 nc -q1 127.0.0.1 $port 2>/dev/null | grep -q imok) && break; sleep 0.1; done
kb() { awk -v k="$1" '$1==k":"{print $2}' /proc/$pid/status; }
echo "snapCount=$snap ops=$ops clients=$clients start_rss_kb=$(kb VmRSS)"
( max=0; while kill -0 $pid 2>/dev/null; do r=$(kb VmRSS); [ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r && echo $max > $dir/maxrss; sleep 0.1; done ) &
sampler=$!
$BIN bench --server 127.0.0.1:$port --clients $clients --ops $ops --mix create=1 --duration-secs 900 --server-pid $pid
echo "peak_rss_kb(VmHWM)=$(kb VmHWM) max_sampled_rss_kb=$(cat $dir/maxrss) snapshots=$(ls $dir/data/version-2 | grep -c snapshot)"
kill $pid; wait $pid 2>/dev/null; kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
rm -rf $dir
