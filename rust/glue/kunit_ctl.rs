// SPDX-License-Identifier: GPL-2.0
//! What the control-plane KUnit suites (rust/kunit_tests.rs) ask the kernel directly: the
//! registered sysctl entries and their handlers, `proc_dointvec` on a value of the test's
//! own, and the kernel's nested-attribute parser with C's policies. Test build only.
//!
//! C headers: include/linux/sysctl.h, include/net/netlink.h

use super::bindings;
use super::genetlink::Nest;
use super::sysctl::Table;
use core::ffi::CStr;
use core::sync::atomic::AtomicI32;
use kernel::error::code::EINVAL;
use kernel::error::{to_result, Error};

/// One entry of a registered sysctl [`Table`].
///
/// # Invariants
///
/// `raw` is an entry of a registered table (its name, data and `extra` pointers are live
/// while the table is, which `'a` borrows).
#[derive(Clone, Copy)]
pub(crate) struct RegisteredEntry<'a> {
    raw: &'a bindings::ctl_table,
}

impl Table {
    /// The registered entries.
    pub(crate) fn registered(&self) -> impl ExactSizeIterator<Item = RegisteredEntry<'_>> {
        // INVARIANT: the entries of this registered table.
        self.entries().iter().map(|raw| RegisteredEntry { raw })
    }
}

impl<'a> RegisteredEntry<'a> {
    /// The C struct, for its plain fields (mode, maxlen, handler, whether pointers are set).
    pub(crate) fn raw(&self) -> &'a bindings::ctl_table {
        self.raw
    }

    /// `procname`.
    pub(crate) fn name(&self) -> &'a CStr {
        // SAFETY: `procname` of a registered entry is a static C string (type invariant;
        // `Entry::name` is a `&'static CStr`).
        unsafe { CStr::from_ptr(self.raw.procname.cast()) }
    }

    /// `*extra1`, `*extra2` of a `proc_dointvec_minmax` entry (`None` unless both are set:
    /// the tables ipvs_rs registers set both only for those entries).
    pub(crate) fn bounds(&self) -> Option<(i32, i32)> {
        if self.raw.extra1.is_null() || self.raw.extra2.is_null() {
            return None;
        }
        // SAFETY: an entry of a table built by `sysctl::ctl_table` with both `extra1` and
        // `extra2` set is a minmax entry, whose `extra`s point to its `int` bounds, live while
        // the table is (type invariant).
        Some(unsafe {
            (
                *self.raw.extra1.cast::<i32>(),
                *self.raw.extra2.cast::<i32>(),
            )
        })
    }

    /// Call the entry's own handler as the sysctl core does (a NUL-terminated kernel
    /// buffer); `write` false reads into `out`. Returns the result and the length the
    /// handler reports.
    pub(crate) fn call(
        &self,
        write: bool,
        input: &[u8],
        out: &mut [u8; 64],
    ) -> (Result<(), Error>, usize) {
        let Some(f) = self.raw.proc_handler else {
            return (Err(EINVAL), 0);
        };
        *out = [0u8; 64];
        let n = input.len().min(out.len() - 1);
        out[..n].copy_from_slice(&input[..n]);
        let mut len = if write { n } else { out.len() - 1 };
        let mut pos: bindings::loff_t = 0;
        // SAFETY: a registered entry whose data is live (type invariant); `out` is a kernel
        // buffer of `len` + 1 bytes (the terminator the sysctl core provides); `len` and
        // `pos` are valid for writes.
        let ret = unsafe {
            f(
                self.raw,
                i32::from(write),
                out.as_mut_ptr().cast(),
                &mut len,
                &mut pos,
            )
        };
        (to_result(ret), len)
    }
}

/// The kernel's `proc_dointvec` write path on `value` (an entry of one `int`, mode 0644):
/// the result and the length it reports consumed.
pub(crate) fn dointvec_write(value: &AtomicI32, input: &[u8]) -> (Result<(), Error>, usize) {
    let entry = bindings::ctl_table {
        procname: c"ipvs_rs_kunit".as_ptr().cast(),
        data: value.as_ptr().cast(),
        maxlen: 4,
        mode: 0o644,
        proc_handler: Some(bindings::proc_dointvec),
        ..Default::default()
    };
    let mut buf = [0u8; 64];
    let n = input.len().min(buf.len());
    buf[..n].copy_from_slice(&input[..n]);
    let mut len = n;
    let mut pos: bindings::loff_t = 0;
    // SAFETY: `entry` describes one live `int` (`value`, an atomic: the handler's store
    // cannot race a plain access); `buf` is a kernel buffer of at least `len` bytes; `len`
    // and `pos` are valid for writes.
    let ret =
        unsafe { bindings::proc_dointvec(&entry, 1, buf.as_mut_ptr().cast(), &mut len, &mut pos) };
    (to_result(ret), len)
}

/// The default of `sync_qlen_max` (C: `nr_free_buffer_pages() / 32`).
pub(crate) fn sync_qlen_max_default() -> usize {
    // SAFETY: no precondition.
    unsafe { bindings::ipvs_rs_sync_qlen_max_default() as usize }
}

/// How many attribute types a nested set may have, plus one (the size of the parse table).
pub(crate) const NEST_TABLE_LEN: usize = bindings::IPVS_RS_NEST_MAX as usize + 1;

/// The kernel's `nla_parse_nested_deprecated()` with C's policy of `set`, on the nested
/// attribute at the start of `attr` (header and payload, in 4-byte aligned storage): the
/// errno it returns (0: accepted) and which attribute types it found. An attribute whose
/// header says it is longer than `attr` is refused with `EINVAL` without asking the kernel.
pub(crate) fn kernel_parse_nested(set: Nest, attr: &[u32]) -> (i32, [bool; NEST_TABLE_LEN]) {
    let mut found = [false; NEST_TABLE_LEN];
    let Some(&first) = attr.first() else {
        return (EINVAL.to_errno(), found);
    };
    let [l0, l1, _, _] = first.to_ne_bytes();
    let nla_len = usize::from(u16::from_ne_bytes([l0, l1]));
    if nla_len < 4 || nla_len > attr.len() * 4 {
        return (EINVAL.to_errno(), found);
    }
    let set = match set {
        Nest::Service => bindings::ipvs_rs_nest_IPVS_RS_NEST_SERVICE,
        Nest::Dest => bindings::ipvs_rs_nest_IPVS_RS_NEST_DEST,
        Nest::Daemon => bindings::ipvs_rs_nest_IPVS_RS_NEST_DAEMON,
    };
    let mut tb = [core::ptr::null::<bindings::nlattr>(); NEST_TABLE_LEN];
    // SAFETY: `tb` is large enough for every set; `attr` is 4-byte aligned and holds a
    // nested attribute whose length (checked above) covers only its initialised words.
    let ret = unsafe {
        bindings::ipvs_rs_parse_nested(
            tb.as_mut_ptr(),
            set,
            attr.as_ptr().cast(),
            core::ptr::null_mut(),
        )
    };
    for (f, p) in found.iter_mut().zip(tb.iter()) {
        *f = !p.is_null();
    }
    (ret, found)
}
