// SPDX-License-Identifier: GPL-2.0
//! Kernel glue: the only place ipvs_rs touches C. Each file wraps one kernel concept in a
//! small safe type and writes its invariants down; everything above it is safe Rust.

pub(crate) mod arc_table;
pub(crate) mod bindings;
pub(crate) mod genetlink;
pub(crate) mod kthread;
#[cfg(ipvs_rs_kunit)]
pub(crate) mod kunit;
#[cfg(ipvs_rs_kunit)]
pub(crate) mod kunit_ctl;
pub(crate) mod kvec;
pub(crate) mod mem;
pub(crate) mod modnotify;
pub(crate) mod netdev;
pub(crate) mod netfilter;
pub(crate) mod percpu;
pub(crate) mod pernet;
pub(crate) mod proc;
pub(crate) mod procnet;
pub(crate) mod random;
pub(crate) mod rcu;
pub(crate) mod ref_table;
pub(crate) mod skb;
pub(crate) mod sync;
pub(crate) mod syncsock;
pub(crate) mod sysctl;
pub(crate) mod timer;
pub(crate) mod uapi;
pub(crate) mod workqueue;
pub(crate) mod xtables;
