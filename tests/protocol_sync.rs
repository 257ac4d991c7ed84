//! ZAB 1.0 discovery and synchronization over the in-memory cluster: the new epoch
//! (ZAB-EPOCH-NEW), DIFF / TRUNC / SNAP in real runs, the durability order of ACKEPOCH and of the
//! NEWLEADER ACK (ZAB-ACKEPOCH-DURABLE, ZAB-NEWLEADER-DURABLE), and ZAB-AHEAD.

mod support;

use std::collections::BTreeMap;

use support::*;
use zabkeeper::protocol::*;

/// The sync packet `leader` sent `learner` (the last one in the trace).
fn sync_sent(c: &Cluster, leader: u64, learner: u64) -> (SyncKind, Vec<Zxid>, Zxid) {
    c.trace
        .iter()
        .rev()
        .filter(|s| s.node == sid(leader))
        .flat_map(|s| sends(&s.effects))
        .find_map(|(to, m)| match m {
            PeerMsg::Sync {
                kind,
                proposals,
                committed,
            } if to == learner => {
                Some((kind, proposals.iter().map(|p| p.zxid).collect(), committed))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{leader} sent {learner} no sync\n{}", c.trace_tail(30)))
}

fn epochs(accepted: u32, current: u32, zxids: &[Zxid], committed: Zxid) -> DurableState {
    let mut d = disk_with(current, zxids, committed);
    d.accepted_epoch = Epoch(accepted);
    d
}

#[test]
fn new_epoch_is_max_accepted_plus_one() {
    // 2 accepted epoch 5 in some discovery that never established; 3 accepted 2.
    let disks = BTreeMap::from([
        (1, epochs(3, 1, &[], Zxid::ZERO)),
        (2, epochs(5, 1, &[], Zxid::ZERO)),
        (3, epochs(2, 1, &[], Zxid::ZERO)),
    ]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks.clone());
    c.start_all(&[2, 3]);
    c.assert_settled(3);
    assert_eq!(c.node(3).established_epoch(), Some(Epoch(6)));
    for id in [2, 3] {
        assert_eq!(c.server(id).disk.accepted_epoch, Epoch(6));
        assert_eq!(c.server(id).disk.current_epoch, Epoch(6));
    }
    // Without 2, the quorum {1, 3} fixes max(3, 2) + 1.
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[1, 3]);
    c.assert_settled(3);
    assert_eq!(c.node(3).established_epoch(), Some(Epoch(4)));
    // 2 joins later with acceptedEpoch 5 > 4: it refuses the old epoch and goes back to
    // LOOKING; it never accepts an epoch older than one it accepted.
    c.start(2);
    for _ in 0..50 {
        c.deliver_all_bounded(200);
        assert_eq!(c.node(2).accepted_epoch(), Epoch(5));
        assert!(c
            .node(2)
            .learning()
            .is_none_or(|l| l.phase <= LearnerPhase::Discovery));
    }
}

/// Liveness: a joiner whose acceptedEpoch is above the established leader's epoch used to cycle
/// LOOKING → FOLLOWING (on the decided votes) → LEADERINFO of an older epoch → LOOKING with no
/// delay and no end (a message storm). Now it remembers the refused election result and waits,
/// LOOKING, for the next election (which will pick an epoch above its acceptedEpoch).
#[test]
fn joiner_with_higher_accepted_epoch_does_not_storm() {
    let disks = BTreeMap::from([
        (1, epochs(3, 1, &[], Zxid::ZERO)),
        (2, epochs(5, 1, &[], Zxid::ZERO)),
        (3, epochs(2, 1, &[], Zxid::ZERO)),
    ]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[1, 3]);
    c.start(2);
    c.run_until_stable(); // used to panic: "deliver_all did not quiesce"
    assert_eq!(
        c.node(2).state(),
        PeerState::Looking,
        "2 refuses the older epoch and waits"
    );
    for id in [1, 3] {
        assert_ne!(c.node(id).state(), PeerState::Looking, "{id} keeps serving");
    }
}

#[test]
fn shorter_follower_gets_diff() {
    let disks = BTreeMap::from([
        (1, disk_with(1, &run_of(1, 3), z(1, 3))),
        (2, disk_with(1, &run_of(1, 5), z(1, 3))),
        (3, disk_with(1, &run_of(1, 5), z(1, 3))),
    ]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    let (kind, zxids, _) = sync_sent(&c, 3, 1);
    assert_eq!(kind, SyncKind::Diff);
    assert_eq!(zxids, vec![z(1, 4), z(1, 5)]);
    let (kind, zxids, _) = sync_sent(&c, 3, 2);
    assert_eq!(
        (kind, zxids),
        (SyncKind::Diff, vec![]),
        "an equal log gets an empty DIFF"
    );
    for id in [1, 2, 3] {
        assert_eq!(c.disk_zxids(id), run_of(1, 5), "{id} on disk");
        assert_eq!(
            c.node(id).committed_zxid(),
            z(1, 5),
            "{id} committed the initial history"
        );
    }
}

#[test]
fn extra_uncommitted_txn_gets_trunc() {
    // 1 logged 1:4, which only it has; 2 and 3 moved on to epoch 2 without it (no writes yet).
    let disks = BTreeMap::from([
        (1, disk_with(1, &run_of(1, 4), z(1, 3))),
        (2, disk_with(2, &run_of(1, 3), z(1, 3))),
        (3, disk_with(2, &run_of(1, 3), z(1, 3))),
    ]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    let (kind, zxids, _) = sync_sent(&c, 3, 1);
    assert_eq!(kind, SyncKind::Trunc { to: z(1, 3) });
    assert!(zxids.is_empty());
    assert_eq!(c.log_zxids(1), c.log_zxids(3));
    assert_eq!(c.disk_zxids(1), run_of(1, 3), "1:4 is gone from disk too");
}

#[test]
fn divergent_tail_in_same_epoch_gets_trunc_then_diff() {
    // 1 holds 1:4 (never committed); the new leader's history is 1:1..1:3 then 2:1.
    let mut leader = disk_with(2, &run_of(1, 3), z(1, 3));
    leader.log.push(prop(z(2, 1)));
    let disks = BTreeMap::from([
        (1, disk_with(1, &run_of(1, 4), z(1, 3))),
        (2, leader.clone()),
        (3, leader),
    ]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    let (kind, zxids, _) = sync_sent(&c, 3, 1);
    assert_eq!(kind, SyncKind::Trunc { to: z(1, 3) });
    assert_eq!(zxids, vec![z(2, 1)]);
    let want = vec![z(1, 1), z(1, 2), z(1, 3), z(2, 1)];
    assert_eq!(c.log_zxids(1), want);
    assert_eq!(c.disk_zxids(1), want);
    assert_eq!(c.node(1).committed_zxid(), z(2, 1));
}

#[test]
fn cross_epoch_divergence_gets_snap() {
    // 1 logged 2:1 in an epoch-2 leadership that never committed it; 2 and 3 went on in epoch 3.
    let mut d1 = disk_with(2, &run_of(1, 2), z(1, 2));
    d1.log.push(prop(z(2, 1)));
    let mut d23 = disk_with(3, &run_of(1, 2), z(1, 2));
    d23.log.push(prop(z(3, 1)));
    let disks = BTreeMap::from([(1, d1), (2, d23.clone()), (3, d23)]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    assert_eq!(c.node(3).established_epoch(), Some(Epoch(4)));
    // Based at the leader's committed 1:2, which is 1's committed zxid too: 1 keeps its own
    // history up to there (no install), cuts 2:1 and appends 3:1.
    let (kind, zxids, _) = sync_sent(&c, 3, 1);
    assert_eq!(
        kind,
        SyncKind::Snap {
            base: z(1, 2),
            snapshot: bytes::Bytes::new()
        }
    );
    assert_eq!(zxids, vec![z(3, 1)]);
    assert!(c.server(1).installed.is_empty());
    let want = vec![z(1, 1), z(1, 2), z(3, 1)];
    assert_eq!(c.log_zxids(1), want);
    assert_eq!(c.disk_zxids(1), want);
}

/// Runs the cluster but never makes `held`'s writes durable except its acceptedEpoch write
/// while it waits to ACKEPOCH; stops once `held` waits to ACK NEWLEADER.
fn drive_until_newleader_pending(c: &mut Cluster, held: u64) {
    for _ in 0..200 {
        if c.node(held)
            .learning()
            .is_some_and(|l| l.phase == LearnerPhase::NewLeaderPending)
        {
            return;
        }
        let moved = c.deliver_all();
        let ids: Vec<u64> = c
            .servers
            .keys()
            .map(|s| s.0)
            .filter(|i| *i != held)
            .collect();
        let mut flushed = false;
        for id in ids {
            if c.is_up(id) {
                flushed |= c.flush(id);
            }
        }
        if c.node(held)
            .learning()
            .is_some_and(|l| l.phase == LearnerPhase::AckEpochPending)
        {
            flushed |= c.flush(held);
        }
        if moved == 0 && !flushed {
            c.fire_finalize();
        }
    }
    panic!("{held} never reached NEWLEADER\n{}", c.trace_tail(30));
}

#[test]
fn ackepoch_only_after_accepted_epoch_is_durable() {
    let disks = BTreeMap::from([(3, disk_with(1, &run_of(1, 3), Zxid::ZERO))]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start(1);
    c.start(2);
    c.start(3);
    // Election only.
    while c.leaders().is_empty() || c.state(1) == PeerState::Looking {
        if c.deliver_all() == 0 {
            assert!(c.fire_finalize(), "election stuck\n{}", c.trace_tail(20));
        }
    }
    assert_eq!(c.leaders(), vec![3]);
    // FOLLOWERINFO 1 -> 3; LEADERINFO 3 -> 1.
    let (msg, _) = c.deliver(1, 3).expect("FOLLOWERINFO");
    assert_eq!(
        msg,
        PeerMsg::FollowerInfo {
            accepted_epoch: Epoch(0),
            observer: false
        }
    );
    assert_eq!(
        c.queued(3, 1),
        vec![PeerMsg::LeaderInfo { epoch: Epoch(2) }]
    );
    let (_, effects) = c.deliver(3, 1).expect("LEADERINFO");
    assert_eq!(
        effects,
        vec![Effect::PersistEpoch {
            accepted: Epoch(2),
            current: Epoch(0)
        }]
    );
    assert_eq!(c.node(1).accepted_epoch(), Epoch(2));
    assert_eq!(c.server(1).disk.accepted_epoch, Epoch(0), "not durable yet");
    let mark = c.trace.len();
    assert!(c.flush_epoch(1));
    assert_eq!(c.trace[mark].input, Input::EpochPersisted);
    assert_eq!(
        c.trace[mark].effects,
        vec![Effect::Send {
            to: sid(3),
            msg: PeerMsg::AckEpoch {
                current_epoch: Some(Epoch(0)),
                last_zxid: Zxid::ZERO
            }
        }]
    );
    assert_eq!(c.server(1).disk.accepted_epoch, Epoch(2));
}

#[test]
fn newleader_ack_only_after_synced_txns_and_current_epoch_are_durable() {
    let disks = BTreeMap::from([(3, disk_with(1, &run_of(1, 3), Zxid::ZERO))]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start(1);
    c.start(2);
    c.start(3);
    drive_until_newleader_pending(&mut c, 1);
    let (kind, zxids, committed) = sync_sent(&c, 3, 1);
    assert_eq!(
        (kind, zxids.clone(), committed),
        (SyncKind::Diff, run_of(1, 3), Zxid::ZERO)
    );
    // The synced txns are requested, not durable; no ACK of NEWLEADER went out.
    let n = c.node(1);
    assert_eq!(n.last_zxid(), z(1, 3));
    assert_eq!(n.durable_zxid(), Zxid::ZERO);
    assert_eq!(n.current_epoch(), Epoch(0));
    assert!(c.server(1).pending_epoch.is_none());
    assert_eq!(c.server(1).pending_log.len(), 1);
    assert!(c
        .queued(1, 3)
        .iter()
        .all(|m| !matches!(m, PeerMsg::Ack { .. })));
    // Txns durable: only now is currentEpoch written, still no ACK.
    let mark = c.trace.len();
    assert!(c.flush_log(1));
    assert_eq!(c.trace[mark].input, Input::Persisted { upto: z(1, 3) });
    assert_eq!(
        c.trace[mark].effects,
        vec![Effect::PersistEpoch {
            accepted: Epoch(2),
            current: Epoch(2)
        }]
    );
    assert_eq!(c.server(1).disk.current_epoch, Epoch(0));
    // currentEpoch durable: ACK NEWLEADER (epoch 2, counter 0), and nothing else.
    let mark = c.trace.len();
    assert!(c.flush_epoch(1));
    assert_eq!(
        c.trace[mark].effects,
        vec![Effect::Send {
            to: sid(3),
            msg: PeerMsg::Ack {
                zxid: Zxid::epoch_start(Epoch(2))
            }
        }]
    );
    assert_eq!(c.server(1).disk.current_epoch, Epoch(2));
    c.run_until_stable();
    c.assert_settled(3);
}

#[test]
fn leader_waits_for_its_own_durable_history_before_serving() {
    let disks = BTreeMap::from([(3, disk_with(1, &run_of(1, 3), Zxid::ZERO))]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    // The initial history was committed everywhere only once durable on a quorum.
    for id in [1, 2, 3] {
        assert_eq!(c.node(id).committed_zxid(), z(1, 3));
        assert_eq!(c.server(id).disk.current_epoch, Epoch(2));
    }
}

#[test]
fn learner_ahead_of_leader_makes_it_abdicate() {
    // 1, 2, 3 hold 1:1..1:3; 4 holds 1:1..1:5 but is down during the election.
    let mut disks: BTreeMap<u64, DurableState> = [1, 2, 3]
        .iter()
        .map(|i| (*i, disk_with(1, &run_of(1, 3), z(1, 3))))
        .collect();
    disks.insert(4, disk_with(1, &run_of(1, 5), z(1, 3)));
    let mut c = Cluster::with_disks(&[1, 2, 3, 4, 5], &[], disks);
    c.start(1);
    c.start(2);
    c.start(3);
    while c.leaders().is_empty() {
        if c.deliver_all() == 0 {
            assert!(c.fire_finalize(), "election stuck\n{}", c.trace_tail(20));
        }
    }
    assert_eq!(c.leaders(), vec![3]);
    c.deliver_all();
    assert_eq!(
        c.node(3).leading().map(|l| l.phase),
        Some(LeaderPhase::Discovery)
    );
    // 4 joins the discovery: it follows 3 on the decided votes, accepts epoch 2 and reports
    // (currentEpoch 1, 1:5), ahead of the leader's (1, 1:3).
    c.start(4);
    c.deliver_all();
    assert_eq!(c.state(4), PeerState::Following);
    assert!(c.flush_epoch(4));
    assert_eq!(
        c.queued(4, 3),
        vec![PeerMsg::AckEpoch {
            current_epoch: Some(Epoch(1)),
            last_zxid: z(1, 5)
        }]
    );
    let (_, effects) = c.deliver(4, 3).expect("ACKEPOCH");
    assert!(
        effects.iter().any(|e| matches!(
            e,
            Effect::RoleChanged {
                state: PeerState::Looking,
                ..
            }
        )),
        "leader did not abdicate: {effects:?}"
    );
    // Whoever wins next (4's vote may arrive after 1, 2, 3 re-elected), the cluster settles on
    // one leader with one history that keeps the committed 1:1..1:3.
    c.settle();
    let leaders = c.leaders();
    assert_eq!(leaders.len(), 1);
    c.assert_settled(leaders[0]);
    let history = c.log_zxids(leaders[0]);
    assert_eq!(history[..3], run_of(1, 3)[..]);
    for id in [1, 2, 3, 4] {
        assert_eq!(c.log_zxids(id), history, "{id}");
    }
}

#[test]
fn crash_during_sync_then_recover() {
    let disks = BTreeMap::from([(3, disk_with(1, &run_of(1, 3), Zxid::ZERO))]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start(1);
    c.start(2);
    c.start(3);
    drive_until_newleader_pending(&mut c, 1);
    // 1 crashes with its synced txns not durable: they are lost; it recovers from its disk.
    c.crash(1);
    assert!(c.server(1).disk.log.is_empty());
    c.run_until_stable();
    c.restart(1);
    c.run_until_stable();
    c.assert_settled(3);
    assert_eq!(c.log_zxids(1), run_of(1, 3));
    assert_eq!(c.disk_zxids(1), run_of(1, 3));
}

/// Servers 2 and 3 hold `[1:1, 1:2]` in a snapshot (log base 1:2, committed) and an uncommitted
/// `1:3` above it; server 1 holds `mine` (committed up to `committed`). 3 wins the election.
fn compacted_pair(mine: DurableState) -> Cluster {
    let compacted = DurableState {
        log_base: z(1, 2),
        log: vec![prop(z(1, 3))],
        committed: z(1, 2),
        ..disk_with(1, &[], Zxid::ZERO)
    };
    let disks = BTreeMap::from([(1, mine), (2, compacted.clone()), (3, compacted)]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start(1);
    c.start(2);
    c.start(3);
    c
}

fn ack_of_newleader_queued(c: &Cluster, epoch: u32) -> bool {
    c.queued(1, 3).contains(&PeerMsg::Ack {
        zxid: Zxid::epoch_start(Epoch(epoch)),
    })
}

#[test]
fn learner_below_a_compacted_base_installs_the_snapshot_before_it_acks() {
    let mut c = compacted_pair(DurableState::default());
    drive_until_newleader_pending(&mut c, 1);
    let (kind, zxids, _) = sync_sent(&c, 3, 1);
    assert!(matches!(kind, SyncKind::Snap { base, .. } if base == z(1, 2)));
    assert_eq!(zxids, vec![z(1, 3)]);
    // The install comes first in 1's ordered disk queue, the txn after the base behind it.
    let pending: Vec<DiskOp> = c.server(1).pending_log.iter().cloned().collect();
    assert_eq!(
        pending,
        vec![
            DiskOp::Install(z(1, 2), bytes::Bytes::from("s3@1:2")),
            DiskOp::Append(vec![prop(z(1, 3))], Zxid::ZERO),
        ]
    );
    assert_eq!(c.node(1).install_pending(), Some(z(1, 2)));
    assert_eq!(c.node(1).log_base(), z(1, 2));
    assert_eq!(
        c.node(1).committed_zxid(),
        Zxid::ZERO,
        "not before it is durable"
    );
    // Installed: committed up to the base, but no ACK while 1:3 is not durable.
    assert!(matches!(c.flush_log_one(1), Some(DiskOp::Install(..))));
    assert_eq!(c.server(1).disk.log_base, z(1, 2));
    assert_eq!(c.node(1).committed_zxid(), z(1, 2));
    assert_eq!(c.node(1).install_pending(), None);
    assert!(c.flush_epoch(1) || c.server(1).pending_epoch.is_none());
    assert!(!ack_of_newleader_queued(&c, 2));
    assert!(matches!(c.flush_log_one(1), Some(DiskOp::Append(..))));
    c.flush_epoch(1);
    assert!(ack_of_newleader_queued(&c, 2), "{:?}", c.queued(1, 3));
    c.settle();
    c.assert_settled(3);
    assert_eq!(c.server(1).disk.log_base, z(1, 2));
    assert_eq!(c.disk_zxids(1), vec![z(1, 3)]);
    assert_eq!(c.node(1).committed_zxid(), z(1, 3));
    assert_eq!(c.server(1).installed.len(), 1);
}

#[test]
fn crash_after_the_install_and_before_the_appends_resumes_by_diff() {
    let mut c = compacted_pair(DurableState::default());
    drive_until_newleader_pending(&mut c, 1);
    assert!(matches!(c.flush_log_one(1), Some(DiskOp::Install(..))));
    c.crash(1);
    // The disk holds the snapshot and nothing above it: a restart starts from the base.
    assert_eq!(c.server(1).disk.log_base, z(1, 2));
    assert!(c.server(1).disk.log.is_empty());
    c.restart(1);
    assert_eq!(c.node(1).committed_zxid(), z(1, 2));
    c.settle();
    c.assert_settled(3);
    let (kind, zxids, _) = sync_sent(&c, 3, 1);
    assert_eq!((kind, zxids), (SyncKind::Diff, vec![z(1, 3)]));
    assert_eq!(c.disk_zxids(1), vec![z(1, 3)]);
    assert_eq!(c.server(1).installed.len(), 1);
}

#[test]
fn crash_before_the_install_leaves_the_old_disk_and_snaps_again() {
    let mut c = compacted_pair(disk_with(1, &[z(1, 1)], Zxid::ZERO));
    drive_until_newleader_pending(&mut c, 1);
    c.crash(1);
    assert_eq!(c.server(1).disk.log_base, Zxid::ZERO);
    assert_eq!(c.disk_zxids(1), vec![z(1, 1)]);
    c.restart(1);
    c.settle();
    c.assert_settled(3);
    // The leader committed 1:3 meanwhile: the new SNAP is based there.
    let (kind, zxids, _) = sync_sent(&c, 3, 1);
    assert!(matches!(kind, SyncKind::Snap { base, .. } if base == z(1, 3)));
    assert!(zxids.is_empty());
    assert_eq!(c.server(1).disk.log_base, z(1, 3));
    assert!(c.disk_zxids(1).is_empty());
}

/// A SNAP cuts only what the leader lacks: 1's `1:2` (not known committed on 1, but the
/// leader's) never leaves 1's disk; its divergent `2:1` goes before the install.
#[test]
fn snap_keeps_the_entries_that_continue_the_leaders_history() {
    let mut d1 = disk_with(2, &run_of(1, 2), Zxid::ZERO);
    d1.log.push(prop(z(2, 1)));
    let mut d23 = disk_with(3, &run_of(1, 2), z(1, 1));
    d23.log.push(prop(z(3, 1)));
    let disks = BTreeMap::from([(1, d1), (2, d23.clone()), (3, d23)]);
    let mut c = Cluster::with_disks(&[1, 2, 3], &[], disks);
    c.start(1);
    c.start(2);
    c.start(3);
    drive_until_newleader_pending(&mut c, 1);
    let (kind, zxids, _) = sync_sent(&c, 3, 1);
    assert!(matches!(kind, SyncKind::Snap { base, .. } if base == z(1, 1)));
    assert_eq!(zxids, vec![z(1, 2), z(3, 1)]);
    let pending: Vec<DiskOp> = c.server(1).pending_log.iter().cloned().collect();
    assert_eq!(
        pending,
        vec![
            DiskOp::Truncate(z(1, 2)),
            DiskOp::Install(z(1, 1), bytes::Bytes::from("s3@1:1")),
            DiskOp::Append(vec![prop(z(3, 1))], Zxid::ZERO),
        ]
    );
    while c.flush_log_one(1).is_some() {
        let disk = &c.server(1).disk;
        assert!(
            disk.log.contains(&prop(z(1, 2))),
            "1:2 left the disk: {disk:?}"
        );
    }
    c.settle();
    c.assert_settled(3);
    assert_eq!(c.server(1).disk.log_base, z(1, 1));
    assert_eq!(c.disk_zxids(1), vec![z(1, 2), z(3, 1)]);
}
