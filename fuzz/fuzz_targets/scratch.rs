//! Shared by the file-backed fuzz targets: one scratch data directory per fuzzing process, on
//! tmpfs when there is one (`/dev/shm`: no disk I/O, fsync costs nothing).
//!
//! Each input must see only the files it describes, so [`clear`] removes every file of the
//! previous one. The epoch files are the exception: they are written once with the largest epoch
//! so that recovery accepts any zxid without rewriting them (their rules are unit-tested in
//! `storage/epochs.rs`), which keeps a run deterministic and cheap.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use zabkeeper::storage::epochs::{ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE};
use zabkeeper::storage::lock::LOCK_FILE;

/// `<tmpfs or temp dir>/zabkeeper-fuzz-<target>-<pid>/data`, made once per process.
pub fn data_dir(target: &str) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let data = base
            .join(format!("zabkeeper-fuzz-{target}-{}", std::process::id()))
            .join("data");
        let _ = std::fs::remove_dir_all(&data);
        let version = data.join("version-2");
        std::fs::create_dir_all(&version).expect("create the scratch dir");
        let max_epoch = u64::from(u32::MAX).to_string();
        for name in [ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE] {
            std::fs::write(version.join(name), &max_epoch).expect("write an epoch file");
        }
        data
    })
}

/// Removes every file in `data/version-2` but the epoch files, and the lock file stays too.
#[allow(dead_code)] // the snapshot target overwrites its one file instead
pub fn clear(data: &Path) {
    let version = data.join("version-2");
    for entry in std::fs::read_dir(&version).expect("list the scratch dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name != ACCEPTED_EPOCH_FILE && name != CURRENT_EPOCH_FILE && name != LOCK_FILE {
            std::fs::remove_file(&path).expect("remove a scratch file");
        }
    }
}
