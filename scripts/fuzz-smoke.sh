#!/usr/bin/env bash
# Runs every fuzz target for a few seconds (cargo-fuzz, nightly toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-15}"
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "the nightly toolchain is required for cargo fuzz (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi
targets=$(cd fuzz && cargo +nightly fuzz list)
for t in $targets; do
    echo "-- fuzz target $t (${secs}s)"
    mkdir -p "fuzz/corpus/$t"
    (cd fuzz && cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | tail -n 3)
done
