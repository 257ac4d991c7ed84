//! Jute records shared by the client wire and the data tree: `Stat`, `Acl`, `Id`.
//!
//! ZooKeeper's DataTree uses the jute-generated `org.apache.zookeeper.data.{Stat, ACL, Id}`
//! directly; we do the same so the tree's answers need no translation before encoding.
//! Layouts: ../shared/reference/zookeeper-formats.md A.6, A.7.

use bytes::BufMut;

use crate::wire::jute::{JuteReader, JuteWriter, Record, INT_LEN};
use crate::wire::DecodeError;

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

impl Record for Stat {
    const MIN_LEN: usize = STAT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_long(self.czxid);
        w.write_long(self.mzxid);
        w.write_long(self.ctime);
        w.write_long(self.mtime);
        w.write_int(self.version);
        w.write_int(self.cversion);
        w.write_int(self.aversion);
        w.write_long(self.ephemeral_owner);
        w.write_int(self.data_length);
        w.write_int(self.num_children);
        w.write_long(self.pzxid);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Stat {
            czxid: r.read_long()?,
            mzxid: r.read_long()?,
            ctime: r.read_long()?,
            mtime: r.read_long()?,
            version: r.read_int()?,
            cversion: r.read_int()?,
            aversion: r.read_int()?,
            ephemeral_owner: r.read_long()?,
            data_length: r.read_int()?,
            num_children: r.read_int()?,
            pzxid: r.read_long()?,
        })
    }
}

impl Record for Id {
    const MIN_LEN: usize = 2 * INT_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_string(&self.scheme);
        w.write_string(&self.id);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Id {
            scheme: r.read_string("Id.scheme")?,
            // A null id is legal on the wire: kazoo's CREATOR_ALL_ACL is `Id("auth", None)`,
            // and ZooKeeper's fixupACL ignores the id of an `auth` entry.
            id: r.read_ustring()?.unwrap_or_default(),
        })
    }
}

impl Record for Acl {
    const MIN_LEN: usize = INT_LEN + Id::MIN_LEN;

    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>) {
        w.write_int(self.perms);
        self.id.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Acl {
            perms: r.read_int()?,
            id: Id::decode(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
