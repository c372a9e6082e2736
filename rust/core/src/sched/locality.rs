//! The per-service table of `lblc` and `lblcr`: destination address → what the scheduler
//! remembers for it, with C's hashing, bucket order, size limits and periodic expiry.
//!
//! C sources: `net/netfilter/ipvs/ip_vs_lblc.c`, `ip_vs_lblcr.c` (both keep a
//! `struct hlist_head bucket[1 << 10]` of `kmalloc()`ed entries, and a timer running
//! `ip_vs_lblc{,r}_check_expire()` every `CHECK_EXPIRE_INTERVAL`).
//!
//! # Storage
//!
//! The core allocates nothing, and C's table grows entry by entry (up to 24576 entries per
//! service: preallocating them would cost ~1 MB for every lblc service). So the caller
//! supplies two things:
//! - `heads: &mut [u32]` of [`Chains::table_len`] entries (1024 by default: 4 KiB), the first
//!   entry of each bucket, like the `&mut [u32]` table of sh and mh;
//! - a [`Slab`] holding the entries, linked by index. [`SlotSlab`] implements it over any
//!   growable or fixed vector of [`Slot`]s (the module: a `KVec` grown with `GFP_ATOMIC`,
//!   whose failure is C's failed `kmalloc(GFP_ATOMIC)`: no entry, the decision stands).
//!
//! Bucket chains keep C's order (a new entry goes to the head, `hlist_add_head_rcu()`),
//! which decides which entries a size-limited expiry pass reaches first.
//!
//! # Time
//!
//! Time is `now`, in jiffies, passed in by the caller; comparisons wrap as `time_before()`
//! does. C arms a timer `CHECK_EXPIRE_INTERVAL` = 60 s after binding and re-arms it 60 s
//! after each run (`mod_timer(jiffies + CHECK_EXPIRE_INTERVAL)`). Here the scheduler keeps
//! that due time ([`super::lblc::Lblc::next_check`]); the caller either runs
//! `check_expire(now)` from its own timer at that time, or calls `expire_if_due(now)` from
//! any periodic work (a late run behaves as a late C timer: one run, re-armed from then).

use super::sh::hash_32;
use super::{Family, InetAddr};

/// No entry: the end of a bucket chain.
pub const NIL: u32 = u32::MAX;

/// `CONFIG_IP_VS_LBLC_TAB_BITS` / `CONFIG_IP_VS_LBLCR_TAB_BITS` default (no Kconfig option).
pub const DEFAULT_TAB_BITS: u32 = 10;

/// `CHECK_EXPIRE_INTERVAL` in seconds: the period of the expiry timer (`60*HZ` jiffies).
pub const CHECK_EXPIRE_INTERVAL_SECS: u32 = 60;

/// `ENTRY_TIMEOUT` in seconds (`6*60*HZ`): the age after which an entry may be dropped to
/// bring an oversized table back to `max_size`.
pub const ENTRY_TIMEOUT_SECS: u32 = 6 * 60;

/// `DEFAULT_EXPIRATION` in seconds (`24*60*60*HZ`): the default of the `lblc_expiration` and
/// `lblcr_expiration` sysctls.
pub const DEFAULT_EXPIRATION_SECS: u32 = 24 * 60 * 60;

/// `COUNT_FOR_FULL_EXPIRATION`: every 30th timer run checks every entry against the
/// expiration sysctl.
const COUNT_FOR_FULL_EXPIRATION: i32 = 30;

/// `time_before(a, b)` of `include/linux/jiffies.h` for an `unsigned long` of 64 bits.
#[inline]
pub fn time_before(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) < 0
}

/// `time_after(a, b)`.
#[inline]
pub fn time_after(a: u64, b: u64) -> bool {
    time_before(b, a)
}

/// `t + delta` for an `unsigned long` plus an `int` (sign-extended, wrapping): how C adds
/// the expiration sysctl, which may be negative, to a time stamp.
#[inline]
pub fn jiffies_add(t: u64, delta: i32) -> u64 {
    t.wrapping_add(i64::from(delta) as u64)
}

/// Storage for values addressed by a `u32` index: C's `kmalloc()`/`kfree()` of table
/// entries. Indices must stay valid until removed; [`NIL`] is never one.
pub trait Slab<T> {
    /// Store `v` and return its index, or `None` when there is no memory (the value is
    /// dropped: C's failed `kmalloc(GFP_ATOMIC)`).
    fn insert(&mut self, v: T) -> Option<u32>;
    /// Take out the value at `i`.
    fn remove(&mut self, i: u32) -> Option<T>;
    /// The value at `i`.
    fn get(&self, i: u32) -> Option<&T>;
    /// The value at `i`, mutable.
    fn get_mut(&mut self, i: u32) -> Option<&mut T>;
}

/// A slot of a [`SlotSlab`]: a value, or a free slot linking to the next free one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot<T> {
    /// Free; the index of the next free slot or [`NIL`].
    Free(u32),
    /// In use.
    Used(T),
}

/// A vector of [`Slot`]s: what [`SlotSlab`] needs from the caller's storage.
pub trait SlotVec<T> {
    /// The slots.
    fn slots(&self) -> &[Slot<T>];
    /// The slots, mutable.
    fn slots_mut(&mut self) -> &mut [Slot<T>];
    /// Append a slot; `false` if there is no room (a fixed slice, or allocation failed).
    fn push_slot(&mut self, s: Slot<T>) -> bool;
}

/// A fixed-capacity vector: never grows.
impl<T> SlotVec<T> for &mut [Slot<T>] {
    #[inline]
    fn slots(&self) -> &[Slot<T>] {
        self
    }
    #[inline]
    fn slots_mut(&mut self) -> &mut [Slot<T>] {
        self
    }
    #[inline]
    fn push_slot(&mut self, _s: Slot<T>) -> bool {
        false
    }
}

/// A [`Slab`] over a vector of slots with a free list: O(1) insert and remove, growing the
/// vector only when no slot is free. A fixed slice must start all [`Slot::Free`] and be
/// handed to [`SlotSlab::with_free_slots`].
#[derive(Debug)]
pub struct SlotSlab<V> {
    /// The storage.
    slots: V,
    /// First free slot or [`NIL`].
    free: u32,
    /// Slots in use.
    used: usize,
}

impl<V> SlotSlab<V> {
    /// A slab over empty storage.
    #[inline]
    pub const fn new(slots: V) -> Self {
        SlotSlab {
            slots,
            free: NIL,
            used: 0,
        }
    }

    /// Values stored.
    #[inline]
    pub const fn len(&self) -> usize {
        self.used
    }

    /// Nothing stored.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.used == 0
    }
}

impl<V> SlotSlab<V> {
    /// A slab over storage whose slots are all free (e.g. a preallocated fixed slice):
    /// links them into the free list.
    pub fn with_free_slots<T>(mut slots: V) -> Self
    where
        V: SlotVec<T>,
    {
        let s = slots.slots_mut();
        let n = s.len();
        for (i, slot) in (0usize..).zip(s.iter_mut()) {
            let next = i.wrapping_add(1);
            *slot = Slot::Free(if next < n {
                u32::try_from(next).unwrap_or(NIL)
            } else {
                NIL
            });
        }
        SlotSlab {
            slots,
            free: if n > 0 { 0 } else { NIL },
            used: 0,
        }
    }
}

impl<T, V: SlotVec<T>> Slab<T> for SlotSlab<V> {
    fn insert(&mut self, v: T) -> Option<u32> {
        if self.free != NIL {
            let i = self.free;
            let slot = self.slots.slots_mut().get_mut(i as usize)?;
            let Slot::Free(next) = *slot else {
                return None;
            };
            *slot = Slot::Used(v);
            self.free = next;
            self.used = self.used.wrapping_add(1);
            return Some(i);
        }
        let i = u32::try_from(self.slots.slots().len())
            .ok()
            .filter(|&i| i != NIL)?;
        if !self.slots.push_slot(Slot::Used(v)) {
            return None;
        }
        self.used = self.used.wrapping_add(1);
        Some(i)
    }

    fn remove(&mut self, i: u32) -> Option<T> {
        let slot = self.slots.slots_mut().get_mut(i as usize)?;
        if let Slot::Free(_) = slot {
            return None;
        }
        let Slot::Used(v) = core::mem::replace(slot, Slot::Free(self.free)) else {
            return None;
        };
        self.free = i;
        self.used = self.used.wrapping_sub(1);
        Some(v)
    }

    #[inline]
    fn get(&self, i: u32) -> Option<&T> {
        match self.slots.slots().get(i as usize)? {
            Slot::Used(v) => Some(v),
            Slot::Free(_) => None,
        }
    }

    #[inline]
    fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        match self.slots.slots_mut().get_mut(i as usize)? {
            Slot::Used(v) => Some(v),
            Slot::Free(_) => None,
        }
    }
}

/// One table entry (`struct ip_vs_lblc_entry`, `struct ip_vs_lblcr_entry`): a destination
/// address, its last use, and what the scheduler keeps for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<P> {
    /// Next entry in the bucket or [`NIL`].
    next: u32,
    /// The address, only its significant bytes kept (`ip_vs_addr_copy()`).
    addr: InetAddr,
    /// `lastuse`, jiffies.
    pub(crate) lastuse: u64,
    /// The scheduler's part.
    pub(crate) data: P,
}

impl<P> Entry<P> {
    /// The destination address the entry is for.
    #[inline]
    pub const fn addr(&self) -> &InetAddr {
        &self.addr
    }
    /// When a packet last looked the entry up (jiffies).
    #[inline]
    pub const fn lastuse(&self) -> u64 {
        self.lastuse
    }
}

/// The table's own state (the counters of `struct ip_vs_lblc_table`); the buckets and
/// entries are the caller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chains {
    /// `svc->af`.
    family: Family,
    /// `IP_VS_LBLC{,R}_TAB_BITS`. Invariant: 1..=20.
    bits: u32,
    /// `tbl->entries`.
    entries: i32,
    /// `tbl->max_size` = 16 × table size.
    max_size: i32,
    /// `tbl->rover`: the bucket a size-limited expiry pass stopped at.
    rover: i32,
    /// `tbl->counter`: timer runs since the last full check, plus 1.
    counter: i32,
}

impl Chains {
    /// `init_service`: an empty table (`rover` 0, `counter` 1); `None` if `bits` is outside
    /// 1..=20.
    pub(crate) const fn new(family: Family, bits: u32) -> Option<Self> {
        if bits < 1 || bits > 20 {
            return None;
        }
        // INVARIANT: checked just above; 16 << 20 fits an i32.
        Some(Chains {
            family,
            bits,
            entries: 0,
            max_size: 16 << bits,
            rover: 0,
            counter: 1,
        })
    }

    /// [`Chains::new`] with the default 10 bits, which are in range.
    #[inline]
    pub(crate) const fn with_default_bits(family: Family) -> Self {
        Chains {
            family,
            bits: DEFAULT_TAB_BITS,
            entries: 0,
            max_size: 16 << DEFAULT_TAB_BITS,
            rover: 0,
            counter: 1,
        }
    }

    /// Number of buckets: the length `heads` must have.
    #[inline]
    pub const fn table_len(&self) -> usize {
        1usize.wrapping_shl(self.bits)
    }

    /// `tbl->entries`.
    #[inline]
    pub const fn entries(&self) -> i32 {
        self.entries
    }

    /// `tbl->rover`.
    #[inline]
    pub const fn rover(&self) -> i32 {
        self.rover
    }

    /// `tbl->counter`.
    #[inline]
    pub const fn counter(&self) -> i32 {
        self.counter
    }

    /// Set every bucket empty (call once on fresh `heads`).
    #[inline]
    pub fn clear_heads(&self, heads: &mut [u32]) {
        heads.fill(NIL);
    }

    /// `ip_vs_lblc{,r}_hashkey()`.
    #[inline]
    fn bucket(&self, addr: &InetAddr) -> usize {
        hash_32(addr.fold(self.family), self.bits) as usize
    }

    /// The significant bytes of an address of the service's family.
    #[inline]
    fn key(&self, addr: &InetAddr) -> InetAddr {
        match self.family {
            Family::Ipv6 => *addr,
            Family::Ipv4 => {
                let a = addr.0;
                InetAddr::from_ipv4([a[0], a[1], a[2], a[3]])
            }
        }
    }

    /// `ip_vs_lblc{,r}_get()`: the entry for `addr`.
    pub(crate) fn find<P, S: Slab<Entry<P>>>(
        &self,
        heads: &[u32],
        slab: &S,
        addr: &InetAddr,
    ) -> Option<u32> {
        let key = self.key(addr);
        let mut i = *heads.get(self.bucket(addr))?;
        while i != NIL {
            let e = slab.get(i)?;
            if e.addr == key {
                return Some(i);
            }
            i = e.next;
        }
        None
    }

    /// `ip_vs_lblc{,r}_new()`'s limit: `entries >= max_size * 3 / 2` refuses a new entry.
    #[inline]
    pub(crate) fn full(&self) -> bool {
        self.entries >= self.max_size.wrapping_mul(3) / 2
    }

    /// Allocate an entry and hash it at the head of its bucket (`ip_vs_lblc{,r}_hash()`);
    /// `None` if the slab has no room (nothing changes, as after a failed `kmalloc()`).
    pub(crate) fn insert<P, S: Slab<Entry<P>>>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        addr: &InetAddr,
        now: u64,
        data: P,
    ) -> Option<u32> {
        let b = self.bucket(addr);
        let head = heads.get_mut(b)?;
        let i = slab.insert(Entry {
            next: *head,
            addr: self.key(addr),
            lastuse: now,
            data,
        })?;
        *head = i;
        self.entries = self.entries.wrapping_add(1);
        Some(i)
    }

    /// Unhash entry `i` and take it out of the slab (`ip_vs_lblc_del()`, `ip_vs_lblcr_free()`)
    /// and count it gone (`atomic_dec(&tbl->entries)`, which C's callers do).
    pub(crate) fn remove<P, S: Slab<Entry<P>>>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        i: u32,
    ) -> Option<Entry<P>> {
        let b = self.bucket(&slab.get(i)?.addr);
        let mut link = *heads.get(b)?;
        if link == i {
            let next = slab.get(i)?.next;
            *heads.get_mut(b)? = next;
        } else {
            loop {
                let next = slab.get(link)?.next;
                if next == NIL {
                    return None;
                }
                if next == i {
                    let after = slab.get(i)?.next;
                    slab.get_mut(link)?.next = after;
                    break;
                }
                link = next;
            }
        }
        self.entries = self.entries.wrapping_sub(1);
        slab.remove(i)
    }

    /// Remove the entries of bucket `j` whose `lastuse + age` is not after `now`
    /// (`!time_before(now, lastuse + age)`); returns how many.
    fn expire_bucket<P, S: Slab<Entry<P>>>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        j: usize,
        now: u64,
        age: i32,
        on_remove: &mut impl FnMut(Entry<P>),
    ) -> i32 {
        let mut n = 0i32;
        let mut i = heads.get(j).copied().unwrap_or(NIL);
        while i != NIL {
            let Some(e) = slab.get(i) else { break };
            let next = e.next;
            if !time_before(now, jiffies_add(e.lastuse, age)) {
                if let Some(gone) = self.remove(heads, slab, i) {
                    on_remove(gone);
                }
                n = n.wrapping_add(1);
            }
            i = next;
        }
        n
    }

    /// `ip_vs_lblc{,r}_check_expire()`, the timer: every 30th run drop every entry unused for
    /// `expiration` jiffies (the sysctl); otherwise, only if the table holds more than
    /// `max_size` entries, drop entries unused for `entry_timeout` jiffies, bucket by bucket
    /// from the rover on, until 4/3 of the excess (at most `max_size / 2`) are gone.
    pub(crate) fn check_expire<P, S: Slab<Entry<P>>>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        now: u64,
        expiration: i32,
        entry_timeout: i32,
        mut on_remove: impl FnMut(Entry<P>),
    ) {
        let mask = self.table_len().wrapping_sub(1);
        let mut j = self.rover as usize & mask;
        if self.counter % COUNT_FOR_FULL_EXPIRATION == 0 {
            // ip_vs_lblc{,r}_full_check(): every bucket once, from the one after the rover.
            for _ in 0..self.table_len() {
                j = j.wrapping_add(1) & mask;
                self.expire_bucket(heads, slab, j, now, expiration, &mut on_remove);
            }
            self.rover = j as i32;
            self.counter = 1;
            return;
        }
        if self.entries <= self.max_size {
            self.counter = self.counter.wrapping_add(1);
            return;
        }
        let mut goal = self.entries.wrapping_sub(self.max_size).wrapping_mul(4) / 3;
        if goal > self.max_size / 2 {
            goal = self.max_size / 2;
        }
        for _ in 0..self.table_len() {
            j = j.wrapping_add(1) & mask;
            let n = self.expire_bucket(heads, slab, j, now, entry_timeout, &mut on_remove);
            goal = goal.wrapping_sub(n);
            if goal <= 0 {
                break;
            }
        }
        self.rover = j as i32;
    }

    /// Remove every entry (`ip_vs_lblc{,r}_flush()` at `done_service`).
    pub(crate) fn flush<P, S: Slab<Entry<P>>>(
        &mut self,
        heads: &mut [u32],
        slab: &mut S,
        mut on_remove: impl FnMut(Entry<P>),
    ) {
        for j in 0..heads.len() {
            while let Some(&i) = heads.get(j).filter(|&&i| i != NIL) {
                match self.remove(heads, slab, i) {
                    Some(e) => on_remove(e),
                    None => {
                        // A corrupt chain: cut it rather than loop.
                        if let Some(h) = heads.get_mut(j) {
                            *h = NIL;
                        }
                    }
                }
            }
        }
    }

    /// Every entry in bucket and chain order: what C's walks see.
    #[inline]
    pub(crate) fn for_each<P, S: Slab<Entry<P>>>(
        &self,
        heads: &[u32],
        slab: &S,
        mut f: impl FnMut(usize, &Entry<P>),
    ) {
        for (j, &h) in (0usize..).zip(heads.iter()) {
            let mut i = h;
            while let Some(e) = if i == NIL { None } else { slab.get(i) } {
                f(j, e);
                i = e.next;
            }
        }
    }
}

/// Expiration and timeout in jiffies for a given `HZ`, saturating (`HZ` is at most 1000).
#[inline]
pub(crate) fn secs_to_jiffies(secs: u32, hz: u32) -> i32 {
    i32::try_from(u64::from(secs) * u64::from(hz)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn jiffies_wrap() {
        assert!(time_before(u64::MAX, 0));
        assert!(time_after(5, u64::MAX - 5));
        assert!(!time_before(7, 7) && !time_after(7, 7));
        assert_eq!(jiffies_add(10, -20), u64::MAX - 9);
        assert_eq!(jiffies_add(u64::MAX, 2), 1);
    }

    #[test]
    fn fixed_slab_fills_and_reuses() {
        let mut store = vec![Slot::Free(0); 3];
        let mut slab = SlotSlab::with_free_slots(&mut store[..]);
        let ids: Vec<_> = (10..14).map(|v| slab.insert(v)).collect();
        assert_eq!(ids, [Some(0), Some(1), Some(2), None]);
        assert_eq!(slab.len(), 3);
        assert_eq!(slab.remove(1), Some(11));
        assert_eq!(slab.remove(1), None);
        assert_eq!(slab.get(1), None);
        assert_eq!(slab.insert(20), Some(1));
        assert_eq!(
            (slab.get(0), slab.get(1), slab.get(2)),
            (Some(&10), Some(&20), Some(&12))
        );
        assert_eq!(slab.get(7), None);
        let mut empty: [Slot<u8>; 0] = [];
        assert_eq!(SlotSlab::with_free_slots(&mut empty[..]).insert(1), None);
    }

    #[test]
    fn chains_keep_c_order_and_limits() {
        // 2 buckets, max_size 32, new entries refused from 48 on.
        let mut c = Chains::new(Family::Ipv4, 1).unwrap();
        assert!(Chains::new(Family::Ipv4, 0).is_none() && Chains::new(Family::Ipv4, 21).is_none());
        let mut heads = [0u32; 2];
        c.clear_heads(&mut heads);
        let mut store: Vec<Slot<Entry<u32>>> = vec![Slot::Free(0); 64];
        let mut slab = SlotSlab::with_free_slots(&mut store[..]);
        let a = |i: u8| InetAddr::from_ipv4([10, 0, 0, i]);
        let mut n = 0u8;
        while !c.full() {
            c.insert(&mut heads, &mut slab, &a(n), 100, u32::from(n))
                .unwrap();
            n += 1;
        }
        assert_eq!((n, c.entries()), (48, 48));
        // Every address is found, with junk after the IPv4 address ignored.
        let mut junk = a(5);
        junk.0[9] = 0xee;
        let i = c.find(&heads, &slab, &junk).unwrap();
        assert_eq!(slab.get(i).unwrap().data, 5);
        // Within a bucket the newest comes first.
        let mut order = Vec::new();
        c.for_each(&heads, &slab, |b, e| order.push((b, e.data)));
        for w in order.windows(2) {
            assert!(
                w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 > w[1].1),
                "{order:?}"
            );
        }
        // Removing from the middle of a chain keeps the rest.
        let mid = c.find(&heads, &slab, &a(20)).unwrap();
        assert_eq!(
            c.remove(&mut heads, &mut slab, mid).map(|e| e.data),
            Some(20)
        );
        assert_eq!(c.find(&heads, &slab, &a(20)), None);
        assert!((0..48)
            .filter(|&i| i != 20)
            .all(|i| c.find(&heads, &slab, &a(i)).is_some()));
        assert_eq!(c.entries(), 47);
        let mut freed = 0;
        c.flush(&mut heads, &mut slab, |_| freed += 1);
        assert_eq!((freed, c.entries(), heads), (47, 0, [NIL; 2]));
    }

    #[test]
    fn expiry_runs_like_the_c_timer() {
        let mut c = Chains::new(Family::Ipv4, 1).unwrap();
        let mut heads = [NIL; 2];
        let mut store: Vec<Slot<Entry<()>>> = vec![Slot::Free(0); 64];
        let mut slab = SlotSlab::with_free_slots(&mut store[..]);
        for i in 0..40u8 {
            c.insert(
                &mut heads,
                &mut slab,
                &InetAddr::from_ipv4([1, 2, 3, i]),
                u64::from(i),
                (),
            )
            .unwrap();
        }
        // Over max_size (32): drop entries idle for the timeout (here 30: those used at
        // 0..=10 at time 40) until 4/3 of the excess (10) are gone, bucket by bucket from 1;
        // bucket 1 alone is not enough, so the pass ends in bucket 0.
        let mut gone = 0;
        c.check_expire(&mut heads, &mut slab, 40, 1000, 30, |_| gone += 1);
        assert_eq!((gone, c.entries(), c.rover(), c.counter()), (11, 29, 0, 1));
        // Under max_size: only the counter moves, until the 30th run checks everything
        // against the expiration.
        for k in 2..30 {
            c.check_expire(&mut heads, &mut slab, 50, 1000, 30, |_| gone += 1);
            assert_eq!(c.counter(), k);
        }
        c.check_expire(&mut heads, &mut slab, 50, 1000, 30, |_| gone += 1);
        assert_eq!((c.entries(), c.counter()), (29, 30));
        c.check_expire(&mut heads, &mut slab, 60, 30, 30, |_| gone += 1);
        // Used at 11..=39, expiration 30 at time 60: 11..=30 go.
        assert_eq!((gone, c.entries(), c.counter(), c.rover()), (31, 9, 1, 0));
    }
}
