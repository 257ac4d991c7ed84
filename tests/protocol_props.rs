//! Properties of the protocol's pure parts: the vote order (FLE-ORDER), zxid arithmetic, and
//! `sync::plan_sync` against an oracle on generated ZAB histories.

use proptest::prelude::*;
use zabkeeper::protocol::sync::plan_sync;
use zabkeeper::protocol::*;

fn vote() -> impl Strategy<Value = Vote> {
    // Small ranges so that ties on each field are frequent.
    (0u32..4, 0u32..3, 0u32..4, 1u64..5).prop_map(|(e, ze, zc, s)| Vote {
        epoch: Epoch(e),
        zxid: Zxid::new(Epoch(ze), zc),
        sid: ServerId(s),
    })
}

proptest! {
    #[test]
    fn vote_order_is_a_strict_total_order(a in vote(), b in vote(), c in vote()) {
        prop_assert!(!a.beats(&a, None), "irreflexive");
        prop_assert!(!(a.beats(&b, None) && b.beats(&a, None)), "antisymmetric");
        if a.beats(&b, None) && b.beats(&c, None) {
            prop_assert!(a.beats(&c, None), "transitive");
        }
        if a != b {
            prop_assert!(a.beats(&b, None) || b.beats(&a, None), "total on distinct votes");
        }
        prop_assert_eq!(a.beats(&b, None), a > b);
    }

    #[test]
    fn vote_order_is_epoch_then_zxid_then_sid(a in vote(), b in vote()) {
        let expected = if a.epoch != b.epoch {
            a.epoch > b.epoch
        } else if a.zxid != b.zxid {
            a.zxid > b.zxid
        } else {
            a.sid > b.sid
        };
        prop_assert_eq!(a.beats(&b, None), expected);
    }

    #[test]
    fn zxid_round_trip(e in any::<u32>(), c in any::<u32>()) {
        let z = Zxid::new(Epoch(e), c);
        prop_assert_eq!(z.epoch(), Epoch(e));
        prop_assert_eq!(z.counter(), c);
        prop_assert_eq!(z.0, (u64::from(e) << 32) | u64::from(c));
        prop_assert_eq!(Zxid::epoch_start(Epoch(e)), Zxid::new(Epoch(e), 0));
    }

    #[test]
    fn zxid_next_is_monotone_and_fails_only_at_counter_max(
        e in any::<u32>(),
        c in prop_oneof![any::<u32>(), (COUNTER_MAX - 3)..=u32::MAX],
    ) {
        let z = Zxid::new(Epoch(e), c);
        match z.next() {
            Ok(n) => {
                prop_assert!(c < COUNTER_MAX);
                prop_assert!(n > z);
                prop_assert_eq!(n.epoch(), Epoch(e), "next never leaves the epoch");
                prop_assert_eq!(n.counter(), c + 1);
            }
            Err(ZxidRollover) => prop_assert!(c >= COUNTER_MAX),
        }
    }

    #[test]
    fn zxid_order_is_epoch_then_counter(a in any::<(u32, u32)>(), b in any::<(u32, u32)>()) {
        let (za, zb) = (Zxid::new(Epoch(a.0), a.1), Zxid::new(Epoch(b.0), b.1));
        prop_assert_eq!(za.cmp(&zb), a.cmp(&b));
    }
}

// ----- plan_sync against an oracle -------------------------------------------------------------

/// One server of the generated ensemble.
#[derive(Clone, Debug)]
struct Srv {
    current: u32,
    log: Vec<Zxid>,
}

impl Srv {
    fn last(&self) -> Zxid {
        self.log.last().copied().unwrap_or(Zxid::ZERO)
    }
    fn rank(&self) -> (u32, Zxid) {
        (self.current, self.last())
    }
}

/// One epoch of the generated history: which two of three servers form its quorum, how many
/// txns its leader writes, how many of them each server logs, and whether the third server
/// synced without acknowledging NEWLEADER.
#[derive(Clone, Debug)]
struct EpochStep {
    quorum: usize,
    txns: u32,
    got: [u32; 3],
    third_synced: bool,
}

fn epoch_step() -> impl Strategy<Value = EpochStep> {
    (0usize..3, 0u32..4, any::<[u32; 3]>(), any::<bool>()).prop_map(
        |(quorum, txns, got, third_synced)| EpochStep {
            quorum,
            txns,
            got,
            third_synced,
        },
    )
}

const PAIRS: [(usize, usize, usize); 3] = [(0, 1, 2), (0, 2, 1), (1, 2, 0)];

fn leader_of(servers: &[Srv], a: usize, b: usize) -> usize {
    if servers[a].rank() >= servers[b].rank() {
        a
    } else {
        b
    }
}

/// Runs the epochs as ZAB would on three servers (any two form a quorum, so quorums intersect):
/// the quorum member with the best (currentEpoch, last zxid) leads (FLE order and ZAB-AHEAD),
/// the quorum adopts its history, it writes `txns` txns of which each server logs a prefix.
fn simulate(steps: &[EpochStep]) -> Vec<Srv> {
    let mut servers = vec![
        Srv {
            current: 0,
            log: Vec::new()
        };
        3
    ];
    for (i, s) in steps.iter().enumerate() {
        let e = i as u32 + 1;
        let (a, b, third) = PAIRS[s.quorum];
        let l = leader_of(&servers, a, b);
        let leader_rank = servers[l].rank();
        let base = servers[l].log.clone();
        let new: Vec<Zxid> = (1..=s.txns).map(|c| Zxid::new(Epoch(e), c)).collect();
        let third_ok = s.third_synced && servers[third].rank() <= leader_rank;
        for m in [a, b] {
            let keep = if m == l {
                new.len()
            } else {
                s.got[m] as usize % (new.len() + 1)
            };
            servers[m].log = base.iter().chain(&new[..keep]).copied().collect();
            servers[m].current = e;
        }
        if third_ok {
            let keep = s.got[third] as usize % (new.len() + 1);
            servers[third].log = base.iter().chain(&new[..keep]).copied().collect();
        }
    }
    servers
}

fn proposals(zs: &[Zxid]) -> Vec<Proposal> {
    zs.iter()
        .map(|z| Proposal {
            zxid: *z,
            data: bytes::Bytes::from(format!("{z}")),
        })
        .collect()
}

/// Checks `plan_sync` for the leader of `last_quorum` and one learner against the oracle:
/// applying the plan yields the leader's log, and a TRUNC never cuts the common prefix. Returns
/// the plan's kind, or `None` when no sync happens (the learner is ahead: ZAB-AHEAD).
fn check_plan(
    servers: &[Srv],
    last_quorum: usize,
    learner_pick: bool,
    base_pick: usize,
) -> Result<Option<SyncKind>, String> {
    let (a, b, third) = PAIRS[last_quorum];
    let l = leader_of(servers, a, b);
    let other = if l == a { b } else { a };
    let f = if learner_pick { other } else { third };
    let (leader, learner) = (&servers[l], &servers[f]);
    if learner.rank() > leader.rank() {
        return Ok(None);
    }
    let full = proposals(&leader.log);
    let cut = base_pick % (full.len() + 1);
    let base = if cut == 0 {
        Zxid::ZERO
    } else {
        full[cut - 1].zxid
    };
    // The leader's committed (applied) zxid, somewhere at or above the base: a SNAP is based
    // there, with the rest of the log after it.
    let applied_at = cut + (base_pick / (full.len() + 1)) % (full.len() - cut + 1);
    let applied = if applied_at == 0 {
        Zxid::ZERO
    } else {
        full[applied_at - 1].zxid
    };
    let plan = plan_sync(&full[cut..], base, applied, learner.last(), None);
    let ctx = || {
        format!(
            "plan {:?} for leader {:?} learner {:?} base {base} applied {applied}",
            plan.kind, leader.log, learner.log
        )
    };

    let mine = proposals(&learner.log);
    let result: Vec<Proposal> = match plan.kind {
        SyncKind::Diff => mine
            .iter()
            .cloned()
            .chain(plan.proposals.iter().cloned())
            .collect(),
        SyncKind::Trunc { to } => {
            if to >= learner.last() {
                return Err(format!("TRUNC that cuts nothing: {}", ctx()));
            }
            mine.iter()
                .filter(|p| p.zxid <= to)
                .cloned()
                .chain(plan.proposals.iter().cloned())
                .collect()
        }
        SyncKind::Snap { base: at, .. } => {
            if at != applied {
                return Err(format!("SNAP not at the applied zxid: {}", ctx()));
            }
            full[..applied_at]
                .iter()
                .cloned()
                .chain(plan.proposals.iter().cloned())
                .collect()
        }
    };
    if result != full {
        return Err(format!(
            "result {:?}: {}",
            result.iter().map(|p| p.zxid).collect::<Vec<_>>(),
            ctx()
        ));
    }
    let common = leader
        .log
        .iter()
        .zip(&learner.log)
        .take_while(|(x, y)| x == y)
        .count();
    let common_last = if common == 0 {
        Zxid::ZERO
    } else {
        learner.log[common - 1]
    };
    if let SyncKind::Trunc { to } = plan.kind {
        if to < common_last {
            return Err(format!("TRUNC cuts common {common_last}: {}", ctx()));
        }
    }
    if plan.kind == SyncKind::Diff && plan.proposals.iter().any(|p| p.zxid <= learner.last()) {
        return Err(format!("DIFF resends what the learner has: {}", ctx()));
    }
    Ok(Some(plan.kind))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn plan_sync_brings_the_learner_to_the_leaders_log(
        steps in prop::collection::vec(epoch_step(), 0..6),
        last_quorum in 0usize..3,
        learner_pick in any::<bool>(),
        base_pick in any::<usize>(),
    ) {
        let servers = simulate(&steps);
        if let Err(e) = check_plan(&servers, last_quorum, learner_pick, base_pick) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Every two-epoch history with up to two txns per epoch, exhaustively; also shows that the
/// generator reaches every kind of plan (so the property above is not vacuous).
#[test]
fn plan_sync_exhaustive_small_histories() {
    let mut step_space = Vec::new();
    for quorum in 0..3 {
        for txns in 0..3 {
            for got in 0..27u32 {
                for third_synced in [false, true] {
                    let got = [got % 3, got / 3 % 3, got / 9];
                    step_space.push(EpochStep {
                        quorum,
                        txns,
                        got,
                        third_synced,
                    });
                }
            }
        }
    }
    let (mut diff, mut trunc, mut trunc_diff, mut snap, mut ahead) = (0, 0, 0, 0, 0);
    for s1 in &step_space {
        for s2 in &step_space {
            let servers = simulate(&[s1.clone(), s2.clone()]);
            for (q, &(a, b, third)) in PAIRS.iter().enumerate() {
                for pick in [false, true] {
                    for base_pick in [0, 2, 5, 11] {
                        match check_plan(&servers, q, pick, base_pick) {
                            Err(e) => panic!("{e}\nsteps {s1:?} {s2:?}"),
                            Ok(None) => ahead += 1,
                            Ok(Some(SyncKind::Diff)) => diff += 1,
                            Ok(Some(SyncKind::Snap { .. })) => snap += 1,
                            Ok(Some(SyncKind::Trunc { .. })) => {
                                let l = leader_of(&servers, a, b);
                                let f = if pick { a + b - l } else { third };
                                if servers[f].last() > servers[l].last() {
                                    trunc += 1;
                                } else {
                                    trunc_diff += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        diff > 0 && trunc > 0 && trunc_diff > 0 && snap > 0 && ahead > 0,
        "diff {diff} trunc {trunc} trunc+diff {trunc_diff} snap {snap} ahead {ahead}"
    );
}
