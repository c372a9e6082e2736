// SPDX-License-Identifier: GPL-2.0
//! Netfilter hooks: registration per namespace and family, and the entry point the hooks
//! call.
//!
//! C headers: include/linux/netfilter.h, include/net/netfilter/ipv6/nf_defrag_ipv6.h
//! (the hook tables, C's `ip_vs_ops4[]`/`ip_vs_ops6[]`, are in rust/dp_glue.c)
//!
//! Every hook of the tables is a C trampoline calling one symbol, `ipvs_rs_dp_hook`, defined
//! by [`nf_hook_entry!`](crate::nf_hook_entry): it turns netfilter's raw namespace and packet,
//! with what the trampoline read of the packet first, into a `&Net` and an owned
//! [`HeadedSkb`] and calls a safe `fn(HookKind, af, hooknum, &Net, HeadedSkb) -> Verdict`.
//! (The trampolines let two kinds of packets pass without the call, as C's first tests do:
//! those IPVS handled already, and at the IPv4 ICMP hook those that are not ICMP.)

use super::bindings;
use super::pernet::Net;
use super::skb::{HeadedSkb, Skb, Verdict};
use kernel::prelude::*;

/// `NF_INET_FORWARD`.
pub(crate) const NF_INET_FORWARD: u32 = bindings::nf_inet_hooks_NF_INET_FORWARD;
/// `NF_INET_LOCAL_OUT`.
pub(crate) const NF_INET_LOCAL_OUT: u32 = bindings::nf_inet_hooks_NF_INET_LOCAL_OUT;

/// Which of ipvs_rs's hook functions netfilter called (C: `ip_vs_in_hook()`,
/// `ip_vs_out_hook()`, `ip_vs_forward_icmp()`/`_v6()`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum HookKind {
    In,
    Out,
    ForwardIcmp,
}

/// The safe hook function: kind, address family (`state->pf`), hook number, the hook's
/// namespace and the packet with its first facts. The returned verdict goes back to
/// netfilter.
pub(crate) type HookFn = fn(HookKind, u32, u32, &Net, HeadedSkb) -> Verdict;

/// Convert the arguments of a netfilter hook call and run `f` on them.
///
/// # Safety
///
/// Called from a netfilter hook of rust/dp_glue.c: `net` is the hook's namespace, alive for
/// the call, `skb` is the packet netfilter hands to the hook (owned by the hook until it
/// returns its verdict), and `head` points to what the trampoline read of that packet, for
/// the hook's family `af`, unchanged since.
#[inline(always)]
pub(crate) unsafe fn call_hook(
    kind: u32,
    af: u32,
    hooknum: u32,
    net: *mut bindings::net,
    skb: *mut bindings::sk_buff,
    head: *const bindings::ipvs_rs_skb_head,
    f: HookFn,
) -> u32 {
    // SAFETY: netfilter passes the packet it owns for the duration of this call.
    let Some(skb) = (unsafe { Skb::from_raw(skb) }) else {
        return Verdict::Accept.as_c();
    };
    // SAFETY: `head` is the trampoline's reading of this packet, as it still is, for the
    // hook's family (the caller's contract).
    let skb = unsafe { HeadedSkb::from_hook(skb, af == bindings::AF_INET, &*head) };
    // SAFETY: the hook's namespace is alive while its hooks run.
    let net = unsafe { Net::from_raw(net) };
    let kind = match kind {
        bindings::ipvs_rs_hook_kind_IPVS_RS_HOOK_IN => HookKind::In,
        bindings::ipvs_rs_hook_kind_IPVS_RS_HOOK_OUT => HookKind::Out,
        _ => HookKind::ForwardIcmp,
    };
    f(kind, af, hooknum, net, skb).as_c()
}

/// Define `ipvs_rs_dp_hook`, the symbol the netfilter trampolines of rust/dp_glue.c call,
/// as a call of the [`HookFn`] `$f`. Invoked once per module.
#[macro_export]
macro_rules! nf_hook_entry {
    ($f:expr) => {
        /// The hook function of every ipvs_rs netfilter hook (see rust/dp_glue.c).
        ///
        /// # Safety
        ///
        /// Called by netfilter (through the C trampolines) with the hook's namespace and packet.
        #[no_mangle]
        unsafe extern "C" fn ipvs_rs_dp_hook(
            kind: u32,
            af: u32,
            hooknum: u32,
            net: *mut $crate::glue::bindings::net,
            skb: *mut $crate::glue::bindings::sk_buff,
            head: *const $crate::glue::bindings::ipvs_rs_skb_head,
        ) -> u32 {
            // SAFETY: called by the trampolines with the hook's namespace and packet, and
            // what they read of the packet first.
            unsafe { $crate::glue::netfilter::call_hook(kind, af, hooknum, net, skb, head, $f) }
        }
    };
}

/// `nf_register_net_hooks()` of ipvs_rs's hooks for `af` (2: IPv4, 10: IPv6) in `net`
/// (C: `ip_vs_register_hooks()`).
///
/// The hooks call into this module: the caller unregisters them ([`unregister_hooks`])
/// before the namespace's state goes (ipvs_rs: in `PernetData::stop`), which the pernet
/// unregistration at module unload waits for.
pub(crate) fn register_hooks(net: &Net, af: u16) -> Result {
    // SAFETY: `net` is alive; the hook tables are static data of this module.
    kernel::error::to_result(unsafe {
        bindings::ipvs_rs_hooks_register(net.as_ptr(), i32::from(af))
    })
}

/// `nf_unregister_net_hooks()` of the hooks [`register_hooks`] registered for `af` in `net`
/// (C: `ip_vs_unregister_hooks()`). Waits for running hooks (netfilter's RCU).
pub(crate) fn unregister_hooks(net: &Net, af: u16) {
    // SAFETY: `net` is alive; the caller registered these hooks there (its contract, kept
    // by the data path's per-family mask).
    unsafe { bindings::ipvs_rs_hooks_unregister(net.as_ptr(), i32::from(af)) };
}

/// `nf_defrag_ipv6_enable()`: IPv6 packets reach the hooks reassembled (C enables it with
/// the first IPv6 service). Stays enabled until the namespace goes, as in C.
pub(crate) fn defrag_ipv6_enable(net: &Net) -> Result {
    // SAFETY: `net` is alive.
    kernel::error::to_result(unsafe { bindings::ipvs_rs_nf_defrag_ipv6_enable(net.as_ptr()) })
}
