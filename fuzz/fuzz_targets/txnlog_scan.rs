//! Fuzz target: the txn log segment reader over bytes in memory
//! (`storage::txnlog::check_segment_bytes`, the same code recovery runs on each file;
//! `spec/storage.md` §2 "torn tail vs corrupt middle"), then the replay the server does on what it
//! returns (`tree::txn::decode` + `DataTree::apply`, as `server/recovery.rs`). In memory so that
//! it runs tens of thousands of inputs a second; `txnlog_recover` drives the whole file-based
//! recovery more slowly.
//!
//! Byte 0 holds flags:
//! - bit 0: raw — the rest of the input is the segment file, byte for byte;
//! - otherwise the rest is records `[u16 big-endian length][payload]`, framed by the harness with
//!   a valid file header, Adler-32 and end byte so the fuzzer gets past the checksums; with bit 1
//!   the harness also writes consecutive zxids (1, 2, …) into each payload's `TxnHeader`; a
//!   record whose length runs past the end of the input is written as far as it goes (torn);
//! - bit 3: 4 KiB of zeros follow the last record (preallocation).
//!
//! Checked: no panic; no allocation beyond what the input's size allows (libFuzzer's
//! `-malloc_limit_mb`); what is returned is well-formed (zxids strictly increasing from the
//! file's name, records inside the valid length); and the harness's own framing is the oracle —
//! a log it wrote whole, with consecutive zxids, is read back exactly, with a clean end.
//!
//! Run: `cargo +nightly fuzz run txnlog_scan` from the repository root.

#![no_main]

#[path = "alloc_cap.rs"]
mod alloc_cap;

use libfuzzer_sys::fuzz_target;
use zabkeeper::storage::txnlog::{
    check_segment_bytes, END_OF_RECORD, LOG_DBID, LOG_MAGIC, LOG_VERSION, RECORD_OVERHEAD,
};
use zabkeeper::storage::{payload_zxid, Adler32, TXN_HEADER_LEN, TXN_HEADER_ZXID_OFFSET};
use zabkeeper::tree::DataTree;

const MAX_RECORD: u32 = 1 << 20;

/// Splits `input` into `[u16 len][payload]` records and the torn rest.
fn records(mut input: &[u8], number_zxids: bool) -> (Vec<Vec<u8>>, &[u8]) {
    let mut out = Vec::new();
    while input.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([input[0], input[1]]));
        if len > input.len() - 2 {
            break;
        }
        let mut payload = input[2..2 + len].to_vec();
        input = &input[2 + len..];
        if number_zxids && payload.len() >= TXN_HEADER_ZXID_OFFSET + 8 {
            let zxid = out.len() as u64 + 1;
            payload[TXN_HEADER_ZXID_OFFSET..TXN_HEADER_ZXID_OFFSET + 8]
                .copy_from_slice(&zxid.to_be_bytes());
        }
        out.push(payload);
    }
    (out, input)
}

fn encode(records: &[Vec<u8>]) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(&LOG_MAGIC.to_be_bytes());
    file.extend_from_slice(&LOG_VERSION.to_be_bytes());
    file.extend_from_slice(&LOG_DBID.to_be_bytes());
    for payload in records {
        file.extend_from_slice(&u64::from(Adler32::checksum(payload)).to_be_bytes());
        file.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        file.extend_from_slice(payload);
        file.push(END_OF_RECORD);
    }
    file
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (file, written) = if flags & 1 == 1 {
        (rest.to_vec(), None)
    } else {
        let (all, torn) = records(rest, flags & 2 == 2);
        let mut file = encode(&all);
        file.extend_from_slice(torn);
        if flags & 8 == 8 {
            file.resize(file.len() + 4096, 0);
        }
        let whole =
            torn.is_empty() && flags & 2 == 2 && all.iter().all(|p| p.len() >= TXN_HEADER_LEN);
        (file, whole.then_some(all))
    };
    let start_zxid = match &written {
        Some(_) => 1,
        None => rest.get(16 + 12..).and_then(payload_zxid).unwrap_or(1),
    };
    let checked = check_segment_bytes(&file, start_zxid, None, MAX_RECORD);
    if let Some(all) = &written {
        let check = checked
            .as_ref()
            .expect("a log the harness wrote whole is valid");
        let payloads: Vec<&Vec<u8>> = check.records.iter().map(|(_, _, p)| p).collect();
        assert_eq!(
            payloads,
            all.iter().collect::<Vec<_>>(),
            "records lost or changed"
        );
        assert_eq!(check.torn, None, "a whole log has a clean end");
    }
    let Ok(check) = checked else {
        return;
    };
    let mut prev = None;
    for (offset, zxid, payload) in &check.records {
        assert!(
            prev.map_or(*zxid == start_zxid, |p| *zxid > p),
            "zxid order"
        );
        assert!(offset + payload.len() as u64 + RECORD_OVERHEAD <= check.valid_len);
        prev = Some(*zxid);
    }
    assert!(check.valid_len <= file.len() as u64);

    let mut tree = DataTree::new();
    for (_, _, payload) in &check.records {
        if let Ok((hdr, txn)) = zabkeeper::tree::txn::decode(payload) {
            if hdr.zxid > tree.last_processed_zxid() {
                tree.apply(&hdr, &txn);
            }
        }
    }
});
