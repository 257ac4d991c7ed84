//! The handshake (reference A.3): the client's ConnectRequest, the server's ConnectResponse.
//!
//! Both are hand-written records: the trailing readOnly byte is absent from "old clients", and
//! its presence in the request decides its presence in the reply.

use bytes::BufMut;

use crate::wire::jute::{JuteReader, JuteWriter, Record, BOOL_LEN, INT_LEN, LONG_LEN};
use crate::wire::{write_frame, DecodeError};

/// Password length of every session (A.3, C client constraint).
pub const SESSION_PASSWD_LEN: usize = 16;

/// The first frame of a client connection (A.3): 45 payload bytes from current clients, 44 from
/// clients that predate the readOnly byte (or any length with a non-16-byte password).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnectRequest {
    /// Always 0.
    pub protocol_version: i32,
    /// Highest zxid the client has seen; 0 for a new client.
    pub last_zxid_seen: i64,
    /// Requested session timeout.
    pub timeout_ms: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    /// Session password (16 bytes from every known client; null decodes as empty).
    pub passwd: Vec<u8>,
    /// The trailing readOnly byte; `None` when the client did not send it (an "old client",
    /// which then must get a reply without the byte either).
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    /// The readOnly field of the reply ZooKeeper sends this client: present iff the request
    /// carried it (NIOServerCnxn `isOldClient`), and then the server's own read-only status.
    pub fn reply_read_only(&self, server_is_read_only: bool) -> Option<bool> {
        self.read_only.map(|_| server_is_read_only)
    }
}

impl Record for ConnectRequest {
    const MIN_LEN: usize = INT_LEN + LONG_LEN + INT_LEN + LONG_LEN + INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(self.protocol_version);
        w.write_long(self.last_zxid_seen);
        w.write_int(self.timeout_ms);
        w.write_long(self.session_id);
        w.write_bytes(&self.passwd);
        if let Some(read_only) = self.read_only {
            w.write_bool(read_only);
        }
    }

    /// ZooKeeper 3.8 deserializes the jute record, then tries one more boolean: if a byte is
    /// left, it is readOnly; if not, the client is an old client (ZooKeeperServer
    /// `processConnectRequest`).
    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        let protocol_version = r.read_int()?;
        let last_zxid_seen = r.read_long()?;
        let timeout_ms = r.read_int()?;
        let session_id = r.read_long()?;
        let passwd = r.read_buffer()?.unwrap_or_default();
        let read_only = if r.remaining() >= BOOL_LEN {
            Some(r.read_bool()?)
        } else {
            None
        };
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }
}

/// The server's handshake reply (A.3): 37 payload bytes, 36 to an old client.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// Negotiated timeout; 0 means the session is invalid or expired.
    pub timeout_ms: i32,
    /// Assigned or resumed session id; 0 when invalid.
    pub session_id: i64,
    /// Session password; always exactly 16 bytes (the C client copies 16 bytes at a fixed
    /// offset), all zero when invalid.
    pub passwd: [u8; SESSION_PASSWD_LEN],
    /// Present iff the request carried readOnly ([`ConnectRequest::reply_read_only`]).
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// The reply to a resume with a wrong password or of an unknown/expired session: timeout 0,
    /// session 0, 16 zero bytes (ZooKeeperServer `finishSessionInit`). The server closes the
    /// connection after sending it.
    pub fn invalid_session(read_only: Option<bool>) -> ConnectResponse {
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: 0,
            session_id: 0,
            passwd: [0; SESSION_PASSWD_LEN],
            read_only,
        }
    }
}

impl Record for ConnectResponse {
    const MIN_LEN: usize = INT_LEN + INT_LEN + LONG_LEN + INT_LEN + SESSION_PASSWD_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(self.protocol_version);
        w.write_int(self.timeout_ms);
        w.write_long(self.session_id);
        w.write_bytes(&self.passwd);
        if let Some(read_only) = self.read_only {
            w.write_bool(read_only);
        }
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        let protocol_version = r.read_int()?;
        let timeout_ms = r.read_int()?;
        let session_id = r.read_long()?;
        let raw = r.read_buffer_slice()?.unwrap_or_default();
        let passwd: [u8; SESSION_PASSWD_LEN] = raw
            .try_into()
            .map_err(|_| DecodeError::InvalidPasswordLength(raw.len()))?;
        let read_only = if r.remaining() >= BOOL_LEN {
            Some(r.read_bool()?)
        } else {
            None
        };
        Ok(ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }
}

/// Appends a framed ConnectRequest (the client's first frame, no RequestHeader).
pub fn write_connect_request<B: BufMut + AsMut<[u8]>>(buf: &mut B, req: &ConnectRequest) {
    write_frame(buf, |w| req.encode(w));
}

/// Appends a framed ConnectResponse.
pub fn write_connect_response<B: BufMut + AsMut<[u8]>>(buf: &mut B, resp: &ConnectResponse) {
    write_frame(buf, |w| resp.encode(w));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_response_echoes_read_only_presence() {
        let old = ConnectRequest {
            read_only: None,
            ..ConnectRequest::default()
        };
        let new = ConnectRequest {
            read_only: Some(false),
            ..ConnectRequest::default()
        };
        assert_eq!(old.reply_read_only(true), None);
        assert_eq!(new.reply_read_only(true), Some(true));
        assert_eq!(ConnectResponse::invalid_session(None).to_bytes().len(), 36);
        assert_eq!(
            ConnectResponse::invalid_session(Some(false))
                .to_bytes()
                .len(),
            37
        );
    }

    #[test]
    fn connect_response_needs_a_16_byte_password() {
        let mut out = Vec::new();
        let w = &mut JuteWriter::new(&mut out);
        w.write_int(0);
        w.write_int(4000);
        w.write_long(1);
        w.write_bytes(&[1, 2, 3]);
        assert_eq!(
            ConnectResponse::from_bytes(&out),
            Err(DecodeError::InvalidPasswordLength(3))
        );
    }
}
