#!/usr/bin/env bash
# System test of the IKEv2 responder under an IKE_SA_INIT flood: `ace-ipsec
# gateway` with [ike] as responder in one network namespace; in the other,
# on the same veth link, scripts/ike-flood.py (IKE bytes built from RFC 7296
# by hand, not by our code) and a legitimate `ace-ipsec gateway` [ike]
# initiator on an address of its own.
#
#   responder 10.77.0.1 (inner 10.76.2.1, TUN) ──veth── 10.77.0.2 initiator (inner 10.76.1.1, TUN)
#                                                      10.77.0.10-13 ike-flood.py
#
# 1. The initiator sets up an IKE SA and a Child SA, ping passes, it
#    deletes them: the set-up works before the flood.
# 2. The flood: $COUNT (100 000) IKE_SA_INIT requests from 2 000 UDP ports
#    over 4 source addresses, paced at $RATE/s (8 s), to the responder's port 500.
#    While it runs, the initiator is told to `initiate`.
# 3. Asserted: the flood sent all its requests; the responder answered it
#    with COOKIEs (the flooder counted them, the responder's `status`
#    counters say so); the first requests (below the cookie threshold) got
#    full answers, so the flood's proposal is one the responder accepts;
#    cookies returned by the flooder as RFC 7296 §2.6 says got full
#    answers; the legitimate initiator was sent a COOKIE (capture) and
#    still completed IKE_SA_INIT and IKE_AUTH while the flood was running,
#    and ping passes through its Child SA; the responder's half-open IKE
#    SAs never exceeded the cookie threshold (64, the ikev2 default) plus
#    the returned cookies plus the legitimate client, and drained to 0
#    after the half-open timeout (10 s); its resident memory grew by less
#    than $RSS_BOUND_MIB MiB (VmRSS sampled every 50 ms, and VmHWM).
#
#   scripts/system-ike-flood.sh [OUTDIR]        # root; about 30 s
#
# Env: COUNT (100000), SOCKETS (2000), RATE (12500 requests/s; 0 = as fast
# as Python sends), ECHO (32 cookies returned), RSS_BOUND_MIB (16),
# KEEP=1 keeps the work dir. Needs root, iproute2, python3, tcpdump
# (installed if missing); builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, TUN)" >&2; exit 2; }
. scripts/gateway-ike-lib.sh
gil_need ip:iproute2 ping:iputils-ping tcpdump:tcpdump python3:python3

COUNT=${COUNT:-100000}
SOCKETS=${SOCKETS:-2000}
RATE=${RATE:-12500}
ECHO=${ECHO:-32}
RSS_BOUND_MIB=${RSS_BOUND_MIB:-16}
COOKIE_THRESHOLD=64     # ikev2::Config::default().cookie_threshold (not settable in [ike])
HALF_OPEN_TIMEOUT=10    # ikev2::Config::default().half_open_timeout
DEADLINE=$((SECONDS + ${TIMEOUT:-180}))

cargo build --release --locked -p ace-ipsec > /dev/null 2>&1 || cargo build --release --locked -p ace-ipsec
ACE=$(readlink -f "${CARGO_TARGET_DIR:-target}/release/ace-ipsec")
FLOOD=$(readlink -f scripts/ike-flood.py)

if [ -n "${1:-}" ]; then W=$(readlink -f "$1"); rm -rf "$W"; mkdir -p "$W"; KEEP=1; else W=$(mktemp -d /tmp/ike-flood.XXXXXX); fi
P=ikf$$
NS_R=$P-r NS_C=$P-c
R_OUT=10.77.0.1 C_OUT=10.77.0.2
FLOOD_SRC=(10.77.0.10 10.77.0.11 10.77.0.12 10.77.0.13)
R_IN=10.76.2.1 C_IN=10.76.1.1
TUN=acef$$
PSK=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
PIDS=()

cleanup() {
    local rc=$?
    touch "$W/sampler.stop" 2> /dev/null || true
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2> /dev/null || true
    done
    for ns in "$NS_R" "$NS_C"; do ip netns del "$ns" 2> /dev/null || true; done
    if [ "${KEEP:-0}" = 1 ] || [ $rc != 0 ]; then echo "logs kept in $W"; else rm -rf "$W"; fi
    exit $rc
}
trap cleanup EXIT

STEP=""
fail() {
    echo "FAIL [$STEP]: $*" >&2
    for s in r c; do
        echo "--- last lines of the $( [ $s = r ] && echo responder || echo initiator )" >&2
        sed 's/\x1b\[[0-9;]*m//g' "$W/$s.log" | grep -E ' WARN | ERROR ' | grep -v spd-discard | tail -8 | cut -c1-300 >&2 || true
        sed 's/\x1b\[[0-9;]*m//g' "$W/$s.log" | tail -8 | cut -c1-400 >&2 || true
    done
    [ -s "$W/flood.json" ] && { echo "--- flooder" >&2; cat "$W/flood.json" >&2; }
    exit 1
}

# --- namespaces on one veth pair.
for ns in "$NS_R" "$NS_C"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    for k in all default; do ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$k.rp_filter=0"; done
done
ip link add "$P-a" type veth peer name "$P-b"
ip link set "$P-a" netns "$NS_R"; ip link set "$P-b" netns "$NS_C"
ip -n "$NS_R" addr add "$R_OUT/24" dev "$P-a"; ip -n "$NS_R" link set "$P-a" up
ip -n "$NS_C" addr add "$C_OUT/24" dev "$P-b"
for a in "${FLOOD_SRC[@]}"; do ip -n "$NS_C" addr add "$a/24" dev "$P-b"; done
ip -n "$NS_C" link set "$P-b" up
ip -n "$NS_R" addr add "$R_IN/32" dev lo
ip -n "$NS_C" addr add "$C_IN/32" dev lo

# --- the gateways: the responder's IKE proposals are the endpoint's
# defaults (the flood offers AES-GCM-16/256, one of them).
cat > "$W/r.toml" <<EOF
tun = "$TUN"
udp_listen = "$R_OUT:4500"
[ike]
role = "responder"
listen = "$R_OUT:500"
local_id = "@rs.example"
remote_id = "keyid:kid-01"
psk = "$PSK"
local_ts = ["$R_IN/32"]
remote_ts = ["$C_IN/32"]
control = "$W/r.ctl"
EOF
cat > "$W/c.toml" <<EOF
tun = "$TUN"
udp_listen = "$C_OUT:4500"
[ike]
role = "initiator"
listen = "$C_OUT:500"
peer = "$R_OUT:500"
local_id = "keyid:kid-01"
remote_id = "@rs.example"
psk = "$PSK"
local_ts = ["$C_IN/32"]
remote_ts = ["$R_IN/32"]
proposals = ["aes128gcm16-prfsha256-x25519"]
esp_proposals = ["aes128gcm16"]
control = "$W/c.ctl"
EOF
rss_kib() { awk "/^$2:/{print \$2}" "/proc/$1/status"; }
ping_ok() { ip netns exec "$NS_C" ping -c 3 -i 0.2 -W 2 -I "$C_IN" "$R_IN" > /dev/null 2>&1; }
check_spis() {
    local c_in c_out r_in r_out
    c_in=$(child_field c spi_in); c_out=$(child_field c spi_out)
    r_in=$(child_field r spi_in); r_out=$(child_field r spi_out)
    [ -n "$c_in" ] && [ "$c_in" = "$r_out" ] && [ "$c_out" = "$r_in" ] \
        || fail "SPIs differ: initiator in=$c_in out=$c_out, responder in=$r_in out=$r_out"
    SPIS="$c_in/$c_out"
}

STEP="before the flood"
echo "== set-up without a flood"
start_gw r "$NS_R" "$C_IN" "$R_IN"
R_PID=$LAST_PID
[ "$(cat "/proc/$R_PID/comm")" = ace-ipsec ] || fail "pid $R_PID is not the responder"
start_gw c "$NS_C" "$R_IN" "$C_IN"
wait_count c 'ike: Child SA up' 1 10 || fail "initiator: no Child SA"
wait_count r 'ike: Child SA up' 1 10 || fail "responder: no Child SA"
check_spis
ping_ok || fail "no ping through the tunnel"
ok "IKE SA + Child SA up ($SPIS), ping through the tunnel"
ctl c delete
wait_count r 'ike: IKE SA down' 1 10 || fail "responder: IKE SA not down"
wait_count c 'ike: pair removed' 1 10 || fail "initiator: pair not removed"
ok "deleted; the client waits for the flood"
sleep 0.5
RSS0=$(rss_kib "$R_PID" VmRSS); HWM0=$(rss_kib "$R_PID" VmHWM)

# --- the flood.
STEP="flood"
echo "== flood: $COUNT IKE_SA_INIT requests from $SOCKETS ports on ${#FLOOD_SRC[@]} addresses, rate $( [ "$RATE" = 0 ] && echo unpaced || echo "${RATE}/s" )"
# The legitimate client's IKE (port 500 and the NAT-T port) on the responder's side.
ip netns exec "$NS_R" tcpdump -i "$P-a" -U -w "$W/client.pcap" -s 512 --immediate-mode \
    "udp and host $C_OUT" > "$W/tcpdump.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$W/tcpdump.log" 2> /dev/null && break; sleep 0.05; done
grep -q "listening on" "$W/tcpdump.log" || fail "tcpdump did not start"
# Memory sampler: the responder's VmRSS every 50 ms.
( while [ ! -e "$W/sampler.stop" ]; do
      awk '/^VmRSS:/{print $2}' "/proc/$R_PID/status" 2> /dev/null || break
      sleep 0.05
  done > "$W/rss.txt" ) &
PIDS+=($!)
src_args=(); for a in "${FLOOD_SRC[@]}"; do src_args+=(--src "$a"); done
T_FLOOD=$(now_ms)
ip netns exec "$NS_C" python3 "$FLOOD" --target "$R_OUT:500" --count "$COUNT" --sockets "$SOCKETS" \
    "${src_args[@]}" --rate "$RATE" --echo-cookies "$ECHO" --json "$W/flood.json" \
    --started "$W/flood.started" --sent "$W/flood.sent" > "$W/flood.log" 2>&1 &
FLOOD_PID=$!
PIDS+=($FLOOD_PID)
for _ in $(seq 200); do [ -e "$W/flood.started" ] && break; sleep 0.05; done
[ -e "$W/flood.started" ] || fail "the flooder did not start: $(tail -3 "$W/flood.log")"
sleep 1   # well into the flood: the half-open table is at the threshold
[ ! -e "$W/flood.sent" ] || fail "the flood was over before the client started (raise COUNT or lower RATE)"
MID=$(status_of r)
[ "$(counter "$MID" cookies_sent)" -gt 0 ] || fail "no COOKIE sent 1 s into the flood: ${MID#*ike: status}"
T_INIT=$(now_ms)
ctl c initiate
wait_count c 'ike: Child SA up' 2 30 || fail "the legitimate client did not complete during the flood"
wait_count r 'ike: Child SA up' 2 5 || fail "responder: no Child SA for the legitimate client"
T_DONE=$(now_ms)
DURING=yes; [ ! -e "$W/flood.sent" ] || DURING=no
check_spis
ok "the legitimate client completed in $((T_DONE - T_INIT)) ms, $((T_INIT - T_FLOOD)) ms into the flood (flood still sending: $DURING), SPIs $SPIS"
[ "$DURING" = yes ] || fail "the flood had ended before the client completed"
ping_ok || fail "no ping through the legitimate client's tunnel during the flood"
ok "ping through its tunnel"
wait "$FLOOD_PID" || fail "the flooder failed: $(tail -5 "$W/flood.log")"
T_END=$(now_ms)
touch "$W/sampler.stop"
AFTER_FLOOD=$(status_of r)
HWM1=$(rss_kib "$R_PID" VmHWM)
RSS_PEAK=$(sort -n "$W/rss.txt" | tail -1)
SAMPLES=$(wc -l < "$W/rss.txt")

# --- the half-open SAs expire.
STEP="after the flood"
# (A failed half-open SA stays a few seconds longer, dead, to absorb
# retransmissions, and the IKE SA the client deleted before the flood stays
# dead for the peer's whole retransmission span, 64.5 s with our timers, to
# answer a retransmitted DELETE; then only the client's IKE SA is left.)
T_WAIT=$(now_ms)
WAIT_S=$((HALF_OPEN_TIMEOUT * 2 + 10)); [ "$WAIT_S" -ge 80 ] || WAIT_S=80
for _ in $(seq "$WAIT_S"); do
    S=$(status_of r)
    [ "$(field "$S" half_open)" = 0 ] && [ "$(field "$S" sa_table)" = 1 ] && break
    sleep 1
done
[ "$(field "$S" half_open)" = 0 ] || fail "half-open SAs left $WAIT_S s after the flood: ${S#*ike: status}"
RSS2=$(rss_kib "$R_PID" VmRSS)
[ "$(field "$S" ike_sas)" = 1 ] && [ "$(field "$S" sa_table)" = 1 ] \
    || fail "not exactly the client's IKE SA left: ${S#*ike: status}"
echo "   the responder's SA table back to the client's one IKE SA $(( ($(now_ms) - T_WAIT) / 1000 )) s after the flood"
ping_ok || fail "no ping through the tunnel after the flood"
ok "half-open table empty again, the client's IKE SA alone left, ping passes"

# --- figures and assertions.
STEP="figures"
read -r F_SENT F_ERR F_PORTS F_COOKIE F_FULL F_NOPROP F_OTHER F_ECHOED F_ECHOFULL F_RATE F_SECS < <(python3 - "$W/flood.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
k = r["by_kind"]
other = sum(v for n, v in k.items() if n not in ("cookie", "full", "no_proposal_chosen") and not n.startswith("after_cookie_full"))
print(r["requests_sent"], r["send_errors"], r["source_ports"], k.get("cookie", 0), k.get("full", 0),
      k.get("no_proposal_chosen", 0), other, r["cookies_echoed"], r["full_after_cookie"],
      r["send_rate"], r["send_seconds"])
PY
)
R_INIT=$(counter "$AFTER_FLOOD" init_requests)
R_COOKIES=$(counter "$AFTER_FLOOD" cookies_sent)
R_RATE_LIM=$(counter "$AFTER_FLOOD" rate_limited)
R_FULL=$(counter "$AFTER_FLOOD" half_open_full)
R_BADCK=$(counter "$AFTER_FLOOD" bad_cookie)
HO_MAX=$(field "$AFTER_FLOOD" half_open_max)
HO_BOUND=$((COOKIE_THRESHOLD + ECHO + 1))
UDP_DROPS=$(ip netns exec "$NS_R" awk '/^Udp:/{ if (!h) { for (i = 1; i <= NF; i++) n[$i] = i; h = 1 } else print $n["RcvbufErrors"] }' /proc/net/snmp)
# The legitimate client's IKE_SA_INIT in the capture: requests sent, and
# whether the responder answered one with a COOKIE.
read -r CL_INITS CL_COOKIES < <(python3 - "$W/client.pcap" "$R_OUT" <<'PY'
import struct, sys, socket
data = open(sys.argv[1], "rb").read()
resp = socket.inet_aton(sys.argv[2])
le = data[:4] == b"\xd4\xc3\xb2\xa1"
e = "<" if le else ">"
off, inits, cookies = 24, 0, 0
while off + 16 <= len(data):
    _, _, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
    pkt = data[off + 16: off + 16 + incl]
    off += 16 + incl
    if len(pkt) < 14 + 20 + 8 or pkt[12:14] != b"\x08\x00":
        continue
    ip = pkt[14:]
    ihl = (ip[0] & 15) * 4
    if ip[9] != 17:
        continue
    udp = ip[ihl:]
    sport, dport = struct.unpack(">HH", udp[:4])
    ike = udp[8:]
    if 4500 in (sport, dport):
        if ike[:4] != b"\0\0\0\0":
            continue
        ike = ike[4:]
    if len(ike) < 28 or ike[18] != 34:   # IKE_SA_INIT
        continue
    if ip[12:16] != resp and not ike[19] & 0x20:
        inits += 1
    elif ip[12:16] == resp and ike[16] == 41 and len(ike) >= 36 and struct.unpack(">H", ike[34:36])[0] == 16390:
        cookies += 1
print(inits, cookies)
PY
)
echo "   flood: $F_SENT requests sent ($F_ERR send errors) from $F_PORTS source ports in ${F_SECS}s (${F_RATE}/s)"
echo "          answers seen by the flooder: $F_COOKIE COOKIE, $F_FULL full IKE_SA_INIT responses, $F_NOPROP NO_PROPOSAL_CHOSEN, $F_OTHER other"
echo "          $F_ECHOED cookies returned, $F_ECHOFULL of them answered with a full response"
echo "   responder: $R_INIT IKE_SA_INIT requests counted, $R_COOKIES COOKIEs sent, $R_RATE_LIM rate-limited, $R_BADCK bad cookies, $R_FULL refused (half-open table full);"
echo "          UDP receive-buffer drops in its namespace: $UDP_DROPS"
echo "   half-open IKE SAs: at most $HO_MAX (bound: cookie threshold $COOKIE_THRESHOLD + $ECHO returned cookies + 1 client = $HO_BOUND); 0 again after the ${HALF_OPEN_TIMEOUT} s timeout"
echo "   responder memory: VmRSS before $((RSS0 / 1024)) MiB ($RSS0 KiB), peak during the flood $((RSS_PEAK / 1024)) MiB ($RSS_PEAK KiB, $SAMPLES samples), after $((RSS2 / 1024)) MiB ($RSS2 KiB); VmHWM $HWM0 → $HWM1 KiB"
echo "   legitimate client: IKE_SA_INIT sent $CL_INITS times, $CL_COOKIES COOKIE answer(s); both SAs up in $((T_DONE - T_INIT)) ms"

[ "$F_SENT" = "$COUNT" ] || fail "the flooder sent $F_SENT of $COUNT requests"
[ "$F_PORTS" -ge "$SOCKETS" ] || fail "only $F_PORTS source ports"
[ "$R_INIT" -ge $((COUNT * 8 / 10)) ] || fail "the responder counted only $R_INIT IKE_SA_INIT requests of $COUNT"
[ "$F_COOKIE" -ge $((COUNT * 8 / 10)) ] || fail "only $F_COOKIE COOKIE answers for $COUNT requests"
[ "$R_COOKIES" -ge "$F_COOKIE" ] || fail "the responder counted $R_COOKIES COOKIEs, the flooder saw $F_COOKIE"
# Full answers: up to the threshold, then cookies only, until half-open SAs
# expire and make room for another threshold's worth.
FULL_BOUND=$(python3 -c "import math; print($COOKIE_THRESHOLD * (1 + math.floor($F_SECS / $HALF_OPEN_TIMEOUT)))")
[ "$F_FULL" -ge 1 ] && [ "$F_FULL" -le "$FULL_BOUND" ] \
    || fail "$F_FULL full answers to the flood (want 1..$FULL_BOUND: the threshold, then cookies)"
[ "$F_NOPROP" = 0 ] || fail "the responder refused the flood's proposal"
[ "$F_ECHOED" = "$ECHO" ] && [ "$F_ECHOFULL" = "$ECHO" ] || fail "$F_ECHOFULL of $F_ECHOED returned cookies answered (want $ECHO)"
[ "$R_BADCK" = 0 ] || fail "the responder rejected $R_BADCK cookies"
[ "$HO_MAX" -ge "$COOKIE_THRESHOLD" ] || fail "half-open never reached the cookie threshold ($HO_MAX)"
[ "$HO_MAX" -le "$HO_BOUND" ] || fail "half-open IKE SAs reached $HO_MAX > $HO_BOUND"
[ "$R_FULL" = 0 ] || fail "the half-open table was full $R_FULL times"
[ "$CL_COOKIES" -ge 1 ] && [ "$CL_INITS" -ge 2 ] \
    || fail "the legitimate client was not asked for a cookie (IKE_SA_INIT x$CL_INITS, COOKIE x$CL_COOKIES)"
[ "$SAMPLES" -ge 10 ] || fail "only $SAMPLES memory samples"
# The peak: the highest sample, or VmHWM if it rose during the flood.
PEAK=$RSS_PEAK; [ "$HWM1" -gt "$HWM0" ] && [ "$HWM1" -gt "$PEAK" ] && PEAK=$HWM1
GROWTH=$((PEAK - RSS0))
[ "$GROWTH" -lt $((RSS_BOUND_MIB * 1024)) ] || fail "the responder's memory grew by $GROWTH KiB (bound $RSS_BOUND_MIB MiB)"
[ "$(counter "$AFTER_FLOOD" stuck_timers)" = 0 ] || fail "stuck timers"
ok "memory growth $GROWTH KiB (< $RSS_BOUND_MIB MiB)"
echo "PASS: $F_SENT IKE_SA_INIT requests, $F_COOKIE COOKIEs, half-open max $HO_MAX, RSS +$GROWTH KiB, client up in $((T_DONE - T_INIT)) ms during the flood (${SECONDS}s)"
