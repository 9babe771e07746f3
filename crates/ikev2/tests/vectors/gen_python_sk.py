#!/usr/bin/env python3
"""Independent construction (Python's `cryptography` package and hmac/hashlib,
nothing from this crate) of protected IKEv2 messages for src/crypto/:

- RFC 7296 §3.14 Encrypted payloads with ENCR_AES_CBC (128, 256) +
  AUTH_HMAC_SHA2_256_128: random-looking IV, payloads | Padding | Pad Length
  encrypted, ICV = HMAC-SHA-256 over IKE header .. end of ciphertext, first
  16 octets. cbc128 uses the SK_ei/SK_ai of python_ikev2_kdf.json (NIST
  CAVP sample keys); cbc128_long_padding pads with 31 random octets (the
  receiver must accept any padding that aligns).
- ENCR_AES_GCM_16 (RFC 5282): nonce = salt | explicit IV, AAD = IKE header
  .. SK payload header (§5.1), here with an unprotected Notify before SK so
  the AAD covers it.
- RFC 7383 §2.5 Encrypted Fragment payloads (GCM-256 and CBC-128), split
  unevenly, AAD/ICV covering Fragment Number and Total Fragments.
- ECDSA P-256 SHA-256 AUTH data (RFC 4754 r|s and RFC 7427 §3 with the
  ecdsa-with-SHA256 AlgorithmIdentifier) over strongSwan's logged signed
  octets, and the key's DER SubjectPublicKeyInfo (RFC 7670 raw key).

Writes python_ikev2_sk.json."""
import hashlib, hmac, json, os, struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))
h = bytes.fromhex
kdf = json.load(open(os.path.join(HERE, "python_ikev2_kdf.json")))
ss = json.load(open(os.path.join(HERE, "strongswan_psk_exchange.json")))


def det(label, n):
    """Deterministic test bytes."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{i}".encode()).digest()
        i += 1
    return out[:n]


# Payload types (IANA "IKEv2 Payload Types").
IDI, CERT, AUTH, NONCE, NOTIFY, VENDOR_ID, SK, SKF = 35, 37, 39, 40, 41, 43, 46, 53
IKE_AUTH, INFORMATIONAL = 35, 37


def header(spi_i, spi_r, first, exch, flags, msg_id, length):
    # RFC 7296 §3.1; version 2.0.
    return spi_i + spi_r + struct.pack(">BBBBII", first, 0x20, exch, flags, msg_id, length)


def chain(payloads):
    """[(type, body)] -> bytes with Next Payload / Payload Length (§3.2)."""
    out = b""
    for i, (_, body) in enumerate(payloads):
        nxt = payloads[i + 1][0] if i + 1 < len(payloads) else 0
        out += struct.pack(">BBH", nxt, 0, 4 + len(body)) + body
    return out


def id_key(data):
    return (IDI, bytes([11, 0, 0, 0]) + data)  # ID_KEY_ID


def notify(ntype, data=b""):
    return (NOTIFY, struct.pack(">BBH", 0, 0, ntype) + data)


def auth_psk(data):
    return (AUTH, bytes([2, 0, 0, 0]) + data)


def nonce(data):
    return (NONCE, data)


def vendor(data):
    return (VENDOR_ID, data)


def cert(encoding, data):
    return (CERT, bytes([encoding]) + data)


def pad(plain, align, pad_len=None, pad_bytes=None):
    if pad_len is None:
        pad_len = (align - (len(plain) + 1) % align) % align
    filler = pad_bytes if pad_bytes is not None else bytes(pad_len)
    assert len(filler) == pad_len and (len(plain) + pad_len + 1) % align == 0
    return plain + filler + bytes([pad_len])


def seal_cbc(key, integ, iv, spi_i, spi_r, exch, flags, msg_id, first_inner, padded, fragment=None):
    skf = struct.pack(">HH", *fragment) if fragment else b""
    payload_len = 4 + len(skf) + 16 + len(padded) + 16
    total = 28 + payload_len
    outer = SKF if fragment else SK
    msg = header(spi_i, spi_r, outer, exch, flags, msg_id, total)
    msg += struct.pack(">BBH", first_inner, 0, payload_len) + skf + iv
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    msg += enc.update(padded) + enc.finalize()
    msg += hmac.new(integ, msg, hashlib.sha256).digest()[:16]
    assert len(msg) == total
    return msg


def seal_gcm(keymat, explicit_iv, spi_i, spi_r, exch, flags, msg_id, first_inner, padded,
             outer_payloads=(), fragment=None):
    key, salt = keymat[:-4], keymat[-4:]
    skf = struct.pack(">HH", *fragment) if fragment else b""
    payload_len = 4 + len(skf) + 8 + len(padded) + 16
    outer = chain(list(outer_payloads) + [(SKF if fragment else SK, b"")])
    # chain() gave the outer payloads with a 4-octet placeholder SK header;
    # drop the placeholder, the real header follows.
    outer = outer[:-4]
    total = 28 + len(outer) + payload_len
    first = outer_payloads[0][0] if outer_payloads else (SKF if fragment else SK)
    aad = header(spi_i, spi_r, first, exch, flags, msg_id, total) + outer
    aad += struct.pack(">BBH", first_inner, 0, payload_len) + skf
    ct_tag = AESGCM(key).encrypt(salt + explicit_iv, padded, aad)
    msg = aad + explicit_iv + ct_tag
    assert len(msg) == total
    return msg


doc = {"source": "gen_python_sk.py (Python cryptography " + __import__("cryptography").__version__
       + ", hmac, hashlib); cbc128 keys from python_ikev2_kdf.json, ECDSA message from strongswan_psk_exchange.json"}

spi_i, spi_r = h(kdf["spi_i"]), h(kdf["spi_r"])

# --- CBC + HMAC-SHA-256-128, whole messages ------------------------------
inner = [id_key(b"kid-01"), notify(16384), auth_psk(det("auth", 32))]
plain = chain(inner)
for name, key, integ in [
    ("cbc128", h(kdf["ike_aes_cbc_128_hmac_sha256"]["sk_ei"]), h(kdf["ike_aes_cbc_128_hmac_sha256"]["sk_ai"])),
    ("cbc256", det("cbc256 SK_e", 32), det("cbc256 SK_a", 32)),
]:
    iv = det(name + " iv", 16)
    msg = seal_cbc(key, integ, iv, spi_i, spi_r, IKE_AUTH, 0x08, 1, IDI, pad(plain, 16))
    doc[name] = {"sk_e": key.hex(), "sk_a": integ.hex(), "iv": iv.hex(), "inner_chain": plain.hex(),
                 "first_inner": IDI, "message": msg.hex()}

key = h(kdf["ike_aes_cbc_128_hmac_sha256"]["sk_ei"])
integ = h(kdf["ike_aes_cbc_128_hmac_sha256"]["sk_ai"])
iv = det("long padding iv", 16)
# A deliberately long padding: payloads (8) + 39 padding octets + Pad Length = 48.
padded = chain([notify(16384)]) + det("padding octets", 39) + bytes([39])
assert len(padded) % 16 == 0
msg = seal_cbc(key, integ, iv, spi_i, spi_r, INFORMATIONAL, 0x08, 7, NOTIFY, padded)
doc["cbc128_long_padding"] = {"sk_e": key.hex(), "sk_a": integ.hex(), "iv": iv.hex(),
                              "inner_chain": chain([notify(16384)]).hex(), "first_inner": NOTIFY,
                              "message": msg.hex()}

# --- AES-GCM-16-128 with an unprotected payload before SK ---------------
keymat = det("gcm128 SK_e", 16 + 4)
inner = [notify(16384), nonce(det("nonce", 32))]
plain = chain(inner)
msg = seal_gcm(keymat, det("gcm128 iv", 8), spi_i, spi_r, INFORMATIONAL, 0x20, 3, NOTIFY, pad(plain, 1),
               outer_payloads=[vendor(b"unprotected vendor id")])
doc["gcm128_outer_payload"] = {"sk_e": keymat.hex(), "outer_chain_first": VENDOR_ID,
                               "outer_vendor_id": b"unprotected vendor id".hex(),
                               "inner_chain": plain.hex(), "first_inner": NOTIFY, "message": msg.hex()}

# --- ECDSA P-256 SHA-256 -------------------------------------------------
n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
d = int.from_bytes(hashlib.sha256(b"ace-ipsec ikev2 ecdsa test key").digest(), "big") % n
sk = ec.derive_private_key(d, ec.SECP256R1())
pub = sk.public_key()
nums = pub.public_numbers()
signed = h(ss["initiator_signed_octets"])
# Two signatures (ECDSA is randomized): one for each encoding.
der = sk.sign(signed, ec.ECDSA(hashes.SHA256()))
r, s = decode_dss_signature(sk.sign(signed, ec.ECDSA(hashes.SHA256())))
alg_id = h("300a06082a8648ce3d040302")  # ecdsa-with-SHA256, RFC 7427 Appendix A
doc["ecdsa"] = {
    "d": d.to_bytes(32, "big").hex(),
    "x": nums.x.to_bytes(32, "big").hex(),
    "y": nums.y.to_bytes(32, "big").hex(),
    "spki_der": pub.public_bytes(serialization.Encoding.DER,
                                 serialization.PublicFormat.SubjectPublicKeyInfo).hex(),
    "signed_octets": signed.hex(),
    "auth_method_9": (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex(),
    "auth_method_14": (bytes([len(alg_id)]) + alg_id + der).hex(),
}

# --- Fragments (RFC 7383) ------------------------------------------------
spki = h(doc["ecdsa"]["spki_der"])
inner = [id_key(b"kid-01"), cert(15, spki), vendor(det("big vendor id", 300)), auth_psk(det("auth", 32))]
plain = chain(inner)
cuts = [0, 150, 151, 400, len(plain)]  # uneven, one 1-octet piece
pieces = [plain[a:b] for a, b in zip(cuts, cuts[1:])]
total = len(pieces)
keymat = det("gcm256 SK_e", 32 + 4)
frags = []
for i, piece in enumerate(pieces, 1):
    frags.append(seal_gcm(keymat, struct.pack(">Q", 1000 + i), spi_i, spi_r, IKE_AUTH, 0x20, 1,
                          IDI if i == 1 else 0, pad(piece, 1), fragment=(i, total)).hex())
doc["skf_gcm256"] = {"sk_e": keymat.hex(), "inner_chain": plain.hex(), "first_inner": IDI,
                     "fragments": frags}
key, integ = det("skf cbc128 SK_e", 16), det("skf cbc128 SK_a", 32)
frags = []
for i, piece in enumerate(pieces, 1):
    frags.append(seal_cbc(key, integ, det(f"skf iv {i}", 16), spi_i, spi_r, IKE_AUTH, 0x08, 1,
                          IDI if i == 1 else 0, pad(piece, 16), fragment=(i, total)).hex())
doc["skf_cbc128"] = {"sk_e": key.hex(), "sk_a": integ.hex(), "inner_chain": plain.hex(),
                     "first_inner": IDI, "fragments": frags}

json.dump(doc, open(os.path.join(HERE, "python_ikev2_sk.json"), "w"), indent=1)
print("ok")
