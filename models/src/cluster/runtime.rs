//! The model's runtime: feeds an input to a node and executes its effects on the world (links,
//! disks' pending writes, timers, prepared requests), as the server's driver does.

use std::collections::VecDeque;

use zabkeeper::protocol::{Effect, Effects, Input, PeerMsg, SyncKind, Timer, Zxid};

use super::classify::Before;
use super::state::{decode_history, encode_history};
use super::{sid, ClusterModel, ClusterState, LogWrite, ModelKind};
use crate::panics;
use crate::reach::Mark;

impl ClusterModel {
    /// Feeds `input` to server `i` and executes the effects (the model's runtime); notes in
    /// `marks` the protocol branches the steps took.
    pub(super) fn step(
        &self,
        state: &mut ClusterState,
        i: usize,
        input: Input,
        marks: &mut Vec<Mark>,
    ) {
        let mut queue = VecDeque::from([(i, input)]);
        // One buffer for every step, drained after each as the server's driver drains its own.
        let mut out = Effects::new();
        while let Some((i, input)) = queue.pop_front() {
            let server = state.servers[i].make_mut();
            let Some(node) = server.node.as_mut() else {
                continue;
            };
            if server.panic.is_some() {
                continue;
            }
            let before = Before::of(node, &input);
            if let Err(msg) = panics::catch(|| node.step(input, &mut out)) {
                server.panic = Some(msg);
                return;
            }
            before.classify(node, out.as_slice(), marks);
            for effect in out.drain() {
                self.execute(state, i, effect, &mut queue);
            }
            // The world and the core agree on the epoch write in flight: the core waits for
            // exactly the write the world will flush (a disagreement is a NO-PANIC of the world).
            let server = &state.servers[i];
            if let Some(node) = &server.node {
                assert_eq!(
                    node.durable_epochs_pending(),
                    server.pending_epoch.is_some(),
                    "{}: the core's and the world's epoch write in flight disagree",
                    sid(i)
                );
            }
        }
    }

    fn execute(
        &self,
        state: &mut ClusterState,
        i: usize,
        effect: Effect,
        queue: &mut VecDeque<(usize, Input)>,
    ) {
        let n = state.n();
        match effect {
            Effect::Send { to, msg } => {
                let j = to.0 as usize - 1;
                let deliverable = self.cfg.kind != ModelKind::Election || msg.is_election();
                if deliverable && state.servers[j].node.is_some() && !state.cut(i, j) {
                    state.links[i * n + j].make_mut().push_back(msg);
                }
            }
            Effect::Disconnect { peer } => {
                let j = peer.0 as usize - 1;
                state.clear_link(i * n + j);
                state.clear_link(j * n + i);
                if !state.cut(i, j) {
                    queue.push_back((j, Input::PeerLost(sid(i))));
                }
            }
            Effect::PersistEpoch { accepted, current } => {
                state.servers[i].make_mut().pending_epoch = Some((accepted, current));
            }
            Effect::PersistTxns {
                proposals,
                committed,
            } => {
                state.servers[i]
                    .make_mut()
                    .pending_log
                    .push(LogWrite::Append {
                        proposals,
                        committed,
                    });
            }
            Effect::TruncateLog { after } => {
                state.servers[i]
                    .make_mut()
                    .pending_log
                    .push(LogWrite::Truncate { after });
            }
            Effect::InstallSnapshot { base, snapshot } => {
                let history = decode_history(&snapshot);
                state.servers[i]
                    .make_mut()
                    .pending_log
                    .push(LogWrite::Install { base, history });
            }
            Effect::SendSnapshot {
                to,
                base,
                proposals,
                committed,
            } => {
                // The runtime ships its tree as it is (its applied history), labelled `base`:
                // a label that is not the applied state is what ZAB-SNAP catches.
                let snapshot = encode_history(&state.servers[i].applied);
                let msg = PeerMsg::Sync {
                    kind: SyncKind::Snap { base, snapshot },
                    proposals,
                    committed,
                };
                self.execute(state, i, Effect::Send { to, msg }, queue);
            }
            Effect::Commit { upto } => {
                let server = state.servers[i].make_mut();
                let node = server.node.as_ref().expect("live");
                let last = server.applied.last().map_or(Zxid::ZERO, |p| p.zxid);
                let log = node.log();
                let from = log.partition_point(|p| p.zxid <= last);
                let to = log.partition_point(|p| p.zxid <= upto);
                server.applied.extend_from_slice(&log[from..to.max(from)]);
            }
            Effect::Proposed { zxid } => {
                let node = state.servers[i].node.as_ref().expect("live");
                let proposal = node
                    .log()
                    .iter()
                    .find(|p| p.zxid == zxid)
                    .expect("proposed is logged")
                    .clone();
                let history: Vec<Zxid> = state.servers[i].applied.iter().map(|p| p.zxid).collect();
                state
                    .ghost
                    .make_mut()
                    .primary_history
                    .entry(zxid.epoch())
                    .or_insert(history);
                state
                    .ghost
                    .make_mut()
                    .proposed
                    .entry(zxid.epoch())
                    .or_default()
                    .push(proposal);
            }
            Effect::SetTimer { timer, .. } => {
                // Only timers this world fires are kept: an armed timer that never fires cannot
                // change any behaviour, and keeping it would split identical states.
                if self.fires(timer) {
                    state.servers[i].make_mut().timers.insert(timer);
                }
            }
            Effect::CancelTimer(timer) => {
                state.servers[i].make_mut().timers.remove(&timer);
            }
            Effect::SyncReady { id, zxid } => self.on_sync_ready(state, i, id, zxid),
            Effect::SyncFailed { id } => {
                state.ghost.make_mut().syncs.remove(&id);
            }
            Effect::Prepare { payload, .. } => {
                state.servers[i].make_mut().prepared.push_back(payload);
            }
            Effect::Reject { .. } | Effect::RoleChanged { .. } => {}
            // The world never steps `Input::Revalidate` (sessions live outside the models;
            // verification.md), so no node has a revalidation to check, answer or fail.
            e @ (Effect::CheckSession { .. }
            | Effect::Revalidated { .. }
            | Effect::RevalidateFailed { .. }) => {
                unreachable!("{e:?} in a world without session resumes")
            }
        }
    }

    pub(super) fn fires(&self, timer: Timer) -> bool {
        self.cfg.fire.contains(&timer)
    }
}
