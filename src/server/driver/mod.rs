//! The driver: the single owner of the protocol [`Node`] (`spec/server.md` "The write path").
//!
//! Role: one task and one loop that turns everything that happens — a client message from the
//! bounded inbox, a peer message or a broken peer link ([`PeerNet`]), a disk confirmation, a timer
//! — into an [`Input`] for `Node::step`, and then executes the node's effects in the order it
//! pushed them:
//!
//! - `PersistTxns` (with its commit watermark), `PersistEpoch`, `TruncateLog`, `InstallSnapshot`
//!   → [`StorageExec`] (group commit; the disk's confirmations come back as `Input::Persisted` /
//!   `EpochPersisted` / `Truncated`, and an installed SNAP as `StorageEvent::SnapshotInstalled`:
//!   [`Applier::install`] replaces the tree, then `Input::SnapshotInstalled`);
//! - `SendSnapshot` → `apply::snap_message` (the tree serialised at the SNAP's base), then sent
//!   like `Send`;
//! - `Commit { upto }` → [`Applier::apply_committed`] under the tree lock (tree, watch events,
//!   replies);
//! - `Send` → [`PeerNet::send`] (a `Fenced` refusal is expected: the link broke and its `Lost`
//!   is on its way); `Disconnect` → [`PeerNet::disconnect`];
//! - `RoleChanged` → logged and published in [`Shared::role`] for the four-letter words; a
//!   FOLLOWING or OBSERVING node dials its leader ([`PeerNet::connect_to_leader`]);
//! - `Prepare` (a learner's forwarded request, on the leader) → decoded and prepared after the
//!   step, then fed as `Input::Write`;
//! - `SetTimer` / `CancelTimer` → [`Timers`] (expiry comes back as `Input::Timeout`);
//! - `Proposed { zxid }` checks that the core proposed the write under the zxid the pipeline
//!   stamped it with; `Reject` refuses the write or forward.
//!
//! One write path for every mode. A standalone server (no `server.N` lines) is a one-voter
//! ensemble without peer links: at start it elects itself at once (no finalize wait, since no
//! other vote can arrive). In an ensemble the node runs FLE and ZAB with its peers. Either way
//! the driver serves clients only while the node is in broadcast (an established leader, or a
//! learner after UPTODATE; [`Shared::serving`]); a server that leaves broadcast closes every
//! client connection, drops every waiter (clients reconnect elsewhere, as with ZooKeeper) and, if
//! it led, the pipeline's pending changes. On the leader a client write is: `Node::next_zxid` →
//! [`Pipeline::prepare`] (stamped with that zxid) → `Input::Write` → `PersistTxns` → group commit
//! → `Persisted` → (a quorum of ACKs) → `Commit` → apply → reply. On a learner it is
//! [`Pipeline::forward`] → `Input::Forward` → REQUEST to the leader, whose driver prepares it on
//! `Effect::Prepare`; the learner answers its client when the txn commits there, matched by
//! (session id, cxid) (`server/apply.rs`).
//!
//! Sessions are global. Every server applies createSession/closeSession txns to its session
//! table; only the leader expires sessions (closeSession txns through the quorum). A learner
//! reports the sessions its clients touched every half tick (a `Touch` forwarded payload); a new
//! leader restarts every session's deadline when it starts serving.
//!
//! Syncing: the leader logs `sending DIFF|TRUNC|SNAP to server N` and counts each kind
//! ([`ServerStats`]); the learner logs `synced with leader N by DIFF|TRUNC|SNAP` (for a SNAP once
//! the leader's tree snapshot is durable and installed). A SNAP carries the leader's tree at its
//! committed zxid (ZooKeeper's snapshot payload, digest included) and the proposals after it, so
//! a leader whose log was compacted past a learner's zxid still syncs it.
//!
//! Memory: the core's in-memory log holds about `commitLogCount` committed txns (default 500,
//! ZooKeeper's): past twice that, the driver drops the older ones by `Input::Compacted`
//! (`bound_core_log`), in standalone and ensemble mode alike; every snapshot that reached the
//! disk (every `snapCount` applied txns, written off the task) is fed back the same way. A
//! learner behind the leader's log base gets a SNAP (`spec/server.md` "Memory").
//!
//! Files: this one holds the loop, the step and the effects; `node_config.rs` maps zoo.cfg to the
//! core's `NodeConfig`; `writes.rs` feeds client writes, `sync`s, forwarded requests and
//! server-made txns to the core; `peer_events.rs` turns peer events into inputs and executes
//! `Send`; `role.rs` publishes the role and starts or stops serving clients.
//!
//! Besides writes, the driver owns the session clock, the container/TTL reaper (leader only),
//! snapshots every `snapCount` txns (serialised off the task) and autopurge.

mod node_config;
mod peer_events;
mod role;
mod writes;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, RwLockWriteGuard};
use tokio::task::JoinHandle;

use crate::protocol::{
    DurableState, Effect, Effects, Input, Node, NodeConfig, PeerState, RejectReason, ServerId, Zxid,
};
use crate::server::apply::{snap_message, Applier, Waiter};
use crate::server::error::ServerError;
use crate::server::peers::{PeerEvent, PeerNet};
use crate::server::pipeline::{ClientWrite, Pipeline};
use crate::server::revalidations::{check_session, RevalidateWaiter, Revalidations};
use crate::server::sessions::SessionIds;
use crate::server::shared::Shared;
use crate::server::shutdown::Shutdown;
use crate::server::storage_exec::{StorageEvent, StorageExec, MAX_IN_FLIGHT};
use crate::server::syncs::{SyncWaiter, Syncs};
use crate::server::timers::Timers;
use crate::storage::{GroupCommitError, Storage};
use crate::tree::DataTree;

pub use node_config::{core_tick, node_config};
use peer_events::{next_peer_event, HeldFollowerInfos};

/// What connections ask of the driver: one variant per consumer, so neither can be handed what
/// the other takes.
#[derive(Debug)]
pub enum NodeMsg {
    /// A write or a handshake's createSession, for the pipeline ([`Pipeline::prepare`] on the
    /// leader, [`Pipeline::forward`] on a learner).
    Write(ClientWrite),
    /// A client `sync`, for the core (`Input::Sync`), answered once the tree has applied the
    /// read index the core confirms (`server/syncs.rs`).
    Sync(SyncWaiter),
    /// A handshake resuming a session, for the core (`Input::Revalidate`), answered with the
    /// leader's verdict (`server/revalidations.rs`).
    Revalidate(RevalidateWaiter),
}

impl NodeMsg {
    /// The message can no longer be served here: its connection is closed (the client
    /// reconnects), as ZooKeeper closes client connections when its leader steps down.
    fn refuse(self) {
        match self {
            NodeMsg::Write(write) => write.refuse(),
            NodeMsg::Sync(waiter) => waiter.refuse(),
            NodeMsg::Revalidate(waiter) => waiter.refuse(),
        }
    }
}

/// The peer links of an ensemble member and the events they deliver.
pub struct Peers {
    /// The links.
    pub net: PeerNet,
    /// Their events, in order.
    pub events: mpsc::Receiver<PeerEvent>,
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
    /// The outcome of the last `Input::Write` or `Input::Forward`: proposed (with its zxid),
    /// forwarded (`None`), or refused.
    write_outcome: Option<Result<Option<Zxid>, RejectReason>>,
    /// `None`: standalone.
    peers: Option<Peers>,
    /// Serving clients (in broadcast) after the last step.
    serving: bool,
    /// Requests learners forwarded (`Effect::Prepare`), prepared after the step that got them.
    forwarded: VecDeque<Bytes>,
    /// FOLLOWERINFOs that arrived while LOOKING, held until the node has a role.
    held: HeldFollowerInfos,
    /// Client `sync`s between `Input::Sync` and their reply.
    syncs: Syncs,
    /// Session resumes between `Input::Revalidate` and the verdict.
    revalidations: Revalidations,
    /// Verdicts on `Effect::CheckSession` (leader), stepped as `Input::SessionChecked` after the
    /// step that asked.
    checked: VecDeque<Input>,
    /// The leader whose SNAP is being installed (its log line waits for the install).
    snap_from: Option<ServerId>,
}

type TreeGuard<'a> = Option<RwLockWriteGuard<'a, DataTree>>;

impl<S: Storage + 'static> Driver<S> {
    /// A driver over recovered state: `durable` is what the tree in `shared` and the storage
    /// hold (see `server/recovery.rs`); `peers` is `None` for a standalone server.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shared: Arc<Shared>,
        inbox: mpsc::Receiver<NodeMsg>,
        node_config: NodeConfig,
        durable: DurableState,
        storage: StorageExec<S>,
        session_ids: SessionIds,
        shutdown: Shutdown,
        peers: Option<Peers>,
    ) -> Driver<S> {
        let applied = durable.committed.max(durable.log_base);
        let (tick, _) = core_tick(shared.config.tick_ms);
        let pipeline = Pipeline::new(&shared.config, session_ids, Arc::clone(&shared.clock));
        if let Some(o) = &shared.observer {
            o.node_built(&node_config, &durable);
        }
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
            peers,
            serving: false,
            forwarded: VecDeque::new(),
            held: HeldFollowerInfos::default(),
            syncs: Syncs::new(),
            revalidations: Revalidations::new(),
            checked: VecDeque::new(),
            snap_from: None,
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
            let serving = self.serving;
            result = tokio::select! {
                // Fixed order, not tokio's random pick: a run is a function of its inputs (tests/sim).
                biased;
                event = self.storage.next_event() => self.on_storage_event(event).await,
                timer = self.timers.expired() => self.step(Input::Timeout(timer), &mut None).await,
                event = next_peer_event(&mut self.peers) => self.on_peer_event(event).await,
                msg = self.inbox.recv(), if serving && room => match msg {
                    Some(msg) => self.on_messages(msg).await,
                    None => break,
                },
                _ = session_tick.tick() => self.on_session_tick().await,
                _ = reaper_tick.tick() => self.reap_containers().await,
                _ = purge_tick.tick(), if purge_hours > 0 => {
                    self.storage.purge(self.shared.config.autopurge_snap_retain_count as usize)
                }
                _ = self.shutdown.recv() => break,
            };
            if result.is_ok() {
                result = self.replay_held().await;
            }
            if result.is_ok() {
                result = self.prepare_forwarded().await;
            }
            if result.is_ok() {
                result = self.step_session_checks().await;
            }
            if result.is_ok() {
                result = self.bound_core_log().await;
            }
            if result.is_ok() && self.node.next_zxid() == Err(RejectReason::ZxidRollover) {
                result = self.step_down_on_rollover().await;
            }
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, "stopping the server");
        }
        self.leave_broadcast();
        if let Some(peers) = self.peers.take() {
            peers.net.shutdown().await;
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
                self.install_sync_snapshot(base, *tree).await;
                Input::SnapshotInstalled { base }
            }
            StorageEvent::Failed(e) => {
                return Err(ServerError::LogFailed(GroupCommitError::Failed(e)))
            }
        };
        self.step(input, &mut None).await
    }

    /// A learner's SNAP is durable (`Effect::InstallSnapshot` → `StorageExec::install_snapshot`):
    /// the single place where a snapshot sync touches the tree. The leader's tree at `base`
    /// replaces mine and the applier's zxid moves to `base` ([`Applier::install`]); the
    /// proposals the SNAP carried after `base` are applied as they commit, which the core holds
    /// back until it is fed `Input::SnapshotInstalled`.
    async fn install_sync_snapshot(&mut self, base: Zxid, installed: DataTree) {
        let shared = Arc::clone(&self.shared);
        let mut guard = shared.tree.write().await;
        let orphans = self.applier.install(&mut guard, installed, base, &shared);
        drop(guard);
        orphans.into_iter().for_each(Waiter::refuse);
        match self.snap_from.take() {
            Some(leader) => tracing::info!("synced with leader {} by SNAP", leader.0),
            None => tracing::info!(%base, "installed a SNAP"),
        }
    }

    /// One input through the core, then its effects in order, then the role bookkeeping. An
    /// observer (a simulation) is told the input and the effects before they are executed.
    async fn step<'a>(
        &mut self,
        input: Input,
        tree: &mut TreeGuard<'a>,
    ) -> Result<(), ServerError> {
        let observed = self.shared.observer.as_ref().map(|o| (o, input.clone()));
        self.node.step(input, &mut self.effects);
        if let Some((o, input)) = observed {
            o.stepped(&input, self.effects.as_slice());
        }
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
        self.after_step();
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
                // An O(1) frozen copy (`DataTree::snapshot_copy`), serialised after the tree
                // lock is released — unless this step already holds it (`tree` is `Some`).
                let frozen = match tree.as_ref() {
                    Some(guard) => guard.snapshot_copy(),
                    None => self.shared.tree.read().await.snapshot_copy(),
                };
                let msg = snap_message(&frozen, base, proposals, committed)?;
                self.send(to, msg)
            }
            Effect::Commit { upto } => self.apply(upto, tree).await,
            Effect::Proposed { zxid } => {
                self.write_outcome = Some(Ok(Some(zxid)));
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
                if let (PeerState::Following | PeerState::Observing, Some(leader)) = (state, leader)
                {
                    self.peer_net()?
                        .connect_to_leader(leader)
                        .map_err(|e| ServerError::Fatal(format!("following {leader}: {e}")))?;
                }
                Ok(())
            }
            Effect::Send { to, msg } => self.send(to, msg),
            Effect::Disconnect { peer } => {
                let _ = self.peer_net()?.disconnect(peer);
                Ok(())
            }
            Effect::Prepare { payload, .. } => {
                self.forwarded.push_back(payload);
                Ok(())
            }
            Effect::SyncReady { id, zxid } => {
                self.syncs.ready(id, zxid, self.applier.applied());
                Ok(())
            }
            Effect::SyncFailed { id } => {
                self.syncs.failed(id);
                Ok(())
            }
            Effect::CheckSession {
                origin,
                session,
                timeout_ms,
            } => {
                let creating = self.pipeline.is_creating(session);
                let valid = check_session(&self.shared, session, timeout_ms, creating);
                self.checked.push_back(Input::SessionChecked {
                    origin,
                    session,
                    valid,
                });
                Ok(())
            }
            Effect::Revalidated { session, valid } => {
                self.revalidations.answer(session, valid);
                Ok(())
            }
            Effect::RevalidateFailed { session } => {
                self.revalidations.failed(session);
                Ok(())
            }
        }
    }

    /// The verdicts of this iteration's `CheckSession`s, each as `Input::SessionChecked` (its
    /// effects may ask for more: they are stepped in turn).
    async fn step_session_checks(&mut self) -> Result<(), ServerError> {
        while let Some(input) = self.checked.pop_front() {
            self.step(input, &mut None).await?;
        }
        Ok(())
    }

    /// Keeps the core's in-memory log to about `commitLogCount` committed txns (ZooKeeper's
    /// `ZKDatabase.commitLogCount`, 500 by default): once twice that many are committed and
    /// applied, all but the newest `commitLogCount` are dropped by `Input::Compacted`. No
    /// snapshot is written for it: the txn log on disk keeps them, so recovery is unchanged
    /// (the models take the same step, `Action::Compact`). A learner further behind than the
    /// kept txns gets a SNAP of the tree (`protocol::sync::plan_sync`), where ZooKeeper would
    /// first try a DIFF read from its txn log files.
    async fn bound_core_log(&mut self) -> Result<(), ServerError> {
        let keep = usize::try_from(self.shared.config.commit_log_count).unwrap_or(usize::MAX);
        let committed = self.node.committed_log();
        if committed.len() <= keep.saturating_mul(2).max(1) || self.node.install_pending().is_some()
        {
            return Ok(());
        }
        let upto = committed[committed.len() - keep - 1]
            .zxid
            .min(self.applier.applied());
        if upto <= self.node.log_base() {
            return Ok(());
        }
        self.step(Input::Compacted { upto }, &mut None).await
    }

    async fn apply<'a>(&mut self, upto: Zxid, tree: &mut TreeGuard<'a>) -> Result<(), ServerError> {
        match tree.as_mut() {
            Some(guard) => self.apply_locked(upto, guard),
            None => {
                let shared = Arc::clone(&self.shared);
                let mut guard = shared.tree.write().await;
                self.apply_locked(upto, &mut guard)
            }
        }
    }

    fn apply_locked(&mut self, upto: Zxid, tree: &mut DataTree) -> Result<(), ServerError> {
        self.applier
            .apply_committed(tree, self.node.committed_log(), upto, &self.shared)?;
        self.pipeline.applied_through(self.applier.applied());
        self.syncs.applied(self.applier.applied());
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
            self.snapshot_running = Some(self.storage.snapshot(tree.snapshot_copy())?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::sync::{broadcast, oneshot};

    use super::*;
    use crate::config::ServerConfig;
    use crate::server::sessions::SessionTracker;
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

    /// One createSession through the driver, answered.
    async fn create_session(node_tx: &mpsc::Sender<NodeMsg>) {
        let (reply, answer) = oneshot::channel();
        let msg = NodeMsg::Write(ClientWrite::CreateSession {
            timeout_ms: 30_000,
            reply,
        });
        node_tx.send(msg).await.expect("driver inbox");
        tokio::time::timeout(WAIT, answer)
            .await
            .expect("answered in time")
            .expect("session created");
    }

    /// A driver over a fresh tree and `MemStorage`, running on its own task.
    fn spawn_on_mem_storage(config: &ServerConfig) -> Started {
        let (node_tx, inbox) = mpsc::channel(16);
        let shared = Arc::new(Shared::new(
            config.clone(),
            DataTree::new(),
            SessionTracker::new(config.tick_ms),
            0,
        ));
        let storage = StorageExec::spawn(MemStorage::new(), None, None).expect("writer");
        let (notify, _) = broadcast::channel(1);
        let driver = Driver::new(
            Arc::clone(&shared),
            inbox,
            node_config(config),
            DurableState::default(),
            storage,
            SessionIds::new(1, 0, []),
            Shutdown::new(notify.subscribe()),
            None,
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
            let msg = NodeMsg::Write(ClientWrite::CreateSession {
                timeout_ms: 30_000,
                reply,
            });
            node_tx.send(msg).await.expect("driver inbox");
            let id = tokio::time::timeout(WAIT, answer)
                .await
                .expect("answered in time")
                .expect("session created");
            // Answered only after apply: the tree holds the session, at the core's zxid.
            assert!(shared.tree.write().await.sessions().contains_key(&id));
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

    /// Without any snapshot the core's log stays bounded by `commitLogCount` (here 3): past
    /// twice that many committed txns the driver compacts it in memory, and the storage keeps
    /// every txn, so recovery rebuilds all of them.
    #[tokio::test]
    async fn commit_log_count_bounds_the_core_log_without_a_snapshot() {
        let mut config = ServerConfig::standalone("/nonexistent".into(), 0, 2000);
        config.snap_count = 1_000_000;
        config.commit_log_count = 3;
        let (shared, node_tx, notify, handle) = spawn_on_mem_storage(&config);
        const TXNS: u64 = 20;
        let stats = Arc::clone(&shared.stats);
        let mut most = 0;
        for _ in 0..TXNS {
            create_session(&node_tx).await;
            most = most.max(stats.core_log_entries.load(Ordering::Relaxed));
        }
        assert!(most <= 2 * 3 + 1, "the core log held {most} entries");
        let base = stats.core_log_base.load(Ordering::Relaxed);
        assert!(
            base >= EPOCH_1 | (TXNS - 2 * 3),
            "log base {base:#x} after {TXNS} txns"
        );
        notify.send(()).expect("driver listening");
        let storage = handle.await.expect("driver task").expect("clean stop");
        assert_eq!(storage.latest_snapshot().expect("read"), None);
        let recovered = storage
            .trust_empty_snapshot(true)
            .recover()
            .expect("recovers");
        let zxids: Vec<u64> = recovered.txns_after.iter().map(|(z, _)| *z).collect();
        assert_eq!(zxids, (1..=TXNS).map(|c| EPOCH_1 | c).collect::<Vec<_>>());
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
            create_session(&node_tx).await;
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
