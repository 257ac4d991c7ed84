//! TEMPORARY write-path probe (issue 11, branch wpath): histograms of hand-off batch sizes and
//! stage latencies, on when `ZABKEEPER_PROBE` is set, printed to stderr at shutdown.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use hdrhistogram::Histogram;

struct Probe {
    hists: Mutex<BTreeMap<&'static str, Histogram<u64>>>,
    durable_at: Mutex<VecDeque<(u64, Instant)>>,
}

fn probe() -> Option<&'static Probe> {
    static P: OnceLock<Option<Probe>> = OnceLock::new();
    P.get_or_init(|| {
        std::env::var_os("ZABKEEPER_PROBE").map(|_| Probe {
            hists: Mutex::new(BTreeMap::new()),
            durable_at: Mutex::new(VecDeque::new()),
        })
    })
    .as_ref()
}

/// Whether the probe is on.
pub fn on() -> bool {
    probe().is_some()
}

/// One sample.
pub fn record(name: &'static str, v: u64) {
    if let Some(p) = probe() {
        let mut h = p.hists.lock().unwrap();
        h.entry(name)
            .or_insert_with(|| Histogram::new_with_bounds(1, 100_000_000, 3).unwrap())
            .saturating_record(v);
    }
}

/// Microseconds since `t`.
pub fn us(t: Instant) -> u64 {
    t.elapsed().as_micros() as u64
}

/// The writer thread saw `upto` durable now.
pub fn durable(upto: u64) {
    if let Some(p) = probe() {
        p.durable_at
            .lock()
            .unwrap()
            .push_back((upto, Instant::now()));
    }
}

/// When `upto` was reported durable by the writer.
pub fn durable_time(upto: u64) -> Option<Instant> {
    let p = probe()?;
    let mut q = p.durable_at.lock().unwrap();
    while let Some(&(z, t)) = q.front() {
        q.pop_front();
        if z == upto {
            return Some(t);
        }
    }
    None
}

/// Prints every histogram.
pub fn dump() {
    if let Some(p) = probe() {
        let h = p.hists.lock().unwrap();
        for (name, h) in h.iter() {
            eprintln!(
                "PROBE {name:32} n={:8} mean={:9.1} p50={:7} p90={:7} p99={:7} max={:7} sum={}",
                h.len(),
                h.mean(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.max(),
                (h.mean() * h.len() as f64) as u64
            );
        }
    }
}
