//! Session ids, passwords and the expiry clock (ZooKeeper's `SessionTrackerImpl` + `ExpiryQueue`).
//!
//! Role in the data flow: the pipeline asks [`SessionIds`] for a fresh id when a handshake needs
//! a session, and [`password_for`] for its password; every packet of a session calls
//! [`SessionTable::touch`]; the driver's tick asks [`SessionTable::expire`] which sessions to
//! close (it then runs a CloseSession txn through the write path). Spec: reference A.15, `spec/server.md` "Sessions".
//!
//! Times here are milliseconds on the server's monotonic clock, passed in by the caller so the
//! logic stays deterministic and testable. The connections, the driver and apply share one
//! [`SessionTable`], which reads that clock under its lock ([`SessionTable::with_now`]): a touch
//! stamped with a time read before the lock could land after a later touch and pull the
//! deadline back, so a session touched just before an expiry check would expire. The loom model
//! in `tests/loom/sessions.rs` checks the table under every interleaving.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::PoisonError;

use crate::sync::{seeded_bug, Mutex, MutexGuard};

/// ZooKeeper's `ZooKeeperServer.superSecret`: the password is a pure function of the session id
/// and this secret, so any server of an ensemble (including a Java one) can check it.
pub const SERVER_SECRET: i64 = 0xB341_5C00;

/// Length of a session password.
pub const PASSWORD_LEN: usize = 16;

/// `java.util.Random`, the 48-bit LCG, reproduced exactly (only what the password needs).
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> JavaRandom {
        JavaRandom {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next_int(&mut self) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> 16) as u32 as i32
    }

    /// `Random.nextBytes`: each int fills up to 4 bytes, low byte first.
    fn next_bytes(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            let mut rnd = self.next_int();
            let n = (out.len() - i).min(4);
            for _ in 0..n {
                out[i] = rnd as u8;
                rnd >>= 8;
                i += 1;
            }
        }
    }
}

/// The password of `session_id`: `Random(sessionId ^ superSecret).nextBytes(16)`, as ZooKeeper's
/// `ZooKeeperServer.generatePasswd`.
pub fn password_for(session_id: i64) -> [u8; PASSWORD_LEN] {
    let mut out = [0u8; PASSWORD_LEN];
    JavaRandom::new(session_id ^ SERVER_SECRET).next_bytes(&mut out);
    out
}

/// Whether `password` is the password of `session_id` (constant-time over the 16 bytes).
pub fn password_matches(session_id: i64, password: &[u8]) -> bool {
    let expected = password_for(session_id);
    if password.len() != PASSWORD_LEN {
        return false;
    }
    expected
        .iter()
        .zip(password)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Allocates session ids: server id in the top byte, a millisecond clock in the next 40 bits,
/// then a counter (`SessionTrackerImpl.initializeNextSession`).
#[derive(Debug)]
pub struct SessionIds {
    next: i64,
}

impl SessionIds {
    /// Starts the sequence from `clock_ms` for `server_id`, above every id in `recovered` that
    /// carries the same server byte (so a restart never reuses a live id, whatever the clock did).
    pub fn new(server_id: u8, clock_ms: u64, recovered: impl IntoIterator<Item = i64>) -> Self {
        let time_part = ((clock_ms << 24) >> 8) as i64;
        let mut next = time_part | (i64::from(server_id) << 56);
        for id in recovered {
            if (id >> 56) as u8 == server_id && id >= next {
                next = id + 1;
            }
        }
        // Long.MIN_VALUE marks containers in ephemeralOwner; never hand it out.
        if next == i64::MIN {
            next += 1;
        }
        SessionIds { next }
    }

    /// The next id.
    pub fn next_id(&mut self) -> i64 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        id
    }
}

/// One live session as the tracker sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEntry {
    /// Negotiated timeout.
    pub timeout_ms: u32,
    /// Bucketed expiry time on the server clock.
    pub expires_at_ms: u64,
    /// A CloseSession for it is in the write pipeline; it must not be renewed any more.
    pub closing: bool,
}

/// The session table shared by the connections (touch, reconnect), the driver (expiry, a
/// learner's reported touches, a new leader's renewal) and apply (create, close).
#[derive(Debug)]
pub struct SessionTable {
    tracker: Mutex<SessionTracker>,
}

impl SessionTable {
    /// A table over `tracker` (recovered or empty).
    pub fn new(tracker: SessionTracker) -> SessionTable {
        SessionTable {
            tracker: Mutex::new(tracker),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SessionTracker> {
        self.tracker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the tracker under the lock (for what takes no time stamp).
    pub fn with<R>(&self, f: impl FnOnce(&mut SessionTracker) -> R) -> R {
        f(&mut self.lock())
    }

    /// Runs `f` on the tracker with the time `clock` returns, read under the lock, so that time
    /// stamps follow the lock order: with a monotonic clock a later touch never renews to an
    /// earlier deadline than one before it, and an expiry check sees every touch stamped before
    /// its own time.
    pub fn with_now<R>(
        &self,
        clock: impl FnOnce() -> u64,
        f: impl FnOnce(&mut SessionTracker, u64) -> R,
    ) -> R {
        let mut tracker = self.lock();
        let now_ms = clock();
        f(&mut tracker, now_ms)
    }

    /// [`SessionTracker::touch`] at the time `clock` returns (under the lock).
    pub fn touch(&self, session_id: i64, clock: impl FnOnce() -> u64) -> bool {
        if seeded_bug("sessions_touch_clock_outside_lock") {
            // Seeded bug (the shape of the code before the table read the clock): the time is
            // read before the lock is taken.
            let now_ms = clock();
            return self.with(|t| t.touch(session_id, now_ms));
        }
        self.with_now(clock, |t, now_ms| t.touch(session_id, now_ms))
    }

    /// [`SessionTracker::expired`] at the time `clock` returns (under the lock). A check stamped
    /// early would only be conservative (it expires deadlines at or before its time, and touches
    /// only move deadlines later); under the lock its stamp also follows the lock order.
    pub fn expire(&self, clock: impl FnOnce() -> u64, limit: usize) -> Vec<i64> {
        self.with_now(clock, |t, now_ms| t.expired(now_ms, limit))
    }
}

/// Live sessions and their expiry deadlines, bucketed to the tick like ZooKeeper's `ExpiryQueue`.
#[derive(Debug)]
pub struct SessionTracker {
    tick_ms: u64,
    sessions: BTreeMap<i64, SessionEntry>,
    /// Expiry bucket → sessions in it (ordered so the tick scan stops at the first future bucket).
    buckets: BTreeMap<u64, BTreeSet<i64>>,
    /// Sessions touched since the last [`SessionTracker::take_touched`] (a learner reports them
    /// to its leader, which alone expires sessions).
    touched: BTreeSet<i64>,
}

impl SessionTracker {
    /// An empty tracker whose buckets are `tick_ms` wide.
    pub fn new(tick_ms: u32) -> SessionTracker {
        SessionTracker {
            tick_ms: u64::from(tick_ms.max(1)),
            sessions: BTreeMap::new(),
            buckets: BTreeMap::new(),
            touched: BTreeSet::new(),
        }
    }

    /// `ExpiryQueue.roundToNextInterval`: the first bucket boundary strictly after `t`.
    fn bucket(&self, t_ms: u64) -> u64 {
        (t_ms / self.tick_ms + 1) * self.tick_ms
    }

    /// Adds (or re-adds) a session with a fresh deadline.
    pub fn add(&mut self, session_id: i64, timeout_ms: u32, now_ms: u64) {
        self.remove(session_id);
        let expires_at_ms = self.bucket(now_ms + u64::from(timeout_ms));
        self.sessions.insert(
            session_id,
            SessionEntry {
                timeout_ms,
                expires_at_ms,
                closing: false,
            },
        );
        self.buckets
            .entry(expires_at_ms)
            .or_default()
            .insert(session_id);
    }

    /// Renews a session's deadline; false if it is unknown or already closing.
    pub fn touch(&mut self, session_id: i64, now_ms: u64) -> bool {
        let Some(entry) = self.sessions.get(&session_id) else {
            return false;
        };
        // A closing session is never renewed (unless the loom seeded bug
        // `sessions_touch_revives_closing` is on).
        if entry.closing && !seeded_bug("sessions_touch_revives_closing") {
            return false;
        }
        self.touched.insert(session_id);
        let new_at = self.bucket(now_ms + u64::from(entry.timeout_ms));
        let old_at = entry.expires_at_ms;
        if new_at == old_at {
            return true;
        }
        self.unbucket(session_id, old_at);
        self.buckets.entry(new_at).or_default().insert(session_id);
        if let Some(entry) = self.sessions.get_mut(&session_id) {
            entry.expires_at_ms = new_at;
        }
        true
    }

    /// Sets a new timeout (a reconnect renegotiates it) and renews.
    pub fn set_timeout(&mut self, session_id: i64, timeout_ms: u32, now_ms: u64) {
        if let Some(entry) = self.sessions.get_mut(&session_id) {
            entry.timeout_ms = timeout_ms;
        }
        self.touch(session_id, now_ms);
    }

    /// The live sessions touched since the last call, with their timeouts (ZooKeeper's
    /// `LearnerSessionTracker.snapshot`, which a learner sends its leader in its PING).
    pub fn take_touched(&mut self) -> Vec<(i64, u32)> {
        let touched = std::mem::take(&mut self.touched);
        touched
            .into_iter()
            .filter_map(|id| self.get(id).map(|e| (id, e.timeout_ms)))
            .collect()
    }

    /// Restarts every live session's deadline from `now_ms` (a new leader: it cannot know when
    /// the old leader last heard from each client, as ZooKeeper's new leader does not).
    pub fn renew_all(&mut self, now_ms: u64) {
        let live: Vec<(i64, u32)> = self
            .sessions
            .iter()
            .filter(|(_, e)| !e.closing)
            .map(|(&id, e)| (id, e.timeout_ms))
            .collect();
        for (id, timeout_ms) in live {
            self.add(id, timeout_ms, now_ms);
        }
    }

    /// Marks a session as closing (no more renewals), as `SessionTrackerImpl.setSessionClosing`.
    pub fn set_closing(&mut self, session_id: i64) {
        if let Some(entry) = self.sessions.get_mut(&session_id) {
            entry.closing = true;
        }
    }

    /// Clears every closing mark (the server left broadcast: the closeSession txns it proposed
    /// or forwarded were discarded with its pipeline and may never commit). A session whose
    /// close does commit is removed when it applies; one whose close was lost is live again and
    /// expires like any other — kept closing, a new leader would never renew or expire it
    /// (`renew_all`, `expired` skip closing sessions) and it would live for ever with its
    /// ephemerals (simulation seed 29, verification.md §10). ZooKeeper rebuilds its session
    /// tracker from the tree at every role change, with no closing marks.
    pub fn clear_closing(&mut self) {
        for entry in self.sessions.values_mut() {
            entry.closing = false;
        }
    }

    /// Forgets a session (after its CloseSession txn applied).
    pub fn remove(&mut self, session_id: i64) {
        if let Some(entry) = self.sessions.remove(&session_id) {
            self.unbucket(session_id, entry.expires_at_ms);
        }
    }

    fn unbucket(&mut self, session_id: i64, at_ms: u64) {
        if let Some(set) = self.buckets.get_mut(&at_ms) {
            set.remove(&session_id);
            if set.is_empty() {
                self.buckets.remove(&at_ms);
            }
        }
    }

    /// The session if it is live and not closing.
    pub fn get(&self, session_id: i64) -> Option<&SessionEntry> {
        self.sessions.get(&session_id).filter(|e| !e.closing)
    }

    /// Whether the session is known at all (closing included).
    pub fn contains(&self, session_id: i64) -> bool {
        self.sessions.contains_key(&session_id)
    }

    /// At most `limit` sessions whose deadline is at or before `now_ms` and that are not already
    /// closing; each is marked closing so it is reported once. The rest stay due for next time.
    pub fn expired(&mut self, now_ms: u64, limit: usize) -> Vec<i64> {
        let due: Vec<u64> = self.buckets.range(..=now_ms).map(|(&at, _)| at).collect();
        let mut out = Vec::new();
        for at in due {
            let Some(ids) = self.buckets.remove(&at) else {
                continue;
            };
            let mut left = BTreeSet::new();
            for id in ids {
                if out.len() >= limit {
                    left.insert(id);
                    continue;
                }
                if let Some(entry) = self.sessions.get_mut(&id) {
                    if !entry.closing {
                        // Closing, so it is reported once (the loom seeded bug
                        // `sessions_expiry_not_closing` leaves it open).
                        entry.closing = !seeded_bug("sessions_expiry_not_closing");
                        out.push(id);
                    }
                }
            }
            if !left.is_empty() {
                self.buckets.insert(at, left);
                break;
            }
        }
        out
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// `(session id, timeout)` of every session, for `dump` and snapshots.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &SessionEntry)> {
        self.sessions.iter().map(|(&id, e)| (id, e))
    }

    /// The expiry buckets in order, for `dump`.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, &BTreeSet<i64>)> {
        self.buckets.iter().map(|(&at, ids)| (at, ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touched_sessions_are_reported_once_and_a_new_leader_renews_every_deadline() {
        let mut t = SessionTracker::new(100);
        t.add(1, 1000, 0);
        t.add(2, 2000, 0);
        t.add(3, 3000, 0);
        assert!(t.take_touched().is_empty(), "adding is not touching");
        assert!(t.touch(2, 50));
        assert!(t.touch(1, 60));
        assert!(!t.touch(9, 60), "unknown");
        t.set_closing(1);
        assert_eq!(
            t.take_touched(),
            vec![(2, 2000)],
            "closing sessions are not reported"
        );
        assert!(t.take_touched().is_empty());
        // Every live session is overdue at 5000; renewed then, 2 is due at 7100 and 3 at 8100.
        t.renew_all(5000);
        assert!(t.expired(7000, 10).is_empty());
        assert_eq!(t.expired(8000, 10), vec![2]);
        assert_eq!(t.expired(8100, 10), vec![3]);
        assert!(t.get(1).is_none(), "a closing session stays closing");
    }

    #[test]
    fn a_session_whose_close_was_discarded_expires_again_under_the_next_leader() {
        let mut t = SessionTracker::new(100);
        t.add(1, 1000, 0);
        assert_eq!(
            t.expired(1100, 10),
            vec![1],
            "the leader proposes its close"
        );
        // The close is lost with the leadership; the server leads again later.
        t.clear_closing();
        t.renew_all(5000);
        assert!(t.get(1).is_some(), "live again");
        assert_eq!(
            t.expired(6100, 10),
            vec![1],
            "and expired by the new leader"
        );
    }

    #[test]
    fn the_table_reads_the_clock_under_its_lock() {
        // Stamps read before the lock could take effect out of their order (a later touch's
        // deadline pulled back by an earlier one); the loom model in tests/loom/sessions.rs
        // shows the interleaving. Here: the lock is held whenever the clock is read.
        let mut tracker = SessionTracker::new(100);
        tracker.add(7, 1000, 0);
        let table = SessionTable::new(tracker);
        let locked = || table.tracker.try_lock().is_err();
        assert!(table.touch(7, || {
            assert!(locked(), "touch read the clock outside the lock");
            500
        }));
        assert_eq!(
            table.with(|t| t.get(7).map(|e| e.expires_at_ms)),
            Some(1600)
        );
        let expired = table.expire(
            || {
                assert!(locked(), "expiry read the clock outside the lock");
                1600
            },
            10,
        );
        assert_eq!(expired, vec![7]);
        table.with_now(
            || {
                assert!(locked(), "with_now read the clock outside the lock");
                0
            },
            |_, _| (),
        );
    }

    #[test]
    fn java_random_matches_known_sequence() {
        // new java.util.Random(0).nextInt() == -1155484576, then -723955400.
        let mut r = JavaRandom::new(0);
        assert_eq!(r.next_int(), -1_155_484_576);
        assert_eq!(r.next_int(), -723_955_400);
        // new Random(42).nextInt() == -1170105035.
        assert_eq!(JavaRandom::new(42).next_int(), -1_170_105_035);
    }

    #[test]
    fn next_bytes_takes_low_byte_first() {
        let mut bytes = [0u8; 5];
        JavaRandom::new(0).next_bytes(&mut bytes);
        let first = (-1_155_484_576i32).to_le_bytes();
        assert_eq!(&bytes[..4], &first);
        assert_eq!(bytes[4], (-723_955_400i32) as u8);
    }

    #[test]
    fn password_is_deterministic_and_checked() {
        let id = 0x0100_00C0_4367_0000;
        let pw = password_for(id);
        assert!(password_matches(id, &pw));
        assert!(!password_matches(id + 1, &pw));
        assert!(!password_matches(id, &pw[..15]));
        assert!(!password_matches(id, &[0u8; 16]));
    }

    #[test]
    fn ids_carry_server_byte_and_clock() {
        let mut ids = SessionIds::new(1, 0xC0_4367, []);
        let a = ids.next_id();
        assert_eq!(a, 0x0100_00C0_4367_0000);
        assert_eq!(ids.next_id(), a + 1);
    }

    #[test]
    fn ids_stay_above_recovered_sessions() {
        let recovered = 0x0100_00C0_4367_0005;
        let mut ids = SessionIds::new(1, 0xC0_4367, [recovered, 0x0200_FFFF_FFFF_0000]);
        assert_eq!(ids.next_id(), recovered + 1);
    }

    #[test]
    fn expiry_is_bucketed_and_touch_renews() {
        let mut t = SessionTracker::new(100);
        t.add(7, 1000, 50);
        // 50 + 1000 = 1050 → bucket 1100.
        assert_eq!(t.get(7).map(|e| e.expires_at_ms), Some(1100));
        assert!(t.expired(1099, 10).is_empty());
        assert!(t.touch(7, 500));
        assert_eq!(t.get(7).map(|e| e.expires_at_ms), Some(1600));
        assert!(t.expired(1100, 10).is_empty());
        assert_eq!(t.expired(1600, 10), vec![7]);
        // Reported once, then closing: touch no longer renews.
        assert!(t.expired(5000, 10).is_empty());
        assert!(!t.touch(7, 5000));
        assert!(t.contains(7));
        t.remove(7);
        assert!(!t.contains(7));
        assert!(t.is_empty());
    }

    #[test]
    fn expiry_is_limited_per_call_and_resumes() {
        let mut t = SessionTracker::new(100);
        for id in 1..=5 {
            t.add(id, 100, 0);
        }
        assert_eq!(t.expired(1000, 2), vec![1, 2]);
        assert_eq!(t.expired(1000, 2), vec![3, 4]);
        assert_eq!(t.expired(1000, 2), vec![5]);
        assert!(t.expired(1000, 2).is_empty());
    }
}
