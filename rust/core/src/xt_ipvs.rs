//! The `ipvs` xtables match (`iptables -m ipvs`): whether a packet was handled by IPVS and
//! which connection, virtual service, direction and forwarding method it belongs to.
//!
//! C source (Linux 6.12): `net/netfilter/xt_ipvs.c` (`ipvs_mt()`, `ipvs_mt_check()`,
//! `ipvs_mt_addrcmp()`), `include/uapi/linux/netfilter/xt_ipvs.h` (`struct xt_ipvs_mtinfo`),
//! and what `ipvs_mt()` calls: `ip_vs_fill_iph_skb()` with `inverse = true`
//! (`include/net/ip_vs.h`), `ip_vs_conn_fill_param_proto()` and `ip_vs_conn_out_get()`
//! (`net/netfilter/ipvs/ip_vs_conn.c`).
//!
//! # Model
//!
//! C reads the skb (`skb->ipvs_property`, the IP and port headers, the conntrack info) and
//! looks the connection up in the IPVS table. Here [`ipvs_mt`] is the same function over
//! values: the packet as a [`PacketRead`], its `ipvs_property` bit, its conntrack direction
//! (asked for only when `--vdir` is given, as C calls `nf_ct_get()` only then) and a lookup
//! closure that the data path implements with [`out_get_hit`] over its connection table (asked
//! for only when C looks up, and given the key C builds, [`ConnParam`]).
//!
//! What C's lookup compares, and so which packets find their connection: the packet is read
//! *inverted* (`IP_VS_HDR_INVERSE`: its destination becomes the parameter's client end), then
//! `ip_vs_conn_out_get()` compares the parameter's client end with the entry's *virtual* end
//! for DR/TUN/local entries and with its *real server* end for NAT entries, and the
//! parameter's virtual end with the entry's client. So the requests IPVS forwarded (after
//! DNAT for NAT, unchanged for DR) find their entry; replies (real server → client, or
//! virtual service → client after SNAT) do not, unless their ports happen to line up.

use crate::netlink::ipvs::conn_flags;
use crate::wire::{self, Family, InetAddr, PacketRead, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};

/// The `XT_IPVS_*` bits of [`MtInfo::bitmask`] and [`MtInfo::invert`].
pub mod bits {
    /// `XT_IPVS_IPVS_PROPERTY` (`--ipvs`): all other options imply this one.
    pub const IPVS_PROPERTY: u8 = 1 << 0;
    /// `XT_IPVS_PROTO` (`--vproto`).
    pub const PROTO: u8 = 1 << 1;
    /// `XT_IPVS_VADDR` (`--vaddr`).
    pub const VADDR: u8 = 1 << 2;
    /// `XT_IPVS_VPORT` (`--vport`).
    pub const VPORT: u8 = 1 << 3;
    /// `XT_IPVS_DIR` (`--vdir`; inverted means `REPLY`).
    pub const DIR: u8 = 1 << 4;
    /// `XT_IPVS_METHOD` (`--vmethod`).
    pub const METHOD: u8 = 1 << 5;
    /// `XT_IPVS_VPORTCTL` (`--vportctl`).
    pub const VPORTCTL: u8 = 1 << 6;
    /// `XT_IPVS_MASK`.
    pub const MASK: u8 = (1 << 7) - 1;
    /// `XT_IPVS_ONCE_MASK`.
    pub const ONCE_MASK: u8 = MASK & !IPVS_PROPERTY;
}

/// `sizeof(struct xt_ipvs_mtinfo)`, which is also `XT_ALIGN()` of it (the match's
/// `matchsize`): two 16-byte addresses, then 8 bytes of fields, no padding.
pub const INFO_SIZE: usize = 40;

/// Byte offsets in `struct xt_ipvs_mtinfo` (checked against the C header by
/// `BUILD_BUG_ON`s in `rust/xt_ipvs_glue.c`).
pub mod field {
    use core::ops::Range;
    /// `union nf_inet_addr vaddr`.
    pub const VADDR: Range<usize> = 0..16;
    /// `union nf_inet_addr vmask`.
    pub const VMASK: Range<usize> = 16..32;
    /// `__be16 vport`.
    pub const VPORT: usize = 32;
    /// `__u8 l4proto`.
    pub const L4PROTO: usize = 34;
    /// `__u8 fwd_method`.
    pub const FWD_METHOD: usize = 35;
    /// `__be16 vportctl`.
    pub const VPORTCTL: usize = 36;
    /// `__u8 invert`.
    pub const INVERT: usize = 38;
    /// `__u8 bitmask`.
    pub const BITMASK: usize = 39;
}

/// `struct xt_ipvs_mtinfo`, as iptables / the nft compat layer hand it to the kernel (ports
/// here in host order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MtInfo {
    /// `--vaddr` address.
    pub vaddr: InetAddr,
    /// `--vaddr` mask.
    pub vmask: InetAddr,
    /// `--vport`.
    pub vport: u16,
    /// `--vproto`.
    pub l4proto: u8,
    /// `--vmethod`: `IP_VS_CONN_F_MASQ` (0), `_TUNNEL` (2) or `_DROUTE` (3).
    pub fwd_method: u8,
    /// `--vportctl`.
    pub vportctl: u16,
    /// Which options are negated (`!`); for [`bits::DIR`]: `REPLY`.
    pub invert: u8,
    /// Which options are given.
    pub bitmask: u8,
}

impl MtInfo {
    /// Reads the C struct's bytes (any contents are valid: the kernel does not check them).
    pub fn from_bytes(b: &[u8; INFO_SIZE]) -> MtInfo {
        let mut vaddr = [0u8; 16];
        let mut vmask = [0u8; 16];
        vaddr.copy_from_slice(&b[field::VADDR]);
        vmask.copy_from_slice(&b[field::VMASK]);
        MtInfo {
            vaddr: InetAddr(vaddr),
            vmask: InetAddr(vmask),
            vport: u16::from_be_bytes([b[field::VPORT], b[field::VPORT + 1]]),
            l4proto: b[field::L4PROTO],
            fwd_method: b[field::FWD_METHOD],
            vportctl: u16::from_be_bytes([b[field::VPORTCTL], b[field::VPORTCTL + 1]]),
            invert: b[field::INVERT],
            bitmask: b[field::BITMASK],
        }
    }

    /// The C struct's bytes.
    pub fn to_bytes(&self) -> [u8; INFO_SIZE] {
        let mut b = [0u8; INFO_SIZE];
        b[field::VADDR].copy_from_slice(&self.vaddr.0);
        b[field::VMASK].copy_from_slice(&self.vmask.0);
        b[field::VPORT..field::VPORT + 2].copy_from_slice(&self.vport.to_be_bytes());
        b[field::L4PROTO] = self.l4proto;
        b[field::FWD_METHOD] = self.fwd_method;
        b[field::VPORTCTL..field::VPORTCTL + 2].copy_from_slice(&self.vportctl.to_be_bytes());
        b[field::INVERT] = self.invert;
        b[field::BITMASK] = self.bitmask;
        b
    }
}

/// `NFPROTO_IPV4`.
pub const NFPROTO_IPV4: u8 = 2;
/// `NFPROTO_IPV6`.
pub const NFPROTO_IPV6: u8 = 10;

/// `ipvs_mt_check()`: the family a rule may use the match in (C refuses the others with
/// `EINVAL`; built with `CONFIG_IP_VS_IPV6`, as the test kernel's C IPVS is).
pub fn check_family(nfproto: u8) -> Option<Family> {
    match nfproto {
        NFPROTO_IPV4 => Some(Family::Ipv4),
        NFPROTO_IPV6 => Some(Family::Ipv6),
        _ => None,
    }
}

/// The protocols `ip_vs_proto_get()` knows in the test kernel's C IPVS (TCP, UDP, SCTP;
/// `CONFIG_IP_VS_PROTO_AH_ESP` is off there), each with `ip_vs_conn_out_get_proto()` as
/// `conn_out_get`.
pub fn has_protocol_handler(protocol: u8) -> bool {
    matches!(protocol, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)
}

/// `struct ip_vs_conn_param` as `ip_vs_conn_fill_param_proto()` fills it for `ipvs_mt()`,
/// from a packet read with `IP_VS_HDR_INVERSE`: `caddr:cport` is the packet's
/// *destination*, `vaddr:vport` its *source* (ports host order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnParam {
    /// `p->af`: the match's family.
    pub family: Family,
    /// `p->protocol`.
    pub protocol: u8,
    /// `p->caddr`: the packet's destination address.
    pub caddr: InetAddr,
    /// `p->cport`: the packet's destination port.
    pub cport: u16,
    /// `p->vaddr`: the packet's source address.
    pub vaddr: InetAddr,
    /// `p->vport`: the packet's source port.
    pub vport: u16,
}

impl ConnParam {
    /// The end of the parameter the table's bucket is chosen by
    /// (`ip_vs_conn_hashkey_param(p, true)`: `vaddr:vport`, an entry's client end).
    pub fn hash_end(&self) -> (&InetAddr, u16) {
        (&self.vaddr, self.vport)
    }
}

/// The fields of a connection entry `ip_vs_conn_out_get()` compares (ports host order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnKey<'a> {
    /// `cp->af`.
    pub family: Family,
    /// `cp->protocol`.
    pub protocol: u8,
    /// `cp->caddr`.
    pub caddr: &'a InetAddr,
    /// `cp->cport`.
    pub cport: u16,
    /// `cp->vaddr`.
    pub vaddr: &'a InetAddr,
    /// `cp->vport`.
    pub vport: u16,
    /// `cp->daddr`.
    pub daddr: &'a InetAddr,
    /// `cp->dport`.
    pub dport: u16,
    /// `cp->flags`.
    pub flags: u32,
}

/// `ip_vs_addr_equal()`: 4 bytes for IPv4, 16 for IPv6.
fn addr_equal(family: Family, a: &InetAddr, b: &InetAddr) -> bool {
    match family {
        Family::Ipv4 => a.0[..4] == b.0[..4],
        Family::Ipv6 => a.0 == b.0,
    }
}

/// The test of `ip_vs_conn_out_get()`'s bucket walk (Linux 6.12): does entry `c` answer `p`?
/// The caller walks the bucket of [`ConnParam::hash_end`] in the namespace of the packet
/// (`cp->ipvs == p->ipvs`) and takes the first hit it can get a reference on. Templates are
/// not skipped (C does not look at `IP_VS_CONN_F_TEMPLATE` here; their client port 0 keeps
/// them out of real traffic's way).
pub fn out_get_hit(p: &ConnParam, c: &ConnKey<'_>) -> bool {
    if p.vport != c.cport {
        return false;
    }
    let (saddr, sport) = if c.flags & conn_flags::FWD_MASK != conn_flags::MASQ {
        (c.vaddr, c.vport)
    } else {
        (c.daddr, c.dport)
    };
    p.cport == sport
        && c.family == p.family
        && addr_equal(p.family, &p.vaddr, c.caddr)
        && addr_equal(p.family, &p.caddr, saddr)
        && p.protocol == c.protocol
}

/// What `ipvs_mt()` reads from the connection it found (ports host order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnView {
    /// `cp->vaddr`.
    pub vaddr: InetAddr,
    /// `cp->vport`.
    pub vport: u16,
    /// `cp->flags`.
    pub flags: u32,
    /// `cp->control->vport`, `None` when `cp->control` is `NULL` (no persistence template).
    pub control_vport: Option<u16>,
}

/// The packet's conntrack as `nf_ct_get()` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtDir {
    /// No conntrack entry (`ct == NULL`: none, or `IP_CT_UNTRACKED`).
    None,
    /// `ctinfo < IP_CT_IS_REPLY`.
    Original,
    /// `ctinfo >= IP_CT_IS_REPLY`.
    Reply,
}

/// `ipvs_mt_addrcmp()`: `(kaddr ^ uaddr) & umask` is zero, over 4 or 16 bytes by family
/// (C's `ipv6_masked_addr_cmp() == 0` for IPv6).
fn addrcmp(family: Family, kaddr: &InetAddr, uaddr: &InetAddr, umask: &InetAddr) -> bool {
    let n = match family {
        Family::Ipv4 => 4,
        Family::Ipv6 => 16,
    };
    // Indexed with get() (no panic site in the packet path); n <= 16 always hits.
    (0..n).all(|i| match (kaddr.0.get(i), uaddr.0.get(i), umask.0.get(i)) {
        (Some(k), Some(u), Some(m)) => (k ^ u) & m == 0,
        _ => true,
    })
}

/// The packet fields `ipvs_mt()` reads: `ip_vs_fill_iph_skb(family, skb, true, &iph)` gives
/// the protocol, and `ip_vs_conn_fill_param_proto()` the lookup key from the 4 port bytes it
/// fetches at `iph.len` (`None` when they are not in the packet). `None` altogether when
/// the IP layer cannot be read (C's `ip_vs_fill_iph_skb()` fails, or `ipv6_find_hdr()`
/// returns an error, a protocol `ip_vs_proto_get()` does not know): no rule option matches.
///
/// As in C, the ports are read where `iph.len` points even in a fragment: after the IPv4
/// header of any fragment, and, for a non-first IPv6 fragment, at the IPv6 header itself
/// (`ipv6_find_hdr()` returns before it moves the offset). C reads the IPv4 header without
/// checking its version or header length (`ip_rcv()` did); here such a packet finds nothing.
fn packet_fields<P: PacketRead + ?Sized>(
    pkt: &P,
    family: Family,
) -> Option<(u8, Option<ConnParam>)> {
    let h = wire::parse_packet(pkt, family).ok()?.headers;
    let ports_off = if family == Family::Ipv6 && h.is_non_first_fragment() {
        h.l3_off
    } else {
        h.l4_off
    };
    let mut ports = [0u8; 4];
    let param = pkt.read(ports_off, &mut ports).then(|| ConnParam {
        family,
        protocol: h.protocol,
        caddr: h.daddr,
        cport: u16::from_be_bytes([ports[2], ports[3]]),
        vaddr: h.saddr,
        vport: u16::from_be_bytes([ports[0], ports[1]]),
    });
    Some((h.protocol, param))
}

/// `ipvs_mt()`: does the packet match the rule `info` in a table of `family`?
///
/// - `ipvs_property`: `skb->ipvs_property`.
/// - `ct_dir`: the packet's conntrack (called only for `--vdir`).
/// - `lookup`: `pp->conn_out_get()`, i.e. the first entry of the namespace for which
///   [`out_get_hit`] holds, as a [`ConnView`] (called at most once; the caller drops the
///   reference it took without re-arming the entry's timer, C's `__ip_vs_conn_put()`).
pub fn ipvs_mt<P, D, L>(
    info: &MtInfo,
    family: Family,
    ipvs_property: bool,
    pkt: &P,
    ct_dir: D,
    lookup: L,
) -> bool
where
    P: PacketRead + ?Sized,
    D: FnOnce() -> CtDir,
    L: FnOnce(&ConnParam) -> Option<ConnView>,
{
    let bitmask = info.bitmask;
    let invert = info.invert;
    if bitmask == bits::IPVS_PROPERTY {
        return ipvs_property ^ (invert & bits::IPVS_PROPERTY != 0);
    }
    // other flags than XT_IPVS_IPVS_PROPERTY are set
    if !ipvs_property {
        return false;
    }
    let Some((protocol, param)) = packet_fields(pkt, family) else {
        return false;
    };
    if bitmask & bits::PROTO != 0 && (protocol == info.l4proto) ^ (invert & bits::PROTO == 0) {
        return false;
    }
    if !has_protocol_handler(protocol) {
        return false;
    }
    let Some(param) = param else { return false };
    let Some(cp) = lookup(&param) else {
        return false;
    };

    if bitmask & bits::VPORT != 0 && (cp.vport == info.vport) ^ (invert & bits::VPORT == 0) {
        return false;
    }
    if bitmask & bits::VPORTCTL != 0
        && (cp.control_vport == Some(info.vportctl)) ^ (invert & bits::VPORTCTL == 0)
    {
        return false;
    }
    if bitmask & bits::DIR != 0 {
        let reply = match ct_dir() {
            CtDir::None => return false,
            CtDir::Original => false,
            CtDir::Reply => true,
        };
        if reply ^ (invert & bits::DIR != 0) {
            return false;
        }
    }
    if bitmask & bits::METHOD != 0
        && (cp.flags & conn_flags::FWD_MASK == u32::from(info.fwd_method))
            ^ (invert & bits::METHOD == 0)
    {
        return false;
    }
    if bitmask & bits::VADDR != 0
        && addrcmp(family, &cp.vaddr, &info.vaddr, &info.vmask) ^ (invert & bits::VADDR == 0)
    {
        return false;
    }
    true
}

#[cfg(test)]
mod tests;
