//! The group commit (`storage/group_commit.rs`, `spec/storage.md` §7): batching, concurrent
//! submitters, durability before completion, the bounded queue, a failed fsync, and the commit
//! watermark written with a batch. Deterministic: no sleeps, no timing (the writer is held with
//! `GroupCommit::hold` where a test needs a queue).

mod storage_support;

use std::fs;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use storage_support::hooked::Hooked;
use storage_support::*;
use zabkeeper::storage::group_commit::GroupCommitStats;
use zabkeeper::storage::{
    Completion, FileStorage, GroupCommit, GroupCommitConfig, GroupCommitError, MemStorage,
    Recovered, Storage, StorageConfig, StorageError,
};

fn completions() -> (mpsc::Sender<Completion>, mpsc::Receiver<Completion>) {
    mpsc::channel()
}

fn wait_durable(rx: &mpsc::Receiver<Completion>, target: u64) -> u64 {
    loop {
        match rx.recv().expect("writer alive") {
            Completion::Durable { upto } if upto >= target => return upto,
            Completion::Durable { .. } => {}
            Completion::Failed { error } => panic!("writer failed: {error}"),
        }
    }
}

#[test]
fn group_commit_batches_queued_appends_into_one_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 1 << 20, 1000);
    let storage = fresh(&config);
    let (tx, rx) = completions();
    let gc = GroupCommit::spawn(storage, GroupCommitConfig::default(), move |c| {
        let _ = tx.send(c);
    })
    .expect("spawn");
    {
        let _hold = gc.hold();
        for zxid in 1..=100 {
            gc.submit(zxid, payload(zxid)).expect("submit");
        }
        assert_eq!(gc.queued(), 100);
    }
    assert_eq!(wait_durable(&rx, 100), 100);
    assert_eq!(
        gc.stats(),
        GroupCommitStats {
            appends: 100,
            batches: 1
        }
    );
    // Later storage operations run in order on the writer thread.
    assert_eq!(gc.call(|s| s.durable_zxid()).expect("call"), 100);
    let storage = gc.shutdown().expect("shutdown");
    drop(storage);
    assert_eq!(zxids(&reopen(&config)), (1..=100).collect::<Vec<_>>());
}

#[test]
fn group_commit_concurrent_submitters_every_completion_is_durable() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 1 << 20, 1000);
    let storage = fresh(&config);
    let durable = Arc::new((Mutex::new(0u64), std::sync::Condvar::new()));
    let durable_cb = Arc::clone(&durable);
    let gc = GroupCommit::spawn(
        storage,
        GroupCommitConfig {
            queue_capacity: 1024,
            max_batch: 64,
        },
        move |c| match c {
            Completion::Durable { upto } => {
                let (lock, cvar) = &*durable_cb;
                *lock.lock().expect("lock") = upto;
                cvar.notify_all();
            }
            Completion::Failed { error } => panic!("writer failed: {error}"),
        },
    )
    .expect("spawn");
    // Zxids are handed out and submitted under one lock: the runtime's single node task.
    let next_zxid = Mutex::new(0u64);
    let (submitted_tx, submitted_rx) = mpsc::channel::<()>();
    let mine: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let hold = gc.hold();
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let gc = &gc;
                let next_zxid = &next_zxid;
                let durable = Arc::clone(&durable);
                let submitted_tx = submitted_tx.clone();
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for _ in 0..PER_THREAD {
                        let mut next = next_zxid.lock().expect("lock");
                        *next += 1;
                        gc.submit(*next, payload(*next)).expect("submit");
                        mine.push(*next);
                    }
                    submitted_tx.send(()).expect("signal");
                    // Wait until my newest append is reported durable.
                    let (lock, cvar) = &*durable;
                    let mut upto = lock.lock().expect("lock");
                    while *upto < *mine.last().expect("some") {
                        upto = cvar.wait(upto).expect("wait");
                    }
                    mine
                })
            })
            .collect();
        for _ in 0..THREADS {
            submitted_rx.recv().expect("submitted");
        }
        drop(hold);
        handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .collect()
    });
    let stats = gc.stats();
    assert_eq!(stats.appends, THREADS * PER_THREAD);
    assert!(stats.batches < stats.appends, "{stats:?}");
    assert!(
        stats.batches >= (THREADS * PER_THREAD).div_ceil(64),
        "{stats:?}"
    );
    drop(gc.shutdown().expect("shutdown"));
    let recovered = reopen(&config);
    let on_disk = zxids(&recovered);
    assert_eq!(on_disk, (1..=THREADS * PER_THREAD).collect::<Vec<_>>());
    for zxid in mine.iter().flatten() {
        assert!(
            on_disk.binary_search(zxid).is_ok(),
            "{zxid} reported durable but lost"
        );
    }
}

#[test]
fn group_commit_reports_durable_only_after_the_fsync_returned() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let synced_events = Arc::clone(&events);
    let storage = Hooked::after_sync(MemStorage::new(), move |upto| {
        synced_events
            .lock()
            .expect("lock")
            .push(format!("synced {upto}"));
    });
    let events_cb = Arc::clone(&events);
    let (tx, rx) = completions();
    let gc = GroupCommit::spawn(
        storage,
        GroupCommitConfig {
            queue_capacity: 8,
            max_batch: 3,
        },
        move |c| {
            if let Completion::Durable { upto } = &c {
                events_cb
                    .lock()
                    .expect("lock")
                    .push(format!("durable {upto}"));
            }
            let _ = tx.send(c);
        },
    )
    .expect("spawn");
    {
        let _hold = gc.hold();
        for zxid in 1..=8 {
            gc.submit(zxid, payload(zxid)).expect("submit");
        }
    }
    for zxid in 9..=20 {
        gc.submit(zxid, payload(zxid)).expect("submit");
    }
    wait_durable(&rx, 20);
    let events = events.lock().expect("lock").clone();
    let mut synced = 0u64;
    for event in &events {
        let (kind, n) = event.split_once(' ').expect("event");
        let n: u64 = n.parse().expect("number");
        match kind {
            "synced" => synced = n,
            _ => assert!(
                n <= synced,
                "durable {n} reported before its fsync: {events:?}"
            ),
        }
    }
    // max_batch bounds every batch: 8 queued under hold took at least 3 fsyncs.
    assert!(gc.stats().batches >= 3 + 4, "{:?}", gc.stats());
    let storage = gc.shutdown().expect("shutdown");
    assert_eq!(storage.inner.durable_zxid(), 20);
}

#[test]
fn group_commit_queue_is_bounded() {
    let (tx, _rx) = completions();
    let gc = GroupCommit::spawn(
        MemStorage::new(),
        GroupCommitConfig {
            queue_capacity: 4,
            max_batch: 4,
        },
        move |c| {
            let _ = tx.send(c);
        },
    )
    .expect("spawn");
    let hold = gc.hold();
    for zxid in 1..=4 {
        assert_eq!(gc.try_submit(zxid, payload(zxid)).expect("queued"), None);
    }
    assert_eq!(
        gc.try_submit(5, payload(5)).expect("full"),
        Some(payload(5))
    );
    assert!(matches!(
        gc.try_submit(6, payload(7)),
        Err(GroupCommitError::Rejected(
            StorageError::ZxidMismatch { .. }
        ))
    ));
    drop(hold);
    let storage = gc.shutdown().expect("shutdown drains the queue");
    assert_eq!(storage.durable_zxid(), 4);
}

#[test]
fn group_commit_stops_for_good_after_a_failed_fsync() {
    // fdatasync fails once zxid 3 is in the buffer.
    let storage = Hooked {
        inner: MemStorage::new(),
        before: Box::new(|inner| {
            if inner.last_logged_zxid() >= 3 {
                return Err(StorageError::Io {
                    op: "fdatasync",
                    path: "test".into(),
                    source: std::io::Error::other("injected EIO"),
                });
            }
            Ok(())
        }),
        after: Box::new(|_| ()),
    };
    let (tx, rx) = completions();
    let gc = GroupCommit::spawn(storage, GroupCommitConfig::default(), move |c| {
        let _ = tx.send(c);
    })
    .expect("spawn");
    {
        let _hold = gc.hold();
        gc.submit(1, payload(1)).expect("submit");
        gc.submit(2, payload(2)).expect("submit");
    }
    assert_eq!(wait_durable(&rx, 2), 2);
    gc.submit(3, payload(3)).expect("submit");
    match rx.recv().expect("completion") {
        Completion::Failed { .. } => {}
        Completion::Durable { upto } => panic!("durable {upto} despite a failed fsync"),
    }
    assert!(matches!(
        gc.submit(4, payload(4)),
        Err(GroupCommitError::Failed(_))
    ));
    assert!(matches!(
        gc.call(|s| s.last_logged_zxid()),
        Err(GroupCommitError::Failed(_))
    ));
    let storage = gc.shutdown().expect("shutdown");
    assert_eq!(storage.inner.durable_zxid(), 2);
}

/// `PersistTxns.committed` lands on disk: the group commit records the highest watermark its
/// batch carried with the batch's sync, recovery returns it (clamped to the log), a truncation
/// lowers it, and a directory without the file (ZooKeeper's) recovers none.
#[test]
fn commit_watermark_is_recorded_with_the_batch_and_recovered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), 0, 100);
    let storage = fresh(&cfg);
    assert_eq!(
        reopen_after(storage, &cfg).committed,
        None,
        "never recorded"
    );
    let (storage, _) = FileStorage::open(cfg.clone()).expect("open");
    let (tx, rx) = mpsc::channel();
    let gc = GroupCommit::spawn(storage, GroupCommitConfig::default(), move |c| {
        let _ = tx.send(c);
    })
    .expect("spawn");
    for (zxid, committed) in [(1u64, 0u64), (2, 1), (3, 2)] {
        assert!(gc
            .try_submit_committed(zxid, payload(zxid), committed)
            .expect("submit")
            .is_none());
    }
    let mut upto = 0;
    while upto < 3 {
        match rx.recv().expect("completion") {
            Completion::Durable { upto: u } => upto = u,
            Completion::Failed { error } => panic!("{error}"),
        }
    }
    let mut storage = gc.shutdown().expect("shutdown");
    let recovered = reopen_after(storage, &cfg);
    assert_eq!(zxids(&recovered), vec![1, 2, 3]);
    assert_eq!(recovered.committed, Some(2));
    // A truncation below the watermark lowers it: it never names a txn that is gone.
    storage = FileStorage::open(cfg.clone()).expect("open").0;
    storage.truncate_after(1, 0).expect("truncate");
    let recovered = reopen_after(storage, &cfg);
    assert_eq!(zxids(&recovered), vec![1]);
    assert_eq!(recovered.committed, Some(1));
    // A damaged record reads as none (safe: nothing counts as committed beyond the snapshot).
    let file = cfg
        .log_dir()
        .join(zabkeeper::storage::watermark::WATERMARK_FILE);
    fs::write(&file, b"garbage").expect("damage");
    assert_eq!(reopen(&cfg).committed, None);
}

fn reopen_after(storage: FileStorage, config: &StorageConfig) -> Recovered {
    drop(storage);
    reopen(config)
}

#[test]
fn mem_storage_keeps_the_synced_watermark_across_a_crash() {
    let mut s = MemStorage::with_crash_loss(true);
    s.save_snapshot(0, b"empty").expect("snap");
    append_range(&mut s, [1, 2]);
    s.set_committed(1);
    s.sync().expect("sync");
    append_range(&mut s, [3]);
    s.set_committed(2); // not synced: lost with the append
    s.crash();
    let r = s.recover().expect("recover");
    assert_eq!(zxids(&r), vec![1, 2]);
    assert_eq!(r.committed, Some(1));
}
