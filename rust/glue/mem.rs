// SPDX-License-Identifier: GPL-2.0
//! How much memory is free, as the flood defenses count it.
//!
//! C headers: include/linux/mm.h (`si_meminfo`)

use super::bindings;

/// `si_meminfo()`'s `freeram + bufferram`, in pages: the figure C's
/// `update_defense_level()` compares with `amemthresh`.
pub(crate) fn free_and_buffer_pages() -> u64 {
    // SAFETY: plain call; `si_meminfo` only reads global counters.
    (unsafe { bindings::ipvs_rs_free_and_buffer_pages() }) as u64
}
