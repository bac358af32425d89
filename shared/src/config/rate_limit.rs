//! Rate-limit rules: `[[vars.EDGE.rate_limits]]` in wrangler.toml.
//!
//! ```toml
//! [[vars.EDGE.rate_limits]]
//! name = "chat"          # 1-32 of [a-z0-9_-]; shown in RateLimit headers and 429s
//! path = "/api/chat"     # exact path, "/venues/*" (any depth below), "/*" (everything)
//! except = []            # optional; paths under `path` left out, e.g. ["/api/*"]
//! methods = ["POST"]     # optional; all methods when absent
//! key = "ip"             # "ip" (CF-Connecting-IP, IPv6 by /64), "header:x-api-key", "global"
//! limit = 30             # requests ...
//! period = "60s"         # ... per period (at least 1s)
//! burst = 30             # optional; how many may come at once (default: limit)
//! scope = "global"       # "local" (per isolate, in memory) or "global" (exact, a Durable Object)
//! mode = "enforce"       # or "shadow": never refuses, counts what it would have refused
//! on_error = "deny"      # global only: what to do when the Durable Object cannot answer
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, units};

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRule {
    /// Unique name, used in headers, problems and metrics.
    pub name: String,
    /// Which paths the rule covers.
    pub path: String,
    /// Paths under `path` the rule leaves out (same pattern syntax).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
    /// Which methods the rule covers; all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// What a budget belongs to.
    #[serde(default)]
    pub key: KeySpec,
    /// Requests allowed per `period`.
    pub limit: u32,
    /// The window `limit` is counted over.
    #[serde(with = "units::duration")]
    pub period: Duration,
    /// Requests that may arrive at once; `limit` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Where the state lives.
    #[serde(default)]
    pub scope: Scope,
    /// Whether the rule refuses or only counts.
    #[serde(default)]
    pub mode: Mode,
    /// For `global` rules: the answer when the Durable Object cannot be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<OnError>,
    /// For `local` rules: the most keys one isolate tracks; the least recently seen go first.
    #[serde(default = "default_max_keys")]
    pub max_keys: u32,
}

/// Reads a unit variant by name: one of `names`, as a string. What a derived enum would
/// accept from the config, but a number or a list given for it fails as the wrong type
/// ("invalid type: integer `1`, expected `local` or `global`") rather than as a syntax error
/// ("expected value", which serde_json's enum reader says), so the error names the field.
fn unit_variant<'de, D: serde::Deserializer<'de>>(
    d: D,
    names: &'static [&'static str],
) -> Result<usize, D::Error> {
    struct Names(&'static [&'static str]);
    impl serde::de::Visitor<'_> for Names {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            for (i, name) in self.0.iter().enumerate() {
                let sep = match i {
                    0 => "",
                    _ if i + 1 == self.0.len() => " or ",
                    _ => ", ",
                };
                write!(f, "{sep}`{name}`")?;
            }
            Ok(())
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<usize, E> {
            self.0
                .iter()
                .position(|n| *n == v)
                .ok_or_else(|| E::unknown_variant(v, self.0))
        }
    }
    d.deserialize_str(Names(names))
}

/// `Deserialize` for a unit-only enum through [`unit_variant`]: `lowercase` names, in order.
macro_rules! unit_enum_deserialize {
    ($ty:ty, [$($variant:ident = $name:literal),+]) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                const VARIANTS: &[$ty] = &[$(<$ty>::$variant),+];
                unit_variant(d, &[$($name),+]).map(|i| VARIANTS[i])
            }
        }
    };
}

fn default_max_keys() -> u32 {
    50_000
}

/// What a rule's budget belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeySpec {
    /// The client address (`CF-Connecting-IP`; IPv6 by /64).
    #[default]
    Ip,
    /// The value of a request header, e.g. an API key. Without the header, the client address.
    Header(String),
    /// One budget for everyone.
    Global,
}

impl std::fmt::Display for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ip => f.write_str("ip"),
            Self::Header(name) => write!(f, "header:{name}"),
            Self::Global => f.write_str("global"),
        }
    }
}

impl std::str::FromStr for KeySpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ip" => Ok(Self::Ip),
            "global" => Ok(Self::Global),
            _ => match s.strip_prefix("header:") {
                Some(name) if is_header_name(name) => Ok(Self::Header(name.to_ascii_lowercase())),
                _ => Err(format!(
                    "expected \"ip\", \"global\" or \"header:<name>\", found {s:?}"
                )),
            },
        }
    }
}

impl Serialize for KeySpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a rule's state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// In each isolate's memory: nanoseconds, approximate across isolates.
    #[default]
    Local,
    /// In a Durable Object: exact across isolates and locations, one round trip.
    Global,
}

/// Whether a rule refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuses requests over the limit with 429.
    #[default]
    Enforce,
    /// Lets everything through and counts what it would have refused.
    Shadow,
}

/// What a global rule does when its Durable Object cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Let the request through (availability first).
    #[default]
    Allow,
    /// Refuse it (the limit guards money).
    Deny,
}

unit_enum_deserialize!(Scope, [Local = "local", Global = "global"]);
unit_enum_deserialize!(Mode, [Enforce = "enforce", Shadow = "shadow"]);
unit_enum_deserialize!(OnError, [Allow = "allow", Deny = "deny"]);

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const MAX_PERIOD: Duration = Duration::from_secs(86_400);
const MAX_LIMIT: u32 = 1_000_000;

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_rule_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Whether `path` is a pattern the matcher understands: starts with `/`; `*` only as a whole
/// segment; a trailing `/*` covers everything below.
pub fn is_path_pattern(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains("//")
        && !path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b == b'?' || b == b'#')
        && path.split('/').all(|seg| seg == "*" || !seg.contains('*'))
}

impl RateLimitRule {
    /// Requests that may arrive at once.
    pub fn effective_burst(&self) -> u32 {
        self.burst.unwrap_or(self.limit)
    }

    /// Checks the rule on its own; `at` is its place, like `EDGE.rate_limits[2]`.
    pub fn validate(&self, at: &str, errors: &mut Vec<ConfigError>) {
        let mut check = |ok: bool, field: &str, message: String| {
            if !ok {
                errors.push(ConfigError {
                    field: format!("{at}.{field}"),
                    message,
                });
            }
        };
        check(
            is_rule_name(&self.name),
            "name",
            format!(
                "expected 1 to 32 of a-z, 0-9, - and _, found {:?}",
                self.name
            ),
        );
        check(
            is_path_pattern(&self.path),
            "path",
            format!(
                "expected a path like \"/api/chat\" or \"/venues/*\" (`*` a whole segment), found {:?}",
                self.path
            ),
        );
        for (i, e) in self.except.iter().enumerate() {
            check(
                is_path_pattern(e),
                &format!("except[{i}]"),
                format!("expected a path like \"/api/*\" (`*` a whole segment), found {e:?}"),
            );
        }
        for (i, m) in self.methods.iter().enumerate() {
            check(
                METHODS.contains(&m.as_str()),
                &format!("methods[{i}]"),
                format!("expected one of {}, found {m:?}", METHODS.join(", ")),
            );
        }
        check(
            (1..=MAX_LIMIT).contains(&self.limit),
            "limit",
            format!(
                "expected a whole number from 1 to {MAX_LIMIT}, found {}",
                self.limit
            ),
        );
        check(
            self.period >= Duration::from_secs(1) && self.period <= MAX_PERIOD,
            "period",
            format!(
                "expected a duration from \"1s\" to \"1day\", found {:?}",
                units::format_duration(self.period)
            ),
        );
        if let Some(burst) = self.burst {
            check(
                (1..=MAX_LIMIT).contains(&burst),
                "burst",
                format!("expected a whole number from 1 to {MAX_LIMIT}, found {burst}"),
            );
        }
        check(
            self.on_error.is_none() || self.scope == Scope::Global,
            "on_error",
            "only applies to scope = \"global\"; remove it or make the rule global".into(),
        );
        check(
            (1..=1_000_000).contains(&self.max_keys),
            "max_keys",
            format!(
                "expected a whole number from 1 to 1000000, found {}",
                self.max_keys
            ),
        );
    }
}

/// Checks every rule and that their names are unique.
pub fn validate_rules(rules: &[RateLimitRule], errors: &mut Vec<ConfigError>) {
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("{}.rate_limits[{i}]", super::EDGE_VAR);
        rule.validate(&at, errors);
        if let Some(first) = rules[..i].iter().position(|r| r.name == rule.name) {
            errors.push(ConfigError {
                field: format!("{at}.name"),
                message: format!(
                    "{:?} is already the name of rate_limits[{first}]",
                    rule.name
                ),
            });
        }
    }
}
