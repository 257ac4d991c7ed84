//! One client connection: four-letter words, the session handshake, then the request loop
//! (mini-redis `Handler`). Spec: `spec/server.md` "Connection lifecycle"; facts: reference A.1–A.4.
//!
//! Each connection is two tasks: this reader, which decodes frames and dispatches them, and a
//! writer (`conn::write_loop`) that drains the connection's bounded outbound queue to the socket.
//! Both the driver (write replies, watch events) and this reader (read replies) push to that
//! queue ([`ConnHandle`], `server/conn.rs`), so everything the client receives is in one order.
//! Writes and `sync`s go to the driver's inbox ([`NodeMsg`]) through the sender the listener
//! hands each handler. Per-session FIFO: a read waits until every
//! write this connection sent to the driver has been answered ([`ConnShared::wait_writes`]),
//! exactly as ZooKeeper's CommitProcessor holds a session's reads behind its pending writes.
//!
//! The first frame must arrive within `nio.sessionlessCnxnTimeout` of accept, so a silent or
//! half-sent handshake cannot hold its `maxClientCnxns` slot for ever. Error codes come from
//! [`ZkError`], the one table of `KeeperException.Code`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use crate::server::admin;
use crate::server::conn::{
    write_loop, ConnHandle, ConnShared, ReadHalf, WriteHalf, OUTBOUND_QUEUE_FRAMES, WRITER_DRAIN,
};
use crate::server::driver::NodeMsg;
use crate::server::ops;
use crate::server::pipeline::ClientWrite;
use crate::server::revalidations::RevalidateWaiter;
use crate::server::sessions::{password_for, password_matches};
use crate::server::shared::Shared;
use crate::server::shutdown::Shutdown;
use crate::server::syncs::SyncWaiter;
use crate::tree::ZkError;
use crate::wire::client::{
    AuthPacket, ConnectRequest, ConnectResponse, ReplyHeader, Request, RequestHeader,
};
use crate::wire::fourlw::FourLetterWord;
use crate::wire::jute::Record;
use crate::wire::records::Id;
use crate::wire::{frame_length, write_frame, DecodeError, FRAME_PREFIX_LEN};

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
    node_tx: mpsc::Sender<NodeMsg>,
    conn_id: u64,
    peer: SocketAddr,
    shutdown: Shutdown,
}

impl Handler {
    /// A handler for a freshly accepted connection.
    pub fn new(
        shared: Arc<Shared>,
        node_tx: mpsc::Sender<NodeMsg>,
        conn_id: u64,
        peer: SocketAddr,
        shutdown: Shutdown,
    ) -> Self {
        Handler {
            shared,
            node_tx,
            conn_id,
            peer,
            shutdown,
        }
    }

    /// Serves the connection until it closes, then unregisters it.
    pub async fn run(mut self, (read_half, write_half): (ReadHalf, WriteHalf)) {
        let (out_tx, out_rx) = mpsc::channel(OUTBOUND_QUEUE_FRAMES);
        let conn = Arc::new(ConnShared::new(
            self.conn_id,
            self.peer,
            Arc::clone(&self.shared.stats),
            out_tx,
        ));
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
            .write()
            .await
            .remove_watcher(ops::watcher_of(&conn));
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
        reader: &mut BufReader<ReadHalf>,
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
            biased;
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
        tokio::select! {
            biased;
            r = tokio::time::timeout(wait, self.shared.serving.wait()) => {
                if r.is_err() {
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
                biased;
                _ = self.shutdown.recv() => return Ok(()),
                _ = conn.close_notify.notified() => return Ok(()),
                r = reader.read_exact(&mut prefix) => { r?; }
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
            let msg = NodeMsg::Write(ClientWrite::CreateSession {
                timeout_ms,
                reply: tx,
            });
            self.node_tx
                .send(msg)
                .await
                .map_err(|_| ConnError::ShuttingDown)?;
            rx.await.map_err(|_| ConnError::ShuttingDown)?
        } else {
            // The leader's session table judges a resume, not mine: mine may not have applied
            // the session's close yet (REVALIDATE, `server/revalidations.rs`). No verdict (this
            // server left broadcast meanwhile): close without answering; the client moves on.
            let valid = password_matches(req.session_id, &req.passwd) && {
                let (reply, verdict) = oneshot::channel();
                let msg = NodeMsg::Revalidate(RevalidateWaiter {
                    session: req.session_id,
                    timeout_ms: timeout_ms as i32,
                    reply,
                });
                self.node_tx
                    .send(msg)
                    .await
                    .map_err(|_| ConnError::ShuttingDown)?;
                let Ok(valid) = verdict.await else {
                    tracing::info!(
                        conn = self.conn_id,
                        session = format_args!("{:#x}", req.session_id),
                        "session resume not judged (left broadcast); closing"
                    );
                    conn.close();
                    return Ok(false);
                };
                valid
            };
            if valid {
                // Renew it here too (on a learner the leader already touched it).
                self.shared
                    .with_sessions_now(|t, now| t.set_timeout(req.session_id, timeout_ms, now));
            }
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
                conn.record_latency(started);
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
        let msg = NodeMsg::Write(ClientWrite::Request {
            conn: Arc::clone(conn),
            session_id: conn.session_id(),
            xid,
            request,
            auth_ids: conn.auth_ids(),
            started,
        });
        if self.node_tx.send(msg).await.is_err() {
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
        if self.node_tx.send(msg).await.is_err() {
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
    reader: &mut BufReader<ReadHalf>,
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
