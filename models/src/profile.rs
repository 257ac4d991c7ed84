//! The CI profile: the one list of model-checking runs that guards the core.
//!
//! `zabkeeper-check ci` runs exactly these, in this order, and `.ci/run` calls
//! `zabkeeper-check ci` (on the core, then with every `--bug`); nothing else defines CI bounds.
//! Two kinds of run:
//!
//! - [`CI`], searches: each is written as the `zabkeeper-check run` flags that reproduce it, and
//!   states what it must reach (`reach.rs`): a run that passes without reaching its branches
//!   proves nothing about them, so a missed goal fails the profile like a violation does. They
//!   are ordered cheapest first, so that a seeded bug is usually caught by an early run.
//! - [`SCHEDULES`], schedule runs (`schedule.rs`): a recorded schedule of actions replayed in the
//!   world of a model's bounds, every property checked in every state it reaches; a step that is
//!   not enabled is an error of the run. A regression check of one known behaviour, not
//!   exploration: it stands for a bug whose search does not finish (the 5-server schedule of
//!   `ackepoch-counts-unknown`, issue 8; the 5-server search is issue 12's). They run after the
//!   searches, so that a bug a search catches is reported with the search's shortest
//!   counterexample (another bug may also disable a schedule's step: that is an error, not a
//!   catch).
//!
//! verification.md §3 has, per run, its states and time, and per property the run that can
//! violate it.

use crate::args::{parse_run_line, RunLine};
use crate::cluster::{ackepoch, Action};
use crate::reach::Mark;

/// One run of the profile.
#[derive(Clone, Copy, Debug)]
pub struct ProfileRun {
    /// Short name in reports.
    pub name: &'static str,
    /// `zabkeeper-check run` flags (model first).
    pub flags: &'static [&'static str],
    /// What this run must reach: each mark at least this often (counts) or this high (maxima).
    pub goals: &'static [(Mark, u64)],
    /// Why the run is in the profile.
    pub why: &'static str,
}

impl ProfileRun {
    /// The flags with `--bug NAME` and `--threads K` added, parsed as `run` would parse them.
    pub fn line(&self, bug: Option<&str>, threads: Option<usize>) -> Result<RunLine, String> {
        let mut flags: Vec<String> = self.flags.iter().map(|f| f.to_string()).collect();
        if let Some(bug) = bug {
            flags.extend(["--bug".to_string(), bug.to_string()]);
        }
        if let Some(t) = threads {
            flags.extend(["--threads".to_string(), t.to_string()]);
        }
        let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
        parse_run_line(&refs)
    }

    /// The command that reproduces this run.
    pub fn command(&self) -> String {
        format!("zabkeeper-check run {}", self.flags.join(" "))
    }

    /// The goals a run's `reached` report misses, as `mark >= n (got m)`.
    pub fn unreached(&self, reached: &serde_json::Value) -> Vec<String> {
        self.goals
            .iter()
            .filter_map(|(mark, want)| {
                let got = reached[mark.name()].as_u64().unwrap_or(0);
                (got < *want)
                    .then(|| format!("{}: {} >= {want} (got {got})", self.name, mark.name()))
            })
            .collect()
    }
}

use Mark::*;

/// The CI profile, cheapest run first (by measured CPU time, verification.md §3).
pub const CI: &[ProfileRun] = &[
    ProfileRun {
        name: "sync-smoke",
        flags: &["sync", "--servers", "3", "--txns", "1", "--crashes", "1"],
        goals: &[(DiffWithTxns, 1), (Trunc, 1), (AheadAbdication, 1), (MaxEpochEstablished, 3)],
        why: "a few seconds that catch most sync and durability bugs before the long runs (its space is contained in sync-2txn's)",
    },
    ProfileRun {
        name: "sync-clients",
        flags: &["sync", "--servers", "3", "--observers", "1", "--txns", "1", "--crashes", "0", "--forward", "--timers", "notify", "--timer-fires", "1"],
        goals: &[(Inform, 1), (Forwarded, 1), (Prepared, 1), (NotifyFired, 1), (MaxTxnsCommitted, 1)],
        why: "an observer (OBSERVERINFO, INFORM, its resent notification) and client writes at learners (REQUEST, Prepare, the write fed back) and at servers that cannot take them",
    },
    ProfileRun {
        name: "sync-timers",
        flags: &["sync", "--servers", "3", "--txns", "1", "--crashes", "0", "--forward", "--timers", "init,sync,heartbeat", "--timer-fires", "1"],
        goals: &[(InitLimitFired, 1), (SyncLimitFired, 1), (HeartbeatFired, 1), (Prepared, 1), (MaxEpochEstablished, 3)],
        why: "one firing of initLimit, syncLimit or the heartbeat anywhere: leaders and learners giving up on each other, PING both ways, a prepared write reaching a leader that lost its role",
    },
    ProfileRun {
        name: "sync-snap",
        flags: &["sync", "--servers", "3", "--txns", "1", "--crashes", "1", "--snapshots", "1", "--compactions", "1"],
        goals: &[
            (Compacted, 1),
            (CompactedInMemory, 1),
            (SnapBelowBase, 1),
            (SnapInstall, 1),
            (CrashInstallPending, 1),
            (CrashAfterInstallLogged, 1),
        ],
        why: "a snapshot, an in-memory compaction with no snapshot (the runtime's commitLogCount bound) and a SNAP below the compacted base in seconds: install, crash before it is durable and after, restart over a log longer than memory held",
    },
    ProfileRun {
        name: "election",
        flags: &["election", "--servers", "3"],
        goals: &[(JoinedDecided, 1)],
        why: "FLE alone from 64 starting histories, every interleaving of notifications: vote order, FLE-UPTODATE",
    },
    ProfileRun {
        name: "election-link",
        flags: &["election", "--servers", "3", "--link-faults", "1", "--histories", "2", "--max-round", "1"],
        goals: &[(MaxLinkFaults, 1), (JoinedDecided, 1)],
        why: "FLE with a lost link (votes re-sent on the new connection) from 8 starting histories",
    },
    ProfileRun {
        name: "sync-read",
        flags: &["sync", "--servers", "3", "--txns", "1", "--crashes", "0", "--syncs", "1", "--isolations", "1"],
        goals: &[
            (SyncReadyAtLeader, 1),
            (SyncReadyAtLearner, 1),
            (SyncFailedOnLeaving, 1),
            (MaxIsolations, 1),
            (MaxEpochEstablished, 2),
            (MaxTxnsCommitted, 1),
        ],
        why: "a client sync at any serving server while one server may be cut off silently (only syncLimit reveals it): a deposed leader that believes it leads while a new epoch commits (ZAB-SYNC-LINEARIZABLE)",
    },
    ProfileRun {
        name: "zab",
        flags: &["zab", "--servers", "3", "--txns", "1", "--crashes", "1"],
        goals: &[
            (DiffWithTxns, 1),
            (DiffEmpty, 1),
            (QuorumLostAbdication, 1),
            (MaxTxnsCommitted, 1),
            (MaxCrashes, 1),
        ],
        why: "every interleaving of election, discovery, sync and broadcast in the first epoch, split votes included",
    },
    ProfileRun {
        name: "sync-observer",
        flags: &["sync", "--servers", "3", "--observers", "1", "--txns", "0", "--crashes", "1", "--timers", "notify", "--timer-fires", "1"],
        goals: &[(MaxCrashes, 1), (NotifyFired, 1), (JoinedDecided, 1), (MaxEpochEstablished, 3)],
        why: "an observer across a leader crash and re-election: it rejoins only by resending its notification, and must never count toward a discovery quorum (ZOOKEEPER-2959)",
    },
    ProfileRun {
        name: "election-crash",
        flags: &["election", "--servers", "3", "--crashes", "1", "--histories", "1", "--max-round", "2"],
        goals: &[(RoundChange, 1), (StaleRound, 1), (JoinedDecided, 1), (MaxRound, 2)],
        why: "FLE with a crash and restart into a second round: round changes, stale rounds, joining a decided ensemble",
    },
    ProfileRun {
        name: "sync-2txn",
        flags: &["sync", "--servers", "3", "--txns", "2", "--crashes", "1", "--snapshots", "1"],
        goals: &[
            (DiffWithTxns, 1),
            (Trunc, 1),
            (Snap, 1),
            (SnapBelowBase, 1),
            (CrashInstallPending, 1),
            (CrashAfterInstall, 1),
            (CrashAfterInstallLogged, 1),
            (AheadAbdication, 1),
            (RoundChange, 1),
            (MaxTxnsCommitted, 2),
            (MaxEpochEstablished, 3),
        ],
        why: "two txns across three epochs and one snapshot: DIFF, TRUNC and SNAP (below a compacted base too, with a crash before, between and after the install and its log writes), ZAB-AHEAD; every property about two txns can fail here",
    },
    ProfileRun {
        name: "sync-link",
        flags: &["sync", "--servers", "3", "--txns", "1", "--crashes", "1", "--link-faults", "1"],
        goals: &[(MaxLinkFaults, 1), (MaxCrashes, 1), (QuorumLostAbdication, 1), (MaxEpochEstablished, 3)],
        why: "a lost link beside a crash: a leader that loses its quorum, a learner cut off mid-sync, an epoch learnt before it is durable",
    },
    ProfileRun {
        name: "sync-2crash",
        flags: &["sync", "--servers", "3", "--txns", "1", "--crashes", "2"],
        goals: &[(MaxCrashes, 2), (OldEpochRefused, 1), (Trunc, 1), (MaxEpochEstablished, 3)],
        why: "two crashes: a txn that must survive two failures, a learner refusing an older epoch",
    },
];

/// One schedule run of the profile: a recorded schedule replayed in a model's world
/// (`schedule.rs`).
#[derive(Clone, Copy, Debug)]
pub struct ScheduleRun {
    /// Short name in reports.
    pub name: &'static str,
    /// The model and bounds the schedule is a behaviour of, as `zabkeeper-check run` flags.
    pub flags: &'static [&'static str],
    /// The actions, from the model's first initial state.
    pub steps: &'static [Action],
    /// Why the run is in the profile.
    pub why: &'static str,
}

impl ScheduleRun {
    /// The bounds with `--bug NAME` added, parsed as `run` would parse them.
    pub fn line(&self, bug: Option<&str>) -> Result<RunLine, String> {
        let mut flags: Vec<&str> = self.flags.to_vec();
        if let Some(bug) = bug {
            flags.extend(["--bug", bug]);
        }
        parse_run_line(&flags)
    }

    /// What the run does, in one line.
    pub fn describe(&self) -> String {
        format!(
            "replay of {} recorded actions in the world of: {}",
            self.steps.len(),
            self.flags.join(" ")
        )
    }
}

/// The profile's schedule runs, run after [`CI`]'s searches.
pub const SCHEDULES: &[ScheduleRun] = &[ScheduleRun {
    name: "schedule-ackepoch",
    flags: ackepoch::BOUNDS,
    steps: ackepoch::LOUD_LINK,
    why: "the 120-step 5-server schedule of tests/protocol_ackepoch.rs (three loud link breaks) in the zab model's world: a leader that counts an ACKEPOCH carrying no currentEpoch establishes an epoch another leader established (ZAB-LEADER-UNIQUE); a regression check of that one path, not a search (the 5-server search does not finish, issue 12)",
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_parses_and_names_its_goals_once() {
        for r in CI {
            let line = r.line(Some("no-ackepoch-quorum"), Some(2)).expect(r.name);
            assert!(line.bounds.config().is_ok(), "{}", r.name);
            assert_eq!(line.search.threads, Some(2));
            assert!(!r.goals.is_empty(), "{} has no goal", r.name);
            let mut marks: Vec<_> = r.goals.iter().map(|(m, _)| *m).collect();
            marks.dedup();
            assert_eq!(marks.len(), r.goals.len(), "{}", r.name);
        }
        for r in SCHEDULES {
            let line = r.line(Some("no-ackepoch-quorum")).expect(r.name);
            assert!(line.bounds.config().is_ok(), "{}", r.name);
            assert!(!r.steps.is_empty(), "{} has no step", r.name);
        }
        let mut names: Vec<_> = CI.iter().map(|r| r.name).collect();
        names.extend(SCHEDULES.iter().map(|r| r.name));
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            CI.len() + SCHEDULES.len(),
            "run names are unique"
        );
    }

    #[test]
    fn a_missed_goal_is_reported() {
        let r = CI[0];
        let mut reached = crate::reach::Reach::default().to_json();
        let missed = r.unreached(&reached);
        assert_eq!(missed.len(), r.goals.len());
        assert!(missed[0].starts_with("sync-smoke: "), "{missed:?}");
        for (m, n) in r.goals {
            reached[m.name()] = (*n).into();
        }
        assert!(r.unreached(&reached).is_empty());
    }
}
