//! Never-queue scheduling (`nq`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_nq.c`.
//!
//! The first idle destination (no active connection) in list order is taken at once;
//! otherwise the one with the smallest `(active + 1) / weight`, as [`super::sed`]. Overloaded
//! destinations and those of weight exactly 0 are skipped (C tests `!weight`, so a negative
//! weight takes part). Stateless.

use super::{indexed, Dest};

/// `ip_vs_nq_schedule()`: index of the chosen destination, or `None` if every destination is
/// overloaded or has weight 0.
pub fn schedule<D: Dest>(dests: &[D]) -> Option<usize> {
    let mut least: Option<(usize, i32, i32)> = None;
    for (i, d) in indexed(dests, 0) {
        if d.overloaded() || d.weight() == 0 {
            continue;
        }
        let doh = d.active_conns().wrapping_add(1);
        // Return the server directly if it is idle.
        if d.active_conns() == 0 {
            return Some(i);
        }
        let dw = d.weight();
        match least {
            Some((_, lw, loh))
                if i64::from(loh) * i64::from(dw) <= i64::from(doh) * i64::from(lw) => {}
            _ => least = Some((i, dw, doh)),
        }
    }
    least.map(|(i, _, _)| i)
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
    fn idle_first_then_expected_delay() {
        assert_eq!(schedule(&[d(5, 1), d(1, 0), d(1, 0)]), Some(1));
        assert_eq!(schedule(&[d(1, 1), d(3, 3)]), Some(1));
        assert_eq!(schedule(&[d(1, 1), d(1, 1)]), Some(0));
    }

    #[test]
    fn skips_weight_zero_and_overloaded_not_negative() {
        let mut v = [d(0, 0), d(-1, 2), d(2, 1)];
        // -1 takes part: seed (3, -1); 3*2 > 2*(-1): index 2 wins.
        assert_eq!(schedule(&v), Some(2));
        v[2].overloaded = true;
        assert_eq!(schedule(&v), Some(1));
        v[1].overloaded = true;
        assert_eq!(schedule(&v), None);
    }
}
