"""pytest plugin: run kazoo's own test suite against servers we start ourselves.

kazoo's harness (kazoo/testing/harness.py) builds a 3-node Java cluster in `get_global_cluster`;
this plugin replaces that function with our own "cluster" of zabkeeper or Apache ZooKeeper servers
(ZK_KIND), on free 127.0.0.1 ports with temporary dataDirs, stopped by PID (see zkserver.py):

  ZK_ENSEMBLE unset or 1   one standalone server
  ZK_ENSEMBLE=N            an N-server ensemble (zkserver.Ensemble, tickTime 2000 like kazoo's own
                           harness), so that the tests that stop members (test_update_host_list,
                           TestReadOnlyMode) have one; for ZooKeeper also reconfigEnabled=true and
                           -Dreadonlymode.enabled=true, so that TestReconfig has an ensemble to
                           reconfigure. zabkeeper refuses reconfigEnabled=true in an ensemble
                           (dynamic reconfiguration is not supported), so its ensemble gets
                           neither and run_kazoo_suite.sh deselects TestReconfig for it

Servers support kazoo's `run()`/`stop()`/`running`/`address`, so tests that bounce `cluster[i]`
work. When the zabkeeper binary refuses `server.N` lines ("not supported yet"), the session ends at
once with that reason and exit status 0, as the ensemble tests skip.

Use: PYTHONPATH=tests/clients:tests/clients/kazoo_plugin python3 -m pytest -p zk_plugin \
         --pyargs kazoo.tests
"""
import atexit
import os

import pytest

import kazoo.testing.harness as harness

import zkserver


class ServerList(list):
    """The shape kazoo's tests expect of `ZookeeperCluster`: indexable servers with start/stop."""

    ensemble = None

    def start(self):
        for s in self:
            if not s.running:
                s.launch()
        if self.ensemble is not None:
            self.ensemble.wait_serving()
            self.ensemble.leader()
        else:
            for s in self:
                s.wait_serving()

    def stop(self):
        for s in self:
            s.stop()

    def terminate(self):
        if self.ensemble is not None:
            self.ensemble.destroy()
        for s in self:
            s.destroy()

    def reset(self):
        pass


_CLUSTER = None


def _make_cluster():
    size = int(os.environ.get("ZK_ENSEMBLE", "1"))
    if size <= 1:
        return ServerList([zkserver.Server()])
    zookeeper = os.environ.get("ZK_KIND", "zabkeeper") == "zookeeper"
    ens = zkserver.Ensemble(
        size=size, tick_ms=2000, extra_cfg=["reconfigEnabled=true"] if zookeeper else [],
        java_props=["-Dreadonlymode.enabled=true"],
    )
    cluster = ServerList(ens.servers[sid] for sid in ens.sids)
    cluster.ensemble = ens
    return cluster


def get_global_cluster():
    global _CLUSTER
    if _CLUSTER is None:
        _CLUSTER = _make_cluster()
        atexit.register(_CLUSTER.terminate)
        _CLUSTER.start()
    return _CLUSTER


def pytest_configure(config):
    harness.get_global_cluster = get_global_cluster


def pytest_sessionstart(session):
    try:
        get_global_cluster()
    except zkserver.EnsembleUnsupported as refusal:
        pytest.exit("skipped: this zabkeeper binary refuses server.N lines: %s" % refusal, returncode=0)


def pytest_unconfigure(config):
    if _CLUSTER is not None:
        _CLUSTER.terminate()
