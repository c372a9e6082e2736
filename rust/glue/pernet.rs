// SPDX-License-Identifier: GPL-2.0
//! Per-network-namespace state.
//!
//! C headers: include/net/net_namespace.h, include/net/netns/generic.h
//!
//! A [`Pernet<T>`] is a `struct pernet_operations` with `.id`/`.size`: the kernel allocates a
//! zeroed slot of `size_of::<T>()` bytes in every namespace (existing ones at registration,
//! new ones as they appear), and we build a `T` in it. `T` is dropped in the namespace's
//! exit callback, before the kernel frees the slot.

use super::bindings;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::types::Opaque;

/// A network namespace (`struct net`).
///
/// # Invariants
///
/// Only ever handed out by reference, for a namespace that is alive for that reference's
/// lifetime.
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

impl Net {
    /// # Safety
    ///
    /// `ptr` points to a `struct net` that stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net) -> &'a Net {
        // SAFETY: `Net` is a transparent wrapper of `struct net`; the caller guarantees it
        // lives for `'a`.
        unsafe { &*ptr.cast::<Net>() }
    }

    /// The initial network namespace, which lives as long as the kernel.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn init_net() -> &'static Net {
        // SAFETY: `init_net` is never freed.
        unsafe { Net::from_raw(bindings::ipvs_rs_init_net()) }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }
}

/// State that ipvs_rs keeps in each network namespace.
pub(crate) trait PernetData: Sized + Send + Sync + 'static {
    /// The state of a namespace that has just appeared (infallible, no side effects).
    fn new() -> Self;
    /// Connect the state to the kernel (sysctls, ...). Called once, on the state in its final
    /// slot, which does not move until it is dropped; on error the state is dropped.
    fn start(&mut self, net: &Net) -> Result;
    /// The one static registration record of this type (the C callbacks get no `&self`).
    fn pernet() -> &'static Pernet<Self>;
}

/// Registration record for per-netns state of type `T`; lives in a `static`.
///
/// # Invariants
///
/// While registered (a [`Registration`] exists), `ops.id` points to `self.id` and every live
/// namespace's generic slot `id` holds a started `T`.
pub(crate) struct Pernet<T: PernetData> {
    ops: UnsafeCell<bindings::pernet_operations>,
    id: UnsafeCell<kernel::ffi::c_uint>,
    registered: AtomicBool,
    _data: PhantomData<T>,
}

// SAFETY: the cells are only written in `register()` before the kernel sees them and read by
// the kernel under its own pernet lock afterwards; `T` is `Sync`.
unsafe impl<T: PernetData> Sync for Pernet<T> {}

impl<T: PernetData> Pernet<T> {
    pub(crate) const fn new() -> Self {
        // SAFETY: `pernet_operations` is a plain C struct for which all-zero is valid
        // (null list pointers and absent callbacks).
        let mut ops: bindings::pernet_operations = unsafe { core::mem::zeroed() };
        ops.init = Some(Self::net_init);
        ops.exit = Some(Self::net_exit);
        ops.size = core::mem::size_of::<T>();
        Pernet { ops: UnsafeCell::new(ops), id: UnsafeCell::new(0), registered: AtomicBool::new(false), _data: PhantomData }
    }

    /// Create `T` in every namespace, now and for namespaces created later.
    pub(crate) fn register(&'static self) -> Result<Registration<T>> {
        // SAFETY: not registered yet (the only `Registration` would own it), so nobody else
        // reads `ops`; `self` is static, so `id` outlives the registration.
        unsafe { (*self.ops.get()).id = self.id.get() };
        // SAFETY: `ops` is a valid, static `pernet_operations` with callbacks of the right type.
        to_result(unsafe { bindings::register_pernet_subsys(self.ops.get()) })?;
        self.registered.store(true, Ordering::Release);
        // INVARIANT: registered above with `id` pointing to `self.id`.
        Ok(Registration { pernet: self })
    }

    /// The state of `net`, or `None` when not registered.
    ///
    /// Callers run in contexts that finish before the registration is dropped (KUnit cases,
    /// and later hooks and netlink handlers that are unregistered first), so the state cannot
    /// go away under the returned reference.
    pub(crate) fn try_get<'a>(&'static self, net: &'a Net) -> Option<&'a T> {
        if !self.registered.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: registered, so `id` is assigned and stable, and every live namespace's slot
        // holds a started `T` until its exit callback; `net` is alive for 'a.
        Some(unsafe { &*bindings::ipvs_rs_net_generic(net.as_ptr(), *self.id.get()).cast::<T>() })
    }

    unsafe extern "C" fn net_init(net: *mut bindings::net) -> kernel::ffi::c_int {
        // SAFETY: the kernel calls `init` with a live namespace whose generic slot for our id
        // is allocated, zeroed, `size_of::<T>()` bytes and suitably aligned (kzalloc), and
        // owned by us until `exit`.
        let (net, slot) = unsafe {
            let slot = bindings::ipvs_rs_net_generic(net, *Self::ops_id()).cast::<T>();
            (Net::from_raw(net), slot)
        };
        // SAFETY: `slot` is valid for writes (see above) and holds no `T` yet.
        unsafe { slot.write(T::new()) };
        // SAFETY: `slot` now holds a `T` that nobody else references.
        let state = unsafe { &mut *slot };
        match state.start(net) {
            Ok(()) => 0,
            Err(e) => {
                // SAFETY: `slot` holds a `T` that is not used again; `exit` is not called for a
                // namespace whose `init` failed.
                unsafe { core::ptr::drop_in_place(slot) };
                e.to_errno()
            }
        }
    }

    unsafe extern "C" fn net_exit(net: *mut bindings::net) {
        // SAFETY: `exit` runs once, after a successful `init`, with the namespace still alive;
        // the slot holds the `T` written there, no longer reachable by anyone else.
        unsafe {
            let slot = bindings::ipvs_rs_net_generic(net, *Self::ops_id()).cast::<T>();
            core::ptr::drop_in_place(slot);
        }
    }

    /// Our id, as the callbacks see it (they get no `&self`).
    fn ops_id() -> *const kernel::ffi::c_uint {
        T::pernet().id.get()
    }
}

/// A live registration; dropping it destroys the state in every namespace.
pub(crate) struct Registration<T: PernetData> {
    pernet: &'static Pernet<T>,
}

impl<T: PernetData> Drop for Registration<T> {
    fn drop(&mut self) {
        self.pernet.registered.store(false, Ordering::Release);
        // SAFETY: registered (type invariant of `Pernet`); this runs `exit` for every namespace.
        unsafe { bindings::unregister_pernet_subsys(self.pernet.ops.get()) };
    }
}
