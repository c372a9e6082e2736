//! Differential tests against the C schedulers.
//!
//! `testdata/c_trace.txt` was produced by `testdata/cref/driver.c`, which compiles the
//! *unmodified* Linux 6.12 `ip_vs_{rr,wrr,lc,wlc,sh,mh}.c` and
//! `ip_vs_{dh,sed,nq,fo,ovf,twos,lblc,lblcr}.c` (plus `include/linux/hash.h`,
//! `include/linux/siphash.h`, `lib/siphash.c`) in user space against a small shim, drives
//! them through random scenarios the way `ip_vs_ctl.c` does (destinations added at the list
//! head, edited, deleted, overloaded, connection counts changed, service flags changed,
//! scheduler rebound; for the eight later ones also deleted destinations revived from the
//! trash, time passing with the lblc/lblcr expiry timer running when due, and the
//! expiration sysctl changed) and prints every operation with every result the C code
//! produced: each scheduling decision (with the random numbers twos drew), for sh, mh and dh
//! the whole lookup table after every change, and for lblc and lblcr the whole table
//! (counters and every entry, hashed) after every decision and every timer run. This
//! replays the script through the Rust schedulers and demands identical results.
//!
//! Regenerate (any C compiler, the kernel *source* tree in `KSRC`):
//!
//! ```text
//! KSRC=/path/to/linux-6.12 src/sched/testdata/cref/build.sh /tmp/ipvs-cref
//! /tmp/ipvs-cref/driver 1 6 2 > src/sched/testdata/c_trace.txt
//! ```
//!
//! A larger run (e.g. `driver 2 60 40`) is checked with
//! `IPVS_C_TRACE=/path/to/trace cargo test --release -- --ignored c_trace_external`.

use super::dh::DestinationHash;
use super::lblc::{Lblc, LblcEntry};
use super::lblcr::{members, Lblcr, LblcrEntry, SetElem};
use super::locality::{time_after, SlotSlab};
use super::mh::{DestSetup, Maglev};
use super::rr::RoundRobin;
use super::sh::SourceHash;
use super::wrr::WeightedRoundRobin;
use super::{fo, hash_port, lc, nq, ovf, sed, twos, wlc, DestInfo, Family, InetAddr};
use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

/// `HZ` of the C harness (shim.h).
const HZ: u32 = 250;

use super::testdest::{Slab, TD};

enum State {
    Rr(RoundRobin),
    Wrr(WeightedRoundRobin),
    Lc,
    Wlc,
    Sh(SourceHash, Vec<u32>),
    Mh(Maglev, Vec<u32>),
    Sed,
    Nq,
    Fo,
    Ovf,
    Twos,
    Dh(DestinationHash),
    Lblc(Lblc, Vec<u32>, Slab<LblcEntry<TD>>),
    Lblcr(Lblcr, Vec<u32>, Slab<LblcrEntry>, Slab<SetElem<TD>>),
}

struct Replay {
    kind: String,
    param: u32,
    family: Family,
    flags: u32,
    dests: Vec<TD>,
    trash: Vec<TD>,
    next_id: u32,
    state: State,
    /// jiffies.
    now: u64,
    /// `lblc_expiration` = `lblcr_expiration`, jiffies.
    expiration: i32,
    /// When the expiry timer falls due next.
    next_check: u64,
    /// Timer runs due after a `J` that the trace has not shown yet.
    due: Vec<u64>,
}

fn hex16(s: &str) -> InetAddr {
    let mut a = [0u8; 16];
    for (i, b) in a.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    InetAddr(a)
}

fn fnv_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const CHECK_EXPIRE_INTERVAL: u64 = 60 * HZ as u64;

impl Replay {
    fn new(kind: &str, param: u32, family: Family, flags: u32, now: u64, expiration: i32) -> Self {
        let mut r = Replay {
            kind: kind.to_string(),
            param,
            family,
            flags,
            dests: Vec::new(),
            trash: Vec::new(),
            next_id: 0,
            state: State::Lc,
            now,
            expiration,
            next_check: 0,
            due: Vec::new(),
        };
        r.bind();
        r
    }

    /// `ip_vs_bind_scheduler()`: `init_service` with the current destinations.
    fn bind(&mut self) {
        self.state = match self.kind.as_str() {
            "rr" => State::Rr(RoundRobin::new()),
            "wrr" => State::Wrr(WeightedRoundRobin::new(&self.dests)),
            "lc" => State::Lc,
            "wlc" => State::Wlc,
            "sh" => {
                let sh = SourceHash::with_tab_bits(self.family, self.param).unwrap();
                State::Sh(sh, vec![0; sh.table_len()])
            }
            "mh" => {
                let mh = Maglev::with_tab_index(self.family, self.param).unwrap();
                State::Mh(mh, vec![0; mh.table_len()])
            }
            "sed" => State::Sed,
            "nq" => State::Nq,
            "fo" => State::Fo,
            "ovf" => State::Ovf,
            "twos" => State::Twos,
            "dh" => State::Dh(DestinationHash::with_tab_bits(self.family, self.param).unwrap()),
            "lblc" => {
                let l = Lblc::with_tab_bits(self.family, self.param, HZ, self.now).unwrap();
                let mut heads = vec![0; l.table_len()];
                l.clear_heads(&mut heads);
                State::Lblc(l, heads, SlotSlab::new(Vec::new()))
            }
            "lblcr" => {
                let l = Lblcr::with_tab_bits(self.family, self.param, HZ, self.now).unwrap();
                let mut heads = vec![0; l.table_len()];
                l.clear_heads(&mut heads);
                State::Lblcr(
                    l,
                    heads,
                    SlotSlab::new(Vec::new()),
                    SlotSlab::new(Vec::new()),
                )
            }
            k => panic!("unknown scheduler {k}"),
        };
        // init_service arms the expiry timer (lblc, lblcr).
        self.next_check = self.now.wrapping_add(CHECK_EXPIRE_INTERVAL);
        self.reassign();
    }

    fn reassign(&mut self) {
        match &mut self.state {
            State::Sh(sh, t) => sh.reassign(&self.dests, t).unwrap(),
            State::Mh(mh, t) => {
                let mut setup = vec![DestSetup::default(); self.dests.len()];
                mh.reassign(&self.dests, t, &mut setup).unwrap();
            }
            _ => {}
        }
    }

    /// The add/del/upd_dest hooks.
    fn changed(&mut self) {
        if let State::Wrr(w) = &mut self.state {
            w.dests_changed(&self.dests);
        }
        self.reassign();
    }

    fn add_at_head(&mut self, d: TD) {
        self.dests.insert(0, d);
        if let State::Rr(s) = &mut self.state {
            s.dest_added(0);
        }
        self.changed();
    }

    fn schedule(&mut self, addr: &InetAddr, proto: u8, sport: u16, rand: &[u32]) -> Option<usize> {
        let port = hash_port(proto, Some([sport, 80]), false);
        let mut rand = rand.iter();
        let d = &self.dests;
        let got = match &mut self.state {
            State::Rr(s) => s.schedule(d),
            State::Wrr(s) => s.schedule(d),
            State::Lc => lc::schedule(d),
            State::Wlc => wlc::schedule(d),
            State::Sh(sh, t) => sh.schedule(self.flags, d, t, addr, port),
            State::Mh(mh, t) => mh.schedule(self.flags, d, t, addr, port),
            State::Sed => sed::schedule(d),
            State::Nq => nq::schedule(d),
            State::Fo => fo::schedule(d),
            State::Ovf => ovf::schedule(d),
            State::Twos => twos::schedule(d, |bound| {
                let v = *rand.next().expect("Rust drew more random numbers than C");
                assert!(
                    v < bound || (bound == 0 && v == 0),
                    "random {v} not below {bound}"
                );
                v
            }),
            State::Dh(dh) => dh.schedule(d, addr),
            State::Lblc(l, heads, slab) => l.schedule(heads, slab, d, addr, self.now),
            State::Lblcr(l, heads, slab, elems) => {
                l.schedule(heads, slab, elems, d, addr, self.now, self.expiration)
            }
        };
        assert!(
            rand.next().is_none(),
            "C drew more random numbers than Rust"
        );
        got
    }

    fn table(&self) -> Option<Vec<i32>> {
        let idx = |e: u32| if e == u32::MAX { -1 } else { e as i32 };
        match &self.state {
            State::Sh(_, t) | State::Mh(_, t) => Some(t.iter().map(|&e| idx(e)).collect()),
            State::Dh(dh) => Some(
                (0..dh.table_len())
                    .map(|b| dh.slot(b, self.dests.len()).map_or(-1, |i| i as i32))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The expiry timer of lblc/lblcr ran at `t`: the core must find it due then (and not
    /// one jiffy earlier).
    fn check_expire(&mut self, t: u64) {
        let e = self.expiration;
        let ran = match &mut self.state {
            State::Lblc(l, heads, slab) => {
                assert_eq!(l.next_check(), t);
                !l.expire_if_due(heads, slab, t.wrapping_sub(1), e)
                    && l.expire_if_due(heads, slab, t, e)
            }
            State::Lblcr(l, heads, slab, elems) => {
                assert_eq!(l.next_check(), t);
                !l.expire_if_due(heads, slab, elems, t.wrapping_sub(1), e)
                    && l.expire_if_due(heads, slab, elems, t, e)
            }
            _ => panic!("timer run for {}", self.kind),
        };
        assert!(ran, "the core's timer was not due at {t}");
    }

    /// The `L` line of the table: entries, entries walked, rover, counter, hash.
    fn table_state(&self) -> (i32, i32, i32, i32, u64) {
        let alen = if self.family == Family::Ipv6 { 16 } else { 4 };
        let mut h = FNV_BASIS;
        let mut walked = 0;
        let (entries, rover, counter) = match &self.state {
            State::Lblc(l, heads, slab) => {
                l.for_each(heads, slab, |j, e| {
                    walked += 1;
                    h = fnv_bytes(h, &(j as u32).to_le_bytes());
                    h = fnv_bytes(h, &e.addr().0[..alen]);
                    h = fnv_bytes(h, &e.held().id().to_le_bytes());
                    h = fnv_bytes(h, &e.lastuse().to_le_bytes());
                });
                l.counters()
            }
            State::Lblcr(l, heads, slab, elems) => {
                l.for_each(heads, slab, |j, e| {
                    walked += 1;
                    let set = e.held();
                    h = fnv_bytes(h, &(j as u32).to_le_bytes());
                    h = fnv_bytes(h, &e.addr().0[..alen]);
                    h = fnv_bytes(h, &e.lastuse().to_le_bytes());
                    h = fnv_bytes(h, &(set.size() as u32).to_le_bytes());
                    h = fnv_bytes(h, &set.lastmod().to_le_bytes());
                    for m in members(set, elems) {
                        h = fnv_bytes(h, &m.id().to_le_bytes());
                    }
                });
                l.counters()
            }
            _ => panic!("table state of {}", self.kind),
        };
        (entries, walked, rover, counter, h)
    }

    fn by_id(&self, id: u32) -> TD {
        self.dests
            .iter()
            .chain(self.trash.iter())
            .find(|d| d.id() == id)
            .cloned()
            .expect("unknown dest id")
    }
}

fn fnv64(entries: &[i32]) -> u64 {
    let mut h: u64 = FNV_BASIS;
    for &v in entries {
        h = fnv_bytes(h, &v.to_le_bytes());
    }
    h
}

/// What a replay checked, per scheduler kind.
#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    scenarios: usize,
    ops: usize,
    decisions: usize,
    tables: usize,
    states: usize,
    timer_runs: usize,
}

/// Replays a trace; returns what was checked, per scheduler kind.
fn replay(trace: &str) -> BTreeMap<String, Counts> {
    let mut cur: Option<Replay> = None;
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for (lineno, line) in trace.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ctx = || format!("trace line {}: {line}", lineno + 1);
        let num = |i: usize| -> i64 { f[i].parse().unwrap_or_else(|_| panic!("{}", ctx())) };
        let unum = |i: usize| -> u64 { f[i].parse().unwrap_or_else(|_| panic!("{}", ctx())) };
        match f.first().copied() {
            Some("S") => {
                let family = if num(3) == 4 {
                    Family::Ipv4
                } else {
                    Family::Ipv6
                };
                let (now, exp) = if f.len() > 6 {
                    (unum(5), num(6) as i32)
                } else {
                    (0, 0)
                };
                cur = Some(Replay::new(
                    f[1],
                    num(2) as u32,
                    family,
                    num(4) as u32,
                    now,
                    exp,
                ));
                counts.entry(f[1].to_string()).or_default().scenarios += 1;
            }
            Some("E") => {
                let r = cur
                    .take()
                    .unwrap_or_else(|| panic!("no scenario: {}", ctx()));
                assert!(r.due.is_empty(), "timer runs missing before {}", ctx());
            }
            Some(op) => {
                let r = cur
                    .as_mut()
                    .unwrap_or_else(|| panic!("no scenario: {}", ctx()));
                let c = counts.get_mut(&r.kind).unwrap();
                c.ops += 1;
                if !matches!(op, "X" | "L") {
                    assert!(
                        r.due.is_empty(),
                        "C did not run the timer at {:?}: {}",
                        r.due,
                        ctx()
                    );
                }
                match op {
                    "A" => {
                        // __ip_vs_update_dest(add): list_add_rcu() at the head.
                        let w = num(3) as i32;
                        let d = TD::new(DestInfo::new(hex16(f[1]), num(2) as u16, w), r.next_id);
                        r.next_id += 1;
                        r.add_at_head(d);
                    }
                    "R" => {
                        // ip_vs_add_dest() reviving a trashed dest: __ip_vs_update_dest(add).
                        let (id, w) = (num(1) as u32, num(2) as i32);
                        let t = r
                            .trash
                            .iter()
                            .position(|d| d.id() == id)
                            .unwrap_or_else(|| panic!("{}", ctx()));
                        let d = r.trash.remove(t);
                        d.with(|i| {
                            i.weight = w;
                            i.last_weight = w;
                        });
                        d.0.borrow_mut().available = true;
                        r.add_at_head(d);
                    }
                    "D" => {
                        let i = num(1) as usize;
                        let d = r.dests.remove(i);
                        d.0.borrow_mut().available = false;
                        r.trash.push(d);
                        if let State::Rr(s) = &mut r.state {
                            s.dest_removed(i);
                        }
                        r.changed();
                    }
                    "U" => {
                        let (i, w) = (num(1) as usize, num(2) as i32);
                        r.dests[i].with(|d| {
                            if w != 0 {
                                d.last_weight = w;
                            }
                            d.weight = w;
                        });
                        r.changed();
                    }
                    "O" => {
                        let on = num(2) != 0;
                        r.dests[num(1) as usize].with(|d| d.overloaded = on);
                    }
                    "C" | "K" => {
                        let d = if op == "C" {
                            r.dests[num(1) as usize].clone()
                        } else {
                            r.by_id(num(1) as u32)
                        };
                        let (a, t) = (num(2) as i32, num(3) as i32);
                        d.with(|d| {
                            d.active_conns = a;
                            d.total_conns = t;
                        });
                    }
                    "F" => r.flags = num(1) as u32,
                    "I" => r.bind(),
                    "Y" => r.expiration = num(1) as i32,
                    "J" => {
                        let target = r.now.wrapping_add(unum(1));
                        if matches!(r.state, State::Lblc(..) | State::Lblcr(..)) {
                            while !time_after(r.next_check, target) {
                                r.due.push(r.next_check);
                                r.next_check = r.next_check.wrapping_add(CHECK_EXPIRE_INTERVAL);
                            }
                        }
                        r.now = target;
                    }
                    "X" => {
                        let t = unum(1);
                        assert!(
                            !r.due.is_empty() && r.due.remove(0) == t,
                            "timer ran at {t}: {}",
                            ctx()
                        );
                        r.check_expire(t);
                        c.timer_runs += 1;
                    }
                    "L" => {
                        let want = (num(1) as i32, num(2) as i32, num(3) as i32, num(4) as i32);
                        let (e, w, ro, co, h) = r.table_state();
                        assert_eq!(
                            (e, w, ro, co),
                            want,
                            "{} (entries, walked, rover, counter)",
                            ctx()
                        );
                        assert_eq!(format!("{h:016x}"), f[5], "{} (table contents)", ctx());
                        c.states += 1;
                    }
                    "P" => {
                        let want = num(4);
                        let rand: Vec<u32> = f[5..].iter().map(|x| x.parse().unwrap()).collect();
                        let got = r.schedule(&hex16(f[1]), num(2) as u8, num(3) as u16, &rand);
                        let got = got.map_or(-1, |i| i as i64);
                        assert_eq!(
                            got,
                            want,
                            "{} ({} scheduler, dests {:?})",
                            ctx(),
                            r.kind,
                            r.dests
                        );
                        c.decisions += 1;
                    }
                    "T" => {
                        let entries = r.table().unwrap_or_else(|| {
                            panic!("table for a tableless scheduler: {}", ctx())
                        });
                        assert_eq!(entries.len() as i64, num(1), "{}", ctx());
                        if f.len() > 3 {
                            let want: Vec<i32> =
                                f[3..].iter().map(|x| x.parse().unwrap()).collect();
                            assert_eq!(entries, want, "{}", ctx());
                        }
                        assert_eq!(format!("{:016x}", fnv64(&entries)), f[2], "{}", ctx());
                        c.tables += 1;
                    }
                    _ => panic!("unknown op: {}", ctx()),
                }
            }
            None => {}
        }
    }
    counts
}

fn total(c: &BTreeMap<String, Counts>, f: impl Fn(&Counts) -> usize) -> usize {
    c.values().map(f).sum()
}

#[test]
fn c_trace() {
    let c = replay(include_str!("testdata/c_trace.txt"));
    for (k, v) in &c {
        std::println!("{k}: {v:?}");
    }
    // Guard against an empty or truncated trace passing vacuously.
    let (s, d, t) = (
        total(&c, |x| x.scenarios),
        total(&c, |x| x.decisions),
        total(&c, |x| x.tables),
    );
    assert!(
        s >= 50 && d >= 5000 && t >= 1400,
        "only {s} scenarios, {d} decisions, {t} tables"
    );
    for k in [
        "rr", "wrr", "lc", "wlc", "sh", "mh", "dh", "sed", "nq", "fo", "ovf", "twos", "lblc",
        "lblcr",
    ] {
        let x = c.get(k).copied().unwrap_or_default();
        assert!(x.scenarios >= 2 && x.decisions >= 200, "{k}: only {x:?}");
    }
    for k in ["lblc", "lblcr"] {
        let x = c[k];
        assert!(x.states >= 500 && x.timer_runs >= 100, "{k}: only {x:?}");
    }
}

/// A larger trace from `testdata/cref` (not checked in): set `IPVS_C_TRACE`.
#[test]
#[ignore]
fn c_trace_external() {
    let path = std::env::var("IPVS_C_TRACE").expect("set IPVS_C_TRACE to a driver output file");
    let trace = std::fs::read_to_string(path).unwrap();
    let c = replay(&trace);
    for (k, v) in &c {
        std::println!("{k}: {v:?} agree with C");
    }
    assert!(total(&c, |x| x.scenarios) > 0);
}
