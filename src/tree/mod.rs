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
pub mod error;
pub mod path;
pub mod prepare;
pub mod quota;
pub mod snapshot;
pub mod txn;
pub mod watches;
pub mod znode;

use std::collections::{BTreeMap, BTreeSet};

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

/// The znodes by path, in path order. A persistent map (`imbl::OrdMap`, O(1) clones for the
/// snapshot) was tried and measured 4–16× slower per create / setData / getData at 1e5 znodes
/// (`benches/README.md`), so the snapshot still copies this map.
type NodeMap = BTreeMap<String, Znode>;

/// The data tree plus the session table the snapshot carries, and this server's watches.
#[derive(Clone, Debug)]
pub struct DataTree {
    nodes: NodeMap,
    sessions: BTreeMap<i64, i32>,
    ephemerals: BTreeMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    last_processed_zxid: i64,
    data_size: i64,
    /// Quota roots, derived from the `/zookeeper/quota` nodes (`quota.rs`).
    quota_roots: quota::QuotaRoots,
    watches: WatchTable,
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
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            last_processed_zxid: 0,
            data_size: 0,
            quota_roots: quota::QuotaRoots::default(),
            watches: WatchTable::default(),
        };
        // ZooKeeper's initial nodes carry ACL reference -1, which reads as OPEN_ACL_UNSAFE.
        let empty = || {
            Znode::new(
                StatPersisted::default(),
                Some(Vec::new()),
                Acl::open_unsafe(),
            )
        };
        let mut root = empty();
        root.children.insert("zookeeper".into());
        let mut proc_node = empty();
        proc_node.children.insert("quota".into());
        proc_node.children.insert("config".into());
        let mut config = empty();
        config.acl = Acl::read_unsafe();
        config.stat.aversion = -1;
        for (p, n) in [
            (path::ROOT, root),
            (PROC_ZOOKEEPER, proc_node),
            (QUOTA_ZOOKEEPER, empty()),
            (CONFIG_ZOOKEEPER, config),
        ] {
            t.data_size += node_size(p, n.data.as_deref());
            t.nodes.insert(p.to_string(), n);
        }
        t
    }

    // ---------------------------------------------------------------- apply

    /// Applies one committed txn (`DataTree.processTxn`): the same txns in the same order give
    /// the same tree, results and events on every server.
    pub fn apply(&mut self, hdr: &TxnHeader, txn: &Txn) -> ApplyOutcome {
        let mut events = Vec::new();
        let result = self.apply_one(hdr, txn, &mut events);
        if hdr.zxid > self.last_processed_zxid {
            self.last_processed_zxid = hdr.zxid;
        }
        ApplyOutcome { result, events }
    }

    fn apply_one(
        &mut self,
        hdr: &TxnHeader,
        txn: &Txn,
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> TxnResult {
        let (zxid, time) = (hdr.zxid, hdr.time_ms);
        let res = match txn {
            Txn::Create(c) | Txn::Create2(c) => {
                let kind = if matches!(txn, Txn::Create(_)) {
                    CreateKind::Create
                } else {
                    CreateKind::Create2
                };
                let owner = if c.ephemeral { hdr.client_id } else { 0 };
                let r = self.create_node(c, owner, zxid, time, ev);
                if r == Err(ZkError::NodeExists) && kind == CreateKind::Create {
                    // Fuzzy-snapshot replay fix-up (DataTree.processTxn): bring the parent's
                    // cversion/pzxid forward even though the node already exists.
                    self.set_cversion_pzxid(&c.path, c.parent_cversion, zxid);
                }
                r.map(|stat| TxnResult::Create {
                    kind,
                    path: c.path.clone(),
                    stat,
                })
            }
            Txn::CreateContainer(c) => self
                .create_node(c, CONTAINER_EPHEMERAL_OWNER, zxid, time, ev)
                .map(|stat| TxnResult::Create {
                    kind: CreateKind::Container,
                    path: c.path.clone(),
                    stat,
                }),
            Txn::CreateTtl { create: c, ttl_ms } => match EphemeralKind::ttl_owner(*ttl_ms) {
                None => Err(ZkError::BadArguments),
                Some(owner) => {
                    self.create_node(c, owner, zxid, time, ev)
                        .map(|stat| TxnResult::Create {
                            kind: CreateKind::Ttl,
                            path: c.path.clone(),
                            stat,
                        })
                }
            },
            Txn::Delete { path } | Txn::DeleteContainer { path } => self
                .delete_node(path, zxid, ev)
                .map(|()| TxnResult::Delete { path: path.clone() }),
            Txn::SetData {
                path,
                data,
                version,
            } => self
                .set_data(path, data.clone(), *version, zxid, time, ev)
                .map(|stat| TxnResult::SetData {
                    path: path.clone(),
                    stat,
                }),
            Txn::SetAcl { path, acl, version } => {
                self.set_acl(path, acl.clone(), *version)
                    .map(|stat| TxnResult::SetAcl {
                        path: path.clone(),
                        stat,
                    })
            }
            Txn::Check { path, .. } => Ok(TxnResult::Check { path: path.clone() }),
            Txn::Multi(txns) => Ok(self.apply_multi(hdr, txns, ev)),
            Txn::CreateSession { timeout_ms } => {
                self.sessions.insert(hdr.client_id, *timeout_ms);
                Ok(TxnResult::CreateSession {
                    session_id: hdr.client_id,
                    timeout_ms: *timeout_ms,
                })
            }
            Txn::CloseSession { paths_to_delete } => {
                self.kill_session(hdr.client_id, zxid, paths_to_delete, ev);
                Ok(TxnResult::CloseSession {
                    session_id: hdr.client_id,
                })
            }
            Txn::Error { err } => Ok(TxnResult::Error { err: *err }),
        };
        res.unwrap_or_else(|e| TxnResult::Error { err: e.code() })
    }

    /// Multi: if any sub-txn is an error the whole multi applies nothing; ops before the first
    /// error report 0, later ones -2, error ops their own code (DataTree.processTxn).
    fn apply_multi(
        &mut self,
        hdr: &TxnHeader,
        txns: &[Txn],
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> TxnResult {
        let failed = txns.iter().any(|t| matches!(t, Txn::Error { .. }));
        let mut post_failed = false;
        let mut results = Vec::with_capacity(txns.len());
        for t in txns {
            let r = match t {
                Txn::Error { err } => {
                    post_failed = true;
                    TxnResult::Error { err: *err }
                }
                _ if failed => {
                    let err = if post_failed {
                        ZkError::RuntimeInconsistency.code()
                    } else {
                        0
                    };
                    TxnResult::Error { err }
                }
                // Nested multis and session txns cannot be decoded inside a multi; a typed
                // caller that builds one gets an error result instead of a state change.
                Txn::Multi(_) | Txn::CreateSession { .. } | Txn::CloseSession { .. } => {
                    TxnResult::Error {
                        err: ZkError::MarshallingError.code(),
                    }
                }
                _ => self.apply_one(hdr, t, ev),
            };
            results.push(r);
        }
        TxnResult::Multi(results)
    }

    fn create_node(
        &mut self,
        c: &CreateTxn,
        owner: i64,
        zxid: i64,
        time: i64,
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> Result<Stat, ZkError> {
        let (parent_path, child) = path::split_parent(&c.path)?;
        if c.path == path::ROOT {
            return Err(ZkError::NodeExists);
        }
        let parent = self.nodes.get_mut(parent_path).ok_or(ZkError::NoNode)?;
        if parent.children.contains(child) {
            return Err(ZkError::NodeExists);
        }
        let mut parent_cversion = c.parent_cversion;
        if parent_cversion == -1 {
            parent_cversion = parent.stat.cversion.wrapping_add(1);
        }
        // Only move forward: replaying a create over a fuzzy snapshot must not regress them.
        if parent_cversion > parent.stat.cversion {
            parent.stat.cversion = parent_cversion;
            parent.stat.pzxid = zxid;
        }
        parent.children.insert(child.to_string());
        let parent_path = parent_path.to_string();
        let node = Znode::new(
            StatPersisted::new_node(zxid, time, owner),
            c.data.clone(),
            c.acl.clone(),
        );
        let stat = node.stat();
        self.data_size += node_size(&c.path, c.data.as_deref());
        self.nodes.insert(c.path.clone(), node);
        let data_len = c.data.as_ref().map_or(0, Vec::len) as i64;
        self.quota_on_create(&c.path, &parent_path, child, data_len);
        match EphemeralKind::of(owner) {
            EphemeralKind::Container => {
                self.containers.insert(c.path.clone());
            }
            EphemeralKind::Ttl(_) => {
                self.ttls.insert(c.path.clone());
            }
            EphemeralKind::Normal(session) => {
                self.ephemerals
                    .entry(session)
                    .or_default()
                    .insert(c.path.clone());
            }
            EphemeralKind::Void => {}
        }
        self.watches
            .trigger_data(&c.path, EventType::NodeCreated, ev);
        self.watches.trigger_child(
            &parent_path,
            EventType::NodeChildrenChanged,
            &BTreeSet::new(),
            ev,
        );
        Ok(stat)
    }

    fn delete_node(
        &mut self,
        node_path: &str,
        zxid: i64,
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> Result<(), ZkError> {
        let (parent_path, child) = path::split_parent(node_path)?;
        if node_path == path::ROOT {
            return Err(ZkError::BadArguments);
        }
        let parent = self.nodes.get_mut(parent_path).ok_or(ZkError::NoNode)?;
        parent.children.remove(child);
        // Only move forward (a later create may already have set a higher pzxid on replay).
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        let parent_path = parent_path.to_string();
        let node = self.nodes.remove(node_path).ok_or(ZkError::NoNode)?;
        self.data_size -= node_size(node_path, node.data.as_deref());
        match EphemeralKind::of(node.stat.ephemeral_owner) {
            EphemeralKind::Container => {
                self.containers.remove(node_path);
            }
            EphemeralKind::Ttl(_) => {
                self.ttls.remove(node_path);
            }
            EphemeralKind::Normal(session) => {
                if let Some(set) = self.ephemerals.get_mut(&session) {
                    set.remove(node_path);
                    if set.is_empty() {
                        self.ephemerals.remove(&session);
                    }
                }
            }
            EphemeralKind::Void => {}
        }
        self.quota_on_delete(node_path, &parent_path, child, node.data_length() as i64);
        let notified = self
            .watches
            .trigger_data(node_path, EventType::NodeDeleted, ev);
        self.watches
            .trigger_child(node_path, EventType::NodeDeleted, &notified, ev);
        self.watches.trigger_child(
            &parent_path,
            EventType::NodeChildrenChanged,
            &BTreeSet::new(),
            ev,
        );
        Ok(())
    }

    fn set_data(
        &mut self,
        node_path: &str,
        data: Option<Vec<u8>>,
        version: i32,
        zxid: i64,
        time: i64,
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> Result<Stat, ZkError> {
        let n = self.nodes.get_mut(node_path).ok_or(ZkError::NoNode)?;
        let old = n.data_length() as i64;
        n.data = data;
        n.stat.mtime = time;
        n.stat.mzxid = zxid;
        n.stat.version = version;
        let stat = n.stat();
        let bytes_diff = n.data_length() as i64 - old;
        self.data_size += bytes_diff;
        self.quota_on_set_data(node_path, bytes_diff);
        self.watches
            .trigger_data(node_path, EventType::NodeDataChanged, ev);
        Ok(stat)
    }

    fn set_acl(&mut self, node_path: &str, acl: Vec<Acl>, version: i32) -> Result<Stat, ZkError> {
        let n = self.nodes.get_mut(node_path).ok_or(ZkError::NoNode)?;
        n.stat.aversion = version;
        n.acl = acl;
        Ok(n.stat())
    }

    /// `DataTree.setCversionPzxid` on the parent of `child_path`.
    fn set_cversion_pzxid(&mut self, child_path: &str, new_cversion: i32, zxid: i64) {
        let Ok((parent_path, _)) = path::split_parent(child_path) else {
            return;
        };
        if let Some(n) = self.nodes.get_mut(parent_path) {
            let v = if new_cversion == -1 {
                n.stat.cversion.wrapping_add(1)
            } else {
                new_cversion
            };
            if v > n.stat.cversion {
                n.stat.cversion = v;
                n.stat.pzxid = zxid;
            }
        }
    }

    /// `DataTree.killSession`: deletes the txn's paths, then any other ephemeral of the session
    /// (sorted), ignoring ones already gone; drops the session.
    fn kill_session(
        &mut self,
        session: i64,
        zxid: i64,
        paths: &[String],
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) {
        let mut local = self.ephemerals.remove(&session).unwrap_or_default();
        for p in paths {
            // NoNode is expected on replay; ZooKeeper logs and continues.
            let _ = self.delete_node(p, zxid, ev);
            local.remove(p);
        }
        for p in local {
            let _ = self.delete_node(&p, zxid, ev);
        }
        self.ephemerals.remove(&session);
        self.sessions.remove(&session);
    }

    /// `ZKDatabase.initConfigInZKDatabase`: a server-local (not replicated) setData of
    /// `/zookeeper/config` with the quorum config text, version -1 and mzxid = the config
    /// version, done at start-up and after a reconfig. Recreates the node if a loaded
    /// snapshot lacked it. Returns the NodeDataChanged events it fires.
    pub fn init_config_node(
        &mut self,
        data: Vec<u8>,
        config_version: i64,
        time_ms: i64,
    ) -> Vec<(WatcherId, WatchedEvent)> {
        if !self.nodes.contains_key(CONFIG_ZOOKEEPER) {
            if let Some(proc_node) = self.nodes.get_mut(PROC_ZOOKEEPER) {
                proc_node.children.insert("config".into());
                let mut n = Znode::new(
                    StatPersisted::default(),
                    Some(Vec::new()),
                    Acl::read_unsafe(),
                );
                n.stat.aversion = -1;
                self.data_size += node_size(CONFIG_ZOOKEEPER, Some(&[]));
                self.nodes.insert(CONFIG_ZOOKEEPER.into(), n);
            }
        }
        let mut ev = Vec::new();
        // The node exists unless /zookeeper itself is missing; then there is nothing to set.
        let _ = self.set_data(
            CONFIG_ZOOKEEPER,
            Some(data),
            -1,
            config_version,
            time_ms,
            &mut ev,
        );
        ev
    }

    // ---------------------------------------------------------------- reads

    /// The node at `path`, if any.
    pub fn node(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(path)
    }

    /// The client Stat of `path`, if it exists (no ACL check, no watch).
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path).map(Znode::stat)
    }

    /// getData: NoNode (no watch set), then READ, then the watch.
    pub fn get_data(
        &mut self,
        path: &str,
        auth_ids: &[Id],
        watch: Option<WatcherId>,
    ) -> Result<(Option<Vec<u8>>, Stat), ZkError> {
        let out = self.read_data(path, auth_ids)?;
        if let Some(w) = watch {
            self.watches.add_data_watch(path, w);
        }
        Ok(out)
    }

    /// getData without a watch: NoNode, then READ. Takes `&self`, so readers can share the tree.
    pub fn read_data(
        &self,
        path: &str,
        auth_ids: &[Id],
    ) -> Result<(Option<Vec<u8>>, Stat), ZkError> {
        let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        acl::check_acl(&n.acl, perms::READ, auth_ids)?;
        Ok((n.data.clone(), n.stat()))
    }

    /// exists without a watch (a path containing NUL is BadArguments), through `&self`.
    pub fn read_exists(&self, path: &str) -> Result<Stat, ZkError> {
        if path.contains('\0') {
            return Err(ZkError::BadArguments);
        }
        self.stat(path).ok_or(ZkError::NoNode)
    }

    /// exists: no ACL check (3.8.0); the watch is set even when the node is missing, so it
    /// fires on create. A path containing NUL is BadArguments.
    pub fn exists(&mut self, path: &str, watch: Option<WatcherId>) -> Result<Stat, ZkError> {
        if path.contains('\0') {
            return Err(ZkError::BadArguments);
        }
        if let Some(w) = watch {
            self.watches.add_data_watch(path, w);
        }
        self.read_exists(path)
    }

    /// getChildren / getChildren2: NoNode (no watch), READ, then the child watch. Children in
    /// name order.
    pub fn get_children(
        &mut self,
        path: &str,
        auth_ids: &[Id],
        watch: Option<WatcherId>,
    ) -> Result<(Vec<String>, Stat), ZkError> {
        let out = self.read_children(path, auth_ids)?;
        if let Some(w) = watch {
            self.watches.add_child_watch(path, w);
        }
        Ok(out)
    }

    /// getChildren without a watch: NoNode, then READ; children in name order. `&self`.
    pub fn read_children(
        &self,
        path: &str,
        auth_ids: &[Id],
    ) -> Result<(Vec<String>, Stat), ZkError> {
        let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        acl::check_acl(&n.acl, perms::READ, auth_ids)?;
        Ok((n.children.iter().cloned().collect(), n.stat()))
    }

    /// getAllChildrenNumber: every descendant (not the node itself); READ on the node.
    pub fn get_all_children_number(&self, path: &str, auth_ids: &[Id]) -> Result<i32, ZkError> {
        let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        acl::check_acl(&n.acl, perms::READ, auth_ids)?;
        if path == path::ROOT {
            return Ok(self.nodes.len() as i32 - 1);
        }
        let lo = format!("{path}/");
        let hi = format!("{path}0"); // '0' is the character after '/'
        Ok(self.nodes.range(lo..hi).count() as i32)
    }

    /// getEphemerals: the session's ephemerals whose path starts with `prefix` ("" or "/",
    /// after trimming, means all), in path order.
    pub fn get_ephemerals(&self, session_id: i64, prefix: &str) -> Vec<String> {
        let all = prefix.trim().is_empty() || prefix.trim() == "/";
        self.ephemerals
            .get(&session_id)
            .map(|set| {
                set.iter()
                    .filter(|p| all || p.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// getACL: NoNode, then READ or ADMIN; without ADMIN digest ids are masked as `user:x`.
    pub fn get_acl(&self, path: &str, auth_ids: &[Id]) -> Result<(Vec<Acl>, Stat), ZkError> {
        let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        acl::check_acl(&n.acl, perms::READ | perms::ADMIN, auth_ids)?;
        let acl = match acl::check_acl(&n.acl, perms::ADMIN, auth_ids) {
            Ok(()) => n.acl.clone(),
            Err(_) => acl::mask_digests(&n.acl),
        };
        Ok((acl, n.stat()))
    }

    // ---------------------------------------------------------------- watches

    /// addWatch (opcode 106): persistent or persistent-recursive; the node need not exist.
    pub fn add_watch(&mut self, path: &str, w: WatcherId, mode: WatcherMode) {
        self.watches.add_persistent_watch(path, w, mode);
    }

    /// setWatches / setWatches2 after a reconnect (`DataTree.setWatches`): returns the events
    /// due immediately (sent before the reply) and re-registers the rest.
    #[allow(clippy::too_many_arguments)]
    pub fn set_watches(
        &mut self,
        relative_zxid: i64,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        persistent_recursive: &[String],
        w: WatcherId,
    ) -> Vec<WatchedEvent> {
        let mut out = Vec::new();
        let ev = |t, p: &str| WatchedEvent {
            event_type: t,
            keeper_state: KeeperState::SyncConnected,
            path: p.to_string(),
        };
        for p in data {
            match self.nodes.get(p) {
                None => out.push(ev(EventType::NodeDeleted, p)),
                Some(n) if n.stat.mzxid > relative_zxid => {
                    out.push(ev(EventType::NodeDataChanged, p))
                }
                Some(_) => self.watches.add_data_watch(p, w),
            }
        }
        for p in exist {
            if self.nodes.contains_key(p) {
                out.push(ev(EventType::NodeCreated, p));
            } else {
                self.watches.add_data_watch(p, w);
            }
        }
        for p in child {
            match self.nodes.get(p) {
                None => out.push(ev(EventType::NodeDeleted, p)),
                Some(n) if n.stat.pzxid > relative_zxid => {
                    out.push(ev(EventType::NodeChildrenChanged, p))
                }
                Some(_) => self.watches.add_child_watch(p, w),
            }
        }
        for p in persistent {
            self.watches
                .add_persistent_watch(p, w, WatcherMode::Persistent);
        }
        for p in persistent_recursive {
            self.watches
                .add_persistent_watch(p, w, WatcherMode::PersistentRecursive);
        }
        out
    }

    /// checkWatches (opcode 17).
    pub fn check_watches(&self, path: &str, t: WatcherType, w: WatcherId) -> Result<(), ZkError> {
        self.watches.check_watches(path, t, w)
    }

    /// removeWatches (opcode 18).
    pub fn remove_watches(
        &mut self,
        path: &str,
        t: WatcherType,
        w: WatcherId,
    ) -> Result<(), ZkError> {
        self.watches.remove_watches(path, t, w)
    }

    /// Forgets a closed connection's watches.
    pub fn remove_watcher(&mut self, w: WatcherId) {
        self.watches.remove_watcher(w);
    }

    /// The watch tables (listings for wchs/wchc/wchp, counts for mntr).
    pub fn watches(&self) -> &WatchTable {
        &self.watches
    }

    // ---------------------------------------------------------------- sessions, reaper, stats

    /// Live sessions and their timeouts, as the snapshot stores them.
    pub fn sessions(&self) -> &BTreeMap<i64, i32> {
        &self.sessions
    }

    /// Ephemeral paths of every session that owns one.
    pub fn ephemerals(&self) -> &BTreeMap<i64, BTreeSet<String>> {
        &self.ephemerals
    }

    /// Total ephemeral nodes (mntr `zk_ephemerals_count`).
    pub fn ephemerals_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    /// Candidates for the container/TTL reaper (`ContainerManager.getCandidates` with
    /// `maxNeverUsedIntervalMs` = 0): empty containers that ever had a child, and childless TTL
    /// nodes whose mtime is more than their TTL before `now_ms`. Path order. Each is deleted
    /// through a `WriteRequest::DeleteContainer` (opcode 20) from session 0.
    pub fn expired_containers_and_ttls(&self, now_ms: i64) -> Vec<String> {
        let mut out = BTreeSet::new();
        for p in &self.containers {
            if let Some(n) = self.nodes.get(p) {
                if n.children.is_empty() && n.stat.cversion > 0 {
                    out.insert(p.clone());
                }
            }
        }
        for p in &self.ttls {
            if let Some(n) = self.nodes.get(p) {
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

    /// A copy of the tree for a snapshot: everything a snapshot and recovery carry, without this
    /// server's watches (which no snapshot holds). A deep copy, O(znodes) ([`NodeMap`]).
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
        }
    }

    /// ZooKeeper's tree digest (formats sheet C.3, `DigestCalculator` version 2): wrapping sum
    /// over all nodes not under `/zookeeper/` of CRC32(path ‖ data ‖ 60-byte stat), root as "".
    pub fn digest(&self) -> i64 {
        self.nodes
            .iter()
            .fold(0i64, |acc, (p, n)| acc.wrapping_add(node_digest(p, n)))
    }

    /// O(n) consistency check for tests and debug builds: every node but the root is listed
    /// by its parent and vice versa; the ephemeral/container/TTL indexes match the owners;
    /// the cached data size matches a recount; no ephemeral has children.
    pub fn check_invariants(&self) -> Result<(), TreeViolation> {
        let fail = |m: String| Err(TreeViolation(m));
        let mut ephemerals: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        let (mut containers, mut ttls) = (BTreeSet::new(), BTreeSet::new());
        let mut size = 0i64;
        for (p, n) in &self.nodes {
            size += node_size(p, n.data.as_deref());
            for c in &n.children {
                if !self.nodes.contains_key(&path::join(p, c)) {
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
                    ephemerals.entry(s).or_default().insert(p.clone());
                }
                EphemeralKind::Container => {
                    containers.insert(p.clone());
                }
                EphemeralKind::Ttl(_) => {
                    ttls.insert(p.clone());
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
