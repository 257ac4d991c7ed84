//! Request bodies (reference A.6, A.10): one record per request kind; kinds whose body has the
//! same layout share one struct under ZooKeeper's names (type aliases).
//!
//! Which record a body holds is decided by the header's opcode: see [`Request`](super::Request).

use crate::wire::jute::jute_record;
use crate::wire::records::Acl;

jute_record! {
    /// CreateRequest (opcodes 1, 15, 19; inside multi too).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct CreateRequest {
        /// Requested path (a sequential suffix is appended by the server).
        pub path: String as ustring("CreateRequest.path"),
        /// Data; `None` is null data (returned as length -1 by getData).
        pub data: Option<Vec<u8>> as buffer_opt,
        /// ACL of the new node.
        pub acl: Vec<Acl> as vector_record,
        /// [`CreateMode`](super::CreateMode) flags.
        pub flags: i32 as int,
    }
}

jute_record! {
    /// CreateTTLRequest (opcode 21): CreateRequest plus the TTL.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct CreateTtlRequest {
        /// Requested path.
        pub path: String as ustring("CreateTTLRequest.path"),
        /// Data; `None` is null data.
        pub data: Option<Vec<u8>> as buffer_opt,
        /// ACL of the new node.
        pub acl: Vec<Acl> as vector_record,
        /// [`CreateMode`](super::CreateMode) flags (5 or 6 to be valid).
        pub flags: i32 as int,
        /// Time to live.
        pub ttl_ms: i64 as long,
    }
}

jute_record! {
    /// A record made of a path and a version: DeleteRequest, CheckVersionRequest.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct PathVersion {
        /// The znode.
        pub path: String as ustring("path"),
        /// Expected version; -1 matches any.
        pub version: i32 as int,
    }
}

/// DeleteRequest (opcode 2): `path`, `version`.
pub type DeleteRequest = PathVersion;
/// CheckVersionRequest (opcode 13): `path`, `version`.
pub type CheckVersionRequest = PathVersion;

jute_record! {
    /// A record made of a path and a watch flag: Exists, GetData, GetChildren, GetChildren2
    /// requests.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct PathWatch {
        /// The znode.
        pub path: String as ustring("path"),
        /// Leave a one-shot watch.
        pub watch: bool as boolean,
    }
}

/// ExistsRequest (opcode 3).
pub type ExistsRequest = PathWatch;
/// GetDataRequest (opcode 4).
pub type GetDataRequest = PathWatch;
/// GetChildrenRequest (opcode 8).
pub type GetChildrenRequest = PathWatch;
/// GetChildren2Request (opcode 12).
pub type GetChildren2Request = PathWatch;

jute_record! {
    /// A record made of one path: GetACL/Sync/GetAllChildrenNumber/GetEphemerals requests and
    /// the Create and Sync responses.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct PathRecord {
        /// The path (GetEphemeralsRequest calls it `prefixPath`).
        pub path: String as ustring("path"),
    }
}

/// GetACLRequest (opcode 6).
pub type GetAclRequest = PathRecord;
/// SyncRequest (opcode 9).
pub type SyncRequest = PathRecord;
/// GetAllChildrenNumberRequest (opcode 104).
pub type GetAllChildrenNumberRequest = PathRecord;
/// GetEphemeralsRequest (opcode 103): `prefixPath`; "" or "/" means all.
pub type GetEphemeralsRequest = PathRecord;

jute_record! {
    /// SetDataRequest (opcode 5).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SetDataRequest {
        /// The znode.
        pub path: String as ustring("SetDataRequest.path"),
        /// New data; `None` is null data.
        pub data: Option<Vec<u8>> as buffer_opt,
        /// Expected data version; -1 matches any.
        pub version: i32 as int,
    }
}

jute_record! {
    /// SetACLRequest (opcode 7).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SetAclRequest {
        /// The znode.
        pub path: String as ustring("SetACLRequest.path"),
        /// The new ACL.
        pub acl: Vec<Acl> as vector_record,
        /// Expected ACL version (aversion); -1 matches any.
        pub version: i32 as int,
    }
}

jute_record! {
    /// ReconfigRequest (opcode 16). Each server list may be null.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ReconfigRequest {
        /// Servers to add (incremental reconfig).
        pub joining_servers: Option<String> as ustring_opt,
        /// Server ids to remove (incremental reconfig).
        pub leaving_servers: Option<String> as ustring_opt,
        /// Full new membership (non-incremental reconfig).
        pub new_members: Option<String> as ustring_opt,
        /// Expected current config version; -1 means no check.
        pub cur_config_id: i64 as long,
    }
}

jute_record! {
    /// CheckWatchesRequest / RemoveWatchesRequest (opcodes 17, 18).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct WatchesRequest {
        /// The watched path.
        pub path: String as ustring("path"),
        /// [`WatcherType`](super::WatcherType) number.
        pub watcher_type: i32 as int,
    }
}

/// CheckWatchesRequest (opcode 17).
pub type CheckWatchesRequest = WatchesRequest;
/// RemoveWatchesRequest (opcode 18).
pub type RemoveWatchesRequest = WatchesRequest;

jute_record! {
    /// AddWatchRequest (opcode 106).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct AddWatchRequest {
        /// The watched path.
        pub path: String as ustring("AddWatchRequest.path"),
        /// [`AddWatchMode`](super::AddWatchMode) number.
        pub mode: i32 as int,
    }
}

jute_record! {
    /// SetWatches (opcode 101, xid -8): re-registers watches after a reconnect (A.10).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SetWatches {
        /// The client's last seen zxid; changes after it fire immediately.
        pub relative_zxid: i64 as long,
        /// getData watches.
        pub data_watches: Vec<String> as vector_ustring("dataWatches"),
        /// exists watches.
        pub exist_watches: Vec<String> as vector_ustring("existWatches"),
        /// getChildren watches.
        pub child_watches: Vec<String> as vector_ustring("childWatches"),
    }
}

jute_record! {
    /// SetWatches2 (opcode 105, xid -8): SetWatches plus persistent watches.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SetWatches2 {
        /// The client's last seen zxid.
        pub relative_zxid: i64 as long,
        /// getData watches.
        pub data_watches: Vec<String> as vector_ustring("dataWatches"),
        /// exists watches.
        pub exist_watches: Vec<String> as vector_ustring("existWatches"),
        /// getChildren watches.
        pub child_watches: Vec<String> as vector_ustring("childWatches"),
        /// addWatch(persistent) watches.
        pub persistent_watches: Vec<String> as vector_ustring("persistentWatches"),
        /// addWatch(persistent-recursive) watches.
        pub persistent_recursive_watches: Vec<String>
            as vector_ustring("persistentRecursiveWatches"),
    }
}

jute_record! {
    /// AuthPacket (opcode 100, xid -4).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct AuthPacket {
        /// Always 0.
        pub auth_type: i32 as int,
        /// `digest`, `sasl`, ...
        pub scheme: String as ustring("AuthPacket.scheme"),
        /// Scheme-specific credentials (`user:password` for digest); null decodes as empty.
        pub auth: Vec<u8> as buffer_or_empty,
    }
}

jute_record! {
    /// GetSASLRequest / SetSASLResponse (opcode 102): one token buffer; null decodes as empty.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SaslToken {
        /// The SASL token.
        pub token: Vec<u8> as buffer_or_empty,
    }
}

/// GetSASLRequest (opcode 102).
pub type GetSaslRequest = SaslToken;
