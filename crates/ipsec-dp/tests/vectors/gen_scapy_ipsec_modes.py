#!/usr/bin/env python3
"""Independent AH (RFC 4302, HMAC-SHA-256-128) and ESP (AES-GCM-16, RFC 4106)
transport/tunnel-mode packets for tests/ip_mode_vectors.rs and tests/ah_*.rs.

Generated with scapy's `scapy.layers.ipsec.SecurityAssociation` (scapy 2.8.0,
installed from PyPI into a throw-away venv: `pip install scapy cryptography`),
which implements RFC 4302 §3.3.3.1 mutable-field zeroing (`zero_mutable_fields`)
and the Linux placement of AH/ESP after IPv6 extension headers on its own:
nothing here shares code with the Rust implementation.

Run:  python3 gen_scapy_ipsec_modes.py > scapy_ipsec_modes.json
"""
import json

from scapy.all import IP, IPv6, UDP, Raw, IPOption, IPOption_RR, IPOption_Router_Alert
from scapy.layers.inet6 import (IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, HBHOptUnknown,
                                RouterAlert, PadN)
from scapy.layers.ipsec import SecurityAssociation, AH, ESP

AH_KEY = bytes(range(0x20, 0x40))           # 32 octets, RFC 4868 §2.1.1
GCM_KEYMAT = bytes(range(0x40, 0x54))       # AES-128 key || 4-octet salt, RFC 4106 §8.1
SPI = 0x00001001

def hx(p):
    return bytes(p).hex()

def udp(payload=b"CoAP over IPsec"):
    return UDP(sport=5683, dport=61616) / Raw(payload)

cases = []

# --- AH transport, IPv4 with options: Router Alert (immutable, RFC 4302 A.1)
# and Record Route (mutable: zeroed whole) plus NOP padding.
p4 = IP(src="192.0.2.1", dst="198.51.100.7", tos=0xB9, ttl=61, id=0x4242, flags="DF",
        options=[IPOption_Router_Alert(), IPOption_RR(routers=["203.0.113.9"]), IPOption(b"\x01\x01\x01\x00")]) / udp()
p4 = IP(bytes(p4))
sa = SecurityAssociation(AH, spi=SPI, auth_algo="SHA2-256-128", auth_key=AH_KEY, seq_num=1)
cases.append(dict(name="ah_transport_ipv4_options", proto="ah", mode="transport",
                  key=AH_KEY.hex(), spi=SPI, seq=1, plain=hx(p4), protected=hx(sa.encrypt(p4))))

# --- AH transport, IPv6 with a Hop-by-Hop header (Router Alert, immutable;
# an unknown option type 0x3e whose "may change" bit is set: data zeroed) and
# a Destination Options header (before AH: no Routing header).
hbh = IPv6ExtHdrHopByHop(options=[RouterAlert(value=0), HBHOptUnknown(otype=0x3E, optdata=b"\xaa\xbb")])
dst = IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00\x00\x00")])
p6 = IPv6(src="2001:db8::1", dst="2001:db8:1::7", tc=0x2D, fl=0x12345, hlim=59) / hbh / dst / udp()
p6 = IPv6(bytes(p6))
sa = SecurityAssociation(AH, spi=SPI, auth_algo="SHA2-256-128", auth_key=AH_KEY, seq_num=7)
cases.append(dict(name="ah_transport_ipv6_ext_headers", proto="ah", mode="transport",
                  key=AH_KEY.hex(), spi=SPI, seq=7, plain=hx(p6), protected=hx(sa.encrypt(p6))))

# --- AH tunnel IPv4-in-IPv4. Outer header as ipsec-dp builds it
# (RFC 4301 §5.1.2.1): TOS copied, TTL 64, ID = sequence number, DF copied.
inner4 = IP(bytes(IP(src="10.0.0.1", dst="10.0.0.2", tos=0x02, ttl=64, id=7, flags="DF") / udp()))
outer4 = IP(src="192.0.2.1", dst="198.51.100.7", tos=0x02, ttl=64, id=1, flags="DF")
sa = SecurityAssociation(AH, spi=SPI, auth_algo="SHA2-256-128", auth_key=AH_KEY, seq_num=1,
                         tunnel_header=outer4)
cases.append(dict(name="ah_tunnel_ipv4_in_ipv4", proto="ah", mode="tunnel",
                  local="192.0.2.1", remote="198.51.100.7",
                  key=AH_KEY.hex(), spi=SPI, seq=1, plain=hx(inner4), protected=hx(sa.encrypt(inner4))))

# --- AH tunnel IPv6-in-IPv6 (flow label and traffic class copied).
inner6 = IPv6(bytes(IPv6(src="fd00::1", dst="fd00::2", tc=0x01, fl=0xBEEF, hlim=64) / udp()))
outer6 = IPv6(src="2001:db8::1", dst="2001:db8:1::7", tc=0x01, fl=0xBEEF, hlim=64)
sa = SecurityAssociation(AH, spi=SPI, auth_algo="SHA2-256-128", auth_key=AH_KEY, seq_num=3,
                         tunnel_header=outer6)
cases.append(dict(name="ah_tunnel_ipv6_in_ipv6", proto="ah", mode="tunnel",
                  local="2001:db8::1", remote="2001:db8:1::7",
                  key=AH_KEY.hex(), spi=SPI, seq=3, plain=hx(inner6), protected=hx(sa.encrypt(inner6))))

# --- ESP AES-GCM-16-128 (RFC 4106), raw IP, IV = 64-bit sequence number as
# ipsec-dp sends it (RFC 4106 §3.1 allows any unique IV).
def esp_sa(seq, tunnel=None):
    return SecurityAssociation(ESP, spi=SPI, crypt_algo="AES-GCM", crypt_key=GCM_KEYMAT,
                               seq_num=seq, tunnel_header=tunnel)

def iv(seq):
    return seq.to_bytes(8, "big")

plain = IP(bytes(IP(src="192.0.2.1", dst="198.51.100.7", ttl=64, id=9) / udp()))
cases.append(dict(name="esp_transport_ipv4", proto="esp", mode="transport", keymat=GCM_KEYMAT.hex(),
                  spi=SPI, seq=1, plain=hx(plain), protected=hx(esp_sa(1).encrypt(plain, iv=iv(1)))))
plain6 = IPv6(bytes(IPv6(src="2001:db8::1", dst="2001:db8:1::7", hlim=64) / udp()))
cases.append(dict(name="esp_transport_ipv6", proto="esp", mode="transport", keymat=GCM_KEYMAT.hex(),
                  spi=SPI, seq=2, plain=hx(plain6), protected=hx(esp_sa(2).encrypt(plain6, iv=iv(2)))))
outer = IP(src="192.0.2.1", dst="198.51.100.7", tos=0x02, ttl=64, id=1, flags="DF")
cases.append(dict(name="esp_tunnel_ipv4_in_ipv4", proto="esp", mode="tunnel", keymat=GCM_KEYMAT.hex(),
                  local="192.0.2.1", remote="198.51.100.7",
                  spi=SPI, seq=1, plain=hx(inner4), protected=hx(esp_sa(1, outer).encrypt(inner4, iv=iv(1)))))
outer = IPv6(src="2001:db8::1", dst="2001:db8:1::7", tc=0x02, hlim=64)
cases.append(dict(name="esp_tunnel_ipv4_in_ipv6", proto="esp", mode="tunnel", keymat=GCM_KEYMAT.hex(),
                  local="2001:db8::1", remote="2001:db8:1::7",
                  spi=SPI, seq=1, plain=hx(inner4), protected=hx(esp_sa(1, outer).encrypt(inner4, iv=iv(1)))))

print(json.dumps({"source": "scapy 2.8.0 scapy.layers.ipsec.SecurityAssociation; see gen_scapy_ipsec_modes.py",
                  "cases": cases}, indent=1))
