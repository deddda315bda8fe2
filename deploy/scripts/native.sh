#!/usr/bin/env bash
# Builds the native wire walk (hub/native, Rust) into hub/wire/_native.abi3.so.
# make runs it when the crate changes; hub/wire/native.py says what it does.
# Cargo comes from PATH or rustup's ~/.cargo/bin; on a machine with neither,
# Debian's cargo is installed. Crates come from crates.io at the versions in
# hub/native/Cargo.lock (--locked). The build goes to build/native.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/hub/wire/_native.abi3.so"

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "native: no cargo on PATH or in ~/.cargo/bin; installing Debian's cargo" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq cargo >/dev/null
fi

export CARGO_TARGET_DIR="$root/build/native"
echo "native: building hub/native with $(cargo --version)" >&2
cargo build --release --locked --quiet --manifest-path "$root/hub/native/Cargo.toml"
# Copy, then rename: a running process never sees a half-written library.
cp "$CARGO_TARGET_DIR/release/lib_native.so" "$out.tmp"
mv -f "$out.tmp" "$out"
echo "native: $out" >&2
