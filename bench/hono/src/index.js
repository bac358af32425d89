// The Hono peer of wyn-edge for `make bench-peers`: the same job as the shipped WYN policy, written
// the way a Hono user would, with Hono's own middleware (cors, cache, request-id, timing, proxy)
// and hono-rate-limiter (in-memory fixed windows; a Durable Object store for `global` rules).
//
// The policy is not typed in twice: the bench derives it from wrangler.toml's [vars.EDGE] and
// passes it as the `POLICY` text binding (JSON), next to `ORIGIN_URL`.
//
// The app is built on the first request, not at module load: workerd refuses timers in global
// scope, and hono-rate-limiter's MemoryStore starts one when it is created.

import { Hono } from "hono";
import { cache } from "hono/cache";
import { cors } from "hono/cors";
import { proxy } from "hono/proxy";
import { requestId } from "hono/request-id";
import { endTime, startTime, timing } from "hono/timing";
import { rateLimiter } from "hono-rate-limiter";
import { DurableObjectRateLimiter, DurableObjectStore } from "@hono-rate-limiter/cloudflare";

// The class behind the `RATE_LIMITER` binding that `global` rules count in.
export { DurableObjectRateLimiter };

/** The routing headers of Next.js: part of every cache key, as `cache.nextjs = true` says. */
const NEXT_HEADERS = [
  "rsc",
  "next-router-state-tree",
  "next-router-prefetch",
  "next-router-segment-prefetch",
  "next-url",
];

/** The app's own CORS headers, removed so that only the edge's policy speaks. */
const CORS_HEADERS = [
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-expose-headers",
  "access-control-max-age",
];

let app;

export default {
  fetch(request, env, ctx) {
    app ??= build(JSON.parse(env.POLICY), env);
    return app.fetch(request, env, ctx);
  },
};

/** Whether `path` matches a policy path: exact; `*` is one segment; a trailing `/*` is the path
 * before it and everything below. */
function pathMatches(pattern, path) {
  const want = pattern.split("/");
  const have = path.split("/");
  const below = want.at(-1) === "*";
  if (below) want.pop();
  if (below ? have.length < want.length : have.length !== want.length) return false;
  return want.every((segment, i) => segment === "*" || segment === have[i]);
}

/** An allow-list check: exact origins, and patterns whose `*` stands for one DNS label. */
function originMatcher(origins) {
  const exact = new Set(origins.filter((o) => !o.includes("*")));
  const patterns = origins
    .filter((o) => o.includes("*"))
    .map((o) => new RegExp(`^${o.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", "[a-z0-9-]+")}$`));
  return (origin) => exact.has(origin) || patterns.some((p) => p.test(origin));
}

async function cacheWorks() {
  try {
    await (await caches.open("wyn")).match("https://cache-probe.invalid/");
    return true;
  } catch {
    return false;
  }
}

function clientKey(c) {
  return c.req.header("cf-connecting-ip") || "unknown";
}

function build(policy, env) {
  const origin = env.ORIGIN_URL.replace(/\/$/, "");
  const app = new Hono();

  app.use(timing({ totalDescription: "edge" }));
  // Headers a middleware sets before `next()` (request-id's, the rate limiter's RateLimit) wait
  // in a side list that Hono merges only into a response it makes itself, or into one set after
  // `c.res` was first read. A Response returned as it is (the cache's hit, the proxy's answer)
  // went out without them wherever no CORS rule had read `c.res` first (/static/): reading it
  // here puts them on every answer, as the policy (and ours) does.
  app.use(async (c, next) => {
    void c.res;
    await next();
  });
  app.use(requestId());

  // Request filter: CORS (preflights are answered here, before any rate limit) ...
  if (policy.cors) {
    const allowed = originMatcher(policy.cors.origins);
    const options = {
      origin: (o) => (allowed(o) ? o : null),
      allowMethods: policy.cors.methods,
      allowHeaders: policy.cors.request_headers,
      exposeHeaders: policy.cors.expose_headers,
      credentials: policy.cors.credentials,
      maxAge: policy.cors.max_age,
    };
    for (const path of policy.cors.paths) app.use(path, cors(options));
  }

  // ... then the rate limits, local ones first so a refused request spends no global budget.
  const rules = [...policy.rate_limits].sort((a, b) => (a.scope === "global") - (b.scope === "global"));
  for (const rule of rules) {
    app.use(
      rule.path,
      rateLimiter({
        windowMs: rule.period_ms,
        limit: rule.limit,
        standardHeaders: "draft-7",
        keyGenerator: (c) => `${rule.name}:${clientKey(c)}`,
        skip: (c) =>
          (rule.methods.length > 0 && !rule.methods.includes(c.req.method)) ||
          rule.except.some((p) => pathMatches(p, c.req.path)),
        store: rule.scope === "global" ? new DurableObjectStore({ namespace: env.RATE_LIMITER }) : undefined,
      }),
    );
  }

  // Cache lookup and store: the Cache API, keys without tracking parameters and with a sorted
  // query, the Next.js routing headers in the key (Hono's `vary`), per-route bypass and TTLs.
  const routes = policy.cache.routes;
  const routeOf = (path) => routes.find((r) => pathMatches(r.path, path));
  const dropped = policy.cache.drop_query_params.map(
    (p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*")}$`),
  );
  const store = cache({
    cacheName: "wyn",
    vary: policy.cache.nextjs ? NEXT_HEADERS : undefined,
    onCacheNotAvailable: false,
    keyGenerator: (c) => {
      const url = new URL(c.req.url);
      const kept = [...url.searchParams].filter(([name]) => !dropped.some((p) => p.test(name)));
      kept.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      url.search = new URLSearchParams(kept).toString();
      return url.href;
    },
  });
  // Raw workerd has no Cache API unless a cache service is configured; like wyn-edge, find out
  // once per isolate and proxy without a cache from then on.
  let cacheUsable;
  app.use(async (c, next) => {
    cacheUsable ??= await cacheWorks();
    if (!cacheUsable || routeOf(c.req.path)?.bypass) return next();
    return store(c, next);
  });
  // A route's `ttl` overrides the origin's freshness for the shared cache (never private or
  // no-store answers), as `s-maxage`, which the Cache API honours.
  app.use(async (c, next) => {
    await next();
    const ttl = routeOf(c.req.path)?.ttl;
    if (ttl === undefined || c.res.status !== 200) return;
    const cc = c.res.headers.get("cache-control") ?? "";
    if (/(^|,)\s*(private|no-store)\b/i.test(cc)) return;
    const rest = cc.split(",").map((d) => d.trim()).filter((d) => d && !/^s-maxage\s*=/i.test(d));
    c.res.headers.set("cache-control", [...rest, `s-maxage=${ttl}`].join(", "));
  });

  // Upstream: stream the request to the origin and its answer back.
  app.all("*", async (c) => {
    const url = new URL(c.req.url);
    startTime(c, "origin");
    const res = await proxy(`${origin}${url.pathname}${url.search}`, {
      raw: c.req.raw,
      headers: {
        ...c.req.header(),
        "x-forwarded-for": clientKey(c),
        "x-forwarded-host": url.host,
        "x-forwarded-proto": url.protocol.slice(0, -1),
        "x-request-id": c.get("requestId"),
        "x-middleware-subrequest": undefined,
      },
    });
    endTime(c, "origin");
    if (policy.cors?.strip_origin_headers) for (const name of CORS_HEADERS) res.headers.delete(name);
    return res;
  });

  return app;
}
