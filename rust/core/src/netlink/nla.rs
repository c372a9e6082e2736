//! Netlink attributes: a typed view, the kernel's iteration rule, and an emitter.
//!
//! C headers: `include/uapi/linux/netlink.h` (`struct nlattr`, `NLA_F_*`),
//! `include/net/netlink.h` (`nla_ok()`, `nla_next()`, `nla_put*()`, `nla_nest_*()`).
//!
//! An attribute is a 4-byte header — `nla_len: u16` (header included, padding excluded) and
//! `nla_type: u16`, both in host byte order — followed by the payload and zero padding up to
//! the next multiple of [`NLA_ALIGNTO`]. The top two bits of `nla_type` are flags
//! ([`NLA_F_NESTED`], [`NLA_F_NET_BYTEORDER`]) that `nla_type()` masks off.

use super::Errno;

/// `NLA_ALIGNTO`: attributes start on 4-byte boundaries.
pub const NLA_ALIGNTO: usize = 4;
/// `NLA_HDRLEN`: size of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;
/// `NLA_F_NESTED`: the payload is a stream of attributes.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// `NLA_F_NET_BYTEORDER`: the payload is in network byte order.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// `NLA_TYPE_MASK`: what `nla_type()` keeps.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// `NLA_ALIGN()`, saturating instead of wrapping for absurd lengths.
pub const fn nla_align(len: usize) -> usize {
    len.saturating_add(NLA_ALIGNTO - 1) & !(NLA_ALIGNTO - 1)
}

/// `nla_total_size()`: header + payload + padding.
pub const fn nla_total_size(payload: usize) -> usize {
    nla_align(NLA_HDRLEN.saturating_add(payload))
}

/// Field offsets of `struct nlattr`.
mod field {
    use core::ops::Range;
    pub(super) const LENGTH: Range<usize> = 0..2;
    pub(super) const TYPE: Range<usize> = 2..4;
    pub(super) const PAYLOAD: usize = 4;
}

/// Why a buffer does not hold a well-formed attribute (the three ways `nla_ok()` fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NlaError {
    /// Fewer than [`NLA_HDRLEN`] bytes.
    Truncated,
    /// `nla_len` smaller than the header itself.
    LengthTooSmall,
    /// `nla_len` beyond the end of the buffer.
    LengthTooLarge,
}

/// A read/write view of one netlink attribute at the start of a buffer.
///
/// # Invariants
///
/// After [`Nla::new_checked`], `4 <= nla_len <= buffer.len()`. Accessors never panic even on
/// an unchecked view: out-of-range reads yield zero or an empty payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nla<T: AsRef<[u8]>> {
    buffer: T,
}

fn read_u16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    match b.get(r) {
        Some(&[lo, hi]) => u16::from_ne_bytes([lo, hi]),
        _ => 0,
    }
}

impl<T: AsRef<[u8]>> Nla<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Nla<T> {
        Nla { buffer }
    }

    /// Wraps a buffer after the checks of `nla_ok()`.
    pub fn new_checked(buffer: T) -> Result<Nla<T>, NlaError> {
        let nla = Nla::new_unchecked(buffer);
        nla.check_len()?;
        Ok(nla)
    }

    /// `nla_ok()` as a `Result`.
    pub fn check_len(&self) -> Result<(), NlaError> {
        let len = self.buffer.as_ref().len();
        if len < NLA_HDRLEN {
            return Err(NlaError::Truncated);
        }
        let nla_len = usize::from(self.len());
        if nla_len < NLA_HDRLEN {
            Err(NlaError::LengthTooSmall)
        } else if nla_len > len {
            Err(NlaError::LengthTooLarge)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `nla_len`: header plus payload, without padding.
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the payload is empty (`nla_len == NLA_HDRLEN`).
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= NLA_HDRLEN
    }

    /// `nla_type` including the flag bits.
    pub fn raw_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TYPE)
    }

    /// `nla_type()`: the type without [`NLA_F_NESTED`] / [`NLA_F_NET_BYTEORDER`].
    pub fn kind(&self) -> u16 {
        self.raw_type() & NLA_TYPE_MASK
    }

    /// [`NLA_F_NESTED`] is set.
    pub fn is_nested(&self) -> bool {
        self.raw_type() & NLA_F_NESTED != 0
    }

    /// [`NLA_F_NET_BYTEORDER`] is set.
    pub fn is_net_byteorder(&self) -> bool {
        self.raw_type() & NLA_F_NET_BYTEORDER != 0
    }

    /// `nla_data()` for `nla_len() == len - NLA_HDRLEN` bytes (clamped to the buffer).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.len()).min(b.len());
        b.get(field::PAYLOAD..end).unwrap_or(&[])
    }

    /// `NLA_ALIGN(nla_len)`: how far `nla_next()` advances.
    pub fn total_len(&self) -> usize {
        nla_align(usize::from(self.len()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Nla<T> {
    /// Sets `nla_len` (no-op on a buffer shorter than the header).
    pub fn set_len(&mut self, value: u16) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::LENGTH) {
            b.copy_from_slice(&value.to_ne_bytes());
        }
    }

    /// Sets `nla_type`, flags included (no-op on a buffer shorter than the header).
    pub fn set_raw_type(&mut self, value: u16) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::TYPE) {
            b.copy_from_slice(&value.to_ne_bytes());
        }
    }

    /// The payload, writable (clamped to the buffer).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        let b = self.buffer.as_mut();
        let end = end.min(b.len());
        match b.get_mut(field::PAYLOAD..end) {
            Some(p) => p,
            None => &mut [],
        }
    }
}

/// One attribute found in a stream, with its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// Offset of the header from the start of the outermost stream being parsed.
    pub offset: usize,
    /// The attribute, exactly `nla_len` bytes.
    pub nla: Nla<&'a [u8]>,
}

impl<'a> Attr<'a> {
    /// The attribute at the start of `buf` (header included), checked like `nla_ok()` and
    /// cut to `nla_len` bytes; `offset` is where `buf` starts in the stream, for extack
    /// offsets (0 if unknown). For the glue, which receives attributes from the kernel.
    pub fn from_bytes(buf: &'a [u8], offset: usize) -> Result<Attr<'a>, NlaError> {
        let nla = Nla::new_checked(buf)?;
        let len = usize::from(nla.len());
        Ok(Attr {
            offset,
            nla: Nla::new_unchecked(buf.get(..len).unwrap_or(buf)),
        })
    }

    /// `nla_type()`.
    pub fn kind(&self) -> u16 {
        self.nla.kind()
    }

    /// `nla_data()`, `nla_len()` bytes.
    pub fn payload(&self) -> &'a [u8] {
        let b: &'a [u8] = self.nla.into_inner();
        let end = usize::from(self.nla.len()).min(b.len());
        b.get(NLA_HDRLEN..end).unwrap_or(&[])
    }

    /// The nested attributes of this one (`nla_for_each_nested()`).
    pub fn nested(&self) -> NlaIter<'a> {
        NlaIter::with_base(self.payload(), self.offset + NLA_HDRLEN)
    }

    fn first<const K: usize>(&self) -> Option<[u8; K]> {
        self.payload().get(..K)?.try_into().ok()
    }

    /// `nla_get_u8()`; `None` if the payload is shorter (the policy rules that out).
    pub fn get_u8(&self) -> Option<u8> {
        self.first::<1>().map(|[b]| b)
    }

    /// `nla_get_u16()`: first two payload bytes, host order.
    pub fn get_u16(&self) -> Option<u16> {
        self.first::<2>().map(u16::from_ne_bytes)
    }

    /// `nla_get_u32()`: first four payload bytes, host order.
    pub fn get_u32(&self) -> Option<u32> {
        self.first::<4>().map(u32::from_ne_bytes)
    }

    /// `nla_get_u64()`: first eight payload bytes, host order.
    pub fn get_u64(&self) -> Option<u64> {
        self.first::<8>().map(u64::from_ne_bytes)
    }

    /// `ntohs(nla_get_be16())`: first two payload bytes, network order.
    pub fn get_be16(&self) -> Option<u16> {
        self.first::<2>().map(u16::from_be_bytes)
    }

    /// The first four payload bytes, raw (`nla_get_be32()` / `nla_get_in_addr()`).
    pub fn get_raw32(&self) -> Option<[u8; 4]> {
        self.first::<4>()
    }

    /// `nla_memcpy(dst, nla, N)`: copies `min(N, nla_len())` bytes and zeroes the rest.
    pub fn memcpy<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        let p = self.payload();
        let n = p.len().min(N);
        out[..n].copy_from_slice(&p[..n]);
        out
    }
}

/// Iterator over an attribute stream with the rule of `nla_for_each_attr()`.
///
/// It stops at the first position where `nla_ok()` fails (fewer than 4 bytes left, `nla_len`
/// below 4 or beyond the remaining bytes); the bytes not consumed are then
/// [`NlaIter::leftover`], which the kernel warns about. Advancing by `NLA_ALIGN(nla_len)` may
/// overshoot the end by up to 3 bytes; like C's `int rem` going negative, that is not leftover.
#[derive(Debug, Clone)]
pub struct NlaIter<'a> {
    buf: &'a [u8],
    base: usize,
    pos: usize,
    rem: isize,
}

impl<'a> NlaIter<'a> {
    /// Iterates over `buf`; offsets are reported relative to `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_base(buf, 0)
    }

    /// Iterates over `buf`, which starts `base` bytes into the outermost stream.
    pub fn with_base(buf: &'a [u8], base: usize) -> Self {
        // A slice is at most isize::MAX bytes long.
        let rem = isize::try_from(buf.len()).unwrap_or(isize::MAX);
        NlaIter {
            buf,
            base,
            pos: 0,
            rem,
        }
    }

    /// Bytes remaining that did not form an attribute (C's `rem` when positive). Meaningful
    /// once `next()` has returned `None`.
    pub fn leftover(&self) -> usize {
        usize::try_from(self.rem).unwrap_or(0)
    }
}

impl<'a> Iterator for NlaIter<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        if self.rem < NLA_HDRLEN as isize {
            return None;
        }
        let rest = self.buf.get(self.pos..)?;
        let nla_len = usize::from(read_u16(rest, field::LENGTH));
        if nla_len < NLA_HDRLEN || nla_len as isize > self.rem {
            return None;
        }
        let nla = Nla::new_unchecked(rest.get(..nla_len)?);
        let item = Attr {
            offset: self.base + self.pos,
            nla,
        };
        let step = nla_align(nla_len);
        self.pos += step;
        self.rem -= step as isize;
        Some(item)
    }
}

/// Where the emitter must insert 64-bit alignment padding (`nla_put_64bit()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pad64 {
    /// Never: `CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS` (x86_64, arm64 — every ipvs-rs target).
    #[default]
    Never,
    /// Architectures without efficient unaligned access: pad when the tail pointer is
    /// 8-byte aligned. `buf_addr_mod8` is the address of `buf[0]` modulo 8.
    WhenAligned {
        /// Alignment of the buffer start.
        buf_addr_mod8: u8,
    },
}

/// A position in an [`Emitter`] to roll back to (`nlmsg_trim()` / `nla_nest_cancel()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark(usize);

/// An open nest started by [`Emitter::nest_start`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a nest must be closed with nest_end or nest_cancel"]
pub struct Nest(usize);

/// Writes attributes into a caller-provided buffer, like `nla_put*()` into skb tailroom.
///
/// Every `put` either writes a whole attribute (zero-padded to 4 bytes) or nothing and
/// returns [`Errno::Emsgsize`], as `nla_put()` does when `skb_tailroom() <
/// nla_total_size()`. The written bytes are `buf[..len()]`.
#[derive(Debug)]
pub struct Emitter<'b> {
    buf: &'b mut [u8],
    pos: usize,
    pad64: Pad64,
}

impl<'b> Emitter<'b> {
    /// An emitter at the start of `buf`, without 64-bit padding.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Emitter {
            buf,
            pos: 0,
            pad64: Pad64::Never,
        }
    }

    /// An emitter with an explicit 64-bit padding rule.
    pub fn with_pad64(buf: &'b mut [u8], pad64: Pad64) -> Self {
        Emitter { buf, pos: 0, pad64 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// Nothing written yet.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Bytes still free (`skb_tailroom()`).
    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    /// The current position, to [`Emitter::rollback`] to.
    pub fn mark(&self) -> Mark {
        Mark(self.pos)
    }

    /// Forgets everything written after `mark` (`nlmsg_trim()`).
    pub fn rollback(&mut self, mark: Mark) {
        if mark.0 <= self.pos {
            self.pos = mark.0;
        }
    }

    /// `__nla_reserve()` after the tailroom check: header, zeroed payload and padding.
    fn reserve(&mut self, kind: u16, payload_len: usize) -> Result<&mut [u8], Errno> {
        let total = nla_total_size(payload_len);
        let nla_len = u16::try_from(NLA_HDRLEN + payload_len).map_err(|_| Errno::Emsgsize)?;
        if self.tailroom() < total {
            return Err(Errno::Emsgsize);
        }
        let start = self.pos;
        let area = &mut self.buf[start..start + total];
        area[field::LENGTH].copy_from_slice(&nla_len.to_ne_bytes());
        area[field::TYPE].copy_from_slice(&kind.to_ne_bytes());
        area[field::PAYLOAD..].fill(0);
        self.pos += total;
        Ok(&mut area[field::PAYLOAD..field::PAYLOAD + payload_len])
    }

    /// `nla_put()`: an attribute with `data` as payload.
    pub fn put(&mut self, kind: u16, data: &[u8]) -> Result<(), Errno> {
        self.reserve(kind, data.len())?.copy_from_slice(data);
        Ok(())
    }

    /// `nla_put_flag()`: an attribute without payload.
    pub fn put_flag(&mut self, kind: u16) -> Result<(), Errno> {
        self.put(kind, &[])
    }

    /// `nla_put_u8()`.
    pub fn put_u8(&mut self, kind: u16, v: u8) -> Result<(), Errno> {
        self.put(kind, &[v])
    }

    /// `nla_put_u16()`: host byte order.
    pub fn put_u16(&mut self, kind: u16, v: u16) -> Result<(), Errno> {
        self.put(kind, &v.to_ne_bytes())
    }

    /// `nla_put_u32()`: host byte order.
    pub fn put_u32(&mut self, kind: u16, v: u32) -> Result<(), Errno> {
        self.put(kind, &v.to_ne_bytes())
    }

    /// `nla_put_be16(htons(v))`: `v` given in host order, written in network order.
    pub fn put_be16(&mut self, kind: u16, v: u16) -> Result<(), Errno> {
        self.put(kind, &v.to_be_bytes())
    }

    /// `nla_put_be32()` / `nla_put_in_addr()` of a value already in wire order.
    pub fn put_raw32(&mut self, kind: u16, v: [u8; 4]) -> Result<(), Errno> {
        self.put(kind, &v)
    }

    /// `nla_put_string()`: the bytes plus a terminating NUL.
    pub fn put_string(&mut self, kind: u16, s: &[u8]) -> Result<(), Errno> {
        let p = self.reserve(kind, s.len().saturating_add(1))?;
        let (text, nul) = p.split_at_mut(s.len());
        text.copy_from_slice(s);
        nul.fill(0);
        Ok(())
    }

    /// `nla_put_u64_64bit()`: host byte order, preceded by a `padattr` attribute when the
    /// [`Pad64`] rule says the payload would otherwise be misaligned.
    pub fn put_u64_64bit(&mut self, kind: u16, v: u64, padattr: u16) -> Result<(), Errno> {
        let pad = match self.pad64 {
            Pad64::Never => false,
            Pad64::WhenAligned { buf_addr_mod8 } => {
                (usize::from(buf_addr_mod8) + self.pos) & 7 == 0
            }
        };
        let needed = nla_total_size(8) + if pad { nla_total_size(0) } else { 0 };
        if self.tailroom() < needed {
            return Err(Errno::Emsgsize);
        }
        if pad {
            self.put(padattr, &[])?;
        }
        self.put(kind, &v.to_ne_bytes())
    }

    /// `nla_nest_start_noflag()`: an attribute whose length is fixed by [`Emitter::nest_end`].
    /// OR [`NLA_F_NESTED`] into `kind` for `nla_nest_start()`.
    pub fn nest_start(&mut self, kind: u16) -> Result<Nest, Errno> {
        let start = self.pos;
        self.put(kind, &[])?;
        Ok(Nest(start))
    }

    /// `nla_nest_end()`: sets the nest's length to cover everything written since its start.
    /// A nest longer than 65535 bytes cannot be expressed; it is cancelled with `EMSGSIZE`
    /// (C would silently truncate `nla_len`; IPVS nests are a few hundred bytes).
    pub fn nest_end(&mut self, nest: Nest) -> Result<(), Errno> {
        if nest.0 + NLA_HDRLEN > self.pos {
            // Rolled back past the nest header: nothing left to close.
            return Err(Errno::Emsgsize);
        }
        let Ok(len) = u16::try_from(self.pos - nest.0) else {
            self.pos = nest.0;
            return Err(Errno::Emsgsize);
        };
        self.buf[nest.0 + field::LENGTH.start..nest.0 + field::LENGTH.end]
            .copy_from_slice(&len.to_ne_bytes());
        Ok(())
    }

    /// `nla_nest_cancel()`: drops the nest and everything in it.
    pub fn nest_cancel(&mut self, nest: Nest) {
        self.rollback(Mark(nest.0));
    }

    /// Runs `f` inside a nest of type `kind`, cancelling the nest if `f` fails (the
    /// `goto nla_put_failure; nla_nest_cancel()` pattern of the IPVS fill functions).
    pub fn nested(
        &mut self,
        kind: u16,
        f: impl FnOnce(&mut Self) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        let nest = self.nest_start(kind)?;
        match f(self) {
            Ok(()) => self.nest_end(nest),
            Err(e) => {
                self.nest_cancel(nest);
                Err(e)
            }
        }
    }
}
