//! Recovery: a data directory → what a restarted node needs (`spec/storage.md` §5).
//!
//! Role: at start-up the runtime calls [`super::FileStorage::open`], which runs [`recover`]: it
//! picks the newest valid snapshot, replays the log segments that may hold txns after it (logs
//! overlap fuzzy snapshots), cuts a torn tail off the newest segment, and applies ZooKeeper's epoch
//! rules. The result feeds `DurableState` (last logged zxid, epochs) and the data tree (snapshot +
//! `txns_after`, applied in order). Corruption anywhere else is an error, never skipped.

use std::path::{Path, PathBuf};

use super::lock::DirLock;
use super::txnlog::{self, scan_segment, Segment, Tail};
use super::{ensure_dir, epochs, snapshot, zxid_epoch, StorageConfig, StorageError};

/// Everything recovered from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The newest valid snapshot: the zxid it covers at least, and its bytes.
    pub snapshot: Option<(u64, Vec<u8>)>,
    /// Every logged txn with a zxid above the snapshot's, in zxid order.
    pub txns_after: Vec<(u64, Vec<u8>)>,
    /// The newest zxid on disk: the last logged txn, or the snapshot's zxid if that is newer.
    pub last_logged_zxid: u64,
    /// Epoch accepted in discovery (`acceptedEpoch`).
    pub accepted_epoch: u64,
    /// Epoch of the last NEWLEADER acknowledged (`currentEpoch`).
    pub current_epoch: u64,
    /// The commit watermark recorded with the log (`watermark.rs`), at most
    /// `last_logged_zxid`; `None` when none was recorded (a ZooKeeper data directory, or one
    /// never synced with a watermark).
    pub committed: Option<u64>,
}

/// What [`super::FileStorage`] needs beyond [`Recovered`] to resume appending.
pub(crate) struct RecoveredDisk {
    pub recovered: Recovered,
    pub segments: Vec<Segment>,
    pub last_record_zxid: Option<u64>,
}

/// Recovers the directories named by `config`, creating them if missing, under their
/// [`DirLock`] (released on return). Mutates the disk only to repair: a torn log tail is cut, an
/// unfinished newest segment or snapshot temp file removed, missing epoch files written (each
/// logged with a warning or info line).
pub fn recover(config: &StorageConfig) -> Result<Recovered, StorageError> {
    Ok(lock_and_recover(config)?.1.recovered)
}

/// Validates `config`, takes the directories' lock, then recovers them. Nothing is written
/// before the lock is held.
pub(crate) fn lock_and_recover(
    config: &StorageConfig,
) -> Result<(DirLock, RecoveredDisk), StorageError> {
    config.validate()?;
    let lock = DirLock::acquire(config)?;
    let disk = recover_dirs(config, &lock)?;
    Ok((lock, disk))
}

/// The recovery itself; `_lock` is the proof that no other server uses the directories.
fn recover_dirs(config: &StorageConfig, _lock: &DirLock) -> Result<RecoveredDisk, StorageError> {
    let snap_dir = config.snap_dir();
    let log_dir = config.log_dir();
    ensure_dir(&snap_dir)?;
    ensure_dir(&log_dir)?;
    snapshot::remove_temp_files(&snap_dir)?;

    let snapshot = snapshot::load_latest(&snap_dir)?;
    let snap_zxid = snapshot.as_ref().map(|(zxid, _)| *zxid);
    let mut segments = txnlog::list_segments(&log_dir)?;
    let replay = replay_log(&mut segments, snap_zxid, config.max_record_bytes)?;

    if snapshot.is_none() && !config.trust_empty_snapshot {
        if let Some(last_logged) = replay.last_record_zxid {
            return Err(StorageError::MissingSnapshot {
                dir: snap_dir,
                last_logged,
            });
        }
    }
    let last_logged_zxid = snap_zxid
        .unwrap_or(0)
        .max(replay.last_record_zxid.unwrap_or(0));
    let (accepted_epoch, current_epoch) = epochs::load_or_init(&snap_dir, last_logged_zxid)?;
    let committed = super::watermark::Watermark::read(&log_dir)?.map(|w| w.min(last_logged_zxid));
    Ok(RecoveredDisk {
        recovered: Recovered {
            snapshot,
            txns_after: replay.txns_after,
            last_logged_zxid,
            accepted_epoch,
            current_epoch,
            committed,
        },
        segments,
        last_record_zxid: replay.last_record_zxid,
    })
}

struct Replay {
    txns_after: Vec<(u64, Vec<u8>)>,
    last_record_zxid: Option<u64>,
}

/// Cuts a torn tail off the newest segment and removes a newest segment that holds no record
/// (created just before a crash), repeating on the one before it. `segments` loses removed files.
fn repair_newest(segments: &mut Vec<Segment>, max_record: u32) -> Result<(), StorageError> {
    while let Some(newest) = segments.last().cloned() {
        let scanned = scan_segment(&newest, None, max_record, |_, _, _| Ok(()))?;
        if let Tail::Torn { offset, reason } = &scanned.tail {
            tracing::warn!(
                file = %newest.path.display(),
                offset,
                reason = reason.as_str(),
                "torn tail in the newest log segment (a crash interrupted a write); cutting it"
            );
            txnlog::cut_file(&newest.path, *offset)?;
        }
        if scanned.records > 0 {
            return Ok(());
        }
        tracing::warn!(file = %newest.path.display(), "removing a newest log segment with no record");
        txnlog::remove_durably(&newest.path)?;
        segments.pop();
    }
    Ok(())
}

/// Repairs the newest segment, then reads the segments from the one holding `snap_zxid + 1` on
/// and returns the txns after the snapshot. Every segment but the newest must end cleanly: it was
/// fsynced before the log rolled past it.
fn replay_log(
    segments: &mut Vec<Segment>,
    snap_zxid: Option<u64>,
    max_record: u32,
) -> Result<Replay, StorageError> {
    repair_newest(segments, max_record)?;
    let mut txns_after = Vec::new();
    let mut last_record_zxid = None;
    let mut gap = GapCheck::new(snap_zxid);
    for segment in txnlog::segments_from(segments, snap_zxid.unwrap_or(0)) {
        let scanned = scan_segment(
            segment,
            last_record_zxid,
            max_record,
            |offset, zxid, payload| {
                if snap_zxid.is_some_and(|snap| zxid <= snap) {
                    return Ok(());
                }
                gap.check(&segment.path, offset, zxid)?;
                txns_after.push((zxid, payload));
                Ok(())
            },
        )?;
        match scanned.tail {
            Tail::Clean => {}
            Tail::Torn { offset, reason } => {
                return Err(StorageError::Corrupt {
                    file: segment.path.clone(),
                    offset,
                    reason: format!("{reason} in a log segment that is not the newest"),
                });
            }
            Tail::TornHeader => {
                return Err(StorageError::Corrupt {
                    file: segment.path.clone(),
                    offset: 0,
                    reason: "missing file header in a log segment that is not the newest".into(),
                });
            }
        }
        last_record_zxid = scanned.last_zxid.or(last_record_zxid);
    }
    Ok(Replay {
        txns_after,
        last_record_zxid,
    })
}

/// Zxids after the snapshot must not skip any within an epoch: counters are consecutive in ZAB
/// (A.16: failed writes consume one too); a new epoch may start anywhere.
struct GapCheck {
    prev: Option<u64>,
}

impl GapCheck {
    fn new(snap_zxid: Option<u64>) -> Self {
        Self { prev: snap_zxid }
    }

    fn check(&mut self, file: &Path, offset: u64, zxid: u64) -> Result<(), StorageError> {
        if let Some(prev) = self.prev {
            if zxid_epoch(zxid) == zxid_epoch(prev) && zxid != prev + 1 {
                return Err(StorageError::Corrupt {
                    file: PathBuf::from(file),
                    offset,
                    reason: format!("gap in the log: zxid {zxid:#x} follows {prev:#x}"),
                });
            }
        }
        self.prev = Some(zxid);
        Ok(())
    }
}

/// Snapshot, txns after it, and the last logged zxid.
pub(crate) type InMemory = (Option<(u64, Vec<u8>)>, Vec<(u64, Vec<u8>)>, u64);

/// The recovery rules over in-memory state (used by [`super::MemStorage`]): txns after the
/// snapshot with the same gap check, and the last logged zxid.
pub(crate) fn assemble_in_memory(
    snapshot: Option<(u64, Vec<u8>)>,
    records: &[(u64, Vec<u8>)],
) -> Result<InMemory, StorageError> {
    let snap_zxid = snapshot.as_ref().map(|(zxid, _)| *zxid);
    let mut gap = GapCheck::new(snap_zxid);
    let mut txns_after = Vec::new();
    for (index, (zxid, payload)) in records.iter().enumerate() {
        if snap_zxid.is_some_and(|snap| *zxid <= snap) {
            continue;
        }
        gap.check(Path::new("<memory>"), index as u64, *zxid)?;
        txns_after.push((*zxid, payload.clone()));
    }
    let last_record = records.last().map_or(0, |(zxid, _)| *zxid);
    let last_logged = snap_zxid.unwrap_or(0).max(last_record);
    Ok((snapshot, txns_after, last_logged))
}
