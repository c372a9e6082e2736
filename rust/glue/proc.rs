// SPDX-License-Identifier: GPL-2.0
//! Read-only `/proc/net/*` files of a network namespace.
//!
//! C headers: include/linux/proc_fs.h, include/linux/seq_file.h
//!
//! Each file is a `proc_create_net_single()` entry whose show callback renders the whole
//! text with `core::fmt` into the seq_file ([`SeqWriter`]); seq_file retries with a larger
//! buffer when the text does not fit, so output of any size is complete and consistent.

use super::bindings;
use super::pernet::Net;
use core::fmt;
use kernel::prelude::*;

/// A show callback as the kernel calls it.
pub(crate) type ShowFn = unsafe extern "C" fn(*mut bindings::seq_file, *mut core::ffi::c_void) -> kernel::ffi::c_int;

/// `fmt::Write` into a seq_file being shown.
///
/// # Invariants
///
/// `seq` is the seq_file of a running show callback.
pub(crate) struct SeqWriter {
    seq: *mut bindings::seq_file,
}

impl SeqWriter {
    /// # Safety
    ///
    /// `seq` is the argument of a running show callback, and the writer does not outlive it.
    pub(crate) unsafe fn new(seq: *mut bindings::seq_file) -> (SeqWriter, &'static Net) {
        // SAFETY: a single-net proc file's seq_file holds a reference on its namespace while
        // open; `'static` is narrowed by the caller to the callback (documented contract).
        let net = unsafe { Net::from_raw(bindings::ipvs_rs_seq_net(seq)) };
        // INVARIANT: guaranteed by the caller.
        (SeqWriter { seq }, net)
    }
}

impl fmt::Write for SeqWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `seq` is valid during the show callback (type invariant); `s` is readable.
        unsafe { bindings::ipvs_rs_seq_write(self.seq, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// Files created in one namespace; removed on drop.
///
/// # Invariants
///
/// Every name in `created` is a live `/proc/net` entry of `net`, and `net` outlives `self`.
pub(crate) struct ProcFiles<const N: usize> {
    net: *mut bindings::net,
    created: [Option<&'static CStr>; N],
}

// SAFETY: only used to remove the entries, which may happen from any process context.
unsafe impl<const N: usize> Send for ProcFiles<N> {}
// SAFETY: `&ProcFiles` allows nothing.
unsafe impl<const N: usize> Sync for ProcFiles<N> {}

impl<const N: usize> ProcFiles<N> {
    /// Create `files` under `/proc/net` of `net` (all or none).
    ///
    /// # Safety
    ///
    /// `net` outlives the returned value.
    pub(crate) unsafe fn create(net: &Net, files: [(&'static CStr, ShowFn); N]) -> Result<Self> {
        // INVARIANT: filled in as entries are created; on failure `Drop` removes the others.
        let mut this = ProcFiles { net: net.as_ptr(), created: [None; N] };
        for (slot, (name, show)) in this.created.iter_mut().zip(files) {
            // SAFETY: `net` is alive; `name` is static; `show` matches the kernel's signature.
            if !unsafe { bindings::ipvs_rs_proc_create(net.as_ptr(), name.as_char_ptr().cast(), Some(show)) } {
                return Err(ENOMEM);
            }
            *slot = Some(name);
        }
        Ok(this)
    }
}

impl<const N: usize> Drop for ProcFiles<N> {
    fn drop(&mut self) {
        for name in self.created.iter().flatten() {
            // SAFETY: a live entry of `net` (type invariant); removal waits for readers.
            unsafe { bindings::ipvs_rs_proc_remove(self.net, name.as_char_ptr().cast()) };
        }
    }
}
