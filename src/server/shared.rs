//! [`Shared`]: the state the driver, the connections and the four-letter words share — the
//! configuration, the data tree behind its lock, the session table, the open connections, the
//! counters, and the role the driver publishes after every step ([`RoleInfo`], [`Mode`]). Below
//! every module that uses it (`server/mod.rs` "Layers"); the driver's inbox is not here: the
//! listener hands its sender to each connection.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::ServerConfig;
use crate::protocol::{DurableState, Effect, Input, NodeConfig};
use crate::server::clock::{SystemClock, WallClock};
use crate::server::conn::Connections;
use crate::server::sessions::{SessionTable, SessionTracker};
use crate::server::stats::ServerStats;
use crate::tree::DataTree;

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
    /// The data tree. Write-locked by the driver while it prepares a batch of writes and while it
    /// applies committed txns, queues their events and replies, so no connection can read a txn's
    /// effects before they are durable and before its watch events are queued; write-locked by a
    /// read that changes watches; read-locked, shared, by every other read (`ops.rs`).
    pub tree: tokio::sync::RwLock<DataTree>,
    /// Session deadlines (stamped with [`Shared::now_ms`] under the table's lock).
    pub sessions: SessionTable,
    /// Open connections.
    pub conns: Connections,
    /// Counters.
    pub stats: Arc<ServerStats>,
    /// zxid of the last applied txn.
    pub last_zxid: AtomicI64,
    /// The wall and monotonic clocks (`now_ms`, ctime/mtime, the reaper).
    pub clock: Arc<dyn WallClock>,
    /// Told when the server starts or stops serving and of every txn it applies (a simulation's
    /// checkers); `None` in the server binary.
    pub observer: Option<Arc<dyn Observer>>,
    /// The node's role, published by the driver after every step.
    pub role: Mutex<RoleInfo>,
    /// Runtime mutant (simulation only, never set by the binary): apply queues a txn's reply
    /// before its watch events, so a client can read the change before its notification.
    #[doc(hidden)]
    pub watch_after_reply: bool,
    /// Whether clients are served (the node is in broadcast); handshakes wait for it.
    pub serving: ServingFlag,
}

/// Whether the node serves clients, and a wait for it to. Waiters are woken in the order they
/// began waiting (a `tokio::sync::watch` picks among its wakers at random, which would make a
/// simulated run depend on more than its seed).
#[derive(Debug, Default)]
pub struct ServingFlag {
    on: std::sync::atomic::AtomicBool,
    changed: tokio::sync::Notify,
}

impl ServingFlag {
    /// Sets the flag; turning it on wakes every waiter.
    pub fn set(&self, serving: bool) {
        self.on.store(serving, Ordering::SeqCst);
        if serving {
            self.changed.notify_waiters();
        }
    }

    /// Whether the node serves clients now.
    pub fn get(&self) -> bool {
        self.on.load(Ordering::SeqCst)
    }

    /// Returns once the node serves clients.
    pub async fn wait(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.get() {
                return;
            }
            changed.await;
        }
    }
}

/// What a server reports about itself to a simulation (`server::Seams::observer`). Called on
/// the driver task, in the order things happened.
pub trait Observer: Send + Sync + 'static {
    /// The server started (`true`) or stopped serving clients; `leading`: as the leader;
    /// `last_zxid`: its last applied txn.
    fn serving(&self, serving: bool, leading: bool, last_zxid: u64);
    /// Committed txn `zxid` was applied to the tree; `data` is its logged bytes.
    fn applied(&self, zxid: u64, data: &[u8]);
    /// A leader's snapshot at `base` replaced the tree (the txns up to it were not applied one
    /// by one).
    fn installed(&self, base: u64);
    /// The driver built its node as `Node::new(config, durable)` (a trace's starting point).
    fn node_built(&self, _config: &NodeConfig, _durable: &DurableState) {}
    /// The node took one step: `Node::step(input)` pushed `effects`, which the driver executes
    /// next, in this order.
    fn stepped(&self, _input: &Input, _effects: &[Effect]) {}
    /// The data tree as it is right after the server recovered it from its disk, after each
    /// txn it applied ([`Observer::applied`] comes first) and after each snapshot it installed
    /// (a simulation checks that no ephemeral outlives its session's close).
    fn tree(&self, _tree: &DataTree) {}
}

impl Shared {
    /// Shared state over a recovered tree and session table.
    pub fn new(
        config: ServerConfig,
        tree: DataTree,
        sessions: SessionTracker,
        last_zxid: i64,
    ) -> Shared {
        Shared {
            config,
            tree: tokio::sync::RwLock::new(tree),
            sessions: SessionTable::new(sessions),
            conns: Connections::default(),
            stats: Arc::new(ServerStats::default()),
            last_zxid: AtomicI64::new(last_zxid),
            clock: Arc::new(SystemClock::new()),
            observer: None,
            role: Mutex::new(RoleInfo::default()),
            serving: ServingFlag::default(),
            watch_after_reply: false,
        }
    }

    /// The same state read through `clock` and told to `observer` (the seams of
    /// `server::run_with`).
    pub fn with_seams(
        mut self,
        clock: Arc<dyn WallClock>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Shared {
        self.clock = clock;
        self.observer = observer;
        self
    }

    /// Tells the observer, if any, that txn `zxid` (its logged bytes `data`) was applied.
    pub fn observe_applied(&self, zxid: u64, data: &[u8]) {
        if let Some(o) = &self.observer {
            o.applied(zxid, data);
        }
    }

    /// Tells the observer, if any, that the server starts (`true`) or stops serving clients, and
    /// as what (`leading`) with its last applied zxid.
    pub fn observe_serving(&self, serving: bool, leading: bool) {
        if let Some(o) = &self.observer {
            o.serving(serving, leading, self.last_zxid() as u64);
        }
    }

    /// Shows the observer, if any, the tree (after a recovery, an apply or an install).
    pub fn observe_tree(&self, tree: &DataTree) {
        if let Some(o) = &self.observer {
            o.tree(tree);
        }
    }

    /// Tells the observer, if any, that a leader's snapshot at `base` replaced the tree.
    pub fn observe_installed(&self, base: u64) {
        if let Some(o) = &self.observer {
            o.installed(base);
        }
    }

    /// The node's role after the driver's last step.
    pub fn role(&self) -> RoleInfo {
        self.role.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Milliseconds on the server's monotonic clock (session expiry).
    pub fn now_ms(&self) -> u64 {
        self.clock.monotonic_ms()
    }

    /// The wall-clock time (ms since the Unix epoch) of server-clock instant `at_ms`.
    pub fn wall_ms_at(&self, at_ms: u64) -> i64 {
        self.clock.wall_ms() + (at_ms as i64 - self.now_ms() as i64)
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
