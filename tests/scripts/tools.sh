#!/usr/bin/env bash
# Installs what the build and the tests need, each only when missing or at the wrong version:
# the wasm32 target, worker-build (same version as the `worker` crate), the wasm-bindgen CLI (same
# version as the `wasm-bindgen` crate in Cargo.lock) and the pinned npm tools (wrangler, esbuild,
# binaryen's wasm-opt). Idempotent; takes well under a second when everything is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

locked_version() { # the version of crate $1 in Cargo.lock
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

[ -f Cargo.lock ] || cargo generate-lockfile
worker_version=$(locked_version worker)
bindgen_version=$(locked_version wasm-bindgen)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "tools: adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

install_crate() { # crate version binary
  local have
  have=$("$3" --version 2>/dev/null | awk '{print $NF}' || true)
  [ "$have" = "$2" ] && return 0
  echo "tools: installing $1 $2 (found: ${have:-none}); a few minutes, once"
  # --locked first, for the versions the crate was released with; some of those can be missing
  # from the registry later (yanked), so fall back to a fresh resolution.
  cargo install "$1" --version "$2" --locked --quiet || cargo install "$1" --version "$2" --quiet
}
install_crate worker-build "$worker_version" worker-build
install_crate wasm-bindgen-cli "$bindgen_version" wasm-bindgen

stamp=node_modules/.wyn-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ ! -x node_modules/.bin/wrangler ]; then
  echo "tools: installing the pinned npm tools (npm ci)"
  # The system npm, not node_modules/.bin/npm (first on the Makefile's PATH): http-cache-tests
  # depends on npm 6, which cannot read this lockfile and would leave node_modules empty.
  system_path=$(tr ':' '\n' <<<"$PATH" | grep -v '/node_modules/\.bin/*$' | paste -sd: -)
  PATH="$system_path" npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
