//! Trace validation (issue 10, verification.md §10): every server's `Node::step`s in a run, as
//! the driver reports them (`Observer::node_built`, `Observer::stepped`), checked against what
//! the models assume of the world (models/src/cluster/{world,runtime}.rs).
//!
//! [`Validator`] is fed the steps in the global order they happened (turmoil runs every host on
//! one thread) and checks, per server incarnation:
//!
//! - REPLAY: a fresh `Node::new(config, durable)` fed the recorded inputs in order pushes exactly
//!   the recorded effects (the driver fed the core nothing it did not record, and the core is a
//!   function of its inputs);
//! - the world rules: `Persisted { upto }` only when an outstanding `PersistTxns` ends at `upto`
//!   (PERSISTED), `EpochPersisted` only with a `PersistEpoch` outstanding (EPOCH-PERSISTED),
//!   `Truncated { after }` only after `TruncateLog { after }` (TRUNCATED),
//!   `SnapshotInstalled { base }` only after `InstallSnapshot { base }` (SNAPSHOT-INSTALLED); a
//!   confirmation covers the log writes issued before the one it confirms, as the disk writes
//!   them in order; `Timeout(t)` only for a timer armed by `SetTimer` and not cancelled or fired
//!   since (TIMEOUT); `SessionChecked { origin, session, .. }` only for an outstanding
//!   `CheckSession { origin, session, .. }` of the same server, each answered once
//!   (SESSION-CHECKED); `Peer { from, msg }` only if `from` sent `msg` to this server and it was
//!   not delivered yet, in FIFO order per link (each pair has an election and a quorum
//!   connection) (PEER-SENT); a message passed over (lost) that was sent on an up link (a
//!   message had been delivered on it since its last loss) only if the pair's link was lost
//!   between that send and the delivery that passed it over — a `PeerLost` or `Disconnect` at
//!   either end, or either end crashing or restarting (PEER-LOST: the runtime changes a link's
//!   connection only through a loss its core steps before it sends on the new one, the fence
//!   of `peers/mod.rs`); a message delivered again on a link (equal to one of the last 8
//!   delivered there, nothing equal in flight) is a violation of its own (PEER-DUP).
//!   Deliveries are matched to sends by contents; when several equal sends are in flight, the
//!   validator keeps every match FIFO and the losses allow and fails only when a delivery fits
//!   none ([`Validator::deliver`]). PEER-LOST was a note, not a failure, until its cause was
//!   found: every one was the validator's, which matched the oldest equal send — a notification
//!   sent on a connection that then broke took the delivery of its equal resend, so the resend
//!   looked lost (seed 65's PING, seed 92's NOTIFICATIONs; verification.md §10).
//!   PEER-DUP and PEER-SENT for election messages were notes too until their cause was found:
//!   the FOLLOWERINFO "PEER-DUP" of seed 527 was two equal FOLLOWERINFOs on two quorum
//!   connections of one learner, the older connection adopted by the leader after the newer one
//!   (`peers/link.rs` `adopt` took whichever handshake finished last as the newer), so a message
//!   sent before the learner's `Disconnect` arrived after messages sent after it — a runtime
//!   departure, fixed (a link refuses a connection accepted before the one it took in last).
//!   Matching by contents attributed such a late delivery to the later equal send, hence the
//!   "repeat". After the fix no seed of 1,000 (3 servers) or 1,000 (5) showed either, so both
//!   fail the seed, and so does PEER-LOST now;
//! - the core's invariants: `invariants::check_local` on every replayed state and
//!   `invariants::check_cluster` over the live servers' replayed states after every step.
//!
//! A violation names the rule, the server and its step index (from 1, per incarnation); the
//! first violation of an incarnation stops the checks of that incarnation (the replay no longer
//! says what the server holds).

use std::collections::{BTreeSet, VecDeque};

use zabkeeper::protocol::{
    invariants, DurableState, Effect, Effects, Input, Node, NodeConfig, PeerMsg, Proposal,
    ServerId, SyncKind, Timer, Zxid,
};

/// A log write the driver was asked for and the disk has not confirmed yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogWrite {
    /// `PersistTxns` ending at this zxid.
    Append(Zxid),
    Truncate(Zxid),
    Install(Zxid),
}

/// What a delivered message must equal: a `Send`'s message, or a `SendSnapshot`'s SNAP (the
/// snapshot bytes are the runtime's tree, not in the effect).
#[derive(Clone, Debug)]
enum Expected {
    Msg(PeerMsg),
    Snap {
        base: Zxid,
        proposals: Vec<Proposal>,
        committed: Zxid,
    },
}

impl Expected {
    fn name(&self) -> &'static str {
        match self {
            Expected::Msg(m) => m.name(),
            Expected::Snap { .. } => "SNAP",
        }
    }

    fn matches(&self, msg: &PeerMsg) -> bool {
        match (self, msg) {
            (Expected::Msg(m), msg) => m == msg,
            (
                Expected::Snap {
                    base,
                    proposals,
                    committed,
                },
                PeerMsg::Sync {
                    kind: SyncKind::Snap { base: b, .. },
                    proposals: p,
                    committed: c,
                },
            ) => base == b && proposals == p && committed == c,
            _ => false,
        }
    }
}

/// A message in flight on a link.
#[derive(Clone, Debug)]
struct Sent {
    expected: Expected,
    /// Global event index of the send.
    at: u64,
    /// The sender's step index.
    step: u64,
    /// A message on this link had been delivered since its last loss when this one was sent
    /// (the link was up: losing this message takes a loss).
    up: bool,
}

/// One server's current incarnation.
#[derive(Default)]
struct Server {
    /// The replayed node; `None` before the first build, after a crash or a violation.
    node: Option<Node>,
    incarnation: u32,
    steps: u64,
    log_writes: VecDeque<LogWrite>,
    epoch_writes: u32,
    timers: BTreeSet<Timer>,
    /// `CheckSession`s not answered yet: (origin, session), one entry per effect.
    session_checks: Vec<(ServerId, i64)>,
}

/// The disk confirmed `write` (`input`): it and every log write issued before it are done.
fn confirm(
    s: &mut Server,
    write: LogWrite,
    rule: &'static str,
    input: &Input,
) -> Result<(), (&'static str, String)> {
    match s.log_writes.iter().position(|w| *w == write) {
        Some(k) => {
            s.log_writes.drain(..=k);
            Ok(())
        }
        None => Err((
            rule,
            format!(
                "{input:?} with no such write outstanding: {:?}",
                s.log_writes
            ),
        )),
    }
}

/// The trace checker of one run (see the module doc).
pub struct Validator {
    servers: Vec<Server>,
    /// Messages in flight, per directed link ([`Validator::link`]).
    links: Vec<VecDeque<Sent>>,
    /// Per directed link: a message was delivered on it since the pair's last loss.
    up: Vec<bool>,
    /// Per directed link: the last few messages delivered on it (for the reports).
    delivered: Vec<VecDeque<PeerMsg>>,
    /// Per directed link: how many of its sends ever made left `links` (the number of the
    /// first one still there).
    base: Vec<u64>,
    /// Per directed link: every number of sends the deliveries so far may have consumed
    /// (sorted, each `>= base`): a delivery equal to several sends in flight may be any of
    /// them whose predecessors may all be lost ([`Validator::deliver`]).
    states: Vec<Vec<u64>>,
    /// Per unordered pair `min * n + max`: global index of its last loss.
    last_loss: Vec<u64>,
    /// Global event index.
    seq: u64,
    violations: Vec<String>,
    /// Steps checked.
    pub steps: u64,
}

fn index(s: ServerId) -> usize {
    s.0 as usize - 1
}

impl Validator {
    /// A checker for servers `n1..=n{n}` (`ServerId(i + 1)` is index `i`).
    pub fn new(n: usize) -> Validator {
        Validator {
            servers: (0..n).map(|_| Server::default()).collect(),
            links: vec![VecDeque::new(); 2 * n * n],
            up: vec![false; 2 * n * n],
            delivered: vec![VecDeque::new(); 2 * n * n],
            base: vec![0; 2 * n * n],
            states: vec![vec![0]; 2 * n * n],
            last_loss: vec![0; n * n],
            seq: 0,
            violations: Vec::new(),
            steps: 0,
        }
    }

    fn n(&self) -> usize {
        self.servers.len()
    }

    /// The directed link `from → to` carrying election messages (`election`) or the others:
    /// the servers keep two connections per pair, each FIFO.
    fn link(&self, from: usize, to: usize, election: bool) -> usize {
        (from * self.n() + to) * 2 + usize::from(election)
    }

    /// A loss between `a` and `b`: `PeerLost` and `Disconnect` do not say which connection, so
    /// both count as lost.
    fn lose(&mut self, a: usize, b: usize) {
        let n = self.n();
        self.last_loss[a.min(b) * n + a.max(b)] = self.seq;
        for (f, t) in [(a, b), (b, a)] {
            for e in [false, true] {
                let k = self.link(f, t, e);
                self.up[k] = false;
            }
        }
    }

    fn lose_all(&mut self, a: usize) {
        for b in 0..self.n() {
            if b != a {
                self.lose(a, b);
            }
        }
    }

    fn fail(&mut self, i: usize, rule: &str, detail: String) {
        let s = &mut self.servers[i];
        self.violations.push(format!(
            "trace {rule}: n{} step {} (incarnation {}): {detail}",
            i + 1,
            s.steps,
            s.incarnation
        ));
        s.node = None;
    }

    /// Server `i` built its node from `config` and `durable` (a start or a restart).
    pub fn node_built(&mut self, i: usize, config: &NodeConfig, durable: &DurableState) {
        self.seq += 1;
        self.lose_all(i);
        let incarnation = self.servers[i].incarnation + 1;
        self.servers[i] = Server {
            node: Some(Node::new(config.clone(), durable.clone())),
            incarnation,
            ..Server::default()
        };
        self.check_invariants(i);
    }

    /// Server `i`'s replayed node (`None` before its first build, after a crash or a violation).
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.servers[i].node.as_ref()
    }

    /// Server `i` crashed or stopped: its node is gone, and so is everything in flight to it.
    pub fn crashed(&mut self, i: usize) {
        self.seq += 1;
        self.lose_all(i);
        self.servers[i].node = None;
    }

    /// Server `i`'s node stepped `input` and pushed `effects`.
    pub fn stepped(&mut self, i: usize, input: &Input, effects: &[Effect]) {
        self.seq += 1;
        self.servers[i].steps += 1;
        if self.servers[i].node.is_some() {
            self.steps += 1;
            self.check_step(i, input, effects);
        }
        // What the runtime executes next, checked or not (an unchecked incarnation's sends are
        // still what its peers receive).
        for effect in effects {
            self.record_effect(i, effect);
        }
        if self.servers[i].node.is_some() {
            self.check_invariants(i);
        }
    }

    fn check_step(&mut self, i: usize, input: &Input, effects: &[Effect]) {
        if let Err((rule, detail)) = self.world_rule(i, input) {
            self.fail(i, rule, detail);
            return;
        }
        let mut out = Effects::new();
        if let Some(node) = self.servers[i].node.as_mut() {
            node.step(input.clone(), &mut out);
        }
        if out.as_slice() != effects {
            let k = out
                .as_slice()
                .iter()
                .zip(effects)
                .take_while(|(a, b)| a == b)
                .count();
            let detail = format!(
                "{input:?}: replay pushed {} effects, the driver saw {}; first difference at effect {k}: replay {:?}, driver {:?}",
                out.as_slice().len(),
                effects.len(),
                out.as_slice().get(k),
                effects.get(k)
            );
            self.fail(i, "REPLAY", detail);
        }
    }

    /// Checks `input` at server `i` against the world rules and consumes what it answers.
    fn world_rule(&mut self, i: usize, input: &Input) -> Result<(), (&'static str, String)> {
        let n = self.n();
        let s = &mut self.servers[i];
        match input {
            Input::Persisted { upto } => confirm(s, LogWrite::Append(*upto), "PERSISTED", input),
            Input::Truncated { after } => {
                confirm(s, LogWrite::Truncate(*after), "TRUNCATED", input)
            }
            Input::SnapshotInstalled { base } => {
                confirm(s, LogWrite::Install(*base), "SNAPSHOT-INSTALLED", input)
            }
            Input::EpochPersisted => {
                if s.epoch_writes == 0 {
                    return Err(("EPOCH-PERSISTED", "no PersistEpoch outstanding".into()));
                }
                s.epoch_writes -= 1;
                Ok(())
            }
            Input::SessionChecked {
                origin, session, ..
            } => match s
                .session_checks
                .iter()
                .position(|c| *c == (*origin, *session))
            {
                Some(k) => {
                    s.session_checks.remove(k);
                    Ok(())
                }
                None => Err((
                    "SESSION-CHECKED",
                    format!(
                        "{input:?} with no such CheckSession outstanding: {:?}",
                        s.session_checks
                    ),
                )),
            },
            Input::Timeout(timer) => {
                if !s.timers.remove(timer) {
                    return Err((
                        "TIMEOUT",
                        format!("{timer:?} fired, not armed (armed: {:?})", s.timers),
                    ));
                }
                Ok(())
            }
            Input::Peer { from, msg } => {
                let f = index(*from);
                let l = (f * n + i) * 2 + usize::from(msg.is_election());
                self.up[l] = true;
                self.deliver(f, i, l, msg)
            }
            Input::PeerLost(peer) => {
                self.lose(i, index(*peer));
                Ok(())
            }
            Input::Start
            | Input::Write { .. }
            | Input::Forward { .. }
            | Input::Sync { .. }
            | Input::Revalidate { .. }
            | Input::Compacted { .. } => Ok(()),
        }
    }

    fn record_effect(&mut self, i: usize, effect: &Effect) {
        let (seq, step) = (self.seq, self.servers[i].steps);
        let s = &mut self.servers[i];
        match effect {
            Effect::PersistTxns { proposals, .. } => {
                if let Some(last) = proposals.last() {
                    s.log_writes.push_back(LogWrite::Append(last.zxid));
                }
            }
            Effect::TruncateLog { after } => s.log_writes.push_back(LogWrite::Truncate(*after)),
            Effect::InstallSnapshot { base, .. } => {
                s.log_writes.push_back(LogWrite::Install(*base))
            }
            Effect::PersistEpoch { .. } => s.epoch_writes += 1,
            Effect::SetTimer { timer, .. } => {
                s.timers.insert(*timer);
            }
            Effect::CancelTimer(timer) => {
                s.timers.remove(timer);
            }
            Effect::Send { to, msg } => {
                let l = self.link(i, index(*to), msg.is_election());
                self.links[l].push_back(Sent {
                    expected: Expected::Msg(msg.clone()),
                    at: seq,
                    step,
                    up: self.up[l],
                })
            }
            Effect::SendSnapshot {
                to,
                base,
                proposals,
                committed,
            } => {
                let l = self.link(i, index(*to), false);
                self.links[l].push_back(Sent {
                    expected: Expected::Snap {
                        base: *base,
                        proposals: proposals.clone(),
                        committed: *committed,
                    },
                    at: seq,
                    step,
                    up: self.up[l],
                })
            }
            Effect::Disconnect { peer } => self.lose(i, index(*peer)),
            Effect::CheckSession {
                origin, session, ..
            } => s.session_checks.push((*origin, *session)),
            Effect::Commit { .. }
            | Effect::Proposed { .. }
            | Effect::Prepare { .. }
            | Effect::SyncReady { .. }
            | Effect::SyncFailed { .. }
            | Effect::Revalidated { .. }
            | Effect::RevalidateFailed { .. }
            | Effect::Reject { .. }
            | Effect::RoleChanged { .. } => {}
        }
    }

    fn check_invariants(&mut self, i: usize) {
        let Some(node) = &self.servers[i].node else {
            return;
        };
        if let Err(v) = invariants::check_local(node) {
            self.fail(i, v.id, v.detail);
            return;
        }
        let live: Vec<&Node> = self
            .servers
            .iter()
            .filter_map(|s| s.node.as_ref())
            .collect();
        if let Err(v) = invariants::check_cluster(&live) {
            self.fail(i, v.id, v.detail);
        }
    }

    /// Ends the run: the violations seen.
    pub fn finish(&mut self) -> Vec<String> {
        std::mem::take(&mut self.violations)
    }

    /// `msg` from `f` reaches `t` on directed link `l`: it must be one of the sends in flight
    /// there, every send before it in FIFO order delivered already or possibly lost — sent
    /// while the link was down, or sent before a loss of the pair that came before this
    /// delivery (PEER-LOST otherwise; PEER-DUP if it equals a recent delivery and nothing in
    /// flight; PEER-SENT if it was never sent).
    ///
    /// Equal sends make the match ambiguous: with sends `a a b a` (the first two possibly lost)
    /// and deliveries `a a`, the deliveries may be the second and fourth `a` or the first two
    /// (then `b` was passed over). So the validator keeps every count of consumed sends the
    /// deliveries so far allow (`states`) and drops a count only when a later delivery cannot
    /// follow from it; the seed fails when none is left. Matching the oldest equal send instead
    /// (which this did before) took a lost `a` for the delivered one and reported the resent
    /// `a` as lost (seeds 65 and 92, verification.md §10).
    fn deliver(
        &mut self,
        f: usize,
        t: usize,
        l: usize,
        msg: &PeerMsg,
    ) -> Result<(), (&'static str, String)> {
        let n = self.n();
        let last_loss = self.last_loss[f.min(t) * n + f.max(t)];
        let lossy = |sent: &Sent| !sent.up || last_loss > sent.at;
        let (base, link, states) = (self.base[l], &self.links[l], &self.states[l]);
        // One pass over the link: `alive` while some count of consumed sends reaches this
        // send with every send between it and that count possibly lost.
        let mut next: Vec<u64> = Vec::new();
        let mut passed: Option<&Sent> = None;
        let mut starts = states.iter().map(|&p| (p - base) as usize).peekable();
        let mut alive = false;
        for (k, sent) in link.iter().enumerate() {
            while starts.next_if(|&p| p <= k).is_some() {
                alive = true;
            }
            if !alive {
                match starts.peek() {
                    Some(_) => continue,
                    None => break,
                }
            }
            let equal = sent.expected.matches(msg);
            if equal {
                next.push(base + k as u64 + 1);
            }
            if !lossy(sent) {
                if !equal && passed.is_none() {
                    passed = Some(sent);
                }
                alive = false;
            }
        }
        if let Some(&first) = next.first() {
            self.states[l] = next;
            let link = &mut self.links[l];
            while self.base[l] < first {
                link.pop_front();
                self.base[l] += 1;
            }
            let d = &mut self.delivered[l];
            d.push_back(msg.clone());
            if d.len() > 8 {
                d.pop_front();
            }
            return Ok(());
        }
        let from = ServerId(f as u64 + 1);
        if let Some(sent) = passed.filter(|_| link.iter().any(|s| s.expected.matches(msg))) {
            return Err((
                "PEER-LOST",
                format!(
                    "{} from {from} passed over its {} (n{} step {}), and the pair's link was not lost between that send and this delivery",
                    msg.name(),
                    sent.expected.name(),
                    f + 1,
                    sent.step
                ),
            ));
        }
        if self.delivered[l].iter().any(|d| d == msg) {
            return Err((
                "PEER-DUP",
                format!("{} from {from} delivered again", msg.name()),
            ));
        }
        let elsewhere: Vec<usize> = (0..self.links.len())
            .filter(|&k| self.links[k].iter().any(|sent| sent.expected.matches(msg)))
            .collect();
        Err((
            "PEER-SENT",
            format!(
                "{} from {from} was not sent to n{}, or was delivered already ({} in flight; in flight on links {elsewhere:?})",
                msg.name(),
                t + 1,
                link.len()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use zabkeeper::protocol::{Epoch, Role};

    use super::*;

    fn sid(i: usize) -> ServerId {
        ServerId(i as u64 + 1)
    }

    /// A tiny correct world around real nodes: every step reported to a validator.
    struct World {
        nodes: Vec<Node>,
        v: Validator,
    }

    impl World {
        fn new(n: usize) -> World {
            let mut v = Validator::new(n);
            let nodes = (0..n)
                .map(|i| {
                    let config = NodeConfig::new(sid(i), (0..n).map(sid));
                    v.node_built(i, &config, &DurableState::default());
                    Node::new(config, DurableState::default())
                })
                .collect();
            World { nodes, v }
        }

        /// Steps node `i` as a correct runtime would and reports it; returns the effects.
        fn step(&mut self, i: usize, input: Input) -> Vec<Effect> {
            let mut out = Effects::new();
            self.nodes[i].step(input.clone(), &mut out);
            self.v.stepped(i, &input, out.as_slice());
            out.drain().collect()
        }

        /// Runs a correct world to quiescence: FIFO links, disks that confirm every write,
        /// FinalizeWait fired when nothing else is pending.
        fn settle(&mut self) {
            let n = self.nodes.len();
            let mut work: VecDeque<(usize, Input)> = (0..n).map(|i| (i, Input::Start)).collect();
            let mut finalize: BTreeSet<usize> = BTreeSet::new();
            // FOLLOWERINFOs that reached a LOOKING node, held until it has a role (as the
            // driver holds them).
            let mut held: Vec<(usize, Input)> = Vec::new();
            for _ in 0..10_000 {
                let (i, input) = match work.pop_front() {
                    Some(w) => w,
                    None => match finalize.pop_first() {
                        Some(i) => (i, Input::Timeout(Timer::FinalizeWait)),
                        None => return,
                    },
                };
                let looking = |node: &Node| matches!(node.role(), Role::Looking(_));
                if let Input::Peer {
                    msg: PeerMsg::FollowerInfo { .. },
                    ..
                } = &input
                {
                    if looking(&self.nodes[i]) {
                        held.push((i, input));
                        continue;
                    }
                }
                for effect in self.step(i, input) {
                    match effect {
                        Effect::Send { to, msg } => {
                            work.push_back((index(to), Input::Peer { from: sid(i), msg }))
                        }
                        Effect::PersistTxns { proposals, .. } => {
                            if let Some(p) = proposals.last() {
                                work.push_back((i, Input::Persisted { upto: p.zxid }));
                            }
                        }
                        Effect::PersistEpoch { .. } => work.push_back((i, Input::EpochPersisted)),
                        Effect::TruncateLog { after } => {
                            work.push_back((i, Input::Truncated { after }))
                        }
                        Effect::SetTimer {
                            timer: Timer::FinalizeWait,
                            ..
                        } => {
                            finalize.insert(i);
                        }
                        Effect::CancelTimer(Timer::FinalizeWait) => {
                            finalize.remove(&i);
                        }
                        _ => {}
                    }
                }
                let nodes = &self.nodes;
                let (ready, still): (Vec<_>, Vec<_>) =
                    held.drain(..).partition(|(j, _)| !looking(&nodes[*j]));
                held = still;
                work.extend(ready);
            }
            panic!("the test world did not settle");
        }
    }

    /// `rule` was reported as a violation (the seed fails).
    fn assert_rejected(v: &mut Validator, rule: &str) {
        assert_reported(&v.finish(), rule);
    }

    fn assert_reported(violations: &[String], rule: &str) {
        assert!(
            violations
                .iter()
                .any(|x| x.starts_with(&format!("trace {rule}: "))),
            "{rule} not reported: {violations:?}"
        );
    }

    /// Three started nodes (each has taken its `Start` step).
    fn started() -> World {
        let mut w = World::new(3);
        for i in 0..3 {
            w.step(i, Input::Start);
        }
        w
    }

    #[test]
    fn a_correct_world_passes_and_elects_a_leader() {
        let mut w = World::new(3);
        w.settle();
        let roles: Vec<String> = w.nodes.iter().map(|n| format!("{:?}", n.role())).collect();
        assert!(
            w.nodes.iter().any(|n| n.established_epoch().is_some()),
            "{roles:#?}"
        );
        assert!(w.v.steps > 20, "only {} steps", w.v.steps);
        assert_eq!(w.v.finish(), Vec::<String>::new());
    }

    #[test]
    fn persisted_without_persist_txns_is_rejected() {
        let mut w = started();
        let upto = Zxid::new(Epoch(1), 1);
        w.v.stepped(0, &Input::Persisted { upto }, &[]);
        assert_rejected(&mut w.v, "PERSISTED");
    }

    #[test]
    fn epoch_persisted_without_persist_epoch_is_rejected() {
        let mut w = started();
        w.v.stepped(1, &Input::EpochPersisted, &[]);
        assert_rejected(&mut w.v, "EPOCH-PERSISTED");
    }

    #[test]
    fn truncated_without_truncate_log_is_rejected() {
        let mut w = started();
        let after = Zxid::ZERO;
        w.v.stepped(2, &Input::Truncated { after }, &[]);
        assert_rejected(&mut w.v, "TRUNCATED");
    }

    #[test]
    fn snapshot_installed_without_install_is_rejected() {
        let mut w = started();
        let base = Zxid::new(Epoch(1), 3);
        w.v.stepped(0, &Input::SnapshotInstalled { base }, &[]);
        assert_rejected(&mut w.v, "SNAPSHOT-INSTALLED");
    }

    #[test]
    fn a_session_verdict_nobody_asked_for_is_rejected() {
        let mut w = started();
        let checked = Input::SessionChecked {
            origin: sid(1),
            session: 7,
            valid: true,
        };
        w.v.stepped(0, &checked, &[]);
        assert_rejected(&mut w.v, "SESSION-CHECKED");
        // Asked once (by n2 about session 7), answered once; a second answer is rejected.
        let mut v = Validator::new(1);
        v.node_built(
            0,
            &NodeConfig::new(sid(0), [sid(0)]),
            &DurableState::default(),
        );
        let ask = Effect::CheckSession {
            origin: sid(1),
            session: 7,
            timeout_ms: 4000,
        };
        v.record_effect(0, &ask);
        assert_eq!(v.world_rule(0, &checked), Ok(()));
        assert!(v.world_rule(0, &checked).is_err());
    }

    #[test]
    fn a_timer_that_was_never_armed_or_was_cancelled_cannot_fire() {
        let mut w = started();
        w.v.stepped(0, &Input::Timeout(Timer::Heartbeat), &[]);
        assert_rejected(&mut w.v, "TIMEOUT");
        // Armed, then cancelled, then fired.
        let mut v = Validator::new(1);
        v.node_built(
            0,
            &NodeConfig::new(sid(0), [sid(0)]),
            &DurableState::default(),
        );
        let set = Effect::SetTimer {
            timer: Timer::SyncLimit,
            ticks: 1,
        };
        v.record_effect(0, &set);
        v.record_effect(0, &Effect::CancelTimer(Timer::SyncLimit));
        v.stepped(0, &Input::Timeout(Timer::SyncLimit), &[]);
        assert_rejected(&mut v, "TIMEOUT");
    }

    /// n2's two notifications to n1: its first vote (for itself), then its vote for n3.
    fn two_notifications_from_n2() -> (World, PeerMsg, PeerMsg) {
        let mut w = World::new(3);
        let to_n1 = |effects: &[Effect]| {
            effects.iter().find_map(|e| match e {
                Effect::Send { to, msg } if *to == sid(0) => Some(msg.clone()),
                _ => None,
            })
        };
        let first = to_n1(&w.step(1, Input::Start)).expect("n2 notifies n1");
        let from_n3 = w
            .step(2, Input::Start)
            .into_iter()
            .find_map(|e| match e {
                Effect::Send { to, msg } if to == sid(1) => Some(msg),
                _ => None,
            })
            .expect("n3 notifies n2");
        let from = sid(2);
        let second = to_n1(&w.step(1, Input::Peer { from, msg: from_n3 }))
            .expect("n2 changes its vote to n3 and tells n1");
        assert_ne!(first, second);
        w.step(0, Input::Start);
        (w, first, second)
    }

    fn follower_info(epoch: u32) -> PeerMsg {
        PeerMsg::FollowerInfo {
            accepted_epoch: Epoch(epoch),
            observer: false,
        }
    }

    #[test]
    fn a_quorum_message_never_sent_is_rejected() {
        let mut w = started();
        let input = Input::Peer {
            from: sid(1),
            msg: follower_info(0),
        };
        w.step(0, input);
        assert_rejected(&mut w.v, "PEER-SENT");
    }

    #[test]
    fn reordered_quorum_messages_are_rejected() {
        let mut w = started();
        // Hand-made: n2 sends n1 two FOLLOWERINFOs; n1 (LOOKING, so it ignores them) gets them
        // in the other order.
        for epoch in [1, 2] {
            let msg = follower_info(epoch);
            w.v.record_effect(1, &Effect::Send { to: sid(0), msg });
        }
        let from = sid(1);
        for epoch in [2, 1] {
            let msg = follower_info(epoch);
            w.step(0, Input::Peer { from, msg });
        }
        assert_rejected(&mut w.v, "PEER-SENT");
    }

    #[test]
    fn an_election_message_never_sent_is_rejected() {
        let (mut w, first, _) = two_notifications_from_n2();
        // n3 never sent n1 this message (n2 did).
        let from = sid(2);
        w.step(0, Input::Peer { from, msg: first });
        assert_rejected(&mut w.v, "PEER-SENT");
    }

    #[test]
    fn a_duplicated_message_is_rejected() {
        let (mut w, first, _) = two_notifications_from_n2();
        let from = sid(1);
        let msg = first.clone();
        w.step(0, Input::Peer { from, msg });
        w.step(0, Input::Peer { from, msg: first });
        assert_rejected(&mut w.v, "PEER-DUP");
    }

    /// n2's two notifications delivered to n1 in order (the link is up), then n2 sends both
    /// again (hand-made): returns the world and the second.
    fn link_up_and_two_more() -> (World, PeerMsg) {
        let (mut w, first, second) = two_notifications_from_n2();
        let from = sid(1);
        w.step(
            0,
            Input::Peer {
                from,
                msg: first.clone(),
            },
        );
        w.step(
            0,
            Input::Peer {
                from,
                msg: second.clone(),
            },
        );
        for msg in [first, second.clone()] {
            w.v.record_effect(1, &Effect::Send { to: sid(0), msg });
        }
        (w, second)
    }

    #[test]
    fn a_message_lost_without_a_link_loss_is_rejected_and_with_one_accepted() {
        let from = sid(1);
        let (mut w, second) = link_up_and_two_more();
        w.step(0, Input::Peer { from, msg: second });
        assert_rejected(&mut w.v, "PEER-LOST");

        let (mut w, second) = link_up_and_two_more();
        w.step(0, Input::PeerLost(from));
        w.step(0, Input::Peer { from, msg: second });
        assert_eq!(w.v.finish(), Vec::<String>::new());
    }

    /// n2's second notification was sent while the link was down (it may be lost); once the
    /// link is up n2 sends it again, then the first. Deliveries `second`, `first`: the oldest
    /// equal send matches `second`, so the later `second` looks passed over by `first` — but the
    /// delivery may as well have been the later one, and only the lossy send is missing.
    #[test]
    fn an_equal_message_sent_while_down_does_not_make_its_resend_look_lost() {
        let (mut w, first, second) = two_notifications_from_n2();
        let from = sid(1);
        w.step(
            0,
            Input::Peer {
                from,
                msg: first.clone(),
            },
        );
        for msg in [second.clone(), first.clone()] {
            w.v.record_effect(1, &Effect::Send { to: sid(0), msg });
        }
        w.step(0, Input::Peer { from, msg: second });
        w.step(0, Input::Peer { from, msg: first });
        assert_eq!(w.v.finish(), Vec::<String>::new());
    }

    /// Seed 92's pattern (verification.md §10): n2 sends `a` twice on an up link, the link is
    /// lost, n2 sends `a` again (down), the first delivery `a` arrives, n2 sends `a` twice more
    /// (up), `late` more `a` arrive, then `b` is sent and arrives.
    fn seed_92_schedule(late: usize) -> Validator {
        let (mut w, a, b) = two_notifications_from_n2();
        let from = sid(1);
        let send = |w: &mut World, msg: &PeerMsg| {
            let msg = msg.clone();
            w.v.record_effect(1, &Effect::Send { to: sid(0), msg });
        };
        let deliver = |w: &mut World, msg: &PeerMsg| {
            let msg = msg.clone();
            w.step(0, Input::Peer { from, msg });
        };
        // The link is up: an earlier `a` was delivered.
        deliver(&mut w, &a);
        send(&mut w, &a);
        send(&mut w, &a);
        w.step(0, Input::PeerLost(from));
        send(&mut w, &a);
        deliver(&mut w, &a);
        send(&mut w, &a);
        send(&mut w, &a);
        for _ in 0..late {
            deliver(&mut w, &a);
        }
        send(&mut w, &b);
        deliver(&mut w, &b);
        w.v
    }

    /// With two late deliveries the three `a`s delivered may be the last three sends of `a`
    /// (the first two lost with the link); matching the oldest equal send took them for the
    /// first three and made `b` pass over two `a`s sent on an up link.
    #[test]
    fn equal_messages_resent_after_a_loss_are_matched_to_the_resends() {
        assert_eq!(seed_92_schedule(2).finish(), Vec::<String>::new());
    }

    /// The same sends, but one `a` fewer delivered: then `b` did pass over an `a` sent on an
    /// up link with no loss after it.
    #[test]
    fn one_resend_fewer_delivered_is_a_lost_message() {
        assert_rejected(&mut seed_92_schedule(1), "PEER-LOST");
    }

    #[test]
    fn effects_the_core_did_not_push_are_rejected() {
        let mut w = World::new(3);
        let mut effects = w.step(0, Input::Start);
        assert!(!effects.is_empty());
        // The driver reports n2's Start with one effect missing.
        let mut out = Effects::new();
        w.nodes[1].step(Input::Start, &mut out);
        effects = out.drain().collect();
        effects.pop();
        w.v.stepped(1, &Input::Start, &effects);
        assert_rejected(&mut w.v, "REPLAY");
    }

    #[test]
    fn a_state_breaking_a_local_invariant_is_rejected() {
        let mut v = Validator::new(1);
        let p = |c| Proposal {
            zxid: Zxid::new(Epoch(1), c),
            data: Bytes::new(),
        };
        let durable = DurableState {
            accepted_epoch: Epoch(1),
            current_epoch: Epoch(1),
            log: vec![p(2), p(1)],
            ..DurableState::default()
        };
        v.node_built(0, &NodeConfig::new(sid(0), [sid(0)]), &durable);
        assert_rejected(&mut v, "INV-LOG-ORDER");
    }

    #[test]
    fn live_nodes_with_different_committed_prefixes_are_rejected() {
        let mut v = Validator::new(2);
        for (i, data) in [(0, "a"), (1, "b")] {
            let zxid = Zxid::new(Epoch(1), 1);
            let durable = DurableState {
                accepted_epoch: Epoch(1),
                current_epoch: Epoch(1),
                log: vec![Proposal {
                    zxid,
                    data: Bytes::from_static(data.as_bytes()),
                }],
                committed: zxid,
                ..DurableState::default()
            };
            v.node_built(i, &NodeConfig::new(sid(i), [sid(0), sid(1)]), &durable);
        }
        assert_rejected(&mut v, "ZAB-PREFIX");
    }
}
