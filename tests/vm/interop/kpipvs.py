#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""kube-proxy's IPVS netlink traffic, replayed with pyroute2 (an IPVS netlink library from PyPI,
independent of the project's own codec; pinned in tools/deps.sh, run with the venv's python).

kube-proxy (IPVS mode) talks to IPVS through k8s.io/kubernetes pkg/proxy/ipvs/util/ipvs_linux.go,
which wraps github.com/moby/ipvs (netlink_linux.go). This replays what that pair puts on the
wire, attribute by attribute, encoded and sent by pyroute2's netlink socket and generic
netlink family lookup; replies are decoded by pyroute2's own IPVS message classes:
  - every request carries NLM_F_REQUEST|NLM_F_ACK (moby newGenlRequest); dumps add NLM_F_DUMP;
  - a service is moby's fillService(): AF, then FWMARK or PROTOCOL/ADDR (4 bytes for IPv4,
    rawIPData)/PORT, SCHED_NAME, FLAGS {flags, mask 0xffffffff}, TIMEOUT, NETMASK
    (kube-proxy's toIPVSService: 0xffffffff for IPv4);
  - the service dump (GetServices) sends an empty nested IPVS_CMD_ATTR_SERVICE ("dummy
    attribute", moby doCmdwithResponse with s == nil);
  - a destination is moby's fillDestination(): ADDR, PORT, FWD_METHOD (0 = masquerade,
    kube-proxy sets no ConnectionFlags), WEIGHT, U_THRESH, L_THRESH (no ADDR_FAMILY);
  - kube-proxy's toVirtualServer() refuses a dumped service without IP_VS_SVC_F_HASHED (0x2)
    and strips that bit before sending the service back (GetRealServers, updates).
pyroute2's own high-level API (IPVS().service("dump"), .dest("dump")) is used by `libdump`,
as a second, independent reading of the same state.

Usage: kpipvs.py < OPS   (one op per line, '#' comments; output: "> op" then its result lines)
  sync TOKEN                        prints "= TOKEN" (a caller feeding ops through a FIFO waits
                                    for it: importing pyroute2 takes tens of seconds in a TCG
                                    guest, so one process serves a whole run)
  probe SCHED                       kube-proxy canUseIPVSProxier(): dump, add the dummy VS
                                    198.51.100.0:20000/TCP with SCHED, dump, delete it
  add-svc SVC [sched=S] [flags=F] [timeout=T]   NEW_SERVICE (SVC: tcp|udp:ADDR:PORT, fwm:MARK)
  set-svc SVC ...                   SET_SERVICE (UpdateVirtualServer)
  del-svc SVC ...                   DEL_SERVICE
  get SVC ...                       GET_SERVICE without NLM_F_DUMP (GetVirtualServer)
  add-dest SVC RADDR:RPORT [weight=W] ...   NEW_DEST (AddRealServer)
  set-dest SVC RADDR:RPORT [weight=W] ...   SET_DEST (UpdateRealServer)
  del-dest SVC RADDR:RPORT ...      DEL_DEST (DeleteRealServer)
  dests SVC ...                     GET_DEST dump (GetRealServers)
  dump                              GetServices, then GetRealServers of each (sorted)
  flush                             FLUSH without attributes (moby Flush, kube-proxy cleanup)
  libdump                           the same state through pyroute2's IPVS()/IPVSService/IPVSDest
  graceful SVC RADDR:RPORT MAXSECS  the second half of kube-proxy's graceful termination
                                    (graceful_termination.go, tryDeleteRs): poll every second
                                    (kube-proxy: every minute) until ActiveConn+InActConn is 0,
                                    then delete the destination
  weight0 SVC RADDR:RPORT|busy      GracefulDeleteRS's first half only: delete if idle, else
                                    weight 0 (prints which); "busy": the destination that has
                                    an active connection (waited for, at most 20 s)
Lines starting with "# " in the output are notes (timings) that comparisons ignore.
"""
import errno
import socket
import sys
import time

from pyroute2 import IPVS, IPVSDest, IPVSService
from pyroute2.netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, genlmsg, nla
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import ipvs as g

FLAG_HASHED = 0x2


class mobymsg(genlmsg):
    """The request layout of moby/ipvs: pyroute2's IPVS message with the addresses sent as raw
    bytes (moby sends 4 address bytes for IPv4 and no destination ADDR_FAMILY, which pyroute2's
    address encoder would need)."""

    nla_map = g.ipvsmsg.nla_map

    class service(nla):
        nla_map = tuple((n, 'cdata' if n == 'IPVS_SVC_ATTR_ADDR' else t) for n, t in g.ipvsmsg.service.nla_map)
        flags = g.ipvsmsg.service.flags
        stats = g.ipvsstats.stats
        stats64 = g.ipvsstats.stats64

    class dest(nla):
        nla_map = tuple((n, 'cdata' if n == 'IPVS_DEST_ATTR_ADDR' else t) for n, t in g.ipvsmsg.dest.nla_map)
        stats = g.ipvsstats.stats
        stats64 = g.ipvsstats.stats64


def family(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET


def hostport(addr, port):
    return f'[{addr}]:{port}' if ':' in addr else f'{addr}:{port}'


def split_hostport(s):
    if s.startswith('['):
        a, p = s[1:].split(']:')
    else:
        a, p = s.rsplit(':', 1)
    return a, int(p)


class Svc:
    """kube-proxy's VirtualServer: address, protocol, port (or fwmark), scheduler, flags, timeout."""

    def __init__(self, spec, opts):
        self.fwmark = 0
        self.proto = 0
        self.addr = None
        self.port = 0
        if spec.startswith('fwm:'):
            self.fwmark = int(spec[4:], 0)
            self.af = socket.AF_INET6 if opts.get('af') == '6' else socket.AF_INET
        else:
            proto, rest = spec.split(':', 1)
            self.proto = {'tcp': socket.IPPROTO_TCP, 'udp': socket.IPPROTO_UDP, 'sctp': 132}[proto]
            self.addr, self.port = split_hostport(rest)
            self.af = family(self.addr)
        self.sched = opts.get('sched', 'rr')
        self.flags = int(opts.get('flags', '0'), 0)
        self.timeout = int(opts.get('timeout', '0'))

    def attrs(self):
        """moby fillService(), netmask as kube-proxy's toIPVSService() sets it."""
        a = [('IPVS_SVC_ATTR_AF', self.af)]
        if self.fwmark:
            a.append(('IPVS_SVC_ATTR_FWMARK', self.fwmark))
        else:
            a += [('IPVS_SVC_ATTR_PROTOCOL', self.proto),
                  ('IPVS_SVC_ATTR_ADDR', socket.inet_pton(self.af, self.addr)),
                  ('IPVS_SVC_ATTR_PORT', self.port)]
        a += [('IPVS_SVC_ATTR_SCHED_NAME', self.sched),
              ('IPVS_SVC_ATTR_FLAGS', {'flags': self.flags, 'mask': 0xFFFFFFFF}),
              ('IPVS_SVC_ATTR_TIMEOUT', self.timeout),
              ('IPVS_SVC_ATTR_NETMASK', '255.255.255.255' if self.af == socket.AF_INET else '128.0.0.0')]
        return a


def dest_attrs(addr, port, weight):
    """moby fillDestination(): kube-proxy's RealServer has no forwarding method (masquerade)."""
    return [('IPVS_DEST_ATTR_ADDR', socket.inet_pton(family(addr), addr)),
            ('IPVS_DEST_ATTR_PORT', port),
            ('IPVS_DEST_ATTR_FWD_METHOD', 0),
            ('IPVS_DEST_ATTR_WEIGHT', weight),
            ('IPVS_DEST_ATTR_U_THRESH', 0),
            ('IPVS_DEST_ATTR_L_THRESH', 0)]


class Client:
    def __init__(self):
        self.ipvs = IPVS()

    def request(self, cmd, attrs, dump=False):
        m = mobymsg()
        m['cmd'] = cmd
        m['version'] = 1
        m['attrs'] = attrs
        flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_DUMP if dump else 0)
        return [r for r in self.ipvs.nlm_request(m, msg_type=self.ipvs.prid, msg_flags=flags)
                if r.get_attr('IPVS_CMD_ATTR_SERVICE') is not None or r.get_attr('IPVS_CMD_ATTR_DEST') is not None]

    # --- decoding (pyroute2's ipvsmsg) ---
    @staticmethod
    def svc_line(s):
        af = s.get_attr('IPVS_SVC_ATTR_AF')
        fwm = s.get_attr('IPVS_SVC_ATTR_FWMARK') or 0
        flags = s.get_attr('IPVS_SVC_ATTR_FLAGS')
        fl = flags['flags'] if flags is not None else None
        if fwm:
            key = f'fwm:{fwm} af={af}'
        else:
            proto = {6: 'tcp', 17: 'udp', 132: 'sctp'}.get(s.get_attr('IPVS_SVC_ATTR_PROTOCOL'), '?')
            key = f'{proto}:{hostport(s.get_attr("IPVS_SVC_ATTR_ADDR"), s.get_attr("IPVS_SVC_ATTR_PORT"))}'
        pe = s.get_attr('IPVS_SVC_ATTR_PE_NAME')
        return (key, f'svc {key} sched={s.get_attr("IPVS_SVC_ATTR_SCHED_NAME")} '
                     f'flags={"none" if fl is None else hex(fl)} timeout={s.get_attr("IPVS_SVC_ATTR_TIMEOUT")} '
                     f'netmask={s.get_attr("IPVS_SVC_ATTR_NETMASK")}' + (f' pe={pe}' if pe else ''), fl)

    @staticmethod
    def dest_fields(d):
        return {'addr': d.get_attr('IPVS_DEST_ATTR_ADDR'), 'port': d.get_attr('IPVS_DEST_ATTR_PORT'),
                'fwd': d.get_attr('IPVS_DEST_ATTR_FWD_METHOD'), 'weight': d.get_attr('IPVS_DEST_ATTR_WEIGHT'),
                'active': d.get_attr('IPVS_DEST_ATTR_ACTIVE_CONNS'),
                'inact': d.get_attr('IPVS_DEST_ATTR_INACT_CONNS'),
                'persist': d.get_attr('IPVS_DEST_ATTR_PERSIST_CONNS')}

    @staticmethod
    def dest_line(f):
        return (f'  dest {hostport(f["addr"], f["port"])} fwd={f["fwd"]} weight={f["weight"]} '
                f'active={f["active"]} inact={f["inact"]} persist={f["persist"]}')

    def services(self):
        """GetServices: the dump with moby's empty nested service attribute."""
        out = []
        for r in self.request(g.IPVS_CMD_GET_SERVICE, [('IPVS_CMD_ATTR_SERVICE', {'attrs': []})], dump=True):
            out.append(r.get_attr('IPVS_CMD_ATTR_SERVICE'))
        return out

    def dests(self, svc):
        rs = self.request(g.IPVS_CMD_GET_DEST, [('IPVS_CMD_ATTR_SERVICE', {'attrs': svc.attrs()})], dump=True)
        return [self.dest_fields(r.get_attr('IPVS_CMD_ATTR_DEST')) for r in rs]

    def find_dest(self, svc, raddr, rport):
        for f in self.dests(svc):
            if f['addr'] == raddr and f['port'] == rport:
                return f
        return None

    def dump(self):
        lines = []
        for s in self.services():
            key, line, fl = self.svc_line(s)
            if fl is None or not fl & FLAG_HASHED:
                # kube-proxy toVirtualServer(): "Flags of successfully created IPVS service
                # should enable the flag (2)": kube-proxy's sync fails on such a service.
                line += ' ERROR-not-hashed'
            lines.append((key, line))
            # kube-proxy's VirtualServer of the dumped service (HASHED stripped) back to
            # GetRealServers.
            spec = key.split(' ')[0]
            opts = {'sched': s.get_attr('IPVS_SVC_ATTR_SCHED_NAME'),
                    'flags': hex((fl or 0) & ~FLAG_HASHED), 'timeout': str(s.get_attr('IPVS_SVC_ATTR_TIMEOUT'))}
            if spec.startswith('fwm:') and 'af=10' in key:
                opts['af'] = '6'
            for f in sorted(self.dests(Svc(spec, opts)), key=lambda f: (f['addr'], f['port'])):
                lines.append((key, self.dest_line(f)))
        lines.sort(key=lambda kl: kl[0])
        for _, line in lines:
            print(line)

    def libdump(self):
        """The same through pyroute2's own high-level API (its own requests: no nested
        service attribute in the dump, its own key attributes for the destination dump)."""
        blocks = []
        for m in self.ipvs.service('dump'):
            s = IPVSService.from_message(m)
            key, line, _ = self.svc_line(m.get_attr('IPVS_CMD_ATTR_SERVICE'))
            ds = []
            for dm in self.ipvs.dest('dump', service=s):
                IPVSDest.from_message(dm)
                ds.append(self.dest_fields(dm.get_attr('IPVS_CMD_ATTR_DEST')))
            blocks.append((key, [line] + [self.dest_line(f) for f in sorted(ds, key=lambda f: (f['addr'], f['port']))]))
        for _, b in sorted(blocks):
            print('\n'.join(b))

    def probe(self, sched):
        """kube-proxy canUseIPVSProxier() (pkg/proxy/ipvs/proxier.go / backend)."""
        before = self.services()
        for s in before:
            if s.get_attr('IPVS_SVC_ATTR_SCHED_NAME') == sched:
                print(f'probe {sched}: an existing service uses it, checks skipped')
                return
        vs = Svc('tcp:198.51.100.0:20000', {'sched': sched})
        self.request(g.IPVS_CMD_NEW_SERVICE, [('IPVS_CMD_ATTR_SERVICE', {'attrs': vs.attrs()})])
        after = self.services()
        found = [self.svc_line(s)[1] for s in after if self.svc_line(s)[0] == 'tcp:198.51.100.0:20000']
        if not found:
            print(f'probe {sched}: dummy VS not created ("Ipvs not supported")')
            return
        print(found[0])
        self.request(g.IPVS_CMD_DEL_SERVICE, [('IPVS_CMD_ATTR_SERVICE', {'attrs': vs.attrs()})])
        left = [s for s in self.services() if self.svc_line(s)[0] == 'tcp:198.51.100.0:20000']
        print(f'probe {sched}: ok' if not left else f'probe {sched}: dummy VS still there after delete')

    def busy_dest(self, svc, maxsecs=20):
        """The destination that has an active connection (polled: the caller's client may
        still be connecting)."""
        start = time.monotonic()
        while time.monotonic() - start < maxsecs:
            for f in self.dests(svc):
                if f['active']:
                    return f
            time.sleep(0.2)
        return None

    def weight0(self, svc, raddr, rport):
        """GracefulDeleteRS(): try deleteRsFunc() first (idle: delete), else weight 0.
        RADDR "busy": the destination with an active connection."""
        if raddr == 'busy':
            f = self.busy_dest(svc)
            if f is not None:
                raddr, rport = f['addr'], f['port']
        else:
            f = self.find_dest(svc, raddr, rport)
        if f is None:
            print('weight0: real server not found')
            return False
        if f['active'] + f['inact'] == 0:
            self.request(g.IPVS_CMD_DEL_DEST, [('IPVS_CMD_ATTR_SERVICE', {'attrs': svc.attrs()}),
                                               ('IPVS_CMD_ATTR_DEST', {'attrs': dest_attrs(raddr, rport, f['weight'])})])
            print('weight0: idle, deleted at once')
            return True
        self.request(g.IPVS_CMD_SET_DEST, [('IPVS_CMD_ATTR_SERVICE', {'attrs': svc.attrs()}),
                                           ('IPVS_CMD_ATTR_DEST', {'attrs': dest_attrs(raddr, rport, 0)})])
        print(f'weight0: {hostport(raddr, rport)} busy, weight set to 0')
        return False

    def graceful(self, svc, raddr, rport, maxsecs):
        """tryDeleteRs() (the weight is already 0: weight0): poll until the destination has
        no connection, then delete it."""
        start = time.monotonic()
        polls = 0
        while True:
            f = self.find_dest(svc, raddr, rport)
            polls += 1
            if f is None:
                print('graceful: real server vanished')
                return
            if f['active'] + f['inact'] == 0:
                self.request(g.IPVS_CMD_DEL_DEST, [('IPVS_CMD_ATTR_SERVICE', {'attrs': svc.attrs()}),
                                                   ('IPVS_CMD_ATTR_DEST', {'attrs': dest_attrs(raddr, rport, 0)})])
                print('graceful: drained, deleted')
                print(f'# graceful: drained after {time.monotonic() - start:.1f}s, {polls} polls')
                return
            if time.monotonic() - start > maxsecs:
                print(f'graceful: not drained after {maxsecs}s (active={f["active"]} inact={f["inact"]})')
                return
            time.sleep(1)


def parse(words):
    pos = [w for w in words if '=' not in w]
    opts = dict(w.split('=', 1) for w in words if '=' in w)
    return pos, opts


def main():
    c = Client()
    rc = 0
    while True:
        line = sys.stdin.readline()  # one op at a time: the caller may wait for each answer
        if not line:
            break
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        print(f'> {line}')
        sys.stdout.flush()
        pos, opts = parse(line.split())
        op = pos[0]
        try:
            if op == 'sync':
                print(f'= {pos[1]}')
            elif op == 'probe':
                c.probe(pos[1])
            elif op == 'dump':
                c.dump()
            elif op == 'libdump':
                c.libdump()
            elif op == 'flush':
                # moby Flush(): doCmdWithoutAttr(ipvsCmdFlush), kube-proxy's cleanupLeftovers.
                c.request(g.IPVS_CMD_FLUSH, [])
                print('ok')
            else:
                svc = Svc(pos[1], opts)
                sattr = ('IPVS_CMD_ATTR_SERVICE', {'attrs': svc.attrs()})
                if op in ('add-svc', 'set-svc', 'del-svc'):
                    cmd = {'add-svc': g.IPVS_CMD_NEW_SERVICE, 'set-svc': g.IPVS_CMD_SET_SERVICE,
                           'del-svc': g.IPVS_CMD_DEL_SERVICE}[op]
                    c.request(cmd, [sattr])
                    print('ok')
                elif op == 'get':
                    for r in c.request(g.IPVS_CMD_GET_SERVICE, [sattr]):
                        print(c.svc_line(r.get_attr('IPVS_CMD_ATTR_SERVICE'))[1])
                elif op in ('add-dest', 'set-dest', 'del-dest'):
                    cmd = {'add-dest': g.IPVS_CMD_NEW_DEST, 'set-dest': g.IPVS_CMD_SET_DEST,
                           'del-dest': g.IPVS_CMD_DEL_DEST}[op]
                    ra, rp = split_hostport(pos[2])
                    c.request(cmd, [sattr, ('IPVS_CMD_ATTR_DEST',
                                            {'attrs': dest_attrs(ra, rp, int(opts.get('weight', '1')))})])
                    print('ok')
                elif op == 'dests':
                    for f in sorted(c.dests(svc), key=lambda f: (f['addr'], f['port'])):
                        print(c.dest_line(f))
                elif op == 'weight0':
                    ra, rp = ('busy', 0) if pos[2] == 'busy' else split_hostport(pos[2])
                    c.weight0(svc, ra, rp)
                elif op == 'graceful':
                    ra, rp = split_hostport(pos[2])
                    c.graceful(svc, ra, rp, int(pos[3]))
                else:
                    print(f'unknown op {op}')
                    rc = 2
        except NetlinkError as e:
            print(f'error: {errno.errorcode.get(e.code, e.code)}')
        except Exception as e:  # a decoding or library failure: recorded, the next op runs
            print(f'exception: {type(e).__name__}: {e}')
            rc = 1
        sys.stdout.flush()
    return rc


if __name__ == '__main__':
    sys.exit(main())
