//! `zabkeeper-check`: exhaustive model checking of zabkeeper's protocol core.
//!
//! ```text
//! zabkeeper-check list [--json]
//! zabkeeper-check run MODEL [--servers N] [--observers K] [--txns T] [--crashes C]
//!                     [--link-faults L] [--bug NAME] [--syncs S] [--isolations I]
//!                     [--snapshots K] [--threads K] [--depth D] [--dfs]
//!                     [--timeouts] [--notify] [--timers init,sync,heartbeat,notify
//!                     --timer-fires N] [--forward]
//!                     [--trace text|json|mermaid] [--trace-out FILE]
//! zabkeeper-check ci [--bug NAME] [--threads K] [--keep-going]
//! zabkeeper-check explore MODEL [model bounds] [--threads K] [--addr 127.0.0.1:3000]
//! ```
//!
//! `run`: 0 every `always` property holds over the complete bounded state space; 1 a property is
//! violated (the counterexample is printed); 2 usage error; 3 no violation, but the search was
//! cut by `--depth` (not a proof). The last line is one JSON object.
//!
//! `ci`: runs the CI profile (`profile.rs`): its first search, its schedule runs (a recorded
//! schedule replayed in a model's world, `schedule.rs`), then its other searches; one JSON line
//! per run (`"kind"`: `"search"` or `"schedule"`), then
//! `{"profile":"ci","runs":N,"complete":..,"violations":[..],"unreached":[..],"errors":[..],"seconds":..}`.
//! 0 every run complete, no violation, every search's reach goals met, every schedule's steps
//! taken; 1 otherwise (a schedule step the model does not enable is an error, named in
//! `errors`); 2 usage error. It stops after the first run that finds a violation unless
//! `--keep-going`.
//!
//! `explore`: 2 for a malformed or non-loopback `--addr`, 1 if the address cannot be bound.
//!
//! A panic in a step of the world is a counterexample (`NO-PANIC`); any other panic is printed
//! with its message and location by Rust's default hook (`panics.rs`).

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use stateright::{Model, Path};
use zabkeeper::protocol::Bug;
use zabkeeper_models::args::{bug_by_name, Bounds, Search};
use zabkeeper_models::cluster::{Action, ClusterModel, ClusterState, ModelKind};
use zabkeeper_models::run::{run, RunOptions, RunResult};
use zabkeeper_models::schedule::{self, Outcome, ScheduleResult};
use zabkeeper_models::{profile, properties, trace};

#[derive(Parser)]
#[command(
    name = "zabkeeper-check",
    about = "Exhaustive model checking of zabkeeper's FLE + ZAB core"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the models, their properties, the seeded bugs and the CI profile.
    List {
        /// Machine-readable.
        #[arg(long)]
        json: bool,
    },
    /// Explore a model exhaustively within its bounds.
    Run {
        #[command(flatten)]
        bounds: Bounds,
        #[command(flatten)]
        search: Search,
        #[command(flatten)]
        output: TraceArgs,
    },
    /// Run the CI profile: every run `.ci/run` makes, with their reach goals.
    Ci {
        /// Seeded bug to check every run against (any name `list` prints).
        #[arg(long)]
        bug: Option<String>,
        /// Checker threads per run (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Go on after a run finds a violation (default: stop there).
        #[arg(long = "keep-going")]
        keep_going: bool,
    },
    /// Serve Stateright's Explorer web UI for a model on 127.0.0.1.
    Explore {
        #[command(flatten)]
        bounds: Bounds,
        /// Checker threads (default 1).
        #[arg(long)]
        threads: Option<usize>,
        /// Address to serve on: a loopback IP:PORT, or localhost:PORT.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum TraceFormat {
    Text,
    Json,
    Mermaid,
}

#[derive(clap::Args, Clone)]
struct TraceArgs {
    /// Counterexample format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    trace: TraceFormat,
    /// Also write the counterexample in every format to FILE.{txt,json,mmd}.
    #[arg(long = "trace-out")]
    trace_out: Option<String>,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("zabkeeper-check: {msg}");
    ExitCode::from(2)
}

fn list(as_json: bool) -> ExitCode {
    let models = [ModelKind::Election, ModelKind::Zab, ModelKind::Sync];
    if as_json {
        let models: Vec<_> = models
            .iter()
            .map(|k| json!({"name": k.name(), "properties": properties::describe(*k).iter().map(|p| json!({"name": p.name, "expectation": p.expectation, "meaning": p.meaning})).collect::<Vec<_>>()}))
            .collect();
        let bugs: Vec<_> = Bug::ALL
            .iter()
            .map(|b| json!({"name": b.name(), "history": b.history()}))
            .collect();
        let ci: Vec<_> = profile::CI
            .iter()
            .map(|r| json!({"name": r.name, "kind": "search", "command": r.command(), "goals": r.goals.iter().map(|(m, n)| json!([m.name(), n])).collect::<Vec<_>>(), "why": r.why}))
            .chain(profile::SCHEDULES.iter().map(|r| json!({"name": r.name, "kind": "schedule", "bounds": r.flags.join(" "), "steps": r.steps.len(), "why": r.why})))
            .collect();
        println!("{}", json!({"models": models, "bugs": bugs, "ci": ci}));
        return ExitCode::SUCCESS;
    }
    for k in models {
        println!("model {}", k.name());
        for p in properties::describe(k) {
            println!("  {:<9} {:<26} {}", p.expectation, p.name, p.meaning);
        }
    }
    println!("seeded bugs (--bug NAME):");
    for b in Bug::ALL {
        println!("  {:<30} {}", b.name(), b.history());
    }
    println!("CI profile (zabkeeper-check ci):");
    for r in profile::CI {
        println!("  {:<17} {}", r.name, r.command());
    }
    for r in profile::SCHEDULES {
        println!("  {:<17} {}", r.name, r.describe());
    }
    ExitCode::SUCCESS
}

fn print_trace(
    model: &ClusterModel,
    name: &str,
    path: &Path<ClusterState, Action>,
    out: &TraceArgs,
) {
    println!("VIOLATION: property {name} does not hold.");
    match out.trace {
        TraceFormat::Text => print!("{}", trace::text(model, name, path)),
        TraceFormat::Json => println!("{}", trace::json(model, name, path)),
        TraceFormat::Mermaid => print!("{}", trace::mermaid(model, name, path)),
    }
    if let Some(base) = &out.trace_out {
        let writes = [
            (format!("{base}.txt"), trace::text(model, name, path)),
            (
                format!("{base}.json"),
                serde_json::to_string_pretty(&trace::json(model, name, path)).expect("json"),
            ),
            (format!("{base}.mmd"), trace::mermaid(model, name, path)),
        ];
        for (file, body) in writes {
            if let Err(e) = std::fs::write(&file, body) {
                eprintln!("zabkeeper-check: cannot write {file}: {e}");
            }
        }
        eprintln!("trace written to {base}.txt, {base}.json, {base}.mmd");
    }
}

/// Prints a run's verdict in words (the counterexample, if any) and returns its summary.
fn report(result: &RunResult, out: &TraceArgs) -> serde_json::Value {
    if let Some((name, path)) = result.violations.first() {
        print_trace(&result.model, name, path, out);
    } else if result.complete {
        println!(
            "OK: every always-property holds over the complete state space: {} unique states ({} generated, depth {}) in {:.1}s.",
            result.unique_states, result.states, result.max_depth, result.seconds
        );
    } else {
        println!(
            "NO VIOLATION up to depth {}, but the search was cut there: {} unique states in {:.1}s (not a proof).",
            result.max_depth, result.unique_states, result.seconds
        );
    }
    if !result.missing_examples.is_empty() && result.violations.is_empty() {
        println!(
            "note: sometimes-properties never reached: {:?}",
            result.missing_examples
        );
    }
    result.summary()
}

/// Prints a schedule run's verdict in words (the counterexample, if any) and returns its summary.
fn report_schedule(result: &ScheduleResult, out: &TraceArgs) -> serde_json::Value {
    match &result.outcome {
        Outcome::Violated { properties, path } => {
            print_trace(&result.model, properties[0], path, out);
        }
        Outcome::Completed => println!(
            "OK: all {} steps of the schedule taken, every always-property holds in each of its {} states, in {:.1}s (one path, not a proof).",
            result.steps,
            result.steps + 1,
            result.seconds
        ),
        Outcome::Stuck { .. } => println!(
            "ERROR: the schedule could not be replayed: {}",
            result.error().unwrap_or_default()
        ),
    }
    result.summary()
}

fn run_command(bounds: Bounds, search: Search, out: TraceArgs) -> ExitCode {
    let line = zabkeeper_models::args::RunLine { bounds, search };
    let mut opts = match RunOptions::from_line(&line) {
        Ok(o) => o,
        Err(e) => return usage(&e),
    };
    opts.progress = true;
    eprintln!(
        "checking model {} with bounds {}",
        opts.cfg.kind.name(),
        opts.cfg.bounds()
    );
    let result = run(&opts);
    println!("{}", report(&result, &out));
    if !result.violations.is_empty() {
        ExitCode::from(1)
    } else if result.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

/// One run of the CI profile, in the order `ci` makes them.
enum Planned<'a> {
    Search(&'a profile::ProfileRun),
    Schedule(&'a profile::ScheduleRun),
}

fn ci_command(bug: Option<String>, threads: Option<usize>, keep_going: bool) -> ExitCode {
    if let Some(name) = &bug {
        if let Err(e) = bug_by_name(name) {
            return usage(&e);
        }
    }
    let start = Instant::now();
    let text = TraceArgs {
        trace: TraceFormat::Text,
        trace_out: None,
    };
    let (mut runs, mut complete) = (0, true);
    let (mut violations, mut unreached, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    // The order: the first search (sync-smoke, seconds, the shortest counterexample of most
    // bugs), then the schedule runs (a replay of milliseconds each), then the other searches,
    // so a bug only a schedule reaches is caught without the minutes of searches. The runs are
    // the same set in any order.
    let (first, rest) = profile::CI.split_at(1);
    let plan = first
        .iter()
        .map(Planned::Search)
        .chain(profile::SCHEDULES.iter().map(Planned::Schedule))
        .chain(rest.iter().map(Planned::Search));
    let mut stopped = false;
    for planned in plan {
        if stopped {
            break;
        }
        match planned {
            Planned::Search(r) => {
                let line = match r.line(bug.as_deref(), threads) {
                    Ok(l) => l,
                    Err(e) => return usage(&format!("profile run {}: {e}", r.name)),
                };
                let mut opts = match RunOptions::from_line(&line) {
                    Ok(o) => o,
                    Err(e) => return usage(&format!("profile run {}: {e}", r.name)),
                };
                opts.progress = true;
                eprintln!("ci run {}: {}", r.name, r.command());
                let result = run(&opts);
                runs += 1;
                let mut summary = report(&result, &text);
                let missed = if result.violations.is_empty() {
                    let mut missed = r.unreached(&result.reach);
                    missed.extend(
                        result
                            .missing_examples
                            .iter()
                            .map(|m| format!("{}: sometimes {m:?}", r.name)),
                    );
                    missed
                } else {
                    Vec::new()
                };
                summary["run"] = json!(r.name);
                summary["kind"] = json!("search");
                summary["command"] = json!(r.command());
                summary["unreached"] = json!(missed);
                println!("{summary}");
                complete &= result.complete;
                unreached.extend(missed);
                violations.extend(
                    result
                        .violations
                        .iter()
                        .map(|(n, _)| format!("{}: {n}", r.name)),
                );
                stopped = !result.violations.is_empty() && !keep_going;
            }
            Planned::Schedule(r) => {
                let cfg = match r.line(bug.as_deref()).and_then(|l| l.bounds.config()) {
                    Ok(c) => c,
                    Err(e) => return usage(&format!("profile run {}: {e}", r.name)),
                };
                eprintln!("ci run {}: {}", r.name, r.describe());
                let result = schedule::replay(cfg, r.steps);
                runs += 1;
                let mut summary = report_schedule(&result, &text);
                summary["run"] = json!(r.name);
                summary["unreached"] = json!([]);
                println!("{summary}");
                complete &= result.complete();
                errors.extend(result.error().map(|e| format!("{}: {e}", r.name)));
                violations.extend(
                    result
                        .violations()
                        .iter()
                        .map(|n| format!("{}: {n}", r.name)),
                );
                stopped = !result.violations().is_empty() && !keep_going;
            }
        }
    }
    let all = profile::CI.len() + profile::SCHEDULES.len();
    let ok = complete && violations.is_empty() && unreached.is_empty() && runs == all;
    println!(
        "{}",
        json!({
            "profile": "ci",
            "bug": bug,
            "runs": runs,
            "complete": complete && runs == all,
            "violations": violations,
            "unreached": unreached,
            "errors": errors,
            "seconds": (start.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        })
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A loopback `IP:PORT` (or `localhost:PORT`), or why not.
fn loopback_addr(addr: &str) -> Result<SocketAddr, String> {
    let parsed = match addr.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}").parse::<SocketAddr>(),
        None => addr.parse::<SocketAddr>(),
    };
    let sa = parsed.map_err(|_| format!("--addr {addr:?} is not IP:PORT (e.g. 127.0.0.1:3000)"))?;
    if !sa.ip().is_loopback() {
        return Err(format!(
            "--addr {addr}: explore serves on loopback only (127.0.0.1:PORT)"
        ));
    }
    Ok(sa)
}

fn explore_command(bounds: Bounds, threads: Option<usize>, addr: &str) -> ExitCode {
    let cfg = match bounds.config() {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let sa = match loopback_addr(addr) {
        Ok(sa) => sa,
        Err(e) => return usage(&e),
    };
    // Bind first to report a taken port plainly; the Explorer binds again at once (a port taken
    // in between makes it panic, and that panic is printed).
    if let Err(e) = TcpListener::bind(sa) {
        eprintln!("zabkeeper-check: cannot serve the Explorer on {sa}: {e}");
        return ExitCode::from(1);
    }
    eprintln!(
        "Explorer for model {} on http://{sa}/ (Ctrl-C to stop)",
        cfg.kind.name()
    );
    ClusterModel::new(cfg)
        .checker()
        .threads(threads.unwrap_or(1))
        .serve(sa);
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    zabkeeper_models::panics::install_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::List { json } => list(json),
        Command::Run {
            bounds,
            search,
            output,
        } => run_command(bounds, search, output),
        Command::Ci {
            bug,
            threads,
            keep_going,
        } => ci_command(bug, threads, keep_going),
        Command::Explore {
            bounds,
            threads,
            addr,
        } => explore_command(bounds, threads, &addr),
    }
}
