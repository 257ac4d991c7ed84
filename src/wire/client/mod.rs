//! The client protocol's records (reference A.3–A.11): the handshake, the request and reply
//! headers, the opcodes, every request body and every response body, multi framing, watch events.
//!
//! There is no type byte on the wire: a request says what it is through its header's opcode, a
//! reply is tied to its request by the xid, and the reader must know which record to expect
//! (A.2 notes). So requests decode through [`Request::decode`] keyed by the opcode, and responses
//! through [`Response::decode`] keyed by the opcode of the request they answer.
//!
//! Null handling (A.2): `buffer` fields that carry znode data are `Option<Vec<u8>>` because
//! ZooKeeper distinguishes null data (length -1) from empty data; other buffers (passwords, auth
//! bytes, SASL tokens) decode null as empty. `ustring` fields are `String` and a null there is a
//! [`DecodeError::UnexpectedNull`](crate::wire::DecodeError::UnexpectedNull), except where the
//! record gives null a meaning (ReconfigRequest). A null `vector` decodes as empty. Bytes after a
//! record are ignored, as ZooKeeper ignores them.
//!
//! Records that are a plain sequence of fields are declared with
//! [`jute_record!`](crate::wire::jute) (the field list is the encoding); the handshake and multi
//! are hand-written. Every item is re-exported here, one file per concern:
//!
//! - `opcodes`: [`OpCode`], [`CreateMode`], [`WatcherType`], [`AddWatchMode`] (A.5, A.9, A.10).
//! - `headers`: [`RequestHeader`], [`ReplyHeader`], the special xids (A.4).
//! - `connect`: [`ConnectRequest`], [`ConnectResponse`] and their framed encoders (A.3).
//! - `requests`, `responses`: the request and response bodies (A.6).
//! - `multi`: [`MultiHeader`], [`MultiRequest`], [`MultiResponse`] (A.11).
//! - `events`: [`WatcherEvent`], [`EventType`], [`KeeperState`], [`write_notification`] (A.10).
//! - `by_opcode`: [`Request`] and [`Response`], the body each opcode selects, with
//!   [`decode_request`], [`write_request`] and [`write_reply`] (A.1, A.5).

mod by_opcode;
mod connect;
mod events;
mod headers;
mod multi;
mod opcodes;
mod requests;
mod responses;

pub use by_opcode::*;
pub use connect::*;
pub use events::*;
pub use headers::*;
pub use multi::*;
pub use opcodes::*;
pub use requests::*;
pub use responses::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::jute::Record;

    /// The smallest encoding of a record is its `Default` one (empty strings, buffers and
    /// vectors; no optional trailing byte), so `MIN_LEN`, which bounds vector preallocation,
    /// must equal that encoding's length.
    fn min_len_is_the_default_encoding<R: Record + Default>(name: &str) {
        assert_eq!(R::default().to_bytes().len(), R::MIN_LEN, "{name}");
    }

    #[test]
    fn every_record_min_len_is_its_smallest_encoding() {
        macro_rules! check {
            ($($record:ty),* $(,)?) => {
                $(min_len_is_the_default_encoding::<$record>(stringify!($record));)*
            };
        }
        check!(
            RequestHeader,
            ReplyHeader,
            ConnectRequest,
            ConnectResponse,
            CreateRequest,
            CreateTtlRequest,
            PathVersion,
            PathWatch,
            PathRecord,
            SetDataRequest,
            SetAclRequest,
            ReconfigRequest,
            WatchesRequest,
            AddWatchRequest,
            SetWatches,
            SetWatches2,
            AuthPacket,
            SaslToken,
            Create2Response,
            StatResponse,
            GetDataResponse,
            GetAclResponse,
            StringsResponse,
            GetChildren2Response,
            GetAllChildrenNumberResponse,
            ClientInfo,
            WhoAmIResponse,
            WatcherEvent,
            ErrorResponse,
            MultiHeader,
            MultiRequest,
            MultiResponse,
        );
        assert_eq!(ReplyHeader::MIN_LEN, REPLY_HEADER_LEN);
        assert_eq!(MultiHeader::MIN_LEN, MULTI_HEADER_LEN);
    }
}
