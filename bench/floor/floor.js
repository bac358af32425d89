// The runtime's floor for `make bench-peers`: the least a worker in workerd can do to give each
// row its answer, with no policy, no metrics and no checks. Its figures are what the runtime
// itself costs per request (and where its own tail lies) at the row's rate; both workers pay them
// and everything they do comes on top.
//
// Rows (tests/src/peers/rows.rs): a proxied miss (GET /api/health, passed to the origin as is),
// a cache hit (GET /static/app.css, fetched once and then served from a module variable), a
// preflight (OPTIONS, 204 with fixed CORS headers) and a 429 (GET /api/health from the limited
// client, told apart by `CF-Connecting-IP`).
const LIMITED_CLIENT = "198.51.100.7";
const PREFLIGHT = {
  "access-control-allow-origin": "https://wyn.app",
  "access-control-allow-methods": "GET, POST",
  "access-control-allow-headers": "content-type",
  "access-control-max-age": "600",
  vary: "origin",
};

let stored;

async function store(url) {
  const response = await fetch(url);
  stored = { body: await response.arrayBuffer(), type: response.headers.get("content-type") ?? "" };
  return hit();
}

function hit() {
  return new Response(stored.body, { headers: { "content-type": stored.type } });
}

// Not `async`: a row answered on the spot returns its Response, not a promise, as ours does.
export default {
  fetch(request, env) {
    if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: PREFLIGHT });
    const path = request.url.slice(request.url.indexOf("/", 8));
    if (path === "/static/app.css") return stored ? hit() : store(env.ORIGIN_URL + path);
    if (path === "/api/health") {
      if (request.headers.get("cf-connecting-ip") === LIMITED_CLIENT) {
        return new Response(null, { status: 429 });
      }
      return fetch(env.ORIGIN_URL + path);
    }
    return new Response(null, { status: 404 });
  },
};
