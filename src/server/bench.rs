//! `zabkeeper bench`: a bounded load generator against a running server (zabkeeper or
//! ZooKeeper), built on the wire encoders.
//!
//! N clients, each with its own session and its own subtree `/zkbench/c<i>`, run a weighted mix
//! of getData / setData / create (ephemeral sequential) / delete, one request in flight each,
//! until the duration or the op count runs out (both bounded). The report is one JSON object:
//! ops/s and latency percentiles in milliseconds. The op choice uses a seeded xorshift generator;
//! the seed is printed in the report.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::wire::client::{
    write_request, ConnectRequest, ConnectResponse, CreateRequest, CreateResponse, PathVersion,
    PathWatch, ReplyHeader, Request, SetDataRequest, NOTIFICATION_XID,
};
use crate::wire::jute::Record;
use crate::wire::records::Acl;
use crate::wire::write_frame;

/// Longest run allowed.
pub const MAX_DURATION_SECS: u64 = 3600;
/// Most clients allowed.
pub const MAX_CLIENTS: usize = 1024;
/// Keys per client subtree.
const KEYS: usize = 64;
/// Largest reply frame the bench client accepts.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Arguments of `zabkeeper bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:2181")]
    pub server: String,
    /// Concurrent clients (sessions).
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Run time in seconds (ignored when --ops is given).
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Total operations over all clients; stops earlier than the duration.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Op mix as weights, e.g. `get=70,set=20,create=5,delete=5`.
    #[arg(long, default_value = "get=70,set=20,create=5,delete=5")]
    pub mix: String,
    /// Value size in bytes for set and create.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Seed of the op-choice generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Clone, Copy, Debug)]
struct Mix {
    get: u32,
    set: u32,
    create: u32,
    delete: u32,
}

fn parse_mix(text: &str) -> anyhow::Result<Mix> {
    let mut m = Mix {
        get: 0,
        set: 0,
        create: 0,
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
            "delete" => m.delete = v,
            other => bail!("unknown op {other:?} in --mix (get, set, create, delete)"),
        }
    }
    if m.get + m.set + m.create + m.delete == 0 {
        bail!("--mix has no positive weight");
    }
    Ok(m)
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

/// A minimal async client: one request in flight.
struct BenchClient {
    sock: TcpStream,
    xid: i32,
    buf: Vec<u8>,
}

impl BenchClient {
    async fn connect(addr: &str) -> anyhow::Result<BenchClient> {
        let mut sock = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        sock.set_nodelay(true)?;
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 30_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, |w| req.encode(w));
        sock.write_all(&buf).await?;
        let mut c = BenchClient {
            sock,
            xid: 0,
            buf: Vec::new(),
        };
        let payload = c.read_frame().await?;
        let resp = ConnectResponse::from_bytes(&payload).context("bad ConnectResponse")?;
        if resp.timeout_ms <= 0 {
            bail!("server refused the session");
        }
        Ok(c)
    }

    async fn read_frame(&mut self) -> anyhow::Result<Vec<u8>> {
        let n = self.sock.read_i32().await? as usize;
        if n > MAX_FRAME {
            bail!("reply frame of {n} bytes");
        }
        let mut payload = vec![0u8; n];
        self.sock.read_exact(&mut payload).await?;
        Ok(payload)
    }

    /// Sends `req` and returns the reply's err code and body bytes.
    async fn call(&mut self, req: &Request) -> anyhow::Result<(i32, Vec<u8>)> {
        self.xid = self.xid % i32::MAX + 1;
        self.buf.clear();
        write_request(&mut self.buf, self.xid, req);
        self.sock.write_all(&self.buf).await?;
        loop {
            let payload = self.read_frame().await?;
            let header = ReplyHeader::from_bytes(&payload).context("bad ReplyHeader")?;
            if header.xid == NOTIFICATION_XID {
                continue;
            }
            if header.xid != self.xid {
                bail!("reply xid {} for request {}", header.xid, self.xid);
            }
            return Ok((header.err, payload.get(16..).unwrap_or_default().to_vec()));
        }
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

#[derive(Default)]
struct ClientResult {
    latencies_us: Vec<u32>,
    errors: u64,
}

async fn run_client(
    args: BenchArgs,
    mix: Mix,
    index: usize,
    deadline: Instant,
    ops_budget: u64,
) -> anyhow::Result<ClientResult> {
    let mut c = BenchClient::connect(&args.server).await?;
    let base = format!("/zkbench/c{index}");
    let value = vec![b'x'; args.value_size];
    let _ = c.call(&create("/zkbench".into(), Vec::new(), 0)).await?;
    let _ = c.call(&create(base.clone(), Vec::new(), 0)).await?;
    for k in 0..KEYS {
        let _ = c
            .call(&create(format!("{base}/k{k}"), value.clone(), 0))
            .await?;
    }
    let mut rng = XorShift(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64 + 1));
    let total = u64::from(mix.get + mix.set + mix.create + mix.delete);
    let mut created: Vec<String> = Vec::new();
    let mut out = ClientResult::default();
    let mut done = 0u64;
    while done < ops_budget && Instant::now() < deadline {
        let roll = (rng.next() % total) as u32;
        let key = format!("{base}/k{}", rng.next() % KEYS as u64);
        let req = if roll < mix.get {
            Request::GetData(PathWatch {
                path: key,
                watch: false,
            })
        } else if roll < mix.get + mix.set {
            Request::SetData(SetDataRequest {
                path: key,
                data: Some(value.clone()),
                version: -1,
            })
        } else if roll < mix.get + mix.set + mix.create || created.is_empty() {
            create(format!("{base}/e-"), value.clone(), 3)
        } else {
            let path = created.pop().unwrap_or_default();
            Request::Delete(PathVersion { path, version: -1 })
        };
        let is_create = matches!(req, Request::Create(_));
        let started = Instant::now();
        let (err, body) = c.call(&req).await?;
        let us = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        out.latencies_us.push(us);
        done += 1;
        if err != 0 {
            out.errors += 1;
        } else if is_create {
            let path = CreateResponse::from_bytes(&body)
                .context("bad CreateResponse")?
                .path;
            created.push(path);
        }
    }
    Ok(out)
}

/// Runs the bench and returns the JSON report.
pub async fn run(args: BenchArgs) -> anyhow::Result<String> {
    if args.clients == 0 || args.clients > MAX_CLIENTS {
        bail!("--clients must be 1..={MAX_CLIENTS}");
    }
    if args.duration_secs == 0 || args.duration_secs > MAX_DURATION_SECS {
        bail!("--duration-secs must be 1..={MAX_DURATION_SECS}");
    }
    let mix = parse_mix(&args.mix)?;
    let per_client = args
        .ops
        .map_or(u64::MAX, |ops| ops.div_ceil(args.clients as u64));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration_secs);
    let mut tasks = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        tasks.push(tokio::spawn(run_client(
            args.clone(),
            mix,
            i,
            deadline,
            per_client,
        )));
    }
    let mut latencies: Vec<u32> = Vec::new();
    let mut errors = 0u64;
    for t in tasks {
        let r = t.await.context("bench client panicked")??;
        latencies.extend(r.latencies_us);
        errors += r.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies[i.min(latencies.len() - 1)]) / 1000.0
    };
    let ops = latencies.len() as u64;
    Ok(format!(
        "{{\"server\":\"{}\",\"clients\":{},\"mix\":\"{}\",\"value_size\":{},\"seed\":{},\
         \"ops\":{},\"errors\":{},\"elapsed_s\":{:.3},\"ops_per_s\":{:.1},\
         \"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        args.server.replace('"', ""),
        args.clients,
        args.mix.replace('"', ""),
        args.value_size,
        args.seed,
        ops,
        errors,
        elapsed,
        ops as f64 / elapsed.max(1e-9),
        pct(0.50),
        pct(0.99),
        pct(1.0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_and_rejects_nonsense() {
        let m = parse_mix("get=70, set=20,create=5,delete=5").expect("mix");
        assert_eq!((m.get, m.set, m.create, m.delete), (70, 20, 5, 5));
        assert!(parse_mix("get=0").is_err());
        assert!(parse_mix("scan=3").is_err());
        assert!(parse_mix("get").is_err());
    }
}
