//! Shortest-expected-delay scheduling (`sed`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_sed.c`.
//!
//! Like [`super::wlc`], but the overhead is `activeconns + 1` (the delay a new connection
//! expects), not active × 256 + total: the destination with the smallest
//! `(active + 1) / weight` wins, compared as `loh * dw > doh * lw` in 64-bit arithmetic. The
//! first destination that is not overloaded and has weight > 0 seeds the search; after it
//! only overloaded destinations are skipped; ties go to the first in list order. Stateless.

use super::{indexed, usable, Dest};

/// `ip_vs_sed_dest_overhead()`: `activeconns + 1` in `int` (wrapping, as the kernel's C).
#[inline]
fn overhead<D: Dest>(d: &D) -> i32 {
    d.active_conns().wrapping_add(1)
}

/// `ip_vs_sed_schedule()`: index of the destination with the shortest expected delay, or
/// `None` if no destination is both not overloaded and of positive weight.
pub fn schedule<D: Dest>(dests: &[D]) -> Option<usize> {
    let mut rest = indexed(dests, 0);
    let (mut least, mut lw, mut loh) = loop {
        let (i, d) = rest.next()?;
        if usable(d) {
            break (i, d.weight(), overhead(d));
        }
    };
    for (i, d) in rest {
        if d.overloaded() {
            continue;
        }
        // As in C, a later weight of 0 or below is not skipped (it can win only against a
        // negative, wrapped, overhead).
        let (dw, doh) = (d.weight(), overhead(d));
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

    fn d(weight: i32, active: i32) -> DestInfo {
        DestInfo {
            weight,
            last_weight: weight,
            active_conns: active,
            total_conns: active,
            ..DestInfo::default()
        }
    }

    #[test]
    fn expected_delay() {
        // (1+1)/1 = 2 vs (3+1)/3 = 1.33: the second.
        assert_eq!(schedule(&[d(1, 1), d(3, 3)]), Some(1));
        // (0+1)/1 = 1 vs (2+1)/3 = 1: tie, the first.
        assert_eq!(schedule(&[d(1, 0), d(3, 2)]), Some(0));
        // Inactive connections do not count.
        let mut busy = d(1, 0);
        busy.total_conns = 1000;
        assert_eq!(schedule(&[d(1, 1), busy]), Some(1));
    }

    #[test]
    fn seed_skips_weight_zero_and_overloaded() {
        let mut v = [d(0, 0), d(1, 5), d(2, 0)];
        assert_eq!(schedule(&v), Some(2));
        v[2].overloaded = true;
        assert_eq!(schedule(&v), Some(1));
        v[1].overloaded = true;
        assert_eq!(schedule(&v), None);
        assert_eq!(schedule::<DestInfo>(&[]), None);
    }
}
