"""pytest plugin: run kazoo's own test suite against one standalone server we start ourselves.

kazoo's harness (kazoo/testing/harness.py) builds a 3-node Java cluster in `get_global_cluster`;
this plugin replaces that function with a one-server "cluster" whose server is zabkeeper or Apache
ZooKeeper (ZK_KIND), started on a free 127.0.0.1 port with a temporary dataDir (see zkserver.py).
Servers support kazoo's `run()`/`stop()` so tests that bounce `cluster[0]` work.

Use: PYTHONPATH=tests/clients:tests/clients/kazoo_plugin python3 -m pytest -p zk_plugin \
         --pyargs kazoo.tests
"""
import atexit

import kazoo.testing.harness as harness

import zkserver


class OneServerCluster(list):
    """The shape kazoo's tests expect of `ZookeeperCluster`: iterable servers with start/stop."""

    def start(self):
        for s in self:
            if not s.running:
                s.start()

    def stop(self):
        for s in self:
            s.stop()

    def terminate(self):
        for s in self:
            s.destroy()

    def reset(self):
        pass


_CLUSTER = None


def get_global_cluster():
    global _CLUSTER
    if _CLUSTER is None:
        _CLUSTER = OneServerCluster([zkserver.Server()])
        _CLUSTER.start()
        atexit.register(_CLUSTER.terminate)
    return _CLUSTER


def pytest_configure(config):
    harness.get_global_cluster = get_global_cluster


def pytest_unconfigure(config):
    if _CLUSTER is not None:
        _CLUSTER.terminate()
