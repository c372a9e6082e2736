//! IPv6 header view and the extension-header walk.
//!
//! C headers: `include/uapi/linux/ipv6.h` (`struct ipv6hdr`, `struct ipv6_opt_hdr`,
//! `struct frag_hdr`), `include/linux/ipv6.h` (`ipv6_optlen()`, `ipv6_authlen()`);
//! C source: `net/ipv6/exthdrs_core.c` (`ipv6_ext_hdr()`, `ipv6_find_hdr()`).

use super::packet::{read_array, PacketRead};
use super::{get_array, get_be16, get_be32, get_u8, set_array, set_be16, set_be32, set_u8};
use super::{Fragment, Malformed};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// `NEXTHDR_HOP`: hop-by-hop options.
pub const NEXTHDR_HOP: u8 = 0;
/// `NEXTHDR_ROUTING`: routing header.
pub const NEXTHDR_ROUTING: u8 = 43;
/// `NEXTHDR_FRAGMENT`: fragment header.
pub const NEXTHDR_FRAGMENT: u8 = 44;
/// `NEXTHDR_AUTH`: authentication header (its length counts 4-byte units).
pub const NEXTHDR_AUTH: u8 = 51;
/// `NEXTHDR_NONE`: no next header.
pub const NEXTHDR_NONE: u8 = 59;
/// `NEXTHDR_DEST`: destination options.
pub const NEXTHDR_DEST: u8 = 60;

/// Length of the fragment header.
pub const FRAG_HEADER_LEN: usize = 8;

/// Field offsets of `struct ipv6hdr`.
mod field {
    use core::ops::Range;
    pub(super) const VER_TC_FLOW: Range<usize> = 0..4;
    pub(super) const PAYLOAD_LEN: Range<usize> = 4..6;
    pub(super) const NXT_HDR: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC_ADDR: Range<usize> = 8..24;
    pub(super) const DST_ADDR: Range<usize> = 24..40;
}

/// A read/write view of an IPv6 packet at the start of a buffer.
///
/// # Invariants
///
/// After [`Ipv6Packet::new_checked`]: `40 + payload_len <= buffer.len()`. After
/// [`Ipv6Packet::new_checked_head`]: `40 <= buffer.len()`. Accessors never panic, checked
/// or not.
///
/// A payload length of 0 means an empty payload: jumbograms and BIG TCP super-packets
/// (payload length 0, the real length known only to the skb) are not represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    /// Wraps a buffer that holds the whole packet (trailing bytes allowed and ignored).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>, Malformed> {
        let p = Ipv6Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Wraps a buffer that holds at least the fixed header.
    #[inline]
    pub fn new_checked_head(buffer: T) -> Result<Ipv6Packet<T>, Malformed> {
        let p = Ipv6Packet::new_unchecked(buffer);
        if p.buffer.as_ref().len() < HEADER_LEN {
            return Err(Malformed::Truncated);
        }
        Ok(p)
    }

    /// The checks of [`Ipv6Packet::new_checked`].
    #[inline]
    pub fn check_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < self.total_len().max(HEADER_LEN) {
            Err(Malformed::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version (6 for IPv6).
    #[inline]
    pub fn version(&self) -> u8 {
        get_u8(self.buffer.as_ref(), 0) >> 4
    }

    /// Traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        ((get_be32(self.buffer.as_ref(), field::VER_TC_FLOW) >> 20) & 0xff) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        get_be32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    /// Payload length: everything after the fixed header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// The packet's length, `40 + payload_len`.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// Next header of the fixed header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::NXT_HDR)
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::HOP_LIMIT)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 16] {
        get_array(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 16] {
        get_array(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The payload after the fixed header (extension headers included), clamped to the
    /// buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(HEADER_LEN..self.total_len().min(b.len()))
            .unwrap_or(&[])
    }

    /// The upper-layer header: `ipv6_find_hdr()` over this packet (see
    /// [`find_upper_layer`]), bounded by the buffer and the payload length.
    #[inline]
    pub fn upper_layer(&self) -> Result<UpperLayer, Malformed> {
        let b = self.buffer.as_ref();
        find_upper_layer(b, 0, self.total_len().min(b.len()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets version, traffic class and flow label.
    #[inline]
    pub fn set_version_tc_flow(&mut self, version: u8, traffic_class: u8, flow_label: u32) {
        let v = (u32::from(version & 0x0f) << 28)
            | (u32::from(traffic_class) << 20)
            | (flow_label & 0x000f_ffff);
        set_be32(self.buffer.as_mut(), field::VER_TC_FLOW, v);
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::PAYLOAD_LEN, value);
    }

    /// Sets the next header of the fixed header.
    #[inline]
    pub fn set_next_header(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::NXT_HDR, value);
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::HOP_LIMIT, value);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, value: [u8; 16]) {
        set_array(self.buffer.as_mut(), field::SRC_ADDR, value);
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: [u8; 16]) {
        set_array(self.buffer.as_mut(), field::DST_ADDR, value);
    }

    /// The payload, writable (clamped like [`Ipv6Packet::payload`]).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        let b = self.buffer.as_mut();
        let end = end.min(b.len());
        b.get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }
}

/// The meaning of a fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: [u8; 16],
    /// Destination address.
    pub dst_addr: [u8; 16],
    /// Next header of the fixed header.
    pub next_header: u8,
    /// Payload length.
    pub payload_len: u16,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Parses a checked packet (version 6).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Ipv6Repr, Malformed> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(Malformed::BadVersion);
        }
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
        })
    }

    /// Length of the header [`Ipv6Repr::emit`] writes.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header (traffic class and flow label 0).
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        packet.set_version_tc_flow(6, 0, 0);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

/// `ipv6_ext_hdr()`: whether a next-header value is an extension header `ipv6_find_hdr()`
/// walks over (hop-by-hop, routing, fragment, AH, destination options) or "no next header".
/// ESP is not one: what follows it is encrypted.
pub const fn is_ext_header(next_header: u8) -> bool {
    matches!(
        next_header,
        NEXTHDR_HOP
            | NEXTHDR_ROUTING
            | NEXTHDR_FRAGMENT
            | NEXTHDR_AUTH
            | NEXTHDR_NONE
            | NEXTHDR_DEST
    )
}

/// Where the extension-header chain of an IPv6 packet ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// The upper-layer protocol (`NEXTHDR_NONE` if the chain says there is none).
    pub protocol: u8,
    /// Offset of the upper-layer header in the buffer; for a non-first fragment, of the
    /// fragment's data.
    pub offset: usize,
    /// The fragment header's content, if the chain has one (C's `IP6_FH_F_FRAG`).
    pub fragment: Option<Fragment>,
}

/// `ipv6_find_hdr(skb, &offset, -1, &fragoff, &flags)`: walks the extension headers of the
/// IPv6 packet at `ip_off` in `pkt` to the upper-layer header. Headers must lie before
/// `end` (the packet's end as the caller knows it; C bounds the walk by `skb->len` only).
/// Each header is read where it lies ([`PacketRead`]), so the chain may be as long as the
/// packet, with no fixed window.
///
/// As C: hop-by-hop, routing, destination options and AH headers are skipped by their
/// length; a fragment header with offset 0 is skipped (8 bytes) and recorded; at a
/// fragment header with a non-zero offset the walk stops, returning the protocol it names
/// if that is not an extension header and [`Malformed::BadExtHeader`] otherwise (C:
/// `-ENOENT`); a header that runs past `end` is [`Malformed::Truncated`] (C: `-EBADMSG`).
/// Unlike C, a fragment header must be all 8 bytes (C reads only its offset when it stops
/// there), and a routing header is read as 4 bytes as in C.
///
/// The walk is bounded: every header it skips is at least 8 bytes, so it takes at most
/// `end / 8 + 1` steps.
pub fn find_upper_layer<P: PacketRead + ?Sized>(
    pkt: &P,
    ip_off: usize,
    end: usize,
) -> Result<UpperLayer, Malformed> {
    let end = end.min(pkt.packet_len());
    if end < ip_off.saturating_add(HEADER_LEN) {
        return Err(Malformed::Truncated);
    }
    let [mut nexthdr] = read_array::<P, 1>(pkt, ip_off.saturating_add(field::NXT_HDR))
        .ok_or(Malformed::Truncated)?;
    let mut start = ip_off.saturating_add(HEADER_LEN);
    let mut fragment = None;
    for _ in 0..=end / 8 {
        if !is_ext_header(nexthdr) || nexthdr == NEXTHDR_NONE {
            return Ok(UpperLayer {
                protocol: nexthdr,
                offset: start,
                fragment,
            });
        }
        let avail = end.saturating_sub(start);
        // The generic option header: next header, length.
        if avail < 2 || (nexthdr == NEXTHDR_ROUTING && avail < 4) {
            return Err(Malformed::Truncated);
        }
        let [hp_next, hp_len] = read_array::<P, 2>(pkt, start).ok_or(Malformed::Truncated)?;
        let hp_len = usize::from(hp_len);
        let hdrlen = match nexthdr {
            NEXTHDR_FRAGMENT => {
                if avail < FRAG_HEADER_LEN {
                    return Err(Malformed::Truncated);
                }
                let fh: [u8; FRAG_HEADER_LEN] =
                    read_array(pkt, start).ok_or(Malformed::Truncated)?;
                let off_flags = get_be16(&fh, 2..4);
                let frag = Fragment {
                    offset: off_flags & !7,
                    more: off_flags & 1 != 0,
                    ident: get_be32(&fh, 4..8),
                };
                fragment = Some(frag);
                if frag.is_non_first() {
                    if !is_ext_header(hp_next) || hp_next == NEXTHDR_NONE {
                        let offset = start.saturating_add(FRAG_HEADER_LEN);
                        return Ok(UpperLayer {
                            protocol: hp_next,
                            offset,
                            fragment,
                        });
                    }
                    return Err(Malformed::BadExtHeader);
                }
                FRAG_HEADER_LEN
            }
            NEXTHDR_AUTH => (hp_len + 2) << 2,
            _ => (hp_len + 1) << 3,
        };
        if avail < hdrlen {
            return Err(Malformed::Truncated);
        }
        nexthdr = hp_next;
        start = start.saturating_add(hdrlen);
    }
    // Unreachable: each step above advances `start` by at least 8 bytes within `end`.
    Err(Malformed::BadExtHeader)
}
