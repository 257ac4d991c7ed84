//! The node task: the single owner of write ordering (`spec/server.md` "The write path").
//!
//! For every write, in arrival order: `tree::prepare_logged` against the applied tree plus the
//! [`PendingChanges`] of txns still in flight (stamped with the wall clock and the next zxid) →
//! txn bytes → [`Committer::submit`]. When the committer reports progress (`Upto(zxid)`), the
//! in-flight txns up to it are applied in zxid order under the tree lock; for each, the watch
//! events are queued on the watching connections, then the reply on the requester's connection,
//! and only then is the lock released — so no connection reads a txn's effects before they are
//! durable and before its events are queued (the style guide's apply-order rule).
//!
//! The task also owns the session clock (expiry → CloseSession txns), the container/TTL reaper,
//! snapshots every `snapCount` txns (serialised off the task) and autopurge.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::server::client::ConnHandle;
use crate::server::committer::{CommitProgress, Committer, MAX_IN_FLIGHT};
use crate::server::ops::{notification_frame, to_write_request, write_reply_frame};
use crate::server::sessions::SessionIds;
use crate::server::shutdown::Shutdown;
use crate::server::{wall_clock_ms, ServerError, Shared};
use crate::tree::{
    prepare_logged, PendingChanges, PrepareContext, Txn, TxnHeader, TxnResult, WatcherId,
    WriteRequest, ZkError,
};
use crate::wire::client::Request;
use crate::wire::records::Id;

/// What connections ask of the node task.
#[derive(Debug)]
pub enum NodeMsg {
    /// A client write.
    Write {
        /// The requesting connection (gets the reply).
        conn: ConnHandle,
        /// Its session.
        session_id: i64,
        /// The request's xid.
        xid: i32,
        /// The decoded request.
        request: Request,
        /// The connection's authenticated ids.
        auth_ids: Vec<Id>,
        /// When the frame was read (latency).
        started: Instant,
    },
    /// A handshake needs a new session; answered with its id once the txn is committed.
    CreateSession {
        /// Negotiated timeout.
        timeout_ms: u32,
        /// Where the session id goes.
        reply: oneshot::Sender<i64>,
    },
}

/// Who waits for an in-flight txn.
enum Waiter {
    /// A client's write: reply on its connection.
    Client {
        conn: ConnHandle,
        xid: i32,
        started: Instant,
    },
    /// A handshake.
    Handshake(oneshot::Sender<i64>),
    /// Server-made (expiry, reaper): nobody.
    Server,
}

struct InFlight {
    hdr: TxnHeader,
    txn: Txn,
    waiter: Waiter,
}

/// The task owning write ordering.
pub struct NodeTask {
    shared: Arc<Shared>,
    inbox: mpsc::Receiver<NodeMsg>,
    committer: Committer,
    progress: watch::Receiver<CommitProgress>,
    session_ids: SessionIds,
    shutdown: Shutdown,
    pending: PendingChanges,
    in_flight: VecDeque<InFlight>,
    next_zxid: i64,
    txns_since_snapshot: u64,
    snapshot_running: Option<tokio::task::JoinHandle<()>>,
}

impl NodeTask {
    /// A node task over recovered state.
    pub fn new(
        shared: Arc<Shared>,
        inbox: mpsc::Receiver<NodeMsg>,
        committer: Committer,
        progress: watch::Receiver<CommitProgress>,
        session_ids: SessionIds,
        shutdown: Shutdown,
    ) -> NodeTask {
        let next_zxid = shared.last_zxid() + 1;
        NodeTask {
            shared,
            inbox,
            committer,
            progress,
            session_ids,
            shutdown,
            pending: PendingChanges::new(),
            in_flight: VecDeque::new(),
            next_zxid,
            txns_since_snapshot: 0,
            snapshot_running: None,
        }
    }

    /// Runs until shutdown; then makes the log durable and returns.
    pub async fn run(mut self) -> Result<(), ServerError> {
        let tick_ms = u64::from(self.shared.config.tick_ms.max(2));
        let mut session_tick = tokio::time::interval(Duration::from_millis((tick_ms / 2).max(1)));
        session_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reaper_ms = self.shared.config.container_check_interval_ms.max(1);
        let mut reaper_tick = tokio::time::interval(Duration::from_millis(reaper_ms));
        reaper_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let purge_hours = u64::from(self.shared.config.autopurge_purge_interval_hours);
        let mut purge_tick = tokio::time::interval(Duration::from_secs(purge_hours.max(1) * 3600));
        purge_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            let room = self.in_flight.len() < MAX_IN_FLIGHT;
            tokio::select! {
                msg = self.inbox.recv(), if room => {
                    let Some(msg) = msg else { break Ok(()) };
                    self.on_messages(msg).await;
                }
                changed = self.progress.changed() => {
                    if changed.is_err() {
                        break Err(ServerError::Recovery("log writer stopped".into()));
                    }
                    let progress = self.progress.borrow_and_update().clone();
                    match progress {
                        CommitProgress::Upto(zxid) => self.apply_committed(zxid).await,
                        CommitProgress::Failed(e) => {
                            let e = crate::storage::GroupCommitError::Failed(e);
                            tracing::error!(
                                error = &e as &dyn std::error::Error,
                                "txn log failed; stopping the server"
                            );
                            break Err(ServerError::LogFailed(e));
                        }
                    }
                }
                _ = session_tick.tick() => self.expire_sessions().await,
                _ = reaper_tick.tick() => self.reap_containers().await,
                _ = purge_tick.tick(), if purge_hours > 0 => {
                    self.committer.purge(self.shared.config.autopurge_snap_retain_count as usize);
                }
                _ = self.shutdown.recv() => break Ok(()),
            }
        };
        if let Some(h) = self.snapshot_running.take() {
            let _ = h.await;
        }
        let closed = self.committer.close().await;
        tracing::info!(
            last_zxid = format_args!("{:#x}", self.next_zxid - 1),
            "txn log flushed"
        );
        result.and(closed)
    }

    /// Prepares `first` and whatever else is already queued (bounded), then submits them.
    async fn on_messages(&mut self, first: NodeMsg) {
        let shared = Arc::clone(&self.shared);
        let tree = shared.tree.lock().await;
        let mut msg = Some(first);
        let mut n = 0;
        while let Some(m) = msg.take() {
            self.prepare_one(&tree, m);
            n += 1;
            if n >= 1024 || self.in_flight.len() >= MAX_IN_FLIGHT {
                break;
            }
            msg = self.inbox.try_recv().ok();
        }
    }

    fn prepare_one(&mut self, tree: &crate::tree::DataTree, msg: NodeMsg) {
        let now_ms = wall_clock_ms();
        let zxid = self.next_zxid;
        let (session_id, cxid, auth_ids, request, waiter) = match msg {
            NodeMsg::Write {
                conn,
                session_id,
                xid,
                request,
                auth_ids,
                started,
            } => {
                let w = Waiter::Client { conn, xid, started };
                let req = match &request {
                    Request::Reconfig(_) => Err(if self.shared.config.reconfig_enabled {
                        // Standalone ZooKeeper: reconfig is a leader-only operation.
                        ZkError::Unimplemented
                    } else {
                        ZkError::ReconfigDisabled
                    }),
                    r => to_write_request(r).ok_or(ZkError::MarshallingError),
                };
                (session_id, xid, auth_ids, req, w)
            }
            NodeMsg::CreateSession { timeout_ms, reply } => {
                let id = self.session_ids.next_id();
                let req = Ok(WriteRequest::CreateSession {
                    timeout_ms: timeout_ms as i32,
                });
                (id, 0, Vec::new(), req, Waiter::Handshake(reply))
            }
        };
        let ctx = PrepareContext {
            session_id,
            cxid,
            auth_ids: &auth_ids,
            now_ms,
            zxid,
            extended_types_enabled: self.shared.config.extended_types_enabled,
            enforce_quota: self.shared.config.enforce_quota,
        };
        let (hdr, txn) = match request {
            Ok(req) => prepare_logged(tree, &mut self.pending, &req, &ctx),
            Err(e) => {
                let txn = Txn::error(e);
                let hdr = TxnHeader {
                    client_id: session_id,
                    cxid,
                    zxid,
                    time_ms: now_ms,
                    txn_type: txn.op_code(),
                };
                (hdr, txn)
            }
        };
        self.submit(hdr, txn, waiter);
    }

    fn submit(&mut self, hdr: TxnHeader, txn: Txn, waiter: Waiter) {
        let payload = crate::tree::txn::encode(&hdr, &txn);
        if let Err(e) = self.committer.submit(hdr.zxid, payload) {
            // The writer is gone; the progress channel reports why and the loop stops.
            tracing::error!(
                error = &e as &dyn std::error::Error,
                zxid = format_args!("{:#x}", hdr.zxid),
                "submit failed"
            );
            return;
        }
        self.next_zxid = hdr.zxid + 1;
        self.in_flight.push_back(InFlight { hdr, txn, waiter });
    }

    /// Applies every in-flight txn with zxid ≤ `upto`, in order, under the tree lock.
    async fn apply_committed(&mut self, upto: i64) {
        if self.in_flight.front().map_or(true, |f| f.hdr.zxid > upto) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let mut tree = shared.tree.lock().await;
        while self.in_flight.front().is_some_and(|f| f.hdr.zxid <= upto) {
            let Some(f) = self.in_flight.pop_front() else {
                break;
            };
            let outcome = tree.apply(&f.hdr, &f.txn);
            self.pending.applied_through(f.hdr.zxid);
            self.shared.last_zxid.store(f.hdr.zxid, Ordering::SeqCst);
            self.txns_since_snapshot += 1;
            // 1. Watch events, before the reply and before the lock is released.
            for (WatcherId(conn_id), event) in &outcome.events {
                if let Some(c) = self.shared.conns.by_conn_id(*conn_id) {
                    c.send(notification_frame(event));
                }
            }
            // 2. Session bookkeeping.
            let now = self.shared.now_ms();
            match &outcome.result {
                TxnResult::CreateSession {
                    session_id,
                    timeout_ms,
                } => {
                    self.shared
                        .with_sessions(|t| t.add(*session_id, (*timeout_ms).max(0) as u32, now));
                }
                TxnResult::CloseSession { session_id } => {
                    self.shared.with_sessions(|t| t.remove(*session_id));
                }
                _ => {}
            }
            // 3. The reply.
            match f.waiter {
                Waiter::Client { conn, xid, started } => {
                    conn.send(write_reply_frame(xid, f.hdr.zxid, &outcome.result));
                    conn.record_latency(started, &self.shared);
                    conn.write_answered();
                    if matches!(f.txn, Txn::CloseSession { .. }) {
                        conn.close();
                    }
                }
                Waiter::Handshake(reply) => {
                    let _ = reply.send(f.hdr.client_id);
                }
                Waiter::Server => {
                    if let (Txn::CloseSession { .. }, Some(c)) =
                        (&f.txn, self.shared.conns.by_session(f.hdr.client_id))
                    {
                        // Expired: the connection still holding it is closed.
                        c.close();
                    }
                }
            }
        }
        if self.txns_since_snapshot >= self.shared.config.snap_count
            && self.snapshot_running.is_none()
        {
            self.start_snapshot(&tree);
        }
        drop(tree);
        if self
            .snapshot_running
            .as_ref()
            .is_some_and(|h| h.is_finished())
        {
            self.snapshot_running = None;
        }
    }

    /// Rolls the log and writes a snapshot of the tree in a blocking task.
    fn start_snapshot(&mut self, tree: &crate::tree::DataTree) {
        self.txns_since_snapshot = 0;
        let copy = tree.clone();
        let zxid = copy.last_processed_zxid();
        self.committer.roll_log();
        let dir = self.committer.snap_dir();
        self.snapshot_running = Some(tokio::task::spawn_blocking(move || {
            let payload = crate::server::committer::snapshot_payload(&copy);
            match crate::storage::snapshot::write_snapshot(&dir, zxid as u64, &payload) {
                Ok(path) => tracing::info!(path = %path.display(), "snapshot written"),
                Err(e) => tracing::warn!(error = &e as &dyn std::error::Error, "snapshot failed"),
            }
        }));
    }

    /// Expired sessions become CloseSession txns (deleting their ephemerals in one txn).
    async fn expire_sessions(&mut self) {
        if let Some(h) = &self.snapshot_running {
            if h.is_finished() {
                self.snapshot_running = None;
            }
        }
        let now = self.shared.now_ms();
        // Never more than the pipeline has room for: the rest stay due for the next tick.
        let room = MAX_IN_FLIGHT.saturating_sub(self.in_flight.len()).min(1024);
        let expired = self.shared.with_sessions(|t| t.expired(now, room));
        if expired.is_empty() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let tree = shared.tree.lock().await;
        for id in expired {
            tracing::info!(session = format_args!("{id:#x}"), "session expired");
            self.prepare_server(&tree, id, WriteRequest::CloseSession);
        }
    }

    /// The container/TTL reaper (ZooKeeper's ContainerManager) on the server clock.
    async fn reap_containers(&mut self) {
        let shared = Arc::clone(&self.shared);
        let tree = shared.tree.lock().await;
        let candidates = tree.expired_containers_and_ttls(wall_clock_ms());
        for path in candidates.into_iter().take(10_000) {
            self.prepare_server(&tree, 0, WriteRequest::DeleteContainer { path });
        }
    }

    fn prepare_server(&mut self, tree: &crate::tree::DataTree, session_id: i64, req: WriteRequest) {
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            return; // retried at the next tick
        }
        let ctx = PrepareContext {
            session_id,
            cxid: 0,
            auth_ids: &[],
            now_ms: wall_clock_ms(),
            zxid: self.next_zxid,
            extended_types_enabled: self.shared.config.extended_types_enabled,
            enforce_quota: self.shared.config.enforce_quota,
        };
        let (hdr, txn) = prepare_logged(tree, &mut self.pending, &req, &ctx);
        if matches!(txn, Txn::Error { .. }) && matches!(req, WriteRequest::DeleteContainer { .. }) {
            // Already gone or no longer empty: nothing to log.
            return;
        }
        self.submit(hdr, txn, Waiter::Server);
    }
}
