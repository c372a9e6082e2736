//! Locality-based least-connection scheduling (`lblc`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_lblc.c` (table of 1024 buckets, no Kconfig option;
//! sysctl `net.ipv4.vs.lblc_expiration`, default 24 h).
//!
//! Each packet's *destination* address (`iph->daddr`) is looked up in a per-service table.
//! If its entry's destination is still in the service (`IP_VS_DEST_CF_AVAILABLE`), has
//! weight > 0 and is not "overloaded" in lblc's sense (more active connections than its
//! weight while some destination has less than half its weight active), it is used and the
//! entry's `lastuse` refreshed. Otherwise the destination is chosen as `wlc` would
//! ([`super::wlc::schedule`] is exactly `__ip_vs_lblc_schedule()`) and the entry is
//! replaced (or added, unless the table already holds 1.5 × `max_size` entries).
//!
//! An entry *holds* its destination (`ip_vs_dest_hold()`): a destination deleted from the
//! service stays referenced (in C's trash) and its entries become valid again if it is
//! re-added. Entries therefore keep a [`HoldDest::Held`] handle, not a list index; the
//! module's handle is its shared destination (`Arc`), which keeps the destination in the
//! trash exactly as C's reference does. There are no `add_dest`/`del_dest`/`upd_dest`
//! hooks, as in C.
//!
//! Storage and time: see [`super::locality`]. The caller keeps `heads` (`&mut [u32]` of
//! [`Lblc::table_len`]) and a [`Slab`] of [`LblcEntry`], passes the time in jiffies to
//! [`Lblc::schedule`], and runs [`Lblc::check_expire`] when [`Lblc::next_check`] falls due
//! (60 s after bind, then 60 s after each run), or [`Lblc::expire_if_due`] from any
//! periodic work.

use super::locality::{
    secs_to_jiffies, time_before, Chains, Entry, Slab, CHECK_EXPIRE_INTERVAL_SECS,
    ENTRY_TIMEOUT_SECS,
};
use super::{indexed, wlc, Dest, Family, HeldDest, HoldDest, InetAddr};

/// A table entry of lblc: the destination address, `lastuse`, and the held destination.
pub type LblcEntry<H> = Entry<H>;

impl<H> Entry<H> {
    /// The destination the entry holds (`en->dest`); for lblcr entries, the set.
    #[inline]
    pub const fn held(&self) -> &H {
        &self.data
    }
}

/// `is_overloaded()` of lblc and lblcr: more active connections than weight, while some
/// destination of the service has fewer than half its weight active (`int` arithmetic).
#[inline]
pub(crate) fn lb_overloaded<X: Dest + ?Sized, D: Dest>(dest: &X, dests: &[D]) -> bool {
    dest.active_conns() > dest.weight()
        && dests
            .iter()
            .any(|d| d.active_conns().wrapping_mul(2) < d.weight())
}

/// The index in `dests` of the destination a handle designates.
#[inline]
pub(crate) fn index_of<D: HoldDest>(dests: &[D], held: &D::Held) -> Option<usize> {
    indexed(dests, 0).find(|(_, d)| d.is(held)).map(|(i, _)| i)
}

/// Per-service state of `lblc` (the counters of `struct ip_vs_lblc_table`); the buckets
/// and entries are caller storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lblc {
    chains: Chains,
    /// `ENTRY_TIMEOUT` in jiffies.
    entry_timeout: i32,
    /// `CHECK_EXPIRE_INTERVAL` in jiffies.
    interval: u64,
    /// When the expiry timer falls due (`periodic_timer.expires`), jiffies.
    next_check: u64,
}

impl Lblc {
    /// `ip_vs_lblc_init_svc()` for a service of `family`, with the kernel's `HZ` (for
    /// `ENTRY_TIMEOUT`, 6 minutes). Clear the caller's `heads` with [`Lblc::clear_heads`].
    #[inline]
    pub fn new(family: Family, hz: u32, now: u64) -> Self {
        Self::build(Chains::with_default_bits(family), hz, now)
    }

    #[inline]
    fn build(chains: Chains, hz: u32, now: u64) -> Self {
        let interval = u64::from(CHECK_EXPIRE_INTERVAL_SECS) * u64::from(hz);
        Lblc {
            chains,
            entry_timeout: secs_to_jiffies(ENTRY_TIMEOUT_SECS, hz),
            interval,
            // mod_timer(&tbl->periodic_timer, jiffies + CHECK_EXPIRE_INTERVAL)
            next_check: now.wrapping_add(interval),
        }
    }

    /// When the expiry timer falls due (jiffies): 60 s after bind, then 60 s after each run.
    #[inline]
    pub const fn next_check(&self) -> u64 {
        self.next_check
    }

    /// As built with `CONFIG_IP_VS_LBLC_TAB_BITS = bits` (C honours the define; tests use 2
    /// to reach the size limits); `None` outside 1..=20.
    #[inline]
    pub fn with_tab_bits(family: Family, bits: u32, hz: u32, now: u64) -> Option<Self> {
        Some(Self::build(Chains::new(family, bits)?, hz, now))
    }

    /// Number of buckets: the length of `heads`.
    #[inline]
    pub const fn table_len(&self) -> usize {
        self.chains.table_len()
    }

    /// Make `heads` an empty table (at bind, before the first use).
    #[inline]
    pub fn clear_heads(&self, heads: &mut [u32]) {
        self.chains.clear_heads(heads);
    }

    /// The table's counters: `(entries, rover, counter)` of `struct ip_vs_lblc_table`.
    #[inline]
    pub const fn counters(&self) -> (i32, i32, i32) {
        (
            self.chains.entries(),
            self.chains.rover(),
            self.chains.counter(),
        )
    }

    /// `ip_vs_lblc_schedule()` at time `now` (jiffies) for a packet to `daddr`
    /// (`iph->daddr`): the index of the chosen destination in `dests`, or `None`.
    ///
    /// `heads` must have [`Lblc::table_len`] entries and, with `slab`, hold only what this
    /// `Lblc` put there; anything else yields a decision without touching the table.
    pub fn schedule<D, S>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        dests: &[D],
        daddr: &InetAddr,
        now: u64,
    ) -> Option<usize>
    where
        D: HoldDest,
        S: Slab<LblcEntry<D::Held>>,
    {
        // First look in the cache.
        if let Some(ei) = self.chains.find(heads, slab, daddr) {
            if let Some(en) = slab.get_mut(ei) {
                en.lastuse = now;
                let held = &en.data;
                let d: &D::Target = held;
                if d.available() && d.weight() > 0 && !lb_overloaded(d, dests) {
                    // Available means in the list; a handle not found there (a caller that
                    // let the two disagree) is treated as unavailable.
                    if let Some(i) = index_of(dests, held) {
                        return Some(i);
                    }
                }
            }
        }
        // No cache entry or it is invalid: time to schedule.
        let i = wlc::schedule(dests)?;
        if let Some(dest) = dests.get(i) {
            self.new_entry(heads, slab, daddr, dest, now);
        }
        Some(i)
    }

    /// `ip_vs_lblc_new()`: make `dest` the entry of `daddr`, replacing one for another
    /// destination; nothing if the table is full or the slab has no room.
    fn new_entry<D, S>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        daddr: &InetAddr,
        dest: &D,
        now: u64,
    ) where
        D: HoldDest,
        S: Slab<LblcEntry<D::Held>>,
    {
        if let Some(ei) = self.chains.find(heads, slab, daddr) {
            if slab.get(ei).is_some_and(|en| dest.is(&en.data)) {
                return;
            }
            self.chains.remove(heads, slab, ei);
        }
        if self.chains.full() {
            return;
        }
        self.chains.insert(heads, slab, daddr, now, dest.hold());
    }

    /// `ip_vs_lblc_check_expire()`, the periodic timer, at time `now` with the namespace's
    /// `lblc_expiration` sysctl in jiffies; re-arms for `now` + 60 s ([`Lblc::next_check`]).
    /// Run it when [`Lblc::next_check`] falls due. Dropped entries release their
    /// destinations.
    #[inline]
    pub fn check_expire<H, S: Slab<LblcEntry<H>>>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        now: u64,
        expiration: i32,
    ) {
        self.chains
            .check_expire(heads, slab, now, expiration, self.entry_timeout, drop);
        self.next_check = now.wrapping_add(self.interval);
    }

    /// [`Lblc::check_expire`] if the timer is due at `now`; whether it ran.
    #[inline]
    pub fn expire_if_due<H, S: Slab<LblcEntry<H>>>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        now: u64,
        expiration: i32,
    ) -> bool {
        if time_before(now, self.next_check) {
            return false;
        }
        self.check_expire(heads, slab, now, expiration);
        true
    }

    /// `ip_vs_lblc_flush()` (`done_service`): drop every entry, releasing its destination.
    /// Needed only if the slab outlives the binding; dropping the slab does the same.
    #[inline]
    pub fn flush<H, S: Slab<LblcEntry<H>>>(&mut self, heads: &mut [u32], slab: &mut S) {
        self.chains.flush(heads, slab, drop);
    }

    /// Every entry, in C's bucket and chain order, with its bucket.
    #[inline]
    pub fn for_each<H, S: Slab<LblcEntry<H>>>(
        &self,
        heads: &[u32],
        slab: &S,
        f: impl FnMut(usize, &LblcEntry<H>),
    ) {
        self.chains.for_each(heads, slab, f);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdest::{Slab, TD};
    use super::*;
    use std::vec;
    use std::vec::Vec;

    struct Svc {
        l: Lblc,
        heads: Vec<u32>,
        slab: Slab<LblcEntry<TD>>,
    }

    impl Svc {
        fn new(bits: u32) -> Self {
            let l = Lblc::with_tab_bits(Family::Ipv4, bits, 100, 0).unwrap();
            let mut heads = vec![0; l.table_len()];
            l.clear_heads(&mut heads);
            Svc {
                l,
                heads,
                slab: Slab::new(Vec::new()),
            }
        }
        fn pick(&mut self, dests: &[TD], last: u8, now: u64) -> Option<u32> {
            let a = InetAddr::from_ipv4([192, 0, 2, last]);
            self.l
                .schedule(&mut self.heads, &mut self.slab, dests, &a, now)
                .map(|i| dests[i].id())
        }
    }

    #[test]
    fn sticks_to_the_remembered_destination() {
        let mut s = Svc::new(10);
        let dests = vec![TD::w(0, 1), TD::w(1, 1)];
        assert_eq!(s.pick(&dests, 1, 5), Some(0));
        dests[0].conns(1, 1);
        // wlc would now pick 1, but the entry holds 0.
        assert_eq!(s.pick(&dests, 1, 6), Some(0));
        assert_eq!(s.pick(&dests, 2, 6), Some(1));
        assert_eq!(s.l.counters().0, 2);
        // Weight 0 invalidates the entry: rescheduled and replaced.
        dests[0].with(|d| d.weight = 0);
        assert_eq!(s.pick(&dests, 1, 7), Some(1));
        dests[0].with(|d| d.weight = 1);
        dests[1].conns(5, 5);
        assert_eq!(s.pick(&dests, 1, 8), Some(1));
        assert_eq!(s.l.counters().0, 2);
    }

    #[test]
    fn lblc_overload_needs_a_half_idle_destination() {
        let mut s = Svc::new(10);
        let dests = vec![TD::w(0, 2), TD::w(1, 2)];
        assert_eq!(s.pick(&dests, 1, 0), Some(0));
        dests[0].conns(3, 3);
        dests[1].conns(1, 1);
        // 3 > 2, but no destination has active * 2 < weight: still 0.
        assert_eq!(s.pick(&dests, 1, 0), Some(0));
        dests[1].conns(0, 0);
        assert_eq!(s.pick(&dests, 1, 0), Some(1));
    }

    #[test]
    fn a_revived_destination_gets_its_entries_back() {
        let mut s = Svc::new(10);
        let mut dests = vec![TD::w(0, 1), TD::w(1, 1)];
        let first = dests[0].clone();
        assert_eq!(s.pick(&dests, 1, 0), Some(0));
        // Deleted (to the trash, still held by the entry): the next choice replaces the
        // entry only when it differs.
        dests.remove(0);
        first.set_available(false);
        assert_eq!(s.pick(&dests, 1, 0), Some(1));
        // Another address mapped to it while it is back...
        dests.insert(0, first.clone());
        first.set_available(true);
        assert_eq!(s.pick(&dests, 3, 0), Some(0));
        dests.remove(0);
        first.set_available(false);
        // Entries hold the destination like C's refcnt: `first` + the entry of address 3.
        assert_eq!(std::rc::Rc::strong_count(&first.0), 2);
        // ...is valid again once it is revived (re-added at the head), though wlc would
        // now pick the other one.
        dests.insert(0, first.clone());
        first.set_available(true);
        first.conns(1, 1);
        assert_eq!(s.pick(&dests, 3, 0), Some(0));
    }

    #[test]
    fn the_table_stops_growing_at_one_and_a_half_max_size() {
        let mut s = Svc::new(1);
        let dests = vec![TD::w(0, 1)];
        for a in 0..60 {
            assert_eq!(s.pick(&dests, a, 0), Some(0));
        }
        assert_eq!(s.l.counters().0, 48);
        // The timer: 4/3 of the excess over 32, none old enough yet (timeout 6 min at HZ 100).
        assert!(!s.l.expire_if_due(&mut s.heads, &mut s.slab, 5999, 1 << 30));
        assert!(s.l.expire_if_due(&mut s.heads, &mut s.slab, 6000, 1 << 30));
        // Nothing old enough: every bucket visited, the rover back where it was.
        assert_eq!(s.l.counters(), (48, 0, 1));
        assert_eq!(s.l.next_check(), 12000);
        // Six minutes: bucket 1 (the one after the rover) is emptied, which is enough.
        let in_bucket_1 = {
            let mut n = 0;
            s.l.for_each(&s.heads, &s.slab, |b, _| n += i32::from(b == 1));
            n
        };
        assert!(in_bucket_1 >= 21);
        assert!(s.l.expire_if_due(&mut s.heads, &mut s.slab, 36000, 1 << 30));
        assert_eq!(s.l.counters(), (48 - in_bucket_1, 1, 1));
        assert_eq!(s.l.next_check(), 42000);
    }
}
