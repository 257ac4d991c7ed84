//! One znode: its persisted stat, data, ACL and children, and the persisted → client `Stat`
//! translation.
//!
//! Mirrors `server/DataNode.java` and jute `StatPersisted`. Rules (formats sheet A.7, A.9):
//! the persisted cversion counts child creates only; the client sees
//! `2 × persisted − numChildren` (creates + deletes). `ephemeralOwner` is shown as 0 for
//! containers and TTL nodes. Special nodes `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`
//! exist from the start with zero stats; `/zookeeper/config` has aversion -1 and `[READ, world:anyone]`.

use compact_str::CompactString;
use imbl::OrdSet;

use crate::tree::acl::AclList;
#[cfg(test)]
use crate::wire::records::Acl;
use crate::wire::records::Stat;

/// Persisted `ephemeralOwner` of a container (`Long.MIN_VALUE`, EphemeralType.CONTAINER).
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
/// High byte marking an extended ephemeral owner (TTL).
const EXTENDED_MASK: u64 = 0xFF00_0000_0000_0000;
/// Reserved bits that select the extended feature (0 = TTL).
const RESERVED_BITS_MASK: u64 = 0x00FF_FF00_0000_0000;
/// Largest TTL in ms (low 40 bits).
pub const MAX_TTL_MS: i64 = 0xFF_FFFF_FFFF;

/// jute `StatPersisted`: what snapshots store per node (no dataLength, no numChildren).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatPersisted {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last setData.
    pub mzxid: i64,
    /// Create time, ms.
    pub ctime: i64,
    /// Last setData time, ms.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Number of child creates ever made (the sequential counter).
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Session id, container marker, TTL encoding or 0.
    pub ephemeral_owner: i64,
    /// zxid of the last child create or delete.
    pub pzxid: i64,
}

impl StatPersisted {
    /// `DataTree.createStat`: a fresh node's stat.
    pub fn new_node(zxid: i64, time_ms: i64, ephemeral_owner: i64) -> StatPersisted {
        StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner,
            pzxid: zxid,
        }
    }
}

/// What kind of node an `ephemeralOwner` value encodes (`server/EphemeralType.java`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EphemeralKind {
    /// Persistent (owner 0).
    Void,
    /// Ephemeral owned by this session.
    Normal(i64),
    /// Container node.
    Container,
    /// Persistent node with this TTL in ms.
    Ttl(i64),
}

impl EphemeralKind {
    /// Classifies a persisted owner. TTL encodings are always recognised (ZooKeeper does so
    /// only while `extendedTypesEnabled`; TTL nodes cannot be created otherwise).
    pub fn of(owner: i64) -> EphemeralKind {
        let bits = owner as u64;
        if owner == 0 {
            EphemeralKind::Void
        } else if owner == CONTAINER_EPHEMERAL_OWNER {
            EphemeralKind::Container
        } else if bits & EXTENDED_MASK == EXTENDED_MASK && bits & RESERVED_BITS_MASK == 0 {
            EphemeralKind::Ttl((bits & !(EXTENDED_MASK | RESERVED_BITS_MASK)) as i64)
        } else {
            EphemeralKind::Normal(owner)
        }
    }

    /// The persisted owner of a TTL node (`EphemeralType.TTL.toEphemeralOwner`); `None` when the
    /// TTL is out of `1..=MAX_TTL_MS`.
    pub fn ttl_owner(ttl_ms: i64) -> Option<i64> {
        if ttl_ms <= 0 || ttl_ms > MAX_TTL_MS {
            return None;
        }
        Some((EXTENDED_MASK as i64) | ttl_ms)
    }
}

/// One znode (`DataNode`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Znode {
    /// Persisted metadata.
    pub stat: StatPersisted,
    /// Data; `None` is jute null (a create with null data reads back as length -1).
    pub data: Option<Vec<u8>>,
    /// The ACL as stored (already fixed up by prepare), shared with every node of the tree that
    /// has the same list (`AclCache`).
    pub acl: AclList,
    /// Child names (not paths), ordered for determinism; a persistent set, so copying a node
    /// that a snapshot shares does not copy a large parent's child list.
    pub children: OrdSet<CompactString>,
}

impl Znode {
    /// A node with no children.
    pub fn new(stat: StatPersisted, data: Option<Vec<u8>>, acl: AclList) -> Znode {
        Znode {
            stat,
            data,
            acl,
            children: OrdSet::new(),
        }
    }

    /// Data length as the client sees it: 0 for null data.
    pub fn data_length(&self) -> i32 {
        self.data.as_ref().map_or(0, |d| d.len() as i32)
    }

    /// `DataNode.copyStat`: the client view of this node.
    pub fn stat(&self) -> Stat {
        let num_children = self.children.len() as i32;
        let p = &self.stat;
        Stat {
            czxid: p.czxid,
            mzxid: p.mzxid,
            ctime: p.ctime,
            mtime: p.mtime,
            version: p.version,
            cversion: p.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: p.aversion,
            ephemeral_owner: client_ephemeral_owner(p.ephemeral_owner),
            data_length: self.data_length(),
            num_children,
            pzxid: p.pzxid,
        }
    }
}

/// `DataNode.getClientEphemeralOwner`: only real session owners are shown.
pub fn client_ephemeral_owner(owner: i64) -> i64 {
    match EphemeralKind::of(owner) {
        EphemeralKind::Normal(session) => session,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cversion_translation_counts_deletes() {
        // /t: 3 creates, 1 child left → client cversion 5 (2×3 − 1).
        let mut n = Znode::new(
            StatPersisted::default(),
            Some(vec![1, 2]),
            Acl::open_unsafe().into(),
        );
        n.stat.cversion = 3;
        n.children.insert("c".into());
        let s = n.stat();
        assert_eq!(s.cversion, 5);
        assert_eq!(s.num_children, 1);
        assert_eq!(s.data_length, 2);
    }

    #[test]
    fn ephemeral_owner_presentation() {
        assert_eq!(client_ephemeral_owner(0), 0);
        assert_eq!(
            client_ephemeral_owner(0x0100_00C0_4367_0000),
            0x0100_00C0_4367_0000
        );
        assert_eq!(client_ephemeral_owner(CONTAINER_EPHEMERAL_OWNER), 0);
        let ttl = EphemeralKind::ttl_owner(100_000).unwrap();
        assert_eq!(ttl as u64, 0xFF00_0000_0001_86A0);
        assert_eq!(client_ephemeral_owner(ttl), 0);
        assert_eq!(EphemeralKind::of(ttl), EphemeralKind::Ttl(100_000));
        assert_eq!(EphemeralKind::ttl_owner(0), None);
        assert_eq!(EphemeralKind::ttl_owner(MAX_TTL_MS + 1), None);
        assert_eq!(
            EphemeralKind::of(CONTAINER_EPHEMERAL_OWNER),
            EphemeralKind::Container
        );
    }

    #[test]
    fn null_data_has_zero_length() {
        let n = Znode::new(StatPersisted::default(), None, Vec::new().into());
        assert_eq!(n.stat().data_length, 0);
    }
}
