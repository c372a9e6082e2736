//! Reading a received sync datagram: `ip_vs_process_message()`,
//! `ip_vs_process_message_v0()`, `ip_vs_proc_sync_conn()` and their helpers
//! (`ip_vs_sync_validate_flags()`, `ip_vs_proc_seqopt()`, `ip_vs_proc_str()`, the PE checks
//! of `ip_vs_conn_fill_param_sync()`).
//!
//! [`parse_message`] checks the header as C does before it looks at an entry, and gives an
//! [`Entries`] iterator. Each item is an entry C would hand to `ip_vs_proc_conn()` (flags
//! already masked as C masks them), or the [`DropReason`] C drops it for. A reason that
//! [`DropReason::aborts_message`] ends the iteration: C returns from the whole datagram
//! there, after having processed the entries before it. Nothing is allocated; the entries
//! borrow the persistence-engine bytes from the datagram.
//!
//! One case C leaves to chance: a datagram of 4 to 7 bytes whose header's `size` says so.
//! C reads the version 1 header's `nr_conns`, `version` and `spare` all the same, the bytes
//! past the datagram from whatever an earlier datagram left in its receive buffer. Here
//! those bytes are taken as zero (so such a datagram is version 1 when its bytes 4 and 5 are
//! a count and 1). Either way no entry is processed: a count of 0, or the first entry is
//! too short; only which drop is counted depends on the stale bytes.

use super::{
    array, be16, be32, opt, Protocols, SeqOptions, CONN_V0_FULL_LEN, CONN_V0_LEN, CONN_V4_LEN,
    CONN_V6_LEN, CTPL_S_LAST, MESG_HEADER_LEN, MESG_V0_HEADER_LEN, PEDATA_MAXLEN, PENAME_MAXLEN,
    SEQ_OPTIONS_LEN, STYPE_F_INET6, SVER_MASK, SVER_SHIFT, SYNC_PROTO_VER,
};
use crate::netlink::ipvs::conn_flags;

/// What the backup knows when it reads a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvConfig<'a> {
    /// `ipvs->bcfg.syncid`: 0 accepts every message; any other value only messages whose
    /// `syncid` byte equals it (so a value above 255 accepts none, as in C).
    pub syncid: i32,
    /// `CONFIG_IP_VS_IPV6`: IPv6 entries are processed; without it they are dropped.
    pub ipv6: bool,
    /// The protocols `ip_vs_proto_get()` knows.
    pub protocols: Protocols,
    /// The names of the registered persistence engines (`__ip_vs_pe_getbyname()`), e.g.
    /// `b"sip"`.
    pub pe_names: &'a [&'a [u8]],
}

/// Why C drops a whole datagram before its first entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MesgError {
    /// Fewer bytes than `struct ip_vs_sync_mesg_v0` ("message header too short").
    TooShort,
    /// The header's `size` is not the datagram's length ("bogus message size").
    SizeMismatch,
    /// The header's `syncid` is not the backup's ("Ignoring syncid").
    SyncIdMismatch,
}

/// Why C drops an entry, or the rest of the datagram from that entry on.
///
/// The version 1 reasons that come from `ip_vs_proc_sync_conn()` carry its return value
/// ([`DropReason::c_retc`]): negative ones make `ip_vs_process_message()` drop the rest of
/// the datagram, positive ones only the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Version 0: fewer than `SIMPLE_CONN_SIZE` bytes left ("BACKUP v0, bogus conn").
    /// Aborts.
    V0Truncated,
    /// Version 0: the entry's flags announce options that are not there ("BACKUP v0,
    /// Dropping buffer bogus conn options"). Aborts.
    V0OptionsTruncated,
    /// Version 1: fewer than `sizeof(struct ip_vs_sync_v4)` bytes left ("Dropping buffer,
    /// too small"). Aborts.
    TooSmall,
    /// Version 1: the entry's size runs past the datagram ("Dropping buffer, msg >
    /// buffer"). Aborts.
    EntryOverrun,
    /// Version 1: the top four bits of `ver_size` are not 0 ("Dropping buffer, Unknown
    /// version"). Aborts.
    UnknownVersion(u8),
    /// `type` is neither IPv4 (0) nor has `STYPE_F_INET6` (retc -10). Aborts.
    BadType,
    /// The entry's size is below its fixed part (retc -20). Aborts.
    EntryTooShort,
    /// An option header runs past the entry (retc -30). Aborts.
    OptionHeader,
    /// An option of length 0 or running past the entry (retc -40). Aborts.
    OptionLength,
    /// `IPVS_OPT_SEQ_DATA` not 24 bytes long, or twice (retc -50). Aborts.
    SeqOption,
    /// `IPVS_OPT_PE_DATA` twice (retc -60). Aborts.
    PeData,
    /// `IPVS_OPT_PE_NAME` longer than `IP_VS_PENAME_MAXLEN`, or twice (retc -70). Aborts.
    PeName,
    /// An IPv6 entry on a kernel without IPv6 support (retc 10).
    Ipv6Unsupported,
    /// An unknown option without `IPVS_OPT_F_PARAM` (retc 20); the option type is given.
    UnknownMandatoryOption(u8),
    /// `IP_VS_CONN_F_ONE_PACKET`, or `IP_VS_CONN_F_NO_CPORT` on a template (retc 25; version 0
    /// "Invalid flags" too).
    InvalidFlags,
    /// No handler for the entry's protocol (retc 30; version 0 too).
    UnsupportedProtocol,
    /// A state beyond the protocol's `num_states` (retc 40; version 0 too).
    InvalidState,
    /// A template state beyond `IP_VS_CTPL_S_LAST` (retc 40; version 0 too).
    InvalidTemplateState,
    /// PE data without a PE name ("Invalid PE parameters", retc 50).
    PeParams,
    /// A PE name no registered engine has ("no ... engine found/loaded", retc 50).
    PeNotFound,
}

impl DropReason {
    /// Whether C drops the rest of the datagram along with this entry.
    pub const fn aborts_message(self) -> bool {
        matches!(
            self,
            DropReason::V0Truncated
                | DropReason::V0OptionsTruncated
                | DropReason::TooSmall
                | DropReason::EntryOverrun
                | DropReason::UnknownVersion(_)
                | DropReason::BadType
                | DropReason::EntryTooShort
                | DropReason::OptionHeader
                | DropReason::OptionLength
                | DropReason::SeqOption
                | DropReason::PeData
                | DropReason::PeName
        )
    }

    /// `ip_vs_proc_sync_conn()`'s return value for this reason (version 1 entries), `None`
    /// for the checks `ip_vs_process_message()` and `ip_vs_process_message_v0()` make
    /// themselves.
    pub const fn c_retc(self) -> Option<i32> {
        Some(match self {
            DropReason::BadType => -10,
            DropReason::EntryTooShort => -20,
            DropReason::OptionHeader => -30,
            DropReason::OptionLength => -40,
            DropReason::SeqOption => -50,
            DropReason::PeData => -60,
            DropReason::PeName => -70,
            DropReason::Ipv6Unsupported => 10,
            DropReason::UnknownMandatoryOption(_) => 20,
            DropReason::InvalidFlags => 25,
            DropReason::UnsupportedProtocol => 30,
            DropReason::InvalidState | DropReason::InvalidTemplateState => 40,
            DropReason::PeParams | DropReason::PeNotFound => 50,
            DropReason::V0Truncated
            | DropReason::V0OptionsTruncated
            | DropReason::TooSmall
            | DropReason::EntryOverrun
            | DropReason::UnknownVersion(_) => return None,
        })
    }
}

/// The persistence engine data of a version 1 entry (`IPVS_OPT_PE_DATA` with
/// `IPVS_OPT_PE_NAME`), for an engine of [`RecvConfig::pe_names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeData<'a> {
    /// The engine's data (1 to 255 bytes).
    pub data: &'a [u8],
    /// The engine's name as sent (1 to 16 bytes; C reads it up to the first NUL).
    pub name: &'a [u8],
}

/// An entry C passes to `ip_vs_proc_conn()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecodedConn<'a> {
    /// An IPv6 entry (`type & STYPE_F_INET6`); version 0 entries are IPv4.
    pub v6: bool,
    /// The protocol.
    pub protocol: u8,
    /// The flags as `ip_vs_proc_conn()` gets them:
    /// `(flags & IP_VS_CONN_F_BACKUP_MASK) | IP_VS_CONN_F_SYNC`.
    pub flags: u32,
    /// The state, valid for the protocol (or a template state).
    pub state: u16,
    /// Client port, host order.
    pub cport: u16,
    /// Virtual port, host order.
    pub vport: u16,
    /// Destination port, host order.
    pub dport: u16,
    /// The fwmark (0 for version 0).
    pub fwmark: u32,
    /// The timeout in seconds, 0 for version 0 (which carries none: the backup then uses the
    /// protocol's, [`super::policy::backup_timeout`]).
    pub timeout_secs: u32,
    /// Client address, network order (IPv4 in the first 4 bytes, the rest zero).
    pub caddr: [u8; 16],
    /// Virtual address.
    pub vaddr: [u8; 16],
    /// Destination address.
    pub daddr: [u8; 16],
    /// The sequence options: version 1's `IPVS_OPT_SEQ_DATA` if present, version 0's
    /// options when the flags have `IP_VS_CONN_F_SEQ_MASK`.
    pub seq: Option<SeqOptions>,
    /// The persistence engine data, if the entry had `IPVS_OPT_PE_DATA`.
    pub pe: Option<PeData<'a>>,
}

impl DecodedConn<'_> {
    /// Whether the entry is a persistence template (`IP_VS_CONN_F_TEMPLATE`).
    pub const fn is_template(&self) -> bool {
        self.flags & conn_flags::TEMPLATE != 0
    }
}

/// The message formats (`ip_vs_process_message()`'s dispatch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Format {
    V0,
    V1,
}

/// The entries of a datagram [`parse_message`] accepted.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    buf: &'a [u8],
    format: Format,
    cfg: RecvConfig<'a>,
    nr_conns: u8,
    /// Entries handled so far.
    done: u8,
    /// Offset of the next entry.
    pos: usize,
    /// An aborting reason was returned.
    stopped: bool,
}

impl<'a> Entries<'a> {
    /// Whether the message is version 1 (`SYNC_PROTO_VER`), not the old format.
    pub fn is_v1(&self) -> bool {
        self.format == Format::V1
    }

    /// The header's `nr_conns`.
    pub fn nr_conns(&self) -> u8 {
        self.nr_conns
    }

    /// The header's `syncid`.
    pub fn syncid(&self) -> u8 {
        self.buf.get(1).copied().unwrap_or(0)
    }
}

/// Checks a datagram's header as `ip_vs_process_message()` does, returning its entries.
pub fn parse_message<'a>(buf: &'a [u8], cfg: &RecvConfig<'a>) -> Result<Entries<'a>, MesgError> {
    let (Some(size), Some(&syncid)) = (be16(buf, 2), buf.get(1)) else {
        return Err(MesgError::TooShort);
    };
    if buf.len() != usize::from(size) {
        return Err(MesgError::SizeMismatch);
    }
    if cfg.syncid != 0 && i32::from(syncid) != cfg.syncid {
        return Err(MesgError::SyncIdMismatch);
    }
    // C reads the version 1 header even from a shorter datagram; the bytes past it are
    // taken as zero (see the module doc).
    let mut header = [0u8; MESG_HEADER_LEN];
    for (h, b) in header.iter_mut().zip(buf) {
        *h = *b;
    }
    let (format, nr_conns, pos) = match header {
        // reserved == 0, version == SYNC_PROTO_VER, spare == 0
        [0, _, _, _, nr_conns, SYNC_PROTO_VER, 0, 0] => (Format::V1, nr_conns, MESG_HEADER_LEN),
        [nr_conns, ..] => (Format::V0, nr_conns, MESG_V0_HEADER_LEN),
    };
    Ok(Entries {
        buf,
        format,
        cfg: *cfg,
        nr_conns,
        done: 0,
        pos,
        stopped: false,
    })
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<DecodedConn<'a>, DropReason>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped || self.done >= self.nr_conns {
            return None;
        }
        self.done = self.done.saturating_add(1);
        let r = match self.format {
            Format::V0 => self.next_v0(),
            Format::V1 => self.next_v1(),
        };
        if let Err(reason) = r {
            if reason.aborts_message() {
                self.stopped = true;
            }
        }
        Some(r)
    }
}

/// `ip_vs_sync_validate_flags()`.
const fn flags_valid(flags: u32) -> bool {
    if flags & conn_flags::NO_CPORT != 0 && flags & conn_flags::TEMPLATE != 0 {
        return false;
    }
    flags & conn_flags::ONE_PACKET == 0
}

/// The flags check, mask and state check common to both versions.
fn check_flags_state(
    raw_flags: u32,
    protocol: u8,
    state: u16,
    protocols: &Protocols,
) -> Result<u32, DropReason> {
    if !flags_valid(raw_flags) {
        return Err(DropReason::InvalidFlags);
    }
    let flags = (raw_flags & conn_flags::BACKUP_MASK) | conn_flags::SYNC;
    if flags & conn_flags::TEMPLATE == 0 {
        let n = protocols
            .num_states(protocol)
            .ok_or(DropReason::UnsupportedProtocol)?;
        if state >= n {
            return Err(DropReason::InvalidState);
        }
    } else if state >= CTPL_S_LAST {
        return Err(DropReason::InvalidTemplateState);
    }
    Ok(flags)
}

fn ipv4(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    if let (Some(d), Some(s)) = (a.get_mut(..4), array::<4>(b, at)) {
        d.copy_from_slice(&s);
    }
    a
}

impl<'a> Entries<'a> {
    /// One round of `ip_vs_process_message_v0()`'s loop.
    fn next_v0(&mut self) -> Result<DecodedConn<'a>, DropReason> {
        let buf = self.buf;
        let start = self.pos;
        let s = buf
            .get(start..start.saturating_add(CONN_V0_LEN))
            .ok_or(DropReason::V0Truncated)?;
        let raw_flags = u32::from(be16(s, 20).unwrap_or(0));
        let seq = if raw_flags & conn_flags::SEQ_MASK != 0 {
            self.pos = start.saturating_add(CONN_V0_FULL_LEN);
            let o = array::<SEQ_OPTIONS_LEN>(buf, start.saturating_add(CONN_V0_LEN))
                .ok_or(DropReason::V0OptionsTruncated)?;
            // Sent as the master's memory holds it (memcpy() of cp->sync_conn_opt).
            Some(SeqOptions::from_bytes(&o, u32::from_ne_bytes))
        } else {
            self.pos = start.saturating_add(CONN_V0_LEN);
            None
        };
        let protocol = s.get(1).copied().unwrap_or(0);
        let state = be16(s, 22).unwrap_or(0);
        let flags = check_flags_state(raw_flags, protocol, state, &self.cfg.protocols)?;
        Ok(DecodedConn {
            v6: false,
            protocol,
            flags,
            state,
            cport: be16(s, 2).unwrap_or(0),
            vport: be16(s, 4).unwrap_or(0),
            dport: be16(s, 6).unwrap_or(0),
            fwmark: 0,
            timeout_secs: 0,
            caddr: ipv4(s, 8),
            vaddr: ipv4(s, 12),
            daddr: ipv4(s, 16),
            seq,
            pe: None,
        })
    }

    /// One round of `ip_vs_process_message()`'s version 1 loop.
    fn next_v1(&mut self) -> Result<DecodedConn<'a>, DropReason> {
        let buf = self.buf;
        let p = self.pos;
        if p.saturating_add(CONN_V4_LEN) > buf.len() {
            return Err(DropReason::TooSmall);
        }
        let ver_size = be16(buf, p.saturating_add(2)).ok_or(DropReason::TooSmall)?;
        let size = usize::from(ver_size & SVER_MASK);
        let entry = buf
            .get(p..p.saturating_add(size))
            .ok_or(DropReason::EntryOverrun)?;
        let stype = buf.get(p).copied().ok_or(DropReason::TooSmall)?;
        let version = ver_size >> SVER_SHIFT;
        if version != 0 {
            return Err(DropReason::UnknownVersion(version as u8));
        }
        // Make sure we have 32 bit alignment
        self.pos = p.saturating_add(size.saturating_add(3) & !3);
        proc_sync_conn(stype, entry, &self.cfg)
    }
}

/// `ip_vs_proc_sync_conn()` over one entry: `stype` is its type byte, read before its
/// size is checked (it is always in the datagram: 36 bytes were), `entry` its `size` bytes.
fn proc_sync_conn<'a>(
    stype: u8,
    entry: &'a [u8],
    cfg: &RecvConfig<'a>,
) -> Result<DecodedConn<'a>, DropReason> {
    let (v6, fixed) = if stype & STYPE_F_INET6 != 0 {
        if !cfg.ipv6 {
            return Err(DropReason::Ipv6Unsupported);
        }
        (true, CONN_V6_LEN)
    } else if stype == 0 {
        (false, CONN_V4_LEN)
    } else {
        return Err(DropReason::BadType);
    };
    let (s, mut opts) = (entry.get(..fixed), entry.get(fixed..));
    let (Some(s), Some(_)) = (s, opts) else {
        return Err(DropReason::EntryTooShort);
    };

    let mut seq = None;
    let mut pe_data: Option<&'a [u8]> = None;
    let mut pe_name: Option<&'a [u8]> = None;
    while let Some(rest) = opts.filter(|o| !o.is_empty()) {
        let (Some(&[ptype, plen]), Some(rest)) = (rest.get(..2), rest.get(2..)) else {
            return Err(DropReason::OptionHeader);
        };
        let plen = usize::from(plen);
        if plen == 0 {
            return Err(DropReason::OptionLength);
        }
        let data = rest.get(..plen).ok_or(DropReason::OptionLength)?;
        match ptype & !opt::F_PARAM {
            opt::SEQ_DATA => {
                let o =
                    <&[u8; SEQ_OPTIONS_LEN]>::try_from(data).map_err(|_| DropReason::SeqOption)?;
                if seq.is_some() {
                    return Err(DropReason::SeqOption);
                }
                seq = Some(SeqOptions::from_bytes(o, u32::from_be_bytes));
            }
            opt::PE_DATA => {
                // plen > IP_VS_PEDATA_MAXLEN cannot happen: plen is one byte.
                if plen > PEDATA_MAXLEN || pe_data.is_some() {
                    return Err(DropReason::PeData);
                }
                pe_data = Some(data);
            }
            opt::PE_NAME => {
                if plen > PENAME_MAXLEN || pe_name.is_some() {
                    return Err(DropReason::PeName);
                }
                pe_name = Some(data);
            }
            _ => {
                if ptype & opt::F_PARAM == 0 {
                    return Err(DropReason::UnknownMandatoryOption(ptype & !opt::F_PARAM));
                }
            }
        }
        opts = rest.get(plen..);
    }

    let raw_flags = be32(s, 4).unwrap_or(0);
    let protocol = s.get(1).copied().unwrap_or(0);
    let state = be16(s, 8).unwrap_or(0);
    let flags = check_flags_state(raw_flags, protocol, state, &cfg.protocols)?;

    // ip_vs_conn_fill_param_sync(): PE data needs a PE name of a registered engine; a name
    // without data is ignored.
    let pe = match (pe_data, pe_name) {
        (None, _) => None,
        (Some(_), None) => return Err(DropReason::PeParams),
        (Some(data), Some(name)) => {
            // C copies the name into a NUL-terminated buffer and looks it up as a string.
            let cname = name.split(|&b| b == 0).next().unwrap_or_default();
            if !cfg.pe_names.contains(&cname) {
                return Err(DropReason::PeNotFound);
            }
            Some(PeData { data, name })
        }
    };

    let (caddr, vaddr, daddr) = if v6 {
        (
            array::<16>(s, 24).unwrap_or_default(),
            array::<16>(s, 40).unwrap_or_default(),
            array::<16>(s, 56).unwrap_or_default(),
        )
    } else {
        (ipv4(s, 24), ipv4(s, 28), ipv4(s, 32))
    };
    Ok(DecodedConn {
        v6,
        protocol,
        flags,
        state,
        cport: be16(s, 10).unwrap_or(0),
        vport: be16(s, 12).unwrap_or(0),
        dport: be16(s, 14).unwrap_or(0),
        fwmark: be32(s, 16).unwrap_or(0),
        timeout_secs: be32(s, 20).unwrap_or(0),
        caddr,
        vaddr,
        daddr,
        seq,
        pe,
    })
}
