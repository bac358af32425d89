//! The adapter between the pure policy modules and the Workers runtime: the only code that touches
//! the bindings (`env`), `web_sys::Request` and `web_sys::Response`.
//!
//! It reads each request header at most once, and only those a decision needs: every read
//! crosses the JS boundary.

pub mod admin_api;
pub mod cache;
pub mod cors;
pub mod env;
pub mod failure;
pub mod glue;
pub mod health;
pub mod instance;
pub mod log;
pub mod metrics;
pub mod objects;
pub mod purges;
pub mod rate_limit;
pub mod rate_limiter_object;
pub mod settings;
pub mod storage;
pub mod task;
pub mod upstream;

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Headers, Request, Response};
use wyn_edge_shared::{REQUEST_ID_HEADER, problem};

use env::ObjectStub;
pub use settings::{Settings, settings};
use task::Settle;
use worker_sys::Context;

use crate::error::{Culprit, EdgeError};
use crate::rate_limit::client_key::ClientKey;
use crate::{admin, forwarding, request_id};

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    pub(crate) fn random_uuid() -> String;
}

/// Request headers read in one crossing when the request arrives: those most requests need (the
/// request id, the client address, CORS, the cache key and freshness, the body size). Others are
/// read on demand.
pub(crate) const PREFETCH: [&str; 19] = [
    REQUEST_ID_HEADER,
    "cf-connecting-ip",
    "origin",
    "connection",
    "content-length",
    "range",
    "cache-control",
    "pragma",
    "authorization",
    "cookie",
    "if-none-match",
    "rsc",
    "next-router-state-tree",
    "next-router-prefetch",
    "next-router-segment-prefetch",
    "next-url",
    // Last: only a preflight reads them, so only an `OPTIONS` fetches them up front.
    "access-control-request-method",
    "access-control-request-headers",
    "access-control-request-private-network",
];

/// How many of [`PREFETCH`] a request other than `OPTIONS` fetches up front (the rest are read
/// if something asks).
pub(crate) const PREFETCH_UNLESS_OPTIONS: usize = PREFETCH.len() - 3;

/// `name`'s value among those fetched up front; `None` when it was not fetched (not a [`PREFETCH`]
/// name, or one an `OPTIONS` alone fetches).
fn prefetched_slot<'a>(prefetched: &'a [Option<String>], name: &str) -> Option<&'a Option<String>> {
    prefetched.get(PREFETCH.iter().position(|n| *n == name)?)
}

/// What the pipeline knows about the request it is handling.
pub struct Incoming {
    /// The runtime's request, whose body is streamed on untouched.
    pub raw: Request,
    /// Its headers (a handle: reading one still crosses into JS).
    pub headers: Headers,
    /// The request method, as sent.
    pub method: String,
    url: String,
    /// Where [`Incoming::url`]'s parts lie in `url`, split once: many phases ask.
    url_parts: Option<forwarding::UrlSpans>,
    /// The request id: the client's if well formed, else a new UUID.
    pub request_id: String,
    /// When the edge received the request, in ms since the epoch.
    pub started_ms: f64,
    /// `CF-Connecting-IP`: the only client address the edge believes.
    pub connecting_ip: Option<String>,
    preflight: bool,
    replay: std::cell::RefCell<Option<Vec<u8>>>,
    /// The values of the [`PREFETCH`] headers fetched up front (all for an `OPTIONS`, else the
    /// first [`PREFETCH_UNLESS_OPTIONS`]), in that order.
    prefetched: Vec<Option<String>>,
    /// Other headers already read, by name (the request's headers never change).
    read: std::cell::RefCell<Vec<(String, Option<String>)>>,
    /// Time from the origin fetch to its response head, ms.
    pub origin_ms: std::cell::Cell<Option<f64>>,
    /// The last clock reading, while no I/O has come since (see [`Incoming::clock`]).
    clock_ms: std::cell::Cell<Option<f64>>,
    /// Headers for the response the pipeline answers with (the rate-limit fields).
    deferred: std::cell::RefCell<glue::Lines>,
    /// Headers to delete from it first, and what it is known to carry (see [`Incoming::defer_edits`]).
    deferred_drop: std::cell::RefCell<glue::Lines>,
    known: std::cell::RefCell<Option<Carried>>,
}

/// What the response the pipeline answers with carries, when the pipeline knows it (a stored
/// answer served): [`finish`] then reads nothing back from it.
pub struct Carried {
    /// `Cache-Status`.
    pub cache_status: String,
    /// `Content-Length`.
    pub length: Option<String>,
    /// `Vary`.
    pub vary: Option<String>,
    /// Whether it has `Access-Control-Allow-Origin`.
    pub allow_origin: bool,
}

impl Incoming {
    /// Wraps the runtime's request: its method, URL and [`PREFETCH`] headers in one crossing
    /// (`glue.js` has the names since the settings were loaded).
    pub fn new(raw: Request) -> Self {
        let facts = glue::request_facts(&raw);
        let mut lines = facts.splitn(3, '\n');
        let method = lines.next().unwrap_or_default().to_owned();
        let url = lines.next().unwrap_or_default().to_owned();
        let fetched = if method == "OPTIONS" {
            PREFETCH.len()
        } else {
            PREFETCH_UNLESS_OPTIONS
        };
        let mut prefetched: Vec<Option<String>> =
            glue::split_values(lines.next().unwrap_or_default())
                .map(|v| v.map(str::to_owned))
                .take(fetched)
                .collect();
        prefetched.resize(fetched, None);
        let value = |name: &str| prefetched_slot(&prefetched, name)?.as_deref();
        let request_id =
            request_id::accept(value(REQUEST_ID_HEADER)).map_or_else(random_uuid, str::to_owned);
        let connecting_ip = value("cf-connecting-ip").map(str::to_owned);
        // Only an OPTIONS can be a preflight.
        let preflight = method == "OPTIONS"
            && crate::rate_limit::is_preflight(
                &method,
                value("origin").is_some(),
                value("access-control-request-method").is_some(),
            );
        let url_parts = forwarding::UrlSpans::of(&url);
        Self {
            method,
            url,
            url_parts,
            headers: raw.headers(),
            raw,
            request_id,
            started_ms: js_sys::Date::now(),
            connecting_ip,
            preflight,
            replay: std::cell::RefCell::new(None),
            prefetched,
            read: std::cell::RefCell::new(Vec::new()),
            origin_ms: std::cell::Cell::new(None),
            clock_ms: std::cell::Cell::new(None),
            deferred: std::cell::RefCell::new(glue::Lines::default()),
            deferred_drop: std::cell::RefCell::new(glue::Lines::default()),
            known: std::cell::RefCell::new(None),
        }
    }

    /// Reads `Date.now()` after I/O and keeps the reading for [`Incoming::clock`].
    pub fn read_clock(&self) -> f64 {
        let now = js_sys::Date::now();
        self.clock_ms.set(Some(now));
        now
    }

    /// The time now: the kept reading while no I/O has come since, else a new one. Each read is
    /// a crossing into JS, and on Workers the clock only moves across I/O anyway.
    pub fn clock(&self) -> f64 {
        self.clock_ms.get().unwrap_or_else(|| self.read_clock())
    }

    /// Forgets the kept reading before I/O whose end nobody reads the clock after.
    pub fn clock_moves(&self) {
        self.clock_ms.set(None);
    }

    /// The URL split into scheme, authority and path; the runtime always gives an absolute URL.
    pub fn url(&self) -> forwarding::UrlParts<'_> {
        self.url_parts.map_or(
            forwarding::UrlParts {
                scheme: "https",
                authority: "",
                path_and_query: "/",
            },
            |spans| spans.parts(&self.url),
        )
    }

    /// The request path, without the query.
    pub fn path(&self) -> &str {
        self.url().path()
    }

    /// One request header: from the prefetched ones, or read across the JS boundary once per
    /// request whatever asks for it (the rate limits, the cache key, the freshness check and the
    /// upstream filter all may).
    pub fn header(&self, name: &str) -> Option<String> {
        if let Some(value) = prefetched_slot(&self.prefetched, name) {
            return value.clone();
        }
        if let Some((_, value)) = self.read.borrow().iter().find(|(n, _)| n == name) {
            return value.clone();
        }
        let value = header(&self.headers, name);
        self.read
            .borrow_mut()
            .push((name.to_owned(), value.clone()));
        value
    }

    /// Adds a header to the response the pipeline answers with (set when it is sent).
    pub fn defer_header(&self, name: &str, value: &str) {
        self.deferred.borrow_mut().pair(name, value);
    }

    /// Edits for the response the pipeline answers with, made with [`finish`]'s own in one
    /// crossing: `drop` deleted, then `set` (before the deferred headers, so those win), and what
    /// the response then carries.
    pub fn defer_edits(&self, drop: &glue::Lines, set: &glue::Lines, carried: Carried) {
        self.deferred_drop.borrow_mut().append(drop);
        let mut deferred = self.deferred.borrow_mut();
        let later = std::mem::take(&mut *deferred);
        deferred.append(set);
        deferred.append(&later);
        *self.known.borrow_mut() = Some(carried);
    }

    /// The budget owner for rate limits.
    pub fn client_key(&self) -> ClientKey {
        ClientKey::from_ip(self.connecting_ip.as_deref())
    }

    /// Whether this is a CORS preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`).
    pub fn is_preflight(&self) -> bool {
        self.preflight
    }

    /// The `Origin` header.
    pub fn origin(&self) -> Option<&str> {
        self.prefetched("origin")
    }

    /// A [`PREFETCH`] header's value.
    fn prefetched(&self, name: &str) -> Option<&str> {
        prefetched_slot(&self.prefetched, name)?.as_deref()
    }

    /// Keeps a body read into memory (to hash it) for the upstream request.
    pub fn replay_body(&self, bytes: Vec<u8>) {
        *self.replay.borrow_mut() = Some(bytes);
    }

    /// The body to send upstream: the replayed bytes, or the client's stream untouched.
    pub fn upstream_body(&self) -> Option<JsValue> {
        if let Some(bytes) = self.replay.borrow().as_ref() {
            return Some(js_sys::Uint8Array::from(bytes.as_slice()).into());
        }
        if self.is_bodiless() {
            None
        } else {
            self.raw.body().map(JsValue::from)
        }
    }

    /// Whether the method never carries a body.
    pub fn is_bodiless(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD")
    }

    /// Whether the request's `Authorization` carries the admin token.
    pub fn carries_admin_token(&self, settings: &Settings) -> bool {
        settings.admin_token.is_some()
            && admin::is_admin_token(
                self.header("authorization").as_deref(),
                settings.admin_token.as_deref(),
            )
    }

    /// Refuses a body whose declared length is above `limit` (413) or unreadable (400).
    pub fn check_body_size(&self, limit: u64) -> Result<(), EdgeError> {
        if self.is_bodiless() {
            return Ok(());
        }
        match self.header("content-length") {
            None => Ok(()),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n > limit => Err(EdgeError::payload_too_large(limit)),
                Ok(_) => Ok(()),
                Err(_) => Err(EdgeError::bad_request("Content-Length is not a number.")),
            },
        }
    }
}

/// Response headers the finishing step reads, in one crossing: for metrics (`Cache-Status`,
/// `Content-Length`) and CORS (`Vary`, `Access-Control-Allow-Origin`).
const FINISH_READS: &str = "cache-status\ncontent-length\nvary\naccess-control-allow-origin";

/// What the pipeline answers with: a response made already (the origin's, an admin route's), or
/// one [`finish`] makes with every header at once: one the edge writes itself, or a stored one
/// served again.
pub enum Reply {
    /// A response with mutable headers.
    Made(Response),
    /// A response not made yet.
    Written(Written),
    /// A stored response, served again under its real status: its header edits were deferred
    /// ([`Incoming::defer_edits`]), so [`finish`] knows what it carries and reads nothing back.
    Restored(Restored),
}

/// A stored response to serve again, not made yet.
pub struct Restored {
    /// The response from the cache.
    pub stored: Response,
    /// The status it was stored with.
    pub status: u16,
    /// Whether its body goes too (not for 204, 205, 304).
    pub with_body: bool,
}

impl Restored {
    /// The response, with the edits `drop` then `set`. A status the runtime refuses (none the
    /// cache stores) gives the stored response as it is, edited.
    fn make(self, drop: &str, set: &str) -> (Response, u16) {
        match glue::restored(&self.stored, self.status, self.with_body, drop, set) {
            Some(response) => (response, self.status),
            None => {
                glue::edit(&self.stored.headers(), drop, set);
                let status = self.stored.status();
                (self.stored, status)
            }
        }
    }
}

/// A response the edge writes itself, not made yet: its status, body and headers, which
/// [`finish`] makes in the same crossing as its own headers, reading nothing back.
pub struct Written {
    status: u16,
    body: Option<String>,
    pairs: glue::Lines,
}

impl Written {
    /// A response of `status` with these headers and no body.
    pub fn empty(status: u16, pairs: glue::Lines) -> Self {
        Self {
            status,
            body: None,
            pairs,
        }
    }

    /// A text response: never cached, never sniffed, plus the `extra` headers.
    pub fn text(status: u16, content_type: &str, body: String, extra: &[(&str, &str)]) -> Self {
        let mut pairs = glue::Lines::default();
        pairs.pair("content-type", content_type);
        pairs.pair("cache-control", "no-store");
        pairs.pair("x-content-type-options", "nosniff");
        for (name, value) in extra {
            pairs.pair(name, value);
        }
        Self {
            status,
            body: Some(body),
            pairs,
        }
    }

    /// The response, with the edits `drop` then `set` applied to its headers. A status the
    /// runtime refuses (none the edge writes) gives an empty 200 rather than no response.
    fn make(&self, drop: &str, set: &str) -> Response {
        let pairs = self.pairs.as_str();
        glue::make_response(self.status, self.body.as_deref(), pairs, drop, set)
            .or_else(|_| Response::new())
            .unwrap_or_else(|e| wasm_bindgen::throw_val(e))
    }
}

/// Turns the pipeline's result into the response sent to the client, and records it.
///
/// On it go the request id, the deferred rate-limit fields, CORS headers (last, after any cache
/// lookup, so a stored response never carries another origin's headers; the edge's own errors
/// get them too, so a page can read its 429) and `Server-Timing`, all in one crossing: the one
/// that makes the response, for one the edge writes. The outcome goes into the isolate's metrics;
/// the span is arrival to response head, which stays true in production, where timers only move
/// across I/O.
pub fn finish(
    result: Result<Reply, EdgeError>,
    req: &Incoming,
    settings: &Settings,
    now: f64,
) -> Response {
    let refused = matches!(&result, Err(e) if e.kind == problem::ProblemType::QuotaExceeded);
    let (reply, mut set, mut drop, known) = match result {
        // Responses the pipeline built or rebuilt have mutable headers.
        Ok(reply) => {
            let mut set = std::mem::take(&mut *req.deferred.borrow_mut());
            set.pair(REQUEST_ID_HEADER, &req.request_id);
            let drop = std::mem::take(&mut *req.deferred_drop.borrow_mut());
            (reply, set, drop, req.known.borrow_mut().take())
        }
        Err(error) => (
            Reply::Written(problem(&error, req)),
            glue::Lines::default(),
            glue::Lines::default(),
            None,
        ),
    };
    let headers = match &reply {
        Reply::Made(response) => Some(response.headers()),
        Reply::Written(_) | Reply::Restored(_) => None,
    };
    let read;
    let (cache_status, length, vary, allow_origin) = match (&known, &headers) {
        (Some(k), _) => (
            Some(k.cache_status.as_str()),
            k.length.as_deref(),
            k.vary.as_deref(),
            k.allow_origin,
        ),
        // What the edge writes carries no cache status, `Vary` or CORS header but a preflight's
        // (which gets no more CORS headers). A restored response is always known.
        (None, None) => (None, None, None, false),
        (None, Some(headers)) => {
            read = glue::values(headers, FINISH_READS);
            let mut facts = glue::split_values(&read);
            let mut next = || facts.next().flatten();
            (next(), next(), next(), next().is_some())
        }
    };
    if !req.is_preflight() {
        cors::apply(req, settings, vary, allow_origin, &mut drop, &mut set);
    }
    let total = (now - req.started_ms).max(0.0);
    let cache = crate::metrics::cache_class(cache_status);
    let origin = req.origin_ms.get();
    set.pair(
        "server-timing",
        &crate::metrics::server_timing(total, origin, cache),
    );
    let bytes_out = length.and_then(|l| l.parse().ok());
    let (response, status, bytes_out) = match reply {
        Reply::Made(response) => {
            if let Some(headers) = &headers {
                glue::edit(headers, drop.as_str(), set.as_str());
            }
            let status = response.status();
            (response, status, bytes_out.unwrap_or(0))
        }
        Reply::Written(written) => (
            written.make(drop.as_str(), set.as_str()),
            written.status,
            written.body.as_ref().map_or(0, |b| b.len() as u64),
        ),
        Reply::Restored(restored) => {
            let (response, status) = restored.make(drop.as_str(), set.as_str());
            (response, status, bytes_out.unwrap_or(0))
        }
    };
    let outcome = crate::metrics::Outcome {
        now_ms: now,
        path: req.path(),
        method: &req.method,
        status,
        cache,
        rate_limit: if refused { "refused" } else { "pass" },
        version: &settings.version,
        total_ms: total,
        origin_ms: origin,
        bytes_out,
    };
    settings.metrics.borrow_mut().record(&outcome);
    response
}

/// What a Durable Object answered.
pub struct ObjectAnswer {
    /// Its status.
    pub status: u16,
    /// Its body.
    pub body: String,
}

/// Runs `work` as a task the runtime keeps the request alive for (`ctx.waitUntil`), when it
/// needs I/O.
pub fn wait_until(ctx: &Context, work: impl std::future::Future<Output = ()> + 'static) {
    let outcome = task::run(async move {
        work.await;
        JsValue::UNDEFINED
    });
    // Anything but `undefined` is the promise of a task still running.
    if !outcome.is_undefined() {
        let pending = outcome.unchecked_into::<js_sys::Promise>();
        let _ = ctx.wait_until(&pending);
    }
}

/// Asks a Durable Object: a POST of `body`, or a GET, its answer read with `Response.text()`.
pub async fn ask_object(
    stub: ObjectStub,
    url: &str,
    body: Option<&str>,
) -> failure::Result<ObjectAnswer> {
    let init = web_sys::RequestInit::new();
    if let Some(body) = body {
        init.set_method("POST");
        init.set_body(&JsValue::from_str(body));
    }
    let request = Request::new_with_str_and_init(url, &init)?;
    let response: Response = Settle::new(stub.fetch(&request)?).await?.dyn_into()?;
    let body = Settle::new(response.text()?).await?;
    Ok(ObjectAnswer {
        status: response.status(),
        body: body.as_string().unwrap_or_default(),
    })
}

/// Reads one header; a failed read (an invalid name) counts as absent.
pub fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

/// The problem document answering `error`.
fn problem(error: &EdgeError, req: &Incoming) -> Written {
    if error.culprit != Culprit::Client {
        log::warn(&format!(
            "{{\"event\":\"problem\",\"type\":\"{}\",\"culprit\":\"{:?}\",\"request_id\":\"{}\"}}",
            error.kind.slug(),
            error.culprit,
            req.request_id
        ));
    }
    let body = error.to_problem(&req.request_id).to_json();
    let mut extra: Vec<(&str, &str)> = vec![(REQUEST_ID_HEADER, req.request_id.as_str())];
    let retry_after = error.retry_after_secs.map(|s| s.to_string());
    if let Some(secs) = &retry_after {
        extra.push(("retry-after", secs));
    }
    let fields = error.limits.as_ref().and_then(|l| l.fields());
    if let Some((policy, remaining)) = &fields {
        extra.push(("ratelimit-policy", policy));
        extra.push(("ratelimit", remaining));
    }
    match error.kind {
        problem::ProblemType::Unauthorized => {
            extra.push(("www-authenticate", "Bearer realm=\"wyn-edge\""))
        }
        problem::ProblemType::MethodNotAllowed => extra.push(("allow", "GET, HEAD")),
        _ => {}
    }
    Written::text(error.kind.status(), problem::CONTENT_TYPE, body, &extra)
}

/// A response the edge writes itself, made now: never cached, never sniffed.
pub fn text_response(
    status: u16,
    content_type: &str,
    body: impl Into<String>,
    extra: &[(&str, &str)],
) -> Response {
    Written::text(status, content_type, body.into(), extra).make("", "")
}
