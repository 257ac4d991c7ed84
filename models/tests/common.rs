//! Runs the real `zabkeeper-check` binary and parses its last line (the JSON summary).
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub summary: serde_json::Value,
}

/// Runs `zabkeeper-check ARGS` to completion.
pub fn check(args: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_zabkeeper-check"))
        .args(args)
        .output()
        .expect("run zabkeeper-check");
    outcome(out)
}

/// Runs `zabkeeper-check ARGS`, killing it if it has not exited by `deadline` (then `code` is -1).
pub fn check_within(args: &[&str], deadline: Duration) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zabkeeper-check"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zabkeeper-check");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > deadline {
            child.kill().expect("kill the child we started");
            break;
        }
        std::thread::yield_now();
    }
    outcome(child.wait_with_output().expect("output"))
}

fn outcome(out: std::process::Output) -> Outcome {
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    let last = stdout.lines().last().unwrap_or("").to_string();
    let summary = serde_json::from_str(&last).unwrap_or(serde_json::Value::Null);
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        summary,
    }
}

/// The JSON lines of stdout.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
