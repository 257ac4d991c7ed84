//! Static configuration of one node: who I am, who votes, the tick budgets, and (for the model
//! checker only) which historical bug to re-introduce.
//!
//! spec/zab.md §Configuration, spec/historical-bugs.md.

use std::collections::BTreeSet;

use super::ids::ServerId;
use super::quorum::QuorumVerifier;

/// A seeded historical ZooKeeper bug (a "mutant").
///
/// The model checker sets one to prove that the properties catch it, and the simulation sets one
/// (`server::Seams::core_bug`) to replay a model counterexample on the real server; the binary
/// never does (no zoo.cfg key or flag reaches this field), so one build checks every mutant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// ZOOKEEPER-1419: the vote comparison ignores the epoch when zxids tie.
    VoteIgnoresEpochOnZxidTie,
    /// ZOOKEEPER-335 / 1291: a follower answers LEADERINFO before its acceptedEpoch is durable.
    EpochNotPersistedBeforeUse,
    /// ZOOKEEPER-1154 / 2832: the leader sends DIFF where the learner has a divergent tail.
    DiffInsteadOfTrunc,
    /// ZOOKEEPER-1156: the learner truncates one entry more than TRUNC asks.
    TruncOneTooMany,
    /// ZOOKEEPER-2845: the learner reports its in-memory processed zxid, not its last logged one.
    ReportsProcessedZxid,
    /// ZOOKEEPER-3911 / 4646 / 4785: the learner ACKs NEWLEADER before the synced txns are durable.
    AckNewLeaderBeforeDurable,
    /// ZOOKEEPER-4643: the learner persists currentEpoch before the synced txns are durable.
    CurrentEpochBeforeTxnsDurable,
    /// ZOOKEEPER-4394: proposals received during sync are dropped at NEWLEADER.
    DropPendingAtNewLeader,
    /// ZOOKEEPER-1191: the leader fixes its epoch and syncs without a quorum of ACKEPOCH.
    NoAckEpochQuorum,
    /// ZAB TLA+ specs' "issue 1": PROPOSALs go only to learners that finished syncing.
    ProposeOnlyToSynced,
    /// New: the leader counts its own ACK of a proposal before its log write is durable.
    LeaderSelfAckBeforeDurable,
    /// New: a follower ACKs a proposal as soon as it is logged, before `Persisted`.
    FollowerAckBeforeDurable,
    /// New: the leader counts an ACKEPOCH that carries no currentEpoch (-1) toward its quorum.
    AckEpochCountsUnknown,
    /// New: FLE decides on a majority of the votes it heard, not of the voters.
    ElectionMajorityOfHeard,
    /// New: a DIFF re-sends the learner's last txn, which the learner then logs twice.
    DiffResendsLast,
    /// New: a DIFF starts one txn late, leaving a hole in the learner's log.
    DiffSkipsFirst,
    /// New: a follower applies a COMMIT beyond what is durable on its own disk.
    FollowerCommitsUndurable,
    /// New: a follower applies every durable proposal without waiting for COMMIT.
    FollowerAppliesUncommitted,
    /// New: the leader counts itself in the NEWLEADER quorum, and starts serving, before its
    /// currentEpoch is durable.
    LeaderEpochNotDurable,
    /// ZOOKEEPER-2959: observers are counted when the leader fixes its epoch and tallies
    /// ACKEPOCH.
    ObserversInEpochQuorum,
    /// ZOOKEEPER-1675 / 2136: the leader answers a client `sync` once its read index is
    /// committed, without the quorum heartbeat round that proves it still leads (what Apache
    /// ZooKeeper does): a deposed leader that has not noticed answers from its old state.
    SyncWithoutQuorum,
    /// New: a SNAP's base is the txn before the leader's committed zxid, while the snapshot the
    /// runtime ships holds its applied state at the committed zxid.
    SnapBaseBelowApplied,
    /// The leader answers a session resume (REVALIDATE, its own client's or a learner's) from
    /// its session table at once, without the quorum round that proves it still leads (what
    /// Apache ZooKeeper's `Leader.revalidateSession` does): a deposed leader that has not
    /// noticed resumes a session the new leader expired, or expires one it created.
    RevalidateWithoutQuorum,
}

impl Bug {
    /// Every mutant the models must catch, in catalogue order (`ackepoch-counts-unknown` by the
    /// CI profile's schedule run, a replay of its known 5-server schedule, not by a search).
    pub const ALL: [Bug; 22] = [
        Bug::VoteIgnoresEpochOnZxidTie,
        Bug::EpochNotPersistedBeforeUse,
        Bug::DiffInsteadOfTrunc,
        Bug::TruncOneTooMany,
        Bug::ReportsProcessedZxid,
        Bug::AckNewLeaderBeforeDurable,
        Bug::CurrentEpochBeforeTxnsDurable,
        Bug::DropPendingAtNewLeader,
        Bug::NoAckEpochQuorum,
        Bug::ProposeOnlyToSynced,
        Bug::LeaderSelfAckBeforeDurable,
        Bug::FollowerAckBeforeDurable,
        Bug::AckEpochCountsUnknown,
        Bug::ElectionMajorityOfHeard,
        Bug::DiffResendsLast,
        Bug::DiffSkipsFirst,
        Bug::FollowerCommitsUndurable,
        Bug::FollowerAppliesUncommitted,
        Bug::LeaderEpochNotDurable,
        Bug::SyncWithoutQuorum,
        Bug::ObserversInEpochQuorum,
        Bug::SnapBaseBelowApplied,
    ];

    /// Real bugs no model run reaches: `--bug` accepts them, but they are not in [`Bug::ALL`],
    /// the list CI requires the models to catch. `revalidate-without-quorum`: the models do not
    /// generate session resumes (sessions live in the runtime); the simulation catches it
    /// (`SIM_BUG=revalidate-without-quorum`, tests/sim/main.rs). (`ackepoch-counts-unknown`,
    /// which no search reaches — it needs 5 servers, spec/historical-bugs.md §12.3 — is caught
    /// by the CI profile's schedule run, `models/src/profile.rs` `SCHEDULES`.)
    pub const NOT_IN_MODELS: [Bug; 1] = [Bug::RevalidateWithoutQuorum];

    /// The command-line name (`--bug NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Bug::VoteIgnoresEpochOnZxidTie => "vote-ignores-epoch",
            Bug::EpochNotPersistedBeforeUse => "epoch-not-persisted",
            Bug::DiffInsteadOfTrunc => "diff-instead-of-trunc",
            Bug::TruncOneTooMany => "trunc-one-too-many",
            Bug::ReportsProcessedZxid => "reports-processed-zxid",
            Bug::AckNewLeaderBeforeDurable => "ack-newleader-before-durable",
            Bug::CurrentEpochBeforeTxnsDurable => "current-epoch-before-txns",
            Bug::DropPendingAtNewLeader => "drop-pending-at-newleader",
            Bug::NoAckEpochQuorum => "no-ackepoch-quorum",
            Bug::ProposeOnlyToSynced => "propose-only-to-synced",
            Bug::LeaderSelfAckBeforeDurable => "leader-self-ack-before-durable",
            Bug::FollowerAckBeforeDurable => "follower-ack-before-durable",
            Bug::AckEpochCountsUnknown => "ackepoch-counts-unknown",
            Bug::ElectionMajorityOfHeard => "election-majority-of-heard",
            Bug::DiffResendsLast => "diff-resends-last",
            Bug::DiffSkipsFirst => "diff-skips-first",
            Bug::FollowerCommitsUndurable => "follower-commits-undurable",
            Bug::FollowerAppliesUncommitted => "follower-applies-uncommitted",
            Bug::LeaderEpochNotDurable => "leader-epoch-not-durable",
            Bug::ObserversInEpochQuorum => "observers-in-epoch-quorum",
            Bug::SyncWithoutQuorum => "sync-without-quorum",
            Bug::SnapBaseBelowApplied => "snap-base-below-committed",
            Bug::RevalidateWithoutQuorum => "revalidate-without-quorum",
        }
    }

    /// The ZooKeeper issue(s) the mutant re-creates, or `"new"` for a bug written for this
    /// project (no ZooKeeper issue known to us).
    pub fn history(self) -> &'static str {
        match self {
            Bug::VoteIgnoresEpochOnZxidTie => "ZOOKEEPER-1419",
            Bug::EpochNotPersistedBeforeUse => "ZOOKEEPER-335, ZOOKEEPER-1291",
            Bug::DiffInsteadOfTrunc => "ZOOKEEPER-1154, ZOOKEEPER-2832",
            Bug::TruncOneTooMany => "ZOOKEEPER-1156",
            Bug::ReportsProcessedZxid => "ZOOKEEPER-2845",
            Bug::AckNewLeaderBeforeDurable => "ZOOKEEPER-3911, ZOOKEEPER-4646, ZOOKEEPER-4785",
            Bug::CurrentEpochBeforeTxnsDurable => "ZOOKEEPER-4643",
            Bug::DropPendingAtNewLeader => "ZOOKEEPER-4394",
            Bug::NoAckEpochQuorum => "ZOOKEEPER-1191",
            Bug::ProposeOnlyToSynced => {
                "ZAB TLA+ spec issue 1 (apache/zookeeper zookeeper-specifications)"
            }
            Bug::ObserversInEpochQuorum => "ZOOKEEPER-2959",
            Bug::SyncWithoutQuorum => "ZOOKEEPER-1675, ZOOKEEPER-2136",
            Bug::RevalidateWithoutQuorum => "ZooKeeper's Leader.revalidateSession (no issue known)",
            Bug::LeaderSelfAckBeforeDurable
            | Bug::FollowerAckBeforeDurable
            | Bug::AckEpochCountsUnknown
            | Bug::ElectionMajorityOfHeard
            | Bug::DiffResendsLast
            | Bug::DiffSkipsFirst
            | Bug::FollowerCommitsUndurable
            | Bug::FollowerAppliesUncommitted
            | Bug::LeaderEpochNotDurable
            | Bug::SnapBaseBelowApplied => "new",
        }
    }

    /// Parses a command-line name (any mutant, including [`Bug::NOT_IN_MODELS`]).
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL
            .into_iter()
            .chain(Bug::NOT_IN_MODELS)
            .find(|b| b.name() == name)
    }
}

/// Everything a node needs to know that never changes while it runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeConfig {
    /// This server.
    pub my_id: ServerId,
    /// The voting members (participants), including me if I am one.
    pub voters: BTreeSet<ServerId>,
    /// Non-voting members (observers).
    pub observers: BTreeSet<ServerId>,
    /// initLimit: ticks a leader waits for discovery and sync; ticks a learner waits to sync.
    pub init_limit_ticks: u32,
    /// syncLimit: ticks without hearing from the peer before giving up on it.
    pub sync_limit_ticks: u32,
    /// FLE's finalize wait (ZooKeeper: 200 ms), in ticks of this node's timer wheel.
    pub finalize_wait_ticks: u32,
    /// FLE's maximum notification resend interval in ticks (ZooKeeper: 60 s).
    pub max_notify_ticks: u32,
    /// A seeded bug; `None` in every real server.
    pub bug: Option<Bug>,
}

impl NodeConfig {
    /// A participant `my_id` among `voters` with ZooKeeper's default limits (initLimit 10,
    /// syncLimit 5, finalize wait 1 tick).
    pub fn new(my_id: ServerId, voters: impl IntoIterator<Item = ServerId>) -> NodeConfig {
        NodeConfig {
            my_id,
            voters: voters.into_iter().collect(),
            observers: BTreeSet::new(),
            init_limit_ticks: 10,
            sync_limit_ticks: 5,
            finalize_wait_ticks: 1,
            max_notify_ticks: 30,
            bug: None,
        }
    }

    /// Adds observers.
    pub fn with_observers(mut self, observers: impl IntoIterator<Item = ServerId>) -> NodeConfig {
        self.observers = observers.into_iter().collect();
        self
    }

    /// Is this node an observer?
    pub fn is_observer(&self) -> bool {
        self.observers.contains(&self.my_id)
    }

    /// The quorum rule over the voters.
    pub fn quorum(&self) -> QuorumVerifier {
        QuorumVerifier::majority(self.voters.clone())
    }

    /// Is `bug` the seeded bug?
    pub fn has_bug(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mutant_has_a_unique_name_that_parses_back() {
        let all: Vec<Bug> = Bug::ALL.into_iter().chain(Bug::NOT_IN_MODELS).collect();
        let names: BTreeSet<&str> = all.iter().map(|b| b.name()).collect();
        assert_eq!(names.len(), all.len(), "duplicate --bug name");
        for b in all {
            assert_eq!(Bug::from_name(b.name()), Some(b));
            assert!(!Bug::ALL.contains(&b) || !Bug::NOT_IN_MODELS.contains(&b));
        }
    }
}
