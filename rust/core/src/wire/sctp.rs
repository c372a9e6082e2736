//! SCTP: the common header view, chunk headers, the CRC32c checksum, and the port rewrite
//! of NAT with C's rule for when the CRC is recomputed.
//!
//! C headers: `include/linux/sctp.h` (`struct sctphdr`, `struct sctp_chunkhdr`,
//! `enum sctp_cid`), `include/net/sctp/checksum.h` (`sctp_compute_cksum()`); C sources:
//! `net/netfilter/ipvs/ip_vs_proto_sctp.c` (`sctp_snat_handler()`, `sctp_dnat_handler()`,
//! `sctp_nat_csum()`, `sctp_csum_check()`); RFC 9260 §3 (formerly RFC 4960), RFC 3309 and
//! RFC 4960 appendix B (CRC32c), RFC 3720 §B.4 (CRC32c test vectors).
//!
//! # The checksum
//!
//! SCTP's checksum is CRC32c (Castagnoli, reflected polynomial `0x82F63B78`) over the whole
//! SCTP packet, common header with its checksum field taken as zero, initial value
//! `0xffffffff`, final complement; it covers no pseudo-header, so rewriting IP addresses
//! never touches it, and rewriting a port needs a full recompute (CRC32c has no cheap
//! incremental update). Linux stores the CRC value little-endian in the field
//! (`cpu_to_le32()` of `~crc32c(~0, ...)`), which puts its bytes in the order RFC 4960
//! appendix B prescribes. Here a checksum is that `u32` value: the field reads
//! `u32::from_le_bytes(field)`.

use super::packet::read_array;
use super::{get_array, get_be16, get_be32, set_array, set_be16, Malformed, PacketRead};

/// Length of the common header (`sizeof(struct sctphdr)`).
pub const HEADER_LEN: usize = 12;
/// Length of a chunk header (`sizeof(struct sctp_chunkhdr)`).
pub const CHUNK_HEADER_LEN: usize = 4;

/// Offset of the checksum field in the common header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// Chunk types (`enum sctp_cid`, `include/linux/sctp.h`).
pub mod chunk_type {
    /// `SCTP_CID_DATA`.
    pub const DATA: u8 = 0;
    /// `SCTP_CID_INIT`.
    pub const INIT: u8 = 1;
    /// `SCTP_CID_INIT_ACK`.
    pub const INIT_ACK: u8 = 2;
    /// `SCTP_CID_SACK`.
    pub const SACK: u8 = 3;
    /// `SCTP_CID_HEARTBEAT`.
    pub const HEARTBEAT: u8 = 4;
    /// `SCTP_CID_HEARTBEAT_ACK`.
    pub const HEARTBEAT_ACK: u8 = 5;
    /// `SCTP_CID_ABORT`.
    pub const ABORT: u8 = 6;
    /// `SCTP_CID_SHUTDOWN`.
    pub const SHUTDOWN: u8 = 7;
    /// `SCTP_CID_SHUTDOWN_ACK`.
    pub const SHUTDOWN_ACK: u8 = 8;
    /// `SCTP_CID_ERROR`.
    pub const ERROR: u8 = 9;
    /// `SCTP_CID_COOKIE_ECHO`.
    pub const COOKIE_ECHO: u8 = 10;
    /// `SCTP_CID_COOKIE_ACK`.
    pub const COOKIE_ACK: u8 = 11;
    /// `SCTP_CID_ECN_ECNE`.
    pub const ECN_ECNE: u8 = 12;
    /// `SCTP_CID_ECN_CWR`.
    pub const ECN_CWR: u8 = 13;
    /// `SCTP_CID_SHUTDOWN_COMPLETE`.
    pub const SHUTDOWN_COMPLETE: u8 = 14;
    /// `SCTP_CID_AUTH`.
    pub const AUTH: u8 = 0x0f;
    /// `SCTP_CID_I_DATA`.
    pub const I_DATA: u8 = 0x40;
    /// `SCTP_CID_ASCONF_ACK`.
    pub const ASCONF_ACK: u8 = 0x80;
    /// `SCTP_CID_RECONF`.
    pub const RECONF: u8 = 0x82;
    /// `SCTP_CID_PAD`.
    pub const PAD: u8 = 0x84;
    /// `SCTP_CID_FWD_TSN`.
    pub const FWD_TSN: u8 = 0xc0;
    /// `SCTP_CID_ASCONF`.
    pub const ASCONF: u8 = 0xc1;
    /// `SCTP_CID_I_FWD_TSN`.
    pub const I_FWD_TSN: u8 = 0xc2;
}

/// Field offsets of `struct sctphdr` and of the first `struct sctp_chunkhdr` after it.
mod field {
    use core::ops::Range;
    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const VTAG: Range<usize> = 4..8;
    pub(super) const CHECKSUM: Range<usize> = 8..12;
    pub(super) const CHUNK_TYPE: usize = 12;
    pub(super) const CHUNK_FLAGS: usize = 13;
    pub(super) const CHUNK_LEN: Range<usize> = 14..16;
}

/// A chunk header (`struct sctp_chunkhdr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkHeader {
    /// Chunk type ([`chunk_type`]).
    pub chunk_type: u8,
    /// Chunk flags.
    pub flags: u8,
    /// Length field: header plus value, without padding.
    pub length: u16,
}

impl ChunkHeader {
    /// The chunk header in the 4 bytes `b`.
    #[inline]
    pub const fn from_bytes(b: [u8; CHUNK_HEADER_LEN]) -> ChunkHeader {
        ChunkHeader {
            chunk_type: b[0],
            flags: b[1],
            length: u16::from_be_bytes([b[2], b[3]]),
        }
    }
}

/// A read/write view of an SCTP packet (common header and chunks) at the start of a
/// buffer; the buffer is the whole packet, as far as the checksum is concerned.
///
/// # Invariants
///
/// After [`SctpPacket::new_checked`]: the common header is in the buffer. Accessors never
/// panic, checked or not (missing bytes read as zero, writes past the end do nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SctpPacket<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> SctpPacket<T> {
        SctpPacket { buffer }
    }

    /// Wraps a buffer that holds at least the common header. (A packet without a chunk is
    /// accepted here; [`SctpPacket::first_chunk`] says whether there is one.)
    #[inline]
    pub fn new_checked(buffer: T) -> Result<SctpPacket<T>, Malformed> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Malformed::Truncated);
        }
        Ok(SctpPacket { buffer })
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

    /// Verification tag.
    #[inline]
    pub fn verification_tag(&self) -> u32 {
        get_be32(self.buffer.as_ref(), field::VTAG)
    }

    /// The checksum field, as the CRC value it holds (little-endian, see the module doc).
    #[inline]
    pub fn checksum(&self) -> u32 {
        u32::from_le_bytes(get_array(self.buffer.as_ref(), field::CHECKSUM))
    }

    /// The first chunk's header, if all of it is in the buffer (what `sctp_conn_schedule()`,
    /// `set_sctp_state()` and `is_new_conn()` read). C reads nothing more of an INIT than
    /// its type: no initiate tag, no parameters.
    #[inline]
    pub fn first_chunk(&self) -> Option<ChunkHeader> {
        read_array::<[u8], CHUNK_HEADER_LEN>(self.buffer.as_ref(), field::CHUNK_TYPE)
            .map(ChunkHeader::from_bytes)
    }

    /// The CRC32c of the packet as `sctp_compute_cksum()` computes it: the whole buffer,
    /// the checksum field taken as zero (the field itself is not read).
    #[inline]
    pub fn compute_checksum(&self) -> u32 {
        checksum(self.buffer.as_ref())
    }

    /// Whether the checksum field matches the packet (`sctp_csum_check()`, which C runs
    /// only before an application helper mangles the payload).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        self.buffer.as_ref().len() >= HEADER_LEN && self.checksum() == self.compute_checksum()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SctpPacket<T> {
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

    /// Sets the verification tag.
    #[inline]
    pub fn set_verification_tag(&mut self, value: u32) {
        super::set_be32(self.buffer.as_mut(), field::VTAG, value);
    }

    /// Writes a CRC value into the checksum field (little-endian).
    #[inline]
    pub fn set_checksum(&mut self, crc: u32) {
        set_array(self.buffer.as_mut(), field::CHECKSUM, crc.to_le_bytes());
    }

    /// Sets the first chunk header (type, flags, length) at offset 12.
    #[inline]
    pub fn set_first_chunk(&mut self, c: ChunkHeader) {
        let b = self.buffer.as_mut();
        super::set_u8(b, field::CHUNK_TYPE, c.chunk_type);
        super::set_u8(b, field::CHUNK_FLAGS, c.flags);
        set_be16(b, field::CHUNK_LEN, c.length);
    }

    /// `sctp_nat_csum()`: computes the checksum over the whole buffer and writes it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let c = self.compute_checksum();
        self.set_checksum(c);
    }
}

// ---- CRC32c ---------------------------------------------------------------------------

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82f6_3b78;

/// Slicing-by-8 tables: `TABLES[0]` is the byte table, `TABLES[k][b]` the CRC of byte `b`
/// followed by `k` zero bytes.
static TABLES: [[u32; 256]; 8] = make_tables();

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

/// One byte-table step.
#[inline]
fn byte_step(crc: u32, b: u8) -> u32 {
    // The index is a u8: always below 256.
    (crc >> 8) ^ TABLES[0][usize::from((crc as u8) ^ b)]
}

/// The kernel's `crc32c(crc, data, len)` (`__crc32c_le()`): the CRC register after feeding
/// `data` to a register holding `crc`, without the initial or final complement.
pub fn crc32c_update(crc: u32, data: &[u8]) -> u32 {
    let mut crc = crc;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        // chunks_exact(8) yields 8 bytes: the default is never used.
        let [b0, b1, b2, b3, b4, b5, b6, b7] = <[u8; 8]>::try_from(c).unwrap_or_default();
        let lo = crc ^ u32::from_le_bytes([b0, b1, b2, b3]);
        // Each index is a byte: always below 256.
        crc = TABLES[7][(lo & 0xff) as usize]
            ^ TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][usize::from(b4)]
            ^ TABLES[2][usize::from(b5)]
            ^ TABLES[1][usize::from(b6)]
            ^ TABLES[0][usize::from(b7)];
    }
    for &b in chunks.remainder() {
        crc = byte_step(crc, b);
    }
    crc
}

/// CRC32c of `data` (RFC 3720 §B.4: initial `0xffffffff`, final complement).
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}

/// `sctp_compute_cksum()` of an SCTP packet held whole in `pkt` (from the common header to
/// the end): CRC32c with the checksum field (bytes 8..12) taken as zero, whatever it
/// holds. A buffer shorter than the header is summed as it is.
pub fn checksum(pkt: &[u8]) -> u32 {
    let (head, rest) = pkt.split_at(pkt.len().min(CHECKSUM_OFFSET));
    let mut crc = crc32c_update(!0, head);
    if let Some(after) = rest.get(4..) {
        crc = crc32c_update(crc, &[0; 4]);
        crc = crc32c_update(crc, after);
    } else {
        crc = crc32c_update(crc, rest);
    }
    !crc
}

/// [`checksum`] of the SCTP packet at `l4_off` of a packet that may not be contiguous (an
/// skb with page fragments): `sctp_compute_cksum(skb, l4_off)`, covering everything from
/// `l4_off` to the packet's end. Reads in blocks through [`PacketRead`]. `None` if the
/// common header is not all in the packet.
pub fn checksum_packet<P: PacketRead + ?Sized>(pkt: &P, l4_off: usize) -> Option<u32> {
    let end = pkt.packet_len();
    if end < l4_off.checked_add(HEADER_LEN)? {
        return None;
    }
    let mut hdr = [0u8; HEADER_LEN];
    if !pkt.read(l4_off, &mut hdr) {
        return None;
    }
    let mut crc = crc32c_update(!0, hdr.get(..CHECKSUM_OFFSET).unwrap_or(&[]));
    crc = crc32c_update(crc, &[0; 4]);
    let mut at = l4_off.saturating_add(HEADER_LEN);
    let mut block = [0u8; 256];
    while at < end {
        let n = (end - at).min(block.len());
        let buf = block.get_mut(..n).unwrap_or(&mut []);
        if !pkt.read(at, buf) {
            return None;
        }
        crc = crc32c_update(crc, buf);
        at += n;
    }
    Some(!crc)
}

// ---- NAT ------------------------------------------------------------------------------

/// What C knows about the skb when it NATs an SCTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsumContext {
    /// `skb->ip_summed == CHECKSUM_PARTIAL`: the CRC is left for the device (or for
    /// `skb_checksum_help()`) to compute.
    pub partial: bool,
    /// `skb_is_gso(skb)`: segmentation computes each segment's CRC; C then writes the port
    /// but not the CRC.
    pub gso: bool,
    /// DNAT only: `skb_dst(skb)->dev->features & NETIF_F_SCTP_CRC`, the output device
    /// computes SCTP CRCs, so a `CHECKSUM_PARTIAL` packet whose port does not change is
    /// left to it.
    pub dev_sctp_crc: bool,
    /// An application helper mangled the payload (`ip_vs_app_pkt_*()` returned 2). ipvs_rs
    /// has no SCTP helpers; kept so the decision reads as C's.
    pub payload_mangled: bool,
}

/// How the SCTP checksum was handled, and what the caller does with `skb->ip_summed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SctpCsum {
    /// Port written, CRC recomputed over the whole packet (`sctp_nat_csum()`): set
    /// `CHECKSUM_UNNECESSARY`.
    Recomputed,
    /// As [`SctpCsum::Recomputed`], but the buffer held only the head of the packet: the
    /// port is written and the CRC is *not*. The caller computes [`checksum_packet`] over
    /// the whole packet (after the port write), stores it with [`SctpPacket::set_checksum`]
    /// and sets `CHECKSUM_UNNECESSARY`. (The whole-packet variant of `sctp_nat_csum()`;
    /// the hook for an skb whose payload is in page fragments.)
    Pending,
    /// GSO: the port is written, the CRC left for segmentation; `ip_summed` untouched.
    Gso,
    /// The port already had the value and nothing forced a recompute: nothing is written,
    /// and C sets `CHECKSUM_UNNECESSARY` (without verifying the CRC).
    Unchanged,
    /// DNAT of a `CHECKSUM_PARTIAL` packet whose port already had the value, to a device
    /// that computes SCTP CRCs: nothing is written, `ip_summed` stays `CHECKSUM_PARTIAL`.
    LeftToDevice,
}

/// The decision of `sctp_snat_handler()` / `sctp_dnat_handler()`: "Only update csum if we
/// really have to". `port_differs` is `sctph->source != cp->vport` (SNAT) or
/// `sctph->dest != cp->dport` (DNAT). [`SctpCsum::Pending`] is never returned here.
fn decide(port_differs: bool, ctx: CsumContext, dnat: bool) -> SctpCsum {
    let forced = if dnat {
        ctx.partial && !ctx.dev_sctp_crc
    } else {
        ctx.partial
    };
    if port_differs || ctx.payload_mangled || forced {
        if ctx.gso {
            SctpCsum::Gso
        } else {
            SctpCsum::Recomputed
        }
    } else if dnat && ctx.partial {
        SctpCsum::LeftToDevice
    } else {
        SctpCsum::Unchanged
    }
}

/// The SCTP part of `sctp_snat_handler()`: the source port of the SCTP packet at the start
/// of `l4` becomes `sport`, and the CRC is recomputed when C recomputes it. `l4` runs from
/// the common header to the packet's end when `complete`, else it is only the head (at
/// least the common header): a recompute then returns [`SctpCsum::Pending`].
///
/// [`Malformed::Truncated`] (nothing written) if the common header is not all in `l4`
/// (C: `skb_ensure_writable()` fails and the packet is dropped).
#[inline]
pub fn snat_l4(
    l4: &mut [u8],
    complete: bool,
    sport: u16,
    ctx: CsumContext,
) -> Result<SctpCsum, Malformed> {
    let p = SctpPacket::new_checked(&*l4)?;
    let d = decide(p.src_port() != sport, ctx, false);
    Ok(apply(l4, complete, d, |p| p.set_src_port(sport)))
}

/// The SCTP part of `sctp_dnat_handler()`: the destination port becomes `dport`; see
/// [`snat_l4`].
#[inline]
pub fn dnat_l4(
    l4: &mut [u8],
    complete: bool,
    dport: u16,
    ctx: CsumContext,
) -> Result<SctpCsum, Malformed> {
    let p = SctpPacket::new_checked(&*l4)?;
    let d = decide(p.dst_port() != dport, ctx, true);
    Ok(apply(l4, complete, d, |p| p.set_dst_port(dport)))
}

fn apply(
    l4: &mut [u8],
    complete: bool,
    d: SctpCsum,
    write_port: impl Fn(&mut SctpPacket<&mut [u8]>),
) -> SctpCsum {
    let mut p = SctpPacket::new_unchecked(l4);
    match d {
        SctpCsum::Recomputed | SctpCsum::Gso => {
            write_port(&mut p);
            if d == SctpCsum::Gso {
                SctpCsum::Gso
            } else if complete {
                p.fill_checksum();
                SctpCsum::Recomputed
            } else {
                SctpCsum::Pending
            }
        }
        other => other,
    }
}
