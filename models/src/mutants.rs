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
                Bug::EpochNotPersistedBeforeUse => (
                    "sync",
                    &[
                        "--servers",
                        "3",
                        "--txns",
                        "0",
                        "--crashes",
                        "1",
                        "--link-faults",
                        "1",
                    ],
                    "ZAB-LEADER-UNIQUE",
                ),
                Bug::DiffInsteadOfTrunc => (
                    "sync",
                    &["--servers", "3", "--txns", "1", "--crashes", "1"],
                    "ZAB-HISTORY",
                ),
                Bug::TruncOneTooMany => (
                    "sync",
                    &["--servers", "3", "--txns", "2", "--crashes", "1"],
                    "ZAB-MONO",
                ),
                Bug::ReportsProcessedZxid => (
                    "sync",
                    &["--servers", "3", "--txns", "1", "--crashes", "1"],
                    "NO-PANIC",
                ),
                Bug::AckNewLeaderBeforeDurable => (
                    "sync",
                    &[
                        "--servers",
                        "3",
                        "--txns",
                        "1",
                        "--crashes",
                        "1",
                        "--link-faults",
                        "1",
                    ],
                    "ZAB-COMPLETE",
                ),
                Bug::CurrentEpochBeforeTxnsDurable => (
                    "sync",
                    &["--servers", "3", "--txns", "1", "--crashes", "2"],
                    "ZAB-COMPLETE",
                ),
                Bug::DropPendingAtNewLeader => (
                    "sync",
                    &["--servers", "3", "--txns", "1", "--crashes", "1"],
                    "ZAB-DURABLE",
                ),
                Bug::NoAckEpochQuorum => (
                    "sync",
                    &["--servers", "3", "--txns", "1", "--crashes", "1"],
                    "ZAB-LEADER-UNIQUE",
                ),
                Bug::ProposeOnlyToSynced => (
                    "sync",
                    &["--servers", "3", "--txns", "2", "--crashes", "0"],
                    "NO-PANIC",
                ),
                Bug::LeaderSelfAckBeforeDurable => (
                    "sync",
                    &["--servers", "3", "--txns", "2", "--crashes", "1"],
                    "ZAB-COMPLETE",
                ),
                Bug::FollowerAckBeforeDurable => (
                    "sync",
                    &["--servers", "3", "--txns", "2", "--crashes", "1"],
                    "ZAB-COMPLETE",
                ),
                Bug::ElectionMajorityOfHeard => ("election", &["--servers", "3"], "FLE-UPTODATE"),
                Bug::DiffResendsLast => (
                    "sync",
                    &["--servers", "3", "--txns", "1", "--crashes", "1"],
                    "NO-PANIC",
                ),
                Bug::DiffSkipsFirst => (
                    "sync",
                    &["--servers", "3", "--txns", "2", "--crashes", "0"],
                    "NO-PANIC",
                ),
                Bug::FollowerCommitsUndurable => (
                    "sync",
                    &["--servers", "3", "--txns", "1", "--crashes", "0"],
                    "NO-PANIC",
                ),
                Bug::FollowerAppliesUncommitted => (
                    "sync",
                    &["--servers", "3", "--txns", "1", "--crashes", "1"],
                    "ZAB-COMPLETE",
                ),
                Bug::LeaderEpochNotDurable => (
                    "sync",
                    &["--servers", "3", "--txns", "2", "--crashes", "1"],
                    "ZAB-COMPLETE",
                ),
                Bug::AckEpochCountsUnknown | Bug::ObserversInEpochQuorum => {
                    unreachable!("not in Bug::ALL: the models cannot reach it")
                }
            };
            Mutant {
                bug,
                model,
                args,
                expected,
            }
        })
        .collect()
}
