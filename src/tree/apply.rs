//! Applying committed txns (`DataTree.processTxn`): every server applies the same txns in the
//! same order and gets the same tree, results and watch events (spec/data-tree.md). Also the
//! one server-local write, `init_config_node` (`/zookeeper/config`, not replicated).

use std::collections::BTreeSet;

use super::*;

impl DataTree {
    /// Applies one committed txn (`DataTree.processTxn`): the same txns in the same order give
    /// the same tree, results and events on every server.
    pub fn apply(&mut self, hdr: &TxnHeader, txn: &Txn) -> ApplyOutcome {
        let mut events = Vec::new();
        let result = self.apply_one(hdr, txn, &mut events);
        if hdr.zxid > self.last_processed_zxid {
            self.last_processed_zxid = hdr.zxid;
        }
        ApplyOutcome { result, events }
    }

    fn apply_one(
        &mut self,
        hdr: &TxnHeader,
        txn: &Txn,
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> TxnResult {
        let (zxid, time) = (hdr.zxid, hdr.time_ms);
        let res = match txn {
            Txn::Create(c) | Txn::Create2(c) => {
                let kind = if matches!(txn, Txn::Create(_)) {
                    CreateKind::Create
                } else {
                    CreateKind::Create2
                };
                let owner = if c.ephemeral { hdr.client_id } else { 0 };
                let r = self.create_node(c, owner, zxid, time, ev);
                if r == Err(ZkError::NodeExists) && kind == CreateKind::Create {
                    // Fuzzy-snapshot replay fix-up (DataTree.processTxn): bring the parent's
                    // cversion/pzxid forward even though the node already exists.
                    self.set_cversion_pzxid(&c.path, c.parent_cversion, zxid);
                }
                r.map(|stat| TxnResult::Create {
                    kind,
                    path: c.path.clone(),
                    stat,
                })
            }
            Txn::CreateContainer(c) => self
                .create_node(c, CONTAINER_EPHEMERAL_OWNER, zxid, time, ev)
                .map(|stat| TxnResult::Create {
                    kind: CreateKind::Container,
                    path: c.path.clone(),
                    stat,
                }),
            Txn::CreateTtl { create: c, ttl_ms } => match EphemeralKind::ttl_owner(*ttl_ms) {
                None => Err(ZkError::BadArguments),
                Some(owner) => {
                    self.create_node(c, owner, zxid, time, ev)
                        .map(|stat| TxnResult::Create {
                            kind: CreateKind::Ttl,
                            path: c.path.clone(),
                            stat,
                        })
                }
            },
            Txn::Delete { path } | Txn::DeleteContainer { path } => self
                .delete_node(path, zxid, ev)
                .map(|()| TxnResult::Delete { path: path.clone() }),
            Txn::SetData {
                path,
                data,
                version,
            } => self
                .set_data(path, data.clone(), *version, zxid, time, ev)
                .map(|stat| TxnResult::SetData {
                    path: path.clone(),
                    stat,
                }),
            Txn::SetAcl { path, acl, version } => {
                self.set_acl(path, acl.clone(), *version)
                    .map(|stat| TxnResult::SetAcl {
                        path: path.clone(),
                        stat,
                    })
            }
            Txn::Check { path, .. } => Ok(TxnResult::Check { path: path.clone() }),
            Txn::Multi(txns) => Ok(self.apply_multi(hdr, txns, ev)),
            Txn::CreateSession { timeout_ms } => {
                self.sessions.insert(hdr.client_id, *timeout_ms);
                Ok(TxnResult::CreateSession {
                    session_id: hdr.client_id,
                    timeout_ms: *timeout_ms,
                })
            }
            Txn::CloseSession { paths_to_delete } => {
                self.kill_session(hdr.client_id, zxid, paths_to_delete, ev);
                Ok(TxnResult::CloseSession {
                    session_id: hdr.client_id,
                })
            }
            Txn::Error { err } => Ok(TxnResult::Error { err: *err }),
        };
        res.unwrap_or_else(|e| TxnResult::Error { err: e.code() })
    }

    /// Multi: if any sub-txn is an error the whole multi applies nothing; ops before the first
    /// error report 0, later ones -2, error ops their own code (DataTree.processTxn).
    fn apply_multi(
        &mut self,
        hdr: &TxnHeader,
        txns: &[Txn],
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> TxnResult {
        let failed = txns.iter().any(|t| matches!(t, Txn::Error { .. }));
        let mut post_failed = false;
        let mut results = Vec::with_capacity(txns.len());
        for t in txns {
            let r = match t {
                Txn::Error { err } => {
                    post_failed = true;
                    TxnResult::Error { err: *err }
                }
                _ if failed => {
                    let err = if post_failed {
                        ZkError::RuntimeInconsistency.code()
                    } else {
                        0
                    };
                    TxnResult::Error { err }
                }
                // Nested multis and session txns cannot be decoded inside a multi; a typed
                // caller that builds one gets an error result instead of a state change.
                Txn::Multi(_) | Txn::CreateSession { .. } | Txn::CloseSession { .. } => {
                    TxnResult::Error {
                        err: ZkError::MarshallingError.code(),
                    }
                }
                _ => self.apply_one(hdr, t, ev),
            };
            results.push(r);
        }
        TxnResult::Multi(results)
    }

    fn create_node(
        &mut self,
        c: &CreateTxn,
        owner: i64,
        zxid: i64,
        time: i64,
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> Result<Stat, ZkError> {
        let (parent_path, child) = path::split_parent(&c.path)?;
        if c.path == path::ROOT {
            return Err(ZkError::NodeExists);
        }
        let parent = self.node_mut(parent_path).ok_or(ZkError::NoNode)?;
        if parent.children.contains(child) {
            return Err(ZkError::NodeExists);
        }
        let mut parent_cversion = c.parent_cversion;
        if parent_cversion == -1 {
            parent_cversion = parent.stat.cversion.wrapping_add(1);
        }
        // Only move forward: replaying a create over a fuzzy snapshot must not regress them.
        if parent_cversion > parent.stat.cversion {
            parent.stat.cversion = parent_cversion;
            parent.stat.pzxid = zxid;
        }
        parent.children.insert(child.into());
        let parent_path = parent_path.to_string();
        let acl = self.acls.intern(&c.acl);
        let node = Znode::new(
            StatPersisted::new_node(zxid, time, owner),
            c.data.clone(),
            acl,
        );
        let stat = node.stat();
        self.data_size += node_size(&c.path, c.data.as_deref());
        self.nodes.insert(c.path.as_str().into(), Arc::new(node));
        let data_len = c.data.as_ref().map_or(0, Vec::len) as i64;
        self.quota_on_create(&c.path, &parent_path, child, data_len);
        match EphemeralKind::of(owner) {
            EphemeralKind::Container => {
                self.containers.insert(c.path.clone());
            }
            EphemeralKind::Ttl(_) => {
                self.ttls.insert(c.path.clone());
            }
            EphemeralKind::Normal(session) => {
                self.ephemerals
                    .entry(session)
                    .or_default()
                    .insert(c.path.clone());
            }
            EphemeralKind::Void => {}
        }
        self.watches
            .trigger_data(&c.path, EventType::NodeCreated, ev);
        self.watches.trigger_child(
            &parent_path,
            EventType::NodeChildrenChanged,
            &BTreeSet::new(),
            ev,
        );
        Ok(stat)
    }

    fn delete_node(
        &mut self,
        node_path: &str,
        zxid: i64,
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> Result<(), ZkError> {
        let (parent_path, child) = path::split_parent(node_path)?;
        if node_path == path::ROOT {
            return Err(ZkError::BadArguments);
        }
        let parent = self.node_mut(parent_path).ok_or(ZkError::NoNode)?;
        parent.children.remove(child);
        // Only move forward (a later create may already have set a higher pzxid on replay).
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        let parent_path = parent_path.to_string();
        let node = self.nodes.remove(node_path).ok_or(ZkError::NoNode)?;
        self.data_size -= node_size(node_path, node.data.as_deref());
        match EphemeralKind::of(node.stat.ephemeral_owner) {
            EphemeralKind::Container => {
                self.containers.remove(node_path);
            }
            EphemeralKind::Ttl(_) => {
                self.ttls.remove(node_path);
            }
            EphemeralKind::Normal(session) => {
                if let Some(set) = self.ephemerals.get_mut(&session) {
                    set.remove(node_path);
                    if set.is_empty() {
                        self.ephemerals.remove(&session);
                    }
                }
            }
            EphemeralKind::Void => {}
        }
        self.quota_on_delete(node_path, &parent_path, child, node.data_length() as i64);
        let notified = self
            .watches
            .trigger_data(node_path, EventType::NodeDeleted, ev);
        self.watches
            .trigger_child(node_path, EventType::NodeDeleted, &notified, ev);
        self.watches.trigger_child(
            &parent_path,
            EventType::NodeChildrenChanged,
            &BTreeSet::new(),
            ev,
        );
        Ok(())
    }

    fn set_data(
        &mut self,
        node_path: &str,
        data: Option<Vec<u8>>,
        version: i32,
        zxid: i64,
        time: i64,
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) -> Result<Stat, ZkError> {
        let n = self.node_mut(node_path).ok_or(ZkError::NoNode)?;
        let old = n.data_length() as i64;
        n.data = data;
        n.stat.mtime = time;
        n.stat.mzxid = zxid;
        n.stat.version = version;
        let stat = n.stat();
        let bytes_diff = n.data_length() as i64 - old;
        self.data_size += bytes_diff;
        self.quota_on_set_data(node_path, bytes_diff);
        self.watches
            .trigger_data(node_path, EventType::NodeDataChanged, ev);
        Ok(stat)
    }

    fn set_acl(&mut self, node_path: &str, acl: Vec<Acl>, version: i32) -> Result<Stat, ZkError> {
        if self.node(node_path).is_none() {
            return Err(ZkError::NoNode);
        }
        let acl = self.acls.intern(&acl);
        let n = self.node_mut(node_path).ok_or(ZkError::NoNode)?;
        n.stat.aversion = version;
        n.acl = acl;
        Ok(n.stat())
    }

    /// `DataTree.setCversionPzxid` on the parent of `child_path`.
    fn set_cversion_pzxid(&mut self, child_path: &str, new_cversion: i32, zxid: i64) {
        let Ok((parent_path, _)) = path::split_parent(child_path) else {
            return;
        };
        if let Some(n) = self.node_mut(parent_path) {
            let v = if new_cversion == -1 {
                n.stat.cversion.wrapping_add(1)
            } else {
                new_cversion
            };
            if v > n.stat.cversion {
                n.stat.cversion = v;
                n.stat.pzxid = zxid;
            }
        }
    }

    /// `DataTree.killSession`: deletes the txn's paths, then any other ephemeral of the session
    /// (sorted), ignoring ones already gone; drops the session.
    fn kill_session(
        &mut self,
        session: i64,
        zxid: i64,
        paths: &[String],
        ev: &mut Vec<(WatcherId, WatchedEvent)>,
    ) {
        let mut local = self.ephemerals.remove(&session).unwrap_or_default();
        for p in paths {
            // NoNode is expected on replay; ZooKeeper logs and continues.
            let _ = self.delete_node(p, zxid, ev);
            local.remove(p);
        }
        for p in local {
            let _ = self.delete_node(&p, zxid, ev);
        }
        self.ephemerals.remove(&session);
        self.sessions.remove(&session);
    }

    /// `ZKDatabase.initConfigInZKDatabase`: a server-local (not replicated) setData of
    /// `/zookeeper/config` with the quorum config text, version -1 and mzxid = the config
    /// version, done at start-up and after a reconfig. Recreates the node if a loaded
    /// snapshot lacked it. Returns the NodeDataChanged events it fires.
    pub fn init_config_node(
        &mut self,
        data: Vec<u8>,
        config_version: i64,
        time_ms: i64,
    ) -> Vec<(WatcherId, WatchedEvent)> {
        if !self.nodes.contains_key(CONFIG_ZOOKEEPER) {
            if let Some(proc_node) = self.node_mut(PROC_ZOOKEEPER) {
                proc_node.children.insert("config".into());
                let acl = self.acls.intern(&Acl::read_unsafe());
                let mut n = Znode::new(StatPersisted::default(), Some(Vec::new()), acl);
                n.stat.aversion = -1;
                self.data_size += node_size(CONFIG_ZOOKEEPER, Some(&[]));
                self.nodes.insert(CONFIG_ZOOKEEPER.into(), Arc::new(n));
            }
        }
        let mut ev = Vec::new();
        // The node exists unless /zookeeper itself is missing; then there is nothing to set.
        let _ = self.set_data(
            CONFIG_ZOOKEEPER,
            Some(data),
            -1,
            config_version,
            time_ms,
            &mut ev,
        );
        ev
    }
}
