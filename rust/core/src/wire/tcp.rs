//! TCP header view.
//!
//! C headers: `include/uapi/linux/tcp.h` (`struct tcphdr`), `include/net/tcp.h`
//! (`tcp_v4_check()`), `include/net/ip6_checksum.h` (`tcp_v6_check()`).

use super::checksum;
use super::{get_be16, get_be32, set_be16, set_be32, Family, InetAddr, Malformed, IPPROTO_TCP};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// `FIN` flag.
pub const FLAG_FIN: u8 = 0x01;
/// `SYN` flag.
pub const FLAG_SYN: u8 = 0x02;
/// `RST` flag.
pub const FLAG_RST: u8 = 0x04;
/// `PSH` flag.
pub const FLAG_PSH: u8 = 0x08;
/// `ACK` flag.
pub const FLAG_ACK: u8 = 0x10;
/// `URG` flag.
pub const FLAG_URG: u8 = 0x20;
/// `ECE` flag.
pub const FLAG_ECE: u8 = 0x40;
/// `CWR` flag.
pub const FLAG_CWR: u8 = 0x80;

/// Field offsets of `struct tcphdr`.
mod field {
    use core::ops::Range;
    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const SEQ_NUM: Range<usize> = 4..8;
    pub(super) const ACK_NUM: Range<usize> = 8..12;
    pub(super) const DOFF_FLAGS: Range<usize> = 12..14;
    pub(super) const WIN_SIZE: Range<usize> = 14..16;
    pub(super) const CHECKSUM: Range<usize> = 16..18;
    pub(super) const URGENT: Range<usize> = 18..20;
}

/// Offset of the checksum field in the header (C's `offsetof(struct tcphdr, check)`, the
/// `csum_offset` of a `CHECKSUM_PARTIAL` skb).
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// A read/write view of a TCP segment: header, options and payload, the buffer being the
/// whole segment (its length is the segment length the checksum covers).
///
/// # Invariants
///
/// After [`TcpPacket::new_checked`]: `20 <= header_len <= buffer.len()`. Accessors never
/// panic, checked or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wraps a buffer after checking the header and its options are all there.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>, Malformed> {
        let p = TcpPacket::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`TcpPacket::new_checked`].
    pub fn check_len(&self) -> Result<(), Malformed> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(Malformed::Truncated)
        } else if self.header_len() < HEADER_LEN {
            Err(Malformed::BadLength)
        } else if len < self.header_len() {
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        get_be32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    /// Acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        get_be32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Header length in bytes (data offset × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(get_be16(self.buffer.as_ref(), field::DOFF_FLAGS) >> 12) * 4
    }

    /// The eight flag bits (`FLAG_*`).
    #[inline]
    pub fn flags(&self) -> u8 {
        (get_be16(self.buffer.as_ref(), field::DOFF_FLAGS) & 0xff) as u8
    }

    /// `th->syn`.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & FLAG_SYN != 0
    }

    /// `th->ack`.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & FLAG_ACK != 0
    }

    /// `th->fin`.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & FLAG_FIN != 0
    }

    /// `th->rst`.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & FLAG_RST != 0
    }

    /// Window size.
    #[inline]
    pub fn window_len(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::WIN_SIZE)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        get_be16(self.buffer.as_ref(), field::URGENT)
    }

    /// The options (clamped to the buffer).
    #[inline]
    pub fn options(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(HEADER_LEN..self.header_len().min(b.len()))
            .unwrap_or(&[])
    }

    /// The payload after the header and options.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(self.header_len()..).unwrap_or(&[])
    }

    /// Whether the checksum verifies for the segment carried between `src` and `dst`
    /// (`tcp_v4_check()` / `tcp_v6_check()` of the whole buffer is 0).
    #[inline]
    pub fn verify_checksum(&self, family: Family, src: &InetAddr, dst: &InetAddr) -> bool {
        checksum::verifies(segment_sum(self.buffer.as_ref(), family, src, dst))
    }
}

/// The sum of a whole segment plus its pseudo-header.
#[inline]
fn segment_sum(b: &[u8], family: Family, src: &InetAddr, dst: &InetAddr) -> u32 {
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    checksum::csum_partial(
        b,
        checksum::pseudo_header(family, src, dst, IPPROTO_TCP, len),
    )
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        set_be32(self.buffer.as_mut(), field::SEQ_NUM, value);
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        set_be32(self.buffer.as_mut(), field::ACK_NUM, value);
    }

    /// Sets the header length (bytes, a multiple of 4 up to 60) and the flags.
    #[inline]
    pub fn set_header_len_and_flags(&mut self, header_len: usize, flags: u8) {
        let doff = u16::try_from(header_len / 4).unwrap_or(0x0f).min(0x0f);
        set_be16(
            self.buffer.as_mut(),
            field::DOFF_FLAGS,
            (doff << 12) | u16::from(flags),
        );
    }

    /// Sets the window size.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::WIN_SIZE, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        set_be16(self.buffer.as_mut(), field::URGENT, value);
    }

    /// Computes and writes the checksum of the whole segment between `src` and `dst`
    /// (the full-recompute branch of `tcp_snat_handler()`).
    #[inline]
    pub fn fill_checksum(&mut self, family: Family, src: &InetAddr, dst: &InetAddr) {
        self.set_checksum(0);
        let c = checksum::csum_fold(segment_sum(self.buffer.as_ref(), family, src, dst));
        self.set_checksum(c);
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        self.buffer.as_mut().get_mut(start..).unwrap_or(&mut [])
    }
}

/// The meaning of a TCP header (options are not represented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgement number.
    pub ack_number: u32,
    /// Flags (`FLAG_*`).
    pub flags: u8,
    /// Window size.
    pub window_len: u16,
}

impl TcpRepr {
    /// Parses a checked segment, verifying its checksum between `src` and `dst`.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &TcpPacket<T>,
        family: Family,
        src: &InetAddr,
        dst: &InetAddr,
    ) -> Result<TcpRepr, Malformed> {
        packet.check_len()?;
        if !packet.verify_checksum(family, src, dst) {
            return Err(Malformed::BadChecksum);
        }
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
        })
    }

    /// Length of the header [`TcpRepr::emit`] writes.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header (urgent pointer 0) and, the payload being in place after
    /// it, the checksum of the whole buffer between `src` and `dst`.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        family: Family,
        src: &InetAddr,
        dst: &InetAddr,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        packet.set_header_len_and_flags(HEADER_LEN, self.flags);
        packet.set_window_len(self.window_len);
        packet.set_urgent_at(0);
        packet.fill_checksum(family, src, dst);
    }
}
