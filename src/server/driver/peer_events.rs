//! The driver's side of the peer links: each [`PeerEvent`] becomes an `Input` for the core
//! (FOLLOWERINFOs that reach a LOOKING node are held until it has a role), and `Effect::Send`
//! goes out through [`PeerNet::send`], SYNCs logged and counted.

use std::sync::atomic::Ordering;

use super::{Driver, Peers};
use crate::protocol::{Input, LearnerPhase, PeerMsg, PeerState, ServerId, SyncKind};
use crate::server::error::ServerError;
use crate::server::peers::{PeerEvent, PeerNet, SendError};
use crate::storage::Storage;

impl<S: Storage + 'static> Driver<S> {
    pub(super) async fn on_peer_event(
        &mut self,
        event: Option<PeerEvent>,
    ) -> Result<(), ServerError> {
        let (Some(event), Some(peers)) = (event, self.peers.as_ref()) else {
            return Err(ServerError::Fatal("the peer links stopped".into()));
        };
        let input = peers.net.to_input(event);
        match &input {
            Input::Peer {
                from,
                msg: msg @ PeerMsg::FollowerInfo { .. },
            } if self.node.state() == PeerState::Looking => {
                return self.hold(*from, msg.clone());
            }
            Input::PeerLost(peer) => self.held.retain(|(from, _)| from != peer),
            _ => {}
        }
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

    /// A FOLLOWERINFO that reached a LOOKING node: a server decided, a moment before this one,
    /// that this one leads. The core ignores quorum messages while LOOKING, so the learner
    /// would wait out initLimit; ZooKeeper's learner instead retries its connection until the
    /// leader listens. Holding the message until the node has decided is the same as the
    /// network delaying it, which the protocol tolerates (a learner sends nothing else before
    /// LEADERINFO, so FIFO per link is kept, and a broken link discards what it held, as a break
    /// discards what is in flight).
    pub(super) fn hold(&mut self, from: ServerId, msg: PeerMsg) -> Result<(), ServerError> {
        const HELD_MAX: usize = 256;
        if self.held.len() >= HELD_MAX {
            tracing::warn!(%from, "too many FOLLOWERINFOs while LOOKING; dropping the link");
            self.held.retain(|(f, _)| *f != from);
            let _ = self.peer_net()?.disconnect(from);
            return Ok(());
        }
        self.held.push_back((from, msg));
        Ok(())
    }

    /// Feeds the held quorum messages once the node is no longer LOOKING.
    pub(super) async fn replay_held(&mut self) -> Result<(), ServerError> {
        while self.node.state() != PeerState::Looking {
            let Some((from, msg)) = self.held.pop_front() else {
                break;
            };
            self.step(Input::Peer { from, msg }, &mut None).await?;
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
