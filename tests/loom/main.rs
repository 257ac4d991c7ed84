//! loom models of the concurrent internals (verification.md §9). Built and run only as
//! `RUSTFLAGS="--cfg loom" cargo test --release -p zabkeeper --no-default-features --test loom`
//! (`.ci/run` adds `CARGO_TARGET_DIR=target/loom`); without `cfg(loom)` this target is empty.
//!
//! Each model drives the real structure, whose primitives come from `zabkeeper::sync` (loom's
//! under this cfg), asserts the structure's own invariant, and is bounded by a preemption bound
//! so that the whole target runs in minutes on two cores. Each seeded bug
//! (`zabkeeper::sync::SEEDED_BUGS`) has a test that runs the model with that bug switched on and
//! asserts that it fails with the expected message: a model that cannot fail is not counted.

#![cfg(loom)]

mod group_commit;
#[path = "../storage_support/hooked.rs"]
mod hooked;
mod outbound;
mod sessions;

/// Explores `model` with at most `preemptions` forced thread switches per execution (loom's
/// CHESS bound; switches at blocking points are always explored) and prints the number of
/// executions and the time taken (verification.md's figures).
fn explore(name: &str, preemptions: usize, model: impl Fn() + Sync + Send + 'static) {
    let executions = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&executions);
    let started = std::time::Instant::now();
    let mut builder = loom::model::Builder::new();
    // loom's own LOOM_MAX_PREEMPTIONS, when set, overrides the model's bound (for measuring).
    let preemptions = *builder.preemption_bound.get_or_insert(preemptions);
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        model();
    });
    println!(
        "loom model {name}: preemption bound {preemptions}, {} executions, {:.2} s",
        executions.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}

/// Reruns the model test `test` (its full name, e.g. `group_commit::group_commit_submit`) in a
/// child process with the seeded bug `bug` on, asserts that it fails, and returns its output.
///
/// A child process, because a failing loom execution may abort rather than unwind: a deadlock
/// panics on the thread that blocked last, and the loom objects that thread then drops while
/// unwinding panic again outside the execution.
fn caught(bug: &'static str, test: &str) -> String {
    assert!(
        zabkeeper::sync::SEEDED_BUGS.contains(&bug),
        "unknown seeded bug {bug}"
    );
    let exe = std::env::current_exe().expect("the test binary");
    let output = std::process::Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(zabkeeper::sync::SEEDED_BUG_VAR, bug)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the model in a child process");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("running 1 test"),
        "{test} is not a test of this binary:\n{text}"
    );
    assert!(
        !output.status.success(),
        "seeded bug {bug} was not caught by {test}:\n{text}"
    );
    text
}
