//! Least-connection scheduling (`lc`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_lc.c`.
//!
//! Picks the destination with the smallest connection overhead
//! (`ip_vs_dest_conn_overhead()`: active × 256 + total), skipping overloaded destinations and
//! those of weight exactly 0; the first one in list order wins ties. Stateless. C compares
//! the overheads as `unsigned int`, so a wrapped (negative) overhead counts as huge.

use super::{conn_overhead, indexed, Dest};

/// `ip_vs_lc_schedule()`: index of the least loaded destination, or `None` if every
/// destination is overloaded or has weight 0.
pub fn schedule<D: Dest>(dests: &[D]) -> Option<usize> {
    let mut least: Option<(usize, u32)> = None;
    for (i, d) in indexed(dests, 0) {
        // Only weight 0 quiesces here: C tests `== 0`, not `<= 0`.
        if d.overloaded() || d.weight() == 0 {
            continue;
        }
        // The C `int` result stored in an `unsigned int`: same bits.
        let doh = conn_overhead(d) as u32;
        match least {
            Some((_, loh)) if doh >= loh => {}
            _ => least = Some((i, doh)),
        }
    }
    least.map(|(i, _)| i)
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
    fn picks_least_overhead() {
        // Overheads 2*256+2 = 514, 1*256+300 = 556, 0*256+600 = 600.
        assert_eq!(schedule(&[d(1, 2, 2), d(1, 1, 300), d(1, 0, 600)]), Some(0));
        assert_eq!(schedule(&[d(1, 2, 2), d(1, 1, 200), d(1, 0, 600)]), Some(1));
        // Weight does not matter beyond 0 / not 0.
        assert_eq!(schedule(&[d(100, 1, 1), d(1, 0, 1)]), Some(1));
    }

    #[test]
    fn ties_go_to_the_first_in_list() {
        assert_eq!(schedule(&[d(1, 1, 5), d(3, 1, 5), d(2, 1, 5)]), Some(0));
        assert_eq!(schedule(&[d(0, 0, 0), d(3, 1, 5), d(2, 1, 5)]), Some(1));
    }

    #[test]
    fn skips_quiesced_and_overloaded_but_not_negative_weight() {
        let mut v = [d(0, 0, 0), d(1, 9, 9), d(-1, 1, 1)];
        assert_eq!(schedule(&v), Some(2));
        v[2].overloaded = true;
        assert_eq!(schedule(&v), Some(1));
        v[1].overloaded = true;
        assert_eq!(schedule(&v), None);
        assert_eq!(schedule::<DestInfo>(&[]), None);
    }

    #[test]
    fn wrapped_overhead_compares_unsigned() {
        // 2^23 active connections: (2^23 << 8) wraps to i32::MIN, huge as unsigned.
        assert_eq!(schedule(&[d(1, 1 << 23, 0), d(1, 1000, 0)]), Some(1));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn dest() -> impl Strategy<Value = DestInfo> {
            (0i32..4, 0i32..50, 0i32..500, proptest::bool::weighted(0.2)).prop_map(
                |(w, a, extra, o)| DestInfo {
                    overloaded: o,
                    ..d(w, a, a + extra)
                },
            )
        }

        proptest! {
            #[test]
            fn picks_first_minimum(v in proptest::collection::vec(dest(), 0..10)) {
                // Reference: minimum of active*256+total over the eligible ones, first wins.
                let eligible: Vec<(usize, i64)> = v.iter().enumerate()
                    .filter(|(_, x)| !x.overloaded && x.weight != 0)
                    .map(|(i, x)| (i, i64::from(x.active_conns) * 256 + i64::from(x.total_conns)))
                    .collect();
                let want = eligible.iter().min_by_key(|&&(i, oh)| (oh, i)).map(|&(i, _)| i);
                prop_assert_eq!(schedule(&v), want);
            }
        }
    }
}
