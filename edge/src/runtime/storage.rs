//! Durable Object storage and request bodies through `serde_json` only, awaited as [`Settle`]s.
//!
//! A structured value crosses as JSON text and the runtime's `JSON` turns it into a plain object,
//! so what is stored keeps its shape (a string stays a string, `Purges` stays an object), and the
//! edge links one (de)serializer per type, `serde_json`'s: `serde_wasm_bindgen` would be a second,
//! about 20 KB of wasm.
//!
//! ```ignore
//! let ids: Option<Vec<String>> = storage::get_json(&state, "ids").await?;
//! storage::put_json(&state, "ids", &ids).await?;
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Request;
use worker_sys::{DurableObjectState as State, DurableObjectStorage};

use super::failure::{Failure, Result};
use super::task::Settle;

fn storage(state: &State) -> Result<DurableObjectStorage> {
    Ok(state.storage()?)
}

async fn get(state: &State, key: &str) -> Result<Option<JsValue>> {
    let value = Settle::new(storage(state)?.get(key)?).await?;
    Ok((!value.is_undefined()).then_some(value))
}

async fn put(state: &State, key: &str, value: JsValue) -> Result<()> {
    Settle::new(storage(state)?.put(key, value)?).await?;
    Ok(())
}

/// The string stored under `key`, if any.
pub async fn get_text(state: &State, key: &str) -> Result<Option<String>> {
    get(state, key)
        .await?
        .map(|v| {
            v.as_string()
                .ok_or_else(|| Failure::Said(format!("storage: {key} is not a string")))
        })
        .transpose()
}

/// Stores a string under `key`.
pub async fn put_text(state: &State, key: &str, text: &str) -> Result<()> {
    put(state, key, JsValue::from_str(text)).await
}

/// The value stored under `key` (a plain object, array or string), if any.
pub async fn get_json<T: DeserializeOwned>(state: &State, key: &str) -> Result<Option<T>> {
    let Some(value) = get(state, key).await? else {
        return Ok(None);
    };
    let text = js_sys::JSON::stringify(&value)?
        .as_string()
        .unwrap_or_default();
    Ok(Some(serde_json::from_str(&text)?))
}

/// Stores `value` under `key` as the plain object (or array) its JSON describes.
pub async fn put_json<T: Serialize>(state: &State, key: &str, value: &T) -> Result<()> {
    let text = serde_json::to_string(value)?;
    put(state, key, js_sys::JSON::parse(&text)?).await
}

/// The entries with keys from `start` (included) to `end` (excluded), in key order.
pub async fn list_range(state: &State, start: &str, end: &str) -> Result<js_sys::Map> {
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"start".into(), &start.into())?;
    js_sys::Reflect::set(&options, &"end".into(), &end.into())?;
    let list = Settle::new(storage(state)?.list_with_options(options)?).await?;
    Ok(list.dyn_into()?)
}

/// Writes every property of `entries` (key to value) in one atomic batch.
pub async fn put_all(state: &State, entries: js_sys::Object) -> Result<()> {
    Settle::new(storage(state)?.put_multiple(entries.into())?).await?;
    Ok(())
}

/// Deletes `keys` (at most 128 in one call).
pub async fn delete(state: &State, keys: &[String]) -> Result<()> {
    let keys = keys.iter().map(|k| JsValue::from_str(k)).collect();
    Settle::new(storage(state)?.delete_multiple(keys)?).await?;
    Ok(())
}

/// Deletes everything the object stores.
pub async fn delete_all(state: &State) -> Result<()> {
    Settle::new(storage(state)?.delete_all()?).await?;
    Ok(())
}

/// Whether an alarm is set.
pub async fn has_alarm(state: &State) -> Result<bool> {
    let at = Settle::new(storage(state)?.get_alarm(JsValue::NULL.into())?).await?;
    Ok(!at.is_null() && !at.is_undefined())
}

/// Sets the alarm `after` from now (replacing any other).
pub async fn set_alarm(state: &State, after: Duration) -> Result<()> {
    let at = js_sys::Date::now() + after.as_millis() as f64;
    let at = js_sys::Date::new(&JsValue::from_f64(at));
    Settle::new(storage(state)?.set_alarm(at, JsValue::NULL.into())?).await?;
    Ok(())
}

/// A request body parsed as JSON.
pub async fn body_json<T: DeserializeOwned>(req: &Request) -> Result<T> {
    let text = Settle::new(req.text()?)
        .await?
        .as_string()
        .unwrap_or_default();
    Ok(serde_json::from_str(&text)?)
}
