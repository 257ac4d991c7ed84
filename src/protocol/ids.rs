//! Identifiers with protocol meaning: server ids, epochs and zxids.
//!
//! spec/zab.md §Zxid. A zxid is `epoch << 32 | counter` (ZooKeeper's `ZxidUtils`); the first zxid
//! of an epoch (counter 0) names no txn; the last usable counter is `0xFFFF_FFFE` because ZooKeeper's
//! leader refuses to propose at `0xFFFF_FFFF` (`Leader.propose`, ZOOKEEPER-1277) and forces a new
//! epoch instead. [`Zxid::next`] returns that as a typed outcome instead of wrapping.

use std::fmt;

/// A server's `myid`. Larger ids win vote ties (FLE-ORDER).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ServerId(pub u64);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// An epoch: ZAB's `e`, the high 32 bits of a zxid, and the `peerEpoch` of a vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Epoch(pub u32);

impl Epoch {
    /// The epoch after this one; `None` at `u32::MAX` (a cluster can never get there: each epoch
    /// needs an election).
    pub fn next(self) -> Option<Epoch> {
        self.0.checked_add(1).map(Epoch)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The last counter a leader may assign; the next proposal needs a new epoch.
pub const COUNTER_MAX: u32 = 0xFFFF_FFFE;

/// A ZooKeeper transaction id: `epoch << 32 | counter`, ordered as the integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Zxid(pub u64);

/// The counter of the current epoch is exhausted: the leader must give up and a new epoch start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZxidRollover;

impl Zxid {
    /// The zxid of an empty history.
    pub const ZERO: Zxid = Zxid(0);

    /// `epoch << 32 | counter`.
    pub fn new(epoch: Epoch, counter: u32) -> Zxid {
        Zxid((u64::from(epoch.0) << 32) | u64::from(counter))
    }

    /// The zxid a leader of `epoch` starts from; no txn carries it.
    pub fn epoch_start(epoch: Epoch) -> Zxid {
        Zxid::new(epoch, 0)
    }

    /// High 32 bits.
    pub fn epoch(self) -> Epoch {
        Epoch((self.0 >> 32) as u32)
    }

    /// Low 32 bits.
    pub fn counter(self) -> u32 {
        (self.0 & 0xFFFF_FFFF) as u32
    }

    /// The next zxid in the same epoch, or [`ZxidRollover`] past [`COUNTER_MAX`].
    pub fn next(self) -> Result<Zxid, ZxidRollover> {
        if self.counter() >= COUNTER_MAX {
            return Err(ZxidRollover);
        }
        Ok(Zxid(self.0 + 1))
    }
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self)
    }
}

impl fmt::Display for Zxid {
    /// `e:c`, e.g. `1:2`; ZooKeeper prints `0x100000002`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch().0, self.counter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_layout_matches_zookeeper() {
        let z = Zxid::new(Epoch(1), 2);
        assert_eq!(z.0, 0x1_0000_0002);
        assert_eq!(z.epoch(), Epoch(1));
        assert_eq!(z.counter(), 2);
        assert_eq!(Zxid::epoch_start(Epoch(3)).0, 3 << 32);
    }

    #[test]
    fn next_stops_at_counter_max() {
        let last = Zxid::new(Epoch(7), COUNTER_MAX);
        assert_eq!(Zxid::new(Epoch(7), COUNTER_MAX - 1).next(), Ok(last));
        assert_eq!(last.next(), Err(ZxidRollover));
    }

    #[test]
    fn order_is_epoch_then_counter() {
        assert!(Zxid::new(Epoch(2), 0) > Zxid::new(Epoch(1), COUNTER_MAX));
    }
}
