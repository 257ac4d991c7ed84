//! Votes and their total order (FLE-ORDER), and the four server states.
//!
//! spec/election.md §Vote order. ZooKeeper's `FastLeaderElection.totalOrderPredicate` compares
//! six positional longs; here the order *is* the derived `Ord` of [`Vote`], whose fields are
//! declared in comparison order: peer epoch, then zxid, then server id (larger id wins a tie).

use super::config::Bug;
use super::ids::{Epoch, ServerId, Zxid};

/// A vote for `sid` as leader, backed by that server's `(epoch, zxid)`.
///
/// Field order matters: the derived `Ord` is FLE's total order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote {
    /// The proposed leader's current epoch (`peerEpoch`).
    pub epoch: Epoch,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The proposed leader.
    pub sid: ServerId,
}

impl Vote {
    /// Does `self` beat `current` (FLE `totalOrderPredicate`)?
    ///
    /// With [`Bug::VoteIgnoresEpochOnZxidTie`] this reproduces ZOOKEEPER-1419: the sid tie-break
    /// was applied whenever the zxids were equal, even if the epochs differed, which is not an
    /// order at all (two servers can each beat the other and swap votes for ever).
    pub fn beats(&self, current: &Vote, bug: Option<Bug>) -> bool {
        if bug == Some(Bug::VoteIgnoresEpochOnZxidTie) {
            return self.epoch > current.epoch
                || (self.epoch == current.epoch && self.zxid > current.zxid)
                || (self.zxid == current.zxid && self.sid > current.sid);
        }
        self > current
    }
}

/// ZooKeeper's `QuorumPeer.ServerState` (wire ordinal in parentheses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerState {
    /// Electing (0).
    Looking,
    /// Following an elected leader (1).
    Following,
    /// Leading (2).
    Leading,
    /// Following without a vote (3).
    Observing,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(epoch: u32, zxid: u64, sid: u64) -> Vote {
        Vote {
            epoch: Epoch(epoch),
            zxid: Zxid(zxid),
            sid: ServerId(sid),
        }
    }

    #[test]
    fn epoch_then_zxid_then_sid() {
        assert!(v(2, 0, 1).beats(&v(1, 9, 9), None));
        assert!(v(1, 5, 1).beats(&v(1, 4, 9), None));
        assert!(v(1, 5, 2).beats(&v(1, 5, 1), None));
        assert!(!v(1, 5, 1).beats(&v(1, 5, 1), None));
    }

    #[test]
    fn zookeeper_1419_mutant_is_not_an_order() {
        let a = v(2, 7, 1);
        let b = v(1, 7, 2);
        let bug = Some(Bug::VoteIgnoresEpochOnZxidTie);
        assert!(a.beats(&b, bug) && b.beats(&a, bug), "each beats the other");
        assert!(a.beats(&b, None) && !b.beats(&a, None));
    }
}
