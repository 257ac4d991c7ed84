# Produced tests/data/zookeeper-3.8/version-2/{log.1,snapshot.5}: files written by Apache
# ZooKeeper 3.8.0 (Debian's package) itself, the golden input of storage's Adler-32 tests.
# Run from tests/clients (it uses zkserver.py and kazoo): /usr/bin/python3 ../data/zookeeper_files.py OUT
# The server runs standalone on a free 127.0.0.1 port and is stopped by its PID. preAllocSize=1 (KiB)
# keeps the log small; the second start makes ZooKeeper take snapshot.5 of the loaded tree.
import os
import sys

sys.path.insert(0, os.getcwd())
from kazoo.client import KazooClient  # noqa: E402
from zkserver import Server  # noqa: E402

out = sys.argv[1]
os.makedirs(out)
server = Server(kind="zookeeper", extra_cfg=["preAllocSize=1"], data_dir=out)
server.start()
try:
    zk = KazooClient(hosts=server.address)
    zk.start(timeout=30)
    zk.create("/adler", b"")
    # 6,000 bytes: one log record and the snapshot are longer than zlib's 5,552-byte NMAX run.
    zk.create("/adler/big", bytes((i * 7 + 3) % 256 for i in range(6000)))
    zk.set("/adler", b"small")
    zk.stop()
    zk.close()
finally:
    server.stop()
server.start()
server.stop()
print(os.path.join(out, "data", "version-2"))
