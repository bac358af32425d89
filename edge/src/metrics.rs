//! Recording each request's latency and outcome in isolate memory, bounded: route groups come
//! from the config (so cardinality does not follow the paths clients invent), and past
//! `max_cells` new cells are dropped and counted rather than grown.
//!
//! ```
//! use wyn_edge::metrics::{Outcome, Recorder};
//! use wyn_edge_shared::config::metrics::MetricsConfig;
//! let mut r = Recorder::new(&MetricsConfig::default());
//! r.record(&Outcome { now_ms: 6_000_000.0, path: "/api/chat", method: "POST", status: 200, cache: "bypass",
//!     rate_limit: "pass", version: "v1", total_ms: 900.0, origin_ms: Some(880.0), bytes_out: 0 });
//! assert_eq!(r.snapshot().cells.len(), 1);
//! ```

use hashbrown::{HashMap, HashSet};

use wyn_edge_shared::config::metrics::MetricsConfig;
use wyn_edge_shared::metrics::{Cell, Key, Snapshot};

use crate::rate_limit::path_pattern::{PathPattern, normalize};

/// Minutes of history an isolate keeps before its oldest cells go.
const KEEP_MINUTES: u64 = 7 * 24 * 60;

/// One request's outcome.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    /// When it ended, ms since the epoch.
    pub now_ms: f64,
    /// Its path.
    pub path: &'a str,
    /// Its method.
    pub method: &'a str,
    /// The status sent.
    pub status: u16,
    /// `hit`, `stale`, `miss`, `bypass` or `none`.
    pub cache: &'a str,
    /// `pass` or `refused`.
    pub rate_limit: &'a str,
    /// The worker version.
    pub version: &'a str,
    /// Arrival to response head, ms.
    pub total_ms: f64,
    /// Origin fetch to its response head, ms, when the origin was asked.
    pub origin_ms: Option<f64>,
    /// Declared response size.
    pub bytes_out: u64,
}

/// Batches sent but not yet acknowledged, kept for a retry with the next flush. Past this many,
/// the oldest is dropped (and its requests counted as dropped): a broken aggregator never grows
/// an isolate's memory without bound.
pub const MAX_IN_FLIGHT: usize = 8;

/// A batch of cells on its way to the aggregator, with an id that makes a retry idempotent.
/// Read as a [`Window`] with an `id`: the worker links one deserializer for both (400 B of
/// wasm gzip), and the JSON of either is what it was.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Window")]
pub struct Batch {
    /// Unique across isolates: the isolate's id and a counter.
    pub id: String,
    /// The cells.
    pub snapshot: Snapshot,
}

/// The isolate's cells: those not yet flushed, and the batches in flight.
pub struct Recorder {
    groups: Vec<(PathPattern, String)>,
    cells: HashMap<Key, Cell>,
    max_cells: usize,
    dropped: u64,
    in_flight: Vec<Batch>,
    next_batch: u64,
    requests_pending: u64,
    last_flush_ms: f64,
}

impl Recorder {
    /// A recorder for validated settings.
    pub fn new(config: &MetricsConfig) -> Self {
        Self {
            groups: config
                .route_groups
                .iter()
                .map(|g| (PathPattern::new(&g.path), g.name.clone()))
                .collect(),
            cells: HashMap::new(),
            max_cells: config.max_cells as usize,
            dropped: 0,
            in_flight: Vec::new(),
            next_batch: 0,
            requests_pending: 0,
            last_flush_ms: 0.0,
        }
    }

    /// The route group of a path: the first that matches, else `other`.
    pub fn route(&self, path: &str) -> &str {
        let path = normalize(path);
        self.groups
            .iter()
            .find(|(p, _)| p.matches(&path))
            .map_or("other", |(_, name)| name.as_str())
    }

    /// Records one request.
    pub fn record(&mut self, o: &Outcome<'_>) {
        let minute = (o.now_ms / 60_000.0) as u64;
        let key = Key {
            minute,
            route: self.route(o.path).to_owned(),
            method: if matches!(o.method, "GET" | "HEAD" | "OPTIONS") {
                "read"
            } else {
                "write"
            }
            .into(),
            status: format!("{}xx", (o.status / 100).clamp(1, 5)),
            cache: o.cache.into(),
            rate_limit: o.rate_limit.into(),
            version: o.version.into(),
        };
        if !self.cells.contains_key(&key) && self.cells.len() >= self.max_cells {
            self.cells.retain(|k, _| k.minute + KEEP_MINUTES >= minute);
            if self.cells.len() >= self.max_cells {
                self.dropped += 1;
                return;
            }
        }
        self.cells.entry(key).or_default().record(
            o.total_ms,
            o.origin_ms,
            o.bytes_out,
            o.status >= 500,
        );
        self.requests_pending += 1;
    }

    /// Whether a flush is due: `after` requests recorded or `every_ms` elapsed since the last.
    pub fn flush_due(&self, now_ms: f64, after: u64, every_ms: f64) -> bool {
        self.requests_pending > 0
            && (self.requests_pending >= after || now_ms - self.last_flush_ms >= every_ms)
    }

    /// Moves the unflushed cells into a new batch and returns every batch in flight (older ones
    /// are retried). `isolate` makes the ids unique.
    pub fn take_batches(&mut self, isolate: &str, now_ms: f64) -> Vec<Batch> {
        self.last_flush_ms = now_ms;
        if !self.cells.is_empty() {
            let mut snapshot = Snapshot::default();
            for (k, c) in self.cells.drain() {
                snapshot.add(k, c);
            }
            self.next_batch += 1;
            self.in_flight.push(Batch {
                id: format!("{isolate}:{}", self.next_batch),
                snapshot,
            });
            self.requests_pending = 0;
        }
        while self.in_flight.len() > MAX_IN_FLIGHT {
            let lost = self.in_flight.remove(0);
            self.dropped += lost
                .snapshot
                .cells
                .values()
                .map(|(_, c)| c.count)
                .sum::<u64>();
        }
        self.in_flight.clone()
    }

    /// The aggregator stored this batch.
    pub fn acknowledge(&mut self, id: &str) {
        self.in_flight.retain(|b| b.id != id);
    }

    /// What this isolate holds that the aggregator does not: the unflushed cells and the batches
    /// in flight whose ids are not in `stored`.
    pub fn unflushed(&self, stored: &HashSet<String>) -> Snapshot {
        let mut s = self.snapshot();
        for b in self.in_flight.iter().filter(|b| !stored.contains(&b.id)) {
            s.merge(&b.snapshot);
        }
        s
    }

    /// The unflushed cells, as a mergeable snapshot.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for (k, c) in &self.cells {
            s.add(k.clone(), c.clone());
        }
        s
    }

    /// Requests not recorded because the isolate held `max_cells` cells.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Batch ids a window remembers; past this many the oldest go (a retry comes within seconds).
pub const MAX_WINDOW_BATCHES: usize = 4_096;

/// One aggregator's minute: the cells merged into it and the ids of the batches they came from,
/// stored as one value so that cells and ids change together and a retried batch merges once.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// The merged cells.
    pub snapshot: Snapshot,
    /// Ids of the batches merged, oldest first. (`ids` in a shard's answer before windows were
    /// answered whole: read during a deploy that mixes versions.)
    #[serde(default, alias = "ids")]
    pub batches: Vec<String>,
    /// Only in a [`Batch`] on its way in (see there); never written.
    #[serde(default, skip_serializing)]
    pub id: String,
}

impl TryFrom<Window> for Batch {
    type Error = &'static str;

    fn try_from(w: Window) -> Result<Self, Self::Error> {
        if w.id.is_empty() {
            return Err("missing field `id`");
        }
        Ok(Self {
            id: w.id,
            snapshot: w.snapshot,
        })
    }
}

impl Window {
    /// Merges a batch's cells for this minute, unless that batch was merged before; returns
    /// whether it merged.
    pub fn merge_batch(&mut self, id: &str, cells: &Snapshot) -> bool {
        if self.batches.iter().any(|b| b == id) {
            return false;
        }
        self.snapshot.merge(cells);
        self.batches.push(id.to_owned());
        if self.batches.len() > MAX_WINDOW_BATCHES {
            let excess = self.batches.len() - MAX_WINDOW_BATCHES;
            self.batches.drain(..excess);
        }
        true
    }
}

/// A batch's cells split by the minute they belong to.
pub fn by_minute(snapshot: &Snapshot) -> std::collections::BTreeMap<u64, Snapshot> {
    let mut minutes = std::collections::BTreeMap::<u64, Snapshot>::new();
    for (key, cell) in snapshot.cells.values() {
        minutes
            .entry(key.minute)
            .or_default()
            .add(key.clone(), cell.clone());
    }
    minutes
}

/// The cache outcome from a `Cache-Status` value.
pub fn cache_class(cache_status: Option<&str>) -> &'static str {
    match cache_status {
        None => "none",
        Some(s) if s.contains("detail=stale") => "stale",
        Some(s) if s.contains(";hit") => "hit",
        Some(s) if s.contains("fwd=bypass") => "bypass",
        Some(_) => "miss",
    }
}

/// The `Server-Timing` value: the edge's total, the origin's share, the cache outcome.
pub fn server_timing(total_ms: f64, origin_ms: Option<f64>, cache: &str) -> String {
    // Tenths of a millisecond, written as integers: on every response, and `{:.1}` of an f64
    // costs several times more.
    let tenths = |ms: f64| {
        let t = (ms.max(0.0) * 10.0).round() as u64;
        format!("{}.{}", t / 10, t % 10)
    };
    match origin_ms {
        Some(o) => format!(
            "edge;dur={}, origin;dur={}, cache;desc={cache}",
            tenths(total_ms),
            tenths(o)
        ),
        None => format!("edge;dur={}, cache;desc={cache}", tenths(total_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wyn_edge_shared::metrics::Query;

    fn outcome(path: &str, status: u16, total: f64) -> Outcome<'_> {
        Outcome {
            now_ms: 60_000.0 * 1_000.0,
            path,
            method: "GET",
            status,
            cache: "miss",
            rate_limit: "pass",
            version: "v1",
            total_ms: total,
            origin_ms: Some(total - 1.0),
            bytes_out: 10,
        }
    }

    #[test]
    fn a_window_merges_each_batch_once_and_bounds_its_ids() {
        let mut r = Recorder::new(&MetricsConfig::default());
        r.record(&outcome("/api/a", 200, 5.0));
        r.record(&Outcome {
            now_ms: 60_000.0 * 1_001.0,
            ..outcome("/api/a", 502, 7.0)
        });
        let batch = r.take_batches("iso", 1.0).remove(0);
        let minutes = by_minute(&batch.snapshot);
        assert_eq!(minutes.keys().copied().collect::<Vec<_>>(), [1_000, 1_001]);

        let mut window = Window::default();
        assert!(window.merge_batch(&batch.id, &minutes[&1_000]));
        assert!(!window.merge_batch(&batch.id, &minutes[&1_000]), "a retry");
        let summary = window
            .snapshot
            .summarize(&Query::parse("window=5m").unwrap(), 1_001);
        assert_eq!(summary.groups[0].requests, 1);

        // Stored, read back: the ids survive, so a retry after a restart merges once too.
        let mut back: Window =
            serde_json::from_str(&serde_json::to_string(&window).unwrap()).unwrap();
        assert!(!back.merge_batch(&batch.id, &minutes[&1_000]));
        for i in 0..MAX_WINDOW_BATCHES {
            back.merge_batch(&format!("other:{i}"), &Snapshot::default());
        }
        assert_eq!(back.batches.len(), MAX_WINDOW_BATCHES);
        assert!(
            !back.batches.contains(&batch.id),
            "the oldest id went first"
        );
    }

    #[test]
    fn routes_are_grouped_and_bounded() {
        let r = Recorder::new(&MetricsConfig::default());
        assert_eq!(r.route("/api/chat"), "chat");
        assert_eq!(r.route("/API//chat/"), "chat");
        assert_eq!(r.route("/api/venues"), "api");
        assert_eq!(r.route("/venues/7"), "venues");
        assert_eq!(r.route("/wp-login.php"), "other");
    }

    #[test]
    fn counts_and_quantiles() {
        let mut r = Recorder::new(&MetricsConfig::default());
        for ms in 1..=100 {
            r.record(&outcome("/api/venues", 200, f64::from(ms)));
        }
        r.record(&outcome("/api/venues", 502, 5.0));
        r.record(&outcome("/random/path/1", 404, 1.0));
        let answer = r
            .snapshot()
            .summarize(&Query::parse("window=5m").unwrap(), 1_000);
        let api = answer
            .groups
            .iter()
            .find(|g| g.group["route"] == "api")
            .unwrap();
        assert_eq!(api.requests, 101);
        assert!((api.rate_5xx - 1.0 / 101.0).abs() < 1e-9);
        let p99 = api.p99.unwrap();
        assert!((97.0..=101.0).contains(&p99), "{p99}");
        assert_eq!(
            answer
                .groups
                .iter()
                .find(|g| g.group["route"] == "other")
                .unwrap()
                .requests,
            1
        );
    }

    #[test]
    fn a_flood_of_new_cells_is_dropped_not_grown() {
        let config = MetricsConfig {
            max_cells: 10,
            ..MetricsConfig::default()
        };
        let mut r = Recorder::new(&config);
        for i in 0..100u32 {
            let version = format!("v{i}");
            let mut o = outcome("/api/x", 200, 1.0);
            o.version = &version;
            r.record(&o);
        }
        assert_eq!(r.snapshot().cells.len(), 10);
        assert_eq!(r.dropped(), 90);
    }

    #[test]
    fn batches_are_retried_until_acknowledged_and_bounded() {
        let mut r = Recorder::new(&MetricsConfig::default());
        r.record(&outcome("/api/a", 200, 1.0));
        assert!(r.flush_due(60_000_000.0, 1, 10_000.0));
        let first = r.take_batches("iso", 0.0);
        assert_eq!(first.len(), 1);
        assert!(r.snapshot().cells.is_empty());
        // Not acknowledged: it is still counted locally and sent again with the next batch.
        let none = HashSet::new();
        assert_eq!(
            r.unflushed(&none)
                .summarize(&Query::parse("window=5m").unwrap(), 1_000)
                .groups[0]
                .requests,
            1
        );
        r.record(&outcome("/api/a", 200, 1.0));
        let again = r.take_batches("iso", 1.0);
        assert_eq!(
            again.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
            ["iso:1", "iso:2"]
        );
        // Stored by the aggregator (its ids say so): not counted twice.
        let stored: HashSet<String> = ["iso:1".to_owned()].into();
        assert_eq!(
            r.unflushed(&stored)
                .summarize(&Query::parse("window=5m").unwrap(), 1_000)
                .groups[0]
                .requests,
            1
        );
        r.acknowledge("iso:1");
        r.acknowledge("iso:2");
        assert!(r.unflushed(&none).cells.is_empty());
        // A dead aggregator: at most MAX_IN_FLIGHT batches are kept, the rest counted as dropped.
        for i in 0..20 {
            r.record(&outcome("/api/a", 200, 1.0));
            r.take_batches("iso", f64::from(i));
        }
        assert_eq!(r.take_batches("iso", 99.0).len(), MAX_IN_FLIGHT);
        assert_eq!(r.dropped(), 12);
    }

    #[test]
    fn cache_classes_and_server_timing() {
        assert_eq!(cache_class(Some("wyn-edge;hit;ttl=3")), "hit");
        assert_eq!(
            cache_class(Some("wyn-edge;hit;ttl=-3;detail=stale-while-revalidate")),
            "stale"
        );
        assert_eq!(
            cache_class(Some("wyn-edge;fwd=uri-miss;fwd-status=200")),
            "miss"
        );
        assert_eq!(
            cache_class(Some("wyn-edge;fwd=bypass;detail=route")),
            "bypass"
        );
        assert_eq!(cache_class(None), "none");
        assert_eq!(
            server_timing(12.345, Some(10.0), "miss"),
            "edge;dur=12.3, origin;dur=10.0, cache;desc=miss"
        );
        assert_eq!(
            server_timing(1.0, None, "hit"),
            "edge;dur=1.0, cache;desc=hit"
        );
        assert_eq!(
            server_timing(0.96, Some(-1.0), "miss"),
            "edge;dur=1.0, origin;dur=0.0, cache;desc=miss"
        );
        assert_eq!(
            server_timing(f64::NAN, None, "none"),
            "edge;dur=0.0, cache;desc=none"
        );
    }

    #[test]
    fn batches_and_windows_keep_their_json_either_way() {
        let mut r = Recorder::new(&MetricsConfig::default());
        r.record(&outcome("/api/a", 200, 5.0));
        let batch = r.take_batches("iso", 1.0).remove(0);
        // What every version sends and reads: `{"id", "snapshot"}`, no `batches`.
        let text = serde_json::to_string(&batch).unwrap();
        assert!(
            text.starts_with(r#"{"id":"iso:"#) && !text.contains("batches"),
            "{text}"
        );
        let back: Batch = serde_json::from_str(&text).unwrap();
        assert_eq!((back.id, back.snapshot.cells.len()), (batch.id.clone(), 1));
        let no_id = serde_json::from_str::<Batch>(r#"{"snapshot":{"cells":{}}}"#);
        assert!(
            no_id
                .unwrap_err()
                .to_string()
                .contains("missing field `id`")
        );
        // A window never writes an id.
        let mut window = Window::default();
        window.merge_batch(&batch.id, &batch.snapshot);
        let text = serde_json::to_string(&window).unwrap();
        assert!(!text.contains(r#""id""#), "{text}");
    }
}
