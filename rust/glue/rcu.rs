// SPDX-License-Identifier: GPL-2.0
//! RCU, bottom halves, timers and the connection-table bucket locks.
//!
//! C headers: include/linux/rcupdate.h, include/linux/bottom_half.h, include/linux/timer.h
//! (wrapped in rust/dp_glue.c).

use super::bindings;
use kernel::types::Opaque;

/// `rcu_read_lock()` … `rcu_read_unlock()` as a guard.
pub(crate) struct RcuReadGuard(());

impl RcuReadGuard {
    pub(crate) fn new() -> Self {
        // SAFETY: always allowed; paired with the unlock in `drop`.
        unsafe { bindings::ipvs_rs_rcu_read_lock() };
        RcuReadGuard(())
    }
}

impl Drop for RcuReadGuard {
    fn drop(&mut self) {
        // SAFETY: paired with the lock in `new`.
        unsafe { bindings::ipvs_rs_rcu_read_unlock() };
    }
}

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

/// One of the 256 connection-table bucket locks (`spin_lock_bh`), held until dropped.
pub(crate) struct BucketLock(u32);

impl BucketLock {
    pub(crate) fn lock(hash: u32) -> Self {
        // SAFETY: the locks are initialised at module load (`init_locks`), before any table
        // use; paired with the unlock in `drop`.
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

/// Initialise the bucket locks (once, at module load).
pub(crate) fn init_locks() {
    // SAFETY: called once from module init before any lock is taken.
    unsafe { bindings::ipvs_rs_conn_locks_init() };
}

/// `rcu_barrier()`: every `call_rcu()` callback queued so far has run.
pub(crate) fn barrier() {
    // SAFETY: process context (module exit, netns exit).
    unsafe { bindings::ipvs_rs_rcu_barrier() };
}

/// `synchronize_rcu()`.
pub(crate) fn synchronize() {
    // SAFETY: process context.
    unsafe { bindings::ipvs_rs_synchronize_rcu() };
}

/// `cond_resched()`: process context, outside any RCU read-side section or spinlock.
pub(crate) fn cond_resched() {
    // SAFETY: process context (the caller's contract, as for `msleep`).
    unsafe { bindings::ipvs_rs_cond_resched() };
}

/// `msleep()`.
pub(crate) fn msleep(ms: u32) {
    // SAFETY: process context.
    unsafe { bindings::ipvs_rs_msleep(ms) };
}

/// The kernel's `HZ` (timeouts are kept in jiffies, as in C).
pub(crate) fn hz() -> u32 {
    // SAFETY: returns a compile-time constant of the kernel.
    unsafe { bindings::ipvs_rs_hz() }
}

/// `jiffies`.
pub(crate) fn jiffies() -> u64 {
    // SAFETY: reads a kernel variable.
    unsafe { bindings::ipvs_rs_jiffies() as u64 }
}

/// A `struct rcu_head` to embed.
#[repr(transparent)]
pub(crate) struct RcuHead(Opaque<bindings::callback_head>);

// SAFETY: only `call_rcu()` touches it, once.
unsafe impl Sync for RcuHead {}
// SAFETY: as for `Sync`.
unsafe impl Send for RcuHead {}

impl RcuHead {
    pub(crate) const fn new() -> Self {
        RcuHead(Opaque::uninit())
    }

    /// `call_rcu()`.
    ///
    /// # Safety
    ///
    /// The head is not queued already and stays in place (is not freed or moved) until
    /// `f` runs; `f` may free the object holding it.
    pub(crate) unsafe fn call(&self, f: unsafe extern "C" fn(*mut bindings::callback_head)) {
        // SAFETY: per the caller.
        unsafe { bindings::ipvs_rs_call_rcu(self.0.get(), Some(f)) };
    }
}

/// A `struct timer_list` to embed.
#[repr(transparent)]
pub(crate) struct Timer(Opaque<bindings::timer_list>);

// SAFETY: the timer API is safe to call from any thread and context; the struct is only
// touched through it.
unsafe impl Sync for Timer {}
// SAFETY: as for `Sync`; a timer is moved only before `setup`.
unsafe impl Send for Timer {}

impl Timer {
    pub(crate) const fn new() -> Self {
        Timer(Opaque::uninit())
    }

    /// `timer_setup()`.
    ///
    /// # Safety
    ///
    /// Called once, before any other method, on a timer that stays in place until it is
    /// neither pending nor running.
    pub(crate) unsafe fn setup(&self, f: unsafe extern "C" fn(*mut bindings::timer_list)) {
        // SAFETY: per the caller.
        unsafe { bindings::ipvs_rs_timer_setup(self.0.get(), Some(f)) };
    }

    /// `mod_timer()`: (re)arm for `expires` (jiffies). Returns whether it was pending.
    pub(crate) fn modify(&self, expires: u64) -> bool {
        // SAFETY: set up (the owner's invariant); mod_timer() is safe in any context.
        unsafe { bindings::ipvs_rs_mod_timer(self.0.get(), expires as _) != 0 }
    }

    /// `mod_timer_pending()`: move the expiry of a pending timer to `expires`; a timer that
    /// is not pending (never armed, fired, or deleted by its owner's final expiry) stays
    /// disarmed. Returns whether it was pending.
    pub(crate) fn modify_pending(&self, expires: u64) -> bool {
        // SAFETY: set up (the owner's invariant); mod_timer_pending() is safe in any context.
        unsafe { bindings::ipvs_rs_mod_timer_pending(self.0.get(), expires as _) != 0 }
    }

    /// `timer_pending()`.
    pub(crate) fn pending(&self) -> bool {
        // SAFETY: set up (the owner's invariant); a plain read.
        unsafe { bindings::ipvs_rs_timer_pending(self.0.get()) }
    }

    /// `timer_delete()`: returns whether it was pending.
    pub(crate) fn delete(&self) -> bool {
        // SAFETY: set up (the owner's invariant).
        unsafe { bindings::ipvs_rs_timer_delete(self.0.get()) != 0 }
    }

    /// `timer->expires`.
    pub(crate) fn expires(&self) -> u64 {
        // SAFETY: set up (the owner's invariant); a plain read.
        unsafe { bindings::ipvs_rs_timer_expires(self.0.get()) as u64 }
    }
}

/// A value behind a small spinlock taken with bottom halves off, for state the packet path,
/// timers and process context all update briefly (C: `spin_lock_bh(&cp->lock)`,
/// `spin_lock_bh(&stats->lock)`). Unlike `kernel::sync::SpinLock` it needs no pinning, so
/// it can live in objects built by value; it is not seen by lockdep, so critical sections
/// must stay leaf-level (take no other lock inside).
pub(crate) struct BhSpin<T> {
    locked: core::sync::atomic::AtomicBool,
    value: core::cell::UnsafeCell<T>,
}

// SAFETY: the value is only reached through the guard, which the lock makes exclusive.
unsafe impl<T: Send> Sync for BhSpin<T> {}
// SAFETY: moving the lock moves the value with it.
unsafe impl<T: Send> Send for BhSpin<T> {}

/// Exclusive access to a [`BhSpin`]'s value.
pub(crate) struct BhSpinGuard<'a, T> {
    lock: &'a BhSpin<T>,
    _bh: BhGuard,
}

impl<T> BhSpin<T> {
    pub(crate) const fn new(value: T) -> Self {
        BhSpin { locked: core::sync::atomic::AtomicBool::new(false), value: core::cell::UnsafeCell::new(value) }
    }

    pub(crate) fn lock(&self) -> BhSpinGuard<'_, T> {
        use core::sync::atomic::Ordering;
        let bh = BhGuard::new();
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        BhSpinGuard { lock: self, _bh: bh }
    }
}

impl<T> core::ops::Deref for BhSpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference to the value exists.
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
        self.lock.locked.store(false, core::sync::atomic::Ordering::Release);
    }
}
