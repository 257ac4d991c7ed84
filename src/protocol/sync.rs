//! How a leader chooses DIFF, TRUNC or SNAP for a learner (ZooKeeper's
//! `LearnerHandler.syncFollower` / `queueCommittedProposals`), as a pure function.
//!
//! spec/zab.md §Sync. The leader compares the learner's last logged zxid (from ACKEPOCH) with its
//! own log. Zxids name txns uniquely (one leader per epoch, ZAB-LEADER-UNIQUE), so "the learner
//! has zxid z" means "the learner has the leader's txn z".
//!
//! | learner's last zxid `p`                               | plan                          |
//! |-------------------------------------------------------|-------------------------------|
//! | `p` = leader's last                                   | empty DIFF                    |
//! | `p` in the leader's log (or its snapshot base)        | DIFF with every txn after `p` |
//! | `p` > leader's last                                   | TRUNC to leader's last        |
//! | `p` below the log window                              | SNAP at `applied`, txns after it |
//! | `p` missing, predecessor `q` in the same epoch as `p` | TRUNC to `q`, txns after `q`  |
//! | `p` missing, predecessor in an earlier epoch          | SNAP at `applied` (ZooKeeper refuses to TRUNC across epochs) |
//!
//! A SNAP is based at `applied`, the leader's committed (and applied) zxid, not at its log base:
//! the runtime serialises its data tree, which is exactly there when it executes the send
//! (`Effect::SendSnapshot`).

use bytes::Bytes;

use super::config::Bug;
use super::ids::Zxid;
use super::message::{Proposal, SyncKind};

/// The plan for one learner: what to send and which proposals follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncPlan {
    /// DIFF, TRUNC or SNAP.
    pub kind: SyncKind,
    /// Proposals the learner appends after the cut.
    pub proposals: Vec<Proposal>,
}

/// Chooses the plan for a learner whose last logged zxid is `peer_last`, given the leader's log
/// `log` over the snapshot `base` and the leader's committed zxid `applied` (`base <= applied`).
/// A SNAP plan leaves its snapshot bytes empty (the runtime's, `Effect::SendSnapshot`).
pub fn plan_sync(
    log: &[Proposal],
    base: Zxid,
    applied: Zxid,
    peer_last: Zxid,
    bug: Option<Bug>,
) -> SyncPlan {
    let leader_last = log.last().map_or(base, |p| p.zxid);
    let after = |z: Zxid| {
        log.iter()
            .filter(|p| p.zxid > z)
            .cloned()
            .collect::<Vec<_>>()
    };
    let has = |z: Zxid| z == base || log.iter().any(|p| p.zxid == z);
    if peer_last == leader_last || has(peer_last) {
        let mut proposals = after(peer_last);
        match bug {
            // Mutant: the boundary txn itself is re-sent (`>=` for `>`).
            Some(Bug::DiffResendsLast) => {
                proposals.splice(0..0, log.iter().filter(|p| p.zxid == peer_last).cloned());
            }
            // Mutant: the DIFF starts one txn late.
            Some(Bug::DiffSkipsFirst) if !proposals.is_empty() => {
                proposals.remove(0);
            }
            _ => {}
        }
        return SyncPlan {
            kind: SyncKind::Diff,
            proposals,
        };
    }
    if bug == Some(Bug::DiffInsteadOfTrunc) {
        // ZOOKEEPER-1154/2832: the learner's divergent tail is never cut.
        return SyncPlan {
            kind: SyncKind::Diff,
            proposals: after(peer_last),
        };
    }
    if peer_last > leader_last {
        return SyncPlan {
            kind: SyncKind::Trunc { to: leader_last },
            proposals: Vec::new(),
        };
    }
    let snap = || {
        // Mutant: the snapshot is labelled one txn below the state it holds.
        let label = match bug {
            Some(Bug::SnapBaseBelowApplied) => log
                .iter()
                .rev()
                .map(|p| p.zxid)
                .find(|z| *z < applied)
                .unwrap_or(base),
            _ => applied,
        };
        SyncPlan {
            kind: SyncKind::Snap {
                base: label,
                snapshot: Bytes::new(),
            },
            proposals: after(label),
        }
    };
    if peer_last < base {
        return snap();
    }
    let prev = log
        .iter()
        .rev()
        .map(|p| p.zxid)
        .find(|z| *z < peer_last)
        .unwrap_or(base);
    if prev.epoch() == peer_last.epoch() {
        SyncPlan {
            kind: SyncKind::Trunc { to: prev },
            proposals: after(prev),
        }
    } else {
        snap()
    }
}

#[cfg(test)]
mod tests {
    use super::super::ids::Epoch;
    use super::*;

    fn z(e: u32, c: u32) -> Zxid {
        Zxid::new(Epoch(e), c)
    }

    fn log(zs: &[Zxid]) -> Vec<Proposal> {
        zs.iter()
            .map(|z| Proposal {
                zxid: *z,
                data: bytes::Bytes::new(),
            })
            .collect()
    }

    #[test]
    fn seed_cases() {
        let plan = |l: &[Proposal], base: Zxid, applied: Zxid, peer: Zxid| {
            plan_sync(l, base, applied, peer, None)
        };
        let snap = |base: Zxid| SyncKind::Snap {
            base,
            snapshot: Bytes::new(),
        };
        let l = log(&[z(1, 1), z(1, 2), z(2, 1)]);
        let none = Zxid::ZERO;
        assert_eq!(plan(&l, none, none, z(2, 1)).kind, SyncKind::Diff);
        let p = plan(&l, none, none, z(1, 1));
        assert_eq!((p.kind, p.proposals.len()), (SyncKind::Diff, 2));
        assert_eq!(
            plan(&l, none, none, z(2, 5)).kind,
            SyncKind::Trunc { to: z(2, 1) }
        );
        let p = plan(&l, none, none, z(1, 3));
        assert_eq!(p.kind, SyncKind::Trunc { to: z(1, 2) });
        assert_eq!(p.proposals, log(&[z(2, 1)]));
        // Across an epoch: SNAP at the leader's committed zxid, with the txns after it.
        let l2 = log(&[z(1, 1), z(3, 1)]);
        let p = plan(&l2, none, z(1, 1), z(2, 1));
        assert_eq!((p.kind, p.proposals), (snap(z(1, 1)), log(&[z(3, 1)])));
        // Below the log base (the log is [3:1] over a snapshot at 1:1).
        let p = plan(&l2[1..], z(1, 1), z(1, 1), Zxid::ZERO);
        assert_eq!((p.kind, p.proposals), (snap(z(1, 1)), log(&[z(3, 1)])));
    }
}
