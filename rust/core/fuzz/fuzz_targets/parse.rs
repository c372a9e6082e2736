//! Fuzz target: header parsing, ICMP error parsing and the NAT rewrites on arbitrary bytes.
//!
//! Input: byte 0 picks the family (bit 0), the operation (bits 1-3) and the checksum mode
//! (bit 4); bytes 1..17 are the new address, 17..19 the new port; the rest is the packet.
//! Operations 4 and 5 are the hooks' path: `parse_packet`, `IcmpError::parse_packet`, then
//! `dnat_parsed` / `snat_parsed` of the fixed headers only. Operations 6 and 7 are SCTP:
//! the state machine's and the scheduler's packet reading, the CRC over the packet, and
//! `sctp_dnat` / `sctp_snat` of the whole buffer (6) or of the headers only (7), with bits
//! 5-7 of byte 0 as `CHECKSUM_PARTIAL`, GSO and device CRC offload.
//! Invariants checked: nothing panics; an operation that fails leaves the buffer as it was;
//! a successful DNAT / SNAT of a packet whose transport checksum verified leaves one that
//! verifies; a successful SCTP rewrite that recomputed the CRC leaves one that verifies.
#![no_main]

use ipvs_core::proto::sctp as sctp_proto;
use ipvs_core::wire::nat::{self, ChecksumMode, IcmpDirection, L4Update};
use ipvs_core::wire::sctp::{self, CsumContext, SctpCsum, SctpPacket};
use ipvs_core::wire::{l4_checksum_ok, parse_l3l4, parse_packet, Family, IcmpError, InetAddr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let Some((a, rest)) = rest.split_first_chunk::<16>() else {
        return;
    };
    let Some((p, pkt)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let family = if ctl & 1 == 0 {
        Family::Ipv4
    } else {
        Family::Ipv6
    };
    let addr = match family {
        Family::Ipv4 => InetAddr::from_ipv4([a[0], a[1], a[2], a[3]]),
        Family::Ipv6 => InetAddr::from_ipv6(*a),
    };
    let port = u16::from_be_bytes(*p);
    let mode = if ctl & 0x10 == 0 {
        ChecksumMode::Full
    } else {
        ChecksumMode::Partial
    };

    let before = parse_l3l4(pkt, family);
    if let Ok(h) = before {
        let _ = IcmpError::parse(pkt, &h);
    }
    let verified = before.ok().and_then(|h| l4_checksum_ok(pkt, &h).ok()) == Some(true);

    let mut buf = pkt.to_vec();
    let r = match (ctl >> 1) & 7 {
        0 => nat::dnat(&mut buf, family, &addr, port, mode).map(|d| Some(d.l4)),
        1 => nat::snat(&mut buf, family, &addr, port, mode).map(|d| Some(d.l4)),
        2 => nat::nat_icmp(&mut buf, family, IcmpDirection::Out, &addr, port).map(|_| None),
        3 => nat::nat_icmp(&mut buf, family, IcmpDirection::In, &addr, port).map(|_| None),
        4 | 5 => {
            let Ok(info) = parse_packet(pkt, family) else {
                return;
            };
            let h = info.headers;
            assert_eq!(h.total_len, pkt.len());
            if h.ports.is_some() {
                assert!(h.l4_off + h.l4_header_len <= pkt.len());
            }
            let _ = IcmpError::parse_packet(pkt, &h);
            let cut = (h.l4_off + h.l4_header_len).min(buf.len());
            let head = &mut buf[..cut];
            let r = if ctl & 2 == 0 {
                nat::dnat_parsed(head, &h, &addr, port, mode)
            } else {
                nat::snat_parsed(head, &h, &addr, port, mode)
            };
            if r.is_err() {
                assert_eq!(buf, pkt);
            }
            return;
        }
        6 | 7 => {
            let Ok(info) = parse_packet(pkt, family) else {
                return;
            };
            let h = info.headers;
            let _ = sctp_proto::packet_event(pkt, h.l4_off);
            let _ = sctp_proto::first_chunk_type(pkt, h.l4_off);
            let crc = sctp::checksum_packet(pkt, h.l4_off);
            if let Some(l4) = pkt.get(h.l4_off..) {
                assert_eq!(
                    crc,
                    (l4.len() >= sctp::HEADER_LEN).then(|| sctp::checksum(l4))
                );
            }
            let ctx = CsumContext {
                partial: ctl & 0x20 != 0,
                gso: ctl & 0x40 != 0,
                dev_sctp_crc: ctl & 0x80 != 0,
                payload_mangled: false,
            };
            let head_only = ctl & 2 != 0;
            let cut = if head_only {
                (h.l4_off + sctp::HEADER_LEN).min(buf.len())
            } else {
                buf.len()
            };
            let r = if ctl & 0x10 == 0 {
                nat::sctp_dnat_parsed(&mut buf[..cut], &h, &addr, port, ctx)
            } else {
                nat::sctp_snat_parsed(&mut buf[..cut], &h, &addr, port, ctx)
            };
            match r {
                Err(_) => assert_eq!(buf, pkt),
                Ok(d) => {
                    if d.l4 == Some(SctpCsum::Recomputed) {
                        assert!(SctpPacket::new_unchecked(&buf[h.l4_off..]).verify_checksum());
                    }
                }
            }
            return;
        }
        _ => return,
    };
    match r {
        Err(_) => assert_eq!(buf, pkt),
        Ok(l4) => {
            let h = parse_l3l4(&buf, family).expect("a rewritten packet still parses");
            let full = matches!(
                l4,
                Some(L4Update::Incremental | L4Update::Recomputed | L4Update::NoUdpChecksum)
            );
            if verified && full {
                assert_eq!(l4_checksum_ok(&buf, &h), Ok(true));
            }
            if l4.is_none() {
                assert_eq!(l4_checksum_ok(&buf, &h), Ok(true));
            }
        }
    }
});
