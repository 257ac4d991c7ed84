//! Property tests of the data tree (spec/data-tree.md): random op sequences through
//! `prepare` + `apply` compared with a small independent reference model (Stat fields
//! including cversion/pzxid/version/numChildren/dataLength, error codes, sequential names,
//! multi atomicity, ephemerals and closeSession); determinism (same txns → same snapshot
//! bytes); snapshot and txn encode/decode round trips; decoders never panic; quota stats
//! against an oracle that counts the tree's nodes itself, across reload and replay.

use std::collections::BTreeMap;

use proptest::prelude::*;
use zabkeeper::storage::snapshot::{decode_payload, payload_with_digest, ZxidDigest};
use zabkeeper::tree::txn::{decode, decode_logged, encode, CreateTxn};
use zabkeeper::tree::{
    prepare_logged, CreateKind, DataTree, PendingChanges, PrepareContext, Txn, TxnHeader,
    TxnResult, WriteRequest, ZkError,
};
use zabkeeper::wire::records::{Acl, Stat};

const PATHS: [&str; 7] = ["/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/z", "/a/s"];

#[derive(Clone, Debug)]
enum Op {
    Create {
        path: usize,
        flags: i32,
        data: Option<Vec<u8>>,
        create2: bool,
    },
    Delete {
        path: usize,
        version: i32,
    },
    SetData {
        path: usize,
        data: Vec<u8>,
        version: i32,
    },
    Check {
        path: usize,
        version: i32,
    },
    Multi(Vec<Op>),
    CloseSession,
}

#[derive(Clone, Debug)]
struct Step {
    session: i64,
    op: Op,
}

fn leaf_op() -> impl Strategy<Value = Op> {
    let version = prop_oneof![Just(-1), 0..3i32];
    let data = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4));
    prop_oneof![
        4 => (0..PATHS.len(), 0..4i32, data, any::<bool>())
            .prop_map(|(path, flags, data, create2)| Op::Create { path, flags, data, create2 }),
        2 => (0..PATHS.len(), version.clone()).prop_map(|(path, version)| Op::Delete { path, version }),
        2 => (0..PATHS.len(), proptest::collection::vec(any::<u8>(), 0..4), version.clone())
            .prop_map(|(path, data, version)| Op::SetData { path, data, version }),
        1 => (0..PATHS.len(), version).prop_map(|(path, version)| Op::Check { path, version }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let op = prop_oneof![
        8 => leaf_op(),
        2 => proptest::collection::vec(leaf_op(), 0..4).prop_map(Op::Multi),
        1 => Just(Op::CloseSession),
    ];
    (1..3i64, op).prop_map(|(session, op)| Step { session, op })
}

fn to_request(op: &Op) -> WriteRequest {
    match op {
        Op::Create {
            path,
            flags,
            data,
            create2,
        } => WriteRequest::Create {
            kind: if *create2 {
                CreateKind::Create2
            } else {
                CreateKind::Create
            },
            path: PATHS[*path].to_string(),
            data: data.clone(),
            acl: Acl::open_unsafe(),
            flags: *flags,
            ttl_ms: -1,
        },
        Op::Delete { path, version } => WriteRequest::Delete {
            path: PATHS[*path].into(),
            version: *version,
        },
        Op::SetData {
            path,
            data,
            version,
        } => WriteRequest::SetData {
            path: PATHS[*path].into(),
            data: Some(data.clone()),
            version: *version,
        },
        Op::Check { path, version } => WriteRequest::Check {
            path: PATHS[*path].into(),
            version: *version,
        },
        Op::Multi(ops) => WriteRequest::Multi(ops.iter().map(to_request).collect()),
        Op::CloseSession => WriteRequest::CloseSession,
    }
}

// ------------------------------------------------------------------ reference model

#[derive(Clone, Debug, PartialEq)]
struct MNode {
    data: Option<Vec<u8>>,
    czxid: i64,
    mzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    creates: i32,
    child_changes: i32,
    owner: i64,
    pzxid: i64,
}

#[derive(Clone, Debug, Default)]
struct Model {
    nodes: BTreeMap<String, MNode>,
}

/// What the model expects a step to return.
#[derive(Clone, Debug, PartialEq)]
enum MResult {
    Ok(Option<String>),
    Err(i32),
    Multi(Vec<MResult>),
}

fn parent(p: &str) -> String {
    match p.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => p[..i].into(),
        None => unreachable!(),
    }
}

impl Model {
    fn new() -> Model {
        let mut m = Model::default();
        let fresh = MNode {
            data: Some(vec![]),
            czxid: 0,
            mzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            creates: 0,
            child_changes: 0,
            owner: 0,
            pzxid: 0,
        };
        // Special nodes are built, not created: their client cversion starts at
        // 2×0 − numChildren (A.7), i.e. -1 for "/" and -2 for "/zookeeper".
        for (p, changes) in [
            ("/", -1),
            ("/zookeeper", -2),
            ("/zookeeper/quota", 0),
            ("/zookeeper/config", 0),
        ] {
            m.nodes.insert(
                p.into(),
                MNode {
                    child_changes: changes,
                    ..fresh.clone()
                },
            );
        }
        m
    }

    fn children(&self, p: &str) -> usize {
        self.nodes
            .keys()
            .filter(|k| k.as_str() != "/" && parent(k) == p)
            .count()
    }

    fn apply(&mut self, op: &Op, session: i64, zxid: i64, now: i64) -> MResult {
        match self.apply_leaf(op, session, zxid, now) {
            Ok(r) => r,
            Err(e) => MResult::Err(e),
        }
    }

    fn apply_leaf(&mut self, op: &Op, session: i64, zxid: i64, now: i64) -> Result<MResult, i32> {
        match op {
            Op::Create {
                path, flags, data, ..
            } => {
                let req = PATHS[*path];
                let par = parent(req);
                let p = self.nodes.get(&par).ok_or(-101)?.clone();
                let name = if flags & 2 != 0 {
                    format!("{req}{:010}", p.creates)
                } else {
                    req.to_string()
                };
                if self.nodes.contains_key(&name) {
                    return Err(-110);
                }
                if p.owner != 0 {
                    return Err(-108);
                }
                let pm = self.nodes.get_mut(&par).ok_or(-101)?;
                pm.creates += 1;
                pm.child_changes += 1;
                pm.pzxid = zxid;
                let owner = if flags & 1 != 0 { session } else { 0 };
                self.nodes.insert(
                    name.clone(),
                    MNode {
                        data: data.clone(),
                        czxid: zxid,
                        mzxid: zxid,
                        ctime: now,
                        mtime: now,
                        version: 0,
                        creates: 0,
                        child_changes: 0,
                        owner,
                        pzxid: zxid,
                    },
                );
                Ok(MResult::Ok(Some(name)))
            }
            Op::Delete { path, version } => {
                let p = PATHS[*path];
                let par = parent(p);
                self.nodes.get(&par).ok_or(-101)?;
                let n = self.nodes.get(p).ok_or(-101)?;
                if *version != -1 && *version != n.version {
                    return Err(-103);
                }
                if self.children(p) > 0 {
                    return Err(-111);
                }
                self.remove(p, zxid);
                Ok(MResult::Ok(None))
            }
            Op::SetData {
                path,
                data,
                version,
            } => {
                let n = self.nodes.get_mut(PATHS[*path]).ok_or(-101)?;
                if *version != -1 && *version != n.version {
                    return Err(-103);
                }
                n.version += 1;
                n.data = Some(data.clone());
                n.mzxid = zxid;
                n.mtime = now;
                Ok(MResult::Ok(None))
            }
            Op::Check { path, version } => {
                let n = self.nodes.get(PATHS[*path]).ok_or(-101)?;
                if *version != -1 && *version != n.version {
                    return Err(-103);
                }
                Ok(MResult::Ok(None))
            }
            Op::Multi(ops) => {
                let mut scratch = self.clone();
                let mut results = Vec::new();
                let mut failed_at = None;
                for (i, o) in ops.iter().enumerate() {
                    match scratch.apply_leaf(o, session, zxid, now) {
                        Ok(r) => results.push(r),
                        Err(e) => {
                            failed_at = Some((i, e));
                            break;
                        }
                    }
                }
                match failed_at {
                    None => {
                        *self = scratch;
                        Ok(MResult::Multi(results))
                    }
                    Some((at, e)) => Ok(MResult::Multi(
                        (0..ops.len())
                            .map(|i| {
                                MResult::Err(if i < at {
                                    0
                                } else if i == at {
                                    e
                                } else {
                                    -2
                                })
                            })
                            .collect(),
                    )),
                }
            }
            Op::CloseSession => {
                let mine: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|(_, n)| n.owner == session)
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in mine {
                    self.remove(&p, zxid);
                }
                Ok(MResult::Ok(None))
            }
        }
    }

    fn remove(&mut self, p: &str, zxid: i64) {
        self.nodes.remove(p);
        if let Some(par) = self.nodes.get_mut(&parent(p)) {
            par.child_changes += 1;
            par.pzxid = zxid;
        }
    }

    fn stat(&self, p: &str) -> Stat {
        let n = &self.nodes[p];
        Stat {
            czxid: n.czxid,
            mzxid: n.mzxid,
            ctime: n.ctime,
            mtime: n.mtime,
            version: n.version,
            cversion: n.child_changes,
            aversion: if p == "/zookeeper/config" { -1 } else { 0 },
            ephemeral_owner: n.owner,
            data_length: n.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children: self.children(p) as i32,
            pzxid: n.pzxid,
        }
    }
}

fn summarize(r: &TxnResult) -> MResult {
    match r {
        TxnResult::Create { path, .. } => MResult::Ok(Some(path.clone())),
        TxnResult::Error { err } => MResult::Err(*err),
        TxnResult::Multi(rs) => MResult::Multi(rs.iter().map(summarize).collect()),
        _ => MResult::Ok(None),
    }
}

// ------------------------------------------------------------------ driver

/// Runs steps through prepare (with an empty overlay, apply-before-prepare) and apply;
/// returns the logged txns.
fn run(
    tree: &mut DataTree,
    model: Option<&mut Model>,
    steps: &[Step],
) -> Result<Vec<(TxnHeader, Txn)>, TestCaseError> {
    run_with(tree, model, steps, false)
}

/// `run` with `enforceQuota` on or off.
fn run_with(
    tree: &mut DataTree,
    model: Option<&mut Model>,
    steps: &[Step],
    enforce_quota: bool,
) -> Result<Vec<(TxnHeader, Txn)>, TestCaseError> {
    let mut log = Vec::new();
    let mut model = model;
    for (i, s) in steps.iter().enumerate() {
        let zxid = tree.last_processed_zxid() + 1;
        let now = 1_000 + 7 * i as i64;
        let ctx = PrepareContext {
            session_id: s.session,
            cxid: i as i32,
            auth_ids: &[],
            now_ms: now,
            zxid,
            extended_types_enabled: false,
            enforce_quota,
        };
        let (hdr, txn) = prepare_logged(tree, &mut PendingChanges::new(), &to_request(&s.op), &ctx);
        prop_assert_eq!(decode(&encode(&hdr, &txn)), Ok((hdr, txn.clone())));
        let out = tree.apply(&hdr, &txn);
        prop_assert_eq!(tree.check_invariants(), Ok(()));
        if let Some(m) = model.as_deref_mut() {
            let expect = m.apply(&s.op, s.session, zxid, now);
            prop_assert_eq!(summarize(&out.result), expect, "step {} {:?}", i, s);
            check_same(tree, m)?;
        }
        log.push((hdr, txn));
    }
    Ok(log)
}

fn check_same(tree: &mut DataTree, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        tree.get_all_children_number("/", &[]),
        Ok(m.nodes.len() as i32 - 1)
    );
    for p in m.nodes.keys() {
        let got = tree.stat(p);
        prop_assert_eq!(got, Some(m.stat(p)), "stat of {}", p);
        let (data, _) = tree
            .get_data(p, &[], None)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&data, &m.nodes[p].data);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn tree_matches_reference_model(steps in proptest::collection::vec(step(), 1..40)) {
        let mut tree = DataTree::new();
        let mut model = Model::new();
        run(&mut tree, Some(&mut model), &steps)?;
        // Ephemeral index agrees with the nodes.
        for (session, paths) in tree.ephemerals() {
            for p in paths {
                prop_assert_eq!(m_owner(&model, p), Some(*session));
            }
        }
    }

    #[test]
    fn apply_is_deterministic_and_snapshots_round_trip(
        steps in proptest::collection::vec(step(), 1..40),
        cut in 0usize..40,
    ) {
        let mut a = DataTree::new();
        let log = run(&mut a, None, &steps)?;
        let mut b = DataTree::new();
        for (hdr, txn) in &log {
            b.apply(hdr, txn);
        }
        prop_assert_eq!(a.serialize_snapshot(), b.serialize_snapshot());

        // Snapshot at `cut`, reload, replay the rest: same bytes as applying everything.
        let cut = cut.min(log.len());
        let mut c = DataTree::new();
        for (hdr, txn) in &log[..cut] {
            c.apply(hdr, txn);
        }
        let mut d = DataTree::deserialize_snapshot(&c.serialize_snapshot())
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(d.serialize_snapshot(), c.serialize_snapshot());
        for (hdr, txn) in &log[cut..] {
            d.apply(hdr, txn);
        }
        prop_assert_eq!(d.serialize_snapshot(), a.serialize_snapshot());
        prop_assert_eq!(d.digest(), a.digest());
        prop_assert_eq!(d.approximate_data_size(), a.approximate_data_size());
    }

    #[test]
    fn pipelined_prepare_matches_apply_before_prepare(steps in proptest::collection::vec(step(), 1..40)) {
        // Flow A: prepare then apply each step before the next (standalone).
        let mut a = DataTree::new();
        let log_a = run(&mut a, None, &steps)?;
        // Flow B: prepare every step against tree + pending changes, apply only at the end.
        let b_base = DataTree::new();
        let mut pending = PendingChanges::new();
        let mut log_b = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            let ctx = PrepareContext {
                session_id: s.session,
                cxid: i as i32,
                auth_ids: &[],
                now_ms: 1_000 + 7 * i as i64,
                zxid: i as i64 + 1,
                extended_types_enabled: false,
                enforce_quota: false,
            };
            log_b.push(prepare_logged(&b_base, &mut pending, &to_request(&s.op), &ctx));
        }
        prop_assert_eq!(&log_a, &log_b);
        let mut b = b_base;
        for (hdr, txn) in &log_b {
            b.apply(hdr, txn);
            pending.applied_through(hdr.zxid);
        }
        prop_assert!(pending.is_empty());
        prop_assert_eq!(a.serialize_snapshot(), b.serialize_snapshot());
    }

    #[test]
    fn arbitrary_paths_never_break_the_tree(
        ops in proptest::collection::vec(
            (
                proptest::collection::vec(
                    prop_oneof![Just('/'), Just('a'), Just('.'), Just('\0'), Just('é'), Just('\u{1}')],
                    0..6,
                ),
                0..8u8,
                -1..8i32,
            ),
            1..30,
        )
    ) {
        let mut tree = DataTree::new();
        for (i, (chars, kind, n)) in ops.into_iter().enumerate() {
            let path: String = chars.into_iter().collect();
            let req = match kind {
                0 | 1 => WriteRequest::Create {
                    kind: if kind == 0 { CreateKind::Create } else { CreateKind::Container },
                    path: path.clone(),
                    data: None,
                    acl: Acl::open_unsafe(),
                    flags: n,
                    ttl_ms: -1,
                },
                2 => WriteRequest::Delete { path: path.clone(), version: n },
                3 => WriteRequest::SetData { path: path.clone(), data: None, version: n },
                4 => WriteRequest::SetAcl { path: path.clone(), acl: Acl::read_unsafe(), version: n },
                5 => WriteRequest::DeleteContainer { path: path.clone() },
                6 => WriteRequest::Check { path: path.clone(), version: n },
                _ => WriteRequest::CloseSession,
            };
            let ctx = PrepareContext {
                session_id: 1,
                cxid: 0,
                auth_ids: &[],
                now_ms: 0,
                zxid: i as i64 + 1,
                extended_types_enabled: true,
                enforce_quota: false,
            };
            let (hdr, txn) = prepare_logged(&tree, &mut PendingChanges::new(), &req, &ctx);
            tree.apply(&hdr, &txn);
            prop_assert_eq!(tree.check_invariants(), Ok(()));
            let _ = tree.exists(&path, None);
            let _ = tree.get_children(&path, &[], None);
            let _ = tree.get_all_children_number(&path, &[]);
        }
        let bytes = tree.serialize_snapshot();
        let loaded = DataTree::deserialize_snapshot(&bytes).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(loaded.serialize_snapshot(), bytes);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes);
        let _ = decode_logged(&bytes);
        let _ = DataTree::deserialize_snapshot(&bytes);
        let _ = decode_payload(&bytes, DataTree::read_snapshot);
    }

    /// Damage to a real snapshot payload (a changed byte, a cut) gives an error or a tree,
    /// never a panic; an undamaged one decodes to the same bytes.
    #[test]
    fn damaged_snapshot_payloads_never_panic(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut tree = DataTree::new();
        let session = TxnHeader { client_id: 5, zxid: 1, txn_type: -10, ..TxnHeader::default() };
        tree.apply(&session, &Txn::CreateSession { timeout_ms: 4000 });
        for (i, (path, owner)) in [("/a", 0), ("/a/b", 0), ("/e", 5)].into_iter().enumerate() {
            let txn = Txn::Create(CreateTxn {
                path: path.into(),
                data: Some(vec![7; i]),
                acl: if i == 1 { Acl::read_unsafe() } else { Acl::open_unsafe() },
                ephemeral: owner != 0,
                parent_cversion: -1,
            });
            let hdr = TxnHeader { client_id: owner, zxid: i as i64 + 2, txn_type: 1, ..TxnHeader::default() };
            tree.apply(&hdr, &txn);
        }
        let digest = ZxidDigest { zxid: 4, version: 2, digest: tree.digest() };
        let good = payload_with_digest(&tree.serialize_snapshot(), &digest);
        let (back, got) = decode_payload(&good, DataTree::read_snapshot).expect("undamaged");
        prop_assert_eq!(back.serialize_snapshot(), tree.serialize_snapshot());
        prop_assert_eq!(got, Some(digest));
        let mut bad = good.clone();
        bad[at.index(good.len())] = byte;
        let _ = decode_payload(&bad, DataTree::read_snapshot);
        let _ = decode_payload(&good[..cut.index(good.len())], DataTree::read_snapshot);
    }
}

fn m_owner(m: &Model, p: &str) -> Option<i64> {
    m.nodes.get(p).map(|n| n.owner)
}

#[test]
fn sequential_names_are_ten_digit_parent_cversion() {
    let mut tree = DataTree::new();
    let seq = |flags| Step {
        session: 1,
        op: Op::Create {
            path: 6,
            flags,
            data: None,
            create2: false,
        },
    };
    let steps = vec![
        Step {
            session: 1,
            op: Op::Create {
                path: 0,
                flags: 0,
                data: None,
                create2: false,
            },
        },
        seq(2),
        seq(3),
        Step {
            session: 1,
            op: Op::Create {
                path: 2,
                flags: 0,
                data: None,
                create2: false,
            },
        },
        Step {
            session: 1,
            op: Op::Delete {
                path: 2,
                version: -1,
            },
        },
        seq(2),
    ];
    let mut model = Model::new();
    run(&mut tree, Some(&mut model), &steps).expect("model agrees");
    let (children, stat) = tree.get_children("/a", &[], None).expect("exists");
    assert_eq!(children, vec!["s0000000000", "s0000000001", "s0000000003"]);
    assert_eq!(stat.cversion, 2 * 4 - 3, "4 creates + 1 delete");
}

#[test]
fn multi_is_atomic() {
    let mut tree = DataTree::new();
    let before = tree.serialize_snapshot();
    let steps = vec![Step {
        session: 1,
        op: Op::Multi(vec![
            Op::Create {
                path: 0,
                flags: 0,
                data: None,
                create2: false,
            },
            Op::Create {
                path: 2,
                flags: 0,
                data: None,
                create2: true,
            },
            Op::Delete {
                path: 1,
                version: -1,
            },
        ]),
    }];
    let log = run(&mut tree, Some(&mut Model::new()), &steps).expect("model agrees");
    assert!(tree.stat("/a").is_none());
    let mut again = DataTree::deserialize_snapshot(&tree.serialize_snapshot()).expect("loads");
    again.set_last_processed_zxid(0);
    assert_eq!(again.serialize_snapshot(), before);
    match &log[0].1 {
        Txn::Multi(ts) => assert_eq!(ts[2], Txn::error(ZkError::NoNode)),
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------------ quotas

/// Quota roots the quota properties pick from: `/a/x` nests in `/a`.
const QUOTA_ROOTS: [&str; 3] = ["/a", "/a/x", "/b"];

/// zkCli's `setquota` writes for each root, before any node under it exists (so each stats
/// node starts at `count=0,bytes=0`): the `/zookeeper/quota/…` nodes, limits, stats.
fn setup_quotas(tree: &mut DataTree, roots: &[&str], limits: &str) -> Vec<(TxnHeader, Txn)> {
    let mut paths = Vec::new();
    for root in roots {
        let mut q = "/zookeeper/quota".to_string();
        for part in root.split('/').skip(1) {
            q = format!("{q}/{part}");
            paths.push((q.clone(), None));
        }
        paths.push((
            format!("{q}/zookeeper_limits"),
            Some(limits.as_bytes().to_vec()),
        ));
        paths.push((
            format!("{q}/zookeeper_stats"),
            Some(b"count=0,bytes=0".to_vec()),
        ));
    }
    let mut log = Vec::new();
    for (path, data) in paths {
        if tree.stat(&path).is_some() {
            continue;
        }
        let zxid = tree.last_processed_zxid() + 1;
        let ctx = PrepareContext {
            session_id: 1,
            cxid: 0,
            auth_ids: &[],
            now_ms: 500,
            zxid,
            extended_types_enabled: false,
            enforce_quota: false,
        };
        let req = WriteRequest::Create {
            kind: CreateKind::Create,
            path,
            data,
            acl: Acl::open_unsafe(),
            flags: 0,
            ttl_ms: -1,
        };
        let (hdr, txn) = prepare_logged(tree, &mut PendingChanges::new(), &req, &ctx);
        let out = tree.apply(&hdr, &txn);
        assert_eq!(out.result.err(), 0, "{req:?}");
        log.push((hdr, txn));
    }
    log
}

/// Every node of the tree with its data length, found by walking `get_children` from `/`.
fn all_nodes(tree: &mut DataTree) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut todo = vec!["/".to_string()];
    while let Some(p) = todo.pop() {
        let (data, _) = tree.get_data(&p, &[], None).expect("listed node exists");
        out.push((p.clone(), data.map_or(0, |d| d.len() as i64)));
        let (children, _) = tree
            .get_children(&p, &[], None)
            .expect("listed node exists");
        for c in children {
            todo.push(if p == "/" {
                format!("/{c}")
            } else {
                format!("{p}/{c}")
            });
        }
    }
    out
}

fn under(node: &str, root: &str) -> bool {
    node == root || node.starts_with(&format!("{root}/"))
}

/// `count=…,bytes=…` over the nodes `pick` selects.
fn usage_text(nodes: &[(String, i64)], pick: impl Fn(&str) -> bool) -> String {
    let picked: Vec<i64> = nodes
        .iter()
        .filter(|(p, _)| pick(p))
        .map(|(_, n)| *n)
        .collect();
    format!(
        "count={},bytes={}",
        picked.len(),
        picked.iter().sum::<i64>()
    )
}

/// The oracle for live upkeep: each node counts for the longest root above it (or itself).
fn live_usage(nodes: &[(String, i64)], roots: &[&str], root: &str) -> String {
    usage_text(nodes, |p| {
        roots.iter().filter(|r| under(p, r)).max_by_key(|r| r.len()) == Some(&root)
    })
}

fn stats_text(tree: &mut DataTree, root: &str) -> String {
    let (data, _) = tree
        .get_data(
            &format!("/zookeeper/quota{root}/zookeeper_stats"),
            &[],
            None,
        )
        .expect("stats node exists");
    String::from_utf8(data.unwrap_or_default()).expect("utf-8")
}

fn roots_nest(roots: &[&str]) -> bool {
    roots
        .iter()
        .any(|a| roots.iter().any(|b| a != b && under(b, a)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn quota_stats_follow_the_tree_across_reload_and_replay(
        roots in proptest::sample::subsequence(QUOTA_ROOTS.to_vec(), 1..=3),
        steps in proptest::collection::vec(step(), 1..40),
        cut in 0usize..50,
    ) {
        let mut a = DataTree::new();
        let mut log = setup_quotas(&mut a, &roots, "count=2,bytes=-1");
        log.extend(run(&mut a, None, &steps)?);
        let nodes = all_nodes(&mut a);
        for root in &roots {
            prop_assert_eq!(stats_text(&mut a, root), live_usage(&nodes, &roots, root), "{}", root);
        }

        // A reload recomputes every root over its whole subtree (ZooKeeper's setupQuota).
        let mut loaded = DataTree::deserialize_snapshot(&a.serialize_snapshot())
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        for root in &roots {
            prop_assert_eq!(stats_text(&mut loaded, root), usage_text(&nodes, |p| under(p, root)));
        }
        prop_assert_eq!(loaded.check_invariants(), Ok(()));

        // Recovery: snapshot at `cut`, reload, replay the rest of the log. Without nesting the
        // recomputed stats equal the maintained ones, so the result is byte-identical.
        let cut = cut.min(log.len());
        let mut c = DataTree::new();
        for (hdr, txn) in &log[..cut] {
            c.apply(hdr, txn);
        }
        let mut d = DataTree::deserialize_snapshot(&c.serialize_snapshot())
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        for (hdr, txn) in &log[cut..] {
            d.apply(hdr, txn);
        }
        prop_assert_eq!(d.check_invariants(), Ok(()));
        if !roots_nest(&roots) {
            prop_assert_eq!(d.serialize_snapshot(), a.serialize_snapshot());
        }
    }

    #[test]
    fn enforced_hard_limits_hold_for_single_writes(
        roots in proptest::sample::subsequence(QUOTA_ROOTS.to_vec(), 1..=3),
        steps in proptest::collection::vec(
            (1..3i64, leaf_op()).prop_map(|(session, op)| Step { session, op }),
            1..40,
        ),
        count_limit in 1..4i64,
        byte_limit in 0..6i64,
    ) {
        // Outside a multi each write is checked against the tree it lands on, so usage never
        // passes a hard limit (a multi's ops are all checked against the tree before it).
        let mut a = DataTree::new();
        let limits = format!("count=-1,bytes=-1=;byteHardLimit={byte_limit};countHardLimit={count_limit}");
        setup_quotas(&mut a, &roots, &limits);
        for s in &steps {
            run_with(&mut a, None, std::slice::from_ref(s), true)?;
            let nodes = all_nodes(&mut a);
            for root in &roots {
                let text = stats_text(&mut a, root);
                prop_assert_eq!(&text, &live_usage(&nodes, &roots, root));
                let (count, bytes) = text
                    .strip_prefix("count=")
                    .and_then(|t| t.split_once(",bytes="))
                    .map(|(c, b)| (c.parse::<i64>().unwrap(), b.parse::<i64>().unwrap()))
                    .expect("count=…,bytes=…");
                prop_assert!(count <= count_limit, "{} {} > {}", root, count, count_limit);
                prop_assert!(bytes <= byte_limit, "{} {} > {}", root, bytes, byte_limit);
            }
        }
    }
}
