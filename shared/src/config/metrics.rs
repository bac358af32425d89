//! Metrics settings: `[vars.EDGE.metrics]`.
//!
//! ```toml
//! [vars.EDGE.metrics]
//! max_cells = 2000        # per isolate; past it new cells are dropped and counted
//! flush_after = 5000      # an isolate sends its cells to the aggregator after this many requests
//! flush_every = "10s"     # or this long after its last flush
//! shards = 4              # aggregator Durable Objects (each isolate writes to one)
//! [[vars.EDGE.metrics.route_groups]]   # the first matching group names a request's route
//! name = "chat"
//! path = "/api/chat"
//! ```

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::rate_limit::is_path_pattern;

/// The metrics settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether requests are recorded at all (`Server-Timing` is sent either way).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Route groups, first match wins; the rest is `other`. Keeps cardinality bounded.
    #[serde(default = "wyn_groups")]
    pub route_groups: Vec<RouteGroup>,
    /// Most cells (minute × dimensions) one isolate holds.
    #[serde(default = "max_cells")]
    pub max_cells: u32,
    /// An isolate flushes its cells to the aggregator after this many requests... A flush is a
    /// Durable Object request (billed, and a storage write): every 200 requests cost a busy
    /// isolate 10-25 % of its throughput in the peer benchmark, so the time bound does the work.
    #[serde(default = "flush_after")]
    pub flush_after: u32,
    /// ...or this long after its last flush, whichever comes first.
    #[serde(default = "flush_every", with = "super::units::duration")]
    pub flush_every: std::time::Duration,
    /// Aggregator Durable Objects; each isolate writes to one, queries merge them all.
    #[serde(default = "shards")]
    pub shards: u32,
}

fn yes() -> bool {
    true
}
fn flush_after() -> u32 {
    5_000
}
fn flush_every() -> std::time::Duration {
    std::time::Duration::from_secs(10)
}
fn shards() -> u32 {
    4
}

/// One route group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteGroup {
    /// Its name in metrics.
    pub name: String,
    /// The paths it covers.
    pub path: String,
}

fn wyn_groups() -> Vec<RouteGroup> {
    [
        ("chat", "/api/chat"),
        ("api", "/api/*"),
        ("venues", "/venues/*"),
        ("static", "/static/*"),
    ]
    .map(|(name, path)| RouteGroup {
        name: name.into(),
        path: path.into(),
    })
    .to_vec()
}

fn max_cells() -> u32 {
    2_000
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            route_groups: wyn_groups(),
            max_cells: max_cells(),
            flush_after: flush_after(),
            flush_every: flush_every(),
            shards: shards(),
        }
    }
}

impl MetricsConfig {
    /// Checks the settings; `at` is `EDGE.metrics`.
    pub fn validate(&self, at: &str, errors: &mut Vec<ConfigError>) {
        for (i, g) in self.route_groups.iter().enumerate() {
            let ok_name = (1..=32).contains(&g.name.len())
                && g.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                })
                && g.name != "other";
            if !ok_name {
                errors.push(ConfigError {
                    field: format!("{at}.route_groups[{i}].name"),
                    message: format!(
                        "expected 1 to 32 of a-z, 0-9, - and _ (not \"other\"), found {:?}",
                        g.name
                    ),
                });
            }
            if !is_path_pattern(&g.path) {
                errors.push(ConfigError {
                    field: format!("{at}.route_groups[{i}].path"),
                    message: format!("expected a path like \"/api/*\", found {:?}", g.path),
                });
            }
        }
        if !(1..=100_000).contains(&self.flush_after) {
            errors.push(ConfigError {
                field: format!("{at}.flush_after"),
                message: format!("expected 1 to 100000, found {}", self.flush_after),
            });
        }
        if self.flush_every.is_zero() || self.flush_every > std::time::Duration::from_secs(300) {
            errors.push(ConfigError {
                field: format!("{at}.flush_every"),
                message: format!(
                    "expected a duration above 0 and at most \"5m\", found {:?}",
                    super::units::format_duration(self.flush_every)
                ),
            });
        }
        if !(1..=64).contains(&self.shards) {
            errors.push(ConfigError {
                field: format!("{at}.shards"),
                message: format!("expected 1 to 64, found {}", self.shards),
            });
        }
        if !(10..=100_000).contains(&self.max_cells) {
            errors.push(ConfigError {
                field: format!("{at}.max_cells"),
                message: format!("expected 10 to 100000, found {}", self.max_cells),
            });
        }
    }
}
