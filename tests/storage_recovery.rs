//! Storage durability and recovery (`spec/storage.md`): round trips, torn tails at every byte,
//! flipped bits, preallocated zero tails, segment rolls, fuzzy snapshot overlap, truncation,
//! epochs, purge and group commit. Deterministic: no sleeps, no timing.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use zabkeeper::storage::epochs::{ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE};
use zabkeeper::storage::group_commit::GroupCommitStats;
use zabkeeper::storage::txnlog::{log_file_name, FILE_HEADER_LEN, RECORD_OVERHEAD};
use zabkeeper::storage::{
    encode_txn_payload, purge, snapshot, Completion, FileStorage, GroupCommit, GroupCommitConfig,
    GroupCommitError, MemStorage, Recovered, Storage, StorageConfig, StorageError, TxnIter,
};

fn payload(zxid: u64) -> Vec<u8> {
    encode_txn_payload(zxid, 5, format!("txn {zxid:#x}").as_bytes())
}

fn config(dir: &Path, prealloc_bytes: u64, snap_count: u64) -> StorageConfig {
    let mut config = StorageConfig::new(dir);
    config.prealloc_bytes = prealloc_bytes;
    config.snap_count = snap_count;
    config
}

/// A fresh server: like ZooKeeper 3.8, it writes `snapshot.0` of the empty tree at start-up.
fn fresh(config: &StorageConfig) -> FileStorage {
    let (mut storage, recovered) = FileStorage::open(config.clone()).expect("open fresh");
    assert_eq!(recovered.last_logged_zxid, 0);
    storage.save_snapshot(0, b"empty tree").expect("snapshot.0");
    storage
}

fn append_range(storage: &mut impl Storage, zxids: impl IntoIterator<Item = u64>) {
    for zxid in zxids {
        storage.append(zxid, &payload(zxid)).expect("append");
    }
}

fn reopen(config: &StorageConfig) -> Recovered {
    FileStorage::open(config.clone()).expect("reopen").1
}

fn zxids(recovered: &Recovered) -> Vec<u64> {
    recovered.txns_after.iter().map(|(zxid, _)| *zxid).collect()
}

fn assert_payloads(recovered: &Recovered) {
    for (zxid, bytes) in &recovered.txns_after {
        assert_eq!(bytes, &payload(*zxid), "payload of {zxid:#x}");
    }
}

fn log_path(config: &StorageConfig, start: u64) -> PathBuf {
    config.log_dir().join(log_file_name(start))
}

/// Byte offset where each record of a segment starts, from the known payloads.
fn record_offsets(zxids: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let mut offset = FILE_HEADER_LEN;
    let mut out = Vec::new();
    for zxid in zxids {
        out.push(offset);
        offset += RECORD_OVERHEAD + payload(zxid).len() as u64;
    }
    out.push(offset);
    out
}

fn collect(iter: TxnIter) -> Vec<u64> {
    iter.map(|r| r.expect("read").0).collect()
}

#[test]
fn append_sync_reopen_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 1000);
    let mut storage = fresh(&config);
    append_range(&mut storage, 1..=50);
    assert_eq!(storage.last_logged_zxid(), 50);
    assert_eq!(storage.sync().expect("sync"), 50);
    assert_eq!(storage.durable_zxid(), 50);
    drop(storage);

    let (mut storage, recovered) = FileStorage::open(config.clone()).expect("reopen");
    assert_eq!(recovered.snapshot, Some((0, b"empty tree".to_vec())));
    assert_eq!(zxids(&recovered), (1..=50).collect::<Vec<_>>());
    assert_payloads(&recovered);
    assert_eq!(recovered.last_logged_zxid, 50);
    assert_eq!((recovered.accepted_epoch, recovered.current_epoch), (0, 0));

    // A restart starts a new segment named by its first zxid, as ZooKeeper does.
    assert!(matches!(
        storage.append(50, &payload(50)),
        Err(StorageError::OutOfOrder { zxid: 50, last: 50 })
    ));
    assert!(matches!(
        storage.append(51, &payload(52)),
        Err(StorageError::ZxidMismatch {
            zxid: 51,
            payload_zxid: 52
        })
    ));
    append_range(&mut storage, 51..=52);
    storage.sync().expect("sync");
    assert!(log_path(&config, 51).exists(), "log.33");
    drop(storage);
    let recovered = reopen(&config);
    assert_eq!(zxids(&recovered), (1..=52).collect::<Vec<_>>());
    assert_payloads(&recovered);
}

#[test]
fn file_layout_is_zookeepers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 0, 1000);
    let mut storage = fresh(&config);
    append_range(&mut storage, [0x1_0000_0001]);
    storage.sync().expect("sync");
    let bytes = fs::read(log_path(&config, 0x1_0000_0001)).expect("log.100000001");
    assert_eq!(&bytes[0..4], b"ZKLG");
    assert_eq!(&bytes[4..8], &2u32.to_be_bytes());
    assert_eq!(&bytes[8..16], &0u64.to_be_bytes());
    let p = payload(0x1_0000_0001);
    let adler = zabkeeper::storage::Adler32::checksum(&p);
    assert_eq!(&bytes[16..24], &u64::from(adler).to_be_bytes());
    assert_eq!(&bytes[24..28], &(p.len() as u32).to_be_bytes());
    assert_eq!(&bytes[28..28 + p.len()], &p[..]);
    assert_eq!(bytes[28 + p.len()], 0x42);
    assert_eq!(
        bytes.len(),
        28 + p.len() + 1,
        "no preallocation when prealloc_bytes = 0"
    );
    assert!(config.snap_dir().join("snapshot.0").exists());
    assert_eq!(
        fs::read(config.snap_dir().join(CURRENT_EPOCH_FILE)).expect("epoch"),
        b"0"
    );
}

/// Writes 5 records (no preallocation) and returns the log bytes and record offsets.
fn five_records(config: &StorageConfig) -> (Vec<u8>, Vec<u64>) {
    let mut storage = fresh(config);
    append_range(&mut storage, 1..=5);
    storage.sync().expect("sync");
    drop(storage);
    let bytes = fs::read(log_path(config, 1)).expect("log.1");
    let offsets = record_offsets(1..=5);
    assert_eq!(offsets[5], bytes.len() as u64);
    (bytes, offsets)
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record_recovers_the_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 0, 1000);
    let (bytes, offsets) = five_records(&config);
    let (last_start, end) = (offsets[4] as usize, offsets[5] as usize);
    for cut in last_start..=end {
        fs::write(log_path(&config, 1), &bytes[..cut]).expect("write torn log");
        let recovered = reopen(&config);
        let expected: Vec<u64> = if cut == end {
            (1..=5).collect()
        } else {
            (1..=4).collect()
        };
        assert_eq!(zxids(&recovered), expected, "cut at byte {cut}");
        assert_payloads(&recovered);
        let len_after = fs::metadata(log_path(&config, 1)).expect("stat").len() as usize;
        // A stub of only zero bytes (the checksum's upper half) reads as the zero end of data and
        // is left in place; any other partial record is cut off.
        let zero_stub = bytes[last_start..cut].iter().all(|&b| b == 0);
        let expected_len = if cut == end || zero_stub {
            cut
        } else {
            last_start
        };
        assert_eq!(len_after, expected_len, "cut at byte {cut}");
    }
}

#[test]
fn torn_write_into_preallocated_zeros_at_every_byte_recovers_the_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 0, 1000);
    let (bytes, offsets) = five_records(&config);
    let (last_start, end) = (offsets[4] as usize, offsets[5] as usize);
    for zero_from in last_start..end {
        let mut torn = bytes.clone();
        torn[zero_from..].fill(0);
        torn.resize(64 * 1024, 0);
        fs::write(log_path(&config, 1), &torn).expect("write torn log");
        let recovered = reopen(&config);
        assert_eq!(
            zxids(&recovered),
            vec![1, 2, 3, 4],
            "zeros from byte {zero_from}"
        );
    }
}

#[test]
fn flipped_bit_in_the_last_record_is_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 0, 1000);
    let (bytes, offsets) = five_records(&config);
    for byte in offsets[4] as usize..offsets[5] as usize {
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[byte] ^= 1 << bit;
            fs::write(log_path(&config, 1), &bad).expect("write");
            let recovered = reopen(&config);
            assert_eq!(
                zxids(&recovered),
                vec![1, 2, 3, 4],
                "flip byte {byte} bit {bit}"
            );
        }
    }
}

#[test]
fn flipped_bit_in_a_middle_record_stops_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 0, 1000);
    let (bytes, offsets) = five_records(&config);
    for byte in offsets[2] as usize..offsets[3] as usize {
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[byte] ^= 1 << bit;
            fs::write(log_path(&config, 1), &bad).expect("write");
            match FileStorage::open(config.clone()) {
                Err(StorageError::Corrupt { file, offset, .. }) => {
                    assert_eq!(file, log_path(&config, 1));
                    assert_eq!(offset, offsets[2], "flip byte {byte} bit {bit}");
                }
                Err(other) => panic!("flip byte {byte} bit {bit}: unexpected {other}"),
                Ok(_) => panic!("flip byte {byte} bit {bit}: corruption was accepted"),
            }
            // Nothing was repaired away: the operator gets the file as it was.
            assert_eq!(fs::read(log_path(&config, 1)).expect("read"), bad);
        }
    }
}

#[test]
fn preallocated_zero_tail_is_the_end_of_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    // ZooKeeper's default 64 MiB block.
    let config = config(dir.path(), zabkeeper::storage::DEFAULT_PREALLOC_BYTES, 1000);
    let mut storage = fresh(&config);
    append_range(&mut storage, 1..=3);
    storage.sync().expect("sync");
    drop(storage);
    let path = log_path(&config, 1);
    assert_eq!(fs::metadata(&path).expect("stat").len(), 64 * 1024 * 1024);

    let recovered = reopen(&config);
    assert_eq!(zxids(&recovered), vec![1, 2, 3]);
    // A clean zero tail is left alone.
    assert_eq!(fs::metadata(&path).expect("stat").len(), 64 * 1024 * 1024);

    // Garbage far inside the preallocated space (a torn page) with no valid record: cut off.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(40 * 1024 * 1024)).expect("seek");
    file.write_all(&[0xAB; 100]).expect("write");
    drop(file);
    let recovered = reopen(&config);
    assert_eq!(zxids(&recovered), vec![1, 2, 3]);
    assert_eq!(
        fs::metadata(&path).expect("stat").len(),
        record_offsets(1..=3)[3]
    );
}

#[test]
fn preallocation_grows_in_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 1000);
    let mut storage = fresh(&config);
    append_range(&mut storage, [1]);
    storage.sync().expect("sync");
    let path = log_path(&config, 1);
    // 16 + one record + the 4096-byte margin rounds up to two blocks.
    assert_eq!(fs::metadata(&path).expect("stat").len(), 8192);
    append_range(&mut storage, 2..=200);
    storage.sync().expect("sync");
    let len = fs::metadata(&path).expect("stat").len();
    let used = record_offsets(1..=200)[200];
    assert_eq!(len % 4096, 0);
    assert!(
        len >= used + 4096 && len < used + 4096 + 4096,
        "len {len}, used {used}"
    );
}

#[test]
fn segments_roll_after_snap_count_and_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 10);
    let mut storage = fresh(&config);
    for zxid in 1..=35 {
        append_range(&mut storage, [zxid]);
        if zxid % 7 == 0 {
            storage.sync().expect("sync");
        }
    }
    storage.sync().expect("sync");
    storage.roll().expect("roll");
    append_range(&mut storage, [36]);
    storage.sync().expect("sync");
    let names: Vec<String> = storage
        .segment_paths()
        .iter()
        .map(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(names, ["log.1", "log.b", "log.15", "log.1f", "log.24"]);
    drop(storage);
    let recovered = reopen(&config);
    assert_eq!(zxids(&recovered), (1..=36).collect::<Vec<_>>());
    assert_payloads(&recovered);
}

#[test]
fn empty_or_headerless_newest_segment_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 1000);
    let mut storage = fresh(&config);
    append_range(&mut storage, 1..=3);
    storage.sync().expect("sync");
    drop(storage);
    // A crash right after creating the next segment: no header, or a zero-filled one.
    for junk in [Vec::new(), vec![0u8; 16], vec![0u8; 4096]] {
        fs::write(log_path(&config, 4), &junk).expect("write");
        let (mut storage, recovered) = FileStorage::open(config.clone()).expect("open");
        assert_eq!(zxids(&recovered), vec![1, 2, 3]);
        assert!(!log_path(&config, 4).exists());
        // Its name is free again.
        append_range(&mut storage, [4]);
        storage.sync().expect("sync");
        drop(storage);
        assert_eq!(zxids(&reopen(&config)), vec![1, 2, 3, 4]);
        fs::remove_file(log_path(&config, 4)).expect("remove");
    }
}

#[test]
fn damage_in_an_older_segment_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 0, 5);
    let mut storage = fresh(&config);
    append_range(&mut storage, 1..=12);
    storage.sync().expect("sync");
    drop(storage);
    // The last record of the first (closed, fsynced) segment is damaged.
    let path = log_path(&config, 1);
    let mut bytes = fs::read(&path).expect("read");
    let last = bytes.len() - 3;
    bytes[last] ^= 0x10;
    fs::write(&path, &bytes).expect("write");
    assert!(matches!(
        FileStorage::open(config.clone()),
        Err(StorageError::Corrupt { file, .. }) if file == path
    ));
}

#[test]
fn fuzzy_snapshot_overlaps_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 1000);
    let mut storage = fresh(&config);
    append_range(&mut storage, 1..=20);
    storage.sync().expect("sync");
    // Snapshot started when 12 was the last applied txn; the log keeps going in the same segment.
    storage
        .save_snapshot(12, b"tree at 12 (fuzzy)")
        .expect("snapshot");
    assert_eq!(
        storage.latest_snapshot().expect("latest").map(|s| s.0),
        Some(12)
    );
    append_range(&mut storage, 21..=25);
    storage.sync().expect("sync");
    drop(storage);

    let recovered = reopen(&config);
    assert_eq!(
        recovered.snapshot,
        Some((12, b"tree at 12 (fuzzy)".to_vec()))
    );
    assert_eq!(zxids(&recovered), (13..=25).collect::<Vec<_>>());
    assert_payloads(&recovered);
    assert_eq!(recovered.last_logged_zxid, 25);

    // A damaged newer snapshot is skipped with a warning; the next newest is used.
    fs::write(
        config.snap_dir().join("snapshot.14"),
        b"not a snapshot, ends badly",
    )
    .expect("w");
    let recovered = reopen(&config);
    assert_eq!(recovered.snapshot.as_ref().map(|s| s.0), Some(12));
    assert_eq!(zxids(&recovered), (13..=25).collect::<Vec<_>>());

    // A leftover temp file of an interrupted snapshot write is ignored and removed.
    fs::write(config.snap_dir().join("snapshot.19.tmp"), b"half").expect("w");
    let recovered = reopen(&config);
    assert_eq!(recovered.snapshot.as_ref().map(|s| s.0), Some(12));
    assert!(!config.snap_dir().join("snapshot.19.tmp").exists());
}

#[test]
fn no_valid_snapshot_at_all_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 1000);
    let mut storage = fresh(&config);
    append_range(&mut storage, 1..=3);
    storage.sync().expect("sync");
    drop(storage);
    let snap0 = config.snap_dir().join("snapshot.0");
    let mut bytes = fs::read(&snap0).expect("read");
    bytes[18] ^= 1;
    fs::write(&snap0, &bytes).expect("write");
    assert!(matches!(
        FileStorage::open(config.clone()),
        Err(StorageError::Corrupt { .. })
    ));
    // Logs without any snapshot file: ZooKeeper's empty-snapshot guard.
    fs::remove_file(&snap0).expect("rm");
    assert!(matches!(
        FileStorage::open(config.clone()),
        Err(StorageError::MissingSnapshot { last_logged: 3, .. })
    ));
    let mut trusting = config.clone();
    trusting.trust_empty_snapshot = true;
    let recovered = FileStorage::open(trusting).expect("trusted").1;
    assert_eq!(zxids(&recovered), vec![1, 2, 3]);
}

#[test]
fn snapshot_installed_beyond_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 1000);
    let mut storage = fresh(&config);
    append_range(&mut storage, 1..=5);
    storage.sync().expect("sync");
    // SNAP from the leader at 40: the runtime saves it, rolls, and logs from 41 on.
    storage
        .save_snapshot(40, b"leader tree at 40")
        .expect("snapshot");
    storage.roll().expect("roll");
    assert_eq!(storage.last_logged_zxid(), 40);
    assert!(matches!(
        storage.append(6, &payload(6)),
        Err(StorageError::OutOfOrder { last: 40, .. })
    ));
    append_range(&mut storage, 41..=42);
    storage.sync().expect("sync");
    drop(storage);
    let recovered = reopen(&config);
    assert_eq!(recovered.snapshot.as_ref().map(|s| s.0), Some(40));
    assert_eq!(zxids(&recovered), vec![41, 42]);
    assert_eq!(recovered.last_logged_zxid, 42);
}

#[test]
fn a_gap_after_the_snapshot_is_never_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 1000);
    let mut storage = fresh(&config);
    append_range(&mut storage, [1, 2, 3, 5]);
    storage.sync().expect("sync");
    drop(storage);
    match FileStorage::open(config.clone()) {
        Err(StorageError::Corrupt { reason, .. }) => assert!(reason.contains("gap"), "{reason}"),
        other => panic!("expected a gap error, got {:?}", other.map(|_| ())),
    }
    // Across an epoch change the counter restarts: no gap.
    let dir = tempfile::tempdir().expect("tempdir");
    let config2 = StorageConfig {
        data_dir: dir.path().to_path_buf(),
        data_log_dir: dir.path().join("txnlog"),
        ..config
    };
    let mut storage = fresh(&config2);
    append_range(&mut storage, [1, 2, 0x1_0000_0001, 0x1_0000_0002]);
    storage.sync().expect("sync");
    storage.set_current_epoch(1).expect("epoch");
    storage.set_accepted_epoch(1).expect("epoch");
    drop(storage);
    let recovered = reopen(&config2);
    assert_eq!(zxids(&recovered), vec![1, 2, 0x1_0000_0001, 0x1_0000_0002]);
    assert!(
        config2.log_dir().join("log.1").exists(),
        "dataLogDir is honoured"
    );
}

#[test]
fn truncate_after_cuts_durably_and_respects_floors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 10);
    let mut storage = fresh(&config);
    append_range(&mut storage, 1..=30);
    storage.sync().expect("sync");
    append_range(&mut storage, 31..=33); // unsynced: truncation must handle buffered records

    assert!(matches!(
        storage.truncate_after(15, 16),
        Err(StorageError::TruncateBelowFloor {
            zxid: 15,
            floor: 16
        })
    ));
    storage.truncate_after(15, 12).expect("truncate");
    assert_eq!(storage.last_logged_zxid(), 15);
    assert_eq!(storage.durable_zxid(), 15);
    assert!(log_path(&config, 1).exists() && log_path(&config, 11).exists());
    assert!(!log_path(&config, 21).exists() && !log_path(&config, 31).exists());
    assert_eq!(
        collect(storage.read_from(10).expect("read")),
        (10..=15).collect::<Vec<_>>()
    );

    // The protocol then logs the leader's history after 15.
    let other = |zxid: u64| encode_txn_payload(zxid, 2, b"leader's version");
    storage.append(16, &other(16)).expect("append");
    storage.sync().expect("sync");
    drop(storage);
    let (mut storage, recovered) = FileStorage::open(config.clone()).expect("reopen");
    assert_eq!(zxids(&recovered), (1..=16).collect::<Vec<_>>());
    assert_eq!(recovered.txns_after[15].1, other(16));

    // Never below the newest snapshot.
    storage.save_snapshot(14, b"tree at 14").expect("snapshot");
    assert!(matches!(
        storage.truncate_after(13, 0),
        Err(StorageError::TruncateBelowFloor {
            zxid: 13,
            floor: 14
        })
    ));
    storage
        .truncate_after(14, 0)
        .expect("truncate at the snapshot");
    assert_eq!(storage.last_logged_zxid(), 14);
    drop(storage);
    let recovered = reopen(&config);
    assert_eq!(recovered.snapshot.as_ref().map(|s| s.0), Some(14));
    assert!(recovered.txns_after.is_empty());
    assert_eq!(recovered.last_logged_zxid, 14);
}

#[test]
fn read_from_serves_the_log_including_unsynced_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 4);
    let mut storage = fresh(&config);
    append_range(&mut storage, 1..=9);
    storage.sync().expect("sync");
    append_range(&mut storage, 10..=11);
    assert_eq!(
        collect(storage.read_from(0).expect("read")),
        (1..=11).collect::<Vec<_>>()
    );
    assert_eq!(
        collect(storage.read_from(6).expect("read")),
        (6..=11).collect::<Vec<_>>()
    );
    assert_eq!(collect(storage.read_from(11).expect("read")), vec![11]);
    assert!(collect(storage.read_from(12).expect("read")).is_empty());
    let first = storage
        .read_from(5)
        .expect("read")
        .next()
        .expect("one")
        .expect("ok");
    assert_eq!(first, (5, payload(5)));
}

#[test]
fn epoch_files_follow_zookeepers_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 1000);
    let mut storage = fresh(&config);
    let accepted = config.snap_dir().join(ACCEPTED_EPOCH_FILE);
    let current = config.snap_dir().join(CURRENT_EPOCH_FILE);
    assert_eq!(fs::read(&accepted).expect("created at start-up"), b"0");
    storage.set_accepted_epoch(3).expect("accepted");
    storage.set_current_epoch(2).expect("current");
    assert_eq!(fs::read(&accepted).expect("read"), b"3");
    assert_eq!(fs::read(&current).expect("read"), b"2");
    append_range(&mut storage, [0x2_0000_0001]);
    storage.sync().expect("sync");
    drop(storage);
    let recovered = reopen(&config);
    assert_eq!((recovered.accepted_epoch, recovered.current_epoch), (3, 2));

    // currentEpoch older than the log's epoch but acceptedEpoch covering it: a learner that
    // crashed between its synced txns and currentEpoch; it starts on its recorded currentEpoch.
    fs::write(&current, b"1").expect("write");
    let recovered = reopen(&config);
    assert_eq!((recovered.accepted_epoch, recovered.current_epoch), (3, 1));
    assert_eq!(fs::read(&current).expect("read"), b"1");

    // Not covered by acceptedEpoch (missing here): refuse, unless currentEpoch.tmp survived a
    // crash.
    fs::remove_file(&accepted).expect("rm");
    assert!(matches!(
        FileStorage::open(config.clone()),
        Err(StorageError::Epochs(_))
    ));
    fs::write(config.snap_dir().join("currentEpoch.tmp"), b"2").expect("write");
    let recovered = reopen(&config);
    assert_eq!((recovered.accepted_epoch, recovered.current_epoch), (2, 2));
    assert_eq!(fs::read(&current).expect("read"), b"2");

    // acceptedEpoch below currentEpoch: refuse.
    fs::write(&accepted, b"1").expect("write");
    assert!(matches!(
        FileStorage::open(config.clone()),
        Err(StorageError::Epochs(_))
    ));
    // Missing acceptedEpoch: recreated from the epoch of the last zxid.
    fs::remove_file(&accepted).expect("rm");
    let recovered = reopen(&config);
    assert_eq!(recovered.accepted_epoch, 2);
    assert_eq!(fs::read(&accepted).expect("read"), b"2");
}

#[test]
fn purge_keeps_the_newest_snapshots_and_the_logs_they_need() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 10);
    let mut storage = fresh(&config);
    for zxid in 1..=45 {
        append_range(&mut storage, [zxid]);
        if zxid % 10 == 5 {
            storage.sync().expect("sync");
            storage
                .save_snapshot(zxid, format!("tree at {zxid}").as_bytes())
                .expect("snap");
        }
    }
    storage.sync().expect("sync");
    // Snapshots 0, 5, 15, 25, 35, 45; logs log.1, log.b, log.15, log.1f, log.29.
    assert!(matches!(storage.purge(2), Err(StorageError::Config(_))));
    let (snaps, logs) = purge::plan(&config.snap_dir(), &config.log_dir(), 3).expect("plan");
    let names = |paths: &[PathBuf]| -> Vec<String> {
        paths
            .iter()
            .map(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    // Kept: 45, 35, 25. log.15 starts at 21 <= 25 and holds 26..30: kept.
    assert_eq!(names(&snaps), ["snapshot.0", "snapshot.5", "snapshot.f"]);
    assert_eq!(names(&logs), ["log.1", "log.b"]);
    let deleted = storage.purge(3).expect("purge");
    assert_eq!(deleted.len(), 5);
    append_range(&mut storage, 46..=47);
    storage.sync().expect("sync");
    drop(storage);
    let recovered = reopen(&config);
    assert_eq!(recovered.snapshot.as_ref().map(|s| s.0), Some(0x2d));
    assert_eq!(zxids(&recovered), vec![46, 47]);

    let snapshots = snapshot::list_snapshots(&config.snap_dir()).expect("list");
    assert_eq!(
        snapshots.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![0x2d, 0x23, 0x19]
    );
}

#[test]
fn purge_retains_the_log_that_straddles_the_oldest_kept_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 1000);
    let mut storage = fresh(&config);
    append_range(&mut storage, 1..=9);
    storage.sync().expect("sync");
    for zxid in [3, 6, 9] {
        storage.save_snapshot(zxid, b"tree").expect("snap");
    }
    let deleted = storage.purge(3).expect("purge");
    // Oldest kept: 3. log.1 starts before 3 but holds 4..9: kept. snapshot.0 goes.
    assert_eq!(deleted, vec![config.snap_dir().join("snapshot.0")]);
    drop(storage);
    // Recovery from the oldest kept snapshot still works (drop the newer ones to force it).
    for zxid in ["snapshot.6", "snapshot.9"] {
        fs::remove_file(config.snap_dir().join(zxid)).expect("rm");
    }
    let recovered = reopen(&config);
    assert_eq!(recovered.snapshot.as_ref().map(|s| s.0), Some(3));
    assert_eq!(zxids(&recovered), (4..=9).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Group commit

fn completions() -> (mpsc::Sender<Completion>, mpsc::Receiver<Completion>) {
    mpsc::channel()
}

fn wait_durable(rx: &mpsc::Receiver<Completion>, target: u64) -> u64 {
    loop {
        match rx.recv().expect("writer alive") {
            Completion::Durable { upto } if upto >= target => return upto,
            Completion::Durable { .. } => {}
            Completion::Failed { error } => panic!("writer failed: {error}"),
        }
    }
}

#[test]
fn group_commit_batches_queued_appends_into_one_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 1 << 20, 1000);
    let storage = fresh(&config);
    let (tx, rx) = completions();
    let gc = GroupCommit::spawn(storage, GroupCommitConfig::default(), move |c| {
        let _ = tx.send(c);
    })
    .expect("spawn");
    {
        let _hold = gc.hold();
        for zxid in 1..=100 {
            gc.submit(zxid, payload(zxid)).expect("submit");
        }
        assert_eq!(gc.queued(), 100);
    }
    assert_eq!(wait_durable(&rx, 100), 100);
    assert_eq!(
        gc.stats(),
        GroupCommitStats {
            appends: 100,
            batches: 1
        }
    );
    // Later storage operations run in order on the writer thread.
    assert_eq!(gc.call(|s| s.durable_zxid()).expect("call"), 100);
    let storage = gc.shutdown().expect("shutdown");
    drop(storage);
    assert_eq!(zxids(&reopen(&config)), (1..=100).collect::<Vec<_>>());
}

#[test]
fn group_commit_concurrent_submitters_every_completion_is_durable() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 1 << 20, 1000);
    let storage = fresh(&config);
    let durable = Arc::new((Mutex::new(0u64), std::sync::Condvar::new()));
    let durable_cb = Arc::clone(&durable);
    let gc = GroupCommit::spawn(
        storage,
        GroupCommitConfig {
            queue_capacity: 1024,
            max_batch: 64,
        },
        move |c| match c {
            Completion::Durable { upto } => {
                let (lock, cvar) = &*durable_cb;
                *lock.lock().expect("lock") = upto;
                cvar.notify_all();
            }
            Completion::Failed { error } => panic!("writer failed: {error}"),
        },
    )
    .expect("spawn");
    // Zxids are handed out and submitted under one lock: the runtime's single node task.
    let next_zxid = Mutex::new(0u64);
    let (submitted_tx, submitted_rx) = mpsc::channel::<()>();
    let mine: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let hold = gc.hold();
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let gc = &gc;
                let next_zxid = &next_zxid;
                let durable = Arc::clone(&durable);
                let submitted_tx = submitted_tx.clone();
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for _ in 0..PER_THREAD {
                        let mut next = next_zxid.lock().expect("lock");
                        *next += 1;
                        gc.submit(*next, payload(*next)).expect("submit");
                        mine.push(*next);
                    }
                    submitted_tx.send(()).expect("signal");
                    // Wait until my newest append is reported durable.
                    let (lock, cvar) = &*durable;
                    let mut upto = lock.lock().expect("lock");
                    while *upto < *mine.last().expect("some") {
                        upto = cvar.wait(upto).expect("wait");
                    }
                    mine
                })
            })
            .collect();
        for _ in 0..THREADS {
            submitted_rx.recv().expect("submitted");
        }
        drop(hold);
        handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .collect()
    });
    let stats = gc.stats();
    assert_eq!(stats.appends, THREADS * PER_THREAD);
    assert!(stats.batches < stats.appends, "{stats:?}");
    assert!(
        stats.batches >= (THREADS * PER_THREAD).div_ceil(64),
        "{stats:?}"
    );
    drop(gc.shutdown().expect("shutdown"));
    let recovered = reopen(&config);
    let on_disk = zxids(&recovered);
    assert_eq!(on_disk, (1..=THREADS * PER_THREAD).collect::<Vec<_>>());
    for zxid in mine.iter().flatten() {
        assert!(
            on_disk.binary_search(zxid).is_ok(),
            "{zxid} reported durable but lost"
        );
    }
}

/// A storage that records when syncs return, to check completions come after them.
struct Recording {
    inner: MemStorage,
    events: Arc<Mutex<Vec<String>>>,
    fail_sync_at: Option<u64>,
}

impl Storage for Recording {
    fn append(&mut self, zxid: u64, payload: &[u8]) -> Result<(), StorageError> {
        self.inner.append(zxid, payload)
    }
    fn set_committed(&mut self, zxid: u64) {
        self.inner.set_committed(zxid);
    }
    fn sync(&mut self) -> Result<u64, StorageError> {
        if self
            .fail_sync_at
            .is_some_and(|at| self.inner.last_logged_zxid() >= at)
        {
            return Err(StorageError::Io {
                op: "fdatasync",
                path: "test".into(),
                source: std::io::Error::other("injected EIO"),
            });
        }
        let upto = self.inner.sync()?;
        self.events
            .lock()
            .expect("lock")
            .push(format!("synced {upto}"));
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

#[test]
fn group_commit_reports_durable_only_after_the_fsync_returned() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let storage = Recording {
        inner: MemStorage::new(),
        events: Arc::clone(&events),
        fail_sync_at: None,
    };
    let events_cb = Arc::clone(&events);
    let (tx, rx) = completions();
    let gc = GroupCommit::spawn(
        storage,
        GroupCommitConfig {
            queue_capacity: 8,
            max_batch: 3,
        },
        move |c| {
            if let Completion::Durable { upto } = &c {
                events_cb
                    .lock()
                    .expect("lock")
                    .push(format!("durable {upto}"));
            }
            let _ = tx.send(c);
        },
    )
    .expect("spawn");
    {
        let _hold = gc.hold();
        for zxid in 1..=8 {
            gc.submit(zxid, payload(zxid)).expect("submit");
        }
    }
    for zxid in 9..=20 {
        gc.submit(zxid, payload(zxid)).expect("submit");
    }
    wait_durable(&rx, 20);
    let events = events.lock().expect("lock").clone();
    let mut synced = 0u64;
    for event in &events {
        let (kind, n) = event.split_once(' ').expect("event");
        let n: u64 = n.parse().expect("number");
        match kind {
            "synced" => synced = n,
            _ => assert!(
                n <= synced,
                "durable {n} reported before its fsync: {events:?}"
            ),
        }
    }
    // max_batch bounds every batch: 8 queued under hold took at least 3 fsyncs.
    assert!(gc.stats().batches >= 3 + 4, "{:?}", gc.stats());
    let storage = gc.shutdown().expect("shutdown");
    assert_eq!(storage.inner.durable_zxid(), 20);
}

#[test]
fn group_commit_queue_is_bounded() {
    let (tx, _rx) = completions();
    let gc = GroupCommit::spawn(
        MemStorage::new(),
        GroupCommitConfig {
            queue_capacity: 4,
            max_batch: 4,
        },
        move |c| {
            let _ = tx.send(c);
        },
    )
    .expect("spawn");
    let hold = gc.hold();
    for zxid in 1..=4 {
        assert_eq!(gc.try_submit(zxid, payload(zxid)).expect("queued"), None);
    }
    assert_eq!(
        gc.try_submit(5, payload(5)).expect("full"),
        Some(payload(5))
    );
    assert!(matches!(
        gc.try_submit(6, payload(7)),
        Err(GroupCommitError::Rejected(
            StorageError::ZxidMismatch { .. }
        ))
    ));
    drop(hold);
    let storage = gc.shutdown().expect("shutdown drains the queue");
    assert_eq!(storage.durable_zxid(), 4);
}

#[test]
fn group_commit_stops_for_good_after_a_failed_fsync() {
    let storage = Recording {
        inner: MemStorage::new(),
        events: Arc::new(Mutex::new(Vec::new())),
        fail_sync_at: Some(3),
    };
    let (tx, rx) = completions();
    let gc = GroupCommit::spawn(storage, GroupCommitConfig::default(), move |c| {
        let _ = tx.send(c);
    })
    .expect("spawn");
    {
        let _hold = gc.hold();
        gc.submit(1, payload(1)).expect("submit");
        gc.submit(2, payload(2)).expect("submit");
    }
    assert_eq!(wait_durable(&rx, 2), 2);
    gc.submit(3, payload(3)).expect("submit");
    match rx.recv().expect("completion") {
        Completion::Failed { .. } => {}
        Completion::Durable { upto } => panic!("durable {upto} despite a failed fsync"),
    }
    assert!(matches!(
        gc.submit(4, payload(4)),
        Err(GroupCommitError::Failed(_))
    ));
    assert!(matches!(
        gc.call(|s| s.last_logged_zxid()),
        Err(GroupCommitError::Failed(_))
    ));
    let storage = gc.shutdown().expect("shutdown");
    assert_eq!(storage.inner.durable_zxid(), 2);
}

#[test]
fn mem_storage_follows_the_same_recovery_rules() {
    let mut storage = MemStorage::with_crash_loss(true);
    storage.save_snapshot(0, b"empty").expect("snap");
    append_range(&mut storage, 1..=5);
    storage.sync().expect("sync");
    append_range(&mut storage, 6..=7);
    storage.set_accepted_epoch(1).expect("epoch");
    storage.crash();
    let recovered = storage.recover().expect("recover");
    assert_eq!(zxids(&recovered), (1..=5).collect::<Vec<_>>());
    assert_eq!(recovered.accepted_epoch, 1);
    assert_eq!(recovered.current_epoch, 0);
    assert_eq!(collect(storage.read_from(4).expect("read")), vec![4, 5]);
}

// ---------------------------------------------------------------------------------------------
// Model-based: random operation sequences, then a restart, against a model of what is durable.

#[derive(Debug, Clone)]
enum Op {
    Append(u64),
    Sync,
    Roll,
    /// Snapshot at a durable zxid: fraction (0..=100) of the way from the newest snapshot.
    Snapshot(u64),
    /// Truncate after a point: fraction (0..=100) of the way from the newest snapshot.
    Truncate(u64),
    NewEpoch,
    /// Drop the process without syncing (unsynced appends are lost) and recover.
    Restart,
}

fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (1u64..6).prop_map(Op::Append),
        3 => Just(Op::Sync),
        1 => Just(Op::Roll),
        1 => (0u64..=100).prop_map(Op::Snapshot),
        1 => (0u64..=100).prop_map(Op::Truncate),
        1 => Just(Op::NewEpoch),
        2 => Just(Op::Restart),
    ]
}

/// What must be on disk: durable and pending records, newest snapshot, epoch.
#[derive(Debug, Default)]
struct Model {
    durable: Vec<u64>,
    pending: Vec<u64>,
    snapshot: u64,
    epoch: u64,
    /// Records in the segment being written; None when the next append starts a new one.
    segment_records: Option<u64>,
}

impl Model {
    /// An append opens a new segment when there is none or it is full (`snap_count` = 3); the
    /// full one is fsynced first, which makes its pending records durable.
    fn append(&mut self, zxid: u64) {
        if self.segment_records.map_or(true, |n| n >= 3) {
            self.durable.append(&mut self.pending);
            self.segment_records = Some(0);
        }
        self.segment_records = self.segment_records.map(|n| n + 1);
        self.pending.push(zxid);
    }
    fn close_segment(&mut self) {
        self.durable.append(&mut self.pending);
        self.segment_records = None;
    }
    fn last(&self) -> u64 {
        let last_record = self
            .pending
            .last()
            .or(self.durable.last())
            .copied()
            .unwrap_or(0);
        last_record.max(self.snapshot)
    }
    fn last_durable(&self) -> u64 {
        self.durable.last().copied().unwrap_or(0).max(self.snapshot)
    }
    fn between(&self, lo: u64, hi: u64, percent: u64) -> u64 {
        lo + (hi.saturating_sub(lo)) * percent / 100
    }
}

fn check_restart(config: &StorageConfig, model: &mut Model) -> FileStorage {
    let (storage, recovered) = FileStorage::open(config.clone()).expect("recover");
    model.pending.clear();
    model.segment_records = None;
    let expected: Vec<u64> = model
        .durable
        .iter()
        .copied()
        .filter(|z| *z > model.snapshot)
        .collect();
    assert_eq!(zxids(&recovered), expected);
    assert_payloads(&recovered);
    assert_eq!(
        recovered.snapshot.as_ref().map(|s| s.0),
        Some(model.snapshot)
    );
    assert_eq!(recovered.last_logged_zxid, model.last_durable());
    assert_eq!(recovered.current_epoch, model.epoch);
    storage
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 48, ..Default::default() })]
    #[test]
    fn random_operations_recover_exactly_the_durable_records(
        ops in proptest::collection::vec(op_strategy(), 1..40)
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config(dir.path(), 4096, 3);
        let mut storage = fresh(&config);
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Append(n) => {
                    for _ in 0..n {
                        let zxid = model.last() + 1;
                        storage.append(zxid, &payload(zxid)).expect("append");
                        model.append(zxid);
                    }
                }
                Op::Sync => {
                    assert_eq!(storage.sync().expect("sync"), model.last());
                    model.durable.append(&mut model.pending);
                }
                Op::Roll => {
                    storage.roll().expect("roll");
                    model.close_segment();
                }
                Op::Snapshot(percent) => {
                    let zxid = model.between(model.snapshot, model.last_durable(), percent);
                    storage.save_snapshot(zxid, b"tree").expect("snapshot");
                    model.snapshot = zxid;
                }
                Op::Truncate(percent) => {
                    let zxid = model.between(model.snapshot, model.last(), percent);
                    storage.truncate_after(zxid, model.snapshot).expect("truncate");
                    model.close_segment();
                    model.durable.retain(|z| *z <= zxid);
                    assert_eq!(storage.last_logged_zxid(), model.last());
                }
                Op::NewEpoch => {
                    // Discovery then NEWLEADER: epochs are persisted before the epoch's txns.
                    model.epoch += 1;
                    storage.set_accepted_epoch(model.epoch).expect("epoch");
                    storage.set_current_epoch(model.epoch).expect("epoch");
                    let zxid = model.epoch << 32 | 1;
                    storage.append(zxid, &payload(zxid)).expect("append");
                    model.append(zxid);
                }
                Op::Restart => {
                    drop(storage);
                    storage = check_restart(&config, &mut model);
                }
            }
        }
        drop(storage);
        check_restart(&config, &mut model);
    }
}

/// `PersistTxns.committed` lands on disk: the group commit records the highest watermark its
/// batch carried with the batch's sync, recovery returns it (clamped to the log), a truncation
/// lowers it, and a directory without the file (ZooKeeper's) recovers none.
#[test]
fn commit_watermark_is_recorded_with_the_batch_and_recovered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), 0, 100);
    let storage = fresh(&cfg);
    assert_eq!(
        reopen_after(storage, &cfg).committed,
        None,
        "never recorded"
    );
    let (storage, _) = FileStorage::open(cfg.clone()).expect("open");
    let (tx, rx) = mpsc::channel();
    let gc = GroupCommit::spawn(storage, GroupCommitConfig::default(), move |c| {
        let _ = tx.send(c);
    })
    .expect("spawn");
    for (zxid, committed) in [(1u64, 0u64), (2, 1), (3, 2)] {
        assert!(gc
            .try_submit_committed(zxid, payload(zxid), committed)
            .expect("submit")
            .is_none());
    }
    let mut upto = 0;
    while upto < 3 {
        match rx.recv().expect("completion") {
            Completion::Durable { upto: u } => upto = u,
            Completion::Failed { error } => panic!("{error}"),
        }
    }
    let mut storage = gc.shutdown().expect("shutdown");
    let recovered = reopen_after(storage, &cfg);
    assert_eq!(zxids(&recovered), vec![1, 2, 3]);
    assert_eq!(recovered.committed, Some(2));
    // A truncation below the watermark lowers it: it never names a txn that is gone.
    storage = FileStorage::open(cfg.clone()).expect("open").0;
    storage.truncate_after(1, 0).expect("truncate");
    let recovered = reopen_after(storage, &cfg);
    assert_eq!(zxids(&recovered), vec![1]);
    assert_eq!(recovered.committed, Some(1));
    // A damaged record reads as none (safe: nothing counts as committed beyond the snapshot).
    let file = cfg
        .log_dir()
        .join(zabkeeper::storage::watermark::WATERMARK_FILE);
    fs::write(&file, b"garbage").expect("damage");
    assert_eq!(reopen(&cfg).committed, None);
}

fn reopen_after(storage: FileStorage, config: &StorageConfig) -> Recovered {
    drop(storage);
    reopen(config)
}

#[test]
fn mem_storage_keeps_the_synced_watermark_across_a_crash() {
    let mut s = MemStorage::with_crash_loss(true);
    s.save_snapshot(0, b"empty").expect("snap");
    append_range(&mut s, [1, 2]);
    s.set_committed(1);
    s.sync().expect("sync");
    append_range(&mut s, [3]);
    s.set_committed(2); // not synced: lost with the append
    s.crash();
    let r = s.recover().expect("recover");
    assert_eq!(zxids(&r), vec![1, 2]);
    assert_eq!(r.committed, Some(1));
}
