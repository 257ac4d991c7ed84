//! Fast Leader Election over the in-memory cluster: the seed scenarios of
//! /work/shared/reference/seeds.md and spec/election.md's rules (FLE-ORDER, FLE-DURABLE-VOTE,
//! observers, late joiners).

mod support;

use std::collections::BTreeMap;

use support::*;
use zabkeeper::protocol::*;

/// Seed 1: five empty servers started one at a time in id order.
fn five_started_in_order() -> Cluster {
    let mut c = Cluster::new(&[1, 2, 3, 4, 5], &[]);
    c.start(1);
    c.run_until_stable();
    c.start(2);
    c.run_until_stable();
    assert!(c.leaders().is_empty(), "two of five elect nobody");
    assert_eq!(c.state(1), PeerState::Looking);
    assert_eq!(c.state(2), PeerState::Looking);
    assert_eq!(
        c.node(1).current_vote().sid,
        sid(2),
        "1 adopted the larger sid"
    );
    c.start(3);
    c.run_until_stable();
    assert_eq!(c.leaders(), vec![3]);
    assert_eq!(c.state(1), PeerState::Following);
    assert_eq!(c.state(2), PeerState::Following);
    c.start(4);
    c.run_until_stable();
    c.start(5);
    c.run_until_stable();
    c
}

#[test]
fn seed1_five_servers_started_in_order_elect_3() {
    let c = five_started_in_order();
    c.assert_settled(3);
    assert_eq!(c.node(3).established_epoch(), Some(Epoch(1)));
    for id in [1, 2, 4, 5] {
        assert_eq!(c.node(id).accepted_epoch(), Epoch(1));
        assert_eq!(c.node(id).current_epoch(), Epoch(1));
        assert_eq!(
            c.server(id).disk.current_epoch,
            Epoch(1),
            "{id}: currentEpoch durable"
        );
    }
}

#[test]
fn seed1_late_joiners_follow_without_a_new_round() {
    let mut c = Cluster::new(&[1, 2, 3, 4, 5], &[]);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    let rounds: Vec<u64> = [1, 2, 3].iter().map(|i| c.node(*i).round()).collect();
    let mark = c.trace.len();
    c.start(4);
    c.run_until_stable();
    c.assert_settled(3);
    // Nobody else went back to LOOKING or changed its round.
    assert_eq!(
        rounds,
        [1, 2, 3]
            .iter()
            .map(|i| c.node(*i).round())
            .collect::<Vec<_>>()
    );
    for id in [1, 2, 3] {
        for input in c.inputs_of(id, mark) {
            assert_ne!(input, Input::Start, "{id} restarted");
        }
        assert!(c.trace[mark..]
            .iter()
            .filter(|s| s.node == sid(id))
            .all(|s| !s
                .effects
                .iter()
                .any(|e| matches!(e, Effect::RoleChanged { .. }))));
    }
    // 4 never armed FinalizeWait: it followed on the decided votes, not on an election of its own.
    let fw = c.trace[mark..]
        .iter()
        .filter(|s| s.node == sid(4))
        .any(|s| {
            s.effects.iter().any(|e| {
                matches!(
                    e,
                    Effect::SetTimer {
                        timer: Timer::FinalizeWait,
                        ..
                    }
                )
            })
        });
    assert!(!fw, "late joiner ran its own round to completion");
    assert_eq!(
        c.node(3).established_epoch(),
        Some(Epoch(1)),
        "no new epoch"
    );
}

#[test]
fn seed2_leader_crash_elects_the_most_up_to_date() {
    // Logs as the seed lists them after leader 3's crash: 1:99, 2:102, 4:100, 5:101.
    let mut disks = BTreeMap::new();
    for (id, last) in [(1, 99), (2, 102), (4, 100), (5, 101)] {
        disks.insert(id, disk_with(1, &run_of(1, last), z(1, 99)));
    }
    let mut c = Cluster::with_disks(&[1, 2, 3, 4, 5], &[], disks);
    c.start_all(&[1, 2, 4, 5]);
    c.assert_settled(2);
    assert_eq!(c.node(2).established_epoch(), Some(Epoch(2)));
    for id in [1, 4, 5] {
        assert_eq!(c.log_zxids(id), run_of(1, 102), "{id} synced to the leader");
        assert_eq!(c.node(id).committed_zxid(), z(1, 102));
    }
}

#[test]
fn seed2_after_crash_of_leader_in_running_ensemble() {
    let mut c = five_started_in_order();
    for i in 0..3 {
        c.write(3, format!("w{i}").as_bytes());
        c.run_until_stable();
    }
    assert_eq!(c.node(1).committed_zxid(), z(1, 3));
    // Give 2 one more durable (uncommitted) proposal than the others.
    c.write(3, b"only-2");
    c.deliver(3, 2);
    c.flush(2);
    for id in [1, 4, 5] {
        c.drop_queued(3, id);
    }
    c.crash(3);
    c.run_until_stable();
    assert_eq!(c.leaders(), vec![2]);
    c.assert_settled(2);
    for id in [1, 4, 5] {
        assert_eq!(
            c.log_zxids(id),
            run_of(1, 4),
            "{id} got 1:4 from the new leader"
        );
    }
}

#[test]
fn seed3_three_servers_largest_zxid_leads() {
    let mut disks = BTreeMap::new();
    for id in 1..=3u64 {
        disks.insert(id, disk_with(1, &run_of(1, id as u32), Zxid::ZERO));
    }
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    for id in [1, 2] {
        assert_eq!(c.log_zxids(id), run_of(1, 3));
    }
}

#[test]
fn current_epoch_beats_larger_zxid_in_election() {
    // 3 logged 1:4..1:50 in epoch 1 that never committed; 1 and 2 then established epoch 2
    // without 3 and wrote nothing yet. 3 holds the larger zxid, 1 and 2 the larger currentEpoch.
    let d1 = DurableState {
        accepted_epoch: Epoch(2),
        current_epoch: Epoch(2),
        log_base: Zxid::ZERO,
        log: run_of(1, 3).into_iter().map(prop).collect(),
        committed: z(1, 3),
    };
    let d2 = d1.clone();
    let d3 = disk_with(1, &run_of(1, 50), z(1, 3));
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], BTreeMap::from([(1, d1), (2, d2), (3, d3)]));
    c.start_all(&[1, 2, 3]);
    // (2, 1:3, 2) beats (1, 1:50, 3): epoch first.
    c.assert_settled(2);
    assert_eq!(c.node(2).established_epoch(), Some(Epoch(3)));
    assert_eq!(
        c.log_zxids(3),
        run_of(1, 3),
        "3's unacknowledged tail is cut"
    );
}

#[test]
fn larger_sid_wins_a_tie() {
    let disks = (1..=3u64)
        .map(|id| (id, disk_with(1, &run_of(1, 5), z(1, 5))))
        .collect();
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[3, 1, 2]);
    c.assert_settled(3);
    let mut c = Cluster::new(&[1, 2, 3, 4], &[]);
    c.start_all(&[1, 2, 3, 4]);
    c.assert_settled(4);
}

#[test]
fn observer_never_counts_and_ends_observing() {
    // Voters 1, 2, 3 and observer 9 (which has the "best" id). 9 plus one voter elect nobody.
    let mut c = Cluster::new(&[1, 2, 3], &[9]);
    c.start(9);
    c.start(1);
    c.run_until_stable();
    assert!(c.leaders().is_empty(), "an observer is not a quorum member");
    assert_eq!(c.state(1), PeerState::Looking);
    assert_ne!(
        c.node(1).current_vote().sid,
        sid(9),
        "no one votes for an observer"
    );
    c.start(2);
    c.run_until_stable();
    // The voters decided while 9 only heard LOOKING votes, which an observer ignores; its
    // notification timer asks again and decided voters answer with their leader.
    assert_eq!(c.state(9), PeerState::Looking);
    c.fire(9, Timer::Notify);
    c.run_until_stable();
    c.assert_settled(2);
    assert_eq!(c.state(9), PeerState::Observing);
    assert_eq!(c.node(9).leader(), Some(sid(2)));
    // The observer is not counted for commits either: with 1 partitioned away from 2,
    // leader 2 plus observer 9 are no quorum.
    c.write(2, b"a");
    c.run_until_stable();
    assert_eq!(
        c.node(9).committed_zxid(),
        c.node(2).committed_zxid(),
        "observer learns commits"
    );
    assert!(c.node(9).committed_zxid() > Zxid::ZERO);
    c.partition(1, 2);
    assert_ne!(
        c.state(2),
        PeerState::Leading,
        "leader + observer is not a quorum"
    );
}

#[test]
fn observer_joins_an_established_leader() {
    let mut c = Cluster::new(&[1, 2, 3], &[9]);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    c.start(9);
    c.run_until_stable();
    c.assert_settled(3);
    assert_eq!(c.state(9), PeerState::Observing);
    c.write(3, b"x");
    c.run_until_stable();
    assert_eq!(c.log_zxids(9), vec![z(1, 1)]);
    assert_eq!(c.node(9).committed_zxid(), z(1, 1));
}

#[test]
fn vote_waits_for_durable_writes() {
    // FLE-DURABLE-VOTE: 1 follows leader 3, logs a proposal that is not durable yet, and loses
    // its leader: it must not send a vote (a claim on its log) until the write is durable.
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    c.write(3, b"x");
    c.deliver(3, 1);
    assert_eq!(c.node(1).last_zxid(), z(1, 1));
    assert_eq!(c.node(1).durable_zxid(), Zxid::ZERO);
    let effects = c.step(1, Input::PeerLost(sid(3)));
    assert_eq!(c.state(1), PeerState::Looking);
    assert!(
        sends(&effects).is_empty(),
        "voted before its log was durable: {effects:?}"
    );
    assert_eq!(c.node(1).round(), 1, "no new round yet");
    let mark = c.trace.len();
    assert!(c.flush_log(1));
    let after = &c.trace[mark].effects;
    assert_eq!(c.trace[mark].input, Input::Persisted { upto: z(1, 1) });
    let votes: Vec<(u64, PeerMsg)> = sends(after);
    assert_eq!(c.node(1).round(), 2);
    let expected = PeerMsg::Notification {
        state: PeerState::Looking,
        vote: Vote {
            epoch: Epoch(1),
            zxid: z(1, 1),
            sid: sid(1),
        },
        round: 2,
    };
    assert_eq!(votes, vec![(2, expected.clone()), (3, expected)]);
}

#[test]
fn vote_waits_for_durable_epoch() {
    // A follower that accepted a new epoch (pending epoch write) and then loses its leader
    // votes only after EpochPersisted.
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start(2);
    c.start(3);
    // Run the election only.
    c.deliver_all();
    c.fire_finalize();
    c.deliver_all();
    c.fire_finalize();
    assert_eq!(c.state(3), PeerState::Leading);
    assert_eq!(c.state(2), PeerState::Following);
    c.deliver_all(); // FOLLOWERINFO -> LEADERINFO -> 2 accepts epoch 1 (pending)
    assert!(c.node(2).durable_epochs_pending());
    assert_eq!(c.node(2).accepted_epoch(), Epoch(1));
    let effects = c.step(2, Input::PeerLost(sid(3)));
    assert_eq!(c.state(2), PeerState::Looking);
    assert!(
        sends(&effects).is_empty(),
        "voted with an epoch write in flight"
    );
    let mark = c.trace.len();
    c.flush_epoch(2);
    assert!(sends(&c.trace[mark].effects)
        .iter()
        .any(|(to, m)| *to == 3 && m.is_election()));
}

#[test]
fn restarted_leader_rejoins_as_follower() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start_all(&[1, 2, 3]);
    c.write(3, b"a");
    c.run_until_stable();
    c.crash(3);
    c.run_until_stable();
    c.assert_settled(2);
    c.write(2, b"b");
    c.run_until_stable();
    c.restart(3);
    c.run_until_stable();
    c.assert_settled(2);
    assert_eq!(c.log_zxids(3), vec![z(1, 1), z(2, 1)]);
    assert_eq!(c.node(3).committed_zxid(), z(2, 1));
}

#[test]
fn partition_heal_keeps_one_leader() {
    let mut c = Cluster::new(&[1, 2, 3, 4, 5], &[]);
    c.start_all(&[1, 2, 3, 4, 5]);
    c.assert_settled(5);
    c.isolate(5);
    c.run_until_stable();
    assert_eq!(c.state(5), PeerState::Looking);
    c.assert_settled_among(&[1, 2, 3, 4], 4);
    c.write(4, b"minority-less");
    c.run_until_stable();
    c.heal_all();
    c.fire(5, Timer::Notify);
    c.run_until_stable();
    c.assert_settled(4);
    assert_eq!(c.log_zxids(5), vec![z(2, 1)]);
}

trait SettledAmong {
    fn assert_settled_among(&self, ids: &[u64], leader: u64);
}

impl SettledAmong for Cluster {
    fn assert_settled_among(&self, ids: &[u64], leader: u64) {
        assert_eq!(
            self.state(leader),
            PeerState::Leading,
            "{}",
            self.trace_tail(20)
        );
        for id in ids.iter().filter(|i| **i != leader) {
            assert_eq!(self.state(*id), PeerState::Following, "{id}");
            assert_eq!(self.node(*id).leader(), Some(sid(leader)));
        }
    }
}

/// A learner whose FOLLOWERINFO reaches its leader only after that leader stepped down and was
/// elected again joins the newer epoch with the vote of the older election (the runtime holds a
/// FOLLOWERINFO that arrives while the server is LOOKING, `server/peers`). Decided votes must
/// then still agree, or a restarted third server hears two different votes for the same
/// leader and never forms a quorum of them (found by the simulation: seed 254). Decided votes
/// agree when they name the same leader (FLE-DECIDED-AGREE).
#[test]
fn learner_synced_into_a_later_epoch_of_its_leader_lets_a_restarted_peer_join() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start_all(&[2, 3]);
    c.assert_settled(3);
    c.write(3, b"a");
    c.run_until_stable();
    // 1 starts and decides, from 2's and 3's decided votes, to follow 3 in epoch 1.
    c.start(1);
    for _ in 0..10 {
        for (a, b) in [(1, 2), (1, 3), (2, 1), (3, 1)] {
            while c.deliver(a, b).is_some() {}
        }
        if c.state(1) == PeerState::Following {
            break;
        }
    }
    assert_eq!(c.node(1).leader(), Some(sid(3)));
    let held: Vec<PeerMsg> = c.queued(1, 3);
    assert!(
        matches!(held.as_slice(), [PeerMsg::FollowerInfo { .. }]),
        "{held:?}"
    );
    c.drop_queued(1, 3);
    // 3 loses its quorum and is elected again, by 2, in epoch 2.
    c.crash(2);
    c.run_until_stable();
    assert_eq!(c.state(3), PeerState::Looking);
    c.restart(2);
    c.run_until_stable();
    c.assert_settled_among(&[2, 3], 3);
    assert_eq!(c.node(3).established_epoch(), Some(Epoch(2)));
    // The held FOLLOWERINFO reaches the new leader: 1 syncs into epoch 2.
    c.step(
        3,
        Input::Peer {
            from: sid(1),
            msg: held[0].clone(),
        },
    );
    c.run_until_stable();
    c.assert_settled(3);
    // The case itself: 1 advertises the vote of the epoch-1 election, 2 and 3 that of epoch 2.
    assert_ne!(c.node(1).current_vote(), c.node(3).current_vote());
    assert_eq!(c.node(2).current_vote(), c.node(3).current_vote());
    // 2 restarts: it must follow 3 from 1's and 3's decided votes.
    c.crash(2);
    c.run_until_stable();
    c.restart(2);
    c.settle();
    c.assert_settled(3);
}
