//! criterion: `DataTree` create / setData / getData / delete at N existing znodes, each write
//! going through `prepare` + `apply` as the leader does (no encoding, no IO).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use zabkeeper::tree::{
    prepare_logged, CreateKind, DataTree, PendingChanges, PrepareContext, WriteRequest,
};
use zabkeeper::wire::records::Acl;

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

fn write(tree: &mut DataTree, req: &WriteRequest) {
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
    let (hdr, txn) = prepare_logged(tree, &mut PendingChanges::new(), req, &ctx);
    std::hint::black_box(tree.apply(&hdr, &txn));
}

fn create(path: String) -> WriteRequest {
    WriteRequest::Create {
        kind: CreateKind::Create,
        path,
        data: Some(vec![7; 64]),
        acl: Acl::open_unsafe(),
        flags: 0,
        ttl_ms: -1,
    }
}

/// A tree with `n` znodes spread over 100 parents.
fn tree_with(n: usize) -> DataTree {
    let mut t = DataTree::new();
    for p in 0..100 {
        write(&mut t, &create(format!("/p{p}")));
    }
    for i in 0..n {
        write(&mut t, &create(format!("/p{}/n{i}", i % 100)));
    }
    t
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tree_apply");
    for n in SIZES {
        let base = tree_with(n);
        g.bench_with_input(BenchmarkId::new("create", n), &n, |b, _| {
            let mut t = base.clone();
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                write(&mut t, &create(format!("/p{}/new{i}", i % 100)));
            });
        });
        g.bench_with_input(BenchmarkId::new("set_data", n), &n, |b, _| {
            let mut t = base.clone();
            let mut i = 0usize;
            b.iter(|| {
                i += 1;
                let path = format!("/p{}/n{}", (i % n) % 100, i % n);
                write(
                    &mut t,
                    &WriteRequest::SetData {
                        path,
                        data: Some(vec![1; 64]),
                        version: -1,
                    },
                );
            });
        });
        g.bench_with_input(BenchmarkId::new("get_data", n), &n, |b, _| {
            let mut t = base.clone();
            let mut i = 0usize;
            b.iter(|| {
                i += 1;
                let path = format!("/p{}/n{}", (i % n) % 100, i % n);
                std::hint::black_box(t.get_data(&path, &[], None).ok());
            });
        });
        g.bench_with_input(BenchmarkId::new("create_delete", n), &n, |b, _| {
            let mut t = base.clone();
            b.iter(|| {
                write(&mut t, &create("/p0/tmp".into()));
                write(
                    &mut t,
                    &WriteRequest::Delete {
                        path: "/p0/tmp".into(),
                        version: -1,
                    },
                );
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
