//! The defense against memory exhaustion under floods: `amemthresh`, `am_droprate`,
//! `drop_entry`, `drop_packet` and `secure_tcp` (`net/netfilter/ipvs/ip_vs_ctl.c`,
//! `update_defense_level()`; `ip_vs_conn.c`, `ip_vs_random_dropentry()` / `todrop_entry()`;
//! `include/net/ip_vs.h`, `ip_vs_todrop()`).
//!
//! Every second (`defense_work_handler()`, and after every write of a mode sysctl) C looks at
//! how much memory is free and decides, per defense, whether it is active:
//!
//! * `drop_entry`: walk 1/32 of the connection table's buckets at random and delete entries
//!   that look like a flood's (SYN_RECV, SYNACK, young entries with few packets);
//! * `drop_packet`: refuse to schedule one new connection in `drop_rate`;
//! * `secure_tcp`: use the TCP state table `tcp_states_dos`, where client packets alone never
//!   establish a connection.
//!
//! Each mode sysctl means: 0 off, 1 automatic (currently inactive), 2 automatic (currently
//! active), 3 always on. C rewrites 1 ↔ 2 itself as memory comes and goes, which is what a
//! reader of the sysctl sees. Everything here is a pure function of the values; the kernel
//! side gathers the memory figure, holds the state and runs the work.

use crate::proto::sctp::SctpState;
use crate::proto::tcp::{TableKind, TcpState};
use crate::sysctl::{parse_dointvec, ParseError, Write};

/// The three mode sysctls and `ipvs->old_secure_tcp`, as `update_defense_level()` reads and
/// writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Modes {
    /// `sysctl_drop_entry`.
    pub drop_entry: i32,
    /// `sysctl_drop_packet`.
    pub drop_packet: i32,
    /// `sysctl_secure_tcp`.
    pub secure_tcp: i32,
    /// `old_secure_tcp`: `secure_tcp` as of the previous update.
    pub old_secure_tcp: i32,
}

/// What `update_defense_level()` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input {
    /// `i.freeram + i.bufferram` from `si_meminfo()`, in pages, before C stores it in an
    /// `int`.
    pub avail_pages: u64,
    /// `sysctl_amemthresh` (pages).
    pub amemthresh: i32,
    /// `sysctl_am_droprate`.
    pub am_droprate: i32,
    /// The modes before the update.
    pub modes: Modes,
}

/// What `update_defense_level()` changes. `None`: left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    /// The modes after the update (the sysctls a reader then sees).
    pub modes: Modes,
    /// `ipvs->dropentry`: whether the defense work walks the table.
    pub dropentry: Option<bool>,
    /// `ipvs->drop_rate`: drop one new connection in this many (0: none).
    pub drop_rate: Option<i32>,
    /// `ipvs->drop_counter`, reset.
    pub drop_counter: Option<i32>,
    /// `ip_vs_protocol_timeout_change()` was called: the TCP table to use from now on.
    pub tcp_table: Option<TableKind>,
}

/// `update_defense_level()` without the locks: the new modes and data-path state.
pub fn update_defense_level(input: &Input) -> Update {
    // C: `int availmem = i.freeram + i.bufferram;` (an unsigned long truncated to int).
    let availmem = input.avail_pages as i32;
    let amemthresh = input.amemthresh.max(0);
    let nomem = availmem < amemthresh;
    let mut m = input.modes;
    // The rate of one packet in N when memory is short; positive whenever it is used
    // (availmem < amemthresh), so never a division by zero.
    let rate = || amemthresh.wrapping_div(amemthresh.wrapping_sub(availmem));

    let dropentry = match m.drop_entry {
        0 => Some(false),
        1 => {
            if nomem {
                m.drop_entry = 2;
            }
            Some(nomem)
        }
        2 => {
            if !nomem {
                m.drop_entry = 1;
            }
            Some(nomem)
        }
        3 => Some(true),
        _ => None,
    };

    let (drop_rate, drop_counter) = match m.drop_packet {
        0 => (Some(0), None),
        1 | 2 => {
            m.drop_packet = if nomem { 2 } else { 1 };
            if nomem {
                (Some(rate()), Some(rate()))
            } else {
                (Some(0), None)
            }
        }
        3 => (Some(input.am_droprate), None),
        _ => (None, None),
    };

    let was_secure = m.old_secure_tcp >= 2;
    let change_to = match m.secure_tcp {
        0 => was_secure.then_some(false),
        1 | 2 => {
            m.secure_tcp = if nomem { 2 } else { 1 };
            if nomem {
                (!was_secure).then_some(true)
            } else {
                was_secure.then_some(false)
            }
        }
        3 => (!was_secure).then_some(true),
        _ => None,
    };
    m.old_secure_tcp = m.secure_tcp;
    // ip_vs_protocol_timeout_change(ipvs, sysctl_secure_tcp > 1) → tcp_timeout_change().
    let tcp_table = change_to.map(|_| TableKind::for_secure_tcp(m.secure_tcp));

    Update {
        modes: m,
        dropentry,
        drop_rate,
        drop_counter,
        tcp_table,
    }
}

/// `ip_vs_todrop()`: with `drop_rate` and the counter as they are, whether this new
/// connection is refused, and the counter afterwards (C: one in `drop_rate` is dropped).
#[inline]
pub fn todrop(drop_rate: i32, drop_counter: i32) -> (bool, i32) {
    if drop_rate == 0 {
        return (false, drop_counter);
    }
    let c = drop_counter.wrapping_sub(1);
    if c > 0 {
        return (false, c);
    }
    (true, drop_rate)
}

/// Outcome of writing a mode sysctl through `proc_do_defense_mode()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeWrite {
    /// Nothing stored (empty write, or the value it already has): no update runs.
    Unchanged,
    /// `value` stored, then `update_defense_level()` runs (and may rewrite 1 ↔ 2).
    Set(i32),
}

/// Model of `proc_do_defense_mode()` writing `input` to a mode sysctl holding `current`:
/// `proc_dointvec` into a copy, then, if the copy differs, a range check (0..=3, `EINVAL`
/// otherwise) and the store.
#[inline]
pub fn write_mode(current: i32, input: &[u8]) -> Result<ModeWrite, ParseError> {
    match parse_dointvec(input)? {
        Write::Empty => Ok(ModeWrite::Unchanged),
        Write::Stored { value, .. } if value == current => Ok(ModeWrite::Unchanged),
        Write::Stored { value, .. } if !(0..=3).contains(&value) => Err(ParseError::OutOfRange),
        Write::Stored { value, .. } => Ok(ModeWrite::Set(value)),
    }
}

/// `ip_vs_random_dropentry()` visits `conn_tab_size >> 5` random buckets per run.
#[inline]
pub const fn dropentry_buckets(tab_size: usize) -> usize {
    tab_size >> 5
}

/// What `ip_vs_random_dropentry()` makes of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A persistence template.
    Template {
        /// Its destination's service is one-packet-scheduling (`ip_vs_conn_ops_mode()`).
        ops: bool,
        /// `IP_VS_CTPL_S_ASSURED`.
        assured: bool,
    },
    /// A TCP connection in this state.
    Tcp(TcpState),
    /// An SCTP connection in this state.
    Sctp(SctpState),
    /// Anything else (UDP).
    Other,
}

/// The verdict on one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryVerdict {
    /// Left alone.
    Keep,
    /// Deleted (`ip_vs_conn_del()`).
    Drop,
    /// Deleted if [`todrop_entry`] says so.
    Maybe,
}

/// The `switch` of `ip_vs_random_dropentry()` for an entry nobody else controls
/// (`n_control` 0; entries controlling others are kept before this is asked).
pub fn dropentry_verdict(kind: EntryKind) -> EntryVerdict {
    match kind {
        EntryKind::Template { ops: true, .. } => EntryVerdict::Maybe,
        EntryKind::Template { assured: false, .. } => EntryVerdict::Drop,
        EntryKind::Template { .. } => EntryVerdict::Keep,
        EntryKind::Tcp(TcpState::SynRecv | TcpState::SynAck) => EntryVerdict::Drop,
        EntryKind::Tcp(TcpState::Established) => EntryVerdict::Maybe,
        EntryKind::Tcp(_) => EntryVerdict::Keep,
        EntryKind::Sctp(SctpState::Init1 | SctpState::Init) => EntryVerdict::Drop,
        EntryKind::Sctp(SctpState::Established) => EntryVerdict::Maybe,
        EntryKind::Sctp(_) => EntryVerdict::Keep,
        EntryKind::Other => EntryVerdict::Maybe,
    }
}

/// `todrop_entry()`'s counters: one per incoming-packet count 0..=8 (C: a `static signed
/// char todrop_counter[9]`, shared by all namespaces).
pub type EntryCounters = [i8; 9];

/// `todrop_entry()`: an entry that has not been idle long enough (`young`: `cp->timeout +
/// jiffies` is before `cp->timer.expires + 60 * HZ`, see [`entry_is_young`]) or has seen
/// more than 8 (or no) packets stays; of the others with `in_pkts` = i, one in i goes.
pub fn todrop_entry(young: bool, in_pkts: i32, counters: &mut EntryCounters) -> bool {
    // static const signed char todrop_rate[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    if young {
        return false;
    }
    if !(0..=8).contains(&in_pkts) {
        return false;
    }
    let i = in_pkts as usize;
    let rate = in_pkts as i8;
    if rate == 0 {
        return false;
    }
    counters[i] = counters[i].wrapping_sub(1);
    if counters[i] > 0 {
        return false;
    }
    counters[i] = rate;
    true
}

/// `time_before(cp->timeout + jiffies, cp->timer.expires + 60*HZ)` (jiffies arithmetic
/// wraps as C's `unsigned long` does).
#[inline]
pub fn entry_is_young(timeout: u64, now: u64, expires: u64, hz: u64) -> bool {
    (timeout
        .wrapping_add(now)
        .wrapping_sub(expires.wrapping_add(hz.wrapping_mul(60))) as i64)
        < 0
}

/// `DEFENSE_TIMER_PERIOD`: the work runs every second.
#[inline]
pub const fn defense_period_jiffies(hz: u32) -> u32 {
    hz
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Literal transcription of C's `update_defense_level()` (6.12), the memory figure given.
    #[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
    struct CIpvs {
        sysctl_amemthresh: i32,
        sysctl_am_droprate: i32,
        sysctl_drop_entry: i32,
        sysctl_drop_packet: i32,
        sysctl_secure_tcp: i32,
        old_secure_tcp: i32,
        dropentry: i32,
        drop_rate: i32,
        drop_counter: i32,
        /// 0: tcp_states, 1: tcp_states_dos.
        table_dos: i32,
        timeout_changes: u32,
    }

    fn c_update_defense_level(ipvs: &mut CIpvs, freeram: u64, bufferram: u64) {
        let availmem: i32 = (freeram + bufferram) as i32;
        let amemthresh = core::cmp::max(ipvs.sysctl_amemthresh, 0);
        let nomem = availmem < amemthresh;
        let mut to_change = -1;

        match ipvs.sysctl_drop_entry {
            0 => ipvs.dropentry = 0,
            1 => {
                if nomem {
                    ipvs.dropentry = 1;
                    ipvs.sysctl_drop_entry = 2;
                } else {
                    ipvs.dropentry = 0;
                }
            }
            2 => {
                if nomem {
                    ipvs.dropentry = 1;
                } else {
                    ipvs.dropentry = 0;
                    ipvs.sysctl_drop_entry = 1;
                }
            }
            3 => ipvs.dropentry = 1,
            _ => {}
        }

        match ipvs.sysctl_drop_packet {
            0 => ipvs.drop_rate = 0,
            1 => {
                if nomem {
                    // The kernel builds with -fno-strict-overflow: int arithmetic wraps.
                    ipvs.drop_counter = amemthresh.wrapping_div(amemthresh.wrapping_sub(availmem));
                    ipvs.drop_rate = ipvs.drop_counter;
                    ipvs.sysctl_drop_packet = 2;
                } else {
                    ipvs.drop_rate = 0;
                }
            }
            2 => {
                if nomem {
                    // The kernel builds with -fno-strict-overflow: int arithmetic wraps.
                    ipvs.drop_counter = amemthresh.wrapping_div(amemthresh.wrapping_sub(availmem));
                    ipvs.drop_rate = ipvs.drop_counter;
                } else {
                    ipvs.drop_rate = 0;
                    ipvs.sysctl_drop_packet = 1;
                }
            }
            3 => ipvs.drop_rate = ipvs.sysctl_am_droprate,
            _ => {}
        }

        match ipvs.sysctl_secure_tcp {
            0 => {
                if ipvs.old_secure_tcp >= 2 {
                    to_change = 0;
                }
            }
            1 => {
                if nomem {
                    if ipvs.old_secure_tcp < 2 {
                        to_change = 1;
                    }
                    ipvs.sysctl_secure_tcp = 2;
                } else if ipvs.old_secure_tcp >= 2 {
                    to_change = 0;
                }
            }
            2 => {
                if nomem {
                    if ipvs.old_secure_tcp < 2 {
                        to_change = 1;
                    }
                } else {
                    if ipvs.old_secure_tcp >= 2 {
                        to_change = 0;
                    }
                    ipvs.sysctl_secure_tcp = 1;
                }
            }
            3 => {
                if ipvs.old_secure_tcp < 2 {
                    to_change = 1;
                }
            }
            _ => {}
        }
        ipvs.old_secure_tcp = ipvs.sysctl_secure_tcp;
        if to_change >= 0 {
            // tcp_timeout_change(pd, sysctl_secure_tcp > 1)
            ipvs.table_dos = i32::from(ipvs.sysctl_secure_tcp > 1);
            ipvs.timeout_changes += 1;
        }
    }

    /// `ip_vs_todrop()`.
    fn c_todrop(ipvs: &mut CIpvs) -> bool {
        if ipvs.drop_rate == 0 {
            return false;
        }
        ipvs.drop_counter = ipvs.drop_counter.wrapping_sub(1);
        if ipvs.drop_counter > 0 {
            return false;
        }
        ipvs.drop_counter = ipvs.drop_rate;
        true
    }

    /// Apply the pure function's update to the same state C keeps.
    fn rust_step(s: &mut CIpvs, avail: u64) {
        let u = update_defense_level(&Input {
            avail_pages: avail,
            amemthresh: s.sysctl_amemthresh,
            am_droprate: s.sysctl_am_droprate,
            modes: Modes {
                drop_entry: s.sysctl_drop_entry,
                drop_packet: s.sysctl_drop_packet,
                secure_tcp: s.sysctl_secure_tcp,
                old_secure_tcp: s.old_secure_tcp,
            },
        });
        s.sysctl_drop_entry = u.modes.drop_entry;
        s.sysctl_drop_packet = u.modes.drop_packet;
        s.sysctl_secure_tcp = u.modes.secure_tcp;
        s.old_secure_tcp = u.modes.old_secure_tcp;
        if let Some(d) = u.dropentry {
            s.dropentry = i32::from(d);
        }
        if let Some(r) = u.drop_rate {
            s.drop_rate = r;
        }
        if let Some(c) = u.drop_counter {
            s.drop_counter = c;
        }
        if let Some(t) = u.tcp_table {
            s.table_dos = i32::from(t == TableKind::Secure);
            s.timeout_changes += 1;
        }
    }

    /// A tiny deterministic generator (no dependency needed for the exhaustive sweep).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 17
        }
    }

    #[test]
    fn exhaustive_small_values_against_c() {
        let avails = [
            0u64,
            1,
            511,
            512,
            1023,
            1024,
            1025,
            4096,
            1 << 31,
            (1 << 32) + 5,
            u64::MAX,
        ];
        let threshs = [i32::MIN, -1, 0, 1, 1024, 1025, 4096, i32::MAX];
        let rates = [-3, 0, 1, 10];
        let modes = [-1, 0, 1, 2, 3, 4];
        let mut n = 0u32;
        for &avail in &avails {
            for &amemthresh in &threshs {
                for &am_droprate in &rates {
                    for &de in &modes {
                        for &dp in &modes {
                            for &st in &modes {
                                for &old in &[-1, 0, 1, 2, 3, 4] {
                                    let s = CIpvs {
                                        sysctl_amemthresh: amemthresh,
                                        sysctl_am_droprate: am_droprate,
                                        sysctl_drop_entry: de,
                                        sysctl_drop_packet: dp,
                                        sysctl_secure_tcp: st,
                                        old_secure_tcp: old,
                                        dropentry: 7,
                                        drop_rate: 77,
                                        drop_counter: 777,
                                        table_dos: 1 - i32::from(old >= 2),
                                        timeout_changes: 0,
                                    };
                                    let (mut c, mut r) = (s, s);
                                    c_update_defense_level(&mut c, avail, 0);
                                    rust_step(&mut r, avail);
                                    assert_eq!(r, c, "from {s:?} avail {avail}");
                                    n += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(n > 100_000);
    }

    /// Long random sequences: memory going up and down, modes written between updates,
    /// packets asking `ip_vs_todrop()`. The pure functions track C step by step.
    #[test]
    fn random_sequences_against_c() {
        let mut g = Lcg(0x1234_5678);
        for _ in 0..2000 {
            let mut c = CIpvs {
                sysctl_amemthresh: 1024,
                sysctl_am_droprate: 10,
                ..CIpvs::default()
            };
            let mut r = c;
            for _ in 0..200 {
                match g.next() % 8 {
                    0 => {
                        let v = (g.next() % 5) as i32;
                        let cur = c.sysctl_drop_entry;
                        if let Ok(ModeWrite::Set(v)) =
                            write_mode(cur, std::format!("{v}\n").as_bytes())
                        {
                            c.sysctl_drop_entry = v;
                            r.sysctl_drop_entry = v;
                            c_update_defense_level(&mut c, 0, 0);
                            rust_step(&mut r, 0);
                        }
                    }
                    1 => {
                        let v = (g.next() % 4) as i32;
                        c.sysctl_drop_packet = v;
                        r.sysctl_drop_packet = v;
                    }
                    2 => {
                        let v = (g.next() % 4) as i32;
                        c.sysctl_secure_tcp = v;
                        r.sysctl_secure_tcp = v;
                    }
                    3 => {
                        let v = (g.next() % 3000) as i32 - 100;
                        c.sysctl_amemthresh = v;
                        r.sysctl_amemthresh = v;
                    }
                    4 => {
                        let v = (g.next() % 30) as i32 - 5;
                        c.sysctl_am_droprate = v;
                        r.sysctl_am_droprate = v;
                    }
                    5 | 6 => {
                        let avail = g.next() % 3000;
                        c_update_defense_level(&mut c, avail, 0);
                        rust_step(&mut r, avail);
                    }
                    _ => {
                        for _ in 0..(g.next() % 20) {
                            let want = c_todrop(&mut c);
                            let (got, counter) = todrop(r.drop_rate, r.drop_counter);
                            r.drop_counter = counter;
                            assert_eq!(got, want);
                        }
                    }
                }
                assert_eq!(r, c);
            }
        }
    }

    #[test]
    fn modes_flip_with_memory() {
        let mut s = Modes {
            drop_entry: 1,
            drop_packet: 1,
            secure_tcp: 1,
            old_secure_tcp: 0,
        };
        let short = Input {
            avail_pages: 512,
            amemthresh: 1024,
            am_droprate: 10,
            modes: s,
        };
        let u = update_defense_level(&short);
        assert_eq!(
            (u.modes.drop_entry, u.modes.drop_packet, u.modes.secure_tcp),
            (2, 2, 2)
        );
        assert_eq!(u.dropentry, Some(true));
        // 1024 / (1024 - 512): one new connection in 2 is refused.
        assert_eq!((u.drop_rate, u.drop_counter), (Some(2), Some(2)));
        assert_eq!(u.tcp_table, Some(TableKind::Secure));
        s = u.modes;
        let plenty = Input {
            avail_pages: 100_000,
            modes: s,
            ..short
        };
        let u = update_defense_level(&plenty);
        assert_eq!(
            (u.modes.drop_entry, u.modes.drop_packet, u.modes.secure_tcp),
            (1, 1, 1)
        );
        assert_eq!(
            (u.dropentry, u.drop_rate, u.drop_counter),
            (Some(false), Some(0), None)
        );
        assert_eq!(u.tcp_table, Some(TableKind::Normal));
        // Mode 3 is on whatever the memory; mode 0 off.
        let always = Modes {
            drop_entry: 3,
            drop_packet: 3,
            secure_tcp: 3,
            old_secure_tcp: 0,
        };
        let u = update_defense_level(&Input {
            modes: always,
            ..plenty
        });
        assert_eq!(
            (u.dropentry, u.drop_rate, u.tcp_table),
            (Some(true), Some(10), Some(TableKind::Secure))
        );
        let u = update_defense_level(&Input {
            modes: Modes::default(),
            ..short
        });
        assert_eq!(
            (u.dropentry, u.drop_rate, u.tcp_table),
            (Some(false), Some(0), None)
        );
    }

    #[test]
    fn todrop_one_in_rate() {
        let (mut counter, mut dropped) = (0, 0);
        for _ in 0..100 {
            let (d, c) = todrop(10, counter);
            counter = c;
            dropped += i32::from(d);
        }
        assert_eq!(dropped, 10);
        assert_eq!(todrop(0, 5), (false, 5));
        // A negative am_droprate drops everything, as in C.
        assert!(todrop(-1, -1).0 && todrop(-1, -5).0);
    }

    #[test]
    fn write_mode_like_proc_do_defense_mode() {
        assert_eq!(write_mode(0, b"1\n"), Ok(ModeWrite::Set(1)));
        assert_eq!(write_mode(2, b"2\n"), Ok(ModeWrite::Unchanged));
        assert_eq!(write_mode(2, b"1"), Ok(ModeWrite::Set(1)));
        assert_eq!(write_mode(0, b"4\n"), Err(ParseError::OutOfRange));
        assert_eq!(write_mode(0, b"-1\n"), Err(ParseError::OutOfRange));
        assert_eq!(write_mode(0, b"x"), Err(ParseError::Invalid));
        assert_eq!(write_mode(3, b""), Ok(ModeWrite::Unchanged));
        assert_eq!(write_mode(0, b"0x3"), Ok(ModeWrite::Set(3)));
    }

    /// Literal transcription of `todrop_entry()` over jiffies and counters.
    fn c_todrop_entry(
        timeout: u64,
        jiffies: u64,
        expires: u64,
        hz: u64,
        in_pkts: i32,
        counter: &mut [i8; 9],
    ) -> bool {
        let rate: [i8; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
        if (timeout
            .wrapping_add(jiffies)
            .wrapping_sub(expires.wrapping_add(60 * hz)) as i64)
            < 0
        {
            return false;
        }
        let i = in_pkts;
        if !(0..=8).contains(&i) {
            return false;
        }
        let i = i as usize;
        if rate[i] == 0 {
            return false;
        }
        counter[i] -= 1;
        if counter[i] > 0 {
            return false;
        }
        counter[i] = rate[i];
        true
    }

    #[test]
    fn todrop_entry_against_c() {
        let mut g = Lcg(99);
        let (mut cc, mut rc) = ([0i8; 9], [0i8; 9]);
        for _ in 0..200_000 {
            let hz = 250;
            let now = g.next().wrapping_sub(1 << 40);
            let timeout = g.next() % (1000 * hz);
            let expires = now.wrapping_add(g.next() % (1000 * hz));
            let in_pkts = (g.next() % 14) as i32 - 2;
            let want = c_todrop_entry(timeout, now, expires, hz, in_pkts, &mut cc);
            let got = todrop_entry(entry_is_young(timeout, now, expires, hz), in_pkts, &mut rc);
            assert_eq!(got, want);
            assert_eq!(rc, cc);
        }
    }

    #[test]
    fn verdicts() {
        use EntryVerdict::*;
        assert_eq!(dropentry_verdict(EntryKind::Tcp(TcpState::SynRecv)), Drop);
        assert_eq!(dropentry_verdict(EntryKind::Tcp(TcpState::SynAck)), Drop);
        assert_eq!(
            dropentry_verdict(EntryKind::Tcp(TcpState::Established)),
            Maybe
        );
        assert_eq!(dropentry_verdict(EntryKind::Tcp(TcpState::TimeWait)), Keep);
        assert_eq!(dropentry_verdict(EntryKind::Other), Maybe);
        // ip_vs_random_dropentry(): SCTP INIT1 and INIT are dropped, ESTABLISHED maybe.
        for s in SctpState::ALL {
            let want = match s {
                SctpState::Init1 | SctpState::Init => Drop,
                SctpState::Established => Maybe,
                _ => Keep,
            };
            assert_eq!(dropentry_verdict(EntryKind::Sctp(s)), want, "{s:?}");
        }
        assert_eq!(
            dropentry_verdict(EntryKind::Template {
                ops: false,
                assured: false
            }),
            Drop
        );
        assert_eq!(
            dropentry_verdict(EntryKind::Template {
                ops: false,
                assured: true
            }),
            Keep
        );
        assert_eq!(
            dropentry_verdict(EntryKind::Template {
                ops: true,
                assured: true
            }),
            Maybe
        );
        assert_eq!(dropentry_buckets(4096), 128);
    }
}
