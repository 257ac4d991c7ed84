//! Named timers. The core never reads a clock: it asks for a timer with
//! [`Effect::SetTimer`](super::Effect::SetTimer) and learns it fired from
//! [`Input::Timeout`](super::Input::Timeout). The runtime maps ticks to tokio time; the model
//! checker fires timers as nondeterministic events.
//!
//! spec/election.md §Timers, spec/zab.md §Liveness.

/// Every timer a node can set; at most one of each is armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// LOOKING: resend notifications (FLE's doubling receive timeout).
    Notify,
    /// LOOKING: a quorum agrees; decide unless a better vote arrives first (FLE finalizeWait).
    FinalizeWait,
    /// LEADING during discovery/sync, or a learner before UPTODATE: initLimit expired.
    InitLimit,
    /// Broadcast phase: syncLimit expired without hearing from the peer(s).
    SyncLimit,
    /// Broadcast phase: send heartbeats (every half tick in ZooKeeper; every tick here).
    Heartbeat,
}
