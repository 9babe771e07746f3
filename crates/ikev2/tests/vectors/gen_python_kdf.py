#!/usr/bin/env python3
"""Independent computation (Python's hmac/hashlib, nothing from this crate)
of the RFC 7296 key schedule for cases the NIST vectors do not cover:
Child SA KEYMAT with and without PFS (§2.17), the IKE SA key split for
AES-CBC-128 + HMAC-SHA-256-128 and AES-CCM-8-128 (§2.14, RFC 5282 §7.1),
and a shared-key AUTH (§2.15). Inputs are the NIST CAVP sample
(nist_cavp_ikev2_sha256.json, NSS id 6/7/8). Writes python_ikev2_kdf.json."""
import hashlib, hmac, json

def prf(k, d):
    return hmac.new(k, d, hashlib.sha256).digest()

def prf_plus(k, s, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = prf(k, t + s + bytes([i]))
        out += t
        i += 1
    return out[:n]

h = bytes.fromhex
ni, nr = h("3f302be1abcb28e1"), h("8c332ee006064c9b")
spi_i, spi_r = h("40dac39e1e1a8640"), h("8619a1cf9a6e4c07")
g_ir = h("0f4d257d7a58fc4545c7d7a88119eee5d5c9690c5b4c989171d3abbfd99d1d29")
g_ir_new = h("25f3b12d6f282739256e39bf54eda53b60ffcf379bb7bcc90c27b4c4c578616c")
skeyseed = prf(ni + nr, g_ir)
assert skeyseed.hex() == "5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe"

def ike_keys(encr_len, integ_len):
    lens = [32, integ_len, integ_len, encr_len, encr_len, 32, 32]
    km = prf_plus(skeyseed, ni + nr + spi_i + spi_r, sum(lens))
    names = ["sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"]
    out, at = {}, 0
    for name, n in zip(names, lens):
        out[name] = km[at:at + n].hex()
        at += n
    return out

cbc = ike_keys(16, 32)      # ENCR_AES_CBC 128 + AUTH_HMAC_SHA2_256_128
ccm = ike_keys(16 + 3, 0)   # ENCR_AES_CCM_8 128: key | 3-octet salt, no SK_a
sk_d = h(cbc["sk_d"])

def child(sk_d, encr_len, integ_len, pfs):
    seed = (g_ir_new if pfs else b"") + ni + nr
    km = prf_plus(sk_d, seed, 2 * (encr_len + integ_len))
    e, a = encr_len, integ_len
    return {"encr_i": km[:e].hex(), "integ_i": km[e:e + a].hex(),
            "encr_r": km[e + a:2 * e + a].hex(), "integ_r": km[2 * e + a:].hex()}

# PSK AUTH over an arbitrary message, nonce and ID (ID_KEY_ID "kid-01").
real_message1 = bytes(range(64))
id_body = h("0b000000") + b"kid-01"
psk = b"a shared secret of the token"
maced = prf(h(cbc["sk_pi"]), id_body)
octets = real_message1 + nr + maced
auth = prf(prf(psk, b"Key Pad for IKEv2"), octets)

doc = {
    "source": "gen_python_kdf.py (Python hmac/hashlib), inputs from the NIST CAVP sample in nist_cavp_ikev2_sha256.json",
    "ni": ni.hex(), "nr": nr.hex(), "spi_i": spi_i.hex(), "spi_r": spi_r.hex(),
    "g_ir": g_ir.hex(), "g_ir_new": g_ir_new.hex(),
    "ike_aes_cbc_128_hmac_sha256": cbc,
    "ike_aes_ccm8_128": ccm,
    "child_aes_gcm16_256_no_pfs": child(sk_d, 36, 0, False),
    "child_aes_gcm16_256_pfs": child(sk_d, 36, 0, True),
    "child_aes_cbc_128_hmac_sha256_no_pfs": child(sk_d, 16, 32, False),
    "child_aes_cbc_128_hmac_sha256_pfs": child(sk_d, 16, 32, True),
    "psk_auth": {"real_message": real_message1.hex(), "nonce_r": nr.hex(), "id_body": id_body.hex(),
                 "sk_pi": cbc["sk_pi"], "psk": psk.hex(), "maced_id": maced.hex(),
                 "signed_octets": octets.hex(), "auth": auth.hex()},
}
json.dump(doc, open(__file__.rsplit("/", 1)[0] + "/python_ikev2_kdf.json", "w"), indent=1)
print("ok")
