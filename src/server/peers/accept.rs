//! The election and quorum listeners: each accepted connection must send a valid HELLO for its
//! port within `connect_timeout` (at most `handshakes_max` at once), and is then handed to the
//! link task of the (peer, link) it names.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tracing::warn;

use super::link::Control;
use super::{Link, PeerNetConfig, HELLO_FRAME_MAX, READ_CHUNK};
use crate::protocol::ServerId;
use crate::server::transport::Listener;
use crate::wire::peer::{decode_frame, Frame, Hello};

pub(super) type Routes<S> = BTreeMap<(ServerId, Link), mpsc::Sender<Control<S>>>;

/// Accepts connections on one port; each must send a valid HELLO for this port within
/// `connect_timeout`, and is then handed to its link task.
pub(super) async fn accept_loop<L>(
    mut listener: L,
    link: Link,
    config: Arc<PeerNetConfig>,
    routes: Arc<Routes<L::Stream>>,
) where
    L: Listener,
    L::Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(config.handshakes_max.max(1)));
    let mut handshakes = JoinSet::new();
    // Accept order: a dialler's connections are accepted in the order it dialled them (it
    // dials again only after its previous connect completed or was abandoned), while their
    // HELLOs may finish in any order.
    let mut accepted: u64 = 0;
    loop {
        while handshakes.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(?link, "accept failed: {e}");
                tokio::time::sleep(config.backoff_min).await;
                continue;
            }
        };
        accepted += 1;
        let number = accepted;
        let config = config.clone();
        let routes = routes.clone();
        handshakes.spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(config.connect_timeout, read_hello(stream)).await {
                Ok(Ok((stream, hello, buffered))) => {
                    let inbound = Control::Inbound {
                        stream,
                        buffered,
                        accepted: number,
                    };
                    route(inbound, hello, from, link, &config, &routes).await;
                }
                Ok(Err(why)) => warn!(%from, ?link, "refused connection: {why}"),
                Err(_) => warn!(%from, ?link, "refused connection: no HELLO in time"),
            }
        });
    }
}

/// Reads the first frame, which must be a HELLO; returns it with whatever followed it.
async fn read_hello<S>(mut stream: S) -> Result<(S, Hello, BytesMut), String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        match decode_frame(&mut buf, HELLO_FRAME_MAX) {
            Ok(Some(Frame::Hello(hello))) => return Ok((stream, hello, buf)),
            Ok(Some(Frame::Msg(msg))) => return Err(format!("{} before HELLO", msg.name())),
            Ok(None) => {}
            Err(e) => return Err(format!("bad HELLO: {e}")),
        }
        buf.reserve(READ_CHUNK);
        match stream.read_buf(&mut buf).await {
            Ok(0) => return Err("closed before HELLO".to_owned()),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Checks a HELLO against the port and the membership, then hands the connection over.
async fn route<S>(
    inbound: Control<S>,
    hello: Hello,
    from: SocketAddr,
    link: Link,
    config: &PeerNetConfig,
    routes: &Routes<S>,
) {
    let sid = hello.sid();
    let refuse = |why: &str| warn!(%from, %sid, ?link, "refused connection: {why}");
    if hello.link() != link {
        return refuse("HELLO names the other port");
    }
    if sid == config.me {
        return refuse("HELLO claims our own sid");
    }
    let Some(member) = config.members.get(&sid) else {
        return refuse("not a member");
    };
    if let Hello::Quorum { learner, .. } = hello {
        if learner != member.learner {
            return refuse("learner type differs from the configuration");
        }
    }
    if let Some(route) = routes.get(&(sid, link)) {
        let _ = route.send(inbound).await;
    }
}
