//! The clocks the runtime reads, behind one seam ([`WallClock`]): the wall clock (ctime/mtime
//! stamped into txns on the leader, the container/TTL reaper, the session id seed) and the
//! monotonic clock of session expiry (`Shared::now_ms`). A leaf of `src/server`
//! (`server/mod.rs` "Layers"); the core's timers run on tokio time in `timers.rs`, which never
//! reads this clock. The server runs on [`SystemClock`]; a simulation supplies a clock that reads
//! its simulated time, so a run is a function of its seed.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch from the system clock (`cons` timestamps, which only the
/// four-letter words show).
pub fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The wall and monotonic clocks of one server.
pub trait WallClock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn wall_ms(&self) -> i64;
    /// Milliseconds since this clock was made, never decreasing.
    fn monotonic_ms(&self) -> u64;
}

impl std::fmt::Debug for dyn WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WallClock")
            .field("wall_ms", &self.wall_ms())
            .finish()
    }
}

/// The system's clocks: `SystemTime` and `std::time::Instant`.
#[derive(Debug)]
pub struct SystemClock {
    started: Instant,
}

impl SystemClock {
    /// A clock whose monotonic time starts now.
    pub fn new() -> SystemClock {
        SystemClock {
            started: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl WallClock for SystemClock {
    fn wall_ms(&self) -> i64 {
        wall_clock_ms()
    }

    fn monotonic_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}
