//! The seeded historical bugs and the bounds under which CI must catch each one.
//!
//! Each mutant is a `protocol::Bug` value: the same build of `src/protocol` contains every bug
//! behind a check of `NodeConfig::bug`, which no server configuration can set. For each, CI runs
//! `zabkeeper-check run` with the flags below and requires exit 1 with a counterexample
//! (spec/historical-bugs.md explains each trace).

use zabkeeper::protocol::Bug;

/// A mutant and how CI finds it.
pub struct Mutant {
    /// The bug.
    pub bug: Bug,
    /// The model it is checked in.
    pub model: &'static str,
    /// `zabkeeper-check run` flags (after the model name, without `--bug`).
    pub args: &'static [&'static str],
    /// The property CI expects to fail first (with breadth-first search).
    pub expected: &'static str,
}

/// The catalogue, in `Bug::ALL` order.
pub fn catalogue() -> Vec<Mutant> {
    Bug::ALL
        .into_iter()
        .map(|bug| {
            let (model, args, expected): (&str, &[&str], &str) = match bug {
                Bug::VoteIgnoresEpochOnZxidTie => ("election", &["--servers", "3"], "NO-PANIC"),
                Bug::EpochNotPersistedBeforeUse => ("zab", &["--servers", "3", "--txns", "0", "--crashes", "1", "--timeouts"], "ZAB-LEADER-UNIQUE"),
                Bug::DiffInsteadOfTrunc => ("zab", &["--servers", "3", "--txns", "1", "--crashes", "1"], "ZAB-HISTORY"),
                Bug::TruncOneTooMany => ("zab", &["--servers", "3", "--txns", "1", "--crashes", "1"], "ZAB-DURABLE"),
                Bug::ReportsProcessedZxid => ("zab", &["--servers", "3", "--txns", "1", "--crashes", "1"], "NO-PANIC"),
                Bug::AckNewLeaderBeforeDurable => ("zab", &["--servers", "3", "--txns", "1", "--crashes", "1"], "ZAB-COMPLETE"),
                Bug::CurrentEpochBeforeTxnsDurable => ("zab", &["--servers", "3", "--txns", "1", "--crashes", "1"], "ZAB-COMPLETE"),
                Bug::DropPendingAtNewLeader => ("zab", &["--servers", "3", "--txns", "1", "--crashes", "0"], "NO-PANIC"),
                Bug::NoAckEpochQuorum => ("zab", &["--servers", "3", "--txns", "0", "--crashes", "0", "--timeouts"], "ZAB-LEADER-UNIQUE"),
                Bug::ProposeOnlyToSynced => ("zab", &["--servers", "3", "--txns", "1", "--crashes", "0"], "NO-PANIC"),
            };
            Mutant { bug, model, args, expected }
        })
        .collect()
}
