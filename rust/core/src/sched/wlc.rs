//! Weighted least-connection scheduling (`wlc`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_wlc.c`.
//!
//! Picks the destination with the smallest overhead / weight, compared without division as
//! `loh * dw > doh * lw` in 64-bit signed arithmetic (`__s64` in 6.12). The first destination
//! that is not overloaded and has weight > 0 seeds the search; after it only overloaded
//! destinations are skipped, and a strictly smaller ratio is needed to win, so ties go to the
//! first in list order. Stateless.

use super::{conn_overhead, indexed, usable, Dest};

/// `ip_vs_wlc_schedule()`: index of the destination with the least weighted load, or `None`
/// if no destination is both not overloaded and of positive weight.
pub fn schedule<D: Dest>(dests: &[D]) -> Option<usize> {
    let mut rest = indexed(dests, 0);
    let (mut least, mut lw, mut loh) = loop {
        let (i, d) = rest.next()?;
        if usable(d) {
            break (i, d.weight(), conn_overhead(d));
        }
    };
    for (i, d) in rest {
        if d.overloaded() {
            continue;
        }
        // Weight 0 (or below) is not skipped here, as in C: it can only win against a
        // negative (wrapped) overhead.
        let (dw, doh) = (d.weight(), conn_overhead(d));
        if i64::from(loh) * i64::from(dw) > i64::from(doh) * i64::from(lw) {
            (least, lw, loh) = (i, dw, doh);
        }
    }
    Some(least)
}

#[cfg(test)]
mod tests {
    use super::super::DestInfo;
    use super::*;
    use std::vec::Vec;

    fn d(weight: i32, active: i32, total: i32) -> DestInfo {
        DestInfo {
            weight,
            last_weight: weight,
            active_conns: active,
            total_conns: total,
            ..DestInfo::default()
        }
    }

    #[test]
    fn weighs_overhead() {
        // 514/1 vs 600/2 = 300: the second wins.
        assert_eq!(schedule(&[d(1, 2, 2), d(2, 0, 600)]), Some(1));
        // 514/1 vs 1100/2 = 550: the first stays.
        assert_eq!(schedule(&[d(1, 2, 2), d(2, 0, 1100)]), Some(0));
    }

    #[test]
    fn ties_go_to_the_first_in_list() {
        // 256/1 == 512/2 == 768/3.
        assert_eq!(schedule(&[d(1, 1, 0), d(2, 2, 0), d(3, 3, 0)]), Some(0));
        assert_eq!(schedule(&[d(2, 0, 0), d(1, 0, 0)]), Some(0));
    }

    #[test]
    fn seed_skips_weight_zero_later_ones_only_overloaded() {
        let mut v = [d(0, 0, 0), d(1, 5, 5), d(0, 0, 0), d(1, 0, 0)];
        assert_eq!(schedule(&v), Some(3));
        v[3].overloaded = true;
        // Weight-0 index 2: 1285 * 0 > 0 * 1 is false: not taken.
        assert_eq!(schedule(&v), Some(1));
        v[1].overloaded = true;
        assert_eq!(schedule(&v), None);
        assert_eq!(schedule::<DestInfo>(&[]), None);
    }

    #[test]
    fn weight_zero_wins_against_negative_overhead() {
        // Negative overheads (wrapped counters) make a weight-0 destination win:
        // loh * 0 = 0 > doh * lw = -512.
        let seed = d(1, -1, 0); // overhead -256
        let zero = d(0, -2, 0); // overhead -512: (-256)*0 > (-512)*1
        assert_eq!(schedule(&[seed, zero]), Some(1));
    }

    #[test]
    fn products_do_not_overflow() {
        let big = d(i32::MAX, 1 << 22, i32::MAX - (1 << 30));
        assert_eq!(schedule(&[big, d(i32::MAX, 0, 0)]), Some(1));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn dest() -> impl Strategy<Value = DestInfo> {
            (0i32..6, 0i32..50, 0i32..500, proptest::bool::weighted(0.2)).prop_map(
                |(w, a, extra, o)| DestInfo {
                    overloaded: o,
                    ..d(w, a, a + extra)
                },
            )
        }

        proptest! {
            #[test]
            fn picks_first_minimum_ratio(v in proptest::collection::vec(dest(), 0..10)) {
                // Reference: among eligible (not overloaded, weight > 0) the smallest
                // overhead/weight as an exact fraction, first wins ties.
                let eligible: Vec<(usize, i64, i64)> = v.iter().enumerate()
                    .filter(|(_, x)| !x.overloaded && x.weight > 0)
                    .map(|(i, x)| (i, i64::from(x.active_conns) * 256 + i64::from(x.total_conns), i64::from(x.weight)))
                    .collect();
                let mut want: Option<(usize, i64, i64)> = None;
                for &(i, oh, w) in &eligible {
                    match want {
                        Some((_, boh, bw)) if oh * bw >= boh * w => {}
                        _ => want = Some((i, oh, w)),
                    }
                }
                prop_assert_eq!(schedule(&v), want.map(|(i, _, _)| i));
            }
        }
    }
}
