"""Start and stop ZooKeeper-protocol servers (zabkeeper or Apache ZooKeeper) for client tests.

`Server`: one standalone server. Both kinds get the same zoo.cfg on a free 127.0.0.1 port with a
temporary dataDir. Readiness is detected by polling the client port with the `ruok` and `srvr`
four-letter words (bounded); the server runs in its own session (setsid) with stdin from /dev/null
and is always stopped by its PID.

`Ensemble`: N servers of one ensemble (myid and zoo.cfg per server), with `kill9`, `restart`,
`leader`, `mode`, `mntr`, `connect_string`, `sync_modes` (how a learner caught up, from its log)
and, through one `LinkProxy` per direction between peer ports, `partition` / `heal`.

Environment:

  ZK_KIND          zabkeeper (default) or zookeeper
  ZABKEEPER_BIN    path to the zabkeeper binary (default target/release/zabkeeper)
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="  # password "test"
ZK_CLASSPATH = ":".join(
    "/usr/share/java/" + j
    for j in ("zookeeper.jar", "slf4j-api.jar", "slf4j-simple.jar", "servlet-api.jar")
)
READY_TIMEOUT_S = 60.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four_letter(port, word, timeout=2.0):
    """Send a four-letter word, return the whole reply as str ('' on failure)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


class Server:
    """One standalone server process: `start()`, `stop()`, `kill()`, `address`."""

    def __init__(
        self, kind=None, tick_ms=2000, extra_cfg=(), port=None, data_dir=None,
        init_limit=10, sync_limit=5,
    ):
        self.kind = kind or os.environ.get("ZK_KIND", "zabkeeper")
        self.tick_ms = tick_ms
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.extra_cfg = list(extra_cfg)
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="zk-test-")
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.java_props = []  # extra -D options for Apache ZooKeeper

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _write_cfg(self):
        cfg = os.path.join(self.data_dir, "zoo.cfg")
        lines = [
            "tickTime=%d" % self.tick_ms,
            "initLimit=%d" % self.init_limit,
            "syncLimit=%d" % self.sync_limit,
            "dataDir=%s" % os.path.join(self.data_dir, "data"),
            "clientPort=%d" % self.port,
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            "4lw.commands.whitelist=*",
            "admin.enableServer=false",
            "extendedTypesEnabled=true",
            "DigestAuthenticationProvider.superDigest=" + SUPER_DIGEST,
        ] + self.extra_cfg
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        return cfg

    def _command(self, cfg):
        if self.kind == "zookeeper":
            return [
                "java", "-Xmx256m",
                *self.java_props,
                "-Dzookeeper.DigestAuthenticationProvider.superDigest=" + SUPER_DIGEST,
                "-Dzookeeper.extendedTypesEnabled=true",
                "-Dzookeeper.4lw.commands.whitelist=*",
                "-Dzookeeper.admin.enableServer=false",
                "-cp", ZK_CLASSPATH,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg,
            ]
        binary = os.environ.get("ZABKEEPER_BIN", "target/release/zabkeeper")
        return [binary, "serve", "--config", cfg]

    def launch(self):
        """Start the process in its own session (setsid) without waiting for it to serve."""
        os.makedirs(os.path.join(self.data_dir, "data"), exist_ok=True)
        cfg = self._write_cfg()
        log = open(self.log_path, "ab")
        env = dict(os.environ)
        # The ensemble tests read the sync lines (`synced with leader N by DIFF`), logged at info
        # by the driver, whatever level the caller chose for everything else.
        env["RUST_LOG"] = env.get("RUST_LOG", "info") + ",zabkeeper::server::driver=info"
        self.proc = subprocess.Popen(
            self._command(cfg),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        log.close()
        return self

    def serving(self):
        """True when the server answers requests (`ruok` answers before ZooKeeper serves; `srvr`
        says when it really does)."""
        return four_letter(self.port, "ruok", timeout=0.5) == "imok" and four_letter(
            self.port, "srvr", timeout=0.5
        ).startswith("Zookeeper version")

    def wait_serving(self, timeout=READY_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s; log:\n%s" % (self.proc.returncode, self.log()))
            if self.serving():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("server not ready within %ss; log:\n%s" % (timeout, self.log()))

    def start(self):
        return self.launch().wait_serving()

    # kazoo's ManagedZooKeeper names
    run = start

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-8000:]
        except OSError:
            return ""

    def _signal_and_wait(self, sig):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.proc = None

    def stop(self):
        self._signal_and_wait(signal.SIGTERM)

    def kill(self):
        self._signal_and_wait(signal.SIGKILL)

    def destroy(self):
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()


# --- Ensembles -----------------------------------------------------------------------------------

# zabkeeper's one-line refusal of `server.N` lines while replicated mode is missing.
REFUSED_REPLICATED = "replicated mode (server.N lines) is not supported yet"

# What a learner logs for each way of catching up with its leader. zabkeeper: "synced with leader
# N by DIFF|TRUNC|SNAP". Apache ZooKeeper 3.8: Learner.syncWithLeader's lines.
ZK_SYNC_LINES = {
    "DIFF": "Getting a diff from the leader",
    "TRUNC": "Truncating log to get in sync with the leader",
    "SNAP": "Getting a snapshot from leader",
}


class EnsembleUnsupported(Exception):
    """The zabkeeper binary refused `server.N` lines (REFUSED_REPLICATED)."""


def free_ports(n):
    """n distinct free ports (all bound at once, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def parse_mntr(text):
    """`mntr` reply → {key: value}, values as int when they are integers."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("\t")
        if not sep:
            continue
        try:
            out[key] = int(value)
        except ValueError:
            out[key] = value
    return out


class _Link:
    """One proxied TCP connection: the dialler's socket, the target's (None while blocked)."""

    def __init__(self, near, far):
        self.near = near
        self.far = far
        self.dropping = far is None

    def close(self):
        for s in (self.near, self.far):
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class LinkProxy:
    """Forwards the connections one server opens toward one peer port of another server
    (127.0.0.1:`port` → 127.0.0.1:`target_port`), one thread per direction per connection.

    `block()` makes it a black hole, as a partition does: open connections stay open while their
    bytes are read and dropped, new ones are accepted and dropped, and a close by one end is not
    passed on, so neither end learns of the cut before its own timeouts. `unblock()` closes every connection that dropped bytes (its
    stream is cut mid-frame) and forwards new connections again.

    `hello_port` is for Apache ZooKeeper's election port: its handshake (QuorumCnxManager's
    initial message: version, sid, length-prefixed "host:port") names the dialler's own election
    address, and a server that refuses a connection from a lower sid dials back to that address.
    The proxy rewrites it to `127.0.0.1:hello_port`, the proxy of the reverse direction.
    """

    CONNECT_PATIENCE_S = 1.5

    def __init__(self, target_port, hello_port=None):
        self.target_port = target_port
        self.hello_port = hello_port
        self._lock = threading.Lock()
        self._blocked = False
        self._links = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                near, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._open, args=(near,), daemon=True).start()

    def _open(self, near):
        """Connect `near` through to the target. The dialler's connect has already succeeded (the
        proxy accepted it), so a target that is not listening yet must not be answered with an
        immediate close, which no real network does: a learner that dials a just-elected leader
        before its quorum port is bound would see its handshake cut and give up the round. Retry
        for up to CONNECT_PATIENCE_S (the dialler's bytes wait in the socket buffer), then close."""
        deadline = time.monotonic() + self.CONNECT_PATIENCE_S
        far = None
        while True:
            with self._lock:
                blocked = self._blocked
            if blocked:
                break
            try:
                far = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                far.settimeout(None)
                break
            except OSError:
                if time.monotonic() > deadline:
                    near.close()  # the target stayed down: the dialler sees its connection end
                    return
                time.sleep(0.02)
        with self._lock:
            if self._blocked and far is not None:
                far.close()
                far = None
            link = _Link(near, far)
            self._links.append(link)
        threading.Thread(target=self._pump, args=(link, True), daemon=True).start()
        if far is not None:
            threading.Thread(target=self._pump, args=(link, False), daemon=True).start()

    def _rewrite_hello(self, src, dst):
        """Forward ZooKeeper's initial election message with the advertised address replaced."""
        head = _recv_exact(src, 8)
        version = struct.unpack(">q", head)[0]
        if version >= 0:  # protocol 0: the first long is the sid, no address follows
            dst.sendall(head)
            return
        sid, length = struct.unpack(">qi", _recv_exact(src, 12))
        _recv_exact(src, length)
        addr = ("127.0.0.1:%d" % self.hello_port).encode()
        dst.sendall(head + struct.pack(">qi", sid, len(addr)) + addr)

    def _pump(self, link, outbound):
        src, dst = (link.near, link.far) if outbound else (link.far, link.near)
        try:
            if outbound and self.hello_port is not None and not link.dropping:
                self._rewrite_hello(src, dst)
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not link.dropping:
                    dst.sendall(data)
        except (OSError, EOFError, struct.error):
            pass
        finally:
            with self._lock:
                dropping = link.dropping
            if dropping:
                # Partitioned: the close does not cross the cut either (the other end learns of
                # it only by its own timeouts); `unblock` closes what is left.
                try:
                    src.close()
                except OSError:
                    pass
            else:
                link.close()
                with self._lock:
                    if link in self._links:
                        self._links.remove(link)

    def block(self):
        with self._lock:
            self._blocked = True
            for link in self._links:
                link.dropping = True

    def unblock(self):
        with self._lock:
            self._blocked = False
            cut = [link for link in self._links if link.dropping]
        for link in cut:
            link.close()

    def close(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("peer closed")
        buf += chunk
    return buf


class Ensemble:
    """`size` voting servers (zabkeeper or Apache ZooKeeper, ZK_KIND) on 127.0.0.1, named by sid
    1..size as in `server.N`. Each has its own dataDir (myid, zoo.cfg, server.log), free client,
    quorum and election ports, and runs in its own session (setsid); every process is stopped by
    its PID in `destroy()`.

    With `proxies=True` every server reaches every other one's quorum and election ports through
    a `LinkProxy` per direction (server i's zoo.cfg lists server j at the ports of the i→j
    proxies; its own line has its real ports), so `partition(a, b)` can cut the links between two
    groups of servers and `heal()` restore them. Without proxies the servers talk directly.

    Waiting is by polling a condition with a deadline (four-letter words on the client ports).
    """

    def __init__(
        self, size=3, kind=None, tick_ms=200, init_limit=10, sync_limit=5, extra_cfg=(),
        proxies=False, java_props=(), sync_limits=None,
    ):
        self.kind = kind or os.environ.get("ZK_KIND", "zabkeeper")
        self.sids = list(range(1, size + 1))
        self.proxies = {}  # (from sid, to sid, "quorum" | "election") -> LinkProxy
        if proxies:
            # The proxies listen before the servers' ports are chosen, so no server port can be
            # one a proxy holds.
            for i in self.sids:
                for j in self.sids:
                    if i != j:
                        self.proxies[(i, j, "quorum")] = LinkProxy(None)
                        self.proxies[(i, j, "election")] = LinkProxy(None)
        ports = free_ports(3 * size)
        # sid -> (client, quorum, election)
        real = {sid: tuple(ports[3 * k:3 * k + 3]) for k, sid in enumerate(self.sids)}
        for (i, j, port_kind), proxy in self.proxies.items():
            proxy.target_port = real[j][1] if port_kind == "quorum" else real[j][2]
            if self.kind == "zookeeper":
                for (i, j, port_kind), proxy in self.proxies.items():
                    if port_kind == "election":
                        proxy.hello_port = self.proxies[(j, i, "election")].port
        self.servers = {}
        for i in self.sids:
            lines = []
            for j in self.sids:
                client, quorum, election = real[j]
                if proxies and i != j:
                    quorum = self.proxies[(i, j, "quorum")].port
                    election = self.proxies[(i, j, "election")].port
                lines.append("server.%d=127.0.0.1:%d:%d;127.0.0.1:%d" % (j, quorum, election, client))
            server = Server(
                kind=self.kind, tick_ms=tick_ms, port=real[i][0], init_limit=init_limit,
                sync_limit=(sync_limits or {}).get(i, sync_limit),
                extra_cfg=lines + list(extra_cfg),
            )
            server.java_props = list(java_props)
            os.makedirs(os.path.join(server.data_dir, "data"), exist_ok=True)
            with open(os.path.join(server.data_dir, "data", "myid"), "w") as f:
                f.write("%d\n" % i)
            self.servers[i] = server

    # -- processes

    def start(self, timeout=READY_TIMEOUT_S, first=None):
        """Start every server and wait until all serve with one leader. With `first`, those
        servers start alone and elect a leader among themselves (they must be a quorum) before
        the others join it: the leader is then the largest sid of `first`."""
        if first:
            for sid in first:
                self.servers[sid].launch()
            self.wait_serving(list(first), timeout)
            self.leader(timeout)
        for sid in self.sids:
            if not first or sid not in first:
                self.servers[sid].launch()
        self.wait_serving(self.sids, timeout)
        self.leader(timeout)
        return self

    def kill9(self, sid):
        self.servers[sid].kill()

    def stop(self, sid):
        self.servers[sid].stop()

    def restart(self, sid, timeout=READY_TIMEOUT_S):
        """Start a stopped server again on its dataDir and wait until it serves. Returns the
        offset of its log where this run's output begins (for `sync_modes`)."""
        offset = self.log_size(sid)
        self.servers[sid].launch()
        self.wait_serving([sid], timeout)
        return offset

    def wait_serving(self, sids=None, timeout=READY_TIMEOUT_S):
        sids = self.sids if sids is None else sids
        deadline = time.monotonic() + timeout
        while True:
            for sid in sids:
                self._check_alive(sid)
            if all(self.servers[sid].serving() for sid in sids):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "servers %s not serving within %ss\n%s" % (sids, timeout, self.logs())
                )
            time.sleep(0.05)

    def _check_alive(self, sid):
        server = self.servers[sid]
        if server.proc is not None and server.proc.poll() is not None:
            log = server.log()
            server.proc = None
            if REFUSED_REPLICATED in log:
                raise EnsembleUnsupported(log.strip().splitlines()[-1])
            raise RuntimeError("server %d exited; log:\n%s" % (sid, log))

    def destroy(self):
        for server in self.servers.values():
            server.kill()
        for proxy in self.proxies.values():
            proxy.close()
        for server in self.servers.values():
            server.destroy()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()

    # -- observation

    def address(self, sid):
        return self.servers[sid].address

    def connect_string(self, sids=None):
        return ",".join(self.address(sid) for sid in (self.sids if sids is None else sids))

    def running(self):
        return [sid for sid in self.sids if self.servers[sid].running]

    def mode(self, sid):
        """'leader', 'follower', 'observer', 'standalone' from `srvr`; None when not serving."""
        for line in four_letter(self.servers[sid].port, "srvr", timeout=1.0).splitlines():
            if line.startswith("Mode: "):
                return line[len("Mode: "):].strip()
        return None

    def leader(self, timeout=READY_TIMEOUT_S, exclude=()):
        """The sid of the one serving leader among the running servers (waits until there is
        exactly one and every other running server is a serving follower)."""
        deadline = time.monotonic() + timeout
        while True:
            modes = {sid: self.mode(sid) for sid in self.running() if sid not in exclude}
            leaders = [sid for sid, m in modes.items() if m == "leader"]
            if len(leaders) == 1 and all(m in ("leader", "follower") for m in modes.values()):
                return leaders[0]
            if time.monotonic() > deadline:
                raise RuntimeError("no single leader within %ss: %s\n%s" % (timeout, modes, self.logs()))
            time.sleep(0.05)

    def mntr(self, sid):
        return parse_mntr(four_letter(self.servers[sid].port, "mntr", timeout=2.0))

    def log_size(self, sid):
        try:
            return os.path.getsize(self.servers[sid].log_path)
        except OSError:
            return 0

    def log_text(self, sid, offset=0):
        try:
            with open(self.servers[sid].log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def sync_modes(self, sid, offset=0):
        """How learner `sid` caught up with its leader since log `offset`, in log order:
        a list of 'DIFF' / 'TRUNC' / 'SNAP'."""
        found = []
        for line in self.log_text(sid, offset).splitlines():
            if self.kind == "zookeeper":
                for mode, text in ZK_SYNC_LINES.items():
                    if text in line:
                        found.append(mode)
            else:
                m = re.search(r"synced with leader \d+ by (DIFF|TRUNC|SNAP)", line)
                if m:
                    found.append(m.group(1))
        return found

    def logs(self, tail_chars=6000):
        """Every server's log tail, for failure reports."""
        parts = []
        for sid in self.sids:
            text = self.log_text(sid)
            parts.append("----- server.%d (%s) -----\n%s" % (sid, self.servers[sid].log_path, text[-tail_chars:]))
        return "\n".join(parts)

    # -- partitions (proxies=True only)

    def partition(self, side_a, side_b):
        """Cut every quorum and election link between the servers of `side_a` and `side_b`."""
        assert self.proxies, "Ensemble(proxies=True) is needed for partitions"
        for i in side_a:
            for j in side_b:
                for port_kind in ("quorum", "election"):
                    self.proxies[(i, j, port_kind)].block()
                    self.proxies[(j, i, port_kind)].block()

    def heal(self):
        for proxy in self.proxies.values():
            proxy.unblock()
