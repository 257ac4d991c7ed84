"""Quotas against zabkeeper and Debian's Apache ZooKeeper 3.8.

1. zkCli.sh: one setquota/listquota/delquota session (with a restart in the middle) run against
   both servers; stdout and stderr must be identical once ports are masked. ZooKeeper prints
   `Output stat for /q count=5,bytes=8` and a warning that the quota is below the existing
   count; both must appear.
2. kazoo with `enforceQuota=true`: writes over a hard limit fail with QUOTAEXCEEDED (-125),
   also inside a transaction; the same transcript on both servers.

Skipped when ZooKeeper (java + /usr/share/java/zookeeper.jar) is not installed. Every wait is
bounded; every server is stopped by its PID.
"""
import os
import re
import shutil
import subprocess

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import EXCEPTIONS, ZookeeperError
from kazoo.protocol.states import ZnodeStat

import zkserver

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
HAVE_ZK = os.path.exists("/usr/share/java/zookeeper.jar") and shutil.which("java")
HAVE_CLI = HAVE_ZK and os.path.exists(ZKCLI)
KINDS = ["zabkeeper", "zookeeper"]


class QuotaExceededError(ZookeeperError):
    """-125; kazoo 2.8 predates the code and would fail its reader thread on it."""

    code = -125


EXCEPTIONS[-125] = QuotaExceededError

# The subtree: five znodes under /q holding 8 bytes.
SUBTREE = ["create /q a", "create /q/b bb", "create /q/c ccc", "create /q/b/d dd", "create /q/e"]

SESSION_1 = SUBTREE + [
    "setquota -n 2 /q",
    "listquota /q",
    "create /q/f ffff",
    "set /q/c c",
    "delete /q/b/d",
    "listquota /q",
    "setquota -B 3 /q",
    "listquota /q",
    "get /zookeeper/quota/q/zookeeper_stats",
    "setquota -n 1 /q/b",
    "create /r",
    "setquota -N 2 /r",
    "create /r/x xx",
    "create /r/y",
    "listquota /r",
]
# After a restart: the stats recovered from disk, still maintained, then deleted.
SESSION_2 = [
    "listquota /q",
    "listquota /r",
    "create /q/g g",
    "listquota /q",
    "delquota -n /q",
    "listquota /q",
    "delquota /q",
    "listquota /q",
    "delquota /q",
    "ls /zookeeper/quota",
    "delquota -N /r",
    "listquota /r",
]


def zkcli_session(server, commands):
    """Runs the commands in one zkCli.sh JVM (stdin, no JLine); returns (stdout, stderr)."""
    p = subprocess.run(
        [ZKCLI, "-server", server.address],
        input=("\n".join(commands + ["quit"]) + "\n").encode(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180,
    )
    return normalize(p.stdout, server), normalize(p.stderr, server)


def normalize(raw, server):
    """Masks the port; drops SLF4J's start-up notes and the watcher's connection events, which
    zkCli's event thread prints at a moment that races the commands' output."""
    text = raw.decode(errors="replace").replace(server.address, "ADDRESS")
    return [
        line for line in text.splitlines()
        if line.strip() and not line.startswith(("SLF4J:", "WATCHER::", "WatchedEvent "))
    ]


def cli_transcript(kind):
    # snapCount=2: both servers write snapshots throughout, so the restart loads one (and
    # replays the log after it) rather than only replaying the log.
    server = zkserver.Server(kind=kind, extra_cfg=["snapCount=2"])
    try:
        server.start()
        first = zkcli_session(server, SESSION_1)
        server.stop()
        snapshots = [f for _, _, fs in os.walk(server.data_dir) for f in fs if "snap" in f]
        assert snapshots, "no snapshot written before the restart"
        server.start()
        second = zkcli_session(server, SESSION_2)
        return first, second
    finally:
        server.destroy()


@pytest.mark.skipif(not HAVE_CLI, reason="Apache ZooKeeper / zkCli.sh not installed")
def test_zkcli_quota_session_matches_zookeeper():
    ours = cli_transcript("zabkeeper")
    theirs = cli_transcript("zookeeper")
    out_1, _ = theirs[0]
    # Not vacuous: ZooKeeper's figures for the subtree and its warning are there.
    assert "Output stat for /q count=5,bytes=8" in out_1, out_1
    assert "[Warning]: the count quota you create is less than the existing count:5" in out_1
    for part, ((o_out, o_err), (t_out, t_err)) in enumerate(zip(ours, theirs), 1):
        assert o_out == t_out, "session %d stdout differs" % part
        assert o_err == t_err, "session %d stderr differs" % part


def outcome(fn):
    try:
        r = fn()
    except ZookeeperError as e:
        return type(e).__name__
    if isinstance(r, ZnodeStat):  # set: only the absence of an error matters
        return None
    if isinstance(r, tuple):  # get: (data, ZnodeStat)
        return r[0].decode() if r[0] is not None else None
    if isinstance(r, list):  # transaction results
        return [type(x).__name__ if isinstance(x, Exception) else x for x in r]
    return r


def enforced_transcript(kind):
    """Hard limits with enforceQuota=true, set up as zkCli's setquota does."""
    server = zkserver.Server(kind=kind, extra_cfg=["enforceQuota=true"])
    client = KazooClient(hosts=server.address, timeout=10)
    steps = []
    try:
        server.start()
        client.start(timeout=30)
        limits = "/zookeeper/quota/q/zookeeper_limits"
        stats = "/zookeeper/quota/q/zookeeper_stats"

        def step(label, fn):
            steps.append((label, outcome(fn)))

        step("create /q", lambda: client.create("/q", b"a"))
        step("create quota node", lambda: client.create("/zookeeper/quota/q"))
        step("create limits", lambda: client.create(
            limits, b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3"))
        step("create stats", lambda: client.create(stats, b"count=0,bytes=0"))
        step("stats", lambda: client.get(stats))
        step("create /q/a", lambda: client.create("/q/a", b"xy"))
        step("create /q/b", lambda: client.create("/q/b"))
        step("create /q/c over count", lambda: client.create("/q/c"))
        step("set /q/a", lambda: client.set("/q/a", b"xyz"))
        step("create /outside", lambda: client.create("/outside"))

        def multi():
            t = client.transaction()
            t.set_data("/q/a", b"x")
            t.create("/q/c")
            t.create("/r")
            return t.commit()

        step("multi over count", multi)
        step("stats after multi", lambda: client.get(stats))
        step("byte hard limit", lambda: client.set(
            limits, b"count=-1,bytes=-1=;byteHardLimit=6"))
        step("set /q/a over bytes, bad version", lambda: client.set("/q/a", b"123456", version=9))
        step("set /q/a within bytes", lambda: client.set("/q/a", b"12345"))
        step("create /q/c within bytes", lambda: client.create("/q/c"))
        step("create /q/d over bytes", lambda: client.create("/q/d", b"z"))
        step("soft limits only", lambda: client.set(limits, b"count=1,bytes=1"))
        step("create /q/d over soft", lambda: client.create("/q/d", b"z"))
        step("stats at end", lambda: client.get(stats))
        return steps
    finally:
        client.stop()
        client.close()
        server.destroy()


EXPECTED_ENFORCED = [
    ("create /q", "/q"),
    ("create quota node", "/zookeeper/quota/q"),
    ("create limits", "/zookeeper/quota/q/zookeeper_limits"),
    ("create stats", "/zookeeper/quota/q/zookeeper_stats"),
    ("stats", "count=1,bytes=1"),
    ("create /q/a", "/q/a"),
    ("create /q/b", "/q/b"),
    ("create /q/c over count", "QuotaExceededError"),
    ("set /q/a", None),
    ("create /outside", "/outside"),
    ("multi over count", ["RolledBackError", "QuotaExceededError", "RuntimeInconsistency"]),
    ("stats after multi", "count=3,bytes=4"),
    ("byte hard limit", None),
    ("set /q/a over bytes, bad version", "QuotaExceededError"),
    ("set /q/a within bytes", None),
    ("create /q/c within bytes", "/q/c"),
    ("create /q/d over bytes", "QuotaExceededError"),
    ("soft limits only", None),
    ("create /q/d over soft", "/q/d"),
    ("stats at end", "count=5,bytes=7"),
]


@pytest.mark.parametrize("kind", KINDS)
def test_enforce_quota_refuses_writes_over_hard_limits(kind):
    if kind == "zookeeper" and not HAVE_ZK:
        pytest.skip("Apache ZooKeeper not installed")
    assert enforced_transcript(kind) == EXPECTED_ENFORCED
