// SPDX-License-Identifier: GPL-2.0
//! The real servers of a namespace by address and port (`ipvs->rs_table` of `ip_vs_ctl.c`:
//! `ip_vs_rs_hash()`, `ip_vs_rs_unhash()`, `ip_vs_has_real_service()`), for the packet
//! path's question "does this packet come from a real server's service?" (`nat_icmp_send`).
//!
//! One entry per destination whose forwarding method gives it a real service: masquerading
//! (keyed by its port) and tunnelling (keyed by the GUE port, or 0 for IPIP and GRE); direct
//! routing and local destinations have none. The control plane (the namespace's
//! configuration mutex, which the [`RealWriter`] token stands for) publishes an entry when it
//! adds or updates a destination and withdraws it when the destination leaves its service;
//! the packet path reads under RCU. An entry is a small object of its own rather than the
//! destination: a destination whose method or tunnel port changes is withdrawn and published
//! again under its new key.

use super::svc::addr_len;
use crate::glue::arc_table::{impl_has_links, ArcTable, ArcTableWriter, Links};
use crate::glue::rcu::RcuReadGuard;
use ipvs_core::netlink::ipvs::{conn_flags, tunnel_type};
use ipvs_core::netlink::Errno;
use ipvs_core::wire::{Family, InetAddr};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Buckets of a new table (C: `IP_VS_RTAB_SIZE`, 16).
const MIN_BUCKETS: usize = 16;
/// The table doubles when it holds more than this many entries per bucket.
const LOAD_FACTOR: usize = 2;

/// One destination's real service (`dest->d_list` in `rs_table`, with what
/// `ip_vs_has_real_service()` compares).
pub(crate) struct RealService {
    links: Links<RealService>,
    family: Family,
    addr: InetAddr,
    /// The port the entry is keyed by, host order.
    port: u16,
    /// The service's protocol (`dest->protocol`).
    protocol: u16,
    /// The service is a firewall-mark service (`dest->vfwmark != 0`): any protocol matches.
    fwmark: bool,
    /// The destination masquerades (`IP_VS_DFWD_METHOD(dest) == IP_VS_CONN_F_MASQ`).
    masq: bool,
}

impl_has_links!(RealService, links);

fn hash(family: Family, addr: &InetAddr, port: u16) -> u32 {
    let af = family.af();
    let mut h = 0x5253_5431u32 ^ u32::from(af);
    for w in addr.0[..addr_len(af)].chunks_exact(4) {
        h = h.rotate_left(5) ^ u32::from_ne_bytes([w[0], w[1], w[2], w[3]]);
        h = h.wrapping_mul(0x9e37_79b1);
    }
    (h ^ u32::from(port)).wrapping_mul(0x85eb_ca6b)
}

/// What an entry is keyed and matched by besides the address: the port (host order) and
/// whether the destination masquerades.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RealKey {
    port: u16,
    masq: bool,
}

impl RealKey {
    /// `ip_vs_rs_hash()`'s key for a destination with `conn_flags` (its forwarding method),
    /// tunnel type and GUE port `tun_type` / `tun_port`, and port `port`; `None` when its
    /// method has no real service (direct routing, local node, an unknown tunnel type).
    pub(crate) fn of(conn_flags: u32, tun_type: u8, tun_port: u16, port: u16) -> Option<RealKey> {
        match conn_flags & conn_flags::FWD_MASK {
            conn_flags::MASQ => Some(RealKey { port, masq: true }),
            conn_flags::TUNNEL => match tun_type {
                tunnel_type::GUE => Some(RealKey {
                    port: tun_port,
                    masq: false,
                }),
                tunnel_type::IPIP | tunnel_type::GRE => Some(RealKey {
                    port: 0,
                    masq: false,
                }),
                _ => None,
            },
            _ => None,
        }
    }
}

impl RealService {
    /// The entry of a destination `addr` of `family` keyed by `key`, of a service of
    /// `protocol` (`fwmark`: a firewall-mark service). Process context.
    pub(crate) fn new(
        family: Family,
        addr: InetAddr,
        key: RealKey,
        protocol: u16,
        fwmark: bool,
    ) -> Result<Arc<RealService>, Errno> {
        Arc::new(
            RealService {
                links: Links::new(hash(family, &addr, key.port)),
                family,
                addr,
                port: key.port,
                protocol,
                fwmark,
                masq: key.masq,
            },
            GFP_KERNEL,
        )
        .map_err(|_| Errno::Enomem)
    }

    /// The key the entry was made with.
    pub(crate) fn key(&self) -> RealKey {
        RealKey {
            port: self.port,
            masq: self.masq,
        }
    }

    fn matches(&self, family: Family, addr: &InetAddr, port: u16) -> bool {
        let n = addr_len(family.af());
        self.family == family && self.port == port && self.addr.0[..n] == addr.0[..n]
    }
}

/// The real services of one namespace, for lookups from the packet path.
pub(crate) type RealTable = ArcTable<RealService>;

/// The right to change a [`RealTable`]: one per table, owned by the control plane.
pub(crate) struct RealWriter(ArcTableWriter<RealService>);

impl ArcTable<RealService> {
    /// An empty table and its writer.
    pub(crate) fn new() -> Result<(Arc<RealTable>, RealWriter), Errno> {
        let (t, w) = ArcTable::with_buckets(MIN_BUCKETS, LOAD_FACTOR).map_err(|_| Errno::Enomem)?;
        Ok((t, RealWriter(w)))
    }

    /// `ip_vs_has_real_service()`: a masquerading destination `addr:port` of family
    /// `family` serves `protocol` (or belongs to a firewall-mark service).
    pub(crate) fn has_masq(
        &self,
        rcu: &RcuReadGuard,
        family: Family,
        protocol: u8,
        addr: &InetAddr,
        port: u16,
    ) -> bool {
        let protocol = u16::from(protocol);
        self.find(rcu, hash(family, addr, port), |e| {
            e.matches(family, addr, port) && (e.protocol == protocol || e.fwmark) && e.masq
        })
        .is_some()
    }
}

impl RealWriter {
    /// The table the writer changes.
    pub(crate) fn table(&self) -> Arc<RealTable> {
        self.0.table()
    }

    /// Publish `e` (`ip_vs_rs_hash()`). May sleep.
    pub(crate) fn insert(&mut self, e: &Arc<RealService>) {
        self.0.insert(e);
    }

    /// Withdraw `e` (`ip_vs_rs_unhash()`); freed after a grace period.
    pub(crate) fn remove(&mut self, e: &RealService) {
        self.0.remove(e);
    }
}
