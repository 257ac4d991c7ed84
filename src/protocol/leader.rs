//! LEADING: ZAB 1.0 discovery, synchronization and broadcast, leader side (ZooKeeper's `Leader`
//! and `LearnerHandler`).
//!
//! spec/zab.md. In protocol order:
//! 1. *Discovery.* Learners send FOLLOWERINFO with their acceptedEpoch. Once I and the learners
//!    heard so far form a quorum, the new epoch is fixed at 1 + the largest acceptedEpoch among
//!    us (ZAB-EPOCH-NEW), I persist it as my acceptedEpoch and send LEADERINFO. I am *established*
//!    for that epoch once a quorum (me included, after my epoch is durable) sent ACKEPOCH with a
//!    real currentEpoch (ZAB-ESTABLISH). A learner ahead of me (newer currentEpoch, or same and a
//!    newer zxid) makes me abdicate.
//! 2. *Sync.* I persist currentEpoch, then send each acknowledged learner DIFF / TRUNC / SNAP
//!    (`sync::plan_sync`) and NEWLEADER. Once a quorum ACKed NEWLEADER (me included, once my log
//!    and currentEpoch are durable) I commit my initial history and send COMMIT + UPTODATE.
//! 3. *Broadcast.* A write gets the next zxid, is logged and sent as PROPOSAL to every follower
//!    that is syncing or synced; I count my own ACK only after `Persisted`. Proposals commit in
//!    zxid order when a quorum acknowledged them; COMMIT goes to followers, INFORM to observers.
//!    I abdicate when my synced followers and I no longer form a quorum.
//! 4. *Sync (linearizable reads, spec/zab.md §5.6).* A client `sync`, mine or forwarded by a
//!    learner, gets my last proposed zxid as its read index. I answer it once the read index is
//!    committed and a quorum of voters (me included) echoed a heartbeat round that I started
//!    after the `sync` arrived; a deposed leader that has not noticed never gets that quorum.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::effect::{Effect, Effects, RejectReason};
use super::ids::{Epoch, ServerId, Zxid};
use super::message::{PeerMsg, Proposal, SyncKind};
use super::sync::plan_sync;
use super::timer::Timer;
use super::vote::Vote;
use super::{Bug, Node, Role};

/// Where the leader is in ZAB's phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeaderPhase {
    /// Waiting for FOLLOWERINFO / ACKEPOCH from a quorum.
    Discovery,
    /// Established; waiting for a quorum of NEWLEADER ACKs.
    Sync,
    /// Serving writes.
    Broadcast,
}

/// How far one learner got with this leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LearnerStage {
    /// FOLLOWERINFO received.
    Connected,
    /// ACKEPOCH received; the learner's last logged zxid.
    AckedEpoch(Zxid),
    /// Sync and NEWLEADER sent; proposals are forwarded from now on.
    Syncing,
    /// NEWLEADER acknowledged.
    NewLeaderAcked,
    /// UPTODATE sent.
    UpToDate,
}

/// The leader's view of one learner.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LearnerView {
    /// acceptedEpoch from FOLLOWERINFO.
    pub accepted_epoch: Epoch,
    /// An observer (never counted).
    pub observer: bool,
    /// Progress.
    pub stage: LearnerStage,
    /// Highest proposal of this epoch it acknowledged.
    pub acked: Zxid,
    /// Highest heartbeat round it echoed while synced (stage `>= NewLeaderAcked`, voters only).
    pub echoed_round: u64,
}

/// A client `sync` waiting for its read index to be committed and confirmed (spec/zab.md §5.6).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PendingSync {
    /// The learner that forwarded it, or `None` for a client of mine.
    pub origin: Option<ServerId>,
    /// The handle of whoever asked (`Input::Sync` or `SyncRequest`).
    pub id: u64,
    /// My last proposed zxid when the `sync` arrived.
    pub read_index: Zxid,
    /// The heartbeat round a quorum must echo: the first one started after the `sync` arrived.
    pub round: u64,
}

/// A verdict on a resumed session (`Input::SessionChecked`) waiting for a heartbeat round
/// started after the check (spec/zab.md §5.7, ZAB-REVALIDATE-QUORUM).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PendingVerdict {
    /// The learner that asked (REVALIDATE), or me for a client of mine.
    pub origin: ServerId,
    /// The session resumed.
    pub session: i64,
    /// My runtime's verdict: live in my table or not.
    pub valid: bool,
    /// The heartbeat round a quorum must echo: the first one started after the check.
    pub round: u64,
}

/// LEADING-only data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Leader {
    /// The vote I was elected with (advertised to LOOKING servers).
    pub vote: Vote,
    /// Phase.
    pub phase: LeaderPhase,
    /// The new epoch, once fixed.
    pub epoch: Option<Epoch>,
    /// Connected learners.
    pub learners: BTreeMap<ServerId, LearnerView>,
    /// Voters that acknowledged the epoch with a real currentEpoch (me once mine is durable).
    pub ackepoch: BTreeSet<ServerId>,
    /// Voters that acknowledged NEWLEADER.
    pub newleader_acks: BTreeSet<ServerId>,
    /// My last zxid when established: the history every learner is synced to.
    pub initial_last: Zxid,
    /// Voters heard from since the last syncLimit check.
    pub heard: BTreeSet<ServerId>,
    /// Highest zxid a quorum acknowledged (COMMIT sent); applied here once durable here too.
    pub commit_point: Zxid,
    /// The last heartbeat round started (PINGs carry it). A round is started only for a `sync`
    /// that waits for one, so it counts rounds, not heartbeats.
    pub ping_round: u64,
    /// Client `sync`s not answered yet, in arrival order.
    pub syncs: Vec<PendingSync>,
    /// Sessions my own clients resume, handed to my runtime (`Effect::CheckSession`) and not
    /// answered yet (spec/zab.md §5.7).
    pub revalidations: BTreeSet<i64>,
    /// Verdicts checked in my table, waiting for a quorum round before they are answered.
    pub verdicts: Vec<PendingVerdict>,
}

impl Leader {
    pub(crate) fn new(vote: Vote) -> Leader {
        Leader {
            vote,
            phase: LeaderPhase::Discovery,
            epoch: None,
            learners: BTreeMap::new(),
            ackepoch: BTreeSet::new(),
            newleader_acks: BTreeSet::new(),
            initial_last: Zxid::ZERO,
            heard: BTreeSet::new(),
            commit_point: Zxid::ZERO,
            ping_round: 0,
            syncs: Vec::new(),
            revalidations: BTreeSet::new(),
            verdicts: Vec::new(),
        }
    }
}

impl Node {
    fn lead(&self) -> &Leader {
        match &self.role {
            Role::Leading(l) => l,
            _ => unreachable!("leader data outside LEADING"),
        }
    }

    fn lead_mut(&mut self) -> &mut Leader {
        match &mut self.role {
            Role::Leading(l) => l,
            _ => unreachable!("leader data outside LEADING"),
        }
    }

    /// Just elected: wait for learners (initLimit), maybe fix the epoch at once.
    pub(crate) fn leader_start(&mut self, out: &mut Effects) {
        out.push(Effect::SetTimer {
            timer: Timer::InitLimit,
            ticks: self.config.init_limit_ticks,
        });
        self.try_fix_epoch(out);
    }

    /// ZAB-EPOCH-NEW: 1 + the largest acceptedEpoch of a quorum of me and my learners. Called
    /// only while the epoch is not fixed (on election, and on a FOLLOWERINFO before it is).
    fn try_fix_epoch(&mut self, out: &mut Effects) {
        invariant!(
            self.lead().epoch.is_none(),
            "ZAB-EPOCH-NEW: epoch fixed twice"
        );
        let me = self.config.my_id;
        let lead = self.lead();
        // ZOOKEEPER-2959 (mutant): observers' FOLLOWERINFO counted toward the quorum.
        let with_observers = self.config.has_bug(Bug::ObserversInEpochQuorum);
        let connected: Vec<ServerId> = std::iter::once(me)
            .chain(
                lead.learners
                    .iter()
                    .filter(|(_, v)| with_observers || !v.observer)
                    .map(|(s, _)| *s),
            )
            .collect();
        let skip_quorum = self.config.has_bug(Bug::NoAckEpochQuorum);
        if !skip_quorum && !self.is_epoch_quorum(&connected) {
            return;
        }
        let max_accepted = lead
            .learners
            .values()
            .filter(|v| !v.observer)
            .map(|v| v.accepted_epoch)
            .fold(self.accepted_epoch, Epoch::max);
        let epoch = max_accepted
            .next()
            .expect("ZAB-EPOCH-NEW: epoch space exhausted");
        invariant!(
            epoch > self.accepted_epoch,
            "ZAB-EPOCH-NEW: {epoch} not above my acceptedEpoch"
        );
        self.accepted_epoch = epoch;
        self.persist_epochs(out);
        self.lead_mut().epoch = Some(epoch);
        let learners: Vec<ServerId> = self.lead().learners.keys().copied().collect();
        for sid in learners {
            out.send(sid, PeerMsg::LeaderInfo { epoch });
        }
    }

    pub(crate) fn leader_on_message(&mut self, from: ServerId, msg: PeerMsg, out: &mut Effects) {
        if let PeerMsg::FollowerInfo {
            accepted_epoch,
            observer,
        } = msg
        {
            return self.on_follower_info(from, accepted_epoch, observer, out);
        }
        if self.ignore_leader_message(from) {
            tracing::trace!(%from, msg = msg.name(), "ignored: not my learner");
            return;
        }
        self.lead_mut().heard.insert(from);
        match msg {
            PeerMsg::AckEpoch {
                current_epoch,
                last_zxid,
            } => self.on_ack_epoch(from, current_epoch, last_zxid, out),
            PeerMsg::Ack { zxid } => self.on_ack(from, zxid, out),
            PeerMsg::Request { payload } => {
                if self.lead().phase == LeaderPhase::Broadcast {
                    out.push(Effect::Prepare { from, payload });
                } else {
                    out.push(Effect::Reject {
                        from,
                        data: payload,
                        reason: RejectReason::NotLeader,
                    });
                }
            }
            PeerMsg::Ping { round } => self.on_ping_echo(from, round, out),
            PeerMsg::SyncRequest { id } => self.leader_on_sync(Some(from), id, out),
            PeerMsg::Revalidate {
                session,
                timeout_ms,
            } => self.leader_on_revalidate(from, session, timeout_ms, out),
            other => tracing::trace!(%from, msg = other.name(), "ignored by leader"),
        }
    }

    fn ignore_leader_message(&self, from: ServerId) -> bool {
        !self.lead().learners.contains_key(&from)
    }

    fn on_follower_info(
        &mut self,
        from: ServerId,
        accepted_epoch: Epoch,
        observer: bool,
        out: &mut Effects,
    ) {
        let observer = observer || self.config.observers.contains(&from);
        let view = LearnerView {
            accepted_epoch,
            observer,
            stage: LearnerStage::Connected,
            acked: Zxid::ZERO,
            echoed_round: 0,
        };
        self.lead_mut().learners.insert(from, view);
        self.lead_mut().heard.insert(from);
        match self.lead().epoch {
            Some(epoch) => out.send(from, PeerMsg::LeaderInfo { epoch }),
            None => self.try_fix_epoch(out),
        }
    }

    fn on_ack_epoch(
        &mut self,
        from: ServerId,
        current: Option<Epoch>,
        last: Zxid,
        out: &mut Effects,
    ) {
        let view = &self.lead().learners[&from];
        let fixed = self.lead().epoch;
        let Some(epoch) = fixed.filter(|_| view.stage == LearnerStage::Connected) else {
            tracing::trace!(%from, "ignored: unexpected ACKEPOCH");
            return;
        };
        if let Some(current) = current {
            // ZAB-AHEAD: a learner with a newer history must not be synced to mine.
            if (current, last) > (self.current_epoch, self.last_zxid()) {
                tracing::info!(%from, %current, %last, "learner is ahead of me: abdicating");
                return self.become_looking(out);
            }
            if !view.observer || self.config.has_bug(Bug::ObserversInEpochQuorum) {
                self.lead_mut().ackepoch.insert(from);
            }
        } else if self.config.has_bug(Bug::AckEpochCountsUnknown) && !view.observer {
            // Mutant: a learner that had already accepted this epoch (from another leader)
            // vouches for nothing, yet is counted.
            self.lead_mut().ackepoch.insert(from);
        }
        self.lead_mut()
            .learners
            .get_mut(&from)
            .expect("checked above")
            .stage = LearnerStage::AckedEpoch(last);
        if self.lead().phase == LeaderPhase::Discovery {
            self.check_discovery_done(epoch, out);
        } else {
            self.start_sync(from, last, out);
        }
    }

    /// ZAB-ESTABLISH: a quorum acknowledged my epoch (fixed as `epoch`); persist currentEpoch
    /// and sync them.
    fn check_discovery_done(&mut self, epoch: Epoch, out: &mut Effects) {
        let skip_quorum = self.config.has_bug(Bug::NoAckEpochQuorum);
        if !skip_quorum && !self.is_epoch_quorum(&self.lead().ackepoch) {
            return;
        }
        if skip_quorum && self.epoch_write_pending {
            return;
        }
        invariant!(
            self.accepted_epoch == epoch,
            "ZAB-EPOCH: established {epoch} with acceptedEpoch {}",
            self.accepted_epoch
        );
        self.current_epoch = epoch;
        self.persist_epochs(out);
        let initial_last = self.last_zxid();
        let lead = self.lead_mut();
        lead.phase = LeaderPhase::Sync;
        lead.initial_last = initial_last;
        let ready: Vec<(ServerId, Zxid)> = lead
            .learners
            .iter()
            .filter_map(|(s, v)| match v.stage {
                LearnerStage::AckedEpoch(last) => Some((*s, last)),
                _ => None,
            })
            .collect();
        for (sid, peer_last) in ready {
            self.start_sync(sid, peer_last, out);
        }
    }

    /// Do `ids` form a quorum for discovery? With `Bug::ObserversInEpochQuorum`, as in
    /// ZOOKEEPER-2959, every id counts against the number of voters, observers included.
    fn is_epoch_quorum<'a>(&self, ids: impl IntoIterator<Item = &'a ServerId>) -> bool {
        if self.config.has_bug(Bug::ObserversInEpochQuorum) {
            return 2 * ids.into_iter().count() > self.config.voters.len();
        }
        self.config.quorum().contains_quorum(ids)
    }

    /// Sends DIFF/TRUNC/SNAP with the proposals the learner lacks, then NEWLEADER. A SNAP is
    /// based at my committed zxid and goes out as `Effect::SendSnapshot` (the runtime adds the
    /// snapshot of its applied state, which is at that zxid when it executes the effect).
    /// `peer_last` is the last zxid of the learner's ACKEPOCH (its stage `AckedEpoch`).
    fn start_sync(&mut self, sid: ServerId, peer_last: Zxid, out: &mut Effects) {
        let epoch = self.lead().epoch.expect("sync after the epoch is fixed");
        let plan = plan_sync(
            &self.log,
            self.log_base,
            self.committed_zxid,
            peer_last,
            self.config.bug,
        );
        let committed = self.lead().commit_point.max(self.committed_zxid);
        match plan.kind {
            SyncKind::Snap { base, .. } => {
                invariant!(
                    base >= self.log_base,
                    "ZAB-SNAP: snapshot at {base} below my log base {}: the txns between are gone",
                    self.log_base
                );
                out.push(Effect::SendSnapshot {
                    to: sid,
                    base,
                    proposals: plan.proposals,
                    committed,
                });
            }
            kind => {
                if let SyncKind::Trunc { to } = kind {
                    invariant!(
                        to < peer_last,
                        "ZAB-SYNC: TRUNC to {to} does not cut {peer_last}"
                    );
                }
                out.send(
                    sid,
                    PeerMsg::Sync {
                        kind,
                        proposals: plan.proposals,
                        committed,
                    },
                );
            }
        }
        out.send(sid, PeerMsg::NewLeader { epoch });
        self.lead_mut()
            .learners
            .get_mut(&sid)
            .expect("learner")
            .stage = LearnerStage::Syncing;
    }

    fn on_ack(&mut self, from: ServerId, zxid: Zxid, out: &mut Effects) {
        let Some(epoch) = self.lead().epoch else {
            tracing::trace!(%from, %zxid, "ignored: ACK before the epoch is fixed");
            return;
        };
        let view = self.lead().learners[&from].clone();
        if zxid == Zxid::epoch_start(epoch) {
            if view.stage != LearnerStage::Syncing {
                return;
            }
            self.lead_mut()
                .learners
                .get_mut(&from)
                .expect("learner")
                .stage = LearnerStage::NewLeaderAcked;
            if !view.observer {
                self.lead_mut().newleader_acks.insert(from);
            }
            match self.lead().phase {
                LeaderPhase::Broadcast => self.send_uptodate(from, out),
                _ => self.check_newleader_quorum(out),
            }
            return;
        }
        if zxid.epoch() != epoch || view.stage < LearnerStage::NewLeaderAcked || view.observer {
            tracing::trace!(%from, %zxid, "ignored: ACK outside this epoch's broadcast");
            return;
        }
        let learner = self.lead_mut().learners.get_mut(&from).expect("learner");
        learner.acked = learner.acked.max(zxid);
        if self.lead().phase == LeaderPhase::Broadcast {
            self.try_commit(out);
        }
    }

    /// Durability inputs move my own acknowledgements.
    pub(crate) fn leader_on_durable(&mut self, out: &mut Effects) {
        match self.lead().phase {
            LeaderPhase::Discovery => {
                if let Some(epoch) = self.lead().epoch.filter(|_| !self.epoch_write_pending) {
                    let me = self.config.my_id;
                    self.lead_mut().ackepoch.insert(me);
                    self.check_discovery_done(epoch, out);
                }
            }
            LeaderPhase::Sync => self.check_newleader_quorum(out),
            LeaderPhase::Broadcast => self.try_commit(out),
        }
    }

    /// A quorum holds my history durably under the new epoch: commit it and start serving.
    fn check_newleader_quorum(&mut self, out: &mut Effects) {
        // I count myself, and start serving, only once my history and currentEpoch are durable:
        // the initial history I commit below must survive my own crash (INV-COMMIT-DURABLE).
        let durable = if self.config.has_bug(Bug::LeaderEpochNotDurable) {
            self.log_durable()
        } else {
            self.all_durable()
        };
        if !durable {
            return;
        }
        let me = self.config.my_id;
        let mut acks = self.lead().newleader_acks.clone();
        acks.insert(me);
        if !self.config.quorum().contains_quorum(&acks) {
            return;
        }
        let initial_last = self.lead().initial_last;
        self.lead_mut().phase = LeaderPhase::Broadcast;
        self.lead_mut().commit_point = initial_last;
        self.commit_upto(initial_last, out);
        out.push(Effect::CancelTimer(Timer::InitLimit));
        out.push(Effect::SetTimer {
            timer: Timer::Heartbeat,
            ticks: 1,
        });
        out.push(Effect::SetTimer {
            timer: Timer::SyncLimit,
            ticks: self.config.sync_limit_ticks,
        });
        let acked: Vec<ServerId> = self
            .lead()
            .learners
            .iter()
            .filter(|(_, v)| v.stage == LearnerStage::NewLeaderAcked)
            .map(|(s, _)| *s)
            .collect();
        for sid in acked {
            self.send_uptodate(sid, out);
        }
    }

    fn send_uptodate(&mut self, sid: ServerId, out: &mut Effects) {
        out.send(
            sid,
            PeerMsg::Commit {
                zxid: self.lead().commit_point,
            },
        );
        out.send(sid, PeerMsg::UpToDate);
        self.lead_mut()
            .learners
            .get_mut(&sid)
            .expect("learner")
            .stage = LearnerStage::UpToDate;
    }

    /// A prepared write: next zxid, log it, PROPOSAL to every forwarding follower.
    pub(crate) fn leader_propose(&mut self, data: Bytes, out: &mut Effects) {
        let zxid = match self.next_zxid() {
            Ok(zxid) => zxid,
            Err(reason) => {
                out.push(Effect::Reject {
                    from: self.config.my_id,
                    data,
                    reason,
                });
                if reason == RejectReason::ZxidRollover {
                    // ZOOKEEPER-1277: never wrap; a new election starts a new epoch.
                    self.become_looking(out);
                }
                return;
            }
        };
        let epoch = self
            .lead()
            .epoch
            .expect("next_zxid is Ok only with an epoch");
        invariant!(
            zxid.epoch() == epoch,
            "ZAB-ZXID: proposal {zxid} outside epoch {epoch}"
        );
        assert!(
            zxid > self.last_zxid(),
            "ZAB-ZXID: proposal {zxid} not after the log's last {}",
            self.last_zxid()
        );
        let proposal = Proposal { zxid, data };
        self.append(vec![proposal.clone()], out);
        out.push(Effect::Proposed { zxid });
        let only_synced = self.config.has_bug(Bug::ProposeOnlyToSynced);
        let targets: Vec<ServerId> = self
            .lead()
            .learners
            .iter()
            .filter(|(_, v)| !v.observer)
            .filter(|(_, v)| {
                if only_synced {
                    v.stage == LearnerStage::UpToDate
                } else {
                    v.stage >= LearnerStage::Syncing
                }
            })
            .map(|(s, _)| *s)
            .collect();
        for sid in targets {
            out.send(sid, PeerMsg::Propose(proposal.clone()));
        }
    }

    /// The zxid the next [`Input::Write`](super::Input::Write) will be proposed as: the runtime
    /// stamps the txn's header with it before feeding the write (so the logged bytes carry the
    /// core's zxid), and `Effect::Proposed` then confirms it. `Err(NotLeader)` outside an
    /// established leader's broadcast phase; `Err(ZxidRollover)` when this epoch's counter is
    /// exhausted (the write would be refused and the leader step down).
    pub fn next_zxid(&self) -> Result<Zxid, RejectReason> {
        let Role::Leading(Leader {
            epoch: Some(epoch),
            phase: LeaderPhase::Broadcast,
            ..
        }) = self.role
        else {
            return Err(RejectReason::NotLeader);
        };
        let last = self.last_zxid();
        if last.epoch() == epoch {
            last.next().map_err(|_| RejectReason::ZxidRollover)
        } else {
            Ok(Zxid::new(epoch, 1))
        }
    }

    /// Commits, in zxid order, every proposal of this epoch a quorum has acknowledged; applies
    /// here what is also durable here (a quorum of followers may be faster than my own disk).
    fn try_commit(&mut self, out: &mut Effects) {
        let epoch = self.lead().epoch.expect("broadcast has an epoch");
        let me = self.config.my_id;
        let before = self.lead().commit_point;
        let mut point = before;
        let start = self.log.partition_point(|p| p.zxid <= before);
        for p in &self.log[start..] {
            invariant!(
                p.zxid.epoch() == epoch,
                "ZAB-COMMIT: uncommitted {} from an old epoch",
                p.zxid
            );
            let mut ackers: Vec<ServerId> = self
                .lead()
                .learners
                .iter()
                .filter(|(_, v)| !v.observer && v.acked >= p.zxid)
                .map(|(s, _)| *s)
                .collect();
            if self.durable_zxid >= p.zxid || self.config.has_bug(Bug::LeaderSelfAckBeforeDurable) {
                ackers.push(me);
            }
            if !self.config.quorum().contains_quorum(&ackers) {
                break;
            }
            point = p.zxid;
        }
        if point > before {
            self.lead_mut().commit_point = point;
            let end = self.log.partition_point(|p| p.zxid <= point);
            let newly: Vec<Proposal> = self.log[start..end].to_vec();
            let learners: Vec<(ServerId, bool)> = self
                .lead()
                .learners
                .iter()
                .filter(|(_, v)| v.stage >= LearnerStage::Syncing)
                .map(|(s, v)| (*s, v.observer))
                .collect();
            for (sid, observer) in learners {
                if observer {
                    for p in &newly {
                        out.send(sid, PeerMsg::Inform(p.clone()));
                    }
                } else {
                    out.send(sid, PeerMsg::Commit { zxid: point });
                }
            }
        }
        let apply = self.lead().commit_point.min(self.durable_zxid);
        self.commit_upto(apply, out);
        if point > before {
            self.answer_confirmed(out);
        }
    }

    pub(crate) fn leader_on_peer_lost(&mut self, peer: ServerId, out: &mut Effects) {
        if self.lead_mut().learners.remove(&peer).is_none() {
            return;
        }
        // Its forwarded syncs cannot be answered any more; the learner fails them itself when it
        // leaves (`become_looking`).
        self.lead_mut().syncs.retain(|s| s.origin != Some(peer));
        self.lead_mut().verdicts.retain(|v| v.origin != peer);
        if self.lead().phase == LeaderPhase::Broadcast && !self.has_synced_quorum() {
            tracing::info!(%peer, "lost the quorum of synced followers: abdicating");
            self.become_looking(out);
        }
    }

    /// Me and the followers that acknowledged NEWLEADER form a quorum.
    fn has_synced_quorum(&self) -> bool {
        let synced = self
            .lead()
            .learners
            .iter()
            .filter(|(_, v)| !v.observer && v.stage >= LearnerStage::NewLeaderAcked)
            .map(|(s, _)| *s)
            .chain(std::iter::once(self.config.my_id));
        self.config
            .quorum()
            .contains_quorum(&synced.collect::<Vec<_>>())
    }

    pub(crate) fn leader_on_timeout(&mut self, timer: Timer, out: &mut Effects) {
        match timer {
            Timer::InitLimit if self.lead().phase != LeaderPhase::Broadcast => {
                tracing::info!("initLimit expired before a quorum synced: abdicating");
                self.become_looking(out);
            }
            Timer::SyncLimit => {
                let mut heard = std::mem::take(&mut self.lead_mut().heard);
                heard.insert(self.config.my_id);
                if self.config.quorum().contains_quorum(&heard) && self.has_synced_quorum() {
                    out.push(Effect::SetTimer {
                        timer: Timer::SyncLimit,
                        ticks: self.config.sync_limit_ticks,
                    });
                } else {
                    tracing::info!("syncLimit expired without a quorum: abdicating");
                    self.become_looking(out);
                }
            }
            Timer::Heartbeat => {
                // Piggyback: a round that a waiting `sync` or verdict needs starts with this
                // heartbeat.
                if self.waits_for_unstarted_round() {
                    self.lead_mut().ping_round += 1;
                }
                let round = self.lead().ping_round;
                let learners: Vec<ServerId> = self.lead().learners.keys().copied().collect();
                for sid in learners {
                    out.send(sid, PeerMsg::Ping { round });
                }
                out.push(Effect::SetTimer {
                    timer: Timer::Heartbeat,
                    ticks: 1,
                });
            }
            other => tracing::trace!(?other, "ignored timer while LEADING"),
        }
    }
}

// ----- 4. Sync: linearizable reads (spec/zab.md §5.6) --------------------------------------------

impl Node {
    /// A client `sync` arrived here (`origin: None`) or was forwarded by learner `origin`.
    ///
    /// The read index is my last proposed zxid: ZooKeeper orders a `sync` after every request
    /// before it, so it waits for those proposals to commit. On top of that (ZooKeeper does not,
    /// ZOOKEEPER-1675) the answer waits for a heartbeat round started after now: if a quorum of
    /// voters still follow me after the `sync` arrived, no newer leader can have committed
    /// anything before it (the quorums intersect, and a follower of mine has acceptedEpoch = my
    /// epoch, so it acknowledged no newer one).
    pub(crate) fn leader_on_sync(&mut self, origin: Option<ServerId>, id: u64, out: &mut Effects) {
        if self.lead().phase != LeaderPhase::Broadcast {
            // A learner forwards only once it got UPTODATE, which I send only in Broadcast.
            tracing::trace!(?origin, id, "sync before broadcast: failed");
            if origin.is_none() {
                out.push(Effect::SyncFailed { id });
            }
            return;
        }
        let read_index = self.last_zxid();
        invariant!(
            read_index >= self.lead().commit_point,
            "ZAB-SYNC-INDEX: read index {read_index} below commit point {}",
            self.lead().commit_point
        );
        let round = self.round_to_wait_for(out);
        self.lead_mut().syncs.push(PendingSync {
            origin,
            id,
            read_index,
            round,
        });
        self.answer_confirmed(out);
    }

    /// The heartbeat round something arriving now must wait for: `ping_round + 1`, started now
    /// unless a round is in flight. Batching: while one is, whatever arrives shares the next,
    /// which starts when the current one is confirmed (`on_ping_echo`) or at the next heartbeat.
    fn round_to_wait_for(&mut self, out: &mut Effects) -> u64 {
        let round = self.lead().ping_round + 1;
        if self.round_confirmed(self.lead().ping_round) {
            self.start_ping_round(out);
        }
        round
    }

    /// Starts heartbeat round `ping_round + 1`: a PING carrying it to every learner.
    fn start_ping_round(&mut self, out: &mut Effects) {
        let lead = self.lead_mut();
        lead.ping_round += 1;
        let round = lead.ping_round;
        let learners: Vec<ServerId> = lead.learners.keys().copied().collect();
        invariant!(
            self.lead().syncs.iter().all(|s| s.round <= round)
                && self.lead().verdicts.iter().all(|v| v.round <= round),
            "ZAB-SYNC-ROUND: something waits for a round after {round}, not started"
        );
        for sid in learners {
            out.send(sid, PeerMsg::Ping { round });
        }
    }

    /// Does a pending `sync` or session verdict wait for a round not started yet?
    fn waits_for_unstarted_round(&self) -> bool {
        let lead = self.lead();
        lead.syncs.iter().any(|s| s.round > lead.ping_round)
            || lead.verdicts.iter().any(|v| v.round > lead.ping_round)
    }

    /// A learner echoed heartbeat round `round`. Only a synced voter's echo counts: it has
    /// acknowledged NEWLEADER of my epoch, so its acceptedEpoch is mine.
    fn on_ping_echo(&mut self, from: ServerId, round: u64, out: &mut Effects) {
        let ping_round = self.lead().ping_round;
        let view = &self.lead().learners[&from];
        if view.observer || view.stage < LearnerStage::NewLeaderAcked || round > ping_round {
            tracing::trace!(%from, round, "ignored: echo that cannot confirm a round");
            return;
        }
        let view = self.lead_mut().learners.get_mut(&from).expect("checked");
        view.echoed_round = view.echoed_round.max(round);
        self.answer_confirmed(out);
        if self.round_confirmed(ping_round) && self.waits_for_unstarted_round() {
            self.start_ping_round(out);
        }
    }

    /// Have I and synced voters that echoed `round` or later formed a quorum? Round 0 needs
    /// no echo (nothing waits for it).
    fn round_confirmed(&self, round: u64) -> bool {
        let lead = self.lead();
        if round == 0 {
            return true;
        }
        let echoed = lead
            .learners
            .iter()
            .filter(|(_, v)| !v.observer && v.stage >= LearnerStage::NewLeaderAcked)
            .filter(|(_, v)| v.echoed_round >= round)
            .map(|(s, _)| *s)
            .chain(std::iter::once(self.config.my_id));
        self.config
            .quorum()
            .contains_quorum(&echoed.collect::<Vec<_>>())
    }

    /// Answers what waited for a quorum round: the pending `sync`s ([`Node::answer_syncs`])
    /// and session verdicts ([`Node::answer_verdicts`]).
    fn answer_confirmed(&mut self, out: &mut Effects) {
        self.answer_syncs(out);
        self.answer_verdicts(out);
    }

    /// Answers, in arrival order, every pending `sync` whose read index is committed and whose
    /// round a quorum confirmed: `SyncReady` for mine, SYNC to the learner that forwarded it.
    fn answer_syncs(&mut self, out: &mut Effects) {
        let commit_point = self.lead().commit_point;
        // ZOOKEEPER-1675 (mutant): no quorum round, only the commit of the read index.
        let skip_round = self.config.has_bug(Bug::SyncWithoutQuorum);
        let (ready, waiting): (Vec<PendingSync>, Vec<PendingSync>) =
            std::mem::take(&mut self.lead_mut().syncs)
                .into_iter()
                .partition(|s| {
                    s.read_index <= commit_point && (skip_round || self.round_confirmed(s.round))
                });
        self.lead_mut().syncs = waiting;
        for s in ready {
            invariant!(
                s.read_index <= self.last_zxid(),
                "ZAB-SYNC-INDEX: read index {} beyond my log's last {}",
                s.read_index,
                self.last_zxid()
            );
            match s.origin {
                None => out.push(Effect::SyncReady {
                    id: s.id,
                    zxid: s.read_index,
                }),
                Some(sid) => out.send(
                    sid,
                    PeerMsg::SyncReply {
                        id: s.id,
                        zxid: s.read_index,
                    },
                ),
            }
        }
    }
}

// ----- 5. Revalidate: a resumed session, checked in my table (spec/zab.md §5.7) -----------------

impl Node {
    /// A client resumes `session`: at learner `origin`'s (its REVALIDATE) or mine (`origin` is
    /// me, `Input::Revalidate`). My runtime checks my session table (`Effect::CheckSession`),
    /// the one that decides expiry, and answers with `Input::SessionChecked`.
    pub(crate) fn leader_on_revalidate(
        &mut self,
        origin: ServerId,
        session: i64,
        timeout_ms: i32,
        out: &mut Effects,
    ) {
        let mine = origin == self.config.my_id;
        if self.lead().phase != LeaderPhase::Broadcast {
            // A learner sends REVALIDATE only once it got UPTODATE, which I send only in
            // Broadcast; a client of mine is served only in Broadcast.
            tracing::trace!(%origin, session, "revalidate before broadcast: failed");
            if mine {
                out.push(Effect::RevalidateFailed { session });
            }
            return;
        }
        if mine && !self.lead_mut().revalidations.insert(session) {
            // Already being checked: the one verdict answers every waiter of the session.
            return;
        }
        out.push(Effect::CheckSession {
            origin,
            session,
            timeout_ms,
        });
    }

    /// My runtime's verdict on a `CheckSession`, for me or learner `origin`. It is answered
    /// only once a quorum of voters echoed a heartbeat round started after the check
    /// (ZAB-REVALIDATE-QUORUM): a leader deposed without knowing it (paused, cut off until its
    /// syncLimit) still holds a session table, which may still hold a session the new leader
    /// expired, or lack one the new leader created. ZooKeeper's leader answers from its table
    /// at once.
    pub(crate) fn leader_on_session_checked(
        &mut self,
        origin: ServerId,
        session: i64,
        valid: bool,
        out: &mut Effects,
    ) {
        let mine = origin == self.config.my_id;
        let waiting = |l: &Leader| {
            l.verdicts
                .iter()
                .any(|v| v.origin == origin && v.session == session)
        };
        if mine && (!self.lead().revalidations.contains(&session) || waiting(self.lead())) {
            tracing::trace!(session, "ignored: verdict for no pending revalidation");
            return;
        }
        if !mine && !self.lead().learners.contains_key(&origin) {
            tracing::trace!(%origin, session, "ignored: verdict for a learner that left");
            return;
        }
        let round = self.round_to_wait_for(out);
        self.lead_mut().verdicts.push(PendingVerdict {
            origin,
            session,
            valid,
            round,
        });
        self.answer_confirmed(out);
    }

    /// Answers, in the order checked, every verdict whose round a quorum confirmed:
    /// `Revalidated` for mine, its REVALIDATE reply to the learner that asked.
    fn answer_verdicts(&mut self, out: &mut Effects) {
        // ZooKeeper's leader (mutant): the verdict from my table at once.
        let skip_round = self.config.has_bug(Bug::RevalidateWithoutQuorum);
        let (ready, waiting): (Vec<PendingVerdict>, Vec<PendingVerdict>) =
            std::mem::take(&mut self.lead_mut().verdicts)
                .into_iter()
                .partition(|v| skip_round || self.round_confirmed(v.round));
        self.lead_mut().verdicts = waiting;
        for v in ready {
            if v.origin == self.config.my_id {
                let pending = self.lead_mut().revalidations.remove(&v.session);
                invariant!(
                    pending,
                    "ZAB-REVALIDATE-QUORUM: verdict on session {:#x}, which is not pending",
                    v.session
                );
                out.push(Effect::Revalidated {
                    session: v.session,
                    valid: v.valid,
                });
            } else {
                out.send(
                    v.origin,
                    PeerMsg::RevalidateReply {
                        session: v.session,
                        valid: v.valid,
                    },
                );
            }
        }
    }
}
