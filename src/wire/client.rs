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
//! [`DecodeError::UnexpectedNull`], except where the record gives null a meaning (ReconfigRequest).
//! A null `vector` decodes as empty. Bytes after a record are ignored, as ZooKeeper ignores them.

use bytes::BufMut;

use crate::wire::jute::{JuteReader, JuteWriter, Record, BOOL_LEN, INT_LEN, LONG_LEN};
use crate::wire::records::{Acl, Stat, STAT_LEN};
use crate::wire::{write_frame, DecodeError};

// ---------------------------------------------------------------------------------------------
// A.4 special xids
// ---------------------------------------------------------------------------------------------

/// xid of a watch notification (server → client only); the header's zxid is -1 in 3.8 (A.4).
pub const NOTIFICATION_XID: i32 = -1;
/// xid of a ping (opcode 11); the reply carries the server's last processed zxid.
pub const PING_XID: i32 = -2;
/// xid of an auth packet (opcode 100); the reply's zxid is 0.
pub const AUTH_XID: i32 = -4;
/// xid of setWatches / setWatches2 (opcodes 101, 105).
pub const SET_WATCHES_XID: i32 = -8;

/// Password length of every session (A.3, C client constraint).
pub const SESSION_PASSWD_LEN: usize = 16;

// ---------------------------------------------------------------------------------------------
// A.5 opcodes
// ---------------------------------------------------------------------------------------------

/// Every opcode number ZooKeeper defines (ZooDefs.OpCode; A.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum OpCode {
    /// 0: watch notification (never sent by clients).
    Notification = 0,
    /// 1: create, replies with the actual path.
    Create = 1,
    /// 2: delete.
    Delete = 2,
    /// 3: exists.
    Exists = 3,
    /// 4: getData.
    GetData = 4,
    /// 5: setData.
    SetData = 5,
    /// 6: getACL.
    GetAcl = 6,
    /// 7: setACL.
    SetAcl = 7,
    /// 8: getChildren.
    GetChildren = 8,
    /// 9: sync.
    Sync = 9,
    /// 11: ping (xid -2).
    Ping = 11,
    /// 12: getChildren2 (children and the parent's Stat).
    GetChildren2 = 12,
    /// 13: check version (a txn; normally inside multi).
    Check = 13,
    /// 14: multi.
    Multi = 14,
    /// 15: create2 (path and Stat).
    Create2 = 15,
    /// 16: reconfig.
    Reconfig = 16,
    /// 17: checkWatches.
    CheckWatches = 17,
    /// 18: removeWatches.
    RemoveWatches = 18,
    /// 19: createContainer.
    CreateContainer = 19,
    /// 20: deleteContainer (internal, issued by the container reaper; raw UTF-8 path body).
    DeleteContainer = 20,
    /// 21: createTTL.
    CreateTtl = 21,
    /// 22: multiRead.
    MultiRead = 22,
    /// 100: auth (xid -4).
    Auth = 100,
    /// 101: setWatches (xid -8).
    SetWatches = 101,
    /// 102: SASL.
    Sasl = 102,
    /// 103: getEphemerals.
    GetEphemerals = 103,
    /// 104: getAllChildrenNumber.
    GetAllChildrenNumber = 104,
    /// 105: setWatches2 (xid -8).
    SetWatches2 = 105,
    /// 106: addWatch.
    AddWatch = 106,
    /// 107: whoAmI.
    WhoAmI = 107,
    /// -10: createSession (internal txn type; the handshake creates sessions).
    CreateSession = -10,
    /// -11: closeSession.
    CloseSession = -11,
    /// -1: error (internal txn type, multi result type).
    Error = -1,
}

impl OpCode {
    /// Every opcode, in numeric order of the table in A.5.
    pub const ALL: [OpCode; 33] = [
        OpCode::Notification,
        OpCode::Create,
        OpCode::Delete,
        OpCode::Exists,
        OpCode::GetData,
        OpCode::SetData,
        OpCode::GetAcl,
        OpCode::SetAcl,
        OpCode::GetChildren,
        OpCode::Sync,
        OpCode::Ping,
        OpCode::GetChildren2,
        OpCode::Check,
        OpCode::Multi,
        OpCode::Create2,
        OpCode::Reconfig,
        OpCode::CheckWatches,
        OpCode::RemoveWatches,
        OpCode::CreateContainer,
        OpCode::DeleteContainer,
        OpCode::CreateTtl,
        OpCode::MultiRead,
        OpCode::Auth,
        OpCode::SetWatches,
        OpCode::Sasl,
        OpCode::GetEphemerals,
        OpCode::GetAllChildrenNumber,
        OpCode::SetWatches2,
        OpCode::AddWatch,
        OpCode::WhoAmI,
        OpCode::CreateSession,
        OpCode::CloseSession,
        OpCode::Error,
    ];

    /// The opcode with this number, if ZooKeeper defines one (10 is a gap).
    pub fn from_i32(code: i32) -> Option<OpCode> {
        Some(match code {
            0 => OpCode::Notification,
            1 => OpCode::Create,
            2 => OpCode::Delete,
            3 => OpCode::Exists,
            4 => OpCode::GetData,
            5 => OpCode::SetData,
            6 => OpCode::GetAcl,
            7 => OpCode::SetAcl,
            8 => OpCode::GetChildren,
            9 => OpCode::Sync,
            11 => OpCode::Ping,
            12 => OpCode::GetChildren2,
            13 => OpCode::Check,
            14 => OpCode::Multi,
            15 => OpCode::Create2,
            16 => OpCode::Reconfig,
            17 => OpCode::CheckWatches,
            18 => OpCode::RemoveWatches,
            19 => OpCode::CreateContainer,
            20 => OpCode::DeleteContainer,
            21 => OpCode::CreateTtl,
            22 => OpCode::MultiRead,
            100 => OpCode::Auth,
            101 => OpCode::SetWatches,
            102 => OpCode::Sasl,
            103 => OpCode::GetEphemerals,
            104 => OpCode::GetAllChildrenNumber,
            105 => OpCode::SetWatches2,
            106 => OpCode::AddWatch,
            107 => OpCode::WhoAmI,
            -10 => OpCode::CreateSession,
            -11 => OpCode::CloseSession,
            -1 => OpCode::Error,
            _ => return None,
        })
    }

    /// The wire number.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// ZooKeeper's name for the opcode (as in ZooDefs and its logs).
    pub fn name(self) -> &'static str {
        match self {
            OpCode::Notification => "notification",
            OpCode::Create => "create",
            OpCode::Delete => "delete",
            OpCode::Exists => "exists",
            OpCode::GetData => "getData",
            OpCode::SetData => "setData",
            OpCode::GetAcl => "getACL",
            OpCode::SetAcl => "setACL",
            OpCode::GetChildren => "getChildren",
            OpCode::Sync => "sync",
            OpCode::Ping => "ping",
            OpCode::GetChildren2 => "getChildren2",
            OpCode::Check => "check",
            OpCode::Multi => "multi",
            OpCode::Create2 => "create2",
            OpCode::Reconfig => "reconfig",
            OpCode::CheckWatches => "checkWatches",
            OpCode::RemoveWatches => "removeWatches",
            OpCode::CreateContainer => "createContainer",
            OpCode::DeleteContainer => "deleteContainer",
            OpCode::CreateTtl => "createTTL",
            OpCode::MultiRead => "multiRead",
            OpCode::Auth => "auth",
            OpCode::SetWatches => "setWatches",
            OpCode::Sasl => "sasl",
            OpCode::GetEphemerals => "getEphemerals",
            OpCode::GetAllChildrenNumber => "getAllChildrenNumber",
            OpCode::SetWatches2 => "setWatches2",
            OpCode::AddWatch => "addWatch",
            OpCode::WhoAmI => "whoAmI",
            OpCode::CreateSession => "createSession",
            OpCode::CloseSession => "closeSession",
            OpCode::Error => "error",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A.9, A.10 enumerations carried as ints
// ---------------------------------------------------------------------------------------------

/// CreateRequest `flags` (CreateMode; A.9). Any other value is BADARGUMENTS (-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum CreateMode {
    /// 0
    Persistent = 0,
    /// 1
    Ephemeral = 1,
    /// 2
    PersistentSequential = 2,
    /// 3
    EphemeralSequential = 3,
    /// 4 (3.5+)
    Container = 4,
    /// 5 (3.5.3+)
    PersistentWithTtl = 5,
    /// 6 (3.5.3+)
    PersistentSequentialWithTtl = 6,
}

impl CreateMode {
    /// The mode for a `flags` value, `None` for values ZooKeeper rejects.
    pub fn from_flags(flags: i32) -> Option<CreateMode> {
        Some(match flags {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 => CreateMode::PersistentWithTtl,
            6 => CreateMode::PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn flags(self) -> i32 {
        self as i32
    }

    /// Deleted when the owning session ends.
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// Gets a `%010d` suffix from the parent's cversion (A.13).
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// A container node (reaped when empty after having had children).
    pub fn is_container(self) -> bool {
        self == CreateMode::Container
    }

    /// A TTL node.
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

/// WatcherEvent `type` (Watcher.Event.EventType; A.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum EventType {
    /// -1: client-local connection events.
    None = -1,
    /// 1
    NodeCreated = 1,
    /// 2
    NodeDeleted = 2,
    /// 3
    NodeDataChanged = 3,
    /// 4
    NodeChildrenChanged = 4,
    /// 5: client-local.
    DataWatchRemoved = 5,
    /// 6: client-local.
    ChildWatchRemoved = 6,
    /// 7: client-local.
    PersistentWatchRemoved = 7,
}

impl EventType {
    /// The event type with this number.
    pub fn from_i32(v: i32) -> Option<EventType> {
        Some(match v {
            -1 => EventType::None,
            1 => EventType::NodeCreated,
            2 => EventType::NodeDeleted,
            3 => EventType::NodeDataChanged,
            4 => EventType::NodeChildrenChanged,
            5 => EventType::DataWatchRemoved,
            6 => EventType::ChildWatchRemoved,
            7 => EventType::PersistentWatchRemoved,
            _ => return None,
        })
    }
}

/// WatcherEvent `state` (Watcher.Event.KeeperState; A.10). The server only ever sends
/// [`KeeperState::SyncConnected`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum KeeperState {
    /// -1 (deprecated)
    Unknown = -1,
    /// 0
    Disconnected = 0,
    /// 1 (deprecated)
    NoSyncConnected = 1,
    /// 3: the only state on the wire.
    SyncConnected = 3,
    /// 4
    AuthFailed = 4,
    /// 5
    ConnectedReadOnly = 5,
    /// 6
    SaslAuthenticated = 6,
    /// -112
    Expired = -112,
    /// 7
    Closed = 7,
}

impl KeeperState {
    /// The state with this number.
    pub fn from_i32(v: i32) -> Option<KeeperState> {
        Some(match v {
            -1 => KeeperState::Unknown,
            0 => KeeperState::Disconnected,
            1 => KeeperState::NoSyncConnected,
            3 => KeeperState::SyncConnected,
            4 => KeeperState::AuthFailed,
            5 => KeeperState::ConnectedReadOnly,
            6 => KeeperState::SaslAuthenticated,
            -112 => KeeperState::Expired,
            7 => KeeperState::Closed,
            _ => return None,
        })
    }
}

/// checkWatches / removeWatches `type` (Watcher.WatcherType; A.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum WatcherType {
    /// 1
    Children = 1,
    /// 2
    Data = 2,
    /// 3
    Any = 3,
    /// 4 (master only)
    Persistent = 4,
    /// 5 (master only)
    PersistentRecursive = 5,
}

impl WatcherType {
    /// The watcher type with this number.
    pub fn from_i32(v: i32) -> Option<WatcherType> {
        Some(match v {
            1 => WatcherType::Children,
            2 => WatcherType::Data,
            3 => WatcherType::Any,
            4 => WatcherType::Persistent,
            5 => WatcherType::PersistentRecursive,
            _ => return None,
        })
    }
}

/// AddWatchRequest `mode` (ZooDefs.AddWatchModes; A.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum AddWatchMode {
    /// 0
    Persistent = 0,
    /// 1
    PersistentRecursive = 1,
}

impl AddWatchMode {
    /// The mode with this number.
    pub fn from_i32(v: i32) -> Option<AddWatchMode> {
        match v {
            0 => Some(AddWatchMode::Persistent),
            1 => Some(AddWatchMode::PersistentRecursive),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A.3 handshake
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// A.4 headers
// ---------------------------------------------------------------------------------------------

/// Header of every client frame after the handshake (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestHeader {
    /// Client-chosen request id (or a special xid, A.4), echoed in the reply.
    pub xid: i32,
    /// The opcode as sent; [`OpCode::from_i32`] classifies it. Kept raw so that a reply can be
    /// addressed even when the opcode is unknown.
    pub opcode: i32,
}

impl Record for RequestHeader {
    const MIN_LEN: usize = 2 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(self.xid);
        w.write_int(self.opcode);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(RequestHeader {
            xid: r.read_int()?,
            opcode: r.read_int()?,
        })
    }
}

/// Header of every server frame after the handshake (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReplyHeader {
    /// The request's xid, or -1 for a notification.
    pub xid: i32,
    /// The write's zxid, or the server's last processed zxid for reads (A.4).
    pub zxid: i64,
    /// 0 or a KeeperException code; when non-zero no body follows.
    pub err: i32,
}

/// Encoded size of a [`ReplyHeader`].
pub const REPLY_HEADER_LEN: usize = 16;

impl Record for ReplyHeader {
    const MIN_LEN: usize = REPLY_HEADER_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(self.xid);
        w.write_long(self.zxid);
        w.write_int(self.err);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(ReplyHeader {
            xid: r.read_int()?,
            zxid: r.read_long()?,
            err: r.read_int()?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// A.6 request records
// ---------------------------------------------------------------------------------------------

/// CreateRequest (opcodes 1, 15, 19; inside multi too).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CreateRequest {
    /// Requested path (a sequential suffix is appended by the server).
    pub path: String,
    /// Data; `None` is null data (returned as length -1 by getData).
    pub data: Option<Vec<u8>>,
    /// ACL of the new node.
    pub acl: Vec<Acl>,
    /// [`CreateMode`] flags.
    pub flags: i32,
}

impl Record for CreateRequest {
    const MIN_LEN: usize = 4 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.path);
        w.write_buffer(self.data.as_deref());
        w.write_records(&self.acl);
        w.write_int(self.flags);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(CreateRequest {
            path: r.read_string("CreateRequest.path")?,
            data: r.read_buffer()?,
            acl: r.read_records()?,
            flags: r.read_int()?,
        })
    }
}

/// CreateTTLRequest (opcode 21): CreateRequest plus the TTL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CreateTtlRequest {
    /// Requested path.
    pub path: String,
    /// Data; `None` is null data.
    pub data: Option<Vec<u8>>,
    /// ACL of the new node.
    pub acl: Vec<Acl>,
    /// [`CreateMode`] flags (5 or 6 to be valid).
    pub flags: i32,
    /// Time to live.
    pub ttl_ms: i64,
}

impl Record for CreateTtlRequest {
    const MIN_LEN: usize = 4 * INT_LEN + LONG_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.path);
        w.write_buffer(self.data.as_deref());
        w.write_records(&self.acl);
        w.write_int(self.flags);
        w.write_long(self.ttl_ms);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(CreateTtlRequest {
            path: r.read_string("CreateTTLRequest.path")?,
            data: r.read_buffer()?,
            acl: r.read_records()?,
            flags: r.read_int()?,
            ttl_ms: r.read_long()?,
        })
    }
}

/// A record made of a path and a version: DeleteRequest, CheckVersionRequest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathVersion {
    /// The znode.
    pub path: String,
    /// Expected version; -1 matches any.
    pub version: i32,
}

/// DeleteRequest (opcode 2): `path`, `version`.
pub type DeleteRequest = PathVersion;
/// CheckVersionRequest (opcode 13): `path`, `version`.
pub type CheckVersionRequest = PathVersion;

impl Record for PathVersion {
    const MIN_LEN: usize = 2 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.path);
        w.write_int(self.version);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(PathVersion {
            path: r.read_string("path")?,
            version: r.read_int()?,
        })
    }
}

/// A record made of a path and a watch flag: Exists, GetData, GetChildren, GetChildren2 requests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathWatch {
    /// The znode.
    pub path: String,
    /// Leave a one-shot watch.
    pub watch: bool,
}

/// ExistsRequest (opcode 3).
pub type ExistsRequest = PathWatch;
/// GetDataRequest (opcode 4).
pub type GetDataRequest = PathWatch;
/// GetChildrenRequest (opcode 8).
pub type GetChildrenRequest = PathWatch;
/// GetChildren2Request (opcode 12).
pub type GetChildren2Request = PathWatch;

impl Record for PathWatch {
    const MIN_LEN: usize = INT_LEN + BOOL_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.path);
        w.write_bool(self.watch);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(PathWatch {
            path: r.read_string("path")?,
            watch: r.read_bool()?,
        })
    }
}

/// A record made of one path: GetACL/Sync/GetAllChildrenNumber/GetEphemerals requests and the
/// Create and Sync responses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathRecord {
    /// The path (GetEphemeralsRequest calls it `prefixPath`).
    pub path: String,
}

/// GetACLRequest (opcode 6).
pub type GetAclRequest = PathRecord;
/// SyncRequest (opcode 9).
pub type SyncRequest = PathRecord;
/// SyncResponse: echoes the path.
pub type SyncResponse = PathRecord;
/// GetAllChildrenNumberRequest (opcode 104).
pub type GetAllChildrenNumberRequest = PathRecord;
/// GetEphemeralsRequest (opcode 103): `prefixPath`; "" or "/" means all.
pub type GetEphemeralsRequest = PathRecord;
/// CreateResponse (opcode 1): the actual path created.
pub type CreateResponse = PathRecord;

impl Record for PathRecord {
    const MIN_LEN: usize = INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.path);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(PathRecord {
            path: r.read_string("path")?,
        })
    }
}

/// SetDataRequest (opcode 5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetDataRequest {
    /// The znode.
    pub path: String,
    /// New data; `None` is null data.
    pub data: Option<Vec<u8>>,
    /// Expected data version; -1 matches any.
    pub version: i32,
}

impl Record for SetDataRequest {
    const MIN_LEN: usize = 3 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.path);
        w.write_buffer(self.data.as_deref());
        w.write_int(self.version);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(SetDataRequest {
            path: r.read_string("SetDataRequest.path")?,
            data: r.read_buffer()?,
            version: r.read_int()?,
        })
    }
}

/// SetACLRequest (opcode 7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetAclRequest {
    /// The znode.
    pub path: String,
    /// The new ACL.
    pub acl: Vec<Acl>,
    /// Expected ACL version (aversion); -1 matches any.
    pub version: i32,
}

impl Record for SetAclRequest {
    const MIN_LEN: usize = 3 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.path);
        w.write_records(&self.acl);
        w.write_int(self.version);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(SetAclRequest {
            path: r.read_string("SetACLRequest.path")?,
            acl: r.read_records()?,
            version: r.read_int()?,
        })
    }
}

/// ReconfigRequest (opcode 16). Each server list may be null.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReconfigRequest {
    /// Servers to add (incremental reconfig).
    pub joining_servers: Option<String>,
    /// Server ids to remove (incremental reconfig).
    pub leaving_servers: Option<String>,
    /// Full new membership (non-incremental reconfig).
    pub new_members: Option<String>,
    /// Expected current config version; -1 means no check.
    pub cur_config_id: i64,
}

impl Record for ReconfigRequest {
    const MIN_LEN: usize = 3 * INT_LEN + LONG_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_ustring(self.joining_servers.as_deref());
        w.write_ustring(self.leaving_servers.as_deref());
        w.write_ustring(self.new_members.as_deref());
        w.write_long(self.cur_config_id);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(ReconfigRequest {
            joining_servers: r.read_ustring()?,
            leaving_servers: r.read_ustring()?,
            new_members: r.read_ustring()?,
            cur_config_id: r.read_long()?,
        })
    }
}

/// CheckWatchesRequest / RemoveWatchesRequest (opcodes 17, 18).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WatchesRequest {
    /// The watched path.
    pub path: String,
    /// [`WatcherType`] number.
    pub watcher_type: i32,
}

/// CheckWatchesRequest (opcode 17).
pub type CheckWatchesRequest = WatchesRequest;
/// RemoveWatchesRequest (opcode 18).
pub type RemoveWatchesRequest = WatchesRequest;

impl Record for WatchesRequest {
    const MIN_LEN: usize = 2 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.path);
        w.write_int(self.watcher_type);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(WatchesRequest {
            path: r.read_string("path")?,
            watcher_type: r.read_int()?,
        })
    }
}

/// AddWatchRequest (opcode 106).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddWatchRequest {
    /// The watched path.
    pub path: String,
    /// [`AddWatchMode`] number.
    pub mode: i32,
}

impl Record for AddWatchRequest {
    const MIN_LEN: usize = 2 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.path);
        w.write_int(self.mode);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(AddWatchRequest {
            path: r.read_string("AddWatchRequest.path")?,
            mode: r.read_int()?,
        })
    }
}

/// SetWatches (opcode 101, xid -8): re-registers watches after a reconnect (A.10).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetWatches {
    /// The client's last seen zxid; changes after it fire immediately.
    pub relative_zxid: i64,
    /// getData watches.
    pub data_watches: Vec<String>,
    /// exists watches.
    pub exist_watches: Vec<String>,
    /// getChildren watches.
    pub child_watches: Vec<String>,
}

impl Record for SetWatches {
    const MIN_LEN: usize = LONG_LEN + 3 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_long(self.relative_zxid);
        w.write_strings(&self.data_watches);
        w.write_strings(&self.exist_watches);
        w.write_strings(&self.child_watches);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(SetWatches {
            relative_zxid: r.read_long()?,
            data_watches: r.read_strings("dataWatches")?,
            exist_watches: r.read_strings("existWatches")?,
            child_watches: r.read_strings("childWatches")?,
        })
    }
}

/// SetWatches2 (opcode 105, xid -8): SetWatches plus persistent watches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetWatches2 {
    /// The client's last seen zxid.
    pub relative_zxid: i64,
    /// getData watches.
    pub data_watches: Vec<String>,
    /// exists watches.
    pub exist_watches: Vec<String>,
    /// getChildren watches.
    pub child_watches: Vec<String>,
    /// addWatch(persistent) watches.
    pub persistent_watches: Vec<String>,
    /// addWatch(persistent-recursive) watches.
    pub persistent_recursive_watches: Vec<String>,
}

impl Record for SetWatches2 {
    const MIN_LEN: usize = LONG_LEN + 5 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_long(self.relative_zxid);
        w.write_strings(&self.data_watches);
        w.write_strings(&self.exist_watches);
        w.write_strings(&self.child_watches);
        w.write_strings(&self.persistent_watches);
        w.write_strings(&self.persistent_recursive_watches);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(SetWatches2 {
            relative_zxid: r.read_long()?,
            data_watches: r.read_strings("dataWatches")?,
            exist_watches: r.read_strings("existWatches")?,
            child_watches: r.read_strings("childWatches")?,
            persistent_watches: r.read_strings("persistentWatches")?,
            persistent_recursive_watches: r.read_strings("persistentRecursiveWatches")?,
        })
    }
}

/// AuthPacket (opcode 100, xid -4).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AuthPacket {
    /// Always 0.
    pub auth_type: i32,
    /// `digest`, `sasl`, ...
    pub scheme: String,
    /// Scheme-specific credentials (`user:password` for digest); null decodes as empty.
    pub auth: Vec<u8>,
}

impl Record for AuthPacket {
    const MIN_LEN: usize = 3 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(self.auth_type);
        w.write_string(&self.scheme);
        w.write_bytes(&self.auth);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(AuthPacket {
            auth_type: r.read_int()?,
            scheme: r.read_string("AuthPacket.scheme")?,
            auth: r.read_buffer()?.unwrap_or_default(),
        })
    }
}

/// GetSASLRequest / SetSASLResponse (opcode 102): one token buffer; null decodes as empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SaslToken {
    /// The SASL token.
    pub token: Vec<u8>,
}

/// GetSASLRequest (opcode 102).
pub type GetSaslRequest = SaslToken;
/// SetSASLResponse (opcode 102).
pub type SetSaslResponse = SaslToken;

impl Record for SaslToken {
    const MIN_LEN: usize = INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_bytes(&self.token);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(SaslToken {
            token: r.read_buffer()?.unwrap_or_default(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// A.6 response records
// ---------------------------------------------------------------------------------------------

/// Create2Response (opcodes 15, 19, 21).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Create2Response {
    /// The actual path created.
    pub path: String,
    /// The new node's Stat.
    pub stat: Stat,
}

impl Record for Create2Response {
    const MIN_LEN: usize = INT_LEN + STAT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.path);
        self.stat.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Create2Response {
            path: r.read_string("Create2Response.path")?,
            stat: Stat::decode(r)?,
        })
    }
}

/// One Stat: ExistsResponse, SetDataResponse, SetACLResponse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatResponse {
    /// The node's Stat after the operation.
    pub stat: Stat,
}

/// ExistsResponse (opcode 3).
pub type ExistsResponse = StatResponse;
/// SetDataResponse (opcode 5).
pub type SetDataResponse = StatResponse;
/// SetACLResponse (opcode 7).
pub type SetAclResponse = StatResponse;

impl Record for StatResponse {
    const MIN_LEN: usize = STAT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        self.stat.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(StatResponse {
            stat: Stat::decode(r)?,
        })
    }
}

/// GetDataResponse (opcode 4; also the reply to reconfig).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GetDataResponse {
    /// The data; `None` for a node created with null data (sent as length -1).
    pub data: Option<Vec<u8>>,
    /// The node's Stat.
    pub stat: Stat,
}

impl Record for GetDataResponse {
    const MIN_LEN: usize = INT_LEN + STAT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_buffer(self.data.as_deref());
        self.stat.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(GetDataResponse {
            data: r.read_buffer()?,
            stat: Stat::decode(r)?,
        })
    }
}

/// GetACLResponse (opcode 6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GetAclResponse {
    /// The node's ACL.
    pub acl: Vec<Acl>,
    /// The node's Stat.
    pub stat: Stat,
}

impl Record for GetAclResponse {
    const MIN_LEN: usize = INT_LEN + STAT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_records(&self.acl);
        self.stat.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(GetAclResponse {
            acl: r.read_records()?,
            stat: Stat::decode(r)?,
        })
    }
}

/// A list of names: GetChildrenResponse (`children`), GetEphemeralsResponse (`ephemerals`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StringsResponse {
    /// Child names (not full paths) or ephemeral paths.
    pub names: Vec<String>,
}

/// GetChildrenResponse (opcode 8).
pub type GetChildrenResponse = StringsResponse;
/// GetEphemeralsResponse (opcode 103).
pub type GetEphemeralsResponse = StringsResponse;

impl Record for StringsResponse {
    const MIN_LEN: usize = INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_strings(&self.names);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(StringsResponse {
            names: r.read_strings("names")?,
        })
    }
}

/// GetChildren2Response (opcode 12).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GetChildren2Response {
    /// Child names.
    pub children: Vec<String>,
    /// The parent's Stat.
    pub stat: Stat,
}

impl Record for GetChildren2Response {
    const MIN_LEN: usize = INT_LEN + STAT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_strings(&self.children);
        self.stat.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(GetChildren2Response {
            children: r.read_strings("children")?,
            stat: Stat::decode(r)?,
        })
    }
}

/// GetAllChildrenNumberResponse (opcode 104).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GetAllChildrenNumberResponse {
    /// Number of descendants (not counting the node itself).
    pub total_number: i32,
}

impl Record for GetAllChildrenNumberResponse {
    const MIN_LEN: usize = INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(self.total_number);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(GetAllChildrenNumberResponse {
            total_number: r.read_int()?,
        })
    }
}

/// ClientInfo: one authenticated identity in a WhoAmIResponse.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    /// `ip`, `digest`, ...
    pub auth_scheme: String,
    /// The identity within the scheme.
    pub user: String,
}

impl Record for ClientInfo {
    const MIN_LEN: usize = 2 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.auth_scheme);
        w.write_string(&self.user);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(ClientInfo {
            auth_scheme: r.read_string("ClientInfo.authScheme")?,
            user: r.read_string("ClientInfo.user")?,
        })
    }
}

/// WhoAmIResponse (opcode 107).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WhoAmIResponse {
    /// Every identity the session holds, the implicit `ip` one included.
    pub client_info: Vec<ClientInfo>,
}

impl Record for WhoAmIResponse {
    const MIN_LEN: usize = INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_records(&self.client_info);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(WhoAmIResponse {
            client_info: r.read_records()?,
        })
    }
}

/// WatcherEvent: the body of a notification (xid -1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WatcherEvent {
    /// [`EventType`] number.
    pub event_type: i32,
    /// [`KeeperState`] number; the server always sends SyncConnected (3).
    pub state: i32,
    /// The znode the event is about.
    pub path: String,
}

impl WatcherEvent {
    /// The event a server sends: `event_type` on `path`, state SyncConnected.
    pub fn new(event_type: EventType, path: impl Into<String>) -> WatcherEvent {
        WatcherEvent {
            event_type: event_type as i32,
            state: KeeperState::SyncConnected as i32,
            path: path.into(),
        }
    }
}

impl Record for WatcherEvent {
    const MIN_LEN: usize = 3 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(self.event_type);
        w.write_int(self.state);
        w.write_string(&self.path);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(WatcherEvent {
            event_type: r.read_int()?,
            state: r.read_int()?,
            path: r.read_string("WatcherEvent.path")?,
        })
    }
}

/// ErrorResponse: one `int err` (multi error results; the addWatch success body).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ErrorResponse {
    /// KeeperException code (0 for the addWatch reply).
    pub err: i32,
}

impl Record for ErrorResponse {
    const MIN_LEN: usize = INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(self.err);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(ErrorResponse { err: r.read_int()? })
    }
}

// ---------------------------------------------------------------------------------------------
// A.11 multi
// ---------------------------------------------------------------------------------------------

/// MultiHeader: precedes every op and result of a multi, and terminates the list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiHeader {
    /// Opcode of the op or result that follows; -1 in the terminator and for error results.
    pub op_type: i32,
    /// True only in the terminator.
    pub done: bool,
    /// -1 in requests and in the terminator; in responses the result's error code (0 on success).
    pub err: i32,
}

impl MultiHeader {
    /// The terminator `{type -1, done true, err -1}` ZooKeeper writes after the last op or result.
    pub const DONE: MultiHeader = MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    };
}

/// Encoded size of a [`MultiHeader`].
pub const MULTI_HEADER_LEN: usize = INT_LEN + BOOL_LEN + INT_LEN;

impl Record for MultiHeader {
    const MIN_LEN: usize = MULTI_HEADER_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(self.op_type);
        w.write_bool(self.done);
        w.write_int(self.err);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(MultiHeader {
            op_type: r.read_int()?,
            done: r.read_bool()?,
            err: r.read_int()?,
        })
    }
}

/// One op of a multi or multiRead request, as ZooKeeper's MultiOperationRecord decodes it. Which
/// ops a multi may hold (writes only) and a multiRead may hold (reads only) is the server's check;
/// see [`MultiOp::is_read`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MultiOp {
    /// create (1).
    Create(CreateRequest),
    /// create2 (15).
    Create2(CreateRequest),
    /// createContainer (19).
    CreateContainer(CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13).
    Check(CheckVersionRequest),
    /// getChildren (8), multiRead only.
    GetChildren(GetChildrenRequest),
    /// getData (4), multiRead only.
    GetData(GetDataRequest),
}

impl MultiOp {
    /// The op's opcode (its MultiHeader type).
    pub fn opcode(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
            MultiOp::GetData(_) => OpCode::GetData,
        }
    }

    /// A read op (allowed in multiRead only); the others are allowed in multi only.
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren(_) | MultiOp::GetData(_))
    }

    fn encode_body<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        match self {
            MultiOp::Create(req) | MultiOp::Create2(req) | MultiOp::CreateContainer(req) => {
                req.encode(w)
            }
            MultiOp::CreateTtl(req) => req.encode(w),
            MultiOp::Delete(req) | MultiOp::Check(req) => req.encode(w),
            MultiOp::SetData(req) => req.encode(w),
            MultiOp::GetChildren(req) | MultiOp::GetData(req) => req.encode(w),
        }
    }

    fn decode_body(op_type: i32, r: &mut JuteReader<'_>) -> Result<MultiOp, DecodeError> {
        let op = OpCode::from_i32(op_type).ok_or(DecodeError::InvalidMultiOp(op_type))?;
        Ok(match op {
            OpCode::Create => MultiOp::Create(CreateRequest::decode(r)?),
            OpCode::Create2 => MultiOp::Create2(CreateRequest::decode(r)?),
            OpCode::CreateContainer => MultiOp::CreateContainer(CreateRequest::decode(r)?),
            OpCode::CreateTtl => MultiOp::CreateTtl(CreateTtlRequest::decode(r)?),
            OpCode::Delete => MultiOp::Delete(DeleteRequest::decode(r)?),
            OpCode::SetData => MultiOp::SetData(SetDataRequest::decode(r)?),
            OpCode::Check => MultiOp::Check(CheckVersionRequest::decode(r)?),
            OpCode::GetChildren => MultiOp::GetChildren(GetChildrenRequest::decode(r)?),
            OpCode::GetData => MultiOp::GetData(GetDataRequest::decode(r)?),
            _ => return Err(DecodeError::InvalidMultiOp(op_type)),
        })
    }
}

/// MultiOperationRecord (opcodes 14, 22): `{type, false, -1}` + op record per op, then
/// [`MultiHeader::DONE`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiRequest {
    /// The ops, in order.
    pub ops: Vec<MultiOp>,
}

impl Record for MultiRequest {
    const MIN_LEN: usize = MULTI_HEADER_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        for op in &self.ops {
            MultiHeader {
                op_type: op.opcode().as_i32(),
                done: false,
                err: -1,
            }
            .encode(w);
            op.encode_body(w);
        }
        MultiHeader::DONE.encode(w);
    }

    /// Reads headers until one has `done` set (its type and err are not checked, as in
    /// ZooKeeper). Each op consumes at least one header, so the loop is bounded by the input.
    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        let mut ops = Vec::new();
        loop {
            let header = MultiHeader::decode(r)?;
            if header.done {
                return Ok(MultiRequest { ops });
            }
            ops.push(MultiOp::decode_body(header.op_type, r)?);
        }
    }
}

/// One result of a multi or multiRead (OpResult).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpResult {
    /// type 1: CreateResponse.
    Create {
        /// The actual path created.
        path: String,
    },
    /// type 15 (create2, createContainer, createTTL): Create2Response.
    Create2 {
        /// The actual path created.
        path: String,
        /// The new node's Stat.
        stat: Stat,
    },
    /// type 2: no body.
    Delete,
    /// type 5: SetDataResponse.
    SetData {
        /// The node's new Stat.
        stat: Stat,
    },
    /// type 13: no body.
    Check,
    /// type 8 (multiRead): GetChildrenResponse.
    GetChildren {
        /// Child names.
        children: Vec<String>,
    },
    /// type 4 (multiRead): GetDataResponse.
    GetData {
        /// The data; `None` for null data.
        data: Option<Vec<u8>>,
        /// The node's Stat.
        stat: Stat,
    },
    /// type -1: ErrorResponse. In a failed multi every result is an error: 0 before the failing
    /// op, its code at it, -2 (RUNTIMEINCONSISTENCY) after it (A.11).
    Error {
        /// KeeperException code.
        err: i32,
    },
}

impl OpResult {
    /// The result's MultiHeader `{type, false, err}` as ZooKeeper's MultiResponse writes it.
    pub fn header(&self) -> MultiHeader {
        let (op, err) = match self {
            OpResult::Create { .. } => (OpCode::Create, 0),
            OpResult::Create2 { .. } => (OpCode::Create2, 0),
            OpResult::Delete => (OpCode::Delete, 0),
            OpResult::SetData { .. } => (OpCode::SetData, 0),
            OpResult::Check => (OpCode::Check, 0),
            OpResult::GetChildren { .. } => (OpCode::GetChildren, 0),
            OpResult::GetData { .. } => (OpCode::GetData, 0),
            OpResult::Error { err } => (OpCode::Error, *err),
        };
        MultiHeader {
            op_type: op.as_i32(),
            done: false,
            err,
        }
    }

    fn encode_body<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        match self {
            OpResult::Create { path } => w.write_string(path),
            OpResult::Create2 { path, stat } => {
                w.write_string(path);
                stat.encode(w);
            }
            OpResult::Delete | OpResult::Check => {}
            OpResult::SetData { stat } => stat.encode(w),
            OpResult::GetChildren { children } => w.write_strings(children),
            OpResult::GetData { data, stat } => {
                w.write_buffer(data.as_deref());
                stat.encode(w);
            }
            OpResult::Error { err } => w.write_int(*err),
        }
    }

    /// Decodes the body for a header's type (MultiResponse `deserialize`); an error result's
    /// code is taken from its body, as ZooKeeper does.
    fn decode_body(op_type: i32, r: &mut JuteReader<'_>) -> Result<OpResult, DecodeError> {
        let op = OpCode::from_i32(op_type).ok_or(DecodeError::InvalidMultiOp(op_type))?;
        Ok(match op {
            OpCode::Create => OpResult::Create {
                path: r.read_string("CreateResponse.path")?,
            },
            OpCode::Create2 => {
                let Create2Response { path, stat } = Create2Response::decode(r)?;
                OpResult::Create2 { path, stat }
            }
            OpCode::Delete => OpResult::Delete,
            OpCode::SetData => OpResult::SetData {
                stat: Stat::decode(r)?,
            },
            OpCode::Check => OpResult::Check,
            OpCode::GetChildren => OpResult::GetChildren {
                children: r.read_strings("children")?,
            },
            OpCode::GetData => {
                let GetDataResponse { data, stat } = GetDataResponse::decode(r)?;
                OpResult::GetData { data, stat }
            }
            OpCode::Error => OpResult::Error { err: r.read_int()? },
            _ => return Err(DecodeError::InvalidMultiOp(op_type)),
        })
    }
}

/// MultiResponse (opcodes 14, 22): `{type, false, err}` + body per result, then
/// [`MultiHeader::DONE`]. The outer ReplyHeader.err stays 0 even when the multi failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiResponse {
    /// One result per op, in order.
    pub results: Vec<OpResult>,
}

impl Record for MultiResponse {
    const MIN_LEN: usize = MULTI_HEADER_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        for result in &self.results {
            result.header().encode(w);
            result.encode_body(w);
        }
        MultiHeader::DONE.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        loop {
            let header = MultiHeader::decode(r)?;
            if header.done {
                return Ok(MultiResponse { results });
            }
            results.push(OpResult::decode_body(header.op_type, r)?);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests by opcode
// ---------------------------------------------------------------------------------------------

/// A decoded client request body, one variant per opcode a client may send (A.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    /// 1
    Create(CreateRequest),
    /// 15
    Create2(CreateRequest),
    /// 19
    CreateContainer(CreateRequest),
    /// 21
    CreateTtl(CreateTtlRequest),
    /// 2
    Delete(DeleteRequest),
    /// 20: internal to ZooKeeper (the container reaper); the body is the raw UTF-8 path, no
    /// length. Decoded for completeness; a server should refuse it from clients.
    DeleteContainer(PathRecord),
    /// 3
    Exists(ExistsRequest),
    /// 4
    GetData(GetDataRequest),
    /// 5
    SetData(SetDataRequest),
    /// 6
    GetAcl(GetAclRequest),
    /// 7
    SetAcl(SetAclRequest),
    /// 8
    GetChildren(GetChildrenRequest),
    /// 12
    GetChildren2(GetChildren2Request),
    /// 104
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// 103
    GetEphemerals(GetEphemeralsRequest),
    /// 9
    Sync(SyncRequest),
    /// 13
    Check(CheckVersionRequest),
    /// 14
    Multi(MultiRequest),
    /// 22
    MultiRead(MultiRequest),
    /// 106
    AddWatch(AddWatchRequest),
    /// 18
    RemoveWatches(RemoveWatchesRequest),
    /// 17
    CheckWatches(CheckWatchesRequest),
    /// 101 (xid -8)
    SetWatches(SetWatches),
    /// 105 (xid -8)
    SetWatches2(SetWatches2),
    /// 100 (xid -4)
    Auth(AuthPacket),
    /// 11 (xid -2), no body.
    Ping,
    /// -11, no body.
    CloseSession,
    /// 107, no body.
    WhoAmI,
    /// 16
    Reconfig(ReconfigRequest),
    /// 102
    Sasl(GetSaslRequest),
}

impl Request {
    /// The request's opcode.
    pub fn opcode(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Create2(_) => OpCode::Create2,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::DeleteContainer(_) => OpCode::DeleteContainer,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::Sync(_) => OpCode::Sync,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::Auth(_) => OpCode::Auth,
            Request::Ping => OpCode::Ping,
            Request::CloseSession => OpCode::CloseSession,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::Sasl(_) => OpCode::Sasl,
        }
    }

    /// Whether the request goes through the leader as a txn and gets a zxid even when it fails
    /// (A.5, A.16): creates, deletes, setData, setACL, check, multi, reconfig, closeSession.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create(_)
                | Request::Create2(_)
                | Request::CreateContainer(_)
                | Request::CreateTtl(_)
                | Request::Delete(_)
                | Request::DeleteContainer(_)
                | Request::SetData(_)
                | Request::SetAcl(_)
                | Request::Check(_)
                | Request::Multi(_)
                | Request::Reconfig(_)
                | Request::CloseSession
        )
    }

    /// Decodes the body of a request whose header carried `opcode`. Bytes after the record are
    /// ignored (ZooKeeper reads its record from the buffer and ignores the rest).
    ///
    /// Opcodes that are not client requests (0 notification, -1 error, -10 createSession, 10,
    /// anything undefined) give [`DecodeError::UnknownOpCode`]; ZooKeeper answers unknown opcodes
    /// with `{xid, -1, -6 UNIMPLEMENTED}` and closes the connection.
    pub fn decode(opcode: i32, body: &[u8]) -> Result<Request, DecodeError> {
        let op = OpCode::from_i32(opcode).ok_or(DecodeError::UnknownOpCode(opcode))?;
        let r = &mut JuteReader::new(body);
        Ok(match op {
            OpCode::Create => Request::Create(CreateRequest::decode(r)?),
            OpCode::Create2 => Request::Create2(CreateRequest::decode(r)?),
            OpCode::CreateContainer => Request::CreateContainer(CreateRequest::decode(r)?),
            OpCode::CreateTtl => Request::CreateTtl(CreateTtlRequest::decode(r)?),
            OpCode::Delete => Request::Delete(DeleteRequest::decode(r)?),
            OpCode::DeleteContainer => {
                let path = std::str::from_utf8(body).map_err(|_| DecodeError::InvalidUtf8)?;
                Request::DeleteContainer(PathRecord {
                    path: path.to_owned(),
                })
            }
            OpCode::Exists => Request::Exists(ExistsRequest::decode(r)?),
            OpCode::GetData => Request::GetData(GetDataRequest::decode(r)?),
            OpCode::SetData => Request::SetData(SetDataRequest::decode(r)?),
            OpCode::GetAcl => Request::GetAcl(GetAclRequest::decode(r)?),
            OpCode::SetAcl => Request::SetAcl(SetAclRequest::decode(r)?),
            OpCode::GetChildren => Request::GetChildren(GetChildrenRequest::decode(r)?),
            OpCode::GetChildren2 => Request::GetChildren2(GetChildren2Request::decode(r)?),
            OpCode::GetAllChildrenNumber => {
                Request::GetAllChildrenNumber(GetAllChildrenNumberRequest::decode(r)?)
            }
            OpCode::GetEphemerals => Request::GetEphemerals(GetEphemeralsRequest::decode(r)?),
            OpCode::Sync => Request::Sync(SyncRequest::decode(r)?),
            OpCode::Check => Request::Check(CheckVersionRequest::decode(r)?),
            OpCode::Multi => Request::Multi(MultiRequest::decode(r)?),
            OpCode::MultiRead => Request::MultiRead(MultiRequest::decode(r)?),
            OpCode::AddWatch => Request::AddWatch(AddWatchRequest::decode(r)?),
            OpCode::RemoveWatches => Request::RemoveWatches(RemoveWatchesRequest::decode(r)?),
            OpCode::CheckWatches => Request::CheckWatches(CheckWatchesRequest::decode(r)?),
            OpCode::SetWatches => Request::SetWatches(SetWatches::decode(r)?),
            OpCode::SetWatches2 => Request::SetWatches2(SetWatches2::decode(r)?),
            OpCode::Auth => Request::Auth(AuthPacket::decode(r)?),
            OpCode::Ping => Request::Ping,
            OpCode::CloseSession => Request::CloseSession,
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::Reconfig => Request::Reconfig(ReconfigRequest::decode(r)?),
            OpCode::Sasl => Request::Sasl(GetSaslRequest::decode(r)?),
            OpCode::Notification | OpCode::CreateSession | OpCode::Error => {
                return Err(DecodeError::UnknownOpCode(opcode))
            }
        })
    }

    /// Appends the request's body (without the header) to `w`.
    pub fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        match self {
            Request::Create(req) | Request::Create2(req) | Request::CreateContainer(req) => {
                req.encode(w)
            }
            Request::CreateTtl(req) => req.encode(w),
            Request::Delete(req) | Request::Check(req) => req.encode(w),
            Request::DeleteContainer(req) => w.buf().put_slice(req.path.as_bytes()),
            Request::Exists(req)
            | Request::GetData(req)
            | Request::GetChildren(req)
            | Request::GetChildren2(req) => req.encode(w),
            Request::SetData(req) => req.encode(w),
            Request::GetAcl(req)
            | Request::GetAllChildrenNumber(req)
            | Request::GetEphemerals(req)
            | Request::Sync(req) => req.encode(w),
            Request::SetAcl(req) => req.encode(w),
            Request::Multi(req) | Request::MultiRead(req) => req.encode(w),
            Request::AddWatch(req) => req.encode(w),
            Request::RemoveWatches(req) | Request::CheckWatches(req) => req.encode(w),
            Request::SetWatches(req) => req.encode(w),
            Request::SetWatches2(req) => req.encode(w),
            Request::Auth(req) => req.encode(w),
            Request::Ping | Request::CloseSession | Request::WhoAmI => {}
            Request::Reconfig(req) => req.encode(w),
            Request::Sasl(req) => req.encode(w),
        }
    }

    /// The xid ZooKeeper clients use for this request, if it has a fixed one (A.4).
    pub fn special_xid(&self) -> Option<i32> {
        match self {
            Request::Ping => Some(PING_XID),
            Request::Auth(_) => Some(AUTH_XID),
            Request::SetWatches(_) | Request::SetWatches2(_) => Some(SET_WATCHES_XID),
            _ => None,
        }
    }
}

/// Decodes a whole request frame payload: the header, then the body by its opcode.
///
/// A server that must reply to a malformed body needs the xid: it can decode
/// [`RequestHeader`] first (`RequestHeader::from_bytes`) and call [`Request::decode`] on
/// `&payload[8..]` itself.
pub fn decode_request(payload: &[u8]) -> Result<(RequestHeader, Request), DecodeError> {
    let mut r = JuteReader::new(payload);
    let header = RequestHeader::decode(&mut r)?;
    let request = Request::decode(header.opcode, r.rest())?;
    Ok((header, request))
}

// ---------------------------------------------------------------------------------------------
// Responses by opcode
// ---------------------------------------------------------------------------------------------

/// The body of a successful reply, one variant per response record (A.5). Replies with
/// `err != 0` have no body (A.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Response {
    /// create (1).
    Create(CreateResponse),
    /// create2, createContainer, createTTL (15, 19, 21).
    Create2(Create2Response),
    /// exists, setData, setACL (3, 5, 7).
    Stat(StatResponse),
    /// getData, reconfig (4, 16).
    GetData(GetDataResponse),
    /// getACL (6).
    GetAcl(GetAclResponse),
    /// getChildren (8).
    GetChildren(GetChildrenResponse),
    /// getChildren2 (12).
    GetChildren2(GetChildren2Response),
    /// sync (9).
    Sync(SyncResponse),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsResponse),
    /// whoAmI (107).
    WhoAmI(WhoAmIResponse),
    /// multi, multiRead (14, 22).
    Multi(MultiResponse),
    /// sasl (102).
    Sasl(SetSaslResponse),
    /// addWatch (106): ErrorResponse{err 0}, 4 bytes.
    AddWatch(ErrorResponse),
    /// A notification's WatcherEvent (xid -1; opcode 0 by convention).
    Notification(WatcherEvent),
    /// No body: delete, check, checkWatches, removeWatches, ping, setWatches(2), auth,
    /// closeSession, deleteContainer.
    Empty,
}

impl Response {
    /// Decodes the body of a successful reply to a request with opcode `op` (use
    /// [`OpCode::Notification`] for xid -1 frames). Bytes after the record are ignored.
    pub fn decode(op: OpCode, body: &[u8]) -> Result<Response, DecodeError> {
        let r = &mut JuteReader::new(body);
        Ok(match op {
            OpCode::Create => Response::Create(CreateResponse::decode(r)?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                Response::Create2(Create2Response::decode(r)?)
            }
            OpCode::Exists | OpCode::SetData | OpCode::SetAcl => {
                Response::Stat(StatResponse::decode(r)?)
            }
            OpCode::GetData | OpCode::Reconfig => Response::GetData(GetDataResponse::decode(r)?),
            OpCode::GetAcl => Response::GetAcl(GetAclResponse::decode(r)?),
            OpCode::GetChildren => Response::GetChildren(GetChildrenResponse::decode(r)?),
            OpCode::GetChildren2 => Response::GetChildren2(GetChildren2Response::decode(r)?),
            OpCode::Sync => Response::Sync(SyncResponse::decode(r)?),
            OpCode::GetAllChildrenNumber => {
                Response::GetAllChildrenNumber(GetAllChildrenNumberResponse::decode(r)?)
            }
            OpCode::GetEphemerals => Response::GetEphemerals(GetEphemeralsResponse::decode(r)?),
            OpCode::WhoAmI => Response::WhoAmI(WhoAmIResponse::decode(r)?),
            OpCode::Multi | OpCode::MultiRead => Response::Multi(MultiResponse::decode(r)?),
            OpCode::Sasl => Response::Sasl(SetSaslResponse::decode(r)?),
            OpCode::AddWatch => Response::AddWatch(ErrorResponse::decode(r)?),
            OpCode::Notification => Response::Notification(WatcherEvent::decode(r)?),
            OpCode::Delete
            | OpCode::Check
            | OpCode::CheckWatches
            | OpCode::RemoveWatches
            | OpCode::Ping
            | OpCode::SetWatches
            | OpCode::SetWatches2
            | OpCode::Auth
            | OpCode::CloseSession
            | OpCode::DeleteContainer => Response::Empty,
            OpCode::CreateSession | OpCode::Error => {
                return Err(DecodeError::UnknownOpCode(op.as_i32()))
            }
        })
    }

    /// Appends the response body (without the ReplyHeader) to `w`.
    pub fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        match self {
            Response::Create(resp) | Response::Sync(resp) => resp.encode(w),
            Response::Create2(resp) => resp.encode(w),
            Response::Stat(resp) => resp.encode(w),
            Response::GetData(resp) => resp.encode(w),
            Response::GetAcl(resp) => resp.encode(w),
            Response::GetChildren(resp) | Response::GetEphemerals(resp) => resp.encode(w),
            Response::GetChildren2(resp) => resp.encode(w),
            Response::GetAllChildrenNumber(resp) => resp.encode(w),
            Response::WhoAmI(resp) => resp.encode(w),
            Response::Multi(resp) => resp.encode(w),
            Response::Sasl(resp) => resp.encode(w),
            Response::AddWatch(resp) => resp.encode(w),
            Response::Notification(event) => event.encode(w),
            Response::Empty => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Framed encoders (A.1)
// ---------------------------------------------------------------------------------------------

/// Appends a framed ConnectRequest (the client's first frame, no RequestHeader).
pub fn write_connect_request<B: BufMut + AsMut<[u8]>>(buf: &mut B, req: &ConnectRequest) {
    write_frame(buf, |w| req.encode(w));
}

/// Appends a framed ConnectResponse.
pub fn write_connect_response<B: BufMut + AsMut<[u8]>>(buf: &mut B, resp: &ConnectResponse) {
    write_frame(buf, |w| resp.encode(w));
}

/// Appends a framed request: RequestHeader{xid, opcode} then the body.
pub fn write_request<B: BufMut + AsMut<[u8]>>(buf: &mut B, xid: i32, req: &Request) {
    write_frame(buf, |w| {
        RequestHeader {
            xid,
            opcode: req.opcode().as_i32(),
        }
        .encode(w);
        req.encode(w);
    });
}

/// Appends a framed reply: the ReplyHeader, then the body when there is one. Pass `None` (or
/// [`Response::Empty`]) for error replies: ZooKeeper sends only the header when `err != 0`.
pub fn write_reply<B: BufMut + AsMut<[u8]>>(
    buf: &mut B,
    header: &ReplyHeader,
    body: Option<&Response>,
) {
    write_frame(buf, |w| {
        header.encode(w);
        if let Some(body) = body {
            body.encode(w);
        }
    });
}

/// Appends a framed watch notification: ReplyHeader{-1, `zxid`, 0} + WatcherEvent. ZooKeeper 3.8
/// sends zxid -1; 3.9+ sends the triggering txn's zxid (A.4, A.19).
pub fn write_notification<B: BufMut + AsMut<[u8]>>(buf: &mut B, zxid: i64, event: &WatcherEvent) {
    write_frame(buf, |w| {
        ReplyHeader {
            xid: NOTIFICATION_XID,
            zxid,
            err: 0,
        }
        .encode(w);
        event.encode(w);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_maps_back_to_itself() {
        for op in OpCode::ALL {
            assert_eq!(OpCode::from_i32(op.as_i32()), Some(op));
        }
        let defined = (-20..200).filter_map(OpCode::from_i32).count();
        assert_eq!(defined, OpCode::ALL.len());
        assert_eq!(OpCode::from_i32(10), None);
        assert_eq!(OpCode::from_i32(23), None);
        assert_eq!(OpCode::from_i32(108), None);
    }

    #[test]
    fn create_modes() {
        for flags in 0..=6 {
            assert_eq!(
                CreateMode::from_flags(flags).map(CreateMode::flags),
                Some(flags)
            );
        }
        assert_eq!(CreateMode::from_flags(7), None);
        assert_eq!(CreateMode::from_flags(-1), None);
        assert!(CreateMode::PersistentSequentialWithTtl.is_sequential());
        assert!(CreateMode::PersistentSequentialWithTtl.is_ttl());
        assert!(!CreateMode::Container.is_ephemeral());
    }

    #[test]
    fn non_client_opcodes_are_unknown() {
        for code in [0, -1, -10, 10, 23, 99, 108, i32::MIN] {
            assert_eq!(
                Request::decode(code, &[]),
                Err(DecodeError::UnknownOpCode(code))
            );
        }
    }

    #[test]
    fn bodiless_requests_ignore_trailing_bytes() {
        assert_eq!(Request::decode(11, &[1, 2, 3]), Ok(Request::Ping));
        assert_eq!(Request::decode(-11, &[]), Ok(Request::CloseSession));
        assert_eq!(Request::decode(107, &[]), Ok(Request::WhoAmI));
    }

    #[test]
    fn delete_container_body_is_the_raw_path() {
        let req = Request::DeleteContainer(PathRecord { path: "/c".into() });
        let mut out = Vec::new();
        req.encode(&mut JuteWriter::new(&mut out));
        assert_eq!(out, b"/c");
        assert_eq!(Request::decode(20, b"/c"), Ok(req));
    }

    #[test]
    fn multi_op_outside_the_allowed_set_is_rejected() {
        let mut out = Vec::new();
        let w = &mut JuteWriter::new(&mut out);
        MultiHeader {
            op_type: OpCode::Exists.as_i32(),
            done: false,
            err: -1,
        }
        .encode(w);
        PathWatch {
            path: "/a".into(),
            watch: false,
        }
        .encode(w);
        MultiHeader::DONE.encode(w);
        assert_eq!(
            Request::decode(14, &out),
            Err(DecodeError::InvalidMultiOp(3))
        );
    }

    #[test]
    fn multi_terminator_is_type_minus_one_done_err_minus_one() {
        let bytes = MultiRequest::default().to_bytes();
        assert_eq!(bytes, [0xFF, 0xFF, 0xFF, 0xFF, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
        let bytes = MultiResponse::default().to_bytes();
        assert_eq!(bytes, [0xFF, 0xFF, 0xFF, 0xFF, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn failed_multi_results_carry_their_codes_in_header_and_body() {
        let resp = MultiResponse {
            results: vec![
                OpResult::Error { err: 0 },
                OpResult::Error { err: -103 },
                OpResult::Error { err: -2 },
            ],
        };
        let bytes = resp.to_bytes();
        // First result: header {-1, false, 0} + body 0.
        assert_eq!(
            &bytes[..13],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // Second: header err -103 (0xFFFFFF99) and body -103.
        assert_eq!(&bytes[13 + 5..13 + 9], &(-103i32).to_be_bytes());
        assert_eq!(&bytes[13 + 9..13 + 13], &(-103i32).to_be_bytes());
        assert_eq!(MultiResponse::from_bytes(&bytes), Ok(resp));
    }

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

    #[test]
    fn write_request_frames_header_and_body() {
        let mut out = Vec::new();
        write_request(&mut out, PING_XID, &Request::Ping);
        assert_eq!(out, [0, 0, 0, 8, 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 0, 11]);
        let (header, req) = decode_request(&out[4..]).expect("ping decodes");
        assert_eq!(
            header,
            RequestHeader {
                xid: -2,
                opcode: 11
            }
        );
        assert_eq!(req, Request::Ping);
    }

    #[test]
    fn error_reply_is_header_only() {
        let mut out = Vec::new();
        write_reply(
            &mut out,
            &ReplyHeader {
                xid: 5,
                zxid: 0x10,
                err: -101,
            },
            None,
        );
        assert_eq!(out.len(), 4 + REPLY_HEADER_LEN);
        assert_eq!(&out[..4], &[0, 0, 0, 16]);
    }

    #[test]
    fn notification_frame() {
        let mut out = Vec::new();
        write_notification(
            &mut out,
            -1,
            &WatcherEvent::new(EventType::NodeDataChanged, "/a"),
        );
        let mut expected = vec![0, 0, 0, 30];
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        expected.extend_from_slice(&(-1i64).to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 2, b'/', b'a']);
        assert_eq!(out, expected);
    }
}
