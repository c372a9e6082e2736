//! Weighted fail-over scheduling (`fo`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_fo.c`.
//!
//! Every new connection goes to the not-overloaded destination of the highest weight (> 0),
//! the first in list order among equals. Stateless.

use super::{indexed, Dest};

/// `ip_vs_fo_schedule()`: index of the destination with the highest weight, or `None` if no
/// destination is both not overloaded and of positive weight.
pub fn schedule<D: Dest>(dests: &[D]) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut hw = 0;
    for (i, d) in indexed(dests, 0) {
        if !d.overloaded() && d.weight() > hw {
            best = Some(i);
            hw = d.weight();
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::super::dests_with_weights;
    use super::*;

    #[test]
    fn highest_weight_first_wins_ties() {
        assert_eq!(schedule(&dests_with_weights(&[1, 3, 2, 3])), Some(1));
        let mut v = dests_with_weights(&[1, 3, 2, 3]);
        v[1].overloaded = true;
        assert_eq!(schedule(&v), Some(3));
        assert_eq!(schedule(&dests_with_weights(&[0, -1])), None);
    }
}
