#!/usr/bin/env python3
"""Record and replay sync datagrams, for the mixed-module pairings (mixed.sh).

  syncrec.py record GROUP PORT IFADDR OUT SECS   join GROUP on the interface with IFADDR,
                                                 write every datagram to PORT for SECS
                                                 seconds to OUT (one hex line each)
  syncrec.py replay GROUP PORT IFADDR IN         send IN's datagrams to GROUP:PORT out of the
                                                 interface with IFADDR (TTL 1), in order
"""
import socket
import struct
import sys
import time


def record(group, port, ifaddr, out, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((group, port))
    mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(ifaddr))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    end = time.time() + secs
    n = 0
    with open(out, "w") as f:
        while time.time() < end:
            s.settimeout(max(0.05, end - time.time()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            f.write(d.hex() + "\n")
            f.flush()
            n += 1
    print("recorded %d" % n)
    return 0


def replay(group, port, ifaddr, inp):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    n = 0
    with open(inp) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            s.sendto(bytes.fromhex(line), (group, port))
            n += 1
            time.sleep(0.005)
    print("replayed %d" % n)
    return 0


def main(a):
    if len(a) == 7 and a[1] == "record":
        return record(a[2], int(a[3]), a[4], a[5], float(a[6]))
    if len(a) == 6 and a[1] == "replay":
        return replay(a[2], int(a[3]), a[4], a[5])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
