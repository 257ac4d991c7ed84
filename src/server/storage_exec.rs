//! The persistence effects, executed in order (`spec/server.md` "The write path", step 4).
//!
//! Role: the driver hands every `Effect::PersistTxns`, `Effect::PersistEpoch` and
//! `Effect::TruncateLog` to a [`StorageExec`], in the order the core pushed them. All of them go
//! through one queue, storage's group commit ([`GroupCommit`]), whose writer thread owns the
//! [`Storage`]: appends are batched and fdatasynced once per batch; an epoch write or a truncation
//! runs on the same thread after every earlier append is durable and before any later one. Only
//! after the disk confirmed does the writer report a [`StorageEvent`] (`Persisted { upto }`,
//! `EpochPersisted`, `Truncated { after }`), in the order the operations completed, through one
//! bounded channel; the driver feeds each back to `Node::step` as the matching `Input`.
//!
//! Two writers, one contract ([`LogWriter`]): the server's is the group-commit thread; a
//! simulation's is a tokio task ([`LogWriter::Task`]) on the runtime that runs the rest of the
//! server, because a simulator schedules tasks but not OS threads. The task takes every append
//! queued when it wakes as one batch, appends, waits the [`FsyncDelay`] it was given (slow
//! disks), syncs once, then reports; jobs run in queue order after every earlier append is
//! durable, as on the thread.
//!
//! Generic over [`Storage`]: the server runs it on `FileStorage`, tests on `MemStorage`. The
//! `committed` watermark of `PersistTxns` travels with its appends and is recorded with their
//! batch (`Storage::set_committed`); recovery reads it back (`server/recovery.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::protocol::{Epoch, Proposal, Zxid};
use crate::server::error::ServerError;
use crate::storage::{
    Completion, GroupCommit, GroupCommitConfig, GroupCommitError, Storage, StorageError,
};
use crate::tree::DataTree;

/// Proposals the driver lets be in flight (proposed, not yet committed), at most.
pub const MAX_IN_FLIGHT: usize = 4096;

/// Group-commit queue capacity: room for every in-flight append plus the few other jobs (epochs,
/// truncations, log rolls, purges), so a submit never finds it full.
const QUEUE_CAPACITY: usize = 2 * MAX_IN_FLIGHT;

/// Completions reported by the writer, at most, before it waits for the driver to take them.
const EVENT_CAPACITY: usize = 1024;

/// What the disk confirmed, in completion order.
#[derive(Clone, Debug)]
pub enum StorageEvent {
    /// Every append up to `upto` is durable: `Input::Persisted { upto }`.
    Persisted(Zxid),
    /// The epoch files last requested are durable: `Input::EpochPersisted`.
    EpochPersisted,
    /// The truncation after `after` is durable: `Input::Truncated { after }`.
    Truncated(Zxid),
    /// The leader's snapshot at `base` (a SNAP) is durable: the driver installs `tree` and
    /// feeds `Input::SnapshotInstalled { base }`.
    SnapshotInstalled {
        /// The snapshot's zxid.
        base: Zxid,
        /// The decoded snapshot, applied up to `base`.
        tree: Box<DataTree>,
    },
    /// A snapshot of every txn up to this zxid is durable (written and fsynced, its directory
    /// too): `Input::Compacted { upto }`.
    SnapshotDurable(Zxid),
    /// The storage failed; nothing more will become durable. The server must stop.
    Failed(Arc<StorageError>),
}

/// A storage housekeeping job the writer thread runs in queue order (roll, purge).
pub type Housekeeping<S> = fn(&mut S, usize);

/// How long the next fsync of a [`LogWriter::Task`] takes (simulated time), asked once per sync.
pub type FsyncDelay = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Which writer runs the storage.
#[derive(Clone, Default)]
pub enum LogWriter {
    /// storage's group commit on its own OS thread (the server).
    #[default]
    Thread,
    /// A tokio task on the current runtime (a simulation).
    Task {
        /// Each sync first waits this long.
        fsync_delay: Option<FsyncDelay>,
        /// Runtime mutant: report a batch durable before its fsync (the simulation must catch
        /// it).
        ack_before_fsync: bool,
        /// Runtime mutant: treat a failed fsync as done and go on writing (the simulation's
        /// `fsync_fail` fault must catch it).
        ignore_fsync_failure: bool,
    },
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogWriter::Thread => f.write_str("Thread"),
            LogWriter::Task {
                fsync_delay,
                ack_before_fsync,
                ignore_fsync_failure,
            } => f
                .debug_struct("Task")
                .field("fsync_delay", &fsync_delay.is_some())
                .field("ack_before_fsync", ack_before_fsync)
                .field("ignore_fsync_failure", ignore_fsync_failure)
                .finish(),
        }
    }
}

/// A job on the writer: it may report one event once it ran.
type WriterJob<S> = Box<dyn FnOnce(&mut S) -> Option<StorageEvent> + Send>;

/// What the task writer is asked to do, in queue order.
enum TaskRequest<S> {
    Append {
        zxid: u64,
        payload: Vec<u8>,
        committed: u64,
    },
    Job(WriterJob<S>),
    Close(oneshot::Sender<S>),
}

/// The running writer.
enum Writer<S: Storage + 'static> {
    Thread(GroupCommit<S>),
    Task(mpsc::UnboundedSender<TaskRequest<S>>),
}

/// Executes persistence effects on one storage, in order.
pub struct StorageExec<S: Storage + 'static> {
    log: Option<Writer<S>>,
    events_tx: mpsc::Sender<StorageEvent>,
    events: mpsc::Receiver<StorageEvent>,
    /// Snapshots are written here off the writer thread; `None`: through `Storage::save_snapshot`.
    snap_dir: Option<PathBuf>,
    /// Autopurge, when the storage supports it.
    purge: Option<Housekeeping<S>>,
}

impl<S: Storage + 'static> StorageExec<S> {
    /// Starts the writer thread over `storage`.
    pub fn spawn(
        storage: S,
        snap_dir: Option<PathBuf>,
        purge: Option<Housekeeping<S>>,
    ) -> Result<StorageExec<S>, ServerError> {
        Self::spawn_with(storage, snap_dir, purge, LogWriter::Thread)
    }

    /// Starts `writer` over `storage` ([`LogWriter::Task`] must be called inside a tokio runtime).
    pub fn spawn_with(
        storage: S,
        snap_dir: Option<PathBuf>,
        purge: Option<Housekeeping<S>>,
        writer: LogWriter,
    ) -> Result<StorageExec<S>, ServerError> {
        let (events_tx, events) = mpsc::channel(EVENT_CAPACITY);
        if let LogWriter::Task {
            fsync_delay,
            ack_before_fsync,
            ignore_fsync_failure,
        } = writer
        {
            let (tx, rx) = mpsc::unbounded_channel();
            let syncer = TaskSyncer {
                fsync_delay,
                ack_before_fsync,
                ignore_fsync_failure,
                events: events_tx.clone(),
                unsynced: None,
                committed: 0,
            };
            tokio::spawn(run_task_writer(storage, rx, syncer));
            return Ok(StorageExec {
                log: Some(Writer::Task(tx)),
                events_tx,
                events,
                snap_dir,
                purge,
            });
        }
        let completions = events_tx.clone();
        let config = GroupCommitConfig {
            queue_capacity: QUEUE_CAPACITY,
            max_batch: 1024,
        };
        let log = GroupCommit::spawn(storage, config, move |c| {
            let event = match c {
                Completion::Durable { upto } => StorageEvent::Persisted(Zxid(upto)),
                Completion::Failed { error } => StorageEvent::Failed(error),
            };
            // On the writer thread (never inside the runtime); an error means the driver is
            // gone (shutting down), and there is nobody left to tell.
            let _ = completions.blocking_send(event);
        })
        .map_err(|e| ServerError::Recovery(e.to_string()))?;
        Ok(StorageExec {
            log: Some(Writer::Thread(log)),
            events_tx,
            events,
            snap_dir,
            purge,
        })
    }

    fn log(&self) -> Result<&Writer<S>, ServerError> {
        self.log
            .as_ref()
            .ok_or(ServerError::LogFailed(GroupCommitError::Closed))
    }

    /// `Effect::PersistTxns`: queues the appends (never blocks), each carrying the commit
    /// watermark `committed`. Each proposal's data is the txn's `TxnHeader` + record bytes,
    /// whose header zxid storage checks against the proposal's.
    pub fn persist_txns(&self, proposals: &[Proposal], committed: Zxid) -> Result<(), ServerError> {
        let log = match self.log()? {
            Writer::Thread(log) => log,
            Writer::Task(tx) => {
                for p in proposals {
                    let request = TaskRequest::Append {
                        zxid: p.zxid.0,
                        payload: p.data.to_vec(),
                        committed: committed.0,
                    };
                    if tx.send(request).is_err() {
                        return Err(ServerError::LogFailed(GroupCommitError::Closed));
                    }
                }
                return Ok(());
            }
        };
        for p in proposals {
            match log.try_submit_committed(p.zxid.0, p.data.to_vec(), committed.0) {
                Ok(None) => {}
                Ok(Some(_)) => {
                    // The driver bounds what is in flight below the capacity: a bug.
                    return Err(ServerError::Fatal(format!("log queue full at {}", p.zxid)));
                }
                Err(e) => return Err(ServerError::LogFailed(e)),
            }
        }
        Ok(())
    }

    /// `Effect::PersistEpoch`: writes the epoch files that changed (acceptedEpoch first, so
    /// currentEpoch ≤ acceptedEpoch holds on disk at every instant), then reports
    /// [`StorageEvent::EpochPersisted`].
    pub fn persist_epochs(&self, accepted: Epoch, current: Epoch) -> Result<(), ServerError> {
        self.run_job(move |storage: &mut S| {
            Some(match write_epochs(storage, accepted, current) {
                Ok(()) => StorageEvent::EpochPersisted,
                Err(e) => StorageEvent::Failed(Arc::new(e)),
            })
        })
    }

    /// `Effect::TruncateLog`: drops every logged txn above `after`, then reports
    /// [`StorageEvent::Truncated`].
    pub fn truncate(&self, after: Zxid) -> Result<(), ServerError> {
        self.run_job(move |storage: &mut S| {
            Some(match storage.truncate_after(after.0, 0) {
                Ok(()) => StorageEvent::Truncated(after),
                Err(e) => StorageEvent::Failed(Arc::new(e)),
            })
        })
    }

    /// `Effect::InstallSnapshot`: after every earlier log write, decodes the leader's snapshot
    /// payload (seals and digest checked: bad bytes are never installed) and writes it durably as
    /// this server's snapshot at `base`, then reports [`StorageEvent::SnapshotInstalled`] with the
    /// decoded tree. Logged txns up to `base` are superseded by it (recovery replays only the txns
    /// after the newest snapshot). Bytes that do not decode stop the server with a `Corrupt`
    /// error naming the SNAP; nothing was written.
    pub fn install_snapshot(&self, base: Zxid, snapshot: bytes::Bytes) -> Result<(), ServerError> {
        self.run_job(move |storage: &mut S| {
            Some(match install(storage, base, &snapshot) {
                Ok(tree) => StorageEvent::SnapshotInstalled {
                    base,
                    tree: Box::new(tree),
                },
                Err(e) => StorageEvent::Failed(Arc::new(e)),
            })
        })
    }

    /// Runs `job` on the writer after every earlier append is durable; the event it returns is
    /// reported in completion order.
    fn run_job(
        &self,
        job: impl FnOnce(&mut S) -> Option<StorageEvent> + Send + 'static,
    ) -> Result<(), ServerError> {
        match self.log()? {
            Writer::Thread(log) => {
                let tx = self.events_tx.clone();
                log.execute(move |storage: &mut S| {
                    if let Some(event) = job(storage) {
                        // On the writer thread (never inside the runtime); an error means the
                        // driver is gone (shutting down).
                        let _ = tx.blocking_send(event);
                    }
                })
                .map_err(ServerError::LogFailed)
            }
            Writer::Task(tx) => tx
                .send(TaskRequest::Job(Box::new(job)))
                .map_err(|_| ServerError::LogFailed(GroupCommitError::Closed)),
        }
    }

    /// The next completion. A writer that vanished without a word counts as failed.
    pub async fn next_event(&mut self) -> StorageEvent {
        match self.events.recv().await {
            Some(event) => event,
            None => StorageEvent::Failed(Arc::new(StorageError::Poisoned)),
        }
    }

    /// Closes the current log segment once everything queued before is durable, then writes a
    /// snapshot of `tree` (which covers every txn up to its last processed zxid) — off the
    /// writer thread when the snapshot directory is known, so appends go on meanwhile — and
    /// reports [`StorageEvent::SnapshotDurable`] once it is on disk (nothing when it failed: the
    /// core then keeps its log).
    pub fn snapshot(&self, tree: DataTree) -> Result<tokio::task::JoinHandle<()>, ServerError> {
        let zxid = tree.last_processed_zxid() as u64;
        self.run_job(|storage: &mut S| {
            if let Err(e) = storage.roll() {
                tracing::warn!(error = %e, "log roll failed");
            }
            None
        })?;
        match &self.snap_dir {
            Some(dir) => {
                let dir = dir.clone();
                let tx = self.events_tx.clone();
                Ok(tokio::task::spawn_blocking(move || {
                    let payload = crate::server::recovery::snapshot_payload(&tree);
                    drop(tree);
                    match crate::storage::snapshot::write_snapshot(&dir, zxid, &payload) {
                        Ok(path) => {
                            tracing::info!(path = %path.display(), "snapshot written");
                            // A full channel drops the notice: the core keeps its log until the next one.
                            let _ = tx.try_send(StorageEvent::SnapshotDurable(Zxid(zxid)));
                        }
                        Err(e) => tracing::warn!(error = %e, "snapshot failed"),
                    }
                }))
            }
            None => {
                self.run_job(move |storage: &mut S| {
                    let payload = crate::server::recovery::snapshot_payload(&tree);
                    match storage.save_snapshot(zxid, &payload) {
                        Ok(()) => Some(StorageEvent::SnapshotDurable(Zxid(zxid))),
                        Err(e) => {
                            tracing::warn!(error = %e, "snapshot failed");
                            None
                        }
                    }
                })?;
                Ok(tokio::spawn(async {}))
            }
        }
    }

    /// Autopurge on the writer thread: keep `retain` snapshots and the logs they need.
    pub fn purge(&self, retain: usize) -> Result<(), ServerError> {
        match self.purge {
            Some(purge) => self.run_job(move |storage: &mut S| {
                purge(storage, retain);
                None
            }),
            None => Ok(()),
        }
    }

    /// Makes everything queued durable, stops the writer and returns the storage (graceful
    /// shutdown). Completions are no longer delivered; the join runs on a blocking thread.
    pub async fn close(mut self) -> Result<S, ServerError> {
        // The writer must never wait on a channel nobody reads while we join it.
        self.events.close();
        while self.events.try_recv().is_ok() {}
        let log = match self.log.take() {
            Some(Writer::Thread(log)) => log,
            Some(Writer::Task(tx)) => {
                let (done, storage) = oneshot::channel();
                tx.send(TaskRequest::Close(done))
                    .map_err(|_| ServerError::LogFailed(GroupCommitError::Closed))?;
                let mut storage = storage
                    .await
                    .map_err(|_| ServerError::LogFailed(GroupCommitError::Closed))?;
                storage.sync()?;
                return Ok(storage);
            }
            None => return Err(ServerError::LogFailed(GroupCommitError::Closed)),
        };
        let joined = tokio::task::spawn_blocking(move || -> Result<S, ServerError> {
            let mut storage = log.shutdown().map_err(ServerError::LogFailed)?;
            storage.sync()?;
            Ok(storage)
        })
        .await;
        joined.map_err(|e| ServerError::Fatal(format!("log close task: {e}")))?
    }
}

/// The task writer ([`LogWriter::Task`]): every request queued when it wakes is one batch; its
/// appends are made durable by one sync before any job queued after them runs, and before the
/// batch ends. A failed append or sync reports `Failed` and stops it for good (nothing later is
/// acknowledged).
async fn run_task_writer<S: Storage + 'static>(
    mut storage: S,
    mut requests: mpsc::UnboundedReceiver<TaskRequest<S>>,
    mut syncer: TaskSyncer,
) {
    /// What follows the sync: a job, the close, or the end of the batch.
    enum Next<S> {
        Job(WriterJob<S>),
        Close(oneshot::Sender<S>),
        EndOfBatch,
    }
    while let Some(first) = requests.recv().await {
        let mut next = Some(first);
        loop {
            let after = match next.take().or_else(|| requests.try_recv().ok()) {
                Some(TaskRequest::Append {
                    zxid,
                    payload,
                    committed,
                }) => {
                    if let Err(e) = storage.append(zxid, &payload) {
                        syncer.fail(e).await;
                        return;
                    }
                    syncer.committed = syncer.committed.max(committed);
                    syncer.unsynced = Some(zxid);
                    continue;
                }
                Some(TaskRequest::Job(job)) => Next::Job(job),
                Some(TaskRequest::Close(done)) => Next::Close(done),
                None => Next::EndOfBatch,
            };
            if !syncer.sync(&mut storage).await {
                return;
            }
            match after {
                Next::Job(job) => {
                    if let Some(event) = job(&mut storage) {
                        let failed = matches!(event, StorageEvent::Failed(_));
                        let _ = syncer.events.send(event).await;
                        if failed {
                            return;
                        }
                    }
                }
                Next::Close(done) => {
                    let _ = done.send(storage);
                    return;
                }
                Next::EndOfBatch => break,
            }
        }
    }
}

/// The task writer's sync: its options, where it reports, and the appends not yet synced.
struct TaskSyncer {
    fsync_delay: Option<FsyncDelay>,
    ack_before_fsync: bool,
    ignore_fsync_failure: bool,
    events: mpsc::Sender<StorageEvent>,
    /// The last append no sync covered yet.
    unsynced: Option<u64>,
    /// The newest commit point the appends since the last sync carried (0: none).
    committed: u64,
}

impl TaskSyncer {
    /// Reports a storage failure.
    async fn fail(&self, e: StorageError) {
        let _ = self.events.send(StorageEvent::Failed(Arc::new(e))).await;
    }

    /// Makes the appends up to `unsynced` durable and reports them; `false`: the storage failed.
    async fn sync<S: Storage>(&mut self, storage: &mut S) -> bool {
        let Some(upto) = self.unsynced.take() else {
            return true;
        };
        if self.committed > 0 {
            storage.set_committed(self.committed);
            self.committed = 0;
        }
        if self.ack_before_fsync {
            let _ = self.events.send(StorageEvent::Persisted(Zxid(upto))).await;
        }
        if let Some(delay) = &self.fsync_delay {
            tokio::time::sleep(delay()).await;
        }
        if let Err(e) = storage.sync() {
            if !self.ignore_fsync_failure {
                self.fail(e).await;
                return false;
            }
        }
        if !self.ack_before_fsync {
            let _ = self.events.send(StorageEvent::Persisted(Zxid(upto))).await;
        }
        true
    }
}

fn install<S: Storage>(
    storage: &mut S,
    base: Zxid,
    payload: &[u8],
) -> Result<DataTree, StorageError> {
    let tree = crate::server::recovery::decode_leader_snapshot(base, payload)?;
    storage.save_snapshot(base.0, payload)?;
    Ok(tree)
}

fn write_epochs<S: Storage>(
    storage: &mut S,
    accepted: Epoch,
    current: Epoch,
) -> Result<(), StorageError> {
    let (accepted, current) = (u64::from(accepted.0), u64::from(current.0));
    if storage.accepted_epoch() != Some(accepted) {
        storage.set_accepted_epoch(accepted)?;
    }
    if storage.current_epoch() != Some(current) {
        storage.set_current_epoch(current)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;
    use crate::tree::txn::{Txn, TxnHeader};

    /// A learner's install: the leader's snapshot bytes become the storage's snapshot at the
    /// base (durable before the event), the event carries the decoded tree; bytes that do not
    /// decode stop the writer with a `Corrupt` error and write nothing.
    #[tokio::test]
    async fn install_snapshot_writes_then_reports_the_decoded_tree() {
        let mut tree = DataTree::new();
        let hdr = TxnHeader {
            client_id: 9,
            cxid: 0,
            zxid: 3,
            time_ms: 0,
            txn_type: 0,
        };
        tree.apply(&hdr, &Txn::CreateSession { timeout_ms: 4000 });
        let bytes = bytes::Bytes::from(crate::server::recovery::snapshot_payload(&tree));
        let mut exec = StorageExec::spawn(MemStorage::new(), None, None).expect("writer");
        exec.install_snapshot(Zxid(3), bytes.clone())
            .expect("queued");
        match exec.next_event().await {
            StorageEvent::SnapshotInstalled { base, tree: got } => {
                assert_eq!(base, Zxid(3));
                assert_eq!(got.sessions(), tree.sessions());
                assert_eq!(got.last_processed_zxid(), 3);
            }
            other => panic!("{other:?}"),
        }
        let storage = exec.close().await.expect("close");
        let snap = storage.latest_snapshot().expect("read");
        assert_eq!(snap, Some((3, bytes.to_vec())));

        let mut exec = StorageExec::spawn(MemStorage::new(), None, None).expect("writer");
        exec.install_snapshot(Zxid(3), bytes::Bytes::from_static(b"not a tree"))
            .expect("queued");
        match exec.next_event().await {
            StorageEvent::Failed(e) => {
                assert!(matches!(*e, StorageError::Corrupt { .. }), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let storage = exec.close().await.expect("close");
        assert_eq!(storage.latest_snapshot().expect("read"), None);
    }
}
