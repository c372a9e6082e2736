#!/usr/bin/python3
"""Tunnel encapsulation helpers for tests/vm/dp/tunnels.sh (guest side, stdlib only).

  tuncap.py adddest VIP PORT DEST DPORT TUNTYPE TUNPORT TUNFLAGS
      Add DEST:DPORT (its own family) to the UDP service VIP:PORT as a tunnel destination
      of TUNTYPE (0 ipip, 1 gue, 2 gre) with TUNPORT and TUNFLAGS, over generic netlink (the
      distribution's ipvsadm has no --tun-type). Prints "errno=N" (0: added).
  tuncap.py send VIP PORT SPORT N
      Send N UDP datagrams "tunnels-<i>" from source port SPORT to VIP:PORT, 50 ms apart,
      with DSCP EF and ECN CE.
  tuncap.py capture IFACE FROM READY OUT
      Capture on IFACE (AF_PACKET) the IPv4/IPv6 packets whose outer source is FROM (comma-
      separated addresses) until SIGTERM; touch READY once listening; write to OUT one line
      per packet: the encapsulation as seen on the wire (checksum fields as sent: on a veth
      an offloaded checksum is not filled in), without the outer IPv4 id and header checksum,
      and the inner packet in hex with its IPv4 id and header checksum zeroed.
"""
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ctl"))
import nlclient as nl  # noqa: E402

ETH_P_ALL = 0x0003


def csum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def inner_norm(pkt):
    """The inner packet in hex, its IPv4 id and header checksum zeroed."""
    if pkt and pkt[0] >> 4 == 4 and len(pkt) >= 20:
        pkt = pkt[:4] + b"\0\0" + pkt[6:10] + b"\0\0" + pkt[12:]
    return pkt.hex()


def decode(frame, senders):
    if len(frame) < 14:
        return None
    ethertype = struct.unpack("!H", frame[12:14])[0]
    p = frame[14:]
    if ethertype == 0x0800 and len(p) >= 20:
        ihl = (p[0] & 15) * 4
        total = struct.unpack("!H", p[2:4])[0]
        src, dst = socket.inet_ntop(socket.AF_INET, p[12:16]), socket.inet_ntop(socket.AF_INET, p[16:20])
        if src not in senders:
            return None
        rec = {"outer": "ipv4", "tos": p[1], "df": (p[6] >> 6) & 1, "ttl": p[8], "proto": p[9],
               "dst": dst, "ihl": ihl, "hdr_csum_ok": csum16(p[:ihl]) == 0xFFFF}
        payload, proto = p[ihl:total], p[9]
        pseudo = p[12:20] + struct.pack("!BBH", 0, 17, total - ihl)
    elif ethertype == 0x86DD and len(p) >= 40:
        plen = struct.unpack("!H", p[4:6])[0]
        src, dst = socket.inet_ntop(socket.AF_INET6, p[8:24]), socket.inet_ntop(socket.AF_INET6, p[24:40])
        if src not in senders:
            return None
        tc = ((p[0] & 15) << 4) | (p[1] >> 4)
        rec = {"outer": "ipv6", "tc": tc, "flowlabel": ((p[1] & 15) << 16) | (p[2] << 8) | p[3],
               "hlim": p[7], "proto": p[6], "dst": dst, "plen_ok": plen == len(p) - 40}
        payload, proto = p[40:40 + plen], p[6]
        pseudo = p[8:40] + struct.pack("!IxxxB", plen, 17)
    else:
        return None
    if proto in (4, 41):
        rec["encap"] = "ipip" if proto == 4 else "ip6"
        rec["inner"] = inner_norm(payload)
    elif proto == 47 and len(payload) >= 4:
        flags, gproto = struct.unpack("!HH", payload[:4])
        hl = 4
        rec["encap"] = "gre"
        rec["gre_flags"] = flags
        rec["gre_proto"] = gproto
        if flags & 0x8000:
            # On a veth the checksum is often left to "hardware" (CHECKSUM_PARTIAL): the field
            # holds what the stack put there, compared as is.
            rec["gre_csum"] = payload[4:6].hex()
            hl += 4
        rec["inner"] = inner_norm(payload[hl:])
    elif proto == 17 and len(payload) >= 12:
        sport, dport, ulen, ucsum = struct.unpack("!HHHH", payload[:8])
        rec["encap"] = "udp"
        rec["udp_dport"] = dport
        rec["udp_sport"] = sport
        rec["udp_len_ok"] = ulen == len(payload)
        # As GRE's: the field as sent (0: no checksum; a CHECKSUM_PARTIAL packet on a veth
        # carries the pseudo-header sum only); "valid" when it checks out in full.
        rec["udp_csum"] = "%04x" % ucsum
        rec["udp_csum_valid"] = ucsum != 0 and csum16(pseudo + payload) == 0xFFFF
        g = payload[8:]
        rec["gue_byte0"] = g[0]
        rec["gue_proto"] = g[1]
        rec["gue_flags"] = struct.unpack("!H", g[2:4])[0]
        hlen = (g[0] & 31) * 4
        rec["gue_opts"] = g[4:4 + hlen].hex()
        rec["inner"] = inner_norm(g[4 + hlen:])
    else:
        return None
    return rec


def capture(iface, senders, ready, out):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(0.2)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    open(ready, "w").close()
    with open(out, "w") as f:
        while not stop:
            try:
                frame, addr = s.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            rec = decode(frame, senders)
            if rec is not None:
                f.write(" ".join("%s=%s" % (k, rec[k]) for k in sorted(rec)) + "\n")
                f.flush()


def send(vip, port, sport, n):
    fam = socket.AF_INET6 if ":" in vip else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # DSCP EF with ECN CE: the outer header copies the DSCP and turns CE into ECT(0)
    # (INET_ECN_encapsulate()).
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0xBB)
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xBB)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
    for i in range(n):
        s.sendto(b"tunnels-%d" % i, (vip, port))
        time.sleep(0.05)


def adddest(vip, port, daddr, dport, tun_type, tun_port, tun_flags):
    ipvs_id, _ = nl.resolve_family("IPVS")
    if ipvs_id is None:
        print("errno=no-family")
        return 1
    daf = nl.AF_INET6 if ":" in daddr else nl.AF_INET
    m = nl.req(nl.CMD_NEW_DEST, nl.svc(*nl.svc_id(vip, port, nl.IPPROTO_UDP)),
               nl.dest(*nl.dest_id(daddr, dport, af=daf),
                       *nl.dest_full(nl.FWD_TUNNEL, tun_type=tun_type, tun_port=tun_port,
                                     tun_flags=tun_flags)))
    res = nl.exchange([m], ipvs_id)
    print("errno=%s" % (",".join(str(e) for e in res.errnos) or "none"))
    return 0


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "capture":
        capture(a[0], set(a[1].split(",")), a[2], a[3])
    elif cmd == "send":
        send(a[0], int(a[1]), int(a[2]), int(a[3]))
    elif cmd == "adddest":
        return adddest(a[0], int(a[1]), a[2], int(a[3]), int(a[4]), int(a[5]), int(a[6]))
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
