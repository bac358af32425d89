//! The edge configuration: the `[vars.EDGE]` object of `wrangler.toml`, plus the `ORIGIN_URL` var.
//!
//! Parsing reports the first value that does not fit the schema, with its path; validation then
//! reports every rule the parsed values break. Both name the field (`EDGE.health.probe_timeout`) and
//! say what was expected and what was found.
//!
//! ```
//! use wyn_edge_shared::config::EdgeConfig;
//! let err = EdgeConfig::from_json(r#"{"origin_timeout": "sixty"}"#).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"EDGE.origin_timeout: expected a duration like "60s" or "5m", found "sixty""#
//! );
//! ```

pub mod cache;
pub mod cors;
pub mod metrics;
pub mod public_suffix;
pub mod rate_limit;
pub mod slo;
pub mod units;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Name of the `[vars]` entry that holds the structured config.
pub const EDGE_VAR: &str = "EDGE";
/// Name of the `[vars]` entry that holds the origin URL.
pub const ORIGIN_VAR: &str = "ORIGIN_URL";
/// Name of the binding that turns on test-only behaviour: `"panic"` lets the admin API's
/// `/__edge/test/panic` make the worker panic, to prove recovery. Only the test suite sets it
/// (`--var`, or a raw workerd config); `wynctl config check` and `deploy` refuse a wrangler.toml
/// that does.
pub const TEST_HOOKS_VAR: &str = "EDGE_TEST_HOOKS";

/// Workers refuse request bodies above this on every plan, so a larger limit is meaningless.
const MAX_BODY_CEILING: u64 = 500 * 1000 * 1000;
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
const MAX_HEALTH_CACHE: Duration = Duration::from_secs(60);

/// One thing wrong with the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Where: `EDGE.health.probe_timeout`, `ORIGIN_URL`.
    pub field: String,
    /// What was expected and what was found.
    pub message: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything wrong with a config; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The validated edge configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// Longest wait for the origin's response head before answering 504.
    #[serde(default = "defaults::origin_timeout", with = "units::duration")]
    pub origin_timeout: Duration,
    /// Largest request body the edge forwards, judged from `Content-Length` (413 above it).
    #[serde(default = "defaults::max_request_body", with = "units::size")]
    pub max_request_body: u64,
    /// The version reported when the platform does not say (no version metadata binding).
    #[serde(default)]
    pub version: Option<String>,
    /// How the edge probes the origin for `/__edge/health`.
    #[serde(default)]
    pub health: HealthConfig,
    /// The shared cache; enabled with defaults when absent.
    #[serde(default)]
    pub cache: cache::CacheConfig,
    /// Metrics: route groups and bounds.
    #[serde(default)]
    pub metrics: metrics::MetricsConfig,
    /// Service levels, for `wynctl stats` and the deploy gates.
    #[serde(default)]
    pub slo: slo::SloConfig,
    /// The CORS policy; without one the edge leaves CORS to the origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<cors::CorsConfig>,
    /// Rate-limit rules; a request must pass every rule that matches it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<rate_limit::RateLimitRule>,
}

/// The origin probe behind `/__edge/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Path on the origin that answers 2xx when the app is well.
    #[serde(default = "defaults::probe_path")]
    pub probe_path: String,
    /// Longest wait for the probe.
    #[serde(default = "defaults::probe_timeout", with = "units::duration")]
    pub probe_timeout: Duration,
    /// How long one probe result is reused, so a flood of health checks cannot flood the origin.
    #[serde(default = "defaults::probe_cache", with = "units::duration")]
    pub cache_for: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            probe_path: defaults::probe_path(),
            probe_timeout: defaults::probe_timeout(),
            cache_for: defaults::probe_cache(),
        }
    }
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            origin_timeout: defaults::origin_timeout(),
            max_request_body: defaults::max_request_body(),
            version: None,
            health: HealthConfig::default(),
            cache: cache::CacheConfig::default(),
            metrics: metrics::MetricsConfig::default(),
            slo: slo::SloConfig::default(),
            cors: None,
            rate_limits: Vec::new(),
        }
    }
}

mod defaults {
    use std::time::Duration;

    pub fn origin_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn max_request_body() -> u64 {
        100 * 1000 * 1000
    }
    pub fn probe_path() -> String {
        "/api/health".into()
    }
    pub fn probe_timeout() -> Duration {
        Duration::from_secs(2)
    }
    pub fn probe_cache() -> Duration {
        Duration::from_secs(5)
    }
}

impl EdgeConfig {
    /// Parses and validates the `EDGE` object given as JSON text.
    pub fn from_json(text: &str) -> Result<Self, ConfigErrors> {
        let value = serde_json::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError::new(
                EDGE_VAR,
                format!("expected a JSON object, found invalid JSON ({e})"),
            )])
        })?;
        Self::from_value(value)
    }

    /// Parses and validates the `EDGE` object given as a JSON value (what `wynctl` gets from TOML).
    pub fn from_value(value: serde_json::Value) -> Result<Self, ConfigErrors> {
        // Pretty-printed, so that an error's line names its field (see `from_pretty_json`).
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| ConfigErrors(vec![ConfigError::new(EDGE_VAR, e.to_string())]))?;
        Self::from_pretty_json(&text)
    }

    /// Parses and validates the `EDGE` object given as pretty-printed JSON text: one member or
    /// element per line, as `serde_json::to_string_pretty` and JavaScript's
    /// `JSON.stringify(value, null, 2)` write it (the worker has the runtime print it, so it
    /// links no `serde_json::Value`). Other text parses too; its errors then name the field less
    /// precisely.
    ///
    /// serde_json reports the line of the first value that does not fit, and every line of such
    /// text belongs to one path (`rate_limits[0].period`). Path tracking in the deserializer
    /// (`serde_path_to_error`) compiled a second copy of every config type's deserializer into
    /// the worker: a tenth of its code.
    pub fn from_pretty_json(text: &str) -> Result<Self, ConfigErrors> {
        let config: Self = serde_json::from_str(text).map_err(|e| {
            let error = |field: String, message: String| {
                ConfigErrors(vec![ConfigError::new(field, message)])
            };
            if e.is_syntax() || e.is_eof() {
                return error(
                    EDGE_VAR.to_owned(),
                    format!("expected a JSON object, found invalid JSON ({e})"),
                );
            }
            let found = match text.trim_start().bytes().next() {
                Some(b'{') => None,
                Some(b'[') => Some("an array"),
                Some(b'"') => Some("a string"),
                Some(b't' | b'f') => Some("a boolean"),
                Some(b'n') => Some("null"),
                _ => Some("a number"),
            };
            if let Some(found) = found {
                return error(
                    EDGE_VAR.to_owned(),
                    format!("expected an object (a TOML table), found {found}"),
                );
            }
            let path = line_path(text, e.line());
            let field = if path.is_empty() {
                EDGE_VAR.to_owned()
            } else {
                format!("{EDGE_VAR}.{path}")
            };
            let message = e.to_string();
            let position = format!(" at line {} column {}", e.line(), e.column());
            let message = message.strip_suffix(&position).unwrap_or(&message);
            error(field, message.to_owned())
        })?;
        config.validate().map(|()| config)
    }

    /// Checks the rules a parsed config must keep; reports every one it breaks.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, field: &str, message: String| {
            if !ok {
                errors.push(ConfigError::new(format!("{EDGE_VAR}.{field}"), message));
            }
        };
        let fmt = |d: Duration| format!("{:?}", units::format_duration(d));
        check(
            !self.origin_timeout.is_zero() && self.origin_timeout <= MAX_TIMEOUT,
            "origin_timeout",
            format!(
                "expected a duration above 0 and at most \"10m\", found {}",
                fmt(self.origin_timeout)
            ),
        );
        check(
            self.max_request_body > 0 && self.max_request_body <= MAX_BODY_CEILING,
            "max_request_body",
            format!(
                "expected a size above 0 and at most \"500MB\", found {} bytes",
                self.max_request_body
            ),
        );
        if let Some(v) = &self.version {
            check(
                !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_graphic()),
                "version",
                format!("expected 1 to 64 visible ASCII characters, found {v:?}"),
            );
        }
        let h = &self.health;
        check(
            h.probe_path.starts_with('/') && !h.probe_path.starts_with("//"),
            "health.probe_path",
            format!(
                "expected a path starting with \"/\", found {:?}",
                h.probe_path
            ),
        );
        check(
            !h.probe_timeout.is_zero() && h.probe_timeout <= self.origin_timeout,
            "health.probe_timeout",
            format!(
                "expected a duration above 0 and at most origin_timeout ({}), found {}",
                fmt(self.origin_timeout),
                fmt(h.probe_timeout)
            ),
        );
        check(
            h.cache_for <= MAX_HEALTH_CACHE,
            "health.cache_for",
            format!("expected at most \"1m\", found {}", fmt(h.cache_for)),
        );
        self.cache
            .validate(&format!("{EDGE_VAR}.cache"), &mut errors);
        self.metrics
            .validate(&format!("{EDGE_VAR}.metrics"), &mut errors);
        self.slo.validate(&format!("{EDGE_VAR}.slo"), &mut errors);
        if let Some(cors) = &self.cors {
            cors.validate(&format!("{EDGE_VAR}.cors"), &mut errors);
        }
        rate_limit::validate_rules(&self.rate_limits, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

/// The path of line `line` (from 1) of pretty-printed JSON: a value's opening line is its key's
/// (or its element's) line, and a closing `}` or `]` belongs to the object or array it closes.
/// Paths are written as `cache.routes[2].ttl`; the root's is empty. Keys are shown as written
/// (escapes and all).
fn line_path(text: &str, line: usize) -> String {
    // The containers open at this line: their paths, and an array's next index.
    let mut open: Vec<(String, Option<usize>)> = Vec::new();
    let mut path = String::new();
    for l in text.lines().take(line) {
        let l = l.trim();
        if l.starts_with(['}', ']']) {
            path = open.pop().map(|(p, _)| p).unwrap_or_default();
            continue;
        }
        path = match open.last_mut() {
            None => String::new(),
            Some((parent, Some(i))) => {
                *i += 1;
                format!("{parent}[{}]", *i - 1)
            }
            Some((parent, None)) => {
                let key = member_key(l);
                if parent.is_empty() {
                    key.to_owned()
                } else {
                    format!("{parent}.{key}")
                }
            }
        };
        // A string value ends with `"`: only an opening line ends with `{` or `[`.
        let l = l.strip_suffix(',').unwrap_or(l);
        if l.ends_with('{') {
            open.push((path.clone(), None));
        } else if l.ends_with('[') {
            open.push((path.clone(), Some(0)));
        }
    }
    path
}

/// The key of an object member's line, `"key": value`, between its quotes.
fn member_key(line: &str) -> &str {
    let Some(rest) = line.strip_prefix('"') else {
        return line;
    };
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            '"' if !escaped => return &rest[..i],
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
    }
    rest
}

/// Parses `ORIGIN_URL`: an absolute `http` or `https` URL with a host and nothing after the path.
///
/// The returned string has no trailing slash, so `origin + request_path` is the upstream URL.
pub fn parse_origin_url(text: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError::new(ORIGIN_VAR, format!("{why}, found {text:?}"));
    let url = OriginUrl::parse(text.trim())
        .ok_or_else(|| bad("expected an absolute URL like \"https://app.example\""))?;
    if !matches!(url.scheme.as_str(), "http" | "https") {
        return Err(bad("expected an http or https URL"));
    }
    if url.host.is_empty() {
        return Err(bad("expected a URL with a host"));
    }
    if url.has_query_fragment_or_credentials {
        return Err(bad("expected no query, fragment or credentials"));
    }
    Ok(url.href.trim_end_matches('/').to_owned())
}

/// The parts of a WHATWG URL that [`parse_origin_url`] checks. The worker asks the runtime's own
/// `URL` (the `url` crate with its IDNA tables is a tenth of the wasm); native builds use the
/// `url` crate, which implements the same standard.
struct OriginUrl {
    scheme: String,
    host: String,
    has_query_fragment_or_credentials: bool,
    href: String,
}

impl OriginUrl {
    #[cfg(not(target_arch = "wasm32"))]
    fn parse(text: &str) -> Option<Self> {
        let url = url::Url::parse(text).ok()?;
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str().unwrap_or_default().to_owned(),
            has_query_fragment_or_credentials: url.query().is_some()
                || url.fragment().is_some()
                || !url.username().is_empty()
                || url.password().is_some(),
            href: url.as_str().to_owned(),
        })
    }

    #[cfg(target_arch = "wasm32")]
    fn parse(text: &str) -> Option<Self> {
        let url = web_sys::Url::new(text).ok()?;
        let href = url.href();
        let scheme = url.protocol();
        Some(Self {
            scheme: scheme.strip_suffix(':').unwrap_or(&scheme).to_owned(),
            host: url.hostname(),
            // `search` and `hash` read "" for an empty query or fragment as well as for none; the
            // serialization keeps the `?` or `#` of an empty one (the path escapes both).
            has_query_fragment_or_credentials: href.contains(['?', '#'])
                || !url.username().is_empty()
                || !url.password().is_empty(),
            href,
        })
    }
}

#[cfg(test)]
mod tests;
