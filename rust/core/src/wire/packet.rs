//! Reading a packet's headers where they lie, as the kernel's hooks must: the data-path
//! parser [`parse_packet`] over any [`PacketRead`] (a byte slice on the host, an skb in the
//! kernel).
//!
//! C: `include/linux/skbuff.h` (`skb_header_pointer()`), `include/net/ip_vs.h`
//! (`ip_vs_fill_iph_skb_off()`), `net/ipv6/exthdrs_core.c` (`ipv6_find_hdr()`),
//! `net/netfilter/ipvs/ip_vs_proto_{tcp,udp,sctp}.c` (`*_conn_schedule()`).
//!
//! # What "the packet" is
//!
//! C IPVS bounds every read by `skb->len`, never by the IP header's length fields: by the time
//! a netfilter hook runs, `ip_rcv()` / `ipv6_rcv()` (or `__ip_local_out()`) made them agree,
//! except where the kernel itself writes 0 there: a BIG TCP GSO packet has IPv4 total length
//! 0 (`iph_set_totlen()`, read back with `skb_ip_totlen()`), an IPv6 one payload length 0
//! and a hop-by-hop jumbo option (`ipv6_set_payload_len()`, `ip6_xmit()`,
//! `ipv6_gro_complete()`). So [`parse_packet`] takes the packet's length from the reader
//! (`skb->len` from the network header) and never looks at those fields: the length-0 forms
//! parse as any other packet, and an IPv6 extension-header chain is walked as far as the
//! packet goes, with no fixed window.
//!
//! Nothing is pulled or linearised to look: each header is copied into a small stack buffer
//! (`skb_header_pointer()`), so reading costs the same whether the headers are in the linear
//! area or in page fragments.

use super::{icmp, sctp, tcp, udp, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use super::{ipv4, ipv6, Family, Fragment, Headers, InetAddr, Malformed};

/// Read access to a packet that may not be contiguous (`skb_header_pointer()`).
///
/// Offsets count from the network header.
pub trait PacketRead {
    /// The packet's length from the network header (`skb->len - skb_network_offset()`).
    fn packet_len(&self) -> usize;

    /// Copies `out.len()` bytes at `off` into `out`. `false` (and `out` unspecified) if
    /// they are not all in the packet.
    fn read(&self, off: usize, out: &mut [u8]) -> bool;

    /// The packet's first bytes where they can be read in place (an skb's linear area from
    /// the network header; all of a byte slice), or an empty slice. [`parse_packet`] reads
    /// the usual packet's headers there without copying them.
    #[inline]
    fn in_place(&self) -> &[u8] {
        &[]
    }
}

impl PacketRead for [u8] {
    #[inline]
    fn packet_len(&self) -> usize {
        self.len()
    }

    #[inline]
    fn read(&self, off: usize, out: &mut [u8]) -> bool {
        match self.get(off..).and_then(|s| s.get(..out.len())) {
            Some(src) => {
                out.copy_from_slice(src);
                true
            }
            None => false,
        }
    }

    #[inline]
    fn in_place(&self) -> &[u8] {
        self
    }
}

/// `N` bytes at `off`, or `None` if the packet ends before.
#[inline]
pub(crate) fn read_array<P: PacketRead + ?Sized, const N: usize>(
    pkt: &P,
    off: usize,
) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    pkt.read(off, &mut out).then_some(out)
}

/// What the hooks learn from a packet: its [`Headers`] and, for TCP, the flags byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// The headers. `total_len` is the packet's length (the reader's), whatever the IP
    /// header says. `ports` is `None` and `l4_header_len` 0 when the transport header is
    /// not all in the packet (C: `skb_header_pointer()` returns `NULL`); `l4_header_len` is
    /// the fixed header C reads and rewrites: 20 for TCP (options are not looked at), 8 for
    /// UDP, ICMP and ICMPv6, 12 for SCTP.
    pub headers: Headers,
    /// TCP header byte 13 (the flags); 0 for other protocols.
    pub tcp_flags: u8,
}

/// The IP layer of a packet at `off` of `pkt`, C's `ip_vs_fill_iph_skb_off()`: addresses,
/// protocol, transport offset and fragment information. IPv4 options are skipped by the
/// IHL; the IPv6 extension-header chain is walked to the end of the packet
/// ([`ipv6::find_upper_layer`]). `total_len` is what the IP header declares (IPv4 total
/// length, IPv6 40 + payload length); callers that mean the packet replace it.
///
/// Errors: the header (options included) is not all there ([`Malformed::Truncated`]), the version is
/// not the family's ([`Malformed::BadVersion`]), an IPv4 IHL below 5
/// ([`Malformed::BadLength`]), and the chain errors of [`ipv6::find_upper_layer`] (C's
/// negative `ipv6_find_hdr()`). C checks none of the first three at the outer header
/// (`ip_rcv()` did) and the version of a quoted one.
pub(super) fn read_ip<P: PacketRead + ?Sized>(
    pkt: &P,
    off: usize,
    family: Family,
) -> Result<Headers, Malformed> {
    match family {
        Family::Ipv4 => {
            let raw: [u8; ipv4::HEADER_LEN] = read_array(pkt, off).ok_or(Malformed::Truncated)?;
            let ip = ipv4::Ipv4Packet::new_unchecked(&raw[..]);
            if ip.version() != 4 {
                return Err(Malformed::BadVersion);
            }
            if ip.header_len() < ipv4::HEADER_LEN {
                return Err(Malformed::BadLength);
            }
            // The options must be in the packet too (C does not ask, but then finds no
            // transport header after them: the same outcome).
            if pkt.packet_len().saturating_sub(off) < ip.header_len() {
                return Err(Malformed::Truncated);
            }
            let fragment = ip.is_fragment().then(|| Fragment {
                offset: ip.frag_offset(),
                more: ip.more_frags(),
                ident: u32::from(ip.ident()),
            });
            Ok(Headers {
                family,
                l3_off: off,
                l4_off: off.saturating_add(ip.header_len()),
                protocol: ip.protocol(),
                saddr: InetAddr::from_ipv4(ip.src_addr()),
                daddr: InetAddr::from_ipv4(ip.dst_addr()),
                fragment,
                ports: None,
                l4_header_len: 0,
                total_len: usize::from(ip.total_len()),
            })
        }
        Family::Ipv6 => {
            let raw: [u8; ipv6::HEADER_LEN] = read_array(pkt, off).ok_or(Malformed::Truncated)?;
            let ip = ipv6::Ipv6Packet::new_unchecked(&raw[..]);
            if ip.version() != 6 {
                return Err(Malformed::BadVersion);
            }
            // ipv6_find_hdr(): bounded by skb->len only.
            let upper = ipv6::find_upper_layer(pkt, off, pkt.packet_len())?;
            Ok(Headers {
                family,
                l3_off: off,
                l4_off: upper.offset,
                protocol: upper.protocol,
                saddr: InetAddr::from_ipv6(ip.src_addr()),
                daddr: InetAddr::from_ipv6(ip.dst_addr()),
                fragment: upper.fragment,
                ports: None,
                l4_header_len: 0,
                total_len: ip.total_len(),
            })
        }
    }
}

/// Parses the headers of a packet the way C IPVS's hooks read them:
/// `ip_vs_fill_iph_skb()`, then the fixed transport header the protocol handlers fetch with
/// `skb_header_pointer()` (`tcp_conn_schedule()`, `udp_conn_schedule()`, the ICMP handlers).
///
/// The packet is what `pkt` holds (see the module doc): IPv4 total length and IPv6 payload
/// length are not used, so BIG TCP's 0 forms are ordinary packets. Nothing beyond what C
/// reads is validated: no TCP data offset, no UDP length field.
///
/// `Err` means the IP layer itself could not be read (C: the packet is not one IPVS can
/// relate to anything and goes on); a missing transport header is not an error here but
/// `ports: None` (see [`PacketInfo`]), for the caller to decide as C does.
#[inline(always)]
pub fn parse_packet<P: PacketRead + ?Sized>(
    pkt: &P,
    family: Family,
) -> Result<PacketInfo, Malformed> {
    if family == Family::Ipv4 {
        if let Some(info) = parse_ipv4_in_place(pkt.in_place(), pkt.packet_len()) {
            return Ok(info);
        }
    }
    parse_packet_general(pkt, family)
}

/// [`parse_packet`]'s fast path, for the packets a load balancer sees most: IPv4, not a
/// fragment, TCP or UDP, the IP header (options included) and the fixed transport header
/// in `lin`, the bytes at the start of the packet that can be read in place
/// ([`PacketRead::in_place`]); `packet_len` is the packet's length. The fields are read at
/// their offsets, with no copy and no intermediate [`Headers`]. `None`: any other packet,
/// for the general path. Where it answers, it answers as the general path does
/// (`fast_parse_matches_general`, a property test over arbitrary bytes).
#[inline(always)]
fn parse_ipv4_in_place(lin: &[u8], packet_len: usize) -> Option<PacketInfo> {
    let ip: &[u8; ipv4::HEADER_LEN] = lin.get(..ipv4::HEADER_LEN)?.try_into().ok()?;
    // Version 4, and no fragment (MF or an offset: the general path keeps their details).
    if ip[0] >> 4 != 4 || u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let protocol = ip[9];
    let l4_header_len = match protocol {
        IPPROTO_TCP => tcp::HEADER_LEN,
        IPPROTO_UDP => udp::HEADER_LEN,
        _ => return None,
    };
    if ihl < ipv4::HEADER_LEN || ihl + l4_header_len > packet_len {
        return None;
    }
    let l4 = lin.get(ihl..ihl + l4_header_len)?;
    let (&[s0, s1, d0, d1], rest) = l4.split_first_chunk::<4>()?;
    let tcp_flags = if protocol == IPPROTO_TCP {
        *rest.get(13 - 4)?
    } else {
        0
    };
    // (Element by element: `copy_from_slice` is a call into the kernel's `core` there.)
    let saddr = InetAddr::from_ipv4([ip[12], ip[13], ip[14], ip[15]]);
    let daddr = InetAddr::from_ipv4([ip[16], ip[17], ip[18], ip[19]]);
    Some(PacketInfo {
        headers: Headers {
            family: Family::Ipv4,
            l3_off: 0,
            l4_off: ihl,
            protocol,
            saddr,
            daddr,
            fragment: None,
            ports: Some([u16::from_be_bytes([s0, s1]), u16::from_be_bytes([d0, d1])]),
            l4_header_len,
            total_len: packet_len,
        },
        tcp_flags,
    })
}

/// [`parse_packet`] for any packet: the IP layer through [`read_ip`], then the fixed
/// transport header, each copied out of the packet (`skb_header_pointer()`).
#[inline(never)]
fn parse_packet_general<P: PacketRead + ?Sized>(
    pkt: &P,
    family: Family,
) -> Result<PacketInfo, Malformed> {
    let mut h = read_ip(pkt, 0, family)?;
    h.total_len = pkt.packet_len();
    let mut tcp_flags = 0;
    if h.is_non_first_fragment() {
        return Ok(PacketInfo {
            headers: h,
            tcp_flags,
        });
    }
    match h.protocol {
        IPPROTO_TCP => {
            if let Some(t) = read_array::<P, { tcp::HEADER_LEN }>(pkt, h.l4_off) {
                let t = tcp::TcpPacket::new_unchecked(&t[..]);
                h.ports = Some([t.src_port(), t.dst_port()]);
                h.l4_header_len = tcp::HEADER_LEN;
                tcp_flags = t.flags();
            }
        }
        IPPROTO_UDP => {
            if let Some(u) = read_array::<P, { udp::HEADER_LEN }>(pkt, h.l4_off) {
                let u = udp::UdpPacket::new_unchecked(&u[..]);
                h.ports = Some([u.src_port(), u.dst_port()]);
                h.l4_header_len = udp::HEADER_LEN;
            }
        }
        IPPROTO_SCTP => {
            if let Some(s) = read_array::<P, { sctp::HEADER_LEN }>(pkt, h.l4_off) {
                let s = sctp::SctpPacket::new_unchecked(&s[..]);
                h.ports = Some([s.src_port(), s.dst_port()]);
                h.l4_header_len = sctp::HEADER_LEN;
            }
        }
        p if super::is_icmp_of(family, p)
            && read_array::<P, { icmp::HEADER_LEN }>(pkt, h.l4_off).is_some() =>
        {
            h.l4_header_len = icmp::HEADER_LEN;
        }
        _ => {}
    }
    Ok(PacketInfo {
        headers: h,
        tcp_flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A packet of which only the first `lin` bytes can be read in place (an skb whose
    /// headers reach into its page fragments).
    struct Split<'a> {
        bytes: &'a [u8],
        lin: usize,
    }

    impl PacketRead for Split<'_> {
        fn packet_len(&self) -> usize {
            self.bytes.len()
        }

        fn read(&self, off: usize, out: &mut [u8]) -> bool {
            self.bytes.read(off, out)
        }

        fn in_place(&self) -> &[u8] {
            &self.bytes[..self.lin.min(self.bytes.len())]
        }
    }

    /// A plain TCP segment and a UDP datagram, with and without IP options, take the fast
    /// path; a fragment, ICMP, IPv6 and headers beyond the in-place bytes do not.
    #[test]
    fn usual_packets_take_the_fast_path() {
        for (proto, ihl) in [(IPPROTO_TCP, 5), (IPPROTO_UDP, 5), (IPPROTO_TCP, 8)] {
            let mut p = [0u8; 80];
            p[0] = 0x40 | ihl;
            p[9] = proto;
            p[12..16].copy_from_slice(&[10, 0, 0, 1]);
            p[16..20].copy_from_slice(&[10, 0, 100, 1]);
            let l4 = usize::from(ihl) * 4;
            p[l4..l4 + 4].copy_from_slice(&[0x30, 0x39, 0x1f, 0x90]);
            p[l4 + 13] = 0x12;
            let fast = parse_ipv4_in_place(&p, p.len()).expect("fast path");
            assert_eq!(Ok(fast), parse_packet_general(&p[..], Family::Ipv4));
            assert_eq!(fast.headers.ports, Some([12345, 8080]));
            assert_eq!(fast.tcp_flags, if proto == IPPROTO_TCP { 0x12 } else { 0 });
            let mut frag = p;
            frag[6] = 0x20; // MF
            assert_eq!(parse_ipv4_in_place(&frag, frag.len()), None);
            let mut icmp = p;
            icmp[9] = 1;
            assert_eq!(parse_ipv4_in_place(&icmp, icmp.len()), None);
            let mut v6 = p;
            v6[0] = 0x60;
            assert_eq!(parse_ipv4_in_place(&v6, v6.len()), None);
            assert_eq!(parse_ipv4_in_place(&p[..l4 + 4], p.len()), None);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        /// Where the fast path answers, the general path gives the same, for any bytes
        /// (any version, header length, protocol, fragment bits, truncation) and any split
        /// between in-place and copied bytes; and it answers for every usual packet.
        #[test]
        fn fast_parse_matches_general(
            mut pkt in prop::collection::vec(any::<u8>(), 0..100),
            v4: bool,
            ihl in 0u8..=15,
            proto in prop::sample::select(&[IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, 1, 58, 0][..]),
            no_frag: bool,
            lin in 0usize..110,
        ) {
            if pkt.len() > 9 {
                if v4 {
                    pkt[0] = 0x40 | ihl;
                }
                pkt[9] = proto;
                if no_frag {
                    pkt[6] &= 0x80;
                    pkt[7] = 0;
                }
            }
            let split = Split { bytes: &pkt, lin };
            let general = parse_packet_general(&split, Family::Ipv4);
            prop_assert_eq!(parse_packet(&split, Family::Ipv4), general);
            prop_assert_eq!(parse_packet(&pkt[..], Family::Ipv4), parse_packet_general(&pkt[..], Family::Ipv4));
            let fast = parse_ipv4_in_place(split.in_place(), pkt.len());
            if let Some(f) = fast {
                prop_assert_eq!(Ok(f), general);
            } else if let Ok(g) = general {
                let h = g.headers;
                let fixed = match h.protocol {
                    IPPROTO_TCP => tcp::HEADER_LEN,
                    IPPROTO_UDP => udp::HEADER_LEN,
                    _ => usize::MAX / 2,
                };
                prop_assert!(
                    h.fragment.is_some() || h.ports.is_none() || h.l4_off + fixed > split.in_place().len(),
                    "a usual packet missed the fast path: {:?}", h
                );
            }
        }
    }
}
