//! `make bench-peers`: wyn-edge against its peers on one machine in one run, and
//! `docs/BENCHMARKS.md` written from that run.
//!
//! Systems, each with the shipped WYN policy (wrangler.toml, `[vars.EDGE]`) in front of the same
//! demo origin:
//! - **ours**: the built worker (`edge/build`);
//! - **Hono**: `bench/hono/` (Hono's cors, cache, request-id, timing and proxy, and
//!   hono-rate-limiter), bundled with the pinned esbuild, served by the same workerd;
//! - **nginx**: `bench/nginx/nginx.conf.template` filled from the policy (`limit_req` per
//!   `CF-Connecting-IP`, a CORS `map`, `proxy_cache`), one worker process;
//! - **origin**: the demo origin alone, the network's floor;
//! - **floor**: `bench/floor/floor.js`, the least a worker can do to give each row its answer,
//!   served by the same workerd: the runtime's floor, what both workers pay before their own work.
//!
//! Rows: a proxied miss, a cache hit, a CORS preflight, a request the rate limiter refuses. The
//! two workers run in raw workerd, each given a Cache API by `bench/cache/cache.js` (an
//! in-memory cache service in the same process; raw workerd has none by default).
//! Each row is checked on each system before it is measured; see `tests/src/load.rs` for how
//! load is made and `tests/src/peers/report.rs` for what is written. A last phase runs each row
//! once more on both workers with V8 tracing their collections (`--trace-gc-nvp`), and
//! `tests/src/peers/gc.rs` reads the trace: the document shows where the workers' tails come from.
//!
//! `bench-peers [--seconds 5] [--latency-seconds 15] [--settle-seconds 5] [--rounds 5]
//! [--connections 16] [--clients 32768] [--out docs/BENCHMARKS.md] [--no-oha] [--v8-flag FLAG]...`.
//! `--latency-seconds` is the length of a worker's latency runs: its p99 is set by V8's
//! young-generation collections, every 0.1 to 3 s here, and a run must hold several of them.
//! `--settle-seconds`: how long a worker serves the row at its rate, unmeasured, straight before
//! each latency run, so that the run finds it under load rather than back from idle.
//! Installs nginx (Debian) and oha (crates.io) when missing; oha only cross-checks the load
//! generator, so the run goes on without it. `--v8-flag` passes a V8 flag to both workers' raw
//! workerd (the document says so); without it, V8 runs with workerd's defaults.

#![allow(clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use wyn_edge_tests::load::{Clients, Outcome, Spec};
use wyn_edge_tests::peers::report::{self, Cell, Report, RowReport, Traced};
use wyn_edge_tests::peers::rows::{ALLOWED_ORIGIN, Expect, LIMITED_CLIENT, RUNTIME, Row, rows};
use wyn_edge_tests::peers::{self, gc, policy, whole_number};
use wyn_edge_tests::stack::{self, Edge, Origin, Workerd, addr_of};

#[derive(Debug, Clone, PartialEq)]
struct Args {
    seconds: u32,
    latency_seconds: u32,
    settle_seconds: u32,
    rounds: usize,
    connections: usize,
    clients: u32,
    out: PathBuf,
    oha: bool,
    v8_flags: Vec<String>,
}

const USAGE: &str = "usage: bench-peers [--seconds N] [--latency-seconds N] [--settle-seconds N] [--rounds N] [--connections N] [--clients N] [--out FILE] [--no-oha] [--v8-flag FLAG]...";

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args> {
    let mut parsed = Args {
        seconds: 5,
        latency_seconds: 15,
        settle_seconds: 5,
        rounds: 5,
        connections: 16,
        clients: 32_768,
        out: PathBuf::from("docs/BENCHMARKS.md"),
        oha: true,
        v8_flags: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--no-oha" {
            parsed.oha = false;
            continue;
        }
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value; {USAGE}"))?;
        let number = |what: &str| whole_number(what, &value);
        match flag.as_str() {
            "--seconds" => parsed.seconds = u32::try_from(number("--seconds")?)?,
            "--latency-seconds" => {
                parsed.latency_seconds = u32::try_from(number("--latency-seconds")?)?;
            }
            "--settle-seconds" => {
                parsed.settle_seconds = u32::try_from(number("--settle-seconds")?)?;
            }
            "--rounds" => parsed.rounds = usize::try_from(number("--rounds")?)?,
            "--connections" => parsed.connections = usize::try_from(number("--connections")?)?,
            "--clients" => parsed.clients = u32::try_from(number("--clients")?)?,
            "--out" => parsed.out = PathBuf::from(value),
            "--v8-flag" => parsed.v8_flags.push(value),
            _ => bail!("unknown flag {flag}; {USAGE}"),
        }
    }
    Ok(parsed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ours,
    Hono,
    Nginx,
    Origin,
    Floor,
}

struct System<'a> {
    label: &'static str,
    kind: Kind,
    addr: SocketAddr,
    /// The worker's workerd, whose CPU time a run reads.
    edge: Option<&'a Edge>,
}

impl<'a> System<'a> {
    /// A worker served by raw workerd.
    fn worker(label: &'static str, kind: Kind, edge: &'a Edge) -> Result<Self> {
        Ok(Self {
            label,
            kind,
            addr: addr_of(&edge.url)?,
            edge: Some(edge),
        })
    }

    /// CPU time the worker's processes have used so far (`None` for nginx and the origin).
    fn cpu(&self) -> Option<Duration> {
        self.edge?.workerd_cpu()
    }
}

fn main() -> Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    // Each cell runs twice per round (rate, then latency), plus checks, warm-ups and start-ups,
    // and the traced phase: a warm-up and a run of each row on each worker. Runs of a worker's
    // latency (its rounds and the traced one) last `latency_seconds`, after `settle_seconds`.
    let long = 3 * 4 * (args.rounds as u64 + 1);
    let short = 2 * 5 * 4 * args.rounds as u64 + 40 + 3 * 4 * 2 - long;
    let limit = 600
        + short * (u64::from(args.seconds) + 3)
        + long * (u64::from(args.latency_seconds + args.settle_seconds) + 3);
    stack::bounded(Duration::from_secs(limit), || run(&args))
}

fn run(args: &Args) -> Result<()> {
    let root = stack::root();
    stack::ensure_worker_built()?;
    ensure_nginx()?;
    let oha = if args.oha { ensure_oha() } else { None };

    let policy_json = policy::shipped()?;
    let config = policy::parse(&policy_json)?;
    policy::check_expressible(&config)?;
    let hono_policy = policy::hono_policy(&config).to_string();

    let work = root.join("target/bench-peers");
    std::fs::create_dir_all(&work)?;
    let bundle = policy::bundle_hono(&root, &work)?;

    let started = Instant::now();
    let load_at_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let origin = Origin::start()?;
    eprintln!("bench-peers: origin at {}", origin.url);
    let token = ("EDGE_ADMIN_TOKEN", "bench-peers-token-0123456789");
    let mut ours_workerd = Edge::start_workerd_with(
        "peers-ours-workerd",
        &[
            ("ORIGIN_URL", origin.url.as_str()),
            token,
            ("EDGE", policy_json.as_str()),
        ],
        Workerd {
            v8_flags: args.v8_flags.clone(),
            cache: true,
            ..Workerd::default()
        },
    )?;
    let hono_vars = [
        ("ORIGIN_URL", origin.url.as_str()),
        ("POLICY", hono_policy.as_str()),
    ];
    let hono_objects = [("RATE_LIMITER", "DurableObjectRateLimiter")];
    let mut hono_workerd = Edge::start_workerd_module(
        "peers-hono-workerd",
        &bundle,
        &hono_vars,
        &hono_objects,
        &args.v8_flags,
        true,
    )?;
    let mut floor_workerd = Edge::start_workerd_module(
        "peers-floor-workerd",
        &root.join("bench/floor/floor.js"),
        &[("ORIGIN_URL", origin.url.as_str())],
        &[],
        &args.v8_flags,
        false,
    )?;
    let nginx = start_nginx(&root, &work, &config, origin.addr)?;
    eprintln!(
        "bench-peers: up in {:.0?}: ours {}, Hono {}, nginx {}, floor {}",
        started.elapsed(),
        ours_workerd.url,
        hono_workerd.url,
        nginx,
        floor_workerd.url
    );

    let rate_systems = systems(
        &ours_workerd,
        &hono_workerd,
        &floor_workerd,
        nginx,
        origin.addr,
    )?;
    let rows = rows(args.clients);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let counter = OriginCounter {
        client: client.clone(),
        url: format!("{}/api/health", origin.url),
    };

    for row in &rows {
        for system in &rate_systems {
            let evidence = check(&client, row, system)
                .with_context(|| format!("checking {} on {}", row.title, system.label))?;
            eprintln!(
                "check: {:<22} {:<16} ok: {evidence}",
                row.title, system.label
            );
            // Warm-up, a whole run long (and, for the 429 row, spending the limited client's
            // budget): with 1 s, ours lost the first hit round in two runs of two (0.82, 0.79).
            let warm_up = Duration::from_secs(u64::from(args.seconds));
            spec(args, row, system, None, warm_up).run()?;
        }
    }

    let mut cells: Vec<Vec<CellRuns>> = rows
        .iter()
        .map(|_| rate_systems.iter().map(|_| CellRuns::default()).collect())
        .collect();
    for round in 1..=args.rounds {
        for (r, row) in rows.iter().enumerate() {
            for s in peers::order(rate_systems.len(), round) {
                let system = &rate_systems[s];
                let run = measure(&counter, args, row, system, None)?;
                eprintln!(
                    "rate    round {round}/{}: {:<22} {:<16} {:>8.0} req/s, {} to the origin",
                    args.rounds,
                    row.title,
                    system.label,
                    run.outcome.rps(),
                    run.forwarded
                );
                cells[r][s].rate.push(run);
            }
        }
    }
    let rates: Vec<f64> = cells
        .iter()
        .map(|row| {
            let slowest = row
                .iter()
                .map(|c| report::median(c.rate.iter().map(|r| r.outcome.rps())))
                .fold(f64::INFINITY, f64::min);
            report::two_digits_down(slowest / 2.0)
        })
        .collect();

    // Equal histories for the latency runs. A worker's tails grow with the requests its process
    // has served (V8 keeps growing workerd's young generation, so scavenges lengthen), and the
    // faster worker served more in the rate runs. Both workers start again and serve the same
    // warm-up, each row at its latency rate, so that every latency run finds the two processes
    // with the same number of requests behind them. (nginx and the origin have no such heap.)
    ours_workerd.restart()?;
    hono_workerd.restart()?;
    floor_workerd.restart()?;
    let systems = systems(
        &ours_workerd,
        &hono_workerd,
        &floor_workerd,
        nginx,
        origin.addr,
    )?;
    let edges: Vec<&System<'_>> = systems.iter().filter(|s| s.edge.is_some()).collect();
    warm_up(args, &rows, &rates, &edges)?;
    for round in 1..=args.rounds {
        for (r, row) in rows.iter().enumerate() {
            for s in peers::order(systems.len(), round) {
                let system = &systems[s];
                let run = measure(&counter, args, row, system, Some(rates[r]))?;
                let o = &run.outcome;
                eprintln!(
                    "latency round {round}/{}: {:<22} {:<16} at {:>6.0}/s p50 {:>7.3} p99 {:>7.3} p99.9 {:>7.3} ms, {} to the origin",
                    args.rounds,
                    row.title,
                    system.label,
                    rates[r],
                    o.percentile(50.0),
                    o.percentile(99.0),
                    o.percentile(99.9),
                    run.forwarded
                );
                cells[r][s].latency.push(run);
            }
        }
    }

    let cross_check = match &oha {
        Some(oha) => cross_check(oha, args, &rows[2], &systems, &cells[2], rates[2])?,
        None => vec![
            "oha was not used (`--no-oha`, or it could not be installed): no cross-check."
                .to_owned(),
        ],
    };

    // Nothing runs after this phase: the workers keep the tracing flag until they stop. A failure
    // here costs the document its GC section, not the rest of the run.
    let traced = trace_gc(
        args,
        &rows,
        &rates,
        &counter,
        [&mut ours_workerd, &mut hono_workerd, &mut floor_workerd],
    )
    .unwrap_or_else(|e| {
        eprintln!("bench-peers: the traced phase failed, so the document goes without it: {e:#}");
        Vec::new()
    });
    let systems = self::systems(
        &ours_workerd,
        &hono_workerd,
        &floor_workerd,
        nginx,
        origin.addr,
    )?;

    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };
    let report = Report {
        date: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit: commit(&root, &out),
        machine: machine(
            &load_at_start,
            &std::fs::read_to_string("/proc/loadavg").unwrap_or_default(),
        ),
        tools: tools(&root, oha.as_deref()),
        sizes: sizes(&root, &bundle)?,
        systems: systems.iter().map(|s| s.label.to_owned()).collect(),
        rows: rows
            .iter()
            .zip(&cells)
            .zip(&rates)
            .enumerate()
            .map(|(r, ((row, cells), rate))| RowReport {
                title: row.title.to_owned(),
                request: row.request_line(),
                runtime: RUNTIME.to_owned(),
                rate: *rate,
                cells: cells
                    .iter()
                    .zip(&systems)
                    .map(|(c, s)| c.summary(s.kind))
                    .collect(),
                traced: traced.get(r).cloned().unwrap_or_default(),
            })
            .collect(),
        workers: systems
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.edge.map(|_| i))
            .collect(),
        seconds: args.seconds,
        latency_seconds: args.latency_seconds,
        settle_seconds: args.settle_seconds,
        rounds: args.rounds,
        connections: args.connections,
        clients: args.clients,
        v8_flags: args.v8_flags.clone(),
        cross_check,
        notes: notes(),
    };
    println!("{}", report.table());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, report.markdown())?;
    eprintln!(
        "bench-peers: wrote {} after {:.0?}",
        out.display(),
        started.elapsed()
    );
    drop((ours_workerd, hono_workerd, floor_workerd));
    // The access log of a run is hundreds of megabytes; nothing reads it afterwards.
    let _ = std::fs::remove_file(work.join("nginx/access.log"));
    Ok(())
}

/// The two workers and the runtime's floor, in the report's order.
fn workers<'a>(ours: &'a Edge, hono: &'a Edge, floor: &'a Edge) -> Result<[System<'a>; 3]> {
    Ok([
        System::worker("ours (wyn-edge)", Kind::Ours, ours)?,
        System::worker("Hono", Kind::Hono, hono)?,
        System::worker("floor (workerd)", Kind::Floor, floor)?,
    ])
}

/// The five systems, in the report's order (ours, Hono and nginx first: the ratios' operands).
fn systems<'a>(
    ours: &'a Edge,
    hono: &'a Edge,
    floor: &'a Edge,
    nginx: SocketAddr,
    origin: SocketAddr,
) -> Result<[System<'a>; 5]> {
    let [ours, hono, floor] = workers(ours, hono, floor)?;
    Ok([
        ours,
        hono,
        System {
            label: "nginx",
            kind: Kind::Nginx,
            addr: nginx,
            edge: None,
        },
        System {
            label: "origin alone",
            kind: Kind::Origin,
            addr: origin,
            edge: None,
        },
        floor,
    ])
}

fn spec(
    args: &Args,
    row: &Row,
    system: &System<'_>,
    rate: Option<f64>,
    duration: Duration,
) -> Spec {
    Spec {
        addr: system.addr,
        method: row.method.to_owned(),
        path: row.path.to_owned(),
        headers: row.headers.clone(),
        clients: row.clients.clone(),
        connections: args.connections,
        duration,
        rate,
    }
}

/// One measured run and how many requests reached the origin during it.
struct Run {
    outcome: Outcome,
    forwarded: u64,
    /// The worker processes' CPU time per answered request, µs (workers only).
    cpu_us: Option<f64>,
}

#[derive(Default)]
struct CellRuns {
    rate: Vec<Run>,
    latency: Vec<Run>,
}

impl CellRuns {
    fn summary(&self, kind: Kind) -> Cell {
        let all = || self.rate.iter().chain(&self.latency);
        let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
        for run in all() {
            for (status, n) in &run.outcome.statuses {
                *statuses.entry(*status).or_default() += n;
            }
        }
        let latency = |p: f64| report::median(self.latency.iter().map(|r| r.outcome.percentile(p)));
        Cell {
            rps: report::median(self.rate.iter().map(|r| r.outcome.rps())),
            cpu_us: self
                .rate
                .iter()
                .any(|r| r.cpu_us.is_some())
                .then(|| report::median(self.rate.iter().filter_map(|r| r.cpu_us))),
            p50: latency(50.0),
            p99: latency(99.0),
            p999: latency(99.9),
            p99_pooled: Outcome::pooled(self.latency.iter().map(|r| &r.outcome)).percentile(99.0),
            statuses: statuses.into_iter().collect(),
            forwarded: (kind != Kind::Origin).then(|| all().map(|r| r.forwarded).sum()),
            rounds: self
                .rate
                .iter()
                .zip(&self.latency)
                .map(|(rate, latency)| report::Round {
                    rps: rate.outcome.rps(),
                    cpu_us: rate.cpu_us,
                    p50: latency.outcome.percentile(50.0),
                    p99: latency.outcome.percentile(99.0),
                })
                .collect(),
        }
    }
}

/// Reads the origin's request counter (`x-origin-request-count` of a request made for that).
struct OriginCounter {
    client: reqwest::blocking::Client,
    url: String,
}

impl OriginCounter {
    fn read(&self) -> Result<u64> {
        let response = self.client.get(&self.url).send()?;
        origin_count(&response).context("the origin's answer has no x-origin-request-count")
    }
}

fn origin_count(response: &reqwest::blocking::Response) -> Option<u64> {
    response
        .headers()
        .get("x-origin-request-count")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Runs one measured run and checks it: no failed exchange, the expected statuses, and how many
/// requests reached the origin.
fn measure(
    counter: &OriginCounter,
    args: &Args,
    row: &Row,
    system: &System<'_>,
    rate: Option<f64>,
) -> Result<Run> {
    spend_budget(args, row, system)?;
    if let Some(rate) = rate {
        settle(args, row, system, rate)?;
    }
    measure_now(counter, args, row, system, rate)
}

/// Before a worker's latency run, the row at `rate` for `--settle-seconds`, unmeasured. After a
/// pause V8 starts a worker's young generation small again and grows it over the first seconds
/// of load, and its scavenges lengthen as it grows: a run straight after a pause measured that
/// transient, and how long the pause had been (the order of the systems) moved the run's p99 by
/// up to 2x (`make bench-ab`, 429 row: ours 35 to 38 ms after 30 s idle against 60 to 77 ms straight
/// after a run). Under production traffic a worker is not back from idle every 15 s.
fn settle(args: &Args, row: &Row, system: &System<'_>, rate: f64) -> Result<()> {
    if system.edge.is_some() {
        let seconds = Duration::from_secs(u64::from(args.settle_seconds));
        spec(args, row, system, Some(rate), seconds).run()?;
    }
    Ok(())
}

/// On the 429 row, spends the limited client's budget: the limiters refill while the other
/// systems run (GCRA and nginx up to their burst, a fixed window whenever it turns over), and a
/// run must measure refusals rather than the refill.
fn spend_budget(args: &Args, row: &Row, system: &System<'_>) -> Result<()> {
    if row.expect == Expect::Refused {
        spec(args, row, system, None, Duration::from_millis(500)).run()?;
    }
    Ok(())
}

/// [`measure`] without spending the 429 row's budget first.
fn measure_now(
    counter: &OriginCounter,
    args: &Args,
    row: &Row,
    system: &System<'_>,
    rate: Option<f64>,
) -> Result<Run> {
    let before = counter.read()?;
    let cpu_before = system.cpu();
    let seconds = if rate.is_some() && system.edge.is_some() {
        args.latency_seconds
    } else {
        args.seconds
    };
    let outcome = spec(
        args,
        row,
        system,
        rate,
        Duration::from_secs(u64::from(seconds)),
    )
    .run()?;
    let cpu_us = cpu_before
        .zip(system.cpu())
        .map(|(a, b)| (b - a).as_secs_f64() * 1e6 / outcome.answered().max(1) as f64);
    let after = counter.read()?;
    // The counter's own request counts once.
    let forwarded = after.saturating_sub(before).saturating_sub(1);
    let context = || {
        format!(
            "{} on {} ({}): statuses {:?}, {} failed, {forwarded} reached the origin",
            row.title,
            system.label,
            if rate.is_some() { "latency" } else { "rate" },
            outcome.statuses,
            outcome.errors
        )
    };
    verify_run(row.expect, system.kind, &outcome, forwarded).with_context(context)?;
    Ok(Run {
        outcome,
        forwarded,
        cpu_us,
    })
}

/// The V8 flag that logs a line per collection, which [`gc::profile`] reads.
const TRACE_GC: &str = "--trace-gc-nvp";

/// The last phase: both workers and the floor restart with [`TRACE_GC`] added to their V8 flags
/// and serve the latency phase's warm-up, then each row runs once on each in open loop at its
/// rate. Per row, each one's run (ours, Hono, the floor) and its collections, read from the part
/// of workerd's log the run wrote.
fn trace_gc(
    args: &Args,
    rows: &[Row],
    rates: &[f64],
    counter: &OriginCounter,
    workers: [&mut Edge; 3],
) -> Result<Vec<Vec<Traced>>> {
    let mut flags = args.v8_flags.clone();
    if !flags.iter().any(|f| f == TRACE_GC) {
        flags.push(TRACE_GC.to_owned());
    }
    let [ours, hono, floor] = workers;
    ours.restart_with_v8_flags(&flags)?;
    hono.restart_with_v8_flags(&flags)?;
    floor.restart_with_v8_flags(&flags)?;
    let workers = self::workers(ours, hono, floor)?;
    eprintln!("gc: the workers and the floor restarted with {TRACE_GC}; warming up");
    warm_up(args, rows, rates, &workers.iter().collect::<Vec<_>>())?;
    let mut traced = Vec::new();
    for (r, (row, rate)) in rows.iter().zip(rates).enumerate() {
        let mut runs: Vec<Option<Traced>> = vec![None, None, None];
        for w in peers::order(workers.len(), r) {
            let system = &workers[w];
            let t = traced_run(counter, args, row, system, *rate)
                .with_context(|| format!("the traced run of {} on {}", row.title, system.label))?;
            let g = &t.gc;
            eprintln!(
                "gc:     {:<22} {:<16} at {rate:>6.0}/s p99 {:>7.3} ms: {} scavenges, every {} requests, pause mean {} max {:.2} ms; {} KB/request; {} other GCs",
                row.title,
                system.label,
                t.p99,
                g.scavenges,
                g.requests_per_scavenge()
                    .map_or_else(|| "-".to_owned(), |n| format!("{n:.0}")),
                g.mean_scavenge_ms()
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2}")),
                g.scavenge_max_ms,
                g.allocated_per_request()
                    .map_or_else(|| "-".to_owned(), |b| format!("{:.2}", b / 1000.0)),
                g.others
            );
            runs[w] = Some(t);
        }
        traced.push(runs.into_iter().flatten().collect());
    }
    Ok(traced)
}

/// Each row once at its latency rate on each worker, so that the runs after find the workers'
/// processes with the same number of requests behind them.
fn warm_up(args: &Args, rows: &[Row], rates: &[f64], workers: &[&System<'_>]) -> Result<()> {
    let seconds = Duration::from_secs(u64::from(args.seconds));
    for (row, rate) in rows.iter().zip(rates) {
        for system in workers {
            spec(args, row, system, Some(*rate), seconds).run()?;
        }
    }
    Ok(())
}

/// One open-loop run of a worker at `rate`, and the collections its process logged meanwhile.
fn traced_run(
    counter: &OriginCounter,
    args: &Args,
    row: &Row,
    system: &System<'_>,
    rate: f64,
) -> Result<Traced> {
    let log = &system.edge.context("only a worker has a V8 trace")?.log;
    spend_budget(args, row, system)?;
    settle(args, row, system, rate)?;
    let start = std::fs::metadata(log)?.len();
    let run = measure_now(counter, args, row, system, Some(rate))?;
    let lines = log_since(log, start)?;
    Ok(Traced {
        system: system.label.to_owned(),
        p99: run.outcome.percentile(99.0),
        gc: gc::profile(&lines, run.outcome.answered()),
    })
}

/// What `log` gained past byte `start`, up to its last whole line, once it has stopped growing
/// (within a second): a collection that ended with the run may still be being written.
fn log_since(log: &Path, start: u64) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut len = std::fs::metadata(log)?.len();
    let settling = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = std::fs::metadata(log)?.len();
        let settled = now == len;
        len = now;
        if settled || settling.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    let mut file = std::fs::File::open(log)?;
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(len.saturating_sub(start))
        .read_to_end(&mut bytes)?;
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Ok(String::from_utf8_lossy(&bytes[..whole]).into_owned())
}

/// What every measured run must show.
fn verify_run(expect: Expect, kind: Kind, outcome: &Outcome, forwarded: u64) -> Result<()> {
    let answered = outcome.answered();
    ensure!(answered > 0, "no answer at all");
    ensure!(
        outcome.errors * 1000 <= answered,
        "more than 0.1 % of the requests failed"
    );
    if kind == Kind::Origin {
        return Ok(());
    }
    let n = answered as f64;
    ensure!(
        outcome.share(expect.status()) >= expect.min_share(),
        "{expect:?}: {} % of the answers are {}, fewer than {} %",
        outcome.share(expect.status()) * 100.0,
        expect.status(),
        expect.min_share() * 100.0
    );
    match expect {
        Expect::Miss => {
            ensure!(
                forwarded as f64 >= 0.99 * n,
                "a miss row reaches the origin every time"
            );
        }
        Expect::Hit => {
            ensure!(
                forwarded as f64 <= 0.001 * n + 5.0,
                "a hit row must not reach the origin"
            );
        }
        Expect::Preflight => {
            ensure!(forwarded == 0, "a preflight never reaches the origin");
        }
        // Only the share above: the limited client's rate still reaches the origin.
        Expect::Refused => {}
    }
    Ok(())
}

/// Checks, with single requests, that a row does on a system what its title says; returns the
/// evidence.
fn check(client: &reqwest::blocking::Client, row: &Row, system: &System<'_>) -> Result<String> {
    let addr = system.addr;
    let send = |ip: &str| -> Result<reqwest::blocking::Response> {
        let method = reqwest::Method::from_bytes(row.method.as_bytes())?;
        let mut request = client
            .request(method, format!("http://{addr}{}", row.path))
            .header("cf-connecting-ip", ip);
        for (name, value) in &row.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        Ok(request.send()?)
    };
    let header = |r: &reqwest::blocking::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    if system.kind == Kind::Origin {
        let r = send("203.0.113.1")?;
        return Ok(format!("{} (the origin answers directly)", r.status()));
    }
    if system.kind == Kind::Floor {
        // No policy to check: only that it gives the row's answer.
        let client = match &row.clients {
            Clients::Fixed(ip) => ip.as_str(),
            Clients::Rotate(_) => "203.0.113.1",
        };
        let r = send(client)?;
        ensure!(
            r.status().as_u16() == row.expect.status(),
            "expected {}, got {}",
            row.expect.status(),
            r.status()
        );
        return Ok(format!("{} (the runtime's floor: no policy)", r.status()));
    }
    match row.expect {
        Expect::Miss => {
            let first = send("203.0.113.1")?;
            let second = send("203.0.113.2")?;
            ensure!(
                first.status() == 200 && second.status() == 200,
                "expected 200 twice, got {} and {}",
                first.status(),
                second.status()
            );
            let (a, b) = (origin_count(&first), origin_count(&second));
            ensure!(
                matches!((a, b), (Some(a), Some(b)) if b > a),
                "both requests must reach the origin (x-origin-request-count {a:?} then {b:?})"
            );
            Ok(format!("200, origin count {a:?} -> {b:?}"))
        }
        Expect::Hit => {
            let _ = send("203.0.113.1")?;
            // The store happens after the answer (waitUntil): give it a moment.
            std::thread::sleep(Duration::from_millis(500));
            let first = send("203.0.113.2")?;
            let second = send("203.0.113.3")?;
            ensure!(
                first.status() == 200 && second.status() == 200,
                "expected 200 twice, got {} and {}",
                first.status(),
                second.status()
            );
            let (a, b) = (origin_count(&first), origin_count(&second));
            ensure!(
                a.is_some() && a == b,
                "two answers from storage carry the same x-origin-request-count ({a:?}, {b:?})"
            );
            let evidence = match system.kind {
                Kind::Ours => header(&second, "cache-status"),
                Kind::Nginx => header(&second, "x-cache-status"),
                _ => header(&second, "cf-cache-status"),
            };
            match system.kind {
                Kind::Ours => ensure!(evidence.contains(";hit"), "Cache-Status: {evidence}"),
                Kind::Nginx => ensure!(evidence == "HIT", "X-Cache-Status: {evidence}"),
                Kind::Hono => ensure!(evidence == "HIT", "CF-Cache-Status: {evidence}"),
                Kind::Origin | Kind::Floor => {}
            }
            // The same job: both workers' answers carry the request id and the limit's state.
            if matches!(system.kind, Kind::Ours | Kind::Hono) {
                for name in ["x-request-id", "ratelimit"] {
                    ensure!(!header(&second, name).is_empty(), "a hit without {name}");
                }
            }
            Ok(format!(
                "200 from storage (origin count {a:?} twice; {evidence:?}, age {:?})",
                header(&second, "age")
            ))
        }
        Expect::Preflight => {
            let r = send("203.0.113.1")?;
            let acao = header(&r, "access-control-allow-origin");
            ensure!(
                r.status() == 204 && acao == ALLOWED_ORIGIN,
                "expected 204 with Access-Control-Allow-Origin: {ALLOWED_ORIGIN}, got {} with {acao:?}",
                r.status()
            );
            ensure!(
                origin_count(&r).is_none(),
                "a preflight must be answered without the origin"
            );
            Ok(format!(
                "204, allow-origin {acao}, allow-methods {:?}",
                header(&r, "access-control-allow-methods")
            ))
        }
        Expect::Refused => {
            // Spend the client's budget (limit + 1 is enough; the warm-up goes on after).
            let limit = 1_300;
            let mut refused = None;
            for _ in 0..limit {
                let r = send(LIMITED_CLIENT)?;
                if r.status() == 429 {
                    refused = Some(r);
                    break;
                }
            }
            let r = refused
                .with_context(|| format!("{LIMITED_CLIENT} got no 429 in {limit} requests"))?;
            Ok(format!(
                "429 (retry-after {:?}, allow-origin {:?})",
                header(&r, "retry-after"),
                header(&r, "access-control-allow-origin")
            ))
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Installs nginx from Debian's packages when it is missing.
fn ensure_nginx() -> Result<()> {
    if which("nginx").is_some() {
        return Ok(());
    }
    eprintln!("bench-peers: installing nginx (apt-get)");
    let shell = "apt-get update -qq && (apt-get install -y -qq nginx-light || apt-get install -y -qq nginx)";
    let status = Command::new("sh")
        .args(["-c", shell])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    ensure!(
        status.success() && which("nginx").is_some(),
        "could not install nginx with apt-get ({status}); install it and run again"
    );
    Ok(())
}

/// oha, installed with cargo when missing; `None` when that fails (the run goes on without it).
fn ensure_oha() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let installed = home.join(".cargo/bin/oha");
    if let Some(found) = which("oha").or_else(|| installed.is_file().then(|| installed.clone())) {
        return Some(found);
    }
    eprintln!("bench-peers: installing oha (cargo install oha --locked; several minutes, once)");
    let ok = Command::new("cargo")
        .args(["install", "oha", "--locked", "--quiet"])
        .status()
        .is_ok_and(|s| s.success());
    if ok && installed.is_file() {
        Some(installed)
    } else {
        eprintln!("bench-peers: oha could not be installed; going on without the cross-check");
        None
    }
}

fn start_nginx(
    root: &Path,
    work: &Path,
    config: &wyn_edge_shared::config::EdgeConfig,
    origin: SocketAddr,
) -> Result<SocketAddr> {
    let prefix = work.join("nginx");
    let _ = std::fs::remove_dir_all(&prefix);
    std::fs::create_dir_all(prefix.join("tmp"))?;
    let template = std::fs::read_to_string(root.join("bench/nginx/nginx.conf.template"))?;
    let port = stack::free_port();
    let user = command_line("id", &["-un"]);
    let conf = policy::nginx_conf(&template, config, &prefix, port, &origin.to_string(), &user)?;
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let nginx = which("nginx").context("nginx is not installed")?;
    let mut cmd = Command::new(&nginx);
    cmd.arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(prefix.join("stderr.log"))?);
    let mut child = stack::spawn_group(&mut cmd).context("starting nginx")?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(prefix.join("stderr.log")).unwrap_or_default();
            let errors = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
            bail!("nginx exited with {status}:\n{log}{errors}");
        }
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(addr);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("nginx did not listen on {addr} within 20 s")
}

/// oha on one row (a fixed client: oha sends the same headers every time, which the preflight
/// row allows, since no limiter counts preflights): closed loop, then open loop at the row's rate
/// with `--latency-correction`, one run per system, beside the medians of the load generator.
fn cross_check(
    oha: &Path,
    args: &Args,
    row: &Row,
    systems: &[System<'_>],
    cells: &[CellRuns],
    rate: f64,
) -> Result<Vec<String>> {
    let mut lines = vec![
        format!(
            "The bench's load generator (its medians above) against oha on row {} (oha cannot \
             vary `CF-Connecting-IP` per request, so it cannot drive the other rows without the \
             limiters refusing). oha: one {} s run per system and mode, `--worker-threads 1`, \
             {} connections; latencies at {rate:.0} req/s with `-q {rate:.0} --latency-correction`.\n",
            row.title, args.seconds, args.connections
        ),
        "| system | req/s (generator / oha) | p50 ms (generator / oha) | p99 ms (generator / oha) | p99.9 ms (generator / oha) |".to_owned(),
        "|---|---:|---:|---:|---:|".to_owned(),
    ];
    for (system, cell) in systems.iter().zip(cells) {
        let closed = oha_run(oha, args, row, system, None)?;
        let open = oha_run(oha, args, row, system, Some(rate))?;
        let summary = cell.summary(system.kind);
        eprintln!(
            "oha: {:<16} {:>8.0} req/s; at {rate:.0}/s p50 {:.3} p99 {:.3} p99.9 {:.3} ms; statuses {:?}",
            system.label, closed.rps, open.p50_ms, open.p99_ms, open.p999_ms, closed.statuses
        );
        lines.push(format!(
            "| {} | {:.0} / {:.0} | {:.3} / {:.3} | {:.3} / {:.3} | {:.3} / {:.3} |",
            system.label,
            summary.rps,
            closed.rps,
            summary.p50,
            open.p50_ms,
            summary.p99,
            open.p99_ms,
            summary.p999,
            open.p999_ms
        ));
    }
    Ok(lines)
}

fn oha_run(
    oha: &Path,
    args: &Args,
    row: &Row,
    system: &System<'_>,
    rate: Option<f64>,
) -> Result<report::OhaRun> {
    let mut cmd = Command::new(oha);
    cmd.args([
        "--no-tui",
        "--output-format",
        "json",
        "--worker-threads",
        "1",
    ])
    .args(["-z", &format!("{}s", args.seconds)])
    .args(["-c", &args.connections.to_string()])
    .args(["-m", row.method])
    .args(["-H", "cf-connecting-ip: 203.0.113.50"]);
    for (name, value) in &row.headers {
        cmd.args(["-H", &format!("{name}: {value}")]);
    }
    if let Some(rate) = rate {
        cmd.args(["-q", &format!("{rate:.0}"), "--latency-correction"]);
    }
    cmd.arg(format!("http://{}{}", system.addr, row.path));
    let out = cmd.stdin(Stdio::null()).output().context("running oha")?;
    ensure!(
        out.status.success(),
        "oha failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    report::parse_oha(&String::from_utf8_lossy(&out.stdout))
}

/// The first line a command prints, or "unknown".
fn command_line(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// HEAD, and whether the tree differs from it anywhere but in `out` (the previous run's document,
/// which this run replaces).
fn commit(root: &Path, out: &Path) -> String {
    let head = command_line(
        "git",
        &[
            "-C",
            &root.display().to_string(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    );
    let dirty = Command::new("git")
        .args([
            "-C",
            &root.display().to_string(),
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
        ])
        .arg(format!(":(exclude){}", out.display()))
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if dirty {
        format!("{head}, with uncommitted changes")
    } else {
        head
    }
}

fn machine(load_at_start: &str, load_at_end: &str) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let (model, listed) = report::cpu_model(&cpuinfo);
    let nproc = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| report::mem_total_gib(&m))
        .map_or_else(|| "unknown".to_owned(), |g| format!("{g:.1} GiB"));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let load = |text: &str| {
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        (
            "processor".into(),
            format!("{model} ({listed} listed in /proc/cpuinfo)"),
        ),
        ("nproc".into(), nproc.to_string()),
        ("memory (MemTotal)".into(), memory),
        ("kernel".into(), format!("Linux {kernel}")),
        (
            "load average (1, 5, 15 min) at the start and at the end".into(),
            format!(
                "{} / {} (the machine may be shared: other work can run beside the bench)",
                load(load_at_start),
                load(load_at_end)
            ),
        ),
    ]
}

fn package_version(root: &Path, package: &str) -> String {
    std::fs::read_to_string(root.join("node_modules").join(package).join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn tools(root: &Path, oha: Option<&Path>) -> Vec<(String, String)> {
    let bin = |name: &str| root.join("node_modules/.bin").join(name);
    let nginx = which("nginx")
        .map(|n| command_line(n, &["-v"]))
        .and_then(|line| report::nginx_version(&line))
        .unwrap_or_else(|| "unknown".to_owned());
    let mut tools = vec![
        ("rustc".into(), command_line("rustc", &["--version"])),
        ("node".into(), command_line("node", &["--version"])),
        (
            "workerd".into(),
            command_line(bin("workerd"), &["--version"]),
        ),
        (
            "esbuild".into(),
            command_line(bin("esbuild"), &["--version"]),
        ),
        ("hono".into(), package_version(root, "hono")),
        (
            "hono-rate-limiter".into(),
            package_version(root, "hono-rate-limiter"),
        ),
        (
            "@hono-rate-limiter/cloudflare".into(),
            package_version(root, "@hono-rate-limiter/cloudflare"),
        ),
        ("nginx".into(), nginx),
        (
            "load".into(),
            "the bench's own generator (tests/src/load.rs: hyper, one thread)".into(),
        ),
    ];
    if let Some(oha) = oha {
        tools.push((
            "oha (cross-check)".into(),
            command_line(oha, &["--version"]),
        ));
    }
    tools
}

fn file_sizes(path: &Path) -> Result<(u64, u64)> {
    let raw = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let gz = Command::new("gzip")
        .arg("-9c")
        .arg(path)
        .output()
        .context("running gzip")?
        .stdout
        .len() as u64;
    Ok((raw, gz))
}

fn sizes(root: &Path, bundle: &Path) -> Result<Vec<(String, u64, u64)>> {
    let mut sizes = Vec::new();
    for (name, path) in [
        (
            "ours: edge/build/index_bg.wasm",
            root.join("edge/build/index_bg.wasm"),
        ),
        (
            "ours: edge/build/index.js (the JS glue)",
            root.join("edge/build/index.js"),
        ),
        ("Hono: the bundle (esbuild --minify)", bundle.to_path_buf()),
    ] {
        let (raw, gz) = file_sizes(&path)?;
        sizes.push((name.to_owned(), raw, gz));
    }
    Ok(sizes)
}

fn notes() -> Vec<String> {
    [
        "Runtime: every row runs both workers in raw workerd (the runtime's own speed), each \
         process with a Cache API of the bench's: `bench/cache/cache.js`, a cache service in \
         memory speaking workerd's cache protocol (`cacheApiOutbound`), the same for both. A \
         lookup is a subrequest to it in the same process, as miniflare's cache is, without the \
         proxy, Durable Object and SQLite behind wrangler dev's (about 9x the cost of a hit). \
         Row 1's answer is `no-store`: all three look it up, then fetch it.",
        "One core each: workerd runs a worker on one thread, nginx runs one worker process, the \
         origin runs on two tokio threads, the load generator on one. The machine has two cores.",
        "Rate limits: ours uses GCRA (governor) per isolate for `local` rules and a Durable Object \
         per client for the `global` chat rule; Hono uses hono-rate-limiter's fixed windows in \
         memory and its Durable Object store for the chat rule; nginx uses `limit_req` (a leaky \
         bucket in shared memory) with `burst = limit - 1` and `nodelay`. nginx and Hono send no \
         `RateLimit` headers like ours (Hono sends draft-7 ones); the 429 row's refusals differ \
         in body: a problem document (ours), text (Hono), nginx's HTML page.",
        "CORS: all three answer preflights from the allow-list before any limit. Hono's cors \
         middleware answers every OPTIONS on the covered paths with 204 and its fixed header list; \
         ours checks the method and headers asked for (403 otherwise) and echoes them; nginx \
         answers 204 or 403 from maps.",
        "Cache: ours is an RFC 9111 cache (stale-while-revalidate, stale-if-error, revalidation, \
         Cache-Status, purge generations, coalescing); Hono's cache middleware stores 200s with \
         the origin's Cache-Control (the route TTL set as s-maxage); nginx's proxy_cache honours \
         the origin's headers except on TTL routes, drops at most three tracking parameters from \
         a key and cannot sort the query, and does not coalesce misses (proxy_cache_lock's \
         waiters poll every 500 ms, which stalls uncacheable routes).",
        "Metrics: ours records every request (DDSketch cells in isolate memory, flushed to a \
         Durable Object) and sends Server-Timing; Hono sends Server-Timing (its timing \
         middleware) and records nothing; nginx writes a buffered access log.",
        "Hono's `X-Request-Id` and `RateLimit` headers: its request-id and rate-limit \
         middleware set them before `next()`, and Hono keeps such headers aside, merged only \
         into a response it makes itself or one set after `c.res` was read. On `/static/` (no \
         CORS middleware reads `c.res`) the response of its cache or proxy went out without \
         them. The peer reads `c.res` first, so every answer carries them, as ours do (row 2's \
         check asks for both).",
        "The origin alone answers the same requests with no policy: the OPTIONS of row 3 gets its \
         405, the others 200.",
        "The floor (`bench/floor/floor.js`) is the least a worker in the same workerd can do to \
         give each row its answer, with no policy, metrics or checks: the preflight's 204 with \
         fixed CORS headers and the 429 on the spot, the miss passed to the origin as is, the hit \
         served from a module variable filled once. Its CPU and tail are what the runtime itself \
         costs at the row's rate, under both workers' own work.",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use wyn_edge_tests::load::Clients;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_flags() {
        let args = parse_args(strings(&[])).unwrap();
        assert_eq!((args.seconds, args.rounds, args.connections), (5, 5, 16));
        assert_eq!((args.latency_seconds, args.settle_seconds), (15, 5));
        assert!(args.oha);
        let args = parse_args(strings(&[
            "--seconds",
            "1",
            "--latency-seconds",
            "3",
            "--settle-seconds",
            "2",
            "--rounds",
            "2",
            "--out",
            "/tmp/b.md",
            "--no-oha",
            "--v8-flag",
            "--max-semi-space-size=1",
        ]))
        .unwrap();
        assert_eq!((args.seconds, args.latency_seconds, args.rounds), (1, 3, 2));
        assert_eq!(args.settle_seconds, 2);
        assert_eq!(args.out, PathBuf::from("/tmp/b.md"));
        assert!(!args.oha);
        assert_eq!(args.v8_flags, ["--max-semi-space-size=1"]);
        let err = parse_args(strings(&["--rounds", "0"])).unwrap_err();
        assert!(err.to_string().contains("above 0"), "{err}");
        assert!(parse_args(strings(&["--seconds"])).is_err());
        assert!(parse_args(strings(&["--latency-seconds", "0"])).is_err());
        assert!(parse_args(strings(&["--fast", "1"])).is_err());
    }

    #[test]
    fn reads_loopback_addresses() {
        assert_eq!(
            addr_of("http://127.0.0.1:8787").unwrap(),
            "127.0.0.1:8787".parse::<SocketAddr>().unwrap()
        );
        assert!(addr_of("https://example.com").is_err());
    }

    fn outcome(statuses: &[(u16, u64)], errors: u64) -> Outcome {
        Outcome {
            duration: Duration::from_secs(1),
            statuses: statuses.iter().copied().collect(),
            errors,
            latencies_us: vec![],
        }
    }

    #[test]
    fn verifies_runs() {
        let ok = outcome(&[(200, 1000)], 0);
        verify_run(Expect::Miss, Kind::Ours, &ok, 1000).unwrap();
        assert!(verify_run(Expect::Miss, Kind::Ours, &ok, 10).is_err());
        verify_run(Expect::Hit, Kind::Hono, &ok, 3).unwrap();
        assert!(verify_run(Expect::Hit, Kind::Hono, &ok, 500).is_err());
        let refused = outcome(&[(200, 40), (429, 960)], 0);
        verify_run(Expect::Refused, Kind::Nginx, &refused, 40).unwrap();
        let leaky = outcome(&[(200, 150), (429, 850)], 0);
        assert!(verify_run(Expect::Refused, Kind::Nginx, &leaky, 100).is_err());
        let preflight = outcome(&[(204, 1000)], 0);
        verify_run(Expect::Preflight, Kind::Ours, &preflight, 0).unwrap();
        assert!(verify_run(Expect::Preflight, Kind::Ours, &preflight, 1).is_err());
        assert!(verify_run(Expect::Miss, Kind::Ours, &outcome(&[(200, 1000)], 5), 1000).is_err());
        assert!(verify_run(Expect::Miss, Kind::Ours, &outcome(&[], 0), 0).is_err());
        // The origin alone has no policy: only failures count.
        verify_run(
            Expect::Preflight,
            Kind::Origin,
            &outcome(&[(405, 10)], 0),
            10,
        )
        .unwrap();
    }

    #[test]
    fn rows_cover_the_four_cases() {
        let rows = rows(1000);
        let expects: Vec<Expect> = rows.iter().map(|r| r.expect).collect();
        assert_eq!(
            expects,
            [
                Expect::Miss,
                Expect::Hit,
                Expect::Preflight,
                Expect::Refused
            ]
        );
        assert!(matches!(rows[3].clients, Clients::Fixed(_)));
        assert_eq!(
            rows[2].request_line(),
            "OPTIONS /api/venues, origin: https://wyn.app, access-control-request-method: POST, access-control-request-headers: content-type"
        );
    }
}
