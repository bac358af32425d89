//! Metrics in the runtime: each isolate flushes its cells in batches (in `ctx.waitUntil`, never
//! awaited by a request) to one of `metrics.shards` aggregator objects, which keep per-minute
//! windows for 7 days; a query merges every shard with what this isolate has not flushed yet.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use hashbrown::HashSet;
use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::{Request, Response};
use worker_sys::{Context, DurableObjectState as State};
use wyn_edge_shared::metrics::{MetricsAnswer, Query, Snapshot};

use super::env::{Env, ObjectStub};
use super::failure::{Failure, Result};
use super::{Settings, objects, storage};
use crate::metrics::{Batch, Window};

/// Name of the aggregators' Durable Object binding.
pub const BINDING: &str = "METRICS";
const KEEP_MINUTES: u64 = 7 * 24 * 60;
/// How often an aggregator deletes the windows past [`KEEP_MINUTES`].
const CLEAN_EVERY: std::time::Duration = std::time::Duration::from_secs(3_600);

thread_local! {
    static ISOLATE: String = super::random_uuid();
}

fn now_minute() -> u64 {
    (js_sys::Date::now() / 60_000.0) as u64
}

/// Flushes when due; the work runs after the response, in `waitUntil`.
pub fn maybe_flush(settings: &Rc<Settings>, env: &Env, ctx: &Context, now: f64) {
    let config = &settings.config.metrics;
    let batches = {
        let mut recorder = settings.metrics.borrow_mut();
        if !recorder.flush_due(
            now,
            u64::from(config.flush_after),
            config.flush_every.as_millis() as f64,
        ) {
            return;
        }
        ISOLATE.with(|id| recorder.take_batches(id, now))
    };
    let shard = ISOLATE.with(|id| {
        id.bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
    }) % config.shards.max(1);
    let (settings, env) = (Rc::clone(settings), env.clone());
    super::wait_until(ctx, async move {
        for batch in batches {
            match send(&env, shard, &batch).await {
                Ok(()) => settings.metrics.borrow_mut().acknowledge(&batch.id),
                // Kept in flight (bounded) and sent again with the next flush.
                Err(_) => break,
            }
        }
    });
}

fn stub(env: &Env, shard: u32) -> Result<ObjectStub> {
    env.object(BINDING, &format!("shard-{shard}"))
}

async fn send(env: &Env, shard: u32, batch: &Batch) -> Result<()> {
    let body = serde_json::to_string(batch)?;
    let answer =
        super::ask_object(stub(env, shard)?, "https://metrics/ingest", Some(&body)).await?;
    if answer.status == 200 {
        Ok(())
    } else {
        Err(Failure::Said(format!("ingest answered {}", answer.status)))
    }
}

/// What one shard answers to a query: the query's windows merged into one, with every batch id
/// they hold. A [`Window`] itself, so the worker links one (de)serializer for both.
type ShardAnswer = Window;

/// Answers a query from every shard plus this isolate's unflushed cells.
pub async fn query(settings: &Settings, env: &Env, query: &Query) -> MetricsAnswer {
    let to = now_minute();
    let from = to.saturating_sub(query.window_secs / 60);
    let mut merged = Snapshot::default();
    let mut stored = HashSet::new();
    for shard in 0..settings.config.metrics.shards.max(1) {
        let url = format!("https://metrics/query?from={from}&to={to}");
        let Ok(stub) = stub(env, shard) else { break };
        let Ok(response) = super::ask_object(stub, &url, None).await else {
            continue;
        };
        if let Ok(answer) = serde_json::from_str::<ShardAnswer>(&response.body) {
            merged.merge(&answer.snapshot);
            stored.extend(answer.batches);
        }
    }
    let recorder = settings.metrics.borrow();
    merged.merge(&recorder.unflushed(&stored));
    let mut answer = merged.summarize(query, to);
    answer.dropped = recorder.dropped();
    answer
}

fn minute_key(minute: u64) -> String {
    format!("m:{minute:012}")
}

/// Windows an aggregator keeps parsed in memory: the minutes batches are still arriving for.
const CACHED_WINDOWS: usize = 4;

/// The window kept for `minute`, added empty when there is none.
fn window_mut(recent: &mut Vec<(u64, Window)>, minute: u64) -> &mut Window {
    let at = match recent.iter().position(|(m, _)| *m == minute) {
        Some(at) => at,
        None => {
            recent.push((minute, Window::default()));
            recent.len() - 1
        }
    };
    &mut recent[at].1
}

/// One aggregator: per-minute windows of merged cells, 7 days of them.
///
/// Storage is the truth; the newest windows are also kept parsed, so an ingest does not read and
/// parse its minute again (an object is single-threaded, and no other event runs while a storage
/// call is pending). Its entry points are ours (see [`objects`]): each call shares the object.
#[wasm_bindgen]
pub struct MetricsObject(Rc<Aggregator>);

struct Aggregator {
    state: State,
    /// By minute, at most [`CACHED_WINDOWS`]: a list, where a map would link a tree's removal
    /// and rebalancing code (4 KB of wasm) for four entries.
    recent: RefCell<Vec<(u64, Window)>>,
    alarm_set: Cell<bool>,
}

#[wasm_bindgen]
impl MetricsObject {
    /// `new MetricsObject(state, env)`, as the runtime constructs it.
    #[wasm_bindgen(constructor)]
    pub fn new(state: State, _env: JsValue) -> Self {
        Self(Rc::new(Aggregator {
            state,
            recent: RefCell::default(),
            alarm_set: Cell::new(false),
        }))
    }

    /// A batch stored (`POST`), or the windows of a query merged (`GET`).
    pub fn fetch(&self, req: web_sys::Request) -> Promise {
        let object = Rc::clone(&self.0);
        objects::answer(async move { object.fetch(req).await })
    }

    /// Deletes the windows older than 7 days.
    pub fn alarm(&self) -> Promise {
        let object = Rc::clone(&self.0);
        objects::alarm(async move { object.alarm().await })
    }
}

impl Aggregator {
    /// Merges a batch into its windows and stores every changed window in one atomic write.
    async fn ingest(&self, batch: Batch) -> Result<()> {
        let minutes = crate::metrics::by_minute(&batch.snapshot);
        for minute in minutes.keys() {
            if self.recent.borrow().iter().any(|(m, _)| m == minute) {
                continue;
            }
            let window = storage::get_text(&self.state, &minute_key(*minute))
                .await?
                .and_then(|t| serde_json::from_str::<Window>(&t).ok())
                .unwrap_or_default();
            let mut recent = self.recent.borrow_mut();
            if !recent.iter().any(|(m, _)| m == minute) {
                recent.push((*minute, window));
            }
        }
        let writes = js_sys::Object::new();
        let mut changed = Vec::new();
        {
            let mut recent = self.recent.borrow_mut();
            for (minute, cells) in &minutes {
                let window = window_mut(&mut recent, *minute);
                if window.merge_batch(&batch.id, cells) {
                    let text = serde_json::to_string(window)?;
                    js_sys::Reflect::set(&writes, &minute_key(*minute).into(), &text.into())?;
                    changed.push(*minute);
                }
            }
        }
        if !changed.is_empty()
            && let Err(e) = storage::put_all(&self.state, writes).await
        {
            // Not stored: forget the merged copies, so the retry merges again.
            let mut recent = self.recent.borrow_mut();
            recent.retain(|(m, _)| !changed.contains(m));
            return Err(e);
        }
        {
            let mut recent = self.recent.borrow_mut();
            while recent.len() > CACHED_WINDOWS {
                let oldest = (0..recent.len()).min_by_key(|&i| recent[i].0).unwrap_or(0);
                recent.remove(oldest);
            }
        }
        if !self.alarm_set.get() {
            if !storage::has_alarm(&self.state).await? {
                storage::set_alarm(&self.state, CLEAN_EVERY).await?;
            }
            self.alarm_set.set(true);
        }
        Ok(())
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if req.method() == "POST" {
            self.ingest(storage::body_json(&req).await?).await?;
            return Ok(objects::text(200, "stored"));
        }
        // The runtime's URL parser: the `url` crate would add itself to the worker.
        let params = web_sys::Url::new(&req.url())
            .map_err(|_| Failure::Said("metrics: unreadable query URL".into()))?
            .search_params();
        let param = |name: &str| params.get(name).and_then(|v| v.parse::<u64>().ok());
        let (from, to) = (
            param("from").unwrap_or(0),
            param("to").unwrap_or(u64::MAX / 2),
        );
        let (start, end) = (minute_key(from), minute_key(to + 1));
        let list = storage::list_range(&self.state, &start, &end).await?;
        let mut answer = ShardAnswer::default();
        list.for_each(&mut |value, _key| {
            if let Some(window) = value
                .as_string()
                .and_then(|t| serde_json::from_str::<Window>(&t).ok())
            {
                answer.snapshot.merge(&window.snapshot);
                answer.batches.extend(window.batches);
            }
        });
        objects::json(200, &answer)
    }

    async fn alarm(&self) -> Result<()> {
        let cutoff = minute_key(now_minute().saturating_sub(KEEP_MINUTES));
        let old = storage::list_range(&self.state, "m:", &cutoff).await?;
        let mut keys = Vec::new();
        old.for_each(&mut |_value, key| {
            if let Some(k) = key.as_string() {
                keys.push(k);
            }
        });
        for chunk in keys.chunks(128) {
            storage::delete(&self.state, chunk).await?;
        }
        storage::set_alarm(&self.state, CLEAN_EVERY).await
    }
}
