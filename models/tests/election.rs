//! CI profile for the FLE model: every property holds over the complete space, both progress
//! properties are reached, and the state count is pinned (a change in it means the protocol or
//! the model changed: re-measure and update verification.md).

mod common;

fn assert_complete(args: &[&str], pinned: u64) {
    let out = common::check(args);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let s = &out.summary;
    assert_eq!(s["complete"], true, "{s}");
    assert_eq!(s["violations"].as_array().map(Vec::len), Some(0), "{s}");
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
fn election_three_servers_is_complete_and_safe() {
    assert_complete(&["run", "election", "--servers", "3"], 458_880);
}

#[test]
fn election_with_a_crash_and_restart_is_complete_and_safe() {
    let bounds = ["--crashes", "1", "--histories", "2", "--max-round", "1"];
    assert_complete(
        &[&["run", "election", "--servers", "3"][..], &bounds].concat(),
        200_640,
    );
}

#[test]
fn election_with_a_lost_link_is_complete_and_safe() {
    let bounds = ["--link-faults", "1", "--histories", "2", "--max-round", "1"];
    assert_complete(
        &[&["run", "election", "--servers", "3"][..], &bounds].concat(),
        510_248,
    );
}
