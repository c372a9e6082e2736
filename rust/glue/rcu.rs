// SPDX-License-Identifier: GPL-2.0
//! RCU (read-side sections, `call_rcu()`, grace periods), sleeping and time.
//!
//! C headers: include/linux/rcupdate.h, include/linux/sched.h, include/linux/jiffies.h
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

impl RcuReadGuard {
    /// `cond_resched_rcu()`: let others run, leaving the read-side section for a moment.
    /// `&mut self` ends every borrow of an object read under the section first.
    /// Process context only.
    pub(crate) fn cond_resched(&mut self) {
        // SAFETY: plain call; the section is held (this guard) and nothing read under it is
        // in use (`&mut self`).
        unsafe { bindings::ipvs_rs_cond_resched_rcu() };
    }

    /// A guard for a section that C code entered and will leave (seq_file's `start` …
    /// `stop`); it does not unlock when dropped.
    ///
    /// # Safety
    ///
    /// The caller is inside an RCU read-side section that lasts as long as the guard.
    pub(super) unsafe fn assume_held() -> core::mem::ManuallyDrop<RcuReadGuard> {
        core::mem::ManuallyDrop::new(RcuReadGuard(()))
    }
}

impl Drop for RcuReadGuard {
    fn drop(&mut self) {
        // SAFETY: paired with the lock in `new`.
        unsafe { bindings::ipvs_rs_rcu_read_unlock() };
    }
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
#[inline]
pub(crate) fn hz() -> u32 {
    bindings::IPVS_RS_HZ
}

/// `jiffies`.
pub(crate) fn jiffies() -> u64 {
    // SAFETY: reads a kernel variable.
    unsafe { bindings::ipvs_rs_jiffies() as u64 }
}

/// A `struct rcu_head` to embed.
///
/// # Invariants
///
/// Only `call_rcu()` touches it, at most once while it is queued.
#[repr(transparent)]
pub(crate) struct RcuHead(Opaque<bindings::callback_head>);

// SAFETY: only `call_rcu()` touches it, once.
unsafe impl Sync for RcuHead {}
// SAFETY: as for `Sync`.
unsafe impl Send for RcuHead {}

impl RcuHead {
    pub(super) const fn new() -> Self {
        RcuHead(Opaque::uninit())
    }

    /// `call_rcu()`.
    ///
    /// # Safety
    ///
    /// The head is not queued already and stays in place (is not freed or moved) until
    /// `f` runs; `f` may free the object holding it.
    pub(super) unsafe fn call(&self, f: unsafe extern "C" fn(*mut bindings::callback_head)) {
        // SAFETY: per the caller.
        unsafe { bindings::ipvs_rs_call_rcu(self.0.get(), Some(f)) };
    }
}
