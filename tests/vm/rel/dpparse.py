#!/usr/bin/env python3
"""Traffic for tests/vm/rel/dpparse.sh (guest side).

  udp-echo PORT OPTLEN          UDP echo server on [::]:PORT; replies carry OPTLEN bytes of
                                IPv6 destination options (0: none). Runs until killed.
  udp-ask ADDR PORT OPTLEN N    N requests to [ADDR]:PORT, each with OPTLEN bytes of
                                destination options; prints "<replies> <sources>" where
                                sources are the distinct reply source addresses.
  tcp-sink PORT                 TCP server on [::]:PORT (v4-mapped too): reads each connection
                                to its end and writes back the byte count. Runs until killed.
  tcp-bulk ADDR PORT BYTES      sends BYTES to ADDR:PORT, prints the count the sink read
                                ("fail ..." on error or timeout).
  tun-ask TUN SRC VIP PORT OPTLEN PAYLOAD N
                                writes N UDP requests SRC:40000 -> [VIP]:PORT into the tun
                                device TUN (IFF_VNET_HDR, virtio hdr_len 40: only the IPv6
                                header lands in the skb's linear area, the rest in page
                                fragments), each with OPTLEN bytes of destination options
                                and PAYLOAD bytes; reads what comes back out of TUN and
                                prints "<replies> <sources>" (source addr.port of the
                                UDP replies to port 40000).
  tun-answer TUN OPTLEN N       answers the first N UDP datagrams that come out of TUN,
                                from their destination to their source, with OPTLEN bytes
                                of destination options and the request's payload padded to
                                3100 bytes, written non-linear as above; prints the count.
  sniff IFNAME SECONDS          counts the packets IFNAME receives (AF_PACKET) for SECONDS
                                (or until killed with SIGTERM); prints "<packets> <largest>
                                <above 64 KB>" (lengths as the skb has them, MSG_TRUNC).
  big-tcp IFNAME SIZE           sets the device's gso/gro_max_size and
                                gso/gro_ipv4_max_size to SIZE (BIG TCP) over rtnetlink
                                (iproute2 6.1 knows only the first two).
"""
import socket
import struct
import sys

# A destination-options header of optlen bytes (a multiple of 8, at least 16): experimental
# options of type 0x1e (RFC 4727; action 00: a receiver that does not know it skips it), at
# most 8 of them (net.ipv6.max_dst_opts_number), filled up with PadN / Pad1 (at most 7 bytes
# of padding in a row, as Linux requires).
def dstopts(optlen):
    assert optlen % 8 == 0 and optlen >= 16
    body = bytearray()
    room = optlen - 2
    n = -(-room // 257)
    assert n <= 8, optlen
    each = room // n - 2
    for _ in range(n):
        body += bytes([0x1E, each]) + bytes([0xA5]) * each
    pad = room - len(body)
    assert 0 <= pad <= 7, pad
    if pad == 1:
        body += b"\x00"
    elif pad > 1:
        body += bytes([1, pad - 2]) + bytes(pad - 2)
    # next header (the kernel fills it in), length in 8-byte units after the first 8
    return bytes([0, optlen // 8 - 1]) + bytes(body)


def set_opts(s, optlen):
    if optlen:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, dstopts(optlen))


def udp_echo(port, optlen):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    set_opts(s, optlen)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def udp_ask(addr, port, optlen, n):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    set_opts(s, optlen)
    s.settimeout(2)
    got, sources = 0, set()
    for i in range(n):
        s.sendto(b"req %d" % i, (addr, port))
        try:
            data, peer = s.recvfrom(65535)
        except (socket.timeout, OSError):
            continue
        got += 1
        sources.add(peer[0])
    print(got, ",".join(sorted(sources)) or "-")


def tcp_sink(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(8)
    while True:
        c, _ = s.accept()
        c.settimeout(60)
        n = 0
        try:
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                n += len(b)
            c.sendall(b"%d\n" % n)
        except OSError:
            pass
        c.close()


def tcp_bulk(addr, port, total):
    try:
        s = socket.create_connection((addr, port), timeout=60)
        chunk = bytes(1 << 20)
        left = total
        while left > 0:
            k = min(left, len(chunk))
            s.sendall(chunk[:k])
            left -= k
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            b = s.recv(64)
            if not b:
                break
            reply += b
        print(reply.decode().strip() or "fail empty")
    except OSError as e:
        print("fail", e)


def big_tcp(ifname, size):
    # include/uapi/linux/if_link.h (6.12)
    IFLA_GSO_MAX_SIZE, IFLA_GRO_MAX_SIZE = 41, 58
    IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE = 63, 64
    RTM_NEWLINK, NLM_F_REQUEST, NLM_F_ACK, NLMSG_ERROR = 16, 1, 4, 2
    attrs = b"".join(struct.pack("=HHI", 8, t, size) for t in
                     (IFLA_GSO_MAX_SIZE, IFLA_GRO_MAX_SIZE, IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE))
    ifi = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, socket.if_nametoindex(ifname), 0, 0)
    body = ifi + attrs
    msg = struct.pack("=IHHII", 16 + len(body), RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.send(msg)
    r = s.recv(4096)
    _, typ, _, _, _ = struct.unpack_from("=IHHII", r)
    err = struct.unpack_from("=i", r, 16)[0] if typ == NLMSG_ERROR else -1
    if err != 0:
        sys.exit("big-tcp %s: netlink error %d" % (ifname, err))


TUNSETIFF, IFF_TUN, IFF_NO_PI, IFF_VNET_HDR = 0x400454CA, 0x0001, 0x1000, 0x4000


def tun_open(name):
    import fcntl
    import os

    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
    return fd


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def udp6(src, dst, sport, dport, optlen, payload):
    """An IPv6 packet: [destination options of optlen bytes] UDP, checksum filled in."""
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    ulen = 8 + len(payload)
    u = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = 0xFFFF - csum(s + d + struct.pack("!IxxxB", ulen, 17) + u)
    u = u[:6] + struct.pack("!H", c or 0xFFFF) + u[8:]
    exts, nh = b"", 17
    if optlen:
        o = bytearray(dstopts(optlen))
        o[0] = 17
        exts, nh = bytes(o), 60
    return struct.pack("!IHBB", 6 << 28, len(exts) + len(u), nh, 64) + s + d + exts + u


def vnet_write(fd, pkt):
    import os

    # struct virtio_net_hdr: no checksum offload, no GSO, hdr_len 40 (the linear part).
    os.write(fd, struct.pack("=BBHHHH", 0, 0, 40, 0, 0, 0) + pkt)


def tun_udp_packets(fd, deadline):
    """Yields (src, sport, dst, dport, payload) of UDP packets read from the tun until
    deadline (walks extension headers)."""
    import os
    import select
    import time

    while True:
        left = deadline - time.time()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return
        b = os.read(fd, 65536)[10:]
        if len(b) < 40 or b[0] >> 4 != 6:
            continue
        nh, off = b[6], 40
        while nh in (0, 43, 60) and off + 2 <= len(b):
            nh, off = b[off], off + (b[off + 1] + 1) * 8
        if nh != 17 or off + 8 > len(b):
            continue
        sport, dport = struct.unpack_from("!HH", b, off)
        src = socket.inet_ntop(socket.AF_INET6, b[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, b[24:40])
        yield src, sport, dst, dport, b[off + 8:]


def tun_ask(tun, src, vip, port, optlen, paylen, n):
    import time

    fd = tun_open(tun)
    for i in range(n):
        vnet_write(fd, udp6(src, vip, 40000, port, optlen, (b"req %d " % i).ljust(paylen, b"x")))
        time.sleep(0.05)
    got, sources = 0, set()
    for s, sp, _, dp, _ in tun_udp_packets(fd, time.time() + 5):
        if dp == 40000:
            got += 1
            sources.add("%s.%d" % (s, sp))
            if got == n:
                break
    print(got, ",".join(sorted(sources)) or "-")


def tun_answer(tun, optlen, n):
    import time

    fd = tun_open(tun)
    done = 0
    for s, sp, d, dp, data in tun_udp_packets(fd, time.time() + 60):
        vnet_write(fd, udp6(d, s, dp, sp, optlen, data.ljust(3100, b"y")))
        done += 1
        if done == n:
            break
    print(done)


def sniff(ifname, seconds):
    import signal
    import time

    ETH_P_ALL, PACKET_OUTGOING = 3, 4
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    s.settimeout(0.5)
    buf = bytearray(64)
    n, largest, big = 0, 0, 0
    stop = [time.time() + seconds]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, 0))
    print("ready", flush=True)
    while time.time() < stop[0]:
        try:
            k, addr = s.recvfrom_into(buf, 0, socket.MSG_TRUNC)
        except socket.timeout:
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        n += 1
        largest = max(largest, k)
        big += k > 65535
    print(n, largest, big, flush=True)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "udp-echo":
        udp_echo(int(args[0]), int(args[1]))
    elif cmd == "udp-ask":
        udp_ask(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "tcp-sink":
        tcp_sink(int(args[0]))
    elif cmd == "tcp-bulk":
        tcp_bulk(args[0], int(args[1]), int(args[2]))
    elif cmd == "tun-ask":
        tun_ask(args[0], args[1], args[2], int(args[3]), int(args[4]), int(args[5]), int(args[6]))
    elif cmd == "tun-answer":
        tun_answer(args[0], int(args[1]), int(args[2]))
    elif cmd == "sniff":
        sniff(args[0], float(args[1]))
    elif cmd == "big-tcp":
        big_tcp(args[0], int(args[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
