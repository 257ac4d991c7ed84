#!/usr/bin/python3
"""Fail-over and election times of a 3-server ensemble on 127.0.0.1, zabkeeper beside Apache
ZooKeeper 3.8, in one run (a measurement, not a test).

  /usr/bin/python3 benches/failover.py [--runs 5] [--ticks 2000,200] [--kinds zookeeper,zabkeeper]

For each kind, tickTime and run, a fresh ensemble (tests/clients/zkserver.Ensemble: every server
under setsid, stopped by PID) is started and timed:

  election_s  launch of the three processes → all three serve with one leader (srvr polled every
              50 ms; includes process start, the JVM's for ZooKeeper)
  failover_s  `kill -9` of the leader → the first create acknowledged afterwards, through a kazoo
              client that knows all three servers (reconnect delay fixed at 50 ms, so the client's
              back-off adds at most that)

Prints one line per run, then the median of each series, and a last JSON line with every sample.
A zabkeeper binary that refuses server.N lines is reported as such and not measured.
ZABKEEPER_BIN selects the binary (default target/release/zabkeeper).
"""
import argparse
import json
import logging
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "clients"))

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import ConnectionLoss, OperationTimeoutError, SessionExpiredError  # noqa: E402
from kazoo.retry import KazooRetry  # noqa: E402

import zkserver  # noqa: E402

DEADLINE_S = 120.0


def one_run(kind, tick_ms, run, java_props=()):
    """One fresh ensemble of `kind`: (election_s, failover_s). benches/compare_zookeeper.py calls
    this too (its fail-over part), with its JVM options."""
    ens = zkserver.Ensemble(kind=kind, tick_ms=tick_ms, java_props=java_props)
    client = None
    try:
        t0 = time.monotonic()
        ens.start(timeout=DEADLINE_S)
        election_s = time.monotonic() - t0
        client = KazooClient(
            hosts=ens.connect_string(),
            timeout=10.0,
            connection_retry=KazooRetry(max_tries=-1, delay=0.05, backoff=1, max_delay=0.05),
        )
        client.start(timeout=30)
        client.create("/failover/warm", b"", makepath=True)
        leader = ens.leader()
        t1 = time.monotonic()
        ens.kill9(leader)
        k = 0
        while True:
            try:
                client.create("/failover/after-%d" % k, b"")
                break
            except (ConnectionLoss, OperationTimeoutError, SessionExpiredError):
                k += 1
                if time.monotonic() - t1 > DEADLINE_S:
                    raise RuntimeError("no acknowledged write within %ss" % DEADLINE_S)
        failover_s = time.monotonic() - t1
        print(
            "%-9s tick=%-4d run=%d election_s=%.3f failover_s=%.3f (killed leader %d)"
            % (kind, tick_ms, run, election_s, failover_s, leader),
            flush=True,
        )
        return election_s, failover_s
    finally:
        if client is not None:
            client.stop()
            client.close()
        ens.destroy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ticks", default="2000,200")
    parser.add_argument("--kinds", default="zookeeper,zabkeeper")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # kazoo's reconnect warnings
    samples = {}
    for kind in args.kinds.split(","):
        for tick in (int(t) for t in args.ticks.split(",")):
            key = "%s/tick=%d" % (kind, tick)
            try:
                samples[key] = [one_run(kind, tick, r + 1) for r in range(args.runs)]
            except zkserver.EnsembleUnsupported as refusal:
                print("%-9s not measured: the binary refuses server.N lines: %s" % (kind, refusal))
                samples[key] = "unsupported: %s" % refusal
                break
    print()
    print("%-22s %12s %12s  (median of %d)" % ("series", "election_s", "failover_s", args.runs))
    for key, runs in samples.items():
        if isinstance(runs, str):
            print("%-22s %s" % (key, runs))
            continue
        print(
            "%-22s %12.3f %12.3f"
            % (key, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        )
    print(json.dumps({"failover": samples}))


if __name__ == "__main__":
    main()
