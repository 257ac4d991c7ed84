//! `zabkeeper bench`: a bounded load generator against a running server (zabkeeper or
//! ZooKeeper), built on the wire encoders. A client of the server, not part of it: it uses
//! `wire` only, nothing of `server`.
//!
//! N clients, each with its own session and its own subtree `/zkbench/c<i>`, run a weighted mix
//! of getData / setData / create (ephemeral sequential) / pcreate (persistent sequential: it
//! stays, so a run of them loads a tree) / delete / multi (one multi of [`MULTI_OPS`] setData on
//! the client's keys, counted as one op), with up to `--depth` requests
//! in flight per session (ZooKeeper answers a session's requests in order, so the replies are
//! matched to the oldest request outstanding), until the duration or the op count runs out (both
//! bounded). Set-up (64 keys per client) is not measured: every client finishes it, then the
//! clock starts for all of them at once. Each session is closed at the end (its ephemerals go).
//! `--server` may list several members of an ensemble (comma-separated): client i connects to
//! member i mod n, and `--server-pid` may list their PIDs (CPU summed over them).
//!
//! With `--watch-nodes K` the run is a watch run instead (see [`watch_run`]): the N clients are
//! watchers, each holding a data watch on each of K nodes (N×K watches), and one more session
//! sets all K nodes once per round; a round ends when every watcher has its K notifications and
//! has set its watches again. The report's ops are notifications delivered, ops/s the fire rate
//! (notifications over the summed fire phases: the first setData sent → the last notification
//! received, per round), latencies from the setData sent to the notification received.
//!
//! The report is one JSON object: ops/s, latency percentiles in milliseconds from an HDR
//! histogram (1 µs to 60 s, 3 significant digits), and the generator's own CPU time per op
//! (`CLOCK_PROCESS_CPUTIME_ID` over the measured phase), since it shares the machine with the
//! server it measures. The op choice uses a seeded xorshift generator; the seed is in the report.
//! Targets must resolve to loopback addresses unless `--allow-remote` is given. On a terminal a
//! progress bar goes to stderr.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::wire::client::{
    write_request, ConnectRequest, ConnectResponse, CreateRequest, CreateResponse, EventType,
    MultiOp, MultiRequest, PathVersion, PathWatch, ReplyHeader, Request, SetDataRequest,
    WatcherEvent, NOTIFICATION_XID,
};
use crate::wire::jute::Record;
use crate::wire::records::Acl;
use crate::wire::write_frame;

/// Longest run allowed.
pub const MAX_DURATION_SECS: u64 = 3600;
/// Most clients allowed.
pub const MAX_CLIENTS: usize = 1024;
/// Most requests in flight per session.
pub const MAX_DEPTH: usize = 256;
/// Keys per client subtree.
const KEYS: usize = 64;
/// setData ops in one `multi` op of the mix.
pub const MULTI_OPS: usize = 10;
/// Most nodes a watch run watches.
pub const MAX_WATCH_NODES: usize = 1024;
/// Largest reply frame the bench client accepts.
const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Largest latency the histogram records (longer ones are clamped to it), in µs.
const MAX_LATENCY_US: u64 = 60_000_000;
/// How long the closing handshake of a session may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Arguments of `zabkeeper bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Server address (must be loopback unless --allow-remote); several, comma-separated, spread
    /// the clients over them (client i → address i mod n).
    #[arg(long, default_value = "127.0.0.1:2181")]
    pub server: String,
    /// Concurrent clients (sessions).
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Requests in flight per session (pipelined).
    #[arg(long, default_value_t = 1)]
    pub depth: usize,
    /// Run time in seconds (the run stops earlier when --ops is reached).
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Total operations over all clients; stops earlier than the duration.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Op mix as weights, e.g. `get=70,set=20,create=5,delete=5`; also `pcreate` (persistent
    /// sequential create) and `multi` (a multi of 10 setData).
    #[arg(long, default_value = "get=70,set=20,create=5,delete=5")]
    pub mix: String,
    /// Value size in bytes for set and create.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Seed of the op-choice generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Allow a target that does not resolve to a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// PID of the server process on this machine: its CPU time over the measured phase (from
    /// `/proc/PID/stat`, clock-tick resolution) is reported per op; several, comma-separated, are
    /// summed.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// A watch run on this many nodes instead of the mix (0: the mix): every client watches
    /// every node, one more session sets them all once per round; `--ops` bounds the
    /// notifications.
    #[arg(long, default_value_t = 0)]
    pub watch_nodes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mix {
    get: u32,
    set: u32,
    create: u32,
    pcreate: u32,
    multi: u32,
    delete: u32,
}

fn parse_mix(text: &str) -> anyhow::Result<Mix> {
    let mut m = Mix {
        get: 0,
        set: 0,
        create: 0,
        pcreate: 0,
        multi: 0,
        delete: 0,
    };
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .context("mix entries look like get=70")?;
        let v: u32 = v
            .trim()
            .parse()
            .with_context(|| format!("bad weight in {part:?}"))?;
        match k.trim() {
            "get" => m.get = v,
            "set" => m.set = v,
            "create" => m.create = v,
            "pcreate" => m.pcreate = v,
            "multi" => m.multi = v,
            "delete" => m.delete = v,
            other => {
                bail!("unknown op {other:?} in --mix (get, set, create, pcreate, multi, delete)")
            }
        }
    }
    if m.total() == 0 {
        bail!("--mix has no positive weight");
    }
    Ok(m)
}

impl Mix {
    fn total(&self) -> u32 {
        self.get + self.set + self.create + self.pcreate + self.multi + self.delete
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// The addresses of each comma-separated entry of `servers`, refused unless all are loopback
/// or `allow_remote`.
async fn resolve_targets(
    servers: &str,
    allow_remote: bool,
) -> anyhow::Result<Vec<Vec<SocketAddr>>> {
    let mut out = Vec::new();
    for server in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        out.push(resolve_target(server, allow_remote).await?);
    }
    if out.is_empty() {
        bail!("--server names no address");
    }
    Ok(out)
}

/// The addresses `server` resolves to, refused unless all are loopback or `allow_remote`.
async fn resolve_target(server: &str, allow_remote: bool) -> anyhow::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(server)
        .await
        .with_context(|| format!("resolve {server}"))?
        .collect();
    if addrs.is_empty() {
        bail!("{server} resolves to no address");
    }
    if !allow_remote && !addrs.iter().all(|a| a.ip().is_loopback()) {
        bail!("refusing non-loopback target {server} (pass --allow-remote to load it anyway)");
    }
    Ok(addrs)
}

/// A minimal pipelining client: requests are appended to `out` and flushed together; replies
/// are read in order through a buffered reader.
struct BenchClient {
    sock: BufReader<TcpStream>,
    xid: i32,
    out: Vec<u8>,
    frame: Vec<u8>,
}

impl BenchClient {
    async fn connect(addrs: &[SocketAddr]) -> anyhow::Result<BenchClient> {
        let sock = TcpStream::connect(addrs)
            .await
            .with_context(|| format!("connect {addrs:?}"))?;
        sock.set_nodelay(true)?;
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 30_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        let mut c = BenchClient {
            sock: BufReader::with_capacity(64 * 1024, sock),
            xid: 0,
            out: Vec::new(),
            frame: Vec::new(),
        };
        write_frame(&mut c.out, |w| req.encode(w));
        c.flush().await?;
        c.read_frame().await?;
        let resp = ConnectResponse::from_bytes(&c.frame).context("bad ConnectResponse")?;
        if resp.timeout_ms <= 0 {
            bail!("server refused the session");
        }
        Ok(c)
    }

    /// Reads one frame into `self.frame`.
    async fn read_frame(&mut self) -> anyhow::Result<()> {
        let n = usize::try_from(self.sock.read_i32().await?).context("negative frame length")?;
        if n > MAX_FRAME {
            bail!("reply frame of {n} bytes");
        }
        self.frame.resize(n, 0);
        self.sock.read_exact(&mut self.frame).await?;
        Ok(())
    }

    /// Queues `req` (sent at the next flush) and returns its xid.
    fn queue(&mut self, req: &Request) -> i32 {
        self.xid = self.xid % i32::MAX + 1;
        write_request(&mut self.out, self.xid, req);
        self.xid
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.out.is_empty() {
            self.sock.get_mut().write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Reads the next reply that is not a watch notification: its xid and err code; the body is
    /// left in `self.frame[16..]`.
    async fn next_reply(&mut self) -> anyhow::Result<(i32, i32)> {
        loop {
            self.read_frame().await?;
            let header = ReplyHeader::from_bytes(&self.frame).context("bad ReplyHeader")?;
            if header.xid != NOTIFICATION_XID {
                return Ok((header.xid, header.err));
            }
        }
    }

    /// Sends `req` alone and waits for its reply's err code.
    async fn call(&mut self, req: &Request) -> anyhow::Result<i32> {
        let xid = self.queue(req);
        self.flush().await?;
        let (got, err) = self.next_reply().await?;
        if got != xid {
            bail!("reply xid {got} for request {xid}");
        }
        Ok(err)
    }

    /// Closes the session (its ephemerals go), bounded by [`CLOSE_TIMEOUT`].
    async fn close(mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.call(&Request::CloseSession)).await;
    }
}

fn create(path: String, data: Vec<u8>, flags: i32) -> Request {
    Request::Create(CreateRequest {
        path,
        data: Some(data),
        acl: Acl::open_unsafe(),
        flags,
    })
}

/// Ephemeral | sequential.
const EPHEMERAL_SEQUENTIAL: i32 = 3;
/// Persistent sequential.
const PERSISTENT_SEQUENTIAL: i32 = 2;

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

struct ClientResult {
    latencies_us: Histogram<u64>,
    errors: u64,
}

/// What every client shares: the run's parameters and the start line.
struct Run {
    args: BenchArgs,
    /// One address list per `--server` entry.
    addrs: Vec<Vec<SocketAddr>>,
    mix: Mix,
    ops_per_client: u64,
    /// All clients and the coordinator: set-up done, the measured phase starts.
    start: Barrier,
    /// Ops completed over all clients (for the progress bar).
    done: AtomicU64,
}

/// One in-flight request: its xid, when it was queued, whether it is a create.
struct InFlight {
    xid: i32,
    sent: Instant,
    is_create: bool,
}

async fn set_up(run: &Run, index: usize, base: &str, value: &[u8]) -> anyhow::Result<BenchClient> {
    let mut c = BenchClient::connect(&run.addrs[index % run.addrs.len()]).await?;
    c.call(&create("/zkbench".into(), Vec::new(), 0)).await?;
    c.call(&create(base.to_string(), Vec::new(), 0)).await?;
    for k in 0..KEYS {
        c.call(&create(format!("{base}/k{k}"), value.to_vec(), 0))
            .await?;
    }
    Ok(c)
}

async fn run_client(run: Arc<Run>, index: usize) -> anyhow::Result<ClientResult> {
    let base = format!("/zkbench/c{index}");
    let value = vec![b'x'; run.args.value_size];
    // Everyone reaches the barrier, set up or not, so one failure cannot hang the others.
    let client = set_up(&run, index, &base, &value).await;
    run.start.wait().await;
    let mut c = client.with_context(|| format!("client {index}: set-up"))?;
    let out = measure(&run, &mut c, index, &base, &value)
        .await
        .with_context(|| format!("client {index}"))?;
    c.close().await;
    Ok(out)
}

/// The measured phase of one client: requests until its op budget or the deadline runs out.
async fn measure(
    run: &Run,
    c: &mut BenchClient,
    index: usize,
    base: &str,
    value: &[u8],
) -> anyhow::Result<ClientResult> {
    let deadline = Instant::now() + Duration::from_secs(run.args.duration_secs);
    let mix = run.mix;
    let mut rng = XorShift(run.args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64 + 1));
    let total = u64::from(mix.total());
    let mut created: Vec<String> = Vec::new();
    let mut out = ClientResult {
        latencies_us: latency_histogram(),
        errors: 0,
    };
    let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(run.args.depth);
    let mut issued = 0u64;
    loop {
        let now = Instant::now();
        while in_flight.len() < run.args.depth && issued < run.ops_per_client && now < deadline {
            let roll = (rng.next() % total) as u32;
            let key = format!("{base}/k{}", rng.next() % KEYS as u64);
            let (get, set, create_to) =
                (mix.get, mix.get + mix.set, mix.get + mix.set + mix.create);
            let (pcreate, multi) = (create_to + mix.pcreate, create_to + mix.pcreate + mix.multi);
            let req = if roll < get {
                Request::GetData(PathWatch {
                    path: key,
                    watch: false,
                })
            } else if roll < set {
                Request::SetData(SetDataRequest {
                    path: key,
                    data: Some(value.to_vec()),
                    version: -1,
                })
            } else if roll >= create_to && roll < pcreate {
                create(format!("{base}/p-"), value.to_vec(), PERSISTENT_SEQUENTIAL)
            } else if roll >= pcreate && roll < multi {
                let ops = (0..MULTI_OPS)
                    .map(|_| {
                        MultiOp::SetData(SetDataRequest {
                            path: format!("{base}/k{}", rng.next() % KEYS as u64),
                            data: Some(value.to_vec()),
                            version: -1,
                        })
                    })
                    .collect();
                Request::Multi(MultiRequest { ops })
            } else if roll < create_to || created.is_empty() {
                create(format!("{base}/e-"), value.to_vec(), EPHEMERAL_SEQUENTIAL)
            } else {
                let path = created.pop().unwrap_or_default();
                Request::Delete(PathVersion { path, version: -1 })
            };
            let is_create = matches!(&req, Request::Create(c) if c.flags == EPHEMERAL_SEQUENTIAL);
            let xid = c.queue(&req);
            in_flight.push_back(InFlight {
                xid,
                sent: now,
                is_create,
            });
            issued += 1;
        }
        c.flush().await?;
        let Some(oldest) = in_flight.pop_front() else {
            break;
        };
        let (xid, err) = c.next_reply().await?;
        if xid != oldest.xid {
            bail!("reply xid {xid} for request {}", oldest.xid);
        }
        let us = u64::try_from(oldest.sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        out.latencies_us
            .saturating_record(us.clamp(1, MAX_LATENCY_US));
        run.done.fetch_add(1, Ordering::Relaxed);
        if err != 0 {
            out.errors += 1;
        } else if oldest.is_create {
            let body = c.frame.get(16..).unwrap_or_default();
            created.push(
                CreateResponse::from_bytes(body)
                    .context("bad CreateResponse")?
                    .path,
            );
        }
    }
    Ok(out)
}

/// CPU time this process has used (all threads).
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// User + system CPU time of process `pid` (`/proc/PID/stat` fields 14 and 15, in clock ticks
/// of 10 ms: `USER_HZ` is 100 on Linux).
fn proc_cpu(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("/proc/{pid}/stat field {}", i + 3))
    };
    // After ')' the first field is field 3 (state): utime is field 14, stime 15.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// The summed CPU time of `pids` (None without any).
fn servers_cpu(pids: &[u32]) -> anyhow::Result<Option<Duration>> {
    if pids.is_empty() {
        return Ok(None);
    }
    let mut sum = Duration::ZERO;
    for &pid in pids {
        sum += proc_cpu(pid)?;
    }
    Ok(Some(sum))
}

/// Seconds of CPU `pids` used since `before` (from [`servers_cpu`]).
fn servers_cpu_since(pids: &[u32], before: Option<Duration>) -> anyhow::Result<Option<f64>> {
    Ok(match (servers_cpu(pids)?, before) {
        (Some(now), Some(before)) => Some(now.saturating_sub(before).as_secs_f64()),
        _ => None,
    })
}

/// What the writer and the watchers of a watch run share.
struct WatchRun {
    nodes: Vec<String>,
    rounds: u64,
    /// When the writer queued each node's setData in the current round.
    sent: std::sync::Mutex<Vec<Instant>>,
    /// Latest notification of the current round, in ns since `epoch`.
    last_ns: AtomicU64,
    epoch: Instant,
    /// Watchers and the writer: all watches are set (round start) / all notified (round end).
    barrier: Barrier,
}

/// The path of the `j`th watched node.
fn watch_node(j: usize) -> String {
    format!("/zkbench/w/n{j}")
}

/// Sets a data watch on every node (getData with watch, pipelined); errors are fatal.
async fn arm(c: &mut BenchClient, nodes: &[String]) -> anyhow::Result<()> {
    for path in nodes {
        c.queue(&Request::GetData(PathWatch {
            path: path.clone(),
            watch: true,
        }));
    }
    c.flush().await?;
    for path in nodes {
        let (_, err) = c.next_reply().await?;
        if err != 0 {
            bail!("getData {path} with watch: err {err}");
        }
    }
    Ok(())
}

/// One watcher: per round, waits for a NodeDataChanged of every node, records each one's
/// latency from the writer's send, then sets its watches again.
async fn watcher(
    w: Arc<WatchRun>,
    addrs: Vec<SocketAddr>,
    done: Arc<AtomicU64>,
) -> anyhow::Result<Histogram<u64>> {
    let mut hist = latency_histogram();
    let setup = async {
        let mut c = BenchClient::connect(&addrs).await?;
        arm(&mut c, &w.nodes).await?;
        anyhow::Ok(c)
    }
    .await;
    w.barrier.wait().await; // set-up done (reached even on failure, so no one hangs)
    let mut c = setup?;
    for _ in 0..w.rounds {
        w.barrier.wait().await; // round start: every watch is set
        let mut seen = vec![false; w.nodes.len()];
        let mut left = w.nodes.len();
        while left > 0 {
            c.read_frame().await?;
            let header = ReplyHeader::from_bytes(&c.frame).context("bad ReplyHeader")?;
            if header.xid != NOTIFICATION_XID {
                bail!("reply xid {} while waiting for notifications", header.xid);
            }
            let now = Instant::now();
            let event = WatcherEvent::from_bytes(c.frame.get(16..).unwrap_or_default())
                .context("bad WatcherEvent")?;
            if event.event_type != EventType::NodeDataChanged as i32 {
                bail!("unexpected event {event:?}");
            }
            let j = event
                .path
                .strip_prefix("/zkbench/w/n")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&j| j < seen.len() && !seen[j])
                .with_context(|| format!("notification for {:?}", event.path))?;
            seen[j] = true;
            left -= 1;
            let sent = w.sent.lock().map_err(|_| anyhow::anyhow!("poisoned"))?[j];
            let us =
                u64::try_from(now.saturating_duration_since(sent).as_micros()).unwrap_or(u64::MAX);
            hist.saturating_record(us.clamp(1, MAX_LATENCY_US));
            done.fetch_add(1, Ordering::Relaxed);
            let ns = u64::try_from(now.duration_since(w.epoch).as_nanos()).unwrap_or(u64::MAX);
            w.last_ns.fetch_max(ns, Ordering::Relaxed);
        }
        arm(&mut c, &w.nodes).await?;
        w.barrier.wait().await; // round end
    }
    c.close().await;
    Ok(hist)
}

/// A watch run (`--watch-nodes K`): `--clients` watchers × K nodes, one writer setting every
/// node once per round, `--ops` notifications in all (rounded up to whole rounds).
async fn watch_run(args: BenchArgs, addrs: Vec<Vec<SocketAddr>>) -> anyhow::Result<String> {
    let k = args.watch_nodes;
    let per_round = (args.clients * k) as u64;
    let rounds = args.ops.unwrap_or(per_round).div_ceil(per_round).max(1);
    let nodes: Vec<String> = (0..k).map(watch_node).collect();
    let value = vec![b'w'; args.value_size];
    let mut writer = BenchClient::connect(&addrs[0]).await?;
    writer
        .call(&create("/zkbench".into(), Vec::new(), 0))
        .await?;
    writer
        .call(&create("/zkbench/w".into(), Vec::new(), 0))
        .await?;
    for path in &nodes {
        writer.call(&create(path.clone(), value.clone(), 0)).await?;
    }
    let epoch = Instant::now();
    let w = Arc::new(WatchRun {
        nodes,
        rounds,
        sent: std::sync::Mutex::new(vec![epoch; k]),
        last_ns: AtomicU64::new(0),
        epoch,
        barrier: Barrier::new(args.clients + 1),
    });
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..args.clients)
        .map(|i| {
            tokio::spawn(watcher(
                Arc::clone(&w),
                addrs[i % addrs.len()].clone(),
                Arc::clone(&done),
            ))
        })
        .collect();
    w.barrier.wait().await; // set-up done
    let started = Instant::now();
    let cpu_started = process_cpu();
    let server_cpu_started = servers_cpu(&args.server_pid)?;
    // Bounded by --duration-secs: a watcher that fails leaves the barriers short, and the
    // timeout ends the run with an error instead of a hang.
    let rounds_done = tokio::time::timeout(Duration::from_secs(args.duration_secs), async {
        let mut fire = Duration::ZERO;
        for _ in 0..rounds {
            w.barrier.wait().await; // round start
            let first = Instant::now();
            for (j, path) in w.nodes.iter().enumerate() {
                w.sent.lock().map_err(|_| anyhow::anyhow!("poisoned"))?[j] = Instant::now();
                writer.queue(&Request::SetData(SetDataRequest {
                    path: path.clone(),
                    data: Some(value.clone()),
                    version: -1,
                }));
            }
            writer.flush().await?;
            for path in &w.nodes {
                let (_, err) = writer.next_reply().await?;
                if err != 0 {
                    bail!("setData {path}: err {err}");
                }
            }
            w.barrier.wait().await; // round end
            let last = epoch + Duration::from_nanos(w.last_ns.load(Ordering::Relaxed));
            fire += last.saturating_duration_since(first);
        }
        anyhow::Ok(fire)
    })
    .await;
    let fire = match rounds_done {
        Ok(Ok(fire)) => fire,
        Ok(Err(e)) => {
            tasks.iter().for_each(|t| t.abort());
            return Err(e);
        }
        Err(_) => {
            let mut first_error = None;
            for t in tasks {
                if t.is_finished() {
                    if let Ok(Err(e)) = t.await {
                        first_error.get_or_insert(e);
                    }
                } else {
                    t.abort();
                }
            }
            return Err(first_error.unwrap_or_else(|| {
                anyhow::anyhow!("watch run not done within {} s", args.duration_secs)
            }));
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu().saturating_sub(cpu_started).as_secs_f64();
    let server_cpu = servers_cpu_since(&args.server_pid, server_cpu_started)?;
    writer.close().await;
    let mut latencies = latency_histogram();
    for t in tasks {
        let hist = t.await.context("watcher panicked")??;
        latencies.add(&hist).context("merging histograms")?;
    }
    let line = report(&args, &latencies, 0, fire.as_secs_f64(), cpu, server_cpu);
    // The fire rate is over the fire phases; the whole run (with re-arming) is reported beside.
    Ok(format!(
        "{},\"watch_nodes\":{k},\"rounds\":{rounds},\"run_s\":{elapsed:.3}}}",
        line.trim_end_matches('}')
    ))
}

/// A progress bar on stderr when it is a terminal, else nothing.
fn progress_bar(args: &BenchArgs) -> Option<indicatif::ProgressBar> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let (len, style) = match args.ops {
        Some(ops) => (ops, "{bar:40} {pos}/{len} ops {per_sec} eta {eta}"),
        None => (args.duration_secs, "{bar:40} {pos}/{len} s"),
    };
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(s) = indicatif::ProgressStyle::with_template(style) {
        bar.set_style(s);
    }
    Some(bar)
}

fn check_args(args: &BenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.clients > MAX_CLIENTS {
        bail!("--clients must be 1..={MAX_CLIENTS}");
    }
    if args.depth == 0 || args.depth > MAX_DEPTH {
        bail!("--depth must be 1..={MAX_DEPTH}");
    }
    if args.duration_secs == 0 || args.duration_secs > MAX_DURATION_SECS {
        bail!("--duration-secs must be 1..={MAX_DURATION_SECS}");
    }
    if args.watch_nodes > MAX_WATCH_NODES {
        bail!("--watch-nodes must be 0..={MAX_WATCH_NODES}");
    }
    if args.watch_nodes > 0 && args.ops.is_none() {
        bail!("a watch run needs --ops (notifications) as its bound");
    }
    Ok(())
}

/// Runs the bench and returns the JSON report.
pub async fn run(args: BenchArgs) -> anyhow::Result<String> {
    check_args(&args)?;
    let mix = parse_mix(&args.mix)?;
    let addrs = resolve_targets(&args.server, args.allow_remote).await?;
    if args.watch_nodes > 0 {
        return watch_run(args, addrs).await;
    }
    let ops_per_client = args
        .ops
        .map_or(u64::MAX, |ops| ops.div_ceil(args.clients as u64));
    let run = Arc::new(Run {
        args: args.clone(),
        addrs,
        mix,
        ops_per_client,
        start: Barrier::new(args.clients + 1),
        done: AtomicU64::new(0),
    });
    let tasks: Vec<_> = (0..args.clients)
        .map(|i| tokio::spawn(run_client(Arc::clone(&run), i)))
        .collect();
    run.start.wait().await;
    let started = Instant::now();
    let cpu_started = process_cpu();
    let server_cpu_started = servers_cpu(&args.server_pid)?;
    let bar = progress_bar(&args).map(|bar| {
        let run = Arc::clone(&run);
        let by_ops = args.ops.is_some();
        let ticker = bar.clone();
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                ticker.set_position(if by_ops {
                    run.done.load(Ordering::Relaxed)
                } else {
                    started.elapsed().as_secs()
                });
            }
        });
        (bar, handle)
    });
    let mut latencies = latency_histogram();
    let mut errors = 0u64;
    let mut first_error = None;
    for t in tasks {
        match t.await.context("bench client panicked")? {
            Ok(r) => {
                latencies
                    .add(&r.latencies_us)
                    .context("merging histograms")?;
                errors += r.errors;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu().saturating_sub(cpu_started).as_secs_f64();
    let server_cpu = servers_cpu_since(&args.server_pid, server_cpu_started)?;
    if let Some((bar, handle)) = bar {
        handle.abort();
        bar.finish_and_clear();
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(report(&args, &latencies, errors, elapsed, cpu, server_cpu))
}

/// The JSON report line.
fn report(
    args: &BenchArgs,
    latencies: &Histogram<u64>,
    errors: u64,
    elapsed_s: f64,
    cpu_s: f64,
    server_cpu_s: Option<f64>,
) -> String {
    let ops = latencies.len();
    let ms = |q: f64| -> f64 {
        if ops == 0 {
            0.0
        } else {
            latencies.value_at_quantile(q) as f64 / 1000.0
        }
    };
    let per_op_us = |s: f64| s * 1e6 / (ops.max(1) as f64);
    let server = server_cpu_s.map_or(String::new(), |s| {
        format!(",\"server_cpu_us_per_op\":{:.2}", per_op_us(s))
    });
    let max_ms = if ops == 0 {
        0.0
    } else {
        latencies.max() as f64 / 1000.0
    };
    format!(
        "{{\"server\":\"{}\",\"clients\":{},\"depth\":{},\"mix\":\"{}\",\"value_size\":{},\
         \"seed\":{},\"ops\":{},\"errors\":{},\"elapsed_s\":{:.3},\"ops_per_s\":{:.1},\
         \"p50_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3},\
         \"bench_cpu_us_per_op\":{:.2}{}}}",
        args.server.replace('"', ""),
        args.clients,
        args.depth,
        args.mix.replace('"', ""),
        args.value_size,
        args.seed,
        ops,
        errors,
        elapsed_s,
        ops as f64 / elapsed_s.max(1e-9),
        ms(0.50),
        ms(0.99),
        ms(0.999),
        max_ms,
        per_op_us(cpu_s),
        server
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_and_rejects_nonsense() {
        let m = parse_mix("get=70, set=20,create=5,delete=5").expect("mix");
        assert_eq!((m.get, m.set, m.create, m.delete), (70, 20, 5, 5));
        let m = parse_mix("multi=3,pcreate=2").expect("mix");
        assert_eq!((m.multi, m.pcreate, m.total()), (3, 2, 5));
        assert!(parse_mix("get=0").is_err());
        assert!(parse_mix("scan=3").is_err());
        assert!(parse_mix("get").is_err());
    }

    #[tokio::test]
    async fn non_loopback_targets_are_refused_unless_allowed() {
        let err = resolve_target("192.0.2.1:2181", false)
            .await
            .expect_err("a TEST-NET-1 address is not loopback");
        assert!(err.to_string().contains("--allow-remote"), "{err}");
        assert_eq!(
            resolve_target("192.0.2.1:2181", true)
                .await
                .expect("allowed")
                .len(),
            1
        );
        assert!(resolve_target("127.0.0.1:2181", false).await.is_ok());
        assert!(resolve_target("[::1]:2181", false).await.is_ok());
    }

    /// Arguments for a get-only run against a closed port.
    fn test_args(clients: usize, depth: usize) -> BenchArgs {
        BenchArgs {
            server: "127.0.0.1:1".into(),
            clients,
            depth,
            duration_secs: 1,
            ops: None,
            mix: "get=1".into(),
            value_size: 1,
            seed: 1,
            allow_remote: false,
            server_pid: Vec::new(),
            watch_nodes: 0,
        }
    }

    #[test]
    fn depth_and_clients_are_bounded() {
        let mut args = test_args(1, 1);
        assert!(check_args(&args).is_ok());
        args.depth = 0;
        assert!(check_args(&args).is_err());
        args.depth = MAX_DEPTH + 1;
        assert!(check_args(&args).is_err());
        args.depth = MAX_DEPTH;
        args.clients = 0;
        assert!(check_args(&args).is_err());
    }

    #[test]
    fn the_report_reads_percentiles_and_cpu_per_op_from_the_histogram() {
        let mut h = latency_histogram();
        for us in 1..=1000 {
            h.record(us).expect("in range");
        }
        let args = test_args(2, 4);
        let line = report(&args, &h, 0, 2.0, 0.01, None);
        assert!(line.contains("\"ops\":1000,"), "{line}");
        assert!(line.contains("\"ops_per_s\":500.0,"), "{line}");
        assert!(line.contains("\"p50_ms\":0.500,"), "{line}");
        assert!(line.contains("\"p99_ms\":0.990,"), "{line}");
        assert!(line.contains("\"max_ms\":1.000,"), "{line}");
        assert!(line.contains("\"bench_cpu_us_per_op\":10.00}"), "{line}");
        assert!(line.contains("\"depth\":4,"), "{line}");
        let with_server = report(&args, &h, 0, 2.0, 0.01, Some(0.02));
        assert!(
            with_server.ends_with("\"bench_cpu_us_per_op\":10.00,\"server_cpu_us_per_op\":20.00}"),
            "{with_server}"
        );
    }

    #[test]
    fn this_process_has_a_cpu_time_in_proc() {
        assert!(proc_cpu(std::process::id()).is_ok());
        assert!(proc_cpu(u32::MAX).is_err());
    }
}
