//! The request pipeline (`spec/server.md` "The write path", step 2): on the leader a client request
//! → a txn stamped with the core's zxid (ZooKeeper's `PrepRequestProcessor`); on a learner a
//! client request → the payload forwarded to the leader.
//!
//! Leader: for each [`ClientWrite`] the driver takes from its inbox, it asks the core for the
//! zxid the next write will get (`Node::next_zxid`) and calls [`Pipeline::prepare`], which runs
//! `tree::prepare_logged` against the applied tree plus the [`PendingChanges`] of txns proposed
//! and not yet applied, stamps the `TxnHeader` with that zxid and the wall clock, and returns the
//! logged bytes the driver feeds to the core as `Input::Write { data }`. A request a learner
//! forwarded (`Effect::Prepare`) goes through [`Pipeline::prepare_forwarded`] the same way,
//! with the learner's session id, cxid and auth ids and nobody waiting here. The pipeline never
//! picks a zxid itself.
//!
//! Learner: [`Pipeline::forward`] encodes the request as a `wire::forward` payload (for the
//! driver's `Input::Forward`) and says under which [`RequestKey`] its waiter is answered when
//! the txn commits.
//!
//! Session ids for `createSession` are allocated here, by the server the client connected to
//! (`SessionIds` puts this server's id in the top byte), as ZooKeeper's servers do; the leader
//! prepares a forwarded createSession with the id the learner chose.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::config::ServerConfig;
use crate::protocol::Zxid;
use crate::server::apply::{RequestKey, Waiter};
use crate::server::clock::WallClock;
use crate::server::conn::ConnHandle;
use crate::server::ops::to_write_request;
use crate::server::sessions::SessionIds;
use crate::tree::{
    prepare_logged, DataTree, PendingChanges, PrepareContext, Txn, TxnHeader, WriteRequest, ZkError,
};
use crate::wire::client::Request;
use crate::wire::forward::Forwarded;
use crate::wire::jute::JuteWriter;
use crate::wire::records::Id;

/// A client write the driver hands to the pipeline (the driver's inbox carries it as
/// `driver::NodeMsg::Write`; a `sync` goes to the core instead and never reaches this type).
#[derive(Debug)]
pub enum ClientWrite {
    /// A client request that writes (or `closeSession`).
    Request {
        /// The requesting connection (gets the reply).
        conn: ConnHandle,
        /// Its session.
        session_id: i64,
        /// The request's xid.
        xid: i32,
        /// The decoded request.
        request: Request,
        /// The connection's authenticated ids.
        auth_ids: Vec<Id>,
        /// When the frame was read (latency).
        started: Instant,
    },
    /// A handshake needs a new session; answered with its id once the txn is committed.
    CreateSession {
        /// Negotiated timeout.
        timeout_ms: u32,
        /// Where the session id goes.
        reply: oneshot::Sender<i64>,
    },
}

impl ClientWrite {
    /// The write can no longer be proposed here: its connection is closed (the client
    /// reconnects), as ZooKeeper closes client connections when its leader steps down; a
    /// handshake fails.
    pub fn refuse(self) {
        match self {
            ClientWrite::Request { conn, .. } => {
                conn.write_answered();
                conn.close();
            }
            ClientWrite::CreateSession { reply, .. } => drop(reply),
        }
    }
}

/// A [`ClientWrite`] taken apart the same way whether the leader prepares it or a learner
/// forwards it: the session it runs under (a createSession's, allocated here), who waits for it,
/// and what it asks.
struct Unpacked {
    session_id: i64,
    waiter: Waiter,
    body: Body,
}

enum Body {
    Request {
        xid: i32,
        request: Request,
        auth_ids: Vec<Id>,
    },
    CreateSession {
        timeout_ms: i32,
    },
}

/// ZooKeeper's `PrepRequestProcessor` calls `sessionTracker.checkSession` before preparing any
/// client write but a closeSession: a request of a session the leader does not know, or has
/// begun to close, fails with SessionExpired. Without it a learner that has not applied a
/// session's close yet forwards the session's create of an ephemeral, the leader prepares it
/// after the close, and the node outlives its session on every server (ZOOKEEPER-1208's shape;
/// found by the simulation, seed 34, verification.md §10).
fn checked_session(
    request: Result<WriteRequest, ZkError>,
    session_id: i64,
    live: &dyn Fn(i64) -> bool,
) -> Result<WriteRequest, ZkError> {
    match request {
        Ok(WriteRequest::CloseSession) => request,
        Ok(_) if !live(session_id) => Err(ZkError::SessionExpired),
        other => other,
    }
}

/// A txn ready for `Input::Write`.
#[derive(Debug)]
pub struct Prepared {
    /// The zxid it is stamped with (the core's `next_zxid`).
    pub zxid: Zxid,
    /// `TxnHeader` + txn record: the bytes the core logs and commits.
    pub data: Bytes,
    /// Who waits for it to be applied (`None`: server-made).
    pub waiter: Option<Waiter>,
}

/// A learner's client message, ready for `Input::Forward`.
#[derive(Debug)]
pub struct Forward {
    /// The `wire::forward` payload.
    pub payload: Bytes,
    /// Where the waiter is registered.
    pub key: RequestKey,
    /// Who waits for the txn.
    pub waiter: Waiter,
}

/// Prepares requests into txns against the tree and the changes in flight.
#[derive(Debug)]
pub struct Pipeline {
    pending: PendingChanges,
    /// Sessions whose createSession is prepared here and not yet applied, with its zxid. The
    /// session table learns a session when its createSession is applied, and a leader applies
    /// only what its own disk made durable, which may be after a quorum of learners committed
    /// it: a learner can answer the client and forward its first write before this leader's
    /// table has the session. Such a session is live for [`checked_session`], as it is in
    /// ZooKeeper, whose leader adds the session to its tracker when it prepares the create.
    creating: BTreeMap<i64, Zxid>,
    /// Sessions whose closeSession is prepared here and not yet applied, with its zxid. Not
    /// live for [`checked_session`] (ZooKeeper's `PrepRequestProcessor` marks the session
    /// closing when it prepares the close): the session table drops a session only when the
    /// close is applied, and a write of the session prepared in between — say one a learner
    /// cut off by a partition forwarded before the client moved to another server and closed
    /// the session there — would be logged after the close, its ephemeral outliving the
    /// session on every server (simulation seed 116148, verification.md §10).
    closing: BTreeMap<i64, Zxid>,
    session_ids: SessionIds,
    extended_types_enabled: bool,
    enforce_quota: bool,
    reconfig_enabled: bool,
    /// ctime/mtime of the txns prepared here.
    clock: Arc<dyn WallClock>,
}

impl Pipeline {
    /// Nothing in flight; txns are stamped with `clock`'s wall time.
    pub fn new(
        config: &ServerConfig,
        session_ids: SessionIds,
        clock: Arc<dyn WallClock>,
    ) -> Pipeline {
        Pipeline {
            clock,
            pending: PendingChanges::new(),
            creating: BTreeMap::new(),
            closing: BTreeMap::new(),
            session_ids,
            extended_types_enabled: config.extended_types_enabled,
            enforce_quota: config.enforce_quota,
            reconfig_enabled: config.reconfig_enabled,
        }
    }

    /// Turns a client write into a txn stamped `zxid`. `live` says whether a session is live
    /// (known to this leader's session table and not closing): a request of any other session
    /// becomes a SessionExpired error txn ([`checked_session`]).
    pub fn prepare(
        &mut self,
        tree: &DataTree,
        msg: ClientWrite,
        zxid: Zxid,
        live: &dyn Fn(i64) -> bool,
    ) -> Prepared {
        let Unpacked {
            session_id,
            waiter,
            body,
        } = self.unpack(msg);
        let (cxid, auth_ids, request) = match body {
            Body::Request {
                xid,
                request,
                auth_ids,
            } => (
                xid,
                auth_ids,
                self.checked_session(self.write_request(&request), session_id, live),
            ),
            Body::CreateSession { timeout_ms } => {
                self.creating.insert(session_id, zxid);
                (
                    0,
                    Vec::new(),
                    Ok(WriteRequest::CreateSession { timeout_ms }),
                )
            }
        };
        Prepared {
            zxid,
            data: self.txn(tree, session_id, cxid, &auth_ids, request, zxid),
            waiter: Some(waiter),
        }
    }

    /// A request a learner forwarded, as a txn stamped `zxid` (nobody waits for it here: the
    /// learner answers its client when the txn commits there). `None` for a session touch,
    /// which is no txn. `live` as for [`Pipeline::prepare`]: the learner checked the session
    /// against its own table, which may not have applied the session's close yet.
    pub fn prepare_forwarded(
        &mut self,
        tree: &DataTree,
        forwarded: Forwarded,
        zxid: Zxid,
        live: &dyn Fn(i64) -> bool,
    ) -> Option<Prepared> {
        let (session_id, cxid, auth_ids, request) = match forwarded {
            Forwarded::Request {
                session_id,
                cxid,
                auth_ids,
                opcode,
                body,
            } => {
                let request = Request::decode(opcode, &body)
                    .map_err(|_| ZkError::MarshallingError)
                    .and_then(|r| self.write_request(&r));
                let request = self.checked_session(request, session_id, live);
                (session_id, cxid, auth_ids, request)
            }
            Forwarded::CreateSession {
                session_id,
                timeout_ms,
            } => {
                self.creating.insert(session_id, zxid);
                (
                    session_id,
                    0,
                    Vec::new(),
                    Ok(WriteRequest::CreateSession { timeout_ms }),
                )
            }
            Forwarded::Touch { .. } => return None,
        };
        Some(Prepared {
            zxid,
            data: self.txn(tree, session_id, cxid, &auth_ids, request, zxid),
            waiter: None,
        })
    }

    /// A learner's client write as the payload it forwards to the leader.
    pub fn forward(&mut self, msg: ClientWrite) -> Forward {
        let Unpacked {
            session_id,
            waiter,
            body,
        } = self.unpack(msg);
        let (forwarded, key) = match body {
            Body::Request {
                xid,
                request,
                auth_ids,
            } => {
                let mut body = Vec::new();
                request.encode(&mut JuteWriter::new(&mut body));
                let forwarded = Forwarded::Request {
                    session_id,
                    cxid: xid,
                    auth_ids,
                    opcode: request.opcode().as_i32(),
                    body: Bytes::from(body),
                };
                (forwarded, (session_id, Some(xid)))
            }
            Body::CreateSession { timeout_ms } => (
                Forwarded::CreateSession {
                    session_id,
                    timeout_ms,
                },
                (session_id, None),
            ),
        };
        Forward {
            payload: crate::wire::forward::encode(&forwarded),
            key,
            waiter,
        }
    }

    /// Takes a client write apart (`prepare` and `forward` alike); a createSession gets its
    /// session id here.
    fn unpack(&mut self, msg: ClientWrite) -> Unpacked {
        match msg {
            ClientWrite::Request {
                conn,
                session_id,
                xid,
                request,
                auth_ids,
                started,
            } => Unpacked {
                session_id,
                waiter: Waiter::Client { conn, xid, started },
                body: Body::Request {
                    xid,
                    request,
                    auth_ids,
                },
            },
            ClientWrite::CreateSession { timeout_ms, reply } => Unpacked {
                session_id: self.session_ids.next_id(),
                waiter: Waiter::Handshake(reply),
                body: Body::CreateSession {
                    timeout_ms: timeout_ms as i32,
                },
            },
        }
    }

    /// The write a client request asks for, or the error its txn records.
    fn write_request(&self, request: &Request) -> Result<WriteRequest, ZkError> {
        match request {
            Request::Reconfig(_) => Err(if self.reconfig_enabled {
                // Standalone ZooKeeper: reconfig is a leader-only operation.
                ZkError::Unimplemented
            } else {
                ZkError::ReconfigDisabled
            }),
            r => to_write_request(r).ok_or(ZkError::MarshallingError),
        }
    }

    /// The logged bytes of the txn for `request` (an error txn when it failed to decode).
    fn txn(
        &mut self,
        tree: &DataTree,
        session_id: i64,
        cxid: i32,
        auth_ids: &[Id],
        request: Result<WriteRequest, ZkError>,
        zxid: Zxid,
    ) -> Bytes {
        let (hdr, txn) = match request {
            Ok(req) => self.prepare_request(tree, session_id, cxid, auth_ids, &req, zxid),
            Err(e) => {
                let txn = Txn::error(e);
                let hdr = TxnHeader {
                    client_id: session_id,
                    cxid,
                    zxid: zxid.0 as i64,
                    time_ms: self.clock.wall_ms(),
                    txn_type: txn.op_code(),
                };
                (hdr, txn)
            }
        };
        Bytes::from(crate::tree::txn::encode(&hdr, &txn))
    }

    /// A server-made txn (session expiry, container/TTL reaper) stamped `zxid`; `None` when
    /// there is nothing to log (a container already gone or no longer empty).
    pub fn prepare_server(
        &mut self,
        tree: &DataTree,
        session_id: i64,
        req: WriteRequest,
        zxid: Zxid,
    ) -> Option<Prepared> {
        let (hdr, txn) = self.prepare_request(tree, session_id, 0, &[], &req, zxid);
        if matches!(txn, Txn::Error { .. }) && matches!(req, WriteRequest::DeleteContainer { .. }) {
            return None;
        }
        Some(Prepared {
            zxid,
            data: Bytes::from(crate::tree::txn::encode(&hdr, &txn)),
            waiter: None,
        })
    }

    fn prepare_request(
        &mut self,
        tree: &DataTree,
        session_id: i64,
        cxid: i32,
        auth_ids: &[Id],
        req: &WriteRequest,
        zxid: Zxid,
    ) -> (TxnHeader, Txn) {
        let ctx = PrepareContext {
            session_id,
            cxid,
            auth_ids,
            now_ms: self.clock.wall_ms(),
            zxid: zxid.0 as i64,
            extended_types_enabled: self.extended_types_enabled,
            enforce_quota: self.enforce_quota,
        };
        let (hdr, txn) = prepare_logged(tree, &mut self.pending, req, &ctx);
        if matches!(txn, Txn::CloseSession { .. }) {
            self.closing.insert(session_id, zxid);
        }
        (hdr, txn)
    }

    /// The txns up to `zxid` are applied: their changes are visible in the tree now.
    pub fn applied_through(&mut self, zxid: Zxid) {
        self.pending.applied_through(zxid.0 as i64);
        self.creating.retain(|_, created| *created > zxid);
        self.closing.retain(|_, closed| *closed > zxid);
    }

    /// [`checked_session`], with the sessions whose createSession is prepared and not yet
    /// applied counted live, and those whose closeSession is, not.
    fn checked_session(
        &self,
        request: Result<WriteRequest, ZkError>,
        session_id: i64,
        live: &dyn Fn(i64) -> bool,
    ) -> Result<WriteRequest, ZkError> {
        let live =
            |id| !self.closing.contains_key(&id) && (self.creating.contains_key(&id) || live(id));
        checked_session(request, session_id, &live)
    }

    /// Whether I prepared `session_id`'s createSession and have not applied it yet (it counts
    /// as live: a learner may have applied it and answered the client first).
    pub fn is_creating(&self, session_id: i64) -> bool {
        self.creating.contains_key(&session_id)
    }

    /// Changes prepared and not applied.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Forgets every change prepared and not applied (a deposed leader: its proposals are
    /// either committed by the next leader, and then applied here like any other txn, or lost).
    pub fn discard_pending(&mut self) {
        self.pending = PendingChanges::new();
        self.creating.clear();
        self.closing.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::clock::SystemClock;
    use crate::tree::txn::decode;
    use crate::wire::client::CreateRequest;

    fn pipeline() -> Pipeline {
        let config = ServerConfig::standalone("/nonexistent".into(), 0, 2000);
        Pipeline::new(
            &config,
            SessionIds::new(1, 0, []),
            Arc::new(SystemClock::new()),
        )
    }

    fn forwarded_create(session_id: i64, flags: i32) -> Forwarded {
        let request = Request::Create2(CreateRequest {
            path: "/e".into(),
            data: Some(b"x".to_vec()),
            acl: crate::wire::records::Acl::open_unsafe(),
            flags,
        });
        let mut body = Vec::new();
        request.encode(&mut JuteWriter::new(&mut body));
        Forwarded::Request {
            session_id,
            cxid: 1,
            auth_ids: Vec::new(),
            opcode: request.opcode().as_i32(),
            body: Bytes::from(body),
        }
    }

    /// A learner that has not applied a session's close yet forwards the session's create of an
    /// ephemeral; the leader, which closed the session, must log SessionExpired, not a node
    /// that would outlive its session (simulation seed 34). A closeSession of such a session is
    /// still prepared as a close (the expiry itself runs through it).
    #[test]
    fn a_forwarded_write_of_a_session_the_leader_closed_fails_with_session_expired() {
        let (mut pipeline, tree) = (pipeline(), DataTree::new());
        let live = |id: i64| id == 7;
        let txn_of = |p: Option<Prepared>| decode(&p.expect("a txn").data).expect("decodes").1;
        let ephemeral = 1;
        let dead =
            pipeline.prepare_forwarded(&tree, forwarded_create(8, ephemeral), Zxid(1), &live);
        assert_eq!(
            txn_of(dead),
            Txn::Error {
                err: ZkError::SessionExpired.code()
            }
        );
        let alive =
            pipeline.prepare_forwarded(&tree, forwarded_create(7, ephemeral), Zxid(2), &live);
        assert!(
            matches!(txn_of(alive), Txn::Create2(c) if c.ephemeral),
            "a live session's create is prepared"
        );
        let mut body = Vec::new();
        Request::CloseSession.encode(&mut JuteWriter::new(&mut body));
        let close = Forwarded::Request {
            session_id: 8,
            cxid: 2,
            auth_ids: Vec::new(),
            opcode: Request::CloseSession.opcode().as_i32(),
            body: Bytes::from(body),
        };
        let close = pipeline.prepare_forwarded(&tree, close, Zxid(3), &live);
        assert!(matches!(txn_of(close), Txn::CloseSession { .. }));
    }

    /// A closeSession prepared here (forwarded by one learner, say) and not yet applied: the
    /// session table still lists the session, but a write of it prepared now — one another
    /// learner, cut off by a partition, forwarded before the client moved and closed the
    /// session — must fail as expired, not log an ephemeral after the close (simulation seed
    /// 116148). Once the close is applied, the table decides again; a discarded pipeline (the
    /// leader deposed) forgets the mark.
    #[test]
    fn a_write_prepared_after_its_sessions_close_fails_with_session_expired() {
        let (mut pipeline, tree) = (pipeline(), DataTree::new());
        let live = |id: i64| id == 7;
        let txn_of = |p: Option<Prepared>| decode(&p.expect("a txn").data).expect("decodes").1;
        let expired = Txn::Error {
            err: ZkError::SessionExpired.code(),
        };
        let close = |cxid| {
            let mut body = Vec::new();
            Request::CloseSession.encode(&mut JuteWriter::new(&mut body));
            Forwarded::Request {
                session_id: 7,
                cxid,
                auth_ids: Vec::new(),
                opcode: Request::CloseSession.opcode().as_i32(),
                body: Bytes::from(body),
            }
        };
        let closed = pipeline.prepare_forwarded(&tree, close(5), Zxid(1), &live);
        assert!(matches!(txn_of(closed), Txn::CloseSession { .. }));
        let late = pipeline.prepare_forwarded(&tree, forwarded_create(7, 1), Zxid(2), &live);
        assert_eq!(txn_of(late), expired, "prepared after the session's close");
        pipeline.applied_through(Zxid(1));
        let table = pipeline.prepare_forwarded(&tree, forwarded_create(7, 1), Zxid(3), &live);
        assert!(
            matches!(txn_of(table), Txn::Create2(c) if c.ephemeral),
            "the close is applied: the (here still live) table decides"
        );
        let closed = pipeline.prepare_forwarded(&tree, close(6), Zxid(4), &live);
        assert!(matches!(txn_of(closed), Txn::CloseSession { .. }));
        pipeline.discard_pending();
        let after = pipeline.prepare_forwarded(&tree, forwarded_create(7, 1), Zxid(5), &live);
        assert!(
            matches!(txn_of(after), Txn::Create2(c) if c.ephemeral),
            "the close went with the discarded pipeline"
        );
    }

    /// A leader applies a createSession only once its own disk has it, which may be after a
    /// quorum of learners committed it and one of them answered the client: the session's first
    /// forwarded write must not fail as expired while its createSession is prepared here and
    /// not applied. Once applied, the session table decides again.
    #[test]
    fn a_write_of_a_session_whose_create_is_prepared_and_not_applied_is_prepared() {
        let (mut pipeline, tree) = (pipeline(), DataTree::new());
        let unknown = |_: i64| false;
        let txn_of = |p: Option<Prepared>| decode(&p.expect("a txn").data).expect("decodes").1;
        let create_session = Forwarded::CreateSession {
            session_id: 9,
            timeout_ms: 2000,
        };
        let created = pipeline.prepare_forwarded(&tree, create_session, Zxid(1), &unknown);
        assert!(matches!(txn_of(created), Txn::CreateSession { .. }));
        let first = pipeline.prepare_forwarded(&tree, forwarded_create(9, 1), Zxid(2), &unknown);
        assert!(
            matches!(txn_of(first), Txn::Create2(c) if c.ephemeral),
            "the session's create is pending here: live"
        );
        pipeline.applied_through(Zxid(2));
        let later = pipeline.prepare_forwarded(&tree, forwarded_create(9, 1), Zxid(3), &unknown);
        assert_eq!(
            txn_of(later),
            Txn::Error {
                err: ZkError::SessionExpired.code()
            },
            "applied, and not in the session table: expired"
        );
    }
}
