"""End-to-end scenarios with kazoo (Debian python3-kazoo) against zabkeeper or ZooKeeper.

Run: ZK_KIND=zabkeeper ZABKEEPER_BIN=target/release/zabkeeper \
     PYTHONPATH=tests/clients /usr/bin/python3 -m pytest tests/clients/test_kazoo_scenarios.py
Every wait is bounded; no test sleeps to let something happen.
"""
import socket
import struct
import threading

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
)
from kazoo.protocol.states import EventType, KazooState
from kazoo.security import make_digest_acl

import zkserver

WAIT_S = 20


@pytest.fixture(scope="module")
def server():
    # tickTime 100 ms: sessions may be as short as 200 ms, so expiry tests are quick.
    s = zkserver.Server(tick_ms=100)
    s.start()
    yield s
    s.destroy()


@pytest.fixture
def zk(server):
    c = KazooClient(server.address, timeout=10)
    c.start(timeout=WAIT_S)
    yield c
    c.stop()
    c.close()


def test_create_get_set_delete(zk):
    assert zk.create("/crud", b"v1") == "/crud"
    data, stat = zk.get("/crud")
    assert data == b"v1"
    assert stat.version == 0 and stat.dataLength == 2 and stat.numChildren == 0
    assert stat.czxid == stat.mzxid == stat.pzxid
    stat2 = zk.set("/crud", b"v22")
    assert stat2.version == 1 and stat2.mzxid > stat.mzxid and stat2.czxid == stat.czxid
    with pytest.raises(BadVersionError):
        zk.set("/crud", b"x", version=0)
    with pytest.raises(NodeExistsError):
        zk.create("/crud")
    zk.create("/crud/child")
    with pytest.raises(NotEmptyError):
        zk.delete("/crud")
    zk.delete("/crud", recursive=True)
    assert zk.exists("/crud") is None
    with pytest.raises(NoNodeError):
        zk.get("/crud")


def test_sequential_and_children(zk):
    zk.ensure_path("/seq")
    names = [zk.create("/seq/n-", sequence=True) for _ in range(3)]
    assert names == ["/seq/n-%010d" % i for i in range(3)]
    children, stat = zk.get_children("/seq", include_data=True)
    assert sorted(children) == ["n-%010d" % i for i in range(3)]
    assert stat.numChildren == 3 and stat.cversion == 3
    zk.delete("/seq", recursive=True)


def test_ephemeral_goes_with_its_session(server, zk):
    other = KazooClient(server.address, timeout=10)
    other.start(timeout=WAIT_S)
    other.create("/eph", b"x", ephemeral=True)
    _, stat = zk.get("/eph")
    assert stat.ephemeralOwner == other.client_id[0]
    gone = threading.Event()

    def watch(event):
        if event.type == EventType.DELETED:
            gone.set()

    assert zk.exists("/eph", watch=watch) is not None
    other.stop()
    other.close()
    assert gone.wait(WAIT_S)
    assert zk.exists("/eph") is None


def test_transaction_all_or_nothing(zk):
    zk.create("/tx", b"0")
    t = zk.transaction()
    t.create("/tx/a")
    t.check("/tx", 7)
    t.set_data("/tx", b"1")
    results = t.commit()
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], BadVersionError)
    assert zk.exists("/tx/a") is None
    t = zk.transaction()
    t.create("/tx/a", b"a")
    t.check("/tx", 0)
    t.set_data("/tx", b"1")
    t.delete("/tx/a")
    results = t.commit()
    assert results[0] == "/tx/a" and results[1] is True and results[3] is True
    assert results[2].version == 1 and results[2].mzxid == zk.exists("/tx").mzxid
    zk.delete("/tx")


def test_data_and_child_watches_fire_once(zk):
    zk.create("/w", b"")
    events = []
    fired = threading.Event()

    def watch(event):
        events.append(event)
        fired.set()

    zk.get("/w", watch=watch)
    zk.set("/w", b"1")
    assert fired.wait(WAIT_S)
    zk.set("/w", b"2")  # one-shot: no second event
    fired.clear()
    zk.get_children("/w", watch=watch)
    zk.create("/w/c")
    assert fired.wait(WAIT_S)
    assert [(e.type, e.path) for e in events] == [
        (EventType.CHANGED, "/w"),
        (EventType.CHILD, "/w"),
    ]
    zk.delete("/w", recursive=True)


def test_digest_acl_and_super(server, zk):
    acl = make_digest_acl("user", "pw", all=True)
    zk.create("/secure", b"s", acl=[acl])
    with pytest.raises(NoAuthError):
        zk.get("/secure")
    authed = KazooClient(server.address, timeout=10, auth_data=[("digest", "user:pw")])
    authed.start(timeout=WAIT_S)
    assert authed.get("/secure")[0] == b"s"
    authed.stop()
    authed.close()
    sup = KazooClient(server.address, timeout=10, auth_data=[("digest", "super:test")])
    sup.start(timeout=WAIT_S)
    assert sup.get("/secure")[0] == b"s"
    sup.delete("/secure")
    sup.stop()
    sup.close()


def test_session_expires_when_client_stops_pinging(server, zk):
    """A raw client that never pings: its session expires on the server clock, its ephemeral is
    deleted in the same txn and the watch fires."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
    req = struct.pack(">iqiq", 0, 0, 300, 0) + struct.pack(">i", 16) + b"\0" * 16 + b"\0"
    sock.sendall(struct.pack(">i", len(req)) + req)
    resp = _read_frame(sock)
    _, timeout, session_id = struct.unpack(">iiq", resp[:16])
    assert timeout == 300 and session_id != 0
    path = b"/expiring"
    body = struct.pack(">i", len(path)) + path + struct.pack(">i", -1)
    body += struct.pack(">i", 1) + struct.pack(">i", 31)
    body += struct.pack(">i", 5) + b"world" + struct.pack(">i", 6) + b"anyone"
    body += struct.pack(">i", 1)  # EPHEMERAL
    frame = struct.pack(">ii", 1, 1) + body
    sock.sendall(struct.pack(">i", len(frame)) + frame)
    reply = _read_frame(sock)
    assert struct.unpack(">iqi", reply[:16])[2] == 0
    deleted = threading.Event()
    assert zk.exists("/expiring", watch=lambda e: deleted.set()) is not None
    assert deleted.wait(WAIT_S)
    assert zk.exists("/expiring") is None
    sock.close()


def test_reconnect_with_expired_session_is_refused(server, zk):
    c = KazooClient(server.address, timeout=10)
    c.start(timeout=WAIT_S)
    session_id, password = c.client_id
    c.stop()
    c.close()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
    req = struct.pack(">iqiq", 0, 0, 10000, session_id) + struct.pack(">i", 16) + password + b"\0"
    sock.sendall(struct.pack(">i", len(req)) + req)
    resp = _read_frame(sock)
    assert struct.unpack(">iiq", resp[:16]) == (0, 0, 0)
    assert sock.recv(1) == b""  # then the server closes
    sock.close()


def test_resume_session_keeps_ephemerals(server):
    c = KazooClient(server.address, timeout=10)
    c.start(timeout=WAIT_S)
    c.create("/resume", ephemeral=True)
    session_id, password = c.client_id
    d = KazooClient(server.address, timeout=10, client_id=(session_id, password))
    d.start(timeout=WAIT_S)
    assert d.client_id[0] == session_id
    assert d.exists("/resume").ephemeralOwner == session_id
    d.stop()
    d.close()
    c.stop()
    c.close()


def test_four_letter_words(server):
    assert zkserver.four_letter(server.port, "ruok") == "imok"
    srvr = zkserver.four_letter(server.port, "srvr")
    assert srvr.startswith("Zookeeper version: 3.8")
    assert "Mode: standalone" in srvr and "Node count:" in srvr
    assert zkserver.four_letter(server.port, "isro") == "rw"
    mntr = zkserver.four_letter(server.port, "mntr")
    assert "zk_server_state\tstandalone" in mntr
    assert "zk_znode_count\t" in mntr
    envi = zkserver.four_letter(server.port, "envi")
    assert envi.startswith("Environment:\nzookeeper.version=3.8")
    assert "clientPort=%d" % server.port in zkserver.four_letter(server.port, "conf")
    assert "Total watches:" in zkserver.four_letter(server.port, "wchs")


def test_oversized_frame_closes_only_that_connection(server, zk):
    bad = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
    bad.sendall(struct.pack(">i", 0x100000) + b"x" * 16)
    assert bad.recv(1) == b""
    bad.close()
    zk.create("/still-serving")
    assert zk.exists("/still-serving") is not None
    zk.delete("/still-serving")


def _read_frame(sock):
    header = _read_exact(sock, 4)
    (n,) = struct.unpack(">i", header)
    return _read_exact(sock, n)


def _read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf
