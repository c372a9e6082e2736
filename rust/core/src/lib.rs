//! ipvs-rs core: the policy half of the Rust IPVS.
//!
//! Everything here is `#![no_std]`, allocation-free and free of kernel types, so the same
//! source is compiled into the `ipvs_rs` kernel module (by Kbuild, as the crate `ipvs_core`)
//! and on the host for `cargo test`, property tests and fuzzing. The kernel glue calls into
//! it; it never calls out.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod defense;
pub mod est;
pub mod netlink;
pub mod persist;
pub mod procfs;
pub mod proto;
pub mod reuse;
pub mod sched;
pub mod sync;
pub mod sysctl;
pub mod tunnel;
pub mod wire;
pub mod xt_ipvs;
