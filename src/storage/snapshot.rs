//! Snapshot files: `snapshot.<hex zxid>` in `dataDir/version-2` (`spec/storage.md` §3), framed
//! exactly as ZooKeeper's `FileSnap` frames them (formats sheet C.4):
//!
//! ```text
//! FileHeader      int magic "ZKSN", int version 2, long dbid -1
//! body            the data tree and its sessions (`tree::snapshot`)
//! seal            long Adler-32 of every byte before it, ustring "/"
//! ZxidDigest      long zxid, int digestVersion, long digest      ZooKeeper 3.6+, digest enabled
//! seal            long Adler-32 of every byte before it, ustring "/"   (only after a ZxidDigest)
//! ```
//!
//! Role: the runtime serialises the data tree and hands this module the *payload* — everything
//! between the header and the last seal, i.e. the body alone or body ‖ seal ‖ ZxidDigest
//! ([`payload_with_digest`]) — with the zxid the image covers at least. [`write_snapshot`] adds
//! the header and the last seal; [`read_snapshot`] checks both (so every damaged byte is caught
//! before anything is parsed) and returns the payload; [`decode_payload`] parses the body with
//! the caller's reader and then checks the inner seal and reads the digest, tolerating its
//! absence as ZooKeeper does (files of 3.5, or of 3.6+ with `digest.enabled=false`).
//!
//! Only plain files are read: a `snapshot.<hex>.gz` or `.snappy` file (ZooKeeper's
//! `snapshot.compression.method`) stops recovery with an error rather than being ignored.
//!
//! Writes are atomic: temp file, fsync, rename, fsync of the directory.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::txnlog::list_named;
use super::{fsync_dir, io_err, Adler32, StorageError};
use crate::wire::jute::{JuteReader, JuteWriter};
use crate::wire::DecodeError;

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
/// Extensions of ZooKeeper's compressed snapshots, which this build does not read.
const COMPRESSED_SUFFIXES: [&str; 2] = [".gz", ".snappy"];
/// Encoded size of a [`ZxidDigest`] of version 2 or later.
pub const ZXID_DIGEST_LEN: usize = 8 + 4 + 8;

/// The 16 header bytes every snapshot starts with.
fn header_bytes() -> [u8; SNAP_HEADER_LEN] {
    let mut header = [0u8; SNAP_HEADER_LEN];
    header[0..4].copy_from_slice(&SNAP_MAGIC.to_be_bytes());
    header[4..8].copy_from_slice(&SNAP_VERSION.to_be_bytes());
    header[8..16].copy_from_slice(&SNAP_DBID.to_be_bytes());
    header
}

/// `DataTree.ZxidDigest`: the tree digest and the zxid of the last txn it covers, which ZooKeeper
/// 3.6+ writes after the first seal. ZooKeeper compares it with its own tree once it has
/// replayed up to `zxid`; a zero `zxid` means "no digest recorded".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ZxidDigest {
    /// The zxid the digest belongs to.
    pub zxid: i64,
    /// `DigestCalculator` version (2 in ZooKeeper 3.6–3.9).
    pub version: i32,
    /// The tree digest (`DataTree::digest`).
    pub digest: i64,
}

/// Why a snapshot payload could not be decoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError<E> {
    /// The body reader failed.
    #[error("snapshot body: {0}")]
    Body(E),
    /// The seal after the body does not match the bytes before it.
    #[error("the seal after the body (file offset {offset}) does not match")]
    BadSeal {
        /// Where the seal starts in the file.
        offset: usize,
    },
    /// The `ZxidDigest` after the seal could not be read.
    #[error("bad zxid digest: {0}")]
    BadDigest(String),
    /// Bytes after the digest.
    #[error("{0} unexpected bytes after the zxid digest")]
    TrailingBytes(usize),
}

impl<E> From<DecodeError> for PayloadError<E> {
    fn from(e: DecodeError) -> Self {
        PayloadError::BadDigest(e.to_string())
    }
}

/// The payload of a ZooKeeper 3.6+ snapshot: `body`, the seal over header and body, `digest`.
/// [`write_snapshot`] adds the header in front and the final seal behind.
pub fn payload_with_digest(body: &[u8], digest: &ZxidDigest) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + SNAP_TRAILER_LEN + ZXID_DIGEST_LEN);
    out.extend_from_slice(body);
    seal_with_digest(out, digest)
}

/// [`payload_with_digest`] over an owned body: the seal and digest are appended in place, so a
/// snapshot of a large tree is not held twice in memory.
pub fn seal_with_digest(mut body: Vec<u8>, digest: &ZxidDigest) -> Vec<u8> {
    let mut adler = Adler32::default();
    adler.update(&header_bytes());
    adler.update(&body);
    body.reserve_exact(SNAP_TRAILER_LEN + ZXID_DIGEST_LEN);
    let mut w = JuteWriter::new(&mut body);
    w.write_long(i64::from(adler.value()));
    w.write_string("/");
    w.write_long(digest.zxid);
    w.write_int(digest.version);
    w.write_long(digest.digest);
    body
}

/// Splits a payload [`read_snapshot`] returned: `read_body` parses the body from the start and
/// leaves what follows it; that must be nothing (no digest) or the seal over header and body
/// followed by one `ZxidDigest` (version ≥ 2: a long; older: a hex string, as ZooKeeper reads it).
pub fn decode_payload<T, E>(
    payload: &[u8],
    read_body: impl FnOnce(&mut JuteReader<'_>) -> Result<T, E>,
) -> Result<(T, Option<ZxidDigest>), PayloadError<E>> {
    let mut r = JuteReader::new(payload);
    let body = read_body(&mut r).map_err(PayloadError::Body)?;
    let body_end = r.position();
    if r.remaining() == 0 {
        return Ok((body, None));
    }
    let mut adler = Adler32::default();
    adler.update(&header_bytes());
    adler.update(&payload[..body_end]);
    let bad_seal = || PayloadError::BadSeal {
        offset: SNAP_HEADER_LEN + body_end,
    };
    let stored = r.read_long().map_err(|_| bad_seal())?;
    let slash = r.read_ustring().map_err(|_| bad_seal())?;
    if stored != i64::from(adler.value()) || slash.as_deref() != Some("/") {
        return Err(bad_seal());
    }
    let zxid = r.read_long()?;
    let version = r.read_int()?;
    let digest = if version >= 2 {
        r.read_long()?
    } else {
        let hex = r.read_ustring()?.unwrap_or_default();
        i64::from_str_radix(&hex, 16)
            .map_err(|_| PayloadError::BadDigest(format!("digest {hex:?} is not hex")))?
    };
    if r.remaining() != 0 {
        return Err(PayloadError::TrailingBytes(r.remaining()));
    }
    Ok((
        body,
        Some(ZxidDigest {
            zxid,
            version,
            digest,
        }),
    ))
}

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
    let header = header_bytes();
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

/// Reads a snapshot file and returns its payload after checking header, checksum and seal. The
/// header is read apart, so the payload is read into its own buffer and never moved (a snapshot
/// of 10⁶ znodes is some 200 MB).
pub fn read_snapshot(path: &Path) -> Result<Vec<u8>, StorageError> {
    let corrupt = |offset: usize, reason: &str| StorageError::Corrupt {
        file: path.to_path_buf(),
        offset: offset as u64,
        reason: reason.to_string(),
    };
    let mut file = File::open(path).map_err(io_err("read", path))?;
    let len = file.metadata().map_err(io_err("read", path))?.len();
    if len < (SNAP_HEADER_LEN + SNAP_TRAILER_LEN) as u64 {
        return Err(corrupt(0, "shorter than a snapshot header and seal"));
    }
    let mut header = [0u8; SNAP_HEADER_LEN];
    file.read_exact(&mut header).map_err(io_err("read", path))?;
    // Every FileSnap since 3.0 writes this exact header (dbid is the constant -1); the inner
    // seal of a 3.6+ file is computed over it.
    if header != header_bytes() {
        return Err(corrupt(
            0,
            "bad snapshot header (want ZKSN, version 2, dbid -1)",
        ));
    }
    let rest =
        usize::try_from(len).map_err(|_| corrupt(0, "larger than memory"))? - SNAP_HEADER_LEN;
    let mut bytes = Vec::with_capacity(rest);
    file.read_to_end(&mut bytes).map_err(io_err("read", path))?;
    if bytes.len() < SNAP_TRAILER_LEN {
        return Err(corrupt(0, "shorter than a snapshot header and seal"));
    }
    let seal_at = bytes.len() - SNAP_TRAILER_LEN;
    if bytes[seal_at + 8..] != SNAP_SEAL_END {
        return Err(corrupt(
            SNAP_HEADER_LEN + seal_at + 8,
            "missing end seal \"/\"",
        ));
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&bytes[seal_at..seal_at + 8]);
    let mut adler = Adler32::default();
    adler.update(&header);
    adler.update(&bytes[..seal_at]);
    if u64::from_be_bytes(stored) != u64::from(adler.value()) {
        return Err(corrupt(SNAP_HEADER_LEN + seal_at, "checksum mismatch"));
    }
    bytes.truncate(seal_at);
    Ok(bytes)
}

/// The newest snapshot that passes every check, trying up to [`SNAP_CANDIDATES_MAX`] (invalid
/// newer ones are skipped with a warning, as ZooKeeper does). `Ok(None)` when there is no
/// snapshot file at all; an error when snapshots exist but none is valid — starting from the log
/// alone could silently lose the state those snapshots held.
pub fn load_latest(snap_dir: &Path) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
    refuse_compressed(snap_dir)?;
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

/// A compressed ZooKeeper snapshot would be skipped by name and an older plain one (or none)
/// loaded in its place, losing what it holds: refuse instead.
fn refuse_compressed(snap_dir: &Path) -> Result<(), StorageError> {
    for entry in fs::read_dir(snap_dir).map_err(io_err("list", snap_dir))? {
        let entry = entry.map_err(io_err("list", snap_dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let compressed = COMPRESSED_SUFFIXES.iter().any(|suffix| {
            name.strip_suffix(suffix)
                .and_then(|stem| super::txnlog::parse_zxid_name(stem, SNAP_PREFIX))
                .is_some()
        });
        if compressed {
            return Err(StorageError::Corrupt {
                file: entry.path(),
                offset: 0,
                reason: "compressed snapshots (snapshot.compression.method) are not supported; \
                         restart ZooKeeper with plain snapshots first"
                    .into(),
            });
        }
    }
    Ok(())
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

    fn read_body(r: &mut JuteReader<'_>) -> Result<String, DecodeError> {
        r.read_string("body")
    }

    fn body() -> Vec<u8> {
        let mut out = Vec::new();
        JuteWriter::new(&mut out).write_string("tree");
        out
    }

    const DIGEST: ZxidDigest = ZxidDigest {
        zxid: 0x1_0000_0005,
        version: 2,
        digest: -42,
    };

    #[test]
    fn digest_between_two_seals() {
        let dir = tempfile::tempdir().expect("tempdir");
        let payload = payload_with_digest(&body(), &DIGEST);
        let path = write_snapshot(dir.path(), 5, &payload).expect("write");
        let file = fs::read(&path).expect("read");
        // header ‖ body ‖ seal ‖ digest ‖ seal; each seal is the Adler-32 of all before it.
        let body_end = SNAP_HEADER_LEN + body().len();
        let seal1 = Adler32::checksum(&file[..body_end]);
        assert_eq!(
            &file[body_end..body_end + 8],
            &u64::from(seal1).to_be_bytes()
        );
        assert_eq!(&file[body_end + 8..body_end + 13], &SNAP_SEAL_END);
        assert_eq!(file.len(), body_end + 13 + ZXID_DIGEST_LEN + 13);
        let payload = read_snapshot(&path).expect("valid");
        assert_eq!(
            decode_payload(&payload, read_body),
            Ok(("tree".to_string(), Some(DIGEST)))
        );
        // Without a digest (ZooKeeper 3.5, or digest.enabled=false) the body is the payload.
        assert_eq!(
            decode_payload(&body(), read_body),
            Ok(("tree".to_string(), None))
        );
    }

    #[test]
    fn bad_digest_sections_are_errors() {
        let good = payload_with_digest(&body(), &DIGEST);
        let seal_at = SNAP_HEADER_LEN + body().len();
        let mut bad_seal = good.clone();
        bad_seal[body().len() + 7] ^= 1;
        assert_eq!(
            decode_payload(&bad_seal, read_body),
            Err(PayloadError::BadSeal { offset: seal_at })
        );
        let short = &good[..good.len() - 1];
        assert!(matches!(
            decode_payload(short, read_body),
            Err(PayloadError::BadDigest(_))
        ));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            decode_payload(&long, read_body),
            Err(PayloadError::TrailingBytes(1))
        );
        // Digest version 1 stored the digest as a hex string.
        let mut v1 = good[..body().len() + 13].to_vec();
        let mut w = JuteWriter::new(&mut v1);
        w.write_long(7);
        w.write_int(1);
        w.write_string("ff");
        assert_eq!(
            decode_payload(&v1, read_body).map(|(_, d)| d),
            Ok(Some(ZxidDigest {
                zxid: 7,
                version: 1,
                digest: 255
            }))
        );
    }

    #[test]
    fn compressed_snapshots_stop_recovery() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_snapshot(dir.path(), 1, &body()).expect("write");
        fs::write(dir.path().join("snapshot.5.gz"), b"\x1f\x8b").expect("write");
        assert!(matches!(
            load_latest(dir.path()),
            Err(StorageError::Corrupt { reason, .. }) if reason.contains("compressed")
        ));
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
