//! The demo origin: a small stand-in for WYN (a Next.js wine app) that the edge proxies to in dev,
//! in the end-to-end suite and in the bench.
//!
//! It answers like the real app where the edge cares (cache headers, ETags, `RSC: 1` flight
//! responses, a session cookie, server-sent events) and adds probes that make the edge's behaviour
//! visible: `/api/echo` reflects the request exactly as it arrived, `/api/status/{code}` answers any
//! status, `/api/hop-headers` sends hop-by-hop headers and `/api/cors-leak` its own CORS headers, for the
//! edge to strip. Every response carries
//! `x-origin-request-count`, so a test can tell whether a request reached the origin at all.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let origin = format!("http://{}", listener.local_addr()?);
//! tokio::spawn(wyn_edge_tests::origin::serve(listener));
//! // ... point the edge at `origin` ...
//! # Ok(())
//! # }
//! ```

mod pages;
mod probes;
mod streams;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The response header that counts the requests this origin has answered, this one included.
pub const REQUEST_COUNT_HEADER: HeaderName = HeaderName::from_static("x-origin-request-count");

/// How the origin behaves beyond its routes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Log one line per request to stderr.
    pub log_requests: bool,
}

/// Serves the demo app on an already-bound listener until the future is dropped.
///
/// Dropping it closes every connection at once, a response in the middle of its stream included,
/// the way an origin that dies looks to the edge.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    serve_with(listener, &Options::default(), std::future::pending()).await
}

/// Serves the demo app until `shutdown` completes, then stops accepting and waits for the requests
/// in flight (an open `/api/chat` stream included) to finish. Dropped, it stops at once, like
/// [`serve`].
pub async fn serve_with(
    listener: TcpListener,
    options: &Options,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = app_with(options);
    let (closing, closing_seen) = watch::channel(false);
    // Owning the connection tasks is what makes dropping this future close them.
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small SSE frames go out as they are written, not after the peer's ACK.
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, app.clone(), closing_seen.clone()));
                }
                Err(e) => accept_failed(e).await?,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(stream: TcpStream, app: Router, mut closing: watch::Receiver<bool>) {
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        // A connection that fails (the peer went away, a malformed request) concerns only itself.
        _ = connection.as_mut() => return,
        _ = closing.wait_for(|closing| *closing) => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}

/// Rides out the accept errors that concern one connection or a passing shortage of descriptors
/// or memory; any other means the listener is broken.
async fn accept_failed(e: std::io::Error) -> std::io::Result<()> {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        return Ok(());
    }
    let shortage = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM];
    if e.raw_os_error()
        .is_some_and(|code| shortage.contains(&code))
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        return Ok(());
    }
    Err(e)
}

/// The axum Router (for in-process tests). Each router counts its own requests from zero.
pub fn app() -> Router {
    app_with(&Options::default())
}

/// The axum Router with the given options.
pub fn app_with(options: &Options) -> Router {
    let counter = Counter {
        requests: Arc::new(AtomicU64::new(0)),
        log_requests: options.log_requests,
    };
    Router::new()
        .route("/api/health", get(pages::health))
        .route("/api/venues", get(pages::venues))
        .route("/venues/{id}", get(pages::venue_page))
        .route("/static/{*path}", get(pages::static_asset))
        .route("/api/me", get(pages::me))
        .route("/api/chat", post(streams::chat))
        .route("/api/slow", get(streams::slow))
        .route("/api/status/{code}", any(probes::status))
        .route("/api/echo", any(probes::echo))
        .route("/api/echo/{*rest}", any(probes::echo))
        .route("/api/hop-headers", get(probes::hop_headers))
        .route("/api/cors-leak", get(probes::cors_leak))
        .route("/api/cacheable", get(probes::cacheable))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Added last so that it wraps the fallbacks too: every response is counted and stamped.
        .layer(middleware::from_fn_with_state(counter, count_requests))
}

#[derive(Clone)]
struct Counter {
    requests: Arc<AtomicU64>,
    log_requests: bool,
}

async fn count_requests(State(counter): State<Counter>, request: Request, next: Next) -> Response {
    let n = counter.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let started = Instant::now();
    let line = counter
        .log_requests
        .then(|| format!("#{n} {} {}", request.method(), request.uri()));
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(REQUEST_COUNT_HEADER, HeaderValue::from(n));
    if let Some(line) = line {
        // For a stream this is the time to the response head, not to its end.
        eprintln!(
            "{line} -> {} in {} ms",
            response.status().as_u16(),
            started.elapsed().as_millis()
        );
    }
    response
}

async fn not_found() -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, "not found")
}

async fn method_not_allowed() -> Refusal {
    Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// A request the origin will not answer as asked, sent as `{"error": message}`.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

/// The query string's pairs in order, or a 400 when it does not decode.
fn query_pairs(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, Refusal> {
    query
        .map(|Query(pairs)| pairs)
        .map_err(|rejection| Refusal::bad_request(format!("query: {}", rejection.body_text())))
}

/// Reads a whole-number query parameter: `default` when absent, clamped to `max`; a 400 naming
/// the parameter when it is not a whole number, or is absent and has no default.
fn number_param(
    pairs: &[(String, String)],
    name: &str,
    default: Option<u64>,
    max: u64,
) -> Result<u64, Refusal> {
    let expected = format!("{name}: expected a whole number (values above {max} count as {max})");
    match pairs.iter().find(|(key, _)| key == name) {
        Some((_, value)) => value
            .parse::<u64>()
            .map(|n| n.min(max))
            .map_err(|_| Refusal::bad_request(format!("{expected}, found {value:?}"))),
        None => default.ok_or_else(|| Refusal::bad_request(format!("{expected}, found nothing"))),
    }
}
