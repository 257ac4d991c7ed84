//! The watch check (verification.md §10): what one connection saw, in the order it arrived —
//! the replies that registered one-shot watches, the notifications, every other reply — judged
//! against the agreed log of applied txns. ZooKeeper promises ordering per connection only
//! (a client sees a watch event before it sees the data that triggered it, and a one-shot
//! watch fires once); nothing is checked across connections or servers.
//!
//! Rules, per connection:
//! - *at most once*: a notification must find a watch of its class (data: NodeCreated,
//!   NodeDataChanged; child: NodeChildrenChanged; NodeDeleted: either) armed on its path by a
//!   registration on this connection since the last notification of that class there;
//! - *the right event*: the watch's trigger is the first txn of the agreed log after the
//!   registration reply's zxid that changes what it watches (setData, create, delete, a
//!   closeSession deleting the path; for a child watch a child's create or delete); the
//!   notification's type is that change's;
//! - *before the data*: a reply on this connection whose header zxid is at or after the
//!   trigger's zxid (the server had applied the change when it answered) must come after the
//!   notification.
//!
//! A reconnect (the session kept, to another server) starts a new log with no watches: the
//! simulated clients do not re-register them with setWatches, and a notification on a
//! connection that registered nothing is a violation.

use std::collections::BTreeMap;

/// WatcherEvent types (A.10).
pub const NODE_CREATED: i32 = 1;
pub const NODE_DELETED: i32 = 2;
pub const NODE_DATA_CHANGED: i32 = 3;
pub const NODE_CHILDREN_CHANGED: i32 = 4;

/// Which watch table a registration goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// getData, exists.
    Data,
    /// getChildren.
    Child,
}

/// One thing a connection received, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A reply that registered a watch on `path` (its header zxid: the server's last applied
    /// txn when the watch was set, under the tree lock).
    Watch {
        class: Class,
        path: String,
        zxid: i64,
    },
    /// A notification.
    Note { event_type: i32, path: String },
    /// Any other reply, with its header zxid.
    Reply { zxid: i64 },
}

/// What one agreed txn changed (a failed txn or multi: nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    CreateSession { timeout_ms: i32 },
    CloseSession { paths: Vec<String> },
    Create { path: String, ephemeral: bool },
    Delete { path: String },
    SetData { path: String },
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// The event `change` fires on a watch of `class` on `path`, if any.
fn fires(change: &Change, class: Class, path: &str) -> Option<i32> {
    let (data, child) = match change {
        Change::SetData { path: p } if p == path => (Some(NODE_DATA_CHANGED), None),
        Change::Create { path: p, .. } if p == path => (Some(NODE_CREATED), None),
        Change::Create { path: p, .. } if parent(p) == path => (None, Some(NODE_CHILDREN_CHANGED)),
        Change::Delete { path: p } if p == path => (Some(NODE_DELETED), Some(NODE_DELETED)),
        Change::Delete { path: p } if parent(p) == path => (None, Some(NODE_CHILDREN_CHANGED)),
        Change::CloseSession { paths } => {
            if paths.iter().any(|p| p == path) {
                (Some(NODE_DELETED), Some(NODE_DELETED))
            } else if paths.iter().any(|p| parent(p) == path) {
                (None, Some(NODE_CHILDREN_CHANGED))
            } else {
                (None, None)
            }
        }
        _ => (None, None),
    };
    match class {
        Class::Data => data,
        Class::Child => child,
    }
}

/// The first change after `after` that fires a watch of `class` on `path`: (zxid, event).
fn trigger(
    txns: &BTreeMap<u64, Vec<Change>>,
    class: Class,
    path: &str,
    after: i64,
) -> Option<(u64, i32)> {
    let from = u64::try_from(after).unwrap_or(0) + 1;
    txns.range(from..).find_map(|(&zxid, changes)| {
        changes
            .iter()
            .find_map(|c| fires(c, class, path))
            .map(|e| (zxid, e))
    })
}

/// An armed watch: its registration's zxid and its trigger.
struct Armed {
    registered: i64,
    trigger: Option<(u64, i32)>,
}

/// Checks one connection's log (`who` names it in the violations).
pub fn check_connection(
    who: &str,
    items: &[Item],
    txns: &BTreeMap<u64, Vec<Change>>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut armed: BTreeMap<(String, Class), Armed> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let reply_zxid = match item {
            Item::Watch { zxid, .. } | Item::Reply { zxid } => Some(*zxid),
            Item::Note { .. } => None,
        };
        if let Some(z) = reply_zxid.filter(|z| *z > 0) {
            let revealed: Vec<(String, Class)> = armed
                .iter()
                .filter(|(_, a)| a.trigger.is_some_and(|(t, _)| t <= z as u64))
                .map(|(k, _)| k.clone())
                .collect();
            for key in revealed {
                let a = armed.remove(&key).expect("armed");
                let (t, _) = a.trigger.expect("filtered");
                out.push(format!(
                    "{who}: reply {i} at {z:#x} came before the notification of {:?} watch on {} (set at {:#x}) for the change at {t:#x}",
                    key.1, key.0, a.registered
                ));
            }
        }
        match item {
            Item::Watch { class, path, zxid } => {
                armed
                    .entry((path.clone(), *class))
                    .or_insert_with(|| Armed {
                        registered: *zxid,
                        trigger: trigger(txns, *class, path, *zxid),
                    });
            }
            Item::Note { event_type, path } => {
                let classes: &[Class] = match *event_type {
                    NODE_CHILDREN_CHANGED => &[Class::Child],
                    NODE_CREATED | NODE_DATA_CHANGED => &[Class::Data],
                    NODE_DELETED => &[Class::Data, Class::Child],
                    other => {
                        out.push(format!("{who}: notification {i} of type {other} on {path}"));
                        continue;
                    }
                };
                let mut matched = false;
                for class in classes {
                    let Some(a) = armed.remove(&(path.clone(), *class)) else {
                        continue;
                    };
                    matched = true;
                    match a.trigger {
                        None => out.push(format!(
                            "{who}: notification {i} ({event_type}) on {path}: no change after the {class:?} watch set at {:#x}",
                            a.registered
                        )),
                        Some((t, e)) if e != *event_type => out.push(format!(
                            "{who}: notification {i} on {path} is type {event_type}, the change at {t:#x} fires {e}"
                        )),
                        Some(_) => {}
                    }
                }
                if !matched {
                    out.push(format!(
                        "{who}: notification {i} ({event_type}) on {path} with no watch armed (fired twice, or never set)"
                    ));
                }
            }
            Item::Reply { .. } => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> BTreeMap<u64, Vec<Change>> {
        let mut t = BTreeMap::new();
        t.insert(5, vec![Change::SetData { path: "/k0".into() }]);
        t.insert(
            6,
            vec![Change::Create {
                path: "/e0.1.0".into(),
                ephemeral: true,
            }],
        );
        t.insert(
            7,
            vec![Change::CloseSession {
                paths: vec!["/e0.1.0".into()],
            }],
        );
        t
    }

    fn watch(class: Class, path: &str, zxid: i64) -> Item {
        Item::Watch {
            class,
            path: path.into(),
            zxid,
        }
    }

    fn note(event_type: i32, path: &str) -> Item {
        Item::Note {
            event_type,
            path: path.into(),
        }
    }

    #[test]
    fn a_correct_connection_passes() {
        let items = [
            watch(Class::Data, "/k0", 4),
            watch(Class::Child, "/", 4),
            note(NODE_DATA_CHANGED, "/k0"),
            Item::Reply { zxid: 5 },
            note(NODE_CHILDREN_CHANGED, "/"),
            Item::Reply { zxid: 6 },
            watch(Class::Data, "/e0.1.0", 6),
            watch(Class::Data, "/k0", 6),
            note(NODE_DELETED, "/e0.1.0"),
            Item::Reply { zxid: 7 },
        ];
        assert_eq!(check_connection("c", &items, &log()), Vec::<String>::new());
    }

    #[test]
    fn a_watch_firing_twice_is_caught() {
        let items = [
            watch(Class::Data, "/k0", 4),
            note(NODE_DATA_CHANGED, "/k0"),
            note(NODE_DATA_CHANGED, "/k0"),
        ];
        let v = check_connection("c", &items, &log());
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("no watch armed"), "{v:?}");
    }

    #[test]
    fn a_reply_revealing_the_change_before_its_notification_is_caught() {
        // The watch on /k0 set at 4 fires for the setData at 5; a reply at 5 before the
        // notification reveals it (the `watch-after-reply` mutant's shape).
        let items = [
            watch(Class::Data, "/k0", 4),
            Item::Reply { zxid: 5 },
            note(NODE_DATA_CHANGED, "/k0"),
        ];
        let v = check_connection("c", &items, &log());
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].contains("came before the notification"), "{v:?}");
        // A reply below the change reveals nothing.
        let early = [
            watch(Class::Data, "/k0", 4),
            Item::Reply { zxid: 4 },
            note(NODE_DATA_CHANGED, "/k0"),
        ];
        assert!(check_connection("c", &early, &log()).is_empty());
    }

    #[test]
    fn a_wrong_event_type_or_a_notification_without_change_is_caught() {
        let wrong = [
            watch(Class::Data, "/e0.1.0", 6),
            note(NODE_DATA_CHANGED, "/e0.1.0"),
        ];
        let v = check_connection("c", &wrong, &log());
        assert!(v.len() == 1 && v[0].contains("fires 2"), "{v:?}");
        let none = [watch(Class::Data, "/k1", 7), note(NODE_DELETED, "/k1")];
        let v = check_connection("c", &none, &log());
        assert!(v.len() == 1 && v[0].contains("no change"), "{v:?}");
        // A child watch is not fired by a setData of the node itself.
        let child = [
            watch(Class::Child, "/k0", 4),
            note(NODE_DATA_CHANGED, "/k0"),
        ];
        let v = check_connection("c", &child, &log());
        assert!(v.len() == 1 && v[0].contains("no watch armed"), "{v:?}");
    }

    #[test]
    fn a_notification_on_a_connection_that_set_no_watch_is_caught() {
        let v = check_connection("c", &[note(NODE_CHILDREN_CHANGED, "/")], &log());
        assert_eq!(v.len(), 1, "{v:?}");
    }
}
