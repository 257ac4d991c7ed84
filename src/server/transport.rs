//! The network seam: how the runtime binds listeners and dials peers.
//!
//! Used by `server/peers` (the election and quorum links every ensemble member's driver runs
//! over); the client port is bound by `server/mod.rs` directly. [`TokioTransport`] is real TCP,
//! and it is what `server::run` starts the peer links with; a simulation (turmoil) or a
//! fault-injecting test (tests/server_peers.rs) supplies its own [`Transport`], whose streams
//! need only be `AsyncRead + AsyncWrite`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

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
    type Stream;

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

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = TcpListener::accept(self).await?;
        stream.set_nodelay(true)?;
        Ok((stream, addr))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }
}
