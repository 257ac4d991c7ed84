//! The world's events: the initial states, one transition (`apply`), and the `sync` model's
//! atomic election.

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use zabkeeper::protocol::{
    DurableState, Epoch, Input, Node, PeerMsg, Proposal, Role, ServerId, Timer, Zxid,
};

use super::state::{is_prefix, upto};
use super::{sid, Action, ClusterModel, ClusterState, Ghost, LogWrite, Server, Shared, SyncRecord};
use crate::panics;
use crate::reach::Mark;

impl ClusterModel {
    pub(super) fn initial_disks(&self) -> Vec<DurableState> {
        self.cfg
            .initial_histories
            .iter()
            .map(|(epoch, zxids)| {
                let log = zxids
                    .iter()
                    .map(|(e, c)| Proposal {
                        zxid: Zxid::new(Epoch(*e), *c),
                        data: Bytes::new(),
                    })
                    .collect::<Vec<_>>();
                DurableState {
                    accepted_epoch: Epoch(*epoch),
                    current_epoch: Epoch(*epoch),
                    log_base: Zxid::ZERO,
                    committed: Zxid::ZERO,
                    log,
                }
            })
            .collect()
    }

    pub(super) fn fresh_state(&self, disks: Vec<DurableState>) -> ClusterState {
        let n = disks.len();
        let servers = disks
            .into_iter()
            .map(|disk| {
                Shared::new(Server {
                    node: None,
                    snapshot: Vec::new(),
                    applied: upto(&disk.log, disk.committed).to_vec(),
                    installed: false,
                    disk,
                    pending_log: Vec::new(),
                    pending_epoch: None,
                    timers: BTreeSet::new(),
                    prepared: VecDeque::new(),
                    restarts: 0,
                    panic: None,
                })
            })
            .collect::<Vec<_>>();
        let mut state = ClusterState {
            servers,
            links: vec![Shared::new(VecDeque::new()); n * n],
            writes: 0,
            crashes: 0,
            link_faults: 0,
            syncs: 0,
            isolated: vec![false; n],
            timer_fires: 0,
            snapshots: 0,
            compactions: 0,
            ghost: Shared::new(Ghost {
                committed: vec![Vec::new(); n],
                watermarks: vec![Default::default(); n],
                votes: vec![None; n],
                ..Ghost::default()
            }),
        };
        let start = |state: &mut ClusterState| {
            for i in 0..n {
                let disk = state.servers[i].disk.clone();
                state.servers[i].make_mut().node =
                    Some(Node::new(self.configs[i].clone(), disk.clone()));
                state.ghost.make_mut().watermarks[i] = (
                    disk.accepted_epoch,
                    disk.current_epoch,
                    disk.committed,
                    disk.committed,
                );
            }
            for i in 0..n {
                self.step(state, i, Input::Start, &mut Vec::new());
            }
            self.observe(state);
        };
        let mut started = state.clone();
        match panics::catch(|| start(&mut started)) {
            Ok(()) => started,
            Err(msg) => {
                state
                    .ghost
                    .make_mut()
                    .violations
                    .insert("NO-PANIC", format!("starting the servers panicked: {msg}"));
                state
            }
        }
    }

    /// Is server `i` cut off from its leader, or (leading) from one of its learners? Only there
    /// does `SyncLimit` fire: elsewhere heartbeats would keep re-arming it.
    pub(super) fn suspects(&self, state: &ClusterState, i: usize) -> bool {
        let Some(node) = &state.servers[i].node else {
            return false;
        };
        let index = |s: ServerId| s.0 as usize - 1;
        match node.role() {
            Role::Following(l) => state.cut(i, index(l.leader)),
            Role::Leading(l) => l.learners.keys().any(|s| state.cut(i, index(*s))),
            Role::Looking(_) => false,
        }
    }

    pub(super) fn election_pending(&self, state: &ClusterState) -> bool {
        state
            .links
            .iter()
            .any(|l| l.front().is_some_and(PeerMsg::is_election))
            || state
                .servers
                .iter()
                .any(|s| s.node.is_some() && s.timers.contains(&Timer::FinalizeWait))
    }

    /// Runs the election to quiescence in one canonical order (the `sync` model's macro step).
    fn elect(&self, state: &mut ClusterState, marks: &mut Vec<Mark>) {
        let n = state.n();
        for _ in 0..10_000 {
            if state.servers.iter().any(|s| s.panic.is_some()) {
                return;
            }
            let front =
                (0..n * n).find(|k| state.links[*k].front().is_some_and(PeerMsg::is_election));
            if let Some(k) = front {
                let msg = state.links[k].make_mut().pop_front().expect("front");
                self.step(
                    state,
                    k % n,
                    Input::Peer {
                        from: sid(k / n),
                        msg,
                    },
                    marks,
                );
                continue;
            }
            let armed = (0..n).find(|i| {
                state.servers[*i].node.is_some()
                    && state.servers[*i].timers.contains(&Timer::FinalizeWait)
            });
            match armed {
                Some(i) => {
                    state.servers[i]
                        .make_mut()
                        .timers
                        .remove(&Timer::FinalizeWait);
                    self.step(state, i, Input::Timeout(Timer::FinalizeWait), marks);
                }
                None => return,
            }
        }
        state
            .ghost
            .make_mut()
            .violations
            .entry("NO-PANIC")
            .or_insert_with(|| "election did not settle in 10000 steps".into());
    }

    /// One transition of the world (`next_state` runs it under `panics::catch`).
    pub(super) fn apply(
        &self,
        last: &ClusterState,
        action: Action,
        marks: &mut Vec<Mark>,
    ) -> Option<ClusterState> {
        let mut state = last.clone();
        let n = state.n();
        match action {
            Action::Deliver { from, to } => {
                let msg = state.links[from * n + to].make_mut().pop_front()?;
                self.step(
                    &mut state,
                    to,
                    Input::Peer {
                        from: sid(from),
                        msg,
                    },
                    marks,
                );
            }
            Action::Timeout { server, timer } => {
                if timer != Timer::FinalizeWait {
                    state.timer_fires += 1;
                }
                state.servers[server].make_mut().timers.remove(&timer);
                self.step(&mut state, server, Input::Timeout(timer), marks);
            }
            Action::FlushLog { server } => {
                let s = state.servers[server].make_mut();
                if s.pending_log.is_empty() {
                    return None;
                }
                match s.pending_log.remove(0) {
                    LogWrite::Append {
                        proposals,
                        committed,
                    } => {
                        let upto = proposals.last().expect("non-empty append").zxid;
                        s.disk.append(&proposals, committed);
                        self.step(&mut state, server, Input::Persisted { upto }, marks);
                    }
                    LogWrite::Truncate { after } => {
                        s.disk.truncate_after(after);
                        self.step(&mut state, server, Input::Truncated { after }, marks);
                    }
                    LogWrite::Install { base, history } => {
                        // ZAB-SNAP: the snapshot holds exactly the history up to its base, and
                        // that history extends what this server applied (replacing the tree
                        // never undoes a committed txn).
                        let top = history.last().map_or(Zxid::ZERO, |p| p.zxid);
                        let wrong = if top != base {
                            Some(format!("its last txn is {top}"))
                        } else if !is_prefix(&s.applied, &history) {
                            Some(format!(
                                "it does not extend the applied {}",
                                crate::trace::zxid_list(&s.applied)
                            ))
                        } else {
                            None
                        };
                        if let Some(wrong) = wrong {
                            let detail = format!(
                                "{} installs a snapshot at {base} holding {}: {wrong}",
                                sid(server),
                                crate::trace::zxid_list(&history)
                            );
                            state
                                .ghost
                                .make_mut()
                                .violations
                                .entry("ZAB-SNAP")
                                .or_insert(detail);
                        }
                        let s = state.servers[server].make_mut();
                        s.disk.install_snapshot(base);
                        s.snapshot = history.clone();
                        s.applied = history;
                        s.installed = true;
                        self.step(&mut state, server, Input::SnapshotInstalled { base }, marks);
                    }
                }
            }
            Action::FlushEpoch { server } => {
                let s = state.servers[server].make_mut();
                let (accepted, current) = s.pending_epoch.take()?;
                s.disk.accepted_epoch = accepted;
                s.disk.current_epoch = current;
                self.step(&mut state, server, Input::EpochPersisted, marks);
            }
            Action::Write { server } => {
                state.writes += 1;
                let data = Bytes::from(vec![state.writes]);
                self.step(&mut state, server, Input::Write { data }, marks);
            }
            Action::Forward { server } => {
                state.writes += 1;
                let payload = Bytes::from(vec![state.writes]);
                self.step(&mut state, server, Input::Forward { payload }, marks);
            }
            Action::Propose { server } => {
                let data = state.servers[server].make_mut().prepared.pop_front()?;
                self.step(&mut state, server, Input::Write { data }, marks);
            }
            Action::Crash { server } => {
                state.crashes += 1;
                let s = state.servers[server].make_mut();
                let install_pending = s
                    .pending_log
                    .iter()
                    .any(|w| matches!(w, LogWrite::Install { .. }));
                marks.push(
                    match (install_pending, s.installed, s.pending_log.is_empty()) {
                        (true, _, _) => Mark::CrashInstallPending,
                        (false, true, false) => Mark::CrashAfterInstall,
                        (false, true, true) => Mark::CrashAfterInstallLogged,
                        (false, false, _) => Mark::CrashOther,
                    },
                );
                s.node = None;
                s.pending_log.clear();
                s.pending_epoch = None;
                s.timers.clear();
                s.prepared.clear();
                for j in 0..n {
                    state.clear_link(server * n + j);
                    state.clear_link(j * n + server);
                }
                // The crashed server's client syncs die with their connections.
                if state.ghost.syncs.values().any(|r| r.server == server) {
                    state
                        .ghost
                        .make_mut()
                        .syncs
                        .retain(|_, r| r.server != server);
                }
                let told: Vec<usize> = (0..n)
                    .filter(|j| *j != server && !state.cut(server, *j))
                    .collect();
                for j in told {
                    self.step(&mut state, j, Input::PeerLost(sid(server)), marks);
                }
            }
            Action::Restart { server } => {
                let s = state.servers[server].make_mut();
                s.restarts += 1;
                s.node = Some(Node::new(self.configs[server].clone(), s.disk.clone()));
                s.applied = s.recovered_history();
                s.installed = false;
                state.ghost.make_mut().watermarks[server].3 = s.disk.committed.max(s.disk.log_base);
                state.ghost.make_mut().votes[server] = None;
                self.step(&mut state, server, Input::Start, marks);
            }
            Action::Elect => self.elect(&mut state, marks),
            Action::Snapshot { server } => {
                state.snapshots += 1;
                let s = state.servers[server].make_mut();
                let node = s.node.as_ref().expect("live");
                let at = node.committed_zxid();
                let top = s.applied.last().map_or(Zxid::ZERO, |p| p.zxid);
                assert_eq!(top, at, "the applied history is at the committed zxid");
                s.snapshot = s.applied.clone();
                s.disk.log.retain(|p| p.zxid > at);
                s.disk.log_base = at;
                s.disk.committed = s.disk.committed.max(at);
                self.step(&mut state, server, Input::Compacted { upto: at }, marks);
            }
            Action::Compact { server } => {
                state.compactions += 1;
                let at = state.servers[server]
                    .node
                    .as_ref()
                    .expect("live")
                    .committed_zxid();
                marks.push(Mark::CompactedInMemory);
                self.step(&mut state, server, Input::Compacted { upto: at }, marks);
            }
            Action::BreakLink { a, b } => {
                state.link_faults += 1;
                state.clear_link(a * n + b);
                state.clear_link(b * n + a);
                self.step(&mut state, a, Input::PeerLost(sid(b)), marks);
                self.step(&mut state, b, Input::PeerLost(sid(a)), marks);
            }
            Action::Sync { server } => {
                state.syncs += 1;
                let id = u64::from(state.syncs);
                let mut committed_before: Vec<Proposal> =
                    state.ghost.committed.iter().flatten().cloned().collect();
                committed_before.sort();
                committed_before.dedup();
                state.ghost.make_mut().syncs.insert(
                    id,
                    SyncRecord {
                        server,
                        committed_before,
                        answer: None,
                    },
                );
                self.step(&mut state, server, Input::Sync { id }, marks);
            }
            Action::Isolate { server } => {
                state.isolated[server] = true;
                for j in 0..n {
                    state.clear_link(server * n + j);
                    state.clear_link(j * n + server);
                }
            }
        }
        self.observe(&mut state);
        Some(state)
    }
}
