//! The "replicate" seam of the write path, and start-up recovery.
//!
//! Role: the node task hands every prepared txn to a [`Committer`] and learns, through a
//! `watch` channel of [`CommitProgress`], up to which zxid txns are committed and may be applied.
//! Standalone, "committed" means "durable on the local disk": txns go to storage's group-commit
//! writer thread, which appends and fsyncs in batches and reports `Durable { upto }`. The ZAB
//! ensemble will add a variant that turns a submit into `Input::Write` for `protocol::Node`,
//! executes `Effect::PersistTxns` on the same group commit, feeds `Input::Persisted { upto }`
//! back, and publishes `Effect::Commit { upto }` as the progress — the node task does not change.
//! Spec: `spec/server.md` "The write path".

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::server::sessions::SessionIds;
use crate::server::ServerError;
use crate::storage::{
    Completion, FileStorage, GroupCommit, GroupCommitConfig, Storage, StorageConfig, StorageError,
};
use crate::tree::DataTree;

/// Txns submitted and not yet reported committed, at most (also the group-commit queue size,
/// so a submit never blocks).
pub const MAX_IN_FLIGHT: usize = 4096;

/// How far commitment got.
#[derive(Clone, Debug)]
pub enum CommitProgress {
    /// Every txn with zxid ≤ this is committed.
    Upto(i64),
    /// The log failed; nothing more will commit. The server must stop.
    Failed(Arc<StorageError>),
}

/// Why a submit failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The storage writer stopped.
    #[error(transparent)]
    Writer(#[from] crate::storage::GroupCommitError),
    /// Too many txns in flight (a caller bug: the node task bounds them).
    #[error("commit queue full")]
    Full,
}

/// How txns become committed.
pub enum Committer {
    /// One server: local durability is the commit.
    Standalone(Standalone),
}

/// The standalone committer: storage's group commit.
pub struct Standalone {
    log: Option<GroupCommit<FileStorage>>,
    snap_dir: PathBuf,
}

impl Committer {
    /// Queues one txn (its `TxnHeader` + record bytes). Never blocks.
    pub fn submit(&self, zxid: i64, payload: Vec<u8>) -> Result<(), CommitError> {
        match self {
            Committer::Standalone(s) => {
                let log = s.log.as_ref().ok_or(CommitError::Full)?;
                match log.try_submit(zxid as u64, payload)? {
                    None => Ok(()),
                    Some(_) => Err(CommitError::Full),
                }
            }
        }
    }

    /// Closes the current log segment once everything queued before is durable (at snapshots).
    pub fn roll_log(&self) {
        let Committer::Standalone(s) = self;
        if let Some(log) = &s.log {
            let _ = log.execute(|storage: &mut FileStorage| {
                if let Err(e) = storage.roll() {
                    tracing::warn!(error = &e as &dyn std::error::Error, "log roll failed");
                }
            });
        }
    }

    /// Autopurge on the writer thread: keep `retain` snapshots and the logs they need.
    pub fn purge(&self, retain: usize) {
        let Committer::Standalone(s) = self;
        if let Some(log) = &s.log {
            let _ = log.execute(
                move |storage: &mut FileStorage| match storage.purge(retain) {
                    Ok(deleted) => tracing::info!(files = deleted.len(), "autopurge done"),
                    Err(e) => {
                        tracing::warn!(error = &e as &dyn std::error::Error, "autopurge failed")
                    }
                },
            );
        }
    }

    /// Where snapshots are written.
    pub fn snap_dir(&self) -> PathBuf {
        let Committer::Standalone(s) = self;
        s.snap_dir.clone()
    }

    /// Makes everything queued durable and stops the writer (graceful shutdown). The join runs
    /// on a blocking thread so the runtime's workers are never blocked.
    pub async fn close(&mut self) -> Result<(), ServerError> {
        let Committer::Standalone(s) = self;
        let Some(log) = s.log.take() else {
            return Ok(());
        };
        let joined = tokio::task::spawn_blocking(move || -> Result<(), ServerError> {
            let mut storage = log.shutdown()?;
            storage.sync()?;
            Ok(())
        })
        .await;
        joined.map_err(|e| ServerError::Recovery(format!("log close task: {e}")))?
    }
}

/// What start-up recovered.
pub struct Recovered {
    /// The tree: newest snapshot + every later logged txn applied.
    pub tree: DataTree,
    /// Live sessions and their timeouts.
    pub sessions: BTreeMap<i64, u32>,
    /// zxid of the last applied txn.
    pub last_zxid: i64,
    /// The committer, ready to append after `last_zxid`.
    pub committer: Committer,
    /// Session id allocator, above every recovered id.
    pub session_ids: SessionIds,
    /// Receives commit progress.
    pub progress: watch::Receiver<CommitProgress>,
}

/// Recovers `dataDir`/`dataLogDir` (snapshot + log replay), writes a start-up snapshot as
/// ZooKeeper 3.8 does, and starts the log writer.
pub fn recover(config: &ServerConfig) -> Result<Recovered, ServerError> {
    let mut sc = StorageConfig::new(config.data_dir.clone());
    sc.data_log_dir = config.data_log_dir.clone();
    sc.snap_count = config.snap_count.max(2);
    sc.max_record_bytes = sc
        .max_record_bytes
        .max(config.jute_max_buffer_bytes.saturating_mul(2));
    // The start-up snapshot below makes logs-without-snapshot impossible for directories we
    // created; ZooKeeper's `snapshot.trust.empty` default (false) still applies otherwise.
    let (storage, recovered) = FileStorage::open(sc.clone())?;
    let mut tree = match &recovered.snapshot {
        Some((zxid, bytes)) => {
            let tree = DataTree::deserialize_snapshot(bytes).map_err(|e| {
                ServerError::Recovery(format!("snapshot {zxid:#x} does not decode: {e}"))
            })?;
            tracing::info!(zxid = format_args!("{zxid:#x}"), "loaded snapshot");
            tree
        }
        None => DataTree::new(),
    };
    let replayed = recovered.txns_after.len();
    for (zxid, payload) in &recovered.txns_after {
        let (hdr, txn) = crate::tree::txn::decode(payload).map_err(|e| {
            ServerError::Recovery(format!("logged txn {zxid:#x} does not decode: {e}"))
        })?;
        if hdr.zxid <= tree.last_processed_zxid() {
            continue; // fuzzy snapshot overlap: already in the tree
        }
        tree.apply(&hdr, &txn);
    }
    let last_zxid = tree
        .last_processed_zxid()
        .max(recovered.last_logged_zxid as i64);
    tree.set_last_processed_zxid(last_zxid);
    tracing::info!(
        replayed,
        last_zxid = format_args!("{last_zxid:#x}"),
        "recovered"
    );
    if recovered.snapshot.as_ref().map(|(z, _)| *z as i64) != Some(last_zxid) || replayed > 0 {
        let bytes = tree.serialize_snapshot();
        crate::storage::snapshot::write_snapshot(&sc.snap_dir(), last_zxid as u64, &bytes)?;
    }
    let sessions: BTreeMap<i64, u32> = tree
        .sessions()
        .iter()
        .map(|(&id, &t)| (id, t.max(0) as u32))
        .collect();
    let session_ids = SessionIds::new(
        1,
        crate::server::wall_clock_ms() as u64,
        sessions.keys().copied(),
    );
    let (progress_tx, progress) = watch::channel(CommitProgress::Upto(last_zxid));
    let gc_config = GroupCommitConfig {
        queue_capacity: MAX_IN_FLIGHT,
        max_batch: 1024,
    };
    let log = GroupCommit::spawn(storage, gc_config, move |c| {
        let p = match c {
            Completion::Durable { upto } => CommitProgress::Upto(upto as i64),
            Completion::Failed { error } => CommitProgress::Failed(error),
        };
        let _ = progress_tx.send(p);
    })?;
    Ok(Recovered {
        tree,
        sessions,
        last_zxid,
        committer: Committer::Standalone(Standalone {
            log: Some(log),
            snap_dir: sc.snap_dir(),
        }),
        session_ids,
        progress,
    })
}
