//! `cargo bench -p wyn-edge --bench rate_limit`: the cost of one local rate-limit decision, with
//! 1k and 1M distinct keys in play, and the memory 1M keys hold.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod alloc_counter;

#[global_allocator]
static ALLOC: alloc_counter::Counting = alloc_counter::Counting;

use std::hint::black_box;
use std::time::Instant;

use wyn_edge::rate_limit::RuleSet;
use wyn_edge::rate_limit::client_key::ClientKey;
use wyn_edge_shared::config::EdgeConfig;

const T0: u64 = 1_800_000_000 * 1_000_000_000;

fn rules(max_keys: u32) -> RuleSet {
    let config = EdgeConfig::from_json(&format!(
        r#"{{"rate_limits":[
            {{"name":"chat","path":"/api/chat","methods":["POST"],"limit":30,"period":"60s","scope":"global"}},
            {{"name":"api","path":"/api/*","limit":600,"period":"60s","max_keys":{max_keys}}},
            {{"name":"site","path":"/*","except":["/api/*"],"limit":1200,"period":"60s","max_keys":{max_keys}}}]}}"#
    ))
    .unwrap();
    RuleSet::new(&config.rate_limits)
}

/// Nanoseconds per decision for `requests` requests spread over `keys` clients.
fn run(keys: u64, requests: u64) -> (f64, usize) {
    let before = alloc_counter::live();
    let set = rules(keys as u32);
    // Warm: every key seen once.
    for k in 0..keys {
        set.evaluate_local("GET", "/api/venues", &ClientKey::V4(k as u32), |_| None, T0)
            .decide(&set);
    }
    let held = alloc_counter::live() - before;
    let started = Instant::now();
    for i in 0..requests {
        let key = ClientKey::V4((i.wrapping_mul(2_654_435_761) % keys) as u32);
        let d = set
            .evaluate_local("GET", "/api/venues", &key, |_| None, T0 + i * 1_000)
            .decide(&set);
        black_box(d);
    }
    (started.elapsed().as_nanos() as f64 / requests as f64, held)
}

fn main() {
    println!(
        "local rate-limit decision (RuleSet::evaluate_local + decide), WYN policy, /api/venues"
    );
    println!(
        "{:>10} {:>12} {:>16} {:>14}",
        "keys", "ns/decision", "bytes held", "bytes/key"
    );
    for keys in [1_000u64, 1_000_000] {
        let (ns, held) = run(keys, 2_000_000);
        println!(
            "{keys:>10} {ns:>12.0} {held:>16} {:>14}",
            held / keys as usize
        );
    }
    alloc_counter::reset_peak();
    let base = alloc_counter::live();
    let (_, _) = run(1_000_000, 1);
    println!(
        "peak memory while filling 1M keys: {} bytes",
        alloc_counter::peak() - base
    );
}
