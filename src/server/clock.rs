//! The wall clock the runtime reads: ctime/mtime stamped into txns on the leader, `cons`
//! timestamps. A leaf of `src/server` (`server/mod.rs` "Layers"); the core's timers run on tokio
//! time in `timers.rs`, which never reads this clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (ctime/mtime of znodes, `cons` timestamps).
pub fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
