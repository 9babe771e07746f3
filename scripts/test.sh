#!/usr/bin/env bash
# The whole test suite: unit, property, vector and integration tests of every
# crate, the demo end to end, and a short run of every fuzz target.
# Installs what it needs (cargo-fuzz) itself; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-15}"

echo "== system packages (libcoap, tcpdump, iperf3) =="
scripts/install-deps.sh

echo "== PostgreSQL for the ace-store tests (loopback, throwaway cluster) =="
export ACE_TEST_PG_URL="$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop >/dev/null 2>&1 || true' EXIT

echo "== cargo test (workspace, all targets) =="
cargo test --workspace --all-targets --locked

echo "== doc tests =="
cargo test --workspace --doc --locked

echo "== demo (release build, as a user runs it) =="
cargo run --release --locked -- demo --json > target/demo.json
python3 - <<'PY'
import json, sys
r = json.load(open("target/demo.json"))
bad = [(m, s["name"]) for m, mr in r["methods"].items() for s in mr["steps"] if not s["ok"]]
print("demo steps:", sum(len(mr["steps"]) for mr in r["methods"].values()), "failed:", bad)
want = {"dp", "edhoc", "ikev2-psk", "ikev2-rpk"}
print("methods:", sorted(r["methods"]))
sys.exit(0 if r["ok"] and not bad and set(r["methods"]) == want else 1)
PY

echo "== transparent mode: unmodified libcoap through two gateways in network namespaces =="
for mode in transport tunnel esp-raw ah; do
    scripts/system-transparent.sh "$mode"
done

echo "== transparent mode fed by access tokens: rs/client [tun], unmodified libcoap =="
for mode in transport tunnel; do
    scripts/system-token-tun.sh "$mode"
done

echo "== IKEv2 interop with strongSwan charon: gateway [ike], both directions, PSK and raw keys =="
scripts/interop-strongswan.sh

echo "== IKEv2 system tests: 20 handshakes and rekeys through a 20 %-loss reordering relay; a 100 000-request IKE_SA_INIT flood with a legitimate client during it =="
scripts/system-ike-lossy.sh
scripts/system-ike-flood.sh

echo "== fuzz smoke (${FUZZ_SECONDS}s per target) =="
scripts/fuzz-smoke.sh "$FUZZ_SECONDS"
echo "all test stages passed"
