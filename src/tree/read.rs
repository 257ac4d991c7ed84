//! Reads (`get_data`, `exists`, children, ACLs; ACL checks as `FinalRequestProcessor` does)
//! and watch registration: what a server answers from its own tree without a txn.

use super::*;
use std::ops::Bound::{Excluded, Included};

impl DataTree {
    /// The node at `path`, if any.
    pub fn node(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(path).map(AsRef::as_ref)
    }

    /// The client Stat of `path`, if it exists (no ACL check, no watch).
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path).map(|n| n.stat())
    }

    /// getData: NoNode (no watch set), then READ, then the watch.
    pub fn get_data(
        &mut self,
        path: &str,
        auth_ids: &[Id],
        watch: Option<WatcherId>,
    ) -> Result<(Option<Vec<u8>>, Stat), ZkError> {
        let out = self.read_data(path, auth_ids)?;
        if let Some(w) = watch {
            self.watches.add_data_watch(path, w);
        }
        Ok(out)
    }

    /// getData without a watch: NoNode, then READ. Takes `&self`, so readers can share the tree.
    pub fn read_data(
        &self,
        path: &str,
        auth_ids: &[Id],
    ) -> Result<(Option<Vec<u8>>, Stat), ZkError> {
        let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        acl::check_acl(&n.acl, perms::READ, auth_ids)?;
        Ok((n.data.clone(), n.stat()))
    }

    /// exists without a watch (a path containing NUL is BadArguments), through `&self`.
    pub fn read_exists(&self, path: &str) -> Result<Stat, ZkError> {
        if path.contains('\0') {
            return Err(ZkError::BadArguments);
        }
        self.stat(path).ok_or(ZkError::NoNode)
    }

    /// exists: no ACL check (3.8.0); the watch is set even when the node is missing, so it
    /// fires on create. A path containing NUL is BadArguments.
    pub fn exists(&mut self, path: &str, watch: Option<WatcherId>) -> Result<Stat, ZkError> {
        if path.contains('\0') {
            return Err(ZkError::BadArguments);
        }
        if let Some(w) = watch {
            self.watches.add_data_watch(path, w);
        }
        self.read_exists(path)
    }

    /// getChildren / getChildren2: NoNode (no watch), READ, then the child watch. Children in
    /// name order.
    pub fn get_children(
        &mut self,
        path: &str,
        auth_ids: &[Id],
        watch: Option<WatcherId>,
    ) -> Result<(Vec<String>, Stat), ZkError> {
        let out = self.read_children(path, auth_ids)?;
        if let Some(w) = watch {
            self.watches.add_child_watch(path, w);
        }
        Ok(out)
    }

    /// getChildren without a watch: NoNode, then READ; children in name order. `&self`.
    pub fn read_children(
        &self,
        path: &str,
        auth_ids: &[Id],
    ) -> Result<(Vec<String>, Stat), ZkError> {
        let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        acl::check_acl(&n.acl, perms::READ, auth_ids)?;
        Ok((n.children.iter().map(|c| c.to_string()).collect(), n.stat()))
    }

    /// getAllChildrenNumber: every descendant (not the node itself); READ on the node.
    pub fn get_all_children_number(&self, path: &str, auth_ids: &[Id]) -> Result<i32, ZkError> {
        let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        acl::check_acl(&n.acl, perms::READ, auth_ids)?;
        if path == path::ROOT {
            return Ok(self.nodes.len() as i32 - 1);
        }
        let lo = format!("{path}/");
        let hi = format!("{path}0"); // '0' is the character after '/'
        Ok(self
            .nodes
            .range::<_, str>((Included(lo.as_str()), Excluded(hi.as_str())))
            .count() as i32)
    }

    /// getEphemerals: the session's ephemerals whose path starts with `prefix` ("" or "/",
    /// after trimming, means all), in path order.
    pub fn get_ephemerals(&self, session_id: i64, prefix: &str) -> Vec<String> {
        let all = prefix.trim().is_empty() || prefix.trim() == "/";
        self.ephemerals
            .get(&session_id)
            .map(|set| {
                set.iter()
                    .filter(|p| all || p.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// getACL: NoNode, then READ or ADMIN; without ADMIN digest ids are masked as `user:x`.
    pub fn get_acl(&self, path: &str, auth_ids: &[Id]) -> Result<(Vec<Acl>, Stat), ZkError> {
        let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        acl::check_acl(&n.acl, perms::READ | perms::ADMIN, auth_ids)?;
        let acl = match acl::check_acl(&n.acl, perms::ADMIN, auth_ids) {
            Ok(()) => n.acl.to_vec(),
            Err(_) => acl::mask_digests(&n.acl),
        };
        Ok((acl, n.stat()))
    }

    // ---------------------------------------------------------------- watches

    /// addWatch (opcode 106): persistent or persistent-recursive; the node need not exist.
    pub fn add_watch(&mut self, path: &str, w: WatcherId, mode: WatcherMode) {
        self.watches.add_persistent_watch(path, w, mode);
    }

    /// setWatches / setWatches2 after a reconnect (`DataTree.setWatches`): returns the events
    /// due immediately (sent before the reply) and re-registers the rest.
    #[allow(clippy::too_many_arguments)]
    pub fn set_watches(
        &mut self,
        relative_zxid: i64,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        persistent_recursive: &[String],
        w: WatcherId,
    ) -> Vec<WatchedEvent> {
        let mut out = Vec::new();
        let ev = |t, p: &str| WatchedEvent {
            event_type: t,
            keeper_state: KeeperState::SyncConnected,
            path: p.to_string(),
        };
        for p in data {
            match self.nodes.get(p.as_str()) {
                None => out.push(ev(EventType::NodeDeleted, p)),
                Some(n) if n.stat.mzxid > relative_zxid => {
                    out.push(ev(EventType::NodeDataChanged, p))
                }
                Some(_) => self.watches.add_data_watch(p, w),
            }
        }
        for p in exist {
            if self.nodes.contains_key(p.as_str()) {
                out.push(ev(EventType::NodeCreated, p));
            } else {
                self.watches.add_data_watch(p, w);
            }
        }
        for p in child {
            match self.nodes.get(p.as_str()) {
                None => out.push(ev(EventType::NodeDeleted, p)),
                Some(n) if n.stat.pzxid > relative_zxid => {
                    out.push(ev(EventType::NodeChildrenChanged, p))
                }
                Some(_) => self.watches.add_child_watch(p, w),
            }
        }
        for p in persistent {
            self.watches
                .add_persistent_watch(p, w, WatcherMode::Persistent);
        }
        for p in persistent_recursive {
            self.watches
                .add_persistent_watch(p, w, WatcherMode::PersistentRecursive);
        }
        out
    }

    /// checkWatches (opcode 17).
    pub fn check_watches(&self, path: &str, t: WatcherType, w: WatcherId) -> Result<(), ZkError> {
        self.watches.check_watches(path, t, w)
    }

    /// removeWatches (opcode 18).
    pub fn remove_watches(
        &mut self,
        path: &str,
        t: WatcherType,
        w: WatcherId,
    ) -> Result<(), ZkError> {
        self.watches.remove_watches(path, t, w)
    }

    /// Forgets a closed connection's watches.
    pub fn remove_watcher(&mut self, w: WatcherId) {
        self.watches.remove_watcher(w);
    }

    /// The watch tables (listings for wchs/wchc/wchp, counts for mntr).
    pub fn watches(&self) -> &WatchTable {
        &self.watches
    }
}
