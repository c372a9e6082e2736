// SPDX-License-Identifier: GPL-2.0
//! The core's copies of the kernel's uapi constants, checked at compile time against the
//! values bindgen read from the kernel's headers (`include/uapi/linux/ip_vs.h`,
//! `include/linux/socket.h`): the core is host-tested and cannot see the kernel's headers, so
//! it keeps its own copy, and a kernel that changed one fails the module's build here.

use super::bindings;
use ipvs_core::netlink::ipvs::{self as uapi, conn_flags as f};

const _: () = {
    assert!(uapi::AF_INET as u32 == bindings::AF_INET);
    assert!(uapi::AF_INET6 as u32 == bindings::AF_INET6);
    assert!(f::FWD_MASK == bindings::IP_VS_CONN_F_FWD_MASK);
    assert!(f::MASQ == bindings::IP_VS_CONN_F_MASQ);
    assert!(f::LOCALNODE == bindings::IP_VS_CONN_F_LOCALNODE);
    assert!(f::TUNNEL == bindings::IP_VS_CONN_F_TUNNEL);
    assert!(f::DROUTE == bindings::IP_VS_CONN_F_DROUTE);
    assert!(f::BYPASS == bindings::IP_VS_CONN_F_BYPASS);
    assert!(f::SYNC == bindings::IP_VS_CONN_F_SYNC);
    assert!(f::HASHED == bindings::IP_VS_CONN_F_HASHED);
    assert!(f::NOOUTPUT == bindings::IP_VS_CONN_F_NOOUTPUT);
    assert!(f::INACTIVE == bindings::IP_VS_CONN_F_INACTIVE);
    assert!(f::NO_CPORT == bindings::IP_VS_CONN_F_NO_CPORT);
    assert!(f::TEMPLATE == bindings::IP_VS_CONN_F_TEMPLATE);
    assert!(f::ONE_PACKET == bindings::IP_VS_CONN_F_ONE_PACKET);
    assert!(f::NFCT == bindings::IP_VS_CONN_F_NFCT);
    assert!(f::DEST_MASK == bindings::IP_VS_CONN_F_DEST_MASK);
};
