// SPDX-License-Identifier: GPL-2.0
//! Virtual services, their destinations and the destination trash of one namespace: the
//! tables and update rules of `ip_vs_ctl.c` (`ip_vs_add_service()`, `ip_vs_edit_service()`,
//! `ip_vs_add_dest()`, `ip_vs_edit_dest()`, `ip_vs_del_dest()`, `__ip_vs_update_dest()`,
//! `ip_vs_trash_get_dest()`, `ip_vs_flush()`, `ip_vs_zero_*()`).
//!
//! Requests arrive here parsed and message-checked by the core (`ipvs_core::netlink`); this
//! file applies them to the state, with C's lookups and C's errnos for what depends on state.
//! Callers hold the namespace's configuration mutex (`NetState::ctl`).
//!
//! What the packet path needs of a service lives in its [`Svc`] (`crate::dp::svc`): published
//! in the namespace's RCU table, with the scheduler and its list of destinations under the
//! service's own lock. The control plane keeps the configuration (names, each destination's
//! settings) here and mirrors every change into the `Svc`. Lookups by key go through the
//! table (O(1)); the services are kept in a list whose order does not matter (removal swaps
//! the last one in), so that dumps resume by index.

use crate::dp::dest::DestShared;
use crate::dp::realsvc::{RealKey, RealService, RealTable, RealWriter};
use crate::dp::svc::{addr_len, SchedDest, SchedState, Svc, SvcTable, SvcWriter};
use crate::glue::{kvec, rcu};
use core::sync::atomic::Ordering::Relaxed;
use ipvs_core::netlink::config::Timeouts;
use ipvs_core::netlink::dest::{DestKey, DestRepr};
use ipvs_core::netlink::ipvs::{conn_flags, svc_flags, Name, AF_INET6};
use ipvs_core::netlink::reply::{DestInfo, ServiceInfo};
use ipvs_core::netlink::service::{ServiceKey, ServiceRepr};
use ipvs_core::netlink::{Env, Errno};
use ipvs_core::sched::SchedulerKind;
use ipvs_core::wire::{Family, InetAddr};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Default protocol timeouts in seconds (`tcp_timeouts[]`/`udp_timeouts[]`): ESTABLISHED,
/// FIN_WAIT, UDP NORMAL.
pub(crate) const DEFAULT_TIMEOUTS: Timeouts = Timeouts {
    tcp: 15 * 60,
    tcp_fin: 2 * 60,
    udp: 5 * 60,
};

/// `ip_vs_addr_copy()` into a zeroed union: IPv4 keeps only its first 4 bytes.
fn normalized(af: u16, addr: &[u8; 16]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = addr_len(af);
    out[..n].copy_from_slice(&addr[..n]);
    out
}

fn same_service(a: &ServiceKey, b: &ServiceKey) -> bool {
    if a.fwmark != 0 || b.fwmark != 0 {
        // __ip_vs_svc_fwm_find(): mark and family.
        return a.fwmark == b.fwmark && a.af == b.af;
    }
    let n = addr_len(a.af);
    a.af == b.af && a.protocol == b.protocol && a.port == b.port && a.addr[..n] == b.addr[..n]
}

/// A real server of a service (`struct ip_vs_dest`, control-plane part). What the packet
/// path reads too (address, weights, flags, thresholds, tunnel) is kept once, in `shared`;
/// here only what the control plane alone reports.
pub(crate) struct Dest {
    /// `l_threshold` as configured: reported as set, where the packet path keeps the
    /// effective one (3/4 of the upper when 0, see [`DestShared::set_thresholds`]).
    l_threshold: u32,
    /// What connections and the packet path see of this destination.
    pub(crate) shared: Arc<DestShared>,
    /// Its entry in the namespace's real-server table while it is in its service and its
    /// method has one (`dest->in_rs_table`).
    real: Option<Arc<RealService>>,
}

impl Dest {
    /// `dest->af`.
    pub(crate) fn af(&self) -> u16 {
        self.shared.family.af()
    }

    /// `dest->addr`, as `ip_vs_addr_copy()` stores it.
    pub(crate) fn addr(&self) -> &[u8; 16] {
        &self.shared.addr.0
    }

    /// `dest->port`, host order.
    pub(crate) fn port(&self) -> u16 {
        self.shared.port
    }

    pub(crate) fn conn_flags(&self) -> u32 {
        self.shared.conn_flags.load(Relaxed)
    }

    pub(crate) fn weight(&self) -> i32 {
        self.shared.weight.load(Relaxed)
    }

    fn matches(&self, af: u16, addr: &[u8; 16], port: u16) -> bool {
        let n = addr_len(af);
        self.af() == af && self.port() == port && self.addr()[..n] == addr[..n]
    }

    /// `__ip_vs_update_dest()`: everything a NEW_DEST or SET_DEST sets.
    fn update(&mut self, r: &DestRepr, add: bool) {
        let sh = &self.shared;
        if add || r.weight != 0 {
            sh.last_weight.store(r.weight, Relaxed);
        }
        sh.weight.store(r.weight, Relaxed);
        sh.conn_flags.store(r.dest_conn_flags(), Relaxed);
        sh.tunnel.kind.store(u32::from(r.tun_type), Relaxed);
        sh.tunnel.port.store(u32::from(r.tun_port), Relaxed);
        sh.tunnel.flags.store(u32::from(r.tun_flags), Relaxed);
        sh.set_thresholds(r.u_threshold, r.l_threshold);
        sh.available.store(true, Relaxed);
        // __ip_vs_update_dest(): the forwarding method (thus the route) may have changed.
        sh.dst.reset();
        self.l_threshold = r.l_threshold;
    }

    fn new(r: &DestRepr, af: u16) -> Result<Dest, Errno> {
        let family = Family::from_af(af).ok_or(Errno::Eafnosupport)?;
        let addr = normalized(af, &r.key.addr);
        let shared =
            DestShared::new(family, InetAddr(addr), r.key.port).map_err(|_| Errno::Enomem)?;
        let mut d = Dest {
            l_threshold: 0,
            shared,
            real: None,
        };
        d.update(r, true);
        Ok(d)
    }

    /// Whether anything still references this destination (connections, templates).
    fn in_use(&self) -> bool {
        self.shared.in_use()
    }

    pub(crate) fn info(&self) -> DestInfo {
        let sh = &self.shared;
        DestInfo {
            addr: *self.addr(),
            port: self.port(),
            conn_flags: self.conn_flags(),
            weight: self.weight(),
            // Stored from a `u8` by `update`.
            tun_type: sh.tunnel.kind.load(Relaxed) as u8,
            // Stored from `u16`s by `update`.
            tun_port: sh.tunnel.port.load(Relaxed) as u16,
            tun_flags: sh.tunnel.flags.load(Relaxed) as u16,
            u_threshold: sh.u_threshold.load(Relaxed),
            l_threshold: self.l_threshold,
            activeconns: sh.activeconns.load(Relaxed) as u32,
            inactconns: sh.inactconns() as u32,
            persistconns: sh.persistconns.load(Relaxed) as u32,
            af: self.af(),
            stats: sh.stats.snapshot(),
        }
    }
}

/// A virtual service (`struct ip_vs_service`, control-plane part).
pub(crate) struct Service {
    pub(crate) key: ServiceKey,
    /// Bound scheduler; `None` is C's "none".
    pub(crate) sched: Option<Name>,
    pub(crate) pe: Option<Name>,
    /// In C's list order: newest first (`list_add_rcu()` at the head); the same order as
    /// the packet path's list in `dp.sched`.
    pub(crate) dests: KVec<Dest>,
    /// The packet-path half.
    pub(crate) dp: Arc<Svc>,
}

fn sched_kind(name: Option<&Name>) -> Option<SchedulerKind> {
    name.and_then(|n| SchedulerKind::from_name(n.as_bytes()))
}

impl Service {
    pub(crate) fn info(&self, hz: u32) -> ServiceInfo<'_> {
        ServiceInfo {
            af: self.key.af,
            protocol: self.key.protocol,
            addr: self.key.addr,
            port: self.key.port,
            fwmark: self.key.fwmark,
            sched_name: self.sched.as_ref().map(Name::as_bytes),
            pe_name: self.pe.as_ref().map(Name::as_bytes),
            flags: self.flags(),
            timeout: self.timeout_jiffies() / hz.max(1),
            netmask: self.netmask(),
            stats: self.dp.stats.snapshot(),
        }
    }

    pub(crate) fn flags(&self) -> u32 {
        self.dp.flags()
    }

    pub(crate) fn timeout_jiffies(&self) -> u32 {
        self.dp.timeout_jiffies.load(Relaxed)
    }

    pub(crate) fn netmask(&self) -> [u8; 4] {
        self.dp.netmask()
    }

    fn find_dest(&self, af: u16, addr: &[u8; 16], port: u16) -> Option<usize> {
        self.dests.iter().position(|d| d.matches(af, addr, port))
    }

    fn zero(&mut self) {
        self.dp.stats.zero();
        for d in self.dests.iter() {
            d.shared.stats.zero();
        }
    }

    fn family(&self) -> Family {
        Family::from_af(self.key.af).unwrap_or(Family::Ipv4)
    }
}

/// What a NEW_DEST or SET_DEST `r` of a destination of family `af` at `addr` in the
/// service `svc` does to the destination's real-server entry `cur`: `Ok(None)` leaves it as
/// it is (same key; C rehashes only when the method or the tunnel type or port changed),
/// `Ok(Some(new))` replaces it by `new` (`None`: no entry). The new entry is allocated here,
/// before the request changes anything, so that running out of memory fails it cleanly (C
/// embeds the entry in the destination).
fn prepare_real(
    cur: Option<&Arc<RealService>>,
    af: u16,
    addr: &[u8; 16],
    r: &DestRepr,
    svc: &ServiceKey,
) -> Result<Option<Option<Arc<RealService>>>, Errno> {
    let key = RealKey::of(r.dest_conn_flags(), r.tun_type, r.tun_port, r.key.port);
    if cur.map(|e| e.key()) == key {
        return Ok(None);
    }
    let Some(key) = key else {
        return Ok(Some(None));
    };
    let family = Family::from_af(af).ok_or(Errno::Eafnosupport)?;
    let e = RealService::new(family, InetAddr(*addr), key, svc.protocol, svc.fwmark != 0)?;
    Ok(Some(Some(e)))
}

/// `ip_vs_rs_unhash()` + `ip_vs_rs_hash()`: `dest`'s entry becomes `new` (from
/// [`prepare_real`]).
fn replace_real(reals: &mut RealWriter, dest: &mut Dest, new: Option<Arc<RealService>>) {
    unhash_real(reals, dest);
    if let Some(e) = &new {
        reals.insert(e);
    }
    dest.real = new;
}

/// `ip_vs_rs_unhash()`: `dest` leaves the real-server table (it left its service).
fn unhash_real(reals: &mut RealWriter, dest: &mut Dest) {
    if let Some(e) = dest.real.take() {
        reals.remove(&e);
    }
}

/// A deleted destination kept for reuse while it may still be referenced
/// (`ipvs->dest_trash`); re-adding the same destination to the same service revives it.
pub(crate) struct Trashed {
    service: ServiceKey,
    dest: Dest,
}

/// Scheduler names ipvs_rs provides (`ip_vs_scheduler_get()` succeeds for these).
pub(crate) fn scheduler_exists(name: &[u8]) -> bool {
    SchedulerKind::from_name(name).is_some()
}

/// Persistence engines ipvs_rs provides: none (C's only one, `sip`, is a separate module).
fn pe_exists(_name: &[u8]) -> bool {
    false
}

/// Everything the control plane keeps per namespace.
pub(crate) struct CtlState {
    /// The services, in no particular order; `services[i].dp.ctl_slot == i`. kvmalloc'ed:
    /// 50k services outgrow what kmalloc gives in one piece (4 MiB).
    pub(crate) services: KVVec<Service>,
    /// The packet path's table of the services, and the right to change it.
    table: SvcWriter,
    /// The packet path's table of the real servers (`rs_table`), and the right to change it.
    reals: RealWriter,
    /// Services per family (index 0: IPv4, 1: IPv6): the hooks of a family are registered
    /// while it has services.
    per_af: [usize; 2],
    trash: KVVec<Trashed>,
    /// Trash length after the last purge: the next purge waits until it has doubled, so
    /// that parking is O(1) amortised.
    trash_purged_len: usize,
    /// Trashed destinations nothing references any more, to be freed by the namespace's
    /// trash work outside the configuration mutex ([`CtlState::take_graveyard`]): freeing
    /// 50k destinations (their per-CPU counters, route caches) made `ipvsadm -C` wait, where
    /// C leaves them to its trash timer.
    graveyard: KVVec<Trashed>,
    pub(crate) timeouts: Timeouts,
}

fn af_slot(af: u16) -> usize {
    usize::from(af == AF_INET6)
}

impl CtlState {
    pub(crate) fn new() -> Result<Self, Errno> {
        let (_, table) = SvcTable::new()?;
        let (_, reals) = RealTable::new()?;
        Ok(CtlState {
            services: KVVec::new(),
            table,
            reals,
            per_af: [0; 2],
            trash: KVVec::new(),
            trash_purged_len: 0,
            graveyard: KVVec::new(),
            timeouts: DEFAULT_TIMEOUTS,
        })
    }

    /// The table the packet path reads.
    pub(crate) fn table(&self) -> Arc<SvcTable> {
        self.table.table()
    }

    /// The real-server table the packet path reads.
    pub(crate) fn reals_table(&self) -> Arc<RealTable> {
        self.reals.table()
    }

    /// `ipvs->mixed_address_family_dests > 0`: a destination of another family than its
    /// service exists (C then refuses to start a sync daemon).
    pub(crate) fn has_mixed_family_dests(&self) -> bool {
        self.services
            .iter()
            .any(|s| s.dests.iter().any(|d| d.af() != s.key.af))
    }

    /// Whether a service of family `af` exists (`ip_vs_register_hooks()` is due).
    pub(crate) fn has_af(&self, af: u16) -> bool {
        self.per_af.get(af_slot(af)).is_some_and(|&n| n != 0)
    }

    pub(crate) fn find(&self, key: &ServiceKey) -> Option<usize> {
        let svc = self.table.find(key)?;
        let i = svc.ctl_slot.load(Relaxed);
        // The slot is kept right by every change of the list; checked, not trusted.
        self.services
            .get(i)
            .filter(|s| core::ptr::eq(&*s.dp, svc))
            .map(|_| i)
    }

    pub(crate) fn service(&self, key: &ServiceKey) -> Result<&Service, Errno> {
        self.find(key)
            .map(|i| &self.services[i])
            .ok_or(Errno::Esrch)
    }

    /// `ip_vs_add_service()` (the caller has answered `-EEXIST`).
    pub(crate) fn add_service(&mut self, r: &ServiceRepr, env: &Env) -> Result<(), Errno> {
        r.check(env, scheduler_exists, pe_exists)?;
        let mut key = r.key;
        key.addr = normalized(key.af, &key.addr);
        let family = if key.af == AF_INET6 {
            Family::Ipv6
        } else {
            Family::Ipv4
        };
        let sched = r.scheduler().and_then(Name::from_c);
        let state = SchedState::bind(sched_kind(sched.as_ref()), family, &[])?;
        // ip_vs_svc_hash() sets HASHED once the service is in the table.
        let flags = r.flags_for_add() | svc_flags::HASHED;
        let dp = Svc::new(key, flags, r.timeout_jiffies(rcu::hz()), r.netmask, state)?;
        let svc = Service {
            key,
            sched,
            pe: r.pe().and_then(Name::from_c),
            dests: KVec::new(),
            dp: dp.clone(),
        };
        dp.ctl_slot.store(self.services.len(), Relaxed);
        self.services
            .push(svc, GFP_KERNEL)
            .map_err(|_| Errno::Enomem)?;
        self.table.insert(&dp);
        if let Some(n) = self.per_af.get_mut(af_slot(key.af)) {
            *n = n.saturating_add(1);
        }
        Ok(())
    }

    /// `ip_vs_edit_service()`.
    pub(crate) fn edit_service(
        &mut self,
        idx: usize,
        r: &ServiceRepr,
        env: &Env,
    ) -> Result<(), Errno> {
        r.check(env, scheduler_exists, pe_exists)?;
        let family = self.services[idx].family();
        let svc = &mut self.services[idx];
        let sched = r.scheduler().and_then(Name::from_c);
        if sched.as_ref().map(Name::as_bytes) != svc.sched.as_ref().map(Name::as_bytes) {
            // ip_vs_edit_service(): unbind the old scheduler, bind the new one.
            let mut s = svc.dp.sched.lock();
            let st = SchedState::bind(sched_kind(sched.as_ref()), family, &s.dests)?;
            s.state = st;
        }
        svc.sched = sched;
        svc.dp
            .flags
            .store(r.flags_for_edit(svc.dp.flags()), Relaxed);
        svc.dp
            .timeout_jiffies
            .store(r.timeout_jiffies(rcu::hz()), Relaxed);
        svc.dp.set_netmask(r.netmask);
        svc.pe = r.pe().and_then(Name::from_c);
        Ok(())
    }

    /// `ip_vs_del_service()`: unpublished at once (packets in flight may still finish with
    /// it, as in C), its destinations go to the trash.
    pub(crate) fn del_service(&mut self, idx: usize) {
        let Some(svc) = kvec::swap_remove(&mut self.services, idx) else {
            return;
        };
        if let Some(moved) = self.services.get(idx) {
            moved.dp.ctl_slot.store(idx, Relaxed);
        }
        self.retire(svc);
    }

    fn retire(&mut self, mut svc: Service) {
        self.table.remove(&svc.dp);
        if let Some(n) = self.per_af.get_mut(af_slot(svc.key.af)) {
            *n = n.saturating_sub(1);
        }
        // __ip_vs_del_service(): the packet path's list empties with the service's.
        let old = core::mem::take(&mut svc.dp.sched.lock().dests);
        drop(old);
        while let Some(mut dest) = kvec::pop(&mut svc.dests) {
            dest.shared.available.store(false, Relaxed);
            unhash_real(&mut self.reals, &mut dest);
            self.move_to_trash(svc.key, dest);
        }
    }

    /// `ip_vs_flush()`: O(n), yielding the CPU as it goes.
    pub(crate) fn flush(&mut self) {
        let mut n = 0u32;
        while let Some(svc) = kvec::pop(&mut self.services) {
            self.retire(svc);
            n = n.wrapping_add(1);
            if n % 256 == 0 {
                rcu::cond_resched();
            }
        }
        self.purge_trash();
    }

    /// `ip_vs_zero_service()`.
    pub(crate) fn zero_service(&mut self, idx: usize) {
        self.services[idx].zero();
    }

    /// `ip_vs_zero_all()`.
    pub(crate) fn zero_all(&mut self) {
        for svc in self.services.iter_mut() {
            svc.zero();
        }
    }

    /// `ip_vs_add_dest()`: checks, `-EEXIST`, revival from the trash, or a new destination
    /// (`ip_vs_new_dest()`, whose address check `addr_ok` performs).
    pub(crate) fn add_dest(
        &mut self,
        idx: usize,
        r: &DestRepr,
        af: u16,
        addr_ok: impl FnOnce(u16, &[u8; 16]) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        r.check()?;
        let addr = normalized(af, &r.key.addr);
        let svc_key = self.services[idx].key;
        if self.services[idx]
            .find_dest(af, &addr, r.key.port)
            .is_some()
        {
            return Err(Errno::Eexist);
        }
        // Its real-server entry, allocated before anything changes; published once the
        // destination is in its service (C hashes it at the end of __ip_vs_update_dest()).
        // A destination in the trash has none.
        let real = prepare_real(None, af, &addr, r, &svc_key)?.flatten();
        let revived = self.trash.iter().position(|t| {
            same_service(&t.service, &svc_key) && t.dest.matches(af, &addr, r.key.port)
        });
        let dest = match revived.and_then(|i| kvec::swap_remove(&mut self.trash, i)) {
            Some(mut t) => {
                t.dest.update(r, true);
                t.dest
            }
            None => {
                addr_ok(af, &addr)?;
                Dest::new(r, af)?
            }
        };
        let svc = &mut self.services[idx];
        let shared = dest.shared.clone();
        kvec::push_front(&mut svc.dests, dest, GFP_KERNEL).map_err(|_| Errno::Enomem)?;
        let mut s = svc.dp.sched.lock();
        if kvec::push_front(&mut s.dests, SchedDest(shared), GFP_ATOMIC).is_err() {
            drop(s);
            let _ = kvec::remove(&mut svc.dests, 0);
            return Err(Errno::Enomem);
        }
        let crate::dp::svc::SvcSched { dests, state } = &mut *s;
        state.dest_added(0, dests);
        drop(s);
        if let (Some(e), Some(d)) = (&real, svc.dests.get_mut(0)) {
            self.reals.insert(e);
            d.real = real;
        }
        Ok(())
    }

    /// `ip_vs_edit_dest()`.
    pub(crate) fn edit_dest(&mut self, idx: usize, r: &DestRepr, af: u16) -> Result<(), Errno> {
        r.check()?;
        let addr = normalized(af, &r.key.addr);
        let svc = &mut self.services[idx];
        let d = svc.find_dest(af, &addr, r.key.port).ok_or(Errno::Enoent)?;
        let real = prepare_real(svc.dests[d].real.as_ref(), af, &addr, r, &svc.key)?;
        svc.dests[d].update(r, false);
        if let Some(new) = real {
            replace_real(&mut self.reals, &mut svc.dests[d], new);
        }
        let mut s = svc.dp.sched.lock();
        let crate::dp::svc::SvcSched { dests, state } = &mut *s;
        state.dests_changed(dests);
        Ok(())
    }

    /// `ip_vs_del_dest()`.
    pub(crate) fn del_dest(&mut self, idx: usize, key: &DestKey, af: u16) -> Result<(), Errno> {
        let addr = normalized(af, &key.addr);
        let svc = &mut self.services[idx];
        let d = svc.find_dest(af, &addr, key.port).ok_or(Errno::Enoent)?;
        let svc_key = svc.key;
        if let Some(mut dest) = kvec::remove(&mut svc.dests, d) {
            unhash_real(&mut self.reals, &mut dest);
            {
                let mut s = svc.dp.sched.lock();
                let crate::dp::svc::SvcSched { dests, state } = &mut *s;
                let _ = kvec::remove(dests, d);
                state.dest_removed(d, dests);
            }
            dest.shared.available.store(false, Relaxed);
            self.move_to_trash(svc_key, dest);
        }
        Ok(())
    }

    /// `__ip_vs_del_dest()`: park a removed destination. Unreferenced entries are dropped
    /// by the purges here, each once the trash has doubled since the last one (C drops
    /// them at its trash timer's runs; either way a destination re-added soon after its
    /// removal may come back with its counters).
    fn move_to_trash(&mut self, service: ServiceKey, dest: Dest) {
        if self.trash.len() >= self.trash_purged_len.max(8).saturating_mul(2) {
            self.purge_trash();
        }
        // On allocation failure the destination is simply freed, as if the trash expired it.
        let _ = self.trash.push(Trashed { service, dest }, GFP_KERNEL);
    }

    /// `ip_vs_dest_trash_expire()`: what nothing references any more leaves the trash for
    /// the graveyard (freed by the caller's [`CtlState::take_graveyard`]; on allocation
    /// failure, here).
    fn purge_trash(&mut self) {
        let mut i = 0;
        while i < self.trash.len() {
            if self.trash[i].dest.in_use() {
                i += 1;
            } else if let Some(t) = kvec::swap_remove(&mut self.trash, i) {
                let _ = self.graveyard.push(t, GFP_KERNEL);
            }
        }
        self.trash_purged_len = self.trash.len();
    }

    /// Whether destinations wait in the graveyard.
    pub(crate) fn has_graveyard(&self) -> bool {
        !self.graveyard.is_empty()
    }

    /// The destinations to free, for the caller to drop once the mutex is released.
    pub(crate) fn take_graveyard(&mut self) -> KVVec<Trashed> {
        core::mem::replace(&mut self.graveyard, KVVec::new())
    }

    /// The statistics objects of services `start..start + count` and of their destinations,
    /// for the estimator (which also runs those services' periodic scheduler work:
    /// lblc/lblcr expiry, with the namespace's expirations `exp`). Returns where the next
    /// batch starts, `None` after the last service.
    ///
    /// The estimator walks the services in batches and lets the configuration mutex go
    /// between them. Meanwhile a deletion may move the last service into a visited slot
    /// (`swap_remove`), which then misses this round's estimation (its next one sees two
    /// periods' counts); none is estimated twice in a round, as only an unvisited service
    /// can be the last one while unvisited ones remain.
    pub(crate) fn for_each_stats_from(
        &self,
        start: usize,
        count: usize,
        exp: ipvs_core::sysctl::LocalityExpiration,
        mut f: impl FnMut(&crate::dp::dest::StatsCells),
    ) -> Option<usize> {
        let end = start.saturating_add(count);
        for svc in self.services.iter().skip(start).take(count) {
            f(&svc.dp.stats);
            // Only lblc and lblcr have periodic work: the others' scheduler lock is not
            // taken for nothing.
            if matches!(
                sched_kind(svc.sched.as_ref()),
                Some(SchedulerKind::Lblc | SchedulerKind::Lblcr)
            ) {
                svc.dp.periodic(exp);
            }
            for d in svc.dests.iter() {
                f(&d.shared.stats);
            }
        }
        (end < self.services.len()).then_some(end)
    }
}

/// The flag bits ipvs_rs reports are C's; keep the compiler honest about the ones we use.
const _: () = assert!(conn_flags::MASQ == 0);
