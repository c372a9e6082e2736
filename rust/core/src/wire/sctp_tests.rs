//! Host tests of SCTP in `wire`: CRC32c known answers (RFC 3720 §B.4), a bitwise reference
//! CRC sharing no code with the tables, an SCTP INIT whose checksum was computed by an
//! independent implementation (Python's `crc32c` package), NAT properties, and parsing
//! arbitrary bytes without panics.
//!
//! The C handlers themselves are compared in `proto/c_ref_sctp_tests.rs`.

use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::nat::{self, SctpNatDone};
use super::sctp::*;
use super::*;
use crate::proto::sctp::{first_chunk_type, packet_event, Event};

/// Bitwise CRC32c register update (reflected, polynomial 0x82F63B78), the textbook loop.
fn ref_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn ref_crc32c(data: &[u8]) -> u32 {
    !ref_update(!0, data)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A packet in pieces, as an skb with page fragments.
struct Pieces(Vec<Vec<u8>>);

impl Pieces {
    fn new(bytes: &[u8], cuts: &[usize]) -> Pieces {
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        let (mut v, mut at) = (Vec::new(), 0);
        for c in cuts.into_iter().chain([bytes.len()]) {
            v.push(bytes[at..c].to_vec());
            at = c;
        }
        Pieces(v)
    }
}

impl PacketRead for Pieces {
    fn packet_len(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    fn read(&self, off: usize, out: &mut [u8]) -> bool {
        let all: Vec<u8> = self.0.concat();
        match all.get(off..).and_then(|s| s.get(..out.len())) {
            Some(s) => {
                out.copy_from_slice(s);
                true
            }
            None => false,
        }
    }
}

// ---- CRC32c ---------------------------------------------------------------------------

#[test]
fn rfc3720_crc32c_vectors() {
    let inc: Vec<u8> = (0u8..32).collect();
    let dec: Vec<u8> = (0u8..32).rev().collect();
    let iscsi_read = hex(concat!(
        "01c00000000000000000000000000000",
        "14000000000004000000001400000018",
        "28000000000000000200000000000000"
    ));
    let cases: [(&[u8], u32); 6] = [
        (&[0; 32], 0x8a91_36aa),
        (&[0xff; 32], 0x62a8_ab43),
        (&inc, 0x46dd_794e),
        (&dec, 0x113f_db5c),
        (&iscsi_read, 0xd996_3a56),
        (b"123456789", 0xe306_9283),
    ];
    for (data, want) in cases {
        assert_eq!(crc32c(data), want, "{data:02x?}");
        assert_eq!(ref_crc32c(data), want, "reference, {data:02x?}");
    }
    // RFC 3720 lists the 32 zero bytes' CRC as the bytes aa 36 91 8a: the value stored
    // little-endian, as Linux stores the SCTP checksum.
    assert_eq!(0x8a91_36aau32.to_le_bytes(), [0xaa, 0x36, 0x91, 0x8a]);
    assert_eq!(crc32c(&[]), 0);
}

proptest! {
    #[test]
    fn crc32c_matches_bitwise_reference(data in prop::collection::vec(any::<u8>(), 0..600), split in 0usize..600, seed in any::<u32>()) {
        prop_assert_eq!(crc32c(&data), ref_crc32c(&data));
        prop_assert_eq!(crc32c_update(seed, &data), ref_update(seed, &data));
        // Feeding in two parts is feeding it whole.
        let (a, b) = data.split_at(split.min(data.len()));
        prop_assert_eq!(crc32c_update(crc32c_update(seed, a), b), ref_update(seed, &data));
    }

    /// `checksum` ignores the field; `checksum_packet` reads across pieces and agrees.
    #[test]
    fn sctp_checksum_ignores_its_field(mut p in prop::collection::vec(any::<u8>(), 12..400), field in any::<u32>(), off in 0usize..40, cuts in prop::collection::vec(0usize..500, 0..4)) {
        let mut zeroed = p.clone();
        zeroed[8..12].copy_from_slice(&[0; 4]);
        let want = ref_crc32c(&zeroed);
        p[8..12].copy_from_slice(&field.to_le_bytes());
        prop_assert_eq!(checksum(&p), want);
        let mut framed = vec![0x77u8; off];
        framed.extend(&p);
        prop_assert_eq!(checksum_packet(&framed[..], off), Some(want));
        prop_assert_eq!(checksum_packet(&Pieces::new(&framed, &cuts), off), Some(want));
        prop_assert_eq!(checksum_packet(&framed[..off + 11], off), None);
        let mut pkt = SctpPacket::new_checked(&mut p[..]).unwrap();
        pkt.fill_checksum();
        prop_assert_eq!(pkt.checksum(), want);
        prop_assert!(pkt.verify_checksum());
    }
}

// ---- a captured-style INIT --------------------------------------------------------------

/// An IPv4 SCTP INIT 10.0.0.2:40000 → 10.0.100.1:3868 (Diameter): initiate tag
/// 0x3a4b5c6d, a_rwnd 106496, 10 outbound / 65535 inbound streams, initial TSN
/// 0x12345678, parameters Supported Address Types (IPv4), ECN capable, Forward-TSN
/// supported. IP and SCTP checksums by a Python script (`struct`, `crc32c` 2.x).
const INIT: &str = concat!(
    "45000044123440004084afff0a0000020a006401",
    "9c400f1c0000000073dce775",
    "010000243a4b5c6d0001a000000affff12345678000c00060005000080000004c0000004"
);
/// Python's CRC32c of the INIT after its destination port became 3869.
const INIT_DPORT_3869_CRC: u32 = 0x1b77_f8c2;

#[test]
fn kat_ipv4_sctp_init() {
    let p = hex(INIT);
    let h = parse_l3l4(&p, Family::Ipv4).unwrap();
    assert_eq!(
        (h.protocol, h.l4_off, h.l4_header_len, h.ports),
        (IPPROTO_SCTP, 20, 12, Some([40000, 3868]))
    );
    assert_eq!(parse_packet(&p[..], Family::Ipv4).unwrap().headers, h);
    let s = SctpPacket::new_checked(&p[20..]).unwrap();
    assert_eq!(
        (s.src_port(), s.dst_port(), s.verification_tag()),
        (40000, 3868, 0)
    );
    assert_eq!(s.checksum(), 0x75e7_dc73);
    assert_eq!(&p[28..32], &[0x73, 0xdc, 0xe7, 0x75]);
    assert!(s.verify_checksum());
    assert_eq!(s.compute_checksum(), 0x75e7_dc73);
    assert_eq!(
        s.first_chunk(),
        Some(ChunkHeader {
            chunk_type: chunk_type::INIT,
            flags: 0,
            length: 36
        })
    );
    assert_eq!(first_chunk_type(&p[..], 20), Some(chunk_type::INIT));
    assert_eq!(packet_event(&p[..], 20), Some(Event::Init));
    assert_eq!(checksum_packet(&p[..], 20), Some(0x75e7_dc73));
    assert_eq!(
        checksum_packet(&Pieces::new(&p, &[3, 25, 40, 41]), 20),
        Some(0x75e7_dc73)
    );

    // DNAT to 10.0.1.11:3868: the port does not change, the CRC is left (C: "Only update
    // csum if we really have to") and the skb becomes CHECKSUM_UNNECESSARY.
    let rs = InetAddr::from_ipv4([10, 0, 1, 11]);
    let mut b = p.clone();
    let done = nat::sctp_dnat(&mut b, Family::Ipv4, &rs, 3868, CsumContext::default()).unwrap();
    assert_eq!(
        done,
        SctpNatDone {
            headers: h,
            l4: Some(SctpCsum::Unchanged)
        }
    );
    assert_eq!(&b[16..20], &[10, 0, 1, 11]);
    assert!(ipv4::Ipv4Packet::new_checked(&b[..])
        .unwrap()
        .verify_checksum());
    assert_eq!(&b[20..], &p[20..]);
    assert!(SctpPacket::new_checked(&b[20..]).unwrap().verify_checksum());

    // To port 3869: recomputed, and equal to what Python computed.
    let mut b = p.clone();
    let done = nat::sctp_dnat(&mut b, Family::Ipv4, &rs, 3869, CsumContext::default()).unwrap();
    assert_eq!(done.l4, Some(SctpCsum::Recomputed));
    let s = SctpPacket::new_checked(&b[20..]).unwrap();
    assert_eq!((s.dst_port(), s.checksum()), (3869, INIT_DPORT_3869_CRC));
    assert!(s.verify_checksum());

    // The same from the head only (40 bytes writable): port written, CRC pending; the
    // caller's whole-packet CRC gives the same bytes.
    let mut head = p.clone();
    let done =
        nat::sctp_dnat_parsed(&mut head[..40], &h, &rs, 3869, CsumContext::default()).unwrap();
    assert_eq!(done.l4, Some(SctpCsum::Pending));
    let crc = checksum_packet(&head[..], h.l4_off).unwrap();
    SctpPacket::new_unchecked(&mut head[20..]).set_checksum(crc);
    assert_eq!(head, b);

    // SNAT of the reply direction with CHECKSUM_PARTIAL: always recomputed.
    let vip = InetAddr::from_ipv4([10, 0, 100, 1]);
    let mut b = p.clone();
    let ctx = CsumContext {
        partial: true,
        ..CsumContext::default()
    };
    let done = nat::sctp_snat(&mut b, Family::Ipv4, &vip, 40000, ctx).unwrap();
    assert_eq!(done.l4, Some(SctpCsum::Recomputed));
    assert_eq!(&b[12..16], &[10, 0, 100, 1]);
    // GSO: the port only.
    let mut b = p.clone();
    let ctx = CsumContext {
        gso: true,
        ..CsumContext::default()
    };
    assert_eq!(
        nat::sctp_dnat(&mut b, Family::Ipv4, &rs, 3869, ctx)
            .unwrap()
            .l4,
        Some(SctpCsum::Gso)
    );
    assert_eq!(
        (&b[22..24], &b[28..32]),
        (&3869u16.to_be_bytes()[..], &p[28..32])
    );
    // DNAT, CHECKSUM_PARTIAL, same port, device computes SCTP CRCs: left to it.
    let mut b = p.clone();
    let ctx = CsumContext {
        partial: true,
        dev_sctp_crc: true,
        ..CsumContext::default()
    };
    assert_eq!(
        nat::sctp_dnat(&mut b, Family::Ipv4, &rs, 3868, ctx)
            .unwrap()
            .l4,
        Some(SctpCsum::LeftToDevice)
    );
    assert_eq!(&b[20..], &p[20..]);

    // TCP/UDP NAT refuses SCTP, SCTP NAT refuses the rest; nothing is written.
    let mut b = p.clone();
    assert_eq!(
        nat::dnat(&mut b, Family::Ipv4, &rs, 1, nat::ChecksumMode::Full),
        Err(Malformed::Unsupported)
    );
    let mut udp = p.clone();
    udp[9] = IPPROTO_UDP;
    let hu = Headers {
        protocol: IPPROTO_UDP,
        ..h
    };
    assert_eq!(
        nat::sctp_dnat_parsed(&mut udp, &hu, &rs, 1, CsumContext::default()),
        Err(Malformed::Unsupported)
    );
    assert_eq!(&b, &p);
    // Headers not all in the buffer.
    let mut b = p.clone();
    assert_eq!(
        nat::sctp_dnat_parsed(&mut b[..31], &h, &rs, 1, CsumContext::default()),
        Err(Malformed::Truncated)
    );
    assert_eq!(&b, &p);
}

#[test]
fn sctp_packet_cut_short() {
    let p = hex(INIT);
    // 12 bytes of SCTP: ports, no chunk (C: scheduling drops it, the state is not touched).
    let short = parse_packet(&p[..32], Family::Ipv4).unwrap();
    assert_eq!(short.headers.ports, Some([40000, 3868]));
    assert_eq!(first_chunk_type(&p[..32], 20), None);
    assert_eq!(packet_event(&p[..35], 20), None);
    // 11 bytes: no ports either.
    assert_eq!(
        parse_packet(&p[..31], Family::Ipv4).unwrap().headers.ports,
        None
    );
    assert!(SctpPacket::new_checked(&p[20..31]).is_err());
    assert_eq!(SctpPacket::new_unchecked(&p[20..24]).first_chunk(), None);
}

#[test]
fn ipv6_non_first_fragment_rewrites_the_address_only() {
    let (s, d) = ([0xfd; 16], [0xfe; 16]);
    let mut p = vec![0x60, 0, 0, 0, 0, 16, 44, 64];
    p.extend(s);
    p.extend(d);
    p.extend([IPPROTO_SCTP, 0, 0, 16, 0, 0, 0, 1]); // fragment header, offset 16
    p.extend([0xab; 8]);
    let h = parse_l3l4(&p, Family::Ipv6).unwrap();
    assert!(h.is_non_first_fragment());
    let mut b = p.clone();
    let n = InetAddr::from_ipv6([1; 16]);
    let done = nat::sctp_dnat(&mut b, Family::Ipv6, &n, 9, CsumContext::default()).unwrap();
    assert_eq!(done.l4, None);
    assert_eq!(&b[24..40], &[1; 16]);
    assert_eq!(&b[40..], &p[40..]);
}

// ---- properties ---------------------------------------------------------------------------

/// An SCTP packet over IPv4 or IPv6: ports, tag, a first chunk and a body, checksum right.
fn sctp_packet() -> impl Strategy<Value = (Family, Vec<u8>)> {
    (
        prop_oneof![Just(Family::Ipv4), Just(Family::Ipv6)],
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..120),
    )
        .prop_map(|(fam, sa, da, sp, dp, tag, t, body)| {
            let mut l4 = Vec::new();
            l4.extend(sp.to_be_bytes());
            l4.extend(dp.to_be_bytes());
            l4.extend(tag.to_be_bytes());
            l4.extend([0; 4]);
            l4.extend([t, 0]);
            l4.extend(((4 + body.len()) as u16).to_be_bytes());
            l4.extend(&body);
            let c = ref_crc32c(&l4);
            l4[8..12].copy_from_slice(&c.to_le_bytes());
            let mut p = match fam {
                Family::Ipv4 => {
                    let mut v = vec![0x45, 0];
                    v.extend(((20 + l4.len()) as u16).to_be_bytes());
                    v.extend([0, 0, 0, 0, 64, IPPROTO_SCTP, 0, 0]);
                    v.extend(&sa[..4]);
                    v.extend(&da[..4]);
                    ipv4::Ipv4Packet::new_unchecked(&mut v[..]).fill_checksum();
                    v
                }
                Family::Ipv6 => {
                    let mut v = vec![0x60, 0, 0, 0];
                    v.extend((l4.len() as u16).to_be_bytes());
                    v.extend([IPPROTO_SCTP, 64]);
                    v.extend(sa);
                    v.extend(da);
                    v
                }
            };
            p.extend(l4);
            (fam, p)
        })
}

fn ctx() -> impl Strategy<Value = CsumContext> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(partial, gso, dev_sctp_crc)| {
        CsumContext {
            partial,
            gso,
            dev_sctp_crc,
            payload_mangled: false,
        }
    })
}

proptest! {
    /// A rewrite of a packet whose CRC was right leaves one that is right unless the CRC is
    /// left to GSO or the device; the head-only rewrite plus the caller's CRC gives the
    /// same bytes as the whole-packet rewrite.
    #[test]
    fn sctp_nat_keeps_the_crc_right((fam, p) in sctp_packet(), new in any::<[u8; 16]>(), port in any::<u16>(), snat in any::<bool>(), c in ctx(), cuts in prop::collection::vec(0usize..300, 0..3)) {
        let addr = match fam {
            Family::Ipv4 => InetAddr::from_ipv4([new[0], new[1], new[2], new[3]]),
            Family::Ipv6 => InetAddr::from_ipv6(new),
        };
        let h = parse_packet(&Pieces::new(&p, &cuts), fam).unwrap().headers;
        prop_assert_eq!(h, parse_l3l4(&p, fam).unwrap());
        let run = |buf: &mut [u8]| if snat {
            nat::sctp_snat_parsed(buf, &h, &addr, port, c)
        } else {
            nat::sctp_dnat_parsed(buf, &h, &addr, port, c)
        };
        let mut whole = p.clone();
        let done = run(&mut whole).unwrap();
        let l4 = done.l4.unwrap();
        let s = SctpPacket::new_checked(&whole[h.l4_off..]).unwrap();
        // Unchanged / LeftToDevice only when the port had the value already.
        prop_assert_eq!(if snat { s.src_port() } else { s.dst_port() }, port);
        match l4 {
            SctpCsum::Recomputed | SctpCsum::Unchanged | SctpCsum::LeftToDevice => prop_assert!(s.verify_checksum()),
            SctpCsum::Gso => prop_assert_eq!(s.checksum(), SctpPacket::new_unchecked(&p[h.l4_off..]).checksum()),
            SctpCsum::Pending => prop_assert!(false, "pending on a whole packet"),
        }
        if l4 == SctpCsum::LeftToDevice {
            prop_assert_eq!(&whole[h.l4_off..], &p[h.l4_off..]);
        }
        if fam == Family::Ipv4 {
            prop_assert!(ipv4::Ipv4Packet::new_checked(&whole[..]).unwrap().verify_checksum());
        }
        // The head only.
        let cut = h.l4_off + HEADER_LEN;
        let mut head = p.clone();
        let r = run(&mut head[..cut]).unwrap();
        if r.l4 == Some(SctpCsum::Pending) {
            prop_assert_eq!(l4, SctpCsum::Recomputed);
            let crc = checksum_packet(&head[..], h.l4_off).unwrap();
            SctpPacket::new_unchecked(&mut head[h.l4_off..]).set_checksum(crc);
        } else {
            prop_assert_eq!(r.l4, Some(l4));
        }
        prop_assert_eq!(head, whole);
    }

    /// Arbitrary bytes, cut anywhere, as IPv4/IPv6 SCTP or bare: nothing panics, and what
    /// fails leaves the buffer alone.
    #[test]
    fn sctp_parsing_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), cuts in prop::collection::vec(0usize..300, 0..3), v6 in any::<bool>(), off in 0usize..64, port in any::<u16>(), c in ctx()) {
        let mut bytes = bytes;
        if bytes.len() > 9 {
            bytes[0] = if v6 { 0x60 | (bytes[0] & 0xf) } else { 0x45 };
            bytes[if v6 { 6 } else { 9 }] = IPPROTO_SCTP;
        }
        let fam = if v6 { Family::Ipv6 } else { Family::Ipv4 };
        let ch = Pieces::new(&bytes, &cuts);
        let _ = packet_event(&bytes[..], off);
        prop_assert_eq!(packet_event(&bytes[..], off), packet_event(&ch, off));
        prop_assert_eq!(first_chunk_type(&bytes[..], off), first_chunk_type(&ch, off));
        prop_assert_eq!(checksum_packet(&bytes[..], off), checksum_packet(&ch, off));
        let _ = checksum(&bytes);
        let v = SctpPacket::new_unchecked(&bytes[..]);
        let _ = (v.src_port(), v.dst_port(), v.verification_tag(), v.checksum(), v.first_chunk(), v.verify_checksum());
        for whole in [true, false] {
            let mut b = bytes.clone();
            if snat_l4(&mut b, whole, port, c).is_err() { prop_assert_eq!(&b, &bytes); }
            let mut b = bytes.clone();
            if dnat_l4(&mut b, whole, port, c).is_err() { prop_assert_eq!(&b, &bytes); }
        }
        let a = InetAddr::from_ipv6([9; 16]);
        if let Ok(info) = parse_packet(&ch, fam) {
            let h = info.headers;
            if h.ports.is_some() {
                prop_assert!(h.l4_off + h.l4_header_len <= bytes.len());
            }
            for cut in [bytes.len(), h.l4_off + HEADER_LEN, h.l4_off, 0] {
                let mut b = bytes.clone();
                let n = cut.min(b.len());
                if nat::sctp_dnat_parsed(&mut b[..n], &h, &a, port, c).is_err() { prop_assert_eq!(&b, &bytes); }
                let mut b = bytes.clone();
                if nat::sctp_snat_parsed(&mut b[..n], &h, &a, port, c).is_err() { prop_assert_eq!(&b, &bytes); }
            }
        }
        let mut b = bytes.clone();
        if nat::sctp_dnat(&mut b, fam, &a, port, c).is_err() { prop_assert_eq!(&b, &bytes); }
        let mut b = bytes.clone();
        if nat::sctp_snat(&mut b, fam, &a, port, c).is_err() { prop_assert_eq!(&b, &bytes); }
    }
}

// ---- the data path's flow, on the host ----------------------------------------------------

/// An IPv4 SCTP packet `src:sport → dst:dport` with one chunk of `t` (value `body`) and a
/// right CRC.
fn v4_sctp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    tag: u32,
    t: u8,
    body: &[u8],
) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend(sport.to_be_bytes());
    l4.extend(dport.to_be_bytes());
    l4.extend(tag.to_be_bytes());
    l4.extend([0; 4]);
    l4.extend([t, 0]);
    l4.extend(((4 + body.len()) as u16).to_be_bytes());
    l4.extend(body);
    while l4.len() % 4 != 0 {
        l4.push(0);
    }
    let c = ref_crc32c(&l4);
    l4[8..12].copy_from_slice(&c.to_le_bytes());
    let mut v = vec![0x45, 0];
    v.extend(((20 + l4.len()) as u16).to_be_bytes());
    v.extend([0, 0, 0x40, 0, 64, IPPROTO_SCTP, 0, 0]);
    v.extend(src);
    v.extend(dst);
    ipv4::Ipv4Packet::new_unchecked(&mut v[..]).fill_checksum();
    v.extend(l4);
    v
}

/// A NAT association through a virtual service, packet by packet, as the kernel side is to
/// run it: parse, schedule check, state transition, rewrite; the real server on another
/// port than the service, so every packet needs its CRC recomputed.
#[test]
fn nat_association_replay() {
    use crate::netlink::ipvs::conn_flags::INACTIVE;
    use crate::proto::sctp::{self as sm, Direction, ScheduleCheck, SctpState};

    let (client, vip, rs) = ([10, 0, 0, 2], [10, 0, 100, 1], [10, 0, 1, 11]);
    let (cport, vport, rport) = (40000, 3868, 3869);
    let timeouts = sm::Timeouts::DEFAULT;
    let mut conn = sm::Conn {
        state: SctpState::None,
        flags: INACTIVE,
        has_dest: true,
    };
    let mut active = 0;
    let flow = [
        (Direction::Input, chunk_type::INIT, SctpState::Init1),
        (
            Direction::Output,
            chunk_type::INIT_ACK,
            SctpState::CookieSent,
        ),
        (
            Direction::Input,
            chunk_type::COOKIE_ECHO,
            SctpState::CookieReplied,
        ),
        (
            Direction::Output,
            chunk_type::COOKIE_ACK,
            SctpState::Established,
        ),
        (Direction::Input, chunk_type::DATA, SctpState::Established),
        (Direction::Output, chunk_type::SACK, SctpState::Established),
        (
            Direction::Input,
            chunk_type::SHUTDOWN,
            SctpState::ShutdownReceived,
        ),
        (
            Direction::Output,
            chunk_type::SHUTDOWN_ACK,
            SctpState::ShutdownAckSent,
        ),
        (
            Direction::Input,
            chunk_type::SHUTDOWN_COMPLETE,
            SctpState::Closed,
        ),
    ];
    for (i, (dir, t, want)) in flow.into_iter().enumerate() {
        let mut p = match dir {
            Direction::Output => v4_sctp(rs, client, rport, cport, 7, t, &[i as u8; 5]),
            _ => v4_sctp(client, vip, cport, vport, 7, t, &[i as u8; 5]),
        };
        let h = parse_packet(&p[..], Family::Ipv4).unwrap().headers;
        if i == 0 {
            // No connection yet: sctp_conn_schedule() lets an INIT create one.
            let first = first_chunk_type(&p[..], h.l4_off);
            assert_eq!(
                sm::schedule_check(first, false, true, false),
                ScheduleCheck::Lookup
            );
            assert!(crate::reuse::is_new_conn(crate::reuse::Header::Sctp(first)));
        }
        let ev = packet_event(&p[..], h.l4_off).unwrap();
        let tr = sm::transition(&timeouts, dir, ev, conn);
        assert_eq!(tr.state, want, "packet {i}");
        active += tr.counters.active_delta();
        conn = sm::Conn {
            state: tr.state,
            flags: tr.flags,
            ..conn
        };
        let done = match dir {
            Direction::Output => nat::sctp_snat_parsed(
                &mut p,
                &h,
                &InetAddr::from_ipv4(vip),
                vport,
                CsumContext::default(),
            ),
            _ => nat::sctp_dnat_parsed(
                &mut p,
                &h,
                &InetAddr::from_ipv4(rs),
                rport,
                CsumContext::default(),
            ),
        }
        .unwrap();
        assert_eq!(done.l4, Some(SctpCsum::Recomputed));
        let after = parse_l3l4(&p, Family::Ipv4).unwrap();
        let want_ports = match dir {
            Direction::Output => [vport, cport],
            _ => [cport, rport],
        };
        assert_eq!(after.ports, Some(want_ports));
        assert!(
            SctpPacket::new_checked(&p[20..]).unwrap().verify_checksum(),
            "packet {i}"
        );
        assert!(ipv4::Ipv4Packet::new_checked(&p[..])
            .unwrap()
            .verify_checksum());
        assert_eq!(tr.timeout, timeouts.get(want));
    }
    assert_eq!(active, 0);
    assert_eq!(conn.flags & INACTIVE, INACTIVE);
    // A new INIT on the same ports finds the entry CLOSED: port reuse expects a new one.
    let e = crate::reuse::Entry {
        state: crate::reuse::ConnState::Sctp(conn.state),
        controlled: false,
        n_control: 0,
        flags: conn.flags,
        dest: None,
    };
    assert!(crate::reuse::is_new_conn_expected(&e, 1));
}
