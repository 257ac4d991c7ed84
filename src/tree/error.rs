//! `ZkError`: ZooKeeper's `KeeperException.Code` with its numeric values.
//!
//! The data tree, `prepare` and the read paths report failures with these codes; the wire layer
//! copies `code()` into `ReplyHeader.err` unchanged. Numbers: ../shared/reference/zookeeper-formats.md
//! A.12 (source `KeeperException.java`, identical in 3.8.0 and master). `Ok` (0) is not an error
//! and therefore not a variant; multi results that carry 0 use a raw `i32` (see `txn.rs`).

/// A ZooKeeper error code (`KeeperException.Code`), excluding `OK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum ZkError {
    /// -1: range marker for system errors.
    #[error("system error (-1)")]
    SystemError,
    /// -2: a multi op after the failing one.
    #[error("runtime inconsistency (-2)")]
    RuntimeInconsistency,
    /// -3: data inconsistency.
    #[error("data inconsistency (-3)")]
    DataInconsistency,
    /// -4: client-local connection loss.
    #[error("connection loss (-4)")]
    ConnectionLoss,
    /// -5: the request body failed to parse.
    #[error("marshalling error (-5)")]
    MarshallingError,
    /// -6: unknown opcode, or TTL nodes while extended types are disabled.
    #[error("unimplemented (-6)")]
    Unimplemented,
    /// -7: client-local operation timeout.
    #[error("operation timeout (-7)")]
    OperationTimeout,
    /// -8: bad path, bad create flags, bad TTL.
    #[error("bad arguments (-8)")]
    BadArguments,
    /// -12: unknown session (internal).
    #[error("unknown session (-12)")]
    UnknownSession,
    /// -13: reconfig without a quorum in the new config.
    #[error("new config has no quorum (-13)")]
    NewConfigNoQuorum,
    /// -14: another reconfig is in progress.
    #[error("reconfig in progress (-14)")]
    ReconfigInProgress,
    /// -100: range marker for API errors.
    #[error("api error (-100)")]
    ApiError,
    /// -101: the node does not exist.
    #[error("no node (-101)")]
    NoNode,
    /// -102: the ACL check failed.
    #[error("not authorized (-102)")]
    NoAuth,
    /// -103: the expected version does not match.
    #[error("bad version (-103)")]
    BadVersion,
    /// -108: ephemerals may not have children.
    #[error("no children for ephemerals (-108)")]
    NoChildrenForEphemerals,
    /// -110: the node already exists.
    #[error("node exists (-110)")]
    NodeExists,
    /// -111: the node has children.
    #[error("not empty (-111)")]
    NotEmpty,
    /// -112: the session has expired.
    #[error("session expired (-112)")]
    SessionExpired,
    /// -113: client-local invalid callback.
    #[error("invalid callback (-113)")]
    InvalidCallback,
    /// -114: empty ACL, `auth` without authenticated ids, malformed id.
    #[error("invalid ACL (-114)")]
    InvalidAcl,
    /// -115: the auth packet was rejected.
    #[error("auth failed (-115)")]
    AuthFailed,
    /// -118: the session moved to another server.
    #[error("session moved (-118)")]
    SessionMoved,
    /// -119: write on a read-only server.
    #[error("not read-only (-119)")]
    NotReadOnly,
    /// -120: ephemeral create on a local session.
    #[error("ephemeral on local session (-120)")]
    EphemeralOnLocalSession,
    /// -121: checkWatches/removeWatches found no such watch.
    #[error("no watcher (-121)")]
    NoWatcher,
    /// -122: client-local request timeout.
    #[error("request timeout (-122)")]
    RequestTimeout,
    /// -123: reconfig while reconfig is disabled.
    #[error("reconfig disabled (-123)")]
    ReconfigDisabled,
    /// -124: the session was closed because it lacked SASL auth.
    #[error("session closed, requires SASL auth (-124)")]
    SessionClosedRequireSaslAuth,
    /// -125: a quota would be exceeded (`zookeeper.enforceQuota`).
    #[error("quota exceeded (-125)")]
    QuotaExceeded,
    /// -127: the request throttler dropped the op.
    #[error("throttled op (-127)")]
    ThrottledOp,
}

/// Every variant with its code, the single source for `code` and `from_code`.
const CODES: [(ZkError, i32); 31] = [
    (ZkError::SystemError, -1),
    (ZkError::RuntimeInconsistency, -2),
    (ZkError::DataInconsistency, -3),
    (ZkError::ConnectionLoss, -4),
    (ZkError::MarshallingError, -5),
    (ZkError::Unimplemented, -6),
    (ZkError::OperationTimeout, -7),
    (ZkError::BadArguments, -8),
    (ZkError::UnknownSession, -12),
    (ZkError::NewConfigNoQuorum, -13),
    (ZkError::ReconfigInProgress, -14),
    (ZkError::ApiError, -100),
    (ZkError::NoNode, -101),
    (ZkError::NoAuth, -102),
    (ZkError::BadVersion, -103),
    (ZkError::NoChildrenForEphemerals, -108),
    (ZkError::NodeExists, -110),
    (ZkError::NotEmpty, -111),
    (ZkError::SessionExpired, -112),
    (ZkError::InvalidCallback, -113),
    (ZkError::InvalidAcl, -114),
    (ZkError::AuthFailed, -115),
    (ZkError::SessionMoved, -118),
    (ZkError::NotReadOnly, -119),
    (ZkError::EphemeralOnLocalSession, -120),
    (ZkError::NoWatcher, -121),
    (ZkError::RequestTimeout, -122),
    (ZkError::ReconfigDisabled, -123),
    (ZkError::SessionClosedRequireSaslAuth, -124),
    (ZkError::QuotaExceeded, -125),
    (ZkError::ThrottledOp, -127),
];

impl ZkError {
    /// The numeric code ZooKeeper puts in `ReplyHeader.err` and `ErrorTxn.err`.
    pub fn code(self) -> i32 {
        match CODES.iter().find(|(e, _)| *e == self) {
            Some((_, code)) => *code,
            None => unreachable!("every ZkError variant is listed in CODES"),
        }
    }

    /// The error for a numeric code; `None` for 0 (OK) and for unassigned codes.
    pub fn from_code(code: i32) -> Option<ZkError> {
        CODES.iter().find(|(_, c)| *c == code).map(|(e, _)| *e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_keeper_exception() {
        assert_eq!(ZkError::NoNode.code(), -101);
        assert_eq!(ZkError::NodeExists.code(), -110);
        assert_eq!(ZkError::BadVersion.code(), -103);
        assert_eq!(ZkError::NotEmpty.code(), -111);
        assert_eq!(ZkError::NoChildrenForEphemerals.code(), -108);
        assert_eq!(ZkError::InvalidAcl.code(), -114);
        assert_eq!(ZkError::NoAuth.code(), -102);
        assert_eq!(ZkError::BadArguments.code(), -8);
        assert_eq!(ZkError::Unimplemented.code(), -6);
        assert_eq!(ZkError::NoWatcher.code(), -121);
        assert_eq!(ZkError::SessionExpired.code(), -112);
        assert_eq!(ZkError::ThrottledOp.code(), -127);
    }

    #[test]
    fn from_code_round_trips_and_rejects_unknown() {
        for (e, c) in CODES {
            assert_eq!(ZkError::from_code(c), Some(e));
            assert_eq!(e.code(), c);
        }
        assert_eq!(ZkError::from_code(0), None);
        assert_eq!(ZkError::from_code(-126), None);
        assert_eq!(ZkError::from_code(7), None);
    }
}
