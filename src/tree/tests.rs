//! Scenario tests of `DataTree`: Stat update rules (A.7), watch semantics (A.10) from
//! ZooKeeper's programmer's guide and `DataTree`/`WatchManager`, multi results (A.11),
//! sessions, containers/TTL and snapshots; quotas in `tests/quota.rs`.

use super::*;
use crate::tree::prepare::{prepare_logged, PendingChanges, PrepareContext, WriteRequest};

const W1: WatcherId = WatcherId(1);
const W2: WatcherId = WatcherId(2);
const SESSION: i64 = 0x0100_00C0_4367_0000;

/// Drives prepare + apply like a standalone server, zxids from 1.
struct Server {
    tree: DataTree,
    zxid: i64,
    now_ms: i64,
    extended: bool,
    enforce_quota: bool,
}

impl Server {
    fn new() -> Server {
        Server {
            tree: DataTree::new(),
            zxid: 0,
            now_ms: 1_000,
            extended: true,
            enforce_quota: false,
        }
    }

    fn write_as(&mut self, session_id: i64, ids: &[Id], req: WriteRequest) -> ApplyOutcome {
        self.zxid += 1;
        self.now_ms += 10;
        let ctx = PrepareContext {
            session_id,
            cxid: 7,
            auth_ids: ids,
            now_ms: self.now_ms,
            zxid: self.zxid,
            extended_types_enabled: self.extended,
            enforce_quota: self.enforce_quota,
        };
        let mut pending = PendingChanges::new();
        let (hdr, txn) = prepare_logged(&self.tree, &mut pending, &req, &ctx);
        // Every txn goes through its log encoding, as in production.
        let (hdr2, txn2) = txn::decode(&txn::encode(&hdr, &txn)).expect("own encoding decodes");
        assert_eq!((hdr, &txn), (hdr2, &txn2));
        let out = self.tree.apply(&hdr2, &txn2);
        assert_eq!(self.tree.check_invariants(), Ok(()));
        for r in match &out.result {
            TxnResult::Multi(rs) => rs.clone(),
            _ => vec![],
        } {
            assert_ne!(r.multi_op_code(), 0, "{r:?} cannot appear in a multi");
        }
        out
    }

    fn write(&mut self, req: WriteRequest) -> ApplyOutcome {
        self.write_as(SESSION, &[], req)
    }

    fn create(&mut self, path: &str, flags: i32) -> ApplyOutcome {
        self.write(create_req(CreateKind::Create2, path, flags))
    }
}

fn create_req(kind: CreateKind, path: &str, flags: i32) -> WriteRequest {
    WriteRequest::Create {
        kind,
        path: path.into(),
        data: Some(b"v".to_vec()),
        acl: Acl::open_unsafe(),
        flags,
        ttl_ms: -1,
    }
}

fn set(path: &str, version: i32) -> WriteRequest {
    WriteRequest::SetData {
        path: path.into(),
        data: Some(b"new".to_vec()),
        version,
    }
}

fn del(path: &str) -> WriteRequest {
    WriteRequest::Delete {
        path: path.into(),
        version: -1,
    }
}

fn ev(w: WatcherId, t: EventType, path: &str) -> (WatcherId, WatchedEvent) {
    (
        w,
        WatchedEvent {
            event_type: t,
            keeper_state: KeeperState::SyncConnected,
            path: path.into(),
        },
    )
}

fn created_path(o: &ApplyOutcome) -> String {
    match &o.result {
        TxnResult::Create { path, .. } => path.clone(),
        other => panic!("not a create: {other:?}"),
    }
}

#[test]
fn fresh_tree_has_special_nodes() {
    let mut t = DataTree::new();
    let (children, root) = t.get_children("/", &[], None).unwrap();
    assert_eq!(children, vec!["zookeeper".to_string()]);
    assert_eq!(root.num_children, 1);
    assert_eq!(
        root.cversion, -1,
        "2×0 − 1: ZooKeeper shows -1 for the fresh root"
    );
    let (mut zk, _) = t.get_children("/zookeeper", &[], None).unwrap();
    zk.sort();
    assert_eq!(zk, vec!["config".to_string(), "quota".to_string()]);
    let (acl, stat) = t.get_acl(CONFIG_ZOOKEEPER, &[]).unwrap();
    assert_eq!(acl, Acl::read_unsafe());
    assert_eq!(stat.aversion, -1);
    assert_eq!(t.node_count(), 5);
    assert_eq!(t.get_all_children_number("/", &[]), Ok(3));
    assert_eq!(t.last_processed_zxid(), 0);
}

#[test]
fn stat_rules_for_create_set_delete() {
    let mut s = Server::new();
    let o = s.create("/t", 0);
    let TxnResult::Create { stat, kind, .. } = o.result else {
        panic!()
    };
    assert_eq!(kind, CreateKind::Create2);
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (1, 1, 1));
    assert_eq!((stat.ctime, stat.mtime), (1010, 1010));
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(
        (stat.data_length, stat.num_children, stat.ephemeral_owner),
        (1, 0, 0)
    );
    // Root: one more create, pzxid moves.
    let root = s.tree.stat("/").unwrap();
    assert_eq!((root.pzxid, root.num_children, root.cversion), (1, 2, 0));

    s.create("/t/a", 0);
    s.create("/t/b", 0);
    s.create("/t/c", 0);
    assert_eq!(s.tree.stat("/t").unwrap().cversion, 3);
    s.write(del("/t/a"));
    let st = s.tree.stat("/t").unwrap();
    assert_eq!(
        (st.cversion, st.num_children, st.pzxid),
        (4, 2, 5),
        "3 creates + 1 delete"
    );
    s.write(del("/t/b"));
    assert_eq!(s.tree.stat("/t").unwrap().cversion, 5);
    s.create("/t/d", 0);
    assert_eq!(s.tree.stat("/t").unwrap().cversion, 6);

    let o = s.write(set("/t", 0));
    let TxnResult::SetData { stat, .. } = o.result else {
        panic!()
    };
    assert_eq!(
        (stat.version, stat.mzxid, stat.mtime, stat.czxid),
        (1, 8, 1080, 1)
    );
    assert_eq!(stat.data_length, 3);
    let o = s.write(set("/t", 0));
    assert_eq!(
        o.result,
        TxnResult::Error {
            err: ZkError::BadVersion.code()
        }
    );
    assert_eq!(
        s.tree.last_processed_zxid(),
        9,
        "failed writes consume a zxid"
    );
    let o = s.write(WriteRequest::SetAcl {
        path: "/t".into(),
        acl: Acl::open_unsafe(),
        version: 0,
    });
    let TxnResult::SetAcl { stat, .. } = o.result else {
        panic!()
    };
    assert_eq!((stat.aversion, stat.version), (1, 1));
}

#[test]
fn null_data_and_get_data() {
    let mut s = Server::new();
    s.write(WriteRequest::Create {
        kind: CreateKind::Create,
        path: "/n".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 0,
        ttl_ms: -1,
    });
    let (data, stat) = s.tree.get_data("/n", &[], None).unwrap();
    assert_eq!(data, None);
    assert_eq!(stat.data_length, 0);
    assert_eq!(
        s.tree.get_data("/none", &[], Some(W1)),
        Err(ZkError::NoNode)
    );
    assert_eq!(
        s.tree.watches().watch_count(),
        0,
        "no watch on a failed getData"
    );
}

#[test]
fn ephemerals_and_close_session() {
    let mut s = Server::new();
    s.write(WriteRequest::CreateSession { timeout_ms: 4000 });
    assert_eq!(s.tree.sessions().get(&SESSION), Some(&4000));
    s.create("/p", 0);
    let o = s.create("/p/e", 1);
    let TxnResult::Create { stat, .. } = o.result else {
        panic!()
    };
    assert_eq!(stat.ephemeral_owner, SESSION);
    s.create("/e2", 3);
    assert_eq!(
        s.tree.get_ephemerals(SESSION, "/"),
        vec!["/e20000000001".to_string(), "/p/e".to_string()]
    );
    assert_eq!(
        s.tree.get_ephemerals(SESSION, "/p"),
        vec!["/p/e".to_string()]
    );
    assert_eq!(s.tree.get_ephemerals(SESSION + 1, ""), Vec::<String>::new());
    s.tree.exists("/p/e", Some(W1)).unwrap();
    s.tree.get_children("/p", &[], Some(W2)).unwrap();
    let o = s.write(WriteRequest::CloseSession);
    assert_eq!(
        o.result,
        TxnResult::CloseSession {
            session_id: SESSION
        }
    );
    assert_eq!(
        o.events,
        vec![
            ev(W1, EventType::NodeDeleted, "/p/e"),
            ev(W2, EventType::NodeChildrenChanged, "/p")
        ]
    );
    assert!(s.tree.stat("/p/e").is_none());
    assert!(s.tree.stat("/e20000000001").is_none());
    assert!(s.tree.sessions().is_empty());
    assert_eq!(s.tree.ephemerals_count(), 0);
    assert_eq!(s.tree.stat("/p").unwrap().pzxid, 5);
}

#[test]
fn data_watch_fires_once_on_set_then_delete() {
    let mut s = Server::new();
    s.create("/w", 0);
    s.tree.get_data("/w", &[], Some(W1)).unwrap();
    s.tree.exists("/w", Some(W2)).unwrap();
    let o = s.write(set("/w", -1));
    assert_eq!(
        o.events,
        vec![
            ev(W1, EventType::NodeDataChanged, "/w"),
            ev(W2, EventType::NodeDataChanged, "/w")
        ]
    );
    let o = s.write(set("/w", -1));
    assert!(o.events.is_empty(), "one-shot watches are gone");
    s.tree.get_data("/w", &[], Some(W1)).unwrap();
    let o = s.write(del("/w"));
    assert_eq!(o.events, vec![ev(W1, EventType::NodeDeleted, "/w")]);
}

#[test]
fn exists_watch_on_missing_node_fires_on_create() {
    let mut s = Server::new();
    assert_eq!(s.tree.exists("/later", Some(W1)), Err(ZkError::NoNode));
    s.tree.get_children("/", &[], Some(W2)).unwrap();
    let o = s.create("/later", 0);
    assert_eq!(
        o.events,
        vec![
            ev(W1, EventType::NodeCreated, "/later"),
            ev(W2, EventType::NodeChildrenChanged, "/")
        ]
    );
    assert_eq!(s.tree.exists("/a\0", None), Err(ZkError::BadArguments));
}

#[test]
fn child_watch_and_delete_dedup() {
    let mut s = Server::new();
    s.create("/c", 0);
    s.create("/c/x", 0);
    // W1 holds a data and a child watch on /c/x: one NodeDeleted only.
    s.tree.get_data("/c/x", &[], Some(W1)).unwrap();
    s.tree.get_children("/c/x", &[], Some(W1)).unwrap();
    s.tree.get_children("/c/x", &[], Some(W2)).unwrap();
    s.tree.get_children("/c", &[], Some(W2)).unwrap();
    let o = s.write(del("/c/x"));
    assert_eq!(
        o.events,
        vec![
            ev(W1, EventType::NodeDeleted, "/c/x"),
            ev(W2, EventType::NodeDeleted, "/c/x"),
            ev(W2, EventType::NodeChildrenChanged, "/c"),
        ]
    );
    assert_eq!(
        s.tree.watches().watch_count(),
        0,
        "suppressed child watch is consumed too"
    );
    // setData does not fire child watches.
    s.tree.get_children("/c", &[], Some(W1)).unwrap();
    assert!(s.write(set("/c", -1)).events.is_empty());
}

#[test]
fn persistent_watch_stays_and_sees_children() {
    let mut s = Server::new();
    s.tree.add_watch("/pw", W1, WatcherMode::Persistent);
    let o = s.create("/pw", 0);
    assert_eq!(o.events, vec![ev(W1, EventType::NodeCreated, "/pw")]);
    let o = s.create("/pw/k", 0);
    assert_eq!(
        o.events,
        vec![ev(W1, EventType::NodeChildrenChanged, "/pw")]
    );
    let o = s.create("/pw/k/deep", 0);
    assert!(o.events.is_empty(), "not recursive");
    let o = s.write(set("/pw", -1));
    assert_eq!(o.events, vec![ev(W1, EventType::NodeDataChanged, "/pw")]);
    assert_eq!(s.tree.check_watches("/pw", WatcherType::Data, W1), Ok(()));
    assert_eq!(s.tree.remove_watches("/pw", WatcherType::Any, W1), Ok(()));
    assert!(s.write(set("/pw", -1)).events.is_empty());
    assert_eq!(
        s.tree.remove_watches("/pw", WatcherType::Any, W1),
        Err(ZkError::NoWatcher)
    );
}

#[test]
fn recursive_watch_covers_subtree_without_child_events() {
    let mut s = Server::new();
    s.create("/r", 0);
    s.tree.add_watch("/r", W1, WatcherMode::PersistentRecursive);
    let o = s.create("/r/a", 0);
    assert_eq!(o.events, vec![ev(W1, EventType::NodeCreated, "/r/a")]);
    let o = s.create("/r/a/b", 0);
    assert_eq!(o.events, vec![ev(W1, EventType::NodeCreated, "/r/a/b")]);
    let o = s.write(set("/r/a/b", -1));
    assert_eq!(o.events, vec![ev(W1, EventType::NodeDataChanged, "/r/a/b")]);
    let o = s.write(del("/r/a/b"));
    assert_eq!(
        o.events,
        vec![ev(W1, EventType::NodeDeleted, "/r/a/b")],
        "once, no NodeChildrenChanged"
    );
    let o = s.create("/other", 0);
    assert!(o.events.is_empty());
    s.tree.remove_watcher(W1);
    assert!(s.create("/r/z", 0).events.is_empty());
}

#[test]
fn multi_success_and_failure() {
    let mut s = Server::new();
    s.tree.exists("/m1", Some(W1)).unwrap_err();
    let o = s.write(WriteRequest::Multi(vec![
        create_req(CreateKind::Create, "/m1", 0),
        create_req(CreateKind::Create2, "/m1/s", 2),
        set("/m1", 0),
        WriteRequest::Check {
            path: "/m1".into(),
            version: 1,
        },
    ]));
    let TxnResult::Multi(rs) = &o.result else {
        panic!()
    };
    assert!(
        matches!(&rs[0], TxnResult::Create { kind: CreateKind::Create, path, .. } if path == "/m1")
    );
    assert!(
        matches!(&rs[1], TxnResult::Create { kind: CreateKind::Create2, path, .. } if path == "/m1/s0000000000")
    );
    assert!(
        matches!(&rs[2], TxnResult::SetData { stat, .. } if stat.version == 1 && stat.mzxid == 1)
    );
    assert!(matches!(&rs[3], TxnResult::Check { .. }));
    assert_eq!(o.result.err(), 0);
    let codes: Vec<i32> = rs.iter().map(TxnResult::multi_op_code).collect();
    assert_eq!(
        codes,
        vec![1, 15, 5, 13],
        "kazoo needs type 1 back for a type-1 create"
    );
    assert_eq!(o.events, vec![ev(W1, EventType::NodeCreated, "/m1")]);
    assert_eq!(
        s.tree.stat("/m1/s0000000000").unwrap().czxid,
        1,
        "one zxid for all sub-ops"
    );

    let before = s.tree.serialize_snapshot();
    let o = s.write(WriteRequest::Multi(vec![
        create_req(CreateKind::Create, "/m2", 0),
        set("/m1", 7),
        del("/m1"),
    ]));
    assert_eq!(
        o.result,
        TxnResult::Multi(vec![
            TxnResult::Error { err: 0 },
            TxnResult::Error { err: -103 },
            TxnResult::Error { err: -2 },
        ])
    );
    assert_eq!(o.result.err(), -103);
    assert!(o.events.is_empty());
    assert!(s.tree.stat("/m2").is_none());
    let mut after = DataTree::deserialize_snapshot(&s.tree.serialize_snapshot()).unwrap();
    after.set_last_processed_zxid(1);
    assert_eq!(
        after.serialize_snapshot(),
        before,
        "failed multi changes nothing but the zxid"
    );
}

#[test]
fn acl_enforced_on_reads() {
    let mut s = Server::new();
    let d = Id {
        scheme: "digest".into(),
        id: acl::digest_id("bob", "pw"),
    };
    let ids = [
        Id {
            scheme: "ip".into(),
            id: "127.0.0.1".into(),
        },
        d.clone(),
    ];
    let o = s.write_as(
        SESSION,
        &ids,
        WriteRequest::Create {
            kind: CreateKind::Create,
            path: "/sec".into(),
            data: Some(b"s".to_vec()),
            acl: vec![Acl {
                perms: perms::ALL,
                id: Id {
                    scheme: "auth".into(),
                    id: String::new(),
                },
            }],
            flags: 0,
            ttl_ms: -1,
        },
    );
    assert_eq!(created_path(&o), "/sec");
    let anon = [Id {
        scheme: "ip".into(),
        id: "127.0.0.1".into(),
    }];
    assert_eq!(s.tree.get_data("/sec", &anon, None), Err(ZkError::NoAuth));
    assert_eq!(
        s.tree.get_children("/sec", &anon, None),
        Err(ZkError::NoAuth)
    );
    assert_eq!(s.tree.get_acl("/sec", &anon), Err(ZkError::NoAuth));
    assert!(
        s.tree.exists("/sec", None).is_ok(),
        "exists has no ACL check in 3.8.0"
    );
    let (acl, _) = s.tree.get_acl("/sec", &ids).unwrap();
    assert_eq!(
        acl,
        vec![Acl {
            perms: perms::ALL,
            id: d
        }]
    );
    assert!(s.tree.get_data("/sec", &ids, None).is_ok());
    // A reader without ADMIN sees digests masked.
    let o = s.write_as(
        SESSION,
        &ids,
        WriteRequest::SetAcl {
            path: "/sec".into(),
            acl: vec![Acl {
                perms: perms::READ,
                id: Id {
                    scheme: "digest".into(),
                    id: acl::digest_id("bob", "pw"),
                },
            }],
            version: -1,
        },
    );
    assert!(matches!(o.result, TxnResult::SetAcl { .. }));
    let (acl, _) = s.tree.get_acl("/sec", &ids).unwrap();
    assert_eq!(acl[0].id.id, "bob:x");
    // No auth ids → auth scheme is InvalidACL.
    let o = s.write_as(
        SESSION,
        &anon,
        WriteRequest::SetAcl {
            path: "/".into(),
            acl: vec![Acl {
                perms: perms::ALL,
                id: Id {
                    scheme: "auth".into(),
                    id: String::new(),
                },
            }],
            version: -1,
        },
    );
    assert_eq!(o.result, TxnResult::Error { err: -114 });
}

#[test]
fn containers_and_ttl_reaping() {
    let mut s = Server::new();
    let o = s.write(create_req(CreateKind::Container, "/box", 4));
    let TxnResult::Create { stat, kind, .. } = o.result else {
        panic!()
    };
    assert_eq!((kind, stat.ephemeral_owner), (CreateKind::Container, 0));
    assert!(
        s.tree.expired_containers_and_ttls(i64::MAX).is_empty(),
        "never had a child"
    );
    s.create("/box/c", 0);
    assert!(
        s.tree.expired_containers_and_ttls(0).is_empty(),
        "has a child"
    );
    s.write(del("/box/c"));
    assert_eq!(
        s.tree.expired_containers_and_ttls(0),
        vec!["/box".to_string()]
    );

    let o = s.write(WriteRequest::Create {
        kind: CreateKind::Ttl,
        path: "/ttl".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 5,
        ttl_ms: 100,
    });
    let TxnResult::Create { stat, .. } = o.result else {
        panic!()
    };
    assert_eq!(stat.ephemeral_owner, 0, "TTL owner shown as 0");
    let mtime = stat.mtime;
    assert_eq!(
        s.tree.expired_containers_and_ttls(mtime + 100),
        vec!["/box".to_string()]
    );
    assert_eq!(
        s.tree.expired_containers_and_ttls(mtime + 101),
        vec!["/box".to_string(), "/ttl".to_string()]
    );

    // The reaper's delete (opcode 20): refuses a normal ephemeral, deletes containers/TTLs.
    s.create("/eph", 1);
    let o = s.write_as(
        0,
        &[],
        WriteRequest::DeleteContainer {
            path: "/eph".into(),
        },
    );
    assert_eq!(o.result, TxnResult::Error { err: -103 });
    for p in ["/box", "/ttl"] {
        let o = s.write_as(0, &[], WriteRequest::DeleteContainer { path: p.into() });
        assert_eq!(o.result, TxnResult::Delete { path: p.into() });
    }
    assert!(s.tree.expired_containers_and_ttls(i64::MAX).is_empty());
}

#[test]
fn set_watches_after_reconnect() {
    let mut s = Server::new();
    s.create("/a", 0); // zxid 1
    s.create("/b", 0); // zxid 2
    s.write(set("/b", -1)); // zxid 3
    let evs = s.tree.set_watches(
        2,
        &["/a".into(), "/b".into(), "/gone".into()],
        &["/a".into(), "/nope".into()],
        &["/".into()],
        &[],
        &["/r".into()],
        W1,
    );
    let pick = |e: &WatchedEvent| (e.event_type, e.path.clone());
    assert_eq!(
        evs.iter().map(pick).collect::<Vec<_>>(),
        vec![
            (EventType::NodeDataChanged, "/b".to_string()),
            (EventType::NodeDeleted, "/gone".to_string()),
            (EventType::NodeCreated, "/a".to_string()),
        ]
    );
    // /a data watch and /nope exist watch and "/" child watch were re-registered.
    assert_eq!(s.tree.check_watches("/a", WatcherType::Data, W1), Ok(()));
    assert_eq!(s.tree.check_watches("/nope", WatcherType::Data, W1), Ok(()));
    assert_eq!(s.tree.check_watches("/", WatcherType::Children, W1), Ok(()));
    assert_eq!(s.tree.check_watches("/r", WatcherType::Any, W1), Ok(()));
}

#[test]
fn snapshot_round_trip_and_rejection() {
    let mut s = Server::new();
    s.write(WriteRequest::CreateSession { timeout_ms: 30_000 });
    s.create("/a", 0);
    s.create("/a/e", 1);
    s.write(create_req(CreateKind::Container, "/c", 4));
    let bytes = s.tree.serialize_snapshot();
    let t = DataTree::deserialize_snapshot(&bytes).unwrap();
    assert_eq!(t.serialize_snapshot(), bytes);
    assert_eq!(t.sessions(), s.tree.sessions());
    assert_eq!(t.ephemerals(), s.tree.ephemerals());
    assert_eq!(t.digest(), s.tree.digest());
    assert_eq!(t.approximate_data_size(), s.tree.approximate_data_size());
    assert_eq!(
        t.last_processed_zxid(),
        0,
        "the zxid is the file name's, not the body's"
    );
    assert_eq!(t.stat("/a"), s.tree.stat("/a"));
    assert_eq!(
        t.expired_containers_and_ttls(0),
        s.tree.expired_containers_and_ttls(0)
    );
    for cut in [0, 4, 12, bytes.len() - 1] {
        assert!(
            DataTree::deserialize_snapshot(&bytes[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        DataTree::deserialize_snapshot(&longer).err(),
        Some(SnapshotError::TrailingBytes(1))
    );
    // The body has no checksum of its own (the file's seals catch damage, storage::snapshot);
    // any flipped byte must still give an error or a tree, never a panic.
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x10;
        let _ = DataTree::deserialize_snapshot(&flipped);
    }
}

#[test]
fn digest_matches_zookeeper_definition() {
    // ZooKeeper 3.8.0 logged this tree digest after its first txn (a createSession, which leaves
    // the nodes as they are) on a fresh server:
    // tests/data/zookeeper-3.8-datadir/version-2/log.1.
    let t = DataTree::new();
    assert_eq!(t.digest(), 0x51C6_D660);
    // Only "/" (as "") and "/zookeeper" count; /zookeeper/** is left out.
    let mut only_root = t.clone();
    only_root.nodes = t
        .nodes
        .clone()
        .into_iter()
        .filter(|(p, _)| p == "/")
        .collect();
    assert_eq!(
        t.digest() - only_root.digest(),
        node_digest("/zookeeper", t.node("/zookeeper").unwrap())
    );
    assert_eq!(t.approximate_data_size(), 1 + 10 + 16 + 17);
}

#[test]
fn config_node_is_set_locally() {
    let mut t = DataTree::new();
    t.get_data(CONFIG_ZOOKEEPER, &[], Some(W1)).unwrap();
    let events = t.init_config_node(
        b"server.1=a:1:2\nversion=100000000".to_vec(),
        0x1_0000_0000,
        42,
    );
    assert_eq!(
        events,
        vec![ev(W1, EventType::NodeDataChanged, CONFIG_ZOOKEEPER)]
    );
    let (data, stat) = t.get_data(CONFIG_ZOOKEEPER, &[], None).unwrap();
    assert_eq!(
        data.as_deref(),
        Some(&b"server.1=a:1:2\nversion=100000000"[..])
    );
    assert_eq!(
        (stat.version, stat.mzxid, stat.mtime, stat.aversion),
        (-1, 0x1_0000_0000, 42, -1)
    );
    assert_eq!(t.last_processed_zxid(), 0, "not a txn");
}

#[test]
fn snapshot_of_minimal_nodes_loads() {
    // Nodes with null data and no ACL (only reachable by applying typed txns) are the smallest
    // records; the loader's count sanity check must not reject them.
    let mut t = DataTree::new();
    for (i, c) in ('a'..='z').enumerate() {
        let txn = Txn::Create(CreateTxn {
            path: format!("/{c}"),
            data: None,
            acl: vec![],
            ephemeral: false,
            parent_cversion: i as i32 + 1,
        });
        let hdr = TxnHeader {
            zxid: i as i64 + 1,
            txn_type: txn.op_code(),
            ..TxnHeader::default()
        };
        assert!(matches!(
            t.apply(&hdr, &txn).result,
            TxnResult::Create { .. }
        ));
    }
    let bytes = t.serialize_snapshot();
    let loaded = DataTree::deserialize_snapshot(&bytes).expect("minimal nodes load");
    assert_eq!(loaded.serialize_snapshot(), bytes);
    // An empty ACL allows everything (checkACL).
    let mut loaded = loaded;
    assert!(loaded.get_data("/q", &[], None).is_ok());
}

mod quota;

/// A snapshot copy is the tree as of its zxid: writes applied to the tree afterwards do not
/// show in it, it serializes as the tree did at the copy, and it carries no watches.
#[test]
fn snapshot_copy_is_frozen_and_has_no_watches() {
    let mut s = Server::new();
    s.create("/a", 0);
    s.create("/a/b", 0);
    assert!(s.tree.exists("/a", Some(W1)).is_ok());
    let at_copy = s.tree.serialize_snapshot();
    let copy = s.tree.snapshot_copy();
    s.write(set("/a", 0));
    s.write(del("/a/b"));
    s.create("/c", 0);
    assert_eq!(copy.serialize_snapshot(), at_copy);
    assert_eq!(
        copy.digest(),
        DataTree::deserialize_snapshot(&at_copy).unwrap().digest()
    );
    assert!(copy.node("/a/b").is_some());
    assert!(s.tree.node("/a/b").is_none());
    assert!(copy.node("/c").is_none());
    assert_ne!(copy.digest(), s.tree.digest());
    assert_eq!(copy.watches().watch_count(), 0);
    assert_eq!(copy.last_processed_zxid(), 2);
    assert_eq!(copy.check_invariants(), Ok(()));
}

/// The structural-sharing snapshot (`NodeMap`): a copy shares the tree's maps (O(1)), and after
/// thousands of writes to the live tree — setData on every node, deletes, creates under the same
/// parents, a closeSession that removes a session's ephemerals, a second copy in between — each
/// copy still serializes to the bytes the tree serialized at its zxid, and the live tree ends
/// exactly as a twin that took no copy.
#[test]
fn snapshot_copies_stay_at_their_zxid_under_many_writes() {
    const OTHER: i64 = SESSION + 1;
    let mut s = Server::new();
    let mut twin = Server::new();
    let both = |s: &mut Server, t: &mut Server, session: i64, req: WriteRequest| {
        assert_eq!(
            s.write_as(session, &[], req.clone()),
            t.write_as(session, &[], req)
        );
    };
    both(
        &mut s,
        &mut twin,
        SESSION,
        WriteRequest::CreateSession { timeout_ms: 4000 },
    );
    both(
        &mut s,
        &mut twin,
        OTHER,
        WriteRequest::CreateSession { timeout_ms: 4000 },
    );
    for p in 0..20 {
        both(
            &mut s,
            &mut twin,
            SESSION,
            create_req(CreateKind::Create2, &format!("/p{p}"), 0),
        );
        for c in 0..100 {
            let path = format!("/p{p}/n{c}");
            both(
                &mut s,
                &mut twin,
                SESSION,
                create_req(CreateKind::Create2, &path, 0),
            );
        }
        for (session, flags) in [(SESSION, 1), (OTHER, 3)] {
            let path = format!("/p{p}/e");
            both(
                &mut s,
                &mut twin,
                session,
                create_req(CreateKind::Create2, &path, flags),
            );
        }
    }
    let bytes1 = s.tree.serialize_snapshot();
    let (digest1, ephemerals1) = (s.tree.digest(), s.tree.ephemerals().clone());
    let copy1 = s.tree.snapshot_copy();
    assert!(copy1.nodes.ptr_eq(&s.tree.nodes), "the copy shares the map");
    for p in 0..20 {
        for c in 0..100 {
            both(&mut s, &mut twin, SESSION, set(&format!("/p{p}/n{c}"), -1));
        }
        for c in (0..100).step_by(3) {
            both(&mut s, &mut twin, SESSION, del(&format!("/p{p}/n{c}")));
        }
    }
    let bytes2 = s.tree.serialize_snapshot();
    let copy2 = s.tree.snapshot_copy();
    both(&mut s, &mut twin, OTHER, WriteRequest::CloseSession);
    for p in 0..20 {
        for c in 0..50 {
            let path = format!("/p{p}/m{c}");
            both(
                &mut s,
                &mut twin,
                SESSION,
                create_req(CreateKind::Create2, &path, 2),
            );
        }
        both(&mut s, &mut twin, SESSION, set(&format!("/p{p}"), -1));
    }
    assert_eq!(copy1.serialize_snapshot(), bytes1);
    assert_eq!(copy1.digest(), digest1);
    assert_eq!(copy1.ephemerals(), &ephemerals1);
    assert_eq!(copy1.last_processed_zxid(), 2 + 20 * 103);
    assert_eq!(copy2.serialize_snapshot(), bytes2);
    assert_eq!(copy2.ephemerals_count(), 40);
    for c in [&copy1, &copy2] {
        assert_eq!(c.check_invariants(), Ok(()));
        assert_eq!(
            c.serialize_snapshot(),
            DataTree::deserialize_snapshot(&c.serialize_snapshot())
                .unwrap()
                .serialize_snapshot()
        );
    }
    assert_eq!(s.tree.ephemerals_count(), 20);
    assert_eq!(s.tree.serialize_snapshot(), twin.tree.serialize_snapshot());
    assert_eq!(s.tree.digest(), twin.tree.digest());
    assert_ne!(s.tree.digest(), copy2.digest());
}

/// Nodes with equal ACL lists hold one copy (`acl::AclCache`), through creates and setACL.
#[test]
fn equal_acl_lists_are_stored_once() {
    let mut s = Server::new();
    s.create("/a", 0);
    s.create("/b", 0);
    let shared = |s: &Server, x: &str, y: &str| {
        let (x, y) = (s.tree.node(x).unwrap(), s.tree.node(y).unwrap());
        std::ptr::eq(&x.acl[0], &y.acl[0])
    };
    assert!(shared(&s, "/a", "/b"), "two creates with the open ACL");
    assert!(shared(&s, "/a", "/"), "and the initial nodes'");
    let read = vec![Acl {
        perms: perms::READ,
        id: acl::anyone(),
    }];
    for p in ["/a", "/b"] {
        s.write(WriteRequest::SetAcl {
            path: p.into(),
            acl: read.clone(),
            version: -1,
        });
    }
    assert_eq!(s.tree.node("/a").unwrap().acl.to_vec(), read);
    assert!(shared(&s, "/a", "/b"), "two setACLs to one list");
    assert!(
        shared(&s, "/a", "/zookeeper/config"),
        "the config node's READ list"
    );
}
