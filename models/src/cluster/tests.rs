//! Unit tests of the world.

use bytes::Bytes;
use stateright::Model;
use zabkeeper::protocol::{
    Epoch, LeaderPhase, LearnerPhase, Node, PeerMsg, PeerState, Proposal, SyncKind, Timer, Zxid,
};

use super::*;

#[test]
fn a_panic_outside_node_step_is_a_violation_with_its_location() {
    // The disk refuses an append that does not extend it (INV-LOG-ORDER in
    // `DurableState::append`): a world step, not `Node::step`. It must become a NO-PANIC
    // counterexample, not escape the checker.
    let model = ClusterModel::new(ModelConfig::new(ModelKind::Sync));
    let mut state = model.init_states().remove(0);
    state.servers[0]
        .make_mut()
        .pending_log
        .push(LogWrite::Append {
            proposals: vec![Proposal {
                zxid: Zxid::ZERO,
                data: Bytes::new(),
            }],
            committed: Zxid::ZERO,
        });
    let next = model
        .next_state(&state, Action::FlushLog { server: 0 })
        .expect("a state");
    let detail = &next.ghost.violations["NO-PANIC"];
    assert!(detail.contains("INV-LOG-ORDER: durable append"), "{detail}");
    assert!(detail.contains("durable.rs:"), "{detail}");
    assert!(detail.contains("s1: oldest txn-log write"), "{detail}");
    let mut after = Vec::new();
    model.actions(&next, &mut after);
    assert!(
        after.is_empty(),
        "a panicked world is not expanded: {after:?}"
    );
    let said = crate::properties::explain(&model, "NO-PANIC", &next);
    assert_eq!(said.as_ref(), Some(detail));
}

/// Takes the first action `pick` accepts until `done` holds (at most 300 steps).
fn walk(
    model: &ClusterModel,
    mut state: ClusterState,
    pick: impl Fn(&Action) -> bool,
    done: impl Fn(&ClusterState) -> bool,
) -> ClusterState {
    for _ in 0..300 {
        if done(&state) {
            return state;
        }
        let mut actions = Vec::new();
        model.actions(&state, &mut actions);
        let a = actions
            .into_iter()
            .find(|a| pick(a))
            .unwrap_or_else(|| panic!("stuck:\n{}", crate::trace::describe_state(&state)));
        state = model.next_state(&state, a).expect("a state");
    }
    panic!(
        "not reached in 300 steps:\n{}",
        crate::trace::describe_state(&state)
    );
}

fn serving(s: &ClusterState, i: usize) -> bool {
    s.servers[i].node.as_ref().is_some_and(|n| {
        n.leading()
            .is_some_and(|l| l.phase == LeaderPhase::Broadcast)
            || n.learning()
                .is_some_and(|l| l.phase == LearnerPhase::Broadcast)
    })
}

#[test]
fn core_cluster_runs_the_cores_cross_node_check_on_live_nodes() {
    let mut cfg = ModelConfig::new(ModelKind::Sync);
    cfg.crashes = 0;
    let model = ClusterModel::new(cfg);
    let quiet = |a: &Action| !matches!(a, Action::Forward { .. } | Action::Write { .. });
    let state = walk(&model, model.init_states().remove(0), quiet, |s| {
        (0..s.n()).all(|i| serving(s, i))
    });
    assert_eq!(
        crate::properties::explain(&model, "CORE-CLUSTER", &state),
        None
    );
    let leader = (0..3)
        .find(|i| state.servers[*i].node.as_ref().unwrap().leading().is_some())
        .expect("a leader");
    // A second live node that holds the leader's state: two leaders of one epoch at once.
    let mut two = state.clone();
    let other = (leader + 1) % 3;
    two.servers[other].make_mut().node = state.servers[leader].node.clone();
    let v = crate::properties::explain(&model, "CORE-CLUSTER", &two).expect("broken");
    assert!(v.starts_with("ZAB-LEADER-UNIQUE: "), "{v}");
    // A crashed server is not a live node: the same pair with one of them down holds.
    two.servers[leader].make_mut().node = None;
    assert_eq!(
        crate::properties::explain(&model, "CORE-CLUSTER", &two),
        None
    );
}

#[test]
fn a_write_at_a_follower_is_forwarded_prepared_and_proposed_by_the_leader() {
    let mut cfg = ModelConfig::new(ModelKind::Sync);
    cfg.forward = true;
    cfg.crashes = 0;
    let model = ClusterModel::new(cfg);
    let quiet = |a: &Action| !matches!(a, Action::Forward { .. } | Action::Write { .. });
    let state = walk(&model, model.init_states().remove(0), quiet, |s| {
        (0..s.n()).all(|i| serving(s, i))
    });
    let leader = (0..3)
        .find(|i| state.servers[*i].node.as_ref().unwrap().leading().is_some())
        .expect("a leader");
    let follower = (leader + 1) % 3;
    let state = model
        .next_state(&state, Action::Forward { server: follower })
        .expect("a state");
    assert_eq!(state.writes, 1);
    assert!(matches!(
        state.link(follower, leader).back(),
        Some(PeerMsg::Request { .. })
    ));
    let state = model
        .next_state(
            &state,
            Action::Deliver {
                from: follower,
                to: leader,
            },
        )
        .expect("a state");
    assert_eq!(state.servers[leader].prepared.len(), 1, "Prepare kept");
    let state = model
        .next_state(&state, Action::Propose { server: leader })
        .expect("a state");
    let node = state.servers[leader].node.as_ref().unwrap();
    assert_eq!(node.log().len(), 1, "the prepared request is proposed");
    assert_eq!(node.log()[0].data.as_ref(), &[1]);
    assert!(state.servers[leader].prepared.is_empty());
}

#[test]
fn an_observer_syncs_and_never_counts_toward_a_commit_quorum() {
    let mut cfg = ModelConfig::new(ModelKind::Sync);
    cfg.observers = 1;
    cfg.fire.insert(Timer::Notify);
    cfg.timer_fires = Some(1);
    cfg.crashes = 0;
    let model = ClusterModel::new(cfg);
    let state = model.init_states().remove(0);
    assert_eq!(state.n(), 4);
    let observer = state.servers[3].node.as_ref().unwrap();
    assert!(observer.config().is_observer());
    // A txn on two voters' disks is on a majority of the 3 voters, whatever the observer
    // holds: the property counts voters only.
    let mut s = state.clone();
    let p = Proposal {
        zxid: Zxid::new(Epoch(1), 1),
        data: Bytes::from_static(b"x"),
    };
    s.ghost.make_mut().committed[0] = vec![p.clone()];
    for i in [0, 1] {
        s.servers[i].make_mut().disk.log = vec![p.clone()];
    }
    assert_eq!(
        crate::properties::explain(&model, "ZAB-COMMIT-QUORUM-DURABLE", &s),
        None
    );
    s.servers[1].make_mut().disk.log.clear();
    s.servers[3].make_mut().disk.log = vec![p];
    let v = crate::properties::explain(&model, "ZAB-COMMIT-QUORUM-DURABLE", &s)
        .expect("one voter and an observer are not a majority");
    assert!(v.contains("1 of 3 voters"), "{v}");
    // The observer follows the leader (after resending its notification if it missed the
    // election) and reaches broadcast as OBSERVING.
    let any = |a: &Action| !matches!(a, Action::Write { .. });
    let synced = walk(&model, state, any, |s| serving(s, 3));
    assert_eq!(
        synced.servers[3].node.as_ref().unwrap().state(),
        PeerState::Observing
    );
}

#[test]
fn a_silently_isolated_server_loses_every_message_and_is_not_told() {
    let mut cfg = ModelConfig::new(ModelKind::Sync);
    cfg.isolations = 1;
    let model = ClusterModel::new(cfg);
    let state = model.init_states().remove(0);
    assert!(
        !state.link(0, 1).is_empty(),
        "s1's first notification is in flight"
    );
    let state = model
        .next_state(&state, Action::Isolate { server: 0 })
        .expect("a state");
    assert!((0..3).all(|j| state.link(0, j).is_empty() && state.link(j, 0).is_empty()));
    let state = model.next_state(&state, Action::Elect).expect("a state");
    let roles: Vec<PeerState> = state.nodes().map(Node::state).collect();
    assert_eq!(
        roles,
        [PeerState::Looking, PeerState::Following, PeerState::Leading],
        "s2 and s3 elect each other; s1 hears nobody"
    );
    let mut actions = Vec::new();
    model.actions(&state, &mut actions);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Isolate { .. })),
        "one isolation in all: {actions:?}"
    );
}

#[test]
fn the_sync_oracle_compares_the_read_index_with_what_was_committed_before() {
    let model = ClusterModel::new(ModelConfig::new(ModelKind::Sync));
    let mut state = model.init_states().remove(0);
    let t = Proposal {
        zxid: Zxid::new(Epoch(2), 1),
        data: Bytes::from_static(b"t"),
    };
    for (id, server) in [(1, 0), (2, 1)] {
        let record = SyncRecord {
            server,
            committed_before: vec![t.clone()],
            answer: None,
        };
        state.ghost.make_mut().syncs.insert(id, record);
    }
    model.on_sync_ready(&mut state, 1, 2, t.zxid);
    assert!(state.ghost.violations.is_empty());
    model.check_answered_syncs(&mut state);
    assert!(
        state.ghost.syncs.contains_key(&2),
        "checked only once s2 has applied its read index"
    );
    model.on_sync_ready(&mut state, 0, 1, Zxid::new(Epoch(1), 1));
    assert_eq!(
        state.ghost.violations["ZAB-SYNC-LINEARIZABLE"],
        "s1 answered sync #1 with read index 1:1, but 2:1 was committed before the sync was issued"
    );
}

#[test]
fn a_panic_in_node_step_is_recorded_on_its_server() {
    // A TRUNC that cuts nothing trips the learner's ZAB-TRUNC assertion.
    let model = ClusterModel::new(ModelConfig::new(ModelKind::Sync));
    let state = model.init_states().remove(0);
    let mut path = state;
    // Drive the first election to a follower waiting for its sync.
    for _ in 0..200 {
        let follower = path.servers.iter().position(|s| {
            s.node
                .as_ref()
                .and_then(|n| n.learning())
                .is_some_and(|l| l.phase == LearnerPhase::AwaitSync)
        });
        if let Some(f) = follower {
            let leader = path.servers[f].node.as_ref().unwrap().leader().unwrap();
            let l = leader.0 as usize - 1;
            let n = path.n();
            path.links[l * n + f].make_mut().push_front(PeerMsg::Sync {
                kind: SyncKind::Trunc { to: Zxid::ZERO },
                proposals: vec![],
                committed: Zxid::ZERO,
            });
            let next = model
                .next_state(&path, Action::Deliver { from: l, to: f })
                .expect("a state");
            let panic = next.servers[f].panic.as_ref().expect("recorded");
            assert!(panic.starts_with("ZAB-TRUNC: TRUNC to 0:0"), "{panic}");
            assert!(panic.contains("follower.rs:"), "{panic}");
            let said = crate::properties::explain(&model, "NO-PANIC", &next).unwrap();
            assert!(said.starts_with(&format!("s{} panicked in Node::step: ZAB-TRUNC", f + 1)));
            return;
        }
        let mut actions = Vec::new();
        model.actions(&path, &mut actions);
        let pick = actions
            .into_iter()
            .find(|a| !matches!(a, Action::Crash { .. } | Action::BreakLink { .. }))
            .unwrap_or_else(|| panic!("stuck:\n{}", crate::trace::describe_state(&path)));
        path = model.next_state(&path, pick).expect("a state");
    }
    panic!("no follower reached AwaitSync in 200 steps");
}
