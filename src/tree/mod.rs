//! The replicated state machine: znodes, Stat, ACLs, sessions, ephemerals and watches.
//!
//! Pure and deterministic: no IO, no clocks (time arrives in `TxnHeader::time_ms` and as
//! `now_ms` arguments), ordered containers only. The write path is
//! `prepare::prepare` (leader: request → `Txn`) → log/quorum → [`DataTree::apply`] on every
//! server, which returns the reply material and the watch events in the order ZooKeeper's
//! `DataTree.processTxn` produces them. Reads (`get_data`, `exists`, …) check ACLs as
//! `FinalRequestProcessor` does and optionally register watches. Spec: `spec/data-tree.md`;
//! facts: ../shared/reference/zookeeper-formats.md A.7–A.16, C.3.
//!
//! ```
//! use zabkeeper::tree::{
//!     prepare_logged, txn, CreateKind, DataTree, EventType, PendingChanges, PrepareContext,
//!     TxnResult, WatcherId, WriteRequest,
//! };
//! use zabkeeper::wire::records::Acl;
//!
//! let mut tree = DataTree::new();
//! // A reader on connection 7 waits for /app to appear.
//! assert!(tree.exists("/app", Some(WatcherId(7))).is_err());
//!
//! // Leader: validate and stamp the write (zxid and clock come from the caller).
//! let ctx = PrepareContext {
//!     session_id: 0x100,
//!     cxid: 1,
//!     auth_ids: &[],
//!     now_ms: 1_700_000_000_000,
//!     zxid: 0x1_0000_0001,
//!     extended_types_enabled: false,
//!     enforce_quota: false,
//! };
//! let create = WriteRequest::Create {
//!     kind: CreateKind::Create2,
//!     path: "/app".into(),
//!     data: Some(b"v1".to_vec()),
//!     acl: Acl::open_unsafe(),
//!     flags: 0,
//!     ttl_ms: -1,
//! };
//! let (hdr, txn) = prepare_logged(&tree, &mut PendingChanges::new(), &create, &ctx);
//! let logged = txn::encode(&hdr, &txn); // what the PROPOSAL carries and the log stores
//!
//! // Every server: apply the committed txn, queue the events, then reply.
//! let (hdr, txn) = txn::decode(&logged).unwrap();
//! let out = tree.apply(&hdr, &txn);
//! assert!(matches!(out.result, TxnResult::Create { ref path, .. } if path == "/app"));
//! assert_eq!(out.events[0].0, WatcherId(7));
//! assert_eq!(out.events[0].1.event_type, EventType::NodeCreated);
//! assert_eq!(tree.get_data("/app", &[], None).unwrap().0, Some(b"v1".to_vec()));
//! ```

pub mod acl;
mod apply;
pub mod error;
pub mod path;
pub mod prepare;
pub mod quota;
mod read;
pub mod snapshot;
pub mod txn;
pub mod watches;
pub mod znode;

use std::collections::BTreeMap;
use std::sync::Arc;

use compact_str::CompactString;
use imbl::{OrdMap, OrdSet};

pub use error::ZkError;
pub use prepare::{prepare, prepare_logged, PendingChanges, PrepareContext, WriteRequest};
pub use snapshot::SnapshotError;
pub use txn::{CreateTxn, Txn, TxnDecodeError, TxnHeader};
pub use watches::{
    EventType, KeeperState, WatchTable, WatchedEvent, WatcherId, WatcherMode, WatcherType,
};
pub use znode::{EphemeralKind, StatPersisted, Znode};

use crate::tree::znode::CONTAINER_EPHEMERAL_OWNER;
use crate::wire::records::{perms, Acl, Id, Stat};

/// `/zookeeper`.
pub const PROC_ZOOKEEPER: &str = "/zookeeper";
/// `/zookeeper/quota`.
pub const QUOTA_ZOOKEEPER: &str = "/zookeeper/quota";
/// `/zookeeper/config`.
pub const CONFIG_ZOOKEEPER: &str = "/zookeeper/config";

/// Which create opcode produced a node; decides the reply record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreateKind {
    /// Opcode 1: CreateResponse (path only).
    Create,
    /// Opcode 15: Create2Response (path, Stat).
    Create2,
    /// Opcode 19: Create2Response.
    Container,
    /// Opcode 21: Create2Response.
    Ttl,
}

/// What applying one txn produced (ZooKeeper's `ProcessTxnResult`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnResult {
    /// A node was created.
    Create {
        /// Which opcode (reply shape).
        kind: CreateKind,
        /// The final path.
        path: String,
        /// The new node's Stat.
        stat: Stat,
    },
    /// A node was deleted (delete or deleteContainer).
    Delete {
        /// The node.
        path: String,
    },
    /// Data was set.
    SetData {
        /// The node.
        path: String,
        /// Stat after the change.
        stat: Stat,
    },
    /// The ACL was set.
    SetAcl {
        /// The node.
        path: String,
        /// Stat after the change.
        stat: Stat,
    },
    /// A version check passed.
    Check {
        /// The node.
        path: String,
    },
    /// Per-op results of a multi; on failure every entry is `Error` (0 = rolled back).
    Multi(Vec<TxnResult>),
    /// A session was created.
    CreateSession {
        /// Its id.
        session_id: i64,
        /// Its timeout.
        timeout_ms: i32,
    },
    /// A session was closed and its ephemerals deleted.
    CloseSession {
        /// Its id.
        session_id: i64,
    },
    /// The write failed with this code (the reply's `err`).
    Error {
        /// `KeeperException.Code` value.
        err: i32,
    },
}

impl TxnResult {
    /// `ProcessTxnResult.err`: the error code, for a multi the first non-zero sub-result code.
    /// Note the reply header of a multi carries 0 regardless (A.11).
    pub fn err(&self) -> i32 {
        match self {
            TxnResult::Error { err } => *err,
            TxnResult::Multi(rs) => rs.iter().map(TxnResult::err).find(|e| *e != 0).unwrap_or(0),
            _ => 0,
        }
    }
}

impl TxnResult {
    /// The result type a multi response carries for this sub-result (FinalRequestProcessor):
    /// create → 1, create2/createTTL/createContainer → 15, delete → 2, setData → 5,
    /// check → 13, error → -1; other results never appear inside a multi (returns 0).
    pub fn multi_op_code(&self) -> i32 {
        match self {
            TxnResult::Create {
                kind: CreateKind::Create,
                ..
            } => txn::op::CREATE,
            TxnResult::Create { .. } => txn::op::CREATE2,
            TxnResult::Delete { .. } => txn::op::DELETE,
            TxnResult::SetData { .. } => txn::op::SET_DATA,
            TxnResult::Check { .. } => txn::op::CHECK,
            TxnResult::Error { .. } => txn::op::ERROR,
            _ => 0,
        }
    }
}

/// A broken internal invariant of the tree (a bug, never bad input).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("data tree invariant violated: {0}")]
pub struct TreeViolation(pub String);

/// Result and watch events of one apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The reply material.
    pub result: TxnResult,
    /// Notifications to queue, in order, before the reply is sent.
    pub events: Vec<(WatcherId, WatchedEvent)>,
}

/// The znodes by path, in path order: a persistent B-tree (`imbl::OrdMap`) of shared nodes, so
/// [`DataTree::snapshot_copy`] is O(1) and a write after it copies only the B-tree chunks on its
/// path and the one `Znode` it changes (`Arc::make_mut`), never the whole map. Values are
/// `Arc<Znode>` so a copied chunk clones 64 pointers, not 64 nodes with their data and ACLs.
/// Keys (and child names, `Znode::children`) are `CompactString`s: a path of up to 24 bytes
/// is stored inline, without an allocation of its own.
type NodeMap = OrdMap<CompactString, Arc<Znode>>;

/// Ephemeral paths per owning session (persistent, shared with snapshot copies like [`NodeMap`]).
type EphemeralIndex = OrdMap<i64, OrdSet<String>>;

/// The data tree plus the session table the snapshot carries, and this server's watches.
#[derive(Clone, Debug)]
pub struct DataTree {
    nodes: NodeMap,
    sessions: BTreeMap<i64, i32>,
    ephemerals: EphemeralIndex,
    containers: OrdSet<String>,
    ttls: OrdSet<String>,
    last_processed_zxid: i64,
    data_size: i64,
    /// Quota roots, derived from the `/zookeeper/quota` nodes (`quota.rs`).
    quota_roots: quota::QuotaRoots,
    watches: WatchTable,
    /// Every distinct ACL list of the nodes, held once (`acl::AclCache`).
    acls: acl::AclCache,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

/// `DataTree.getNodeSize`: path length (UTF-16 units, as Java) + data length.
fn node_size(path: &str, data: Option<&[u8]>) -> i64 {
    (path.encode_utf16().count() + data.map_or(0, <[u8]>::len)) as i64
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` with `[ALL, world:anyone]` and
    /// `/zookeeper/config` with `[READ, world:anyone]` and aversion -1, all with zero stats and
    /// empty data.
    pub fn new() -> DataTree {
        let mut t = DataTree {
            nodes: NodeMap::new(),
            sessions: BTreeMap::new(),
            ephemerals: EphemeralIndex::new(),
            containers: OrdSet::new(),
            ttls: OrdSet::new(),
            last_processed_zxid: 0,
            data_size: 0,
            quota_roots: quota::QuotaRoots::default(),
            watches: WatchTable::default(),
            acls: acl::AclCache::default(),
        };
        // ZooKeeper's initial nodes carry ACL reference -1, which reads as OPEN_ACL_UNSAFE.
        let open = t.acls.intern(&Acl::open_unsafe());
        let empty = || Znode::new(StatPersisted::default(), Some(Vec::new()), open.clone());
        let mut root = empty();
        root.children.insert("zookeeper".into());
        let mut proc_node = empty();
        proc_node.children.insert("quota".into());
        proc_node.children.insert("config".into());
        let mut config = empty();
        config.acl = t.acls.intern(&Acl::read_unsafe());
        config.stat.aversion = -1;
        for (p, n) in [
            (path::ROOT, root),
            (PROC_ZOOKEEPER, proc_node),
            (QUOTA_ZOOKEEPER, empty()),
            (CONFIG_ZOOKEEPER, config),
        ] {
            t.data_size += node_size(p, n.data.as_deref());
            t.nodes.insert(p.into(), Arc::new(n));
        }
        t
    }

    // ---------------------------------------------------------------- sessions, reaper, stats

    /// Live sessions and their timeouts, as the snapshot stores them.
    pub fn sessions(&self) -> &BTreeMap<i64, i32> {
        &self.sessions
    }

    /// Ephemeral paths of every session that owns one.
    pub fn ephemerals(&self) -> &OrdMap<i64, OrdSet<String>> {
        &self.ephemerals
    }

    /// Total ephemeral nodes (mntr `zk_ephemerals_count`).
    pub fn ephemerals_count(&self) -> usize {
        self.ephemerals.values().map(OrdSet::len).sum()
    }

    /// Candidates for the container/TTL reaper (`ContainerManager.getCandidates` with
    /// `maxNeverUsedIntervalMs` = 0): empty containers that ever had a child, and childless TTL
    /// nodes whose mtime is more than their TTL before `now_ms`. Path order. Each is deleted
    /// through a `WriteRequest::DeleteContainer` (opcode 20) from session 0.
    pub fn expired_containers_and_ttls(&self, now_ms: i64) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        for p in &self.containers {
            if let Some(n) = self.nodes.get(p.as_str()) {
                if n.children.is_empty() && n.stat.cversion > 0 {
                    out.insert(p.clone());
                }
            }
        }
        for p in &self.ttls {
            if let Some(n) = self.nodes.get(p.as_str()) {
                if let EphemeralKind::Ttl(ttl) = EphemeralKind::of(n.stat.ephemeral_owner) {
                    if n.children.is_empty() && ttl != 0 && now_ms.wrapping_sub(n.stat.mtime) > ttl
                    {
                        out.insert(p.clone());
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// The zxid of the last applied txn.
    pub fn last_processed_zxid(&self) -> i64 {
        self.last_processed_zxid
    }

    /// Sets the last processed zxid (recovery from a snapshot taken by other means).
    pub fn set_last_processed_zxid(&mut self, zxid: i64) {
        self.last_processed_zxid = zxid;
    }

    /// Node count as ZooKeeper reports it (mntr `zk_znode_count`): it counts the root twice
    /// (`""` and `"/"` alias), so a fresh tree reports 5.
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// mntr `zk_approximate_data_size`: Σ path length (UTF-16 units) + data length.
    pub fn approximate_data_size(&self) -> i64 {
        self.data_size
    }

    /// A frozen copy of the tree for a snapshot: everything a snapshot and recovery carry, without
    /// this server's watches (which no snapshot holds). O(1) for the znodes and the ephemeral,
    /// container and TTL indexes and the ACL cache (persistent maps sharing their chunks:
    /// [`NodeMap`]); the session
    /// table (a `BTreeMap`, one entry per live session) and the quota roots are copied. Later
    /// applies to `self` copy on write and never change the copy.
    pub fn snapshot_copy(&self) -> DataTree {
        DataTree {
            nodes: self.nodes.clone(),
            sessions: self.sessions.clone(),
            ephemerals: self.ephemerals.clone(),
            containers: self.containers.clone(),
            ttls: self.ttls.clone(),
            last_processed_zxid: self.last_processed_zxid,
            data_size: self.data_size,
            quota_roots: self.quota_roots.clone(),
            watches: WatchTable::default(),
            acls: self.acls.clone(),
        }
    }

    /// ZooKeeper's tree digest (formats sheet C.3, `DigestCalculator` version 2): wrapping sum
    /// over all nodes not under `/zookeeper/` of CRC32(path ‖ data ‖ 60-byte stat), root as "".
    pub fn digest(&self) -> i64 {
        self.nodes
            .iter()
            .fold(0i64, |acc, (p, n)| acc.wrapping_add(node_digest(p, n)))
    }

    /// The node at `path` for a change: copied first when a snapshot copy still shares it.
    fn node_mut(&mut self, path: &str) -> Option<&mut Znode> {
        self.nodes.get_mut(path).map(Arc::make_mut)
    }

    /// O(n) consistency check for tests and debug builds: every node but the root is listed
    /// by its parent and vice versa; the ephemeral/container/TTL indexes match the owners;
    /// the cached data size matches a recount; no ephemeral has children.
    pub fn check_invariants(&self) -> Result<(), TreeViolation> {
        let fail = |m: String| Err(TreeViolation(m));
        let mut ephemerals = EphemeralIndex::new();
        let (mut containers, mut ttls) = (OrdSet::new(), OrdSet::new());
        let mut size = 0i64;
        for (p, n) in &self.nodes {
            size += node_size(p, n.data.as_deref());
            for c in &n.children {
                if !self.nodes.contains_key(path::join(p, c).as_str()) {
                    return fail(format!("{p} lists missing child {c}"));
                }
            }
            if let Some(parent) = path::parent_of(p) {
                let listed = self.nodes.get(parent).is_some_and(|pn| {
                    path::split_parent(p).is_ok_and(|(_, c)| pn.children.contains(c))
                });
                if !listed {
                    return fail(format!("{p} is not listed by its parent"));
                }
            } else if p != path::ROOT {
                return fail(format!("{p} has no parent"));
            }
            match EphemeralKind::of(n.stat.ephemeral_owner) {
                EphemeralKind::Normal(s) => {
                    if !n.children.is_empty() {
                        return fail(format!("ephemeral {p} has children"));
                    }
                    ephemerals.entry(s).or_default().insert(p.to_string());
                }
                EphemeralKind::Container => {
                    containers.insert(p.to_string());
                }
                EphemeralKind::Ttl(_) => {
                    ttls.insert(p.to_string());
                }
                EphemeralKind::Void => {}
            }
        }
        if ephemerals != self.ephemerals {
            return fail("ephemeral index differs from node owners".into());
        }
        if containers != self.containers || ttls != self.ttls {
            return fail("container/TTL index differs from node owners".into());
        }
        if size != self.data_size {
            return fail(format!("data size {} != recount {size}", self.data_size));
        }
        Ok(())
    }
}

/// One node's digest term (`DigestCalculator.calculateDigest`).
fn node_digest(p: &str, n: &Znode) -> i64 {
    if p.starts_with("/zookeeper/") {
        return 0;
    }
    let p = if p == path::ROOT { "" } else { p };
    let s = &n.stat;
    let mut block = Vec::with_capacity(60);
    for v in [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime] {
        block.extend_from_slice(&v.to_be_bytes());
    }
    for v in [s.version, s.cversion, s.aversion] {
        block.extend_from_slice(&v.to_be_bytes());
    }
    block.extend_from_slice(&s.ephemeral_owner.to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(p.as_bytes());
    if let Some(d) = &n.data {
        crc.update(d);
    }
    crc.update(&block);
    i64::from(crc.finalize())
}

#[cfg(test)]
mod tests;
