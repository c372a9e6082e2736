// SPDX-License-Identifier: GPL-2.0
//! Bottom halves and small locks for state the packet path, timers and process context share.
//!
//! C headers: include/linux/bottom_half.h, include/linux/spinlock.h (wrapped in
//! rust/dp_glue.c).

use super::bindings;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// `local_bh_disable()` … `local_bh_enable()`: lets process context take a lock that
/// softirqs (the packet path, timers) take too.
pub(crate) struct BhGuard(());

impl BhGuard {
    pub(crate) fn new() -> Self {
        // SAFETY: paired with the enable in `drop`; nests.
        unsafe { bindings::ipvs_rs_local_bh_disable() };
        BhGuard(())
    }
}

impl Drop for BhGuard {
    fn drop(&mut self) {
        // SAFETY: paired with the disable in `new`.
        unsafe { bindings::ipvs_rs_local_bh_enable() };
    }
}

/// A value behind a small spinlock taken with bottom halves off, for state the packet path,
/// timers and process context all update briefly (C: `spin_lock_bh(&cp->lock)`,
/// `spin_lock_bh(&stats->lock)`). Unlike `kernel::sync::SpinLock` it needs no pinning, so
/// it can live in objects built by value; it is not seen by lockdep, so critical sections
/// must stay leaf-level (take no other lock inside).
///
/// # Invariants
///
/// `value` is reached only through a [`BhSpinGuard`], and at most one guard exists at a time:
/// a guard is made only after `locked` went from `false` to `true`, and its drop sets it back.
pub(crate) struct BhSpin<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through the guard, which the lock makes exclusive (type
// invariant), so sharing the lock hands the value from thread to thread, never to two at once.
unsafe impl<T: Send> Sync for BhSpin<T> {}
// SAFETY: moving the lock moves the value with it.
unsafe impl<T: Send> Send for BhSpin<T> {}

/// Exclusive access to a [`BhSpin`]'s value.
///
/// # Invariants
///
/// This guard set `lock.locked` and is the only one of `lock`.
pub(crate) struct BhSpinGuard<'a, T> {
    lock: &'a BhSpin<T>,
    _bh: BhGuard,
}

impl<T> BhSpin<T> {
    pub(crate) const fn new(value: T) -> Self {
        BhSpin {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    pub(crate) fn lock(&self) -> BhSpinGuard<'_, T> {
        let bh = BhGuard::new();
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // INVARIANT: the exchange above took the lock.
        BhSpinGuard {
            lock: self,
            _bh: bh,
        }
    }
}

impl<T> core::ops::Deref for BhSpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference to the value exists (type
        // invariants).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> core::ops::DerefMut for BhSpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only use of the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for BhSpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// One of the 256 connection-table bucket locks (`spin_lock_bh`), held until dropped.
pub(super) struct BucketLock(u32);

impl BucketLock {
    pub(super) fn lock(hash: u32) -> Self {
        // SAFETY: the locks are initialised at module load (`init_bucket_locks`), before any
        // table use; paired with the unlock in `drop`.
        unsafe { bindings::ipvs_rs_conn_lock(hash) };
        BucketLock(hash)
    }
}

impl Drop for BucketLock {
    fn drop(&mut self) {
        // SAFETY: this guard holds lock `self.0`.
        unsafe { bindings::ipvs_rs_conn_unlock(self.0) };
    }
}

/// Initialise the bucket locks (at module load, before the table they guard is published;
/// later calls do nothing).
pub(super) fn init_bucket_locks() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    // SAFETY: the first call, from module init, before any lock is taken (the table that
    // takes them is published after this).
    unsafe { bindings::ipvs_rs_conn_locks_init() };
}

/// A `spinlock_t` taken with bottom halves off (`spin_lock_bh()`), seen by lockdep, for a
/// lock embedded in an object glue places itself (a connection entry's `cp->lock`).
///
/// # Invariants
///
/// Once [`SpinLockBh::init`] ran, the lock stays in place until it is dropped.
#[repr(transparent)]
pub(crate) struct SpinLockBh(kernel::types::Opaque<bindings::spinlock_t>);

// SAFETY: a kernel spinlock is made to be shared between contexts; it is only touched
// through the spinlock API.
unsafe impl Sync for SpinLockBh {}
// SAFETY: as for `Sync`; moved only before `init`.
unsafe impl Send for SpinLockBh {}

/// `spin_lock_bh()` … `spin_unlock_bh()` of a [`SpinLockBh`].
///
/// # Invariants
///
/// This guard holds `lock`.
pub(crate) struct SpinLockBhGuard<'a> {
    lock: &'a SpinLockBh,
}

impl SpinLockBh {
    pub(super) const fn new() -> Self {
        SpinLockBh(kernel::types::Opaque::uninit())
    }

    /// `spin_lock_init()` (one lockdep class for all the entries' locks).
    ///
    /// # Safety
    ///
    /// Called once, before [`SpinLockBh::lock`], on a lock that does not move afterwards.
    pub(super) unsafe fn init(&self) {
        // SAFETY: per the caller.
        unsafe { bindings::ipvs_rs_conn_state_lock_init(self.0.get()) };
    }

    /// Take the lock, bottom halves off (so the packet path on this CPU cannot spin on a
    /// lock its own interrupted context holds).
    pub(crate) fn lock(&self) -> SpinLockBhGuard<'_> {
        // SAFETY: initialised and in place (the owner's invariant, see `init`); released by
        // the guard.
        unsafe { bindings::ipvs_rs_spin_lock_bh(self.0.get()) };
        // INVARIANT: locked above.
        SpinLockBhGuard { lock: self }
    }
}

impl Drop for SpinLockBhGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this guard holds the lock (type invariant).
        unsafe { bindings::ipvs_rs_spin_unlock_bh(self.lock.0.get()) };
    }
}
