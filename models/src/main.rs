//! `zabkeeper-check`: exhaustive model checking of zabkeeper's protocol core.
//!
//! ```text
//! zabkeeper-check list [--json]
//! zabkeeper-check run MODEL [--servers N] [--txns T] [--crashes C] [--link-faults L] [--bug NAME]
//!                     [--threads K] [--symmetry] [--depth D] [--dfs] [--timeouts]
//!                     [--trace text|json|mermaid] [--trace-out FILE]
//! zabkeeper-check explore MODEL [same bounds] [--addr 127.0.0.1:3000]
//! ```
//!
//! Exit codes: 0 every `always` property holds over the complete bounded state space; 1 a
//! property is violated (the counterexample is printed); 2 usage error; 3 no violation, but the
//! search was cut by `--depth` (not a proof). The last line of `run` is one JSON object.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use stateright::Model;
use zabkeeper::protocol::{Bug, Timer};
use zabkeeper_models::cluster::{ClusterModel, ModelConfig, ModelKind};
use zabkeeper_models::run::{run, RunOptions};
use zabkeeper_models::{mutants, properties, trace};

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
    /// Print the models, their properties and the seeded bugs.
    List {
        /// Machine-readable.
        #[arg(long)]
        json: bool,
    },
    /// Explore a model exhaustively within its bounds.
    Run(RunArgs),
    /// Serve Stateright's Explorer web UI for a model on 127.0.0.1.
    Explore {
        #[command(flatten)]
        args: RunArgs,
        /// Address to serve on (loopback only).
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
struct RunArgs {
    /// `election`, `zab` or `sync`.
    model: String,
    /// Voters.
    #[arg(long, default_value_t = 3)]
    servers: usize,
    /// Client writes (zab).
    #[arg(long)]
    txns: Option<u8>,
    /// Crashes.
    #[arg(long)]
    crashes: Option<u8>,
    /// Link breaks.
    #[arg(long = "link-faults", default_value_t = 0)]
    link_faults: u8,
    /// Largest epoch explored.
    #[arg(long = "max-epoch")]
    max_epoch: Option<u32>,
    /// Largest election round explored.
    #[arg(long = "max-round")]
    max_round: Option<u64>,
    /// Also fire the initLimit failure detector.
    #[arg(long)]
    timeouts: bool,
    /// Also fire FLE's notification-resend timer.
    #[arg(long)]
    notify: bool,
    /// election: how many of the starting histories each server may start from (1..=4;
    /// default 4 for 3 servers, 2 above).
    #[arg(long)]
    histories: Option<usize>,
    /// Seeded bug (see `list`).
    #[arg(long)]
    bug: Option<String>,
    /// Checker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Symmetry reduction (refused where unsound: see verification.md).
    #[arg(long)]
    symmetry: bool,
    /// Depth bound (makes the result incomplete if reached).
    #[arg(long)]
    depth: Option<usize>,
    /// Depth-first search (default breadth-first: shortest counterexamples).
    #[arg(long)]
    dfs: bool,
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

fn config(args: &RunArgs) -> Result<ModelConfig, String> {
    let kind = ModelKind::from_name(&args.model)
        .ok_or_else(|| format!("unknown model {:?} (election, zab, sync)", args.model))?;
    if !(1..=7).contains(&args.servers) {
        return Err(format!("--servers {} out of range 1..=7", args.servers));
    }
    let mut cfg = ModelConfig::new(kind);
    cfg.servers = args.servers;
    if let Some(t) = args.txns {
        cfg.txns = t;
    }
    if let Some(c) = args.crashes {
        cfg.crashes = c;
    }
    cfg.link_faults = args.link_faults;
    if let Some(e) = args.max_epoch {
        cfg.max_epoch = e;
    }
    if let Some(r) = args.max_round {
        cfg.max_round = r;
    }
    if args.timeouts {
        cfg.fire.insert(Timer::InitLimit);
    }
    if args.notify {
        cfg.fire.insert(Timer::Notify);
    }
    if let Some(name) = &args.bug {
        let bug = Bug::from_name(name)
            .ok_or_else(|| format!("unknown bug {name:?}; see `zabkeeper-check list`"))?;
        cfg.bug = Some(bug);
    }
    if kind == ModelKind::Election && args.servers > 3 {
        // 4 starting histories per server would give 4^5 initial states at 5 servers.
        cfg.initial_histories.truncate(2);
    }
    if let Some(h) = args.histories {
        if kind != ModelKind::Election || !(1..=4).contains(&h) {
            return Err("--histories takes 1..=4 and applies to the election model".into());
        }
        cfg.initial_histories.truncate(h);
    }
    if args.symmetry {
        return Err("--symmetry is unsound for these models: FLE breaks vote ties by server id, so servers are not interchangeable (verification.md §Symmetry)".into());
    }
    Ok(cfg)
}

fn list(as_json: bool) -> ExitCode {
    let models = [ModelKind::Election, ModelKind::Zab, ModelKind::Sync];
    if as_json {
        let models: Vec<_> = models
            .iter()
            .map(|k| json!({"name": k.name(), "properties": properties::describe(*k).iter().map(|p| json!({"name": p.name, "expectation": p.expectation, "meaning": p.meaning})).collect::<Vec<_>>()}))
            .collect();
        let bugs: Vec<_> = mutants::catalogue()
            .iter()
            .map(|m| json!({"name": m.bug.name(), "model": m.model, "args": m.args, "expected": m.expected, "history": m.bug.history()}))
            .collect();
        println!("{}", json!({"models": models, "bugs": bugs}));
        return ExitCode::SUCCESS;
    }
    for k in models {
        println!("model {}", k.name());
        for p in properties::describe(k) {
            println!("  {:<9} {:<26} {}", p.expectation, p.name, p.meaning);
        }
    }
    println!("mutants (--bug NAME):");
    for m in mutants::catalogue() {
        println!(
            "  {:<30} {:<9} {:<46} {}",
            m.bug.name(),
            m.model,
            m.args.join(" "),
            m.bug.history()
        );
    }
    ExitCode::SUCCESS
}

fn run_command(args: RunArgs) -> ExitCode {
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let mut opts = RunOptions::new(cfg.clone());
    if let Some(t) = args.threads {
        opts.threads = t;
    }
    opts.dfs = args.dfs;
    opts.depth = args.depth;
    opts.progress = true;
    eprintln!(
        "checking model {} with bounds {}",
        cfg.kind.name(),
        cfg.bounds()
    );
    let result = run(&opts);
    let violated: Vec<&str> = result.violations.iter().map(|(n, _)| *n).collect();
    if let Some((name, path)) = result.violations.first() {
        println!("VIOLATION: property {name} does not hold.");
        match args.trace {
            TraceFormat::Text => print!("{}", trace::text(name, path)),
            TraceFormat::Json => println!("{}", trace::json(name, path)),
            TraceFormat::Mermaid => print!("{}", trace::mermaid(name, path)),
        }
        if let Some(base) = &args.trace_out {
            let writes = [
                (format!("{base}.txt"), trace::text(name, path)),
                (
                    format!("{base}.json"),
                    serde_json::to_string_pretty(&trace::json(name, path)).expect("json"),
                ),
                (format!("{base}.mmd"), trace::mermaid(name, path)),
            ];
            for (file, body) in writes {
                if let Err(e) = std::fs::write(&file, body) {
                    eprintln!("zabkeeper-check: cannot write {file}: {e}");
                }
            }
            eprintln!("trace written to {base}.txt, {base}.json, {base}.mmd");
        }
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
    let summary = json!({
        "model": cfg.kind.name(),
        "bounds": cfg.bounds(),
        "unique_states": result.unique_states,
        "states": result.states,
        "max_depth": result.max_depth,
        "seconds": (result.seconds * 100.0).round() / 100.0,
        "complete": result.complete,
        "violations": violated,
        "examples": result.examples,
        "missing_examples": result.missing_examples,
        "trace_steps": result.violations.first().map(|(_, p)| p.clone().into_actions().len()),
    });
    println!("{summary}");
    if !violated.is_empty() {
        ExitCode::from(1)
    } else if result.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

fn main() -> ExitCode {
    // A production assertion inside Node::step is caught and recorded as a property violation;
    // keep the default hook from printing every one of them while the checker explores.
    std::panic::set_hook(Box::new(|_| {}));
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
        Command::Run(args) => run_command(args),
        Command::Explore { args, addr } => {
            let cfg = match config(&args) {
                Ok(c) => c,
                Err(e) => return usage(&e),
            };
            if !addr.starts_with("127.0.0.1:") && !addr.starts_with("localhost:") {
                return usage("explore serves on loopback only (127.0.0.1:PORT)");
            }
            eprintln!(
                "Explorer for model {} on http://{addr}/ (Ctrl-C to stop)",
                cfg.kind.name()
            );
            let threads = args.threads.unwrap_or(1);
            ClusterModel::new(cfg)
                .checker()
                .threads(threads)
                .serve(addr.as_str());
            ExitCode::SUCCESS
        }
    }
}
