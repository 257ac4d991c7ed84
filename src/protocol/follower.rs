//! FOLLOWING and OBSERVING: ZAB 1.0, learner side (ZooKeeper's `Learner`, `Follower`,
//! `Observer`).
//!
//! spec/zab.md. In protocol order:
//! 1. *Discovery.* Send FOLLOWERINFO (OBSERVERINFO) with my acceptedEpoch. On LEADERINFO with a
//!    newer epoch, persist it as acceptedEpoch and, once it and every txn I logged are durable,
//!    send ACKEPOCH with my currentEpoch and last logged zxid (ZAB-ACKEPOCH-DURABLE); an equal
//!    epoch gets ACKEPOCH with no currentEpoch (-1); an older one sends me back to LOOKING.
//! 2. *Sync.* Apply DIFF / TRUNC / SNAP and the proposals that follow (a SNAP above my committed
//!    zxid installs the leader's snapshot durably first). On NEWLEADER: once every synced txn
//!    and the snapshot are durable, persist currentEpoch; once that is durable, ACK NEWLEADER
//!    (ZAB-NEWLEADER-DURABLE). On UPTODATE start serving.
//! 3. *Broadcast.* Log each PROPOSAL; ACK only after `Persisted` (ZAB-ACK-DURABLE). Apply a
//!    COMMIT only up to what is durable here (INV-COMMIT-DURABLE). Observers get INFORM instead.
//! 4. *Sync (spec/zab.md §5.6).* A client `sync` is forwarded to the leader; its SYNC reply
//!    carries the read index, and I answer once my tree has applied it. Leaving my leader fails
//!    the syncs still pending.
//! 5. *Revalidate (spec/zab.md §5.7).* A client resuming a session here is judged by the
//!    leader's session table (REVALIDATE), not mine, which may not have applied its close yet.
//!    Leaving my leader fails the revalidations still pending.

use std::collections::BTreeSet;

use super::effect::{Effect, Effects};
use super::ids::{Epoch, ServerId, Zxid};
use super::message::{PeerMsg, Proposal, SyncKind};
use super::timer::Timer;
use super::vote::Vote;
use super::{Bug, Node, Role};

/// Where a learner is with its leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LearnerPhase {
    /// FOLLOWERINFO sent.
    Discovery,
    /// LEADERINFO received; ACKEPOCH waits for durability.
    AckEpochPending,
    /// ACKEPOCH sent; waiting for DIFF/TRUNC/SNAP.
    AwaitSync,
    /// Sync received; proposals may follow.
    Syncing,
    /// NEWLEADER received; its ACK waits for durability.
    NewLeaderPending,
    /// NEWLEADER acknowledged; waiting for UPTODATE.
    NewLeaderAcked,
    /// Serving.
    Broadcast,
}

/// FOLLOWING/OBSERVING-only data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Learner {
    /// The leader.
    pub leader: ServerId,
    /// The vote the election ended with (advertised to LOOKING servers).
    pub vote: Vote,
    /// OBSERVING rather than FOLLOWING.
    pub observer: bool,
    /// Progress.
    pub phase: LearnerPhase,
    /// The leader's epoch from LEADERINFO.
    pub epoch: Option<Epoch>,
    /// ACKEPOCH will report my currentEpoch (false: -1, epoch already accepted).
    pub report_current: bool,
    /// Highest zxid the leader told me is committed.
    pub leader_commit: Zxid,
    /// Highest zxid I acknowledged in broadcast.
    pub acked: Zxid,
    /// Client `sync`s forwarded to the leader and not answered yet (runtime handles).
    pub syncs: BTreeSet<u64>,
    /// Sessions my clients resume, asked of the leader (REVALIDATE) and not answered yet.
    pub revalidations: BTreeSet<i64>,
}

impl Learner {
    pub(crate) fn new(vote: Vote, observer: bool) -> Learner {
        Learner {
            leader: vote.sid,
            vote,
            observer,
            phase: LearnerPhase::Discovery,
            epoch: None,
            report_current: true,
            leader_commit: Zxid::ZERO,
            acked: Zxid::ZERO,
            syncs: BTreeSet::new(),
            revalidations: BTreeSet::new(),
        }
    }
}

impl Node {
    fn learner(&self) -> &Learner {
        match &self.role {
            Role::Following(l) => l,
            _ => unreachable!("learner data outside FOLLOWING"),
        }
    }

    fn learner_mut(&mut self) -> &mut Learner {
        match &mut self.role {
            Role::Following(l) => l,
            _ => unreachable!("learner data outside FOLLOWING"),
        }
    }

    /// Just decided to follow: register with the leader.
    pub(crate) fn learner_start(&mut self, out: &mut Effects) {
        let l = self.learner();
        let msg = PeerMsg::FollowerInfo {
            accepted_epoch: self.accepted_epoch,
            observer: l.observer,
        };
        out.send(l.leader, msg);
        out.push(Effect::SetTimer {
            timer: Timer::InitLimit,
            ticks: self.config.init_limit_ticks,
        });
    }

    pub(crate) fn learner_on_message(&mut self, from: ServerId, msg: PeerMsg, out: &mut Effects) {
        if from != self.learner().leader {
            tracing::trace!(%from, msg = msg.name(), "ignored: not my leader");
            return;
        }
        let phase = self.learner().phase;
        match msg {
            PeerMsg::LeaderInfo { epoch } if phase == LearnerPhase::Discovery => {
                self.on_leader_info(epoch, out)
            }
            PeerMsg::Sync {
                kind,
                proposals,
                committed,
            } if phase == LearnerPhase::AwaitSync => self.on_sync(kind, proposals, committed, out),
            PeerMsg::Propose(p) if phase >= LearnerPhase::Syncing && !self.learner().observer => {
                self.on_proposal(p, out)
            }
            PeerMsg::Inform(p) if phase >= LearnerPhase::Syncing && self.learner().observer => {
                // The sync stream may already have carried this proposal (it was in flight when
                // I synced); INFORM then only tells me it is committed.
                let l = self.learner_mut();
                l.leader_commit = l.leader_commit.max(p.zxid);
                if p.zxid > self.last_zxid() {
                    self.on_proposal(p, out);
                }
                self.advance_commit(out);
            }
            PeerMsg::NewLeader { epoch } if phase == LearnerPhase::Syncing => {
                self.on_new_leader(epoch, out)
            }
            PeerMsg::UpToDate if phase == LearnerPhase::NewLeaderAcked => {
                self.learner_mut().phase = LearnerPhase::Broadcast;
                out.push(Effect::CancelTimer(Timer::InitLimit));
                out.push(Effect::SetTimer {
                    timer: Timer::SyncLimit,
                    ticks: self.config.sync_limit_ticks,
                });
            }
            PeerMsg::Commit { zxid } if phase >= LearnerPhase::Syncing => {
                let l = self.learner_mut();
                l.leader_commit = l.leader_commit.max(zxid);
                self.advance_commit(out);
            }
            PeerMsg::SyncReply { id, zxid } if phase == LearnerPhase::Broadcast => {
                self.on_sync_reply(id, zxid, out)
            }
            PeerMsg::RevalidateReply { session, valid } if phase == LearnerPhase::Broadcast => {
                self.on_revalidate_reply(session, valid, out)
            }
            PeerMsg::Ping { round } => {
                out.send(from, PeerMsg::Ping { round });
                if phase == LearnerPhase::Broadcast {
                    out.push(Effect::SetTimer {
                        timer: Timer::SyncLimit,
                        ticks: self.config.sync_limit_ticks,
                    });
                }
            }
            other => {
                tracing::warn!(%from, msg = other.name(), ?phase, "unexpected packet from leader: rejoining");
                self.become_looking(out);
            }
        }
    }

    fn on_leader_info(&mut self, epoch: Epoch, out: &mut Effects) {
        if epoch < self.accepted_epoch {
            tracing::warn!(%epoch, accepted = %self.accepted_epoch, "leader proposes an old epoch");
            self.refused_vote = Some(self.learner().vote);
            return self.become_looking(out);
        }
        let newer = epoch > self.accepted_epoch;
        if newer {
            self.accepted_epoch = epoch;
            self.persist_epochs(out);
        }
        let l = self.learner_mut();
        l.epoch = Some(epoch);
        l.report_current = newer;
        l.phase = LearnerPhase::AckEpochPending;
        self.try_ack_epoch(out);
    }

    /// ZAB-ACKEPOCH-DURABLE: ACKEPOCH vouches for my acceptedEpoch and my log.
    fn try_ack_epoch(&mut self, out: &mut Effects) {
        if self.learner().phase != LearnerPhase::AckEpochPending {
            return;
        }
        let epoch_ok =
            !self.epoch_write_pending || self.config.has_bug(Bug::EpochNotPersistedBeforeUse);
        if !epoch_ok || !self.log_durable() {
            return;
        }
        let last_zxid = if self.config.has_bug(Bug::ReportsProcessedZxid) {
            self.committed_zxid
        } else {
            self.last_zxid()
        };
        let l = self.learner();
        let current_epoch = l.report_current.then_some(self.current_epoch);
        out.send(
            l.leader,
            PeerMsg::AckEpoch {
                current_epoch,
                last_zxid,
            },
        );
        self.learner_mut().phase = LearnerPhase::AwaitSync;
    }

    fn on_sync(
        &mut self,
        kind: SyncKind,
        proposals: Vec<Proposal>,
        committed: Zxid,
        out: &mut Effects,
    ) {
        let proposals = match kind {
            SyncKind::Diff => proposals,
            SyncKind::Trunc { to } => {
                invariant!(
                    to < self.last_zxid(),
                    "ZAB-TRUNC: TRUNC to {to} but my last is {}",
                    self.last_zxid()
                );
                let cut = if self.config.has_bug(Bug::TruncOneTooMany) {
                    self.log
                        .iter()
                        .rev()
                        .map(|p| p.zxid)
                        .find(|z| *z < to)
                        .unwrap_or(self.log_base)
                } else {
                    to
                };
                self.truncate_after(cut, out);
                proposals
            }
            SyncKind::Snap { base, snapshot } => self.on_snap(base, snapshot, proposals, out),
        };
        self.append(proposals, out);
        let l = self.learner_mut();
        l.leader_commit = committed;
        l.phase = LearnerPhase::Syncing;
        self.advance_commit(out);
    }

    /// SNAP: the leader's history is its snapshot at `base` followed by `proposals`. I keep every
    /// entry of mine that continues that history (from my committed zxid or `base`, whichever is
    /// higher) and cut the rest: a txn the leader lacks is not committed (ZAB-COMPLETE), so
    /// nothing I cut is committed, and a txn I keep never leaves my disk (a crash between the cut
    /// and the appends loses nothing committed). If `base` is above my committed zxid the
    /// snapshot replaces my history up to `base` (`install_snapshot`); otherwise my own state
    /// already holds the leader's up to `base` and the bytes are not used. Returns the proposals
    /// still to append.
    fn on_snap(
        &mut self,
        base: Zxid,
        snapshot: bytes::Bytes,
        proposals: Vec<Proposal>,
        out: &mut Effects,
    ) -> Vec<Proposal> {
        // ZAB-SNAP, the part visible here: my committed entries above the base are the leader's.
        for mine in self.committed_log().iter().filter(|p| p.zxid > base) {
            invariant!(
                proposals.contains(mine),
                "ZAB-SNAP: leader's SNAP at {base} lacks my committed {}",
                mine.zxid
            );
        }
        let from = self.committed_zxid.max(base);
        let mine = &self.log[self.log.partition_point(|p| p.zxid <= from)..];
        let theirs = &proposals[proposals.partition_point(|p| p.zxid <= from)..];
        let same = mine.iter().zip(theirs).take_while(|(a, b)| a == b).count();
        let keep = if same > 0 { mine[same - 1].zxid } else { from };
        if keep < self.last_zxid() {
            self.truncate_after(keep, out);
        }
        if base > self.committed_zxid {
            self.install_snapshot(base, snapshot, out);
        }
        let rest = proposals.partition_point(|p| p.zxid <= keep);
        proposals[rest..].to_vec()
    }

    fn on_proposal(&mut self, p: Proposal, out: &mut Effects) {
        let last = self.last_zxid();
        // ZAB-GAPLESS: within an epoch the leader proposes consecutive counters on a FIFO link,
        // and the first proposal of an epoch I see after my sync is that epoch's first.
        let expected = if last.epoch() == p.zxid.epoch() {
            last.next()
        } else {
            Ok(Zxid::new(p.zxid.epoch(), 1))
        };
        invariant_eq!(
            Ok(p.zxid),
            expected,
            "ZAB-GAPLESS: proposal {} after {last} on {}",
            p.zxid,
            self.config.my_id
        );
        self.append(vec![p], out);
        if self.config.has_bug(Bug::FollowerAckBeforeDurable) {
            self.ack_durable_proposals(out);
        }
    }

    fn on_new_leader(&mut self, epoch: Epoch, out: &mut Effects) {
        invariant_eq!(
            Some(epoch),
            self.learner().epoch,
            "ZAB-NEWLEADER: epoch differs from LEADERINFO"
        );
        if self.config.has_bug(Bug::DropPendingAtNewLeader) {
            // ZOOKEEPER-4394: proposals not yet committed are forgotten, yet NEWLEADER is ACKed.
            let keep = self.learner().leader_commit.max(self.committed_zxid);
            if keep < self.last_zxid() {
                self.truncate_after(keep, out);
            }
        }
        self.learner_mut().phase = LearnerPhase::NewLeaderPending;
        let early_epoch = self.config.has_bug(Bug::CurrentEpochBeforeTxnsDurable)
            || self.config.has_bug(Bug::AckNewLeaderBeforeDurable);
        if early_epoch && self.current_epoch < epoch {
            self.current_epoch = epoch;
            self.persist_epochs(out);
        }
        self.try_ack_new_leader(out);
    }

    /// ZAB-NEWLEADER-DURABLE: synced txns durable → currentEpoch durable → ACK.
    fn try_ack_new_leader(&mut self, out: &mut Effects) {
        if self.learner().phase != LearnerPhase::NewLeaderPending {
            return;
        }
        let epoch = self.learner().epoch.expect("NEWLEADER after LEADERINFO");
        let skip_txns = self.config.has_bug(Bug::AckNewLeaderBeforeDurable);
        if !skip_txns && !self.log_durable() {
            return;
        }
        if self.current_epoch < epoch {
            self.current_epoch = epoch;
            self.persist_epochs(out);
            return;
        }
        if self.epoch_write_pending {
            return;
        }
        let leader = self.learner().leader;
        out.send(
            leader,
            PeerMsg::Ack {
                zxid: Zxid::epoch_start(epoch),
            },
        );
        self.learner_mut().phase = LearnerPhase::NewLeaderAcked;
        self.ack_durable_proposals(out);
    }

    /// ZAB-ACK-DURABLE: acknowledge this epoch's proposals as they become durable.
    fn ack_durable_proposals(&mut self, out: &mut Effects) {
        let l = self.learner();
        if l.observer || l.phase < LearnerPhase::NewLeaderAcked {
            return;
        }
        let epoch = l.epoch.expect("acked NEWLEADER");
        let durable = if self.config.has_bug(Bug::FollowerAckBeforeDurable) {
            self.last_zxid()
        } else {
            self.durable_zxid
        };
        if durable.epoch() == epoch && durable.counter() > 0 && durable > l.acked {
            let leader = l.leader;
            out.send(leader, PeerMsg::Ack { zxid: durable });
            self.learner_mut().acked = durable;
        }
    }

    /// Applies what the leader committed and I hold durably.
    fn advance_commit(&mut self, out: &mut Effects) {
        let leader_commit = self.learner().leader_commit;
        let target = match self.config.bug {
            Some(Bug::FollowerCommitsUndurable) => leader_commit,
            Some(Bug::FollowerAppliesUncommitted) => self.durable_zxid,
            _ => leader_commit.min(self.durable_zxid),
        };
        self.commit_upto(target, out);
    }

    pub(crate) fn learner_on_durable(&mut self, out: &mut Effects) {
        self.try_ack_epoch(out);
        self.try_ack_new_leader(out);
        self.ack_durable_proposals(out);
        if self.learner().phase >= LearnerPhase::Syncing {
            self.advance_commit(out);
        }
    }

    pub(crate) fn learner_on_timeout(&mut self, timer: Timer, out: &mut Effects) {
        let phase = self.learner().phase;
        match timer {
            Timer::InitLimit if phase != LearnerPhase::Broadcast => {
                tracing::info!(?phase, "initLimit expired while syncing: rejoining");
                self.become_looking(out);
            }
            Timer::SyncLimit if phase == LearnerPhase::Broadcast => {
                tracing::info!("syncLimit expired without hearing from the leader: rejoining");
                self.become_looking(out);
            }
            other => tracing::trace!(?other, "ignored timer while FOLLOWING"),
        }
    }

    pub(crate) fn learner_on_peer_lost(&mut self, peer: ServerId, out: &mut Effects) {
        if peer == self.learner().leader {
            self.become_looking(out);
        }
    }
}

// ----- 4. Sync: forwarded to the leader (spec/zab.md §5.6) ---------------------------------------

impl Node {
    /// A client `sync` arrived here: forward it to the leader while serving, else fail it.
    pub(crate) fn learner_on_sync(&mut self, id: u64, out: &mut Effects) {
        if self.learner().phase != LearnerPhase::Broadcast {
            tracing::trace!(id, phase = ?self.learner().phase, "sync while not serving: failed");
            out.push(Effect::SyncFailed { id });
            return;
        }
        let l = self.learner_mut();
        let fresh = l.syncs.insert(id);
        invariant!(fresh, "ZAB-SYNC-ID: sync handle {id} reused while pending");
        let leader = l.leader;
        out.send(leader, PeerMsg::SyncRequest { id });
    }

    /// SYNC from my leader: the read index of a `sync` I forwarded.
    fn on_sync_reply(&mut self, id: u64, zxid: Zxid, out: &mut Effects) {
        if !self.learner_mut().syncs.remove(&id) {
            tracing::trace!(id, "ignored: SYNC for no pending sync");
            return;
        }
        // The leader answers only once `zxid` is committed, and sent me that COMMIT (or INFORM)
        // first on this FIFO link, so my tree reaches `zxid` without waiting for anything else.
        invariant!(
            zxid <= self.learner().leader_commit,
            "ZAB-SYNC-COMMITTED: SYNC read index {zxid} beyond the leader's commit {} known to {}",
            self.learner().leader_commit,
            self.config.my_id
        );
        out.push(Effect::SyncReady { id, zxid });
    }
}

// ----- 5. Revalidate: a resumed session is judged by the leader (spec/zab.md §5.7) --------------

impl Node {
    /// A client resumes `session` here: ask the leader while serving (once per session while
    /// pending), else fail it.
    pub(crate) fn learner_on_revalidate(
        &mut self,
        session: i64,
        timeout_ms: i32,
        out: &mut Effects,
    ) {
        if self.learner().phase != LearnerPhase::Broadcast {
            tracing::trace!(session, phase = ?self.learner().phase, "revalidate while not serving: failed");
            out.push(Effect::RevalidateFailed { session });
            return;
        }
        let l = self.learner_mut();
        if l.revalidations.insert(session) {
            let leader = l.leader;
            out.send(
                leader,
                PeerMsg::Revalidate {
                    session,
                    timeout_ms,
                },
            );
        }
    }

    /// REVALIDATE from my leader: the verdict on a session I asked about.
    fn on_revalidate_reply(&mut self, session: i64, valid: bool, out: &mut Effects) {
        if !self.learner_mut().revalidations.remove(&session) {
            tracing::trace!(session, "ignored: REVALIDATE for no pending revalidation");
            return;
        }
        out.push(Effect::Revalidated { session, valid });
    }
}
