"""Regenerates the golden data directory in this folder with Debian's Apache ZooKeeper 3.8.

    PYTHONPATH=tests/clients /usr/bin/python3 tests/data/zookeeper-3.8-datadir/generate.py

Runs ZooKeeper standalone (snapCount=30, preAllocSize=1 KiB), builds the tree of
`znodes.populate` (with 1 KiB of "large" data, to stay small), makes sure a snapshot after zxid 0
exists and that txns follow it in the log (including a closeSession that deletes ephemerals),
then kills ZooKeeper with SIGKILL while two sessions are still open. It copies `version-2/` here
(log files without their zero-filled preallocated tail) and writes `expected.txt`: every live
session and every znode as ZooKeeper served it just before the kill. `tests/zookeeper_golden.rs`
decodes the files and checks every line. Not run by CI: the committed output is the fixture.
"""
import os
import shutil
import sys

import znodes
import zkserver

HERE = os.path.dirname(os.path.abspath(__file__))
DEADLINE_TXNS = 200


def main():
    server = zkserver.Server(kind="zookeeper", extra_cfg=["snapCount=30", "preAllocSize=1"])
    server.start()
    v2 = os.path.join(server.data_dir, "data", "version-2")
    try:
        zk = znodes.client(server.address)
        owner = znodes.client(server.address, auth=False)
        znodes.populate(zk, owner, large_bytes=1024)
        # Enough txns for a snapshot after zxid 0 (it comes after 15–30 txns).
        for i in range(DEADLINE_TXNS):
            if any(n.startswith("snapshot.") and n != "snapshot.0" for n in os.listdir(v2)):
                break
            zk.set("/app", b"config v%d" % (5 + i))
        else:
            sys.exit("no snapshot after %d txns" % DEADLINE_TXNS)
        # After the snapshot: a session closes and takes its ephemerals, more changes.
        closer = znodes.client(server.address, auth=False)
        closer.create("/app/closer-eph", b"x", ephemeral=True)
        closer.stop()
        closer.close()
        zk.create("/after-snapshot", b"in the log only")
        zk.delete("/box/item")
        zk.set("/acl/ip", b"changed after the snapshot")
        sessions = [
            (c.client_id[0], c._session_timeout) for c in (zk, owner)
        ]
        tree = znodes.walk(zk)
        with open(os.path.join(HERE, "expected.txt"), "w") as f:
            f.write("# written by generate.py from ZooKeeper 3.8.0 just before SIGKILL\n")
            for sid, timeout in sorted(sessions):
                f.write("session %x %d\n" % (sid, timeout))
            for path in sorted(tree):
                data, stat, acl = tree[path]
                fields = " ".join(str(stat[k]) for k in znodes.STAT_FIELDS)
                acls = ",".join("%d:%s:%s" % a for a in acl)
                f.write("node %s %s %s %s\n" % (path, "-" if data is None else data.hex() or "=",
                                                fields, acls))
        server.kill()
    finally:
        server.kill()
    out = os.path.join(HERE, "version-2")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name in sorted(os.listdir(v2)):
        with open(os.path.join(v2, name), "rb") as f:
            data = f.read()
        if name.startswith("log."):
            data = data.rstrip(b"\0")  # the preallocated tail; every record ends in 'B'
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(name, len(data))
    server.destroy()


if __name__ == "__main__":
    main()
