// SPDX-License-Identifier: GPL-2.0
//! Questions about a namespace's addresses and devices that the control plane asks.
//!
//! C headers: include/linux/netdevice.h, include/net/route.h, include/net/ip6_route.h
//! (wrapped in rust/ipvs_genl.c)

use super::bindings;
use super::pernet::Net;

/// The address check of `ip_vs_new_dest()`: `addr` (family `af`: 2 or 10; IPv4 in the first
/// 4 bytes) is a unicast or local address of `net`; IPv6 link-local or non-unicast addresses
/// only if they route to loopback.
pub(crate) fn dest_addr_ok(net: &Net, af: u16, addr: &[u8; 16]) -> bool {
    // SAFETY: `net` is alive; `addr` points to 16 readable bytes.
    unsafe { bindings::ipvs_rs_dest_addr_check(net.as_ptr(), af, addr.as_ptr()) == 0 }
}
