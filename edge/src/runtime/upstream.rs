//! The upstream phase: the client's request streamed to the origin, the origin's answer streamed
//! back, with the headers [`crate::forwarding`] says to drop or set.
//!
//! Bodies are handed over as JS streams and never copied into wasm memory. Redirects are passed to
//! the client, not followed. The origin timeout covers the wait for the response head only: a long
//! stream (the chat endpoint's server-sent events) is never cut. It is a [`Deadline`] from the
//! request's arrival: the fetch gets what the earlier phases left of it.

use std::time::Duration;

use super::task::Settle;
use js_sys::Promise;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortController, Headers, Request, RequestInit, Response};
use wyn_edge_shared::REQUEST_ID_HEADER;

use super::glue::{self, Lines};
use super::{Incoming, Settings, header};
use crate::deadline::Deadline;
use crate::error::EdgeError;
use crate::forwarding;

/// Why an upstream fetch gave no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchFailure {
    /// The connection failed (refused, DNS, reset, TLS).
    Unreachable,
    /// No response head within the timeout; the fetch was aborted.
    TimedOut,
    /// A response the runtime cannot represent (the origin sent status 999).
    Invalid,
}

/// Streams `req` to `origin` (with `extra` headers: validators when revalidating a stored copy)
/// and returns the origin's response through the response filter, in one crossing. `now_ms` is
/// the time now: the fetch is given what is left of the request's [`Deadline`], and a request
/// whose deadline already passed is a 504 without reaching the origin.
pub async fn forward(
    req: &Incoming,
    origin: &str,
    settings: &Settings,
    extra: &[(String, String)],
    now_ms: f64,
) -> Result<Response, EdgeError> {
    let timeout = settings.config.origin_timeout;
    let Some(left) = Deadline::new(req.started_ms, timeout).remaining(now_ms) else {
        return Err(EdgeError::origin_timeout(timeout));
    };
    let body = req.upstream_body().unwrap_or(JsValue::UNDEFINED);
    let target = forwarding::upstream_url(origin, req.url().path_and_query);
    match settle(start(req, settings, extra, "", &target, &body, left)).await {
        Ok(response) => Ok(response),
        Err(FetchFailure::Unreachable) => Err(EdgeError::origin_unreachable()),
        Err(FetchFailure::TimedOut) => Err(EdgeError::origin_timeout(timeout)),
        Err(FetchFailure::Invalid) => Err(EdgeError::origin_invalid_response()),
    }
}

/// Starts sending `req`'s headers, edited for the origin (see [`header_edits`]), to `url` with
/// `method` (the request's own when empty) and `body`; [`settle`] gives the answer.
pub fn start(
    req: &Incoming,
    settings: &Settings,
    extra: &[(String, String)],
    method: &str,
    url: &str,
    body: &JsValue,
    timeout: Duration,
) -> Promise {
    let (drop, set) = header_edits(req, settings, extra);
    let method = if method.is_empty() {
        &req.method
    } else {
        method
    };
    let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    glue::forward(
        &req.headers,
        url,
        method,
        body,
        drop.as_str(),
        set.as_str(),
        ms,
    )
}

/// The answer of a fetch [`start`]ed, through the response filter.
pub async fn settle(fetch: Promise) -> Result<Response, FetchFailure> {
    match Settle::new(fetch).await {
        Ok(response) => {
            let response: Response = response.unchecked_into();
            drop_connection_tokens(&response.headers());
            Ok(response)
        }
        Err(code) if code.as_f64() == Some(glue::TIMED_OUT) => Err(FetchFailure::TimedOut),
        Err(code) if code.as_f64() == Some(glue::INVALID) => Err(FetchFailure::Invalid),
        Err(_) => Err(FetchFailure::Unreachable),
    }
}

/// How the client's headers change for the origin, beyond the hop-by-hop and client-only ones
/// `glue.js` always drops: what the client's `Connection` names (and the admin token) go; the
/// forwarding headers, the request id and `extra` are set.
fn header_edits(req: &Incoming, settings: &Settings, extra: &[(String, String)]) -> (Lines, Lines) {
    let mut drop = Lines::default();
    if let Some(connection) = req.header("connection") {
        for name in forwarding::connection_tokens(&connection) {
            drop.push(&name);
        }
    }
    if req.carries_admin_token(settings) {
        // The admin token is the edge's; the origin never sees it.
        drop.push("authorization");
    }
    let url = req.url();
    let mut set = Lines::default();
    set.pair(REQUEST_ID_HEADER, &req.request_id);
    if let Some(ip) = forwarding::forwarded_for(req.connecting_ip.as_deref()) {
        set.pair("x-forwarded-for", &ip);
    }
    set.pair("x-forwarded-proto", url.scheme);
    set.pair("x-forwarded-host", url.authority);
    for (name, value) in extra {
        set.pair(name, value);
    }
    (drop, set)
}

/// Fetches `url` with `init`, aborting when no response head arrived within `timeout`.
///
/// The timer is the runtime's `setTimeout` calling the controller's own bound `abort`: no Rust
/// closure per request. It is cleared as soon as the head arrives, so a long body (a stream of
/// server-sent events, or one teed into the cache) is never cut. `AbortSignal.timeout` would be one
/// call less, but it aborts the body too when it fires mid-stream.
pub async fn fetch_with_timeout(
    url: &str,
    init: &RequestInit,
    timeout: Duration,
) -> Result<Response, FetchFailure> {
    let controller = AbortController::new().map_err(|_| FetchFailure::Unreachable)?;
    init.set_signal(Some(&controller.signal()));
    let request =
        Request::new_with_str_and_init(url, init).map_err(|_| FetchFailure::Unreachable)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let abort = js_sys::Reflect::get(&controller, &JsValue::from_str("abort"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .map(|f| f.bind0(&controller));
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let timer = abort.and_then(|f| {
        global
            .set_timeout_with_callback_and_timeout_and_arguments_0(&f, ms)
            .ok()
    });
    let result = Settle::new(global.fetch_with_request(&request)).await;
    if let Some(id) = timer {
        global.clear_timeout_with_handle(id);
    }
    match result {
        Ok(value) => value
            .dyn_into::<Response>()
            .map_err(|_| FetchFailure::Unreachable),
        Err(_) if controller.signal().aborted() => Err(FetchFailure::TimedOut),
        Err(_) => Err(FetchFailure::Unreachable),
    }
}

/// Deletes the headers `Connection` names, and `Connection` itself (`glue.js` drops the other
/// hop-by-hop headers).
fn drop_connection_tokens(headers: &Headers) {
    if let Some(connection) = header(headers, "connection") {
        for name in forwarding::connection_tokens(&connection) {
            let _ = headers.delete(&name);
        }
        let _ = headers.delete("connection");
    }
}
