#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""UDP probe for tests/vm/rel/dproute.sh (runs in the guest's namespaces).

  udpx.py serve ADDR PORT [--reply N] [--count FILE]
      Answers every datagram with N bytes (0: no answer; default 32) from ADDR:PORT (bound
      with IP_FREEBIND, so an AnyIP address works). With --count, FILE holds the number of
      datagrams received so far. Runs until killed; prints "ready" on stdout once bound.

  udpx.py ask DST PORT --src ADDR[,ADDR...] [--tries K] [--gap S] [--wait S] [--size N]
      From each source address (port chosen by the kernel), sends an N-byte request (default
      16) to DST:PORT up to K times (default 3), S seconds apart (default 0.3), until that
      source gets an answer; then waits up to --wait seconds (default 2) for late answers.
      Prints per source: "SRC from ADDR PORT SIZE" (the first answer) or "SRC none".
"""
import argparse
import os
import select
import socket
import sys
import time

IP_FREEBIND = 15
IPV6_FREEBIND = 78


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def bound_socket(addr, port):
    fam = family_of(addr)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
    s.bind((addr, port))
    return s


def serve(a):
    s = bound_socket(a.addr, a.port)
    n = 0
    if a.count:
        with open(a.count + ".tmp", "w") as f:
            f.write("0\n")
        os.replace(a.count + ".tmp", a.count)
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        n += 1
        if a.count:
            with open(a.count + ".tmp", "w") as f:
                f.write("%d\n" % n)
            os.replace(a.count + ".tmp", a.count)
        if a.reply > 0:
            s.sendto(b"R" * a.reply, peer)


def ask(a):
    srcs = a.src.split(",")
    socks = {}
    for src in srcs:
        socks[src] = bound_socket(src, 0)
    got = {}
    sent = {src: 0 for src in srcs}
    req = b"Q" * a.size
    next_send = time.monotonic()
    deadline = None
    while True:
        now = time.monotonic()
        pending = [src for src in srcs if src not in got]
        if not pending:
            break
        if now >= next_send:
            left = [src for src in pending if sent[src] < a.tries]
            for src in left:
                socks[src].sendto(req, (a.dst, a.port))
                sent[src] += 1
            next_send = now + a.gap
            if not left and deadline is None:
                deadline = now + a.wait
        if deadline is not None and now >= deadline:
            break
        until = next_send if deadline is None else min(next_send, deadline)
        r, _, _ = select.select([socks[src] for src in pending], [], [], max(0.0, until - now))
        for src in pending:
            if socks[src] in r:
                data, peer = socks[src].recvfrom(65535)
                got[src] = "from %s %d %d" % (peer[0], peer[1], len(data))
    for src in srcs:
        print("%s %s" % (src, got.get(src, "none")))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("serve")
    sv.add_argument("addr")
    sv.add_argument("port", type=int)
    sv.add_argument("--reply", type=int, default=32)
    sv.add_argument("--count")
    ak = sub.add_parser("ask")
    ak.add_argument("dst")
    ak.add_argument("port", type=int)
    ak.add_argument("--src", required=True)
    ak.add_argument("--tries", type=int, default=3)
    ak.add_argument("--gap", type=float, default=0.3)
    ak.add_argument("--wait", type=float, default=2.0)
    ak.add_argument("--size", type=int, default=16)
    a = p.parse_args()
    if a.cmd == "serve":
        serve(a)
    else:
        ask(a)


if __name__ == "__main__":
    sys.exit(main())
