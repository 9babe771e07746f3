#!/usr/bin/env bash
# Installs the system packages the system tests need (Debian 12), once.
# libcoap3-bin: an unmodified CoAP client/server (coap-client, coap-server);
# tcpdump: captures on the test veth; iperf3: throughput; iproute2: netns/veth.
set -euo pipefail
need=()
for p in libcoap3-bin tcpdump iperf3 iproute2; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
