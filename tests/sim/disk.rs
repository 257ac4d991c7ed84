//! The simulated disk: a [`MemStorage`] that outlives the server process using it. The server
//! owns a [`SimDisk`] handle; the simulation keeps another, and a crash of the host drops the
//! server's tasks and then forgets every append no sync covered ([`SimDisk::crash`]).
//!
//! The `fsync_fail` fault ([`SimDisk::fail_syncs`]) makes every `sync` fail with
//! [`INJECTED_FSYNC_ERROR`], like an fsync returning EIO. ZooKeeper exits on such a failure; the
//! server must stop too and write nothing more: after the first failed sync every write
//! (append, sync, epoch, truncation, snapshot) is refused and counted
//! ([`SimDisk::writes_after_failure`]), and the run reports any as a violation.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use zabkeeper::config::ServerConfig;
use zabkeeper::server::clock::WallClock;
use zabkeeper::server::recovery::{self, CommitRule, Recovered};
use zabkeeper::server::ServerError;
use zabkeeper::storage::{MemStorage, Storage, StorageError, TxnIter};

/// The error text of an injected fsync failure (the `source` of the `StorageError::Io`).
pub const INJECTED_FSYNC_ERROR: &str = "injected fsync failure (EIO)";

/// One server's disk, shared between the server and the simulation.
#[derive(Clone)]
pub struct SimDisk {
    storage: Arc<Mutex<MemStorage>>,
    /// The `fsync_fail` fault is in force: every sync fails.
    failing: Arc<AtomicBool>,
    /// A sync failed since the last [`SimDisk::repair`]: every write is refused.
    failed: Arc<AtomicBool>,
    /// Writes attempted after a failed sync (each a violation).
    after_failure: Arc<AtomicU64>,
}

impl SimDisk {
    /// An empty disk that loses unsynced appends on a crash.
    pub fn new() -> SimDisk {
        SimDisk {
            storage: Arc::new(Mutex::new(MemStorage::with_crash_loss(true))),
            failing: Arc::new(AtomicBool::new(false)),
            failed: Arc::new(AtomicBool::new(false)),
            after_failure: Arc::new(AtomicU64::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemStorage> {
        self.storage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on every sync fails with [`INJECTED_FSYNC_ERROR`].
    pub fn fail_syncs(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }

    /// The fault is in force (set by [`SimDisk::fail_syncs`], cleared by [`SimDisk::repair`]).
    pub fn syncs_failing(&self) -> bool {
        self.failing.load(Ordering::SeqCst)
    }

    /// The disk is replaced or the operator restarts the process: syncs work again. Call after
    /// [`SimDisk::crash`], which drops the appends the failed syncs did not cover.
    pub fn repair(&self) {
        self.failing.store(false, Ordering::SeqCst);
        self.failed.store(false, Ordering::SeqCst);
    }

    /// How many writes the server attempted after a sync of this disk failed.
    pub fn writes_after_failure(&self) -> u64 {
        self.after_failure.load(Ordering::SeqCst)
    }

    /// Refuses (and counts) a write after a failed sync.
    fn write_allowed(&self, op: &'static str) -> Result<(), StorageError> {
        if self.failed.load(Ordering::SeqCst) {
            self.after_failure.fetch_add(1, Ordering::SeqCst);
            return Err(StorageError::Io {
                op,
                path: "sim-disk".into(),
                source: io::Error::other("write after a failed fsync"),
            });
        }
        Ok(())
    }

    /// A power failure: unsynced appends vanish.
    pub fn crash(&self) {
        self.lock().crash();
    }

    /// Start-up recovery of a server on this disk (`Seams::recover`): the same rules as from
    /// files, then the runtime's own recovery (`server::recovery::recover_storage`).
    pub fn recover(
        &self,
        config: &ServerConfig,
        clock: &dyn WallClock,
    ) -> Result<Recovered<SimDisk>, ServerError> {
        let recovered = self.lock().recover()?;
        recovery::recover_storage(
            config,
            CommitRule::for_config(config),
            self.clone(),
            recovered,
            clock,
            |disk, zxid, payload| disk.save_snapshot(zxid, payload),
        )
    }
}

impl Storage for SimDisk {
    fn append(&mut self, zxid: u64, payload: &[u8]) -> Result<(), StorageError> {
        self.write_allowed("append")?;
        self.lock().append(zxid, payload)
    }
    fn sync(&mut self) -> Result<u64, StorageError> {
        self.write_allowed("fsync")?;
        if self.syncs_failing() {
            self.failed.store(true, Ordering::SeqCst);
            return Err(StorageError::Io {
                op: "fsync",
                path: "sim-disk".into(),
                source: io::Error::other(INJECTED_FSYNC_ERROR),
            });
        }
        self.lock().sync()
    }
    fn set_committed(&mut self, zxid: u64) {
        self.lock().set_committed(zxid)
    }
    fn last_logged_zxid(&self) -> u64 {
        self.lock().last_logged_zxid()
    }
    fn roll(&mut self) -> Result<(), StorageError> {
        self.write_allowed("roll")?;
        self.lock().roll()
    }
    fn truncate_after(&mut self, zxid: u64, floor: u64) -> Result<(), StorageError> {
        self.write_allowed("truncate")?;
        self.lock().truncate_after(zxid, floor)
    }
    fn read_from(&mut self, from: u64) -> Result<TxnIter, StorageError> {
        self.lock().read_from(from)
    }
    fn accepted_epoch(&self) -> Option<u64> {
        self.lock().accepted_epoch()
    }
    fn set_accepted_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        self.write_allowed("set_accepted_epoch")?;
        self.lock().set_accepted_epoch(epoch)
    }
    fn current_epoch(&self) -> Option<u64> {
        self.lock().current_epoch()
    }
    fn set_current_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        self.write_allowed("set_current_epoch")?;
        self.lock().set_current_epoch(epoch)
    }
    fn save_snapshot(&mut self, zxid: u64, bytes: &[u8]) -> Result<(), StorageError> {
        self.write_allowed("save_snapshot")?;
        self.lock().save_snapshot(zxid, bytes)
    }
    fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        self.lock().latest_snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_sync_refuses_and_counts_every_later_write_and_a_crash_drops_the_unsynced() {
        let mut disk = SimDisk::new();
        disk.append(1, &zabkeeper::storage::encode_txn_payload(1, 1, b"x"))
            .unwrap();
        disk.sync().unwrap();
        disk.append(2, &zabkeeper::storage::encode_txn_payload(2, 1, b"x"))
            .unwrap();
        disk.fail_syncs();
        let e = disk.sync().unwrap_err();
        assert!(std::error::Error::source(&e)
            .unwrap()
            .to_string()
            .ends_with(INJECTED_FSYNC_ERROR));
        assert_eq!(disk.writes_after_failure(), 0);
        // A server that went on writing is caught: each write is refused and counted.
        assert!(disk
            .append(3, &zabkeeper::storage::encode_txn_payload(3, 1, b"x"))
            .is_err());
        assert!(disk.sync().is_err());
        assert!(disk.set_current_epoch(2).is_err());
        assert_eq!(disk.writes_after_failure(), 3);
        // The restart: the append the failed sync did not cover is gone, syncs work again.
        disk.crash();
        disk.repair();
        assert_eq!(disk.last_logged_zxid(), 1);
        disk.append(2, &zabkeeper::storage::encode_txn_payload(2, 1, b"x"))
            .unwrap();
        disk.sync().unwrap();
    }
}
