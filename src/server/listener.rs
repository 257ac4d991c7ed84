//! The client-port listener: accept, enforce the connection limits, spawn one [`Handler`] task per
//! connection (mini-redis `src/server.rs` `Listener`).
//!
//! Limits: `maxClientCnxns` per client IP (0 = unlimited), as ZooKeeper's
//! `NIOServerCnxnFactory` (the connection over the limit is closed right after accept, with a log
//! line), and a global cap on connections ([`MAX_CONNECTIONS`]) through a semaphore so a flood
//! cannot exhaust file descriptors. Both count a connection from accept to close, so one that
//! never sends a ConnectRequest holds its slots too, until `nio.sessionlessCnxnTimeout` closes it
//! (enforced by the [`Handler`]). Spec: `spec/server.md` "Connection lifecycle".

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, Semaphore};

use crate::server::client::Handler;
use crate::server::driver::NodeMsg;
use crate::server::shared::Shared;
use crate::server::shutdown::Shutdown;
use crate::server::transport;

/// Most connections served at once, over all IPs.
pub const MAX_CONNECTIONS: usize = 10_000;

/// Open connections per client IP.
#[derive(Debug, Default)]
pub struct IpCounts {
    counts: Mutex<BTreeMap<IpAddr, u32>>,
}

impl IpCounts {
    /// Counts one more connection from `ip` unless that would exceed `max` (0 = unlimited).
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr, max: u32) -> Option<IpPermit> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if max != 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(IpPermit {
            counts: Arc::clone(self),
            ip,
        })
    }
}

/// One counted connection; dropping it releases the count.
#[derive(Debug)]
pub struct IpPermit {
    counts: Arc<IpCounts>,
    ip: IpAddr,
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let mut counts = self.counts.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Accepts connections until shutdown.
pub struct Listener<L: transport::Listener> {
    /// The bound client port.
    pub listener: L,
    /// Server-wide state.
    pub shared: Arc<Shared>,
    /// The driver's inbox, cloned into each handler.
    pub node_tx: mpsc::Sender<NodeMsg>,
    /// Global connection cap.
    pub limit: Arc<Semaphore>,
    /// Per-IP counts.
    pub ip_counts: Arc<IpCounts>,
    /// Shutdown broadcast, cloned into each handler.
    pub notify_shutdown: broadcast::Sender<()>,
    /// Dropped by each handler when it finishes; `run` waits for all of them.
    pub shutdown_complete_tx: mpsc::Sender<()>,
}

impl<L: transport::Listener> Listener<L> {
    /// The accept loop. Returns on an unrecoverable accept error (the caller logs it).
    pub async fn run(&mut self) -> std::io::Result<()> {
        let mut next_conn_id: u64 = 1;
        loop {
            let permit = match Arc::clone(&self.limit).acquire_owned().await {
                Ok(p) => p,
                Err(_) => return Ok(()), // semaphore closed: shutting down
            };
            let (socket, peer) = match self.listener.accept().await {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: log and keep serving the open connections.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let max = self.shared.config.max_client_cnxns;
            let Some(ip_permit) = self.ip_counts.try_acquire(peer.ip(), max) else {
                tracing::warn!(
                    %peer,
                    max_client_cnxns = max,
                    "too many connections from this IP; closing the new one"
                );
                drop(socket);
                continue;
            };
            let conn_id = next_conn_id;
            next_conn_id += 1;
            let handler = Handler::new(
                Arc::clone(&self.shared),
                self.node_tx.clone(),
                conn_id,
                peer,
                Shutdown::new(self.notify_shutdown.subscribe()),
            );
            let done = self.shutdown_complete_tx.clone();
            tokio::spawn(async move {
                handler.run(L::split(socket)).await;
                drop(ip_permit);
                drop(permit);
                drop(done);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_limit_counts_and_releases() {
        let counts = Arc::new(IpCounts::default());
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let a = counts.try_acquire(ip, 2).expect("first");
        let b = counts.try_acquire(ip, 2).expect("second");
        assert!(counts.try_acquire(ip, 2).is_none());
        drop(a);
        let c = counts.try_acquire(ip, 2).expect("after release");
        drop((b, c));
        // 0 = unlimited.
        let many: Vec<_> = (0..100).filter_map(|_| counts.try_acquire(ip, 0)).collect();
        assert_eq!(many.len(), 100);
    }
}
