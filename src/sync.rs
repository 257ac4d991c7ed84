//! The loom seam: the synchronisation primitives of the few structures shared between threads,
//! from `std` in every build, from `loom` under `RUSTFLAGS="--cfg loom"` (verification.md "loom";
//! the models are in `tests/loom/`).
//!
//! Only code whose invariant lives in a `Mutex`, a `Condvar` or an atomic imports its primitives
//! from here: the group-commit hand-off (`storage/group_commit.rs`), the session table
//! (`SessionTable` in `server/sessions.rs`) and a connection's outbound byte bound
//! (`server/outbound.rs`). Under loom every such operation is a point where the
//! model checker may switch threads, so a model explores the interleavings of the real code, not
//! of a copy.
//!
//! Seeded bugs: under `cfg(loom)` the environment variable [`SEEDED_BUG_VAR`] switches on one
//! named bug of [`SEEDED_BUGS`], which the code under test checks with `seeded_bug(name)`; for
//! each, a test reruns its model in a child process with the bug on and asserts that the model
//! fails, so no model is vacuous. Outside `cfg(loom)` `seeded_bug` is the constant `false` and
//! the compiler drops the buggy branches.

#[cfg(loom)]
pub(crate) use loom::sync::{atomic, mpsc, Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread;
// Atomics are used only by the server's outbound byte bound.
#[cfg(all(not(loom), feature = "server"))]
pub(crate) use std::sync::atomic;
#[cfg(not(loom))]
pub(crate) use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread;

/// The bugs a loom model may seed, each named for what the code then gets wrong. The models
/// (`tests/loom/`) and verification.md refer to them by these names.
pub const SEEDED_BUGS: &[&str] = &[
    // storage/group_commit.rs
    "group_commit_wake_before_push",
    "group_commit_no_submitter_wakeup",
    "group_commit_report_before_sync",
    "group_commit_shutdown_drops_queue",
    // server/sessions.rs
    "sessions_touch_clock_outside_lock",
    "sessions_expiry_not_closing",
    "sessions_touch_revives_closing",
    // server/outbound.rs
    "outbound_check_then_add",
];

/// The environment variable that names the seeded bug of a loom run (one of [`SEEDED_BUGS`]).
pub const SEEDED_BUG_VAR: &str = "ZABKEEPER_LOOM_BUG";

/// Whether the seeded bug `name` is on: under `cfg(loom)`, when [`SEEDED_BUG_VAR`] names it.
///
/// # Panics
/// When the variable names no bug in [`SEEDED_BUGS`] (a typo would make a model pass for the
/// wrong reason).
#[cfg(loom)]
pub(crate) fn seeded_bug(name: &'static str) -> bool {
    static SEEDED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let seeded = SEEDED.get_or_init(|| {
        let bug = std::env::var(SEEDED_BUG_VAR).ok()?;
        assert!(
            SEEDED_BUGS.contains(&bug.as_str()),
            "{SEEDED_BUG_VAR}={bug:?} names no seeded bug"
        );
        Some(bug)
    });
    seeded.as_deref() == Some(name)
}

/// Whether the seeded bug `name` is on: never, outside `cfg(loom)`.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) const fn seeded_bug(_name: &'static str) -> bool {
    false
}
