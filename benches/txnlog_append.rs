//! Criterion: txn log append + fsync by batch size (1, 10, 100 records per fsync), in a tempdir.
//!
//! Measures what group commit buys: one `sync` (fdatasync) per batch. Throughput is reported in
//! records; the payload is a 32-byte `TxnHeader` plus a 100-byte body, about a small setData.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zabkeeper::storage::{encode_txn_payload, FileStorage, Storage, StorageConfig};

const BODY_BYTES: usize = 100;

fn append_and_sync(c: &mut Criterion) {
    let mut group = c.benchmark_group("txnlog_append");
    for batch in [1u64, 10, 100] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = StorageConfig::new(dir.path());
        config.trust_empty_snapshot = true;
        let (mut storage, recovered) = FileStorage::open(config).expect("open");
        let mut zxid = recovered.last_logged_zxid;
        let body = vec![0xA5u8; BODY_BYTES];
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            b.iter(|| {
                for _ in 0..batch {
                    zxid += 1;
                    let payload = encode_txn_payload(zxid, 5, &body);
                    storage.append(zxid, &payload).expect("append");
                }
                black_box(storage.sync().expect("sync"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, append_and_sync);
criterion_main!(benches);
