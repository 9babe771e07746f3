# Shared by the IKEv2 system scripts (system-ike-lossy.sh,
# system-ike-flood.sh): `ace-ipsec gateway` with [ike] in network
# namespaces, driven through its control socket and read from its log.
#
# Source it after `cd` to the repository. The caller defines `fail` and
# sets W (work dir), TUN (device name), ACE (binary), DEADLINE (in
# $SECONDS) and the array PIDS before using the functions below.

# gil_need CMD:PACKAGE...: installs from Debian what is missing.
gil_need() {
    local need=() c
    for c in "$@"; do command -v "${c%%:*}" > /dev/null || need+=("${c#*:}"); done
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing: ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null
    fi
}

ok() { echo "   ok: $*"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# start_gw SIDE NS INNER_PEER INNER_ME: runs $W/SIDE.toml in NS, routes the
# peer's inner address into the TUN device. LAST_PID is the gateway's pid.
start_gw() {
    ip netns exec "$2" env NO_COLOR=1 "$ACE" --log info gateway --config "$W/$1.toml" > "$W/$1.log" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
    for _ in $(seq 50); do ip -n "$2" link show "$TUN" > /dev/null 2>&1 && [ -S "$W/$1.ctl" ] && break; sleep 0.1; done
    ip -n "$2" link show "$TUN" > /dev/null 2>&1 || { STEP=setup; fail "no TUN device in $2"; }
    [ -S "$W/$1.ctl" ] || { STEP=setup; fail "no control socket for $1"; }
    ip -n "$2" link set "$TUN" up
    ip -n "$2" route replace "$3/32" dev "$TUN" src "$4"
}

# The log of a side without colours; how many lines match a pattern.
glog() { sed 's/\x1b\[[0-9;]*m//g' "$W/$1.log"; }
gcount() { glog "$1" | grep -c -- "$2" || true; }

# wait_count SIDE PATTERN N [TIMEOUT_S=60]: until N lines match.
wait_count() {
    local end=$(( $(now_ms) + ${4:-60} * 1000 ))
    while [ "$(gcount "$1" "$2")" -lt "$3" ]; do
        [ "$(now_ms)" -lt "$end" ] || return 1
        [ "$SECONDS" -lt "$DEADLINE" ] || fail "overall timeout"
        sleep 0.02
    done
}

# ctl SIDE WORD: one command to the gateway's control socket.
ctl() {
    python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM).sendto(sys.argv[2].encode(), sys.argv[1])' \
        "$W/$1.ctl" "$2"
}

# The last `status` line of a side, after asking for a fresh one.
status_of() {
    local n; n=$(gcount "$1" 'ike: status')
    ctl "$1" status
    wait_count "$1" 'ike: status' $((n + 1)) 10 || fail "no status from $1"
    glog "$1" | grep 'ike: status' | tail -1
}

# A counter (`name: N`) or a field (`name=N`) of a status line; a field of
# the newest `Child SA up` line of a side.
counter() { sed -E "s/.*[ {]$2: ([0-9]+).*/\1/" <<< "$1"; }
field() { sed -E "s/.*[ ]$2=([0-9]+).*/\1/" <<< "$1"; }
child_field() { glog "$1" | grep 'ike: Child SA up' | tail -1 | sed -E "s/.*$2=([0-9a-f]+).*/\1/"; }
