//! A deterministic in-memory cluster for the protocol core (raft-rs `harness/` style).
//!
//! Every server is a [`Node`] with a simulated disk: the [`DurableState`] a restart recovers, a
//! FIFO of log writes the node asked for but that are not durable yet, and at most one pending
//! epoch write. Links are FIFO queues per ordered pair. Nothing happens on its own: tests drive
//! the cluster with explicit controls (deliver, flush, fire a timer, crash, restart, partition)
//! and after every step the harness checks `invariants::check_local` and
//! `invariants::check_cluster` over the live nodes. Every (node, input, effects) is recorded in
//! [`Cluster::trace`] and printed when an invariant breaks.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use zabkeeper::protocol::invariants::{check_cluster, check_local};
use zabkeeper::protocol::*;

/// One simulated disk operation, in the order the node asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskOp {
    /// `PersistTxns`.
    Append(Vec<Proposal>, Zxid),
    /// `TruncateLog`.
    Truncate(Zxid),
    /// `InstallSnapshot` (the snapshot bytes, kept for tests to read).
    Install(Zxid, Bytes),
}

/// One server: its node while it runs, and its disk always.
#[derive(Clone, Debug)]
pub struct Server {
    /// Static configuration.
    pub config: NodeConfig,
    /// The running node; `None` while down (never started or crashed).
    pub node: Option<Node>,
    /// What survives a crash.
    pub disk: DurableState,
    /// Log writes requested and not yet durable.
    pub pending_log: VecDeque<DiskOp>,
    /// An epoch write requested and not yet durable: (accepted, current).
    pub pending_epoch: Option<(Epoch, Epoch)>,
    /// Armed timers and their ticks.
    pub timers: BTreeMap<Timer, u32>,
    /// Highest zxid applied (`Effect::Commit`) in this life.
    pub applied: Zxid,
    /// Every `Effect::Commit` upto, in order, over all lives.
    pub commits: Vec<Zxid>,
    /// Writes the node accepted (`Effect::Proposed`).
    pub proposed: Vec<Zxid>,
    /// Writes the node refused, with the server they came from.
    pub rejected: Vec<(ServerId, Bytes, RejectReason)>,
    /// Snapshots installed durably (`InstallSnapshot` flushed), in order: base and bytes.
    pub installed: Vec<(Zxid, Bytes)>,
    /// Forwarded requests the node asked to prepare.
    pub prepared: Vec<(ServerId, Bytes)>,
    /// Client syncs answered (`Effect::SyncReady`): (id, read index), in order.
    pub syncs_ready: Vec<(u64, Zxid)>,
    /// Client syncs failed (`Effect::SyncFailed`), in order.
    pub syncs_failed: Vec<u64>,
}

/// One recorded step.
#[derive(Clone, Debug)]
pub struct Step {
    /// The node stepped.
    pub node: ServerId,
    /// The input.
    pub input: Input,
    /// Its effects, in order.
    pub effects: Vec<Effect>,
}

/// The cluster.
#[derive(Debug)]
pub struct Cluster {
    /// Servers by id.
    pub servers: BTreeMap<ServerId, Server>,
    /// FIFO links per ordered pair (from, to).
    pub links: BTreeMap<(ServerId, ServerId), VecDeque<PeerMsg>>,
    /// Cut pairs (both directions are stored).
    pub cut: BTreeSet<(ServerId, ServerId)>,
    /// Silently cut pairs (both directions): messages are dropped and neither end is told, not
    /// even by a `Disconnect`; only a timer can reveal the cut.
    pub silent: BTreeSet<(ServerId, ServerId)>,
    /// Every step so far.
    pub trace: Vec<Step>,
}

/// Shorthand for a server id.
pub fn sid(n: u64) -> ServerId {
    ServerId(n)
}

/// Shorthand for a zxid.
pub fn z(epoch: u32, counter: u32) -> Zxid {
    Zxid::new(Epoch(epoch), counter)
}

/// A proposal whose data names its zxid.
pub fn prop(zxid: Zxid) -> Proposal {
    Proposal {
        zxid,
        data: Bytes::from(format!("txn {zxid}")),
    }
}

/// A durable state whose log holds `zxids` (all committed up to `committed`), with both epochs
/// set to `epoch`.
pub fn disk_with(epoch: u32, zxids: &[Zxid], committed: Zxid) -> DurableState {
    DurableState {
        accepted_epoch: Epoch(epoch),
        current_epoch: Epoch(epoch),
        log_base: Zxid::ZERO,
        log: zxids.iter().copied().map(prop).collect(),
        committed,
    }
}

/// Counters `1..=n` of `epoch`.
pub fn run_of(epoch: u32, n: u32) -> Vec<Zxid> {
    (1..=n).map(|c| z(epoch, c)).collect()
}

impl Cluster {
    /// `voters` and `observers`, all down, with empty disks.
    pub fn new(voters: &[u64], observers: &[u64]) -> Cluster {
        let disks = voters
            .iter()
            .chain(observers)
            .map(|id| (*id, DurableState::default()))
            .collect();
        Cluster::with_disks(voters, observers, disks)
    }

    /// Like [`Cluster::new`] with the given disks (missing ids get an empty disk).
    pub fn with_disks(
        voters: &[u64],
        observers: &[u64],
        mut disks: BTreeMap<u64, DurableState>,
    ) -> Cluster {
        let mut servers = BTreeMap::new();
        for id in voters.iter().chain(observers) {
            let config = NodeConfig::new(sid(*id), voters.iter().copied().map(ServerId))
                .with_observers(observers.iter().copied().map(ServerId));
            let disk = disks.remove(id).unwrap_or_default();
            let applied = disk.committed.max(disk.log_base);
            servers.insert(
                sid(*id),
                Server {
                    config,
                    node: None,
                    disk,
                    pending_log: VecDeque::new(),
                    pending_epoch: None,
                    timers: BTreeMap::new(),
                    applied,
                    commits: Vec::new(),
                    proposed: Vec::new(),
                    rejected: Vec::new(),
                    installed: Vec::new(),
                    prepared: Vec::new(),
                    syncs_ready: Vec::new(),
                    syncs_failed: Vec::new(),
                },
            );
        }
        Cluster {
            servers,
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            silent: BTreeSet::new(),
            trace: Vec::new(),
        }
    }

    /// Changes one server's config (e.g. to seed a bug) while it is down.
    pub fn configure(&mut self, id: u64, f: impl FnOnce(&mut NodeConfig)) {
        let s = self.server_mut(id);
        assert!(s.node.is_none(), "configure a running node");
        f(&mut s.config);
    }

    // ----- access ----------------------------------------------------------------------------

    /// The server `id`.
    pub fn server(&self, id: u64) -> &Server {
        self.servers
            .get(&sid(id))
            .unwrap_or_else(|| panic!("no server {id}"))
    }

    fn server_mut(&mut self, id: u64) -> &mut Server {
        self.servers
            .get_mut(&sid(id))
            .unwrap_or_else(|| panic!("no server {id}"))
    }

    /// The running node `id` (panics if down).
    pub fn node(&self, id: u64) -> &Node {
        self.server(id)
            .node
            .as_ref()
            .unwrap_or_else(|| panic!("server {id} is down"))
    }

    /// Is `id` running?
    pub fn is_up(&self, id: u64) -> bool {
        self.server(id).node.is_some()
    }

    /// The state of `id`.
    pub fn state(&self, id: u64) -> PeerState {
        self.node(id).state()
    }

    /// The leaders among running nodes.
    pub fn leaders(&self) -> Vec<u64> {
        self.live()
            .filter(|n| n.state() == PeerState::Leading)
            .map(|n| n.config().my_id.0)
            .collect()
    }

    fn live(&self) -> impl Iterator<Item = &Node> {
        self.servers.values().filter_map(|s| s.node.as_ref())
    }

    /// Messages queued from `from` to `to`.
    pub fn queued(&self, from: u64, to: u64) -> Vec<PeerMsg> {
        self.links
            .get(&(sid(from), sid(to)))
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Drops every queued message from `from` to `to` (a lossy link without a reset).
    pub fn drop_queued(&mut self, from: u64, to: u64) {
        self.links.remove(&(sid(from), sid(to)));
    }

    /// The zxids of `id`'s on-disk log.
    pub fn disk_zxids(&self, id: u64) -> Vec<Zxid> {
        self.server(id).disk.log.iter().map(|p| p.zxid).collect()
    }

    /// The zxids of `id`'s in-memory log.
    pub fn log_zxids(&self, id: u64) -> Vec<Zxid> {
        self.node(id).log().iter().map(|p| p.zxid).collect()
    }

    /// Are any timer of this kind armed on `id`?
    pub fn armed(&self, id: u64, timer: Timer) -> bool {
        self.server(id).timers.contains_key(&timer)
    }

    // ----- stepping --------------------------------------------------------------------------

    /// Feeds `input` to `id`, executes the effects, and returns them. PeerLost notices caused by
    /// `Disconnect` effects are delivered right after, in order (also traced).
    pub fn step(&mut self, id: u64, input: Input) -> Vec<Effect> {
        let mut work = VecDeque::from([(sid(id), input)]);
        let mut first = None;
        while let Some((who, input)) = work.pop_front() {
            let effects = self.step_one(who, input, &mut work);
            first.get_or_insert(effects);
        }
        first.unwrap_or_default()
    }

    fn step_one(
        &mut self,
        id: ServerId,
        input: Input,
        work: &mut VecDeque<(ServerId, Input)>,
    ) -> Vec<Effect> {
        let mut out = Effects::new();
        {
            let server = self.servers.get_mut(&id).expect("server");
            let Some(node) = server.node.as_mut() else {
                return Vec::new();
            };
            if let Input::Timeout(t) = &input {
                server.timers.remove(t);
            }
            let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                node.step(input.clone(), &mut out);
            }));
            if let Err(panic) = stepped {
                eprintln!(
                    "{id} panicked on {input:?}; trace before:\n{}",
                    self.trace_tail(40)
                );
                std::panic::resume_unwind(panic);
            }
        }
        let effects: Vec<Effect> = out.drain().collect();
        self.trace.push(Step {
            node: id,
            input,
            effects: effects.clone(),
        });
        for e in &effects {
            self.execute(id, e.clone(), work);
        }
        self.check();
        effects
    }

    fn execute(&mut self, id: ServerId, effect: Effect, work: &mut VecDeque<(ServerId, Input)>) {
        match effect {
            Effect::Send { to, msg } => {
                if self.silent.contains(&(id, to)) {
                    // Lost without a trace: a silent partition.
                } else if self.connected(id, to) {
                    self.links.entry((id, to)).or_default().push_back(msg);
                } else if !msg.is_election() {
                    // A quorum packet over a cut link or to a server that is down: the TCP
                    // connection fails and the sender notices. (Election packets are simply
                    // lost; FLE re-sends on its timer.)
                    work.push_back((id, Input::PeerLost(to)));
                }
            }
            Effect::Disconnect { peer } => {
                // The quorum link closes: its queued quorum packets are gone and the other end
                // notices. Election traffic travels on its own link and survives.
                for pair in [(id, peer), (peer, id)] {
                    if let Some(q) = self.links.get_mut(&pair) {
                        q.retain(PeerMsg::is_election);
                    }
                }
                let up = self.servers.get(&peer).is_some_and(|s| s.node.is_some());
                if up && !self.silent.contains(&(id, peer)) {
                    work.push_back((peer, Input::PeerLost(id)));
                }
            }
            Effect::PersistEpoch { accepted, current } => {
                self.servers.get_mut(&id).expect("server").pending_epoch =
                    Some((accepted, current));
            }
            Effect::PersistTxns {
                proposals,
                committed,
            } => {
                let s = self.servers.get_mut(&id).expect("server");
                s.pending_log
                    .push_back(DiskOp::Append(proposals, committed));
            }
            Effect::TruncateLog { after } => {
                let s = self.servers.get_mut(&id).expect("server");
                s.pending_log.push_back(DiskOp::Truncate(after));
            }
            Effect::InstallSnapshot { base, snapshot } => {
                let s = self.servers.get_mut(&id).expect("server");
                s.pending_log.push_back(DiskOp::Install(base, snapshot));
            }
            Effect::SendSnapshot {
                to,
                base,
                proposals,
                committed,
            } => {
                // The harness has no data tree: the "snapshot" names its sender and base, which
                // must be what the sender applied (the core's contract).
                let applied = self.servers[&id].applied;
                assert_eq!(base, applied, "{id}: SNAP at {base} but applied {applied}");
                let snapshot = Bytes::from(format!("{id}@{base}"));
                let msg = PeerMsg::Sync {
                    kind: SyncKind::Snap { base, snapshot },
                    proposals,
                    committed,
                };
                self.execute(id, Effect::Send { to, msg }, work);
            }
            Effect::Commit { upto } => {
                let s = self.servers.get_mut(&id).expect("server");
                assert!(
                    upto > s.applied || s.commits.is_empty(),
                    "{id}: Commit {upto} after applying {}",
                    s.applied
                );
                s.applied = upto;
                s.commits.push(upto);
            }
            Effect::Proposed { zxid } => self
                .servers
                .get_mut(&id)
                .expect("server")
                .proposed
                .push(zxid),
            Effect::Prepare { from, payload } => self
                .servers
                .get_mut(&id)
                .expect("server")
                .prepared
                .push((from, payload)),
            Effect::Reject { from, data, reason } => self
                .servers
                .get_mut(&id)
                .expect("server")
                .rejected
                .push((from, data, reason)),
            Effect::SetTimer { timer, ticks } => {
                self.servers
                    .get_mut(&id)
                    .expect("server")
                    .timers
                    .insert(timer, ticks);
            }
            Effect::CancelTimer(timer) => {
                self.servers
                    .get_mut(&id)
                    .expect("server")
                    .timers
                    .remove(&timer);
            }
            Effect::SyncReady { id: sync, zxid } => self
                .servers
                .get_mut(&id)
                .expect("server")
                .syncs_ready
                .push((sync, zxid)),
            Effect::SyncFailed { id: sync } => self
                .servers
                .get_mut(&id)
                .expect("server")
                .syncs_failed
                .push(sync),
            // Revalidation effects are asserted on by the tests that step them.
            Effect::RoleChanged { .. }
            | Effect::CheckSession { .. }
            | Effect::Revalidated { .. }
            | Effect::RevalidateFailed { .. } => {}
        }
    }

    fn connected(&self, a: ServerId, b: ServerId) -> bool {
        !self.cut.contains(&(a, b)) && self.servers.get(&b).is_some_and(|s| s.node.is_some())
    }

    /// Checks the cluster invariants over the live nodes; panics with the trace tail if broken.
    pub fn check(&self) {
        let nodes: Vec<&Node> = self.live().collect();
        for n in &nodes {
            if let Err(v) = check_local(n) {
                panic!("{v}\n{}", self.trace_tail(30));
            }
        }
        if let Err(v) = check_cluster(&nodes) {
            panic!("{v}\n{}", self.trace_tail(30));
        }
    }

    /// The last `n` steps, one per line.
    pub fn trace_tail(&self, n: usize) -> String {
        let start = self.trace.len().saturating_sub(n);
        self.trace[start..]
            .iter()
            .map(|s| format!("{} <- {:?}\n    => {:?}", s.node, s.input, s.effects))
            .collect::<Vec<_>>()
            .join("\n")
    }

    // ----- controls --------------------------------------------------------------------------

    /// Starts (or restarts) `id` from its disk: `Node::new` + `Input::Start`.
    pub fn restart(&mut self, id: u64) -> Vec<Effect> {
        let s = self.server_mut(id);
        assert!(s.node.is_none(), "restart of running server {id}");
        s.node = Some(Node::new(s.config.clone(), s.disk.clone()));
        s.applied = s.disk.committed.max(s.disk.log_base);
        let effects = self.step(id, Input::Start);
        // The election links to `id` come up: as ZooKeeper's SendWorker re-sends its last
        // message on a new connection, every started LOOKING peer re-sends its vote (the core
        // does that on a link change, `PeerLost`).
        let peers: Vec<u64> = self
            .servers
            .keys()
            .map(|s| s.0)
            .filter(|p| *p != id)
            .collect();
        for p in peers {
            let looking = self.servers[&sid(p)]
                .node
                .as_ref()
                .is_some_and(|n| matches!(n.role(), Role::Looking(e) if e.started));
            if looking && !self.cut.contains(&(sid(p), sid(id))) {
                self.step(p, Input::PeerLost(sid(id)));
            }
        }
        effects
    }

    /// Alias of [`Cluster::restart`] for a first start.
    pub fn start(&mut self, id: u64) -> Vec<Effect> {
        self.restart(id)
    }

    /// Crashes `id`: volatile state, pending writes, timers and its links are lost; live peers
    /// get `PeerLost`.
    pub fn crash(&mut self, id: u64) {
        let me = sid(id);
        let s = self.server_mut(id);
        s.node = None;
        s.pending_log.clear();
        s.pending_epoch = None;
        s.timers.clear();
        self.links.retain(|(a, b), _| *a != me && *b != me);
        let peers: Vec<u64> = self
            .servers
            .keys()
            .map(|s| s.0)
            .filter(|p| *p != id)
            .collect();
        for p in peers {
            if self.is_up(p) {
                self.step(p, Input::PeerLost(me));
            }
        }
    }

    /// Cuts the links between `a` and `b` both ways; both ends get `PeerLost`.
    pub fn partition(&mut self, a: u64, b: u64) {
        let (x, y) = (sid(a), sid(b));
        self.cut.insert((x, y));
        self.cut.insert((y, x));
        self.links.remove(&(x, y));
        self.links.remove(&(y, x));
        if self.is_up(a) {
            self.step(a, Input::PeerLost(y));
        }
        if self.is_up(b) {
            self.step(b, Input::PeerLost(x));
        }
    }

    /// Cuts `a` off from every other server.
    pub fn isolate(&mut self, a: u64) {
        let others: Vec<u64> = self
            .servers
            .keys()
            .map(|s| s.0)
            .filter(|p| *p != a)
            .collect();
        for b in others {
            self.partition(a, b);
        }
    }

    /// Cuts `a` off from every other server silently: everything in flight and every later
    /// message between them is lost, and nobody gets `PeerLost` (a paused or partitioned server
    /// that only its timers can reveal).
    pub fn isolate_silently(&mut self, a: u64) {
        let me = sid(a);
        let others: Vec<ServerId> = self.servers.keys().copied().filter(|p| *p != me).collect();
        for b in others {
            self.silent.insert((me, b));
            self.silent.insert((b, me));
            self.links.remove(&(me, b));
            self.links.remove(&(b, me));
        }
    }

    /// Restores the links between `a` and `b`.
    pub fn heal(&mut self, a: u64, b: u64) {
        self.cut.remove(&(sid(a), sid(b)));
        self.cut.remove(&(sid(b), sid(a)));
    }

    /// Restores every link.
    pub fn heal_all(&mut self) {
        self.cut.clear();
    }

    /// A client write at `id`.
    pub fn write(&mut self, id: u64, data: &[u8]) -> Vec<Effect> {
        self.step(
            id,
            Input::Write {
                data: Bytes::copy_from_slice(data),
            },
        )
    }

    /// A client `sync` at `id` with runtime handle `handle`.
    pub fn sync(&mut self, id: u64, handle: u64) -> Vec<Effect> {
        self.step(id, Input::Sync { id: handle })
    }

    /// Fires `timer` on `id` (whether or not it is armed).
    pub fn fire(&mut self, id: u64, timer: Timer) -> Vec<Effect> {
        self.step(id, Input::Timeout(timer))
    }

    /// Delivers the oldest message from `from` to `to`; `None` if the link is empty.
    pub fn deliver(&mut self, from: u64, to: u64) -> Option<(PeerMsg, Vec<Effect>)> {
        let msg = self.links.get_mut(&(sid(from), sid(to)))?.pop_front()?;
        let effects = self.step(
            to,
            Input::Peer {
                from: sid(from),
                msg: msg.clone(),
            },
        );
        Some((msg, effects))
    }

    /// Round-robin over the links (in id order), one message per link per pass, until no message
    /// is queued. Returns how many were delivered.
    pub fn deliver_all(&mut self) -> usize {
        let mut delivered = 0;
        for _ in 0..100_000 {
            let pairs: Vec<(ServerId, ServerId)> = self
                .links
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(k, _)| *k)
                .collect();
            if pairs.is_empty() {
                return delivered;
            }
            for (a, b) in pairs {
                if self.deliver(a.0, b.0).is_some() {
                    delivered += 1;
                }
            }
        }
        panic!("deliver_all did not quiesce\n{}", self.trace_tail(40));
    }

    /// Like [`Cluster::deliver_all`] but stops after `max` passes (for scenarios that never
    /// quiesce). Returns how many messages were delivered.
    pub fn deliver_all_bounded(&mut self, max: usize) -> usize {
        let mut delivered = 0;
        for _ in 0..max {
            let pairs: Vec<(ServerId, ServerId)> = self
                .links
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(k, _)| *k)
                .collect();
            if pairs.is_empty() {
                break;
            }
            for (a, b) in pairs {
                if self.deliver(a.0, b.0).is_some() {
                    delivered += 1;
                }
            }
        }
        delivered
    }

    /// Makes `id`'s pending log writes durable (in order) and reports `Persisted`. Returns
    /// whether anything was pending.
    pub fn flush_log(&mut self, id: u64) -> bool {
        let s = self.server_mut(id);
        if s.pending_log.is_empty() || s.node.is_none() {
            return false;
        }
        let mut appended = false;
        let mut truncated = None;
        let mut installed = None;
        for op in std::mem::take(&mut s.pending_log) {
            match op {
                DiskOp::Install(base, snapshot) => {
                    s.disk.install_snapshot(base);
                    s.installed.push((base, snapshot));
                    installed = Some(base);
                }
                DiskOp::Append(ps, committed) => {
                    s.disk.append(&ps, committed);
                    appended = true;
                }
                DiskOp::Truncate(after) => {
                    s.disk.truncate_after(after);
                    truncated = Some(after);
                }
            }
        }
        let upto = s.disk.last_zxid();
        if let Some(base) = installed {
            self.server_mut(id).applied = base;
            self.step(id, Input::SnapshotInstalled { base });
        }
        if appended {
            self.step(id, Input::Persisted { upto });
        }
        if let Some(after) = truncated {
            self.step(id, Input::Truncated { after });
        }
        true
    }

    /// Makes only the oldest pending log write of `id` durable and reports it (a crash can then
    /// land between two writes). Returns the write, if one was pending.
    pub fn flush_log_one(&mut self, id: u64) -> Option<DiskOp> {
        let s = self.server_mut(id);
        s.node.as_ref()?;
        let op = s.pending_log.pop_front()?;
        let input = match &op {
            DiskOp::Install(base, snapshot) => {
                s.disk.install_snapshot(*base);
                s.installed.push((*base, snapshot.clone()));
                s.applied = *base;
                Input::SnapshotInstalled { base: *base }
            }
            DiskOp::Append(ps, committed) => {
                s.disk.append(ps, *committed);
                Input::Persisted {
                    upto: ps.last().expect("non-empty append").zxid,
                }
            }
            DiskOp::Truncate(after) => {
                s.disk.truncate_after(*after);
                Input::Truncated { after: *after }
            }
        };
        self.step(id, input);
        Some(op)
    }

    /// Makes `id`'s pending epoch write durable and reports `EpochPersisted`.
    pub fn flush_epoch(&mut self, id: u64) -> bool {
        let s = self.server_mut(id);
        let Some((accepted, current)) = s.pending_epoch.take() else {
            return false;
        };
        if s.node.is_none() {
            return false;
        }
        s.disk.accepted_epoch = accepted;
        s.disk.current_epoch = current;
        self.step(id, Input::EpochPersisted);
        true
    }

    /// Flushes `id`'s log then its epochs, until nothing is pending.
    pub fn flush(&mut self, id: u64) -> bool {
        let mut any = false;
        for _ in 0..100 {
            let a = self.flush_log(id);
            let b = self.flush_epoch(id);
            if !(a || b) {
                return any;
            }
            any = true;
        }
        panic!("flush of {id} did not settle");
    }

    /// Flushes every running server, in id order.
    pub fn flush_all(&mut self) -> bool {
        let ids: Vec<u64> = self.servers.keys().map(|s| s.0).collect();
        let mut any = false;
        for id in ids {
            if self.is_up(id) {
                any |= self.flush(id);
            }
        }
        any
    }

    /// Fires every armed `FinalizeWait` (in id order). Returns whether any fired.
    pub fn fire_finalize(&mut self) -> bool {
        let ids: Vec<u64> = self
            .servers
            .iter()
            .filter(|(_, s)| s.node.is_some() && s.timers.contains_key(&Timer::FinalizeWait))
            .map(|(id, _)| id.0)
            .collect();
        for id in &ids {
            self.fire(*id, Timer::FinalizeWait);
        }
        !ids.is_empty()
    }

    /// deliver_all + flush_all + firing FinalizeWait until nothing changes (at most 1000 rounds).
    pub fn run_until_stable(&mut self) {
        for _ in 0..1000 {
            let delivered = self.deliver_all();
            let flushed = self.flush_all();
            let fired = if delivered == 0 && !flushed {
                self.fire_finalize()
            } else {
                false
            };
            if delivered == 0 && !flushed && !fired {
                return;
            }
        }
        panic!(
            "cluster not stable after 1000 rounds\n{}",
            self.trace_tail(40)
        );
    }

    /// [`Cluster::run_until_stable`]; then, while some running node is LOOKING or stuck before
    /// broadcast, fires the timer that gets it moving (`Notify` while LOOKING, `InitLimit` for a
    /// leader or learner that is not serving, e.g. one whose FOLLOWERINFO reached a peer still
    /// LOOKING) and runs again (at most 20 times; panics if it never settles).
    pub fn settle(&mut self) {
        for _ in 0..20 {
            self.run_until_stable();
            let mut idle = true;
            let ids: Vec<u64> = self.servers.keys().map(|s| s.0).collect();
            for id in ids {
                let Some(n) = self.servers[&sid(id)].node.as_ref() else {
                    continue;
                };
                let timer = match n.role() {
                    Role::Looking(_) => Timer::Notify,
                    Role::Leading(l) if l.phase != LeaderPhase::Broadcast => Timer::InitLimit,
                    Role::Following(l) if l.phase != LearnerPhase::Broadcast => Timer::InitLimit,
                    _ => continue,
                };
                idle = false;
                self.fire(id, timer);
            }
            if idle {
                return;
            }
        }
        panic!("cluster did not settle\n{}", self.trace_tail(40));
    }

    /// Starts every listed server (in the given order) then runs until stable.
    pub fn start_all(&mut self, ids: &[u64]) {
        for id in ids {
            self.start(*id);
        }
        self.run_until_stable();
    }

    /// Asserts `leader` leads in broadcast and every other running voter follows it (observers
    /// observe it).
    pub fn assert_settled(&self, leader: u64) {
        let l = self.node(leader);
        assert_eq!(
            l.state(),
            PeerState::Leading,
            "{leader} leads\n{}",
            self.trace_tail(30)
        );
        assert_eq!(
            l.leading().map(|x| x.phase),
            Some(LeaderPhase::Broadcast),
            "{leader} broadcasting"
        );
        for (id, s) in &self.servers {
            let Some(n) = &s.node else { continue };
            if id.0 == leader {
                continue;
            }
            let want = if s.config.is_observer() {
                PeerState::Observing
            } else {
                PeerState::Following
            };
            assert_eq!(n.state(), want, "{id} state\n{}", self.trace_tail(30));
            assert_eq!(n.leader(), Some(sid(leader)), "{id} follows {leader}");
            assert_eq!(
                n.learning().map(|l| l.phase),
                Some(LearnerPhase::Broadcast),
                "{id} serving"
            );
        }
    }

    /// Inputs fed to `id` since trace index `from`.
    pub fn inputs_of(&self, id: u64, from: usize) -> Vec<Input> {
        self.trace[from..]
            .iter()
            .filter(|s| s.node == sid(id))
            .map(|s| s.input.clone())
            .collect()
    }
}

/// The `Send`s in `effects`, as (to, msg).
/// A SNAP as `Effect::SendSnapshot` asks for it appears with empty snapshot bytes.
pub fn sends(effects: &[Effect]) -> Vec<(u64, PeerMsg)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((to.0, msg.clone())),
            Effect::SendSnapshot {
                to,
                base,
                proposals,
                committed,
            } => Some((
                to.0,
                PeerMsg::Sync {
                    kind: SyncKind::Snap {
                        base: *base,
                        snapshot: Bytes::new(),
                    },
                    proposals: proposals.clone(),
                    committed: *committed,
                },
            )),
            _ => None,
        })
        .collect()
}

/// The effects that are not timers, role changes or sends.
pub fn io_effects(effects: &[Effect]) -> Vec<Effect> {
    effects
        .iter()
        .filter(|e| {
            !matches!(
                e,
                Effect::SetTimer { .. }
                    | Effect::CancelTimer(_)
                    | Effect::RoleChanged { .. }
                    | Effect::Send { .. }
            )
        })
        .cloned()
        .collect()
}
