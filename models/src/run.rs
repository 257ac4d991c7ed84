//! Drives Stateright's checker over a [`ClusterModel`] and summarises the result. Shared by the
//! `zabkeeper-check` command and the tests.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path};

use crate::args::RunLine;
use crate::cluster::{Action, ClusterModel, ClusterState, ModelConfig};

/// How to search.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Model and bounds.
    pub cfg: ModelConfig,
    /// Checker threads.
    pub threads: usize,
    /// Depth-first instead of breadth-first (breadth-first finds the shortest counterexample).
    pub dfs: bool,
    /// Do not expand states deeper than this (makes the search incomplete if reached).
    pub depth: Option<usize>,
    /// Print progress to stderr while searching.
    pub progress: bool,
}

impl RunOptions {
    /// Breadth-first on every core, no depth bound, no progress.
    pub fn new(cfg: ModelConfig) -> RunOptions {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        RunOptions {
            cfg,
            threads,
            dfs: false,
            depth: None,
            progress: false,
        }
    }

    /// The options of a `run` command line.
    pub fn from_line(line: &RunLine) -> Result<RunOptions, String> {
        let mut opts = RunOptions::new(line.bounds.config()?);
        if let Some(t) = line.search.threads {
            opts.threads = t;
        }
        opts.dfs = line.search.dfs;
        opts.depth = line.search.depth;
        Ok(opts)
    }
}

/// What a search found.
pub struct RunResult {
    /// States generated (with repeats).
    pub states: usize,
    /// Distinct states.
    pub unique_states: usize,
    /// Deepest path length explored.
    pub max_depth: usize,
    /// Wall time.
    pub seconds: f64,
    /// The whole bounded state space was explored.
    pub complete: bool,
    /// Violated `Always` properties and their counterexamples.
    pub violations: Vec<(&'static str, Path<ClusterState, Action>)>,
    /// `Sometimes` properties for which an example was found.
    pub examples: Vec<&'static str>,
    /// `Sometimes` properties never reached.
    pub missing_examples: Vec<&'static str>,
    /// Branches and maxima reached (`reach.rs`), by name.
    pub reach: Value,
    /// The model that was checked (to explain a counterexample).
    pub model: ClusterModel,
}

impl RunResult {
    /// The one-line JSON summary `zabkeeper-check run` prints last.
    pub fn summary(&self) -> Value {
        let violated: Vec<&str> = self.violations.iter().map(|(n, _)| *n).collect();
        json!({
            "model": self.model.cfg.kind.name(),
            "bounds": self.model.cfg.bounds(),
            "unique_states": self.unique_states,
            "states": self.states,
            "max_depth": self.max_depth,
            "seconds": (self.seconds * 100.0).round() / 100.0,
            "complete": self.complete,
            "violations": violated,
            "examples": self.examples,
            "missing_examples": self.missing_examples,
            "reached": self.reach,
            "trace_steps": self.violations.first().map(|(_, p)| p.clone().into_actions().len()),
        })
    }
}

/// Runs the search to completion (or to the first violation).
pub fn run(opts: &RunOptions) -> RunResult {
    let model = ClusterModel::new(opts.cfg.clone());
    let mut builder = model
        .checker()
        .threads(opts.threads.max(1))
        .finish_when(HasDiscoveries::AnyFailures);
    if let Some(depth) = opts.depth {
        builder = builder.target_max_depth(depth);
    }
    let start = Instant::now();
    if opts.dfs {
        collect(builder.spawn_dfs(), opts, start)
    } else {
        collect(builder.spawn_bfs(), opts, start)
    }
}

fn collect<C: Checker<ClusterModel>>(checker: C, opts: &RunOptions, start: Instant) -> RunResult {
    let live = opts.progress && std::io::stderr().is_terminal();
    let mut last_print = Instant::now();
    let mut last_states = 0usize;
    while opts.progress && !checker.is_done() {
        std::thread::sleep(Duration::from_millis(200));
        let every = if live {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(15)
        };
        if opts.progress && last_print.elapsed() >= every {
            let states = checker.state_count();
            let rate = (states - last_states) as f64 / last_print.elapsed().as_secs_f64();
            let line = format!(
                "states {} unique {} depth {} ({:.0} states/s, {:.0}s)",
                states,
                checker.unique_state_count(),
                checker.max_depth(),
                rate,
                start.elapsed().as_secs_f64()
            );
            if live {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            let _ = std::io::stderr().flush();
            last_print = Instant::now();
            last_states = states;
        }
    }
    let checker = checker.join();
    if live {
        eprintln!();
    }
    let seconds = start.elapsed().as_secs_f64();
    let properties = checker.model().properties();
    let discoveries = checker.discoveries();
    let mut violations = Vec::new();
    let mut examples = Vec::new();
    let mut missing_examples = Vec::new();
    for p in &properties {
        let found = discoveries.get(p.name).cloned();
        match (&p.expectation, found) {
            (Expectation::Sometimes, Some(_)) => examples.push(p.name),
            (Expectation::Sometimes, None) => missing_examples.push(p.name),
            (_, Some(path)) => violations.push((p.name, path)),
            (_, None) => {}
        }
    }
    let max_depth = checker.max_depth();
    let depth_cut = opts.depth.is_some_and(|d| max_depth >= d);
    let model = checker.model().clone();
    RunResult {
        reach: model.reach.to_json(),
        model,
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth,
        seconds,
        complete: violations.is_empty() && !depth_cut,
        violations,
        examples,
        missing_examples,
    }
}
