//! Fuzz target: reading a snapshot as start-up does (`spec/storage.md` §3 and §5): the file
//! through `storage::snapshot::read_snapshot` (what recovery's `load_latest` calls on each
//! candidate: header, seal, Adler-32), then the payload through `DataTree::deserialize_snapshot`,
//! the call `server/recovery.rs` makes on what recovery returns.
//!
//! Byte 0 holds flags:
//! - bit 0: raw — the rest of the input is the snapshot file, byte for byte;
//! - otherwise the rest is a payload the harness frames as `write_snapshot` does (header, payload,
//!   Adler-32 of both, seal "/"), so the fuzzer reaches the payload decoder with every input.
//!
//! Checked: no panic, no allocation beyond what the input's size allows (libFuzzer's
//! `-malloc_limit_mb`), and a payload that decodes re-encodes to bytes that decode to a tree that
//! encodes the same (a fixed point).
//!
//! Run: `cargo +nightly fuzz run snapshot_recover` from the repository root.

#![no_main]

#[path = "alloc_cap.rs"]
mod alloc_cap;

#[path = "scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;
use zabkeeper::storage::snapshot::{
    read_snapshot, snapshot_file_name, SNAP_DBID, SNAP_MAGIC, SNAP_SEAL_END, SNAP_VERSION,
};
use zabkeeper::storage::Adler32;
use zabkeeper::tree::DataTree;

/// The file `write_snapshot` makes for `payload`, built in memory.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut file = Vec::with_capacity(payload.len() + 29);
    file.extend_from_slice(&SNAP_MAGIC.to_be_bytes());
    file.extend_from_slice(&SNAP_VERSION.to_be_bytes());
    file.extend_from_slice(&SNAP_DBID.to_be_bytes());
    file.extend_from_slice(payload);
    let checksum = u64::from(Adler32::checksum(&file));
    file.extend_from_slice(&checksum.to_be_bytes());
    file.extend_from_slice(&SNAP_SEAL_END);
    file
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let path = scratch::data_dir("snapshot_recover")
        .join("version-2")
        .join(snapshot_file_name(1));
    if flags & 1 == 1 {
        std::fs::write(&path, rest).expect("write");
    } else {
        std::fs::write(&path, frame(rest)).expect("write");
    }
    let Ok(payload) = read_snapshot(&path) else {
        return;
    };
    if flags & 1 == 0 {
        assert_eq!(payload, rest, "a framed payload reads back unchanged");
    }
    let Ok(tree) = DataTree::deserialize_snapshot(&payload) else {
        return;
    };
    let encoded = tree.serialize_snapshot();
    let again = DataTree::deserialize_snapshot(&encoded).expect("a re-encoded tree decodes");
    assert_eq!(
        again.serialize_snapshot(),
        encoded,
        "encode ∘ decode is not a fixed point"
    );
});
