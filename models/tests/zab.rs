//! CI profile for the ZAB models: `zab` (every interleaving, one epoch) and `sync` (atomic
//! elections, three epochs), each with one client txn and one crash: complete, no violation,
//! every progress property reached, state counts pinned.

mod common;

fn assert_complete(args: &[&str], pinned: u64) {
    let out = common::check(args);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let s = &out.summary;
    assert_eq!(s["complete"], true, "{s}");
    assert_eq!(
        s["missing_examples"].as_array().map(Vec::len),
        Some(0),
        "progress must be reachable: {s}"
    );
    assert_eq!(
        s["unique_states"], pinned,
        "pinned state count changed: {s}"
    );
}

#[test]
fn zab_one_txn_one_crash_is_complete_and_safe() {
    assert_complete(
        &[
            "run",
            "zab",
            "--servers",
            "3",
            "--txns",
            "1",
            "--crashes",
            "1",
        ],
        ZAB_STATES,
    );
}

#[test]
fn sync_one_txn_one_crash_is_complete_and_safe() {
    assert_complete(
        &[
            "run",
            "sync",
            "--servers",
            "3",
            "--txns",
            "1",
            "--crashes",
            "1",
        ],
        SYNC_STATES,
    );
}

const ZAB_STATES: u64 = 720_913;
const SYNC_STATES: u64 = 176_858;
