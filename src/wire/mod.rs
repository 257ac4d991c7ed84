//! Sans-IO codecs for ZooKeeper's client protocol: bytes in, records out (check, then parse).
//!
//! Role in the data flow: `server/client.rs` owns the socket; it hands the bytes it has read to
//! [`split_frame`] (is a whole frame there, and is its length legal?), then the frame's payload to
//! [`client`]'s decoders, and writes what [`client`]'s encoders produce. Nothing in this module
//! performs IO, reads a clock or allocates more than the input justifies.
//!
//! - [`jute`]: the jute primitives (A.2) — a bounds-checked reader over `&[u8]` and a writer
//!   over any [`bytes::BufMut`] — and `jute_record!`, which derives a plain record's encoding
//!   from its field list.
//! - [`records`]: `Stat`, `Id`, `Acl`, shared with the data tree (A.6–A.8).
//! - [`client`]: handshake, headers, opcodes and every request/response record (A.3–A.11).
//! - [`forward`]: the payload a learner forwards to its leader (client writes, new sessions,
//!   session touches), apart from the protocol core.
//! - [`fourlw`]: recognising four-letter words on a fresh connection (A.1, A.17).
//!
//! Facts: `../shared/reference/zookeeper-formats.md` part A; the rules as implemented are in
//! `spec/wire.md`.
//!
//! How a connection handler drives it (check, then parse):
//!
//! ```
//! use zabkeeper::wire::client::{
//!     decode_request, write_connect_request, write_reply, write_request, ConnectRequest,
//!     ConnectResponse, PathWatch, ReplyHeader, Request, Response, StatResponse,
//! };
//! use zabkeeper::wire::fourlw::FourLetterWord;
//! use zabkeeper::wire::jute::Record;
//! use zabkeeper::wire::{split_frame, JUTE_MAX_BUFFER_DEFAULT};
//!
//! // What a client sent: the handshake, then exists("/a").
//! let mut inbound = Vec::new();
//! let hello = ConnectRequest { timeout_ms: 10_000, passwd: vec![0; 16], read_only: Some(false),
//!                              ..ConnectRequest::default() };
//! write_connect_request(&mut inbound, &hello);
//! write_request(&mut inbound, 1, &Request::Exists(PathWatch { path: "/a".into(), watch: true }));
//!
//! // Fresh connection: a four-letter word is checked before the length.
//! assert_eq!(FourLetterWord::from_prefix(&inbound), None);
//! let payload = split_frame(&inbound, JUTE_MAX_BUFFER_DEFAULT).unwrap().unwrap();
//! let connect = ConnectRequest::from_bytes(payload).unwrap();
//! let _reply = ConnectResponse { timeout_ms: 10_000, session_id: 1 << 56, passwd: [7; 16],
//!                                read_only: connect.reply_read_only(false),
//!                                ..ConnectResponse::default() };
//! let rest = &inbound[4 + payload.len()..];
//!
//! // Every later frame: header + body.
//! let payload = split_frame(rest, JUTE_MAX_BUFFER_DEFAULT).unwrap().unwrap();
//! let (header, request) = decode_request(payload).unwrap();
//! assert!(matches!(request, Request::Exists(_)));
//!
//! let mut outbound = bytes::BytesMut::new();
//! let stat = StatResponse::default();
//! write_reply(&mut outbound, &ReplyHeader { xid: header.xid, zxid: 5, err: 0 },
//!             Some(&Response::Stat(stat)));
//! assert_eq!(outbound.len(), 4 + 16 + 68);
//! ```

pub mod client;
pub mod forward;
pub mod fourlw;
pub mod jute;
pub mod peer;
pub mod records;

use bytes::BufMut;

use crate::wire::jute::JuteWriter;

/// ZooKeeper's default `jute.maxbuffer`: 0xFFFFF = 1 048 575 bytes (A.1, A.14).
///
/// The server closes a connection whose frame length is negative or greater than this; a frame of
/// exactly this length is accepted (NIOServerCnxn `readLength`: `len < 0 || len > maxBuffer`).
pub const JUTE_MAX_BUFFER_DEFAULT: usize = 0xF_FFFF;

/// Size of the big-endian length prefix in front of every client frame.
pub const FRAME_PREFIX_LEN: usize = 4;

/// Why bytes could not be decoded. Every decoder in [`wire`](self) returns this; none panics.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before a field did.
    #[error("truncated input: needed {needed} more bytes, {remaining} remain")]
    Truncated {
        /// Bytes the field (or the declared element count) requires.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A string, buffer or vector length below -1 (-1 alone means null).
    #[error("invalid jute length {0}")]
    InvalidLength(i32),
    /// A string that is not UTF-8.
    #[error("string field is not valid UTF-8")]
    InvalidUtf8,
    /// A null string (length -1) in a field that cannot be null.
    #[error("null value in non-nullable field `{0}`")]
    UnexpectedNull(&'static str),
    /// A frame length prefix below zero (A.1: the server closes the connection).
    #[error("negative frame length {0}")]
    NegativeFrameLength(i32),
    /// A frame length prefix above the configured maximum (A.1: the server closes the connection).
    #[error("frame length {len} exceeds the limit {max}")]
    FrameTooLarge {
        /// Declared payload length.
        len: usize,
        /// The `jute.maxbuffer` in force.
        max: usize,
    },
    /// An opcode that is not a client request this codec knows (A.5). ZooKeeper replies
    /// `{xid, -1, -6 UNIMPLEMENTED}` and closes the connection; the server decides.
    #[error("unknown or non-client opcode {0}")]
    UnknownOpCode(i32),
    /// A `MultiHeader.type` that may not appear inside multi/multiRead (A.11).
    #[error("opcode {0} is not allowed inside a multi request or response")]
    InvalidMultiOp(i32),
    /// A ConnectResponse password that is not exactly 16 bytes (A.3, C client constraint).
    #[error("session password must be 16 bytes, got {0}")]
    InvalidPasswordLength(usize),
}

/// Check-then-parse of a frame's 4-byte big-endian length prefix (A.1).
///
/// Returns `Ok(None)` while fewer than 4 bytes are buffered, `Ok(Some(len))` with the payload
/// length (excluding the prefix) once they are, and an error when the prefix is illegal: negative
/// or greater than `max_len` (ZooKeeper's server rule; `len == max_len` is accepted). The caller
/// must close the connection on error.
///
/// On a connection that has not yet sent its ConnectRequest, check
/// [`fourlw::FourLetterWord::from_prefix`] *before* this: ZooKeeper reads the first 4 bytes as the
/// length int and compares it with the known words first (A.1, A.17).
pub fn frame_length(buf: &[u8], max_len: usize) -> Result<Option<usize>, DecodeError> {
    let Some(prefix) = buf.get(..FRAME_PREFIX_LEN) else {
        return Ok(None);
    };
    let mut bytes = [0u8; FRAME_PREFIX_LEN];
    bytes.copy_from_slice(prefix);
    let len = i32::from_be_bytes(bytes);
    let Ok(len) = usize::try_from(len) else {
        return Err(DecodeError::NegativeFrameLength(len));
    };
    if len > max_len {
        return Err(DecodeError::FrameTooLarge { len, max: max_len });
    }
    Ok(Some(len))
}

/// The payload of the first complete frame in `buf`, or `Ok(None)` if more bytes are needed.
///
/// The frame occupies `FRAME_PREFIX_LEN + payload.len()` bytes of `buf`; the caller advances its
/// buffer by that much. Errors as [`frame_length`].
pub fn split_frame(buf: &[u8], max_len: usize) -> Result<Option<&[u8]>, DecodeError> {
    let Some(len) = frame_length(buf, max_len)? else {
        return Ok(None);
    };
    Ok(buf.get(FRAME_PREFIX_LEN..FRAME_PREFIX_LEN + len))
}

/// Appends one length-prefixed frame to `buf`: reserves the prefix, lets `body` write the payload,
/// then patches the prefix with the payload's length.
///
/// Outgoing frames are not limited here (ZooKeeper does not limit its replies either; the Java
/// client drops the connection on a reply longer than its own `jute.maxbuffer`, default 0xFFFFF,
/// ClientCnxnSocket `readLength`; see `spec/wire.md`).
///
/// # Panics
///
/// If the payload exceeds `i32::MAX` bytes, which no ZooKeeper record can reach (a bug).
pub fn write_frame<B, F>(buf: &mut B, body: F)
where
    B: BufMut + AsMut<[u8]>,
    F: FnOnce(&mut JuteWriter<'_, B>),
{
    let start = buf.as_mut().len();
    buf.put_i32(0);
    {
        let mut writer = JuteWriter::new(buf);
        body(&mut writer);
    }
    let end = buf.as_mut().len();
    let payload_len = end - start - FRAME_PREFIX_LEN;
    let payload_len = i32::try_from(payload_len).expect("frame payload exceeds i32::MAX bytes");
    buf.as_mut()[start..start + FRAME_PREFIX_LEN].copy_from_slice(&payload_len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_length_needs_four_bytes() {
        assert_eq!(frame_length(&[], 100), Ok(None));
        assert_eq!(frame_length(&[0, 0, 0], 100), Ok(None));
        assert_eq!(frame_length(&[0, 0, 0, 5], 100), Ok(Some(5)));
    }

    #[test]
    fn frame_length_limits_match_zookeeper() {
        let max = JUTE_MAX_BUFFER_DEFAULT;
        assert_eq!(
            frame_length(&0x000F_FFFFi32.to_be_bytes(), max),
            Ok(Some(max))
        );
        assert_eq!(
            frame_length(&0x0010_0000i32.to_be_bytes(), max),
            Err(DecodeError::FrameTooLarge {
                len: 0x10_0000,
                max
            })
        );
        assert_eq!(
            frame_length(&(-1i32).to_be_bytes(), max),
            Err(DecodeError::NegativeFrameLength(-1))
        );
        assert_eq!(frame_length(&0i32.to_be_bytes(), max), Ok(Some(0)));
    }

    #[test]
    fn split_frame_waits_for_the_whole_payload() {
        let buf = [0, 0, 0, 3, 9, 8];
        assert_eq!(split_frame(&buf, 100), Ok(None));
        let buf = [0, 0, 0, 3, 9, 8, 7, 6];
        assert_eq!(split_frame(&buf, 100), Ok(Some(&[9u8, 8, 7][..])));
    }

    #[test]
    fn write_frame_patches_the_prefix() {
        let mut out = vec![0xAA];
        write_frame(&mut out, |w| {
            w.write_int(7);
            w.write_bool(true);
        });
        assert_eq!(out, vec![0xAA, 0, 0, 0, 5, 0, 0, 0, 7, 1]);
        let mut bm = bytes::BytesMut::new();
        write_frame(&mut bm, |w| w.write_long(-1));
        assert_eq!(
            &bm[..],
            &[0, 0, 0, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
    }
}
