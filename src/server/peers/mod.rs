//! The election and quorum links between servers, on tokio, through the [`Transport`] seam.
//!
//! Status: an ensemble member's driver (`server/driver`) starts one [`PeerNet`] over
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
//! learners on its quorum port (a new connection from a learner replaces the old one; "new" is
//! accept order: on both ports a connection accepted before the one a link took in last is
//! refused, however late its HELLO finishes, so a peer's abandoned connection never delivers
//! after the one that replaced it — verification.md §10). Nothing
//! redials a broken quorum link: in ZAB a learner that loses its leader goes back to election.
//! [`PeerNet::disconnect`] closes one (`Effect::Disconnect`) without reporting it.
//!
//! Broken links and the fence. When a link breaks (EOF, an IO error, an undecodable frame, a
//! message of the wrong link, a full outbound queue, a replaced connection, or a learner that
//! could not reach its leader) everything queued on it is discarded and
//! [`PeerEvent::Lost`] is delivered after the link's last message. From that moment until the
//! driver has taken that event from its inbox and said so ([`PeerNet::to_input`] or
//! [`PeerNet::acknowledge_lost`]), `send` to that peer on that link is refused
//! ([`SendError::Fenced`]). So, as in the models (`models/src/cluster/world.rs`, where a break empties
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
//!
//! Files: this one holds the driver-facing API ([`PeerNet`]) and the state it shares with each
//! link task (`SlotHandle`); `link.rs` is the link task, `connection.rs` one connection's reader
//! and writer tasks, `accept.rs` the two listeners and the HELLO check.

mod accept;
mod connection;
mod link;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;

use crate::protocol::{Input, PeerMsg, ServerId};
use crate::server::transport::{Listener, Transport};
use crate::wire::peer::{LearnerType, ELECTION_FRAME_MAX, QUORUM_FRAME_MAX};
use accept::accept_loop;
use link::LinkTask;

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
                let (task, control_tx) = LinkTask::new(
                    peer,
                    link,
                    transport.clone(),
                    config.clone(),
                    slot.clone(),
                    inbox.clone(),
                );
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
