//! REVALIDATE in the core, effect by effect (spec/zab.md §5.7): a learner asks its leader about
//! a session a client resumes there, the leader asks its runtime (`CheckSession`) and relays the
//! verdict once a quorum echoed a heartbeat round started after the check
//! (ZAB-REVALIDATE-QUORUM); a leader judges its own clients' resumes the same way, without a
//! message; a resume pending when its node leaves broadcast fails, and a LOOKING node fails one
//! at once. A leader cut off from its quorum answers no resume from its own table.

mod support;

use support::*;
use zabkeeper::protocol::*;

const SESSION: i64 = 0x19b7_6daa_6350_0007;

/// Three empty voters, settled with 3 leading epoch 1.
fn three() -> Cluster {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.start_all(&[1, 2, 3]);
    c.assert_settled(3);
    c.run_until_stable();
    c
}

fn revalidate(c: &mut Cluster, id: u64) -> Vec<Effect> {
    c.step(
        id,
        Input::Revalidate {
            session: SESSION,
            timeout_ms: 4000,
        },
    )
}

fn checked(c: &mut Cluster, leader: u64, origin: u64, valid: bool) -> Vec<Effect> {
    c.step(
        leader,
        Input::SessionChecked {
            origin: sid(origin),
            session: SESSION,
            valid,
        },
    )
}

fn check(origin: u64) -> Effect {
    Effect::CheckSession {
        origin: sid(origin),
        session: SESSION,
        timeout_ms: 4000,
    }
}

/// Cuts `id` off silently and fires its syncLimit until it gives up; every effect of those steps.
fn lose_quorum(c: &mut Cluster, id: u64) -> Vec<Effect> {
    c.isolate_silently(id);
    let mut effects = Vec::new();
    for _ in 0..3 {
        effects.extend(c.fire(id, Timer::SyncLimit));
        if c.state(id) == PeerState::Looking {
            return effects;
        }
    }
    panic!("{id} still {:?}", c.state(id));
}

fn ping(to: u64, round: u64) -> Effect {
    Effect::Send {
        to: sid(to),
        msg: PeerMsg::Ping { round },
    }
}

fn hop(c: &mut Cluster, from: u64, to: u64) -> Vec<Effect> {
    c.deliver(from, to)
        .unwrap_or_else(|| panic!("nothing queued {from} → {to}"))
        .1
}

#[test]
fn a_learner_asks_its_leader_and_answers_with_the_leaders_verdict() {
    for valid in [false, true] {
        let mut c = three();
        assert_eq!(
            revalidate(&mut c, 1),
            vec![Effect::Send {
                to: sid(3),
                msg: PeerMsg::Revalidate {
                    session: SESSION,
                    timeout_ms: 4000
                }
            }]
        );
        // A second connection resuming the same session waits for the same verdict.
        assert_eq!(revalidate(&mut c, 1), vec![]);
        // The leader asks its runtime, which checks (and touches) the session in its table.
        assert_eq!(hop(&mut c, 1, 3), vec![check(1)]);
        // The verdict waits for a heartbeat round started after the check.
        assert_eq!(checked(&mut c, 3, 1, valid), vec![ping(1, 1), ping(2, 1)]);
        hop(&mut c, 3, 2);
        assert_eq!(
            hop(&mut c, 2, 3),
            vec![Effect::Send {
                to: sid(1),
                msg: PeerMsg::RevalidateReply {
                    session: SESSION,
                    valid
                }
            }],
            "2's echo makes a quorum with the leader"
        );
        hop(&mut c, 3, 1); // 1 echoes round 1: nothing more to answer
        assert_eq!(hop(&mut c, 1, 3), vec![]);
        assert_eq!(
            hop(&mut c, 3, 1),
            vec![Effect::Revalidated {
                session: SESSION,
                valid
            }]
        );
        assert!(c.queued(1, 3).is_empty(), "asked once");
    }
}

#[test]
fn a_leader_judges_its_own_clients_resume_without_a_message() {
    let mut c = three();
    assert_eq!(revalidate(&mut c, 3), vec![check(3)]);
    assert_eq!(revalidate(&mut c, 3), vec![], "one check per session");
    assert_eq!(checked(&mut c, 3, 3, false), vec![ping(1, 1), ping(2, 1)]);
    // A second verdict for a session already judged answers nothing.
    assert_eq!(checked(&mut c, 3, 3, true), vec![]);
    // Resumed again while the verdict waits for its round: the same verdict answers it.
    assert_eq!(revalidate(&mut c, 3), vec![]);
    hop(&mut c, 3, 1);
    assert_eq!(
        hop(&mut c, 1, 3),
        vec![Effect::Revalidated {
            session: SESSION,
            valid: false
        }]
    );
    // A verdict for nothing pending answers nothing.
    assert_eq!(checked(&mut c, 3, 3, true), vec![]);
}

/// Simulation seeds 213198 and 216659 (verification.md §10): a leader deposed without knowing
/// it answers from its own session table, which may still hold a session the new leader
/// expired, or lack one it created. Cut off, it gets no echo of the round, so it answers
/// neither verdict; its resumes fail when it gives up leading.
#[test]
fn a_leader_cut_off_from_its_quorum_answers_no_resume() {
    for valid in [false, true] {
        let mut c = three();
        c.isolate_silently(3);
        assert_eq!(revalidate(&mut c, 3), vec![check(3)]);
        let effects = checked(&mut c, 3, 3, valid);
        assert!(
            !effects
                .iter()
                .any(|e| matches!(e, Effect::Revalidated { .. })),
            "{effects:?}"
        );
        // Heartbeats repeat the round; no echo comes back.
        let beat = c.fire(3, Timer::Heartbeat);
        assert!(
            !beat.iter().any(|e| matches!(e, Effect::Revalidated { .. })),
            "{beat:?}"
        );
        let left = lose_quorum(&mut c, 3);
        assert!(
            left.contains(&Effect::RevalidateFailed { session: SESSION }),
            "{left:?}"
        );
        assert!(
            !left.iter().any(|e| matches!(e, Effect::Revalidated { .. })),
            "{left:?}"
        );
    }
}

/// A learner's verdict waits for the round like the leader's own; the learner's link breaking
/// meanwhile drops it.
#[test]
fn a_verdict_waiting_for_its_round_is_dropped_when_its_learner_leaves() {
    let mut c = three();
    revalidate(&mut c, 1);
    assert_eq!(hop(&mut c, 1, 3), vec![check(1)]);
    assert_eq!(checked(&mut c, 3, 1, true), vec![ping(1, 1), ping(2, 1)]);
    c.step(3, Input::PeerLost(sid(1)));
    hop(&mut c, 3, 2);
    assert_eq!(hop(&mut c, 2, 3), vec![], "no reply to a learner that left");
    assert!(c.node(3).leading().unwrap().verdicts.is_empty());
}

#[test]
fn a_resume_pending_when_the_learner_leaves_broadcast_fails() {
    let mut c = three();
    revalidate(&mut c, 1);
    // Follower 1 loses its leader (syncLimit) before the verdict arrives.
    let left = lose_quorum(&mut c, 1);
    assert!(
        left.contains(&Effect::RevalidateFailed { session: SESSION }),
        "{left:?}"
    );
    assert_eq!(c.state(1), PeerState::Looking);
    // LOOKING: refused at once, nothing sent.
    assert_eq!(
        revalidate(&mut c, 1),
        vec![Effect::RevalidateFailed { session: SESSION }]
    );
}

#[test]
fn a_leader_that_steps_down_fails_its_own_pending_resumes() {
    let mut c = three();
    assert_eq!(revalidate(&mut c, 3), vec![check(3)]);
    let left = lose_quorum(&mut c, 3);
    assert!(
        left.contains(&Effect::RevalidateFailed { session: SESSION }),
        "{left:?}"
    );
    // The runtime's late verdict is ignored by the LOOKING node.
    assert_eq!(checked(&mut c, 3, 3, true), vec![]);
}

#[test]
fn a_verdict_for_a_learner_that_left_is_not_sent() {
    let mut c = three();
    revalidate(&mut c, 1);
    assert_eq!(hop(&mut c, 1, 3), vec![check(1)]);
    // Learner 1's link breaks: the leader drops it from its table.
    c.step(3, Input::PeerLost(sid(1)));
    assert!(!c.node(3).leading().unwrap().learners.contains_key(&sid(1)));
    assert_eq!(checked(&mut c, 3, 1, true), vec![]);
}
