//! The cache phases in the runtime: look up (fresh hit, stale-while-revalidate, or forward with
//! validators), and store the origin's answer while it streams to the client.
//!
//! Entries live in the Cache API (`caches.default`) under `https://wyn-edge.cache/{generation}/
//! {sha256 of the key}`. A stored copy carries its [`StoredMeta`] in a header, and its
//! `Cache-Control` is replaced by how long the Cache API must keep it (freshness plus the stale
//! windows). It is stored as a 200 without `Vary` (the Cache API refuses some statuses, and
//! bodies on 204s); the original status, `Cache-Control` and `Vary`, kept in the metadata, come
//! back when it is served. A response that varies on request
//! headers is stored under its variant key, with a small manifest naming those headers under the
//! primary key. Concurrent misses for one key in an isolate wait for the first one's fetch, within
//! their own origin deadline.

use hashbrown::HashMap;
use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Headers, ReadableStream, Response, ResponseInit};
use worker_sys::Context;

use super::env::Env;
use super::failure::Failure;
use super::task::Settle;
use super::{Incoming, Reply, Restored, Settings, glue, header, log, purges};
use crate::cache::Plan;
use crate::cache::freshness::{
    self, Exchange, NotStored, POLICY_RESPONSE_HEADERS, Stored, StoredMeta, Verdict,
};
use crate::cache::key::{self, KeyParts};
use crate::cache::status::{CacheStatus, Forward};
use crate::deadline::Deadline;
use crate::error::{Culprit, EdgeError};
use crate::rate_limit::path_pattern::normalize;

const META: &str = "x-wyn-cache-meta";
const MANIFEST: &str = "x-wyn-cache-vary-manifest";

thread_local! {
    /// The Vary names learned per primary key, so most lookups take one Cache API call.
    /// Parsed metadata of recently served stored responses, by their metadata text.
    static STORED: RefCell<lru::LruCache<String, Rc<Stored>>> =
        RefCell::new(lru::LruCache::new(NonZeroUsize::new(1_000).unwrap_or(NonZeroUsize::MIN)));
    static VARY: RefCell<lru::LruCache<String, Vec<String>>> =
        RefCell::new(lru::LruCache::new(NonZeroUsize::new(10_000).unwrap_or(NonZeroUsize::MIN)));
    /// Paths an unsafe method changed, and when: entries stored before are not served.
    static INVALIDATED: RefCell<lru::LruCache<String, u64>> =
        RefCell::new(lru::LruCache::new(NonZeroUsize::new(10_000).unwrap_or(NonZeroUsize::MIN)));
    /// Keys whose origin fetch is under way in this isolate, with the promises of the requests
    /// waiting for it (their `resolve` functions).
    static IN_FLIGHT: RefCell<HashMap<String, Vec<js_sys::Function>>> = RefCell::new(HashMap::new());
    /// Primary keys whose last answer could not be stored, and until when (ms since the epoch):
    /// misses for them are not coalesced, as a wait for a fetch that fills no cache only adds
    /// its latency to every waiting request (Varnish calls this hit-for-pass). Whole ms, as in
    /// `INVALIDATED`: one cache type, one copy of its code.
    static PASS: RefCell<lru::LruCache<String, u64>> =
        RefCell::new(lru::LruCache::new(NonZeroUsize::new(10_000).unwrap_or(NonZeroUsize::MIN)));
}

/// How long a key whose answer could not be stored is not coalesced.
const PASS_FOR_MS: f64 = 60_000.0;

thread_local! {
    /// Keys' hashes, by key: every lookup hashes one or two keys, and the same ones again and
    /// again (SHA-256 of a few hundred bytes was a tenth of a hit's own wasm time).
    static HASHES: RefCell<lru::LruCache<String, String>> =
        RefCell::new(lru::LruCache::new(NonZeroUsize::new(4_096).unwrap_or(NonZeroUsize::MIN)));
}

/// Longest key [`HASHES`] keeps (4,096 of them: at most 2.3 MB with their hashes).
const MAX_REMEMBERED_KEY: usize = 512;

/// [`key::storage_url`], its hash remembered.
fn storage_url(key: &str, generation: u64) -> String {
    HASHES.with(|h| {
        let mut h = h.borrow_mut();
        if let Some(hash) = h.get(key) {
            return key::storage_url_of_hash(hash, generation);
        }
        let hash = key::key_hash(key);
        let url = key::storage_url_of_hash(&hash, generation);
        // Bounded in bytes too: a client may send long URLs, each its own key.
        if key.len() <= MAX_REMEMBERED_KEY {
            h.put(key.to_owned(), hash);
        }
        url
    })
}

fn passes(primary: &str, now_ms: f64) -> bool {
    PASS.with(|p| {
        p.borrow_mut()
            .get(primary)
            .is_some_and(|until| now_ms < *until as f64)
    })
}

fn set_pass(primary: &str, on: bool, now_ms: f64) {
    PASS.with(|p| {
        let mut p = p.borrow_mut();
        if on {
            p.put(primary.to_owned(), (now_ms + PASS_FOR_MS) as u64);
        } else {
            p.pop(primary);
        }
    });
}

/// Keys waiting on a fetch in this isolate (memory held by coalescing).
pub fn in_flight() -> usize {
    IN_FLIGHT.with(|f| f.borrow().len())
}

/// Whole seconds a response has been stale, rounded up: a stale answer never shows `ttl=0`.
fn stale_secs(stale_by: Duration) -> i64 {
    stale_by.as_millis().div_ceil(1000).max(1) as i64
}

fn now() -> SystemTime {
    at(js_sys::Date::now())
}

fn at(ms: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64)
}

thread_local! {
    /// `caches.default`, looked up once per isolate; `Some(None)` once it proved unusable.
    static CACHE: RefCell<Option<Option<web_sys::Cache>>> = const { RefCell::new(None) };
}

/// `caches.default`. Where the runtime has no Cache API (raw workerd without a cache service) it
/// throws, on access or on first use; remembering that keeps the exception off every request.
fn default_cache() -> Option<web_sys::Cache> {
    CACHE.with(|c| {
        c.borrow_mut()
            .get_or_insert_with(|| {
                let caches = Reflect::get(&js_sys::global(), &JsValue::from_str("caches")).ok()?;
                let default = Reflect::get(&caches, &JsValue::from_str("default")).ok()?;
                (!default.is_undefined()).then(|| default.unchecked_into())
            })
            .clone()
    })
}

fn cache_unusable() {
    log::warn("wyn-edge: the Cache API is not usable here; caching is off in this isolate");
    CACHE.with(|c| *c.borrow_mut() = Some(None));
}

async fn cache_match(cache: &web_sys::Cache, url: &str) -> Result<Option<Response>, JsValue> {
    let found = Settle::new(cache.match_with_str(url)).await?;
    Ok(found.dyn_into::<Response>().ok())
}

/// Marks a key in flight; unmarks when dropped (the fetch finished, failed or was cancelled).
struct Leader(String);

impl Leader {
    fn claim(key: &str) -> Option<Self> {
        IN_FLIGHT.with(|f| match f.borrow_mut().entry(key.to_owned()) {
            hashbrown::hash_map::Entry::Occupied(_) => None,
            hashbrown::hash_map::Entry::Vacant(v) => {
                v.insert(Vec::new());
                Some(Self(key.to_owned()))
            }
        })
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let waiting = IN_FLIGHT.with(|f| f.borrow_mut().remove(&self.0));
        for resolve in waiting.into_iter().flatten() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }
}

/// A promise settled when the fetch of `key` under way in this isolate ends; `None` when none is.
///
/// A promise, not a waker: the leader is another request, and the runtime runs a promise's
/// reactions in the request that made them, while a wake would run the waiting request's
/// continuation in the leader's (the runtime then cancels the waiting request as hung).
fn released(key: &str) -> Option<js_sys::Promise> {
    IN_FLIGHT.with(|f| {
        let mut in_flight = f.borrow_mut();
        let waiting = in_flight.get_mut(key)?;
        Some(js_sys::Promise::new(&mut |resolve, _| {
            waiting.push(resolve)
        }))
    })
}

/// A forwarded request's cache state, carried to the store phase.
pub struct Pending {
    /// `Cache-Status` so far (why the request was forwarded).
    pub status: CacheStatus,
    /// Validators to send to the origin.
    pub conditional: Vec<(String, String)>,
    plan: Plan,
    primary: String,
    generation: u64,
    request: Vec<(String, String)>,
    stale: Option<(Response, StoredMeta)>,
    leader: Option<Leader>,
}

/// What the lookup found.
pub enum Lookup {
    /// The cache is not used for this request (`detail` says why).
    Bypass(&'static str),
    /// A complete answer from the cache.
    Hit(Reply),
    /// Go to the origin, then [`complete`].
    Forward(Box<Pending>),
}

/// The request headers a freshness decision reads.
fn request_facts(req: &Incoming, vary: &[String]) -> Vec<(String, String)> {
    let mut names: Vec<&str> = vec!["cache-control", "pragma", "authorization", "cookie"];
    names.extend(vary.iter().map(String::as_str));
    names
        .into_iter()
        .filter_map(|n| req.header(n).map(|v| (n.to_owned(), v)))
        .collect()
}

fn cache_status_detail(e: NotStored) -> &'static str {
    e.detail()
}

/// Looks the request up.
pub async fn lookup(req: &Incoming, settings: &Rc<Settings>, env: &Env, ctx: &Context) -> Lookup {
    let path = normalize(req.path()).into_owned();
    let plan = match settings.cache.plan(&req.method, &path) {
        Ok(plan) => plan,
        Err(detail) => return Lookup::Bypass(detail),
    };
    // An opted-in POST: its (small) body is read once, hashed into the key, and replayed upstream.
    let body_sha256 = match plan.post_max_body {
        None => None,
        Some(max) => match read_small_body(req, max).await {
            Some(bytes) => Some(key::sha256(&bytes)),
            None => return Lookup::Bypass("body"),
        },
    };
    if req.header("range").is_some() {
        return Lookup::Bypass("range");
    }
    let Some(cache) = default_cache() else {
        return Lookup::Bypass("unavailable");
    };
    let url = req.url();
    let (_, query) = url
        .path_and_query
        .split_once('?')
        .map_or((url.path_and_query, None), |(p, q)| (p, Some(q)));
    let parts = KeyParts {
        method: &req.method,
        scheme: url.scheme,
        authority: url.authority,
        path: url.path(),
        query,
        body_sha256,
    };
    let config = &settings.cache.config;
    let primary = key::primary(
        &parts,
        &config.drop_query_params,
        config.sort_query,
        plan.ignore_query,
        plan.nextjs,
        |n| req.header(n),
    );
    let generation = purges::generation(settings, env, &path, req.started_ms).await;
    let primary_url = storage_url(&primary, generation);

    let known_vary = VARY.with(|v| v.borrow_mut().get(&primary).cloned());
    let mut found = None;
    let mut vary = known_vary.clone().unwrap_or_default();
    let first_url = match &known_vary {
        Some(names) => storage_url(
            &key::variant(&primary, names, |n| req.header(n)),
            generation,
        ),
        None => primary_url.clone(),
    };
    let mut manifest_seen = false;
    match cache_match(&cache, &first_url).await {
        Ok(Some(response)) => {
            let facts = StoredFacts::read(&response);
            match &facts.manifest {
                Some(names) => {
                    manifest_seen = true;
                    vary = key::vary_names(Some(names)).unwrap_or_default();
                    VARY.with(|v| v.borrow_mut().put(primary.clone(), vary.clone()));
                    let variant_url = storage_url(
                        &key::variant(&primary, &vary, |n| req.header(n)),
                        generation,
                    );
                    found = cache_match(&cache, &variant_url)
                        .await
                        .ok()
                        .flatten()
                        .map(|r| (StoredFacts::read(&r), r));
                }
                None => found = Some((facts, response)),
            }
        }
        Ok(None) if !vary.is_empty() => {
            // Another variant may be stored: then this is a vary miss, not a URI miss.
            manifest_seen = matches!(cache_match(&cache, &primary_url).await, Ok(Some(_)));
        }
        Ok(None) => {}
        Err(_) => {
            cache_unusable();
            return Lookup::Bypass("unavailable");
        }
    }
    let request = request_facts(req, &vary);
    let mut status = CacheStatus::forward(if found.is_none() && manifest_seen {
        Forward::VaryMiss
    } else {
        Forward::UriMiss
    });
    let mut stale = None;
    let mut conditional = Vec::new();
    if let Some((facts, response)) = found
        && let Some(stored) = facts.stored()
    {
        let now = at(req.read_clock());
        let meta = &stored.meta;
        match stored.judge(&request, now) {
            Verdict::Fresh { age, ttl } if !invalidated(&path, meta) => {
                let status = CacheStatus::hit(ttl.as_secs() as i64);
                if let Some(not_modified) = not_modified(&response, meta, req, age, &status) {
                    return Lookup::Hit(Reply::Made(not_modified));
                }
                return Lookup::Hit(serve(req, response, &facts, meta, age, status));
            }
            Verdict::StaleWhileRevalidate { age, stale_by } if !invalidated(&path, meta) => {
                let (client, keep) = tee_response(&response);
                revalidate_in_background(
                    req,
                    settings,
                    ctx,
                    &primary,
                    generation,
                    &request,
                    &plan,
                    keep,
                    meta.clone(),
                );
                let status =
                    CacheStatus::hit(-stale_secs(stale_by)).detail("stale-while-revalidate");
                return Lookup::Hit(serve(req, client, &facts, meta, age, status));
            }
            // Invalidated by an unsafe request: a miss.
            Verdict::Fresh { .. } | Verdict::StaleWhileRevalidate { .. } => {}
            Verdict::Revalidate { conditional: c, .. } => {
                status = CacheStatus::forward(Forward::Stale);
                conditional = c;
                stale = Some((response, meta.clone()));
            }
        }
    }
    // Coalescing: one fetch per key in this isolate; the others wait for it and read the cache.
    let mut leader = None;
    if plan.store && stale.is_none() && !passes(&primary, req.clock()) {
        leader = Leader::claim(&primary_url);
        if leader.is_none() {
            // The wait spends the request's own origin deadline: a follower is never held past
            // it (waiting a whole timeout, then fetching with another, gave 504s at twice it).
            let deadline = Deadline::new(req.started_ms, settings.config.origin_timeout);
            if let (Some(left), Some(released)) = (
                deadline.remaining(js_sys::Date::now()),
                released(&primary_url),
            ) {
                let ms = u32::try_from(left.as_millis()).unwrap_or(u32::MAX);
                let _ = Settle::new(glue::within(&released, ms)).await;
            }
            req.clock_moves();
            let names = VARY
                .with(|v| v.borrow_mut().get(&primary).cloned())
                .unwrap_or_default();
            let url = storage_url(
                &key::variant(&primary, &names, |n| req.header(n)),
                generation,
            );
            if let Ok(Some(response)) = cache_match(&cache, &url).await {
                let facts = StoredFacts::read(&response);
                if let Some(stored) = facts.stored()
                    && let Verdict::Fresh { age, ttl } =
                        stored.judge(&request_facts(req, &names), at(req.read_clock()))
                {
                    return Lookup::Hit(serve(
                        req,
                        response,
                        &facts,
                        &stored.meta,
                        age,
                        CacheStatus::hit(ttl.as_secs() as i64).collapsed(),
                    ));
                }
            }
            status = status.collapsed();
        }
    }
    Lookup::Forward(Box::new(Pending {
        status,
        conditional,
        plan,
        primary,
        generation,
        request,
        stale,
        leader,
    }))
}

fn invalidated(path: &str, meta: &StoredMeta) -> bool {
    INVALIDATED.with(|i| {
        i.borrow_mut()
            .get(path)
            .is_some_and(|at| meta.stored_at_ms <= *at)
    })
}

/// RFC 9111 §4.4: a successful unsafe request (POST, PUT, DELETE...) invalidates what is stored
/// for its URL, and for its `Location` and `Content-Location` on the same host, in this isolate
/// (and the Cache API entry without variants, for the data centre).
pub async fn invalidate(req: &Incoming, settings: &Settings, env: &Env, response: &Response) {
    if matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS") || response.status() >= 400 {
        return;
    }
    req.clock_moves();
    let url = req.url();
    let mut paths = vec![normalize(url.path()).into_owned()];
    for name in ["location", "content-location"] {
        let Some(value) = header(&response.headers(), name) else {
            continue;
        };
        let same_host = match crate::forwarding::split_url(&value) {
            Some(parts) if parts.authority == url.authority => Some(parts.path().to_owned()),
            Some(_) => None,
            None => value
                .starts_with('/')
                .then(|| value.split(['?', '#']).next().unwrap_or("/").to_owned()),
        };
        if let Some(p) = same_host {
            paths.push(normalize(&p).into_owned());
        }
    }
    let now = js_sys::Date::now() as u64;
    let cache = default_cache();
    for path in paths {
        INVALIDATED.with(|i| i.borrow_mut().put(path.clone(), now));
        if let Some(cache) = &cache {
            let parts = KeyParts {
                method: "GET",
                scheme: url.scheme,
                authority: url.authority,
                path: &path,
                query: None,
                body_sha256: None,
            };
            let config = &settings.cache.config;
            let primary = key::primary(
                &parts,
                &config.drop_query_params,
                config.sort_query,
                true,
                false,
                |_| None,
            );
            let generation = purges::generation(settings, env, &path, req.started_ms).await;
            let _ = Settle::new(cache.delete_with_str(&storage_url(&primary, generation))).await;
        }
    }
}

/// A fresh stored answer to a request whose `If-None-Match` names its ETag: 304, no body.
fn not_modified(
    stored: &Response,
    meta: &StoredMeta,
    req: &Incoming,
    age: Duration,
    status: &CacheStatus,
) -> Option<Response> {
    let inm = req.header("if-none-match")?;
    let stored_headers = stored.headers();
    let etag = header(&stored_headers, "etag")?;
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if !(inm.trim() == "*" || inm.split(',').any(|t| weak(t) == weak(&etag))) {
        return None;
    }
    let headers = Headers::new().ok()?;
    for name in [
        "etag",
        "last-modified",
        "date",
        "expires",
        "content-location",
    ] {
        if let Some(v) = header(&stored_headers, name) {
            let _ = headers.set(name, &v);
        }
    }
    for (name, value) in originals(meta) {
        if let Some(v) = value {
            let _ = headers.set(name, v);
        }
    }
    let _ = headers.set("age", &age.as_secs().to_string());
    let _ = headers.set("cache-status", &status.header());
    let init = ResponseInit::new();
    init.set_status(304);
    init.set_headers(&headers);
    Response::new_with_opt_str_and_init(None, &init).ok()
}

/// Reads a request body of at most `max` bytes declared in `Content-Length` and keeps it for the
/// upstream request; `None` (bypass) for a larger, undeclared or unreadable body.
async fn read_small_body(req: &Incoming, max: u64) -> Option<Vec<u8>> {
    let declared: u64 = req.header("content-length")?.trim().parse().ok()?;
    if declared > max {
        return None;
    }
    let buffer = Settle::new(req.raw.array_buffer().ok()?).await.ok()?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    req.replay_body(bytes.clone());
    Some(bytes)
}

/// The edge's notes on a stored answer, read in one JS call.
struct StoredFacts {
    manifest: Option<String>,
    meta: Option<String>,
    length: Option<String>,
    allow_origin: bool,
}

thread_local! {
    /// The stored headers [`StoredFacts`] reads, in one crossing.
    static STORED_READS: String =
        [MANIFEST, META, "content-length", "access-control-allow-origin"].join("\n");
}

impl StoredFacts {
    fn read(stored: &Response) -> Self {
        let values = STORED_READS.with(|names| glue::response_values(stored, names));
        let mut it = glue::split_values(&values).map(|v| v.map(str::to_owned));
        let mut next = || it.next().flatten();
        Self {
            manifest: next(),
            meta: next(),
            length: next(),
            allow_origin: next().is_some(),
        }
    }

    /// The stored metadata, parsed once per isolate for each stored response (the text is its key:
    /// a new store writes new text).
    fn stored(&self) -> Option<Rc<Stored>> {
        let text = self.meta.as_deref()?;
        if let Some(known) = STORED.with(|m| m.borrow_mut().get(text).cloned()) {
            return Some(known);
        }
        let stored = Rc::new(Stored::parse(text)?);
        STORED.with(|m| m.borrow_mut().put(text.to_owned(), Rc::clone(&stored)));
        Some(stored)
    }
}

/// Builds the client's response from a stored one: the original `Cache-Control` and `Vary` back,
/// the metadata out, `Age` and `Cache-Status` set, the real status. The response is made by the
/// finishing step, with these edits and its own, in one crossing ([`Incoming::defer_edits`]).
fn serve(
    req: &Incoming,
    stored: Response,
    facts: &StoredFacts,
    meta: &StoredMeta,
    age: Duration,
    status: CacheStatus,
) -> Reply {
    let code = meta.served_status;
    let mut drop = glue::Lines::default();
    let mut set = glue::Lines::default();
    for (name, value) in originals(meta) {
        match value {
            Some(v) => set.pair(name, v),
            None => drop.push(name),
        }
    }
    for name in NOTES {
        drop.push(name);
    }
    set.pair("age", &age.as_secs().to_string());
    let cache_status = status.header();
    set.pair("cache-status", &cache_status);
    let with_body = !matches!(code, 204 | 205 | 304);
    let carried = super::Carried {
        cache_status,
        length: facts.length.clone(),
        vary: meta.vary().map(str::to_owned),
        allow_origin: facts.allow_origin,
    };
    req.defer_edits(&drop, &set, carried);
    Reply::Restored(Restored {
        stored,
        status: code,
        with_body,
    })
}

/// The edge's own headers on a stored copy, none of which a client sees. `cf-cache-status` is the
/// Cache API's note on the lookup, not part of the answer.
const NOTES: [&str; 2] = [META, "cf-cache-status"];

/// The origin's headers that a stored copy carries in its metadata instead (absent: none).
fn originals(meta: &StoredMeta) -> [(&'static str, Option<&str>); 2] {
    [
        ("cache-control", meta.cache_control.as_deref()),
        ("vary", meta.vary()),
    ]
}

/// The stored answer's body under `headers`, with its real status `code` (and no body where the
/// status allows none).
fn rebuild(stored: &Response, code: u16, headers: &Headers) -> Option<Response> {
    let init = ResponseInit::new();
    init.set_status(code);
    init.set_headers(headers);
    let body = if matches!(code, 204 | 205 | 304) {
        None
    } else {
        stored.body()
    };
    Response::new_with_opt_readable_stream_and_init(body.as_ref(), &init).ok()
}

/// Two responses sharing one body stream.
fn tee_response(response: &Response) -> (Response, Response) {
    let (a, b) = match response.body() {
        Some(body) => {
            let pair: Array = body.tee();
            (
                pair.get(0).dyn_into::<ReadableStream>().ok(),
                pair.get(1).dyn_into::<ReadableStream>().ok(),
            )
        }
        None => (None, None),
    };
    let copy = |stream: Option<ReadableStream>| {
        let init = ResponseInit::new();
        init.set_status(response.status());
        init.set_status_text(&response.status_text());
        init.set_headers(
            &Headers::new_with_headers(&response.headers()).unwrap_or_else(|_| response.headers()),
        );
        Response::new_with_opt_readable_stream_and_init(stream.as_ref(), &init)
            .unwrap_or_else(|_| Clone::clone(response))
    };
    (copy(a), copy(b))
}

/// The exchange a freshness decision sees: the request facts and the response's policy headers.
fn exchange(
    req_method: &str,
    url: &str,
    request: &[(String, String)],
    response: &Response,
) -> Exchange {
    let mut names = glue::Lines::default();
    for name in POLICY_RESPONSE_HEADERS
        .iter()
        .chain(&["set-cookie", "content-length"])
    {
        names.push(name);
    }
    // One crossing for all of them.
    let values = glue::values(&response.headers(), names.as_str());
    let response_headers = POLICY_RESPONSE_HEADERS
        .iter()
        .chain(&["set-cookie", "content-length"])
        .zip(glue::split_values(&values))
        .filter_map(|(n, v)| v.map(|v| ((*n).to_owned(), v.to_owned())))
        .collect();
    let method = if req_method == "HEAD" {
        "GET"
    } else {
        req_method
    };
    Exchange {
        method: method.to_owned(),
        url: url.to_owned(),
        request: request.to_vec(),
        status: response.status(),
        response: response_headers,
    }
}

/// Where an answer is stored: its primary key, generation, the headers it varies on, and the
/// variant's Cache API URL.
struct Place<'a> {
    primary: &'a str,
    generation: u64,
    vary: &'a [String],
    variant_url: String,
}

impl<'a> Place<'a> {
    /// The place of an answer varying on `vary`, whose values `header` reads.
    fn new(
        primary: &'a str,
        generation: u64,
        vary: &'a [String],
        header: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let variant_url = storage_url(&key::variant(primary, vary, header), generation);
        Self {
            primary,
            generation,
            vary,
            variant_url,
        }
    }
}

/// Stores `response` (teed: the client gets one branch, the Cache API the other) and returns the
/// client's branch.
fn store(
    ctx: &Context,
    response: &Response,
    meta: &StoredMeta,
    place: Place<'_>,
    leader: Option<Leader>,
) -> Response {
    let Place {
        primary,
        generation,
        vary,
        variant_url,
    } = place;
    let Some(cache) = default_cache() else {
        return Clone::clone(response);
    };
    let (client, stored) = tee_response(response);
    let headers = stored.headers();
    let _ = headers.delete("vary");
    let retention = format!("public, max-age={}", meta.retention().as_secs().max(1));
    let _ = headers.set("cache-control", &retention);
    if let Ok(json) = serde_json::to_string(meta) {
        let _ = headers.set(META, &json);
    }
    let init = ResponseInit::new();
    init.set_headers(&headers);
    let stored = Response::new_with_opt_readable_stream_and_init(stored.body().as_ref(), &init)
        .unwrap_or(stored);
    let manifest = (!vary.is_empty()).then(|| {
        let h = Headers::new().ok()?;
        let _ = h.set(MANIFEST, &vary.join(", "));
        let _ = h.set("cache-control", &retention);
        let init = ResponseInit::new();
        init.set_headers(&h);
        Response::new_with_opt_str_and_init(None, &init).ok()
    });
    let primary_url = storage_url(primary, generation);
    super::wait_until(ctx, async move {
        if let Some(Some(m)) = manifest {
            let _ = Settle::new(cache.put_with_str(&primary_url, &m)).await;
        }
        if let Err(e) = Settle::new(cache.put_with_str(&variant_url, &stored)).await {
            // The runtime rejects with an Error (a TypeError for an unstorable response).
            log::warn(&format!(
                "wyn-edge: cache put failed: {}",
                Failure::Thrown(e)
            ));
        }
        drop(leader);
    });
    client
}

/// After the origin answered (or failed): `stale-if-error`, a 304 refreshing the stored copy, or a
/// new answer stored while it streams. Sets `Cache-Status`.
pub fn complete(
    req: &Incoming,
    settings: &Settings,
    ctx: &Context,
    pending: Box<Pending>,
    origin: Result<Response, EdgeError>,
) -> Result<Reply, EdgeError> {
    let Pending {
        mut status,
        plan,
        primary,
        generation,
        request,
        stale,
        leader,
        ..
    } = *pending;
    let now = at(req.clock());
    let origin_failed = match &origin {
        Err(e) => e.culprit == Culprit::Origin,
        Ok(r) => r.status() >= 500,
    };
    if origin_failed
        && let Some((response, meta)) = &stale
        && meta.serves_on_error(now)
    {
        let fwd_status = origin.as_ref().map_or(
            if matches!(&origin, Err(e) if e.kind.status() == 504) {
                504
            } else {
                502
            },
            Response::status,
        );
        let stale_by = meta
            .age(now)
            .saturating_sub(Duration::from_millis(meta.fresh_for_ms));
        let s = status
            .fwd_status(fwd_status)
            .ttl(-stale_secs(stale_by))
            .detail("stale-if-error");
        return Ok(serve(
            req,
            Clone::clone(response),
            &StoredFacts::read(response),
            meta,
            meta.age(now),
            s,
        ));
    }
    let response = origin?;
    status = status.fwd_status(response.status());
    let url = req.url();
    let full_url = format!("{}://{}{}", url.scheme, url.authority, url.path_and_query);
    if response.status() == 304
        && let Some((stored, meta)) = &stale
    {
        // The origin answered our validators: the stored body stands, with its headers refreshed.
        let updates = header_pairs(&response.headers());
        let max = settings.cache.config.max_object_size;
        if let Some((refreshed, fresh)) = refresh(stored, meta, &updates, plan.ttl, max, now) {
            let Some(fresh) = fresh else {
                let _ = refreshed
                    .headers()
                    .set("cache-status", &status.detail("not-storable").header());
                return Ok(Reply::Made(refreshed));
            };
            let vary = key::vary_names(header(&refreshed.headers(), "vary").as_deref())
                .unwrap_or_default();
            let place = Place::new(&primary, generation, &vary, |n| req.header(n));
            let client = store(ctx, &refreshed, &fresh, place, leader);
            let _ = client.headers().set("age", "0");
            let ttl = fresh.fresh_for_ms as i64 / 1000;
            let _ = client
                .headers()
                .set("cache-status", &status.ttl(ttl).stored().header());
            return Ok(Reply::Made(client));
        }
    }
    if !plan.store {
        let _ = response.headers().set("cache-status", &status.header());
        return Ok(Reply::Made(response));
    }
    let vary_header = header(&response.headers(), "vary");
    let Some(vary) = key::vary_names(vary_header.as_deref()) else {
        set_pass(&primary, true, req.clock());
        let _ = response.headers().set(
            "cache-status",
            &status.detail(NotStored::VaryStar.detail()).header(),
        );
        return Ok(Reply::Made(response));
    };
    let mut facts = request.clone();
    for name in &vary {
        if !facts.iter().any(|(n, _)| n == name)
            && let Some(v) = req.header(name)
        {
            facts.push((name.clone(), v));
        }
    }
    let ex = exchange(&req.method, &full_url, &facts, &response);
    match freshness::store_with(&ex, plan.ttl, settings.cache.config.max_object_size, now) {
        Ok(meta) => {
            set_pass(&primary, false, req.clock());
            VARY.with(|v| v.borrow_mut().put(primary.clone(), vary.clone()));
            let client = store(
                ctx,
                &response,
                &meta,
                Place::new(&primary, generation, &vary, |n| req.header(n)),
                leader,
            );
            let ttl = (meta.fresh_for_ms / 1000) as i64;
            let _ = client
                .headers()
                .set("cache-status", &status.ttl(ttl).stored().header());
            Ok(Reply::Made(client))
        }
        Err(why) => {
            set_pass(&primary, true, req.clock());
            let _ = response.headers().set(
                "cache-status",
                &status.detail(cache_status_detail(why)).header(),
            );
            Ok(Reply::Made(response))
        }
    }
}

/// A stored response refreshed by a 304 (RFC 9111 §4.3.4): the stored body, the 304's
/// end-to-end headers over the stored ones, and new metadata (`None` when the refreshed headers
/// no longer allow storing).
fn refresh(
    stored: &Response,
    meta: &StoredMeta,
    updates: &[(String, String)],
    ttl: Option<Duration>,
    max_object_size: u64,
    now: SystemTime,
) -> Option<(Response, Option<StoredMeta>)> {
    let merged = Headers::new_with_headers(&stored.headers()).ok()?;
    for name in NOTES {
        let _ = merged.delete(name);
    }
    for (name, value) in originals(meta) {
        let _ = match value {
            Some(v) => merged.set(name, v),
            None => merged.delete(name),
        };
    }
    for (name, value) in updates {
        // The stored body stays, so what describes it stays too; so does the ETag that
        // identified it (a 304 naming another one is not about this body). The edge's own notes
        // are never taken from an origin.
        if !NOTES.contains(&name.as_str())
            && !matches!(
                name.as_str(),
                "content-length"
                    | "content-encoding"
                    | "content-range"
                    | "content-md5"
                    | "etag"
                    | "transfer-encoding"
                    | "connection"
                    | "keep-alive"
                    | "set-cookie"
            )
        {
            let _ = merged.set(name, value);
        }
    }
    let refreshed = rebuild(stored, meta.served_status, &merged)?;
    let ex = exchange(&meta.method, &meta.url, &meta.request, &refreshed);
    let fresh = freshness::store_with(&ex, ttl, max_object_size, now).ok();
    Some((refreshed, fresh))
}

fn header_pairs(headers: &Headers) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(Some(iter)) = js_sys::try_iter(headers) {
        for entry in iter.flatten() {
            let pair: Array = entry.unchecked_into();
            if let (Some(n), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                out.push((n, v));
            }
        }
    }
    out
}

/// A second handle on the request's context, for work that outlives the handler.
fn share(ctx: &Context) -> Context {
    let js: &JsValue = ctx.as_ref();
    js.clone().unchecked_into()
}

/// `stale-while-revalidate`: refresh the entry after the stale answer went out.
#[allow(clippy::too_many_arguments)]
fn revalidate_in_background(
    req: &Incoming,
    settings: &Rc<Settings>,
    ctx: &Context,
    primary: &str,
    generation: u64,
    request: &[(String, String)],
    plan: &Plan,
    stale: Response,
    meta: StoredMeta,
) {
    let Ok(origin) = settings.origin.clone() else {
        return;
    };
    let Some(leader) = Leader::claim(&format!("revalidate {primary}")) else {
        return;
    };
    let validators: Vec<(String, String)> = [
        ("if-none-match", "etag"),
        ("if-modified-since", "last-modified"),
    ]
    .iter()
    .filter_map(|(name, stored)| {
        meta.response
            .iter()
            .find(|(n, _)| n == stored)
            .map(|(_, v)| ((*name).to_owned(), v.clone()))
    })
    .collect();
    let url = req.url();
    let target = crate::forwarding::upstream_url(&origin, url.path_and_query);
    let full_url = format!("{}://{}{}", url.scheme, url.authority, url.path_and_query);
    let fetch = super::upstream::start(
        req,
        settings,
        &validators,
        "GET",
        &target,
        &JsValue::UNDEFINED,
        settings.config.origin_timeout,
    );
    let (settings, primary, request, plan, ctx2) = (
        Rc::clone(settings),
        primary.to_owned(),
        request.to_vec(),
        plan.clone(),
        share(ctx),
    );
    let vary_values: Vec<(String, String)> = key::vary_names(meta.vary())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| req.header(&n).map(|v| (n, v)))
        .collect();
    super::wait_until(ctx, async move {
        let _leader = leader;
        let Ok(response) = super::upstream::settle(fetch).await else {
            return;
        };
        let now = now();
        let vary_of = |n: &str| {
            vary_values
                .iter()
                .find(|(m, _)| m == n)
                .map(|(_, v)| v.clone())
        };
        if response.status() == 304 {
            let updates = header_pairs(&response.headers());
            let max = settings.cache.config.max_object_size;
            if let Some((refreshed, Some(fresh))) =
                refresh(&stale, &meta, &updates, plan.ttl, max, now)
            {
                let vary = key::vary_names(header(&refreshed.headers(), "vary").as_deref())
                    .unwrap_or_default();
                let place = Place::new(&primary, generation, &vary, vary_of);
                // Nobody reads the client branch: cancel it so the stored branch is not held back.
                let _ = store(&ctx2, &refreshed, &fresh, place, None)
                    .body()
                    .map(|b| b.cancel());
            }
            return;
        }
        let vary =
            key::vary_names(header(&response.headers(), "vary").as_deref()).unwrap_or_default();
        let mut facts = request.clone();
        facts.extend(vary_values.iter().cloned());
        let ex = exchange("GET", &full_url, &facts, &response);
        if let Ok(meta) =
            freshness::store_with(&ex, plan.ttl, settings.cache.config.max_object_size, now)
        {
            // Nobody reads the client branch: cancel it so the stored branch is not held back.
            let _ = store(
                &ctx2,
                &response,
                &meta,
                Place::new(&primary, generation, &vary, vary_of),
                None,
            )
            .body()
            .map(|b| b.cancel());
        }
    });
}
