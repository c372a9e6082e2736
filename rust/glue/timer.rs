// SPDX-License-Identifier: GPL-2.0
//! Timers embedded in objects that glue allocates and frees (the connection entries of
//! [`super::ref_table`]).
//!
//! C header: include/linux/timer.h (wrapped in rust/dp_glue.c).

use super::bindings;
use kernel::types::Opaque;

/// A `struct timer_list` to embed.
///
/// # Invariants
///
/// Once [`Timer::setup`] ran, the timer stays in place until it is neither pending nor
/// running (the embedding object's owner guarantees it: see `setup`'s contract).
#[repr(transparent)]
pub(crate) struct Timer(Opaque<bindings::timer_list>);

// SAFETY: the timer API is safe to call from any thread and context; the struct is only
// touched through it.
unsafe impl Sync for Timer {}
// SAFETY: as for `Sync`; a timer is moved only before `setup`.
unsafe impl Send for Timer {}

impl Timer {
    pub(super) const fn new() -> Self {
        Timer(Opaque::uninit())
    }

    /// `timer_setup()`.
    ///
    /// # Safety
    ///
    /// Called once, before any other method, on a timer that stays in place until it is
    /// neither pending nor running; `f` may rely on the timer being embedded where its
    /// owner put it.
    pub(super) unsafe fn setup(&self, f: unsafe extern "C" fn(*mut bindings::timer_list)) {
        // SAFETY: per the caller.
        unsafe { bindings::ipvs_rs_timer_setup(self.0.get(), Some(f)) };
    }

    /// `mod_timer()`: (re)arm for `expires` (jiffies). Returns whether it was pending.
    pub(crate) fn modify(&self, expires: u64) -> bool {
        // SAFETY: set up and in place (type invariant); mod_timer() is safe in any context.
        unsafe { bindings::ipvs_rs_mod_timer(self.0.get(), expires as _) != 0 }
    }

    /// `mod_timer_pending()`: move the expiry of a pending timer to `expires`; a timer that
    /// is not pending (never armed, fired, or deleted by its owner's final expiry) stays
    /// disarmed. Returns whether it was pending.
    pub(crate) fn modify_pending(&self, expires: u64) -> bool {
        // SAFETY: set up and in place (type invariant); safe in any context.
        unsafe { bindings::ipvs_rs_mod_timer_pending(self.0.get(), expires as _) != 0 }
    }

    /// `timer_pending()`.
    pub(crate) fn pending(&self) -> bool {
        // SAFETY: set up and in place (type invariant); a plain read.
        unsafe { bindings::ipvs_rs_timer_pending(self.0.get()) }
    }

    /// `timer_delete()`: returns whether it was pending.
    pub(crate) fn delete(&self) -> bool {
        // SAFETY: set up and in place (type invariant).
        unsafe { bindings::ipvs_rs_timer_delete(self.0.get()) != 0 }
    }

    /// `timer->expires`.
    pub(crate) fn expires(&self) -> u64 {
        // SAFETY: set up and in place (type invariant); a plain read.
        unsafe { bindings::ipvs_rs_timer_expires(self.0.get()) as u64 }
    }
}
