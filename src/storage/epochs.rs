//! The `acceptedEpoch` and `currentEpoch` files (`spec/storage.md` §4, facts B.11).
//!
//! Role: in discovery a follower must not forget the epoch it accepted (LEADERINFO) nor the
//! epoch whose NEWLEADER it acked; the protocol emits `PersistEpoch` and waits for
//! `EpochPersisted`, which the runtime sends once [`write_epoch`] returned. Format exactly as
//! ZooKeeper's `QuorumPeer.writeLongToFile`: the decimal number, no newline, in
//! `dataDir/version-2`, written to `<name>.tmp`, fsynced, renamed over the target (we also fsync
//! the directory, which ZooKeeper omits).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use super::{fsync_dir, io_err, zxid_epoch, StorageError};

/// File holding the epoch accepted in discovery.
pub const ACCEPTED_EPOCH_FILE: &str = "acceptedEpoch";
/// File holding the epoch of the last NEWLEADER acknowledged.
pub const CURRENT_EPOCH_FILE: &str = "currentEpoch";
/// Suffix of the temporary file (ZooKeeper's `AtomicFileOutputStream.TMP_EXTENSION`).
pub const TMP_EXTENSION: &str = ".tmp";

/// Reads an epoch file: `Ok(None)` when it does not exist.
pub fn read_epoch(snap_dir: &Path, name: &str) -> Result<Option<u64>, StorageError> {
    let path = snap_dir.join(name);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            return Err(StorageError::Corrupt {
                file: path,
                offset: 0,
                reason: "epoch file is not text".into(),
            })
        }
        Err(e) => return Err(io_err("read", &path)(e)),
    };
    // ZooKeeper reads the first line and parses it as a long.
    let line = text.lines().next().unwrap_or("");
    match line.parse::<i64>() {
        Ok(value) if value >= 0 => Ok(Some(value as u64)),
        _ => Err(StorageError::Corrupt {
            file: path,
            offset: 0,
            reason: format!("epoch file holds {line:?}, not a non-negative decimal number"),
        }),
    }
}

/// Writes an epoch file durably: `<name>.tmp`, fsync, rename, fsync the directory.
pub fn write_epoch(snap_dir: &Path, name: &str, epoch: u64) -> Result<(), StorageError> {
    let path = snap_dir.join(name);
    let tmp = snap_dir.join(format!("{name}{TMP_EXTENSION}"));
    let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all(epoch.to_string().as_bytes())
        .map_err(io_err("write", &tmp))?;
    file.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
    fsync_dir(snap_dir)
}

/// ZooKeeper's start-up rules (`QuorumPeer.loadDataBase`) over what the disk holds, as a pure
/// function: `(accepted, current, current_tmp)` are the files' contents (None = missing),
/// `last_zxid` the newest zxid recovered. Returns the epochs and which files must be (re)written.
pub fn resolve(
    accepted: Option<u64>,
    current: Option<u64>,
    current_tmp: Option<u64>,
    last_zxid: u64,
) -> Result<Resolved, StorageError> {
    let epoch_of_zxid = zxid_epoch(last_zxid);
    let mut resolved = Resolved::default();
    let mut current = match current {
        Some(current) => current,
        None => {
            resolved.write_current = true;
            epoch_of_zxid
        }
    };
    if epoch_of_zxid > current {
        if accepted.is_some_and(|accepted| accepted >= epoch_of_zxid) {
            // A learner syncing into an accepted epoch makes the synced txns durable before it
            // writes currentEpoch (ZAB-NEWLEADER-DURABLE, the ZOOKEEPER-4643 order); a crash
            // between the two leaves exactly this. It never acknowledged NEWLEADER, so it runs
            // with the current epoch it recorded: its vote claims no more than it acked.
        } else if let Some(tmp) = current_tmp {
            // A crash between writing currentEpoch.tmp and the rename: ZooKeeper trusts the tmp
            // file.
            current = tmp;
            resolved.write_current = true;
        } else {
            return Err(StorageError::Epochs(format!(
                "the current epoch {current} is older than the last zxid {last_zxid:#x} \
                 and the accepted epoch does not cover it"
            )));
        }
    }
    let accepted = match accepted {
        Some(accepted) => accepted,
        None => {
            resolved.write_accepted = true;
            epoch_of_zxid
        }
    };
    if accepted < current {
        return Err(StorageError::Epochs(format!(
            "the accepted epoch {accepted} is less than the current epoch {current}"
        )));
    }
    resolved.accepted = accepted;
    resolved.current = current;
    Ok(resolved)
}

/// Outcome of [`resolve`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The accepted epoch to run with.
    pub accepted: u64,
    /// The current epoch to run with.
    pub current: u64,
    /// `acceptedEpoch` was missing and must be written.
    pub write_accepted: bool,
    /// `currentEpoch` was missing (or recovered from its tmp file) and must be written.
    pub write_current: bool,
}

/// Applies [`resolve`] to the files in `snap_dir`, writing missing ones. Returns
/// `(accepted, current)`.
pub fn load_or_init(snap_dir: &Path, last_zxid: u64) -> Result<(u64, u64), StorageError> {
    let accepted = read_epoch(snap_dir, ACCEPTED_EPOCH_FILE)?;
    let current = read_epoch(snap_dir, CURRENT_EPOCH_FILE)?;
    let tmp_name = format!("{CURRENT_EPOCH_FILE}{TMP_EXTENSION}");
    // Only consulted when needed, as in ZooKeeper; a torn tmp file then fails loudly.
    let epoch_of_zxid = zxid_epoch(last_zxid);
    let needs_tmp = current.is_some_and(|current| epoch_of_zxid > current)
        && !accepted.is_some_and(|accepted| accepted >= epoch_of_zxid);
    let current_tmp = if needs_tmp {
        read_epoch(snap_dir, &tmp_name)?
    } else {
        None
    };
    let resolved = resolve(accepted, current, current_tmp, last_zxid)?;
    if resolved.write_current {
        tracing::info!(epoch = resolved.current, "writing {CURRENT_EPOCH_FILE}");
        write_epoch(snap_dir, CURRENT_EPOCH_FILE, resolved.current)?;
    }
    if resolved.write_accepted {
        tracing::info!(epoch = resolved.accepted, "writing {ACCEPTED_EPOCH_FILE}");
        write_epoch(snap_dir, ACCEPTED_EPOCH_FILE, resolved.accepted)?;
    }
    Ok((resolved.accepted, resolved.current))
}

#[cfg(test)]
mod tests {
    use super::*;

    const E2: u64 = 2 << 32;

    #[test]
    fn missing_files_take_the_epoch_of_the_last_zxid() {
        let r = resolve(None, None, None, E2 | 7).expect("ok");
        assert_eq!((r.accepted, r.current), (2, 2));
        assert!(r.write_accepted && r.write_current);
    }

    #[test]
    fn current_older_than_last_zxid_fails_unless_accepted_or_tmp_covers_it() {
        // Txns of an epoch this server never accepted: refused.
        assert!(matches!(
            resolve(Some(1), Some(1), None, E2 | 1),
            Err(StorageError::Epochs(_))
        ));
        // ZooKeeper's tmp-file rule (the accepted epoch missing, so it cannot vouch).
        let r = resolve(None, Some(1), Some(2), E2 | 1).expect("tmp rescues");
        assert_eq!((r.accepted, r.current), (2, 2));
        assert!(r.write_current && r.write_accepted);
    }

    /// A learner that accepted epoch 3, made the txns synced from its leader durable (the last of
    /// epoch 2) and crashed before writing currentEpoch 3 starts with its recorded current
    /// epoch (found by the simulation: the server refused its own disk for ever).
    #[test]
    fn synced_txns_durable_before_current_epoch_start_with_the_recorded_current_epoch() {
        let r = resolve(Some(3), Some(1), None, E2 | 0x18).expect("ok");
        assert_eq!((r.accepted, r.current), (3, 1));
        assert!(!r.write_accepted && !r.write_current);
        // The synced txns may reach the accepted epoch itself (a DIFF past NEWLEADER's zxid).
        let r = resolve(Some(2), Some(1), Some(2), E2 | 1).expect("ok");
        assert_eq!(
            (r.accepted, r.current),
            (2, 1),
            "the tmp file claims more than acked"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        write_epoch(dir.path(), ACCEPTED_EPOCH_FILE, 3).expect("write");
        write_epoch(dir.path(), CURRENT_EPOCH_FILE, 1).expect("write");
        assert_eq!(load_or_init(dir.path(), E2 | 0x18).expect("ok"), (3, 1));
        assert_eq!(
            read_epoch(dir.path(), CURRENT_EPOCH_FILE).expect("read"),
            Some(1)
        );
    }

    #[test]
    fn accepted_below_current_fails() {
        assert!(matches!(
            resolve(Some(1), Some(2), None, 5),
            Err(StorageError::Epochs(_))
        ));
        let r = resolve(Some(3), Some(2), None, E2 | 5).expect("ok");
        assert_eq!((r.accepted, r.current), (3, 2));
        assert!(!r.write_accepted && !r.write_current);
    }

    #[test]
    fn file_format_is_bare_decimal() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_epoch(dir.path(), CURRENT_EPOCH_FILE, 1).expect("write");
        assert_eq!(
            fs::read(dir.path().join(CURRENT_EPOCH_FILE)).expect("read"),
            b"1"
        );
        assert!(!dir.path().join("currentEpoch.tmp").exists());
        assert_eq!(
            read_epoch(dir.path(), CURRENT_EPOCH_FILE).expect("read"),
            Some(1)
        );
        assert_eq!(
            read_epoch(dir.path(), ACCEPTED_EPOCH_FILE).expect("read"),
            None
        );
        fs::write(dir.path().join(ACCEPTED_EPOCH_FILE), b"x1").expect("write");
        assert!(matches!(
            read_epoch(dir.path(), ACCEPTED_EPOCH_FILE),
            Err(StorageError::Corrupt { .. })
        ));
    }
}
