//! Header hygiene of the proxy: what is stripped in each direction and what the edge adds.
//!
//! Hop-by-hop headers (RFC 9110 §7.6.1) and the headers a `Connection` header names belong to one
//! connection and are dropped both ways. From clients the edge also drops what only the edge may
//! say: forwarding headers (set again from what the edge knows) and `x-middleware-subrequest`, the
//! Next.js middleware bypass of CVE-2025-29927.
//!
//! ```
//! use wyn_edge::forwarding::{connection_tokens, split_url};
//! assert_eq!(connection_tokens("close, X-Secret").collect::<Vec<_>>(), ["close", "x-secret"]);
//! let url = split_url("https://wyn.app/api/venues?city=paris").unwrap();
//! assert_eq!((url.scheme, url.authority, url.path_and_query), ("https", "wyn.app", "/api/venues?city=paris"));
//! ```

use std::net::IpAddr;

/// Hop-by-hop headers, dropped in both directions.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

/// Request headers only the edge may set: dropped from the client's request before forwarding.
pub const CLIENT_MAY_NOT_SET: [&str; 8] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-middleware-subrequest",
    // The upstream fetch sets Host from the origin URL.
    "host",
];

/// Most `Connection` tokens honoured; the rest are ignored so a hostile header costs bounded work.
pub const MAX_CONNECTION_TOKENS: usize = 32;

/// The header names a `Connection` value lists, lower-cased, skipping anything that is not an
/// HTTP token and stopping after [`MAX_CONNECTION_TOKENS`].
pub fn connection_tokens(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 64 && t.bytes().all(is_tchar))
        .take(MAX_CONNECTION_TOKENS)
        .map(str::to_ascii_lowercase)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The `X-Forwarded-For` value: the connecting address the platform reports, in canonical form,
/// or nothing when it is absent or not an address.
pub fn forwarded_for(connecting_ip: Option<&str>) -> Option<String> {
    connecting_ip
        .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_string())
}

/// The parts of an absolute request URL the proxy needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Host and port as the client addressed them.
    pub authority: &'a str,
    /// Path and query, starting with `/`.
    pub path_and_query: &'a str,
}

impl<'a> UrlParts<'a> {
    /// The path alone, without the query.
    pub fn path(&self) -> &'a str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query, |(p, _)| p)
    }
}

/// Splits an absolute URL as the runtime hands it over (`scheme://authority/path?query`).
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    UrlSpans::of(url).map(|spans| spans.parts(url))
}

/// Where a URL's scheme, authority and path-and-query lie in it: split once, read many times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlSpans {
    scheme: (usize, usize),
    authority: (usize, usize),
    /// Empty for a URL without a path, which reads as "/".
    path_and_query: (usize, usize),
}

impl UrlSpans {
    /// `None` for a URL that does not split as [`split_url`] describes.
    pub fn of(url: &str) -> Option<Self> {
        // A scheme has no ':' of its own, so the first one ends it (`split_once("://")` set up a
        // substring searcher per call, most of the split's cost).
        let colon = url.find(':')?;
        let authority_start = colon + 3;
        if url.get(colon..authority_start) != Some("://") {
            return None;
        }
        let authority_end = match url[authority_start..].find(['/', '?']) {
            Some(i) if url.as_bytes()[authority_start + i] == b'/' => authority_start + i,
            Some(_) => return None,
            None => url.len(),
        };
        let path_end = url[authority_end..]
            .find('#')
            .map_or(url.len(), |i| authority_end + i);
        (colon > 0 && authority_end > authority_start).then_some(Self {
            scheme: (0, colon),
            authority: (authority_start, authority_end),
            path_and_query: (authority_end, path_end),
        })
    }

    /// The parts of `url`, the URL these spans were taken from.
    pub fn parts<'a>(&self, url: &'a str) -> UrlParts<'a> {
        let path_and_query = &url[self.path_and_query.0..self.path_and_query.1];
        UrlParts {
            scheme: &url[self.scheme.0..self.scheme.1],
            authority: &url[self.authority.0..self.authority.1],
            path_and_query: if path_and_query.is_empty() {
                "/"
            } else {
                path_and_query
            },
        }
    }
}

/// The upstream URL for a request: the origin (no trailing slash) followed by the request's path
/// and query.
pub fn upstream_url(origin: &str, path_and_query: &str) -> String {
    let mut url = String::with_capacity(origin.len() + path_and_query.len());
    url.push_str(origin);
    url.push_str(path_and_query);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_spans_read_back_their_parts() {
        let parts = |url| {
            UrlSpans::of(url).map(|s| {
                let p = s.parts(url);
                (p.scheme, p.authority, p.path_and_query)
            })
        };
        assert_eq!(
            parts("https://wyn.app/api/venues?page=2"),
            Some(("https", "wyn.app", "/api/venues?page=2"))
        );
        assert_eq!(
            parts("http://127.0.0.1:8787/"),
            Some(("http", "127.0.0.1:8787", "/"))
        );
        assert_eq!(
            parts("https://wyn.app/a#frag"),
            Some(("https", "wyn.app", "/a"))
        );
        // No path: "/", which is not in the URL.
        assert_eq!(parts("https://wyn.app"), Some(("https", "wyn.app", "/")));
        assert_eq!(parts("https://wyn.app?q=1"), None);
        assert_eq!(parts("wyn.app/x"), None);
        assert_eq!(parts("https:/wyn.app/x"), None);
        assert_eq!(parts("://wyn.app/x"), None);
        assert_eq!(parts("https:\u{e9}/wyn.app/x"), None);
    }

    #[test]
    fn connection_tokens_are_trimmed_lowercased_and_bounded() {
        let v: Vec<_> = connection_tokens(" Keep-Alive ,X-Foo,, bad token ,x\u{e9} ").collect();
        assert_eq!(v, ["keep-alive", "x-foo"]);
        let hostile = "a,".repeat(100_000);
        assert_eq!(connection_tokens(&hostile).count(), MAX_CONNECTION_TOKENS);
    }

    #[test]
    fn forwarded_for_is_canonical_or_absent() {
        assert_eq!(
            forwarded_for(Some("203.0.113.7")).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            forwarded_for(Some("2001:DB8:0:0::1")).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(forwarded_for(Some("1.2.3.4, 5.6.7.8")), None);
        assert_eq!(forwarded_for(Some("evil")), None);
        assert_eq!(forwarded_for(None), None);
    }

    #[test]
    fn splits_urls() {
        let u = split_url("http://127.0.0.1:8787/api/echo?a=1&b=2").unwrap();
        assert_eq!(u.scheme, "http");
        assert_eq!(u.authority, "127.0.0.1:8787");
        assert_eq!(u.path_and_query, "/api/echo?a=1&b=2");
        assert_eq!(u.path(), "/api/echo");
        assert_eq!(split_url("https://wyn.app").unwrap().path_and_query, "/");
        assert_eq!(
            split_url("https://wyn.app/a#frag").unwrap().path_and_query,
            "/a"
        );
        assert_eq!(
            split_url("https://wyn.app?x").map(|u| u.path_and_query),
            None
        );
        assert_eq!(split_url("no-scheme/path"), None);
        assert_eq!(split_url("https:///path"), None);
    }

    #[test]
    fn upstream_url_keeps_the_origin_base_path() {
        assert_eq!(
            upstream_url("http://127.0.0.1:3000", "/api/x?q=1"),
            "http://127.0.0.1:3000/api/x?q=1"
        );
        assert_eq!(
            upstream_url("https://o.example/base", "/v"),
            "https://o.example/base/v"
        );
    }

    #[test]
    fn lists_are_lowercase_and_disjoint() {
        for name in HOP_BY_HOP.iter().chain(&CLIENT_MAY_NOT_SET) {
            assert_eq!(*name, name.to_ascii_lowercase());
        }
        assert!(HOP_BY_HOP.iter().all(|h| !CLIENT_MAY_NOT_SET.contains(h)));
    }
}
