//! The upstream phase: the client's request streamed to the origin, the origin's answer streamed
//! back, with the headers [`crate::forwarding`] says to drop or set.
//!
//! Bodies are handed over as JS streams and never copied into wasm memory. Redirects are passed to
//! the client, not followed. The origin timeout covers the wait for the response head only: a long
//! stream (the chat endpoint's server-sent events) is never cut.

use std::time::Duration;

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, Request, RequestInit, RequestRedirect, Response, ResponseInit,
};
use wyn_edge_shared::REQUEST_ID_HEADER;

use super::{Incoming, Settings, header};
use crate::error::EdgeError;
use crate::forwarding::{self, CLIENT_MAY_NOT_SET, HOP_BY_HOP};

/// Why an upstream fetch gave no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchFailure {
    /// The connection failed (refused, DNS, reset, TLS).
    Unreachable,
    /// No response head within the timeout; the fetch was aborted.
    TimedOut,
}

/// Streams `req` to `origin` and returns the origin's response as is.
pub async fn forward(
    req: &Incoming,
    origin: &str,
    settings: &Settings,
    extra: &[(String, String)],
) -> Result<Response, EdgeError> {
    let headers = upstream_headers(req, settings, extra)?;
    let init = RequestInit::new();
    init.set_method(&req.method);
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    if let Some(body) = req.upstream_body() {
        init.set_body(&body);
    }
    let target = forwarding::upstream_url(origin, req.url().path_and_query);
    let timeout = settings.config.origin_timeout;
    match fetch_with_timeout(&target, &init, timeout).await {
        Ok(response) => Ok(response),
        Err(FetchFailure::Unreachable) => Err(EdgeError::origin_unreachable()),
        Err(FetchFailure::TimedOut) => Err(EdgeError::origin_timeout(timeout)),
    }
}

/// The headers the origin gets: the client's, less hop-by-hop and edge-only ones, plus the
/// forwarding headers, the request id and `extra` (validators when revalidating a stored copy).
pub fn upstream_headers(
    req: &Incoming,
    settings: &Settings,
    extra: &[(String, String)],
) -> Result<Headers, EdgeError> {
    let headers = Headers::new_with_headers(&req.headers).map_err(|_| EdgeError::internal())?;
    drop_hop_by_hop(&headers);
    for name in CLIENT_MAY_NOT_SET {
        let _ = headers.delete(name);
    }
    if req.carries_admin_token(settings) {
        // The admin token is the edge's; the origin never sees it.
        let _ = headers.delete("authorization");
    }
    let url = req.url();
    let _ = headers.set(REQUEST_ID_HEADER, &req.request_id);
    if let Some(ip) = forwarding::forwarded_for(req.connecting_ip.as_deref()) {
        let _ = headers.set("x-forwarded-for", &ip);
    }
    let _ = headers.set("x-forwarded-proto", url.scheme);
    let _ = headers.set("x-forwarded-host", url.authority);
    for (name, value) in extra {
        let _ = headers.set(name, value);
    }
    Ok(headers)
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
    let result = JsFuture::from(global.fetch_with_request(&request)).await;
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

/// The response filter: the origin's response with hop-by-hop headers dropped, made mutable so
/// later phases can add theirs. The body stream is passed through untouched.
pub fn filter_response(response: Response) -> Result<Response, EdgeError> {
    let headers =
        Headers::new_with_headers(&response.headers()).map_err(|_| EdgeError::internal())?;
    drop_hop_by_hop(&headers);
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_status_text(&response.status_text());
    init.set_headers(&headers);
    // A status the runtime cannot represent (the origin sent 999) is the origin's fault: 502.
    Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init)
        .map_err(|_| EdgeError::origin_invalid_response())
}

/// Deletes the headers `Connection` names, then the fixed hop-by-hop set.
fn drop_hop_by_hop(headers: &Headers) {
    if let Some(connection) = header(headers, "connection") {
        for name in forwarding::connection_tokens(&connection) {
            let _ = headers.delete(&name);
        }
    }
    for name in HOP_BY_HOP {
        let _ = headers.delete(name);
    }
}
