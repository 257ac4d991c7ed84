"""Differential test: the same raw request script against zabkeeper and Debian's Apache ZooKeeper
3.8, comparing every frame each returns (xid, zxid, err, and the body with times and session ids
masked), including server-specific behaviour: handshake shapes, ping, unknown opcode, malformed
bodies, auth failures, reconfig, watches fired by setWatches; ping, auth and setWatches sent with
ordinary xids as well as the special ones (go-zookeeper sends auth and setWatches with ordinary
xids), digest credentials without ':', connections that never finish their handshake, and
maxClientCnxns counting connections without a session.

Zxids are compared by their counter (low 32 bits) only: zabkeeper's standalone server is a one-voter
ZAB ensemble driven by the protocol core, so each start is an election into a new epoch and its
zxids carry epoch >= 1, where standalone ZooKeeper's stay in epoch 0 (ZooKeeper's own one-server
quorum mode numbers them as zabkeeper does).

Skipped when ZooKeeper (java + /usr/share/java/zookeeper.jar) is not installed.
"""
import os
import shutil
import socket
import struct
import time

import pytest

import zkserver

WAIT_S = 20
HAVE_ZK = os.path.exists("/usr/share/java/zookeeper.jar") and shutil.which("java")


def s(text):
    b = text.encode()
    return struct.pack(">i", len(b)) + b


def buf(data):
    if data is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(data)) + data


OPEN_ACL = struct.pack(">i", 1) + struct.pack(">i", 31) + s("world") + s("anyone")
AUTH_ACL = struct.pack(">i", 1) + struct.pack(">i", 31) + s("auth") + s("")


def auth(scheme, credentials):
    return struct.pack(">i", 0) + s(scheme) + buf(credentials)


def set_watches(relative_zxid, data=(), exist=(), child=(), persistent=None, recursive=None):
    def strings(xs):
        return struct.pack(">i", len(xs)) + b"".join(s(x) for x in xs)
    out = struct.pack(">q", relative_zxid) + strings(data) + strings(exist) + strings(child)
    if persistent is not None:
        out += strings(persistent) + strings(recursive or [])
    return out


def create(path, data=b"", flags=0, acl=OPEN_ACL):
    return s(path) + buf(data) + acl + struct.pack(">i", flags)


def path_watch(path, watch=False):
    return s(path) + (b"\1" if watch else b"\0")


def path_version(path, version):
    return s(path) + struct.pack(">i", version)


def multi(ops):
    out = b""
    for op, body in ops:
        out += struct.pack(">i?i", op, False, -1) + body
    return out + struct.pack(">i?i", -1, True, -1)


# (label, xid, opcode, body, how to compare the body).  "stat" masks a 68-byte Stat's times
# and ephemeralOwner; "exact" compares bytes; "none" only the header.
SCRIPT = [
    ("ping", -2, 11, b"", "exact"),
    ("create /a", 1, 1, create("/a", b"x"), "exact"),
    ("create2 /a dup", 2, 15, create("/a"), "exact"),
    ("create no parent", 3, 1, create("/no/parent"), "exact"),
    ("create bad flags", 4, 1, create("/b", flags=9), "exact"),
    ("create relative", 5, 1, create("rel"), "exact"),
    ("create /.", 6, 1, create("/."), "exact"),
    ("create empty acl", 7, 1, create("/c", acl=struct.pack(">i", 0)), "exact"),
    ("create2 /e ephemeral", 8, 15, create("/e", flags=1), "create2"),
    ("create under ephemeral", 9, 1, create("/e/x"), "exact"),
    ("create seq", 10, 1, create("/a/s-", flags=2), "exact"),
    # One child under /a: ZooKeeper lists children in hash-set order, ours is sorted.
    ("create seq under root", 11, 1, create("/s-", flags=2), "exact"),
    ("getData /a", 12, 4, path_watch("/a", True), "getdata"),
    ("setData /a bad version", 13, 5, s("/a") + buf(b"y") + struct.pack(">i", 5), "exact"),
    ("setData /a", 14, 5, s("/a") + buf(b"y") + struct.pack(">i", 0), "stat"),
    ("exists missing watch", 15, 3, path_watch("/later", True), "exact"),
    ("create /later", 16, 1, create("/later"), "exact"),
    ("getChildren2 /a", 17, 12, path_watch("/a"), "children2"),
    ("getAllChildrenNumber /", 18, 104, s("/"), "exact"),
    ("getEphemerals", 19, 103, s("/"), "exact"),
    ("getACL config", 20, 6, s("/zookeeper/config"), "acl"),
    ("sync", 21, 9, s("/a"), "exact"),
    ("multi fails", 22, 14, multi([
        (2, path_version("/later", -1)),
        (13, path_version("/a", 42)),
        (5, s("/a") + buf(b"z") + struct.pack(">i", -1)),
    ]), "exact"),
    ("multi ok", 23, 14, multi([
        (1, create("/m", b"1")),
        (13, path_version("/m", 0)),
        (2, path_version("/m", -1)),
    ]), "exact"),
    ("multiRead", 24, 22, multi([(8, path_watch("/a")), (4, path_watch("/missing"))]), "exact"),
    ("addWatch bad mode", 25, 106, s("/a") + struct.pack(">i", 7), "exact"),
    ("addWatch recursive", 26, 106, s("/a") + struct.pack(">i", 1), "exact"),
    ("checkWatches none", 27, 17, s("/zzz") + struct.pack(">i", 2), "exact"),
    ("removeWatches none", 28, 18, s("/zzz") + struct.pack(">i", 1), "exact"),
    ("reconfig disabled", 29, 16, s("") + s("") + s("") + struct.pack(">q", -1), "exact"),
    ("delete not empty", 30, 2, path_version("/a", -1), "exact"),
    ("delete bad version", 31, 2, path_version("/later", 3), "exact"),
    ("delete /later", 32, 2, path_version("/later", 0), "exact"),
    ("setWatches", -8, 101, struct.pack(">q", 0) + struct.pack(">i", 1) + s("/a")
        + struct.pack(">i", 1) + s("/later") + struct.pack(">i", 1) + s("/gone"), "exact"),
    ("whoAmI", 33, 107, b"", "exact"),
    ("auth digest", -4, 100, struct.pack(">i", 0) + s("digest") + buf(b"u:p"), "exact"),
    ("whoAmI after auth", 34, 107, b"", "exact"),
    # The same requests on ordinary xids, as go-zookeeper sends them; a ping's reply is -2
    # whatever its xid, every other reply echoes the request's xid.
    ("ping ordinary xid", 60, 11, b"", "exact"),
    ("ping xid 0", 0, 11, b"", "exact"),
    ("auth digest ordinary xid", 61, 100, auth("digest", b"u:p"), "exact"),
    ("auth digest without colon", 62, 100, auth("digest", b"blah"), "exact"),
    ("auth digest empty", 0x7FFFFFFF, 100, auth("digest", b""), "exact"),
    ("auth ip", 63, 100, auth("ip", b"127.0.0.1"), "exact"),
    ("whoAmI after blah", 64, 107, b"", "exact"),
    ("create auth acl", 65, 1, create("/authacl", acl=AUTH_ACL), "exact"),
    ("getACL auth acl", 66, 6, s("/authacl"), "acl"),
    ("setWatches ordinary xid", 67, 101, set_watches(0, data=["/a"]), "exact"),
    ("setWatches2 ordinary xid", 68, 105, set_watches(0, persistent=[], recursive=[]), "exact"),
    ("getData xid 0", 0, 4, path_watch("/a"), "getdata"),
    ("getData negative xid", -3, 4, path_watch("/a"), "getdata"),
    ("createTTL", 40, 21, create("/ttl", flags=5) + struct.pack(">q", 60000), "create2"),
    ("createTTL zero ttl", 41, 21, create("/ttl0", flags=5) + struct.pack(">q", 0), "exact"),
    ("createTTL wrong mode", 42, 21, create("/ttl1", flags=0) + struct.pack(">q", 100), "exact"),
    ("createContainer", 43, 19, create("/box", flags=4), "create2"),
    ("setACL digest", 44, 7, s("/box") + struct.pack(">i", 1) + struct.pack(">i", 1)
        + s("digest") + s("other:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=") + struct.pack(">i", -1), "stat"),
    ("getACL masked", 45, 6, s("/box"), "acl"),
    ("getData no auth", 46, 4, path_watch("/box"), "exact"),
    ("setACL no admin", 47, 7, s("/box") + OPEN_ACL + struct.pack(">i", -1), "exact"),
    ("exists trailing slash", 48, 3, path_watch("/a/"), "exact"),
    # The root's Stat carries a zxid (pzxid): compared with its epoch masked.
    ("getData empty path", 49, 4, path_watch(""), "getdata"),
    ("getChildren missing", 50, 8, path_watch("/nope", True), "exact"),
    ("delete root", 51, 2, path_version("/", -1), "exact"),
    ("delete /zookeeper", 52, 2, path_version("/zookeeper", -1), "exact"),
    ("setData config", 53, 5, s("/zookeeper/config") + buf(b"x") + struct.pack(">i", -1), "exact"),
    ("malformed getData", 35, 4, struct.pack(">i", 1000), "exact"),
    ("after malformed", 36, 3, path_watch("/a"), "stat"),
    ("unknown opcode", 37, 999, b"", "exact"),
]


def zxid_counter(zxid):
    """The counter of a zxid (see the module doc); -1 (no zxid) stays -1."""
    return zxid if zxid == -1 else zxid & 0xFFFFFFFF


def mask_stat(b, off):
    # Stat: czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength
    # numChildren pzxid → zero ctime, mtime, ephemeralOwner, and the epoch of every zxid.
    b = bytearray(b)
    b[off + 16:off + 32] = b"\0" * 16
    b[off + 44:off + 52] = b"\0" * 8
    for at in (off, off + 8, off + 60):
        b[at:at + 4] = b"\0" * 4
    return bytes(b)


def normalize(kind, body):
    if not body or kind in ("exact", "none"):
        return body if kind == "exact" else b""
    if kind == "stat":
        return mask_stat(body, 0)
    if kind == "create2":
        (n,) = struct.unpack(">i", body[:4])
        return mask_stat(body, 4 + n)
    if kind == "getdata":
        (n,) = struct.unpack(">i", body[:4])
        return mask_stat(body, 4 + max(n, 0))
    if kind == "children2":
        return mask_stat(body, len(body) - 68)
    if kind == "acl":
        return mask_stat(body, len(body) - 68)
    return body


def read_frame(sock):
    hdr = read_exact(sock, 4)
    (n,) = struct.unpack(">i", hdr)
    return read_exact(sock, n)


def read_exact(sock, n):
    out = b""
    while len(out) < n:
        c = sock.recv(n - len(out))
        if not c:
            raise EOFError
        out += c
    return out


def run_script(kind, script=None, extra_cfg=()):
    script = SCRIPT if script is None else script
    server = zkserver.Server(kind=kind, extra_cfg=extra_cfg)
    server.start()
    frames = []
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
        # Handshake without the readOnly byte: a 36-byte reply.
        req = struct.pack(">iqiq", 0, 0, 30000, 0) + buf(b"\0" * 16)
        sock.sendall(struct.pack(">i", len(req)) + req)
        resp = read_frame(sock)
        frames.append(("handshake", len(resp), resp[:8]))
        for label, xid, op, body, how in script:
            payload = struct.pack(">ii", xid, op) + body
            try:
                sock.sendall(struct.pack(">i", len(payload)) + payload)
            except OSError:
                frames.append((label, "closed"))
                break
            while True:
                try:
                    f = read_frame(sock)
                except (EOFError, OSError):
                    frames.append((label, "closed"))
                    break
                rxid, zxid, err = struct.unpack(">iqi", f[:16])
                if rxid == -1:
                    frames.append((label, "event", f[16:]))
                    continue
                frames.append((label, rxid, zxid_counter(zxid), err, normalize(how, f[16:])))
                break
        # After an unknown opcode ZooKeeper closes the connection.
        try:
            sock.settimeout(WAIT_S)
            frames.append(("after unknown opcode", sock.recv(1)))
        except OSError as e:
            frames.append(("after unknown opcode", type(e).__name__))
        sock.close()
    finally:
        server.destroy()
    return frames


@pytest.mark.skipif(not HAVE_ZK, reason="Apache ZooKeeper not installed")
def test_same_frames_as_zookeeper():
    theirs = run_script("zookeeper")
    ours = run_script("zabkeeper")
    diffs = [(t, o) for t, o in zip(theirs, ours) if t != o]
    assert not diffs, "\n".join("zookeeper: %r\nzabkeeper: %r" % d for d in diffs[:5])
    assert len(theirs) == len(ours), (theirs, ours)


@pytest.mark.skipif(not HAVE_ZK, reason="Apache ZooKeeper not installed")
def test_reconfig_enabled_on_a_standalone_server_is_unimplemented():
    script = [
        ("reconfig", 1, 16, s("") + s("") + s("") + struct.pack(">q", -1), "exact"),
        ("reconfig nulls", 2, 16, struct.pack(">i", -1) * 3 + struct.pack(">q", -1), "exact"),
        ("unknown opcode", 3, 999, b"", "exact"),
    ]
    cfg = ["reconfigEnabled=true"]
    theirs = run_script("zookeeper", script, cfg)
    ours = run_script("zabkeeper", script, cfg)
    assert theirs == ours
    assert theirs[1][3] == -6


def handshake_cases(kind):
    """Each case on its own connection: (label, reply summary, closed afterwards?)."""
    server = zkserver.Server(kind=kind)
    server.start()
    out = []

    def connect(timeout_ms, session_id=0, passwd=b"\0" * 16, last_zxid=0, read_only=True):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
        req = struct.pack(">iqiq", 0, last_zxid, timeout_ms, session_id) + buf(passwd)
        if read_only:
            req += b"\0"
        sock.sendall(struct.pack(">i", len(req)) + req)
        return sock

    def summary(sock):
        try:
            f = read_frame(sock)
        except (EOFError, OSError):
            return ("closed",)
        version, timeout, sid = struct.unpack(">iiq", f[:16])
        return (len(f), version, timeout, sid != 0, f[16:20])

    def closed(sock):
        try:
            return sock.recv(1) == b""
        except OSError:
            return True

    try:
        live = connect(30000)
        (n,) = struct.unpack(">i", read_exact(live, 4))
        body = read_exact(live, n)
        live_id = struct.unpack(">q", body[8:16])[0]
        for label, kwargs in [
            ("timeout clamped up", dict(timeout_ms=1)),
            ("timeout clamped down", dict(timeout_ms=10 ** 6)),
            ("no readOnly byte", dict(timeout_ms=30000, read_only=False)),
            ("wrong password", dict(timeout_ms=30000, session_id=live_id, passwd=b"x" * 16)),
            ("unknown session", dict(timeout_ms=30000, session_id=12345, passwd=b"x" * 16)),
            # Ahead of either server's zxid, whatever its epoch.
            ("client ahead", dict(timeout_ms=30000, last_zxid=1 << 40)),
        ]:
            sock = connect(**kwargs)
            out.append((label, summary(sock)))
            if label in ("wrong password", "unknown session", "client ahead"):
                out.append((label + " then", closed(sock)))
            sock.close()
        # Unknown auth scheme: AUTHFAILED on the request's xid, then close.
        for xid in (-4, 5):
            sock = connect(30000)
            summary(sock)
            p = struct.pack(">ii", xid, 100) + auth("nope", b"x")
            sock.sendall(struct.pack(">i", len(p)) + p)
            f = read_frame(sock)
            out.append(("bad auth xid %d" % xid, struct.unpack(">iqi", f[:16]), closed(sock)))
            sock.close()
        # Oversize frame after the handshake: closed, no reply.
        sock = connect(30000)
        summary(sock)
        sock.sendall(struct.pack(">i", 0x100000) + b"\0" * 64)
        out.append(("oversize", closed(sock)))
        sock.close()
        live.close()
    finally:
        server.destroy()
    return out


@pytest.mark.skipif(not HAVE_ZK, reason="Apache ZooKeeper not installed")
def test_same_handshake_and_connection_handling_as_zookeeper():
    theirs = handshake_cases("zookeeper")
    ours = handshake_cases("zabkeeper")
    diffs = [(t, o) for t, o in zip(theirs, ours) if t != o]
    assert not diffs, "\n".join("zookeeper: %r\nzabkeeper: %r" % d for d in diffs[:5])
    assert len(theirs) == len(ours), (theirs, ours)


def unfinished_handshakes(kind):
    """With nio.sessionlessCnxnTimeout=300: is each unfinished connection closed by the server
    (EOF within WAIT_S)?  And with maxClientCnxns=3, from an address no other connection uses:
    is a fourth connection without a session refused, and can the three finish their handshake?"""
    server = zkserver.Server(kind=kind, extra_cfg=["nio.sessionlessCnxnTimeout=300"])
    server.start()
    out = []

    def closed(sock):
        sock.settimeout(WAIT_S)
        try:
            while sock.recv(1024):
                pass
            return True
        except socket.timeout:
            return False
        except OSError:
            return True

    try:
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
        partial = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
        partial.sendall(struct.pack(">i", 45) + b"\0" * 10)
        length_only = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
        length_only.sendall(struct.pack(">i", 45))
        for label, sock in [("silent", silent), ("partial", partial), ("length only", length_only)]:
            out.append((label, closed(sock)))
            sock.close()
    finally:
        server.destroy()

    server = zkserver.Server(kind=kind, extra_cfg=["maxClientCnxns=3"])
    server.start()
    try:
        def from_other_ip():
            sock = socket.socket()
            sock.settimeout(WAIT_S)
            sock.bind(("127.0.0.2", 0))
            sock.connect(("127.0.0.1", server.port))
            return sock

        idle = [from_other_ip() for _ in range(3)]
        # ZooKeeper counts a connection once its selector thread has registered it, a moment
        # after accept (zabkeeper at accept): probe until a fourth one is refused, bounded.
        deadline = time.monotonic() + WAIT_S
        refused = False
        while not refused and time.monotonic() < deadline:
            try:
                probe = from_other_ip()
            except (BrokenPipeError, ConnectionResetError):
                # Accepted and closed by the server (FIN, then RST) before connect() returned:
                # Linux reports EPIPE or ECONNRESET from connect() itself.  That is a refusal.
                refused = True
                break
            probe.settimeout(0.5)
            try:
                refused = probe.recv(1) == b""
            except socket.timeout:
                pass
            except OSError:
                refused = True
            probe.close()
        out.append(("fourth without a session", refused))
        for i, sock in enumerate(idle):
            req = struct.pack(">iqiq", 0, 0, 30000, 0) + buf(b"\0" * 16) + b"\0"
            sock.sendall(struct.pack(">i", len(req)) + req)
            f = read_frame(sock)
            out.append(("idle %d handshake" % i, len(f), struct.unpack(">q", f[8:16])[0] != 0))
            sock.close()
    finally:
        server.destroy()
    return out


@pytest.mark.skipif(not HAVE_ZK, reason="Apache ZooKeeper not installed")
def test_unfinished_handshakes_handled_as_zookeeper():
    theirs = unfinished_handshakes("zookeeper")
    ours = unfinished_handshakes("zabkeeper")
    assert theirs == ours, "zookeeper: %r\nzabkeeper: %r" % (theirs, ours)
    assert all(closed for _, closed in theirs[:4]), theirs
