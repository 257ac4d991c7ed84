//! Start-up recovery: the data directory → the data tree, the sessions, and the core's
//! [`DurableState`] (`spec/server.md` "Recovery").
//!
//! Role: before the driver builds its [`Node`](crate::protocol::Node), [`recover`] opens the
//! storage (`FileStorage::open`: newest valid snapshot, log replay, torn tail cut, ZooKeeper's
//! epoch-file rules), applies every logged txn after the snapshot to the tree, and writes a
//! start-up snapshot at the last zxid when anything was replayed (as ZooKeeper 3.8 does).
//!
//! The [`DurableState`] handed to the core therefore has `log_base` = that snapshot's zxid and an
//! empty in-memory log: every txn on disk is in the tree, and a one-voter ensemble has nothing to
//! sync. Everything on disk counts as committed: a one-voter ensemble commits a txn as soon as it
//! is durable (its own ACK is a quorum), so a txn that reached the log before a crash was either
//! acknowledged or would have been committed by the next election's initial history.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::ServerConfig;
use crate::protocol::{DurableState, Epoch, Zxid};
use crate::server::sessions::SessionIds;
use crate::server::ServerError;
use crate::storage::{FileStorage, StorageConfig};
use crate::tree::DataTree;

/// What start-up recovered.
pub struct Recovered {
    /// The tree: newest snapshot + every later logged txn applied.
    pub tree: DataTree,
    /// Live sessions and their timeouts.
    pub sessions: BTreeMap<i64, u32>,
    /// zxid of the last applied txn.
    pub last_zxid: i64,
    /// The storage, ready to append after `last_zxid`.
    pub storage: FileStorage,
    /// What the core's node is built from.
    pub durable: DurableState,
    /// Session id allocator, above every recovered id.
    pub session_ids: SessionIds,
    /// Where snapshots are written.
    pub snap_dir: PathBuf,
}

/// Recovers `dataDir`/`dataLogDir` and builds the core's durable state.
pub fn recover(config: &ServerConfig) -> Result<Recovered, ServerError> {
    let mut sc = StorageConfig::new(config.data_dir.clone());
    sc.data_log_dir = config.data_log_dir.clone();
    sc.snap_count = config.snap_count.max(2);
    sc.max_record_bytes = sc
        .max_record_bytes
        .max(config.jute_max_buffer_bytes.saturating_mul(2));
    // The start-up snapshot below makes logs-without-snapshot impossible for directories we
    // created; ZooKeeper's `snapshot.trust.empty` default (false) still applies otherwise.
    let (storage, recovered) = FileStorage::open(sc.clone())?;
    let mut tree = match &recovered.snapshot {
        Some((zxid, bytes)) => {
            let tree = DataTree::deserialize_snapshot(bytes).map_err(|e| {
                ServerError::Recovery(format!("snapshot {zxid:#x} does not decode: {e}"))
            })?;
            tracing::info!(zxid = format_args!("{zxid:#x}"), "loaded snapshot");
            tree
        }
        None => DataTree::new(),
    };
    let replayed = recovered.txns_after.len();
    for (zxid, payload) in &recovered.txns_after {
        let (hdr, txn) = crate::tree::txn::decode(payload).map_err(|e| {
            ServerError::Recovery(format!("logged txn {zxid:#x} does not decode: {e}"))
        })?;
        if hdr.zxid <= tree.last_processed_zxid() {
            continue; // fuzzy snapshot overlap: already in the tree
        }
        tree.apply(&hdr, &txn);
    }
    let last_zxid = tree
        .last_processed_zxid()
        .max(recovered.last_logged_zxid as i64);
    tree.set_last_processed_zxid(last_zxid);
    tracing::info!(
        replayed,
        last_zxid = format_args!("{last_zxid:#x}"),
        accepted_epoch = recovered.accepted_epoch,
        current_epoch = recovered.current_epoch,
        "recovered"
    );
    if recovered.snapshot.as_ref().map(|(z, _)| *z as i64) != Some(last_zxid) || replayed > 0 {
        let bytes = tree.serialize_snapshot();
        crate::storage::snapshot::write_snapshot(&sc.snap_dir(), last_zxid as u64, &bytes)?;
    }
    let durable = durable_state(
        recovered.accepted_epoch,
        recovered.current_epoch,
        last_zxid as u64,
    )?;
    let sessions: BTreeMap<i64, u32> = tree
        .sessions()
        .iter()
        .map(|(&id, &t)| (id, t.max(0) as u32))
        .collect();
    let session_ids = SessionIds::new(
        1,
        crate::server::wall_clock_ms() as u64,
        sessions.keys().copied(),
    );
    Ok(Recovered {
        tree,
        sessions,
        last_zxid,
        storage,
        durable,
        session_ids,
        snap_dir: sc.snap_dir(),
    })
}

/// The core's view of a recovered disk whose every txn up to `last_zxid` is in the tree (and in
/// the start-up snapshot): the epochs from their files, an empty in-memory log above
/// `log_base = last_zxid`, everything committed.
pub fn durable_state(
    accepted_epoch: u64,
    current_epoch: u64,
    last_zxid: u64,
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
        log: Vec::new(),
        committed: base,
    })
}
