//! Weighted round-robin scheduling (`wrr`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_wrr.c`.
//!
//! The walk goes through the list in passes with a falling "current weight" `cw`: a pass
//! takes every destination (not overloaded) whose weight is at least `cw`, then `cw` drops by
//! `di`, the GCD of the positive weights. Passes start at `mw` = max weight − (di − 1) so the
//! last pass of a cycle runs at `cw` = 1 and also catches a destination whose weight fell
//! below `di` while the state was stale. Over one full cycle a destination of weight `w` is
//! chosen `w / di` times. The state is `struct ip_vs_wrr_mark`; any change to the destination
//! set or to a weight re-derives `di` and `mw`, rewinds the position to the list head and
//! clamps `cw` (`ip_vs_wrr_dest_changed()`).

use super::{gcd_of_positive, indexed, Dest};

/// Per-service state of `wrr`: `struct ip_vs_wrr_mark`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightedRoundRobin {
    /// `cl`: index of the current destination; `None` is the list head.
    cl: Option<usize>,
    /// `cw`: current weight.
    cw: i32,
    /// `mw`: maximum weight, less `di - 1`.
    mw: i32,
    /// `di`: decreasing interval, the GCD of the positive weights (1 if none).
    di: i32,
}

/// `ip_vs_wrr_gcd_weight()`: GCD of the positive weights, 1 if there are none.
#[inline]
fn gcd_weight<D: Dest>(dests: &[D]) -> i32 {
    match gcd_of_positive(dests.iter().map(Dest::weight)) {
        0 => 1,
        g => g,
    }
}

/// `ip_vs_wrr_max_weight()`: the largest weight, at least 0.
#[inline]
fn max_weight<D: Dest>(dests: &[D]) -> i32 {
    dests.iter().map(Dest::weight).fold(0, i32::max)
}

impl WeightedRoundRobin {
    /// State for a service bound to `wrr` with these destinations (`ip_vs_wrr_init_svc()`).
    pub fn new<D: Dest>(dests: &[D]) -> Self {
        let di = gcd_weight(dests);
        // di divides the largest positive weight, so this never goes below 0.
        let mw = max_weight(dests).wrapping_sub(di - 1);
        WeightedRoundRobin {
            cl: None,
            cw: mw,
            mw,
            di,
        }
    }

    /// A destination was added, removed or edited (`ip_vs_wrr_dest_changed()`, the C
    /// `add_dest`, `del_dest` and `upd_dest` hook): pass the destinations as they are now.
    pub fn dests_changed<D: Dest>(&mut self, dests: &[D]) {
        self.cl = None;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests).wrapping_sub(self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            // Round cw down onto the new grid of pass weights (1, 1 + di, 1 + 2 di, ...).
            self.cw = (self.cw / self.di).wrapping_mul(self.di).wrapping_add(1);
        }
    }

    /// `cl`: index of the destination chosen last, `None` at the list head.
    #[inline]
    pub const fn position(&self) -> Option<usize> {
        self.cl
    }

    /// `cw`: the weight the current pass requires.
    #[inline]
    pub const fn current_weight(&self) -> i32 {
        self.cw
    }

    /// `mw`: the weight of the first pass of a cycle.
    #[inline]
    pub const fn max_weight(&self) -> i32 {
        self.mw
    }

    /// `di`: how much `cw` drops per pass.
    #[inline]
    pub const fn step(&self) -> i32 {
        self.di
    }

    /// `ip_vs_wrr_schedule()`: the next destination, or `None` if all weights are 0 or every
    /// destination with a weight is overloaded.
    ///
    /// Cost: one call may run through up to `2 * mw / di` passes of the list when most
    /// destinations are overloaded, exactly as C does.
    pub fn schedule<D: Dest>(&mut self, dests: &[D]) -> Option<usize> {
        // No available dests?
        if self.mw == 0 {
            return None;
        }
        let last = self.cl;
        let mut stop = None;
        let mut last_pass = false;
        let mut restarted = false;
        // The first pass continues after `last`; later passes start at the first entry.
        let mut from = last.map_or(0, |l| l.saturating_add(1));
        loop {
            for (i, d) in indexed(dests, from) {
                if !d.overloaded() && d.weight() >= self.cw {
                    self.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = Some(i);
                    return None;
                }
            }
            from = 0;
            self.cw = self.cw.wrapping_sub(self.di);
            if self.cw <= 0 {
                self.cw = self.mw;
                // Stop if the last pass (cw <= di, i.e. weight >= 1) already covered every
                // destination: either this call ran it from the head, or it was its second
                // traversal.
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                // The first traversal at weight >= 1 only covered the destinations after
                // `last`: cover the ones up to and including it too, then stop.
                stop = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::DestInfo;
    use super::*;
    use std::vec::Vec;

    fn dests(weights: &[i32]) -> Vec<DestInfo> {
        super::super::dests_with_weights(weights)
    }

    fn run(s: &mut WeightedRoundRobin, d: &[DestInfo], n: usize) -> Vec<Option<usize>> {
        (0..n).map(|_| s.schedule(d)).collect()
    }

    #[test]
    fn weights_4_3_2_trace() {
        // Hand trace of ip_vs_wrr_schedule(): di = 1, mw = 4.
        //   cw=4: A | cw=3: A B | cw=2: A B C | cw=1: A B C | cw=0 → 4: A ...
        let d = dests(&[4, 3, 2]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!((s.step(), s.max_weight(), s.current_weight()), (1, 4, 4));
        let cycle = [0, 0, 1, 0, 1, 2, 0, 1, 2];
        let got = run(&mut s, &d, 18);
        let want: Vec<_> = cycle.iter().chain(cycle.iter()).map(|&i| Some(i)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn gcd_grid_and_mw_shift() {
        // Weights 6, 4, 2: di = 2, mw = 6 - 1 = 5; passes at cw 5, 3, 1.
        let d = dests(&[6, 4, 2]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!((s.step(), s.max_weight()), (2, 5));
        assert_eq!(run(&mut s, &d, 6), [0, 0, 1, 0, 1, 2].map(Some));
    }

    #[test]
    fn all_zero_weights() {
        let d = dests(&[0, 0]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!((s.step(), s.max_weight()), (1, 0));
        assert_eq!(s.schedule(&d), None);
        let mut s = WeightedRoundRobin::new(&dests(&[]));
        assert_eq!(s.schedule(&dests(&[])), None);
    }

    #[test]
    fn all_overloaded_then_recovery() {
        let mut d = dests(&[2, 1]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!(s.schedule(&d), Some(0));
        d[0].overloaded = true;
        d[1].overloaded = true;
        assert_eq!(s.schedule(&d), None);
        d[1].overloaded = false;
        assert_eq!(run(&mut s, &d, 3), [1, 1, 1].map(Some));
    }

    #[test]
    fn only_last_usable_is_found_on_second_traversal() {
        // last = index 1 (weight 1) with cw = 1: the walk checks index 2, restarts at
        // cw = mw and must come back round to index 1 in its last pass.
        let mut d = dests(&[3, 1, 3]);
        let mut s = WeightedRoundRobin::new(&d);
        // Cycle: cw=3: 0 2 | cw=2: 0 2 | cw=1: 0 1 2
        assert_eq!(run(&mut s, &d, 5), [0, 2, 0, 2, 0].map(Some));
        assert_eq!(s.schedule(&d), Some(1));
        d[0].overloaded = true;
        d[2].overloaded = true;
        assert_eq!(s.schedule(&d), Some(1));
        assert_eq!(s.schedule(&d), Some(1));
    }

    #[test]
    fn dests_changed_rewinds_and_clamps() {
        let mut d = dests(&[4, 3, 2]);
        let mut s = WeightedRoundRobin::new(&d);
        run(&mut s, &d, 3); // cw = 3, cl = 1
        assert_eq!((s.position(), s.current_weight()), (Some(1), 3));
        d[0].weight = 2; // max 3: mw = 3, cw stays 3
        s.dests_changed(&d);
        assert_eq!(
            (s.position(), s.current_weight(), s.max_weight()),
            (None, 3, 3)
        );
        // Weights 8, 4: di = 4, mw = 5; cw 3 is rounded onto the grid: (3/4)*4+1 = 1.
        let d = dests(&[8, 4]);
        s.dests_changed(&d);
        assert_eq!((s.step(), s.max_weight(), s.current_weight()), (4, 5, 1));
        // cw above the new mw is clamped.
        let d = dests(&[1]);
        s.cw = 7;
        s.dests_changed(&d);
        assert_eq!(s.current_weight(), 1);
    }

    #[test]
    fn first_weight_after_empty_service_starts_at_max() {
        // Bound with no destinations: mw = cw = 0. After adding weights 0, 3, 2 the
        // cw == 0 must be reset to the new mw (3), or weight-0 destinations would match.
        let mut s = WeightedRoundRobin::new(&dests(&[]));
        assert_eq!((s.max_weight(), s.current_weight()), (0, 0));
        let d = dests(&[0, 3, 2]);
        s.dests_changed(&d);
        assert_eq!((s.max_weight(), s.current_weight()), (3, 3));
        assert_eq!(run(&mut s, &d, 5), [1, 1, 2, 1, 2].map(Some));
    }

    #[test]
    fn low_weight_after_last_is_found_in_the_last_pass() {
        // [A=2, B=1]: A at cw 2; with A overloaded the weight >= 1 pass must reach B.
        let mut d = dests(&[2, 1]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!(s.schedule(&d), Some(0));
        d[0].overloaded = true;
        assert_eq!(s.schedule(&d), Some(1));
    }

    #[test]
    fn failing_at_stop_keeps_the_position() {
        // [A=1, B=1, C=2], di 1, mw 2. Cycle: C (cw 2) | A B C (cw 1). After C, A, B:
        // cl = B, cw = 1. With A and C overloaded: C fails at cw 1, cw drops to 0 and
        // restarts at 2 (nothing), then cw 1 is the last pass with stop = B.
        let mut d = dests(&[1, 1, 2]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!(run(&mut s, &d, 3), [2, 0, 1].map(Some));
        d[0].overloaded = true;
        d[2].overloaded = true;
        // B, the last chosen, is checked before the stop test: taken again.
        assert_eq!(s.schedule(&d), Some(1));
        d[1].overloaded = true;
        // Nothing usable: the walk gives up at the stop (B) and stays there.
        assert_eq!(s.schedule(&d), None);
        assert_eq!(s.position(), Some(1));
        assert_eq!(s.current_weight(), 1);
    }

    #[test]
    fn stale_position_terminates() {
        let d = dests(&[2, 1]);
        let mut s = WeightedRoundRobin::new(&d);
        s.cl = Some(usize::MAX);
        assert!(s.schedule(&d).is_some());
        s.cl = Some(17);
        let mut all_over = d.clone();
        all_over.iter_mut().for_each(|x| x.overloaded = true);
        assert_eq!(s.schedule(&all_over), None);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Reference: the classic interleaved-WRR cycle, straight from the description at
        /// the top of ip_vs_wrr.c: for cw = mw, mw - di, ..., > 0, every destination with
        /// weight >= cw in list order.
        fn reference_cycle(w: &[i32]) -> Vec<usize> {
            let pos: Vec<i32> = w.iter().copied().filter(|&x| x > 0).collect();
            let mut di = 0;
            for &x in &pos {
                let (mut a, mut b) = (x, di);
                while b != 0 {
                    let t = a % b;
                    a = b;
                    b = t;
                }
                di = a;
            }
            let mut out = Vec::new();
            if pos.is_empty() {
                return out;
            }
            let maxw = *pos.iter().max().unwrap();
            let mut cw = maxw - (di - 1);
            while cw > 0 {
                out.extend((0..w.len()).filter(|&i| w[i] >= cw));
                cw -= di;
            }
            out
        }

        /// `ip_vs_wrr_schedule()` transcribed onto a circular list with an explicit head
        /// node (position `n`), walking `next` pointers as the C does, for comparison with
        /// the index-based implementation.
        #[derive(Debug, Clone, Copy, PartialEq)]
        struct CMark {
            cl: usize,
            cw: i32,
            mw: i32,
            di: i32,
        }

        fn c_gcd_max(d: &[DestInfo]) -> (i32, i32) {
            let mut g = 0;
            let mut m = 0;
            for x in d {
                if x.weight > 0 {
                    g = if g > 0 {
                        let (mut a, mut b) = (x.weight, g);
                        while b != 0 {
                            let t = a % b;
                            a = b;
                            b = t;
                        }
                        a
                    } else {
                        x.weight
                    };
                }
                m = m.max(x.weight);
            }
            (if g != 0 { g } else { 1 }, m)
        }

        fn c_init(d: &[DestInfo]) -> CMark {
            let (di, m) = c_gcd_max(d);
            CMark {
                cl: d.len(),
                cw: m - (di - 1),
                mw: m - (di - 1),
                di,
            }
        }

        fn c_changed(mark: &mut CMark, d: &[DestInfo]) {
            let (di, m) = c_gcd_max(d);
            mark.cl = d.len();
            mark.di = di;
            mark.mw = m - (di - 1);
            if mark.cw > mark.mw || mark.cw == 0 {
                mark.cw = mark.mw;
            } else if mark.di > 1 {
                mark.cw = (mark.cw / mark.di) * mark.di + 1;
            }
        }

        fn c_schedule(mark: &mut CMark, d: &[DestInfo]) -> Option<usize> {
            let head = d.len();
            let next = |p: usize| if p == head { 0 } else { p + 1 };
            let mut dest = mark.cl;
            if mark.mw == 0 {
                return None;
            }
            let last = dest;
            let mut stop = None;
            let (mut last_pass, mut restarted) = (false, false);
            loop {
                dest = next(dest);
                while dest != head {
                    if !d[dest].overloaded && d[dest].weight >= mark.cw {
                        mark.cl = dest;
                        return Some(dest);
                    }
                    if Some(dest) == stop {
                        mark.cl = dest;
                        return None;
                    }
                    dest = next(dest);
                }
                mark.cw -= mark.di;
                if mark.cw <= 0 {
                    mark.cw = mark.mw;
                    if last_pass || last == head {
                        mark.cl = dest;
                        return None;
                    }
                    restarted = true;
                }
                last_pass = mark.cw <= mark.di;
                if last_pass && restarted && last != head {
                    stop = Some(last);
                }
            }
        }

        #[derive(Debug, Clone)]
        enum Op {
            Schedule,
            Overload(usize, bool),
            Weight(usize, i32),
            Add(i32),
            Remove(usize),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                8 => Just(Op::Schedule),
                3 => (0usize..8, any::<bool>()).prop_map(|(i, o)| Op::Overload(i, o)),
                1 => (0usize..8, 0i32..9).prop_map(|(i, w)| Op::Weight(i, w)),
                1 => (0i32..9).prop_map(Op::Add),
                1 => (0usize..8).prop_map(Op::Remove),
            ]
        }

        fn weights() -> impl Strategy<Value = Vec<i32>> {
            proptest::collection::vec(
                prop_oneof![Just(0), 1i32..10, (1i32..6).prop_map(|x| x * 12)],
                0..8,
            )
        }

        proptest! {
            #[test]
            fn full_cycle_proportions_are_exact(w in weights()) {
                let d = dests(&w);
                let mut s = WeightedRoundRobin::new(&d);
                let di = s.step();
                let cycle_len: i32 = w.iter().filter(|&&x| x > 0).map(|&x| x / di).sum();
                let mut counts = std::vec![0i32; w.len()];
                for _ in 0..cycle_len {
                    counts[s.schedule(&d).unwrap()] += 1;
                }
                let total: i32 = w.iter().filter(|&&x| x > 0).sum();
                for (i, &x) in w.iter().enumerate() {
                    // counts[i] / cycle_len == w[i] / total, exactly, cross-multiplied.
                    prop_assert_eq!(counts[i] * total, x.max(0) * cycle_len);
                }
                if cycle_len == 0 {
                    prop_assert_eq!(s.schedule(&d), None);
                }
            }

            #[test]
            fn sequence_matches_reference(w in weights()) {
                let d = dests(&w);
                let mut s = WeightedRoundRobin::new(&d);
                let cycle = reference_cycle(&w);
                for round in 0..3 {
                    for (k, &want) in cycle.iter().enumerate() {
                        prop_assert_eq!(s.schedule(&d), Some(want), "round {} step {}", round, k);
                    }
                }
            }

            #[test]
            fn matches_c_list_transcription(w in proptest::collection::vec(0i32..9, 0..6), ops in proptest::collection::vec(op(), 1..120)) {
                let mut d = dests(&w);
                let mut s = WeightedRoundRobin::new(&d);
                let mut c = c_init(&d);
                for op in ops {
                    match op {
                        Op::Schedule => prop_assert_eq!(s.schedule(&d), c_schedule(&mut c, &d)),
                        Op::Overload(i, o) => if let Some(x) = d.get_mut(i) { x.overloaded = o },
                        Op::Weight(i, w) => if i < d.len() {
                            d[i].weight = w;
                            s.dests_changed(&d);
                            c_changed(&mut c, &d);
                        },
                        Op::Add(w) => {
                            d.insert(0, DestInfo { weight: w, last_weight: w, ..DestInfo::default() });
                            s.dests_changed(&d);
                            c_changed(&mut c, &d);
                        }
                        Op::Remove(i) => if i < d.len() {
                            d.remove(i);
                            s.dests_changed(&d);
                            c_changed(&mut c, &d);
                        },
                    }
                    let head = d.len();
                    let c_state = (if c.cl == head { None } else { Some(c.cl) }, c.cw, c.mw, c.di);
                    prop_assert_eq!((s.position(), s.current_weight(), s.max_weight(), s.step()), c_state);
                }
            }

            #[test]
            fn never_picks_overloaded_or_underweight(
                w in weights(), over in proptest::collection::vec(any::<bool>(), 8), steps in 1usize..60
            ) {
                let mut d = dests(&w);
                for (x, &o) in d.iter_mut().zip(&over) {
                    x.overloaded = o;
                }
                let mut s = WeightedRoundRobin::new(&d);
                let any_usable = d.iter().any(|x| !x.overloaded && x.weight > 0);
                for _ in 0..steps {
                    match s.schedule(&d) {
                        Some(i) => prop_assert!(!d[i].overloaded && d[i].weight > 0),
                        None => prop_assert!(!any_usable),
                    }
                }
            }
        }
    }
}
