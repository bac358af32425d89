//! `make bench`: load on loopback against the demo origin directly and through the edge (raw
//! workerd, and wrangler dev), in alternating rounds, printing requests/s, p50 and p99 of each
//! and their ratio to the origin.
//!
//! `bench [--seconds 5] [--rounds 3] [--connections 16] [--path /api/venues]`; needs `wrk`.

#![cfg_attr(test, allow(clippy::unwrap_used))]
#![allow(clippy::print_stderr)]

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wyn_edge_tests::stack::{self, Edge, Origin};

struct Args {
    seconds: u32,
    rounds: usize,
    connections: u32,
    path: String,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        seconds: 5,
        rounds: 3,
        connections: 16,
        path: "/api/venues".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => args.seconds = value.parse()?,
            "--rounds" => args.rounds = value.parse()?,
            "--connections" => args.connections = value.parse()?,
            "--path" => args.path = value,
            _ => bail!(
                "unknown flag {flag}; usage: bench [--seconds N] [--rounds N] [--connections N] [--path P]"
            ),
        }
    }
    Ok(args)
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn to_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = text.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

fn wrk(url: &str, args: &Args) -> Result<Sample> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{}", args.connections),
            &format!("-d{}s", args.seconds),
            "--latency",
            url,
        ])
        .output()
        .context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix(prefix)
                .map(|rest| rest.trim().to_owned())
        })
    };
    let rps = field("Requests/sec:").and_then(|v| v.parse().ok());
    let p50 = field("50%").and_then(|v| to_ms(&v));
    let p99 = field("99%").and_then(|v| to_ms(&v));
    if let Some(errors) = field("Non-2xx or 3xx responses:") {
        bail!("{url}: {errors} non-2xx responses:\n{text}");
    }
    match (rps, p50, p99) {
        (Some(rps), Some(p50_ms), Some(p99_ms)) => Ok(Sample {
            rps,
            p50_ms,
            p99_ms,
        }),
        _ => bail!("could not read wrk's output for {url}:\n{text}"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = parse_args()?;
    stack::watchdog(Duration::from_secs(20 * 60));
    stack::ensure_worker_built()?;
    let origin = Origin::start()?;
    let vars = [
        ("ORIGIN_URL", origin.url.as_str()),
        ("EDGE_ADMIN_TOKEN", "bench-token-0123456789"),
    ];
    let result = (|| -> Result<()> {
        let workerd = Edge::start_workerd("bench-workerd", &vars)?;
        let wrangler = Edge::start("bench-wrangler", &vars)?;
        let targets = [
            ("origin (direct)", origin.url.clone()),
            ("edge in workerd", workerd.url.clone()),
            ("edge in wrangler dev", wrangler.url.clone()),
        ];
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); targets.len()];
        for round in 1..=args.rounds {
            for (i, (name, base)) in targets.iter().enumerate() {
                let s = wrk(&format!("{base}{}", args.path), &args)?;
                eprintln!(
                    "round {round}: {name:<22} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
                    s.rps, s.p50_ms, s.p99_ms
                );
                samples[i].push(s);
            }
        }
        println!(
            "\nGET {} | wrk 1 thread, {} connections, {} s x {} alternating rounds; medians",
            args.path, args.connections, args.seconds, args.rounds
        );
        println!(
            "{:<22} {:>10} {:>10} {:>10} {:>14}",
            "target", "req/s", "p50 ms", "p99 ms", "req/s vs origin"
        );
        let origin_rps = median(samples[0].iter().map(|s| s.rps).collect());
        for ((name, _), s) in targets.iter().zip(&samples) {
            let rps = median(s.iter().map(|x| x.rps).collect());
            println!(
                "{name:<22} {rps:>10.0} {:>10.2} {:>10.2} {:>14.2}",
                median(s.iter().map(|x| x.p50_ms).collect()),
                median(s.iter().map(|x| x.p99_ms).collect()),
                rps / origin_rps
            );
        }
        Ok(())
    })();
    stack::kill_all();
    drop(origin);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_units() {
        assert_eq!(to_ms("250.00us"), Some(0.25));
        assert_eq!(to_ms("1.50ms"), Some(1.5));
        assert_eq!(to_ms("2.00s"), Some(2000.0));
        assert_eq!(to_ms("fast"), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    }
}
