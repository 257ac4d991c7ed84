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
