//! `GET /__edge/health`: the config check and a probe of the origin's health path.
//!
//! One probe at a time per isolate: while one is in flight, other health requests get the last
//! result (if any) instead of starting another, and a result is reused for `health.cache_for`.

use std::cell::RefCell;

use web_sys::{Headers, RequestInit, RequestRedirect, Response};
use wyn_edge_shared::health::HealthReport;

use super::upstream::{FetchFailure, fetch_with_timeout};
use super::{Incoming, Settings, text_response};
use crate::error::EdgeError;
use crate::forwarding::upstream_url;
use crate::health::{ProbeOutcome, Reuse, config_check, origin_check};

#[derive(Default)]
struct ProbeState {
    last: Reuse<ProbeOutcome>,
    stale: Option<ProbeOutcome>,
    in_flight: bool,
}

thread_local! {
    static PROBE: RefCell<ProbeState> = RefCell::new(ProbeState::default());
}

/// Clears the in-flight mark even when the request is cancelled mid-probe.
struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        PROBE.with(|p| p.borrow_mut().in_flight = false);
    }
}

/// Answers the health route.
pub async fn answer(req: &Incoming, settings: &Settings) -> Result<Response, EdgeError> {
    if !req.is_bodiless() {
        return Err(EdgeError::method_not_allowed());
    }
    let outcome = probe(settings).await;
    let report = HealthReport::new(
        settings.version.clone(),
        config_check(settings.config_errors.as_ref().map_or(Ok(()), Err)),
        origin_check(&outcome),
    );
    let body = serde_json::to_string(&report).map_err(|_| EdgeError::internal())?;
    Ok(text_response(
        report.http_status(),
        "application/json",
        body,
        &[],
    ))
}

async fn probe(settings: &Settings) -> ProbeOutcome {
    let origin = match &settings.origin {
        Ok(origin) => origin,
        Err(e) => return ProbeOutcome::NotConfigured(e.clone()),
    };
    let ttl = settings.config.health.cache_for;
    let now = js_sys::Date::now();
    let reuse = PROBE.with(|p| {
        let mut p = p.borrow_mut();
        if let Some(fresh) = p.last.get(now, ttl) {
            return Some(fresh);
        }
        if p.in_flight && p.stale.is_some() {
            return p.stale.clone();
        }
        p.in_flight = true;
        None
    });
    if let Some(outcome) = reuse {
        return outcome;
    }
    let _guard = InFlight;
    let outcome = run_probe(
        &upstream_url(origin, &settings.config.health.probe_path),
        settings,
    )
    .await;
    PROBE.with(|p| {
        let mut p = p.borrow_mut();
        p.last.put(outcome.clone(), js_sys::Date::now());
        p.stale = Some(outcome.clone());
    });
    outcome
}

async fn run_probe(url: &str, settings: &Settings) -> ProbeOutcome {
    let timeout = settings.config.health.probe_timeout;
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_redirect(RequestRedirect::Manual);
    if let Ok(headers) = Headers::new() {
        let _ = headers.set("user-agent", "wyn-edge-health");
        init.set_headers(&headers);
    }
    let started = js_sys::Date::now();
    match fetch_with_timeout(url, &init, timeout).await {
        Ok(response) => {
            if let Some(body) = response.body() {
                // Nobody reads the probe's body: release the connection.
                let _ = body.cancel();
            }
            let elapsed_ms = (js_sys::Date::now() - started).max(0.0);
            ProbeOutcome::Answered {
                status: response.status(),
                elapsed: std::time::Duration::from_millis(elapsed_ms as u64),
            }
        }
        Err(FetchFailure::TimedOut) => ProbeOutcome::TimedOut(timeout),
        Err(FetchFailure::Unreachable | FetchFailure::Invalid) => ProbeOutcome::Unreachable,
    }
}
