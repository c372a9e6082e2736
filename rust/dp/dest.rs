// SPDX-License-Identifier: GPL-2.0
//! What the packet path shares with the control plane about a destination and a service:
//! the atomics of `struct ip_vs_dest` (weight, flags, connection counters) and the packet
//! counters of `struct ip_vs_stats`.
//!
//! A destination's [`DestShared`] lives in an `Arc`: the control plane holds one reference
//! (in its `Dest`, also while the destination sits in the trash) and every connection bound
//! to it holds one, so it outlives its last connection as C's `dest->refcnt` makes it.

use crate::glue::percpu::PcpuCounters;
use crate::glue::skb::DstCache;
use crate::glue::sync::BhLock;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering::Relaxed};
use ipvs_core::est::StatsState;
use ipvs_core::netlink::reply::Stats;
use ipvs_core::wire::{Family, InetAddr};
use kernel::prelude::*;
use kernel::sync::Arc;

/// `struct ip_vs_stats`: the live counters, per CPU as C keeps them, and what the estimator
/// made of them (`kstats`, `kstats0`, the rates), which is what readers see, as in C:
/// counters are as of the last estimation (every 2 s).
#[pin_data]
pub(crate) struct StatsCells {
    cpu: PcpuCounters,
    #[pin]
    est: BhLock<StatsState>,
}

impl StatsCells {
    /// Counters with their per-CPU copies, built in place (in an `Arc`, or in the owner's
    /// initializer). Process context.
    pub(crate) fn new() -> impl PinInit<Self, kernel::error::Error> {
        try_pin_init!(StatsCells {
            cpu: PcpuCounters::alloc()?,
            est <- crate::new_bh_lock!(StatsState::NEW, "ipvs_rs_stats"),
        })
    }

    /// One estimation period passed (`ip_vs_chain_estimation()` for this stats object).
    pub(crate) fn estimate(&self) {
        let sum = self.cpu.sum();
        self.est.lock().estimate(&sum);
    }

    pub(crate) fn count_conn(&self) {
        self.cpu.conn();
    }

    pub(crate) fn count_in(&self, bytes: usize) {
        self.cpu.add_in(bytes as u64);
    }

    pub(crate) fn count_out(&self, bytes: usize) {
        self.cpu.add_out(bytes as u64);
    }

    /// `ip_vs_copy_stats()`: counters since the last zeroing, as of the last estimation,
    /// and the rates.
    pub(crate) fn snapshot(&self) -> Stats {
        self.est.lock().copy()
    }

    /// `ip_vs_zero_stats()`.
    pub(crate) fn zero(&self) {
        self.est.lock().zero();
    }
}

/// `dest->tun_type`, `tun_port` and `tun_flags` (`IP_VS_CONN_F_TUNNEL_TYPE_*`, the GUE port
/// in host order, `IP_VS_TUNNEL_ENCAP_FLAG_*`), stored from the `u8`/`u16`s the control
/// plane validated.
#[derive(Default)]
pub(crate) struct TunnelCells {
    pub(crate) kind: AtomicU32,
    pub(crate) port: AtomicU32,
    pub(crate) flags: AtomicU32,
}

/// The packet-path half of `struct ip_vs_dest`.
#[pin_data]
pub(crate) struct DestShared {
    pub(crate) family: Family,
    pub(crate) addr: InetAddr,
    /// Host order.
    pub(crate) port: u16,
    /// `dest->conn_flags`: forwarding method and the flags a new connection inherits.
    pub(crate) conn_flags: AtomicU32,
    pub(crate) weight: AtomicI32,
    pub(crate) last_weight: AtomicI32,
    pub(crate) u_threshold: AtomicU32,
    pub(crate) l_threshold: AtomicU32,
    /// The encapsulation of a tunnelled destination.
    pub(crate) tunnel: TunnelCells,
    /// `IP_VS_DEST_F_AVAILABLE`: the destination is in its service's list.
    pub(crate) available: AtomicBool,
    /// `IP_VS_DEST_F_OVERLOAD`.
    pub(crate) overloaded: AtomicBool,
    pub(crate) activeconns: AtomicI32,
    pub(crate) totalconns: AtomicI32,
    pub(crate) persistconns: AtomicI32,
    #[pin]
    pub(crate) stats: StatsCells,
    /// The route to this server (C: `dest->dest_dst`).
    pub(crate) dst: DstCache,
}

impl DestShared {
    /// A destination's shared half, in an `Arc`. Process context (allocates the per-CPU
    /// counters).
    pub(crate) fn new(
        family: Family,
        addr: InetAddr,
        port: u16,
    ) -> Result<Arc<Self>, kernel::error::Error> {
        Arc::pin_init(
            try_pin_init!(DestShared {
            family,
            addr,
            port,
            conn_flags: AtomicU32::new(0),
            weight: AtomicI32::new(0),
            last_weight: AtomicI32::new(0),
            u_threshold: AtomicU32::new(0),
            l_threshold: AtomicU32::new(0),
            tunnel: TunnelCells::default(),
            available: AtomicBool::new(true),
            overloaded: AtomicBool::new(false),
            activeconns: AtomicI32::new(0),
            totalconns: AtomicI32::new(0),
            persistconns: AtomicI32::new(0),
            stats <- StatsCells::new(),
            dst: DstCache::new(),
            }),
            GFP_KERNEL,
        )
    }

    /// `ip_vs_dest_inactconns()`: total − active, at least 0.
    pub(crate) fn inactconns(&self) -> i32 {
        (self
            .totalconns
            .load(Relaxed)
            .wrapping_sub(self.activeconns.load(Relaxed)))
        .max(0)
    }

    pub(crate) fn in_use(&self) -> bool {
        self.totalconns.load(Relaxed) != 0 || self.persistconns.load(Relaxed) != 0
    }

    /// `__ip_vs_dest_update_overload()`: `mode` > 0 after a connection was bound, < 0 after
    /// one was unbound, 0 after the thresholds changed.
    fn update_overload(&self, mode: i32) {
        let u = self.u_threshold.load(Relaxed);
        if u == 0 {
            self.overloaded.store(false, Relaxed);
            return;
        }
        let l = self.l_threshold.load(Relaxed);
        // C compares the int counter with u32 thresholds: the counter converts to u32.
        let conns = self.totalconns.load(Relaxed) as u32;
        if conns >= if mode > 0 { l } else { u } {
            self.overloaded.store(true, Relaxed);
            return;
        }
        if conns >= if mode < 0 { u } else { l } {
            return;
        }
        self.overloaded.store(false, Relaxed);
    }

    /// `__ip_vs_update_dest()`'s thresholds: the lower one defaults to 75% of the upper
    /// (`l_threshold_val`), and the overload flag is recomputed.
    pub(crate) fn set_thresholds(&self, upper: u32, lower: u32) {
        self.u_threshold.store(upper, Relaxed);
        let low = if lower != 0 {
            lower
        } else {
            upper - (upper >> 2)
        };
        self.l_threshold.store(low, Relaxed);
        self.update_overload(0);
    }

    /// `ip_vs_bind_dest()`'s counter update for a new connection (`template`: persistence
    /// template).
    pub(crate) fn bind(&self, template: bool, inactive: bool) {
        if template {
            self.persistconns.fetch_add(1, Relaxed);
            return;
        }
        if !inactive {
            self.activeconns.fetch_add(1, Relaxed);
        }
        let tc = self.totalconns.fetch_add(1, Relaxed).wrapping_add(1);
        if tc as u32 == self.u_threshold.load(Relaxed) {
            self.update_overload(1);
        }
    }

    /// `ip_vs_unbind_dest()`'s counter update.
    pub(crate) fn unbind(&self, template: bool, inactive: bool) {
        if template {
            self.persistconns.fetch_sub(1, Relaxed);
            return;
        }
        if !inactive {
            self.activeconns.fetch_sub(1, Relaxed);
        }
        let tc = self.totalconns.fetch_sub(1, Relaxed);
        if tc as u32 == self.l_threshold.load(Relaxed) {
            self.update_overload(-1);
        }
    }
}

/// The scheduler's view of a destination (`ipvs_core::sched::Dest`).
impl ipvs_core::sched::Dest for DestShared {
    fn weight(&self) -> i32 {
        self.weight.load(Relaxed)
    }
    fn last_weight(&self) -> i32 {
        self.last_weight.load(Relaxed)
    }
    fn active_conns(&self) -> i32 {
        self.activeconns.load(Relaxed)
    }
    fn total_conns(&self) -> i32 {
        self.totalconns.load(Relaxed)
    }
    fn overloaded(&self) -> bool {
        self.overloaded.load(Relaxed)
    }
    fn addr(&self) -> InetAddr {
        self.addr
    }
    fn port(&self) -> u16 {
        self.port
    }
}

/// lblc/lblcr entries check that a destination they hold is still in its service.
impl ipvs_core::sched::HeldDest for DestShared {
    fn available(&self) -> bool {
        self.available.load(Relaxed)
    }
}
