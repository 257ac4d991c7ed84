//! Snapshot files: `snapshot.<hex zxid>` in `dataDir/version-2` (`spec/storage.md` §3).
//!
//! Role: the runtime serialises the data tree (fuzzily, while txns keep applying) and hands the
//! bytes here with the zxid the image covers at least; recovery loads the newest valid one and
//! replays the log after it. The bytes are opaque; this module frames them the way ZooKeeper's
//! `FileSnap` does — header `ZKSN`, version 2, dbid -1; the payload; a seal of `long` Adler-32 over
//! everything before it and the string "/" — so when the payload is ZooKeeper's own serialisation
//! (sessions, ACL cache, nodes, "/") the file is a snapshot ZooKeeper's tools can read.
//!
//! Writes are atomic: temp file, fsync, rename, fsync of the directory.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::txnlog::list_named;
use super::{fsync_dir, io_err, Adler32, StorageError};

/// `FileHeader.magic` of snapshots: "ZKSN".
pub const SNAP_MAGIC: u32 = 0x5A4B_534E;
/// `FileHeader.version`.
pub const SNAP_VERSION: u32 = 2;
/// `FileHeader.dbid` as ZooKeeper writes it.
pub const SNAP_DBID: i64 = -1;
/// Bytes in the file header.
pub const SNAP_HEADER_LEN: usize = 16;
/// The string "/" as jute writes it: int length 1, then '/'. Ends every snapshot.
pub const SNAP_SEAL_END: [u8; 5] = [0, 0, 0, 1, b'/'];
/// Bytes after the payload: Adler-32 long + `SNAP_SEAL_END`.
pub const SNAP_TRAILER_LEN: usize = 8 + SNAP_SEAL_END.len();
/// File-name prefix of snapshots.
pub const SNAP_PREFIX: &str = "snapshot";
/// How many of the newest snapshots recovery tries before giving up (ZooKeeper's `FileSnap`).
pub const SNAP_CANDIDATES_MAX: usize = 100;
const TMP_SUFFIX: &str = ".tmp";

/// `snapshot.<lowercase hex, no padding>`.
pub fn snapshot_file_name(zxid: u64) -> String {
    format!("{SNAP_PREFIX}.{zxid:x}")
}

/// Every `snapshot.<hex>` file, newest first.
pub fn list_snapshots(snap_dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut all = list_named(snap_dir, SNAP_PREFIX)?;
    all.reverse();
    Ok(all)
}

/// Writes a snapshot durably and returns its path: temp file, fsync, rename, fsync the directory.
pub fn write_snapshot(snap_dir: &Path, zxid: u64, payload: &[u8]) -> Result<PathBuf, StorageError> {
    let name = snapshot_file_name(zxid);
    let path = snap_dir.join(&name);
    let tmp = snap_dir.join(format!("{name}{TMP_SUFFIX}"));
    let mut header = [0u8; SNAP_HEADER_LEN];
    header[0..4].copy_from_slice(&SNAP_MAGIC.to_be_bytes());
    header[4..8].copy_from_slice(&SNAP_VERSION.to_be_bytes());
    header[8..16].copy_from_slice(&SNAP_DBID.to_be_bytes());
    let mut adler = Adler32::default();
    adler.update(&header);
    adler.update(payload);
    let mut trailer = [0u8; SNAP_TRAILER_LEN];
    trailer[0..8].copy_from_slice(&u64::from(adler.value()).to_be_bytes());
    trailer[8..].copy_from_slice(&SNAP_SEAL_END);

    let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all(&header).map_err(io_err("write", &tmp))?;
    file.write_all(payload).map_err(io_err("write", &tmp))?;
    file.write_all(&trailer).map_err(io_err("write", &tmp))?;
    file.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
    fsync_dir(snap_dir)?;
    Ok(path)
}

/// ZooKeeper's `SnapStream.isValidSnapshot` for plain files: at least 10 bytes and ending in the
/// seal string "/". Cheap; used to pick candidates and by purge.
pub fn quick_check(path: &Path) -> Result<bool, StorageError> {
    let bytes = fs::metadata(path).map_err(io_err("stat", path))?.len();
    if bytes < (SNAP_HEADER_LEN + SNAP_TRAILER_LEN) as u64 {
        return Ok(false);
    }
    let mut file = File::open(path).map_err(io_err("open", path))?;
    let mut tail = [0u8; SNAP_SEAL_END.len()];
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::End(-(SNAP_SEAL_END.len() as i64)))
        .map_err(io_err("seek", path))?;
    file.read_exact(&mut tail).map_err(io_err("read", path))?;
    Ok(tail == SNAP_SEAL_END)
}

/// Reads a snapshot file and returns its payload after checking header, checksum and seal.
pub fn read_snapshot(path: &Path) -> Result<Vec<u8>, StorageError> {
    let mut bytes = fs::read(path).map_err(io_err("read", path))?;
    let corrupt = |offset: usize, reason: &str| StorageError::Corrupt {
        file: path.to_path_buf(),
        offset: offset as u64,
        reason: reason.to_string(),
    };
    if bytes.len() < SNAP_HEADER_LEN + SNAP_TRAILER_LEN {
        return Err(corrupt(0, "shorter than a snapshot header and seal"));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let version = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if magic != SNAP_MAGIC || version != SNAP_VERSION {
        return Err(corrupt(0, "bad snapshot header"));
    }
    let seal_at = bytes.len() - SNAP_TRAILER_LEN;
    if bytes[seal_at + 8..] != SNAP_SEAL_END {
        return Err(corrupt(seal_at + 8, "missing end seal \"/\""));
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&bytes[seal_at..seal_at + 8]);
    if u64::from_be_bytes(stored) != u64::from(Adler32::checksum(&bytes[..seal_at])) {
        return Err(corrupt(seal_at, "checksum mismatch"));
    }
    bytes.truncate(seal_at);
    bytes.drain(..SNAP_HEADER_LEN);
    Ok(bytes)
}

/// The newest snapshot that passes every check, trying up to [`SNAP_CANDIDATES_MAX`] (invalid
/// newer ones are skipped with a warning, as ZooKeeper does). `Ok(None)` when there is no
/// snapshot file at all; an error when snapshots exist but none is valid — starting from the log
/// alone could silently lose the state those snapshots held.
pub fn load_latest(snap_dir: &Path) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
    let candidates = list_snapshots(snap_dir)?;
    let mut first_error = None;
    for (zxid, path) in candidates.iter().take(SNAP_CANDIDATES_MAX) {
        match read_snapshot(path) {
            Ok(payload) => return Ok(Some((*zxid, payload))),
            Err(error @ StorageError::Corrupt { .. }) => {
                tracing::warn!(path = %path.display(), %error, "skipping invalid snapshot");
                first_error.get_or_insert(error);
            }
            Err(error) => return Err(error),
        }
    }
    match first_error {
        None => Ok(None),
        Some(StorageError::Corrupt {
            file,
            offset,
            reason,
        }) => Err(StorageError::Corrupt {
            file,
            offset,
            reason: format!(
                "no valid snapshot among {} files: {reason}",
                candidates.len()
            ),
        }),
        Some(other) => Err(other),
    }
}

/// Zxid of the newest snapshot file whose name parses and that passes [`quick_check`].
pub fn newest_zxid(snap_dir: &Path) -> Result<Option<u64>, StorageError> {
    for (zxid, path) in list_snapshots(snap_dir)? {
        if quick_check(&path)? {
            return Ok(Some(zxid));
        }
    }
    Ok(None)
}

/// Deletes `snapshot.<hex>.tmp` leftovers of writes a crash interrupted.
pub(crate) fn remove_temp_files(snap_dir: &Path) -> Result<(), StorageError> {
    let mut removed = false;
    for entry in fs::read_dir(snap_dir).map_err(io_err("list", snap_dir))? {
        let entry = entry.map_err(io_err("list", snap_dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_tmp = name
            .strip_suffix(TMP_SUFFIX)
            .and_then(|stem| super::txnlog::parse_zxid_name(stem, SNAP_PREFIX))
            .is_some();
        if is_tmp {
            tracing::warn!(file = name, "removing an unfinished snapshot");
            fs::remove_file(entry.path()).map_err(io_err("remove", &entry.path()))?;
            removed = true;
        }
    }
    if removed {
        fsync_dir(snap_dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_matches_zookeeper_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_snapshot(dir.path(), 0x39, b"payload").expect("write");
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some("snapshot.39")
        );
        let bytes = fs::read(&path).expect("read");
        assert_eq!(&bytes[0..4], b"ZKSN");
        assert_eq!(&bytes[4..8], &2u32.to_be_bytes());
        assert_eq!(&bytes[8..16], &(-1i64).to_be_bytes());
        assert_eq!(&bytes[16..23], b"payload");
        assert_eq!(&bytes[bytes.len() - 5..], &SNAP_SEAL_END);
        assert!(quick_check(&path).expect("check"));
        assert_eq!(read_snapshot(&path).expect("valid"), b"payload");
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_snapshot(dir.path(), 1, b"some tree bytes").expect("write");
        let good = fs::read(&path).expect("read");
        for byte in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[byte] ^= 1 << bit;
                fs::write(&path, &bad).expect("write");
                assert!(
                    read_snapshot(&path).is_err(),
                    "flip at byte {byte} bit {bit} missed"
                );
            }
        }
    }
}
