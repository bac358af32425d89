//! `make bench-ab`: variants of our worker side by side with Hono in raw workerd (each with the
//! bench's cache service as its Cache API), on one row of the peer benchmark, in alternating
//! rounds. Where `bench-peers` answers "how do we compare",
//! this answers "did that change help": besides requests/s (noisy on a shared machine) it reports
//! the workerd process's CPU time per answered request, which other load on the machine moves
//! far less.
//!
//! A variant is the shipped policy with a JSON object merged into it, e.g.
//! `--variant 'flush-1s={"metrics":{"flush_after":100000,"flush_every":"1s"}}'`, or another build
//! of the worker (`--build before=target/before`, a copy of an earlier `edge/build`); `shipped`
//! (the current build with the policy as it is) always runs.
//!
//! Usage: `bench-ab [--row miss|hit|preflight|429] [--seconds N] [--rounds N] [--connections N]
//! [--rate REQ_PER_SEC] [--variant NAME=JSON]... [--build NAME=DIR]... [--v8-flag FLAG]...
//! [--floor]`. With `--rate` each run is open loop at that rate and the table also shows p50/p99. `--v8-flag`
//! passes a V8 flag to every raw workerd (ours and Hono's alike). `--floor` adds the runtime's
//! floor: a JavaScript worker that answers every request with the row's status and does nothing
//! else, so what the runtime itself costs (and where its tail lies) shows beside both workers.

#![allow(clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use wyn_edge_tests::load::Spec;
use wyn_edge_tests::peers::report::median;
use wyn_edge_tests::peers::rows::{Expect, Row, rows};
use wyn_edge_tests::peers::{self, policy, whole_number};
use wyn_edge_tests::stack::{self, Edge, Origin, Workerd, addr_of};

const USAGE: &str = "usage: bench-ab [--row miss|hit|preflight|429] [--seconds N] [--rounds N] [--connections N] [--rate REQ_PER_SEC] [--variant NAME=JSON]... [--build NAME=DIR]... [--v8-flag FLAG]... [--floor]";

#[derive(Debug)]
struct Args {
    row: Expect,
    seconds: u64,
    rounds: usize,
    connections: usize,
    rate: Option<f64>,
    variants: Vec<Variant>,
    /// V8 flags for raw workerd.
    v8_flags: Vec<String>,
    /// Also run the runtime's floor ([`FLOOR`]).
    floor: bool,
}

/// One build of ours with one policy.
#[derive(Debug)]
struct Variant {
    name: String,
    /// Merged into the shipped policy.
    patch: Value,
    /// Another build than `edge/build`.
    build: Option<PathBuf>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args> {
    let mut parsed = Args {
        row: Expect::Preflight,
        seconds: 4,
        rounds: 5,
        connections: 16,
        rate: None,
        variants: vec![Variant {
            name: "shipped".into(),
            patch: Value::Object(Default::default()),
            build: None,
        }],
        v8_flags: Vec::new(),
        floor: false,
    };
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--floor" {
            parsed.floor = true;
            continue;
        }
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value; {USAGE}"))?;
        let number = || whole_number(&flag, &value);
        match flag.as_str() {
            "--row" => {
                parsed.row = match value.as_str() {
                    "miss" => Expect::Miss,
                    "preflight" => Expect::Preflight,
                    "429" => Expect::Refused,
                    "hit" => Expect::Hit,
                    _ => bail!("--row: miss, hit, preflight or 429, found {value:?}"),
                }
            }
            "--seconds" => parsed.seconds = number()?,
            "--rounds" => parsed.rounds = usize::try_from(number()?)?,
            "--connections" => parsed.connections = usize::try_from(number()?)?,
            "--rate" => parsed.rate = Some(number()? as f64),
            "--v8-flag" => parsed.v8_flags.push(value),
            "--variant" => {
                let (name, json) = value
                    .split_once('=')
                    .with_context(|| format!("--variant: expected NAME=JSON, found {value:?}"))?;
                let patch: Value = serde_json::from_str(json)
                    .with_context(|| format!("--variant {name}: not JSON"))?;
                ensure!(
                    patch.is_object(),
                    "--variant {name}: expected a JSON object"
                );
                parsed.variants.push(Variant {
                    name: name.to_owned(),
                    patch,
                    build: None,
                });
            }
            "--build" => {
                let (name, dir) = value
                    .split_once('=')
                    .with_context(|| format!("--build: expected NAME=DIR, found {value:?}"))?;
                let dir = std::path::absolute(dir)?;
                ensure!(
                    dir.join("index.js").is_file() && dir.join("index_bg.wasm").is_file(),
                    "--build {name}: {} holds no index.js and index_bg.wasm",
                    dir.display()
                );
                parsed.variants.push(Variant {
                    name: name.to_owned(),
                    patch: Value::Object(Default::default()),
                    build: Some(dir),
                });
            }
            _ => bail!("unknown flag {flag}; {USAGE}"),
        }
    }
    Ok(parsed)
}

/// Merges `patch` into `base`: objects key by key, anything else replaced.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                merge(base.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

struct Contender {
    name: String,
    edge: Edge,
    addr: SocketAddr,
    rps: Vec<f64>,
    cpu_us: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
}

fn main() -> Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    let limit = 300 + (args.variants.len() as u64 + 1) * args.rounds as u64 * (args.seconds + 3);
    stack::bounded(Duration::from_secs(limit), || run(&args))
}

fn run(args: &Args) -> Result<()> {
    let root = stack::root();
    stack::ensure_worker_built()?;
    let shipped = policy::shipped()?;
    let hono_policy = policy::hono_policy(&policy::parse(&shipped)?).to_string();
    let work = root.join("target/bench-ab");
    std::fs::create_dir_all(&work)?;
    let bundle = policy::bundle_hono(&root, &work)?;
    let origin = Origin::start()?;

    let row: Row = rows(32_768)
        .into_iter()
        .find(|r| r.expect == args.row)
        .context("no such row")?;

    let names: &[&'static str] = &["ab-0", "ab-1", "ab-2", "ab-3", "ab-4", "ab-5"];
    ensure!(
        args.variants.len() < names.len(),
        "at most {} variants",
        names.len() - 1
    );
    let token = ("EDGE_ADMIN_TOKEN", "bench-ab-token-0123456789abcdef");
    let mut contenders = Vec::new();
    for (i, variant) in args.variants.iter().enumerate() {
        let name = &variant.name;
        let mut policy: Value = serde_json::from_str(&shipped)?;
        merge(&mut policy, &variant.patch);
        let text = policy.to_string();
        policy::parse(&text)
            .with_context(|| format!("variant {name}: the policy does not validate"))?;
        let vars = [
            ("ORIGIN_URL", origin.url.as_str()),
            token,
            ("EDGE", text.as_str()),
        ];
        let edge = Edge::start_workerd_with(
            names[i],
            &vars,
            Workerd {
                build: variant.build.clone(),
                v8_flags: args.v8_flags.clone(),
                cache: true,
                ..Workerd::default()
            },
        )?;
        contenders.push(contender(format!("ours: {name}"), edge)?);
    }
    let hono_vars = [
        ("ORIGIN_URL", origin.url.as_str()),
        ("POLICY", hono_policy.as_str()),
    ];
    let hono = Edge::start_workerd_module(
        "ab-hono",
        &bundle,
        &hono_vars,
        &[("RATE_LIMITER", "DurableObjectRateLimiter")],
        &args.v8_flags,
        true,
    )?;
    if args.floor {
        let module = work.join("floor.mjs");
        std::fs::write(
            &module,
            FLOOR.replace("STATUS", &row.expect.status().to_string()),
        )?;
        let floor =
            Edge::start_workerd_module("ab-floor", &module, &[], &[], &args.v8_flags, false)?;
        contenders.push(contender("floor".into(), floor)?);
    }
    contenders.push(contender("Hono".into(), hono)?);

    let spec = |addr, duration, rate| Spec {
        addr,
        method: row.method.to_owned(),
        path: row.path.to_owned(),
        headers: row.headers.clone(),
        clients: row.clients.clone(),
        connections: args.connections,
        duration,
        rate,
    };
    for c in &contenders {
        spec(c.addr, Duration::from_secs(1), None).run()?;
    }
    for round in 1..=args.rounds {
        for i in peers::order(contenders.len(), round) {
            if row.expect == Expect::Refused {
                // The limiter refilled while the others ran: spend the client's budget again.
                spec(contenders[i].addr, Duration::from_millis(500), None).run()?;
            }
            // What the idle workers spend while this one runs (V8 collecting after their load
            // stopped, say) is CPU this run's worker does not get on a small machine.
            let idle_before = idle_cpu(&contenders, i);
            let c = &mut contenders[i];
            let before = c.edge.workerd_cpu().context("reading workerd's CPU time")?;
            let rss_before = c.edge.workerd_rss().unwrap_or(0);
            let outcome = spec(c.addr, Duration::from_secs(args.seconds), args.rate).run()?;
            let cpu = c.edge.workerd_cpu().context("reading workerd's CPU time")? - before;
            let rss_after = c.edge.workerd_rss().unwrap_or(0);
            let idle = idle_cpu(&contenders, i).saturating_sub(idle_before);
            let c = &mut contenders[i];
            let expected = row.expect.status();
            ensure!(
                outcome.share(expected) >= row.expect.min_share()
                    && outcome.errors * 1000 <= outcome.answered(),
                "{}: expected {expected} answers, got {:?} and {} failed",
                c.name,
                outcome.statuses,
                outcome.errors
            );
            let answered = outcome.answered().max(1) as f64;
            c.rps.push(outcome.rps());
            c.cpu_us.push(cpu.as_secs_f64() * 1e6 / answered);
            c.p50.push(outcome.percentile(50.0));
            c.p99.push(outcome.percentile(99.0));
            eprintln!(
                "round {round}/{}: {:<28} {:>8.0} req/s {:>7.1} µs CPU/request p99 {:.1} ms, workerd {} -> {} MB, idle workers {} ms CPU",
                args.rounds,
                c.name,
                outcome.rps(),
                cpu.as_secs_f64() * 1e6 / answered,
                outcome.percentile(99.0),
                rss_before >> 20,
                rss_after >> 20,
                idle.as_millis()
            );
        }
    }

    let hono = contenders.last().context("Hono runs last")?;
    let hono_rps = median(hono.rps.iter().copied());
    let hono_cpu = median(hono.cpu_us.iter().copied());
    println!(
        "\n{} ({}; medians of {} rounds of {} s, {} connections{})",
        row.title,
        row.request_line(),
        args.rounds,
        args.seconds,
        args.connections,
        args.rate
            .map(|r| format!(", open loop at {r} req/s"))
            .unwrap_or_default()
    );
    println!(
        "{:<28} {:>9} {:>7} {:>12} {:>7} {:>9} {:>9}",
        "system", "req/s", "/Hono", "CPU µs/req", "/Hono", "p50 ms", "p99 ms"
    );
    for c in &contenders {
        let rps = median(c.rps.iter().copied());
        let cpu = median(c.cpu_us.iter().copied());
        println!(
            "{:<28} {:>9.0} {:>7.2} {:>12.1} {:>7.2} {:>9.2} {:>9.2}",
            c.name,
            rps,
            rps / hono_rps,
            cpu,
            cpu / hono_cpu,
            median(c.p50.iter().copied()),
            median(c.p99.iter().copied())
        );
    }
    Ok(())
}

/// The runtime's floor: the least a worker can do to answer with the row's status (`STATUS`).
const FLOOR: &str =
    "export default { fetch() { return new Response(null, { status: STATUS }); } };\n";

/// The CPU time so far of every contender's workerd but the `running` one.
fn idle_cpu(contenders: &[Contender], running: usize) -> Duration {
    contenders
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != running)
        .filter_map(|(_, c)| c.edge.workerd_cpu())
        .sum()
}

fn contender(name: String, edge: Edge) -> Result<Contender> {
    let addr = addr_of(&edge.url)?;
    Ok(Contender {
        name,
        edge,
        addr,
        rps: Vec::new(),
        cpu_us: Vec::new(),
        p50: Vec::new(),
        p99: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn variants_merge_into_the_policy() {
        let mut base = serde_json::json!({"metrics": {"flush_after": 200, "shards": 4}, "x": 1});
        merge(
            &mut base,
            &serde_json::json!({"metrics": {"flush_after": 9}, "x": [2]}),
        );
        assert_eq!(
            base,
            serde_json::json!({"metrics": {"flush_after": 9, "shards": 4}, "x": [2]})
        );
    }

    #[test]
    fn arguments_are_checked() {
        let args = |a: &[&str]| parse_args(a.iter().map(|s| (*s).to_owned()));
        let parsed = args(&["--row", "429", "--variant", "a={\"metrics\":{}}"]).unwrap();
        assert_eq!(parsed.row, Expect::Refused);
        assert_eq!(parsed.variants.len(), 2);
        assert!(!parsed.floor);
        assert!(args(&["--floor", "--row", "hit"]).unwrap().floor);
        assert!(args(&["--row", "hot"]).is_err());
        assert!(args(&["--variant", "a=[1]"]).is_err());
        assert!(args(&["--variant", "noequals"]).is_err());
        assert!(args(&["--seconds", "0"]).is_err());
        assert!(args(&["--seconds"]).is_err());
    }
}
