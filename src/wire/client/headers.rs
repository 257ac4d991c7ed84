//! The header in front of every frame after the handshake, and the special xids (reference A.4).

use crate::wire::jute::jute_record;

/// xid of a watch notification (server → client only); the header's zxid is -1 in 3.8 (A.4).
pub const NOTIFICATION_XID: i32 = -1;
/// xid of a ping (opcode 11); the reply carries the server's last processed zxid.
pub const PING_XID: i32 = -2;
/// xid of an auth packet (opcode 100); the reply's zxid is 0.
pub const AUTH_XID: i32 = -4;
/// xid of setWatches / setWatches2 (opcodes 101, 105).
pub const SET_WATCHES_XID: i32 = -8;

jute_record! {
    /// Header of every client frame after the handshake (8 bytes).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct RequestHeader {
        /// Client-chosen request id (or a special xid, A.4), echoed in the reply.
        pub xid: i32 as int,
        /// The opcode as sent; [`OpCode::from_i32`](super::OpCode::from_i32) classifies it.
        /// Kept raw so that a reply can be addressed even when the opcode is unknown.
        pub opcode: i32 as int,
    }
}

jute_record! {
    /// Header of every server frame after the handshake (16 bytes).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ReplyHeader {
        /// The request's xid, or -1 for a notification.
        pub xid: i32 as int,
        /// The write's zxid, or the server's last processed zxid for reads (A.4).
        pub zxid: i64 as long,
        /// 0 or a KeeperException code; when non-zero no body follows.
        pub err: i32 as int,
    }
}

/// Encoded size of a [`ReplyHeader`].
pub const REPLY_HEADER_LEN: usize = 16;
