//! What a failed runtime call says, without `worker::Error`'s own formatting.
//!
//! `worker::Error`'s `Display`, and its conversion to a `JsValue` (which `#[durable_object]`'s
//! handlers put every `Err` through), walk the error's `source()` chain: that links the `Display`
//! and `Debug` of every error type the `worker` crate wraps (I/O, HTTP, JSON, routing, KV, email
//! errors). The edge's errors come from the runtime (a JS exception or a string) or from its own
//! code (a message), and these helpers say those in full; the Durable Objects' handlers throw
//! [`thrown`].
//!
//! ```ignore
//! worker::console_error!("wyn-edge: purge failed: {}", failure::describe(&e));
//! ```

use std::borrow::Cow;

use wasm_bindgen::JsValue;
use worker::Error;

/// The error's message: the runtime's `Name [code]: message` for a JS exception, the text of a
/// string error, the parser's message for JSON: every error the `worker` APIs the edge calls
/// return.
pub fn describe(e: &Error) -> Cow<'_, str> {
    match e {
        Error::JsError(s) | Error::RustError(s) => Cow::Borrowed(s),
        Error::UnknownJsError {
            name,
            message,
            code,
            ..
        } => {
            let name = name.as_deref().unwrap_or("Error");
            Cow::Owned(match code {
                Some(code) => format!("{name} [{code}]: {message}"),
                None => format!("{name}: {message}"),
            })
        }
        Error::BindingError(name) => Cow::Owned(format!("no binding found for `{name}`")),
        Error::Json((message, _)) => Cow::Borrowed(message),
        Error::SerdeJsonError(e) => Cow::Owned(format!("JSON: {e}")),
        Error::BodyUsed => Cow::Borrowed("body has already been read"),
        Error::Internal(_) => Cow::Borrowed("a JavaScript value that is not an Error was thrown"),
        // Errors of `worker` APIs the edge does not call (I/O, routing, KV, email...).
        _ => Cow::Borrowed("a failure in the worker crate"),
    }
}

/// What a Durable Object handler throws for `e`: the runtime's exception as it was thrown (a
/// string stays a string), else a JS `Error` with [`describe`]'s message, as `worker` would
/// throw without its chain of causes.
pub fn thrown(e: Error) -> JsValue {
    match e {
        Error::UnknownJsError { original, .. } => original,
        Error::Internal(v) => v,
        Error::JsError(s) => s.into(),
        other => js_sys::Error::new(&describe(&other)).into(),
    }
}
