#!/usr/bin/env bash
# Installs what the system and interop tests need (Debian 12 packages, a PyPI
# package), once.
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

# Python peers for interop tests: lakers-python (EDHOC, RFC 9528).
if ! python3 -c "import lakers" 2>/dev/null; then
    echo "installing lakers-python from PyPI"
    python3 -m pip install -q --disable-pip-version-check lakers-python==0.6.2
fi
