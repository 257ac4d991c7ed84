//! Jute records shared by the client wire and the data tree: `Stat`, `Acl`, `Id`.
//!
//! ZooKeeper's DataTree uses the jute-generated `org.apache.zookeeper.data.{Stat, ACL, Id}`
//! directly; we do the same so the tree's answers need no translation before encoding.
//! Layouts: ../shared/reference/zookeeper-formats.md A.6, A.7.

/// The client view of a znode's metadata (68 bytes on the wire, jute `Stat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stat {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last data change.
    pub mzxid: i64,
    /// Create time, ms since the Unix epoch (the leader's clock, stamped in the txn).
    pub ctime: i64,
    /// Last data change time, ms.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Child version as the client sees it (creates + deletes).
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Owning session id for ephemerals, else 0.
    pub ephemeral_owner: i64,
    /// Length of the data, 0 for null data.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// zxid of the last child create or delete.
    pub pzxid: i64,
}

/// An authentication identity: `(scheme, id)`, e.g. `("world", "anyone")`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    /// `world`, `auth`, `digest`, `ip`, `super`, ...
    pub scheme: String,
    /// Scheme-specific id, e.g. `anyone` or `user:base64(sha1(user:password))`.
    pub id: String,
}

/// One ACL entry: permission bits granted to an identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    /// Bit set of [`perms`].
    pub perms: i32,
    /// Who is granted them.
    pub id: Id,
}

/// Permission bits (ZooDefs.Perms).
pub mod perms {
    /// Read data and list children.
    pub const READ: i32 = 1;
    /// Set data.
    pub const WRITE: i32 = 2;
    /// Create children.
    pub const CREATE: i32 = 4;
    /// Delete children.
    pub const DELETE: i32 = 8;
    /// Set ACLs.
    pub const ADMIN: i32 = 16;
    /// Everything.
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

impl Acl {
    /// `[ALL, world:anyone]`, ZooDefs.Ids.OPEN_ACL_UNSAFE.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl { perms: perms::ALL, id: Id { scheme: "world".into(), id: "anyone".into() } }]
    }

    /// `[READ, world:anyone]`, ZooDefs.Ids.READ_ACL_UNSAFE.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl { perms: perms::READ, id: Id { scheme: "world".into(), id: "anyone".into() } }]
    }
}
