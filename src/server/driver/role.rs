//! The role the driver publishes after every step (`Shared::role`, for the four-letter words)
//! and the switch between serving clients (in broadcast) and not.

use super::Driver;
use crate::protocol::{LeaderPhase, LearnerPhase, LearnerStage, PeerState, Role};
use crate::server::shared::{Mode, RoleInfo};
use crate::storage::Storage;

impl<S: Storage + 'static> Driver<S> {
    /// Publishes the role for the four-letter words; starts or stops serving clients.
    pub(super) fn after_step(&mut self) {
        let serving = match self.node.role() {
            Role::Leading(l) => l.phase == LeaderPhase::Broadcast,
            Role::Following(l) => l.phase == LearnerPhase::Broadcast,
            Role::Looking(_) => false,
        };
        self.publish_role(serving);
        if serving == self.serving {
            return;
        }
        self.serving = serving;
        self.shared
            .observe_serving(serving, self.node.leading().is_some());
        if serving {
            if self.node.leading().is_some() {
                // A new leader: every session gets a full timeout from now.
                self.shared.with_sessions_now(|t, now| t.renew_all(now));
            }
            tracing::info!(state = ?self.node.state(), epoch = %self.node.current_epoch(), "serving clients");
            self.shared.serving.set(true);
        } else {
            tracing::info!(state = ?self.node.state(), "not serving clients: closing their connections");
            self.leave_broadcast();
        }
    }

    /// Stops serving: closes every client connection, drops every waiter and what was
    /// prepared but not applied (a deposed leader's pending changes) or forwarded to it.
    pub(super) fn leave_broadcast(&mut self) {
        self.serving = false;
        self.shared.serving.set(false);
        for waiter in self.applier.take_waiters() {
            waiter.refuse();
        }
        self.pipeline.discard_pending();
        // The closes it proposed or forwarded went with the pipeline: no session stays closing
        // on a close that may never commit (`SessionTracker::clear_closing`).
        self.shared.with_sessions(|t| t.clear_closing());
        self.forwarded.clear();
        self.syncs.fail_all();
        self.revalidations.fail_all();
        self.checked.clear();
        for conn in self.shared.conns.all() {
            conn.close();
        }
    }

    pub(super) fn publish_role(&self, serving: bool) {
        let mode = match (self.peers.is_some(), self.node.state()) {
            (false, _) => Mode::Standalone,
            (true, PeerState::Leading) => Mode::Leader,
            (true, PeerState::Following) => Mode::Follower,
            (true, PeerState::Observing) => Mode::Observer,
            (true, PeerState::Looking) => Mode::Looking,
        };
        let (mut learners, mut synced_followers, mut synced_observers, mut pending_syncs) =
            (0, 0, 0, 0);
        if let Some(lead) = self.node.leading() {
            learners = lead.learners.len();
            pending_syncs = lead.syncs.len();
            for view in lead.learners.values() {
                if view.stage >= LearnerStage::NewLeaderAcked {
                    if view.observer {
                        synced_observers += 1;
                    } else {
                        synced_followers += 1;
                    }
                }
            }
        }
        let info = RoleInfo {
            mode,
            serving,
            leader: self.node.leader().map(|s| s.0),
            accepted_epoch: self.node.accepted_epoch().0,
            current_epoch: self.node.current_epoch().0,
            learners,
            synced_followers,
            synced_observers,
            pending_syncs,
            phase: phase_name(self.node.role()),
        };
        *self.shared.role.lock().unwrap_or_else(|e| e.into_inner()) = info;
    }
}

/// ZooKeeper's `zk_peer_state` ZAB phase.
fn phase_name(role: &Role) -> &'static str {
    match role {
        Role::Looking(_) => "election",
        Role::Leading(l) => match l.phase {
            LeaderPhase::Discovery => "discovery",
            LeaderPhase::Sync => "synchronization",
            LeaderPhase::Broadcast => "broadcast",
        },
        Role::Following(l) => match l.phase {
            LearnerPhase::Discovery | LearnerPhase::AckEpochPending => "discovery",
            LearnerPhase::Broadcast => "broadcast",
            _ => "synchronization",
        },
    }
}
