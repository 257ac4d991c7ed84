//! Durability: the only module that touches the filesystem.
//!
//! Role in the write path (`spec/README.md`, step 4): the runtime hands every proposal the
//! protocol asks to persist (`Effect::PersistTxns`) to [`group_commit`], whose writer thread appends
//! the records to the [`txnlog`], fsyncs once per batch and only then reports `Durable { upto }`,
//! which becomes `Input::Persisted`. Epochs ([`epochs`]) are written synchronously before the node
//! vouches for them; snapshots ([`snapshot`]) are fuzzy images of the data tree written by the
//! runtime; [`recovery`] turns a data directory back into what a restarted node needs, after
//! [`lock`] made sure no other server uses it; [`purge`] is ZooKeeper's autopurge.
//!
//! Payloads are opaque to this module: a txn payload is ZooKeeper's `TxnHeader` + txn record bytes
//! (only the zxid at byte offset 12 is read, to check it), a snapshot payload is the tree's
//! serialisation, optionally followed by ZooKeeper's digest section ([`snapshot`] frames both).
//! The exact on-disk formats and the durability rules are in `spec/storage.md`.
//!
//! The commit watermark the protocol attaches to its appends is recorded with each batch
//! ([`watermark`]) so that recovery knows which logged txns are committed.
//!
//! Two implementations of [`Storage`]: [`FileStorage`] (the real thing, ZooKeeper's file layout)
//! and [`MemStorage`] (simulations and tests, optionally losing unsynced writes on a crash).

use std::io;
use std::path::{Path, PathBuf};

pub mod epochs;
mod file;
pub mod group_commit;
pub mod lock;
mod mem;
pub mod purge;
pub mod recovery;
pub mod snapshot;
pub mod txnlog;
pub mod watermark;

pub use file::FileStorage;
pub use group_commit::{Completion, GroupCommit, GroupCommitConfig, GroupCommitError};
pub use lock::DirLock;
pub use mem::MemStorage;
pub use recovery::{recover, Recovered};

/// Length of ZooKeeper's `TxnHeader` (clientId long, cxid int, zxid long, time long, type int).
pub const TXN_HEADER_LEN: usize = 32;
/// Byte offset of the zxid inside a serialised `TxnHeader`.
pub const TXN_HEADER_ZXID_OFFSET: usize = 12;
/// ZooKeeper's default `zookeeper.preAllocSize`: 65 536 KiB.
pub const DEFAULT_PREALLOC_BYTES: u64 = 64 * 1024 * 1024;
/// ZooKeeper's default `snapCount`.
pub const DEFAULT_SNAP_COUNT: u64 = 100_000;
/// Largest txn payload accepted by default (appending and reading).
pub const DEFAULT_MAX_RECORD_BYTES: u32 = 64 * 1024 * 1024;
/// ZooKeeper's minimum (and default) `autopurge.snapRetainCount`.
pub const MIN_SNAP_RETAIN_COUNT: usize = 3;
/// Name of the versioned subdirectory ZooKeeper keeps its files in.
pub const VERSION_DIR: &str = "version-2";

/// Every way a storage operation can fail. Bad bytes on disk are reported, never applied.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The operating system refused an operation. The OS error is the `source`, not part of
    /// the message (printers such as anyhow's `{:#}` append it once).
    #[error("I/O error: {op} {path}")]
    Io {
        /// What was being done (`"open"`, `"fsync"`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Bytes on disk that fail a check and cannot be explained as a torn tail.
    #[error("corrupt {file} at byte {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the first bad byte (record start, for log records).
        offset: u64,
        /// Which check failed.
        reason: String,
    },
    /// `append` was given a zxid that is not after the last logged one.
    #[error("zxid {zxid:#x} is not after the last logged zxid {last:#x}")]
    OutOfOrder {
        /// The zxid offered.
        zxid: u64,
        /// The zxid it must exceed.
        last: u64,
    },
    /// The zxid argument differs from the zxid inside the payload's `TxnHeader`.
    #[error("append of zxid {zxid:#x} but the payload's TxnHeader says {payload_zxid:#x}")]
    ZxidMismatch {
        /// The zxid argument.
        zxid: u64,
        /// The zxid at byte offset 12 of the payload.
        payload_zxid: u64,
    },
    /// A payload shorter than a `TxnHeader` or longer than the configured maximum.
    #[error("txn payload of {len} bytes is outside {min}..={max}")]
    BadPayloadLength {
        /// The payload length.
        len: usize,
        /// `TXN_HEADER_LEN`.
        min: usize,
        /// The configured maximum.
        max: usize,
    },
    /// `truncate_after` was asked to cut below what must be kept.
    #[error("refusing to truncate the log after {zxid:#x}: below the floor {floor:#x}")]
    TruncateBelowFloor {
        /// The requested truncation point.
        zxid: u64,
        /// The lowest allowed point (caller's floor or the newest snapshot).
        floor: u64,
    },
    /// Log records exist but no snapshot does (ZooKeeper's empty-snapshot guard).
    #[error("no valid snapshot in {dir} but the log holds txns up to {last_logged:#x}")]
    MissingSnapshot {
        /// The snapshot directory.
        dir: PathBuf,
        /// The newest logged zxid.
        last_logged: u64,
    },
    /// The epoch files contradict each other or the log (ZooKeeper's `loadDataBase` rules).
    #[error("inconsistent epochs: {0}")]
    Epochs(String),
    /// A configuration value that cannot work.
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// Another process holds the directory's lock ([`lock`]): two servers must never share one.
    #[error("{key} {} is in use by another zabkeeper ({})", dir.display(), holder(*pid))]
    Locked {
        /// Which directory: `"dataDir"` or `"dataLogDir"`.
        key: &'static str,
        /// The directory as configured.
        dir: PathBuf,
        /// The holder's pid from the lock file, when it had written one.
        pid: Option<u32>,
    },
    /// An earlier write or fsync failed; the file state is unknown, nothing more is accepted.
    #[error("storage is unusable after an earlier failure")]
    Poisoned,
}

fn holder(pid: Option<u32>) -> String {
    pid.map_or_else(|| "pid unknown".to_string(), |pid| format!("pid {pid}"))
}

/// The name the project's style uses for log-level failures; the same type as [`StorageError`].
pub type LogError = StorageError;

/// Iterator over logged txns `(zxid, payload)` in zxid order.
pub type TxnIter = Box<dyn Iterator<Item = Result<(u64, Vec<u8>), StorageError>> + Send>;

/// Where the files live and the knobs ZooKeeper exposes for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// `dataDir`: snapshots and epoch files go in `data_dir/version-2`.
    pub data_dir: PathBuf,
    /// `dataLogDir`: txn log segments go in `data_log_dir/version-2`.
    pub data_log_dir: PathBuf,
    /// `zookeeper.preAllocSize` in bytes; 0 turns preallocation off.
    pub prealloc_bytes: u64,
    /// Records per log segment before the log rolls on its own (`snapCount`).
    pub snap_count: u64,
    /// Largest txn payload accepted.
    pub max_record_bytes: u32,
    /// `zookeeper.snapshot.trust.empty`: start even when logs exist but no snapshot does.
    pub trust_empty_snapshot: bool,
}

impl StorageConfig {
    /// ZooKeeper's defaults with the log in the data directory (`dataLogDir` unset).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            data_log_dir: data_dir.clone(),
            data_dir,
            prealloc_bytes: DEFAULT_PREALLOC_BYTES,
            snap_count: DEFAULT_SNAP_COUNT,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            trust_empty_snapshot: false,
        }
    }

    /// `data_dir/version-2`: snapshots, `acceptedEpoch`, `currentEpoch`.
    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join(VERSION_DIR)
    }

    /// `data_log_dir/version-2`: `log.<hex zxid>` segments.
    pub fn log_dir(&self) -> PathBuf {
        self.data_log_dir.join(VERSION_DIR)
    }

    pub(crate) fn validate(&self) -> Result<(), StorageError> {
        if self.snap_count == 0 {
            return Err(StorageError::Config("snap_count must be at least 1".into()));
        }
        if (self.max_record_bytes as usize) < TXN_HEADER_LEN {
            return Err(StorageError::Config(format!(
                "max_record_bytes {} is smaller than a TxnHeader",
                self.max_record_bytes
            )));
        }
        Ok(())
    }
}

/// What a node needs from its disk. Implemented by [`FileStorage`] and [`MemStorage`].
///
/// Durability contract: `append` only buffers; a record is durable once a later `sync` returned
/// `Ok(upto)` with `upto >= zxid`. Epoch and snapshot writes are durable when they return.
pub trait Storage: Send {
    /// Buffers one txn. `zxid` must exceed every logged zxid (and the newest snapshot's) and equal
    /// the zxid inside the payload's `TxnHeader`.
    fn append(&mut self, zxid: u64, payload: &[u8]) -> Result<(), StorageError>;

    /// Makes every appended txn durable (one fdatasync) and returns the newest durable zxid.
    /// Records the watermark last given to [`Storage::set_committed`] after that fdatasync.
    fn sync(&mut self) -> Result<u64, StorageError>;

    /// The commit watermark of the appends since the last `sync`: every txn up to `zxid` is
    /// committed. Recorded by the next `sync` (never lowered by it), recovered as
    /// `Recovered::committed`; [`FileStorage`] makes it durable lazily (`storage/watermark.rs`),
    /// so a recovered watermark may be older than the last one recorded, never newer.
    fn set_committed(&mut self, zxid: u64);

    /// Newest zxid in the log or the newest snapshot, whichever is greater (durable or not).
    fn last_logged_zxid(&self) -> u64;

    /// Closes the current log segment (after syncing it); the next append starts a new one.
    fn roll(&mut self) -> Result<(), StorageError>;

    /// Removes every logged txn with a zxid greater than `zxid` (ZAB TRUNC), durably. Refuses
    /// when `zxid < floor` or when `zxid` is below the newest snapshot.
    fn truncate_after(&mut self, zxid: u64, floor: u64) -> Result<(), StorageError>;

    /// Every logged txn with zxid `>= from`, in order, as appended so far (unsynced ones too).
    /// A DIFF sender passes the learner's last zxid and checks that the first txn yielded has
    /// exactly that zxid; if not, the log no longer covers it (purged) and a SNAP is needed.
    fn read_from(&mut self, from: u64) -> Result<TxnIter, StorageError>;

    /// The accepted epoch (`acceptedEpoch`), if one was ever written.
    fn accepted_epoch(&self) -> Option<u64>;

    /// Durably records the accepted epoch.
    fn set_accepted_epoch(&mut self, epoch: u64) -> Result<(), StorageError>;

    /// The current epoch (`currentEpoch`), if one was ever written.
    fn current_epoch(&self) -> Option<u64>;

    /// Durably records the current epoch.
    fn set_current_epoch(&mut self, epoch: u64) -> Result<(), StorageError>;

    /// Durably stores a (fuzzy) snapshot covering at least every txn up to `zxid`.
    fn save_snapshot(&mut self, zxid: u64, bytes: &[u8]) -> Result<(), StorageError>;

    /// The newest valid snapshot.
    fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StorageError>;
}

/// The zxid stored in a txn payload's `TxnHeader` (bytes 12..20, big-endian).
pub fn payload_zxid(payload: &[u8]) -> Option<u64> {
    let bytes = payload.get(TXN_HEADER_ZXID_OFFSET..TXN_HEADER_ZXID_OFFSET + 8)?;
    let mut be = [0u8; 8];
    be.copy_from_slice(bytes);
    Some(u64::from_be_bytes(be))
}

/// Checks a payload before it is logged: length bounds and the zxid in its `TxnHeader`.
pub fn check_payload(zxid: u64, payload: &[u8], max_record_bytes: u32) -> Result<(), StorageError> {
    let max = max_record_bytes as usize;
    if payload.len() < TXN_HEADER_LEN || payload.len() > max {
        return Err(StorageError::BadPayloadLength {
            len: payload.len(),
            min: TXN_HEADER_LEN,
            max,
        });
    }
    match payload_zxid(payload) {
        Some(payload_zxid) if payload_zxid == zxid => Ok(()),
        Some(payload_zxid) => Err(StorageError::ZxidMismatch { zxid, payload_zxid }),
        None => Err(StorageError::BadPayloadLength {
            len: payload.len(),
            min: TXN_HEADER_LEN,
            max,
        }),
    }
}

/// Builds a payload that passes [`check_payload`]: a `TxnHeader` (session 0, cxid 0, `zxid`, time
/// 0, type `txn_type`) followed by `body`. For tests, benches and simulations.
pub fn encode_txn_payload(zxid: u64, txn_type: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TXN_HEADER_LEN + body.len());
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&zxid.to_be_bytes());
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&txn_type.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The epoch part of a zxid (`zxid >> 32`).
pub fn zxid_epoch(zxid: u64) -> u64 {
    zxid >> 32
}

/// Adler-32 (RFC 1950), the checksum ZooKeeper uses for log records and snapshots
/// (`java.util.zip.Adler32`): the `adler2` crate under the names the storage code uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Adler32(adler2::Adler32);

impl Adler32 {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.write_slice(data);
    }

    /// The checksum of everything fed so far.
    pub fn value(&self) -> u32 {
        self.0.checksum()
    }

    /// One-shot checksum.
    pub fn checksum(data: &[u8]) -> u32 {
        adler2::adler32_slice(data)
    }
}

pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Io { op, path, source }
}

/// fsyncs a directory so that entries created, renamed or removed in it survive a crash.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StorageError> {
    let handle = std::fs::File::open(dir).map_err(io_err("open dir", dir))?;
    handle.sync_all().map_err(io_err("fsync dir", dir))
}

/// Creates `dir` (and parents) if missing, fsyncing the parent of each created level.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            ensure_dir(parent)?;
        }
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(io_err("create dir", dir)(e)),
    }
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => fsync_dir(parent),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_known_vectors() {
        assert_eq!(Adler32::checksum(b""), 1);
        assert_eq!(Adler32::checksum(b"Wikipedia"), 0x11E6_0398);
        // Longer than zlib's 5,552-byte run between reductions; fed in two pieces.
        let data = vec![0xFFu8; 100_000];
        let mut split = Adler32::default();
        split.update(&data[..7]);
        split.update(&data[7..]);
        assert_eq!(split.value(), Adler32::checksum(&data));
        assert_eq!(Adler32::checksum(&data), 0x149A_302C);
    }

    fn be_u64(bytes: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    }

    /// A txn log written by ZooKeeper 3.8.0 (`tests/data/zookeeper_files.py`): every record's
    /// stored checksum is the Adler-32 of its payload (reference C.2). Record 2 is 6,094 bytes.
    #[test]
    fn adler32_matches_zookeeper_txn_log() {
        let log = include_bytes!("../../tests/data/zookeeper-3.8/version-2/log.1");
        assert_eq!(&log[..4], b"ZKLG");
        let mut at = 16;
        let mut lengths = Vec::new();
        loop {
            let checksum = be_u64(log, at);
            let len = u32::from_be_bytes(log[at + 8..at + 12].try_into().expect("4 bytes"));
            if checksum == 0 && len == 0 {
                break;
            }
            let payload = &log[at + 12..at + 12 + len as usize];
            assert_eq!(
                u64::from(Adler32::checksum(payload)),
                checksum,
                "record at {at}"
            );
            assert_eq!(log[at + 12 + len as usize], 0x42);
            lengths.push(len);
            at += 12 + len as usize + 1;
        }
        // createSession, create /adler, create /adler/big, setData, closeSession.
        assert_eq!(lengths, [48, 90, 6094, 67, 48]);
    }

    /// A snapshot written by ZooKeeper 3.8.0: both seals are the running Adler-32 of every byte
    /// before them (reference C.4), fed here in the pieces ZooKeeper's stream saw.
    #[test]
    fn adler32_matches_zookeeper_snapshot_seals() {
        let snap = include_bytes!("../../tests/data/zookeeper-3.8/version-2/snapshot.5");
        assert_eq!(&snap[..4], b"ZKSN");
        // Tail: seal 1 (long, "/"), digest (long zxid, int version, long digest), seal 2.
        const SEAL_LEN: usize = 8 + 4 + 1;
        let seal2 = snap.len() - SEAL_LEN;
        let seal1 = seal2 - (8 + 4 + 8) - SEAL_LEN;
        let mut running = Adler32::default();
        running.update(&snap[..seal1]);
        assert_eq!(u64::from(running.value()), be_u64(snap, seal1));
        running.update(&snap[seal1..seal2]);
        assert_eq!(u64::from(running.value()), be_u64(snap, seal2));
        assert_eq!(
            u64::from(Adler32::checksum(&snap[..seal2])),
            be_u64(snap, seal2)
        );
    }

    #[test]
    fn payload_checks() {
        let payload = encode_txn_payload(0x1_0000_0005, 1, b"body");
        assert_eq!(payload_zxid(&payload), Some(0x1_0000_0005));
        assert!(check_payload(0x1_0000_0005, &payload, 1024).is_ok());
        assert!(matches!(
            check_payload(0x1_0000_0006, &payload, 1024),
            Err(StorageError::ZxidMismatch { .. })
        ));
        assert!(matches!(
            check_payload(5, &payload[..31], 1024),
            Err(StorageError::BadPayloadLength { len: 31, .. })
        ));
        assert!(matches!(
            check_payload(0x1_0000_0005, &payload, 32),
            Err(StorageError::BadPayloadLength { .. })
        ));
    }
}
