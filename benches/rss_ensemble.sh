#!/bin/bash
# RSS of each server of a 3-node zabkeeper ensemble over repeated 25 000-setData bench runs
# through one member (issue 9: memory must not grow with the txn count once snapshots are taken).
# Usage: benches/rss_ensemble.sh SNAPCOUNT BASEPORT [ROUNDS] [BENCH_SERVER_SID]
# Ports BASEPORT..BASEPORT+8 on 127.0.0.1 (client, quorum, election per server). Needs
# target/release/zabkeeper (four-letter words go through bash's /dev/tcp); every server runs under setsid and is stopped by its PID.
set -u
snap=$1; base=$2; rounds=${3:-4}; via=${4:-1}
BIN=${ZABKEEPER_BIN:-$(dirname "$0")/../target/release/zabkeeper}
dir=$(mktemp -d)
declare -A pid
for i in 1 2 3; do
  mkdir -p $dir/s$i/data
  echo $i > $dir/s$i/data/myid
  {
    echo "tickTime=200"; echo "initLimit=10"; echo "syncLimit=5"
    echo "dataDir=$dir/s$i/data"; echo "snapCount=$snap"; echo "4lw.commands.whitelist=*"
    for j in 1 2 3; do
      echo "server.$j=127.0.0.1:$((base+2+2*j)):$((base+3+2*j));127.0.0.1:$((base+j-1))"
    done
  } > $dir/s$i/zoo.cfg
  setsid $BIN serve --config $dir/s$i/zoo.cfg > $dir/s$i/server.log 2>&1 &
  pid[$i]=$!
done
# A four-letter word to server $1: its reply, or nothing within 2 s.
fourlw() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$((base+$1-1)) && echo $2 >&3 && cat <&3" 2>/dev/null
}
stop() { for i in 1 2 3; do kill ${pid[$i]} 2>/dev/null; wait ${pid[$i]} 2>/dev/null; done; }
trap stop EXIT
for i in 1 2 3; do
  for k in $(seq 1 200); do
    fourlw $i srvr | grep -q Mode && break
    sleep 0.1
  done
done
mode() { fourlw $1 srvr | awk '/Mode/{print $2}'; }
rss() { awk '/VmRSS/{print $2}' /proc/${pid[$1]}/status; }
line() { echo "$1 $(for i in 1 2 3; do printf 's%d(%s) rss_kb=%s  ' $i "$(mode $i)" "$(rss $i)"; done)"; }
line "start"
for k in $(seq 1 $rounds); do
  $BIN bench --server 127.0.0.1:$((base+via-1)) --clients 32 --ops 25000 --mix set=1 \
    --duration-secs 600 > $dir/bench$k.json 2>&1
  line "after $((k*25000)) setData via s$via"
done
for i in 1 2 3; do echo "s$i: $(fourlw $i mntr | grep -E 'zk_server_state|zk_core_log' | tr '\n' ' ')"; done
for i in 1 2 3; do echo "s$i snapshots: $(ls $dir/s$i/data/version-2 | grep -c snapshot)"; done
stop; trap - EXIT
rm -rf $dir
