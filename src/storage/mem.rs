//! `MemStorage`: the [`Storage`] of simulations and tests.
//!
//! Role: the turmoil simulations and protocol tests run the real runtime on it. It keeps the same
//! contract as [`super::FileStorage`] — same payload checks, same ordering rule, same recovery
//! rules (gap check, empty-snapshot guard, epoch rules) — and can model a power failure:
//! with `lose_unsynced_on_crash`, [`MemStorage::crash`] forgets every append no `sync` covered.

use std::collections::BTreeMap;

use super::recovery::{assemble_in_memory, Recovered};
use super::{check_payload, epochs, Storage, StorageError, TxnIter, DEFAULT_MAX_RECORD_BYTES};

/// In-memory storage.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    records: Vec<(u64, Vec<u8>)>,
    /// `records[..synced]` survive a crash.
    synced: usize,
    snapshots: BTreeMap<u64, Vec<u8>>,
    accepted_epoch: Option<u64>,
    current_epoch: Option<u64>,
    append_floor: u64,
    lose_unsynced_on_crash: bool,
    trust_empty_snapshot: bool,
    syncs: u64,
    /// The watermark given since the last sync, and the one the last sync recorded.
    committed: Option<u64>,
    committed_synced: Option<u64>,
}

impl MemStorage {
    /// Empty storage that keeps unsynced appends across [`MemStorage::crash`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty storage; `lose_unsynced_on_crash` makes [`MemStorage::crash`] drop unsynced appends.
    pub fn with_crash_loss(lose_unsynced_on_crash: bool) -> Self {
        Self {
            lose_unsynced_on_crash,
            ..Self::default()
        }
    }

    /// Like `zookeeper.snapshot.trust.empty`: let [`MemStorage::recover`] accept logs without a
    /// snapshot.
    pub fn trust_empty_snapshot(mut self, trust: bool) -> Self {
        self.trust_empty_snapshot = trust;
        self
    }

    /// A power failure: unsynced appends vanish when the switch is on. Epochs and snapshots were
    /// durable when their setters returned, so they stay.
    pub fn crash(&mut self) {
        if self.lose_unsynced_on_crash {
            self.records.truncate(self.synced);
        }
        self.synced = self.records.len();
        let last_record = self.records.last().map_or(0, |(zxid, _)| *zxid);
        let last_snapshot = self.snapshots.keys().next_back().copied().unwrap_or(0);
        self.append_floor = last_record.max(last_snapshot);
    }

    /// The restart after a crash: the same rules as recovery from files.
    pub fn recover(&mut self) -> Result<Recovered, StorageError> {
        let snapshot = self
            .snapshots
            .iter()
            .next_back()
            .map(|(z, b)| (*z, b.clone()));
        if snapshot.is_none() && !self.trust_empty_snapshot {
            if let Some((last_logged, _)) = self.records.last() {
                return Err(StorageError::MissingSnapshot {
                    dir: "<memory>".into(),
                    last_logged: *last_logged,
                });
            }
        }
        let (snapshot, txns_after, last_logged_zxid) = assemble_in_memory(snapshot, &self.records)?;
        let resolved = epochs::resolve(
            self.accepted_epoch,
            self.current_epoch,
            None,
            last_logged_zxid,
        )?;
        self.accepted_epoch = Some(resolved.accepted);
        self.current_epoch = Some(resolved.current);
        Ok(Recovered {
            snapshot,
            txns_after,
            last_logged_zxid,
            accepted_epoch: resolved.accepted,
            current_epoch: resolved.current,
            committed: self.committed_synced.map(|w| w.min(last_logged_zxid)),
        })
    }

    /// Number of `sync` calls that had something to make durable.
    pub fn sync_count(&self) -> u64 {
        self.syncs
    }

    /// Newest zxid a `sync` made durable.
    pub fn durable_zxid(&self) -> u64 {
        self.records[..self.synced]
            .last()
            .map_or(0, |(zxid, _)| *zxid)
    }
}

impl Storage for MemStorage {
    fn append(&mut self, zxid: u64, payload: &[u8]) -> Result<(), StorageError> {
        check_payload(zxid, payload, DEFAULT_MAX_RECORD_BYTES)?;
        if zxid <= self.append_floor {
            return Err(StorageError::OutOfOrder {
                zxid,
                last: self.append_floor,
            });
        }
        self.records.push((zxid, payload.to_vec()));
        self.append_floor = zxid;
        Ok(())
    }

    fn sync(&mut self) -> Result<u64, StorageError> {
        if self.synced < self.records.len() {
            self.syncs += 1;
            self.synced = self.records.len();
        }
        if let Some(w) = self.committed.take() {
            self.committed_synced = Some(self.committed_synced.map_or(w, |s| s.max(w)));
        }
        Ok(self.append_floor)
    }

    fn set_committed(&mut self, zxid: u64) {
        self.committed = Some(self.committed.map_or(zxid, |w| w.max(zxid)));
    }

    fn last_logged_zxid(&self) -> u64 {
        self.append_floor
    }

    fn roll(&mut self) -> Result<(), StorageError> {
        self.sync().map(|_| ())
    }

    fn truncate_after(&mut self, zxid: u64, floor: u64) -> Result<(), StorageError> {
        let newest_snapshot = self.snapshots.keys().next_back().copied().unwrap_or(0);
        let floor = floor.max(newest_snapshot);
        if zxid < floor {
            return Err(StorageError::TruncateBelowFloor { zxid, floor });
        }
        self.records.retain(|(z, _)| *z <= zxid);
        self.committed_synced = self
            .committed_synced
            .map(|w| w.min(zxid.max(newest_snapshot)));
        // Like the file log, a truncation leaves the remaining records durable.
        self.synced = self.records.len();
        let last_record = self.records.last().map_or(0, |(z, _)| *z);
        self.append_floor = last_record.max(newest_snapshot);
        Ok(())
    }

    fn read_from(&mut self, from: u64) -> Result<TxnIter, StorageError> {
        let records: Vec<_> = self
            .records
            .iter()
            .filter(|(z, _)| *z >= from)
            .cloned()
            .collect();
        Ok(Box::new(records.into_iter().map(Ok)))
    }

    fn accepted_epoch(&self) -> Option<u64> {
        self.accepted_epoch
    }

    fn set_accepted_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        self.accepted_epoch = Some(epoch);
        Ok(())
    }

    fn current_epoch(&self) -> Option<u64> {
        self.current_epoch
    }

    fn set_current_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        self.current_epoch = Some(epoch);
        Ok(())
    }

    fn save_snapshot(&mut self, zxid: u64, bytes: &[u8]) -> Result<(), StorageError> {
        self.snapshots.insert(zxid, bytes.to_vec());
        self.append_floor = self.append_floor.max(zxid);
        Ok(())
    }

    fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        Ok(self
            .snapshots
            .iter()
            .next_back()
            .map(|(z, b)| (*z, b.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode_txn_payload;
    use super::*;

    fn append(s: &mut MemStorage, zxid: u64) {
        s.append(zxid, &encode_txn_payload(zxid, 1, b""))
            .expect("append");
    }

    #[test]
    fn crash_loses_only_unsynced_when_switched_on() {
        for lose in [false, true] {
            let mut s = MemStorage::with_crash_loss(lose);
            s.save_snapshot(0, b"empty").expect("snap");
            append(&mut s, 1);
            append(&mut s, 2);
            assert_eq!(s.sync().expect("sync"), 2);
            append(&mut s, 3);
            s.crash();
            let r = s.recover().expect("recover");
            let zxids: Vec<u64> = r.txns_after.iter().map(|(z, _)| *z).collect();
            assert_eq!(zxids, if lose { vec![1, 2] } else { vec![1, 2, 3] });
            assert_eq!(r.last_logged_zxid, if lose { 2 } else { 3 });
            // Appends continue right after what survived.
            append(&mut s, r.last_logged_zxid + 1);
        }
    }

    #[test]
    fn same_rules_as_files() {
        let mut s = MemStorage::new();
        append(&mut s, 1);
        assert!(matches!(
            s.recover(),
            Err(StorageError::MissingSnapshot { .. })
        ));
        s.save_snapshot(0, b"").expect("snap");
        assert!(matches!(
            s.append(1, &encode_txn_payload(1, 1, b"")),
            Err(StorageError::OutOfOrder { .. })
        ));
        append(&mut s, 3);
        assert!(
            matches!(s.recover(), Err(StorageError::Corrupt { .. })),
            "gap 1 -> 3"
        );
        assert!(matches!(
            s.truncate_after(1, 2),
            Err(StorageError::TruncateBelowFloor { .. })
        ));
        s.truncate_after(1, 0).expect("truncate");
        let r = s.recover().expect("recover");
        assert_eq!(r.txns_after.len(), 1);
        assert_eq!((r.accepted_epoch, r.current_epoch), (0, 0));
    }
}
