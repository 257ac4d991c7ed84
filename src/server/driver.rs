//! The driver: the single owner of the protocol [`Node`] (`spec/server.md` "The write path").
//!
//! Role: one task, one bounded inbox of [`NodeMsg`]s from the connections, and a loop that turns
//! everything that happens into an [`Input`] for `Node::step` and then executes the node's
//! effects in the order it pushed them:
//!
//! - `PersistTxns` (with its commit watermark), `PersistEpoch`, `TruncateLog`, `InstallSnapshot`
//!   → [`StorageExec`] (group commit; the disk's confirmations come back as `Input::Persisted` /
//!   `EpochPersisted` / `Truncated`, and an installed SNAP as `StorageEvent::SnapshotInstalled`:
//!   [`Applier::install`] replaces the tree, then `Input::SnapshotInstalled`);
//! - `SendSnapshot` → `apply::snap_message` (the tree serialised at the SNAP's base), then sent
//!   like `Send`;
//! - `Commit { upto }` → [`Applier::apply_committed`] under the tree lock (tree, watch events,
//!   replies);
//! - a snapshot (every `snapCount` applied txns, written off the task) that reached the disk
//!   comes back as `Input::Compacted { upto }`: the core drops its log up to the snapshot;
//! - `SetTimer` / `CancelTimer` → [`Timers`] (expiry comes back as `Input::Timeout`);
//! - `Proposed { zxid }` checks that the core proposed the write under the zxid the pipeline
//!   stamped it with; `Reject` refuses the write; `RoleChanged` is logged.
//!
//! Today the node is a one-voter ensemble (`voters = [me]`, the standalone server: no `server.N`
//! lines): at start it is fed `Input::Start`, elects itself (a quorum of one, no finalize wait
//! since no other vote can arrive), persists epoch `acceptedEpoch + 1` through discovery and sync
//! with itself and reaches broadcast; only then does the driver read its inbox. A write is then:
//! `Node::next_zxid` → [`Pipeline::prepare`] (stamped with that zxid) → `Input::Write` →
//! `PersistTxns` → group commit → `Persisted` → `Commit` → apply → reply. No peer link exists,
//! so `Send`, `Disconnect` and `Prepare` (a learner's forwarded request) cannot occur and are
//! treated as bugs.
//!
//! Memory: the core's in-memory log (`Node::log`) holds the proposals since the last durable
//! snapshot plus those in flight, so memory is bounded by `snapCount`, not by the txns written
//! since start (`spec/server.md` "The write path" has the measurement).
//!
//! Besides writes, the driver owns the session clock (expiry → `closeSession` txns), the
//! container/TTL reaper, snapshots every `snapCount` txns (serialised off the task) and autopurge.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, MutexGuard};
use tokio::task::JoinHandle;

use crate::protocol::{
    DurableState, Effect, Effects, Input, Node, NodeConfig, PeerMsg, RejectReason, ServerId, Zxid,
};
use crate::server::apply::{snap_message, Applier, Waiter};
pub use crate::server::pipeline::NodeMsg;
use crate::server::pipeline::{Pipeline, Prepared};
use crate::server::sessions::SessionIds;
use crate::server::shutdown::Shutdown;
use crate::server::storage_exec::{StorageEvent, StorageExec, MAX_IN_FLIGHT};
use crate::server::timers::Timers;
use crate::server::{wall_clock_ms, ServerError, Shared};
use crate::storage::{GroupCommitError, Storage};
use crate::tree::{DataTree, WriteRequest};

/// Messages prepared per tree-lock acquisition, at most.
const BATCH: usize = 1024;

/// The protocol configuration of a standalone server: a one-voter ensemble of server 1.
pub fn standalone_node_config(config: &crate::config::ServerConfig) -> NodeConfig {
    let mut node = NodeConfig::new(ServerId(1), [ServerId(1)]);
    // Nobody else can send a better vote: decide at once.
    node.finalize_wait_ticks = 0;
    if let Some(ticks) = config.init_limit_ticks {
        node.init_limit_ticks = ticks;
    }
    if let Some(ticks) = config.sync_limit_ticks {
        node.sync_limit_ticks = ticks;
    }
    node
}

/// The task owning the node.
pub struct Driver<S: Storage + 'static> {
    shared: Arc<Shared>,
    inbox: mpsc::Receiver<NodeMsg>,
    node: Node,
    effects: Effects,
    storage: StorageExec<S>,
    timers: Timers,
    pipeline: Pipeline,
    applier: Applier,
    shutdown: Shutdown,
    snapshot_running: Option<JoinHandle<()>>,
    /// The outcome of the last `Input::Write`: proposed (with its zxid) or refused.
    write_outcome: Option<Result<Zxid, RejectReason>>,
}

type TreeGuard<'a> = Option<MutexGuard<'a, DataTree>>;

impl<S: Storage + 'static> Driver<S> {
    /// A driver over recovered state: `durable` is what the tree in `shared` and the storage
    /// hold (see `server/recovery.rs`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shared: Arc<Shared>,
        inbox: mpsc::Receiver<NodeMsg>,
        node_config: NodeConfig,
        durable: DurableState,
        storage: StorageExec<S>,
        session_ids: SessionIds,
        shutdown: Shutdown,
    ) -> Driver<S> {
        let applied = durable.committed.max(durable.log_base);
        let tick = Duration::from_millis(u64::from(shared.config.tick_ms.max(1)));
        let pipeline = Pipeline::new(&shared.config, session_ids);
        Driver {
            node: Node::new(node_config, durable),
            effects: Effects::new(),
            storage,
            timers: Timers::new(tick),
            pipeline,
            applier: Applier::new(applied),
            shutdown,
            snapshot_running: None,
            write_outcome: None,
            inbox,
            shared,
        }
    }

    /// Runs until shutdown (or a storage failure); then makes the log durable and returns the
    /// storage.
    pub async fn run(mut self) -> Result<S, ServerError> {
        let tick_ms = u64::from(self.shared.config.tick_ms.max(2));
        let mut session_tick = tokio::time::interval(Duration::from_millis((tick_ms / 2).max(1)));
        session_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reaper_ms = self.shared.config.container_check_interval_ms.max(1);
        let mut reaper_tick = tokio::time::interval(Duration::from_millis(reaper_ms));
        reaper_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let purge_hours = u64::from(self.shared.config.autopurge_purge_interval_hours);
        let mut purge_tick = tokio::time::interval(Duration::from_secs(purge_hours.max(1) * 3600));
        purge_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut result = self.step(Input::Start, &mut None).await;
        while result.is_ok() {
            let room = self.applier.waiting() < MAX_IN_FLIGHT && self.in_flight() < MAX_IN_FLIGHT;
            let serving = self.node.next_zxid().is_ok();
            result = tokio::select! {
                event = self.storage.next_event() => self.on_storage_event(event).await,
                timer = self.timers.expired() => self.step(Input::Timeout(timer), &mut None).await,
                msg = self.inbox.recv(), if serving && room => match msg {
                    Some(msg) => self.on_messages(msg).await,
                    None => break,
                },
                _ = session_tick.tick() => self.expire_sessions().await,
                _ = reaper_tick.tick() => self.reap_containers().await,
                _ = purge_tick.tick(), if purge_hours > 0 => {
                    self.storage.purge(self.shared.config.autopurge_snap_retain_count as usize)
                }
                _ = self.shutdown.recv() => break,
            };
            if result.is_ok() && self.node.next_zxid() == Err(RejectReason::ZxidRollover) {
                result = self.step_down_on_rollover().await;
            }
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, "stopping the server");
        }
        if let Some(h) = self.snapshot_running.take() {
            let _ = h.await;
        }
        let closed = self.storage.close().await;
        tracing::info!(
            last_zxid = %self.node.last_zxid(),
            committed = %self.node.committed_zxid(),
            "txn log flushed"
        );
        result.and(closed)
    }

    /// Proposals in the core's log not yet committed.
    fn in_flight(&self) -> usize {
        let log = self.node.log();
        log.len() - self.node.committed_log().len()
    }

    async fn on_storage_event(&mut self, event: StorageEvent) -> Result<(), ServerError> {
        let input = match event {
            StorageEvent::Persisted(upto) => Input::Persisted { upto },
            StorageEvent::EpochPersisted => Input::EpochPersisted,
            StorageEvent::Truncated(after) => Input::Truncated { after },
            StorageEvent::SnapshotDurable(upto) => Input::Compacted { upto },
            StorageEvent::SnapshotInstalled { base, tree } => {
                let shared = Arc::clone(&self.shared);
                let mut guard = shared.tree.lock().await;
                let orphans = self.applier.install(&mut guard, *tree, base, &shared);
                orphans.into_iter().for_each(refuse_waiter);
                Input::SnapshotInstalled { base }
            }
            StorageEvent::Failed(e) => {
                return Err(ServerError::LogFailed(GroupCommitError::Failed(e)))
            }
        };
        self.step(input, &mut None).await
    }

    /// One input through the core, then its effects in order.
    async fn step<'a>(
        &mut self,
        input: Input,
        tree: &mut TreeGuard<'a>,
    ) -> Result<(), ServerError> {
        self.node.step(input, &mut self.effects);
        let stats = &self.shared.stats;
        stats
            .core_log_entries
            .store(self.node.log().len() as u64, Ordering::Relaxed);
        stats
            .core_log_base
            .store(self.node.log_base().0, Ordering::Relaxed);
        let mut effects = std::mem::take(&mut self.effects);
        let mut result = Ok(());
        for effect in effects.drain() {
            if result.is_ok() {
                result = self.execute(effect, tree).await;
            }
        }
        self.effects = effects;
        result
    }

    async fn execute<'a>(
        &mut self,
        effect: Effect,
        tree: &mut TreeGuard<'a>,
    ) -> Result<(), ServerError> {
        match effect {
            Effect::PersistTxns {
                proposals,
                committed,
            } => self.storage.persist_txns(&proposals, committed),
            Effect::PersistEpoch { accepted, current } => {
                self.storage.persist_epochs(accepted, current)
            }
            Effect::TruncateLog { after } => self.storage.truncate(after),
            Effect::InstallSnapshot { base, snapshot } => {
                self.storage.install_snapshot(base, snapshot)
            }
            Effect::SendSnapshot {
                to,
                base,
                proposals,
                committed,
            } => {
                let msg = match tree.as_ref() {
                    Some(guard) => snap_message(guard, base, proposals, committed)?,
                    None => {
                        let guard = self.shared.tree.lock().await;
                        snap_message(&guard, base, proposals, committed)?
                    }
                };
                self.send(to, msg)
            }
            Effect::Commit { upto } => self.apply(upto, tree).await,
            Effect::Proposed { zxid } => {
                self.write_outcome = Some(Ok(zxid));
                Ok(())
            }
            Effect::Reject { reason, .. } => {
                self.write_outcome = Some(Err(reason));
                Ok(())
            }
            e @ (Effect::SetTimer { .. } | Effect::CancelTimer(_)) => {
                self.timers.execute(&e);
                Ok(())
            }
            Effect::RoleChanged {
                state,
                leader,
                epoch,
            } => {
                tracing::info!(?state, ?leader, %epoch, "role changed");
                Ok(())
            }
            Effect::Send { to, msg } => self.send(to, msg),
            e @ (Effect::Disconnect { .. } | Effect::Prepare { .. }) => {
                panic!("a one-voter ensemble has no peers, yet the core asked for {e:?}")
            }
        }
    }

    /// `Effect::Send` (and the SNAP built for `Effect::SendSnapshot`).
    fn send(&mut self, to: ServerId, msg: PeerMsg) -> Result<(), ServerError> {
        panic!(
            "a one-voter ensemble has no peers, yet the core sent {} to {to}",
            msg.name()
        )
    }

    /// `Effect::Commit`: apply under the tree lock (taken here unless the caller holds it).
    async fn apply<'a>(&mut self, upto: Zxid, tree: &mut TreeGuard<'a>) -> Result<(), ServerError> {
        match tree.as_mut() {
            Some(guard) => self.apply_locked(upto, guard),
            None => {
                let shared = Arc::clone(&self.shared);
                let mut guard = shared.tree.lock().await;
                self.apply_locked(upto, &mut guard)
            }
        }
    }

    fn apply_locked(&mut self, upto: Zxid, tree: &mut DataTree) -> Result<(), ServerError> {
        self.applier
            .apply_committed(tree, self.node.committed_log(), upto, &self.shared)?;
        self.pipeline.applied_through(self.applier.applied());
        if self
            .snapshot_running
            .as_ref()
            .is_some_and(|h| h.is_finished())
        {
            self.snapshot_running = None;
        }
        if self.applier.txns_since_snapshot() >= self.shared.config.snap_count
            && self.snapshot_running.is_none()
        {
            self.applier.snapshot_taken();
            self.snapshot_running = Some(self.storage.snapshot(tree.clone())?);
        }
        Ok(())
    }

    /// Prepares `first` and whatever else is already queued (bounded) under one tree lock, each
    /// stamped with the core's next zxid and fed as `Input::Write`.
    async fn on_messages(&mut self, first: NodeMsg) -> Result<(), ServerError> {
        let shared = Arc::clone(&self.shared);
        let mut tree = Some(shared.tree.lock().await);
        let mut msg = Some(first);
        let mut n = 0;
        while let Some(m) = msg.take() {
            let Ok(zxid) = self.node.next_zxid() else {
                refuse(m);
                break;
            };
            let guard = tree.as_ref().expect("held for the batch");
            let prepared = self.pipeline.prepare(guard, m, zxid);
            self.propose(prepared, &mut tree).await?;
            n += 1;
            if n >= BATCH || self.in_flight() >= MAX_IN_FLIGHT {
                break;
            }
            msg = self.inbox.try_recv().ok();
        }
        Ok(())
    }

    /// `Input::Write` for a prepared txn; its waiter is registered under the stamped zxid first,
    /// and the core must propose it under exactly that zxid.
    async fn propose<'a>(
        &mut self,
        prepared: Prepared,
        tree: &mut TreeGuard<'a>,
    ) -> Result<(), ServerError> {
        let Prepared { zxid, data, waiter } = prepared;
        if let Some(waiter) = waiter {
            self.applier.expect(zxid, waiter);
        }
        self.write_outcome = None;
        self.step(Input::Write { data }, tree).await?;
        match self.write_outcome.take() {
            Some(Ok(proposed)) => {
                assert_eq!(
                    proposed, zxid,
                    "the core proposed the write as {proposed}, not as the stamped {zxid}"
                );
            }
            outcome => {
                // Refused (the core left broadcast in this very step): nobody will apply it.
                tracing::warn!(%zxid, ?outcome, "write refused by the core");
                if let Some(waiter) = self.applier.forget(zxid) {
                    refuse_waiter(waiter);
                }
            }
        }
        Ok(())
    }

    /// The epoch's zxid counter is exhausted: the core refuses the next write and steps down;
    /// the node then elects itself again under a new epoch (ZooKeeper's XidRolloverException).
    async fn step_down_on_rollover(&mut self) -> Result<(), ServerError> {
        tracing::warn!(last = %self.node.last_zxid(), "zxid counter exhausted: new epoch");
        self.write_outcome = None;
        self.step(Input::Write { data: Bytes::new() }, &mut None)
            .await?;
        assert_eq!(
            self.write_outcome.take(),
            Some(Err(RejectReason::ZxidRollover)),
            "the core must refuse a write at rollover"
        );
        Ok(())
    }

    /// Expired sessions become closeSession txns (deleting their ephemerals in one txn).
    async fn expire_sessions(&mut self) -> Result<(), ServerError> {
        if self.node.next_zxid().is_err() {
            return Ok(());
        }
        let now = self.shared.now_ms();
        // Never more than the pipeline has room for: the rest stay due for the next tick.
        let room = MAX_IN_FLIGHT.saturating_sub(self.in_flight()).min(BATCH);
        let expired = self.shared.with_sessions(|t| t.expired(now, room));
        if expired.is_empty() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let mut tree = Some(shared.tree.lock().await);
        for id in expired {
            tracing::info!(session = format_args!("{id:#x}"), "session expired");
            self.propose_server(&mut tree, id, WriteRequest::CloseSession)
                .await?;
        }
        Ok(())
    }

    /// The container/TTL reaper (ZooKeeper's ContainerManager) on the server clock.
    async fn reap_containers(&mut self) -> Result<(), ServerError> {
        if self.node.next_zxid().is_err() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let mut tree = Some(shared.tree.lock().await);
        let candidates = tree
            .as_ref()
            .expect("held")
            .expired_containers_and_ttls(wall_clock_ms());
        for path in candidates.into_iter().take(10_000) {
            self.propose_server(&mut tree, 0, WriteRequest::DeleteContainer { path })
                .await?;
        }
        Ok(())
    }

    async fn propose_server<'a>(
        &mut self,
        tree: &mut TreeGuard<'a>,
        session_id: i64,
        req: WriteRequest,
    ) -> Result<(), ServerError> {
        if self.in_flight() >= MAX_IN_FLIGHT {
            return Ok(()); // retried at the next tick
        }
        let Ok(zxid) = self.node.next_zxid() else {
            return Ok(());
        };
        let guard = tree.as_ref().expect("held by the caller");
        match self.pipeline.prepare_server(guard, session_id, req, zxid) {
            Some(prepared) => self.propose(prepared, tree).await,
            None => Ok(()),
        }
    }
}

/// A message that can no longer be proposed here: its connection is closed (the client
/// reconnects), as ZooKeeper closes client connections when its leader steps down.
fn refuse(msg: NodeMsg) {
    match msg {
        NodeMsg::Write { conn, .. } => {
            conn.write_answered();
            conn.close();
        }
        NodeMsg::CreateSession { reply, .. } => drop(reply),
    }
}

fn refuse_waiter(waiter: Waiter) {
    match waiter {
        Waiter::Client { conn, .. } => {
            conn.write_answered();
            conn.close();
        }
        Waiter::Handshake(reply) => drop(reply),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicI64;
    use std::sync::Mutex;
    use std::time::Instant;

    use tokio::sync::{broadcast, oneshot};

    use super::*;
    use crate::config::ServerConfig;
    use crate::server::sessions::SessionTracker;
    use crate::server::{Connections, ServerStats};
    use crate::storage::MemStorage;

    const EPOCH_1: u64 = 1 << 32;
    const WAIT: Duration = Duration::from_secs(30);

    /// What a test holds of a driver it started on `MemStorage`.
    type Started = (
        Arc<Shared>,
        mpsc::Sender<NodeMsg>,
        broadcast::Sender<()>,
        tokio::task::JoinHandle<Result<MemStorage, ServerError>>,
    );

    /// A driver over a fresh tree and `MemStorage`, running on its own task.
    fn spawn_on_mem_storage(config: &ServerConfig) -> Started {
        let (node_tx, inbox) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            config: config.clone(),
            tree: tokio::sync::Mutex::new(DataTree::new()),
            sessions: Mutex::new(SessionTracker::new(config.tick_ms)),
            conns: Connections::default(),
            node_tx: node_tx.clone(),
            stats: Arc::new(ServerStats::default()),
            last_zxid: AtomicI64::new(0),
            started: Instant::now(),
        });
        let storage = StorageExec::spawn(MemStorage::new(), None, None).expect("writer");
        let (notify, _) = broadcast::channel(1);
        let driver = Driver::new(
            Arc::clone(&shared),
            inbox,
            standalone_node_config(config),
            DurableState::default(),
            storage,
            SessionIds::new(1, 0, []),
            Shutdown::new(notify.subscribe()),
        );
        (shared, node_tx, notify, tokio::spawn(driver.run()))
    }

    /// The whole write path on `MemStorage`: the driver elects the one-voter node, proposes two
    /// createSession txns under the core's zxids, applies them after the group commit reported
    /// them durable, and leaves exactly those txns and epochs in the storage.
    #[tokio::test]
    async fn create_sessions_through_the_core_on_mem_storage() {
        let config = ServerConfig::standalone("/nonexistent".into(), 0, 2000);
        let (shared, node_tx, notify, handle) = spawn_on_mem_storage(&config);
        let mut ids = Vec::new();
        for counter in 1..=2u64 {
            let (reply, answer) = oneshot::channel();
            let msg = NodeMsg::CreateSession {
                timeout_ms: 30_000,
                reply,
            };
            node_tx.send(msg).await.expect("driver inbox");
            let id = tokio::time::timeout(WAIT, answer)
                .await
                .expect("answered in time")
                .expect("session created");
            // Answered only after apply: the tree holds the session, at the core's zxid.
            assert!(shared.tree.lock().await.sessions().contains_key(&id));
            assert_eq!(shared.last_zxid() as u64, EPOCH_1 | counter);
            ids.push(id);
        }
        notify.send(()).expect("driver listening");
        let mut storage = handle.await.expect("driver task").expect("clean stop");
        let logged: Vec<u64> = storage
            .read_from(0)
            .expect("read log")
            .map(|r| r.expect("record").0)
            .collect();
        assert_eq!(logged, [EPOCH_1 | 1, EPOCH_1 | 2]);
        assert_eq!(storage.accepted_epoch(), Some(1));
        assert_eq!(storage.current_epoch(), Some(1));
        assert_ne!(ids[0], ids[1]);
    }

    /// Memory does not grow with the txn count: every snapshot (here every 2 txns) that reached
    /// the storage is fed back as `Input::Compacted`, so the core's log holds only the txns since
    /// the newest snapshot and its base follows the snapshots.
    #[tokio::test]
    async fn snapshots_compact_the_core_log() {
        let mut config = ServerConfig::standalone("/nonexistent".into(), 0, 2000);
        config.snap_count = 2;
        let (shared, node_tx, notify, handle) = spawn_on_mem_storage(&config);
        const TXNS: u64 = 20;
        for _ in 0..TXNS {
            let (reply, answer) = oneshot::channel();
            let msg = NodeMsg::CreateSession {
                timeout_ms: 30_000,
                reply,
            };
            node_tx.send(msg).await.expect("driver inbox");
            tokio::time::timeout(WAIT, answer)
                .await
                .expect("answered in time")
                .expect("session created");
        }
        // The last snapshot's notice arrives after its txn was answered: wait for it, bounded.
        let deadline = Instant::now() + WAIT;
        let stats = Arc::clone(&shared.stats);
        while stats.core_log_base.load(Ordering::Relaxed) < EPOCH_1 | (TXNS - 2) {
            assert!(
                Instant::now() < deadline,
                "log base stuck at {:#x}, {} entries",
                stats.core_log_base.load(Ordering::Relaxed),
                stats.core_log_entries.load(Ordering::Relaxed)
            );
            tokio::task::yield_now().await;
        }
        assert!(stats.core_log_entries.load(Ordering::Relaxed) <= 2);
        notify.send(()).expect("driver listening");
        let storage = handle.await.expect("driver task").expect("clean stop");
        assert_eq!(
            storage
                .latest_snapshot()
                .expect("read")
                .map(|(z, _)| z >= EPOCH_1 | (TXNS - 2)),
            Some(true)
        );
    }
}
