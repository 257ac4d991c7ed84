//! The ghost: history kept only for properties, updated after every transition, with the
//! history-wide violations it finds; and the run's reach counters.

use zabkeeper::protocol::{Proposal, Role, Zxid};

use super::state::is_prefix;
use super::{sid, ClusterModel, ClusterState, ModelKind};
use crate::reach::Mark;

impl ClusterModel {
    /// ZAB-SYNC-LINEARIZABLE, first half: the read index covers every txn committed anywhere
    /// before the `sync` was issued.
    pub(super) fn on_sync_ready(&self, state: &mut ClusterState, i: usize, id: u64, zxid: Zxid) {
        let record = state
            .ghost
            .make_mut()
            .syncs
            .get_mut(&id)
            .expect("SyncReady for an issued sync");
        assert_eq!(
            record.server, i,
            "SyncReady for sync #{id} at another server"
        );
        assert!(record.answer.is_none(), "sync #{id} answered twice");
        record.answer = Some(zxid);
        if let Some(p) = record.committed_before.iter().find(|p| p.zxid > zxid) {
            let detail = format!(
                "{} answered sync #{id} with read index {zxid}, but {} was committed before the sync was issued",
                sid(i),
                p.zxid
            );
            state
                .ghost
                .make_mut()
                .violations
                .entry("ZAB-SYNC-LINEARIZABLE")
                .or_insert(detail);
        }
    }

    /// ZAB-SYNC-LINEARIZABLE, second half: once the server has applied the read index of an
    /// answered `sync`, it has applied every txn committed before the `sync` was issued. A
    /// checked record is dropped.
    pub(super) fn check_answered_syncs(&self, state: &mut ClusterState) {
        let mut done = Vec::new();
        let mut found = Vec::new();
        for (id, r) in &state.ghost.syncs {
            let (Some(zxid), Some(node)) = (r.answer, state.servers[r.server].node.as_ref()) else {
                continue;
            };
            if node.committed_zxid() < zxid {
                continue;
            }
            let applied =
                |p: &Proposal| p.zxid <= node.log_base() || node.committed_log().contains(p);
            if let Some(p) = r.committed_before.iter().find(|p| !applied(p)) {
                let detail = format!(
                    "{} applied {zxid}, the read index of sync #{id}, without {}, committed before the sync was issued",
                    sid(r.server),
                    p.zxid
                );
                found.push(detail);
            }
            done.push(*id);
        }
        if done.is_empty() && found.is_empty() {
            return;
        }
        let ghost = state.ghost.make_mut();
        for detail in found {
            ghost
                .violations
                .entry("ZAB-SYNC-LINEARIZABLE")
                .or_insert(detail);
        }
        for id in done {
            ghost.syncs.remove(&id);
        }
    }

    /// Updates the ghost after a transition and records history-wide violations.
    pub(super) fn observe(&self, state: &mut ClusterState) {
        self.check_answered_syncs(state);
        let mut found: Vec<(&'static str, String)> = Vec::new();
        for i in 0..state.n() {
            let server = &state.servers[i];
            let disk = &server.disk;
            let (acc, cur, wm, committed) = state.ghost.watermarks[i];
            if disk.accepted_epoch < acc || disk.current_epoch < cur || disk.committed < wm {
                found.push((
                    "ZAB-MONO",
                    format!("{}: durable epochs/watermark went back", sid(i)),
                ));
            }
            let Some(node) = &server.node else { continue };
            if node.committed_zxid() < committed {
                found.push((
                    "ZAB-MONO",
                    format!(
                        "{}: committed went back from {committed} to {}",
                        sid(i),
                        node.committed_zxid()
                    ),
                ));
            }
            let now = (
                disk.accepted_epoch,
                disk.current_epoch,
                disk.committed,
                node.committed_zxid(),
            );
            if state.ghost.watermarks[i] != now {
                state.ghost.make_mut().watermarks[i] = now;
            }

            let now = &server.applied;
            let before = &state.ghost.committed[i];
            if before.len() < now.len() && is_prefix(before, now) {
                for p in &now[before.len()..] {
                    state
                        .ghost
                        .make_mut()
                        .commit_epoch
                        .entry(p.zxid)
                        .or_insert(node.accepted_epoch());
                }
                state.ghost.make_mut().committed[i] = now.clone();
            } else if !is_prefix(now, before) {
                found.push((
                    "ZAB-PREFIX",
                    format!(
                        "{} committed a history that contradicts its earlier one",
                        sid(i)
                    ),
                ));
            }

            if let Some(epoch) = node.established_epoch() {
                match state.ghost.established.get(&epoch) {
                    Some((other, _)) if *other != sid(i) => found.push((
                        "ZAB-LEADER-UNIQUE",
                        format!("{} and {other} both established epoch {epoch}", sid(i)),
                    )),
                    Some(_) => {}
                    None => {
                        let history = server.node_history();
                        let missing =
                            state.ghost.commit_epoch.iter().find(|(z, e)| {
                                **e < epoch && !history.iter().any(|p| p.zxid == **z)
                            });
                        if let Some((z, e)) = missing {
                            found.push((
                                "ZAB-COMPLETE",
                                format!(
                                    "{} established epoch {epoch} without {z}, committed in epoch {e}",
                                    sid(i),
                                ),
                            ));
                        }
                        state
                            .ghost
                            .make_mut()
                            .established
                            .insert(epoch, (sid(i), history));
                    }
                }
            }

            if let (Role::Looking(e), true) = (node.role(), self.cfg.kind == ModelKind::Election) {
                if let Some((round, vote)) = state.ghost.votes[i] {
                    if round == node.round() && e.started && e.proposal < vote {
                        found.push((
                            "FLE-VOTE-MONO",
                            format!("{} lowered its vote in round {round}", sid(i)),
                        ));
                    }
                }
                let vote = e.started.then_some((node.round(), e.proposal));
                if state.ghost.votes[i] != vote {
                    state.ghost.make_mut().votes[i] = vote;
                }
            }
        }
        for (id, detail) in found {
            state
                .ghost
                .make_mut()
                .violations
                .entry(id)
                .or_insert(detail);
        }
    }

    /// Adds a transition inside the bounds to the run's reach counters.
    pub(super) fn record_reach(&self, next: &ClusterState, marks: &[Mark]) {
        for mark in marks {
            self.reach.count(*mark);
        }
        let r = &self.reach;
        r.max(Mark::MaxCrashes, next.crashes.into());
        r.max(Mark::MaxLinkFaults, next.link_faults.into());
        let isolated = next.isolated.iter().filter(|x| **x).count();
        r.max(Mark::MaxIsolations, isolated as u64);
        for node in next.nodes() {
            r.max(Mark::MaxRound, node.round());
        }
        if let Some((epoch, _)) = next.ghost.established.last_key_value() {
            r.max(Mark::MaxEpochEstablished, epoch.0.into());
        }
        for seq in &next.ghost.committed {
            r.max(Mark::MaxTxnsCommitted, seq.len() as u64);
        }
    }
}
