//! What `make bench-peers` prints and writes to `docs/BENCHMARKS.md`: the machine, the tools, the
//! medians per row and system, the ratios of ours to each peer, the checks each run passed, and
//! the workers' garbage collections in a traced run of each row. Also the parsers of what the machine and the tools report about themselves (`/proc/cpuinfo`,
//! `/proc/meminfo`, `nginx -v`, oha's JSON).

use std::fmt::Write as _;

use anyhow::{Context, Result};

use super::gc::Profile;

/// The median (upper median for an even count); 0 for none.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `x` rounded down to two significant digits (a rate people can read: 4,837 -> 4,800).
pub fn two_digits_down(x: f64) -> f64 {
    if x < 10.0 {
        return x.floor().max(1.0);
    }
    let scale = 10f64.powi(x.log10().floor() as i32 - 1);
    (x / scale).floor() * scale
}

/// The processor's model name and the number of logical processors in `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> (String, usize) {
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown processor".to_owned());
    let count = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count();
    (model, count)
}

/// `MemTotal` of `/proc/meminfo`, in GiB.
pub fn mem_total_gib(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / (1024.0 * 1024.0))
}

/// The version in `nginx -v`'s line (`nginx version: nginx/1.22.1`).
pub fn nginx_version(text: &str) -> Option<String> {
    let at = text.find("nginx/")?;
    Some(text[at + 6..].split_whitespace().next()?.to_owned())
}

/// What one oha run reported (`--output-format json`).
#[derive(Debug, Clone, PartialEq)]
pub struct OhaRun {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// Answers by status.
    pub statuses: Vec<(u16, u64)>,
}

/// Reads oha's JSON summary: rate, latency percentiles (oha gives seconds) and statuses.
pub fn parse_oha(json: &str) -> Result<OhaRun> {
    let v: serde_json::Value = serde_json::from_str(json).context("oha's output is not JSON")?;
    let number = |path: &[&str]| -> Result<f64> {
        let mut at = &v;
        for key in path {
            at = at
                .get(key)
                .with_context(|| format!("oha's JSON has no {}", path.join(".")))?;
        }
        at.as_f64()
            .with_context(|| format!("oha's {} is not a number", path.join(".")))
    };
    let statuses = v
        .get("statusCodeDistribution")
        .and_then(|d| d.as_object())
        .map(|d| {
            d.iter()
                .filter_map(|(k, n)| Some((k.parse().ok()?, n.as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(OhaRun {
        rps: number(&["summary", "requestsPerSec"])?,
        p50_ms: number(&["latencyPercentiles", "p50"])? * 1000.0,
        p99_ms: number(&["latencyPercentiles", "p99"])? * 1000.0,
        p999_ms: number(&["latencyPercentiles", "p99.9"])? * 1000.0,
        statuses,
    })
}

/// One cell of the table: medians over the rounds.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Closed-loop requests/s.
    pub rps: f64,
    /// The worker processes' CPU time per answered request in the closed-loop runs, µs (the
    /// workers only): steadier than req/s on a shared machine.
    pub cpu_us: Option<f64>,
    /// Open-loop latencies at the row's rate, corrected, in ms.
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    /// The p99 of every latency run's answers taken together, ms: each run's p99 hangs on the few
    /// collections that fell in it, the pool's on all of them.
    pub p99_pooled: f64,
    /// Answers by status over every run of the cell, both phases.
    pub statuses: Vec<(u16, u64)>,
    /// Requests that reached the origin over every run, both phases (`None` for the origin).
    pub forwarded: Option<u64>,
    /// Each round's figures, in round order: ratios pair the systems' runs of one round.
    pub rounds: Vec<Round>,
}

/// One round's figures of one cell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Round {
    pub rps: f64,
    pub cpu_us: Option<f64>,
    pub p50: f64,
    pub p99: f64,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct RowReport {
    pub title: String,
    pub request: String,
    pub runtime: String,
    /// The open-loop rate of the latency runs.
    pub rate: f64,
    /// One cell per system, in [`Report::systems`] order.
    pub cells: Vec<Cell>,
    /// The workers' runs under `--trace-gc-nvp`, ours first (none: no such phase).
    pub traced: Vec<Traced>,
}

/// One worker's open-loop run at the row's rate with V8 tracing its collections.
#[derive(Debug, Clone)]
pub struct Traced {
    pub system: String,
    /// The run's p99, ms.
    pub p99: f64,
    pub gc: Profile,
}

/// Everything the document says.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub date: String,
    pub commit: String,
    pub machine: Vec<(String, String)>,
    pub tools: Vec<(String, String)>,
    pub sizes: Vec<(String, u64, u64)>,
    pub systems: Vec<String>,
    /// The systems (indices into [`Report::systems`]) whose p99 each round lists: the workers
    /// and the runtime's floor, whose tails move with their collectors.
    pub workers: Vec<usize>,
    pub rows: Vec<RowReport>,
    pub seconds: u32,
    /// How long each latency run of a worker lasts (nginx's and the origin's last `seconds`).
    pub latency_seconds: u32,
    /// How long a worker serves the row at its rate, unmeasured, straight before each latency run.
    pub settle_seconds: u32,
    pub rounds: usize,
    pub connections: usize,
    pub clients: u32,
    /// V8 flags given to both workers' raw workerd (none: workerd's defaults).
    pub v8_flags: Vec<String>,
    pub cross_check: Vec<String>,
    pub notes: Vec<String>,
}

const RATIO_HEADS: [&str; 8] = [
    "req/s / Hono",
    "req/s / nginx",
    "CPU / Hono",
    "p50 / Hono",
    "p50 / nginx",
    "p99 / Hono",
    "p99 pooled / Hono",
    "p99 / nginx",
];

/// The median over the rounds of `a`'s figure divided by `b`'s in the same round. The systems of
/// a round ran seconds apart, so a drift of the machine between rounds cancels out.
fn paired(a: &Cell, b: &Cell, figure: impl Fn(&Round) -> Option<f64>) -> String {
    let ratios: Vec<f64> = a
        .rounds
        .iter()
        .zip(&b.rounds)
        .filter_map(|(a, b)| Some((figure(a)?, figure(b)?)))
        .filter(|&(_, b)| b > 0.0)
        .map(|(a, b)| a / b)
        .collect();
    if ratios.is_empty() {
        "-".to_owned()
    } else {
        format!("{:.2}", median(ratios))
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "-".to_owned()
    }
}

fn cpu(us: Option<f64>) -> String {
    us.map_or_else(|| "-".to_owned(), |us| format!("{us:.1}"))
}

/// `value` with `digits` decimals, or "-" for none.
fn or_dash(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// One worker's line of the "Where the tails come from" table.
fn traced_line(t: &Traced) -> String {
    let gc = &t.gc;
    let others = if gc.others == 0 {
        "0".to_owned()
    } else {
        format!("{}, {:.2} ms", gc.others, gc.other_max_ms)
    };
    format!(
        "| {} | {:.3} | {} | {} | {} | {} | {} | {} / {} | {} | {others} |",
        t.system,
        t.p99,
        gc.scavenges,
        or_dash(gc.requests_per_scavenge(), 0),
        or_dash(gc.allocated_per_request().map(|b| b / 1000.0), 2),
        or_dash(gc.survived_per_request(), 0),
        or_dash(gc.handles_per_request(), 2),
        or_dash(gc.mean_scavenge_ms(), 2),
        or_dash((gc.scavenges > 0).then_some(gc.scavenge_max_ms), 2),
        or_dash(gc.weak_handles_share().map(|s| s * 100.0), 0) + " %",
    )
}

/// A sentence setting one worker's traced run beside another's, from their figures.
fn compare(a: &Traced, b: &Traced) -> String {
    let (x, y) = (&a.gc, &b.gc);
    let kb = |p: &Profile| or_dash(p.allocated_per_request().map(|b| b / 1000.0), 2);
    let mut line = format!(
        "{} allocated {} KB of JS per request against {}'s {}",
        a.system,
        kb(x),
        b.system,
        kb(y)
    );
    match (x.requests_per_scavenge(), y.requests_per_scavenge()) {
        (Some(every_x), Some(every_y)) => {
            let _ = write!(
                line,
                ", scavenged every {every_x:.0} requests against {every_y:.0}, pausing {} ms on \
                 average against {} (longest {:.2} against {:.2})",
                or_dash(x.mean_scavenge_ms(), 2),
                or_dash(y.mean_scavenge_ms(), 2),
                x.scavenge_max_ms,
                y.scavenge_max_ms
            );
        }
        _ => {
            let _ = write!(
                line,
                ", scavenged {} times against {}",
                x.scavenges, y.scavenges
            );
        }
    }
    let _ = write!(line, "; run p99 {:.3} ms against {:.3}.", a.p99, b.p99);
    line
}

/// System `i`'s letter in the Method section: A, B, ... (`?` past Z).
fn letter(i: usize) -> char {
    u8::try_from(i)
        .ok()
        .filter(|&i| i < 26)
        .map_or('?', |i| char::from(b'A' + i))
}

fn statuses(list: &[(u16, u64)]) -> String {
    let parts: Vec<String> = list.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    parts.join(", ")
}

impl Report {
    /// The table for a terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            let _ = writeln!(
                out,
                "\n{} | {} | {} | latency at {:.0} req/s",
                row.title, row.request, row.runtime, row.rate
            );
            let _ = writeln!(
                out,
                "{:<16} {:>10} {:>11} {:>9} {:>9} {:>9}",
                "system", "req/s", "CPU µs/req", "p50 ms", "p99 ms", "p99.9 ms"
            );
            for (system, cell) in self.systems.iter().zip(&row.cells) {
                let _ = writeln!(
                    out,
                    "{:<16} {:>10.0} {:>11} {:>9.3} {:>9.3} {:>9.3}",
                    system,
                    cell.rps,
                    cpu(cell.cpu_us),
                    cell.p50,
                    cell.p99,
                    cell.p999
                );
            }
        }
        let _ = writeln!(out, "\n{}", self.ratios_text());
        out
    }

    /// Ours against each peer, per row: throughput (above 1 is faster), then p50 and p99 (below 1
    /// is faster), each against Hono and against nginx.
    fn ratios(&self) -> Vec<(String, [String; 8])> {
        self.rows
            .iter()
            .map(|row| {
                let c = &row.cells;
                (
                    row.title.clone(),
                    [
                        paired(&c[0], &c[1], |r| Some(r.rps)),
                        paired(&c[0], &c[2], |r| Some(r.rps)),
                        paired(&c[0], &c[1], |r| r.cpu_us),
                        paired(&c[0], &c[1], |r| Some(r.p50)),
                        paired(&c[0], &c[2], |r| Some(r.p50)),
                        paired(&c[0], &c[1], |r| Some(r.p99)),
                        ratio(c[0].p99_pooled, c[1].p99_pooled),
                        paired(&c[0], &c[2], |r| Some(r.p99)),
                    ],
                )
            })
            .collect()
    }

    /// What the document says about V8's settings, which decide the workers' tails.
    fn v8_note(&self) -> String {
        let age = "Under this load V8 grows workerd's young generation (most of what a request \
             allocates survives the scavenges until a full GC), so scavenges lengthen and a \
             worker's p99 rises with the number of requests its process has served: 33 ms, then \
             62, 118 ... 236 ms over ten 8 s runs of a JS worker that only answers 204. The \
             faster worker serves more requests in the req/s runs, so both workers' processes \
             start again before the latency runs and serve the same warm-up: every latency run \
             finds them with equal histories.";
        if self.v8_flags.is_empty() {
            format!(
                "- Raw workerd runs with V8's defaults, as workerd ships them. {age} With \
                 `--v8-flag --max-semi-space-size=1` the tails hold still (10 to 12 ms for \
                 that worker), but the flag moves the workers' throughput unequally, so it is \
                 not the default."
            )
        } else {
            format!(
                "- Raw workerd runs with these V8 flags, the same for both workers (not workerd's \
                 defaults): `{}`. {age}",
                self.v8_flags.join(" ")
            )
        }
    }

    fn ratios_text(&self) -> String {
        let mut out = format!("{:<22}", "ratios of ours");
        for head in RATIO_HEADS {
            let _ = write!(out, " {head:>17}");
        }
        out.push('\n');
        for (title, values) in self.ratios() {
            let _ = write!(out, "{title:<22}");
            for v in values {
                let _ = write!(out, " {v:>17}");
            }
            out.push('\n');
        }
        out
    }

    /// Each round's p99 of the workers (and the floor), side by side: how far a single run's tail
    /// moves.
    fn p99_rounds(&self) -> String {
        let rounds = self.rounds;
        if rounds == 0 || self.workers.is_empty() {
            return String::new();
        }
        let names: Vec<&str> = self
            .workers
            .iter()
            .filter_map(|&w| self.systems.get(w).map(String::as_str))
            .collect();
        let mut md = format!(
            "\nEach round's p99 (ms), {}, in the order the rounds ran:\n\n| row |",
            names.join(" / ")
        );
        for round in 1..=rounds {
            let _ = write!(md, " round {round} |");
        }
        let _ = writeln!(md, "\n|---|{}", "---:|".repeat(rounds));
        for row in &self.rows {
            let _ = write!(md, "| {} |", row.title);
            for round in 0..rounds {
                let p99s: Vec<String> = self
                    .workers
                    .iter()
                    .map(|&w| {
                        row.cells
                            .get(w)
                            .and_then(|c| c.rounds.get(round))
                            .map_or_else(|| "-".to_owned(), |r| format!("{:.1}", r.p99))
                    })
                    .collect();
                let _ = write!(md, " {} |", p99s.join(" / "));
            }
            md.push('\n');
        }
        md
    }

    /// The systems as the letters [`Report::order_text`] uses: "A ours (wyn-edge), B Hono, ...".
    fn letters(&self) -> String {
        let named: Vec<String> = (self.systems.iter().enumerate())
            .map(|(i, name)| format!("{} {name}", letter(i)))
            .collect();
        named.join(", ")
    }

    /// The first four rounds' order, one letter per system: "B C D A, B A D C, ...".
    fn order_text(&self) -> String {
        let rounds: Vec<String> = (1..=4)
            .map(|round| {
                let letters: Vec<String> = super::order(self.systems.len(), round)
                    .map(|s| letter(s).to_string())
                    .collect();
                letters.join(" ")
            })
            .collect();
        format!("{}, ...", rounds.join(", "))
    }

    /// Whether any row has traced runs.
    fn traced(&self) -> bool {
        self.rows.iter().any(|r| !r.traced.is_empty())
    }

    /// The section on the workers' collections in the traced runs.
    fn tails(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "\n## Where the tails come from\n");
        let _ = writeln!(
            md,
            "After the latency rounds, both workers (and the floor) restart with `--trace-gc-nvp` \
             added to their V8 flags, serve the latency phase's warm-up, then run each row once \
             in open loop at its rate, {} s. V8 logs a line per collection; each run's figures \
             sum the lines it added, over the isolates of the worker's process (the worker's and the cache \
             service's, which share its thread). JS KB: V8's `allocated` (the heap's growth \
             since the previous collection) summed; survivors: young bytes a scavenge kept \
             (`new_space_survived`); handles: global handles a scavenge copied \
             (`nodes_copied_in_new`); weak-handle share: the part of the scavenge pauses in \
             `scavenge.weak_global_handles.identify` and `.process`; all per request answered.",
            self.latency_seconds
        );
        for row in self.rows.iter().filter(|r| !r.traced.is_empty()) {
            let _ = writeln!(md, "\n### {}, at {:.0} req/s\n", row.title, row.rate);
            let _ = writeln!(
                md,
                "| system | run p99 ms | scavenges | requests / scavenge | JS KB / request | \
                 survivors B / request | handles / request | scavenge pause mean / max ms | \
                 weak-handle share | other GCs (count, max pause) |"
            );
            let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            for t in &row.traced {
                let _ = writeln!(md, "{}", traced_line(t));
            }
            if let [a, b, rest @ ..] = row.traced.as_slice() {
                let _ = writeln!(md, "\n{}", compare(a, b));
                if let Some(floor) = rest.first() {
                    let _ = writeln!(md, "\n{}", compare(floor, a));
                }
            }
            let malformed: u64 = row.traced.iter().map(|t| t.gc.malformed).sum();
            if malformed > 0 {
                let _ = writeln!(
                    md,
                    "\n{malformed} GC lines of these runs could not be read and were skipped."
                );
            }
        }
        md
    }

    /// `docs/BENCHMARKS.md`.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Peer benchmarks\n");
        let _ = writeln!(
            md,
            "Generated by `make bench-peers` on {} from commit `{}`. Do not edit: run it again.\n",
            self.date, self.commit
        );
        let _ = writeln!(
            md,
            "wyn-edge (ours) against two peers doing the same job with the shipped WYN policy \
             (`wrangler.toml`, `[vars.EDGE]`), the demo origin alone as the network's floor and a \
             worker doing the least each row needs as the runtime's, on one machine in one run.\n"
        );
        let _ = writeln!(md, "## Machine\n");
        for (k, v) in &self.machine {
            let _ = writeln!(md, "- {k}: {v}");
        }
        let _ = writeln!(md, "\n## Tools\n");
        for (k, v) in &self.tools {
            let _ = writeln!(md, "- {k}: {v}");
        }
        let _ = writeln!(md, "\n## Sizes\n");
        let _ = writeln!(md, "| artifact | bytes | gzip -9 |\n|---|---:|---:|");
        for (name, raw, gz) in &self.sizes {
            let _ = writeln!(md, "| {name} | {raw} | {gz} |");
        }
        let _ = writeln!(md, "\n## Method\n");
        let _ = writeln!(
            md,
            "- Systems one after the other, in the order {} (`peers::order`, with {}), each round \
             running every row in its order: no system runs twice in a row or always straight \
             after the same one; {} rounds of every row; each cell is the median over the rounds. \
             All traffic stays on 127.0.0.1.",
            self.order_text(),
            self.letters(),
            self.rounds
        );
        let _ = writeln!(
            md,
            "- **req/s**: closed loop, {} keep-alive connections, {} s per run: the highest rate \
             the system sustains.",
            self.connections, self.seconds
        );
        let _ = writeln!(
            md,
            "- **p50 / p99 / p99.9**: open loop at the row's rate (half the slowest system's \
             req/s, the same for every system of the row), {} s per run of a worker ({} s for \
             nginx and the origin, which have no collector), after both workers restarted and \
             served one {} s run of each row at its rate, and each run of a worker straight \
             after {} s of the same load, unmeasured (back from a pause, V8 starts a worker's \
             young generation small and its scavenges short: a run straight after a pause \
             measures that transient, not the worker under steady traffic); each latency counts \
             from when the rate timer released the request, not from when a connection was free \
             to send it (corrected for coordinated omission, as oha's `--latency-correction` does). A \
             worker's p99 is set by its young-generation collections, which come every 0.1 to \
             3 s under this load: a run must be long enough to hold several.",
            self.latency_seconds, self.seconds, self.seconds, self.settle_seconds
        );
        if self.traced() {
            let _ = writeln!(
                md,
                "- **Where the tails come from**: a last phase, with `--trace-gc-nvp` added to \
                 both workers' V8 flags (see that section). Tracing costs a little per \
                 collection, so its p99 is not the table's."
            );
        }
        let _ = writeln!(
            md,
            "- Under raw workerd, Durable Objects (ours and Hono's) keep their storage in memory. \
             workerd runs a worker's objects on the thread that serves its requests; on local \
             disk, the metrics object's SQLite `fsync` after each flush (0.4 to 11 ms, every 2 \
             to 4 s, seen with `strace`) stalled every request in flight, which no production \
             isolate pays. The objects' CPU still counts."
        );
        let _ = writeln!(md, "{}", self.v8_note());
        let _ = writeln!(
            md,
            "- Before the first round, each system runs each row for {} s (closed loop), so \
             that both workers' code is compiled and optimised before it is measured.",
            self.seconds
        );
        let _ = writeln!(
            md,
            "- Requests of the miss, hit and preflight rows come from {} rotating client \
             addresses (`CF-Connecting-IP`), so no limiter refuses; the 429 row hammers one.",
            self.clients
        );
        let _ = writeln!(
            md,
            "- Before measuring, each row is checked on each system (and the bench stops if a \
             check fails): a miss reaches the origin, a hit does not (same \
             `x-origin-request-count` twice, plus `Cache-Status` / `X-Cache-Status`), a \
             preflight answers 204 with `Access-Control-Allow-Origin` and never reaches the \
             origin, the limited client gets 429. Every run is checked too: its statuses, and \
             how many requests reached the origin (the origin counts them)."
        );
        let _ = writeln!(md, "\n## Results\n");
        for row in &self.rows {
            let _ = writeln!(
                md,
                "### {}\n\n`{}`, workers under {}; latencies at {:.0} req/s.\n",
                row.title, row.request, row.runtime, row.rate
            );
            let _ = writeln!(
                md,
                "| system | req/s | CPU µs/req | p50 ms | p99 ms | p99.9 ms | answers (all runs) | reached the origin |"
            );
            let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---|---:|");
            for (system, cell) in self.systems.iter().zip(&row.cells) {
                let forwarded = cell
                    .forwarded
                    .map_or_else(|| "all".to_owned(), |n| n.to_string());
                let _ = writeln!(
                    md,
                    "| {} | {:.0} | {} | {:.3} | {:.3} | {:.3} | {} | {} |",
                    system,
                    cell.rps,
                    cpu(cell.cpu_us),
                    cell.p50,
                    cell.p99,
                    cell.p999,
                    statuses(&cell.statuses),
                    forwarded
                );
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md, "## Ratios of ours to the peers\n");
        let _ = writeln!(
            md,
            "Ours divided by the peer, round by round (the two ran seconds apart in each \
             round); each ratio is the median over the rounds, so it can differ from the ratio \
             of the medians above. req/s: above 1 means ours serves more. CPU (the worker \
             process's CPU time per request in the req/s runs, its cache service's included): \
             below 1 means ours spends less. p50 and p99: below 1 means ours \
             answers sooner. p99 pooled: the p99 of all {} of a worker's latency runs' answers \
             taken together (ours's over Hono's), which no single run's few collections decide.\n",
            self.rounds
        );
        let _ = write!(md, "| row |");
        for head in RATIO_HEADS {
            let _ = write!(md, " {head} |");
        }
        let _ = writeln!(md, "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (title, values) in self.ratios() {
            let _ = writeln!(md, "| {title} | {} |", values.join(" | "));
        }
        md.push_str(&self.p99_rounds());
        if self.traced() {
            md.push_str(&self.tails());
        }
        if !self.cross_check.is_empty() {
            let _ = writeln!(md, "\n## Cross-check with oha\n");
            for line in &self.cross_check {
                let _ = writeln!(md, "{line}");
            }
        }
        let _ = writeln!(md, "\n## What differs between the systems\n");
        for note in &self.notes {
            let _ = writeln!(md, "- {note}");
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_rates() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), 3.0);
        assert_eq!(median([]), 0.0);
        assert_eq!(two_digits_down(4_837.0), 4_800.0);
        assert_eq!(two_digits_down(12_999.0), 12_000.0);
        assert_eq!(two_digits_down(95.5), 95.0);
        assert_eq!(two_digits_down(7.9), 7.0);
        assert_eq!(two_digits_down(0.2), 1.0);
    }

    #[test]
    fn reads_the_machine() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo), ("AMD EPYC 7B13".to_owned(), 2));
        assert_eq!(cpu_model(""), ("unknown processor".to_owned(), 0));
        let meminfo = "MemTotal:       24684372 kB\nMemFree:        22181360 kB\n";
        let gib = mem_total_gib(meminfo).unwrap();
        assert!((gib - 23.54).abs() < 0.01, "{gib}");
        assert_eq!(mem_total_gib("nothing"), None);
        assert_eq!(
            nginx_version("nginx version: nginx/1.22.1\n").as_deref(),
            Some("1.22.1")
        );
        assert_eq!(nginx_version("command not found"), None);
    }

    #[test]
    fn reads_oha_json() {
        let json = r#"{
          "summary": {"successRate": 1.0, "total": 5.0, "requestsPerSec": 12345.6},
          "latencyPercentiles": {"p10": 0.0001, "p50": 0.00125, "p99": 0.004, "p99.9": 0.0102},
          "statusCodeDistribution": {"204": 61000, "429": 3},
          "errorDistribution": {}
        }"#;
        let run = parse_oha(json).unwrap();
        assert_eq!(run.rps, 12345.6);
        assert!((run.p50_ms - 1.25).abs() < 1e-9);
        assert!((run.p99_ms - 4.0).abs() < 1e-9);
        assert!((run.p999_ms - 10.2).abs() < 1e-9);
        assert_eq!(run.statuses, vec![(204, 61000), (429, 3)]);
        let err = parse_oha(r#"{"summary": {}}"#).unwrap_err();
        assert!(err.to_string().contains("summary.requestsPerSec"), "{err}");
        assert!(parse_oha("not json").is_err());
    }

    #[test]
    fn writes_the_document() {
        let cell = |rps: f64, p99: f64| {
            let round = Round {
                rps,
                cpu_us: (rps < 10_000.0).then_some(rps / 100.0),
                p50: 1.0,
                p99,
            };
            Cell {
                rps,
                cpu_us: round.cpu_us,
                p50: 1.0,
                p99,
                p999: 3.0,
                p99_pooled: p99 * 1.5,
                statuses: vec![(200, 10)],
                forwarded: Some(10),
                rounds: vec![round; 3],
            }
        };
        let report = Report {
            date: "2026-11-27".into(),
            commit: "abc1234".into(),
            systems: vec![
                "ours".into(),
                "Hono".into(),
                "nginx".into(),
                "origin".into(),
                "floor".into(),
            ],
            workers: vec![0, 1, 4],
            rows: vec![RowReport {
                title: "Miss".into(),
                request: "GET /api/health".into(),
                runtime: "raw workerd".into(),
                rate: 2000.0,
                cells: vec![
                    cell(9000.0, 2.0),
                    cell(8000.0, 4.0),
                    cell(18000.0, 1.0),
                    cell(30000.0, 0.5),
                    cell(9500.0, 0.75),
                ],
                traced: vec![],
            }],
            rounds: 3,
            ..Report::default()
        };
        let md = report.markdown();
        assert!(md.starts_with("# Peer benchmarks\n"));
        assert!(md.contains("| ours | 9000 | 90.0 | 1.000 | 2.000 | 3.000 | 200: 10 | 10 |"));
        assert!(md.contains("| nginx | 18000 | - | 1.000 |"));
        assert!(md.contains("| Miss | 1.12 | 0.50 | 1.12 | 1.00 | 1.00 | 0.50 | 0.50 | 2.00 |"));
        assert!(md.contains(
            "| row | round 1 | round 2 | round 3 |\n|---|---:|---:|---:|\n\
             | Miss | 2.0 / 4.0 / 0.8 | 2.0 / 4.0 / 0.8 | 2.0 / 4.0 / 0.8 |\n"
        ));
        assert!(md.contains("Each round's p99 (ms), ours / Hono / floor, in the order"));
        assert!(md.contains(
            "in the order B C D E A, B A E D C, D E A B C, D C B A E, ... (`peers::order`, with A \
             ours, B Hono, C nginx, D origin, E floor)"
        ));
        assert!(md.contains("- Raw workerd runs with V8's defaults, as workerd ships them."));
        let flagged = Report {
            v8_flags: vec!["--max-semi-space-size=1".into()],
            ..Report::default()
        };
        assert!(flagged.markdown().contains(
            "the same for both workers (not workerd's defaults): `--max-semi-space-size=1`."
        ));
        assert!(!md.contains("Where the tails come from"));
        let table = report.table();
        assert!(table.contains("latency at 2000 req/s"));
        assert_eq!(ratio(1.0, 0.0), "-");
    }

    #[test]
    fn writes_where_the_tails_come_from() {
        let traced = |system: &str, p99: f64, gc: Profile| Traced {
            system: system.into(),
            p99,
            gc,
        };
        let ours = Profile {
            requests: 17_000,
            scavenges: 5,
            scavenge_pause_ms: 90.0,
            scavenge_max_ms: 23.0,
            weak_handles_ms: 45.0,
            allocated: 68_000_000,
            survived: 3_400_000,
            handles_copied: 69_700,
            others: 1,
            other_max_ms: 8.25,
            malformed: 0,
        };
        let hono = Profile {
            scavenges: 10,
            scavenge_pause_ms: 120.0,
            scavenge_max_ms: 13.0,
            weak_handles_ms: 30.0,
            allocated: 136_000_000,
            others: 0,
            malformed: 2,
            ..ours
        };
        let report = Report {
            seconds: 5,
            rows: vec![RowReport {
                title: "4. rate-limited (429)".into(),
                request: "GET /api/health".into(),
                runtime: "raw workerd".into(),
                rate: 3400.0,
                cells: vec![Cell::default(); 4],
                traced: vec![
                    traced("ours", 6.5, ours),
                    traced("Hono", 4.25, hono),
                    traced("floor", 9.0, hono),
                ],
            }],
            ..Report::default()
        };
        let md = report.markdown();
        assert!(
            md.contains("- **Where the tails come from**: a last phase, with `--trace-gc-nvp`")
        );
        assert!(md.contains("\n## Where the tails come from\n"));
        assert!(md.contains("### 4. rate-limited (429), at 3400 req/s"));
        assert!(md.contains(
            "| ours | 6.500 | 5 | 3400 | 4.00 | 200 | 4.10 | 18.00 / 23.00 | 50 % | 1, 8.25 ms |"
        ));
        assert!(md.contains(
            "| Hono | 4.250 | 10 | 1700 | 8.00 | 200 | 4.10 | 12.00 / 13.00 | 25 % | 0 |"
        ));
        assert!(md.contains(
            "ours allocated 4.00 KB of JS per request against Hono's 8.00, scavenged every 3400 \
             requests against 1700, pausing 18.00 ms on average against 12.00 (longest 23.00 \
             against 13.00); run p99 6.500 ms against 4.250."
        ));
        assert!(md.contains(
            "floor allocated 8.00 KB of JS per request against ours's 4.00, scavenged every 1700 \
             requests against 3400"
        ));
        assert!(md.contains("4 GC lines of these runs could not be read and were skipped."));

        let idle = Profile {
            requests: 100,
            ..Profile::default()
        };
        let line = traced_line(&traced("ours", 1.0, idle));
        assert_eq!(
            line,
            "| ours | 1.000 | 0 | - | 0.00 | 0 | 0.00 | - / - | - % | 0 |"
        );
        assert!(
            compare(&traced("ours", 1.0, idle), &traced("Hono", 2.0, hono))
                .contains(", scavenged 0 times against 10;")
        );
    }

    #[test]
    fn ratios_pair_the_rounds() {
        let cell = |rps: &[f64]| Cell {
            rounds: rps
                .iter()
                .map(|&rps| Round {
                    rps,
                    ..Round::default()
                })
                .collect(),
            ..Cell::default()
        };
        // The machine slowed in round 2 for both: ours was 10 % ahead in every round, though
        // the medians of each (100 and 180) would say 0.56x.
        let ours = cell(&[110.0, 55.0, 220.0]);
        let peer = cell(&[100.0, 50.0, 200.0]);
        assert_eq!(paired(&ours, &peer, |r| Some(r.rps)), "1.10");
        assert_eq!(paired(&ours, &cell(&[0.0, 0.0, 0.0]), |r| Some(r.rps)), "-");
        assert_eq!(paired(&ours, &peer, |r| r.cpu_us), "-");
    }
}
