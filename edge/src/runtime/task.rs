//! Requests driven by the promises they await, without wasm-bindgen-futures' executor.
//!
//! `future_to_promise` wraps each request in a promise made around a Rust closure; each
//! `JsFuture` makes two more closures (each registered with a `FinalizationRegistry`) and wakes
//! its task through a microtask queue of its own. On the proxied miss that machinery was 4–6 % of
//! the isolate's CPU. Here a request is a slot in a thread-local table:
//!
//! - [`run`] polls it at once: a request that completes without I/O gets its answer with no
//!   promise at all, the others a promise `glue.js` settles when the task completes;
//! - a [`Settle`]d promise gets its reactions from `glue.js` as plain JS arrows, which call the
//!   one continuation this module installs per instance; it stores the outcome and polls the
//!   waiting task right there, with no extra microtask.
//!
//! Futures from elsewhere (wasm-bindgen's `JsFuture`, the `worker` crate's) still work inside a
//! task: its waker queues a poll. A [`Settle`] works under any executor: outside a task it wakes
//! whatever waker polled it.
//!
//! One rule: wake a task only from its own request's events. The runtime runs what a wake queues
//! in the request that queued it, so a wake from another request would carry this one's
//! continuation (and its I/O) into that one. Between requests, signal with a promise the
//! waiting request made (as coalesced cache misses do): its reactions stay in its request.
//!
//! ```ignore
//! let answer: JsValue = task::run(async move {
//!     let response = Settle::new(fetch_promise).await;
//!     /* ... */
//! });
//! ```
//!
//! The `slab` crate keeps the table; the executor itself (a hundred lines) is ours because none
//! of the crates in our field drives futures from JS promise reactions without closures.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use js_sys::Promise;
use slab::Slab;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::{Closure, wasm_bindgen};

#[wasm_bindgen(module = "/src/runtime/glue.js")]
extern "C" {
    /// Hands `glue.js` the continuation its reactions call.
    #[wasm_bindgen(js_name = installResume)]
    fn install_resume(resume: &JsValue);
    /// Reacts to `promise`: the continuation gets `(FULFILLED | REJECTED, watch, outcome)`.
    fn watch(promise: &Promise, watch: u32);
    /// Queues `(POLL, task)` to the continuation in a microtask.
    fn schedule(task: u32);
    /// A promise for task `id`'s answer, settled by [`finish`].
    fn pending(id: u32) -> Promise;
    /// Settles task `id`'s promise with `value`.
    fn finish(id: u32, value: &JsValue);
}

/// What the continuation is called for (`glue.js` uses the same numbers): a watched promise
/// fulfilled, or rejected (1), or a task to poll.
const FULFILLED: u8 = 0;
const POLL: u8 = 2;

type Boxed = Pin<Box<dyn Future<Output = JsValue>>>;

struct Task {
    /// Taken out while it is being polled.
    future: Option<Boxed>,
    waker: Waker,
    /// Whether `glue.js` holds a promise for its answer.
    awaited: bool,
}

/// A watched promise: who waits for it, or its outcome.
enum Watch {
    Waiting(Waker),
    Settled(Result<JsValue, JsValue>),
    /// Its [`Settle`] was dropped first; the slot goes when the promise settles.
    Abandoned,
}

thread_local! {
    static TASKS: RefCell<Slab<Task>> = const { RefCell::new(Slab::new()) };
    static WATCHES: RefCell<Slab<Watch>> = const { RefCell::new(Slab::new()) };
    /// Whether a task is being polled.
    static POLLING: Cell<bool> = const { Cell::new(false) };
    /// Whether the continuation is running (a JS reaction: no other executor is polling).
    static RESUMING: Cell<bool> = const { Cell::new(false) };
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
}

/// Drives `future` as a task: its output at once when it needs no I/O, else a promise of it.
pub fn run(future: impl Future<Output = JsValue> + 'static) -> JsValue {
    match start(Box::pin(future)) {
        Started::Done(value) => value,
        Started::Pending(promise) => promise.into(),
    }
}

/// Drives `future` as a task and answers a promise in every case: for callers that want one
/// (a Durable Object's `fetch` and `alarm`). `Err` rejects it.
pub fn promise(future: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let future = async move { future.await.unwrap_or_else(|e| Promise::reject(&e).into()) };
    match start(Box::pin(future)) {
        // A promise resolved with a rejected one is rejected.
        Started::Done(value) => Promise::resolve(&value),
        Started::Pending(promise) => promise,
    }
}

enum Started {
    Done(JsValue),
    Pending(Promise),
}

/// Polls a new task once; not generic, so each caller adds only its future's code.
fn start(future: Boxed) -> Started {
    install();
    let id = TASKS.with(|t| {
        let mut tasks = t.borrow_mut();
        let entry = tasks.vacant_entry();
        let waker = Waker::from(Arc::new(TaskWaker(entry.key())));
        let id = entry.key();
        entry.insert(Task {
            future: Some(future),
            waker,
            awaited: false,
        });
        id
    });
    if let Some(value) = poll_task(id) {
        return Started::Done(value);
    }
    TASKS.with(|t| {
        if let Some(task) = t.borrow_mut().get_mut(id) {
            task.awaited = true;
        }
    });
    Started::Pending(pending(key(id)))
}

/// Polls task `id` once; its output if it completed before anyone awaited it.
fn poll_task(id: usize) -> Option<JsValue> {
    let (mut future, waker) = TASKS.with(|t| {
        let mut tasks = t.borrow_mut();
        let task = tasks.get_mut(id)?;
        Some((task.future.take()?, task.waker.clone()))
    })?;
    let outer = POLLING.replace(true);
    let polled = future.as_mut().poll(&mut Context::from_waker(&waker));
    POLLING.set(outer);
    match polled {
        Poll::Pending => {
            TASKS.with(|t| {
                if let Some(task) = t.borrow_mut().get_mut(id) {
                    task.future = Some(future);
                }
            });
            None
        }
        Poll::Ready(value) => {
            let task = TASKS.with(|t| t.borrow_mut().try_remove(id));
            // Dropped outside the table's borrow: the future's drop may touch it.
            drop(future);
            match task {
                Some(task) if task.awaited => {
                    finish(key(id), &value);
                    None
                }
                _ => Some(value),
            }
        }
    }
}

/// Slab keys cross to JS as `u32`; no isolate holds four billion requests at once.
fn key(id: usize) -> u32 {
    u32::try_from(id).unwrap_or(u32::MAX)
}

fn install() {
    if INSTALLED.replace(true) {
        return;
    }
    let resume = Closure::<dyn Fn(u8, u32, JsValue)>::new(resume);
    install_resume(&resume.into_js_value());
}

/// The continuation `glue.js` calls: a watched promise settled, or a task asked to be polled.
fn resume(kind: u8, id: u32, outcome: JsValue) {
    let id = id as usize;
    if kind == POLL {
        poll_task(id);
        return;
    }
    let outcome = if kind == FULFILLED {
        Ok(outcome)
    } else {
        Err(outcome)
    };
    let waker = WATCHES.with(|w| {
        let mut watches = w.borrow_mut();
        let slot = watches.get_mut(id)?;
        match std::mem::replace(slot, Watch::Settled(outcome)) {
            Watch::Waiting(waker) => Some(waker),
            Watch::Abandoned => {
                watches.remove(id);
                None
            }
            Watch::Settled(_) => None,
        }
    });
    if let Some(waker) = waker {
        let outer = RESUMING.replace(true);
        waker.wake();
        RESUMING.set(outer);
    }
}

/// Wakes a task: polls it right away in the continuation (a JS reaction, where nothing else is
/// being polled), else queues a poll.
struct TaskWaker(usize);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if RESUMING.get() && !POLLING.get() {
            poll_task(self.0);
        } else {
            schedule(key(self.0));
        }
    }
}

/// A promise awaited: its value, or its rejection as `Err`.
pub struct Settle {
    promise: Option<Promise>,
    watch: Option<usize>,
}

impl Settle {
    /// Awaits `promise`.
    pub fn new(promise: Promise) -> Self {
        Self {
            promise: Some(promise),
            watch: None,
        }
    }
}

impl Future for Settle {
    type Output = Result<JsValue, JsValue>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(id) = self.watch else {
            // Without a promise it already gave its outcome.
            let Some(promise) = self.promise.take() else {
                return Poll::Pending;
            };
            install();
            let id = WATCHES.with(|w| w.borrow_mut().insert(Watch::Waiting(cx.waker().clone())));
            watch(&promise, key(id));
            self.watch = Some(id);
            return Poll::Pending;
        };
        WATCHES.with(|w| {
            let mut watches = w.borrow_mut();
            match watches.get_mut(id) {
                Some(Watch::Settled(_)) => match watches.remove(id) {
                    Watch::Settled(outcome) => {
                        self.watch = None;
                        Poll::Ready(outcome)
                    }
                    _ => Poll::Pending,
                },
                Some(Watch::Waiting(waker)) => {
                    if !waker.will_wake(cx.waker()) {
                        *waker = cx.waker().clone();
                    }
                    Poll::Pending
                }
                _ => Poll::Pending,
            }
        })
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        let Some(id) = self.watch else { return };
        WATCHES.with(|w| {
            let mut watches = w.borrow_mut();
            match watches.get(id) {
                Some(Watch::Settled(_)) => {
                    watches.remove(id);
                }
                Some(Watch::Waiting(_)) => watches[id] = Watch::Abandoned,
                _ => {}
            }
        });
    }
}
