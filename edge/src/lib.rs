//! wyn-edge: the Cloudflare Worker in front of the WYN app.
//!
//! A request goes through named phases, any of which may answer early:
//!
//! 1. **admin**: `/__edge/*` routes (health is public; the rest need the admin token and have
//!    their own rate limit);
//! 2. **request filter**: request id, CORS preflights (answered here), body-size limit, rate
//!    limits (local, then global);
//! 3. **upstream**: the request is streamed to `ORIGIN_URL`, the answer streamed back;
//! 4. **response filter**: hop-by-hop headers dropped, request id and `RateLimit` headers added,
//!    CORS headers last (on the edge's own errors too).
//!
//! Policy modules ([`admin`], [`cors`], [`forwarding`], [`health`], [`rate_limit`], [`request_id`],
//! [`error`]) are pure and tested natively; `runtime` is the one adapter that touches the Workers
//! runtime.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod cors;
pub mod error;
pub mod forwarding;
pub mod health;
pub mod rate_limit;
pub mod request_id;

#[cfg(target_arch = "wasm32")]
pub mod runtime;

#[cfg(target_arch = "wasm32")]
mod entry {
    use worker::{Context, Env, event};

    use crate::admin::{self, AdminRoute};
    use crate::error::EdgeError;
    use crate::runtime::{self, Incoming, Settings, rate_limit, text_response};

    #[event(fetch)]
    async fn fetch(
        req: worker::Request,
        env: Env,
        _ctx: Context,
    ) -> worker::Result<web_sys::Response> {
        let settings = runtime::settings(&env);
        // A handle clone: `Request::clone` (the JS method) would tee the body.
        let req = Incoming::new(Clone::clone(req.inner()));
        let result = pipeline(&req, &settings, &env).await;
        Ok(runtime::respond(result, &req, &settings))
    }

    async fn pipeline(
        req: &Incoming,
        settings: &Settings,
        env: &Env,
    ) -> Result<web_sys::Response, EdgeError> {
        // 1. admin
        if let Some(route) = admin::route(req.path()) {
            if !route.is_public() {
                rate_limit::check_admin(req, settings)?;
                if !req.carries_admin_token(settings) {
                    return Err(EdgeError::unauthorized());
                }
            }
            return match route {
                AdminRoute::Health => runtime::health::answer(req, settings).await,
                AdminRoute::RateLimits => {
                    let body = serde_json::to_string(&rate_limit::report(settings))
                        .map_err(|_| EdgeError::internal())?;
                    Ok(text_response(200, "application/json", &body, &[]))
                }
                AdminRoute::Unknown => Err(EdgeError::not_found()),
            };
        }
        // 2. request filter
        if req.is_preflight()
            && let Some(answer) = runtime::cors::preflight(req, settings)
        {
            return answer;
        }
        req.check_body_size(settings.config.max_request_body)?;
        let limits = rate_limit::check(req, settings, env).await?;
        // 3. upstream
        let origin = settings
            .origin
            .as_deref()
            .map_err(|_| EdgeError::origin_not_configured())?;
        let response = runtime::upstream::forward(req, origin, settings).await?;
        // 4. response filter
        let response = runtime::upstream::filter_response(response)?;
        if let Some(limits) = &limits {
            rate_limit::add_headers(&response, limits);
        }
        Ok(response)
    }
}
