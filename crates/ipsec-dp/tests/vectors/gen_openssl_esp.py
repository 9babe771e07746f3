#!/usr/bin/env python3
"""Builds complete ESP packets with OpenSSL (via python `cryptography`), an
implementation independent of RustCrypto, for the four ESP suites of ipsec-dp.

RFC 4303 §2:  SPI(4) | Seq(4) | IV(8) | AEAD(payload | pad 1,2,.. | padlen | NH) | ICV
RFC 4106 §4:  GCM nonce = salt(4) || IV(8);  RFC 4309 §4: CCM nonce = salt(3) || IV(8)
RFC 4106 §5 / RFC 4309 §5: AAD = SPI || Seq (32-bit sequence numbers)
IV = the 64-bit sequence counter (RFC 4106 §3.1, RFC 4309 §3.1 allow a counter),
padding = minimal so that payload + 2 is a multiple of 4 (RFC 4303 §2.4).
Generated with cryptography 48.0.0 / OpenSSL 3.0.19 and written to
openssl_esp_packets.json.
"""
import json
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM

SUITES = [  # name, key len, salt len, icv len
    ("AES-CCM-8-128", 16, 3, 8),
    ("AES-CCM-8-256", 32, 3, 8),
    ("AES-GCM-16-128", 16, 4, 16),
    ("AES-GCM-16-256", 32, 4, 16),
]
out = []
for idx, (name, klen, slen, icv) in enumerate(SUITES):
    keymat = bytes((0x40 + 7 * idx + i) & 0xFF for i in range(klen + slen))
    key, salt = keymat[:klen], keymat[klen:]
    spi = 0x1000 + idx
    for seq, plen, nh in ((1, 0, 59), (2, 1, 17), (3, 13, 17), (0xDEADBEEF, 100, 4)):
        payload = bytes((seq + i * 3) & 0xFF for i in range(plen))
        padlen = (-(plen + 2)) % 4
        pt = payload + bytes(range(1, padlen + 1)) + bytes([padlen, nh])
        iv = seq.to_bytes(8, "big")
        aad = spi.to_bytes(4, "big") + seq.to_bytes(4, "big")
        nonce = salt + iv
        if name.startswith("AES-CCM"):
            ct = AESCCM(key, tag_length=icv).encrypt(nonce, pt, aad)
        else:
            ct = AESGCM(key).encrypt(nonce, pt, aad)
        out.append({"suite": name, "keymat": keymat.hex(), "spi": spi, "seq": seq,
                    "next_header": nh, "payload": payload.hex(),
                    "packet": (aad + iv + ct).hex()})
with open("openssl_esp_packets.json", "w") as f:
    f.write('{"source": "gen_openssl_esp.py (cryptography 48.0.0, OpenSSL 3.0.19)",\n "tests": [\n')
    f.write(",\n".join("  " + json.dumps(t) for t in out))
    f.write("\n]}\n")
