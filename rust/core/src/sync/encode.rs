//! Building sync messages: what `ip_vs_sync_conn()` / `ip_vs_sync_conn_v0()` write into the
//! sync buffer (`ip_vs_sync_buff_create()`, `ip_vs_sync_buff_create_v0()`).
//!
//! The buffer is the caller's. A [`MesgBuilder`] keeps the header valid after every
//! [`MesgBuilder::push`] (C updates `size` and `nr_conns` as it adds), so
//! [`MesgBuilder::as_bytes`] is a complete datagram at any time.
//!
//! Not written: the persistence engine options (`IPVS_OPT_PE_DATA` / `IPVS_OPT_PE_NAME`),
//! which C sends for connections with `cp->pe_data_len`; ipvs-rs has no persistence engine.
//!
//! One deliberate difference: C's `nr_conns` is a `__u8` it increments without a check, so
//! a message built with a `sync_maxlen` large enough for more than 255 entries goes out
//! with a wrapped count and the backup ignores the entries past it (for version 0, a count
//! that wrapped to 0 even makes C send the buffer early). Here a message holding 255
//! entries is full. With the default limits (1472 or 1452 bytes) neither happens.

use super::{
    ConnEntry, Version, CONN_V0_FULL_LEN, CONN_V0_LEN, CONN_V4_LEN, CONN_V6_LEN, MESG_HEADER_LEN,
    MESG_V0_HEADER_LEN, SEQ_OPTIONS_LEN, STYPE_F_INET6, SVER_MASK, SYNC_PROTO_VER,
};
use crate::netlink::ipvs::conn_flags;

/// Why [`MesgBuilder::push`] did not add an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushError {
    /// The message is full: C queues it for sending (`sb_queue_tail()`) and starts a new
    /// one, which the entry then goes into.
    Full,
    /// An IPv6 connection in a version 0 message: C does not sync it
    /// (`if (unlikely(cp->af != AF_INET)) return;`).
    Ipv6InV0,
    /// The caller's buffer cannot hold even this entry as the message's first: C would have
    /// allocated `max(len + header, sync_maxlen)` bytes.
    BufferTooSmall,
}

/// The length of `e`'s entry in a message of `version` (without alignment padding):
/// version 0 `SIMPLE_CONN_SIZE` or `FULL_CONN_SIZE`; version 1 the `struct ip_vs_sync_v4`
/// or `_v6`, plus 2 + 24 bytes of `IPVS_OPT_SEQ_DATA` when the flags ask for it.
pub const fn entry_len(version: Version, e: &ConnEntry) -> usize {
    match version {
        Version::V0 => {
            if e.sends_seq() {
                CONN_V0_FULL_LEN
            } else {
                CONN_V0_LEN
            }
        }
        Version::V1 => {
            let base = if e.v6 { CONN_V6_LEN } else { CONN_V4_LEN };
            if e.sends_seq() {
                base + 2 + SEQ_OPTIONS_LEN
            } else {
                base
            }
        }
    }
}

/// The smallest buffer a [`MesgBuilder`] needs so that no [`ConnEntry`] ever gets
/// [`PushError::BufferTooSmall`] (an IPv6 version 1 entry with sequence options), when
/// `max_len` is smaller.
pub const MIN_BUFFER_LEN: usize = MESG_HEADER_LEN + CONN_V6_LEN + 2 + SEQ_OPTIONS_LEN;

/// A sync message being built in a caller's buffer.
///
/// # Invariants
///
/// `len <= end <= buf.len()` once an entry is in (`end` is 0 before), and `buf[..len]` is a
/// complete message of `version` whose header says `len` and `nr_conns`.
#[derive(Debug)]
pub struct MesgBuilder<'b> {
    buf: &'b mut [u8],
    version: Version,
    max_len: usize,
    len: usize,
    end: usize,
    nr_conns: u8,
}

/// A message's progress without its buffer ([`MesgBuilder::state`]), so that a message can be
/// kept between pushes next to its buffer and resumed ([`MesgBuilder::resume`]): the kernel's
/// per-thread current buffer (C: `ms->sync_buff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MesgState {
    version: Version,
    max_len: usize,
    len: usize,
    end: usize,
    nr_conns: u8,
}

impl MesgState {
    /// The message's version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// How many entries the message holds.
    pub fn nr_conns(&self) -> u8 {
        self.nr_conns
    }

    /// The message's length: header and entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry is in yet.
    pub fn is_empty(&self) -> bool {
        self.nr_conns == 0
    }
}

impl<'b> MesgBuilder<'b> {
    /// Starts a message of `version` for `syncid` (`ipvs->mcfg.syncid`) in `buf`, at most
    /// `max_len` bytes long (`ipvs->mcfg.sync_maxlen`, [`super::max_mesg_size`]), except
    /// that its first entry always goes in, as C sizes a new buffer to
    /// `max(len + header, sync_maxlen)`.
    ///
    /// `None` when `buf` cannot hold the header. Give it at least
    /// `max(max_len, MIN_BUFFER_LEN)` bytes.
    pub fn new(
        buf: &'b mut [u8],
        version: Version,
        syncid: u8,
        max_len: u16,
    ) -> Option<MesgBuilder<'b>> {
        let hdr_len = Self::header_len(version);
        let hdr = buf.get_mut(..hdr_len)?;
        match version {
            Version::V0 => {
                // nr_conns, syncid, size
                hdr.copy_from_slice(&[0, syncid, 0, 0]);
            }
            Version::V1 => {
                // reserved (old nr_conns, must be zero), syncid, size, nr_conns, version, spare
                hdr.copy_from_slice(&[0, syncid, 0, 0, 0, SYNC_PROTO_VER, 0, 0]);
            }
        }
        let mut b = MesgBuilder {
            buf,
            version,
            max_len: usize::from(max_len),
            len: hdr_len,
            end: 0,
            nr_conns: 0,
        };
        b.write_header();
        Some(b)
    }

    /// The builder's progress, to [`resume`](Self::resume) it later on the same buffer.
    pub fn state(&self) -> MesgState {
        MesgState {
            version: self.version,
            max_len: self.max_len,
            len: self.len,
            end: self.end,
            nr_conns: self.nr_conns,
        }
    }

    /// Goes on with the message `state` describes in `buf`, the buffer it was built in
    /// (unchanged since). `None` when `state` does not fit `buf` (another buffer).
    pub fn resume(buf: &'b mut [u8], state: MesgState) -> Option<MesgBuilder<'b>> {
        let hdr_len = Self::header_len(state.version);
        let fits = if state.nr_conns == 0 {
            state.len == hdr_len && state.end == 0
        } else {
            hdr_len <= state.len && state.len <= state.end
        };
        if !fits || buf.len() < hdr_len.max(state.end) {
            return None;
        }
        Some(MesgBuilder {
            buf,
            version: state.version,
            max_len: state.max_len,
            len: state.len,
            end: state.end,
            nr_conns: state.nr_conns,
        })
    }

    const fn header_len(version: Version) -> usize {
        match version {
            Version::V0 => MESG_V0_HEADER_LEN,
            Version::V1 => MESG_HEADER_LEN,
        }
    }

    /// The message's version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// How many entries the message holds.
    pub fn nr_conns(&self) -> u8 {
        self.nr_conns
    }

    /// Whether no entry is in yet (C has no buffer then: there is nothing to send).
    pub fn is_empty(&self) -> bool {
        self.nr_conns == 0
    }

    /// The message as it stands: header and entries.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Ends the message, returning it (the header is always current).
    pub fn finish(self) -> &'b [u8] {
        let len = self.len;
        let buf: &'b [u8] = self.buf;
        buf.get(..len).unwrap_or_default()
    }

    fn write_header(&mut self) {
        // The size fits: `end` never exceeds max(max_len, header + entry) <= 65535 + 112 and
        // `len` stays at most `end`; saturate all the same.
        let size = u16::try_from(self.len).unwrap_or(u16::MAX).to_be_bytes();
        let (count_at, size_at): (usize, usize) = match self.version {
            Version::V0 => (0, 2),
            Version::V1 => (4, 2),
        };
        if let Some(b) = self.buf.get_mut(count_at) {
            *b = self.nr_conns;
        }
        if let Some(s) = self.buf.get_mut(size_at..size_at.saturating_add(2)) {
            s.copy_from_slice(&size);
        }
    }

    /// Adds `e` if it fits (the tail of `ip_vs_sync_conn()` / `ip_vs_sync_conn_v0()`), after
    /// the padding to a 4-byte boundary that version 1 puts between entries.
    pub fn push(&mut self, e: &ConnEntry) -> Result<(), PushError> {
        if self.version == Version::V0 && e.v6 {
            return Err(PushError::Ipv6InV0);
        }
        let len = entry_len(self.version, e);
        let pad = match self.version {
            // pad = (4 - (size_t) buff->head) & 3, with the message kmalloc()ed aligned.
            Version::V1 if self.nr_conns != 0 => 4usize.wrapping_sub(self.len & 3) & 3,
            _ => 0,
        };
        let start = self.len.saturating_add(pad);
        let stop = start.saturating_add(len);
        if self.nr_conns == 0 {
            let end = stop.max(self.max_len).min(self.buf.len());
            if stop > end {
                return Err(PushError::BufferTooSmall);
            }
            self.end = end;
        } else if stop > self.end || self.nr_conns == u8::MAX {
            return Err(PushError::Full);
        }
        if let Some(padding) = self.buf.get_mut(self.len..start) {
            padding.fill(0);
        }
        let Some(entry) = self.buf.get_mut(start..stop) else {
            return Err(PushError::BufferTooSmall);
        };
        match self.version {
            Version::V0 => write_v0(entry, e),
            Version::V1 => write_v1(entry, e, len),
        }
        self.len = stop;
        self.nr_conns = self.nr_conns.saturating_add(1);
        self.write_header();
        Ok(())
    }
}

/// Writes `bytes` at `at` in `dst`, if they fit (they always do for the lengths
/// [`entry_len`] gives).
fn put(dst: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(d) = dst.get_mut(at..at.saturating_add(bytes.len())) {
        d.copy_from_slice(bytes);
    }
}

fn addr4(a: &[u8; 16]) -> &[u8] {
    a.get(..4).unwrap_or_default()
}

/// `struct ip_vs_sync_conn_v0`, then the options in host order (C `memcpy()`s
/// `cp->sync_conn_opt`).
fn write_v0(dst: &mut [u8], e: &ConnEntry) {
    put(dst, 0, &[0, e.protocol]);
    put(dst, 2, &e.cport.to_be_bytes());
    put(dst, 4, &e.vport.to_be_bytes());
    put(dst, 6, &e.dport.to_be_bytes());
    put(dst, 8, addr4(&e.caddr));
    put(dst, 12, addr4(&e.vaddr));
    put(dst, 16, addr4(&e.daddr));
    // htons(cp->flags & ~IP_VS_CONN_F_HASHED): the low 16 bits.
    put(
        dst,
        20,
        &((e.flags & !conn_flags::HASHED) as u16).to_be_bytes(),
    );
    put(dst, 22, &e.state.to_be_bytes());
    if e.sends_seq() {
        put(dst, CONN_V0_LEN, &e.seq.to_bytes(u32::to_ne_bytes));
    }
}

/// `struct ip_vs_sync_v4` / `_v6`, then `IPVS_OPT_SEQ_DATA` in network order.
fn write_v1(dst: &mut [u8], e: &ConnEntry, len: usize) {
    let stype = if e.v6 { STYPE_F_INET6 } else { 0 };
    put(dst, 0, &[stype, e.protocol]);
    // htons(len & SVER_MASK): version 0 in the top four bits.
    put(dst, 2, &((len as u16) & SVER_MASK).to_be_bytes());
    put(dst, 4, &(e.flags & !conn_flags::HASHED).to_be_bytes());
    put(dst, 8, &e.state.to_be_bytes());
    put(dst, 10, &e.cport.to_be_bytes());
    put(dst, 12, &e.vport.to_be_bytes());
    put(dst, 14, &e.dport.to_be_bytes());
    put(dst, 16, &e.fwmark.to_be_bytes());
    put(dst, 20, &e.timeout_secs.to_be_bytes());
    let opts_at = if e.v6 {
        put(dst, 24, &e.caddr);
        put(dst, 40, &e.vaddr);
        put(dst, 56, &e.daddr);
        CONN_V6_LEN
    } else {
        put(dst, 24, addr4(&e.caddr));
        put(dst, 28, addr4(&e.vaddr));
        put(dst, 32, addr4(&e.daddr));
        CONN_V4_LEN
    };
    if e.sends_seq() {
        put(dst, opts_at, &[super::opt::SEQ_DATA, SEQ_OPTIONS_LEN as u8]);
        put(
            dst,
            opts_at.saturating_add(2),
            &e.seq.to_bytes(u32::to_be_bytes),
        );
    }
}
