//! A [`MemStorage`] whose `sync` runs two hooks: `before` may fail it (an injected fdatasync
//! error), `after` is told what the returned sync covered. Shared by the storage tests and the
//! loom models (which include this file by path), so a test that needs to watch or break
//! `sync` wraps the storage instead of re-implementing the whole `Storage` trait.

use zabkeeper::storage::{MemStorage, Storage, StorageError, TxnIter};

/// Runs before each `sync`; an `Err` is returned instead of syncing.
pub type BeforeSync = Box<dyn FnMut(&MemStorage) -> Result<(), StorageError> + Send>;
/// Runs after each `sync` that returned `Ok(upto)`, with `upto`.
pub type AfterSync = Box<dyn FnMut(u64) + Send>;

/// `MemStorage` with hooks around `sync`; every other call goes straight to `inner`.
pub struct Hooked {
    pub inner: MemStorage,
    pub before: BeforeSync,
    pub after: AfterSync,
}

impl Hooked {
    /// `inner` with an `after` hook only.
    pub fn after_sync(inner: MemStorage, after: impl FnMut(u64) + Send + 'static) -> Hooked {
        Hooked {
            inner,
            before: Box::new(|_| Ok(())),
            after: Box::new(after),
        }
    }
}

impl Storage for Hooked {
    fn append(&mut self, zxid: u64, payload: &[u8]) -> Result<(), StorageError> {
        self.inner.append(zxid, payload)
    }
    fn set_committed(&mut self, zxid: u64) {
        self.inner.set_committed(zxid);
    }
    fn sync(&mut self) -> Result<u64, StorageError> {
        (self.before)(&self.inner)?;
        let upto = self.inner.sync()?;
        (self.after)(upto);
        Ok(upto)
    }
    fn last_logged_zxid(&self) -> u64 {
        self.inner.last_logged_zxid()
    }
    fn roll(&mut self) -> Result<(), StorageError> {
        self.inner.roll()
    }
    fn truncate_after(&mut self, zxid: u64, floor: u64) -> Result<(), StorageError> {
        self.inner.truncate_after(zxid, floor)
    }
    fn read_from(&mut self, from: u64) -> Result<TxnIter, StorageError> {
        self.inner.read_from(from)
    }
    fn accepted_epoch(&self) -> Option<u64> {
        self.inner.accepted_epoch()
    }
    fn set_accepted_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        self.inner.set_accepted_epoch(epoch)
    }
    fn current_epoch(&self) -> Option<u64> {
        self.inner.current_epoch()
    }
    fn set_current_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        self.inner.set_current_epoch(epoch)
    }
    fn save_snapshot(&mut self, zxid: u64, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.save_snapshot(zxid, bytes)
    }
    fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        self.inner.latest_snapshot()
    }
}
