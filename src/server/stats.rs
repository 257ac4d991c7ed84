//! Server-wide counters for `srvr`, `stat` and `mntr` ([`ServerStats`]), bumped by the
//! connections and the driver. A leaf of `src/server` (`server/mod.rs` "Layers").

use std::sync::atomic::{AtomicU64, Ordering};

/// Server-wide counters for `srvr`, `stat`, `mntr`.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Packets received.
    pub received: AtomicU64,
    /// Packets sent.
    pub sent: AtomicU64,
    /// Smallest request latency (ms); u64::MAX when none yet.
    pub latency_min_ms: AtomicU64,
    /// Largest latency.
    pub latency_max_ms: AtomicU64,
    /// Sum of latencies.
    pub latency_total_ms: AtomicU64,
    /// Number of latencies.
    pub latency_count: AtomicU64,
    /// Entries in the core's in-memory log after the driver's last step (at most twice
    /// `commitLogCount` committed txns, plus the proposals in flight).
    pub core_log_entries: AtomicU64,
    /// The core's log base after the driver's last step (the newest compacted snapshot's zxid).
    pub core_log_base: AtomicU64,
    /// DIFFs this server sent as leader (mntr `zk_diff_count`, ZooKeeper's name).
    pub diff_count: AtomicU64,
    /// SNAPs this server sent as leader (mntr `zk_snap_count`, ZooKeeper's name).
    pub snap_count: AtomicU64,
    /// TRUNCs this server sent as leader (mntr `zk_trunc_count`, ours).
    pub trunc_count: AtomicU64,
}

impl ServerStats {
    /// Adds one latency sample.
    pub fn record_latency(&self, ms: u64) {
        if self.latency_count.fetch_add(1, Ordering::Relaxed) == 0 {
            self.latency_min_ms.store(ms, Ordering::Relaxed);
        } else {
            self.latency_min_ms.fetch_min(ms, Ordering::Relaxed);
        }
        self.latency_max_ms.fetch_max(ms, Ordering::Relaxed);
        self.latency_total_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// `srst`.
    pub fn reset(&self) {
        for a in [
            &self.received,
            &self.sent,
            &self.latency_min_ms,
            &self.latency_max_ms,
            &self.latency_total_ms,
            &self.latency_count,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}
