//! Persistence templates: which template a packet for a persistent service is looked up
//! and created under, and the connection that is then created next to it.
//!
//! C source (Linux 6.12): `net/netfilter/ipvs/ip_vs_core.c` (`ip_vs_sched_persist()`,
//! `ip_vs_conn_fill_param_persist()`, the port selection of `ip_vs_schedule()`),
//! `net/netfilter/ipvs/ip_vs_conn.c` (`ip_vs_ct_in_get()`, `ip_vs_check_template()`,
//! `expire_quiescent_template()`), `include/net/ip_vs.h` (`ip_vs_conn_fill_param()`,
//! `ip_vs_addr_equal()`, `FTPPORT`), `include/net/ipv6.h` (`ipv6_addr_prefix()`).
//!
//! A persistent service (`IP_VS_SVC_F_PERSISTENT`, `ipvsadm -p`) sends every connection of a
//! client network to the same real server for as long as a *template* lives: a connection
//! entry flagged `IP_VS_CONN_F_TEMPLATE` whose client address is the client's masked with
//! the service's netmask, whose client port is 0, and whose destination is the chosen real
//! server. [`sched_persist`] computes, as a pure function of the service and the packet,
//! what `ip_vs_sched_persist()` computes before and around its table operations:
//!
//! * the template key (C's `param` for `ip_vs_ct_in_get()` and `ip_vs_conn_new()`),
//! * the template's destination port once a destination is chosen,
//! * the key, destination port and flags of the connection it creates.
//!
//! The table lookups, the scheduler call and the connection creation stay with the caller.
//! Persistence engines (`svc->pe`, "sip") are not modelled: without one,
//! `ip_vs_conn_fill_param_persist()` is `ip_vs_conn_fill_param()` and cannot fail.
//!
//! The template key has three forms (ip_vs_core.c:292-330):
//!
//! | packet's destination port | service | template key |
//! |---|---|---|
//! | `== svc->port`, not 21 | any | `<proto, snet, 0, vaddr, vport>` |
//! | `== svc->port` = 21 (FTP) | any | `<proto, snet, 0, vaddr, 0>` |
//! | `!= svc->port` | fwmark | `<IPPROTO_IP, snet, 0, fwmark, 0>` |
//! | `!= svc->port` | port zero | `<proto, snet, 0, vaddr, 0>` |
//!
//! where `snet` is the client address masked and `fwmark` is the mark in network order in
//! the first four bytes of an otherwise zero address. C compares ports as they are (network
//! order) and this module in host order: equality does not care.
//!
//! # C quirks kept
//!
//! * The fwmark form depends on the packet's port, not on the service alone: a fwmark
//!   service has `svc->port == 0`, so a packet *to port 0* takes the first form, with its
//!   own protocol and destination address, and that template's destination port is the
//!   real server's.
//! * The FTP exception looks at the service port only (`svc->port == FTPPORT`), whether or
//!   not the FTP helper is loaded.
//! * Templates of a fwmark service are shared between protocols (`IPPROTO_IP`) and between
//!   address families' upper bytes: `ip_vs_ct_in_get()` compares only the first four bytes
//!   of the virtual address when the protocol is `IPPROTO_IP` ([`ConnParam::matches_template`]).
//! * `ip_vs_check_template()` invalidates a template by rehashing it with virtual and
//!   destination port 0xffff, unless its virtual port already is 0xffff: a template of a
//!   persistent service on port 65535 is never taken out of the lookup's way
//!   ([`invalidated_template`]).

use crate::netlink::ipvs::{conn_flags, svc_flags, AF_INET6};
use crate::sched::InetAddr;

/// `IP_VS_CONN_F_TEMPLATE`: the flags `ip_vs_sched_persist()` creates a template with
/// (`ip_vs_conn_new()` adds the destination's `conn_flags`).
pub const CONN_F_TEMPLATE: u32 = crate::netlink::ipvs::conn_flags::TEMPLATE;

/// `FTPPORT` (`htons(21)`), host order.
pub const FTP_PORT: u16 = 21;

/// `IPPROTO_IP`: the protocol of fwmark templates.
pub const IPPROTO_IP: u16 = 0;

/// `IPPROTO_UDP`.
const IPPROTO_UDP: u16 = 17;

/// The virtual and destination port `ip_vs_check_template()` gives an invalidated template.
pub const INVALID_TEMPLATE_PORT: u16 = 0xffff;

/// The fields of a service `ip_vs_sched_persist()` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersistService {
    /// `svc->af`: the family of every address here and of the keys made.
    pub af: u16,
    /// `svc->port`, host order: 0 for fwmark and port-zero services.
    pub port: u16,
    /// `svc->fwmark`: non-zero for a fwmark service.
    pub fwmark: u32,
    /// `svc->netmask` as C holds it (see `ServiceRepr::netmask`): an IPv4 mask in network
    /// order, or for IPv6 the prefix length as a host-order `u32`.
    pub netmask: [u8; 4],
    /// `svc->flags`: `IP_VS_SVC_F_ONEPACKET` matters.
    pub flags: u32,
}

/// The packet, seen from the client: what `ip_vs_schedule()` passes (`cport`, `vport`) and
/// `ip_vs_sched_persist()` picks from the header (`src_addr`, `dst_addr`), both already
/// swapped when the header is marked `IP_VS_HDR_INVERSE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersistPacket {
    /// `iph->protocol`.
    pub protocol: u16,
    /// Client address (`src_addr`).
    pub caddr: InetAddr,
    /// Client port, host order (`src_port`).
    pub cport: u16,
    /// Virtual address the packet is for (`dst_addr`).
    pub vaddr: InetAddr,
    /// Virtual port, host order (`dst_port`).
    pub vport: u16,
}

/// `struct ip_vs_conn_param` without a persistence engine: the key a connection or template
/// is created and looked up with. Ports in host order; IPv4 addresses in the first four
/// bytes, the rest zero (as `ip_vs_addr_set()` stores them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnParam {
    /// `p->af`.
    pub af: u16,
    /// `p->protocol`.
    pub protocol: u16,
    /// `p->caddr`.
    pub caddr: InetAddr,
    /// `p->cport`.
    pub cport: u16,
    /// `p->vaddr`.
    pub vaddr: InetAddr,
    /// `p->vport`.
    pub vport: u16,
}

/// `ip_vs_addr_equal(af, a, b)`: all 16 bytes for `AF_INET6`, else the first four (also for
/// `AF_UNSPEC`).
fn addr_equal(af: u16, a: &InetAddr, b: &InetAddr) -> bool {
    if af == AF_INET6 {
        a == b
    } else {
        a.0.first_chunk::<4>() == b.0.first_chunk::<4>()
    }
}

impl ConnParam {
    /// The test `ip_vs_ct_in_get(self)` applies to an entry `cp` of its hash chain (with
    /// `cp_flags` = `cp->flags`, and `cp` the entry's own `af`, `protocol`, addresses and
    /// ports): same family, client address, client and virtual port and protocol, a
    /// template, and the same virtual address, compared in full for IPv6 but on its first
    /// four bytes only when the protocol is `IPPROTO_IP` (a fwmark).
    pub fn matches_template(&self, cp: &ConnParam, cp_flags: u32) -> bool {
        let vaddr_af = if self.protocol == IPPROTO_IP {
            0
        } else {
            self.af
        };
        cp.af == self.af
            && addr_equal(self.af, &self.caddr, &cp.caddr)
            && addr_equal(vaddr_af, &self.vaddr, &cp.vaddr)
            && self.vport == cp.vport
            && self.cport == cp.cport
            && cp_flags & CONN_F_TEMPLATE != 0
            && self.protocol == cp.protocol
    }
}

/// The client's network: `caddr` masked as `ip_vs_sched_persist()` masks it
/// (ip_vs_core.c:277-284).
///
/// IPv4: `caddr & netmask` on the first four bytes, the rest zero. IPv6:
/// `ipv6_addr_prefix(caddr, plen)` with `plen = (__force u32) svc->netmask`: the first
/// `plen` bits kept, the rest cleared. C requires `plen <= 128` (the control plane accepts
/// `1..=128` only); a larger value, undefined behaviour in C, keeps the whole address here.
pub fn source_network(af: u16, caddr: &InetAddr, netmask: [u8; 4]) -> InetAddr {
    let mut snet = [0u8; 16];
    if af == AF_INET6 {
        let plen = usize::try_from(u32::from_ne_bytes(netmask))
            .unwrap_or(usize::MAX)
            .min(128);
        let (whole, bits) = (plen / 8, plen % 8);
        for (i, (dst, src)) in snet.iter_mut().zip(caddr.0).enumerate() {
            if i < whole {
                *dst = src;
            } else if i == whole && bits != 0 {
                // `addr->s6_addr[o] & (0xff00 >> b)`, truncated to a byte.
                *dst = src & (0xff00u16 >> bits) as u8;
            }
        }
    } else {
        for ((dst, src), m) in snet.iter_mut().zip(caddr.0).zip(netmask) {
            *dst = src & m;
        }
    }
    InetAddr(snet)
}

/// What `ip_vs_sched_persist()` derives from a service and a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Persist {
    /// The template key: looked up with `ip_vs_ct_in_get()` and, if no usable template is
    /// found, created with `ip_vs_conn_new(..., IP_VS_CONN_F_TEMPLATE, ...)` (its timeout:
    /// `svc->timeout`). Its client port is always 0.
    pub template: ConnParam,
    /// Whether a template created now takes the chosen destination's port (else 0):
    /// `dst_port == svc->port && svc->port != FTPPORT` (ip_vs_core.c:364-365). See
    /// [`Persist::template_dport`].
    pub template_takes_dest_port: bool,
    /// The key of the connection created for the packet: the packet's own protocol,
    /// addresses and ports in the service's family (ip_vs_core.c:397-398), the client
    /// address unmasked.
    pub conn: ConnParam,
    /// The flags the connection is created with: `IP_VS_CONN_F_ONE_PACKET` for UDP on a
    /// one-packet service, else 0 (ip_vs_core.c:390-392).
    pub conn_flags: u32,
    /// Whether the connection goes to the destination's port: the packet is for the
    /// service's port (ip_vs_core.c:386-388). See [`Persist::conn_dport`].
    conn_to_dest_port: bool,
}

impl Persist {
    /// The destination port of a template created for a destination on `dest_port`
    /// (`dport` of `ip_vs_conn_new()` at ip_vs_core.c:371).
    pub const fn template_dport(&self, dest_port: u16) -> u16 {
        if self.template_takes_dest_port {
            dest_port
        } else {
            0
        }
    }

    /// The destination port of the connection, `dest_port` being the port of the template's
    /// destination (`dest->port`, new or found): the destination's port if the packet is for
    /// the service's port and the destination has one, else the packet's own port. (For an
    /// FTP service too: only the template drops the port.)
    pub const fn conn_dport(&self, dest_port: u16) -> u16 {
        if self.conn_to_dest_port && dest_port != 0 {
            dest_port
        } else {
            self.conn.vport
        }
    }
}

/// The keys and ports `ip_vs_sched_persist()` uses for `pkt` on the persistent service
/// `svc` (see the module documentation for the table).
pub fn sched_persist(svc: &PersistService, pkt: &PersistPacket) -> Persist {
    let snet = source_network(svc.af, &pkt.caddr, svc.netmask);
    let to_service_port = pkt.vport == svc.port;
    let (protocol, vaddr, vport) = if to_service_port {
        (
            pkt.protocol,
            pkt.vaddr,
            if svc.port != FTP_PORT { pkt.vport } else { 0 },
        )
    } else if svc.fwmark != 0 {
        // `const union nf_inet_addr fwmark = { .ip = htonl(svc->fwmark) }`.
        let [a, b, c, d] = svc.fwmark.to_be_bytes();
        (IPPROTO_IP, InetAddr::from_ipv4([a, b, c, d]), 0)
    } else {
        (pkt.protocol, pkt.vaddr, 0)
    };
    let conn_flags = if svc.flags & svc_flags::ONEPACKET != 0 && pkt.protocol == IPPROTO_UDP {
        conn_flags::ONE_PACKET
    } else {
        0
    };
    Persist {
        template: ConnParam {
            af: svc.af,
            protocol,
            caddr: snet,
            cport: 0,
            vaddr,
            vport,
        },
        template_takes_dest_port: to_service_port && svc.port != FTP_PORT,
        conn: ConnParam {
            af: svc.af,
            protocol: pkt.protocol,
            caddr: pkt.caddr,
            cport: pkt.cport,
            vaddr: pkt.vaddr,
            vport: pkt.vport,
        },
        conn_flags,
        conn_to_dest_port: to_service_port,
    }
}

/// What `ip_vs_check_template(ct, NULL)` reads of a template's destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateDest {
    /// `dest->cflags & IP_VS_DEST_CF_AVAILABLE`: the destination is still in its service
    /// (cleared when it moves to the trash).
    pub available: bool,
    /// `dest->weight`.
    pub weight: i32,
}

/// `ip_vs_check_template(ct, NULL)`: whether a template found by the lookup may be used.
/// Not if it has no destination, its destination is unavailable, or the
/// `expire_quiescent_template` sysctl is set and the destination's weight is 0
/// (`expire_quiescent_template()`). A template that may not be used is invalidated
/// ([`invalidated_template`]) and a new destination is scheduled.
pub fn template_usable(dest: Option<TemplateDest>, expire_quiescent_template: bool) -> bool {
    match dest {
        None => false,
        Some(d) => d.available && !(expire_quiescent_template && d.weight == 0),
    }
}

/// The key and destination port `ip_vs_check_template()` rehashes an unusable template
/// under (client port 0, virtual and destination port 0xffff), so that lookups stop finding
/// it while it waits for its timer; `None` when C leaves it as it is, because its virtual
/// port already is 0xffff (an invalidated template, or one of a service on port 65535).
/// (C also skips the rehash if the template is no longer hashed.)
pub fn invalidated_template(ct: &ConnParam) -> Option<(ConnParam, u16)> {
    if ct.vport == INVALID_TEMPLATE_PORT {
        return None;
    }
    Some((
        ConnParam {
            cport: 0,
            vport: INVALID_TEMPLATE_PORT,
            ..*ct
        },
        INVALID_TEMPLATE_PORT,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AF4: u16 = 2;
    const TCP: u16 = 6;
    const UDP: u16 = 17;

    fn v4(a: [u8; 4]) -> InetAddr {
        InetAddr::from_ipv4(a)
    }

    fn v6(groups: [u16; 8]) -> InetAddr {
        let mut b = [0u8; 16];
        for (pair, g) in b.chunks_exact_mut(2).zip(groups) {
            pair.copy_from_slice(&g.to_be_bytes());
        }
        InetAddr(b)
    }

    fn svc(port: u16, fwmark: u32, netmask: [u8; 4]) -> PersistService {
        PersistService {
            af: AF4,
            port,
            fwmark,
            netmask,
            flags: svc_flags::PERSISTENT,
        }
    }

    fn pkt(protocol: u16, vport: u16) -> PersistPacket {
        PersistPacket {
            protocol,
            caddr: v4([192, 168, 7, 200]),
            cport: 40000,
            vaddr: v4([10, 0, 0, 1]),
            vport,
        }
    }

    fn key(
        af: u16,
        protocol: u16,
        caddr: InetAddr,
        cport: u16,
        vaddr: InetAddr,
        vport: u16,
    ) -> ConnParam {
        ConnParam {
            af,
            protocol,
            caddr,
            cport,
            vaddr,
            vport,
        }
    }

    /// ip_vs_core.c:310-317 and :364-365: a packet for the service's port.
    #[test]
    fn port_service() {
        let p = sched_persist(&svc(80, 0, [255, 255, 255, 0]), &pkt(TCP, 80));
        assert_eq!(
            p.template,
            key(AF4, TCP, v4([192, 168, 7, 0]), 0, v4([10, 0, 0, 1]), 80)
        );
        assert_eq!((p.template_dport(8080), p.template_dport(0)), (8080, 0));
        // :386-388: the destination's port when it has one, else the packet's.
        assert_eq!((p.conn_dport(8080), p.conn_dport(0)), (8080, 80));
        // :397-398: the connection is the packet's, client address unmasked.
        assert_eq!(
            p.conn,
            key(
                AF4,
                TCP,
                v4([192, 168, 7, 200]),
                40000,
                v4([10, 0, 0, 1]),
                80
            )
        );
        assert_eq!(p.conn_flags, 0);
    }

    /// ip_vs_core.c:316 and :364: FTP keeps neither port in the template, but the
    /// connection still goes to the destination's port.
    #[test]
    fn ftp_service() {
        let p = sched_persist(&svc(21, 0, [255, 255, 255, 255]), &pkt(TCP, 21));
        assert_eq!(
            p.template,
            key(AF4, TCP, v4([192, 168, 7, 200]), 0, v4([10, 0, 0, 1]), 0)
        );
        assert_eq!(p.template_dport(2121), 0);
        assert_eq!((p.conn_dport(2121), p.conn_dport(0)), (2121, 21));
    }

    /// ip_vs_core.c:318-330 (port zero, no mark): the template has no ports; the
    /// connection keeps the packet's port whatever the destination's.
    #[test]
    fn port_zero_service() {
        let p = sched_persist(&svc(0, 0, [255, 255, 0, 0]), &pkt(UDP, 5353));
        assert_eq!(
            p.template,
            key(AF4, UDP, v4([192, 168, 0, 0]), 0, v4([10, 0, 0, 1]), 0)
        );
        assert_eq!(p.template_dport(53), 0);
        assert_eq!(p.conn_dport(53), 5353);
        assert_eq!(p.conn.vport, 5353);
    }

    /// ip_vs_core.c:263 and :326-329: a fwmark template is <IPPROTO_IP, snet, 0,
    /// htonl(mark), 0>, for every protocol.
    #[test]
    fn fwmark_service() {
        let s = svc(0, 0x0102_0304, [255, 255, 255, 255]);
        for proto in [TCP, UDP] {
            let p = sched_persist(&s, &pkt(proto, 443));
            assert_eq!(
                p.template,
                key(
                    AF4,
                    IPPROTO_IP,
                    v4([192, 168, 7, 200]),
                    0,
                    v4([1, 2, 3, 4]),
                    0
                )
            );
            assert_eq!(p.template_dport(8443), 0);
            assert_eq!(p.conn_dport(8443), 443);
            assert_eq!(p.conn.protocol, proto);
        }
        // A packet to port 0 equals svc->port (0): the first form, with the packet's
        // protocol and address, and the destination's port (ip_vs_core.c:310, :364, :387).
        let p = sched_persist(&s, &pkt(UDP, 0));
        assert_eq!(
            p.template,
            key(AF4, UDP, v4([192, 168, 7, 200]), 0, v4([10, 0, 0, 1]), 0)
        );
        assert_eq!(p.template_dport(99), 99);
        assert_eq!(p.conn_dport(99), 99);
    }

    /// ip_vs_core.c:390-392.
    #[test]
    fn one_packet_only_for_udp() {
        let mut s = svc(53, 0, [255; 4]);
        s.flags |= svc_flags::ONEPACKET;
        assert_eq!(
            sched_persist(&s, &pkt(UDP, 53)).conn_flags,
            conn_flags::ONE_PACKET
        );
        assert_eq!(sched_persist(&s, &pkt(TCP, 53)).conn_flags, 0);
        s.flags &= !svc_flags::ONEPACKET;
        assert_eq!(sched_persist(&s, &pkt(UDP, 53)).conn_flags, 0);
    }

    /// ip_vs_core.c:279-281, `ipv6_addr_prefix()` (ipv6.h:598-610).
    #[test]
    fn ipv6_prefix() {
        let c = v6([
            0x2001, 0x0db8, 0xabcd, 0x1234, 0x5678, 0x9abc, 0xdef0, 0xffff,
        ]);
        let net = |plen: u32| source_network(AF_INET6, &c, plen.to_ne_bytes());
        assert_eq!(net(128), c);
        assert_eq!(net(64), v6([0x2001, 0x0db8, 0xabcd, 0x1234, 0, 0, 0, 0]));
        assert_eq!(net(48), v6([0x2001, 0x0db8, 0xabcd, 0, 0, 0, 0, 0]));
        // b = 4: the byte at o = 6 keeps its top four bits (0x12 & 0xf0).
        assert_eq!(net(52), v6([0x2001, 0x0db8, 0xabcd, 0x1000, 0, 0, 0, 0]));
        assert_eq!(net(1), v6([0, 0, 0, 0, 0, 0, 0, 0])); // 0x20 & 0x80
        assert_eq!(net(3), v6([0x2000, 0, 0, 0, 0, 0, 0, 0])); // 0x20 & 0xe0
        assert_eq!(
            net(127),
            v6([0x2001, 0x0db8, 0xabcd, 0x1234, 0x5678, 0x9abc, 0xdef0, 0xfffe])
        );
        assert_eq!(net(0), InetAddr([0; 16]));
        // Outside what the control plane accepts: no panic, the whole address.
        assert_eq!(net(129), c);
        assert_eq!(net(u32::MAX), c);

        let s = PersistService {
            af: AF_INET6,
            port: 443,
            fwmark: 0,
            netmask: 64u32.to_ne_bytes(),
            flags: 0,
        };
        let vip = v6([0x2001, 0x0db8, 0, 0, 0, 0, 0, 1]);
        let p = sched_persist(
            &s,
            &PersistPacket {
                protocol: TCP,
                caddr: c,
                cport: 1,
                vaddr: vip,
                vport: 443,
            },
        );
        assert_eq!(p.template, key(AF_INET6, TCP, net(64), 0, vip, 443));
        assert_eq!(p.conn, key(AF_INET6, TCP, c, 1, vip, 443));
    }

    /// An IPv6 fwmark template: the mark in the first four bytes, the rest zero.
    #[test]
    fn ipv6_fwmark() {
        let s = PersistService {
            af: AF_INET6,
            port: 0,
            fwmark: 7,
            netmask: 128u32.to_ne_bytes(),
            flags: 0,
        };
        let c = v6([0xfd00, 0, 0, 0, 0, 0, 0, 9]);
        let p = sched_persist(
            &s,
            &PersistPacket {
                protocol: UDP,
                caddr: c,
                cport: 1,
                vaddr: v6([0xfd00, 0, 0, 0, 0, 0, 0, 1]),
                vport: 2,
            },
        );
        assert_eq!(
            p.template,
            key(AF_INET6, IPPROTO_IP, c, 0, v6([0, 7, 0, 0, 0, 0, 0, 0]), 0)
        );
    }

    /// IPv4 masking: byte-wise AND with the mask as it sits in memory; upper bytes zero
    /// even if the caller's address had garbage there.
    #[test]
    fn ipv4_mask() {
        let mut c = v4([172, 16, 254, 33]);
        c.0[9] = 0xaa;
        assert_eq!(
            source_network(AF4, &c, [255, 255, 240, 0]),
            v4([172, 16, 240, 0])
        );
        assert_eq!(source_network(AF4, &c, [0; 4]), v4([0; 4]));
        assert_eq!(source_network(AF4, &c, [255; 4]), v4([172, 16, 254, 33]));
    }

    /// `ip_vs_ct_in_get()` (ip_vs_conn.c:349-380): the comparisons, one at a time.
    #[test]
    fn template_lookup_match() {
        let t = key(AF4, TCP, v4([192, 168, 7, 0]), 0, v4([10, 0, 0, 1]), 80);
        assert!(t.matches_template(&t, CONN_F_TEMPLATE));
        assert!(!t.matches_template(&t, 0), "not a template");
        assert!(!t.matches_template(&ConnParam { af: AF_INET6, ..t }, CONN_F_TEMPLATE));
        assert!(!t.matches_template(&ConnParam { protocol: UDP, ..t }, CONN_F_TEMPLATE));
        assert!(!t.matches_template(&ConnParam { cport: 1, ..t }, CONN_F_TEMPLATE));
        assert!(!t.matches_template(&ConnParam { vport: 81, ..t }, CONN_F_TEMPLATE));
        assert!(!t.matches_template(
            &ConnParam {
                caddr: v4([192, 168, 8, 0]),
                ..t
            },
            CONN_F_TEMPLATE
        ));
        assert!(!t.matches_template(
            &ConnParam {
                vaddr: v4([10, 0, 0, 2]),
                ..t
            },
            CONN_F_TEMPLATE
        ));
        // IPv4 compares the first four bytes only.
        let mut odd = t;
        odd.caddr.0[15] = 1;
        odd.vaddr.0[4] = 1;
        assert!(t.matches_template(&odd, CONN_F_TEMPLATE));
        // IPv6 compares all 16, except the virtual address of a fwmark (IPPROTO_IP) key.
        let s = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]);
        let f = key(AF_INET6, IPPROTO_IP, s, 0, v6([0, 7, 0, 0, 0, 0, 0, 0]), 0);
        let mut other = f;
        other.vaddr.0[15] = 1;
        assert!(f.matches_template(&other, CONN_F_TEMPLATE));
        other.caddr.0[15] = 1;
        assert!(!f.matches_template(&other, CONN_F_TEMPLATE));
        let n = ConnParam { protocol: TCP, ..f };
        let mut other = n;
        other.vaddr.0[15] = 1;
        assert!(!n.matches_template(&other, CONN_F_TEMPLATE));
    }

    /// `ip_vs_check_template()` (ip_vs_conn.c:756-799) with `cdest == NULL`: the test at
    /// :764-767 (`expire_quiescent_template()` :740-749), the rehash at :782-788.
    #[test]
    fn check_template() {
        let d = |available, weight| Some(TemplateDest { available, weight });
        assert!(!template_usable(None, false));
        assert!(template_usable(d(true, 1), false));
        assert!(
            template_usable(d(true, 0), false),
            "weight 0 keeps persistence by default"
        );
        assert!(!template_usable(d(true, 0), true));
        assert!(template_usable(d(true, 5), true));
        assert!(!template_usable(d(false, 5), false));

        let t = key(AF4, TCP, v4([192, 168, 7, 0]), 0, v4([10, 0, 0, 1]), 80);
        let (k, dport) = invalidated_template(&t).unwrap();
        assert_eq!(k, ConnParam { vport: 0xffff, ..t });
        assert_eq!(dport, 0xffff);
        assert_eq!(invalidated_template(&k), None);
        // A persistent service on port 65535: its templates are never rehashed away.
        assert_eq!(invalidated_template(&ConnParam { vport: 65535, ..t }), None);
        // An invalidated key no longer matches the lookup that found it.
        assert!(!t.matches_template(&k, CONN_F_TEMPLATE));
    }

    fn addr(af: u16) -> impl Strategy<Value = InetAddr> {
        any::<[u8; 16]>().prop_map(move |a| {
            if af == AF_INET6 {
                InetAddr(a)
            } else {
                let [a0, a1, a2, a3, ..] = a;
                v4([a0, a1, a2, a3])
            }
        })
    }

    /// A transcription of ip_vs_core.c:263-330 and :364-398 kept as close to the C as Rust
    /// allows, to compare [`sched_persist`] with on random input.
    #[allow(clippy::needless_range_loop)] // reads like the C it transcribes
    fn c_model(
        s: &PersistService,
        p: &PersistPacket,
        dest_port: u16,
    ) -> (ConnParam, u16, ConnParam, u16, u32) {
        let fwmark = {
            let b = s.fwmark.to_be_bytes();
            let mut a = [0u8; 16];
            a[..4].copy_from_slice(&b);
            InetAddr(a)
        };
        let mut snet = [0u8; 16];
        if s.af == AF_INET6 {
            let plen = u32::from_ne_bytes(s.netmask) as usize;
            let (o, b) = (plen >> 3, plen & 7);
            snet[..o].copy_from_slice(&p.caddr.0[..o]);
            if b != 0 {
                snet[o] = p.caddr.0[o] & (0xff00u32 >> b) as u8;
            }
        } else {
            for i in 0..4 {
                snet[i] = p.caddr.0[i] & s.netmask[i];
            }
        }
        let (mut protocol, mut vaddr, mut vport) = (p.protocol, p.vaddr, 0);
        if p.vport == s.port {
            if s.port != 21 {
                vport = p.vport;
            }
        } else if s.fwmark != 0 {
            protocol = 0;
            vaddr = fwmark;
        }
        let param = key(s.af, protocol, InetAddr(snet), 0, vaddr, vport);
        let mut tdport = 0;
        if p.vport == s.port && s.port != 21 {
            tdport = dest_port;
        }
        let mut dport = p.vport;
        if dport == s.port && dest_port != 0 {
            dport = dest_port;
        }
        let flags = if s.flags & svc_flags::ONEPACKET != 0 && p.protocol == 17 {
            conn_flags::ONE_PACKET
        } else {
            0
        };
        let conn = key(s.af, p.protocol, p.caddr, p.cport, p.vaddr, p.vport);
        (param, tdport, conn, dport, flags)
    }

    fn service() -> impl Strategy<Value = PersistService> {
        (
            prop_oneof![Just(AF4), Just(AF_INET6)],
            prop_oneof![Just(0u16), Just(21), Just(80), any::<u16>()],
            prop_oneof![Just(0u32), any::<u32>()],
            any::<[u8; 4]>(),
            0u32..=128,
            any::<u32>(),
        )
            .prop_map(|(af, port, fwmark, mask4, plen, flags)| PersistService {
                af,
                port,
                fwmark,
                netmask: if af == AF_INET6 {
                    plen.to_ne_bytes()
                } else {
                    mask4
                },
                flags,
            })
    }

    proptest! {
        #[test]
        fn matches_c_transcription(
            s in service(),
            (caddr, vaddr) in (addr(AF4), addr(AF4), addr(AF_INET6), addr(AF_INET6)).prop_map(|(a, b, c, d)| ((a, b), (c, d))),
            protocol in prop_oneof![Just(TCP), Just(UDP), Just(132u16)],
            cport: u16,
            vport in prop_oneof![Just(0u16), Just(21), Just(80), any::<u16>()],
            dest_port in prop_oneof![Just(0u16), any::<u16>()],
        ) {
            let (c, v) = if s.af == AF_INET6 { (vaddr.0, vaddr.1) } else { (caddr.0, caddr.1) };
            let p = PersistPacket { protocol, caddr: c, cport, vaddr: v, vport };
            let got = sched_persist(&s, &p);
            let (tpl, tdport, conn, dport, flags) = c_model(&s, &p, dest_port);
            prop_assert_eq!(got.template, tpl);
            prop_assert_eq!(got.template_dport(dest_port), tdport);
            prop_assert_eq!(got.conn, conn);
            prop_assert_eq!(got.conn_dport(dest_port), dport);
            prop_assert_eq!(got.conn_flags, flags);
            // The template key finds a template made from it, and the packet's connection
            // key is never mistaken for a template.
            prop_assert!(got.template.matches_template(&got.template, CONN_F_TEMPLATE));
            prop_assert!(!got.template.matches_template(&got.conn, 0));
        }
    }
}
