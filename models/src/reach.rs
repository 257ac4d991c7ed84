//! What a run reached: counts of protocol branches taken and maxima of bounds, per run.
//!
//! A passing run proves something only about what it reached. The model counts, for every
//! transition the checker explores *inside the bounds*, which protocol branches the step took
//! (read off the inputs and effects of `Node::step`, never from inside the core), and keeps the
//! maxima of the quantities the bounds limit. The CI profile (`profile.rs`) states, per run,
//! which of these it must reach; `zabkeeper-check run` reports them in its JSON summary.
//!
//! Counts are of explored transitions, so they depend on the bounds and on the model; they are
//! reported to diagnose, and the profile asserts only lower bounds ("reached at least once").

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

macro_rules! marks {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )*) => {
        /// A protocol branch or a bounded quantity a run can reach.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Mark { $( $(#[$doc])* $variant, )* }

        impl Mark {
            /// Every mark, in report order.
            pub const ALL: &'static [Mark] = &[$( Mark::$variant, )*];

            /// The name in reports and in the profile.
            pub fn name(self) -> &'static str {
                match self { $( Mark::$variant => $name, )* }
            }
        }
    };
}

marks! {
    /// A leader sent DIFF with at least one txn.
    DiffWithTxns = "sync:diff-with-txns",
    /// A leader sent an empty DIFF (the learner was up to date).
    DiffEmpty = "sync:diff-empty",
    /// A leader sent TRUNC.
    Trunc = "sync:trunc",
    /// A leader sent SNAP.
    Snap = "sync:snap",
    /// A leader sent SNAP to a learner whose last zxid is below the leader's (compacted) log
    /// base: a DIFF was impossible.
    SnapBelowBase = "sync:snap-below-compacted-base",
    /// A learner asked to install a SNAP's snapshot (its committed zxid was below the base).
    SnapInstall = "sync:snap-install",
    /// A server other than a learner moved its log base up after a snapshot (`Compacted`).
    Compacted = "zab:compacted",
    /// A server dropped committed log entries with no snapshot written (`Action::Compact`).
    CompactedInMemory = "zab:compacted-in-memory",
    /// A crash while a snapshot install was still being written.
    CrashInstallPending = "crash:install-pending",
    /// A crash after a snapshot install reached the disk, with log writes after it pending.
    CrashAfterInstall = "crash:after-install",
    /// A crash after a snapshot install and every log write after it reached the disk.
    CrashAfterInstallLogged = "crash:after-install-logged",
    /// Any other crash.
    CrashOther = "crash:other",
    /// A leader in discovery abdicated on the ACKEPOCH of a learner ahead of it (ZAB-AHEAD).
    AheadAbdication = "zab:ahead-abdication",
    /// A serving leader abdicated when it lost its quorum of synced followers.
    QuorumLostAbdication = "zab:quorum-lost-abdication",
    /// A learner refused a LEADERINFO epoch older than its acceptedEpoch and went LOOKING.
    OldEpochRefused = "zab:old-epoch-refused",
    /// A LOOKING voter heard a LOOKING vote of a newer round and moved to it.
    RoundChange = "fle:round-change",
    /// A LOOKING voter heard a LOOKING vote of an older round and answered it.
    StaleRound = "fle:stale-round",
    /// A LOOKING voter decided on the notifications of servers that already follow or lead.
    JoinedDecided = "fle:joined-decided",
    /// A leader answered a client `sync` of its own (`SyncReady`).
    SyncReadyAtLeader = "read:sync-ready-at-leader",
    /// A learner answered a client `sync` with its leader's read index (`SyncReady`).
    SyncReadyAtLearner = "read:sync-ready-at-learner",
    /// A leader or learner failed a pending client `sync` as it went LOOKING.
    SyncFailedOnLeaving = "read:sync-failed-on-leaving",
    /// A leader sent INFORM (a commit to an observer).
    Inform = "zab:inform",
    /// A learner forwarded a client request to its leader (REQUEST).
    Forwarded = "zab:request-forwarded",
    /// A leader asked its runtime to prepare a forwarded request (`Effect::Prepare`).
    Prepared = "zab:prepared",
    /// The initLimit timer fired.
    InitLimitFired = "timer:init-limit",
    /// The syncLimit timer fired.
    SyncLimitFired = "timer:sync-limit",
    /// The heartbeat timer fired.
    HeartbeatFired = "timer:heartbeat",
    /// FLE's notification-resend timer fired.
    NotifyFired = "timer:notify",
    /// Largest election round of any server.
    MaxRound = "max:round",
    /// Largest epoch a leader was established for.
    MaxEpochEstablished = "max:epoch-established",
    /// Longest committed sequence of one server.
    MaxTxnsCommitted = "max:txns-committed",
    /// Most crashes on one path.
    MaxCrashes = "max:crashes",
    /// Most link breaks on one path.
    MaxLinkFaults = "max:link-faults",
    /// Most servers silently isolated on one path.
    MaxIsolations = "max:isolations",
}

impl Mark {
    /// Is this a maximum (the others count transitions)?
    pub fn is_max(self) -> bool {
        self.name().starts_with("max:")
    }

    /// Parses a report name.
    pub fn from_name(name: &str) -> Option<Mark> {
        Mark::ALL.iter().copied().find(|m| m.name() == name)
    }
}

/// The counters of one run, shared by the checker's threads.
#[derive(Debug)]
pub struct Reach {
    values: Vec<AtomicU64>,
}

impl Default for Reach {
    fn default() -> Reach {
        Reach {
            values: Mark::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Reach {
    /// Counts one transition that took branch `mark`.
    pub fn count(&self, mark: Mark) {
        self.values[mark as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Raises maximum `mark` to `value`.
    pub fn max(&self, mark: Mark, value: u64) {
        let slot = &self.values[mark as usize];
        // A read first: the shared cache line is written only when the maximum grows.
        if value > slot.load(Ordering::Relaxed) {
            slot.fetch_max(value, Ordering::Relaxed);
        }
    }

    /// The value of `mark`.
    pub fn get(&self, mark: Mark) -> u64 {
        self.values[mark as usize].load(Ordering::Relaxed)
    }

    /// Every mark with its value, as a JSON object.
    pub fn to_json(&self) -> Value {
        let map: Map<String, Value> = Mark::ALL
            .iter()
            .map(|m| (m.name().to_string(), Value::from(self.get(*m))))
            .collect();
        Value::Object(map)
    }
}
