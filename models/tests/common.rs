//! Runs the real `zabkeeper-check` binary and parses its last line (the JSON summary).
#![allow(dead_code)]

use std::process::Command;

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub summary: serde_json::Value,
}

pub fn check(args: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_zabkeeper-check"))
        .args(args)
        .output()
        .expect("run zabkeeper-check");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let last = stdout.lines().last().unwrap_or("").to_string();
    let summary = serde_json::from_str(&last).unwrap_or(serde_json::Value::Null);
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout,
        summary,
    }
}
