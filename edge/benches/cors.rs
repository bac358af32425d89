//! `cargo bench -p wyn-edge --bench cors`: the cost of one CORS decision with 1, 10 and 100
//! allowed origins (half exact, half patterns), for an allowed origin matched last, a refused
//! look-alike, and a preflight with two requested headers.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use wyn_edge::cors::Cors;
use wyn_edge_shared::config::EdgeConfig;

fn policy(n: usize) -> Cors {
    let origins: Vec<String> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                format!("\"https://app{i}.wyn.app\"")
            } else {
                format!("\"https://p{i}-*.wyn-previews.app\"")
            }
        })
        .collect();
    let json = format!(
        r#"{{"cors":{{"origins":[{}],"request_headers":["content-type","x-request-id"],"credentials":true}}}}"#,
        origins.join(",")
    );
    Cors::new(EdgeConfig::from_json(&json).unwrap().cors.as_ref().unwrap())
}

fn time(iterations: u32, mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..iterations {
        f();
    }
    started.elapsed().as_nanos() as f64 / f64::from(iterations)
}

fn main() {
    println!(
        "CORS decision, ns/op (half exact origins, half one-label patterns; worst case: matched last)"
    );
    println!(
        "{:>8} {:>14} {:>14} {:>14}",
        "origins", "allowed", "refused", "preflight"
    );
    for n in [1usize, 10, 100] {
        let cors = policy(n);
        let last = if (n - 1) % 2 == 0 {
            format!("https://app{}.wyn.app", n - 1)
        } else {
            format!("https://p{}-x.wyn-previews.app", n - 1)
        };
        assert!(cors.actual(Some(&last)).allow_origin.is_some());
        let allowed = time(1_000_000, || {
            black_box(cors.actual(black_box(Some(last.as_str()))));
        });
        let refused = time(1_000_000, || {
            black_box(cors.actual(black_box(Some("https://app0.wyn.app.evil.com"))));
        });
        let preflight = time(1_000_000, || {
            black_box(cors.preflight(
                black_box(&last),
                "POST",
                Some("content-type,x-request-id"),
                None,
            ));
        });
        println!("{n:>8} {allowed:>14.0} {refused:>14.0} {preflight:>14.0}");
    }
}
