//! Reads and session-local requests, served straight from the data tree (ZooKeeper's
//! `FinalRequestProcessor` for non-txn requests), plus the translations between the wire's
//! records and the tree's types that the driver shares.
//!
//! Role: `client.rs` calls [`serve_read`] once the connection's own writes have all been
//! answered (per-session FIFO). Watches are registered under the tree's write lock in the same
//! critical section as the read, so a write applied later always finds them; reads without a
//! watch share the read lock. Watchers are connections:
//! `WatcherId(conn_id)`, as ZooKeeper's watcher is the `ServerCnxn`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::server::conn::ConnHandle;
use crate::server::shared::Shared;
use crate::tree::{
    CreateKind, DataTree, TxnResult, WatchedEvent, WatcherId, WatcherMode, WatcherType,
    WriteRequest, ZkError,
};
use crate::wire::client::{
    ClientInfo, Create2Response, CreateResponse, ErrorResponse, GetAclResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse,
    MultiOp, MultiResponse, OpResult, ReplyHeader, Request, StatResponse, StringsResponse,
    WatcherEvent, WhoAmIResponse, NOTIFICATION_XID, PING_XID,
};
use crate::wire::jute::Record;
use crate::wire::records::{Id, Stat};
use crate::wire::write_frame;

/// The watcher id of a connection.
pub fn watcher_of(conn: &ConnHandle) -> WatcherId {
    WatcherId(conn.conn_id)
}

/// A notification frame (xid -1, zxid -1 as ZooKeeper 3.8).
pub fn notification_frame(event: &WatchedEvent) -> Vec<u8> {
    let ev = WatcherEvent {
        event_type: event.event_type.code(),
        state: event.keeper_state.code(),
        path: event.path.clone(),
    };
    let mut frame = Vec::with_capacity(32 + ev.path.len());
    write_frame(&mut frame, |w| {
        ReplyHeader {
            xid: NOTIFICATION_XID,
            zxid: -1,
            err: 0,
        }
        .encode(w);
        ev.encode(w);
    });
    frame
}

/// A reply frame: header, then the body when `err == 0`.
pub fn reply_frame<R: Record>(xid: i32, zxid: i64, err: i32, body: Option<&R>) -> Vec<u8> {
    let mut frame = Vec::with_capacity(64);
    write_frame(&mut frame, |w| {
        ReplyHeader { xid, zxid, err }.encode(w);
        if err == 0 {
            if let Some(b) = body {
                b.encode(w);
            }
        }
    });
    frame
}

/// A header-only reply frame.
pub fn header_frame(xid: i32, zxid: i64, err: i32) -> Vec<u8> {
    reply_frame::<ErrorResponse>(xid, zxid, err, None)
}

/// Serves one non-write request; returns false when the connection must close.
///
/// A request that registers or removes a watch takes the tree's write lock, so the watch is in
/// place before any later write is applied; every other read shares the read lock with the
/// other readers (the applier holds the write lock while it applies a commit and queues its
/// events and replies, so a reader never sees half of it), and the reply is encoded after the
/// lock is released where the answer was copied out.
pub async fn serve_read(
    shared: &Arc<Shared>,
    conn: &ConnHandle,
    xid: i32,
    request: Request,
) -> bool {
    let request = root_alias(request);
    let frame = if changes_watches(&request) {
        let mut tree = shared.tree.write().await;
        let zxid = shared.last_zxid();
        serve_watching(&mut tree, conn, xid, zxid, request)
    } else {
        let tree = shared.tree.read().await;
        let zxid = shared.last_zxid();
        serve_plain(tree, conn, xid, zxid, request)
    };
    conn.send(frame);
    true
}

/// Whether serving `request` changes the watch table (it then needs the write lock).
fn changes_watches(request: &Request) -> bool {
    match request {
        Request::Exists(r)
        | Request::GetData(r)
        | Request::GetChildren(r)
        | Request::GetChildren2(r) => r.watch,
        Request::AddWatch(_)
        | Request::RemoveWatches(_)
        | Request::SetWatches(_)
        | Request::SetWatches2(_) => true,
        _ => false,
    }
}

/// The reads that set or remove watches, under the write lock.
fn serve_watching(
    tree: &mut DataTree,
    conn: &ConnHandle,
    xid: i32,
    zxid: i64,
    request: Request,
) -> Vec<u8> {
    let me = watcher_of(conn);
    let auth = conn.auth_ids();
    match request {
        Request::Exists(r) => match tree.exists(&r.path, Some(me)) {
            Ok(stat) => reply_frame(xid, zxid, 0, Some(&StatResponse { stat })),
            Err(e) => header_frame(xid, zxid, e.code()),
        },
        Request::GetData(r) => match tree.get_data(&r.path, &auth, Some(me)) {
            Ok((data, stat)) => reply_frame(xid, zxid, 0, Some(&GetDataResponse { data, stat })),
            Err(e) => header_frame(xid, zxid, e.code()),
        },
        Request::GetChildren(r) => match tree.get_children(&r.path, &auth, Some(me)) {
            Ok((children, _)) => {
                reply_frame(xid, zxid, 0, Some(&GetChildrenResponse { names: children }))
            }
            Err(e) => header_frame(xid, zxid, e.code()),
        },
        Request::GetChildren2(r) => match tree.get_children(&r.path, &auth, Some(me)) {
            Ok((children, stat)) => {
                reply_frame(xid, zxid, 0, Some(&GetChildren2Response { children, stat }))
            }
            Err(e) => header_frame(xid, zxid, e.code()),
        },
        Request::AddWatch(r) => match WatcherMode::from_add_watch_mode(r.mode) {
            Some(mode) => {
                tree.add_watch(&r.path, me, mode);
                reply_frame(xid, zxid, 0, Some(&ErrorResponse { err: 0 }))
            }
            // ZooKeeper fails to build the AddWatchMode: MarshallingError, connection kept.
            None => header_frame(xid, zxid, ZkError::MarshallingError.code()),
        },
        Request::RemoveWatches(r) => {
            match watcher_type(r.watcher_type).and_then(|t| tree.remove_watches(&r.path, t, me)) {
                Ok(()) => header_frame(xid, zxid, 0),
                Err(e) => header_frame(xid, zxid, e.code()),
            }
        }
        Request::SetWatches(s) => {
            let events = tree.set_watches(
                s.relative_zxid,
                &s.data_watches,
                &s.exist_watches,
                &s.child_watches,
                &[],
                &[],
                me,
            );
            for ev in &events {
                conn.send(notification_frame(ev));
            }
            header_frame(xid, zxid, 0)
        }
        Request::SetWatches2(s) => {
            let events = tree.set_watches(
                s.relative_zxid,
                &s.data_watches,
                &s.exist_watches,
                &s.child_watches,
                &s.persistent_watches,
                &s.persistent_recursive_watches,
                me,
            );
            for ev in &events {
                conn.send(notification_frame(ev));
            }
            header_frame(xid, zxid, 0)
        }
        other => serve_plain_locked(tree, conn, xid, zxid, other),
    }
}

/// The reads that leave the watch table alone, under the shared read lock. The hot ones copy
/// their answer out, release the lock, then encode.
fn serve_plain(
    tree: tokio::sync::RwLockReadGuard<'_, DataTree>,
    conn: &ConnHandle,
    xid: i32,
    zxid: i64,
    request: Request,
) -> Vec<u8> {
    match hot_read(&tree, &request, &conn.auth_ids()) {
        Some(answer) => {
            drop(tree);
            encode_hot_read(xid, zxid, answer)
        }
        None => serve_plain_locked(&tree, conn, xid, zxid, request),
    }
}

/// A hot read's answer (exists, getData, getChildren[2] without a watch), copied out of the tree
/// so that it is encoded after the lock is released.
enum HotRead {
    Exists(Result<Stat, ZkError>),
    Data(Result<(Option<Vec<u8>>, Stat), ZkError>),
    Children(Result<(Vec<String>, Stat), ZkError>),
    Children2(Result<(Vec<String>, Stat), ZkError>),
}

/// Answers `request` from `tree` if it is a hot read; `None` for every other request.
fn hot_read(tree: &DataTree, request: &Request, auth: &[Id]) -> Option<HotRead> {
    Some(match request {
        Request::Exists(r) => HotRead::Exists(tree.read_exists(&r.path)),
        Request::GetData(r) => HotRead::Data(tree.read_data(&r.path, auth)),
        Request::GetChildren(r) => HotRead::Children(tree.read_children(&r.path, auth)),
        Request::GetChildren2(r) => HotRead::Children2(tree.read_children(&r.path, auth)),
        _ => return None,
    })
}

fn encode_hot_read(xid: i32, zxid: i64, answer: HotRead) -> Vec<u8> {
    let error = |e: ZkError| header_frame(xid, zxid, e.code());
    match answer {
        HotRead::Exists(read) => read.map_or_else(error, |stat| {
            reply_frame(xid, zxid, 0, Some(&StatResponse { stat }))
        }),
        HotRead::Data(read) => read.map_or_else(error, |(data, stat)| {
            reply_frame(xid, zxid, 0, Some(&GetDataResponse { data, stat }))
        }),
        HotRead::Children(read) => read.map_or_else(error, |(names, _)| {
            reply_frame(xid, zxid, 0, Some(&GetChildrenResponse { names }))
        }),
        HotRead::Children2(read) => read.map_or_else(error, |(children, stat)| {
            reply_frame(xid, zxid, 0, Some(&GetChildren2Response { children, stat }))
        }),
    }
}

/// The rarer reads without watch changes, answered and encoded with the tree borrowed.
fn serve_plain_locked(
    tree: &DataTree,
    conn: &ConnHandle,
    xid: i32,
    zxid: i64,
    request: Request,
) -> Vec<u8> {
    let me = watcher_of(conn);
    let auth = conn.auth_ids();
    if let Some(answer) = hot_read(tree, &request, &auth) {
        return encode_hot_read(xid, zxid, answer);
    }
    match request {
        // FinalRequestProcessor answers a ping with PING_XID whatever xid it came with (3.8.0
        // and master); every other reply below echoes the request's xid, setWatches included.
        Request::Ping => header_frame(PING_XID, zxid, 0),
        Request::GetAcl(r) => match tree.get_acl(&r.path, &auth) {
            Ok((acl, stat)) => reply_frame(xid, zxid, 0, Some(&GetAclResponse { acl, stat })),
            Err(e) => header_frame(xid, zxid, e.code()),
        },
        Request::GetAllChildrenNumber(r) => match tree.get_all_children_number(&r.path, &auth) {
            Ok(total_number) => reply_frame(
                xid,
                zxid,
                0,
                Some(&GetAllChildrenNumberResponse { total_number }),
            ),
            Err(e) => header_frame(xid, zxid, e.code()),
        },
        Request::GetEphemerals(r) => {
            let strings = tree.get_ephemerals(conn.session_id(), &r.path);
            reply_frame(xid, zxid, 0, Some(&StringsResponse { names: strings }))
        }
        Request::MultiRead(m) => match multi_read(tree, &m.ops, &auth) {
            Ok(results) => reply_frame(xid, zxid, 0, Some(&MultiResponse { results })),
            Err(e) => header_frame(xid, zxid, e.code()),
        },
        Request::CheckWatches(r) => {
            match watcher_type(r.watcher_type).and_then(|t| tree.check_watches(&r.path, t, me)) {
                Ok(()) => header_frame(xid, zxid, 0),
                Err(e) => header_frame(xid, zxid, e.code()),
            }
        }
        Request::WhoAmI => {
            let client_info = auth
                .iter()
                .map(|id| ClientInfo {
                    auth_scheme: id.scheme.clone(),
                    user: user_name(id),
                })
                .collect();
            reply_frame(xid, zxid, 0, Some(&WhoAmIResponse { client_info }))
        }
        Request::Sasl(_) => {
            // No SASL server is configured: ZooKeeper answers a SASL packet it cannot
            // process with AUTHFAILED and keeps the connection.
            header_frame(xid, zxid, ZkError::AuthFailed.code())
        }
        other => {
            // Writes and `sync` (the driver answers it, `server/syncs.rs`) never reach here;
            // anything else is a request this server does not serve (watch changes go
            // through `serve_watching`, which never hands them here).
            tracing::warn!(
                opcode = other.opcode().as_i32(),
                "unexpected request on the read path"
            );
            header_frame(xid, -1, ZkError::Unimplemented.code())
        }
    }
}

/// ZooKeeper's DataTree keys the root as "" internally, so a read of "" answers for "/".
fn root_alias(request: Request) -> Request {
    let fix = |p: &mut String| {
        if p.is_empty() {
            p.push('/');
        }
    };
    let mut request = request;
    match &mut request {
        Request::Exists(r)
        | Request::GetData(r)
        | Request::GetChildren(r)
        | Request::GetChildren2(r) => fix(&mut r.path),
        Request::GetAcl(r) | Request::GetAllChildrenNumber(r) => fix(&mut r.path),
        _ => {}
    }
    request
}

/// `AuthenticationProvider.getUserName`: a digest id shows only its user part.
fn user_name(id: &crate::wire::records::Id) -> String {
    match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or_default().to_string(),
        _ => id.id.clone(),
    }
}

/// multiRead (22): getData/getChildren only; a failing op yields an Error result, the rest still
/// run (ZooKeeper's FinalRequestProcessor for multiRead).
fn multi_read(
    tree: &DataTree,
    ops: &[MultiOp],
    auth: &[crate::wire::records::Id],
) -> Result<Vec<OpResult>, ZkError> {
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let r = match op {
            MultiOp::GetData(r) => match tree.read_data(&r.path, auth) {
                Ok((data, stat)) => OpResult::GetData { data, stat },
                Err(e) => OpResult::Error { err: e.code() },
            },
            MultiOp::GetChildren(r) => match tree.read_children(&r.path, auth) {
                Ok((children, _)) => OpResult::GetChildren { children },
                Err(e) => OpResult::Error { err: e.code() },
            },
            _ => return Err(ZkError::MarshallingError),
        };
        out.push(r);
    }
    Ok(out)
}

/// Facts about the tree the words report, gathered under the tree lock.
#[derive(Debug, Default)]
pub struct TreeFacts {
    /// Number of znodes (including `/`, `/zookeeper`, ...).
    pub node_count: usize,
    /// Sum of path lengths and data lengths (ZooKeeper's approximate data size).
    pub approximate_data_size: u64,
    /// Session → its ephemeral paths.
    pub ephemerals: imbl::OrdMap<i64, imbl::OrdSet<String>>,
    /// Path → connection ids watching it.
    pub watches_by_path: BTreeMap<String, BTreeSet<u64>>,
    /// Total number of watches, data and child tables (mntr `zk_watch_count`).
    pub watch_count: usize,
    /// Watches in the data table (wchs `Total watches`), as ZooKeeper's `getWatchesSummary`.
    pub data_watch_count: usize,
}

/// Facts for the four-letter words.
pub fn tree_facts(tree: &DataTree) -> TreeFacts {
    let by_path = tree.watches().by_path();
    TreeFacts {
        node_count: tree.node_count(),
        approximate_data_size: tree.approximate_data_size().max(0) as u64,
        ephemerals: tree.ephemerals().clone(),
        watch_count: tree.watches().watch_count(),
        data_watch_count: tree.watches().summary().total,
        watches_by_path: by_path
            .into_iter()
            .map(|(p, ws)| (p, ws.into_iter().map(|w| w.0).collect()))
            .collect(),
    }
}

/// The tree's view of a client write. `None` for requests that are not tree writes
/// (reconfig is prepared by `pipeline.rs` itself).
pub fn to_write_request(request: &Request) -> Option<WriteRequest> {
    Some(match request {
        Request::Create(r) => create(CreateKind::Create, r, -1),
        Request::Create2(r) => create(CreateKind::Create2, r, -1),
        Request::CreateContainer(r) => create(CreateKind::Container, r, -1),
        Request::CreateTtl(r) => create_ttl(r),
        Request::Delete(r) => delete(r),
        Request::DeleteContainer(r) => WriteRequest::DeleteContainer {
            path: r.path.clone(),
        },
        Request::SetData(r) => set_data(r),
        Request::SetAcl(r) => WriteRequest::SetAcl {
            path: r.path.clone(),
            acl: r.acl.clone(),
            version: r.version,
        },
        Request::Check(r) => check(r),
        Request::Multi(m) => {
            let mut ops = Vec::with_capacity(m.ops.len());
            for op in &m.ops {
                ops.push(multi_op(op)?);
            }
            WriteRequest::Multi(ops)
        }
        Request::CloseSession => WriteRequest::CloseSession,
        _ => return None,
    })
}

// Requests and multi ops carry the same records; these turn one record into the tree's write.

fn create_ttl(r: &crate::wire::client::CreateTtlRequest) -> WriteRequest {
    WriteRequest::Create {
        kind: CreateKind::Ttl,
        path: r.path.clone(),
        data: r.data.clone(),
        acl: r.acl.clone(),
        flags: r.flags,
        ttl_ms: r.ttl_ms,
    }
}

fn delete(r: &crate::wire::client::DeleteRequest) -> WriteRequest {
    WriteRequest::Delete {
        path: r.path.clone(),
        version: r.version,
    }
}

fn set_data(r: &crate::wire::client::SetDataRequest) -> WriteRequest {
    WriteRequest::SetData {
        path: r.path.clone(),
        data: r.data.clone(),
        version: r.version,
    }
}

fn check(r: &crate::wire::client::CheckVersionRequest) -> WriteRequest {
    WriteRequest::Check {
        path: r.path.clone(),
        version: r.version,
    }
}

fn create(kind: CreateKind, r: &crate::wire::client::CreateRequest, ttl_ms: i64) -> WriteRequest {
    WriteRequest::Create {
        kind,
        path: r.path.clone(),
        data: r.data.clone(),
        acl: r.acl.clone(),
        flags: r.flags,
        ttl_ms,
    }
}

fn multi_op(op: &MultiOp) -> Option<WriteRequest> {
    Some(match op {
        MultiOp::Create(r) => create(CreateKind::Create, r, -1),
        MultiOp::Create2(r) => create(CreateKind::Create2, r, -1),
        MultiOp::CreateContainer(r) => create(CreateKind::Container, r, -1),
        MultiOp::CreateTtl(r) => create_ttl(r),
        MultiOp::Delete(r) => delete(r),
        MultiOp::SetData(r) => set_data(r),
        MultiOp::Check(r) => check(r),
        MultiOp::GetChildren(_) | MultiOp::GetData(_) => return None,
    })
}

/// The reply frame of an applied write (FinalRequestProcessor): a multi's header err is 0.
pub fn write_reply_frame(xid: i32, zxid: i64, result: &TxnResult) -> Vec<u8> {
    match result {
        TxnResult::Create {
            kind: CreateKind::Create,
            path,
            ..
        } => reply_frame(xid, zxid, 0, Some(&CreateResponse { path: path.clone() })),
        TxnResult::Create { path, stat, .. } => reply_frame(
            xid,
            zxid,
            0,
            Some(&Create2Response {
                path: path.clone(),
                stat: *stat,
            }),
        ),
        TxnResult::SetData { stat, .. } | TxnResult::SetAcl { stat, .. } => {
            reply_frame(xid, zxid, 0, Some(&StatResponse { stat: *stat }))
        }
        TxnResult::Multi(results) => {
            let results = results.iter().map(op_result).collect();
            reply_frame(xid, zxid, 0, Some(&MultiResponse { results }))
        }
        TxnResult::Error { err } => header_frame(xid, zxid, *err),
        TxnResult::Delete { .. }
        | TxnResult::Check { .. }
        | TxnResult::CreateSession { .. }
        | TxnResult::CloseSession { .. } => header_frame(xid, zxid, 0),
    }
}

fn op_result(r: &TxnResult) -> OpResult {
    match r {
        TxnResult::Create {
            kind: CreateKind::Create,
            path,
            ..
        } => OpResult::Create { path: path.clone() },
        TxnResult::Create { path, stat, .. } => OpResult::Create2 {
            path: path.clone(),
            stat: *stat,
        },
        TxnResult::Delete { .. } => OpResult::Delete,
        TxnResult::SetData { stat, .. } => OpResult::SetData { stat: *stat },
        TxnResult::Check { .. } => OpResult::Check,
        TxnResult::Error { err } => OpResult::Error { err: *err },
        // Not possible inside a multi; report a runtime inconsistency rather than panic.
        TxnResult::SetAcl { .. }
        | TxnResult::Multi(_)
        | TxnResult::CreateSession { .. }
        | TxnResult::CloseSession { .. } => OpResult::Error { err: -2 },
    }
}

/// The `WatcherType` of a check/removeWatches request, or BadArguments.
pub fn watcher_type(code: i32) -> Result<WatcherType, ZkError> {
    WatcherType::from_code(code).ok_or(ZkError::BadArguments)
}
