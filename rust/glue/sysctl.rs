// SPDX-License-Identifier: GPL-2.0
//! Per-namespace sysctl tables of `int` entries.
//!
//! C headers: include/linux/sysctl.h, include/net/net_namespace.h (`register_net_sysctl_sz`)
//!
//! Entries are handled by the kernel's own `proc_dointvec`, so parsing, permissions and the
//! errors `sysctl -w` reports are exactly those of C IPVS. The value lives in an
//! [`AtomicI32`] owned by the caller: `proc_dointvec` stores it with `WRITE_ONCE` and the data
//! path reads it with a relaxed load, the same pairing C uses. Entries with an [`OnChange`]
//! are C's `proc_do_defense_mode` entries: values 0..=3 only, and a change calls back.

use super::bindings;
use super::pernet::Net;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicI32, Ordering};
use kernel::prelude::*;

/// One `int` entry: name, backing value and proc permissions.
pub(crate) struct IntEntry<'a> {
    pub(crate) name: &'static CStr,
    pub(crate) value: &'a AtomicI32,
    pub(crate) mode: u16,
    /// `None`: `proc_dointvec`. `Some`: C's `proc_do_defense_mode`.
    pub(crate) on_change: Option<OnChange>,
}

/// What a mode entry (C: `proc_do_defense_mode`) calls after a write changed its value.
#[derive(Clone, Copy)]
pub(crate) struct OnChange {
    /// Called with `ctx` in process context, after the new value is stored.
    pub(crate) f: fn(*const c_void),
    /// Whatever `f` needs (C: `table->extra2 = ipvs`).
    pub(crate) ctx: *const c_void,
}

/// The `struct ctl_table` entry for `entry`; `hook` (for an entry with an [`OnChange`]) is
/// where that callback lives while the table is registered.
fn int_ctl_table(entry: &IntEntry<'_>, hook: Option<&OnChange>) -> bindings::ctl_table {
    bindings::ctl_table {
        procname: entry.name.as_char_ptr(),
        data: entry.value.as_ptr().cast(),
        maxlen: core::mem::size_of::<i32>() as kernel::ffi::c_int,
        mode: entry.mode,
        proc_handler: Some(if hook.is_some() { proc_do_defense_mode } else { bindings::proc_dointvec }),
        extra2: hook.map_or(core::ptr::null_mut(), |h| core::ptr::from_ref(h).cast_mut().cast()),
        ..Default::default()
    }
}

/// C's `proc_do_defense_mode()`: `proc_dointvec` into a copy; if the copy differs from the
/// value, refuse it (`EINVAL`) unless it is 0..=3, else store it and call the entry's
/// [`OnChange`] (C: `update_defense_level()`). A write of the current value changes nothing
/// and calls nothing, as in C. (Model: `ipvs_core::defense::write_mode`.)
///
/// # Safety
///
/// Called by the sysctl core for an entry built by [`int_ctl_table`] with a hook, whose
/// `data` and `extra2` point to live values (the [`Table`]'s invariant).
unsafe extern "C" fn proc_do_defense_mode(
    table: *const bindings::ctl_table,
    write: kernel::ffi::c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> kernel::ffi::c_int {
    // SAFETY: the sysctl core passes the registered entry.
    let table = unsafe { &*table };
    // SAFETY: `data` is the entry's `AtomicI32` (built by `int_ctl_table`), alive while the
    // table is registered.
    let valp = unsafe { &*table.data.cast::<AtomicI32>() };
    let mut val = valp.load(Ordering::Relaxed);
    let tmp = bindings::ctl_table {
        data: core::ptr::from_mut(&mut val).cast(),
        maxlen: core::mem::size_of::<i32>() as kernel::ffi::c_int,
        mode: table.mode,
        ..Default::default()
    };
    // SAFETY: `tmp` describes one `int` on our stack; the buffer and pointers are the
    // caller's, passed on unchanged.
    let mut rc = unsafe { bindings::proc_dointvec(&tmp, write, buffer, lenp, ppos) };
    if write != 0 && valp.load(Ordering::Relaxed) != val {
        if !(0..=3).contains(&val) {
            rc = EINVAL.to_errno();
        } else {
            valp.store(val, Ordering::Relaxed);
            // SAFETY: `extra2` points to the entry's `OnChange` in its `Table`, which stays
            // registered (and so alive) while this handler runs.
            let hook = unsafe { &*table.extra2.cast::<OnChange>() };
            (hook.f)(hook.ctx);
        }
    }
    rc
}

/// A registered table under `/proc/sys/<path>` of one namespace.
///
/// # Invariants
///
/// `header` is the live registration of `entries`; `entries` and `hooks` (which the
/// entries' `extra2` point into) do not move or change while registered (they are boxed and
/// never handed out mutably).
pub(crate) struct Table<const N: usize> {
    header: NonNull<bindings::ctl_table_header>,
    // Owned here for as long as the table is registered; read only by the KUnit suites.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))]
    entries: KBox<[bindings::ctl_table; N]>,
    #[allow(dead_code)] // Referenced from `entries` only.
    hooks: KBox<[Option<OnChange>; N]>,
}

// SAFETY: the header is only used to unregister, which the kernel allows from any context
// that may sleep; the table is immutable while registered; the hooks' context pointers are
// only used by the handler, under the caller's contract of `register`.
unsafe impl<const N: usize> Send for Table<N> {}
// SAFETY: `&Table` gives no access to anything mutable.
unsafe impl<const N: usize> Sync for Table<N> {}

impl<const N: usize> Table<N> {
    /// Register `entries` as `/proc/sys/<path>/<name>` in `net`.
    ///
    /// Fails with `EEXIST`-like errors (the kernel logs "sysctl duplicate entry") when another
    /// table already owns one of the names in that namespace.
    ///
    /// # Safety
    ///
    /// Every entry's `value` must outlive the returned `Table`, and `net` must outlive it too;
    /// every [`OnChange`]'s `f` must be sound to call with its `ctx` until the `Table` is
    /// dropped.
    pub(crate) unsafe fn register(net: &Net, path: &'static CStr, entries: [IntEntry<'_>; N]) -> Result<Self> {
        let hooks = KBox::new(entries.each_ref().map(|e| e.on_change), GFP_KERNEL)?;
        // Entry i gets hook i (both arrays have N elements).
        let mut hook = hooks.iter();
        let entries = KBox::new(
            entries.each_ref().map(|e| int_ctl_table(e, hook.next().and_then(Option::as_ref))),
            GFP_KERNEL,
        )?;
        // SAFETY: `path` is a static C string; `entries` is a valid table of `N` entries that
        // stays at this address (boxed) until `Drop` unregisters it; the values it points to
        // outlive `Self` (caller's contract).
        let header = unsafe {
            bindings::register_net_sysctl_sz(
                net.as_ptr(),
                path.as_char_ptr(),
                entries.as_ptr().cast_mut(),
                N,
            )
        };
        // The kernel returns NULL on any failure and has already logged why.
        let header = NonNull::new(header).ok_or(ENOMEM)?;
        // INVARIANT: `header` is the registration of `entries`.
        Ok(Table { header, entries, hooks })
    }

    /// The entries as registered (for tests comparing them with the specification).
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn entries(&self) -> &[bindings::ctl_table; N] {
        &self.entries
    }
}

impl<const N: usize> Drop for Table<N> {
    fn drop(&mut self) {
        // SAFETY: `header` is a live registration (type invariant); after this call the
        // kernel no longer references `entries`, which are freed right after.
        unsafe { bindings::unregister_net_sysctl_table(self.header.as_ptr()) };
    }
}
