//! What a node knows of its disk: the state a restart recovers.
//!
//! spec/zab.md §Durable and volatile state. Durable: acceptedEpoch, currentEpoch, the txn log
//! (here: the proposals after `log_base`, the zxid of the newest snapshot — the server's own, or
//! one a SNAP installed) and the commit watermark recorded with the log. Everything else in a [`Node`](super::Node) (role, election round, votes,
//! learner tables, what is in flight) is volatile and lost by a crash.

use super::ids::{Epoch, Zxid};
use super::message::Proposal;

/// The durable state a node is built from (`Node::new`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DurableState {
    /// The epoch accepted in discovery (ZooKeeper's `acceptedEpoch` file).
    pub accepted_epoch: Epoch,
    /// The epoch of the last NEWLEADER acknowledged (`currentEpoch` file).
    pub current_epoch: Epoch,
    /// Every txn up to `log_base` is in the snapshot, not in `log`.
    pub log_base: Zxid,
    /// Logged proposals after `log_base`, in zxid order.
    pub log: Vec<Proposal>,
    /// The highest zxid known committed when the log was last written.
    pub committed: Zxid,
}

impl DurableState {
    /// The last logged zxid (or the snapshot's, with an empty log).
    pub fn last_zxid(&self) -> Zxid {
        self.log.last().map_or(self.log_base, |p| p.zxid)
    }

    /// Applies a txn-log append as the disk would.
    pub fn append(&mut self, proposals: &[Proposal], committed: Zxid) {
        for p in proposals {
            invariant!(
                p.zxid > self.last_zxid(),
                "INV-LOG-ORDER: durable append {} after {}",
                p.zxid,
                self.last_zxid()
            );
            self.log.push(p.clone());
        }
        self.committed = self.committed.max(committed.min(self.last_zxid()));
    }

    /// Applies a snapshot install (a SNAP) as the disk would: the snapshot at `base` supersedes
    /// every logged txn up to there; the ones above stay. Everything up to `base` is committed.
    pub fn install_snapshot(&mut self, base: Zxid) {
        invariant!(
            base > self.log_base,
            "INV-INSTALL: snapshot at {base} not above the base {}",
            self.log_base
        );
        self.log.retain(|p| p.zxid > base);
        self.log_base = base;
        self.committed = self.committed.max(base);
    }

    /// Applies a truncation as the disk would.
    pub fn truncate_after(&mut self, after: Zxid) {
        self.log.retain(|p| p.zxid <= after);
        if after < self.log_base {
            self.log_base = after;
        }
        self.committed = self.committed.min(self.last_zxid());
    }
}
