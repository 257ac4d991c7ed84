//! Fuzz target: txn log recovery (`storage::recover`, `spec/storage.md` §2 and §5) and the replay
//! the server does after it (`tree::txn::decode` + `DataTree::apply`, as `server/recovery.rs`).
//!
//! The input describes the log segments of a fresh data directory. Byte 0 holds flags:
//! - bit 0: raw — the rest of the input is the file `log.1`, byte for byte;
//! - otherwise the rest is records `[u16 big-endian length][payload]`, framed by the harness with
//!   a valid file header, Adler-32 and end byte so the fuzzer gets past the checksums; with bit 1
//!   the harness also writes consecutive zxids (1, 2, …) into each payload's `TxnHeader`, so the
//!   records replay instead of failing the order checks; a record whose length runs past the end
//!   of the input is written as far as the input goes (a torn tail);
//! - bit 2: the records go into two segments, split before record `flags >> 5`;
//! - bit 3: 4 KiB of zeros follow the last record (preallocation).
//!
//! Checked: no panic, no allocation beyond what the input's size allows (libFuzzer's
//! `-malloc_limit_mb`), and two readers agree — the txns recovery returns are exactly what
//! `FileStorage::read_from(0)` streams afterwards.
//!
//! Run: `cargo +nightly fuzz run txnlog_recover` from the repository root.

#![no_main]

#[path = "alloc_cap.rs"]
mod alloc_cap;

#[path = "scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;
use zabkeeper::storage::txnlog::{log_file_name, END_OF_RECORD, LOG_DBID, LOG_MAGIC, LOG_VERSION};
use zabkeeper::storage::{
    payload_zxid, recover, Adler32, FileStorage, Storage, StorageConfig, TXN_HEADER_ZXID_OFFSET,
};
use zabkeeper::tree::DataTree;

fn file_header() -> Vec<u8> {
    let mut h = Vec::with_capacity(16);
    h.extend_from_slice(&LOG_MAGIC.to_be_bytes());
    h.extend_from_slice(&LOG_VERSION.to_be_bytes());
    h.extend_from_slice(&LOG_DBID.to_be_bytes());
    h
}

/// Splits `input` into `[u16 len][payload]` records; the last one may be cut short (torn).
fn records(mut input: &[u8], number_zxids: bool) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut out = Vec::new();
    while input.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([input[0], input[1]]));
        input = &input[2..];
        if len > input.len() {
            break;
        }
        let mut payload = input[..len].to_vec();
        input = &input[len..];
        if number_zxids && payload.len() >= TXN_HEADER_ZXID_OFFSET + 8 {
            let zxid = out.len() as u64 + 1;
            payload[TXN_HEADER_ZXID_OFFSET..TXN_HEADER_ZXID_OFFSET + 8]
                .copy_from_slice(&zxid.to_be_bytes());
        }
        out.push(payload);
    }
    (out, input.to_vec())
}

fn encode(records: &[Vec<u8>]) -> Vec<u8> {
    let mut file = file_header();
    for payload in records {
        file.extend_from_slice(&u64::from(Adler32::checksum(payload)).to_be_bytes());
        file.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        file.extend_from_slice(payload);
        file.push(END_OF_RECORD);
    }
    file
}

fn segment_name(records: &[Vec<u8>]) -> String {
    log_file_name(records.first().and_then(|p| payload_zxid(p)).unwrap_or(1))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let dir = scratch::data_dir("txnlog_recover");
    scratch::clear(dir);
    let log_dir = dir.join("version-2");
    if flags & 1 == 1 {
        std::fs::write(log_dir.join(log_file_name(1)), rest).expect("write log");
    } else {
        let (all, torn) = records(rest, flags & 2 == 2);
        let split = if flags & 4 == 4 {
            usize::from(flags >> 5).min(all.len())
        } else {
            0
        };
        let (older, newer) = all.split_at(split);
        if !older.is_empty() {
            std::fs::write(log_dir.join(segment_name(older)), encode(older)).expect("write log");
        }
        let mut file = encode(newer);
        file.extend_from_slice(&torn);
        if flags & 8 == 8 {
            file.resize(file.len() + 4096, 0);
        }
        std::fs::write(log_dir.join(segment_name(newer)), file).expect("write log");
    }

    let mut config = StorageConfig::new(dir);
    config.max_record_bytes = 1 << 20;
    config.prealloc_bytes = 0;
    // No snapshot in these directories: replay from an empty tree.
    config.trust_empty_snapshot = true;
    let Ok(recovered) = recover(&config) else {
        return;
    };

    let mut tree = DataTree::new();
    for (_, payload) in &recovered.txns_after {
        if let Ok((hdr, txn)) = zabkeeper::tree::txn::decode(payload) {
            if hdr.zxid > tree.last_processed_zxid() {
                tree.apply(&hdr, &txn);
            }
        }
    }

    // Recovery repaired the directory; opening it again must succeed and stream the same txns.
    let (mut storage, again) = FileStorage::open(config).expect("a recovered directory reopens");
    assert_eq!(
        again.txns_after, recovered.txns_after,
        "recovery is not idempotent"
    );
    let streamed: Vec<(u64, Vec<u8>)> = storage
        .read_from(0)
        .expect("read_from")
        .collect::<Result<_, _>>()
        .expect("read_from streams what recovery accepted");
    assert_eq!(
        streamed, recovered.txns_after,
        "read_from disagrees with recovery"
    );
});
