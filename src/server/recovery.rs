//! Start-up recovery: the data directory → the data tree, the sessions, and the core's
//! [`DurableState`] (`spec/server.md` "Recovery").
//!
//! Role: before the driver builds its [`Node`](crate::protocol::Node), [`recover`] opens the
//! storage (`FileStorage::open`: newest valid snapshot, log replay, torn tail cut, ZooKeeper's
//! epoch-file rules), applies every logged txn after the snapshot to the tree ([`rebuild_tree`],
//! checking the digests ZooKeeper 3.6+ records in snapshots and txns), and writes a start-up
//! snapshot at the last zxid when anything was replayed (as ZooKeeper 3.8 does), with the digest
//! record ([`snapshot_payload`]); the driver's periodic snapshots use the same payload.
//!
//! Which logged txns are committed is the [`CommitRule`]'s, and [`recover`] picks it from the
//! configuration ([`CommitRule::for_config`]): for a one-voter ensemble (no `server.N` lines)
//! every txn on disk is committed (its own ACK is a quorum, so a txn that reached the log before
//! a crash was either acknowledged or would have been committed by the next election's initial
//! history, and ZooKeeper's own data directories carry no watermark); an ensemble member (voter
//! or observer, [`CommitRule::Watermark`]) counts only the txns up to the commit watermark
//! recorded with the log (`storage/watermark.rs`), or up to its snapshot when none was recorded:
//! a txn it logged but the ensemble never committed may be truncated by its next leader. The
//! tree gets the committed txns, the start-up snapshot is taken at the last of them (so it never
//! holds a txn that may not commit), and the [`DurableState`] handed to the core has `log_base` =
//! that zxid and the logged txns after it as its uncommitted log, each checked to decode, for the
//! next sync to commit or truncate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::ServerConfig;
use crate::protocol::{DurableState, Epoch, Proposal, Zxid};
use crate::server::clock::{SystemClock, WallClock};
use crate::server::error::ServerError;
use crate::server::sessions::SessionIds;
use crate::storage::snapshot::{self, ZxidDigest};
use crate::storage::{FileStorage, Storage, StorageConfig};
use crate::tree::txn::DIGEST_VERSION;
use crate::tree::DataTree;

/// What start-up recovered.
pub struct Recovered<S = FileStorage> {
    /// The tree: newest snapshot + every later logged txn applied.
    pub tree: DataTree,
    /// Live sessions and their timeouts.
    pub sessions: BTreeMap<i64, u32>,
    /// zxid of the last applied txn.
    pub last_zxid: i64,
    /// The storage, ready to append after `last_zxid`.
    pub storage: S,
    /// What the core's node is built from.
    pub durable: DurableState,
    /// Session id allocator, above every recovered id.
    pub session_ids: SessionIds,
    /// Where snapshots are written; `None`: through `Storage::save_snapshot`.
    pub snap_dir: Option<PathBuf>,
}

/// The snapshot payload of `tree` as ZooKeeper 3.6+ writes it: the body, then the seal and the
/// `ZxidDigest` of the tree at its last processed zxid (a consistent copy, so ZooKeeper can
/// compare the digest as soon as it has loaded the file).
pub fn snapshot_payload(tree: &DataTree) -> Vec<u8> {
    let digest = ZxidDigest {
        zxid: tree.last_processed_zxid(),
        version: DIGEST_VERSION,
        digest: tree.digest(),
    };
    snapshot::seal_with_digest(tree.serialize_snapshot(), &digest)
}

/// A snapshot payload received in a SNAP at `base`, decoded: the seal must match, and a
/// `ZxidDigest` at `base` must equal the decoded tree's digest (a leader's snapshot always
/// carries one: [`snapshot_payload`]). The tree's last processed zxid is set to `base`.
pub fn decode_leader_snapshot(
    base: Zxid,
    payload: &[u8],
) -> Result<DataTree, crate::storage::StorageError> {
    let corrupt = |reason: String| crate::storage::StorageError::Corrupt {
        file: PathBuf::from(format!("<SNAP at {base}>")),
        offset: 0,
        reason,
    };
    let (mut tree, digest) = snapshot::decode_payload(payload, DataTree::read_snapshot)
        .map_err(|e| corrupt(e.to_string()))?;
    match digest {
        Some(d) if d.zxid == base.0 as i64 && d.version == DIGEST_VERSION => {
            if d.digest != tree.digest() {
                return Err(corrupt(format!(
                    "digest {} differs from the tree's {}",
                    d.digest,
                    tree.digest()
                )));
            }
        }
        other => {
            return Err(corrupt(format!(
                "expected a version-{DIGEST_VERSION} digest at {base}, found {other:?}"
            )))
        }
    }
    tree.set_last_processed_zxid(base.0 as i64);
    Ok(tree)
}

/// Which recovered txns count as committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitRule {
    /// Every logged txn (a one-voter ensemble).
    EveryLogged,
    /// The txns up to the recorded commit watermark, or the snapshot's when none was recorded (a
    /// voter among several, or an observer).
    Watermark,
}

impl CommitRule {
    /// The rule for `config`: [`CommitRule::Watermark`] for an ensemble member (`myid` set),
    /// [`CommitRule::EveryLogged`] for a one-voter ensemble.
    pub fn for_config(config: &ServerConfig) -> CommitRule {
        match config.my_id {
            Some(_) => CommitRule::Watermark,
            None => CommitRule::EveryLogged,
        }
    }
}

/// The data tree a data directory holds, and what checking ZooKeeper's digests found.
#[derive(Debug)]
pub struct RebuiltTree {
    /// The newest snapshot with every later logged txn applied.
    pub tree: DataTree,
    /// Txns replayed from the log.
    pub replayed: usize,
    /// Digests (snapshot `ZxidDigest`, per-txn `TxnDigest`) that equalled our tree's.
    pub digests_matched: u64,
    /// Digests that did not (each logged as a warning; ZooKeeper counts them too and goes on).
    pub digest_mismatches: u64,
}

impl RebuiltTree {
    /// Compares the tree's digest with one recorded at `zxid` (skipped for other digest
    /// versions, as ZooKeeper skips them).
    fn check_digest(&mut self, zxid: i64, version: i32, expected: i64) {
        if version != DIGEST_VERSION {
            return;
        }
        let actual = self.tree.digest();
        if actual == expected {
            self.digests_matched += 1;
        } else {
            self.digest_mismatches += 1;
            tracing::warn!(
                zxid = format_args!("{zxid:#x}"),
                expected,
                actual,
                "tree digest differs from the one recorded on disk"
            );
        }
    }
}

/// Rebuilds the tree from what storage recovered: the snapshot body (ZooKeeper's layout; its
/// zxid comes from the file name, as in `FileSnap`), then every later txn, as ZooKeeper's
/// `FileTxnSnapLog.restore` does. Digests are checked the way `DataTree` checks them: the
/// snapshot's once the tree reaches its zxid (a digest older than the snapshot is ignored), and
/// each txn's after applying it once the snapshot's has been reached.
pub fn rebuild_tree(recovered: &crate::storage::Recovered) -> Result<RebuiltTree, ServerError> {
    rebuild_tree_upto(recovered, recovered.last_logged_zxid)
}

/// [`rebuild_tree`] applying only the logged txns up to `upto` (the snapshot is always loaded).
pub fn rebuild_tree_upto(
    recovered: &crate::storage::Recovered,
    upto: u64,
) -> Result<RebuiltTree, ServerError> {
    let mut out = RebuiltTree {
        tree: DataTree::new(),
        replayed: 0,
        digests_matched: 0,
        digest_mismatches: 0,
    };
    let mut pending = None;
    if let Some((zxid, payload)) = &recovered.snapshot {
        let (tree, digest) =
            snapshot::decode_payload(payload, DataTree::read_snapshot).map_err(|e| {
                ServerError::Recovery(format!("snapshot {zxid:#x} does not decode: {e}"))
            })?;
        out.tree = tree;
        out.tree.set_last_processed_zxid(*zxid as i64);
        pending = digest.filter(|d| d.zxid > 0 && d.zxid >= *zxid as i64);
        tracing::info!(zxid = format_args!("{zxid:#x}"), "loaded snapshot");
    }
    if let Some(d) = pending.filter(|d| d.zxid == out.tree.last_processed_zxid()) {
        out.check_digest(d.zxid, d.version, d.digest);
        pending = None;
    }
    for (zxid, payload) in &recovered.txns_after {
        let (hdr, txn, digest) = crate::tree::txn::decode_logged(payload).map_err(|e| {
            ServerError::Recovery(format!("logged txn {zxid:#x} does not decode: {e}"))
        })?;
        if hdr.zxid <= out.tree.last_processed_zxid() {
            continue; // fuzzy snapshot overlap: already in the tree
        }
        if *zxid > upto {
            break; // not known committed: the core's log tail
        }
        out.tree.apply(&hdr, &txn);
        out.replayed += 1;
        if let Some(d) = pending {
            if hdr.zxid >= d.zxid {
                if hdr.zxid == d.zxid {
                    out.check_digest(d.zxid, d.version, d.digest);
                }
                pending = None;
            }
        }
        if let (None, Some(d)) = (pending, digest) {
            out.check_digest(hdr.zxid, d.version, d.tree_digest);
        }
    }
    let last_zxid = out
        .tree
        .last_processed_zxid()
        .max(recovered.last_logged_zxid.min(upto) as i64);
    out.tree.set_last_processed_zxid(last_zxid);
    Ok(out)
}

/// Recovers `dataDir`/`dataLogDir` under the rule `config` calls for ([`CommitRule::for_config`]).
pub fn recover(config: &ServerConfig) -> Result<Recovered, ServerError> {
    recover_with(config, CommitRule::for_config(config))
}

/// Recovers `dataDir`/`dataLogDir` and builds the core's durable state under `rule`.
pub fn recover_with(config: &ServerConfig, rule: CommitRule) -> Result<Recovered, ServerError> {
    let mut sc = StorageConfig::new(config.data_dir.clone());
    sc.data_log_dir = config.data_log_dir.clone();
    sc.snap_count = config.snap_count.max(2);
    sc.max_record_bytes = sc
        .max_record_bytes
        .max(config.jute_max_buffer_bytes.saturating_mul(2));
    // The start-up snapshot below makes logs-without-snapshot impossible for directories we
    // created; ZooKeeper's `snapshot.trust.empty` default (false) still applies otherwise.
    let (storage, recovered) = FileStorage::open(sc.clone())?;
    let snap_dir = sc.snap_dir();
    let mut out = recover_storage(
        config,
        rule,
        storage,
        recovered,
        &SystemClock::new(),
        |_, zxid, payload| {
            crate::storage::snapshot::write_snapshot(&snap_dir, zxid, payload)?;
            Ok(())
        },
    )?;
    out.snap_dir = Some(snap_dir);
    Ok(out)
}

/// What [`recover_with`] does once a storage is open: rebuilds the tree from what `storage`
/// recovered (`recovered`), writes the start-up snapshot through `save_snapshot` when anything
/// was replayed, and builds the core's durable state under `rule`. The session id allocator is
/// seeded from `clock`. `snap_dir` of the result is `None` (the caller sets it for files).
pub fn recover_storage<S: Storage>(
    config: &ServerConfig,
    rule: CommitRule,
    mut storage: S,
    recovered: crate::storage::Recovered,
    clock: &dyn WallClock,
    save_snapshot: impl FnOnce(&mut S, u64, &[u8]) -> Result<(), crate::storage::StorageError>,
) -> Result<Recovered<S>, ServerError> {
    let snap_zxid = recovered.snapshot.as_ref().map_or(0, |(z, _)| *z);
    let upto = match rule {
        CommitRule::EveryLogged => recovered.last_logged_zxid,
        CommitRule::Watermark => recovered.committed.unwrap_or(0).max(snap_zxid),
    };
    let rebuilt = rebuild_tree_upto(&recovered, upto)?;
    let tree = rebuilt.tree;
    let last_zxid = tree.last_processed_zxid();
    tracing::info!(
        replayed = rebuilt.replayed,
        digests_matched = rebuilt.digests_matched,
        digest_mismatches = rebuilt.digest_mismatches,
        last_zxid = format_args!("{last_zxid:#x}"),
        accepted_epoch = recovered.accepted_epoch,
        current_epoch = recovered.current_epoch,
        committed = ?recovered.committed,
        "recovered"
    );
    if recovered.snapshot.as_ref().map(|(z, _)| *z as i64) != Some(last_zxid)
        || rebuilt.replayed > 0
    {
        let payload = snapshot_payload(&tree);
        save_snapshot(&mut storage, last_zxid as u64, &payload)?;
    }
    let tail = uncommitted_log(&recovered.txns_after, last_zxid as u64)?;
    if !tail.is_empty() {
        tracing::info!(
            uncommitted = tail.len(),
            last_logged = %tail[tail.len() - 1].zxid,
            "txns logged after the commit watermark wait for a leader's commit"
        );
    }
    let durable = durable_state(
        recovered.accepted_epoch,
        recovered.current_epoch,
        last_zxid as u64,
        tail,
    )?;
    let sessions: BTreeMap<i64, u32> = tree
        .sessions()
        .iter()
        .map(|(&id, &t)| (id, t.max(0) as u32))
        .collect();
    // Session ids carry the allocating server's id in their top byte (1 standalone).
    let session_ids = SessionIds::new(
        config.my_id.map_or(1, |id| id as u8),
        clock.wall_ms() as u64,
        sessions.keys().copied(),
    );
    Ok(Recovered {
        tree,
        sessions,
        last_zxid,
        storage,
        durable,
        session_ids,
        snap_dir: None,
    })
}

/// The txns logged after `base` (the last committed zxid), as the core's uncommitted log; each
/// must decode (a record that does not is reported now, not when a leader commits it).
fn uncommitted_log(txns: &[(u64, Vec<u8>)], base: u64) -> Result<Vec<Proposal>, ServerError> {
    txns.iter()
        .filter(|(zxid, _)| *zxid > base)
        .map(|(zxid, payload)| {
            crate::tree::txn::decode_logged(payload).map_err(|e| {
                ServerError::Recovery(format!("logged txn {zxid:#x} does not decode: {e}"))
            })?;
            Ok(Proposal {
                zxid: Zxid(*zxid),
                data: bytes::Bytes::from(payload.clone()),
            })
        })
        .collect()
}

/// The core's view of a recovered disk whose every txn up to `last_zxid` is committed and in the
/// tree (and in the start-up snapshot): the epochs from their files, `log_base = last_zxid`
/// committed, and `tail` (the logged txns after it, not known committed) as the log.
pub fn durable_state(
    accepted_epoch: u64,
    current_epoch: u64,
    last_zxid: u64,
    tail: Vec<Proposal>,
) -> Result<DurableState, ServerError> {
    let epoch = |value: u64, name: &str| {
        u32::try_from(value).map(Epoch).map_err(|_| {
            ServerError::Recovery(format!("{name} {value} does not fit a 32-bit epoch"))
        })
    };
    let base = Zxid(last_zxid);
    Ok(DurableState {
        accepted_epoch: epoch(accepted_epoch, "acceptedEpoch")?,
        current_epoch: epoch(current_epoch, "currentEpoch")?,
        log_base: base,
        log: tail,
        committed: base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;
    use crate::tree::txn::{encode, Txn, TxnHeader};

    fn session_txn(zxid: u64) -> Vec<u8> {
        let hdr = TxnHeader {
            client_id: zxid as i64,
            cxid: 0,
            zxid: zxid as i64,
            time_ms: 0,
            txn_type: 0,
        };
        encode(&hdr, &Txn::CreateSession { timeout_ms: 30_000 })
    }

    /// Logs three createSession txns under epoch 1, recording the commit watermark
    /// `watermark(c)` with the c-th (none when it returns `None`).
    fn log_three(dir: &std::path::Path, watermark: impl Fn(u64) -> Option<u64>) {
        let (mut storage, _) = FileStorage::open(StorageConfig::new(dir)).expect("open");
        storage
            .save_snapshot(0, &snapshot_payload(&DataTree::new()))
            .expect("snapshot.0");
        storage.set_current_epoch(1).expect("epoch");
        storage.set_accepted_epoch(1).expect("epoch");
        for c in 1..=3 {
            storage
                .append(E1 | c, &session_txn(E1 | c))
                .expect("append");
            if let Some(w) = watermark(c) {
                storage.set_committed(w);
            }
            storage.sync().expect("sync");
        }
    }

    const E1: u64 = 1 << 32;

    /// Three createSession txns logged, the watermark recorded at the second: an ensemble member
    /// (`myid` set: the watermark rule) applies two and keeps the third as its uncommitted log;
    /// a one-voter server applies all three. `recover` picks the rule from the configuration.
    #[test]
    fn the_watermark_rule_keeps_the_uncommitted_tail_out_of_the_tree() {
        for (my_id, rule, applied, tail) in [
            (Some(1), CommitRule::Watermark, 2, vec![Zxid(E1 | 3)]),
            (None, CommitRule::EveryLogged, 3, vec![]),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut config = ServerConfig::standalone(dir.path().to_path_buf(), 0, 2000);
            config.my_id = my_id;
            assert_eq!(CommitRule::for_config(&config), rule);
            log_three(dir.path(), |c| Some(E1 | (c - 1)));
            let r = recover(&config).expect("recover");
            assert_eq!(r.last_zxid as u64, E1 | applied, "{rule:?}");
            assert_eq!(r.tree.sessions().len() as u64, applied, "{rule:?}");
            assert_eq!(r.durable.log_base, Zxid(E1 | applied));
            assert_eq!(r.durable.committed, Zxid(E1 | applied));
            let logged: Vec<Zxid> = r.durable.log.iter().map(|p| p.zxid).collect();
            assert_eq!(logged, tail, "{rule:?}");
        }
    }

    /// An ensemble member whose log carries no watermark (written before the watermark existed,
    /// or by ZooKeeper) trusts only its snapshot: the tree is the snapshot's, every logged txn
    /// is its uncommitted log, and the start-up snapshot stays the one at zxid 0.
    #[test]
    fn an_ensemble_member_without_a_watermark_keeps_every_logged_txn_out_of_the_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = ServerConfig::standalone(dir.path().to_path_buf(), 0, 2000);
        config.my_id = Some(2);
        log_three(dir.path(), |_| None);
        let mut r = recover(&config).expect("recover");
        assert_eq!(r.last_zxid, 0);
        assert!(r.tree.sessions().is_empty());
        assert_eq!(r.durable.log_base, Zxid::ZERO);
        let logged: Vec<Zxid> = r.durable.log.iter().map(|p| p.zxid).collect();
        assert_eq!(logged, [Zxid(E1 | 1), Zxid(E1 | 2), Zxid(E1 | 3)]);
        assert_eq!(r.session_ids.next_id() >> 56, 2, "session ids carry myid");
        drop(r);
        let (_, recovered) = FileStorage::open(StorageConfig::new(dir.path())).expect("reopen");
        assert_eq!(recovered.snapshot.map(|(z, _)| z), Some(0));
    }
}
