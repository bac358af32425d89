//! A flood of distinct clients (a botnet, or one attacker rotating IPv6 /64s) cannot grow a local
//! rule's memory past its `max_keys`: a million keys cost what fifty thousand do.

#![allow(clippy::unwrap_used)]

#[path = "../benches/alloc_counter.rs"]
mod alloc_counter;

#[global_allocator]
static ALLOC: alloc_counter::Counting = alloc_counter::Counting;

use wyn_edge::rate_limit::RuleSet;
use wyn_edge::rate_limit::client_key::ClientKey;
use wyn_edge_shared::config::EdgeConfig;

const T0: u64 = 1_800_000_000 * 1_000_000_000;

fn flood(rules: &RuleSet, from: u64, count: u64) {
    for i in from..from + count {
        // Distinct /64s, one request each, a microsecond apart.
        let client = ClientKey::V6(0x2001_0db8_0000_0000 | i);
        let decision = rules
            .evaluate_local("GET", "/api/venues", &client, |_| None, T0 + i * 1_000)
            .decide(rules);
        assert!(decision.is_allowed());
    }
}

#[test]
fn a_million_distinct_keys_stay_within_max_keys() {
    let config = EdgeConfig::from_json(
        r#"{"rate_limits":[{"name":"api","path":"/api/*","limit":600,"period":"60s"}]}"#,
    )
    .unwrap();
    let before = alloc_counter::live();
    let rules = RuleSet::new(&config.rate_limits);
    let max_keys = config.rate_limits[0].max_keys as usize;

    flood(&rules, 0, max_keys as u64);
    let at_cap = alloc_counter::live() - before;
    let mut sent = max_keys as u64;
    let mut samples = Vec::new();
    for target in [200_000u64, 400_000, 600_000, 800_000, 1_000_000] {
        alloc_counter::reset_peak();
        flood(&rules, sent, target - sent);
        sent = target;
        samples.push((
            target,
            alloc_counter::live() - before,
            alloc_counter::peak() - before,
        ));
    }
    assert_eq!(rules.rules()[0].tracked_keys(), max_keys);
    println!(
        "max_keys {max_keys}: {at_cap} bytes at the cap ({} per key)",
        at_cap / max_keys
    );
    for (keys, live, peak) in &samples {
        println!("  after {keys:>9} keys: {live:>9} bytes live, peak {peak:>9}");
    }
    // Bounded: the map's table may settle one size up (hash tables grow to clear tombstones),
    // then stays flat, and nothing grows with the number of keys seen.
    let settled = samples[0].1;
    for (keys, live, peak) in &samples {
        assert!(
            *live <= settled + settled / 100,
            "{keys} keys: {live} bytes, {settled} after 200k"
        );
        assert!(
            *peak <= 2 * at_cap,
            "{keys} keys: peak {peak}, cap {at_cap}"
        );
    }
    // And small: under 128 bytes a key at the cap, under 256 once settled.
    assert!(
        at_cap < max_keys * 128,
        "{at_cap} bytes for {max_keys} keys"
    );
    assert!(
        settled < max_keys * 256,
        "{settled} bytes for {max_keys} keys"
    );
}
