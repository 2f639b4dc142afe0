#!/usr/bin/env bash
# Builds the statically linked tenant-bot binary that goes into the FROM scratch image
# (glibc static, rustls, bundled SQLite), and the small isolation probe the provisioner's
# tests run inside tenant containers. Output:
#   target/static/x86_64-unknown-linux-gnu/release/tenant-bot
#   target/static/isolation-probe
# A separate target directory keeps these builds from fighting with normal ones.
# `madar image build` (or the provisioner, when the image is missing) packs the binary into
# the image madar/tenant-bot:<version>.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
out=target/static
export RUSTFLAGS="-C target-feature=+crt-static"
cargo build --release --locked -p tenant-bot --bin tenant-bot --target "$target" \
    --target-dir "$out"

binary="$out/$target/release/tenant-bot"
if file "$binary" 2>/dev/null | grep -q "dynamically linked"; then
    echo "error: $binary is dynamically linked" >&2
    exit 1
fi

rustc --edition 2021 -O -C target-feature=+crt-static \
    docker/probe/isolation_probe.rs -o "$out/isolation-probe"

echo "tenant-bot: $binary ($(du -h "$binary" | cut -f1))"
echo "isolation probe: $out/isolation-probe"
