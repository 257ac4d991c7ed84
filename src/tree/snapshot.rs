//! The snapshot body: the data tree and its sessions in ZooKeeper's own jute layout.
//!
//! This is exactly what ZooKeeper 3.5–3.8 writes between a snapshot file's header and its first
//! seal (`SerializeUtils.serializeSnapshot` → `DataTree.serialize`; formats sheet C.4), and what a
//! leader streams after a SNAP packet (C.5):
//!
//! ```text
//! int count, count × (long sessionId, int timeoutMs)             sessions
//! int count, count × (long aclRef, vector<ACL>)                  ReferenceCountedACLCache
//! (ustring path, buffer data, long aclRef, StatPersisted)*       nodes, parents before children;
//!                                                                 the root's path is ""
//! ustring "/"                                                     end of nodes
//! ```
//!
//! ACL reference -1 means `[ALL, world:anyone]` and is never listed in the cache. We write the
//! nodes depth-first from the root with children in name order and number the other ACL lists
//! 1, 2, … in order of first use, so the same state gives the same bytes; ZooKeeper's order is its
//! hash maps', and its reader (like ours) only needs each parent before its children. The file
//! frame around the body (header, Adler-32 seals, the `ZxidDigest`) is `storage::snapshot`'s.
//!
//! Reading never panics, and what it allocates is bounded by the input: counts are checked
//! against the bytes that remain, the per-node copies of shared ACL lists may not exceed a fixed
//! multiple of the input (`ACL_EXPANSION_MAX`), and every node must name a parent already read
//! and an ACL reference the cache holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::BufMut;

use crate::tree::znode::{EphemeralKind, StatPersisted, Znode};
use crate::tree::{node_size, path, DataTree};
use crate::wire::jute::{JuteReader, JuteWriter, Record, INT_LEN, LONG_LEN};
use crate::wire::records::Acl;
use crate::wire::DecodeError;

/// `ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID`: the reference of `[ALL, world:anyone]`.
pub const OPEN_ACL_REF: i64 = -1;
/// The path string that ends the node list.
pub const END_OF_NODES: &str = "/";
/// Encoded size of a `StatPersisted`: 6 longs and 3 ints.
pub const STAT_PERSISTED_LEN: usize = 6 * LONG_LEN + 3 * INT_LEN;
/// Fewest bytes one node occupies: empty path, null data, ACL reference, stat.
const MIN_NODE_LEN: usize = INT_LEN + INT_LEN + LONG_LEN + STAT_PERSISTED_LEN;
/// Bytes of one session entry.
const SESSION_LEN: usize = LONG_LEN + INT_LEN;
/// Fewest bytes of one ACL cache entry: reference and an empty vector.
const MIN_ACL_ENTRY_LEN: usize = LONG_LEN + INT_LEN;
/// Nodes share a cached ACL list by reference, and each node gets its own copy: the copies may
/// add up to this many times the body's length in encoded ACL bytes. Bounds what a small,
/// hostile file can make us allocate (the copies would otherwise grow with nodes × list size);
/// a real tree (nodes of at least 76 bytes) may still give each node some 5 KB of encoded ACL
/// on average (world:anyone is 23 bytes, a digest id about 50).
const ACL_EXPANSION_MAX: usize = 64;

/// Why a snapshot body could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// A primitive could not be read (truncated input, bad length, bad UTF-8).
    #[error(transparent)]
    Codec(#[from] DecodeError),
    /// A count below zero or larger than the remaining input can hold.
    #[error("{what} count {count} does not fit in the {remaining} bytes left")]
    BadCount {
        /// Which list.
        what: &'static str,
        /// The count read.
        count: i32,
        /// Bytes left when it was read.
        remaining: usize,
    },
    /// An ACL cache entry listed twice, or a null ACL vector.
    #[error("bad ACL cache entry {0}")]
    BadAclEntry(i64),
    /// The nodes' ACL references expand to more ACL bytes than `ACL_EXPANSION_MAX` × the input.
    #[error("ACL references expand to more than {limit} bytes of ACLs")]
    AclExpansion {
        /// The limit for this input.
        limit: usize,
    },
    /// A node whose ACL reference the cache does not hold.
    #[error("node {path:?} refers to ACL {aclref}, which the ACL cache does not hold")]
    UnknownAcl {
        /// The node.
        path: String,
        /// Its reference.
        aclref: i64,
    },
    /// A node that is duplicated, orphaned, misnamed, or the root missing.
    #[error("inconsistent node list at {0:?}")]
    BadNode(String),
    /// Bytes after the end of the body.
    #[error("{0} trailing bytes after the snapshot body")]
    TrailingBytes(usize),
}

impl Record for StatPersisted {
    const MIN_LEN: usize = STAT_PERSISTED_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_long(self.czxid);
        w.write_long(self.mzxid);
        w.write_long(self.ctime);
        w.write_long(self.mtime);
        w.write_int(self.version);
        w.write_int(self.cversion);
        w.write_int(self.aversion);
        w.write_long(self.ephemeral_owner);
        w.write_long(self.pzxid);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(StatPersisted {
            czxid: r.read_long()?,
            mzxid: r.read_long()?,
            ctime: r.read_long()?,
            mtime: r.read_long()?,
            version: r.read_int()?,
            cversion: r.read_int()?,
            aversion: r.read_int()?,
            ephemeral_owner: r.read_long()?,
            pzxid: r.read_long()?,
        })
    }
}

/// Reads a count that must be non-negative and fit `elem_len`-byte elements in what remains.
fn read_count(
    r: &mut JuteReader<'_>,
    what: &'static str,
    elem_len: usize,
) -> Result<usize, SnapshotError> {
    let count = r.read_int()?;
    let remaining = r.remaining();
    match usize::try_from(count) {
        Ok(n) if n.saturating_mul(elem_len) <= remaining => Ok(n),
        _ => Err(SnapshotError::BadCount {
            what,
            count,
            remaining,
        }),
    }
}

impl DataTree {
    /// The snapshot body of this tree and its sessions (not the watches, not the zxid: the file
    /// name carries that). Same state → same bytes.
    pub fn serialize_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_snapshot(&mut JuteWriter::new(&mut out));
        out
    }

    /// Writes the snapshot body to `w` (module doc for the layout).
    pub fn write_snapshot<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(len_i32(self.sessions.len()));
        for (id, timeout) in &self.sessions {
            w.write_long(*id);
            w.write_int(*timeout);
        }
        // Depth-first from the root, children in name order; number ACL lists on first use.
        let open = Acl::open_unsafe();
        let mut refs: BTreeMap<&[Acl], i64> = BTreeMap::new();
        let mut order: Vec<(&str, &Znode, i64)> = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<String> = vec![path::ROOT.to_string()];
        while let Some(p) = stack.pop() {
            let Some((key, node)) = self.nodes.get_key_value(p.as_str()) else {
                continue;
            };
            let aclref = if *node.acl == *open {
                OPEN_ACL_REF
            } else {
                let next = refs.len() as i64 + 1;
                *refs.entry(&node.acl[..]).or_insert(next)
            };
            order.push((key.as_str(), node.as_ref(), aclref));
            stack.extend(node.children.iter().rev().map(|c| path::join(&p, c)));
        }
        let mut by_ref: Vec<(i64, &[Acl])> = refs.into_iter().map(|(acl, r)| (r, acl)).collect();
        by_ref.sort_unstable_by_key(|(r, _)| *r);
        w.write_int(len_i32(by_ref.len()));
        for (aclref, acl) in by_ref {
            w.write_long(aclref);
            w.write_records(acl);
        }
        for (p, node, aclref) in order {
            w.write_string(if p == path::ROOT { "" } else { p });
            w.write_buffer(node.data.as_deref());
            w.write_long(aclref);
            node.stat.encode(w);
        }
        w.write_string(END_OF_NODES);
    }

    /// Loads a snapshot body that fills `bytes` exactly. Watches start empty and the last
    /// processed zxid is 0: the caller sets it from the file name
    /// ([`DataTree::set_last_processed_zxid`]).
    pub fn deserialize_snapshot(bytes: &[u8]) -> Result<DataTree, SnapshotError> {
        let mut r = JuteReader::new(bytes);
        let tree = DataTree::read_snapshot(&mut r)?;
        match r.remaining() {
            0 => Ok(tree),
            n => Err(SnapshotError::TrailingBytes(n)),
        }
    }

    /// Reads a snapshot body from `r`, leaving whatever follows it (a file's seal and digest).
    /// Rebuilds children, ephemerals, containers, TTL sets, the data size and the quota stats.
    pub fn read_snapshot(r: &mut JuteReader<'_>) -> Result<DataTree, SnapshotError> {
        let acl_limit = r.remaining().saturating_mul(ACL_EXPANSION_MAX);
        let mut acl_bytes = 0usize;
        let mut t = DataTree::new();
        t.nodes.clear();
        t.data_size = 0;
        for _ in 0..read_count(r, "session", SESSION_LEN)? {
            let id = r.read_long()?;
            let timeout = r.read_int()?;
            t.sessions.insert(id, timeout);
        }
        // reference → (list, its encoded length)
        let mut acls: BTreeMap<i64, (Vec<Acl>, usize)> = BTreeMap::new();
        let open = Acl::open_unsafe();
        for _ in 0..read_count(r, "ACL cache", MIN_ACL_ENTRY_LEN)? {
            let aclref = r.read_long()?;
            let start = r.position();
            let list = r
                .read_vector(Acl::MIN_LEN, Acl::decode)?
                .ok_or(SnapshotError::BadAclEntry(aclref))?;
            let encoded = r.position() - start;
            if aclref == OPEN_ACL_REF || acls.insert(aclref, (list, encoded)).is_some() {
                return Err(SnapshotError::BadAclEntry(aclref));
            }
        }
        let mut pending = None;
        loop {
            let p = r.read_string("path")?;
            if p == END_OF_NODES {
                break;
            }
            if r.remaining() < MIN_NODE_LEN - INT_LEN {
                return Err(DecodeError::Truncated {
                    needed: MIN_NODE_LEN - INT_LEN,
                    remaining: r.remaining(),
                }
                .into());
            }
            let data = r.read_buffer()?;
            let aclref = r.read_long()?;
            let stat = StatPersisted::decode(r)?;
            let acl = if aclref == OPEN_ACL_REF {
                t.acls.intern(&open)
            } else {
                match acls.get(&aclref) {
                    Some((list, encoded)) => {
                        acl_bytes = acl_bytes.saturating_add(*encoded);
                        if acl_bytes > acl_limit {
                            return Err(SnapshotError::AclExpansion { limit: acl_limit });
                        }
                        t.acls.intern(list)
                    }
                    None => return Err(SnapshotError::UnknownAcl { path: p, aclref }),
                }
            };
            let p = if p.is_empty() {
                path::ROOT.to_string()
            } else {
                p
            };
            t.insert_loaded(p, Znode::new(stat, data, acl), &mut pending)?;
        }
        t.add_children(pending.take());
        if !t.nodes.contains_key(path::ROOT) {
            return Err(SnapshotError::BadNode(String::new()));
        }
        // Quota roots and stats are derived state: rebuilt from the loaded nodes, as ZooKeeper's
        // `DataTree.setupQuota` does on load (spec/data-tree.md §6).
        t.setup_quota();
        Ok(t)
    }

    /// Inserts one loaded node under its (already loaded) parent. Its name joins `pending`, the
    /// children read in a row for one parent, which are added to that parent when a node of
    /// another parent comes ([`DataTree::add_children`]): a depth-first body lists a node's leaf
    /// children in a row, so a million siblings cost one parent lookup, not a million. The
    /// parent is checked when its first child of a run comes; nodes are never removed while
    /// loading, so it is still there when the run is added.
    fn insert_loaded(
        &mut self,
        p: String,
        node: Znode,
        pending: &mut Option<PendingChildren>,
    ) -> Result<(), SnapshotError> {
        let bad = |p: &str| SnapshotError::BadNode(p.to_string());
        if p != path::ROOT {
            path::validate_path(&p).map_err(|_| bad(&p))?;
            let (parent, child) = path::split_parent(&p).map_err(|_| bad(&p))?;
            let run = match pending.take() {
                Some(run) if run.parent == parent => run,
                other => {
                    self.add_children(other);
                    let parent_node = self.nodes.get(parent).ok_or_else(|| bad(&p))?;
                    if matches!(
                        EphemeralKind::of(parent_node.stat.ephemeral_owner),
                        EphemeralKind::Normal(_)
                    ) {
                        return Err(bad(&p)); // an ephemeral cannot have children
                    }
                    PendingChildren {
                        parent: parent.to_string(),
                        names: Vec::new(),
                    }
                }
            };
            pending.insert(run).names.push(child.into());
        }
        match EphemeralKind::of(node.stat.ephemeral_owner) {
            EphemeralKind::Container => {
                self.containers.insert(p.clone());
            }
            EphemeralKind::Ttl(_) => {
                self.ttls.insert(p.clone());
            }
            EphemeralKind::Normal(s) => {
                self.ephemerals.entry(s).or_default().insert(p.clone());
            }
            EphemeralKind::Void => {}
        }
        self.data_size += node_size(&p, node.data.as_deref());
        let root = p == path::ROOT;
        // A path read twice replaced the first node: the body is bad (and the tree discarded).
        if self.nodes.insert(p.into(), Arc::new(node)).is_some() {
            return Err(
                match pending.as_ref().and_then(|r| Some((r, r.names.last()?))) {
                    Some((run, name)) if !root => bad(&path::join(&run.parent, name)),
                    _ => bad(path::ROOT),
                },
            );
        }
        Ok(())
    }

    /// Adds a run of loaded children to their parent (which was checked to exist).
    fn add_children(&mut self, run: Option<PendingChildren>) {
        let Some(run) = run else { return };
        let parent = self
            .node_mut(&run.parent)
            .expect("a run's parent was loaded before its first child");
        parent.children.extend(run.names);
    }
}

/// Children read in a row for one parent while loading a snapshot body, not yet added to it.
struct PendingChildren {
    parent: String,
    names: Vec<compact_str::CompactString>,
}

/// A collection length as a jute int.
///
/// # Panics
///
/// Beyond `i32::MAX` entries: jute cannot express the count, and no tree that large fits in
/// memory anyway.
fn len_i32(n: usize) -> i32 {
    i32::try_from(n).expect("snapshot list longer than i32::MAX")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::records::Id;

    fn body(sessions: &[(i64, i32)], acls: &[(i64, Vec<Acl>)], nodes: &[(&str, i64)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = JuteWriter::new(&mut out);
        w.write_int(sessions.len() as i32);
        for (id, t) in sessions {
            w.write_long(*id);
            w.write_int(*t);
        }
        w.write_int(acls.len() as i32);
        for (r, list) in acls {
            w.write_long(*r);
            w.write_records(list);
        }
        for (p, aclref) in nodes {
            w.write_string(p);
            w.write_buffer(Some(b"d"));
            w.write_long(*aclref);
            StatPersisted::default().encode(&mut w);
        }
        w.write_string(END_OF_NODES);
        out
    }

    fn digest_acl() -> Vec<Acl> {
        vec![Acl {
            perms: 1,
            id: Id {
                scheme: "digest".into(),
                id: "u:h".into(),
            },
        }]
    }

    #[test]
    fn reads_zookeeper_order_and_acl_references() {
        // Children before siblings' subtrees, in no particular order; ACL 7 shared by two nodes.
        let bytes = body(
            &[(0x100, 30_000)],
            &[(7, digest_acl())],
            &[("", -1), ("/b", 7), ("/a", -1), ("/b/x", 7)],
        );
        let t = DataTree::deserialize_snapshot(&bytes).expect("loads");
        assert_eq!(t.node("/b/x").map(|n| n.acl.to_vec()), Some(digest_acl()));
        assert_eq!(
            t.node("/a").map(|n| n.acl.to_vec()),
            Some(Acl::open_unsafe())
        );
        // One copy of each list: /b and /b/x share reference 7's, / and /a the open one.
        let (b, bx) = (t.node("/b").unwrap(), t.node("/b/x").unwrap());
        assert!(std::ptr::eq(&b.acl[0], &bx.acl[0]), "ACL 7 loaded once");
        let (root, a) = (t.node("/").unwrap(), t.node("/a").unwrap());
        assert!(
            std::ptr::eq(&root.acl[0], &a.acl[0]),
            "the open ACL loaded once"
        );
        assert_eq!(t.sessions().get(&0x100), Some(&30_000));
        // Written back depth-first in name order with ACLs numbered from 1.
        let again = DataTree::deserialize_snapshot(&t.serialize_snapshot()).expect("reloads");
        assert_eq!(again.serialize_snapshot(), t.serialize_snapshot());
        assert_eq!(
            t.serialize_snapshot(),
            body(
                &[(0x100, 30_000)],
                &[(1, digest_acl())],
                &[("", -1), ("/a", -1), ("/b", 1), ("/b/x", 1)],
            )
        );
    }

    #[test]
    fn rejects_inconsistent_bodies() {
        let unknown = body(&[], &[], &[("", -1), ("/a", 3)]);
        assert_eq!(
            DataTree::deserialize_snapshot(&unknown).err(),
            Some(SnapshotError::UnknownAcl {
                path: "/a".into(),
                aclref: 3
            })
        );
        let orphan = body(&[], &[], &[("", -1), ("/a/b", -1)]);
        assert_eq!(
            DataTree::deserialize_snapshot(&orphan).err(),
            Some(SnapshotError::BadNode("/a/b".into()))
        );
        let twice = body(&[], &[], &[("", -1), ("/a", -1), ("/a", -1)]);
        assert_eq!(
            DataTree::deserialize_snapshot(&twice).err(),
            Some(SnapshotError::BadNode("/a".into()))
        );
        let rootless = body(&[], &[], &[]);
        assert_eq!(
            DataTree::deserialize_snapshot(&rootless).err(),
            Some(SnapshotError::BadNode(String::new()))
        );
        let dup_acl = body(&[], &[(1, vec![]), (1, vec![])], &[("", -1)]);
        assert_eq!(
            DataTree::deserialize_snapshot(&dup_acl).err(),
            Some(SnapshotError::BadAclEntry(1))
        );
        let bad_path = body(&[], &[], &[("", -1), ("/a/", -1)]);
        assert!(matches!(
            DataTree::deserialize_snapshot(&bad_path),
            Err(SnapshotError::BadNode(_))
        ));
        // Children are added to their parent a run at a time: the checks hold across runs.
        let late_parent = body(
            &[],
            &[],
            &[("", -1), ("/a", -1), ("/a/x", -1), ("/b/y", -1), ("/b", -1)],
        );
        assert_eq!(
            DataTree::deserialize_snapshot(&late_parent).err(),
            Some(SnapshotError::BadNode("/b/y".into()))
        );
        let twice_across_runs = body(
            &[],
            &[],
            &[("", -1), ("/a", -1), ("/a/x", -1), ("/b", -1), ("/a/x", -1)],
        );
        assert_eq!(
            DataTree::deserialize_snapshot(&twice_across_runs).err(),
            Some(SnapshotError::BadNode("/a/x".into()))
        );
        let root_twice = body(&[], &[], &[("", -1), ("", -1)]);
        assert_eq!(
            DataTree::deserialize_snapshot(&root_twice).err(),
            Some(SnapshotError::BadNode("/".into()))
        );
    }

    #[test]
    fn children_of_interleaved_runs_all_reach_their_parents() {
        let nodes = [
            ("", -1),
            ("/a", -1),
            ("/b", -1),
            ("/a/x", -1),
            ("/b/y", -1),
            ("/a/z", -1),
            ("/a/x/q", -1),
        ];
        let t = DataTree::deserialize_snapshot(&body(&[], &[], &nodes)).expect("loads");
        t.check_invariants().expect("consistent");
        let names = |p: &str| -> Vec<String> {
            t.nodes[p].children.iter().map(|c| c.to_string()).collect()
        };
        assert_eq!(names("/a"), ["x", "z"]);
        assert_eq!(names("/b"), ["y"]);
        assert_eq!(names("/a/x"), ["q"]);
        for (p, _) in &nodes[1..] {
            assert!(t.nodes.contains_key(*p), "{p} loaded");
        }
    }

    #[test]
    fn shared_acls_cannot_expand_without_bound() {
        // One 400-entry ACL list shared by many small nodes: each node costs some 80 input
        // bytes but would copy some 9 KB of ACLs.
        let big: Vec<Acl> = (0..400)
            .map(|i| Acl {
                perms: 1,
                id: Id {
                    scheme: "ip".into(),
                    id: format!("10.0.0.{i}"),
                },
            })
            .collect();
        let names: Vec<String> = (0..1000).map(|i| format!("/n{i}")).collect();
        let mut nodes = vec![("", -1)];
        nodes.extend(names.iter().map(|n| (n.as_str(), 1)));
        let bytes = body(&[], &[(1, big.clone())], &nodes);
        assert!(matches!(
            DataTree::deserialize_snapshot(&bytes),
            Err(SnapshotError::AclExpansion { .. })
        ));
        // A few nodes may share it.
        let bytes = body(&[], &[(1, big)], &nodes[..4]);
        assert!(DataTree::deserialize_snapshot(&bytes).is_ok());
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        for bytes in [
            [0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0].as_slice(),
            [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0].as_slice(),
            [0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF].as_slice(),
        ] {
            assert!(matches!(
                DataTree::deserialize_snapshot(bytes),
                Err(SnapshotError::BadCount { .. })
            ));
        }
        // A node list that stops short of its end marker.
        let mut cut = body(&[], &[], &[("", -1), ("/a", -1)]);
        cut.truncate(cut.len() - 5);
        assert!(matches!(
            DataTree::deserialize_snapshot(&cut),
            Err(SnapshotError::Codec(DecodeError::Truncated { .. }))
        ));
    }
}
