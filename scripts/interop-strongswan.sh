#!/usr/bin/env bash
# ace-ipsec's IKEv2 (`ace-ipsec gateway` with [ike]) against a stock
# strongSwan 5.9.8 charon (kernel-libipsec: ESP in UDP, tunnel mode), in two
# network namespaces on a veth pair:
#
#   ace-psk   ace-ipsec initiator → charon responder, PSK, IDi ID_KEY_ID
#   sw-psk    charon initiator → ace-ipsec responder, PSK, IDi ID_KEY_ID
#   ace-key   ace-ipsec initiator → charon responder, P-256 raw public keys
#   sw-key    charon initiator → ace-ipsec responder, P-256 raw public keys
#   ace-ace   ace-ipsec ↔ ace-ipsec in transport mode (which kernel-libipsec
#             refuses): up, ping both ways, Child SA rekeys from each side,
#             IKE SA rekey, DELETE from the responder
#
# Each: IKE SA and Child SA up on both sides with matching SPIs (charon's
# `swanctl --list-sas` against ace-ipsec's log), ping both ways through the
# tunnel (ace-ipsec's TUN device ↔ charon's ipsec0), a Child SA rekey
# started by ace-ipsec and one by charon (SPIs changed on both sides,
# traffic passes after each), an IKE SA rekey from each side, and a DELETE:
# charon terminates the IKE SA of an ace-ipsec initiator, ace-ipsec deletes
# the IKE SA of a charon initiator; the other side drops everything and
# the tunnel stops carrying traffic.
#
#   scripts/interop-strongswan.sh [OUTDIR] [SCENARIO...]
#
# Needs root, scripts/install-deps.sh and a release build (it builds one).
# With OUTDIR the logs stay there. Exit 0 only if every step passed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
[ -x /usr/lib/ipsec/charon ] && command -v swanctl > /dev/null \
    || { echo "strongSwan missing: run scripts/install-deps.sh" >&2; exit 2; }
source scripts/strongswan-lib.sh

OUT=""
if [ -n "${1:-}" ] && [[ "$1" != *-* || -d "$1" || "$1" == /* ]]; then OUT=$1; shift; fi
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(ace-psk sw-psk ace-key sw-key ace-ace)

cargo build --release --locked -p ace-ipsec > /dev/null 2>&1 || cargo build --release -p ace-ipsec
ACE=$(readlink -f "${CARGO_TARGET_DIR:-target}/release/ace-ipsec")

if [ -n "$OUT" ]; then rm -rf "$OUT"; mkdir -p "$OUT"; sst_init "$(readlink -f "$OUT")"; else sst_init; fi
trap sst_cleanup EXIT
W=$SST_WORK

P=ii$$
NS_A=$P-ace NS_B=$P-sw
OUT_A=10.99.0.1 OUT_B=10.99.0.2
IN_A=10.98.1.1 IN_B=10.98.2.1
TUN=acei$$
KID=kid-01
PSK=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

CUR=""
fail() {
    echo "FAIL [$CUR]: $*" >&2
    if [ -n "$CUR" ]; then
        echo "--- last lines of ace-ipsec ($CUR)" >&2
        tail -30 "$W/$CUR.ace.log" >&2 || true
        echo "--- last lines of charon ($CUR)" >&2
        grep -E 'IKE\]|ENC\] .*(generating|parsed)|CHD\]|ESP\]' "$W/$CUR/charon.log" | tail -25 >&2 || true
    fi
    exit 1
}
ok() { echo "   ok: $*"; }

sst_ns_add "$NS_A"; sst_ns_add "$NS_B"
sst_veth "$NS_A" "$P-va" "$OUT_A/24" "$NS_B" "$P-vb" "$OUT_B/24"
sst_addr "$NS_A" "$IN_A/32"; sst_addr "$NS_B" "$IN_B/32"

sst_gen_p256 sw
sst_gen_p256 ace
ACE_PRIV=$(openssl ec -in "$W/keys/ace.key" -text -noout 2>/dev/null \
    | awk '/^priv:/{f=1;next} /^pub:/{f=0} f' | tr -d ' :\n')
ACE_PRIV=$(printf '%064s' "${ACE_PRIV#00}" | tr ' ' 0)   # 32 bytes, no sign octet
ACE_PUB=$(sst_pub_hex ace)
SW_PUB=$(sst_pub_hex sw)

# ace_log_plain: the scenario's ace-ipsec log without colour codes.
ace_log() { sed 's/\x1b\[[0-9;]*m//g' "$W/$CUR.ace.log"; }
ace_count() { ace_log | grep -c -- "$1" || true; }
ace_wait_count() {   # ace_wait_count PATTERN N [T]: until the log has N lines matching
    local i
    for i in $(seq 1 $((${3:-10} * 10))); do
        [ "$(ace_count "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
# The last "Child SA up" line's field: spi_in / spi_out.
ace_child_field() { ace_log | grep 'ike: Child SA up' | tail -1 | sed -E "s/.*$1=([0-9a-f]+).*/\1/"; }
ace_cmd() {
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.sendto(sys.argv[2].encode(), sys.argv[1])' \
        "$W/$CUR.ctl" "$1"
}
ping_a() { ip netns exec "$NS_A" ping -c "${1:-3}" -i 0.2 -W 2 -I "$IN_A" "$IN_B" > /dev/null 2>&1; }
ping_b() { ip netns exec "$NS_B" ping -c "${1:-3}" -i 0.2 -W 2 -I "$IN_B" "$IN_A" > /dev/null 2>&1; }

# check_spis: charon's newest installed Child SA and ace-ipsec's newest pair
# are the two directions of one Child SA.
check_spis() {
    local sw_in sw_out a_in a_out
    sw_in=$(sst_child_field "$CUR" t spi-in); sw_out=$(sst_child_field "$CUR" t spi-out)
    a_in=$(ace_child_field spi_in); a_out=$(ace_child_field spi_out)
    [ -n "$sw_in" ] && [ "$sw_in" = "$a_out" ] && [ "$sw_out" = "$a_in" ] \
        || fail "SPIs differ: charon in=$sw_in out=$sw_out, ace-ipsec in=$a_in out=$a_out ($1)"
    ok "SPIs match ($1): charon in=$sw_in out=$sw_out"
}
traffic() {
    ping_a || fail "ping ace-ipsec → charon through the tunnel ($1)"
    ping_b || fail "ping charon → ace-ipsec through the tunnel ($1)"
    ok "ping both ways through the tunnel ($1)"
}

scenario() {
    local tag=$1 dir=${1%%-*} auth=${1#*-}
    CUR=$tag
    echo "== $tag"
    sst_charon_start "$tag" "$NS_B"
    # The library names daemons; `sw` is this scenario's charon.
    local sw=$tag
    local ike_p esp_p sw_auth=()
    if [ "$auth" = psk ]; then
        ike_p=aes128gcm16-prfsha256-x25519; esp_p=aes128gcm16
        sw_auth=(auth=psk psk=0x$PSK)
    else
        ike_p=aes128gcm16-prfsha256-ecp256; esp_p=aes256gcm16-ecp256
        sw_auth=(auth=pubkey local_key=sw remote_key=ace)
    fi
    sst_conf "$sw" local_addrs=$OUT_B remote_addrs=$OUT_A "${sw_auth[@]}" \
        local_id=@rs.example remote_id=keyid:$KID local_ts=$IN_B/32 remote_ts=$IN_A/32 \
        proposals=$ike_p esp_proposals=$esp_p
    sst_load "$sw"

    local role=responder peer=""
    [ "$dir" = ace ] && { role=initiator; peer="peer = \"$OUT_B:500\""; }
    local cred
    if [ "$auth" = psk ]; then cred="psk = \"$PSK\""; else
        cred="private_key = \"$ACE_PRIV\"
peer_public_key = \"$SW_PUB\""; fi
    cat > "$W/$tag.toml" <<EOF
tun = "$TUN"
udp_listen = "$OUT_A:4500"
[ike]
role = "$role"
listen = "$OUT_A:500"
$peer
local_id = "keyid:$KID"
remote_id = "@rs.example"
$cred
local_ts = ["$IN_A/32"]
remote_ts = ["$IN_B/32"]
proposals = ["$ike_p"]
esp_proposals = ["$esp_p"]
control = "$W/$tag.ctl"
EOF
    sst_bg "$NS_A" "$W/$tag.ace.log" env NO_COLOR=1 "$ACE" --log info gateway --config "$W/$tag.toml"
    local ace_pid=$SST_LAST_PID
    sst_wait 10 ip netns exec "$NS_A" ip link show "$TUN" > /dev/null 2>&1 \
        || fail "no TUN device $TUN"
    ip netns exec "$NS_A" ip link set "$TUN" up
    ip netns exec "$NS_A" ip route replace "$IN_B/32" dev "$TUN" src "$IN_A"
    sst_wait 10 test -S "$W/$tag.ctl" || fail "no control socket"

    if [ "$dir" = sw ]; then
        sst_initiate "$sw" t || fail "charon's initiate failed: $(cat "$W/$sw/initiate.log")"
    fi
    sst_wait_child "$sw" t 15 || fail "charon: no Child SA"
    ace_wait_count 'ike: Child SA up' 1 || fail "ace-ipsec: no Child SA"
    ace_wait_count 'ike: IKE SA up' 1 || fail "ace-ipsec: no IKE SA"
    [ "$(sst_ike_field "$sw" c state)" = ESTABLISHED ] || fail "charon's IKE SA not established"
    [ "$(sst_child_field "$sw" t encap)" = yes ] || fail "charon's Child SA not UDP-encapsulated"
    ok "IKE SA + Child SA up ($dir initiates, $auth; charon $(sst_ike_field "$sw" c encr-alg)/$(sst_ike_field "$sw" c dh-group))"
    check_spis "first Child SA"
    traffic "first Child SA"
    local pk; pk=$(sst_child_field "$sw" t packets-in)
    [ "${pk:-0}" -ge 6 ] || fail "charon counted $pk ESP packets in"
    ok "charon counted $pk ESP packets in"

    # Child SA rekey started by ace-ipsec.
    local old; old=$(sst_child_field "$sw" t spi-in)
    ace_cmd rekey-child
    sst_wait_rekeyed "$sw" t "$old" 15 || fail "charon: Child SA not rekeyed after ace-ipsec's rekey"
    ace_wait_count 'ike: Child SA up' 2 || fail "ace-ipsec: no rekeyed Child SA"
    ace_wait_count 'old SA removed, pair continues' 1 || fail "ace-ipsec: old SA not removed after the rekey"
    check_spis "rekey by ace-ipsec"
    [ "$(sst_child_field "$sw" t spi-in)" != "$old" ] || fail "SPI unchanged"
    traffic "after ace-ipsec's Child SA rekey"

    # Child SA rekey started by charon.
    old=$(sst_child_field "$sw" t spi-in)
    sst_rekey_child "$sw" t
    sst_wait_rekeyed "$sw" t "$old" 15 || fail "charon's Child SA rekey did not complete"
    ace_wait_count 'ike: Child SA up' 3 || fail "ace-ipsec: no Child SA from charon's rekey"
    ace_wait_count 'old SA removed, pair continues' 2 || fail "ace-ipsec: old SA not removed after charon's rekey"
    check_spis "rekey by charon"
    traffic "after charon's Child SA rekey"

    # IKE SA rekeys, from each side.
    local ispi; ispi=$(sst_ike_field "$sw" c initiator-spi)
    ace_cmd rekey-ike
    ace_wait_count 'ike: IKE SA rekeyed' 1 15 || fail "ace-ipsec: IKE SA not rekeyed"
    sst_wait 10 bash -c "[ \"\$1\" != \"\$2\" ]" _ "$ispi" "$(sst_ike_field "$sw" c initiator-spi)" || true
    sleep 0.5
    [ "$(sst_ike_field "$sw" c initiator-spi)" != "$ispi" ] || fail "charon: IKE SPIs unchanged after ace-ipsec's IKE rekey"
    [ "$(sst_ike_count "$sw" c ESTABLISHED)" = 1 ] || fail "charon: not exactly one IKE SA after the rekey"
    ok "IKE SA rekeyed by ace-ipsec"
    traffic "after ace-ipsec's IKE SA rekey"
    sst_rekey_ike "$sw" c
    ace_wait_count 'ike: IKE SA rekeyed' 2 15 || fail "ace-ipsec: charon's IKE SA rekey not seen"
    sleep 0.5
    [ "$(sst_ike_count "$sw" c ESTABLISHED)" = 1 ] || fail "charon: not exactly one IKE SA after its rekey"
    ok "IKE SA rekeyed by charon"
    # The Child SA survives both IKE rekeys; a last Child SA rekey on the
    # new IKE SA.
    old=$(sst_child_field "$sw" t spi-in)
    ace_cmd rekey-child
    sst_wait_rekeyed "$sw" t "$old" 15 || fail "Child SA rekey on the rekeyed IKE SA"
    ace_wait_count 'ike: Child SA up' 4 || fail "ace-ipsec: no Child SA on the rekeyed IKE SA"
    check_spis "rekey on the rekeyed IKE SA"
    traffic "after charon's IKE SA rekey"

    # DELETE.
    if [ "$dir" = ace ]; then
        sst_terminate_ike "$sw" c || fail "charon's terminate failed"
        ace_wait_count 'ike: IKE SA down' 1 || fail "ace-ipsec: IKE SA not down after charon's DELETE"
        ace_wait_count 'ike: pair removed' 1 || fail "ace-ipsec: pair not removed after charon's DELETE"
        ace_log | grep -q 'IKE SA down.*DeletedByPeer' || fail "ace-ipsec: not deleted by the peer"
        ok "charon's DELETE honoured by ace-ipsec (pair removed)"
    else
        ace_cmd delete
        sst_wait_ike_gone "$sw" c 10 || fail "charon: IKE SA still there after ace-ipsec's DELETE"
        ace_wait_count 'ike: pair removed' 1 || fail "ace-ipsec: pair not removed after its DELETE"
        [ "$(sst_child_count "$sw" t)" = 0 ] || fail "charon: Child SAs left"
        ok "ace-ipsec's DELETE honoured by charon (no SAs left)"
    fi
    sleep 0.3
    if ping_a 1; then fail "traffic still passes after the DELETE"; fi
    ok "no traffic after the DELETE"
    ace_cmd status; sleep 0.3
    kill -TERM "$ace_pid" 2> /dev/null || true
    wait "$ace_pid" 2> /dev/null || true
    sst_charon_stop "$sw"
    ip netns exec "$NS_A" ip link del "$TUN" 2> /dev/null || true
}

# ace_cmd_at SIDE WORD: a test command to ace-ace's side a or b.
ace_cmd_at() {
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.sendto(sys.argv[2].encode(), sys.argv[1])' \
        "$W/ace-ace-$1.ctl" "$2"
}
# ace_ace: both ends ace-ipsec, transport mode between the veth addresses;
# policy routing puts only ICMP between them into the TUN devices.
ace_ace() {
    CUR=ace-ace
    echo "== ace-ace (transport mode)"
    local side ns me peer role idl idr pids=()
    for side in a b; do
        if [ $side = a ]; then ns=$NS_A me=$OUT_A peer=$OUT_B role=initiator idl=keyid:$KID idr=@rs.example
        else ns=$NS_B me=$OUT_B peer=$OUT_A role=responder idl=@rs.example idr=keyid:$KID; fi
        cat > "$W/ace-ace-$side.toml" <<EOF
tun = "$TUN"
udp_listen = "$me:4500"
[ike]
role = "$role"
listen = "$me:500"
peer = "$peer:500"
local_id = "$idl"
remote_id = "$idr"
psk = "$PSK"
mode = "transport"
local_ts = ["$me/32"]
remote_ts = ["$peer/32"]
esp_proposals = ["chacha20poly1305-x25519"]
control = "$W/ace-ace-$side.ctl"
EOF
    done
    # B (responder) first, so that A's IKE_SA_INIT finds it.
    for side in b a; do
        if [ $side = a ]; then ns=$NS_A me=$OUT_A peer=$OUT_B; else ns=$NS_B me=$OUT_B peer=$OUT_A; fi
        sst_bg "$ns" "$W/ace-ace-$side.log" env NO_COLOR=1 "$ACE" --log info gateway --config "$W/ace-ace-$side.toml"
        pids+=("$SST_LAST_PID")
        sst_wait 10 ip netns exec "$ns" ip link show "$TUN" > /dev/null 2>&1 || fail "no TUN device in $ns"
        ip netns exec "$ns" ip link set "$TUN" up
        ip netns exec "$ns" ip rule add pref 100 to "$peer" ipproto icmp lookup 100
        ip netns exec "$ns" ip route replace "$peer/32" dev "$TUN" src "$me" table 100
        sst_wait 10 test -S "$W/ace-ace-$side.ctl" || fail "no control socket ($side)"
    done
    ln -sf "$W/ace-ace-a.log" "$W/ace-ace.ace.log"     # ace_log reads A's log
    ace_wait_count 'ike: Child SA up' 1 15 || fail "A: no Child SA"
    sst_wait 10 grep -q 'ike: Child SA up' "$W/ace-ace-b.log" || fail "B: no Child SA"
    local a_in b_out
    a_in=$(ace_child_field spi_in)
    b_out=$(sed 's/\x1b\[[0-9;]*m//g' "$W/ace-ace-b.log" | grep 'ike: Child SA up' | tail -1 | sed -E 's/.*spi_out=([0-9a-f]+).*/\1/')
    [ "$a_in" = "$b_out" ] || fail "SPIs differ: A in=$a_in, B out=$b_out"
    ace_log | grep 'ike: Child SA up' | grep -q 'mode=Transport' || fail "not transport mode"
    ok "IKE SA + Child SA up, transport mode, SPIs match ($a_in)"
    ping_pair() {
        ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 2 "$OUT_B" > /dev/null 2>&1 || fail "ping A → B ($1)"
        ip netns exec "$NS_B" ping -c 3 -i 0.2 -W 2 "$OUT_A" > /dev/null 2>&1 || fail "ping B → A ($1)"
        ok "ping both ways in transport mode ($1)"
    }
    ping_pair "first Child SA"
    ace_cmd_at a rekey-child
    ace_wait_count 'ike: Child SA up' 2 || fail "A: no rekeyed Child SA"
    ace_wait_count 'old SA removed, pair continues' 1 || fail "A: old SA not removed"
    ping_pair "after A's Child SA rekey"
    ace_cmd_at b rekey-child
    ace_wait_count 'ike: Child SA up' 3 || fail "A: no Child SA from B's rekey"
    ace_wait_count 'old SA removed, pair continues' 2 || fail "A: old SA of B's rekey not removed"
    ping_pair "after B's Child SA rekey"
    ace_cmd_at b rekey-ike
    ace_wait_count 'ike: IKE SA rekeyed' 1 || fail "A: IKE SA rekey by B not seen"
    ping_pair "after B's IKE SA rekey"
    ace_cmd_at b delete
    ace_wait_count 'ike: pair removed' 1 || fail "A: pair not removed after B's DELETE"
    sst_wait 10 grep -q 'ike: pair removed' "$W/ace-ace-b.log" || fail "B: pair not removed"
    if ip netns exec "$NS_A" ping -c 1 -W 1 "$OUT_B" > /dev/null 2>&1; then fail "ICMP still passes after the DELETE"; fi
    ok "DELETE from the responder: both pairs removed, no traffic"
    kill -INT "${pids[@]}" 2> /dev/null || true
    wait "${pids[@]}" 2> /dev/null || true
    for ns in "$NS_A" "$NS_B"; do
        ip netns exec "$ns" ip rule del pref 100 2> /dev/null || true
        ip netns exec "$ns" ip link del "$TUN" 2> /dev/null || true
    done
}

for s in "${SCENARIOS[@]}"; do
    case "$s" in ace-psk|sw-psk|ace-key|sw-key) scenario "$s" ;;
        ace-ace) ace_ace ;; *) echo "unknown scenario $s" >&2; exit 2 ;; esac
done
CUR=""
echo "all passed: ${SCENARIOS[*]}"
