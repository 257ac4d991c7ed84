//! One client connection: four-letter words, the session handshake, then the request loop
//! (mini-redis `Handler`). Spec: `spec/server.md` "Connection lifecycle"; facts: reference A.1–A.4.
//!
//! Each connection is two tasks: this reader, which decodes frames and dispatches them, and a
//! writer that drains the connection's bounded outbound queue ([`Outbound`]) to the socket. Both
//! the driver (write replies, watch events) and this reader (read replies) push to that queue,
//! so everything the client receives is in one order. Per-session FIFO: a read waits until every
//! write this connection sent to the driver has been answered ([`ConnShared::wait_writes`]),
//! exactly as ZooKeeper's CommitProcessor holds a session's reads behind its pending writes.
//!
//! The first frame must arrive within `nio.sessionlessCnxnTimeout` of accept, so a silent or
//! half-sent handshake cannot hold its `maxClientCnxns` slot for ever. Error codes come from
//! [`ZkError`], the one table of `KeeperException.Code`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::server::outbound::OutboundBytes;
use crate::server::sessions::{password_for, password_matches};
use crate::server::shutdown::Shutdown;
use crate::server::syncs::SyncWaiter;
use crate::server::{admin, driver::NodeMsg, ops, Shared};
use crate::tree::ZkError;
use crate::wire::client::{
    AuthPacket, ConnectRequest, ConnectResponse, ReplyHeader, Request, RequestHeader,
};
use crate::wire::fourlw::FourLetterWord;
use crate::wire::jute::Record;
use crate::wire::records::Id;
use crate::wire::{frame_length, write_frame, DecodeError, FRAME_PREFIX_LEN};

/// Frames a connection may have queued for its socket before it is cut off as too slow.
pub const OUTBOUND_QUEUE_FRAMES: usize = 16_384;
/// Queued reply bytes above which the reader stops serving reads until the socket drains
/// (backpressure on a client that pipelines reads faster than it reads replies).
pub const OUTBOUND_SOFT_BYTES: usize = 16 * 1024 * 1024;
/// Queued bytes at which the connection is cut off (events and write replies cannot wait: the
/// driver never blocks on one connection).
pub const OUTBOUND_HARD_BYTES: usize = 256 * 1024 * 1024;

/// How long a closing connection's writer may take to flush its queue.
pub const WRITER_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// What the writer task sends next.
#[derive(Debug)]
pub enum Outbound {
    /// One complete length-prefixed frame.
    Frame(Vec<u8>),
    /// Flush, then close the socket.
    Close,
}

/// Per-connection counters for `stat`, `cons` and `mntr`.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Packets received.
    pub received: AtomicU64,
    /// Packets sent.
    pub sent: AtomicU64,
    /// Last client xid.
    pub last_cxid: AtomicI32,
    /// Last zxid sent in a reply.
    pub last_zxid: AtomicI64,
    /// Last operation's short name (ZooKeeper's `lop`).
    pub last_op: Mutex<String>,
    /// Latency bookkeeping in ms: min, max, total, count.
    pub latency_min_ms: AtomicU64,
    /// Largest latency.
    pub latency_max_ms: AtomicU64,
    /// Sum of latencies.
    pub latency_total_ms: AtomicU64,
    /// Number of latencies.
    pub latency_count: AtomicU64,
    /// Last response time (ms since the Unix epoch).
    pub last_response_ms: AtomicI64,
    /// Last latency.
    pub last_latency_ms: AtomicU64,
}

/// State of one connection shared by its reader, its writer and the driver.
#[derive(Debug)]
pub struct ConnShared {
    /// Server-unique connection id.
    pub conn_id: u64,
    /// Remote address.
    pub peer: SocketAddr,
    /// The session, once the handshake made one (0 before).
    pub session_id: AtomicI64,
    /// Negotiated timeout.
    pub timeout_ms: AtomicI32,
    /// Established at (ms since the Unix epoch).
    pub established_ms: i64,
    /// Authenticated ids: always `ip:<addr>`, plus digest/super ids from auth packets.
    pub auth_ids: Mutex<AuthIds>,
    /// Writes sent to the driver and not yet answered.
    pub outstanding: AtomicUsize,
    /// Signalled whenever `outstanding` drops.
    pub writes_done: Notify,
    /// Set once the connection must close; the reader stops at the next frame boundary.
    pub closing: AtomicBool,
    /// Wakes the reader when `closing` is set.
    pub close_notify: Notify,
    /// Counters.
    pub stats: ConnStats,
    /// Bytes queued for the socket and not yet written.
    queued_bytes: OutboundBytes,
    /// Signalled by the writer after it wrote a batch.
    drained: Notify,
    server_stats: Arc<crate::server::ServerStats>,
    out: mpsc::Sender<Outbound>,
}

/// A handle to one connection.
pub type ConnHandle = Arc<ConnShared>;

impl ConnShared {
    /// Queues a frame; a full or closed queue closes the connection (a client that does not
    /// read its replies is cut off; it reconnects and re-registers its watches).
    pub fn send(&self, frame: Vec<u8>) -> bool {
        // A reply frame: length, xid, zxid, err. Remember the zxid of real replies for `cons`.
        if frame.len() >= 20 {
            let xid = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            if xid != crate::wire::client::NOTIFICATION_XID {
                let mut z = [0u8; 8];
                z.copy_from_slice(&frame[8..16]);
                self.stats
                    .last_zxid
                    .store(i64::from_be_bytes(z), Ordering::Relaxed);
            }
        }
        self.enqueue(frame, true)
    }

    /// Queues four-letter-word text (not counted as a packet, as ZooKeeper).
    pub fn send_text(&self, text: String) -> bool {
        self.enqueue(text.into_bytes(), false)
    }

    fn enqueue(&self, frame: Vec<u8>, count: bool) -> bool {
        let len = frame.len();
        // Counted before the frame is visible to the writer, which subtracts after writing it.
        if !self.queued_bytes.reserve(len) {
            tracing::warn!(conn = self.conn_id, peer = %self.peer, "outbound bytes over the limit; closing");
            self.close();
            return false;
        }
        match self.out.try_send(Outbound::Frame(frame)) {
            Ok(()) => {
                if count {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    self.server_stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            Err(e) => {
                self.queued_bytes.release(len);
                if matches!(e, mpsc::error::TrySendError::Full(_)) {
                    tracing::warn!(conn = self.conn_id, peer = %self.peer, "outbound queue full; closing");
                }
                self.close();
                false
            }
        }
    }

    /// Queues a header-only reply.
    pub fn send_reply(&self, header: ReplyHeader) -> bool {
        let mut frame = Vec::with_capacity(16 + FRAME_PREFIX_LEN);
        write_frame(&mut frame, |w| header.encode(w));
        self.send(frame)
    }

    /// Asks the connection to close after what is already queued has been written.
    pub fn close(&self) {
        if !self.closing.swap(true, Ordering::SeqCst) {
            let _ = self.out.try_send(Outbound::Close);
            self.close_notify.notify_waiters();
            self.close_notify.notify_one();
        }
    }

    /// Whether the connection is closing.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// The session id (0 before the handshake).
    pub fn session_id(&self) -> i64 {
        self.session_id.load(Ordering::SeqCst)
    }

    /// Waits until the queued bytes are below [`OUTBOUND_SOFT_BYTES`] (or the connection closes).
    pub async fn wait_for_room(&self) {
        loop {
            let drained = self.drained.notified();
            if self.queued_bytes.queued() < OUTBOUND_SOFT_BYTES || self.is_closing() {
                return;
            }
            drained.await;
        }
    }

    fn wrote(&self, len: usize) {
        self.queued_bytes.release(len);
    }

    /// Marks one write answered (called by the driver after queueing its reply).
    pub fn write_answered(&self) {
        self.outstanding.fetch_sub(1, Ordering::SeqCst);
        self.writes_done.notify_waiters();
        self.writes_done.notify_one();
    }

    /// Waits until every write of this connection has been answered.
    pub async fn wait_writes(&self) {
        loop {
            let notified = self.writes_done.notified();
            if self.outstanding.load(Ordering::SeqCst) == 0 || self.is_closing() {
                return;
            }
            notified.await;
        }
    }

    /// A copy of the authenticated ids, in ZooKeeper's order (see [`AuthIds`]).
    pub fn auth_ids(&self) -> Vec<Id> {
        self.auth_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .to_vec()
    }

    /// Records a latency sample (ms) for `cons`/`srvr`.
    pub fn record_latency(&self, started: Instant, shared: &Shared) {
        let ms = started.elapsed().as_millis() as u64;
        let s = &self.stats;
        s.latency_count.fetch_add(1, Ordering::Relaxed);
        s.latency_total_ms.fetch_add(ms, Ordering::Relaxed);
        s.latency_max_ms.fetch_max(ms, Ordering::Relaxed);
        if s.latency_count.load(Ordering::Relaxed) == 1 {
            s.latency_min_ms.store(ms, Ordering::Relaxed);
        } else {
            s.latency_min_ms.fetch_min(ms, Ordering::Relaxed);
        }
        s.last_latency_ms.store(ms, Ordering::Relaxed);
        s.last_response_ms
            .store(crate::server::wall_clock_ms(), Ordering::Relaxed);
        shared.stats.record_latency(ms);
    }
}

/// A connection's authenticated ids as ZooKeeper keeps them: `ServerCnxn.authInfo` is a
/// `ConcurrentHashMap` key set, so an id is held once and the ids iterate in hash-table order,
/// which clients see in whoAmI and in what an `auth` ACL expands to. This replays the map:
/// bins indexed by the spread jute `Id.hashCode`, new keys appended to their bin, the table
/// doubled when it is three-quarters full with `transfer`'s split of each bin. (A bin of 8 or more
/// colliding keys makes Java grow the table early or turn the bin into a tree; no connection holds
/// that many ids, so that is not replayed.)
#[derive(Debug, Clone, Default)]
pub struct AuthIds {
    /// `(spread hash, id)` per bin, in bin order.
    bins: Vec<Vec<(u32, Id)>>,
    len: usize,
}

impl AuthIds {
    /// `ConcurrentHashMap`'s default table size.
    const INITIAL_BINS: usize = 16;

    /// A set holding `id`.
    pub fn with(id: Id) -> AuthIds {
        let mut ids = AuthIds::default();
        ids.insert(id);
        ids
    }

    /// Adds `id` unless it is held already (`ServerCnxn.addAuthInfo`); true if it was added.
    pub fn insert(&mut self, id: Id) -> bool {
        if self.bins.is_empty() {
            self.bins = vec![Vec::new(); Self::INITIAL_BINS];
        }
        let hash = spread(java_id_hash(&id));
        let n = self.bins.len();
        let bin = &mut self.bins[hash as usize & (n - 1)];
        if bin.iter().any(|(_, held)| *held == id) {
            return false;
        }
        bin.push((hash, id));
        self.len += 1;
        if self.len >= n - (n >> 2) {
            self.double();
        }
        true
    }

    /// `ConcurrentHashMap.transfer`: bin `i` splits into `i` and `i + n` by hash bit `n`. The
    /// last run of nodes going the same way keeps its order; each node before it is pushed to
    /// the front of its new bin.
    fn double(&mut self) {
        let n = self.bins.len();
        let mut next: Vec<Vec<(u32, Id)>> = vec![Vec::new(); 2 * n];
        for (i, bin) in std::mem::take(&mut self.bins).into_iter().enumerate() {
            let high = |hash: u32| hash as usize & n != 0;
            let run_start = (1..bin.len())
                .rev()
                .find(|&k| high(bin[k].0) != high(bin[k - 1].0))
                .unwrap_or(0);
            let mut lo = std::collections::VecDeque::new();
            let mut hi = std::collections::VecDeque::new();
            let mut nodes = bin.into_iter();
            let prefix: Vec<_> = nodes.by_ref().take(run_start).collect();
            for node in nodes {
                if high(node.0) {
                    hi.push_back(node);
                } else {
                    lo.push_back(node);
                }
            }
            for node in prefix {
                if high(node.0) {
                    hi.push_front(node);
                } else {
                    lo.push_front(node);
                }
            }
            next[i] = lo.into();
            next[i + n] = hi.into();
        }
        self.bins = next;
    }

    /// The ids in iteration order.
    pub fn to_vec(&self) -> Vec<Id> {
        self.bins
            .iter()
            .flatten()
            .map(|(_, id)| id.clone())
            .collect()
    }
}

/// Java's `String.hashCode` (over UTF-16 code units, wrapping).
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The jute-generated `Id.hashCode`: `37 * (37 * 17 + scheme.hashCode()) + id.hashCode()`.
fn java_id_hash(id: &Id) -> i32 {
    let h = 37i32
        .wrapping_mul(17)
        .wrapping_add(java_string_hash(&id.scheme));
    h.wrapping_mul(37).wrapping_add(java_string_hash(&id.id))
}

/// `ConcurrentHashMap.spread`: the high half folded into the low, sign bit cleared.
fn spread(hash: i32) -> u32 {
    let h = hash as u32;
    (h ^ (h >> 16)) & 0x7FFF_FFFF
}

/// Why a connection ended (logged at debug, or warn for protocol violations).
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Socket error or EOF.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A frame or record the server cannot accept.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The client's last seen zxid is ahead of this server.
    #[error("client has seen zxid {client:#x}, ahead of this server's {server:#x}")]
    ClientAhead {
        /// The client's lastZxidSeen.
        client: i64,
        /// Our last zxid.
        server: i64,
    },
    /// The first frame did not arrive within `nio.sessionlessCnxnTimeout`.
    #[error("no complete ConnectRequest within {0:?} of accept")]
    HandshakeTimeout(std::time::Duration),
    /// The driver is gone (shutting down).
    #[error("server shutting down")]
    ShuttingDown,
    /// The server did not serve clients (it is not in broadcast) within the session timeout.
    #[error("not serving clients (no leader in broadcast) within {0:?}")]
    NotServing(std::time::Duration),
}

/// One connection's reader task.
pub struct Handler {
    shared: Arc<Shared>,
    conn_id: u64,
    peer: SocketAddr,
    shutdown: Shutdown,
}

impl Handler {
    /// A handler for a freshly accepted connection.
    pub fn new(shared: Arc<Shared>, conn_id: u64, peer: SocketAddr, shutdown: Shutdown) -> Self {
        Handler {
            shared,
            conn_id,
            peer,
            shutdown,
        }
    }

    /// Serves the connection until it closes, then unregisters it.
    pub async fn run(mut self, socket: TcpStream) {
        let (read_half, write_half) = socket.into_split();
        let (out_tx, out_rx) = mpsc::channel(OUTBOUND_QUEUE_FRAMES);
        let conn = Arc::new(ConnShared {
            conn_id: self.conn_id,
            peer: self.peer,
            session_id: AtomicI64::new(0),
            timeout_ms: AtomicI32::new(0),
            established_ms: crate::server::wall_clock_ms(),
            auth_ids: Mutex::new(AuthIds::with(Id {
                scheme: "ip".into(),
                id: self.peer.ip().to_string(),
            })),
            outstanding: AtomicUsize::new(0),
            writes_done: Notify::new(),
            closing: AtomicBool::new(false),
            close_notify: Notify::new(),
            stats: ConnStats::default(),
            queued_bytes: OutboundBytes::new(OUTBOUND_HARD_BYTES),
            drained: Notify::new(),
            server_stats: Arc::clone(&self.shared.stats),
            out: out_tx,
        });
        self.shared.conns.insert(Arc::clone(&conn));
        let writer = tokio::spawn(write_loop(write_half, out_rx, Arc::clone(&conn)));
        let mut reader = BufReader::with_capacity(64 * 1024, read_half);
        let result = self.serve(&mut reader, &conn).await;
        match &result {
            Ok(()) => tracing::debug!(conn = self.conn_id, peer = %self.peer, "connection closed"),
            Err(ConnError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tracing::debug!(conn = self.conn_id, peer = %self.peer, "client closed the connection")
            }
            Err(ConnError::Io(e)) => {
                tracing::debug!(conn = self.conn_id, peer = %self.peer, error = %e, "socket error")
            }
            Err(e @ ConnError::HandshakeTimeout(_)) => {
                // Not a warning: an idle flood would turn it into one line per connection.
                tracing::debug!(conn = self.conn_id, peer = %self.peer, error = %e, "closing connection")
            }
            Err(e) => {
                tracing::warn!(conn = self.conn_id, peer = %self.peer, error = %e, "closing connection")
            }
        }
        conn.close();
        self.shared.conns.remove(&conn);
        self.shared
            .tree
            .lock()
            .await
            .remove_watcher(crate::server::ops::watcher_of(&conn));
        // The writer ends when it has written Close or its queue is closed.
        // Let the writer flush what is queued (bounded: a client that stopped reading must not
        // pin this task, its IP slot and its memory).
        let mut writer = writer;
        if tokio::time::timeout(WRITER_DRAIN, &mut writer)
            .await
            .is_err()
        {
            tracing::debug!(
                conn = self.conn_id,
                "writer did not drain in time; aborting it"
            );
            writer.abort();
        }
    }

    async fn serve(
        &mut self,
        reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        conn: &ConnHandle,
    ) -> Result<(), ConnError> {
        let max = self.shared.config.jute_max_buffer_bytes as usize;
        // A connection without a session may hold its IP slot only so long (ZooKeeper's
        // NIOServerCnxnFactory expires sessionless connections after
        // `zookeeper.nio.sessionlessCnxnTimeout`): the whole first frame must arrive in time.
        let bound = std::time::Duration::from_millis(u64::from(
            self.shared.config.sessionless_cnxn_timeout_ms,
        ));
        let first = tokio::select! {
            r = tokio::time::timeout(bound, read_first_frame(reader, max)) => match r {
                Ok(first) => first?,
                Err(_) => return Err(ConnError::HandshakeTimeout(bound)),
            },
            _ = self.shutdown.recv() => return Ok(()),
        };
        conn.stats.received.fetch_add(1, Ordering::Relaxed);
        self.shared.stats.received.fetch_add(1, Ordering::Relaxed);
        let payload = match first {
            FirstFrame::FourLetterWord(word, arg) => {
                let text = admin::four_letter_word(&self.shared, word, &arg).await;
                tracing::debug!(conn = self.conn_id, word = word.name(), "four-letter word");
                if !text.is_empty() {
                    conn.send_text(text);
                }
                conn.close();
                return Ok(());
            }
            FirstFrame::Connect(payload) => payload,
        };
        let request = ConnectRequest::from_bytes(&payload)?;
        // Only a server in broadcast takes sessions; wait a session timeout for it (ZooKeeper
        // closes the connection at once; the client then tries the next server).
        let cfg = &self.shared.config;
        let wait = std::time::Duration::from_millis(u64::from(
            (request.timeout_ms.max(0) as u32)
                .clamp(cfg.min_session_timeout_ms, cfg.max_session_timeout_ms),
        ));
        let mut serving = self.shared.serving.subscribe();
        tokio::select! {
            r = tokio::time::timeout(wait, serving.wait_for(|s| *s)) => {
                if !matches!(r, Ok(Ok(_))) {
                    return Err(ConnError::NotServing(wait));
                }
            }
            _ = self.shutdown.recv() => return Ok(()),
        }
        if !self.handshake(conn, &request).await? {
            return Ok(());
        }
        loop {
            let mut prefix = [0u8; FRAME_PREFIX_LEN];
            tokio::select! {
                r = reader.read_exact(&mut prefix) => { r?; }
                _ = self.shutdown.recv() => return Ok(()),
                _ = conn.close_notify.notified() => return Ok(()),
            }
            if conn.is_closing() {
                return Ok(());
            }
            let len = frame_length(&prefix, max)?.unwrap_or(0);
            let mut payload = vec![0u8; len];
            reader.read_exact(&mut payload).await?;
            conn.stats.received.fetch_add(1, Ordering::Relaxed);
            self.shared.stats.received.fetch_add(1, Ordering::Relaxed);
            if !self.on_frame(conn, &payload).await? {
                return Ok(());
            }
        }
    }

    /// Answers the ConnectRequest. Returns false when the connection must close.
    async fn handshake(&self, conn: &ConnHandle, req: &ConnectRequest) -> Result<bool, ConnError> {
        let last_zxid = self.shared.last_zxid();
        if req.last_zxid_seen > last_zxid {
            return Err(ConnError::ClientAhead {
                client: req.last_zxid_seen,
                server: last_zxid,
            });
        }
        let cfg = &self.shared.config;
        let timeout_ms = (req.timeout_ms.max(0) as u32)
            .clamp(cfg.min_session_timeout_ms, cfg.max_session_timeout_ms);
        let read_only = req.reply_read_only(false);
        let session_id = if req.session_id == 0 {
            let (tx, rx) = oneshot::channel();
            let msg = NodeMsg::CreateSession {
                timeout_ms,
                reply: tx,
            };
            self.shared
                .node_tx
                .send(msg)
                .await
                .map_err(|_| ConnError::ShuttingDown)?;
            rx.await.map_err(|_| ConnError::ShuttingDown)?
        } else {
            let valid = password_matches(req.session_id, &req.passwd)
                && self.shared.with_sessions_now(|t, now| {
                    if t.get(req.session_id).is_some() {
                        t.set_timeout(req.session_id, timeout_ms, now);
                        true
                    } else {
                        false
                    }
                });
            if !valid {
                tracing::info!(
                    conn = self.conn_id,
                    session = format_args!("{:#x}", req.session_id),
                    "invalid session (expired, unknown or bad password)"
                );
                let resp = ConnectResponse::invalid_session(read_only);
                let mut frame = Vec::new();
                write_frame(&mut frame, |w| resp.encode(w));
                conn.send(frame);
                conn.close();
                return Ok(false);
            }
            req.session_id
        };
        conn.session_id.store(session_id, Ordering::SeqCst);
        conn.timeout_ms.store(timeout_ms as i32, Ordering::SeqCst);
        // A session lives on one connection: a reconnect takes it over and closes the old one.
        if let Some(old) = self.shared.conns.bind_session(session_id, conn) {
            tracing::info!(
                session = format_args!("{session_id:#x}"),
                "session moved; closing old connection"
            );
            old.close();
        }
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout_ms as i32,
            session_id,
            passwd: password_for(session_id),
            read_only,
        };
        let mut frame = Vec::new();
        write_frame(&mut frame, |w| resp.encode(w));
        conn.send(frame);
        tracing::info!(
            conn = self.conn_id,
            peer = %self.peer,
            session = format_args!("{session_id:#x}"),
            timeout_ms,
            resumed = req.session_id != 0,
            "session established"
        );
        Ok(true)
    }

    /// Dispatches one request frame. Returns false when the connection must close.
    async fn on_frame(&self, conn: &ConnHandle, payload: &[u8]) -> Result<bool, ConnError> {
        let started = Instant::now();
        let header = RequestHeader::from_bytes(payload)?;
        conn.stats.last_cxid.store(header.xid, Ordering::Relaxed);
        let session_id = conn.session_id();
        if !self
            .shared
            .sessions
            .touch(session_id, || self.shared.now_ms())
        {
            // Expired or closing: ZooKeeper drops the connection; the client's reconnect is told
            // the session is gone.
            tracing::info!(
                session = format_args!("{session_id:#x}"),
                "request on a dead session; closing"
            );
            return Ok(false);
        }
        let body = payload.get(8..).unwrap_or_default();
        let request = match Request::decode(header.opcode, body) {
            Ok(r) => r,
            Err(DecodeError::UnknownOpCode(op)) => {
                tracing::warn!(conn = self.conn_id, opcode = op, "unknown opcode; closing");
                let h = ReplyHeader {
                    xid: header.xid,
                    zxid: -1,
                    err: ZkError::Unimplemented.code(),
                };
                conn.send_reply(h);
                return Ok(false);
            }
            Err(e) => {
                tracing::warn!(conn = self.conn_id, opcode = header.opcode, error = %e, "malformed request");
                conn.wait_writes().await;
                let h = ReplyHeader {
                    xid: header.xid,
                    zxid: self.shared.last_zxid(),
                    err: ZkError::MarshallingError.code(),
                };
                conn.send_reply(h);
                return Ok(true);
            }
        };
        set_last_op(conn, &request);
        match request {
            Request::Auth(auth) => return Ok(self.on_auth(conn, header.xid, &auth)),
            Request::CloseSession => {
                self.submit_write(conn, header.xid, Request::CloseSession, started)
                    .await?;
                // Nothing after a closeSession may run under the session (ZooKeeper's
                // PrepRequestProcessor marks it closing): stop reading, let the driver queue
                // the reply (it then closes the connection), and end.
                self.shared
                    .with_sessions(|t| t.set_closing(conn.session_id()));
                conn.wait_writes().await;
                return Ok(false);
            }
            r if r.is_write() => self.submit_write(conn, header.xid, r, started).await?,
            Request::Sync(r) => self.submit_sync(conn, header.xid, r.path, started).await?,
            r => {
                conn.wait_writes().await;
                conn.wait_for_room().await;
                if conn.is_closing() {
                    return Ok(false);
                }
                let keep = ops::serve_read(&self.shared, conn, header.xid, r).await;
                conn.record_latency(started, &self.shared);
                return Ok(keep);
            }
        }
        Ok(true)
    }

    async fn submit_write(
        &self,
        conn: &ConnHandle,
        xid: i32,
        request: Request,
        started: Instant,
    ) -> Result<(), ConnError> {
        conn.outstanding.fetch_add(1, Ordering::SeqCst);
        let msg = NodeMsg::Write {
            conn: Arc::clone(conn),
            session_id: conn.session_id(),
            xid,
            request,
            auth_ids: conn.auth_ids(),
            started,
        };
        if self.shared.node_tx.send(msg).await.is_err() {
            conn.write_answered();
            return Err(ConnError::ShuttingDown);
        }
        Ok(())
    }

    /// A `sync` goes to the driver, which asks the core for a confirmed read index
    /// (`server/syncs.rs`); it counts as an outstanding write, so later reads wait for its reply.
    async fn submit_sync(
        &self,
        conn: &ConnHandle,
        xid: i32,
        path: String,
        started: Instant,
    ) -> Result<(), ConnError> {
        conn.outstanding.fetch_add(1, Ordering::SeqCst);
        let msg = NodeMsg::Sync(SyncWaiter {
            conn: Arc::clone(conn),
            xid,
            path,
            started,
        });
        if self.shared.node_tx.send(msg).await.is_err() {
            conn.write_answered();
            return Err(ConnError::ShuttingDown);
        }
        Ok(())
    }

    /// Auth packet (`ZooKeeperServer.processPacket`): `digest` adds `digest:user:hash` (and
    /// `super:` when it matches the configured super digest), `ip` is a no-op; any other scheme
    /// gets AUTHFAILED and the connection closes. The reply echoes the request's xid: the Java
    /// client and kazoo send auth as xid -4, go-zookeeper with an ordinary xid.
    fn on_auth(&self, conn: &ConnHandle, xid: i32, auth: &AuthPacket) -> bool {
        let ok_header = ReplyHeader {
            xid,
            zxid: 0,
            err: 0,
        };
        match auth.scheme.as_str() {
            "digest" => {
                // DigestAuthenticationProvider refuses nothing: credentials without ':' are
                // all user name (see `digest_of_auth`). Java decodes the bytes with the platform
                // charset; lossy UTF-8 is what it does under a UTF-8 locale.
                let text = String::from_utf8_lossy(&auth.auth);
                let id = crate::tree::acl::digest_of_auth(&text);
                let mut new = Vec::with_capacity(2);
                if self.shared.config.super_digest.as_deref() == Some(id.as_str()) {
                    new.push(Id {
                        scheme: "super".into(),
                        id: String::new(),
                    });
                }
                new.push(Id {
                    scheme: "digest".into(),
                    id,
                });
                let mut ids = conn.auth_ids.lock().unwrap_or_else(|e| e.into_inner());
                for id in new {
                    ids.insert(id);
                }
                drop(ids);
                conn.send_reply(ok_header);
                true
            }
            "ip" => {
                // IPAuthenticationProvider: the connection is already ip:<addr>.
                conn.send_reply(ok_header);
                true
            }
            other => self.auth_failed(conn, xid, &format!("unknown auth scheme {other:?}")),
        }
    }

    fn auth_failed(&self, conn: &ConnHandle, xid: i32, why: &str) -> bool {
        tracing::warn!(conn = self.conn_id, peer = %self.peer, why, "authentication failed; closing");
        conn.send_reply(ReplyHeader {
            xid,
            zxid: 0,
            err: ZkError::AuthFailed.code(),
        });
        false
    }
}

/// The first frame a connection sends.
enum FirstFrame {
    /// A four-letter word and its argument bytes.
    FourLetterWord(FourLetterWord, Vec<u8>),
    /// A ConnectRequest payload (not yet decoded).
    Connect(Vec<u8>),
}

/// Reads the first frame: a four-letter word (the first four bytes spell one) or the
/// length-prefixed ConnectRequest.
async fn read_first_frame(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    max: usize,
) -> Result<FirstFrame, ConnError> {
    let mut prefix = [0u8; FRAME_PREFIX_LEN];
    reader.read_exact(&mut prefix).await?;
    if let Some(word) = FourLetterWord::from_prefix(&prefix) {
        let mut arg = vec![0u8; word.arg_len()];
        reader.read_exact(&mut arg).await?;
        return Ok(FirstFrame::FourLetterWord(word, arg));
    }
    let len = frame_length(&prefix, max)?.unwrap_or(0);
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await?;
    Ok(FirstFrame::Connect(payload))
}

fn set_last_op(conn: &ConnHandle, request: &Request) {
    let name = match request {
        Request::Ping => "PING",
        Request::Create(_)
        | Request::Create2(_)
        | Request::CreateContainer(_)
        | Request::CreateTtl(_) => "CREA",
        Request::Delete(_) | Request::DeleteContainer(_) => "DELE",
        Request::Exists(_) => "EXIS",
        Request::GetData(_) => "GETD",
        Request::SetData(_) => "SETD",
        Request::GetAcl(_) => "GETA",
        Request::SetAcl(_) => "SETA",
        Request::GetChildren(_) | Request::GetChildren2(_) => "GETC",
        Request::Sync(_) => "SYNC",
        Request::Multi(_) | Request::MultiRead(_) => "MULT",
        Request::CloseSession => "CLOS",
        Request::SetWatches(_) | Request::SetWatches2(_) => "SETW",
        _ => "UNKN",
    };
    let mut last = conn.stats.last_op.lock().unwrap_or_else(|e| e.into_inner());
    last.clear();
    last.push_str(name);
}

/// Drains the outbound queue to the socket, flushing whenever the queue runs dry.
async fn write_loop(
    write_half: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Outbound>,
    conn: ConnHandle,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, write_half);
    while let Some(item) = rx.recv().await {
        let mut item = Some(item);
        while let Some(next) = item.take() {
            match next {
                Outbound::Frame(bytes) => {
                    let ok = w.write_all(&bytes).await.is_ok();
                    conn.wrote(bytes.len());
                    if !ok {
                        conn.close();
                        conn.drained.notify_waiters();
                        return;
                    }
                }
                Outbound::Close => {
                    let _ = w.flush().await;
                    let _ = w.shutdown().await;
                    conn.drained.notify_waiters();
                    return;
                }
            }
            item = rx.try_recv().ok();
        }
        let flushed = w.flush().await.is_ok();
        conn.drained.notify_waiters();
        conn.drained.notify_one();
        if !flushed {
            conn.close();
            return;
        }
    }
    let _ = w.flush().await;
    let _ = w.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    #[test]
    fn auth_ids_iterate_in_zookeepers_order() {
        // Observed on ZooKeeper 3.8.0 (whoAmI after auth digest u:p, blah and ""):
        // tests/clients/test_differential.py.
        let mut ids = AuthIds::with(id("ip", "127.0.0.1"));
        for credentials in ["u:p", "blah", "u:p", ""] {
            ids.insert(id("digest", &crate::tree::acl::digest_of_auth(credentials)));
        }
        assert_eq!(
            ids.to_vec(),
            vec![
                id("digest", "blah:W/H9kn37hnlJai5s8Ay+UMHIcUU="),
                id("digest", ":2jmj7l5rSw0yVb/vlWAYkK/YBwk="),
                id("ip", "127.0.0.1"),
                id("digest", "u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ="),
            ]
        );
    }

    #[test]
    fn auth_ids_order_survives_the_table_doubling() {
        // Java 17's ConcurrentHashMap key set of org.apache.zookeeper.data.Id (Debian's
        // zookeeper.jar) after adding ip:127.0.0.1 then digest:user0:x … digest:user39:x, which
        // doubles the table twice (16 → 64 bins).
        let expected = "127.0.0.1,user30:x,user9:x,user32:x,user10:x,user8:x,user31:x,user11:x,\
            user34:x,user12:x,user33:x,user5:x,user13:x,user36:x,user4:x,user14:x,user35:x,\
            user7:x,user15:x,user38:x,user6:x,user16:x,user37:x,user1:x,user17:x,user0:x,\
            user18:x,user39:x,user3:x,user19:x,user2:x,user20:x,user21:x,user22:x,user23:x,\
            user24:x,user25:x,user26:x,user27:x,user28:x,user29:x";
        let mut ids = AuthIds::with(id("ip", "127.0.0.1"));
        for i in 0..40 {
            assert!(ids.insert(id("digest", &format!("user{i}:x"))));
        }
        assert!(!ids.insert(id("digest", "user7:x")));
        let got: Vec<String> = ids.to_vec().into_iter().map(|i| i.id).collect();
        assert_eq!(got.join(","), expected);
    }
}
