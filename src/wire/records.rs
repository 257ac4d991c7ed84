//! Jute records shared by the client wire and the data tree: `Stat`, `Acl`, `Id`.
//!
//! ZooKeeper's DataTree uses the jute-generated `org.apache.zookeeper.data.{Stat, ACL, Id}`
//! directly; we do the same so the tree's answers need no translation before encoding.
//! Layouts: ../shared/reference/zookeeper-formats.md A.6, A.7.

use crate::wire::jute::jute_record;

jute_record! {
    /// The client view of a znode's metadata (68 bytes on the wire, jute `Stat`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Stat {
        /// zxid of the create.
        pub czxid: i64 as long,
        /// zxid of the last data change.
        pub mzxid: i64 as long,
        /// Create time, ms since the Unix epoch (the leader's clock, stamped in the txn).
        pub ctime: i64 as long,
        /// Last data change time, ms.
        pub mtime: i64 as long,
        /// Data version.
        pub version: i32 as int,
        /// Child version as the client sees it (creates + deletes).
        pub cversion: i32 as int,
        /// ACL version.
        pub aversion: i32 as int,
        /// Owning session id for ephemerals, else 0.
        pub ephemeral_owner: i64 as long,
        /// Length of the data, 0 for null data.
        pub data_length: i32 as int,
        /// Number of children.
        pub num_children: i32 as int,
        /// zxid of the last child create or delete.
        pub pzxid: i64 as long,
    }
}

jute_record! {
    /// An authentication identity: `(scheme, id)`, e.g. `("world", "anyone")`.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Id {
        /// `world`, `auth`, `digest`, `ip`, `super`, ...
        pub scheme: String as ustring("Id.scheme"),
        /// Scheme-specific id, e.g. `anyone` or `user:base64(sha1(user:password))`. A null id is
        /// legal on the wire: kazoo's CREATOR_ALL_ACL is `Id("auth", None)`, and ZooKeeper's
        /// fixupACL ignores the id of an `auth` entry.
        pub id: String as ustring_or_empty,
    }
}

jute_record! {
    /// One ACL entry: permission bits granted to an identity.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Acl {
        /// Bit set of [`perms`].
        pub perms: i32 as int,
        /// Who is granted them.
        pub id: Id as record,
    }
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
        vec![Acl {
            perms: perms::ALL,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }]
    }

    /// `[READ, world:anyone]`, ZooDefs.Ids.READ_ACL_UNSAFE.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::READ,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }]
    }
}

/// Encoded size of a [`Stat`]: 6 longs and 5 ints (A.7).
pub const STAT_LEN: usize = 68;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::jute::Record;

    #[test]
    fn stat_is_68_bytes_in_field_order() {
        let stat = Stat {
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            data_length: 9,
            num_children: 10,
            pzxid: 11,
        };
        let bytes = stat.to_bytes();
        assert_eq!(bytes.len(), STAT_LEN);
        assert_eq!(Stat::MIN_LEN, STAT_LEN);
        assert_eq!(bytes[7], 1);
        assert_eq!(bytes[35], 5);
        assert_eq!(bytes[51], 8);
        assert_eq!(bytes[59], 10);
        assert_eq!(bytes[67], 11);
        assert_eq!(Stat::from_bytes(&bytes), Ok(stat));
    }

    #[test]
    fn open_acl_encoding() {
        let acl = &Acl::open_unsafe()[0];
        let mut expected = vec![0, 0, 0, 31, 0, 0, 0, 5];
        expected.extend_from_slice(b"world");
        expected.extend_from_slice(&[0, 0, 0, 6]);
        expected.extend_from_slice(b"anyone");
        assert_eq!(acl.to_bytes(), expected);
        assert_eq!(Acl::from_bytes(&expected).as_ref(), Ok(acl));
    }
}
