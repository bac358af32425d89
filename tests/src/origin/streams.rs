//! Responses that take time: a server-sent-events chat that streams tokens with real pauses, and a
//! plain slow response.
//!
//! The chat is how tests see that the edge forwards a stream as it arrives instead of buffering it:
//! every event says when the origin sent it.

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, stream};
use serde_json::json;

use super::{Refusal, number_param, query_pairs};

const DEFAULT_EVENTS: u64 = 5;
const MAX_EVENTS: u64 = 1000;
const DEFAULT_PAUSE_MS: u64 = 200;
const MAX_PAUSE_MS: u64 = 10_000;
const MAX_SLOW_MS: u64 = 120_000;

const TOKENS: [&str; 10] = [
    "A ",
    "bright ",
    "Pinot ",
    "Noir ",
    "from ",
    "the ",
    "Jura, ",
    "all ",
    "red ",
    "cherries. ",
];

/// `POST /api/chat?events=N&pause_ms=M`: `N` token events, the first at once and then one every
/// `M` ms, then a `done` event.
pub(super) async fn chat(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Body,
) -> Result<Response, Refusal> {
    let pairs = query_pairs(query)?;
    let events = number_param(&pairs, "events", Some(DEFAULT_EVENTS), MAX_EVENTS)?;
    let pause_ms = number_param(&pairs, "pause_ms", Some(DEFAULT_PAUSE_MS), MAX_PAUSE_MS)?;
    let mut body = body.into_data_stream();
    while let Some(chunk) = body.next().await {
        chunk.map_err(|e| Refusal::bad_request(format!("body: {e}")))?;
    }
    Ok((
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(chat_events(events, Duration::from_millis(pause_ms))),
    )
        .into_response())
}

/// One frame per event, each produced only when it is due, so the body cannot be buffered ahead.
fn chat_events(events: u64, pause: Duration) -> impl Stream<Item = Result<Bytes, Infallible>> {
    stream::unfold(0, move |index| async move {
        if index > events {
            return None;
        }
        let frame = if index < events {
            if index > 0 {
                tokio::time::sleep(pause).await;
            }
            let data = json!({
                "index": index,
                "sent_at_ms": unix_ms(),
                "token": TOKENS[(index % TOKENS.len() as u64) as usize],
            });
            format!("event: token\ndata: {data}\n\n")
        } else {
            format!("event: done\ndata: {}\n\n", json!({ "events": events }))
        };
        Some((Ok(Bytes::from(frame)), index + 1))
    })
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// `GET /api/slow?ms=N`: answers after `N` ms.
pub(super) async fn slow(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Refusal> {
    let pairs = query_pairs(query)?;
    let ms = number_param(&pairs, "ms", None, MAX_SLOW_MS)?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(Json(json!({ "slept_ms": ms })).into_response())
}
