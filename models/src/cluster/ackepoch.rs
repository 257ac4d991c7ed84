//! `ackepoch-counts-unknown` (issue 8) as a recorded schedule of model actions: the loud-link
//! schedule of `tests/protocol_ackepoch.rs`, step by step, in the `zab` model's world at 5
//! servers. The CI profile replays it (`profile::SCHEDULES`, `schedule.rs`): every step must be
//! an action the model enables in that state (`ClusterModel::actions`) and every state must be
//! inside the bounds, so the schedule is a behaviour of
//! `zab --servers 5 --txns 0 --crashes 0 --link-faults 3 --max-round 3`, and every `always`
//! property of those bounds is checked in each of its states. A replay is a regression check of
//! one known behaviour, not exploration: the search at 5 servers does not finish
//! (verification.md §5).
//!
//! [`LOUD_LINK`] is the action list that the walk in `tests` below takes, written out; the walk
//! (the core test's narrative, with its assertions about roles and epochs on the way) is kept as
//! a test that the list still equals what it takes, so a change of the world or the core that
//! moves the schedule fails here, with the walk's assertion that broke, before the replay in CI
//! reports a step that is no longer enabled.
//!
//! Finding (issue 8): the world takes every step; nothing in it differs from the harness's for
//! this schedule (one FIFO queue per ordered pair carries both election and quorum packets here,
//! and a break or `Disconnect` clears it whole, but the schedule never needs a packet that either
//! difference would lose). The schedule is 120 actions (103 deliveries, 3 link breaks, 6
//! FinalizeWait firings, 8 epoch flushes), with up to 8 packets queued on one link and 43 in
//! flight; with the mutant, its last step records ZAB-LEADER-UNIQUE ("s5 and s4 both established
//! epoch 1"), and the core as shipped ends with 5 still in discovery and no property violated.

use zabkeeper::protocol::Timer;

use super::Action;

/// The bounds the schedule is a behaviour of, as `zabkeeper-check run` flags.
pub const BOUNDS: &[&str] = &[
    "zab",
    "--servers",
    "5",
    "--txns",
    "0",
    "--crashes",
    "0",
    "--link-faults",
    "3",
    "--max-round",
    "3",
];

/// The oldest message on `from → to` (ids 1-based, as in the core test) arrives.
const fn d(from: usize, to: usize) -> Action {
    Action::Deliver {
        from: from - 1,
        to: to - 1,
    }
}

/// The link between `a < b` breaks.
const fn cut(a: usize, b: usize) -> Action {
    Action::BreakLink { a: a - 1, b: b - 1 }
}

/// `id`'s pending epoch write reaches its disk.
const fn epoch(id: usize) -> Action {
    Action::FlushEpoch { server: id - 1 }
}

/// `id`'s FLE finalize wait fires.
const fn fin(id: usize) -> Action {
    Action::Timeout {
        server: id - 1,
        timer: Timer::FinalizeWait,
    }
}

/// The loud-link schedule (`tests/protocol_ackepoch.rs`, `silent = false`), 120 actions from
/// the first initial state of [`BOUNDS`]; the comments name the phases of the walk in `tests`.
#[rustfmt::skip]
pub const LOUD_LINK: &[Action] = &[
    // 1. {1, 2, 5} elect 5; 5 fixes epoch 1 from 1's and 2's FOLLOWERINFO; 3's votes reach 1, 2
    d(1, 2), d(1, 5), d(2, 1), d(2, 5), d(5, 1), d(5, 2), d(1, 2), d(1, 5), d(2, 1), d(2, 5),
    d(1, 2), d(1, 5), fin(1), fin(2), fin(5), d(1, 5), d(2, 5), epoch(5), d(3, 1), d(3, 2),
    //    5 loses 1; 1's new round reaches 2, which answers FOLLOWING 5; 5 loses 2
    cut(1, 5), d(1, 2), cut(2, 5),
    // 2. {1, 2, 4} elect 4 (3 votes for 4 but reads only 4); 4 establishes epoch 1
    d(1, 4), d(2, 4), d(4, 1), d(4, 2), d(4, 3), d(3, 1), d(3, 2), d(3, 4), d(1, 4), d(2, 4),
    d(4, 1), d(4, 2), d(4, 3), d(3, 1), d(3, 2), d(3, 4), d(1, 4), d(2, 4), d(4, 1), d(4, 2),
    d(4, 3), d(3, 1), d(3, 2), d(3, 4), d(1, 2), d(1, 4), d(2, 4), d(4, 3), d(3, 4), d(1, 4),
    d(2, 4), d(1, 4), d(2, 4), d(1, 4), fin(1), fin(2), fin(4), d(1, 4), d(2, 4), d(4, 2),
    epoch(2), epoch(4), d(4, 1), d(2, 4), epoch(1), d(1, 4), d(4, 1), d(4, 2), epoch(4), d(4, 1),
    d(4, 2), epoch(1), epoch(2), d(1, 4), d(2, 4), d(4, 2), d(4, 1), d(4, 2), d(4, 1),
    // 3. 3 reads the stale FOLLOWING-5 answers and 5's LEADING: it follows 5 and acks epoch 1
    d(1, 3), d(1, 3), d(1, 3), d(1, 3), d(2, 3), d(2, 3), d(2, 3), d(3, 5), d(5, 3), d(5, 3),
    d(3, 5), d(5, 3), d(3, 5), d(5, 3), d(3, 5), d(5, 3), d(3, 5), d(5, 3), d(3, 5), d(5, 3),
    epoch(3), d(3, 5),
    // 4. 1's link to 4 breaks (4 abdicates); 1 follows 5, answers LEADERINFO(1) with ACKEPOCH -1
    cut(1, 4), d(2, 1), d(1, 3), d(3, 1), d(3, 1), d(3, 1), d(3, 1), d(1, 5), d(5, 1), d(1, 5), d(5, 1),
    d(1, 5), d(5, 1), d(1, 5), d(5, 1), d(1, 5),
];

#[cfg(test)]
mod tests {
    use stateright::Model;
    use zabkeeper::protocol::{Bug, Epoch, LeaderPhase, LearnerPhase, PeerMsg, PeerState, Timer};

    use super::LOUD_LINK;
    use crate::cluster::*;
    use crate::schedule::{replay, Outcome};

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
            let cfg = config(bug);
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

    /// The model of [`super::BOUNDS`], with `bug`.
    fn config(bug: Option<Bug>) -> ModelConfig {
        let line = crate::args::parse_run_line(super::BOUNDS).expect("bounds parse");
        let mut cfg = line.bounds.config().expect("bounds are valid");
        cfg.bug = bug;
        cfg
    }

    #[test]
    fn the_recorded_schedule_is_the_walk() {
        let w = schedule(None);
        assert_eq!(
            w.actions, LOUD_LINK,
            "the walk no longer takes the recorded schedule"
        );
        let m = schedule(Some(Bug::AckEpochCountsUnknown));
        assert_eq!(
            m.actions, LOUD_LINK,
            "the mutant's walk ends on the same 120 steps"
        );
    }

    #[test]
    fn the_loud_link_schedule_is_a_behaviour_of_the_zab_model_and_the_core_holds() {
        let r = replay(config(None), LOUD_LINK);
        if let Some(e) = r.error() {
            panic!("the core's replay stopped: {e}");
        }
        assert!(r.complete(), "{:?}", r.violations());
        assert_eq!(r.taken, 120);
        let node = |id: usize| r.last.servers[id - 1].node.as_ref().expect("up");
        assert_eq!(node(5).established_epoch(), None, "5 stays in discovery");
        let acked = &node(5).leading().expect("5 leads").ackepoch;
        assert!(!acked.iter().any(|s| s.0 == 1), "1's -1 not counted");
        assert_eq!(r.last.link_faults, 3);
        assert_eq!(r.summary()["complete"], true);
        assert_eq!(r.summary()["trace_steps"], serde_json::Value::Null);
    }

    #[test]
    fn the_mutant_establishes_epoch_1_twice_in_the_zab_model() {
        let r = replay(config(Some(Bug::AckEpochCountsUnknown)), LOUD_LINK);
        let Outcome::Violated { properties, path } = &r.outcome else {
            panic!("no violation: {:?}", r.error());
        };
        assert_eq!(properties, &["ZAB-LEADER-UNIQUE"]);
        assert_eq!(
            path.clone().into_actions(),
            LOUD_LINK,
            "caught at the last step"
        );
        let last = path.last_state();
        assert_eq!(
            last.servers[4]
                .node
                .as_ref()
                .and_then(|n| n.established_epoch()),
            Some(Epoch(1))
        );
        let v = crate::properties::explain(&r.model, "ZAB-LEADER-UNIQUE", last)
            .expect("ZAB-LEADER-UNIQUE is violated");
        assert_eq!(v, "s5 and s4 both established epoch 1");
        let text = crate::trace::text(&r.model, "ZAB-LEADER-UNIQUE", path);
        assert!(
            text.starts_with("Counterexample to ZAB-LEADER-UNIQUE in 120 steps."),
            "{text}"
        );
        assert!(text.ends_with("Violated ZAB-LEADER-UNIQUE: s5 and s4 both established epoch 1\n"));
        assert!(!r.complete());
        assert_eq!(r.summary()["violations"][0], "ZAB-LEADER-UNIQUE");
        assert_eq!(r.summary()["trace_steps"], 120);
    }

    #[test]
    fn a_step_that_is_not_enabled_is_an_error_not_skipped() {
        // A crash, which these bounds (--crashes 0) never enable, as step 6.
        let mut steps = LOUD_LINK.to_vec();
        steps.insert(5, Action::Crash { server: 0 });
        let r = replay(config(None), &steps);
        let Outcome::Stuck { step, reason } = &r.outcome else {
            panic!("replayed past a step that is not enabled");
        };
        assert_eq!(*step, 6);
        assert!(reason.contains("is not enabled"), "{reason}");
        assert_eq!(r.taken, 5);
        assert!(!r.complete());
        assert!(r.error().is_some_and(|e| e.starts_with("step 6: Crash")));
        assert_eq!(r.summary()["complete"], false);
    }
}
