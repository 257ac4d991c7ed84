//! Broadcast-based graceful shutdown (mini-redis `src/shutdown.rs`).
//!
//! Role: the binary's signal handler sends once on a `broadcast` channel; every long-lived task
//! holds a [`Shutdown`] and leaves its loop when `recv` returns. Tasks also hold a clone of an
//! `mpsc::Sender` whose channel the server awaits closing, so `run` returns only after every task
//! has finished (and the driver has flushed the log).

use tokio::sync::broadcast;

/// Listens for the server-wide shutdown signal.
#[derive(Debug)]
pub struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    /// Wraps a receiver of the shutdown broadcast.
    pub fn new(notify: broadcast::Receiver<()>) -> Shutdown {
        Shutdown {
            is_shutdown: false,
            notify,
        }
    }

    /// Whether the signal has been received.
    pub fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Waits for the signal (returns at once if it was already seen). A closed channel counts
    /// as the signal: the sender is gone, so nobody is left to keep the server running.
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}
