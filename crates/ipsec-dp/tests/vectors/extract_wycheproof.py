#!/usr/bin/env python3
"""Extracts the subsets of Wycheproof that ipsec-dp's tests use.

Source: github.com/C2SP/wycheproof @ dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166
  testvectors_v1/aes_gcm_test.json  -> wycheproof_aes_gcm_96_128.json
     (AES-128/256, 96-bit IV, 128-bit tag: the shape of RFC 4106 ESP, salt||IV)
  testvectors_v1/aes_ccm_test.json  -> wycheproof_aes_ccm_ivlen11_12.json
     (AES-128/256, 88-bit nonce = RFC 4309's salt||IV; 96-bit nonce with
      64- and 128-bit tags)
  testvectors_v1/chacha20_poly1305_test.json -> wycheproof_chacha20_poly1305.json
     (96-bit nonce = RFC 7634's salt||IV, 128-bit tag)
  testvectors_v1/hmac_sha256_test.json -> wycheproof_hmac_sha256_128.json
     (256-bit keys, 128-bit tags: RFC 4868 HMAC-SHA-256-128)
  testvectors_v1/aes_cbc_pkcs5_test.json -> wycheproof_aes_cbc_valid.json
     (AES-128/256, valid vectors: raw CBC of msg || PKCS#5 padding)
Messages longer than 256 bytes are left out to keep the files small.
Usage: extract_wycheproof.py PATH_TO_WYCHEPROOF_CHECKOUT
"""
import json, subprocess, sys

COMMIT = "dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166"
REPO = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/C2SP+wycheproof/repo"


def load(path):
    return json.loads(subprocess.check_output(["git", "-C", REPO, "show", f"{COMMIT}:{path}"]))


def subset(path, pred, keys=("tcId", "key", "iv", "aad", "msg", "ct", "tag", "result"),
           row_pred=lambda t: True):
    out = []
    for g in load(path)["testGroups"]:
        if not pred(g):
            continue
        for t in g["tests"]:
            if len(t["msg"]) > 2 * 256 or not row_pred(t):
                continue
            row = {k: t[k] for k in keys}
            if "tagSize" in g:
                row["tagSize"] = g["tagSize"]
            out.append(row)
    return {"source": f"C2SP/wycheproof {COMMIT} {path}", "tests": out}


def write(name, d):
    with open(name, "w") as f:
        f.write('{"source": %s,\n "tests": [\n' % json.dumps(d["source"]))
        f.write(",\n".join("  " + json.dumps(t) for t in d["tests"]))
        f.write("\n]}\n")


write("wycheproof_aes_gcm_96_128.json",
      subset("testvectors_v1/aes_gcm_test.json",
             lambda g: g["keySize"] in (128, 256) and g["ivSize"] == 96 and g["tagSize"] == 128))
write("wycheproof_aes_ccm_ivlen11_12.json",
      subset("testvectors_v1/aes_ccm_test.json",
             lambda g: g["keySize"] in (128, 256)
             and (g["ivSize"] == 88 or (g["ivSize"] == 96 and g["tagSize"] in (64, 128)))))
write("wycheproof_chacha20_poly1305.json",
      subset("testvectors_v1/chacha20_poly1305_test.json",
             lambda g: g["ivSize"] == 96 and g["tagSize"] == 128))
write("wycheproof_hmac_sha256_128.json",
      subset("testvectors_v1/hmac_sha256_test.json",
             lambda g: g["keySize"] == 256 and g["tagSize"] == 128,
             keys=("tcId", "key", "msg", "tag", "result")))
write("wycheproof_aes_cbc_valid.json",
      subset("testvectors_v1/aes_cbc_pkcs5_test.json",
             lambda g: g["keySize"] in (128, 256),
             keys=("tcId", "key", "iv", "msg", "ct", "result"),
             row_pred=lambda t: t["result"] == "valid"))
