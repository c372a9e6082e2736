// SPDX-License-Identifier: GPL-2.0
//! A kernel thread embedded in per-namespace state: the estimation kthread of C 6.12's
//! `ip_vs_est.c` (`ipvs-e:<gen>:<id>`, on the CPUs of `est_cpulist`, at the nice level of
//! `est_nice`).
//!
//! C headers: include/linux/kthread.h, include/linux/sched.h (wrapped in rust/helpers.c)
//!
//! A [`KThread<T>`] is a field of `T`, declared with [`impl_has_kthread!`] (which computes
//! nothing by hand: the field is named). The per-namespace glue readies it
//! ([`Slot::init_kthread`](super::pernet::Slot::init_kthread)) and stops it, waiting for the
//! thread to end, before the state holding it is dropped; in between [`KThread::start`] may
//! start the thread, which runs [`KThreadItem::tick`] on the `T` and sleeps the time it
//! returns, until stopped. Start and stop are serialised by one mutex on the C side.

use super::bindings;
use super::sysctl::CpuList;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::error::to_result;
use kernel::prelude::*;

/// The thread slot of a `T`.
///
/// # Invariants
///
/// `task` and `ready` are read and written only by the C helpers, under their mutex. `ready`
/// is set only by [`Slot::init_kthread`](super::pernet::Slot::init_kthread), for the field of a
/// `T` that stays in place until the glue's stop ([`KThreadHandle::stop`]) cleared it and
/// stopped the thread; a thread runs only while `ready`, with that `T` as its data.
pub(crate) struct KThread<T> {
    task: UnsafeCell<*mut c_void>,
    ready: UnsafeCell<bool>,
    _container: PhantomData<*const T>,
}

// SAFETY: the fields are touched only by the C helpers, under their mutex (invariant).
unsafe impl<T> Sync for KThread<T> {}
// SAFETY: as for `Sync`; the slot is moved only before it is readied (it then stays in place).
unsafe impl<T> Send for KThread<T> {}

/// A type holding a [`KThread<Self>`] field: implement with
/// [`impl_has_kthread!`](crate::impl_has_kthread), never by hand.
///
/// # Safety
///
/// `kthread` returns a field of `self` (not of another object).
pub(crate) unsafe trait HasKThread: Sized {
    /// The field.
    fn kthread(&self) -> &KThread<Self>;
}

/// What the thread of a [`KThread<Self>`] does.
pub(crate) trait KThreadItem: HasKThread + Sync + 'static {
    /// One round of the thread's work (process context, may sleep); returns the jiffies to
    /// sleep before the next.
    fn tick(this: &Self) -> u64;
}

/// Implement [`HasKThread`] for `$t` whose field `$field` is a `KThread<$t>`.
///
/// ```ignore
/// impl_has_kthread!(NetState, est_thread);
/// ```
#[macro_export]
macro_rules! impl_has_kthread {
    ($t:ty, $field:ident) => {
        // SAFETY: `kthread` returns the field `$field` of `self`.
        unsafe impl $crate::glue::kthread::HasKThread for $t {
            fn kthread(&self) -> &$crate::glue::kthread::KThread<$t> {
                &self.$field
            }
        }
    };
}
pub(crate) use impl_has_kthread;

/// Names of the threads: `ipvs-e:<n>:0`, `n` counting the threads started (C: the
/// namespace's `ipvs->gen`).
static GEN: AtomicU32 = AtomicU32::new(0);

impl<T> KThread<T> {
    /// A slot that is not ready: [`KThread::start`] does nothing until the per-namespace
    /// glue readies it.
    pub(crate) const fn new() -> Self {
        // INVARIANT: not ready, no thread.
        KThread {
            task: UnsafeCell::new(core::ptr::null_mut()),
            ready: UnsafeCell::new(false),
            _container: PhantomData,
        }
    }

    /// A handle for the per-namespace glue's list of threads to stop.
    pub(super) fn handle(&self) -> KThreadHandle {
        KThreadHandle {
            task: self.task.get(),
            ready: self.ready.get(),
        }
    }

    /// Mark the slot ready.
    ///
    /// # Safety
    ///
    /// `self` is the field of a `T` that stays in place and alive until
    /// [`KThreadHandle::stop`] returned for this slot's handle.
    pub(super) unsafe fn make_ready(&self) {
        // SAFETY: the flag is ours; the helper takes the mutex.
        unsafe { bindings::ipvs_rs_kthread_ready(self.ready.get()) };
    }
}

impl<T: KThreadItem> KThread<T> {
    /// Start `owner`'s thread (its `tick` on the CPUs of `cpus` at nice `nice`) unless it
    /// runs already, or the slot is not ready (before registration, after the stop).
    /// Process context.
    pub(crate) fn start(owner: &T, cpus: &CpuList, nice: i32) -> Result {
        let slot = owner.kthread();
        let gen = GEN.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the slot's fields are passed to the helper, which changes them under its
        // mutex; the thread gets `owner`, which, the slot being its field (`HasKThread`),
        // stays alive while the slot is ready and is used by the thread only until the
        // glue's stop waited for it (invariant).
        to_result(unsafe {
            bindings::ipvs_rs_kthread_start(
                slot.task.get(),
                slot.ready.get(),
                Some(thread_fn::<T>),
                core::ptr::from_ref(owner).cast_mut().cast(),
                gen,
                cpus.as_ptr(),
                nice,
            )
        })
    }
}

/// In the calling kthread: follow `cpus` (unless set and empty, which C treats as "stop
/// estimating") and `nice`, as C's threads get them when `est_cpulist` or `est_nice` change
/// (C restarts its threads; this one moves itself).
pub(crate) fn follow(cpus: &CpuList, nice: i32) {
    // SAFETY: the list is live; the helper takes the sysctls' mutex.
    unsafe { bindings::ipvs_rs_kthread_follow(cpus.as_ptr(), nice) }
}

/// The thread's body: `tick`, sleep, until stopped.
///
/// # Safety
///
/// `data` is the `T` given to [`KThread::start`], alive until the thread is stopped.
unsafe extern "C" fn thread_fn<T: KThreadItem>(data: *mut c_void) -> kernel::ffi::c_int {
    // SAFETY: per the function's contract.
    let this = unsafe { &*data.cast_const().cast::<T>() };
    // SAFETY: called in a kthread.
    while !unsafe { bindings::ipvs_rs_kthread_should_stop() } {
        let delay = T::tick(this);
        // SAFETY: called in a kthread.
        unsafe { bindings::ipvs_rs_kthread_sleep(delay as _) };
    }
    0
}

/// A ready [`KThread`] as the per-namespace glue lists it, to stop it before the state
/// holding it is dropped.
pub(super) struct KThreadHandle {
    task: *mut *mut c_void,
    ready: *mut bool,
}

impl KThreadHandle {
    /// Clear the slot's ready flag (no start from now on) and stop its thread, waiting for
    /// it to end.
    ///
    /// # Safety
    ///
    /// The slot is still in place; process context.
    pub(super) unsafe fn stop(&self) {
        // SAFETY: the slot is in place (caller); the helper takes the mutex.
        unsafe { bindings::ipvs_rs_kthread_stop(self.task, self.ready) };
    }
}
