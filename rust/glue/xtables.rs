// SPDX-License-Identifier: GPL-2.0
//! The `ipvs` xtables match (`iptables -m ipvs`, iptables-nft's compat `match ipvs`).
//!
//! C headers: include/linux/netfilter/x_tables.h, include/uapi/linux/netfilter/xt_ipvs.h;
//! the registration record and its family check are in rust/xt_ipvs_glue.c.
//!
//! ipvs_rs registers the match C's `xt_ipvs.ko` registers (name `ipvs`, revision 0,
//! `NFPROTO_UNSPEC`, `struct xt_ipvs_mtinfo`), so rules written for C IPVS (kube-router's,
//! Docker swarm's) load unchanged and the kernel never requests `xt_ipvs.ko`, which would
//! need C's `ip_vs`. What the match decides is [`IpvsMatch::matches`], implemented by the
//! data path; this file only turns the C call into safe values.

use super::bindings;
use super::pernet::Net;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use ipvs_core::wire::{Family, PacketRead};
use ipvs_core::xt_ipvs::{self, CtDir, MtInfo};
use kernel::error::to_result;
use kernel::prelude::*;

const _: () = assert!(bindings::IPVS_RS_XT_IPVS_INFO_SIZE as usize == xt_ipvs::INFO_SIZE);

/// The packet a match function is asked about: read-only (`const struct sk_buff *`).
///
/// # Invariants
///
/// `ptr` is the live skb of the running match call, which lasts at least `'a`; its network
/// header is the IP header of the match's family.
pub(crate) struct MatchSkb<'a> {
    ptr: NonNull<bindings::sk_buff>,
    _call: PhantomData<&'a bindings::sk_buff>,
}

impl MatchSkb<'_> {
    /// `skb->ipvs_property`: IPVS handled this packet.
    pub(crate) fn ipvs_property(&self) -> bool {
        // SAFETY: the skb is live (invariant); a plain read.
        unsafe { bindings::ipvs_rs_skb_ipvs_property(self.ptr.as_ptr()) }
    }

    /// `nf_ct_get()`'s direction.
    pub(crate) fn ct_dir(&self) -> CtDir {
        // SAFETY: the skb is live (invariant); a plain read.
        match unsafe { bindings::ipvs_rs_skb_ct_dir(self.ptr.as_ptr()) } {
            0 => CtDir::Original,
            1 => CtDir::Reply,
            _ => CtDir::None,
        }
    }
}

impl PacketRead for MatchSkb<'_> {
    fn packet_len(&self) -> usize {
        // SAFETY: the skb is live (invariant); a plain read.
        unsafe { bindings::ipvs_rs_skb_pkt_len(self.ptr.as_ptr()) as usize }
    }

    fn read(&self, off: usize, out: &mut [u8]) -> bool {
        let (Ok(off), Ok(len)) = (u32::try_from(off), u32::try_from(out.len())) else {
            return false;
        };
        // SAFETY: the skb is live (invariant); the helper only reads it (skb_copy_bits())
        // and writes at most `len` bytes to `out`, which has room for them.
        unsafe {
            bindings::ipvs_rs_skb_read(self.ptr.as_ptr(), off, out.as_mut_ptr().cast(), len) == 0
        }
    }
}

/// What the `ipvs` match decides (C: `ipvs_mt()`).
pub(crate) trait IpvsMatch {
    /// Whether `skb`, seen by a rule of a table of `family` in namespace `net`, matches the
    /// rule's `info`. Packet path: must not sleep.
    fn matches(skb: &MatchSkb<'_>, net: &Net, family: Family, info: &MtInfo) -> bool;
}

/// Converts the C call and asks `M`.
///
/// # Safety
///
/// Called by rust/xt_ipvs_glue.c's `ipvs_mt()` with the arguments of an xtables match call:
/// a live skb, its namespace, `xt_family()` and the rule's `struct xt_ipvs_mtinfo`.
unsafe extern "C" fn ipvs_mt<M: IpvsMatch>(
    skb: *const bindings::sk_buff,
    net: *mut bindings::net,
    family: u8,
    info: *const c_void,
) -> bool {
    let (Some(ptr), Some(family)) = (NonNull::new(skb.cast_mut()), xt_ipvs::check_family(family))
    else {
        return false;
    };
    // INVARIANT: the skb of this match call, which outlives the borrow below.
    let skb = MatchSkb {
        ptr,
        _call: PhantomData,
    };
    // SAFETY: the namespace of the packet is alive during the call.
    let net = unsafe { Net::from_raw(net) };
    // SAFETY: the rule's matchinfo is `matchsize` = `INFO_SIZE` bytes (xt_check_match() and
    // nft_compat check the size), alive and unchanged while the rule is in use; byte reads
    // need no alignment.
    let bytes = unsafe { &*info.cast::<[u8; xt_ipvs::INFO_SIZE]>() };
    M::matches(&skb, net, family, &MtInfo::from_bytes(bytes))
}

/// The registered `ipvs` match; unregistered on drop.
pub(crate) struct IpvsMatchRegistration(());

impl IpvsMatchRegistration {
    /// Registers the match, deciding with `M`.
    pub(crate) fn register<M: IpvsMatch>() -> Result<Self> {
        // SAFETY: registers the static record of rust/xt_ipvs_glue.c at most once (one
        // registration per module instance, made in module init); `ipvs_mt::<M>` has the
        // C signature and is valid for the module's lifetime, which outlasts the
        // registration (rules using the match hold a module reference).
        to_result(unsafe { bindings::ipvs_rs_xt_ipvs_register(Some(ipvs_mt::<M>)) })?;
        Ok(IpvsMatchRegistration(()))
    }
}

impl Drop for IpvsMatchRegistration {
    fn drop(&mut self) {
        // SAFETY: registered in `register()`.
        unsafe { bindings::ipvs_rs_xt_ipvs_unregister() };
    }
}
