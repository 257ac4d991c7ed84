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
//!
//! Every step of the world runs under `panics::catch`: a panic in `Node::step` is recorded on its
//! server, a panic anywhere else in the step (the model's disk, its bookkeeping) is recorded as a
//! `NO-PANIC` violation of the world; either way the state is a counterexample with a trace.
//! Each explored transition also reports which protocol branches it took (`reach.rs`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use stateright::{Model, Property};
use zabkeeper::protocol::{
    Bug, DurableState, Effect, Effects, Epoch, Input, LeaderPhase, LearnerPhase, LearnerStage,
    Node, NodeConfig, PeerMsg, PeerState, Proposal, Role, ServerId, SyncKind, Timer, Zxid,
};

use crate::panics;
use crate::reach::{Mark, Reach};

/// Which model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Fast Leader Election alone: only notifications are delivered; servers start from
    /// arbitrary `(currentEpoch, last zxid)`.
    Election,
    /// Election + discovery + sync + broadcast from empty servers.
    Zab,
    /// `Zab` with each election run to quiescence as one step (`Action::Elect`): the same
    /// `Node::step` calls in one canonical order, so the vote order is honoured, but elections no
    /// longer interleave with each other or with ZAB traffic. Reaches deeper bounds; it cannot
    /// produce split elections (two servers deciding differently in one round), which `zab` does.
    Sync,
}

impl ModelKind {
    /// CLI name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Election => "election",
            ModelKind::Zab => "zab",
            ModelKind::Sync => "sync",
        }
    }

    /// Parses a CLI name.
    pub fn from_name(name: &str) -> Option<ModelKind> {
        match name {
            "election" => Some(ModelKind::Election),
            "zab" => Some(ModelKind::Zab),
            "sync" => Some(ModelKind::Sync),
            _ => None,
        }
    }
}

/// Bounds and world options.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    /// Which model.
    pub kind: ModelKind,
    /// Number of voters (ids 1..=servers).
    pub servers: usize,
    /// Number of observers (ids servers+1..=servers+observers): non-voting learners.
    pub observers: usize,
    /// Client writes the whole run may issue.
    pub txns: u8,
    /// Crashes the whole run may have.
    pub crashes: u8,
    /// Link breaks the whole run may have.
    pub link_faults: u8,
    /// Client `sync`s the whole run may issue.
    pub syncs: u8,
    /// Silent isolations the whole run may have (each also makes `SyncLimit` fire).
    pub isolations: u8,
    /// Snapshots (`Action::Snapshot`) the whole run may take.
    pub snapshots: u8,
    /// No state with an acceptedEpoch above this is explored.
    pub max_epoch: u32,
    /// No state with an election round above this is explored.
    pub max_round: u64,
    /// Timers the world fires.
    pub fire: BTreeSet<Timer>,
    /// Firings of timers other than `FinalizeWait` the whole run may have (`None`: no limit).
    /// Heartbeat, SyncLimit and Notify re-arm themselves, so without a budget the state space is
    /// unbounded.
    pub timer_fires: Option<u8>,
    /// Client requests also reach servers that are not serving leaders: a learner forwards them
    /// as REQUEST (`Input::Forward`), the leader's `Effect::Prepare` is prepared by the runtime
    /// and fed back later as `Input::Write` (`Action::Propose`), by which time the leader may
    /// have lost its role; a LOOKING server refuses them. They share the `txns` budget.
    pub forward: bool,
    /// Election model: the `(currentEpoch, last zxid)` each server may start from.
    pub initial_histories: Vec<(u32, Vec<(u32, u32)>)>,
    /// A seeded bug.
    pub bug: Option<Bug>,
}

impl ModelConfig {
    /// The defaults of `zabkeeper-check run MODEL`.
    pub fn new(kind: ModelKind) -> ModelConfig {
        let (fire, histories) = match kind {
            ModelKind::Election => (
                [Timer::FinalizeWait].into_iter().collect(),
                vec![
                    (0, vec![]),
                    (1, vec![(1, 1)]),
                    (2, vec![(1, 1)]),
                    (2, vec![(1, 1), (2, 1)]),
                ],
            ),
            ModelKind::Zab | ModelKind::Sync => (
                [Timer::FinalizeWait].into_iter().collect(),
                vec![(0, vec![])],
            ),
        };
        ModelConfig {
            kind,
            servers: 3,
            observers: 0,
            txns: if kind == ModelKind::Election { 0 } else { 1 },
            crashes: if kind == ModelKind::Election { 0 } else { 1 },
            link_faults: 0,
            syncs: 0,
            isolations: 0,
            snapshots: 0,
            // `zab` interleaves every election message with everything else; at one epoch and
            // one round it completes in seconds, at two it does not finish in CI time
            // (verification.md). `sync` reaches three epochs.
            max_epoch: if kind == ModelKind::Zab { 1 } else { 3 },
            max_round: if kind == ModelKind::Zab { 1 } else { 3 },
            fire,
            timer_fires: None,
            forward: false,
            initial_histories: histories,
            bug: None,
        }
    }

    /// A one-line summary of the bounds (for reports).
    pub fn bounds(&self) -> serde_json::Value {
        serde_json::json!({
            "servers": self.servers, "observers": self.observers, "txns": self.txns,
            "crashes": self.crashes, "link_faults": self.link_faults, "syncs": self.syncs,
            "isolations": self.isolations, "snapshots": self.snapshots,
            "max_epoch": self.max_epoch, "max_round": self.max_round,
            "timers": self.fire.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>(),
            "timer_fires": self.timer_fires, "forward": self.forward,
            "bug": self.bug.map(|b| b.name()),
            "initial_histories": self.initial_histories.len(),
        })
    }
}

/// One requested log write not yet on disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogWrite {
    /// `PersistTxns`.
    Append {
        /// The txns.
        proposals: Vec<Proposal>,
        /// Commit watermark written with them.
        committed: Zxid,
    },
    /// `TruncateLog`.
    Truncate {
        /// Last zxid kept.
        after: Zxid,
    },
    /// `InstallSnapshot`, with the history the snapshot bytes encode.
    Install {
        /// The snapshot's base.
        base: Zxid,
        /// What the snapshot holds.
        history: Vec<Proposal>,
    },
}

/// One server: its protocol node (none while crashed) and its disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Server {
    /// The protocol state; `None` while crashed.
    pub node: Option<Node>,
    /// What is on disk.
    pub disk: DurableState,
    /// The history the disk's snapshot holds (the txns up to `disk.log_base`).
    pub snapshot: Vec<Proposal>,
    /// The "data tree": every txn applied in this life, in order (`Effect::Commit`, an
    /// installed snapshot, or recovery: the disk's snapshot and its log up to the watermark).
    pub applied: Vec<Proposal>,
    /// A SNAP's snapshot was installed on disk in this life.
    pub installed: bool,
    /// Log writes requested, not yet durable, in order.
    pub pending_log: Vec<LogWrite>,
    /// Epoch write requested, not yet durable.
    pub pending_epoch: Option<(Epoch, Epoch)>,
    /// Armed timers.
    pub timers: BTreeSet<Timer>,
    /// Forwarded requests the leader's runtime is preparing (`Effect::Prepare`), oldest first;
    /// each becomes an `Input::Write` by `Action::Propose`.
    pub prepared: VecDeque<Bytes>,
    /// Restarts so far.
    pub restarts: u8,
    /// A production assertion fired in this server's `step` (its message).
    pub panic: Option<String>,
}

/// History kept only to check properties; never read by a transition's protocol logic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// Which server established each epoch, and its log at that moment (the initial history it
    /// syncs every learner to).
    pub established: BTreeMap<Epoch, (ServerId, Vec<Proposal>)>,
    /// Every proposal each epoch's leader made, in order.
    pub proposed: BTreeMap<Epoch, Vec<Proposal>>,
    /// The committed history of each epoch's leader when it first proposed.
    pub primary_history: BTreeMap<Epoch, Vec<Zxid>>,
    /// Per server: the longest committed sequence it ever had.
    pub committed: Vec<Vec<Proposal>>,
    /// The epoch in which each txn was first committed anywhere (the committing server's
    /// acceptedEpoch): ZAB-COMPLETE asks an epoch-e leader for the txns committed before e.
    pub commit_epoch: BTreeMap<Zxid, Epoch>,
    /// Per server: `(acceptedEpoch, currentEpoch, commit watermark)` on disk, and the in-memory
    /// committed zxid of the current life.
    pub watermarks: Vec<(Epoch, Epoch, Zxid, Zxid)>,
    /// Per server: `(round, proposal)` while LOOKING.
    pub votes: Vec<Option<(u64, zabkeeper::protocol::Vote)>>,
    /// Client `sync`s issued and not failed or checked yet, by id.
    pub syncs: BTreeMap<u64, SyncRecord>,
    /// History-wide violations seen during transitions: property ID → what happened.
    pub violations: BTreeMap<&'static str, String>,
}

/// One client `sync`, for ZAB-SYNC-LINEARIZABLE.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyncRecord {
    /// The server it was issued at (index).
    pub server: usize,
    /// Every txn committed anywhere before it was issued (the union of `Ghost::committed`).
    pub committed_before: Vec<Proposal>,
    /// The read index of its `SyncReady`, once answered.
    pub answer: Option<Zxid>,
}

/// The whole world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterState {
    /// Servers by index (server id = index + 1).
    pub servers: Vec<Server>,
    /// FIFO links, `from * n + to`.
    pub links: Vec<VecDeque<PeerMsg>>,
    /// Client writes issued.
    pub writes: u8,
    /// Crashes so far.
    pub crashes: u8,
    /// Link breaks so far.
    pub link_faults: u8,
    /// Client `sync`s issued.
    pub syncs: u8,
    /// Per server: silently cut off from every other server (`Action::Isolate`).
    pub isolated: Vec<bool>,
    /// Firings of timers other than `FinalizeWait` so far (`ModelConfig::timer_fires`).
    pub timer_fires: u8,
    /// Snapshots taken so far.
    pub snapshots: u8,
    /// Property bookkeeping.
    pub ghost: Ghost,
}

impl ClusterState {
    /// Number of servers.
    pub fn n(&self) -> usize {
        self.servers.len()
    }

    /// The link from `a` to `b` (indices).
    pub fn link(&self, a: usize, b: usize) -> &VecDeque<PeerMsg> {
        &self.links[a * self.n() + b]
    }

    /// The live nodes.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.servers.iter().filter_map(|s| s.node.as_ref())
    }

    /// Is the link between `a` and `b` silently cut?
    pub fn cut(&self, a: usize, b: usize) -> bool {
        self.isolated[a] || self.isolated[b]
    }
}

/// Everything that can happen next.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The oldest message on link `from → to` arrives.
    Deliver {
        /// Sender index.
        from: usize,
        /// Receiver index.
        to: usize,
    },
    /// A timer fires.
    Timeout {
        /// Server index.
        server: usize,
        /// Which timer.
        timer: Timer,
    },
    /// The oldest pending log write reaches the disk.
    FlushLog {
        /// Server index.
        server: usize,
    },
    /// The pending epoch write reaches the disk.
    FlushEpoch {
        /// Server index.
        server: usize,
    },
    /// A client write arrives at a serving leader.
    Write {
        /// Server index.
        server: usize,
    },
    /// A client write arrives at a server that is not a serving leader (`ModelConfig::forward`).
    Forward {
        /// Server index.
        server: usize,
    },
    /// The leader's runtime has prepared the oldest forwarded request: it is fed as
    /// `Input::Write`.
    Propose {
        /// Server index.
        server: usize,
    },
    /// The server crashes.
    Crash {
        /// Server index.
        server: usize,
    },
    /// The crashed server restarts from its disk.
    Restart {
        /// Server index.
        server: usize,
    },
    /// `sync` model: every pending election message is delivered and every armed finalize
    /// timer fired, in index order, until the election is quiet.
    Elect,
    /// The link between two servers breaks.
    BreakLink {
        /// Lower index.
        a: usize,
        /// Higher index.
        b: usize,
    },
    /// A client issues a `sync` at a serving server.
    Sync {
        /// Server index.
        server: usize,
    },
    /// The server is cut off from all others silently (nobody gets `PeerLost`).
    Isolate {
        /// Server index.
        server: usize,
    },
    /// The server writes a snapshot of its applied history at its committed zxid (durable at
    /// once) and the node is told (`Input::Compacted`).
    Snapshot {
        /// Server index.
        server: usize,
    },
}

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

/// A history as snapshot bytes: per txn its zxid (8 bytes), data length (1 byte), data.
pub fn encode_history(history: &[Proposal]) -> Bytes {
    let mut out = Vec::new();
    for p in history {
        out.extend_from_slice(&p.zxid.0.to_be_bytes());
        out.push(u8::try_from(p.data.len()).expect("model txns are short"));
        out.extend_from_slice(&p.data);
    }
    Bytes::from(out)
}

/// The inverse of [`encode_history`] (the model's bytes only; panics on anything else).
pub fn decode_history(bytes: &[u8]) -> Vec<Proposal> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let zxid = Zxid(u64::from_be_bytes(rest[..8].try_into().expect("8 bytes")));
        let len = usize::from(rest[8]);
        out.push(Proposal {
            zxid,
            data: Bytes::copy_from_slice(&rest[9..9 + len]),
        });
        rest = &rest[9 + len..];
    }
    out
}

/// The txns of `history` up to `base`.
fn upto(history: &[Proposal], base: Zxid) -> &[Proposal] {
    &history[..history.partition_point(|p| p.zxid <= base)]
}

impl Server {
    /// The whole history on disk: the snapshot's txns, then the logged ones.
    pub fn disk_history(&self) -> Vec<Proposal> {
        let mut h = upto(&self.snapshot, self.disk.log_base).to_vec();
        h.extend_from_slice(&self.disk.log);
        h
    }

    /// The node's whole history as requested: the txns under its log base (an install not yet
    /// flushed, else the disk's snapshot), then its log.
    pub fn node_history(&self) -> Vec<Proposal> {
        let Some(node) = &self.node else {
            return Vec::new();
        };
        let pending = self.pending_log.iter().rev().find_map(|w| match w {
            LogWrite::Install { history, .. } => Some(history.as_slice()),
            _ => None,
        });
        let under = pending.unwrap_or(&self.snapshot);
        let mut h = upto(under, node.log_base()).to_vec();
        h.extend_from_slice(node.log());
        h
    }

    /// What recovery rebuilds: the disk's snapshot, then its logged txns up to the watermark.
    fn recovered_history(&self) -> Vec<Proposal> {
        let committed = self.disk.committed.max(self.disk.log_base);
        upto(&self.disk_history(), committed).to_vec()
    }
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

    fn initial_disks(&self) -> Vec<DurableState> {
        self.cfg
            .initial_histories
            .iter()
            .map(|(epoch, zxids)| {
                let log = zxids
                    .iter()
                    .map(|(e, c)| Proposal {
                        zxid: Zxid::new(Epoch(*e), *c),
                        data: Bytes::new(),
                    })
                    .collect::<Vec<_>>();
                DurableState {
                    accepted_epoch: Epoch(*epoch),
                    current_epoch: Epoch(*epoch),
                    log_base: Zxid::ZERO,
                    committed: Zxid::ZERO,
                    log,
                }
            })
            .collect()
    }

    fn fresh_state(&self, disks: Vec<DurableState>) -> ClusterState {
        let n = disks.len();
        let servers = disks
            .into_iter()
            .map(|disk| Server {
                node: None,
                snapshot: Vec::new(),
                applied: upto(&disk.log, disk.committed).to_vec(),
                installed: false,
                disk,
                pending_log: Vec::new(),
                pending_epoch: None,
                timers: BTreeSet::new(),
                prepared: VecDeque::new(),
                restarts: 0,
                panic: None,
            })
            .collect::<Vec<_>>();
        let mut state = ClusterState {
            servers,
            links: vec![VecDeque::new(); n * n],
            writes: 0,
            crashes: 0,
            link_faults: 0,
            syncs: 0,
            isolated: vec![false; n],
            timer_fires: 0,
            snapshots: 0,
            ghost: Ghost {
                committed: vec![Vec::new(); n],
                watermarks: vec![Default::default(); n],
                votes: vec![None; n],
                ..Ghost::default()
            },
        };
        let start = |state: &mut ClusterState| {
            for i in 0..n {
                let disk = state.servers[i].disk.clone();
                state.servers[i].node = Some(Node::new(self.configs[i].clone(), disk.clone()));
                state.ghost.watermarks[i] = (
                    disk.accepted_epoch,
                    disk.current_epoch,
                    disk.committed,
                    disk.committed,
                );
            }
            for i in 0..n {
                self.step(state, i, Input::Start, &mut Vec::new());
            }
            self.observe(state);
        };
        let mut started = state.clone();
        match panics::catch(|| start(&mut started)) {
            Ok(()) => started,
            Err(msg) => {
                state
                    .ghost
                    .violations
                    .insert("NO-PANIC", format!("starting the servers panicked: {msg}"));
                state
            }
        }
    }

    /// Feeds `input` to server `i` and executes the effects (the model's runtime); notes in
    /// `marks` the protocol branches the steps took.
    fn step(&self, state: &mut ClusterState, i: usize, input: Input, marks: &mut Vec<Mark>) {
        let mut queue = VecDeque::from([(i, input)]);
        while let Some((i, input)) = queue.pop_front() {
            let server = &mut state.servers[i];
            let Some(node) = server.node.as_mut() else {
                continue;
            };
            if server.panic.is_some() {
                continue;
            }
            let before = Before::of(node, &input);
            let mut out = Effects::new();
            if let Err(msg) = panics::catch(|| node.step(input, &mut out)) {
                server.panic = Some(msg);
                return;
            }
            before.classify(node, out.as_slice(), marks);
            for effect in out {
                self.execute(state, i, effect, &mut queue);
            }
        }
    }

    fn execute(
        &self,
        state: &mut ClusterState,
        i: usize,
        effect: Effect,
        queue: &mut VecDeque<(usize, Input)>,
    ) {
        let n = state.n();
        match effect {
            Effect::Send { to, msg } => {
                let j = to.0 as usize - 1;
                let deliverable = self.cfg.kind != ModelKind::Election || msg.is_election();
                if deliverable && state.servers[j].node.is_some() && !state.cut(i, j) {
                    state.links[i * n + j].push_back(msg);
                }
            }
            Effect::Disconnect { peer } => {
                let j = peer.0 as usize - 1;
                state.links[i * n + j].clear();
                state.links[j * n + i].clear();
                if !state.cut(i, j) {
                    queue.push_back((j, Input::PeerLost(sid(i))));
                }
            }
            Effect::PersistEpoch { accepted, current } => {
                state.servers[i].pending_epoch = Some((accepted, current));
            }
            Effect::PersistTxns {
                proposals,
                committed,
            } => {
                state.servers[i].pending_log.push(LogWrite::Append {
                    proposals,
                    committed,
                });
            }
            Effect::TruncateLog { after } => {
                state.servers[i]
                    .pending_log
                    .push(LogWrite::Truncate { after });
            }
            Effect::InstallSnapshot { base, snapshot } => {
                let history = decode_history(&snapshot);
                state.servers[i]
                    .pending_log
                    .push(LogWrite::Install { base, history });
            }
            Effect::SendSnapshot {
                to,
                base,
                proposals,
                committed,
            } => {
                // The runtime ships its tree as it is (its applied history), labelled `base`:
                // a label that is not the applied state is what ZAB-SNAP catches.
                let snapshot = encode_history(&state.servers[i].applied);
                let msg = PeerMsg::Sync {
                    kind: SyncKind::Snap { base, snapshot },
                    proposals,
                    committed,
                };
                self.execute(state, i, Effect::Send { to, msg }, queue);
            }
            Effect::Commit { upto } => {
                let server = &mut state.servers[i];
                let node = server.node.as_ref().expect("live");
                let last = server.applied.last().map_or(Zxid::ZERO, |p| p.zxid);
                let log = node.log();
                let from = log.partition_point(|p| p.zxid <= last);
                let to = log.partition_point(|p| p.zxid <= upto);
                server.applied.extend_from_slice(&log[from..to.max(from)]);
            }
            Effect::Proposed { zxid } => {
                let node = state.servers[i].node.as_ref().expect("live");
                let proposal = node
                    .log()
                    .iter()
                    .find(|p| p.zxid == zxid)
                    .expect("proposed is logged")
                    .clone();
                let history: Vec<Zxid> = state.servers[i].applied.iter().map(|p| p.zxid).collect();
                state
                    .ghost
                    .primary_history
                    .entry(zxid.epoch())
                    .or_insert(history);
                state
                    .ghost
                    .proposed
                    .entry(zxid.epoch())
                    .or_default()
                    .push(proposal);
            }
            Effect::SetTimer { timer, .. } => {
                // Only timers this world fires are kept: an armed timer that never fires cannot
                // change any behaviour, and keeping it would split identical states.
                if self.fires(timer) {
                    state.servers[i].timers.insert(timer);
                }
            }
            Effect::CancelTimer(timer) => {
                state.servers[i].timers.remove(&timer);
            }
            Effect::SyncReady { id, zxid } => self.on_sync_ready(state, i, id, zxid),
            Effect::SyncFailed { id } => {
                state.ghost.syncs.remove(&id);
            }
            Effect::Prepare { payload, .. } => {
                state.servers[i].prepared.push_back(payload);
            }
            Effect::Reject { .. } | Effect::RoleChanged { .. } => {}
        }
    }

    /// ZAB-SYNC-LINEARIZABLE, first half: the read index covers every txn committed anywhere
    /// before the `sync` was issued.
    fn on_sync_ready(&self, state: &mut ClusterState, i: usize, id: u64, zxid: Zxid) {
        let record = state
            .ghost
            .syncs
            .get_mut(&id)
            .expect("SyncReady for an issued sync");
        assert_eq!(
            record.server, i,
            "SyncReady for sync #{id} at another server"
        );
        assert!(record.answer.is_none(), "sync #{id} answered twice");
        record.answer = Some(zxid);
        if let Some(p) = record.committed_before.iter().find(|p| p.zxid > zxid) {
            let detail = format!(
                "{} answered sync #{id} with read index {zxid}, but {} was committed before the sync was issued",
                sid(i),
                p.zxid
            );
            state
                .ghost
                .violations
                .entry("ZAB-SYNC-LINEARIZABLE")
                .or_insert(detail);
        }
    }

    /// ZAB-SYNC-LINEARIZABLE, second half: once the server has applied the read index of an
    /// answered `sync`, it has applied every txn committed before the `sync` was issued. A
    /// checked record is dropped.
    fn check_answered_syncs(&self, state: &mut ClusterState) {
        let mut done = Vec::new();
        for (id, r) in &state.ghost.syncs {
            let (Some(zxid), Some(node)) = (r.answer, state.servers[r.server].node.as_ref()) else {
                continue;
            };
            if node.committed_zxid() < zxid {
                continue;
            }
            let applied =
                |p: &Proposal| p.zxid <= node.log_base() || node.committed_log().contains(p);
            if let Some(p) = r.committed_before.iter().find(|p| !applied(p)) {
                let detail = format!(
                    "{} applied {zxid}, the read index of sync #{id}, without {}, committed before the sync was issued",
                    sid(r.server),
                    p.zxid
                );
                state
                    .ghost
                    .violations
                    .entry("ZAB-SYNC-LINEARIZABLE")
                    .or_insert(detail);
            }
            done.push(*id);
        }
        for id in done {
            state.ghost.syncs.remove(&id);
        }
    }

    /// Is server `i` cut off from its leader, or (leading) from one of its learners? Only there
    /// does `SyncLimit` fire: elsewhere heartbeats would keep re-arming it.
    fn suspects(&self, state: &ClusterState, i: usize) -> bool {
        let Some(node) = &state.servers[i].node else {
            return false;
        };
        let index = |s: ServerId| s.0 as usize - 1;
        match node.role() {
            Role::Following(l) => state.cut(i, index(l.leader)),
            Role::Leading(l) => l.learners.keys().any(|s| state.cut(i, index(*s))),
            Role::Looking(_) => false,
        }
    }

    /// Updates the ghost after a transition and records history-wide violations.
    fn observe(&self, state: &mut ClusterState) {
        self.check_answered_syncs(state);
        let mut found: Vec<(&'static str, String)> = Vec::new();
        for i in 0..state.n() {
            let server = &state.servers[i];
            let disk = &server.disk;
            let (acc, cur, wm, committed) = state.ghost.watermarks[i];
            if disk.accepted_epoch < acc || disk.current_epoch < cur || disk.committed < wm {
                found.push((
                    "ZAB-MONO",
                    format!("{}: durable epochs/watermark went back", sid(i)),
                ));
            }
            let Some(node) = &server.node else { continue };
            if node.committed_zxid() < committed {
                found.push((
                    "ZAB-MONO",
                    format!(
                        "{}: committed went back from {committed} to {}",
                        sid(i),
                        node.committed_zxid()
                    ),
                ));
            }
            state.ghost.watermarks[i] = (
                disk.accepted_epoch,
                disk.current_epoch,
                disk.committed,
                node.committed_zxid(),
            );

            let now = &server.applied;
            let before = &state.ghost.committed[i];
            if is_prefix(before, now) {
                for p in &now[before.len()..] {
                    state
                        .ghost
                        .commit_epoch
                        .entry(p.zxid)
                        .or_insert(node.accepted_epoch());
                }
                state.ghost.committed[i] = now.clone();
            } else if !is_prefix(now, before) {
                found.push((
                    "ZAB-PREFIX",
                    format!(
                        "{} committed a history that contradicts its earlier one",
                        sid(i)
                    ),
                ));
            }

            if let Some(epoch) = node.established_epoch() {
                match state.ghost.established.get(&epoch) {
                    Some((other, _)) if *other != sid(i) => found.push((
                        "ZAB-LEADER-UNIQUE",
                        format!("{} and {other} both established epoch {epoch}", sid(i)),
                    )),
                    Some(_) => {}
                    None => {
                        let history = server.node_history();
                        let missing =
                            state.ghost.commit_epoch.iter().find(|(z, e)| {
                                **e < epoch && !history.iter().any(|p| p.zxid == **z)
                            });
                        if let Some((z, e)) = missing {
                            found.push((
                                "ZAB-COMPLETE",
                                format!(
                                    "{} established epoch {epoch} without {z}, committed in epoch {e}",
                                    sid(i),
                                ),
                            ));
                        }
                        state.ghost.established.insert(epoch, (sid(i), history));
                    }
                }
            }

            if let (Role::Looking(e), true) = (node.role(), self.cfg.kind == ModelKind::Election) {
                if let Some((round, vote)) = state.ghost.votes[i] {
                    if round == node.round() && e.started && e.proposal < vote {
                        found.push((
                            "FLE-VOTE-MONO",
                            format!("{} lowered its vote in round {round}", sid(i)),
                        ));
                    }
                }
                state.ghost.votes[i] = e.started.then_some((node.round(), e.proposal));
            }
        }
        for (id, detail) in found {
            state.ghost.violations.entry(id).or_insert(detail);
        }
    }

    fn election_pending(&self, state: &ClusterState) -> bool {
        state
            .links
            .iter()
            .any(|l| l.front().is_some_and(PeerMsg::is_election))
            || state
                .servers
                .iter()
                .any(|s| s.node.is_some() && s.timers.contains(&Timer::FinalizeWait))
    }

    /// Runs the election to quiescence in one canonical order (the `sync` model's macro step).
    fn elect(&self, state: &mut ClusterState, marks: &mut Vec<Mark>) {
        let n = state.n();
        for _ in 0..10_000 {
            if state.servers.iter().any(|s| s.panic.is_some()) {
                return;
            }
            let front =
                (0..n * n).find(|k| state.links[*k].front().is_some_and(PeerMsg::is_election));
            if let Some(k) = front {
                let msg = state.links[k].pop_front().expect("front");
                self.step(
                    state,
                    k % n,
                    Input::Peer {
                        from: sid(k / n),
                        msg,
                    },
                    marks,
                );
                continue;
            }
            let armed = (0..n).find(|i| {
                state.servers[*i].node.is_some()
                    && state.servers[*i].timers.contains(&Timer::FinalizeWait)
            });
            match armed {
                Some(i) => {
                    state.servers[i].timers.remove(&Timer::FinalizeWait);
                    self.step(state, i, Input::Timeout(Timer::FinalizeWait), marks);
                }
                None => return,
            }
        }
        state
            .ghost
            .violations
            .entry("NO-PANIC")
            .or_insert_with(|| "election did not settle in 10000 steps".into());
    }

    /// One transition of the world (`next_state` runs it under `panics::catch`).
    fn apply(
        &self,
        last: &ClusterState,
        action: Action,
        marks: &mut Vec<Mark>,
    ) -> Option<ClusterState> {
        let mut state = last.clone();
        let n = state.n();
        match action {
            Action::Deliver { from, to } => {
                let msg = state.links[from * n + to].pop_front()?;
                self.step(
                    &mut state,
                    to,
                    Input::Peer {
                        from: sid(from),
                        msg,
                    },
                    marks,
                );
            }
            Action::Timeout { server, timer } => {
                if timer != Timer::FinalizeWait {
                    state.timer_fires += 1;
                }
                state.servers[server].timers.remove(&timer);
                self.step(&mut state, server, Input::Timeout(timer), marks);
            }
            Action::FlushLog { server } => {
                let s = &mut state.servers[server];
                if s.pending_log.is_empty() {
                    return None;
                }
                match s.pending_log.remove(0) {
                    LogWrite::Append {
                        proposals,
                        committed,
                    } => {
                        let upto = proposals.last().expect("non-empty append").zxid;
                        s.disk.append(&proposals, committed);
                        self.step(&mut state, server, Input::Persisted { upto }, marks);
                    }
                    LogWrite::Truncate { after } => {
                        s.disk.truncate_after(after);
                        self.step(&mut state, server, Input::Truncated { after }, marks);
                    }
                    LogWrite::Install { base, history } => {
                        // ZAB-SNAP: the snapshot holds exactly the history up to its base, and
                        // that history extends what this server applied (replacing the tree
                        // never undoes a committed txn).
                        let top = history.last().map_or(Zxid::ZERO, |p| p.zxid);
                        let wrong = if top != base {
                            Some(format!("its last txn is {top}"))
                        } else if !is_prefix(&s.applied, &history) {
                            Some(format!(
                                "it does not extend the applied {}",
                                crate::trace::zxid_list(&s.applied)
                            ))
                        } else {
                            None
                        };
                        if let Some(wrong) = wrong {
                            let detail = format!(
                                "{} installs a snapshot at {base} holding {}: {wrong}",
                                sid(server),
                                crate::trace::zxid_list(&history)
                            );
                            state.ghost.violations.entry("ZAB-SNAP").or_insert(detail);
                        }
                        let s = &mut state.servers[server];
                        s.disk.install_snapshot(base);
                        s.snapshot = history.clone();
                        s.applied = history;
                        s.installed = true;
                        self.step(&mut state, server, Input::SnapshotInstalled { base }, marks);
                    }
                }
            }
            Action::FlushEpoch { server } => {
                let s = &mut state.servers[server];
                let (accepted, current) = s.pending_epoch.take()?;
                s.disk.accepted_epoch = accepted;
                s.disk.current_epoch = current;
                self.step(&mut state, server, Input::EpochPersisted, marks);
            }
            Action::Write { server } => {
                state.writes += 1;
                let data = Bytes::from(vec![state.writes]);
                self.step(&mut state, server, Input::Write { data }, marks);
            }
            Action::Forward { server } => {
                state.writes += 1;
                let payload = Bytes::from(vec![state.writes]);
                self.step(&mut state, server, Input::Forward { payload }, marks);
            }
            Action::Propose { server } => {
                let data = state.servers[server].prepared.pop_front()?;
                self.step(&mut state, server, Input::Write { data }, marks);
            }
            Action::Crash { server } => {
                state.crashes += 1;
                let s = &mut state.servers[server];
                let install_pending = s
                    .pending_log
                    .iter()
                    .any(|w| matches!(w, LogWrite::Install { .. }));
                marks.push(
                    match (install_pending, s.installed, s.pending_log.is_empty()) {
                        (true, _, _) => Mark::CrashInstallPending,
                        (false, true, false) => Mark::CrashAfterInstall,
                        (false, true, true) => Mark::CrashAfterInstallLogged,
                        (false, false, _) => Mark::CrashOther,
                    },
                );
                s.node = None;
                s.pending_log.clear();
                s.pending_epoch = None;
                s.timers.clear();
                s.prepared.clear();
                for j in 0..n {
                    state.links[server * n + j].clear();
                    state.links[j * n + server].clear();
                }
                // The crashed server's client syncs die with their connections.
                state.ghost.syncs.retain(|_, r| r.server != server);
                let told: Vec<usize> = (0..n)
                    .filter(|j| *j != server && !state.cut(server, *j))
                    .collect();
                for j in told {
                    self.step(&mut state, j, Input::PeerLost(sid(server)), marks);
                }
            }
            Action::Restart { server } => {
                let s = &mut state.servers[server];
                s.restarts += 1;
                s.node = Some(Node::new(self.configs[server].clone(), s.disk.clone()));
                s.applied = s.recovered_history();
                s.installed = false;
                state.ghost.watermarks[server].3 = s.disk.committed.max(s.disk.log_base);
                state.ghost.votes[server] = None;
                self.step(&mut state, server, Input::Start, marks);
            }
            Action::Elect => self.elect(&mut state, marks),
            Action::Snapshot { server } => {
                state.snapshots += 1;
                let s = &mut state.servers[server];
                let node = s.node.as_ref().expect("live");
                let at = node.committed_zxid();
                let top = s.applied.last().map_or(Zxid::ZERO, |p| p.zxid);
                assert_eq!(top, at, "the applied history is at the committed zxid");
                s.snapshot = s.applied.clone();
                s.disk.log.retain(|p| p.zxid > at);
                s.disk.log_base = at;
                s.disk.committed = s.disk.committed.max(at);
                self.step(&mut state, server, Input::Compacted { upto: at }, marks);
            }
            Action::BreakLink { a, b } => {
                state.link_faults += 1;
                state.links[a * n + b].clear();
                state.links[b * n + a].clear();
                self.step(&mut state, a, Input::PeerLost(sid(b)), marks);
                self.step(&mut state, b, Input::PeerLost(sid(a)), marks);
            }
            Action::Sync { server } => {
                state.syncs += 1;
                let id = u64::from(state.syncs);
                let mut committed_before: Vec<Proposal> =
                    state.ghost.committed.iter().flatten().cloned().collect();
                committed_before.sort();
                committed_before.dedup();
                state.ghost.syncs.insert(
                    id,
                    SyncRecord {
                        server,
                        committed_before,
                        answer: None,
                    },
                );
                self.step(&mut state, server, Input::Sync { id }, marks);
            }
            Action::Isolate { server } => {
                state.isolated[server] = true;
                for j in 0..n {
                    state.links[server * n + j].clear();
                    state.links[j * n + server].clear();
                }
            }
        }
        self.observe(&mut state);
        Some(state)
    }

    /// Adds a transition inside the bounds to the run's reach counters.
    fn record_reach(&self, next: &ClusterState, marks: &[Mark]) {
        for mark in marks {
            self.reach.count(*mark);
        }
        let r = &self.reach;
        r.max(Mark::MaxCrashes, next.crashes.into());
        r.max(Mark::MaxLinkFaults, next.link_faults.into());
        let isolated = next.isolated.iter().filter(|x| **x).count();
        r.max(Mark::MaxIsolations, isolated as u64);
        for node in next.nodes() {
            r.max(Mark::MaxRound, node.round());
        }
        if let Some((epoch, _)) = next.ghost.established.last_key_value() {
            r.max(Mark::MaxEpochEstablished, epoch.0.into());
        }
        for seq in &next.ghost.committed {
            r.max(Mark::MaxTxnsCommitted, seq.len() as u64);
        }
    }

    fn fires(&self, timer: Timer) -> bool {
        self.cfg.fire.contains(&timer)
    }
}

/// What `classify` needs to know of a node and its input before a step.
struct Before {
    /// Learner → last zxid (its ACKEPOCH) as a leader knows it, for SNAPs sent in this step.
    acked: Vec<(ServerId, Zxid)>,
    log_base: Zxid,
    state: PeerState,
    leader_phase: Option<LeaderPhase>,
    looking_started: bool,
    round: u64,
    accepted_epoch: Epoch,
    input: Seen,
}

/// The inputs `classify` tells apart.
enum Seen {
    AckEpoch,
    PeerLost,
    LeaderInfo(Epoch),
    LookingVote(u64),
    DecidedVote,
    Timeout(Timer),
    Other,
}

impl Before {
    fn of(node: &Node, input: &Input) -> Before {
        let acking = match input {
            Input::Peer {
                from,
                msg: PeerMsg::AckEpoch { last_zxid, .. },
            } => Some((*from, *last_zxid)),
            _ => None,
        };
        let input = match input {
            Input::Peer { msg, .. } => match msg {
                PeerMsg::AckEpoch { .. } => Seen::AckEpoch,
                PeerMsg::LeaderInfo { epoch } => Seen::LeaderInfo(*epoch),
                PeerMsg::Notification {
                    state: PeerState::Looking,
                    round,
                    ..
                } => Seen::LookingVote(*round),
                PeerMsg::Notification { .. } => Seen::DecidedVote,
                _ => Seen::Other,
            },
            Input::PeerLost(_) => Seen::PeerLost,
            Input::Timeout(timer) => Seen::Timeout(*timer),
            _ => Seen::Other,
        };
        let mut acked: Vec<(ServerId, Zxid)> = node
            .leading()
            .map(|l| {
                l.learners
                    .iter()
                    .filter_map(|(s, v)| match v.stage {
                        LearnerStage::AckedEpoch(z) => Some((*s, z)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        acked.extend(acking);
        Before {
            acked,
            log_base: node.log_base(),
            state: node.state(),
            leader_phase: node.leading().map(|l| l.phase),
            looking_started: matches!(node.role(), Role::Looking(e) if e.started),
            round: node.round(),
            accepted_epoch: node.accepted_epoch(),
            input,
        }
    }

    /// Which protocol branches the step took, read off its input, its effects and the role
    /// before and after (never from inside the core).
    fn classify(&self, after: &Node, effects: &[Effect], marks: &mut Vec<Mark>) {
        for effect in effects {
            match effect {
                Effect::Send {
                    msg:
                        PeerMsg::Sync {
                            kind, proposals, ..
                        },
                    ..
                } => marks.push(match kind {
                    SyncKind::Diff if proposals.is_empty() => Mark::DiffEmpty,
                    SyncKind::Diff => Mark::DiffWithTxns,
                    SyncKind::Trunc { .. } => Mark::Trunc,
                    SyncKind::Snap { .. } => Mark::Snap,
                }),
                Effect::SendSnapshot { to, .. } => {
                    marks.push(Mark::Snap);
                    let below = self
                        .acked
                        .iter()
                        .any(|(s, last)| s == to && *last < after.log_base());
                    if below {
                        marks.push(Mark::SnapBelowBase);
                    }
                }
                Effect::InstallSnapshot { .. } => marks.push(Mark::SnapInstall),
                Effect::Send {
                    msg: PeerMsg::Inform(_),
                    ..
                } => marks.push(Mark::Inform),
                Effect::Send {
                    msg: PeerMsg::Request { .. },
                    ..
                } => marks.push(Mark::Forwarded),
                Effect::Prepare { .. } => marks.push(Mark::Prepared),
                _ => {}
            }
        }
        if after.log_base() > self.log_base && after.learning().is_none() {
            marks.push(Mark::Compacted);
        }
        let now_looking = after.state() == PeerState::Looking;
        for effect in effects {
            match effect {
                Effect::SyncReady { .. } if self.state == PeerState::Leading => {
                    marks.push(Mark::SyncReadyAtLeader)
                }
                Effect::SyncReady { .. } => marks.push(Mark::SyncReadyAtLearner),
                Effect::SyncFailed { .. } if self.state != PeerState::Looking && now_looking => {
                    marks.push(Mark::SyncFailedOnLeaving)
                }
                _ => {}
            }
        }
        match self.input {
            Seen::AckEpoch if self.leader_phase == Some(LeaderPhase::Discovery) && now_looking => {
                marks.push(Mark::AheadAbdication)
            }
            Seen::PeerLost if self.leader_phase == Some(LeaderPhase::Broadcast) && now_looking => {
                marks.push(Mark::QuorumLostAbdication)
            }
            Seen::LeaderInfo(epoch)
                if self.state == PeerState::Following
                    && epoch < self.accepted_epoch
                    && now_looking =>
            {
                marks.push(Mark::OldEpochRefused)
            }
            Seen::LookingVote(round) if self.looking_started && round > self.round => {
                marks.push(Mark::RoundChange)
            }
            Seen::LookingVote(round) if self.looking_started && round < self.round => {
                marks.push(Mark::StaleRound)
            }
            Seen::DecidedVote if self.looking_started && !now_looking => {
                marks.push(Mark::JoinedDecided)
            }
            Seen::Timeout(timer) => match timer {
                Timer::InitLimit => marks.push(Mark::InitLimitFired),
                Timer::SyncLimit => marks.push(Mark::SyncLimitFired),
                Timer::Heartbeat => marks.push(Mark::HeartbeatFired),
                Timer::Notify => marks.push(Mark::NotifyFired),
                Timer::FinalizeWait => {}
            },
            _ => {}
        }
    }
}

fn is_prefix(a: &[Proposal], b: &[Proposal]) -> bool {
    a.len() <= b.len() && a == &b[..a.len()]
}

impl Model for ClusterModel {
    type State = ClusterState;
    type Action = Action;

    fn init_states(&self) -> Vec<ClusterState> {
        let menu = self.initial_disks();
        let mut states = Vec::new();
        // Voters start from any history of the menu; observers from the first.
        let mut choice = vec![0usize; self.cfg.servers];
        let observers = vec![menu[0].clone(); self.cfg.observers];
        loop {
            let disks = choice.iter().map(|c| menu[*c].clone());
            states.push(self.fresh_state(disks.chain(observers.iter().cloned()).collect()));
            let mut k = 0;
            loop {
                if k == choice.len() {
                    return states;
                }
                choice[k] += 1;
                if choice[k] < menu.len() {
                    break;
                }
                choice[k] = 0;
                k += 1;
            }
        }
    }

    fn actions(&self, state: &ClusterState, actions: &mut Vec<Action>) {
        if crate::properties::violated(self, state) {
            return; // a counterexample ends at the step that broke a property (or panicked)
        }
        let n = state.n();
        let atomic = self.cfg.kind == ModelKind::Sync;
        for from in 0..n {
            for to in 0..n {
                match state.link(from, to).front() {
                    Some(m) if atomic && m.is_election() => {}
                    Some(_) => actions.push(Action::Deliver { from, to }),
                    None => {}
                }
            }
        }
        if atomic && self.election_pending(state) {
            actions.push(Action::Elect);
        }
        for (i, s) in state.servers.iter().enumerate() {
            let Some(node) = &s.node else {
                actions.push(Action::Restart { server: i });
                continue;
            };
            let budget_left = self
                .cfg
                .timer_fires
                .map_or(true, |max| state.timer_fires < max);
            for timer in s.timers.iter().filter(|t| self.fires(**t)) {
                if atomic && *timer == Timer::FinalizeWait {
                    continue;
                }
                if *timer != Timer::FinalizeWait && !budget_left {
                    continue;
                }
                // Without a budget, SyncLimit fires (`--isolations`) only where a server is cut
                // off: a server that still hears its peers would have its timer re-armed.
                if *timer == Timer::SyncLimit
                    && self.cfg.timer_fires.is_none()
                    && !self.suspects(state, i)
                {
                    continue;
                }
                actions.push(Action::Timeout {
                    server: i,
                    timer: *timer,
                });
            }
            if !s.pending_log.is_empty() {
                actions.push(Action::FlushLog { server: i });
            }
            if s.pending_epoch.is_some() {
                actions.push(Action::FlushEpoch { server: i });
            }
            let serving = node
                .leading()
                .is_some_and(|l| l.phase == LeaderPhase::Broadcast);
            if serving && state.writes < self.cfg.txns {
                actions.push(Action::Write { server: i });
            }
            if state.syncs < self.cfg.syncs {
                actions.push(Action::Sync { server: i });
            }
            let isolations = state.isolated.iter().filter(|x| **x).count();
            if !state.isolated[i] && isolations < usize::from(self.cfg.isolations) {
                actions.push(Action::Isolate { server: i });
            }
            if self.cfg.forward && !serving && state.writes < self.cfg.txns {
                actions.push(Action::Forward { server: i });
            }
            if !s.prepared.is_empty() {
                actions.push(Action::Propose { server: i });
            }
            if state.crashes < self.cfg.crashes {
                actions.push(Action::Crash { server: i });
            }
            let installing = s
                .pending_log
                .iter()
                .any(|w| matches!(w, LogWrite::Install { .. }));
            if state.snapshots < self.cfg.snapshots
                && node.committed_zxid() > s.disk.log_base
                && node.install_pending().is_none()
                && !installing
                && s.panic.is_none()
            {
                actions.push(Action::Snapshot { server: i });
            }
        }
        if state.link_faults < self.cfg.link_faults {
            for a in 0..n {
                for b in a + 1..n {
                    let live = state.servers[a].node.is_some() && state.servers[b].node.is_some();
                    if live && !state.cut(a, b) {
                        actions.push(Action::BreakLink { a, b });
                    }
                }
            }
        }
    }

    fn next_state(&self, last: &ClusterState, action: Action) -> Option<ClusterState> {
        let mut marks = Vec::new();
        let next = match panics::catch(|| self.apply(last, action.clone(), &mut marks)) {
            Ok(next) => next?,
            Err(msg) => {
                let mut state = last.clone();
                state.ghost.violations.insert(
                    "NO-PANIC",
                    format!(
                        "the world panicked in step {}: {msg}",
                        crate::trace::describe_action(last, &action)
                    ),
                );
                return Some(state);
            }
        };
        if self.within_boundary(&next) {
            self.record_reach(&next, &marks);
        }
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        crate::properties::for_config(&self.cfg)
    }

    fn within_boundary(&self, state: &ClusterState) -> bool {
        state.nodes().all(|node| {
            node.accepted_epoch().0 <= self.cfg.max_epoch && node.round() <= self.cfg.max_round
        })
    }

    fn format_action(&self, action: &Action) -> String {
        format!("{action:?}")
    }

    /// What the Explorer shows for a step: the event, then every server and link afterwards.
    fn format_step(&self, last: &ClusterState, action: Action) -> Option<String> {
        let event = crate::trace::describe_action(last, &action);
        let next = self.next_state(last, action)?;
        Some(format!(
            "{event}\n\n{}",
            crate::trace::describe_state(&next)
        ))
    }
}

/// Is server `i` a restarted server serving again?
pub fn rejoined(state: &ClusterState, i: usize) -> bool {
    let s = &state.servers[i];
    let Some(node) = &s.node else { return false };
    s.restarts > 0
        && (node
            .learning()
            .is_some_and(|l| l.phase == LearnerPhase::Broadcast)
            || node
                .leading()
                .is_some_and(|l| l.phase == LeaderPhase::Broadcast))
}

/// The FLE state names.
pub fn state_name(state: PeerState) -> &'static str {
    match state {
        PeerState::Looking => "LOOKING",
        PeerState::Following => "FOLLOWING",
        PeerState::Leading => "LEADING",
        PeerState::Observing => "OBSERVING",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_outside_node_step_is_a_violation_with_its_location() {
        // The disk refuses an append that does not extend it (INV-LOG-ORDER in
        // `DurableState::append`): a world step, not `Node::step`. It must become a NO-PANIC
        // counterexample, not escape the checker.
        let model = ClusterModel::new(ModelConfig::new(ModelKind::Sync));
        let mut state = model.init_states().remove(0);
        state.servers[0].pending_log.push(LogWrite::Append {
            proposals: vec![Proposal {
                zxid: Zxid::ZERO,
                data: Bytes::new(),
            }],
            committed: Zxid::ZERO,
        });
        let next = model
            .next_state(&state, Action::FlushLog { server: 0 })
            .expect("a state");
        let detail = &next.ghost.violations["NO-PANIC"];
        assert!(detail.contains("INV-LOG-ORDER: durable append"), "{detail}");
        assert!(detail.contains("durable.rs:"), "{detail}");
        assert!(detail.contains("s1: oldest txn-log write"), "{detail}");
        let mut after = Vec::new();
        model.actions(&next, &mut after);
        assert!(
            after.is_empty(),
            "a panicked world is not expanded: {after:?}"
        );
        let said = crate::properties::explain(&model, "NO-PANIC", &next);
        assert_eq!(said.as_ref(), Some(detail));
    }

    /// Takes the first action `pick` accepts until `done` holds (at most 300 steps).
    fn walk(
        model: &ClusterModel,
        mut state: ClusterState,
        pick: impl Fn(&Action) -> bool,
        done: impl Fn(&ClusterState) -> bool,
    ) -> ClusterState {
        for _ in 0..300 {
            if done(&state) {
                return state;
            }
            let mut actions = Vec::new();
            model.actions(&state, &mut actions);
            let a = actions
                .into_iter()
                .find(|a| pick(a))
                .unwrap_or_else(|| panic!("stuck:\n{}", crate::trace::describe_state(&state)));
            state = model.next_state(&state, a).expect("a state");
        }
        panic!(
            "not reached in 300 steps:\n{}",
            crate::trace::describe_state(&state)
        );
    }

    fn serving(s: &ClusterState, i: usize) -> bool {
        s.servers[i].node.as_ref().is_some_and(|n| {
            n.leading()
                .is_some_and(|l| l.phase == LeaderPhase::Broadcast)
                || n.learning()
                    .is_some_and(|l| l.phase == LearnerPhase::Broadcast)
        })
    }

    #[test]
    fn core_cluster_runs_the_cores_cross_node_check_on_live_nodes() {
        let mut cfg = ModelConfig::new(ModelKind::Sync);
        cfg.crashes = 0;
        let model = ClusterModel::new(cfg);
        let quiet = |a: &Action| !matches!(a, Action::Forward { .. } | Action::Write { .. });
        let state = walk(&model, model.init_states().remove(0), quiet, |s| {
            (0..s.n()).all(|i| serving(s, i))
        });
        assert_eq!(
            crate::properties::explain(&model, "CORE-CLUSTER", &state),
            None
        );
        let leader = (0..3)
            .find(|i| state.servers[*i].node.as_ref().unwrap().leading().is_some())
            .expect("a leader");
        // A second live node that holds the leader's state: two leaders of one epoch at once.
        let mut two = state.clone();
        let other = (leader + 1) % 3;
        two.servers[other].node = state.servers[leader].node.clone();
        let v = crate::properties::explain(&model, "CORE-CLUSTER", &two).expect("broken");
        assert!(v.starts_with("ZAB-LEADER-UNIQUE: "), "{v}");
        // A crashed server is not a live node: the same pair with one of them down holds.
        two.servers[leader].node = None;
        assert_eq!(
            crate::properties::explain(&model, "CORE-CLUSTER", &two),
            None
        );
    }

    #[test]
    fn a_write_at_a_follower_is_forwarded_prepared_and_proposed_by_the_leader() {
        let mut cfg = ModelConfig::new(ModelKind::Sync);
        cfg.forward = true;
        cfg.crashes = 0;
        let model = ClusterModel::new(cfg);
        let quiet = |a: &Action| !matches!(a, Action::Forward { .. } | Action::Write { .. });
        let state = walk(&model, model.init_states().remove(0), quiet, |s| {
            (0..s.n()).all(|i| serving(s, i))
        });
        let leader = (0..3)
            .find(|i| state.servers[*i].node.as_ref().unwrap().leading().is_some())
            .expect("a leader");
        let follower = (leader + 1) % 3;
        let state = model
            .next_state(&state, Action::Forward { server: follower })
            .expect("a state");
        assert_eq!(state.writes, 1);
        assert!(matches!(
            state.link(follower, leader).back(),
            Some(PeerMsg::Request { .. })
        ));
        let state = model
            .next_state(
                &state,
                Action::Deliver {
                    from: follower,
                    to: leader,
                },
            )
            .expect("a state");
        assert_eq!(state.servers[leader].prepared.len(), 1, "Prepare kept");
        let state = model
            .next_state(&state, Action::Propose { server: leader })
            .expect("a state");
        let node = state.servers[leader].node.as_ref().unwrap();
        assert_eq!(node.log().len(), 1, "the prepared request is proposed");
        assert_eq!(node.log()[0].data.as_ref(), &[1]);
        assert!(state.servers[leader].prepared.is_empty());
    }

    #[test]
    fn an_observer_syncs_and_never_counts_toward_a_commit_quorum() {
        let mut cfg = ModelConfig::new(ModelKind::Sync);
        cfg.observers = 1;
        cfg.fire.insert(Timer::Notify);
        cfg.timer_fires = Some(1);
        cfg.crashes = 0;
        let model = ClusterModel::new(cfg);
        let state = model.init_states().remove(0);
        assert_eq!(state.n(), 4);
        let observer = state.servers[3].node.as_ref().unwrap();
        assert!(observer.config().is_observer());
        // A txn on two voters' disks is on a majority of the 3 voters, whatever the observer
        // holds: the property counts voters only.
        let mut s = state.clone();
        let p = Proposal {
            zxid: Zxid::new(Epoch(1), 1),
            data: Bytes::from_static(b"x"),
        };
        s.ghost.committed[0] = vec![p.clone()];
        for i in [0, 1] {
            s.servers[i].disk.log = vec![p.clone()];
        }
        assert_eq!(
            crate::properties::explain(&model, "ZAB-COMMIT-QUORUM-DURABLE", &s),
            None
        );
        s.servers[1].disk.log.clear();
        s.servers[3].disk.log = vec![p];
        let v = crate::properties::explain(&model, "ZAB-COMMIT-QUORUM-DURABLE", &s)
            .expect("one voter and an observer are not a majority");
        assert!(v.contains("1 of 3 voters"), "{v}");
        // The observer follows the leader (after resending its notification if it missed the
        // election) and reaches broadcast as OBSERVING.
        let any = |a: &Action| !matches!(a, Action::Write { .. });
        let synced = walk(&model, state, any, |s| serving(s, 3));
        assert_eq!(
            synced.servers[3].node.as_ref().unwrap().state(),
            PeerState::Observing
        );
    }

    #[test]
    fn a_silently_isolated_server_loses_every_message_and_is_not_told() {
        let mut cfg = ModelConfig::new(ModelKind::Sync);
        cfg.isolations = 1;
        let model = ClusterModel::new(cfg);
        let state = model.init_states().remove(0);
        assert!(
            !state.link(0, 1).is_empty(),
            "s1's first notification is in flight"
        );
        let state = model
            .next_state(&state, Action::Isolate { server: 0 })
            .expect("a state");
        assert!((0..3).all(|j| state.link(0, j).is_empty() && state.link(j, 0).is_empty()));
        let state = model.next_state(&state, Action::Elect).expect("a state");
        let roles: Vec<PeerState> = state.nodes().map(Node::state).collect();
        assert_eq!(
            roles,
            [PeerState::Looking, PeerState::Following, PeerState::Leading],
            "s2 and s3 elect each other; s1 hears nobody"
        );
        let mut actions = Vec::new();
        model.actions(&state, &mut actions);
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Isolate { .. })),
            "one isolation in all: {actions:?}"
        );
    }

    #[test]
    fn the_sync_oracle_compares_the_read_index_with_what_was_committed_before() {
        let model = ClusterModel::new(ModelConfig::new(ModelKind::Sync));
        let mut state = model.init_states().remove(0);
        let t = Proposal {
            zxid: Zxid::new(Epoch(2), 1),
            data: Bytes::from_static(b"t"),
        };
        for (id, server) in [(1, 0), (2, 1)] {
            let record = SyncRecord {
                server,
                committed_before: vec![t.clone()],
                answer: None,
            };
            state.ghost.syncs.insert(id, record);
        }
        model.on_sync_ready(&mut state, 1, 2, t.zxid);
        assert!(state.ghost.violations.is_empty());
        model.check_answered_syncs(&mut state);
        assert!(
            state.ghost.syncs.contains_key(&2),
            "checked only once s2 has applied its read index"
        );
        model.on_sync_ready(&mut state, 0, 1, Zxid::new(Epoch(1), 1));
        assert_eq!(
            state.ghost.violations["ZAB-SYNC-LINEARIZABLE"],
            "s1 answered sync #1 with read index 1:1, but 2:1 was committed before the sync was issued"
        );
    }

    #[test]
    fn a_panic_in_node_step_is_recorded_on_its_server() {
        // A TRUNC that cuts nothing trips the learner's ZAB-TRUNC assertion.
        let model = ClusterModel::new(ModelConfig::new(ModelKind::Sync));
        let state = model.init_states().remove(0);
        let mut path = state;
        // Drive the first election to a follower waiting for its sync.
        for _ in 0..200 {
            let follower = path.servers.iter().position(|s| {
                s.node
                    .as_ref()
                    .and_then(|n| n.learning())
                    .is_some_and(|l| l.phase == LearnerPhase::AwaitSync)
            });
            if let Some(f) = follower {
                let leader = path.servers[f].node.as_ref().unwrap().leader().unwrap();
                let l = leader.0 as usize - 1;
                let n = path.n();
                path.links[l * n + f].push_front(PeerMsg::Sync {
                    kind: SyncKind::Trunc { to: Zxid::ZERO },
                    proposals: vec![],
                    committed: Zxid::ZERO,
                });
                let next = model
                    .next_state(&path, Action::Deliver { from: l, to: f })
                    .expect("a state");
                let panic = next.servers[f].panic.as_ref().expect("recorded");
                assert!(panic.starts_with("ZAB-TRUNC: TRUNC to 0:0"), "{panic}");
                assert!(panic.contains("follower.rs:"), "{panic}");
                let said = crate::properties::explain(&model, "NO-PANIC", &next).unwrap();
                assert!(said.starts_with(&format!("s{} panicked in Node::step: ZAB-TRUNC", f + 1)));
                return;
            }
            let mut actions = Vec::new();
            model.actions(&path, &mut actions);
            let pick = actions
                .into_iter()
                .find(|a| !matches!(a, Action::Crash { .. } | Action::BreakLink { .. }))
                .unwrap_or_else(|| panic!("stuck:\n{}", crate::trace::describe_state(&path)));
            path = model.next_state(&path, pick).expect("a state");
        }
        panic!("no follower reached AwaitSync in 200 steps");
    }
}
