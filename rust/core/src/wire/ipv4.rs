//! IPv4 header view.
//!
//! C headers: `include/uapi/linux/ip.h` (`struct iphdr`), `include/net/ip.h`
//! (`ip_send_check()`, `ip_is_fragment()`).

use super::checksum;
use super::{get_array, get_be16, get_u8, set_array, set_be16, set_u8, Malformed};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// `IP_MF`: more fragments.
const IP_MF: u16 = 0x2000;
/// `IP_DF`: don't fragment.
const IP_DF: u16 = 0x4000;
/// `IP_OFFSET`: fragment offset mask, in 8-byte units.
const IP_OFFSET: u16 = 0x1fff;

/// Field offsets of `struct iphdr`.
mod field {
    use core::ops::Range;
    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOS: usize = 1;
    pub(super) const LENGTH: Range<usize> = 2..4;
    pub(super) const IDENT: Range<usize> = 4..6;
    pub(super) const FLG_OFF: Range<usize> = 6..8;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: Range<usize> = 10..12;
    pub(super) const SRC_ADDR: Range<usize> = 12..16;
    pub(super) const DST_ADDR: Range<usize> = 16..20;
}

/// A read/write view of an IPv4 packet at the start of a buffer.
///
/// # Invariants
///
/// After [`Ipv4Packet::new_checked`]: `20 <= header_len <= total_len <= buffer.len()`.
/// After [`Ipv4Packet::new_checked_head`]: `20 <= header_len <= total_len` and
/// `header_len <= buffer.len()`. Accessors never panic, checked or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer that holds the whole packet (trailing bytes past the total length are
    /// allowed and ignored).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>, Malformed> {
        let p = Ipv4Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Wraps a buffer that holds at least the header, options included (the linear head of
    /// a packet whose payload may be elsewhere).
    #[inline]
    pub fn new_checked_head(buffer: T) -> Result<Ipv4Packet<T>, Malformed> {
        let p = Ipv4Packet::new_unchecked(buffer);
        p.check_head_len()?;
        Ok(p)
    }

    /// The checks of [`Ipv4Packet::new_checked_head`].
    pub fn check_head_len(&self) -> Result<(), Malformed> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(Malformed::Truncated)
        } else if self.header_len() < HEADER_LEN {
            Err(Malformed::BadLength)
        } else if len < self.header_len() {
            Err(Malformed::Truncated)
        } else if usize::from(self.total_len()) < self.header_len() {
            Err(Malformed::BadLength)
        } else {
            Ok(())
        }
    }

    /// The checks of [`Ipv4Packet::new_checked`].
    #[inline]
    pub fn check_len(&self) -> Result<(), Malformed> {
        self.check_head_len()?;
        if self.buffer.as_ref().len() < usize::from(self.total_len()) {
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

    /// Version (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(get_u8(self.buffer.as_ref(), field::VER_IHL) & 0x0f) * 4
    }

    /// Type of service (DSCP and ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::TOS)
    }

    /// Total length: header plus payload.
    #[inline]
    pub fn total_len(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't fragment (DF).
    #[inline]
    pub fn dont_frag(&self) -> bool {
        get_be16(self.buffer.as_ref(), field::FLG_OFF) & IP_DF != 0
    }

    /// More fragments (MF).
    #[inline]
    pub fn more_frags(&self) -> bool {
        get_be16(self.buffer.as_ref(), field::FLG_OFF) & IP_MF != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (get_be16(self.buffer.as_ref(), field::FLG_OFF) & IP_OFFSET) << 3
    }

    /// `ip_is_fragment()`: MF set or a non-zero offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        get_be16(self.buffer.as_ref(), field::FLG_OFF) & (IP_MF | IP_OFFSET) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::TTL)
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::PROTOCOL)
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 4] {
        get_array(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 4] {
        get_array(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The header, options included (clamped to the buffer).
    #[inline]
    pub fn header(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..self.header_len().min(b.len())).unwrap_or(&[])
    }

    /// Whether the header checksum verifies (`ip_fast_csum(iph, ihl) == 0`).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(checksum::csum_partial(self.header(), 0))
    }

    /// The payload, `header_len .. total_len`, clamped to the buffer (a head may hold only
    /// part of it).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.total_len()).min(b.len());
        b.get(self.header_len()..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version and header length (`len` in bytes, a multiple of 4 up to 60).
    #[inline]
    pub fn set_version_and_header_len(&mut self, version: u8, len: usize) {
        let ihl = u8::try_from(len / 4).unwrap_or(0x0f).min(0x0f);
        set_u8(self.buffer.as_mut(), field::VER_IHL, (version << 4) | ihl);
    }

    /// Sets the type of service.
    #[inline]
    pub fn set_tos(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::TOS, value);
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::IDENT, value);
    }

    /// Sets the flags and fragment offset (offset in bytes, truncated to a multiple of 8).
    #[inline]
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut v = (offset >> 3) & IP_OFFSET;
        if dont_frag {
            v |= IP_DF;
        }
        if more_frags {
            v |= IP_MF;
        }
        set_be16(self.buffer.as_mut(), field::FLG_OFF, v);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::TTL, value);
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::PROTOCOL, value);
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the source address (the checksum is not updated).
    #[inline]
    pub fn set_src_addr(&mut self, value: [u8; 4]) {
        set_array(self.buffer.as_mut(), field::SRC_ADDR, value);
    }

    /// Sets the destination address (the checksum is not updated).
    #[inline]
    pub fn set_dst_addr(&mut self, value: [u8; 4]) {
        set_array(self.buffer.as_mut(), field::DST_ADDR, value);
    }

    /// `ip_send_check()`: recomputes the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    /// The payload, writable (clamped like [`Ipv4Packet::payload`]).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let end = usize::from(self.total_len());
        let b = self.buffer.as_mut();
        let end = end.min(b.len());
        b.get_mut(start..end).unwrap_or(&mut [])
    }
}

/// The meaning of an IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: [u8; 4],
    /// Destination address.
    pub dst_addr: [u8; 4],
    /// Payload protocol.
    pub protocol: u8,
    /// Payload length (total length − header length).
    pub payload_len: u16,
    /// Time to live.
    pub ttl: u8,
}

impl Ipv4Repr {
    /// Parses a checked packet: version 4 and a verifying header checksum. Options are
    /// skipped; fragments are accepted (the fragment fields are not represented).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr, Malformed> {
        packet.check_head_len()?;
        if packet.version() != 4 {
            return Err(Malformed::BadVersion);
        }
        if !packet.verify_checksum() {
            return Err(Malformed::BadChecksum);
        }
        let hl = u16::try_from(packet.header_len()).unwrap_or(u16::MAX);
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: packet.total_len().saturating_sub(hl),
            ttl: packet.ttl(),
        })
    }

    /// Length of the header [`Ipv4Repr::emit`] writes.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header (DF set, identification 0, TOS 0) with its checksum.
    /// A buffer shorter than 20 bytes gets nothing.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return;
        }
        packet.set_version_and_header_len(4, HEADER_LEN);
        packet.set_tos(0);
        packet.set_total_len(self.payload_len.saturating_add(20));
        packet.set_ident(0);
        packet.set_frag(true, false, 0);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}
