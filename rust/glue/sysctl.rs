// SPDX-License-Identifier: GPL-2.0
//! Per-namespace sysctl tables of `int` entries.
//!
//! C headers: include/linux/sysctl.h, include/net/net_namespace.h (`register_net_sysctl_sz`)
//!
//! Entries are handled by the kernel's own `proc_dointvec`, so parsing, permissions and the
//! errors `sysctl -w` reports are exactly those of C IPVS. The value lives in an
//! [`AtomicI32`] owned by the caller: `proc_dointvec` stores it with `WRITE_ONCE` and the data
//! path reads it with a relaxed load, the same pairing C uses.

use super::bindings;
use super::pernet::Net;
use core::ptr::NonNull;
use core::sync::atomic::AtomicI32;
use kernel::prelude::*;

/// One `int` entry: name, backing value and proc permissions.
pub(crate) struct IntEntry<'a> {
    pub(crate) name: &'static CStr,
    pub(crate) value: &'a AtomicI32,
    pub(crate) mode: u16,
}

/// The `struct ctl_table` entry for `entry`, handled by `proc_dointvec`.
fn int_ctl_table(entry: &IntEntry<'_>) -> bindings::ctl_table {
    bindings::ctl_table {
        procname: entry.name.as_char_ptr(),
        data: entry.value.as_ptr().cast(),
        maxlen: core::mem::size_of::<i32>() as kernel::ffi::c_int,
        mode: entry.mode,
        proc_handler: Some(bindings::proc_dointvec),
        ..Default::default()
    }
}

/// A registered table under `/proc/sys/<path>` of one namespace.
///
/// # Invariants
///
/// `header` is the live registration of `entries`; `entries` does not move or change while
/// registered (it is boxed and never handed out mutably).
pub(crate) struct Table<const N: usize> {
    header: NonNull<bindings::ctl_table_header>,
    entries: KBox<[bindings::ctl_table; N]>,
}

// SAFETY: the header is only used to unregister, which the kernel allows from any context
// that may sleep; the table is immutable while registered.
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
    /// Every entry's `value` must outlive the returned `Table`, and `net` must outlive it too.
    pub(crate) unsafe fn register(net: &Net, path: &'static CStr, entries: [IntEntry<'_>; N]) -> Result<Self> {
        let entries = KBox::new(entries.each_ref().map(int_ctl_table), GFP_KERNEL)?;
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
        Ok(Table { header, entries })
    }

    /// The entries as registered (for tests comparing them with the specification).
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
