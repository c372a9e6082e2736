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
//! [`Lblc::schedule`], and runs [`Lblc::check_expire`] every 60 s from bind on.

use super::locality::{secs_to_jiffies, Chains, Entry, Slab, ENTRY_TIMEOUT_SECS};
use super::{indexed, wlc, Dest, Family, HeldDest, HoldDest, InetAddr};

/// A table entry of lblc: the destination address, `lastuse`, and the held destination.
pub type LblcEntry<H> = Entry<H>;

impl<H> Entry<H> {
    /// The destination the entry holds (`en->dest`); for lblcr entries, the set.
    pub const fn held(&self) -> &H {
        &self.data
    }
}

/// `is_overloaded()` of lblc and lblcr: more active connections than weight, while some
/// destination of the service has fewer than half its weight active (`int` arithmetic).
pub(crate) fn lb_overloaded<X: Dest + ?Sized, D: Dest>(dest: &X, dests: &[D]) -> bool {
    dest.active_conns() > dest.weight() && dests.iter().any(|d| d.active_conns().wrapping_mul(2) < d.weight())
}

/// The index in `dests` of the destination a handle designates.
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
}

impl Lblc {
    /// `ip_vs_lblc_init_svc()` for a service of `family`, with the kernel's `HZ` (for
    /// `ENTRY_TIMEOUT`, 6 minutes). Clear the caller's `heads` with [`Lblc::clear_heads`].
    pub fn new(family: Family, hz: u32) -> Self {
        Lblc { chains: Chains::with_default_bits(family), entry_timeout: secs_to_jiffies(ENTRY_TIMEOUT_SECS, hz) }
    }

    /// As built with `CONFIG_IP_VS_LBLC_TAB_BITS = bits` (C honours the define; tests use 2
    /// to reach the size limits); `None` outside 1..=20.
    pub fn with_tab_bits(family: Family, bits: u32, hz: u32) -> Option<Self> {
        Some(Lblc { chains: Chains::new(family, bits)?, entry_timeout: secs_to_jiffies(ENTRY_TIMEOUT_SECS, hz) })
    }

    /// Number of buckets: the length of `heads`.
    pub const fn table_len(&self) -> usize {
        self.chains.table_len()
    }

    /// Make `heads` an empty table (at bind, before the first use).
    pub fn clear_heads(&self, heads: &mut [u32]) {
        self.chains.clear_heads(heads);
    }

    /// The table's counters: `(entries, rover, counter)` of `struct ip_vs_lblc_table`.
    pub const fn counters(&self) -> (i32, i32, i32) {
        (self.chains.entries(), self.chains.rover(), self.chains.counter())
    }

    /// `ip_vs_lblc_schedule()` at time `now` (jiffies) for a packet to `daddr`
    /// (`iph->daddr`): the index of the chosen destination in `dests`, or `None`.
    ///
    /// `heads` must have [`Lblc::table_len`] entries and, with `slab`, hold only what this
    /// `Lblc` put there; anything else yields a decision without touching the table.
    pub fn schedule<D, S>(&mut self, heads: &mut [u32], slab: &mut S, dests: &[D], daddr: &InetAddr, now: u64) -> Option<usize>
    where
        D: HoldDest,
        S: Slab<LblcEntry<D::Held>>,
    {
        // First look in the cache.
        if let Some(ei) = self.chains.find(heads, slab, daddr) {
            if let Some(en) = slab.get_mut(ei) {
                en.lastuse = now;
                let held = &en.data;
                if held.available() && held.weight() > 0 && !lb_overloaded(held, dests) {
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
    fn new_entry<D, S>(&mut self, heads: &mut [u32], slab: &mut S, daddr: &InetAddr, dest: &D, now: u64)
    where
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
    /// `lblc_expiration` sysctl in jiffies. Run it 60 s (`60 * HZ`) after bind and then 60 s
    /// after each run. Dropped entries release their destinations.
    pub fn check_expire<H, S: Slab<LblcEntry<H>>>(&mut self, heads: &mut [u32], slab: &mut S, now: u64, expiration: i32) {
        self.chains.check_expire(heads, slab, now, expiration, self.entry_timeout, drop);
    }

    /// `ip_vs_lblc_flush()` (`done_service`): drop every entry, releasing its destination.
    /// Needed only if the slab outlives the binding; dropping the slab does the same.
    pub fn flush<H, S: Slab<LblcEntry<H>>>(&mut self, heads: &mut [u32], slab: &mut S) {
        self.chains.flush(heads, slab, drop);
    }

    /// Every entry, in C's bucket and chain order, with its bucket.
    pub fn for_each<H, S: Slab<LblcEntry<H>>>(&self, heads: &[u32], slab: &S, f: impl FnMut(usize, &LblcEntry<H>)) {
        self.chains.for_each(heads, slab, f);
    }
}
