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
//! start-up. Reads are served by `ops.rs` straight from the tree, after the connection's own
//! pending writes; clients are served only while the node is in broadcast.
//!
//! Tasks: one listener, one driver (the only writer of the tree and the session table, and the
//! only user of the log writer thread), one reader + one writer task per connection, one snapshot
//! task at a time, and in an ensemble the peer link tasks. Every queue is bounded. `run` returns
//! after every task has stopped and the log has been synced.

pub mod admin;
pub mod apply;
pub mod bench;
pub mod client;
pub mod driver;
pub mod listener;
pub mod ops;
pub mod outbound;
pub mod peers;
pub mod pipeline;
pub mod recovery;
pub mod sessions;
pub mod shutdown;
pub mod storage_exec;
pub mod syncs;
pub mod timers;
pub mod transport;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, Semaphore};

use crate::config::ServerConfig;
use crate::server::client::ConnHandle;
use crate::server::sessions::{SessionTable, SessionTracker};
use crate::tree::DataTree;

/// Capacity of the driver's inbox (writes and session creations waiting to be prepared).
pub const NODE_INBOX: usize = 4096;

/// Capacity of the driver's peer-event channel (messages and broken links, in order).
pub const PEER_INBOX: usize = 4096;

/// Why the server could not start or had to stop.
///
/// Like every error type of the crate, a variant either names its cause in its message or
/// returns it from `source()`, never both: the binary prints the whole chain once (`{:#}`), log
/// lines pass errors as `&dyn Error` so the subscriber prints their sources.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The client port could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// Address tried.
        addr: String,
        /// OS error.
        source: std::io::Error,
    },
    /// A `server.N` host name could not be resolved.
    #[error("cannot resolve {addr}")]
    Resolve {
        /// `host:port` as the line gives it.
        addr: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// Storage failed during recovery or while serving (its message names the file).
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// Recovered data could not be decoded, or a task failed.
    #[error("recovery: {0}")]
    Recovery(String),
    /// The txn log writer failed or could not start; nothing more can be made durable.
    #[error(transparent)]
    LogFailed(#[from] crate::storage::GroupCommitError),
    /// A runtime invariant broke or a task died (a bug): the server stops rather than go on.
    #[error("{0}")]
    Fatal(String),
}

/// Milliseconds since the Unix epoch (ctime/mtime of znodes, `cons` timestamps).
pub fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Server-wide counters for `srvr`, `stat`, `mntr`.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Packets received.
    pub received: AtomicU64,
    /// Packets sent.
    pub sent: AtomicU64,
    /// Smallest request latency (ms); u64::MAX when none yet.
    pub latency_min_ms: AtomicU64,
    /// Largest latency.
    pub latency_max_ms: AtomicU64,
    /// Sum of latencies.
    pub latency_total_ms: AtomicU64,
    /// Number of latencies.
    pub latency_count: AtomicU64,
    /// Entries in the core's in-memory log after the driver's last step (bounded by `snapCount`
    /// plus the proposals in flight once snapshots compact it).
    pub core_log_entries: AtomicU64,
    /// The core's log base after the driver's last step (the newest compacted snapshot's zxid).
    pub core_log_base: AtomicU64,
    /// DIFFs this server sent as leader (mntr `zk_diff_count`, ZooKeeper's name).
    pub diff_count: AtomicU64,
    /// SNAPs this server sent as leader (mntr `zk_snap_count`, ZooKeeper's name).
    pub snap_count: AtomicU64,
    /// TRUNCs this server sent as leader (mntr `zk_trunc_count`, ours).
    pub trunc_count: AtomicU64,
}

impl ServerStats {
    /// Adds one latency sample.
    pub fn record_latency(&self, ms: u64) {
        if self.latency_count.fetch_add(1, Ordering::Relaxed) == 0 {
            self.latency_min_ms.store(ms, Ordering::Relaxed);
        } else {
            self.latency_min_ms.fetch_min(ms, Ordering::Relaxed);
        }
        self.latency_max_ms.fetch_max(ms, Ordering::Relaxed);
        self.latency_total_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// `srst`.
    pub fn reset(&self) {
        for a in [
            &self.received,
            &self.sent,
            &self.latency_min_ms,
            &self.latency_max_ms,
            &self.latency_total_ms,
            &self.latency_count,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

/// Open connections, by id and by session.
#[derive(Debug, Default)]
pub struct Connections {
    inner: Mutex<ConnTable>,
}

#[derive(Debug, Default)]
struct ConnTable {
    by_id: BTreeMap<u64, ConnHandle>,
    by_session: BTreeMap<i64, ConnHandle>,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConnTable> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection.
    pub fn insert(&self, conn: ConnHandle) {
        self.lock().by_id.insert(conn.conn_id, conn);
    }

    /// Unregisters a connection (and its session binding if it still holds it).
    pub fn remove(&self, conn: &ConnHandle) {
        let mut t = self.lock();
        t.by_id.remove(&conn.conn_id);
        let sid = conn.session_id();
        if t.by_session
            .get(&sid)
            .is_some_and(|c| c.conn_id == conn.conn_id)
        {
            t.by_session.remove(&sid);
        }
    }

    /// Binds `session_id` to `conn`; returns the connection that held it before, if another.
    pub fn bind_session(&self, session_id: i64, conn: &ConnHandle) -> Option<ConnHandle> {
        let old = self.lock().by_session.insert(session_id, Arc::clone(conn));
        old.filter(|o| o.conn_id != conn.conn_id)
    }

    /// The connection with id `conn_id`.
    pub fn by_conn_id(&self, conn_id: u64) -> Option<ConnHandle> {
        self.lock().by_id.get(&conn_id).cloned()
    }

    /// The connection currently serving `session_id`.
    pub fn by_session(&self, session_id: i64) -> Option<ConnHandle> {
        self.lock().by_session.get(&session_id).cloned()
    }

    /// Every open connection, in id order.
    pub fn all(&self) -> Vec<ConnHandle> {
        self.lock().by_id.values().cloned().collect()
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The server's mode as the four-letter words report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// No `server.N` lines.
    #[default]
    Standalone,
    /// Ensemble member, leading.
    Leader,
    /// Ensemble member, following.
    Follower,
    /// Ensemble member, observing.
    Observer,
    /// Ensemble member, electing.
    Looking,
}

impl Mode {
    /// ZooKeeper's spelling (`srvr`'s `Mode:`, mntr's `zk_server_state`).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
            Mode::Looking => "looking",
        }
    }
}

/// The node's role after the driver's last step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleInfo {
    /// The mode.
    pub mode: Mode,
    /// In broadcast: clients are served.
    pub serving: bool,
    /// The leader, once known.
    pub leader: Option<u64>,
    /// acceptedEpoch.
    pub accepted_epoch: u32,
    /// currentEpoch.
    pub current_epoch: u32,
    /// On a leader: connected learners.
    pub learners: usize,
    /// On a leader: followers that acknowledged NEWLEADER.
    pub synced_followers: usize,
    /// On a leader: observers that acknowledged NEWLEADER.
    pub synced_observers: usize,
    /// On a leader: client `sync`s (its own and its learners') waiting for their quorum round.
    pub pending_syncs: usize,
    /// ZAB phase (`election`, `discovery`, `synchronization`, `broadcast`).
    pub phase: &'static str,
}

/// State shared by the driver, the connections and the four-letter words.
pub struct Shared {
    /// The configuration the server started with.
    pub config: ServerConfig,
    /// The data tree. Held by the driver while it prepares a batch of writes and while it applies
    /// committed txns, queues their events and replies, so no connection can read a txn's effects before they are durable and before
    /// its watch events are queued.
    pub tree: tokio::sync::Mutex<DataTree>,
    /// Session deadlines (stamped with [`Shared::now_ms`] under the table's lock).
    pub sessions: SessionTable,
    /// Open connections.
    pub conns: Connections,
    /// The driver's inbox.
    pub node_tx: mpsc::Sender<driver::NodeMsg>,
    /// Counters.
    pub stats: Arc<ServerStats>,
    /// zxid of the last applied txn.
    pub last_zxid: AtomicI64,
    /// Monotonic base of `now_ms`.
    pub started: Instant,
    /// The node's role, published by the driver after every step.
    pub role: Mutex<RoleInfo>,
    /// Whether clients are served (the node is in broadcast); handshakes wait for it.
    pub serving: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// Shared state over a recovered tree and session table.
    pub fn new(
        config: ServerConfig,
        tree: DataTree,
        sessions: SessionTracker,
        node_tx: mpsc::Sender<driver::NodeMsg>,
        last_zxid: i64,
    ) -> Shared {
        Shared {
            config,
            tree: tokio::sync::Mutex::new(tree),
            sessions: SessionTable::new(sessions),
            conns: Connections::default(),
            node_tx,
            stats: Arc::new(ServerStats::default()),
            last_zxid: AtomicI64::new(last_zxid),
            started: Instant::now(),
            role: Mutex::new(RoleInfo::default()),
            serving: tokio::sync::watch::Sender::new(false),
        }
    }

    /// The node's role after the driver's last step.
    pub fn role(&self) -> RoleInfo {
        self.role.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Milliseconds on the server's monotonic clock (session expiry).
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The wall-clock time (ms since the Unix epoch) of server-clock instant `at_ms`.
    pub fn wall_ms_at(&self, at_ms: u64) -> i64 {
        wall_clock_ms() + (at_ms as i64 - self.now_ms() as i64)
    }

    /// zxid of the last applied txn.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid.load(Ordering::SeqCst)
    }

    /// Runs `f` on the session table.
    pub fn with_sessions<R>(&self, f: impl FnOnce(&mut SessionTracker) -> R) -> R {
        self.sessions.with(f)
    }

    /// Runs `f` on the session table with the server clock, read under the table's lock
    /// ([`SessionTable::with_now`]): for everything that stamps a deadline.
    pub fn with_sessions_now<R>(&self, f: impl FnOnce(&mut SessionTracker, u64) -> R) -> R {
        self.sessions.with_now(|| self.now_ms(), f)
    }
}

/// Autopurge on the log writer thread (`StorageExec::purge`).
fn purge_file_storage(storage: &mut crate::storage::FileStorage, retain: usize) {
    match storage.purge(retain) {
        Ok(deleted) => tracing::info!(files = deleted.len(), "autopurge done"),
        Err(e) => tracing::warn!(error = %e, "autopurge failed"),
    }
}

fn notify_shutdown_early(listener: &listener::Listener) -> usize {
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
    let addr = match config.client_port_address {
        Some(ip) => std::net::SocketAddr::new(ip, config.client_port),
        None => std::net::SocketAddr::from(([0, 0, 0, 0], config.client_port)),
    };
    let tcp = TcpListener::bind(addr)
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
            let listeners = peers::PeerListeners::bind(
                &transport::TokioTransport,
                mine.election_addr,
                mine.quorum_addr,
            )
            .await
            .map_err(|source| ServerError::Bind {
                addr: format!("{} or {}", mine.election_addr, mine.quorum_addr),
                source,
            })?;
            Some((crate::protocol::ServerId(me), members, listeners))
        }
    };
    let recovered = recovery::recover(&config)?;
    let (node_tx, node_rx) = mpsc::channel(NODE_INBOX);
    let mut tracker = SessionTracker::new(config.tick_ms);
    for (&id, &timeout_ms) in &recovered.sessions {
        // ZooKeeper restarts every recovered session's expiry clock at load time.
        tracker.add(id, timeout_ms, 0);
    }
    let shared = Arc::new(Shared::new(
        config.clone(),
        recovered.tree,
        tracker,
        node_tx,
        recovered.last_zxid,
    ));
    if config.admin_enable_server {
        tracing::info!("admin.enableServer: the HTTP AdminServer is not implemented; use 4lw");
    }
    let peers = match peer_ports {
        None => None,
        Some((me, members, listeners)) => {
            let (tx, events) = mpsc::channel(PEER_INBOX);
            let net_config = peers::PeerNetConfig::new(me, members);
            let net = peers::PeerNet::start(transport::TokioTransport, net_config, listeners, tx)
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
        %addr,
        last_zxid = format_args!("{:#x}", recovered.last_zxid),
        sessions = recovered.sessions.len(),
        "zabkeeper serving"
    );
    let (notify_shutdown, _) = broadcast::channel(1);
    let (shutdown_complete_tx, mut shutdown_complete_rx) = mpsc::channel::<()>(1);
    let storage = storage_exec::StorageExec::spawn(
        recovered.storage,
        Some(recovered.snap_dir),
        Some(purge_file_storage),
    )?;
    let node = driver::Driver::new(
        Arc::clone(&shared),
        node_rx,
        driver::node_config(&config),
        recovered.durable,
        storage,
        recovered.session_ids,
        shutdown::Shutdown::new(notify_shutdown.subscribe()),
        peers,
    );
    let mut node_handle = tokio::spawn(async move { node.run().await.map(drop) });
    let mut listener = listener::Listener {
        listener: tcp,
        shared: Arc::clone(&shared),
        limit: Arc::new(Semaphore::new(listener::MAX_CONNECTIONS)),
        ip_counts: Arc::new(listener::IpCounts::default()),
        notify_shutdown: notify_shutdown.clone(),
        shutdown_complete_tx,
    };
    tokio::select! {
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
