//! The worker's bindings (`env`): variables, secrets and Durable Object namespaces, read as the
//! runtime's own objects.
//!
//! ```ignore
//! let stub = env.object("METRICS", "shard-0")?;
//! ```

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Request;
use worker_sys::DurableObjectNamespace;

use super::failure::{Failure, Result};

#[wasm_bindgen]
extern "C" {
    /// The bindings, as the runtime passes them to `fetch`.
    #[wasm_bindgen(extends = js_sys::Object)]
    #[derive(Clone)]
    pub type Env;

    /// A Durable Object stub, as the runtime hands it out.
    pub type ObjectStub;
    #[wasm_bindgen(method, catch)]
    pub fn fetch(this: &ObjectStub, request: &Request) -> Result<js_sys::Promise, JsValue>;
}

impl Env {
    /// The binding `name`; `undefined` when there is none.
    pub fn get(&self, name: &str) -> JsValue {
        js_sys::Reflect::get(self, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    }

    /// The stub of the object named `name` in the namespace bound as `binding`.
    pub fn object(&self, binding: &str, name: &str) -> Result<ObjectStub> {
        let namespace = self.get(binding);
        if namespace.is_undefined() {
            return Err(Failure::Said(format!("no binding `{binding}`")));
        }
        let namespace: DurableObjectNamespace = namespace.unchecked_into();
        let id = namespace.id_from_name(name)?;
        Ok(namespace.get(&id)?.unchecked_into())
    }
}
