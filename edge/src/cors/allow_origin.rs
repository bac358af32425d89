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

use wyn_edge_shared::config::cors::parse_origin;

/// Longest `Origin` value worth looking at; longer ones match nothing.
pub const MAX_ORIGIN_LEN: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    scheme: String,
    label_prefix: String,
    label_suffix: String,
    rest: String,
    port: Option<u16>,
}

impl Pattern {
    fn matches(&self, origin: &str) -> bool {
        let Ok(o) = parse_origin(origin) else {
            return false;
        };
        let Some((label, rest)) = o.host.split_once('.') else {
            return false;
        };
        o.scheme == self.scheme
            && o.port == self.port
            && rest == self.rest
            && label.len() > self.label_prefix.len() + self.label_suffix.len()
            && label.starts_with(&self.label_prefix)
            && label.ends_with(&self.label_suffix)
            && !label.contains('*')
    }
}

/// The compiled `origins` of a validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowOrigin {
    any: bool,
    exact: Vec<String>,
    patterns: Vec<Pattern>,
}

impl AllowOrigin {
    /// Compiles validated `origins` (see `shared::config::cors`).
    pub fn new(origins: &[String]) -> Self {
        let mut allow = Self {
            any: false,
            exact: Vec::new(),
            patterns: Vec::new(),
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
                allow.patterns.push(Pattern {
                    scheme: spec.scheme.to_owned(),
                    label_prefix: prefix.to_owned(),
                    label_suffix: suffix.to_owned(),
                    rest: rest.to_owned(),
                    port: spec.port,
                });
            } else {
                allow.exact.push(o.clone());
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
        if origin.len() > MAX_ORIGIN_LEN {
            return false;
        }
        self.any
            || self.exact.iter().any(|e| e == origin)
            || self.patterns.iter().any(|p| p.matches(origin))
    }
}
