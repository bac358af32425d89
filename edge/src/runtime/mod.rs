//! The adapter between the pure policy modules and the Workers runtime: the only code that touches
//! `worker::Env`, `web_sys::Request` and `web_sys::Response`.
//!
//! It reads each request header at most once, and only those a decision needs: every read
//! crosses the JS boundary.

pub mod admin_api;
pub mod cache;
pub mod cors;
pub mod health;
pub mod metrics;
pub mod purges;
pub mod rate_limit;
pub mod rate_limiter_object;
pub mod settings;
pub mod upstream;

use std::cell::OnceCell;

use wasm_bindgen::JsValue;
use web_sys::{Headers, Request, Response, ResponseInit};
use wyn_edge_shared::{REQUEST_ID_HEADER, problem};

pub use settings::{Settings, settings};

use crate::error::{Culprit, EdgeError};
use crate::rate_limit::client_key::ClientKey;
use crate::{admin, forwarding, request_id};

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    pub(crate) fn random_uuid() -> String;
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
    /// The request id: the client's if well formed, else a new UUID.
    pub request_id: String,
    /// When the edge received the request, in ms since the epoch.
    pub started_ms: f64,
    /// `CF-Connecting-IP`: the only client address the edge believes.
    pub connecting_ip: Option<String>,
    origin: OnceCell<Option<String>>,
    preflight: bool,
    replay: std::cell::RefCell<Option<Vec<u8>>>,
    /// Headers already read, by name (the request's headers never change).
    read: std::cell::RefCell<Vec<(String, Option<String>)>>,
    /// Time from the origin fetch to its response head, ms.
    pub origin_ms: std::cell::Cell<Option<f64>>,
}

impl Incoming {
    /// Wraps the runtime's request.
    pub fn new(raw: Request) -> Self {
        let headers = raw.headers();
        let request_id = request_id::accept(header(&headers, REQUEST_ID_HEADER).as_deref())
            .map_or_else(random_uuid, str::to_owned);
        let connecting_ip = header(&headers, "cf-connecting-ip");
        let method = raw.method();
        let origin = OnceCell::new();
        // Only an OPTIONS can be a preflight: other methods pay no header reads for it.
        let preflight = method == "OPTIONS" && {
            let o = header(&headers, "origin");
            let is = crate::rate_limit::is_preflight(
                &method,
                o.is_some(),
                headers
                    .has("access-control-request-method")
                    .unwrap_or(false),
            );
            let _ = origin.set(o);
            is
        };
        Self {
            method,
            url: raw.url(),
            headers,
            raw,
            request_id,
            started_ms: js_sys::Date::now(),
            connecting_ip,
            origin,
            preflight,
            replay: std::cell::RefCell::new(None),
            read: std::cell::RefCell::new(Vec::new()),
            origin_ms: std::cell::Cell::new(None),
        }
    }

    /// The URL split into scheme, authority and path; the runtime always gives an absolute URL.
    pub fn url(&self) -> forwarding::UrlParts<'_> {
        forwarding::split_url(&self.url).unwrap_or(forwarding::UrlParts {
            scheme: "https",
            authority: "",
            path_and_query: "/",
        })
    }

    /// The request path, without the query.
    pub fn path(&self) -> &str {
        self.url().path()
    }

    /// One request header, read across the JS boundary once per request whatever asks for it
    /// (the rate limits, the cache key, the freshness check and the upstream filter all may).
    pub fn header(&self, name: &str) -> Option<String> {
        if let Some((_, value)) = self.read.borrow().iter().find(|(n, _)| n == name) {
            return value.clone();
        }
        let value = header(&self.headers, name);
        self.read
            .borrow_mut()
            .push((name.to_owned(), value.clone()));
        value
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

    /// The `Origin` header, read once.
    pub fn origin(&self) -> Option<&str> {
        self.origin.get_or_init(|| self.header("origin")).as_deref()
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

/// Records the request's outcome in the isolate's metrics and sets `Server-Timing`. The span is
/// arrival to response head: it stays true in production, where timers only move across I/O.
pub fn observe(req: &Incoming, settings: &Settings, response: &Response, refused: bool) {
    let now = js_sys::Date::now();
    let total = (now - req.started_ms).max(0.0);
    let headers = response.headers();
    let cache = crate::metrics::cache_class(header(&headers, "cache-status").as_deref());
    let origin = req.origin_ms.get();
    let _ = headers.set(
        "server-timing",
        &crate::metrics::server_timing(total, origin, cache),
    );
    let bytes_out = header(&headers, "content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let outcome = crate::metrics::Outcome {
        now_ms: now,
        path: req.path(),
        method: &req.method,
        status: response.status(),
        cache,
        rate_limit: if refused { "refused" } else { "pass" },
        version: &settings.version,
        total_ms: total,
        origin_ms: origin,
        bytes_out,
    };
    settings.metrics.borrow_mut().record(&outcome);
}

/// Reads one header; a failed read (an invalid name) counts as absent.
pub fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

/// Turns the pipeline's result into the response sent to the client, with the request id on it.
///
/// CORS headers go on last, after any cache lookup, so a stored response never carries another
/// origin's headers; the edge's own errors get them too, so a page can read its 429.
pub fn respond(
    result: Result<Response, EdgeError>,
    req: &Incoming,
    settings: &Settings,
) -> Response {
    let response = match result {
        Ok(response) => {
            // Responses the pipeline built or rebuilt have mutable headers.
            let _ = response.headers().set(REQUEST_ID_HEADER, &req.request_id);
            response
        }
        Err(error) => problem_response(&error, req),
    };
    if !req.is_preflight() {
        cors::apply(&response, req, settings);
    }
    response
}

fn problem_response(error: &EdgeError, req: &Incoming) -> Response {
    if error.culprit != Culprit::Client {
        worker::console_warn!(
            "{{\"event\":\"problem\",\"type\":\"{}\",\"culprit\":\"{:?}\",\"request_id\":\"{}\"}}",
            error.kind.slug(),
            error.culprit,
            req.request_id
        );
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
    text_response(error.kind.status(), problem::CONTENT_TYPE, &body, &extra)
}

/// A response the edge writes itself: never cached, never sniffed.
pub fn text_response(
    status: u16,
    content_type: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> Response {
    let headers = Headers::new().unwrap_or_else(|_| unreachable_headers());
    let _ = headers.set("content-type", content_type);
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set("x-content-type-options", "nosniff");
    for (name, value) in extra {
        let _ = headers.set(name, value);
    }
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    Response::new_with_opt_str_and_init(Some(body), &init)
        .or_else(|_| Response::new_with_opt_str_and_init(None, &ResponseInit::new()))
        .unwrap_or_else(|e| wasm_bindgen::throw_val(e))
}

fn unreachable_headers() -> Headers {
    wasm_bindgen::throw_val(JsValue::from_str(
        "the runtime cannot create a Headers object",
    ))
}
