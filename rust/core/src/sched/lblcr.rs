//! Locality-based least-connection scheduling with replication (`lblcr`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_lblcr.c` (table of 1024 buckets, no Kconfig option;
//! sysctl `net.ipv4.vs.lblcr_expiration`, default 24 h).
//!
//! Like [`super::lblc`], but each destination address maps to a *set* of destinations:
//! - a packet takes the set's weighted-least-connection member (`ip_vs_dest_set_min()`:
//!   members not overloaded, in the service, of weight > 0 at the first);
//! - if the set has more than one member and was not modified for `lblcr_expiration`, its
//!   weighted-*most*-connection member is dropped (`ip_vs_dest_set_max()`, which looks at
//!   weight only, also at members deleted from the service);
//! - if the set has no usable member, or lblc's "overloaded" test holds for it, the
//!   destination is chosen as `wlc` would and *added* to the set (replication).
//!
//! Members are held destinations ([`HoldDest::Held`]), newest first (`list_add_rcu()`),
//! which decides ties. Storage: the table as in [`super::locality`], plus a second [`Slab`]
//! of [`SetElem`] for the members (C `kmalloc()`s each `struct ip_vs_dest_set_elem`).

use super::lblc::{index_of, lb_overloaded};
use super::locality::{
    jiffies_add, secs_to_jiffies, time_after, time_before, Chains, Entry, Slab,
    CHECK_EXPIRE_INTERVAL_SECS, ENTRY_TIMEOUT_SECS, NIL,
};
use super::{conn_overhead, wlc, Dest, Family, HeldDest, HoldDest, InetAddr};
use core::ops::Deref;

/// `struct ip_vs_dest_set`: the members (a chain in the element slab), their number and
/// the time of the last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestSet {
    /// `set->size`.
    size: i32,
    /// `set->lastmod`, jiffies.
    lastmod: u64,
    /// First member (index in the element slab) or [`NIL`].
    head: u32,
}

impl DestSet {
    /// `set->size`: the number of members.
    #[inline]
    pub const fn size(&self) -> i32 {
        self.size
    }
    /// `set->lastmod`: when a member was last added or removed (jiffies).
    #[inline]
    pub const fn lastmod(&self) -> u64 {
        self.lastmod
    }
}

/// `struct ip_vs_dest_set_elem`: one member of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetElem<H> {
    /// Next member or [`NIL`].
    next: u32,
    /// The held destination.
    dest: H,
}

/// A table entry of lblcr: the destination address, `lastuse`, and the set.
pub type LblcrEntry = Entry<DestSet>;

/// The members of `set`, newest first.
pub fn members<'e, H: 'e, E: Slab<SetElem<H>>>(
    set: &DestSet,
    elems: &'e E,
) -> impl Iterator<Item = &'e H> + 'e {
    let first = if set.head == NIL {
        None
    } else {
        elems.get(set.head)
    };
    core::iter::successors(first, move |e| {
        if e.next == NIL {
            None
        } else {
            elems.get(e.next)
        }
    })
    .map(|e| &e.dest)
}

/// Member indices of `set`, newest first.
#[inline]
fn member_indices<'e, H: 'e, E: Slab<SetElem<H>>>(
    set: &DestSet,
    elems: &'e E,
) -> impl Iterator<Item = (u32, &'e H)> + 'e {
    let first = (set.head != NIL).then_some(set.head);
    core::iter::successors(first, move |&i| {
        elems.get(i).map(|e| e.next).filter(|&n| n != NIL)
    })
    .filter_map(move |i| elems.get(i).map(|e| (i, &e.dest)))
}

/// `ip_vs_dest_set_insert()`: add `dest` at the head of the set unless (with `check`) it is
/// a member already; nothing if the slab has no room.
fn set_insert<D: HoldDest, E: Slab<SetElem<D::Held>>>(
    set: &mut DestSet,
    elems: &mut E,
    dest: &D,
    check: bool,
    now: u64,
) {
    if check && members(set, elems).any(|h| dest.is(h)) {
        return;
    }
    let Some(i) = elems.insert(SetElem {
        next: set.head,
        dest: dest.hold(),
    }) else {
        return;
    };
    set.head = i;
    set.size = set.size.wrapping_add(1);
    set.lastmod = now;
}

/// `ip_vs_dest_set_erase()` of member `m` (its slab index; a set never holds a destination
/// twice, so this is C's first match).
fn set_erase<H, E: Slab<SetElem<H>>>(set: &mut DestSet, elems: &mut E, m: u32, now: u64) {
    let Some(next) = elems.get(m).map(|e| e.next) else {
        return;
    };
    if set.head == m {
        set.head = next;
    } else {
        let Some((prev, _)) =
            member_indices(set, elems).find(|&(i, _)| elems.get(i).is_some_and(|e| e.next == m))
        else {
            return;
        };
        if let Some(p) = elems.get_mut(prev) {
            p.next = next;
        }
    }
    set.size = set.size.wrapping_sub(1);
    set.lastmod = now;
    elems.remove(m);
}

/// `ip_vs_dest_set_eraseall()`: free every member (releasing the destinations).
#[inline]
fn set_free<H, E: Slab<SetElem<H>>>(set: &DestSet, elems: &mut E) {
    let mut i = set.head;
    while i != NIL {
        match elems.remove(i) {
            Some(e) => i = e.next,
            None => break,
        }
    }
}

/// `ip_vs_dest_set_min()`: the member with the least `overhead / weight`; the first member
/// not overloaded, in the service and of weight > 0 seeds it, later ones must be not
/// overloaded and in the service (any weight) and strictly better.
fn set_min<H, E>(set: &DestSet, elems: &E) -> Option<u32>
where
    H: Deref,
    H::Target: HeldDest,
    E: Slab<SetElem<H>>,
{
    let mut it = member_indices(set, elems);
    let (mut least, mut lw, mut loh) = loop {
        let (i, d) = it.next()?;
        let d: &H::Target = d;
        if d.overloaded() {
            continue;
        }
        if d.weight() > 0 && d.available() {
            break (i, d.weight(), conn_overhead(d));
        }
    };
    for (i, d) in it {
        let d: &H::Target = d;
        if d.overloaded() {
            continue;
        }
        let (dw, doh) = (d.weight(), conn_overhead(d));
        if i64::from(loh) * i64::from(dw) > i64::from(doh) * i64::from(lw) && d.available() {
            (least, lw, loh) = (i, dw, doh);
        }
    }
    Some(least)
}

/// `ip_vs_dest_set_max()`: the member with the most `overhead / weight` among those of
/// weight > 0, whether overloaded or deleted or not.
fn set_max<H, E>(set: &DestSet, elems: &E) -> Option<u32>
where
    H: Deref,
    H::Target: Dest,
    E: Slab<SetElem<H>>,
{
    let mut it = member_indices(set, elems);
    let (mut most, mut mw, mut moh) = loop {
        let (i, d) = it.next()?;
        let d: &H::Target = d;
        if d.weight() > 0 {
            break (i, d.weight(), conn_overhead(d));
        }
    };
    for (i, d) in it {
        let d: &H::Target = d;
        let (dw, doh) = (d.weight(), conn_overhead(d));
        if i64::from(moh) * i64::from(dw) < i64::from(doh) * i64::from(mw) && dw > 0 {
            (most, mw, moh) = (i, dw, doh);
        }
    }
    Some(most)
}

/// Per-service state of `lblcr` (the counters of `struct ip_vs_lblcr_table`); buckets,
/// entries and set members are caller storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lblcr {
    chains: Chains,
    /// `ENTRY_TIMEOUT` in jiffies.
    entry_timeout: i32,
    /// `CHECK_EXPIRE_INTERVAL` in jiffies.
    interval: u64,
    /// When the expiry timer falls due (`periodic_timer.expires`), jiffies.
    next_check: u64,
}

impl Lblcr {
    /// `ip_vs_lblcr_init_svc()` for a service of `family`, with the kernel's `HZ`. Clear the
    /// caller's `heads` with [`Lblcr::clear_heads`].
    #[inline]
    pub fn new(family: Family, hz: u32, now: u64) -> Self {
        Self::build(Chains::with_default_bits(family), hz, now)
    }

    #[inline]
    fn build(chains: Chains, hz: u32, now: u64) -> Self {
        let interval = u64::from(CHECK_EXPIRE_INTERVAL_SECS) * u64::from(hz);
        Lblcr {
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

    /// As built with `CONFIG_IP_VS_LBLCR_TAB_BITS = bits`; `None` outside 1..=20.
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

    /// The table's counters: `(entries, rover, counter)`.
    #[inline]
    pub const fn counters(&self) -> (i32, i32, i32) {
        (
            self.chains.entries(),
            self.chains.rover(),
            self.chains.counter(),
        )
    }

    /// `ip_vs_lblcr_schedule()` at time `now` (jiffies) for a packet to `daddr`
    /// (`iph->daddr`), with the namespace's `lblcr_expiration` sysctl in jiffies: the index
    /// of the chosen destination in `dests`, or `None`.
    #[allow(clippy::too_many_arguments)]
    pub fn schedule<D, S, E>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        elems: &mut E,
        dests: &[D],
        daddr: &InetAddr,
        now: u64,
        expiration: i32,
    ) -> Option<usize>
    where
        D: HoldDest,
        S: Slab<LblcrEntry>,
        E: Slab<SetElem<D::Held>>,
    {
        // First look in the cache.
        if let Some(en) = self
            .chains
            .find(heads, slab, daddr)
            .and_then(|ei| slab.get_mut(ei))
        {
            en.lastuse = now;
            // Get the least loaded destination; C tests it for lblc's overload after the
            // cleanup below, which changes no counter.
            let min = set_min(&en.data, elems)
                .and_then(|m| elems.get(m))
                .map(|e| {
                    (
                        index_of(dests, &e.dest),
                        lb_overloaded::<D::Target, D>(&e.dest, dests),
                    )
                });
            // More than one destination + enough time passed by: cleanup.
            let set = &mut en.data;
            if set.size > 1 && time_after(now, jiffies_add(set.lastmod, expiration)) {
                if let Some(m) = set_max(set, elems) {
                    set_erase(set, elems, m, now);
                }
            }
            // If the destination is not overloaded, use it. (A member in the service but
            // missing from `dests` is a caller inconsistency: schedule anew.)
            if let Some((Some(i), false)) = min {
                return Some(i);
            }
            // The cache entry is invalid: time to schedule, and add the choice to the set.
            let i = wlc::schedule(dests)?;
            if let Some(d) = dests.get(i) {
                set_insert(set, elems, d, true, now);
            }
            return Some(i);
        }
        // No cache entry: time to schedule.
        let i = wlc::schedule(dests)?;
        if let Some(d) = dests.get(i) {
            self.new_entry(heads, slab, elems, daddr, d, now);
        }
        Some(i)
    }

    /// `ip_vs_lblcr_new()`: a new entry for `daddr` with `dest` its only member (or `dest`
    /// added to an existing entry); nothing if the table is full or a slab has no room.
    fn new_entry<D, S, E>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        elems: &mut E,
        daddr: &InetAddr,
        dest: &D,
        now: u64,
    ) where
        D: HoldDest,
        S: Slab<LblcrEntry>,
        E: Slab<SetElem<D::Held>>,
    {
        if let Some(en) = self
            .chains
            .find(heads, slab, daddr)
            .and_then(|ei| slab.get_mut(ei))
        {
            set_insert(&mut en.data, elems, dest, true, now);
            return;
        }
        if self.chains.full() {
            return;
        }
        // C leaves `lastmod` unset until the first member is inserted; it is set here in
        // case that allocation fails (C would then hold an uninitialised time).
        let set = DestSet {
            size: 0,
            lastmod: now,
            head: NIL,
        };
        if let Some(en) = self
            .chains
            .insert(heads, slab, daddr, now, set)
            .and_then(|ei| slab.get_mut(ei))
        {
            set_insert(&mut en.data, elems, dest, false, now);
        }
    }

    /// `ip_vs_lblcr_check_expire()`, the periodic timer, at time `now` with the namespace's
    /// `lblcr_expiration` sysctl in jiffies; re-arms for `now` + 60 s ([`Lblcr::next_check`]).
    /// Dropped entries release their members' destinations.
    #[inline]
    pub fn check_expire<H, S, E>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        elems: &mut E,
        now: u64,
        expiration: i32,
    ) where
        S: Slab<LblcrEntry>,
        E: Slab<SetElem<H>>,
    {
        self.chains
            .check_expire(heads, slab, now, expiration, self.entry_timeout, |e| {
                set_free(&e.data, elems)
            });
        self.next_check = now.wrapping_add(self.interval);
    }

    /// [`Lblcr::check_expire`] if the timer is due at `now`; whether it ran.
    #[inline]
    pub fn expire_if_due<H, S, E>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        elems: &mut E,
        now: u64,
        expiration: i32,
    ) -> bool
    where
        S: Slab<LblcrEntry>,
        E: Slab<SetElem<H>>,
    {
        if time_before(now, self.next_check) {
            return false;
        }
        self.check_expire(heads, slab, elems, now, expiration);
        true
    }

    /// `ip_vs_lblcr_flush()` (`done_service`): drop every entry and member.
    #[inline]
    pub fn flush<H, S, E>(&mut self, heads: &mut [u32], slab: &mut S, elems: &mut E)
    where
        S: Slab<LblcrEntry>,
        E: Slab<SetElem<H>>,
    {
        self.chains.flush(heads, slab, |e| set_free(&e.data, elems));
    }

    /// Every entry, in C's bucket and chain order, with its bucket; [`members`] lists an
    /// entry's set.
    #[inline]
    pub fn for_each<S: Slab<LblcrEntry>>(
        &self,
        heads: &[u32],
        slab: &S,
        f: impl FnMut(usize, &LblcrEntry),
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
        l: Lblcr,
        heads: Vec<u32>,
        slab: Slab<LblcrEntry>,
        elems: Slab<SetElem<TD>>,
    }

    impl Svc {
        fn new() -> Self {
            let l = Lblcr::new(Family::Ipv4, 100, 0);
            let mut heads = vec![0; l.table_len()];
            l.clear_heads(&mut heads);
            Svc {
                l,
                heads,
                slab: Slab::new(Vec::new()),
                elems: Slab::new(Vec::new()),
            }
        }
        fn pick(&mut self, dests: &[TD], now: u64, expiration: i32) -> Option<u32> {
            let a = InetAddr::from_ipv4([192, 0, 2, 1]);
            let i = self.l.schedule(
                &mut self.heads,
                &mut self.slab,
                &mut self.elems,
                dests,
                &a,
                now,
                expiration,
            )?;
            Some(dests[i].id())
        }
        fn set(&self) -> Vec<u32> {
            let mut out = Vec::new();
            self.l.for_each(&self.heads, &self.slab, |_, e| {
                out.extend(members(e.held(), &self.elems).map(|m| m.id()))
            });
            out
        }
    }

    #[test]
    fn replicates_under_load_and_shrinks_after_expiration() {
        let mut s = Svc::new();
        let dests = vec![TD::w(0, 2), TD::w(1, 2)];
        assert_eq!(s.pick(&dests, 0, 1000), Some(0));
        assert_eq!(s.set(), [0]);
        // 0 busy beyond its weight while 1 is idle: 1 joins the set (newest first).
        dests[0].conns(3, 3);
        assert_eq!(s.pick(&dests, 10, 1000), Some(1));
        assert_eq!(s.set(), [1, 0]);
        // The set's least loaded member serves.
        assert_eq!(s.pick(&dests, 20, 1000), Some(1));
        dests[1].conns(2, 2);
        assert_eq!(s.pick(&dests, 20, 1000), Some(1));
        dests[0].conns(0, 0);
        assert_eq!(s.pick(&dests, 20, 1000), Some(0));
        // Unchanged for longer than the expiration (set at 10): the most loaded member
        // (1) leaves, the least loaded one still serves.
        assert_eq!(s.pick(&dests, 1010, 1000), Some(0));
        assert_eq!(s.set(), [1, 0]);
        assert_eq!(s.pick(&dests, 1011, 1000), Some(0));
        assert_eq!(s.set(), [0]);
        // A deleted member no longer serves but stays in the set (and counts for
        // set_max); the replacement joins.
        dests[0].set_available(false);
        let rest = vec![dests[1].clone()];
        assert_eq!(s.pick(&rest, 1012, 1000), Some(1));
        assert_eq!(s.set(), [1, 0]);
        assert_eq!(s.l.counters().0, 1);
        // Expiry frees entries and members, releasing the destinations.
        assert_eq!(std::rc::Rc::strong_count(&dests[0].0), 2);
        s.l.check_expire(&mut s.heads, &mut s.slab, &mut s.elems, 2000, 1000);
        assert_eq!(
            s.l.counters().0,
            1,
            "only every 30th run checks the expiration"
        );
        for k in 0..29 {
            s.l.check_expire(&mut s.heads, &mut s.slab, &mut s.elems, 3000 + k, 1000);
        }
        assert_eq!((s.l.counters().0, s.elems.len()), (0, 0));
        assert_eq!(std::rc::Rc::strong_count(&dests[0].0), 1);
    }
}
