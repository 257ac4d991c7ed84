//! The command line: listings, usage errors (exit 2), and `explore` refusing what it cannot serve
//! with a message instead of dying silently.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use zabkeeper::protocol::Bug;

#[test]
fn list_json_names_every_seeded_bug_and_the_ci_profile() {
    let out = common::check(&["list", "--json"]);
    assert_eq!(out.code, 0);
    let bugs = out.summary["bugs"].as_array().expect("bugs");
    assert_eq!(bugs.len(), Bug::ALL.len());
    for (b, bug) in bugs.iter().zip(Bug::ALL) {
        assert_eq!(b["name"], bug.name());
        assert!(b["history"].as_str().is_some_and(|h| !h.is_empty()), "{b}");
    }
    let ci = out.summary["ci"].as_array().expect("ci profile");
    assert!(ci.len() >= 2);
    for r in ci {
        if r["kind"] == "schedule" {
            assert!(
                r["bounds"].as_str().is_some_and(|b| b.starts_with("zab ")),
                "{r}"
            );
            assert!(r["steps"].as_u64().is_some_and(|n| n > 0), "{r}");
            continue;
        }
        assert_eq!(r["kind"], "search", "{r}");
        assert!(r["command"]
            .as_str()
            .is_some_and(|c| c.starts_with("zabkeeper-check run ")));
        assert!(r["goals"].as_array().is_some_and(|g| !g.is_empty()), "{r}");
    }
    assert!(
        ci.iter()
            .any(|r| r["name"] == "schedule-ackepoch" && r["steps"] == 120),
        "the ackepoch schedule run is listed"
    );
    let models = out.summary["models"].as_array().expect("models");
    assert!(models.iter().any(|m| m["name"] == "zab"));
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    for args in [
        &["run", "nosuchmodel"][..],
        &["run", "zab", "--bug", "nosuchbug"],
        &["run", "zab", "--symmetry"],
        &["ci", "--bug", "nosuchbug"],
        &["ci", "--txns", "2"],
        &["run", "sync", "--timers", "heartbeat"],
        &[
            "run",
            "sync",
            "--timers",
            "nosuchtimer",
            "--timer-fires",
            "1",
        ],
        &["run", "election", "--observers", "1"],
        &["run", "sync", "--observers", "3"],
        &["run", "election", "--forward"],
    ] {
        let out = common::check(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.trim().is_empty(), "{args:?} printed nothing");
    }
    let out = common::check(&["run", "sync", "--timers", "heartbeat"]);
    assert!(
        out.stderr.contains("--timer-fires"),
        "a re-arming timer without a budget is refused with the flag to add: {}",
        out.stderr
    );
    let out = common::check(&["ci", "--bug", "nosuchbug"]);
    assert!(
        out.stderr.contains(Bug::ALL[0].name()),
        "names the bugs: {}",
        out.stderr
    );
}

#[test]
fn explore_refuses_a_malformed_or_remote_address() {
    for addr in ["nonsense", "127.0.0.1", "127.0.0.1:99999", "10.1.2.3:3000"] {
        let out = common::check_within(
            &["explore", "sync", "--addr", addr],
            Duration::from_secs(30),
        );
        assert_eq!(out.code, 2, "--addr {addr}: {}", out.stderr);
        assert!(out.stderr.contains(addr), "--addr {addr}: {}", out.stderr);
        assert!(!out.stderr.contains("Explorer for model"), "{}", out.stderr);
    }
}

#[test]
fn explore_on_a_port_in_use_exits_1_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = common::check_within(
        &["explore", "sync", "--addr", &addr],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains(&addr), "{}", out.stderr);
    assert!(out.stderr.contains("cannot serve"), "{}", out.stderr);
}

#[test]
fn explore_help_lists_only_what_explore_uses() {
    let out = common::check(&["explore", "--help"]);
    assert_eq!(out.code, 0);
    for unused in ["--trace", "--trace-out", "--dfs", "--depth"] {
        assert!(
            !out.stdout.contains(unused),
            "explore --help lists {unused}:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("--addr"));
}
