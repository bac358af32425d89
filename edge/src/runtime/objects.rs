//! The Durable Objects' entry points: `MetricsObject`, `PurgeObject` and `RateLimiterObject` are
//! plain `#[wasm_bindgen]` classes, `constructor(state, env)`, `fetch(request)` answering a
//! promise of a `Response`, and `alarm()` where the object sets alarms: the shape workerd calls,
//! under the names `wrangler.toml` binds.
//!
//! They are ours rather than `worker`'s `#[durable_object]` because that macro wraps each handler
//! in `wasm_bindgen_futures::future_to_promise`, a wrapper per handler: 2.3 KB of wasm over
//! the three objects. Here each call is a task of [`task`], like a request of the fetch entry.
//! The handlers take the runtime's `Request` and answer its `Response`, and reach storage
//! through [`storage`](super::storage).
//!
//! ```ignore
//! pub fn fetch(&self, req: web_sys::Request) -> Promise {
//!     let object = Rc::clone(&self.0);
//!     objects::answer(async move { object.fetch(req).await })
//! }
//! ```

use std::future::Future;

use js_sys::Promise;
use serde::Serialize;
use wasm_bindgen::JsValue;
use web_sys::Response;

use super::failure::{Failure, Result};
use super::task;

/// A handler's outcome as workerd awaits it: a promise of the `Response`, rejected with the error
/// as [`Failure::thrown`] says it (the caller's `stub.fetch` rejects, or the alarm is retried).
pub fn answer(handler: impl Future<Output = Result<Response>> + 'static) -> Promise {
    task::promise(async move { handler.await.map(JsValue::from).map_err(Failure::thrown) })
}

/// An answer of `status` with a JSON `body`.
pub fn json(status: u16, body: &impl Serialize) -> Result<Response> {
    let body = serde_json::to_string(body)?;
    Ok(super::text_response(status, "application/json", body, &[]))
}

/// An answer of `status` with a plain-text `body`.
pub fn text(status: u16, body: &str) -> Response {
    super::text_response(status, "text/plain", body, &[])
}

/// An alarm's outcome: a promise of nothing, rejected with the error (the runtime retries).
pub fn alarm(handler: impl Future<Output = Result<()>> + 'static) -> Promise {
    task::promise(async move {
        handler
            .await
            .map(|()| JsValue::UNDEFINED)
            .map_err(Failure::thrown)
    })
}
