//! turmoil's TCP as the servers' transport, with the streams a crash closes closed in a fixed
//! order.
//!
//! Why the order needs fixing: turmoil crashes a host by dropping its tokio runtime, which
//! drops the tasks the server spawned (`tokio::spawn`) shard by shard, and a current-thread
//! runtime has 4 shards picked by the task's id — a counter global to the process. Each
//! dropped stream sends a FIN (or an RST), and every send draws its latency from the
//! simulation's one RNG, so the order of the drops decides every later latency. The order was
//! thus a function of how many tokio tasks the process had spawned before (an earlier
//! simulation, another test thread), not of the seed: the second run of seed 11 in one process
//! diverged from the first (verification.md §10, Determinism). Here every stream a host opens
//! or accepts gets a number; while the host is being crashed ([`Graves::crash`]) a dropped
//! stream is kept instead of closed, and the host's undertaker — a local task turmoil drops
//! after the runtime's tasks — closes them all in their numbers' order, still inside the crash.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use zabkeeper::server::transport::{Listener, Transport};

/// One host's streams closed by a crash, in the order it opened them.
#[derive(Default)]
pub(super) struct Graves(Mutex<GravesInner>);

#[derive(Default)]
struct GravesInner {
    /// The host is being crashed and its undertaker has not run yet: keep dropped streams.
    dying: bool,
    /// The number the next stream gets.
    next: u64,
    buried: Vec<(u64, turmoil::net::TcpStream)>,
}

impl Graves {
    fn lock(&self) -> std::sync::MutexGuard<'_, GravesInner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Crashes host `name` (`turmoil::Sim::crash`), its streams closed in the order they were
    /// opened. Returns how many streams were left unclosed (the undertaker did not run: none
    /// is expected; they are then dropped outside the simulation, sending nothing).
    pub(super) fn crash(&self, sim: &mut turmoil::Sim<'_>, name: &str) -> usize {
        self.lock().dying = true;
        sim.crash(name);
        let left = {
            let mut g = self.lock();
            g.dying = false;
            std::mem::take(&mut g.buried)
        };
        left.len()
    }

    /// The host's undertaker: to be spawned (`spawn_local`) by the host's software before it
    /// opens a stream. It never ends; when the crash drops it, it closes the kept streams.
    pub(super) fn undertaker(self: &Arc<Self>) -> impl std::future::Future<Output = ()> {
        let guard = Undertaker(Arc::clone(self));
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }
    }

    fn number(&self) -> u64 {
        let mut g = self.lock();
        g.next += 1;
        g.next
    }
}

struct Undertaker(Arc<Graves>);

impl Drop for Undertaker {
    fn drop(&mut self) {
        let mut buried = {
            let mut g = self.0.lock();
            // Streams dropped after this one (by later local tasks) are closed at once: the
            // local set drops its tasks in the order they were spawned.
            g.dying = false;
            std::mem::take(&mut g.buried)
        };
        buried.sort_by_key(|(n, _)| *n);
        for (_, stream) in buried {
            drop(stream);
        }
    }
}

/// A turmoil stream that, dropped while its host is being crashed, is handed to the host's
/// undertaker instead of closed.
pub(super) struct SimStream {
    stream: Option<turmoil::net::TcpStream>,
    number: u64,
    graves: Arc<Graves>,
}

impl SimStream {
    fn new(stream: turmoil::net::TcpStream, graves: &Arc<Graves>) -> SimStream {
        SimStream {
            stream: Some(stream),
            number: graves.number(),
            graves: Arc::clone(graves),
        }
    }

    fn inner(&mut self) -> Pin<&mut turmoil::net::TcpStream> {
        Pin::new(self.stream.as_mut().expect("stream present until dropped"))
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let mut g = self.graves.lock();
        if g.dying {
            g.buried.push((self.number, stream));
        } else {
            drop(g);
            drop(stream);
        }
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner().poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner().poll_shutdown(cx)
    }
}

/// turmoil's TCP as one server's transport (client port and peer links).
#[derive(Clone)]
pub(super) struct SimNet {
    pub(super) graves: Arc<Graves>,
}

/// A bound turmoil listener and the address the server asked for (turmoil binds only the
/// unspecified address, so a host's own address is bound as that).
pub(super) struct SimListener(turmoil::net::TcpListener, SocketAddr, Arc<Graves>);

impl Transport for SimNet {
    type Stream = SimStream;
    type Listener = SimListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<SimListener> {
        let any = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addr.port());
        let listener = turmoil::net::TcpListener::bind(any).await?;
        let local = listener.local_addr()?;
        let addr = if addr.port() == 0 { local } else { addr };
        Ok(SimListener(listener, addr, Arc::clone(&self.graves)))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<SimStream> {
        let stream = turmoil::net::TcpStream::connect(addr).await?;
        Ok(SimStream::new(stream, &self.graves))
    }
}

impl Listener for SimListener {
    type Stream = SimStream;

    async fn accept(&mut self) -> io::Result<(SimStream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        Ok((SimStream::new(stream, &self.2), addr))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.1)
    }
}
