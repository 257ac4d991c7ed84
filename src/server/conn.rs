//! One client connection's state as the rest of the server sees it: [`ConnHandle`], its bounded
//! outbound queue ([`Outbound`], drained to the socket by [`write_loop`]), its counters and
//! authenticated ids, and the table of open connections ([`Connections`]). A leaf of
//! `src/server` (`server/mod.rs` "Layers"): the connection's reader (`client.rs`), the driver's
//! applier and syncs, the read path (`ops.rs`) and the four-letter words all reach a connection
//! through this module, and it reaches none of them.
//!
//! Both the driver (write replies, watch events) and the connection's reader (read replies)
//! push to one queue, so everything the client receives is in one order. A full queue, or more
//! than [`OUTBOUND_HARD_BYTES`] queued (counted by [`OutboundBytes`], loom-checked), closes the
//! connection (the driver never blocks on one connection); the reader waits below
//! [`OUTBOUND_SOFT_BYTES`] before serving a read.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, Notify};

use crate::server::clock::wall_clock_ms;
use crate::server::outbound::OutboundBytes;
use crate::server::stats::ServerStats;
use crate::wire::client::ReplyHeader;
use crate::wire::jute::Record;
use crate::wire::records::Id;
use crate::wire::{write_frame, FRAME_PREFIX_LEN};

/// The read half of a client connection (a TCP stream's, or a simulated one's).
pub type ReadHalf = Box<dyn AsyncRead + Unpin + Send>;
/// The write half of a client connection.
pub type WriteHalf = Box<dyn AsyncWrite + Unpin + Send>;

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
    server_stats: Arc<ServerStats>,
    out: mpsc::Sender<Outbound>,
}

/// A handle to one connection.
pub type ConnHandle = Arc<ConnShared>;

impl ConnShared {
    /// A connection from `peer` before its handshake (no session; authenticated as
    /// `ip:<addr>`), whose frames go to the writer task through `out`.
    pub fn new(
        conn_id: u64,
        peer: SocketAddr,
        server_stats: Arc<ServerStats>,
        out: mpsc::Sender<Outbound>,
    ) -> ConnShared {
        ConnShared {
            conn_id,
            peer,
            session_id: AtomicI64::new(0),
            timeout_ms: AtomicI32::new(0),
            established_ms: wall_clock_ms(),
            auth_ids: Mutex::new(AuthIds::with(Id {
                scheme: "ip".into(),
                id: peer.ip().to_string(),
            })),
            outstanding: AtomicUsize::new(0),
            writes_done: Notify::new(),
            closing: AtomicBool::new(false),
            close_notify: Notify::new(),
            stats: ConnStats::default(),
            queued_bytes: OutboundBytes::new(OUTBOUND_HARD_BYTES),
            drained: Notify::new(),
            server_stats,
            out,
        }
    }

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
    pub fn record_latency(&self, started: Instant) {
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
        s.last_response_ms.store(wall_clock_ms(), Ordering::Relaxed);
        self.server_stats.record_latency(ms);
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

/// Open connections, by id and by session.
#[derive(Debug, Default)]
pub struct Connections {
    inner: Mutex<ConnTable>,
}

#[derive(Debug, Default)]
struct ConnTable {
    by_id: BTreeMap<u64, ConnHandle>,
    by_session: BTreeMap<i64, ConnHandle>,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConnTable> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection.
    pub fn insert(&self, conn: ConnHandle) {
        self.lock().by_id.insert(conn.conn_id, conn);
    }

    /// Unregisters a connection (and its session binding if it still holds it).
    pub fn remove(&self, conn: &ConnHandle) {
        let mut t = self.lock();
        t.by_id.remove(&conn.conn_id);
        let sid = conn.session_id();
        if t.by_session
            .get(&sid)
            .is_some_and(|c| c.conn_id == conn.conn_id)
        {
            t.by_session.remove(&sid);
        }
    }

    /// Binds `session_id` to `conn`; returns the connection that held it before, if another.
    pub fn bind_session(&self, session_id: i64, conn: &ConnHandle) -> Option<ConnHandle> {
        let old = self.lock().by_session.insert(session_id, Arc::clone(conn));
        old.filter(|o| o.conn_id != conn.conn_id)
    }

    /// The connection with id `conn_id`.
    pub fn by_conn_id(&self, conn_id: u64) -> Option<ConnHandle> {
        self.lock().by_id.get(&conn_id).cloned()
    }

    /// The connection currently serving `session_id`.
    pub fn by_session(&self, session_id: i64) -> Option<ConnHandle> {
        self.lock().by_session.get(&session_id).cloned()
    }

    /// Every open connection, in id order.
    pub fn all(&self) -> Vec<ConnHandle> {
        self.lock().by_id.values().cloned().collect()
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drains the outbound queue to the socket, flushing whenever the queue runs dry.
pub async fn write_loop(write_half: WriteHalf, mut rx: mpsc::Receiver<Outbound>, conn: ConnHandle) {
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
