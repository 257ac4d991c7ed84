"""Helpers shared by the data-directory interoperability test and the golden-data generator.

- `create_container` / `create_ttl`: opcodes 19 and 21, which kazoo 2.8 has no method for.
- `walk`: every znode of a server as {path: (data, Stat fields, ACL)}, read with super auth.
- `populate`: a tree with every kind of node and change the formats must carry.
"""
import struct
from collections import namedtuple

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry
from kazoo.protocol.serialization import Create2, ZnodeStat, read_string, stat_struct
from kazoo.security import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, make_acl, make_digest_acl

SUPER_AUTH = ("digest", "super:test")
STAT_FIELDS = ZnodeStat._fields  # czxid … pzxid, all eleven


class _Create2Like:
    @classmethod
    def deserialize(cls, data, offset):
        path, offset = read_string(data, offset)
        stat = ZnodeStat._make(stat_struct.unpack_from(data, offset))
        return path, stat


class CreateContainer(_Create2Like, namedtuple("CreateContainer", "path data acl flags")):
    type = 19
    serialize = Create2.serialize


class CreateTTL(_Create2Like, namedtuple("CreateTTL", "path data acl flags ttl")):
    type = 21

    def serialize(self):
        return Create2.serialize(self) + struct.pack(">q", self.ttl)


def _call(zk, request):
    result = zk.handler.async_result()
    zk._call(request, result)
    return result.get(timeout=20)


def create_container(zk, path, data=b"", acl=OPEN_ACL_UNSAFE):
    return _call(zk, CreateContainer(path, data, list(acl), 4))


def create_ttl(zk, path, ttl_ms, data=b"", acl=OPEN_ACL_UNSAFE, sequential=False):
    return _call(zk, CreateTTL(path, data, list(acl), 6 if sequential else 5, ttl_ms))


def client(address, timeout=30.0, auth=True):
    """A started kazoo client; with `auth`, authenticated as super (reads every ACL). It retries a
    lost connection forever, at least once a second, so it is back soon after a server restart."""
    retry = KazooRetry(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0)
    c = KazooClient(address, timeout=timeout, connection_retry=retry,
                    auth_data=[SUPER_AUTH] if auth else None)
    c.start(timeout=30)
    return c


def walk(zk):
    """{path: (data, {stat field: value}, sorted ACL tuples)} for every znode."""
    out = {}
    stack = ["/"]
    while stack:
        path = stack.pop()
        data, stat = zk.get(path)
        acls, _ = zk.get_acls(path)
        out[path] = (
            data,
            {f: getattr(stat, f) for f in STAT_FIELDS},
            sorted((a.perms, a.id.scheme, a.id.id) for a in acls),
        )
        for child in zk.get_children(path):
            stack.append(path.rstrip("/") + "/" + child)
    return out


def populate(zk, ephemeral_owner, large_bytes=300_000):
    """Every kind of znode and change: persistent, sequential, ephemeral (owned by the live
    `ephemeral_owner` client), container, TTL, ACLs with world/digest/ip/auth schemes, a successful
    and a failed multi, setData, setACL, deletes, null and large data. Returns nothing; callers
    compare `walk` results."""
    zk.create("/app", b"config v1")
    zk.create("/app/seq-", b"a", sequence=True)
    zk.create("/app/seq-", b"b", sequence=True)
    zk.create("/app/gone", b"to be deleted")
    zk.delete("/app/gone")
    zk.set("/app", b"config v2")
    zk.set("/app", b"config v3")
    zk.create("/null", None)
    zk.create("/large", bytes(range(256)) * (large_bytes // 256))
    zk.create("/acl")
    zk.create("/acl/digest", b"d", acl=[make_digest_acl("bob", "secret", all=True)])
    zk.create("/acl/ip", b"i", acl=[make_acl("ip", "127.0.0.1", all=True)])
    zk.create("/acl/readonly", b"r", acl=READ_ACL_UNSAFE)
    zk.create("/acl/mixed", b"m", acl=[
        make_acl("world", "anyone", read=True),
        make_digest_acl("alice", "pw", read=True, write=True, admin=True),
    ])
    zk.set_acls("/acl", [make_acl("world", "anyone", all=True)], version=0)
    zk.set_acls("/acl", list(OPEN_ACL_UNSAFE), version=1)
    create_container(zk, "/box")
    zk.create("/box/item", b"keeps the container")
    create_ttl(zk, "/ttl", 3_600_000, b"lives an hour")
    create_ttl(zk, "/ttl-seq-", 7_200_000, b"t", sequential=True)
    ephemeral_owner.create("/app/eph", b"mine", ephemeral=True)
    ephemeral_owner.create("/app/eph-seq-", b"", ephemeral=True, sequence=True)
    tx = zk.transaction()
    tx.create("/multi", b"m1")
    tx.create("/multi/child", b"c")
    tx.set_data("/app", b"config v4")
    tx.check("/app", 3)
    tx.delete("/app/seq-0000000000")
    assert all(r is True or isinstance(r, (str, ZnodeStat)) for r in tx.commit())
    tx = zk.transaction()
    tx.create("/never", b"rolled back")
    tx.check("/app", 99)
    results = tx.commit()
    assert not zk.exists("/never") and any(isinstance(r, Exception) for r in results)
