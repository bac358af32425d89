//! Latency and outcome metrics: per-minute cells keyed by bounded dimensions, each with DDSketch
//! latency sketches (1 % relative error, mergeable), and the queries the admin API answers.
//!
//! ```
//! use wyn_edge_shared::metrics::{Cell, Key, Query, Snapshot};
//! let mut snapshot = Snapshot::default();
//! let key = Key { minute: 100, route: "api".into(), method: "read".into(), status: "2xx".into(), cache: "hit".into(), rate_limit: "pass".into(), version: "v1".into() };
//! let mut cell = Cell::default();
//! cell.record(12.0, None, 512, false);
//! snapshot.add(key, cell);
//! let answer = snapshot.summarize(&Query::parse("window=5m&group_by=route").unwrap(), 100);
//! assert_eq!(answer.groups[0].requests, 1);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};

use crate::admin::API_VERSION;
use crate::config::units;

/// A latency sketch in milliseconds, 1 % relative error. Serialised as the sketch, or `null` when
/// empty (an empty sketch's min and max are infinite, which JSON cannot hold).
#[derive(Clone)]
pub struct Sketch(DDSketch);

impl Serialize for Sketch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.0.count() > 0).then_some(&self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Sketch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<DDSketch>::deserialize(d)?.map_or_else(Self::default, Self))
    }
}

impl Default for Sketch {
    fn default() -> Self {
        Self(DDSketch::new(Config::defaults()))
    }
}

impl std::fmt::Debug for Sketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sketch({} values)", self.0.count())
    }
}

impl Sketch {
    /// Adds one value (ms).
    pub fn add(&mut self, ms: f64) {
        self.0.add(ms.max(0.0));
    }
    /// Merges another sketch in.
    pub fn merge(&mut self, other: &Sketch) {
        // Sketches made with the same config always merge.
        let _ = self.0.merge(&other.0);
    }
    /// The `q` quantile, if any value was added.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.0.quantile(q).ok().flatten()
    }
    /// The largest value added.
    pub fn max(&self) -> Option<f64> {
        self.0.max()
    }
    /// How many values were added.
    pub fn count(&self) -> usize {
        self.0.count()
    }
}

/// The dimensions of one cell; each has a bounded set of values whatever clients send.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    /// Minutes since the Unix epoch.
    pub minute: u64,
    /// Route group from the config (`other` for the rest).
    pub route: String,
    /// `read` (GET, HEAD, OPTIONS) or `write`.
    pub method: String,
    /// `1xx` to `5xx`.
    pub status: String,
    /// `hit`, `stale`, `miss`, `bypass` or `none`.
    pub cache: String,
    /// `pass`, `refused` or `shadow`.
    pub rate_limit: String,
    /// The worker version that served.
    pub version: String,
}

/// What one cell holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cell {
    /// Requests.
    pub count: u64,
    /// Responses the edge or the origin failed (5xx).
    pub errors: u64,
    /// Response bytes declared (`Content-Length`), when known.
    pub bytes_out: u64,
    /// Edge arrival to response head, ms.
    pub total: Sketch,
    /// Origin fetch to its response head, ms.
    pub origin: Sketch,
}

impl Cell {
    /// Records one request.
    pub fn record(&mut self, total_ms: f64, origin_ms: Option<f64>, bytes_out: u64, error: bool) {
        self.count += 1;
        self.errors += u64::from(error);
        self.bytes_out += bytes_out;
        self.total.add(total_ms);
        if let Some(o) = origin_ms {
            self.origin.add(o);
        }
    }

    /// Merges another cell in.
    pub fn merge(&mut self, other: &Cell) {
        self.count += other.count;
        self.errors += other.errors;
        self.bytes_out += other.bytes_out;
        self.total.merge(&other.total);
        self.origin.merge(&other.origin);
    }
}

/// Cells, mergeable.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// The cells, by key.
    pub cells: BTreeMap<String, (Key, Cell)>,
}

fn key_text(k: &Key) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}",
        k.minute, k.route, k.method, k.status, k.cache, k.rate_limit, k.version
    )
}

/// A dimension to group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Route group.
    Route,
    /// Worker version.
    Version,
    /// Status class.
    Status,
    /// Method class.
    Method,
    /// Cache outcome.
    Cache,
}

impl Dimension {
    fn of(self, k: &Key) -> &str {
        match self {
            Self::Route => &k.route,
            Self::Version => &k.version,
            Self::Status => &k.status,
            Self::Method => &k.method,
            Self::Cache => &k.cache,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::Route => "route",
            Self::Version => "version",
            Self::Status => "status",
            Self::Method => "method",
            Self::Cache => "cache",
        }
    }
}

/// A metrics query: `window=15m&group_by=route,version&route=chat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Seconds back from now (5 minutes to 7 days).
    pub window_secs: u64,
    /// Dimensions to group by.
    pub group_by: Vec<Dimension>,
    /// Only this route group.
    pub route: Option<String>,
}

impl Query {
    /// Parses a query string; says what is wrong with a bad one.
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut q = Self {
            window_secs: 900,
            group_by: vec![Dimension::Route],
            route: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "window" => {
                    let d = units::parse_duration(value).map_err(|e| format!("window: {e}"))?;
                    if d.as_secs() < 60 || d.as_secs() > 7 * 86_400 {
                        return Err(format!(
                            "window: expected from \"1m\" to \"7d\", found {value:?}"
                        ));
                    }
                    q.window_secs = d.as_secs();
                }
                "group_by" => {
                    q.group_by = value
                        .split(',')
                        .filter(|v| !v.is_empty())
                        .map(|v| match v {
                            "route" => Ok(Dimension::Route),
                            "version" => Ok(Dimension::Version),
                            "status" => Ok(Dimension::Status),
                            "method" => Ok(Dimension::Method),
                            "cache" => Ok(Dimension::Cache),
                            _ => Err(format!("group_by: expected route, version, status, method or cache, found {v:?}")),
                        })
                        .collect::<Result<_, _>>()?;
                }
                "route" => q.route = Some(value.to_owned()),
                _ => {
                    return Err(format!(
                        "unknown parameter {name:?}; expected window, group_by or route"
                    ));
                }
            }
        }
        Ok(q)
    }
}

/// One group's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupSummary {
    /// The group's dimension values.
    pub group: BTreeMap<String, String>,
    /// Requests in the window.
    pub requests: u64,
    /// Requests per second over the window.
    pub rps: f64,
    /// Share of 4xx answers (429 included).
    pub rate_4xx: f64,
    /// Share of 5xx answers.
    pub rate_5xx: f64,
    /// Share of requests refused by a rate limit.
    pub rate_429: f64,
    /// Hits over requests that could use the cache (hit, stale, miss).
    pub cache_hit_ratio: Option<f64>,
    /// Latency quantiles, ms.
    pub p50: Option<f64>,
    /// 90th percentile, ms.
    pub p90: Option<f64>,
    /// 95th percentile, ms.
    pub p95: Option<f64>,
    /// 99th percentile, ms.
    pub p99: Option<f64>,
    /// Slowest, ms.
    pub max: Option<f64>,
    /// Origin 95th percentile, ms.
    pub origin_p95: Option<f64>,
    /// The merged total-latency sketch, for clients that merge further.
    pub sketch: Sketch,
}

/// The answer to a [`Query`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricsAnswer {
    /// [`API_VERSION`] of the edge that answered.
    pub api_version: u32,
    /// The window, in seconds.
    pub window_secs: u64,
    /// Cells dropped because an isolate held too many (bounded memory).
    pub dropped: u64,
    /// One entry per group.
    pub groups: Vec<GroupSummary>,
}

impl Snapshot {
    /// Adds (merges) one cell.
    pub fn add(&mut self, key: Key, cell: Cell) {
        self.cells
            .entry(key_text(&key))
            .and_modify(|(_, c)| c.merge(&cell))
            .or_insert((key, cell));
    }

    /// Merges another snapshot in.
    pub fn merge(&mut self, other: &Snapshot) {
        for (key, cell) in other.cells.values() {
            self.add(key.clone(), cell.clone());
        }
    }

    /// Answers a query at minute `now_minute`.
    pub fn summarize(&self, query: &Query, now_minute: u64) -> MetricsAnswer {
        let first = now_minute.saturating_sub(query.window_secs / 60);
        let mut groups: BTreeMap<Vec<String>, Tally> = BTreeMap::new();
        for (key, cell) in self.cells.values() {
            if key.minute < first
                || key.minute > now_minute
                || query.route.as_ref().is_some_and(|r| *r != key.route)
            {
                continue;
            }
            let group: Vec<String> = query
                .group_by
                .iter()
                .map(|d| d.of(key).to_owned())
                .collect();
            groups.entry(group).or_default().add(key, cell);
        }
        let window = query.window_secs.max(1) as f64;
        let groups = groups
            .into_iter()
            .map(|(values, t)| {
                let n = t.cell.count.max(1) as f64;
                // Inserted one by one: `collect` into a map sorts with a stable sort compiled
                // for this one pair type (3 KB of wasm), for a handful of entries.
                let mut group = BTreeMap::new();
                for (d, value) in query.group_by.iter().zip(values) {
                    group.insert(d.name().to_owned(), value);
                }
                GroupSummary {
                    group,
                    requests: t.cell.count,
                    rps: t.cell.count as f64 / window,
                    rate_4xx: t.c4xx as f64 / n,
                    rate_5xx: t.c5xx as f64 / n,
                    rate_429: t.refused as f64 / n,
                    cache_hit_ratio: (t.hits + t.misses > 0)
                        .then(|| t.hits as f64 / (t.hits + t.misses) as f64),
                    p50: t.cell.total.quantile(0.5),
                    p90: t.cell.total.quantile(0.9),
                    p95: t.cell.total.quantile(0.95),
                    p99: t.cell.total.quantile(0.99),
                    max: t.cell.total.max(),
                    origin_p95: t.cell.origin.quantile(0.95),
                    sketch: t.cell.total,
                }
            })
            .collect();
        MetricsAnswer {
            api_version: API_VERSION,
            window_secs: query.window_secs,
            dropped: 0,
            groups,
        }
    }
}

/// One group's cells added up, with the counts the rates need.
#[derive(Default)]
struct Tally {
    cell: Cell,
    c4xx: u64,
    c5xx: u64,
    refused: u64,
    hits: u64,
    misses: u64,
}

impl Tally {
    fn add(&mut self, key: &Key, cell: &Cell) {
        self.cell.merge(cell);
        let n = cell.count;
        match key.status.as_str() {
            "4xx" => self.c4xx += n,
            "5xx" => self.c5xx += n,
            _ => {}
        }
        if key.rate_limit == "refused" {
            self.refused += n;
        }
        match key.cache.as_str() {
            "hit" | "stale" => self.hits += n,
            "miss" => self.misses += n,
            _ => {}
        }
    }
}

/// The OpenMetrics / Prometheus text exposition of a summary grouped by route and version.
pub fn prometheus(answer: &MetricsAnswer) -> String {
    let mut out = String::new();
    out.push_str("# TYPE wyn_edge_requests counter\n");
    for g in &answer.groups {
        out.push_str(&format!(
            "wyn_edge_requests_total{{{}}} {}\n",
            labels(g),
            g.requests
        ));
    }
    out.push_str("# TYPE wyn_edge_latency_ms summary\n");
    for g in &answer.groups {
        for (q, v) in [
            ("0.5", g.p50),
            ("0.9", g.p90),
            ("0.95", g.p95),
            ("0.99", g.p99),
        ] {
            if let Some(v) = v {
                out.push_str(&format!(
                    "wyn_edge_latency_ms{{{},quantile=\"{q}\"}} {v:.3}\n",
                    labels(g)
                ));
            }
        }
        out.push_str(&format!(
            "wyn_edge_latency_ms_count{{{}}} {}\n",
            labels(g),
            g.requests
        ));
    }
    out.push_str("# TYPE wyn_edge_error_ratio gauge\n");
    for g in &answer.groups {
        out.push_str(&format!(
            "wyn_edge_error_ratio{{{},class=\"5xx\"}} {:.6}\n",
            labels(g),
            g.rate_5xx
        ));
        out.push_str(&format!(
            "wyn_edge_error_ratio{{{},class=\"4xx\"}} {:.6}\n",
            labels(g),
            g.rate_4xx
        ));
    }
    out.push_str("# EOF\n");
    out
}

fn labels(g: &GroupSummary) -> String {
    g.group
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests;
