//! The WYN-like part of the origin: the API and pages the edge caches, and the session endpoint it
//! must never cache.
//!
//! Cacheable responses carry a strong `ETag` derived from their body and answer a matching
//! `If-None-Match` with 304, so the edge's revalidation can be exercised.

use std::hash::{BuildHasher, RandomState};
use std::path::Path as FsPath;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LAST_MODIFIED, SET_COOKIE, VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `Last-Modified` of the venue list: it never changes while the origin runs.
const VENUES_LAST_MODIFIED: &str = "Wed, 01 Jan 2025 00:00:00 GMT";

/// What Next.js sends on App Router pages, for the HTML and the RSC answer alike: one URL, two
/// representations, chosen by these request headers.
const NEXT_VARY: &str = "RSC, Next-Router-State-Tree, Next-Router-Prefetch";

static VENUES: LazyLock<String> = LazyLock::new(|| {
    json!([
        { "id": "le-verre-vole", "name": "Le Verre Volé", "city": "Paris" },
        { "id": "noble-rot", "name": "Noble Rot", "city": "London" },
        { "id": "terroir", "name": "Terroir", "city": "New York" },
        { "id": "bar-brutal", "name": "Bar Brutal", "city": "Barcelona" },
    ])
    .to_string()
});

pub(super) async fn health() -> Response {
    (
        [(CACHE_CONTROL, "no-store")],
        Json(json!({ "status": "ok" })),
    )
        .into_response()
}

pub(super) async fn venues(request_headers: HeaderMap) -> Response {
    Cacheable {
        content_type: "application/json",
        cache_control: "public, s-maxage=60",
        last_modified: Some(VENUES_LAST_MODIFIED),
        vary: None,
        body: VENUES.clone(),
    }
    .respond(&request_headers)
}

pub(super) async fn venue_page(Path(id): Path<String>, request_headers: HeaderMap) -> Response {
    let wants_rsc = request_headers.get("rsc").is_some_and(|value| value == "1");
    let (content_type, body) = if wants_rsc {
        ("text/x-component", rsc_payload(&id))
    } else {
        ("text/html; charset=utf-8", html_page(&id))
    };
    Cacheable {
        content_type,
        cache_control: "public, s-maxage=30, stale-while-revalidate=60",
        last_modified: None,
        vary: Some(NEXT_VARY),
        body,
    }
    .respond(&request_headers)
}

fn html_page(id: &str) -> String {
    let id = escape_html(id);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Venue {id} · WYN</title></head>\n\
         <body><main><h1>Venue {id}</h1><p>Wines by the glass tonight.</p></main></body>\n</html>\n"
    )
}

/// A small payload shaped like a React Server Components flight response.
fn rsc_payload(id: &str) -> String {
    let tree = json!([
        "$",
        "main",
        null,
        { "children": ["$", "h1", null, { "children": format!("Venue {id}") }] }
    ]);
    format!("1:\"$Sreact.fragment\"\n0:{tree}\n")
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

pub(super) async fn static_asset(Path(path): Path<String>) -> Response {
    let extension = FsPath::new(&path)
        .extension()
        .and_then(|extension| extension.to_str());
    let name = json!(path).to_string();
    let (content_type, body) = match extension {
        Some("css") => (
            "text/css",
            format!(
                ":root {{ --asset: {name}; }}\nbody {{ font-family: serif; color: #5b0f1f; }}\n"
            ),
        ),
        Some("js") => (
            "text/javascript",
            format!("console.log(\"asset\", {name});\n"),
        ),
        _ => ("application/octet-stream", format!("demo asset {name}\n")),
    };
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn me() -> Response {
    let cookie = format!(
        "wyn_session={}; Path=/; HttpOnly; Secure; SameSite=Lax",
        session_id()
    );
    (
        [
            (CACHE_CONTROL, "private, no-store".to_owned()),
            (SET_COOKIE, cookie),
        ],
        Json(json!({ "user": "demo" })),
    )
        .into_response()
}

/// A session id that differs on every call; it only has to look like one, not be secret.
fn session_id() -> String {
    static ISSUED: AtomicU64 = AtomicU64::new(0);
    let serial = ISSUED.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    // Each RandomState is seeded differently, which is all the randomness this needs.
    let state = RandomState::new();
    format!(
        "{:016x}{:016x}",
        state.hash_one((serial, nanos)),
        state.hash_one(nanos)
    )
}

/// A representation that caches may store and revalidate.
struct Cacheable {
    content_type: &'static str,
    cache_control: &'static str,
    last_modified: Option<&'static str>,
    vary: Option<&'static str>,
    body: String,
}

impl Cacheable {
    /// 200 with the body, or 304 without it when the request's `If-None-Match` names the body's
    /// ETag. Both carry the validators and caching headers, as RFC 9110 asks of a 304.
    fn respond(self, request_headers: &HeaderMap) -> Response {
        let tag = etag(self.body.as_bytes());
        let fresh = none_match_hits(request_headers, &tag);
        let mut response = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            ([(CONTENT_TYPE, self.content_type)], self.body).into_response()
        };
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(self.cache_control));
        if let Ok(tag) = HeaderValue::from_str(&tag) {
            headers.insert(ETAG, tag);
        }
        if let Some(date) = self.last_modified {
            headers.insert(LAST_MODIFIED, HeaderValue::from_static(date));
        }
        if let Some(vary) = self.vary {
            headers.insert(VARY, HeaderValue::from_static(vary));
        }
        response
    }
}

/// A strong entity tag for `body`: FNV-1a, so it is the same in every run and on every machine.
fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

/// Whether `If-None-Match` lists `tag` or `*`. The comparison is the weak one RFC 9110 prescribes
/// for this header: a `W/` prefix on either side does not matter.
fn none_match_hits(request_headers: &HeaderMap, tag: &str) -> bool {
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    request_headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|candidate| {
            candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
        })
}
