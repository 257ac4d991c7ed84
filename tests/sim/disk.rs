//! The simulated disk: a [`MemStorage`] that outlives the server process using it. The server
//! owns a [`SimDisk`] handle; the simulation keeps another, and a crash of the host drops the
//! server's tasks and then forgets every append no sync covered ([`SimDisk::crash`]).

use std::sync::{Arc, Mutex, MutexGuard};

use zabkeeper::config::ServerConfig;
use zabkeeper::server::clock::WallClock;
use zabkeeper::server::recovery::{self, CommitRule, Recovered};
use zabkeeper::server::ServerError;
use zabkeeper::storage::{MemStorage, Storage, StorageError, TxnIter};

/// One server's disk, shared between the server and the simulation.
#[derive(Clone)]
pub struct SimDisk(Arc<Mutex<MemStorage>>);

impl SimDisk {
    /// An empty disk that loses unsynced appends on a crash.
    pub fn new() -> SimDisk {
        SimDisk(Arc::new(Mutex::new(MemStorage::with_crash_loss(true))))
    }

    fn lock(&self) -> MutexGuard<'_, MemStorage> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
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
        self.lock().append(zxid, payload)
    }
    fn sync(&mut self) -> Result<u64, StorageError> {
        self.lock().sync()
    }
    fn set_committed(&mut self, zxid: u64) {
        self.lock().set_committed(zxid)
    }
    fn last_logged_zxid(&self) -> u64 {
        self.lock().last_logged_zxid()
    }
    fn roll(&mut self) -> Result<(), StorageError> {
        self.lock().roll()
    }
    fn truncate_after(&mut self, zxid: u64, floor: u64) -> Result<(), StorageError> {
        self.lock().truncate_after(zxid, floor)
    }
    fn read_from(&mut self, from: u64) -> Result<TxnIter, StorageError> {
        self.lock().read_from(from)
    }
    fn accepted_epoch(&self) -> Option<u64> {
        self.lock().accepted_epoch()
    }
    fn set_accepted_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        self.lock().set_accepted_epoch(epoch)
    }
    fn current_epoch(&self) -> Option<u64> {
        self.lock().current_epoch()
    }
    fn set_current_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        self.lock().set_current_epoch(epoch)
    }
    fn save_snapshot(&mut self, zxid: u64, bytes: &[u8]) -> Result<(), StorageError> {
        self.lock().save_snapshot(zxid, bytes)
    }
    fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        self.lock().latest_snapshot()
    }
}
