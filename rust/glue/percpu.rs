// SPDX-License-Identifier: GPL-2.0
//! Per-CPU packet counters (`alloc_percpu()`, `this_cpu_add()`, `per_cpu_ptr()`), as C
//! keeps `struct ip_vs_stats`' `cpustats`: the packet path adds to its own CPU's copy with
//! no shared cache line and no atomic read-modify-write; readers sum the copies.
//!
//! C headers: include/linux/percpu.h, include/linux/percpu-defs.h (wrapped in
//! rust/dp_glue.c).

use super::bindings;
use core::ptr::NonNull;
use ipvs_core::est::Counters;
use kernel::prelude::*;

/// One set of per-CPU counters.
///
/// # Invariants
///
/// `ptr` is a live `alloc_percpu(struct ipvs_rs_counters)` allocation owned by this value.
pub(crate) struct PcpuCounters {
    ptr: NonNull<core::ffi::c_void>,
}

// SAFETY: the per-CPU updates are `this_cpu_*()` operations, safe from any CPU and context;
// the sum only reads.
unsafe impl Send for PcpuCounters {}
// SAFETY: as for `Send`.
unsafe impl Sync for PcpuCounters {}

impl PcpuCounters {
    /// Zeroed counters, one copy per possible CPU. Process context (may sleep).
    pub(crate) fn alloc() -> Result<Self> {
        // SAFETY: plain allocation call.
        let ptr = NonNull::new(unsafe { bindings::ipvs_rs_pcpu_alloc() }).ok_or(ENOMEM)?;
        // INVARIANT: a fresh allocation, owned from here.
        Ok(PcpuCounters { ptr })
    }

    pub(crate) fn conn(&self) {
        // SAFETY: live per-CPU allocation (invariant).
        unsafe { bindings::ipvs_rs_pcpu_conn(self.ptr.as_ptr()) };
    }

    pub(crate) fn add_in(&self, bytes: u64) {
        // SAFETY: live per-CPU allocation (invariant).
        unsafe { bindings::ipvs_rs_pcpu_in(self.ptr.as_ptr(), bytes) };
    }

    pub(crate) fn add_out(&self, bytes: u64) {
        // SAFETY: live per-CPU allocation (invariant).
        unsafe { bindings::ipvs_rs_pcpu_out(self.ptr.as_ptr(), bytes) };
    }

    /// The sum over every CPU.
    pub(crate) fn sum(&self) -> Counters {
        let mut c = bindings::ipvs_rs_counters::default();
        // SAFETY: live per-CPU allocation (invariant); `c` is a writable struct.
        unsafe { bindings::ipvs_rs_pcpu_sum(self.ptr.as_ptr(), &mut c) };
        Counters {
            conns: c.conns,
            inpkts: c.inpkts,
            outpkts: c.outpkts,
            inbytes: c.inbytes,
            outbytes: c.outbytes,
        }
    }
}

impl Drop for PcpuCounters {
    fn drop(&mut self) {
        // SAFETY: owned live allocation (invariant), freed once; free_percpu() may be
        // called from atomic context (the last reference may go in an RCU callback).
        unsafe { bindings::ipvs_rs_pcpu_free(self.ptr.as_ptr()) };
    }
}

/// `nr_cpu_ids`: one more than the highest possible CPU number (fixed at boot).
pub(crate) fn nr_cpu_ids() -> u32 {
    // SAFETY: reads a kernel variable that is written only during boot.
    unsafe { bindings::ipvs_rs_nr_cpu_ids() }
}
