//! The commit watermark file: the highest zxid known committed when the log was last synced
//! (`spec/storage.md` §2a).
//!
//! Role: the protocol hands every log append its commit watermark (`Effect::PersistTxns {
//! committed }`); the writer thread records it with the batch ([`super::Storage::set_committed`])
//! and [`super::FileStorage`] writes it here after the batch's fdatasync returned. Recovery reads
//! it back (`Recovered::committed`), so a restarted server applies only the txns it knew
//! committed and keeps the rest as its uncommitted log tail (spec/zab.md §6.1).
//!
//! `dataLogDir/version-2/committedZxid`, 12 bytes, overwritten in place:
//!
//! ```text
//! long zxid | int Adler-32 of the 8 zxid bytes
//! ```
//!
//! ZooKeeper does not have this file and ignores it (its log and snapshot listings match the
//! `log.` and `snapshot.` prefixes only). The record is written without its own fsync; it is
//! fsynced by `Storage::roll` (before every snapshot), by a truncation that lowers it, and when
//! the storage is dropped. After a power failure it may therefore hold
//! an older watermark than the last batch's, never a newer one (it is written after the log's
//! fdatasync), and a torn or missing record reads as none: both only make recovery treat
//! committed txns as uncommitted, which the next sync repairs (the leader holds every committed
//! txn and commits its history again). It never makes an uncommitted txn count as committed.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{fsync_dir, io_err, Adler32, StorageError};

/// The watermark file's name in `dataLogDir/version-2`.
pub const WATERMARK_FILE: &str = "committedZxid";

const RECORD_LEN: usize = 12;

/// The open watermark file.
#[derive(Debug)]
pub struct Watermark {
    file: File,
    path: PathBuf,
    /// What the file holds (or is about to, once written back).
    written: u64,
    /// Written since the last fsync.
    dirty: bool,
}

impl Watermark {
    /// Opens (creating it, and fsyncing `log_dir` when it is new) the file in `log_dir` and reads
    /// its record: `None` when the file is new, empty or its record does not check.
    pub fn open(log_dir: &Path) -> Result<(Watermark, Option<u64>), StorageError> {
        let path = log_dir.join(WATERMARK_FILE);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err("open", &path))?;
        if !existed {
            fsync_dir(log_dir)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(io_err("read", &path))?;
        let value = decode(&bytes);
        if value.is_none() && !bytes.is_empty() {
            tracing::warn!(file = %path.display(), "commit watermark record does not check; ignoring it");
        }
        let watermark = Watermark {
            file,
            path,
            written: value.unwrap_or(0),
            dirty: false,
        };
        Ok((watermark, value))
    }

    /// Reads the record of the file in `log_dir` without opening it for writing.
    pub fn read(log_dir: &Path) -> Result<Option<u64>, StorageError> {
        let path = log_dir.join(WATERMARK_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(decode(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    /// Overwrites the record with `zxid` if that is higher than what it holds (no fsync).
    pub fn record(&mut self, zxid: u64) -> Result<(), StorageError> {
        if zxid <= self.written {
            return Ok(());
        }
        self.file
            .write_all_at(&encode(zxid), 0)
            .map_err(io_err("write", &self.path))?;
        self.written = zxid;
        self.dirty = true;
        Ok(())
    }

    /// Lowers the record to `zxid` when it is above (a truncation removed txns it covered).
    pub fn clamp(&mut self, zxid: u64) -> Result<(), StorageError> {
        if self.written <= zxid {
            return Ok(());
        }
        self.file
            .write_all_at(&encode(zxid), 0)
            .map_err(io_err("write", &self.path))?;
        self.written = zxid;
        self.dirty = true;
        self.flush()
    }

    /// fdatasyncs the record if it changed since the last flush.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(io_err("fdatasync", &self.path))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// The value last recorded.
    pub fn value(&self) -> u64 {
        self.written
    }
}

fn encode(zxid: u64) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    let bytes = zxid.to_be_bytes();
    out[..8].copy_from_slice(&bytes);
    out[8..].copy_from_slice(&Adler32::checksum(&bytes).to_be_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<u64> {
    if bytes.len() != RECORD_LEN {
        return None;
    }
    let sum = u32::from_be_bytes(bytes[8..].try_into().ok()?);
    (Adler32::checksum(&bytes[..8]) == sum)
        .then(|| u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_upwards_reads_back_and_ignores_a_torn_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, none) = Watermark::open(dir.path()).expect("open");
        assert_eq!(none, None);
        w.record(0x1_0000_0005).expect("record");
        w.record(0x1_0000_0003).expect("lower is ignored");
        w.flush().expect("flush");
        assert_eq!(
            Watermark::read(dir.path()).expect("read"),
            Some(0x1_0000_0005)
        );
        drop(w);
        let (mut w, value) = Watermark::open(dir.path()).expect("reopen");
        assert_eq!(value, Some(0x1_0000_0005));
        w.clamp(0x1_0000_0004).expect("clamp");
        assert_eq!(
            Watermark::read(dir.path()).expect("read"),
            Some(0x1_0000_0004)
        );
        // A flipped byte: the record no longer checks and reads as none.
        let path = dir.path().join(WATERMARK_FILE);
        let mut bytes = std::fs::read(&path).expect("bytes");
        bytes[7] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(Watermark::read(dir.path()).expect("read"), None);
        std::fs::write(&path, &bytes[..5]).expect("write");
        assert_eq!(Watermark::read(dir.path()).expect("read"), None);
    }
}
