//! Endpoints that exist to make the edge's behaviour visible: `/api/echo` reflects the request as
//! the origin received it, `/api/status/{code}` answers any final status, `/api/hop-headers` sends
//! hop-by-hop headers that the edge must not pass on.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request};
use axum::http::header::{CACHE_CONTROL, CONNECTION, LOCATION};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::json;

use super::Refusal;

/// The largest body `/api/echo` reflects.
pub(super) const ECHO_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// After the limit is passed, the rest of a body is still read and dropped up to this many bytes
/// in all, so that the client, still sending, gets to read the 413 instead of a connection reset.
const ECHO_DRAIN_LIMIT: usize = 4 * ECHO_BODY_LIMIT;

/// Any method on `/api/status/{code}`: that status, with `{"status": code}` unless the status
/// forbids a body.
pub(super) async fn status(code: Result<Path<String>, PathRejection>) -> Result<Response, Refusal> {
    let expected = "status: expected a final status code 200..=599";
    let Ok(Path(code)) = code else {
        return Err(Refusal::bad_request(format!(
            "{expected}, found an undecodable path segment"
        )));
    };
    let status = match code.parse::<u16>() {
        Ok(n @ 100..=199) => {
            return Err(Refusal::bad_request(format!(
                "{expected}, found {n} (1xx are interim responses, not answers)"
            )));
        }
        Ok(n @ 200..=599) => StatusCode::from_u16(n).ok(),
        _ => None,
    };
    let status =
        status.ok_or_else(|| Refusal::bad_request(format!("{expected}, found {code:?}")))?;
    let mut response = match status.as_u16() {
        // 205 too: RFC 9110 forbids it a body, like 204 and 304.
        204 | 205 | 304 => status.into_response(),
        n => (status, Json(json!({ "status": n }))).into_response(),
    };
    if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
        response
            .headers_mut()
            .insert(LOCATION, HeaderValue::from_static("/api/health"));
    }
    Ok(response)
}

/// Any method on `/api/echo` and `/api/echo/{*rest}`: the request as received.
///
/// Headers are listed as hyper hands them over: names lowercased, every value of a repeated name
/// kept in its order, names in the order they first appeared (a name that comes back later on the
/// wire is listed with its first occurrence).
pub(super) async fn echo(request: Request) -> Result<Response, Refusal> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let headers: Vec<[String; 2]> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            [
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ]
        })
        .collect();
    // `?sleep_ms=N` (at most 5 s) and `?status=N` shape the answer, for latency and error mixes.
    let query = parts.uri.query().unwrap_or("");
    let param = |name: &str| {
        query.split('&').find_map(|p| {
            p.split_once('=')
                .filter(|(n, _)| *n == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        })
    };
    if let Some(ms) = param("sleep_ms") {
        tokio::time::sleep(std::time::Duration::from_millis(ms.min(5_000))).await;
    }
    let status = param("status")
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| s.as_u16() >= 200)
        .unwrap_or(StatusCode::OK);
    Ok((
        status,
        [(CACHE_CONTROL, "no-store")],
        Json(json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
            "body_len": body.len(),
        })),
    )
        .into_response())
}

async fn read_body(body: Body) -> Result<Vec<u8>, Refusal> {
    let mut data = body.into_data_stream();
    let mut received = Vec::new();
    let mut seen = 0_usize;
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(|e| Refusal::bad_request(format!("body: {e}")))?;
        seen = seen.saturating_add(chunk.len());
        if seen <= ECHO_BODY_LIMIT {
            received.extend_from_slice(&chunk);
        } else if seen > ECHO_DRAIN_LIMIT {
            break;
        }
    }
    if seen > ECHO_BODY_LIMIT {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body: expected at most {ECHO_BODY_LIMIT} bytes, found more"),
        ));
    }
    Ok(received)
}

/// `GET /api/hop-headers`: a response carrying hop-by-hop headers (and `X-Hop-Secret`, made
/// hop-by-hop by naming it in `Connection`) beside one end-to-end header, `X-Kept`.
pub(super) async fn hop_headers() -> Response {
    (
        [
            (CONNECTION, "X-Hop-Secret"),
            (HeaderName::from_static("x-hop-secret"), "leaked"),
            (HeaderName::from_static("keep-alive"), "timeout=5"),
            (HeaderName::from_static("proxy-connection"), "keep-alive"),
            (HeaderName::from_static("x-kept"), "yes"),
        ],
        Json(json!({ "hop_headers": ["connection", "x-hop-secret", "keep-alive", "proxy-connection"] })),
    )
        .into_response()
}

/// `GET /api/cors-leak`: an app that sets its own, permissive CORS headers, for the edge (the one
/// authority on CORS) to remove.
pub(super) async fn cors_leak() -> Response {
    (
        [
            (HeaderName::from_static("access-control-allow-origin"), "*"),
            (
                HeaderName::from_static("access-control-allow-credentials"),
                "true",
            ),
            (
                HeaderName::from_static("access-control-expose-headers"),
                "x-internal",
            ),
            (
                HeaderName::from_static("access-control-allow-methods"),
                "GET, POST, DELETE",
            ),
            (HeaderName::from_static("vary"), "Accept-Encoding"),
        ],
        Json(json!({ "cors": "leaky" })),
    )
        .into_response()
}

/// `GET /api/cacheable?cc=...&etag=...&vary=...&status=...&cookie=1`: an answer whose caching
/// headers (and status, 200 by default) the test chooses. `If-None-Match` equal to the ETag gets a 304
/// (with `cc304`'s Cache-Control if given, else `cc`'s); a request header
/// `x-test-status: 503` makes it fail with that status (a header, so it is not part of any cache
/// key). The body names the request, so a test can tell a stored answer from a fresh one.
pub(super) async fn cacheable(request: Request) -> Response {
    let query = request.uri().query().unwrap_or("").to_owned();
    let param = |name: &str| {
        query.split('&').find_map(|p| {
            p.split_once('=')
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| decode(v))
        })
    };
    let headers = request.headers();
    if let Some(code) = headers
        .get("x-test-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u16>().ok())
        && let Ok(status) = StatusCode::from_u16(code)
    {
        return (status, Json(json!({ "failed": code }))).into_response();
    }
    let etag = param("etag").map(|e| format!("\"{e}\""));
    if let (Some(etag), Some(inm)) = (
        &etag,
        headers.get("if-none-match").and_then(|v| v.to_str().ok()),
    ) && inm.split(',').any(|t| t.trim() == etag)
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(etag) {
            response.headers_mut().insert("etag", v);
        }
        let cc = param("cc304").or_else(|| param("cc"));
        if let Some(cc) = cc.and_then(|cc| HeaderValue::from_str(&cc).ok()) {
            response.headers_mut().insert(CACHE_CONTROL, cc);
        }
        return response;
    }
    let lang = headers
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let rsc = headers.contains_key("rsc");
    let mut response = Json(json!({ "query": query, "lang": lang, "rsc": rsc, "at_ms": now_ms() }))
        .into_response();
    if let Some(status) = param("status")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
    {
        *response.status_mut() = status;
    }
    let h = response.headers_mut();
    for (name, value) in [
        ("cache-control", param("cc")),
        ("etag", etag),
        ("vary", param("vary")),
    ] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    if param("cookie").is_some() {
        h.insert(
            HeaderName::from_static("set-cookie"),
            HeaderValue::from_static("wyn_seen=1; Path=/"),
        );
    }
    response
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Percent-decoding for the few characters a cache-control value needs (`,`, ` `, `=`).
fn decode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(' '),
            b'%' if i + 2 < bytes.len() => {
                match v
                    .get(i + 1..i + 3)
                    .map(|h| u8::from_str_radix(h, 16))
                    .unwrap_or(Ok(b'%'))
                {
                    Ok(b) => {
                        out.push(b as char);
                        i += 2;
                    }
                    Err(_) => out.push('%'),
                }
            }
            b => out.push(b as char),
        }
        i += 1;
    }
    out
}
