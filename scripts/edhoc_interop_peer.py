#!/usr/bin/env python3
"""EDHOC Initiator from lakers-python (PyPI), driven line by line over
stdin/stdout by tests/edhoc_interop.rs: an EDHOC peer this project did not
write completes EDHOC against the RS's EDHOC endpoints (draft-aragon-ace-
ipsec-profile-01 Appendix B.2).

It also derives the IPsec seed itself, with Python's hmac, from PRK_out:
seed = EDHOC_Exporter(32768, SHA-256(access_token), 32) (RFC 9528 §4.2.1),
an independent implementation of docs/profile.md §11.

Protocol (hex fields, one line each way):
  in : <I private> <CRED_I> <CRED_R> <access_token>
  out: <message_1>
  in : <message_2>
  out: <C_R as CBOR> <message_3> <seed>
Exits 3 when lakers-python is not installed.
"""
import hashlib
import hmac
import sys

try:
    import lakers
except ImportError as e:  # the Rust test reports this as a skip
    print(f"SKIP lakers-python not installed: {e}", flush=True)
    sys.exit(3)


def cbor_uint(v):
    if v < 24:
        return bytes([v])
    if v < 0x100:
        return bytes([0x18, v])
    if v < 0x10000:
        return bytes([0x19]) + v.to_bytes(2, "big")
    return bytes([0x1A]) + v.to_bytes(4, "big")


def cbor_bstr(b):
    n = len(b)
    if n < 24:
        head = bytes([0x40 | n])
    elif n < 256:
        head = bytes([0x58, n])
    else:
        head = bytes([0x59]) + n.to_bytes(2, "big")
    return head + b


def edhoc_kdf(prk, label, context, length):
    """RFC 9528 §4.1.2: HKDF-Expand(PRK, (label, context, length) as CBOR seq)."""
    info = cbor_uint(label) + cbor_bstr(context) + cbor_uint(length)
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def conn_id_cbor(raw):
    """RFC 9528 §3.3.2: a one-byte ID that encodes an int in -24..23 is sent bare."""
    if len(raw) == 1 and (raw[0] <= 0x17 or 0x20 <= raw[0] <= 0x37):
        return raw
    return cbor_bstr(raw)


def main():
    i_priv, cred_i, cred_r, token = (bytes.fromhex(x) for x in sys.stdin.readline().split())
    ini = lakers.EdhocInitiator()
    m1 = ini.prepare_message_1()
    print(m1.hex(), flush=True)
    m2 = bytes.fromhex(sys.stdin.readline().strip())
    c_r, id_cred_r, _ead_2 = ini.parse_message_2(m2)
    valid_r = lakers.credential_check_or_fetch(id_cred_r, lakers.Credential(cred_r))
    ini.verify_message_2(i_priv, lakers.Credential(cred_i), valid_r)
    m3, prk_out = ini.prepare_message_3(lakers.CredentialTransfer.ByReference, None)
    prk_exporter = edhoc_kdf(bytes(prk_out), 10, b"", 32)
    seed = edhoc_kdf(prk_exporter, 32768, hashlib.sha256(token).digest(), 32)
    print(conn_id_cbor(bytes(c_r)).hex(), bytes(m3).hex(), seed.hex(), flush=True)


if __name__ == "__main__":
    main()
