//! One connection's two tasks under its link task: the reader decodes frames and delivers them,
//! in order, to the driver's peer-event channel; the writer drains the link's queue to the
//! socket. Either one ending tells the link task why.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

use super::link::Control;
use super::{Link, PeerEvent, SlotHandle, READ_CHUNK, WRITE_BATCH};
use crate::protocol::{PeerMsg, ServerId};
use crate::wire::frame_length;
use crate::wire::peer::{decode_frame, encode_msg, Frame};

/// Reads frames and delivers them, in order, until the connection ends; then says why.
#[allow(clippy::too_many_arguments)]
pub(super) async fn read_loop<S, E>(
    mut read_half: ReadHalf<S>,
    mut buf: BytesMut,
    peer: ServerId,
    link: Link,
    max: usize,
    inbox: mpsc::Sender<E>,
    conn: u64,
    control: mpsc::Sender<Control<S>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    E: From<PeerEvent>,
{
    let why = loop {
        match decode_frame(&mut buf, max) {
            Ok(Some(Frame::Msg(msg))) => {
                if msg.is_election() != (link == Link::Election) {
                    break format!("{} does not belong on the {link:?} link", msg.name());
                }
                let event = PeerEvent::Message {
                    from: peer,
                    link,
                    msg,
                };
                if inbox.send(event.into()).await.is_err() {
                    break "inbox closed".to_owned();
                }
                continue;
            }
            Ok(Some(Frame::Hello(_))) => break "a second HELLO".to_owned(),
            Ok(None) => {}
            Err(e) => break format!("undecodable frame: {e}"),
        }
        let frame_len = match frame_length(&buf, max) {
            Ok(Some(len)) => 4 + len,
            _ => 0,
        };
        buf.reserve(frame_len.saturating_sub(buf.len()).max(READ_CHUNK));
        match read_half.read_buf(&mut buf).await {
            Ok(0) => break "closed by the peer".to_owned(),
            Ok(_) => {}
            Err(e) => break format!("read: {e}"),
        }
    };
    let _ = control.send(Control::Ended { conn, why }).await;
}

/// Writes what is queued for connection `conn`, in order, until it fails or is superseded.
pub(super) async fn write_loop<S>(
    mut write_half: WriteHalf<S>,
    slot: Arc<SlotHandle>,
    conn: u64,
    max: usize,
    control: mpsc::Sender<Control<S>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let mut out = BytesMut::new();
    let why = loop {
        let batch: Vec<PeerMsg> = {
            let mut s = slot.lock();
            if s.conn != conn {
                break "superseded".to_owned();
            }
            let n = s.queue.len().min(WRITE_BATCH);
            s.queue.drain(..n).collect()
        };
        if batch.is_empty() {
            if let Err(e) = write_half.flush().await {
                break format!("flush: {e}");
            }
            slot.writer_wake.notified().await;
            continue;
        }
        out.clear();
        if let Some(e) = batch
            .iter()
            .find_map(|msg| encode_msg(&mut out, msg, max).err())
        {
            break format!("cannot send: {e}");
        }
        if let Err(e) = write_half.write_all(&out).await {
            break format!("write: {e}");
        }
    };
    let _ = control.send(Control::Ended { conn, why }).await;
}
