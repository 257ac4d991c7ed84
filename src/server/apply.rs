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
//!
//! SNAP, both ends (spec/zab.md §4.3): on a leader, [`snap_message`] serialises the tree for
//! `Effect::SendSnapshot` (the tree must be at the snapshot's base: the core's contract); on a
//! learner, once `storage_exec` made the received snapshot durable, [`Applier::install`] replaces
//! the tree with it and moves the applied zxid to its base, before the driver feeds
//! `Input::SnapshotInstalled`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::protocol::{PeerMsg, Proposal, SyncKind, Zxid};
use crate::server::conn::ConnHandle;
use crate::server::error::ServerError;
use crate::server::ops::{notification_frame, write_reply_frame};
use crate::server::shared::Shared;
use crate::tree::{DataTree, Txn, TxnResult, WatcherId};

/// Where a forwarded txn's waiter is found when the txn commits: `(session id, Some(cxid))` for
/// a client request, `(session id, None)` for the createSession of a handshake (ZooKeeper's
/// learners match committed txns to their pending requests the same way).
pub type RequestKey = (i64, Option<i32>);

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

impl Waiter {
    /// Answers a waiter whose txn will not be applied here: its connection is closed (the
    /// client reconnects and finds out), a handshake fails.
    pub fn refuse(self) {
        match self {
            Waiter::Client { conn, .. } => {
                conn.write_answered();
                conn.close();
            }
            Waiter::Handshake(reply) => drop(reply),
        }
    }
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
            previous.refuse();
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

    /// A learner's installed SNAP (durable already): `tree` becomes the snapshot's, applied up to
    /// `base`, and the session table is rebuilt from its sessions. Returns the waiters for txns
    /// at or below `base` and every waiter for a forwarded request (whose zxid is unknown here):
    /// their txns may be in the snapshot or replaced by it, so no reply would come from here
    /// (the driver refuses them; a learner syncing serves no clients, so there are none today).
    pub fn install(
        &mut self,
        tree: &mut DataTree,
        installed: DataTree,
        base: Zxid,
        shared: &Shared,
    ) -> Vec<Waiter> {
        assert_eq!(
            installed.last_processed_zxid() as u64,
            base.0,
            "install: the snapshot's tree is not at its base"
        );
        *tree = installed;
        shared.observe_tree(tree);
        self.applied = base;
        self.txns_since_snapshot = 0;
        shared.last_zxid.store(base.0 as i64, Ordering::SeqCst);
        shared.observe_installed(base.0);
        shared.with_sessions_now(|t, now| {
            let stale: Vec<i64> = t.iter().map(|(id, _)| id).collect();
            for id in stale {
                t.remove(id);
            }
            for (&id, &timeout) in tree.sessions() {
                t.add(id, timeout.max(0) as u32, now);
            }
        });
        let kept = self.waiters.split_off(&Zxid(base.0 + 1));
        let mut orphans: Vec<Waiter> = std::mem::replace(&mut self.waiters, kept)
            .into_values()
            .collect();
        orphans.extend(std::mem::take(&mut self.by_request).into_values());
        orphans
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
        shared.observe_applied(p.zxid.0, &p.data);
        shared.observe_tree(tree);
        let send_events = || {
            for (WatcherId(conn_id), event) in &outcome.events {
                if let Some(c) = shared.conns.by_conn_id(*conn_id) {
                    c.send(notification_frame(event));
                }
            }
        };
        // 1. Watch events, before the reply and before the tree lock is released (the
        // simulation's `watch_after_reply` mutant sends them after the reply instead).
        if !shared.watch_after_reply {
            send_events();
        }
        // 2. Session bookkeeping.
        match &outcome.result {
            TxnResult::CreateSession {
                session_id,
                timeout_ms,
            } => {
                shared.with_sessions_now(|t, now| {
                    t.add(*session_id, (*timeout_ms).max(0) as u32, now);
                });
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
                conn.record_latency(started);
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
        if shared.watch_after_reply {
            send_events();
        }
        Ok(())
    }
}

/// `Effect::SendSnapshot` on a leader: the SNAP carrying `tree` (ZooKeeper's snapshot payload:
/// body, seal, `ZxidDigest`), which must be exactly at `base` — the core's contract, checked.
pub fn snap_message(
    tree: &DataTree,
    base: Zxid,
    proposals: Vec<Proposal>,
    committed: Zxid,
) -> Result<PeerMsg, ServerError> {
    let at = tree.last_processed_zxid() as u64;
    if at != base.0 {
        return Err(ServerError::Fatal(format!(
            "SNAP at {base} requested, but the tree is at {}",
            Zxid(at)
        )));
    }
    let snapshot = crate::server::recovery::snapshot_payload(tree).into();
    Ok(PeerMsg::Sync {
        kind: SyncKind::Snap { base, snapshot },
        proposals,
        committed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use crate::server::sessions::SessionTracker;
    use crate::tree::txn::TxnHeader;

    fn with_session(tree: &mut DataTree, id: i64, zxid: i64) {
        let hdr = TxnHeader {
            client_id: id,
            cxid: 0,
            zxid,
            time_ms: 0,
            txn_type: 0,
        };
        tree.apply(&hdr, &Txn::CreateSession { timeout_ms: 5000 });
    }

    /// The learner's tree becomes the installed snapshot: the applied zxid moves to its base,
    /// the session table holds exactly the snapshot's sessions, and the waiters for txns the
    /// snapshot covers, and for forwarded requests (zxid unknown), are handed back.
    #[test]
    fn install_replaces_the_tree_and_moves_the_applied_zxid() {
        let config = ServerConfig::standalone("/nonexistent".into(), 0, 2000);
        let shared = Shared::new(
            config.clone(),
            DataTree::new(),
            SessionTracker::new(config.tick_ms),
            0,
        );
        let mut mine = DataTree::new();
        with_session(&mut mine, 1, 1);
        shared.with_sessions(|t| t.add(1, 5000, 0));
        let mut applier = Applier::new(Zxid(1));
        let (tx_low, _rx_low) = oneshot::channel();
        let (tx_high, _rx_high) = oneshot::channel();
        applier.expect(Zxid(3), Waiter::Handshake(tx_low));
        applier.expect(Zxid(9), Waiter::Handshake(tx_high));
        let (tx_forwarded, _rx_forwarded) = oneshot::channel();
        applier.expect_request((7, Some(1)), Waiter::Handshake(tx_forwarded));
        let mut leaders = DataTree::new();
        with_session(&mut leaders, 2, 2);
        with_session(&mut leaders, 3, 5);
        let orphans = applier.install(&mut mine, leaders, Zxid(5), &shared);
        assert_eq!(
            orphans.len(),
            2,
            "the waiter at or below the base and the forwarded one"
        );
        assert_eq!(applier.waiting(), 1);
        assert_eq!(applier.applied(), Zxid(5));
        assert_eq!(mine.last_processed_zxid(), 5);
        assert_eq!(mine.sessions().keys().copied().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(shared.last_zxid.load(Ordering::SeqCst), 5);
        let tracked: Vec<i64> = shared.with_sessions(|t| t.iter().map(|(id, _)| id).collect());
        assert_eq!(tracked, [2, 3]);
    }

    /// A SNAP's snapshot as the leader builds it decodes on the learner at the same base; a
    /// flipped byte or the wrong base is refused.
    #[test]
    fn a_leader_snapshot_round_trips_and_bad_bytes_are_refused() {
        let mut tree = DataTree::new();
        let hdr = TxnHeader {
            client_id: 7,
            cxid: 0,
            zxid: 5,
            time_ms: 0,
            txn_type: 0,
        };
        tree.apply(&hdr, &Txn::CreateSession { timeout_ms: 30_000 });
        let msg = snap_message(&tree, Zxid(5), vec![], Zxid(5)).expect("tree at its base");
        let PeerMsg::Sync {
            kind: SyncKind::Snap { base, snapshot },
            ..
        } = msg
        else {
            panic!("not a SNAP: {msg:?}");
        };
        let installed =
            crate::server::recovery::decode_leader_snapshot(base, &snapshot).expect("decodes");
        assert_eq!(installed.last_processed_zxid(), 5);
        assert_eq!(installed.sessions(), tree.sessions());
        assert!(
            crate::server::recovery::decode_leader_snapshot(Zxid(4), &snapshot).is_err(),
            "wrong base"
        );
        let mut bad = snapshot.to_vec();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x40;
        assert!(
            crate::server::recovery::decode_leader_snapshot(base, &bad).is_err(),
            "flipped byte"
        );
        assert!(
            snap_message(&tree, Zxid(4), vec![], Zxid(5)).is_err(),
            "the tree is not at the requested base"
        );
    }
}
