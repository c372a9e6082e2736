//! Power-of-two-choices scheduling (`twos`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_twos.c`.
//!
//! Two destinations are drawn at random, each with probability proportional to its weight
//! (among the not-overloaded destinations of positive weight), and the one with the smaller
//! `overhead / weight` (`ip_vs_dest_conn_overhead()`) wins, the first draw on a tie.
//!
//! Randomness is an input: C calls `get_random_u32_below(total_weight + 1)` twice; here the
//! caller passes `random_below`, which must return a number in `0..bound`, and 0 for a bound
//! of 0 (reachable only if the weights' `int` sum wraps; the kernel's
//! `__get_random_u32_below(0)` returns 0). The module passes `get_random_u32_below`; tests
//! replay recorded values. It is called exactly as
//! often, with exactly the bounds, as C calls `get_random_u32_below()`: twice per decision,
//! none when no destination is usable. Stateless otherwise.

use super::{conn_overhead, indexed, Dest};

/// `ip_vs_twos_schedule()`: the chosen destination, or `None` if no destination is both not
/// overloaded and of positive weight.
pub fn schedule<D: Dest>(dests: &[D], mut random_below: impl FnMut(u32) -> u32) -> Option<usize> {
    // Generate a random weight between [0, sum of all weights).
    let mut total_weight: i32 = 0;
    let mut choice1: Option<usize> = None;
    for (i, d) in indexed(dests, 0) {
        if !d.overloaded() && d.weight() > 0 {
            total_weight = total_weight.wrapping_add(d.weight());
            choice1 = Some(i);
        }
    }
    let mut choice1 = choice1?;
    // Add 1 so that the random weights are inclusive from 0 to total_weight. C passes the
    // int to a u32 parameter and stores the u32 result in an int: same bits both ways.
    total_weight = total_weight.wrapping_add(1);
    let mut rweight1 = random_below(total_weight as u32) as i32;
    let mut rweight2 = random_below(total_weight as u32) as i32;

    let (mut weight1, mut weight2, mut overhead1, mut overhead2) = (-1i32, -1i32, 0i32, 0i32);
    let mut choice2: Option<usize> = None;
    for (i, d) in indexed(dests, 0) {
        let weight = d.weight();
        if d.overloaded() || weight <= 0 {
            continue;
        }
        rweight1 = rweight1.wrapping_sub(weight);
        rweight2 = rweight2.wrapping_sub(weight);
        if rweight1 <= 0 && weight1 == -1 {
            choice1 = i;
            weight1 = weight;
            overhead1 = conn_overhead(d);
        }
        if rweight2 <= 0 && weight2 == -1 {
            choice2 = Some(i);
            weight2 = weight;
            overhead2 = conn_overhead(d);
        }
        if weight1 != -1 && weight2 != -1 {
            break;
        }
    }
    // `int` products, wrapping as the kernel's C does.
    if let Some(c2) = choice2 {
        if weight2.wrapping_mul(overhead1) > weight1.wrapping_mul(overhead2) {
            choice1 = c2;
        }
    }
    Some(choice1)
}

#[cfg(test)]
mod tests {
    use super::super::DestInfo;
    use super::*;
    use std::vec::Vec;

    fn d(weight: i32, active: i32) -> DestInfo {
        DestInfo {
            weight,
            last_weight: weight,
            active_conns: active,
            total_conns: active,
            ..DestInfo::default()
        }
    }

    fn with(values: &[u32]) -> impl FnMut(u32) -> u32 + '_ {
        let mut it = values.iter();
        move |bound| {
            let v = *it.next().expect("more random numbers than C draws");
            assert!(v < bound.max(1));
            v
        }
    }

    #[test]
    fn draws_by_weight_and_keeps_the_lighter() {
        // Weights 1, 3: total 4, draws in 0..5. 0 and 1 land on index 0; 2..=4 on index 1.
        let v = [d(1, 0), d(3, 0)];
        assert_eq!(schedule(&v, with(&[0, 1])), Some(0));
        assert_eq!(schedule(&v, with(&[2, 4])), Some(1));
        // Idle both: a tie keeps the first draw.
        assert_eq!(schedule(&v, with(&[4, 0])), Some(1));
        // Index 1 loaded: 1 * 0 > 3 * 257 is false... the first draw (index 0) is lighter.
        let v = [d(1, 0), d(3, 1)];
        assert_eq!(schedule(&v, with(&[4, 0])), Some(0));
    }

    #[test]
    fn no_random_numbers_without_a_usable_destination() {
        let mut calls = Vec::new();
        let mut v = [d(0, 0), d(2, 0)];
        v[1].overloaded = true;
        assert_eq!(
            schedule(&v, |b| {
                calls.push(b);
                0
            }),
            None
        );
        assert!(calls.is_empty());
        v[1].overloaded = false;
        assert_eq!(
            schedule(&v, |b| {
                calls.push(b);
                0
            }),
            Some(1)
        );
        assert_eq!(calls, [3, 3]);
    }
}
