// SPDX-License-Identifier: GPL-2.0
//! Module-private bindings, generated at build time from `include/ipvs_rs.h` (see Kbuild).
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    missing_docs,
    unreachable_pub,
    improper_ctypes,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]

use kernel::ffi;

include!("bindings_generated.rs");
