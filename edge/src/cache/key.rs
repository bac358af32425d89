//! Cache keys: what makes two requests share a stored response.
//!
//! The key is the method class (GET and HEAD share one; an opted-in POST adds a SHA-256 of its
//! body), the scheme, host and path, and the query with tracking parameters dropped and the rest
//! sorted (or no query at all, per route). On Next.js routes the routing headers (`RSC`,
//! `Next-Router-State-Tree`, ...) are always part of it, whether or not the app says `Vary`, so a
//! flight payload is never served as HTML or the reverse. The headers a stored response names in
//! `Vary` make a *variant* key below it. The Cache API sees only a hash of the key, under the
//! purge generation that covers the path.
//!
//! ```
//! use wyn_edge::cache::key::normalize_query;
//! let drop = vec!["utm_*".to_owned(), "fbclid".to_owned()];
//! assert_eq!(normalize_query("b=2&utm_source=x&a=1&fbclid=y", &drop, true), "a=1&b=2");
//! ```

use sha2::{Digest, Sha256};

/// Headers Next.js varies on, whether or not it says so.
pub const NEXTJS_HEADERS: [&str; 5] = [
    "rsc",
    "next-router-state-tree",
    "next-router-prefetch",
    "next-router-segment-prefetch",
    "next-url",
];

/// Host of the synthetic URLs the Cache API stores entries under.
pub const STORAGE_HOST: &str = "https://wyn-edge.cache";

fn dropped(name: &str, drop: &[String]) -> bool {
    drop.iter().any(|d| match d.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == d,
    })
}

fn param_name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(n, _)| n)
}

/// Most query parameters sorted into a key; the rest keep the order they came in.
pub const MAX_SORTED_PARAMS: usize = 64;

/// The query without dropped parameters, sorted when asked (stable for equal names).
///
/// Sorted as they come, each after any of the same name: no sort routine of its own in the
/// worker. That costs n^2 / 2 moves for n parameters, so only the first [`MAX_SORTED_PARAMS`]
/// are sorted: a hostile URL of thousands of parameters costs no more than a long one, and its
/// key is merely less shared.
pub fn normalize_query(query: &str, drop: &[String], sort: bool) -> String {
    let mut pairs: Vec<&str> = Vec::new();
    for pair in query.split('&') {
        if pair.is_empty() || dropped(param_name(pair), drop) {
            continue;
        }
        let at = if sort && pairs.len() < MAX_SORTED_PARAMS {
            pairs.partition_point(|p| param_name(p) <= param_name(pair))
        } else {
            pairs.len()
        };
        pairs.insert(at, pair);
    }
    pairs.join("&")
}

/// Collapses the whitespace of a header value, so trivially different spellings share a key.
pub fn normalize_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the primary key is made of.
#[derive(Debug, Clone)]
pub struct KeyParts<'a> {
    /// `GET`, `HEAD` or `POST`.
    pub method: &'a str,
    /// `https` or `http`.
    pub scheme: &'a str,
    /// Host and port.
    pub authority: &'a str,
    /// The path as requested.
    pub path: &'a str,
    /// The query, without `?`.
    pub query: Option<&'a str>,
    /// For POST: SHA-256 of the body.
    pub body_sha256: Option<[u8; 32]>,
}

/// The primary key text. `header` reads a request header (for the Next.js headers only).
pub fn primary(
    parts: &KeyParts<'_>,
    drop: &[String],
    sort: bool,
    ignore_query: bool,
    nextjs: bool,
    header: impl Fn(&str) -> Option<String>,
) -> String {
    let method = if parts.method == "HEAD" {
        "GET"
    } else {
        parts.method
    };
    let mut key = format!(
        "{method} {}://{}{}",
        parts.scheme, parts.authority, parts.path
    );
    if !ignore_query && let Some(q) = parts.query {
        let q = normalize_query(q, drop, sort);
        if !q.is_empty() {
            key.push('?');
            key.push_str(&q);
        }
    }
    if let Some(hash) = parts.body_sha256 {
        key.push_str(" body=");
        key.push_str(&hex(&hash));
    }
    if nextjs {
        for name in NEXTJS_HEADERS {
            if let Some(v) = header(name) {
                key.push_str(&format!(" {name}={}", normalize_value(&v)));
            }
        }
    }
    key
}

/// The variant key: the primary key plus the values of the headers the response varies on.
pub fn variant(primary: &str, vary: &[String], header: impl Fn(&str) -> Option<String>) -> String {
    if vary.is_empty() {
        return primary.to_owned();
    }
    let mut key = format!("{primary} |vary");
    for name in vary {
        let value = header(name)
            .map(|v| normalize_value(&v))
            .unwrap_or_default();
        key.push_str(&format!(" {name}={value:?}"));
    }
    key
}

/// The Vary header's names, lower-cased; `None` for `Vary: *` (never stored).
pub fn vary_names(vary: Option<&str>) -> Option<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for name in vary
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if name == "*" {
            return None;
        }
        let name = name.to_ascii_lowercase();
        // Kept sorted and unique as they come (a Vary header names a handful): no sort routine
        // of its own in the worker.
        if let Err(at) = names.binary_search(&name) {
            names.insert(at, name);
        }
    }
    Some(names)
}

/// The Cache API URL of a key under a purge generation.
pub fn storage_url(key: &str, generation: u64) -> String {
    storage_url_of_hash(&key_hash(key), generation)
}

/// The key's SHA-256 in hex: the part of [`storage_url`] worth keeping between requests.
pub fn key_hash(key: &str) -> String {
    hex(&sha256(key.as_bytes()))
}

/// [`storage_url`] from the key's [`key_hash`].
pub fn storage_url_of_hash(hash: &str, generation: u64) -> String {
    format!("{STORAGE_HOST}/{generation}/{hash}")
}

/// SHA-256 of some bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lower-case hex, without a `format!` per byte (this runs on every cache lookup).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls_carry_the_key_hash_in_hex() {
        assert_eq!(
            storage_url("", 7),
            format!(
                "{STORAGE_HOST}/7/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            )
        );
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    fn parts<'a>(method: &'a str, path: &'a str, query: Option<&'a str>) -> KeyParts<'a> {
        KeyParts {
            method,
            scheme: "https",
            authority: "wyn.app",
            path,
            query,
            body_sha256: None,
        }
    }

    fn drop() -> Vec<String> {
        vec!["utm_*".into(), "fbclid".into(), "gclid".into()]
    }

    #[test]
    fn tracking_parameters_are_dropped_and_the_rest_sorted() {
        assert_eq!(
            normalize_query("utm_source=a&utm_medium=b&gclid=c&fbclid=d", &drop(), true),
            ""
        );
        assert_eq!(normalize_query("b=2&a=1&a=0", &drop(), true), "a=1&a=0&b=2");
        assert_eq!(normalize_query("b=2&a=1", &drop(), false), "b=2&a=1");
        // A hostile number of parameters: the first MAX_SORTED_PARAMS are sorted, the rest follow
        // in their order (bounded work, still one key per query).
        let many: Vec<String> = (0..MAX_SORTED_PARAMS + 6)
            .rev()
            .map(|i| format!("p{i:03}=1"))
            .collect();
        let normalized = normalize_query(&many.join("&"), &drop(), true);
        let mut sorted_head = many[..MAX_SORTED_PARAMS].to_vec();
        sorted_head.sort();
        let expected = [&sorted_head[..], &many[MAX_SORTED_PARAMS..]].concat();
        assert_eq!(normalized, expected.join("&"));
        assert_eq!(
            normalize_query("utm=keep&utm_x=drop&&x", &drop(), true),
            "utm=keep&x"
        );
        assert_eq!(
            normalize_query("fbclidx=keep", &drop(), true),
            "fbclidx=keep"
        );
    }

    #[test]
    fn get_and_head_share_a_key_post_does_not() {
        let none = |_: &str| None;
        let get = primary(
            &parts("GET", "/venues/1", Some("utm_source=x")),
            &drop(),
            true,
            false,
            true,
            none,
        );
        let head = primary(
            &parts("HEAD", "/venues/1", None),
            &drop(),
            true,
            false,
            true,
            none,
        );
        assert_eq!(get, head);
        assert_eq!(get, "GET https://wyn.app/venues/1");
        let mut post = parts("POST", "/api/chat", None);
        post.body_sha256 = Some(sha256(b"{\"q\":\"merlot\"}"));
        let a = primary(&post, &drop(), true, true, false, none);
        post.body_sha256 = Some(sha256(b"{\"q\":\"syrah\"}"));
        let b = primary(&post, &drop(), true, true, false, none);
        assert!(a.starts_with("POST https://wyn.app/api/chat body="));
        assert_ne!(a, b);
    }

    #[test]
    fn queries_can_be_ignored() {
        let k = primary(
            &parts("GET", "/static/app.js", Some("v=3")),
            &drop(),
            true,
            true,
            false,
            |_| None,
        );
        assert_eq!(k, "GET https://wyn.app/static/app.js");
    }

    #[test]
    fn nextjs_headers_always_separate_entries() {
        let html = primary(
            &parts("GET", "/venues/1", None),
            &drop(),
            true,
            false,
            true,
            |_| None,
        );
        let rsc = primary(
            &parts("GET", "/venues/1", None),
            &drop(),
            true,
            false,
            true,
            |n| (n == "rsc").then(|| "1".into()),
        );
        let prefetch = primary(
            &parts("GET", "/venues/1", None),
            &drop(),
            true,
            false,
            true,
            |n| matches!(n, "rsc" | "next-router-prefetch").then(|| "1".into()),
        );
        assert_ne!(html, rsc);
        assert_ne!(rsc, prefetch);
        // Off for a route that is not Next.js.
        let off = primary(
            &parts("GET", "/venues/1", None),
            &drop(),
            true,
            false,
            false,
            |n| (n == "rsc").then(|| "1".into()),
        );
        assert_eq!(off, html);
    }

    #[test]
    fn variants_follow_vary_values() {
        let vary = vary_names(Some("Accept-Language, accept-encoding, Accept-Language")).unwrap();
        assert_eq!(vary, ["accept-encoding", "accept-language"]);
        let fr = variant("GET x", &vary, |n| {
            (n == "accept-language").then(|| "fr".into())
        });
        let fr_spaced = variant("GET x", &vary, |n| {
            (n == "accept-language").then(|| " fr ".into())
        });
        let en = variant("GET x", &vary, |n| {
            (n == "accept-language").then(|| "en".into())
        });
        assert_eq!(fr, fr_spaced);
        assert_ne!(fr, en);
        assert_eq!(variant("GET x", &[], |_| None), "GET x");
        assert_eq!(vary_names(Some("*")), None);
        assert_eq!(vary_names(Some("Accept, *")), None);
        assert_eq!(vary_names(None), Some(vec![]));
    }

    #[test]
    fn storage_urls_change_with_the_generation() {
        let a = storage_url("GET https://wyn.app/", 0);
        assert!(a.starts_with("https://wyn-edge.cache/0/"));
        assert_eq!(a.len(), "https://wyn-edge.cache/0/".len() + 64);
        assert_ne!(a, storage_url("GET https://wyn.app/", 1));
        assert_ne!(a, storage_url("GET https://wyn.app/x", 0));
    }
}
