//! The Durable Object behind `global` rules: one object per (rule, key), holding that key's GCRA
//! state, so its answer is exact across isolates and locations and one hot key queues nobody else.
//!
//! The state (the theoretical arrival time) is persisted on every allowed request; the runtime's
//! output gate holds the answer until the write is durable, so a restarted object never forgets a
//! spent budget. An alarm deletes the state once the budget is whole again.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::{Request, Response};
use worker_sys::DurableObjectState as State;

use super::failure::Result;
use super::{objects, storage};
use crate::rate_limit::gcra::Limiter;
use crate::rate_limit::{GlobalCheck, GlobalVerdict};

const TAT_KEY: &str = "tat";

struct Loaded {
    check: GlobalCheck,
    limiter: Limiter<()>,
}

/// One key's budget under one global rule. Its entry points are ours (see [`objects`]).
#[wasm_bindgen]
pub struct RateLimiterObject(Rc<Budget>);

struct Budget {
    state: State,
    loaded: RefCell<Option<Loaded>>,
    restored: RefCell<Option<u64>>,
}

#[wasm_bindgen]
impl RateLimiterObject {
    /// `new RateLimiterObject(state, env)`, as the runtime constructs it.
    #[wasm_bindgen(constructor)]
    pub fn new(state: State, _env: JsValue) -> Self {
        Self(Rc::new(Budget {
            state,
            loaded: RefCell::new(None),
            restored: RefCell::new(None),
        }))
    }

    /// The verdict on one request of the key (a `GlobalCheck` in, a `GlobalVerdict` out).
    pub fn fetch(&self, req: web_sys::Request) -> Promise {
        let object = Rc::clone(&self.0);
        objects::answer(async move { object.fetch(req).await })
    }

    /// Forgets the state once the budget is whole again.
    pub fn alarm(&self) -> Promise {
        let object = Rc::clone(&self.0);
        objects::alarm(async move { object.alarm().await })
    }
}

fn now_ns() -> u64 {
    (js_sys::Date::now() * 1_000_000.0) as u64
}

impl Budget {
    async fn stored_tat(&self) -> Result<Option<u64>> {
        if let Some(tat) = *self.restored.borrow() {
            return Ok(Some(tat));
        }
        let stored = storage::get_text(&self.state, TAT_KEY)
            .await?
            .and_then(|s| s.parse().ok());
        *self.restored.borrow_mut() = Some(stored.unwrap_or(0));
        Ok(stored)
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let check: GlobalCheck = storage::body_json(&req).await?;
        let stored = self.stored_tat().await?;
        let (verdict, tat) = {
            let mut loaded = self.loaded.borrow_mut();
            if loaded.as_ref().is_none_or(|l| l.check != check) {
                // First request, or the rule's figures changed with a deploy: same state, new quota.
                let tat = loaded.as_ref().and_then(|l| l.limiter.tat(&())).or(stored);
                let limiter = Limiter::new(
                    check.limit,
                    Duration::from_millis(check.period_ms),
                    check.burst,
                    1,
                );
                if let Some(tat) = tat {
                    limiter.restore((), tat);
                }
                *loaded = Some(Loaded { check, limiter });
            }
            let Some(l) = loaded.as_ref() else {
                return Ok(objects::text(500, "no limiter"));
            };
            let verdict = l.limiter.check(&(), now_ns());
            (verdict, l.limiter.tat(&()))
        };
        if verdict.allowed
            && let Some(tat) = tat
        {
            storage::put_text(&self.state, TAT_KEY, &tat.to_string()).await?;
            *self.restored.borrow_mut() = Some(tat);
            if !storage::has_alarm(&self.state).await? {
                let after = Duration::from_nanos(tat.saturating_sub(now_ns()));
                storage::set_alarm(&self.state, after + Duration::from_secs(1)).await?;
            }
        }
        objects::json(200, &GlobalVerdict::from(verdict))
    }

    async fn alarm(&self) -> Result<()> {
        let tat = self.stored_tat().await?.unwrap_or(0);
        let now = now_ns();
        if tat <= now {
            // The budget is whole again: nothing worth keeping.
            storage::delete_all(&self.state).await?;
            *self.loaded.borrow_mut() = None;
            *self.restored.borrow_mut() = Some(0);
        } else {
            let after = Duration::from_nanos(tat - now) + Duration::from_secs(1);
            storage::set_alarm(&self.state, after).await?;
        }
        Ok(())
    }
}
