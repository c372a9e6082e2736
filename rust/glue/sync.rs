// SPDX-License-Identifier: GPL-2.0
//! Bottom halves and locks for state the packet path, timers and process context share.
//!
//! C headers: include/linux/bottom_half.h, include/linux/spinlock.h (wrapped in
//! rust/dp_glue.c).

use super::bindings;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::prelude::*;

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

/// A value behind a spinlock taken with bottom halves off, for state the packet path,
/// timers and process context all update briefly (C: `spin_lock_bh(&svc->sched_lock)`,
/// `spin_lock_bh(&stats->lock)`): a `kernel::sync::SpinLock`, so lockdep sees it (one lock
/// class per [`new_bh_lock!`](crate::new_bh_lock) site), taken after `local_bh_disable()`.
/// It is pinned: build it in place with `new_bh_lock!` inside the owner's initializer.
#[pin_data]
pub(crate) struct BhLock<T> {
    #[pin]
    inner: kernel::sync::SpinLock<T>,
}

/// Exclusive access to a [`BhLock`]'s value. The spinlock is released before bottom halves
/// are enabled again (fields drop in declaration order).
pub(crate) struct BhLockGuard<'a, T> {
    guard: kernel::sync::lock::Guard<'a, T, kernel::sync::lock::spinlock::SpinLockBackend>,
    _bh: BhGuard,
}

impl<T> BhLock<T> {
    /// A lock around `value` in the lock class `key` named `name`; see
    /// [`new_bh_lock!`](crate::new_bh_lock), which makes the class.
    pub(crate) fn new(
        value: T,
        name: &'static kernel::str::CStr,
        key: &'static kernel::sync::LockClassKey,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- kernel::sync::SpinLock::new(value, name, key),
        })
    }

    /// `spin_lock_bh()`: bottom halves off on this CPU (so the packet path here cannot spin
    /// on the lock this context holds), then the lock.
    pub(crate) fn lock(&self) -> BhLockGuard<'_, T> {
        let bh = BhGuard::new();
        BhLockGuard {
            guard: self.inner.lock(),
            _bh: bh,
        }
    }
}

impl<T> core::ops::Deref for BhLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> core::ops::DerefMut for BhLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// An initializer of a [`BhLock`] around `$value`, with a lock class of its own for this
/// call site and the name `$name` (as `kernel::new_spinlock!`).
///
/// ```ignore
/// sched <- new_bh_lock!(SvcSched { .. }, "ipvs_rs_svc_sched"),
/// ```
#[macro_export]
macro_rules! new_bh_lock {
    ($value:expr, $name:literal) => {
        $crate::glue::sync::BhLock::new(
            $value,
            ::kernel::c_str!($name),
            ::kernel::static_lock_class!(),
        )
    };
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
