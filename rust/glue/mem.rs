// SPDX-License-Identifier: GPL-2.0
//! How much memory is free, as the flood defenses and the sync queue's default count it.
//!
//! C headers: include/linux/mm.h (`si_meminfo`, `nr_free_buffer_pages`)

use super::bindings;

/// `si_meminfo()`'s `freeram + bufferram`, in pages: the figure C's
/// `update_defense_level()` compares with `amemthresh`.
pub(crate) fn free_and_buffer_pages() -> u64 {
    // SAFETY: plain call; `si_meminfo` only reads global counters.
    (unsafe { bindings::ipvs_rs_free_and_buffer_pages() }) as u64
}

/// The default of `sync_qlen_max`: `nr_free_buffer_pages() / 32`, as C's
/// `ip_vs_control_net_init_sysctl()` sets it.
pub(crate) fn sync_qlen_max_default() -> usize {
    // SAFETY: plain call; `nr_free_buffer_pages` only reads global counters.
    (unsafe { bindings::ipvs_rs_sync_qlen_max_default() }) as usize
}
