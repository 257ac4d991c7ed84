//! The byte bound of one connection's outbound queue: how many bytes of frames the driver
//! (write replies, watch events) and the connection's reader (read replies) have queued for the
//! connection's writer task and it has not yet written (`spec/server.md` "Connection
//! lifecycle").
//!
//! A frame is counted before it becomes visible to the writer and uncounted after the writer
//! wrote it, so the count never runs below what is queued. A frame that would take the count
//! past the hard limit is refused (the connection is then closed: the driver never blocks on one
//! connection). The count is one atomic, from [`crate::sync`], so the loom model in
//! `tests/loom/outbound.rs` checks the bound under concurrent producers and the writer. The
//! frames themselves travel in a tokio channel, outside loom's reach.

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::seeded_bug;

/// Bytes queued for a connection's socket and not yet written, bounded by a hard limit.
#[derive(Debug)]
pub struct OutboundBytes {
    queued: AtomicUsize,
    hard_limit: usize,
}

impl OutboundBytes {
    /// Nothing queued; at most `hard_limit` bytes may be.
    pub fn new(hard_limit: usize) -> OutboundBytes {
        OutboundBytes {
            queued: AtomicUsize::new(0),
            hard_limit,
        }
    }

    /// Counts `len` bytes of a frame about to be queued; false, counting nothing, when they would
    /// take the count past the hard limit.
    pub fn reserve(&self, len: usize) -> bool {
        if seeded_bug("outbound_check_then_add") {
            // Seeded bug: the limit is checked on one read and the count raised by another.
            if self.queued.load(Ordering::Relaxed) + len > self.hard_limit {
                return false;
            }
            self.queued.fetch_add(len, Ordering::Relaxed);
            return true;
        }
        // One read-modify-write decides: concurrent producers each see the others' frames.
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        if before + len > self.hard_limit {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Uncounts `len` reserved bytes: the writer wrote the frame, or it was not queued after all.
    pub fn release(&self, len: usize) {
        let before = self.queued.fetch_sub(len, Ordering::Relaxed);
        assert!(
            before >= len,
            "outbound: released {len} bytes with only {before} counted"
        );
    }

    /// Bytes counted now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn reserve_refuses_past_the_limit_and_release_makes_room() {
        let bytes = OutboundBytes::new(10);
        assert!(bytes.reserve(6));
        assert!(!bytes.reserve(5), "6 + 5 > 10");
        assert_eq!(bytes.queued(), 6, "a refused frame counts nothing");
        assert!(bytes.reserve(4));
        bytes.release(6);
        assert!(bytes.reserve(5));
        bytes.release(4);
        bytes.release(5);
        assert_eq!(bytes.queued(), 0);
    }
}
