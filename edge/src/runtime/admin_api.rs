//! Admin routes that need the runtime (the token was checked before).

use web_sys::Response;

use super::env::Env;
use super::task::Settle;
use super::{Incoming, Settings, log, purges, text_response};
use crate::cache::purge::Purge;
use crate::error::EdgeError;
use wyn_edge_shared::metrics::{Query, prometheus};

/// Largest purge request body read.
const MAX_PURGE_BODY: usize = 64 * 1024;

/// `POST /__edge/purge` with `{"urls": [...]}`, `{"prefix": "/venues/"}` or `{"all": true}`.
pub async fn purge(req: &Incoming, env: &Env) -> Result<Response, EdgeError> {
    if req.method != "POST" {
        return Err(EdgeError::method_not_allowed());
    }
    let text = req
        .raw
        .text()
        .map_err(|_| EdgeError::bad_request("Unreadable body."))?;
    let body = Settle::new(text)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
    if body.len() > MAX_PURGE_BODY {
        return Err(EdgeError::payload_too_large(MAX_PURGE_BODY as u64));
    }
    let purge: Purge = serde_json::from_str(&body).map_err(|e| {
        EdgeError::bad_request(format!(
            r#"Expected {{"urls": [...]}}, {{"prefix": "/path/"}} or {{"all": true}}: {e}."#
        ))
    })?;
    let purges = purges::purge(env, &purge).await.map_err(|e| {
        let message = e.to_string();
        if message.starts_with("a prefix")
            || message.starts_with("expected")
            || message.starts_with("not a URL")
            || message.contains("must be true")
        {
            EdgeError::bad_request(message)
        } else {
            log::error(&format!("wyn-edge: purge failed: {message}"));
            EdgeError::internal()
        }
    })?;
    let body = serde_json::to_string(&Purged {
        generation: purges.last,
        purged: &purge,
    })
    .map_err(|_| EdgeError::internal())?;
    Ok(text_response(200, "application/json", body, &[]))
}

/// A purge's answer. A struct, not `json!`: that would link `serde_json::Value`'s serializer
/// (the fields are in the order `json!`'s sorted map wrote them).
#[derive(serde::Serialize)]
struct Purged<'a> {
    generation: u64,
    purged: &'a Purge,
}

/// `GET /__edge/metrics` (JSON) and `/__edge/metrics/prometheus` (text): this isolate's figures.
pub async fn metrics(
    req: &Incoming,
    settings: &Settings,
    env: &Env,
    text: bool,
) -> Result<Response, EdgeError> {
    if !req.is_bodiless() {
        return Err(EdgeError::method_not_allowed());
    }
    let query = req
        .url()
        .path_and_query
        .split_once('?')
        .map_or("", |(_, q)| q);
    let query = Query::parse(query).map_err(EdgeError::bad_request)?;
    let answer = super::metrics::query(settings, env, &query).await;
    if text {
        return Ok(text_response(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            prometheus(&answer),
            &[],
        ));
    }
    let body = serde_json::to_string(&answer).map_err(|_| EdgeError::internal())?;
    Ok(text_response(200, "application/json", body, &[]))
}
