//! Purge generations in the runtime: read from their Durable Object at most every
//! `cache.purge_refresh` per isolate, and changed through it by the admin API.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::{Request, Response};
use worker_sys::DurableObjectState as State;

use super::env::Env;
use super::failure::{Failure, Result};
use super::{Settings, log, objects, storage};
use crate::cache::purge::{Purge, Purges};
use crate::forwarding::split_url;
use crate::rate_limit::path_pattern::normalize;

/// Name of the purge generations' Durable Object binding.
pub const BINDING: &str = "CACHE_PURGES";
const KEY: &str = "purges";

thread_local! {
    static KNOWN: RefCell<Option<(Purges, f64)>> = const { RefCell::new(None) };
    /// Whether a request of this isolate is reading the generations from their object.
    static REFRESHING: Cell<bool> = const { Cell::new(false) };
}

/// Marks a refresh in flight until dropped (answered, failed or cancelled).
struct Refreshing;

impl Refreshing {
    fn claim() -> Option<Self> {
        (!REFRESHING.replace(true)).then_some(Self)
    }
}

impl Drop for Refreshing {
    fn drop(&mut self) {
        REFRESHING.set(false);
    }
}

/// The generation a normalised path's keys use now. `now_ms` may be the request's arrival: a
/// refresh a few I/O round trips early is harmless, and it spares a clock read per request.
pub async fn generation(settings: &Settings, env: &Env, path: &str, now_ms: f64) -> u64 {
    let now = now_ms;
    let refresh = settings.cache.config.purge_refresh.as_millis() as f64;
    let known = KNOWN.with(|k| k.borrow().clone());
    let refreshing = match &known {
        Some((purges, at)) if now - at < refresh => return purges.generation(path),
        // One request per isolate reads them again; the others go on with what is known (they
        // would otherwise all wait for the object together, every `purge_refresh`).
        Some((purges, _)) => match Refreshing::claim() {
            Some(claim) => Some(claim),
            None => return purges.generation(path),
        },
        // Nothing known yet: every request has to ask.
        None => Refreshing::claim(),
    };
    let purges = match ask(env, None).await {
        Ok(p) => p,
        Err(e) => {
            if known.is_none() {
                log::warn(&format!("wyn-edge: purge generations unavailable: {e}"));
            }
            // Keep what was known (or nothing was ever purged) and retry after `purge_refresh`.
            known.map(|(p, _)| p).unwrap_or_default()
        }
    };
    let generation = purges.generation(path);
    KNOWN.with(|k| *k.borrow_mut() = Some((purges, now)));
    drop(refreshing);
    generation
}

/// Applies a purge and makes this isolate see it at once.
pub async fn purge(env: &Env, purge: &Purge) -> Result<Purges> {
    let purges = ask(env, Some(purge)).await?;
    KNOWN.with(|k| *k.borrow_mut() = Some((purges.clone(), js_sys::Date::now())));
    Ok(purges)
}

async fn ask(env: &Env, purge: Option<&Purge>) -> Result<Purges> {
    let stub = env.object(BINDING, "global")?;
    let body = purge.map(serde_json::to_string).transpose()?;
    let answer = super::ask_object(stub, "https://purges/", body.as_deref()).await?;
    if answer.status != 200 {
        return Err(Failure::Said(answer.body));
    }
    Ok(serde_json::from_str(&answer.body)?)
}

/// The normalised path of a URL or path given to a purge.
pub fn purge_path(target: &str) -> Option<String> {
    let path = if target.starts_with('/') {
        target.split(['?', '#']).next().unwrap_or(target)
    } else {
        split_url(target)?.path()
    };
    Some(normalize(path).into_owned())
}

/// The purge generations: one object for the whole deployment. Its entry points are ours (see
/// [`objects`]); it sets no alarm, so it has no `alarm`.
#[wasm_bindgen]
pub struct PurgeObject(Rc<State>);

#[wasm_bindgen]
impl PurgeObject {
    /// `new PurgeObject(state, env)`, as the runtime constructs it.
    #[wasm_bindgen(constructor)]
    pub fn new(state: State, _env: JsValue) -> Self {
        Self(Rc::new(state))
    }

    /// The generations (`GET`), or a purge applied to them (`POST`).
    pub fn fetch(&self, req: web_sys::Request) -> Promise {
        let state = Rc::clone(&self.0);
        objects::answer(async move { generations(&state, req).await })
    }
}

async fn generations(state: &State, req: Request) -> Result<Response> {
    let mut purges: Purges = storage::get_json(state, KEY).await?.unwrap_or_default();
    if req.method() == "POST" {
        let purge: Purge = storage::body_json(&req).await?;
        if let Err(why) = purges.apply(&purge, purge_path) {
            return Ok(objects::text(400, &why));
        }
        storage::put_json(state, KEY, &purges).await?;
    }
    objects::json(200, &purges)
}
