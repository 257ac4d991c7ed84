//! The group-commit hand-off (`storage/group_commit.rs`): submitters and the log writer thread
//! share one queue behind a `Mutex` and two `Condvar`s.
//!
//! Invariants asserted in every explored interleaving:
//! - no lost wakeup: a submitter that waits for its completion gets it, a submitter blocked on a
//!   full queue is let in (loom fails a model whose threads all block: "deadlock");
//! - a completion `Durable { upto }` is reported only after a `sync` that covered `upto`
//!   returned (the storage records what its last sync covered; the callback checks it);
//! - completions come in submit order: `upto` strictly increases and ends at the last zxid;
//! - an `execute` job runs after every append queued before it is durable;
//! - `shutdown` drains: every accepted append is durable and reported when it returns.

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use zabkeeper::storage::{
    encode_txn_payload, Completion, GroupCommit, GroupCommitConfig, MemStorage, Storage,
};

use crate::hooked::Hooked;
use crate::{caught, explore};

/// Preemption bounds (loom's `preemption_bound`), chosen for a few seconds each on two cores;
/// a bound of 2 already finds every seeded bug below. Measured in verification.md "loom".
const SUBMIT_AND_WAIT_PREEMPTIONS: usize = 6;
const JOB_THEN_SHUTDOWN_PREEMPTIONS: usize = 4;

/// Appends per model: with `max_batch` 2 they take at least two batches.
const LAST: u64 = 3;

/// The completions reported so far, and a condvar to wait for the next.
#[derive(Default)]
struct Reported {
    uptos: Mutex<Vec<u64>>,
    changed: Condvar,
}

impl Reported {
    fn wait_for(&self, zxid: u64) {
        let mut uptos = self.uptos.lock().unwrap();
        while uptos.last().map_or(true, |&upto| upto < zxid) {
            uptos = self.changed.wait(uptos).unwrap();
        }
    }
}

/// A writer over fresh storage whose queue holds `queue_capacity` requests, `max_batch` 2.
/// The callback asserts that each completion is covered by a returned sync.
fn start(queue_capacity: usize) -> (GroupCommit<Hooked>, Arc<Reported>, Arc<AtomicU64>) {
    let synced = Arc::new(AtomicU64::new(0));
    let reported = Arc::new(Reported::default());
    // Publishes the newest zxid the last returned `sync` covered.
    let storage = {
        let synced = Arc::clone(&synced);
        Hooked::after_sync(MemStorage::new(), move |upto| {
            synced.store(upto, Ordering::SeqCst)
        })
    };
    let config = GroupCommitConfig {
        queue_capacity,
        max_batch: 2,
    };
    let on_complete = {
        let synced = Arc::clone(&synced);
        let reported = Arc::clone(&reported);
        move |completion| match completion {
            Completion::Durable { upto } => {
                let covered = synced.load(Ordering::SeqCst);
                assert!(
                    upto <= covered,
                    "Durable {{ upto: {upto} }} reported before a sync covered it (synced {covered})"
                );
                reported.uptos.lock().unwrap().push(upto);
                reported.changed.notify_all();
            }
            Completion::Failed { error } => panic!("MemStorage failed: {error}"),
        }
    };
    let gc = GroupCommit::spawn(storage, config, on_complete).expect("spawn the writer");
    (gc, reported, synced)
}

fn payload(zxid: u64) -> Vec<u8> {
    encode_txn_payload(zxid, 1, b"")
}

/// After shutdown: completions strictly increase and end at `last`; the log holds 1..=last.
fn check_drained(storage: &Hooked, reported: &Reported, last: u64) {
    let uptos = reported.uptos.lock().unwrap().clone();
    assert!(
        uptos.windows(2).all(|w| w[0] < w[1]),
        "completions out of submit order: {uptos:?}"
    );
    assert_eq!(
        uptos.last().copied(),
        Some(last),
        "shutdown returned before every accepted append was reported durable: {uptos:?}"
    );
    assert_eq!(
        storage.inner.durable_zxid(),
        last,
        "not every append is durable"
    );
    let logged: Vec<u64> = storage
        .inner
        .clone()
        .read_from(1)
        .expect("read the log")
        .map(|r| r.expect("record").0)
        .collect();
    assert_eq!(
        logged,
        (1..=last).collect::<Vec<_>>(),
        "log out of submit order"
    );
}

/// One submitter waits for each append's completion in turn while the writer batches; the queue
/// holds one request, so the second `submit` may block on a full queue.
fn submit_and_wait() {
    let (gc, reported, _) = start(1);
    for zxid in 1..=LAST {
        gc.submit(zxid, payload(zxid)).expect("submit");
    }
    reported.wait_for(LAST);
    let storage = gc.shutdown().expect("shutdown");
    check_drained(&storage, &reported, LAST);
}

/// Two threads: one submits appends, the other runs a storage job (`call`) concurrently; the job
/// must see every append queued before it durable. Then shutdown without waiting: it drains.
fn job_between_appends_then_shutdown() {
    let (gc, reported, synced) = start(2);
    let gc = std::sync::Arc::new(gc);
    let jobs = {
        let gc = std::sync::Arc::clone(&gc);
        let synced = Arc::clone(&synced);
        loom::thread::spawn(move || {
            let (logged, durable) = gc
                .call(move |s: &mut Hooked| (s.last_logged_zxid(), synced.load(Ordering::SeqCst)))
                .expect("call");
            assert_eq!(
                logged, durable,
                "a job ran while appends queued before it were not yet durable"
            );
        })
    };
    for zxid in 1..=LAST {
        gc.submit(zxid, payload(zxid)).expect("submit");
    }
    jobs.join().expect("job thread");
    let gc = std::sync::Arc::into_inner(gc).expect("sole owner");
    let storage = gc.shutdown().expect("shutdown");
    check_drained(&storage, &reported, LAST);
}

const SUBMIT_AND_WAIT: &str = "group_commit::group_commit_submit_and_wait";
const JOB_THEN_SHUTDOWN: &str = "group_commit::group_commit_job_between_appends_then_shutdown";

#[test]
fn group_commit_submit_and_wait() {
    explore(
        "group_commit_submit_and_wait",
        SUBMIT_AND_WAIT_PREEMPTIONS,
        submit_and_wait,
    );
}

#[test]
fn group_commit_job_between_appends_then_shutdown() {
    explore(
        "group_commit_job_then_shutdown",
        JOB_THEN_SHUTDOWN_PREEMPTIONS,
        job_between_appends_then_shutdown,
    );
}

#[test]
fn group_commit_seeded_wake_before_push_is_a_lost_wakeup() {
    let out = caught("group_commit_wake_before_push", SUBMIT_AND_WAIT);
    assert!(out.contains("deadlock"), "{out}");
}

#[test]
fn group_commit_seeded_missing_submitter_wakeup_blocks_a_submitter() {
    let out = caught("group_commit_no_submitter_wakeup", SUBMIT_AND_WAIT);
    assert!(out.contains("deadlock"), "{out}");
}

#[test]
fn group_commit_seeded_report_before_sync_is_caught() {
    let out = caught("group_commit_report_before_sync", SUBMIT_AND_WAIT);
    assert!(out.contains("before a sync covered it"), "{out}");
}

#[test]
fn group_commit_seeded_shutdown_dropping_the_queue_is_caught() {
    let out = caught("group_commit_shutdown_drops_queue", JOB_THEN_SHUTDOWN);
    assert!(out.contains("shutdown returned before"), "{out}");
}
