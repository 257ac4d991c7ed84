//! The tokio runtime of a server, standalone or ensemble member: recovery, the peer links, the
//! driver of the protocol core, the listener, the housekeeping timers, and graceful shutdown.
//!
//! Every write goes through `protocol::Node::step`, and the zxid of every txn is the core's. A
//! standalone server (no `server.N` lines) is a one-voter ZAB ensemble; an ensemble member runs
//! FLE and ZAB with its peers over [`peers`] (election and quorum links, [`transport`]). One
//! write, top-down (`spec/server.md` "The write path"): [`client`] decodes the frame and sends a
//! [`driver::NodeMsg`] → [`driver`] (the single owner of the `Node`). On the leader it asks the
//! core for the next zxid → [`pipeline`] prepares the request into a txn stamped with it
//! (`tree::prepare`, against the tree plus the changes in flight) → `Input::Write` → the core
//! emits `PersistTxns` (and PROPOSALs to its followers) → [`storage_exec`] appends and fsyncs
//! through storage's group commit → `Input::Persisted` → with a quorum of durable ACKs the core
//! emits `Commit` → [`apply`] applies the committed txns to the tree in zxid order, queues the
//! watch events, then the reply to whoever waits on that zxid, and only then releases the tree so
//! other connections can read the new data. On a learner [`pipeline`] instead encodes the request
//! for the leader (`wire::forward`) → `Input::Forward`; the leader prepares it; the learner
//! applies the committed txn like every other and answers its client, matched by (session id,
//! cxid). [`recovery`] builds the tree and the core's `DurableState` from the data directory at
//! start-up. Reads are served by [`ops`] straight from the tree, after the connection's own
//! pending writes; clients are served only while the node is in broadcast.
//!
//! # Layers
//!
//! Every `crate::server::…` or `super::…` path in a module of `src/server` names a module further
//! down this list, never one above it (`tests/server_layers.rs` reads the list from here and
//! checks every file); only this file, which starts everything, reaches all of them:
//!
//! `listener` → `client` → `admin` → `driver` → `pipeline` → `apply` → `syncs` → `revalidations`
//! → `storage_exec` → `recovery` → `peers` → `transport` → `timers` → `ops` → `shared` → `conn`
//! → `outbound` → `stats` → `sessions` → `shutdown` → `clock` → `error`
//!
//! So a write is followed top-down: the listener accepts, the connection ([`client`]) reads the
//! frame, the [`driver`] steps the core and hands work down to the pipeline, the applier, the
//! syncs, the pending REVALIDATE verdicts ([`revalidations`]), the log writer, the peer links and
//! the timers; below them are the read path and reply
//! frames ([`ops`]), the state they all share ([`shared`]: tree, sessions, connections, role),
//! one connection's handle and outbound queue ([`conn`], its byte bound in [`outbound`]), and the
//! leaves. The load generator (`zabkeeper bench`) is a client and lives outside, in `crate::bench`.
//!
//! Tasks: one listener, one driver (the only writer of the tree and the session table, and the
//! only user of the log writer thread), one reader + one writer task per connection, one snapshot
//! task at a time, and in an ensemble the peer link tasks. Every queue is bounded. `run` returns
//! after every task has stopped and the log has been synced.

pub mod admin;
pub mod apply;
pub mod client;
pub mod clock;
pub mod conn;
pub mod driver;
pub mod error;
pub mod listener;
pub mod ops;
pub mod outbound;
pub mod peers;
pub mod pipeline;
pub mod recovery;
pub mod revalidations;
pub mod sessions;
pub mod shared;
pub mod shutdown;
pub mod stats;
pub mod storage_exec;
pub mod syncs;
pub mod timers;
pub mod transport;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, Semaphore};

use crate::config::ServerConfig;
use crate::server::clock::{SystemClock, WallClock};
pub use crate::server::error::ServerError;
use crate::server::sessions::SessionTracker;
use crate::server::shared::{Observer, Shared};
use crate::server::storage_exec::{Housekeeping, LogWriter};
use crate::server::transport::{Listener as _, TokioTransport, Transport};
use crate::storage::{FileStorage, Storage};

/// Capacity of the driver's inbox (writes and session creations waiting to be prepared).
pub const NODE_INBOX: usize = 4096;

/// Capacity of the driver's peer-event channel (messages and broken links, in order).
pub const PEER_INBOX: usize = 4096;

/// Autopurge on the log writer thread (`StorageExec::purge`).
fn purge_file_storage(storage: &mut crate::storage::FileStorage, retain: usize) {
    match storage.purge(retain) {
        Ok(deleted) => tracing::info!(files = deleted.len(), "autopurge done"),
        Err(e) => tracing::warn!(error = %e, "autopurge failed"),
    }
}

fn notify_shutdown_early<L: transport::Listener>(listener: &listener::Listener<L>) -> usize {
    listener.notify_shutdown.send(()).unwrap_or(0)
}

/// The `server.N` lines as the peer links need them: each member's election and quorum
/// addresses (host names resolved once, at start-up) and its learner type.
async fn ensemble_members(
    config: &ServerConfig,
) -> Result<BTreeMap<crate::protocol::ServerId, peers::Member>, ServerError> {
    let mut members = BTreeMap::new();
    for (&id, spec) in &config.servers {
        let resolve = |port: u16| {
            let host = spec.host.clone();
            async move {
                let addr = format!("{host}:{port}");
                tokio::net::lookup_host(addr.as_str())
                    .await
                    .and_then(|mut addrs| {
                        addrs.next().ok_or_else(|| {
                            std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
                        })
                    })
                    .map_err(|source| ServerError::Resolve { addr, source })
            }
        };
        let learner = match spec.role {
            crate::config::PeerRole::Participant => crate::wire::peer::LearnerType::Participant,
            crate::config::PeerRole::Observer => crate::wire::peer::LearnerType::Observer,
        };
        members.insert(
            crate::protocol::ServerId(id),
            peers::Member {
                election_addr: resolve(spec.election_port).await?,
                quorum_addr: resolve(spec.quorum_port).await?,
                learner,
            },
        );
    }
    Ok(members)
}

/// Where the driver (the one task that owns the protocol `Node`, `server/driver/`) runs.
///
/// The driver is the write path's serial stage: every write is prepared, proposed, applied and
/// answered there (`spec/server.md` "The write path"). On the shared worker pool it is polled
/// between the connections' tasks, and a disk confirmation from the log writer thread is a
/// wake-up from outside the runtime, which tokio's workers take from their global queue between
/// runs of local tasks. On its own thread the server made 1.00–1.31× the write ops/s with a lower
/// or equal p50 in every run measured (benches/README.md "Write path: where a write waited").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverPlacement {
    /// Its own OS thread running a current-thread runtime, woken by the kernel as soon as a
    /// message, a disk confirmation or a timer is there (the server; ZooKeeper likewise runs
    /// its `PrepRequestProcessor` and `SyncRequestProcessor` on threads of their own).
    OwnThread,
    /// A task on the caller's runtime (a simulation, whose scheduler must own every task).
    Task,
}

/// The name of the driver's thread ([`DriverPlacement::OwnThread`]; Linux keeps 15 bytes of it).
pub const DRIVER_THREAD: &str = "zk-driver";

/// The driver on its own thread ([`DriverPlacement::OwnThread`]); the handle is a task on the
/// caller's runtime that ends with the driver.
fn spawn_driver_thread<S: Storage + 'static>(
    node: driver::Driver<S>,
) -> Result<tokio::task::JoinHandle<Result<(), ServerError>>, ServerError> {
    let (done_tx, done) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(DRIVER_THREAD.into())
        .spawn(move || {
            let outcome = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(node.run()).map(drop),
                Err(e) => Err(ServerError::Fatal(format!("driver runtime: {e}"))),
            };
            // The receiver is gone only if the server's runtime is shutting down.
            let _ = done_tx.send(outcome);
        })
        .map_err(|e| ServerError::Fatal(format!("driver thread: {e}")))?;
    Ok(tokio::spawn(async move {
        done.await
            .unwrap_or_else(|_| Err(ServerError::Fatal("the driver thread panicked".into())))
    }))
}

/// Opens and recovers a server's storage (`Seams::recover`): called once, after the ports are
/// bound, with the configuration and the server's clock.
pub type Recover<S> = Box<
    dyn FnOnce(&ServerConfig, &dyn WallClock) -> Result<recovery::Recovered<S>, ServerError> + Send,
>;

/// Where a server meets the world: the network, the disk, the clocks, and who watches it.
/// [`run`] uses [`Seams::real`] (TCP, the data directory, the system clock); a simulation
/// (tests/sim) supplies simulated ones to [`run_with`], and the same runtime code runs on them.
pub struct Seams<T: Transport, S: Storage + 'static> {
    /// How the client port and the peer links bind and dial.
    pub transport: T,
    /// Opens the storage and recovers the tree and the core's durable state.
    pub recover: Recover<S>,
    /// Autopurge on the log writer, when the storage has one.
    pub purge: Option<Housekeeping<S>>,
    /// Which writer runs the storage.
    pub log_writer: LogWriter,
    /// The wall and monotonic clocks.
    pub clock: Arc<dyn WallClock>,
    /// Told when the server serves and what it applies.
    pub observer: Option<Arc<dyn Observer>>,
    /// Where the driver runs.
    pub driver_placement: DriverPlacement,
    /// Runtime mutant for the simulation ([`Shared::watch_after_reply`]); false in the binary.
    #[doc(hidden)]
    pub watch_after_reply: bool,
    /// A core mutant for the simulation (`NodeConfig::bug`: tests/sim replays a model
    /// counterexample of it on the real server); `None` in the binary.
    #[doc(hidden)]
    pub core_bug: Option<crate::protocol::Bug>,
}

impl Seams<TokioTransport, FileStorage> {
    /// The server's own: tokio TCP, `dataDir` through `FileStorage` with autopurge, the
    /// group-commit thread, the system clock, no observer.
    pub fn real() -> Self {
        Seams {
            transport: TokioTransport,
            recover: Box::new(|config, _| recovery::recover(config)),
            purge: Some(purge_file_storage),
            log_writer: LogWriter::Thread,
            driver_placement: DriverPlacement::OwnThread,
            clock: Arc::new(SystemClock::new()),
            observer: None,
            watch_after_reply: false,
            core_bug: None,
        }
    }
}

/// Runs a server until `shutdown` completes: binds the client port (and, in an ensemble, the
/// election and quorum ports of its `server.N` line), locks and recovers the data directory,
/// starts the peer links, serves, and on shutdown stops accepting, closes connections and syncs
/// the log.
///
/// Start-up order (`spec/server.md` "Start-up"): the ports first, then the directory lock, and
/// only then anything that writes — so a server that cannot bind a port, or whose directory
/// another server uses, stops without having created a file. Connections that arrive during
/// recovery wait in the listen backlog; clients that arrive before the node is in broadcast
/// wait in their handshake.
pub async fn run(config: ServerConfig, shutdown: impl Future) -> Result<(), ServerError> {
    run_with(config, Seams::real(), shutdown).await
}

/// [`run`] on the given seams.
pub async fn run_with<T: Transport, S: Storage + 'static>(
    config: ServerConfig,
    seams: Seams<T, S>,
    shutdown: impl Future,
) -> Result<(), ServerError> {
    let Seams {
        transport,
        recover,
        purge,
        log_writer,
        driver_placement,
        clock,
        observer,
        watch_after_reply,
        core_bug,
    } = seams;
    let addr = match config.client_port_address {
        Some(ip) => std::net::SocketAddr::new(ip, config.client_port),
        None => std::net::SocketAddr::from(([0, 0, 0, 0], config.client_port)),
    };
    let tcp = transport
        .bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let peer_ports = match config.my_id {
        None => None,
        Some(me) => {
            let members = ensemble_members(&config).await?;
            let mine = members[&crate::protocol::ServerId(me)];
            let listeners =
                peers::PeerListeners::bind(&transport, mine.election_addr, mine.quorum_addr)
                    .await
                    .map_err(|source| ServerError::Bind {
                        addr: format!("{} or {}", mine.election_addr, mine.quorum_addr),
                        source,
                    })?;
            Some((crate::protocol::ServerId(me), members, listeners))
        }
    };
    let recovered = recover(&config, clock.as_ref())?;
    let (node_tx, node_rx) = mpsc::channel(NODE_INBOX);
    let mut tracker = SessionTracker::new(config.tick_ms);
    for (&id, &timeout_ms) in &recovered.sessions {
        // ZooKeeper restarts every recovered session's expiry clock at load time.
        tracker.add(id, timeout_ms, 0);
    }
    let mut shared = Shared::new(config.clone(), recovered.tree, tracker, recovered.last_zxid)
        .with_seams(clock, observer);
    shared.watch_after_reply = watch_after_reply;
    if let Some(o) = &shared.observer {
        o.tree(shared.tree.get_mut());
    }
    let shared = Arc::new(shared);
    if config.admin_enable_server {
        tracing::info!("admin.enableServer: the HTTP AdminServer is not implemented; use 4lw");
    }
    let peers = match peer_ports {
        None => None,
        Some((me, members, listeners)) => {
            let (tx, events) = mpsc::channel(PEER_INBOX);
            let net_config = peers::PeerNetConfig::new(me, members);
            let net = peers::PeerNet::start(transport.clone(), net_config, listeners, tx)
                .map_err(|e| ServerError::Fatal(format!("peer links: {e}")))?;
            tracing::info!(
                myid = me.0,
                election = %net.election_addr(),
                quorum = %net.quorum_addr(),
                "peer links started"
            );
            Some(driver::Peers { net, events })
        }
    };
    tracing::info!(
        addr = %tcp.local_addr().map_or(addr, |a| a),
        last_zxid = format_args!("{:#x}", recovered.last_zxid),
        sessions = recovered.sessions.len(),
        "zabkeeper serving"
    );
    let (notify_shutdown, _) = broadcast::channel(1);
    let (shutdown_complete_tx, mut shutdown_complete_rx) = mpsc::channel::<()>(1);
    let storage = storage_exec::StorageExec::spawn_with(
        recovered.storage,
        recovered.snap_dir,
        purge,
        log_writer,
    )?;
    let mut node_config = driver::node_config(&config);
    node_config.bug = core_bug;
    let node = driver::Driver::new(
        Arc::clone(&shared),
        node_rx,
        node_config,
        recovered.durable,
        storage,
        recovered.session_ids,
        shutdown::Shutdown::new(notify_shutdown.subscribe()),
        peers,
    );
    let mut node_handle = match driver_placement {
        DriverPlacement::OwnThread => spawn_driver_thread(node)?,
        DriverPlacement::Task => tokio::spawn(async move { node.run().await.map(drop) }),
    };
    let mut listener = listener::Listener {
        listener: tcp,
        shared: Arc::clone(&shared),
        node_tx,
        limit: Arc::new(Semaphore::new(listener::MAX_CONNECTIONS)),
        ip_counts: Arc::new(listener::IpCounts::default()),
        notify_shutdown: notify_shutdown.clone(),
        shutdown_complete_tx,
    };
    tokio::select! {
        // Fixed order, not tokio's random pick: a run is a function of its inputs (tests/sim).
        biased;
        r = listener.run() => {
            if let Err(e) = r {
                tracing::error!(error = %e, "listener failed");
            }
        }
        _ = shutdown => {}
        r = &mut node_handle => {
            // The driver only stops early on a storage failure: stop serving.
            let outcome = match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(ServerError::Recovery(format!("driver panicked: {e}"))),
            };
            let _ = notify_shutdown_early(&listener);
            return outcome;
        }
    }
    let listener::Listener {
        shutdown_complete_tx,
        notify_shutdown,
        limit,
        ..
    } = listener;
    limit.close();
    drop(notify_shutdown.send(()));
    drop(notify_shutdown);
    drop(shutdown_complete_tx);
    let _ = shutdown_complete_rx.recv().await;
    drop(shared);
    match node_handle.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(ServerError::Recovery(format!("driver panicked: {e}"))),
    }
}
