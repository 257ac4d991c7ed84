//! The link task: one per (peer, [`Link`]), the only owner of that link's connection. It dials
//! (election links, and a learner's quorum link to its leader), adopts accepted connections,
//! applies ZooKeeper's one-connection-per-pair rule, backs off, and on a break discards the queue
//! and delivers [`PeerEvent::Lost`] after the link's last message (the fence: `peers/mod.rs`).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::connection::{read_loop, write_loop};
use super::{Link, LinkState, PeerEvent, PeerNetConfig, Request, SlotHandle, CONTROL_CAPACITY};
use crate::protocol::ServerId;
use crate::server::transport::Transport;
use crate::wire::peer::{encode_hello, Hello, LearnerType};

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

pub(super) enum Control<S> {
    /// An accepted connection whose HELLO named this link; `buffered` holds what followed it;
    /// `accepted` is its place in its listener's accept order.
    Inbound {
        stream: S,
        buffered: BytesMut,
        accepted: u64,
    },
    /// A dial finished (on success our HELLO is written).
    Dialed { attempt: u64, result: io::Result<S> },
    /// A connection's reader or writer stopped.
    Ended { conn: u64, why: String },
}

pub(super) struct LinkTask<T: Transport, E> {
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
    /// Accept number of the latest inbound connection taken in (0: none yet).
    newest_inbound: u64,
}

/// The inbox is closed: the driver is gone, so the link task stops.
struct InboxClosed;

impl<T, E> LinkTask<T, E>
where
    T: Transport,
    E: From<PeerEvent> + Send + 'static,
{
    /// The task for (`peer`, `link`), with nothing connected yet; the sender is the task's
    /// control channel (accepted connections are routed to it).
    pub(super) fn new(
        peer: ServerId,
        link: Link,
        transport: T,
        config: Arc<PeerNetConfig>,
        slot: Arc<SlotHandle>,
        inbox: mpsc::Sender<E>,
    ) -> (Self, mpsc::Sender<Control<T::Stream>>) {
        let (control_tx, control_rx) = mpsc::channel(CONTROL_CAPACITY);
        let backoff = config.backoff_min;
        let task = LinkTask {
            peer,
            link,
            transport,
            config,
            slot,
            inbox,
            control_rx,
            control_tx: control_tx.clone(),
            conn: None,
            dial: None,
            attempts: 0,
            conn_ids: 0,
            backoff,
            next_dial: None,
            learner_attempts_left: 0,
            newest_inbound: 0,
        };
        (task, control_tx)
    }

    pub(super) async fn run(mut self) {
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
            Control::Inbound {
                stream,
                buffered,
                accepted,
            } => self.on_inbound(stream, buffered, accepted).await,
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
        accepted: u64,
    ) -> Result<(), InboxClosed> {
        if accepted < self.newest_inbound {
            // Accepted before the connection we took in last, its HELLO finished later: the
            // peer dialled it first and has abandoned it (it dials again only after that). What
            // it carries was sent before what the newer one carries; delivering it now would
            // break FIFO across the peer's reconnection (verification.md §10, seed 527).
            info!(peer = %self.peer, link = ?self.link, "refused a connection older than the current one");
            drop(stream);
            return Ok(());
        }
        self.newest_inbound = accepted;
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
