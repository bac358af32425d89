//! `cargo bench -p wyn-edge --bench metrics`: the cost of recording one request, the size of a
//! flushed batch for a realistic minute, and the cost of merging batches.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use wyn_edge::metrics::{Outcome, Recorder};
use wyn_edge_shared::config::metrics::MetricsConfig;
use wyn_edge_shared::metrics::Snapshot;

const PATHS: [&str; 6] = [
    "/api/chat",
    "/api/venues",
    "/venues/12",
    "/static/app.js",
    "/",
    "/api/me",
];
const CACHE: [&str; 3] = ["hit", "miss", "bypass"];
const STATUS: [u16; 4] = [200, 304, 404, 502];

fn outcome(i: u64, now_ms: f64) -> Outcome<'static> {
    let i = i as usize;
    Outcome {
        now_ms,
        path: PATHS[i % PATHS.len()],
        method: if i.is_multiple_of(7) { "POST" } else { "GET" },
        status: STATUS[(i / 3) % STATUS.len()],
        cache: CACHE[i % CACHE.len()],
        rate_limit: if i.is_multiple_of(50) {
            "refused"
        } else {
            "pass"
        },
        version: "2026.11.27",
        total_ms: 1.0 + (i % 997) as f64,
        origin_ms: Some((i % 991) as f64),
        bytes_out: 2_048,
    }
}

fn main() {
    let now = 1_800_000_000_000.0;
    let mut r = Recorder::new(&MetricsConfig::default());
    let n = 1_000_000u64;
    let started = Instant::now();
    for i in 0..n {
        r.record(black_box(&outcome(i, now)));
    }
    let record_ns = started.elapsed().as_nanos() as f64 / n as f64;

    // A realistic minute: 1,000 requests over the dimensions above.
    let mut minute = Recorder::new(&MetricsConfig::default());
    for i in 0..1_000 {
        minute.record(&outcome(i, now));
    }
    let batch = minute.take_batches("isolate", now);
    let json = serde_json::to_string(&batch[0]).unwrap();

    let started = Instant::now();
    let mut merged = Snapshot::default();
    for _ in 0..100 {
        merged.merge(&batch[0].snapshot);
    }
    let merge_us = started.elapsed().as_micros() as f64 / 100.0;

    println!("metrics: record {record_ns:.0} ns/request (1M requests)");
    println!(
        "metrics: a minute of 1,000 requests = {} cells, {} bytes of JSON per flushed batch",
        batch[0].snapshot.cells.len(),
        json.len()
    );
    println!("metrics: merging that batch into a window: {merge_us:.0} us");
}
