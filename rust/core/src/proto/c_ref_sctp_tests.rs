//! Differential tests against the C SCTP protocol handler.
//!
//! `testdata/c_sctp.txt` was produced by `testdata/cref/driver_sctp.c`, which compiles the
//! *unmodified* Linux 6.12 `ip_vs_proto_sctp.c` and `include/net/sctp/checksum.h` (with the
//! `IP_VS_SCTP_S_*` states, `struct sctphdr`, `struct sctp_chunkhdr` and `enum sctp_cid`
//! cut out of the kernel headers) in user space against the shim of `c_ref_tests.rs`, and
//! runs them over their input space: `set_sctp_state()` from every state in every
//! direction for every first-chunk type, for short packets and for the COOKIE ECHO /
//! COOKIE ACK + ABORT look-ahead (crafted and random packets), with every combination of
//! NOOUTPUT/INACTIVE/destination; the names and timeouts; `sctp_conn_schedule()` with and
//! without `sloppy_sctp` for every first-chunk type and every packet length, as a packet
//! and as the quote of an ICMP error; `sctp_compute_cksum()`; and `sctp_snat_handler()` /
//! `sctp_dnat_handler()` on random packets, ports, `ip_summed`, GSO and device CRC
//! offload. This replays every record through the Rust code and demands identical
//! results. The record format is described at the top of `driver_sctp.c`.
//!
//! Regenerate (any C compiler, awk, the kernel *source* tree in `KSRC`):
//!
//! ```text
//! KSRC=/path/to/linux-6.12 src/proto/testdata/cref/build.sh /tmp/ipvs-proto-cref
//! /tmp/ipvs-proto-cref/driver_sctp > src/proto/testdata/c_sctp.txt
//! ```

use super::sctp::{
    self, first_chunk_type, packet_event, schedule_check, Direction, ScheduleCheck, SctpState,
};
use crate::wire::sctp::{checksum, checksum_packet, dnat_l4, snat_l4, CsumContext, SctpCsum};
use crate::wire::Malformed;
use std::collections::BTreeMap;
use std::format;
use std::vec::Vec;

const FIXTURE: &str = include_str!("testdata/c_sctp.txt");
/// What the driver puts in front of every SCTP packet (`iph->len`).
const IPH: usize = 20;
/// `skb->ip_summed` values.
const CHECKSUM_UNNECESSARY: u32 = 1;
const CHECKSUM_PARTIAL: u32 = 3;

fn num<T: core::str::FromStr>(s: &str) -> T {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

fn hexnum(s: &str) -> u32 {
    u32::from_str_radix(s, 16).unwrap_or_else(|_| panic!("not hex: {s}"))
}

/// The driver's packet notation: hex, runs as `(<byte>x<count>)`, `_` for empty.
fn bytes(s: &str) -> Vec<u8> {
    let mut v = Vec::new();
    if s == "_" {
        return v;
    }
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('(') {
            let end = r.find(')').expect("run");
            let (b, n) = r[..end].split_once('x').expect("run");
            v.extend(std::iter::repeat(hexnum(b) as u8).take(num(n)));
            rest = &r[end + 1..];
        } else {
            v.push(hexnum(&rest[..2]) as u8);
            rest = &rest[2..];
        }
    }
    v
}

/// `bytes` behind `IPH` zero bytes.
fn framed(sctp: &[u8]) -> Vec<u8> {
    let mut v = std::vec![0u8; IPH];
    v.extend(sctp);
    v
}

fn dir(s: &str) -> Direction {
    Direction::from_c(num(s)).unwrap_or_else(|| panic!("direction {s}"))
}

fn state(raw: u32) -> SctpState {
    SctpState::from_c(raw).unwrap_or_else(|| panic!("C produced SCTP state {raw}"))
}

/// The driver's first-chunk packet `one_chunk(t, len)`.
fn one_chunk(t: u8, len: u16) -> Vec<u8> {
    let mut p = std::vec![0x0b, 0x59, 0x0f, 0x1c, 0, 0, 0, 0, 0, 0, 0, 0, t, 0];
    p.extend(len.to_be_bytes());
    p
}

#[test]
fn c_reference_sctp() {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut step_timeouts = sctp::Timeouts::DEFAULT;
    for s in SctpState::ALL {
        step_timeouts.set(s, 2000 + 11 * s.as_c());
    }
    let mut transitions = 0usize;
    for (lineno, line) in FIXTURE.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ctx = || {
            format!(
                "c_sctp.txt line {}: {}",
                lineno + 1,
                &line[..line.len().min(200)]
            )
        };
        let Some(&tag) = f.first() else { continue };
        if tag.starts_with('#') {
            continue;
        }
        *counts.entry(tag).or_default() += 1;
        match tag {
            "NSTATES" => assert_eq!(num::<usize>(f[1]), SctpState::ALL.len(), "{}", ctx()),
            "NAME" => {
                let raw: u32 = num(f[1]);
                assert_eq!(SctpState::c_name(raw), f[2], "{}", ctx());
                if let Some(s) = SctpState::from_c(raw) {
                    assert_eq!(s.name(), f[2], "{}", ctx());
                    assert_eq!(
                        crate::procfs::state_name(132, raw as u16, 0),
                        f[2],
                        "{}",
                        ctx()
                    );
                }
            }
            "TIMEOUT" => {
                let (raw, secs): (u32, u32) = (num(f[1]), num(f[2]));
                match SctpState::from_c(raw) {
                    Some(s) => assert_eq!(sctp::Timeouts::DEFAULT.get(s), secs, "{}", ctx()),
                    // C's table has one extra entry for `_LAST` (2 s) that no state reaches.
                    None => assert_eq!(raw as usize, SctpState::ALL.len(), "{}", ctx()),
                }
            }
            // No timeout_change: nothing switches SCTP tables or timeouts at run time.
            "TIMEOUT_CHANGE" => assert_eq!(f[1], "0", "{}", ctx()),
            "NEXT" => {
                let (d, pkt) = (dir(f[1]), framed(&bytes(f[2])));
                assert_eq!(f.len(), 3 + SctpState::ALL.len(), "{}", ctx());
                let ev = packet_event(&pkt[..], IPH);
                for (s, want) in SctpState::ALL.into_iter().zip(&f[3..]) {
                    transitions += 1;
                    match (*want, ev) {
                        ("-", None) => {}
                        ("-", Some(e)) => {
                            panic!("C left the connection alone, Rust sees {e:?}: {}", ctx())
                        }
                        (w, None) => panic!("C moved {s:?} to {w}, Rust sees no event: {}", ctx()),
                        (w, Some(e)) => {
                            let c = sctp::Conn {
                                state: s,
                                flags: 0,
                                has_dest: false,
                            };
                            let tr = sctp::transition(&sctp::Timeouts::DEFAULT, d, e, c);
                            assert_eq!(tr.state, state(num(w)), "from {s:?} on {e:?}: {}", ctx());
                            assert_eq!(sctp::next_state(d, e, s), tr.state, "{}", ctx());
                        }
                    }
                }
            }
            "STEP" => {
                let (d, cf, has_dest) = (dir(f[1]), hexnum(f[2]), f[3] == "1");
                let pkt = framed(&bytes(f[4]));
                assert_eq!(f.len(), 5 + SctpState::ALL.len(), "{}", ctx());
                let ev = packet_event(&pkt[..], IPH);
                for (s, rec) in SctpState::ALL.into_iter().zip(&f[5..]) {
                    transitions += 1;
                    let r: Vec<&str> = rec.split('/').collect();
                    let want = (
                        state(num(r[0])),
                        hexnum(r[1]),
                        num::<i32>(r[2]),
                        num::<u32>(r[3]),
                        r[4] != "0",
                    );
                    let got = match ev {
                        // Not touched: the timeout the driver set stays.
                        None => (s, cf, 0, 12345, false),
                        Some(e) => {
                            let tr = sctp::transition(
                                &step_timeouts,
                                d,
                                e,
                                sctp::Conn {
                                    state: s,
                                    flags: cf,
                                    has_dest,
                                },
                            );
                            assert_eq!(tr.counters.inactive_delta(), -tr.counters.active_delta());
                            if !has_dest {
                                assert_eq!(tr.counters, sctp::CounterChange::Unchanged);
                            }
                            (
                                tr.state,
                                tr.flags,
                                tr.counters.active_delta(),
                                tr.timeout,
                                tr.assure_ct,
                            )
                        }
                    };
                    assert_eq!(got, want, "from {s:?}: {}", ctx());
                }
            }
            "SCHED" | "SCHEDLEN" => {
                let (sloppy, icmp) = (f[1] == "1", f[2] == "1");
                let cases: Vec<(Vec<u8>, char)> = if tag == "SCHED" {
                    assert_eq!(f[3].len(), 256, "{}", ctx());
                    f[3].chars()
                        .enumerate()
                        .map(|(t, c)| (framed(&one_chunk(t as u8, 4)), c))
                        .collect()
                } else {
                    let mut p = one_chunk(1, 4);
                    p.truncate(num(f[3]));
                    std::vec![(framed(&p), f[4].chars().next().unwrap())]
                };
                for (pkt, want) in cases {
                    let first = first_chunk_type(&pkt[..], IPH);
                    let got = match schedule_check(first, icmp, pkt.len() >= IPH + 4, sloppy) {
                        ScheduleCheck::Drop => 'D',
                        ScheduleCheck::Accept => 'A',
                        ScheduleCheck::Lookup => 'L',
                    };
                    assert_eq!(
                        got,
                        want,
                        "first chunk {first:?}, length {}: {}",
                        pkt.len() - IPH,
                        ctx()
                    );
                    if let (Some(t), false) = (first, icmp) {
                        assert_eq!(sctp::starts_connection(t, sloppy), want == 'L', "{}", ctx());
                    }
                    // is_new_conn(): the same read.
                    let new = crate::reuse::is_new_conn(crate::reuse::Header::Sctp(first));
                    assert_eq!(new, first == Some(1), "{}", ctx());
                }
            }
            "CKSUM" | "CKSUMLONG" => {
                let pkt = if tag == "CKSUM" {
                    bytes(f[1])
                } else {
                    (0..num::<usize>(f[1]))
                        .map(|k| ((k * 131 + 7) & 0xff) as u8)
                        .collect()
                };
                let want = hexnum(f[2]);
                assert_eq!(checksum(&pkt), want, "{}", ctx());
                assert_eq!(
                    checksum_packet(&framed(&pkt)[..], IPH),
                    Some(want),
                    "{}",
                    ctx()
                );
            }
            "NAT" => {
                let snat = f[1] == "s";
                let summed: u32 = num(f[2]);
                let ctx_c = CsumContext {
                    partial: summed == CHECKSUM_PARTIAL,
                    gso: f[3] == "1",
                    dev_sctp_crc: f[4] == "1",
                    payload_mangled: false,
                };
                let port: u16 = num(f[5]);
                let before = bytes(f[6]);
                let (ret, summed_after, after) = (f[7], num::<u32>(f[8]), bytes(f[9]));
                let mut l4 = before.clone();
                let r = if snat {
                    snat_l4(&mut l4, true, port, ctx_c)
                } else {
                    dnat_l4(&mut l4, true, port, ctx_c)
                };
                match r {
                    Err(e) => {
                        assert_eq!((e, ret), (Malformed::Truncated, "0"), "{}", ctx());
                        assert_eq!(l4, before, "{}", ctx());
                    }
                    Ok(how) => {
                        assert_eq!(ret, "1", "{}", ctx());
                        assert_eq!(l4, after, "{how:?}: {}", ctx());
                        let summed_rust = match how {
                            SctpCsum::Recomputed | SctpCsum::Unchanged => CHECKSUM_UNNECESSARY,
                            SctpCsum::Gso | SctpCsum::LeftToDevice => summed,
                            SctpCsum::Pending => panic!("pending on a whole packet"),
                        };
                        assert_eq!(summed_rust, summed_after, "{how:?}: {}", ctx());
                    }
                }
            }
            "NATFRAG" => {
                // An IPv6 non-first fragment: the handler returns 1 at once. The Rust side
                // decides that at the IP layer (nat::sctp_*nat_parsed, L4Update::Fragment).
                assert_eq!(&f[3..], &["1", "1", "1"], "{}", ctx());
            }
            _ => panic!("unknown record: {}", ctx()),
        }
    }
    // Guard against a truncated fixture passing vacuously.
    let want: [(&str, usize); 13] = [
        ("NSTATES", 1),
        ("NAME", 16),
        ("TIMEOUT", 15),
        ("TIMEOUT_CHANGE", 1),
        ("NEXT", 3 * 256 + 3 * 16 + 6 * 12 * 4 * 2 * 3 + 300 * 3),
        ("STEP", 23 * 3 * 6 * 2),
        ("SCHED", 4),
        ("SCHEDLEN", 4 * 17),
        ("CKSUM", 178),
        ("CKSUMLONG", 10),
        ("NAT", 800),
        ("NATFRAG", 8),
        ("#", 0),
    ];
    for (tag, n) in want {
        assert_eq!(counts.get(tag).copied().unwrap_or(0), n, "{tag} records");
    }
    assert_eq!(transitions, (3444 + 828) * 14);
    assert!(
        counts.len() == want.len() - 1,
        "unexpected record kinds: {counts:?}"
    );
}
