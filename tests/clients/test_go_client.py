"""A ZooKeeper client zabkeeper's authors did not write: tests/clients/go/main.go, built with
github.com/samuel/go-zookeeper (Debian's golang-github-samuel-go-zookeeper-dev, the original of
github.com/go-zookeeper/zk, with the same connection code) in GOPATH mode against the packaged
source. It sends auth and setWatches with ordinary xids: AddAuth with digest "user:pass" and
"blah", an auth ACL, and a watch that must survive a dropped connection and a server restart on
the same port and data directory (this file restarts the server when the program prints RESTART).

No go.mod: the Go module proxy is not reachable from this project's machines, Debian's package
ships the library's source, and GOPATH mode builds against it.

Runs against ZK_KIND (zabkeeper by default; ZK_KIND=zookeeper checks the test itself against
Debian's ZooKeeper). Skipped only when the go command is absent; run_all.sh installs golang-go and
the library by package name. Every step is bounded.
"""
import os
import queue
import shutil
import subprocess
import tempfile
import threading

import pytest

import zkserver

HERE = os.path.dirname(os.path.abspath(__file__))
GOPATH = "/usr/share/gocode"
LIBRARY = os.path.join(GOPATH, "src/github.com/samuel/go-zookeeper/zk")
BUILD_TIMEOUT_S = 300
STEP_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def zkgo():
    go = shutil.which("go")
    if go is None:
        pytest.skip("the go command is not installed (Debian package golang-go)")
    assert os.path.isdir(LIBRARY), (
        "%s missing: install the Debian package golang-github-samuel-go-zookeeper-dev" % LIBRARY
    )
    out_dir = tempfile.mkdtemp(prefix="zkgo-")
    binary = os.path.join(out_dir, "zkgo")
    env = dict(os.environ)
    env.update(GO111MODULE="off", GOPATH=GOPATH, GOFLAGS="", GOCACHE=os.path.join(out_dir, "cache"))
    build = subprocess.run(
        [go, "build", "-o", binary, "."],
        cwd=os.path.join(HERE, "go"),
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert build.returncode == 0, "go build failed:\n" + build.stderr
    yield binary
    shutil.rmtree(out_dir, ignore_errors=True)


def test_go_client_auth_acl_and_watch_survive_reconnects(zkgo):
    server = zkserver.Server()
    server.start()
    proc = subprocess.Popen(
        [zkgo, "-addr", server.address],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = queue.Queue()
    def read_stdout():
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put("(zkgo closed its output)")

    threading.Thread(target=read_stdout, daemon=True).start()
    stderr = []
    stderr_reader = threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)
    stderr_reader.start()

    def next_line():
        try:
            return lines.get(timeout=STEP_TIMEOUT_S)
        except queue.Empty:
            return "(no output within %ss)" % STEP_TIMEOUT_S

    try:
        line = next_line()
        assert line == "RESTART", line
        server.kill()
        server.start()
        proc.stdin.write("RESTARTED\n")
        proc.stdin.flush()
        line = next_line()
        assert line == "OK", line
        assert proc.wait(timeout=STEP_TIMEOUT_S) == 0
    except AssertionError as e:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=STEP_TIMEOUT_S)
        stderr_reader.join(timeout=STEP_TIMEOUT_S)
        raise AssertionError(
            "%s\n--- zkgo stderr:\n%s\n--- server log:\n%s" % (e, "".join(stderr), server.log())
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STEP_TIMEOUT_S)
        server.destroy()
