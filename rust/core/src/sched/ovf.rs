//! Overflow-connection scheduling (`ovf`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_ovf.c`.
//!
//! The destination of the highest weight whose active connections do not exceed its weight
//! gets the connection; when it is full (active > weight) the next highest takes over.
//! Overloaded destinations and those of weight exactly 0 are skipped; a negative weight
//! takes part (it is never above an active count of 0 or more, unless the count wrapped).
//! Among equal weights the first in list order wins. Stateless.

use super::{indexed, Dest};

/// `ip_vs_ovf_schedule()`: index of the chosen destination, or `None`.
pub fn schedule<D: Dest>(dests: &[D]) -> Option<usize> {
    let mut best: Option<(usize, i32)> = None;
    for (i, d) in indexed(dests, 0) {
        let w = d.weight();
        if d.overloaded() || d.active_conns() > w || w == 0 {
            continue;
        }
        match best {
            Some((_, hw)) if w <= hw => {}
            _ => best = Some((i, w)),
        }
    }
    best.map(|(i, _)| i)
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
            ..DestInfo::default()
        }
    }

    #[test]
    fn overflows_to_the_next_weight() {
        assert_eq!(schedule(&[d(2, 0), d(5, 5), d(5, 0)]), Some(1));
        assert_eq!(schedule(&[d(2, 0), d(5, 6), d(5, 0)]), Some(2));
        assert_eq!(schedule(&[d(2, 0), d(5, 6), d(5, 6)]), Some(0));
        assert_eq!(schedule(&[d(2, 3), d(0, 0)]), None);
        // A negative weight can only take part against a wrapped (negative) count.
        assert_eq!(schedule(&[d(-1, -5)]), Some(0));
    }
}
