//! A failed runtime call: what the runtime threw, or what the edge says went wrong.
//!
//! The edge's failures come from the runtime (a JS exception, a rejected promise) or from its
//! own code (an object's refusal, unreadable JSON). [`Failure`]'s `Display` says either in full,
//! and [`Failure::thrown`] is what a Durable Object handler throws for it.
//!
//! ```ignore
//! log::error(&format!("wyn-edge: purge failed: {e}"));
//! ```

use std::fmt;

use wasm_bindgen::{JsCast, JsValue};

/// A runtime call's result.
pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// What the runtime threw, or a promise rejected with.
    #[error("{}", Js(.0))]
    Thrown(JsValue),
    /// The edge's own account: an object's refusal, an unexpected answer.
    #[error("{0}")]
    Said(String),
    /// A value that is not the JSON expected.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<JsValue> for Failure {
    fn from(value: JsValue) -> Self {
        Self::Thrown(value)
    }
}

impl Failure {
    /// What a Durable Object handler throws: the runtime's exception as it was thrown (a string
    /// stays a string), else a JS `Error` with the failure's message.
    pub fn thrown(self) -> JsValue {
        match self {
            Self::Thrown(value) => value,
            other => js_sys::Error::new(&other.to_string()).into(),
        }
    }
}

/// A thrown value as text: `Name: message` for an `Error`, a string as it is.
struct Js<'a>(&'a JsValue);

impl fmt::Display for Js<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(error) = self.0.dyn_ref::<js_sys::Error>() {
            write!(
                f,
                "{}: {}",
                String::from(error.name()),
                String::from(error.message())
            )
        } else if let Some(text) = self.0.as_string() {
            f.write_str(&text)
        } else {
            f.write_str("a JavaScript value that is not an Error was thrown")
        }
    }
}
