//! Packet views, header parsing, NAT rewriting and checksum arithmetic for the data path.
//!
//! C sources (Linux 6.12): `include/net/ip_vs.h` (`struct ip_vs_iphdr`,
//! `ip_vs_fill_iph_skb_off()`), `net/ipv6/exthdrs_core.c` (`ipv6_find_hdr()`),
//! `net/netfilter/ipvs/ip_vs_core.c` (`ip_vs_out_icmp*()`, `ip_vs_nat_icmp*()`),
//! `net/netfilter/ipvs/ip_vs_proto_{tcp,udp}.c` (`*_snat_handler()`, `*_dnat_handler()`),
//! `net/netfilter/ipvs/ip_vs_xmit.c` (`ip_vs_nat_xmit*()`), `include/net/checksum.h`,
//! `include/net/ip6_checksum.h`.
//!
//! Layers, bottom up:
//! - [`checksum`]: the Internet checksum (RFC 1071), pseudo-headers, incremental updates
//!   (RFC 1624) and the UDP zero-checksum rule.
//! - [`sctp`]: SCTP's CRC32c (RFC 3309), and the port / CRC half of C's SCTP NAT
//!   handlers.
//! - [`ipv4`], [`ipv6`], [`tcp`], [`udp`], [`sctp`], [`icmp`]: typed views in the smoltcp
//!   style. A `Packet<T: AsRef<[u8]>>` wraps a buffer; `new_checked()` validates lengths once; no
//!   accessor panics or reads out of bounds, checked or not (out-of-range reads yield zero,
//!   out-of-range writes do nothing). `Repr` types hold parsed meaning and `emit()` it.
//! - [`packet::parse_packet`]: what the hooks use. C's reading of a packet
//!   (`ip_vs_fill_iph_skb()` plus the protocol handlers' `skb_header_pointer()`), over any
//!   [`PacketRead`] (an skb in the kernel, read in place without pulling): bounded by the
//!   packet's length, never by the IP length fields (BIG TCP sets them to 0), validating
//!   only what C reads. [`IcmpError::parse_packet`] the same for ICMP errors.
//! - [`parse_l3l4`] (this file): the validating parser of a contiguous buffer: what
//!   `ip_vs_fill_iph_skb()` plus the protocol handlers' port fetch learn from a packet, as
//!   one validated [`Headers`], with the IP header's lengths, the TCP data offset and the
//!   UDP length checked; [`IcmpError::parse`] the same for the packet embedded in an ICMP
//!   error. Used on whole buffers (the ICMP rewrite) and by the tests as the reference.
//! - [`nat`]: DNAT / SNAT of TCP, UDP and SCTP, and the ICMP error rewrite, in place, validating
//!   everything before writing anything; [`nat::dnat_parsed`] / [`nat::snat_parsed`] take
//!   the headers [`parse_packet`] read and need only the bytes they rewrite.
//!
//! # Buffers: whole packet or linear head
//!
//! Every buffer starts at the network header. [`parse_l3l4`] and the [`nat`] functions
//! accept either the whole packet or only its *head*: a prefix that holds all the headers
//! they read and write, as `skb_ensure_writable(skb, l4_off + header)` leaves the linear
//! part of an skb whose payload sits in page fragments. Lengths that enter checksums
//! (pseudo-header lengths) come from the IP header, never from the buffer, so a head gives
//! the same result as the whole packet. What really needs every payload byte (verifying a
//! checksum, computing one from scratch) needs the whole packet and reports
//! [`Malformed::Incomplete`] on a head. Bytes after the end the IP header declares (link
//! padding) are ignored, as after `pskb_trim_rcsum()`.
//!
//! The views' `new_checked()` wants the whole packet (datagram, segment, message);
//! `Ipv4Packet` / `Ipv6Packet` / `UdpPacket` also have `new_checked_head()` for a head.

pub mod checksum;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod nat;
pub mod packet;
pub mod sctp;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod sctp_tests;
#[cfg(test)]
mod tests;

use core::ops::Range;

pub use crate::sched::{Family, InetAddr};
pub use icmp::{IcmpError, IcmpTriage};
pub use packet::{parse_packet, PacketInfo, PacketRead};

/// `IPPROTO_ICMP`.
pub const IPPROTO_ICMP: u8 = 1;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u8 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u8 = 17;
/// `IPPROTO_ICMPV6`.
pub const IPPROTO_ICMPV6: u8 = 58;
/// `IPPROTO_SCTP`.
pub const IPPROTO_SCTP: u8 = 132;

/// Why a buffer is not a packet the operation can work on. Nothing was written when an
/// operation returns one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The buffer ends before a header that is needed does (or, for whole-packet checks,
    /// before the packet does).
    Truncated,
    /// The IP version field is not the family's (4 or 6).
    BadVersion,
    /// A length field contradicts another or the structure: IPv4 IHL < 5, total length
    /// below the header length, TCP data offset < 5, a TCP header that does not fit in the
    /// IP payload, UDP length < 8 or beyond the IP payload, an extension header running
    /// past the end of the packet.
    BadLength,
    /// An IPv6 extension-header chain `ipv6_find_hdr()` rejects: a non-first fragment whose
    /// fragment header is followed by another extension header.
    BadExtHeader,
    /// The operation needs a transport header this fragment does not carry (IPv4 or IPv6
    /// non-first fragment, an ICMP error carried in fragments, an ICMP error about a
    /// non-first fragment).
    Fragment,
    /// The protocol is not one the operation handles (NAT: TCP, UDP; SCTP NAT: SCTP; ICMP
    /// NAT: ICMP or ICMPv6 carrying an error).
    Unsupported,
    /// An ICMP message that is not an error IPVS relates to a connection (ICMPv4 other than
    /// destination unreachable, source quench, time exceeded; ICMPv6 informational).
    NotIcmpError,
    /// The operation needs the whole packet and the buffer holds only its head.
    Incomplete,
    /// A checksum does not verify (`Repr::parse` of a view that carries one).
    BadChecksum,
}

/// Fragment information, from the IPv4 header or the IPv6 fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of this fragment's data in the original payload, in bytes (a multiple of 8).
    /// 0 for the first fragment.
    pub offset: u16,
    /// More fragments follow (MF).
    pub more: bool,
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub ident: u32,
}

impl Fragment {
    /// A fragment other than the first: it carries no transport header.
    #[inline]
    pub const fn is_non_first(&self) -> bool {
        self.offset != 0
    }
}

/// What the data path learns from a packet's headers: `struct ip_vs_iphdr` plus the ports
/// the protocol handlers read (`tcp_conn_schedule()` …), validated once.
///
/// # Invariants
///
/// Returned by [`parse_l3l4`] or inside an [`IcmpError`]: the IP header at `l3_off`, the
/// extension headers and (when `ports` / `l4_header_len` say so) the transport header at
/// `l4_off` lie within the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers {
    /// Address family.
    pub family: Family,
    /// Where the IP header starts (C's `iph->off`): 0 for [`parse_l3l4`], the embedded
    /// header's offset for the inner packet of an ICMP error.
    pub l3_off: usize,
    /// Where the transport header starts (C's `iph->len`): after the IPv4 options or the
    /// IPv6 extension headers. For a non-first fragment, where the fragment's data starts
    /// (C leaves `iph->len` at the IPv6 header there; no C caller uses it in that case).
    pub l4_off: usize,
    /// Transport protocol (the last `nexthdr` for IPv6; 59, `NEXTHDR_NONE`, if the chain
    /// ends there).
    pub protocol: u8,
    /// Source address (IPv4 in the first four bytes).
    pub saddr: InetAddr,
    /// Destination address.
    pub daddr: InetAddr,
    /// Fragment information if the packet is a fragment (IPv4 MF or offset set; IPv6 with a
    /// fragment header, C's `IP6_FH_F_FRAG`, even an atomic one).
    pub fragment: Option<Fragment>,
    /// `[source, destination]` ports, host order, for TCP, UDP and SCTP when the transport
    /// header is present (not a non-first fragment).
    pub ports: Option<[u16; 2]>,
    /// Length of the transport header validated at `l4_off`: TCP data offset × 4, 8 for UDP,
    /// ICMP and ICMPv6, 12 for SCTP; the port bytes only (4) for the inner packet of an ICMP
    /// error; 0 if none was validated.
    pub l4_header_len: usize,
    /// The packet's length from `l3_off` as its IP header declares it (IPv4 total length,
    /// IPv6 40 + payload length). For the truncated packet inside an ICMP error this may
    /// exceed what is there.
    pub total_len: usize,
}

impl Headers {
    /// C's `iph->fragoffs`: the fragment offset of a non-first fragment, else 0. (C sets it
    /// for IPv6 only, IPv4 fragments being reassembled before IPVS sees them; here IPv4
    /// fragments report it too.)
    #[inline]
    pub fn fragoffs(&self) -> u16 {
        self.fragment.map_or(0, |f| f.offset)
    }

    /// The transport header is absent: a non-first fragment.
    #[inline]
    pub fn is_non_first_fragment(&self) -> bool {
        self.fragment.is_some_and(|f| f.is_non_first())
    }

    /// The packet's end, as an offset in the buffer (`l3_off + total_len`).
    #[inline]
    pub fn end(&self) -> usize {
        self.l3_off.saturating_add(self.total_len)
    }

    /// Whether `buffer` holds the whole packet, not only its head.
    #[inline]
    pub fn is_complete(&self, buffer: &[u8]) -> bool {
        buffer.len() >= self.end()
    }

    /// The transport payload from the transport header on (`l4_off .. end`), clamped to
    /// the buffer: the whole segment / datagram / message when the buffer is complete.
    #[inline]
    pub fn l4_slice<'a>(&self, buffer: &'a [u8]) -> &'a [u8] {
        let end = self.end().min(buffer.len());
        buffer.get(self.l4_off..end).unwrap_or(&[])
    }
}

/// Parses the headers of a packet starting at its network header: `ip_vs_fill_iph_skb()`
/// (addresses, protocol, transport offset past IPv6 extension headers, fragment info) and
/// the transport header the protocol handlers then read.
///
/// `bytes` may be the whole packet or its linear head (see the module doc). Checks:
/// the IP header (version, IHL, lengths), for IPv6 the extension-header chain as
/// `ipv6_find_hdr()` walks it, and unless the packet is a non-first fragment: a TCP header
/// (data offset ≥ 5, all of it present and inside the IP payload), a UDP header (length
/// field between 8 and the IP payload), an ICMP / ICMPv6 header (8 bytes) or an SCTP common
/// header (12 bytes). Other protocols are accepted without a transport check.
#[inline]
pub fn parse_l3l4(bytes: &[u8], family: Family) -> Result<Headers, Malformed> {
    let ip = parse_ip(bytes, 0, family, bytes.len(), false)?;
    finish_l4(bytes, ip)
}

/// The IP layer of [`parse_l3l4`] / [`IcmpError::parse`], at `off`. IPv6 extension headers
/// must end before `limit` and, unless `quoted` (the truncated packet inside an ICMP
/// error, whose walk C bounds by the outer packet only), before the packet's own end.
fn parse_ip(
    bytes: &[u8],
    off: usize,
    family: Family,
    limit: usize,
    quoted: bool,
) -> Result<Headers, Malformed> {
    let at = bytes.get(off..).ok_or(Malformed::Truncated)?;
    match family {
        Family::Ipv4 => {
            let ip = ipv4::Ipv4Packet::new_checked_head(at)?;
            if ip.version() != 4 {
                return Err(Malformed::BadVersion);
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
            let ip = ipv6::Ipv6Packet::new_checked_head(at)?;
            if ip.version() != 6 {
                return Err(Malformed::BadVersion);
            }
            let total_len = ip.total_len();
            let own_end = if quoted {
                usize::MAX
            } else {
                off.saturating_add(total_len)
            };
            let end = limit.min(own_end).min(bytes.len());
            let upper = ipv6::find_upper_layer(bytes, off, end)?;
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
                total_len,
            })
        }
    }
}

/// Validates the transport header of an outer packet and fills in the ports.
fn finish_l4(bytes: &[u8], mut h: Headers) -> Result<Headers, Malformed> {
    if h.is_non_first_fragment() {
        return Ok(h);
    }
    // The transport header must lie inside both the buffer and the IP payload.
    let l4 = h.l4_slice(bytes);
    let claimed = h.end().saturating_sub(h.l4_off);
    let short = |need: usize| {
        if claimed < need {
            Malformed::BadLength
        } else {
            Malformed::Truncated
        }
    };
    match h.protocol {
        IPPROTO_TCP => {
            if l4.len() < tcp::HEADER_LEN {
                return Err(short(tcp::HEADER_LEN));
            }
            let tcp = tcp::TcpPacket::new_unchecked(l4);
            if tcp.header_len() < tcp::HEADER_LEN {
                return Err(Malformed::BadLength);
            }
            if l4.len() < tcp.header_len() {
                return Err(short(tcp.header_len()));
            }
            h.ports = Some([tcp.src_port(), tcp.dst_port()]);
            h.l4_header_len = tcp.header_len();
        }
        IPPROTO_UDP => {
            let udp = udp::UdpPacket::new_checked_head(l4).map_err(|e| match e {
                Malformed::Truncated => short(udp::HEADER_LEN),
                other => other,
            })?;
            let len = usize::from(udp.len());
            if len < udp::HEADER_LEN || len > claimed {
                return Err(Malformed::BadLength);
            }
            h.ports = Some([udp.src_port(), udp.dst_port()]);
            h.l4_header_len = udp::HEADER_LEN;
        }
        IPPROTO_SCTP => {
            if l4.len() < sctp::HEADER_LEN {
                return Err(short(sctp::HEADER_LEN));
            }
            let s = sctp::SctpPacket::new_unchecked(l4);
            h.ports = Some([s.src_port(), s.dst_port()]);
            h.l4_header_len = sctp::HEADER_LEN;
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 if is_icmp_of(h.family, h.protocol) => {
            if l4.len() < icmp::HEADER_LEN {
                return Err(short(icmp::HEADER_LEN));
            }
            h.l4_header_len = icmp::HEADER_LEN;
        }
        _ => {}
    }
    Ok(h)
}

/// Whether `protocol` is the ICMP of `family`.
#[inline]
const fn is_icmp_of(family: Family, protocol: u8) -> bool {
    matches!(
        (family, protocol),
        (Family::Ipv4, IPPROTO_ICMP) | (Family::Ipv6, IPPROTO_ICMPV6)
    )
}

/// Whether a protocol's first four transport bytes are `[source port, destination port]`
/// (C's `has_ports` in `handle_response_icmp()`).
#[inline]
pub const fn has_ports(protocol: u8) -> bool {
    matches!(protocol, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)
}

/// Verifies the transport checksum of a whole packet parsed by [`parse_l3l4`]: what
/// `ip_vs_checksum_common_check()` → `nf_checksum()` decides for TCP, UDP, ICMP and ICMPv6
/// when the skb is not already `CHECKSUM_UNNECESSARY` (see [`nat`] for when C skips this).
///
/// UDP with checksum 0 verifies over IPv4 (no checksum; `udp_csum_check()` accepts it) and
/// fails over IPv6. Other protocols and non-first fragments yield `Ok(true)`: there is
/// nothing C could check. `Err(Incomplete)` if `bytes` is only the head.
pub fn l4_checksum_ok(bytes: &[u8], h: &Headers) -> Result<bool, Malformed> {
    if h.is_non_first_fragment() {
        return Ok(true);
    }
    if !h.is_complete(bytes) {
        return Err(Malformed::Incomplete);
    }
    let l4 = h.l4_slice(bytes);
    let (src, dst) = (&h.saddr, &h.daddr);
    Ok(match h.protocol {
        IPPROTO_TCP => tcp::TcpPacket::new_checked(l4)?.verify_checksum(h.family, src, dst),
        IPPROTO_UDP => {
            let udp = udp::UdpPacket::new_checked(l4)?;
            udp.verify_checksum(h.family, src, dst)
        }
        IPPROTO_ICMP if h.family == Family::Ipv4 => {
            icmp::IcmpPacket::new_checked(l4)?.verify_checksum()
        }
        IPPROTO_ICMPV6 if h.family == Family::Ipv6 => {
            icmp::Icmpv6Packet::new_checked(l4)?.verify_checksum(src, dst)
        }
        _ => true,
    })
}

// ---- byte access that cannot panic ------------------------------------------------------

/// `at .. at + n` without overflow.
#[inline]
fn span(at: usize, n: usize) -> Range<usize> {
    at..at.saturating_add(n)
}

/// The byte at `at`, or 0 past the end.
#[inline]
fn get_u8(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// A big-endian `u16` at `r` (two bytes), or 0 if out of range.
#[inline]
fn get_be16(b: &[u8], r: Range<usize>) -> u16 {
    match b.get(r) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

/// A big-endian `u32` at `r` (four bytes), or 0 if out of range.
#[inline]
fn get_be32(b: &[u8], r: Range<usize>) -> u32 {
    u32::from_be_bytes(get_array(b, r))
}

/// `N` bytes at `r` (of length `N`), or zeros if out of range.
#[inline]
fn get_array<const N: usize>(b: &[u8], r: Range<usize>) -> [u8; N] {
    b.get(r)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

/// Writes `v` at `at`; nothing if out of range.
#[inline]
fn set_u8(b: &mut [u8], at: usize, v: u8) {
    if let Some(x) = b.get_mut(at) {
        *x = v;
    }
}

/// Writes `v` big-endian at `r` (two bytes); nothing if out of range.
#[inline]
fn set_be16(b: &mut [u8], r: Range<usize>, v: u16) {
    set_array(b, r, v.to_be_bytes());
}

/// Writes `v` big-endian at `r` (four bytes); nothing if out of range.
#[inline]
fn set_be32(b: &mut [u8], r: Range<usize>, v: u32) {
    set_array(b, r, v.to_be_bytes());
}

/// Writes `N` bytes at `r` (of length `N`); nothing if out of range.
#[inline]
fn set_array<const N: usize>(b: &mut [u8], r: Range<usize>, v: [u8; N]) {
    if let Some(dst) = b.get_mut(r).and_then(|s| <&mut [u8; N]>::try_from(s).ok()) {
        *dst = v;
    }
}

/// The IPv4 address of an [`InetAddr`] (its first four bytes).
#[inline]
fn v4(a: &InetAddr) -> [u8; 4] {
    let [a0, a1, a2, a3, ..] = a.0;
    [a0, a1, a2, a3]
}
