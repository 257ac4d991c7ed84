//! The world around `protocol::Node`, as a `stateright::Model`.
//!
//! Why not `stateright::actor::ActorModel`: its crash bound is "crashed at the same time", not a
//! budget; it has no way to break a link and lose exactly its in-flight suffix; and a disk that
//! acknowledges writes later must be its own event. This model keeps the same shape (a state per
//! server, a network, `on_start` = restart from durable state) and adds those events explicitly.
//!
//! World rules (verification.md §Assumptions):
//! - Links are FIFO per ordered pair, like TCP. Messages are never lost one at a time; a link
//!   *break* loses everything in flight on it in both directions, and both ends get
//!   `Input::PeerLost` (the new connection starts empty: a link generation).
//! - A crash loses the server's volatile state, its unflushed disk writes, its timers and all its
//!   links (peers get `PeerLost`). A restart is `Node::new(config, disk)` then `Input::Start`.
//! - The txn log is flushed in request order, one request per `FlushLog` event (so a crash can
//!   land between any two); the epoch files are written by their own `FlushEpoch` event, as
//!   ZooKeeper writes them outside its txn log.
//! - Timers fire in any order at any time (named timers, no clock). Which timers fire is chosen
//!   per model (`ModelConfig::fire`).
//! - A *silent isolation* (`--isolations`) cuts one server off from all others without telling
//!   anyone: in-flight messages are lost, later ones are dropped, and neither end gets
//!   `PeerLost`, not even from a `Disconnect` or a crash across the cut; it never heals. Only
//!   `SyncLimit` reveals it, so these runs fire `SyncLimit`, and only at a server cut off from
//!   its leader or from one of its learners (heartbeats are not modelled: a server that hears
//!   its peers would keep re-arming the timer). This is how a deposed or paused leader goes on
//!   believing it leads.
//! - Clients issue `sync`s (`--syncs`) at any live server (one that is not serving fails it:
//!   a client session outlives the role it was opened under); the model records, when each is
//!   issued, every txn committed anywhere so far (ZAB-SYNC-LINEARIZABLE's oracle).
//! - A server may take a snapshot (`Action::Snapshot`, bounded by `--snapshots`): its applied
//!   history at its committed zxid becomes its disk's snapshot at once (durable), its disk's log
//!   base moves there, and the node is fed `Input::Compacted`. The model's "data tree" of a
//!   server is its applied history (`Server::applied`), extended by `Effect::Commit`. A SNAP
//!   carries that history encoded as bytes (`encode_history`); `Effect::InstallSnapshot` is one
//!   more ordered log write whose flush replaces the disk's snapshot and the applied history.
//! - A server may drop its committed log entries from memory with no snapshot written
//!   (`Action::Compact`, bounded by `--compactions`): the server's runtime bounds the core's log
//!   to `commitLogCount` committed entries this way. The node is fed `Input::Compacted` at its
//!   committed zxid; the disk keeps its log and snapshot, so a restart recovers the longer log.
//!
//! Every step of the world runs under `panics::catch`: a panic in `Node::step` is recorded on its
//! server, a panic anywhere else in the step (the model's disk, its bookkeeping) is recorded as a
//! `NO-PANIC` violation of the world; either way the state is a counterexample with a trace.
//! Each explored transition also reports which protocol branches it took (`reach.rs`).
//!
//! Files: `config.rs` (the bounds), `state.rs` (the world's state and its events, `Action`),
//! `world.rs` (initial states and the events: `apply`, the atomic election), `runtime.rs` (the
//! model's runtime: a node's step and its effects on disks, links and timers), `ghost.rs` (the
//! history kept for properties and the reach counters), `shared.rs` (the parts of a state that
//! successors share until they change them, each hashed once), `classify.rs` (which protocol branch a
//! step took), `model.rs` (the `stateright::Model` glue); `ackepoch.rs` (the core test
//! `tests/protocol_ackepoch.rs` recorded as model actions: the CI profile's schedule run).

pub mod ackepoch;
mod classify;
mod config;
mod ghost;
mod model;
mod runtime;
mod shared;
mod state;
#[cfg(test)]
mod tests;
mod world;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use zabkeeper::protocol::{NodeConfig, ServerId};

pub use config::{ModelConfig, ModelKind};
pub use shared::Shared;
pub use state::{
    decode_history, encode_history, rejoined, state_name, Action, ClusterState, Ghost, LogWrite,
    Server, SyncRecord,
};

use crate::panics;
use crate::reach::Reach;

/// The model: configuration plus one `NodeConfig` per server.
#[derive(Clone, Debug)]
pub struct ClusterModel {
    /// Bounds and options.
    pub cfg: ModelConfig,
    /// What the explored transitions reached (shared by the checker's threads).
    pub reach: Arc<Reach>,
    /// The `always` properties a checked state has violated so far in this run.
    violated: Arc<Mutex<BTreeSet<&'static str>>>,
    configs: Vec<NodeConfig>,
}

fn sid(i: usize) -> ServerId {
    ServerId(i as u64 + 1)
}

impl ClusterModel {
    /// A model with these bounds.
    pub fn new(cfg: ModelConfig) -> ClusterModel {
        let voters: Vec<ServerId> = (0..cfg.servers).map(sid).collect();
        let observers: Vec<ServerId> = (cfg.servers..cfg.servers + cfg.observers)
            .map(sid)
            .collect();
        let configs = (0..cfg.servers + cfg.observers)
            .map(|i| {
                let mut c = NodeConfig::new(sid(i), voters.clone());
                if !observers.is_empty() {
                    c = c.with_observers(observers.clone());
                }
                c.bug = cfg.bug;
                c
            })
            .collect();
        panics::install_hook();
        ClusterModel {
            cfg,
            reach: Arc::new(Reach::default()),
            violated: Arc::default(),
            configs,
        }
    }

    /// Is this the first state of the run found to violate `property`? (See `properties.rs`:
    /// only that one is reported, so the counterexample is the first found.)
    pub fn first_violation(&self, property: &'static str) -> bool {
        self.violated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(property)
    }
}
