//! Start-up refusals of the real `zabkeeper` binary (`spec/server.md` "Start-up"): a second server
//! on a live dataDir, a client port already taken, a zoo.cfg naming a mode zabkeeper does not run,
//! and the one-line error each prints, with its cause exactly once.
//!
//! Every process is started with a bounded wait for its exit and killed by its PID if it runs
//! past it; ports come from the OS; everything listens on 127.0.0.1.

mod server_support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use server_support::{four_letter, free_port, temp_dir, ServerProcess, WAIT};
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

/// Every file under `dir` with its bytes (a directory maps to an empty marker).
fn tree_of(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                out.insert(path.clone(), None);
                stack.push(path);
            } else {
                out.insert(path.clone(), Some(std::fs::read(&path).expect("read file")));
            }
        }
    }
    out
}

/// The last line of `stderr` that the binary's `main` printed (`zabkeeper: …`).
fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("zabkeeper: "))
        .unwrap_or_else(|| panic!("no `zabkeeper:` error line in stderr:\n{stderr}"))
}

/// Waits (bounded) until `data/version-2/currentEpoch` holds `epoch`.
fn wait_for_current_epoch(data: &Path, epoch: &str) {
    let file = data.join("version-2").join("currentEpoch");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if std::fs::read_to_string(&file).is_ok_and(|s| s.trim() == epoch) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never said {epoch}",
            file.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5)); // poll interval, not a wait for time
    }
}

fn write_cfg(dir: &Path, data_dir: &Path, port: u16, extra: &str) -> PathBuf {
    let cfg = dir.join("zoo.cfg");
    let text = format!(
        "tickTime=100\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n{extra}",
        data_dir.display()
    );
    std::fs::write(&cfg, text).expect("write zoo.cfg");
    cfg
}

#[test]
fn a_second_server_on_a_live_data_dir_exits_1_and_writes_nothing() {
    let root = temp_dir("startup-second");
    let first = ServerProcess::start(&root, 100, &[]);
    let data = root.join("data");
    // The first server elects itself into epoch 1 after it answers 4lw: its dataDir is settled
    // once currentEpoch (written last, after acceptedEpoch) says so.
    wait_for_current_epoch(&data, "1");
    let before = tree_of(&data);
    let scratch = temp_dir("startup-second-scratch");
    let port = free_port().to_string();
    let data_arg = data.to_str().expect("utf-8 path");
    let (status, stderr) = run_to_exit(
        &["serve", "--data-dir", data_arg, "--port", &port],
        &scratch,
    );
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    let pid = first.pid().expect("first server runs");
    let expected = format!("dataDir {data_arg} is in use by another zabkeeper (pid {pid})");
    assert_eq!(error_line(&stderr), format!("zabkeeper: {expected}"));
    assert_eq!(
        tree_of(&data),
        before,
        "the second server changed the first's dataDir"
    );
    assert_eq!(four_letter(first.port, "ruok").expect("ruok"), "imok");
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn a_second_server_sharing_only_the_data_log_dir_exits_1() {
    let root = temp_dir("startup-logdir");
    let log_dir = root.join("shared-log");
    let log_line = format!("dataLogDir={}", log_dir.display());
    let first = ServerProcess::start(&root, 100, &[&log_line]);
    wait_for_current_epoch(&root.join("data"), "1");
    let before = tree_of(&log_dir);
    let scratch = temp_dir("startup-logdir-scratch");
    let cfg = write_cfg(&scratch, &scratch.join("own-data"), free_port(), &log_line);
    let (status, stderr) = run_to_exit(
        &["serve", "--config", cfg.to_str().expect("utf-8")],
        &scratch,
    );
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    let pid = first.pid().expect("first server runs");
    assert_eq!(
        error_line(&stderr),
        format!(
            "zabkeeper: dataLogDir {} is in use by another zabkeeper (pid {pid})",
            log_dir.display()
        )
    );
    assert_eq!(tree_of(&log_dir), before);
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn a_taken_port_exits_1_with_the_cause_once_and_leaves_the_data_dir_empty() {
    let scratch = temp_dir("startup-port");
    let data = scratch.join("data");
    std::fs::create_dir(&data).expect("create dataDir");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let cfg = write_cfg(&scratch, &data, port, "");
    let (status, stderr) = run_to_exit(
        &["serve", "--config", cfg.to_str().expect("utf-8")],
        &scratch,
    );
    drop(taken);
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    assert_eq!(
        error_line(&stderr),
        format!(
            "zabkeeper: cannot listen on 127.0.0.1:{port}: Address already in use (os error 98)"
        )
    );
    assert_eq!(
        stderr.matches("Address already in use").count(),
        1,
        "{stderr}"
    );
    assert!(
        tree_of(&data).is_empty(),
        "files written before the port was bound: {:?}",
        tree_of(&data).keys().collect::<Vec<_>>()
    );
    let _ = std::fs::remove_dir_all(&scratch);
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

#[test]
fn an_ensemble_member_without_myid_is_refused_before_anything_is_written() {
    let scratch = temp_dir("startup-no-myid");
    let data = scratch.join("data");
    let cfg = write_cfg(
        &scratch,
        &data,
        free_port(),
        "initLimit=10\nsyncLimit=5\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n",
    );
    let (status, stderr) = run_to_exit(
        &["serve", "--config", cfg.to_str().expect("utf-8")],
        &scratch,
    );
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    let line = error_line(&stderr);
    let myid = data.join("myid");
    assert!(
        line.contains(&format!("myid file {}: cannot read it", myid.display())),
        "{line}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line only:\n{stderr}");
    assert!(
        !data.exists(),
        "dataDir created for a refused configuration"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
