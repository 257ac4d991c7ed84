//! What the world tells a node: the only way anything reaches [`Node::step`](super::Node::step).
//!
//! spec/zab.md §Inputs. Durability is an input (style rule 3): a node learns that its log or its
//! epochs reached the disk only from [`Input::Persisted`], [`Input::EpochPersisted`],
//! [`Input::Truncated`] and [`Input::SnapshotInstalled`].

use bytes::Bytes;

use super::ids::{ServerId, Zxid};
use super::message::PeerMsg;
use super::timer::Timer;

/// One event for the state machine.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// The process (re)started: begin electing.
    Start,
    /// A timer set earlier fired.
    Timeout(Timer),
    /// A message arrived from a peer.
    Peer {
        /// Sender.
        from: ServerId,
        /// The message.
        msg: PeerMsg,
    },
    /// The link to `peer` broke (TCP reset, or a peer the runtime gave up on); everything in
    /// flight on it is gone.
    PeerLost(ServerId),
    /// A prepared txn to propose (leader only; the runtime turned the client request into txn
    /// bytes first).
    Write {
        /// The txn bytes.
        data: Bytes,
    },
    /// A client write that reached a learner, to forward to the leader as REQUEST.
    Forward {
        /// The request bytes.
        payload: Bytes,
    },
    /// A client `sync` arrived at this server; `id` is the runtime's handle for it. Answered
    /// later by `Effect::SyncReady { id, .. }` or `Effect::SyncFailed { id }` (spec/zab.md §5.6).
    Sync {
        /// The runtime's handle, echoed in the answer.
        id: u64,
    },
    /// A client resumes `session` (a reconnect with its id and password) here. A learner asks
    /// its leader (REVALIDATE), a leader asks its own runtime (`Effect::CheckSession`); the
    /// verdict is `Effect::Revalidated { session, .. }`, or `Effect::RevalidateFailed { session }`
    /// when this server is not serving or leaves broadcast first (spec/zab.md §5.7).
    Revalidate {
        /// The session id.
        session: i64,
        /// The timeout the client negotiated here (ms).
        timeout_ms: i32,
    },
    /// The leader's runtime answers `Effect::CheckSession { origin, session, .. }`: whether
    /// `session` is live in its session table (it touched it when live).
    SessionChecked {
        /// The `origin` of the `CheckSession` answered: a learner, or this node.
        origin: ServerId,
        /// The session.
        session: i64,
        /// Live (and touched).
        valid: bool,
    },
    /// Every txn-log write requested so far, up to and including the txn `upto`, is durable.
    Persisted {
        /// Highest durable zxid.
        upto: Zxid,
    },
    /// The epochs last requested with `PersistEpoch` are durable.
    EpochPersisted,
    /// The `TruncateLog { after }` requested last is durable.
    Truncated {
        /// The zxid the log was cut back to.
        after: Zxid,
    },
    /// The `InstallSnapshot { base }` requested last is durable and the runtime's state is the
    /// snapshot's (applied up to `base`).
    SnapshotInstalled {
        /// The zxid of the installed snapshot.
        base: Zxid,
    },
    /// The runtime no longer needs the node to hold its log entries up to `upto`: a durable
    /// snapshot holds them, or the runtime bounds the in-memory log (`commitLogCount`) and its
    /// disk keeps them. The node drops them (they must be committed: ZAB-COMPACT-COMMITTED) and
    /// sends a learner whose last zxid is below `upto` a SNAP instead of a DIFF.
    Compacted {
        /// The newest zxid the node may drop (at most its committed zxid).
        upto: Zxid,
    },
}
