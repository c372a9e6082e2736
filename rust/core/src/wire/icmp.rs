//! ICMP and ICMPv6 views, and the packet embedded in an ICMP error.
//!
//! C headers: `include/uapi/linux/icmp.h`, `include/uapi/linux/icmpv6.h`; C source:
//! `net/netfilter/ipvs/ip_vs_core.c` (`ip_vs_out_icmp()`, `ip_vs_out_icmp_v6()`,
//! `ip_vs_in_icmp()`, `ip_vs_in_icmp_v6()`).

use super::checksum;
use super::packet::{read_array, read_ip, PacketRead};
use super::{get_be16, get_u8, has_ports, set_be16, set_u8};
use super::{Family, Headers, InetAddr, Malformed, IPPROTO_ICMPV6};

/// Length of the ICMP / ICMPv6 header (type, code, checksum, four more bytes).
pub const HEADER_LEN: usize = 8;

/// `ICMP_ECHOREPLY`.
pub const ICMP_ECHOREPLY: u8 = 0;
/// `ICMP_DEST_UNREACH`.
pub const ICMP_DEST_UNREACH: u8 = 3;
/// `ICMP_SOURCE_QUENCH`.
pub const ICMP_SOURCE_QUENCH: u8 = 4;
/// `ICMP_ECHO`.
pub const ICMP_ECHO: u8 = 8;
/// `ICMP_TIME_EXCEEDED`.
pub const ICMP_TIME_EXCEEDED: u8 = 11;
/// `ICMP_FRAG_NEEDED`: the destination-unreachable code for "fragmentation needed".
pub const ICMP_FRAG_NEEDED: u8 = 4;

/// `ICMPV6_DEST_UNREACH`.
pub const ICMPV6_DEST_UNREACH: u8 = 1;
/// `ICMPV6_PKT_TOOBIG`.
pub const ICMPV6_PKT_TOOBIG: u8 = 2;
/// `ICMPV6_TIME_EXCEED`.
pub const ICMPV6_TIME_EXCEED: u8 = 3;
/// `ICMPV6_PARAMPROB`.
pub const ICMPV6_PARAMPROB: u8 = 4;
/// `ICMPV6_ECHO_REQUEST`.
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
/// `ICMPV6_INFOMSG_MASK`: types with this bit are informational, the others errors.
pub const ICMPV6_INFOMSG_MASK: u8 = 0x80;

/// Field offsets of `struct icmphdr` / `struct icmp6hdr`.
mod field {
    use core::ops::Range;
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: Range<usize> = 2..4;
    pub(super) const ID: Range<usize> = 4..6;
    pub(super) const SEQ: Range<usize> = 6..8;
    pub(super) const PAYLOAD: usize = 8;
}

/// Offset of the checksum field (`offsetof(struct icmp6hdr, icmp6_cksum)`).
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// Accessors common to both views.
macro_rules! icmp_common {
    ($t:ident) => {
        impl<T: AsRef<[u8]>> $t<T> {
            /// Wraps a buffer without checking it.
            #[inline]
            pub const fn new_unchecked(buffer: T) -> $t<T> {
                $t { buffer }
            }

            /// Wraps a buffer that holds the whole message (at least the 8-byte header;
            /// the message is the whole buffer, as the checksum covers it).
            #[inline]
            pub fn new_checked(buffer: T) -> Result<$t<T>, Malformed> {
                let p = $t::new_unchecked(buffer);
                p.check_len()?;
                Ok(p)
            }

            /// The checks of `new_checked`.
            #[inline]
            pub fn check_len(&self) -> Result<(), Malformed> {
                if self.buffer.as_ref().len() < HEADER_LEN {
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

            /// Message type.
            #[inline]
            pub fn msg_type(&self) -> u8 {
                get_u8(self.buffer.as_ref(), field::TYPE)
            }

            /// Message code.
            #[inline]
            pub fn msg_code(&self) -> u8 {
                get_u8(self.buffer.as_ref(), field::CODE)
            }

            /// Checksum field.
            #[inline]
            pub fn checksum(&self) -> u16 {
                get_be16(self.buffer.as_ref(), field::CHECKSUM)
            }

            /// Identifier of an echo message (`icmp_id()` / `icmpv6_id()`).
            #[inline]
            pub fn echo_ident(&self) -> u16 {
                get_be16(self.buffer.as_ref(), field::ID)
            }

            /// Sequence number of an echo message.
            #[inline]
            pub fn echo_seq_no(&self) -> u16 {
                get_be16(self.buffer.as_ref(), field::SEQ)
            }

            /// Bytes 4..8 as one number: the next-hop MTU of "fragmentation needed" (low
            /// 16 bits) or "packet too big" (32 bits), the pointer of a parameter problem.
            #[inline]
            pub fn rest_of_header(&self) -> u32 {
                super::get_be32(self.buffer.as_ref(), 4..8)
            }

            /// What follows the header: for an error, the start of the offending packet.
            #[inline]
            pub fn payload(&self) -> &[u8] {
                self.buffer.as_ref().get(field::PAYLOAD..).unwrap_or(&[])
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $t<T> {
            /// Sets the message type.
            #[inline]
            pub fn set_msg_type(&mut self, value: u8) {
                set_u8(self.buffer.as_mut(), field::TYPE, value);
            }

            /// Sets the message code.
            #[inline]
            pub fn set_msg_code(&mut self, value: u8) {
                set_u8(self.buffer.as_mut(), field::CODE, value);
            }

            /// Sets the checksum field.
            #[inline]
            pub fn set_checksum(&mut self, value: u16) {
                set_be16(self.buffer.as_mut(), field::CHECKSUM, value);
            }

            /// Sets bytes 4..8.
            #[inline]
            pub fn set_rest_of_header(&mut self, value: u32) {
                super::set_be32(self.buffer.as_mut(), 4..8, value);
            }

            /// The payload, writable.
            #[inline]
            pub fn payload_mut(&mut self) -> &mut [u8] {
                self.buffer
                    .as_mut()
                    .get_mut(field::PAYLOAD..)
                    .unwrap_or(&mut [])
            }
        }
    };
}

/// A read/write view of an ICMP (v4) message; the buffer is the whole message.
///
/// # Invariants
///
/// After [`IcmpPacket::new_checked`]: `8 <= buffer.len()`. Accessors never panic, checked
/// or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

icmp_common!(IcmpPacket);

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Whether this is an error IPVS relates to a connection: destination unreachable,
    /// source quench or time exceeded (the three types `ip_vs_out_icmp()` and
    /// `ip_vs_in_icmp()` handle; parameter problem and redirect are not among them).
    #[inline]
    pub fn is_ipvs_error(&self) -> bool {
        matches!(
            self.msg_type(),
            ICMP_DEST_UNREACH | ICMP_SOURCE_QUENCH | ICMP_TIME_EXCEEDED
        )
    }

    /// Whether the checksum over the whole message verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(checksum::csum_partial(self.buffer.as_ref(), 0))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Computes and writes the checksum of the whole message (`ip_vs_checksum_complete()`).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A read/write view of an ICMPv6 message; the buffer is the whole message.
///
/// # Invariants
///
/// After [`Icmpv6Packet::new_checked`]: `8 <= buffer.len()`. Accessors never panic,
/// checked or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

icmp_common!(Icmpv6Packet);

/// The sum of a whole ICMPv6 message plus its pseudo-header.
#[inline]
fn icmpv6_sum(b: &[u8], src: &InetAddr, dst: &InetAddr) -> u32 {
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    checksum::csum_partial(
        b,
        checksum::pseudo_header_v6(&src.0, &dst.0, IPPROTO_ICMPV6, len),
    )
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Whether this is an error message (type below 128; `ip_vs_out_icmp_v6()` treats
    /// every one as possibly related).
    #[inline]
    pub fn is_error(&self) -> bool {
        self.msg_type() & ICMPV6_INFOMSG_MASK == 0
    }

    /// Whether the checksum over the pseudo-header between `src` and `dst` and the whole
    /// message verifies.
    #[inline]
    pub fn verify_checksum(&self, src: &InetAddr, dst: &InetAddr) -> bool {
        checksum::verifies(icmpv6_sum(self.buffer.as_ref(), src, dst))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Computes and writes the checksum between `src` and `dst` (what the device or
    /// `skb_checksum_help()` completes after `ip_vs_nat_icmp_v6()`).
    #[inline]
    pub fn fill_checksum(&mut self, src: &InetAddr, dst: &InetAddr) {
        self.set_checksum(0);
        let c = checksum::csum_fold(icmpv6_sum(self.buffer.as_ref(), src, dst));
        self.set_checksum(c);
    }
}

/// What `ip_vs_in_icmp()` / `ip_vs_out_icmp()` and their IPv6 twins decide about an ICMP or
/// ICMPv6 packet before looking a connection up, in C's order:
/// 1. no 8-byte ICMP header at the transport offset: `NF_DROP`;
/// 2. ICMPv6 informational (`ICMPV6_INFOMSG_MASK`): not related, `NF_ACCEPT`;
/// 3. ICMPv6 behind a fragment header ("it's not an error message since they can't be
///    fragmented"): `NF_DROP`. For a non-first fragment the "header" read in 1 and 2 is the
///    fragment's first payload bytes, as C's `ipv6_find_hdr()` leaves `iph->len` there;
/// 4. then the quoted packet ([`IcmpError::parse_packet`]); anything it rejects is ignored
///    (`NF_ACCEPT`).
///
/// IPv4 fragments never get here in C: both hooks reassemble ICMP first
/// (`ip_vs_gather_frags()`); one that did is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpTriage {
    /// C returns `NF_DROP` before any lookup.
    Drop,
    /// Not an error about a connection IPVS could have: the packet goes on.
    Ignore,
    /// Not an ICMP error at all (an echo, an ICMPv6 informational message): C's
    /// `*related = 0`, after which `ip_vs_in_hook()` treats it as a packet of a protocol
    /// without an IPVS handler (marked with `ignore_tunneled`).
    NotError,
    /// An error, with the packet it quotes: look the connection up.
    Error(IcmpError),
}

impl IcmpTriage {
    /// Triage of the ICMP or ICMPv6 packet whose outer headers `outer` were parsed from
    /// `pkt` ([`super::parse_packet`]). Not ICMP of the outer family: [`IcmpTriage::Ignore`].
    pub fn of_packet<P: PacketRead + ?Sized>(pkt: &P, outer: &Headers) -> IcmpTriage {
        if !super::is_icmp_of(outer.family, outer.protocol) {
            return IcmpTriage::Ignore;
        }
        let Some(hdr) = read_array::<P, HEADER_LEN>(pkt, outer.l4_off) else {
            return IcmpTriage::Drop;
        };
        if outer.family == Family::Ipv6 {
            if get_u8(&hdr, field::TYPE) & ICMPV6_INFOMSG_MASK != 0 {
                return IcmpTriage::NotError;
            }
            if outer.fragment.is_some() {
                return IcmpTriage::Drop;
            }
        }
        match IcmpError::parse_packet(pkt, outer) {
            Ok(e) => IcmpTriage::Error(e),
            Err(Malformed::NotIcmpError) => IcmpTriage::NotError,
            Err(_) => IcmpTriage::Ignore,
        }
    }

    /// [`IcmpTriage::of_packet`] over a buffer holding the packet (up to `outer.end()`).
    #[inline]
    pub fn of(bytes: &[u8], outer: &Headers) -> IcmpTriage {
        let end = outer.end().min(bytes.len());
        IcmpTriage::of_packet(bytes.get(..end).unwrap_or(&[]), outer)
    }
}

/// An ICMP error and the packet it quotes, as `ip_vs_out_icmp()` / `ip_vs_in_icmp()` and
/// their IPv6 twins find it before looking the connection up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Offset of the ICMP header in the buffer (C's `toff`, the outer `iph->len`).
    pub offset: usize,
    /// The quoted packet's headers (C's `ciph`): `l3_off` is where it starts (`offset + 8`),
    /// `l4_off` its transport offset, `ports` its `[source, destination]` when its protocol
    /// has ports, it is not a non-first fragment and the four port bytes are there
    /// (`l4_header_len` is then 4: only the ports are validated, as C reads only them).
    /// The quoted packet travels in the direction opposite to the error: for an error sent
    /// by a real server about a request, `daddr` / `ports[1]` are the real server's.
    pub inner: Headers,
}

impl IcmpError {
    /// Parses the ICMP error carried by the packet whose outer headers `outer` were parsed
    /// from `bytes` by [`super::parse_l3l4`].
    ///
    /// Errors, with what C does in each case:
    /// - [`Malformed::Unsupported`]: not ICMP of the outer family (not an ICMP path).
    /// - [`Malformed::Fragment`]: the error is itself fragmented. C drops an ICMPv6 error
    ///   after a fragment header (`NF_DROP`) and reassembles IPv4 before looking.
    /// - [`Malformed::Truncated`]: no 8-byte ICMP header (C: `NF_DROP`), or the quoted IP
    ///   header is cut short (C: `NF_ACCEPT`, "looks wrong, ignore").
    /// - [`Malformed::NotIcmpError`]: not an error IPVS relates (C: `NF_ACCEPT`, unrelated).
    /// - [`Malformed::BadVersion`], [`Malformed::BadLength`], [`Malformed::BadExtHeader`]:
    ///   the quoted header is wrong (C: `NF_ACCEPT`, ignored).
    #[inline]
    pub fn parse(bytes: &[u8], outer: &Headers) -> Result<IcmpError, Malformed> {
        let end = outer.end().min(bytes.len());
        IcmpError::parse_packet(bytes.get(..end).unwrap_or(&[]), outer)
    }

    /// [`IcmpError::parse`] reading the packet where it lies: the ICMP header, then the
    /// quoted IP header, its extension headers and its four port bytes, each copied out on
    /// its own ([`PacketRead`]); nothing else of the message is read. `outer` comes from
    /// [`super::parse_packet`] (or [`super::parse_l3l4`]) over the same packet.
    ///
    /// The ICMP type is checked before anything of the quoted packet is read. As C, the
    /// quoted IPv4 header needs only its 20 fixed bytes, version 4 and an IHL of at least 5
    /// (its total length and options are not looked at), and the quoted IPv6 chain is
    /// walked to the end of the outer packet.
    pub fn parse_packet<P: PacketRead + ?Sized>(
        pkt: &P,
        outer: &Headers,
    ) -> Result<IcmpError, Malformed> {
        if !super::is_icmp_of(outer.family, outer.protocol) {
            return Err(Malformed::Unsupported);
        }
        if outer.fragment.is_some() {
            return Err(Malformed::Fragment);
        }
        let toff = outer.l4_off;
        let hdr: [u8; HEADER_LEN] = read_array(pkt, toff).ok_or(Malformed::Truncated)?;
        let icmp_type = get_u8(&hdr, field::TYPE);
        let code = get_u8(&hdr, field::CODE);
        let related = match outer.family {
            Family::Ipv4 => matches!(
                icmp_type,
                ICMP_DEST_UNREACH | ICMP_SOURCE_QUENCH | ICMP_TIME_EXCEEDED
            ),
            Family::Ipv6 => icmp_type & ICMPV6_INFOMSG_MASK == 0,
        };
        if !related {
            return Err(Malformed::NotIcmpError);
        }
        let mut inner = read_ip(pkt, toff.saturating_add(HEADER_LEN), outer.family)?;
        if has_ports(inner.protocol) && !inner.is_non_first_fragment() {
            if let Some([s0, s1, d0, d1]) = read_array::<P, 4>(pkt, inner.l4_off) {
                inner.ports = Some([u16::from_be_bytes([s0, s1]), u16::from_be_bytes([d0, d1])]);
                inner.l4_header_len = 4;
            }
        }
        Ok(IcmpError {
            icmp_type,
            code,
            offset: toff,
            inner,
        })
    }
}
