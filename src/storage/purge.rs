//! Autopurge (`spec/storage.md` §6): ZooKeeper's `PurgeTxnLog` rule.
//!
//! Role: run by the runtime every `autopurge.purgeInterval` hours (ZooKeeper's
//! `DatadirCleanupManager`). Keeps the newest `snapRetainCount` (≥ 3) valid snapshots; with X the
//! zxid of the oldest kept one, deletes every snapshot and log file named by a zxid below X —
//! except the newest log starting at or before X, which may hold the txns after snapshot X.

use std::fs;
use std::path::{Path, PathBuf};

use super::snapshot::{list_snapshots, quick_check};
use super::txnlog::{list_segments, segments_from};
use super::{fsync_dir, io_err, StorageError, MIN_SNAP_RETAIN_COUNT};

/// What [`purge`] would delete, without deleting: `(snapshots, logs)`, oldest first.
pub fn plan(
    snap_dir: &Path,
    log_dir: &Path,
    snap_retain_count: usize,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), StorageError> {
    if snap_retain_count < MIN_SNAP_RETAIN_COUNT {
        return Err(StorageError::Config(format!(
            "snapRetainCount {snap_retain_count} is below the minimum {MIN_SNAP_RETAIN_COUNT}"
        )));
    }
    // ZooKeeper's findNValidSnapshots: newest first, quick validity check only.
    let mut kept = Vec::new();
    for (zxid, path) in list_snapshots(snap_dir)? {
        if quick_check(&path)? {
            kept.push(zxid);
            if kept.len() == snap_retain_count {
                break;
            }
        }
    }
    let Some(&least_retained) = kept.last() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let segments = list_segments(log_dir)?;
    let needed = segments_from(&segments, least_retained);
    let logs = segments
        .iter()
        .filter(|s| s.start_zxid < least_retained && !needed.contains(s))
        .map(|s| s.path.clone())
        .collect();
    let mut snapshots: Vec<PathBuf> = list_snapshots(snap_dir)?
        .into_iter()
        .filter(|(zxid, _)| *zxid < least_retained)
        .map(|(_, path)| path)
        .collect();
    snapshots.reverse();
    Ok((snapshots, logs))
}

/// Deletes what [`plan`] names, logs first and oldest first, and returns the deleted paths.
pub fn purge(
    snap_dir: &Path,
    log_dir: &Path,
    snap_retain_count: usize,
) -> Result<Vec<PathBuf>, StorageError> {
    let (snapshots, logs) = plan(snap_dir, log_dir, snap_retain_count)?;
    let mut deleted = Vec::new();
    for path in logs.iter().chain(snapshots.iter()) {
        tracing::info!(file = %path.display(), "purging");
        fs::remove_file(path).map_err(io_err("remove", path))?;
        deleted.push(path.clone());
    }
    if !logs.is_empty() {
        fsync_dir(log_dir)?;
    }
    if !snapshots.is_empty() {
        fsync_dir(snap_dir)?;
    }
    Ok(deleted)
}
