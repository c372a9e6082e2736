//! The Internet checksum: sums, folding, pseudo-headers and incremental updates.
//!
//! C headers: `include/net/checksum.h` (`csum_add()`, `csum_sub()`, `csum_replace2/4()`,
//! `inet_proto_csum_replace4/16()`), `include/asm-generic/checksum.h` (`csum_fold()`,
//! `csum_tcpudp_magic()`), `include/net/ip6_checksum.h` (`csum_ipv6_magic()`); RFC 1071,
//! RFC 1624 (incremental update), RFC 768 and RFC 8200 §8.1 (UDP zero checksum).
//!
//! # Numbers
//!
//! A *sum* (`u32`, C's `__wsum`) is an unfolded one's-complement sum of the data read as
//! big-endian 16-bit words. Unlike C's `__wsum`, which holds the sum of words in memory
//! order, it is a plain number: only its folded value is meaningful, and every function
//! here agrees on it. A *checksum* (`u16`, C's `__sum16`) is a folded, complemented sum,
//! as the header field reads big-endian (`u16::from_be_bytes(field)`).
//!
//! All arithmetic wraps explicitly: nothing here can overflow-panic, whatever the input.

use super::{Family, InetAddr};

/// `CSUM_MANGLED_0`: what a UDP checksum that computes to 0 is sent as (0 means "no
/// checksum" in UDP over IPv4, and is invalid in UDP over IPv6).
pub const CSUM_MANGLED_0: u16 = 0xffff;

/// `csum_add()`: one's-complement addition of two sums (end-around carry).
#[inline]
pub const fn csum_add(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(carry as u32)
}

/// `csum_sub()`: one's-complement subtraction (`a + ~b`).
#[inline]
pub const fn csum_sub(a: u32, b: u32) -> u32 {
    csum_add(a, !b)
}

/// Folds a sum to 16 bits without complementing it. Zero only for a zero sum; the folded
/// sum of a valid packet including its checksum is `0xffff`.
#[inline]
pub const fn fold(sum: u32) -> u16 {
    let s = (sum & 0xffff).wrapping_add(sum >> 16);
    let s = (s & 0xffff).wrapping_add(s >> 16);
    s as u16
}

/// `csum_fold()`: folds and complements a sum into a checksum.
#[inline]
pub const fn csum_fold(sum: u32) -> u16 {
    !fold(sum)
}

/// `csum_unfold()`: a checksum field as a sum.
#[inline]
pub const fn csum_unfold(check: u16) -> u32 {
    check as u32
}

/// `csum_partial()`: adds `data`, read as big-endian 16-bit words, to `sum`. An odd last
/// byte is the high byte of a word whose low byte is 0. To chain calls, cut `data` at even
/// offsets (a piece that starts at an odd offset would need its sum byte-swapped, C's
/// `csum_block_add()`).
pub fn csum_partial(data: &[u8], sum: u32) -> u32 {
    // 32-bit words into a 64-bit accumulator with end-around carry: the same value modulo
    // 0xffff as 16-bit words, and the carry keeps it exact for any length.
    let mut acc = u64::from(sum);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        if let &[a, b, c, d] = w {
            acc = add64(acc, u64::from(u32::from_be_bytes([a, b, c, d])));
        }
    }
    let mut tail = [0u8; 4];
    for (t, r) in tail.iter_mut().zip(words.remainder()) {
        *t = *r;
    }
    acc = add64(acc, u64::from(u32::from_be_bytes(tail)));
    csum_add((acc >> 32) as u32, acc as u32)
}

/// 64-bit one's-complement addition.
#[inline]
const fn add64(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(carry as u64)
}

/// The checksum of `data` alone (`csum_fold(csum_partial(data, 0))`), e.g. an IPv4 header
/// with its checksum field zeroed.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    csum_fold(csum_partial(data, 0))
}

/// Whether data whose sum (checksum field included) is `sum` verifies: C's
/// `csum_fold(sum) == 0`.
#[inline]
pub const fn verifies(sum: u32) -> bool {
    csum_fold(sum) == 0
}

/// The sum of a `len` as the pseudo-headers carry it: a 32-bit big-endian word (IPv6);
/// for IPv4, whose field is 16 bits, the same value when `len` fits.
#[inline]
const fn len_sum(len: u32) -> u32 {
    csum_add(len >> 16, len & 0xffff)
}

/// `csum_tcpudp_nofold()` with a zero sum: the IPv4 pseudo-header (source, destination,
/// zero, protocol, transport length).
#[inline]
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, len: u32) -> u32 {
    let s = csum_add(u32::from_be_bytes(src), u32::from_be_bytes(dst));
    csum_add(s, csum_add(u32::from(protocol), len_sum(len)))
}

/// The IPv6 pseudo-header (RFC 8200 §8.1: source, destination, 32-bit upper-layer length,
/// 24 zero bits, next header): `csum_ipv6_magic()` before the fold.
#[inline]
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], protocol: u8, len: u32) -> u32 {
    let s = csum_partial(dst, csum_partial(src, 0));
    csum_add(s, csum_add(u32::from(protocol), len_sum(len)))
}

/// The pseudo-header of `family` with addresses as [`InetAddr`] (IPv4 in the first four
/// bytes).
#[inline]
pub fn pseudo_header(
    family: Family,
    src: &InetAddr,
    dst: &InetAddr,
    protocol: u8,
    len: u32,
) -> u32 {
    match family {
        Family::Ipv4 => pseudo_header_v4(super::v4(src), super::v4(dst), protocol, len),
        Family::Ipv6 => pseudo_header_v6(&src.0, &dst.0, protocol, len),
    }
}

/// `csum_tcpudp_magic()`: the checksum of an IPv4 pseudo-header plus `sum`.
#[inline]
pub fn csum_tcpudp_magic(src: [u8; 4], dst: [u8; 4], len: u32, protocol: u8, sum: u32) -> u16 {
    csum_fold(csum_add(pseudo_header_v4(src, dst, protocol, len), sum))
}

/// `csum_ipv6_magic()`: the checksum of an IPv6 pseudo-header plus `sum`.
#[inline]
pub fn csum_ipv6_magic(src: &[u8; 16], dst: &[u8; 16], len: u32, protocol: u8, sum: u32) -> u16 {
    csum_fold(csum_add(pseudo_header_v6(src, dst, protocol, len), sum))
}

/// RFC 1624 eqn. 3 for a field of any even length: the checksum after the bytes `old`
/// covered by `check` became `new`, `HC' = ~(~HC + ~m + m')`
/// (`inet_proto_csum_replace16()` with `pseudohdr` false and no `CHECKSUM_PARTIAL`).
/// `old` and `new` must have the same length and start at an even offset of the data.
#[inline]
pub fn csum_replace(check: u16, old: &[u8], new: &[u8]) -> u16 {
    csum_fold(csum_diff(old, new, !csum_unfold(check)))
}

/// `sum` plus the difference `new - old` of two equally long byte strings (C's
/// `ip_vs_check_diff4()` / `ip_vs_check_diff16()`: `csum_partial({~old, new}, sum)`).
#[inline]
pub fn csum_diff(old: &[u8], new: &[u8], sum: u32) -> u32 {
    csum_sub(csum_partial(new, sum), csum_partial(old, 0))
}

/// [`csum_diff`] of a 4-byte field (an IPv4 address) as one word: the same value, without
/// the loops.
#[inline]
pub const fn csum_diff4(old: [u8; 4], new: [u8; 4], sum: u32) -> u32 {
    csum_sub(
        csum_add(sum, u32::from_be_bytes(new)),
        u32::from_be_bytes(old),
    )
}

/// [`csum_diff`] of a 2-byte field (a port), as [`csum_partial`] reads it: the high half
/// of a word.
#[inline]
pub const fn csum_diff2(old: u16, new: u16, sum: u32) -> u32 {
    csum_sub(csum_add(sum, (new as u32) << 16), (old as u32) << 16)
}

/// `csum_replace2()`: the checksum after a 16-bit field changed from `old` to `new`, in C's
/// 16-bit arithmetic.
#[inline]
pub const fn csum_replace2(check: u16, old: u16, new: u16) -> u16 {
    !csum16_add(csum16_add(!check, !old), new)
}

/// `csum16_add()`: 16-bit one's-complement addition.
#[inline]
const fn csum16_add(a: u16, b: u16) -> u16 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(carry as u16)
}

/// `csum_replace4()`: the checksum after a 32-bit field (an IPv4 address) changed.
#[inline]
pub fn csum_replace4(check: u16, old: [u8; 4], new: [u8; 4]) -> u16 {
    csum_replace(check, &old, &new)
}

/// The checksum after a 128-bit field (an IPv6 address) changed
/// (`inet_proto_csum_replace16()` on a field that holds a real checksum).
#[inline]
pub fn csum_replace16(check: u16, old: &[u8; 16], new: &[u8; 16]) -> u16 {
    csum_replace(check, old, new)
}

/// The same update for a checksum field that holds a *pseudo-header sum*, as a transport
/// header of a `CHECKSUM_PARTIAL` skb does (the folded, uncomplemented sum the device or
/// `skb_checksum_help()` adds the rest to): `~csum_fold(diff + csum_unfold(check))`, C's
/// `tcp_partial_csum_update()` / `inet_proto_csum_replace*()` under `CHECKSUM_PARTIAL`.
#[inline]
pub fn pseudo_sum_replace(field: u16, old: &[u8], new: &[u8]) -> u16 {
    !csum_fold(csum_diff(old, new, csum_unfold(field)))
}

/// A computed UDP checksum as it goes on the wire: 0 becomes [`CSUM_MANGLED_0`].
#[inline]
pub const fn udp_wire_checksum(computed: u16) -> u16 {
    if computed == 0 {
        CSUM_MANGLED_0
    } else {
        computed
    }
}
