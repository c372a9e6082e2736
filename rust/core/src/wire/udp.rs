//! UDP header view.
//!
//! C headers: `include/uapi/linux/udp.h` (`struct udphdr`); C sources:
//! `net/netfilter/ipvs/ip_vs_proto_udp.c` (`udp_csum_check()`, zero-checksum handling),
//! RFC 768, RFC 8200 §8.1.

use super::checksum;
use super::{get_be16, set_be16, Family, InetAddr, Malformed, IPPROTO_UDP};

/// Length of the header.
pub const HEADER_LEN: usize = 8;

/// Field offsets of `struct udphdr`.
mod field {
    use core::ops::Range;
    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const LENGTH: Range<usize> = 4..6;
    pub(super) const CHECKSUM: Range<usize> = 6..8;
}

/// Offset of the checksum field in the header (`offsetof(struct udphdr, check)`).
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// A read/write view of a UDP datagram at the start of a buffer.
///
/// # Invariants
///
/// After [`UdpPacket::new_checked`]: `8 <= len <= buffer.len()` (the datagram is the first
/// `len` bytes; trailing bytes are ignored). After [`UdpPacket::new_checked_head`]:
/// `8 <= len` and `8 <= buffer.len()`. Accessors never panic, checked or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    /// Wraps a buffer that holds the whole datagram.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>, Malformed> {
        let p = UdpPacket::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Wraps a buffer that holds at least the header.
    #[inline]
    pub fn new_checked_head(buffer: T) -> Result<UdpPacket<T>, Malformed> {
        let p = UdpPacket::new_unchecked(buffer);
        p.check_head_len()?;
        Ok(p)
    }

    /// The checks of [`UdpPacket::new_checked_head`].
    #[inline]
    pub fn check_head_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Malformed::Truncated)
        } else if usize::from(self.len()) < HEADER_LEN {
            Err(Malformed::BadLength)
        } else {
            Ok(())
        }
    }

    /// The checks of [`UdpPacket::new_checked`].
    #[inline]
    pub fn check_len(&self) -> Result<(), Malformed> {
        self.check_head_len()?;
        if self.buffer.as_ref().len() < usize::from(self.len()) {
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

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field: header plus payload.
    #[inline]
    pub fn len(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the payload is empty (length field 8 or less).
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Whether a checksum is present: the field is not 0. (Over IPv6 a zero field is not
    /// "absent" but invalid.)
    #[inline]
    pub fn has_checksum(&self) -> bool {
        self.checksum() != 0
    }

    /// The datagram, `..len`, clamped to the buffer.
    #[inline]
    fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..usize::from(self.len()).min(b.len())).unwrap_or(&[])
    }

    /// The payload, `8 .. len`, clamped to the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.datagram().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// Whether the checksum verifies for the datagram carried between `src` and `dst`, as
    /// `udp_csum_check()` decides: a zero field passes over IPv4 (no checksum) and fails
    /// over IPv6 (RFC 8200 §8.1; Linux drops it unless a tunnel allows zero checksums).
    #[inline]
    pub fn verify_checksum(&self, family: Family, src: &InetAddr, dst: &InetAddr) -> bool {
        if !self.has_checksum() {
            return family == Family::Ipv4;
        }
        checksum::verifies(datagram_sum(self.datagram(), family, src, dst))
    }
}

/// The sum of a whole datagram plus its pseudo-header.
#[inline]
fn datagram_sum(d: &[u8], family: Family, src: &InetAddr, dst: &InetAddr) -> u32 {
    let len = u32::try_from(d.len()).unwrap_or(u32::MAX);
    checksum::csum_partial(
        d,
        checksum::pseudo_header(family, src, dst, IPPROTO_UDP, len),
    )
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port (the checksum is not updated).
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    /// Sets the destination port (the checksum is not updated).
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Computes and writes the checksum of the datagram between `src` and `dst`, a
    /// computed 0 written as [`checksum::CSUM_MANGLED_0`] (the full-recompute branch of
    /// `udp_snat_handler()`). Always writes a checksum, also over IPv4: to keep an absent
    /// one absent, do not call it.
    #[inline]
    pub fn fill_checksum(&mut self, family: Family, src: &InetAddr, dst: &InetAddr) {
        self.set_checksum(0);
        let c = checksum::csum_fold(datagram_sum(self.datagram(), family, src, dst));
        self.set_checksum(checksum::udp_wire_checksum(c));
    }

    /// [`UdpPacket::fill_checksum`] over the whole buffer, whatever the length field says:
    /// the full-recompute branch of `udp_dnat_handler()` / `udp_snat_handler()` sums
    /// `skb->len - udphoff` bytes and never reads the length field.
    #[inline]
    pub fn fill_checksum_whole(&mut self, family: Family, src: &InetAddr, dst: &InetAddr) {
        self.set_checksum(0);
        let c = checksum::csum_fold(datagram_sum(self.buffer.as_ref(), family, src, dst));
        self.set_checksum(checksum::udp_wire_checksum(c));
    }

    /// The payload, writable (`8 .. len`, clamped to the buffer).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        let b = self.buffer.as_mut();
        let end = end.min(b.len());
        b.get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }
}

/// The meaning of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl UdpRepr {
    /// Parses a checked datagram, verifying its checksum as
    /// [`UdpPacket::verify_checksum`] does.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(
        packet: &UdpPacket<T>,
        family: Family,
        src: &InetAddr,
        dst: &InetAddr,
    ) -> Result<UdpRepr, Malformed> {
        packet.check_len()?;
        if !packet.verify_checksum(family, src, dst) {
            return Err(Malformed::BadChecksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    /// Length of the header [`UdpRepr::emit`] writes.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header for a payload of `payload_len` bytes already in place after it,
    /// and the checksum (a real one, also over IPv4).
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        payload_len: u16,
        family: Family,
        src: &InetAddr,
        dst: &InetAddr,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(payload_len.saturating_add(8));
        packet.fill_checksum(family, src, dst);
    }
}
