//! The core's named timers on tokio time: `Effect::SetTimer { timer, ticks }` arms `timer` to
//! expire `ticks × tickTime` later, `Effect::CancelTimer(timer)` disarms it, and an expired timer
//! becomes `Input::Timeout(timer)`.
//!
//! Used by `server/driver`, which executes the node's timer effects here and feeds every
//! expiry back to `Node::step`.
//!
//! Semantics are the core's (spec/election.md §Timers, `protocol::timer`): at most one of each
//! [`Timer`] is armed; setting an armed timer replaces its deadline (earlier or later); cancelling
//! an unarmed timer does nothing; a timer expires once and is then disarmed. Timers due at the
//! same instant expire in the order they were set, so the order of `Input::Timeout`s is a function
//! of the effects alone.
//!
//! The clock seam is tokio's: deadlines are `tokio::time::Instant`s and waiting is
//! `tokio::time::sleep_until`, which tokio's paused test clock and turmoil's simulated time both
//! drive. Nothing here reads the wall clock or sleeps on an OS thread. A `BTreeMap` of at most five
//! entries is all the bookkeeping there is (no timer wheel is needed for five timers).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::protocol::{Effect, Input, Timer};

/// A deadline past any run: what a delay too long for the clock becomes.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The armed timers of one node.
#[derive(Debug)]
pub struct Timers {
    tick: Duration,
    armed: BTreeMap<Timer, Armed>,
    next_seq: u64,
}

#[derive(Clone, Copy, Debug)]
struct Armed {
    deadline: Instant,
    /// Order of arming, to break ties between equal deadlines.
    seq: u64,
}

impl Timers {
    /// No timer armed; one tick lasts `tick` (zoo.cfg `tickTime`).
    ///
    /// # Panics
    ///
    /// If `tick` is zero: every timer would expire at once, for ever (configuration refuses a
    /// zero `tickTime` before a node is built).
    pub fn new(tick: Duration) -> Timers {
        assert!(!tick.is_zero(), "tickTime must be positive");
        Timers {
            tick,
            armed: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// The length of one tick.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// Arms `timer` to expire `ticks` ticks from now, replacing any earlier arming of it.
    pub fn set(&mut self, timer: Timer, ticks: u32) {
        let now = Instant::now();
        let delay = self.tick.checked_mul(ticks).unwrap_or(FAR_FUTURE);
        let deadline = now
            .checked_add(delay)
            .or_else(|| now.checked_add(FAR_FUTURE))
            .unwrap_or(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.armed.insert(timer, Armed { deadline, seq });
    }

    /// Disarms `timer` (nothing happens if it is not armed).
    pub fn cancel(&mut self, timer: Timer) {
        self.armed.remove(&timer);
    }

    /// Executes a timer effect; returns `false` (and does nothing) for any other effect.
    pub fn execute(&mut self, effect: &Effect) -> bool {
        match effect {
            Effect::SetTimer { timer, ticks } => self.set(*timer, *ticks),
            Effect::CancelTimer(timer) => self.cancel(*timer),
            _ => return false,
        }
        true
    }

    /// Is `timer` armed?
    pub fn is_armed(&self, timer: Timer) -> bool {
        self.armed.contains_key(&timer)
    }

    /// When `timer` expires, if armed.
    pub fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.armed.get(&timer).map(|a| a.deadline)
    }

    /// Waits for the next timer to expire, disarms it and returns it; never returns while no timer
    /// is armed.
    ///
    /// Cancel-safe: dropping the future before it completes (a `select!` branch that lost)
    /// changes nothing, so the timer stays armed and a later call still reports it.
    pub async fn expired(&mut self) -> Timer {
        let Some((timer, deadline)) = self.earliest() else {
            return std::future::pending().await;
        };
        tokio::time::sleep_until(deadline).await;
        self.armed.remove(&timer);
        timer
    }

    /// [`expired`](Self::expired) as the core's input.
    pub async fn next_input(&mut self) -> Input {
        Input::Timeout(self.expired().await)
    }

    fn earliest(&self) -> Option<(Timer, Instant)> {
        self.armed
            .iter()
            .min_by_key(|(_, a)| (a.deadline, a.seq))
            .map(|(t, a)| (*t, a.deadline))
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::timeout;

    use super::*;

    const TICK: Duration = Duration::from_millis(200);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Long enough that anything still armed would have expired (free on the paused clock).
    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn expires_after_ticks_times_tick_time_and_not_before() {
        let mut t = Timers::new(TICK);
        let start = Instant::now();
        t.set(Timer::Notify, 3);
        assert_eq!(t.deadline(Timer::Notify), Some(start + ms(600)));
        assert!(timeout(ms(599), t.expired()).await.is_err(), "early");
        assert!(t.is_armed(Timer::Notify), "a dropped wait disarms nothing");
        assert_eq!(timeout(ms(2), t.expired()).await, Ok(Timer::Notify));
        assert!(!t.is_armed(Timer::Notify), "one-shot");
        assert!(timeout(HOUR, t.expired()).await.is_err(), "fires once");
    }

    #[tokio::test(start_paused = true)]
    async fn setting_again_replaces_with_an_earlier_deadline() {
        let mut t = Timers::new(TICK);
        let start = Instant::now();
        t.set(Timer::Notify, 5);
        t.set(Timer::Notify, 1);
        assert_eq!(t.expired().await, Timer::Notify);
        assert!(start.elapsed() < ms(201), "the 1-tick arming won");
        assert!(
            timeout(HOUR, t.expired()).await.is_err(),
            "the 5-tick arming is gone"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn setting_again_replaces_with_a_later_deadline() {
        let mut t = Timers::new(TICK);
        t.set(Timer::Heartbeat, 1);
        assert!(timeout(ms(100), t.expired()).await.is_err());
        // Re-armed half a tick in: due 4 ticks from now, not at the old 1-tick deadline.
        t.set(Timer::Heartbeat, 4);
        assert!(timeout(ms(799), t.expired()).await.is_err(), "old deadline");
        assert_eq!(timeout(ms(2), t.expired()).await, Ok(Timer::Heartbeat));
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_disarms_and_cancelling_an_unarmed_timer_is_harmless() {
        let mut t = Timers::new(TICK);
        t.cancel(Timer::InitLimit);
        t.set(Timer::SyncLimit, 2);
        t.set(Timer::InitLimit, 3);
        t.cancel(Timer::SyncLimit);
        assert!(!t.is_armed(Timer::SyncLimit));
        assert_eq!(t.expired().await, Timer::InitLimit, "the other stays armed");
        assert!(timeout(HOUR, t.expired()).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn timers_expire_in_deadline_order_then_in_arming_order() {
        let mut t = Timers::new(TICK);
        t.set(Timer::InitLimit, 3);
        t.set(Timer::FinalizeWait, 1);
        t.set(Timer::Notify, 1);
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(t.expired().await);
        }
        assert_eq!(
            got,
            vec![Timer::FinalizeWait, Timer::Notify, Timer::InitLimit]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_ticks_expires_without_the_clock_moving() {
        let mut t = Timers::new(TICK);
        let start = Instant::now();
        t.set(Timer::Notify, 0);
        assert_eq!(t.expired().await, Timer::Notify);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn executes_timer_effects_and_yields_timeout_inputs() {
        let mut t = Timers::new(TICK);
        assert!(t.execute(&Effect::SetTimer {
            timer: Timer::SyncLimit,
            ticks: 2,
        }));
        assert!(t.execute(&Effect::SetTimer {
            timer: Timer::Heartbeat,
            ticks: 1,
        }));
        assert!(t.execute(&Effect::CancelTimer(Timer::Heartbeat)));
        assert!(!t.execute(&Effect::Proposed {
            zxid: crate::protocol::Zxid(1)
        }));
        assert_eq!(t.next_input().await, Input::Timeout(Timer::SyncLimit));
        assert!(timeout(HOUR, t.next_input()).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_lost_in_a_select_keeps_the_timer() {
        let mut t = Timers::new(TICK);
        t.set(Timer::Notify, 2);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        tx.send(()).await.unwrap();
        tokio::select! {
            biased;
            _ = rx.recv() => {}
            _ = t.expired() => panic!("the ready branch comes first"),
        }
        assert!(t.is_armed(Timer::Notify));
        assert_eq!(t.expired().await, Timer::Notify);
    }

    #[test]
    #[should_panic(expected = "tickTime must be positive")]
    fn a_zero_tick_is_refused() {
        let _ = Timers::new(Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn an_enormous_delay_does_not_overflow() {
        let mut t = Timers::new(Duration::from_secs(u64::MAX / 2));
        t.set(Timer::Notify, u32::MAX);
        assert!(t.is_armed(Timer::Notify));
        assert!(timeout(HOUR, t.expired()).await.is_err());
    }
}
