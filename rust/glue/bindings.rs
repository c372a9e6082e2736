// SPDX-License-Identifier: GPL-2.0
//! Module-private bindings, generated at build time from `include/ipvs_rs.h` (see Kbuild).
// bindgen 0.73 marks its transmutes `#[allow(unnecessary_transmutes)]`, a lint of rustc 1.88+:
// older rustc (Linux 6.12 accepts 1.78) must not warn about it (as the kernel's `bindings`).
#![cfg_attr(not(CONFIG_RUSTC_HAS_UNNECESSARY_TRANSMUTES), allow(unknown_lints))]
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    missing_docs,
    unreachable_pub,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    unnecessary_transmutes,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]

use kernel::ffi;

// The kernel's bindgen parameters blocklist these (they come from `ffi`); define them as the
// kernel's own `bindings` crate does.
type __kernel_size_t = usize;
type __kernel_ssize_t = isize;
type __kernel_ptrdiff_t = isize;

include!("bindings_generated.rs");
