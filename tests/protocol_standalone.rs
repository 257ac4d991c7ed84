//! A one-voter ensemble (the standalone server's configuration, `server/driver.rs`): the node
//! elects itself, goes through discovery and sync with a quorum of one, and commits a write only
//! after `Persisted`. Effect by effect, as the server's driver executes them.

use bytes::Bytes;
use zabkeeper::protocol::*;

fn one_voter(durable: DurableState) -> Node {
    let mut cfg = NodeConfig::new(ServerId(1), [ServerId(1)]);
    // Nobody else can send a better vote: the standalone driver waits no finalize ticks.
    cfg.finalize_wait_ticks = 0;
    Node::new(cfg, durable)
}

fn step(node: &mut Node, input: Input) -> Vec<Effect> {
    let mut out = Effects::new();
    node.step(input, &mut out);
    out.drain().collect()
}

/// Drives a fresh or recovered one-voter node to broadcast; returns every effect on the way.
fn to_broadcast(node: &mut Node) -> Vec<Effect> {
    let mut all = step(node, Input::Start);
    all.extend(step(node, Input::Timeout(Timer::FinalizeWait)));
    all.extend(step(node, Input::EpochPersisted)); // acceptedEpoch
    all.extend(step(node, Input::EpochPersisted)); // currentEpoch
    all
}

#[test]
fn fresh_one_voter_leads_epoch_one_with_exact_effects() {
    let mut node = one_voter(DurableState::default());
    assert_eq!(node.next_zxid(), Err(RejectReason::NotLeader));
    // FLE: my own vote is a quorum of one; no one to notify.
    assert_eq!(
        step(&mut node, Input::Start),
        vec![
            Effect::CancelTimer(Timer::InitLimit),
            Effect::CancelTimer(Timer::SyncLimit),
            Effect::CancelTimer(Timer::Heartbeat),
            Effect::RoleChanged {
                state: PeerState::Looking,
                leader: None,
                epoch: Epoch(0)
            },
            Effect::SetTimer {
                timer: Timer::Notify,
                ticks: 1
            },
            Effect::SetTimer {
                timer: Timer::FinalizeWait,
                ticks: 0
            },
        ]
    );
    // Decide: lead; discovery fixes epoch 1 with a quorum of me alone.
    assert_eq!(
        step(&mut node, Input::Timeout(Timer::FinalizeWait)),
        vec![
            Effect::CancelTimer(Timer::FinalizeWait),
            Effect::CancelTimer(Timer::Notify),
            Effect::RoleChanged {
                state: PeerState::Leading,
                leader: Some(ServerId(1)),
                epoch: Epoch(0)
            },
            Effect::SetTimer {
                timer: Timer::InitLimit,
                ticks: 10
            },
            Effect::PersistEpoch {
                accepted: Epoch(1),
                current: Epoch(0)
            },
        ]
    );
    assert_eq!(node.next_zxid(), Err(RejectReason::NotLeader));
    // acceptedEpoch durable: established; currentEpoch requested.
    assert_eq!(
        step(&mut node, Input::EpochPersisted),
        vec![Effect::PersistEpoch {
            accepted: Epoch(1),
            current: Epoch(1)
        }]
    );
    assert_eq!(node.next_zxid(), Err(RejectReason::NotLeader));
    // currentEpoch durable: NEWLEADER quorum of one; broadcast.
    assert_eq!(
        step(&mut node, Input::EpochPersisted),
        vec![
            Effect::CancelTimer(Timer::InitLimit),
            Effect::SetTimer {
                timer: Timer::Heartbeat,
                ticks: 1
            },
            Effect::SetTimer {
                timer: Timer::SyncLimit,
                ticks: 5
            },
        ]
    );
    assert_eq!(node.state(), PeerState::Leading);
    assert_eq!(node.next_zxid(), Ok(Zxid::new(Epoch(1), 1)));
}

#[test]
fn one_voter_commits_only_after_persisted_in_zxid_order() {
    let mut node = one_voter(DurableState::default());
    to_broadcast(&mut node);
    let z1 = node.next_zxid().expect("broadcast");
    let a = Proposal {
        zxid: z1,
        data: Bytes::from_static(b"a"),
    };
    assert_eq!(
        step(
            &mut node,
            Input::Write {
                data: a.data.clone()
            }
        ),
        vec![
            Effect::PersistTxns {
                proposals: vec![a],
                committed: Zxid::ZERO
            },
            Effect::Proposed { zxid: z1 },
        ]
    );
    // The stamp for the next write moves on before the first is durable (pipelining).
    let z2 = node.next_zxid().expect("broadcast");
    assert_eq!(z2, Zxid::new(Epoch(1), 2));
    let effects = step(
        &mut node,
        Input::Write {
            data: Bytes::from_static(b"b"),
        },
    );
    assert!(effects.contains(&Effect::Proposed { zxid: z2 }));
    assert_eq!(node.committed_zxid(), Zxid::ZERO);
    // Durable up to the first: commit exactly the first.
    assert_eq!(
        step(&mut node, Input::Persisted { upto: z1 }),
        vec![Effect::Commit { upto: z1 }]
    );
    assert_eq!(
        step(&mut node, Input::Persisted { upto: z2 }),
        vec![Effect::Commit { upto: z2 }]
    );
    assert_eq!(node.committed_zxid(), z2);
    // Heartbeat and syncLimit with no learners keep leading (a quorum of one hears itself).
    let effects = step(&mut node, Input::Timeout(Timer::SyncLimit));
    assert_eq!(
        effects,
        vec![Effect::SetTimer {
            timer: Timer::SyncLimit,
            ticks: 5
        }]
    );
    assert_eq!(node.state(), PeerState::Leading);
}

#[test]
fn recovered_one_voter_starts_a_new_epoch_above_its_snapshot() {
    // What the server's recovery builds: everything up to the snapshot at 0x2_0000_0007 is in
    // the tree, the log in memory is empty, epochs as on disk.
    let base = Zxid::new(Epoch(2), 7);
    let durable = DurableState {
        accepted_epoch: Epoch(2),
        current_epoch: Epoch(2),
        log_base: base,
        log: Vec::new(),
        committed: base,
    };
    let mut node = one_voter(durable);
    let effects = to_broadcast(&mut node);
    assert!(effects.contains(&Effect::PersistEpoch {
        accepted: Epoch(3),
        current: Epoch(3)
    }));
    // Nothing to re-commit: the initial history is the snapshot.
    assert!(!effects.iter().any(|e| matches!(e, Effect::Commit { .. })));
    assert_eq!(node.committed_zxid(), base);
    assert_eq!(node.next_zxid(), Ok(Zxid::new(Epoch(3), 1)));
}
