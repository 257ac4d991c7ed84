//! LOOKING: Fast Leader Election (ZooKeeper's `FastLeaderElection.lookForLeader`).
//!
//! spec/election.md. A node starts a round by voting for itself, `(currentEpoch, last logged
//! zxid, myid)`, and tells every voter. It adopts any stronger vote it hears in its round (vote
//! order FLE-ORDER, larger wins) and re-broadcasts; it moves to a newer round it hears of. When
//! the votes it holds for its proposal form a quorum it waits `finalizeWait` for a better vote
//! ([`Timer::FinalizeWait`]) and then decides. Votes from servers that already follow or lead are
//! kept apart (`out_of_election`); a quorum of them naming a leader that confirms it leads lets a
//! late joiner follow the established leader without a round of its own. Observers never vote and
//! never count.

use std::collections::BTreeMap;

use super::effect::Effects;
use super::follower::Learner;
use super::ids::ServerId;
use super::leader::Leader;
use super::message::PeerMsg;
use super::timer::Timer;
use super::vote::{PeerState, Vote};
use super::{Bug, Effect, Node, Role};

/// The votes of this round from voters that are LOOKING (the set FLE counts toward a quorum).
fn looking_votes(e: &Election) -> Vec<(ServerId, Vote, PeerState)> {
    e.received
        .iter()
        .filter(|(_, (_, st))| *st == PeerState::Looking)
        .map(|(s, (v, st))| (*s, *v, *st))
        .collect()
}

/// LOOKING-only data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Election {
    /// The vote this node proposes.
    pub proposal: Vote,
    /// Votes received in this round (recvset), with the sender's state.
    pub received: BTreeMap<ServerId, (Vote, PeerState)>,
    /// Votes from FOLLOWING/LEADING servers, any round (outofelection), with state and round.
    pub out_of_election: BTreeMap<ServerId, (Vote, PeerState, u64)>,
    /// Current resend interval in ticks (doubles up to `max_notify_ticks`).
    pub notify_ticks: u32,
    /// Started by `Input::Start`? A restarted node is idle until then.
    pub started: bool,
}

impl Election {
    /// Before `Start`: a placeholder vote for myself.
    pub(crate) fn idle(me: ServerId) -> Election {
        Election {
            proposal: Vote {
                epoch: Default::default(),
                zxid: Default::default(),
                sid: me,
            },
            received: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            notify_ticks: 1,
            started: false,
        }
    }
}

impl Node {
    /// My own vote: `(currentEpoch, last logged zxid, myid)`.
    pub fn initial_vote(&self) -> Vote {
        Vote {
            epoch: self.current_epoch,
            zxid: self.last_zxid(),
            sid: self.config.my_id,
        }
    }

    /// Enters LOOKING and starts a new round (FLE-START).
    pub(crate) fn become_looking(&mut self, out: &mut Effects) {
        self.fail_pending_requests(out);
        if let Role::Leading(l) = &self.role {
            for peer in l.learners.keys() {
                out.push(Effect::Disconnect { peer: *peer });
            }
        }
        if let Role::Following(l) = &self.role {
            out.push(Effect::Disconnect { peer: l.leader });
        }
        for timer in [Timer::InitLimit, Timer::SyncLimit, Timer::Heartbeat] {
            out.push(Effect::CancelTimer(timer));
        }
        self.set_role(Role::Looking(Election::idle(self.config.my_id)), out);
        self.start_round_when_durable(out);
    }

    /// Votes are claims about durable state: like ZooKeeper, which flushes its SyncRequestProcessor
    /// before it looks for a leader, a node votes only once every write it requested is durable
    /// (FLE-DURABLE-VOTE). Called again from every durability input while LOOKING.
    pub(crate) fn start_round_when_durable(&mut self, out: &mut Effects) {
        if self.election().started || !self.all_durable() {
            return;
        }
        self.round += 1;
        let own = self.initial_vote();
        let election = self.election_mut();
        election.started = true;
        election.proposal = own;
        self.record_own_vote();
        self.broadcast_notification(out);
        out.push(Effect::SetTimer {
            timer: Timer::Notify,
            ticks: 1,
        });
        self.check_election_quorum(out);
    }

    fn election(&self) -> &Election {
        match &self.role {
            Role::Looking(e) => e,
            _ => unreachable!("election data outside LOOKING"),
        }
    }

    fn election_mut(&mut self) -> &mut Election {
        match &mut self.role {
            Role::Looking(e) => e,
            _ => unreachable!("election data outside LOOKING"),
        }
    }

    fn is_voter(&self) -> bool {
        self.config.voters.contains(&self.config.my_id)
    }

    fn record_own_vote(&mut self) {
        if self.is_voter() {
            let me = self.config.my_id;
            let proposal = self.election().proposal;
            self.election_mut()
                .received
                .insert(me, (proposal, PeerState::Looking));
        }
    }

    fn notification(&self) -> PeerMsg {
        PeerMsg::Notification {
            state: self.state(),
            vote: self.current_vote(),
            round: self.round,
        }
    }

    /// Sends my current vote to every voter but me.
    fn broadcast_notification(&self, out: &mut Effects) {
        let msg = self.notification();
        for sid in self
            .config
            .voters
            .iter()
            .filter(|s| **s != self.config.my_id)
        {
            out.send(*sid, msg.clone());
        }
    }

    /// FLE's WorkerReceiver and lookForLeader, for one notification.
    pub(crate) fn on_notification(
        &mut self,
        from: ServerId,
        state: PeerState,
        vote: Vote,
        round: u64,
        out: &mut Effects,
    ) {
        let looking = matches!(&self.role, Role::Looking(e) if e.started);
        if !self.config.voters.contains(&from) {
            // A non-voter asks who leads; it gets an answer and no say (reference B.5).
            if state == PeerState::Looking && (looking || !matches!(self.role, Role::Looking(_))) {
                out.send(from, self.notification());
            }
            return;
        }
        if !looking {
            if matches!(self.role, Role::Looking(_)) {
                return; // not started yet
            }
            // FOLLOWING/LEADING: tell a LOOKING voter whom we follow.
            if state == PeerState::Looking {
                out.send(from, self.notification());
            }
            return;
        }
        match state {
            PeerState::Looking => self.on_looking_vote(from, vote, round, out),
            PeerState::Following | PeerState::Leading => {
                self.on_decided_vote(from, state, vote, round, out)
            }
            PeerState::Observing => tracing::trace!(%from, "ignored: OBSERVING notification"),
        }
    }

    fn on_looking_vote(&mut self, from: ServerId, vote: Vote, round: u64, out: &mut Effects) {
        if self.config.is_observer() {
            return; // observers learn the leader from decided voters only
        }
        if round < self.round {
            // A voter behind us: answer so it catches up (FLE WorkerReceiver).
            out.send(from, self.notification());
            return;
        }
        // Only I know my state: a vote naming me carries my claim of an earlier life (a restart
        // resets rounds); replace it by the truth.
        let vote = if vote.sid == self.config.my_id {
            self.initial_vote()
        } else {
            vote
        };
        let bug = self.config.bug;
        if round > self.round {
            self.round = round;
            let own = self.initial_vote();
            let adopt = if vote.beats(&own, bug) { vote } else { own };
            invariant!(
                adopt >= own && (adopt == own || adopt == vote),
                "FLE-ORDER: round change adopted {adopt:?} over own {own:?}"
            );
            let election = self.election_mut();
            election.received.clear();
            election.proposal = adopt;
            self.record_own_vote();
            self.broadcast_notification(out);
        } else if vote.beats(&self.election().proposal, bug) {
            let current = self.election().proposal;
            invariant!(
                vote > current,
                "FLE-ORDER: adopted {vote:?}, not stronger than {current:?}"
            );
            self.election_mut().proposal = vote;
            self.record_own_vote();
            self.broadcast_notification(out);
        }
        self.election_mut()
            .received
            .insert(from, (vote, PeerState::Looking));
        self.check_election_quorum(out);
    }

    fn on_decided_vote(
        &mut self,
        from: ServerId,
        state: PeerState,
        vote: Vote,
        round: u64,
        out: &mut Effects,
    ) {
        if self.refused_vote == Some(vote) {
            tracing::trace!(%from, "ignored: the leader I refused for its old epoch");
            return;
        }
        if vote.sid == self.config.my_id && vote != self.initial_vote() {
            // They still follow an earlier life of mine (a restart resets rounds); they will
            // notice it is gone and elect again.
            tracing::trace!(%from, "ignored: decided vote for a previous life of mine");
            return;
        }
        if round == self.round {
            self.election_mut().received.insert(from, (vote, state));
            if self.quorum_for_as(vote, state, |e| {
                e.received
                    .iter()
                    .map(|(s, (v, st))| (*s, *v, *st))
                    .collect()
            }) && self.leader_confirmed(vote, round, false)
            {
                return self.decide(vote, out);
            }
        }
        self.election_mut()
            .out_of_election
            .insert(from, (vote, state, round));
        let oe = |e: &Election| -> Vec<(ServerId, Vote, PeerState)> {
            e.out_of_election
                .iter()
                .map(|(s, (v, st, _))| (*s, *v, *st))
                .collect()
        };
        if self.quorum_for_as(vote, state, oe) && self.leader_confirmed(vote, round, true) {
            self.round = round;
            self.decide(vote, out);
        }
    }

    /// Do the voters holding `vote` in the chosen set form a quorum? A LOOKING vote agrees only
    /// with the identical vote (leader, zxid and epoch); two decided votes (the senders follow or
    /// lead) agree when they name the same leader (FLE-DECIDED-AGREE): a server advertises the
    /// vote of whichever election it joined by, and one leader's members may have joined by
    /// different ones (spec/election.md §5.2).
    fn quorum_for(
        &self,
        vote: Vote,
        set: impl Fn(&Election) -> Vec<(ServerId, Vote, PeerState)>,
    ) -> bool {
        self.quorum_for_as(vote, PeerState::Looking, set)
    }

    /// [`Node::quorum_for`] for a vote heard in state `state`.
    fn quorum_for_as(
        &self,
        vote: Vote,
        state: PeerState,
        set: impl Fn(&Election) -> Vec<(ServerId, Vote, PeerState)>,
    ) -> bool {
        let heard = set(self.election());
        let agrees = |v: &Vote, st: &PeerState| {
            if state == PeerState::Looking || *st == PeerState::Looking {
                *v == vote
            } else {
                v.sid == vote.sid
            }
        };
        let agreeing: Vec<ServerId> = heard
            .iter()
            .filter(|(_, v, st)| agrees(v, st))
            .map(|(s, _, _)| *s)
            .collect();
        if self.config.has_bug(Bug::ElectionMajorityOfHeard) {
            // Mutant: a majority of the votes heard so far, not of the voters.
            return 2 * agreeing.len() > heard.len();
        }
        self.config.quorum().contains_quorum(&agreeing)
    }

    /// FLE `checkLeader`: someone else must have told us itself that it leads; I may only lead
    /// in my own round.
    fn leader_confirmed(&self, vote: Vote, round: u64, out_of_election: bool) -> bool {
        if vote.sid == self.config.my_id {
            return round == self.round && !self.config.is_observer();
        }
        let e = self.election();
        if out_of_election {
            matches!(
                e.out_of_election.get(&vote.sid),
                Some((_, PeerState::Leading, _))
            )
        } else {
            matches!(e.received.get(&vote.sid), Some((_, PeerState::Leading)))
        }
    }

    /// A quorum holds my proposal: wait `finalizeWait` for a better vote, else decide.
    fn check_election_quorum(&mut self, out: &mut Effects) {
        let proposal = self.election().proposal;
        if self.is_voter() && self.quorum_for(proposal, looking_votes) {
            out.push(Effect::SetTimer {
                timer: Timer::FinalizeWait,
                ticks: self.config.finalize_wait_ticks,
            });
        } else {
            out.push(Effect::CancelTimer(Timer::FinalizeWait));
        }
    }

    pub(crate) fn election_on_timeout(&mut self, timer: super::Timer, out: &mut Effects) {
        if !self.election().started {
            return;
        }
        match timer {
            Timer::FinalizeWait => {
                let proposal = self.election().proposal;
                if self.is_voter() && self.quorum_for(proposal, looking_votes) {
                    self.decide(proposal, out);
                }
            }
            Timer::Notify => {
                self.broadcast_notification(out);
                let max = self.config.max_notify_ticks;
                let e = self.election_mut();
                e.notify_ticks = (e.notify_ticks * 2).min(max.max(1));
                let ticks = e.notify_ticks;
                out.push(Effect::SetTimer {
                    timer: Timer::Notify,
                    ticks,
                });
            }
            other => tracing::trace!(?other, "ignored timer while LOOKING"),
        }
    }

    /// A broken election link: the runtime reconnects; re-send my vote on the new link, as
    /// ZooKeeper's SendWorker re-sends its last message.
    pub(crate) fn election_on_peer_lost(&mut self, peer: ServerId, out: &mut Effects) {
        if self.election().started && self.config.voters.contains(&peer) {
            out.send(peer, self.notification());
        }
    }

    /// The election is over: lead, follow or observe `vote.sid`.
    fn decide(&mut self, vote: Vote, out: &mut Effects) {
        invariant!(
            self.config.voters.contains(&vote.sid),
            "FLE-VOTER: decided for non-voter {}",
            vote.sid
        );
        out.push(Effect::CancelTimer(Timer::FinalizeWait));
        out.push(Effect::CancelTimer(Timer::Notify));
        self.refused_vote = None;
        if vote.sid == self.config.my_id {
            invariant_eq!(
                vote,
                self.initial_vote(),
                "FLE-SELF: leading on a vote that is not my own state"
            );
            let leader = Leader::new(vote);
            self.set_role(Role::Leading(leader), out);
            self.leader_start(out);
        } else {
            let learner = Learner::new(vote, self.config.is_observer());
            self.set_role(Role::Following(learner), out);
            self.learner_start(out);
        }
    }
}
