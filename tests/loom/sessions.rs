//! Session touch vs. expiry (`server/sessions.rs`, `SessionTable`): connections touch their
//! session, the driver's tick expires overdue ones, apply forgets a closed one; all share one
//! table behind a `Mutex`, whose operations read the server clock under that lock.
//!
//! The world: one session (timeout 1,000 ms, ticks of 100 ms, so due at 1,100 ms); two threads
//! touch it (its connection, and a second toucher: the reconnect that takes the session over, or
//! the leader applying a learner's reported touches); the driver runs two expiry checks and then
//! applies the CloseSession of whatever expired. The clock advances 600 ms at every reading
//! (600, 1,200, 1,800, 2,400 ms), and each reading is logged, so the log is the order in which
//! the operations stamped their time: under the lock, the order in which they took effect.
//!
//! Invariants asserted in every explored interleaving:
//! - a touch stamped before an expiry check keeps the session: the check expires it only if
//!   every successful touch before it granted a deadline at or before the check's time;
//! - no session is resurrected: a touch stamped after the check that expired it fails;
//! - no session expires twice;
//! - and the checks are not vacuous: a check whose time is past every deadline granted so far
//!   expires the session.

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use zabkeeper::server::sessions::{SessionTable, SessionTracker};

use crate::{caught, explore};

/// Preemptions per execution: no execution of this model needs more than 10 (a higher bound
/// explores no more executions), so this bound is exhaustive.
const PREEMPTIONS: usize = 10;

const SESSION: i64 = 0x0100_0000_0000_0001;
const TIMEOUT_MS: u32 = 1_000;
const TICK_MS: u32 = 100;
/// How far the clock moves at each reading.
const STEP_MS: u64 = 600;

struct World {
    table: SessionTable,
    clock_ms: AtomicU64,
    /// The clock readings, in order.
    stamps: Mutex<Vec<u64>>,
}

impl World {
    /// Reads the clock for an operation and logs it; returns (time, position in the log).
    fn stamp(&self) -> (u64, usize) {
        let mut stamps = self.stamps.lock().unwrap();
        let at_ms = self.clock_ms.fetch_add(STEP_MS, Ordering::SeqCst);
        stamps.push(at_ms);
        (at_ms, stamps.len() - 1)
    }
}

/// The deadline a touch at `at_ms` grants (`ExpiryQueue.roundToNextInterval`).
fn deadline_ms(at_ms: u64) -> u64 {
    let tick = u64::from(TICK_MS);
    ((at_ms + u64::from(TIMEOUT_MS)) / tick + 1) * tick
}

/// One operation's outcome: where its stamp is in the log, its time, and what it returned.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    position: usize,
    at_ms: u64,
    ok: bool,
}

fn touch(world: &World) -> Outcome {
    let mut stamped = (0, 0);
    let ok = world.table.touch(SESSION, || {
        stamped = world.stamp();
        stamped.0
    });
    Outcome {
        position: stamped.1,
        at_ms: stamped.0,
        ok,
    }
}

fn expire(world: &World) -> Outcome {
    let mut stamped = (0, 0);
    let expired = world.table.expire(
        || {
            stamped = world.stamp();
            stamped.0
        },
        16,
    );
    assert!(
        expired.iter().all(|&id| id == SESSION),
        "expired an unknown session: {expired:?}"
    );
    Outcome {
        position: stamped.1,
        at_ms: stamped.0,
        ok: expired.contains(&SESSION),
    }
}

fn touch_vs_expiry() {
    let mut tracker = SessionTracker::new(TICK_MS);
    tracker.add(SESSION, TIMEOUT_MS, 0);
    let world = Arc::new(World {
        table: SessionTable::new(tracker),
        clock_ms: AtomicU64::new(STEP_MS),
        stamps: Mutex::new(Vec::new()),
    });
    let touchers: Vec<_> = (0..2)
        .map(|_| {
            let world = Arc::clone(&world);
            loom::thread::spawn(move || touch(&world))
        })
        .collect();
    let checks = [expire(&world), expire(&world)];
    if checks.iter().any(|c| c.ok) {
        // Apply the CloseSession the driver proposed for it.
        world.table.with(|t| t.remove(SESSION));
    }
    let touches: Vec<Outcome> = touchers
        .into_iter()
        .map(|h| h.join().expect("toucher"))
        .collect();
    let stamps = world.stamps.lock().unwrap().clone();
    let context = || format!("touches {touches:?}, checks {checks:?}, clock readings {stamps:?}");

    let expirations = checks.iter().filter(|c| c.ok).count();
    assert!(expirations <= 1, "a session expired twice: {}", context());
    for (i, check) in checks.iter().enumerate() {
        let earlier_expired = checks[..i].iter().any(|c| c.ok);
        let granted_ms = touches
            .iter()
            .filter(|t| t.ok && t.position < check.position)
            .map(|t| deadline_ms(t.at_ms))
            .max()
            .unwrap_or(0)
            .max(deadline_ms(0));
        if check.ok {
            assert!(
                granted_ms <= check.at_ms,
                "a touch before the expiry check at {} ms did not keep the session (granted until \
                 {granted_ms} ms): {}",
                check.at_ms,
                context()
            );
            for t in touches.iter().filter(|t| t.position > check.position) {
                assert!(
                    !t.ok,
                    "a touch after the session expired renewed it: {}",
                    context()
                );
            }
        } else if !earlier_expired {
            assert!(
                granted_ms > check.at_ms,
                "the check at {} ms kept a session due at {granted_ms} ms: {}",
                check.at_ms,
                context()
            );
        }
    }
}

const TOUCH_VS_EXPIRY: &str = "sessions::sessions_touch_vs_expiry";

#[test]
fn sessions_touch_vs_expiry() {
    explore("sessions_touch_vs_expiry", PREEMPTIONS, touch_vs_expiry);
}

#[test]
fn sessions_seeded_touch_clock_outside_the_lock_loses_a_touch() {
    // Two touches stamp their times in one order and take effect in the other: the later touch's
    // deadline is pulled back, and a check expires a session touched before it.
    let out = caught("sessions_touch_clock_outside_lock", TOUCH_VS_EXPIRY);
    assert!(out.contains("did not keep the session"), "{out}");
}

#[test]
fn sessions_seeded_expiry_not_marking_closing_is_caught() {
    let out = caught("sessions_expiry_not_closing", TOUCH_VS_EXPIRY);
    assert!(
        out.contains("renewed it") || out.contains("expired twice"),
        "{out}"
    );
}

#[test]
fn sessions_seeded_touch_reviving_a_closing_session_is_caught() {
    let out = caught("sessions_touch_revives_closing", TOUCH_VS_EXPIRY);
    assert!(out.contains("renewed it"), "{out}");
}
