//! ZAB 1.0 broadcast over the in-memory cluster, effect by effect: PROPOSAL, ACK only after
//! `Persisted` (ZAB-ACK-DURABLE), quorum commit in zxid order, apply only what is durable
//! (INV-COMMIT-DURABLE), abdication on losing the quorum, and zxid counter rollover.

mod support;

use std::collections::BTreeMap;

use bytes::Bytes;
use support::*;
use zabkeeper::protocol::*;

/// Three empty voters, settled with 3 leading epoch 1.
fn three() -> Cluster {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    c
}

fn p(zxid: Zxid, data: &'static [u8]) -> Proposal {
    Proposal {
        zxid,
        data: Bytes::from_static(data),
    }
}

#[test]
fn propose_ack_commit_effect_by_effect() {
    let mut c = three();
    let a = p(z(1, 1), b"a");
    // Leader: log it, report it, send it to each follower.
    let effects = c.write(3, b"a");
    assert_eq!(
        effects,
        vec![
            Effect::PersistTxns {
                proposals: vec![a.clone()],
                committed: Zxid::ZERO
            },
            Effect::Proposed { zxid: z(1, 1) },
            Effect::Send {
                to: sid(1),
                msg: PeerMsg::Propose(a.clone())
            },
            Effect::Send {
                to: sid(2),
                msg: PeerMsg::Propose(a.clone())
            },
        ]
    );
    // Follower 1: log it; no ACK until durable.
    let (_, effects) = c.deliver(3, 1).expect("PROPOSAL");
    assert_eq!(
        effects,
        vec![Effect::PersistTxns {
            proposals: vec![a.clone()],
            committed: Zxid::ZERO
        }]
    );
    let mark = c.trace.len();
    assert!(c.flush_log(1));
    assert_eq!(c.trace[mark].input, Input::Persisted { upto: z(1, 1) });
    assert_eq!(
        c.trace[mark].effects,
        vec![Effect::Send {
            to: sid(3),
            msg: PeerMsg::Ack { zxid: z(1, 1) }
        }]
    );
    // Leader: 1's ACK alone is no quorum while its own copy is not durable.
    let (_, effects) = c.deliver(1, 3).expect("ACK");
    assert_eq!(effects, vec![]);
    assert_eq!(c.node(3).committed_zxid(), Zxid::ZERO);
    // Leader durable: {1, 3} is a quorum: COMMIT to both followers, then apply.
    let mark = c.trace.len();
    assert!(c.flush_log(3));
    assert_eq!(
        c.trace[mark].effects,
        vec![
            Effect::Send {
                to: sid(1),
                msg: PeerMsg::Commit { zxid: z(1, 1) }
            },
            Effect::Send {
                to: sid(2),
                msg: PeerMsg::Commit { zxid: z(1, 1) }
            },
            Effect::Commit { upto: z(1, 1) },
        ]
    );
    // Follower 1 has it durably: applies at once.
    let (_, effects) = c.deliver(3, 1).expect("COMMIT");
    assert_eq!(effects, vec![Effect::Commit { upto: z(1, 1) }]);
    // Follower 2 gets PROPOSAL and COMMIT before its disk answers: applies nothing yet.
    let (_, effects) = c.deliver(3, 2).expect("PROPOSAL");
    assert_eq!(
        effects,
        vec![Effect::PersistTxns {
            proposals: vec![a.clone()],
            committed: Zxid::ZERO
        }]
    );
    let (_, effects) = c.deliver(3, 2).expect("COMMIT");
    assert_eq!(effects, vec![], "applied a commit that is not durable here");
    assert_eq!(c.node(2).committed_zxid(), Zxid::ZERO);
    let mark = c.trace.len();
    assert!(c.flush_log(2));
    assert_eq!(
        c.trace[mark].effects,
        vec![
            Effect::Send {
                to: sid(3),
                msg: PeerMsg::Ack { zxid: z(1, 1) }
            },
            Effect::Commit { upto: z(1, 1) },
        ]
    );
    c.run_until_stable();
    for id in [1, 2, 3] {
        assert_eq!(c.server(id).commits, vec![z(1, 1)], "{id} applied once");
    }
}

#[test]
fn leader_quorum_can_be_two_followers_before_its_own_disk() {
    let mut c = three();
    c.write(3, b"a");
    for f in [1, 2] {
        c.deliver(3, f);
        c.flush_log(f);
        let (_, effects) = c.deliver(f, 3).expect("ACK");
        if f == 1 {
            assert_eq!(effects, vec![]);
        } else {
            // {1, 2} acknowledged: COMMIT goes out, but the leader applies only once durable.
            assert_eq!(
                effects,
                vec![
                    Effect::Send {
                        to: sid(1),
                        msg: PeerMsg::Commit { zxid: z(1, 1) }
                    },
                    Effect::Send {
                        to: sid(2),
                        msg: PeerMsg::Commit { zxid: z(1, 1) }
                    },
                ]
            );
        }
    }
    assert_eq!(c.node(3).committed_zxid(), Zxid::ZERO);
    let mark = c.trace.len();
    c.flush_log(3);
    assert_eq!(
        c.trace[mark].effects,
        vec![Effect::Commit { upto: z(1, 1) }]
    );
}

#[test]
fn commits_go_out_in_zxid_order_and_stop_at_the_first_gap() {
    let mut c = three();
    c.write(3, b"a");
    c.flush_log(3); // leader holds 1:1 durably, not 1:2 or 1:3
    c.write(3, b"b");
    c.write(3, b"c");
    for _ in 0..3 {
        c.deliver(3, 1);
    }
    c.flush_log(1);
    assert_eq!(
        c.queued(1, 3),
        vec![PeerMsg::Ack { zxid: z(1, 3) }],
        "one cumulative ACK"
    );
    let (_, effects) = c.deliver(1, 3).expect("ACK");
    // 1:1 has {1, 3}; 1:2 only {1}: the commit point stops at 1:1.
    assert_eq!(
        sends(&effects),
        vec![
            (1, PeerMsg::Commit { zxid: z(1, 1) }),
            (2, PeerMsg::Commit { zxid: z(1, 1) })
        ]
    );
    let mark = c.trace.len();
    c.flush_log(3);
    assert_eq!(
        sends(&c.trace[mark].effects),
        vec![
            (1, PeerMsg::Commit { zxid: z(1, 3) }),
            (2, PeerMsg::Commit { zxid: z(1, 3) })
        ]
    );
    c.run_until_stable();
    // Every COMMIT any follower received is in increasing zxid order.
    for f in [1, 2] {
        let commits: Vec<Zxid> = c
            .trace
            .iter()
            .filter(|s| s.node == sid(f))
            .filter_map(|s| match &s.input {
                Input::Peer {
                    msg: PeerMsg::Commit { zxid },
                    ..
                } => Some(*zxid),
                _ => None,
            })
            .collect();
        assert!(commits.windows(2).all(|w| w[0] < w[1]), "{f}: {commits:?}");
        assert_eq!(c.node(f).committed_log().len(), 3);
    }
}

#[test]
fn follower_applies_only_what_it_holds_durably() {
    let mut c = three();
    c.write(3, b"a");
    c.write(3, b"b");
    // 2 logs both but only the first write completes before the commit arrives.
    c.deliver(3, 2);
    c.flush_log(2);
    c.deliver(3, 2);
    c.deliver(3, 1);
    c.deliver(3, 1);
    c.flush_log(1);
    c.flush_log(3);
    c.deliver(1, 3).expect("ACK 1:2 from 1");
    let (msg, effects) = c.deliver(3, 2).expect("COMMIT");
    assert_eq!(msg, PeerMsg::Commit { zxid: z(1, 2) });
    assert_eq!(
        effects,
        vec![Effect::Commit { upto: z(1, 1) }],
        "applies only the durable part"
    );
    // 2 heard COMMIT 1:2 with only 1:1 durable.
    assert_eq!(c.node(2).durable_zxid(), z(1, 1));
    assert_eq!(c.node(2).committed_zxid(), z(1, 1));
    assert_eq!(c.node(2).learning().map(|l| l.leader_commit), Some(z(1, 2)));
    let mark = c.trace.len();
    c.flush_log(2);
    assert_eq!(
        c.trace[mark].effects,
        vec![
            Effect::Send {
                to: sid(3),
                msg: PeerMsg::Ack { zxid: z(1, 2) }
            },
            Effect::Commit { upto: z(1, 2) },
        ]
    );
}

#[test]
fn leader_abdicates_when_it_loses_the_synced_quorum() {
    let mut c = three();
    let effects = c.step(3, Input::PeerLost(sid(1)));
    assert!(sends(&effects).is_empty());
    assert_eq!(c.state(3), PeerState::Leading, "3 and 2 are still a quorum");
    let effects = c.step(3, Input::PeerLost(sid(2)));
    assert_eq!(c.state(3), PeerState::Looking);
    assert!(effects.contains(&Effect::RoleChanged {
        state: PeerState::Looking,
        leader: None,
        epoch: Epoch(1)
    }));
    assert!(effects.contains(&Effect::CancelTimer(Timer::Heartbeat)));
    // It refuses writes now.
    let effects = c.write(3, b"late");
    assert_eq!(
        effects,
        vec![Effect::Reject {
            from: sid(3),
            data: Bytes::from_static(b"late"),
            reason: RejectReason::NotLeader
        }]
    );
}

#[test]
fn partitioned_leader_steps_down_and_the_majority_moves_on() {
    let mut c = three();
    c.write(3, b"a");
    c.run_until_stable();
    c.isolate(3);
    assert_eq!(c.state(3), PeerState::Looking);
    c.settle_among();
    assert_eq!(c.leaders(), vec![2]);
    c.write(2, b"b");
    c.run_until_stable();
    assert_eq!(c.node(1).committed_zxid(), z(2, 1));
    c.heal_all();
    c.settle();
    c.assert_settled(2);
    assert_eq!(c.log_zxids(3), vec![z(1, 1), z(2, 1)]);
}

trait SettleAmong {
    fn settle_among(&mut self);
}

impl SettleAmong for Cluster {
    /// Runs until stable, firing Notify once on LOOKING nodes (an isolated node stays LOOKING).
    fn settle_among(&mut self) {
        self.run_until_stable();
        for id in [1, 2] {
            if self.state(id) == PeerState::Looking {
                self.fire(id, Timer::Notify);
            }
        }
        self.run_until_stable();
    }
}

#[test]
fn forwarded_request_reaches_the_leader() {
    let mut c = three();
    let effects = c.step(
        1,
        Input::Forward {
            payload: Bytes::from_static(b"req"),
        },
    );
    assert_eq!(
        effects,
        vec![Effect::Send {
            to: sid(3),
            msg: PeerMsg::Request {
                payload: Bytes::from_static(b"req")
            }
        }]
    );
    let (_, effects) = c.deliver(1, 3).expect("REQUEST");
    assert_eq!(
        effects,
        vec![Effect::Prepare {
            from: sid(1),
            payload: Bytes::from_static(b"req")
        }]
    );
    // A follower refuses a direct write.
    let effects = c.write(1, b"x");
    assert_eq!(
        effects,
        vec![Effect::Reject {
            from: sid(1),
            data: Bytes::from_static(b"x"),
            reason: RejectReason::NotLeader
        }]
    );
}

#[test]
fn observer_gets_inform_and_never_acks() {
    let mut c = Cluster::new(&[1, 2, 3], &[9]);
    c.start_all(&[1, 2, 3, 9]);
    c.settle();
    c.assert_settled(3);
    let effects = c.write(3, b"a");
    assert!(
        !sends(&effects).iter().any(|(to, _)| *to == 9),
        "no PROPOSAL to an observer"
    );
    c.run_until_stable();
    let informs: Vec<PeerMsg> = c
        .trace
        .iter()
        .filter(|s| s.node == sid(9))
        .filter_map(|s| match &s.input {
            Input::Peer { msg, .. } => Some(msg.clone()),
            _ => None,
        })
        .filter(|m| matches!(m, PeerMsg::Inform(_) | PeerMsg::Propose(_)))
        .collect();
    assert_eq!(informs, vec![PeerMsg::Inform(p(z(1, 1), b"a"))]);
    assert!(c
        .trace
        .iter()
        .filter(|s| s.node == sid(9))
        .all(|s| !sends(&s.effects)
            .iter()
            .any(|(_, m)| matches!(m, PeerMsg::Ack { zxid } if zxid.counter() > 0))));
    assert_eq!(c.node(9).committed_zxid(), z(1, 1));
}

#[test]
fn zxid_counter_rollover_makes_the_leader_step_down() {
    // No consistent history reaches counter COUNTER_MAX - 1 of the *new* epoch through the
    // public API short of ~4e9 writes: the new epoch is fixed at election time, and a durable
    // state can only hold txns of an epoch it acknowledged. So the disks below are artificial:
    // acceptedEpoch = currentEpoch = 1 but the log already ends at 2:(COUNTER_MAX - 1). The
    // leader elected on them fixes epoch 2 and continues that epoch's counter.
    let last = Zxid::new(Epoch(2), COUNTER_MAX - 1);
    let disk = disk_with(1, &[z(1, 1), last], last);
    let disks: BTreeMap<u64, DurableState> = (1..=3).map(|i| (i, disk.clone())).collect();
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    assert_eq!(c.node(3).established_epoch(), Some(Epoch(2)));
    // COUNTER_MAX itself is still usable.
    let effects = c.write(3, b"last");
    assert!(effects.contains(&Effect::Proposed {
        zxid: Zxid::new(Epoch(2), COUNTER_MAX)
    }));
    c.run_until_stable();
    assert_eq!(c.node(1).committed_zxid(), Zxid::new(Epoch(2), COUNTER_MAX));
    // The next one would wrap: refused, and the leader steps down.
    let effects = c.write(3, b"wrap");
    assert_eq!(
        effects[0],
        Effect::Reject {
            from: sid(3),
            data: Bytes::from_static(b"wrap"),
            reason: RejectReason::ZxidRollover
        }
    );
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::PersistTxns { .. } | Effect::Proposed { .. })));
    assert_eq!(c.state(3), PeerState::Looking);
    // A new election starts epoch 3 and writes continue from counter 1.
    c.settle();
    let leaders = c.leaders();
    assert_eq!(leaders.len(), 1);
    c.assert_settled(leaders[0]);
    assert_eq!(c.node(leaders[0]).established_epoch(), Some(Epoch(3)));
    let effects = c.write(leaders[0], b"again");
    assert!(effects.contains(&Effect::Proposed { zxid: z(3, 1) }));
}

#[test]
fn crash_of_follower_loses_only_non_durable_writes() {
    let mut c = three();
    c.write(3, b"a");
    c.run_until_stable();
    c.write(3, b"b");
    c.deliver(3, 1); // 1 logs 1:2 but its disk never answers
    c.crash(1);
    assert_eq!(c.disk_zxids(1), vec![z(1, 1)]);
    c.run_until_stable();
    assert_eq!(c.node(3).committed_zxid(), z(1, 2), "3 and 2 are a quorum");
    c.restart(1);
    c.settle();
    c.assert_settled(3);
    assert_eq!(c.log_zxids(1), vec![z(1, 1), z(1, 2)]);
    assert_eq!(c.node(1).committed_zxid(), z(1, 2));
}

/// Regression, found by `protocol_sim` (fixed on main in c01aa17): an observer that syncs
/// while a proposal is outstanding gets that proposal in its DIFF and again as INFORM when it
/// commits; the INFORM must only mark it committed (before the fix `Learner::on_proposal`
/// asserted ZAB-GAPLESS, "proposal 1:1 after 1:1", and the observer panicked).
#[test]
fn observer_synced_during_an_outstanding_proposal_does_not_get_it_twice() {
    let mut c = Cluster::new(&[1, 2, 3], &[9]);
    c.start_all(&[1, 2, 3, 9]);
    assert_eq!(c.state(9), PeerState::Looking, "9 heard only LOOKING votes");
    c.write(3, b"w"); // 1:1 outstanding: logged, not durable, not acknowledged
    c.fire(9, Timer::Notify);
    c.deliver_all(); // 9 observes 3: OBSERVERINFO, LEADERINFO; followers log 1:1
    assert_eq!(c.state(9), PeerState::Observing);
    c.flush_epoch(9); // ACKEPOCH
    c.deliver_all(); // DIFF [1:1] (uncommitted) + NEWLEADER reach 9
    assert_eq!(c.log_zxids(9), vec![z(1, 1)]);
    c.run_until_stable(); // 1:1 commits: INFORM(1:1) reaches 9, which already logged it
    c.assert_settled(3);
    assert_eq!(c.log_zxids(9), vec![z(1, 1)]);
    assert_eq!(c.node(9).committed_zxid(), z(1, 1));
}

/// A REQUEST that reaches a leader before it serves is refused in the name of the learner that
/// forwarded it, so the runtime can answer that learner's client.
#[test]
fn refused_request_names_the_learner_that_forwarded_it() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start(1);
    c.start(3);
    // Run until 3 leads and waits in sync for 1's NEWLEADER ACK (1's log writes held back).
    for _ in 0..200 {
        if c.node(3)
            .leading()
            .is_some_and(|l| l.phase == LeaderPhase::Sync)
        {
            break;
        }
        let moved = c.deliver_all();
        let flushed = c.flush(3) | c.flush_epoch(1);
        if moved == 0 && !flushed {
            c.fire_finalize();
        }
    }
    assert_eq!(
        c.node(3).leading().map(|l| l.phase),
        Some(LeaderPhase::Sync),
        "{}",
        c.trace_tail(20)
    );
    let effects = c.step(
        3,
        Input::Peer {
            from: sid(1),
            msg: PeerMsg::Request {
                payload: Bytes::from_static(b"early"),
            },
        },
    );
    assert_eq!(
        effects,
        vec![Effect::Reject {
            from: sid(1),
            data: Bytes::from_static(b"early"),
            reason: RejectReason::NotLeader
        }]
    );
}
