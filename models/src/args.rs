//! The command-line bounds of a model and of a search, shared by `zabkeeper-check run`,
//! `explore` and the CI profile (`profile.rs`), so each profile run is exactly the `run` command
//! it prints.

use clap::Parser;
use zabkeeper::protocol::{Bug, Timer};

use crate::cluster::{ModelConfig, ModelKind};

/// Which model, and its bounds.
#[derive(clap::Args, Clone, Debug)]
pub struct Bounds {
    /// `election`, `zab` or `sync`.
    pub model: String,
    /// Voters.
    #[arg(long, default_value_t = 3)]
    pub servers: usize,
    /// Observers (non-voting learners) beside the voters.
    #[arg(long, default_value_t = 0)]
    pub observers: usize,
    /// Client writes (zab).
    #[arg(long)]
    pub txns: Option<u8>,
    /// Crashes.
    #[arg(long)]
    pub crashes: Option<u8>,
    /// Link breaks.
    #[arg(long = "link-faults", default_value_t = 0)]
    pub link_faults: u8,
    /// Client `sync`s (zab, sync).
    #[arg(long, default_value_t = 0)]
    pub syncs: u8,
    /// Silent isolations of a server (no `PeerLost` anywhere); also fires `SyncLimit` where a
    /// server is cut off from its leader or a learner.
    #[arg(long, default_value_t = 0)]
    pub isolations: u8,
    /// Snapshots the servers may take in the whole run (each at its committed zxid, fed back
    /// as `Input::Compacted`).
    #[arg(long, default_value_t = 0)]
    pub snapshots: u8,
    /// In-memory compactions the servers may make in the whole run (the runtime's bound on the
    /// core's log, `commitLogCount`): `Input::Compacted` at the committed zxid with no snapshot
    /// written, the disk keeps its log.
    #[arg(long, default_value_t = 0)]
    pub compactions: u8,
    /// Largest epoch explored.
    #[arg(long = "max-epoch")]
    pub max_epoch: Option<u32>,
    /// Largest election round explored.
    #[arg(long = "max-round")]
    pub max_round: Option<u64>,
    /// Also fire the initLimit failure detector.
    #[arg(long)]
    pub timeouts: bool,
    /// Also fire FLE's notification-resend timer.
    #[arg(long)]
    pub notify: bool,
    /// Also fire these timers, comma-separated: init, sync, heartbeat, notify.
    #[arg(long, value_delimiter = ',')]
    pub timers: Vec<String>,
    /// Firings of timers other than FinalizeWait the whole run may have (required with
    /// `--timers`: heartbeat, syncLimit and notify re-arm themselves).
    #[arg(long = "timer-fires")]
    pub timer_fires: Option<u8>,
    /// Client writes also arrive at learners (forwarded as REQUEST) and at servers that are not
    /// serving (refused).
    #[arg(long)]
    pub forward: bool,
    /// election: how many of the starting histories each server may start from (1..=4;
    /// default 4 for 3 servers, 2 above).
    #[arg(long)]
    pub histories: Option<usize>,
    /// Seeded bug (see `list`).
    #[arg(long)]
    pub bug: Option<String>,
    /// Symmetry reduction (refused where unsound: see verification.md).
    #[arg(long)]
    pub symmetry: bool,
}

/// How to search.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Search {
    /// Checker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Depth bound (makes the result incomplete if reached).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Depth-first search (default breadth-first: shortest counterexamples).
    #[arg(long)]
    pub dfs: bool,
}

/// A model and search as one `run` command line (without the word `run`).
#[derive(Parser, Clone, Debug)]
#[command(no_binary_name = true)]
pub struct RunLine {
    /// The model and its bounds.
    #[command(flatten)]
    pub bounds: Bounds,
    /// The search.
    #[command(flatten)]
    pub search: Search,
}

/// Parses `run` flags (for the profile, whose lines are written as command lines).
pub fn parse_run_line(flags: &[&str]) -> Result<RunLine, String> {
    RunLine::try_parse_from(flags).map_err(|e| e.to_string())
}

/// Resolves a `--bug` name against every seeded bug of the core.
pub fn bug_by_name(name: &str) -> Result<Bug, String> {
    Bug::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
        format!(
            "unknown bug {name:?}; the seeded bugs are {}",
            names.join(", ")
        )
    })
}

impl Bounds {
    /// The model configuration, or why these bounds are refused.
    pub fn config(&self) -> Result<ModelConfig, String> {
        let kind = ModelKind::from_name(&self.model)
            .ok_or_else(|| format!("unknown model {:?} (election, zab, sync)", self.model))?;
        if !(1..=7).contains(&self.servers) {
            return Err(format!("--servers {} out of range 1..=7", self.servers));
        }
        let mut cfg = ModelConfig::new(kind);
        cfg.servers = self.servers;
        if let Some(t) = self.txns {
            cfg.txns = t;
        }
        if let Some(c) = self.crashes {
            cfg.crashes = c;
        }
        cfg.link_faults = self.link_faults;
        cfg.syncs = self.syncs;
        cfg.isolations = self.isolations;
        if self.isolations > 0 {
            cfg.fire.insert(Timer::SyncLimit);
        }
        if kind == ModelKind::Election && (self.syncs > 0 || self.isolations > 0) {
            return Err("--syncs and --isolations apply to the zab and sync models".into());
        }
        if self.snapshots > 0 && kind == ModelKind::Election {
            return Err("--snapshots applies to the zab and sync models".into());
        }
        cfg.snapshots = self.snapshots;
        if self.compactions > 0 && kind == ModelKind::Election {
            return Err("--compactions applies to the zab and sync models".into());
        }
        cfg.compactions = self.compactions;
        if let Some(e) = self.max_epoch {
            cfg.max_epoch = e;
        }
        if let Some(r) = self.max_round {
            cfg.max_round = r;
        }
        if self.timeouts {
            cfg.fire.insert(Timer::InitLimit);
        }
        if self.notify {
            cfg.fire.insert(Timer::Notify);
        }
        for name in &self.timers {
            cfg.fire.insert(match name.as_str() {
                "init" => Timer::InitLimit,
                "sync" => Timer::SyncLimit,
                "heartbeat" => Timer::Heartbeat,
                "notify" => Timer::Notify,
                other => {
                    return Err(format!(
                        "--timers: unknown timer {other:?} (init, sync, heartbeat, notify)"
                    ))
                }
            });
        }
        if !self.timers.is_empty() && self.timer_fires.is_none() {
            return Err("--timers needs --timer-fires N: heartbeat, syncLimit and notify re-arm themselves, so the state space is unbounded without a budget".into());
        }
        cfg.timer_fires = self.timer_fires;
        if self.observers > 2 || (self.observers > 0 && kind == ModelKind::Election) {
            return Err("--observers takes 0..=2 and applies to the zab and sync models".into());
        }
        cfg.observers = self.observers;
        if self.forward && kind == ModelKind::Election {
            return Err("--forward applies to the zab and sync models".into());
        }
        cfg.forward = self.forward;
        if let Some(name) = &self.bug {
            cfg.bug = Some(bug_by_name(name)?);
        }
        if kind == ModelKind::Election && self.servers > 3 {
            // 4 starting histories per server would give 4^5 initial states at 5 servers.
            cfg.initial_histories.truncate(2);
        }
        if let Some(h) = self.histories {
            if kind != ModelKind::Election || !(1..=4).contains(&h) {
                return Err("--histories takes 1..=4 and applies to the election model".into());
            }
            cfg.initial_histories.truncate(h);
        }
        if self.symmetry {
            return Err("--symmetry is unsound for these models: FLE breaks vote ties by server id, so servers are not interchangeable (verification.md §Symmetry)".into());
        }
        Ok(cfg)
    }
}
