#!/usr/bin/env bash
# Proves the strongSwan interop harness (scripts/strongswan-lib.sh) charon to
# charon: two namespaces on a veth pair, one charon 5.9.8 in each (kernel-
# libipsec: ESP in UDP, tunnel mode, on the TUN device ipsec0).
#
#   a    PSK, IDi ID_KEY_ID, x25519, ESP aes128gcm16: IKE_SA and CHILD_SA up,
#        ping both ways through the tunnel, Child SA rekey from each side,
#        IKE_SA rekey, DPD (empty INFORMATIONAL), DELETE from the initiator
#   b    P-256 raw public keys (RFC 7427 signatures), ecp256, ESP with PFS:
#        same, plus a Child SA deleted and created again, DELETE from the
#        responder
#   b9   P-256 raw public keys with classic ECDSA auth (method 9)
#   psk  wrong PSK: the responder answers AUTHENTICATION_FAILED; a wrong key
#        for the responder: the initiator sends INFORMATIONAL AUTH_FAILED
#   n    a peer with honest NAT-D hashes: charon fakes a NAT, moves to 4500
#   x    mobike = yes (swanctl's default), INVALID_KE_PAYLOAD and the retry
#   ck   COOKIE demanded by the responder and the retry
#   m    IKE and ESP suites kernel-libipsec accepts (expected results below)
#
#   scripts/strongswan-smoke.sh [OUTDIR]
#
# Needs root and scripts/install-deps.sh. With OUTDIR, charon logs, the
# captures (tcpdump on A's veth) and facts.txt (the log lines that
# docs/strongswan-interop.md quotes) stay there. Exit status 0 only if
# every step behaved as expected.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
[ -x /usr/lib/ipsec/charon ] && command -v swanctl > /dev/null && command -v tcpdump > /dev/null \
    || { echo "strongSwan or tcpdump missing: run scripts/install-deps.sh" >&2; exit 2; }
source scripts/strongswan-lib.sh

if [ -n "${1:-}" ]; then rm -rf "$1"; mkdir -p "$1"; sst_init "$(readlink -f "$1")"; else sst_init; fi
trap sst_cleanup EXIT
W=$SST_WORK
FACTS=$W/facts.txt
: > "$FACTS"

NS_A=sst-a$$ NS_B=sst-b$$
OUT_A=10.99.0.1 OUT_B=10.99.0.2         # veth (IKE and ESP-in-UDP)
IN_A=10.98.1.1 IN_B=10.98.2.1           # tunnel addresses (traffic selectors)
KID=6b69642d3031                        # "kid-01": the initiator's ID_KEY_ID

CUR=""   # daemon pair of the running scenario: $CUR-a, $CUR-b
fail() {
    echo "FAIL: $*" >&2
    local n
    for n in "$CUR-a" "$CUR-b"; do
        [ -n "$CUR" ] && [ -f "$W/$n/charon.log" ] || continue
        echo "--- last lines of $n/charon.log" >&2
        grep -E 'IKE\]|ENC\] .*(generating|parsed)|CHD\]|ESP\]|KNL\]' "$W/$n/charon.log" | tail -25 >&2
    done
    exit 1
}
step() { echo "-- $*"; }
ok() { echo "   ok: $*"; }
# fact TITLE DAEMON REGEX [N]: the first N (4) log lines of DAEMON matching
# REGEX to facts.txt, the last -N with a negative N.
fact() {
    local lines n=${4:-4} pick=head
    if [ "$n" -lt 0 ]; then pick=tail; n=$((-n)); fi
    lines=$(grep -E -- "$3" "$W/$2/charon.log" | $pick -"$n" | sed 's/^/    /') || true
    [ -n "$lines" ] || fail "no log line for '$1' in $2 ($3)"
    printf '%s (%s)\n%s\n' "$1" "$2" "$lines" >> "$FACTS"
}

# idx DAEMON: the first hex row of each ID payload body (type, 3 reserved
# bytes, data) that DAEMON logged at ike=3 as "IDx' => N bytes".
idx() {
    awk '/IDx\x27 => / { split($2, t, "["); want = t[1]; next }
         want != "" && $2 ~ "^" want "\\[" && / 0: / { sub(/^.* 0: /, ""); print; want = "" }' "$W/$1/charon.log"
}

sst_ns_add "$NS_A"; sst_ns_add "$NS_B"
sst_veth "$NS_A" "sst-va$$" "$OUT_A/24" "$NS_B" "sst-vb$$" "$OUT_B/24"
sst_addr "$NS_A" "$IN_A/32"; sst_addr "$NS_B" "$IN_B/32"

# start TAG: a fresh daemon pair TAG-a / TAG-b (strongswan.conf lines from
# the arrays CHARON_A / CHARON_B, plugins from PLUGINS_A / PLUGINS_B) and a
# capture on A's veth in $W/TAG.pcap.
CHARON_A=() CHARON_B=()
PLUGINS_A=$SST_PLUGINS PLUGINS_B=$SST_PLUGINS
start() {
    local tag=$1
    [ -z "$CUR" ] || { sst_charon_stop "$CUR-a"; sst_charon_stop "$CUR-b"; sst_stop_pid "$TCPDUMP"; }
    CUR=$tag
    sst_tcpdump "$NS_A" "sst-va$$" "$W/$tag.pcap" || fail "tcpdump"
    TCPDUMP=$SST_LAST_PID
    SST_PLUGINS=$PLUGINS_A sst_charon_start "$tag-a" "$NS_A" "${CHARON_A[@]}" || fail "charon $tag-a"
    SST_PLUGINS=$PLUGINS_B sst_charon_start "$tag-b" "$NS_B" "${CHARON_B[@]}" || fail "charon $tag-b"
    CHARON_A=() CHARON_B=()
    PLUGINS_A=$SST_PLUGINS PLUGINS_B=$SST_PLUGINS
}
# conf TAG [key=value for both sides...]: A initiates to B, inner hosts as TS.
conf_pair() {
    local tag=$1; shift
    sst_conf "$tag-a" local_addrs=$OUT_A remote_addrs=$OUT_B local_ts=$IN_A/32 remote_ts=$IN_B/32 "${ARGS_A[@]}" "$@" || fail "conf $tag-a"
    sst_conf "$tag-b" local_addrs=$OUT_B remote_addrs=$OUT_A local_ts=$IN_B/32 remote_ts=$IN_A/32 "${ARGS_B[@]}" "$@" || fail "conf $tag-b"
    sst_load "$tag-a" || fail "load $tag-a"
    sst_load "$tag-b" || fail "load $tag-b"
}
established() { # TAG: IKE_SA c and CHILD_SA t up on both sides, ESP in UDP, tunnel
    local tag=$1 n
    for n in "$tag-a" "$tag-b"; do
        sst_wait_child "$n" t 5 || fail "$n: no INSTALLED CHILD_SA t"
        [ "$(sst_ike_field "$n" c state)" = ESTABLISHED ] || fail "$n: IKE_SA not ESTABLISHED"
        [ "$(sst_ike_field "$n" c local-port)" = 4500 ] && [ "$(sst_ike_field "$n" c remote-port)" = 4500 ] \
            || fail "$n: IKE_SA not on port 4500"
        [ "$(sst_child_field "$n" t encap)" = yes ] || fail "$n: CHILD_SA not UDP-encapsulated"
        [ "$(sst_child_field "$n" t mode)" = TUNNEL ] || fail "$n: CHILD_SA not in tunnel mode"
    done
    [ "$(sst_child_field "$tag-a" t spi-in)" = "$(sst_child_field "$tag-b" t spi-out)" ] || fail "SPIs do not pair up"
    ok "IKE_SA ESTABLISHED on 4500/4500, CHILD_SA INSTALLED (ESP in UDP, tunnel), SPIs in/out A $(sst_child_field "$tag-a" t spi-in)/$(sst_child_field "$tag-a" t spi-out)"
}
traffic() { # TAG: ping each way through the tunnel, ESP counters move on both sides
    local tag=$1 a0 b0
    a0=$(sst_child_field "$tag-a" t packets-in); b0=$(sst_child_field "$tag-b" t packets-in)
    ip netns exec "$NS_A" ping -q -c 3 -i 0.2 -W 2 -I "$IN_A" "$IN_B" > /dev/null || fail "ping A -> B through the tunnel"
    ip netns exec "$NS_B" ping -q -c 3 -i 0.2 -W 2 -s 1300 -I "$IN_B" "$IN_A" > /dev/null || fail "ping B -> A (1300 bytes) through the tunnel"
    local a1 b1
    a1=$(sst_child_field "$tag-a" t packets-in); b1=$(sst_child_field "$tag-b" t packets-in)
    [ "$((a1 - a0))" -ge 6 ] && [ "$((b1 - b0))" -ge 6 ] || fail "ESP packet counters: A $a0 -> $a1, B $b0 -> $b1"
    ok "ping both ways, ESP packets in: A +$((a1 - a0)), B +$((b1 - b0))"
}
rekey_child() { # TAG SIDE(a|b): the CHILD_SA rekeyed from SIDE, new SPIs on both sides
    local tag=$1 side=$2 oa ob
    oa=$(sst_child_field "$tag-a" t spi-in); ob=$(sst_child_field "$tag-b" t spi-in)
    sst_rekey_child "$tag-$side" t || fail "swanctl --rekey --child on $tag-$side"
    sst_wait_rekeyed "$tag-a" t "$oa" 10 || fail "$tag-a: CHILD_SA not rekeyed (spi-in still $oa)"
    sst_wait_rekeyed "$tag-b" t "$ob" 10 || fail "$tag-b: CHILD_SA not rekeyed (spi-in still $ob)"
    ok "CHILD_SA rekeyed from $side: A spi-in $oa -> $(sst_child_field "$tag-a" t spi-in), B spi-in $ob -> $(sst_child_field "$tag-b" t spi-in)"
}
gone() { # TAG: neither side has an IKE_SA or CHILD_SA left
    sst_wait_ike_gone "$1-a" c 10 || fail "$1-a: IKE_SA still there"
    sst_wait_ike_gone "$1-b" c 10 || fail "$1-b: IKE_SA still there"
    [ "$(sst_child_count "$1-a" t)" = 0 ] && [ "$(sst_child_count "$1-b" t)" = 0 ] || fail "CHILD_SAs left"
}
esp_on_wire() { # TAG: ESP in UDP 4500 -> 4500 both ways in the capture, with the CHILD_SA's SPIs
    local pcap=$W/$1.pcap n_ab n_ba spi_b spi_a
    spi_b=$(sst_child_field "$1-b" t spi-in); spi_a=$(sst_child_field "$1-a" t spi-in)
    sleep 0.3
    n_ab=$(tcpdump -n -r "$pcap" "src $OUT_A and udp src port 4500 and udp dst port 4500 and udp[8:4] = 0x$spi_b" 2>/dev/null | wc -l)
    n_ba=$(tcpdump -n -r "$pcap" "src $OUT_B and udp src port 4500 and udp dst port 4500 and udp[8:4] = 0x$spi_a" 2>/dev/null | wc -l)
    [ "$n_ab" -ge 6 ] && [ "$n_ba" -ge 6 ] || fail "ESP in UDP/4500 in $pcap: $n_ab A->B with SPI $spi_b, $n_ba B->A with SPI $spi_a (6 each expected)"
    ok "capture: ESP in UDP 4500->4500, $n_ab packets A->B (SPI $spi_b), $n_ba B->A (SPI $spi_a)"
}

# ---------------------------------------------------------------- a: PSK
step "a: PSK, IDi ID_KEY_ID, aes128gcm16-prfsha256-x25519, ESP aes128gcm16"
start a
ARGS_A=(local_id=@#$KID remote_id=@rs.example dpd_delay=2s)
ARGS_B=(local_id=@rs.example remote_id=@#$KID)
conf_pair a psk=ace-ipsec-interop-psk proposals=aes128gcm16-prfsha256-x25519 esp_proposals=aes128gcm16
sst_initiate a-a t || { cat "$W/a-a/initiate.log" >&2; fail "initiate"; }
established a
traffic a
esp_on_wire a
step "a: rekey"
rekey_child a a; traffic a
rekey_child a b; traffic a
oi=$(sst_ike_field a-a c initiator-spi)
sst_rekey_ike a-a c
sst_wait 10 eval '[ "$(sst_ike_count a-a c ESTABLISHED)" = 1 ] && [ "$(sst_ike_field a-a c initiator-spi)" != "$oi" ]' \
    || fail "IKE_SA not rekeyed"
ok "IKE_SA rekeyed from A: initiator SPI $oi -> $(sst_ike_field a-a c initiator-spi)"
traffic a
step "a: liveness (dpd_delay = 2s on A, no traffic for 3 s)"
sleep 3
grep -qE 'generating INFORMATIONAL request [0-9]+ \[ \]' "$W/a-a/charon.log" || fail "A sent no DPD"
grep -qE 'generating INFORMATIONAL response [0-9]+ \[ \]' "$W/a-b/charon.log" || fail "B did not answer the DPD"
ok "A sent an empty INFORMATIONAL, B answered with an empty one"
step "a: DELETE from the initiator"
sst_terminate_ike a-a c || fail "terminate"
gone a
ok "both sides deleted the IKE_SA and its CHILD_SA"
idx a-a | head -1 | grep -q '^0B 00 00 00 6B 69 64 2D 30 31 ' || fail "A's IDi is not ID_KEY_ID kid-01: $(idx a-a | head -1)"
idx a-b | grep -q '^02 00 00 00 72 73 2E 65 78 61 6D 70 6C 65 ' || fail "B's IDr is not ID_FQDN rs.example"
printf 'ID payload bodies (type, reserved, data) logged at ike=3 by A and B\n%s\n' "$( (idx a-a; idx a-b) | sed 's/^/    /')" >> "$FACTS"
fact "IKE_SA_INIT as initiator" a-a "generating IKE_SA_INIT request"
fact "IKE_SA_INIT as responder" a-b "generating IKE_SA_INIT response"
fact "NAT faked" a-a "remote host is behind NAT|faking NAT|floating|switching to port"
fact "NAT faked (responder)" a-b "remote host is behind NAT|faking NAT"
fact "IKE_AUTH as initiator (PSK)" a-a "generating IKE_AUTH request"
fact "IKE_AUTH as responder (PSK)" a-b "generating IKE_AUTH response"
fact "Child rekey sent by the initiator (no PFS)" a-a "generating CREATE_CHILD_SA request" 1
fact "Child rekey sent by the responder (no PFS)" a-b "generating CREATE_CHILD_SA request" 1
fact "IKE_SA rekey (initiator)" a-a "CREATE_CHILD_SA (request|response) [0-9]+ \[ SA No KE \]" 2
fact "IKE_SA rekey (responder)" a-b "CREATE_CHILD_SA (request|response) [0-9]+ \[ SA No KE \]" 2
fact "DELETE of the old CHILD_SA after a rekey" a-a "generating INFORMATIONAL (request|response) [0-9]+ \[ D \]" 2
fact "DPD" a-a "generating INFORMATIONAL request [0-9]+ \[ \]" 1
printf 'DPD answered (a-b)\n%s\n' "$(sst_exchanges a-b | grep -A1 -E 'parsed INFORMATIONAL request [0-9]+ \[ \]' | head -2 | sed 's/^/    /')" >> "$FACTS"
fact "DELETE of the IKE_SA, answered" a-b "parsed INFORMATIONAL request [0-9]+ \[ D \]|generating INFORMATIONAL response [0-9]+ \[ \]|deleting IKE_SA" -3

# ---------------------------------------------------------------- b: raw keys
step "b: P-256 raw public keys, aes128gcm16-prfsha256-ecp256, ESP aes256gcm16-ecp256 (PFS)"
sst_gen_p256 ka && sst_gen_p256 kb || fail "openssl P-256 keys"
start b
sst_pem_from_point "$(sst_pub_hex kb)" "$W/keys/kb-from-point.pem" || fail "PEM from the point of kb"
ARGS_A=(auth=pubkey local_key=ka remote_pubkey=$W/keys/kb-from-point.pem local_id=@#$KID remote_id=@rs.example)
ARGS_B=(auth=pubkey local_key=kb remote_key=ka local_id=@rs.example remote_id=@#$KID)
conf_pair b proposals=aes128gcm16-prfsha256-ecp256 esp_proposals=aes256gcm16-ecp256
sst_initiate b-a t || { cat "$W/b-a/initiate.log" >&2; fail "initiate"; }
established b
traffic b
esp_on_wire b
grep -q "authentication of 'kid-01' (myself) with ECDSA_WITH_SHA256_DER successful" "$W/b-a/charon.log" \
    || fail "A did not sign with RFC 7427 ECDSA_WITH_SHA256_DER"
ok "both authenticate with RFC 7427 signatures (ecdsa-with-SHA256)"
[ -z "$(sst_child_field b-a t dh-group)" ] || fail "the IKE_AUTH CHILD_SA has a DH group"
rekey_child b a; traffic b
[ "$(sst_child_field b-a t dh-group)" = ECP_256 ] || fail "rekeyed CHILD_SA without PFS group (got '$(sst_child_field b-a t dh-group)')"
ok "rekey with PFS: CHILD_SA dh-group ECP_256"
rekey_child b b; traffic b
step "b: CHILD_SA deleted by A, created again, IKE_SA deleted by the responder B"
sst_terminate_child b-a t || fail "terminate child"
sst_wait 10 eval '[ "$(sst_child_count b-b t)" = 0 ]' || fail "B kept the CHILD_SA"
[ "$(sst_ike_count b-b c ESTABLISHED)" = 1 ] || fail "B lost the IKE_SA with the CHILD_SA"
sst_initiate b-a t || { cat "$W/b-a/initiate.log" >&2; fail "CREATE_CHILD_SA for a new CHILD_SA"; }
established b
traffic b
sst_terminate_ike b-b c || fail "terminate from B"
gone b
ok "DELETE of a CHILD_SA, a new CHILD_SA, DELETE of the IKE_SA from the responder"
fact "raw keys: AUTH sent by the initiator" b-a "authentication of .* \(myself\)" 1
fact "raw keys: AUTH verified by the responder" b-b "authentication of .* with .* successful" 2
fact "IKE_AUTH as initiator (raw keys)" b-a "generating IKE_AUTH request"
fact "IKE_AUTH as responder (raw keys)" b-b "generating IKE_AUTH response"
fact "Child rekey with PFS" b-a "generating CREATE_CHILD_SA (request|response)" 2
fact "Child rekey with PFS sent by the responder" b-b "generating CREATE_CHILD_SA request" 1
fact "CHILD_SA DELETE and a new CHILD_SA (PFS group configured)" b-a "(generating|parsed) INFORMATIONAL (request|response) [0-9]+ \[ D \]|(generating|parsed) CREATE_CHILD_SA (request|response) [0-9]+ \[ SA No KE TSi TSr \]" -4
fact "IKE_SA DELETE by the responder" b-b "generating INFORMATIONAL request [0-9]+ \[ D \]|parsed INFORMATIONAL response [0-9]+ \[ \]|deleting IKE_SA" -3

# ------------------------------------------------- b9: raw keys, RFC 4754 auth
step "b9: raw public keys with signature_authentication = no on A (classic ECDSA, method 9)"
CHARON_A=("signature_authentication = no")
start b9
conf_pair b9 proposals=aes128gcm16-prfsha256-ecp256 esp_proposals=aes128gcm16
sst_initiate b9-a t || { cat "$W/b9-a/initiate.log" >&2; fail "initiate"; }
established b9
traffic b9
grep -q "authentication of 'kid-01' (myself) with ECDSA-256 signature successful" "$W/b9-a/charon.log" \
    || fail "A did not use classic ECDSA-256"
grep -q "authentication of 'rs.example' (myself) with ECDSA-256 signature successful" "$W/b9-b/charon.log" \
    || fail "B did not use classic ECDSA-256"
ok "both sides use AUTH method ECDSA-256 (9) when no SIGNATURE_HASH_ALGORITHMS is exchanged"
fact "IKE_SA_INIT with signature_authentication = no" b9-a "generating IKE_SA_INIT request"
fact "classic ECDSA auth" b9-a "authentication of .* successful" 2
fact "classic ECDSA auth (responder)" b9-b "authentication of .* successful" 2
sst_terminate_ike b9-a c || fail "terminate"
gone b9

# ------------------------------------------------------------ psk: wrong PSK
step "psk: wrong PSK on the initiator"
start psk
ARGS_A=(local_id=@#$KID remote_id=@rs.example psk=wrong-psk)
ARGS_B=(local_id=@rs.example remote_id=@#$KID psk=ace-ipsec-interop-psk)
conf_pair psk
if sst_initiate psk-a t; then fail "IKE_AUTH with a wrong PSK succeeded"; fi
grep -qE 'generating IKE_AUTH response 1 \[ N\(AUTH_FAILED\) \]' "$W/psk-b/charon.log" || fail "B did not answer N(AUTH_FAILED)"
grep -q 'received AUTHENTICATION_FAILED notify error' "$W/psk-a/charon.log" || fail "A did not see AUTHENTICATION_FAILED"
sst_wait_ike_gone psk-a c 5 && sst_wait_ike_gone psk-b c 5 || fail "IKE_SA left after AUTH_FAILED"
ok "B answers IKE_AUTH with N(AUTH_FAILED) only, both sides drop the IKE_SA"
fact "wrong PSK (responder)" psk-b "verification failed|tried .* shared key|generating IKE_AUTH response|AUTH_FAILED" 6
fact "wrong PSK (initiator)" psk-a "parsed IKE_AUTH response|AUTHENTICATION_FAILED" 3
step "psk: the initiator does not accept the responder's AUTH (wrong raw key for B on A)"
sst_gen_p256 kc || fail "openssl P-256 key"
sst_conf_clear psk-a; sst_conf_clear psk-b
ARGS_A=(auth=pubkey local_key=ka remote_key=kc local_id=@#$KID remote_id=@rs.example)
ARGS_B=(auth=pubkey local_key=kb remote_key=ka local_id=@rs.example remote_id=@#$KID)
conf_pair psk
if sst_initiate psk-a t; then fail "IKE_AUTH with a wrong responder key succeeded"; fi
sst_exchanges psk-a | grep -qE 'generating INFORMATIONAL request 2 \[ N\(AUTH_FAILED\) \]' || fail "A sent no INFORMATIONAL with AUTH_FAILED"
sst_wait_ike_gone psk-a c 5 && sst_wait_ike_gone psk-b c 5 || fail "IKE_SA left after AUTH_FAILED"
ok "A rejects B's AUTH: INFORMATIONAL [ N(AUTH_FAILED) ] to B, both sides drop the IKE_SA"
fact "responder's AUTH rejected by the initiator" psk-a "parsed IKE_AUTH response|signature validation failed|generating INFORMATIONAL request [0-9]+ \[ N\(AUTH_FAILED\) \]" -3
fact "responder's AUTH rejected by the initiator (responder)" psk-b "generating IKE_AUTH response|AUTH_FAILED|INFORMATIONAL" -3

# ------------------------------------------- n: a peer with honest NAT-D hashes
# B runs without kernel-libipsec (kernel-netlink, encap = no), so its NAT-D
# hashes are the real ones, as an implementation that does not fake them
# would send. B's own CHILD_SA fails (this kernel has no ESP): only A's
# reaction matters here.
step "n: peer with honest NAT_DETECTION hashes (B without kernel-libipsec)"
PLUGINS_B=${SST_PLUGINS/kernel-libipsec /}
start n
ARGS_A=(local_id=@#$KID remote_id=@rs.example psk=ace-ipsec-interop-psk)
ARGS_B=(local_id=@rs.example remote_id=@#$KID psk=ace-ipsec-interop-psk encap=no)
conf_pair n
sst_initiate n-a t || true      # the CHILD_SA fails on B
[ "$(sst_ike_field n-a c state)" = ESTABLISHED ] && [ "$(sst_ike_field n-a c local-port)" = 4500 ] \
    || fail "A (initiator) did not establish the IKE_SA on port 4500"
[ "$(sst_ike_field n-a c nat-fake)" = yes ] || fail "A did not fake a NAT"
sst_terminate_ike n-a c || true; sst_wait_ike_gone n-b c 5 || fail "B kept the IKE_SA"
sst_initiate n-b t || true
[ "$(sst_ike_field n-a c state)" = ESTABLISHED ] && [ "$(sst_ike_field n-a c local-port)" = 4500 ] \
    || fail "A (responder) did not establish the IKE_SA on port 4500"
[ "$(sst_ike_field n-a c nat-fake)" = yes ] || fail "A (responder) did not fake a NAT"
grep -c 'faking NAT situation to enforce UDP encapsulation' "$W/n-a/charon.log" | grep -qx 2 || fail "no 'faking NAT' line per IKE_SA"
ok "with honest NAT-D from the peer charon fakes a NAT (nat-fake) as initiator and as responder, IKE moves to 4500"
fact "honest NAT-D from the peer" n-a "faking NAT situation|endpoint changed|parsed IKE_SA_INIT|generating IKE_SA_INIT" 9
fact "the peer's CHILD_SA failing (IKE_AUTH response)" n-a "parsed IKE_AUTH response|failed to establish CHILD_SA" 2
sst_terminate_ike n-b c || true

# ------------------------------------- x: stock MOBIKE, INVALID_KE_PAYLOAD
step "x: mobike = yes (swanctl's default), a KE group the responder does not take, keyid: syntax, rekey by time"
start x
ARGS_A=(local_id=keyid:kid-01 remote_id=@rs.example psk=ace-ipsec-interop-psk mobike=yes child_rekey_time=4s child_life_time=30s child_rand_time=0)
ARGS_B=(local_id=@rs.example remote_id=@#$KID psk=ace-ipsec-interop-psk mobike=yes)
sst_conf x-a local_addrs=$OUT_A remote_addrs=$OUT_B local_ts=$IN_A/32 remote_ts=$IN_B/32 "${ARGS_A[@]}" \
    proposals=aes128gcm16-prfsha256-x25519-ecp256 || fail "conf x-a"
sst_conf x-b local_addrs=$OUT_B remote_addrs=$OUT_A local_ts=$IN_B/32 remote_ts=$IN_A/32 "${ARGS_B[@]}" \
    proposals=aes128gcm16-prfsha256-ecp256 || fail "conf x-b"
sst_load x-a && sst_load x-b || fail "load x"
sst_initiate x-a t || { cat "$W/x-a/initiate.log" >&2; fail "initiate"; }
established x
traffic x
grep -qE 'generating IKE_SA_INIT response 0 \[ N\(INVAL_KE\) \]' "$W/x-b/charon.log" || fail "B sent no INVALID_KE_PAYLOAD"
grep -qE 'generating IKE_AUTH request 1 \[ .*N\(MOBIKE_SUP\)' "$W/x-a/charon.log" || fail "A sent no MOBIKE_SUPPORTED"
ok "INVALID_KE_PAYLOAD answered by a retry with ECP_256, MOBIKE_SUPPORTED in IKE_AUTH"
idx x-a | head -1 | grep -q '^0B 00 00 00 6B 69 64 2D 30 31 ' || fail "keyid:kid-01 is not ID_KEY_ID 'kid-01'"
ok "keyid:kid-01 on A is ID_KEY_ID 6b69642d3031, matching @#6b69642d3031 on B"
old=$(sst_child_field x-a t spi-in)
sst_wait_rekeyed x-a t "$old" 10 || fail "no CHILD_SA rekey after rekey_time = 4s"
grep -qE 'generating CREATE_CHILD_SA request [0-9]+ \[ N\(REKEY_SA\) SA No TSi TSr \]' "$W/x-a/charon.log" || fail "no rekey request"
traffic x
ok "CHILD_SA rekeyed by itself after rekey_time = 4s ($old -> $(sst_child_field x-a t spi-in))"
fact "INVALID_KE_PAYLOAD" x-a "generating IKE_SA_INIT request|parsed IKE_SA_INIT response|INVALID_KE|DH group" 6
fact "IKE_AUTH with mobike = yes" x-a "generating IKE_AUTH request|parsed IKE_AUTH response" 2
printf 'keyid:kid-01 as IDi (x-a)\n    %s\n' "$(idx x-a | head -1)" >> "$FACTS"
fact "rekey by time" x-a "rekeying CHILD_SA|generating CREATE_CHILD_SA request" 2
sst_terminate_ike x-a c || fail "terminate"

# --------------------------------------------------------------- ck: COOKIE
# cookie_threshold_ip = 1 on B: a second half-open IKE_SA from one address
# makes B demand a COOKIE. The first one is A's IKE_SA_INIT from scenario x,
# replayed with a new SPI from another port; it stays half-open.
step "ck: COOKIE (cookie_threshold_ip = 1 on B, one half-open IKE_SA from A's address)"
CHARON_B=("cookie_threshold_ip = 1")
start ck
ARGS_A=(local_id=@#$KID remote_id=@rs.example psk=ace-ipsec-interop-psk)
ARGS_B=(local_id=@rs.example remote_id=@#$KID psk=ace-ipsec-interop-psk)
conf_pair ck
ip netns exec "$NS_A" python3 - "$W/x.pcap" "$OUT_A" "$OUT_B" <<'PY' || fail "replaying an IKE_SA_INIT"
import os, socket, struct, sys
data = open(sys.argv[1], "rb").read()
off = 24
while off + 16 <= len(data):
    incl = struct.unpack("<I", data[off + 8:off + 12])[0]
    frame = data[off + 16:off + 16 + incl]; off += 16 + incl
    ip = frame[14:]; udp = ip[(ip[0] & 15) * 4:]
    if socket.inet_ntoa(ip[12:16]) == sys.argv[2] and struct.unpack(">H", udp[2:4])[0] == 500:
        ike = os.urandom(8) + udp[16:struct.unpack(">H", udp[4:6])[0]]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[2], 0))
        s.settimeout(3); s.sendto(ike, (sys.argv[3], 500)); s.recv(2048)
        sys.exit(0)
sys.exit("no IKE_SA_INIT request in the capture")
PY
[ "$(sst_sas ck-b | grep -c 'state=CONNECTING')" -ge 1 ] || fail "no half-open IKE_SA on B"
sst_initiate ck-a t || { cat "$W/ck-a/initiate.log" >&2; fail "initiate with COOKIE"; }
established ck
grep -qE 'generating IKE_SA_INIT response 0 \[ N\(COOKIE\) \]' "$W/ck-b/charon.log" || fail "B sent no COOKIE"
grep -qE 'generating IKE_SA_INIT request 0 \[ N\(COOKIE\) SA KE No' "$W/ck-a/charon.log" || fail "A did not retry with the COOKIE"
ok "B answered N(COOKIE), A retried with it first, IKE_SA and CHILD_SA up"
fact "COOKIE" ck-a "generating IKE_SA_INIT request|parsed IKE_SA_INIT response" 4
fact "COOKIE (responder)" ck-b "parsed IKE_SA_INIT request|generating IKE_SA_INIT response" 6
sst_terminate_ike ck-a c || fail "terminate"

# -------------------------------------------------------- m: suites matrix
step "m: IKE and ESP suites through kernel-libipsec"
start m
ARGS_A=(local_id=@#$KID remote_id=@rs.example)
ARGS_B=(local_id=@rs.example remote_id=@#$KID)
# IKE proposal | ESP proposal | expected (ok: CHILD_SA up and ping both ways; fail: no CHILD_SA)
MATRIX="
aes128gcm16-prfsha256-x25519 aes128gcm16 ok
aes128gcm16-prfsha256-ecp256 aes256gcm16 ok
aes256-sha256-x25519 aes256-sha256 ok
aes256-sha256-ecp256 aes128-sha256 ok
aes128gcm16-prfsha256-x25519 chacha20poly1305 ok
aes128gcm16-prfsha256-x25519 aes128ccm8 ok
aes128gcm16-prfsha256-x25519 aes128ccm16 ok
aes128gcm16-prfsha256-x25519 aes128gcm16-esn fail
chacha20poly1305-prfsha256-x25519 aes128gcm16 ok
"
while read -r ike esp want; do
    [ -n "$ike" ] || continue
    conf_pair m psk=ace-ipsec-interop-psk proposals="$ike" esp_proposals="$esp"
    got=fail
    if sst_initiate m-a t c 10 && sst_wait_child m-a t 3 && sst_wait_child m-b t 3; then
        ip netns exec "$NS_A" ping -q -c 2 -i 0.2 -W 2 -I "$IN_A" "$IN_B" > /dev/null && got=ok
    fi
    alg="$(sst_child_field m-a t encr-alg) $(sst_child_field m-a t encr-keysize) $(sst_child_field m-a t integ-alg)"
    sst_terminate_ike m-a c 5 || true
    sst_wait_ike_gone m-a c 5 || true; sst_wait_ike_gone m-b c 5 || true
    printf '   %-34s %-18s %-4s %s\n' "$ike" "$esp" "$got" "$alg"
    echo "suite $ike / ESP $esp: $got ($alg)" >> "$FACTS"
    [ "$got" = "$want" ] || fail "suite $ike / $esp: expected $want, got $got"
done <<< "$MATRIX"
fact "ESN refused by kernel-libipsec" m-b "ESN not supported|failed to add|NO_PROPOSAL_CHOSEN" 3

echo "facts: $FACTS"
echo "strongswan-smoke: 8 passed, 0 failed"
