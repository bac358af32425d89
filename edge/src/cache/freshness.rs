//! What the RFC 9111 shared-cache rules (through `http-cache-semantics`) say about one stored
//! response, plus what the Cache API cannot do by itself: `stale-while-revalidate`,
//! `stale-if-error` and `CDN-Cache-Control` (RFC 9213), judged from metadata stored with the
//! response. Time is always passed in.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use wyn_edge::cache::freshness::{Exchange, Verdict, store, judge};
//! let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
//! let ex = Exchange::get("https://wyn.app/venues/1", &[], 200, &[("cache-control", "public, s-maxage=30, stale-while-revalidate=60")]);
//! let meta = store(&ex, None, t0).unwrap();
//! assert!(matches!(judge(&meta, &[], t0 + Duration::from_secs(10)), Verdict::Fresh { .. }));
//! assert!(matches!(judge(&meta, &[], t0 + Duration::from_secs(50)), Verdict::StaleWhileRevalidate { .. }));
//! assert!(matches!(judge(&meta, &[], t0 + Duration::from_secs(100)), Verdict::Revalidate { .. }));
//! ```

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_cache_semantics::{AfterResponse, BeforeRequest, CacheOptions, CachePolicy};
use serde::{Deserialize, Serialize};

/// Response headers the policy needs; the rest of a stored response is not its business.
pub const POLICY_RESPONSE_HEADERS: [&str; 10] = [
    "cache-control",
    "cdn-cache-control",
    "surrogate-control",
    "expires",
    "date",
    "age",
    "last-modified",
    "etag",
    "vary",
    "pragma",
];

/// Statuses `http-cache-semantics` stores by itself.
const LIBRARY_UNDERSTANDS: [u16; 14] = [
    200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501,
];

/// One request and the response to it, as plain header lists (lower-case names).
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Request method.
    pub method: String,
    /// Request URL.
    pub url: String,
    /// Request headers the decision needs (cache-control, pragma, authorization, cookie, and those
    /// the response varies on).
    pub request: Vec<(String, String)>,
    /// Response status.
    pub status: u16,
    /// Response headers from [`POLICY_RESPONSE_HEADERS`], plus `set-cookie` and `content-length`
    /// when present.
    pub response: Vec<(String, String)>,
}

impl Exchange {
    /// A GET exchange (a shorthand for tests and docs).
    pub fn get(
        url: &str,
        request: &[(&str, &str)],
        status: u16,
        response: &[(&str, &str)],
    ) -> Self {
        let own = |h: &[(&str, &str)]| {
            h.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        Self {
            method: "GET".into(),
            url: url.into(),
            request: own(request),
            status,
            response: own(response),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.response
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn request_header(&self, name: &str) -> Option<&str> {
        self.request
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The version of [`StoredMeta`]'s stored form.
pub const META_VERSION: u8 = 3;

/// What is stored beside a response so a later request can be judged without the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "MetaForm", try_from = "MetaForm")]
pub struct StoredMeta {
    /// When the response was received, in ms since the epoch.
    pub stored_at_ms: u64,
    /// Request method and URL.
    pub method: String,
    /// Request URL.
    pub url: String,
    /// Request headers the policy looks at (an `authorization` value is never kept).
    pub request: Vec<(String, String)>,
    /// Response status.
    pub status: u16,
    /// Response headers as the policy sees them (`CDN-Cache-Control` and route TTLs applied).
    pub response: Vec<(String, String)>,
    /// How long the response was fresh for when stored.
    pub fresh_for_ms: u64,
    /// `stale-while-revalidate` window, in seconds.
    pub swr_secs: u64,
    /// `stale-if-error` window, in seconds.
    pub sie_secs: u64,
    /// Whether stale serving is forbidden (`must-revalidate`, `proxy-revalidate`, `no-cache`).
    pub must_revalidate: bool,
    /// The status the answer is served with again ([`status`](Self::status) is the one the
    /// policy library was shown).
    pub served_status: u16,
    /// The origin's own `Cache-Control`, served again (the stored copy carries the edge's
    /// retention instead).
    pub cache_control: Option<String>,
}

/// [`StoredMeta`] as stored: a JSON array in field order, the version first. Read without field
/// names, it needs no name matching (656 B of gzipped wasm less than the object form of
/// version 1). A copy in another form or version does not read, so it is a miss that the next
/// store replaces.
#[derive(Serialize, Deserialize)]
struct MetaForm(
    u8,
    u64,
    String,
    String,
    Vec<(String, String)>,
    u16,
    Vec<(String, String)>,
    u64,
    u64,
    u64,
    bool,
    u16,
    Option<String>,
);

impl From<StoredMeta> for MetaForm {
    fn from(m: StoredMeta) -> Self {
        Self(
            META_VERSION,
            m.stored_at_ms,
            m.method,
            m.url,
            m.request,
            m.status,
            m.response,
            m.fresh_for_ms,
            m.swr_secs,
            m.sie_secs,
            m.must_revalidate,
            m.served_status,
            m.cache_control,
        )
    }
}

impl TryFrom<MetaForm> for StoredMeta {
    type Error = &'static str;

    fn try_from(f: MetaForm) -> Result<Self, Self::Error> {
        if f.0 != META_VERSION {
            return Err("stored metadata of another version");
        }
        Ok(Self {
            stored_at_ms: f.1,
            method: f.2,
            url: f.3,
            request: f.4,
            status: f.5,
            response: f.6,
            fresh_for_ms: f.7,
            swr_secs: f.8,
            sie_secs: f.9,
            must_revalidate: f.10,
            served_status: f.11,
            cache_control: f.12,
        })
    }
}

/// Why a response was not stored (`Cache-Status: ...; detail=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// The RFC 9111 rules say no (no-store, private, no freshness information...).
    Policy,
    /// The response sets a cookie.
    SetCookie,
    /// The request carried a cookie and the response is not explicitly public.
    Cookie,
    /// `Vary: *`.
    VaryStar,
    /// A partial response.
    Partial,
    /// Declared larger than `max_object_size`.
    TooLarge,
    /// An opted-in POST whose answer is not 2xx.
    PostStatus,
}

impl NotStored {
    /// The `detail` token.
    pub const fn detail(self) -> &'static str {
        match self {
            Self::Policy => "not-storable",
            Self::SetCookie => "set-cookie",
            Self::Cookie => "cookie",
            Self::VaryStar => "vary-star",
            Self::Partial => "partial",
            Self::TooLarge => "too-large",
            Self::PostStatus => "post-status",
        }
    }
}

fn directive(cc: Option<&str>, name: &str) -> Option<Option<u64>> {
    cc?.split(',').map(str::trim).find_map(|d| {
        let (n, v) = d.split_once('=').map_or((d, None), |(n, v)| {
            (n.trim(), Some(v.trim().trim_matches('"')))
        });
        n.eq_ignore_ascii_case(name)
            .then(|| v.and_then(|v| v.parse().ok()))
    })
}

/// The policy `http-cache-semantics` keeps for a stored exchange. The URL is left out (requests
/// here carry the default URI `/`): the library only compares a request's URI with the stored one,
/// and every request built here was given the stored URL too, so the comparison always held and
/// parsing the URL (twice per cached request) decided nothing.
fn build_policy(
    method: &str,
    request: &[(String, String)],
    status: u16,
    response: &[(String, String)],
    at: SystemTime,
) -> Option<CachePolicy> {
    let mut req = Request::new(());
    *req.method_mut() = Method::from_bytes(method.as_bytes()).ok()?;
    *req.headers_mut() = header_map(request)?;
    let mut res = Response::new(());
    *res.status_mut() = StatusCode::from_u16(status).ok()?;
    *res.headers_mut() = header_map(response)?;
    Some(CachePolicy::new_options(
        &req,
        &res,
        at,
        CacheOptions {
            shared: true,
            ..CacheOptions::default()
        },
    ))
}

fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn from_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

fn lowercase_directive_names(cc: &str) -> String {
    cc.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| match d.split_once('=') {
            Some((n, v)) => format!("{}={v}", n.trim().to_ascii_lowercase()),
            None => d.to_ascii_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides whether `ex` may be stored; `ttl` is a route's override of the origin's freshness.
pub fn store(
    ex: &Exchange,
    ttl: Option<Duration>,
    now: SystemTime,
) -> Result<StoredMeta, NotStored> {
    store_with(ex, ttl, u64::MAX, now)
}

/// [`store`], refusing declared bodies over `max_object_size`.
pub fn store_with(
    ex: &Exchange,
    ttl: Option<Duration>,
    max_object_size: u64,
    now: SystemTime,
) -> Result<StoredMeta, NotStored> {
    if ex.status == 206 {
        return Err(NotStored::Partial);
    }
    if ex.method == "POST" && !(200..300).contains(&ex.status) {
        return Err(NotStored::PostStatus);
    }
    if ex.header("set-cookie").is_some() {
        return Err(NotStored::SetCookie);
    }
    if ex
        .header("content-length")
        .and_then(|l| l.parse::<u64>().ok())
        .is_some_and(|l| l > max_object_size)
    {
        return Err(NotStored::TooLarge);
    }
    let vary = ex.header("vary");
    if vary.is_some_and(|v| v.split(',').any(|n| n.trim() == "*")) {
        return Err(NotStored::VaryStar);
    }
    // RFC 9213: CDN-Cache-Control, when present, is what the edge obeys instead of Cache-Control;
    // so is the older Surrogate-Control. Directive names are case-insensitive: lower-cased here,
    // since the policy library matches them as written.
    let mut cc = ex
        .header("cdn-cache-control")
        .or(ex.header("surrogate-control"))
        .or(ex.header("cache-control"))
        .map(lowercase_directive_names);
    if let Some(ttl) = ttl {
        let kept: Vec<&str> = cc
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .filter(|d| {
                let name = d
                    .split('=')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                // A route's TTL replaces the origin's freshness (no-cache included), never its
                // privacy: private and no-store stay.
                !matches!(
                    name.as_str(),
                    "max-age" | "s-maxage" | "no-cache" | "must-revalidate" | "proxy-revalidate"
                )
            })
            .collect();
        let mut directives = kept.join(", ");
        if !directives.is_empty() {
            directives.push_str(", ");
        }
        directives.push_str(&format!("s-maxage={}", ttl.as_secs()));
        cc = Some(directives);
    }
    if ex.request_header("cookie").is_some() && directive(cc.as_deref(), "public").is_none() {
        return Err(NotStored::Cookie);
    }
    let mut response: Vec<(String, String)> = ex
        .response
        .iter()
        .filter(|(n, _)| {
            POLICY_RESPONSE_HEADERS.contains(&n.as_str())
                && !matches!(
                    n.as_str(),
                    "cache-control" | "cdn-cache-control" | "surrogate-control" | "age"
                )
        })
        .filter(|(n, _)| ttl.is_none() || n != "expires")
        .cloned()
        .collect();
    if let Some(cc) = &cc {
        response.push(("cache-control".into(), cc.clone()));
    }
    // An Age that is not one non-negative integer cannot be trusted: the response counts as stale.
    if let Some(age) = ex.header("age") {
        let valid = !age.is_empty() && age.bytes().all(|b| b.is_ascii_digit());
        response.push((
            "age".into(),
            if valid {
                age.to_owned()
            } else {
                "2147483648".into()
            },
        ));
    }
    let request: Vec<(String, String)> = ex
        .request
        .iter()
        .filter(|(n, _)| n != "cookie")
        // The policy only needs to know an Authorization was there; its value stays out of the cache.
        .map(|(n, v)| {
            if n == "authorization" {
                (n.clone(), "present".to_owned())
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect();
    // The policy library only stores the statuses it lists. RFC 9111 lets a shared cache store
    // any final status it understands when the response gives explicit freshness: for those the
    // library is shown a 200 (the stored response keeps its own status). `must-understand` on a
    // status outside the library's list still means "do not store".
    let explicit = ttl.is_some()
        || ["max-age", "s-maxage"]
            .iter()
            .any(|d| directive(cc.as_deref(), d).is_some())
        || ex.header("expires").is_some();
    let policy_status = if LIBRARY_UNDERSTANDS.contains(&ex.status)
        || !explicit
        || directive(cc.as_deref(), "must-understand").is_some()
        || !(200..600).contains(&ex.status)
        || matches!(ex.status, 206 | 304)
    {
        ex.status
    } else {
        200
    };
    let policy = build_policy(&ex.method, &request, policy_status, &response, now)
        .ok_or(NotStored::Policy)?;
    if !policy.is_storable() {
        return Err(NotStored::Policy);
    }
    let fresh_for = policy.time_to_live(now) + policy.age(now);
    let validators = ex.header("etag").is_some() || ex.header("last-modified").is_some();
    if fresh_for.is_zero() && !validators {
        // Stale on arrival and nothing to revalidate with: storing it could never save a fetch.
        return Err(NotStored::Policy);
    }
    let no_stale = ["must-revalidate", "proxy-revalidate", "no-cache"]
        .iter()
        .any(|d| directive(cc.as_deref(), d).is_some());
    Ok(StoredMeta {
        stored_at_ms: to_ms(now),
        method: ex.method.clone(),
        url: ex.url.clone(),
        request,
        status: policy_status,
        response,
        fresh_for_ms: fresh_for.as_millis() as u64,
        swr_secs: directive(cc.as_deref(), "stale-while-revalidate")
            .flatten()
            .unwrap_or(0),
        sie_secs: directive(cc.as_deref(), "stale-if-error")
            .flatten()
            .unwrap_or(0),
        must_revalidate: no_stale,
        served_status: ex.status,
        cache_control: ex.header("cache-control").map(str::to_owned),
    })
}

/// What to do with a stored response for a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it: fresh for `ttl` more.
    Fresh {
        /// Its age now.
        age: Duration,
        /// Freshness left.
        ttl: Duration,
    },
    /// Serve it stale and refresh it in the background.
    StaleWhileRevalidate {
        /// Its age now.
        age: Duration,
        /// How long it has been stale.
        stale_by: Duration,
    },
    /// Ask the origin first, with these conditional headers.
    Revalidate {
        /// Its age now.
        age: Duration,
        /// `If-None-Match` / `If-Modified-Since` to send.
        conditional: Vec<(String, String)>,
    },
}

impl StoredMeta {
    fn policy(&self) -> Option<CachePolicy> {
        build_policy(
            &self.method,
            &self.request,
            self.status,
            &self.response,
            from_ms(self.stored_at_ms),
        )
    }

    fn stale_by(&self, age: Duration) -> Duration {
        age.saturating_sub(Duration::from_millis(self.fresh_for_ms))
    }

    /// Whether `stale-if-error` still covers the response at `now`.
    pub fn serves_on_error(&self, now: SystemTime) -> bool {
        let age = now
            .duration_since(from_ms(self.stored_at_ms))
            .unwrap_or_default()
            + self.initial_age();
        self.sie_secs > 0
            && !self.must_revalidate
            && self.stale_by(age) <= Duration::from_secs(self.sie_secs)
    }

    fn initial_age(&self) -> Duration {
        let age = self
            .response
            .iter()
            .find(|(n, _)| n == "age")
            .and_then(|(_, v)| v.parse().ok());
        Duration::from_secs(age.unwrap_or(0))
    }

    /// How long the Cache API should keep the entry: its freshness plus the longest stale window.
    /// A response with validators is kept a day past that: stale, it still saves a full fetch
    /// when the origin answers 304.
    pub fn retention(&self) -> Duration {
        let validators = self
            .response
            .iter()
            .any(|(n, _)| n == "etag" || n == "last-modified");
        let extra = if validators { 86_400 } else { 1 };
        Duration::from_millis(self.fresh_for_ms)
            + Duration::from_secs(self.swr_secs.max(self.sie_secs).max(extra))
    }

    /// The origin's `Vary`, served again (the stored copy has none: variants have keys of their
    /// own).
    pub fn vary(&self) -> Option<&str> {
        header_of(&self.response, "vary")
    }

    /// Its age at `now`.
    pub fn age(&self, now: SystemTime) -> Duration {
        self.policy().map_or(Duration::ZERO, |p| p.age(now))
    }
}

/// The headers as an `http` map; `None` if a name or value is not valid there. The one way
/// lists become maps here, so the `http` parsing code is linked once.
fn header_map(headers: &[(String, String)]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).ok()?,
            HeaderValue::from_str(v).ok()?,
        );
    }
    Some(map)
}

/// Judges a stored response for a request with these headers (cache-control, pragma and the
/// varied-on headers are the ones that matter).
pub fn judge(meta: &StoredMeta, request: &[(String, String)], now: SystemTime) -> Verdict {
    judge_with(meta, meta.policy().as_ref(), request, now)
}

/// A stored response's metadata with its cache policy built once, for an isolate to keep between
/// hits: parsing the metadata and building the policy were most of a hit's own work.
pub struct Stored {
    /// The metadata.
    pub meta: StoredMeta,
    policy: Option<CachePolicy>,
}

impl Stored {
    /// Reads the metadata stored beside a response; `None` when it is not ours or not readable.
    pub fn parse(text: &str) -> Option<Self> {
        let meta: StoredMeta = serde_json::from_str(text).ok()?;
        let policy = meta.policy();
        Some(Self { meta, policy })
    }

    /// [`judge`], with the policy already built.
    pub fn judge(&self, request: &[(String, String)], now: SystemTime) -> Verdict {
        judge_with(&self.meta, self.policy.as_ref(), request, now)
    }
}

fn judge_with(
    meta: &StoredMeta,
    policy: Option<&CachePolicy>,
    request: &[(String, String)],
    now: SystemTime,
) -> Verdict {
    let Some(policy) = policy else {
        return Verdict::Revalidate {
            age: Duration::ZERO,
            conditional: Vec::new(),
        };
    };
    if let Some(fresh) = plainly_fresh(meta, policy, request, now) {
        return fresh;
    }
    judge_by_request(meta, policy, request, now)
}

/// The verdict without building a request for the policy, when the answer is plain: a request
/// with no cache directives of its own (no `Cache-Control`, no `Pragma`), whose `Host` and
/// varied-on headers are absent or the stored request's, for a response still fresh. Then
/// `before_request` would compare exactly those and find it fresh, so the answer is the same;
/// anything else (`None`) goes to [`judge_by_request`]. Most hits are plain, and building the
/// `http::Request` (a header map from strings) was most of a hit's policy work.
fn plainly_fresh(
    meta: &StoredMeta,
    policy: &CachePolicy,
    request: &[(String, String)],
    now: SystemTime,
) -> Option<Verdict> {
    let asked = |name: &str| request.iter().any(|(n, _)| n == name);
    if asked("cache-control") || asked("pragma") {
        return None;
    }
    let same_as_stored = |name: &str| {
        header_of(request, name).is_none_or(|v| header_of(&meta.request, name) == Some(v))
    };
    if !same_as_stored("host") {
        return None;
    }
    for (name, value) in &meta.response {
        if name.eq_ignore_ascii_case("vary") {
            for varied in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                if varied == "*" || !same_as_stored(&varied.to_ascii_lowercase()) {
                    return None;
                }
            }
        }
    }
    // Stale exactly when no time is left to live (`max_age <= age`): one reading of the policy's
    // lifetime instead of two.
    let ttl = policy.time_to_live(now);
    if ttl.is_zero() {
        return None;
    }
    Some(Verdict::Fresh {
        age: policy.age(now),
        ttl,
    })
}

/// [`judge_with`] through the policy's own `before_request`.
fn judge_by_request(
    meta: &StoredMeta,
    policy: &CachePolicy,
    request: &[(String, String)],
    now: SystemTime,
) -> Verdict {
    let mut req = Request::new(());
    *req.method_mut() = Method::from_bytes(meta.method.as_bytes()).unwrap_or(Method::GET);
    let headers = req.headers_mut();
    // The stored request's headers were valid when the policy was built from them.
    *headers = header_map(&meta.request).unwrap_or_default();
    for (n, v) in request {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.insert(n, v);
        }
    }
    // The request's own cache directives replace the stored request's.
    if !request.iter().any(|(n, _)| n == "cache-control") {
        headers.remove("cache-control");
    }
    if !request.iter().any(|(n, _)| n == "pragma") {
        headers.remove("pragma");
    }
    let age = policy.age(now);
    match policy.before_request(&req, now) {
        BeforeRequest::Fresh(_) => Verdict::Fresh {
            age,
            ttl: policy.time_to_live(now),
        },
        BeforeRequest::Stale { request: parts, .. } => {
            let stale_by = meta.stale_by(age);
            let client_wants_fresh = directive(header_of(request, "cache-control"), "no-cache")
                .is_some()
                || header_of(request, "pragma").is_some_and(|p| p.contains("no-cache"));
            if !meta.must_revalidate
                && !client_wants_fresh
                && stale_by > Duration::ZERO
                && stale_by <= Duration::from_secs(meta.swr_secs)
            {
                return Verdict::StaleWhileRevalidate { age, stale_by };
            }
            let conditional = ["if-none-match", "if-modified-since"]
                .iter()
                .filter_map(|n| {
                    parts
                        .headers
                        .get(*n)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| ((*n).to_owned(), v.to_owned()))
                })
                .collect();
            Verdict::Revalidate { age, conditional }
        }
    }
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// What a revalidation answer does to the stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revalidated {
    /// 304: keep the stored body; these are its refreshed metadata and the headers to update.
    NotModified(Box<StoredMeta>, Vec<(String, String)>),
    /// A new response: replace (or drop) the stored one.
    Modified,
}

/// Applies the origin's answer to a conditional request (RFC 9111 §4.3.4): a matching 304
/// refreshes the stored headers, anything else replaces the entry.
pub fn revalidated(
    meta: &StoredMeta,
    status: u16,
    response: &[(String, String)],
    now: SystemTime,
) -> Revalidated {
    let Some(policy) = meta.policy() else {
        return Revalidated::Modified;
    };
    let (Ok(method), Ok(code), Some(headers)) = (
        Method::from_bytes(meta.method.as_bytes()),
        StatusCode::from_u16(status),
        header_map(response),
    ) else {
        return Revalidated::Modified;
    };
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.headers_mut() = header_map(&meta.request).unwrap_or_default();
    let mut res = Response::new(());
    *res.status_mut() = code;
    *res.headers_mut() = headers;
    match policy.after_response(&req, &res, now) {
        AfterResponse::NotModified(new_policy, _) => {
            // The 304's end-to-end headers replace the stored ones (Content-Length excepted).
            let updates: Vec<(String, String)> = response
                .iter()
                .filter(|(n, _)| {
                    !matches!(
                        n.as_str(),
                        "content-length" | "content-encoding" | "transfer-encoding" | "connection"
                    )
                })
                .cloned()
                .collect();
            let mut fresh = meta.clone();
            fresh.stored_at_ms = to_ms(now);
            for (n, v) in &updates {
                if n == "cache-control" {
                    fresh.cache_control = Some(v.clone());
                }
                if POLICY_RESPONSE_HEADERS.contains(&n.as_str()) && n != "cdn-cache-control" {
                    fresh.response.retain(|(m, _)| m != n);
                    fresh.response.push((n.clone(), v.clone()));
                }
            }
            fresh.fresh_for_ms =
                (new_policy.time_to_live(now) + new_policy.age(now)).as_millis() as u64;
            if let Some(cc) = header_of(&fresh.response, "cache-control") {
                fresh.swr_secs = directive(Some(cc), "stale-while-revalidate")
                    .flatten()
                    .unwrap_or(0);
                fresh.sie_secs = directive(Some(cc), "stale-if-error").flatten().unwrap_or(0);
            }
            Revalidated::NotModified(Box::new(fresh), updates)
        }
        AfterResponse::Modified(..) => Revalidated::Modified,
    }
}

#[cfg(test)]
mod tests;
