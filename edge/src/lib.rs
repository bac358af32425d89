//! wyn-edge: the Cloudflare Worker in front of the WYN app.
//!
//! A request goes through named phases, any of which may answer early:
//!
//! 1. **admin**: `/__edge/*` routes (health is public, the rest need the admin token);
//! 2. **request filter**: request id, body-size limit;
//! 3. **upstream**: the request is streamed to `ORIGIN_URL`, the answer streamed back;
//! 4. **response filter**: hop-by-hop headers dropped, request id added.
//!
//! Policy modules ([`admin`], [`forwarding`], [`health`], [`request_id`], [`error`]) are pure and
//! tested natively; [`runtime`] is the one adapter that touches the Workers runtime.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
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
    use crate::runtime::{self, Incoming, Settings};

    #[event(fetch)]
    async fn fetch(
        req: worker::Request,
        env: Env,
        _ctx: Context,
    ) -> worker::Result<web_sys::Response> {
        let settings = runtime::settings(&env);
        // A handle clone: `Request::clone` (the JS method) would tee the body.
        let req = Incoming::new(Clone::clone(req.inner()), &settings);
        let result = pipeline(&req, &settings).await;
        Ok(runtime::respond(result, &req))
    }

    async fn pipeline(req: &Incoming, settings: &Settings) -> Result<web_sys::Response, EdgeError> {
        // 1. admin
        if let Some(route) = admin::route(req.path()) {
            if !route.is_public() && !req.carries_admin_token(settings) {
                return Err(EdgeError::unauthorized());
            }
            return match route {
                AdminRoute::Health => runtime::health::answer(req, settings).await,
                AdminRoute::Unknown => Err(EdgeError::not_found()),
            };
        }
        // 2. request filter
        req.check_body_size(settings.config.max_request_body)?;
        // 3. upstream
        let origin = settings
            .origin
            .as_deref()
            .map_err(|_| EdgeError::origin_not_configured())?;
        let response = runtime::upstream::forward(req, origin, settings).await?;
        // 4. response filter
        runtime::upstream::filter_response(response)
    }
}
