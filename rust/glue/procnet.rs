// SPDX-License-Identifier: GPL-2.0
//! `/proc/net` entries of one namespace, and the show callbacks of single-show files.
//!
//! C headers: include/linux/proc_fs.h, include/linux/seq_file.h (wrapped in rust/helpers.c)
//!
//! A small file is a type implementing [`ShowNet`] with a safe `fn show(w, net)`;
//! [`single::<S>()`](single) is its [`ProcKind`], whose C callback is a trampoline that does
//! nothing but find the writer and the namespace. Entries are created by the per-namespace
//! glue ([`Slot::create_proc`](super::pernet::Slot::create_proc)), which removes them before
//! the state they read is dropped.

use super::bindings;
use super::pernet::Net;
use super::proc::{ProcKind, SeqWriter};
use core::fmt;
use kernel::prelude::*;

/// A `/proc/net` file rendered whole by one show call (C: `proc_create_net_single()`).
pub(crate) trait ShowNet {
    /// Write the file's text for a reader of `net`'s file; an error (the seq_file buffer
    /// is full) is left to seq_file, which retries with a larger buffer.
    fn show(w: &mut SeqWriter, net: &Net) -> fmt::Result;
}

/// The [`ProcKind`] of a [`ShowNet`] file.
pub(crate) fn single<S: ShowNet>() -> ProcKind {
    ProcKind::Single(show_trampoline::<S>)
}

/// The show callback of a [`ShowNet`] file.
///
/// # Safety
///
/// Called by seq_file as the show callback of a single-net file created with `single::<S>()`.
unsafe extern "C" fn show_trampoline<S: ShowNet>(
    seq: *mut bindings::seq_file,
    _v: *mut core::ffi::c_void,
) -> kernel::ffi::c_int {
    // SAFETY: `seq` is the argument of this running show callback; the writer and the
    // namespace reference are used only inside it (the namespace is narrowed to the call).
    let (mut w, net) = unsafe { SeqWriter::new(seq) };
    let net: &Net = net;
    // As C's show functions: what did not fit is seq_file's business (it retries).
    let _ = S::show(&mut w, net);
    0
}

/// One created `/proc/net` entry; removed on drop.
///
/// # Invariants
///
/// `name` is a live `/proc/net` entry of `net`, and `net` outlives `self`.
pub(crate) struct ProcEntry {
    net: *mut bindings::net,
    name: &'static CStr,
}

// SAFETY: only used to remove the entry, which may happen from any process context.
unsafe impl Send for ProcEntry {}
// SAFETY: `&ProcEntry` allows nothing.
unsafe impl Sync for ProcEntry {}

impl ProcEntry {
    /// Create `/proc/net/<name>` in `net`.
    ///
    /// # Safety
    ///
    /// `net` outlives the returned value.
    pub(super) unsafe fn create(net: &Net, name: &'static CStr, kind: ProcKind) -> Result<Self> {
        let ok = match kind {
            // SAFETY: `net` is alive; `name` is static; `show` matches the kernel's signature.
            ProcKind::Single(show) => unsafe {
                bindings::ipvs_rs_proc_create(net.as_ptr(), name.as_char_ptr().cast(), Some(show))
            },
            // SAFETY: as above; `ops` is static and its callbacks expect `size` bytes of
            // state (`seq_kind`).
            ProcKind::Seq(ops, size) => unsafe {
                bindings::ipvs_rs_proc_create_seq(
                    net.as_ptr(),
                    name.as_char_ptr().cast(),
                    ops,
                    size as u32,
                )
            },
        };
        if !ok {
            return Err(ENOMEM);
        }
        // INVARIANT: just created; `net` outlives us (caller's contract).
        Ok(ProcEntry {
            net: net.as_ptr(),
            name,
        })
    }
}

impl Drop for ProcEntry {
    fn drop(&mut self) {
        // SAFETY: a live entry of `net` (type invariant); removal waits for readers.
        unsafe { bindings::ipvs_rs_proc_remove(self.net, self.name.as_char_ptr().cast()) };
    }
}
