#!/usr/bin/env python3
"""Turns a capture.sh run (ike.pcap + charon key logs) into
../strongswan_psk_exchange.json: the four IKE messages as sent on the wire
(non-ESP marker removed on port 4500) and the values charon logged at
ike/lib level 4 (DH secret, SKEYSEED, SK_*, the signed octets and AUTH of
both sides). Standard library only."""
import json, re, struct, sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ikev2-swcap"


def pcap_udp_payloads(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic == 0xA1B2C3D4, "little-endian microsecond pcap expected"
    off, msgs = 24, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        assert frame[12:14] == b"\x08\x00", "IPv4 over Ethernet expected"
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        assert ip[9] == 17
        udp = ip[ihl:]
        sport, dport, ulen = struct.unpack(">HHH", udp[:6])
        payload = udp[8:ulen]
        if 4500 in (sport, dport):
            assert payload[:4] == b"\x00\x00\x00\x00", "non-ESP marker expected"
            payload = payload[4:]
        msgs.append({"src_port": sport, "dst_port": dport, "hex": payload.hex()})
    return msgs


def log_blocks(path):
    """[(label, bytes)] for every 'label => N bytes @ addr' hex dump."""
    lines = open(path, errors="replace").read().splitlines()
    blocks = []
    head = re.compile(r"^(\d+)\[\w+\] (.*) => (\d+) bytes @ ")
    row = re.compile(r"^(\d+)\[\w+\]\s+(\d+): ((?:[0-9A-F]{2} ?)+)")
    for i, line in enumerate(lines):
        m = head.match(line)
        if not m:
            continue
        thread, label, n, buf = m.group(1), m.group(2), int(m.group(3)), b""
        # Rows of the dump come from the same thread; other threads' lines
        # may be interleaved.
        for nxt in lines[i + 1:i + 200]:
            if len(buf) >= n:
                break
            r = row.match(nxt)
            if r and r.group(1) == thread and int(r.group(2)) == len(buf):
                buf += bytes.fromhex(r.group(3).replace(" ", "")[: 2 * (n - len(buf))])
        if len(buf) == n:
            blocks.append((label, buf))
    return blocks


def first(blocks, label):
    return next(b for l, b in blocks if l == label).hex()


msgs = pcap_udp_payloads(f"{OUT}/ike.pcap")
assert len(msgs) == 4, len(msgs)
ini = log_blocks(f"{OUT}/initiator.log")
rsp = log_blocks(f"{OUT}/responder.log")
doc = {
    "source": "Captured on this machine by crates/ikev2/tests/vectors/strongswan/capture.sh: "
    "two strongSwan 5.9.8 charon daemons (Debian 12 strongswan-charon 5.9.8-5+deb12u6) "
    "in two network namespaces, PSK, proposals aes256gcm16-prfsha256-ecp256, "
    "IDi ID_KEY_ID 'kid-01', IDr ID_FQDN 'server.example'; messages from tcpdump, "
    "secrets from charon's own key log (ike/lib level 4); extracted by extract.py. "
    "The Child SA fails on the responder (this kernel has no ESP), so the IKE_AUTH "
    "response carries NO_PROPOSAL_CHOSEN; the IKE SA is established.",
    "psk": "ace-ipsec strongSwan capture PSK",
    "ike_sa_init_request": msgs[0]["hex"],
    "ike_sa_init_response": msgs[1]["hex"],
    "ike_auth_request": msgs[2]["hex"],
    "ike_auth_response": msgs[3]["hex"],
    "ike_auth_ports": [msgs[2]["src_port"], msgs[2]["dst_port"]],
    "g_ir": first(ini, "shared Diffie Hellman secret"),
    "skeyseed": first(ini, "SKEYSEED"),
    "sk_d": first(ini, "Sk_d secret"),
    "sk_ei": first(ini, "Sk_ei secret"),
    "sk_er": first(ini, "Sk_er secret"),
    "sk_pi": first(ini, "Sk_pi secret"),
    "sk_pr": first(ini, "Sk_pr secret"),
    "initiator_id_body": first(ini, "IDx'"),
    "initiator_signed_octets": first(ini, "octets = message + nonce + prf(Sk_px, IDx')"),
    "initiator_prf_secret_keypad": first(ini, "prf(secret, keypad)"),
    "initiator_auth": first(ini, "AUTH = prf(prf(secret, keypad), octets)"),
}
# The responder's log: first the verification of the initiator's AUTH, then
# its own AUTH; take the block sequence after its own "authentication of
# 'server.example' (myself)" is logged, i.e. the last octets/AUTH pair.
octs = [b for l, b in rsp if l.startswith("octets = message")]
auths = [b for l, b in rsp if l.startswith("AUTH = prf(prf(secret")]
ids = [b for l, b in rsp if l == "IDx'"]
doc["responder_id_body"] = ids[-1].hex()
doc["responder_signed_octets"] = octs[-1].hex()
doc["responder_auth"] = auths[-1].hex()
json.dump(doc, open(__file__.rsplit("/", 2)[0] + "/strongswan_psk_exchange.json", "w"), indent=1)
print("wrote", len(msgs), "messages;", [l for l, _ in rsp if "octets" in l or "AUTH =" in l or l == "IDx'"])
