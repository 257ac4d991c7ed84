//! Leader-side request → `Txn`: `PrepRequestProcessor`'s job.
//!
//! All write validation happens here, in ZooKeeper's order (so the same request fails with the
//! same code): create flags and TTL rules, path checks, ACL fix-up, parent lookup, the permission
//! of A.8, sequential naming from the parent's persisted cversion, NodeExists,
//! NoChildrenForEphemerals, version checks (-1 = any). A failed write still becomes a txn
//! (`Txn::Error`, it consumes a zxid, A.16) — use [`prepare_logged`] for that.
//!
//! Pipelining: a request must be validated against the tree *plus* every txn prepared but not
//! yet applied (ZooKeeper's `outstandingChanges`). [`PendingChanges`] is that overlay: `prepare`
//! records each successful txn's effect in it, and the caller calls
//! [`PendingChanges::applied_through`] after applying txns. In standalone mode with apply
//! before the next prepare, an empty overlay is always correct.
//!
//! With `PrepareContext::enforce_quota` (`zookeeper.enforceQuota`), create and setData check
//! the hard quota limits as `ZooKeeperServer.checkQuota` does (`quota.rs`): against the applied
//! tree, create after NoChildrenForEphemerals, setData after the WRITE check and before the
//! version check; a refusal is QuotaExceeded (-125), inside a multi like any other failure.
//!
//! Not here: session validity (`checkSession`: SessionExpired) — `server/pipeline.rs`
//! (`checked_session`) checks it against the leader's session table before calling `prepare`;
//! reconfig (disabled by default, -123 is the caller's).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::tree::acl::{check_acl, fixup_acl, AclList};
use crate::tree::error::ZkError;
use crate::tree::path::{self, split_parent, validate_path};
use crate::tree::txn::{CreateTxn, Txn, TxnHeader};
use crate::tree::znode::{EphemeralKind, StatPersisted, CONTAINER_EPHEMERAL_OWNER};
use crate::tree::{CreateKind, DataTree, CONFIG_ZOOKEEPER, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER};
use crate::wire::records::{perms, Acl, Id};

/// A decoded client write (or server-made write: session create/close, reaper delete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteRequest {
    /// create (1), create2 (15), createContainer (19), createTTL (21).
    Create {
        /// Which opcode the client used.
        kind: CreateKind,
        /// Requested path (without sequential suffix).
        path: String,
        /// Data; `None` is jute null.
        data: Option<Vec<u8>>,
        /// Requested ACL (before fix-up).
        acl: Vec<Acl>,
        /// CreateMode flags (A.9).
        flags: i32,
        /// TTL in ms for createTTL; -1 otherwise.
        ttl_ms: i64,
    },
    /// delete (2).
    Delete {
        /// The node.
        path: String,
        /// Expected data version, -1 = any.
        version: i32,
    },
    /// deleteContainer (20), issued by the reaper for `expired_containers_and_ttls`.
    DeleteContainer {
        /// The node.
        path: String,
    },
    /// setData (5).
    SetData {
        /// The node.
        path: String,
        /// New data.
        data: Option<Vec<u8>>,
        /// Expected data version, -1 = any.
        version: i32,
    },
    /// setACL (7).
    SetAcl {
        /// The node.
        path: String,
        /// New ACL (before fix-up).
        acl: Vec<Acl>,
        /// Expected ACL version, -1 = any.
        version: i32,
    },
    /// check (13).
    Check {
        /// The node.
        path: String,
        /// Expected data version, -1 = any.
        version: i32,
    },
    /// multi (14): create*/delete/setData/check only.
    Multi(Vec<WriteRequest>),
    /// createSession (-10), made by the handshake.
    CreateSession {
        /// Negotiated timeout.
        timeout_ms: i32,
    },
    /// closeSession (-11), from the client or from expiry.
    CloseSession,
}

/// Who asks and when; `zxid` and `now_ms` are stamped into the header.
#[derive(Clone, Copy, Debug)]
pub struct PrepareContext<'a> {
    /// The requesting session (0 for the reaper).
    pub session_id: i64,
    /// The client's xid (0 for server-made requests).
    pub cxid: i32,
    /// The connection's authenticated ids (`ip:…` always; `digest:…`, `super:` after addauth).
    pub auth_ids: &'a [Id],
    /// The leader's wall clock, ms.
    pub now_ms: i64,
    /// The zxid this txn will carry.
    pub zxid: i64,
    /// `zookeeper.extendedTypesEnabled` (TTL nodes).
    pub extended_types_enabled: bool,
    /// `zookeeper.enforceQuota`: refuse creates and setData over a hard quota limit.
    pub enforce_quota: bool,
}

/// What prepare needs to know of a node (ZooKeeper's `ChangeRecord` minus digest fields).
#[derive(Clone, Debug, PartialEq, Eq)]
struct NodeRecord {
    stat: StatPersisted,
    child_count: i32,
    acl: AclList,
    /// Length of the node's data as of this record (`ChangeRecord.data`, null = 0): the old
    /// length a setData's quota check subtracts.
    data_len: i64,
}

/// One outstanding change: the node's state after txn `zxid`, `None` = deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ChangeRecord {
    zxid: i64,
    path: String,
    node: Option<NodeRecord>,
}

/// The effect of prepared-but-unapplied txns (`outstandingChanges` / `outstandingChangesForPath`).
#[derive(Clone, Debug, Default)]
pub struct PendingChanges {
    queue: VecDeque<ChangeRecord>,
    latest: BTreeMap<String, ChangeRecord>,
}

impl PendingChanges {
    /// No outstanding changes.
    pub fn new() -> PendingChanges {
        PendingChanges::default()
    }

    /// Forgets changes of txns with zxid ≤ `zxid`, now visible in the tree
    /// (FinalRequestProcessor's clean-up).
    pub fn applied_through(&mut self, zxid: i64) {
        while self.queue.front().is_some_and(|c| c.zxid <= zxid) {
            let Some(c) = self.queue.pop_front() else {
                break;
            };
            if self.latest.get(&c.path).is_some_and(|l| l.zxid == c.zxid) {
                self.latest.remove(&c.path);
            }
        }
    }

    /// Drops everything (leadership lost).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.latest.clear();
    }

    /// Number of outstanding change records.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing is outstanding.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn add(&mut self, c: ChangeRecord) {
        self.latest.insert(c.path.clone(), c.clone());
        self.queue.push_back(c);
    }
}

/// The tree as prepare sees it: local (this request) → pending → applied tree.
struct View<'a> {
    tree: &'a DataTree,
    pending: &'a PendingChanges,
    local: Vec<ChangeRecord>,
    zxid: i64,
}

impl View<'_> {
    fn get(&self, p: &str) -> Option<NodeRecord> {
        if let Some(c) = self.local.iter().rev().find(|c| c.path == p) {
            return c.node.clone();
        }
        if let Some(c) = self.pending.latest.get(p) {
            return c.node.clone();
        }
        self.tree.node(p).map(|n| NodeRecord {
            stat: n.stat,
            child_count: n.children.len() as i32,
            acl: n.acl.clone(),
            data_len: n.data_length() as i64,
        })
    }

    fn record(&self, p: &str) -> Result<NodeRecord, ZkError> {
        self.get(p).ok_or(ZkError::NoNode)
    }

    fn put(&mut self, p: &str, node: Option<NodeRecord>) {
        self.local.push(ChangeRecord {
            zxid: self.zxid,
            path: p.to_string(),
            node,
        });
    }
}

/// Validates `req` against tree + pending and returns its txn; on success records the txn's
/// effect in `pending`. `Err` means the write fails with that code (log `Txn::Error`); a multi
/// never fails here except for a disallowed sub-op (MarshallingError): its per-op failures are
/// inside the returned `Txn::Multi`.
pub fn prepare(
    tree: &DataTree,
    pending: &mut PendingChanges,
    req: &WriteRequest,
    ctx: &PrepareContext<'_>,
) -> Result<Txn, ZkError> {
    let mut view = View {
        tree,
        pending,
        local: Vec::new(),
        zxid: ctx.zxid,
    };
    let txn = match req {
        WriteRequest::Multi(ops) => prepare_multi(&mut view, ops, ctx)?,
        WriteRequest::CloseSession => prepare_close_session(&mut view, ctx),
        other => prepare_op(&mut view, other, ctx)?,
    };
    let local = std::mem::take(&mut view.local);
    for c in local {
        pending.add(c);
    }
    Ok(txn)
}

/// `prepare` plus the header, always yielding a loggable txn: a failed write becomes
/// `Txn::Error` (the header type follows the txn).
pub fn prepare_logged(
    tree: &DataTree,
    pending: &mut PendingChanges,
    req: &WriteRequest,
    ctx: &PrepareContext<'_>,
) -> (TxnHeader, Txn) {
    let txn = prepare(tree, pending, req, ctx).unwrap_or_else(Txn::error);
    let hdr = TxnHeader {
        client_id: ctx.session_id,
        cxid: ctx.cxid,
        zxid: ctx.zxid,
        time_ms: ctx.now_ms,
        txn_type: txn.op_code(),
    };
    (hdr, txn)
}

fn prepare_multi(
    view: &mut View<'_>,
    ops: &[WriteRequest],
    ctx: &PrepareContext<'_>,
) -> Result<Txn, ZkError> {
    let allowed = |op: &WriteRequest| {
        matches!(
            op,
            WriteRequest::Create { .. }
                | WriteRequest::Delete { .. }
                | WriteRequest::SetData { .. }
                | WriteRequest::Check { .. }
        )
    };
    if !ops.iter().all(allowed) {
        // MultiOperationRecord cannot even be deserialized with such an op.
        return Err(ZkError::MarshallingError);
    }
    let mut txns = Vec::with_capacity(ops.len());
    let mut failed = false;
    for op in ops {
        if failed {
            txns.push(Txn::error(ZkError::RuntimeInconsistency));
            continue;
        }
        match prepare_op(view, op, ctx) {
            Ok(t) => txns.push(t),
            Err(e) => {
                failed = true;
                txns.push(Txn::error(e));
            }
        }
    }
    if failed {
        // Roll back: nothing of a failed multi becomes outstanding.
        view.local.clear();
    }
    Ok(Txn::Multi(txns))
}

fn prepare_op(
    view: &mut View<'_>,
    req: &WriteRequest,
    ctx: &PrepareContext<'_>,
) -> Result<Txn, ZkError> {
    match req {
        WriteRequest::Create {
            kind,
            path,
            data,
            acl,
            flags,
            ttl_ms,
        } => prepare_create(view, *kind, path, data, acl, *flags, *ttl_ms, ctx),
        WriteRequest::Delete { path, version } => prepare_delete(view, path, Some(*version), ctx),
        WriteRequest::DeleteContainer { path } => prepare_delete(view, path, None, ctx),
        WriteRequest::SetData {
            path,
            data,
            version,
        } => {
            validate_path(path)?;
            let mut node = view.record(path)?;
            check_acl(&node.acl, perms::WRITE, ctx.auth_ids)?;
            let new_len = data_len(data);
            if ctx.enforce_quota {
                view.tree.check_quota(path, new_len - node.data_len, 0)?;
            }
            let new_version = check_and_inc_version(node.stat.version, *version)?;
            node.stat.version = new_version;
            node.stat.mtime = ctx.now_ms;
            node.stat.mzxid = ctx.zxid;
            node.data_len = new_len;
            view.put(path, Some(node));
            Ok(Txn::SetData {
                path: path.clone(),
                data: data.clone(),
                version: new_version,
            })
        }
        WriteRequest::SetAcl { path, acl, version } => {
            validate_path(path)?;
            let acl = fixup_acl(acl, ctx.auth_ids)?;
            let mut node = view.record(path)?;
            check_acl(&node.acl, perms::ADMIN, ctx.auth_ids)?;
            let new_version = check_and_inc_version(node.stat.aversion, *version)?;
            node.stat.aversion = new_version;
            node.acl = AclList::from(acl.clone());
            view.put(path, Some(node));
            Ok(Txn::SetAcl {
                path: path.clone(),
                acl,
                version: new_version,
            })
        }
        WriteRequest::Check { path, version } => {
            validate_path(path)?;
            let node = view.record(path)?;
            check_acl(&node.acl, perms::READ, ctx.auth_ids)?;
            let next = check_and_inc_version(node.stat.version, *version)?;
            Ok(Txn::Check {
                path: path.clone(),
                version: next,
            })
        }
        WriteRequest::CreateSession { timeout_ms } => Ok(Txn::CreateSession {
            timeout_ms: *timeout_ms,
        }),
        WriteRequest::CloseSession => Ok(prepare_close_session(view, ctx)),
        WriteRequest::Multi(_) => Err(ZkError::MarshallingError),
    }
}

/// Length of request data, jute null = 0.
fn data_len(data: &Option<Vec<u8>>) -> i64 {
    data.as_ref().map_or(0, Vec::len) as i64
}

/// `checkAndIncVersion` (3.8: plain int increment, wrapping like Java).
fn check_and_inc_version(current: i32, expected: i32) -> Result<i32, ZkError> {
    if expected != -1 && expected != current {
        return Err(ZkError::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// CreateMode from flags (A.9): (ephemeral, sequential, container, ttl).
fn create_mode(flags: i32) -> Result<(bool, bool, bool, bool), ZkError> {
    match flags {
        0 => Ok((false, false, false, false)),
        1 => Ok((true, false, false, false)),
        2 => Ok((false, true, false, false)),
        3 => Ok((true, true, false, false)),
        4 => Ok((false, false, true, false)),
        5 => Ok((false, false, false, true)),
        6 => Ok((false, true, false, true)),
        _ => Err(ZkError::BadArguments),
    }
}

#[allow(clippy::too_many_arguments)]
fn prepare_create(
    view: &mut View<'_>,
    kind: CreateKind,
    requested: &str,
    data: &Option<Vec<u8>>,
    acl: &[Acl],
    flags: i32,
    ttl_ms: i64,
    ctx: &PrepareContext<'_>,
) -> Result<Txn, ZkError> {
    let ttl_ms = if kind == CreateKind::Ttl { ttl_ms } else { -1 };
    let (ephemeral, sequential, _container, ttl) = create_mode(flags)?;
    // validateCreateRequest
    if ttl && !ctx.extended_types_enabled {
        return Err(ZkError::Unimplemented);
    }
    if ttl {
        EphemeralKind::ttl_owner(ttl_ms).ok_or(ZkError::BadArguments)?;
    } else if ttl_ms >= 0 {
        return Err(ZkError::BadArguments);
    }
    // validatePathForCreate
    let (parent_path, _) = split_parent(requested)?;
    let acl = fixup_acl(acl, ctx.auth_ids)?;
    let mut parent = view.record(parent_path)?;
    check_acl(&parent.acl, perms::CREATE, ctx.auth_ids)?;
    let final_path = if sequential {
        path::sequential_name(requested, parent.stat.cversion)
    } else {
        requested.to_string()
    };
    validate_path(&final_path)?;
    if view.get(&final_path).is_some() {
        return Err(ZkError::NodeExists);
    }
    if matches!(
        EphemeralKind::of(parent.stat.ephemeral_owner),
        EphemeralKind::Normal(_)
    ) {
        return Err(ZkError::NoChildrenForEphemerals);
    }
    if ctx.enforce_quota {
        view.tree.check_quota(&final_path, data_len(data), 1)?;
    }
    let new_cversion = parent.stat.cversion.wrapping_add(1);
    let create = CreateTxn {
        path: final_path.clone(),
        data: data.clone(),
        acl: acl.clone(),
        ephemeral: false,
        parent_cversion: new_cversion,
    };
    let (txn, owner) = match kind {
        CreateKind::Container => (Txn::CreateContainer(create), CONTAINER_EPHEMERAL_OWNER),
        CreateKind::Ttl => {
            let owner = EphemeralKind::ttl_owner(ttl_ms).ok_or(ZkError::BadArguments)?;
            (Txn::CreateTtl { create, ttl_ms }, owner)
        }
        CreateKind::Create | CreateKind::Create2 => {
            // A container mode (flags 4) under opcode 1/15 is logged as a plain persistent
            // create, as ZooKeeper does; only opcode 19 makes containers.
            let owner = if ephemeral { ctx.session_id } else { 0 };
            let create = CreateTxn {
                ephemeral,
                ..create
            };
            let txn = if kind == CreateKind::Create {
                Txn::Create(create)
            } else {
                Txn::Create2(create)
            };
            (txn, owner)
        }
    };
    parent.child_count += 1;
    parent.stat.cversion = new_cversion;
    parent.stat.pzxid = ctx.zxid;
    let parent_path = parent_path.to_string();
    view.put(&parent_path, Some(parent));
    let stat = StatPersisted::new_node(ctx.zxid, ctx.now_ms, owner);
    view.put(
        &final_path,
        Some(NodeRecord {
            stat,
            child_count: 0,
            acl: acl.into(),
            data_len: data_len(data),
        }),
    );
    Ok(txn)
}

/// ZooKeeper's special paths, which cannot be deleted (`DataTree.isSpecialPath`).
fn is_special_path(p: &str) -> bool {
    p == path::ROOT || p == PROC_ZOOKEEPER || p == QUOTA_ZOOKEEPER || p == CONFIG_ZOOKEEPER
}

/// delete (`version` = Some) and deleteContainer (`version` = None).
fn prepare_delete(
    view: &mut View<'_>,
    node_path: &str,
    version: Option<i32>,
    ctx: &PrepareContext<'_>,
) -> Result<Txn, ZkError> {
    // getParentPathAndValidate
    if is_special_path(node_path) {
        return Err(ZkError::BadArguments);
    }
    let (parent_path, _) = split_parent(node_path)?;
    let mut parent = match version {
        Some(expected) => {
            let parent = view.record(parent_path)?;
            check_acl(&parent.acl, perms::DELETE, ctx.auth_ids)?;
            let node = view.record(node_path)?;
            check_and_inc_version(node.stat.version, expected)?;
            if node.child_count > 0 {
                return Err(ZkError::NotEmpty);
            }
            parent
        }
        None => {
            let node = view.record(node_path)?;
            if node.child_count > 0 {
                return Err(ZkError::NotEmpty);
            }
            if matches!(
                EphemeralKind::of(node.stat.ephemeral_owner),
                EphemeralKind::Normal(_)
            ) {
                return Err(ZkError::BadVersion);
            }
            view.record(parent_path)?
        }
    };
    parent.child_count -= 1;
    parent.stat.pzxid = ctx.zxid;
    let parent_path = parent_path.to_string();
    view.put(&parent_path, Some(parent));
    view.put(node_path, None);
    let path = node_path.to_string();
    Ok(if version.is_some() {
        Txn::Delete { path }
    } else {
        Txn::DeleteContainer { path }
    })
}

/// closeSession: the session's ephemerals in the tree, adjusted by outstanding changes in
/// order (deleted ones dropped, pending ephemeral creates of this session added).
fn prepare_close_session(view: &mut View<'_>, ctx: &PrepareContext<'_>) -> Txn {
    let mut es: BTreeSet<String> = view
        .tree
        .ephemerals()
        .get(&ctx.session_id)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    for c in &view.pending.queue {
        match &c.node {
            None => {
                es.remove(&c.path);
            }
            Some(n) if n.stat.ephemeral_owner == ctx.session_id && ctx.session_id != 0 => {
                es.insert(c.path.clone());
            }
            Some(_) => {}
        }
    }
    for p in &es {
        if let Some(parent_path) = path::parent_of(p) {
            if let Some(mut parent) = view.get(parent_path) {
                parent.child_count -= 1;
                parent.stat.pzxid = ctx.zxid;
                view.put(parent_path, Some(parent));
            }
        }
        view.put(p, None);
    }
    Txn::CloseSession {
        paths_to_delete: es.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::txn::op;

    fn ctx<'a>(ids: &'a [Id], zxid: i64) -> PrepareContext<'a> {
        PrepareContext {
            session_id: 0x11,
            cxid: 1,
            auth_ids: ids,
            now_ms: 1000,
            zxid,
            extended_types_enabled: false,
            enforce_quota: false,
        }
    }

    fn create(path: &str, flags: i32) -> WriteRequest {
        WriteRequest::Create {
            kind: CreateKind::Create,
            path: path.into(),
            data: Some(b"d".to_vec()),
            acl: Acl::open_unsafe(),
            flags,
            ttl_ms: -1,
        }
    }

    /// Prepares and applies in order, as standalone mode does.
    fn run(tree: &mut DataTree, req: &WriteRequest, zxid: i64) -> Result<Txn, ZkError> {
        let mut pending = PendingChanges::new();
        let ids = [];
        let c = ctx(&ids, zxid);
        let r = prepare(tree, &mut pending, req, &c);
        let (hdr, txn) = {
            let t = r.clone().unwrap_or_else(Txn::error);
            (
                TxnHeader {
                    client_id: c.session_id,
                    cxid: 1,
                    zxid,
                    time_ms: 1000,
                    txn_type: t.op_code(),
                },
                t,
            )
        };
        tree.apply(&hdr, &txn);
        r
    }

    #[test]
    fn create_errors_in_zookeeper_order() {
        let mut t = DataTree::new();
        assert_eq!(run(&mut t, &create("/a", 9), 1), Err(ZkError::BadArguments));
        assert_eq!(
            run(&mut t, &create("/a", 5), 2),
            Err(ZkError::Unimplemented)
        );
        assert_eq!(
            run(&mut t, &create("/missing/x", 0), 3),
            Err(ZkError::NoNode)
        );
        assert_eq!(run(&mut t, &create("/bad/", 0), 4), Err(ZkError::NoNode));
        assert_eq!(
            run(&mut t, &create("noslash", 0), 5),
            Err(ZkError::BadArguments)
        );
        assert!(run(&mut t, &create("/e", 1), 6).is_ok());
        assert_eq!(run(&mut t, &create("/e", 0), 7), Err(ZkError::NodeExists));
        assert_eq!(
            run(&mut t, &create("/e/c", 0), 8),
            Err(ZkError::NoChildrenForEphemerals)
        );
        assert_eq!(run(&mut t, &create("/a/", 0), 9), Err(ZkError::NoNode));
        let empty_acl = WriteRequest::Create {
            kind: CreateKind::Create2,
            path: "/x".into(),
            data: None,
            acl: vec![],
            flags: 0,
            ttl_ms: -1,
        };
        assert_eq!(run(&mut t, &empty_acl, 10), Err(ZkError::InvalidAcl));
    }

    #[test]
    fn sequential_names_follow_parent_cversion() {
        let mut t = DataTree::new();
        run(&mut t, &create("/q", 0), 1).unwrap();
        let n0 = run(&mut t, &create("/q/s-", 2), 2).unwrap();
        run(&mut t, &create("/q/plain", 0), 3).unwrap();
        run(
            &mut t,
            &WriteRequest::Delete {
                path: "/q/plain".into(),
                version: -1,
            },
            4,
        )
        .unwrap();
        let n2 = run(&mut t, &create("/q/s-", 3), 5).unwrap();
        let path_of = |t: &Txn| match t {
            Txn::Create(c) => c.path.clone(),
            _ => String::new(),
        };
        assert_eq!(path_of(&n0), "/q/s-0000000000");
        assert_eq!(path_of(&n2), "/q/s-0000000002");
    }

    #[test]
    fn delete_rules() {
        let mut t = DataTree::new();
        for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            let r = run(
                &mut t,
                &WriteRequest::Delete {
                    path: p.into(),
                    version: -1,
                },
                1,
            );
            assert_eq!(r, Err(ZkError::BadArguments), "{p}");
        }
        run(&mut t, &create("/a", 0), 2).unwrap();
        run(&mut t, &create("/a/b", 0), 3).unwrap();
        assert_eq!(
            run(
                &mut t,
                &WriteRequest::Delete {
                    path: "/a".into(),
                    version: -1
                },
                4
            ),
            Err(ZkError::NotEmpty)
        );
        assert_eq!(
            run(
                &mut t,
                &WriteRequest::Delete {
                    path: "/a/b".into(),
                    version: 3
                },
                5
            ),
            Err(ZkError::BadVersion)
        );
        assert_eq!(
            run(
                &mut t,
                &WriteRequest::Delete {
                    path: "/a/c".into(),
                    version: -1
                },
                6
            ),
            Err(ZkError::NoNode)
        );
        assert!(run(
            &mut t,
            &WriteRequest::Delete {
                path: "/a/b".into(),
                version: 0
            },
            7
        )
        .is_ok());
    }

    #[test]
    fn permissions_are_checked() {
        let mut t = DataTree::new();
        let ro = WriteRequest::Create {
            kind: CreateKind::Create,
            path: "/ro".into(),
            data: None,
            acl: Acl::read_unsafe(),
            flags: 0,
            ttl_ms: -1,
        };
        run(&mut t, &ro, 1).unwrap();
        assert_eq!(run(&mut t, &create("/ro/c", 0), 2), Err(ZkError::NoAuth));
        let set = WriteRequest::SetData {
            path: "/ro".into(),
            data: None,
            version: -1,
        };
        assert_eq!(run(&mut t, &set, 3), Err(ZkError::NoAuth));
        let acl = WriteRequest::SetAcl {
            path: "/ro".into(),
            acl: Acl::open_unsafe(),
            version: -1,
        };
        assert_eq!(run(&mut t, &acl, 4), Err(ZkError::NoAuth));
        assert!(run(
            &mut t,
            &WriteRequest::Check {
                path: "/ro".into(),
                version: 0
            },
            5
        )
        .is_ok());
        let cfg = WriteRequest::SetData {
            path: CONFIG_ZOOKEEPER.into(),
            data: None,
            version: -1,
        };
        assert_eq!(run(&mut t, &cfg, 6), Err(ZkError::NoAuth));
    }

    #[test]
    fn failed_multi_is_all_errors_and_not_pending() {
        let t = DataTree::new();
        let mut pending = PendingChanges::new();
        let ids = [];
        let req = WriteRequest::Multi(vec![
            create("/m", 0),
            WriteRequest::SetData {
                path: "/m".into(),
                data: None,
                version: 5,
            },
            create("/n", 0),
        ]);
        let txn = prepare(&t, &mut pending, &req, &ctx(&ids, 1)).unwrap();
        match &txn {
            Txn::Multi(ts) => {
                assert_eq!(ts[0].op_code(), op::CREATE);
                assert_eq!(ts[1], Txn::error(ZkError::BadVersion));
                assert_eq!(ts[2], Txn::error(ZkError::RuntimeInconsistency));
            }
            other => panic!("not a multi: {other:?}"),
        }
        assert!(pending.is_empty());
        let bad = WriteRequest::Multi(vec![WriteRequest::CloseSession]);
        assert_eq!(
            prepare(&t, &mut pending, &bad, &ctx(&ids, 2)),
            Err(ZkError::MarshallingError)
        );
    }

    #[test]
    fn pending_changes_are_seen_before_apply() {
        let mut t = DataTree::new();
        let mut pending = PendingChanges::new();
        let ids = [];
        let t1 = prepare(&t, &mut pending, &create("/p", 0), &ctx(&ids, 1)).unwrap();
        // Not applied yet: a second create of /p fails, a child create succeeds with seq 0.
        assert_eq!(
            prepare(&t, &mut pending, &create("/p", 0), &ctx(&ids, 2)),
            Err(ZkError::NodeExists)
        );
        let t2 = prepare(&t, &mut pending, &create("/p/s", 2), &ctx(&ids, 2)).unwrap();
        let t3 = prepare(&t, &mut pending, &create("/p/s", 2), &ctx(&ids, 3)).unwrap();
        assert!(matches!(&t3, Txn::Create(c) if c.path == "/p/s0000000001"));
        for (z, txn) in [(1, t1), (2, t2), (3, t3)] {
            let hdr = TxnHeader {
                client_id: 0x11,
                cxid: 1,
                zxid: z,
                time_ms: 1000,
                txn_type: txn.op_code(),
            };
            assert!(!matches!(
                t.apply(&hdr, &txn).result,
                crate::tree::TxnResult::Error { .. }
            ));
            pending.applied_through(z);
        }
        assert!(pending.is_empty());
        assert_eq!(t.stat("/p").map(|s| s.num_children), Some(2));
    }

    #[test]
    fn close_session_lists_pending_ephemerals() {
        let t = DataTree::new();
        let mut pending = PendingChanges::new();
        let ids = [];
        prepare(&t, &mut pending, &create("/e1", 1), &ctx(&ids, 1)).unwrap();
        prepare(&t, &mut pending, &create("/e0", 1), &ctx(&ids, 2)).unwrap();
        let txn = prepare(&t, &mut pending, &WriteRequest::CloseSession, &ctx(&ids, 3)).unwrap();
        assert_eq!(
            txn,
            Txn::CloseSession {
                paths_to_delete: vec!["/e0".into(), "/e1".into()]
            }
        );
    }

    #[test]
    fn quota_check_reads_the_applied_tree_not_pending_changes() {
        // ZooKeeper's checkQuota reads ZKDatabase, not outstandingChanges: creates prepared
        // while earlier ones are still unapplied are all checked against the same usage.
        let mut t = DataTree::new();
        let with_data = |p: &str, d: &str| WriteRequest::Create {
            kind: CreateKind::Create,
            path: p.into(),
            data: Some(d.as_bytes().to_vec()),
            acl: Acl::open_unsafe(),
            flags: 0,
            ttl_ms: -1,
        };
        run(&mut t, &create("/q", 0), 1).unwrap();
        run(&mut t, &create("/zookeeper/quota/q", 0), 2).unwrap();
        let limits = with_data(
            "/zookeeper/quota/q/zookeeper_limits",
            "count=-1,bytes=-1=;countHardLimit=2",
        );
        run(&mut t, &limits, 3).unwrap();
        let stats = with_data("/zookeeper/quota/q/zookeeper_stats", "count=0,bytes=0");
        run(&mut t, &stats, 4).unwrap();
        let ids = [];
        let mut c = ctx(&ids, 5);
        c.enforce_quota = true;
        let mut pending = PendingChanges::new();
        assert!(prepare(&t, &mut pending, &create("/q/a", 0), &c).is_ok());
        c.zxid = 6;
        assert!(prepare(&t, &mut pending, &create("/q/b", 0), &c).is_ok());
        // Once /q/a is applied the tree holds 2 nodes under /q and a third create is refused.
        run(&mut t, &create("/q/a", 0), 5).unwrap();
        c.zxid = 7;
        assert_eq!(
            prepare(&t, &mut PendingChanges::new(), &create("/q/c", 0), &c),
            Err(ZkError::QuotaExceeded)
        );
        c.enforce_quota = false;
        assert!(prepare(&t, &mut PendingChanges::new(), &create("/q/c", 0), &c).is_ok());
    }

    #[test]
    fn ttl_rules() {
        let t = DataTree::new();
        let mut pending = PendingChanges::new();
        let ids = [];
        let mut c = ctx(&ids, 1);
        c.extended_types_enabled = true;
        let ttl = |flags, ttl_ms| WriteRequest::Create {
            kind: CreateKind::Ttl,
            path: "/t".into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags,
            ttl_ms,
        };
        assert_eq!(
            prepare(&t, &mut pending, &ttl(5, 0), &c),
            Err(ZkError::BadArguments)
        );
        assert_eq!(
            prepare(&t, &mut pending, &ttl(0, 100), &c),
            Err(ZkError::BadArguments)
        );
        assert!(matches!(
            prepare(&t, &mut pending, &ttl(5, 100), &c),
            Ok(Txn::CreateTtl { ttl_ms: 100, .. })
        ));
        c.extended_types_enabled = false;
        assert_eq!(
            prepare(&t, &mut pending, &ttl(5, 100), &c),
            Err(ZkError::Unimplemented)
        );
    }
}
