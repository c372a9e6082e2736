// SPDX-License-Identifier: GPL-2.0
//! A resizable RCU hash table of `Arc`-shared entries with one writer: the service table
//! (`ip_vs_svc_table` / `ip_vs_svc_fwm_table` of net/netfilter/ipvs/ip_vs_ctl.c, made per
//! namespace and resizable as upstream's newest design does).
//!
//! C headers: include/linux/rculist.h, include/linux/rcupdate.h
//!
//! Readers find entries under RCU ([`ArcTable::find`]) without locks; the single
//! [`ArcTableWriter`] (whose owner serialises its users, e.g. with a mutex) inserts, removes
//! and resizes. The table holds one `Arc` reference per linked entry and gives it back a
//! grace period after the entry is unlinked (`call_rcu()`).
//!
//! Resizing without stopping readers: every entry has two chain links. A table uses the
//! links of its generation; growing builds the next table through the other links while
//! readers keep walking the current one, publishes it, and waits for a grace period before
//! the old table (and so the old links) can be reused.
//!
//! Each generation's links are an hlist's (`next` and `pprev`): the writer unlinks in O(1)
//! however long the chain. Entries with equal keys share a chain (the real servers of 50k
//! services that all forward to one pod), and a singly-linked chain made removing them
//! O(n²): a flush of 50k such services took 8 s, C's hlist_del_rcu() 0.7 s.

use super::rcu::{self, RcuHead, RcuReadGuard};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// The chain links, RCU head and hash an entry embeds (declared with [`impl_has_links!`]).
///
/// # Invariants
///
/// `state` goes `NEW` → `LINKED` (by the writer's insert, which gives the table an `Arc`
/// reference) → `REMOVED` (by its remove, which queues the release of that reference), and
/// never back; so the RCU head is queued at most once.
pub(crate) struct Links<T> {
    next: [AtomicPtr<T>; 2],
    /// Per generation, the link that points to this entry (a bucket head or the previous
    /// entry's `next`): `hlist_node.pprev`. Null while unchained. Written and read by the
    /// writer only.
    pprev: [AtomicPtr<AtomicPtr<T>>; 2],
    rcu: RcuHead,
    hash: u32,
    state: AtomicU8,
}

const NEW: u8 = 0;
const LINKED: u8 = 1;
const REMOVED: u8 = 2;

impl<T> Links<T> {
    /// Links for an entry whose key hashes to `hash` (without the table's seed).
    pub(crate) const fn new(hash: u32) -> Self {
        Links {
            next: [
                AtomicPtr::new(ptr::null_mut()),
                AtomicPtr::new(ptr::null_mut()),
            ],
            pprev: [
                AtomicPtr::new(ptr::null_mut()),
                AtomicPtr::new(ptr::null_mut()),
            ],
            rcu: RcuHead::new(),
            hash,
            state: AtomicU8::new(NEW),
        }
    }

    /// The chain link of table generation `gen` (0 or 1).
    fn link(&self, gen: usize) -> &AtomicPtr<T> {
        let [a, b] = &self.next;
        if gen & 1 == 0 {
            a
        } else {
            b
        }
    }

    /// The back link of table generation `gen` (0 or 1).
    fn pprev(&self, gen: usize) -> &AtomicPtr<AtomicPtr<T>> {
        let [a, b] = &self.pprev;
        if gen & 1 == 0 {
            a
        } else {
            b
        }
    }
}

/// An entry type that embeds [`Links`] of itself.
///
/// # Safety
///
/// `OFFSET` is the offset of the field `links` returns. Implement it with
/// [`impl_has_links!`], which computes both from the field's name.
pub(crate) unsafe trait HasLinks: Sized + Send + Sync + 'static {
    const OFFSET: usize;
    fn links(&self) -> &Links<Self>;
}

/// Declares the [`Links`] field of an entry type: `impl_has_links!(Svc, links);`.
macro_rules! impl_has_links {
    ($t:ty, $field:ident) => {
        // SAFETY: `OFFSET` is the offset of the field that `links` returns.
        unsafe impl $crate::glue::arc_table::HasLinks for $t {
            const OFFSET: usize = ::core::mem::offset_of!($t, $field);
            fn links(&self) -> &$crate::glue::arc_table::Links<$t> {
                &self.$field
            }
        }
    };
}
pub(crate) use impl_has_links;

/// Upper bound on the bucket count (2^20: 8 MiB of bucket heads).
const MAX_BUCKETS: usize = 1 << 20;

/// murmur3's finaliser, which spreads a hash and the table's seed over the buckets.
fn finish(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// One generation of the table.
///
/// # Invariants
///
/// Every entry reachable from `heads` through the links of generation `gen` is `LINKED`
/// (the table holds a reference on it) or was unlinked less than a grace period before any
/// reader that can still see this generation started.
struct Buckets<T> {
    /// Which of the entries' links chain this table.
    gen: usize,
    seed: u32,
    heads: KVVec<AtomicPtr<T>>,
}

impl<T: HasLinks> Buckets<T> {
    fn new(len: usize, gen: usize, seed: u32) -> Result<KBox<Buckets<T>>> {
        let mut heads = KVVec::with_capacity(len, GFP_KERNEL)?;
        for _ in 0..len {
            heads.push(AtomicPtr::new(ptr::null_mut()), GFP_KERNEL)?;
        }
        Ok(KBox::new(Buckets { gen, seed, heads }, GFP_KERNEL)?)
    }

    /// The chain head of `hash` (the length is a power of two, never 0: always `Some`).
    fn head(&self, hash: u32) -> Option<&AtomicPtr<T>> {
        self.heads
            .get((finish(hash ^ self.seed) as usize) & self.heads.len().wrapping_sub(1))
    }

    /// First entry of the chain of `hash` that `pred` accepts. The caller is a reader inside
    /// an RCU read-side section, or the writer; the result is valid as long as either.
    fn find(&self, hash: u32, pred: impl Fn(&T) -> bool) -> Option<&T> {
        let mut p = self.head(hash)?.load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: chained entries stay allocated until a grace period after their
            // removal (the table's reference is released by `call_rcu()`), and the caller is
            // a reader inside an RCU read-side section or the writer (type invariant).
            let s = unsafe { &*p };
            if pred(s) {
                return Some(s);
            }
            p = s.links().link(self.gen).load(Ordering::Acquire);
        }
        None
    }

    /// Link `s` at the head of its chain (writer only): `hlist_add_head_rcu()`.
    fn link(&self, s: &T) {
        let Some(head) = self.head(s.links().hash) else {
            return;
        };
        let first = head.load(Ordering::Relaxed);
        let l = s.links();
        l.link(self.gen).store(first, Ordering::Relaxed);
        l.pprev(self.gen)
            .store(ptr::from_ref(head).cast_mut(), Ordering::Relaxed);
        if !first.is_null() {
            // SAFETY: a chained entry (see `find`); the writer is the only one changing
            // chains.
            let f = unsafe { &*first };
            f.links().pprev(self.gen).store(
                ptr::from_ref(l.link(self.gen)).cast_mut(),
                Ordering::Relaxed,
            );
        }
        // rcu_assign_pointer(): the link is visible before the entry is.
        head.store(ptr::from_ref(s).cast_mut(), Ordering::Release);
    }

    /// Unlink `s` in O(1) (writer only): `hlist_del_rcu()`; whether it was chained. Its
    /// own `next` stays, so that a reader standing on it walks on.
    fn unlink(&self, s: &T) -> bool {
        let l = s.links();
        let pprev = l.pprev(self.gen).swap(ptr::null_mut(), Ordering::Relaxed);
        if pprev.is_null() {
            return false;
        }
        let next = l.link(self.gen).load(Ordering::Relaxed);
        // SAFETY: `pprev` points to the link that points to `s`: a bucket head of this
        // generation (whose heads never move: the vector is never resized) or the `next`
        // of the chained entry before `s`, which stays allocated while chained.
        unsafe { &*pprev }.store(next, Ordering::Release);
        if !next.is_null() {
            // SAFETY: a chained entry (see `find`).
            let n = unsafe { &*next };
            n.links().pprev(self.gen).store(pprev, Ordering::Relaxed);
        }
        true
    }

    /// Every chained entry (writer only).
    fn for_each(&self, mut f: impl FnMut(&T)) {
        for head in self.heads.iter() {
            let mut p = head.load(Ordering::Relaxed);
            while !p.is_null() {
                // SAFETY: as in `unlink`.
                let s = unsafe { &*p };
                p = s.links().link(self.gen).load(Ordering::Relaxed);
                f(s);
            }
        }
    }
}

/// The entries, for lookups under RCU.
///
/// # Invariants
///
/// `tab` is a live `Buckets` from `KBox::into_raw`: replaced only by the writer's `grow`,
/// which frees the old one after a grace period; freed for good in `drop`.
pub(crate) struct ArcTable<T: HasLinks> {
    tab: AtomicPtr<Buckets<T>>,
}

// SAFETY: the entries are `Send + Sync`; the table is only changed through atomics by its
// one writer.
unsafe impl<T: HasLinks> Send for ArcTable<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: HasLinks> Sync for ArcTable<T> {}

/// The right to change an [`ArcTable`]: one per table, made with it.
pub(crate) struct ArcTableWriter<T: HasLinks> {
    table: Arc<ArcTable<T>>,
    count: usize,
    load_factor: usize,
}

impl<T: HasLinks> ArcTable<T> {
    /// An empty table of `buckets` heads (a power of two) and its writer; the table doubles
    /// when it holds more than `load_factor` entries per bucket.
    pub(crate) fn with_buckets(
        buckets: usize,
        load_factor: usize,
    ) -> Result<(Arc<ArcTable<T>>, ArcTableWriter<T>)> {
        let b = Buckets::new(buckets, 0, super::random::u32())?;
        // INVARIANT: a live table from `KBox::into_raw`.
        let t = Arc::new(
            ArcTable {
                tab: AtomicPtr::new(KBox::into_raw(b)),
            },
            GFP_KERNEL,
        )?;
        Ok((
            t.clone(),
            ArcTableWriter {
                table: t,
                count: 0,
                load_factor,
            },
        ))
    }

    fn buckets(&self) -> &Buckets<T> {
        // SAFETY: always a live table (type invariant); a reader is inside an RCU read-side
        // section, the writer is the one replacing it.
        unsafe { &*self.tab.load(Ordering::Acquire) }
    }

    /// The first entry hashing to `hash` that `pred` accepts, valid inside `rcu`'s section.
    pub(crate) fn find<'a>(
        &'a self,
        _rcu: &'a RcuReadGuard,
        hash: u32,
        pred: impl Fn(&T) -> bool,
    ) -> Option<&'a T> {
        self.buckets().find(hash, pred)
    }
}

impl<T: HasLinks> ArcTableWriter<T> {
    /// The table the writer changes.
    pub(crate) fn table(&self) -> Arc<ArcTable<T>> {
        self.table.clone()
    }

    /// The first entry hashing to `hash` that `pred` accepts (no removal can happen while
    /// it is borrowed).
    pub(crate) fn find(&self, hash: u32, pred: impl Fn(&T) -> bool) -> Option<&T> {
        self.table.buckets().find(hash, pred)
    }

    /// Publish `e` (the table keeps a reference). May sleep (growing waits for a grace
    /// period). An entry is inserted once: a second insert, or one after its removal, does
    /// nothing.
    pub(crate) fn insert(&mut self, e: &Arc<T>) {
        if e.links()
            .state
            .compare_exchange(NEW, LINKED, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        if self.count
            >= self
                .table
                .buckets()
                .heads
                .len()
                .saturating_mul(self.load_factor)
        {
            self.grow();
        }
        let raw = Arc::into_raw(e.clone());
        // SAFETY: `raw` is a live entry; the reference it carries is the table's, given
        // back by `release` or `drop`.
        self.table.buckets().link(unsafe { &*raw });
        self.count = self.count.wrapping_add(1);
    }

    /// Unpublish `e`; the table's reference is dropped after a grace period.
    pub(crate) fn remove(&mut self, e: &T) {
        if e.links().state.load(Ordering::Relaxed) == LINKED && self.table.buckets().unlink(e) {
            e.links().state.store(REMOVED, Ordering::Relaxed);
            self.count = self.count.saturating_sub(1);
            // SAFETY: the entry was linked (so the table holds the reference `release`
            // drops) and is unlinked now, for good (type invariant of `Links`), so the head
            // is queued once; the reference keeps the entry in place until the callback.
            unsafe { e.links().rcu.call(release::<T>) };
        }
    }

    /// Double the bucket count: build the next generation through the other links, publish
    /// it, wait for the readers of the old one, free it. On allocation failure the table
    /// stays as it is (longer chains).
    fn grow(&mut self) {
        let old_ptr = self.table.tab.load(Ordering::Relaxed);
        // SAFETY: the writer owns the table's replacement; `old_ptr` is live.
        let old = unsafe { &*old_ptr };
        let len = old.heads.len().saturating_mul(2);
        if len > MAX_BUCKETS {
            return;
        }
        let Ok(new) = Buckets::new(len, old.gen ^ 1, old.seed) else {
            return;
        };
        old.for_each(|s| new.link(s));
        self.table.tab.store(KBox::into_raw(new), Ordering::Release);
        rcu::synchronize();
        // SAFETY: `old_ptr` came from `KBox::into_raw`, is no longer published, and the
        // grace period above waited for every reader that could still see it.
        drop(unsafe { KBox::from_raw(old_ptr) });
    }
}

/// The `call_rcu()` callback of a removed entry: drop the table's reference.
///
/// # Safety
///
/// `head` is the RCU head of the [`Links`] of an entry queued by [`ArcTableWriter::remove`].
unsafe extern "C" fn release<T: HasLinks>(head: *mut super::bindings::callback_head) {
    let off = T::OFFSET + core::mem::offset_of!(Links<T>, rcu);
    // SAFETY: `head` is the `rcu` field of the `Links` at `T::OFFSET` (the trait's contract)
    // of an entry whose table reference was turned into a raw pointer by `insert` and
    // queued once by `remove`.
    drop(unsafe { Arc::from_raw(head.cast::<u8>().sub(off).cast::<T>()) });
}

impl<T: HasLinks> Drop for ArcTable<T> {
    /// No reader (they borrow the table) and no writer (it holds a reference) is left:
    /// release the references of the entries still linked.
    fn drop(&mut self) {
        let p = self.tab.swap(ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            return;
        }
        // SAFETY: from `KBox::into_raw`, unpublished above, no reader left.
        let b = unsafe { KBox::from_raw(p) };
        for head in b.heads.iter() {
            let mut p = head.load(Ordering::Relaxed);
            while !p.is_null() {
                // SAFETY: a linked entry, alive while the table's reference is held.
                let next = unsafe { (*p).links().link(b.gen).load(Ordering::Relaxed) };
                // SAFETY: each linked entry carries the table's reference (`insert`); it is
                // not touched after this.
                drop(unsafe { Arc::from_raw(p.cast_const()) });
                p = next;
            }
        }
    }
}
