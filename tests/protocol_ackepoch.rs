//! Mutant `ackepoch-counts-unknown` (issue 8) on the real core: a schedule at 5 servers in which
//! a leader that counts an ACKEPOCH without a currentEpoch (-1) is established in the epoch
//! another live leader already established (ZAB-LEADER-UNIQUE), and the correct core is not.
//!
//! Servers 1..5, quorum 3. The schedule (every step is an explicit delivery, partition or timer):
//! 1. {1, 2, 5} elect 5 in round 1 while 3 and 4 are slow (their messages wait). 5 fixes epoch 1
//!    from the FOLLOWERINFOs of 1 and 2. Before its LEADERINFO arrives, 3's LOOKING
//!    notifications reach 1 and 2, which answer FOLLOWING 5 (these answers wait on 1→3 and
//!    2→3), and 1's new-round notification reaches 2, which answers FOLLOWING 5 (waits on 2→1).
//!    Then 5 loses its links to 1 and to 2 (LEADERINFO lost; 5 stays LEADING in discovery).
//! 2. {1, 2, 4} elect 4 in round 2 (3 helps with its LOOKING vote for 4 but reads only 4's
//!    packets). 4 fixes epoch 1 too (every acceptedEpoch is still 0) and establishes it with
//!    real ACKEPOCHs from 1 and 2.
//! 3. 3 reads the two stale FOLLOWING-5 answers and 5's LEADING notification: a quorum names 5
//!    (FLE out-of-election), 3 follows 5, accepts epoch 1 and sends a real ACKEPOCH.
//! 4. 1's link to 4 goes silent (no `PeerLost`: 4 keeps leading); 1's syncLimit fires, it
//!    reads 2's stale FOLLOWING-5 answer, 3's FOLLOWING 5 and 5's LEADING: it follows 5. It has
//!    acceptedEpoch 1 already, so it answers LEADERINFO(1) with ACKEPOCH -1.
//!    The correct core does not count it (5 stays in discovery); the mutant does, and 5 is
//!    established in epoch 1 while 4 leads epoch 1.
//!
//! At 3 servers there is no such schedule: see spec/historical-bugs.md §12.3.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};

use support::*;
use zabkeeper::protocol::*;

fn front(c: &Cluster, from: u64, to: u64) -> Option<PeerMsg> {
    c.queued(from, to).into_iter().next()
}

/// Delivers election packets on `links` (only while one is at the head of the link), firing
/// FinalizeWait on LOOKING members of `links` when nothing moves, until nothing changes.
fn elect(c: &mut Cluster, links: &[(u64, u64)]) {
    for _ in 0..200 {
        let mut moved = false;
        for &(a, b) in links {
            if front(c, a, b).is_some_and(|m| m.is_election()) {
                c.deliver(a, b);
                moved = true;
            }
        }
        if moved {
            continue;
        }
        let waiting: Vec<u64> = links
            .iter()
            .flat_map(|&(a, b)| [a, b])
            .filter(|id| c.is_up(*id) && c.armed(*id, Timer::FinalizeWait))
            .collect();
        if waiting.is_empty() {
            return;
        }
        for id in waiting {
            if c.armed(id, Timer::FinalizeWait) {
                c.fire(id, Timer::FinalizeWait);
            }
        }
    }
    panic!("election did not settle\n{}", c.trace_tail(40));
}

/// Delivers every packet on `links` and flushes the disks of `ids`, until nothing changes.
fn pump(c: &mut Cluster, links: &[(u64, u64)], ids: &[u64]) {
    for _ in 0..200 {
        let mut moved = false;
        for &(a, b) in links {
            moved |= c.deliver(a, b).is_some();
        }
        for id in ids {
            moved |= c.flush(*id);
        }
        if !moved {
            return;
        }
    }
    panic!("pump did not settle\n{}", c.trace_tail(40));
}

/// Delivers from `from` to `to` until a FOLLOWING/LEADING notification naming `leader` has been
/// delivered; every packet before it must be an election packet.
fn deliver_decided_vote(c: &mut Cluster, from: u64, to: u64, leader: u64) {
    for _ in 0..20 {
        let (msg, _) = c
            .deliver(from, to)
            .unwrap_or_else(|| panic!("no decided vote for {leader} on {from}->{to}"));
        match msg {
            PeerMsg::Notification { state, vote, .. }
                if state != PeerState::Looking && vote.sid == sid(leader) =>
            {
                return
            }
            m => assert!(m.is_election(), "{from}->{to}: {m:?} before the vote"),
        }
    }
    panic!("no decided vote for {leader} on {from}->{to}");
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

fn established(c: &Cluster, id: u64) -> Option<Epoch> {
    c.node(id).established_epoch()
}

/// Runs the schedule with `bug` on every server. Returns the cluster after 1's ACKEPOCH -1
/// reached 5 (the harness panics on the step that breaks an invariant). With `silent`, 1's link
/// to 4 goes silent in step 4; without, it breaks and both ends are told (4 then abdicates: it
/// is left with 2 of 5 synced).
fn schedule(bug: Option<Bug>, silent: bool) -> Cluster {
    let ids = [1, 2, 3, 4, 5];
    let mut c = Cluster::new(&ids, &[]);
    for id in ids {
        c.configure(id, |cfg| cfg.bug = bug);
    }
    for id in ids {
        c.start(id);
    }

    // 1. {1, 2, 5} elect 5; 5 fixes epoch 1 from 1's and 2's FOLLOWERINFO.
    elect(&mut c, &links_among(&[1, 2, 5], &[]));
    assert_eq!(c.leaders(), vec![5]);
    assert_eq!(c.state(1), PeerState::Following);
    assert_eq!(c.state(2), PeerState::Following);
    for l in [1, 2] {
        while let Some(m) = front(&c, l, 5) {
            c.deliver(l, 5);
            if matches!(m, PeerMsg::FollowerInfo { .. }) {
                break;
            }
        }
    }
    assert_eq!(c.node(5).leading().and_then(|l| l.epoch), Some(Epoch(1)));
    assert!(c
        .queued(5, 1)
        .iter()
        .any(|m| matches!(m, PeerMsg::LeaderInfo { .. })));
    c.flush(5);
    // 3's LOOKING notifications reach 1 and 2; they answer FOLLOWING 5 (left on 1→3, 2→3).
    for l in [1, 2] {
        while front(&c, 3, l).is_some() {
            c.deliver(3, l);
        }
    }
    // 5 loses 1 before LEADERINFO arrives; 1's new round reaches 2, which answers FOLLOWING 5
    // (left on 2→1); then 5 loses 2.
    c.partition(1, 5);
    assert_eq!(c.state(1), PeerState::Looking);
    while front(&c, 1, 2).is_some() {
        c.deliver(1, 2);
    }
    assert!(c.queued(2, 1).iter().any(|m| matches!(
        m,
        PeerMsg::Notification { state: PeerState::Following, vote, .. } if vote.sid == sid(5)
    )));
    c.partition(2, 5);
    assert_eq!(c.state(2), PeerState::Looking);
    assert_eq!(c.state(5), PeerState::Leading);
    assert_eq!(c.node(5).accepted_epoch(), Epoch(1));
    assert_eq!(c.node(1).accepted_epoch(), Epoch(0));
    assert_eq!(c.node(2).accepted_epoch(), Epoch(0));

    // 2. {1, 2, 4} elect 4 (3 votes for 4 but reads only 4); 4 establishes epoch 1.
    let stale = [(2, 1), (1, 3), (2, 3)];
    let mut e2 = links_among(&[1, 2, 4], &stale);
    e2.extend([(4, 3), (3, 1), (3, 2), (3, 4)]);
    elect(&mut c, &e2);
    assert_eq!(c.leaders(), vec![4, 5]);
    assert_eq!(c.state(1), PeerState::Following);
    assert_eq!(c.state(2), PeerState::Following);
    assert_eq!(c.state(3), PeerState::Looking);
    pump(&mut c, &[(1, 4), (4, 1), (2, 4), (4, 2)], &[1, 2, 4]);
    assert_eq!(
        c.node(4).leading().map(|l| l.phase),
        Some(LeaderPhase::Broadcast)
    );
    for f in [1, 2] {
        assert_eq!(c.node(f).leader(), Some(sid(4)));
        assert_eq!(
            c.node(f).learning().map(|l| l.phase),
            Some(LearnerPhase::Broadcast)
        );
    }
    assert_eq!(established(&c, 4), Some(Epoch(1)));
    assert_eq!(established(&c, 5), None);

    // 3. 3 reads the stale FOLLOWING-5 answers and 5's LEADING: it follows 5 and acks epoch 1.
    deliver_decided_vote(&mut c, 1, 3, 5);
    deliver_decided_vote(&mut c, 2, 3, 5);
    assert_eq!(c.state(3), PeerState::Looking);
    c.deliver(3, 5).expect("3's vote to 5");
    deliver_decided_vote(&mut c, 5, 3, 5);
    assert_eq!(c.state(3), PeerState::Following);
    assert_eq!(c.node(3).leader(), Some(sid(5)));
    pump(&mut c, &[(3, 5), (5, 3)], &[3, 5]);
    assert_eq!(c.node(3).accepted_epoch(), Epoch(1));
    assert_eq!(
        c.node(5).leading().map(|l| l.ackepoch.len()),
        Some(2),
        "5 and 3"
    );
    assert_eq!(established(&c, 5), None);

    // 4. 1's link to 4 goes silent; 1's syncLimit fires; 1 follows 5 with acceptedEpoch 1.
    c.heal(1, 5);
    c.heal(2, 5);
    if silent {
        for pair in [(sid(1), sid(4)), (sid(4), sid(1))] {
            c.silent.insert(pair);
            c.links.remove(&pair);
        }
        c.fire(1, Timer::SyncLimit);
        assert_eq!(c.leaders(), vec![4, 5], "4 was not told");
    } else {
        c.partition(1, 4);
        assert_eq!(c.leaders(), vec![5], "4 abdicated");
    }
    assert_eq!(c.state(1), PeerState::Looking);
    deliver_decided_vote(&mut c, 2, 1, 5);
    c.deliver(1, 3).expect("1's vote to 3");
    deliver_decided_vote(&mut c, 3, 1, 5);
    c.deliver(1, 5).expect("1's vote to 5");
    deliver_decided_vote(&mut c, 5, 1, 5);
    assert_eq!(c.state(1), PeerState::Following);
    assert_eq!(c.node(1).leader(), Some(sid(5)));
    assert_eq!(c.node(1).accepted_epoch(), Epoch(1));
    // FOLLOWERINFO(1) → LEADERINFO(1) → ACKEPOCH -1.
    pump(&mut c, &[(1, 5), (5, 1)], &[1, 5]);
    c
}

#[test]
fn ackepoch_without_current_epoch_is_not_counted() {
    let c = schedule(None, true);
    let acked = c.node(5).leading().expect("5 leads").ackepoch.clone();
    assert!(!acked.contains(&sid(1)), "1's -1 not counted: {acked:?}");
    assert_eq!(established(&c, 5), None, "5 stays in discovery");
    assert_eq!(established(&c, 4), Some(Epoch(1)));
    assert!(c.trace.iter().any(|s| s.node == sid(5)
        && matches!(
            s.input,
            Input::Peer {
                from: ServerId(1),
                msg: PeerMsg::AckEpoch {
                    current_epoch: None,
                    ..
                }
            }
        )));
}

#[test]
fn mutant_ackepoch_counts_unknown_establishes_two_leaders() {
    let caught = catch_unwind(AssertUnwindSafe(|| {
        schedule(Some(Bug::AckEpochCountsUnknown), true);
    }));
    let panic = caught.expect_err("the mutant must break an invariant");
    let msg = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.starts_with("ZAB-LEADER-UNIQUE: s4 and s5 both lead epoch 1"),
        "{msg}"
    );
}

/// The same schedule with a link break the ends notice: 4 abdicates before 5 is established, so
/// no instant has two leaders (the harness's check passes), but epoch 1 is established twice —
/// what the models' history-wide ZAB-LEADER-UNIQUE (ghost state) would report.
#[test]
fn mutant_establishes_an_epoch_twice_with_loud_link_faults() {
    let c = schedule(Some(Bug::AckEpochCountsUnknown), false);
    assert_eq!(established(&c, 5), Some(Epoch(1)));
    assert_eq!(c.state(4), PeerState::Looking);
    let c = schedule(None, false);
    assert_eq!(established(&c, 5), None);
}
