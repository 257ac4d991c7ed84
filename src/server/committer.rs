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
use crate::storage::snapshot::{self, ZxidDigest};
use crate::storage::{
    Completion, FileStorage, GroupCommit, GroupCommitConfig, Storage, StorageConfig, StorageError,
};
use crate::tree::txn::DIGEST_VERSION;
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

/// The snapshot payload of `tree` as ZooKeeper 3.6+ writes it: the body, then the seal and the
/// `ZxidDigest` of the tree at its last processed zxid (a consistent copy, so ZooKeeper can
/// compare the digest as soon as it has loaded the file).
pub fn snapshot_payload(tree: &DataTree) -> Vec<u8> {
    let digest = ZxidDigest {
        zxid: tree.last_processed_zxid(),
        version: DIGEST_VERSION,
        digest: tree.digest(),
    };
    snapshot::payload_with_digest(&tree.serialize_snapshot(), &digest)
}

/// The data tree a data directory holds, and what checking ZooKeeper's digests found.
#[derive(Debug)]
pub struct RebuiltTree {
    /// The newest snapshot with every later logged txn applied.
    pub tree: DataTree,
    /// Txns replayed from the log.
    pub replayed: usize,
    /// Digests (snapshot `ZxidDigest`, per-txn `TxnDigest`) that equalled our tree's.
    pub digests_matched: u64,
    /// Digests that did not (each logged as a warning; ZooKeeper counts them too and goes on).
    pub digest_mismatches: u64,
}

impl RebuiltTree {
    /// Compares the tree's digest with one recorded at `zxid` (skipped for other digest
    /// versions, as ZooKeeper skips them).
    fn check_digest(&mut self, zxid: i64, version: i32, expected: i64) {
        if version != DIGEST_VERSION {
            return;
        }
        let actual = self.tree.digest();
        if actual == expected {
            self.digests_matched += 1;
        } else {
            self.digest_mismatches += 1;
            tracing::warn!(
                zxid = format_args!("{zxid:#x}"),
                expected,
                actual,
                "tree digest differs from the one recorded on disk"
            );
        }
    }
}

/// Rebuilds the tree from what storage recovered: the snapshot body (ZooKeeper's layout; its
/// zxid comes from the file name, as in `FileSnap`), then every later txn, as ZooKeeper's
/// `FileTxnSnapLog.restore` does. Digests are checked the way `DataTree` checks them: the
/// snapshot's once the tree reaches its zxid (a digest older than the snapshot is ignored), and
/// each txn's after applying it once the snapshot's has been reached.
pub fn rebuild_tree(recovered: &crate::storage::Recovered) -> Result<RebuiltTree, ServerError> {
    let mut out = RebuiltTree {
        tree: DataTree::new(),
        replayed: 0,
        digests_matched: 0,
        digest_mismatches: 0,
    };
    let mut pending = None;
    if let Some((zxid, payload)) = &recovered.snapshot {
        let (tree, digest) =
            snapshot::decode_payload(payload, DataTree::read_snapshot).map_err(|e| {
                ServerError::Recovery(format!("snapshot {zxid:#x} does not decode: {e}"))
            })?;
        out.tree = tree;
        out.tree.set_last_processed_zxid(*zxid as i64);
        pending = digest.filter(|d| d.zxid > 0 && d.zxid >= *zxid as i64);
        tracing::info!(zxid = format_args!("{zxid:#x}"), "loaded snapshot");
    }
    if let Some(d) = pending.filter(|d| d.zxid == out.tree.last_processed_zxid()) {
        out.check_digest(d.zxid, d.version, d.digest);
        pending = None;
    }
    for (zxid, payload) in &recovered.txns_after {
        let (hdr, txn, digest) = crate::tree::txn::decode_logged(payload).map_err(|e| {
            ServerError::Recovery(format!("logged txn {zxid:#x} does not decode: {e}"))
        })?;
        if hdr.zxid <= out.tree.last_processed_zxid() {
            continue; // fuzzy snapshot overlap: already in the tree
        }
        out.tree.apply(&hdr, &txn);
        out.replayed += 1;
        if let Some(d) = pending {
            if hdr.zxid >= d.zxid {
                if hdr.zxid == d.zxid {
                    out.check_digest(d.zxid, d.version, d.digest);
                }
                pending = None;
            }
        }
        if let (None, Some(d)) = (pending, digest) {
            out.check_digest(hdr.zxid, d.version, d.tree_digest);
        }
    }
    let last_zxid = out
        .tree
        .last_processed_zxid()
        .max(recovered.last_logged_zxid as i64);
    out.tree.set_last_processed_zxid(last_zxid);
    Ok(out)
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
    let rebuilt = rebuild_tree(&recovered)?;
    let tree = rebuilt.tree;
    let last_zxid = tree.last_processed_zxid();
    tracing::info!(
        replayed = rebuilt.replayed,
        digests_matched = rebuilt.digests_matched,
        digest_mismatches = rebuilt.digest_mismatches,
        last_zxid = format_args!("{last_zxid:#x}"),
        "recovered"
    );
    if recovered.snapshot.as_ref().map(|(z, _)| *z as i64) != Some(last_zxid)
        || rebuilt.replayed > 0
    {
        let payload = snapshot_payload(&tree);
        crate::storage::snapshot::write_snapshot(&sc.snap_dir(), last_zxid as u64, &payload)?;
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
