//! Watches: who is told about which change.
//!
//! Mirrors ZooKeeper 3.8.0's `server/watch/WatchManager.java` with the two tables `DataTree`
//! keeps: the *data* table (getData/exists watches, NodeCreated/NodeDeleted/NodeDataChanged)
//! and the *child* table (getChildren watches, NodeChildrenChanged/NodeDeleted). `addWatch`
//! puts a persistent or persistent-recursive watch in both tables. Rules (formats sheet A.10):
//!
//! - a table holds one mode per (watcher, path); the last registration wins (3.8 behaviour:
//!   a one-shot watch set on a path with a persistent watch replaces it);
//! - a trigger on `path` fires every non-recursive watch *at* `path` (removing one-shot ones)
//!   and every recursive watch at `path` or an ancestor, except for NodeChildrenChanged, which
//!   recursive watches never receive;
//! - each watcher gets at most one event per trigger; a NodeDeleted already delivered from the
//!   data table is suppressed in the child table (the child watch is still consumed);
//! - within one trigger, events go out in ascending `WatcherId` order (ZooKeeper uses a hash
//!   set; any order is valid, ours is deterministic).

use std::collections::{BTreeMap, BTreeSet};

use crate::tree::error::ZkError;
use crate::tree::path::parent_of;

/// A watcher: the server's id of one client connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatcherId(pub u64);

/// `Watcher.Event.EventType` values the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// 1
    NodeCreated,
    /// 2
    NodeDeleted,
    /// 3
    NodeDataChanged,
    /// 4
    NodeChildrenChanged,
}

impl EventType {
    /// The wire value (`WatcherEvent.type`).
    pub fn code(self) -> i32 {
        match self {
            EventType::NodeCreated => 1,
            EventType::NodeDeleted => 2,
            EventType::NodeDataChanged => 3,
            EventType::NodeChildrenChanged => 4,
        }
    }
}

/// `Watcher.Event.KeeperState`: the server only ever sends SyncConnected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeeperState {
    /// 3
    SyncConnected,
}

impl KeeperState {
    /// The wire value (`WatcherEvent.state`).
    pub fn code(self) -> i32 {
        3
    }
}

/// One notification (`WatchedEvent`), sent with xid -1.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WatchedEvent {
    /// What happened.
    pub event_type: EventType,
    /// Always SyncConnected.
    pub keeper_state: KeeperState,
    /// The node it happened to (the parent for NodeChildrenChanged).
    pub path: String,
}

impl WatchedEvent {
    fn new(event_type: EventType, path: &str) -> WatchedEvent {
        WatchedEvent {
            event_type,
            keeper_state: KeeperState::SyncConnected,
            path: path.into(),
        }
    }
}

/// How a watch behaves (`WatcherMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatcherMode {
    /// One-shot.
    Standard,
    /// Stays after firing; this path only.
    Persistent,
    /// Stays after firing; this path and all descendants, no NodeChildrenChanged.
    PersistentRecursive,
}

impl WatcherMode {
    /// addWatch mode (`ZooDefs.AddWatchModes`): 0 persistent, 1 persistent-recursive.
    pub fn from_add_watch_mode(mode: i32) -> Option<WatcherMode> {
        match mode {
            0 => Some(WatcherMode::Persistent),
            1 => Some(WatcherMode::PersistentRecursive),
            _ => None,
        }
    }
    fn is_persistent(self) -> bool {
        self != WatcherMode::Standard
    }
    fn is_recursive(self) -> bool {
        self == WatcherMode::PersistentRecursive
    }
}

/// checkWatches/removeWatches `type` (`Watcher.WatcherType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatcherType {
    /// 1: child watches.
    Children,
    /// 2: data and exist watches.
    Data,
    /// 3: both.
    Any,
}

impl WatcherType {
    /// From the wire value; `None` for values 3.8 does not define.
    pub fn from_code(code: i32) -> Option<WatcherType> {
        match code {
            1 => Some(WatcherType::Children),
            2 => Some(WatcherType::Data),
            3 => Some(WatcherType::Any),
            _ => None,
        }
    }
}

/// Watch counts as `wchs` reports them (of the data table, as ZooKeeper does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchesSummary {
    /// Connections with at least one watch.
    pub connections: usize,
    /// Watched paths.
    pub paths: usize,
    /// Total (connection, path) watches.
    pub total: usize,
}

/// One table: path → watcher → mode, plus the reverse index.
#[derive(Clone, Debug, Default)]
struct WatchManager {
    table: BTreeMap<String, BTreeMap<WatcherId, WatcherMode>>,
    by_watcher: BTreeMap<WatcherId, BTreeSet<String>>,
    recursive_count: usize,
}

impl WatchManager {
    fn add(&mut self, path: &str, w: WatcherId, mode: WatcherMode) {
        let old = self
            .table
            .entry(path.to_string())
            .or_default()
            .insert(w, mode);
        if old.is_some_and(WatcherMode::is_recursive) {
            self.recursive_count -= 1;
        }
        if mode.is_recursive() {
            self.recursive_count += 1;
        }
        self.by_watcher
            .entry(w)
            .or_default()
            .insert(path.to_string());
    }

    fn remove(&mut self, path: &str, w: WatcherId) -> bool {
        let Some(paths) = self.by_watcher.get_mut(&w) else {
            return false;
        };
        if !paths.remove(path) {
            return false;
        }
        if paths.is_empty() {
            self.by_watcher.remove(&w);
        }
        let Some(watchers) = self.table.get_mut(path) else {
            return false;
        };
        let removed = watchers.remove(&w);
        if watchers.is_empty() {
            self.table.remove(path);
        }
        if removed.is_some_and(WatcherMode::is_recursive) {
            self.recursive_count -= 1;
        }
        removed.is_some()
    }

    fn remove_watcher(&mut self, w: WatcherId) {
        let Some(paths) = self.by_watcher.remove(&w) else {
            return;
        };
        for p in paths {
            if let Some(watchers) = self.table.get_mut(&p) {
                if watchers.remove(&w).is_some_and(WatcherMode::is_recursive) {
                    self.recursive_count -= 1;
                }
                if watchers.is_empty() {
                    self.table.remove(&p);
                }
            }
        }
    }

    fn contains(&self, path: &str, w: WatcherId) -> bool {
        self.table.get(path).is_some_and(|ws| ws.contains_key(&w))
    }

    /// `WatchManager.triggerWatch`: returns every watcher that matched (the suppress set for a
    /// following trigger) and appends events for those not in `suppress`.
    fn trigger(
        &mut self,
        path: &str,
        event_type: EventType,
        suppress: &BTreeSet<WatcherId>,
        out: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> BTreeSet<WatcherId> {
        let mut matched = BTreeSet::new();
        let mut local = Some(path);
        let mut at_parent = false;
        while let Some(p) = local {
            if let Some(watchers) = self.table.get_mut(p) {
                let mut consumed = Vec::new();
                for (w, mode) in watchers.iter() {
                    if mode.is_recursive() {
                        if event_type != EventType::NodeChildrenChanged {
                            matched.insert(*w);
                        }
                    } else if !at_parent {
                        matched.insert(*w);
                        if !mode.is_persistent() {
                            consumed.push(*w);
                        }
                    }
                }
                for w in consumed {
                    watchers.remove(&w);
                    if let Some(paths) = self.by_watcher.get_mut(&w) {
                        paths.remove(p);
                        if paths.is_empty() {
                            self.by_watcher.remove(&w);
                        }
                    }
                }
                if watchers.is_empty() {
                    self.table.remove(p);
                }
            }
            // Ancestors matter only for recursive watches (PathParentIterator.forPathOnly).
            local = if self.recursive_count == 0 {
                None
            } else {
                parent_of(p)
            };
            at_parent = true;
        }
        for w in matched.iter().filter(|w| !suppress.contains(w)) {
            out.push((*w, WatchedEvent::new(event_type, path)));
        }
        matched
    }

    fn size(&self) -> usize {
        self.table.values().map(BTreeMap::len).sum()
    }
}

/// The data and child watch tables of one server.
#[derive(Clone, Debug, Default)]
pub struct WatchTable {
    data: WatchManager,
    child: WatchManager,
}

impl WatchTable {
    /// A one-shot data watch (getData, exists — also on a missing node).
    pub fn add_data_watch(&mut self, path: &str, w: WatcherId) {
        self.data.add(path, w, WatcherMode::Standard);
    }

    /// A one-shot child watch (getChildren/getChildren2).
    pub fn add_child_watch(&mut self, path: &str, w: WatcherId) {
        self.child.add(path, w, WatcherMode::Standard);
    }

    /// addWatch: a persistent or persistent-recursive watch, in both tables (3.8.0 DataTree).
    pub fn add_persistent_watch(&mut self, path: &str, w: WatcherId, mode: WatcherMode) {
        self.data.add(path, w, mode);
        self.child.add(path, w, mode);
    }

    /// Forgets every watch of a closed connection (`DataTree.removeCnxn`).
    pub fn remove_watcher(&mut self, w: WatcherId) {
        self.data.remove_watcher(w);
        self.child.remove_watcher(w);
    }

    /// checkWatches: `NoWatcher` unless `w` holds a watch of that type at exactly `path`.
    ///
    /// (3.8's `WatchManager.containsWatcher` also answers yes when *another* connection watches
    /// the path; stock clients check their own table first, so the difference is not visible
    /// to them and we keep the per-connection answer.)
    pub fn check_watches(&self, path: &str, t: WatcherType, w: WatcherId) -> Result<(), ZkError> {
        let found = match t {
            WatcherType::Children => self.child.contains(path, w),
            WatcherType::Data => self.data.contains(path, w),
            WatcherType::Any => self.child.contains(path, w) || self.data.contains(path, w),
        };
        if found {
            Ok(())
        } else {
            Err(ZkError::NoWatcher)
        }
    }

    /// removeWatches: removes `w`'s watches of that type at `path`; `NoWatcher` if none was.
    pub fn remove_watches(
        &mut self,
        path: &str,
        t: WatcherType,
        w: WatcherId,
    ) -> Result<(), ZkError> {
        let removed = match t {
            WatcherType::Children => self.child.remove(path, w),
            WatcherType::Data => self.data.remove(path, w),
            WatcherType::Any => {
                let c = self.child.remove(path, w);
                let d = self.data.remove(path, w);
                c || d
            }
        };
        if removed {
            Ok(())
        } else {
            Err(ZkError::NoWatcher)
        }
    }

    /// Fires the data table for `path` (NodeCreated / NodeDataChanged / NodeDeleted).
    pub(crate) fn trigger_data(
        &mut self,
        path: &str,
        t: EventType,
        out: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> BTreeSet<WatcherId> {
        self.data.trigger(path, t, &BTreeSet::new(), out)
    }

    /// Fires the child table for `path`, skipping watchers in `suppress`.
    pub(crate) fn trigger_child(
        &mut self,
        path: &str,
        t: EventType,
        suppress: &BTreeSet<WatcherId>,
        out: &mut Vec<(WatcherId, WatchedEvent)>,
    ) {
        self.child.trigger(path, t, suppress, out);
    }

    /// Total watches in both tables (`DataTree.getWatchCount`, mntr `zk_watch_count`).
    pub fn watch_count(&self) -> usize {
        self.data.size() + self.child.size()
    }

    /// wchs: counts over the data table.
    pub fn summary(&self) -> WatchesSummary {
        WatchesSummary {
            connections: self.data.by_watcher.len(),
            paths: self.data.table.len(),
            total: self.data.by_watcher.values().map(BTreeSet::len).sum(),
        }
    }

    /// wchp: path → watchers, over the data table.
    pub fn by_path(&self) -> BTreeMap<String, BTreeSet<WatcherId>> {
        self.data
            .table
            .iter()
            .map(|(p, ws)| (p.clone(), ws.keys().copied().collect()))
            .collect()
    }

    /// wchc: watcher → paths, over the data table.
    pub fn by_watcher(&self) -> BTreeMap<WatcherId, BTreeSet<String>> {
        self.data.by_watcher.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: WatcherId = WatcherId(1);
    const B: WatcherId = WatcherId(2);

    fn fire_data(t: &mut WatchTable, path: &str, e: EventType) -> Vec<(WatcherId, WatchedEvent)> {
        let mut out = Vec::new();
        t.trigger_data(path, e, &mut out);
        out
    }

    #[test]
    fn one_shot_fires_once() {
        let mut t = WatchTable::default();
        t.add_data_watch("/a", A);
        t.add_data_watch("/a", B);
        let ev = fire_data(&mut t, "/a", EventType::NodeDataChanged);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].0, A);
        assert_eq!(ev[0].1.event_type, EventType::NodeDataChanged);
        assert!(fire_data(&mut t, "/a", EventType::NodeDataChanged).is_empty());
        assert_eq!(t.watch_count(), 0);
    }

    #[test]
    fn persistent_stays_and_recursive_covers_descendants() {
        let mut t = WatchTable::default();
        t.add_persistent_watch("/a", A, WatcherMode::Persistent);
        t.add_persistent_watch("/a", B, WatcherMode::PersistentRecursive);
        for _ in 0..2 {
            let ev = fire_data(&mut t, "/a", EventType::NodeDataChanged);
            assert_eq!(ev.iter().map(|e| e.0).collect::<Vec<_>>(), vec![A, B]);
        }
        let ev = fire_data(&mut t, "/a/b/c", EventType::NodeCreated);
        assert_eq!(ev.iter().map(|e| e.0).collect::<Vec<_>>(), vec![B]);
        assert_eq!(ev[0].1.path, "/a/b/c");
        let mut out = Vec::new();
        t.trigger_child(
            "/a",
            EventType::NodeChildrenChanged,
            &BTreeSet::new(),
            &mut out,
        );
        assert_eq!(out.iter().map(|e| e.0).collect::<Vec<_>>(), vec![A]);
    }

    #[test]
    fn one_shot_replaces_persistent_mode() {
        let mut t = WatchTable::default();
        t.add_persistent_watch("/a", A, WatcherMode::Persistent);
        t.add_data_watch("/a", A);
        assert_eq!(fire_data(&mut t, "/a", EventType::NodeDataChanged).len(), 1);
        assert!(fire_data(&mut t, "/a", EventType::NodeDataChanged).is_empty());
    }

    #[test]
    fn check_and_remove() {
        let mut t = WatchTable::default();
        t.add_child_watch("/a", A);
        assert_eq!(t.check_watches("/a", WatcherType::Children, A), Ok(()));
        assert_eq!(
            t.check_watches("/a", WatcherType::Data, A),
            Err(ZkError::NoWatcher)
        );
        assert_eq!(
            t.check_watches("/a", WatcherType::Any, B),
            Err(ZkError::NoWatcher)
        );
        assert_eq!(
            t.remove_watches("/a", WatcherType::Data, A),
            Err(ZkError::NoWatcher)
        );
        assert_eq!(t.remove_watches("/a", WatcherType::Any, A), Ok(()));
        assert_eq!(
            t.remove_watches("/a", WatcherType::Any, A),
            Err(ZkError::NoWatcher)
        );
        t.add_data_watch("/x", A);
        t.add_data_watch("/y", A);
        t.add_data_watch("/y", B);
        assert_eq!(
            t.summary(),
            WatchesSummary {
                connections: 2,
                paths: 2,
                total: 3
            }
        );
        t.remove_watcher(A);
        assert_eq!(
            t.summary(),
            WatchesSummary {
                connections: 1,
                paths: 1,
                total: 1
            }
        );
        assert_eq!(t.by_path().get("/y").map(BTreeSet::len), Some(1));
    }
}
