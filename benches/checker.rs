//! Criterion benchmark of the model checker: exhaustive search of a fixed model (`sync`, 3
//! servers, 1 txn, no crash) on one thread, reported as states per second. Built by the
//! `zabkeeper-models` package (`cargo bench -p zabkeeper-models --bench checker`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zabkeeper_models::cluster::{ModelConfig, ModelKind};
use zabkeeper_models::run::{run, RunOptions};

fn fixed_model() -> RunOptions {
    let mut cfg = ModelConfig::new(ModelKind::Sync);
    cfg.txns = 1;
    cfg.crashes = 0;
    let mut opts = RunOptions::new(cfg);
    opts.threads = 1;
    opts
}

fn checker(c: &mut Criterion) {
    let opts = fixed_model();
    let probe = run(&opts);
    assert!(
        probe.complete && probe.violations.is_empty(),
        "the fixed model must pass"
    );
    let mut group = c.benchmark_group("checker");
    group.sample_size(10);
    group.throughput(Throughput::Elements(probe.states as u64));
    group.bench_function("sync_3_servers_1_txn_states", |b| {
        b.iter(|| {
            let r = run(&opts);
            assert_eq!(
                r.states, probe.states,
                "exploration must be deterministic in size"
            );
        })
    });
    group.finish();
}

criterion_group!(benches, checker);
criterion_main!(benches);
