#!/usr/bin/python3
"""Random and mutated IPVS generic netlink requests for a while (tests/vm/rel/nlfuzz.sh).

Usage: nlfuzz.py [--lenient-proc] SECONDS SEED [BULK]
       nlfuzz.py --sequence N SEED     (differential: see sequence())

Runs in the caller's network namespace (one namespace per process). Loop until SECONDS:
  - mostly one random request: a command (the IPVS ones, weighted towards adds/deletes, and
    now and then any number 0..255) with random attributes: plausible service/destination
    nests from small address/port pools (so that adds, sets and deletes collide), values
    perturbed or random, unknown attributes, nests inside nests, duplicated attributes,
    attributes whose length lies (truncated, or beyond the nest), random NLM_F_DUMP;
  - every ~5 s a bulk phase: flush, then BULK (default 300) services with 0..8 destinations
    each, a dump whose count must equal the successful adds and the services in
    /proc/net/ip_vs, then a flush after which the dump and /proc/net/ip_vs must be empty.
Every request carries NLM_F_ACK (dumps end with NLMSG_DONE or an error): each must be answered
within 10 s, or it is counted as a timeout.

A dump counts distinct services: a netlink dump is not atomic, and C resumes a dump by a
position counted over all namespaces' services, so additions elsewhere repeat entries
(reported as dump_repeats). /proc/net/ip_vs mismatches are reported apart (proc_inconsistent):
C's ip_vs_info_seq_next() walks every namespace's services while ip_vs_info_array() restarts
a read at a position counted in the reader's namespace only, so with services in other
namespaces a listing longer than one read loses entries; --lenient-proc (used for C) does not
fail on those.

Prints "nlfuzz sent=.. answered=.. timeouts=.. bulk=.. services_added=.. inconsistent=..
proc_inconsistent=.. dump_repeats=.. errnos=errno:count,.." and a line per inconsistency.
Exit status 0 iff no timeout, no dump inconsistency and no /proc one (with --lenient-proc,
for C: no timeout; its cross-namespace dump and /proc defects are reported, not failed).
"""
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ctl"))
import nlclient as nl  # noqa: E402

R = random.Random()


def pick(weighted):
    total = sum(w for _, w in weighted)
    x = R.uniform(0, total)
    for v, w in weighted:
        x -= w
        if x <= 0:
            return v
    return weighted[-1][0]


V4 = ["10.9.0.%d" % i for i in range(1, 9)]
V6 = ["fd00:9::%x" % i for i in range(1, 9)]
R4 = ["10.9.1.%d" % i for i in range(1, 9)]
R6 = ["fd00:9:1::%x" % i for i in range(1, 9)]
SCHEDS = ["rr", "wrr", "lc", "wlc", "sh", "mh", "rr", "rr", "nosuch", "", "x" * 15, "x" * 16]


def rnd_bytes(n):
    return bytes(R.getrandbits(8) for _ in range(n))


def rnd_payload():
    return rnd_bytes(pick([(0, 1), (1, 2), (2, 2), (4, 4), (8, 2), (16, 3), (R.randrange(64), 1)]))


def mutate(attrs):
    """Perturb a list of encoded attributes."""
    out = list(attrs)
    for _ in range(pick([(0, 6), (1, 3), (2, 1), (4, 1)])):
        op = R.randrange(7)
        if op == 0 and out:
            out.pop(R.randrange(len(out)))
        elif op == 1 and out:
            out.append(out[R.randrange(len(out))])  # duplicate
        elif op == 2:
            out.append(nl.nla(R.randrange(1, 40), rnd_payload()))  # unknown or mistyped
        elif op == 3 and out and len(out[-1]) >= 4:
            i = R.randrange(len(out))
            a = out[i]
            if len(a) < 4:
                continue
            length, atype = struct.unpack_from("=HH", a, 0)
            out[i] = struct.pack("=HH", R.choice([0, 1, 3, 4, length - 1, length + 1, length + 8, 0xFFFF]) & 0xFFFF,
                                 atype) + a[4:]
        elif op == 4 and out:
            i = R.randrange(len(out))
            a = bytearray(out[i])
            if len(a) > 4:
                a[R.randrange(4, len(a))] = R.getrandbits(8)
            out[i] = bytes(a)
        elif op == 5 and out and out[-1]:
            i = R.randrange(len(out))
            out[i] = out[i][:R.randrange(len(out[i]) or 1)]  # cut: the rest of the message shifts
        elif op == 6:
            out.append(nl.nest(R.randrange(1, 20), *[nl.nla(R.randrange(1, 20), rnd_payload())
                                                      for _ in range(R.randrange(4))], flag=R.choice([0, nl.NLA_F_NESTED])))
    if R.random() < 0.1:
        R.shuffle(out)
    return out


def svc_attrs(v6=None, full=True):
    v6 = R.random() < 0.4 if v6 is None else v6
    if R.random() < 0.15:
        ids = nl.svc_id(af=nl.AF_INET6 if v6 else nl.AF_INET, fwmark=R.choice([1, 2, 3, R.getrandbits(32)]))
    else:
        ids = nl.svc_id(R.choice(V6 if v6 else V4), R.choice([80, 443, 8080, 0, R.getrandbits(16)]),
                        proto=R.choice([nl.IPPROTO_TCP, nl.IPPROTO_UDP, nl.IPPROTO_UDP, 132, 0, R.getrandbits(16)]))
    if not full:
        return ids
    flags = R.choice([0, 0, nl.SVC_F_PERSISTENT, R.getrandbits(32)])
    return ids + nl.svc_full(sched=R.choice(SCHEDS), flags=flags, mask=R.choice([0xFFFFFFFF, flags, R.getrandbits(32)]),
                             timeout=R.choice([0, 300, R.getrandbits(32)]),
                             netmask=R.choice([0xFFFFFFFF, 0xFFFFFF00, R.getrandbits(32)]) if not v6 else 0,
                             plen=R.choice([128, 64, 0, 129, R.getrandbits(32)]) if v6 else None,
                             pe=R.choice([None, None, None, "sip", "x" * 16]))


def dest_attrs(v6=None, full=True):
    v6 = R.random() < 0.4 if v6 is None else v6
    ids = nl.dest_id(R.choice(R6 if v6 else R4), R.choice([80, 8080, 0, R.getrandbits(16)]),
                     af=R.choice([None, None, nl.AF_INET, nl.AF_INET6, R.getrandbits(16)]))
    if not full:
        return ids
    return ids + nl.dest_full(fwd=R.choice([nl.FWD_MASQ, nl.FWD_DROUTE, nl.FWD_TUNNEL, nl.FWD_LOCAL, R.getrandbits(32)]),
                              weight=R.choice([0, 1, 5, 0x7FFFFFFF, R.getrandbits(32)]),
                              u=R.choice([0, 0, 10, R.getrandbits(32)]), l=R.choice([0, 0, 5, R.getrandbits(32)]),
                              tun_type=R.choice([None, None, nl.TUN_IPIP, nl.TUN_GUE, nl.TUN_GRE, R.getrandbits(8)]),
                              tun_port=R.choice([None, 6080, R.getrandbits(16)]),
                              tun_flags=R.choice([None, 0, 1, 2, R.getrandbits(16)]))


def random_request():
    cmd = pick([(nl.CMD_NEW_SERVICE, 20), (nl.CMD_SET_SERVICE, 8), (nl.CMD_DEL_SERVICE, 8), (nl.CMD_GET_SERVICE, 6),
                (nl.CMD_NEW_DEST, 20), (nl.CMD_SET_DEST, 8), (nl.CMD_DEL_DEST, 8), (nl.CMD_GET_DEST, 5),
                (nl.CMD_NEW_DAEMON, 2), (nl.CMD_DEL_DAEMON, 2), (nl.CMD_GET_DAEMON, 2), (nl.CMD_SET_CONFIG, 4),
                (nl.CMD_GET_CONFIG, 2), (nl.CMD_GET_INFO, 2), (nl.CMD_ZERO, 3), (nl.CMD_FLUSH, 1),
                (R.randrange(256), 2)])
    v6 = R.random() < 0.4
    attrs = []
    if cmd in (nl.CMD_NEW_SERVICE, nl.CMD_SET_SERVICE):
        attrs = [nl.svc(*mutate(svc_attrs(v6)))]
    elif cmd in (nl.CMD_DEL_SERVICE, nl.CMD_GET_SERVICE, nl.CMD_ZERO):
        if R.random() < 0.8:
            attrs = [nl.svc(*mutate(svc_attrs(v6, full=False)))]
    elif cmd in (nl.CMD_NEW_DEST, nl.CMD_SET_DEST, nl.CMD_DEL_DEST, nl.CMD_GET_DEST):
        attrs = [nl.svc(*mutate(svc_attrs(v6, full=False)))]
        if cmd != nl.CMD_GET_DEST or R.random() < 0.2:
            attrs.append(nl.dest(*mutate(dest_attrs(v6 if R.random() < 0.8 else not v6,
                                                    full=cmd in (nl.CMD_NEW_DEST, nl.CMD_SET_DEST)))))
    elif cmd in (nl.CMD_NEW_DAEMON, nl.CMD_DEL_DAEMON):
        attrs = [nl.nest(nl.A_DAEMON, *mutate([nl.u32(nl.DM_STATE, R.choice([1, 2, 3])),
                                               nl.string(nl.DM_MCAST_IFN, R.choice(["lo", "eth0", "x" * 16])),
                                               nl.u32(nl.DM_SYNC_ID, R.getrandbits(8))]))]
    elif cmd == nl.CMD_SET_CONFIG:
        attrs = mutate([nl.u32(t, R.choice([0, 1, 60, 900, R.getrandbits(32)]))
                        for t in (nl.A_TIMEOUT_TCP, nl.A_TIMEOUT_TCP_FIN, nl.A_TIMEOUT_UDP) if R.random() < 0.7])
    else:
        attrs = mutate([])
    attrs = mutate(attrs) if R.random() < 0.3 else attrs
    dump = cmd in (nl.CMD_GET_SERVICE, nl.CMD_GET_DEST, nl.CMD_GET_DAEMON) and R.random() < 0.7 or R.random() < 0.03
    flags = nl.NLM_F_REQUEST | (nl.NLM_F_DUMP | nl.NLM_F_ACK if dump else nl.NLM_F_ACK)
    version = 1 if R.random() < 0.95 else R.getrandbits(8)
    return nl.Msg(cmd, b"".join(attrs), flags=flags, version=version, reserved=0 if R.random() < 0.95 else R.getrandbits(16))


class Fuzzer:
    def __init__(self, family):
        self.family = family
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, nl.NETLINK_GENERIC)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.s.bind((0, 0))
        self.s.settimeout(10)
        self.seq = 0
        self.sent = self.answered = self.timeouts = 0
        self.errnos = {}
        self.inconsistent = []
        self.proc_inconsistent = []
        self.dump_repeats = 0

    def request(self, msg):
        """Send one request; (errno or None on timeout, number of reply messages)."""
        self.seq += 1
        seq = self.seq
        self.s.send(msg.encode(self.family, seq))
        self.sent += 1
        replies = 0
        deadline = time.monotonic() + 10
        while True:
            try:
                self.s.settimeout(max(0.1, deadline - time.monotonic()))
                buf = self.s.recv(1 << 20)
            except socket.timeout:
                self.timeouts += 1
                return None, replies
            off = 0
            final = None
            while off + 16 <= len(buf):
                length, mtype, flags, rseq, _ = struct.unpack_from("=IHHII", buf, off)
                if length < 16:
                    break
                if rseq == seq:
                    if mtype in (nl.NLMSG_ERROR, nl.NLMSG_DONE):
                        err = struct.unpack_from("=i", buf, off + 16)[0] if length >= 20 else 0
                        final = -err
                    else:
                        replies += 1
                off += nl.align4(length)
            if final is not None:
                self.answered += 1
                self.errnos[final] = self.errnos.get(final, 0) + 1
                return final, replies

    def services(self):
        """Distinct services in a dump (None if the dump failed). A dump is not atomic: C counts
        its resume position over every namespace's services, so changes in other namespaces
        between two parts repeat entries; those repeats are counted in self.dump_repeats."""
        self.seq += 1
        seq = self.seq
        self.s.send(nl.dump(nl.CMD_GET_SERVICE).encode(self.family, seq))
        self.sent += 1
        seen, total = set(), 0
        deadline = time.monotonic() + 10
        while True:
            try:
                self.s.settimeout(max(0.1, deadline - time.monotonic()))
                buf = self.s.recv(1 << 20)
            except socket.timeout:
                self.timeouts += 1
                return None
            off = 0
            while off + 16 <= len(buf):
                length, mtype, flags, rseq, _ = struct.unpack_from("=IHHII", buf, off)
                if length < 16:
                    break
                if rseq == seq:
                    if mtype in (nl.NLMSG_ERROR, nl.NLMSG_DONE):
                        err = struct.unpack_from("=i", buf, off + 16)[0] if length >= 20 else 0
                        self.answered += 1
                        self.errnos[-err] = self.errnos.get(-err, 0) + 1
                        self.dump_repeats += total - len(seen)
                        return len(seen) if err == 0 else None
                    total += 1
                    seen.add(self.svc_key(buf[off + 16 + 4:off + length]))
                off += nl.align4(length)

    @staticmethod
    def svc_key(attrs):
        """The identifying attributes of a service reply (af, protocol, address, port, fwmark)."""
        for t, payload in nl.parse_attrs(attrs):
            if t & nl.NLA_TYPE_MASK == nl.A_SERVICE:
                inner = dict((st & nl.NLA_TYPE_MASK, p) for st, p in nl.parse_attrs(payload))
                return tuple(inner.get(k) for k in (nl.S_AF, nl.S_PROTOCOL, nl.S_ADDR, nl.S_PORT, nl.S_FWMARK))
        return attrs

    @staticmethod
    def proc_services():
        with open("/proc/net/ip_vs") as f:
            return sum(1 for line in f if line.startswith(("TCP ", "UDP ", "FWM ", "SCTP ")))

    def check(self, what, want):
        got_nl, got_proc = self.services(), self.proc_services()
        if got_nl != want:
            self.inconsistent.append("%s: dump lists %s distinct services, want %d" % (what, got_nl, want))
        if got_proc != want:
            self.proc_inconsistent.append("%s: /proc/net/ip_vs lists %s services, want %d" % (what, got_proc, want))

    def bulk(self, n):
        self.request(nl.req(nl.CMD_FLUSH))
        self.check("after flush before bulk", 0)
        added = 0
        for i in range(n):
            v6 = i % 3 == 2
            addr = "fd00:a::%x" % (i + 1) if v6 else "10.10.%d.%d" % (i // 250, i % 250 + 1)
            ids = nl.svc_id(addr, 80, proto=nl.IPPROTO_TCP if i % 2 else nl.IPPROTO_UDP)
            err, _ = self.request(nl.req(nl.CMD_NEW_SERVICE, nl.svc(*(ids + nl.svc_full(sched=SCHEDS[i % 6],
                                                                                          plen=128 if v6 else None)))))
            if err != 0:
                continue
            added += 1
            for j in range(R.randrange(9)):
                r = "fd00:b::%x:%x" % (i + 1, j + 1) if v6 else "10.11.%d.%d" % (i % 250, j + 1)
                self.request(nl.req(nl.CMD_NEW_DEST, nl.svc(*ids),
                                    nl.dest(*(nl.dest_id(r, 8080) + nl.dest_full(fwd=j % 4 if j % 4 != 1 else 0, weight=j)))))
        self.check("after %d adds" % n, added)
        self.request(nl.req(nl.CMD_FLUSH))
        self.check("after flush", 0)
        return added


def sequence(n, seed):
    """--sequence: N random requests (no bulk phase, nothing time-based), one line each with
    the errno, and every 250 requests the sorted service keys of a dump: the same lines for
    two implementations mean they answered the same sequence alike."""
    R.seed(seed)
    family, _ = nl.resolve_family("IPVS")
    if family is None:
        print("nlfuzz: no IPVS family")
        return 1
    f = Fuzzer(family)
    f.request(nl.req(nl.CMD_FLUSH))
    for i in range(n):
        m = random_request()
        err, replies = f.request(m)
        dump = m.flags & nl.NLM_F_DUMP == nl.NLM_F_DUMP
        print("%d cmd=%d%s errno=%s%s" % (i, m.cmd, " dump" if dump else "", err,
                                          "" if dump else " replies=%d" % replies))
        if i % 250 == 249:
            print("%d services=%s" % (i, f.services()))
    f.request(nl.req(nl.CMD_FLUSH))
    return 0 if f.timeouts == 0 else 1


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "--sequence":
        return sequence(int(sys.argv[2]), int(sys.argv[3]))
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    lenient_proc = "--lenient-proc" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--lenient-proc"]
    secs, seed = float(args[0]), int(args[1])
    nbulk = int(args[2]) if len(args) > 2 else 300
    R.seed(seed)
    family, _ = nl.resolve_family("IPVS")
    if family is None:
        print("nlfuzz: no IPVS family")
        return 1
    f = Fuzzer(family)
    t0 = time.monotonic()
    next_bulk = t0 + 5
    bulks = added = 0
    while time.monotonic() - t0 < secs:
        if time.monotonic() >= next_bulk:
            added += f.bulk(nbulk)
            bulks += 1
            next_bulk = time.monotonic() + 5
            continue
        f.request(random_request())
    f.request(nl.req(nl.CMD_FLUSH))
    f.check("final flush", 0)
    errs = ",".join("%s:%d" % (k, v) for k, v in sorted(f.errnos.items()))
    print("nlfuzz sent=%d answered=%d timeouts=%d bulk=%d services_added=%d inconsistent=%d proc_inconsistent=%d "
          "dump_repeats=%d seconds=%.0f errnos=%s" %
          (f.sent, f.answered, f.timeouts, bulks, added, len(f.inconsistent), len(f.proc_inconsistent),
           f.dump_repeats, time.monotonic() - t0, errs))
    for line in f.inconsistent[:20]:
        print("inconsistent: " + line)
    for line in f.proc_inconsistent[:20]:
        print("proc_inconsistent: " + line)
    proc_ok = not f.proc_inconsistent or lenient_proc
    # C (lenient): its genl service dump resumes by an index counted over all namespaces, so
    # concurrent changes in another namespace make it repeat or skip services; reported above,
    # not failed. ipvs_rs gets no such allowance.
    dump_ok = not f.inconsistent or lenient_proc
    return 0 if f.timeouts == 0 and dump_ok and proc_ok else 1


if __name__ == "__main__":
    sys.exit(main())
