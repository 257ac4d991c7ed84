//! The network seam: how the runtime binds listeners and dials peers.
//!
//! Used by `server/peers` (the election and quorum links every ensemble member's driver runs
//! over) and by `server/mod.rs` for the client port. [`TokioTransport`] is real TCP, and it is
//! what `server::run` runs on; a simulation (tests/sim, turmoil) or a fault-injecting test
//! (tests/server_peers.rs) supplies its own [`Transport`] to `server::run_with`, whose streams
//! need only be `AsyncRead + AsyncWrite`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use crate::server::conn::{ReadHalf, WriteHalf};

/// Binds listeners and opens connections.
pub trait Transport: Clone + Send + Sync + 'static {
    /// A connected byte stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A bound listener.
    type Listener: Listener<Stream = Self::Stream>;

    /// Binds a listener on `addr` (port 0: the system picks one; see [`Listener::local_addr`]).
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// Opens a connection to `addr`.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// A bound listener.
pub trait Listener: Send + 'static {
    /// The streams it accepts.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Splits an accepted stream into halves a client connection's reader and writer tasks
    /// own.
    fn split(stream: Self::Stream) -> (ReadHalf, WriteHalf) {
        let (r, w) = tokio::io::split(stream);
        (Box::new(r), Box::new(w))
    }

    /// Waits for the next connection; returns it with the remote address.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// The address it is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Plain TCP through tokio, with Nagle off (peer messages are small and latency-bound).
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTransport;

impl Transport for TokioTransport {
    type Stream = TcpStream;
    type Listener = TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl Listener for TcpListener {
    type Stream = TcpStream;

    fn split(stream: TcpStream) -> (ReadHalf, WriteHalf) {
        let (r, w) = stream.into_split();
        (Box::new(r), Box::new(w))
    }

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = TcpListener::accept(self).await?;
        stream.set_nodelay(true)?;
        Ok((stream, addr))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }
}
