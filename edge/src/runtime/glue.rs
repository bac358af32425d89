//! The Rust side of `glue.js`: header work batched into one JS call each, so a request crosses
//! the JS boundary a handful of times rather than once per header.
//!
//! Lists cross as one string ([`Lines`]): items separated by `\n`, which no header name or value
//! can contain; an absent header comes back as `\0`, which none can contain either.
//!
//! ```ignore
//! let mut set = Lines::default();
//! set.pair("x-request-id", "abc");
//! glue::edit(&response.headers(), "", set.as_str());
//! ```

use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::{Headers, Request, Response};

#[wasm_bindgen(module = "/src/runtime/glue.js")]
extern "C" {
    /// Hands `glue.js` the hop-by-hop and client-only header lists, the headers
    /// [`request_facts`] reads, and how many of them (the first) it reads unless the method is
    /// `OPTIONS`, once per isolate.
    pub fn configure(
        hop_by_hop: &str,
        client_may_not_set: &str,
        prefetched: &str,
        unless_options: usize,
    );
    /// The values of `names` in `headers`.
    pub fn values(headers: &Headers, names: &str) -> String;
    /// The request's method, URL and the values of the prefetched headers.
    #[wasm_bindgen(js_name = requestFacts)]
    pub fn request_facts(request: &Request) -> String;
    /// Deletes the `drop` names, then sets the `set` pairs.
    pub fn edit(headers: &Headers, drop: &str, set: &str);
    /// A response the edge makes itself: `pairs`, then the edits (`drop`, then `set`).
    #[wasm_bindgen(js_name = makeResponse, catch)]
    pub fn make_response(
        status: u16,
        body: Option<&str>,
        pairs: &str,
        drop: &str,
        set: &str,
    ) -> Result<Response, JsValue>;
    /// Settles when `promise` does, or after `ms`, whichever comes first.
    pub fn within(promise: &Promise, ms: u32) -> Promise;
    /// The values of `names` in `response`'s headers.
    #[wasm_bindgen(js_name = responseValues)]
    pub fn response_values(response: &Response, names: &str) -> String;
    /// `stored`'s headers edited (`drop`, then `set`) under `status`, its body kept if `with_body`.
    pub fn restored(
        stored: &Response,
        status: u16,
        with_body: bool,
        drop: &str,
        set: &str,
    ) -> Option<Response>;
    /// The upstream fetch with its header edits and head timeout, the answer reshaped.
    pub fn forward(
        headers: &Headers,
        url: &str,
        method: &str,
        body: &JsValue,
        drop: &str,
        set: &str,
        timeout_ms: u32,
    ) -> Promise;
}

/// Why [`forward`] rejected (the codes `glue.js` throws).
pub const UNREACHABLE: f64 = 1.0;
/// No response head within the timeout.
pub const TIMED_OUT: f64 = 2.0;
/// A response the runtime cannot represent.
pub const INVALID: f64 = 3.0;

/// A `\n`-separated list being built: names, or name/value pairs.
#[derive(Default)]
pub struct Lines(String);

impl Lines {
    /// Adds one item.
    pub fn push(&mut self, item: &str) {
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.0.push_str(item);
    }

    /// Adds a name and its value.
    pub fn pair(&mut self, name: &str, value: &str) {
        self.push(name);
        self.0.push('\n');
        self.0.push_str(value);
    }

    /// Adds the items of `other`.
    pub fn append(&mut self, other: &Lines) {
        if !other.0.is_empty() {
            self.push(&other.0);
        }
    }

    /// The list as `glue.js` reads it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Splits what [`values`] returns: `None` for an absent header.
pub fn split_values(text: &str) -> impl Iterator<Item = Option<&str>> {
    text.split('\n').map(|v| (v != "\0").then_some(v))
}
