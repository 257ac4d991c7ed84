//! Numbers a request carries as ints (reference A.5, A.9, A.10): the opcodes, CreateMode flags,
//! watcher types and addWatch modes.

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
}
