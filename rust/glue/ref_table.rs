// SPDX-License-Identifier: GPL-2.0
//! An RCU hash table of reference-counted entries that expire by their own timer: the shape
//! of C's connection table (`ip_vs_conn_tab` and `struct ip_vs_conn`'s `c_list`, `refcnt`,
//! `timer`, `rcu_head`, `control`, `n_control`; net/netfilter/ipvs/ip_vs_conn.c).
//!
//! C headers: include/linux/rculist.h, include/linux/timer.h, include/linux/rcupdate.h
//!
//! The table owns every entry's memory: [`RefTable::insert`] allocates it, and only the
//! [`Unlinked`] token of a successful [`Node::unlink`] frees it, with `call_rcu()`. The
//! lifetime protocol, as in C:
//! - readers walk a bucket under RCU without locks ([`RefTable::find`] and the walks take an
//!   [`RcuReadGuard`]) and take a reference with an increment-if-not-zero;
//! - writers (insert, unlink) hold the bucket's lock ([`BucketLock`], `spin_lock_bh`);
//! - the table's reference belongs to the entry's timer: whoever runs the expiry (the timer,
//!   or whoever deleted the pending timer) unlinks the entry with a 1 → 0 exchange of
//!   `refcnt` when nobody else holds it, then deletes the timer (a holder may have re-armed
//!   it before letting go) and frees the entry after a grace period;
//! - only holders of a counted reference ([`NodeRef`]) arm the timer; [`Node::expire_now`]
//!   moves a pending timer only. So after the unlink nobody can arm it again, and a callback
//!   still running is an RCU reader the grace period waits for;
//! - an entry controls others (persistence templates): `n_control` counts them; an entry is
//!   not unlinked while it controls one, and a controlled entry gives its count back only
//!   once it is unlinked itself ([`Unlinked::control_del`]), so `control` stays readable as
//!   long as the controlled entry is.
//!
//! - an entry may be inserted without a chain ([`Link::Unlinked`], C's one-packet
//!   connections, which `ip_vs_conn_hash()` leaves out): counted, referenced and expired as
//!   the others, but no lookup or walk finds it, and when its last holder lets it go with
//!   the timer idle, the drop runs the expiry at once (C's `ip_vs_conn_put()`: "expire
//!   connection immediately").
//!
//! Hence every `&Node` handed out is valid: from a [`NodeRef`] (a counted reference: not
//! unlinked meanwhile), from a walk (bounded by its read guard: freed only a grace period
//! after an unlink that came after the walk found it), or to the timer callback (an RCU
//! reader, started before the final timer deletion).

use super::bindings;
use super::pernet::Net;
use super::rcu::{self, RcuHead, RcuReadGuard};
use super::sync::{self, BucketLock, SpinLockBh, SpinLockBhGuard};
use super::timer::Timer;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use kernel::prelude::*;

/// `conn_tab_bits`, the module parameter sizing the connection table (clamped to 8..=20).
pub(crate) fn conn_tab_bits() -> u32 {
    // SAFETY: a plain read of the module parameter.
    (unsafe { bindings::ipvs_rs_conn_tab_bits() }) as u32
}

/// What an entry type does at the two points the table's protocol leaves to it.
pub(crate) trait RefEntry: Sized + Send + Sync + 'static {
    /// The table the entries of this type live in.
    fn table() -> &'static RefTable<Self>;

    /// The timer fired (C: `ip_vs_conn_expire()`), in softirq context.
    fn expire(node: &Node<Self>);

    /// A counted reference is being dropped (C: `ip_vs_conn_put()`), before the count goes
    /// down: the holder may re-arm the timer here.
    fn put(node: &NodeRef<Self>);
}

/// The number of entries an owner (a namespace) has in a table, which the owner waits to
/// drain before it goes (C: `ipvs->conn_count`), and the owner's namespace.
///
/// # Invariants
///
/// Entries point to their census; it is not dropped while it counts any (`drop` waits) and
/// stays in place meanwhile (it lives inside the namespace state, which is built in place,
/// pinned, before the namespace's hooks can create entries). `net` is the namespace whose
/// state holds the census, which outlives it.
pub(crate) struct Census {
    count: AtomicI32,
    net: AtomicPtr<bindings::net>,
}

impl Census {
    /// The census of `net`'s state, which holds it.
    pub(crate) fn new(net: &Net) -> Self {
        // INVARIANT: the caller's namespace state holds the census.
        Census {
            count: AtomicI32::new(0),
            net: AtomicPtr::new(net.as_ptr()),
        }
    }

    /// Live entries (Acquire: the frees queued before the count fell are visible).
    pub(crate) fn count(&self) -> i32 {
        self.count.load(Ordering::Acquire)
    }

    /// `ip_vs_conn_drop_conntrack()`: drop the conntrack entry of a connection of this
    /// census's namespace (`family` as `AF_*`; the helper reads 16 bytes of each address).
    pub(crate) fn drop_conntrack(
        &self,
        af: i32,
        protocol: u8,
        caddr: &[u8; 16],
        cport: u16,
        vaddr: &[u8; 16],
        vport: u16,
    ) {
        let net = self.net.load(Ordering::Relaxed);
        if net.is_null() {
            return;
        }
        // SAFETY: `net` is alive while its state (holding `self`) is (type invariant); the
        // addresses are 16 readable bytes.
        unsafe {
            bindings::ipvs_rs_drop_conntrack(
                net,
                af,
                protocol,
                caddr.as_ptr().cast(),
                cport.to_be(),
                vaddr.as_ptr().cast(),
                vport.to_be(),
            )
        };
    }
}

impl Drop for Census {
    fn drop(&mut self) {
        // The owner flushed its entries already (C: `ip_vs_conn_flush()`); this only makes
        // sure no entry is left pointing here.
        while self.count.load(Ordering::Acquire) > 0 {
            rcu::msleep(10);
        }
    }
}

/// How many entries an entry controls (`n_control`); read-only outside this file.
pub(crate) struct ControlCount(AtomicI32);

impl ControlCount {
    pub(crate) fn load(&self, order: Ordering) -> i32 {
        self.0.load(order)
    }
}

/// One entry: the table's links and counts around the entry's value.
///
/// # Invariants
///
/// Allocated by [`RefTable::insert`] as a `KBox` leaked into the table; freed only by the
/// RCU callback the [`Unlinked`] token of its unlink queues (see the module doc for why
/// every `&Node` outlives that). `timer` and `lock` are set up. `control`, when set, points to an entry
/// whose `n_control` this one holds one of until [`Unlinked::control_del`]. `census` counts
/// this entry until its free is queued.
#[repr(C)]
pub(crate) struct Node<T: RefEntry> {
    timer: Timer,
    rcu: RcuHead,
    next: AtomicPtr<Node<T>>,
    refcnt: AtomicU32,
    hashed: AtomicBool,
    /// In a chain (else a one-packet entry: see [`Link::Unlinked`]).
    linked: bool,
    hash: u32,
    control: AtomicPtr<Node<T>>,
    /// How many entries this one controls.
    pub(crate) n_control: ControlCount,
    census: NonNull<Census>,
    /// `cp->lock`, for the entry type's own use ([`Node::lock_state`]).
    lock: SpinLockBh,
    value: T,
}

// SAFETY: the value is `Send + Sync`; the links are atomics and kernel objects made for
// concurrent use; `census` is only read (type invariants keep it valid).
unsafe impl<T: RefEntry> Send for Node<T> {}
// SAFETY: see `Send`.
unsafe impl<T: RefEntry> Sync for Node<T> {}

impl<T: RefEntry> core::ops::Deref for Node<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: RefEntry> Node<T> {
    /// The entry's census (its owner's count and namespace).
    pub(crate) fn census(&self) -> &Census {
        // SAFETY: the census outlives the entries it counts (type invariants).
        unsafe { self.census.as_ref() }
    }

    /// Lock the entry's own lock (C: `spin_lock_bh(&cp->lock)`, which serialises protocol
    /// state changes), bottom halves off.
    pub(crate) fn lock_state(&self) -> SpinLockBhGuard<'_> {
        self.lock.lock()
    }

    /// Whether the entry still is in the table (C: `IP_VS_CONN_F_HASHED`); never for an
    /// entry inserted without a chain.
    pub(crate) fn is_hashed(&self) -> bool {
        self.linked && self.hashed.load(Ordering::Relaxed)
    }

    /// When the timer expires (jiffies).
    pub(crate) fn expires(&self) -> u64 {
        self.timer.expires()
    }

    /// Whether the timer is armed.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn timer_pending(&self) -> bool {
        self.timer.pending()
    }

    /// `timer_delete()`: whether it was pending. Whoever deletes a pending timer owns the
    /// expiry the timer would have run.
    pub(crate) fn delete_timer(&self) -> bool {
        self.timer.delete()
    }

    /// `ip_vs_conn_expire_now()`: if the timer is pending and due later, make it due now. `mod_timer_pending()`, as in C: a timer that is not pending is never armed, so an
    /// entry whose final expiry already deleted its timer (it is dying) is never re-armed.
    pub(crate) fn expire_now(&self) {
        let now = rcu::jiffies();
        // time_after(timer.expires, now)
        if self.timer.pending() && (now.wrapping_sub(self.timer.expires()) as i64) < 0 {
            self.timer.modify_pending(now);
        }
    }

    /// The entry controlling this one (C: `cp->control`).
    pub(crate) fn control(&self) -> Option<&Node<T>> {
        let p = self.control.load(Ordering::Acquire);
        // SAFETY: a controlling entry is not unlinked, so not freed, while this one holds
        // one of its `n_control`, which it gives back only once unlinked itself; `&self`
        // is bounded by a reference, a walk or the timer callback that began before that
        // (module doc).
        unsafe { p.as_ref() }
    }

    /// Try to take a reference (`__ip_vs_conn_get()`): fails once the entry is dying.
    pub(crate) fn try_get(&self) -> Option<NodeRef<T>> {
        self.refcnt
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |r| {
                if r == 0 {
                    None
                } else {
                    Some(r.wrapping_add(1))
                }
            })
            .ok()?;
        // INVARIANT: the update took a reference.
        Some(NodeRef(NonNull::from(self)))
    }

    /// Take `me` out of the chain starting at `bucket`, whose lock the caller holds.
    fn remove_from_chain(bucket: &AtomicPtr<Node<T>>, me: &Node<T>) {
        let mut link = bucket;
        loop {
            let p = link.load(Ordering::Relaxed);
            if p.is_null() {
                return;
            }
            if ptr::eq(p, me) {
                link.store(me.next.load(Ordering::Relaxed), Ordering::Release);
                return;
            }
            // SAFETY: entries in the chain are alive while we hold the bucket lock (only
            // unlinking, under this lock, starts their end).
            link = unsafe { &(*p).next };
        }
    }

    /// `ip_vs_conn_unlink()`: unlink the entry if nobody but the table holds it and it
    /// controls no entry; then delete its timer (a holder that let go just before may have
    /// re-armed it). The token frees the entry after a grace period.
    pub(crate) fn unlink(&self) -> Option<Unlinked<'_, T>> {
        let b = T::table().buckets();
        let bucket = b.get(self.hash as usize & b.len().wrapping_sub(1))?;
        {
            let _lock = BucketLock::lock(self.hash);
            if !self.hashed.load(Ordering::Relaxed)
                || self
                    .refcnt
                    .compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
            {
                return None;
            }
            // Nobody holds it now, so nobody can start controlling it (that takes a
            // reference, released after the count went up): a count seen here is final.
            if self.n_control.0.load(Ordering::Relaxed) != 0 {
                self.refcnt.store(1, Ordering::Relaxed);
                return None;
            }
            if self.linked {
                Self::remove_from_chain(bucket, self);
            }
            self.hashed.store(false, Ordering::Relaxed);
        }
        self.timer.delete();
        // INVARIANT: unlinked with `refcnt` 0, once (`hashed` is now false for good).
        Some(Unlinked {
            node: self,
            control_held: true,
        })
    }
}

/// A counted reference to an entry (`ip_vs_conn_get()` … `ip_vs_conn_put()`).
///
/// # Invariants
///
/// Holds one of the entry's references, so the entry is not unlinked or freed meanwhile.
pub(crate) struct NodeRef<T: RefEntry>(NonNull<Node<T>>);

// SAFETY: a reference to a `Sync` entry.
unsafe impl<T: RefEntry> Send for NodeRef<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: RefEntry> Sync for NodeRef<T> {}

impl<T: RefEntry> core::ops::Deref for NodeRef<T> {
    type Target = Node<T>;
    fn deref(&self) -> &Node<T> {
        // SAFETY: the reference keeps the entry alive (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl<T: RefEntry> NodeRef<T> {
    /// `mod_timer()`: (re)arm the entry's timer for `expires` (jiffies). Only holders arm it.
    pub(crate) fn arm_timer(&self, expires: u64) -> bool {
        self.timer.modify(expires)
    }

    /// `__ip_vs_conn_put()`: drop the reference without the [`RefEntry::put`] hook.
    pub(crate) fn put_no_rearm(self) {
        self.refcnt.fetch_sub(1, Ordering::Release);
        core::mem::forget(self);
    }

    /// Drop the reference (with the hook) and keep reading the entry inside `rcu`'s
    /// read-side section, as a walk would.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn put_under<'g>(self, _rcu: &'g RcuReadGuard) -> &'g Node<T> {
        let p = self.0;
        drop(self);
        // SAFETY: the entry was linked while the section was held (we had a reference), so
        // it is freed only a grace period after an unlink that comes after this point.
        unsafe { p.as_ref() }
    }

    /// [`NodeRef::put_no_rearm`], keeping the entry readable as [`NodeRef::put_under`].
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn put_no_rearm_under<'g>(self, _rcu: &'g RcuReadGuard) -> &'g Node<T> {
        let p = self.0;
        self.put_no_rearm();
        // SAFETY: as in `put_under`.
        unsafe { p.as_ref() }
    }
}

impl<T: RefEntry> Drop for NodeRef<T> {
    fn drop(&mut self) {
        // An entry without a chain whose last holder this is, its timer idle: expire it now
        // (C's `ip_vs_conn_put()` for one-packet connections). Nobody can find it to take a
        // reference meanwhile; if someone holds one anyway (`control`), the unlink of the
        // expiry fails and the expiry retries later, as for any held entry.
        if !self.linked && self.refcnt.load(Ordering::Acquire) == 2 && !self.timer.pending() {
            let rcu = RcuReadGuard::new();
            let node = self.0;
            self.refcnt.fetch_sub(1, Ordering::Release);
            // SAFETY: the table's reference (the expiry's to give up) keeps the entry alive
            // until an unlink, after which it is freed only after a grace period, and this
            // read-side section started before.
            T::expire(unsafe { node.as_ref() });
            drop(rcu);
            return;
        }
        T::put(self);
        self.refcnt.fetch_sub(1, Ordering::Release);
    }
}

/// An entry just unlinked for good, with `refcnt` 0: nobody holds it, no new reader finds
/// it. Dropping the token queues its free after a grace period and only then takes it off
/// its census, so an owner that waited for its census to drain and then for `rcu_barrier()`
/// knows every free ran (C decrements `conn_count` after `call_rcu()` too).
///
/// # Invariants
///
/// `node` was unlinked by the [`Node::unlink`] that made this token; the only token for it.
pub(crate) struct Unlinked<'a, T: RefEntry> {
    node: &'a Node<T>,
    control_held: bool,
}

impl<T: RefEntry> Unlinked<'_, T> {
    /// `ip_vs_control_del()`: give back the count this entry held on its controlling
    /// entry; the count left, or `None` without one.
    pub(crate) fn control_del(&mut self) -> Option<i32> {
        if !core::mem::replace(&mut self.control_held, false) {
            return None;
        }
        let ct = self.node.control()?;
        Some(
            ct.n_control
                .0
                .fetch_sub(1, Ordering::Relaxed)
                .wrapping_sub(1),
        )
    }
}

impl<T: RefEntry> Drop for Unlinked<'_, T> {
    fn drop(&mut self) {
        self.control_del();
        let node = self.node;
        // SAFETY: unlinked with refcnt 0 and its timer deleted (nobody arms it again); the
        // head is queued once (this token is the only one, type invariant) and the entry
        // stays in place until the callback, which frees it.
        unsafe { node.rcu.call(free_node::<T>) };
        // The callback runs after a grace period, and `node` is read by RCU readers only,
        // this one included, so the census is still readable here.
        node.census().count.fetch_sub(1, Ordering::Release);
    }
}

/// The `call_rcu()` callback of an unlinked entry: free it.
///
/// # Safety
///
/// `head` is the `rcu` field of a `Node<T>` queued by [`Unlinked`]'s drop.
unsafe extern "C" fn free_node<T: RefEntry>(head: *mut bindings::callback_head) {
    let off = core::mem::offset_of!(Node<T>, rcu);
    // SAFETY: `head` is the `rcu` field of a `Node<T>` leaked from a `KBox` in `insert` and
    // unlinked for good; this is its only release (type invariants).
    drop(unsafe { KBox::from_raw(head.cast::<u8>().sub(off).cast::<Node<T>>()) });
}

/// The timer callback of every entry: [`RefEntry::expire`].
///
/// # Safety
///
/// `t` is the `timer` field of a `Node<T>`, set up by [`RefTable::insert`].
unsafe extern "C" fn timer_fired<T: RefEntry>(t: *mut bindings::timer_list) {
    let off = core::mem::offset_of!(Node<T>, timer);
    // SAFETY: the timer is the `timer` field of a live `Node<T>` (`insert` set it up; an
    // entry is freed only a grace period after its timer was deleted for good, and this
    // softirq is an RCU reader).
    let node = unsafe { &*t.cast::<u8>().sub(off).cast::<Node<T>>() };
    T::expire(node);
}

/// Where a position-based reader (`/proc/net/ip_vs_conn`) is: the bucket, and how many
/// accepted entries of that bucket it has passed. Resuming walks one bucket, not the table
/// (entries added or removed in that bucket meanwhile may make one line show twice or not
/// at all, as in C).
#[derive(Clone, Copy, Default)]
pub(crate) struct Cursor {
    bucket: usize,
    offset: usize,
}

/// Whether [`RefTable::insert`] puts the entry in its chain.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// In the chain of its hash: found by lookups and walks (C: `ip_vs_conn_hash()`).
    Chained,
    /// In no chain (C's one-packet connections, `IP_VS_CONN_F_ONE_PACKET`): only its
    /// creator reaches it, and it expires when the last reference goes with its timer idle.
    Unlinked,
}

/// The bucket array, allocated at module load by [`RefTable::alloc`].
pub(crate) struct RefTable<T: RefEntry> {
    buckets: AtomicPtr<AtomicPtr<Node<T>>>,
    len: AtomicUsize,
    seed: AtomicU32,
}

/// Ownership of a [`RefTable`]'s bucket array: dropped at module unload, after every
/// namespace has flushed its entries.
pub(crate) struct TableAlloc<T: RefEntry + 'static>(&'static RefTable<T>);

impl<T: RefEntry> RefTable<T> {
    pub(crate) const fn new() -> Self {
        RefTable {
            buckets: AtomicPtr::new(ptr::null_mut()),
            len: AtomicUsize::new(0),
            seed: AtomicU32::new(0),
        }
    }

    /// Allocate `1 << bits` buckets and a random seed.
    pub(crate) fn alloc(&'static self, bits: u32) -> Result<TableAlloc<T>> {
        sync::init_bucket_locks();
        let len = 1usize << bits;
        let mut v: KVVec<AtomicPtr<Node<T>>> = KVVec::with_capacity(len, GFP_KERNEL)?;
        for _ in 0..len {
            v.push(AtomicPtr::new(ptr::null_mut()), GFP_KERNEL)?;
        }
        let (p, _, _) = v.into_raw_parts();
        self.seed.store(super::random::u32(), Ordering::Relaxed);
        self.len.store(len, Ordering::Relaxed);
        self.buckets.store(p, Ordering::Release);
        Ok(TableAlloc(self))
    }

    /// The number of buckets (`ip_vs_conn_tab_size`).
    pub(crate) fn size(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// The table's random seed, for the entry type's hash.
    pub(crate) fn seed(&self) -> u32 {
        self.seed.load(Ordering::Relaxed)
    }

    fn buckets(&self) -> &[AtomicPtr<Node<T>>] {
        let p = self.buckets.load(Ordering::Acquire);
        if p.is_null() {
            return &[];
        }
        // SAFETY: set in `alloc` to an array of `len` buckets that lives until the module
        // unloads, after every user is gone.
        unsafe { core::slice::from_raw_parts(p, self.len.load(Ordering::Relaxed)) }
    }

    fn bucket(&self, hash: u32) -> Option<&AtomicPtr<Node<T>>> {
        let b = self.buckets();
        b.get(hash as usize & b.len().wrapping_sub(1))
    }

    /// The entries of one chain, from `first`, bounded by the read guard.
    fn chain<'g>(first: &AtomicPtr<Node<T>>, _rcu: &'g RcuReadGuard) -> Chain<'g, T> {
        Chain {
            p: first.load(Ordering::Acquire),
            _rcu: core::marker::PhantomData,
        }
    }

    /// Walk the bucket of `hash` under RCU, returning a reference to the first entry `pred`
    /// accepts that is still alive.
    pub(crate) fn find(&self, hash: u32, pred: impl Fn(&Node<T>) -> bool) -> Option<NodeRef<T>> {
        let bucket = self.bucket(hash)?;
        let rcu = RcuReadGuard::new();
        Self::chain(bucket, &rcu)
            .filter(|c| pred(c))
            .find_map(|c| c.try_get())
    }

    /// `ip_vs_conn_new()`'s allocation and `ip_vs_conn_hash()`: a new entry with `value`,
    /// counted by `census`, referenced by the caller and by the table (whose reference its
    /// timer owns; the caller's `put` arms it), in the chain of `hash` or in none (`link`).
    /// `init` runs on the entry before it is published; `control` (held by the caller)
    /// becomes its controlling entry.
    pub(crate) fn insert(
        &self,
        census: &Census,
        hash: u32,
        link: Link,
        value: T,
        control: Option<&NodeRef<T>>,
        init: impl FnOnce(&Node<T>),
    ) -> Result<NodeRef<T>> {
        let Some(bucket) = self.bucket(hash) else {
            return Err(ENODEV);
        };
        let node = KBox::new(
            Node {
                timer: Timer::new(),
                rcu: RcuHead::new(),
                next: AtomicPtr::new(ptr::null_mut()),
                // The caller's reference and the table's.
                refcnt: AtomicU32::new(2),
                hashed: AtomicBool::new(true),
                linked: link == Link::Chained,
                hash,
                control: AtomicPtr::new(ptr::null_mut()),
                n_control: ControlCount(AtomicI32::new(0)),
                census: NonNull::from(census),
                lock: SpinLockBh::new(),
                value,
            },
            GFP_ATOMIC,
        )?;
        let node: &Node<T> = KBox::leak(node);
        // SAFETY: first use of the timer, which stays in place until the entry is freed, a
        // grace period after it was deleted for good; the callback recovers the entry.
        unsafe { node.timer.setup(timer_fired::<T>) };
        // SAFETY: first use of the lock, which stays in place with the entry.
        unsafe { node.lock.init() };
        init(node);
        if let Some(ct) = control {
            // ip_vs_control_add(); `ct` is held, so not unlinked while its count goes up.
            ct.n_control.0.fetch_add(1, Ordering::Relaxed);
            node.control
                .store(ptr::from_ref::<Node<T>>(ct).cast_mut(), Ordering::Release);
        }
        census.count.fetch_add(1, Ordering::Relaxed);
        if link == Link::Chained {
            let _lock = BucketLock::lock(hash);
            node.next
                .store(bucket.load(Ordering::Relaxed), Ordering::Relaxed);
            // Publish the initialised entry (rcu_assign_pointer()).
            bucket.store(ptr::from_ref(node).cast_mut(), Ordering::Release);
        }
        // INVARIANT: refcnt includes the caller's reference.
        Ok(NodeRef(NonNull::from(node)))
    }

    /// Calls `f` on every entry `pred` accepts, one bucket per RCU read-side section, and lets
    /// others run between buckets (C: `cond_resched_rcu()`), so a table of millions of
    /// entries does not stall a CPU. Process context only.
    pub(crate) fn for_each(&self, pred: impl Fn(&Node<T>) -> bool, mut f: impl FnMut(&Node<T>)) {
        for bucket in self.buckets() {
            {
                let rcu = RcuReadGuard::new();
                Self::chain(bucket, &rcu)
                    .filter(|c| pred(c))
                    .for_each(&mut f);
            }
            rcu::cond_resched();
        }
    }

    /// Calls `f` on the entries of bucket `index` (modulo the size) under one read-side
    /// section; `f` may unlink them. Then lets others run (process context only).
    pub(crate) fn for_bucket(&self, index: usize, mut f: impl FnMut(&Node<T>)) {
        let b = self.buckets();
        let Some(bucket) = b.get(index & b.len().wrapping_sub(1)) else {
            return;
        };
        {
            let rcu = RcuReadGuard::new();
            Self::chain(bucket, &rcu).for_each(&mut f);
        }
        rcu::cond_resched();
    }

    /// The entry `pred` accepts at `cur`, or, when its bucket has no more, the first one of
    /// a following bucket (`cur` moves there). `None` at the end of the table. May leave
    /// the read-side section between buckets (`cond_resched_rcu()`), which `&mut rcu` rules
    /// out while an entry found earlier is in use.
    pub(crate) fn seek<'g>(
        &self,
        rcu: &'g mut RcuReadGuard,
        cur: &mut Cursor,
        pred: impl Fn(&Node<T>) -> bool,
    ) -> Option<&'g Node<T>> {
        let b = self.buckets();
        while let Some(bucket) = b.get(cur.bucket) {
            let mut seen = 0;
            let mut p = bucket.load(Ordering::Acquire);
            // SAFETY: (loop) entries reachable from a bucket under RCU are not freed before
            // the read-side section ends (unlinked first, freed after a grace period).
            while let Some(c) = unsafe { p.as_ref() } {
                if pred(c) {
                    if seen == cur.offset {
                        return Some(c);
                    }
                    seen = seen.wrapping_add(1);
                }
                p = c.next.load(Ordering::Acquire);
            }
            cur.bucket = cur.bucket.wrapping_add(1);
            cur.offset = 0;
            rcu.cond_resched();
        }
        None
    }

    /// The entry `pred` accepts after `c`, which [`RefTable::seek`] or
    /// [`RefTable::seek_next`] returned at `cur` within this read-side section.
    pub(crate) fn seek_next<'g>(
        &self,
        rcu: &'g mut RcuReadGuard,
        cur: &mut Cursor,
        c: &Node<T>,
        pred: impl Fn(&Node<T>) -> bool,
    ) -> Option<&'g Node<T>> {
        let mut p = c.next.load(Ordering::Acquire);
        // SAFETY: (loop) see `seek`; `c` was found under this section, so its successors are
        // readable in it.
        while let Some(n) = unsafe { p.as_ref() } {
            if pred(n) {
                cur.offset = cur.offset.wrapping_add(1);
                return Some(n);
            }
            p = n.next.load(Ordering::Acquire);
        }
        cur.bucket = cur.bucket.wrapping_add(1);
        cur.offset = 0;
        self.seek(rcu, cur, pred)
    }
}

/// The entries of one chain, read under RCU.
struct Chain<'g, T: RefEntry> {
    p: *mut Node<T>,
    _rcu: core::marker::PhantomData<&'g RcuReadGuard>,
}

impl<'g, T: RefEntry> Iterator for Chain<'g, T> {
    type Item = &'g Node<T>;
    fn next(&mut self) -> Option<&'g Node<T>> {
        // SAFETY: entries reachable from a bucket under RCU are not freed before the
        // read-side section `'g` ends (unlinked first, freed after a grace period); an
        // entry unlinked meanwhile keeps its `next`.
        let c = unsafe { self.p.as_ref() }?;
        self.p = c.next.load(Ordering::Acquire);
        Some(c)
    }
}

impl<T: RefEntry> Drop for TableAlloc<T> {
    fn drop(&mut self) {
        let t = self.0;
        let p = t.buckets.swap(ptr::null_mut(), Ordering::AcqRel);
        let len = t.len.swap(0, Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: `p`/`len` came from `into_raw_parts` of a `KVVec` of exactly `len`
            // elements and capacity `len`; all namespaces are gone, so no entry and no
            // reader is left.
            drop(unsafe { KVVec::from_raw_parts(p, len, len) });
        }
    }
}
