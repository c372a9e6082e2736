#!/usr/bin/python3
"""Minimal generic netlink client for the IPVS family (stdlib only; runs in the test VM).

Usage:
  nlclient.py cases      run the edge cases below in order, one block per case:
                           CASE <name> errno=<n> extack=<msg or ->
                         followed by optional detail lines indented by two spaces:
                           offs=N             NLMSGERR_ATTR_OFFS (offset of the bad attribute)
                           policy={...}       NLMSGERR_ATTR_POLICY, decoded as a TLV tree
                           miss_type=N / miss_nest=N
                           reply cmd=N {...}  each reply message (doit reply or dump part)
                         errno is the positive errno of the NLMSG_ERROR ack (NLM_F_ACK is
                         requested) or of the NLMSG_DONE of a dump; "none" when the kernel
                         sent no answer at all (it silently drops malformed nlmsghdrs);
                         "timeout" if not even the sentinel came back.
  nlclient.py list       the case names, one per line.

The output is deterministic for a given kernel and IPVS implementation: no family id, no
pointers, dump replies sorted, attributes sorted by type within each nest. Each case uses a
fresh socket; after the case's message(s) a sentinel request (CTRL_CMD_GETFAMILY "nlctrl") is
sent, and the answers are read until the sentinel's reply (plus, for a dump that is still
running then, its NLMSG_DONE), so that "no answer" needs no timeout. The cases build on each
other (a service is created, then destinations, ...); run them in a fresh network namespace.
"""
import socket
import struct
import sys

NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_ROOT = 0x100
NLM_F_DUMP = 0x300
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1
NLMSGERR_ATTR_OFFS = 2
NLMSGERR_ATTR_POLICY = 4
NLMSGERR_ATTR_MISS_TYPE = 5
NLMSGERR_ATTR_MISS_NEST = 6
NLA_F_NESTED = 0x8000

GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_CMD_GETPOLICY = 10
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_VERSION = 3
CTRL_ATTR_HDRSIZE = 4
CTRL_ATTR_MAXATTR = 5
CTRL_ATTR_OPS = 6
CTRL_ATTR_MCAST_GROUPS = 7

AF_INET = 2
AF_INET6 = 10
IPPROTO_TCP = 6
IPPROTO_UDP = 17

# include/uapi/linux/ip_vs.h
(CMD_UNSPEC, CMD_NEW_SERVICE, CMD_SET_SERVICE, CMD_DEL_SERVICE, CMD_GET_SERVICE, CMD_NEW_DEST,
 CMD_SET_DEST, CMD_DEL_DEST, CMD_GET_DEST, CMD_NEW_DAEMON, CMD_DEL_DAEMON, CMD_GET_DAEMON,
 CMD_SET_CONFIG, CMD_GET_CONFIG, CMD_SET_INFO, CMD_GET_INFO, CMD_ZERO, CMD_FLUSH) = range(18)
A_SERVICE, A_DEST, A_DAEMON, A_TIMEOUT_TCP, A_TIMEOUT_TCP_FIN, A_TIMEOUT_UDP = range(1, 7)
(S_AF, S_PROTOCOL, S_ADDR, S_PORT, S_FWMARK, S_SCHED_NAME, S_FLAGS, S_TIMEOUT, S_NETMASK,
 S_STATS, S_PE_NAME, S_STATS64) = range(1, 13)
(D_ADDR, D_PORT, D_FWD_METHOD, D_WEIGHT, D_U_THRESH, D_L_THRESH, D_ACTIVE_CONNS,
 D_INACT_CONNS, D_PERSIST_CONNS, D_STATS, D_ADDR_FAMILY, D_STATS64, D_TUN_TYPE, D_TUN_PORT,
 D_TUN_FLAGS) = range(1, 16)
(DM_STATE, DM_MCAST_IFN, DM_SYNC_ID, DM_SYNC_MAXLEN, DM_MCAST_GROUP, DM_MCAST_GROUP6,
 DM_MCAST_PORT, DM_MCAST_TTL) = range(1, 9)
FWD_MASQ, FWD_LOCAL, FWD_TUNNEL, FWD_DROUTE = 0, 1, 2, 3
TUN_IPIP, TUN_GUE, TUN_GRE = 0, 1, 2
SVC_F_PERSISTENT = 0x1
STATE_MASTER, STATE_BACKUP = 1, 2

SENTINEL_SEQ = 0x5e471


def align4(n):
    return (n + 3) & ~3


# --- attribute builders -------------------------------------------------------------------
def nla(atype, payload, length=None):
    """One attribute; `length` overrides nla_len (for malformed cases)."""
    if length is None:
        length = 4 + len(payload)
    return struct.pack("=HH", length, atype) + payload + b"\0" * (align4(len(payload)) - len(payload))


def u8(t, v):
    return nla(t, struct.pack("=B", v))


def u16(t, v):
    return nla(t, struct.pack("=H", v))


def be16(t, v):
    return nla(t, struct.pack(">H", v))


def u32(t, v):
    return nla(t, struct.pack("=I", v & 0xFFFFFFFF))


def be32(t, v):
    return nla(t, struct.pack(">I", v))


def string(t, s):
    return nla(t, s.encode() + b"\0")


def nest(t, *attrs, flag=0):
    return nla(t | flag, b"".join(attrs))


def in4(s):
    return socket.inet_pton(socket.AF_INET, s)


def in6(s):
    return socket.inet_pton(socket.AF_INET6, s)


def addr16(s):
    """union nf_inet_addr as libipvs sends it: 16 bytes."""
    raw = in6(s) if ":" in s else in4(s)
    return raw + b"\0" * (16 - len(raw))


def svc_id(addr="10.1.1.1", port=80, proto=IPPROTO_TCP, af=None, fwmark=None):
    """The identifying service attributes (what ipvsadm sends)."""
    if fwmark is not None:
        return [u16(S_AF, af or AF_INET), u32(S_FWMARK, fwmark)]
    af = af or (AF_INET6 if ":" in addr else AF_INET)
    return [u16(S_AF, af), u16(S_PROTOCOL, proto), nla(S_ADDR, addr16(addr)), be16(S_PORT, port)]


def svc_full(sched="rr", flags=0, mask=0xFFFFFFFF, timeout=0, netmask=0xFFFFFFFF, pe=None, plen=None):
    """The rest of a full service. IPv4: netmask is the mask, sent in network order; IPv6:
    plen is the prefix length, sent in host order (both as libipvs does)."""
    mask_attr = be32(S_NETMASK, netmask) if plen is None else u32(S_NETMASK, plen)
    attrs = [string(S_SCHED_NAME, sched), nla(S_FLAGS, struct.pack("=II", flags, mask)),
             u32(S_TIMEOUT, timeout), mask_attr]
    if pe is not None:
        attrs.append(string(S_PE_NAME, pe))
    return attrs


def svc(*attrs):
    return nest(A_SERVICE, *attrs)


def dest_id(addr="192.168.1.1", port=8080, af=None):
    attrs = [nla(D_ADDR, addr16(addr)), be16(D_PORT, port)]
    if af is not None:
        attrs.append(u16(D_ADDR_FAMILY, af))
    return attrs


def dest_full(fwd=FWD_MASQ, weight=1, u=0, l=0, tun_type=None, tun_port=None, tun_flags=None):
    attrs = [u32(D_FWD_METHOD, fwd), u32(D_WEIGHT, weight), u32(D_U_THRESH, u), u32(D_L_THRESH, l)]
    if tun_type is not None:
        attrs.append(u8(D_TUN_TYPE, tun_type))
    if tun_port is not None:
        attrs.append(be16(D_TUN_PORT, tun_port))
    if tun_flags is not None:
        attrs.append(u16(D_TUN_FLAGS, tun_flags))
    return attrs


def dest(*attrs):
    return nest(A_DEST, *attrs)


# --- messages -------------------------------------------------------------------------------
class Msg:
    """One request: family is filled in at send time (None = the IPVS family)."""

    def __init__(self, cmd, attrs=b"", flags=NLM_F_REQUEST | NLM_F_ACK, family=None, version=1,
                 reserved=0, raw=None, nlmsg_len=None, genl_hdr=None):
        self.cmd, self.attrs, self.flags, self.family = cmd, attrs, flags, family
        self.version, self.reserved, self.raw, self.nlmsg_len = version, reserved, raw, nlmsg_len
        self.genl_hdr = genl_hdr

    def encode(self, ipvs_id, seq):
        if self.raw is not None:
            return self.raw
        family = ipvs_id if self.family is None else self.family
        hdr = self.genl_hdr if self.genl_hdr is not None else \
            struct.pack("=BBH", self.cmd, self.version, self.reserved)
        body = hdr + self.attrs
        length = 16 + len(body) if self.nlmsg_len is None else self.nlmsg_len
        return struct.pack("=IHHII", length, family, self.flags, seq, 0) + body


def req(cmd, *attrs, **kw):
    return Msg(cmd, b"".join(attrs), **kw)


def dump(cmd, *attrs, **kw):
    return Msg(cmd, b"".join(attrs), flags=NLM_F_REQUEST | NLM_F_DUMP, **kw)


# --- decoding -------------------------------------------------------------------------------
def parse_attrs(data):
    out = []
    off = 0
    while off + 4 <= len(data):
        length, atype = struct.unpack_from("=HH", data, off)
        if length < 4 or off + length > len(data):
            out.append((-1, data[off:]))  # malformed tail: keep it visible
            break
        out.append((atype, data[off + 4:off + length]))
        off += align4(length)
    return out


# Which attribute types are nests, by context: a context maps an attribute type (None: any
# type) to the context of its children; types not in it are leaves, shown in hex.
IPVS_STATS = {}
IPVS_SVC = {S_STATS: IPVS_STATS, S_STATS64: IPVS_STATS}
IPVS_DEST = {D_STATS: IPVS_STATS, D_STATS64: IPVS_STATS}
IPVS_REPLY = {
    CMD_NEW_SERVICE: {A_SERVICE: IPVS_SVC},
    CMD_NEW_DEST: {A_DEST: IPVS_DEST},
    CMD_NEW_DAEMON: {A_DAEMON: {}},
}
# CTRL_CMD_GETPOLICY replies: CTRL_ATTR_POLICY {policy index {attribute type {NL_POLICY_TYPE_ATTR_*}}}
# and CTRL_ATTR_OP_POLICY {command {CTRL_ATTR_POLICY_DO/DUMP}}.
CTRL_POLICY_REPLY = {8: {None: {None: {}}}, 9: {None: {}}}
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER


def fmt_attrs(data, ctx, skip=()):
    items = []
    for atype, payload in parse_attrs(data):
        t = atype & NLA_TYPE_MASK if atype >= 0 else atype
        if t in skip:
            continue
        if t in ctx or (None in ctx and t >= 0):
            items.append((t, "%d%s" % (t, fmt_attrs(payload, ctx.get(t, ctx.get(None))))))
        else:
            items.append((t, "%d=%s" % (t, payload.hex() or "''")))
    items.sort(key=lambda x: x[0])
    return "{" + " ".join(s for _, s in items) + "}"


def nul_string(payload):
    return payload.split(b"\0", 1)[0].decode(errors="replace")


class Result:
    def __init__(self):
        self.errnos = []  # one per NLMSG_ERROR / NLMSG_DONE (several for several requests)
        self.extack = None
        self.details = []
        self.replies = []
        self.multi_open = False


def parse_tlvs_into(res, tlvs):
    for atype, payload in parse_attrs(tlvs):
        atype &= NLA_TYPE_MASK
        if atype == NLMSGERR_ATTR_MSG:
            res.extack = nul_string(payload)
        elif atype == NLMSGERR_ATTR_OFFS:
            res.details.append("offs=%d" % struct.unpack("=I", payload[:4])[0])
        elif atype == NLMSGERR_ATTR_POLICY:
            res.details.append("policy=" + fmt_attrs(payload, {}))
        elif atype == NLMSGERR_ATTR_MISS_TYPE:
            res.details.append("miss_type=%d" % struct.unpack("=I", payload[:4])[0])
        elif atype == NLMSGERR_ATTR_MISS_NEST:
            res.details.append("miss_nest=%d" % struct.unpack("=I", payload[:4])[0])
        else:
            res.details.append("ack_tlv %d=%s" % (atype, payload.hex()))


def handle(res, mtype, flags, data, reply_fmt):
    """One message of the case's sequence number."""
    if mtype == NLMSG_ERROR:
        (err,) = struct.unpack_from("=i", data, 0)
        res.errnos.append(str(-err))
        if flags & NLM_F_ACK_TLVS:
            if flags & NLM_F_CAPPED:
                off = 4 + 16
            else:
                (olen,) = struct.unpack_from("=I", data, 4)
                off = 4 + align4(olen)
            parse_tlvs_into(res, data[off:])
        res.multi_open = False
    elif mtype == NLMSG_DONE:
        (err,) = struct.unpack_from("=i", data, 0) if len(data) >= 4 else (0,)
        res.errnos.append(str(-err))
        if flags & NLM_F_ACK_TLVS:
            parse_tlvs_into(res, data[4:])
        res.multi_open = False
    else:
        if flags & NLM_F_MULTI:
            res.multi_open = True
        res.replies.append(reply_fmt(mtype, data))


def ipvs_reply_fmt(mtype, data):
    if len(data) < 4:
        return "reply type=%d short=%s" % (mtype, data.hex())
    cmd, version, _ = struct.unpack_from("=BBH", data, 0)
    return "reply cmd=%d version=%d %s" % (cmd, version, fmt_attrs(data[4:], IPVS_REPLY.get(cmd, {})))


def exchange(msgs, ipvs_id, reply_fmt=ipvs_reply_fmt):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    try:
        s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        s.bind((0, 0))
        s.settimeout(10)
        res = Result()
        seqs = set()
        for i, m in enumerate(msgs):
            seqs.add(i + 1)
            try:
                s.send(m.encode(ipvs_id, i + 1))
            except OSError as e:  # the send itself refused (not expected for netlink)
                res.errnos.append("send:%d" % e.errno)
        sentinel = nla(CTRL_ATTR_FAMILY_NAME, b"nlctrl\0")
        s.send(struct.pack("=IHHII", 16 + 4 + len(sentinel), GENL_ID_CTRL, NLM_F_REQUEST,
                           SENTINEL_SEQ, 0) + struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0) + sentinel)
        got_sentinel = False
        while not got_sentinel or res.multi_open:
            try:
                buf = s.recv(1 << 20)
            except socket.timeout:
                res.errnos.append("timeout")
                break
            off = 0
            while off + 16 <= len(buf):
                length, mtype, flags, seq, _ = struct.unpack_from("=IHHII", buf, off)
                if length < 16:
                    break
                data = buf[off + 16:off + length]
                if seq == SENTINEL_SEQ:
                    got_sentinel = True
                elif seq in seqs:
                    handle(res, mtype, flags, data, reply_fmt)
                else:
                    res.details.append("stray seq=%d type=%d" % (seq, mtype))
                off += align4(length)
        return res
    finally:
        s.close()


def resolve_family(name):
    """(family id or None, Result of the GETFAMILY case)."""
    holder = {}

    def fmt(mtype, data):
        attrs = dict((t, p) for t, p in parse_attrs(data[4:]))
        if CTRL_ATTR_FAMILY_ID in attrs:
            holder["id"] = struct.unpack("=H", attrs[CTRL_ATTR_FAMILY_ID][:2])[0]
        parts = ["name=%s" % nul_string(attrs.get(CTRL_ATTR_FAMILY_NAME, b""))]
        for t, label in ((CTRL_ATTR_VERSION, "version"), (CTRL_ATTR_HDRSIZE, "hdrsize"),
                         (CTRL_ATTR_MAXATTR, "maxattr")):
            if t in attrs:
                parts.append("%s=%d" % (label, struct.unpack("=I", attrs[t][:4])[0]))
        ops = []
        for _, op in parse_attrs(attrs.get(CTRL_ATTR_OPS, b"")):
            o = dict(parse_attrs(op))
            ops.append("%d:%#x" % (struct.unpack("=I", o.get(1, b"\0" * 4)[:4])[0],
                                   struct.unpack("=I", o.get(2, b"\0" * 4)[:4])[0]))
        parts.append("ops=" + ",".join(ops))
        groups = []
        for _, g in parse_attrs(attrs.get(CTRL_ATTR_MCAST_GROUPS, b"")):
            groups.append(nul_string(dict(parse_attrs(g)).get(1, b"")))
        parts.append("mcast=" + (",".join(groups) or "-"))
        other = sorted(t for t in attrs if t not in (1, 2, 3, 4, 5, 6, 7))
        if other:
            parts.append("other_attrs=" + ",".join(map(str, other)))
        return "family " + " ".join(parts)

    m = req(CTRL_CMD_GETFAMILY, nla(CTRL_ATTR_FAMILY_NAME, name.encode() + b"\0"), family=GENL_ID_CTRL)
    res = exchange([m], 0, fmt)
    return holder.get("id"), res


def policy_fmt(mtype, data):
    # The family id (CTRL_ATTR_FAMILY_ID) is whatever genetlink assigned at registration.
    return "policy " + fmt_attrs(data[4:], CTRL_POLICY_REPLY, skip=(CTRL_ATTR_FAMILY_ID,))


# --- the cases --------------------------------------------------------------------------------
SCHED15 = "a" * 15  # IP_VS_SCHEDNAME_MAXLEN - 1: the longest name the policy admits
PE16 = "p" * 16     # IP_VS_PENAME_MAXLEN: the policy admits one more than for schedulers

V = svc_id  # shorthand
S1 = V("10.1.1.1", 80)  # the service most cases work on
D1 = dest_id("192.168.1.1", 8080)


def cases():
    """(name, [messages]) in order; later cases rely on the state earlier ones built."""
    c = []

    def add(name, *msgs):
        c.append((name, list(msgs)))

    add("flush_initial", req(CMD_FLUSH))
    add("get_info", req(CMD_GET_INFO))
    add("get_config_defaults", req(CMD_GET_CONFIG))
    add("svc_dump_empty", dump(CMD_GET_SERVICE))
    add("daemon_dump_empty", dump(CMD_GET_DAEMON))
    # Services.
    add("svc_new_ok", req(CMD_NEW_SERVICE, svc(*S1, *svc_full("rr"))))
    add("svc_new_duplicate", req(CMD_NEW_SERVICE, svc(*S1, *svc_full("wlc"))))
    add("svc_get_ok", req(CMD_GET_SERVICE, svc(*S1)))
    add("svc_get_missing", req(CMD_GET_SERVICE, svc(*V("10.1.1.99", 80))))
    add("svc_get_no_service_attr", req(CMD_GET_SERVICE))
    add("svc_new_no_service_attr", req(CMD_NEW_SERVICE))
    add("svc_new_zero_length_nest", req(CMD_NEW_SERVICE, nla(A_SERVICE, b"")))
    add("svc_new_missing_af", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80)[1:], *svc_full())))
    add("svc_new_missing_port", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80)[:3], *svc_full())))
    add("svc_new_missing_sched", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *svc_full()[1:])))
    add("svc_new_missing_flags", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *[a for i, a in enumerate(svc_full()) if i != 1])))
    add("svc_new_missing_timeout", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *[a for i, a in enumerate(svc_full()) if i != 2])))
    add("svc_new_missing_netmask", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *svc_full()[:3])))
    add("svc_new_af_99", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80, af=99), *svc_full())))
    add("svc_new_af_1_byte", req(CMD_NEW_SERVICE, svc(nla(S_AF, b"\x02"), *V("10.1.1.5", 80)[1:], *svc_full())))
    add("svc_new_af_as_u32", req(CMD_NEW_SERVICE, svc(u32(S_AF, AF_INET), *V("10.1.1.2", 80)[1:], *svc_full())))
    add("svc_new_port_as_u32", req(CMD_NEW_SERVICE, svc(*V("10.1.1.3", 80)[:3], nla(S_PORT, struct.pack(">HH", 81, 0x5555)), *svc_full())))
    add("svc_new_addr_17_bytes", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80)[:2], nla(S_ADDR, addr16("10.1.1.5") + b"\0"), be16(S_PORT, 80), *svc_full())))
    add("svc_new_addr_4_bytes", req(CMD_NEW_SERVICE, svc(*V("10.1.1.4", 80)[:2], nla(S_ADDR, in4("10.1.1.4")), be16(S_PORT, 80), *svc_full())))
    add("svc_new_addr_empty", req(CMD_NEW_SERVICE, svc(*V("10.1.1.4", 80)[:2], nla(S_ADDR, b""), be16(S_PORT, 8000), *svc_full())))
    add("svc_new_sched_15_chars", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *svc_full(SCHED15))))
    add("svc_new_sched_16_chars", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *svc_full(SCHED15 + "a"))))
    add("svc_new_sched_no_nul", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), nla(S_SCHED_NAME, b"rr"), *svc_full()[1:])))
    add("svc_new_sched_16_bytes_nul_padded", req(CMD_NEW_SERVICE, svc(*V("10.1.1.14", 80), nla(S_SCHED_NAME, b"rr" + b"\0" * 14), *svc_full()[1:])))
    add("svc_new_sched_empty", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *svc_full(""))))
    add("svc_new_sched_unknown", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *svc_full("bogus"))))
    add("svc_new_sched_none", req(CMD_NEW_SERVICE, svc(*V("10.1.1.6", 80), *svc_full("none"))))
    add("svc_new_pe_16_chars", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *svc_full(pe=PE16))))
    add("svc_new_pe_17_chars", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *svc_full(pe=PE16 + "p"))))
    add("svc_new_pe_sip", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *svc_full(pe="sip"))))
    add("svc_new_pe_empty", req(CMD_NEW_SERVICE, svc(*V("10.1.1.7", 80), *svc_full(pe=""))))
    add("svc_new_flags_12_bytes", req(CMD_NEW_SERVICE, svc(*V("10.1.1.5", 80), *svc_full()[:1], nla(S_FLAGS, b"\0" * 12), *svc_full()[2:])))
    add("svc_new_flags_4_bytes", req(CMD_NEW_SERVICE, svc(*V("10.1.1.8", 80), *svc_full()[:1], nla(S_FLAGS, struct.pack("=I", SVC_F_PERSISTENT)), *svc_full()[2:])))
    add("svc_new_flags_unknown_bits", req(CMD_NEW_SERVICE, svc(*V("10.1.1.9", 80), *svc_full(flags=0xFFFF0040, mask=0xFFFFFFFF))))
    add("svc_new_persistent", req(CMD_NEW_SERVICE, svc(*V("10.1.1.10", 443), *svc_full("wlc", flags=SVC_F_PERSISTENT, timeout=300, netmask=0xFFFFFF00))))
    add("svc_new_protocol_99", req(CMD_NEW_SERVICE, svc(*V("10.1.1.11", 80, proto=99), *svc_full())))
    add("svc_new_udp", req(CMD_NEW_SERVICE, svc(*V("10.1.1.1", 53, proto=IPPROTO_UDP), *svc_full("wrr"))))
    add("svc_new_v6_plen_0", req(CMD_NEW_SERVICE, svc(*V("2001:db8::5", 80), *svc_full(plen=0))))
    add("svc_new_v6_plen_129", req(CMD_NEW_SERVICE, svc(*V("2001:db8::5", 80), *svc_full(plen=129))))
    add("svc_new_v6_plen_as_be32", req(CMD_NEW_SERVICE, svc(*V("2001:db8::5", 80), *svc_full(netmask=128))))
    add("svc_new_v6_ok", req(CMD_NEW_SERVICE, svc(*V("2001:db8::1", 80), *svc_full("sh", plen=128))))
    add("svc_new_fwmark_0", req(CMD_NEW_SERVICE, svc(*V(fwmark=0), *svc_full())))
    add("svc_new_fwmark_7", req(CMD_NEW_SERVICE, svc(*V(fwmark=7), *svc_full("mh"))))
    add("svc_new_fwmark_7_v6", req(CMD_NEW_SERVICE, svc(*V(fwmark=7, af=AF_INET6), *svc_full("lc", plen=64))))
    add("svc_new_unknown_nested_attr", req(CMD_NEW_SERVICE, svc(*V("10.1.1.12", 80), *svc_full(), u32(50, 1))))
    add("svc_new_stats_attr_ignored", req(CMD_NEW_SERVICE, svc(*V("10.1.1.13", 80), *svc_full(), nest(S_STATS, u32(1, 5)))))
    add("svc_set_missing", req(CMD_SET_SERVICE, svc(*V("10.1.1.99", 80), *svc_full())))
    add("svc_set_bad_sched", req(CMD_SET_SERVICE, svc(*S1, *svc_full("bogus"))))
    add("svc_set_not_full", req(CMD_SET_SERVICE, svc(*S1)))
    add("svc_set_ok", req(CMD_SET_SERVICE, svc(*S1, *svc_full("wlc"))))
    add("svc_set_unknown_top_attr", req(CMD_SET_SERVICE, svc(*S1, *svc_full("wlc")), u32(30, 1)))
    add("svc_set_nested_flag", req(CMD_SET_SERVICE, nest(A_SERVICE, *S1, *svc_full("rr"), flag=NLA_F_NESTED)))
    add("svc_set_flags_mask_0", req(CMD_SET_SERVICE, svc(*V("10.1.1.10", 443), *svc_full("wlc", flags=0, mask=0, timeout=300, netmask=0xFFFFFF00))))
    add("svc_del_missing", req(CMD_DEL_SERVICE, svc(*V("10.1.1.99", 80))))
    add("svc_del_protocol_99", req(CMD_DEL_SERVICE, svc(*V("10.1.1.11", 80, proto=99))))
    add("svc_top_nest_2_bytes", req(CMD_NEW_SERVICE, nla(A_SERVICE, b"\0\0")))
    add("svc_top_nla_len_overrun", req(CMD_NEW_SERVICE, nla(A_SERVICE, b"".join(V("10.1.1.5", 80) + svc_full()), length=1000)))
    add("svc_top_nla_len_2", req(CMD_NEW_SERVICE, nla(A_SERVICE, b"", length=2)))
    add("svc_nested_nla_len_overrun", req(CMD_NEW_SERVICE, svc(*V("10.1.1.15", 80), *[a for i, a in enumerate(svc_full()) if i != 2], nla(S_TIMEOUT, b"\0" * 4, length=64))))
    add("svc_dump", dump(CMD_GET_SERVICE))
    add("svc_dump_with_ack_flag", Msg(CMD_GET_SERVICE, flags=NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK))
    # Destinations (on 10.1.1.1:80).
    add("dest_new_missing_service", req(CMD_NEW_DEST, svc(*V("10.1.1.99", 80)), dest(*D1, *dest_full())))
    add("dest_new_ok", req(CMD_NEW_DEST, svc(*S1), dest(*D1, *dest_full())))
    add("dest_new_duplicate", req(CMD_NEW_DEST, svc(*S1), dest(*D1, *dest_full(FWD_DROUTE))))
    add("dest_new_no_dest_attr", req(CMD_NEW_DEST, svc(*S1)))
    add("dest_new_zero_length_nest", req(CMD_NEW_DEST, svc(*S1), nla(A_DEST, b"")))
    add("dest_new_missing_port", req(CMD_NEW_DEST, svc(*S1), dest(nla(D_ADDR, addr16("192.168.1.2")), *dest_full())))
    add("dest_new_missing_weight", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.2"), *[a for i, a in enumerate(dest_full()) if i != 1])))
    add("dest_new_missing_fwd", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.2"), *dest_full()[1:])))
    add("dest_new_missing_thresholds", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.2"), *dest_full()[:2])))
    add("dest_new_weight_minus_1", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.2"), *dest_full(weight=0xFFFFFFFF))))
    add("dest_new_weight_int_max", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.3"), *dest_full(weight=0x7FFFFFFF))))
    add("dest_new_weight_as_u16", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.2"), u32(D_FWD_METHOD, 0), u16(D_WEIGHT, 1), u32(D_U_THRESH, 0), u32(D_L_THRESH, 0))))
    add("dest_new_weight_as_u64", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.4"), u32(D_FWD_METHOD, 0), nla(D_WEIGHT, struct.pack("=Q", 0x500000003)), u32(D_U_THRESH, 0), u32(D_L_THRESH, 0))))
    add("dest_new_l_thresh_gt_u_thresh", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.2"), *dest_full(u=10, l=20))))
    add("dest_new_u_thresh_over_int_max", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.2"), *dest_full(u=0x80000000))))
    add("dest_new_gue_port_0", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.2"), *dest_full(FWD_TUNNEL, tun_type=TUN_GUE, tun_port=0))))
    add("dest_new_gue_ok", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.5", 80), *dest_full(FWD_TUNNEL, tun_type=TUN_GUE, tun_port=6080, tun_flags=3))))
    add("dest_new_tun_type_99", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.6", 80), *dest_full(FWD_TUNNEL, tun_type=99))))
    add("dest_new_tun_type_as_u32", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.7", 80), *dest_full(FWD_TUNNEL), u32(D_TUN_TYPE, TUN_GRE))))
    add("dest_new_fwd_method_99", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.8", 80), *dest_full(99))))
    add("dest_new_af_99", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("192.168.1.2", af=99), *dest_full())))
    add("dest_new_v6_on_v4_masq", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("2001:db8::2", af=AF_INET6), *dest_full())))
    add("dest_new_v6_on_v4_tunnel", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("2001:db8::3", 80, af=AF_INET6), *dest_full(FWD_TUNNEL))))
    add("dest_new_v6_addr_no_af", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("2001:db8::4"), *dest_full())))
    add("dest_new_multicast", req(CMD_NEW_DEST, svc(*S1), dest(*dest_id("224.0.0.1"), *dest_full())))
    add("dest_new_v6_link_local", req(CMD_NEW_DEST, svc(*V("2001:db8::1", 80)), dest(*dest_id("fe80::1", af=AF_INET6), *dest_full())))
    add("dest_new_on_fwmark", req(CMD_NEW_DEST, svc(*V(fwmark=7)), dest(*dest_id("192.168.1.9", 0), *dest_full(FWD_DROUTE))))
    add("dest_set_missing", req(CMD_SET_DEST, svc(*S1), dest(*dest_id("192.168.1.99"), *dest_full())))
    add("dest_set_ok", req(CMD_SET_DEST, svc(*S1), dest(*D1, *dest_full(weight=5, u=100, l=10))))
    add("dest_set_l_gt_u", req(CMD_SET_DEST, svc(*S1), dest(*D1, *dest_full(weight=5, u=1, l=2))))
    add("dest_set_missing_service", req(CMD_SET_DEST, svc(*V("10.1.1.99", 80)), dest(*D1, *dest_full())))
    add("dest_del_missing", req(CMD_DEL_DEST, svc(*S1), dest(*dest_id("192.168.1.99"))))
    add("dest_del_not_full_ok", req(CMD_DEL_DEST, svc(*S1), dest(*dest_id("192.168.1.8", 80))))
    add("dest_get_doit", req(CMD_GET_DEST, svc(*S1)))
    add("dest_dump_ok", dump(CMD_GET_DEST, svc(*S1)))
    add("dest_dump_no_service", dump(CMD_GET_DEST))
    add("dest_dump_missing_service", dump(CMD_GET_DEST, svc(*V("10.1.1.99", 80))))
    add("dest_dump_bad_top_attr", dump(CMD_GET_DEST, nla(A_SERVICE, b"\0\0")))
    add("dest_dump_fwmark", dump(CMD_GET_DEST, svc(*V(fwmark=7))))
    # Zero, config, daemons.
    add("zero_all", req(CMD_ZERO))
    add("zero_service", req(CMD_ZERO, svc(*S1)))
    add("zero_missing_service", req(CMD_ZERO, svc(*V("10.1.1.99", 80))))
    add("zero_bad_service_nest", req(CMD_ZERO, nla(A_SERVICE, b"")))
    add("config_set_ok", req(CMD_SET_CONFIG, u32(A_TIMEOUT_TCP, 1000), u32(A_TIMEOUT_TCP_FIN, 100), u32(A_TIMEOUT_UDP, 200)))
    add("config_get_after_set", req(CMD_GET_CONFIG))
    add("config_set_partial", req(CMD_SET_CONFIG, u32(A_TIMEOUT_UDP, 33)))
    add("config_set_none", req(CMD_SET_CONFIG))
    add("config_set_tcp_2_bytes", req(CMD_SET_CONFIG, nla(A_TIMEOUT_TCP, b"\x10\x00")))
    add("config_set_tcp_8_bytes", req(CMD_SET_CONFIG, nla(A_TIMEOUT_TCP, struct.pack("=Q", 0x700000777))))
    add("config_set_minus_1", req(CMD_SET_CONFIG, u32(A_TIMEOUT_TCP, 0xFFFFFFFF)))
    add("config_set_udp_huge", req(CMD_SET_CONFIG, u32(A_TIMEOUT_UDP, 0x7FFFFFFF)))
    add("config_set_zero", req(CMD_SET_CONFIG, u32(A_TIMEOUT_TCP, 0), u32(A_TIMEOUT_TCP_FIN, 0), u32(A_TIMEOUT_UDP, 0)))
    add("config_get_final", req(CMD_GET_CONFIG))
    add("daemon_del_no_attr", req(CMD_DEL_DAEMON))
    add("daemon_del_no_state", req(CMD_DEL_DAEMON, nest(A_DAEMON, u32(DM_SYNC_ID, 1))))
    add("daemon_del_master_not_running", req(CMD_DEL_DAEMON, nest(A_DAEMON, u32(DM_STATE, STATE_MASTER))))
    add("daemon_del_state_99", req(CMD_DEL_DAEMON, nest(A_DAEMON, u32(DM_STATE, 99))))
    add("daemon_new_missing_ifn", req(CMD_NEW_DAEMON, nest(A_DAEMON, u32(DM_STATE, STATE_MASTER), u32(DM_SYNC_ID, 1))))
    add("daemon_new_ifn_16_chars", req(CMD_NEW_DAEMON, nest(A_DAEMON, u32(DM_STATE, STATE_MASTER), string(DM_MCAST_IFN, "x" * 16), u32(DM_SYNC_ID, 1))))
    add("daemon_new_group_not_multicast", req(CMD_NEW_DAEMON, nest(A_DAEMON, u32(DM_STATE, STATE_MASTER), string(DM_MCAST_IFN, "lo"), u32(DM_SYNC_ID, 1), nla(DM_MCAST_GROUP, in4("10.0.0.1")))))
    add("daemon_new_group6_not_multicast", req(CMD_NEW_DAEMON, nest(A_DAEMON, u32(DM_STATE, STATE_BACKUP), string(DM_MCAST_IFN, "lo"), u32(DM_SYNC_ID, 1), nla(DM_MCAST_GROUP6, in6("2001:db8::1")))))
    add("daemon_dump", dump(CMD_GET_DAEMON))
    # Generic netlink framing and command numbers.
    add("cmd_unspec_0", req(CMD_UNSPEC))
    add("cmd_set_info_14", req(CMD_SET_INFO))
    add("cmd_18_first_unused", req(18))
    add("cmd_99", req(99))
    add("cmd_99_reserved_nonzero", req(99, reserved=1))
    add("cmd_18_flag_root", req(18, flags=NLM_F_REQUEST | NLM_F_ACK | NLM_F_ROOT))
    add("get_info_reserved_nonzero", req(CMD_GET_INFO, reserved=7))
    add("get_info_version_2", req(CMD_GET_INFO, version=2))
    add("get_info_dump", dump(CMD_GET_INFO))
    add("get_config_dump", dump(CMD_GET_CONFIG))
    add("flush_dump", dump(CMD_FLUSH))
    add("genl_header_truncated", req(CMD_GET_INFO, genl_hdr=b"\x0f\x01"))
    add("genl_header_missing", req(CMD_GET_INFO, genl_hdr=b""))
    add("nlmsghdr_truncated", Msg(0, raw=b"\x0a\x00\x00\x00\x10\x00\x05\x00\x01\x00"))
    add("nlmsg_len_beyond_datagram", req(CMD_FLUSH, nlmsg_len=200))
    add("flush_without_request_flag", req(CMD_FLUSH, flags=NLM_F_ACK))
    add("svc_dump_after_no_request_flush", dump(CMD_GET_SERVICE))
    add("two_requests_one_datagram", TwoInOne())
    add("flush_final", req(CMD_FLUSH))
    add("svc_dump_final", dump(CMD_GET_SERVICE))
    return c


class TwoInOne(Msg):
    """GET_INFO then DEL of a missing service, packed in one datagram (seq 1 for both)."""

    def __init__(self):
        super().__init__(0)

    def encode(self, ipvs_id, seq):
        return req(CMD_GET_INFO).encode(ipvs_id, seq) + \
            req(CMD_DEL_SERVICE, svc(*V("10.1.1.99", 80))).encode(ipvs_id, seq)


def case_line(name, res):
    errno = ",".join(res.errnos) or "none"
    return "CASE %s errno=%s extack=%s" % (name, errno, res.extack if res.extack is not None else "-")


def run_case(name, msgs, ipvs_id, reply_fmt=ipvs_reply_fmt):
    res = exchange(msgs, ipvs_id, reply_fmt)
    lines = [case_line(name, res)]
    lines += ["  " + d for d in res.details]
    # Dumps: replies in kernel order are hash order for services; sort for determinism.
    replies = sorted(res.replies) if any(m.flags & NLM_F_DUMP == NLM_F_DUMP for m in msgs) else res.replies
    lines += ["  " + r for r in replies]
    print("\n".join(lines), flush=True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "cases"
    all_cases = cases()
    if mode == "list":
        print("ctrl_getfamily\nctrl_getpolicy")
        for name, _ in all_cases:
            print(name)
        return 0
    if mode != "cases":
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ipvs_id, res = resolve_family("IPVS")
    lines = [case_line("ctrl_getfamily", res)]
    lines += ["  " + d for d in res.details] + ["  " + r for r in res.replies]
    print("\n".join(lines), flush=True)
    # The family's attribute policies as the kernel exports them (CTRL_CMD_GETPOLICY dump).
    run_case("ctrl_getpolicy",
             [Msg(CTRL_CMD_GETPOLICY, nla(CTRL_ATTR_FAMILY_NAME, b"IPVS\0"), family=GENL_ID_CTRL,
                  flags=NLM_F_REQUEST | NLM_F_DUMP)], 0, policy_fmt)
    if ipvs_id is None:
        ipvs_id = 0xFFF0  # no such family: every case then reports what the kernel says to that
    for name, msgs in all_cases:
        run_case(name, msgs, ipvs_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
