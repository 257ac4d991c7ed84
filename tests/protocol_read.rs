//! Client `sync` in the core, effect by effect (spec/zab.md §5.6, ZAB-SYNC-LINEARIZABLE): the
//! leader answers only once its read index (its last proposed zxid) is committed and a quorum of
//! voters echoed a heartbeat round it started after the `sync` arrived; a leader cut off, even
//! one that does not know it, never answers; a learner forwards its `sync` and answers with the
//! leader's read index; every pending `sync` fails when its node leaves broadcast.

mod support;

use support::*;
use zabkeeper::protocol::*;

/// Three empty voters, settled with 3 leading epoch 1, and txn 1:1 committed everywhere.
fn three_with_a_txn() -> Cluster {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    c.write(3, b"a");
    c.run_until_stable();
    for id in [1, 2, 3] {
        assert_eq!(c.node(id).committed_zxid(), z(1, 1), "{id}");
    }
    c
}

fn ping(to: u64, round: u64) -> Effect {
    Effect::Send {
        to: sid(to),
        msg: PeerMsg::Ping { round },
    }
}

fn ready(id: u64, zxid: Zxid) -> Effect {
    Effect::SyncReady { id, zxid }
}

/// Delivers the oldest message on `from → to` and returns the effects it caused.
fn hop(c: &mut Cluster, from: u64, to: u64) -> Vec<Effect> {
    c.deliver(from, to)
        .unwrap_or_else(|| panic!("nothing queued {from} → {to}"))
        .1
}

#[test]
fn the_leader_answers_after_a_quorum_echoes_a_round_started_after_the_sync() {
    let mut c = three_with_a_txn();
    // The sync starts round 1 at once; nothing is answered yet.
    assert_eq!(c.sync(3, 7), vec![ping(1, 1), ping(2, 1)]);
    // Follower 1 echoes round 1 (and, serving, re-arms its syncLimit).
    let echo = hop(&mut c, 3, 1);
    assert_eq!(
        sends(&echo),
        vec![(3, PeerMsg::Ping { round: 1 })],
        "the learner echoes the round unchanged"
    );
    // {1, 3} is a quorum of 3: answered with the read index, 1:1.
    assert_eq!(hop(&mut c, 1, 3), vec![ready(7, z(1, 1))]);
    // Follower 2's late echo changes nothing.
    hop(&mut c, 3, 2);
    assert_eq!(hop(&mut c, 2, 3), vec![]);
    assert_eq!(c.server(3).syncs_ready, vec![(7, z(1, 1))]);
}

#[test]
fn an_echo_of_a_round_started_before_the_sync_does_not_count_and_syncs_batch() {
    let mut c = three_with_a_txn();
    assert_eq!(c.sync(3, 1), vec![ping(1, 1), ping(2, 1)]);
    hop(&mut c, 3, 1); // 1 echoes round 1, still on its way
                       // Sync 2 arrives while round 1 is in flight: it needs round 2, which starts once round 1 is
                       // confirmed (no second round in flight), and sync 3 shares it.
    assert_eq!(c.sync(3, 2), vec![]);
    assert_eq!(c.sync(3, 3), vec![]);
    assert_eq!(
        hop(&mut c, 1, 3),
        vec![ready(1, z(1, 1)), ping(1, 2), ping(2, 2)],
        "round 1 answers sync 1 only, then round 2 starts for syncs 2 and 3"
    );
    // Follower 2's echo of round 1 arrives after syncs 2 and 3: with 3 it is a quorum for round
    // 1, a round that started before they arrived, so they stay pending.
    hop(&mut c, 3, 2);
    assert_eq!(hop(&mut c, 2, 3), vec![]);
    // Round 2 echoed by 2: both batched syncs are answered, no round 3 is needed.
    hop(&mut c, 3, 2);
    assert_eq!(
        hop(&mut c, 2, 3),
        vec![ready(2, z(1, 1)), ready(3, z(1, 1))]
    );
    assert_eq!(c.node(3).leading().map(|l| l.ping_round), Some(2));
}

#[test]
fn a_heartbeat_carries_the_round_a_waiting_sync_needs() {
    let mut c = three_with_a_txn();
    c.sync(3, 1); // round 1 in flight
    c.sync(3, 2); // waits for round 2
    let beat = c.fire(3, Timer::Heartbeat);
    assert_eq!(
        sends(&beat),
        vec![
            (1, PeerMsg::Ping { round: 2 }),
            (2, PeerMsg::Ping { round: 2 })
        ],
        "the heartbeat starts round 2"
    );
    c.deliver_all();
    assert_eq!(c.server(3).syncs_ready, vec![(1, z(1, 1)), (2, z(1, 1))]);
    // With nothing waiting, a heartbeat repeats the current round and starts none.
    let beat = c.fire(3, Timer::Heartbeat);
    assert_eq!(sends(&beat)[0], (1, PeerMsg::Ping { round: 2 }));
}

#[test]
fn the_read_index_waits_for_proposals_before_the_sync_to_commit() {
    let mut c = three_with_a_txn();
    c.write(3, b"b"); // proposed 1:2, nothing durable yet
    c.sync(3, 5);
    c.deliver_all(); // proposals logged (not durable) and round 1 echoed by both
    assert_eq!(c.node(3).committed_zxid(), z(1, 1));
    assert!(
        c.server(3).syncs_ready.is_empty(),
        "answered before its read index 1:2 committed"
    );
    c.run_until_stable(); // disks flush, 1:2 commits
    assert_eq!(c.server(3).syncs_ready, vec![(5, z(1, 2))]);
}

#[test]
fn observers_echo_but_never_count() {
    let mut c = Cluster::new(&[1, 2, 3], &[4]);
    c.start_all(&[1, 2, 3]);
    c.start(4);
    c.run_until_stable();
    c.assert_settled(3);
    assert_eq!(c.sync(3, 1), vec![ping(1, 1), ping(2, 1), ping(4, 1)]);
    hop(&mut c, 3, 4);
    assert_eq!(
        hop(&mut c, 4, 3),
        vec![],
        "an observer's echo made a quorum"
    );
    hop(&mut c, 3, 1);
    assert_eq!(hop(&mut c, 1, 3), vec![ready(1, Zxid::ZERO)]);
}

#[test]
fn a_single_voter_answers_at_once() {
    let mut c = Cluster::new(&[1], &[]);
    c.start_all(&[1]);
    c.assert_settled(1);
    c.write(1, b"a");
    // 1:1 is not durable yet: no answer until it commits.
    assert_eq!(c.sync(1, 4), vec![]);
    c.run_until_stable();
    assert_eq!(c.server(1).syncs_ready, vec![(4, z(1, 1))]);
    assert_eq!(c.sync(1, 5), vec![ready(5, z(1, 1))]);
}

#[test]
fn a_learner_forwards_its_sync_and_answers_with_the_leaders_read_index() {
    let mut c = three_with_a_txn();
    assert_eq!(
        c.sync(1, 9),
        vec![Effect::Send {
            to: sid(3),
            msg: PeerMsg::SyncRequest { id: 9 }
        }]
    );
    assert_eq!(hop(&mut c, 1, 3), vec![ping(1, 1), ping(2, 1)]);
    hop(&mut c, 3, 1);
    assert_eq!(
        hop(&mut c, 1, 3),
        vec![Effect::Send {
            to: sid(1),
            msg: PeerMsg::SyncReply {
                id: 9,
                zxid: z(1, 1)
            }
        }]
    );
    assert_eq!(hop(&mut c, 3, 1), vec![ready(9, z(1, 1))]);
    assert_eq!(c.server(1).syncs_ready, vec![(9, z(1, 1))]);
    assert!(
        c.server(3).syncs_ready.is_empty(),
        "answered at the learner only"
    );
}

/// Cuts leader 3 off silently, lets 1 and 2 notice by their syncLimit, elect 2 for epoch 2 and
/// commit 2:1 while 3 still believes it leads epoch 1; then a client syncs at 3.
fn deposed_leader_gets_a_sync(bug: Option<Bug>) -> Cluster {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    if let Some(bug) = bug {
        for id in [1, 2, 3] {
            c.configure(id, |cfg| cfg.bug = Some(bug));
        }
    }
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    c.write(3, b"a");
    c.run_until_stable();
    c.isolate_silently(3);
    for id in [1, 2] {
        c.fire(id, Timer::SyncLimit);
        assert_eq!(c.state(id), PeerState::Looking, "{id} gave up on 3");
    }
    assert_eq!(c.state(3), PeerState::Leading, "3 has not noticed");
    c.settle();
    assert_eq!(c.leaders(), vec![2, 3]);
    c.write(2, b"b");
    c.run_until_stable();
    assert_eq!(
        c.node(2).committed_zxid(),
        z(2, 1),
        "the new epoch committed"
    );
    assert_eq!(c.state(3), PeerState::Leading, "3 still has not noticed");
    c.sync(3, 4);
    c.deliver_all();
    c
}

#[test]
fn a_deposed_leader_that_has_not_noticed_never_answers_and_fails_the_sync_when_it_does() {
    let mut c = deposed_leader_gets_a_sync(None);
    assert!(
        c.server(3).syncs_ready.is_empty(),
        "answered from epoch 1 after 2:1 committed"
    );
    // 3's syncLimit: first check sees the ACKs of before the cut, the second sees nobody.
    c.fire(3, Timer::SyncLimit);
    assert_eq!(c.state(3), PeerState::Leading);
    let effects = c.fire(3, Timer::SyncLimit);
    assert_eq!(c.state(3), PeerState::Looking);
    assert_eq!(
        effects.first(),
        Some(&Effect::SyncFailed { id: 4 }),
        "failed before anything else of leaving"
    );
    assert!(c.server(3).syncs_ready.is_empty());
}

#[test]
fn the_sync_without_quorum_mutant_answers_from_the_deposed_leaders_state() {
    // What Apache ZooKeeper does (ZOOKEEPER-1675): the read index 1:1 is committed at 3, so 3
    // answers, although 2:1 committed before the sync arrived.
    let c = deposed_leader_gets_a_sync(Some(Bug::SyncWithoutQuorum));
    assert_eq!(c.server(3).syncs_ready, vec![(4, z(1, 1))]);
}

#[test]
fn pending_syncs_fail_when_their_node_leaves_broadcast() {
    // A learner's forwarded sync, its leader lost before the answer.
    let mut c = three_with_a_txn();
    c.sync(1, 9);
    c.crash(3);
    assert_eq!(c.state(1), PeerState::Looking);
    assert_eq!(c.server(1).syncs_failed, vec![9]);
    // A leader's own syncs, its quorum lost before the round is echoed.
    let mut c = three_with_a_txn();
    c.sync(3, 1);
    c.sync(3, 2);
    c.crash(1);
    assert_eq!(c.state(3), PeerState::Leading, "{{2, 3}} is still a quorum");
    c.crash(2);
    assert_eq!(c.state(3), PeerState::Looking);
    assert_eq!(c.server(3).syncs_failed, vec![1, 2]);
    assert!(c.server(3).syncs_ready.is_empty());
}

#[test]
fn a_sync_at_a_node_that_is_not_serving_fails_at_once() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start(1);
    assert_eq!(c.state(1), PeerState::Looking);
    assert_eq!(c.sync(1, 1), vec![Effect::SyncFailed { id: 1 }]);
    // A restarted follower that has found its leader but is not serving yet.
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start_all(&[1, 2, 3]);
    c.crash(1);
    c.restart(1);
    let syncing = |c: &Cluster| {
        c.node(1)
            .learning()
            .is_some_and(|l| l.phase != LearnerPhase::Broadcast)
    };
    for _ in 0..100 {
        if syncing(&c) {
            break;
        }
        let queued: Vec<(u64, u64)> = [(2, 1), (3, 1), (1, 2), (1, 3), (2, 3), (3, 2)]
            .into_iter()
            .filter(|(a, b)| !c.queued(*a, *b).is_empty())
            .collect();
        let Some((a, b)) = queued.first() else {
            c.fire_finalize();
            continue;
        };
        c.deliver(*a, *b);
    }
    assert!(
        syncing(&c),
        "1 never reached its leader\n{}",
        c.trace_tail(20)
    );
    assert_eq!(c.sync(1, 2), vec![Effect::SyncFailed { id: 2 }]);
}
