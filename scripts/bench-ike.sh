#!/usr/bin/env bash
# IKE SA + Child SA establishments per second, one run, one machine:
# ace-ipsec's responder (in-process and over loopback UDP, `ace-ipsec bench
# ike`) and a strongSwan 5.9.8 charon responder in a network namespace,
# both driven by ace-ipsec's load initiator, for PSK + X25519 and raw P-256
# keys + ECP-256. Charon runs with `dos_protection = no` and no half-open
# limits (docs/strongswan-interop.md: its cookie thresholds would otherwise
# answer one source's load with COOKIEs), `unique = never` (every IKE SA
# has the same identity), pinned to one core; the load initiator to the
# other. Charon's CPU time per IKE SA comes from /proc/PID/stat.
#
#   scripts/bench-ike.sh [--seconds S] [--concurrency N] [--json FILE]
#
# Needs root, scripts/install-deps.sh and two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
SECONDS_=5 CONC=64 JSON=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_=$2; shift 2 ;;
        --concurrency) CONC=$2; shift 2 ;;
        --json) JSON=$2; shift 2 ;;
        *) echo "usage: $0 [--seconds S] [--concurrency N] [--json FILE]" >&2; exit 2 ;;
    esac
done
source scripts/strongswan-lib.sh
cargo build --release --locked -p ace-ipsec > /dev/null 2>&1 || cargo build --release -p ace-ipsec
ACE=$(readlink -f "${CARGO_TARGET_DIR:-target}/release/ace-ipsec")

sst_init
trap sst_cleanup EXIT
W=$SST_WORK
P=bi$$
NS_A=$P-i NS_B=$P-r
OUT_A=10.97.0.1 OUT_B=10.97.0.2
sst_ns_add "$NS_A"; sst_ns_add "$NS_B"
sst_veth "$NS_A" "$P-va" "$OUT_A/24" "$NS_B" "$P-vb" "$OUT_B/24"
sst_addr "$NS_B" 10.98.2.1/32
PSK=4242424242424242424242424242424242424242424242424242424242424242

sst_gen_p256 sw
sst_gen_p256 ace
ACE_PRIV=$(openssl ec -in "$W/keys/ace.key" -text -noout 2>/dev/null \
    | awk '/^priv:/{f=1;next} /^pub:/{f=0} f' | tr -d ' :\n')
ACE_PRIV=$(printf '%064s' "${ACE_PRIV#00}" | tr ' ' 0)
SW_PUB=$(sst_pub_hex sw)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

echo "== ace-ipsec responder (in-process and loopback), $SECONDS_ s each, $CONC in flight"
taskset -c 0 "$ACE" bench ike --seconds "$SECONDS_" --concurrency "$CONC" --json > "$W/ours.json"

declare -A RATE CPU
for auth in psk key; do
    echo "== charon responder, $auth"
    sst_charon_start "cr-$auth" "$NS_B" "dos_protection = no" "cookie_threshold = 0" \
        "cookie_threshold_ip = 0" "block_threshold = 0" "init_limit_half_open = 0" \
        "init_limit_job_load = 0"
    if [ "$auth" = psk ]; then
        sst_conf "cr-$auth" local_addrs=$OUT_B remote_addrs=$OUT_A auth=psk psk=0x$PSK \
            local_id=@rs.example remote_id=keyid:kid-01 local_ts=10.98.2.1/32 remote_ts=10.98.1.1/32 \
            proposals=aes128gcm16-prfsha256-x25519 esp_proposals=aes128gcm16 conn_extra="unique = never"
        extra=(--psk "$PSK")
    else
        sst_conf "cr-$auth" local_addrs=$OUT_B remote_addrs=$OUT_A auth=pubkey local_key=sw remote_key=ace \
            local_id=@rs.example remote_id=keyid:kid-01 local_ts=10.98.2.1/32 remote_ts=10.98.1.1/32 \
            proposals=aes128gcm16-prfsha256-ecp256 esp_proposals=aes128gcm16 conn_extra="unique = never"
        extra=(--key "$ACE_PRIV" --peer-key "$SW_PUB")
    fi
    sst_load "cr-$auth"
    pid=$(sst_charon_pid "cr-$auth")
    for t in /proc/"$pid"/task/*; do taskset -p -c 1 "${t##*/}" > /dev/null; done
    c0=$(cpu_ticks "$pid")
    ip netns exec "$NS_A" taskset -c 0 "$ACE" bench ike --target "$OUT_B:500" --local "$OUT_A:500" \
        --auth "$auth" --seconds "$SECONDS_" --concurrency "$CONC" --json "${extra[@]}" > "$W/charon-$auth.json"
    c1=$(cpu_ticks "$pid")
    n=$(sst_ike_count "cr-$auth" c ESTABLISHED)
    RATE[$auth]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"][0]["per_second"])' "$W/charon-$auth.json")
    CPU[$auth]=$(python3 -c 'import sys; c,n,hz=map(float,sys.argv[1:]); print(c/hz*1e6/max(n,1))' "$((c1 - c0))" "$n" "$HZ")
    printf '   charon: %.0f IKE SAs/s, %s established, %.0f µs CPU per SA\n' "${RATE[$auth]}" "$n" "${CPU[$auth]}"
    [ "$n" -gt 0 ] || { echo "FAIL: charon established nothing" >&2; tail -20 "$(sst_log "cr-$auth")" >&2; exit 1; }
    sst_charon_stop "cr-$auth"
done

python3 - "$W/ours.json" "${RATE[psk]}" "${CPU[psk]}" "${RATE[key]}" "${CPU[key]}" "$CONC" "${JSON:-}" <<'EOF'
import json, os, sys
ours = json.load(open(sys.argv[1]))
charon = {"PskX25519": (float(sys.argv[2]), float(sys.argv[3])),
          "P256Ecp256": (float(sys.argv[4]), float(sys.argv[5]))}
m = ours["machine"]
print(f"\nmachine: {m['cpu']} ({os.cpu_count()} cores; each side pinned to one), load {m['load_average']}; {sys.argv[6]} IKE SAs in flight")
print(f"{'responder':<44} {'auth':<12} {'SAs/s':>9} {'resp µs/SA':>11} {'vs charon':>10}")
out = {"machine": m, "rows": []}
for auth, (crate, ccpu) in charon.items():
    name = {"PskX25519": "PSK+X25519", "P256Ecp256": "P-256 keys"}[auth]
    print(f"{'charon 5.9.8 (kernel-libipsec, 1 core)':<44} {name:<12} {crate:>9.0f} {ccpu:>11.0f} {1.0:>9.2f}×")
    out["rows"].append({"responder": "charon", "auth": auth, "per_second": crate, "responder_us_per_sa": ccpu})
    for r in ours["rows"]:
        if r["auth"] != auth:
            continue
        us = r["responder_us_per_sa"]
        ratio = r["per_second"] / crate if crate else 0
        print(f"{'ace-ipsec ' + r['mode']:<44} {name:<12} {r['per_second']:>9.0f} {'-' if us is None else round(us):>11} {ratio:>9.2f}×")
        out["rows"].append({"responder": "ace-ipsec " + r["mode"], "auth": auth, "per_second": r["per_second"],
                            "responder_us_per_sa": us, "ratio_to_charon": ratio})
for w in ours["wire"]:
    print(f"bytes on the wire, {w['auth']}{' minimal initiator' if w['minimal'] else ''}: "
          + ", ".join(f"{x['exchange']} {'I→R' if x['from_initiator'] else 'R→I'} {x['udp_payload']}" for x in w["messages"])
          + f" = {w['total']}")
out["wire"] = ours["wire"]
if len(sys.argv) > 7 and sys.argv[7]:
    json.dump(out, open(sys.argv[7], "w"), indent=2)
EOF
