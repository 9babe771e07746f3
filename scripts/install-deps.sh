#!/usr/bin/env bash
# Installs what the system and interop tests need (Debian 12 packages, a PyPI
# package), once.
# libcoap3-bin: an unmodified CoAP client/server (coap-client, coap-server);
# tcpdump: captures on the test veth; iperf3: throughput; iproute2: netns/veth.
# strongSwan 5.9.8 as the IKEv2 interop peer (scripts/strongswan-lib.sh):
# strongswan-charon (the daemon), strongswan-swanctl (vici client),
# libcharon-extra-plugins (kernel-libipsec: ESP in user space),
# libstrongswan-standard-plugins (the openssl plugin: AES-GCM/CCM, ChaCha20-
# Poly1305, x25519, ECDSA; a Recommends, so not pulled in by
# --no-install-recommends); openssl: the P-256 test keys.
set -euo pipefail
need=()
for p in libcoap3-bin tcpdump iperf3 iproute2 \
         strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins openssl \
         postgresql iputils-ping; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# strongswan-charon depends on strongswan-starter, whose postinst enables
# strongswan-starter.service and starts it where systemd runs: a charon in the
# root namespace holding UDP 500/4500. The interop tests start their own
# charons in namespaces; keep the system one off (idempotent; without
# systemd, e.g. in a container, nothing was started).
if [ -d /run/systemd/system ]; then
    for unit in strongswan-starter.service strongswan.service; do
        if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit" 2>/dev/null; then
            echo "disabling $unit (a system-wide charon on UDP 500/4500)"
            systemctl disable --now "$unit" >/dev/null 2>&1 || true
        fi
    done
elif [ -x /etc/init.d/ipsec ] && [ -s /run/starter.charon.pid ] && kill -0 "$(cat /run/starter.charon.pid)" 2>/dev/null; then
    echo "stopping the system-wide charon (/etc/init.d/ipsec)"
    /etc/init.d/ipsec stop >/dev/null 2>&1 || true
fi

# Python peers for interop tests: lakers-python (EDHOC, RFC 9528).
if ! python3 -c "import lakers" 2>/dev/null; then
    echo "installing lakers-python from PyPI"
    python3 -m pip install -q --disable-pip-version-check lakers-python==0.6.2
fi
