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
//! Replies are matched by zxid: the pipeline registers a [`Waiter`] under the zxid the core gave
//! the txn ([`Applier::expect`]); a committed txn that nobody here waits for (server-made, or one
//! day prepared by another server) is applied all the same.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::protocol::{Proposal, Zxid};
use crate::server::client::ConnHandle;
use crate::server::ops::{notification_frame, write_reply_frame};
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
    applied: Zxid,
    txns_since_snapshot: u64,
}

impl Applier {
    /// Nothing in flight; every txn up to `applied` is already in the tree.
    pub fn new(applied: Zxid) -> Applier {
        Applier {
            waiters: BTreeMap::new(),
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

    /// Withdraws the waiter for `zxid` (the core refused the write: nothing will apply it).
    pub fn forget(&mut self, zxid: Zxid) -> Option<Waiter> {
        self.waiters.remove(&zxid)
    }

    /// Waiters not yet answered.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
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
        let (hdr, txn) = crate::tree::txn::decode(&p.data).map_err(|e| {
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
        // 3. The reply, to whoever waits on this zxid.
        match self.waiters.remove(&p.zxid) {
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
