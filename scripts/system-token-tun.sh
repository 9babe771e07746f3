#!/usr/bin/env bash
# System test of the transparent mode fed by access tokens: the AS and the
# RS (`ace-ipsec rs` with [tun]) run on host B next to an unmodified libcoap
# coap-server; `ace-ipsec client` with [tun] on host A gets a token, posts
# it and keeps the SA pair; an unmodified coap-client on A then talks to
# coap-server through the token's pair. Captures on B's veth and on B's TUN
# device check what crossed the wire and what reached the server.
#
#   scripts/system-token-tun.sh transport   ESP-in-UDP, transport mode
#   scripts/system-token-tun.sh tunnel      ESP-in-UDP, tunnel mode
#
# Asserts: GET /time (in the token's scope) returns the server's payload;
# GET /example_data gets 4.03 and PUT /time 4.05, from the RS, without
# reaching coap-server; on the veth the resource traffic is only ESP
# (no CoAP on port 5683, no payload in clear; the /authz-info POST is plain
# by design); plain CoAP to port 5683 from A does not reach the server; the
# client renews its token before it expires and the new pair carries on.
#
# Uses the examples (examples/{as,rs,client}-tun.toml) with the mode set and
# a 30 s token lifetime. Needs root and scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:?transport | tunnel}"
case "$MODE" in transport|tunnel) ;; *) echo "mode: transport or tunnel" >&2; exit 2;; esac
BIN="${BIN:-target/release/ace-ipsec}"
[ -x "$BIN" ] || { echo "build $BIN first (cargo build --release)" >&2; exit 2; }
BIN=$(realpath "$BIN")
COAP_CLIENT=$(command -v coap-client-notls || command -v coap-client)
COAP_SERVER=$(command -v coap-server-notls || command -v coap-server)

# Host A: the client; host B: AS, RS and coap-server (the examples' addresses).
NS_A="stt-c$$"
NS_B="stt-rs$$"
IP_A=192.168.77.1
IP_B=192.168.77.2
source scripts/netns-lib.sh
WORK=$(mktemp -d)
cleanup() { netns_down; rm -rf "$WORK"; }
netns_up
trap cleanup EXIT

fail() { echo "FAIL ($MODE): $*" >&2; for f in "$WORK"/*.log "$WORK"/*.out "$WORK"/*.err; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done; exit 1; }
wait_for() { # file pattern seconds
    for _ in $(seq $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
tun_up() { # namespace
    for _ in $(seq 50); do ip -n "$1" link show ace0 >/dev/null 2>&1 && break; sleep 0.1; done
    ip -n "$1" link show ace0 >/dev/null 2>&1 || fail "no TUN device in $1"
    ip -n "$1" link set ace0 up
    for k in all default ace0; do ip netns exec "$1" sysctl -qw "net.ipv4.conf.$k.rp_filter=0"; done
}

for f in as rs client; do cp "examples/$f-tun.toml" "$WORK/"; done
sed -i "s/^mode = \"transport\"/mode = \"$MODE\"/" "$WORK/rs-tun.toml" "$WORK/client-tun.toml"
sed -i 's/^token_lifetime = .*/token_lifetime = 30/' "$WORK/as-tun.toml"
grep -q "^mode = \"$MODE\"" "$WORK/client-tun.toml" || fail "mode not set"

# ---- host B: AS, RS, coap-server
in_b "$BIN" as --config "$WORK/as-tun.toml" > "$WORK/as.log" 2>&1 &
in_b "$BIN" rs --config "$WORK/rs-tun.toml" > "$WORK/rs.log" 2>&1 &
tun_up "$NS_B"
# coap-server's replies (source port 5683) go into the TUN device.
ip -n "$NS_B" rule add pref 100 ipproto udp sport 5683 lookup 100
ip -n "$NS_B" route add default dev ace0 table 100
# Only PROTECT: plain CoAP from the network to port 5683 never reaches the
# server (before the local table, which would deliver it).
ip -n "$NS_B" rule add pref 10 iif "$VETH_B" ipproto udp dport 5683 blackhole
ip -n "$NS_B" rule add pref 20 lookup local
ip -n "$NS_B" rule del pref 0
in_b "$COAP_SERVER" -v 7 -A "$IP_B" > "$WORK/server.log" 2>&1 &
wait_for "$WORK/rs.log" "RS running, transparent mode" 10 || fail "RS did not start"

in_b tcpdump -i "$VETH_B" --immediate-mode -U -w "$WORK/wire.pcap" > "$WORK/tcpdump-wire.log" 2>&1 &
TCPDUMP_WIRE=$!
in_b tcpdump -i ace0 --immediate-mode -U -w "$WORK/tun.pcap" > "$WORK/tcpdump-tun.log" 2>&1 &
TCPDUMP_TUN=$!
wait_for "$WORK/tcpdump-wire.log" "listening on" 10 || fail "tcpdump (veth) did not start"
wait_for "$WORK/tcpdump-tun.log" "listening on" 10 || fail "tcpdump (TUN) did not start"

# ---- host A: the client sets the pair up and keeps it
in_a "$BIN" client --config "$WORK/client-tun.toml" --verbose "coap://$IP_B:5689/time" \
    > "$WORK/client.out" 2> "$WORK/client.err" &
tun_up "$NS_A"
ip -n "$NS_A" rule add pref 100 to "$IP_B" ipproto udp dport 5683 lookup 100
ip -n "$NS_A" route add "$IP_B" dev ace0 src "$IP_A" table 100
wait_for "$WORK/client.out" "SA pair installed" 20 || fail "the client set no SA pair up"
echo "-- $MODE: $(grep -m1 "SA pair installed" "$WORK/client.out")"

coap() { in_a timeout 20 "$COAP_CLIENT" -B 5 "$@" 2>&1 || true; }

echo "-- coap-client GET coap://$IP_B/time (in the token's scope)"
TIME=$(coap -m get "coap://$IP_B/time")
echo "   answer: $TIME"
echo "$TIME" | grep -Eq '^[A-Z][a-z]{2} [ 0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}' || fail "no time from coap-server: $TIME"

echo "-- coap-client GET coap://$IP_B/example_data (resource outside the scope)"
OUT=$(coap -m get "coap://$IP_B/example_data")
echo "   answer: $OUT"
echo "$OUT" | grep -q "4.03" || fail "expected 4.03, got: $OUT"
echo "$OUT" | grep -q "a123456789" && fail "the server's content came back"

echo "-- coap-client PUT coap://$IP_B/time (method outside the scope)"
OUT=$(coap -m put -e 1 "coap://$IP_B/time")
echo "   answer: $OUT"
echo "$OUT" | grep -q "4.05" || fail "expected 4.05, got: $OUT"

sleep 0.5
kill "$TCPDUMP_WIRE" "$TCPDUMP_TUN" 2>/dev/null || true
wait "$TCPDUMP_WIRE" "$TCPDUMP_TUN" 2>/dev/null || true

count() { tcpdump -nn -r "$1" "$2" 2>/dev/null | wc -l; }
plain=$(count "$WORK/wire.pcap" "udp port 5683")
esp=$(count "$WORK/wire.pcap" "udp port 4500")
authz=$(count "$WORK/wire.pcap" "udp port 5689")
echo "   capture on B's veth: $esp ESP-in-UDP packets, $plain CoAP packets on port 5683, $authz on /authz-info's port"
[ "$plain" -eq 0 ] || fail "plaintext CoAP to the protected server on the wire"
[ "$esp" -ge 8 ] || fail "too little ESP on the wire ($esp)"
[ "$authz" -ge 2 ] || fail "the token's plain POST /authz-info is missing from the capture"
TIME_TEXT=$(echo "$TIME" | head -n1)
grep -aqF "$TIME_TEXT" "$WORK/wire.pcap" && fail "the resource's content is visible on the wire"
grep -aq "example_data" "$WORK/wire.pcap" && fail "the request's path is visible on the wire"
grep -aq "does not cover" "$WORK/wire.pcap" && fail "the 4.03/4.05 diagnostic is visible on the wire"

# What the RS's data path delivered: the GET /time, not the refused requests.
# (the CoAP code is the UDP payload's second byte: GET 1, PUT 3)
tun_get=$(count "$WORK/tun.pcap" "udp dst port 5683 and udp[9] = 1")
tun_put=$(count "$WORK/tun.pcap" "udp dst port 5683 and udp[9] = 3")
echo "   capture on B's TUN device: $tun_get GET, $tun_put PUT delivered towards coap-server"
[ "$tun_get" -ge 1 ] || fail "GET /time did not reach the TUN device"
[ "$tun_put" -eq 0 ] || fail "the out-of-scope PUT reached the TUN device"
grep -aq "example_data" "$WORK/tun.pcap" && fail "the out-of-scope GET reached the TUN device"
grep -q "example_data" "$WORK/server.log" && fail "coap-server saw the out-of-scope request"
grep -q "request outside the token's scope answered" "$WORK/rs.log" || fail "the RS logged no scope refusal"
plain_log() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }   # tracing colours its fields
if [ "$MODE" = tunnel ]; then
    plain_log "$WORK/rs.log" | grep -q "moved into the TUN data path.*mode=Tunnel" || fail "the RS's pair is not in tunnel mode"
fi

echo "-- plain CoAP from A to $IP_B:5683, around the TUN device, must not reach the server"
ip -n "$NS_A" rule del pref 100
before=$(grep -c "Uri-Path" "$WORK/server.log" || true)
OUT=$(in_a timeout 10 "$COAP_CLIENT" -B 3 -m get "coap://$IP_B/time" 2>&1 || true)
after=$(grep -c "Uri-Path" "$WORK/server.log" || true)
echo "$OUT" | grep -Eq '[0-9]{2}:[0-9]{2}:[0-9]{2}' && fail "plain CoAP got an answer: $OUT"
[ "$before" -eq "$after" ] || fail "plain CoAP reached coap-server"
ip -n "$NS_A" rule add pref 100 to "$IP_B" ipproto udp dport 5683 lookup 100
echo "   no answer, coap-server saw nothing"

echo "-- the client renews its token (30 s lifetime) and the new pair carries on"
for _ in $(seq 400); do [ "$(grep -c "SA pair installed" "$WORK/client.out")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c "SA pair installed" "$WORK/client.out")" -ge 2 ] || fail "no renewal"
echo "   $(grep "SA pair installed" "$WORK/client.out" | tail -n1)"
TIME=$(coap -m get "coap://$IP_B/time")
echo "$TIME" | grep -Eq '^[A-Z][a-z]{2} [ 0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}' || fail "no time over the renewed pair: $TIME"
echo "   answer: $TIME"
echo "PASS: token-fed transparent mode, $MODE"
