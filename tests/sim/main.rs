//! Deterministic simulation of the real server (issue 10): N real servers — the same
//! `src/server` runtime the binary runs, through `server::run_with` — on turmoil's simulated
//! network and clock, with in-memory disks that lose unsynced writes on a crash, simulated
//! clients over the real client protocol, faults chosen by the seed, and checks on every run
//! (verification.md §10).
//!
//! ```text
//! SIM_SEEDS=N SIM_START=S [SIM_NODES=3|5] [SIM_BUG=NAME, one of BUGS] \
//!     cargo test --release --test sim -- --nocapture      # seeds S..S+N, one JSON line
//! SIM_SEED=S cargo test --release --test sim -- --nocapture   # replay one seed, event log
//! SIM_TRACE=zabkeeper=debug                                    # server logs while replaying
//! SIM_SOAK_SECS=T                                              # seeds for T seconds
//! SIM_NO_TRACE=1                                               # skip the trace validation
//! SIM_BRIDGE=0                                                 # no bridge partitions
//! SIM_PAUSE=0                                                  # no pause faults
//! cargo test --release --test sim -- replay                   # model traces replayed (cluster/replay.rs)
//! ```

mod client;
mod cluster;
mod disk;
mod lin;
mod sessions;
mod trace;
mod watches;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Instant;

use cluster::{Outcome, Params};

/// The mutants `SIM_BUG` names: the runtime's, and the core's the models cannot reach
/// (`Bug::NOT_IN_MODELS`).
const BUGS: &[&str] = &[
    "ack-before-fsync",
    "ignore-fsync-failure",
    "watch-after-reply",
    "revalidate-without-quorum",
];

/// Seeds the mutant test may spend before it must have caught the mutant (the CI budget).
const MUTANT_BUDGET: u64 = 1_000;

thread_local! {
    /// Panics on this thread (turmoil runs every simulated host on the test's thread).
    static PANICS: Cell<u64> = const { Cell::new(0) };
}

fn count_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.set(p.get() + 1));
            default(info);
        }));
    });
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
    })
}

fn nodes() -> usize {
    let n = env_u64("SIM_NODES").unwrap_or(3) as usize;
    assert!(n == 3 || n == 5, "SIM_NODES must be 3 or 5");
    n
}

fn bug() -> Option<String> {
    let bug = std::env::var("SIM_BUG").ok()?;
    assert!(
        BUGS.contains(&bug.as_str()),
        "SIM_BUG={bug:?}: known are {BUGS:?}"
    );
    Some(bug)
}

/// Runs one seed; a panic anywhere in it is a violation.
fn run_seed(params: &Params) -> Outcome {
    count_panics();
    let before = PANICS.with(Cell::get);
    let mut outcome = cluster::run(params);
    let panics = PANICS.with(Cell::get) - before;
    if panics > 0 {
        outcome.violations.push(format!("{panics} panic(s)"));
    }
    outcome
}

fn replay_command(seed: u64, params: &Params) -> String {
    let bug = params
        .bug
        .as_deref()
        .map_or(String::new(), |b| format!(" SIM_BUG={b}"));
    let bridge = if params.bridge { "" } else { " SIM_BRIDGE=0" };
    let pause = if params.pause { "" } else { " SIM_PAUSE=0" };
    format!(
        "SIM_SEED={seed} SIM_NODES={}{bug}{bridge}{pause} cargo test --release --test sim -- --nocapture",
        params.nodes
    )
}

/// Totals over a range of seeds.
#[derive(Default)]
struct Summary {
    seeds: u64,
    failed: Vec<u64>,
    ops: usize,
    trace_steps: u64,
    faults: BTreeMap<&'static str, usize>,
    session_ops: usize,
    notifications: usize,
    sessions: usize,
    /// Latest session close past its due time, over the seeds (ms; `sessions.rs`).
    expiry_lateness_ms: i64,
    /// Seeds with session notes (`sessions.rs` (e): reported, not failed).
    session_noted: Vec<u64>,
}

impl Summary {
    fn add(&mut self, seed: u64, params: &Params, outcome: &Outcome) {
        self.seeds += 1;
        self.ops += outcome.ops;
        self.trace_steps += outcome.trace_steps;
        self.session_ops += outcome.session_ops;
        self.notifications += outcome.notifications;
        self.sessions += outcome.sessions;
        self.expiry_lateness_ms = self.expiry_lateness_ms.max(outcome.expiry_lateness_ms);
        if !outcome.session_notes.is_empty() {
            self.session_noted.push(seed);
            println!(
                "seed {seed} session notes: {}",
                outcome.session_notes.join("; ")
            );
        }
        for (k, n) in &outcome.faults {
            *self.faults.entry(k).or_default() += n;
        }
        if !outcome.violations.is_empty() {
            self.failed.push(seed);
            println!(
                "seed {seed} failed: {}\n  replay: {}",
                outcome.violations.join("; "),
                replay_command(seed, params)
            );
        }
    }

    fn json(&self, start: u64, nodes: usize, bug: &Option<String>, seconds: f64) -> String {
        let failed: Vec<String> = self.failed.iter().map(u64::to_string).collect();
        let session_noted: Vec<String> = self.session_noted.iter().map(u64::to_string).collect();
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(k, n)| format!("\"{k}\":{n}"))
            .collect();
        let bug = bug.as_deref().map_or("null".into(), |b| format!("\"{b}\""));
        format!(
            "{{\"seeds\":{},\"start\":{start},\"nodes\":{nodes},\"bug\":{bug},\"failed\":[{}],\"ops\":{},\"session_ops\":{},\"notifications\":{},\"sessions\":{},\"expiry_lateness_max_ms\":{},\"trace_steps\":{},\"session_noted\":[{}],\"faults\":{{{}}},\"seconds\":{seconds:.1}}}",
            self.seeds,
            failed.join(","),
            self.ops,
            self.session_ops,
            self.notifications,
            self.sessions,
            self.expiry_lateness_ms,
            self.trace_steps,
            session_noted.join(","),
            faults.join(",")
        )
    }
}

fn init_tracing() {
    if let Ok(filter) = std::env::var("SIM_TRACE") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .without_time()
            .try_init();
    }
}

/// The interface: `SIM_SEED` replays one seed with its event log; `SIM_SOAK_SECS` runs seeds
/// for that long; otherwise `SIM_SEEDS` seeds from `SIM_START` (default 10 from 0), one JSON
/// line. Fails if a seed failed — or, with `SIM_BUG`, if none did.
#[test]
fn seeds() {
    init_tracing();
    let nodes = nodes();
    let bug = bug();
    let bridge = std::env::var_os("SIM_BRIDGE").is_none_or(|v| v != "0");
    let pause = std::env::var_os("SIM_PAUSE").is_none_or(|v| v != "0");
    let params = |seed| Params {
        seed,
        nodes,
        bug: bug.clone(),
        bridge,
        pause,
    };
    if let Some(seed) = env_u64("SIM_SEED") {
        let outcome = run_seed(&params(seed));
        for line in &outcome.events {
            println!("{line}");
        }
        println!(
            "faults: {:?}; ops: {}; session ops: {}; notifications: {}; sessions: {}",
            outcome.faults,
            outcome.ops,
            outcome.session_ops,
            outcome.notifications,
            outcome.sessions
        );
        for v in &outcome.violations {
            println!("VIOLATION: {v}");
        }
        for n in &outcome.session_notes {
            println!("NOTE: {n}");
        }
        assert_eq!(
            outcome.violations.is_empty(),
            bug.is_none(),
            "seed {seed}: {:?}",
            outcome.violations
        );
        return;
    }
    let start = env_u64("SIM_START").unwrap_or(0);
    let started = Instant::now();
    let mut summary = Summary::default();
    if let Some(secs) = env_u64("SIM_SOAK_SECS") {
        let mut seed = start;
        while started.elapsed().as_secs() < secs {
            let p = params(seed);
            summary.add(seed, &p, &run_seed(&p));
            seed += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "soak: {} seeds in {seconds:.1} s ({:.1} seeds/s), failing seeds: {:?}",
            summary.seeds,
            summary.seeds as f64 / seconds,
            summary.failed
        );
    } else {
        let n = env_u64("SIM_SEEDS").unwrap_or(10);
        for seed in start..start + n {
            let p = params(seed);
            summary.add(seed, &p, &run_seed(&p));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", summary.json(start, nodes, &bug, seconds));
    match bug {
        None => assert!(
            summary.failed.is_empty(),
            "failing seeds: {:?}",
            summary.failed
        ),
        Some(b) => assert!(!summary.failed.is_empty(), "the mutant {b} was not caught"),
    }
}

/// A run is a function of its seed alone: each seed run again in the same process, after an
/// earlier run and 0–3 extra tokio tasks — so that it meets tokio's process-wide task-id counter
/// at every residue of a current-thread runtime's 4 task shards (the cause of the divergence
/// net.rs fixes) — gives the same event log as its first run. Bridges on, as in every run;
/// pauses (on by default) in seed 1 only (two of its leaders paused, vendor/turmoil's patch),
/// so that seeds 3 and 11 keep the schedules the test was written against.
#[test]
fn one_seed_twice_gives_the_same_event_log() {
    for (seed, pause) in [(3, false), (11, false), (1, true)] {
        let p = Params {
            seed,
            nodes: 3,
            bug: None,
            bridge: true,
            pause,
        };
        let a = run_seed(&p);
        assert!(
            a.events.len() > 50,
            "seed {seed}: too few events to compare"
        );
        for extra in 0..4 {
            spawn_tokio_tasks(extra);
            let b = run_seed(&p);
            if let Some(i) =
                (0..a.events.len().min(b.events.len())).find(|&i| a.events[i] != b.events[i])
            {
                panic!(
                    "seed {seed} (again, after {extra} extra tokio tasks) diverged at event {i}:\n  {}\n  {}",
                    a.events[i], b.events[i]
                );
            }
            assert_eq!(a.events, b.events, "seed {seed} diverged");
            assert_eq!(a.violations, b.violations);
        }
    }
}

/// Seeds a 25-minute soak found failing check (e), a resume accepted after the client was told
/// its session expired (verification.md §10): a leader deposed without knowing it answered
/// resumes from its own session table (213198: paused, it resumed an expired session; 216659:
/// cut off, it told a live session created by the new leader that it expired). They pass since
/// the leader answers a resume only after a quorum round (ZAB-REVALIDATE-QUORUM, spec/zab.md
/// §5.7).
#[test]
fn the_soaks_deposed_leader_resumes_pass() {
    for seed in [213_198, 215_421, 216_215, 216_659] {
        let p = Params {
            seed,
            nodes: 3,
            bug: None,
            bridge: true,
            pause: true,
        };
        let outcome = run_seed(&p);
        assert!(
            outcome.violations.is_empty(),
            "seed {seed}: {:?}\n  replay: {}",
            outcome.violations,
            replay_command(seed, &p)
        );
    }
}

/// Check (e) bites on those seeds: with the core mutant that answers a resume from the
/// leader's table at once (`revalidate-without-quorum`, ZooKeeper's behaviour), 213198 and
/// 216659 fail it again. The mutant is rare in random seeds (4 in 21,925), so the test replays
/// the seeds the soak found rather than a budget of fresh ones.
#[test]
fn the_revalidate_without_quorum_mutant_fails_the_soak_cases() {
    for seed in [213_198, 216_659] {
        let p = Params {
            seed,
            nodes: 3,
            bug: Some("revalidate-without-quorum".into()),
            bridge: true,
            pause: true,
        };
        let outcome = run_seed(&p);
        assert!(
            outcome.violations.iter().any(|v| v.starts_with("e: ")),
            "seed {seed} with the mutant: {:?}",
            outcome.violations
        );
    }
}

/// Spawns `n` tokio tasks on a throwaway runtime: advances tokio's process-wide task-id counter.
fn spawn_tokio_tasks(n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for _ in 0..n {
            tokio::spawn(async {}).await.expect("empty task");
        }
    });
}

/// The simulation can fail: with a runtime mutant that reports appends durable before their
/// fsync, some seed within the CI budget loses a committed txn. Ignored in a plain
/// `cargo test` (a few hundred seeds); `.ci/run`'s simulation step runs it in release with
/// `--include-ignored`.
#[test]
#[ignore = "release only: run by .ci/run with --include-ignored"]
fn the_ack_before_fsync_mutant_is_caught() {
    assert_caught_within_budget("ack-before-fsync");
}

/// The `fsync_fail` fault bites: with a runtime mutant whose task writer treats a failed fsync as
/// done and goes on writing, some seed within the CI budget is caught writing to a disk after a
/// failed fsync (or by another safety check). Ignored in a plain `cargo test`; `.ci/run`'s
/// simulation step runs it in release with `--include-ignored`.
#[test]
#[ignore = "release only: run by .ci/run with --include-ignored"]
fn the_ignore_fsync_failure_mutant_is_caught() {
    assert_caught_within_budget("ignore-fsync-failure");
}

/// The watch check bites: with a runtime mutant whose apply queues a txn's reply before its watch
/// events, some seed within the CI budget shows a client a change before its notification
/// (`watches.rs`). Ignored in a plain `cargo test`; `.ci/run`'s simulation step runs it in
/// release with `--include-ignored`.
#[test]
#[ignore = "release only: run by .ci/run with --include-ignored"]
fn the_watch_after_reply_mutant_is_caught() {
    assert_caught_within_budget("watch-after-reply");
}

/// Runs seeds 0..MUTANT_BUDGET of 3 nodes with the runtime mutant `bug` until one fails a safety
/// check — a lost or diverging txn, a history that is not linearizable, a write after a failed
/// fsync — not only liveness or a server stopping; panics if none does. Without pauses, so that
/// every crash draw is a crash (the mutants lose what a crash drops).
fn assert_caught_within_budget(bug: &str) {
    for seed in 0..MUTANT_BUDGET {
        let p = Params {
            seed,
            nodes: 3,
            bug: Some(bug.into()),
            bridge: true,
            pause: false,
        };
        let outcome = run_seed(&p);
        let safety: Vec<&String> = outcome
            .violations
            .iter()
            .filter(|v| !v.starts_with("liveness") && !v.contains(" stopped: "))
            .collect();
        if !safety.is_empty() {
            println!("{bug} caught by seed {seed}: {safety:?}");
            return;
        }
    }
    panic!("{bug} survived {MUTANT_BUDGET} seeds");
}
