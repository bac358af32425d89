// Header work done on the JS side of the boundary, one call for what would otherwise be one
// crossing (and one string copy) per header. The policy stays in Rust: these functions only apply
// lists Rust computed. Lists travel as one string, items separated by "\n" (which no header name
// or value can contain); an absent header is "\0" (which none can contain either).

let hopByHop = [];
let clientMayNotSet = [];
let prefetch = [];
let prefetchUnlessOptions = [];

/**
 * Once per isolate: the header lists of `forwarding`, those every request reads, and how many of
 * them (the first) a request other than `OPTIONS` reads.
 */
export function configure(hop, client, prefetched, unlessOptions) {
  hopByHop = hop.split("\n");
  clientMayNotSet = client.split("\n");
  prefetch = prefetched.split("\n");
  prefetchUnlessOptions = prefetch.slice(0, unlessOptions);
}

function valuesOf(headers, list) {
  let out = "";
  for (let i = 0; i < list.length; i++) {
    const v = headers.get(list[i]);
    out += (i ? "\n" : "") + (v === null ? "\0" : v);
  }
  return out;
}

/** The values of `names` in `headers`, "\n"-joined, "\0" for an absent one. */
export function values(headers, names) {
  return valuesOf(headers, names.split("\n"));
}

/** The request's method, URL and the values of the prefetched headers, "\n"-joined. */
export function requestFacts(request) {
  const method = request.method;
  const names = method === "OPTIONS" ? prefetch : prefetchUnlessOptions;
  return method + "\n" + request.url + "\n" + valuesOf(request.headers, names);
}

function applyEdits(headers, drop, set) {
  if (drop) for (const name of drop.split("\n")) if (name) headers.delete(name);
  if (set) {
    const s = set.split("\n");
    for (let i = 0; i + 1 < s.length; i += 2) headers.set(s[i], s[i + 1]);
  }
}

/** Deletes the `drop` names, then sets the `set` pairs; a refused edit is skipped. */
export function edit(headers, drop, set) {
  try {
    applyEdits(headers, drop, set);
  } catch {
    // Immutable headers: nothing to do, as with one failed `set`.
  }
}

/**
 * A response the edge makes itself: `pairs` as headers, then the edits `drop` and `set`, `body` a
 * string or null. Throws when the runtime refuses the status.
 */
export function makeResponse(status, body, pairs, drop, set) {
  // Written into the response's own headers: a `Headers` passed as init would be copied.
  const response = new Response(body, { status });
  const headers = response.headers;
  applyEdits(headers, "", pairs);
  applyEdits(headers, drop, set);
  return response;
}

/** Failure codes `forward` rejects with. */
const UNREACHABLE = 1;
const TIMED_OUT = 2;
const INVALID = 3;

/**
 * The response filter: the fixed hop-by-hop headers dropped (all but `Connection`, whose tokens
 * Rust reads), headers made mutable, the body stream passed on untouched.
 */
export function reshape(response) {
  let copy;
  try {
    // The response as init: its status, status text and headers, copied once.
    copy = new Response(response.body, response);
  } catch {
    throw INVALID;
  }
  const headers = copy.headers;
  for (const name of hopByHop) if (name !== "connection") headers.delete(name);
  return copy;
}

/**
 * Streams a request to `url`: the client's `headers` less the hop-by-hop and client-only ones and
 * `drop`, plus `set`. Aborts when no response head came within `ms` (the body is never cut).
 * Resolves to the reshaped response; rejects with a failure code.
 */
export async function forward(headers, url, method, body, drop, set, ms) {
  const h = new Headers(headers);
  for (const name of hopByHop) h.delete(name);
  for (const name of clientMayNotSet) h.delete(name);
  applyEdits(h, drop, set);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: h,
      body,
      redirect: "manual",
      signal: controller.signal,
    });
  } catch {
    throw controller.signal.aborted ? TIMED_OUT : UNREACHABLE;
  } finally {
    clearTimeout(timer);
  }
  return reshape(response);
}

/** Settles when `promise` does, or after `ms` with undefined, whichever comes first. */
export function within(promise, ms) {
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The values of `names` in a response's headers (one call instead of `headers` then `values`). */
export function responseValues(response, names) {
  return values(response.headers, names);
}

/**
 * A stored answer served again: its headers less `drop`, plus `set`, under `status`, with its body
 * unless `withBody` is false. Null when the runtime refuses the status.
 */
export function restored(stored, status, withBody, drop, set) {
  let copy;
  try {
    // The stored headers copied once, into the new response's own (mutable) list.
    copy = new Response(withBody ? stored.body : null, { status, headers: stored.headers });
  } catch {
    return null;
  }
  applyEdits(copy.headers, drop, set);
  return copy;
}

// The task executor's side (see task.rs): promise reactions as plain arrows calling Rust's one
// continuation, and the promises of requests still running.

const FULFILLED = 0;
const REJECTED = 1;
const POLL = 2;
let resume = null;
const tasks = new Map();

/** Once per instance: the continuation `(kind, id, outcome)`. */
export function installResume(f) {
  resume = f;
}

// `to` is the continuation of the instance that asked: after a panic the next request makes a
// new instance, whose ids start again, and a late reaction of the dead one must not reach a task
// of the new one under the same id (it would get another request's answer). Its task died with
// it, so the reaction is dropped.
// A trap in the continuation (a Rust panic) is thrown again from a microtask of its own, where
// the entry's global error listener sees it, as it sees one in any other microtask.
function call(to, kind, id, outcome) {
  if (to !== resume) return;
  try {
    to(kind, id, outcome);
  } catch (e) {
    queueMicrotask(() => {
      throw e;
    });
  }
}

/** Calls the continuation with `promise`'s outcome under the watch `id`. */
export function watch(promise, id) {
  const to = resume;
  promise.then(
    (v) => call(to, FULFILLED, id, v),
    (e) => call(to, REJECTED, id, e),
  );
}

/** Queues a poll of task `id`. */
export function schedule(id) {
  const to = resume;
  queueMicrotask(() => call(to, POLL, id, undefined));
}

/** A promise of task `id`'s answer (an entry a dead instance left under `id` is replaced). */
export function pending(id) {
  return new Promise((resolve) => tasks.set(id, resolve));
}

/** Settles task `id`'s promise. */
export function finish(id, value) {
  const resolve = tasks.get(id);
  tasks.delete(id);
  if (resolve) resolve(value);
}
