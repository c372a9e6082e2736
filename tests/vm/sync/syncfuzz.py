#!/usr/bin/env python3
"""Hostile sync datagrams for fuzz.sh: the same sequence for every backup under test.

  syncfuzz.py gen SEED COUNT OUT          write COUNT datagrams (hex, one per line) to OUT
  syncfuzz.py send GROUP PORT IFADDR IN   send IN's datagrams to GROUP:PORT out of IFADDR

The datagrams: well-formed version 1 messages (IPv4 and IPv6 entries, TCP/UDP/SCTP and
others, templates, random flags and states, timeouts of at least 300 s, options: sequence
data, PE name/data, unknown ones with and without the mandatory bit) and version 0 messages,
then mutated: bit flips, truncations, wrong sizes and counts, appended bytes, entry lengths
and versions changed; and some pure garbage. Addresses come from 10.77.0.0/16 and
fd77::/64 (never routed anywhere), virtual addresses include the service fuzz.sh configures.
"""
import random
import socket
import struct
import sys
import time

VIP4 = bytes([10, 77, 0, 100])
RIPS4 = [bytes([10, 77, 0, 21]), bytes([10, 77, 0, 22])]


def rand_v4(r):
    if r.random() < 0.5:
        return VIP4 if r.random() < 0.5 else r.choice(RIPS4)
    return bytes([10, 77, r.randrange(256), r.randrange(256)])


def rand_v6(r):
    return bytes([0xFD, 0x77] + [0] * 6 + [r.randrange(256) for _ in range(8)])


def options(r):
    out = b""
    for _ in range(r.choice([0, 0, 0, 1, 2])):
        kind = r.choice([1, 2, 3, 4, 0x81, 0x7F, 0])
        if kind == 1:  # IPVS_OPT_SEQ_DATA
            data = bytes(r.randrange(256) for _ in range(r.choice([24, 24, 12, 30])))
        elif kind == 2:  # PE_DATA
            data = bytes(r.randrange(256) for _ in range(r.randrange(0, 40)))
        elif kind == 3:  # PE_NAME
            data = r.choice([b"sip", b"sip\0", b"x" * 20, b""])
        else:
            data = bytes(r.randrange(256) for _ in range(r.randrange(0, 12)))
        out += bytes([kind, len(data) & 0xFF]) + data
    return out


def entry_v1(r):
    v6 = r.random() < 0.3
    proto = r.choice([6, 6, 6, 17, 17, 132, 50, 51, 0, r.randrange(256)])
    flags = r.getrandbits(16) if r.random() < 0.3 else r.choice([0x3, 0x2, 0x0, 0x1003, 0x1000, 0x103, 0x3 | 0x100])
    state = r.randrange(0, 12) if r.random() < 0.9 else r.randrange(65536)
    timeout = r.randrange(300, 100000) if r.random() < 0.95 else r.getrandbits(32)
    if v6:
        addrs = rand_v6(r) + rand_v6(r) + rand_v6(r)
        body = struct.pack("!BBHIHHHHII", 1, proto, 0, flags, state, r.randrange(65536), r.choice([80, 8080, r.randrange(65536)]),
                           r.choice([80, r.randrange(65536)]), r.choice([0, 0, 7]), timeout) + addrs
    else:
        addrs = rand_v4(r) + VIP4 + r.choice(RIPS4) if r.random() < 0.6 else rand_v4(r) + rand_v4(r) + rand_v4(r)
        body = struct.pack("!BBHIHHHHII", 0, proto, 0, flags, state, r.randrange(65536), r.choice([80, 80, r.randrange(65536)]),
                           r.choice([80, r.randrange(65536)]), r.choice([0, 0, 7]), timeout) + addrs
    body += options(r)
    size = len(body)
    body = body[:2] + struct.pack("!H", size & 0x0FFF) + body[4:]
    return body


def mesg_v1(r, syncid):
    entries = [entry_v1(r) for _ in range(r.randrange(1, 12))]
    payload = b""
    for e in entries:
        payload += e + b"\0" * ((4 - len(e) % 4) % 4)
    size = 8 + len(payload)
    return struct.pack("!BBHBBH", 0, syncid, size, len(entries), 1, 0) + payload


def mesg_v0(r, syncid):
    n = r.randrange(1, 10)
    payload = b""
    for _ in range(n):
        flags = r.choice([0x3, 0x2, 0x0, 0x1003, 0x200 | 0x3, r.getrandbits(16)])
        payload += struct.pack("!BBHHH", 0, r.choice([6, 17, 132, 9]), r.randrange(65536), r.choice([80, r.randrange(65536)]),
                               r.choice([80, r.randrange(65536)]))
        payload += rand_v4(r) + VIP4 + r.choice(RIPS4)
        payload += struct.pack("!HH", flags, r.randrange(0, 12))
        if flags & 0x600:
            payload += bytes(r.randrange(256) for _ in range(24))
    return struct.pack("!BBH", n, syncid, 4 + len(payload)) + payload


def mutate(r, m):
    m = bytearray(m)
    kind = r.randrange(7)
    if kind == 0 and m:
        for _ in range(r.randrange(1, 6)):
            i = r.randrange(len(m))
            m[i] ^= 1 << r.randrange(8)
    elif kind == 1 and len(m) > 1:
        m = m[: r.randrange(1, len(m))]
        if r.random() < 0.7 and len(m) >= 4:
            m[2:4] = struct.pack("!H", len(m))
    elif kind == 2:
        m += bytes(r.randrange(256) for _ in range(r.randrange(1, 40)))
        if r.random() < 0.7 and len(m) >= 4:
            m[2:4] = struct.pack("!H", len(m))
    elif kind == 3 and len(m) >= 5:
        m[4] = r.randrange(256)  # nr_conns
    elif kind == 4 and len(m) >= 12:
        i = 8 + 2
        m[i : i + 2] = struct.pack("!H", r.randrange(65536))  # first entry's ver_size
    elif kind == 5 and len(m) >= 8:
        m[r.choice([0, 5, 6, 7])] = r.randrange(256)  # reserved, version, spare
    else:
        m[2:4] = struct.pack("!H", r.randrange(65536))
    return bytes(m)


def gen(seed, count, out):
    r = random.Random(seed)
    with open(out, "w") as f:
        for _ in range(count):
            syncid = r.choice([9, 9, 9, 0, 10])
            x = r.random()
            if x < 0.05:
                m = bytes(r.randrange(256) for _ in range(r.randrange(0, 200)))
            else:
                m = mesg_v1(r, syncid) if r.random() < 0.75 else mesg_v0(r, syncid)
                if x < 0.65:
                    m = mutate(r, m)
            f.write(m.hex() + "\n")
    return 0


def send(group, port, ifaddr, inp):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    n = 0
    with open(inp) as f:
        for line in f:
            d = bytes.fromhex(line.strip())
            try:
                s.sendto(d, (group, port))
            except OSError:
                pass  # an empty datagram on some kernels, or a too-long one
            n += 1
            time.sleep(0.004)
    print("sent %d" % n)
    return 0


def main(a):
    if len(a) == 5 and a[1] == "gen":
        return gen(int(a[2]), int(a[3]), a[4])
    if len(a) == 6 and a[1] == "send":
        return send(a[2], int(a[3]), a[4], a[5])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
