#!/bin/sh
# Captures one IKE_SA_INIT + IKE_AUTH exchange between two strongSwan 5.9.8
# charon daemons (Debian 12 packages) in two network namespaces, with PSK,
# aes256gcm16-prfsha256-ecp256, and charon's key log (ike/lib level 4).
# Output in $OUT: ike.pcap (tcpdump on the initiator's veth) and
# initiator.log / responder.log. extract.py turns them into
# ../strongswan_psk_exchange.json. Needs root; leaves nothing behind.
set -eu
OUT=${OUT:-/tmp/ikev2-swcap}
rm -rf "$OUT"; mkdir -p "$OUT"
cleanup() {
  for n in swi swr; do
    [ -f "$OUT/$n/charon.pid.sh" ] && kill "$(cat "$OUT/$n/charon.pid.sh")" 2>/dev/null || true
  done
  [ -f "$OUT/tcpdump.pid" ] && kill "$(cat "$OUT/tcpdump.pid")" 2>/dev/null || true
  ip netns del ikev2cap-i 2>/dev/null || true
  ip netns del ikev2cap-r 2>/dev/null || true
}
trap cleanup EXIT
ip netns add ikev2cap-i; ip netns add ikev2cap-r
ip link add ikcap-i type veth peer name ikcap-r
ip link set ikcap-i netns ikev2cap-i; ip link set ikcap-r netns ikev2cap-r
ip -n ikev2cap-i addr add 10.77.0.1/24 dev ikcap-i; ip -n ikev2cap-i link set ikcap-i up; ip -n ikev2cap-i link set lo up
ip -n ikev2cap-r addr add 10.77.0.2/24 dev ikcap-r; ip -n ikev2cap-r link set ikcap-r up; ip -n ikev2cap-r link set lo up

mk() { # name ns local remote localid remoteid
  d="$OUT/$1"; mkdir -p "$d/run" "$d/conf"
  cat > "$d/strongswan.conf" <<EOT
charon {
  load_modular = no
  load = random nonce openssl kdf pem pkcs1 x509 pubkey kernel-netlink socket-default vici
  plugins { vici { socket = unix://$d/charon.vici } }
  install_routes = no
  filelog {
    keys { path = $d/charon.log
      default = 1
      ike = 4
      lib = 4
      enc = 2
      net = 2
    }
  }
}
EOT
  cat > "$d/conf/swanctl.conf" <<EOT
connections {
  c {
    version = 2
    local_addrs = $3
    remote_addrs = $4
    proposals = aes256gcm16-prfsha256-ecp256
    local {
      auth = psk
      id = "$5"
    }
    remote {
      auth = psk
      id = "$6"
    }
    children {
      t {
        local_ts = $3/32
        remote_ts = $4/32
        esp_proposals = aes256gcm16
      }
    }
  }
}
secrets {
  ike-1 {
    id-1 = "@#6b69642d3031"
    id-2 = "@server.example"
    secret = "ace-ipsec strongSwan capture PSK"
  }
}
EOT
  ip netns exec "$2" sh -c "mount --bind $d/run /run && exec env STRONGSWAN_CONF=$d/strongswan.conf /usr/lib/ipsec/charon" >"$d/stdout" 2>&1 &
  echo $! > "$d/charon.pid.sh"
}
mk swr ikev2cap-r 10.77.0.2 10.77.0.1 @server.example @#6b69642d3031
mk swi ikev2cap-i 10.77.0.1 10.77.0.2 @#6b69642d3031 @server.example
ip netns exec ikev2cap-i tcpdump -i ikcap-i -w "$OUT/ike.pcap" -U udp port 500 or udp port 4500 >"$OUT/tcpdump.log" 2>&1 &
echo $! > "$OUT/tcpdump.pid"
sleep 2
for n in swr swi; do
  swanctl --load-all --uri "unix://$OUT/$n/charon.vici" --file "$OUT/$n/conf/swanctl.conf" >"$OUT/$n/load.log" 2>&1
done
swanctl --initiate --uri "unix://$OUT/swi/charon.vici" --child t --timeout 10 >"$OUT/initiate.log" 2>&1 || true
sleep 1
cp "$OUT/swi/charon.log" "$OUT/initiator.log"; cp "$OUT/swr/charon.log" "$OUT/responder.log"
echo done
