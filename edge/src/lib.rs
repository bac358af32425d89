//! wyn-edge: the Cloudflare Worker in front of the WYN app.
//!
//! A request goes through named phases, any of which may answer early:
//!
//! 1. **admin**: `/__edge/*` routes (health is public; the rest need the admin token and have
//!    their own rate limit);
//! 2. **request filter**: request id, CORS preflights (answered here), body-size limit, rate
//!    limits (local, then global);
//! 3. **cache lookup**: a fresh (or `stale-while-revalidate`) stored answer ends the request;
//! 4. **upstream**: the request is streamed to `ORIGIN_URL` (with validators when revalidating),
//!    the answer streamed back;
//! 5. **response filter and cache store**: hop-by-hop headers dropped, `stale-if-error`, a 304
//!    refreshing the stored copy or the answer stored while it streams (`Cache-Status` says
//!    which), request id and `RateLimit` headers added, CORS headers last (on the edge's own
//!    errors too).
//!
//! The origin timeout is a [`deadline`] counted from the request's arrival: time spent in the
//! earlier phases comes out of it. A request the phases before any I/O answer (a preflight, a
//! refused body, a local 429) gets its response synchronously, without a future.
//!
//! A request that waits is a task (`runtime::task`), driven by the promises it awaits.
//!
//! Policy modules ([`admin`], [`cache`], [`cors`], [`deadline`], [`forwarding`], [`health`], [`rate_limit`], [`request_id`],
//! [`error`]) are pure and tested natively; `runtime` is the one adapter that touches the Workers
//! runtime.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod cache;
pub mod cors;
pub mod deadline;
pub mod error;
pub mod forwarding;
pub mod health;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;

#[cfg(target_arch = "wasm32")]
pub mod runtime;

/// The heap: Talc instead of the default dlmalloc, smaller in wasm and faster at the small,
/// short-lived allocations a request makes.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static HEAP: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod entry {
    use std::rc::Rc;

    use worker_sys::Context;

    use crate::admin::{self, AdminRoute};
    use crate::cache::status::{CacheStatus, Forward};
    use crate::error::EdgeError;
    use crate::runtime::cache::Lookup;
    use crate::runtime::env::Env;
    use crate::runtime::{self, Incoming, Reply, Settings, rate_limit, text_response};

    /// What the phases before the first I/O decided.
    enum Front {
        /// The answer, with no I/O needed: a preflight, a refused body, a local rate limit.
        Answer(Result<Reply, EdgeError>),
        /// Go on to the phases that wait (admin, global limits, cache, upstream).
        Wait(rate_limit::Local),
    }

    /// The fetch entry. A request the phases before the first I/O answer (a preflight, a local
    /// 429) gets its `Response` synchronously, with no future and no promise: a task and its
    /// promise cost more than the rest of such a request. The others run as a task (a promise).
    ///
    /// It takes the runtime's own request, environment and context, and reads from them only
    /// what the pipeline asks for.
    #[wasm_bindgen::prelude::wasm_bindgen(js_name = fetch)]
    pub fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> wasm_bindgen::JsValue {
        let settings = runtime::settings(&env);
        let req = Incoming::new(req);
        match front(&req, &settings) {
            Front::Answer(result) => respond(result, &req, &settings, &env, &ctx).into(),
            Front::Wait(local) => runtime::task::run(async move {
                let result = pipeline(&req, &settings, &env, &ctx, local).await;
                respond(result, &req, &settings, &env, &ctx).into()
            }),
        }
    }

    /// The response sent, recorded, and the metrics flushed when due (after the response).
    fn respond(
        result: Result<Reply, EdgeError>,
        req: &Incoming,
        settings: &Rc<Settings>,
        env: &Env,
        ctx: &Context,
    ) -> web_sys::Response {
        let now = req.clock();
        let response = runtime::finish(result, req, settings, now);
        runtime::metrics::maybe_flush(settings, env, ctx, now);
        response
    }

    /// The request filter's decisions that need no I/O (admin routes wait: health asks the
    /// origin, the others are rare).
    fn front(req: &Incoming, settings: &Settings) -> Front {
        if admin::route(req.path()).is_some() {
            return Front::Wait(rate_limit::Local::Decided(Ok(None)));
        }
        if req.is_preflight()
            && let Some(answer) = runtime::cors::preflight(req, settings)
        {
            return Front::Answer(answer.map(Reply::Written));
        }
        if let Err(e) = req.check_body_size(settings.config.max_request_body) {
            return Front::Answer(Err(e));
        }
        match rate_limit::check_local(req, settings) {
            rate_limit::Local::Decided(Err(e)) => Front::Answer(Err(e)),
            local => Front::Wait(local),
        }
    }

    async fn pipeline(
        req: &Incoming,
        settings: &Rc<Settings>,
        env: &Env,
        ctx: &Context,
        local: rate_limit::Local,
    ) -> Result<Reply, EdgeError> {
        // 1. admin
        if let Some(route) = admin::route(req.path()) {
            if !route.is_public() {
                rate_limit::check_admin(req, settings)?;
                if !req.carries_admin_token(settings) {
                    return Err(EdgeError::unauthorized());
                }
            }
            let answer = match route {
                AdminRoute::Health => runtime::health::answer(req, settings).await,
                AdminRoute::RateLimits => {
                    let body = serde_json::to_string(&rate_limit::report(settings))
                        .map_err(|_| EdgeError::internal())?;
                    Ok(text_response(200, "application/json", body, &[]))
                }
                AdminRoute::Purge => runtime::admin_api::purge(req, env).await,
                AdminRoute::Metrics => runtime::admin_api::metrics(req, settings, env, false).await,
                AdminRoute::MetricsPrometheus => {
                    runtime::admin_api::metrics(req, settings, env, true).await
                }
                // Test runs only: proves the entry recovers from a panic (see lean-entry.mjs).
                AdminRoute::TestPanic if settings.test_panic => {
                    // `?after=io`: in the continuation of a settled promise, not in `fetch`.
                    if req.url().path_and_query.ends_with("?after=io") {
                        let now = js_sys::Promise::resolve(&wasm_bindgen::JsValue::UNDEFINED);
                        let _ = runtime::task::Settle::new(now).await;
                    }
                    panic!("wyn-edge: panic asked for by /__edge/test/panic")
                }
                AdminRoute::TestPanic | AdminRoute::Unknown => Err(EdgeError::not_found()),
            };
            return answer.map(Reply::Made);
        }
        // 2. request filter: preflights, the body size and local limits were decided in
        // `front`; global limits ask their objects.
        let limits = match local {
            rate_limit::Local::Decided(limits) => limits?,
            rate_limit::Local::Pending(eval) => {
                rate_limit::check_global(eval, settings, env).await?
            }
        };
        // 3. cache lookup
        let pending = match runtime::cache::lookup(req, settings, env, ctx).await {
            Lookup::Hit(reply) => return Ok(with_limits(req, reply, limits.as_ref())),
            Lookup::Bypass(detail) => Err(detail),
            Lookup::Forward(pending) => Ok(pending),
        };
        // 4. upstream
        let origin = settings
            .origin
            .as_deref()
            .map_err(|_| EdgeError::origin_not_configured())?;
        let validators = pending.as_ref().map_or(&[][..], |p| &p.conditional[..]);
        // A fresh reading: the deadline counts from arrival, and the phases above awaited I/O.
        let asked = req.read_clock();
        let result = runtime::upstream::forward(req, origin, settings, validators, asked).await;
        req.origin_ms.set(Some(req.read_clock() - asked));
        // 5. response filter and cache store
        let response = match pending {
            Ok(pending) => runtime::cache::complete(req, settings, ctx, pending, result)?,
            Err(detail) => {
                let response = result?;
                runtime::cache::invalidate(req, settings, env, &response).await;
                let status = CacheStatus::forward(Forward::Bypass).detail(detail);
                let _ = response.headers().set("cache-status", &status.header());
                Reply::Made(response)
            }
        };
        Ok(with_limits(req, response, limits.as_ref()))
    }

    fn with_limits(
        req: &Incoming,
        reply: Reply,
        limits: Option<&crate::rate_limit::Limits>,
    ) -> Reply {
        if let Some(limits) = limits {
            rate_limit::add_headers(req, limits);
        }
        reply
    }
}
