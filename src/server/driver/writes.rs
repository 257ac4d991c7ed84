//! What the driver proposes: client writes and `sync`s from its inbox, the requests learners
//! forwarded to the leader, and the server-made txns (session expiry, the container/TTL reaper).
//! On the leader each write is stamped with the core's next zxid ([`Pipeline::prepare`]) and fed
//! as `Input::Write`; on a learner it is forwarded (`Input::Forward`).

use std::sync::Arc;

use bytes::Bytes;

use super::{Driver, NodeMsg, TreeGuard};
use crate::protocol::{Input, RejectReason};
use crate::server::error::ServerError;
use crate::server::pipeline::{ClientWrite, Prepared};
use crate::server::revalidations::RevalidateWaiter;
use crate::server::storage_exec::MAX_IN_FLIGHT;
use crate::server::syncs::SyncWaiter;
use crate::storage::Storage;
use crate::tree::WriteRequest;
use crate::wire::forward::{self, Forwarded};

/// Messages prepared per tree-lock acquisition, at most.
const BATCH: usize = 1024;

impl<S: Storage + 'static> Driver<S> {
    /// Client messages: `first` and whatever else is already queued (bounded). On the leader
    /// they are prepared under one tree lock, each stamped with the core's next zxid and fed as
    /// `Input::Write`; on a learner each is forwarded to the leader (`Input::Forward`).
    pub(super) async fn on_messages(&mut self, first: NodeMsg) -> Result<(), ServerError> {
        if self.node.leading().is_none() {
            return self.forward_messages(first).await;
        }
        let shared = Arc::clone(&self.shared);
        let mut tree = Some(shared.tree.write().await);
        let mut msg = Some(first);
        let mut n = 0;
        while let Some(m) = msg.take() {
            match m {
                NodeMsg::Sync(waiter) => self.issue_sync(waiter, &mut tree).await?,
                NodeMsg::Revalidate(waiter) => self.issue_revalidate(waiter, &mut tree).await?,
                NodeMsg::Write(write) => {
                    let Ok(zxid) = self.node.next_zxid() else {
                        write.refuse();
                        break;
                    };
                    let guard = tree.as_ref().expect("held for the batch");
                    let live = |id| shared.with_sessions(|t| t.get(id).is_some());
                    let prepared = self.pipeline.prepare(guard, write, zxid, &live);
                    self.propose(prepared, &mut tree).await?;
                }
            }
            n += 1;
            if n >= BATCH || self.in_flight() >= MAX_IN_FLIGHT {
                break;
            }
            msg = self.inbox.try_recv().ok();
        }
        Ok(())
    }

    /// A learner's client messages → `Input::Forward`, each waiter registered under the
    /// request's (session id, cxid) first.
    pub(super) async fn forward_messages(&mut self, first: NodeMsg) -> Result<(), ServerError> {
        let mut msg = Some(first);
        let mut n = 0;
        while let Some(m) = msg.take() {
            if !self.serving {
                m.refuse();
                break;
            }
            match m {
                NodeMsg::Sync(waiter) => self.issue_sync(waiter, &mut None).await?,
                NodeMsg::Revalidate(waiter) => self.issue_revalidate(waiter, &mut None).await?,
                NodeMsg::Write(write) => self.forward_one(write).await?,
            }
            n += 1;
            if n >= BATCH || self.applier.waiting() >= MAX_IN_FLIGHT {
                break;
            }
            msg = self.inbox.try_recv().ok();
        }
        Ok(())
    }

    /// One client write → `Input::Forward`, its waiter registered under the request's
    /// (session id, cxid) first; a refusal by the core answers the waiter at once.
    pub(super) async fn forward_one(&mut self, write: ClientWrite) -> Result<(), ServerError> {
        let fwd = self.pipeline.forward(write);
        self.applier.expect_request(fwd.key, fwd.waiter);
        self.write_outcome = None;
        self.step(
            Input::Forward {
                payload: fwd.payload,
            },
            &mut None,
        )
        .await?;
        if let Some(Err(reason)) = self.write_outcome.take() {
            tracing::warn!(?reason, "forward refused by the core");
            if let Some(waiter) = self.applier.forget_request(fwd.key) {
                waiter.refuse();
            }
        }
        Ok(())
    }

    /// A client `sync` → `Input::Sync`; the core answers with `SyncReady` (perhaps in this very
    /// step) or `SyncFailed` (`server/syncs.rs`).
    pub(super) async fn issue_sync<'a>(
        &mut self,
        waiter: SyncWaiter,
        tree: &mut TreeGuard<'a>,
    ) -> Result<(), ServerError> {
        let id = self.syncs.issue(waiter);
        self.step(Input::Sync { id }, tree).await
    }

    /// A session resume → `Input::Revalidate`; the core answers with `Revalidated` or
    /// `RevalidateFailed` (`server/revalidations.rs`).
    pub(super) async fn issue_revalidate<'a>(
        &mut self,
        waiter: RevalidateWaiter,
        tree: &mut TreeGuard<'a>,
    ) -> Result<(), ServerError> {
        let (session, timeout_ms) = self.revalidations.issue(waiter);
        self.step(
            Input::Revalidate {
                session,
                timeout_ms,
            },
            tree,
        )
        .await
    }

    /// The leader's side of forwarding: what learners sent (`Effect::Prepare`) is decoded and
    /// prepared like a local write, or (a `Touch`) renews the sessions it names. What does not
    /// fit in the pipeline now waits for the next event.
    pub(super) async fn prepare_forwarded(&mut self) -> Result<(), ServerError> {
        if self.forwarded.is_empty() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let mut tree = Some(shared.tree.write().await);
        while self.in_flight() < MAX_IN_FLIGHT {
            let Some(payload) = self.forwarded.pop_front() else {
                break;
            };
            let forwarded = match forward::decode(&payload) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(error = %e, "undecodable forwarded request; dropped");
                    continue;
                }
            };
            if let Forwarded::Touch { sessions } = &forwarded {
                self.shared.with_sessions_now(|t, now| {
                    for &(id, timeout_ms) in sessions {
                        t.set_timeout(id, timeout_ms.max(0) as u32, now);
                    }
                });
                continue;
            }
            let Ok(zxid) = self.node.next_zxid() else {
                // No longer leading: the learner's client reconnects and retries.
                self.forwarded.clear();
                break;
            };
            let guard = tree.as_ref().expect("held for the batch");
            let live = |id| shared.with_sessions(|t| t.get(id).is_some());
            let prepared = self
                .pipeline
                .prepare_forwarded(guard, forwarded, zxid, &live);
            if let Some(prepared) = prepared {
                self.propose(prepared, &mut tree).await?;
            }
        }
        Ok(())
    }

    /// `Input::Write` for a prepared txn; its waiter is registered under the stamped zxid first,
    /// and the core must propose it under exactly that zxid.
    pub(super) async fn propose<'a>(
        &mut self,
        prepared: Prepared,
        tree: &mut TreeGuard<'a>,
    ) -> Result<(), ServerError> {
        let Prepared { zxid, data, waiter } = prepared;
        if let Some(waiter) = waiter {
            self.applier.expect(zxid, waiter);
        }
        self.write_outcome = None;
        self.step(Input::Write { data }, tree).await?;
        match self.write_outcome.take() {
            Some(Ok(Some(proposed))) => {
                assert_eq!(
                    proposed, zxid,
                    "the core proposed the write as {proposed}, not as the stamped {zxid}"
                );
            }
            outcome => {
                // Refused (the core left broadcast in this very step): nobody will apply it.
                tracing::warn!(%zxid, ?outcome, "write refused by the core");
                if let Some(waiter) = self.applier.forget(zxid) {
                    waiter.refuse();
                }
            }
        }
        Ok(())
    }

    /// The epoch's zxid counter is exhausted: the core refuses the next write and steps down;
    /// the node then elects a leader again under a new epoch (ZooKeeper's XidRolloverException).
    pub(super) async fn step_down_on_rollover(&mut self) -> Result<(), ServerError> {
        tracing::warn!(last = %self.node.last_zxid(), "zxid counter exhausted: new epoch");
        self.write_outcome = None;
        self.step(Input::Write { data: Bytes::new() }, &mut None)
            .await?;
        assert_eq!(
            self.write_outcome.take(),
            Some(Err(RejectReason::ZxidRollover)),
            "the core must refuse a write at rollover"
        );
        Ok(())
    }

    /// Every half tick: the leader expires sessions; a learner reports the sessions its clients
    /// touched to the leader.
    pub(super) async fn on_session_tick(&mut self) -> Result<(), ServerError> {
        if !self.serving {
            return Ok(());
        }
        if self.node.leading().is_some() {
            // The leader's own clients renew their deadlines directly.
            self.shared.with_sessions(|t| drop(t.take_touched()));
            return self.expire_sessions().await;
        }
        let touched = self.shared.with_sessions(|t| t.take_touched());
        if touched.is_empty() {
            return Ok(());
        }
        let sessions = touched
            .into_iter()
            .map(|(id, timeout_ms)| (id, timeout_ms as i32))
            .collect();
        let payload = forward::encode(&Forwarded::Touch { sessions });
        self.step(Input::Forward { payload }, &mut None).await
    }

    /// Expired sessions become closeSession txns (deleting their ephemerals in one txn).
    pub(super) async fn expire_sessions(&mut self) -> Result<(), ServerError> {
        if self.node.next_zxid().is_err() {
            return Ok(());
        }
        // Never more than the pipeline has room for: the rest stay due for the next tick.
        let room = MAX_IN_FLIGHT.saturating_sub(self.in_flight()).min(BATCH);
        let expired = self.shared.sessions.expire(|| self.shared.now_ms(), room);
        if expired.is_empty() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let mut tree = Some(shared.tree.write().await);
        for id in expired {
            tracing::info!(session = format_args!("{id:#x}"), "session expired");
            self.propose_server(&mut tree, id, WriteRequest::CloseSession)
                .await?;
        }
        Ok(())
    }

    /// The container/TTL reaper (ZooKeeper's ContainerManager) on the server clock.
    pub(super) async fn reap_containers(&mut self) -> Result<(), ServerError> {
        if self.node.next_zxid().is_err() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let mut tree = Some(shared.tree.write().await);
        let candidates = tree
            .as_ref()
            .expect("held")
            .expired_containers_and_ttls(self.shared.clock.wall_ms());
        for path in candidates.into_iter().take(10_000) {
            self.propose_server(&mut tree, 0, WriteRequest::DeleteContainer { path })
                .await?;
        }
        Ok(())
    }

    pub(super) async fn propose_server<'a>(
        &mut self,
        tree: &mut TreeGuard<'a>,
        session_id: i64,
        req: WriteRequest,
    ) -> Result<(), ServerError> {
        if self.in_flight() >= MAX_IN_FLIGHT {
            return Ok(()); // retried at the next tick
        }
        let Ok(zxid) = self.node.next_zxid() else {
            return Ok(());
        };
        let guard = tree.as_ref().expect("held by the caller");
        match self.pipeline.prepare_server(guard, session_id, req, zxid) {
            Some(prepared) => self.propose(prepared, tree).await,
            None => Ok(()),
        }
    }
}
