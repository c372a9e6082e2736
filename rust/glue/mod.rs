// SPDX-License-Identifier: GPL-2.0
//! Kernel glue: the only place ipvs_rs touches C. Each file wraps one kernel concept in a
//! small safe type and writes its invariants down; everything above it is safe Rust.

pub(crate) mod bindings;
pub(crate) mod genetlink;
#[cfg(ipvs_rs_kunit)]
pub(crate) mod kunit;
pub(crate) mod kvec;
pub(crate) mod mem;
pub(crate) mod modnotify;
pub(crate) mod percpu;
pub(crate) mod pernet;
pub(crate) mod proc;
pub(crate) mod sysctl;
pub(crate) mod xtables;
pub(crate) mod random;
pub(crate) mod rcu;
pub(crate) mod skb;
