//! Randomized (proptest-driven, hence reproducible) runs of the whole cluster: arbitrary
//! interleavings of deliveries, disk completions, timer firings, crashes, restarts, partitions
//! and writes. The harness checks `check_local` / `check_cluster` after every step; on top, a
//! ghost record of every txn ever applied anywhere checks agreement (one txn per zxid, across
//! time and crashes) and ZAB-COMPLETE (an established leader of epoch e holds every txn
//! committed in an earlier epoch).

mod support;

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use support::*;
use zabkeeper::protocol::*;

#[derive(Clone, Debug)]
enum Act {
    Deliver(u64, u64),
    DeliverAll,
    Flush(u64),
    FlushLog(u64),
    FlushEpoch(u64),
    Fire(u64, Timer),
    Crash(u64),
    Restart(u64),
    Write(u64),
    Partition(u64, u64),
    HealAll,
    Stable,
}

/// Cases per simulation property: 300, or `ZK_SIM_CASES` for a longer search.
fn sim_cases() -> u32 {
    std::env::var("ZK_SIM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn act(servers: u64) -> impl Strategy<Value = Act> {
    let id = 1u64..servers + 1;
    let timer = prop_oneof![
        Just(Timer::Notify),
        Just(Timer::FinalizeWait),
        Just(Timer::InitLimit),
        Just(Timer::SyncLimit),
        Just(Timer::Heartbeat),
    ];
    prop_oneof![
        30 => (id.clone(), id.clone()).prop_map(|(a, b)| Act::Deliver(a, b)),
        6 => Just(Act::DeliverAll),
        6 => id.clone().prop_map(Act::Flush),
        6 => id.clone().prop_map(Act::FlushLog),
        6 => id.clone().prop_map(Act::FlushEpoch),
        8 => (id.clone(), timer).prop_map(|(a, t)| Act::Fire(a, t)),
        2 => id.clone().prop_map(Act::Crash),
        4 => id.clone().prop_map(Act::Restart),
        10 => id.clone().prop_map(Act::Write),
        1 => (id.clone(), id).prop_map(|(a, b)| Act::Partition(a, b)),
        2 => Just(Act::HealAll),
        3 => Just(Act::Stable),
    ]
}

/// Every txn applied anywhere, by zxid.
type Ghost = BTreeMap<Zxid, Bytes>;

fn check_ghost(c: &Cluster, ghost: &mut Ghost) -> Result<(), String> {
    for (id, s) in &c.servers {
        let Some(n) = &s.node else { continue };
        for p in n.committed_log() {
            match ghost.get(&p.zxid) {
                Some(d) if *d != p.data => {
                    return Err(format!(
                        "{id} applied {} as {:?}, elsewhere {:?}",
                        p.zxid, p.data, d
                    ))
                }
                Some(_) => {}
                None => {
                    ghost.insert(p.zxid, p.data.clone());
                }
            }
        }
    }
    for (id, s) in &c.servers {
        let Some(n) = &s.node else { continue };
        let Some(l) = n.leading() else { continue };
        let (Some(epoch), LeaderPhase::Broadcast) = (l.epoch, l.phase) else {
            continue;
        };
        for z in ghost.keys().filter(|z| z.epoch() < epoch) {
            if *z > n.log_base() && !n.log().iter().any(|p| p.zxid == *z) {
                return Err(format!(
                    "ZAB-COMPLETE: {id} leads epoch {epoch} without committed {z}"
                ));
            }
        }
    }
    // ZAB-DURABLE-QUORUM: a committed txn is on the disks of a quorum of voters, so no set of
    // crashes that leaves a quorum can lose it.
    let voters: Vec<&Server> = c
        .servers
        .values()
        .filter(|s| !s.config.is_observer())
        .collect();
    for (z, data) in ghost.iter() {
        let holders = voters
            .iter()
            .filter(|s| {
                s.disk.log_base >= *z || s.disk.log.iter().any(|p| p.zxid == *z && p.data == *data)
            })
            .count();
        if 2 * holders <= voters.len() {
            return Err(format!(
                "committed {z} is durable on only {holders} of {} voters",
                voters.len()
            ));
        }
    }
    Ok(())
}

fn run(acts: &[Act], voters: &[u64], observers: &[u64]) -> Result<Cluster, String> {
    let all: Vec<u64> = voters.iter().chain(observers).copied().collect();
    let mut c = Cluster::new(voters, observers);
    if let Ok(name) = std::env::var("ZK_SIM_BUG") {
        for id in &all {
            c.configure(*id, |cfg| cfg.bug = Bug::from_name(&name));
        }
    }
    c.start_all(&all);
    let mut ghost = Ghost::new();
    let mut writes = 0u32;
    for a in acts {
        match a.clone() {
            Act::Deliver(x, y) => {
                c.deliver(x, y);
            }
            Act::DeliverAll => {
                c.deliver_all_bounded(50);
            }
            Act::Flush(x) if c.is_up(x) => {
                c.flush(x);
            }
            Act::FlushLog(x) if c.is_up(x) => {
                c.flush_log(x);
            }
            Act::FlushEpoch(x) if c.is_up(x) => {
                c.flush_epoch(x);
            }
            Act::Fire(x, t) if c.is_up(x) && c.armed(x, t) => {
                c.fire(x, t);
            }
            Act::Crash(x) if c.is_up(x) => c.crash(x),
            Act::Restart(x) if !c.is_up(x) => {
                c.restart(x);
            }
            Act::Write(x) if c.is_up(x) => {
                writes += 1;
                c.write(x, format!("w{writes}@{x}").as_bytes());
            }
            Act::Partition(x, y) if x != y => c.partition(x, y),
            Act::HealAll => c.heal_all(),
            Act::Stable => {
                // Bounded: a run that cannot settle (e.g. a partition) just stops here.
                for _ in 0..20 {
                    let moved = c.deliver_all_bounded(50);
                    let flushed = c.flush_all();
                    if moved == 0 && !flushed && !c.fire_finalize() {
                        break;
                    }
                }
            }
            _ => {}
        }
        check_ghost(&c, &mut ghost).map_err(|e| format!("{e}\n{}", c.trace_tail(40)))?;
    }
    // Liveness sanity: once everything is healed and up, the cluster settles on one leader
    // whose log every follower ends with.
    c.heal_all();
    for &id in &all {
        if !c.is_up(id) {
            c.restart(id);
        }
    }
    c.settle();
    let leaders = c.leaders();
    if leaders.len() != 1 {
        return Err(format!(
            "leaders after settling: {leaders:?}\n{}",
            c.trace_tail(40)
        ));
    }
    c.write(leaders[0], b"final");
    c.run_until_stable();
    check_ghost(&c, &mut ghost)?;
    let want = c.log_zxids(leaders[0]);
    let leader_base = c.node(leaders[0]).log_base();
    for &id in &all {
        // A node synced by SNAP holds the history up to its log base in its snapshot: the logs
        // are compared above both bases, and a learner's base must be in the leader's history.
        let base = c.node(id).log_base();
        let base_known = base <= leader_base || want.contains(&base);
        let floor = base.max(leader_base);
        let above = |log: Vec<Zxid>| log.into_iter().filter(|z| *z > floor).collect::<Vec<_>>();
        if !base_known
            || above(c.log_zxids(id)) != above(want.clone())
            || c.node(id).committed_zxid() != *want.last().expect("final")
        {
            return Err(format!("{id} did not converge\n{}", c.trace_tail(40)));
        }
    }
    Ok(c)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: sim_cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_runs_keep_zab_safe_and_settle(acts in prop::collection::vec(act(3), 1..120)) {
        if let Err(e) = run(&acts, &[1, 2, 3], &[]) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn random_runs_with_five_voters(acts in prop::collection::vec(act(5), 1..160)) {
        if let Err(e) = run(&acts, &[1, 2, 3, 4, 5], &[]) {
            prop_assert!(false, "{}", e);
        }
    }

    /// Found `protocol_broadcast::observer_synced_during_an_outstanding_proposal_does_not_get_it_twice`.
    #[test]
        fn random_runs_with_four_voters_and_an_observer(acts in prop::collection::vec(act(5), 1..160)) {
        if let Err(e) = run(&acts, &[1, 2, 3, 4], &[5]) {
            prop_assert!(false, "{}", e);
        }
    }
}
