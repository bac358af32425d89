//! Client-side helpers of the end-to-end suite.

use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use wyn_edge_tests::stack::{
    DeadPort, Edge, Origin, Workerd, ensure_worker_built, kill_all, root, signal, watchdog,
};

/// A response header as text; empty when absent or not text.
pub fn header(resp: &reqwest::blocking::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A client that follows no redirects and gives up after 30 s.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}

/// The values of header `name` in an `/api/echo` answer, in order.
pub fn echoed(echo: &serde_json::Value, name: &str) -> Vec<String> {
    echo["headers"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .filter(|h| h[0].as_str() == Some(name))
                .filter_map(|h| h[1].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Sends `req` and parses the JSON answer, failing on a non-2xx status.
pub fn json(
    req: reqwest::blocking::RequestBuilder,
) -> Result<(reqwest::header::HeaderMap, serde_json::Value)> {
    let resp = req.send()?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text()?;
    if !status.is_success() {
        bail!("status {status}: {text}");
    }
    Ok((
        headers,
        serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?,
    ))
}

/// Checks an edge-made problem response and returns its body.
pub fn problem(
    resp: reqwest::blocking::Response,
    status: u16,
    slug: &str,
) -> Result<serde_json::Value> {
    let got = resp.status().as_u16();
    let ctype = header(&resp, "content-type");
    let rid = header(&resp, "x-request-id");
    let cache = header(&resp, "cache-control");
    let text = resp.text()?;
    if got != status {
        bail!("expected {status}, got {got}: {text}");
    }
    if ctype != "application/problem+json" {
        bail!("expected application/problem+json, got {ctype:?}");
    }
    if cache != "no-store" {
        bail!("a problem must not be cached, got cache-control {cache:?}");
    }
    let body: serde_json::Value = serde_json::from_str(&text)?;
    if body["type"] != format!("https://wyn.app/problems/{slug}") || body["status"] != status {
        bail!("unexpected problem: {body}");
    }
    if rid.is_empty() || body["request_id"] != rid.as_str() {
        bail!(
            "request_id {} does not match X-Request-Id {rid:?}",
            body["request_id"]
        );
    }
    if text.contains("127.0.0.1")
        || text.contains("http://") && !text.contains("https://wyn.app/problems/")
    {
        bail!("the problem leaks internals: {text}");
    }
    Ok(body)
}
