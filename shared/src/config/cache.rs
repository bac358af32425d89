//! The shared cache: `[vars.EDGE.cache]` in wrangler.toml.
//!
//! ```toml
//! [vars.EDGE.cache]
//! enabled = true
//! nextjs = true                    # Next.js routing headers are always part of the key
//! drop_query_params = ["utm_*", "fbclid", "gclid"]   # tracking parameters, not part of the key
//! sort_query = true                # ?b=1&a=2 and ?a=2&b=1 share an entry
//! max_object_size = "100MB"        # larger declared bodies are not stored
//!
//! [[vars.EDGE.cache.routes]]       # the first route whose path matches applies
//! path = "/static/*"
//! ttl = "365d"                     # overrides the origin's freshness (never its no-store/private)
//!
//! [[vars.EDGE.cache.routes]]
//! path = "/api/chat"
//! post = true                      # opt-in: POST answers keyed by a SHA-256 of the body
//! post_max_body = "16KB"
//! ttl = "1h"
//! ignore_query = true
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rate_limit::is_path_pattern;
use super::{ConfigError, units};

/// The cache's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Whether the edge caches at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Whether Next.js routing headers are part of every key (routes may override).
    #[serde(default = "yes")]
    pub nextjs: bool,
    /// Query parameters left out of the key: names, or prefixes ending in `*`.
    #[serde(default = "tracking_params")]
    pub drop_query_params: Vec<String>,
    /// Whether the remaining query parameters are sorted in the key.
    #[serde(default = "yes")]
    pub sort_query: bool,
    /// Largest response stored, judged from `Content-Length`.
    #[serde(default = "max_object_size", with = "units::size")]
    pub max_object_size: u64,
    /// How often an isolate re-reads the purge generations.
    #[serde(default = "purge_refresh", with = "units::duration")]
    pub purge_refresh: Duration,
    /// Per-route rules; the first matching one applies.
    #[serde(default)]
    pub routes: Vec<CacheRoute>,
}

/// One route's caching rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheRoute {
    /// Which paths the rule covers (same patterns as rate limits).
    pub path: String,
    /// Never look up nor store.
    #[serde(default)]
    pub bypass: bool,
    /// Freshness that overrides the origin's `max-age`/`s-maxage`/`Expires`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "units::opt_duration"
    )]
    pub ttl: Option<Duration>,
    /// Leave the whole query out of the key.
    #[serde(default)]
    pub ignore_query: bool,
    /// Override of the top-level `nextjs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nextjs: Option<bool>,
    /// Cache POST answers (2xx only), keyed by the path and a SHA-256 of the body.
    #[serde(default)]
    pub post: bool,
    /// Largest POST body hashed into a key; larger ones bypass.
    #[serde(default = "post_max_body", with = "units::size")]
    pub post_max_body: u64,
}

fn yes() -> bool {
    true
}
fn tracking_params() -> Vec<String> {
    ["utm_*", "fbclid", "gclid"].map(String::from).to_vec()
}
fn max_object_size() -> u64 {
    100 * 1000 * 1000
}
fn purge_refresh() -> Duration {
    Duration::from_secs(2)
}
fn post_max_body() -> u64 {
    16 * 1024
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            nextjs: true,
            drop_query_params: tracking_params(),
            sort_query: true,
            max_object_size: max_object_size(),
            purge_refresh: purge_refresh(),
            routes: Vec::new(),
        }
    }
}

const MAX_TTL: Duration = Duration::from_secs(366 * 86_400);
/// The Cache API stores at most 512 MB an object.
const MAX_OBJECT: u64 = 512 * 1000 * 1000;

impl CacheConfig {
    /// The route rule for a path normalised for matching, if any.
    pub fn route_index(&self, matches: impl Fn(&str) -> bool) -> Option<usize> {
        self.routes.iter().position(|r| matches(&r.path))
    }

    /// Checks every rule; `at` is the table's place, `EDGE.cache`.
    pub fn validate(&self, at: &str, errors: &mut Vec<ConfigError>) {
        let mut err = |field: String, message: String| {
            errors.push(ConfigError {
                field: format!("{at}.{field}"),
                message,
            })
        };
        for (i, p) in self.drop_query_params.iter().enumerate() {
            let name = p.strip_suffix('*').unwrap_or(p);
            if name.is_empty() || name.contains(['*', '&', '=', '#', ' ']) {
                err(
                    format!("drop_query_params[{i}]"),
                    format!("expected a parameter name or a prefix like \"utm_*\", found {p:?}"),
                );
            }
        }
        if self.max_object_size == 0 || self.max_object_size > MAX_OBJECT {
            err(
                "max_object_size".into(),
                format!(
                    "expected a size above 0 and at most \"512MB\", found {} bytes",
                    self.max_object_size
                ),
            );
        }
        if self.purge_refresh > Duration::from_secs(60) {
            err(
                "purge_refresh".into(),
                format!(
                    "expected at most \"1m\", found {:?}",
                    units::format_duration(self.purge_refresh)
                ),
            );
        }
        for (i, r) in self.routes.iter().enumerate() {
            if !is_path_pattern(&r.path) {
                err(
                    format!("routes[{i}].path"),
                    format!("expected a path like \"/static/*\", found {:?}", r.path),
                );
            }
            if let Some(ttl) = r.ttl
                && (ttl.is_zero() || ttl > MAX_TTL)
            {
                err(
                    format!("routes[{i}].ttl"),
                    format!(
                        "expected a duration above 0 and at most \"366d\", found {:?}",
                        units::format_duration(ttl)
                    ),
                );
            }
            if r.bypass && (r.ttl.is_some() || r.post) {
                err(
                    format!("routes[{i}].bypass"),
                    "a bypassed route neither stores nor has a ttl or post".into(),
                );
            }
            if r.post && r.ttl.is_none() {
                err(
                    format!("routes[{i}].ttl"),
                    "POST caching needs an explicit ttl".into(),
                );
            }
            if r.post_max_body == 0 || r.post_max_body > 1_000_000 {
                err(
                    format!("routes[{i}].post_max_body"),
                    format!(
                        "expected a size above 0 and at most \"1MB\", found {} bytes",
                        r.post_max_body
                    ),
                );
            }
        }
    }
}
