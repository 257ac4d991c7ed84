//! The driver's side of the peer links: each [`PeerEvent`] becomes an `Input` for the core
//! (FOLLOWERINFOs that reach a LOOKING node are held until it has a role), and `Effect::Send`
//! goes out through [`PeerNet::send`], SYNCs logged and counted.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use super::{Driver, Peers};
use crate::protocol::{Input, LearnerPhase, PeerMsg, PeerState, ServerId, SyncKind};
use crate::server::error::ServerError;
use crate::server::peers::{PeerEvent, PeerNet, SendError};
use crate::storage::Storage;

/// Most FOLLOWERINFOs held at once.
const HELD_MAX: usize = 256;

/// FOLLOWERINFOs that reached a LOOKING node: a server decided, a moment before this one, that
/// this one leads. The core ignores quorum messages while LOOKING, so the learner would wait out
/// initLimit; ZooKeeper's learner instead retries its connection until the leader listens.
/// Holding the message until the node has decided is the same as the network delaying it, which
/// the protocol tolerates (a learner sends nothing else before LEADERINFO, so FIFO per link is
/// kept, and a broken link discards what it held, as a break discards what is in flight).
#[derive(Debug, Default)]
pub(super) struct HeldFollowerInfos {
    queue: VecDeque<(ServerId, PeerMsg)>,
}

/// What the driver does with a peer input ([`HeldFollowerInfos::admit`]).
#[derive(Debug)]
pub(super) enum Admit {
    /// Step the node with it now.
    Step(Input),
    /// Held until the node is no longer LOOKING.
    Held,
    /// Too many held: the sender's link is dropped (and what it had held with it).
    Overflow(ServerId),
}

impl HeldFollowerInfos {
    /// A FOLLOWERINFO (or OBSERVERINFO) reaching a node in `state` LOOKING is held; a broken
    /// link drops what its peer had held; everything else is stepped at once.
    pub(super) fn admit(&mut self, state: PeerState, input: Input) -> Admit {
        match input {
            Input::Peer {
                from,
                msg: msg @ PeerMsg::FollowerInfo { .. },
            } if state == PeerState::Looking => {
                if self.queue.len() >= HELD_MAX {
                    self.queue.retain(|(f, _)| *f != from);
                    return Admit::Overflow(from);
                }
                self.queue.push_back((from, msg));
                Admit::Held
            }
            Input::PeerLost(peer) => {
                self.queue.retain(|(from, _)| *from != peer);
                Admit::Step(Input::PeerLost(peer))
            }
            input => Admit::Step(input),
        }
    }

    /// The next held message to step, in arrival order, once the node (in `state`) is no longer
    /// LOOKING.
    pub(super) fn release(&mut self, state: PeerState) -> Option<Input> {
        if state == PeerState::Looking {
            return None;
        }
        let (from, msg) = self.queue.pop_front()?;
        Some(Input::Peer { from, msg })
    }
}

impl<S: Storage + 'static> Driver<S> {
    pub(super) async fn on_peer_event(
        &mut self,
        event: Option<PeerEvent>,
    ) -> Result<(), ServerError> {
        let (Some(event), Some(peers)) = (event, self.peers.as_ref()) else {
            return Err(ServerError::Fatal("the peer links stopped".into()));
        };
        let input = match self
            .held
            .admit(self.node.state(), peers.net.to_input(event))
        {
            Admit::Step(input) => input,
            Admit::Held => return Ok(()),
            Admit::Overflow(from) => {
                tracing::warn!(%from, "too many FOLLOWERINFOs while LOOKING; dropping the link");
                let _ = self.peer_net()?.disconnect(from);
                return Ok(());
            }
        };
        if let Input::Peer {
            from,
            msg: PeerMsg::Sync { kind, .. },
        } = &input
        {
            let awaiting = self
                .node
                .learning()
                .is_some_and(|l| l.leader == *from && l.phase == LearnerPhase::AwaitSync);
            match kind {
                // Logged once the snapshot is installed (`install_sync_snapshot`).
                SyncKind::Snap { .. } if awaiting => self.snap_from = Some(*from),
                _ if awaiting => {
                    tracing::info!("synced with leader {} by {}", from.0, sync_name(kind))
                }
                _ => {}
            }
        }
        self.step(input, &mut None).await
    }

    /// Feeds the held quorum messages once the node is no longer LOOKING.
    pub(super) async fn replay_held(&mut self) -> Result<(), ServerError> {
        while let Some(input) = self.held.release(self.node.state()) {
            self.step(input, &mut None).await?;
        }
        Ok(())
    }

    pub(super) fn peer_net(&self) -> Result<&PeerNet, ServerError> {
        match &self.peers {
            Some(peers) => Ok(&peers.net),
            None => Err(ServerError::Fatal(
                "a one-voter ensemble has no peers, yet the core asked for one".into(),
            )),
        }
    }

    /// `Effect::Send` (and the SNAP built for `Effect::SendSnapshot`); a sync message is logged
    /// and counted. A refusal because the link is down is expected: the core learns of the break
    /// from `PeerLost` or its timers.
    pub(super) fn send(&mut self, to: ServerId, msg: PeerMsg) -> Result<(), ServerError> {
        if let PeerMsg::Sync { kind, .. } = &msg {
            let counter = match kind {
                SyncKind::Diff => &self.shared.stats.diff_count,
                SyncKind::Trunc { .. } => &self.shared.stats.trunc_count,
                SyncKind::Snap { .. } => &self.shared.stats.snap_count,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::info!("sending {} to server {}", sync_name(kind), to.0);
        }
        match self.peer_net()?.send(to, msg) {
            Ok(()) => Ok(()),
            Err(e @ (SendError::UnknownPeer(_) | SendError::ToSelf)) => {
                Err(ServerError::Fatal(format!("the core sent to {to}: {e}")))
            }
            Err(e) => {
                tracing::debug!(%to, "not sent: {e}");
                Ok(())
            }
        }
    }
}

pub(super) async fn next_peer_event(peers: &mut Option<Peers>) -> Option<PeerEvent> {
    match peers {
        Some(peers) => peers.events.recv().await,
        None => std::future::pending().await,
    }
}

pub(super) fn sync_name(kind: &SyncKind) -> &'static str {
    match kind {
        SyncKind::Diff => "DIFF",
        SyncKind::Trunc { .. } => "TRUNC",
        SyncKind::Snap { .. } => "SNAP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        DurableState, Effect, Effects, Epoch, Node, NodeConfig, Timer, Vote, Zxid,
    };

    const ME: ServerId = ServerId(1);
    const PEER: ServerId = ServerId(2);

    fn follower_info() -> Input {
        Input::Peer {
            from: PEER,
            msg: PeerMsg::FollowerInfo {
                accepted_epoch: Epoch(0),
                observer: false,
            },
        }
    }

    /// Steps `node` and returns what it sent.
    fn step(node: &mut Node, input: Input) -> Vec<(ServerId, PeerMsg)> {
        let mut out = Effects::new();
        node.step(input, &mut out);
        out.drain()
            .filter_map(|e| match e {
                Effect::Send { to, msg } => Some((to, msg)),
                _ => None,
            })
            .collect()
    }

    fn leader_info_to_peer(sent: &[(ServerId, PeerMsg)]) -> bool {
        sent.iter()
            .any(|(to, msg)| *to == PEER && matches!(msg, PeerMsg::LeaderInfo { .. }))
    }

    /// Server 1 of {1, 2}, started and LOOKING; returns its FLE round.
    fn looking_node() -> (Node, u64) {
        let mut config = NodeConfig::new(ME, [ME, PEER]);
        config.finalize_wait_ticks = 1;
        let mut node = Node::new(config, DurableState::default());
        let sent = step(&mut node, Input::Start);
        let round = sent
            .iter()
            .find_map(|(_, msg)| match msg {
                PeerMsg::Notification { round, .. } => Some(*round),
                _ => None,
            })
            .expect("a LOOKING node notifies its vote");
        assert_eq!(node.state(), PeerState::Looking);
        (node, round)
    }

    /// Server 2 votes for server 1, and the finalize wait passes: server 1 leads.
    fn elect_me(node: &mut Node, round: u64) -> Vec<(ServerId, PeerMsg)> {
        let vote = Vote {
            epoch: Epoch(0),
            zxid: Zxid::ZERO,
            sid: ME,
        };
        let notification = PeerMsg::Notification {
            state: PeerState::Looking,
            vote,
            round,
        };
        let mut sent = step(
            node,
            Input::Peer {
                from: PEER,
                msg: notification,
            },
        );
        sent.extend(step(node, Input::Timeout(Timer::FinalizeWait)));
        assert_eq!(
            node.state(),
            PeerState::Leading,
            "server 2's vote elects server 1"
        );
        sent
    }

    /// A FOLLOWERINFO that reaches a server still LOOKING (server 2 decided first) is held, not
    /// stepped — the core would drop it and server 2 would wait out initLimit — and is answered
    /// with LEADERINFO once the server leads.
    #[test]
    fn a_followerinfo_while_looking_is_answered_once_this_server_leads() {
        // Why it is held: stepped while LOOKING, the core answers nothing.
        let (mut unheld, round) = looking_node();
        assert!(step(&mut unheld, follower_info()).is_empty());
        let sent = elect_me(&mut unheld, round);
        assert!(!leader_info_to_peer(&sent), "the core forgot it: {sent:?}");

        let (mut node, round) = looking_node();
        let mut held = HeldFollowerInfos::default();
        assert!(matches!(
            held.admit(node.state(), follower_info()),
            Admit::Held
        ));
        assert!(
            held.release(node.state()).is_none(),
            "nothing leaves while LOOKING"
        );
        let sent = elect_me(&mut node, round);
        assert!(!leader_info_to_peer(&sent));
        let released = held.release(node.state()).expect("released once leading");
        let sent = step(&mut node, released);
        assert!(
            leader_info_to_peer(&sent),
            "LEADERINFO to server 2: {sent:?}"
        );
        assert!(held.release(node.state()).is_none(), "released once");
    }

    /// A broken link drops what its peer had held (a break discards what is in flight); a
    /// FOLLOWERINFO to a server that has a role is stepped at once; past the limit the sender's
    /// link is dropped.
    #[test]
    fn held_followerinfos_follow_their_link() {
        let mut held = HeldFollowerInfos::default();
        assert!(matches!(
            held.admit(PeerState::Looking, follower_info()),
            Admit::Held
        ));
        assert!(matches!(
            held.admit(PeerState::Looking, Input::PeerLost(PEER)),
            Admit::Step(Input::PeerLost(PEER))
        ));
        assert!(held.release(PeerState::Leading).is_none());
        assert!(matches!(
            held.admit(PeerState::Leading, follower_info()),
            Admit::Step(Input::Peer { from: PEER, .. })
        ));
        for _ in 0..HELD_MAX {
            assert!(matches!(
                held.admit(PeerState::Looking, follower_info()),
                Admit::Held
            ));
        }
        assert!(matches!(
            held.admit(PeerState::Looking, follower_info()),
            Admit::Overflow(PEER)
        ));
        assert!(
            held.release(PeerState::Leading).is_none(),
            "the sender's were dropped"
        );
    }
}
