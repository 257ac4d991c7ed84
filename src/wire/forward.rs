//! The payload of a learner's REQUEST to its leader (`PeerMsg::Request { payload }`): what a
//! follower or observer forwards for its clients (ZooKeeper's `Learner.request` packet).
//!
//! Role in the data flow: on a learner, `server/driver` encodes a client write (or a new
//! session, or the sessions its clients touched this tick) with [`encode`] and feeds the bytes to
//! the core as `Input::Forward`; the core sends them to the leader, whose core hands them back as
//! `Effect::Prepare`; the leader's driver [`decode`]s them and prepares the txn. The core never
//! looks inside. Our own format (ZooKeeper's `Request` packet carries the same fields in another
//! layout): one kind byte, then jute fields.
//!
//! | kind | fields |
//! |------|--------|
//! | 1 `Request` | session id (long), cxid (int), auth ids (vector of `Id`), opcode (int), request body (buffer) |
//! | 2 `CreateSession` | session id (long), timeout ms (int) |
//! | 3 `Touch` | count (int), then per session: id (long), timeout ms (int) |
//!
//! Decoding never panics and allocates no more than the input justifies; trailing bytes are an
//! error (a payload is exactly one message).

use bytes::Bytes;

use crate::wire::jute::{JuteReader, JuteWriter, INT_LEN, LONG_LEN};
use crate::wire::records::Id;
use crate::wire::DecodeError;

const KIND_REQUEST: i8 = 1;
const KIND_CREATE_SESSION: i8 = 2;
const KIND_TOUCH: i8 = 3;

/// One forwarded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forwarded {
    /// A client write (closeSession included), to be prepared as the client's txn.
    Request {
        /// The client's session.
        session_id: i64,
        /// The request's xid (the txn's cxid).
        cxid: i32,
        /// The connection's authenticated ids, in its order.
        auth_ids: Vec<Id>,
        /// The request's opcode.
        opcode: i32,
        /// The request body as the client sent it (after the request header).
        body: Bytes,
    },
    /// A handshake on the learner made a session with this id (allocated there).
    CreateSession {
        /// The new session's id.
        session_id: i64,
        /// Negotiated timeout.
        timeout_ms: i32,
    },
    /// Sessions the learner's clients touched since its last report, with their timeouts.
    Touch {
        /// `(session id, timeout ms)`.
        sessions: Vec<(i64, i32)>,
    },
}

/// Why a payload is not a forwarded message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ForwardDecodeError {
    /// A field did not decode.
    #[error(transparent)]
    Field(#[from] DecodeError),
    /// The kind byte is unknown.
    #[error("unknown forwarded-request kind {0}")]
    UnknownKind(i8),
    /// Bytes after the message.
    #[error("{0} bytes after the forwarded request")]
    TrailingBytes(usize),
}

/// The payload bytes of `msg`.
pub fn encode(msg: &Forwarded) -> Bytes {
    let mut out = Vec::new();
    let mut w = JuteWriter::new(&mut out);
    match msg {
        Forwarded::Request {
            session_id,
            cxid,
            auth_ids,
            opcode,
            body,
        } => {
            w.write_byte(KIND_REQUEST);
            w.write_long(*session_id);
            w.write_int(*cxid);
            w.write_records(auth_ids);
            w.write_int(*opcode);
            w.write_buffer(Some(body));
        }
        Forwarded::CreateSession {
            session_id,
            timeout_ms,
        } => {
            w.write_byte(KIND_CREATE_SESSION);
            w.write_long(*session_id);
            w.write_int(*timeout_ms);
        }
        Forwarded::Touch { sessions } => {
            w.write_byte(KIND_TOUCH);
            w.write_vector(sessions, |w, (id, timeout)| {
                w.write_long(*id);
                w.write_int(*timeout);
            });
        }
    }
    Bytes::from(out)
}

/// Decodes one payload.
pub fn decode(payload: &[u8]) -> Result<Forwarded, ForwardDecodeError> {
    let mut r = JuteReader::new(payload);
    let msg = match r.read_byte()? {
        KIND_REQUEST => Forwarded::Request {
            session_id: r.read_long()?,
            cxid: r.read_int()?,
            auth_ids: r.read_records::<Id>()?,
            opcode: r.read_int()?,
            body: Bytes::from(
                r.read_buffer()?
                    .ok_or(DecodeError::UnexpectedNull("body"))?,
            ),
        },
        KIND_CREATE_SESSION => Forwarded::CreateSession {
            session_id: r.read_long()?,
            timeout_ms: r.read_int()?,
        },
        KIND_TOUCH => Forwarded::Touch {
            sessions: r
                .read_vector(LONG_LEN + INT_LEN, |r| Ok((r.read_long()?, r.read_int()?)))?
                .unwrap_or_default(),
        },
        other => return Err(ForwardDecodeError::UnknownKind(other)),
    };
    match r.remaining() {
        0 => Ok(msg),
        n => Err(ForwardDecodeError::TrailingBytes(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_and_garbage_is_refused() {
        let msg = Forwarded::Request {
            session_id: 0x0200_0000_0000_0001,
            cxid: 7,
            auth_ids: vec![Id {
                scheme: "ip".into(),
                id: "127.0.0.1".into(),
            }],
            opcode: 1,
            body: Bytes::from_static(b"\x00\x00\x00\x02/a"),
        };
        let bytes = encode(&msg);
        assert_eq!(decode(&bytes), Ok(msg));
        assert_eq!(decode(&[9]), Err(ForwardDecodeError::UnknownKind(9)));
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(decode(&long), Err(ForwardDecodeError::TrailingBytes(1)));
        assert!(matches!(
            decode(&bytes[..bytes.len() - 1]),
            Err(ForwardDecodeError::Field(_))
        ));
    }
}
