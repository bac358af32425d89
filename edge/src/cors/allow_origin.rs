//! Which origins a policy allows: exact serialised origins (compared byte for byte, so scheme,
//! host and port all count) and patterns whose one `*` stands for the characters of one DNS label.
//!
//! ```
//! use wyn_edge::cors::allow_origin::AllowOrigin;
//! let allow = AllowOrigin::new(&["https://wyn.app".into(), "https://wyn-*.vercel.app".into()]);
//! assert!(allow.allows("https://wyn-git-main.vercel.app"));
//! assert!(!allow.allows("https://wyn.app.evil.com"));
//! assert!(!allow.allows("https://wyn-a.b.vercel.app"));
//! ```

use hashbrown::{HashMap, HashSet};

use wyn_edge_shared::config::cors::{OriginSpec, parse_origin};

/// Longest `Origin` value worth looking at; longer ones match nothing.
pub const MAX_ORIGIN_LEN: usize = 300;

/// One pattern, under the rest of its host: scheme, port, and its first label's fixed parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    scheme: String,
    port: Option<u16>,
    prefix: String,
    suffix: String,
}

/// The compiled `origins` of a validated policy: exact origins in a set, patterns grouped by
/// everything but their first label, so a decision costs one parse and two lookups however many
/// origins are allowed, and no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowOrigin {
    any: bool,
    exact: HashSet<String>,
    /// The patterns, by the host after their first label.
    patterns: HashMap<String, Vec<Shape>>,
}

impl Shape {
    fn admits(&self, origin: &OriginSpec<'_>, label: &str) -> bool {
        origin.scheme == self.scheme
            && origin.port == self.port
            && label.len() > self.prefix.len() + self.suffix.len()
            && label.starts_with(self.prefix.as_str())
            && label.ends_with(self.suffix.as_str())
    }
}

impl AllowOrigin {
    /// Compiles validated `origins` (see `shared::config::cors`).
    pub fn new(origins: &[String]) -> Self {
        let mut allow = Self {
            any: false,
            exact: HashSet::new(),
            patterns: HashMap::new(),
        };
        for o in origins {
            if o == "*" {
                allow.any = true;
            } else if o.contains('*') {
                let Ok(spec) = parse_origin(o) else { continue };
                let Some((label, rest)) = spec.host.split_once('.') else {
                    continue;
                };
                let Some((prefix, suffix)) = label.split_once('*') else {
                    continue;
                };
                allow
                    .patterns
                    .entry(rest.to_owned())
                    .or_default()
                    .push(Shape {
                        scheme: spec.scheme.to_owned(),
                        port: spec.port,
                        prefix: prefix.to_owned(),
                        suffix: suffix.to_owned(),
                    });
            } else {
                allow.exact.insert(o.clone());
            }
        }
        allow
    }

    /// Whether every origin is allowed (`"*"`).
    pub fn is_any(&self) -> bool {
        self.any
    }

    /// Whether the `Origin` a browser sent is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        if self.any || self.exact.contains(origin) {
            return true;
        }
        if self.patterns.is_empty() || origin.len() > MAX_ORIGIN_LEN {
            return false;
        }
        let Ok(spec) = parse_origin(origin) else {
            return false;
        };
        let Some((label, rest)) = spec.host.split_once('.') else {
            return false;
        };
        if label.contains('*') {
            return false;
        }
        self.patterns
            .get(rest)
            .is_some_and(|shapes| shapes.iter().any(|shape| shape.admits(&spec, label)))
    }
}
