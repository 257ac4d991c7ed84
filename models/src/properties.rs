//! The properties, by spec ID (spec/invariants.md). `Always` properties must hold in every
//! reachable state; `Sometimes` properties show that progress is reachable, so a passing check is
//! not vacuous.
//!
//! Each `always` property is a function that returns `None` when it holds and otherwise says in
//! words what is wrong in this state (`Some("s2's disk [1:1, 2:1] lacks committed 1:2")`); the
//! trace prints that as the last line of a counterexample. History-wide properties (a value never
//! decreases, two leaders of one epoch at different times, a committed history that changes) are
//! recorded by `ClusterModel::observe` into `Ghost::violations` during the transition that breaks
//! them; the property then reads the record.
//!
//! Stateright keeps, per property, the path of the *last* violating state it checks; so that a
//! counterexample is the first one found (breadth-first: a shortest one), each `always`
//! property reports only the first state that violates it in a run
//! (`ClusterModel::first_violation`), and the model expands no violating state (`violated`).
//!
//! The properties are oracles independent of the code under test: they read the model's state
//! (disks, logs, roles, ghost history) and compute quorums and the vote order themselves, never
//! with the core's `QuorumVerifier`, `Vote` order or `invariants` helpers. The one exception is
//! `CORE-CLUSTER`, which runs the core's own cross-node check (`invariants::check_cluster`) over
//! the live nodes of every state, beside the oracles that check the same rules over the whole
//! history (ZAB-LEADER-UNIQUE, ZAB-PREFIX), never instead of them; like the core's local
//! asserts it is off in a `no-local-asserts` build, so that what that build catches is caught
//! by the independent oracles.

use stateright::Property;
use zabkeeper::protocol::invariants::check_cluster;
use zabkeeper::protocol::{
    LeaderPhase, LearnerPhase, Node, PeerState, Proposal, Vote, Zxid, LOCAL_ASSERTS,
};

use crate::cluster::{rejoined, ClusterModel, ClusterState, ModelConfig, ModelKind};

/// One property's name, kind and one-line meaning (for `zabkeeper-check list`).
pub struct PropertyInfo {
    /// Spec ID.
    pub name: &'static str,
    /// "always" or "sometimes".
    pub expectation: &'static str,
    /// Meaning.
    pub meaning: &'static str,
}

/// What an `always` property says about a state: `None` if it holds, else what is wrong.
type Explain = fn(&ClusterModel, &ClusterState) -> Option<String>;

macro_rules! catalogue {
    (
        $( always $aname:literal, $af:ident, $ameaning:literal; )*
        $( sometimes $sname:literal, $sf:ident, $smeaning:literal; )*
    ) => {
        fn all() -> Vec<(PropertyInfo, Property<ClusterModel>)> {
            vec![
                $( (
                    PropertyInfo { name: $aname, expectation: "always", meaning: $ameaning },
                    Property::always($aname, |m: &ClusterModel, s: &ClusterState| {
                        $af(m, s).is_none() || !m.first_violation($aname)
                    }),
                ), )*
                $( (
                    PropertyInfo { name: $sname, expectation: "sometimes", meaning: $smeaning },
                    Property::sometimes($sname, $sf),
                ), )*
            ]
        }

        /// Every `always` property with its explanation.
        const ALWAYS: &[(&str, Explain)] = &[$( ($aname, $af as Explain), )*];
    };
}

catalogue! {
    always "NO-PANIC", no_panic, "no panic in a step of the world: no production assertion fired in Node::step, and nothing else in the step panicked";
    always "CORE-CLUSTER", core_cluster, "the core's own cross-node check (invariants::check_cluster) holds over the live nodes: one established leader per epoch, committed logs that agree above both log bases";
    always "FLE-VOTE-MONO", fle_vote_mono, "a LOOKING server's proposal never decreases within a round";
    always "FLE-UPTODATE", fle_uptodate, "a leader leads on its own (currentEpoch, last zxid, sid), and that vote is at least as strong, in (epoch, zxid, sid) order, as the own durable vote of a majority of voters";
    always "ZAB-LEADER-UNIQUE", leader_unique, "at most one server establishes each epoch";
    always "ZAB-PREFIX", prefix_agreement, "committed sequences agree (ZAB Agreement + Total order), also over time";
    always "ZAB-INTEGRITY", integrity, "every committed txn was proposed by a leader with that content";
    always "ZAB-LOCAL-PRIMARY-ORDER", local_primary_order, "within an epoch, txns commit in the order its leader proposed them";
    always "ZAB-GLOBAL-PRIMARY-ORDER", global_primary_order, "committed txns of an older epoch come before those of a newer one";
    always "ZAB-PRIMARY-INTEGRITY", primary_integrity, "a leader committed every older-epoch txn anyone commits before it proposed";
    always "ZAB-COMPLETE", leader_complete, "a leader, once established for epoch e, holds every txn committed in an epoch before e";
    always "ZAB-DURABLE", committed_durable, "a server's disk keeps every txn it committed (TRUNC never cuts one)";
    always "ZAB-COMMIT-QUORUM-DURABLE", commit_quorum_durable, "every committed txn is on the disks of a majority of voters";
    always "ZAB-SNAP", snap_consistent, "a snapshot a SNAP installs holds exactly the leader's history up to its base, and extends what the learner had applied";
    always "ZAB-HISTORY", history_consistent, "a synced follower's log holds its leader's whole initial history and is a prefix of the leader's log";
    always "ZAB-SYNC-LINEARIZABLE", sync_linearizable, "a client sync answered at s with read index z: z is at or above every txn committed anywhere before the sync was issued, and once s has applied z it has applied every such txn";
    always "ZAB-MONO", monotonic, "logs strictly increase; durable epochs and commit watermark never decrease; committed never decreases in a life";
    sometimes "leader elected", leader_elected, "some server leads (zab: serves writes)";
    sometimes "all decided", all_decided, "every server has decided on the same leader";
    sometimes "txn committed on all servers", committed_everywhere, "a client txn is committed on every server";
    sometimes "restarted server rejoins", restarted_rejoins, "a server that crashed serves again";
}

/// The properties of a model with these bounds: a `sometimes` property the bounds cannot reach
/// (a restart without crashes, a txn without writes) is left out rather than reported missing.
pub fn for_config(cfg: &ModelConfig) -> Vec<Property<ClusterModel>> {
    all()
        .into_iter()
        .filter(|(info, _)| applies(cfg.kind, info.name))
        .filter(|(info, _)| match info.name {
            "CORE-CLUSTER" => LOCAL_ASSERTS,
            "restarted server rejoins" => cfg.crashes > 0,
            "txn committed on all servers" => cfg.txns > 0,
            _ => true,
        })
        .map(|(_, p)| p)
        .collect()
}

/// Names, kinds and meanings of a model's properties.
pub fn describe(kind: ModelKind) -> Vec<PropertyInfo> {
    all()
        .into_iter()
        .filter(|(info, _)| applies(kind, info.name))
        .map(|(i, _)| i)
        .collect()
}

/// What is wrong with `state` according to the `always` property `name` (`None`: it holds, or
/// `name` is not an `always` property).
pub fn explain(model: &ClusterModel, name: &str, state: &ClusterState) -> Option<String> {
    ALWAYS
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, f)| f(model, state))
}

/// Does `state` violate any `always` property of the model? The model stops expanding such a
/// state: every successor would violate it too (history-wide records persist), and Stateright
/// keeps the last violating path it visits, so expanding them would lengthen the trace past the
/// step that broke the property.
pub fn violated(model: &ClusterModel, state: &ClusterState) -> bool {
    ALWAYS.iter().any(|(name, f)| {
        applies(model.cfg.kind, name)
            && (LOCAL_ASSERTS || *name != "CORE-CLUSTER")
            && f(model, state).is_some()
    })
}

fn applies(kind: ModelKind, name: &str) -> bool {
    match kind {
        ModelKind::Election => {
            matches!(
                name,
                "NO-PANIC"
                    | "CORE-CLUSTER"
                    | "FLE-VOTE-MONO"
                    | "FLE-UPTODATE"
                    | "leader elected"
                    | "all decided"
            )
        }
        ModelKind::Zab | ModelKind::Sync => !name.starts_with("FLE-") && name != "all decided",
    }
}

fn recorded(s: &ClusterState, id: &str) -> Option<String> {
    s.ghost.violations.get(id).cloned()
}

/// `s2` for server index 1.
fn sname(i: usize) -> String {
    format!("s{}", i + 1)
}

/// `[1:1, 2:1]`.
fn zxids(ps: &[Proposal]) -> String {
    let v: Vec<String> = ps.iter().map(|p| p.zxid.to_string()).collect();
    format!("[{}]", v.join(", "))
}

/// More than half of `voters` (the majority rule, written out: no core helper).
fn majority(count: usize, voters: usize) -> bool {
    2 * count > voters
}

fn no_panic(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    let node = s.servers.iter().enumerate().find_map(|(i, x)| {
        x.panic
            .as_ref()
            .map(|p| format!("{} panicked in Node::step: {p}", sname(i)))
    });
    node.or_else(|| recorded(s, "NO-PANIC"))
}

fn core_cluster(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    let live: Vec<&Node> = s.servers.iter().filter_map(|x| x.node.as_ref()).collect();
    check_cluster(&live).err().map(|v| v.to_string())
}

fn fle_vote_mono(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    recorded(s, "FLE-VOTE-MONO")
}

/// A vote as the raw triple FLE orders lexicographically: (epoch, zxid, sid), larger wins.
type RawVote = (u32, u64, u64);

fn raw(v: &Vote) -> RawVote {
    (v.epoch.0, v.zxid.0, v.sid.0)
}

/// `(epoch 2, zxid 1:1, s3)`.
fn show(v: RawVote) -> String {
    format!("(epoch {}, zxid {}, s{})", v.0, Zxid(v.1), v.2)
}

fn fle_uptodate(m: &ClusterModel, s: &ClusterState) -> Option<String> {
    // A server's own vote is what its disk says, (currentEpoch, last zxid, id). Checked while the
    // leader is in discovery: once it establishes an epoch its currentEpoch moves past the vote.
    // Only voters vote (the first `cfg.servers` servers; observers come after them).
    let own: Vec<RawVote> = s.servers[..m.cfg.servers]
        .iter()
        .enumerate()
        .map(|(i, x)| (x.disk.current_epoch.0, x.disk.last_zxid().0, i as u64 + 1))
        .collect();
    s.servers[..own.len()]
        .iter()
        .enumerate()
        .find_map(|(i, server)| {
            let l = server.node.as_ref().and_then(|n| n.leading())?;
            (l.phase == LeaderPhase::Discovery)
                .then(|| uptodate_verdict(i, raw(&l.vote), &own))
                .flatten()
        })
}

/// FLE-UPTODATE's oracle: server `leader` leads on `vote`; `own[j]` is voter j's own durable
/// vote. The leader's vote must be its own, and a majority's own votes
/// must be no stronger in the lexicographic order of the raw triples (epoch, zxid, sid).
fn uptodate_verdict(leader: usize, vote: RawVote, own: &[RawVote]) -> Option<String> {
    if vote != own[leader] {
        return Some(format!(
            "{} leads on vote {}, but its own durable vote is {}",
            sname(leader),
            show(vote),
            show(own[leader])
        ));
    }
    let weaker: Vec<String> = (0..own.len())
        .filter(|j| own[*j] <= vote)
        .map(sname)
        .collect();
    if majority(weaker.len(), own.len()) {
        return None;
    }
    let stronger: Vec<String> = (0..own.len())
        .filter(|j| own[*j] > vote)
        .map(|j| format!("{} {}", sname(j), show(own[j])))
        .collect();
    Some(format!(
        "{} leads on {} but only {weaker:?} of {} voters have an own vote no stronger (a majority needs {}); stronger: {}",
        sname(leader),
        show(vote),
        own.len(),
        own.len() / 2 + 1,
        stronger.join(", ")
    ))
}

fn leader_unique(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    if let Some(detail) = recorded(s, "ZAB-LEADER-UNIQUE") {
        return Some(detail);
    }
    let established: Vec<(usize, _)> = s
        .servers
        .iter()
        .enumerate()
        .filter_map(|(i, x)| {
            x.node
                .as_ref()
                .and_then(|n| n.established_epoch())
                .map(|e| (i, e))
        })
        .collect();
    for (k, (i, e)) in established.iter().enumerate() {
        if let Some((j, _)) = established[k + 1..].iter().find(|(_, f)| f == e) {
            return Some(format!(
                "{} and {} both lead epoch {e}",
                sname(*i),
                sname(*j)
            ));
        }
    }
    None
}

/// The first index where `a` and `b` differ, if neither is a prefix of the other.
fn divergence(a: &[Proposal], b: &[Proposal]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

fn prefix_agreement(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    if let Some(detail) = recorded(s, "ZAB-PREFIX") {
        return Some(detail);
    }
    let c = &s.ghost.committed;
    for i in 0..c.len() {
        for j in i + 1..c.len() {
            if let Some(k) = divergence(&c[i], &c[j]) {
                return Some(format!(
                    "{} committed {} and {} committed {}: they differ at position {}",
                    sname(i),
                    zxids(&c[i]),
                    sname(j),
                    zxids(&c[j]),
                    k + 1
                ));
            }
        }
    }
    None
}

fn integrity(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    for (i, seq) in s.ghost.committed.iter().enumerate() {
        for p in seq {
            let proposed = s.ghost.proposed.get(&p.zxid.epoch());
            if !proposed.is_some_and(|ps| ps.contains(p)) {
                return Some(format!(
                    "{} committed {} with data {:?}, which no leader of epoch {} proposed",
                    sname(i),
                    p.zxid,
                    p.data.as_ref(),
                    p.zxid.epoch()
                ));
            }
        }
    }
    None
}

fn local_primary_order(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    for (i, seq) in s.ghost.committed.iter().enumerate() {
        for (epoch, proposed) in &s.ghost.proposed {
            let mine: Vec<Proposal> = seq
                .iter()
                .filter(|p| p.zxid.epoch() == *epoch)
                .cloned()
                .collect();
            if mine.len() > proposed.len() || mine.iter().zip(proposed).any(|(a, b)| a != b) {
                return Some(format!(
                    "{} committed epoch-{epoch} txns {} but its leader proposed {}",
                    sname(i),
                    zxids(&mine),
                    zxids(proposed)
                ));
            }
        }
    }
    None
}

fn global_primary_order(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    for (i, seq) in s.ghost.committed.iter().enumerate() {
        if let Some(w) = seq.windows(2).find(|w| w[0].zxid >= w[1].zxid) {
            return Some(format!(
                "{} committed {} before {}",
                sname(i),
                w[0].zxid,
                w[1].zxid
            ));
        }
    }
    None
}

fn primary_integrity(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    for (epoch, history) in &s.ghost.primary_history {
        for (i, seq) in s.ghost.committed.iter().enumerate() {
            if let Some(p) = seq
                .iter()
                .find(|p| p.zxid.epoch() < *epoch && !history.contains(&p.zxid))
            {
                let h: Vec<String> = history.iter().map(|z| z.to_string()).collect();
                return Some(format!(
                    "the leader of epoch {epoch} first proposed with committed history [{}], without {}, which {} committed",
                    h.join(", "),
                    p.zxid,
                    sname(i)
                ));
            }
        }
    }
    None
}

fn leader_complete(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    recorded(s, "ZAB-COMPLETE")
}

/// A disk's whole history: its snapshot's txns, then its log (`Server::disk_history`).
fn disk_histories(s: &ClusterState) -> Vec<Vec<Proposal>> {
    s.servers.iter().map(|x| x.disk_history()).collect()
}

fn committed_durable(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    for (i, (disk, seq)) in disk_histories(s).iter().zip(&s.ghost.committed).enumerate() {
        if let Some(p) = seq.iter().find(|p| !disk.contains(p)) {
            return Some(format!(
                "{}'s disk {} lacks committed {}",
                sname(i),
                zxids(disk),
                p.zxid
            ));
        }
        if let Some(k) = divergence(disk, seq) {
            return Some(format!(
                "{}'s disk {} differs from its committed {} at position {}",
                sname(i),
                zxids(disk),
                zxids(seq),
                k + 1
            ));
        }
    }
    None
}

fn commit_quorum_durable(m: &ClusterModel, s: &ClusterState) -> Option<String> {
    // The voters' disks: an observer's copy does not count toward the quorum.
    quorum_verdict(&s.ghost.committed, &disk_histories(s)[..m.cfg.servers])
}

/// ZAB-COMMIT-QUORUM-DURABLE's oracle: `committed[i]` is what server i ever committed,
/// `disks[j]` the whole history on voter j's disk (snapshot and log).
fn quorum_verdict(committed: &[Vec<Proposal>], disks: &[Vec<Proposal>]) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, seq) in committed.iter().enumerate() {
        for p in seq.iter().filter(|p| seen.insert(p.zxid)) {
            let holders: Vec<String> = disks
                .iter()
                .enumerate()
                .filter(|(_, d)| d.contains(p))
                .map(|(j, _)| sname(j))
                .collect();
            if !majority(holders.len(), disks.len()) {
                return Some(format!(
                    "{} is committed (by {}) but on the disks of only {holders:?}: {} of {} voters, a majority needs {}",
                    p.zxid,
                    sname(i),
                    holders.len(),
                    disks.len(),
                    disks.len() / 2 + 1
                ));
            }
        }
    }
    None
}

fn snap_consistent(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    recorded(s, "ZAB-SNAP")
}

fn history_consistent(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    for (i, server) in s.servers.iter().enumerate() {
        let Some(f) = &server.node else { continue };
        let Some(l) = f.learning().filter(|l| l.phase >= LearnerPhase::Syncing) else {
            continue;
        };
        let Some(epoch) = l.epoch else { continue };
        let leader = l.leader.0 as usize - 1;
        // The history the leader had when the model first saw it established for `epoch`.
        let initial = s
            .ghost
            .established
            .get(&epoch)
            .map_or(&[][..], |(_, h)| h.as_slice());
        let leader_log = s.servers[leader]
            .node
            .as_ref()
            .filter(|n| {
                n.leading()
                    .is_some_and(|x| x.phase != LeaderPhase::Discovery && x.epoch == Some(epoch))
            })
            .map(|_| s.servers[leader].node_history());
        let log = server.node_history();
        if let Some(wrong) = history_verdict(initial, &log, leader_log.as_deref()) {
            return Some(format!(
                "{} synced with {} for epoch {epoch} has log {}, {wrong}",
                sname(i),
                sname(leader),
                zxids(&log)
            ));
        }
    }
    None
}

/// ZAB-HISTORY's oracle for a learner synced for an epoch: its whole history `log` (the txns
/// under its log base, then its log) holds every entry of the leader's `initial` history (DIFF,
/// TRUNC and SNAP all end there or later) and, while that leader still leads the epoch, is a
/// prefix of the leader's whole history.
fn history_verdict(
    initial: &[Proposal],
    log: &[Proposal],
    leader_log: Option<&[Proposal]>,
) -> Option<String> {
    if let Some(p) = initial.iter().find(|p| !log.contains(p)) {
        return Some(format!(
            "which lacks {} of the leader's initial history {}",
            p.zxid,
            zxids(initial)
        ));
    }
    let leader_log = leader_log?;
    let prefix = log.len() <= leader_log.len() && log == &leader_log[..log.len()];
    (!prefix).then(|| format!("not a prefix of the leader's {}", zxids(leader_log)))
}

fn sync_linearizable(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    recorded(s, "ZAB-SYNC-LINEARIZABLE")
}

fn monotonic(_: &ClusterModel, s: &ClusterState) -> Option<String> {
    recorded(s, "ZAB-MONO")
}

fn leader_elected(m: &ClusterModel, s: &ClusterState) -> bool {
    s.nodes().any(|n| match m.cfg.kind {
        ModelKind::Election => n.state() == PeerState::Leading,
        ModelKind::Zab | ModelKind::Sync => n
            .leading()
            .is_some_and(|l| l.phase == LeaderPhase::Broadcast),
    })
}

fn all_decided(_: &ClusterModel, s: &ClusterState) -> bool {
    let leaders: Vec<_> = s.nodes().map(|n| n.leader()).collect();
    leaders.len() == s.n() && leaders.iter().all(|l| l.is_some() && *l == leaders[0])
}

fn committed_everywhere(_: &ClusterModel, s: &ClusterState) -> bool {
    s.servers.iter().all(|x| {
        x.node
            .as_ref()
            .is_some_and(|n| !n.committed_log().is_empty())
    })
}

fn restarted_rejoins(_: &ClusterModel, s: &ClusterState) -> bool {
    (0..s.n()).any(|i| rejoined(s, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use zabkeeper::protocol::Epoch;

    fn p(e: u32, c: u32) -> Proposal {
        Proposal {
            zxid: Zxid::new(Epoch(e), c),
            data: Bytes::from(vec![c as u8]),
        }
    }

    #[test]
    fn history_fails_on_a_missing_prefix_entry() {
        // A DIFF that starts one entry late leaves an empty log, which is a prefix of anything:
        // only the initial history tells that 1:1 is missing.
        let initial = [p(1, 1)];
        let v = history_verdict(&initial, &[], Some(&initial)).expect("violation");
        assert!(v.contains("lacks 1:1"), "{v}");
        let v = history_verdict(&[p(1, 1), p(1, 2)], &[p(1, 2)], None).expect("violation");
        assert!(v.contains("lacks 1:1"), "{v}");
        assert_eq!(
            history_verdict(&initial, &[p(1, 1)], Some(&[p(1, 1), p(2, 1)])),
            None
        );
        let v = history_verdict(&[], &[p(1, 1), p(1, 2)], Some(&[p(1, 1)])).expect("violation");
        assert!(v.contains("not a prefix"), "{v}");
    }

    #[test]
    fn uptodate_uses_majority_and_epoch_zxid_sid_order() {
        let own = [(1, 5, 1), (2, 0, 2), (1, 9, 3)];
        // s2's epoch 2 beats any zxid of epoch 1: all three are no stronger than its vote.
        assert_eq!(uptodate_verdict(1, (2, 0, 2), &own), None);
        // s3's (1, 9) beats s1's (1, 5) but not s2's epoch 2: 2 of 3 is still a majority.
        assert_eq!(uptodate_verdict(2, (1, 9, 3), &own), None);
        // s1 has only itself below it.
        let v = uptodate_verdict(0, (1, 5, 1), &own).expect("violation");
        assert!(
            v.starts_with("s1 leads on (epoch 1, zxid 0:5, s1) but only [\"s1\"]"),
            "{v}"
        );
        assert!(v.contains("a majority needs 2"), "{v}");
        // The sid breaks ties of (epoch, zxid).
        let tie = [(1, 5, 1), (1, 5, 2), (0, 0, 3)];
        assert_eq!(uptodate_verdict(1, (1, 5, 2), &tie), None);
        // A leader must lead on its own vote.
        let v = uptodate_verdict(0, (2, 0, 2), &own).expect("violation");
        assert!(v.contains("its own durable vote"), "{v}");
        // 4 voters: 2 is not a majority.
        let four = [(1, 1, 1), (1, 1, 2), (2, 0, 3), (2, 0, 4)];
        assert!(uptodate_verdict(1, (1, 1, 2), &four).is_some());
    }

    #[test]
    fn commit_quorum_counts_disks_not_logs() {
        let (a, b) = (vec![p(1, 1)], vec![]);
        let committed = vec![vec![p(1, 1)], vec![], vec![]];
        let v = quorum_verdict(&committed, &[a.clone(), b.clone(), b.clone()]).expect("violation");
        assert_eq!(
            v,
            "1:1 is committed (by s1) but on the disks of only [\"s1\"]: 1 of 3 voters, a majority needs 2"
        );
        assert_eq!(
            quorum_verdict(&committed, &[a.clone(), a.clone(), b.clone()]),
            None
        );
        // Same zxid, other content: not the committed txn.
        let forged = vec![Proposal {
            zxid: Zxid::new(Epoch(1), 1),
            data: Bytes::from_static(b"x"),
        }];
        assert!(quorum_verdict(&committed, &[a, forged, b]).is_some());
    }
}
