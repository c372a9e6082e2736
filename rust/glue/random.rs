// SPDX-License-Identifier: GPL-2.0
//! Random numbers (`get_random_u32_below()`).
//!
//! C header: include/linux/random.h (wrapped in rust/dp_glue.c).

use super::bindings;

/// A uniformly random number in `0..ceil`; 0 when `ceil` is 0 (as `__get_random_u32_below`).
pub(crate) fn u32_below(ceil: u32) -> u32 {
    // SAFETY: plain call.
    unsafe { bindings::ipvs_rs_random_u32_below(ceil) }
}

/// A random number (`get_random_u32()`).
pub(crate) fn u32() -> u32 {
    // SAFETY: plain call.
    unsafe { bindings::ipvs_rs_random_u32() }
}
