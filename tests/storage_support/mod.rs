//! Helpers shared by the storage test targets (`storage_recovery`, `storage_group_commit`):
//! a txn payload per zxid, a storage config, a fresh `FileStorage` and a reopen.

#![allow(dead_code)] // each target uses its own subset

pub mod hooked;

use std::path::Path;

use zabkeeper::storage::{encode_txn_payload, FileStorage, Recovered, Storage, StorageConfig};

pub fn payload(zxid: u64) -> Vec<u8> {
    encode_txn_payload(zxid, 5, format!("txn {zxid:#x}").as_bytes())
}

pub fn config(dir: &Path, prealloc_bytes: u64, snap_count: u64) -> StorageConfig {
    let mut config = StorageConfig::new(dir);
    config.prealloc_bytes = prealloc_bytes;
    config.snap_count = snap_count;
    config
}

/// A fresh server: like ZooKeeper 3.8, it writes `snapshot.0` of the empty tree at start-up.
pub fn fresh(config: &StorageConfig) -> FileStorage {
    let (mut storage, recovered) = FileStorage::open(config.clone()).expect("open fresh");
    assert_eq!(recovered.last_logged_zxid, 0);
    storage.save_snapshot(0, b"empty tree").expect("snapshot.0");
    storage
}

pub fn append_range(storage: &mut impl Storage, zxids: impl IntoIterator<Item = u64>) {
    for zxid in zxids {
        storage.append(zxid, &payload(zxid)).expect("append");
    }
}

pub fn reopen(config: &StorageConfig) -> Recovered {
    FileStorage::open(config.clone()).expect("reopen").1
}

pub fn zxids(recovered: &Recovered) -> Vec<u64> {
    recovered.txns_after.iter().map(|(zxid, _)| *zxid).collect()
}
