//! The world's state: servers with their disks and pending writes, FIFO links, the ghost kept
//! for properties, and the events that can happen next (`Action`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use super::shared::Shared;
use zabkeeper::protocol::{
    DurableState, Epoch, LeaderPhase, LearnerPhase, Node, PeerMsg, PeerState, Proposal, ServerId,
    Timer, Zxid,
};

/// One requested log write not yet on disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogWrite {
    /// `PersistTxns`.
    Append {
        /// The txns.
        proposals: Vec<Proposal>,
        /// Commit watermark written with them.
        committed: Zxid,
    },
    /// `TruncateLog`.
    Truncate {
        /// Last zxid kept.
        after: Zxid,
    },
    /// `InstallSnapshot`, with the history the snapshot bytes encode.
    Install {
        /// The snapshot's base.
        base: Zxid,
        /// What the snapshot holds.
        history: Vec<Proposal>,
    },
}

/// One server: its protocol node (none while crashed) and its disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Server {
    /// The protocol state; `None` while crashed.
    pub node: Option<Node>,
    /// What is on disk.
    pub disk: DurableState,
    /// The history the disk's snapshot holds (the txns up to `disk.log_base`).
    pub snapshot: Vec<Proposal>,
    /// The "data tree": every txn applied in this life, in order (`Effect::Commit`, an
    /// installed snapshot, or recovery: the disk's snapshot and its log up to the watermark).
    pub applied: Vec<Proposal>,
    /// A SNAP's snapshot was installed on disk in this life.
    pub installed: bool,
    /// Log writes requested, not yet durable, in order.
    pub pending_log: Vec<LogWrite>,
    /// Epoch write requested, not yet durable.
    pub pending_epoch: Option<(Epoch, Epoch)>,
    /// Armed timers.
    pub timers: BTreeSet<Timer>,
    /// Forwarded requests the leader's runtime is preparing (`Effect::Prepare`), oldest first;
    /// each becomes an `Input::Write` by `Action::Propose`.
    pub prepared: VecDeque<Bytes>,
    /// Restarts so far.
    pub restarts: u8,
    /// A production assertion fired in this server's `step` (its message).
    pub panic: Option<String>,
}

/// History kept only to check properties; never read by a transition's protocol logic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// Which server established each epoch, and its log at that moment (the initial history it
    /// syncs every learner to).
    pub established: BTreeMap<Epoch, (ServerId, Vec<Proposal>)>,
    /// Every proposal each epoch's leader made, in order.
    pub proposed: BTreeMap<Epoch, Vec<Proposal>>,
    /// The committed history of each epoch's leader when it first proposed.
    pub primary_history: BTreeMap<Epoch, Vec<Zxid>>,
    /// Per server: the longest committed sequence it ever had.
    pub committed: Vec<Vec<Proposal>>,
    /// The epoch in which each txn was first committed anywhere (the committing server's
    /// acceptedEpoch): ZAB-COMPLETE asks an epoch-e leader for the txns committed before e.
    pub commit_epoch: BTreeMap<Zxid, Epoch>,
    /// Per server: `(acceptedEpoch, currentEpoch, commit watermark)` on disk, and the in-memory
    /// committed zxid of the current life.
    pub watermarks: Vec<(Epoch, Epoch, Zxid, Zxid)>,
    /// Per server: `(round, proposal)` while LOOKING.
    pub votes: Vec<Option<(u64, zabkeeper::protocol::Vote)>>,
    /// Client `sync`s issued and not failed or checked yet, by id.
    pub syncs: BTreeMap<u64, SyncRecord>,
    /// History-wide violations seen during transitions: property ID → what happened.
    pub violations: BTreeMap<&'static str, String>,
}

/// One client `sync`, for ZAB-SYNC-LINEARIZABLE.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyncRecord {
    /// The server it was issued at (index).
    pub server: usize,
    /// Every txn committed anywhere before it was issued (the union of `Ghost::committed`).
    pub committed_before: Vec<Proposal>,
    /// The read index of its `SyncReady`, once answered.
    pub answer: Option<Zxid>,
}

/// The whole world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterState {
    /// Servers by index (server id = index + 1).
    pub servers: Vec<Shared<Server>>,
    /// FIFO links, `from * n + to`.
    pub links: Vec<Shared<VecDeque<PeerMsg>>>,
    /// Client writes issued.
    pub writes: u8,
    /// Crashes so far.
    pub crashes: u8,
    /// Link breaks so far.
    pub link_faults: u8,
    /// Client `sync`s issued.
    pub syncs: u8,
    /// Per server: silently cut off from every other server (`Action::Isolate`).
    pub isolated: Vec<bool>,
    /// Firings of timers other than `FinalizeWait` so far (`ModelConfig::timer_fires`).
    pub timer_fires: u8,
    /// Snapshots taken so far.
    pub snapshots: u8,
    /// In-memory compactions so far.
    pub compactions: u8,
    /// Property bookkeeping.
    pub ghost: Shared<Ghost>,
}

impl ClusterState {
    /// Number of servers.
    pub fn n(&self) -> usize {
        self.servers.len()
    }

    /// The link from `a` to `b` (indices).
    pub fn link(&self, a: usize, b: usize) -> &VecDeque<PeerMsg> {
        &self.links[a * self.n() + b]
    }

    /// Empties link `k` (`from * n + to`); a link already empty stays shared.
    pub fn clear_link(&mut self, k: usize) {
        if !self.links[k].is_empty() {
            self.links[k].make_mut().clear();
        }
    }

    /// The live nodes.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.servers.iter().filter_map(|s| s.node.as_ref())
    }

    /// Is the link between `a` and `b` silently cut?
    pub fn cut(&self, a: usize, b: usize) -> bool {
        self.isolated[a] || self.isolated[b]
    }
}

/// Everything that can happen next.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The oldest message on link `from → to` arrives.
    Deliver {
        /// Sender index.
        from: usize,
        /// Receiver index.
        to: usize,
    },
    /// A timer fires.
    Timeout {
        /// Server index.
        server: usize,
        /// Which timer.
        timer: Timer,
    },
    /// The oldest pending log write reaches the disk.
    FlushLog {
        /// Server index.
        server: usize,
    },
    /// The pending epoch write reaches the disk.
    FlushEpoch {
        /// Server index.
        server: usize,
    },
    /// A client write arrives at a serving leader.
    Write {
        /// Server index.
        server: usize,
    },
    /// A client write arrives at a server that is not a serving leader (`ModelConfig::forward`).
    Forward {
        /// Server index.
        server: usize,
    },
    /// The leader's runtime has prepared the oldest forwarded request: it is fed as
    /// `Input::Write`.
    Propose {
        /// Server index.
        server: usize,
    },
    /// The server crashes.
    Crash {
        /// Server index.
        server: usize,
    },
    /// The crashed server restarts from its disk.
    Restart {
        /// Server index.
        server: usize,
    },
    /// `sync` model: every pending election message is delivered and every armed finalize
    /// timer fired, in index order, until the election is quiet.
    Elect,
    /// The link between two servers breaks.
    BreakLink {
        /// Lower index.
        a: usize,
        /// Higher index.
        b: usize,
    },
    /// A client issues a `sync` at a serving server.
    Sync {
        /// Server index.
        server: usize,
    },
    /// The server is cut off from all others silently (nobody gets `PeerLost`).
    Isolate {
        /// Server index.
        server: usize,
    },
    /// The server writes a snapshot of its applied history at its committed zxid (durable at
    /// once) and the node is told (`Input::Compacted`).
    Snapshot {
        /// Server index.
        server: usize,
    },
    /// The runtime drops the node's committed log entries without a snapshot (its bound on the
    /// core's log, `commitLogCount`): `Input::Compacted` at the committed zxid; the disk keeps
    /// its log, so a restart recovers them.
    Compact {
        /// Server index.
        server: usize,
    },
}

/// A history as snapshot bytes: per txn its zxid (8 bytes), data length (1 byte), data.
pub fn encode_history(history: &[Proposal]) -> Bytes {
    let mut out = Vec::new();
    for p in history {
        out.extend_from_slice(&p.zxid.0.to_be_bytes());
        out.push(u8::try_from(p.data.len()).expect("model txns are short"));
        out.extend_from_slice(&p.data);
    }
    Bytes::from(out)
}

/// The inverse of [`encode_history`] (the model's bytes only; panics on anything else).
pub fn decode_history(bytes: &[u8]) -> Vec<Proposal> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let zxid = Zxid(u64::from_be_bytes(rest[..8].try_into().expect("8 bytes")));
        let len = usize::from(rest[8]);
        out.push(Proposal {
            zxid,
            data: Bytes::copy_from_slice(&rest[9..9 + len]),
        });
        rest = &rest[9 + len..];
    }
    out
}

/// The txns of `history` up to `base`.
pub(super) fn upto(history: &[Proposal], base: Zxid) -> &[Proposal] {
    &history[..history.partition_point(|p| p.zxid <= base)]
}

impl Server {
    /// The whole history on disk: the snapshot's txns, then the logged ones.
    pub fn disk_history(&self) -> Vec<Proposal> {
        let mut h = upto(&self.snapshot, self.disk.log_base).to_vec();
        h.extend_from_slice(&self.disk.log);
        h
    }

    /// The node's whole history as requested: the txns under its log base (an install not yet
    /// flushed, else the disk's snapshot), then its log.
    pub fn node_history(&self) -> Vec<Proposal> {
        let Some(node) = &self.node else {
            return Vec::new();
        };
        let pending = self.pending_log.iter().rev().find_map(|w| match w {
            LogWrite::Install { history, .. } => Some(history.as_slice()),
            _ => None,
        });
        // Below a base the disk's snapshot does not reach (an in-memory compaction,
        // `Action::Compact`), the txns are those the node applied.
        let under = pending.unwrap_or(if node.log_base() > self.disk.log_base {
            &self.applied
        } else {
            &self.snapshot
        });
        let mut h = upto(under, node.log_base()).to_vec();
        h.extend_from_slice(node.log());
        h
    }

    /// What recovery rebuilds: the disk's snapshot, then its logged txns up to the watermark.
    pub(super) fn recovered_history(&self) -> Vec<Proposal> {
        let committed = self.disk.committed.max(self.disk.log_base);
        upto(&self.disk_history(), committed).to_vec()
    }
}

pub(super) fn is_prefix(a: &[Proposal], b: &[Proposal]) -> bool {
    a.len() <= b.len() && a == &b[..a.len()]
}

/// Is server `i` a restarted server serving again?
pub fn rejoined(state: &ClusterState, i: usize) -> bool {
    let s = &state.servers[i];
    let Some(node) = &s.node else { return false };
    s.restarts > 0
        && (node
            .learning()
            .is_some_and(|l| l.phase == LearnerPhase::Broadcast)
            || node
                .leading()
                .is_some_and(|l| l.phase == LeaderPhase::Broadcast))
}

/// The FLE state names.
pub fn state_name(state: PeerState) -> &'static str {
    match state {
        PeerState::Looking => "LOOKING",
        PeerState::Following => "FOLLOWING",
        PeerState::Leading => "LEADING",
        PeerState::Observing => "OBSERVING",
    }
}
