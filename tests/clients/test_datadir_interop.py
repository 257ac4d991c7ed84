"""One data directory, two servers: zabkeeper serves what Apache ZooKeeper 3.8 wrote, and ZooKeeper
serves what zabkeeper wrote (the way back), snapshots and logs included.

Each case starts server A on a fresh dataDir with snapCount=10 (so snapshots with real content
exist and the log continues after the newest one), builds the tree of `znodes.populate`
(sequential, ephemeral, container and TTL nodes, world/digest/ip ACLs, multis, deletes, 300 KB of
data), opens an idle session with an ephemeral in a child process that is then SIGKILLed (the
session is abandoned, not closed), walks the whole tree, then stops A (SIGTERM or SIGKILL) and
starts server B of the other kind on the same dataDir (the clients are pointed at it once it
serves). Checks on B:

- every znode's data, all eleven Stat fields and the ACL equal what A served;
- the ephemeral owner's kazoo client reconnects to B with the same session, whose ephemerals
  are still there and which can still write;
- the abandoned session expires on B after its timeout (B loaded its timeout) and its
  ephemeral goes;
- digests: zabkeeper checks ZooKeeper's recorded digests while recovering and reports none
  differing; ZooKeeper reports `zk_digest_mismatches_count 0` after loading zabkeeper's snapshot.

Run: ZABKEEPER_BIN=target/release/zabkeeper PYTHONPATH=tests/clients \
     /usr/bin/python3 -m pytest tests/clients/test_datadir_interop.py
Every wait is bounded; no test sleeps to let something happen.
"""
import os
import re
import struct
import subprocess
import sys
import time

import pytest

import znodes
import zkserver

# maxSessionTimeout: the owner's session must outlive a server switch by a wide margin.
CFG = ["snapCount=10", "maxSessionTimeout=60000"]
TICK_MS = 1000
OWNER_TIMEOUT_S = 60.0
IDLE_TIMEOUT_S = 15.0
WAIT_S = 60.0

IDLE_SCRIPT = """
import sys
from kazoo.client import KazooClient
c = KazooClient(sys.argv[1], timeout=float(sys.argv[2]))
c.start(timeout=30)
c.create("/idle-eph", b"abandoned", ephemeral=True)
print("%x" % c.client_id[0], flush=True)
sys.stdin.read()  # wait to be killed
"""


def wait_for(what, cond, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def zxids(server, prefix):
    v2 = os.path.join(server.data_dir, "data", "version-2")
    out = []
    for name in os.listdir(v2):
        m = re.fullmatch(prefix + r"\.([0-9a-f]+)", name)
        if m:
            out.append(int(m.group(1), 16))
    return sorted(out)


def logged_zxids(server):
    """Zxids of every record in the txn log segments (ZooKeeper's layout: 16-byte header, then
    long checksum, int length, payload with the zxid at offset 12, byte 'B'; zeros end it)."""
    v2 = os.path.join(server.data_dir, "data", "version-2")
    out = []
    for start in zxids(server, "log"):
        with open(os.path.join(v2, "log.%x" % start), "rb") as f:
            data = f.read()
        off = 16
        while off + 12 <= len(data):
            _, length = struct.unpack_from(">qi", data, off)
            if length <= 0 or off + 13 + length > len(data):
                break
            out.append(struct.unpack_from(">q", data, off + 12 + 12)[0])
            off += 13 + length
    return out


def abandon_idle_session(address):
    """A session with an ephemeral whose client dies without closing it."""
    child = subprocess.Popen(
        [sys.executable, "-c", IDLE_SCRIPT, address, str(IDLE_TIMEOUT_S)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(os.environ),
    )
    try:
        sid = int(child.stdout.readline().decode().strip(), 16)
    finally:
        child.kill()
        child.wait(timeout=30)
    return sid


def mntr(port):
    out = {}
    for line in zkserver.four_letter(port, "mntr").splitlines():
        key, _, value = line.partition("\t")
        out[key] = value
    return out


@pytest.fixture(autouse=True)
def info_logs(monkeypatch):
    # zabkeeper's recovery summary is an info line.
    monkeypatch.setenv("RUST_LOG", "info")


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
@pytest.mark.parametrize("first,second", [("zookeeper", "zabkeeper"), ("zabkeeper", "zookeeper")])
def test_one_data_dir_both_servers(first, second, stop):
    a = zkserver.Server(kind=first, tick_ms=TICK_MS, extra_cfg=CFG)
    b = zkserver.Server(kind=second, tick_ms=TICK_MS, extra_cfg=CFG, data_dir=a.data_dir)
    clients = []
    try:
        a.start()
        zk = znodes.client(a.address, timeout=OWNER_TIMEOUT_S)
        owner = znodes.client(a.address, timeout=OWNER_TIMEOUT_S, auth=False)
        clients += [zk, owner]
        znodes.populate(zk, owner)
        # Enough txns that a snapshot with content exists, then a few more that only the log has.
        for i in range(100):
            if zxids(a, "snapshot") and zxids(a, "snapshot")[-1] > 0:
                break
            zk.set("/app", b"v%d" % i)
        zk.create("/after-snapshot", b"log only")
        zk.set("/large", b"small now")
        zk.delete("/app/seq-0000000001")
        # A snapshot may have been taken just now; the log must go on after the newest one.
        for i in range(100):
            if max(logged_zxids(a)) > zxids(a, "snapshot")[-1]:
                break
            zk.set("/after-snapshot", b"%d" % i)
        idle_sid = abandon_idle_session(a.address)  # its createSession is in the log only
        owner_sid = owner.client_id[0]
        before = znodes.walk(zk)
        assert before["/idle-eph"][1]["ephemeralOwner"] == idle_sid
        assert before["/app/eph"][1]["ephemeralOwner"] == owner_sid

        if stop == "sigterm":
            a.stop()
        else:
            a.kill()
        newest_snapshot = zxids(a, "snapshot")[-1]
        assert newest_snapshot > 0, "a snapshot with content"
        assert max(logged_zxids(a)) > newest_snapshot, "txns logged after the newest snapshot"

        b.start()
        # The clients have been failing to reach A; they try B only once B serves, so no
        # handshake meets a server still loading its data.
        for c in clients:
            c.set_hosts(b.address)
        after = znodes.walk(zk)
        assert sorted(after) == sorted(before)
        for path in sorted(before):
            assert after[path] == before[path], path

        # The owner's session survived the switch, with its ephemerals, and still works.
        wait_for("the owner to reconnect", lambda: owner.connected)
        assert owner.client_id[0] == owner_sid, b.log()
        owner.create("/eph-after-switch", b"", ephemeral=True)
        assert zk.exists("/eph-after-switch").ephemeralOwner == owner_sid
        # The abandoned session's timeout came along: it expires on the new server.
        wait_for("the abandoned session to expire", lambda: zk.exists("/idle-eph") is None)

        with open(b.log_path, errors="replace") as f:
            log = f.read()
        if second == "zabkeeper":
            m = re.search(r"recovered.*digests_matched=(\d+) digest_mismatches=(\d+)", log)
            assert m, log
            assert int(m.group(1)) > 0 and int(m.group(2)) == 0, m.group(0)
        else:
            metrics = mntr(b.port)
            assert metrics.get("zk_digest_mismatches_count") == "0", metrics
    finally:
        for c in clients:
            c.stop()
            c.close()
        b.kill()
        a.destroy()
