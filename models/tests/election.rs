//! CI profile for the FLE model: every property holds over the complete space, both progress
//! properties are reached, and the state count is pinned (a change in it means the protocol or
//! the model changed: re-measure and update verification.md).

mod common;

#[test]
fn election_three_servers_is_complete_and_safe() {
    let out = common::check(&["run", "election", "--servers", "3"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let s = &out.summary;
    assert_eq!(s["complete"], true);
    assert_eq!(s["violations"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        s["missing_examples"].as_array().map(Vec::len),
        Some(0),
        "progress must be reachable: {s}"
    );
    assert_eq!(
        s["unique_states"], 458_880,
        "pinned state count changed: {s}"
    );
}

#[test]
fn election_with_a_crash_and_restart_is_complete_and_safe() {
    let out = common::check(&[
        "run",
        "election",
        "--servers",
        "3",
        "--crashes",
        "1",
        "--histories",
        "2",
        "--max-round",
        "1",
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.summary["complete"], true);
    assert_eq!(
        out.summary["missing_examples"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(
        out.summary["unique_states"], 200_640,
        "pinned state count changed"
    );
}

#[test]
fn election_with_a_lost_link_is_complete_and_safe() {
    let out = common::check(&[
        "run",
        "election",
        "--servers",
        "3",
        "--link-faults",
        "1",
        "--histories",
        "2",
        "--max-round",
        "1",
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.summary["complete"], true);
    assert_eq!(
        out.summary["missing_examples"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(
        out.summary["unique_states"], 510_248,
        "pinned state count changed"
    );
}
