//! Host tests of `wire`: known answers, an independent reference checksum, and properties.
//!
//! The reference implementation here builds every pseudo-header as bytes and sums 16-bit
//! words the RFC 1071 way; it shares no code with `checksum`. Known-answer packets were
//! built by a third implementation (a short Python script using `struct`) and are
//! checked against both.

use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::checksum::*;
use super::icmp::{IcmpError, IcmpPacket, IcmpTriage, Icmpv6Packet};
use super::ipv4::{Ipv4Packet, Ipv4Repr};
use super::ipv6::{self, Ipv6Packet, Ipv6Repr};
use super::nat::{self, ChecksumMode, IcmpDirection, L4Update};
use super::tcp::{TcpPacket, TcpRepr};
use super::udp::{UdpPacket, UdpRepr};
use super::*;

// ---- reference implementation -----------------------------------------------------------

/// RFC 1071: folded (not complemented) sum of 16-bit big-endian words.
fn ref_sum(data: &[u8]) -> u16 {
    let mut s: u64 = 0;
    for pair in data.chunks(2) {
        let hi = u64::from(pair[0]);
        let lo = u64::from(pair.get(1).copied().unwrap_or(0));
        s += (hi << 8) | lo;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn ref_csum(data: &[u8]) -> u16 {
    !ref_sum(data)
}

fn addr_of(family: Family, a: &InetAddr) -> Vec<u8> {
    match family {
        Family::Ipv4 => a.0[..4].to_vec(),
        Family::Ipv6 => a.0.to_vec(),
    }
}

/// The pseudo-header as bytes (RFC 793 / RFC 8200 §8.1).
fn ref_pseudo(family: Family, src: &InetAddr, dst: &InetAddr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = addr_of(family, src);
    p.extend(addr_of(family, dst));
    match family {
        Family::Ipv4 => {
            p.extend([0, proto]);
            p.extend((len as u16).to_be_bytes());
        }
        Family::Ipv6 => {
            p.extend((len as u32).to_be_bytes());
            p.extend([0, 0, 0, proto]);
        }
    }
    p
}

/// The transport checksum of `seg` (its checksum field zeroed) by the reference.
fn ref_l4_csum(
    family: Family,
    src: &InetAddr,
    dst: &InetAddr,
    proto: u8,
    seg: &[u8],
    csum_at: usize,
) -> u16 {
    let mut all = ref_pseudo(family, src, dst, proto, seg.len());
    let mut s = seg.to_vec();
    s[csum_at] = 0;
    s[csum_at + 1] = 0;
    all.extend(s);
    let c = ref_csum(&all);
    if proto == IPPROTO_UDP && c == 0 {
        0xffff
    } else {
        c
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ---- reference packet builder ---------------------------------------------------------

#[derive(Debug, Clone)]
enum Ext {
    Hop(u8),
    Dest(u8),
    Routing(u8, u8),
    Auth(u8),
    Frag { offset: u16, more: bool, ident: u32 },
}

impl Ext {
    fn code(&self) -> u8 {
        match self {
            Ext::Hop(_) => 0,
            Ext::Dest(_) => 60,
            Ext::Routing(..) => 43,
            Ext::Auth(_) => 51,
            Ext::Frag { .. } => 44,
        }
    }

    fn bytes(&self, next: u8) -> Vec<u8> {
        match *self {
            Ext::Hop(n) | Ext::Dest(n) => {
                let mut v = vec![0u8; (usize::from(n) + 1) * 8];
                v[0] = next;
                v[1] = n;
                v
            }
            Ext::Routing(n, left) => {
                let mut v = vec![0xa5u8; (usize::from(n) + 1) * 8];
                v[0] = next;
                v[1] = n;
                v[2] = 4;
                v[3] = left;
                v
            }
            Ext::Auth(n) => {
                let mut v = vec![0x5au8; (usize::from(n) + 2) * 4];
                v[0] = next;
                v[1] = n;
                v
            }
            Ext::Frag {
                offset,
                more,
                ident,
            } => {
                let mut v = vec![next, 0];
                v.extend(((offset & !7) | u16::from(more)).to_be_bytes());
                v.extend(ident.to_be_bytes());
                v
            }
        }
    }
}

#[derive(Debug, Clone)]
enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        flags: u8,
        opts: Vec<u8>,
        payload: Vec<u8>,
    },
    Udp {
        sport: u16,
        dport: u16,
        payload: Vec<u8>,
        nocsum: bool,
    },
}

impl L4 {
    fn proto(&self) -> u8 {
        match self {
            L4::Tcp { .. } => IPPROTO_TCP,
            L4::Udp { .. } => IPPROTO_UDP,
        }
    }

    fn ports(&self) -> [u16; 2] {
        match *self {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport, .. } => [sport, dport],
        }
    }

    fn with_ports(&self, [s, d]: [u16; 2]) -> L4 {
        let mut l = self.clone();
        match &mut l {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport, .. } => {
                *sport = s;
                *dport = d;
            }
        }
        l
    }

    /// The segment / datagram with its checksum by the reference.
    fn bytes(&self, family: Family, src: &InetAddr, dst: &InetAddr) -> Vec<u8> {
        match self {
            L4::Tcp {
                sport,
                dport,
                seq,
                flags,
                opts,
                payload,
            } => {
                let mut v = Vec::new();
                v.extend(sport.to_be_bytes());
                v.extend(dport.to_be_bytes());
                v.extend(seq.to_be_bytes());
                v.extend(0u32.to_be_bytes());
                let doff = ((20 + opts.len()) / 4) as u16;
                v.extend(((doff << 12) | u16::from(*flags)).to_be_bytes());
                v.extend(1000u16.to_be_bytes());
                v.extend([0, 0, 0, 0]);
                v.extend(opts);
                v.extend(payload);
                let c = ref_l4_csum(family, src, dst, IPPROTO_TCP, &v, 16);
                v[16..18].copy_from_slice(&c.to_be_bytes());
                v
            }
            L4::Udp {
                sport,
                dport,
                payload,
                nocsum,
            } => {
                let mut v = Vec::new();
                v.extend(sport.to_be_bytes());
                v.extend(dport.to_be_bytes());
                v.extend(((8 + payload.len()) as u16).to_be_bytes());
                v.extend([0, 0]);
                v.extend(payload);
                if !nocsum {
                    let c = ref_l4_csum(family, src, dst, IPPROTO_UDP, &v, 6);
                    v[6..8].copy_from_slice(&c.to_be_bytes());
                }
                v
            }
        }
    }
}

/// An IP packet around `body` (`proto` after the extension headers); IPv4 gets `opts` as
/// options, IPv6 the extension headers.
fn ip_packet(
    family: Family,
    src: &InetAddr,
    dst: &InetAddr,
    opts: &[u8],
    exts: &[Ext],
    proto: u8,
    body: &[u8],
) -> Vec<u8> {
    match family {
        Family::Ipv4 => {
            let hl = 20 + opts.len();
            let mut v = vec![0x40 | (hl / 4) as u8, 0];
            v.extend(((hl + body.len()) as u16).to_be_bytes());
            v.extend([0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]);
            v.extend(&src.0[..4]);
            v.extend(&dst.0[..4]);
            v.extend(opts);
            let c = ref_csum(&v);
            v[10..12].copy_from_slice(&c.to_be_bytes());
            v.extend(body);
            v
        }
        Family::Ipv6 => {
            let mut chain = Vec::new();
            for (i, e) in exts.iter().enumerate() {
                let next = exts.get(i + 1).map_or(proto, Ext::code);
                chain.extend(e.bytes(next));
            }
            let first = exts.first().map_or(proto, Ext::code);
            let mut v = vec![0x60, 0, 0, 0];
            v.extend(((chain.len() + body.len()) as u16).to_be_bytes());
            v.extend([first, 64]);
            v.extend(src.0);
            v.extend(dst.0);
            v.extend(chain);
            v.extend(body);
            v
        }
    }
}

fn packet(
    family: Family,
    src: &InetAddr,
    dst: &InetAddr,
    opts: &[u8],
    exts: &[Ext],
    l4: &L4,
) -> Vec<u8> {
    ip_packet(
        family,
        src,
        dst,
        opts,
        exts,
        l4.proto(),
        &l4.bytes(family, src, dst),
    )
}

fn addr(family: Family, raw: [u8; 16]) -> InetAddr {
    match family {
        Family::Ipv4 => InetAddr::from_ipv4([raw[0], raw[1], raw[2], raw[3]]),
        Family::Ipv6 => InetAddr::from_ipv6(raw),
    }
}

/// An ICMP error (type/code) from `src` to `dst` quoting `quote`, checksum by reference.
fn icmp_error(family: Family, src: &InetAddr, dst: &InetAddr, quote: &[u8]) -> Vec<u8> {
    let (t, c, proto) = match family {
        Family::Ipv4 => (3u8, 3u8, IPPROTO_ICMP),
        Family::Ipv6 => (1, 4, IPPROTO_ICMPV6),
    };
    let mut m = vec![t, c, 0, 0, 0, 0, 0, 0];
    m.extend(quote);
    let ck = match family {
        Family::Ipv4 => ref_csum(&m),
        Family::Ipv6 => {
            let mut all = ref_pseudo(family, src, dst, proto, m.len());
            all.extend(&m);
            ref_csum(&all)
        }
    };
    m[2..4].copy_from_slice(&ck.to_be_bytes());
    ip_packet(family, src, dst, &[], &[], proto, &m)
}

// ---- strategies -----------------------------------------------------------------------

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::Ipv4), Just(Family::Ipv6)]
}

fn l4() -> impl Strategy<Value = L4> {
    let tcp = (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        any::<u8>(),
        0usize..=10,
        prop::collection::vec(any::<u8>(), 0..80),
    )
        .prop_flat_map(|(sport, dport, seq, flags, words, payload)| {
            prop::collection::vec(any::<u8>(), words * 4).prop_map(move |opts| L4::Tcp {
                sport,
                dport,
                seq,
                flags,
                opts,
                payload: payload.clone(),
            })
        });
    let udp = (
        any::<u16>(),
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..80),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(sport, dport, payload, nocsum)| L4::Udp {
            sport,
            dport,
            payload,
            nocsum,
        });
    prop_oneof![tcp, udp]
}

/// Extension headers that keep the transport header in the packet (fragments have offset 0).
fn ext() -> impl Strategy<Value = Ext> {
    prop_oneof![
        (0u8..4).prop_map(Ext::Hop),
        (0u8..4).prop_map(Ext::Dest),
        (0u8..4, any::<u8>()).prop_map(|(n, l)| Ext::Routing(n, l)),
        (0u8..6).prop_map(Ext::Auth),
        (any::<bool>(), any::<u32>()).prop_map(|(more, ident)| Ext::Frag {
            offset: 0,
            more,
            ident
        }),
    ]
}

fn ipv4_opts() -> impl Strategy<Value = Vec<u8>> {
    (0usize..=10).prop_flat_map(|w| prop::collection::vec(any::<u8>(), w * 4))
}

/// A valid TCP or UDP packet: family, source, destination, IPv4 options, IPv6 extension
/// headers, transport.
#[derive(Debug, Clone)]
struct Spec {
    family: Family,
    src: InetAddr,
    dst: InetAddr,
    opts: Vec<u8>,
    exts: Vec<Ext>,
    l4: L4,
}

impl Spec {
    fn bytes(&self) -> Vec<u8> {
        let (opts, exts): (&[u8], &[Ext]) = match self.family {
            Family::Ipv4 => (&self.opts, &[]),
            Family::Ipv6 => (&[], &self.exts),
        };
        packet(self.family, &self.src, &self.dst, opts, exts, &self.l4)
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        family(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        ipv4_opts(),
        prop::collection::vec(ext(), 0..4),
        l4(),
    )
        .prop_map(|(family, s, d, opts, exts, l4)| Spec {
            family,
            src: addr(family, s),
            dst: addr(family, d),
            opts,
            exts,
            l4,
        })
}

// ---- checksum arithmetic --------------------------------------------------------------

#[test]
fn rfc1071_example() {
    // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2.
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(fold(csum_partial(&data, 0)), 0xddf2);
    assert_eq!(checksum(&data), !0xddf2);
    assert_eq!(ref_sum(&data), 0xddf2);
}

#[test]
fn fold_and_add_edges() {
    assert_eq!(csum_add(0xffff_ffff, 1), 1);
    assert_eq!(csum_add(0x8000_0000, 0x8000_0000), 1);
    assert_eq!(csum_add(0, 0), 0);
    assert_eq!(fold(0xffff_ffff), 0xffff);
    assert_eq!(fold(0x0001_ffff), 1);
    assert_eq!(fold(0), 0);
    assert_eq!(csum_fold(0), 0xffff);
    assert!(verifies(0xffff));
    assert!(!verifies(0));
    assert_eq!(udp_wire_checksum(0), CSUM_MANGLED_0);
    assert_eq!(udp_wire_checksum(0x1234), 0x1234);
    assert_eq!(checksum(&[]), 0xffff);
    // An odd byte is the high half of a word.
    assert_eq!(fold(csum_partial(&[0xab], 0)), 0xab00);
}

#[test]
fn known_ipv4_header() {
    // The widely published example header 192.168.0.1 → 192.168.0.199, checksum b861.
    let h = hex("450000730000400040110000c0a80001c0a800c7");
    assert_eq!(checksum(&h), 0xb861);
    assert_eq!(ref_csum(&h), 0xb861);
    let mut with = h.clone();
    with[10..12].copy_from_slice(&[0xb8, 0x61]);
    let p = Ipv4Packet::new_unchecked(&with[..]);
    assert!(p.verify_checksum());
    let mut buf = h.clone();
    let mut q = Ipv4Packet::new_unchecked(&mut buf[..]);
    q.fill_checksum();
    assert_eq!(q.checksum(), 0xb861);
    assert_eq!(buf, with);
}

#[test]
fn pseudo_headers_match_reference() {
    let s = InetAddr::from_ipv4([10, 0, 0, 1]);
    let d = InetAddr::from_ipv4([192, 168, 1, 10]);
    let r = ref_pseudo(Family::Ipv4, &s, &d, 6, 1234);
    assert_eq!(
        fold(pseudo_header(Family::Ipv4, &s, &d, 6, 1234)),
        ref_sum(&r)
    );
    assert_eq!(
        csum_tcpudp_magic([10, 0, 0, 1], [192, 168, 1, 10], 1234, 6, 0),
        ref_csum(&r)
    );
    let s6 = InetAddr::from_ipv6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let d6 = InetAddr::from_ipv6([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    let r6 = ref_pseudo(Family::Ipv6, &s6, &d6, 17, 70000);
    assert_eq!(
        fold(pseudo_header(Family::Ipv6, &s6, &d6, 17, 70000)),
        ref_sum(&r6)
    );
    assert_eq!(csum_ipv6_magic(&s6.0, &d6.0, 70000, 17, 0), ref_csum(&r6));
}

proptest! {
    #[test]
    fn csum_partial_matches_reference(data in prop::collection::vec(any::<u8>(), 0..300), split in 0usize..150) {
        prop_assert_eq!(fold(csum_partial(&data, 0)), ref_sum(&data));
        // Chaining at an even offset gives the same sum.
        let split = (split * 2).min(data.len() & !1);
        let (a, b) = data.split_at(split);
        prop_assert_eq!(fold(csum_partial(b, csum_partial(a, 0))), ref_sum(&data));
    }

    /// RFC 1624 updates of 16-, 32- and 128-bit fields equal a recompute (C's 16-bit
    /// `csum_replace2()` may give 0xffff for 0x0000, which verifies the same).
    #[test]
    fn replace_matches_recompute(
        mut data in prop::collection::vec(any::<u8>(), 60..120),
        at in 0usize..20,
        new in any::<[u8; 16]>(),
    ) {
        let at = at * 2 + 2; // even, after a checksum field at 0..2
        data[0] = 0;
        data[1] = 0;
        let c = ref_csum(&data);
        data[0..2].copy_from_slice(&c.to_be_bytes());
        let recompute = |d: &[u8]| {
            let mut d = d.to_vec();
            d[0] = 0;
            d[1] = 0;
            ref_csum(&d)
        };

        let mut d2 = data.clone();
        let old2 = u16::from_be_bytes([d2[at], d2[at + 1]]);
        let new2 = u16::from_be_bytes([new[0], new[1]]);
        d2[at..at + 2].copy_from_slice(&new[..2]);
        let c2 = csum_replace2(c, old2, new2);
        prop_assert!(c2 == recompute(&d2) || (c2 == 0xffff && recompute(&d2) == 0));

        let mut d4 = data.clone();
        let old4: [u8; 4] = d4[at..at + 4].try_into().unwrap();
        d4[at..at + 4].copy_from_slice(&new[..4]);
        prop_assert_eq!(csum_replace4(c, old4, new[..4].try_into().unwrap()), recompute(&d4));

        let mut d16 = data.clone();
        let old16: [u8; 16] = d16[at..at + 16].try_into().unwrap();
        d16[at..at + 16].copy_from_slice(&new);
        prop_assert_eq!(csum_replace16(c, &old16, &new), recompute(&d16));
    }
}

// ---- known answers: parsing and NAT ---------------------------------------------------

const V4_SYN: &str =
    "4500002c1c464000400652d30a000001c0a8010a9c40005001020304000000006002faf030ec0000020405b4";
const V4_SYN_DNAT: &str =
    "4500002c1c464000400668700a000001ac1000059c401f9001020304000000006002faf027490000020405b4";
const V6_UDP_REPLY: &str = "600000000014114020010db800010000000000000000000520010db800000000000000000000000114e99c410014b2d668656c6c6f2c20776f726c64";
const V6_UDP_REPLY_SNAT: &str = "600000000014114020010db800000000000000000000010020010db800000000000000000000000100359c410014c69068656c6c6f2c20776f726c64";
const V4_UDP_NOCSUM: &str = "4500001f1c464000401152d50a000001c0a8010a9c400035000b0000616263";
const V4_UDP_NOCSUM_DNAT: &str = "4500001f1c464000401168720a000001ac1000059c4014e9000b0000616263";
const V4_ICMP_UNREACH: &str =
    "4500003800074000400184a8ac1000050a0000010303b8400000000045000026424240004011426f0a000001ac1000059c401f90001288d9";
const V4_ICMP_UNREACH_NAT: &str =
    "450000380007400040016f0bc0a8010a0a0000010303d79b00000000450000264242400040112cd20a000001c0a8010a9c400035001288d9";
const V6_ICMP_UNREACH: &str = "6000000000443a4020010db800010000000000000000000520010db800000000000000000000000101043cca00000000600000000014064020010db800000000000000000000000120010db80001000000000000000000059c421f9000000007000000005002ffff98900000";
const V6_ICMP_UNREACH_NAT: &str = "6000000000443a4020010db800000000000000000000010020010db800000000000000000000000101045a1600000000600000000014064020010db800000000000000000000000120010db80000000000000000000001009c42005000000007000000005002ffff98900000";

fn v6(s: &str) -> InetAddr {
    let mut out = [0u8; 16];
    let (head, tail) = s.split_once("::").unwrap_or((s, ""));
    let parse = |p: &str| -> Vec<u16> {
        if p.is_empty() {
            vec![]
        } else {
            p.split(':')
                .map(|x| u16::from_str_radix(x, 16).unwrap())
                .collect()
        }
    };
    let (h, t) = (parse(head), parse(tail));
    for (i, w) in h.iter().enumerate() {
        out[i * 2..i * 2 + 2].copy_from_slice(&w.to_be_bytes());
    }
    for (i, w) in t.iter().enumerate() {
        let j = 8 - t.len() + i;
        out[j * 2..j * 2 + 2].copy_from_slice(&w.to_be_bytes());
    }
    InetAddr::from_ipv6(out)
}

#[test]
fn kat_ipv4_tcp_syn() {
    let pkt = hex(V4_SYN);
    // The Python builder agrees with the reference here.
    let seg = &pkt[20..];
    let (s, d) = (
        InetAddr::from_ipv4([10, 0, 0, 1]),
        InetAddr::from_ipv4([192, 168, 1, 10]),
    );
    assert_eq!(
        ref_l4_csum(Family::Ipv4, &s, &d, IPPROTO_TCP, seg, 16),
        u16::from_be_bytes([seg[16], seg[17]])
    );

    let h = parse_l3l4(&pkt, Family::Ipv4).unwrap();
    assert_eq!(h.protocol, IPPROTO_TCP);
    assert_eq!(
        (h.l3_off, h.l4_off, h.l4_header_len, h.total_len),
        (0, 20, 24, 44)
    );
    assert_eq!(h.ports, Some([40000, 80]));
    assert_eq!((h.saddr, h.daddr), (s, d));
    assert_eq!(h.fragment, None);
    assert_eq!(l4_checksum_ok(&pkt, &h), Ok(true));
    let tcp = TcpPacket::new_checked(h.l4_slice(&pkt)).unwrap();
    assert!(tcp.syn() && !tcp.ack() && !tcp.rst() && !tcp.fin());
    assert_eq!(tcp.seq_number(), 0x0102_0304);
    assert_eq!(tcp.options(), &[2, 4, 5, 0xb4]);
    assert_eq!(tcp.window_len(), 64240);

    let mut buf = pkt.clone();
    let done = nat::dnat(
        &mut buf,
        Family::Ipv4,
        &InetAddr::from_ipv4([172, 16, 0, 5]),
        8080,
        ChecksumMode::Full,
    )
    .unwrap();
    assert_eq!(done.l4, L4Update::Incremental);
    assert_eq!(done.headers, h);
    assert_eq!(buf, hex(V4_SYN_DNAT));

    // Back again with SNAT-like symmetry: DNAT to the original restores the bytes.
    nat::dnat(&mut buf, Family::Ipv4, &d, 80, ChecksumMode::Full).unwrap();
    assert_eq!(buf, pkt);
}

#[test]
fn kat_ipv6_udp_snat() {
    let pkt = hex(V6_UDP_REPLY);
    let h = parse_l3l4(&pkt, Family::Ipv6).unwrap();
    assert_eq!(
        (h.l4_off, h.l4_header_len, h.total_len, h.protocol),
        (40, 8, 60, IPPROTO_UDP)
    );
    assert_eq!(h.saddr, v6("2001:db8:1::5"));
    assert_eq!(h.daddr, v6("2001:db8::1"));
    assert_eq!(h.ports, Some([5353, 40001]));
    assert_eq!(l4_checksum_ok(&pkt, &h), Ok(true));
    let mut buf = pkt.clone();
    let done = nat::snat(
        &mut buf,
        Family::Ipv6,
        &v6("2001:db8::100"),
        53,
        ChecksumMode::Full,
    )
    .unwrap();
    assert_eq!(done.l4, L4Update::Incremental);
    assert_eq!(buf, hex(V6_UDP_REPLY_SNAT));
    let udp = UdpPacket::new_checked(&buf[40..]).unwrap();
    assert_eq!(udp.payload(), b"hello, world");
}

#[test]
fn kat_ipv4_udp_without_checksum_stays_without() {
    let mut buf = hex(V4_UDP_NOCSUM);
    let h = parse_l3l4(&buf, Family::Ipv4).unwrap();
    assert_eq!(l4_checksum_ok(&buf, &h), Ok(true));
    let done = nat::dnat(
        &mut buf,
        Family::Ipv4,
        &InetAddr::from_ipv4([172, 16, 0, 5]),
        5353,
        ChecksumMode::Full,
    )
    .unwrap();
    assert_eq!(done.l4, L4Update::NoUdpChecksum);
    assert_eq!(buf, hex(V4_UDP_NOCSUM_DNAT));
    assert!(Ipv4Packet::new_checked(&buf[..]).unwrap().verify_checksum());
}

#[test]
fn kat_icmpv4_error_nat() {
    let pkt = hex(V4_ICMP_UNREACH);
    let outer = parse_l3l4(&pkt, Family::Ipv4).unwrap();
    assert_eq!(
        (outer.protocol, outer.l4_off, outer.l4_header_len),
        (IPPROTO_ICMP, 20, 8)
    );
    assert_eq!(l4_checksum_ok(&pkt, &outer), Ok(true));
    let err = IcmpError::parse(&pkt, &outer).unwrap();
    assert_eq!((err.icmp_type, err.code, err.offset), (3, 3, 20));
    assert_eq!(
        (err.inner.l3_off, err.inner.l4_off, err.inner.protocol),
        (28, 48, IPPROTO_UDP)
    );
    assert_eq!(err.inner.ports, Some([40000, 8080]));
    assert_eq!(err.inner.daddr, InetAddr::from_ipv4([172, 16, 0, 5]));
    assert_eq!(err.inner.total_len, 38);

    let mut buf = pkt.clone();
    let vip = InetAddr::from_ipv4([192, 168, 1, 10]);
    let got = nat::nat_icmp(&mut buf, Family::Ipv4, IcmpDirection::Out, &vip, 53).unwrap();
    assert_eq!(got, err);
    assert_eq!(buf, hex(V4_ICMP_UNREACH_NAT));
    assert!(IcmpPacket::new_checked(&buf[20..])
        .unwrap()
        .verify_checksum());
    assert!(Ipv4Packet::new_unchecked(&buf[28..]).verify_checksum());
}

#[test]
fn kat_icmpv6_error_nat() {
    let pkt = hex(V6_ICMP_UNREACH);
    let outer = parse_l3l4(&pkt, Family::Ipv6).unwrap();
    assert_eq!(l4_checksum_ok(&pkt, &outer), Ok(true));
    let err = IcmpError::parse(&pkt, &outer).unwrap();
    assert_eq!((err.icmp_type, err.code), (1, 4));
    assert_eq!(
        (err.inner.l3_off, err.inner.l4_off, err.inner.protocol),
        (48, 88, IPPROTO_TCP)
    );
    assert_eq!(err.inner.ports, Some([40002, 8080]));
    let mut buf = pkt.clone();
    nat::nat_icmp(
        &mut buf,
        Family::Ipv6,
        IcmpDirection::Out,
        &v6("2001:db8::100"),
        80,
    )
    .unwrap();
    assert_eq!(buf, hex(V6_ICMP_UNREACH_NAT));
    let h = parse_l3l4(&buf, Family::Ipv6).unwrap();
    assert!(Icmpv6Packet::new_checked(h.l4_slice(&buf))
        .unwrap()
        .verify_checksum(&h.saddr, &h.daddr));
}

#[test]
fn icmp_non_errors_and_fragments_are_refused() {
    let s = InetAddr::from_ipv4([1, 2, 3, 4]);
    let d = InetAddr::from_ipv4([5, 6, 7, 8]);
    // Echo request.
    let mut m = vec![8u8, 0, 0, 0, 0, 1, 0, 1, 9, 9];
    let c = ref_csum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let pkt = ip_packet(Family::Ipv4, &s, &d, &[], &[], IPPROTO_ICMP, &m);
    let h = parse_l3l4(&pkt, Family::Ipv4).unwrap();
    assert_eq!(IcmpError::parse(&pkt, &h), Err(Malformed::NotIcmpError));
    let mut buf = pkt.clone();
    assert_eq!(
        nat::nat_icmp(&mut buf, Family::Ipv4, IcmpDirection::Out, &d, 1),
        Err(Malformed::NotIcmpError)
    );
    assert_eq!(buf, pkt);
    assert!(IcmpPacket::new_checked(&pkt[20..])
        .unwrap()
        .verify_checksum());
    assert_eq!(IcmpPacket::new_checked(&pkt[20..]).unwrap().echo_ident(), 1);

    // ICMPv6 echo request (informational).
    let s6 = v6("2001:db8::1");
    let d6 = v6("2001:db8::2");
    let mut m6 = vec![128u8, 0, 0, 0, 0, 1, 0, 1];
    let mut all = ref_pseudo(Family::Ipv6, &s6, &d6, IPPROTO_ICMPV6, m6.len());
    all.extend(&m6);
    let c6 = ref_csum(&all);
    m6[2..4].copy_from_slice(&c6.to_be_bytes());
    let pkt6 = ip_packet(Family::Ipv6, &s6, &d6, &[], &[], IPPROTO_ICMPV6, &m6);
    let h6 = parse_l3l4(&pkt6, Family::Ipv6).unwrap();
    assert_eq!(l4_checksum_ok(&pkt6, &h6), Ok(true));
    assert_eq!(IcmpError::parse(&pkt6, &h6), Err(Malformed::NotIcmpError));
    assert!(!Icmpv6Packet::new_checked(&pkt6[40..]).unwrap().is_error());

    // An ICMPv6 error behind a fragment header: C drops it.
    let quote = vec![0x60u8; 48];
    let mut e = vec![1u8, 0, 0, 0, 0, 0, 0, 0];
    e.extend(&quote);
    let frag = [Ext::Frag {
        offset: 0,
        more: false,
        ident: 1,
    }];
    let pkt6f = ip_packet(Family::Ipv6, &s6, &d6, &[], &frag, IPPROTO_ICMPV6, &e);
    let h6f = parse_l3l4(&pkt6f, Family::Ipv6).unwrap();
    assert!(h6f.fragment.is_some());
    assert_eq!(IcmpError::parse(&pkt6f, &h6f), Err(Malformed::Fragment));
    // ... and so does the triage (C: NF_DROP), an informational message behind one is
    // not related (C: NF_ACCEPT).
    assert_eq!(IcmpTriage::of(&pkt6f, &h6f), IcmpTriage::Drop);
    let mut info = vec![128u8, 0, 0, 0, 0, 0, 0, 0];
    info.extend(&quote);
    let pkt6i = ip_packet(Family::Ipv6, &s6, &d6, &[], &frag, IPPROTO_ICMPV6, &info);
    let h6i = parse_l3l4(&pkt6i, Family::Ipv6).unwrap();
    assert_eq!(IcmpTriage::of(&pkt6i, &h6i), IcmpTriage::NotError);
    // A later fragment: C reads the "ICMP header" from the fragment's payload.
    let later = [Ext::Frag {
        offset: 8,
        more: false,
        ident: 1,
    }];
    let pkt6l = ip_packet(Family::Ipv6, &s6, &d6, &[], &later, IPPROTO_ICMPV6, &e);
    let h6l = parse_l3l4(&pkt6l, Family::Ipv6).unwrap();
    assert_eq!(IcmpTriage::of(&pkt6l, &h6l), IcmpTriage::Drop);
    let pkt6li = ip_packet(Family::Ipv6, &s6, &d6, &[], &later, IPPROTO_ICMPV6, &info);
    let h6li = parse_l3l4(&pkt6li, Family::Ipv6).unwrap();
    assert_eq!(IcmpTriage::of(&pkt6li, &h6li), IcmpTriage::NotError);
    // No ICMP header at all (C: NF_DROP), for both families.
    for (fam, s, d, proto) in [
        (Family::Ipv4, &s, &d, IPPROTO_ICMP),
        (Family::Ipv6, &s6, &d6, IPPROTO_ICMPV6),
    ] {
        let short = ip_packet(fam, s, d, &[], &[], proto, &[3u8, 3, 0, 0]);
        let hs = super::parse_packet(&short[..], fam).unwrap().headers;
        assert_eq!(IcmpTriage::of(&short, &hs), IcmpTriage::Drop, "{fam:?}");
    }
    // An error the quoted packet of which is cut: ignored (C: "looks wrong, ignore").
    let cut = ip_packet(
        Family::Ipv4,
        &s,
        &d,
        &[],
        &[],
        IPPROTO_ICMP,
        &[3u8, 3, 0, 0, 0, 0, 0, 0, 0x45],
    );
    let hc = parse_l3l4(&cut, Family::Ipv4).unwrap();
    assert_eq!(IcmpTriage::of(&cut, &hc), IcmpTriage::Ignore);
    // Not an error: an echo request (C: `*related = 0`); an echo reply; a timestamp.
    for t in [8u8, 0, 13] {
        let echo = ip_packet(
            Family::Ipv4,
            &s,
            &d,
            &[],
            &[],
            IPPROTO_ICMP,
            &[t, 0, 0, 0, 0, 1, 0, 1],
        );
        let he = parse_l3l4(&echo, Family::Ipv4).unwrap();
        assert_eq!(IcmpTriage::of(&echo, &he), IcmpTriage::NotError, "type {t}");
    }

    // Not ICMP at all.
    let tcp = hex(V4_SYN);
    let ht = parse_l3l4(&tcp, Family::Ipv4).unwrap();
    assert_eq!(IcmpError::parse(&tcp, &ht), Err(Malformed::Unsupported));
}

// ---- UDP zero checksum ----------------------------------------------------------------

/// `udp_dnat_handler()`'s full recompute (IPv6, checksum 0) sums the datagram as the packet
/// has it (`skb->len - udphoff`) and never reads the UDP length field: a lying length is
/// rewritten like any other datagram (was: refused as malformed, a drop C does not make).
#[test]
fn udp6_zero_checksum_lying_length_is_rewritten() {
    let s = v6("2001:db8::1");
    let d = v6("2001:db8::2");
    let vip = v6("2001:db8::100");
    let l4 = L4::Udp {
        sport: 1000,
        dport: 53,
        payload: b"query".to_vec(),
        nocsum: true,
    };
    let pkt = packet(Family::Ipv6, &s, &d, &[], &[], &l4);
    for lie in [0u16, 1, 7, 9, 0xffff] {
        let mut buf = pkt.clone();
        buf[44..46].copy_from_slice(&lie.to_be_bytes());
        let h = super::parse_packet(&buf[..], Family::Ipv6).unwrap().headers;
        let done = nat::dnat_parsed(&mut buf, &h, &vip, 5353, ChecksumMode::Full).unwrap();
        assert_eq!(done, L4Update::Recomputed);
        assert_eq!(&buf[42..44], &5353u16.to_be_bytes());
        assert_eq!(&buf[44..46], &lie.to_be_bytes());
        let dg = &buf[40..];
        let sum = csum_partial(
            dg,
            pseudo_header(Family::Ipv6, &s, &vip, 17, dg.len() as u32),
        );
        assert_eq!(csum_fold(sum), 0, "length field {lie}");
    }
}

#[test]
fn udp_zero_checksum_rules() {
    let s = v6("2001:db8::1");
    let d = v6("2001:db8::2");
    let l4 = L4::Udp {
        sport: 1000,
        dport: 53,
        payload: b"query".to_vec(),
        nocsum: true,
    };
    let pkt = packet(Family::Ipv6, &s, &d, &[], &[], &l4);
    let h = parse_l3l4(&pkt, Family::Ipv6).unwrap();
    // Zero is invalid over IPv6 ...
    assert_eq!(l4_checksum_ok(&pkt, &h), Ok(false));
    assert!(!UdpPacket::new_checked(&pkt[40..])
        .unwrap()
        .verify_checksum(Family::Ipv6, &s, &d));
    // ... and "none" over IPv4.
    let s4 = InetAddr::from_ipv4([10, 1, 1, 1]);
    let d4 = InetAddr::from_ipv4([10, 2, 2, 2]);
    assert!(UdpPacket::new_checked(&pkt[40..])
        .unwrap()
        .verify_checksum(Family::Ipv4, &s4, &d4));

    // NAT of a zero-checksum IPv6 datagram computes one, as C does, given the whole packet.
    let vip = v6("2001:db8::100");
    let mut buf = pkt.clone();
    let done = nat::dnat(&mut buf, Family::Ipv6, &vip, 5353, ChecksumMode::Full).unwrap();
    assert_eq!(done.l4, L4Update::Recomputed);
    let expect = packet(
        Family::Ipv6,
        &s,
        &vip,
        &[],
        &[],
        &l4.with_ports([1000, 5353]).clone_with_csum(),
    );
    assert_eq!(buf, expect);
    // A head cannot: refused, untouched.
    let mut head = pkt[..48].to_vec();
    assert_eq!(
        nat::dnat(&mut head, Family::Ipv6, &vip, 5353, ChecksumMode::Full),
        Err(Malformed::Incomplete)
    );
    assert_eq!(head, pkt[..48]);
    // In CHECKSUM_PARTIAL mode C updates the field as a pseudo-header sum, zero or not.
    let mut p = pkt.clone();
    assert_eq!(
        nat::dnat(&mut p, Family::Ipv6, &vip, 5353, ChecksumMode::Partial)
            .unwrap()
            .l4,
        L4Update::PseudoHeader
    );
}

impl L4 {
    fn clone_with_csum(&self) -> L4 {
        let mut l = self.clone();
        if let L4::Udp { nocsum, .. } = &mut l {
            *nocsum = false;
        }
        l
    }
}

/// A payload whose last two bytes make the UDP checksum compute to 0 between `src` and `dst`.
fn payload_for_zero_udp_csum(
    family: Family,
    src: &InetAddr,
    dst: &InetAddr,
    ports: [u16; 2],
    mut payload: Vec<u8>,
) -> Vec<u8> {
    payload.extend([0, 0]);
    if payload.len() % 2 == 1 {
        payload.insert(0, 0);
    }
    let mut d = Vec::new();
    d.extend(ports[0].to_be_bytes());
    d.extend(ports[1].to_be_bytes());
    d.extend(((8 + payload.len()) as u16).to_be_bytes());
    d.extend([0, 0]);
    d.extend(&payload);
    let mut all = ref_pseudo(family, src, dst, IPPROTO_UDP, d.len());
    all.extend(&d);
    // Adding the complement of the sum makes the sum 0xffff: the checksum computes to 0.
    let c = ref_csum(&all);
    let n = payload.len();
    payload[n - 2..].copy_from_slice(&c.to_be_bytes());
    payload
}

proptest! {
    /// A checksum that computes to 0 goes out as 0xffff, by fill_checksum and by NAT.
    #[test]
    fn udp_computed_zero_is_sent_as_ffff(
        fam in family(), s in any::<[u8; 16]>(), d in any::<[u8; 16]>(), n in any::<[u8; 16]>(),
        ports in any::<[u16; 2]>(), new_port in any::<u16>(), payload in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let (s, d, n) = (addr(fam, s), addr(fam, d), addr(fam, n));
        // After DNAT to (n, new_port) the checksum computes to 0.
        let payload = payload_for_zero_udp_csum(fam, &s, &n, [ports[0], new_port], payload);
        let after = L4::Udp { sport: ports[0], dport: new_port, payload: payload.clone(), nocsum: false };
        let after_bytes = after.bytes(fam, &s, &n);
        prop_assert_eq!(&after_bytes[6..8], &[0xff, 0xff]);
        let mut u = after_bytes.clone();
        UdpPacket::new_checked(&mut u[..]).unwrap().fill_checksum(fam, &s, &n);
        prop_assert_eq!(&u, &after_bytes);
        prop_assert!(UdpPacket::new_checked(&u[..]).unwrap().verify_checksum(fam, &s, &n));

        let before = L4::Udp { sport: ports[0], dport: ports[1], payload, nocsum: false };
        let mut buf = packet(fam, &s, &d, &[], &[], &before);
        let done = nat::dnat(&mut buf, fam, &n, new_port, ChecksumMode::Full).unwrap();
        prop_assert_eq!(done.l4, L4Update::Incremental);
        prop_assert_eq!(buf, packet(fam, &s, &n, &[], &[], &after));
    }
}

// ---- NAT equals recompute -------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Incremental DNAT / SNAT gives exactly the packet built from scratch with the new
    /// address and port, which verifies; on a head the written bytes are the same.
    #[test]
    fn nat_incremental_equals_recompute(sp in spec(), new in any::<[u8; 16]>(), new_port in any::<u16>(), is_snat in any::<bool>(), head_extra in 0usize..100) {
        let fam = sp.family;
        let pkt = sp.bytes();
        let new = addr(fam, new);
        let h = parse_l3l4(&pkt, fam).unwrap();
        let nocsum = matches!(sp.l4, L4::Udp { nocsum: true, .. });
        prop_assert_eq!(l4_checksum_ok(&pkt, &h), Ok(!(nocsum && fam == Family::Ipv6)));

        let mut expect_spec = sp.clone();
        let [sport, dport] = sp.l4.ports();
        if is_snat {
            expect_spec.src = new;
            expect_spec.l4 = sp.l4.with_ports([new_port, dport]);
        } else {
            expect_spec.dst = new;
            expect_spec.l4 = sp.l4.with_ports([sport, new_port]);
        }
        if fam == Family::Ipv6 {
            // UDP over IPv6 without checksum gets one computed.
            expect_spec.l4 = expect_spec.l4.clone_with_csum();
        }
        let expect = expect_spec.bytes();

        let run = |buf: &mut Vec<u8>| if is_snat {
            nat::snat(buf, fam, &new, new_port, ChecksumMode::Full)
        } else {
            nat::dnat(buf, fam, &new, new_port, ChecksumMode::Full)
        };
        let mut buf = pkt.clone();
        let done = run(&mut buf).unwrap();
        prop_assert_eq!(done.headers, h);
        let want = match (nocsum, fam) {
            (false, _) => L4Update::Incremental,
            (true, Family::Ipv4) => L4Update::NoUdpChecksum,
            (true, Family::Ipv6) => L4Update::Recomputed,
        };
        prop_assert_eq!(done.l4, want);
        prop_assert_eq!(&buf, &expect);
        let h2 = parse_l3l4(&buf, fam).unwrap();
        prop_assert_eq!(l4_checksum_ok(&buf, &h2), Ok(true));
        if fam == Family::Ipv4 {
            prop_assert!(Ipv4Packet::new_checked(&buf[..]).unwrap().verify_checksum());
        }

        // The linear head only: same bytes where it has them, unless the whole packet is needed.
        let cut = (h.l4_off + h.l4_header_len + head_extra).min(pkt.len());
        let mut head = pkt[..cut].to_vec();
        let r = run(&mut head);
        if want == L4Update::Recomputed && cut < pkt.len() {
            prop_assert_eq!(r, Err(Malformed::Incomplete));
            prop_assert_eq!(&head[..], &pkt[..cut]);
        } else {
            prop_assert_eq!(r.map(|d| d.l4), Ok(want));
            prop_assert_eq!(&head[..], &expect[..cut]);
        }
    }

    /// CHECKSUM_PARTIAL: the field holds the pseudo-header sum; after NAT it holds the sum
    /// for the new addresses, and completing it as the device would gives the packet built
    /// from scratch.
    #[test]
    fn nat_partial_updates_pseudo_header_sum(sp in spec(), new in any::<[u8; 16]>(), new_port in any::<u16>(), is_snat in any::<bool>()) {
        let fam = sp.family;
        let mut sp = sp;
        sp.l4 = sp.l4.clone_with_csum();
        let new = addr(fam, new);
        let mut pkt = sp.bytes();
        let h = parse_l3l4(&pkt, fam).unwrap();
        let seg_len = h.total_len - h.l4_off;
        let csum_at = h.l4_off + if h.protocol == IPPROTO_TCP { 16 } else { 6 };
        let psum = |s: &InetAddr, d: &InetAddr| ref_sum(&ref_pseudo(fam, s, d, h.protocol, seg_len));
        pkt[csum_at..csum_at + 2].copy_from_slice(&psum(&sp.src, &sp.dst).to_be_bytes());

        let mut buf = pkt.clone();
        let done = if is_snat {
            nat::snat(&mut buf, fam, &new, new_port, ChecksumMode::Partial)
        } else {
            nat::dnat(&mut buf, fam, &new, new_port, ChecksumMode::Partial)
        }.unwrap();
        prop_assert_eq!(done.l4, L4Update::PseudoHeader);
        let (s, d) = if is_snat { (new, sp.dst) } else { (sp.src, new) };
        let field = u16::from_be_bytes([buf[csum_at], buf[csum_at + 1]]);
        // One's-complement sums have two zeros; the pseudo-header sum is never 0 (protocol
        // is not), so the folded value is exact.
        prop_assert_eq!(field, psum(&s, &d));

        // The device: checksum from csum_start over the segment, field included.
        let c = ref_csum(&buf[h.l4_off..h.total_len]);
        let c = if h.protocol == IPPROTO_UDP && c == 0 { 0xffff } else { c };
        buf[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        let mut expect_spec = sp.clone();
        let [sport, dport] = sp.l4.ports();
        if is_snat {
            expect_spec.src = new;
            expect_spec.l4 = sp.l4.with_ports([new_port, dport]);
        } else {
            expect_spec.dst = new;
            expect_spec.l4 = sp.l4.with_ports([sport, new_port]);
        }
        prop_assert_eq!(buf, expect_spec.bytes());
    }

    /// A verifying packet with one bit flipped in its transport part no longer verifies.
    #[test]
    fn corruption_is_detected(sp in spec(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut sp = sp;
        sp.l4 = sp.l4.clone_with_csum();
        let mut pkt = sp.bytes();
        let h = parse_l3l4(&pkt, sp.family).unwrap();
        let i = h.l4_off + at.index(h.total_len - h.l4_off);
        pkt[i] ^= 1 << bit;
        let udp_csum_zeroed = h.protocol == IPPROTO_UDP && pkt[h.l4_off + 6] == 0 && pkt[h.l4_off + 7] == 0;
        // Flipping a length or data-offset bit may also make the packet unparsable.
        if let Ok(h2) = parse_l3l4(&pkt, sp.family) {
            if !(udp_csum_zeroed && sp.family == Family::Ipv4) && h2.total_len == h.total_len {
                let ok = match h2.protocol {
                    IPPROTO_UDP => UdpPacket::new_checked(h2.l4_slice(&pkt))
                        .map(|u| u.verify_checksum(sp.family, &h2.saddr, &h2.daddr) && usize::from(u.len()) == h2.total_len - h2.l4_off),
                    _ => l4_checksum_ok(&pkt, &h2),
                };
                prop_assert_ne!(ok, Ok(true));
            }
        }
    }
}

// ---- parsing: truncation, garbage, extension headers ----------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every prefix shorter than the headers is refused; every longer one parses the same.
    /// The whole-packet views refuse every prefix shorter than the packet.
    #[test]
    fn truncations_are_rejected(sp in spec()) {
        let fam = sp.family;
        let pkt = sp.bytes();
        let h = parse_l3l4(&pkt, fam).unwrap();
        let need = h.l4_off + h.l4_header_len;
        for n in 0..pkt.len() {
            let r = parse_l3l4(&pkt[..n], fam);
            if n < need {
                prop_assert_eq!(r, Err(Malformed::Truncated), "prefix {} of {}", n, need);
            } else {
                prop_assert_eq!(r, Ok(h));
            }
            match fam {
                Family::Ipv4 => prop_assert!(Ipv4Packet::new_checked(&pkt[..n]).is_err()),
                Family::Ipv6 => prop_assert!(Ipv6Packet::new_checked(&pkt[..n]).is_err()),
            }
            let mut b = pkt[..n].to_vec();
            if n < need {
                prop_assert!(nat::dnat(&mut b, fam, &sp.src, 1, ChecksumMode::Full).is_err());
                prop_assert_eq!(&b[..], &pkt[..n]);
            }
            prop_assert!(l4_checksum_ok(&pkt[..n], &h).is_err() || n >= h.total_len);
        }
        let l4 = h.l4_slice(&pkt);
        match h.protocol {
            IPPROTO_TCP => {
                let hl = TcpPacket::new_checked(l4).unwrap().header_len();
                for n in 0..hl {
                    prop_assert!(TcpPacket::new_checked(&l4[..n]).is_err());
                }
            }
            _ => {
                for n in 0..l4.len() {
                    prop_assert!(UdpPacket::new_checked(&l4[..n]).is_err());
                }
            }
        }
    }

    /// Nothing panics on arbitrary bytes; an operation that fails leaves the buffer alone.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), fam in family(), port in any::<u16>(), a in any::<[u8; 16]>()) {
        exercise(&bytes, fam, &addr(fam, a), port);
    }

    /// The same on valid packets with bytes overwritten and cut: deeper paths.
    #[test]
    fn mutated_packets_never_panic(
        sp in spec(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        port in any::<u16>(),
        as_icmp in any::<bool>(),
    ) {
        let fam = sp.family;
        let mut pkt = sp.bytes();
        if as_icmp {
            pkt = icmp_error(fam, &sp.dst, &sp.src, &pkt);
        }
        for (i, v) in edits {
            let i = i.index(pkt.len());
            pkt[i] = v;
        }
        let n = pkt.len() - cut.index(pkt.len() / 2 + 1);
        exercise(&pkt[..n], fam, &sp.src, port);
    }

    /// Extension headers of every kind, in any order, are walked to the transport header.
    #[test]
    fn ipv6_extension_headers_are_walked(
        s in any::<[u8; 16]>(), d in any::<[u8; 16]>(),
        exts in prop::collection::vec(ext(), 0..6),
        l4 in l4(),
    ) {
        let (s, d) = (InetAddr::from_ipv6(s), InetAddr::from_ipv6(d));
        let pkt = packet(Family::Ipv6, &s, &d, &[], &exts, &l4);
        let chain: usize = exts.iter().map(|e| e.bytes(0).len()).sum();
        let h = parse_l3l4(&pkt, Family::Ipv6).unwrap();
        prop_assert_eq!(h.protocol, l4.proto());
        prop_assert_eq!(h.l4_off, 40 + chain);
        prop_assert_eq!(h.ports, Some(l4.ports()));
        let frag = exts.iter().rev().find_map(|e| match *e {
            Ext::Frag { offset, more, ident } => Some(Fragment { offset, more, ident }),
            _ => None,
        });
        prop_assert_eq!(h.fragment, frag);
        prop_assert_eq!(h.fragoffs(), 0);
        let up = Ipv6Packet::new_checked(&pkt[..]).unwrap().upper_layer().unwrap();
        prop_assert_eq!((up.protocol, up.offset, up.fragment), (h.protocol, h.l4_off, h.fragment));
        prop_assert_eq!(l4_checksum_ok(&pkt, &h), Ok(!matches!(l4, L4::Udp { nocsum: true, .. })));
    }

    /// A non-first fragment: the protocol after the fragment header, no ports; NAT changes
    /// the address only. A non-first fragment header followed by another extension header
    /// is refused, as `ipv6_find_hdr()` does.
    #[test]
    fn ipv6_non_first_fragments(
        s in any::<[u8; 16]>(), d in any::<[u8; 16]>(), n in any::<[u8; 16]>(),
        before in prop::collection::vec(ext(), 0..3),
        offset in 1u16..8191, more in any::<bool>(), ident in any::<u32>(),
        data in prop::collection::vec(any::<u8>(), 0..40),
        tcp in any::<bool>(),
        after_ext in any::<bool>(),
    ) {
        let (s, d, n) = (InetAddr::from_ipv6(s), InetAddr::from_ipv6(d), InetAddr::from_ipv6(n));
        let offset = offset * 8;
        let mut exts = before.clone();
        exts.push(Ext::Frag { offset, more, ident });
        let proto = if tcp { IPPROTO_TCP } else { IPPROTO_UDP };
        if after_ext {
            exts.push(Ext::Dest(0));
            let pkt = ip_packet(Family::Ipv6, &s, &d, &[], &exts, proto, &data);
            prop_assert_eq!(parse_l3l4(&pkt, Family::Ipv6), Err(Malformed::BadExtHeader));
            return Ok(());
        }
        let pkt = ip_packet(Family::Ipv6, &s, &d, &[], &exts, proto, &data);
        let chain: usize = exts.iter().map(|e| e.bytes(0).len()).sum();
        let h = parse_l3l4(&pkt, Family::Ipv6).unwrap();
        prop_assert_eq!(h.protocol, proto);
        prop_assert_eq!(h.l4_off, 40 + chain);
        prop_assert_eq!(h.ports, None);
        prop_assert_eq!(h.fragoffs(), offset);
        prop_assert_eq!(h.fragment, Some(Fragment { offset, more, ident }));
        let mut buf = pkt.clone();
        let done = nat::dnat(&mut buf, Family::Ipv6, &n, 99, ChecksumMode::Full).unwrap();
        prop_assert_eq!(done.l4, L4Update::Fragment);
        let mut expect = pkt.clone();
        expect[24..40].copy_from_slice(&n.0);
        prop_assert_eq!(buf, expect);
    }
}

/// Runs every entry point over `bytes`; checks failures leave buffers alone.
fn exercise(bytes: &[u8], fam: Family, a: &InetAddr, port: u16) {
    for f in [Family::Ipv4, Family::Ipv6] {
        if let Ok(h) = parse_l3l4(bytes, f) {
            assert!(h.l4_off <= bytes.len() && h.l4_off + h.l4_header_len <= bytes.len());
            let _ = l4_checksum_ok(bytes, &h);
            let _ = h.l4_slice(bytes);
            if let Ok(e) = IcmpError::parse(bytes, &h) {
                assert!(e.inner.l4_off + e.inner.l4_header_len <= bytes.len());
            }
        }
        if let Ok(info) = super::parse_packet(bytes, f) {
            // The triage the hooks run: an error it finds is the one IcmpError finds.
            match IcmpTriage::of_packet(bytes, &info.headers) {
                IcmpTriage::Error(e) => {
                    assert_eq!(IcmpError::parse_packet(bytes, &info.headers), Ok(e))
                }
                IcmpTriage::Drop => assert!(super::is_icmp_of(f, info.headers.protocol)),
                IcmpTriage::Ignore | IcmpTriage::NotError => {}
            }
        }
    }
    let _ = ipv6::find_upper_layer(bytes, 0, bytes.len());
    let _ = ipv6::find_upper_layer(bytes, 7, usize::MAX);
    for mode in [ChecksumMode::Full, ChecksumMode::Partial] {
        let mut b = bytes.to_vec();
        if nat::dnat(&mut b, fam, a, port, mode).is_err() {
            assert_eq!(b, bytes);
        }
        let mut b = bytes.to_vec();
        if nat::snat(&mut b, fam, a, port, mode).is_err() {
            assert_eq!(b, bytes);
        }
    }
    for dir in [IcmpDirection::Out, IcmpDirection::In] {
        let mut b = bytes.to_vec();
        if nat::nat_icmp(&mut b, fam, dir, a, port).is_err() {
            assert_eq!(b, bytes);
        }
    }
    // Unchecked views: accessors never panic.
    let p4 = Ipv4Packet::new_unchecked(bytes);
    let _ = (
        p4.version(),
        p4.header_len(),
        p4.total_len(),
        p4.frag_offset(),
        p4.payload(),
        p4.verify_checksum(),
        p4.src_addr(),
    );
    let p6 = Ipv6Packet::new_unchecked(bytes);
    let _ = (
        p6.flow_label(),
        p6.traffic_class(),
        p6.payload(),
        p6.dst_addr(),
        p6.upper_layer(),
    );
    let t = TcpPacket::new_unchecked(bytes);
    let _ = (
        t.header_len(),
        t.options(),
        t.payload(),
        t.verify_checksum(fam, a, a),
        t.flags(),
    );
    let u = UdpPacket::new_unchecked(bytes);
    let _ = (u.len(), u.payload(), u.verify_checksum(fam, a, a));
    let i = IcmpPacket::new_unchecked(bytes);
    let _ = (i.payload(), i.verify_checksum(), i.rest_of_header());
    let mut b = bytes.to_vec();
    let mut w4 = Ipv4Packet::new_unchecked(&mut b[..]);
    w4.fill_checksum();
    w4.set_dst_addr([1, 2, 3, 4]);
    let _ = w4.payload_mut();
    let mut wt = TcpPacket::new_unchecked(&mut b[..]);
    wt.fill_checksum(fam, a, a);
    let _ = wt.payload_mut();
    let mut wu = UdpPacket::new_unchecked(&mut b[..]);
    wu.fill_checksum(fam, a, a);
    let mut wi = Icmpv6Packet::new_unchecked(&mut b[..]);
    wi.fill_checksum(a, a);
}

// ---- ICMP error NAT -------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `nat_icmp` in both directions gives the packet built from scratch: outer address,
    /// quoted address and port rewritten, quoted IPv4 header checksum and ICMP checksum
    /// recomputed, quoted transport checksum left as it was (as C).
    #[test]
    fn icmp_error_nat_verifies(
        fam in family(),
        client in any::<[u8; 16]>(), rs in any::<[u8; 16]>(), vip in any::<[u8; 16]>(), router in any::<[u8; 16]>(),
        l4 in l4(), vport in any::<u16>(),
        quote_cut in any::<prop::sample::Index>(),
        inbound in any::<bool>(),
        from_router in any::<bool>(),
    ) {
        let (client, rs, vip, router) = (addr(fam, client), addr(fam, rs), addr(fam, vip), addr(fam, router));
        let [cport, rport] = l4.ports();
        // Out: a real server (or a router next to it) reports a problem with a request
        // client → rs:rport. In: the client side reports a problem with a reply
        // vip:vport → client, sent to the VIP.
        let (orig_src, orig_dst, orig_l4, err_src, err_dst) = if inbound {
            (vip, client, l4.with_ports([vport, cport]), if from_router { router } else { client }, vip)
        } else {
            (client, rs, l4.clone(), if from_router { router } else { rs }, client)
        };
        let orig = packet(fam, &orig_src, &orig_dst, &[], &[], &orig_l4);
        let hl = if fam == Family::Ipv4 { 20 } else { 40 };
        // Quote at least the IP header and the ports; often the RFC 792 minimum (+8).
        let min = hl + 4;
        let qlen = min + quote_cut.index(orig.len() - min + 1);
        let quote = &orig[..qlen];
        let pkt = icmp_error(fam, &err_src, &err_dst, quote);
        let outer = parse_l3l4(&pkt, fam).unwrap();
        prop_assert_eq!(l4_checksum_ok(&pkt, &outer), Ok(true));
        let err = IcmpError::parse(&pkt, &outer).unwrap();
        prop_assert_eq!(err.inner.ports, Some(orig_l4.ports()));
        prop_assert_eq!(err.inner.l3_off, outer.l4_off + 8);

        let mut expect_quote = quote.to_vec();
        let (dir, nat_addr, nat_port, expect_outer) = if inbound {
            // inout = 0: outer daddr, quoted saddr and sport become the real server's.
            let a = if fam == Family::Ipv4 { 12..16 } else { 8..24 };
            expect_quote[a].copy_from_slice(&addr_of(fam, &rs));
            expect_quote[hl..hl + 2].copy_from_slice(&rport.to_be_bytes());
            (IcmpDirection::In, rs, rport, (err_src, rs))
        } else {
            let a = if fam == Family::Ipv4 { 16..20 } else { 24..40 };
            expect_quote[a].copy_from_slice(&addr_of(fam, &vip));
            expect_quote[hl + 2..hl + 4].copy_from_slice(&vport.to_be_bytes());
            (IcmpDirection::Out, vip, vport, (vip, err_dst))
        };
        if fam == Family::Ipv4 {
            expect_quote[10] = 0;
            expect_quote[11] = 0;
            let c = ref_csum(&expect_quote[..20]);
            expect_quote[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let expect = icmp_error(fam, &expect_outer.0, &expect_outer.1, &expect_quote);

        let mut buf = pkt.clone();
        let got = nat::nat_icmp(&mut buf, fam, dir, &nat_addr, nat_port).unwrap();
        prop_assert_eq!(got, err);
        prop_assert_eq!(&buf, &expect);
        let outer2 = parse_l3l4(&buf, fam).unwrap();
        prop_assert_eq!(l4_checksum_ok(&buf, &outer2), Ok(true));
        let err2 = IcmpError::parse(&buf, &outer2).unwrap();
        if fam == Family::Ipv4 {
            prop_assert!(Ipv4Packet::new_checked(&buf[..]).unwrap().verify_checksum());
            prop_assert!(Ipv4Packet::new_unchecked(&buf[err2.inner.l3_off..]).verify_checksum());
        }

        // The ICMP checksum covers everything: a head is refused, untouched.
        let mut head = pkt[..err.inner.l4_off + 4].to_vec();
        if head.len() < pkt.len() {
            prop_assert_eq!(nat::nat_icmp(&mut head, fam, dir, &nat_addr, nat_port), Err(Malformed::Incomplete));
            prop_assert_eq!(&head[..], &pkt[..head.len()]);
        }
        // Fewer than four port bytes quoted: refused (C's skb_ensure_writable() fails).
        let short = icmp_error(fam, &err_src, &err_dst, &orig[..hl + 3]);
        let mut b = short.clone();
        prop_assert_eq!(nat::nat_icmp(&mut b, fam, dir, &nat_addr, nat_port), Err(Malformed::Truncated));
        prop_assert_eq!(b, short);
    }
}

// ---- ICMP errors quoting packets with IPv4 options / IPv6 extension headers ------------

/// Where the transport header of `sp`'s packet starts, computed from the spec alone
/// (20 + options, or 40 + the extension headers).
fn spec_l4_off(sp: &Spec) -> usize {
    match sp.family {
        Family::Ipv4 => 20 + sp.opts.len(),
        Family::Ipv6 => 40 + sp.exts.iter().map(|e| e.bytes(0).len()).sum::<usize>(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `nat_icmp` on errors quoting any valid packet (IPv4 options, IPv6 extension headers,
    /// TCP options, cut anywhere past the ports) gives the packet built from scratch: the
    /// outer address, the quoted address and port rewritten, the quoted IPv4 header
    /// checksum (options included) and the ICMP checksum recomputed.
    #[test]
    fn icmp_error_nat_quoting_options_and_ext_headers(
        sp in spec(),
        err_src in any::<[u8; 16]>(), err_dst in any::<[u8; 16]>(), new in any::<[u8; 16]>(),
        new_port in any::<u16>(),
        quote_cut in any::<prop::sample::Index>(),
        inbound in any::<bool>(),
    ) {
        let fam = sp.family;
        let (err_src, err_dst, new) = (addr(fam, err_src), addr(fam, err_dst), addr(fam, new));
        let orig = sp.bytes();
        let l4 = spec_l4_off(&sp);
        let qlen = l4 + 4 + quote_cut.index(orig.len() - (l4 + 4) + 1);
        let quote = &orig[..qlen];
        let pkt = icmp_error(fam, &err_src, &err_dst, quote);

        // Out rewrites the quoted destination (address, port) and the outer source; In the
        // quoted source and the outer destination.
        let (src_at, dst_at) = match fam {
            Family::Ipv4 => (12..16, 16..20),
            Family::Ipv6 => (8..24, 24..40),
        };
        let mut expect_quote = quote.to_vec();
        let (dir, expect_outer) = if inbound {
            expect_quote[src_at].copy_from_slice(&addr_of(fam, &new));
            expect_quote[l4..l4 + 2].copy_from_slice(&new_port.to_be_bytes());
            (IcmpDirection::In, (err_src, new))
        } else {
            expect_quote[dst_at].copy_from_slice(&addr_of(fam, &new));
            expect_quote[l4 + 2..l4 + 4].copy_from_slice(&new_port.to_be_bytes());
            (IcmpDirection::Out, (new, err_dst))
        };
        if fam == Family::Ipv4 {
            expect_quote[10] = 0;
            expect_quote[11] = 0;
            let c = ref_csum(&expect_quote[..l4]);
            expect_quote[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let expect = icmp_error(fam, &expect_outer.0, &expect_outer.1, &expect_quote);

        let mut buf = pkt.clone();
        let got = nat::nat_icmp(&mut buf, fam, dir, &new, new_port).unwrap();
        prop_assert_eq!(got.inner.l4_off, got.inner.l3_off + l4);
        prop_assert_eq!(got.inner.ports, Some(sp.l4.ports()));
        prop_assert_eq!(&buf, &expect);
        let outer = parse_l3l4(&buf, fam).unwrap();
        prop_assert_eq!(l4_checksum_ok(&buf, &outer), Ok(true));
    }

    /// Every truncation of an ICMP error is refused or parsed within bounds:
    ///
    /// * the buffer cut short (a prefix of the packet, lengths still claiming the whole):
    ///   `parse_l3l4` says `Truncated` below the 8-byte ICMP header; `IcmpError::parse` says
    ///   `Truncated` until the quoted IP header (options, extension headers) is complete,
    ///   then reports the ports once their four bytes are there; `nat_icmp` refuses every
    ///   prefix (`Truncated`, then `Incomplete`: the checksum covers the whole message) and
    ///   writes nothing;
    /// * the quote cut short (a consistent, shorter error): the same thresholds for
    ///   `IcmpError::parse`, and `nat_icmp` refuses a quote without its four port bytes.
    #[test]
    fn icmp_error_truncations_are_rejected(
        sp in spec(),
        err_src in any::<[u8; 16]>(), err_dst in any::<[u8; 16]>(), new in any::<[u8; 16]>(),
        inbound in any::<bool>(),
    ) {
        let fam = sp.family;
        let (err_src, err_dst, new) = (addr(fam, err_src), addr(fam, err_dst), addr(fam, new));
        let dir = if inbound { IcmpDirection::In } else { IcmpDirection::Out };
        let orig = sp.bytes();
        let l4 = spec_l4_off(&sp);
        let outer_hl = if fam == Family::Ipv4 { 20 } else { 40 };
        let q0 = outer_hl + 8; // where the quote starts
        let pkt = icmp_error(fam, &err_src, &err_dst, &orig);
        let outer = parse_l3l4(&pkt, fam).unwrap();
        prop_assert_eq!(outer.l4_off, outer_hl);
        let full = IcmpError::parse(&pkt, &outer).unwrap();
        prop_assert_eq!(full.inner.l4_off, q0 + l4);

        for n in 0..pkt.len() {
            let cut = &pkt[..n];
            match parse_l3l4(cut, fam) {
                Err(e) => {
                    prop_assert!(n < q0, "prefix {}: {:?}", n, e);
                    prop_assert_eq!(e, Malformed::Truncated);
                }
                Ok(h) => {
                    prop_assert!(n >= q0, "prefix {} parsed", n);
                    prop_assert_eq!(h, outer);
                    match IcmpError::parse(cut, &h) {
                        Err(e) => {
                            prop_assert!(n < q0 + l4, "prefix {}: {:?}", n, e);
                            prop_assert_eq!(e, Malformed::Truncated);
                        }
                        Ok(err) => {
                            prop_assert!(n >= q0 + l4, "prefix {} parsed the quote", n);
                            prop_assert_eq!(err.inner.l4_off, full.inner.l4_off);
                            if n >= q0 + l4 + 4 {
                                prop_assert_eq!(err, full);
                            } else {
                                prop_assert_eq!(err.inner.ports, None);
                                prop_assert_eq!(err.inner.l4_header_len, 0);
                            }
                            prop_assert!(err.inner.l4_off + err.inner.l4_header_len <= n);
                        }
                    }
                }
            }
            let mut b = cut.to_vec();
            let want = if n < q0 + l4 { Malformed::Truncated } else { Malformed::Incomplete };
            prop_assert_eq!(nat::nat_icmp(&mut b, fam, dir, &new, 7), Err(want), "prefix {}", n);
            prop_assert_eq!(&b[..], cut);
        }

        for q in 0..(l4 + 4).min(orig.len()) {
            let short = icmp_error(fam, &err_src, &err_dst, &orig[..q]);
            let outer = parse_l3l4(&short, fam).unwrap();
            let r = IcmpError::parse(&short, &outer);
            if q < l4 {
                prop_assert_eq!(r, Err(Malformed::Truncated), "quote of {}", q);
            } else {
                let err = r.unwrap();
                prop_assert_eq!(err.inner.ports, None);
                prop_assert!(err.inner.l4_off <= short.len());
            }
            let mut b = short.clone();
            prop_assert_eq!(nat::nat_icmp(&mut b, fam, dir, &new, 7), Err(Malformed::Truncated), "quote of {}", q);
            prop_assert_eq!(b, short);
        }
    }
}

// ---- views and Reprs ------------------------------------------------------------------

#[test]
fn reprs_round_trip() {
    let s = InetAddr::from_ipv4([10, 0, 0, 1]);
    let d = InetAddr::from_ipv4([10, 0, 0, 2]);
    let payload = b"GET / HTTP/1.0\r\n\r\n";
    let mut buf = vec![0u8; 20 + 20 + payload.len()];
    let ip = Ipv4Repr {
        src_addr: [10, 0, 0, 1],
        dst_addr: [10, 0, 0, 2],
        protocol: IPPROTO_TCP,
        payload_len: 38,
        ttl: 63,
    };
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
    buf[40..].copy_from_slice(payload);
    let tcp = TcpRepr {
        src_port: 1234,
        dst_port: 80,
        seq_number: 1,
        ack_number: 2,
        flags: 0x18,
        window_len: 512,
    };
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut buf[20..]),
        Family::Ipv4,
        &s,
        &d,
    );
    let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
    assert_eq!(Ipv4Repr::parse(&p), Ok(ip));
    assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
    let t = TcpPacket::new_checked(p.payload()).unwrap();
    assert_eq!(TcpRepr::parse(&t, Family::Ipv4, &s, &d), Ok(tcp));
    assert_eq!(t.payload(), payload);
    // The reference agrees with emit's checksums.
    assert_eq!(
        ref_l4_csum(Family::Ipv4, &s, &d, IPPROTO_TCP, &buf[20..], 16),
        t.checksum()
    );
    let mut bad = buf.clone();
    bad[30] ^= 0x40;
    assert_eq!(
        TcpRepr::parse(
            &TcpPacket::new_checked(&bad[20..]).unwrap(),
            Family::Ipv4,
            &s,
            &d
        ),
        Err(Malformed::BadChecksum)
    );
    bad[9] ^= 1;
    assert_eq!(
        Ipv4Repr::parse(&Ipv4Packet::new_checked(&bad[..]).unwrap()),
        Err(Malformed::BadChecksum)
    );

    let s6 = v6("fe80::1");
    let d6 = v6("ff02::fb");
    let mut b6 = [0u8; 40 + 8 + 3];
    let r6 = Ipv6Repr {
        src_addr: s6.0,
        dst_addr: d6.0,
        next_header: IPPROTO_UDP,
        payload_len: 11,
        hop_limit: 255,
    };
    r6.emit(&mut Ipv6Packet::new_unchecked(&mut b6[..]));
    b6[48..].copy_from_slice(b"mdn");
    let u = UdpRepr {
        src_port: 5353,
        dst_port: 5353,
    };
    u.emit(
        &mut UdpPacket::new_unchecked(&mut b6[40..]),
        3,
        Family::Ipv6,
        &s6,
        &d6,
    );
    let p6 = Ipv6Packet::new_checked(&b6[..]).unwrap();
    assert_eq!(Ipv6Repr::parse(&p6), Ok(r6));
    let up = UdpPacket::new_checked(p6.payload()).unwrap();
    assert_eq!(UdpRepr::parse(&up, Family::Ipv6, &s6, &d6), Ok(u));
    assert_eq!(up.payload(), b"mdn");
    assert_eq!(
        ref_l4_csum(Family::Ipv6, &s6, &d6, IPPROTO_UDP, &b6[40..], 6),
        up.checksum()
    );
}

#[test]
fn malformed_headers() {
    let good = hex(V4_SYN);
    let mut b = good.clone();
    b[0] = 0x44; // IHL 4
    assert_eq!(parse_l3l4(&b, Family::Ipv4), Err(Malformed::BadLength));
    let mut b = good.clone();
    b[0] = 0x65; // version 6
    assert_eq!(parse_l3l4(&b, Family::Ipv4), Err(Malformed::BadVersion));
    assert_eq!(parse_l3l4(&good, Family::Ipv6), Err(Malformed::BadVersion));
    assert_eq!(
        parse_l3l4(&good[..39], Family::Ipv6),
        Err(Malformed::Truncated)
    );
    let mut b = good.clone();
    b[2..4].copy_from_slice(&19u16.to_be_bytes()); // total length < header
    assert_eq!(parse_l3l4(&b, Family::Ipv4), Err(Malformed::BadLength));
    let mut b = good.clone();
    b[2..4].copy_from_slice(&30u16.to_be_bytes()); // TCP header beyond the IP payload
    assert_eq!(parse_l3l4(&b, Family::Ipv4), Err(Malformed::BadLength));
    let mut b = good.clone();
    b[32] = 0x40; // data offset 4
    assert_eq!(parse_l3l4(&b, Family::Ipv4), Err(Malformed::BadLength));
    // Trailing link padding is ignored.
    let mut b = good.clone();
    b.extend([0u8; 6]);
    let h = parse_l3l4(&b, Family::Ipv4).unwrap();
    assert_eq!(l4_checksum_ok(&b, &h), Ok(true));
    let mut n = b.clone();
    nat::dnat(
        &mut n,
        Family::Ipv4,
        &InetAddr::from_ipv4([172, 16, 0, 5]),
        8080,
        ChecksumMode::Full,
    )
    .unwrap();
    assert_eq!(&n[..44], &hex(V4_SYN_DNAT)[..]);
    assert_eq!(&n[44..], &[0u8; 6]);

    let udp = hex(V6_UDP_REPLY);
    let mut b = udp.clone();
    b[44..46].copy_from_slice(&7u16.to_be_bytes()); // UDP length < 8
    assert_eq!(parse_l3l4(&b, Family::Ipv6), Err(Malformed::BadLength));
    b[44..46].copy_from_slice(&21u16.to_be_bytes()); // beyond the IP payload
    assert_eq!(parse_l3l4(&b, Family::Ipv6), Err(Malformed::BadLength));
    let mut b = udp.clone();
    b[0] = 0x40;
    assert_eq!(parse_l3l4(&b, Family::Ipv6), Err(Malformed::BadVersion));
    // Unsupported protocol for NAT, untouched.
    let icmp = hex(V4_ICMP_UNREACH);
    let mut b = icmp.clone();
    assert_eq!(
        nat::dnat(
            &mut b,
            Family::Ipv4,
            &InetAddr::default(),
            1,
            ChecksumMode::Full
        ),
        Err(Malformed::Unsupported)
    );
    assert_eq!(b, icmp);
}

#[test]
fn ipv4_fragments() {
    let s = InetAddr::from_ipv4([10, 0, 0, 1]);
    let d = InetAddr::from_ipv4([10, 0, 0, 2]);
    let mut pkt = ip_packet(Family::Ipv4, &s, &d, &[], &[], IPPROTO_UDP, &[1, 2, 3]);
    let mut p = Ipv4Packet::new_checked(&mut pkt[..]).unwrap();
    p.set_frag(false, true, 1480);
    p.fill_checksum();
    let h = parse_l3l4(&pkt, Family::Ipv4).unwrap();
    assert_eq!(
        h.fragment,
        Some(Fragment {
            offset: 1480,
            more: true,
            ident: 0x1234
        })
    );
    assert_eq!((h.ports, h.fragoffs()), (None, 1480));
    let mut b = pkt.clone();
    let n = InetAddr::from_ipv4([172, 16, 0, 9]);
    assert_eq!(
        nat::dnat(&mut b, Family::Ipv4, &n, 5, ChecksumMode::Full)
            .unwrap()
            .l4,
        L4Update::Fragment
    );
    let q = Ipv4Packet::new_checked(&b[..]).unwrap();
    assert!(q.verify_checksum());
    assert_eq!(q.dst_addr(), [172, 16, 0, 9]);
    assert_eq!(q.payload(), &[1, 2, 3]);
}

// ---- parse_packet: reading in place, skb length semantics -------------------------------

/// A packet in pieces, as an skb with page fragments: reads copy across the cuts.
struct Chunks(Vec<Vec<u8>>);

impl Chunks {
    /// `bytes` cut at each of `cuts` (sorted, clamped).
    fn new(bytes: &[u8], cuts: &[usize]) -> Chunks {
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        let mut v = Vec::new();
        let mut at = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            v.push(bytes[at..c].to_vec());
            at = c;
        }
        Chunks(v)
    }
}

impl PacketRead for Chunks {
    fn packet_len(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    fn read(&self, off: usize, out: &mut [u8]) -> bool {
        if off
            .checked_add(out.len())
            .filter(|&end| end <= self.packet_len())
            .is_none()
        {
            return false;
        }
        let (mut skip, mut n) = (off, 0);
        for c in &self.0 {
            if skip >= c.len() {
                skip -= c.len();
                continue;
            }
            let take = (c.len() - skip).min(out.len() - n);
            out[n..n + take].copy_from_slice(&c[skip..skip + take]);
            n += take;
            skip = 0;
            if n == out.len() {
                break;
            }
        }
        n == out.len()
    }
}

/// What `parse_packet` must say about a well-formed packet `parse_l3l4` also parses: the
/// same, except the fixed TCP header length (C reads and rewrites 20 bytes).
fn expected_info(bytes: &[u8], fam: Family) -> PacketInfo {
    let mut h = parse_l3l4(bytes, fam).unwrap();
    let mut tcp_flags = 0;
    if h.protocol == IPPROTO_TCP && !h.is_non_first_fragment() {
        h.l4_header_len = 20;
        tcp_flags = bytes[h.l4_off + 13];
    }
    PacketInfo {
        headers: h,
        tcp_flags,
    }
}

/// An IPv4 packet's total length set to 0, as BIG TCP leaves it (header checksum redone).
fn zero_ipv4_total_len(p: &mut [u8]) {
    p[2..4].copy_from_slice(&[0, 0]);
    p[10..12].copy_from_slice(&[0, 0]);
    let c = ref_csum(&p[..usize::from(p[0] & 0xf) * 4]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// An IPv6 BIG TCP packet as `ip6_xmit()` / `ipv6_gro_complete()` build it: payload length
/// 0 and a hop-by-hop header with the jumbo option in front of `l4` (`proto`).
fn ipv6_jumbo(src: &InetAddr, dst: &InetAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0, 0, 0, ipv6::NEXTHDR_HOP, 64];
    v.extend(src.0);
    v.extend(dst.0);
    v.extend([proto, 0, 0xc2, 4]);
    v.extend(((l4.len() + 8) as u32).to_be_bytes());
    v.extend(l4);
    v
}

#[test]
fn big_tcp_ipv4_total_length_zero_parses() {
    let (s, d) = (
        InetAddr::from_ipv4([10, 0, 0, 2]),
        InetAddr::from_ipv4([10, 0, 100, 1]),
    );
    let l4 = L4::Tcp {
        sport: 40000,
        dport: 8080,
        seq: 1,
        flags: 0x10,
        opts: vec![],
        payload: vec![7; 300],
    };
    let mut p = packet(Family::Ipv4, &s, &d, &[], &[], &l4);
    zero_ipv4_total_len(&mut p);
    // The validating parser refuses it (total length below the header length) ...
    assert_eq!(parse_l3l4(&p, Family::Ipv4), Err(Malformed::BadLength));
    // ... the hooks' parser reads it as C does, with the skb's length.
    let info = parse_packet(&p[..], Family::Ipv4).unwrap();
    assert_eq!(info.headers.ports, Some([40000, 8080]));
    assert_eq!(
        (
            info.headers.l4_off,
            info.headers.l4_header_len,
            info.headers.total_len
        ),
        (20, 20, p.len())
    );
    assert_eq!(info.tcp_flags, 0x10);
    // NAT of the head alone (CHECKSUM_PARTIAL, as every GSO packet) rewrites what C does.
    let vip = InetAddr::from_ipv4([10, 0, 1, 11]);
    let mut head = p[..40].to_vec();
    let done = nat::dnat_parsed(&mut head, &info.headers, &vip, 80, ChecksumMode::Partial).unwrap();
    assert_eq!(done, L4Update::PseudoHeader);
    assert_eq!(&head[16..20], &[10, 0, 1, 11]);
    assert_eq!(&head[22..24], &80u16.to_be_bytes());
    assert_eq!(&head[2..4], &[0, 0]);
    assert!(verifies(csum_partial(&head[..20], 0)));
}

#[test]
fn big_tcp_ipv6_jumbo_parses() {
    let (s, d) = (
        InetAddr::from_ipv6([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
        InetAddr::from_ipv6([0xfd; 16]),
    );
    let seg = L4::Tcp {
        sport: 1234,
        dport: 8080,
        seq: 9,
        flags: 0x18,
        opts: vec![1; 12],
        payload: vec![3; 100],
    }
    .bytes(Family::Ipv6, &s, &d);
    let p = ipv6_jumbo(&s, &d, IPPROTO_TCP, &seg);
    let info = parse_packet(&p[..], Family::Ipv6).unwrap();
    assert_eq!(
        (info.headers.protocol, info.headers.l4_off),
        (IPPROTO_TCP, 48)
    );
    assert_eq!(info.headers.ports, Some([1234, 8080]));
    assert_eq!(info.tcp_flags, 0x18);
    assert_eq!(info.headers.total_len, p.len());
    // The walk bounded by the payload length (0) would not find it.
    assert_eq!(parse_l3l4(&p, Family::Ipv6), Err(Malformed::Truncated));
}

#[test]
fn ipv6_long_destination_options_are_walked() {
    let (s, d) = (InetAddr::from_ipv6([1; 16]), InetAddr::from_ipv6([2; 16]));
    let l4 = L4::Udp {
        sport: 5000,
        dport: 8080,
        payload: vec![1, 2, 3],
        nocsum: false,
    };
    // 39 × 8 = 312 bytes of destination options, then 2048 more in a second header.
    let p = packet(
        Family::Ipv6,
        &s,
        &d,
        &[],
        &[Ext::Dest(38), Ext::Hop(255)],
        &l4,
    );
    let info = parse_packet(&p[..], Family::Ipv6).unwrap();
    assert_eq!(
        (info.headers.protocol, info.headers.l4_off),
        (IPPROTO_UDP, 40 + 312 + 2048)
    );
    assert_eq!(info.headers.ports, Some([5000, 8080]));
    for cut in [1usize, 41, 100, 352, 353, 2399, 2400, 2401] {
        assert_eq!(
            parse_packet(&Chunks::new(&p, &[cut]), Family::Ipv6),
            Ok(info)
        );
    }
    // Cut inside the chain: not a packet IPVS can read (C: ipv6_find_hdr() < 0).
    assert_eq!(
        parse_packet(&p[..400], Family::Ipv6),
        Err(Malformed::Truncated)
    );
    // Cut inside the UDP header: the IP layer is there, the ports are not.
    let short = parse_packet(&p[..2404], Family::Ipv6).unwrap();
    assert_eq!(
        (
            short.headers.protocol,
            short.headers.ports,
            short.headers.l4_header_len
        ),
        (IPPROTO_UDP, None, 0)
    );
}

#[test]
fn transport_fields_c_does_not_read_are_not_validated() {
    let (s, d) = (
        InetAddr::from_ipv4([1, 1, 1, 1]),
        InetAddr::from_ipv4([2, 2, 2, 2]),
    );
    // TCP data offset 3 and a UDP length of 3: C schedules and NATs both.
    let mut t = packet(
        Family::Ipv4,
        &s,
        &d,
        &[],
        &[],
        &L4::Tcp {
            sport: 1,
            dport: 2,
            seq: 0,
            flags: 2,
            opts: vec![],
            payload: vec![],
        },
    );
    t[32] = 3 << 4;
    assert!(parse_l3l4(&t, Family::Ipv4).is_err());
    assert_eq!(
        parse_packet(&t[..], Family::Ipv4).unwrap().headers.ports,
        Some([1, 2])
    );
    let mut u = packet(
        Family::Ipv4,
        &s,
        &d,
        &[],
        &[],
        &L4::Udp {
            sport: 3,
            dport: 4,
            payload: vec![],
            nocsum: true,
        },
    );
    u[24..26].copy_from_slice(&3u16.to_be_bytes());
    assert!(parse_l3l4(&u, Family::Ipv4).is_err());
    assert_eq!(
        parse_packet(&u[..], Family::Ipv4).unwrap().headers.ports,
        Some([3, 4])
    );
    // A TCP header cut short: the ports are missing (C drops such a packet in ip_vs_in).
    let cut = parse_packet(&t[..39], Family::Ipv4).unwrap();
    assert_eq!(
        (cut.headers.protocol, cut.headers.ports),
        (IPPROTO_TCP, None)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// On well-formed packets `parse_packet` reads what `parse_l3l4` validates, wherever
    /// the packet is cut into pieces.
    #[test]
    fn parse_packet_agrees_on_valid_packets(sp in spec(), cuts in prop::collection::vec(0usize..400, 0..4)) {
        let p = sp.bytes();
        let want = expected_info(&p, sp.family);
        prop_assert_eq!(parse_packet(&p[..], sp.family), Ok(want));
        prop_assert_eq!(parse_packet(&Chunks::new(&p, &cuts), sp.family), Ok(want));
    }

    /// The ICMP error parser reading in place agrees with the slice parser.
    #[test]
    fn icmp_error_parse_packet_agrees(sp in spec(), cuts in prop::collection::vec(0usize..400, 0..4), keep in 0usize..200) {
        let fam = sp.family;
        let orig = sp.bytes();
        let quote = &orig[..(spec_l4_off(&sp) + 8 + keep).min(orig.len())];
        let (a, b) = (addr(fam, [9; 16]), addr(fam, [8; 16]));
        let pkt = icmp_error(fam, &a, &b, quote);
        let outer = parse_packet(&pkt[..], fam).unwrap().headers;
        let want = IcmpError::parse(&pkt, &parse_l3l4(&pkt, fam).unwrap()).unwrap();
        prop_assert_eq!(IcmpError::parse_packet(&pkt[..], &outer), Ok(want));
        prop_assert_eq!(IcmpError::parse_packet(&Chunks::new(&pkt, &cuts), &outer), Ok(want));
        prop_assert_eq!(want.inner.ports, Some(sp.l4.ports()));
    }

    /// NAT of the fixed headers only (what the hooks make writable) writes the bytes the
    /// whole-packet rewrite writes there, or asks for the whole packet.
    #[test]
    fn nat_of_the_head_matches(sp in spec(), new in any::<[u8; 16]>(), port in any::<u16>(), snat in any::<bool>(), partial in any::<bool>()) {
        let fam = sp.family;
        let new = addr(fam, new);
        let p = sp.bytes();
        let info = parse_packet(&p[..], fam).unwrap();
        let h = info.headers;
        let mode = if partial { ChecksumMode::Partial } else { ChecksumMode::Full };
        let mut whole = p.clone();
        let w = if snat { nat::snat(&mut whole, fam, &new, port, mode) } else { nat::dnat(&mut whole, fam, &new, port, mode) };
        let w = w.unwrap();
        let cut = h.l4_off + h.l4_header_len;
        let mut head = p[..cut].to_vec();
        let r = if snat { nat::snat_parsed(&mut head, &h, &new, port, mode) } else { nat::dnat_parsed(&mut head, &h, &new, port, mode) };
        if w.l4 == L4Update::Recomputed && cut < p.len() {
            prop_assert_eq!(r, Err(Malformed::Incomplete));
            prop_assert_eq!(&head[..], &p[..cut]);
            let mut again = p.clone();
            let r2 = if snat { nat::snat_parsed(&mut again, &h, &new, port, mode) } else { nat::dnat_parsed(&mut again, &h, &new, port, mode) };
            prop_assert_eq!(r2, Ok(L4Update::Recomputed));
            prop_assert_eq!(again, whole);
        } else {
            let r = r.unwrap();
            prop_assert_eq!(r, w.l4);
            prop_assert_eq!(&head[..], &whole[..cut]);
        }
    }

    /// Arbitrary bytes, cut anywhere: the in-place parsers never panic, and what they
    /// report lies inside the packet.
    #[test]
    fn parse_packet_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600), cuts in prop::collection::vec(0usize..600, 0..4), v6 in any::<bool>()) {
        let mut bytes = bytes;
        if let Some(b) = bytes.first_mut() {
            // Mostly the right version, so parsing goes deep.
            *b = (*b & 0x0f) | if v6 { 0x60 } else { 0x40 };
        }
        let fam = if v6 { Family::Ipv6 } else { Family::Ipv4 };
        let ch = Chunks::new(&bytes, &cuts);
        let r = parse_packet(&bytes[..], fam);
        prop_assert_eq!(r, parse_packet(&ch, fam));
        if let Ok(info) = r {
            let h = info.headers;
            prop_assert_eq!(h.total_len, bytes.len());
            if h.ports.is_some() {
                prop_assert!(h.l4_off + h.l4_header_len <= bytes.len());
            }
            let e = IcmpError::parse_packet(&bytes[..], &h);
            prop_assert_eq!(e, IcmpError::parse_packet(&ch, &h));
            if let Ok(e) = e {
                if e.inner.ports.is_some() {
                    prop_assert!(e.inner.l4_off + 4 <= bytes.len());
                }
            }
            for mode in [ChecksumMode::Full, ChecksumMode::Partial] {
                let mut b = bytes.clone();
                if nat::dnat_parsed(&mut b, &h, &InetAddr::default(), 1, mode).is_err() {
                    prop_assert_eq!(&b, &bytes);
                }
            }
        }
    }
}
