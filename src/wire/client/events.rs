//! Watch notifications (reference A.10): the event and state numbers and the WatcherEvent a
//! server sends with xid -1.

use bytes::BufMut;

use super::headers::{ReplyHeader, NOTIFICATION_XID};
use crate::wire::jute::{jute_record, Record};
use crate::wire::write_frame;

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

jute_record! {
    /// WatcherEvent: the body of a notification (xid -1).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct WatcherEvent {
        /// [`EventType`] number.
        pub event_type: i32 as int,
        /// [`KeeperState`] number; the server always sends SyncConnected (3).
        pub state: i32 as int,
        /// The znode the event is about.
        pub path: String as ustring("WatcherEvent.path"),
    }
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
