//! What a node asks the world to do, in order.
//!
//! spec/zab.md §Effects. The runtime executes effects in the order they were pushed; a send that
//! vouches for durable state is only ever pushed after the input that reported that durability
//! (style rule 3), so executing effects in order never acknowledges what a crash could lose.

use bytes::Bytes;

use super::ids::{Epoch, ServerId, Zxid};
use super::message::{PeerMsg, Proposal};
use super::timer::Timer;
use super::vote::PeerState;

/// Why a write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Not an established leader in the broadcast phase.
    NotLeader,
    /// The epoch's zxid counter is exhausted; the leader steps down (XidRolloverException).
    ZxidRollover,
}

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Send `msg` to `to`.
    Send {
        /// Recipient.
        to: ServerId,
        /// The message.
        msg: PeerMsg,
    },
    /// Send `to` a SNAP: `PeerMsg::Sync { kind: SyncKind::Snap { base, snapshot }, proposals,
    /// committed }` where `snapshot` is the runtime's applied state (its data tree) serialised.
    /// Contract: `base` is the node's committed zxid, and every `Commit` pushed before this
    /// effect has been executed when it is, so the applied state is exactly at `base`; the
    /// runtime checks that and fails loudly otherwise. The core never sees the bytes.
    SendSnapshot {
        /// Recipient.
        to: ServerId,
        /// The zxid the snapshot is at.
        base: Zxid,
        /// The leader's log after `base`, in zxid order.
        proposals: Vec<Proposal>,
        /// The leader's commit point (as in `PeerMsg::Sync`).
        committed: Zxid,
    },
    /// Close the quorum link to `peer` (a learner dropped by its leader, a leader its learner left).
    Disconnect {
        /// The other end.
        peer: ServerId,
    },
    /// Durably write both epoch files; answer with [`Input::EpochPersisted`](super::Input).
    PersistEpoch {
        /// acceptedEpoch.
        accepted: Epoch,
        /// currentEpoch.
        current: Epoch,
    },
    /// Append to the txn log after any earlier log writes; answer with `Persisted { upto }` once
    /// durable. `committed` is the commit watermark known when the write was issued; it is
    /// recorded with the batch so a restart knows which recovered txns are committed.
    PersistTxns {
        /// Txns in zxid order.
        proposals: Vec<Proposal>,
        /// Commit watermark at the time.
        committed: Zxid,
    },
    /// Durably install the leader's `snapshot` (from a SNAP) as this server's state at `base`,
    /// ordered with the log writes: every earlier log write is durable first, no later append
    /// starts before. The runtime writes the snapshot file, replaces its data tree with the
    /// snapshot and sets its applied zxid to `base` (no `Commit` follows for txns up to `base`);
    /// logged txns at or below `base` are superseded by it (the core has already cut, with a
    /// `TruncateLog` before this effect, every logged txn above `base` that the leader does not
    /// have). Answer with `Input::SnapshotInstalled { base }` once durable.
    InstallSnapshot {
        /// The zxid the snapshot is at.
        base: Zxid,
        /// The leader's snapshot bytes, as received.
        snapshot: Bytes,
    },
    /// Drop every logged txn with a zxid above `after` (TRUNC, SNAP), ordered with the appends;
    /// answer with `Input::Truncated { after }` once durable (or with a later `Persisted`).
    TruncateLog {
        /// Last zxid kept.
        after: Zxid,
    },
    /// Apply every txn up to `upto` to the data tree (they are committed and durable here).
    Commit {
        /// Highest committed zxid.
        upto: Zxid,
    },
    /// A write was accepted as proposal `zxid` (the runtime maps it back to the client).
    Proposed {
        /// Its zxid.
        zxid: Zxid,
    },
    /// A forwarded client request reached the leader: prepare it and feed it back as
    /// `Input::Write`.
    Prepare {
        /// The learner that forwarded it.
        from: ServerId,
        /// Request bytes.
        payload: Bytes,
    },
    /// Answer the client `sync` `id` once the data tree has applied `zxid` (the read index:
    /// every txn committed anywhere before the `sync` arrived is at or below it; spec/zab.md
    /// §5.6, ZAB-SYNC-LINEARIZABLE).
    SyncReady {
        /// The handle from `Input::Sync`.
        id: u64,
        /// The read index.
        zxid: Zxid,
    },
    /// The client `sync` `id` cannot be answered: this server is not serving, or it left
    /// broadcast while the `sync` was pending. The runtime fails the request (the client
    /// reconnects elsewhere and retries).
    SyncFailed {
        /// The handle from `Input::Sync`.
        id: u64,
    },
    /// Leader only: is `session` live in my session table (present and not closing)? If so,
    /// touch it with `timeout_ms`. Answer with `Input::SessionChecked { origin, session, valid }`
    /// (ZooKeeper's `Leader.revalidateSession` → `touch`).
    CheckSession {
        /// Who asked: the learner whose REVALIDATE this is, or this node for a client of mine.
        origin: ServerId,
        /// The session.
        session: i64,
        /// The timeout the client negotiated (ms).
        timeout_ms: i32,
    },
    /// The verdict on the resume of `session` (`Input::Revalidate`): valid → the connect
    /// response carries the session's timeout; invalid → timeout 0 (expired), as ZooKeeper.
    Revalidated {
        /// The session.
        session: i64,
        /// Live at the leader.
        valid: bool,
    },
    /// The resume of `session` cannot be judged: this server is not serving, or it left
    /// broadcast while the REVALIDATE was pending. The runtime closes the connection without a
    /// verdict (the client reconnects elsewhere), as ZooKeeper closes it.
    RevalidateFailed {
        /// The session.
        session: i64,
    },
    /// A write was refused.
    Reject {
        /// The server whose client sent it: the learner that forwarded a refused REQUEST, or
        /// this node for its own `Write` / `Forward`.
        from: ServerId,
        /// The refused txn or request bytes.
        data: Bytes,
        /// Why.
        reason: RejectReason,
    },
    /// Arm `timer` to fire after `ticks` (re-arming replaces it).
    SetTimer {
        /// Which timer.
        timer: Timer,
        /// Delay in ticks.
        ticks: u32,
    },
    /// Disarm `timer`.
    CancelTimer(Timer),
    /// The node changed role.
    RoleChanged {
        /// New state.
        state: PeerState,
        /// Known leader, if any.
        leader: Option<ServerId>,
        /// The node's accepted epoch.
        epoch: Epoch,
    },
}

/// The effects of one step, in execution order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects(Vec<Effect>);

impl Effects {
    /// An empty buffer.
    pub fn new() -> Effects {
        Effects(Vec::new())
    }

    /// Appends one effect.
    pub fn push(&mut self, effect: Effect) {
        self.0.push(effect);
    }

    /// Shorthand for `push(Effect::Send { to, msg })`.
    pub fn send(&mut self, to: ServerId, msg: PeerMsg) {
        self.0.push(Effect::Send { to, msg });
    }

    /// The effects so far.
    pub fn as_slice(&self) -> &[Effect] {
        &self.0
    }

    /// Takes every effect out, leaving the buffer empty for the next step.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Effect> {
        self.0.drain(..)
    }
}
