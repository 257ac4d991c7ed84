//! The `stateright::Model` glue: initial states, the enabled actions, a transition under
//! `panics::catch`, the properties and the boundary.

use stateright::{Model, Property};
use zabkeeper::protocol::{LeaderPhase, Timer};

use super::{Action, ClusterModel, ClusterState, LogWrite, ModelKind};
use crate::panics;

impl Model for ClusterModel {
    type State = ClusterState;
    type Action = Action;

    fn init_states(&self) -> Vec<ClusterState> {
        let menu = self.initial_disks();
        let mut states = Vec::new();
        // Voters start from any history of the menu; observers from the first.
        let mut choice = vec![0usize; self.cfg.servers];
        let observers = vec![menu[0].clone(); self.cfg.observers];
        loop {
            let disks = choice.iter().map(|c| menu[*c].clone());
            states.push(self.fresh_state(disks.chain(observers.iter().cloned()).collect()));
            let mut k = 0;
            loop {
                if k == choice.len() {
                    return states;
                }
                choice[k] += 1;
                if choice[k] < menu.len() {
                    break;
                }
                choice[k] = 0;
                k += 1;
            }
        }
    }

    fn actions(&self, state: &ClusterState, actions: &mut Vec<Action>) {
        if crate::properties::violated(self, state) {
            return; // a counterexample ends at the step that broke a property (or panicked)
        }
        let n = state.n();
        let atomic = self.cfg.kind == ModelKind::Sync;
        for from in 0..n {
            for to in 0..n {
                match state.link(from, to).front() {
                    Some(m) if atomic && m.is_election() => {}
                    Some(_) => actions.push(Action::Deliver { from, to }),
                    None => {}
                }
            }
        }
        if atomic && self.election_pending(state) {
            actions.push(Action::Elect);
        }
        for (i, s) in state.servers.iter().enumerate() {
            let Some(node) = &s.node else {
                actions.push(Action::Restart { server: i });
                continue;
            };
            let budget_left = self
                .cfg
                .timer_fires
                .map_or(true, |max| state.timer_fires < max);
            for timer in s.timers.iter().filter(|t| self.fires(**t)) {
                if atomic && *timer == Timer::FinalizeWait {
                    continue;
                }
                if *timer != Timer::FinalizeWait && !budget_left {
                    continue;
                }
                // Without a budget, SyncLimit fires (`--isolations`) only where a server is cut
                // off: a server that still hears its peers would have its timer re-armed.
                if *timer == Timer::SyncLimit
                    && self.cfg.timer_fires.is_none()
                    && !self.suspects(state, i)
                {
                    continue;
                }
                actions.push(Action::Timeout {
                    server: i,
                    timer: *timer,
                });
            }
            if !s.pending_log.is_empty() {
                actions.push(Action::FlushLog { server: i });
            }
            if s.pending_epoch.is_some() {
                actions.push(Action::FlushEpoch { server: i });
            }
            let serving = node
                .leading()
                .is_some_and(|l| l.phase == LeaderPhase::Broadcast);
            if serving && state.writes < self.cfg.txns {
                actions.push(Action::Write { server: i });
            }
            if state.syncs < self.cfg.syncs {
                actions.push(Action::Sync { server: i });
            }
            let isolations = state.isolated.iter().filter(|x| **x).count();
            if !state.isolated[i] && isolations < usize::from(self.cfg.isolations) {
                actions.push(Action::Isolate { server: i });
            }
            if self.cfg.forward && !serving && state.writes < self.cfg.txns {
                actions.push(Action::Forward { server: i });
            }
            if !s.prepared.is_empty() {
                actions.push(Action::Propose { server: i });
            }
            if state.crashes < self.cfg.crashes {
                actions.push(Action::Crash { server: i });
            }
            let installing = s
                .pending_log
                .iter()
                .any(|w| matches!(w, LogWrite::Install { .. }));
            if state.snapshots < self.cfg.snapshots
                && node.committed_zxid() > s.disk.log_base
                && node.install_pending().is_none()
                && !installing
                && s.panic.is_none()
            {
                actions.push(Action::Snapshot { server: i });
            }
            if state.compactions < self.cfg.compactions
                && node.committed_zxid() > node.log_base()
                && node.install_pending().is_none()
                && !installing
                && s.panic.is_none()
            {
                actions.push(Action::Compact { server: i });
            }
        }
        if state.link_faults < self.cfg.link_faults {
            for a in 0..n {
                for b in a + 1..n {
                    let live = state.servers[a].node.is_some() && state.servers[b].node.is_some();
                    if live && !state.cut(a, b) {
                        actions.push(Action::BreakLink { a, b });
                    }
                }
            }
        }
    }

    fn next_state(&self, last: &ClusterState, action: Action) -> Option<ClusterState> {
        let mut marks = Vec::new();
        let next = match panics::catch(|| self.apply(last, action.clone(), &mut marks)) {
            Ok(next) => next?,
            Err(msg) => {
                let mut state = last.clone();
                state.ghost.make_mut().violations.insert(
                    "NO-PANIC",
                    format!(
                        "the world panicked in step {}: {msg}",
                        crate::trace::describe_action(last, &action)
                    ),
                );
                return Some(state);
            }
        };
        if self.within_boundary(&next) {
            self.record_reach(&next, &marks);
        }
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        crate::properties::for_config(&self.cfg)
    }

    fn within_boundary(&self, state: &ClusterState) -> bool {
        state.nodes().all(|node| {
            node.accepted_epoch().0 <= self.cfg.max_epoch && node.round() <= self.cfg.max_round
        })
    }

    fn format_action(&self, action: &Action) -> String {
        format!("{action:?}")
    }

    /// What the Explorer shows for a step: the event, then every server and link afterwards.
    fn format_step(&self, last: &ClusterState, action: Action) -> Option<String> {
        let event = crate::trace::describe_action(last, &action);
        let next = self.next_state(last, action)?;
        Some(format!(
            "{event}\n\n{}",
            crate::trace::describe_state(&next)
        ))
    }
}
