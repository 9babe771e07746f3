# Two test hosts in network namespaces on one veth pair; sourced by the
# system tests. Nothing leaves these namespaces.
#   host A: namespace $NS_A, veth $VETH_A, $IP_A/24
#   host B: namespace $NS_B, veth $VETH_B, $IP_B/24
# Call netns_up; netns_down runs on exit.
NS_A="${NS_A:-aceA$$}"
NS_B="${NS_B:-aceB$$}"
VETH_A="va$$"
VETH_B="vb$$"
IP_A="${IP_A:-192.168.77.1}"
IP_B="${IP_B:-192.168.77.2}"

netns_down() {
    ip netns pids "$NS_A" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns pids "$NS_B" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
}

netns_up() {
    trap netns_down EXIT
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    ip link add "$VETH_A" type veth peer name "$VETH_B"
    ip link set "$VETH_A" netns "$NS_A"
    ip link set "$VETH_B" netns "$NS_B"
    ip -n "$NS_A" addr add "$IP_A/24" dev "$VETH_A"
    ip -n "$NS_B" addr add "$IP_B/24" dev "$VETH_B"
    for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
    ip -n "$NS_A" link set "$VETH_A" up
    ip -n "$NS_B" link set "$VETH_B" up
}

in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }
