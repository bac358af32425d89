//! The wasm instance's life, in the protocol worker-build's shim speaks: the shim reads
//! `__worker_init_state()`, and before each call reinitialises the instance (`__wbg_reset_state`)
//! once a Rust panic or a wasm trap marked it `criticalError`.
//!
//! This is the `worker` crate's start function (worker 0.8.7, `init.rs`), which the edge does not
//! link: that crate links `wasm-streams`, whose exported stream classes kept the futures
//! executor and their closures in the module through the function table (unlinking `worker`
//! took the module from 252,472 to 240,834 B gzip). `Cargo.toml` keeps `worker` in the
//! lock file, pinned, for worker-build's version check of this protocol.

use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(inline_js = "
export const state = globalThis.__worker_init_state = { criticalError: false, instanceId: 0 };
")]
extern "C" {
    type InitState;

    #[wasm_bindgen(thread_local_v2, js_name = state)]
    static STATE: InitState;

    #[wasm_bindgen(method, setter, js_name = criticalError)]
    fn set_critical_error(this: &InitState, value: bool);

    #[wasm_bindgen(method, getter, js_name = instanceId)]
    fn instance_id(this: &InitState) -> u32;

    #[wasm_bindgen(method, setter, js_name = instanceId)]
    fn set_instance_id(this: &InitState, value: u32);
}

/// Runs when the instance starts: a panic is logged and marks the instance for reinitialising.
#[wasm_bindgen(start, private)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        let panic = js_sys::Error::new(&format!("Rust panic: {info}"));
        super::log::error_with("Critical", &panic);
        STATE.with(|s| s.set_critical_error(true));
    }));
    STATE.with(|s| s.set_instance_id(s.instance_id() + 1));
    // Using `schedule_reinit` is what makes wasm-bindgen emit `__wbg_reset_state`.
    wasm_bindgen::handler::set_on_abort(wasm_bindgen::handler::schedule_reinit);
}

/// The shared state the shim reads.
#[wasm_bindgen(js_name = "__worker_init_state")]
pub fn init_state() -> JsValue {
    STATE.with(|s| s.into())
}
