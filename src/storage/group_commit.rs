//! Group commit: the hand-off between the server's tasks and the fsync writer thread
//! (`spec/storage.md` §7; write path step 4 in `spec/README.md`).
//!
//! Callers [`GroupCommit::submit`] `(zxid, payload)` appends in zxid order into a bounded queue
//! (a full queue blocks the caller: backpressure). One writer thread owns the [`Storage`]; it takes
//! everything queued (up to `max_batch`), appends it, records the highest commit watermark the
//! batch's appends carried ([`GroupCommit::try_submit_committed`], `Storage::set_committed`),
//! calls `sync` once, and only after that fsync returned reports `Completion::Durable { upto }`
//! through the caller's callback. Other
//! storage operations (truncate, epochs, snapshots) run on the same thread in queue order via
//! [`GroupCommit::execute`] / [`GroupCommit::call`], after every earlier append is durable.
//!
//! Runtime-agnostic: std threads, mutex and condvars only; a tokio caller forwards completions into
//! a channel of its choice from the callback. All shared state sits behind one `Mutex` with two
//! `Condvar`s, taken from [`crate::sync`], so the loom models in `tests/loom/group_commit.rs` run
//! this very code (no lost wakeup, no completion before its fsync, completions in submit order,
//! shutdown drains).
//!
//! After a failed append or fsync the writer stops for good: the file state is unknown after a
//! failed fsync (Linux may drop the dirty pages), so nothing more may be called durable.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, PoisonError};

use super::{check_payload, Storage, StorageError};
// The only synchronisation primitives used: std's, or loom's under `cfg(loom)` (`tests/loom/`).
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{self, mpsc, seeded_bug, Condvar, Mutex, MutexGuard};

/// Limits of the hand-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitConfig {
    /// Requests the queue holds before `submit` blocks.
    pub queue_capacity: usize,
    /// Appends per fsync at most.
    pub max_batch: usize,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            max_batch: 1024,
        }
    }
}

/// What the writer reports after each batch.
#[derive(Debug, Clone)]
pub enum Completion {
    /// Every append with zxid `<= upto` is durable (its fsync returned).
    Durable {
        /// Newest durable zxid.
        upto: u64,
    },
    /// The writer stopped; no later append will become durable.
    Failed {
        /// Why.
        error: Arc<StorageError>,
    },
}

/// Errors of the hand-off itself.
#[derive(Debug, thiserror::Error)]
pub enum GroupCommitError {
    /// The payload failed [`check_payload`] (nothing was queued).
    #[error(transparent)]
    Rejected(#[from] StorageError),
    /// The writer failed earlier; nothing is accepted any more.
    #[error("the log writer failed")]
    Failed(#[source] Arc<StorageError>),
    /// `shutdown` was called.
    #[error("the log writer is shut down")]
    Closed,
    /// The writer thread panicked (a bug, or a panicking callback).
    #[error("the log writer thread panicked")]
    WriterPanicked,
    /// The writer thread could not be started.
    #[error("cannot start the log writer thread")]
    Spawn(#[source] std::io::Error),
}

/// Counters, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Appends made durable.
    pub appends: u64,
    /// Batches, i.e. fsyncs.
    pub batches: u64,
}

type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

enum Request<S> {
    Append {
        zxid: u64,
        payload: Vec<u8>,
        committed: u64,
    },
    Execute(Job<S>),
}

struct State<S> {
    queue: VecDeque<Request<S>>,
    closed: bool,
    /// While set, the writer does not start a batch (see [`GroupCommit::hold`]).
    held: bool,
    failed: Option<Arc<StorageError>>,
    stats: GroupCommitStats,
}

struct Shared<S> {
    state: Mutex<State<S>>,
    /// Signalled when work arrives, a hold is released or the queue closes.
    writer_wakeup: Condvar,
    /// Signalled when the queue has room or the writer stopped.
    submitter_wakeup: Condvar,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, State<S>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The submitting side; the writer thread runs until [`GroupCommit::shutdown`] or drop.
pub struct GroupCommit<S: Storage + 'static> {
    shared: sync::Arc<Shared<S>>,
    config: GroupCommitConfig,
    writer: Option<JoinHandle<S>>,
}

impl<S: Storage + 'static> fmt::Debug for GroupCommit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Storage + 'static> GroupCommit<S> {
    /// Starts the writer thread over `storage`; `on_complete` runs on that thread after every
    /// batch (keep it short: send to a channel).
    pub fn spawn(
        storage: S,
        config: GroupCommitConfig,
        on_complete: impl FnMut(Completion) + Send + 'static,
    ) -> Result<Self, GroupCommitError> {
        let config = GroupCommitConfig {
            queue_capacity: config.queue_capacity.max(1),
            max_batch: config.max_batch.max(1),
        };
        let shared = sync::Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(config.queue_capacity),
                closed: false,
                held: false,
                failed: None,
                stats: GroupCommitStats::default(),
            }),
            writer_wakeup: Condvar::new(),
            submitter_wakeup: Condvar::new(),
        });
        let writer_shared = sync::Arc::clone(&shared);
        let writer = thread::Builder::new()
            .name("zk-log-writer".into())
            .spawn(move || run_writer(storage, &writer_shared, config.max_batch, on_complete))
            .map_err(GroupCommitError::Spawn)?;
        Ok(Self {
            shared,
            config,
            writer: Some(writer),
        })
    }

    /// Queues one append, blocking while the queue is full. Appends must come in zxid order (the
    /// storage enforces it; a violation stops the writer, as for any append failure).
    pub fn submit(&self, zxid: u64, payload: Vec<u8>) -> Result<(), GroupCommitError> {
        check_payload(zxid, &payload, u32::MAX)?;
        let committed = 0;
        self.enqueue(
            Request::Append {
                zxid,
                payload,
                committed,
            },
            true,
        )
    }

    /// Queues one append without blocking; `Ok(Some(payload))` hands the payload back when full.
    pub fn try_submit(
        &self,
        zxid: u64,
        payload: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, GroupCommitError> {
        self.try_submit_committed(zxid, payload, 0)
    }

    /// [`GroupCommit::try_submit`] of an append that carries the commit watermark `committed`
    /// (`Effect::PersistTxns { committed }`): the batch holding it records the highest such
    /// watermark with its sync (`Storage::set_committed`).
    pub fn try_submit_committed(
        &self,
        zxid: u64,
        payload: Vec<u8>,
        committed: u64,
    ) -> Result<Option<Vec<u8>>, GroupCommitError> {
        check_payload(zxid, &payload, u32::MAX)?;
        let mut state = self.shared.lock();
        Self::accepting(&state)?;
        if state.queue.len() >= self.config.queue_capacity {
            return Ok(Some(payload));
        }
        state.queue.push_back(Request::Append {
            zxid,
            payload,
            committed,
        });
        drop(state);
        self.shared.writer_wakeup.notify_one();
        Ok(None)
    }

    /// Runs `job` on the writer thread once every earlier append is durable, before any later
    /// one. The job reports its own result (e.g. through a channel).
    pub fn execute(
        &self,
        job: impl FnOnce(&mut S) + Send + 'static,
    ) -> Result<(), GroupCommitError> {
        self.enqueue(Request::Execute(Box::new(job)), true)
    }

    /// [`GroupCommit::execute`] and wait for the result (blocking; tokio callers use
    /// `spawn_blocking` or `execute` with a oneshot).
    pub fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut S) -> R + Send + 'static,
    ) -> Result<R, GroupCommitError> {
        let (tx, rx) = mpsc::channel();
        self.execute(move |storage| {
            // The receiver waits below; a send error means the caller is gone, nothing to do.
            let _ = tx.send(job(storage));
        })?;
        rx.recv().map_err(|_| self.stopped_error())
    }

    /// Stops the writer from starting new batches until the guard drops. Requests keep queueing
    /// (up to the capacity). Lets tests queue many appends deterministically and lets an operator
    /// pause the log; a batch already under way finishes. While held, a `submit` that finds the
    /// queue full and a `call` both wait for the release: do not make them on the holding thread.
    pub fn hold(&self) -> HoldGuard<'_, S> {
        self.shared.lock().held = true;
        HoldGuard {
            shared: &self.shared,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> GroupCommitStats {
        self.shared.lock().stats
    }

    /// Requests waiting for the writer.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Drains the queue (completions are still reported), stops the writer and returns the
    /// storage.
    pub fn shutdown(mut self) -> Result<S, GroupCommitError> {
        self.close();
        let writer = self.writer.take().ok_or(GroupCommitError::Closed)?;
        writer.join().map_err(|_| GroupCommitError::WriterPanicked)
    }

    fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.writer_wakeup.notify_all();
        self.shared.submitter_wakeup.notify_all();
    }

    fn accepting(state: &State<S>) -> Result<(), GroupCommitError> {
        if let Some(error) = &state.failed {
            return Err(GroupCommitError::Failed(Arc::clone(error)));
        }
        if state.closed {
            return Err(GroupCommitError::Closed);
        }
        Ok(())
    }

    fn stopped_error(&self) -> GroupCommitError {
        match &self.shared.lock().failed {
            Some(error) => GroupCommitError::Failed(Arc::clone(error)),
            None => GroupCommitError::Closed,
        }
    }

    fn enqueue(&self, request: Request<S>, block: bool) -> Result<(), GroupCommitError> {
        let mut state = self.shared.lock();
        loop {
            Self::accepting(&state)?;
            if state.queue.len() < self.config.queue_capacity || !block {
                break;
            }
            state = self
                .shared
                .submitter_wakeup
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if seeded_bug("group_commit_wake_before_push") {
            // Seeded bug: the wakeup goes out before the request is visible to the writer.
            drop(state);
            self.shared.writer_wakeup.notify_one();
            self.shared.lock().queue.push_back(request);
            return Ok(());
        }
        state.queue.push_back(request);
        drop(state);
        self.shared.writer_wakeup.notify_one();
        Ok(())
    }
}

impl<S: Storage + 'static> Drop for GroupCommit<S> {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            self.close();
            // A panic on the writer was already reported by the panic hook.
            let _ = writer.join();
        }
    }
}

/// Returned by [`GroupCommit::hold`]; releases the writer when dropped.
pub struct HoldGuard<'a, S> {
    shared: &'a Shared<S>,
}

impl<S> Drop for HoldGuard<'_, S> {
    fn drop(&mut self) {
        self.shared.lock().held = false;
        self.shared.writer_wakeup.notify_all();
    }
}

/// The writer thread: take a batch, append, one fsync, report; or run one job.
fn run_writer<S: Storage>(
    mut storage: S,
    shared: &Shared<S>,
    max_batch: usize,
    mut on_complete: impl FnMut(Completion),
) -> S {
    let mut batch = Batch {
        appends: Vec::with_capacity(max_batch),
        committed: 0,
    };
    loop {
        let job = {
            let mut state = shared.lock();
            loop {
                if state.closed && seeded_bug("group_commit_shutdown_drops_queue") {
                    // Seeded bug: shutdown abandons what is still queued.
                    return storage;
                }
                let may_start = !state.held || state.closed;
                if may_start && !state.queue.is_empty() {
                    break;
                }
                if state.closed && state.queue.is_empty() {
                    return storage;
                }
                state = shared
                    .writer_wakeup
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let job = take_batch(&mut state.queue, &mut batch, max_batch);
            drop(state);
            if !seeded_bug("group_commit_no_submitter_wakeup") {
                shared.submitter_wakeup.notify_all();
            }
            job
        };
        if let Some(job) = job {
            job(&mut storage);
            continue;
        }
        let appended = batch.appends.len() as u64;
        if seeded_bug("group_commit_report_before_sync") {
            // Seeded bug: the batch is reported durable before its fsync.
            if let Some(&(upto, _)) = batch.appends.last() {
                on_complete(Completion::Durable { upto });
            }
        }
        let result = append_and_sync(&mut storage, &mut batch);
        let completion = match result {
            Ok(upto) => {
                let mut state = shared.lock();
                state.stats.appends += appended;
                state.stats.batches += 1;
                Completion::Durable { upto }
            }
            Err(error) => {
                let error = Arc::new(error);
                let mut state = shared.lock();
                state.failed = Some(Arc::clone(&error));
                state.queue.clear();
                drop(state);
                shared.submitter_wakeup.notify_all();
                tracing::error!(
                    error = &*error as &dyn std::error::Error,
                    "txn log write failed; the log writer stops"
                );
                on_complete(Completion::Failed { error });
                return storage;
            }
        };
        on_complete(completion);
    }
}

/// A run of appends and the highest commit watermark they carried.
struct Batch {
    appends: Vec<(u64, Vec<u8>)>,
    committed: u64,
}

/// Moves the head job, or the leading run of appends (at most `max_batch`), out of the queue.
fn take_batch<S>(
    queue: &mut VecDeque<Request<S>>,
    batch: &mut Batch,
    max_batch: usize,
) -> Option<Job<S>> {
    batch.appends.clear();
    batch.committed = 0;
    if let Some(Request::Execute(_)) = queue.front() {
        if let Some(Request::Execute(job)) = queue.pop_front() {
            return Some(job);
        }
    }
    while batch.appends.len() < max_batch {
        match queue.pop_front() {
            Some(Request::Append {
                zxid,
                payload,
                committed,
            }) => {
                batch.appends.push((zxid, payload));
                batch.committed = batch.committed.max(committed);
            }
            Some(job @ Request::Execute(_)) => {
                queue.push_front(job);
                break;
            }
            None => break,
        }
    }
    None
}

fn append_and_sync<S: Storage>(storage: &mut S, batch: &mut Batch) -> Result<u64, StorageError> {
    for (zxid, payload) in batch.appends.drain(..) {
        storage.append(zxid, &payload)?;
    }
    if batch.committed > 0 {
        storage.set_committed(batch.committed);
    }
    storage.sync()
}
