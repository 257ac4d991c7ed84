"""ZooKeeper's own command-line clients against the server: zkCli.sh (Java) and cli_mt (C).

zkCli.sh runs one command per JVM and exits 1 on a KeeperException; cli_mt always exits 0, so its
output is checked. Every wait is bounded.
"""
import os
import select
import subprocess
import time

import pytest

import zkserver

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"


@pytest.fixture(scope="module")
def server():
    s = zkserver.Server()
    s.start()
    yield s
    s.destroy()


def zkcli(server, *args):
    p = subprocess.run(
        [ZKCLI, "-server", server.address] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
    )
    return p.returncode, p.stdout.decode(errors="replace")


@pytest.mark.skipif(not os.path.exists(ZKCLI), reason="zookeeper package not installed")
def test_zkcli_create_get_stat_delete(server):
    rc, out = zkcli(server, "create", "/cli", "payload")
    assert rc == 0, out
    assert "Created /cli" in out
    rc, out = zkcli(server, "create", "/cli", "again")
    assert rc == 1 and "Node already exists: /cli" in out
    rc, out = zkcli(server, "get", "/cli")
    assert rc == 0 and "payload" in out.splitlines()
    rc, out = zkcli(server, "stat", "/cli")
    assert rc == 0 and "dataLength = 7" in out
    rc, out = zkcli(server, "create", "-s", "/cli/seq-", "x")
    assert rc == 0 and "Created /cli/seq-0000000000" in out
    rc, out = zkcli(server, "deleteall", "/cli")
    assert rc == 0, out
    rc, out = zkcli(server, "get", "/cli")
    assert rc == 1 and "Node does not exist: /cli" in out


@pytest.mark.skipif(not os.path.exists(CLI_MT), reason="zookeeper-bin not installed")
def test_c_client_cli_mt(server):
    p = subprocess.Popen(
        [CLI_MT, server.address], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out = b""
    try:
        # cli_mt's create takes the whole rest of the line as the path.
        p.stdin.write(b"create /cmt\nset /cmt hello\nget /cmt\nls /\n")
        p.stdin.flush()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"\tcmt" not in out:
            ready, _, _ = select.select([p.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
        p.stdin.close()
        p.wait(timeout=30)
        out += p.stdout.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    text = out.decode(errors="replace")
    assert "Got a new session id" in text, text
    assert "[/cmt]: rc = 0" in text, text
    assert "/cmt: rc = 0" in text, text
    assert "\tcmt" in text, text
