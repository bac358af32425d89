#!/usr/bin/env bash
# `make dev`: the demo origin on 127.0.0.1:$ORIGIN_PORT (unless ORIGIN_URL names another origin)
# and the edge under `wrangler dev` on 127.0.0.1:$EDGE_PORT, in front of it. Ctrl-C stops both.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
EDGE_PORT=${EDGE_PORT:-8787}
ORIGIN_PORT=${ORIGIN_PORT:-3000}

if [ ! -f .dev.vars ]; then
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf 'EDGE_ADMIN_TOKEN=%s\n' "$token" > .dev.vars
  chmod 600 .dev.vars
  echo "dev: wrote .dev.vars with a new EDGE_ADMIN_TOKEN (git-ignored)"
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

if [ -z "${ORIGIN_URL:-}" ]; then
  cargo build --quiet -p wyn-edge-tests --bin demo-origin
  setsid target/debug/demo-origin --listen "127.0.0.1:$ORIGIN_PORT" &
  pids+=($!)
  ORIGIN_URL="http://127.0.0.1:$ORIGIN_PORT"
  for _ in $(seq 100); do curl -fsS "$ORIGIN_URL/api/health" >/dev/null 2>&1 && break; sleep 0.1; done
fi

WRANGLER_SEND_METRICS=false setsid node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "$EDGE_PORT" \
  --var "ORIGIN_URL:$ORIGIN_URL" --log-level "${WRANGLER_LOG:-info}" &
pids+=($!)
for _ in $(seq 300); do curl -sS "http://127.0.0.1:$EDGE_PORT/__edge/health" >/dev/null 2>&1 && break; sleep 0.1; done

edge="http://127.0.0.1:$EDGE_PORT"
cat <<TXT

wyn-edge is up: $edge -> $ORIGIN_URL   (Ctrl-C stops everything)
  curl -i $edge/__edge/health
  curl -i $edge/api/venues
  curl -N -X POST '$edge/api/chat?events=5&pause_ms=500'
  curl -s $edge/api/echo -H 'X-Forwarded-For: 6.6.6.6' | head -c 600
  curl -i $edge/__edge/metrics -H "Authorization: Bearer \$(cut -d= -f2 .dev.vars)"
  cargo run -q -p wynctl -- health --url $edge
TXT
wait -n
