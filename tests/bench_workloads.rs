//! `zabkeeper bench`'s workloads beside a real server: the watch run counts every notification
//! of every round, `pcreate` leaves persistent znodes behind (a loader), `multi` runs without
//! errors, and a `--server` list spreads the clients (here: the same server twice).

#![cfg(feature = "server")]

mod server_support;

use server_support::{four_letter, temp_dir, ServerProcess};
use zabkeeper::bench::{run, BenchArgs};

fn args(server: String, mix: &str, clients: usize, ops: u64) -> BenchArgs {
    BenchArgs {
        server,
        clients,
        depth: 4,
        duration_secs: 60,
        ops: Some(ops),
        mix: mix.into(),
        value_size: 10,
        seed: 1,
        allow_remote: false,
        server_pid: Vec::new(),
        watch_nodes: 0,
    }
}

fn field(report: &str, key: &str) -> f64 {
    let at = report
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} in {report}"));
    let rest = &report[at + key.len() + 3..];
    let end = rest.find([',', '}']).expect("value end");
    rest[..end].parse().expect("number")
}

fn znodes(port: u16) -> u64 {
    let mntr = four_letter(port, "mntr").expect("mntr");
    let line = mntr
        .lines()
        .find(|l| l.starts_with("zk_znode_count"))
        .expect("zk_znode_count");
    line.split_whitespace()
        .nth(1)
        .expect("value")
        .parse()
        .expect("count")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn watch_run_delivers_every_notification_of_every_round() {
    let s = ServerProcess::start(&temp_dir("bench-watch"), 2000, &[]);
    let mut a = args(s.addr(), "get=1", 3, 10);
    a.watch_nodes = 2;
    // 3 watchers × 2 nodes = 6 notifications a round; 10 rounds up to 2 rounds.
    let report = runtime().block_on(run(a)).expect("watch run");
    assert_eq!(field(&report, "rounds"), 2.0, "{report}");
    assert_eq!(field(&report, "ops"), 12.0, "{report}");
    assert!(field(&report, "ops_per_s") > 0.0, "{report}");
}

#[test]
fn pcreate_leaves_znodes_and_multi_and_a_server_list_run_clean() {
    let s = ServerProcess::start(&temp_dir("bench-pcreate"), 2000, &[]);
    let rt = runtime();
    let two = format!("{},{}", s.addr(), s.addr());
    // Ephemeral creates go with their sessions: this run leaves only the set-up's keys.
    let report = rt
        .block_on(run(args(two.clone(), "create=1", 2, 40)))
        .expect("create");
    assert_eq!(field(&report, "errors"), 0.0, "{report}");
    let before = znodes(s.port);
    let report = rt
        .block_on(run(args(two.clone(), "pcreate=1", 2, 40)))
        .expect("pcreate");
    assert_eq!(field(&report, "errors"), 0.0, "{report}");
    assert_eq!(znodes(s.port), before + 40);
    let report = rt
        .block_on(run(args(two, "multi=1", 2, 20)))
        .expect("multi");
    assert_eq!(
        (field(&report, "ops"), field(&report, "errors")),
        (20.0, 0.0),
        "{report}"
    );
}
