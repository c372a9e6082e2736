//! NAT rewriting in place: DNAT of requests, SNAT of replies, and the ICMP error rewrite.
//!
//! C sources (Linux 6.12): `net/netfilter/ipvs/ip_vs_proto_tcp.c` (`tcp_dnat_handler()`,
//! `tcp_snat_handler()`, `tcp_fast_csum_update()`, `tcp_partial_csum_update()`),
//! `ip_vs_proto_udp.c` (the UDP twins), `ip_vs_xmit.c` (`ip_vs_nat_xmit*()`: the address
//! and `ip_send_check()`), `ip_vs_core.c` (`handle_response()`, `ip_vs_nat_icmp*()`).
//!
//! Every function here parses and validates first and writes only once nothing can fail:
//! an `Err` leaves the buffer untouched.
//!
//! # Checksums, and what the caller must do with the skb
//!
//! C picks the transport-checksum update by `skb->ip_summed`; the caller passes the same
//! choice as [`ChecksumMode`] and acts on the returned [`L4Update`]:
//!
//! | `skb->ip_summed` | mode | what C does / what happens here | then, in C |
//! |---|---|---|---|
//! | `CHECKSUM_PARTIAL` (local or GSO, device finishes) | [`ChecksumMode::Partial`] | the field holds the pseudo-header sum: add the address difference (`*_partial_csum_update()`; ports are not in it) → [`L4Update::PseudoHeader`] | leave `ip_summed` |
//! | `CHECKSUM_NONE`, `_UNNECESSARY`, `_COMPLETE` | [`ChecksumMode::Full`] | RFC 1624 update with address and port (`*_fast_csum_update()`) → [`L4Update::Incremental`] | `CHECKSUM_COMPLETE` becomes `CHECKSUM_NONE` (`skb->csum` no longer matches) |
//!
//! C verifies the transport checksum only when an application helper will mangle the
//! payload (`tcp_csum_check()` before `ip_vs_app_pkt_*()`), and an ICMP error's checksum in
//! `handle_response_icmp()`, each skipped by `ip_vs_checksum_needed()` when the skb is
//! `CHECKSUM_UNNECESSARY` already or locally generated (`skb->dev == NULL`). Plain NAT
//! never verifies: a wrong checksum stays wrong by the same amount. See
//! [`super::l4_checksum_ok`] for the check itself.
//!
//! UDP with checksum 0 in [`ChecksumMode::Full`]: C recomputes a full checksum over the
//! whole datagram (`skb_checksum()`, `CHECKSUM_UNNECESSARY` after). Here, over IPv4, 0
//! ("no checksum") is kept ([`L4Update::NoUdpChecksum`]): the caller wanting C's bytes
//! calls [`super::udp::UdpPacket::fill_checksum`] on the whole datagram. Over IPv6, where
//! 0 is invalid, the checksum is computed as C does ([`L4Update::Recomputed`]), which needs
//! the whole packet ([`Malformed::Incomplete`] otherwise).
//!
//! The IPv4 header checksum is recomputed (`ip_send_check()`), as C does after changing
//! an address.
//!
//! # SCTP
//!
//! SCTP's CRC32c covers no pseudo-header: an address change leaves it alone, a port change
//! needs it recomputed over the whole packet, and C decides from `ip_summed`, GSO and the
//! output device's CRC offload whether it does ([`super::sctp::CsumContext`],
//! [`super::sctp::SctpCsum`]). [`sctp_dnat_parsed`] / [`sctp_snat_parsed`] (and
//! [`sctp_dnat`] / [`sctp_snat`] on a whole buffer) do the address and IPv4 header part as
//! for TCP and hand the port and CRC to [`super::sctp::dnat_l4`] / [`super::sctp::snat_l4`].

use super::sctp::{self, CsumContext, SctpCsum};
use super::{checksum, ipv4, parse_l3l4, tcp, udp};
use super::{get_array, get_be16, set_array, set_be16, span, v4};
use super::{
    Family, Headers, IcmpError, InetAddr, Malformed, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP,
};

/// What the transport checksum field holds, from `skb->ip_summed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// The real checksum (`CHECKSUM_NONE`, `CHECKSUM_UNNECESSARY`, `CHECKSUM_COMPLETE`).
    Full,
    /// The folded pseudo-header sum the device completes (`CHECKSUM_PARTIAL`).
    Partial,
}

/// How the transport checksum was updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Update {
    /// RFC 1624 update for the address and port change (`*_fast_csum_update()`); a UDP
    /// result of 0 written as `0xffff`. Equal to a full recompute when the old checksum
    /// was right.
    Incremental,
    /// The pseudo-header sum of a `CHECKSUM_PARTIAL` packet got the address change.
    PseudoHeader,
    /// UDP over IPv4 without checksum (field 0): left 0. C would compute one.
    NoUdpChecksum,
    /// Computed over the whole datagram (UDP over IPv6 whose field was 0, as C does).
    /// The skb is then `CHECKSUM_UNNECESSARY` in C.
    Recomputed,
    /// A non-first fragment: only the address changed (C's `if (iph->fragoffs) return 1`
    /// in the handlers; the first fragment carried the port and checksum).
    Fragment,
}

/// What a NAT rewrite did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatDone {
    /// The packet's headers as they were *before* the rewrite.
    pub headers: Headers,
    /// How the transport checksum was handled.
    pub l4: L4Update,
}

/// Which end of the packet a rewrite changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Destination,
}

/// DNAT of a request (client → virtual service, to the real server): destination address
/// and port become `daddr` / `dport`, with the transport checksum and the IPv4 header
/// checksum updated (`tcp_dnat_handler()` / `udp_dnat_handler()` + `ip_vs_nat_xmit*()`).
///
/// `buf` starts at the network header and holds the whole packet or at least its headers.
/// The old address and port are read from the packet (C uses `cp->vaddr` / `cp->vport`,
/// which equal them for a packet of the connection). Only TCP and UDP
/// ([`Malformed::Unsupported`] otherwise).
#[inline]
pub fn dnat(
    buf: &mut [u8],
    family: Family,
    daddr: &InetAddr,
    dport: u16,
    mode: ChecksumMode,
) -> Result<NatDone, Malformed> {
    rewrite(buf, family, Side::Destination, daddr, dport, mode)
}

/// SNAT of a reply (real server → client, to the virtual service): source address and port
/// become `saddr` / `sport` (`tcp_snat_handler()` / `udp_snat_handler()` +
/// `handle_response()`). Otherwise as [`dnat`].
#[inline]
pub fn snat(
    buf: &mut [u8],
    family: Family,
    saddr: &InetAddr,
    sport: u16,
    mode: ChecksumMode,
) -> Result<NatDone, Malformed> {
    rewrite(buf, family, Side::Source, saddr, sport, mode)
}

/// Where an address of the IP header at `l3_off` lies.
#[inline]
fn addr_span(family: Family, l3_off: usize, side: Side) -> core::ops::Range<usize> {
    let (at, n) = match (family, side) {
        (Family::Ipv4, Side::Source) => (12, 4),
        (Family::Ipv4, Side::Destination) => (16, 4),
        (Family::Ipv6, Side::Source) => (8, 16),
        (Family::Ipv6, Side::Destination) => (24, 16),
    };
    span(l3_off.saturating_add(at), n)
}

/// The address bytes of `a` for `family` (4 or 16 bytes).
#[inline]
fn addr_bytes(family: Family, a: &InetAddr) -> &[u8] {
    match family {
        Family::Ipv4 => a.0.get(..4).unwrap_or(&[]),
        Family::Ipv6 => &a.0,
    }
}

/// Writes an address of `family` at `r` (of its length).
#[inline]
fn write_addr(buf: &mut [u8], family: Family, r: core::ops::Range<usize>, a: &InetAddr) {
    match family {
        Family::Ipv4 => set_array(buf, r, v4(a)),
        Family::Ipv6 => set_array(buf, r, a.0),
    }
}

/// `ip_send_check()` on the IPv4 header at `l3_off`.
#[inline]
fn ipv4_send_check(buf: &mut [u8], l3_off: usize) {
    if let Some(at) = buf.get_mut(l3_off..) {
        ipv4::Ipv4Packet::new_unchecked(at).fill_checksum();
    }
}

/// [`dnat`] of a packet whose headers the caller already parsed
/// ([`super::parse_packet`] over the same packet): C's handlers, which get `iph` from
/// the hook. `buf` starts at the network header and needs only the bytes rewritten: up to
/// the end of the fixed transport header (`h.l4_off + h.l4_header_len`, what
/// `skb_ensure_writable(skb, tcphoff + sizeof(*tcph))` makes writable), or the IP header
/// for a non-first fragment. [`Malformed::Incomplete`] when the rewrite needs every byte of
/// the datagram (UDP over IPv6 without checksum) and `buf` is shorter than
/// `h.total_len`: the caller then retries with the whole packet. Returns how the transport
/// checksum was handled ([`NatDone::l4`]; the headers are the caller's).
#[inline]
pub fn dnat_parsed(
    buf: &mut [u8],
    h: &Headers,
    daddr: &InetAddr,
    dport: u16,
    mode: ChecksumMode,
) -> Result<L4Update, Malformed> {
    rewrite_parsed(buf, h, Side::Destination, daddr, dport, mode)
}

/// [`snat`] of a packet whose headers the caller already parsed; see [`dnat_parsed`].
#[inline]
pub fn snat_parsed(
    buf: &mut [u8],
    h: &Headers,
    saddr: &InetAddr,
    sport: u16,
    mode: ChecksumMode,
) -> Result<L4Update, Malformed> {
    rewrite_parsed(buf, h, Side::Source, saddr, sport, mode)
}

#[inline]
fn rewrite(
    buf: &mut [u8],
    family: Family,
    side: Side,
    addr: &InetAddr,
    port: u16,
    mode: ChecksumMode,
) -> Result<NatDone, Malformed> {
    let h = parse_l3l4(buf, family)?;
    let l4 = rewrite_parsed(buf, &h, side, addr, port, mode)?;
    Ok(NatDone { headers: h, l4 })
}

fn rewrite_parsed(
    buf: &mut [u8],
    h: &Headers,
    side: Side,
    addr: &InetAddr,
    port: u16,
    mode: ChecksumMode,
) -> Result<L4Update, Malformed> {
    match rewrite_v4_fast(buf, h, side, addr, port, mode) {
        Some(l4) => Ok(l4),
        None => rewrite_general(buf, h, side, addr, port, mode),
    }
}

/// [`rewrite_parsed`] for any packet.
fn rewrite_general(
    buf: &mut [u8],
    h: &Headers,
    side: Side,
    addr: &InetAddr,
    port: u16,
    mode: ChecksumMode,
) -> Result<L4Update, Malformed> {
    // Validate everything first.
    let family = h.family;
    let (csum_at, is_udp) = match h.protocol {
        IPPROTO_TCP => (tcp::CHECKSUM_OFFSET, false),
        IPPROTO_UDP => (udp::CHECKSUM_OFFSET, true),
        _ => return Err(Malformed::Unsupported),
    };
    let ip_hl = match family {
        Family::Ipv4 => ipv4::HEADER_LEN,
        Family::Ipv6 => super::ipv6::HEADER_LEN,
    };
    if buf.len() < h.l3_off.saturating_add(ip_hl) || buf.len() < h.l4_off {
        return Err(Malformed::Truncated);
    }
    let a_span = addr_span(family, h.l3_off, side);
    let old_addr = match side {
        Side::Source => h.saddr,
        Side::Destination => h.daddr,
    };
    if h.is_non_first_fragment() {
        write_addr(buf, family, a_span, addr);
        if family == Family::Ipv4 {
            ipv4_send_check(buf, h.l3_off);
        }
        return Ok(L4Update::Fragment);
    }
    let ports = h.ports.ok_or(Malformed::Truncated)?;
    // Ports and checksum: the fixed header (C makes it writable and nothing more).
    let fixed = if is_udp {
        udp::HEADER_LEN
    } else {
        tcp::HEADER_LEN
    };
    if buf.len() < h.l4_off.saturating_add(fixed) {
        return Err(Malformed::Truncated);
    }
    let (old_port, p_span) = match side {
        Side::Source => (ports[0], span(h.l4_off, 2)),
        Side::Destination => (ports[1], span(h.l4_off.saturating_add(2), 2)),
    };
    let c_span = span(h.l4_off.saturating_add(csum_at), 2);
    let old_check = get_be16(buf, c_span.clone());
    let l4 = match mode {
        ChecksumMode::Partial => L4Update::PseudoHeader,
        ChecksumMode::Full if !is_udp || old_check != 0 => L4Update::Incremental,
        ChecksumMode::Full if family == Family::Ipv4 => L4Update::NoUdpChecksum,
        ChecksumMode::Full => {
            if !h.is_complete(buf) {
                return Err(Malformed::Incomplete);
            }
            // C sums the datagram as the packet has it (`skb->len - udphoff`): the UDP
            // length field is not looked at.
            L4Update::Recomputed
        }
    };

    // Nothing below can fail.
    let old_a = addr_bytes(family, &old_addr);
    let new_a = addr_bytes(family, addr);
    let new_check = match l4 {
        L4Update::PseudoHeader => checksum::pseudo_sum_replace(old_check, old_a, new_a),
        L4Update::Incremental => {
            let sum = checksum::csum_diff(old_a, new_a, !checksum::csum_unfold(old_check));
            let sum = checksum::csum_diff(&old_port.to_be_bytes(), &port.to_be_bytes(), sum);
            let c = checksum::csum_fold(sum);
            if is_udp {
                checksum::udp_wire_checksum(c)
            } else {
                c
            }
        }
        _ => old_check,
    };
    write_addr(buf, family, a_span, addr);
    set_be16(buf, p_span, port);
    set_be16(buf, c_span, new_check);
    if l4 == L4Update::Recomputed {
        let (s, d) = match side {
            Side::Source => (*addr, h.daddr),
            Side::Destination => (h.saddr, *addr),
        };
        let end = h.end().min(buf.len());
        if let Some(l4b) = buf.get_mut(h.l4_off..end) {
            udp::UdpPacket::new_unchecked(l4b).fill_checksum_whole(family, &s, &d);
        }
    }
    if family == Family::Ipv4 {
        ipv4_send_check(buf, h.l3_off);
    }
    Ok(l4)
}

/// [`rewrite_parsed`] for what nearly every packet is: IPv4, TCP or UDP, not a fragment,
/// the IP header (options included) and the fixed transport header in `buf`. Fixed
/// offsets and straight-line arithmetic, no general bookkeeping: the packet path runs this
/// for every NATed packet. The same bytes and result as the general path (property-tested:
/// `nat_fast_path_matches_general`); `None` leaves the packet to it.
#[inline]
fn rewrite_v4_fast(
    buf: &mut [u8],
    h: &Headers,
    side: Side,
    addr: &InetAddr,
    port: u16,
    mode: ChecksumMode,
) -> Option<L4Update> {
    if h.family != Family::Ipv4 || h.fragment.is_some() {
        return None;
    }
    let (csum_at, fixed, is_udp) = match h.protocol {
        IPPROTO_TCP => (tcp::CHECKSUM_OFFSET, tcp::HEADER_LEN, false),
        IPPROTO_UDP => (udp::CHECKSUM_OFFSET, udp::HEADER_LEN, true),
        _ => return None,
    };
    let ports = h.ports?;
    let (l3, l4) = (h.l3_off, h.l4_off);
    let ihl = usize::from(*buf.get(l3)? & 0x0f) * 4;
    if ihl < ipv4::HEADER_LEN || l3.checked_add(ihl)? != l4 || buf.len() < l4.checked_add(fixed)? {
        return None;
    }
    // (No offset below can overflow: `l4 + fixed` did not, and `l3 + 20 <= l4`.)
    let (a_at, p_at, old_a, old_port) = match side {
        Side::Source => (l3.wrapping_add(12), l4, v4(&h.saddr), ports[0]),
        Side::Destination => (
            l3.wrapping_add(16),
            l4.wrapping_add(2),
            v4(&h.daddr),
            ports[1],
        ),
    };
    let new_a = v4(addr);
    let c_at = l4.wrapping_add(csum_at);
    let old_check = get_be16(buf, span(c_at, 2));
    let (l4_update, new_check) = match mode {
        // (What pseudo_sum_replace() and csum_diff() compute, a word at a time.)
        ChecksumMode::Partial => (
            L4Update::PseudoHeader,
            !checksum::csum_fold(checksum::csum_diff4(
                old_a,
                new_a,
                checksum::csum_unfold(old_check),
            )),
        ),
        ChecksumMode::Full if !is_udp || old_check != 0 => {
            let sum = checksum::csum_diff4(old_a, new_a, !checksum::csum_unfold(old_check));
            let sum = checksum::csum_diff2(old_port, port, sum);
            let c = checksum::csum_fold(sum);
            (
                L4Update::Incremental,
                if is_udp {
                    checksum::udp_wire_checksum(c)
                } else {
                    c
                },
            )
        }
        ChecksumMode::Full => (L4Update::NoUdpChecksum, old_check),
    };
    set_array(buf, span(a_at, 4), new_a);
    set_be16(buf, span(p_at, 2), port);
    set_be16(buf, span(c_at, 2), new_check);
    // ip_send_check(): the header summed as 32-bit words (the same folded sum as 16-bit
    // ones, in any order), its checksum field (bytes 10-11, the low half of word 2) left
    // out: the fixed 20 bytes unrolled, then the options. At most 15 words below 2^32:
    // the 64-bit sum cannot overflow.
    let (fixed, mut rest) = buf
        .get(l3..l4)?
        .split_first_chunk::<{ ipv4::HEADER_LEN }>()?;
    let w = |i: usize| {
        u64::from(u32::from_be_bytes([
            fixed[i],
            fixed[i + 1],
            fixed[i + 2],
            fixed[i + 3],
        ]))
    };
    let mut sum = w(0) + w(4) + (w(8) & 0xffff_0000) + w(12) + w(16);
    while let [a, b, c, d, tail @ ..] = rest {
        sum = sum.wrapping_add(u64::from(u32::from_be_bytes([*a, *b, *c, *d])));
        rest = tail;
    }
    let sum = checksum::csum_add((sum >> 32) as u32, sum as u32);
    set_be16(buf, span(l3.wrapping_add(10), 2), checksum::csum_fold(sum));
    Some(l4_update)
}

/// What an SCTP NAT rewrite did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpNatDone {
    /// The packet's headers as they were *before* the rewrite.
    pub headers: Headers,
    /// How the port and CRC were handled; `None` for an IPv6 non-first fragment, of which
    /// only the address changed (C's `if (cp->af == AF_INET6 && iph->fragoffs) return 1;`:
    /// `ip_summed` is left alone).
    pub l4: Option<SctpCsum>,
}

/// DNAT of an SCTP request: `sctp_dnat_handler()` + `ip_vs_nat_xmit*()`. The destination
/// address becomes `daddr` (IPv4 header checksum recomputed), the destination port
/// `dport`, and the CRC is recomputed if C recomputes it (see
/// [`super::sctp::SctpCsum`] for what the caller then does with `skb->ip_summed`).
///
/// `buf` starts at the network header and holds at least the IP header and the SCTP
/// common header (what `skb_ensure_writable(skb, sctphoff + sizeof(*sctph))` makes
/// writable). When it holds the whole packet (`h.total_len` bytes) a needed CRC is
/// computed here ([`SctpCsum::Recomputed`]); otherwise the port is written and
/// [`SctpCsum::Pending`] asks the caller to compute [`super::sctp::checksum_packet`] over
/// the packet and store it. Errors (nothing written): [`Malformed::Unsupported`] for
/// another protocol, [`Malformed::Truncated`] when the headers are not all in `buf` or the
/// common header is missing from the packet (C drops it).
#[inline]
pub fn sctp_dnat_parsed(
    buf: &mut [u8],
    h: &Headers,
    daddr: &InetAddr,
    dport: u16,
    ctx: CsumContext,
) -> Result<SctpNatDone, Malformed> {
    sctp_rewrite_parsed(buf, h, Side::Destination, daddr, dport, ctx)
}

/// SNAT of an SCTP reply: `sctp_snat_handler()` + `handle_response()`: the source address
/// and port become `saddr` / `sport`. Otherwise as [`sctp_dnat_parsed`];
/// `ctx.dev_sctp_crc` is not looked at (C's SNAT handler does not ask the device).
#[inline]
pub fn sctp_snat_parsed(
    buf: &mut [u8],
    h: &Headers,
    saddr: &InetAddr,
    sport: u16,
    ctx: CsumContext,
) -> Result<SctpNatDone, Malformed> {
    sctp_rewrite_parsed(buf, h, Side::Source, saddr, sport, ctx)
}

/// [`sctp_dnat_parsed`] of a buffer parsed here with [`parse_l3l4`].
#[inline]
pub fn sctp_dnat(
    buf: &mut [u8],
    family: Family,
    daddr: &InetAddr,
    dport: u16,
    ctx: CsumContext,
) -> Result<SctpNatDone, Malformed> {
    let h = parse_l3l4(buf, family)?;
    sctp_dnat_parsed(buf, &h, daddr, dport, ctx)
}

/// [`sctp_snat_parsed`] of a buffer parsed here with [`parse_l3l4`].
#[inline]
pub fn sctp_snat(
    buf: &mut [u8],
    family: Family,
    saddr: &InetAddr,
    sport: u16,
    ctx: CsumContext,
) -> Result<SctpNatDone, Malformed> {
    let h = parse_l3l4(buf, family)?;
    sctp_snat_parsed(buf, &h, saddr, sport, ctx)
}

fn sctp_rewrite_parsed(
    buf: &mut [u8],
    h: &Headers,
    side: Side,
    addr: &InetAddr,
    port: u16,
    ctx: CsumContext,
) -> Result<SctpNatDone, Malformed> {
    let h = *h;
    let family = h.family;
    if h.protocol != IPPROTO_SCTP {
        return Err(Malformed::Unsupported);
    }
    let ip_hl = match family {
        Family::Ipv4 => ipv4::HEADER_LEN,
        Family::Ipv6 => super::ipv6::HEADER_LEN,
    };
    if buf.len() < h.l3_off.saturating_add(ip_hl) || buf.len() < h.l4_off {
        return Err(Malformed::Truncated);
    }
    let a_span = addr_span(family, h.l3_off, side);
    let l4 = if h.is_non_first_fragment() {
        None
    } else {
        if h.ports.is_none() || buf.len() < h.l4_off.saturating_add(sctp::HEADER_LEN) {
            return Err(Malformed::Truncated);
        }
        let complete = h.is_complete(buf);
        let end = h.end().min(buf.len());
        let l4 = buf.get_mut(h.l4_off..end).ok_or(Malformed::Truncated)?;
        // The common header is in `l4` (checked above, and `end` is past it since the
        // headers say the packet holds it): the only error cannot happen, and nothing has
        // been written when it would.
        let done = match side {
            Side::Source => sctp::snat_l4(l4, complete, port, ctx)?,
            Side::Destination => sctp::dnat_l4(l4, complete, port, ctx)?,
        };
        Some(done)
    };
    write_addr(buf, family, a_span, addr);
    if family == Family::Ipv4 {
        ipv4_send_check(buf, h.l3_off);
    }
    Ok(SctpNatDone { headers: h, l4 })
}

/// Which way an ICMP error is going, C's `inout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpDirection {
    /// `inout = 1`, `handle_response_icmp()`: an error from a real server (or a router
    /// behind it) about a packet of a connection, going out to the client. The outer
    /// source and the quoted destination address / port become the virtual service's.
    Out,
    /// `inout = 0`, `ip_vs_icmp_xmit()`: an error from the client side about a reply,
    /// going in to the real server. The outer destination and the quoted source address /
    /// port become the real server's.
    In,
}

/// `ip_vs_nat_icmp()` / `ip_vs_nat_icmp_v6()`: rewrites an ICMP error for NAT: the outer
/// address (source for [`IcmpDirection::Out`], destination for `In`), the quoted packet's
/// opposite address and, if its protocol has ports (TCP, UDP, SCTP), its port; then the
/// quoted IPv4 header checksum (`ip_send_check(cih)`), the outer IPv4 header checksum and
/// the ICMP checksum, computed over the whole message (ICMPv6: with the pseudo-header of
/// the rewritten outer addresses).
///
/// Needs the whole packet ([`Malformed::Incomplete`]), since the ICMP checksum covers it.
/// The quoted transport checksum is *not* adjusted, as in C: the quoted packet is usually
/// cut short and no receiver checks it. C leaves an ICMPv6 error `CHECKSUM_PARTIAL` for the
/// device to finish; here the checksum is final, so the caller sets `CHECKSUM_NONE` (or
/// `_UNNECESSARY`) instead. The ICMP checksum is not verified first: the caller does that
/// as `handle_response_icmp()` does (see [`super::l4_checksum_ok`]).
///
/// Errors: those of [`super::parse_l3l4`] and [`IcmpError::parse`]; [`Malformed::Fragment`]
/// if the quoted packet is a non-first fragment (C ignores those: "is the embedded protocol
/// header present?"); [`Malformed::Truncated`] if its protocol has ports and the four port
/// bytes are missing (C: `skb_ensure_writable()` fails, drop).
pub fn nat_icmp(
    buf: &mut [u8],
    family: Family,
    direction: IcmpDirection,
    addr: &InetAddr,
    port: u16,
) -> Result<IcmpError, Malformed> {
    let outer = parse_l3l4(buf, family)?;
    let err = IcmpError::parse(buf, &outer)?;
    let inner = err.inner;
    if !outer.is_complete(buf) {
        return Err(Malformed::Incomplete);
    }
    if super::has_ports(inner.protocol) {
        if inner.is_non_first_fragment() {
            return Err(Malformed::Fragment);
        }
        if inner.ports.is_none() {
            return Err(Malformed::Truncated);
        }
    }

    // Nothing below can fail.
    let (outer_side, inner_side, port_at) = match direction {
        IcmpDirection::Out => (Side::Source, Side::Destination, 2),
        IcmpDirection::In => (Side::Destination, Side::Source, 0),
    };
    write_addr(
        buf,
        family,
        addr_span(family, outer.l3_off, outer_side),
        addr,
    );
    write_addr(
        buf,
        family,
        addr_span(family, inner.l3_off, inner_side),
        addr,
    );
    if inner.ports.is_some() {
        set_be16(buf, span(inner.l4_off.saturating_add(port_at), 2), port);
    }
    if family == Family::Ipv4 {
        // The quoted header checksum covers its header only, options included.
        let ihl = inner.l4_off.saturating_sub(inner.l3_off);
        if let Some(cih) = buf.get_mut(span(inner.l3_off, ihl)) {
            ipv4::Ipv4Packet::new_unchecked(cih).fill_checksum();
        }
        ipv4_send_check(buf, outer.l3_off);
    }
    let (src, dst) = match family {
        Family::Ipv4 => (InetAddr::default(), InetAddr::default()),
        Family::Ipv6 => (
            InetAddr(get_array(
                buf,
                addr_span(family, outer.l3_off, Side::Source),
            )),
            InetAddr(get_array(
                buf,
                addr_span(family, outer.l3_off, Side::Destination),
            )),
        ),
    };
    let end = outer.end().min(buf.len());
    if let Some(msg) = buf.get_mut(err.offset..end) {
        match family {
            Family::Ipv4 => super::icmp::IcmpPacket::new_unchecked(msg).fill_checksum(),
            Family::Ipv6 => super::icmp::Icmpv6Packet::new_unchecked(msg).fill_checksum(&src, &dst),
        }
    }
    Ok(err)
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use crate::wire::parse_packet;
    use proptest::prelude::*;

    /// A plain TCP segment and a UDP datagram take the fast path.
    #[test]
    fn usual_packets_take_the_fast_path() {
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            let mut p = [0u8; 60];
            p[0] = 0x45;
            p[3] = 60;
            p[8] = 64;
            p[9] = proto;
            p[12..16].copy_from_slice(&[10, 0, 0, 1]);
            p[16..20].copy_from_slice(&[10, 0, 100, 1]);
            p[20..24].copy_from_slice(&[0x30, 0x39, 0x1f, 0x90]);
            let h = parse_packet(&p[..], Family::Ipv4).unwrap().headers;
            let a = InetAddr::from_ipv4([10, 0, 1, 11]);
            for mode in [ChecksumMode::Partial, ChecksumMode::Full] {
                let mut q = p;
                assert!(rewrite_v4_fast(&mut q, &h, Side::Destination, &a, 8080, mode).is_some());
                assert_eq!(&q[16..20], &[10, 0, 1, 11]);
                assert!(ipv4::Ipv4Packet::new_unchecked(&q[..]).verify_checksum());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        /// The IPv4 fast path writes the same bytes and returns the same result as the
        /// general path, for any IPv4 TCP/UDP packet it takes (options, fragments, bad
        /// checksums and lengths included), and takes the usual ones.
        #[test]
        fn nat_fast_path_matches_general(
            mut pkt in prop::collection::vec(any::<u8>(), 20..120),
            ihl in 5u8..=15,
            udp: bool,
            frag: bool,
            source: bool,
            partial: bool,
            zero_check: bool,
            addr: [u8; 4],
            port: u16,
        ) {
            pkt[0] = 0x40 | ihl;
            pkt[9] = if udp { IPPROTO_UDP } else { IPPROTO_TCP };
            if !frag {
                pkt[6] &= 0x80; // DF may stay; MF and the offset go
                pkt[7] = 0;
            }
            let l4 = usize::from(ihl) * 4;
            if zero_check && udp && pkt.len() >= l4 + 8 {
                pkt[l4 + 6] = 0;
                pkt[l4 + 7] = 0;
            }
            let Ok(info) = parse_packet(&pkt[..], Family::Ipv4) else {
                return Ok(());
            };
            let h = info.headers;
            let side = if source { Side::Source } else { Side::Destination };
            let mode = if partial { ChecksumMode::Partial } else { ChecksumMode::Full };
            let a = InetAddr::from_ipv4(addr);
            let mut fast = pkt.clone();
            let mut general = pkt.clone();
            let f = rewrite_v4_fast(&mut fast, &h, side, &a, port, mode);
            let g = rewrite_general(&mut general, &h, side, &a, port, mode);
            if let Some(f) = f {
                prop_assert_eq!(Ok(f), g);
                prop_assert_eq!(&fast, &general);
            } else {
                prop_assert_eq!(&fast, &pkt);
                // The usual packet is the fast path's.
                prop_assert!(frag || h.ports.is_none());
            }
        }
    }
}
