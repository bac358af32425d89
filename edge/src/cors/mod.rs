//! CORS that is strict by construction: the Fetch standard's protocol, answered at the edge.
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) on a covered route
//! is answered here and never reaches the origin: 204 with the allow headers when the origin, the
//! method and every requested header are allowed, 403 with no CORS headers otherwise. An actual
//! request from an allowed origin gets exactly that origin back in
//! `Access-Control-Allow-Origin`; any other origin gets no CORS headers. Every response on a
//! covered route gets `Vary: Origin` added to the origin's own `Vary`. Work is bounded whatever
//! the request carries: a megabyte of commas is refused before it is split.
//!
//! ```
//! use wyn_edge::cors::{Cors, Preflight};
//! use wyn_edge_shared::config::EdgeConfig;
//! let config = EdgeConfig::from_json(r#"{"cors":{"origins":["https://wyn.app"],"request_headers":["content-type"]}}"#).unwrap();
//! let cors = Cors::new(config.cors.as_ref().unwrap());
//! assert!(matches!(cors.preflight("https://wyn.app", "POST", Some("content-type"), None), Preflight::Allowed(_)));
//! assert!(matches!(cors.preflight("https://evil.example", "POST", None, None), Preflight::Refused(_)));
//! ```

pub mod allow_origin;

use wyn_edge_shared::config::cors::CorsConfig;

use crate::rate_limit::path_pattern::PathPattern;
use allow_origin::AllowOrigin;

/// Longest `Access-Control-Request-Headers` value looked at; longer ones are refused unread.
pub const MAX_REQUEST_HEADERS_LEN: usize = 1024;
/// Most header names a preflight may ask for.
pub const MAX_REQUEST_HEADERS: usize = 32;

/// CORS response headers the origin may send, removed when the edge is the authority.
pub const CORS_RESPONSE_HEADERS: [&str; 7] = [
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
    "access-control-allow-private-network",
];

/// `Vary` of a preflight answer: every request header it depends on.
pub const PREFLIGHT_VARY: &str = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network";

/// The compiled policy.
#[derive(Debug, Clone)]
pub struct Cors {
    paths: Vec<PathPattern>,
    origins: AllowOrigin,
    methods: Vec<String>,
    request_headers: Vec<String>,
    any_request_header: bool,
    expose: Option<String>,
    credentials: bool,
    max_age: String,
    strip: bool,
    private_network: bool,
}

/// Why a preflight was refused (for logs and tests; the browser is told nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The origin is not allowed.
    Origin,
    /// The method is not allowed.
    Method,
    /// A requested header is not allowed, or the list is malformed or too long.
    Headers,
    /// A private-network preflight, not enabled.
    PrivateNetwork,
}

/// The headers of an allowed preflight's 204.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightHeaders {
    /// `Access-Control-Allow-Origin`.
    pub allow_origin: String,
    /// `Access-Control-Allow-Credentials: true`?
    pub credentials: bool,
    /// `Access-Control-Allow-Methods`: the method asked for.
    pub allow_methods: String,
    /// `Access-Control-Allow-Headers`: the headers asked for, if any.
    pub allow_headers: Option<String>,
    /// `Access-Control-Max-Age`, in seconds.
    pub max_age: String,
    /// `Access-Control-Allow-Private-Network: true`?
    pub private_network: bool,
}

impl PreflightHeaders {
    /// The headers as (name, value) pairs, `Vary` included.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![
            ("access-control-allow-origin", self.allow_origin.as_str()),
            ("access-control-allow-methods", self.allow_methods.as_str()),
            ("access-control-max-age", self.max_age.as_str()),
            ("vary", PREFLIGHT_VARY),
        ];
        if self.credentials {
            out.push(("access-control-allow-credentials", "true"));
        }
        if let Some(h) = &self.allow_headers {
            out.push(("access-control-allow-headers", h.as_str()));
        }
        if self.private_network {
            out.push(("access-control-allow-private-network", "true"));
        }
        out
    }
}

/// The answer to a preflight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preflight {
    /// 204 with these headers.
    Allowed(PreflightHeaders),
    /// 403 with no CORS headers.
    Refused(Refusal),
}

/// CORS headers for an actual request's response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActualHeaders<'a> {
    /// `Access-Control-Allow-Origin`, when the origin is allowed.
    pub allow_origin: Option<&'a str>,
    /// `Access-Control-Allow-Credentials: true`?
    pub credentials: bool,
    /// `Access-Control-Expose-Headers`.
    pub expose: Option<&'a str>,
}

impl Cors {
    /// Compiles a validated policy.
    pub fn new(config: &CorsConfig) -> Self {
        let any_request_header = config.request_headers.iter().any(|h| h == "*");
        Self {
            paths: config.paths.iter().map(|p| PathPattern::new(p)).collect(),
            origins: AllowOrigin::new(&config.origins),
            methods: config.methods.clone(),
            request_headers: config
                .request_headers
                .iter()
                .filter(|h| *h != "*")
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            any_request_header,
            expose: (!config.expose_headers.is_empty()).then(|| config.expose_headers.join(", ")),
            credentials: config.credentials,
            max_age: config.max_age.as_secs().to_string(),
            strip: config.strip_origin_headers,
            private_network: config.private_network,
        }
    }

    /// Whether a route (normalised path) is under the policy.
    pub fn covers(&self, normalized_path: &str) -> bool {
        self.paths.iter().any(|p| p.matches(normalized_path))
    }

    /// Whether the origin's own CORS headers are removed.
    pub fn strips_origin_headers(&self) -> bool {
        self.strip
    }

    fn allow_origin_value<'a>(&self, origin: &'a str) -> &'a str {
        if self.origins.is_any() && !self.credentials {
            "*"
        } else {
            origin
        }
    }

    /// Decides a preflight. `request_headers` is `Access-Control-Request-Headers`,
    /// `private_network` is `Access-Control-Request-Private-Network`.
    pub fn preflight(
        &self,
        origin: &str,
        method: &str,
        request_headers: Option<&str>,
        private_network: Option<&str>,
    ) -> Preflight {
        if !self.origins.allows(origin) {
            return Preflight::Refused(Refusal::Origin);
        }
        // Method names are case-sensitive: "post" is not "POST".
        if !self.methods.iter().any(|m| m == method) {
            return Preflight::Refused(Refusal::Method);
        }
        let wants_private = private_network.is_some_and(|v| v.trim() == "true");
        if wants_private && !self.private_network {
            return Preflight::Refused(Refusal::PrivateNetwork);
        }
        let allow_headers = match request_headers.map(str::trim).filter(|h| !h.is_empty()) {
            None => None,
            Some(list) => match self.check_request_headers(list) {
                Some(names) => Some(names),
                None => return Preflight::Refused(Refusal::Headers),
            },
        };
        Preflight::Allowed(PreflightHeaders {
            allow_origin: self.allow_origin_value(origin).to_owned(),
            credentials: self.credentials,
            allow_methods: method.to_owned(),
            allow_headers,
            max_age: self.max_age.clone(),
            private_network: wants_private,
        })
    }

    /// The requested names, lower-cased and joined, when every one is allowed.
    fn check_request_headers(&self, list: &str) -> Option<String> {
        if list.len() > MAX_REQUEST_HEADERS_LEN {
            return None;
        }
        let mut out = String::with_capacity(list.len());
        let mut count = 0;
        for name in list
            .split(',')
            .map(|n| n.trim_matches([' ', '\t']))
            .filter(|n| !n.is_empty())
        {
            count += 1;
            if count > MAX_REQUEST_HEADERS || !name.bytes().all(is_tchar) {
                return None;
            }
            let lower = name.to_ascii_lowercase();
            // `*` never covers Authorization: it must be named.
            let allowed = self.request_headers.contains(&lower)
                || (self.any_request_header && lower != "authorization");
            if !allowed {
                return None;
            }
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(&lower);
        }
        Some(out).filter(|o| !o.is_empty())
    }

    /// CORS headers for an actual request with this `Origin` (if any).
    pub fn actual<'a>(&'a self, origin: Option<&'a str>) -> ActualHeaders<'a> {
        match origin.filter(|o| self.origins.allows(o)) {
            Some(o) => ActualHeaders {
                allow_origin: Some(self.allow_origin_value(o)),
                credentials: self.credentials,
                expose: self.expose.as_deref(),
            },
            None => ActualHeaders::default(),
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The `Vary` value with `Origin` added, or `None` when it is already there (or `*`).
pub fn vary_with_origin(existing: Option<&str>) -> Option<String> {
    match existing.map(str::trim).filter(|v| !v.is_empty()) {
        None => Some("Origin".into()),
        Some(v)
            if v.split(',')
                .any(|t| matches!(t.trim(), "*") || t.trim().eq_ignore_ascii_case("origin")) =>
        {
            None
        }
        Some(v) => Some(format!("{v}, Origin")),
    }
}

#[cfg(test)]
mod tests;
