// SPDX-License-Identifier: GPL-2.0
//! The data path: hooks (`ip_vs_core.c`), the connection table (`ip_vs_conn.c`) and the
//! transmitters (`ip_vs_xmit.c`). Policy comes from the core: header views and NAT rewrite
//! (`ipvs_core::wire`), protocol state machines (`ipvs_core::proto`), schedulers
//! (`ipvs_core::sched`), the port-reuse decision (`ipvs_core::reuse`).

pub(crate) mod conn;
pub(crate) mod dest;
pub(crate) mod hook;
pub(crate) mod xmit;

use crate::glue::bindings;
use crate::glue::pernet::Net;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};
use dest::StatsCells;
use ipvs_core::proto::{tcp, udp, TimeoutTables};
use kernel::prelude::*;

const NSTATES: usize = tcp::TcpState::ALL.len();

/// The data-path state of one namespace (the packet-path fields of `struct netns_ipvs`).
pub(crate) struct DpNet {
    /// `ipvs->conn_count`.
    pub(crate) conn_count: AtomicI32,
    /// `ipvs->tot_stats`.
    pub(crate) tot_stats: StatsCells,
    /// The protocols' timeout tables, seconds (C: per-netns `pd->timeout_table`).
    tcp_timeouts: [AtomicU32; NSTATES],
    udp_timeout: AtomicU32,
    /// `ipvs->hooks_afmask`: bit 0 IPv4, bit 1 IPv6. Changed under the namespace's
    /// configuration mutex only.
    hooks_afmask: AtomicU32,
    /// Packets dropped because their headers were malformed or truncated.
    pub(crate) malformed: AtomicU64,
}

fn af_bit(af: u16) -> u32 {
    if af == 10 {
        2
    } else {
        1
    }
}

impl DpNet {
    pub(crate) fn new() -> Self {
        let d = TimeoutTables::DEFAULT;
        DpNet {
            conn_count: AtomicI32::new(0),
            tot_stats: StatsCells::new(),
            tcp_timeouts: tcp::TcpState::ALL.map(|s| AtomicU32::new(d.tcp.get(s))),
            udp_timeout: AtomicU32::new(d.udp.get(udp::UdpState::Normal)),
            hooks_afmask: AtomicU32::new(0),
            malformed: AtomicU64::new(0),
        }
    }

    /// The timeout tables as they are now.
    pub(crate) fn timeouts(&self) -> TimeoutTables {
        let mut t = TimeoutTables::DEFAULT;
        for (s, v) in tcp::TcpState::ALL.iter().zip(self.tcp_timeouts.iter()) {
            t.tcp.set(*s, v.load(Relaxed));
        }
        t.udp.set(udp::UdpState::Normal, self.udp_timeout.load(Relaxed));
        t
    }

    /// Store new tables (`ipvsadm --set`).
    pub(crate) fn set_timeouts(&self, t: &TimeoutTables) {
        for (s, v) in tcp::TcpState::ALL.iter().zip(self.tcp_timeouts.iter()) {
            v.store(t.tcp.get(*s), Relaxed);
        }
        self.udp_timeout.store(t.udp.get(udp::UdpState::Normal), Relaxed);
    }

    /// `ip_vs_register_hooks()`: hook family `af` in `net` if it is not hooked yet.
    /// Caller holds the namespace's configuration mutex.
    pub(crate) fn register_hooks(&self, net: &Net, af: u16) -> Result {
        let bit = af_bit(af);
        if self.hooks_afmask.load(Relaxed) & bit != 0 {
            return Ok(());
        }
        // SAFETY: `net` is alive; the hook table is static data of this module, which
        // unregisters it before unloading (`unregister_all_hooks`).
        let ret = unsafe { bindings::ipvs_rs_hooks_register(net.as_ptr(), i32::from(af)) };
        kernel::error::to_result(ret)?;
        self.hooks_afmask.fetch_or(bit, Relaxed);
        Ok(())
    }

    /// `ip_vs_unregister_hooks()`. Caller holds the configuration mutex (or is the
    /// namespace's exit).
    pub(crate) fn unregister_hooks(&self, net: &Net, af: u16) {
        let bit = af_bit(af);
        if self.hooks_afmask.load(Relaxed) & bit == 0 {
            return;
        }
        // SAFETY: registered by `register_hooks` in this namespace.
        unsafe { bindings::ipvs_rs_hooks_unregister(net.as_ptr(), i32::from(af)) };
        self.hooks_afmask.fetch_and(!bit, Relaxed);
    }

    pub(crate) fn unregister_all_hooks(&self, net: &Net) {
        self.unregister_hooks(net, 2);
        self.unregister_hooks(net, 10);
    }
}
