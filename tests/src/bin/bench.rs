//! `make bench`: load on loopback against the demo origin directly and through the edge, in
//! alternating rounds, printing requests/s, p50 and p99 of each and their ratios.
//!
//! Edges: raw workerd without rate limits, raw workerd with the shipped WYN policy (raw workerd
//! has no Cache API: every request goes to the origin), and the same under `wrangler dev`, whose
//! local Cache API gives a hit and a miss row (its proxy layers cost about 9x: compare those two
//! rows with each other, not with workerd).
//! Every request comes from one of 65,536 client addresses (a wrk script sets
//! `CF-Connecting-IP`), as real traffic would, so the limits track many keys and refuse none.
//!
//! `bench [--seconds 5] [--rounds 3] [--connections 16] [--path /api/venues]`; needs `wrk`.

#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wyn_edge_tests::peers::policy::shipped;
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

/// Sends each request from one of 65,536 client addresses.
const ROTATE_CLIENTS: &str = r#"
local n = 0
request = function()
  n = n + 1
  local ip = string.format("10.%d.%d.1", math.floor(n / 256) % 256, n % 256)
  return wrk.format(nil, nil, { ["CF-Connecting-IP"] = ip })
end
"#;

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

fn wrk(url: &str, args: &Args, script: &Path) -> Result<Sample> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{}", args.connections),
            &format!("-d{}s", args.seconds),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
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
    if let Some(errors) = field("Non-2xx or 3xx responses:") {
        bail!("{url}: {errors} non-2xx responses:\n{text}");
    }
    let rps = field("Requests/sec:").and_then(|v| v.parse().ok());
    let p50 = field("50%").and_then(|v| to_ms(&v));
    let p99 = field("99%").and_then(|v| to_ms(&v));
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

fn run(args: &Args, origin: &Origin) -> Result<()> {
    let script = stack::root().join("target/e2e/rotate-clients.lua");
    std::fs::create_dir_all(script.parent().context("a target directory")?)?;
    std::fs::write(&script, ROTATE_CLIENTS)?;
    let base = [
        ("ORIGIN_URL", origin.url.as_str()),
        ("EDGE_ADMIN_TOKEN", "bench-token-0123456789"),
    ];
    let policy = shipped()?;
    let limited: Vec<(&str, &str)> = base
        .iter()
        .copied()
        .chain([("EDGE", policy.as_str())])
        .collect();
    let no_metrics = r#"{"metrics":{"enabled":false}}"#;
    let unobserved: Vec<(&str, &str)> =
        base.iter().copied().chain([("EDGE", no_metrics)]).collect();
    let bare = Edge::start_workerd("bench-bare", &base)?;
    let quiet = Edge::start_workerd("bench-no-metrics", &unobserved)?;
    let with_limits = Edge::start_workerd("bench-limits", &limited)?;
    let wrangler = Edge::start("bench-wrangler", &limited)?;
    let path = &args.path;
    let targets = [
        ("origin (direct)", format!("{}{path}", origin.url)),
        ("edge, no limits", format!("{}{path}", bare.url)),
        ("edge, metrics off", format!("{}{path}", quiet.url)),
        ("edge, WYN limits", format!("{}{path}", with_limits.url)),
        // wrangler dev has the local Cache API: /api/venues (s-maxage=60) is a hit there, and
        // /api/echo (no-store) a miss that goes to the origin every time.
        ("wrangler dev, hit", format!("{}{path}", wrangler.url)),
        ("wrangler dev, miss", format!("{}/api/echo", wrangler.url)),
    ];
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); targets.len()];
    for round in 1..=args.rounds {
        for (i, (name, base)) in targets.iter().enumerate() {
            let s = wrk(base, args, &script)?;
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
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "target", "req/s", "p50 ms", "p99 ms", "vs origin", "vs no limits"
    );
    let rps = |s: &[Sample]| median(s.iter().map(|x| x.rps).collect());
    let (origin_rps, bare_rps) = (rps(&samples[0]), rps(&samples[1]));
    for ((name, _), s) in targets.iter().zip(&samples) {
        println!(
            "{name:<22} {:>10.0} {:>10.2} {:>10.2} {:>10.2} {:>12.2}",
            rps(s),
            median(s.iter().map(|x| x.p50_ms).collect()),
            median(s.iter().map(|x| x.p99_ms).collect()),
            rps(s) / origin_rps,
            rps(s) / bare_rps
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    stack::bounded(Duration::from_secs(20 * 60), || {
        stack::ensure_worker_built()?;
        let origin = Origin::start()?;
        run(&args, &origin)
    })
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
