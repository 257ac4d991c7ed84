//! One seeded run: N real servers (`zabkeeper::server::run_with`, the same runtime code the
//! binary runs) on turmoil's simulated network and clock, each on a [`SimDisk`] and a task log
//! writer; simulated clients over the real client protocol; faults chosen by the seed; then the
//! checks. Everything that varies comes from the seed: turmoil's RNG (message latencies, host
//! order each step), and the [`Rng`] below (faults, clients' operations).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use zabkeeper::config::ServerConfig;
use zabkeeper::protocol::{DurableState, Effect, Input, NodeConfig};
use zabkeeper::server::clock::WallClock;
use zabkeeper::server::shared::Observer;
use zabkeeper::server::storage_exec::{FsyncDelay, LogWriter};
use zabkeeper::server::{run_with, DriverPlacement, Seams};

use crate::client::Client;
use crate::disk::{SimDisk, INJECTED_FSYNC_ERROR};
use crate::lin::{self, Call, Op, Ret};
use crate::sessions::{self, session_worker, Log, SESSION_CLIENTS};
use crate::trace::Validator;

mod faults;
mod net;
pub(crate) mod replay;
use faults::{apply_undo, inject, Undo};
use net::{Graves, SimNet};

/// Ports every simulated server uses on its own address.
const CLIENT_PORT: u16 = 2181;
const QUORUM_PORT: u16 = 2888;
const ELECTION_PORT: u16 = 3888;
/// The znodes the clients work on.
pub(crate) const KEYS: usize = 3;
/// Simulated clients (besides the final checker).
const CLIENTS: usize = 3;
/// Operations per client, at most.
const OPS_PER_CLIENT: usize = 60;
/// Faults are injected from `FAULTS_FROM` until `HEAL_AT` (simulated ms); then every fault is
/// undone and the checker must read every key from every server by `HEAL_AT + LIVENESS_MS`.
const FAULTS_FROM: u64 = 800;
const HEAL_AT: u64 = 5_000;
const LIVENESS_MS: u64 = 25_000;

/// A run's parameters.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    /// Voters: 3 or 5 (5 also runs one observer).
    pub nodes: usize,
    /// Runtime mutant (`ack-before-fsync`), if any.
    pub bug: Option<String>,
    /// Also inject `bridge` partitions: on unless `SIM_BRIDGE=0` (off: the partition draws
    /// split three ways, the schedules from before bridges).
    pub bridge: bool,
    /// Also inject `pause` faults: on unless `SIM_PAUSE=0` (off: the crash draws are all
    /// crashes, the schedules from before pauses). A server, the leader if there is one, not
    /// scheduled for 300–1,500 ms (the patched turmoil's `Sim::pause`).
    pub pause: bool,
}

/// What a run saw and found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every event in order (faults, servers serving, clients' calls and answers).
    pub events: Vec<String>,
    /// Checks that failed (empty: the run passed).
    pub violations: Vec<String>,
    /// Client operations answered or given up on.
    pub ops: usize,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, usize>,
    /// Server steps the trace validation checked.
    pub trace_steps: u64,
    /// Requests of the session clients, notifications they got, sessions created.
    pub session_ops: usize,
    pub notifications: usize,
    pub sessions: usize,
    /// Latest a session was closed past `max(last contact, heal) + timeout` (ms; `sessions.rs`).
    pub expiry_lateness_ms: i64,
    /// What the session checks noted without failing the run (`sessions.rs` (e)).
    pub session_notes: Vec<String>,
}

/// SplitMix64: the seed's own random numbers (faults, clients).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A client's operation as recorded for the checks.
#[derive(Clone, Debug)]
struct Recorded {
    key: usize,
    op: Op,
    /// (session, xid, zxid) of an acknowledged create/setData.
    acked: Option<(i64, i32, i64)>,
}

/// One applied txn: its bytes' hash and its header's session and xid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Applied {
    hash: u64,
    session: i64,
    cxid: i32,
}

/// Everything the servers, the clients and the driver share (one thread: turmoil runs every
/// host on the test's thread).
#[derive(Default)]
pub(crate) struct World {
    events: Vec<String>,
    seq: u64,
    pub(crate) now_ms: u64,
    ops: Vec<Recorded>,
    /// Per server: runs of applied zxids, a new run at every start and snapshot install.
    runs: Vec<Vec<Vec<u64>>>,
    /// zxid → the txn the first server to apply it applied.
    agreed: BTreeMap<u64, Applied>,
    /// Per server: (serving, leading).
    serving: Vec<(bool, bool)>,
    violations: Vec<String>,
    pub(crate) stop_clients: bool,
    healed: bool,
    clients_done: usize,
    connection_losses: usize,
    /// Servers that stopped on an injected fsync failure (`fsync_fail`), as they must.
    fsync_fail_stops: usize,
    /// Every server's steps, checked as they happen (`trace.rs`); `None` with `SIM_NO_TRACE`.
    trace: Option<Validator>,
    trace_steps: u64,
    /// Sessions, ephemerals and watches (`sessions.rs`).
    pub(crate) sessions: Log,
    /// What a trace replay's driver and its client tell each other (`replay.rs`).
    replay: replay::Flags,
}

pub(crate) type Shared = Arc<Mutex<World>>;

pub(crate) fn world(w: &Shared) -> MutexGuard<'_, World> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

/// One step of the simulation; true when the run ends: every client finished, or turmoil
/// reported an error (recorded as a violation).
fn step_or_stop(sim: &mut turmoil::Sim<'_>, shared: &Shared) -> bool {
    match sim.step() {
        Ok(done) => done,
        Err(e) => {
            world(shared)
                .violations
                .push(format!("simulation error: {e}"));
            true
        }
    }
}

impl World {
    pub(crate) fn event(&mut self, text: String) {
        let line = format!("{:>6}ms {text}", self.now_ms);
        self.events.push(line);
    }
    fn tick(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The server side of the checks: what one server says it serves and applies.
struct NodeObserver {
    id: usize,
    world: Shared,
}

impl Observer for NodeObserver {
    fn serving(&self, serving: bool, leading: bool, last_zxid: u64) {
        let mut w = world(&self.world);
        w.serving[self.id] = (serving, leading);
        let what = match (serving, leading) {
            (true, true) => "leads",
            (true, false) => "serves",
            (false, _) => "stops serving",
        };
        w.event(format!("n{} {what} at {last_zxid:#x}", self.id + 1));
    }

    fn applied(&self, zxid: u64, data: &[u8]) {
        let (session, cxid) = match zabkeeper::tree::txn::decode_logged(data) {
            Ok((hdr, _, _)) => (hdr.client_id, hdr.cxid),
            Err(_) => (0, 0),
        };
        let txn = Applied {
            hash: fnv(data),
            session,
            cxid,
        };
        let mut w = world(&self.world);
        let now = w.now_ms;
        w.sessions.applied(self.id, zxid, data, now);
        if let Some(run) = w.runs[self.id].last_mut() {
            run.push(zxid);
        }
        match w.agreed.get(&zxid) {
            None => {
                w.agreed.insert(zxid, txn);
            }
            Some(first) if *first != txn => {
                let v = format!(
                    "n{} applied a different txn at {zxid:#x} than an earlier server",
                    self.id + 1
                );
                w.violations.push(v);
            }
            Some(_) => {}
        }
    }

    fn node_built(&self, config: &NodeConfig, durable: &DurableState) {
        let mut w = world(&self.world);
        if let Some(t) = &mut w.trace {
            t.node_built(self.id, config, durable);
        }
        replay::record_role(&mut w, self.id);
    }

    fn stepped(&self, input: &Input, effects: &[Effect]) {
        let mut w = world(&self.world);
        if let Some(t) = &mut w.trace {
            t.stepped(self.id, input, effects);
        }
        replay::record_role(&mut w, self.id);
    }

    fn tree(&self, tree: &zabkeeper::tree::DataTree) {
        world(&self.world).sessions.tree(self.id, tree);
    }

    fn installed(&self, base: u64) {
        let mut w = world(&self.world);
        w.runs[self.id].push(Vec::new());
        w.event(format!(
            "n{} installed a snapshot at {base:#x}",
            self.id + 1
        ));
    }
}

/// The simulated clocks: turmoil's elapsed time, the wall clock skewed per server.
struct SimClock {
    skew_ms: i64,
}

impl WallClock for SimClock {
    fn wall_ms(&self) -> i64 {
        let since = turmoil::since_epoch().unwrap_or_default();
        since.as_millis() as i64 + self.skew_ms
    }
    fn monotonic_ms(&self) -> u64 {
        turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64
    }
}

fn host(i: usize) -> String {
    format!("n{}", i + 1)
}

/// Server `i`'s zoo.cfg (`hosts` servers, the last an observer when `observer`).
fn config(i: usize, hosts: usize, observer: bool) -> ServerConfig {
    let mut text = String::from(
        "tickTime=50\ninitLimit=10\nsyncLimit=5\ndataDir=/sim\nclientPort=2181\n\
         maxClientCnxns=0\nsnapCount=40\ncommitLogCount=8\n",
    );
    for j in 0..hosts {
        let ip = turmoil::lookup(host(j));
        let role = if observer && j == hosts - 1 {
            ":observer"
        } else {
            ""
        };
        text.push_str(&format!(
            "server.{}={ip}:{QUORUM_PORT}:{ELECTION_PORT}{role}\n",
            j + 1
        ));
    }
    if observer && i == hosts - 1 {
        text.push_str("peerType=observer\n");
    }
    ServerConfig::parse_with_myid(&text, |_| Ok(format!("{}\n", i + 1))).expect("sim zoo.cfg")
}

/// The mutants a server runs with: the runtime's (`ack-before-fsync`, `ignore-fsync-failure`,
/// `watch-after-reply`) and the core's (`NodeConfig::bug`: `revalidate-without-quorum` by
/// `SIM_BUG`, any by a trace replay, `replay.rs`).
#[derive(Clone, Copy, Default)]
struct Mutants {
    ack_before_fsync: bool,
    ignore_fsync_failure: bool,
    watch_after_reply: bool,
    core_bug: Option<zabkeeper::protocol::Bug>,
}

/// Adds server `i` of `hosts` (the last an observer when `observer`) to the simulation: the real
/// runtime on `disk`, turmoil's network (`graves`: net.rs), the fsync delay `fsync` (ms), its
/// wall clock skewed by `skew_ms`, reporting to the world.
#[allow(clippy::too_many_arguments)]
fn add_server(
    sim: &mut turmoil::Sim<'_>,
    i: usize,
    hosts: usize,
    observer: bool,
    shared: &Shared,
    disk: &SimDisk,
    graves: &Arc<Graves>,
    fsync: &Arc<AtomicU64>,
    skew_ms: i64,
    mutants: Mutants,
) {
    let Mutants {
        ack_before_fsync,
        ignore_fsync_failure,
        watch_after_reply,
        core_bug,
    } = mutants;
    let disk = disk.clone();
    let fsync = Arc::clone(fsync);
    let w = Arc::clone(shared);
    let graves = Arc::clone(graves);
    sim.host(host(i), move || {
        // Before the server opens a stream (net.rs: a crash closes them in a fixed order).
        tokio::task::spawn_local(graves.undertaker());
        let transport = SimNet {
            graves: Arc::clone(&graves),
        };
        let disk = disk.clone();
        let disk_seen = disk.clone();
        let fsync = Arc::clone(&fsync);
        let w = Arc::clone(&w);
        async move {
            let config = config(i, hosts, observer);
            world(&w).runs[i].push(Vec::new());
            let delay: FsyncDelay =
                Arc::new(move || Duration::from_millis(fsync.load(Ordering::Relaxed)));
            let seams = Seams {
                transport,
                recover: Box::new(move |config, clock| disk.recover(config, clock)),
                purge: None,
                log_writer: LogWriter::Task {
                    fsync_delay: Some(delay),
                    ack_before_fsync,
                    ignore_fsync_failure,
                },
                driver_placement: DriverPlacement::Task,
                clock: Arc::new(SimClock { skew_ms }),
                observer: Some(Arc::new(NodeObserver {
                    id: i,
                    world: Arc::clone(&w),
                })),
                watch_after_reply,
                core_bug,
            };
            let result = run_with(config, seams, std::future::pending::<()>()).await;
            let mut w = world(&w);
            w.serving[i] = (false, false);
            if let Some(t) = &mut w.trace {
                t.crashed(i);
            }
            match result {
                Ok(()) => w.event(format!("n{} stopped", i + 1)),
                Err(e) => {
                    let mut text = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        text.push_str(&format!(": {s}"));
                        source = s.source();
                    }
                    let e = text;
                    w.event(format!("n{} stopped: {e}", i + 1));
                    if accepted_stop(disk_seen.syncs_failing(), &e) {
                        w.fsync_fail_stops += 1;
                    }
                    // The one accepted stop: its disk's syncs fail (the `fsync_fail` fault)
                    // and the error is that failure.
                    if !accepted_stop(disk_seen.syncs_failing(), &e) {
                        w.violations.push(format!("n{} stopped: {e}", i + 1));
                    }
                }
            }
            Ok(())
        }
    });
}

/// Runs one seed.
pub fn run(params: &Params) -> Outcome {
    let voters = params.nodes;
    let observer = voters >= 5;
    let hosts = voters + usize::from(observer);
    let mut rng = Rng::new(params.seed);
    let shared: Shared = Arc::new(Mutex::new(World {
        runs: vec![Vec::new(); hosts],
        serving: vec![(false, false); hosts],
        trace: std::env::var_os("SIM_NO_TRACE")
            .is_none()
            .then(|| Validator::new(hosts)),
        ..World::default()
    }));
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_millis(HEAL_AT + LIVENESS_MS + 5_000))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(rng.range(2, 12)))
        .rng_seed(params.seed)
        // A fixed wall clock: the leader stamps txns with it and session ids are seeded by it.
        .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_767_225_600))
        .enable_random_order()
        .build();
    let mut faults: BTreeMap<&'static str, usize> = BTreeMap::new();
    let disks: Vec<SimDisk> = (0..hosts).map(|_| SimDisk::new()).collect();
    let graves: Vec<Arc<Graves>> = (0..hosts).map(|_| Arc::default()).collect();
    let base_fsync = rng.range(1, 6);
    let fsync_ms: Vec<Arc<AtomicU64>> = (0..hosts)
        .map(|_| Arc::new(AtomicU64::new(base_fsync)))
        .collect();
    let ack_before_fsync = params.bug.as_deref() == Some("ack-before-fsync");
    let ignore_fsync_failure = params.bug.as_deref() == Some("ignore-fsync-failure");
    let watch_after_reply = params.bug.as_deref() == Some("watch-after-reply");
    // A core mutant the models cannot reach (`Bug::NOT_IN_MODELS`), by its `--bug` name.
    let core_bug = params
        .bug
        .as_deref()
        .and_then(zabkeeper::protocol::Bug::from_name);
    for i in 0..hosts {
        let skew_ms = if rng.chance(30) {
            rng.range(0, 4_000) as i64 - 2_000
        } else {
            0
        };
        if skew_ms != 0 {
            *faults.entry("clock_skew").or_default() += 1;
        }
        add_server(
            &mut sim,
            i,
            hosts,
            observer,
            &shared,
            &disks[i],
            &graves[i],
            &fsync_ms[i],
            skew_ms,
            Mutants {
                ack_before_fsync,
                ignore_fsync_failure,
                watch_after_reply,
                core_bug,
            },
        );
    }
    let servers: Vec<SocketAddr> = (0..hosts)
        .map(|i| SocketAddr::new(sim.lookup(host(i)), CLIENT_PORT))
        .collect();
    for c in 0..CLIENTS {
        let w = Arc::clone(&shared);
        let servers = servers.clone();
        let crng = Rng::new(params.seed.wrapping_mul(31).wrapping_add(c as u64 + 1));
        sim.client(format!("c{c}"), async move {
            worker(c, crng, servers, w).await;
            Ok(())
        });
    }
    for c in 0..SESSION_CLIENTS {
        let w = Arc::clone(&shared);
        let servers = servers.clone();
        let crng = Rng::new(params.seed.wrapping_mul(37).wrapping_add(1_000 + c as u64));
        sim.client(format!("e{c}"), async move {
            session_worker(c, crng, servers, Arc::clone(&w)).await;
            world(&w).clients_done += 1;
            Ok(())
        });
    }
    {
        let w = Arc::clone(&shared);
        let servers = servers.clone();
        sim.client("checker", async move {
            checker(servers, w).await;
            Ok(())
        });
    }

    // The fault schedule, driven between simulation steps.
    let mut crashed: BTreeSet<usize> = BTreeSet::new();
    let mut network_fault = false;
    let mut undo: Vec<(u64, Undo)> = Vec::new();
    let mut next_fault = FAULTS_FROM + rng.range(0, 400);
    let max_crashed = (voters - 1) / 2;
    let deadline = HEAL_AT + LIVENESS_MS;
    let mut healed = false;
    loop {
        let now = sim.elapsed().as_millis() as u64;
        world(&shared).now_ms = now;
        if !healed && now >= HEAL_AT {
            healed = true;
            for (_, u) in undo.drain(..) {
                apply_undo(
                    &mut sim,
                    u,
                    &disks,
                    &graves,
                    &fsync_ms,
                    base_fsync,
                    &mut crashed,
                    &shared,
                );
            }
            network_fault = false;
            let mut w = world(&shared);
            w.stop_clients = true;
            w.healed = true;
            w.event("heal: every fault undone".into());
        }
        if !healed {
            let due: Vec<Undo> = {
                let (due, keep) = undo.drain(..).partition(|(at, _)| *at <= now);
                undo = keep;
                due.into_iter().map(|(_, u)| u).collect()
            };
            for u in due {
                if matches!(u, Undo::Repair(_) | Undo::Latency(_)) {
                    network_fault = false;
                }
                apply_undo(
                    &mut sim,
                    u,
                    &disks,
                    &graves,
                    &fsync_ms,
                    base_fsync,
                    &mut crashed,
                    &shared,
                );
            }
            if now >= next_fault {
                next_fault = now + rng.range(150, 700);
                let kind = inject(
                    &mut sim,
                    &mut rng,
                    now,
                    hosts,
                    max_crashed,
                    &mut crashed,
                    &mut network_fault,
                    &mut undo,
                    &disks,
                    &graves,
                    &fsync_ms,
                    &shared,
                    params.bridge,
                    params.pause,
                );
                if let Some(kind) = kind {
                    *faults.entry(kind).or_default() += 1;
                }
            }
        }
        if step_or_stop(&mut sim, &shared) {
            break;
        }
        if now > deadline {
            let mut w = world(&shared);
            let v = format!(
                "liveness: the checker did not read every key from every server within {LIVENESS_MS} ms of the heal"
            );
            w.violations.push(v);
            break;
        }
    }
    drop(sim);
    let mut w = std::mem::take(&mut *world(&shared));
    if w.connection_losses > 0 {
        faults.insert("connection_loss", w.connection_losses);
    }
    if w.fsync_fail_stops > 0 {
        faults.insert("fsync_fail_stopped", w.fsync_fail_stops);
    }
    check(&mut w);
    for (i, disk) in disks.iter().enumerate() {
        let n = disk.writes_after_failure();
        if n > 0 {
            w.violations.push(format!(
                "n{} wrote to its disk {n} times after a failed fsync",
                i + 1
            ));
        }
    }
    if let Some(mut t) = w.trace.take() {
        w.violations.extend(t.finish());
        w.trace_steps = t.steps;
    }
    let expiry_lateness_ms = sessions::check_expiry(&w.sessions, HEAL_AT, w.now_ms).1;
    Outcome {
        session_ops: w.sessions.ops,
        notifications: w.sessions.notifications,
        sessions: w.sessions.created(),
        expiry_lateness_ms,
        session_notes: std::mem::take(&mut w.sessions.notes),
        trace_steps: w.trace_steps,
        events: w.events,
        violations: w.violations,
        ops: w.ops.len(),
        faults,
    }
}

/// A server stopping with error `e` is accepted only while its disk's syncs fail (the
/// `fsync_fail` fault) and only with that failure as the error's last cause.
fn accepted_stop(syncs_failing: bool, e: &str) -> bool {
    syncs_failing && e.ends_with(INJECTED_FSYNC_ERROR)
}

fn value_of(call: &Call) -> String {
    match call {
        Call::Create { value } => format!("create v{value}"),
        Call::Set { value, version } => format!("set v{value} @{version}"),
        Call::Delete => "delete".into(),
        Call::Read => "read".into(),
    }
}

/// Performs `call` on `key` through `client`, recording its invocation and answer.
async fn record(
    w: &Shared,
    who: &str,
    client: &mut Client,
    key: usize,
    call: Call,
) -> io::Result<Ret> {
    let invoke = {
        let mut w = world(w);
        w.event(format!("{who} {} /k{key}", value_of(&call)));
        w.tick()
    };
    let answer = client.perform(&format!("/k{key}"), &call).await;
    let mut w = world(w);
    let now = w.now_ms;
    w.sessions.last_contact.insert(client.session_id, now);
    let (ret, returned, acked, result) = match answer {
        Ok(a) => {
            let acked = (matches!(a.ret, Ret::Ok | Ret::Version(_)) && a.zxid > 0).then_some((
                client.session_id,
                a.xid,
                a.zxid,
            ));
            (a.ret.clone(), Some(w.tick()), acked, Ok(a.ret))
        }
        Err(e) => (Ret::Unknown, None, None, Err(e)),
    };
    w.event(format!("{who} /k{key} -> {ret:?}"));
    w.ops.push(Recorded {
        key,
        op: Op {
            call,
            ret,
            invoke,
            returned,
        },
        acked,
    });
    result
}

/// A client: sessions on random servers, random operations on the keys, until told to stop.
async fn worker(c: usize, mut rng: Rng, servers: Vec<SocketAddr>, w: Shared) {
    let who = format!("c{c}");
    let mut done = 0;
    let mut versions = [0i32; KEYS];
    'sessions: while done < OPS_PER_CLIENT && !world(&w).stop_clients {
        let s = rng.range(0, servers.len() as u64) as usize;
        let mut client = match Client::connect(servers[s], 4_000).await {
            Ok(client) => client,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(rng.range(20, 100))).await;
                continue;
            }
        };
        world(&w).event(format!("{who} connected to n{}", s + 1));
        while done < OPS_PER_CLIENT && !world(&w).stop_clients {
            let key = rng.range(0, KEYS as u64) as usize;
            let value = (c as u64 + 1) * 1_000_000 + done as u64;
            let call = match rng.range(0, 100) {
                0..=19 => Call::Create { value },
                20..=39 => Call::Set { value, version: -1 },
                40..=59 => Call::Set {
                    value,
                    version: versions[key],
                },
                60..=71 => Call::Delete,
                _ => Call::Read,
            };
            done += 1;
            if call != Call::Read && rng.chance(4) {
                // Connection loss mid-write: the outcome stays unknown.
                let invoke = {
                    let mut w = world(&w);
                    w.event(format!("{who} {} /k{key}, then hangs up", value_of(&call)));
                    w.connection_losses += 1;
                    w.tick()
                };
                client.send_and_hang_up(&format!("/k{key}"), &call).await;
                world(&w).ops.push(Recorded {
                    key,
                    op: Op {
                        call,
                        ret: Ret::Unknown,
                        invoke,
                        returned: None,
                    },
                    acked: None,
                });
                continue 'sessions;
            }
            match record(&w, &who, &mut client, key, call).await {
                Ok(Ret::Value { version, .. }) | Ok(Ret::Version(version)) => {
                    versions[key] = version
                }
                Ok(_) => {}
                Err(_) => continue 'sessions,
            }
            tokio::time::sleep(Duration::from_millis(rng.range(0, 20))).await;
        }
    }
    let mut w = world(&w);
    w.clients_done += 1;
    w.event(format!("{who} done"));
}

/// After the heal: every key read (sync + getData) from every server, retried until each
/// answers; the run ends when it has.
async fn checker(servers: Vec<SocketAddr>, w: Shared) {
    loop {
        {
            let w = world(&w);
            if w.healed
                && w.clients_done == CLIENTS + SESSION_CLIENTS
                && sessions::all_closed(&w.sessions)
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (s, addr) in servers.iter().enumerate() {
        let who = format!("checker@n{}", s + 1);
        let mut key = 0;
        // Every key, then `/` (sessions.rs: no ephemeral of a closed session is listed).
        while key <= KEYS {
            let mut client = match Client::connect(*addr, 4_000).await {
                Ok(client) => client,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            world(&w).sessions.exempt.insert(client.session_id);
            while key < KEYS {
                if record(&w, &who, &mut client, key, Call::Read)
                    .await
                    .is_err()
                {
                    break;
                }
                key += 1;
            }
            if key == KEYS && sessions::list_root(&w, &who, &mut client).await.is_ok() {
                key += 1;
            }
        }
    }
}

/// The checks on a finished run.
fn check(w: &mut World) {
    let session_violations = sessions::check(&w.sessions, HEAL_AT, w.now_ms);
    w.violations.extend(session_violations);
    // Linearizability, per key.
    for key in 0..KEYS {
        let ops: Vec<Op> = w
            .ops
            .iter()
            .filter(|r| r.key == key)
            .map(|r| r.op.clone())
            .collect();
        match lin::check(&ops) {
            Some(true) => {}
            Some(false) => w
                .violations
                .push(format!("/k{key}: the history is not linearizable")),
            None => w.violations.push(format!(
                "/k{key}: the linearizability search ran out of budget"
            )),
        }
    }
    // No acknowledged write lost: its zxid was applied somewhere, as that client's request.
    let mut lost = Vec::new();
    for r in &w.ops {
        if let Some((session, xid, zxid)) = r.acked {
            match w.agreed.get(&(zxid as u64)) {
                Some(a) if a.session == session && a.cxid == xid => {}
                Some(_) => lost.push(format!(
                    "acknowledged write at {zxid:#x} (session {session:#x} xid {xid}): another txn was applied there"
                )),
                None => lost.push(format!(
                    "acknowledged write at {zxid:#x} (session {session:#x} xid {xid}) was never applied"
                )),
            }
        }
    }
    w.violations.extend(lost);
    // Every server's applied log is a gap-free run of the agreed log (so a prefix of the
    // longest), between restarts and snapshot installs.
    for (i, runs) in w.runs.iter().enumerate() {
        for run in runs {
            for pair in run.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                if b <= a {
                    w.violations
                        .push(format!("n{} applied {b:#x} after {a:#x}", i + 1));
                } else if let Some((&c, _)) = w.agreed.range(a + 1..b).next() {
                    w.violations.push(format!(
                        "n{} applied {b:#x} after {a:#x}, skipping the committed {c:#x}",
                        i + 1
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_injected_fsync_failure_is_an_accepted_stop() {
        let injected = format!(
            "log failed: storage failed: I/O error: fsync sim-disk: {INJECTED_FSYNC_ERROR}"
        );
        assert!(accepted_stop(true, &injected));
        // The same error while the fault is not in force, or another error while it is.
        assert!(!accepted_stop(false, &injected));
        assert!(!accepted_stop(
            true,
            "log failed: I/O error: append sim-disk: write after a failed fsync"
        ));
        assert!(!accepted_stop(true, "fatal: log queue full at 0x100000003"));
    }
}
