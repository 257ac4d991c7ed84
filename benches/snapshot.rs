//! criterion: a snapshot body of N znodes of 100 B written (`DataTree::serialize_snapshot`) and
//! loaded back (`DataTree::deserialize_snapshot`: decode, parent checks, children, indexes,
//! quotas), in memory: no file, no checksum over the file, no fsync (those are the restart part
//! of `benches/compare-zookeeper.sh`). Two shapes: every znode under one parent (what the
//! comparison's restart part loads: `pcreate` under one path) and spread over 100 parents.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zabkeeper::tree::{
    prepare_logged, CreateKind, DataTree, PendingChanges, PrepareContext, TxnResult, WriteRequest,
};
use zabkeeper::wire::records::Acl;

const SIZES: [usize; 2] = [100_000, 1_000_000];

fn create(tree: &mut DataTree, path: String) {
    let zxid = tree.last_processed_zxid() + 1;
    let ctx = PrepareContext {
        session_id: 1,
        cxid: 1,
        auth_ids: &[],
        now_ms: zxid,
        zxid,
        extended_types_enabled: false,
        enforce_quota: false,
    };
    let req = WriteRequest::Create {
        kind: CreateKind::Create,
        path,
        data: Some(vec![7; 100]),
        acl: Acl::open_unsafe(),
        flags: 0,
        ttl_ms: -1,
    };
    let (hdr, txn) = prepare_logged(tree, &mut PendingChanges::new(), &req, &ctx);
    let outcome = tree.apply(&hdr, &txn);
    assert!(
        matches!(outcome.result, TxnResult::Create { .. }),
        "{:?}",
        outcome.result
    );
}

/// `n` znodes under `parents` parents (`/p0` … ), names as the load generator's `pcreate`.
fn tree_with(n: usize, parents: usize) -> DataTree {
    let mut t = DataTree::new();
    for p in 0..parents {
        create(&mut t, format!("/p{p}"));
    }
    for i in 0..n {
        create(&mut t, format!("/p{}/pcreate-{i:010}", i % parents));
    }
    t
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    for n in SIZES {
        for parents in [1, 100] {
            let tree = tree_with(n, parents);
            let body = tree.serialize_snapshot();
            let count = tree.node_count();
            g.throughput(Throughput::Elements(n as u64));
            let id = format!("{n}/{parents}parents");
            g.bench_with_input(BenchmarkId::new("write", &id), &n, |b, _| {
                b.iter(|| std::hint::black_box(tree.serialize_snapshot().len()));
            });
            g.bench_with_input(BenchmarkId::new("load", &id), &n, |b, _| {
                // The loaded tree is dropped outside the measurement.
                b.iter_with_large_drop(|| {
                    let loaded = DataTree::deserialize_snapshot(&body).expect("loads");
                    assert_eq!(loaded.node_count(), count);
                    loaded
                });
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
