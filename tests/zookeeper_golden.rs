//! Golden data from Apache ZooKeeper 3.8.0 (Debian's package):
//! `tests/data/zookeeper-3.8-datadir/` holds a data directory ZooKeeper wrote (a start-up
//! snapshot, a snapshot with content, two log segments with digest-bearing txns, a multi, a
//! failed multi, a closeSession with ephemerals, container and TTL nodes, digest/ip/world ACLs)
//! and `expected.txt`, every session and znode as ZooKeeper served them just before it was
//! killed with SIGKILL (`generate.py`).
//!
//! The tests decode those files with our reader and compare every field; check that our tree
//! digest equals every digest ZooKeeper recorded; and check that the snapshot we write of a
//! fresh tree is byte for byte the one ZooKeeper wrote of its fresh tree.

#![cfg(feature = "server")]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use zabkeeper::server::recovery::{rebuild_tree, snapshot_payload};
use zabkeeper::storage::snapshot::{self, ZxidDigest};
use zabkeeper::storage::{FileStorage, Storage, StorageConfig};
use zabkeeper::tree::txn::{decode_logged, Txn, DIGEST_VERSION};
use zabkeeper::tree::DataTree;
use zabkeeper::wire::records::Stat;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zookeeper-3.8-datadir")
}

/// A scratch data directory holding a copy of the golden `version-2`.
fn copy_golden() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let v2 = dir.path().join("version-2");
    fs::create_dir(&v2).expect("mkdir");
    for entry in fs::read_dir(golden().join("version-2")).expect("golden dir") {
        let entry = entry.expect("entry");
        fs::copy(entry.path(), v2.join(entry.file_name())).expect("copy");
    }
    dir
}

/// One znode as a client sees it: data, Stat, ACL as sorted "perms:scheme:id" strings.
type Served = (Option<Vec<u8>>, Stat, Vec<String>);

struct Expected {
    sessions: BTreeMap<i64, i32>,
    nodes: BTreeMap<String, Served>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn expected() -> Expected {
    let text = fs::read_to_string(golden().join("expected.txt")).expect("expected.txt");
    let mut out = Expected {
        sessions: BTreeMap::new(),
        nodes: BTreeMap::new(),
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "session" => {
                let id = u64::from_str_radix(f[1], 16).expect("id") as i64;
                out.sessions.insert(id, f[2].parse().expect("timeout"));
            }
            "node" => {
                let data = match f[2] {
                    "-" => None,
                    "=" => Some(Vec::new()),
                    h => Some(hex(h)),
                };
                let n: Vec<i64> = f[3..14].iter().map(|v| v.parse().expect("num")).collect();
                let stat = Stat {
                    czxid: n[0],
                    mzxid: n[1],
                    ctime: n[2],
                    mtime: n[3],
                    version: n[4] as i32,
                    cversion: n[5] as i32,
                    aversion: n[6] as i32,
                    ephemeral_owner: n[7],
                    data_length: n[8] as i32,
                    num_children: n[9] as i32,
                    pzxid: n[10],
                };
                let acl = f.get(14).map_or(vec![], |a| {
                    let mut v: Vec<String> = a.split(',').map(str::to_string).collect();
                    v.sort();
                    v
                });
                out.nodes.insert(f[1].to_string(), (data, stat, acl));
            }
            other => panic!("unknown line kind {other}"),
        }
    }
    out
}

/// Every node of `tree` as `expected()` lists them.
fn served(tree: &DataTree) -> BTreeMap<String, Served> {
    let mut out = BTreeMap::new();
    let mut stack = vec!["/".to_string()];
    while let Some(p) = stack.pop() {
        let node = tree.node(&p).expect("listed child exists");
        let mut acl: Vec<String> = node
            .acl
            .iter()
            .map(|a| format!("{}:{}:{}", a.perms, a.id.scheme, a.id.id))
            .collect();
        acl.sort();
        out.insert(p.clone(), (node.data.clone(), node.stat(), acl));
        for c in &node.children {
            stack.push(if p == "/" {
                format!("/{c}")
            } else {
                format!("{p}/{c}")
            });
        }
    }
    out
}

#[test]
fn zookeeper_data_dir_recovers_to_what_zookeeper_served() {
    let dir = copy_golden();
    let (_storage, recovered) = FileStorage::open(StorageConfig::new(dir.path())).expect("open");
    assert_eq!(
        recovered.snapshot.as_ref().map(|s| s.0),
        Some(0x11),
        "the newest snapshot"
    );
    assert!(!recovered.txns_after.is_empty(), "txns after the snapshot");
    let rebuilt = rebuild_tree(&recovered).expect("rebuild");
    let want = expected();
    let got = served(&rebuilt.tree);
    for (path, node) in &want.nodes {
        assert_eq!(got.get(path), Some(node), "{path}");
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.nodes.keys().collect::<Vec<_>>()
    );
    assert_eq!(rebuilt.tree.sessions(), &want.sessions);
    // Every ephemeral belongs to a live session; the closed session's are gone.
    for owner in rebuilt.tree.ephemerals().keys() {
        assert!(want.sessions.contains_key(owner), "{owner:#x}");
    }
    // Our digest equals every one ZooKeeper recorded: the snapshot's and each logged txn's.
    assert_eq!(rebuilt.digest_mismatches, 0);
    assert_eq!(
        rebuilt.digests_matched as usize,
        recovered.txns_after.len() + 1,
        "one per replayed txn with a digest, plus the snapshot's"
    );
}

/// What the golden log holds: each txn, by zxid, with its digest.
fn golden_log() -> Vec<(i64, Txn, Option<i64>)> {
    let dir = copy_golden();
    let (mut storage, _) = FileStorage::open(StorageConfig::new(dir.path())).expect("open");
    let mut out = Vec::new();
    for record in storage.read_from(1).expect("read") {
        let (zxid, payload) = record.expect("record");
        let (hdr, txn, digest) = decode_logged(&payload).expect("decodes");
        assert_eq!(hdr.zxid as u64, zxid);
        if let Some(d) = digest {
            assert_eq!(d.version, DIGEST_VERSION);
        }
        out.push((hdr.zxid, txn, digest.map(|d| d.tree_digest)));
    }
    out
}

#[test]
fn zookeeper_log_decodes_with_digests() {
    let log = golden_log();
    let zxids: Vec<i64> = log.iter().map(|(z, _, _)| *z).collect();
    assert_eq!(zxids, (1..=zxids.len() as i64).collect::<Vec<_>>());
    let has = |f: &dyn Fn(&Txn) -> bool| log.iter().any(|(_, t, _)| f(t));
    assert!(has(&|t| matches!(
        t,
        Txn::CreateSession { timeout_ms: 30_000 }
    )));
    assert!(has(
        &|t| matches!(t, Txn::CloseSession { paths_to_delete } if paths_to_delete == &["/app/closer-eph"])
    ));
    assert!(has(
        &|t| matches!(t, Txn::CreateContainer(c) if c.path == "/box")
    ));
    assert!(has(
        &|t| matches!(t, Txn::CreateTtl { create, ttl_ms: 3_600_000 } if create.path == "/ttl")
    ));
    assert!(has(&|t| matches!(t, Txn::Multi(ops) if ops.len() == 5
        && !ops.iter().any(|o| matches!(o, Txn::Error { .. })))));
    assert!(has(&|t| matches!(t, Txn::Multi(ops)
        if ops.iter().any(|o| matches!(o, Txn::Error { err: -103 })))));
    assert!(has(&|t| matches!(t, Txn::SetAcl { .. })));
    assert!(has(&|t| matches!(t, Txn::Delete { .. })));
    // ZooKeeper digests every txn it logs here.
    assert!(log.iter().all(|(_, _, d)| d.is_some()));
}

#[test]
fn zookeeper_snapshot_digest_is_ours() {
    let path = golden().join("version-2/snapshot.11");
    let payload = snapshot::read_snapshot(&path).expect("valid file");
    let (tree, digest) =
        snapshot::decode_payload(&payload, DataTree::read_snapshot).expect("decodes");
    let digest = digest.expect("3.8 writes a ZxidDigest");
    assert_eq!(digest.version, DIGEST_VERSION);
    // The snapshot is fuzzy: its digest may belong to a later zxid; then the log's digest of
    // that zxid is the same number, and our replay checks it (first test).
    let log = golden_log();
    let logged = log
        .iter()
        .find(|(z, _, _)| *z == digest.zxid)
        .map(|(_, _, d)| *d);
    if digest.zxid == 0x11 {
        assert_eq!(tree.digest(), digest.digest);
    } else {
        assert_eq!(logged, Some(Some(digest.digest)));
    }
    // A known value, pinned: the digest ZooKeeper wrote into this file.
    assert_eq!(digest.digest, golden_snapshot_digest());
}

/// The `ZxidDigest.digest` ZooKeeper wrote into `snapshot.11`.
fn golden_snapshot_digest() -> i64 {
    let bytes = fs::read(golden().join("version-2/snapshot.11")).expect("read");
    // Layout from the end: …, long digest, then the final seal (long, int 1, '/').
    let at = bytes.len() - 13 - 8;
    i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[test]
fn our_fresh_snapshot_is_zookeepers_byte_for_byte() {
    let theirs = fs::read(golden().join("version-2/snapshot.0")).expect("read");
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = DataTree::new();
    // ZooKeeper writes an empty digest (zxid 0, digest 0) before any txn.
    let payload = snapshot::payload_with_digest(
        &tree.serialize_snapshot(),
        &ZxidDigest {
            zxid: 0,
            version: DIGEST_VERSION,
            digest: 0,
        },
    );
    let path = snapshot::write_snapshot(dir.path(), 0, &payload).expect("write");
    assert_eq!(fs::read(path).expect("read"), theirs);
    // What the server writes carries our digest of the fresh tree instead, and nothing else
    // differs (ZooKeeper ignores a digest whose zxid is 0).
    let ours = snapshot_payload(&tree);
    let digest_at = payload.len() - 8;
    assert_eq!(ours[..digest_at], payload[..digest_at]);
    assert_eq!(ours[digest_at..], tree.digest().to_be_bytes());
}

#[test]
fn our_snapshot_of_zookeepers_tree_holds_the_same_tree() {
    let payload =
        snapshot::read_snapshot(&golden().join("version-2/snapshot.11")).expect("valid file");
    let (theirs, _) = snapshot::decode_payload(&payload, DataTree::read_snapshot).expect("decodes");
    // Through our writer, our file frame and our reader again.
    let mut theirs = theirs;
    theirs.set_last_processed_zxid(0x11);
    let dir = tempfile::tempdir().expect("tempdir");
    let path =
        snapshot::write_snapshot(dir.path(), 0x11, &snapshot_payload(&theirs)).expect("write");
    let (ours, digest) = snapshot::decode_payload(
        &snapshot::read_snapshot(&path).expect("valid"),
        DataTree::read_snapshot,
    )
    .expect("decodes");
    assert_eq!(served(&ours), served(&theirs));
    assert_eq!(ours.sessions(), theirs.sessions());
    assert_eq!(ours.ephemerals(), theirs.ephemerals());
    assert_eq!(
        digest,
        Some(ZxidDigest {
            zxid: 0x11,
            version: DIGEST_VERSION,
            digest: theirs.digest()
        })
    );
}
