//! Session resumes waiting for the leader's verdict (`spec/zab.md` §5.7, REVALIDATE).
//!
//! Role: a connection whose ConnectRequest names a session (a reconnect with its id and
//! password) hands the driver a [`RevalidateWaiter`] (`NodeMsg::Revalidate`) and waits. The
//! driver registers it here and steps `Input::Revalidate { session, timeout_ms }`: a learner's
//! core asks its leader (REVALIDATE), a leader's core asks its own runtime
//! (`Effect::CheckSession`, answered from the leader's session table by
//! [`check_session`]). The leader's core answers the check once a quorum echoed a heartbeat
//! round started after it (ZAB-REVALIDATE-QUORUM: a deposed leader's table is not the
//! ensemble's). The verdict, `Effect::Revalidated { session, valid }`, answers every waiter of
//! that session ([`Revalidations::answer`]); `Effect::RevalidateFailed` and
//! leaving broadcast drop them, which the connection reads as "close without an answer" (the
//! client reconnects elsewhere), as ZooKeeper closes a connection whose revalidation its
//! learner could not finish.
//!
//! Why: a learner's own session table may not have applied a session's close yet (it lags, or
//! is cut off from its leader and still serving until syncLimit), so it would resume a session
//! its leader has already expired (verification.md §10, defect 5). The leader's table decides
//! expiry, so the leader's verdict is the one that counts, and only while a quorum follows it.

use std::collections::BTreeMap;

use tokio::sync::oneshot;

use crate::server::shared::Shared;

/// A connection waiting for the verdict on the session it resumes.
#[derive(Debug)]
pub struct RevalidateWaiter {
    /// The session id from the ConnectRequest (password already checked).
    pub session: i64,
    /// The timeout negotiated on this connection (ms).
    pub timeout_ms: i32,
    /// The verdict: live at the leader or not. Dropped: no verdict (close the connection).
    pub reply: oneshot::Sender<bool>,
}

impl RevalidateWaiter {
    /// No verdict: the connection closes without answering the handshake.
    pub fn refuse(self) {
        drop(self.reply);
    }
}

/// Every resume of this server the core has not judged yet, by session.
#[derive(Debug, Default)]
pub struct Revalidations {
    waiting: BTreeMap<i64, Vec<oneshot::Sender<bool>>>,
}

impl Revalidations {
    /// Nothing pending.
    pub fn new() -> Revalidations {
        Revalidations::default()
    }

    /// Registers a waiter; its session and timeout go to the core as `Input::Revalidate`.
    pub fn issue(&mut self, waiter: RevalidateWaiter) -> (i64, i32) {
        let RevalidateWaiter {
            session,
            timeout_ms,
            reply,
        } = waiter;
        self.waiting.entry(session).or_default().push(reply);
        (session, timeout_ms)
    }

    /// `Effect::Revalidated { session, valid }`: every waiter of the session gets the verdict.
    pub fn answer(&mut self, session: i64, valid: bool) {
        for reply in self.waiting.remove(&session).unwrap_or_default() {
            let _ = reply.send(valid);
        }
    }

    /// `Effect::RevalidateFailed { session }`: its waiters get no verdict.
    pub fn failed(&mut self, session: i64) {
        self.waiting.remove(&session);
    }

    /// This server stopped serving: every pending resume fails.
    pub fn fail_all(&mut self) {
        self.waiting.clear();
    }

    /// Resumes not judged yet.
    pub fn pending(&self) -> usize {
        self.waiting.values().map(Vec::len).sum()
    }
}

/// The leader's side (`Effect::CheckSession`, ZooKeeper's `Leader.revalidateSession` →
/// `touch`): is `session` in my table, or created by a txn I prepared and have not applied yet
/// (`creating`)? A live one is touched with the client's negotiated timeout (a closing one is
/// not renewed: `SessionTracker::touch`).
///
/// A *closing* session (its close proposed, not applied) is still valid, unlike ZooKeeper,
/// whose `touchSession` refuses it: only a close this leader applied — committed — makes a
/// resume invalid. A leader deposed without knowing it (paused, its clock jumped past the
/// session's deadline on resume) marks the session closing and proposes a close that never
/// commits; answering "expired" then tells a session the ensemble keeps alive that it expired
/// (simulation seed 218, verification.md §10). The client told "valid" here is closed when the
/// close applies, and its writes meanwhile fail with SessionExpired (`pipeline::checked_session`).
pub fn check_session(shared: &Shared, session: i64, timeout_ms: i32, creating: bool) -> bool {
    shared.with_sessions_now(|t, now| {
        if t.contains(session) {
            t.set_timeout(session, timeout_ms.max(0) as u32, now);
            true
        } else {
            creating
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(session: i64) -> (RevalidateWaiter, oneshot::Receiver<bool>) {
        let (reply, rx) = oneshot::channel();
        let w = RevalidateWaiter {
            session,
            timeout_ms: 4000,
            reply,
        };
        (w, rx)
    }

    /// One verdict answers every connection resuming the session; a failure answers none, and
    /// the other sessions keep waiting.
    #[test]
    fn one_verdict_per_session_and_failures_drop_the_waiters() {
        let mut r = Revalidations::new();
        let (a1, mut rx_a1) = waiter(7);
        let (a2, mut rx_a2) = waiter(7);
        let (b, mut rx_b) = waiter(8);
        assert_eq!(r.issue(a1), (7, 4000));
        r.issue(a2);
        r.issue(b);
        assert_eq!(r.pending(), 3);
        r.answer(7, false);
        assert_eq!(rx_a1.try_recv(), Ok(false));
        assert_eq!(rx_a2.try_recv(), Ok(false));
        assert!(rx_b.try_recv().is_err(), "session 8 still waits");
        r.failed(8);
        assert_eq!(rx_b.try_recv(), Err(oneshot::error::TryRecvError::Closed));
        assert_eq!(r.pending(), 0);
        let (c, mut rx_c) = waiter(9);
        r.issue(c);
        r.fail_all();
        assert_eq!(rx_c.try_recv(), Err(oneshot::error::TryRecvError::Closed));
    }
}
