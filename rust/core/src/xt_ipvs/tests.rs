//! `ipvs_mt()` against a literal transcription of C's `net/netfilter/xt_ipvs.c` with the
//! `ip_vs_fill_iph_skb()` / `ip_vs_conn_fill_param_proto()` / `ip_vs_conn_out_get()` it
//! calls, over random rules, packets, conntrack states and connection tables; plus the cases
//! of Docker swarm's and kube-router's rules.

use super::*;
use crate::wire::IPPROTO_ICMP;
use proptest::prelude::*;
use std::vec::Vec;

const IPPROTO_IPIP: u8 = 4;

// --- packets ---------------------------------------------------------------------------------

/// An IPv4 or IPv6 packet with a 20-byte transport header whose first 4 bytes are the ports.
fn packet(
    family: Family,
    protocol: u8,
    saddr: InetAddr,
    sport: u16,
    daddr: InetAddr,
    dport: u16,
) -> Vec<u8> {
    let mut p = Vec::new();
    match family {
        Family::Ipv4 => {
            p.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, protocol, 0, 0]);
            p.extend_from_slice(&saddr.0[..4]);
            p.extend_from_slice(&daddr.0[..4]);
        }
        Family::Ipv6 => {
            p.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, protocol, 64]);
            p.extend_from_slice(&saddr.0);
            p.extend_from_slice(&daddr.0);
        }
    }
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0; 16]);
    p
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> InetAddr {
    InetAddr::from_ipv4([a, b, c, d])
}

// --- the C transcription ---------------------------------------------------------------------

/// A `struct ip_vs_conn` of the table (the fields `ip_vs_conn_out_get()` and `ipvs_mt()` read).
#[derive(Debug, Clone, Copy)]
struct CConn {
    ipvs: u8,
    af: Family,
    protocol: u8,
    caddr: InetAddr,
    cport: u16,
    vaddr: InetAddr,
    vport: u16,
    daddr: InetAddr,
    dport: u16,
    flags: u32,
    /// `cp->control`: its `vport`.
    control: Option<u16>,
}

/// The skb: what `ipvs_mt()` reads of it (IPv4/IPv6 without extension headers, not fragments:
/// `ip_vs_fill_iph_skb()` is then the fixed header).
struct CSkb<'a> {
    ipvs_property: bool,
    data: &'a [u8],
    /// `nf_ct_get()`: `None` for `ct == NULL`, else `ctinfo`.
    ctinfo: Option<u8>,
    ipvs: u8,
}

const IP_CT_IS_REPLY: u8 = 3;

/// `struct ip_vs_iphdr` after `ip_vs_fill_iph_skb(family, skb, true, &iph)`.
struct CIph {
    len: usize,
    protocol: u8,
    saddr: InetAddr,
    daddr: InetAddr,
}

fn c_fill_iph_skb(family: Family, skb: &CSkb<'_>) -> CIph {
    let d = skb.data;
    match family {
        Family::Ipv4 => CIph {
            len: usize::from(d[0] & 0xf) * 4,
            protocol: d[9],
            saddr: v4(d[12], d[13], d[14], d[15]),
            daddr: v4(d[16], d[17], d[18], d[19]),
        },
        Family::Ipv6 => {
            let mut s = [0; 16];
            let mut t = [0; 16];
            s.copy_from_slice(&d[8..24]);
            t.copy_from_slice(&d[24..40]);
            CIph {
                len: 40,
                protocol: d[6],
                saddr: InetAddr(s),
                daddr: InetAddr(t),
            }
        }
    }
}

fn c_addr_equal(af: Family, a: &InetAddr, b: &InetAddr) -> bool {
    match af {
        Family::Ipv4 => a.0[..4] == b.0[..4],
        Family::Ipv6 => a.0 == b.0,
    }
}

/// `ip_vs_conn_out_get_proto()` = `ip_vs_conn_fill_param_proto()` (inverse) +
/// `ip_vs_conn_out_get()` (the whole table stands for the bucket: entries of other buckets
/// differ in the hashed client end and cannot hit).
fn c_conn_out_get(table: &[CConn], af: Family, skb: &CSkb<'_>, iph: &CIph) -> Option<CConn> {
    let pptr = skb.data.get(iph.len..iph.len + 4)?;
    let sport = u16::from_be_bytes([pptr[0], pptr[1]]);
    let dport = u16::from_be_bytes([pptr[2], pptr[3]]);
    // ip_vs_conn_fill_param(ipvs, af, iph->protocol, &iph->daddr, pptr[1], &iph->saddr, pptr[0], p)
    let (p_caddr, p_cport, p_vaddr, p_vport) = (iph.daddr, dport, iph.saddr, sport);
    for cp in table {
        if p_vport != cp.cport {
            continue;
        }
        let (saddr, sport) = if cp.flags & 7 != 0
        /* IP_VS_CONN_F_MASQ */
        {
            (cp.vaddr, cp.vport)
        } else {
            (cp.daddr, cp.dport)
        };
        if p_cport == sport
            && cp.af == af
            && c_addr_equal(af, &p_vaddr, &cp.caddr)
            && c_addr_equal(af, &p_caddr, &saddr)
            && iph.protocol == cp.protocol
            && cp.ipvs == skb.ipvs
        {
            return Some(*cp);
        }
    }
    None
}

fn c_ipvs_mt_addrcmp(k: &InetAddr, u: &InetAddr, m: &InetAddr, l3proto: Family) -> bool {
    match l3proto {
        Family::Ipv4 => (0..4).all(|i| (k.0[i] ^ u.0[i]) & m.0[i] == 0),
        // ipv6_masked_addr_cmp(): ((a1 ^ a2) & m) over the four words
        Family::Ipv6 => (0..16).all(|i| (k.0[i] ^ u.0[i]) & m.0[i] == 0),
    }
}

/// `ipvs_mt()`, line by line.
fn c_ipvs_mt(data: &MtInfo, family: Family, skb: &CSkb<'_>, table: &[CConn]) -> bool {
    let mut match_ = true;
    'out: {
        if data.bitmask == bits::IPVS_PROPERTY {
            match_ = skb.ipvs_property ^ (data.invert & bits::IPVS_PROPERTY != 0);
            break 'out;
        }
        if !skb.ipvs_property {
            match_ = false;
            break 'out;
        }
        let iph = c_fill_iph_skb(family, skb);
        if data.bitmask & bits::PROTO != 0
            && (iph.protocol == data.l4proto) ^ (data.invert & bits::PROTO == 0)
        {
            match_ = false;
            break 'out;
        }
        // ip_vs_proto_get(): TCP, UDP, SCTP
        if !matches!(iph.protocol, 6 | 17 | 132) {
            match_ = false;
            break 'out;
        }
        let Some(cp) = c_conn_out_get(table, family, skb, &iph) else {
            match_ = false;
            break 'out;
        };
        'out_put_cp: {
            if data.bitmask & bits::VPORT != 0
                && (cp.vport == data.vport) ^ (data.invert & bits::VPORT == 0)
            {
                match_ = false;
                break 'out_put_cp;
            }
            if data.bitmask & bits::VPORTCTL != 0
                && (cp.control.is_some() && cp.control == Some(data.vportctl))
                    ^ (data.invert & bits::VPORTCTL == 0)
            {
                match_ = false;
                break 'out_put_cp;
            }
            if data.bitmask & bits::DIR != 0 {
                let Some(ctinfo) = skb.ctinfo else {
                    match_ = false;
                    break 'out_put_cp;
                };
                if (ctinfo >= IP_CT_IS_REPLY) ^ (data.invert & bits::DIR != 0) {
                    match_ = false;
                    break 'out_put_cp;
                }
            }
            if data.bitmask & bits::METHOD != 0
                && ((cp.flags & 7) == u32::from(data.fwd_method))
                    ^ (data.invert & bits::METHOD == 0)
            {
                match_ = false;
                break 'out_put_cp;
            }
            if data.bitmask & bits::VADDR != 0
                && c_ipvs_mt_addrcmp(&cp.vaddr, &data.vaddr, &data.vmask, family)
                    ^ (data.invert & bits::VADDR == 0)
            {
                match_ = false;
                break 'out_put_cp;
            }
        }
        // __ip_vs_conn_put(cp)
    }
    match_
}

// --- the Rust side, as the data path drives it -----------------------------------------------

fn rs_ipvs_mt(info: &MtInfo, family: Family, skb: &CSkb<'_>, table: &[CConn]) -> bool {
    let lookups = core::cell::Cell::new(0);
    let r = ipvs_mt(
        info,
        family,
        skb.ipvs_property,
        skb.data,
        || match skb.ctinfo {
            None => CtDir::None,
            Some(i) if i >= IP_CT_IS_REPLY => CtDir::Reply,
            Some(_) => CtDir::Original,
        },
        |p| {
            lookups.set(lookups.get() + 1);
            table
                .iter()
                .find(|c| {
                    c.ipvs == skb.ipvs
                        && out_get_hit(
                            p,
                            &ConnKey {
                                family: c.af,
                                protocol: c.protocol,
                                caddr: &c.caddr,
                                cport: c.cport,
                                vaddr: &c.vaddr,
                                vport: c.vport,
                                daddr: &c.daddr,
                                dport: c.dport,
                                flags: c.flags,
                            },
                        )
                })
                .map(|c| ConnView {
                    vaddr: c.vaddr,
                    vport: c.vport,
                    flags: c.flags,
                    control_vport: c.control,
                })
        },
    );
    assert!(lookups.get() <= 1);
    r
}

// --- fixed cases -----------------------------------------------------------------------------

const CLIENT: InetAddr = InetAddr::from_ipv4([10, 1, 0, 7]);
const VIP: InetAddr = InetAddr::from_ipv4([10, 0, 100, 1]);
const RIP: InetAddr = InetAddr::from_ipv4([10, 0, 1, 11]);
const MASQ: u32 = 0;
const TUNNEL: u32 = 2;
const DROUTE: u32 = 3;

fn conn(flags: u32) -> CConn {
    CConn {
        ipvs: 1,
        af: Family::Ipv4,
        protocol: IPPROTO_TCP,
        caddr: CLIENT,
        cport: 40000,
        vaddr: VIP,
        vport: 80,
        daddr: RIP,
        dport: 8080,
        flags,
        control: None,
    }
}

fn rule(bitmask: u8, invert: u8) -> MtInfo {
    MtInfo {
        bitmask,
        invert,
        ..MtInfo::default()
    }
}

fn both(info: &MtInfo, family: Family, skb: &CSkb<'_>, table: &[CConn]) -> bool {
    let c = c_ipvs_mt(info, family, skb, table);
    assert_eq!(rs_ipvs_mt(info, family, skb, table), c, "{info:?}");
    c
}

#[test]
fn layout_is_cs() {
    // struct xt_ipvs_mtinfo of iptables' libxt_ipvs for
    // --vaddr 10.0.100.1/24 --vport 80 --vproto tcp --vmethod GATE --vportctl 21 ! --vdir ORIGINAL
    let mut b = [0u8; INFO_SIZE];
    b[0..4].copy_from_slice(&[10, 0, 100, 1]);
    b[16..20].copy_from_slice(&[255, 255, 255, 0]);
    b[32..34].copy_from_slice(&80u16.to_be_bytes());
    b[34] = 6;
    b[35] = 3;
    b[36..38].copy_from_slice(&21u16.to_be_bytes());
    b[38] = bits::DIR;
    b[39] = bits::IPVS_PROPERTY
        | bits::VADDR
        | bits::VPORT
        | bits::PROTO
        | bits::METHOD
        | bits::VPORTCTL
        | bits::DIR;
    let i = MtInfo::from_bytes(&b);
    assert_eq!(i.vaddr, VIP);
    assert_eq!(i.vmask, v4(255, 255, 255, 0));
    assert_eq!(
        (i.vport, i.l4proto, i.fwd_method, i.vportctl),
        (80, 6, 3, 21)
    );
    assert_eq!((i.invert, i.bitmask), (bits::DIR, 0x7f));
    assert_eq!(i.to_bytes(), b);
    assert_eq!(bits::ONCE_MASK, 0x7e);
}

#[test]
fn check_family_is_ipv4_or_ipv6() {
    assert_eq!(check_family(2), Some(Family::Ipv4));
    assert_eq!(check_family(10), Some(Family::Ipv6));
    for f in [0u8, 1, 3, 5, 7, 12, 255] {
        assert_eq!(check_family(f), None);
    }
}

#[test]
fn docker_swarm_and_kube_router_rules() {
    let table = [conn(MASQ)];
    // A NAT request after DNAT, as it reaches POSTROUTING: client -> real server.
    let req = packet(Family::Ipv4, IPPROTO_TCP, CLIENT, 40000, RIP, 8080);
    let skb = CSkb {
        ipvs_property: true,
        data: &req,
        ctinfo: Some(2 /* IP_CT_NEW */),
        ipvs: 1,
    };
    // Docker swarm: -m ipvs --ipvs (the -d SUBNET is iptables' own).
    assert!(both(
        &rule(bits::IPVS_PROPERTY, 0),
        Family::Ipv4,
        &skb,
        &table
    ));
    // kube-router: --ipvs --vdir ORIGINAL --vmethod MASQ
    let kr = MtInfo {
        fwd_method: 0,
        ..rule(bits::IPVS_PROPERTY | bits::DIR | bits::METHOD, 0)
    };
    assert!(both(&kr, Family::Ipv4, &skb, &table));
    // Not for a packet IPVS did not handle, nor untracked, nor a reply.
    let plain = CSkb {
        ipvs_property: false,
        ..skb
    };
    assert!(!both(&kr, Family::Ipv4, &plain, &table));
    assert!(!both(
        &rule(bits::IPVS_PROPERTY, 0),
        Family::Ipv4,
        &plain,
        &table
    ));
    assert!(both(
        &rule(bits::IPVS_PROPERTY, bits::IPVS_PROPERTY),
        Family::Ipv4,
        &plain,
        &table
    ));
    let untracked = CSkb {
        ctinfo: None,
        ..skb
    };
    assert!(!both(&kr, Family::Ipv4, &untracked, &table));
    let reply_ct = CSkb {
        ctinfo: Some(3),
        ..skb
    };
    assert!(!both(&kr, Family::Ipv4, &reply_ct, &table));
    // The NAT reply after SNAT (VIP -> client) does not find its entry.
    let rep = packet(Family::Ipv4, IPPROTO_TCP, VIP, 80, CLIENT, 40000);
    let skb_rep = CSkb {
        ipvs_property: true,
        data: &rep,
        ctinfo: Some(3),
        ipvs: 1,
    };
    assert!(!both(
        &rule(bits::IPVS_PROPERTY | bits::DIR, bits::DIR),
        Family::Ipv4,
        &skb_rep,
        &table
    ));
    // Another namespace's entry is not found.
    let other_ns = CSkb { ipvs: 2, ..skb };
    assert!(!both(&kr, Family::Ipv4, &other_ns, &table));
}

#[test]
fn methods_and_virtual_end() {
    // DR: the request leaves unchanged (client -> VIP), found through the virtual end.
    let dr = [conn(DROUTE)];
    let req = packet(Family::Ipv4, IPPROTO_TCP, CLIENT, 40000, VIP, 80);
    let skb = CSkb {
        ipvs_property: true,
        data: &req,
        ctinfo: Some(2),
        ipvs: 1,
    };
    let gate = MtInfo {
        fwd_method: 3,
        ..rule(bits::METHOD, 0)
    };
    assert!(both(&gate, Family::Ipv4, &skb, &dr));
    let masq = MtInfo {
        fwd_method: 0,
        ..rule(bits::METHOD, 0)
    };
    assert!(!both(&masq, Family::Ipv4, &skb, &dr));
    assert!(both(
        &MtInfo {
            invert: bits::METHOD,
            ..masq
        },
        Family::Ipv4,
        &skb,
        &dr
    ));
    // --vaddr 10.0.100.0/24, --vport 80, --vproto tcp
    let va = MtInfo {
        vaddr: v4(10, 0, 100, 0),
        vmask: v4(255, 255, 255, 0),
        ..rule(bits::VADDR, 0)
    };
    assert!(both(&va, Family::Ipv4, &skb, &dr));
    let va_other = MtInfo {
        vaddr: v4(10, 0, 101, 0),
        ..va
    };
    assert!(!both(&va_other, Family::Ipv4, &skb, &dr));
    assert!(both(
        &MtInfo {
            vport: 80,
            ..rule(bits::VPORT, 0)
        },
        Family::Ipv4,
        &skb,
        &dr
    ));
    assert!(!both(
        &MtInfo {
            vport: 8080,
            ..rule(bits::VPORT, 0)
        },
        Family::Ipv4,
        &skb,
        &dr
    ));
    assert!(both(
        &MtInfo {
            l4proto: 6,
            ..rule(bits::PROTO, 0)
        },
        Family::Ipv4,
        &skb,
        &dr
    ));
    assert!(!both(
        &MtInfo {
            l4proto: 17,
            ..rule(bits::PROTO, 0)
        },
        Family::Ipv4,
        &skb,
        &dr
    ));
    // A DR entry is not found from its real server's end.
    let to_rip = packet(Family::Ipv4, IPPROTO_TCP, CLIENT, 40000, RIP, 8080);
    let skb_rip = CSkb {
        data: &to_rip,
        ..skb
    };
    assert!(!both(&gate, Family::Ipv4, &skb_rip, &dr));
    // --vportctl: only with a controlling template.
    let ctl = MtInfo {
        vportctl: 80,
        ..rule(bits::VPORTCTL, 0)
    };
    assert!(!both(&ctl, Family::Ipv4, &skb, &dr));
    // `! --vportctl 80` matches an entry without a template.
    assert!(both(
        &MtInfo {
            invert: bits::VPORTCTL,
            ..ctl
        },
        Family::Ipv4,
        &skb,
        &dr
    ));
    let persistent = [CConn {
        control: Some(80),
        ..conn(DROUTE)
    }];
    assert!(both(&ctl, Family::Ipv4, &skb, &persistent));
    let fwmark_tpl = [CConn {
        control: Some(0),
        ..conn(DROUTE)
    }];
    assert!(!both(&ctl, Family::Ipv4, &skb, &fwmark_tpl));
    // TUN: the packet at POSTROUTING is the IPIP one: no protocol handler, only --ipvs.
    let tun = [conn(TUNNEL)];
    let mut ipip = packet(Family::Ipv4, IPPROTO_IPIP, v4(10, 0, 1, 1), 0, RIP, 0);
    ipip.truncate(20);
    ipip.extend_from_slice(&req);
    let skb_tun = CSkb { data: &ipip, ..skb };
    assert!(both(
        &rule(bits::IPVS_PROPERTY, 0),
        Family::Ipv4,
        &skb_tun,
        &tun
    ));
    assert!(!both(
        &MtInfo {
            fwd_method: 2,
            ..rule(bits::METHOD, 0)
        },
        Family::Ipv4,
        &skb_tun,
        &tun
    ));
    // ICMP (an error IPVS translated): no protocol handler.
    let icmp = packet(Family::Ipv4, IPPROTO_ICMP, CLIENT, 0x0300, RIP, 0);
    assert!(!both(
        &rule(0, 0),
        Family::Ipv4,
        &CSkb { data: &icmp, ..skb },
        &dr
    ));
    // bitmask 0 (not from iptables): any packet of an entry.
    assert!(both(&rule(0, 0), Family::Ipv4, &skb, &dr));
}

#[test]
fn ipv6_request() {
    let c6 = InetAddr([0xfd, 0, 0xc1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    let vip6 = InetAddr([0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let rip6 = InetAddr([0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11]);
    let table = [CConn {
        af: Family::Ipv6,
        caddr: c6,
        vaddr: vip6,
        daddr: rip6,
        protocol: IPPROTO_UDP,
        ..conn(MASQ)
    }];
    let req = packet(Family::Ipv6, IPPROTO_UDP, c6, 40000, rip6, 8080);
    let skb = CSkb {
        ipvs_property: true,
        data: &req,
        ctinfo: Some(2),
        ipvs: 1,
    };
    let mut mask = [0xffu8; 16];
    mask[15] = 0;
    let va = MtInfo {
        vaddr: vip6,
        vmask: InetAddr(mask),
        ..rule(bits::VADDR | bits::PROTO, 0)
    };
    assert!(!both(&va, Family::Ipv6, &skb, &table)); // l4proto 0
    let va = MtInfo {
        l4proto: IPPROTO_UDP,
        ..va
    };
    assert!(both(&va, Family::Ipv6, &skb, &table));
    // An IPv4 rule reading the same entry compares 4 bytes only.
    assert!(!both(&va, Family::Ipv4, &skb, &table));
}

#[test]
fn fragments_read_ports_where_c_does() {
    // A non-first IPv6 fragment: ipv6_find_hdr() returns before it moves the offset, so C
    // reads the "ports" at the IPv6 header: 0x6000 and 0x0000.
    let c6 = InetAddr([0xfd, 0, 0xc1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    let rip6 = InetAddr([0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11]);
    let mut frag = packet(Family::Ipv6, 44, c6, 0, rip6, 0);
    frag.truncate(40);
    // fragment header: next TCP, offset 8 (in 8-byte units: 1), no M flag, id 1
    frag.extend_from_slice(&[IPPROTO_TCP, 0, 0, 8, 0, 0, 0, 1]);
    frag.extend_from_slice(&[0xaa; 16]);
    let entry = CConn {
        af: Family::Ipv6,
        caddr: c6,
        cport: 0x6000,
        daddr: rip6,
        dport: 0,
        ..conn(MASQ)
    };
    let skb = CSkb {
        ipvs_property: true,
        data: &frag,
        ctinfo: Some(2),
        ipvs: 1,
    };
    let found = rs_ipvs_mt(&rule(0, 0), Family::Ipv6, &skb, &[entry]);
    assert!(found);
    // A non-first IPv4 fragment: the "ports" are the payload's first 4 bytes.
    let mut f4 = packet(Family::Ipv4, IPPROTO_UDP, CLIENT, 0x0102, RIP, 0x0304);
    f4[6] = 0;
    f4[7] = 1; // offset 8 bytes
    let entry = CConn {
        protocol: IPPROTO_UDP,
        cport: 0x0102,
        dport: 0x0304,
        ..conn(MASQ)
    };
    let skb = CSkb { data: &f4, ..skb };
    assert!(both(&rule(0, 0), Family::Ipv4, &skb, &[entry]));
}

// --- random ----------------------------------------------------------------------------------

fn addr_pool(family: Family) -> [InetAddr; 3] {
    match family {
        Family::Ipv4 => [v4(10, 1, 0, 7), v4(10, 0, 100, 1), v4(10, 0, 100, 11)],
        Family::Ipv6 => {
            let a = |x: u8| InetAddr([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, x]);
            [a(7), a(1), a(0x11)]
        }
    }
}

const PORTS: [u16; 3] = [80, 8080, 40000];
const PROTOS: [u8; 5] = [
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPPROTO_SCTP,
    IPPROTO_ICMP,
    IPPROTO_IPIP,
];

fn family_of(v6: bool) -> Family {
    if v6 {
        Family::Ipv6
    } else {
        Family::Ipv4
    }
}

prop_compose! {
    fn arb_conn()(ipvs in 1u8..3, v6 in any::<bool>(), proto in 0usize..3, a in proptest::array::uniform3(0usize..3),
                  p in proptest::array::uniform3(0usize..3), flags in 0u32..8, control in proptest::option::of(0usize..3))
                  -> (CConn, bool) {
        let pool = addr_pool(family_of(v6));
        (CConn {
            ipvs,
            af: family_of(v6),
            protocol: PROTOS[proto],
            caddr: pool[a[0]],
            cport: PORTS[p[0]],
            vaddr: pool[a[1]],
            vport: PORTS[p[1]],
            daddr: pool[a[2]],
            dport: PORTS[p[2]],
            flags: flags | 0x100 /* unrelated bits */,
            control: control.map(|i| PORTS[i]),
        }, v6)
    }
}

prop_compose! {
    fn arb_info()(bitmask in prop_oneof![Just(bits::IPVS_PROPERTY), any::<u8>()], invert in any::<u8>(),
                  va in 0usize..3, masklen in prop_oneof![Just(0u32), Just(24), Just(32), Just(128)],
                  vport in 0usize..3, proto in 0usize..5, method in 0u8..4, ctl in 0usize..3) -> MtInfo {
        let pool = addr_pool(Family::Ipv6);
        let mut vaddr = pool[va];
        vaddr.0[..4].copy_from_slice(&addr_pool(Family::Ipv4)[va].0[..4]);
        let mut vmask = [0u8; 16];
        for (i, b) in vmask.iter_mut().enumerate() {
            let bitsn = masklen.saturating_sub(i as u32 * 8).min(8);
            *b = if bitsn == 0 { 0 } else { 0xffu8 << (8 - bitsn) };
        }
        MtInfo { vaddr, vmask: InetAddr(vmask), vport: PORTS[vport], l4proto: PROTOS[proto], fwd_method: method,
                 vportctl: PORTS[ctl], invert, bitmask }
    }
}

/// The packet IPVS sends for a request of `c` (NAT: after DNAT; others: unchanged), as it
/// reaches POSTROUTING.
fn request_of(c: &CConn) -> Vec<u8> {
    if c.flags & 7 == MASQ {
        packet(c.af, c.protocol, c.caddr, c.cport, c.daddr, c.dport)
    } else {
        packet(c.af, c.protocol, c.caddr, c.cport, c.vaddr, c.vport)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20000, ..ProptestConfig::default() })]
    #[test]
    fn ipvs_mt_is_cs(info in arb_info(), conns in proptest::collection::vec(arb_conn(), 0..4),
                     v6 in any::<bool>(), proto in 0usize..5, a in proptest::array::uniform2(0usize..3),
                     p in proptest::array::uniform2(0usize..3), prop in any::<bool>(),
                     ctinfo in proptest::option::of(0u8..5), ipvs in 1u8..3, trunc in 0usize..3,
                     derive in 0u8..4, keep in any::<u8>()) {
        let table: Vec<CConn> = conns.into_iter().map(|(c, _)| c).collect();
        let mut info = info;
        // Half the cases: the packet is a request of the first entry (so the lookup hits
        // and every option is decided), and some of the rule's values are that entry's.
        let (family, mut data, ipvs) = match table.first() {
            Some(c) if derive >= 2 => {
                if keep & 1 != 0 { info.vport = c.vport; }
                if keep & 2 != 0 { info.vportctl = c.control.unwrap_or(info.vportctl); }
                if keep & 4 != 0 { info.fwd_method = (c.flags & 7) as u8; }
                if keep & 8 != 0 { info.l4proto = c.protocol; }
                if keep & 16 != 0 { info.vaddr = c.vaddr; }
                if keep & 64 != 0 { info.vaddr.0[15] ^= 1; }
                if keep & 128 != 0 { info.vaddr.0[3] ^= 1; }
                if keep & 32 != 0 { info.bitmask &= !bits::IPVS_PROPERTY; }
                (c.af, request_of(c), c.ipvs)
            }
            _ => {
                let family = family_of(v6);
                let pool = addr_pool(family);
                (family, packet(family, PROTOS[proto], pool[a[0]], PORTS[p[0]], pool[a[1]], PORTS[p[1]]), ipvs)
            }
        };
        // Whole, without ports, or only 2 of the 4 port bytes (C's skb_header_pointer() of
        // the ports fails: c_conn_out_get's `get`).
        let l3 = if family == Family::Ipv6 { 40 } else { 20 };
        match trunc {
            1 if derive & 1 == 0 => data.truncate(l3),
            2 if derive & 1 == 0 => data.truncate(l3 + 2),
            _ => {}
        }
        let skb = CSkb { ipvs_property: prop || derive >= 2, data: &data, ctinfo, ipvs };
        let c = c_ipvs_mt(&info, family, &skb, &table);
        prop_assert_eq!(rs_ipvs_mt(&info, family, &skb, &table), c);
    }
}
