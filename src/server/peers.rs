//! The election and quorum links between servers, on tokio, through the [`Transport`] seam.
//!
//! Status: an ensemble member's driver (`server/driver.rs`) starts one [`PeerNet`] over
//! `TokioTransport`, feeds every [`PeerEvent`] to its node through [`PeerNet::to_input`] and
//! executes the node's `Send`, `Disconnect` and (on FOLLOWING/OBSERVING) `connect_to_leader`
//! here. Tested on 127.0.0.1 alone (tests/server_peers.rs) and under real servers
//! (tests/ensemble.rs). A standalone server has no `PeerNet`.
//!
//! What it does. A [`PeerNet`] listens on the server's election port and quorum port and keeps
//! one link task per (peer, [`Link`]). Every frame is `wire::peer`'s; the first frame on every
//! connection is a HELLO from the side that dialled (its sid, which link, and on the quorum port
//! its learner type). Inbound messages and broken links go, in order, to one bounded mpsc — the
//! driver's inbox — as [`PeerEvent`]s; [`PeerNet::send`] queues a message on the peer's link
//! (bounded per link; FIFO per link), choosing the election link for notifications and the quorum
//! link for everything else.
//!
//! Election links (reference B.2, `QuorumCnxManager`). Every server keeps an election link to
//! every voter, redialling it whenever it breaks; it links to an observer only when it has
//! something to send it or the observer dials. One connection per pair, by ZooKeeper's rule: a
//! connection survives only if the side that dialled has the larger sid. The smaller side's dial
//! is only a prompt: it sends its HELLO and closes; the larger side, on such a HELLO, drops the
//! link it holds to that peer (the smaller side would not dial if its end were alive) and dials
//! back. A connection from a larger sid replaces any link already held to it. Toward a voter, the
//! larger side dials at start and after a break at once, the smaller side prompts after
//! `backoff_min` (so the larger side's dial normally lands first); failed dials and unanswered
//! prompts back off exponentially up to `backoff_max`.
//!
//! Quorum links (reference B.1, B.8). A learner dials its leader's quorum port on
//! [`PeerNet::connect_to_leader`], retrying a bounded number of times; every server accepts
//! learners on its quorum port (a new connection from a learner replaces the old one). Nothing
//! redials a broken quorum link: in ZAB a learner that loses its leader goes back to election.
//! [`PeerNet::disconnect`] closes one (`Effect::Disconnect`) without reporting it.
//!
//! Broken links and the fence. When a link breaks (EOF, an IO error, an undecodable frame, a
//! message of the wrong link, a full outbound queue, a replaced connection, or a learner that
//! could not reach its leader) everything queued on it is discarded and
//! [`PeerEvent::Lost`] is delivered after the link's last message. From that moment until the
//! driver has taken that event from its inbox and said so ([`PeerNet::to_input`] or
//! [`PeerNet::acknowledge_lost`]), `send` to that peer on that link is refused
//! ([`SendError::Fenced`]). So, as in the models (`models/src/cluster.rs`, where a break empties
//! the link and both ends step `PeerLost` at once), a message the core sent before it learned of
//! the break is never delivered after messages it sent later: the receiver sees the old link's
//! prefix, then `Lost`, then only messages sent after the sender stepped `PeerLost`.
//!
//! Unlike the models, which have one FIFO link per pair, the election and quorum links are two
//! TCP connections: FIFO holds per link, not between a notification and a ZAB message, and each
//! link breaks on its own (`Lost` names the link).
//!
//! Limits: per link, `queue_capacity` outbound messages; inbound frames above the link's frame
//! limit are refused before they are buffered (so a connection buffers at most about twice the
//! limit); at most `handshakes_max` connections per port may be between accept and HELLO, each
//! for at most `connect_timeout`.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::protocol::{Input, PeerMsg, ServerId};
use crate::server::transport::{Listener, Transport};
use crate::wire::frame_length;
use crate::wire::peer::{
    decode_frame, encode_hello, encode_msg, Frame, Hello, LearnerType, ELECTION_FRAME_MAX,
    QUORUM_FRAME_MAX,
};

pub use crate::wire::peer::Link;

/// Largest HELLO accepted (it needs 12 bytes).
const HELLO_FRAME_MAX: usize = 64;
/// Bytes read from a socket at a time (more when a frame is known to be longer).
const READ_CHUNK: usize = 16 * 1024;
/// Messages a writer takes from its queue per write.
const WRITE_BATCH: usize = 256;
/// Capacity of each link task's control channel (connections, dial results, ends).
const CONTROL_CAPACITY: usize = 16;

/// One server of the ensemble, as its `server.N` line gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its election port.
    pub election_addr: SocketAddr,
    /// Its quorum port.
    pub quorum_addr: SocketAddr,
    /// Participant (voter) or observer.
    pub learner: LearnerType,
}

/// Configuration of a [`PeerNet`].
#[derive(Clone, Debug)]
pub struct PeerNetConfig {
    /// This server's `myid`.
    pub me: ServerId,
    /// Every server of the ensemble, this one included.
    pub members: BTreeMap<ServerId, Member>,
    /// Outbound messages queued per link before the link counts as lost.
    pub queue_capacity: usize,
    /// First delay before redialling a broken or refused link.
    pub backoff_min: Duration,
    /// Largest delay between two dials.
    pub backoff_max: Duration,
    /// Longest a dial, or an accepted connection's HELLO, may take (ZooKeeper's `cnxTimeout`).
    pub connect_timeout: Duration,
    /// Dials a learner makes to reach its leader before it reports the link lost (ZooKeeper's
    /// `Learner.connectToLeader` makes 5).
    pub learner_connect_attempts: u32,
    /// Largest frame payload on election links.
    pub election_frame_max: usize,
    /// Largest frame payload on quorum links.
    pub quorum_frame_max: usize,
    /// Connections per port that may be waiting for their HELLO at once.
    pub handshakes_max: usize,
}

impl PeerNetConfig {
    /// Defaults for everything but the membership.
    pub fn new(me: ServerId, members: BTreeMap<ServerId, Member>) -> PeerNetConfig {
        PeerNetConfig {
            me,
            members,
            queue_capacity: 4096,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            learner_connect_attempts: 5,
            election_frame_max: ELECTION_FRAME_MAX,
            quorum_frame_max: QUORUM_FRAME_MAX,
            handshakes_max: 64,
        }
    }

    fn frame_max(&self, link: Link) -> usize {
        match link {
            Link::Election => self.election_frame_max,
            Link::Quorum => self.quorum_frame_max,
        }
    }

    fn my_type(&self) -> LearnerType {
        self.members[&self.me].learner
    }
}

/// What the peer links tell the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// A message arrived.
    Message {
        /// Sender.
        from: ServerId,
        /// The link it came on.
        link: Link,
        /// The message.
        msg: PeerMsg,
    },
    /// The link to `peer` broke; everything in flight on it is gone. Sends to `peer` on `link` are
    /// refused until the driver acknowledges this event.
    Lost {
        /// The other end.
        peer: ServerId,
        /// Which link.
        link: Link,
    },
}

/// A link's connection state, for callers and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// No connection (an election link may still queue messages for the next one).
    Down,
    /// Dialling.
    Connecting,
    /// Connected.
    Up,
}

/// Why a message was not queued. Only the first two are the caller's mistake; the others are the
/// expected consequences of a broken or missing link, which the core learns about from
/// [`PeerEvent::Lost`] or its timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Not a member of the ensemble.
    #[error("server {0} is not a member")]
    UnknownPeer(ServerId),
    /// This server itself.
    #[error("a server does not send to itself")]
    ToSelf,
    /// The link broke and the driver has not yet acknowledged the `Lost`.
    #[error("link to {0} lost and not yet acknowledged")]
    Fenced(ServerId),
    /// No quorum link to that server (it is not our learner, and we are not connecting to it).
    #[error("no quorum link to {0}")]
    NotConnected(ServerId),
    /// The link's queue is full: the link is being dropped as lost.
    #[error("outbound queue to {0} full; link dropped")]
    QueueFull(ServerId),
}

/// Why a [`PeerNet`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum PeerNetError {
    /// `me` is not among the members.
    #[error("server {0} is not in the member list")]
    NotAMember(ServerId),
    /// A listener's address could not be read.
    #[error("listener address: {0}")]
    Listener(io::Error),
}

/// The two bound listeners, before the links start (bind first to learn OS-chosen ports).
pub struct PeerListeners<L> {
    election: L,
    quorum: L,
}

impl<L: Listener> PeerListeners<L> {
    /// Binds the election and quorum ports.
    pub async fn bind<T>(
        transport: &T,
        election_addr: SocketAddr,
        quorum_addr: SocketAddr,
    ) -> io::Result<PeerListeners<L>>
    where
        T: Transport<Listener = L>,
    {
        Ok(PeerListeners {
            election: transport.bind(election_addr).await?,
            quorum: transport.bind(quorum_addr).await?,
        })
    }

    /// Where the election port is bound.
    pub fn election_addr(&self) -> io::Result<SocketAddr> {
        self.election.local_addr()
    }

    /// Where the quorum port is bound.
    pub fn quorum_addr(&self) -> io::Result<SocketAddr> {
        self.quorum.local_addr()
    }
}

/// The peer links of one server. Dropping it (or [`shutdown`](Self::shutdown)) stops every task
/// and closes every connection.
pub struct PeerNet {
    me: ServerId,
    config: Arc<PeerNetConfig>,
    slots: Arc<BTreeMap<(ServerId, Link), Arc<SlotHandle>>>,
    election_addr: SocketAddr,
    quorum_addr: SocketAddr,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for PeerNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerNet")
            .field("me", &self.me)
            .field("election_addr", &self.election_addr)
            .field("quorum_addr", &self.quorum_addr)
            .finish_non_exhaustive()
    }
}

impl PeerNet {
    /// Starts accepting on both ports and maintaining the election links; events go to `inbox`.
    /// Must be called inside a tokio runtime.
    pub fn start<T, E>(
        transport: T,
        config: PeerNetConfig,
        listeners: PeerListeners<T::Listener>,
        inbox: mpsc::Sender<E>,
    ) -> Result<PeerNet, PeerNetError>
    where
        T: Transport,
        E: From<PeerEvent> + Send + 'static,
    {
        let me = config.me;
        if !config.members.contains_key(&me) {
            return Err(PeerNetError::NotAMember(me));
        }
        let election_addr = listeners.election_addr().map_err(PeerNetError::Listener)?;
        let quorum_addr = listeners.quorum_addr().map_err(PeerNetError::Listener)?;
        let config = Arc::new(config);
        let mut slots = BTreeMap::new();
        let mut routes = BTreeMap::new();
        let mut tasks = JoinSet::new();
        for &peer in config.members.keys().filter(|&&p| p != me) {
            for link in [Link::Election, Link::Quorum] {
                let slot = Arc::new(SlotHandle::new());
                let (control_tx, control_rx) = mpsc::channel(CONTROL_CAPACITY);
                let task = LinkTask {
                    peer,
                    link,
                    transport: transport.clone(),
                    config: config.clone(),
                    slot: slot.clone(),
                    inbox: inbox.clone(),
                    control_rx,
                    control_tx: control_tx.clone(),
                    conn: None,
                    dial: None,
                    attempts: 0,
                    conn_ids: 0,
                    backoff: config.backoff_min,
                    next_dial: None,
                    learner_attempts_left: 0,
                };
                tasks.spawn(task.run());
                slots.insert((peer, link), slot);
                routes.insert((peer, link), control_tx);
            }
        }
        let routes = Arc::new(routes);
        let PeerListeners { election, quorum } = listeners;
        for (listener, link) in [(election, Link::Election), (quorum, Link::Quorum)] {
            tasks.spawn(accept_loop(listener, link, config.clone(), routes.clone()));
        }
        Ok(PeerNet {
            me,
            config,
            slots: Arc::new(slots),
            election_addr,
            quorum_addr,
            tasks,
        })
    }

    /// This server's sid.
    pub fn me(&self) -> ServerId {
        self.me
    }

    /// The bound election port.
    pub fn election_addr(&self) -> SocketAddr {
        self.election_addr
    }

    /// The bound quorum port.
    pub fn quorum_addr(&self) -> SocketAddr {
        self.quorum_addr
    }

    /// Queues `msg` for `to`: notifications on the election link, everything else on the quorum
    /// link. Never blocks. See [`SendError`] for what a refusal means.
    pub fn send(&self, to: ServerId, msg: PeerMsg) -> Result<(), SendError> {
        let link = if msg.is_election() {
            Link::Election
        } else {
            Link::Quorum
        };
        let slot = self.slot(to, link)?;
        let mut s = slot.lock();
        if s.acked < s.lost {
            return Err(SendError::Fenced(to));
        }
        if s.overflow {
            return Err(SendError::QueueFull(to));
        }
        if link == Link::Quorum && s.phase == LinkState::Down {
            return Err(SendError::NotConnected(to));
        }
        if s.queue.len() >= self.config.queue_capacity {
            s.overflow = true;
            drop(s);
            slot.manager_wake.notify_one();
            return Err(SendError::QueueFull(to));
        }
        s.queue.push_back(msg);
        let up = s.phase == LinkState::Up;
        drop(s);
        if up {
            slot.writer_wake.notify_one();
        } else {
            // An election link with no connection dials on demand.
            slot.manager_wake.notify_one();
        }
        Ok(())
    }

    /// The driver has taken `PeerEvent::Lost { peer, link }` out of its inbox: sends to `peer` on
    /// `link` are accepted again once every `Lost` delivered so far for it is acknowledged.
    pub fn acknowledge_lost(&self, peer: ServerId, link: Link) {
        if let Ok(slot) = self.slot(peer, link) {
            let mut s = slot.lock();
            assert!(
                s.acked < s.lost,
                "acknowledged a Lost that was not delivered"
            );
            s.acked += 1;
        }
    }

    /// The core's input for an event taken from the inbox; for `Lost`, acknowledges it
    /// ([`acknowledge_lost`](Self::acknowledge_lost)), so the driver must step the input before it
    /// executes any later send.
    pub fn to_input(&self, event: PeerEvent) -> Input {
        match event {
            PeerEvent::Message { from, msg, .. } => Input::Peer { from, msg },
            PeerEvent::Lost { peer, link } => {
                self.acknowledge_lost(peer, link);
                Input::PeerLost(peer)
            }
        }
    }

    /// Dials `leader`'s quorum port as a learner (no-op if that link is already up or being
    /// dialled). Messages sent meanwhile wait in the queue; after
    /// `learner_connect_attempts` failed dials the link is reported lost.
    pub fn connect_to_leader(&self, leader: ServerId) -> Result<(), SendError> {
        let slot = self.slot(leader, Link::Quorum)?;
        let mut s = slot.lock();
        if s.phase == LinkState::Down {
            s.phase = LinkState::Connecting;
            s.request = Some(Request::Connect);
            drop(s);
            slot.manager_wake.notify_one();
        }
        Ok(())
    }

    /// Closes the quorum link to `peer` (`Effect::Disconnect`): queued messages are dropped,
    /// nothing more is written, and no `Lost` is reported here (the other end sees one).
    pub fn disconnect(&self, peer: ServerId) -> Result<(), SendError> {
        let slot = self.slot(peer, Link::Quorum)?;
        let mut s = slot.lock();
        s.queue.clear();
        s.conn = 0;
        s.phase = LinkState::Down;
        s.request = Some(Request::Disconnect);
        drop(s);
        slot.manager_wake.notify_one();
        Ok(())
    }

    /// The state of the link to `peer`; `None` if `peer` is not another member.
    pub fn link_state(&self, peer: ServerId, link: Link) -> Option<LinkState> {
        self.slot(peer, link).ok().map(|slot| slot.lock().phase)
    }

    /// Stops every task and waits for the link and listener tasks to end; connections close.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
    }

    fn slot(&self, peer: ServerId, link: Link) -> Result<&Arc<SlotHandle>, SendError> {
        if peer == self.me {
            return Err(SendError::ToSelf);
        }
        self.slots
            .get(&(peer, link))
            .ok_or(SendError::UnknownPeer(peer))
    }
}

// ---------------------------------------------------------------------------------------------
// Shared state of one link
// ---------------------------------------------------------------------------------------------

/// What the driver-facing API and the link task share about one (peer, link).
struct SlotHandle {
    state: Mutex<Slot>,
    /// A message was queued on an up link.
    writer_wake: Notify,
    /// The link task should look at the slot (overflow, a request, a message to dial for).
    manager_wake: Notify,
}

impl SlotHandle {
    fn new() -> SlotHandle {
        SlotHandle {
            state: Mutex::new(Slot {
                phase: LinkState::Down,
                conn: 0,
                queue: VecDeque::new(),
                lost: 0,
                acked: 0,
                overflow: false,
                request: None,
            }),
            writer_wake: Notify::new(),
            manager_wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.state.lock().expect("peer link state poisoned")
    }
}

struct Slot {
    phase: LinkState,
    /// Id of the connection whose writer may drain `queue` (0: none).
    conn: u64,
    /// Outbound messages for the current connection (or, on an election link, the next one).
    queue: VecDeque<PeerMsg>,
    /// `Lost` events decided so far.
    lost: u64,
    /// `Lost` events the driver acknowledged; sends are fenced while `acked < lost`.
    acked: u64,
    /// A send found the queue full; the link task must drop the link.
    overflow: bool,
    /// The latest quorum-link request from the driver.
    request: Option<Request>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Connect,
    Disconnect,
}

// ---------------------------------------------------------------------------------------------
// The link task: one per (peer, link), the only owner of its connection
// ---------------------------------------------------------------------------------------------

/// Aborts its task when dropped.
struct Task(JoinHandle<()>);

impl Task {
    /// Aborts the task and waits until it is gone.
    async fn stop(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Conn {
    id: u64,
    reader: Task,
    writer: Task,
}

enum Control<S> {
    /// An accepted connection whose HELLO named this link; `buffered` holds what followed it.
    Inbound { stream: S, buffered: BytesMut },
    /// A dial finished (on success our HELLO is written).
    Dialed { attempt: u64, result: io::Result<S> },
    /// A connection's reader or writer stopped.
    Ended { conn: u64, why: String },
}

struct LinkTask<T: Transport, E> {
    peer: ServerId,
    link: Link,
    transport: T,
    config: Arc<PeerNetConfig>,
    slot: Arc<SlotHandle>,
    inbox: mpsc::Sender<E>,
    control_rx: mpsc::Receiver<Control<T::Stream>>,
    control_tx: mpsc::Sender<Control<T::Stream>>,
    conn: Option<Conn>,
    dial: Option<(u64, Task)>,
    attempts: u64,
    conn_ids: u64,
    backoff: Duration,
    next_dial: Option<Instant>,
    learner_attempts_left: u32,
}

/// The inbox is closed: the driver is gone, so the link task stops.
struct InboxClosed;

impl<T, E> LinkTask<T, E>
where
    T: Transport,
    E: From<PeerEvent> + Send + 'static,
{
    async fn run(mut self) {
        if self.wants_election_link() {
            // The larger sid dials first; the smaller one prompts only if no dial arrives.
            let delay = if self.i_keep_my_dials() {
                Duration::ZERO
            } else {
                self.config.backoff_min
            };
            self.next_dial = Some(Instant::now() + delay);
        }
        loop {
            let due = self
                .next_dial
                .filter(|_| self.conn.is_none() && self.dial.is_none());
            let outcome = tokio::select! {
                biased;
                () = self.slot.manager_wake.notified() => self.on_wake().await,
                Some(control) = self.control_rx.recv() => self.on_control(control).await,
                () = sleep_until(due) => {
                    self.start_dial();
                    Ok(())
                }
            };
            if outcome.is_err() {
                return;
            }
        }
    }

    // ----- policy ------------------------------------------------------------------------------

    /// ZooKeeper's rule: a connection survives only if its dialler has the larger sid.
    fn i_keep_my_dials(&self) -> bool {
        self.link == Link::Quorum || self.config.me > self.peer
    }

    /// Every server keeps an election link to every voter.
    fn wants_election_link(&self) -> bool {
        self.link == Link::Election
            && self.config.members[&self.peer].learner == LearnerType::Participant
    }

    fn schedule_dial(&mut self, delay: Duration) {
        self.next_dial = Some(Instant::now() + delay);
    }

    /// Dials again after the backoff, if the link is still wanted: always toward a voter, toward
    /// anyone else only while messages wait for it.
    fn retry_election_dial(&mut self) {
        if self.wants_election_link() || !self.slot.lock().queue.is_empty() {
            self.back_off();
        }
    }

    fn back_off(&mut self) {
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(self.config.backoff_max);
        self.schedule_dial(delay);
    }

    // ----- events ------------------------------------------------------------------------------

    async fn on_wake(&mut self) -> Result<(), InboxClosed> {
        if self.slot.lock().overflow {
            self.lose("outbound queue full").await?;
        }
        if self.disconnected_by_driver() {
            self.teardown().await;
        }
        let (request, queued) = {
            let mut s = self.slot.lock();
            (s.request.take(), !s.queue.is_empty())
        };
        match request {
            Some(Request::Disconnect) => {
                self.dial = None;
                self.next_dial = None;
            }
            Some(Request::Connect) if self.conn.is_none() && self.dial.is_none() => {
                self.learner_attempts_left = self.config.learner_connect_attempts.max(1);
                self.backoff = self.config.backoff_min;
                self.start_dial();
            }
            Some(Request::Connect) | None => {}
        }
        let idle = self.conn.is_none() && self.dial.is_none() && self.next_dial.is_none();
        if self.link == Link::Election && idle && queued {
            self.schedule_dial(Duration::ZERO);
        }
        Ok(())
    }

    async fn on_control(&mut self, control: Control<T::Stream>) -> Result<(), InboxClosed> {
        match control {
            Control::Inbound { stream, buffered } => self.on_inbound(stream, buffered).await,
            Control::Dialed { attempt, result } => self.on_dialed(attempt, result).await,
            Control::Ended { conn, why } => {
                if self.conn.as_ref().is_some_and(|c| c.id == conn) {
                    return self.retire(&why).await;
                }
                Ok(())
            }
        }
    }

    async fn on_inbound(
        &mut self,
        stream: T::Stream,
        buffered: BytesMut,
    ) -> Result<(), InboxClosed> {
        if self.link == Link::Election && self.i_keep_my_dials() {
            // The smaller sid dialled: it has no live end. Drop what we hold and dial back.
            drop(stream);
            self.retire("peer dialled, so its end of our link is gone")
                .await?;
            if self.dial.is_none() {
                self.backoff = self.config.backoff_min;
                self.start_dial();
            }
            return Ok(());
        }
        self.adopt(stream, buffered).await
    }

    async fn on_dialed(
        &mut self,
        attempt: u64,
        result: io::Result<T::Stream>,
    ) -> Result<(), InboxClosed> {
        if self.dial.as_ref().map(|(a, _)| *a) != Some(attempt) {
            return Ok(()); // superseded
        }
        self.dial = None;
        match (self.link, result) {
            (Link::Election, Err(e)) => {
                debug!(peer = %self.peer, "election dial failed: {e}");
                self.set_phase_if_not_up(LinkState::Down);
                self.retry_election_dial();
                Ok(())
            }
            (Link::Election, Ok(stream)) if !self.i_keep_my_dials() => {
                // A prompt: our HELLO is written; the larger sid dials back (or, if it does not,
                // we prompt again later).
                drop(stream);
                self.set_phase_if_not_up(LinkState::Down);
                self.retry_election_dial();
                Ok(())
            }
            (Link::Election, Ok(stream)) => self.adopt(stream, BytesMut::new()).await,
            (Link::Quorum, result) => {
                if self.slot.lock().phase != LinkState::Connecting {
                    return Ok(()); // disconnected meanwhile
                }
                match result {
                    Ok(stream) => self.adopt(stream, BytesMut::new()).await,
                    Err(e) => {
                        self.learner_attempts_left = self.learner_attempts_left.saturating_sub(1);
                        warn!(leader = %self.peer, left = self.learner_attempts_left,
                              "cannot reach the leader's quorum port: {e}");
                        if self.learner_attempts_left == 0 {
                            return self.lose("leader unreachable").await;
                        }
                        self.back_off();
                        Ok(())
                    }
                }
            }
        }
    }

    // ----- actions -----------------------------------------------------------------------------

    fn start_dial(&mut self) {
        self.next_dial = None;
        self.attempts += 1;
        let attempt = self.attempts;
        let member = self.config.members[&self.peer];
        let (addr, hello) = match self.link {
            Link::Election => (
                member.election_addr,
                Hello::Election {
                    sid: self.config.me,
                },
            ),
            Link::Quorum => (
                member.quorum_addr,
                Hello::Quorum {
                    sid: self.config.me,
                    learner: self.config.my_type(),
                },
            ),
        };
        self.set_phase_if_not_up(LinkState::Connecting);
        let transport = self.transport.clone();
        let control = self.control_tx.clone();
        let timeout = self.config.connect_timeout;
        let handle = tokio::spawn(async move {
            let dial = async {
                let mut stream = transport.connect(addr).await?;
                let mut buf = BytesMut::new();
                encode_hello(&mut buf, &hello);
                stream.write_all(&buf).await?;
                stream.flush().await?;
                Ok(stream)
            };
            let result = tokio::time::timeout(timeout, dial)
                .await
                .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "dial timed out")));
            let _ = control.send(Control::Dialed { attempt, result }).await;
        });
        self.dial = Some((attempt, Task(handle)));
    }

    fn set_phase_if_not_up(&self, phase: LinkState) {
        let mut s = self.slot.lock();
        if s.phase != LinkState::Up {
            s.phase = phase;
        }
    }

    /// Makes `stream` this link's connection, replacing (and reporting lost) any current one.
    async fn adopt(&mut self, stream: T::Stream, buffered: BytesMut) -> Result<(), InboxClosed> {
        self.retire("replaced by a newer connection").await?;
        self.dial = None;
        self.next_dial = None;
        self.backoff = self.config.backoff_min;
        self.conn_ids += 1;
        let id = self.conn_ids;
        {
            let mut s = self.slot.lock();
            s.phase = LinkState::Up;
            s.conn = id;
        }
        let (read_half, write_half) = tokio::io::split(stream);
        let max = self.config.frame_max(self.link);
        let reader = tokio::spawn(read_loop(
            read_half,
            buffered,
            self.peer,
            self.link,
            max,
            self.inbox.clone(),
            id,
            self.control_tx.clone(),
        ));
        let writer = tokio::spawn(write_loop(
            write_half,
            self.slot.clone(),
            id,
            max,
            self.control_tx.clone(),
        ));
        self.conn = Some(Conn {
            id,
            reader: Task(reader),
            writer: Task(writer),
        });
        self.slot.writer_wake.notify_one();
        info!(peer = %self.peer, link = ?self.link, "link up");
        Ok(())
    }

    /// Did the driver's `disconnect` take the link away from the current connection?
    fn disconnected_by_driver(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| c.id != self.slot.lock().conn)
    }

    /// Ends the current connection, if any: a loss, unless the driver disconnected it.
    async fn retire(&mut self, why: &str) -> Result<(), InboxClosed> {
        if self.conn.is_none() {
            return Ok(());
        }
        if self.disconnected_by_driver() {
            self.teardown().await;
            return Ok(());
        }
        self.lose(why).await
    }

    /// Stops the current connection's tasks, if any; the connection closes.
    async fn teardown(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.reader.stop().await;
            conn.writer.stop().await;
        }
    }

    /// The link broke: close it, discard its queue, fence sends, report `Lost`, plan a redial.
    async fn lose(&mut self, why: &str) -> Result<(), InboxClosed> {
        self.teardown().await;
        self.dial = None;
        {
            let mut s = self.slot.lock();
            s.lost += 1;
            s.queue.clear();
            s.overflow = false;
            s.conn = 0;
            s.phase = LinkState::Down;
        }
        info!(peer = %self.peer, link = ?self.link, "link lost: {why}");
        self.next_dial = None;
        if self.wants_election_link() {
            let delay = if self.i_keep_my_dials() {
                Duration::ZERO
            } else {
                self.config.backoff_min
            };
            self.schedule_dial(delay);
        }
        let event = PeerEvent::Lost {
            peer: self.peer,
            link: self.link,
        };
        self.inbox.send(event.into()).await.map_err(|_| InboxClosed)
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

// ---------------------------------------------------------------------------------------------
// Connection tasks
// ---------------------------------------------------------------------------------------------

/// Reads frames and delivers them, in order, until the connection ends; then says why.
#[allow(clippy::too_many_arguments)]
async fn read_loop<S, E>(
    mut read_half: ReadHalf<S>,
    mut buf: BytesMut,
    peer: ServerId,
    link: Link,
    max: usize,
    inbox: mpsc::Sender<E>,
    conn: u64,
    control: mpsc::Sender<Control<S>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    E: From<PeerEvent>,
{
    let why = loop {
        match decode_frame(&mut buf, max) {
            Ok(Some(Frame::Msg(msg))) => {
                if msg.is_election() != (link == Link::Election) {
                    break format!("{} does not belong on the {link:?} link", msg.name());
                }
                let event = PeerEvent::Message {
                    from: peer,
                    link,
                    msg,
                };
                if inbox.send(event.into()).await.is_err() {
                    break "inbox closed".to_owned();
                }
                continue;
            }
            Ok(Some(Frame::Hello(_))) => break "a second HELLO".to_owned(),
            Ok(None) => {}
            Err(e) => break format!("undecodable frame: {e}"),
        }
        let frame_len = match frame_length(&buf, max) {
            Ok(Some(len)) => 4 + len,
            _ => 0,
        };
        buf.reserve(frame_len.saturating_sub(buf.len()).max(READ_CHUNK));
        match read_half.read_buf(&mut buf).await {
            Ok(0) => break "closed by the peer".to_owned(),
            Ok(_) => {}
            Err(e) => break format!("read: {e}"),
        }
    };
    let _ = control.send(Control::Ended { conn, why }).await;
}

/// Writes what is queued for connection `conn`, in order, until it fails or is superseded.
async fn write_loop<S>(
    mut write_half: WriteHalf<S>,
    slot: Arc<SlotHandle>,
    conn: u64,
    max: usize,
    control: mpsc::Sender<Control<S>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let mut out = BytesMut::new();
    let why = loop {
        let batch: Vec<PeerMsg> = {
            let mut s = slot.lock();
            if s.conn != conn {
                break "superseded".to_owned();
            }
            let n = s.queue.len().min(WRITE_BATCH);
            s.queue.drain(..n).collect()
        };
        if batch.is_empty() {
            if let Err(e) = write_half.flush().await {
                break format!("flush: {e}");
            }
            slot.writer_wake.notified().await;
            continue;
        }
        out.clear();
        if let Some(e) = batch
            .iter()
            .find_map(|msg| encode_msg(&mut out, msg, max).err())
        {
            break format!("cannot send: {e}");
        }
        if let Err(e) = write_half.write_all(&out).await {
            break format!("write: {e}");
        }
    };
    let _ = control.send(Control::Ended { conn, why }).await;
}

// ---------------------------------------------------------------------------------------------
// Listeners
// ---------------------------------------------------------------------------------------------

type Routes<S> = BTreeMap<(ServerId, Link), mpsc::Sender<Control<S>>>;

/// Accepts connections on one port; each must send a valid HELLO for this port within
/// `connect_timeout`, and is then handed to its link task.
async fn accept_loop<L>(
    mut listener: L,
    link: Link,
    config: Arc<PeerNetConfig>,
    routes: Arc<Routes<L::Stream>>,
) where
    L: Listener,
    L::Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(config.handshakes_max.max(1)));
    let mut handshakes = JoinSet::new();
    loop {
        while handshakes.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(?link, "accept failed: {e}");
                tokio::time::sleep(config.backoff_min).await;
                continue;
            }
        };
        let config = config.clone();
        let routes = routes.clone();
        handshakes.spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(config.connect_timeout, read_hello(stream)).await {
                Ok(Ok((stream, hello, buffered))) => {
                    route(stream, hello, buffered, from, link, &config, &routes).await;
                }
                Ok(Err(why)) => warn!(%from, ?link, "refused connection: {why}"),
                Err(_) => warn!(%from, ?link, "refused connection: no HELLO in time"),
            }
        });
    }
}

/// Reads the first frame, which must be a HELLO; returns it with whatever followed it.
async fn read_hello<S>(mut stream: S) -> Result<(S, Hello, BytesMut), String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        match decode_frame(&mut buf, HELLO_FRAME_MAX) {
            Ok(Some(Frame::Hello(hello))) => return Ok((stream, hello, buf)),
            Ok(Some(Frame::Msg(msg))) => return Err(format!("{} before HELLO", msg.name())),
            Ok(None) => {}
            Err(e) => return Err(format!("bad HELLO: {e}")),
        }
        buf.reserve(READ_CHUNK);
        match stream.read_buf(&mut buf).await {
            Ok(0) => return Err("closed before HELLO".to_owned()),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Checks a HELLO against the port and the membership, then hands the connection over.
async fn route<S>(
    stream: S,
    hello: Hello,
    buffered: BytesMut,
    from: SocketAddr,
    link: Link,
    config: &PeerNetConfig,
    routes: &Routes<S>,
) {
    let sid = hello.sid();
    let refuse = |why: &str| warn!(%from, %sid, ?link, "refused connection: {why}");
    if hello.link() != link {
        return refuse("HELLO names the other port");
    }
    if sid == config.me {
        return refuse("HELLO claims our own sid");
    }
    let Some(member) = config.members.get(&sid) else {
        return refuse("not a member");
    };
    if let Hello::Quorum { learner, .. } = hello {
        if learner != member.learner {
            return refuse("learner type differs from the configuration");
        }
    }
    if let Some(route) = routes.get(&(sid, link)) {
        let _ = route.send(Control::Inbound { stream, buffered }).await;
    }
}
