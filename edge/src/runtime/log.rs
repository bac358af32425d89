//! Lines for the worker's log (`wrangler tail`, workerd's output).
//!
//! ```ignore
//! log::warn(&format!("wyn-edge: cache put failed: {e}"));
//! ```

use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
extern "C" {
    /// A line at warning level.
    #[wasm_bindgen(js_namespace = console)]
    pub fn warn(line: &str);
    /// A line at error level.
    #[wasm_bindgen(js_namespace = console)]
    pub fn error(line: &str);
    /// A line at error level and a value the console shows in full (an `Error` with its stack).
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub fn error_with(line: &str, value: &JsValue);
}
