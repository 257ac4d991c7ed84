//! `Effect::Commit { upto }` → apply to the data tree → watch events → reply
//! (`spec/server.md` "The write path", steps 6–8).
//!
//! Role: the driver calls [`Applier::apply_committed`] with the core's committed proposals
//! (`Node::committed_log`) while holding the tree lock. Every proposal above the last applied zxid
//! and up to `upto` is decoded from its logged bytes (`TxnHeader` + txn record) and applied in
//! zxid order; for each, the watch events are queued on the watching connections, then the
//! session table is updated, then the reply is queued for whoever waits on that zxid — and only
//! after the whole batch does the driver release the lock, so no connection reads a txn's
//! effects before they are committed and before its events are queued.
//!
//! Replies are matched to committed txns, never by draining a local queue: on the leader the
//! driver registers a [`Waiter`] under the zxid the core gave the txn ([`Applier::expect`]); on a
//! learner, which forwards its clients' requests and never learns their zxids before they
//! commit, under the txn's (session id, cxid) — or the session id for a handshake's
//! createSession — which the leader copies into the `TxnHeader` ([`Applier::expect_request`]). A
//! committed txn that nobody here waits for (server-made, or prepared for another server's
//! client) is applied all the same.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::protocol::{Proposal, Zxid};
use crate::server::client::ConnHandle;
use crate::server::ops::{notification_frame, write_reply_frame};
use crate::server::pipeline::RequestKey;
use crate::server::{ServerError, Shared};
use crate::tree::{DataTree, Txn, TxnResult, WatcherId};

/// Who waits for a txn to be applied.
#[derive(Debug)]
pub enum Waiter {
    /// A client's write: reply on its connection.
    Client {
        /// The requesting connection.
        conn: ConnHandle,
        /// The request's xid.
        xid: i32,
        /// When the frame was read (latency).
        started: Instant,
    },
    /// A handshake waiting for its session to exist.
    Handshake(oneshot::Sender<i64>),
}

/// Applies committed txns and answers their waiters.
#[derive(Debug)]
pub struct Applier {
    waiters: BTreeMap<Zxid, Waiter>,
    /// A learner's waiters for the txns it forwarded.
    by_request: BTreeMap<RequestKey, Waiter>,
    applied: Zxid,
    txns_since_snapshot: u64,
}

impl Applier {
    /// Nothing in flight; every txn up to `applied` is already in the tree.
    pub fn new(applied: Zxid) -> Applier {
        Applier {
            waiters: BTreeMap::new(),
            by_request: BTreeMap::new(),
            applied,
            txns_since_snapshot: 0,
        }
    }

    /// Registers who waits for the txn the core proposed as `zxid`.
    pub fn expect(&mut self, zxid: Zxid, waiter: Waiter) {
        assert!(
            zxid > self.applied,
            "apply: waiter for {zxid} at or below the applied {}",
            self.applied
        );
        let previous = self.waiters.insert(zxid, waiter);
        assert!(previous.is_none(), "apply: two waiters for {zxid}");
    }

    /// Registers who waits for the txn of a forwarded request (a learner's client).
    pub fn expect_request(&mut self, key: RequestKey, waiter: Waiter) {
        let previous = self.by_request.insert(key, waiter);
        if let Some(previous) = previous {
            // A client reusing an xid while its first request is in flight: the first waiter
            // can no longer be told apart, so it is answered by closing its connection.
            tracing::warn!(session = format_args!("{:#x}", key.0), cxid = ?key.1, "two requests with one xid");
            crate::server::driver::refuse_waiter(previous);
        }
    }

    /// Withdraws the waiter for `zxid` (the core refused the write: nothing will apply it).
    pub fn forget(&mut self, zxid: Zxid) -> Option<Waiter> {
        self.waiters.remove(&zxid)
    }

    /// Withdraws the waiter registered under `key`.
    pub fn forget_request(&mut self, key: RequestKey) -> Option<Waiter> {
        self.by_request.remove(&key)
    }

    /// Withdraws every waiter (the server left broadcast: what it waited for may never commit,
    /// or commit under a leader it no longer hears from).
    pub fn take_waiters(&mut self) -> Vec<Waiter> {
        let mut out: Vec<Waiter> = std::mem::take(&mut self.waiters).into_values().collect();
        out.extend(std::mem::take(&mut self.by_request).into_values());
        out
    }

    /// Waiters not yet answered.
    pub fn waiting(&self) -> usize {
        self.waiters.len() + self.by_request.len()
    }

    /// The last applied zxid.
    pub fn applied(&self) -> Zxid {
        self.applied
    }

    /// Txns applied since the last [`Applier::snapshot_taken`].
    pub fn txns_since_snapshot(&self) -> u64 {
        self.txns_since_snapshot
    }

    /// A snapshot of the tree was started.
    pub fn snapshot_taken(&mut self) {
        self.txns_since_snapshot = 0;
    }

    /// Applies every proposal of `committed` above the applied zxid and up to `upto`, in zxid
    /// order, with its events and reply. `committed` is the core's committed log (zxid order).
    pub fn apply_committed(
        &mut self,
        tree: &mut DataTree,
        committed: &[Proposal],
        upto: Zxid,
        shared: &Shared,
    ) -> Result<(), ServerError> {
        let start = committed.partition_point(|p| p.zxid <= self.applied);
        let end = committed.partition_point(|p| p.zxid <= upto);
        for p in &committed[start..end] {
            self.apply_one(tree, p, shared)?;
        }
        Ok(())
    }

    fn apply_one(
        &mut self,
        tree: &mut DataTree,
        p: &Proposal,
        shared: &Shared,
    ) -> Result<(), ServerError> {
        // A txn recovered from a log ZooKeeper wrote may carry its digest after the record.
        let (hdr, txn, _digest) = crate::tree::txn::decode_logged(&p.data).map_err(|e| {
            ServerError::Fatal(format!("committed txn {} does not decode: {e}", p.zxid))
        })?;
        assert_eq!(
            hdr.zxid as u64, p.zxid.0,
            "apply: txn header zxid differs from the core's {}",
            p.zxid
        );
        assert!(p.zxid > self.applied, "apply: {} applied twice", p.zxid);
        let outcome = tree.apply(&hdr, &txn);
        self.applied = p.zxid;
        self.txns_since_snapshot += 1;
        shared.last_zxid.store(hdr.zxid, Ordering::SeqCst);
        // 1. Watch events, before the reply and before the tree lock is released.
        for (WatcherId(conn_id), event) in &outcome.events {
            if let Some(c) = shared.conns.by_conn_id(*conn_id) {
                c.send(notification_frame(event));
            }
        }
        // 2. Session bookkeeping.
        let now = shared.now_ms();
        match &outcome.result {
            TxnResult::CreateSession {
                session_id,
                timeout_ms,
            } => {
                shared.with_sessions(|t| t.add(*session_id, (*timeout_ms).max(0) as u32, now));
            }
            TxnResult::CloseSession { session_id } => {
                shared.with_sessions(|t| t.remove(*session_id));
            }
            _ => {}
        }
        // 3. The reply, to whoever waits on this zxid or on this client request.
        let waiter = self.waiters.remove(&p.zxid).or_else(|| {
            let cxid = (!matches!(txn, Txn::CreateSession { .. })).then_some(hdr.cxid);
            self.by_request.remove(&(hdr.client_id, cxid))
        });
        match waiter {
            Some(Waiter::Client { conn, xid, started }) => {
                conn.send(write_reply_frame(xid, hdr.zxid, &outcome.result));
                conn.record_latency(started, shared);
                conn.write_answered();
                if matches!(txn, Txn::CloseSession { .. }) {
                    conn.close();
                }
            }
            Some(Waiter::Handshake(reply)) => {
                let _ = reply.send(hdr.client_id);
            }
            None => {
                if let (Txn::CloseSession { .. }, Some(c)) =
                    (&txn, shared.conns.by_session(hdr.client_id))
                {
                    // Expired (a server-made close): the connection still holding it is closed.
                    c.close();
                }
            }
        }
        Ok(())
    }
}
