//! The rate estimator: connections, packets and bytes per second of a service, a destination
//! or a whole namespace, as `ipvsadm -L --rate` and `/proc/net/ip_vs_stats` show them.
//!
//! C sources (Linux 6.12): `net/netfilter/ipvs/ip_vs_est.c` (`ip_vs_chain_estimation()`,
//! `ip_vs_zero_estimator()`, `ip_vs_read_estimator()`), `net/netfilter/ipvs/ip_vs_ctl.c`
//! (`ip_vs_copy_stats()`, `ip_vs_zero_stats()`), `include/net/ip_vs.h`
//! (`struct ip_vs_estimator`, `struct ip_vs_kstats`, `struct ip_vs_stats`,
//! `IPVS_EST_NTICKS`, `IPVS_EST_TICK`).
//!
//! # What C does
//!
//! The data path counts into per-CPU counters. Every estimator is visited once per 2-second
//! period by an estimation kthread (6.12 spreads the estimators over `IPVS_EST_NTICKS` = 50
//! ticks of `IPVS_EST_TICK` = `2 * HZ / 50` jiffies each, so the period is
//! `50 * (2 * HZ / 50)` jiffies: exactly 2 s for HZ = 100, 250, 300 and 1000). A visit sums
//! the per-CPU counters into `kstats` and moves each average a quarter of the way towards
//! the rate of the last period:
//!
//! ```text
//! rate = (kstats.x - last_x) << 9;                 // x/s scaled by 2^10, over 2 s: << 10 - 1
//! e->x_rate += ((s64)rate - (s64)e->x_rate) >> 2;  // W = 1/4
//! ```
//!
//! with a shift of 4 (2^5 over 2 s) instead of 9 for the byte rates. Reading rounds to
//! nearest, halves down: `(avg + 0x1FF) >> 10` and `(avg + 0xF) >> 5`.
//!
//! Everything is `u64` in C with wrapping arithmetic (the kernel builds with
//! `-fno-strict-overflow`, and the averages go through `s64` and back). That is reproduced
//! here with `wrapping_*` operations, including C's corners:
//!
//! * `>>` of a negative `s64` rounds towards minus infinity, so an average falling towards
//!   0 reaches it, while one rising towards a steady rate stops up to 3 below it (a
//!   difference of 1..=3 shifts to 0).
//! * A counter that moves backwards (`kstats.x < last_x`) wraps: the "rate" is a huge
//!   number shifted left, which as `s64` is usually negative, and the average goes
//!   negative, i.e. huge as `u64`. Reading adds the rounding constant modulo 2^64, so an
//!   average just below zero reads as 0 and one further below reads as an enormous rate.
//!   In C the per-CPU counters only grow, so this happens only if they wrap.
//!
//! # Model
//!
//! [`Estimator`] is `struct ip_vs_estimator` without the list linkage; [`StatsState`] is
//! `struct ip_vs_stats` without the per-CPU counters and the lock: the glue sums its per-CPU
//! counters ([`Counters::wrapping_add`]) and calls [`StatsState::estimate`] once per period
//! under the stats lock, and answers readers with [`StatsState::copy`].

use crate::netlink::reply::Stats;

/// `IPVS_EST_NTICKS`: the ticks one estimation period is spread over.
pub const EST_NTICKS: u32 = 50;

/// `IPVS_EST_TICK`: jiffies between two estimation ticks, `2 * HZ / IPVS_EST_NTICKS`.
pub const fn est_tick_jiffies(hz: u32) -> u32 {
    hz.wrapping_mul(2) / EST_NTICKS
}

/// Jiffies between two estimations of the same estimator: `IPVS_EST_NTICKS` ticks (2 s,
/// less the rounding of [`est_tick_jiffies`]: 1.953 s for HZ = 1024).
pub const fn est_period_jiffies(hz: u32) -> u32 {
    est_tick_jiffies(hz).wrapping_mul(EST_NTICKS)
}

/// The cumulative counters of `struct ip_vs_kstats` (or of one CPU's
/// `struct ip_vs_cpu_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Counters {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
}

impl Counters {
    /// All zero.
    pub const ZERO: Counters = Counters {
        conns: 0,
        inpkts: 0,
        outpkts: 0,
        inbytes: 0,
        outbytes: 0,
    };

    /// Field-wise `self + other` modulo 2^64: the `kconns += conns` sum over CPUs in
    /// `ip_vs_chain_estimation()`.
    pub const fn wrapping_add(&self, other: &Counters) -> Counters {
        Counters {
            conns: self.conns.wrapping_add(other.conns),
            inpkts: self.inpkts.wrapping_add(other.inpkts),
            outpkts: self.outpkts.wrapping_add(other.outpkts),
            inbytes: self.inbytes.wrapping_add(other.inbytes),
            outbytes: self.outbytes.wrapping_add(other.outbytes),
        }
    }

    /// Field-wise `self - other` modulo 2^64 (`kstats.x - kstats0.x` in `ip_vs_copy_stats()`).
    pub const fn wrapping_sub(&self, other: &Counters) -> Counters {
        Counters {
            conns: self.conns.wrapping_sub(other.conns),
            inpkts: self.inpkts.wrapping_sub(other.inpkts),
            outpkts: self.outpkts.wrapping_sub(other.outpkts),
            inbytes: self.inbytes.wrapping_sub(other.inbytes),
            outbytes: self.outbytes.wrapping_sub(other.outbytes),
        }
    }
}

/// The five rates, either as the estimator keeps them (scaled, see [`Estimator::scaled`]) or
/// as users see them ([`Estimator::read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub inpps: u64,
    /// Outgoing packets per second.
    pub outpps: u64,
    /// Incoming bytes per second.
    pub inbps: u64,
    /// Outgoing bytes per second.
    pub outbps: u64,
}

/// Left shift turning a 2-second delta of connections or packets into a per-second rate
/// scaled by 2^10.
const PPS_SHIFT: u32 = 9;
/// The same for bytes, scaled by 2^5.
const BPS_SHIFT: u32 = 4;

/// One EWMA step: `avg += ((s64)rate - (s64)avg) >> 2` in C's types.
const fn ewma(avg: u64, rate: u64) -> u64 {
    // `as` between u64 and i64 reinterprets the bits, as C's casts do.
    avg.wrapping_add(((rate as i64).wrapping_sub(avg as i64) >> 2) as u64)
}

/// `struct ip_vs_estimator`: the counters seen at the last estimation and the scaled
/// averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Estimator {
    /// `last_conns`, `last_inpkts`, ... : `kstats` at the last estimation.
    last: Counters,
    /// `cps`, `inpps`, `outpps` scaled by 2^10; `inbps`, `outbps` by 2^5.
    avg: Rates,
}

impl Estimator {
    /// A new estimator, as `kzalloc()` leaves it: everything 0, so the first estimation
    /// counts everything since the counters were allocated.
    pub const NEW: Estimator = Estimator {
        last: Counters::ZERO,
        avg: Rates {
            cps: 0,
            inpps: 0,
            outpps: 0,
            inbps: 0,
            outbps: 0,
        },
    };

    /// One estimation period (the body of `ip_vs_chain_estimation()`'s loop after the
    /// per-CPU sum): `kstats` is the sum of the counters now.
    pub fn estimate(&mut self, kstats: &Counters) {
        let (last, avg) = (&mut self.last, &mut self.avg);
        let step = |avg: &mut u64, last: &mut u64, now: u64, shift: u32| {
            // `(now - last) << shift` in u64: bits shifted out are lost, as in C.
            let rate = now.wrapping_sub(*last) << shift;
            *last = now;
            *avg = ewma(*avg, rate);
        };
        step(&mut avg.cps, &mut last.conns, kstats.conns, PPS_SHIFT);
        step(&mut avg.inpps, &mut last.inpkts, kstats.inpkts, PPS_SHIFT);
        step(
            &mut avg.outpps,
            &mut last.outpkts,
            kstats.outpkts,
            PPS_SHIFT,
        );
        step(&mut avg.inbps, &mut last.inbytes, kstats.inbytes, BPS_SHIFT);
        step(
            &mut avg.outbps,
            &mut last.outbytes,
            kstats.outbytes,
            BPS_SHIFT,
        );
    }

    /// `ip_vs_zero_estimator()`: the next period counts from `kstats`, the averages restart
    /// at 0.
    pub fn zero(&mut self, kstats: &Counters) {
        *self = Estimator {
            last: *kstats,
            avg: Rates::default(),
        };
    }

    /// `ip_vs_read_estimator()`: the rates users see, rounded to nearest.
    pub const fn read(&self) -> Rates {
        let a = &self.avg;
        Rates {
            cps: a.cps.wrapping_add(0x1FF) >> 10,
            inpps: a.inpps.wrapping_add(0x1FF) >> 10,
            outpps: a.outpps.wrapping_add(0x1FF) >> 10,
            inbps: a.inbps.wrapping_add(0xF) >> 5,
            outbps: a.outbps.wrapping_add(0xF) >> 5,
        }
    }

    /// The averages as kept (`e->cps` ...): connection and packet rates times 2^10, byte
    /// rates times 2^5.
    pub const fn scaled(&self) -> Rates {
        self.avg
    }

    /// The counters of the last estimation (`e->last_conns` ...).
    pub const fn last(&self) -> Counters {
        self.last
    }
}

/// `struct ip_vs_stats` without its per-CPU counters and lock: what the estimation, zeroing
/// and reading of a service's, destination's or namespace's statistics work on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StatsState {
    /// `kstats` counters: the per-CPU sum as of the last estimation. C refreshes them only
    /// there, so readers see counters up to one period old.
    pub kstats: Counters,
    /// `kstats0`: the counters when the statistics were last zeroed (`ipvsadm -Z`).
    pub kstats0: Counters,
    /// `est`.
    pub est: Estimator,
}

impl StatsState {
    /// Fresh statistics (`kzalloc()`).
    pub const NEW: StatsState = StatsState {
        kstats: Counters::ZERO,
        kstats0: Counters::ZERO,
        est: Estimator::NEW,
    };

    /// One estimation: `ip_vs_chain_estimation()` for this entry, `sum` being the per-CPU
    /// counters summed with [`Counters::wrapping_add`].
    pub fn estimate(&mut self, sum: &Counters) {
        self.kstats = *sum;
        self.est.estimate(sum);
    }

    /// `ip_vs_zero_stats()`: counters shown from now on start at 0, rates restart at 0.
    pub fn zero(&mut self) {
        self.kstats0 = self.kstats;
        self.est.zero(&self.kstats);
    }

    /// `ip_vs_copy_stats()`: what netlink, the sockopt interface and `/proc/net/ip_vs_stats`
    /// report: counters since the last zeroing (modulo 2^64), rates from
    /// [`Estimator::read`]. (Netlink's 32-bit attributes and the sockopt structure then
    /// truncate, see [`Stats::emit32`].)
    pub const fn copy(&self) -> Stats {
        let c = self.kstats.wrapping_sub(&self.kstats0);
        let r = self.est.read();
        Stats {
            conns: c.conns,
            inpkts: c.inpkts,
            outpkts: c.outpkts,
            inbytes: c.inbytes,
            outbytes: c.outbytes,
            cps: r.cps,
            inpps: r.inpps,
            outpps: r.outpps,
            inbps: r.inbps,
            outbps: r.outbps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn conns(n: u64) -> Counters {
        Counters {
            conns: n,
            ..Counters::ZERO
        }
    }

    /// 50 connections per second: 100 per period. Worked by hand from
    /// ip_vs_est.c:122-125 and :926.
    #[test]
    fn steady_connection_rate() {
        let mut e = Estimator::NEW;
        // (scaled average after the step, what ip_vs_read_estimator() shows)
        let want = [
            (12800, 12), // 0 + (51200 - 0) >> 2; (12800 + 511) >> 10 = 12 (12.99)
            (22400, 22), // 12800 + (51200 - 12800) >> 2 = 12800 + 9600
            (29600, 29), // 22400 + 7200
            (35000, 34), // 29600 + 5400
            (39050, 38), // 35000 + 4050
        ];
        for (i, (avg, shown)) in want.into_iter().enumerate() {
            e.estimate(&conns(100 * (i as u64 + 1)));
            assert_eq!(
                (e.scaled().cps, e.read().cps),
                (avg, shown),
                "period {}",
                i + 1
            );
            assert_eq!(e.last().conns, 100 * (i as u64 + 1));
        }
        // Converges to 50/s, stopping just below 51200 (a gap under 4 shifts to 0).
        for i in 6..200 {
            e.estimate(&conns(100 * i));
        }
        assert!(
            (51197..=51200).contains(&e.scaled().cps),
            "{}",
            e.scaled().cps
        );
        assert_eq!(e.read().cps, 50);
        // Stopped traffic: decays, and reaches 0 exactly (>> of a negative rounds down).
        let stop = e.last();
        let mut periods = 0;
        while e.scaled().cps != 0 {
            e.estimate(&stop);
            periods += 1;
            assert!(periods < 100);
        }
        assert_eq!(e.read(), Rates::default());
    }

    #[test]
    fn byte_rates_are_scaled_by_32() {
        let mut e = Estimator::NEW;
        // 5000 B/s in, 1 B per 2 s out, 3 packets in per 2 s.
        e.estimate(&Counters {
            inbytes: 10_000,
            outbytes: 1,
            inpkts: 3,
            ..Counters::ZERO
        });
        // inbps: (10000 << 4) >> 2 = 40000; (40000 + 15) >> 5 = 1250 (1250.47).
        // outbps: (1 << 4) >> 2 = 4; (4 + 15) >> 5 = 0.
        // inpps: (3 << 9) >> 2 = 384; (384 + 511) >> 10 = 0 (0.87).
        assert_eq!(
            e.scaled(),
            Rates {
                cps: 0,
                inpps: 384,
                outpps: 0,
                inbps: 40000,
                outbps: 4
            }
        );
        assert_eq!(
            e.read(),
            Rates {
                cps: 0,
                inpps: 0,
                outpps: 0,
                inbps: 1250,
                outbps: 0
            }
        );
        e.estimate(&Counters {
            inbytes: 20_000,
            outbytes: 1,
            inpkts: 6,
            ..Counters::ZERO
        });
        // inbps: 40000 + (160000 - 40000) >> 2 = 70000 -> (70015) >> 5 = 2187.
        // outbps: 4 + (0 - 4) >> 2 = 3. inpps: 384 + (1536 - 384) >> 2 = 672 -> 1.
        assert_eq!(
            e.scaled(),
            Rates {
                cps: 0,
                inpps: 672,
                outpps: 0,
                inbps: 70000,
                outbps: 3
            }
        );
        assert_eq!(
            e.read(),
            Rates {
                cps: 0,
                inpps: 1,
                outpps: 0,
                inbps: 2187,
                outbps: 0
            }
        );
    }

    /// `>> 2` of a negative difference rounds towards minus infinity.
    #[test]
    fn negative_steps_round_down() {
        for (avg, next) in [(1u64, 0u64), (2, 1), (3, 2), (4, 3), (5, 3), (8, 6)] {
            assert_eq!(ewma(avg, 0), next, "from {avg}");
        }
        // Rising by less than 4 does nothing.
        for gap in 1..4 {
            assert_eq!(ewma(1000, 1000 + gap), 1000);
        }
        assert_eq!(ewma(1000, 1004), 1001);
    }

    /// A counter that goes backwards: C's u64 and s64 arithmetic, worked by hand.
    #[test]
    fn backwards_counter_wraps_as_in_c() {
        let mut e = Estimator::NEW;
        e.estimate(&conns(5));
        // 5 << 9 = 2560; >> 2 = 640.
        assert_eq!(e.scaled().cps, 640);
        e.estimate(&conns(3));
        // (3 - 5) mod 2^64 << 9 = 2^64 - 1024, i.e. -1024 as s64;
        // 640 + (-1024 - 640) >> 2 = 640 - 416 = 224.
        assert_eq!(e.scaled().cps, 224);
        let mut e = Estimator::NEW;
        e.estimate(&conns(u64::MAX - 1)); // as if it had gone back by 2 from 0
                                          // (2^64 - 2) << 9 = 2^64 - 1024 -> -1024 >> 2 = -256: the average is 2^64 - 256,
                                          // and reading adds 511 modulo 2^64: 255 >> 10 = 0.
        assert_eq!(e.scaled().cps, u64::MAX - 255);
        assert_eq!(e.read().cps, 0);
        // Further below zero it reads as an enormous rate: -2048 >> 2 = -512, + 511 = -1.
        let mut e = Estimator::NEW;
        e.estimate(&conns(u64::MAX - 3));
        assert_eq!(e.scaled().cps, u64::MAX - 511);
        assert_eq!(e.read().cps, u64::MAX >> 10);
        // Bits shifted out of the u64 are lost: a delta of 2^55 << 9 is 0.
        let mut e = Estimator::NEW;
        e.estimate(&conns(1 << 55));
        assert_eq!(e.scaled().cps, 0);
    }

    #[test]
    fn zero_restarts_rates_and_counters() {
        let mut s = StatsState::NEW;
        let a = Counters {
            conns: 10,
            inpkts: 20,
            outpkts: 30,
            inbytes: 4000,
            outbytes: 5000,
        };
        s.estimate(&a);
        let shown = s.copy();
        assert_eq!(
            (
                shown.conns,
                shown.inpkts,
                shown.outpkts,
                shown.inbytes,
                shown.outbytes
            ),
            (10, 20, 30, 4000, 5000)
        );
        // cps (10 << 9) >> 2 = 1280 -> (1280 + 511) >> 10 = 1; inpps 2560 -> 3071 >> 10 = 2
        // (an exact 2.5 rounds down: 0x1FF is just under a half); outpps 3840 -> 4;
        // inbps (4000 << 4) >> 2 = 16000 -> 500; outbps 20000 -> 625.
        assert_eq!(
            (
                shown.cps,
                shown.inpps,
                shown.outpps,
                shown.inbps,
                shown.outbps
            ),
            (1, 2, 4, 500, 625)
        );
        s.zero();
        assert_eq!(s.copy(), Stats::default());
        assert_eq!(s.est.last(), a);
        // The next period counts from the zeroing point.
        let b = a.wrapping_add(&Counters {
            conns: 100,
            ..Counters::ZERO
        });
        s.estimate(&b);
        let shown = s.copy();
        assert_eq!((shown.conns, shown.inpkts, shown.cps), (100, 0, 12)); // (12800 + 511) >> 10
    }

    #[test]
    fn copy_subtracts_modulo_2_64() {
        let s = StatsState {
            kstats: conns(1),
            kstats0: conns(3),
            est: Estimator::NEW,
        };
        assert_eq!(s.copy().conns, u64::MAX - 1);
    }

    #[test]
    fn period() {
        assert_eq!(est_tick_jiffies(250), 10);
        assert_eq!(est_period_jiffies(250), 500);
        assert_eq!(est_period_jiffies(100), 200);
        assert_eq!(est_period_jiffies(300), 600);
        assert_eq!(est_period_jiffies(1000), 2000);
        assert_eq!(est_period_jiffies(1024), 2000); // 2048 / 50 = 40 ticks of 40
        assert_eq!(est_tick_jiffies(0), 0);
    }

    /// The same arithmetic in i128, where nothing wraps unless reduced by hand: the scaled
    /// average, reduced modulo 2^64, matches the wrapping u64 code for any input.
    fn model(avg: u64, last: u64, now: u64, shift: u32) -> u64 {
        let m = 1i128 << 64;
        let delta = (i128::from(now) - i128::from(last)).rem_euclid(m);
        let rate = (delta << shift).rem_euclid(m);
        let signed = |x: i128| if x >= 1i128 << 63 { x - m } else { x };
        let diff = (signed(rate) - signed(i128::from(avg))).rem_euclid(m);
        let step = signed(diff) >> 2; // i128 >> is arithmetic, like C's s64 >>
        (i128::from(avg) + step).rem_euclid(m) as u64
    }

    proptest! {
        #[test]
        fn matches_wide_model(seq in prop::collection::vec((any::<u64>(), 0u64..1 << 40), 1..20), wrap: bool) {
            // Counters from any start, moving by arbitrary (sometimes huge) steps.
            let mut e = Estimator::NEW;
            let mut now = Counters::ZERO;
            for (jump, small) in seq {
                let d = if wrap { jump } else { small };
                let next = Counters {
                    conns: now.conns.wrapping_add(d),
                    inpkts: now.inpkts.wrapping_add(d / 3),
                    outpkts: now.outpkts.wrapping_add(d / 7),
                    inbytes: now.inbytes.wrapping_add(d.wrapping_mul(1500)),
                    outbytes: now.outbytes.wrapping_add(d.wrapping_mul(40)),
                };
                let before = e;
                e.estimate(&next);
                let (a, l) = (before.scaled(), before.last());
                prop_assert_eq!(e.scaled().cps, model(a.cps, l.conns, next.conns, 9));
                prop_assert_eq!(e.scaled().inpps, model(a.inpps, l.inpkts, next.inpkts, 9));
                prop_assert_eq!(e.scaled().outpps, model(a.outpps, l.outpkts, next.outpkts, 9));
                prop_assert_eq!(e.scaled().inbps, model(a.inbps, l.inbytes, next.inbytes, 4));
                prop_assert_eq!(e.scaled().outbps, model(a.outbps, l.outbytes, next.outbytes, 4));
                prop_assert_eq!(e.last(), next);
                let r = e.read();
                let s = e.scaled();
                prop_assert_eq!(r.cps, (((u128::from(s.cps) + 0x1FF) % (1u128 << 64)) >> 10) as u64);
                prop_assert_eq!(r.inbps, (((u128::from(s.inbps) + 0xF) % (1u128 << 64)) >> 5) as u64);
                now = next;
            }
        }

        /// With counters that only grow at a steady per-period rate, the shown rate never
        /// exceeds the true one (per period / 2, floored) and ends equal to it.
        #[test]
        fn steady_rates_converge(per_period in 0u64..1 << 30, bytes_per_period in 0u64..1 << 40) {
            let mut s = StatsState::NEW;
            let mut c = Counters::ZERO;
            for _ in 0..150 {
                c = c.wrapping_add(&Counters { conns: per_period, inbytes: bytes_per_period, ..Counters::ZERO });
                s.estimate(&c);
                let shown = s.copy();
                prop_assert!(shown.cps <= per_period / 2);
                prop_assert!(shown.inbps <= bytes_per_period / 2);
            }
            let shown = s.copy();
            // Converged: the average is within 3 of the scaled rate, which rounds to the
            // true rate, halved and floored.
            prop_assert_eq!(shown.cps, per_period / 2);
            prop_assert_eq!(shown.inbps, bytes_per_period / 2);
        }
    }
}
