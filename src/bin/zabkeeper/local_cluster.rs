//! `zabkeeper local-cluster`: N `zabkeeper serve` children of this same binary on 127.0.0.1, for
//! trying an ensemble on one machine.
//!
//! Node `i` (1..=N) lives in `DIR/nodeI/`: `zoo.cfg` (written on every start), `data/myid`, and
//! `server.log` (the child's stdout and stderr). Ports from `--base-port P`: client `P+i-1`,
//! quorum `P+N+i-1`, election `P+2N+i-1` (P=2181, N=3: clients 2181-2183, quorum 2184-2186,
//! election 2187-2189). One node is a standalone server (no `server.N` lines).
//!
//! The command prints the connect string once the children are spawned, then waits. SIGINT or
//! SIGTERM sends SIGTERM to every child by PID and waits for them (SIGKILL after
//! `STOP_GRACE`); a child that exits on its own is reported with its log's last line, and the
//! others are stopped the same way. Exit status: 0 after a clean stop on a signal, 1 otherwise.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rustix::process::{kill_process, Pid, Signal};
use tokio::task::JoinSet;

/// How long the children get to stop after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Largest `--nodes` (sids are 1..=N; ZooKeeper ensembles are rarely above 7 voters).
const MAX_NODES: u16 = 15;

#[derive(Args, Debug)]
pub struct LocalClusterArgs {
    /// Number of servers.
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// Directory for the servers' zoo.cfg, dataDir and logs (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// First port: client ports from here, then quorum ports, then election ports.
    #[arg(long, default_value_t = 2181)]
    base_port: u16,
    /// tickTime in milliseconds.
    #[arg(long, default_value_t = 2000)]
    tick_ms: u32,
}

/// One server of the local cluster.
struct Node {
    sid: u16,
    client_port: u16,
    dir: PathBuf,
}

impl Node {
    fn config_path(&self) -> PathBuf {
        self.dir.join("zoo.cfg")
    }
    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }
}

pub fn run(args: LocalClusterArgs) -> anyhow::Result<()> {
    let nodes = write_configs(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(supervise(nodes, &args.dir))
}

/// Writes `nodeI/zoo.cfg` and `nodeI/data/myid` for every node.
fn write_configs(args: &LocalClusterArgs) -> anyhow::Result<Vec<Node>> {
    let n = args.nodes;
    if n == 0 || n > MAX_NODES {
        anyhow::bail!("--nodes must be between 1 and {MAX_NODES}");
    }
    let last_port = u32::from(args.base_port) + 3 * u32::from(n) - 1;
    if args.base_port == 0 || last_port > u32::from(u16::MAX) {
        anyhow::bail!(
            "--base-port {}: the ports up to {last_port} must be 1..=65535",
            args.base_port
        );
    }
    if args.tick_ms == 0 {
        anyhow::bail!("--tick-ms must be positive");
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let root = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let port = |offset: u16, sid: u16| args.base_port + offset * n + sid - 1;
    let server_lines: Vec<String> = if n == 1 {
        Vec::new()
    } else {
        (1..=n)
            .map(|sid| {
                format!(
                    "server.{sid}=127.0.0.1:{}:{};127.0.0.1:{}",
                    port(1, sid),
                    port(2, sid),
                    port(0, sid)
                )
            })
            .collect()
    };
    let mut nodes = Vec::new();
    for sid in 1..=n {
        let node = Node {
            sid,
            client_port: port(0, sid),
            dir: root.join(format!("node{sid}")),
        };
        let data_dir = node.dir.join("data");
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        write_file(&data_dir.join("myid"), &format!("{sid}\n"))?;
        let mut cfg = vec![
            format!("tickTime={}", args.tick_ms),
            "initLimit=10".to_string(),
            "syncLimit=5".to_string(),
            format!("dataDir={}", data_dir.display()),
            format!("clientPort={}", node.client_port),
            "clientPortAddress=127.0.0.1".to_string(),
            "4lw.commands.whitelist=*".to_string(),
        ];
        cfg.extend(server_lines.iter().cloned());
        write_file(&node.config_path(), &(cfg.join("\n") + "\n"))?;
        nodes.push(node);
    }
    Ok(nodes)
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Starts the children, prints the connect string, waits for a signal or a child's exit, then
/// stops every child that still runs.
async fn supervise(nodes: Vec<Node>, dir: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the zabkeeper binary")?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut children = JoinSet::new();
    let mut pids = Vec::new();
    for node in &nodes {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log_path())
            .with_context(|| format!("opening {}", node.log_path().display()))?;
        let child = tokio::process::Command::new(&exe)
            .arg("serve")
            .arg("--config")
            .arg(node.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("duplicating the log file")?)
            .stderr(log)
            // Its own process group: a terminal's Ctrl-C reaches this supervisor only, which
            // then stops the children in order.
            .process_group(0)
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                stop_all(&pids, &mut children).await;
                return Err(e).with_context(|| format!("starting server.{}", node.sid));
            }
        };
        let pid = child.id().context("a just-spawned child has a pid")?;
        println!(
            "server.{} pid {pid} client 127.0.0.1:{} log {}",
            node.sid,
            node.client_port,
            node.log_path().display()
        );
        pids.push((node.sid, pid));
        let sid = node.sid;
        children.spawn(async move { (sid, child.wait().await) });
    }
    let connect: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.client_port))
        .collect();
    println!("connect string: {}", connect.join(","));
    println!(
        "{} servers under {}; Ctrl-C stops them",
        nodes.len(),
        dir.display()
    );

    let outcome = tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok("SIGINT"),
        _ = term.recv() => Ok("SIGTERM"),
        Some(joined) = children.join_next() => Err(joined),
    };
    match outcome {
        Ok(signal) => {
            eprintln!("local-cluster: {signal}: stopping {} servers", pids.len());
            let clean = stop_all(&pids, &mut children).await;
            if clean {
                Ok(())
            } else {
                anyhow::bail!("not every server stopped cleanly (see their logs)")
            }
        }
        Err(joined) => {
            let (sid, status) = joined.context("a child-waiting task failed")?;
            let node = &nodes[usize::from(sid - 1)];
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            eprintln!(
                "local-cluster: server.{sid} exited ({status}): {}",
                last_line(&node.log_path())
            );
            pids.retain(|&(s, _)| s != sid);
            stop_all(&pids, &mut children).await;
            anyhow::bail!("server.{sid} exited; the others were stopped")
        }
    }
}

/// SIGTERM to every child still running, then waits up to `STOP_GRACE` (dropping the remaining
/// waits kills their children). Returns whether every child exited with status 0.
async fn stop_all(
    pids: &[(u16, u32)],
    children: &mut JoinSet<(u16, std::io::Result<std::process::ExitStatus>)>,
) -> bool {
    for &(sid, pid) in pids {
        let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
            continue;
        };
        match kill_process(pid, Signal::TERM) {
            // Already exited (and reaped); its wait below reports how.
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => eprintln!("local-cluster: SIGTERM to server.{sid}: {e}"),
        }
    }
    let mut clean = true;
    let deadline = tokio::time::sleep(STOP_GRACE);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            joined = children.join_next() => match joined {
                None => break,
                Some(Ok((sid, Ok(status)))) => {
                    eprintln!("local-cluster: server.{sid} stopped ({status})");
                    clean &= status.success();
                }
                Some(Ok((sid, Err(e)))) => {
                    eprintln!("local-cluster: server.{sid}: {e}");
                    clean = false;
                }
                Some(Err(e)) => {
                    eprintln!("local-cluster: {e}");
                    clean = false;
                }
            },
            () = &mut deadline => {
                eprintln!(
                    "local-cluster: {} servers still running after {STOP_GRACE:?}; killing them",
                    children.len()
                );
                children.shutdown().await;
                return false;
            }
        }
    }
    clean
}

/// The last non-empty line of a log file ("" when unreadable).
fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default()
}
