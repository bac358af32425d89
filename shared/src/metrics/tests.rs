use super::*;

/// Exact quantile of sorted values (the same rank rule as DDSketch: floor(q * (n - 1))).
fn exact(sorted: &[f64], q: f64) -> f64 {
    sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
}

/// A deterministic pseudo-random stream (xorshift), so the test needs no extra crate.
fn values(n: usize, seed: u64, shape: impl Fn(f64) -> f64) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            shape((x >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

#[test]
fn sketch_quantiles_are_within_one_percent() {
    type Shape = Box<dyn Fn(f64) -> f64>;
    let distributions: [(&str, Shape); 3] = [
        ("uniform 1..1000 ms", Box::new(|u| 1.0 + 999.0 * u)),
        (
            "exponential, mean 80 ms",
            Box::new(|u| -80.0 * (1.0 - u).ln() + 0.5),
        ),
        (
            "bimodal: cache hits and LLM answers",
            Box::new(|u| {
                if u < 0.8 {
                    2.0 + 10.0 * u
                } else {
                    3_000.0 + 20_000.0 * (u - 0.8)
                }
            }),
        ),
    ];
    for (name, shape) in distributions {
        let mut v = values(50_000, 0x9E37_79B9_7F4A_7C15, shape);
        let mut s = Sketch::default();
        for x in &v {
            s.add(*x);
        }
        v.sort_by(f64::total_cmp);
        for q in [0.5, 0.95, 0.99] {
            let (got, want) = (s.quantile(q).unwrap(), exact(&v, q));
            let err = (got - want).abs() / want;
            assert!(
                err <= 0.01,
                "{name} p{}: {got} vs {want} ({:.3} %)",
                q * 100.0,
                err * 100.0
            );
        }
    }
}

#[test]
fn merging_equals_recording_everything() {
    let v = values(10_000, 42, |u| 1.0 + 500.0 * u);
    let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
    for (i, x) in v.iter().enumerate() {
        if i % 3 == 0 {
            a.add(*x)
        } else {
            b.add(*x)
        }
        all.add(*x);
    }
    a.merge(&b);
    assert_eq!(a.count(), all.count());
    for q in [0.5, 0.9, 0.99] {
        assert_eq!(a.quantile(q), all.quantile(q));
    }
}

fn key(minute: u64, route: &str, status: &str) -> Key {
    Key {
        minute,
        route: route.into(),
        method: "read".into(),
        status: status.into(),
        cache: "miss".into(),
        rate_limit: "pass".into(),
        version: "v1".into(),
    }
}

#[test]
fn windows_groups_and_rates() {
    let mut s = Snapshot::default();
    for (minute, route, status, ms) in [
        (100, "api", "2xx", 10.0),
        (100, "api", "5xx", 30.0),
        (90, "api", "2xx", 20.0),
        (100, "chat", "2xx", 4_000.0),
        (50, "api", "2xx", 1.0),
    ] {
        let mut c = Cell::default();
        c.record(ms, Some(ms / 2.0), 100, status == "5xx");
        s.add(key(minute, route, status), c);
    }
    let a = s.summarize(&Query::parse("window=15m").unwrap(), 100);
    assert_eq!(a.groups.len(), 2);
    let api = &a.groups[0];
    assert_eq!((api.group["route"].as_str(), api.requests), ("api", 3));
    assert!((api.rate_5xx - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(api.cache_hit_ratio, Some(0.0));
    let only_chat = s.summarize(&Query::parse("window=1h&route=chat").unwrap(), 100);
    assert_eq!(only_chat.groups.len(), 1);
    assert!(only_chat.groups[0].p50.unwrap() > 3_900.0);
    let by_status = s.summarize(
        &Query::parse("window=2h&group_by=route,status").unwrap(),
        100,
    );
    assert_eq!(by_status.groups.len(), 3);
}

#[test]
fn bad_queries_say_why() {
    assert!(
        Query::parse("window=soon")
            .unwrap_err()
            .starts_with("window:")
    );
    assert!(
        Query::parse("window=30s")
            .unwrap_err()
            .contains("from \"1m\" to \"7d\"")
    );
    assert!(
        Query::parse("group_by=planet")
            .unwrap_err()
            .starts_with("group_by:")
    );
    assert!(
        Query::parse("color=red")
            .unwrap_err()
            .starts_with("unknown parameter")
    );
}

#[test]
fn snapshots_round_trip_and_export() {
    let mut s = Snapshot::default();
    let mut c = Cell::default();
    c.record(12.5, None, 10, false);
    s.add(key(7, "api", "2xx"), c);
    let json = serde_json::to_string(&s).unwrap();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    let answer = back.summarize(
        &Query::parse("window=5m&group_by=route,version").unwrap(),
        7,
    );
    assert_eq!(answer.groups[0].requests, 1);
    let text = prometheus(&answer);
    assert!(
        text.contains("wyn_edge_requests_total{route=\"api\",version=\"v1\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("wyn_edge_latency_ms{route=\"api\",version=\"v1\",quantile=\"0.5\"}"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}
