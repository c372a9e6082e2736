// SPDX-License-Identifier: GPL-2.0
//! Delayed work items embedded in per-namespace state, run on `system_long_wq`.
//!
//! C header: include/linux/workqueue.h (wrapped in rust/dp_glue.c)
//!
//! Shaped like Rust-for-Linux's `kernel::workqueue`: a [`DelayedWork<T, ID>`] is a field of
//! `T`; [`impl_has_delayed_work!`](crate::impl_has_delayed_work) says which field (the only
//! place its offset is computed, so no `container_of` arithmetic is written by hand), and
//! `T` implements [`DelayedWorkItem<ID>`] with a safe `fn run(this: &T)`. Works are started
//! by the per-namespace glue ([`Slot::init_work`](super::pernet::Slot::init_work)), which
//! owns their lifetime: it cancels them, synchronously, before the state holding them is
//! dropped. Several works in one `T` are told apart by `ID`.

use super::bindings;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::types::Opaque;

/// A `struct delayed_work` embedded in a `T`, whose callback is `T`'s
/// [`DelayedWorkItem<ID>::run`].
///
/// # Invariants
///
/// `ready` is set only after `work` was initialised (`INIT_DELAYED_WORK()` with the
/// trampoline of `T`'s `run`) in place, by [`DelayedWork::init`], at an address where it stays
/// until it is cancelled.
#[repr(C)]
pub(crate) struct DelayedWork<T: ?Sized, const ID: u64 = 0> {
    work: Opaque<bindings::delayed_work>,
    ready: AtomicBool,
    _container: PhantomData<*const T>,
}

// SAFETY: the workqueue API may be called from any context and thread; the C struct is only
// touched through it, and `ready` is atomic.
unsafe impl<T: ?Sized, const ID: u64> Sync for DelayedWork<T, ID> {}
// SAFETY: as for `Sync`; a work is moved only before `init` (it then stays in place).
unsafe impl<T: ?Sized, const ID: u64> Send for DelayedWork<T, ID> {}

impl<T: ?Sized, const ID: u64> DelayedWork<T, ID> {
    /// A work that is not initialised yet: [`DelayedWork::queue`] does nothing until the
    /// per-namespace glue starts it.
    pub(crate) const fn new() -> Self {
        // INVARIANT: not ready.
        DelayedWork {
            work: Opaque::uninit(),
            ready: AtomicBool::new(false),
            _container: PhantomData,
        }
    }

    /// `queue_delayed_work(system_long_wq, ...)`: run after `delay` jiffies unless already
    /// queued. Returns whether it was queued by this call (`false` also before `init`).
    pub(crate) fn queue(&self, delay: u64) -> bool {
        if !self.ready.load(Ordering::Acquire) {
            return false;
        }
        // SAFETY: initialised in place (invariant: `ready`).
        unsafe { bindings::ipvs_rs_dwork_queue(self.work.get(), delay as _) }
    }

    /// Whether [`DelayedWork::init`] ran.
    pub(super) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// A handle for the per-namespace glue's list of works to cancel.
    pub(super) fn handle(&self) -> WorkHandle {
        WorkHandle {
            work: self.work.get(),
            ready: core::ptr::from_ref(&self.ready),
        }
    }
}

impl<T: DelayedWorkItem<ID>, const ID: u64> DelayedWork<T, ID> {
    /// `INIT_DELAYED_WORK()` with `T::run` as the callback.
    ///
    /// # Safety
    ///
    /// `self` is the `ID` work of a `T` (reached through [`HasDelayedWork::raw_get_work`]),
    /// not initialised before, and that `T` stays in place and alive until
    /// [`WorkHandle::disable_and_cancel`] returned for this work.
    pub(super) unsafe fn init(&self) {
        // SAFETY: per the caller, `work` stays in place until cancelled; the trampoline
        // matches the callback type.
        unsafe { bindings::ipvs_rs_dwork_init(self.work.get(), Some(run_trampoline::<T, ID>)) };
        // INVARIANT: initialised in place just above.
        self.ready.store(true, Ordering::Release);
    }
}

/// An initialised [`DelayedWork`] of any type, as the per-namespace glue lists it to cancel
/// it before the state holding it is dropped.
pub(super) struct WorkHandle {
    work: *mut bindings::delayed_work,
    ready: *const AtomicBool,
}

impl WorkHandle {
    /// Stop the work for good: [`DelayedWork::queue`] does nothing from now on, then
    /// `cancel_delayed_work_sync()`: neither queued nor running when this returns (a run
    /// that queues its work again finds it disabled).
    ///
    /// # Safety
    ///
    /// The work was initialised by [`DelayedWork::init`] and is still in place; process
    /// context.
    pub(super) unsafe fn disable_and_cancel(&self) {
        // SAFETY: the work is in place (caller), so its flag is live.
        unsafe { &*self.ready }.store(false, Ordering::Release);
        // SAFETY: initialised and in place (caller); process context.
        unsafe { bindings::ipvs_rs_dwork_cancel_sync(self.work) };
    }
}

/// A type holding a [`DelayedWork<Self, ID>`] field: implement with
/// [`impl_has_delayed_work!`](crate::impl_has_delayed_work), never by hand.
///
/// # Safety
///
/// `OFFSET` is the byte offset, inside `Self`, of a field of type `DelayedWork<Self, ID>`.
pub(crate) unsafe trait HasDelayedWork<const ID: u64 = 0> {
    /// Where the field is.
    const OFFSET: usize;

    /// The work field of `*this`.
    ///
    /// # Safety
    ///
    /// `this` points to a live `Self`.
    unsafe fn raw_get_work(this: *const Self) -> *const DelayedWork<Self, ID>
    where
        Self: Sized,
    {
        // SAFETY: per the trait's contract the field is `OFFSET` bytes into `*this`.
        unsafe { this.cast::<u8>().add(Self::OFFSET).cast() }
    }

    /// The `Self` whose work field is `*work` (`container_of`).
    ///
    /// # Safety
    ///
    /// `work` points to the `ID` work field of a live `Self`.
    unsafe fn work_container_of(work: *const DelayedWork<Self, ID>) -> *const Self
    where
        Self: Sized,
    {
        // SAFETY: per the trait's contract the field is `OFFSET` bytes into its `Self`.
        unsafe { work.cast::<u8>().sub(Self::OFFSET).cast() }
    }
}

/// What a [`DelayedWork<Self, ID>`] does when it runs (process context, `system_long_wq`).
pub(crate) trait DelayedWorkItem<const ID: u64 = 0>:
    HasDelayedWork<ID> + Sized + Sync
{
    /// The work's body; it may queue its work again.
    fn run(this: &Self);
}

/// The C callback of a [`DelayedWork<T, ID>`]: finds the `T` and calls its `run`.
///
/// # Safety
///
/// Called by the workqueue for a work initialised by [`DelayedWork::init`].
unsafe extern "C" fn run_trampoline<T: DelayedWorkItem<ID>, const ID: u64>(
    work: *mut bindings::work_struct,
) {
    // SAFETY: `work` is the `work` member of the `delayed_work` that `init` set up, which is
    // the first field of a `DelayedWork<T, ID>` (`repr(C)`, `Opaque` is transparent).
    let dw = unsafe { bindings::ipvs_rs_dwork_of(work) }.cast::<DelayedWork<T, ID>>();
    // SAFETY: `init`'s contract: the work is the `ID` field of a `T` that stays alive until
    // the work is cancelled, which waits for this callback to return.
    let this = unsafe { &*T::work_container_of(dw) };
    T::run(this);
}

/// Implement [`HasDelayedWork<ID>`] for `$t` whose field `$field` is a
/// `DelayedWork<$t, ID>` (checked at compile time).
///
/// ```ignore
/// impl_has_delayed_work!(impl HasDelayedWork<{ work::DEFENSE }> for NetState { defense_work });
/// ```
#[macro_export]
macro_rules! impl_has_delayed_work {
    (impl HasDelayedWork<$id:tt> for $t:ty { $field:ident }) => {
        const _: () = {
            // The field has the right type (else this does not compile).
            #[allow(dead_code)]
            fn check(this: &$t) -> &$crate::glue::workqueue::DelayedWork<$t, $id> {
                &this.$field
            }
        };
        // SAFETY: `offset_of!` gives the offset of `$field`, whose type is
        // `DelayedWork<$t, $id>` (checked above).
        unsafe impl $crate::glue::workqueue::HasDelayedWork<$id> for $t {
            const OFFSET: usize = ::core::mem::offset_of!($t, $field);
        }
    };
}
