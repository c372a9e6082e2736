#!/usr/bin/python3
"""Packet helpers for tests/vm/dp/knobs.sh (guest side, stdlib only).

  knobs.py icmperr DST QSRC QSPORT QDST QDPORT tcp|udp
      Send to DST an ICMP error about a packet QSRC:QSPORT -> QDST:QDPORT (the family of
      DST): IPv4 "fragmentation needed" (type 3 code 4, MTU 1200), IPv6 "packet too big"
      (type 2, MTU 1280), quoting the packet's IP header and its first 20 (TCP: a SYN+ACK)
      or 8 (UDP) transport bytes, as a router near a client would about a reply of a
      service (QSRC:QSPORT the service, QDST:QDPORT the client).
  knobs.py udpfrom SRC SPORT DST DPORT N
      Send N UDP datagrams from SRC:SPORT to DST:DPORT, 100 ms apart (a real server's
      packets that no connection explains).
  knobs.py tcprst SRC SPORT DST DPORT
      Send one TCP RST from SRC:SPORT to DST:DPORT through a raw socket.
  knobs.py bigdf DST PORT N SIZE
      Send N UDP datagrams of SIZE payload bytes to DST:PORT with DF set (IPv4,
      IP_PMTUDISC_DO), 100 ms apart; print "sent=K emsgsize=E" (E: refused by the socket
      because the path MTU it learnt is smaller).
"""
import errno
import socket
import struct
import sys
import time

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DO = 2


def csum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def quoted_l4(proto, sport, dport):
    if proto == "tcp":
        # SYN+ACK, data offset 5; the checksum is not looked at by anyone.
        return struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000, 5 << 4, 0x12, 65535, 0, 0)
    return struct.pack("!HHHH", sport, dport, 8 + 32, 0)


def icmperr(dst, qsrc, qsport, qdst, qdport, proto):
    l4 = quoted_l4(proto, qsport, qdport)
    pnum = 6 if proto == "tcp" else 17
    if ":" in dst:
        plen = len(l4) if proto == "tcp" else 8 + 32
        quoted = struct.pack("!IHBB", 6 << 28, plen, pnum, 64)
        quoted += socket.inet_pton(socket.AF_INET6, qsrc) + socket.inet_pton(socket.AF_INET6, qdst)
        # Packet too big, MTU 1280; the kernel fills in the ICMPv6 checksum.
        msg = struct.pack("!BBHI", 2, 0, 0, 1280) + quoted + l4
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.sendto(msg, (dst, 0))
        return
    total = 20 + (len(l4) if proto == "tcp" else 8 + 32)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, pnum, 0,
                      socket.inet_pton(socket.AF_INET, qsrc), socket.inet_pton(socket.AF_INET, qdst))
    hdr = hdr[:10] + struct.pack("!H", csum16(hdr)) + hdr[12:]
    body = struct.pack("!HH", 0, 1200) + hdr + l4
    msg = struct.pack("!BBH", 3, 4, csum16(struct.pack("!BBH", 3, 4, 0) + body)) + body
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.sendto(msg, (dst, 0))


def udpfrom(src, sport, dst, dport, n):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, sport))
    for i in range(n):
        s.sendto(b"knobs-%d" % i, (dst, dport))
        time.sleep(0.1)


def tcprst(src, sport, dst, dport):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, 12345, 0, 5 << 4, 0x04, 0, 0, 0)
    if ":" in dst:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP)
        # The kernel fills in the checksum at offset 16.
        s.setsockopt(socket.IPPROTO_IPV6, 7, 16)  # IPV6_CHECKSUM
        s.bind((src, 0))
        s.sendto(hdr, (dst, 0))
        return
    pseudo = socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
    pseudo += struct.pack("!BBH", 0, 6, len(hdr))
    hdr = hdr[:16] + struct.pack("!H", csum16(pseudo + hdr)) + hdr[18:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    s.bind((src, 0))
    s.sendto(hdr, (dst, 0))


def bigdf(dst, port, n, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    sent = refused = 0
    for i in range(n):
        try:
            s.sendto(bytes([i & 255]) * size, (dst, port))
            sent += 1
        except OSError as e:
            if e.errno != errno.EMSGSIZE:
                raise
            refused += 1
        time.sleep(0.1)
    print("sent=%d emsgsize=%d" % (sent, refused))


def main():
    a = sys.argv[1:]
    if a and a[0] == "icmperr" and len(a) == 7:
        icmperr(a[1], a[2], int(a[3]), a[4], int(a[5]), a[6])
    elif a and a[0] == "udpfrom" and len(a) == 6:
        udpfrom(a[1], int(a[2]), a[3], int(a[4]), int(a[5]))
    elif a and a[0] == "tcprst" and len(a) == 5:
        tcprst(a[1], int(a[2]), a[3], int(a[4]))
    elif a and a[0] == "bigdf" and len(a) == 5:
        bigdf(a[1], int(a[2]), int(a[3]), int(a[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
