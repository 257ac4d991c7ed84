//! The zabkeeper binary: `serve` (zoo.cfg or flags → recovery → `server::run`), `bench` (a
//! bounded load generator against a running server) and `local-cluster` (N `serve` children on
//! 127.0.0.1, `local_cluster.rs`).
//!
//! Logging goes to stderr through `tracing-subscriber` (`RUST_LOG`, default `info`). SIGINT and
//! SIGTERM start a graceful shutdown: the listener stops, connections close, the driver
//! flushes and fsyncs the txn log, then the process exits 0.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use zabkeeper::config::ServerConfig;

// In a directory of its own: a file directly in src/bin/ would be a binary target of its own.
#[path = "zabkeeper/local_cluster.rs"]
mod local_cluster;

#[derive(Parser, Debug)]
#[command(
    name = "zabkeeper",
    version,
    about = "A ZooKeeper-compatible coordination service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a standalone server.
    Serve(ServeArgs),
    /// Drive load against a running server and print ops/s and latency percentiles as JSON.
    Bench(zabkeeper::bench::BenchArgs),
    /// Run N servers of an ensemble on 127.0.0.1 as children of this process and print the
    /// connect string; Ctrl-C or SIGTERM stops them all.
    LocalCluster(local_cluster::LocalClusterArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// A zoo.cfg file; when given, the other flags are not allowed.
    #[arg(long, conflicts_with_all = ["data_dir", "port", "tick_ms"])]
    config: Option<PathBuf>,
    /// Data directory (snapshots and txn log).
    #[arg(long, required_unless_present = "config")]
    data_dir: Option<PathBuf>,
    /// Client port.
    #[arg(long, required_unless_present = "config")]
    port: Option<u16>,
    /// tickTime in milliseconds.
    #[arg(long)]
    tick_ms: Option<u32>,
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain (it names the bad config key).
            eprintln!("zabkeeper: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Bench(args) => {
            let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
            let report = runtime.block_on(zabkeeper::bench::run(args))?;
            println!("{report}");
            Ok(())
        }
        Command::LocalCluster(args) => local_cluster::run(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = match (&args.config, &args.data_dir, args.port) {
        (Some(path), _, _) => ServerConfig::from_file(path)
            .with_context(|| format!("invalid configuration {}", path.display()))?,
        (None, Some(dir), Some(port)) => ServerConfig::standalone(
            dir.clone(),
            port,
            args.tick_ms.unwrap_or(zabkeeper::config::DEFAULT_TICK_MS),
        ),
        _ => anyhow::bail!("either --config or both --data-dir and --port are required"),
    };
    if config.tick_ms == 0 {
        anyhow::bail!("tickTime must be positive");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let shutdown = async {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot install the SIGTERM handler");
                        return;
                    }
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            }
        };
        zabkeeper::server::run(config, shutdown).await
    })?;
    tracing::info!("zabkeeper stopped");
    Ok(())
}
