# shellcheck shell=bash
# strongSwan (charon 5.9.8, Debian packages) as an IKEv2 peer for interop
# tests, one daemon per network namespace. Sourced by the interop scripts;
# safe under `set -euo pipefail`: every function returns non-zero on failure
# and prints why on stderr, nothing here calls `exit`.
#
#   source scripts/strongswan-lib.sh
#   sst_init                       # work dir ($SST_WORK), trap-safe cleanup list
#   trap sst_cleanup EXIT
#   sst_ns_add sst-a; sst_ns_add sst-b
#   sst_veth sst-a sst-va 10.99.0.1/24 sst-b sst-vb 10.99.0.2/24
#   sst_addr sst-a 10.98.1.1/32; sst_addr sst-b 10.98.2.1/32   # inner (on lo)
#   sst_charon_start a sst-a; sst_charon_start b sst-b
#   sst_conf a conn=c local_addrs=10.99.0.1 remote_addrs=10.99.0.2 \
#       local_id=@#6b69642d3031 remote_id=@rs.example psk=secret \
#       local_ts=10.98.1.1/32 remote_ts=10.98.2.1/32
#   sst_conf b conn=c local_addrs=10.99.0.2 remote_addrs=10.99.0.1 ...
#   sst_load a; sst_load b
#   sst_initiate a t               # child t of conn c
#   sst_child_field a t spi-in     # e.g. c3f1a2b4
#   sst_rekey_child b t; sst_terminate_ike a c
#   sst_cleanup                    # also from the EXIT trap
#
# Files of daemon NAME live in $SST_WORK/NAME: strongswan.conf, charon.log
# (decrypted payload lists: "parsed IKE_AUTH request 1 [ IDi ... ]"),
# charon.vici (its vici socket), run/ (bind-mounted over /run for charon's
# hard-coded pid file), swanctl/ (swanctl.conf, conf.d/, pubkey/, ecdsa/).
# See docs/strongswan-interop.md for what charon sends and accepts.

SST_CHARON="${SST_CHARON:-/usr/lib/ipsec/charon}"
# Plugins charon loads (load_modular = no). openssl: AES-GCM/CCM, ChaCha20-
# Poly1305, CBC, HMAC, x25519 and the NIST curves, ECDSA; pem/pkcs1/pubkey/
# x509: PEM private and public keys; kernel-libipsec: ESP in user space on
# the TUN device ipsec0; kernel-netlink: addresses and routes.
SST_PLUGINS="${SST_PLUGINS:-random nonce openssl kdf pem pkcs1 x509 pubkey kernel-libipsec kernel-netlink socket-default vici}"
# Log levels of charon's file log (subsystem=level ...). enc=1 logs the payload
# lists ("parsed IKE_AUTH request 1 [ IDi ... ]"), ike=3 the signed octets
# and ID payload bodies ("IDx'"), ike=4 key material; enc=2 and up every field.
SST_LOG="${SST_LOG:-ike=3 enc=1 cfg=2 knl=2 net=2 esp=1 chd=2}"

_SST_NS=()        # namespaces created by sst_ns_add
_SST_DAEMONS=()   # daemons started by sst_charon_start
_SST_PIDS=()      # other processes started here (sst_bg)
_SST_OWN_WORK=0

sst_err() { echo "strongswan-lib: $*" >&2; }

# sst_init [DIR]: the work directory ($SST_WORK; a new /tmp/sst.XXXXXX unless
# given or already set) and the client configuration of swanctl.
sst_init() {
    if [ -n "${1:-}" ]; then SST_WORK=$1; fi
    if [ -z "${SST_WORK:-}" ]; then
        SST_WORK=$(mktemp -d /tmp/sst.XXXXXX)
        _SST_OWN_WORK=1
    fi
    mkdir -p "$SST_WORK/keys"
    # swanctl parses keys itself: a quiet, minimal plugin list for it.
    cat > "$SST_WORK/swanctl-client.conf" <<EOF
swanctl {
  load = pem pkcs1 pkcs8 x509 pubkey openssl random nonce
}
EOF
}

_sst_need_init() { [ -n "${SST_WORK:-}" ] || { sst_err "call sst_init first"; return 1; }; }
_sst_dir() { echo "$SST_WORK/$1"; }

# sst_ns_add NS: a network namespace with lo up and rp_filter off; deleted by
# sst_cleanup.
sst_ns_add() {
    local ns=$1
    ip netns add "$ns" || return 1
    _SST_NS+=("$ns")
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# sst_veth NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth pair between two
# namespaces, ADDR with prefix length (10.99.0.1/24). Names must be unique on
# the machine while the pair exists (it is created in the root namespace).
sst_veth() {
    local nsa=$1 ifa=$2 addra=$3 nsb=$4 ifb=$5 addrb=$6
    ip link add "$ifa" type veth peer name "$ifb" || return 1
    ip link set "$ifa" netns "$nsa" && ip link set "$ifb" netns "$nsb" || { ip link del "$ifa" 2>/dev/null; return 1; }
    ip -n "$nsa" addr add "$addra" dev "$ifa"
    ip -n "$nsb" addr add "$addrb" dev "$ifb"
    ip -n "$nsa" link set "$ifa" up
    ip -n "$nsb" link set "$ifb" up
}

# sst_addr NS ADDR/LEN: an inner (tunnel) address, on lo (this kernel has no
# dummy devices). charon's kernel-libipsec finds it there as the source of
# the route it installs through ipsec0 for the remote traffic selector.
sst_addr() { ip -n "$1" addr add "$2" dev lo; }

# sst_bg NS LOGFILE CMD...: runs CMD in NS in the background, killed by
# sst_cleanup; its pid in $SST_LAST_PID.
sst_bg() {
    local ns=$1 log=$2; shift 2
    ip netns exec "$ns" "$@" > "$log" 2>&1 &
    SST_LAST_PID=$!
    _SST_PIDS+=("$SST_LAST_PID")
}

# sst_tcpdump NS IFACE PCAP [FILTER...]: a capture, started and listening on
# return (default filter: IKE and ESP-in-UDP ports 500/4500).
sst_tcpdump() {
    local ns=$1 ifc=$2 pcap=$3; shift 3
    local filter=("$@")
    [ ${#filter[@]} -gt 0 ] || filter=(udp port 500 or udp port 4500)
    sst_bg "$ns" "$pcap.log" tcpdump -i "$ifc" --immediate-mode -U -n -s 0 -w "$pcap" "${filter[@]}"
    local i
    for i in $(seq 100); do
        grep -q "listening on" "$pcap.log" 2>/dev/null && return 0
        sleep 0.05
    done
    sst_err "tcpdump in $ns did not start: $(cat "$pcap.log")"; return 1
}

# sst_stop_pid PID: SIGTERM, then SIGKILL after 3 s.
sst_stop_pid() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

# sst_charon_start NAME NS [LINE...]: a charon in NS with its own
# strongswan.conf (LINEs are added inside `charon { }`, e.g.
# "signature_authentication = no", "port = 1500",
# "plugins.kernel-libipsec.allow_peer_ts = yes"), its own /run and vici
# socket; returns once the vici socket answers.
sst_charon_start() {
    _sst_need_init || return 1
    local name=$1 ns=$2; shift 2
    local d; d=$(_sst_dir "$name")
    if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then
        sst_err "charon $name is already running"; return 1
    fi
    rm -rf "$d"
    mkdir -p "$d/run" "$d/swanctl/conf.d" "$d/swanctl/pubkey" "$d/swanctl/ecdsa" "$d/swanctl/private"
    local levels="" kv
    for kv in $SST_LOG; do levels+="      ${kv%%=*} = ${kv#*=}"$'\n'; done
    {
        echo "charon {"
        echo "  load_modular = no"
        echo "  load = $SST_PLUGINS"
        echo "  plugins {"
        echo "    vici { socket = unix://$d/charon.vici }"
        echo "  }"
        echo "  filelog {"
        echo "    sst {"
        echo "      path = $d/charon.log"
        echo "      time_format = %H:%M:%S"
        echo "      ike_name = yes"
        echo "      append = no"
        echo "      flush_line = yes"
        echo "      default = 1"
        printf '%s' "$levels"
        echo "    }"
        echo "  }"
        echo "  syslog { }"
        local line
        for line in "$@"; do echo "  $line"; done
        echo "}"
    } > "$d/strongswan.conf"
    cat > "$d/swanctl/swanctl.conf" <<EOF
include $d/swanctl/conf.d/*.conf
EOF
    echo "$ns" > "$d/ns"
    ip netns exec "$ns" sh -c 'mount --bind "$1" /run && exec env STRONGSWAN_CONF="$2" "$3"' \
        sst-charon "$d/run" "$d/strongswan.conf" "$SST_CHARON" > "$d/stdout" 2>&1 &
    echo $! > "$d/pid"
    _SST_DAEMONS+=("$name")
    local i
    for i in $(seq 100); do
        if ! kill -0 "$(cat "$d/pid")" 2>/dev/null; then
            sst_err "charon $name died on start:"; cat "$d/stdout" >&2; tail -20 "$d/charon.log" >&2 2>/dev/null
            return 1
        fi
        if [ -S "$d/charon.vici" ] && sst_swanctl "$name" --stats > /dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    sst_err "charon $name: vici socket $d/charon.vici does not answer"; return 1
}

# sst_charon_stop NAME: stops charon NAME (its IKE_SAs die without DELETE).
sst_charon_stop() {
    local d; d=$(_sst_dir "$1")
    [ -f "$d/pid" ] || return 0
    sst_stop_pid "$(cat "$d/pid")"
    rm -f "$d/pid"
}

# sst_charon_pid NAME, sst_log NAME (path of charon.log), sst_dir NAME
sst_charon_pid() { cat "$(_sst_dir "$1")/pid"; }
sst_log() { echo "$(_sst_dir "$1")/charon.log"; }
sst_dir() { _sst_dir "$1"; }

# sst_swanctl NAME --COMMAND [ARGS...]: swanctl against daemon NAME.
sst_swanctl() {
    local name=$1 cmd=$2; shift 2
    STRONGSWAN_CONF="$SST_WORK/swanctl-client.conf" \
        swanctl "$cmd" --uri "unix://$(_sst_dir "$name")/charon.vici" "$@"
}

# sst_gen_p256 KEY: a P-256 key pair, $SST_WORK/keys/KEY.key (SEC1 PEM) and
# KEY.pub (SubjectPublicKeyInfo PEM); sst_pub_hex KEY prints the public key
# as the uncompressed point in hex (04 || X || Y), sst_spki_hex KEY as DER.
sst_gen_p256() {
    _sst_need_init || return 1
    local k="$SST_WORK/keys/$1"
    openssl ecparam -name prime256v1 -genkey -noout -out "$k.key" 2>/dev/null || return 1
    openssl ec -in "$k.key" -pubout -out "$k.pub" 2>/dev/null
}
# sst_pem_from_point HEX FILE: a P-256 public key given as the uncompressed
# point 04||X||Y (hex, 130 digits) as a PEM SubjectPublicKeyInfo, the form
# charon's `pubkeys` (remote_pubkey=FILE in sst_conf) takes.
sst_pem_from_point() {
    local hex=$1 out=$2
    [[ "$hex" =~ ^04[0-9a-fA-F]{128}$ ]] || { sst_err "sst_pem_from_point: 04||X||Y in hex expected"; return 1; }
    {
        echo "-----BEGIN PUBLIC KEY-----"
        # shellcheck disable=SC2059
        printf "$(echo "3059301306072a8648ce3d020106082a8648ce3d030107034200$hex" | sed 's/../\\x&/g')" | base64 -w 64
        echo "-----END PUBLIC KEY-----"
    } > "$out"
    openssl pkey -pubin -in "$out" -noout 2>/dev/null || { sst_err "sst_pem_from_point: not a P-256 point"; return 1; }
}
sst_spki_hex() { openssl pkey -pubin -in "$SST_WORK/keys/$1.pub" -outform DER 2>/dev/null | od -An -v -tx1 | tr -d ' \n'; }
sst_pub_hex() { local h; h=$(sst_spki_hex "$1"); echo "${h: -130}"; }

# sst_conf NAME key=value...: writes one connection (and its secret) for
# daemon NAME to swanctl/conf.d/CONN.conf; several connections per daemon
# are fine; sst_conf_clear NAME removes them all. Keys (default):
#   conn (c)  child (t)  local_addrs remote_addrs (required)  local_port remote_port
#   proposals (aes128gcm16-prfsha256-x25519)  esp_proposals (aes128gcm16)
#   auth (psk | pubkey; local_auth/remote_auth override, e.g. remote_auth=ecdsa-256)
#   local_id remote_id  psk (the secret; a 0x… value is hex)
#   local_key KEY (sst_gen_p256 name: private key + own pubkeys)
#   remote_key KEY | remote_pubkey FILE (the peer's raw public key, PEM)
#   local_ts remote_ts (local_addrs/32, remote_addrs/32)  mode (tunnel)
#   encap (yes)  mobike (no)  fragmentation (yes)  send_certreq (no)
#   dpd_delay rekey_time reauth_time over_time  (IKE_SA, e.g. 30s)
#   child_rekey_time child_life_time child_rand_time  start_action (none)
#   dpd_action close_action  replay_window  keyingtries (1)
#   conn_extra child_extra local_extra remote_extra (raw lines, ';'-separated)
sst_conf() {
    _sst_need_init || return 1
    local name=$1; shift
    local d; d=$(_sst_dir "$name")
    [ -d "$d/swanctl/conf.d" ] || { sst_err "no daemon $name"; return 1; }
    local -A o=(
        [conn]=c [child]=t [proposals]=aes128gcm16-prfsha256-x25519 [esp_proposals]=aes128gcm16
        [auth]=psk [mode]=tunnel [encap]=yes [mobike]=no [fragmentation]=yes [send_certreq]=no
        [start_action]=none [keyingtries]=1
    )
    local kv
    for kv in "$@"; do
        case "$kv" in *=*) o[${kv%%=*}]=${kv#*=} ;; *) sst_err "sst_conf: not key=value: $kv"; return 1 ;; esac
    done
    [ -n "${o[local_addrs]:-}" ] && [ -n "${o[remote_addrs]:-}" ] || { sst_err "sst_conf: local_addrs and remote_addrs needed"; return 1; }
    local lauth=${o[local_auth]:-${o[auth]}} rauth=${o[remote_auth]:-${o[auth]}}
    local lts=${o[local_ts]:-${o[local_addrs]}/32} rts=${o[remote_ts]:-${o[remote_addrs]}/32}
    local f="$d/swanctl/conf.d/${o[conn]}.conf"
    {
        echo "connections {"
        echo "  ${o[conn]} {"
        echo "    version = 2"
        echo "    local_addrs = ${o[local_addrs]}"
        echo "    remote_addrs = ${o[remote_addrs]}"
        local k
        for k in local_port remote_port dpd_delay rekey_time reauth_time over_time; do
            _sst_kv "    " "$k" "${o[$k]:-}"
        done
        echo "    proposals = ${o[proposals]}"
        echo "    encap = ${o[encap]}"
        echo "    mobike = ${o[mobike]}"
        echo "    fragmentation = ${o[fragmentation]}"
        echo "    send_certreq = ${o[send_certreq]}"
        echo "    keyingtries = ${o[keyingtries]}"
        _sst_raw "    " "${o[conn_extra]:-}"
        echo "    local {"
        echo "      auth = $lauth"
        _sst_kv "      " id "${o[local_id]:+\"${o[local_id]}\"}"
        if [ -n "${o[local_key]:-}" ]; then
            cp "$SST_WORK/keys/${o[local_key]}.key" "$d/swanctl/ecdsa/${o[local_key]}.key"
            cp "$SST_WORK/keys/${o[local_key]}.pub" "$d/swanctl/pubkey/${o[local_key]}.pub"
            echo "      pubkeys = ${o[local_key]}.pub"
        fi
        _sst_raw "      " "${o[local_extra]:-}"
        echo "    }"
        echo "    remote {"
        echo "      auth = $rauth"
        _sst_kv "      " id "${o[remote_id]:+\"${o[remote_id]}\"}"
        if [ -n "${o[remote_key]:-}" ]; then
            cp "$SST_WORK/keys/${o[remote_key]}.pub" "$d/swanctl/pubkey/${o[remote_key]}.pub"
            echo "      pubkeys = ${o[remote_key]}.pub"
        elif [ -n "${o[remote_pubkey]:-}" ]; then
            echo "      pubkeys = $(readlink -f "${o[remote_pubkey]}")"
        fi
        _sst_raw "      " "${o[remote_extra]:-}"
        echo "    }"
        echo "    children {"
        echo "      ${o[child]} {"
        echo "        mode = ${o[mode]}"
        echo "        local_ts = $lts"
        echo "        remote_ts = $rts"
        echo "        esp_proposals = ${o[esp_proposals]}"
        echo "        start_action = ${o[start_action]}"
        _sst_kv "        " rekey_time "${o[child_rekey_time]:-}"
        _sst_kv "        " life_time "${o[child_life_time]:-}"
        _sst_kv "        " rand_time "${o[child_rand_time]:-}"
        for k in dpd_action close_action replay_window; do
            _sst_kv "        " "$k" "${o[$k]:-}"
        done
        _sst_raw "        " "${o[child_extra]:-}"
        echo "      }"
        echo "    }"
        echo "  }"
        echo "}"
        if [ -n "${o[psk]:-}" ]; then
            echo "secrets {"
            echo "  ike-${o[conn]} {"
            _sst_kv "    " id-local "${o[local_id]:+\"${o[local_id]}\"}"
            _sst_kv "    " id-remote "${o[remote_id]:+\"${o[remote_id]}\"}"
            echo "    secret = \"${o[psk]}\""
            echo "  }"
            echo "}"
        fi
    } > "$f"
}
# _sst_kv INDENT KEY VALUE: "KEY = VALUE" unless VALUE is empty.
_sst_kv() { if [ -n "$3" ]; then echo "$1$2 = $3"; fi; }
# _sst_raw INDENT 'LINE;LINE': raw lines.
_sst_raw() {
    local IFS=';' l
    for l in $2; do if [ -n "$l" ]; then echo "$1$l"; fi; done
}
sst_conf_clear() { rm -f "$(_sst_dir "$1")"/swanctl/conf.d/*.conf; }

# sst_load NAME: loads (and replaces) connections, secrets and keys of NAME.
sst_load() {
    local d; d=$(_sst_dir "$1")
    if ! sst_swanctl "$1" --load-all --noprompt --file "$d/swanctl/swanctl.conf" > "$d/load.log" 2>&1; then
        sst_err "swanctl --load-all on $1 failed:"; cat "$d/load.log" >&2; return 1
    fi
}

# sst_initiate NAME CHILD [IKE] [TIMEOUT_S=10]: initiates CHILD (and its IKE_SA
# if none); returns swanctl's status, its output in NAME/initiate.log.
sst_initiate() {
    local name=$1 child=$2 ike=${3:-} t=${4:-10}
    local args=(--child "$child" --timeout "$t")
    [ -n "$ike" ] && args+=(--ike "$ike")
    sst_swanctl "$name" --initiate "${args[@]}" > "$(_sst_dir "$name")/initiate.log" 2>&1
}

# sst_rekey_child NAME CHILD / sst_rekey_ike NAME IKE: queue a rekey (returns
# at once; wait with sst_wait_rekeyed). sst_terminate_ike NAME IKE [TIMEOUT_S]
# deletes the IKE_SA (INFORMATIONAL with DELETE) and waits for the answer.
sst_rekey_child() { sst_swanctl "$1" --rekey --child "$2" > /dev/null; }
sst_rekey_ike() { sst_swanctl "$1" --rekey --ike "$2" > /dev/null; }
sst_terminate_ike() { sst_swanctl "$1" --terminate --ike "$2" --timeout "${3:-10}" > "$(_sst_dir "$1")/terminate.log" 2>&1; }
sst_terminate_child() { sst_swanctl "$1" --terminate --child "$2" --timeout "${3:-10}" > "$(_sst_dir "$1")/terminate.log" 2>&1; }

# sst_sas NAME: all SAs of NAME, one line per value:
#   ike=<sa#>/<conn> <key>=<value>               (IKE_SA values)
#   child=<sa#>/<conn>/<child>-<uniqueid> <key>=<value>   (CHILD_SA values)
# e.g. "child=1/c/t-3 spi-in=c1d2e3f4", "ike=1/c state=ESTABLISHED";
# list items come as <key>[]=<item>.
sst_sas() {
    sst_swanctl "$1" --list-sas --pretty --noblock 2>/dev/null | awk '
        function key() { return (depth >= 4 && path[3] == "child-sas") ? "child=" n "/" path[2] "/" path[4] : "ike=" n "/" path[2] }
        /^list-sa event \{/ { n++; depth = 1; next }
        /\{$/ { sub(/^ +/, ""); sub(/ *\{$/, ""); path[++depth] = $0; next }
        /^ *\}$/ { depth--; next }
        /= \[$/ { sub(/^ +/, ""); sub(/ *= \[$/, ""); list = $0; next }
        /^ *\]$/ { list = ""; next }
        depth < 2 { next }
        list != "" { sub(/^ +/, ""); print key(), list "[]=" $0; next }
        / = / { line = $0; sub(/^ +/, "", line); k = line; sub(/ = .*/, "", k); v = line; sub(/^[^=]* = /, "", v)
                print key(), k "=" v }'
}

# sst_ike_field NAME IKE FIELD: FIELD of the (first) IKE_SA of connection
# IKE, e.g. state, local-port, remote-port, nat-fake, nat-any, initiator-spi,
# encr-alg, dh-group; empty if absent.
sst_ike_field() {
    sst_sas "$1" | awk -v ike="$2" -v f="$3" '
        $1 ~ "^ike=[0-9]+/" ike "$" && index($2, f "=") == 1 { print substr($2, length(f) + 2); exit }'
}

# sst_child_field NAME CHILD FIELD [STATE=INSTALLED]: FIELD of the newest
# CHILD_SA named CHILD in STATE, e.g. spi-in, spi-out, bytes-in, bytes-out,
# packets-in, encap, mode, encr-alg, dh-group, local-ts[]; empty if none.
sst_child_field() {
    local st=${4:-INSTALLED}
    sst_sas "$1" | awk -v c="$2" -v f="$3" -v st="$st" '
        $1 ~ "^child=" { split(substr($1, 7), p, "/"); sub(/-[0-9]+$/, "", p[3]); if (p[3] != c) next; id = $1
            if ($2 == "state=" st) ok[id] = 1
            if (index($2, f "=") == 1) val[id] = substr($2, length(f) + 2); seen[++m] = id }
        END { r = ""; for (i = 1; i <= m; i++) if (ok[seen[i]] && (seen[i] in val)) r = val[seen[i]]; print r }'
}

# sst_child_count NAME CHILD [STATE] / sst_ike_count NAME IKE [STATE]
sst_child_count() {
    sst_sas "$1" | awk -v c="$2" -v st="${3:-}" '
        $1 ~ "^child=" && $2 ~ /^state=/ { split(substr($1, 7), p, "/"); sub(/-[0-9]+$/, "", p[3]); if (p[3] == c && (st == "" || $2 == "state=" st)) n++ }
        END { print n + 0 }'
}
sst_ike_count() {
    sst_sas "$1" | awk -v ike="$2" -v st="${3:-}" '
        $1 ~ "^ike=[0-9]+/" ike "$" && $2 ~ /^state=/ { if (st == "" || $2 == "state=" st) n++ }
        END { print n + 0 }'
}

# sst_wait TIMEOUT_S CMD...: polls CMD every 0.1 s until it succeeds.
sst_wait() {
    local t=$1; shift
    local i
    for i in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done
    "$@"
}
_sst_child_is() { [ "$(sst_child_count "$1" "$2" INSTALLED)" -ge 1 ]; }
_sst_rekeyed() {
    local spi st; spi=$(sst_child_field "$1" "$2" spi-in)
    st=$(sst_child_state_by_spi "$1" "$3")
    [ -n "$spi" ] && [ "$spi" != "$3" ] && case "$st" in ""|DELETING|DELETED|DESTROYING) true ;; *) false ;; esac
}
# sst_child_state_by_spi NAME SPI_IN: the state of the CHILD_SA with that
# inbound SPI (hex as listed, e.g. c1d2e3f4), empty if there is none.
sst_child_state_by_spi() {
    sst_sas "$1" | awk -v spi="$2" '
        $1 ~ "^child=" { if ($2 ~ /^state=/) st[$1] = substr($2, 7); if ($2 == "spi-in=" spi) hit = $1 }
        END { if (hit != "") print st[hit] }'
}
_sst_ike_gone() { [ "$(sst_ike_count "$1" "$2")" -eq 0 ]; }
_sst_ike_is() { [ "$(sst_ike_count "$1" "$2" ESTABLISHED)" -ge 1 ]; }
# sst_wait_ike NAME IKE [T=10]: until an ESTABLISHED IKE_SA of conn IKE exists
# (e.g. one the peer initiated).
sst_wait_ike() { sst_wait "${3:-10}" _sst_ike_is "$1" "$2"; }
# sst_wait_child NAME CHILD [T=10]: until an INSTALLED CHILD exists.
sst_wait_child() { sst_wait "${3:-10}" _sst_child_is "$1" "$2"; }
# sst_wait_rekeyed NAME CHILD OLD_SPI_IN [T=10]: until a CHILD_SA named
# CHILD is INSTALLED with another inbound SPI and the one with OLD_SPI_IN is
# deleted (charon lists a rekeyed CHILD_SA as DELETED for another 5 s,
# charon.delete_rekeyed_delay, while its inbound SA still takes packets).
sst_wait_rekeyed() { sst_wait "${4:-10}" _sst_rekeyed "$1" "$2" "$3"; }
# sst_wait_ike_gone NAME IKE [T=10]: until NAME has no IKE_SA of conn IKE.
sst_wait_ike_gone() { sst_wait "${3:-10}" _sst_ike_gone "$1" "$2"; }

# sst_exchanges NAME: the messages charon NAME generated and parsed, one a
# line without time and thread, e.g.
#   <c|1> generating IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH SA TSi TSr ... ]
#   <c|1> parsed IKE_AUTH response 1 [ IDr AUTH SA TSi TSr ]
sst_exchanges() {
    sed -n -E 's/^[0-9:]+ [0-9]+\[ENC\] (<[^>]*> )?((generating|parsed) [A-Z_]+ (request|response) [0-9]+ \[.*\])$/\1\2/p' "$(sst_log "$1")"
}

# sst_cleanup: stops every daemon and process started here, deletes the
# namespaces, removes $SST_WORK if sst_init made it (not with SST_KEEP=1).
# Never fails; meant for `trap sst_cleanup EXIT`.
sst_cleanup() {
    local -
    set +e
    local n p
    for n in "${_SST_DAEMONS[@]}"; do sst_charon_stop "$n"; done
    for p in "${_SST_PIDS[@]}"; do sst_stop_pid "$p"; done
    for n in "${_SST_NS[@]}"; do ip netns del "$n" 2>/dev/null; done
    _SST_DAEMONS=(); _SST_PIDS=(); _SST_NS=()
    if [ "$_SST_OWN_WORK" = 1 ] && [ "${SST_KEEP:-0}" != 1 ] && [ -n "${SST_WORK:-}" ]; then
        rm -rf "$SST_WORK"
    fi
    return 0
}
