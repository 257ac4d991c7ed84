//! `FileStorage`: the [`Storage`] the server runs on (`spec/storage.md`).
//!
//! Role: ties the txn log, snapshots and epoch files of one server together behind the
//! [`Storage`] trait. Opened by recovery; then owned by the group-commit writer thread
//! ([`super::group_commit`]), which is the only caller in production.

use std::path::PathBuf;

use super::epochs::{self, ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE};
use super::lock::DirLock;
use super::recovery::{lock_and_recover, Recovered};
use super::txnlog::{TxnLog, TxnLogOptions};
use super::watermark::Watermark;
use super::{purge, snapshot, Storage, StorageConfig, StorageError, TxnIter};

/// Durable storage in ZooKeeper's directory layout.
pub struct FileStorage {
    config: StorageConfig,
    snap_dir: PathBuf,
    log: TxnLog,
    accepted_epoch: u64,
    current_epoch: u64,
    /// Zxid of the newest snapshot known valid (recovered or written since).
    snapshot_zxid: Option<u64>,
    /// The commit watermark file, and the watermark to record at the next sync.
    watermark: Watermark,
    committed: u64,
    /// Held for as long as this storage lives: no other server may use its directories.
    _lock: DirLock,
}

impl FileStorage {
    /// Locks the directories of `config` ([`DirLock`]: fails with `Locked` before writing
    /// anything when another server uses them), recovers them (see [`super::recover`]) and
    /// returns the storage, ready to append after the last logged zxid, with what was recovered.
    pub fn open(config: StorageConfig) -> Result<(Self, Recovered), StorageError> {
        let (lock, disk) = lock_and_recover(&config)?;
        let recovered = disk.recovered;
        let options = TxnLogOptions {
            prealloc_bytes: config.prealloc_bytes,
            snap_count: config.snap_count,
            max_record_bytes: config.max_record_bytes,
        };
        let log = TxnLog::new(
            config.log_dir(),
            options,
            disk.segments,
            disk.last_record_zxid,
            recovered.last_logged_zxid,
        );
        let (watermark, _) = Watermark::open(&config.log_dir())?;
        let storage = Self {
            watermark,
            committed: 0,
            snap_dir: config.snap_dir(),
            snapshot_zxid: recovered.snapshot.as_ref().map(|(zxid, _)| *zxid),
            accepted_epoch: recovered.accepted_epoch,
            current_epoch: recovered.current_epoch,
            log,
            config,
            _lock: lock,
        };
        Ok((storage, recovered))
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// Newest zxid made durable by [`Storage::sync`].
    pub fn durable_zxid(&self) -> u64 {
        self.log.durable_zxid()
    }

    /// Paths of the log segments, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.log.segments().iter().map(|s| s.path.clone()).collect()
    }

    /// ZooKeeper's autopurge: keeps the newest `snap_retain_count` snapshots and the logs needed
    /// to recover from the oldest of them; returns the files deleted.
    pub fn purge(&mut self, snap_retain_count: usize) -> Result<Vec<PathBuf>, StorageError> {
        let deleted = purge::purge(&self.snap_dir, &self.config.log_dir(), snap_retain_count)?;
        self.log.refresh_segments()?;
        Ok(deleted)
    }
}

impl Storage for FileStorage {
    fn append(&mut self, zxid: u64, payload: &[u8]) -> Result<(), StorageError> {
        self.log.append(zxid, payload)
    }

    fn sync(&mut self) -> Result<u64, StorageError> {
        let durable = self.log.sync()?;
        if self.committed > 0 {
            self.watermark.record(self.committed.min(durable))?;
        }
        Ok(durable)
    }

    fn set_committed(&mut self, zxid: u64) {
        self.committed = self.committed.max(zxid);
    }

    fn last_logged_zxid(&self) -> u64 {
        self.log.last_zxid()
    }

    fn roll(&mut self) -> Result<(), StorageError> {
        self.log.roll()?;
        self.watermark.flush()
    }

    fn truncate_after(&mut self, zxid: u64, floor: u64) -> Result<(), StorageError> {
        let floor = floor.max(self.snapshot_zxid.unwrap_or(0));
        if zxid < floor {
            return Err(StorageError::TruncateBelowFloor { zxid, floor });
        }
        self.log.truncate_after(zxid)?;
        if let Some(snapshot_zxid) = self.snapshot_zxid {
            self.log.raise_floor(snapshot_zxid);
        }
        self.committed = self.committed.min(zxid);
        self.watermark.clamp(zxid)
    }

    fn read_from(&mut self, from: u64) -> Result<TxnIter, StorageError> {
        self.log.read_from(from)
    }

    fn accepted_epoch(&self) -> Option<u64> {
        Some(self.accepted_epoch)
    }

    fn set_accepted_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        epochs::write_epoch(&self.snap_dir, ACCEPTED_EPOCH_FILE, epoch)?;
        self.accepted_epoch = epoch;
        Ok(())
    }

    fn current_epoch(&self) -> Option<u64> {
        Some(self.current_epoch)
    }

    fn set_current_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        epochs::write_epoch(&self.snap_dir, CURRENT_EPOCH_FILE, epoch)?;
        self.current_epoch = epoch;
        Ok(())
    }

    fn save_snapshot(&mut self, zxid: u64, bytes: &[u8]) -> Result<(), StorageError> {
        snapshot::write_snapshot(&self.snap_dir, zxid, bytes)?;
        self.snapshot_zxid = Some(self.snapshot_zxid.map_or(zxid, |z| z.max(zxid)));
        self.log.raise_floor(zxid);
        Ok(())
    }

    fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        snapshot::load_latest(&self.snap_dir)
    }
}

impl Drop for FileStorage {
    fn drop(&mut self) {
        // The watermark is only ever a lower bound; a failed flush here loses freshness only.
        if let Err(e) = self.watermark.flush() {
            tracing::warn!(error = %e, "commit watermark not flushed");
        }
    }
}
