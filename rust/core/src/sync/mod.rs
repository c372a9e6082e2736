//! Connection synchronization: the wire format of the master's sync messages, the backup's
//! validation of them, and the two decisions around them (which connections a master sends,
//! what a backup does with what it receives).
//!
//! C source (Linux 6.12): `net/netfilter/ipvs/ip_vs_sync.c`, without its sockets, threads,
//! queues and kernel objects; the constants are `include/uapi/linux/ip_vs.h`'s
//! (`IP_VS_CONN_F_*`, [`crate::netlink::ipvs::conn_flags`]) and `include/net/ip_vs.h`'s
//! (`IP_VS_CTPL_S_*`, `struct ip_vs_seq`).
//!
//! # Model
//!
//! C's master path `ip_vs_sync_conn()` reads a connection, updates its `old_state` and
//! `sync_endtime`, copies it into the current sync buffer of its thread and walks on to the
//! connection's controller (`cp->control`). Here:
//! * [`policy::master_step`] / [`policy::master_after_commit`] / [`policy::sync_conn_needed`]
//!   are C's decisions as pure functions: the data path performs the writes they name (the
//!   `cmpxchg()` on `sync_endtime` stays in the kernel) and walks the chain;
//! * [`encode::MesgBuilder`] writes a message into a caller's buffer, one [`ConnEntry`] at a
//!   time, exactly as C fills its `struct ip_vs_sync_buff`.
//!
//! C's backup path `ip_vs_process_message()` validates a datagram and calls
//! `ip_vs_proc_conn()` for each entry it accepts. Here:
//! * [`decode::parse_message`] checks the header and returns an iterator over the entries,
//!   each a [`decode::DecodedConn`] or the [`decode::DropReason`] C drops it (or the rest of
//!   the datagram) for;
//! * [`policy::backup_decision`] is `ip_vs_proc_conn()`'s choice between creating, updating
//!   and ignoring, with [`policy::backup_timeout`] for the timeout it arms.
//!
//! # Checked against C
//!
//! `c_ref_tests.rs` replays `testdata/c_sync.txt`, written by `testdata/cref/driver.c`, which
//! compiles functions cut unmodified out of `ip_vs_sync.c` in user space: the encoded
//! messages (version 0 and 1) must be byte-for-byte equal, the receive path must accept,
//! skip and abort the same entries of thousands of mutated datagrams, and the master's
//! decision must match C's over random connections and sysctls.

pub mod decode;
pub mod encode;
pub mod policy;

#[cfg(test)]
mod c_ref_tests;
#[cfg(test)]
mod tests;

use crate::netlink::ipvs::conn_flags;

/// `SYNC_PROTO_VER`: the version byte of a version 1 message header.
pub const SYNC_PROTO_VER: u8 = 1;

/// `IP_VS_SYNC_GROUP`: the default IPv4 multicast group, 224.0.0.81.
pub const IP_VS_SYNC_GROUP: [u8; 4] = [224, 0, 0, 81];

/// `IP_VS_SYNC_PORT`: the default UDP port.
pub const IP_VS_SYNC_PORT: u16 = 8848;

/// `sizeof(struct ip_vs_sync_mesg_v0)`: `nr_conns`, `syncid`, `size`.
pub const MESG_V0_HEADER_LEN: usize = 4;

/// `sizeof(struct ip_vs_sync_mesg)`: `reserved`, `syncid`, `size`, `nr_conns`, `version`,
/// `spare`.
pub const MESG_HEADER_LEN: usize = 8;

/// `SIMPLE_CONN_SIZE`: `sizeof(struct ip_vs_sync_conn_v0)`.
pub const CONN_V0_LEN: usize = 24;

/// `sizeof(struct ip_vs_sync_conn_options)`: two `struct ip_vs_seq`.
pub const SEQ_OPTIONS_LEN: usize = 24;

/// `FULL_CONN_SIZE`: a version 0 entry followed by its sequence options.
pub const CONN_V0_FULL_LEN: usize = CONN_V0_LEN + SEQ_OPTIONS_LEN;

/// `sizeof(struct ip_vs_sync_v4)`.
pub const CONN_V4_LEN: usize = 36;

/// `sizeof(struct ip_vs_sync_v6)`.
pub const CONN_V6_LEN: usize = 72;

/// `STYPE_F_INET6`: the bit of a version 1 entry's `type` that makes it IPv6.
pub const STYPE_F_INET6: u8 = 1;

/// `SVER_SHIFT`: `ver_size >> SVER_SHIFT` is the entry's version (must be 0).
pub const SVER_SHIFT: u32 = 12;

/// `SVER_MASK`: `ver_size & SVER_MASK` is the entry's length.
pub const SVER_MASK: u16 = 0x0fff;

/// Option types of version 1 entries (`IPVS_OPT_*`).
pub mod opt {
    /// `IPVS_OPT_SEQ_DATA`: `struct ip_vs_sync_conn_options` in network order.
    pub const SEQ_DATA: u8 = 1;
    /// `IPVS_OPT_PE_DATA`: the persistence engine's data (at most 255 bytes).
    pub const PE_DATA: u8 = 2;
    /// `IPVS_OPT_PE_NAME`: the persistence engine's name (at most 16 bytes).
    pub const PE_NAME: u8 = 3;
    /// `IPVS_OPT_F_PARAM`: set in an option's type, an unknown option may be skipped;
    /// clear, it is mandatory and the entry is dropped.
    pub const F_PARAM: u8 = 1 << (7 - 1);
}

/// `IP_VS_CTPL_S_LAST`: templates have two states, `IP_VS_CTPL_S_NONE` and
/// `IP_VS_CTPL_S_ASSURED`.
pub const CTPL_S_LAST: u16 = 2;

/// `IP_VS_PENAME_MAXLEN`.
pub const PENAME_MAXLEN: usize = 16;

/// `IP_VS_PEDATA_MAXLEN`.
pub const PEDATA_MAXLEN: usize = 255;

/// The version of the sync protocol a master sends (`net.ipv4.vs.sync_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The original format: IPv4 only, no timeout, no fwmark, sequence options in host
    /// order.
    V0,
    /// `SYNC_PROTO_VER`: IPv4 and IPv6, timeout, fwmark, options.
    V1,
}

impl Version {
    /// The version a `sync_version` sysctl value selects: C tests `sysctl_sync_ver(ipvs) == 0`,
    /// so every other value sends version 1.
    pub const fn from_sysctl(sync_version: i32) -> Version {
        if sync_version == 0 {
            Version::V0
        } else {
            Version::V1
        }
    }
}

/// `struct ip_vs_seq`: the sequence number adjustment of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq {
    /// `init_seq`: add `delta` from this sequence number on.
    pub init_seq: u32,
    /// `delta`.
    pub delta: u32,
    /// `previous_delta`: the delta before the last resized packet.
    pub previous_delta: u32,
}

/// `struct ip_vs_sync_conn_options`: both directions' sequence adjustments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqOptions {
    /// `in_seq`.
    pub in_seq: Seq,
    /// `out_seq`.
    pub out_seq: Seq,
}

impl SeqOptions {
    fn words(&self) -> [u32; 6] {
        [
            self.in_seq.init_seq,
            self.in_seq.delta,
            self.in_seq.previous_delta,
            self.out_seq.init_seq,
            self.out_seq.delta,
            self.out_seq.previous_delta,
        ]
    }

    fn from_words(w: [u32; 6]) -> SeqOptions {
        let [a, b, c, d, e, f] = w;
        SeqOptions {
            in_seq: Seq {
                init_seq: a,
                delta: b,
                previous_delta: c,
            },
            out_seq: Seq {
                init_seq: d,
                delta: e,
                previous_delta: f,
            },
        }
    }

    /// The 24 bytes, each `__u32` written by `write` (big-endian for version 1's
    /// `hton_seq()`, native for version 0's `memcpy()`).
    fn to_bytes(self, write: fn(u32) -> [u8; 4]) -> [u8; SEQ_OPTIONS_LEN] {
        let [a, b, c, d, e, f] = self.words().map(write);
        let mut out = [0u8; SEQ_OPTIONS_LEN];
        for (dst, src) in out
            .iter_mut()
            .zip(a.iter().chain(&b).chain(&c).chain(&d).chain(&e).chain(&f))
        {
            *dst = *src;
        }
        out
    }

    /// The reverse of [`SeqOptions::to_bytes`].
    fn from_bytes(b: &[u8; SEQ_OPTIONS_LEN], read: fn([u8; 4]) -> u32) -> SeqOptions {
        let mut w = [0u32; 6];
        for (i, word) in w.iter_mut().enumerate() {
            let at = i.saturating_mul(4);
            if let Some(&[a, b0, c, d]) = b.get(at..at.saturating_add(4)) {
                *word = read([a, b0, c, d]);
            }
        }
        SeqOptions::from_words(w)
    }
}

/// One connection as the master sends it: what `ip_vs_sync_conn()` reads of `struct
/// ip_vs_conn`.
///
/// Ports are in host order; addresses are in network order, IPv4 ones in the first four
/// bytes (the rest is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnEntry {
    /// `cp->af == AF_INET6`.
    pub v6: bool,
    /// `cp->protocol`.
    pub protocol: u8,
    /// `cp->flags` as they are: the encoder clears `IP_VS_CONN_F_HASHED` (the only bit C
    /// masks on sending) and, for version 0, keeps the low 16 bits.
    pub flags: u32,
    /// `cp->state`.
    pub state: u16,
    /// `cp->cport`.
    pub cport: u16,
    /// `cp->vport`.
    pub vport: u16,
    /// `cp->dport`.
    pub dport: u16,
    /// `cp->fwmark` (version 1 only).
    pub fwmark: u32,
    /// `cp->timeout / HZ`, seconds (version 1 only).
    pub timeout_secs: u32,
    /// `cp->caddr`.
    pub caddr: [u8; 16],
    /// `cp->vaddr`.
    pub vaddr: [u8; 16],
    /// `cp->daddr`.
    pub daddr: [u8; 16],
    /// `cp->in_seq` / `cp->out_seq`: sent when `flags & IP_VS_CONN_F_SEQ_MASK`, ignored
    /// otherwise.
    pub seq: SeqOptions,
}

impl ConnEntry {
    /// Whether C sends the sequence options with this entry (`IP_VS_CONN_F_SEQ_MASK`).
    pub const fn sends_seq(&self) -> bool {
        self.flags & conn_flags::SEQ_MASK != 0
    }
}

/// The `ip_vs_proto_get()` of the kernel the backup runs: the protocols with a handler and
/// their `num_states`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Protocols {
    /// AH and ESP are registered (C: `CONFIG_IP_VS_PROTO_AH` / `_ESP`, one state each).
    pub ah_esp: bool,
}

impl Protocols {
    /// `pp->num_states` of `protocol`'s handler, `None` when `ip_vs_proto_get()` finds
    /// none. TCP, UDP and SCTP always have one.
    pub const fn num_states(&self, protocol: u8) -> Option<u16> {
        match protocol {
            6 => Some(crate::proto::tcp::TcpState::ALL.len() as u16),
            17 => Some(crate::proto::udp::UdpState::ALL.len() as u16),
            132 => Some(crate::proto::sctp::SctpState::ALL.len() as u16),
            50 | 51 if self.ah_esp => Some(1),
            _ => None,
        }
    }
}

/// The sync message length limit a daemon uses (`c->sync_maxlen` after `start_sync_thread()`):
/// the maximum size of a message, header included, that the master builds or the backup
/// receives.
///
/// `sync_maxlen` is the value user space asked for (`IPVS_DAEMON_ATTR_SYNC_MAXLEN`, 0 for the
/// default), `dev_mtu` the MTU of the multicast interface, `ipv6` whether the daemon's
/// multicast group is IPv6 (the IP and UDP header lengths, 28 or 48 bytes, are taken off).
///
/// ```c
/// mtu = (state == IP_VS_STATE_BACKUP) ? clamp(dev->mtu, 1500U, 65535U) : 1500U;
/// min_mtu = (state == IP_VS_STATE_BACKUP) ? 1024 : 1;
/// if (c->sync_maxlen)
///     c->sync_maxlen = clamp_t(unsigned int, c->sync_maxlen, min_mtu, 65535 - hlen);
/// else
///     c->sync_maxlen = mtu - hlen;
/// ```
pub const fn max_mesg_size(dev_mtu: u32, sync_maxlen: u16, ipv6: bool, backup: bool) -> u16 {
    let hlen: u32 = if ipv6 { 40 + 8 } else { 20 + 8 };
    let mtu: u32 = if backup {
        if dev_mtu < 1500 {
            1500
        } else if dev_mtu > 65535 {
            65535
        } else {
            dev_mtu
        }
    } else {
        1500
    };
    let min_mtu: u32 = if backup { 1024 } else { 1 };
    let len = if sync_maxlen != 0 {
        let v = sync_maxlen as u32;
        let max = 65535 - hlen;
        // clamp_t(): lower bound first, then upper (min_mtu < max, so the order is moot).
        if v < min_mtu {
            min_mtu
        } else if v > max {
            max
        } else {
            v
        }
    } else {
        mtu - hlen
    };
    // Every branch is at most 65535 - 28.
    len as u16
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    let mut q = [0u8; 2];
    q.copy_from_slice(s);
    Some(u16::from_be_bytes(q))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut q = [0u8; 4];
    q.copy_from_slice(s);
    Some(u32::from_be_bytes(q))
}

fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    let s = b.get(at..at.checked_add(N)?)?;
    let mut q = [0u8; N];
    q.copy_from_slice(s);
    Some(q)
}
