"""Start and stop a ZooKeeper-protocol server (zabkeeper or Apache ZooKeeper) for client tests.

Both servers get the same zoo.cfg on a free 127.0.0.1 port with a temporary dataDir. Readiness is
detected by polling the client port with the `ruok` four-letter word (bounded); the server is always
stopped by its PID. Environment:

  ZK_KIND          zabkeeper (default) or zookeeper
  ZABKEEPER_BIN    path to the zabkeeper binary (default target/release/zabkeeper)
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
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

    def __init__(self, kind=None, tick_ms=2000, extra_cfg=(), port=None, data_dir=None):
        self.kind = kind or os.environ.get("ZK_KIND", "zabkeeper")
        self.tick_ms = tick_ms
        self.extra_cfg = list(extra_cfg)
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="zk-test-")
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")

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
            "initLimit=10",
            "syncLimit=5",
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
                "-Dzookeeper.DigestAuthenticationProvider.superDigest=" + SUPER_DIGEST,
                "-Dzookeeper.extendedTypesEnabled=true",
                "-Dzookeeper.4lw.commands.whitelist=*",
                "-Dzookeeper.admin.enableServer=false",
                "-cp", ZK_CLASSPATH,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg,
            ]
        binary = os.environ.get("ZABKEEPER_BIN", "target/release/zabkeeper")
        return [binary, "serve", "--config", cfg]

    def start(self):
        os.makedirs(os.path.join(self.data_dir, "data"), exist_ok=True)
        cfg = self._write_cfg()
        log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        self.proc = subprocess.Popen(self._command(cfg), stdout=log, stderr=log, env=env)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s; log:\n%s" % (self.proc.returncode, self.log()))
            # ruok answers before ZooKeeper serves requests; srvr says when it really does.
            if four_letter(self.port, "ruok", timeout=0.5) == "imok" and four_letter(
                self.port, "srvr", timeout=0.5
            ).startswith("Zookeeper version"):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("server not ready within %ss; log:\n%s" % (READY_TIMEOUT_S, self.log()))

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
