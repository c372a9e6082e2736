//! Differential tests against the C protocol handlers.
//!
//! `testdata/c_proto.txt` was produced by `testdata/cref/driver.c`, which compiles the
//! *unmodified* Linux 6.12 `ip_vs_proto_tcp.c` and `ip_vs_proto_udp.c` (plus
//! `ip_vs_set_timeout()` and `__ip_vs_get_timeouts()` cut unchanged out of `ip_vs_ctl.c`, and
//! the `IP_VS_*` constants and enums taken from the kernel headers) in user space against a
//! small shim, and runs them over their whole input space: every state of every table in
//! every direction for every TCP flags byte, `set_tcp_state()` with every combination of
//! NOOUTPUT/INACTIVE/destination, the names, the activity table, the timeouts, `sloppy_tcp`
//! scheduling, and a random sequence of `--set` timeout updates. This replays every record
//! through the Rust code and demands identical results. The record format is described at
//! the top of `driver.c`.
//!
//! Regenerate (any C compiler, awk, the kernel *source* tree in `KSRC`):
//!
//! ```text
//! KSRC=/path/to/linux-6.12 src/proto/testdata/cref/build.sh /tmp/ipvs-proto-cref
//! /tmp/ipvs-proto-cref/driver > src/proto/testdata/c_proto.txt
//! ```

use super::tcp::{self, CounterChange, TableKind, TcpFlags, TcpState};
use super::udp::{self, UdpState};
use super::{Direction, TimeoutTables};
use crate::netlink::config;
use std::collections::BTreeMap;
use std::string::String;
use std::vec::Vec;
use std::{format, println};

const FIXTURE: &str = include_str!("testdata/c_proto.txt");
/// `HZ` the driver was built with (only the `--set` upper bound depends on it).
const HZ: u32 = 250;

fn kind(s: &str) -> TableKind {
    match s {
        "N" => TableKind::Normal,
        "S" => TableKind::Secure,
        _ => panic!("table {s}"),
    }
}

fn num<T: core::str::FromStr>(s: &str) -> T {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

fn hex(s: &str) -> u32 {
    u32::from_str_radix(s, 16).unwrap_or_else(|_| panic!("not hex: {s}"))
}

fn dir(s: &str) -> Direction {
    Direction::from_c(num(s)).unwrap_or_else(|| panic!("direction {s}"))
}

fn state(raw: u32) -> TcpState {
    TcpState::from_c(raw).unwrap_or_else(|| panic!("C produced TCP state {raw}"))
}

/// The timeouts the driver installs before the STEP records.
fn step_timeouts() -> tcp::Timeouts {
    let mut t = tcp::Timeouts::DEFAULT;
    for s in TcpState::ALL {
        t.set(s, 1000 + 7 * s.as_c());
    }
    t
}

#[test]
fn c_reference() {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let step_timeouts = step_timeouts();
    let mut set_state = TimeoutTables::DEFAULT;
    // (table, dir, flags byte) seen in NEXT records: all must be covered.
    let mut next_seen = std::collections::BTreeSet::new();
    for (lineno, line) in FIXTURE.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ctx = || format!("c_proto.txt line {}: {line}", lineno + 1);
        let Some(&tag) = f.first() else { continue };
        if tag.starts_with('#') {
            continue;
        }
        *counts.entry(tag).or_default() += 1;
        match tag {
            "NSTATES" => match f[1] {
                "tcp" => assert_eq!(num::<usize>(f[2]), TcpState::ALL.len(), "{}", ctx()),
                _ => assert_eq!(num::<usize>(f[2]), UdpState::ALL.len(), "{}", ctx()),
            },
            "NAME" => {
                let raw: u32 = num(f[2]);
                let got = if f[1] == "tcp" {
                    TcpState::c_name(raw)
                } else {
                    UdpState::c_name(raw)
                };
                assert_eq!(got, f[3], "{}", ctx());
                if f[1] == "tcp" {
                    if let Some(s) = TcpState::from_c(raw) {
                        assert_eq!(s.name(), f[3], "{}", ctx());
                    }
                }
            }
            "ACTIVE" => assert_eq!(state(num(f[1])).is_active(), f[2] == "1", "{}", ctx()),
            "TIMEOUT" => {
                let (raw, secs): (u32, u32) = (num(f[2]), num(f[3]));
                // C's tables have one extra entry for `_LAST` (2 s) that no state reaches.
                match f[1] {
                    "tcp" => match TcpState::from_c(raw) {
                        Some(s) => assert_eq!(tcp::Timeouts::DEFAULT.get(s), secs, "{}", ctx()),
                        None => assert_eq!(raw as usize, TcpState::ALL.len(), "{}", ctx()),
                    },
                    _ => match UdpState::from_c(raw) {
                        Some(s) => assert_eq!(udp::Timeouts::DEFAULT.get(s), secs, "{}", ctx()),
                        None => assert_eq!(raw as usize, UdpState::ALL.len(), "{}", ctx()),
                    },
                }
            }
            "TABLE" => {
                let want = kind(f[2]);
                if f[1] == "init" {
                    assert_eq!(TableKind::default(), want, "{}", ctx());
                } else {
                    // ip_vs_protocol_timeout_change() passes `secure_tcp > 1` (0 or 1); the
                    // driver also shows what C does with the other bits.
                    let flags: i32 = num(f[1]);
                    assert_eq!(flags & 1 != 0, want == TableKind::Secure, "{}", ctx());
                    if flags <= 1 {
                        assert_eq!(TableKind::for_secure_tcp(flags * 2), want, "{}", ctx());
                    }
                }
            }
            "LISTEN" => {
                assert_eq!(state(num(f[1])), TcpState::Listen, "{}", ctx());
                assert_eq!(
                    tcp::Timeouts::DEFAULT.get(TcpState::Listen),
                    num::<u32>(f[2]),
                    "{}",
                    ctx()
                );
            }
            "SCHED" => {
                let sloppy = f[1] == "1";
                let bits = f[2].as_bytes();
                assert_eq!(bits.len(), 256, "{}", ctx());
                for (b, &c) in bits.iter().enumerate() {
                    let flags = TcpFlags::from_bits(b as u8);
                    assert_eq!(
                        tcp::starts_connection(flags, sloppy),
                        c == b'1',
                        "flags {b:#04x}: {}",
                        ctx()
                    );
                }
            }
            "NEXT" => {
                let (t, d, flags) = (kind(f[1]), dir(f[2]), TcpFlags::from_bits(hex(f[3]) as u8));
                assert_eq!(f.len(), 4 + TcpState::ALL.len(), "{}", ctx());
                next_seen.insert((f[1], d.as_c(), flags.bits()));
                for (s, want) in TcpState::ALL.into_iter().zip(&f[4..]) {
                    let want = state(num(want));
                    assert_eq!(
                        tcp::next_state(t, d, flags, s),
                        want,
                        "from {s:?}: {}",
                        ctx()
                    );
                    // The same through the whole transition with a neutral connection.
                    let c = tcp::Conn {
                        state: s,
                        flags: 0,
                        has_dest: false,
                    };
                    assert_eq!(
                        tcp::transition(t, &tcp::Timeouts::DEFAULT, d, flags, c).state,
                        want,
                        "{}",
                        ctx()
                    );
                }
            }
            "STEP" => {
                let (t, d, flags) = (kind(f[1]), dir(f[2]), TcpFlags::from_bits(hex(f[3]) as u8));
                let (cf, has_dest) = (hex(f[4]), f[5] == "1");
                assert_eq!(f.len(), 6 + TcpState::ALL.len(), "{}", ctx());
                for (s, rec) in TcpState::ALL.into_iter().zip(&f[6..]) {
                    let r: Vec<&str> = rec.split('/').collect();
                    let want = (
                        state(num(r[0])),
                        hex(r[1]),
                        num::<i32>(r[2]),
                        num::<u32>(r[3]),
                        r[4] != "0",
                    );
                    let tr = tcp::transition(
                        t,
                        &step_timeouts,
                        d,
                        flags,
                        tcp::Conn {
                            state: s,
                            flags: cf,
                            has_dest,
                        },
                    );
                    let got = (
                        tr.state,
                        tr.flags,
                        tr.counters.active_delta(),
                        tr.timeout,
                        tr.assure_ct,
                    );
                    assert_eq!(got, want, "from {s:?}: {}", ctx());
                    assert_eq!(tr.counters.inactive_delta(), -tr.counters.active_delta());
                    if !has_dest {
                        assert_eq!(tr.counters, CounterChange::Unchanged);
                    }
                }
            }
            "SHORT" => {
                // A header shorter than struct tcphdr: C leaves the connection alone.
                let len: usize = num(f[1]);
                let hdr = [0x01u8; 20];
                assert_eq!(
                    f[2] == "1",
                    TcpFlags::from_header(&hdr[..len]).is_some(),
                    "{}",
                    ctx()
                );
            }
            "UDP" => {
                let mut t = udp::Timeouts::DEFAULT;
                t.set(UdpState::Normal, 4321);
                let tr = udp::transition(&t, dir(f[1]));
                assert_eq!(
                    (tr.timeout, tr.assure_ct),
                    (num(f[2]), f[3] != "0"),
                    "{}",
                    ctx()
                );
            }
            "SET" => {
                let v: Vec<i32> = f[1..].iter().map(|x| num(x)).collect();
                let u = config::Timeouts {
                    tcp: v[0],
                    tcp_fin: v[1],
                    udp: v[2],
                };
                let ret = match set_state.apply_set(&u, HZ) {
                    Ok(()) => 0,
                    Err(e) => e.to_errno(),
                };
                assert_eq!(ret, v[3], "{}", ctx());
                let g = set_state.user_view();
                assert_eq!([g.tcp, g.tcp_fin, g.udp], [v[4], v[5], v[6]], "{}", ctx());
                let table: Vec<i32> = TcpState::ALL
                    .iter()
                    .map(|&s| set_state.tcp.get(s) as i32)
                    .collect();
                assert_eq!(table, v[7..7 + TcpState::ALL.len()].to_vec(), "{}", ctx());
                assert_eq!(
                    set_state.udp.get(UdpState::Normal) as i32,
                    v[7 + TcpState::ALL.len()],
                    "{}",
                    ctx()
                );
            }
            _ => panic!("unknown record: {}", ctx()),
        }
    }
    // Guard against a truncated fixture passing vacuously.
    let want: [(&str, usize); 12] = [
        ("NSTATES", 2),
        ("NAME", 16),
        ("ACTIVE", 11),
        ("TIMEOUT", 14),
        ("TABLE", 5),
        ("LISTEN", 1),
        ("SCHED", 2),
        ("NEXT", 2 * 3 * 256),
        ("STEP", 2 * 3 * 16 * 6 * 2),
        ("SHORT", 20),
        ("UDP", 3),
        ("SET", 400),
    ];
    for (tag, n) in want {
        assert_eq!(counts.get(tag).copied().unwrap_or(0), n, "{tag} records");
    }
    assert_eq!(next_seen.len(), 2 * 3 * 256);
    assert!(
        counts.len() == want.len(),
        "unexpected record kinds: {counts:?}"
    );
}

/// Not a check: prints where the secure table differs from the normal one
/// (`cargo test -- --ignored --nocapture table_differences`).
#[test]
#[ignore]
fn table_differences() {
    let rows = [
        (TcpFlags::SYN, "syn"),
        (TcpFlags::FIN, "fin"),
        (TcpFlags::ACK, "ack"),
        (TcpFlags::RST, "rst"),
    ];
    for d in Direction::ALL {
        for (flags, row) in rows {
            let mut diff = String::new();
            for s in TcpState::ALL {
                let (n, x) = (
                    tcp::next_state(TableKind::Normal, d, flags, s),
                    tcp::next_state(TableKind::Secure, d, flags, s),
                );
                if n != x {
                    diff += &format!(" {}: {} -> {};", s.name(), n.name(), x.name());
                }
            }
            if !diff.is_empty() {
                println!("{d:?} {row}:{diff}");
            }
        }
    }
}
