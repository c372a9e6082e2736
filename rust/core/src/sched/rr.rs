//! Round-robin scheduling (`rr`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_rr.c`.
//!
//! C keeps in `svc->sched_data` the list position of the destination chosen last (initially
//! the list head). A schedule walks the circular list from the entry after it, skipping the
//! head, and takes the first destination that is neither overloaded nor of weight <= 0; it
//! gives up after checking the last-chosen destination itself, so one call looks at every
//! destination exactly once. Deleting the last-chosen destination moves the position to its
//! predecessor (`ip_vs_rr_del_dest()`), so the walk continues where it would have.

use super::{usable, Dest};

/// Per-service state of `rr`: what C keeps in `svc->sched_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoundRobin {
    /// Index of the destination chosen last; `None` is the list head.
    last: Option<usize>,
}

impl RoundRobin {
    /// State of a newly bound service (`ip_vs_rr_init_svc()`): positioned at the list head,
    /// so the first schedule starts at the first destination.
    #[inline]
    pub const fn new() -> Self {
        RoundRobin { last: None }
    }

    /// The destination chosen last, `None` before the first choice (the list head).
    #[inline]
    pub const fn last(&self) -> Option<usize> {
        self.last
    }

    /// `ip_vs_rr_schedule()`: the next destination after the last chosen one that is not
    /// overloaded and has weight > 0, or `None` (then the position does not move).
    pub fn schedule<D: Dest>(&mut self, dests: &[D]) -> Option<usize> {
        let n = dests.len();
        if n == 0 {
            return None;
        }
        // A stale position (the caller did not report a removal) still yields one full,
        // in-bounds round: start from the first destination.
        let first = match self.last {
            Some(last) if last < n => last + 1,
            _ => 0,
        };
        let found = (first..n)
            .chain(0..first)
            .find(|&i| dests.get(i).is_some_and(usable));
        if found.is_some() {
            self.last = found;
        }
        found
    }

    /// A destination was inserted at `index` (C inserts at the head: index 0). No C hook
    /// exists because C's position is a pointer; here the index of the last-chosen
    /// destination moves with it.
    #[inline]
    pub fn dest_added(&mut self, index: usize) {
        if let Some(last) = self.last {
            if index <= last {
                self.last = Some(last.saturating_add(1));
            }
        }
    }

    /// The destination at `index` was removed (`ip_vs_rr_del_dest()`): if it was the last
    /// chosen, the position becomes its predecessor (or the list head); indices after it
    /// shift down.
    #[inline]
    pub fn dest_removed(&mut self, index: usize) {
        if let Some(last) = self.last {
            if index <= last {
                self.last = last.checked_sub(1);
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

    fn run(rr: &mut RoundRobin, d: &[DestInfo], n: usize) -> Vec<Option<usize>> {
        (0..n).map(|_| rr.schedule(d)).collect()
    }

    #[test]
    fn cycles_in_list_order() {
        let d = dests(&[1, 1, 1]);
        let mut rr = RoundRobin::new();
        assert_eq!(run(&mut rr, &d, 7), [0, 1, 2, 0, 1, 2, 0].map(Some));
    }

    #[test]
    fn skips_weight_zero_negative_and_overloaded() {
        let mut d = dests(&[1, 0, 5, -1, 2]);
        d[4].overloaded = true;
        let mut rr = RoundRobin::new();
        assert_eq!(run(&mut rr, &d, 4), [0, 2, 0, 2].map(Some));
        d[4].overloaded = false;
        assert_eq!(run(&mut rr, &d, 3), [4, 0, 2].map(Some));
    }

    #[test]
    fn nothing_available_keeps_position() {
        let mut d = dests(&[1, 1, 1]);
        let mut rr = RoundRobin::new();
        assert_eq!(rr.schedule(&d), Some(0));
        for x in d.iter_mut() {
            x.overloaded = true;
        }
        assert_eq!(rr.schedule(&d), None);
        assert_eq!(rr.last(), Some(0));
        d[0].overloaded = false;
        // Only the last-chosen one is usable: it is checked last and taken again.
        assert_eq!(rr.schedule(&d), Some(0));
        assert_eq!(rr.schedule(&dests(&[])), None);
    }

    #[test]
    fn removal_of_last_chosen_continues_with_its_successor() {
        // C: last = B in A B C D; delete B → position = A; next is C.
        let mut d = dests(&[1, 1, 1, 1]);
        let mut rr = RoundRobin::new();
        assert_eq!(run(&mut rr, &d, 2), [Some(0), Some(1)]);
        d.remove(1);
        rr.dest_removed(1);
        assert_eq!(rr.last(), Some(0));
        assert_eq!(rr.schedule(&d), Some(1)); // C, now at index 1
                                              // Deleting the first destination while it is the last chosen: back to the head.
        let mut rr = RoundRobin::new();
        assert_eq!(rr.schedule(&d), Some(0));
        d.remove(0);
        rr.dest_removed(0);
        assert_eq!(rr.last(), None);
        assert_eq!(rr.schedule(&d), Some(0));
        // Deleting before the position shifts it; after it leaves it alone.
        let mut d = dests(&[1, 1, 1, 1]);
        let mut rr = RoundRobin::new();
        run(&mut rr, &d, 3);
        d.remove(3);
        rr.dest_removed(3);
        assert_eq!(rr.last(), Some(2));
        d.remove(0);
        rr.dest_removed(0);
        assert_eq!(rr.last(), Some(1));
        assert_eq!(rr.schedule(&d), Some(0));
    }

    #[test]
    fn insertion_at_head_keeps_following_the_same_destination() {
        let mut d = dests(&[1, 1, 1]);
        let mut rr = RoundRobin::new();
        assert_eq!(run(&mut rr, &d, 2), [Some(0), Some(1)]);
        d.insert(
            0,
            DestInfo {
                weight: 1,
                ..DestInfo::default()
            },
        );
        rr.dest_added(0);
        assert_eq!(rr.last(), Some(2));
        // C order: new, A, B, C with last = B: C, then the new one, then A.
        assert_eq!(run(&mut rr, &d, 3), [3, 0, 1].map(Some));
    }

    #[test]
    fn stale_position_does_not_panic() {
        let d = dests(&[1, 1]);
        let mut rr = RoundRobin {
            last: Some(usize::MAX),
        };
        assert_eq!(rr.schedule(&d), Some(0));
        let mut rr = RoundRobin {
            last: Some(usize::MAX),
        };
        rr.dest_added(0);
        rr.dest_removed(usize::MAX);
        assert_eq!(rr.last(), Some(usize::MAX - 1));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use std::vec;

        fn dest_strategy() -> impl Strategy<Value = DestInfo> {
            (-2i32..6, any::<bool>()).prop_map(|(w, o)| DestInfo {
                weight: w,
                overloaded: o,
                ..DestInfo::default()
            })
        }

        /// Reference: the next usable index after `last`, cyclically, written from the C
        /// comment ("the first available after the last selected").
        fn reference(d: &[DestInfo], last: Option<usize>) -> Option<usize> {
            let n = d.len();
            let start = last.map_or(0, |l| l + 1);
            (0..n)
                .map(|k| (start + k) % n)
                .find(|&i| d[i].weight > 0 && !d[i].overloaded)
        }

        /// `ip_vs_rr_schedule()` and `ip_vs_rr_del_dest()` transcribed onto a doubly linked
        /// circular list with an explicit head (node 0) and stable node ids, as C walks it.
        struct CList {
            next: Vec<usize>,
            prev: Vec<usize>,
            weight: Vec<i32>,
            over: Vec<bool>,
            sched_data: usize,
        }

        impl CList {
            fn new() -> Self {
                CList {
                    next: vec![0],
                    prev: vec![0],
                    weight: vec![0],
                    over: vec![false],
                    sched_data: 0,
                }
            }
            /// list_add_rcu(new, head): returns the node id.
            fn add(&mut self, w: i32) -> usize {
                let id = self.next.len();
                let first = self.next[0];
                self.next.push(first);
                self.prev.push(0);
                self.weight.push(w);
                self.over.push(false);
                self.prev[first] = id;
                self.next[0] = id;
                id
            }
            /// list_del_rcu() (keeps `next`, poisons `prev`), then ip_vs_rr_del_dest().
            fn del(&mut self, id: usize) {
                let (n, p) = (self.next[id], self.prev[id]);
                self.prev[n] = p;
                self.next[p] = n;
                self.prev[id] = usize::MAX;
                if self.sched_data == id {
                    self.sched_data = self.prev[self.next[id]];
                }
            }
            fn order(&self) -> Vec<usize> {
                let mut v = Vec::new();
                let mut p = self.next[0];
                while p != 0 {
                    v.push(p);
                    p = self.next[p];
                }
                v
            }
            fn schedule(&mut self) -> Option<usize> {
                let p = self.sched_data;
                let last = p;
                let mut dest = p;
                let mut pass = 0;
                loop {
                    dest = self.next[dest];
                    while dest != 0 {
                        if !self.over[dest] && self.weight[dest] > 0 {
                            self.sched_data = dest;
                            return Some(dest);
                        }
                        if dest == last {
                            return None;
                        }
                        dest = self.next[dest];
                    }
                    pass += 1;
                    if !(pass < 2 && p != 0) {
                        return None;
                    }
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
                1 => (0usize..8, 0i32..3).prop_map(|(i, w)| Op::Weight(i, w)),
                2 => (0i32..3).prop_map(Op::Add),
                2 => (0usize..8).prop_map(Op::Remove),
            ]
        }

        proptest! {
            #[test]
            fn each_usable_dest_once_per_round(d in proptest::collection::vec(dest_strategy(), 0..12), warmup in 0usize..20) {
                let mut rr = RoundRobin::new();
                for _ in 0..warmup {
                    rr.schedule(&d);
                }
                let usable: Vec<usize> = (0..d.len()).filter(|&i| d[i].weight > 0 && !d[i].overloaded).collect();
                let mut seen: Vec<usize> = (0..usable.len()).map(|_| rr.schedule(&d).unwrap()).collect();
                seen.sort_unstable();
                prop_assert_eq!(seen, usable.clone());
                if usable.is_empty() {
                    prop_assert_eq!(rr.schedule(&d), None);
                }
            }

            #[test]
            fn matches_c_list_transcription(ops in proptest::collection::vec(op(), 1..150)) {
                let mut c = CList::new();
                let mut d: Vec<DestInfo> = Vec::new();
                let mut rr = RoundRobin::new();
                for op in ops {
                    let order = c.order();
                    match op {
                        Op::Schedule => {
                            let want = c.schedule().map(|id| c.order().iter().position(|&x| x == id).unwrap());
                            prop_assert_eq!(rr.schedule(&d), want);
                        }
                        Op::Overload(i, o) => if i < d.len() {
                            d[i].overloaded = o;
                            c.over[order[i]] = o;
                        },
                        Op::Weight(i, w) => if i < d.len() {
                            d[i].weight = w;
                            c.weight[order[i]] = w;
                        },
                        Op::Add(w) => {
                            c.add(w);
                            d.insert(0, DestInfo { weight: w, last_weight: w, ..DestInfo::default() });
                            rr.dest_added(0);
                        }
                        Op::Remove(i) => if i < d.len() {
                            c.del(order[i]);
                            d.remove(i);
                            rr.dest_removed(i);
                        },
                    }
                    let pos = c.order().iter().position(|&x| x == c.sched_data);
                    prop_assert_eq!(rr.last(), pos);
                }
            }

            #[test]
            fn matches_reference(d in proptest::collection::vec(dest_strategy(), 0..12), steps in 1usize..40) {
                let mut rr = RoundRobin::new();
                let mut last = None;
                for _ in 0..steps {
                    let want = reference(&d, last);
                    prop_assert_eq!(rr.schedule(&d), want);
                    if want.is_some() {
                        last = want;
                    }
                }
            }
        }
    }
}
