//! `Input::Compacted` (ZAB-COMPACT-COMMITTED): after a durable snapshot the node drops exactly
//! the committed log prefix it covers and moves its log base, so a learner behind the base is
//! planned a SNAP and one at or above it a DIFF.

mod support;

use bytes::Bytes;
use support::*;
use zabkeeper::protocol::sync::plan_sync;
use zabkeeper::protocol::*;

fn step(node: &mut Node, input: Input) -> Vec<Effect> {
    let mut out = Effects::new();
    node.step(input, &mut out);
    out.drain().collect()
}

/// A one-voter leader in epoch 1 that logged `n` writes and committed the first `committed`.
fn leader_with(n: u32, committed: u32) -> Node {
    let mut cfg = NodeConfig::new(ServerId(1), [ServerId(1)]);
    cfg.finalize_wait_ticks = 0;
    let mut node = Node::new(cfg, DurableState::default());
    step(&mut node, Input::Start);
    step(&mut node, Input::Timeout(Timer::FinalizeWait));
    step(&mut node, Input::EpochPersisted);
    step(&mut node, Input::EpochPersisted);
    for i in 1..=n {
        step(
            &mut node,
            Input::Write {
                data: Bytes::from(vec![i as u8]),
            },
        );
    }
    if committed > 0 {
        step(
            &mut node,
            Input::Persisted {
                upto: z(1, committed),
            },
        );
    }
    assert_eq!(node.committed_zxid(), z(1, committed).max(Zxid::ZERO));
    node
}

fn zxids(log: &[Proposal]) -> Vec<Zxid> {
    log.iter().map(|p| p.zxid).collect()
}

#[test]
fn compaction_drops_exactly_the_committed_prefix() {
    let mut node = leader_with(6, 4);
    let effects = step(&mut node, Input::Compacted { upto: z(1, 3) });
    assert!(effects.is_empty(), "compaction is not IO: {effects:?}");
    assert_eq!(node.log_base(), z(1, 3));
    assert_eq!(zxids(node.log()), vec![z(1, 4), z(1, 5), z(1, 6)]);
    assert_eq!(zxids(node.committed_log()), vec![z(1, 4)]);
    assert_eq!(node.last_zxid(), z(1, 6));
    assert_eq!(node.committed_zxid(), z(1, 4));
    // An older snapshot changes nothing; the node keeps writing and committing above the base.
    step(&mut node, Input::Compacted { upto: z(1, 2) });
    assert_eq!(node.log_base(), z(1, 3));
    assert_eq!(node.next_zxid(), Ok(z(1, 7)));
    step(&mut node, Input::Persisted { upto: z(1, 6) });
    step(&mut node, Input::Compacted { upto: z(1, 6) });
    assert_eq!(node.log_base(), z(1, 6));
    assert!(node.log().is_empty());
    assert_eq!(node.last_zxid(), z(1, 6));
    assert_eq!(node.next_zxid(), Ok(z(1, 7)));
}

#[test]
#[should_panic(expected = "ZAB-COMPACT-COMMITTED")]
fn compaction_beyond_committed_is_a_violation() {
    let mut node = leader_with(6, 4);
    step(&mut node, Input::Compacted { upto: z(1, 5) });
}

#[test]
fn learner_behind_the_base_gets_snap_one_at_or_above_gets_diff() {
    let mut node = leader_with(6, 6);
    step(&mut node, Input::Compacted { upto: z(1, 4) });
    let plan = |peer: Zxid| {
        plan_sync(
            node.log(),
            node.log_base(),
            node.committed_zxid(),
            peer,
            None,
        )
    };
    for behind in [Zxid::ZERO, z(1, 1), z(1, 3)] {
        // Based at the leader's committed 1:6 (its applied state), so no proposal follows.
        let p = plan(behind);
        let snap = SyncKind::Snap {
            base: z(1, 6),
            snapshot: Bytes::new(),
        };
        assert_eq!(p.kind, snap, "learner at {behind}");
        assert!(p.proposals.is_empty());
    }
    let p = plan(z(1, 4));
    assert_eq!(
        (p.kind, zxids(&p.proposals)),
        (SyncKind::Diff, vec![z(1, 5), z(1, 6)])
    );
    let p = plan(z(1, 5));
    assert_eq!(
        (p.kind, zxids(&p.proposals)),
        (SyncKind::Diff, vec![z(1, 6)])
    );
    // Before compaction the same learners got a DIFF.
    let whole = leader_with(6, 6);
    assert_eq!(
        plan_sync(whole.log(), whole.log_base(), z(1, 6), z(1, 1), None).kind,
        SyncKind::Diff
    );
}

/// In a real run: a follower that was down while the leader compacted, and whose last zxid is
/// the new base, rejoins with a DIFF of exactly the txns after the base.
#[test]
fn rejoining_follower_at_the_base_gets_diff_after_compaction() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    let epoch = c.node(3).established_epoch().expect("established").0;
    for i in 0..3u8 {
        c.write(3, &[i]);
    }
    c.settle();
    let base = c.node(3).committed_zxid();
    assert_eq!(base, z(epoch, 3));
    c.crash(1);
    for i in 3..5u8 {
        c.write(3, &[i]);
    }
    c.settle();
    c.step(3, Input::Compacted { upto: base });
    assert_eq!(c.node(3).log_base(), base);
    assert_eq!(c.log_zxids(3), vec![z(epoch, 4), z(epoch, 5)]);
    c.restart(1);
    c.settle();
    c.assert_settled(3);
    let sync = c
        .trace
        .iter()
        .rev()
        .filter(|s| s.node == sid(3))
        .flat_map(|s| sends(&s.effects))
        .find_map(|(to, m)| match m {
            PeerMsg::Sync {
                kind, proposals, ..
            } if to == 1 => Some((kind, zxids(&proposals))),
            _ => None,
        })
        .expect("3 synced 1");
    assert_eq!(sync, (SyncKind::Diff, vec![z(epoch, 4), z(epoch, 5)]));
    assert_eq!(c.node(1).committed_zxid(), z(epoch, 5));
}
