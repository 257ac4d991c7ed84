//! A model counterexample replayed on the real servers (issue 10, "Trace validation", the
//! reverse direction; verification.md §10 "Model counterexamples replayed").
//!
//! `zabkeeper-check run … --bug NAME --trace-out FILE` writes the counterexample to a caught core
//! mutant as JSON (models/src/trace.rs): per step the action and every server's role, epochs,
//! log and disk. [`parse`] reads it, [`translate`] turns it into a [`Schedule`] for the
//! simulation, and [`run`] plays that schedule on three real servers (`server::run_with`, the
//! same runtime as in every seed) running the same core mutant (`Seams::core_bug`), then lets the
//! simulation's own checks judge the outcome (an acknowledged write lost, linearizability,
//! agreement and prefix, the trace validation of trace.rs). What the translation does:
//!
//! - the election (the trace's `Elect`, step 1) runs with every link open; then every pair of
//!   servers the trace never delivers a message between is held (turmoil's `hold`), each pair as
//!   soon as both of its servers have left LOOKING;
//! - the client write (`Write { server }`): once the writer leads and every server the trace has
//!   in broadcast at the write serves, a client connects to the writer (its session is a txn of
//!   its own, committed normally); once that txn is durable everywhere it got to, every server
//!   whose disk the trace ends without the written txn has its fsync stalled (an hour), and the
//!   client sends `create /k0`;
//! - the end of the trace: every server the trace ends with the txn committed has it committed
//!   (its replayed core's `committed_zxid`), and the client has its answer (or 200 ms passed);
//!   at most 1,000 ms after the write;
//! - the epilogue: power loss of every server (the stalled fsyncs lost), the holds released; the
//!   servers whose disk lacks the txn, if a majority, restart first and one must lead; then the
//!   rest restart; then the client reads every key from every server (sync + getData).
//!
//! [`Replayed::followed`] checks that the simulation went through the trace's roles: for each
//! server, the sequence of distinct (state, leader, phase, acceptedEpoch, currentEpoch) the trace
//! shows is a subsequence of the one the server's replayed core went through before the power
//! loss; [`Replayed::reached`] that the end of the trace was reached. A replay that did neither
//! proves nothing.
//!
//! Refused, with an error naming the step ([`parse`], [`translate`]): any action but `Elect`
//! (first, once), `Deliver`, `FlushLog`, `FlushEpoch` and one `Write` — so crashes and
//! restarts mid-trace, link breaks, timers, syncs, isolations, forwarding and snapshots; an
//! initial state that is not three fresh servers; a trace that ends with an epoch write not on
//! disk.

use std::collections::BTreeSet;

use serde_json::Value;
use zabkeeper::protocol::{Bug, Node, PeerState, Zxid};

use super::faults::{crash, crash_noted};
use super::*;

/// Simulated ms the whole replay may take.
const DEADLINE_MS: u64 = 20_000;
/// The end of the trace must be reached this soon after the write is sent.
const FOLLOW_MS: u64 = 1_000;
/// After the end is reached, the client's answer is awaited this long at most.
const ANSWER_MS: u64 = 200;
/// A stalled fsync: longer than any replay.
const STALL_MS: u64 = 3_600_000;

/// A server's role as a trace step shows it and as a replayed core is in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub state: String,
    pub leader: Option<u64>,
    pub phase: Option<String>,
    pub accepted: u64,
    pub current: u64,
}

impl Role {
    fn of(node: &Node) -> Role {
        let state = match node.state() {
            PeerState::Looking => "LOOKING",
            PeerState::Following => "FOLLOWING",
            PeerState::Leading => "LEADING",
            PeerState::Observing => "OBSERVING",
        };
        Role {
            state: state.into(),
            leader: node.leader().map(|l| l.0),
            phase: node
                .leading()
                .map(|l| format!("{:?}", l.phase))
                .or_else(|| node.learning().map(|l| format!("{:?}", l.phase))),
            accepted: u64::from(node.accepted_epoch().0),
            current: u64::from(node.current_epoch().0),
        }
    }
}

/// A trace action the translator handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Elect,
    Deliver { from: usize, to: usize },
    FlushLog,
    FlushEpoch,
    Write { server: usize },
}

/// A server as a trace step leaves it.
#[derive(Clone, Debug)]
struct View {
    role: Role,
    committed: String,
    log: Vec<String>,
    disk_log: Vec<String>,
    disk_epochs: (u64, u64),
}

/// A parsed model counterexample.
#[derive(Debug)]
pub struct Trace {
    /// The property the trace violates.
    pub property: String,
    initial: Vec<View>,
    steps: Vec<(Action, Vec<View>)>,
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("no `{key}` in {v}"))
}

fn number(v: &Value, key: &str) -> Result<u64, String> {
    field(v, key)?
        .as_u64()
        .ok_or_else(|| format!("`{key}` is not a number in {v}"))
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    field(v, key)?
        .as_array()
        .ok_or_else(|| format!("`{key}` is not a list"))?
        .iter()
        .map(|x| x.as_str().map(str::to_string).ok_or("not a string".into()))
        .collect()
}

fn view(v: &Value) -> Result<View, String> {
    let state = field(v, "state")?.as_str().unwrap_or_default().to_string();
    if state == "CRASHED" {
        return Err("a crashed server (crashes mid-trace are not translated)".into());
    }
    let disk = field(v, "disk")?;
    Ok(View {
        role: Role {
            state,
            leader: field(v, "leader")?.as_u64(),
            phase: field(v, "phase")?.as_str().map(str::to_string),
            accepted: number(v, "accepted_epoch")?,
            current: number(v, "current_epoch")?,
        },
        committed: field(v, "committed")?.as_str().unwrap_or_default().into(),
        log: strings(v, "log")?,
        disk_log: strings(disk, "log")?,
        disk_epochs: (
            number(disk, "accepted_epoch")?,
            number(disk, "current_epoch")?,
        ),
    })
}

fn views(v: &Value) -> Result<Vec<View>, String> {
    v.as_array()
        .ok_or("servers are not a list")?
        .iter()
        .map(view)
        .collect()
}

/// The numbers in an action's Debug text (`Deliver { from: 0, to: 2 }` → [0, 2]).
fn numbers(text: &str) -> Vec<usize> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn action(step: usize, text: &str) -> Result<Action, String> {
    let kind = text.split([' ', '{']).next().unwrap_or_default();
    let n = numbers(text);
    let arg = |k: usize| {
        n.get(k)
            .copied()
            .ok_or_else(|| format!("step {step}: `{text}` has no argument {k}"))
    };
    Ok(match kind {
        "Elect" => Action::Elect,
        "Deliver" => Action::Deliver {
            from: arg(0)?,
            to: arg(1)?,
        },
        "FlushLog" => Action::FlushLog,
        "FlushEpoch" => Action::FlushEpoch,
        "Write" => Action::Write { server: arg(0)? },
        _ => {
            return Err(format!(
                "step {step}: `{text}` is not translated (only Elect, Deliver, FlushLog, \
                 FlushEpoch and one Write are: no crash or restart mid-trace, link break, \
                 timer, sync, isolation, forwarding or snapshot)"
            ))
        }
    })
}

/// Reads a trace `zabkeeper-check … --trace-out` wrote (`FILE.json`).
pub fn parse(text: &str) -> Result<Trace, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let initial = views(field(&v, "initial")?).map_err(|e| format!("initial state: {e}"))?;
    let mut steps = Vec::new();
    for s in field(&v, "steps")?
        .as_array()
        .ok_or("steps are not a list")?
    {
        let k = number(s, "step")? as usize;
        let text = field(s, "action")?.as_str().unwrap_or_default();
        let a = action(k, text)?;
        let servers = views(field(s, "servers")?).map_err(|e| format!("step {k}: {e}"))?;
        steps.push((a, servers));
    }
    Ok(Trace {
        property: field(&v, "property")?.as_str().unwrap_or_default().into(),
        initial,
        steps,
    })
}

/// What the simulation plays (see the module doc).
#[derive(Clone, Debug)]
pub struct Schedule {
    pub n: usize,
    /// Pairs `(a, b)`, `a < b`, the trace delivers on after the election: never held.
    pub open: BTreeSet<(usize, usize)>,
    /// The server the client writes to.
    pub writer: usize,
    /// Servers whose disk the trace ends without the txn: their fsync stalls from the write.
    pub stalled: BTreeSet<usize>,
    /// Servers the trace ends with the txn committed: the end of the trace.
    pub committed: BTreeSet<usize>,
    /// Every server's role at the write.
    pub at_write: Vec<Role>,
    /// Per server, the distinct roles the trace takes it through, in order.
    pub roles: Vec<Vec<Role>>,
}

/// The schedule of `trace`, or why it cannot be replayed.
pub fn translate(trace: &Trace) -> Result<Schedule, String> {
    let n = trace.initial.len();
    if n != 3 {
        return Err(format!("{n} servers: only 3 are translated"));
    }
    for (i, s) in trace.initial.iter().enumerate() {
        if s.role.state != "LOOKING"
            || !s.log.is_empty()
            || !s.disk_log.is_empty()
            || s.disk_epochs != (0, 0)
        {
            return Err(format!(
                "initial state: s{} is not a fresh server (the sim starts from empty disks)",
                i + 1
            ));
        }
    }
    if trace.steps.first().map(|s| s.0) != Some(Action::Elect) {
        return Err("step 1 is not the election (`Elect`)".into());
    }
    let mut open = BTreeSet::new();
    let mut write = None;
    for (k, (a, servers)) in trace.steps.iter().enumerate().skip(1) {
        match *a {
            Action::Elect => return Err(format!("step {}: a second election", k + 1)),
            Action::Deliver { from, to } => {
                open.insert((from.min(to), from.max(to)));
            }
            Action::Write { server } => {
                if write.is_some() {
                    return Err(format!(
                        "step {}: a second client write (one is translated)",
                        k + 1
                    ));
                }
                let txn = servers[server]
                    .log
                    .last()
                    .cloned()
                    .ok_or_else(|| format!("step {}: the write logged nothing", k + 1))?;
                write = Some((k, server, txn));
            }
            Action::FlushLog | Action::FlushEpoch => {}
        }
    }
    let (at, writer, txn) = write.ok_or("no client write in the trace")?;
    let last = &trace.steps.last().expect("at least the election").1;
    for (i, s) in last.iter().enumerate() {
        if (s.role.accepted, s.role.current) != s.disk_epochs {
            return Err(format!(
                "s{} ends with an epoch write not on its disk (epoch stalls are not translated)",
                i + 1
            ));
        }
    }
    let stalled = (0..n)
        .filter(|&i| !last[i].disk_log.contains(&txn))
        .collect();
    let committed = (0..n).filter(|&i| last[i].committed == txn).collect();
    let at_write = trace.steps[at].1.iter().map(|s| s.role.clone()).collect();
    let mut roles: Vec<Vec<Role>> = vec![Vec::new(); n];
    for (_, servers) in &trace.steps {
        for (i, s) in servers.iter().enumerate() {
            if roles[i].last() != Some(&s.role) {
                roles[i].push(s.role.clone());
            }
        }
    }
    Ok(Schedule {
        n,
        open,
        writer,
        stalled,
        committed,
        at_write,
        roles,
    })
}

/// What a replay's driver and its client tell each other (in `World`).
#[derive(Debug, Default)]
pub(crate) struct Flags {
    /// Driver: connect to this server.
    connect: Option<usize>,
    /// Client: its session is established.
    session: bool,
    /// Driver: send the write.
    create: bool,
    /// Client: the write returned (answered or failed).
    answered: bool,
    /// Driver: read every key from every server.
    read: bool,
    /// Per server, the distinct roles its replayed core went through, after every step
    /// ([`record_role`]); `None` outside a replay and from the power loss on.
    roles: Option<Vec<Vec<Role>>>,
}

/// After a step of server `i`'s core: its role, if it changed, joins the replay's record.
pub(crate) fn record_role(w: &mut World, i: usize) {
    let role = w.trace.as_ref().and_then(|t| t.node(i)).map(Role::of);
    if let (Some(roles), Some(role)) = (&mut w.replay.roles, role) {
        if roles[i].last() != Some(&role) {
            roles[i].push(role);
        }
    }
}

/// Which parts of the schedule a replay plays (all, but for the test that shows they matter).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Hold the links the trace does not deliver on.
    pub holds: bool,
    /// Stall the fsyncs of the servers the trace ends without the txn on disk.
    pub stalls: bool,
}

impl Options {
    pub const ALL: Options = Options {
        holds: true,
        stalls: true,
    };
}

/// What a replay saw and found.
#[derive(Debug)]
pub struct Replayed {
    /// Events and the violations of the simulation's checks (as in every seed).
    pub outcome: Outcome,
    /// The simulation went through the trace's roles (see the module doc), or how it did not.
    pub followed: Result<(), String>,
    /// The end of the trace was reached before the epilogue.
    pub reached: bool,
}

#[derive(Debug)]
enum Phase {
    Electing,
    Syncing,
    Connecting,
    Written {
        at: u64,
        zxid: Zxid,
        reached: Option<u64>,
    },
    Restarting {
        rest: Vec<usize>,
    },
    Rejoining,
    Reading,
}

fn sleep_ms(ms: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(ms))
}

/// The replay's client: connects where told, writes `/k0` when told, then reads every key from
/// every server when told.
async fn client(servers: Vec<SocketAddr>, w: Shared) {
    let writer = loop {
        if let Some(s) = world(&w).replay.connect {
            break s;
        }
        sleep_ms(1).await;
    };
    let mut c = loop {
        match Client::connect(servers[writer], 4_000).await {
            Ok(c) => break c,
            Err(_) => sleep_ms(10).await,
        }
    };
    {
        let mut w = world(&w);
        w.sessions.exempt.insert(c.session_id);
        w.event(format!("replay connected to n{}", writer + 1));
        w.replay.session = true;
    }
    while !world(&w).replay.create {
        sleep_ms(1).await;
    }
    let _ = record(&w, "replay", &mut c, 0, Call::Create { value: 1 }).await;
    world(&w).replay.answered = true;
    drop(c);
    while !world(&w).replay.read {
        sleep_ms(5).await;
    }
    for (s, addr) in servers.iter().enumerate() {
        let who = format!("checker@n{}", s + 1);
        let mut key = 0;
        while key < KEYS {
            let mut c = match Client::connect(*addr, 4_000).await {
                Ok(c) => c,
                Err(_) => {
                    sleep_ms(50).await;
                    continue;
                }
            };
            world(&w).sessions.exempt.insert(c.session_id);
            while key < KEYS {
                if record(&w, &who, &mut c, key, Call::Read).await.is_err() {
                    break;
                }
                key += 1;
            }
        }
    }
}

/// Plays `schedule` on three real servers running the core mutant `bug` (see the module doc).
pub fn run(schedule: &Schedule, bug: Option<Bug>, options: Options) -> Replayed {
    let n = schedule.n;
    let shared: Shared = Arc::new(Mutex::new(World {
        runs: vec![Vec::new(); n],
        serving: vec![(false, false); n],
        trace: Some(Validator::new(n)),
        replay: Flags {
            roles: Some(vec![Vec::new(); n]),
            ..Flags::default()
        },
        ..World::default()
    }));
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_millis(DEADLINE_MS + 5_000))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(2))
        .rng_seed(0)
        .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_767_225_600))
        .build();
    let disks: Vec<SimDisk> = (0..n).map(|_| SimDisk::new()).collect();
    let graves: Vec<Arc<Graves>> = (0..n).map(|_| Arc::default()).collect();
    let base_fsync = 1;
    let fsync_ms: Vec<Arc<AtomicU64>> = (0..n)
        .map(|_| Arc::new(AtomicU64::new(base_fsync)))
        .collect();
    let mutants = Mutants {
        core_bug: bug,
        ..Mutants::default()
    };
    for i in 0..n {
        add_server(
            &mut sim,
            i,
            n,
            false,
            &shared,
            &disks[i],
            &graves[i],
            &fsync_ms[i],
            0,
            mutants,
        );
    }
    let servers: Vec<SocketAddr> = (0..n)
        .map(|i| SocketAddr::new(sim.lookup(host(i)), CLIENT_PORT))
        .collect();
    {
        let w = Arc::clone(&shared);
        sim.client("replay", async move {
            client(servers, w).await;
            Ok(())
        });
    }
    let mut phase = Phase::Electing;
    let mut held: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut followed = Ok(());
    let mut reached = false;
    loop {
        let now = sim.elapsed().as_millis() as u64;
        let mut w = world(&shared);
        w.now_ms = now;
        let node_state = |w: &World, i: usize, f: &dyn Fn(&Node) -> bool| {
            w.trace.as_ref().and_then(|t| t.node(i)).is_some_and(f)
        };
        let mut power_loss = false;
        match &mut phase {
            Phase::Electing => {
                let seen = w
                    .replay
                    .roles
                    .as_ref()
                    .expect("recording until the power loss");
                let decided = |i: usize| seen[i].iter().any(|r| r.state != "LOOKING");
                let decided: Vec<bool> = (0..n).map(decided).collect();
                for a in 0..n {
                    for b in a + 1..n {
                        if options.holds
                            && !schedule.open.contains(&(a, b))
                            && !held.contains(&(a, b))
                            && decided[a]
                            && decided[b]
                        {
                            sim.hold(host(a).as_str(), host(b).as_str());
                            held.insert((a, b));
                            w.event(format!("replay: hold n{}–n{}", a + 1, b + 1));
                        }
                    }
                }
                if decided.iter().all(|d| *d) {
                    phase = Phase::Syncing;
                }
            }
            Phase::Syncing => {
                let ready = w.serving[schedule.writer] == (true, true)
                    && (0..n).all(|i| {
                        schedule.at_write[i].phase.as_deref() != Some("Broadcast") || w.serving[i].0
                    });
                if ready {
                    w.replay.connect = Some(schedule.writer);
                    phase = Phase::Connecting;
                }
            }
            Phase::Connecting => {
                let serving: Vec<usize> = (0..n).filter(|&i| w.serving[i].0).collect();
                let quiet = w.replay.session
                    && serving.iter().all(|&i| {
                        node_state(&w, i, &|node| {
                            node.durable_zxid() == node.last_zxid()
                                && node.committed_zxid() == node.last_zxid()
                        })
                    });
                if quiet {
                    let last = w
                        .trace
                        .as_ref()
                        .and_then(|t| t.node(schedule.writer))
                        .map_or(Zxid::ZERO, Node::last_zxid);
                    if options.stalls {
                        for &i in &schedule.stalled {
                            fsync_ms[i].store(STALL_MS, Ordering::Relaxed);
                        }
                        w.event(format!(
                            "replay: fsync stalled on {:?}",
                            schedule
                                .stalled
                                .iter()
                                .map(|&i| host(i))
                                .collect::<Vec<_>>()
                        ));
                    }
                    w.replay.create = true;
                    let zxid = last.next().expect("no rollover in a replay");
                    w.event(format!("replay: write, expected at {:#x}", zxid.0));
                    phase = Phase::Written {
                        at: now,
                        zxid,
                        reached: None,
                    };
                }
            }
            Phase::Written {
                at,
                zxid,
                reached: end,
            } => {
                let zxid = *zxid;
                if end.is_none()
                    && schedule
                        .committed
                        .iter()
                        .all(|&i| node_state(&w, i, &|node| node.committed_zxid() >= zxid))
                {
                    *end = Some(now);
                    reached = true;
                    w.event("replay: the end of the trace reached".into());
                }
                power_loss = match end {
                    Some(t) => w.replay.answered || now >= *t + ANSWER_MS,
                    None => now >= *at + FOLLOW_MS,
                };
            }
            Phase::Restarting { rest } => {
                let first: Vec<usize> = (0..n).filter(|i| !rest.contains(i)).collect();
                if first.iter().any(|&i| w.serving[i] == (true, true))
                    && first.iter().all(|&i| w.serving[i].0)
                {
                    for &i in rest.iter() {
                        sim.bounce(host(i));
                    }
                    w.event(format!("replay: restart {:?}", rest));
                    phase = Phase::Rejoining;
                }
            }
            Phase::Rejoining => {
                if (0..n).all(|i| w.serving[i].0) {
                    w.replay.read = true;
                    phase = Phase::Reading;
                }
            }
            Phase::Reading => {}
        }
        drop(w);
        if power_loss {
            let seen = world(&shared).replay.roles.take().unwrap_or_default();
            followed = follows(schedule, &seen);
            for i in 0..n {
                crash(&mut sim, &graves, i, &shared);
                disks[i].crash();
                crash_noted(&shared, i);
                fsync_ms[i].store(base_fsync, Ordering::Relaxed);
            }
            for (a, b) in std::mem::take(&mut held) {
                sim.release(host(a).as_str(), host(b).as_str());
            }
            let first: Vec<usize> = if schedule.stalled.len() * 2 > n {
                schedule.stalled.iter().copied().collect()
            } else {
                (0..n).collect()
            };
            for &i in &first {
                sim.bounce(host(i));
            }
            world(&shared).event(format!(
                "replay: power loss, every link released; restart {first:?} first"
            ));
            phase = Phase::Restarting {
                rest: (0..n).filter(|i| !first.contains(i)).collect(),
            };
        }
        if step_or_stop(&mut sim, &shared) {
            break;
        }
        if now > DEADLINE_MS {
            world(&shared).violations.push(format!(
                "liveness: the replay did not finish within {DEADLINE_MS} ms (in {phase:?})"
            ));
            break;
        }
    }
    drop(sim);
    let mut w = std::mem::take(&mut *world(&shared));
    check(&mut w);
    if let Some(mut t) = w.trace.take() {
        let violations = t.finish();
        w.violations.extend(violations);
    }
    Replayed {
        outcome: Outcome {
            events: w.events,
            violations: w.violations,
            ops: w.ops.len(),
            ..Outcome::default()
        },
        followed,
        reached,
    }
}

/// Each server's trace roles are a subsequence of the roles it went through in the simulation.
fn follows(schedule: &Schedule, seen: &[Vec<Role>]) -> Result<(), String> {
    for (i, want) in schedule.roles.iter().enumerate() {
        let mut it = seen[i].iter();
        if let Some(missing) = want.iter().find(|r| !it.any(|s| s == *r)) {
            return Err(format!(
                "n{} never went through {missing:?} in the trace's order; it went through {:?}",
                i + 1,
                seen[i]
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLLOWER_ACK: &str = include_str!("../traces/follower-ack-before-durable.json");
    const LEADER_SELF_ACK: &str = include_str!("../traces/leader-self-ack-before-durable.json");
    const APPLIES_UNCOMMITTED: &str = include_str!("../traces/follower-applies-uncommitted.json");

    fn schedule(text: &str) -> Schedule {
        translate(&parse(text).expect("parses")).expect("translates")
    }

    /// Replays `text` with and without the mutant `bug` and prints both.
    fn both(text: &str, bug: &str, options: Options) -> (Replayed, Replayed) {
        let s = schedule(text);
        let bug = Bug::from_name(bug).expect("a mutant");
        let with = run(&s, Some(bug), options);
        let without = run(&s, None, options);
        for (name, r) in [("with", &with), ("without", &without)] {
            println!(
                "--- {name} the mutant ({}): followed {:?}, reached {}",
                parse(text).expect("parses").property,
                r.followed,
                r.reached
            );
            for e in &r.outcome.events {
                println!("{e}");
            }
            for v in &r.outcome.violations {
                println!("VIOLATION: {v}");
            }
        }
        (with, without)
    }

    /// The violations of a replay whose wording contains `what`.
    fn caught<'a>(r: &'a Replayed, what: &str) -> Vec<&'a String> {
        r.outcome
            .violations
            .iter()
            .filter(|v| v.contains(what))
            .collect()
    }

    /// With the mutant the replay follows the trace to its end and fails the named checks;
    /// without it (the same schedule) it follows the trace's roles, cannot reach the end (the
    /// write does not commit without the mutant), and passes every check.
    fn replay_catches(text: &str, bug: &str, checks: &[&str]) {
        let (with, without) = both(text, bug, Options::ALL);
        assert_eq!(with.followed, Ok(()), "{bug}: the replay left the trace");
        assert!(
            with.reached,
            "{bug}: the replay did not reach the trace's end"
        );
        for check in checks {
            assert!(
                !caught(&with, check).is_empty(),
                "{bug}: no violation `{check}` in {:?}",
                with.outcome.violations
            );
        }
        assert_eq!(
            without.followed,
            Ok(()),
            "{bug} off: the replay left the trace"
        );
        assert!(!without.reached, "{bug} off: the trace's end reached");
        assert!(
            without.outcome.violations.is_empty(),
            "{bug} off: {:?}",
            without.outcome.violations
        );
    }

    /// The create is acknowledged by the leader on its own durable copy and the follower's
    /// early ACK; the power loss takes the follower's copy; the two servers without it elect
    /// and serve: the acknowledged create is gone (not linearizable) and their next txn comes
    /// after the session txn, skipping the agreed one (prefix).
    #[test]
    fn replay_follower_ack_before_durable() {
        replay_catches(
            FOLLOWER_ACK,
            "follower-ack-before-durable",
            &[
                "/k0: the history is not linearizable",
                "skipping the committed",
            ],
        );
    }

    /// The leader counts its own ACK before its fsync; the follower's durable copy commits the
    /// txn and the follower applies it; the power loss takes the leader's copy; the leader and
    /// the third server elect without it: their next txn skips the txn the follower applied
    /// (prefix). The leader does not apply (its runtime waits for its own fsync), so the client
    /// has no answer: linearizability cannot tell.
    #[test]
    fn replay_leader_self_ack_before_durable() {
        replay_catches(
            LEADER_SELF_ACK,
            "leader-self-ack-before-durable",
            &["skipping the committed"],
        );
    }

    /// The follower applies its durable copy without a COMMIT; the leader never commits (its
    /// fsync stalls); the power loss takes the leader's copy; the leader and the third server
    /// elect without it: their next txn skips the txn the follower applied (agreement/prefix).
    #[test]
    fn replay_follower_applies_uncommitted() {
        replay_catches(
            APPLIES_UNCOMMITTED,
            "follower-applies-uncommitted",
            &["skipping the committed"],
        );
    }

    /// The translation carries the trace's disk timing: the same schedule with the mutant but
    /// without the fsync stalls (with or without the link holds) reaches the trace's end — the
    /// txn commits — and is caught by no check, for each of the three traces. (Without the holds
    /// but with the stalls the mutants are still caught: the third server's fsync is stalled too,
    /// so it adds no durable copy; the holds make the replay follow the trace's deliveries, which
    /// `followed` checks, not the catch.)
    #[test]
    fn replay_needs_the_traces_disk_timing() {
        for (text, bug) in [
            (FOLLOWER_ACK, "follower-ack-before-durable"),
            (LEADER_SELF_ACK, "leader-self-ack-before-durable"),
            (APPLIES_UNCOMMITTED, "follower-applies-uncommitted"),
        ] {
            let s = schedule(text);
            let b = Bug::from_name(bug).expect("a mutant");
            for holds in [true, false] {
                let r = run(
                    &s,
                    Some(b),
                    Options {
                        holds,
                        stalls: false,
                    },
                );
                assert!(r.reached, "{bug}, holds {holds}: the end not reached");
                assert!(
                    r.outcome.violations.is_empty(),
                    "{bug}, holds {holds}, no stalls: {:?}",
                    r.outcome.violations
                );
            }
        }
    }

    /// A replay is a function of its schedule: run again in the same process, it gives the
    /// same event log and violations.
    #[test]
    fn a_replay_run_twice_gives_the_same_event_log() {
        let s = schedule(FOLLOWER_ACK);
        let bug = Bug::from_name("follower-ack-before-durable");
        let a = run(&s, bug, Options::ALL);
        let b = run(&s, bug, Options::ALL);
        assert!(a.outcome.events.len() > 10, "too few events to compare");
        assert_eq!(a.outcome.events, b.outcome.events);
        assert_eq!(a.outcome.violations, b.outcome.violations);
    }

    /// `FOLLOWER_ACK` with `edit` applied to its JSON, translated.
    fn edited(edit: impl FnOnce(&mut Value)) -> Result<Schedule, String> {
        let mut v: Value = serde_json::from_str(FOLLOWER_ACK).expect("JSON");
        edit(&mut v);
        parse(&v.to_string()).and_then(|t| translate(&t))
    }

    fn refused(edit: impl FnOnce(&mut Value), why: &str) {
        match edited(edit) {
            Ok(s) => panic!("translated, not refused ({why}): {s:?}"),
            Err(e) => assert!(e.contains(why), "refused with {e:?}, not for {why:?}"),
        }
    }

    #[test]
    fn the_translation_of_a_trace() {
        let s = schedule(FOLLOWER_ACK);
        assert_eq!(s.open, BTreeSet::from([(0, 2)]));
        assert_eq!(s.writer, 2);
        assert_eq!(s.stalled, BTreeSet::from([0, 1]));
        assert_eq!(s.committed, BTreeSet::from([2]));
        let s = schedule(LEADER_SELF_ACK);
        assert_eq!(
            (s.stalled, s.committed),
            (BTreeSet::from([1, 2]), BTreeSet::from([0]))
        );
        assert!(edited(|_| {}).is_ok());
    }

    #[test]
    fn traces_with_what_is_not_translated_are_refused() {
        for (action, word) in [
            ("Crash { server: 0 }", "Crash"),
            ("Restart { server: 0 }", "Restart"),
            ("BreakLink { a: 0, b: 2 }", "BreakLink"),
            ("Timeout { server: 0, timer: SyncLimit }", "Timeout"),
            ("Sync { server: 2 }", "Sync"),
            ("Isolate { server: 1 }", "Isolate"),
            ("Forward { server: 0 }", "Forward"),
            ("Snapshot { server: 2 }", "Snapshot"),
        ] {
            refused(
                |v| v["steps"][4]["action"] = Value::from(action),
                &format!("step 5: `{word}"),
            );
        }
        refused(
            |v| v["steps"][0]["action"] = Value::from("Deliver { from: 0, to: 2 }"),
            "step 1 is not the election",
        );
        refused(
            |v| v["steps"][4]["action"] = Value::from("Elect"),
            "a second election",
        );
        refused(
            |v| v["steps"][14]["action"] = Value::from("Write { server: 2 }"),
            "a second client write",
        );
        refused(
            |v| v["steps"][13]["action"] = Value::from("FlushLog { server: 0 }"),
            "no client write",
        );
        refused(
            |v| v["initial"][1]["disk"]["current_epoch"] = Value::from(1),
            "not a fresh server",
        );
        refused(
            |v| {
                let last = v["steps"].as_array().unwrap().len() - 1;
                v["steps"][last]["servers"][0]["disk"]["current_epoch"] = Value::from(0);
            },
            "epoch write not on its disk",
        );
        refused(
            |v| v["steps"][3]["servers"][0] = serde_json::json!({"state": "CRASHED", "disk": {}}),
            "crashes mid-trace",
        );
        refused(
            |v| {
                let s = v["initial"][0].clone();
                v["initial"].as_array_mut().unwrap().push(s);
            },
            "4 servers",
        );
    }
}
