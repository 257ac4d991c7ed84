//! Peer messages: one variant per packet of FLE and ZAB 1.0, named as ZooKeeper names them.
//!
//! spec/zab.md §Messages; facts: ../shared/reference/zookeeper-formats.md B.3, B.7. The encoding
//! on the election and quorum ports lives in `wire`; this is the meaning.
//!
//! One deliberate packing, equivalent under FIFO links: the sync packet carries its proposals
//! (ZooKeeper sends DIFF/TRUNC/SNAP followed by PROPOSAL+COMMIT pairs back to back on the same TCP
//! stream). SNAP carries an opaque snapshot of the leader's applied state at a base zxid, then the
//! proposals after it (spec/zab.md §4.3); the core never looks inside the snapshot.

use bytes::Bytes;

use super::ids::{Epoch, Zxid};
use super::vote::{PeerState, Vote};

/// A proposal: a zxid and the opaque txn bytes (TxnHeader + txn record in the runtime, one byte in
/// the models).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Proposal {
    /// Its zxid; unique cluster-wide because one leader owns each epoch (ZAB-LEADER-UNIQUE).
    pub zxid: Zxid,
    /// The txn, opaque to the protocol.
    pub data: Bytes,
}

/// How a leader brings a learner's log in line with its own (spec/zab.md §Sync).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncKind {
    /// Append the proposals after the learner's last zxid.
    Diff,
    /// Drop every logged txn after `to`, then append the proposals.
    Trunc {
        /// The last zxid the learner keeps.
        to: Zxid,
    },
    /// Replace the history up to `base` by the leader's snapshot, then append the proposals.
    Snap {
        /// The zxid the snapshot is at: it holds exactly the leader's committed txns up to here.
        base: Zxid,
        /// The leader's applied state at `base`, opaque to the core: the runtime's serialised
        /// data tree (ZooKeeper's snapshot format), the models' encoded history. Empty in a plan
        /// (`sync::plan_sync`): the runtime fills it (`Effect::SendSnapshot`).
        snapshot: Bytes,
    },
}

/// Every message exchanged between servers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerMsg {
    /// FLE notification: the sender's state, its vote, and its logical clock (`electionEpoch`).
    Notification {
        /// Sender's state.
        state: PeerState,
        /// Sender's current vote (or the leader it follows).
        vote: Vote,
        /// Sender's election round.
        round: u64,
    },
    /// FOLLOWERINFO / OBSERVERINFO: a learner announces itself with its acceptedEpoch.
    FollowerInfo {
        /// Learner's acceptedEpoch.
        accepted_epoch: Epoch,
        /// OBSERVERINFO rather than FOLLOWERINFO.
        observer: bool,
    },
    /// LEADERINFO: the new epoch the leader proposes.
    LeaderInfo {
        /// Proposed epoch.
        epoch: Epoch,
    },
    /// ACKEPOCH: the learner accepted the epoch; it reports its currentEpoch (`None` = -1, already
    /// accepted) and last logged zxid.
    AckEpoch {
        /// Learner's currentEpoch, or `None` when it had already accepted this epoch.
        current_epoch: Option<Epoch>,
        /// Learner's last logged zxid.
        last_zxid: Zxid,
    },
    /// DIFF / TRUNC / SNAP plus the proposals the learner lacks and how far they are committed.
    Sync {
        /// Which of the three.
        kind: SyncKind,
        /// Proposals to append after the cut, in zxid order.
        proposals: Vec<Proposal>,
        /// The leader's last committed zxid at the time (the COMMITs of the DIFF stream).
        committed: Zxid,
    },
    /// NEWLEADER: end of the sync stream; ACK it once everything before it is durable.
    NewLeader {
        /// The new epoch.
        epoch: Epoch,
    },
    /// UPTODATE: the leader is established; start serving.
    UpToDate,
    /// PROPOSAL of a txn.
    Propose(Proposal),
    /// ACK: every proposal up to `zxid` is durable here (an ACK of `epoch << 32` acknowledges
    /// NEWLEADER).
    Ack {
        /// Highest durable zxid acknowledged.
        zxid: Zxid,
    },
    /// COMMIT of every proposal up to `zxid`.
    Commit {
        /// Highest committed zxid.
        zxid: Zxid,
    },
    /// INFORM: a committed proposal for an observer.
    Inform(Proposal),
    /// PING: liveness in both directions. The leader's PING carries its current heartbeat round
    /// and a learner echoes it back unchanged; an echo of a round the leader started after a
    /// client `sync` arrived proves that learner still followed it then (spec/zab.md §5.6).
    Ping {
        /// The leader's heartbeat round (0 until a `sync` asked for one).
        round: u64,
    },
    /// REQUEST: a write forwarded by a learner, opaque to the protocol.
    Request {
        /// The request bytes.
        payload: Bytes,
    },
    /// REQUEST of type sync: a client `sync` that reached a learner, forwarded to the leader
    /// (ZooKeeper forwards it as a REQUEST packet whose type is OpCode.sync). The learner is the
    /// sender of the message; `id` is its runtime's handle, echoed in the reply.
    SyncRequest {
        /// The learner runtime's handle for the client `sync`.
        id: u64,
    },
    /// SYNC (Leader.SYNC = 7): the leader's answer to a forwarded `sync`: the learner answers
    /// its client once its tree has applied `zxid`, the leader's read index (spec/zab.md §5.6).
    SyncReply {
        /// The handle of the `SyncRequest` answered.
        id: u64,
        /// The read index: the leader's last proposed zxid when the request arrived.
        zxid: Zxid,
    },
    /// REVALIDATE (6), learner → leader: a client resumes `session` here; is it still live in
    /// the leader's table (ZooKeeper's `Learner.validateSession`)? The learner is the sender.
    Revalidate {
        /// The session being resumed.
        session: i64,
        /// The session timeout the client negotiated here (ms); the leader touches the session
        /// with it when valid.
        timeout_ms: i32,
    },
    /// REVALIDATE (6), leader → learner: the verdict on `session` (ZooKeeper's
    /// `LearnerHandler` → `Leader.revalidateSession`).
    RevalidateReply {
        /// The session asked about.
        session: i64,
        /// Live in the leader's table (and touched there).
        valid: bool,
    },
}

impl PeerMsg {
    /// Is this an election-port message?
    pub fn is_election(&self) -> bool {
        matches!(self, PeerMsg::Notification { .. })
    }

    /// ZooKeeper's name for the packet, for traces.
    pub fn name(&self) -> &'static str {
        match self {
            PeerMsg::Notification { .. } => "NOTIFICATION",
            PeerMsg::FollowerInfo {
                observer: false, ..
            } => "FOLLOWERINFO",
            PeerMsg::FollowerInfo { observer: true, .. } => "OBSERVERINFO",
            PeerMsg::LeaderInfo { .. } => "LEADERINFO",
            PeerMsg::AckEpoch { .. } => "ACKEPOCH",
            PeerMsg::Sync {
                kind: SyncKind::Diff,
                ..
            } => "DIFF",
            PeerMsg::Sync {
                kind: SyncKind::Trunc { .. },
                ..
            } => "TRUNC",
            PeerMsg::Sync {
                kind: SyncKind::Snap { .. },
                ..
            } => "SNAP",
            PeerMsg::NewLeader { .. } => "NEWLEADER",
            PeerMsg::UpToDate => "UPTODATE",
            PeerMsg::Propose(_) => "PROPOSAL",
            PeerMsg::Ack { .. } => "ACK",
            PeerMsg::Commit { .. } => "COMMIT",
            PeerMsg::Inform(_) => "INFORM",
            PeerMsg::Ping { .. } => "PING",
            PeerMsg::Request { .. } => "REQUEST",
            PeerMsg::SyncRequest { .. } => "REQUEST(sync)",
            PeerMsg::SyncReply { .. } => "SYNC",
            PeerMsg::Revalidate { .. } => "REVALIDATE",
            PeerMsg::RevalidateReply { .. } => "REVALIDATE(reply)",
        }
    }
}
