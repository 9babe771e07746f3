#!/usr/bin/env python3
"""Builds complete ESP packets with OpenSSL (via python `cryptography`), an
implementation independent of ipsec-dp's backends, for every ESP suite of
ipsec-dp, with and without 64-bit extended sequence numbers (RFC 4304).

RFC 4303 §2:  SPI(4) | Seq low 32 bits(4) | IV | enc(payload | pad 1,2,.. | padlen | NH) | ICV
AEADs (RFC 4106 / RFC 4309 / RFC 7634):
  nonce = salt || IV, IV = the 64-bit sequence number,
  AAD = SPI || Seq (no ESN) or SPI || Seq high || Seq low (ESN), padding to 4.
AES-CBC + HMAC-SHA-256-128 (RFC 3602, RFC 4868), encrypt-then-MAC:
  keymat = K_enc || K_int (RFC 7296 §2.17 order); padding to 16;
  IV = AES-ECB_Kiv(0^64 || seq64), Kiv = HMAC-SHA-256(K_enc, "ipsec-dp AES-CBC IV key")[:|K_enc|]
  (ipsec-dp's local IV scheme, NIST SP 800-38A App. C);
  ICV = HMAC-SHA-256(K_int, SPI || Seq || IV || ct [|| Seq high with ESN])[:16]
  (RFC 4303 §2.2.1: the high bits are appended for the ICV only).
NULL + HMAC-SHA-256-128 (RFC 2410): no IV, no encryption, ICV as above.
Written to openssl_esp_packets_all.json.
"""
import hashlib, hmac, json
import cryptography
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.backends.openssl.backend import backend

SUITES = [  # name, kind, enc key len, salt len, icv len
    ("AES-CCM-8-128", "ccm", 16, 3, 8),
    ("AES-CCM-8-256", "ccm", 32, 3, 8),
    ("AES-GCM-16-128", "gcm", 16, 4, 16),
    ("AES-GCM-16-256", "gcm", 32, 4, 16),
    ("AES-CCM-16-128", "ccm", 16, 3, 16),
    ("AES-CCM-16-256", "ccm", 32, 3, 16),
    ("CHACHA20-POLY1305", "chacha", 32, 4, 16),
    ("AES-CBC-128-HMAC-SHA-256-128", "cbc", 16, 0, 16),
    ("AES-CBC-256-HMAC-SHA-256-128", "cbc", 32, 0, 16),
    ("NULL-HMAC-SHA-256-128", "null", 0, 0, 16),
]
CASES = [  # esn, 64-bit seq, payload len, next header
    (False, 1, 0, 59), (False, 2, 1, 17), (False, 3, 13, 17), (False, 4, 100, 4),
    (False, 0xDEADBEEF, 333, 41),
    (True, 1, 7, 17), (True, 2, 64, 17), (True, 0x1_0000_0000, 5, 17),
    (True, 0x1_0000_0001, 200, 4), (True, 0x7_FFFF_FFFF, 31, 41),
]


def aes_ecb(key, block):
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


out = []
for idx, (name, kind, klen, slen, icv) in enumerate(SUITES):
    ilen = 32 if kind in ("cbc", "null") else 0
    keymat = bytes((0x21 + 11 * idx + 3 * i) & 0xFF for i in range(klen + slen + ilen))
    key, salt, kint = keymat[:klen], keymat[klen:klen + slen], keymat[klen + slen:]
    spi = 0x2000 + idx
    for esn, seq, plen, nh in CASES:
        payload = bytes((seq + i * 5 + idx) & 0xFF for i in range(plen))
        align = 16 if kind == "cbc" else 4
        padlen = (-(plen + 2)) % align
        pt = payload + bytes(range(1, padlen + 1)) + bytes([padlen, nh])
        lo, hi = (seq & 0xFFFFFFFF).to_bytes(4, "big"), (seq >> 32).to_bytes(4, "big")
        header = spi.to_bytes(4, "big") + lo
        if kind in ("ccm", "gcm", "chacha"):
            iv = seq.to_bytes(8, "big")
            aad = spi.to_bytes(4, "big") + (hi if esn else b"") + lo
            nonce = salt + iv
            if kind == "ccm":
                ct = AESCCM(key, tag_length=icv).encrypt(nonce, pt, aad)
            elif kind == "gcm":
                ct = AESGCM(key).encrypt(nonce, pt, aad)
            else:
                ct = ChaCha20Poly1305(key).encrypt(nonce, pt, aad)
            packet = header + iv + ct
        elif kind == "cbc":
            kiv = hmac.new(key, b"ipsec-dp AES-CBC IV key", hashlib.sha256).digest()[:klen]
            iv = aes_ecb(kiv, bytes(8) + seq.to_bytes(8, "big"))
            e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            ct = e.update(pt) + e.finalize()
            mac = hmac.new(kint, header + iv + ct + (hi if esn else b""), hashlib.sha256).digest()[:16]
            packet = header + iv + ct + mac
        else:
            mac = hmac.new(kint, header + pt + (hi if esn else b""), hashlib.sha256).digest()[:16]
            packet = header + pt + mac
        out.append({"suite": name, "keymat": keymat.hex(), "spi": spi, "esn": esn, "seq": seq,
                    "next_header": nh, "payload": payload.hex(), "packet": packet.hex()})

src = f"gen_openssl_esp_all.py (cryptography {cryptography.__version__}, {backend.openssl_version_text()})"
with open("openssl_esp_packets_all.json", "w") as f:
    f.write('{"source": %s,\n "tests": [\n' % json.dumps(src))
    f.write(",\n".join("  " + json.dumps(t) for t in out))
    f.write("\n]}\n")
print(len(out), src)
