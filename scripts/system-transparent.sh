#!/usr/bin/env bash
# System test of the transparent mode: two hosts in network namespaces on a
# veth pair, each running `ace-ipsec gateway` on a TUN device; an unmodified
# libcoap coap-client on host A GETs a resource from an unmodified
# coap-server on host B. A capture on B's veth checks what crossed the wire.
#
#   scripts/system-transparent.sh transport   ESP-in-UDP, transport mode
#   scripts/system-transparent.sh tunnel      ESP-in-UDP, tunnel mode, ESN
#   scripts/system-transparent.sh esp-raw     ESP over raw IP (protocol 50), transport mode
#   scripts/system-transparent.sh ah          AH over raw IP, transport mode
#
# Needs root (namespaces, TUN, raw sockets) and scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:?transport | tunnel | esp-raw | ah}"
BIN="${BIN:-target/release/ace-ipsec}"
[ -x "$BIN" ] || { echo "build $BIN first (cargo build --release)" >&2; exit 2; }
COAP_CLIENT=$(command -v coap-client-notls || command -v coap-client)
COAP_SERVER=$(command -v coap-server-notls || command -v coap-server)

source scripts/netns-lib.sh
WORK=$(mktemp -d)
cleanup() { netns_down; rm -rf "$WORK"; }
netns_up
trap cleanup EXIT

SEED=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# One gateway configuration per host. Transport and AH protect CoAP between
# the veth addresses; tunnel carries 10.1.0.1 <-> 10.2.0.1 between them.
gw_conf() { # host role local_ip peer_ip
    local host=$1 role=$2 me=$3 peer=$4
    {
        echo "tun = \"ace0\""
        echo "udp_listen = \"$me:4500\""
        echo "raw_local = \"$me\""
        echo "[[pair]]"
        echo "name = \"$host\""
        echo "role = \"$role\""
        echo "spi_sa_c = 4097"
        echo "spi_sa_rs = 4098"
        echo "seed = \"$SEED\""
        echo "peer = \"$peer:4500\""
        case "$MODE" in
        transport)
            echo 'protocol = "esp"'; echo 'alg = "AES-CCM-16-64-128"'; echo 'encap = "udp"'; echo 'mode = "transport"'
            echo "[[pair.selector]]"
            echo "local = \"$me/32\""; echo "remote = \"$peer/32\""; echo 'protocol = "udp"'
            if [ "$role" = client ]; then echo 'remote_ports = "5683"'; else echo 'local_ports = "5683"'; fi
            ;;
        tunnel)
            local inner_me inner_peer
            if [ "$role" = client ]; then inner_me=10.1.0.1; inner_peer=10.2.0.1; else inner_me=10.2.0.1; inner_peer=10.1.0.1; fi
            echo 'protocol = "esp"'; echo 'alg = "A128GCM"'; echo 'encap = "udp"'; echo 'mode = "tunnel"'
            echo 'esn = true'; echo 'replay_window = 1024'   # RFC 4304 end to end
            echo "tunnel_local = \"$me\""; echo "tunnel_remote = \"$peer\""
            echo "[[pair.selector]]"
            echo "local = \"$inner_me/32\""; echo "remote = \"$inner_peer/32\""
            ;;
        esp-raw)
            echo 'protocol = "esp"'; echo 'alg = "ChaCha20/Poly1305"'; echo 'encap = "raw"'; echo 'mode = "transport"'
            echo "[[pair.selector]]"
            echo "local = \"$me/32\""; echo "remote = \"$peer/32\""; echo 'protocol = "udp"'
            if [ "$role" = client ]; then echo 'remote_ports = "5683"'; else echo 'local_ports = "5683"'; fi
            ;;
        ah)
            echo 'protocol = "ah"'; echo 'mode = "transport"'
            echo "[[pair.selector]]"
            echo "local = \"$me/32\""; echo "remote = \"$peer/32\""; echo 'protocol = "udp"'
            if [ "$role" = client ]; then echo 'remote_ports = "5683"'; else echo 'local_ports = "5683"'; fi
            ;;
        esac
    } > "$WORK/$host.toml"
}
gw_conf a client "$IP_A" "$IP_B"
gw_conf b server "$IP_B" "$IP_A"

in_a "$BIN" gateway --config "$WORK/a.toml" > "$WORK/gw-a.log" 2>&1 &
in_b "$BIN" gateway --config "$WORK/b.toml" > "$WORK/gw-b.log" 2>&1 &
for ns in "$NS_A" "$NS_B"; do
    for _ in $(seq 50); do ip -n "$ns" link show ace0 >/dev/null 2>&1 && break; sleep 0.1; done
    ip -n "$ns" link show ace0 >/dev/null || { cat "$WORK"/gw-*.log; echo "no TUN device in $ns" >&2; exit 1; }
    ip -n "$ns" link set ace0 up
    for k in all default ace0; do ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$k.rp_filter=0"; done
done

# Routing: which packets the kernel hands to the TUN device.
case "$MODE" in
transport|esp-raw|ah)
    # Only CoAP goes through the gateway; its own ESP/AH to the peer does not.
    ip -n "$NS_A" rule add to "$IP_B" ipproto udp dport 5683 lookup 100 pref 100
    ip -n "$NS_A" route add "$IP_B" dev ace0 src "$IP_A" table 100
    ip -n "$NS_B" rule add to "$IP_A" ipproto udp sport 5683 lookup 100 pref 100
    ip -n "$NS_B" route add "$IP_A" dev ace0 src "$IP_B" table 100
    TARGET="$IP_B"
    ;;
tunnel)
    ip -n "$NS_A" addr add 10.1.0.1/32 dev ace0
    ip -n "$NS_A" route add 10.2.0.1/32 dev ace0 src 10.1.0.1
    ip -n "$NS_B" addr add 10.2.0.1/32 dev ace0
    ip -n "$NS_B" route add 10.1.0.1/32 dev ace0 src 10.2.0.1
    TARGET="10.2.0.1"
    ;;
esac

in_b tcpdump -i "$VETH_B" -U -w "$WORK/cap.pcap" > "$WORK/tcpdump.log" 2>&1 &
TCPDUMP=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$WORK/tcpdump.log" || { cat "$WORK/tcpdump.log"; echo "FAIL: tcpdump did not start" >&2; exit 1; }
in_b "$COAP_SERVER" > "$WORK/server.log" 2>&1 &
sleep 0.5

echo "-- $MODE: coap-client on host A GETs coap://$TARGET/.well-known/core"
if ! in_a timeout 20 "$COAP_CLIENT" -m get "coap://$TARGET/.well-known/core" > "$WORK/client.out" 2>&1; then
    cat "$WORK/client.out" "$WORK"/gw-*.log >&2
    echo "FAIL: coap-client got no answer" >&2
    exit 1
fi
grep -q "Internal Clock" "$WORK/client.out" || { cat "$WORK/client.out"; echo "FAIL: unexpected answer" >&2; exit 1; }
echo "   answer: $(head -c 80 "$WORK/client.out")..."
sleep 0.5
kill "$TCPDUMP" 2>/dev/null || true
wait "$TCPDUMP" 2>/dev/null || true

count() { tcpdump -nn -r "$WORK/cap.pcap" "$1" 2>/dev/null | wc -l; }
plain=$(count "udp port 5683")
case "$MODE" in
esp-raw)
    esp=$(count "ip proto 50")
    echo "   capture on B's veth: $esp raw ESP packets, $plain plain CoAP packets"
    [ "$esp" -ge 2 ] || { echo "FAIL: no ESP on the wire" >&2; exit 1; }
    [ "$plain" -eq 0 ] || { echo "FAIL: plaintext CoAP on the wire" >&2; exit 1; }
    if grep -aq "Internal Clock" "$WORK/cap.pcap"; then echo "FAIL: resource content visible on the wire" >&2; exit 1; fi
    ;;
transport|tunnel)
    esp=$(count "udp port 4500")
    echo "   capture on B's veth: $esp ESP-in-UDP packets, $plain plain CoAP packets"
    [ "$esp" -ge 2 ] || { echo "FAIL: no ESP on the wire" >&2; exit 1; }
    [ "$plain" -eq 0 ] || { echo "FAIL: plaintext CoAP on the wire" >&2; exit 1; }
    if grep -aq "Internal Clock" "$WORK/cap.pcap"; then echo "FAIL: resource content visible on the wire" >&2; exit 1; fi
    ;;
ah)
    ah=$(count "ip proto 51")
    echo "   capture on B's veth: $ah AH packets, $plain unauthenticated CoAP packets"
    [ "$ah" -ge 2 ] || { echo "FAIL: no AH on the wire" >&2; exit 1; }
    [ "$plain" -eq 0 ] || { echo "FAIL: CoAP outside AH on the wire" >&2; exit 1; }
    ;;
esac
echo "PASS: $MODE"
