//! Response bodies (reference A.6): one record per response kind; kinds whose body has the same
//! layout share one struct under ZooKeeper's names (type aliases).
//!
//! Which record a reply holds is decided by the opcode of the request it answers: see
//! [`Response`](super::Response).

use super::requests::{PathRecord, SaslToken};
use crate::wire::jute::jute_record;
use crate::wire::records::{Acl, Stat};

/// CreateResponse (opcode 1): the actual path created.
pub type CreateResponse = PathRecord;
/// SyncResponse: echoes the path.
pub type SyncResponse = PathRecord;
/// SetSASLResponse (opcode 102).
pub type SetSaslResponse = SaslToken;

jute_record! {
    /// Create2Response (opcodes 15, 19, 21).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Create2Response {
        /// The actual path created.
        pub path: String as ustring("Create2Response.path"),
        /// The new node's Stat.
        pub stat: Stat as record,
    }
}

jute_record! {
    /// One Stat: ExistsResponse, SetDataResponse, SetACLResponse.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct StatResponse {
        /// The node's Stat after the operation.
        pub stat: Stat as record,
    }
}

/// ExistsResponse (opcode 3).
pub type ExistsResponse = StatResponse;
/// SetDataResponse (opcode 5).
pub type SetDataResponse = StatResponse;
/// SetACLResponse (opcode 7).
pub type SetAclResponse = StatResponse;

jute_record! {
    /// GetDataResponse (opcode 4; also the reply to reconfig).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct GetDataResponse {
        /// The data; `None` for a node created with null data (sent as length -1).
        pub data: Option<Vec<u8>> as buffer_opt,
        /// The node's Stat.
        pub stat: Stat as record,
    }
}

jute_record! {
    /// GetACLResponse (opcode 6).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct GetAclResponse {
        /// The node's ACL.
        pub acl: Vec<Acl> as vector_record,
        /// The node's Stat.
        pub stat: Stat as record,
    }
}

jute_record! {
    /// A list of names: GetChildrenResponse (`children`), GetEphemeralsResponse (`ephemerals`).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct StringsResponse {
        /// Child names (not full paths) or ephemeral paths.
        pub names: Vec<String> as vector_ustring("names"),
    }
}

/// GetChildrenResponse (opcode 8).
pub type GetChildrenResponse = StringsResponse;
/// GetEphemeralsResponse (opcode 103).
pub type GetEphemeralsResponse = StringsResponse;

jute_record! {
    /// GetChildren2Response (opcode 12).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct GetChildren2Response {
        /// Child names.
        pub children: Vec<String> as vector_ustring("children"),
        /// The parent's Stat.
        pub stat: Stat as record,
    }
}

jute_record! {
    /// GetAllChildrenNumberResponse (opcode 104).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct GetAllChildrenNumberResponse {
        /// Number of descendants (not counting the node itself).
        pub total_number: i32 as int,
    }
}

jute_record! {
    /// ClientInfo: one authenticated identity in a WhoAmIResponse.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ClientInfo {
        /// `ip`, `digest`, ...
        pub auth_scheme: String as ustring("ClientInfo.authScheme"),
        /// The identity within the scheme.
        pub user: String as ustring("ClientInfo.user"),
    }
}

jute_record! {
    /// WhoAmIResponse (opcode 107).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct WhoAmIResponse {
        /// Every identity the session holds, the implicit `ip` one included.
        pub client_info: Vec<ClientInfo> as vector_record,
    }
}

jute_record! {
    /// ErrorResponse: one `int err` (multi error results; the addWatch success body).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ErrorResponse {
        /// KeeperException code (0 for the addWatch reply).
        pub err: i32 as int,
    }
}
