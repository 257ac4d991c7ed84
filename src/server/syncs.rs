//! Client `sync`s between `Input::Sync` and the reply (`spec/zab.md` §5.6, ZAB-SYNC-LINEARIZABLE).
//!
//! Role: the driver hands every client `sync` to the core as `Input::Sync { id }` with an id from
//! [`Syncs::issue`]. The core answers later, on this server, with `Effect::SyncReady { id, zxid }`
//! — `zxid` is the read index, confirmed by a quorum round the leader started after the `sync`
//! reached it — or `Effect::SyncFailed { id }`. A ready `sync` is answered once the tree has
//! applied the read index ([`Syncs::ready`], then [`Syncs::applied`] after each apply), so a read
//! the client sends after the reply sees every txn committed anywhere before its `sync`. A failed
//! one closes its connection (the client reconnects elsewhere and retries), as does leaving
//! broadcast ([`Syncs::fail_all`]).
//!
//! The connection counts a `sync` among its outstanding writes, so its later reads wait for the
//! reply, and its earlier writes are answered first: they are at or below the read index (on a
//! learner they reach the leader before the `sync`, on the same link) and are applied in zxid
//! order before the `sync` is answered.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::protocol::Zxid;
use crate::server::conn::ConnHandle;
use crate::server::ops::reply_frame;
use crate::wire::client::SyncResponse;

/// A client `sync` waiting for its answer.
#[derive(Debug)]
pub struct SyncWaiter {
    /// The requesting connection.
    pub conn: ConnHandle,
    /// The request's xid.
    pub xid: i32,
    /// The path the client named (echoed in the reply).
    pub path: String,
    /// When the frame was read (latency).
    pub started: Instant,
}

/// Every `sync` of this server that the core has not answered, or whose read index the tree has
/// not applied yet.
#[derive(Debug, Default)]
pub struct Syncs {
    next_id: u64,
    /// Handed to the core, not answered by it yet.
    issued: BTreeMap<u64, SyncWaiter>,
    /// Answered by the core with a read index above the applied zxid.
    ready: BTreeMap<Zxid, Vec<SyncWaiter>>,
}

impl Syncs {
    /// Nothing pending.
    pub fn new() -> Syncs {
        Syncs::default()
    }

    /// Registers a `sync`; the id goes to the core as `Input::Sync { id }`.
    pub fn issue(&mut self, waiter: SyncWaiter) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let previous = self.issued.insert(id, waiter);
        assert!(previous.is_none(), "syncs: id {id} issued twice");
        id
    }

    /// `Effect::SyncReady { id, zxid }`: answer now if the tree has applied `zxid`, else once it
    /// has.
    pub fn ready(&mut self, id: u64, zxid: Zxid, applied: Zxid) {
        let waiter = self
            .issued
            .remove(&id)
            .unwrap_or_else(|| panic!("syncs: the core answered sync {id}, which is not pending"));
        if zxid <= applied {
            answer(waiter, applied);
        } else {
            self.ready.entry(zxid).or_default().push(waiter);
        }
    }

    /// The tree has applied every txn up to `applied`: answer the syncs whose read index it
    /// reached.
    pub fn applied(&mut self, applied: Zxid) {
        while let Some(entry) = self.ready.first_entry() {
            if *entry.key() > applied {
                break;
            }
            for waiter in entry.remove() {
                answer(waiter, applied);
            }
        }
    }

    /// `Effect::SyncFailed { id }`: the connection is closed.
    pub fn failed(&mut self, id: u64) {
        if let Some(waiter) = self.issued.remove(&id) {
            waiter.refuse();
        }
    }

    /// This server stopped serving: every pending `sync` fails.
    pub fn fail_all(&mut self) {
        for (_, waiter) in std::mem::take(&mut self.issued) {
            waiter.refuse();
        }
        for (_, waiters) in std::mem::take(&mut self.ready) {
            waiters.into_iter().for_each(SyncWaiter::refuse);
        }
    }

    /// `sync`s not answered yet.
    pub fn pending(&self) -> usize {
        self.issued.len() + self.ready.values().map(Vec::len).sum::<usize>()
    }
}

fn answer(waiter: SyncWaiter, applied: Zxid) {
    let SyncWaiter {
        conn,
        xid,
        path,
        started,
    } = waiter;
    conn.send(reply_frame(
        xid,
        applied.0 as i64,
        0,
        Some(&SyncResponse { path }),
    ));
    conn.record_latency(started);
    conn.write_answered();
}

impl SyncWaiter {
    /// The `sync` will not be answered here: its connection is closed (the client reconnects
    /// elsewhere and retries).
    pub fn refuse(self) {
        self.conn.write_answered();
        self.conn.close();
    }
}
