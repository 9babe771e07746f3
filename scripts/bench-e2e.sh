#!/usr/bin/env bash
# End-to-end benchmark of the transparent mode (a benchmark, not a test).
#
# Two hosts in network namespaces on one veth pair (scripts/netns-lib.sh);
# iperf3 from host A to host B through three set-ups, all up at once in the
# same namespaces and measured the same way, interleaved (each TCP round and
# each step of the UDP searches runs veth, ace, swan back to back), so that
# the ratios come from one run and a burst of load elsewhere on the machine
# hits all three alike:
#   veth  plain veth, no IPsec (192.168.77.1 -> 192.168.77.2)
#   ace   `ace-ipsec gateway` in each namespace: tunnel mode, ESP-in-UDP
#         (port 4501), A128GCM, inner 10.1.0.1 -> 10.2.0.1 routed via the
#         TUN ace0 (MTU 1400, so inner + ESP + UDP + IP fit the veth's 1500);
#         the gateway's own defaults otherwise (TUN offloads, UDP GSO/GRO)
#   swan  strongSwan charon in each namespace with kernel-libipsec (userspace
#         ESP over the TUN ipsec0, MTU 1400), tunnel mode, encap = yes (UDP
#         4500), PSK, aes128gcm16-prfsha256-ecp256, inner 10.3.0.1 -> 10.4.0.1
#         (routes in table 220, installed by charon)
# Metrics per set-up:
#   TCP       iperf3 -t 5, end.sum_received.bits_per_second; best of
#             --tcp-rounds rounds (default 2; every round is in the JSON)
#   UDP 1372  highest offered rate with <= 1 % loss, packets/s received:
#             one overload probe, then just under what got through, then
#             geometric bisection; at most --udp-runs iperf3 -u -t 3 runs
#   UDP 100   the same with 100-byte datagrams
# and the CPU used by the IPsec daemons (both ends) during each of those
# runs, UDP receive-buffer overflows and TUN drops (where packets were lost).
#
#   scripts/bench-e2e.sh [--json FILE] [--setups veth,ace,swan]
#                        [--tcp-rounds N] [--udp-runs N] [--wait-quiet SECONDS]
#                        [--udp-window BYTES]
# --udp-window gives the UDP runs iperf3 -w BYTES (socket buffers at both
# ends, up to net.core.rmem_max): with the kernel's default (208 KiB, a few
# hundred small datagrams) a receiver that loses the CPU for a few
# milliseconds drops packets, which on a busy 2-CPU machine decides the
# "<= 1 % loss" figures more than the data path does.
# --wait-quiet waits (at most that long) until other processes use less than
# 25 % of the CPUs before starting; the figures are only as good as the
# machine is idle (the CPU busy before and after is part of the report).
#
# Needs root; runs scripts/install-deps.sh and installs strongSwan on first
# use; ace needs `cargo build --release` (BIN=... to use another binary).
# Exits non-zero only when a set-up does not pass traffic, never because a
# figure is low. Nothing leaves the namespaces; all is torn down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

JSON_OUT=""
SETUPS="veth,ace,swan"
UDP_RUNS=8
TCP_ROUNDS=2
WAIT_QUIET=0
UDP_WINDOW=""
UDP_T=3
TCP_T=5
while [ $# -gt 0 ]; do
    case "$1" in
    --json) JSON_OUT="${2:?--json FILE}"; shift 2 ;;
    --setups) SETUPS="${2:?--setups veth,ace,swan}"; shift 2 ;;
    --udp-runs) UDP_RUNS="${2:?--udp-runs N}"; shift 2 ;;
    --tcp-rounds) TCP_ROUNDS="${2:?--tcp-rounds N}"; shift 2 ;;
    --wait-quiet) WAIT_QUIET="${2:?--wait-quiet SECONDS}"; shift 2 ;;
    --udp-window) UDP_WINDOW="${2:?--udp-window BYTES}"; shift 2 ;;
    -h|--help) sed -n '2,44p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "needs root (namespaces, TUN)" >&2; exit 2; }
ALL=()
for s in veth ace swan; do case ",$SETUPS," in *",$s,"*) ALL+=("$s") ;; esac; done
[ ${#ALL[@]} -gt 0 ] || { echo "--setups: choose from veth,ace,swan" >&2; exit 2; }
has_setup() { case " ${ALL[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- packages
scripts/install-deps.sh
need=()
for p in strongswan-charon strongswan-swanctl libcharon-extra-plugins \
         libstrongswan-standard-plugins jq iputils-ping; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    }
fi
CHARON=/usr/lib/ipsec/charon

BIN_SRC="${BIN:-target/release/ace-ipsec}"
if has_setup ace; then
    [ -x "$BIN_SRC" ] || { echo "build $BIN_SRC first (cargo build --release)" >&2; exit 2; }
fi

# ---------------------------------------------------------------- facts
CLK_TCK=$(getconf CLK_TCK)
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
cpu_busy() { # percent of all CPUs busy over one second
    local a b
    a=$(awk '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat); sleep 1
    b=$(awk '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat)
    echo "$a $b" | awk '{ d = $4 - $2; printf "%.0f", (d > 0 ? 100 * ($3 - $1) / d : 0) }'
}
top_procs() { top -b -n 1 -o %CPU -w 200 | sed -n '8,10p' | awk '{ printf "%s%s %s%%", (NR > 1 ? ", " : ""), $12, $9 }'; }
BUSY_BEFORE=$(cpu_busy)
if [ "$WAIT_QUIET" -gt 0 ]; then
    t_end=$(( $(date +%s) + WAIT_QUIET ))
    while [ "$BUSY_BEFORE" -ge 25 ] && [ "$(date +%s)" -lt "$t_end" ]; do
        echo "   waiting for a quiet machine: CPUs ${BUSY_BEFORE}% busy ($(top_procs))"
        sleep 4; BUSY_BEFORE=$(cpu_busy)
    done
fi
TOP_BEFORE=$(top_procs)
LOAD_BEFORE=$(loadavg)
CPU_MODEL=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
NPROC=$(nproc)
KERNEL=$(uname -r)
IPERF_VER=$(iperf3 --version 2>/dev/null | head -1 | awk '{print $2}')
SWAN_VER=$(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || echo "?")
GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
git diff --quiet HEAD -- 2>/dev/null || GIT_REV="$GIT_REV+dirty"

# ---------------------------------------------------------------- namespaces
NS_A="benchA$$"
NS_B="benchB$$"
source scripts/netns-lib.sh
WORK=$(mktemp -d /tmp/bench-e2e.XXXXXX)
declare -A DAEMONS   # set-up -> pids of its IPsec daemons (A and B)
declare -A SRV       # set-up -> pid of its iperf3 server
declare -A SRC DST PORT
all_pids() { echo "${DAEMONS[*]:-} ${SRV[*]:-}"; }
cleanup() {
    set +e
    local p pids
    pids=$(all_pids)
    for p in $pids; do kill "$p" 2>/dev/null; done
    netns_down
    for _ in $(seq 30); do
        alive=0
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    if [ -n "${KEEP_WORK:-}" ]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
netns_up
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for ns in "$NS_A" "$NS_B"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
BIN="$WORK/ace-ipsec"
BIN_SHA=""; BIN_MTIME=""
if has_setup ace; then
    cp "$BIN_SRC" "$BIN"   # the tree may be rebuilt meanwhile
    BIN_SHA=$(sha256sum "$BIN" | cut -c1-16)
    BIN_MTIME=$(date -u -r "$BIN_SRC" +%Y-%m-%dT%H:%M:%SZ)
fi
echo "== bench-e2e: $NPROC CPUs ($CPU_MODEL), kernel $KERNEL, load $LOAD_BEFORE, CPUs ${BUSY_BEFORE}% busy before start"
[ "$BUSY_BEFORE" -ge 25 ] && echo "   WARNING: the machine is busy (top: $TOP_BEFORE); the figures will be low and noisy"
echo "   iperf3 $IPERF_VER, strongSwan $SWAN_VER, ace-ipsec $BIN_SHA (built $BIN_MTIME, tree $GIT_REV)"
echo "   namespaces $NS_A/$NS_B, work dir $WORK"

declare -A R   # R[setup.metric] = figure
FAILED=()
fail() { # setup message
    echo "   FAIL: $1: $2" >&2
    FAILED+=("$1")
    local s new=()
    for s in "${ALL[@]}"; do [ "$s" = "$1" ] || new+=("$s"); done
    ALL=("${new[@]}")
}

wait_ping() { # src dst
    for _ in $(seq 20); do
        in_a ping -c 1 -W 1 -I "$1" "$2" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    return 1
}

# ---------------------------------------------------------------- (a) veth
SRC[veth]=$IP_A; DST[veth]=$IP_B; PORT[veth]=5201

# ---------------------------------------------------------------- (b) ace-ipsec
SRC[ace]=10.1.0.1; DST[ace]=10.2.0.1; PORT[ace]=5202
ace_up() {
    echo "-- ace-ipsec gateway: tunnel, ESP-in-UDP :4501, A128GCM, 10.1.0.1 -> 10.2.0.1 (ace0 MTU 1400)"
    local seed ns
    seed=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    gw_conf() { # host role me peer inner_me inner_peer
        cat > "$WORK/gw-$1.toml" <<EOF
tun = "ace0"
udp_listen = "$3:4501"
[[pair]]
name = "bench"
role = "$2"
spi_sa_c = 4097
spi_sa_rs = 4098
seed = "$seed"
peer = "$4:4501"
protocol = "esp"
alg = "A128GCM"
encap = "udp"
mode = "tunnel"
tunnel_local = "$3"
tunnel_remote = "$4"
[[pair.selector]]
local = "$5/32"
remote = "$6/32"
EOF
    }
    gw_conf a client "$IP_A" "$IP_B" 10.1.0.1 10.2.0.1
    gw_conf b server "$IP_B" "$IP_A" 10.2.0.1 10.1.0.1
    # (not through in_a: $! must be the gateway itself, not a subshell)
    ip netns exec "$NS_A" "$BIN" gateway --config "$WORK/gw-a.toml" > "$WORK/gw-a.log" 2>&1 &
    DAEMONS[ace]="$!"
    ip netns exec "$NS_B" "$BIN" gateway --config "$WORK/gw-b.toml" > "$WORK/gw-b.log" 2>&1 &
    DAEMONS[ace]+=" $!"
    for ns in "$NS_A" "$NS_B"; do
        for _ in $(seq 50); do ip -n "$ns" link show ace0 >/dev/null 2>&1 && break; sleep 0.1; done
        if ! ip -n "$ns" link show ace0 >/dev/null 2>&1; then
            cat "$WORK"/gw-*.log >&2; fail ace "no TUN device"; return 0
        fi
        ip -n "$ns" link set ace0 mtu 1400 up
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.ace0.rp_filter=0
    done
    ip -n "$NS_A" addr add 10.1.0.1/32 dev ace0
    ip -n "$NS_A" route add 10.2.0.1/32 dev ace0 src 10.1.0.1
    ip -n "$NS_B" addr add 10.2.0.1/32 dev ace0
    ip -n "$NS_B" route add 10.1.0.1/32 dev ace0 src 10.2.0.1
}
ace_down() {
    local p h c
    for p in ${DAEMONS[ace]:-}; do kill -INT "$p" 2>/dev/null || true; done
    for p in ${DAEMONS[ace]:-}; do
        for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    unset 'DAEMONS[ace]'
    for h in a b; do   # the gateway logs its counters on Ctrl-C
        c=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/gw-$h.log" 2>/dev/null | grep -o 'counters=.*' | tail -1 | cut -c1-300 || true)
        if [ -n "$c" ]; then echo "   gateway $h: $c"; fi
    done
}

# ---------------------------------------------------------------- (c) strongSwan
SRC[swan]=10.3.0.1; DST[swan]=10.4.0.1; PORT[swan]=5203
swanctl_in() { # dir command args...: swanctl on that charon's vici socket
    local d=$1 cmd=$2; shift 2
    STRONGSWAN_CONF="$d/strongswan.conf" swanctl "$cmd" --uri "unix://$d/charon.vici" "$@"
}
swan_up() {
    echo "-- strongSwan $SWAN_VER kernel-libipsec: tunnel, encap :4500, aes128gcm16, 10.3.0.1 -> 10.4.0.1 (ipsec0 MTU 1400)"
    local psk h d ns
    psk=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    swan_conf() { # host me peer inner_me inner_peer my_id peer_id
        local d="$WORK/swan-$1"
        mkdir -p "$d/run"
        cat > "$d/strongswan.conf" <<EOF
charon {
    load_modular = no
    load = random nonce openssl kdf pem pkcs1 x509 pubkey kernel-libipsec kernel-netlink socket-default vici
    port = 500
    port_nat_t = 4500
    install_routes = yes
    routing_table = 220
    routing_table_prio = 220
    plugins {
        vici {
            socket = unix://$d/charon.vici
        }
    }
    syslog {
        identifier = charon-bench
        daemon {
            default = -1
        }
    }
    filelog {
        bench {
            path = $d/charon.log
            time_format = %T
            default = 1
        }
    }
}
swanctl {
    load = random nonce openssl pem pkcs1 x509 pubkey
}
EOF
        cat > "$d/swanctl.conf" <<EOF
connections {
    bench {
        version = 2
        local_addrs = $2
        remote_addrs = $3
        encap = yes
        proposals = aes128gcm16-prfsha256-ecp256
        local {
            auth = psk
            id = $6
        }
        remote {
            auth = psk
            id = $7
        }
        children {
            bench {
                mode = tunnel
                local_ts = $4/32
                remote_ts = $5/32
                esp_proposals = aes128gcm16
                start_action = none
            }
        }
    }
}
secrets {
    ike-bench {
        id-a = $6
        id-b = $7
        secret = 0x$psk
    }
}
EOF
    }
    swan_conf a "$IP_A" "$IP_B" 10.3.0.1 10.4.0.1 a.bench b.bench
    swan_conf b "$IP_B" "$IP_A" 10.4.0.1 10.3.0.1 b.bench a.bench
    ip -n "$NS_A" addr add 10.3.0.1/32 dev lo
    ip -n "$NS_B" addr add 10.4.0.1/32 dev lo
    DAEMONS[swan]=""
    for h in a b; do
        d="$WORK/swan-$h"
        ns=$([ $h = a ] && echo "$NS_A" || echo "$NS_B")
        # Its own /run (charon's pid file is fixed) in a private mount namespace.
        ip netns exec "$ns" unshare -m --propagation private sh -c \
            'mount --bind "$1" /run && exec env STRONGSWAN_CONF="$2" '"$CHARON" \
            sh "$d/run" "$d/strongswan.conf" > "$d/charon.out" 2>&1 &
        DAEMONS[swan]+=" $!"
    done
    for h in a b; do
        d="$WORK/swan-$h"
        for _ in $(seq 50); do [ -S "$d/charon.vici" ] && break; sleep 0.1; done
        if ! swanctl_in "$d" --load-all --file "$d/swanctl.conf" > "$d/load.log" 2>&1; then
            cat "$d/load.log" "$d/charon.out" "$d/charon.log" >&2 2>/dev/null || true
            fail swan "swanctl --load-all on $h"; return 0
        fi
    done
    if ! swanctl_in "$WORK/swan-a" --initiate --child bench --timeout 15 > "$WORK/swan-a/initiate.log" 2>&1; then
        cat "$WORK/swan-a/initiate.log" "$WORK/swan-a/charon.log" >&2 2>/dev/null || true
        fail swan "no Child SA"; return 0
    fi
    for ns in "$NS_A" "$NS_B"; do
        for _ in $(seq 50); do ip -n "$ns" link show ipsec0 >/dev/null 2>&1 && break; sleep 0.1; done
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.ipsec0.rp_filter=0 2>/dev/null || true
    done
    echo "   ipsec0 mtu $(ip -n "$NS_A" -o link show ipsec0 2>/dev/null | grep -o 'mtu [0-9]*' | cut -d' ' -f2);" \
         "table 220 in A: $(ip -n "$NS_A" route show table 220 | head -1)"
}
swan_down() {
    local p
    for p in ${DAEMONS[swan]:-}; do kill -TERM "$p" 2>/dev/null || true; done
    for p in ${DAEMONS[swan]:-}; do
        for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    unset 'DAEMONS[swan]'
}

# ---------------------------------------------------------------- bring-up
echo "-- plain veth: $IP_A -> $IP_B"
if has_setup ace; then ace_up; fi
if has_setup swan; then swan_up; fi

server_start() { # setup
    local s=$1
    ip netns exec "$NS_B" iperf3 -s -B "${DST[$s]}" -p "${PORT[$s]}" >> "$WORK/iperf-server-$s.log" 2>&1 &
    SRV[$s]=$!
    for _ in $(seq 50); do
        in_b ss -Hltn "sport = :${PORT[$s]}" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}
server_stop() { # setup
    local p=${SRV[$1]:-}
    [ -n "$p" ] || return 0
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset "SRV[$1]"
}

for s in "${ALL[@]}"; do
    if ! wait_ping "${SRC[$s]}" "${DST[$s]}"; then fail "$s" "no ping ${SRC[$s]} -> ${DST[$s]}"; continue; fi
    echo "   $s: ping $(in_a ping -c 5 -i 0.2 -I "${SRC[$s]}" "${DST[$s]}" 2>/dev/null | tail -1)"
    server_start "$s" || fail "$s" "iperf3 server did not start"
done

# ---------------------------------------------------------------- measuring
cpu_ticks() { # sum of utime+stime of the given pids (all threads)
    local t=0 p v
    for p in "$@"; do
        v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        t=$((t + v))
    done
    echo "$t"
}
now_ns() { date +%s%N; }
udp_rcvbuf_errors() { # ns: UDP receive-buffer overflows (all sockets)
    ip netns exec "$1" cat /proc/net/snmp | awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["RcvbufErrors"] }'
}
add() { R[$1]=$(( ${R[$1]:-0} + $2 )); }

# One iperf3 client run of set-up $1 into $WORK/last.json; retries once with
# a fresh server (an iperf3 server can wedge after a lossy UDP test).
# Sets LAST_CPU: percent of one core the set-up's daemons used meanwhile.
iperf_run() { # setup args...
    local s=$1 i t0 t1 c0 c1 ra rb
    shift
    for i in 1 2; do
        # shellcheck disable=SC2086
        c0=$(cpu_ticks ${DAEMONS[$s]:-}); t0=$(now_ns)
        ra=$(udp_rcvbuf_errors "$NS_A"); rb=$(udp_rcvbuf_errors "$NS_B")
        if timeout $((TCP_T + UDP_T + 20)) ip netns exec "$NS_A" \
            iperf3 -c "${DST[$s]}" -B "${SRC[$s]}" -p "${PORT[$s]}" -J "$@" > "$WORK/last.json" 2>>"$WORK/iperf-client.err" \
            && jq -e '.end.sum_received' "$WORK/last.json" >/dev/null 2>&1; then
            # shellcheck disable=SC2086
            c1=$(cpu_ticks ${DAEMONS[$s]:-}); t1=$(now_ns)
            add "$s.udp_rcvbuf_errors_a" $(( $(udp_rcvbuf_errors "$NS_A") - ra ))
            add "$s.udp_rcvbuf_errors_b" $(( $(udp_rcvbuf_errors "$NS_B") - rb ))
            LAST_CPU=$(awk -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v dt=$((t1 - t0)) \
                'BEGIN { printf "%.0f", 100 * c / hz / (dt / 1e9) }')
            return 0
        fi
        jq -r '.error // empty' "$WORK/last.json" 2>/dev/null >> "$WORK/iperf-client.err" || true
        server_stop "$s"; sleep 0.5; server_start "$s" || return 1
    done
    return 1
}

# TCP, in rounds over the set-ups; the best round counts.
echo "-- TCP: $TCP_ROUNDS round(s) of iperf3 -t $TCP_T"
for round in $(seq "$TCP_ROUNDS"); do
    for s in "${ALL[@]}"; do
        if ! iperf_run "$s" -t "$TCP_T"; then fail "$s" "TCP did not run"; continue; fi
        mbps=$(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$WORK/last.json")
        R[$s.tcp_mbps_runs]="${R[$s.tcp_mbps_runs]:+${R[$s.tcp_mbps_runs]} }$mbps"
        R[$s.tcp_cpu_runs]="${R[$s.tcp_cpu_runs]:+${R[$s.tcp_cpu_runs]} }$LAST_CPU"
        printf "   %-5s round %d: %6s Mbit/s (daemons %3s%% of a core)\n" "$s" "$round" "$mbps" "$LAST_CPU"
        if [ -z "${R[$s.tcp_mbps]:-}" ] || [ "$mbps" -gt "${R[$s.tcp_mbps]}" ]; then
            R[$s.tcp_mbps]=$mbps; R[$s.tcp_cpu]=$LAST_CPU
        fi
    done
done

# UDP: for each size, a search per set-up, one step of each in turn.
# State per set-up: lo (highest offered rate that passed), hi (lowest that
# failed, or what the sender managed), next probe, runs, done.
declare -A LO HI PROBE RUNS DONE
udp_step() { # setup size
    local s=$1 size=$2 off=${PROBE[$1]} bits r sent recv loss ok
    bits=$(( off * size * 8 ))
    if ! iperf_run "$s" -u -b "$bits" -l "$size" -t "$UDP_T" ${UDP_WINDOW:+-w "$UDP_WINDOW"}; then
        fail "$s" "UDP $size B did not run"; DONE[$s]=1; return 0
    fi
    r=$(jq -r '.end as $e
        | [($e.sum_sent.packets / $e.sum_sent.seconds | floor),
           (($e.sum_received.packets - $e.sum_received.lost_packets) / $e.sum_received.seconds | floor),
           $e.sum_received.lost_percent] | @tsv' "$WORK/last.json")
    read -r sent recv loss <<< "$r"
    RUNS[$s]=$(( RUNS[$s] + 1 ))
    ok=$(awk -v l="$loss" 'BEGIN { print (l <= 1.0) ? 1 : 0 }')
    printf "   %-5s UDP %4s B: offered %7s pkt/s, sent %7s, received %7s, loss %6.2f %%%s\n" \
        "$s" "$size" "$off" "$sent" "$recv" "$loss" "$([ "$ok" = 1 ] && echo "  ok")"
    R[$s.udp${size}_runs]="${R[$s.udp${size}_runs]:+${R[$s.udp${size}_runs]};}$off,$sent,$recv,$loss,$LAST_CPU"
    if [ "$ok" = 1 ]; then
        LO[$s]=$off
        if [ -z "${R[$s.udp${size}_pps]:-}" ] || [ "$recv" -gt "${R[$s.udp${size}_pps]}" ]; then
            R[$s.udp${size}_pps]=$recv; R[$s.udp${size}_offered]=$off
            R[$s.udp${size}_loss]=$loss; R[$s.udp${size}_cpu]=$LAST_CPU
            R[$s.udp${size}_note]=""
            # the sender could not offer what was asked: it is the limit
            if [ "$sent" -lt $((off * 9 / 10)) ]; then R[$s.udp${size}_note]="sender-limited"; fi
        fi
        if [ "$sent" -lt $((off * 9 / 10)) ]; then DONE[$s]=1; return 0; fi
    else
        # too much: the upper bound is what the sender managed to send
        HI[$s]=$off
        if [ "$sent" -lt "$off" ]; then HI[$s]=$sent; fi
    fi
    [ "${RUNS[$s]}" -ge "$UDP_RUNS" ] && { DONE[$s]=1; return 0; }
    local lo=${LO[$s]:-} hi=${HI[$s]:-} next
    if [ "${RUNS[$s]}" -eq 1 ] && [ "$ok" = 0 ]; then
        next=$(( recv * 95 / 100 ))   # first probe overloaded: just under what got through
        [ "$next" -ge "$hi" ] && next=$(( hi / 2 ))
    elif [ -n "$lo" ] && [ -n "$hi" ]; then
        if [ "$(awk -v l="$lo" -v h="$hi" 'BEGIN { print (h / l < 1.06) ? 1 : 0 }')" = 1 ]; then
            DONE[$s]=1; return 0
        fi
        next=$(awk -v l="$lo" -v h="$hi" 'BEGIN { printf "%.0f", sqrt(l * h) }')
    elif [ -n "$hi" ]; then
        next=$(( hi / 2 ))
    else
        next=$(( lo * 2 ))
    fi
    [ "$next" -lt 1000 ] && next=1000
    PROBE[$s]=$next
    return 0
}
for size in 1372 100; do
    echo "-- UDP $size B: highest rate with <= 1 % loss (at most $UDP_RUNS runs of iperf3 -u -t $UDP_T${UDP_WINDOW:+ -w $UDP_WINDOW} each)"
    for s in "${ALL[@]}"; do LO[$s]=""; HI[$s]=""; PROBE[$s]=400000; RUNS[$s]=0; DONE[$s]=0; done
    while :; do
        more=0
        for s in "${ALL[@]}"; do
            [ "${DONE[$s]}" = 1 ] && continue
            more=1
            udp_step "$s" "$size"
        done
        [ $more = 1 ] || break
    done
    for s in "${ALL[@]}"; do
        if [ -z "${R[$s.udp${size}_pps]:-}" ]; then
            R[$s.udp${size}_pps]=0; R[$s.udp${size}_note]="no rate with <= 1 % loss"
        fi
    done
done

# ---------------------------------------------------------------- drops, teardown
tun_drops() { # ns dev
    ip -n "$1" -j -s link show dev "$2" 2>/dev/null | jq '.[0].stats64.tx.dropped + .[0].stats64.rx.dropped' 2>/dev/null || echo "?"
}
sock_drops() { # ns port: drops counted on the open UDP sockets of that local port
    ip netns exec "$1" cat /proc/net/udp /proc/net/udp6 2>/dev/null |
        awk -v port="$(printf '%04X' "$2")" 'NR > 1 { split($2, a, ":"); if (a[2] == port) d += $NF } END { print d + 0 }'
}
echo "-- drops over all runs (overload probes included)"
for s in veth ace swan; do
    has_setup "$s" || continue
    dev=""; esp=""
    [ "$s" = ace ] && { dev=ace0; esp=4501; }
    [ "$s" = swan ] && { dev=ipsec0; esp=4500; }
    line="   $s: UDP receive-buffer overflows A ${R[$s.udp_rcvbuf_errors_a]:-0}, B ${R[$s.udp_rcvbuf_errors_b]:-0}"
    if [ -n "$dev" ]; then
        R[$s.tun_drops_a]=$(tun_drops "$NS_A" "$dev"); R[$s.tun_drops_b]=$(tun_drops "$NS_B" "$dev")
        R[$s.esp_sock_drops_a]=$(sock_drops "$NS_A" "$esp"); R[$s.esp_sock_drops_b]=$(sock_drops "$NS_B" "$esp")
        line+=" (of these on the ESP socket :$esp: A ${R[$s.esp_sock_drops_a]}, B ${R[$s.esp_sock_drops_b]};"
        line+=" the rest on iperf3's)"
        line+="; $dev queue drops A ${R[$s.tun_drops_a]}, B ${R[$s.tun_drops_b]}"
    fi
    echo "$line"
done
echo "   (TUN drops in A: the daemon did not read its TUN fast enough; overflows in B:"
echo "    on the ESP socket the daemon did not keep up, on iperf3's the receiver did not)"
for s in veth ace swan; do server_stop "$s"; done
if [ -n "${DAEMONS[ace]:-}" ]; then ace_down; fi
if [ -n "${DAEMONS[swan]:-}" ]; then swan_down; fi

# ---------------------------------------------------------------- report
LOAD_AFTER=$(loadavg)
BUSY_AFTER=$(cpu_busy)
ratio() { # a b
    local a=${1:-} b=${2:-}
    if [ -z "$a" ] || [ -z "$b" ] || [ "$b" = 0 ]; then echo "-"; else awk -v a="$a" -v b="$b" 'BEGIN { r = a / b; printf (r < 0.1 ? "%.3f" : "%.2f"), r }'; fi
}
v() { echo "${R[$1]:--}"; }
echo
echo "== results (one run, interleaved; load average $LOAD_BEFORE before, $LOAD_AFTER after;"
echo "   CPUs ${BUSY_BEFORE}% busy before, ${BUSY_AFTER}% after; $NPROC CPUs, $CPU_MODEL)"
printf "%-30s %12s %12s %12s %13s %10s\n" "metric" "plain veth" "ace-ipsec" "libipsec" "ace/libipsec" "ace/veth"
row() { # label key
    printf "%-30s %12s %12s %12s %13s %10s\n" "$1" "$(v veth.$2)" "$(v ace.$2)" "$(v swan.$2)" \
        "$(ratio "${R[ace.$2]:-}" "${R[swan.$2]:-}")" "$(ratio "${R[ace.$2]:-}" "${R[veth.$2]:-}")"
}
row "TCP Mbit/s (best round)" tcp_mbps
row "UDP 1372 B pkt/s (<=1% loss)" udp1372_pps
row "UDP 100 B pkt/s (<=1% loss)" udp100_pps
echo "   (UDP socket buffers: ${UDP_WINDOW:-kernel default}; TCP: best of $TCP_ROUNDS round(s))"
for s in veth ace swan; do
    [ -n "${R[$s.tcp_mbps_runs]:-}" ] && echo "   $s TCP rounds: ${R[$s.tcp_mbps_runs]} Mbit/s"
    for k in udp1372 udp100; do
        [ -n "${R[$s.${k}_note]:-}" ] && echo "   note: $s $k: ${R[$s.${k}_note]}"
    done
done
echo
echo "IPsec daemons' CPU (both ends, % of one core) during the run:"
printf "%-30s %12s %12s\n" "" "ace-ipsec" "libipsec"
printf "%-30s %12s %12s\n" "TCP (best round)" "$(v ace.tcp_cpu)" "$(v swan.tcp_cpu)"
printf "%-30s %12s %12s\n" "UDP 1372 B (best run)" "$(v ace.udp1372_cpu)" "$(v swan.udp1372_cpu)"
printf "%-30s %12s %12s\n" "UDP 100 B (best run)" "$(v ace.udp100_cpu)" "$(v swan.udp100_cpu)"
echo "targets for ace-ipsec: >= 1800 Mbit/s TCP, >= 160000 pkt/s (100 B) at <= 1 % loss (informational)"

if [ -n "$JSON_OUT" ]; then
    args=()
    for k in "${!R[@]}"; do args+=(--arg "$k" "${R[$k]}"); done
    jq -n \
        --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg nproc "$NPROC" --arg cpu "$CPU_MODEL" \
        --arg kernel "$KERNEL" --arg load_before "$LOAD_BEFORE" --arg load_after "$LOAD_AFTER" \
        --arg busy_before "$BUSY_BEFORE" --arg busy_after "$BUSY_AFTER" --arg top_before "$TOP_BEFORE" \
        --arg iperf3 "$IPERF_VER" --arg strongswan "$SWAN_VER" --arg bin_sha "$BIN_SHA" \
        --arg bin_mtime "$BIN_MTIME" --arg tree "$GIT_REV" --arg failed "${FAILED[*]:-}" \
        --arg udp_window "${UDP_WINDOW:-kernel default}" --arg tcp_t "$TCP_T" --arg tcp_rounds "$TCP_ROUNDS" \
        --arg udp_t "$UDP_T" --arg udp_runs "$UDP_RUNS" \
        "${args[@]}" '
        def n: if . == null or . == "" then null else (tonumber? // .) end;
        def nums: split(" ") | map(tonumber);
        def udpruns: split(";") | map(split(",") | map(tonumber)
                       | {offered_pps: .[0], sent_pps: .[1], received_pps: .[2], loss_pct: .[3], daemons_cpu_pct: .[4]});
        $ARGS.named as $a
        | {date: $date,
           machine: {nproc: ($nproc | tonumber), cpu: $cpu, kernel: $kernel,
                     load_before: $load_before, load_after: $load_after,
                     cpu_busy_pct_before: ($busy_before | tonumber), cpu_busy_pct_after: ($busy_after | tonumber),
                     top_before: $top_before},
           versions: {iperf3: $iperf3, strongswan: $strongswan,
                      ace_ipsec_sha256_16: $bin_sha, ace_ipsec_built: $bin_mtime, tree: $tree},
           method: {tcp: "iperf3 -t \($tcp_t), best of \($tcp_rounds) rounds",
                    udp: "iperf3 -u -t \($udp_t), <= \($udp_runs) runs per size, socket buffers: \($udp_window)"},
           failed: ($failed | split(" ") | map(select(. != ""))),
           setups: (reduce ($a | to_entries[] | select(.key | test("^(veth|ace|swan)\\."))) as $e
                       ({}; ($e.key | split(".")) as $k
                            | .[$k[0]][$k[1]] = (
                                if ($k[1] | test("note")) then $e.value
                                elif ($k[1] | test("^tcp_.*_runs$")) then ($e.value | nums)
                                elif ($k[1] | test("^udp.*_runs$")) then ($e.value | udpruns)
                                else ($e.value | n) end)))}
        | def r(a; b): if (a | type) == "number" and (b | type) == "number" and b != 0 then a / b else null end;
          .ratios = {
            ace_over_libipsec: {tcp: r(.setups.ace.tcp_mbps; .setups.swan.tcp_mbps),
                                udp1372: r(.setups.ace.udp1372_pps; .setups.swan.udp1372_pps),
                                udp100: r(.setups.ace.udp100_pps; .setups.swan.udp100_pps)},
            ace_over_veth: {tcp: r(.setups.ace.tcp_mbps; .setups.veth.tcp_mbps),
                            udp1372: r(.setups.ace.udp1372_pps; .setups.veth.udp1372_pps),
                            udp100: r(.setups.ace.udp100_pps; .setups.veth.udp100_pps)}}
        ' > "$JSON_OUT"
    echo "figures written to $JSON_OUT"
fi

if [ ${#FAILED[@]} -gt 0 ]; then
    echo "FAIL: no traffic through: ${FAILED[*]}" >&2
    exit 1
fi
