// A shared HTTP cache in memory, for raw workerd's Cache API: the service a worker's
// `cacheApiOutbound` names. The peer benchmarks give each worker (ours and Hono's) one of these in
// its own workerd, so the cache-hit row runs in raw workerd like the other rows, instead of under
// wrangler dev, whose cache sits behind a proxy, a Durable Object and SQLite.
//
// The protocol, as workerd speaks it (the cache key's URL is the request's URL; a named cache,
// `caches.open(name)`, adds a `cf-cache-namespace` header):
// - GET: a match. Answers the stored response with `cf-cache-status: HIT`, or `cf-cache-status:
//   MISS` (workerd ignores the rest of a miss).
// - PUT: a put. The body is the response serialised as HTTP/1.1 (status line, headers, blank line,
//   body). Answers 204 when stored, 413 when not.
// - PURGE: a delete. Answers 200 when something went, 404 when nothing was stored.
//
// What is stored: a response with a freshness lifetime (`s-maxage`, else `max-age`, else
// `Expires` less `Date`), without `no-store`, `private` or `Set-Cookie`, of at most MAX_BODY bytes.
// Past MAX_ENTRIES the oldest stored entry goes. Not done: Range requests (the whole body is sent)
// and revalidation (an expired entry is a miss).

const MAX_ENTRIES = 10000;
const MAX_BODY = 16 * 1024 * 1024;
const CRLF2 = [13, 10, 13, 10];

/** key -> { status, statusText, headers: [name, value][], body: Uint8Array, expires: ms } */
const entries = new Map();

function keyOf(request) {
  return `${request.headers.get("cf-cache-namespace") ?? ""} ${request.url}`;
}

function answer(status, cacheStatus) {
  const headers = cacheStatus ? { "cf-cache-status": cacheStatus } : {};
  return new Response(null, { status, headers });
}

/** The body, or null past `max` bytes. */
async function readAtMost(stream, max) {
  if (!stream) return new Uint8Array(0);
  const chunks = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return all;
}

function headEnd(bytes) {
  outer: for (let i = 0; i + 3 < bytes.length; i++) {
    for (let j = 0; j < 4; j++) if (bytes[i + j] !== CRLF2[j]) continue outer;
    return i;
  }
  return -1;
}

/** The serialised response as { status, statusText, headers, body }, or null when malformed. */
function parse(bytes) {
  const end = headEnd(bytes);
  if (end < 0) return null;
  const [statusLine, ...lines] = new TextDecoder().decode(bytes.subarray(0, end)).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) return null;
  const headers = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) return null;
    headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return {
    status: Number(m[1]),
    statusText: m[2] ?? "",
    headers,
    body: bytes.slice(end + 4),
  };
}

/** Milliseconds the response stays fresh, or 0 when it must not be stored. */
function lifetime(headers, now) {
  const get = (name) => headers.find(([n]) => n === name)?.[1];
  if (get("set-cookie") !== undefined) return 0;
  const directives = new Map();
  for (const part of (get("cache-control") ?? "").toLowerCase().split(",")) {
    const [name, value] = part.trim().split("=", 2);
    if (name) directives.set(name, value);
  }
  if (directives.has("no-store") || directives.has("private")) return 0;
  for (const name of ["s-maxage", "max-age"]) {
    const value = directives.get(name);
    if (value !== undefined && /^\d+$/.test(value)) return Number(value) * 1000;
  }
  const expires = Date.parse(get("expires") ?? "");
  if (Number.isNaN(expires)) return 0;
  const date = Date.parse(get("date") ?? "");
  return Math.max(0, expires - (Number.isNaN(date) ? now : date));
}

async function put(request) {
  const bytes = await readAtMost(request.body, MAX_BODY + 64 * 1024);
  const stored = bytes && parse(bytes);
  if (!stored || stored.body.length > MAX_BODY) return answer(413);
  const now = Date.now();
  const ttl = lifetime(stored.headers, now);
  if (ttl <= 0) return answer(413);
  const key = keyOf(request);
  entries.delete(key);
  entries.set(key, { ...stored, expires: now + ttl });
  if (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value);
  return answer(204);
}

function match(request) {
  const key = keyOf(request);
  const entry = entries.get(key);
  if (!entry) return answer(504, "MISS");
  if (entry.expires <= Date.now()) {
    entries.delete(key);
    return answer(504, "MISS");
  }
  const headers = new Headers(entry.headers);
  headers.set("cf-cache-status", "HIT");
  const empty = [101, 204, 205, 304].includes(entry.status);
  return new Response(empty ? null : entry.body, {
    status: entry.status,
    statusText: entry.statusText,
    headers,
  });
}

export default {
  async fetch(request) {
    switch (request.method) {
      case "GET":
        return match(request);
      case "PUT":
        return put(request);
      case "PURGE":
        return answer(entries.delete(keyOf(request)) ? 200 : 404);
      default:
        return answer(405);
    }
  },
};
