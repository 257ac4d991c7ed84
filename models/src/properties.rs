//! The properties, by spec ID (spec/invariants.md). `Always` properties must hold in every
//! reachable state; `Sometimes` properties show that progress is reachable, so a passing check is
//! not vacuous.
//!
//! History-wide properties (a value never decreases, two leaders of one epoch at different times,
//! a committed history that changes) are recorded by `ClusterModel::observe` into
//! `Ghost::violations` during the transition that breaks them; the property then reads the record.

use stateright::Property;
use zabkeeper::protocol::{
    invariants, LeaderPhase, LearnerPhase, PeerState, Proposal, Role, ServerId, Vote,
};

use crate::cluster::{rejoined, ClusterModel, ClusterState, ModelKind};

/// One property's name, kind and one-line meaning (for `zabkeeper-check list`).
pub struct PropertyInfo {
    /// Spec ID.
    pub name: &'static str,
    /// "always" or "sometimes".
    pub expectation: &'static str,
    /// Meaning.
    pub meaning: &'static str,
}

macro_rules! catalogue {
    ($( $kind:ident $name:literal, $f:ident, $meaning:literal; )*) => {
        fn all() -> Vec<(PropertyInfo, Property<ClusterModel>)> {
            vec![$( (
                PropertyInfo { name: $name, expectation: stringify!($kind), meaning: $meaning },
                Property::$kind($name, $f),
            ) ),*]
        }
    };
}

catalogue! {
    always "NO-PANIC", no_panic, "no production assertion fired inside Node::step";
    always "FLE-VOTE-MONO", fle_vote_mono, "a LOOKING server's proposal never decreases within a round";
    always "FLE-UPTODATE", fle_uptodate, "a leader leads on its own vote, which is at least as strong as the own votes of a quorum";
    always "ZAB-LEADER-UNIQUE", leader_unique, "at most one server establishes each epoch";
    always "ZAB-PREFIX", prefix_agreement, "committed sequences agree (ZAB Agreement + Total order), also over time";
    always "ZAB-INTEGRITY", integrity, "every committed txn was proposed by a leader with that content";
    always "ZAB-LOCAL-PRIMARY-ORDER", local_primary_order, "within an epoch, txns commit in the order its leader proposed them";
    always "ZAB-GLOBAL-PRIMARY-ORDER", global_primary_order, "committed txns of an older epoch come before those of a newer one";
    always "ZAB-PRIMARY-INTEGRITY", primary_integrity, "a leader committed every older-epoch txn anyone commits before it proposed";
    always "ZAB-COMPLETE", leader_complete, "a leader, once established for epoch e, holds every txn committed in an epoch before e";
    always "ZAB-DURABLE", committed_durable, "a server's disk keeps every txn it committed (TRUNC never cuts one)";
    always "ZAB-HISTORY", history_consistent, "a synced follower's log is a prefix of its leader's";
    always "ZAB-MONO", monotonic, "logs strictly increase; durable epochs and commit watermark never decrease; committed never decreases in a life";
    sometimes "leader elected", leader_elected, "some server leads (zab: serves writes)";
    sometimes "all decided", all_decided, "every server has decided on the same leader";
    sometimes "txn committed on all servers", committed_everywhere, "a client txn is committed on every server";
    sometimes "restarted server rejoins", restarted_rejoins, "a server that crashed serves again";
}

/// The properties of a model.
pub fn for_model(kind: ModelKind) -> Vec<Property<ClusterModel>> {
    all()
        .into_iter()
        .filter(|(info, _)| applies(kind, info.name))
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

fn applies(kind: ModelKind, name: &str) -> bool {
    match kind {
        ModelKind::Election => {
            matches!(
                name,
                "NO-PANIC" | "FLE-VOTE-MONO" | "FLE-UPTODATE" | "leader elected" | "all decided"
            )
        }
        ModelKind::Zab | ModelKind::Sync => !name.starts_with("FLE-") && name != "all decided",
    }
}

fn recorded(s: &ClusterState, id: &str) -> bool {
    s.ghost.violations.contains_key(id)
}

fn no_panic(_: &ClusterModel, s: &ClusterState) -> bool {
    s.servers.iter().all(|x| x.panic.is_none()) && !recorded(s, "NO-PANIC")
}

fn fle_vote_mono(_: &ClusterModel, s: &ClusterState) -> bool {
    !recorded(s, "FLE-VOTE-MONO")
}

fn fle_uptodate(m: &ClusterModel, s: &ClusterState) -> bool {
    // Every leader leads on its own vote, and that vote is at least as strong as the own vote of
    // a quorum of voters (each voter adopts only stronger votes, and a quorum held this one).
    s.nodes().all(|n| match n.role() {
        Role::Leading(l) => {
            let weaker: Vec<_> = s
                .servers
                .iter()
                .enumerate()
                .filter(|(i, x)| {
                    let own = Vote {
                        epoch: x.disk.current_epoch,
                        zxid: x.disk.last_zxid(),
                        sid: ServerId(*i as u64 + 1),
                    };
                    own <= l.vote
                })
                .map(|(i, _)| ServerId(i as u64 + 1))
                .collect();
            l.vote == n.initial_vote()
                && n.config().quorum().contains_quorum(&weaker)
                && m.cfg.servers > 0
        }
        _ => true,
    })
}

fn leader_unique(_: &ClusterModel, s: &ClusterState) -> bool {
    let nodes: Vec<_> = s.nodes().collect();
    !recorded(s, "ZAB-LEADER-UNIQUE")
        && invariants::check_cluster(&nodes).map_or_else(|v| v.id != "ZAB-LEADER-UNIQUE", |_| true)
}

fn prefix(a: &[Proposal], b: &[Proposal]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

fn prefix_agreement(_: &ClusterModel, s: &ClusterState) -> bool {
    let c = &s.ghost.committed;
    !recorded(s, "ZAB-PREFIX")
        && (0..c.len()).all(|i| (i + 1..c.len()).all(|j| prefix(&c[i], &c[j])))
}

fn integrity(_: &ClusterModel, s: &ClusterState) -> bool {
    s.ghost.committed.iter().flatten().all(|p| {
        s.ghost
            .proposed
            .get(&p.zxid.epoch())
            .is_some_and(|ps| ps.contains(p))
    })
}

fn local_primary_order(_: &ClusterModel, s: &ClusterState) -> bool {
    s.ghost.committed.iter().all(|seq| {
        s.ghost.proposed.iter().all(|(epoch, proposed)| {
            let mine: Vec<&Proposal> = seq.iter().filter(|p| p.zxid.epoch() == *epoch).collect();
            mine.len() <= proposed.len() && mine.iter().zip(proposed).all(|(a, b)| *a == b)
        })
    })
}

fn global_primary_order(_: &ClusterModel, s: &ClusterState) -> bool {
    s.ghost
        .committed
        .iter()
        .all(|seq| seq.windows(2).all(|w| w[0].zxid < w[1].zxid))
}

fn primary_integrity(_: &ClusterModel, s: &ClusterState) -> bool {
    s.ghost.primary_history.iter().all(|(epoch, history)| {
        s.ghost
            .committed
            .iter()
            .flatten()
            .filter(|p| p.zxid.epoch() < *epoch)
            .all(|p| history.contains(&p.zxid))
    })
}

fn leader_complete(_: &ClusterModel, s: &ClusterState) -> bool {
    !recorded(s, "ZAB-COMPLETE")
}

fn committed_durable(_: &ClusterModel, s: &ClusterState) -> bool {
    s.servers
        .iter()
        .zip(&s.ghost.committed)
        .all(|(server, seq)| {
            seq.len() <= server.disk.log.len() && server.disk.log[..seq.len()] == seq[..]
        })
}

fn history_consistent(_: &ClusterModel, s: &ClusterState) -> bool {
    s.nodes().all(|f| {
        let Some(l) = f.learning().filter(|l| l.phase == LearnerPhase::Broadcast) else {
            return true;
        };
        let Some(leader) = s.servers[l.leader.0 as usize - 1].node.as_ref() else {
            return true;
        };
        let same_epoch = leader
            .leading()
            .is_some_and(|x| x.phase == LeaderPhase::Broadcast && x.epoch == l.epoch);
        !same_epoch
            || (f.log().len() <= leader.log().len() && f.log() == &leader.log()[..f.log().len()])
    })
}

fn monotonic(_: &ClusterModel, s: &ClusterState) -> bool {
    !recorded(s, "ZAB-MONO")
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
