//! Transactions: what the leader proposes, the log stores and every server applies.
//!
//! `Txn` has one variant per ZooKeeper txn type; `encode`/`decode` produce and read
//! `TxnHeader` + txn record in ZooKeeper's jute layout (formats sheet C.3): the byte string a
//! PROPOSAL carries and our txn log stores. ZooKeeper 3.6+ appends a `TxnDigest` to the txns it
//! logs; [`decode_logged`] reads those too. We write none (ZooKeeper reads its absence as "no
//! digest to compare").

use crate::tree::error::ZkError;
use crate::wire::jute::{JuteReader, JuteWriter, INT_LEN, LONG_LEN};
use crate::wire::records::Acl;
use crate::wire::DecodeError;

type Writer<'a> = JuteWriter<'a, Vec<u8>>;
type Reader<'a> = JuteReader<'a>;

/// ZooKeeper txn type numbers (`ZooDefs.OpCode`).
pub mod op {
    /// create
    pub const CREATE: i32 = 1;
    /// delete
    pub const DELETE: i32 = 2;
    /// setData
    pub const SET_DATA: i32 = 5;
    /// setACL
    pub const SET_ACL: i32 = 7;
    /// check
    pub const CHECK: i32 = 13;
    /// multi
    pub const MULTI: i32 = 14;
    /// create2
    pub const CREATE2: i32 = 15;
    /// createContainer
    pub const CREATE_CONTAINER: i32 = 19;
    /// deleteContainer (reaper)
    pub const DELETE_CONTAINER: i32 = 20;
    /// createTTL
    pub const CREATE_TTL: i32 = 21;
    /// createSession
    pub const CREATE_SESSION: i32 = -10;
    /// closeSession
    pub const CLOSE_SESSION: i32 = -11;
    /// error
    pub const ERROR: i32 = -1;
}

/// jute `TxnHeader` (32 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxnHeader {
    /// The session the txn belongs to (0 for server-made txns such as the reaper's).
    pub client_id: i64,
    /// The client's xid (0 for server-made txns).
    pub cxid: i32,
    /// The zxid the leader assigned.
    pub zxid: i64,
    /// The leader's wall clock in ms when it prepared the txn (becomes ctime/mtime).
    pub time_ms: i64,
    /// The txn type; `encode` writes `Txn::op_code()`, `decode` fills it in.
    pub txn_type: i32,
}

/// jute `CreateTxn` / `CreateContainerTxn` / `CreateTTLTxn`, merged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CreateTxn {
    /// Final path (with any sequential suffix).
    pub path: String,
    /// Data; `None` is jute null.
    pub data: Option<Vec<u8>>,
    /// The fixed-up ACL.
    pub acl: Vec<Acl>,
    /// Ephemeral of the header's session (only meaningful for create/create2).
    pub ephemeral: bool,
    /// The parent's persisted cversion after this create.
    pub parent_cversion: i32,
}

/// One replicated state change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Txn {
    /// Type 1: create (reply carries the path only).
    Create(CreateTxn),
    /// Type 15: create2 (reply carries path and Stat). Body is a CreateTxn.
    Create2(CreateTxn),
    /// Type 19: create a container node (`ephemeral` is ignored and not encoded).
    CreateContainer(CreateTxn),
    /// Type 21: create a TTL node (`ephemeral` is ignored and not encoded).
    CreateTtl {
        /// Path, data, ACL and parent cversion.
        create: CreateTxn,
        /// TTL in ms.
        ttl_ms: i64,
    },
    /// Type 2: delete.
    Delete {
        /// The node.
        path: String,
    },
    /// Type 20: delete of an empty container or expired TTL node by the reaper.
    DeleteContainer {
        /// The node.
        path: String,
    },
    /// Type 5: setData.
    SetData {
        /// The node.
        path: String,
        /// New data.
        data: Option<Vec<u8>>,
        /// The new data version.
        version: i32,
    },
    /// Type 7: setACL.
    SetAcl {
        /// The node.
        path: String,
        /// New ACL (fixed up).
        acl: Vec<Acl>,
        /// The new ACL version.
        version: i32,
    },
    /// Type 13: check (no effect; `version` is the checked version + 1 as ZooKeeper logs it).
    Check {
        /// The node.
        path: String,
        /// Current version + 1.
        version: i32,
    },
    /// Type 14: multi. On failure the sub-txns before the failing op keep their types, the
    /// failing op is `Error{code}` and later ops `Error{-2}` (PRP); apply turns them all into
    /// error results.
    Multi(Vec<Txn>),
    /// Type -10: createSession.
    CreateSession {
        /// Negotiated timeout.
        timeout_ms: i32,
    },
    /// Type -11: closeSession with the ephemerals to delete (CloseSessionTxn, 3.6+).
    CloseSession {
        /// Paths to delete, sorted; apply also deletes any other ephemeral of the session.
        paths_to_delete: Vec<String>,
    },
    /// Type -1: a failed write (consumes a zxid) or a failed multi sub-op.
    Error {
        /// The `KeeperException.Code` value (0 allowed inside multis read from logs).
        err: i32,
    },
}

impl Txn {
    /// A failed write with this error.
    pub fn error(err: ZkError) -> Txn {
        Txn::Error { err: err.code() }
    }

    /// The ZooKeeper txn type number.
    pub fn op_code(&self) -> i32 {
        match self {
            Txn::Create(_) => op::CREATE,
            Txn::Create2(_) => op::CREATE2,
            Txn::CreateContainer(_) => op::CREATE_CONTAINER,
            Txn::CreateTtl { .. } => op::CREATE_TTL,
            Txn::Delete { .. } => op::DELETE,
            Txn::DeleteContainer { .. } => op::DELETE_CONTAINER,
            Txn::SetData { .. } => op::SET_DATA,
            Txn::SetAcl { .. } => op::SET_ACL,
            Txn::Check { .. } => op::CHECK,
            Txn::Multi(_) => op::MULTI,
            Txn::CreateSession { .. } => op::CREATE_SESSION,
            Txn::CloseSession { .. } => op::CLOSE_SESSION,
            Txn::Error { .. } => op::ERROR,
        }
    }

    /// The record bytes (without header).
    fn write_body(&self, w: &mut Writer<'_>) {
        match self {
            Txn::Create(c) | Txn::Create2(c) => {
                w.write_string(&c.path);
                w.write_buffer(c.data.as_deref());
                w.write_records(&c.acl);
                w.write_bool(c.ephemeral);
                w.write_int(c.parent_cversion);
            }
            Txn::CreateContainer(c) => {
                w.write_string(&c.path);
                w.write_buffer(c.data.as_deref());
                w.write_records(&c.acl);
                w.write_int(c.parent_cversion);
            }
            Txn::CreateTtl { create: c, ttl_ms } => {
                w.write_string(&c.path);
                w.write_buffer(c.data.as_deref());
                w.write_records(&c.acl);
                w.write_int(c.parent_cversion);
                w.write_long(*ttl_ms);
            }
            Txn::Delete { path } | Txn::DeleteContainer { path } => w.write_string(path),
            Txn::SetData {
                path,
                data,
                version,
            } => {
                w.write_string(path);
                w.write_buffer(data.as_deref());
                w.write_int(*version);
            }
            Txn::SetAcl { path, acl, version } => {
                w.write_string(path);
                w.write_records(acl);
                w.write_int(*version);
            }
            Txn::Check { path, version } => {
                w.write_string(path);
                w.write_int(*version);
            }
            Txn::Multi(txns) => {
                w.write_vector(txns, |w, t| {
                    let mut sub = Vec::new();
                    t.write_body(&mut JuteWriter::new(&mut sub));
                    w.write_int(t.op_code());
                    w.write_bytes(&sub);
                });
            }
            Txn::CreateSession { timeout_ms } => w.write_int(*timeout_ms),
            Txn::CloseSession { paths_to_delete } => w.write_strings(paths_to_delete),
            Txn::Error { err } => w.write_int(*err),
        }
    }

    /// Reads a record of type `txn_type`; `in_multi` restricts to ZooKeeper's sub-txn types.
    fn read_body(txn_type: i32, r: &mut Reader<'_>, in_multi: bool) -> Result<Txn, TxnDecodeError> {
        let allowed_in_multi = matches!(
            txn_type,
            op::CREATE
                | op::CREATE2
                | op::CREATE_TTL
                | op::CREATE_CONTAINER
                | op::DELETE
                | op::DELETE_CONTAINER
                | op::SET_DATA
                | op::CHECK
                | op::ERROR
        );
        if in_multi && !allowed_in_multi {
            return Err(TxnDecodeError::BadMultiOp(txn_type));
        }
        let txn = match txn_type {
            op::CREATE | op::CREATE2 => {
                let c = CreateTxn {
                    path: r.read_string("CreateTxn.path")?,
                    data: r.read_buffer()?,
                    acl: r.read_records()?,
                    ephemeral: r.read_bool()?,
                    parent_cversion: r.read_int()?,
                };
                if txn_type == op::CREATE {
                    Txn::Create(c)
                } else {
                    Txn::Create2(c)
                }
            }
            op::CREATE_CONTAINER | op::CREATE_TTL => {
                let path = r.read_string("CreateTxn.path")?;
                let data = r.read_buffer()?;
                let acl = r.read_records()?;
                let parent_cversion = r.read_int()?;
                let c = CreateTxn {
                    path,
                    data,
                    acl,
                    ephemeral: false,
                    parent_cversion,
                };
                if txn_type == op::CREATE_CONTAINER {
                    Txn::CreateContainer(c)
                } else {
                    Txn::CreateTtl {
                        create: c,
                        ttl_ms: r.read_long()?,
                    }
                }
            }
            op::DELETE => Txn::Delete {
                path: r.read_string("DeleteTxn.path")?,
            },
            op::DELETE_CONTAINER => Txn::DeleteContainer {
                path: r.read_string("DeleteTxn.path")?,
            },
            op::SET_DATA => Txn::SetData {
                path: r.read_string("SetDataTxn.path")?,
                data: r.read_buffer()?,
                version: r.read_int()?,
            },
            op::SET_ACL => Txn::SetAcl {
                path: r.read_string("SetACLTxn.path")?,
                acl: r.read_records()?,
                version: r.read_int()?,
            },
            op::CHECK => Txn::Check {
                path: r.read_string("CheckVersionTxn.path")?,
                version: r.read_int()?,
            },
            op::MULTI => {
                // Each element: int type, buffer record (at least 8 bytes).
                let mut txns = Vec::new();
                let subs = r.read_vector(2 * INT_LEN, |r| {
                    let sub_type = r.read_int()?;
                    let bytes = r
                        .read_buffer_slice()?
                        .ok_or(DecodeError::UnexpectedNull("MultiTxn.txns.data"))?;
                    Ok((sub_type, bytes))
                })?;
                for (sub_type, bytes) in subs.unwrap_or_default() {
                    let mut sub = Reader::new(bytes);
                    let t = Txn::read_body(sub_type, &mut sub, true)?;
                    if sub.remaining() != 0 {
                        return Err(TxnDecodeError::TrailingBytes(sub.remaining()));
                    }
                    txns.push(t);
                }
                Txn::Multi(txns)
            }
            op::CREATE_SESSION => Txn::CreateSession {
                timeout_ms: r.read_int()?,
            },
            op::CLOSE_SESSION => {
                // 3.5, and 3.6+ with closeSessionTxn.enabled=false, log closeSession without a
                // body; ZooKeeper 3.6+ may then still append a TxnDigest (see `decode_logged`).
                let paths_to_delete = if r.remaining() == 0 || bare_close_with_digest(r) {
                    Vec::new()
                } else {
                    r.read_strings("CloseSessionTxn.paths2Delete")?
                };
                Txn::CloseSession { paths_to_delete }
            }
            op::ERROR => Txn::Error { err: r.read_int()? },
            other => return Err(TxnDecodeError::UnknownType(other)),
        };
        Ok(txn)
    }
}

/// Why txn bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxnDecodeError {
    /// A primitive could not be read.
    #[error(transparent)]
    Codec(#[from] DecodeError),
    /// A txn type this server does not know.
    #[error("unknown txn type {0}")]
    UnknownType(i32),
    /// A type that may not appear inside a multi.
    #[error("txn type {0} is not allowed inside a multi")]
    BadMultiOp(i32),
    /// Bytes left over after the record.
    #[error("{0} trailing bytes after the txn record")]
    TrailingBytes(usize),
}

/// jute `TxnDigest`: the tree digest after a txn, which ZooKeeper 3.6+ appends to the txns it
/// logs (formats sheet C.2, C.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxnDigest {
    /// `DigestCalculator` version (2 in 3.6–3.9).
    pub version: i32,
    /// [`crate::tree::DataTree::digest`] after applying the txn.
    pub tree_digest: i64,
}

/// Encoded size of a [`TxnDigest`].
pub const TXN_DIGEST_LEN: usize = INT_LEN + LONG_LEN;

/// The digest version ZooKeeper 3.6–3.9 computes (`DigestCalculator.DIGEST_VERSION`).
pub const DIGEST_VERSION: i32 = 2;

/// A closeSession with no body followed by a digest: exactly a `TxnDigest` left, whose first
/// int is the digest version. A body cannot be mistaken for it: a 12-byte CloseSessionTxn holds
/// one path (count 1), and two paths need at least 14 bytes.
fn bare_close_with_digest(r: &Reader<'_>) -> bool {
    let rest = r.rest();
    rest.len() == TXN_DIGEST_LEN && rest[..INT_LEN] == DIGEST_VERSION.to_be_bytes()
}

/// Encodes `TxnHeader` + record. The header's type is taken from `txn`.
pub fn encode(hdr: &TxnHeader, txn: &Txn) -> Vec<u8> {
    debug_assert!(
        hdr.txn_type == 0 || hdr.txn_type == txn.op_code(),
        "header type mismatch"
    );
    let mut out = Vec::new();
    let mut w = JuteWriter::new(&mut out);
    w.write_long(hdr.client_id);
    w.write_int(hdr.cxid);
    w.write_long(hdr.zxid);
    w.write_long(hdr.time_ms);
    w.write_int(txn.op_code());
    txn.write_body(&mut w);
    out
}

/// Decodes what `encode` wrote; never panics on arbitrary input. Bytes after the record are an
/// error (use [`decode_logged`] for log records that may carry a digest).
pub fn decode(bytes: &[u8]) -> Result<(TxnHeader, Txn), TxnDecodeError> {
    let mut r = Reader::new(bytes);
    let (hdr, txn) = read_txn(&mut r)?;
    if r.remaining() != 0 {
        return Err(TxnDecodeError::TrailingBytes(r.remaining()));
    }
    Ok((hdr, txn))
}

/// Decodes a txn log record: `TxnHeader` + record, then nothing or a [`TxnDigest`] (ZooKeeper
/// 3.6+ with `digest.enabled`). Anything else after the record is an error.
pub fn decode_logged(bytes: &[u8]) -> Result<(TxnHeader, Txn, Option<TxnDigest>), TxnDecodeError> {
    let mut r = Reader::new(bytes);
    let (hdr, txn) = read_txn(&mut r)?;
    let digest = match r.remaining() {
        0 => None,
        TXN_DIGEST_LEN => Some(TxnDigest {
            version: r.read_int()?,
            tree_digest: r.read_long()?,
        }),
        n => return Err(TxnDecodeError::TrailingBytes(n)),
    };
    Ok((hdr, txn, digest))
}

fn read_txn(r: &mut Reader<'_>) -> Result<(TxnHeader, Txn), TxnDecodeError> {
    let hdr = TxnHeader {
        client_id: r.read_long()?,
        cxid: r.read_int()?,
        zxid: r.read_long()?,
        time_ms: r.read_long()?,
        txn_type: r.read_int()?,
    };
    let txn = Txn::read_body(hdr.txn_type, r, false)?;
    Ok((hdr, txn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_txn_layout_matches_jute() {
        let hdr = TxnHeader {
            client_id: 1,
            cxid: 2,
            zxid: 0x1_0000_0001,
            time_ms: 5,
            txn_type: 1,
        };
        let txn = Txn::Create(CreateTxn {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: Acl::open_unsafe(),
            ephemeral: true,
            parent_cversion: 1,
        });
        let bytes = encode(&hdr, &txn);
        let mut expect = Vec::new();
        expect.extend_from_slice(&1i64.to_be_bytes());
        expect.extend_from_slice(&2i32.to_be_bytes());
        expect.extend_from_slice(&0x1_0000_0001i64.to_be_bytes());
        expect.extend_from_slice(&5i64.to_be_bytes());
        expect.extend_from_slice(&1i32.to_be_bytes());
        expect.extend_from_slice(&[0, 0, 0, 2, b'/', b'a', 0, 0, 0, 1, b'x']);
        expect.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 31]);
        expect.extend_from_slice(&[0, 0, 0, 5]);
        expect.extend_from_slice(b"world");
        expect.extend_from_slice(&[0, 0, 0, 6]);
        expect.extend_from_slice(b"anyone");
        expect.extend_from_slice(&[1, 0, 0, 0, 1]);
        assert_eq!(bytes, expect);
        assert_eq!(decode(&bytes), Ok((hdr, txn)));
    }

    #[test]
    fn multi_and_sessions_round_trip() {
        let hdr = TxnHeader {
            client_id: 9,
            cxid: 3,
            zxid: 7,
            time_ms: 11,
            txn_type: op::MULTI,
        };
        let txn = Txn::Multi(vec![
            Txn::Delete { path: "/x".into() },
            Txn::Error { err: -101 },
            Txn::Error { err: -2 },
        ]);
        assert_eq!(decode(&encode(&hdr, &txn)), Ok((hdr, txn)));
        let hdr = TxnHeader {
            txn_type: op::CLOSE_SESSION,
            ..hdr
        };
        let txn = Txn::CloseSession {
            paths_to_delete: vec!["/e1".into(), "/e2".into()],
        };
        assert_eq!(decode(&encode(&hdr, &txn)), Ok((hdr, txn)));
    }

    #[test]
    fn close_session_without_body_decodes() {
        let hdr = TxnHeader {
            client_id: 9,
            cxid: 0,
            zxid: 7,
            time_ms: 11,
            txn_type: -11,
        };
        let mut bytes = encode(
            &hdr,
            &Txn::CloseSession {
                paths_to_delete: vec![],
            },
        );
        bytes.truncate(32);
        assert_eq!(
            decode(&bytes),
            Ok((
                hdr,
                Txn::CloseSession {
                    paths_to_delete: vec![]
                }
            ))
        );
    }

    #[test]
    fn logged_txns_may_carry_a_digest() {
        let hdr = TxnHeader {
            client_id: 9,
            cxid: 1,
            zxid: 7,
            time_ms: 11,
            txn_type: op::CLOSE_SESSION,
        };
        let digest = TxnDigest {
            version: DIGEST_VERSION,
            tree_digest: 0x1234_5678,
        };
        let with_digest = |mut bytes: Vec<u8>| {
            bytes.extend_from_slice(&digest.version.to_be_bytes());
            bytes.extend_from_slice(&digest.tree_digest.to_be_bytes());
            bytes
        };
        let close = Txn::CloseSession {
            paths_to_delete: vec!["/e".into()],
        };
        let bytes = with_digest(encode(&hdr, &close));
        assert_eq!(decode_logged(&bytes), Ok((hdr, close, Some(digest))));
        assert_eq!(decode(&bytes), Err(TxnDecodeError::TrailingBytes(12)));
        // closeSession without a body (closeSessionTxn.enabled=false) but with a digest.
        let mut bare = encode(
            &hdr,
            &Txn::CloseSession {
                paths_to_delete: vec![],
            },
        );
        bare.truncate(32);
        let bare_close = Txn::CloseSession {
            paths_to_delete: vec![],
        };
        assert_eq!(
            decode_logged(&with_digest(bare)),
            Ok((hdr, bare_close, Some(digest)))
        );
        let session = TxnHeader {
            txn_type: op::CREATE_SESSION,
            ..hdr
        };
        let create = Txn::CreateSession { timeout_ms: 30_000 };
        let plain = encode(&session, &create);
        assert_eq!(decode_logged(&plain), Ok((session, create.clone(), None)));
        let mut odd = with_digest(plain);
        odd.push(0);
        assert_eq!(decode_logged(&odd), Err(TxnDecodeError::TrailingBytes(13)));
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode(&[]).is_err());
        let mut bytes = encode(&TxnHeader::default(), &Txn::Error { err: 0 });
        bytes[28..32].copy_from_slice(&99i32.to_be_bytes());
        assert_eq!(decode(&bytes), Err(TxnDecodeError::UnknownType(99)));
        let nested = Txn::Multi(vec![Txn::Multi(vec![])]);
        let bytes = encode(&TxnHeader::default(), &nested);
        assert_eq!(decode(&bytes), Err(TxnDecodeError::BadMultiOp(op::MULTI)));
        let mut bytes = encode(&TxnHeader::default(), &Txn::Error { err: -1 });
        bytes.push(0);
        assert_eq!(decode(&bytes), Err(TxnDecodeError::TrailingBytes(1)));
    }
}
