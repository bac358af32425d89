//! The CORS policy: `[vars.EDGE.cors]` in wrangler.toml, and the strict rules it must keep before
//! anything is served (jub0bs/cors is the bar).
//!
//! ```toml
//! [vars.EDGE.cors]
//! paths = ["/api/*"]                        # routes the policy covers (default: all)
//! origins = ["https://wyn.app", "https://wyn-*.vercel.app"]   # `*`: characters of one label
//! methods = ["GET", "HEAD", "POST"]
//! request_headers = ["content-type", "authorization"]
//! expose_headers = ["x-request-id", "retry-after", "ratelimit", "ratelimit-policy"]
//! credentials = true
//! max_age = "2h"                            # 0 to 86400 s
//! strip_origin_headers = true               # the edge is the one authority on CORS
//! private_network = false                   # Access-Control-Request-Private-Network
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::public_suffix::is_public_suffix;
use super::rate_limit::is_path_pattern;
use super::{ConfigError, units};

/// The policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Routes the policy covers; others get no CORS headers and refused preflights.
    #[serde(default = "all_paths")]
    pub paths: Vec<String>,
    /// Allowed origins: exact serialised origins, or patterns with one `*` in the first label.
    pub origins: Vec<String>,
    /// Allowed methods, matched case-sensitively as the Fetch standard says.
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,
    /// Allowed request headers (case-insensitive); `*` for any but `Authorization`.
    #[serde(default)]
    pub request_headers: Vec<String>,
    /// Response headers scripts may read.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Whether credentialed requests (cookies, `Authorization`) are allowed.
    #[serde(default)]
    pub credentials: bool,
    /// How long browsers may cache a preflight answer.
    #[serde(default = "default_max_age", with = "units::duration")]
    pub max_age: Duration,
    /// Whether CORS headers the origin sent are removed.
    #[serde(default = "yes")]
    pub strip_origin_headers: bool,
    /// Whether private-network preflights are allowed.
    #[serde(default)]
    pub private_network: bool,
}

fn all_paths() -> Vec<String> {
    vec!["/*".into()]
}
fn default_methods() -> Vec<String> {
    ["GET", "HEAD", "POST"].map(String::from).to_vec()
}
fn default_max_age() -> Duration {
    Duration::from_secs(600)
}
fn yes() -> bool {
    true
}

/// A serialised origin or an origin pattern, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginSpec<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Host, lower case; `[...]` for IPv6.
    pub host: &'a str,
    /// Explicit port, if any (never the scheme's default).
    pub port: Option<u16>,
}

/// Parses an origin as browsers serialise it: `scheme://host[:port]`, lower case, no path.
/// Anything else (a trailing slash, a default port written out, user info) is refused with why.
pub fn parse_origin(text: &str) -> Result<OriginSpec<'_>, &'static str> {
    if text == "null" {
        return Err(
            "the \"null\" origin is sent by sandboxed and file pages; allowing it allows them all",
        );
    }
    let (scheme, rest) = text.split_once("://").ok_or("expected scheme://host")?;
    match scheme {
        "http" | "https" => {}
        "file" => return Err("file:// pages have no origin to trust"),
        _ => return Err("expected an http or https origin"),
    }
    if rest.contains(['/', '?', '#']) {
        return Err("an origin has no path, query or fragment (not even a trailing slash)");
    }
    if rest.contains('@') {
        return Err("an origin has no user info");
    }
    if rest.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("browsers send origins in lower case");
    }
    let (host, port) = if let Some(end) = rest.strip_prefix('[').and_then(|r| r.find(']')) {
        let (host, after) = rest.split_at(end + 2);
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => {
            let n: u16 = p
                .parse()
                .ok()
                .filter(|n| *n > 0 && !p.starts_with('0'))
                .ok_or("expected a port from 1 to 65535")?;
            if (scheme, n) == ("https", 443) || (scheme, n) == ("http", 80) {
                return Err("browsers leave the default port out of an origin");
            }
            Some(n)
        }
    };
    let valid_host = if host.starts_with('[') {
        host.len() > 2
            && host[1..host.len() - 1]
                .parse::<std::net::Ipv6Addr>()
                .is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
            })
    };
    if !valid_host {
        return Err("expected a host name, an IPv4 address or a [bracketed] IPv6 address");
    }
    Ok(OriginSpec { scheme, host, port })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host.starts_with("127.") && host.parse::<std::net::Ipv4Addr>().is_ok()
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Request headers a page may never set (Fetch's forbidden request-header names).
const FORBIDDEN_REQUEST_HEADERS: [&str; 21] = [
    "accept-charset",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "access-control-request-private-network",
    "connection",
    "content-length",
    "cookie",
    "cookie2",
    "date",
    "dnt",
    "expect",
    "host",
    "keep-alive",
    "origin",
    "referer",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn is_forbidden_request_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    FORBIDDEN_REQUEST_HEADERS.contains(&name.as_str())
        || name == "via"
        || name.starts_with("proxy-")
        || name.starts_with("sec-")
}

impl CorsConfig {
    /// Checks every rule; `at` is the policy's place, `EDGE.cors`.
    pub fn validate(&self, at: &str, errors: &mut Vec<ConfigError>) {
        let mut err = |field: String, message: String| {
            errors.push(ConfigError {
                field: format!("{at}.{field}"),
                message,
            })
        };
        if self.origins.is_empty() {
            err("origins".into(), "expected at least one origin".into());
        }
        for (i, p) in self.paths.iter().enumerate() {
            if !is_path_pattern(p) {
                err(
                    format!("paths[{i}]"),
                    format!("expected a path like \"/api/*\", found {p:?}"),
                );
            }
        }
        for (i, o) in self.origins.iter().enumerate() {
            let field = format!("origins[{i}]");
            if o == "*" {
                if self.credentials {
                    err(
                        field,
                        "\"*\" cannot be used with credentials = true: name the origins".into(),
                    );
                } else if self.origins.len() > 1 {
                    err(
                        field,
                        "\"*\" allows every origin; the others are then pointless".into(),
                    );
                }
                continue;
            }
            let spec = match parse_origin(o) {
                Ok(spec) => spec,
                Err(why) => {
                    err(field, format!("{why}, found {o:?}"));
                    continue;
                }
            };
            if spec.scheme == "http" && self.credentials && !is_loopback(spec.host) {
                err(
                    field,
                    format!(
                        "http origins may not send credentials (only loopback may), found {o:?}"
                    ),
                );
                continue;
            }
            let stars = spec.host.matches('*').count();
            if stars == 0 {
                continue;
            }
            let (first, fixed) = spec.host.split_once('.').unwrap_or((spec.host, ""));
            if stars > 1 || !first.contains('*') || spec.host.starts_with('[') {
                err(
                    field,
                    format!("a pattern has one `*`, in its first label, found {o:?}"),
                );
            } else if first == "*" && is_public_suffix(fixed) {
                err(
                    field,
                    format!(
                        "{fixed:?} is a public suffix: anyone can have a site under it, found {o:?}"
                    ),
                );
            } else if fixed.is_empty() || !fixed.contains('.') && first == "*" {
                err(
                    field,
                    format!("a pattern needs a registrable domain after its `*`, found {o:?}"),
                );
            }
        }
        for (i, m) in self.methods.iter().enumerate() {
            let field = format!("methods[{i}]");
            if !is_token(m) {
                err(field, format!("expected a method name, found {m:?}"));
            } else if ["CONNECT", "TRACE", "TRACK"].contains(&m.to_ascii_uppercase().as_str()) {
                err(field, format!("{m} is a forbidden method"));
            }
        }
        // Both header lists: `*` only without credentials, names that are tokens, and what
        // each direction forbids.
        let forbidden_request = |h: &str| {
            is_forbidden_request_header(h).then(|| {
                format!("{h:?} is a forbidden request header: browsers never let pages set it")
            })
        };
        let never_exposed = |h: &str| {
            ["set-cookie", "set-cookie2"]
                .contains(&h.to_ascii_lowercase().as_str())
                .then(|| format!("{h:?} is never exposed to scripts"))
        };
        type Forbidden<'a> = &'a dyn Fn(&str) -> Option<String>;
        let lists: [(&str, &[String], Forbidden<'_>); 2] = [
            ("request_headers", &self.request_headers, &forbidden_request),
            ("expose_headers", &self.expose_headers, &never_exposed),
        ];
        for (list, headers, forbidden) in lists {
            for (i, h) in headers.iter().enumerate() {
                let field = format!("{list}[{i}]");
                if h == "*" {
                    if self.credentials {
                        err(
                            field,
                            "\"*\" cannot be used with credentials = true: name the headers".into(),
                        );
                    }
                } else if !is_token(h) || h.contains('*') {
                    err(field, format!("expected a header name, found {h:?}"));
                } else if let Some(why) = forbidden(h) {
                    err(field, why);
                }
            }
        }
        if self.max_age > Duration::from_secs(86_400) {
            err(
                "max_age".into(),
                format!(
                    "expected at most \"1day\" (86400 s), found {:?}",
                    units::format_duration(self.max_age)
                ),
            );
        }
    }
}
