#!/usr/bin/env python3
"""An IKE_SA_INIT flood, built from RFC 7296 by hand (not from ace-ipsec's
code), for scripts/system-ike-flood.sh.

It sends --count (default 100 000) IKE_SA_INIT requests to --target from
--sockets UDP sockets (default 2 000, each bound to its own port, spread
over the --src addresses), each request with a fresh random SPIi and one
IKE proposal: ENCR_AES_GCM_16 with a 256-bit key, PRF_HMAC_SHA2_256,
D-H group 31 (Curve25519, RFC 8031), a 32-octet KE, a 32-octet nonce and
both NAT detection notifies (RFC 7296 §2.23). It counts the answers by kind:
a COOKIE notify (§2.6), a full IKE_SA_INIT response (SA KE Nr ...),
NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD, anything else; answers are matched
to the requests by SPIi.

With --echo-cookies N, once the flood is sent, the first N cookies are
returned as §2.6 says (the same request with N(COOKIE) as the first
payload): the responder must then answer each with a full response, which
checks the cookie exchange against these independent bytes.

--rate paces the flood (requests per second; 0: as fast as it goes). The
counts go to --json FILE and stdout. --started FILE is created when the
first request has gone, --sent FILE when the last one has.

Python 3 standard library only; run as root for thousands of sockets.
"""

import argparse
import hashlib
import ipaddress
import json
import os
import resource
import select
import socket
import struct
import sys
import time

# RFC 7296 §3 numbers.
IKE_SA_INIT = 34
PT_SA, PT_KE, PT_NONCE, PT_N = 33, 34, 40, 41
FLAG_I, FLAG_R = 0x08, 0x20
N_COOKIE = 16390
N_NATD_SRC, N_NATD_DST = 16388, 16389
N_NO_PROPOSAL_CHOSEN, N_INVALID_KE_PAYLOAD, N_INVALID_SYNTAX = 14, 17, 7
T_ENCR, T_PRF, T_DH = 1, 2, 4
ENCR_AES_GCM_16, PRF_HMAC_SHA2_256, DH_CURVE25519 = 20, 5, 31
ATTR_KEY_LENGTH = 14


def transform(last, ttype, tid, attrs=b""):
    """§3.3.2: Last Substruc (0 last, 3 more), length, type, ID, attributes."""
    return struct.pack(">BBHBBH", 0 if last else 3, 0, 8 + len(attrs), ttype, 0, tid) + attrs


def sa_payload(next_payload):
    """§3.3: one IKE proposal, AES-GCM-16/256, PRF-HMAC-SHA2-256, Curve25519
    (an AEAD: no integrity transform, §3.3.3)."""
    ts = (transform(False, T_ENCR, ENCR_AES_GCM_16,
                    struct.pack(">HH", 0x8000 | ATTR_KEY_LENGTH, 256))  # TV format
          + transform(False, T_PRF, PRF_HMAC_SHA2_256)
          + transform(True, T_DH, DH_CURVE25519))
    # §3.3.1: Last Substruc 0, length, Proposal Num 1, Protocol ID 1 (IKE),
    # SPI Size 0, three transforms.
    prop = struct.pack(">BBHBBBB", 0, 0, 8 + len(ts), 1, 1, 0, 3) + ts
    return struct.pack(">BBH", next_payload, 0, 4 + len(prop)) + prop


def notify(next_payload, ntype, data):
    """§3.10: Protocol ID 0, SPI Size 0, type, data."""
    return struct.pack(">BBHBBH", next_payload, 0, 8 + len(data), 0, 0, ntype) + data


def natd(spi_i, ip, port):
    """§2.23: SHA-1(SPIi | SPIr | IP | Port), SPIr zero in the request."""
    return hashlib.sha1(spi_i + bytes(8) + ipaddress.ip_address(ip).packed
                        + struct.pack(">H", port)).digest()


SA = sa_payload(PT_KE)


def init_request(spi_i, src, dst, cookie=None):
    """The IKE_SA_INIT request for this SPIi: KE data and nonce are derived
    from the SPIi, so the same request can be built again with a cookie."""
    ke_data = hashlib.sha256(b"KE" + spi_i).digest()  # any 32 octets is an X25519 key
    ni = hashlib.sha256(b"Ni" + spi_i).digest()
    body = (SA
            + struct.pack(">BBHHH", PT_NONCE, 0, 8 + 32, DH_CURVE25519, 0) + ke_data  # §3.4
            + struct.pack(">BBH", PT_N, 0, 4 + 32) + ni  # §3.9
            + notify(PT_N, N_NATD_SRC, natd(spi_i, *src))
            + notify(0, N_NATD_DST, natd(spi_i, *dst)))
    first = PT_SA
    if cookie is not None:
        body = notify(PT_SA, N_COOKIE, cookie) + body  # §2.6: the first payload
        first = PT_N
    # §3.1: SPIi, SPIr 0, Next Payload, Version 2.0, IKE_SA_INIT, Initiator,
    # Message ID 0, Length.
    hdr = spi_i + bytes(8) + struct.pack(">BBBBII", first, 0x20, IKE_SA_INIT, FLAG_I, 0, 28 + len(body))
    return hdr + body


def payloads(d):
    """(type, body) of each payload of a message, or None if malformed."""
    if len(d) < 28 or struct.unpack(">I", d[24:28])[0] != len(d):
        return None
    out = []
    np, off = d[16], 28
    while np != 0:
        if off + 4 > len(d):
            return None
        nxt, _, plen = struct.unpack(">BBH", d[off:off + 4])
        if plen < 4 or off + plen > len(d):
            return None
        out.append((np, d[off + 4:off + plen]))
        np, off = nxt, off + plen
    return out


def classify(d):
    """An answer's kind and, for a COOKIE, the cookie."""
    if len(d) < 28 or d[17] != 0x20 or d[18] != IKE_SA_INIT or not d[19] & FLAG_R \
            or struct.unpack(">I", d[20:24])[0] != 0:
        return "other", None
    ps = payloads(d)
    if not ps:
        return "malformed", None
    t, body = ps[0]
    if t == PT_N and len(body) >= 4:
        spi_size = body[1]
        ntype = struct.unpack(">H", body[2:4])[0]
        data = body[4 + spi_size:]
        if ntype == N_COOKIE:
            # Ours: a version octet and HMAC-SHA-256; §2.6 allows 1..64 octets.
            return ("cookie", data) if 1 <= len(data) <= 64 else ("malformed", None)
        return {N_NO_PROPOSAL_CHOSEN: "no_proposal_chosen",
                N_INVALID_KE_PAYLOAD: "invalid_ke",
                N_INVALID_SYNTAX: "invalid_syntax"}.get(ntype, f"notify_{ntype}"), None
    if t == PT_SA and d[8:16] != bytes(8):
        kinds = [p[0] for p in ps]
        ke = [b for (pt, b) in ps if pt == PT_KE]
        # The answer must carry our one suite's group and a 32-octet key.
        if PT_NONCE in kinds and ke and struct.unpack(">H", ke[0][:2])[0] == DH_CURVE25519 \
                and len(ke[0]) == 4 + 32:
            return "full", None
        return "full_bad", None
    return "other", None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="ADDR[:PORT], port 500 by default")
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--sockets", type=int, default=2_000)
    p.add_argument("--src", action="append", default=[],
                   help="source address (repeat: the sockets are spread over them)")
    p.add_argument("--rate", type=float, default=0, help="requests per second (0: no pacing)")
    p.add_argument("--echo-cookies", type=int, default=0)
    p.add_argument("--drain", type=float, default=2.0,
                   help="seconds to keep reading after the last answer")
    p.add_argument("--json", help="write the counts here")
    p.add_argument("--started", help="create this file when the first request is sent")
    p.add_argument("--sent", help="create this file when the last request is sent")
    a = p.parse_args()

    host, _, port = a.target.rpartition(":") if a.target.count(":") == 1 else (a.target, "", "500")
    dst = (host, int(port or 500))
    srcs = a.src or ["0.0.0.0"]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.sockets + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY
                                                    else want, hard))

    socks, local = [], []
    ep = select.epoll()
    for i in range(a.sockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        s.bind((srcs[i % len(srcs)], 0))
        s.connect(dst)  # answers from anywhere else are not ours
        s.setblocking(False)
        socks.append(s)
        local.append(s.getsockname())
        ep.register(s.fileno(), select.EPOLLIN)
    by_fd = {s.fileno(): i for i, s in enumerate(socks)}
    ports = {(ip, port) for ip, port in local}

    c = {"sent": 0, "send_errors": 0, "answers": 0, "unmatched": 0}
    kinds = {}
    sent_by = {}   # SPIi -> socket index
    answered = set()
    cookies = []   # (SPIi, cookie) in arrival order
    echoed = {}    # SPIi -> cookie
    echo_full = set()
    cookie_lens = set()

    def drain(timeout):
        got = 0
        for fd, _ in ep.poll(timeout):
            s = socks[by_fd[fd]]
            while True:
                try:
                    d = s.recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break  # e.g. ICMP port unreachable
                got += 1
                c["answers"] += 1
                spi = d[:8]
                if spi not in sent_by:
                    c["unmatched"] += 1
                    continue
                kind, cookie = classify(d)
                if spi in echoed:
                    if kind == "full":
                        echo_full.add(spi)
                    kind = "after_cookie_" + kind
                else:
                    answered.add(spi)
                kinds[kind] = kinds.get(kind, 0) + 1
                if cookie is not None:
                    cookie_lens.add(len(cookie))
                    if len(cookies) < max(a.echo_cookies, 0) * 4:
                        cookies.append((spi, cookie))
        return got

    t0 = time.monotonic()
    batch = 200
    n = 0
    while n < a.count:
        for _ in range(min(batch, a.count - n)):
            i = n % a.sockets
            spi = os.urandom(8)
            if spi == bytes(8):
                spi = b"\x01" + spi[1:]
            sent_by[spi] = i
            try:
                socks[i].send(init_request(spi, local[i], dst))
                c["sent"] += 1
            except OSError:
                c["send_errors"] += 1  # e.g. ENOBUFS: counted, not retried
            n += 1
            if n == 1 and a.started:
                open(a.started, "w").close()
        drain(0)
        if a.rate > 0:
            ahead = n / a.rate - (time.monotonic() - t0)
            if ahead > 0:
                drain(ahead)
    t_sent = time.monotonic() - t0
    if a.sent:
        open(a.sent, "w").close()

    # Read the rest of the answers until quiet.
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < a.drain:
        if drain(0.1):
            quiet_since = time.monotonic()

    # Return cookies (RFC 7296 §2.6), each request again with N(COOKIE) first.
    for attempt in range(3):
        todo = [(spi, ck) for spi, ck in cookies if spi not in echo_full][: a.echo_cookies - len(echo_full)]
        if a.echo_cookies <= 0 or not todo:
            break
        for spi, ck in todo:
            echoed[spi] = ck
            i = sent_by[spi]
            try:
                socks[i].send(init_request(spi, local[i], dst, cookie=ck))
                c["echo_sent"] = c.get("echo_sent", 0) + 1
            except OSError:
                c["send_errors"] += 1
        end = time.monotonic() + 1.0
        while time.monotonic() < end and not all(s in echo_full for s, _ in todo):
            drain(0.05)
    t_all = time.monotonic() - t0

    res = {
        "target": f"{dst[0]}:{dst[1]}",
        "requests_sent": c["sent"],
        "send_errors": c["send_errors"],
        "sockets": len(socks),
        "source_ports": len(ports),
        "source_addresses": sorted({ip for ip, _ in local}),
        "request_bytes": len(init_request(b"\x01" * 8, local[0], dst)),
        "send_seconds": round(t_sent, 3),
        "send_rate": round(c["sent"] / t_sent) if t_sent > 0 else None,
        "answers": c["answers"],
        "answers_unmatched": c["unmatched"],
        "requests_answered": len(answered),
        "by_kind": dict(sorted(kinds.items())),
        "cookie_lengths": sorted(cookie_lens),
        "cookies_echoed": len(echoed),
        "echo_sent": c.get("echo_sent", 0),
        "full_after_cookie": len(echo_full),
        "seconds": round(t_all, 3),
    }
    text = json.dumps(res, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
