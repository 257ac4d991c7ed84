//! Which protocol branches a step took, read off its input, its effects and the node's role
//! before and after (never from inside the core): the marks of `reach.rs`.

use zabkeeper::protocol::{
    Effect, Epoch, Input, LeaderPhase, LearnerStage, Node, PeerMsg, PeerState, Role, ServerId,
    SyncKind, Timer, Zxid,
};

use crate::reach::Mark;

/// What `classify` needs to know of a node and its input before a step.
pub(super) struct Before {
    /// Learner → last zxid (its ACKEPOCH) as a leader knows it, for SNAPs sent in this step.
    acked: Vec<(ServerId, Zxid)>,
    log_base: Zxid,
    state: PeerState,
    leader_phase: Option<LeaderPhase>,
    looking_started: bool,
    round: u64,
    accepted_epoch: Epoch,
    input: Seen,
}

/// The inputs `classify` tells apart.
enum Seen {
    AckEpoch,
    PeerLost,
    LeaderInfo(Epoch),
    LookingVote(u64),
    DecidedVote,
    Timeout(Timer),
    Other,
}

impl Before {
    pub(super) fn of(node: &Node, input: &Input) -> Before {
        let acking = match input {
            Input::Peer {
                from,
                msg: PeerMsg::AckEpoch { last_zxid, .. },
            } => Some((*from, *last_zxid)),
            _ => None,
        };
        let input = match input {
            Input::Peer { msg, .. } => match msg {
                PeerMsg::AckEpoch { .. } => Seen::AckEpoch,
                PeerMsg::LeaderInfo { epoch } => Seen::LeaderInfo(*epoch),
                PeerMsg::Notification {
                    state: PeerState::Looking,
                    round,
                    ..
                } => Seen::LookingVote(*round),
                PeerMsg::Notification { .. } => Seen::DecidedVote,
                _ => Seen::Other,
            },
            Input::PeerLost(_) => Seen::PeerLost,
            Input::Timeout(timer) => Seen::Timeout(*timer),
            _ => Seen::Other,
        };
        let mut acked: Vec<(ServerId, Zxid)> = node
            .leading()
            .map(|l| {
                l.learners
                    .iter()
                    .filter_map(|(s, v)| match v.stage {
                        LearnerStage::AckedEpoch(z) => Some((*s, z)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        acked.extend(acking);
        Before {
            acked,
            log_base: node.log_base(),
            state: node.state(),
            leader_phase: node.leading().map(|l| l.phase),
            looking_started: matches!(node.role(), Role::Looking(e) if e.started),
            round: node.round(),
            accepted_epoch: node.accepted_epoch(),
            input,
        }
    }

    /// Which protocol branches the step took, read off its input, its effects and the role
    /// before and after (never from inside the core).
    pub(super) fn classify(&self, after: &Node, effects: &[Effect], marks: &mut Vec<Mark>) {
        for effect in effects {
            match effect {
                Effect::Send {
                    msg:
                        PeerMsg::Sync {
                            kind, proposals, ..
                        },
                    ..
                } => marks.push(match kind {
                    SyncKind::Diff if proposals.is_empty() => Mark::DiffEmpty,
                    SyncKind::Diff => Mark::DiffWithTxns,
                    SyncKind::Trunc { .. } => Mark::Trunc,
                    SyncKind::Snap { .. } => Mark::Snap,
                }),
                Effect::SendSnapshot { to, .. } => {
                    marks.push(Mark::Snap);
                    let below = self
                        .acked
                        .iter()
                        .any(|(s, last)| s == to && *last < after.log_base());
                    if below {
                        marks.push(Mark::SnapBelowBase);
                    }
                }
                Effect::InstallSnapshot { .. } => marks.push(Mark::SnapInstall),
                Effect::Send {
                    msg: PeerMsg::Inform(_),
                    ..
                } => marks.push(Mark::Inform),
                Effect::Send {
                    msg: PeerMsg::Request { .. },
                    ..
                } => marks.push(Mark::Forwarded),
                Effect::Prepare { .. } => marks.push(Mark::Prepared),
                _ => {}
            }
        }
        if after.log_base() > self.log_base && after.learning().is_none() {
            marks.push(Mark::Compacted);
        }
        let now_looking = after.state() == PeerState::Looking;
        for effect in effects {
            match effect {
                Effect::SyncReady { .. } if self.state == PeerState::Leading => {
                    marks.push(Mark::SyncReadyAtLeader)
                }
                Effect::SyncReady { .. } => marks.push(Mark::SyncReadyAtLearner),
                Effect::SyncFailed { .. } if self.state != PeerState::Looking && now_looking => {
                    marks.push(Mark::SyncFailedOnLeaving)
                }
                _ => {}
            }
        }
        match self.input {
            Seen::AckEpoch if self.leader_phase == Some(LeaderPhase::Discovery) && now_looking => {
                marks.push(Mark::AheadAbdication)
            }
            Seen::PeerLost if self.leader_phase == Some(LeaderPhase::Broadcast) && now_looking => {
                marks.push(Mark::QuorumLostAbdication)
            }
            Seen::LeaderInfo(epoch)
                if self.state == PeerState::Following
                    && epoch < self.accepted_epoch
                    && now_looking =>
            {
                marks.push(Mark::OldEpochRefused)
            }
            Seen::LookingVote(round) if self.looking_started && round > self.round => {
                marks.push(Mark::RoundChange)
            }
            Seen::LookingVote(round) if self.looking_started && round < self.round => {
                marks.push(Mark::StaleRound)
            }
            Seen::DecidedVote if self.looking_started && !now_looking => {
                marks.push(Mark::JoinedDecided)
            }
            Seen::Timeout(timer) => match timer {
                Timer::InitLimit => marks.push(Mark::InitLimitFired),
                Timer::SyncLimit => marks.push(Mark::SyncLimitFired),
                Timer::Heartbeat => marks.push(Mark::HeartbeatFired),
                Timer::Notify => marks.push(Mark::NotifyFired),
                Timer::FinalizeWait => {}
            },
            _ => {}
        }
    }
}
