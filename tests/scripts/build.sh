#!/usr/bin/env bash
# Builds the worker (release wasm + JS shim) into edge/build/ with the locally installed tools:
# worker-build would otherwise download wasm-bindgen, esbuild and wasm-opt from GitHub.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export ESBUILD_BIN="$root/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
# Panic locations name their files: crates.io sources by their path in the registry, 60 bytes of
# prefix each. Mapped away, they read `serde_json-1.0.154/src/de.rs`.
flags=()
for src in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
  flags+=("--remap-path-prefix=$src=")
done
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${flags[*]}"
cd "$root/edge"
worker-build --profile wasm-release "$@"
node "$root/edge/scripts/lean-entry.mjs" "$root/edge/build/index.js"
wasm="$root/edge/build/index_bg.wasm"
# worker-build makes wasm-opt keep the names section (a fifth of the module); nothing at run time
# reads it, so it goes. Same feature set worker-build enables. A second -Oz, run until it stops
# shrinking, finds what names kept alive: 3 KB gzip for 6 s of build. --gufa first (whole-module
# flow analysis: constants that reach a call or a field, calls that cannot happen) takes 270 B
# gzip more for 4 s.
# --low-memory-unused lets wasm-opt fold `p + C` into a load's offset (1.8 KB gzip). It holds for
# Rust's wasm32 layout: the 1 MB stack comes first and grows down to address 0, data starts at
# 1 MB, so the low 1 KB is only reached by a stack about to overflow, and no address wraps.
# The `producers` and `target_features` sections are for tools, not the runtime (-233 B gzip).
# Dependencies export Rust structs to JS as classes: worker-sys' ContainerStartupOptions,
# MinifyConfig and R2Range (and wasm-streams' stream classes, before the edge stopped linking the
# `worker` crate that brought them; see edge/src/runtime/instance.rs). None has a constructor; the
# glue calls their exports only on instances Rust hands to JS, through the class's `__wrap`,
# which wasm-bindgen writes only when some Rust code does so. None does, so those exports, and
# the code only they reach, go (3.6 KB gzip). The build stops if a `__wrap` appears: an
# export may be live then.
if grep -q '__wrap' "$root/edge/build/index.js"; then
  echo "build: edge/build/index.js wraps a Rust object now (__wrap): check that its class is not among those whose exports wasm-opt removes (tests/scripts/build.sh)" >&2
  exit 1
fi
features=(mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)
"$WASM_OPT_BIN" --remove-exports --pass-arg='remove-exports@*containerstartupoptions*,*minifyconfig*,*r2range*' --gufa -Oz --converge --low-memory-unused --strip-debug --strip-producers --strip-target-features "${features[@]/#/--enable-}" "$wasm" -o "$wasm"
# Import names: `__wbg_<name>_<hash>`, 7.7 KB of the module that gzip cannot squeeze, become
# letters here and in the glue (-3.4 KB gzip of wasm, -2.2 KB of JS).
node "$root/edge/scripts/short-imports.mjs" "$root/edge/build/index.js" "$wasm"
printf 'build: %s: %s bytes, %s bytes gzip\n' "edge/build/index_bg.wasm" "$(stat -c %s "$wasm")" "$(gzip -9c "$wasm" | wc -c)"
