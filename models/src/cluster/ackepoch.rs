//! `ackepoch-counts-unknown` (issue 8) replayed as model actions: the loud-link schedule of
//! `tests/protocol_ackepoch.rs`, step by step, in the `zab` model's world at 5 servers. Every
//! step is an action the model enables in that state (`ClusterModel::actions`) and every state
//! is inside the run's bounds, so the schedule is a behaviour of
//! `zab --servers 5 --txns 0 --crashes 0 --link-faults 3 --max-round 3`.
//!
//! Finding (issue 8): the world takes every step; nothing in it differs from the harness's for
//! this schedule (one FIFO queue per ordered pair carries both election and quorum packets here,
//! and a break or `Disconnect` clears it whole, but the schedule never needs a packet that either
//! difference would lose). The schedule is 120 actions (103 deliveries, 3 link breaks, 6
//! FinalizeWait firings, 8 epoch flushes), with up to 8 packets queued on one link and 43 in
//! flight; with the mutant, its last step records ZAB-LEADER-UNIQUE ("s5 and s4 both established
//! epoch 1"), and the core as shipped ends with 5 still in discovery and no property violated.
//! What keeps the checker from finding it is the size of that space, not the world
//! (verification.md §5).

use stateright::Model;
use zabkeeper::protocol::{Bug, Epoch, LeaderPhase, LearnerPhase, PeerMsg, PeerState, Timer};

use super::*;

/// The world with the actions taken so far (ids 1-based, as in the core test).
struct Walk {
    model: ClusterModel,
    state: ClusterState,
    actions: Vec<Action>,
}

fn at(id: u64) -> usize {
    id as usize - 1
}

impl Walk {
    fn new(bug: Option<Bug>) -> Walk {
        let mut cfg = ModelConfig::new(ModelKind::Zab);
        cfg.servers = 5;
        cfg.txns = 0;
        cfg.crashes = 0;
        cfg.link_faults = 3;
        cfg.max_round = 3;
        cfg.bug = bug;
        let model = ClusterModel::new(cfg);
        let state = model.init_states().remove(0);
        Walk {
            model,
            state,
            actions: Vec::new(),
        }
    }

    /// Takes `action`, which the model must enable here; the next state must be in bounds.
    fn take(&mut self, action: Action) {
        let mut enabled = Vec::new();
        self.model.actions(&self.state, &mut enabled);
        assert!(
            enabled.contains(&action),
            "step {}: {action:?} is not enabled; enabled: {enabled:?}\n{}",
            self.actions.len() + 1,
            crate::trace::describe_state(&self.state)
        );
        let next = self.model.next_state(&self.state, action.clone());
        self.state = next.expect("a state");
        assert!(
            self.model.within_boundary(&self.state),
            "step {}: {action:?} leaves the bounds",
            self.actions.len() + 1
        );
        self.actions.push(action);
    }

    fn node(&self, id: u64) -> &zabkeeper::protocol::Node {
        self.state.servers[at(id)].node.as_ref().expect("up")
    }

    fn state_of(&self, id: u64) -> PeerState {
        self.node(id).state()
    }

    fn front(&self, from: u64, to: u64) -> Option<&PeerMsg> {
        self.state.link(at(from), at(to)).front()
    }

    fn queued(&self, from: u64, to: u64) -> Vec<PeerMsg> {
        self.state.link(at(from), at(to)).iter().cloned().collect()
    }

    /// Has the world broken a property? (The model expands no such state.)
    fn violated(&self) -> bool {
        crate::properties::violated(&self.model, &self.state)
    }

    /// Delivers the oldest message on `from → to` and returns it.
    fn deliver(&mut self, from: u64, to: u64) -> Option<PeerMsg> {
        if self.violated() {
            return None;
        }
        let msg = self.front(from, to)?.clone();
        self.take(Action::Deliver {
            from: at(from),
            to: at(to),
        });
        Some(msg)
    }

    fn armed(&self, id: u64, timer: Timer) -> bool {
        self.state.servers[at(id)].timers.contains(&timer)
    }

    fn fire(&mut self, id: u64, timer: Timer) {
        self.take(Action::Timeout {
            server: at(id),
            timer,
        });
    }

    /// Makes every pending write of `id` durable (epoch file, then the log in order).
    fn flush(&mut self, id: u64) -> bool {
        let mut moved = false;
        loop {
            let s = &self.state.servers[at(id)];
            if self.violated() {
                return moved;
            } else if s.pending_epoch.is_some() {
                self.take(Action::FlushEpoch { server: at(id) });
            } else if !s.pending_log.is_empty() {
                self.take(Action::FlushLog { server: at(id) });
            } else {
                return moved;
            }
            moved = true;
        }
    }

    /// The link between `a` and `b` breaks; both ends get `PeerLost`.
    fn break_link(&mut self, a: u64, b: u64) {
        let (a, b) = (at(a.min(b)), at(a.max(b)));
        self.take(Action::BreakLink { a, b });
    }

    fn leaders(&self) -> Vec<u64> {
        (1..=5)
            .filter(|id| self.state_of(*id) == PeerState::Leading)
            .collect()
    }

    fn established(&self, id: u64) -> Option<Epoch> {
        self.node(id).established_epoch()
    }

    /// As the core test's `elect`: election packets at the head of `links`, FinalizeWait on
    /// LOOKING members when nothing moves, until nothing changes.
    fn elect(&mut self, links: &[(u64, u64)]) {
        for _ in 0..200 {
            let mut moved = false;
            for &(a, b) in links {
                if self.front(a, b).is_some_and(PeerMsg::is_election) {
                    self.deliver(a, b);
                    moved = true;
                }
            }
            if moved {
                continue;
            }
            let waiting: Vec<u64> = links
                .iter()
                .flat_map(|&(a, b)| [a, b])
                .filter(|id| self.armed(*id, Timer::FinalizeWait))
                .collect();
            if waiting.is_empty() {
                return;
            }
            for id in waiting {
                if self.armed(id, Timer::FinalizeWait) {
                    self.fire(id, Timer::FinalizeWait);
                }
            }
        }
        panic!("election did not settle");
    }

    /// As the core test's `pump`: every packet on `links`, every write of `ids`, until quiet.
    fn pump(&mut self, links: &[(u64, u64)], ids: &[u64]) {
        for _ in 0..200 {
            let mut moved = false;
            for &(a, b) in links {
                moved |= self.deliver(a, b).is_some();
            }
            for id in ids {
                moved |= self.flush(*id);
            }
            if !moved {
                return;
            }
        }
        panic!("pump did not settle");
    }

    /// Delivers `from → to` up to a FOLLOWING/LEADING notification naming `leader`; every
    /// packet before it must be an election packet.
    fn deliver_decided_vote(&mut self, from: u64, to: u64, leader: u64) {
        for _ in 0..20 {
            let msg = self
                .deliver(from, to)
                .unwrap_or_else(|| panic!("no decided vote for {leader} on {from}->{to}"));
            match msg {
                PeerMsg::Notification { state, vote, .. }
                    if state != PeerState::Looking && vote.sid.0 == leader =>
                {
                    return
                }
                m => assert!(m.is_election(), "{from}->{to}: {m:?} before the vote"),
            }
        }
        panic!("no decided vote for {leader} on {from}->{to}");
    }
}

fn links_among(ids: &[u64], except: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &a in ids {
        for &b in ids {
            if a != b && !except.contains(&(a, b)) {
                out.push((a, b));
            }
        }
    }
    out
}

/// The loud-link schedule of `tests/protocol_ackepoch.rs` (`silent = false`): three link breaks,
/// both ends told each time. Returns the world after 1's ACKEPOCH -1 reached 5.
fn schedule(bug: Option<Bug>) -> Walk {
    let mut w = Walk::new(bug);

    // 1. {1, 2, 5} elect 5; 5 fixes epoch 1 from 1's and 2's FOLLOWERINFO.
    w.elect(&links_among(&[1, 2, 5], &[]));
    assert_eq!(w.leaders(), vec![5]);
    assert_eq!(w.state_of(1), PeerState::Following);
    assert_eq!(w.state_of(2), PeerState::Following);
    for l in [1, 2] {
        while let Some(m) = w.deliver(l, 5) {
            if matches!(m, PeerMsg::FollowerInfo { .. }) {
                break;
            }
        }
    }
    assert_eq!(w.node(5).leading().and_then(|l| l.epoch), Some(Epoch(1)));
    assert!(w
        .queued(5, 1)
        .iter()
        .any(|m| matches!(m, PeerMsg::LeaderInfo { .. })));
    w.flush(5);
    // 3's LOOKING notifications reach 1 and 2; they answer FOLLOWING 5 (left on 1→3, 2→3).
    for l in [1, 2] {
        while w.front(3, l).is_some() {
            w.deliver(3, l);
        }
    }
    // 5 loses 1 before LEADERINFO arrives; 1's new round reaches 2, which answers FOLLOWING 5
    // (left on 2→1); then 5 loses 2.
    w.break_link(1, 5);
    assert_eq!(w.state_of(1), PeerState::Looking);
    while w.front(1, 2).is_some() {
        w.deliver(1, 2);
    }
    assert!(w.queued(2, 1).iter().any(|m| matches!(
        m,
        PeerMsg::Notification { state: PeerState::Following, vote, .. } if vote.sid.0 == 5
    )));
    w.break_link(2, 5);
    assert_eq!(w.state_of(2), PeerState::Looking);
    assert_eq!(w.state_of(5), PeerState::Leading);
    assert_eq!(w.node(5).accepted_epoch(), Epoch(1));
    assert_eq!(w.node(1).accepted_epoch(), Epoch(0));
    assert_eq!(w.node(2).accepted_epoch(), Epoch(0));

    // 2. {1, 2, 4} elect 4 (3 votes for 4 but reads only 4); 4 establishes epoch 1.
    let stale = [(2, 1), (1, 3), (2, 3)];
    let mut e2 = links_among(&[1, 2, 4], &stale);
    e2.extend([(4, 3), (3, 1), (3, 2), (3, 4)]);
    w.elect(&e2);
    assert_eq!(w.leaders(), vec![4, 5]);
    assert_eq!(w.state_of(1), PeerState::Following);
    assert_eq!(w.state_of(2), PeerState::Following);
    assert_eq!(w.state_of(3), PeerState::Looking);
    w.pump(&[(1, 4), (4, 1), (2, 4), (4, 2)], &[1, 2, 4]);
    assert_eq!(
        w.node(4).leading().map(|l| l.phase),
        Some(LeaderPhase::Broadcast)
    );
    for f in [1, 2] {
        assert_eq!(w.node(f).leader().map(|s| s.0), Some(4));
        assert_eq!(
            w.node(f).learning().map(|l| l.phase),
            Some(LearnerPhase::Broadcast)
        );
    }
    assert_eq!(w.established(4), Some(Epoch(1)));
    assert_eq!(w.established(5), None);

    // 3. 3 reads the stale FOLLOWING-5 answers and 5's LEADING: it follows 5 and acks epoch 1.
    w.deliver_decided_vote(1, 3, 5);
    w.deliver_decided_vote(2, 3, 5);
    assert_eq!(w.state_of(3), PeerState::Looking);
    w.deliver(3, 5).expect("3's vote to 5");
    w.deliver_decided_vote(5, 3, 5);
    assert_eq!(w.state_of(3), PeerState::Following);
    assert_eq!(w.node(3).leader().map(|s| s.0), Some(5));
    w.pump(&[(3, 5), (5, 3)], &[3, 5]);
    assert_eq!(w.node(3).accepted_epoch(), Epoch(1));
    assert_eq!(
        w.node(5).leading().map(|l| l.ackepoch.len()),
        Some(2),
        "5 and 3"
    );
    assert_eq!(w.established(5), None);

    // 4. 1's link to 4 breaks (both told: 4, left with 2 of 5, abdicates); 1 follows 5 with
    //    acceptedEpoch 1 and answers LEADERINFO(1) with ACKEPOCH -1.
    w.break_link(1, 4);
    assert_eq!(w.leaders(), vec![5], "4 abdicated");
    assert_eq!(w.state_of(1), PeerState::Looking);
    w.deliver_decided_vote(2, 1, 5);
    w.deliver(1, 3).expect("1's vote to 3");
    w.deliver_decided_vote(3, 1, 5);
    w.deliver(1, 5).expect("1's vote to 5");
    w.deliver_decided_vote(5, 1, 5);
    assert_eq!(w.state_of(1), PeerState::Following);
    assert_eq!(w.node(1).leader().map(|s| s.0), Some(5));
    assert_eq!(w.node(1).accepted_epoch(), Epoch(1));
    w.pump(&[(1, 5), (5, 1)], &[1, 5]);
    w
}

#[test]
fn the_loud_link_schedule_is_a_behaviour_of_the_zab_model_and_the_core_holds() {
    let w = schedule(None);
    assert_eq!(w.established(5), None, "5 stays in discovery");
    let acked = &w.node(5).leading().expect("5 leads").ackepoch;
    assert!(!acked.iter().any(|s| s.0 == 1), "1's -1 not counted");
    assert!(!crate::properties::violated(&w.model, &w.state));
    assert_eq!(w.state.link_faults, 3);
}

#[test]
fn the_mutant_establishes_epoch_1_twice_in_the_zab_model() {
    let w = schedule(Some(Bug::AckEpochCountsUnknown));
    assert_eq!(w.established(5), Some(Epoch(1)));
    let v = crate::properties::explain(&w.model, "ZAB-LEADER-UNIQUE", &w.state)
        .expect("ZAB-LEADER-UNIQUE is violated");
    assert_eq!(v, "s5 and s4 both established epoch 1");
    assert_eq!(w.state.link_faults, 3);
}
