//! The protocol core: Fast Leader Election and ZAB 1.0 as one IO-free state machine.
//!
//! Everything that decides anything in the replication protocol lives here and nowhere else. Two
//! drivers call it: the Stateright models in `models/` (which explore every interleaving of its
//! inputs) and the tokio runtime in `server` (which feeds it sockets, disks and clocks). Neither
//! makes a protocol decision of its own.
//!
//! ```text
//!            Input                                    Effect (executed in order)
//!  Start, Timeout(Timer), Peer{from,msg},   ┌──────┐  Send{to,msg}, Disconnect{peer},
//!  PeerLost(sid), Write{data},          ──► │ Node │─► PersistEpoch, PersistTxns, TruncateLog,
//!  Forward{payload}, Persisted{upto},       │ step │  Commit{upto}, Proposed, Prepare, Reject,
//!  EpochPersisted, Truncated{after},        └──────┘  SyncReady, SyncFailed, SetTimer,
//!  SnapshotInstalled{base}, Compacted{upto},          CancelTimer, RoleChanged,
//!  Sync{id}, Revalidate{session,timeout_ms},          SendSnapshot, InstallSnapshot,
//!  SessionChecked{origin,session,valid}               CheckSession, Revalidated,
//!                                                     RevalidateFailed
//! ```
//!
//! A node is built from its [`NodeConfig`] and the [`DurableState`] a restart recovered
//! ([`Node::new`]); its only mutating method is [`Node::step`]. Role data lives in the role
//! ([`Role`]): `election.rs` is LOOKING, `leader.rs` LEADING, `follower.rs` FOLLOWING and
//! OBSERVING, each in protocol order. `step` ends by asserting [`invariants::check_local`].
//!
//! Example: a single-voter ensemble elects itself and commits a write once it is durable.
//!
//! ```
//! use zabkeeper::protocol::*;
//! let cfg = NodeConfig::new(ServerId(1), [ServerId(1)]);
//! let mut node = Node::new(cfg, DurableState::default());
//! let mut out = Effects::new();
//! node.step(Input::Start, &mut out);
//! node.step(Input::Timeout(Timer::FinalizeWait), &mut out); // decide: I lead
//! node.step(Input::EpochPersisted, &mut out); // acceptedEpoch 1 on disk
//! node.step(Input::EpochPersisted, &mut out); // currentEpoch 1 on disk: established
//! assert_eq!(node.state(), PeerState::Leading);
//! out.drain(); // a driver executes the effects it takes out; here they are dropped
//! node.step(Input::Write { data: bytes::Bytes::from_static(b"x") }, &mut out);
//! let zxid = Zxid::new(Epoch(1), 1);
//! assert!(out.as_slice().contains(&Effect::Proposed { zxid }));
//! node.step(Input::Persisted { upto: zxid }, &mut out);
//! assert!(out.as_slice().contains(&Effect::Commit { upto: zxid }));
//! assert_eq!(node.committed_zxid(), zxid);
//! ```

/// `assert!` for a protocol invariant (style rule 9): on in every build, release included, except
/// a model-checking build with the `no-local-asserts` feature, which measures what the global
/// model properties catch on their own (verification.md §Mutants (new) and asserts-off table).
/// The feature cannot be combined with `server` (see `LOCAL_ASSERTS`).
macro_rules! invariant {
    ($($arg:tt)+) => {
        if $crate::protocol::LOCAL_ASSERTS {
            assert!($($arg)+);
        }
    };
}

/// `assert_eq!` for a protocol invariant; off only with `no-local-asserts`, like `invariant!`.
macro_rules! invariant_eq {
    ($($arg:tt)+) => {
        if $crate::protocol::LOCAL_ASSERTS {
            assert_eq!($($arg)+);
        }
    };
}

mod config;
mod durable;
mod effect;
mod election;
mod follower;
mod ids;
mod input;
pub mod invariants;
mod leader;
mod message;
mod quorum;
pub mod sync;
mod timer;
mod vote;

use std::sync::Arc;

pub use config::{Bug, NodeConfig};
pub use durable::DurableState;
pub use effect::{Effect, Effects, RejectReason};
pub use election::Election;
pub use follower::{Learner, LearnerPhase};
pub use ids::{Epoch, ServerId, Zxid, ZxidRollover, COUNTER_MAX};
pub use input::Input;
pub use leader::{Leader, LeaderPhase, LearnerStage, LearnerView, PendingSync, PendingVerdict};
pub use message::{PeerMsg, Proposal, SyncKind};
pub use quorum::QuorumVerifier;
pub use timer::Timer;
pub use vote::{PeerState, Vote};

/// Are the core's local invariant checks on? Always, except in a build with the
/// `no-local-asserts` feature (model-checking measurements only): then `Node::step` skips
/// [`invariants::check_local`] and every `invariant!` in this module is a no-op, so a seeded bug
/// can be caught only by the models' global properties. The server build refuses the feature.
pub const LOCAL_ASSERTS: bool = cfg!(not(feature = "no-local-asserts"));

#[cfg(all(feature = "server", feature = "no-local-asserts"))]
compile_error!(
    "feature `no-local-asserts` is for model-checking measurements only; it cannot be built with `server`"
);

/// The role a node plays, with the data only that role has (style rule 5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// LOOKING: electing.
    Looking(Election),
    /// FOLLOWING or OBSERVING (`Learner::observer`).
    Following(Learner),
    /// LEADING.
    Leading(Leader),
}

/// One ZooKeeper server's protocol state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    config: Arc<NodeConfig>,
    /// acceptedEpoch as last requested (durable once `epoch_write_pending` is false).
    accepted_epoch: Epoch,
    /// currentEpoch as last requested.
    current_epoch: Epoch,
    /// A `PersistEpoch` has not been answered yet.
    epoch_write_pending: bool,
    /// A `TruncateLog` down to this zxid has not been reported durable yet.
    truncate_pending: Option<Zxid>,
    /// An `InstallSnapshot` at `.0` has not been reported durable yet; `.1` is the last zxid of
    /// the log when it was requested (every log write before it is durable once it is).
    install_pending: Option<(Zxid, Zxid)>,
    /// Base of `log`: every txn up to here is in a snapshot or was dropped from memory
    /// (`Input::Compacted`).
    log_base: Zxid,
    /// The log as requested: durable entries followed by entries still being written.
    log: Vec<Proposal>,
    /// Every entry up to here is durable.
    durable_zxid: Zxid,
    /// Every entry up to here is committed and applied (always durable here: INV-COMMIT-DURABLE).
    committed_zxid: Zxid,
    /// FLE logical clock (`electionEpoch`), volatile as in ZooKeeper.
    round: u64,
    /// The election result I refused because its leader proposed an epoch older than my
    /// acceptedEpoch; its decided notifications no longer pull me in (no FOLLOW/LOOK storm).
    refused_vote: Option<Vote>,
    role: Role,
}

impl Node {
    /// A node restarted from `durable`; it does nothing until [`Input::Start`].
    pub fn new(config: NodeConfig, durable: DurableState) -> Node {
        invariant!(
            durable.current_epoch <= durable.accepted_epoch,
            "INV-EPOCH: currentEpoch {} > acceptedEpoch {}",
            durable.current_epoch,
            durable.accepted_epoch
        );
        invariant!(
            durable.committed <= durable.last_zxid(),
            "INV-COMMIT-DURABLE: recovered watermark beyond the log"
        );
        let committed = durable.committed.max(durable.log_base);
        let last = durable.last_zxid();
        Node {
            accepted_epoch: durable.accepted_epoch,
            current_epoch: durable.current_epoch,
            epoch_write_pending: false,
            truncate_pending: None,
            install_pending: None,
            log_base: durable.log_base,
            log: durable.log,
            durable_zxid: last,
            committed_zxid: committed,
            round: 0,
            refused_vote: None,
            role: Role::Looking(Election::idle(config.my_id)),
            config: Arc::new(config),
        }
    }

    /// Feeds one input; the effects are appended to `out` in the order they must be executed.
    pub fn step(&mut self, input: Input, out: &mut Effects) {
        match input {
            Input::Start => self.become_looking(out),
            Input::Timeout(timer) => self.on_timeout(timer, out),
            Input::Peer { from, msg } => self.on_peer(from, msg, out),
            Input::PeerLost(peer) => self.on_peer_lost(peer, out),
            Input::Write { data } => self.on_write(data, out),
            Input::Forward { payload } => self.on_forward(payload, out),
            Input::Persisted { upto } => self.on_persisted(upto, out),
            Input::EpochPersisted => self.on_epoch_persisted(out),
            Input::Truncated { after } => self.on_truncated(after, out),
            Input::SnapshotInstalled { base } => self.on_snapshot_installed(base, out),
            Input::Compacted { upto } => self.compact_upto(upto),
            Input::Sync { id } => self.on_client_sync(id, out),
            Input::Revalidate {
                session,
                timeout_ms,
            } => self.on_revalidate(session, timeout_ms, out),
            Input::SessionChecked {
                origin,
                session,
                valid,
            } => self.on_session_checked(origin, session, valid, out),
        }
        if LOCAL_ASSERTS {
            if let Err(violation) = invariants::check_local(self) {
                panic!("{violation}");
            }
        }
    }

    fn on_peer(&mut self, from: ServerId, msg: PeerMsg, out: &mut Effects) {
        if from == self.config.my_id || !self.is_member(from) {
            tracing::trace!(%from, msg = msg.name(), "ignored: not a peer");
            return;
        }
        if let PeerMsg::Notification { state, vote, round } = msg {
            return self.on_notification(from, state, vote, round, out);
        }
        match &self.role {
            Role::Looking(_) => tracing::trace!(%from, msg = msg.name(), "ignored while LOOKING"),
            Role::Leading(_) => self.leader_on_message(from, msg, out),
            Role::Following(_) => self.learner_on_message(from, msg, out),
        }
    }

    fn on_timeout(&mut self, timer: Timer, out: &mut Effects) {
        match &self.role {
            Role::Looking(_) => self.election_on_timeout(timer, out),
            Role::Leading(_) => self.leader_on_timeout(timer, out),
            Role::Following(_) => self.learner_on_timeout(timer, out),
        }
    }

    fn on_peer_lost(&mut self, peer: ServerId, out: &mut Effects) {
        match &self.role {
            Role::Looking(_) => self.election_on_peer_lost(peer, out),
            Role::Leading(_) => self.leader_on_peer_lost(peer, out),
            Role::Following(_) => self.learner_on_peer_lost(peer, out),
        }
    }

    fn on_write(&mut self, data: bytes::Bytes, out: &mut Effects) {
        match &self.role {
            Role::Leading(_) => self.leader_propose(data, out),
            _ => out.push(Effect::Reject {
                from: self.config.my_id,
                data,
                reason: RejectReason::NotLeader,
            }),
        }
    }

    fn on_forward(&mut self, payload: bytes::Bytes, out: &mut Effects) {
        match &self.role {
            Role::Following(l) if !l.observer || l.phase == LearnerPhase::Broadcast => {
                let leader = l.leader;
                out.send(leader, PeerMsg::Request { payload });
            }
            Role::Leading(_) => {
                out.push(Effect::Prepare {
                    from: self.config.my_id,
                    payload,
                });
            }
            _ => out.push(Effect::Reject {
                from: self.config.my_id,
                data: payload,
                reason: RejectReason::NotLeader,
            }),
        }
    }

    /// A client `sync` (spec/zab.md §5.6): the leader answers it after a fresh quorum round, a
    /// learner forwards it; a LOOKING node fails it.
    fn on_client_sync(&mut self, id: u64, out: &mut Effects) {
        match &self.role {
            Role::Leading(_) => self.leader_on_sync(None, id, out),
            Role::Following(_) => self.learner_on_sync(id, out),
            Role::Looking(_) => out.push(Effect::SyncFailed { id }),
        }
    }

    /// A client resumes a session (spec/zab.md §5.7): the leader checks its own table, a
    /// learner asks the leader; a LOOKING node fails it.
    fn on_revalidate(&mut self, session: i64, timeout_ms: i32, out: &mut Effects) {
        match &self.role {
            Role::Leading(_) => {
                self.leader_on_revalidate(self.config.my_id, session, timeout_ms, out)
            }
            Role::Following(_) => self.learner_on_revalidate(session, timeout_ms, out),
            Role::Looking(_) => out.push(Effect::RevalidateFailed { session }),
        }
    }

    /// The runtime's answer to `Effect::CheckSession`. Only a leader asks; a node that has left
    /// LEADING since failed its own pending revalidations when it left.
    fn on_session_checked(
        &mut self,
        origin: ServerId,
        session: i64,
        valid: bool,
        out: &mut Effects,
    ) {
        match &self.role {
            Role::Leading(_) => self.leader_on_session_checked(origin, session, valid, out),
            _ => tracing::trace!(%origin, session, "ignored: session verdict while not leading"),
        }
    }

    /// Leaving LEADING or FOLLOWING: every client `sync` and session revalidation still pending
    /// here fails (a leader's forwarded ones are failed by the learners that forwarded them,
    /// when they leave).
    pub(crate) fn fail_pending_requests(&mut self, out: &mut Effects) {
        let sessions: Vec<i64> = match &mut self.role {
            Role::Leading(l) => std::mem::take(&mut l.revalidations).into_iter().collect(),
            Role::Following(l) => std::mem::take(&mut l.revalidations).into_iter().collect(),
            Role::Looking(_) => Vec::new(),
        };
        for session in sessions {
            out.push(Effect::RevalidateFailed { session });
        }
        let ids: Vec<u64> = match &mut self.role {
            Role::Leading(l) => std::mem::take(&mut l.syncs)
                .into_iter()
                .filter(|s| s.origin.is_none())
                .map(|s| s.id)
                .collect(),
            Role::Following(l) => std::mem::take(&mut l.syncs).into_iter().collect(),
            Role::Looking(_) => Vec::new(),
        };
        for id in ids {
            out.push(Effect::SyncFailed { id });
        }
    }

    fn on_persisted(&mut self, upto: Zxid, out: &mut Effects) {
        if self.ignore_persisted(upto) {
            tracing::trace!(%upto, "ignored: persisted write no longer in the log");
            return;
        }
        invariant!(
            upto <= self.last_zxid(),
            "INV-DURABLE: persisted {upto} beyond log"
        );
        self.durable_zxid = upto;
        if self.truncate_pending.is_some_and(|after| upto > after) {
            // Appends are written after the truncation that preceded them (one ordered log).
            self.truncate_pending = None;
        }
        self.on_durable(out);
    }

    /// A completion for a write that a later truncation removed, or that is already counted.
    fn ignore_persisted(&self, upto: Zxid) -> bool {
        upto <= self.durable_zxid || self.log.binary_search_by_key(&upto, |p| p.zxid).is_err()
    }

    fn on_truncated(&mut self, after: Zxid, out: &mut Effects) {
        if self.truncate_pending != Some(after) {
            tracing::trace!(%after, "ignored: an older truncation");
            return;
        }
        self.truncate_pending = None;
        self.on_durable(out);
    }

    /// The snapshot requested by `install_snapshot` is durable, and so is every log write
    /// requested before it: my state is the leader's at `base`, committed.
    fn on_snapshot_installed(&mut self, base: Zxid, out: &mut Effects) {
        let Some((pending, logged)) = self.install_pending else {
            tracing::trace!(%base, "ignored: no snapshot install pending");
            return;
        };
        invariant_eq!(
            pending,
            base,
            "INV-INSTALL: installed {base}, but {pending} was requested"
        );
        self.install_pending = None;
        self.durable_zxid = self.durable_zxid.max(logged);
        self.committed_zxid = self.committed_zxid.max(base);
        self.on_durable(out);
    }

    fn on_epoch_persisted(&mut self, out: &mut Effects) {
        self.epoch_write_pending = false;
        self.on_durable(out);
    }

    /// A write I requested is durable (`Persisted`, `EpochPersisted`, `Truncated`,
    /// `SnapshotInstalled`): the role moves whatever waited for it.
    fn on_durable(&mut self, out: &mut Effects) {
        match &self.role {
            Role::Looking(_) => self.start_round_when_durable(out),
            Role::Leading(_) => self.leader_on_durable(out),
            Role::Following(_) => self.learner_on_durable(out),
        }
    }

    // ----- helpers shared by the roles -------------------------------------------------------

    pub(crate) fn is_member(&self, sid: ServerId) -> bool {
        self.config.voters.contains(&sid) || self.config.observers.contains(&sid)
    }

    /// Requests both epoch files be written with the current values.
    pub(crate) fn persist_epochs(&mut self, out: &mut Effects) {
        self.epoch_write_pending = true;
        out.push(Effect::PersistEpoch {
            accepted: self.accepted_epoch,
            current: self.current_epoch,
        });
    }

    /// Appends to the in-memory log and asks for the write.
    pub(crate) fn append(&mut self, proposals: Vec<Proposal>, out: &mut Effects) {
        if proposals.is_empty() {
            return;
        }
        for p in &proposals {
            invariant!(
                p.zxid > self.last_zxid(),
                "INV-LOG-ORDER: append {} after {} on {}",
                p.zxid,
                self.last_zxid(),
                self.config.my_id
            );
            self.log.push(p.clone());
        }
        out.push(Effect::PersistTxns {
            proposals,
            committed: self.committed_zxid,
        });
    }

    /// Drops every entry above `after` in memory and on disk.
    pub(crate) fn truncate_after(&mut self, after: Zxid, out: &mut Effects) {
        self.log.retain(|p| p.zxid <= after);
        if after < self.log_base {
            self.log_base = after;
        }
        self.durable_zxid = self.durable_zxid.min(self.last_zxid());
        self.committed_zxid = self.committed_zxid.min(self.last_zxid());
        self.truncate_pending = Some(after);
        out.push(Effect::TruncateLog { after });
    }

    /// SNAP below my committed zxid: the leader's snapshot at `base` replaces my history up to
    /// there. Only my log entries above `base` stay (the caller has cut those the leader lacks);
    /// `base` becomes the log's base. Nothing new is committed or applied until the install is
    /// durable (`Input::SnapshotInstalled`): the runtime's state is the snapshot only then.
    pub(crate) fn install_snapshot(
        &mut self,
        base: Zxid,
        snapshot: bytes::Bytes,
        out: &mut Effects,
    ) {
        invariant!(
            self.committed_zxid < base && self.log_base < base,
            "ZAB-SNAP: install at {base} over committed {} (log base {})",
            self.committed_zxid,
            self.log_base
        );
        let n = self.log.partition_point(|p| p.zxid <= base);
        self.log.drain(..n);
        self.log_base = base;
        self.install_pending = Some((base, self.last_zxid()));
        out.push(Effect::InstallSnapshot { base, snapshot });
    }

    /// `Input::Compacted`: the runtime no longer needs the txns up to `upto` in memory (a durable
    /// snapshot holds them, or its `commitLogCount` bound drops them while the disk keeps them);
    /// the log entries up to there are dropped and `upto` becomes the log's base (a learner
    /// behind it gets a SNAP, `sync::plan_sync`). Only committed entries may go (ZAB-COMPACT-COMMITTED): an uncommitted
    /// one may still be truncated or needed by a learner's DIFF, and cannot be in a snapshot of
    /// the applied tree anyway. A base at or above `upto` already is a no-op.
    fn compact_upto(&mut self, upto: Zxid) {
        invariant!(
            upto <= self.committed_zxid,
            "ZAB-COMPACT-COMMITTED: compaction to {upto} beyond committed {} on {}",
            self.committed_zxid,
            self.config.my_id
        );
        let upto = upto.min(self.committed_zxid);
        if upto <= self.log_base {
            return;
        }
        let n = self.log.partition_point(|p| p.zxid <= upto);
        self.log.drain(..n);
        self.log_base = upto;
    }

    /// Applies everything up to `upto` (committed and durable).
    pub(crate) fn commit_upto(&mut self, upto: Zxid, out: &mut Effects) {
        if upto <= self.committed_zxid || self.install_pending.is_some() {
            // Nothing new, or the runtime's state is not yet the installed snapshot.
            return;
        }
        invariant!(
            upto <= self.durable_zxid,
            "INV-COMMIT-DURABLE: commit {upto} beyond durable {}",
            self.durable_zxid
        );
        self.committed_zxid = upto;
        out.push(Effect::Commit { upto });
    }

    /// Are all requested log and epoch writes durable?
    pub(crate) fn all_durable(&self) -> bool {
        !self.epoch_write_pending && self.log_durable()
    }

    /// Is the log on disk exactly the log in memory: every append and every truncation
    /// requested so far durable? (ZAB-TRUNC-DURABLE: a learner that ACKs NEWLEADER with a TRUNC
    /// still in flight can resurrect the truncated txns after a crash.)
    pub(crate) fn log_durable(&self) -> bool {
        self.truncate_pending.is_none()
            && self.install_pending.is_none()
            && self.durable_zxid == self.last_zxid()
    }

    pub(crate) fn set_role(&mut self, role: Role, out: &mut Effects) {
        self.role = role;
        out.push(Effect::RoleChanged {
            state: self.state(),
            leader: self.leader(),
            epoch: self.accepted_epoch,
        });
    }

    // ----- read-only accessors ---------------------------------------------------------------

    /// The static configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The role and its data.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// LOOKING, FOLLOWING, LEADING or OBSERVING.
    pub fn state(&self) -> PeerState {
        match &self.role {
            Role::Looking(_) => PeerState::Looking,
            Role::Following(l) if l.observer => PeerState::Observing,
            Role::Following(_) => PeerState::Following,
            Role::Leading(_) => PeerState::Leading,
        }
    }

    /// The leader this node follows or is, once known.
    pub fn leader(&self) -> Option<ServerId> {
        match &self.role {
            Role::Looking(_) => None,
            Role::Following(l) => Some(l.leader),
            Role::Leading(_) => Some(self.config.my_id),
        }
    }

    /// acceptedEpoch (as last requested; see [`Node::durable_epochs_pending`]).
    pub fn accepted_epoch(&self) -> Epoch {
        self.accepted_epoch
    }

    /// currentEpoch (as last requested).
    pub fn current_epoch(&self) -> Epoch {
        self.current_epoch
    }

    /// Is an epoch write still in flight?
    pub fn durable_epochs_pending(&self) -> bool {
        self.epoch_write_pending
    }

    /// The base of a snapshot install requested and not yet reported durable.
    pub fn install_pending(&self) -> Option<Zxid> {
        self.install_pending.map(|(base, _)| base)
    }

    /// The last zxid in the log (requested, not necessarily durable).
    pub fn last_zxid(&self) -> Zxid {
        self.log.last().map_or(self.log_base, |p| p.zxid)
    }

    /// The last durable zxid.
    pub fn durable_zxid(&self) -> Zxid {
        self.durable_zxid
    }

    /// The last committed (and applied) zxid.
    pub fn committed_zxid(&self) -> Zxid {
        self.committed_zxid
    }

    /// The in-memory log after [`Node::log_base`].
    pub fn log(&self) -> &[Proposal] {
        &self.log
    }

    /// The zxid of the snapshot under the log.
    pub fn log_base(&self) -> Zxid {
        self.log_base
    }

    /// The committed prefix of the log.
    pub fn committed_log(&self) -> &[Proposal] {
        let n = self.log.partition_point(|p| p.zxid <= self.committed_zxid);
        &self.log[..n]
    }

    /// FLE's logical clock.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The vote this node currently advertises.
    pub fn current_vote(&self) -> Vote {
        match &self.role {
            Role::Looking(e) => e.proposal,
            Role::Following(l) => l.vote,
            Role::Leading(l) => l.vote,
        }
    }

    /// The leader's data, if leading.
    pub fn leading(&self) -> Option<&Leader> {
        match &self.role {
            Role::Leading(l) => Some(l),
            _ => None,
        }
    }

    /// The learner's data, if following or observing.
    pub fn learning(&self) -> Option<&Learner> {
        match &self.role {
            Role::Following(l) => Some(l),
            _ => None,
        }
    }

    /// Has this node finished discovery as leader of `epoch` (ZAB's "established")?
    pub fn established_epoch(&self) -> Option<Epoch> {
        self.leading().and_then(|l| {
            (l.phase != LeaderPhase::Discovery)
                .then_some(l.epoch)
                .flatten()
        })
    }
}
