//! Quota scenarios (spec/data-tree.md §6), checked against what ZooKeeper 3.8 prints for the
//! same zkCli session: the stats `setquota` starts from, their upkeep on create, delete and
//! setData, nested roots, multi and closeSession, snapshot reload, and `enforceQuota`.

use super::*;

/// What zkCli 3.8 writes for `setquota -n 2`.
const SOFT_COUNT_2: &str = "count=2,bytes=-1=;byteHardLimit=-1;countHardLimit=-1";

fn create_data(path: &str, data: Option<&str>) -> WriteRequest {
    WriteRequest::Create {
        kind: CreateKind::Create,
        path: path.into(),
        data: data.map(|d| d.as_bytes().to_vec()),
        acl: Acl::open_unsafe(),
        flags: 0,
        ttl_ms: -1,
    }
}

fn set_data(path: &str, data: Option<&str>, version: i32) -> WriteRequest {
    WriteRequest::SetData {
        path: path.into(),
        data: data.map(|d| d.as_bytes().to_vec()),
        version,
    }
}

fn stat_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}/zookeeper_stats")
}

fn limit_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}/zookeeper_limits")
}

fn err_of(o: &ApplyOutcome) -> i32 {
    o.result.err()
}

impl Server {
    fn put(&mut self, path: &str, data: Option<&str>) -> ApplyOutcome {
        let o = self.write(create_data(path, data));
        assert_eq!(err_of(&o), 0, "create {path}");
        o
    }

    /// zkCli 3.8's `setquota` as writes: missing `/zookeeper/quota/…` nodes with null data,
    /// the limits node, then the stats node with `count=0,bytes=0` (SetQuotaCommand).
    fn set_quota(&mut self, path: &str, limits: &str) {
        let mut q = QUOTA_ZOOKEEPER.to_string();
        for part in path.split('/').skip(1) {
            q = format!("{q}/{part}");
            if self.tree.node(&q).is_none() {
                self.put(&q, None);
            }
        }
        self.put(&limit_path(path), Some(limits));
        self.put(&stat_path(path), Some("count=0,bytes=0"));
    }

    fn text(&mut self, path: &str) -> String {
        let (data, _) = self.tree.get_data(path, &[], None).expect("node exists");
        String::from_utf8(data.unwrap_or_default()).expect("utf-8")
    }

    fn stats(&mut self, path: &str) -> String {
        self.text(&stat_path(path))
    }
}

/// The issue's session: five znodes under /q holding 8 bytes.
fn five_under_q() -> Server {
    let mut s = Server::new();
    for (p, d) in [
        ("/q", Some("a")),
        ("/q/b", Some("bb")),
        ("/q/c", Some("ccc")),
        ("/q/b/d", Some("dd")),
        ("/q/e", None),
    ] {
        s.put(p, d);
    }
    s
}

#[test]
fn setquota_counts_the_existing_subtree_and_writes_keep_it() {
    let mut s = five_under_q();
    s.set_quota("/q", SOFT_COUNT_2);
    // ZooKeeper 3.8: "Output stat for /q count=5,bytes=8".
    assert_eq!(s.stats("/q"), "count=5,bytes=8");
    assert_eq!(s.text(&limit_path("/q")), SOFT_COUNT_2);
    let stats_stat = s.tree.stat(&stat_path("/q")).unwrap();

    s.put("/q/f", Some("ffff"));
    assert_eq!(s.stats("/q"), "count=6,bytes=12");
    assert_eq!(err_of(&s.write(set_data("/q/c", Some("c"), -1))), 0);
    assert_eq!(s.stats("/q"), "count=6,bytes=10");
    assert_eq!(err_of(&s.write(set_data("/q/c", None, -1))), 0);
    assert_eq!(s.stats("/q"), "count=6,bytes=9");
    assert_eq!(err_of(&s.write(del("/q/b/d"))), 0);
    assert_eq!(s.stats("/q"), "count=5,bytes=7");
    // Outside the root (component prefix, not string prefix): no change.
    s.put("/qq", Some("zzzz"));
    s.put("/other", Some("x"));
    assert_eq!(err_of(&s.write(set_data("/qq", Some("z"), -1))), 0);
    assert_eq!(s.stats("/q"), "count=5,bytes=7");
    // A failed write changes nothing.
    assert_eq!(err_of(&s.write(create_data("/q/f", Some("again")))), -110);
    assert_eq!(s.stats("/q"), "count=5,bytes=7");

    // The stats node's Stat is untouched (ZooKeeper assigns its data directly).
    let after = s.tree.stat(&stat_path("/q")).unwrap();
    assert_eq!(
        (after.mzxid, after.version, after.mtime),
        (stats_stat.mzxid, stats_stat.version, stats_stat.mtime)
    );
    assert_eq!(after.data_length, "count=5,bytes=7".len() as i32);
}

#[test]
fn stats_node_events_are_not_fired_by_upkeep() {
    let mut s = five_under_q();
    s.set_quota("/q", SOFT_COUNT_2);
    s.tree.get_data(&stat_path("/q"), &[], Some(W1)).unwrap();
    let o = s.put("/q/g", Some("g"));
    assert!(o.events.is_empty(), "{:?}", o.events);
    assert_eq!(s.stats("/q"), "count=6,bytes=9");
}

#[test]
fn nested_roots_use_the_longest_prefix() {
    let mut s = Server::new();
    s.put("/a", Some("1"));
    s.put("/a/b", Some("22"));
    s.set_quota("/a", SOFT_COUNT_2);
    assert_eq!(s.stats("/a"), "count=2,bytes=3");
    // zkCli refuses a quota below another one; a plain client can still write the nodes, and
    // the server then charges each write to the longest root only.
    s.set_quota("/a/b", SOFT_COUNT_2);
    assert_eq!(s.stats("/a/b"), "count=1,bytes=2");
    s.put("/a/b/c", Some("333"));
    assert_eq!(s.stats("/a/b"), "count=2,bytes=5");
    assert_eq!(s.stats("/a"), "count=2,bytes=3");
    s.put("/a/x", Some("4444"));
    assert_eq!(s.stats("/a"), "count=3,bytes=7");
    assert_eq!(s.tree.max_prefix_with_quota("/a/b/c"), Some("/a/b".into()));

    // Deleting the limits node removes the root: /a/b's writes go to /a again.
    assert_eq!(err_of(&s.write(del(&limit_path("/a/b")))), 0);
    assert_eq!(s.tree.max_prefix_with_quota("/a/b/c"), Some("/a".into()));
    s.put("/a/b/d", Some("x"));
    assert_eq!(s.stats("/a"), "count=4,bytes=8");
    assert_eq!(s.stats("/a/b"), "count=2,bytes=5");
}

#[test]
fn upkeep_keeps_other_keys_and_leaves_unreadable_text_alone() {
    let mut s = Server::new();
    s.put("/q", None);
    s.set_quota("/q", SOFT_COUNT_2);
    assert_eq!(s.stats("/q"), "count=1,bytes=0");
    let stats = stat_path("/q");
    assert_eq!(
        err_of(&s.write(set_data(&stats, Some("count=1,bytes=1=;extra=7"), -1))),
        0
    );
    s.put("/q/x", Some("ab"));
    assert_eq!(s.stats("/q"), "count=2,bytes=3=;extra=7");
    // ZooKeeper's parser throws on this text; the create still applies, the text stays.
    assert_eq!(err_of(&s.write(set_data(&stats, Some("garbage"), -1))), 0);
    s.put("/q/y", Some("y"));
    assert_eq!(s.stats("/q"), "garbage");
    assert!(s.tree.node("/q/y").is_some());
}

#[test]
fn multi_and_close_session_keep_stats() {
    let mut s = Server::new();
    s.put("/q", None);
    s.set_quota("/q", SOFT_COUNT_2);
    let o = s.write(WriteRequest::Multi(vec![
        create_data("/q/m1", Some("ab")),
        set_data("/q/m1", Some("abcd"), 0),
        create_data("/q/m2", None),
    ]));
    assert_eq!(err_of(&o), 0);
    assert_eq!(s.stats("/q"), "count=3,bytes=4");
    let o = s.write(WriteRequest::Multi(vec![
        create_data("/q/m3", Some("x")),
        WriteRequest::Check {
            path: "/q/m1".into(),
            version: 9,
        },
    ]));
    assert_eq!(err_of(&o), -103);
    assert_eq!(
        s.stats("/q"),
        "count=3,bytes=4",
        "a failed multi applies nothing"
    );

    let o = s.write(WriteRequest::Create {
        kind: CreateKind::Create,
        path: "/q/e".into(),
        data: Some(b"eph".to_vec()),
        acl: Acl::open_unsafe(),
        flags: 1,
        ttl_ms: -1,
    });
    assert_eq!(err_of(&o), 0);
    assert_eq!(s.stats("/q"), "count=4,bytes=7");
    s.write(WriteRequest::CloseSession);
    assert!(s.tree.node("/q/e").is_none());
    assert_eq!(s.stats("/q"), "count=3,bytes=4");
}

#[test]
fn snapshot_load_rebuilds_roots_and_recomputes_stats() {
    let mut s = five_under_q();
    s.set_quota("/q", SOFT_COUNT_2);
    s.put("/q/f", Some("ffff"));
    let bytes = s.tree.serialize_snapshot();
    let loaded = DataTree::deserialize_snapshot(&bytes).unwrap();
    assert_eq!(
        loaded.serialize_snapshot(),
        bytes,
        "maintained stats are exact"
    );
    assert_eq!(loaded.max_prefix_with_quota("/q/f"), Some("/q".into()));
    let mut r = Server {
        tree: loaded,
        zxid: s.zxid,
        now_ms: s.now_ms,
        extended: true,
        enforce_quota: false,
    };
    r.put("/q/g", Some("g"));
    s.put("/q/g", Some("g"));
    assert_eq!(r.stats("/q"), "count=7,bytes=13");
    assert_eq!(r.tree.serialize_snapshot(), s.tree.serialize_snapshot());

    // Stats a client overwrote are recomputed on load (ZooKeeper's setupQuota).
    let stats = stat_path("/q");
    s.write(set_data(&stats, Some("count=99,bytes=99"), -1));
    let mut loaded = DataTree::deserialize_snapshot(&s.tree.serialize_snapshot()).unwrap();
    let (data, _) = loaded.get_data(&stats, &[], None).unwrap();
    assert_eq!(data.as_deref(), Some(&b"count=7,bytes=13"[..]));
    assert_eq!(loaded.check_invariants(), Ok(()));
}

#[test]
fn snapshot_load_counts_nested_roots_in_the_outer_one() {
    // ZooKeeper's setupQuota recomputes every root over its whole subtree, so after a restart
    // the outer root also counts what live upkeep charged to the inner one.
    let mut s = Server::new();
    s.put("/a", Some("1"));
    s.set_quota("/a", SOFT_COUNT_2);
    s.put("/a/b", None);
    s.set_quota("/a/b", SOFT_COUNT_2);
    s.put("/a/b/c", Some("333"));
    assert_eq!(s.stats("/a"), "count=2,bytes=1");
    let mut loaded = Server {
        tree: DataTree::deserialize_snapshot(&s.tree.serialize_snapshot()).unwrap(),
        zxid: s.zxid,
        now_ms: s.now_ms,
        extended: true,
        enforce_quota: false,
    };
    assert_eq!(loaded.stats("/a"), "count=3,bytes=4");
    assert_eq!(loaded.stats("/a/b"), "count=2,bytes=3");
    assert_eq!(
        loaded.tree.max_prefix_with_quota("/a/b/c"),
        Some("/a/b".into())
    );
}

#[test]
fn enforce_quota_refuses_writes_over_hard_limits() {
    let mut s = Server::new();
    s.enforce_quota = true;
    s.put("/q", None);
    s.set_quota("/q", "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3");
    s.put("/q/a", Some("x"));
    s.put("/q/b", None);
    assert_eq!(s.stats("/q"), "count=3,bytes=1");
    // A fourth node would exceed countHardLimit=3: QuotaExceeded, and the txn is an error.
    let o = s.write(create_data("/q/c", None));
    assert_eq!(o.result, TxnResult::Error { err: -125 });
    assert!(s.tree.node("/q/c").is_none());
    // NodeExists is checked first; setData does not change the count; outside /q is free.
    assert_eq!(err_of(&s.write(create_data("/q/a", None))), -110);
    assert_eq!(err_of(&s.write(set_data("/q/a", Some("xyz"), -1))), 0);
    s.put("/free", None);
    // Inside a multi the refused op fails the whole multi.
    let o = s.write(WriteRequest::Multi(vec![
        set_data("/q/a", Some("y"), -1),
        create_data("/q/c", None),
        create_data("/r", None),
    ]));
    assert_eq!(
        o.result,
        TxnResult::Multi(vec![
            TxnResult::Error { err: 0 },
            TxnResult::Error { err: -125 },
            TxnResult::Error { err: -2 },
        ])
    );
    assert_eq!(s.stats("/q"), "count=3,bytes=3");

    // Soft limits are advisory, even when exceeded.
    let limits = limit_path("/q");
    s.write(set_data(&limits, Some("count=1,bytes=1"), -1));
    s.put("/q/c", Some("soft"));
    assert_eq!(s.stats("/q"), "count=4,bytes=7");

    // Byte hard limit: a setData that grows past it fails before the version check; one that
    // shrinks passes.
    s.write(set_data(
        &limits,
        Some("count=-1,bytes=-1=;byteHardLimit=8"),
        -1,
    ));
    let o = s.write(set_data("/q/c", Some("longer"), 99));
    assert_eq!(err_of(&o), -125);
    assert_eq!(err_of(&s.write(set_data("/q/c", Some("s"), -1))), 0);
    assert_eq!(err_of(&s.write(create_data("/q/d", Some("1234")))), 0);
    assert_eq!(err_of(&s.write(create_data("/q/e", Some("1")))), -125);
    assert_eq!(s.stats("/q"), "count=5,bytes=8");

    // Unreadable limits: ZooKeeper's parser throws and the request fails MarshallingError.
    s.write(set_data(&limits, Some("count"), -1));
    assert_eq!(err_of(&s.write(create_data("/q/e", Some("1")))), -5);

    // With enforcement off the same writes go through.
    s.write(set_data(
        &limits,
        Some("count=-1,bytes=-1=;countHardLimit=1"),
        -1,
    ));
    assert_eq!(err_of(&s.write(create_data("/q/e", None))), -125);
    s.enforce_quota = false;
    assert_eq!(err_of(&s.write(create_data("/q/e", None))), 0);
    assert_eq!(s.stats("/q"), "count=6,bytes=8");
}
