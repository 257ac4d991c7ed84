//! The request pipeline (`spec/server.md` "The write path", step 2): on the leader a client request
//! → a txn stamped with the core's zxid (ZooKeeper's `PrepRequestProcessor`); on a learner a
//! client request → the payload forwarded to the leader.
//!
//! Leader: for each [`NodeMsg`] the driver takes from its inbox, it asks the core for the zxid the
//! next write will get (`Node::next_zxid`) and calls [`Pipeline::prepare`], which runs
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

use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::config::ServerConfig;
use crate::protocol::Zxid;
use crate::server::apply::Waiter;
use crate::server::client::ConnHandle;
use crate::server::ops::to_write_request;
use crate::server::sessions::SessionIds;
use crate::server::syncs::SyncWaiter;
use crate::server::wall_clock_ms;
use crate::tree::{
    prepare_logged, DataTree, PendingChanges, PrepareContext, Txn, TxnHeader, WriteRequest, ZkError,
};
use crate::wire::client::Request;
use crate::wire::forward::Forwarded;
use crate::wire::jute::JuteWriter;
use crate::wire::records::Id;

/// What connections ask of the driver.
#[derive(Debug)]
pub enum NodeMsg {
    /// A client write.
    Write {
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
    /// A client `sync`: handed to the core (`Input::Sync`), answered once the tree has applied
    /// the read index the core confirms (`server/syncs.rs`).
    Sync(SyncWaiter),
    /// A handshake needs a new session; answered with its id once the txn is committed.
    CreateSession {
        /// Negotiated timeout.
        timeout_ms: u32,
        /// Where the session id goes.
        reply: oneshot::Sender<i64>,
    },
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

/// Where a forwarded txn's waiter is found when the txn commits: `(session id, Some(cxid))` for
/// a client request, `(session id, None)` for the createSession of a handshake (ZooKeeper's
/// learners match committed txns to their pending requests the same way).
pub type RequestKey = (i64, Option<i32>);

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
    session_ids: SessionIds,
    extended_types_enabled: bool,
    enforce_quota: bool,
    reconfig_enabled: bool,
}

impl Pipeline {
    /// Nothing in flight.
    pub fn new(config: &ServerConfig, session_ids: SessionIds) -> Pipeline {
        Pipeline {
            pending: PendingChanges::new(),
            session_ids,
            extended_types_enabled: config.extended_types_enabled,
            enforce_quota: config.enforce_quota,
            reconfig_enabled: config.reconfig_enabled,
        }
    }

    /// Turns a client message into a txn stamped `zxid`.
    pub fn prepare(&mut self, tree: &DataTree, msg: NodeMsg, zxid: Zxid) -> Prepared {
        let (session_id, cxid, auth_ids, request, waiter) = match msg {
            NodeMsg::Write {
                conn,
                session_id,
                xid,
                request,
                auth_ids,
                started,
            } => {
                let w = Waiter::Client { conn, xid, started };
                let req = self.write_request(&request);
                (session_id, xid, auth_ids, req, w)
            }
            NodeMsg::Sync(_) => {
                unreachable!("the driver hands a sync to the core, not to the pipeline")
            }
            NodeMsg::CreateSession { timeout_ms, reply } => {
                let id = self.session_ids.next_id();
                let req = Ok(WriteRequest::CreateSession {
                    timeout_ms: timeout_ms as i32,
                });
                (id, 0, Vec::new(), req, Waiter::Handshake(reply))
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
    /// which is no txn.
    pub fn prepare_forwarded(
        &mut self,
        tree: &DataTree,
        forwarded: Forwarded,
        zxid: Zxid,
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
                (session_id, cxid, auth_ids, request)
            }
            Forwarded::CreateSession {
                session_id,
                timeout_ms,
            } => (
                session_id,
                0,
                Vec::new(),
                Ok(WriteRequest::CreateSession { timeout_ms }),
            ),
            Forwarded::Touch { .. } => return None,
        };
        Some(Prepared {
            zxid,
            data: self.txn(tree, session_id, cxid, &auth_ids, request, zxid),
            waiter: None,
        })
    }

    /// A learner's client message as the payload it forwards to the leader.
    pub fn forward(&mut self, msg: NodeMsg) -> Forward {
        match msg {
            NodeMsg::Write {
                conn,
                session_id,
                xid,
                request,
                auth_ids,
                started,
            } => {
                let mut body = Vec::new();
                request.encode(&mut JuteWriter::new(&mut body));
                let payload = crate::wire::forward::encode(&Forwarded::Request {
                    session_id,
                    cxid: xid,
                    auth_ids,
                    opcode: request.opcode().as_i32(),
                    body: Bytes::from(body),
                });
                Forward {
                    payload,
                    key: (session_id, Some(xid)),
                    waiter: Waiter::Client { conn, xid, started },
                }
            }
            NodeMsg::Sync(_) => {
                unreachable!("the driver hands a sync to the core, not to the pipeline")
            }
            NodeMsg::CreateSession { timeout_ms, reply } => {
                let session_id = self.session_ids.next_id();
                let payload = crate::wire::forward::encode(&Forwarded::CreateSession {
                    session_id,
                    timeout_ms: timeout_ms as i32,
                });
                Forward {
                    payload,
                    key: (session_id, None),
                    waiter: Waiter::Handshake(reply),
                }
            }
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
                    time_ms: wall_clock_ms(),
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
            now_ms: wall_clock_ms(),
            zxid: zxid.0 as i64,
            extended_types_enabled: self.extended_types_enabled,
            enforce_quota: self.enforce_quota,
        };
        prepare_logged(tree, &mut self.pending, req, &ctx)
    }

    /// The txns up to `zxid` are applied: their changes are visible in the tree now.
    pub fn applied_through(&mut self, zxid: Zxid) {
        self.pending.applied_through(zxid.0 as i64);
    }

    /// Changes prepared and not applied.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Forgets every change prepared and not applied (a deposed leader: its proposals are
    /// either committed by the next leader, and then applied here like any other txn, or lost).
    pub fn discard_pending(&mut self) {
        self.pending = PendingChanges::new();
    }
}
