#!/usr/bin/env python3
"""A small userspace UDP relay that loses and reorders datagrams.

This kernel has no netem, so the lossy-link test (scripts/system-ike-lossy.sh)
puts this relay between two hosts. It listens on one or more addresses
(``--map LISTEN=TARGET``), and for each client address that sends to a
listening socket it opens an upstream socket of its own (bound to
``--out-addr``, an ephemeral port): client -> relay -> target goes out of that
socket, and what the target sends back to it is relayed to the client from
the listening socket. That is a NAT's per-client mapping: the target sees
the relay's address and a port of the relay's choosing, a different one per
listening port (so IKE on 500 and IKE/ESP on the NAT-T port 4500 arrive from
two different relay ports, as through a real NAT).

In each direction of each mapping, independently:

* each datagram is dropped with probability ``--drop`` (default 0.2);
  ``--max-burst K`` (default 0: no cap) forwards a datagram that would be
  the (K+1)-th dropped in a row in that direction (counted as ``spared``);
* otherwise, with probability ``--reorder`` (default 0.1), it is held back
  and sent right after the next datagram in the same direction
  (``reordered``), or after ``--hold-ms`` if none comes (``delayed``);
* ``--jitter-ms J`` delays every forwarded datagram by a random 0..J ms.

Every decision comes from a random stream seeded by ``--seed``, the mapping
and the direction, so the same traffic sees the same losses. Datagrams are
counted by kind: ``ike`` (port 500, or behind the non-ESP marker on the
NAT-T port), ``esp``, ``keepalive``. The counts go to ``--stats FILE`` (JSON)
and stdout on SIGTERM, SIGINT or exit, and to the stats file on SIGUSR1.

    udp-relay.py --map 10.99.1.2:500=10.99.2.1:500 \\
                 --map 10.99.1.2:4500=10.99.2.1:4500 \\
                 --out-addr 10.99.2.2 --drop 0.2 --reorder 0.1 --seed 7 \\
                 --stats /tmp/relay.json --ready /tmp/relay.ready

Python 3 standard library only.
"""

import argparse
import heapq
import json
import os
import random
import selectors
import signal
import socket
import sys
import time

KINDS = ("ike", "esp", "keepalive")
FIELDS = ("received", "forwarded", "dropped", "spared", "reordered", "delayed")


def addr_port(s):
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{s!r}: want ADDRESS:PORT")
    return (host.strip("[]"), int(port))


def mapping(s):
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"{s!r}: want LISTEN=TARGET")
    a, b = s.split("=", 1)
    return addr_port(a), addr_port(b)


def classify(natt, data):
    """RFC 3948: on the NAT-T port, 0xff alone is a keepalive, four zero
    octets start IKE (non-ESP marker), anything else is ESP."""
    if not natt:
        return "ike"
    if data == b"\xff":
        return "keepalive"
    if len(data) >= 4 and data[:4] == b"\0\0\0\0":
        return "ike"
    return "esp"


class Stats:
    def __init__(self):
        self.c = {d: {k: dict.fromkeys(FIELDS, 0) for k in KINDS} for d in ("fwd", "rev")}
        self.flows = 0
        self.foreign = 0
        self.send_errors = 0
        self.started = time.time()

    def add(self, direction, kind, field, n=1):
        self.c[direction][kind][field] += n

    def totals(self):
        t = dict.fromkeys(FIELDS, 0)
        for d in self.c.values():
            for k in d.values():
                for f, n in k.items():
                    t[f] += n
        return t

    def as_json(self, args):
        return {
            "drop": args.drop,
            "reorder": args.reorder,
            "max_burst": args.max_burst,
            "seed": args.seed,
            "seconds": round(time.time() - self.started, 3),
            "flows": self.flows,
            "foreign": self.foreign,
            "send_errors": self.send_errors,
            "total": self.totals(),
            "by_direction": self.c,
        }


class Direction:
    """One direction of one mapping: its random stream, drop burst and the
    datagram held back for reordering."""

    def __init__(self, seed, name):
        self.rng = random.Random(f"{seed}/{name}")
        self.burst = 0
        self.held = None  # (data, sock, addr, kind, timer token)


class Flow:
    def __init__(self, listen_sock, client, up_sock, target, natt, seed, name):
        self.listen_sock = listen_sock
        self.client = client
        self.up = up_sock
        self.target = target
        self.natt = natt
        self.fwd = Direction(seed, name + "/fwd")
        self.rev = Direction(seed, name + "/rev")
        self.last = time.monotonic()


class Relay:
    def __init__(self, args):
        self.args = args
        self.stats = Stats()
        self.sel = selectors.DefaultSelector()
        self.flows = {}  # (listen index, client addr) -> Flow
        self.timers = []  # heap of (deadline, seq, callback)
        self.seq = 0
        self.listeners = []
        for i, (listen, target) in enumerate(args.map):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.bind(listen)
            s.setblocking(False)
            natt = listen[1] == args.natt_port or target[1] == args.natt_port
            self.listeners.append((s, target, natt))
            self.sel.register(s, selectors.EVENT_READ, ("listen", i))

    def timer(self, delay, cb):
        self.seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self.seq, cb))
        return self.seq

    def send(self, sock, data, addr, direction, kind):
        try:
            sock.sendto(data, addr)
            self.stats.add(direction, kind, "forwarded")
        except OSError:
            self.stats.send_errors += 1

    def emit(self, sock, data, addr, direction, kind):
        j = self.args.jitter_ms
        if j > 0:
            d = self.rng_jitter.uniform(0, j) / 1000.0
            self.timer(d, lambda: self.send(sock, data, addr, direction, kind))
        else:
            self.send(sock, data, addr, direction, kind)

    def release_held(self, st, direction, token):
        if st.held is not None and st.held[4] == token:
            data, sock, addr, kind, _ = st.held
            st.held = None
            self.stats.add(direction, kind, "delayed")
            self.emit(sock, data, addr, direction, kind)

    def pass_through(self, st, direction, kind, data, sock, addr):
        a = self.args
        self.stats.add(direction, kind, "received")
        r_drop = st.rng.random()
        r_reorder = st.rng.random()
        if r_drop < a.drop:
            if a.max_burst and st.burst >= a.max_burst:
                self.stats.add(direction, kind, "spared")
                st.burst = 0
            else:
                st.burst += 1
                self.stats.add(direction, kind, "dropped")
                return
        else:
            st.burst = 0
        if st.held is not None:
            # The held datagram goes after this one: reordered.
            hdata, hsock, haddr, hkind, _ = st.held
            st.held = None
            self.emit(sock, data, addr, direction, kind)
            self.stats.add(direction, hkind, "reordered")
            self.emit(hsock, hdata, haddr, direction, hkind)
            return
        if r_reorder < a.reorder:
            self.seq += 1
            token = self.seq
            st.held = (data, sock, addr, kind, token)
            self.timer(a.hold_ms / 1000.0, lambda: self.release_held(st, direction, token))
            return
        self.emit(sock, data, addr, direction, kind)

    def on_listen(self, i):
        s, target, natt = self.listeners[i]
        for _ in range(256):
            try:
                data, client = s.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            key = (i, client)
            f = self.flows.get(key)
            if f is None:
                if len(self.flows) >= self.args.max_flows:
                    self.stats.foreign += 1
                    continue
                up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                up.bind((self.args.out_addr, 0))
                up.setblocking(False)
                name = f"{s.getsockname()[0]}:{s.getsockname()[1]}/{len(self.flows)}"
                f = Flow(s, client, up, target, natt, self.args.seed, name)
                self.flows[key] = f
                self.stats.flows += 1
                self.sel.register(up, selectors.EVENT_READ, ("up", key))
                if self.args.verbose:
                    print(f"flow {client} -> {s.getsockname()} -> {up.getsockname()} -> {target}",
                          flush=True)
            f.last = time.monotonic()
            self.pass_through(f.fwd, "fwd", classify(natt, data), data, f.up, f.target)

    def on_up(self, key):
        f = self.flows.get(key)
        if f is None:
            return
        for _ in range(256):
            try:
                data, src = f.up.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            if src != f.target:
                self.stats.foreign += 1  # endpoint-dependent filtering, as a NAT
                continue
            f.last = time.monotonic()
            self.pass_through(f.rev, "rev", classify(f.natt, data), data, f.listen_sock, f.client)

    def expire_flows(self):
        now = time.monotonic()
        for key, f in list(self.flows.items()):
            if now - f.last > self.args.idle_timeout and f.fwd.held is None and f.rev.held is None:
                self.sel.unregister(f.up)
                f.up.close()
                del self.flows[key]

    def run(self):
        self.rng_jitter = random.Random(f"{self.args.seed}/jitter")
        next_expiry = time.monotonic() + 10
        while True:
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, cb = heapq.heappop(self.timers)
                cb()
            timeout = 1.0
            if self.timers:
                timeout = max(0.0, min(timeout, self.timers[0][0] - time.monotonic()))
            for key, _ in self.sel.select(timeout):
                kind, arg = key.data
                if kind == "listen":
                    self.on_listen(arg)
                else:
                    self.on_up(arg)
            if now >= next_expiry:
                self.expire_flows()
                next_expiry = now + 10


def summary(stats):
    t = stats.totals()
    lines = [
        "relay: {received} received, {forwarded} forwarded, {dropped} dropped, "
        "{spared} spared, {reordered} reordered, {delayed} delayed".format(**t)
    ]
    for d, kinds in stats.c.items():
        for k, c in kinds.items():
            if c["received"]:
                lines.append(
                    f"relay: {d:3} {k:9} " + ", ".join(f"{f} {c[f]}" for f in FIELDS))
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--map", type=mapping, action="append", required=True,
                   metavar="LISTEN=TARGET", help="ADDR:PORT=ADDR:PORT; repeat for more ports")
    p.add_argument("--out-addr", default="0.0.0.0",
                   help="source address of the upstream sockets (default any)")
    p.add_argument("--drop", type=float, default=0.2, help="drop probability (0.2)")
    p.add_argument("--reorder", type=float, default=0.1,
                   help="probability to hold a datagram back behind the next (0.1)")
    p.add_argument("--hold-ms", type=float, default=40.0,
                   help="longest hold of a datagram waiting for the next (40 ms)")
    p.add_argument("--jitter-ms", type=float, default=0.0,
                   help="random delay 0..J ms for every datagram (0)")
    p.add_argument("--max-burst", type=int, default=0,
                   help="at most K drops in a row per direction and mapping (0: no cap)")
    p.add_argument("--seed", default="1", help="seed of the random streams")
    p.add_argument("--natt-port", type=int, default=4500,
                   help="the NAT-T port (IKE behind the non-ESP marker and ESP share it)")
    p.add_argument("--idle-timeout", type=float, default=600.0, help="forget a mapping idle this long")
    p.add_argument("--max-flows", type=int, default=1024)
    p.add_argument("--stats", help="write the counts (JSON) here on exit and on SIGUSR1")
    p.add_argument("--ready", help="create this file once the sockets are bound")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    if not 0 <= args.drop < 1 or not 0 <= args.reorder <= 1:
        p.error("--drop must be in [0, 1), --reorder in [0, 1]")

    relay = Relay(args)

    def write_stats():
        if args.stats:
            tmp = args.stats + ".tmp"
            with open(tmp, "w") as f:
                json.dump(relay.stats.as_json(args), f, indent=1)
            os.replace(tmp, args.stats)

    done = []

    def finish(*_):
        if done:
            return
        done.append(1)
        write_stats()
        print(summary(relay.stats), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    signal.signal(signal.SIGUSR1, lambda *_: write_stats())
    write_stats()
    if args.ready:
        open(args.ready, "w").close()
    try:
        relay.run()
    finally:
        finish()


if __name__ == "__main__":
    main()
