//! Start-up refusals of the real `zabkeeper` binary: the one-line error each prints, with its
//! cause exactly once.
//!
//! Every process is started with a bounded wait for its exit and killed by its PID if it runs
//! past it; ports come from the OS; everything listens on 127.0.0.1.

mod server_support;

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use server_support::{free_port, temp_dir, WAIT};
use zabkeeper::storage::{encode_txn_payload, FileStorage, Storage, StorageConfig};

/// Runs `zabkeeper <args>` to its exit (bounded by [`WAIT`]) and returns its status and stderr.
fn run_to_exit(args: &[&str], scratch: &Path) -> (ExitStatus, String) {
    let stderr_path = scratch.join("stderr.txt");
    let stderr = std::fs::File::create(&stderr_path).expect("create stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn zabkeeper");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "zabkeeper {args:?} still running after {WAIT:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&stderr_path).expect("read stderr");
    (status, text)
}

/// The last line of `stderr` that the binary's `main` printed (`zabkeeper: …`).
fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("zabkeeper: "))
        .unwrap_or_else(|| panic!("no `zabkeeper:` error line in stderr:\n{stderr}"))
}

#[test]
fn an_unusable_data_dir_prints_its_io_error_once() {
    let scratch = temp_dir("startup-proc");
    let port = free_port().to_string();
    let (status, stderr) = run_to_exit(
        &[
            "serve",
            "--data-dir",
            "/proc/zabkeeper-no-such-dir",
            "--port",
            &port,
        ],
        &scratch,
    );
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    let line = error_line(&stderr);
    assert!(line.contains("/proc/zabkeeper-no-such-dir"), "{line}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn a_corrupt_log_prints_its_reason_once() {
    let scratch = temp_dir("startup-corrupt");
    let data = scratch.join("data");
    let config = StorageConfig::new(&data);
    {
        let (mut storage, _) = FileStorage::open(config.clone()).expect("open fresh storage");
        storage
            .save_snapshot(0, &zabkeeper::tree::DataTree::new().serialize_snapshot())
            .expect("snapshot");
        for zxid in 1..=3u64 {
            let payload = encode_txn_payload(zxid, -11, b"");
            storage.append(zxid, &payload).expect("append");
        }
        storage.sync().expect("sync");
    }
    // Flip one payload byte of the middle record: a valid record follows it, so this is
    // corruption, not a torn tail.
    let segment = config.log_dir().join("log.1");
    let mut bytes = std::fs::read(&segment).expect("read log");
    let record_len = 12 + 32 + 1;
    bytes[16 + record_len + 12 + 4] ^= 0x55;
    std::fs::write(&segment, &bytes).expect("write log");

    let port = free_port().to_string();
    let (status, stderr) = run_to_exit(
        &[
            "serve",
            "--data-dir",
            data.to_str().expect("utf-8"),
            "--port",
            &port,
        ],
        &scratch,
    );
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    let line = error_line(&stderr);
    assert!(line.contains("checksum mismatch"), "{line}");
    assert_eq!(stderr.matches("checksum mismatch").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("log.1").count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&scratch);
}
