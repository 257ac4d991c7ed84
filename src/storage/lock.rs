//! The data-directory lock: one server per `dataDir` and per `dataLogDir` (`spec/storage.md` §1).
//!
//! Role: [`super::FileStorage::open`] and [`super::recover`] take it before they read or write
//! anything else, and `FileStorage` holds it for as long as it lives, so a second server started
//! on a live directory stops before it writes a single byte there (ZooKeeper has no such guard;
//! etcd's `fileutil.TryLockFile` is the model). The lock is an exclusive `flock` on
//! `<dir>/zabkeeper.lock` ([`fs4`]), released by the kernel when the process exits, however it
//! exits. The file holds the holder's pid, for the error message only; it is never deleted, since
//! deleting a lock file races with the next opener.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use fs4::FileExt;

use super::{ensure_dir, io_err, StorageConfig, StorageError};

/// Name of the lock file in `dataDir` (and in `dataLogDir` when that is another directory).
pub const LOCK_FILE: &str = "zabkeeper.lock";

/// Exclusive locks on the directories of one [`StorageConfig`]; released on drop.
#[derive(Debug)]
pub struct DirLock {
    /// The locked files (one or two), kept open: closing a file releases its lock.
    files: Vec<(PathBuf, File)>,
}

impl DirLock {
    /// Locks `config.data_dir`, then `config.data_log_dir` if it is another directory, creating
    /// each directory if missing. Fails with [`StorageError::Locked`] when another process holds
    /// either; nothing else in the directories is touched.
    pub fn acquire(config: &StorageConfig) -> Result<DirLock, StorageError> {
        let mut lock = DirLock { files: Vec::new() };
        lock.add("dataDir", &config.data_dir)?;
        if config.data_log_dir == config.data_dir {
            return Ok(lock);
        }
        ensure_dir(&config.data_log_dir)?;
        if !same_dir(&config.data_dir, &config.data_log_dir)? {
            lock.add("dataLogDir", &config.data_log_dir)?;
        }
        Ok(lock)
    }

    /// The lock files held, in the order they were taken.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(path, _)| path.as_path())
    }

    fn add(&mut self, key: &'static str, dir: &Path) -> Result<(), StorageError> {
        ensure_dir(dir)?;
        let path = dir.join(LOCK_FILE);
        // No truncation before the lock is ours: the holder's pid must stay readable.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err("open lock file", &path))?;
        // Called by path: std's inherent `File::try_lock` (Rust 1.89) would shadow the trait's.
        match FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(StorageError::Locked {
                    key,
                    dir: dir.to_path_buf(),
                    pid: holder_pid(&mut file),
                });
            }
            Err(fs4::TryLockError::Error(source)) => {
                return Err(io_err("lock", &path)(source));
            }
        }
        write_pid(&mut file).map_err(io_err("write lock file", &path))?;
        self.files.push((path, file));
        Ok(())
    }
}

/// Whether two existing directories are the same one (symlinks and `..` resolved).
fn same_dir(a: &Path, b: &Path) -> Result<bool, StorageError> {
    let a = a.canonicalize().map_err(io_err("resolve", a))?;
    let b = b.canonicalize().map_err(io_err("resolve", b))?;
    Ok(a == b)
}

/// The pid the holder wrote, if the file holds one (it may not have written it yet).
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn write_pid(file: &mut File) -> io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_fails_and_names_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StorageConfig::new(dir.path().join("data"));
        let held = DirLock::acquire(&config).expect("first lock");
        let text = std::fs::read_to_string(config.data_dir.join(LOCK_FILE)).expect("read");
        assert_eq!(text, format!("{}\n", std::process::id()));
        // flock locks belong to the open file, so a second open in this process conflicts too.
        match DirLock::acquire(&config) {
            Err(StorageError::Locked { key, dir, pid }) => {
                assert_eq!(key, "dataDir");
                assert_eq!(dir, config.data_dir);
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(held);
        DirLock::acquire(&config).expect("free again after the holder dropped it");
    }

    #[test]
    fn a_separate_log_dir_is_locked_too_and_one_dir_only_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = StorageConfig::new(dir.path().join("data"));
        assert_eq!(DirLock::acquire(&config).expect("lock").paths().count(), 1);
        config.data_log_dir = dir.path().join("data").join(".");
        assert_eq!(
            DirLock::acquire(&config).expect("same dir").paths().count(),
            1
        );
        config.data_log_dir = dir.path().join("log");
        let held = DirLock::acquire(&config).expect("lock both");
        assert_eq!(held.paths().count(), 2);
        let other = StorageConfig::new(dir.path().join("log"));
        match DirLock::acquire(&other) {
            Err(StorageError::Locked { key, .. }) => assert_eq!(key, "dataDir"),
            other => panic!("expected Locked, got {other:?}"),
        }
        let mut shares_log = StorageConfig::new(dir.path().join("data2"));
        shares_log.data_log_dir = dir.path().join("log");
        match DirLock::acquire(&shares_log) {
            Err(StorageError::Locked { key, .. }) => assert_eq!(key, "dataLogDir"),
            other => panic!("expected Locked, got {other:?}"),
        }
    }
}
